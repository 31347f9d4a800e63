"""Drive R from Python (rpy2): RunMEDL on Seurat and SingleCellExperiment objects built
from known matrices must give what the Python API gives for the same data and seed, in the
same cell order, and leave everything else in the object as it was.

The R side runs in a child process (see helpers/rpy2_driver.py). These tests run wherever R,
Seurat and medlR are installed (``make test`` installs them); with ``MEDL_REQUIRE_R=true``
a missing piece is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import medl

pytestmark = pytest.mark.r

FIT = {"max_epochs": 5, "lr": 1e-3, "seed": 5, "device": "cpu", "hidden": [32, 8]}
R_FIT = "max_epochs = 5, lr = 1e-3, seed = 5, device = 'cpu', hidden = c(32, 8), verbose = FALSE"
DRIVER = Path(__file__).parent / "helpers" / "rpy2_driver.py"


def _require_r() -> None:
    problem = None
    if importlib.util.find_spec("rpy2") is None:
        problem = "rpy2 is not installed"
    else:
        check = subprocess.run(
            ["Rscript", "-e", "library(medlR); library(Seurat)"], capture_output=True, text=True
        )
        if check.returncode:
            problem = f"R with Seurat and medlR is not installed: {check.stderr[-300:]}"
    if problem:
        if os.environ.get("MEDL_REQUIRE_R") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    adata = medl.datasets.simulate(n_cells=200, n_genes=40, n_batches=2, seed=3)
    adata.obs_names = [f"c{i}_{b}" for i, b in enumerate(adata.obs["batch"])]
    adata = adata[np.random.default_rng(0).permutation(adata.n_obs)].copy()  # unsorted names
    for key in [k for k in adata.layers if k != "counts"]:
        del adata.layers[key]
    path = tmp_path_factory.mktemp("r") / "data.h5ad"
    adata.write_h5ad(path)
    return adata, path


@pytest.fixture(scope="module")
def reference(data):
    adata, _ = data
    # medlR runs torch on one thread beside R's threaded BLAS (R/medlR/R/python.R); a thread
    # count of its own would change the order of floating-point sums, so match it
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return medl.fit_medl(
            adata.X, adata.obs["batch"], counterfactual=["batch1"], progress=False, **FIT
        )
    finally:
        torch.set_num_threads(threads)


def _run_r(scenario: str, path: Path, tmp_path: Path) -> dict:
    _require_r()
    out = tmp_path / f"{scenario}.npz"
    env = {**os.environ, "RETICULATE_PYTHON": sys.executable}
    proc = subprocess.run(
        [sys.executable, str(DRIVER), scenario, str(path), str(out), R_FIT],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0 and out.exists(), proc.stdout[-2000:] + proc.stderr[-3000:]
    return dict(np.load(out, allow_pickle=True))


def test_seurat_round_trip(data, reference, tmp_path):
    adata, path = data
    r = _run_r("seurat", path, tmp_path)
    assert list(r["fe_cells"]) == list(adata.obs_names)  # names and order kept
    np.testing.assert_allclose(r["fe"], reference.fixed_effects, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["re"], reference.random_effects, rtol=1e-5, atol=1e-6)
    assert list(r["cf_genes"]) == list(adata.var_names)
    assert list(r["cf_cells"]) == list(adata.obs_names)
    np.testing.assert_allclose(r["cf"].T, reference.counterfactuals["batch1"], atol=1e-5)
    assert bool(r["unchanged"])  # counts, data, meta.data, variable features untouched
    model = medl.MEDL.load(str(r["model_dir"]))
    assert model.feature_names == list(adata.var_names)


def test_single_cell_experiment_round_trip(data, reference, tmp_path):
    adata, path = data
    r = _run_r("sce", path, tmp_path)
    assert list(r["fe_cells"]) == list(adata.obs_names)
    assert list(r["genes"]) == list(adata.var_names)
    np.testing.assert_allclose(r["fe"], reference.fixed_effects, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["re"], reference.random_effects, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r["X"], adata.X.toarray(), rtol=1e-6)  # input untouched
    np.testing.assert_allclose(r["cf"].T, reference.counterfactuals["batch1"], atol=1e-5)
