"""Cross-batch anchors (mutual nearest neighbours) and their use in the default's training."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

import medl
from conftest import FIT, SMALL
from medl.model.anchors import batch_offsets, mnn_pairs
from medl.model.transport import AnchorTransport
from medl.train.schedule import split_validation


def _confounded(confounding=0.8, seed=0):
    return medl.datasets.simulate(
        n_cells=1200, n_genes=500, n_batches=6, interaction=0.5, confounding=confounding,
        seed=seed,
    )  # fmt: skip


def _right(pairs, types) -> float:
    """The share of pairs whose two cells are of one type."""
    return float((types[pairs[:, 0]] == types[pairs[:, 1]]).mean())


def test_pairs_join_cells_of_one_type_across_batches():
    """Even where each batch is 80% one type, a pair is two cells of one type from two
    batches (the batch effect is smaller than the difference between types here), and the
    pairs reach most cells. Seeds 0 and 1: all pairs right and 70-72% of the cells paired
    (measured). A wrong pair pulls two types' codes together (fe_anchor 30), hence 0.98;
    the transport carries a cell by its 20 nearest anchors, so they must reach the cells."""
    for seed in (0, 1):
        data = _confounded(seed=seed)
        codes = data.obs["batch"].cat.codes.to_numpy()
        types = data.obs["cell_type"].to_numpy()
        pairs = mnn_pairs(data.X, codes)
        assert len(np.unique(pairs)) > 0.5 * data.n_obs
        assert (codes[pairs[:, 0]] != codes[pairs[:, 1]]).all()
        assert _right(pairs, types) > 0.98
        if seed == 0:
            assert np.array_equal(mnn_pairs(sp.csr_matrix(data.X), codes), pairs)  # one path


def test_trimming_keeps_pairs_right_where_batches_are_nearly_one_type():
    """At confounding 0.9 (each type a handful of cells in most batches) one pair in ten
    joins two types without the trim (seed 0: 0.90 right after one search, 0.89 after the
    rounds, 0.52 with the offsets fitted on 5 neighbours; seed 1: 0.91, 0.95, 0.85), and
    the wrong pairs pull the batches' main types together. The default keeps them right
    (1.00 on both) and is never worse than a variant without the trim or the 3-neighbour
    offsets; what those variants measure is not pinned, so improving them passes."""
    for seed in (0, 1):
        data = _confounded(0.9, seed)
        codes = data.obs["batch"].cat.codes.to_numpy()
        types = data.obs["cell_type"].to_numpy()
        default = _right(mnn_pairs(data.X, codes), types)
        assert default > 0.98, (seed, default)
        for variant in ({"rounds": 0, "trim": np.inf}, {"trim": np.inf},
                        {"trim": np.inf, "k_offsets": 5}):  # fmt: skip
            assert default >= _right(mnn_pairs(data.X, codes, **variant), types), (seed, variant)


def test_offsets_fitted_on_few_neighbours_keep_the_training_cells_pairs_right():
    """At confounding 0.9 a type has three or four training cells in most batches. With 5
    neighbours in the rounds, a cell's fourth or fifth neighbour in another batch is of
    another type, a quarter of the first pairs are wrong, and the offsets fitted on them
    make each round worse (measured on these cells: 74% -> 15% right on seed 0, 81% -> 34%
    on seed 1). Fitting the offsets on 3 neighbours keeps them right (1.00 on both) and
    still pairs 57-58% of the training cells (the anchors must reach the cells)."""
    for seed in (0, 1):
        data = _confounded(0.9, seed)
        codes = data.obs["batch"].cat.codes.to_numpy()
        types = data.obs["cell_type"].to_numpy()
        train = split_validation(data.n_obs, 0.2, codes, 0)[0]
        old = mnn_pairs(data.X, codes, train, k_offsets=5)
        pairs = mnn_pairs(data.X, codes, train)
        right = _right(pairs, types)
        assert right > 0.98 and right >= _right(old, types)
        assert len(np.unique(pairs)) > 0.4 * len(train)


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


def test_rounds_remove_the_bias_towards_cells_a_batch_affects_least():
    """A stimulus that moves some cells more than others: one search pairs the cells it
    moved least; removing the batches' offset fitted on the pairs, and searching again,
    pairs typical responders (as on Kang, where the pairs' interferon shift went from 1.3
    to 2.2 of the observed 2.3). The truth to approach is the mean response of all cells
    (about 1): one search reaches 0.58-0.59 of it, the rounds 0.77-0.80 (seeds 0-2), so
    they must close at least a third of the single search's gap, on each seed."""
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        n, genes = 600, 200
        centres = rng.normal(0, 2, (3, genes)) * (rng.random((3, genes)) < 0.2)
        types = rng.integers(0, 3, 2 * n)
        X = centres[types] + rng.normal(0, 0.5, (2 * n, genes))
        response = rng.uniform(0.5, 1.5, n)
        X[n:, :30] += 1.5 * response[:, None]
        codes = np.repeat([0, 1], n)
        single, rounds = (mnn_pairs(X, codes, rounds=0, trim=np.inf), mnn_pairs(X, codes))
        assert _right(single, types) == 1.0 and _right(rounds, types) == 1.0
        # each pair's second cell is the stimulated one (batch 1, rows n..2n)
        single, rounds = (response[p[:, 1] - n].mean() for p in (single, rounds))
        truth = response.mean()
        assert truth - rounds < (2 / 3) * (truth - single), (seed, single, rounds, truth)


