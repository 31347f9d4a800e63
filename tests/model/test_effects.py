"""The observed cells' spread that widens the batch-effect table's SD."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from medl.model.effects import effect_table, observed_spread


def test_observed_spread_is_the_sampling_variance_of_the_difference_of_means():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) * np.arange(1, 6)
    side = np.array([0] * 20 + [1] * 15 + [-1] * 5 + [0] * 1 + [-1] * 19)
    group = np.array([0] * 40 + [1] * 20)  # group 1: one target cell, no reference cell
    spread, observed = observed_spread(sp.csr_matrix(X), side, group, 2, chunk=7)
    want = X[:20].var(0, ddof=1) / 20 + X[20:35].var(0, ddof=1) / 15
    np.testing.assert_allclose(spread[0], want, rtol=1e-10)
    np.testing.assert_array_equal(observed, [[20, 15], [1, 0]])
    # fewer than two cells on a side: the group's variance, as one cell per side
    np.testing.assert_allclose(spread[1], 2 * X[40:].var(0, ddof=1), rtol=1e-10)
    dense, _ = observed_spread(X, side, group, 2)
    np.testing.assert_allclose(dense, spread, rtol=1e-10)


def test_effect_table_adds_the_spread_and_reads_probabilities_off_the_normal():
    rng = np.random.default_rng(1)
    n, genes = 400, 3
    lfc = 0.4 + 0.1 * rng.standard_normal((n, 1, genes))  # one group, 10 cells
    sums = np.concatenate([lfc, np.ones((2, 1, genes))]) * 10
    plain = effect_table(sums, np.array([10]), ["g"], list("abc"), 0.25)
    wide = effect_table(sums, np.array([10]), ["g"], list("abc"), 0.25, np.full((1, 3), 0.03))
    np.testing.assert_allclose(wide["lfc_sd"] ** 2, plain["lfc_sd"] ** 2 + 0.03)
    assert (wide["prob_de"] < plain["prob_de"]).all() and (wide["lfsr"] > plain["lfsr"]).all()
    # P(|N(mean, sd^2)| > 0.25) and P(sign wrong) of the draws' mean and SD (near 0.933
    # and 3e-5 for N(0.4, 0.1^2))
    mean, sd = lfc[:, 0].mean(0), lfc[:, 0].std(0, ddof=1)
    want = norm.sf((0.25 - mean) / sd) + norm.cdf((-0.25 - mean) / sd)
    np.testing.assert_allclose(plain["prob_de"], want, rtol=1e-10)
    np.testing.assert_allclose(plain["lfsr"], norm.cdf(-mean / sd), rtol=1e-10)
