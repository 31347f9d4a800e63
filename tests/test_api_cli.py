"""AnnData helper (all-or-nothing writes) and the command line."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import medl
from conftest import FIT, SMALL
from medl.cli import main

KW = {**SMALL, **FIT}


def test_run_medl_writes_outputs(small_data):
    adata = small_data.copy()
    model = medl.run_medl(adata, "batch", counterfactual=["batch0"], fe_reconstruction=True, **KW)
    np.testing.assert_array_equal(adata.obsm["X_medl_fe"], model.fixed_effects(adata.X))
    np.testing.assert_array_equal(
        adata.obsm["X_medl_re"], model.random_effects(adata.X, adata.obs["batch"])
    )
    np.testing.assert_array_equal(
        adata.layers["medl_cf_batch0"], model.counterfactual(adata.X, adata.obs["batch"], "batch0")
    )
    np.testing.assert_array_equal(adata.layers["medl_fe"], model.reconstruct_fixed(adata.X))
    uns = adata.uns["medl"]
    assert list(uns["batch_categories"]) == ["batch0", "batch1", "batch2"]
    assert uns["batch_key"] == "batch" and list(uns["counterfactual"]) == ["batch0"]
    assert list(uns["params"]["hidden"]) == list(KW["hidden"])
    assert uns["fit_info"]["epochs"] == model.fit_info["epochs"]
    assert model.feature_names == list(adata.var_names)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_key": "donor"}, "not a column of adata.obs"),
        ({"batch_key": "batch", "labels_key": "celltype"}, "not a column"),
        ({"batch_key": "batch", "layer": "nope"}, "not in adata.layers"),
        ({"batch_key": "batch", "counterfactual": ["batch9"]}, "batch9"),
        ({"batch_key": "batch", "epochs": 3}, "unknown argument"),
        ({"batch_key": "batch", "batch_effects": {"target": "batch9", "reference": "batch0"}},
         "batch9"),
        ({"batch_key": "batch", "batch_effects": {"target": "batch1"}}, "missing: \\['reference"),
        ({"batch_key": "batch", "batch_effects": {"target": "batch1", "reference": "batch0",
                                                  "groups": "nope"}}, "not a column"),
        ({"batch_key": "batch", "batch_effects": {"target": "batch1", "reference": "batch0",
                                                  "n_samples": 1}}, "n_samples"),
        ({"batch_key": "batch", "batch_effects": {"target": "batch1", "reference": "batch1"}},
         "same batch"),
        ({"batch_key": "batch", "variant": "paper",
          "batch_effects": {"target": "batch1", "reference": "batch0"}}, "variational"),
    ],
)  # fmt: skip
def test_run_medl_bad_input_leaves_adata_unchanged(small_data, kwargs, message):
    adata = small_data.copy()
    before = (set(adata.obsm), set(adata.layers), set(adata.uns))
    with pytest.raises((ValueError, TypeError), match=message):
        medl.run_medl(adata, **{**KW, **kwargs})
    assert (set(adata.obsm), set(adata.layers), set(adata.uns)) == before


def test_run_medl_stores_the_batch_effect_table(small_data, tmp_path):
    adata = small_data.copy()
    request = {"target": "batch1", "reference": "batch0", "groups": "cell_type", "n_samples": 8}
    model = medl.run_medl(adata, "batch", batch_effects=request, **KW)
    want = model.batch_effects(
        adata.X, adata.obs["batch"], "batch1", "batch0", groups=adata.obs["cell_type"],
        n_samples=8,
    )  # fmt: skip
    table = adata.uns["medl_batch_effects"]
    pd.testing.assert_frame_equal(table, want)
    assert list(table["gene"][: adata.n_vars]) == list(adata.var_names)
    assert sorted(table["group"].unique()) == sorted(adata.obs["cell_type"].unique())
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad").uns["medl_batch_effects"]
    pd.testing.assert_frame_equal(back, want, check_dtype=False, check_index_type=False)
    # a refit without the request drops the table of the model it replaced
    medl.run_medl(adata, "batch", **KW)
    assert "medl_batch_effects" not in adata.uns


def _input_file(data, tmp_path):
    """The data as an .h5ad of log-normalised X alone (no counts or truth layers)."""
    path, small = tmp_path / "in.h5ad", data.copy()
    for key in list(small.layers):
        del small.layers[key]
    small.write_h5ad(path)
    return path, small


def test_cli_fit_round_trip(small_data, tmp_path):
    path, small = _input_file(small_data, tmp_path)
    code = main([
        "fit", str(path), "--batch", "batch", "--out", str(tmp_path / "out"),
        "--counterfactual", "batch1", "--max-epochs", "3", "--quiet", "--preprocess", "no",
        "--device", "cpu",
    ])  # fmt: skip
    assert code == 0
    result = ad.read_h5ad(tmp_path / "out" / "in_medl.h5ad")
    assert result.obsm["X_medl_fe"].shape == (small.n_obs, 10)  # the default variant's
    model = medl.MEDL.load(tmp_path / "out" / "model")
    np.testing.assert_allclose(model.fixed_effects(result.X), result.obsm["X_medl_fe"], atol=1e-6)
    batch = result.obs["batch"]
    np.testing.assert_allclose(
        model.random_effects(result.X, batch), result.obsm["X_medl_re"], atol=1e-6
    )
    np.testing.assert_allclose(
        model.counterfactual(result.X, batch, "batch1"), result.layers["medl_cf_batch1"], atol=1e-5
    )
    assert model.fit_info["epochs"] == 3


def test_cli_checkpoint_and_resume(small_data, tmp_path, monkeypatch):
    from medl.train import loop

    path, small = _input_file(small_data, tmp_path)
    args = ["fit", str(path), "--batch", "batch", "--quiet", "--preprocess", "no",
            "--device", "cpu", "--variant", "paper", "--max-epochs", "6"]  # fmt: skip
    ckpt = ["--checkpoint", str(tmp_path / "fit.ckpt")]
    epochs = []  # the loop's epochs, counted where each one starts

    def counting(self):
        epochs.append(1)
        if stop_after is not None and len(epochs) > stop_after:
            raise KeyboardInterrupt  # Ctrl-C during the 4th epoch

    monkeypatch.setattr(loop.ThreadGovernor, "update", counting)
    stop_after = 3
    assert main([*args, *ckpt, "--out", str(tmp_path / "cut")]) == 0
    assert len(torch.load(tmp_path / "fit.ckpt", weights_only=True)["rows"]) == 3
    epochs.clear()
    stop_after = None
    assert main([*args, *ckpt, "--out", str(tmp_path / "resumed"), "--resume"]) == 0
    assert len(epochs) == 3  # it continued from epoch 3 instead of training again
    epochs.clear()
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert len(epochs) == 6
    resumed, whole = (ad.read_h5ad(tmp_path / d / "in_medl.h5ad") for d in ("resumed", "whole"))
    np.testing.assert_array_equal(resumed.obsm["X_medl_fe"], whole.obsm["X_medl_fe"])
    np.testing.assert_array_equal(resumed.obsm["X_medl_re"], whole.obsm["X_medl_re"])
    assert medl.MEDL.load(tmp_path / "resumed" / "model").params["latent_dim"] == 2
    # other options than the checkpoint's are refused with a clear error
    changed = [*args[:-1], "7", *ckpt, "--out", str(tmp_path / "x"), "--resume"]
    assert main(changed) == 2


def test_cli_preprocesses_counts(small_data, tmp_path):
    counts = ad.AnnData(small_data.layers["counts"].copy(), obs=small_data.obs.copy())
    counts.write_h5ad(tmp_path / "counts.h5ad")
    code = main([
        "fit", str(tmp_path / "counts.h5ad"), "--batch", "batch", "--out", str(tmp_path / "o"),
        "--max-epochs", "2", "--quiet", "--n-top-genes", "40", "--device", "cpu",
    ])  # fmt: skip
    assert code == 0
    assert ad.read_h5ad(tmp_path / "o" / "counts_medl.h5ad").n_vars == 40


def test_cli_reports_errors(small_data, tmp_path, capsys):
    small_data.copy().write_h5ad(tmp_path / "d.h5ad")
    code = main(
        [
            "fit",
            str(tmp_path / "d.h5ad"),
            "--batch",
            "nope",
            "--out",
            str(tmp_path),
            "--preprocess",
            "no",
        ]
    )
    assert code == 2
    assert "not a column of adata.obs" in capsys.readouterr().err


def test_cli_demo_writes_figures(tmp_path):
    code = main(
        [
            "demo",
            "--out",
            str(tmp_path),
            "--n-cells",
            "300",
            "--n-genes",
            "50",
            "--max-epochs",
            "3",
            "--quiet",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    for name in ("training_curves.png", "latents.png", "scores.json", "model/medl.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_hold_for_r_frees_only_what_r_let_go():
    # medlR hands its Python objects here so that R's GIL-less finalizer never frees them
    import gc
    import weakref

    from medl import api

    class Held:
        pass

    kept, dropped = Held(), Held()
    gone = weakref.ref(dropped)
    api.hold_for_r(kept)
    api.hold_for_r(dropped)
    del dropped  # R let go; the table is now its only owner
    gc.collect()
    assert gone() is not None, "freed before the next call, outside the GIL's reach"
    api.hold_for_r(Held())
    assert gone() is None and id(kept) in api._HELD_FOR_R
