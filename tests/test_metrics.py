"""Known answers for the scores and baselines that `make compare` ranks methods by."""

from __future__ import annotations

import numpy as np
import pytest

import medl
from medl import metrics
from medl.model.baselines import knn_counterfactual, mean_shift_counterfactual


def test_knn_purity_known_layouts():
    rng = np.random.default_rng(0)
    separated = np.r_[rng.normal(0, 1, (100, 2)), rng.normal(40, 1, (100, 2))]
    labels = np.repeat(["a", "b"], 100)
    assert metrics.knn_purity(separated, labels) == 1.0
    mixed = rng.normal(0, 1, (400, 2))
    shuffled = rng.permutation(np.repeat(["a", "b"], 200))
    assert abs(metrics.knn_purity(mixed, shuffled) - 0.5) < 0.05


def test_batch_entropy_ceiling_known_answers_and_reached_by_an_ideal_embedding():
    rng = np.random.default_rng(0)
    types = np.repeat(["a", "b"], 300)
    # batch independent of type: the ceiling is 1
    assert metrics.batch_entropy_ceiling(np.tile(["x", "y", "z"], 200), types) == 1.0
    # batch fully determined by type: no mixing is possible without merging types
    assert metrics.batch_entropy_ceiling(np.repeat(["x", "y"], 300), types) == 0.0
    # 80% confounded: an embedding with pure types, batches shuffled within each type,
    # reaches the ceiling; one that merges the types exceeds it
    batch = np.where(rng.random(600) < 0.8, np.repeat(["x", "y"], 300), np.repeat(["y", "x"], 300))
    ceiling = metrics.batch_entropy_ceiling(batch, types)
    assert 0.6 < ceiling < 0.8  # H(0.8, 0.2) / log 2 = 0.72
    ideal = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(50, 1, (300, 2))]
    assert metrics.batch_entropy(ideal, batch) == pytest.approx(ceiling, abs=0.05)
    merged = rng.normal(0, 1, (600, 2))
    assert metrics.batch_entropy(merged, batch) > ceiling + 0.2
    with pytest.raises(ValueError, match="one label per cell"):
        metrics.batch_entropy_ceiling(batch, types[:-1])


def test_shift_scores_known_answers():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1, 200)
    specific = rng.normal(0, 1, (4, 200))
    truth = common + specific
    perfect = metrics.shift_scores(truth, truth)
    assert perfect["r"] == pytest.approx(1) and perfect["specific_r2"] == pytest.approx(1)
    # a global shift gets the common part right and none of the population-specific part
    glob = metrics.shift_scores(np.tile(truth.mean(0), (4, 1)), truth)
    assert glob["r"] == pytest.approx(1) and glob["specific_r2"] == 0.0
    # the wrong populations' shifts: the specific part is anti- or un-correlated
    swapped = metrics.shift_scores(truth[::-1], truth)
    assert swapped["specific_r2"] < 0.2
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.shift_scores(truth, truth[:2])
    with pytest.raises(ValueError, match="NaN"):
        metrics.shift_scores(np.full((2, 3), np.nan), np.zeros((2, 3)))


def test_counterfactual_baselines_recover_a_global_shift():
    rng = np.random.default_rng(0)
    base = rng.normal(10, 1, (300, 20)).astype(np.float32)
    batch = np.repeat(["b0", "b1"], 150)
    base[150:] = base[:150]  # the same cells measured in both batches
    shift = rng.normal(0, 2, 20).astype(np.float32)
    X = base + np.where(batch == "b1", 1.0, 0.0)[:, None] * shift
    moved = mean_shift_counterfactual(X, batch, "b1")
    np.testing.assert_allclose(moved[:150], X[150:], atol=1e-4)
    np.testing.assert_allclose(moved[150:], X[150:], rtol=1e-6)  # own batch: unchanged
    # neighbours searched in the batch-free space find each cell's twin in the other batch
    knn = knn_counterfactual(X, batch, "b1", n_neighbors=1, embedding=base)
    np.testing.assert_allclose(knn[:150], X[150:], atol=1e-5)


def test_counterfactual_baselines_reject_unknown_target():
    X = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="b9"):
        knn_counterfactual(X, ["a", "a", "b", "b"], "b9", n_neighbors=1, embedding=X)
    with pytest.raises(ValueError, match="b9"):
        mean_shift_counterfactual(X, ["a", "a", "b", "b"], "b9")


def test_simulated_type_specific_shift_is_invisible_to_a_global_shift():
    data = medl.datasets.simulate(600, 100, n_batches=2, interaction=1.0, seed=1)
    batch = data.obs["batch"].astype(str).to_numpy()
    types = data.obs["cell_type"].astype(str).to_numpy()
    X = data.X.toarray()
    cells = batch == "batch0"
    truth = medl.datasets.true_counterfactual(data, "batch1") - medl.datasets.true_counterfactual(
        data, batch
    )
    moved = mean_shift_counterfactual(X, batch, "batch1") - X
    levels = np.unique(types)
    pred = np.stack([moved[cells & (types == t)].mean(0) for t in levels])
    true = np.stack([truth[cells & (types == t)].mean(0) for t in levels])
    scores = metrics.shift_scores(pred, true)
    assert scores["r"] > 0.8 and scores["specific_r"] == 0.0
