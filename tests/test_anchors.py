"""Cross-batch anchors (mutual nearest neighbours) and their use in the default's training."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import medl
from conftest import FIT, SMALL
from medl.anchors import mnn_pairs


def _confounded():
    return medl.datasets.simulate(
        n_cells=1200, n_genes=500, n_batches=6, interaction=0.5, confounding=0.8, seed=0
    )


def test_pairs_join_cells_of_one_type_across_batches():
    """Even where each batch is 80% one type, a pair is two cells of one type from two
    batches (the batch effect is smaller than the difference between types here)."""
    data = _confounded()
    codes = data.obs["batch"].cat.codes.to_numpy()
    types = data.obs["cell_type"].to_numpy()
    pairs = mnn_pairs(data.X, codes)
    assert len(pairs) > 1000
    assert (codes[pairs[:, 0]] != codes[pairs[:, 1]]).all()
    assert (types[pairs[:, 0]] == types[pairs[:, 1]]).mean() > 0.98
    assert np.array_equal(mnn_pairs(sp.csr_matrix(data.X), codes), pairs)  # one code path


def test_pairs_stay_within_the_given_cells_and_the_cap():
    data = _confounded()
    codes = data.obs["batch"].cat.codes.to_numpy()
    cells = np.arange(0, data.n_obs, 2)
    pairs = mnn_pairs(data.X, codes, cells=cells, max_per_batch=50)
    assert np.isin(pairs, cells).all()
    assert all(len(np.unique(pairs[np.isin(pairs, np.flatnonzero(codes == b))])) <= 50
               for b in np.unique(codes))  # fmt: skip


def test_default_trains_on_anchors_and_the_weights_turn_them_off(
    small_model, small_paper_model, small_data
):
    X, batch = small_data.X, small_data.obs["batch"]
    assert {"fe.train.anchor", "fe.train.cross"} <= set(small_model.history.columns)
    off = {"fe_anchor": 0, "fe_cross": 0}
    plain = medl.MEDL(**SMALL, loss_weights=off).fit(X, batch, **FIT)
    assert not any("anchor" in c or "cross" in c for c in plain.history.columns)
    assert not any("anchor" in c for c in small_paper_model.history.columns)
