"""The observed cells' residual means and spread that correct the batch-effect table."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from medl.model.effects import effect_table, stratified_means


def _one_stratum(X, side, group, n_groups, chunk):
    """stratified_means with every cell in one stratum, fed in chunks of ``chunk`` rows."""
    chunks = [(slice(i, i + chunk), X[i : i + chunk]) for i in range(0, len(X), chunk)]
    strata = np.zeros(len(X), dtype=np.int64)
    return stratified_means(chunks, side, group, n_groups, strata, 1, X.shape[1])


def test_one_stratum_is_the_difference_of_means_and_its_sampling_variance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) * np.arange(1, 6)
    side = np.array([0] * 20 + [1] * 15 + [-1] * 5 + [0] * 1 + [-1] * 19)
    group = np.array([0] * 40 + [1] * 20)  # group 1: one target cell, no reference cell
    means, spread, observed = _one_stratum(X, side, group, 2, chunk=7)
    np.testing.assert_allclose(means[0, 0] - means[0, 1], X[:20].mean(0) - X[20:35].mean(0))
    want = X[:20].var(0, ddof=1) / 20 + X[20:35].var(0, ddof=1) / 15
    np.testing.assert_allclose(spread[0], want, rtol=1e-10)
    np.testing.assert_array_equal(observed, [[20, 15], [1, 0]])
    # fewer than two cells on a side: the group's variance, as one cell per side
    np.testing.assert_allclose(spread[1], 2 * X[40:].var(0, ddof=1), rtol=1e-10)
    _, whole, _ = _one_stratum(X, side, group, 2, chunk=len(X))
    np.testing.assert_allclose(whole, spread, rtol=1e-10)


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


def test_stratified_means_reweight_each_side_to_the_groups_make_up():
    """Group 0 has two strata: stratum 0 is 22 of its 40 cells but only 5 of its 20 target
    cells. Each side's mean is the strata's means weighted by the group's shares (0.55,
    0.45), not the side's own make-up, and the spread the weighted variances of the means."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 4)) + np.arange(4)
    group = np.array([0] * 40 + [1] * 10)
    strata = np.array([0] * 5 + [1] * 15 + [0] * 12 + [1] * 3 + [0] * 15)
    side = np.array([0] * 20 + [1] * 15 + [-1] * 5 + [0] * 5 + [1] * 5)
    X[(strata == 1) & (group == 0)] += 5.0  # a stratum far from the other
    chunks = [(slice(0, 23), X[:23]), (slice(23, 50), X[23:])]
    means, spread, counts = stratified_means(chunks, side, group, 2, strata, 2, 4)
    w = {0: 22 / 40, 1: 18 / 40}
    want_mean, want_var = np.zeros((2, 4)), np.zeros(4)
    for s_ in (0, 1):
        for b in (0, 1):
            cells = (group == 0) & (strata == s_) & (side == b)
            want_mean[b] += w[s_] * X[cells].mean(0)
            want_var += w[s_] ** 2 * X[cells].var(0, ddof=1) / cells.sum()
    np.testing.assert_allclose(means[0], want_mean, rtol=1e-10)
    np.testing.assert_allclose(spread[0], want_var, rtol=1e-10)
    np.testing.assert_array_equal(counts, [[20, 15], [5, 5]])
    # group 1 is one stratum: the plain difference of means and its sampling variance
    one, zero = (group == 1) & (side == 0), (group == 1) & (side == 1)
    difference = X[one].mean(0) - X[zero].mean(0)
    np.testing.assert_allclose(means[1, 0] - means[1, 1], difference, rtol=1e-10)
    plain = X[one].var(0, ddof=1) / one.sum() + X[zero].var(0, ddof=1) / zero.sum()
    np.testing.assert_allclose(spread[1], plain, rtol=1e-10)


def test_effect_table_applies_the_correction_to_both_sides_and_the_lfc():
    rng = np.random.default_rng(3)
    sums = rng.normal(size=(52, 1, 3)) * 10
    shift = np.array([[[0.1, 0.2, 0.3], [0.3, 0.0, -0.1]]])
    plain = effect_table(sums, np.array([10]), ["g"], list("abc"), 0.25)
    moved = effect_table(sums, np.array([10]), ["g"], list("abc"), 0.25, correction=shift)
    np.testing.assert_allclose(moved["lfc_mean"] - plain["lfc_mean"], [-0.2, 0.2, 0.4])
    np.testing.assert_allclose(moved["mean_target"] - plain["mean_target"], shift[0, 0])
    np.testing.assert_allclose(moved["mean_reference"] - plain["mean_reference"], shift[0, 1])
    np.testing.assert_allclose(moved["lfc_sd"], plain["lfc_sd"])