def test_batch_offsets_recover_a_known_shift_whatever_the_composition():
    """Matched cells, not batch means, define the offset: the batches here differ in
    content, yet the pairs' offsets are recovered exactly (up to their common mean)."""
    rng = np.random.default_rng(1)
    codes = np.repeat([0, 1, 2], 100)
    emb = rng.normal(size=(300, 4)) + 5.0 * codes[:, None]  # different "compositions"
    true = np.array([[1.0, 0, 0, 0], [0, -2.0, 0, 0], [-1.0, 2.0, 0, 0]])
    pairs = np.array([[i, i + 100] for i in range(30)] + [[i + 130, i + 200] for i in range(5)])
    for i, j in pairs:  # j is i's twin, moved by the difference of the batches' offsets
        emb[j] = emb[i] - true[codes[i]] + true[codes[j]]
    offsets = batch_offsets(emb, codes, pairs, 3)
    assert np.allclose(offsets.sum(0), 0.0, atol=1e-8)
    assert np.allclose(offsets, true - true.mean(0), atol=1e-8)


def test_transport_moves_each_type_by_its_own_offset():
    """Codes of two types, offset between batches by a different vector per type: the
    anchors of each type carry a cell by its type's offset, not by the batches' average."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    offsets = np.array([[1.0, 0.0], [0.0, -2.0]])  # per type, batch 0 -> batch 1
    types = np.repeat([0, 1], 100)
    z0 = centres[types] + rng.normal(0, 0.3, (200, 2))
    z1 = centres[types] + offsets[types] + rng.normal(0, 0.3, (200, 2))
    transport = AnchorTransport(
        torch.tensor(np.vstack([z0, z1]), dtype=torch.float32),
        torch.tensor(np.vstack([z1, z0]), dtype=torch.float32),
        torch.tensor([0] * 200 + [1] * 200),
        torch.tensor([1] * 200 + [0] * 200),
    )
    cells = torch.tensor(centres[types] + rng.normal(0, 0.3, (200, 2)), dtype=torch.float32)
    own, to1 = torch.zeros(200, dtype=torch.long), torch.ones(200, dtype=torch.long)
    moved = (transport.shift(cells, own, to1) - cells).numpy()
    for t in (0, 1):  # each pair's two cells differ by noise too, so look at the means
        np.testing.assert_allclose(moved[types == t].mean(0), offsets[t], atol=0.1)
    assert np.abs(moved - offsets[types]).max() < 0.6
    assert torch.equal(transport.shift(cells, own, own), cells)  # kept in its own batch
    to2 = torch.full((200,), 2, dtype=torch.long)
    assert torch.equal(transport.shift(cells, own, to2), cells)  # no anchors to batch 2
    assert transport.links(0, 1) and not transport.links(0, 2)
