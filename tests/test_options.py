"""Entry points and options no other test calls: each is checked for what it does."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

import medl
from conftest import FIT, SMALL, dense
from medl.cli import main


def test_preprocess_options_and_the_input_left_unchanged(small_data):
    counts = ad.AnnData(sp.csr_matrix(small_data.layers["counts"]), obs=small_data.obs.copy())
    counts.X[0] = 0  # an empty cell, which min_genes drops
    before = counts.X.copy()
    out = medl.pp.preprocess(counts, n_top_genes=20, min_genes=5, min_cells=3, target_sum=100)
    assert (counts.X != before).nnz == 0 and counts.shape == small_data.shape  # untouched
    assert out.n_vars == 20 and out.n_obs == counts.n_obs - 1
    assert "cell0" not in out.obs_names
    # log1p of totals normalised to 100, computed from the kept counts themselves
    kept = out.layers["counts"].toarray()
    all_genes = medl.pp.preprocess(counts, n_top_genes=None, target_sum=100)
    want = np.log1p(all_genes.layers["counts"].toarray() / all_genes.layers["counts"].toarray()
                    .sum(1, keepdims=True) * 100)  # fmt: skip
    np.testing.assert_allclose(dense(all_genes.X), want, rtol=1e-5, atol=1e-6)
    assert kept.shape == (out.n_obs, 20)
    common = medl.pp.preprocess(counts, n_top_genes=None, min_cells=300)
    seen_in = (all_genes.layers["counts"] > 0).sum(0).A1
    assert common.n_vars == (seen_in >= 300).sum() < all_genes.n_vars


def test_run_medl_with_a_layer_and_labels(small_data):
    adata = small_data.copy()
    adata.layers["lognorm"] = adata.X.copy()
    adata.X = sp.csr_matrix(adata.X.shape, dtype=np.float32)  # X is not what is fitted
    model = medl.run_medl(adata, "batch", labels_key="cell_type", layer="lognorm", **SMALL, **FIT)
    np.testing.assert_array_equal(
        adata.obsm["X_medl_fe"], model.fixed_effects(adata.layers["lognorm"])
    )
    assert model.label_categories == sorted(adata.obs["cell_type"].unique())
    assert (adata.uns["medl"]["layer"], adata.uns["medl"]["labels_key"]) == ("lognorm", "cell_type")


def test_fit_with_validation_indices_and_auto_storage(small_data):
    X, batch = small_data.X, small_data.obs["batch"]
    rows = np.arange(0, X.shape[0], 5)
    by_index = medl.MEDL(**SMALL).fit(X, batch, validation=rows, storage="auto", **FIT)
    mask = np.zeros(X.shape[0], dtype=bool)
    mask[rows] = True
    by_mask = medl.MEDL(**SMALL).fit(X, batch, validation=mask, **FIT)
    assert by_index.fit_info["n_validation"] == len(rows)
    # the same cells held out give the same fit
    np.testing.assert_array_equal(by_index.fixed_effects(X), by_mask.fixed_effects(X))


def _h5ad(small_data, tmp_path, counts: bool = False):
    a = small_data.copy()
    if counts:
        a.X = a.layers["counts"].copy()
    for key in [k for k in a.layers if k.startswith("truth_")]:
        del a.layers[key]
    a.layers["lognorm"] = small_data.X.copy()
    path = tmp_path / "in.h5ad"
    a.write_h5ad(path)
    return path


def test_cli_options_reach_the_fit(small_data, tmp_path):
    path = _h5ad(small_data, tmp_path, counts=True)  # X counts, the log-normalised in a layer
    out = tmp_path / "out"
    code = main([
        "fit", str(path), "--batch", "batch", "--labels", "cell_type", "--layer", "lognorm",
        "--preprocess", "no", "--latent-dim", "3", "--batch-size", "64", "--seed", "5",
        "--max-epochs", "2", "--checkpoint", str(tmp_path / "c.ckpt"), "--checkpoint-every",
        "2", "--out", str(out), "--quiet", "--device", "cpu",
    ])  # fmt: skip
    assert code == 0
    model = medl.MEDL.load(out / "model")
    assert model.params["latent_dim"] == 3 and model.params["seed"] == 5
    assert model.fit_info["batch_size"] == 64
    assert model.label_categories == sorted(small_data.obs["cell_type"].unique())
    result = ad.read_h5ad(out / "in_medl.h5ad")
    np.testing.assert_allclose(
        result.obsm["X_medl_fe"], model.fixed_effects(small_data.X), atol=1e-6
    )  # the layer was fitted, not the counts in X
    assert (tmp_path / "c.ckpt").exists()


def test_cli_preprocess_yes_normalises_and_a_missing_file_is_an_error(small_data, tmp_path):
    path = _h5ad(small_data, tmp_path, counts=True)
    out = tmp_path / "out"
    code = main([
        "fit", str(path), "--batch", "batch", "--preprocess", "yes", "--n-top-genes", "30",
        "--max-epochs", "1", "--out", str(out), "--quiet", "--device", "cpu",
    ])  # fmt: skip
    assert code == 0
    result = ad.read_h5ad(out / "in_medl.h5ad")
    assert result.n_vars == 30 and float(result.X.max()) < 15  # log1p scale, not counts
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(tmp_path / "nope.h5ad"), "--batch", "batch", "--out", str(out)])
    assert stop.value.code != 0 and "nope.h5ad does not exist" in str(stop.value)
