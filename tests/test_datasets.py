"""The simulator's ground truth: what the counterfactual intervals are scored against."""

from __future__ import annotations

import numpy as np
import pytest

import medl
from conftest import dense
from medl.datasets import expected_lognorm, true_counterfactual


def test_expected_truth_is_what_the_observed_cells_average_to():
    """``expected=True`` is E[log1p(1e4 c / L)]: each gene's observed cells average to it
    within their standard error; the noise-free truth log1p(1e4 p) lies above it where
    counts are few (Jensen's inequality), by more than five times that error."""
    data = medl.datasets.simulate(n_cells=3000, n_genes=100, seed=3)
    own = data.obs["batch"].astype(str).to_numpy()
    X = dense(data.X)
    expected = true_counterfactual(data, own, expected=True)
    noise_free = true_counterfactual(data, own)
    se = X.std(0) / np.sqrt(len(X))
    gap = (X - expected).mean(0)
    assert np.all(np.abs(gap) < 5 * se + 2e-3), np.abs(gap / se).max()
    low = noise_free.mean(0) < 1.0  # genes with about one count per cell or fewer
    assert low.sum() > 10
    assert np.all((noise_free - X).mean(0)[low] > 5 * se[low])
    assert np.all(expected <= noise_free + 1e-5)


def test_expected_lognorm_matches_poisson_draws():
    rng = np.random.default_rng(0)
    size = np.array([800.0, 3000.0, 20000.0])
    p = np.array([[1e-4, 2e-3, 3e-2]] * 3)  # 0.08 to 600 expected counts
    counts = rng.poisson(size[:, None, None] * p[..., None], size=(3, 3, 200_000))
    draws = np.log1p(1e4 * counts / size[:, None, None]).mean(-1)
    np.testing.assert_allclose(expected_lognorm(p, size), draws, atol=3e-3)


def test_expected_truth_needs_the_library_sizes():
    data = medl.datasets.simulate(n_cells=50, n_genes=10, seed=0)
    del data.obs["library_size"]
    with pytest.raises(ValueError, match="library_size"):
        true_counterfactual(data, "batch0", expected=True)
    np.testing.assert_array_equal(true_counterfactual(data, "batch0"), data.layers["truth_batch0"])
