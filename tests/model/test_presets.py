"""The paper's per-dataset loss weights (spec section 3, Tables S1-S3), read from the spec."""

from __future__ import annotations

import re
from pathlib import Path

import anndata as ad
import pytest

import medl
from medl.cli import main
from medl.model.presets import PRESETS

SPEC = Path(__file__).resolve().parents[3] / "shared" / "medl_spec.md"
ROWS = {"Healthy Heart": "healthy_heart", "ASDc": "asdc", "AMLh": "amlh"}
#: the table's columns, in order, as LossWeights names
COLUMNS = [["ae_recon"], ["aec_recon", "aec_y"], ["fe_recon", "fe_adv"],
           ["fec_recon", "fec_y", "fec_adv"], ["re_recon", "re_z", "re_kl"]]  # fmt: skip


def spec_weights() -> dict[str, dict[str, float]]:
    """Preset name -> weights, parsed from the spec's table of section 3."""
    if not SPEC.exists():
        pytest.fail(f"{SPEC} is missing: the project's tests need ../shared beside the repo")
    section = SPEC.read_text().split("## 3.")[1].split("\n## ")[0]
    found = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.sub(r"\s*\(.*\)$", "", cells[0])
        if name in ROWS:
            values = [[float(v) for v in c.split("/")] for c in cells[1:]]
            found[ROWS[name]] = {
                k: v for keys, vals in zip(COLUMNS, values, strict=True)
                for k, v in zip(keys, vals, strict=True)
            }  # fmt: skip
    return found


def test_presets_hold_the_spec_tables():
    table = spec_weights()
    assert set(table) == set(ROWS.values())
    for name, weights in table.items():
        assert {k: getattr(PRESETS[name], k) for k in weights} == weights, name


def test_a_preset_reaches_the_model_and_the_cli(small_data, tmp_path):
    amlh = spec_weights()["amlh"]
    model = medl.MEDL(preset="amlh", variant="paper")
    assert model.weights.fe_recon == amlh["fe_recon"] == 4000
    # explicit loss weights override the preset's, the rest stay
    mixed = medl.MEDL(preset="amlh", loss_weights={"fe_adv": 2.0})
    assert (mixed.weights.fe_adv, mixed.weights.fec_recon) == (2.0, amlh["fec_recon"])
    path = tmp_path / "in.h5ad"
    ad.AnnData(small_data.X, obs=small_data.obs[["batch"]]).write_h5ad(path)
    code = main(["fit", str(path), "--batch", "batch", "--out", str(tmp_path / "out"),
                 "--preset", "amlh", "--variant", "paper", "--max-epochs", "1", "--quiet",
                 "--preprocess", "no", "--device", "cpu"])  # fmt: skip
    assert code == 0
    loaded = medl.MEDL.load(tmp_path / "out" / "model")
    assert loaded.weights.as_dict() == PRESETS["amlh"].as_dict()
