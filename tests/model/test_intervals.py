"""The counterfactuals' intervals: a Student-t that keeps the Gaussian's 90% interval."""

import numpy as np
import pytest
from scipy.stats import norm

import medl
from medl.model.intervals import INTERVAL_DF, interval_factor


def test_the_90_percent_interval_is_the_gaussians_and_the_others_follow_the_t():
    assert interval_factor(0.9) == pytest.approx(norm.ppf(0.95), rel=1e-9)
    levels = [0.1, 0.5, 0.8, 0.9, 0.95, 0.99]
    factors = [interval_factor(q) for q in levels]
    assert factors == sorted(factors)
    # narrower than the Gaussian's below 90%, wider above
    assert interval_factor(0.5) < 0.9 * norm.ppf(0.75)
    assert interval_factor(0.99) > 1.2 * norm.ppf(0.995)


def test_the_interval_covers_a_gaussian_whose_variance_errs_as_measured():
    """Errors drawn with a variance that errs by an inverse-gamma factor of 5 degrees of
    freedom (a log-SD of 0.70; measured per gene on simulated truth: 0.51-0.80) are covered
    at every level by the t interval, and over-covered at 50% by the Gaussian's with the
    same 90% interval."""
    rng = np.random.default_rng(0)
    n = 400_000
    variance = (INTERVAL_DF - 2) / rng.chisquare(INTERVAL_DF, n)  # mean one
    assert np.std(np.log(variance)) == pytest.approx(0.70, abs=0.02)
    errors = rng.normal(0.0, np.sqrt(variance))
    # the factor keeps the Gaussian's 90% interval, so the t's own SD is 1.054 sd
    sd = np.full(n, 1.0 / 1.054)
    for level in (0.5, 0.8, 0.9, 0.95, 0.99):
        lower, upper = medl.counterfactual_interval(np.zeros(n), sd, level)
        held = np.mean((errors >= lower) & (errors <= upper))
        assert held == pytest.approx(level, abs=0.005), (level, held)
    assert np.mean(np.abs(errors) <= norm.ppf(0.75) * sd) > 0.54


def test_bounds_are_the_mean_minus_and_plus_the_factor_times_the_sd():
    mean = np.array([[1.0, 2.0], [0.5, 0.0]])
    sd = np.array([[0.1, 0.0], [0.2, 1.0]])
    lower, upper = medl.counterfactual_interval(mean, sd, 0.8)
    np.testing.assert_allclose(upper - mean, interval_factor(0.8) * sd)
    np.testing.assert_allclose(mean - lower, interval_factor(0.8) * sd)


@pytest.mark.parametrize(
    ("mean", "sd", "level", "error", "match"),
    [
        (np.zeros((2, 3)), np.ones((3, 2)), 0.9, ValueError, "one shape"),
        (np.zeros(2), np.array([0.1, -0.1]), 0.9, ValueError, "sd must be finite and >= 0"),
        (np.zeros(2), np.array([0.1, np.nan]), 0.9, ValueError, "sd must be finite"),
        (np.zeros(2), np.ones(2), 1.0, ValueError, r"level must be in \(0, 1\)"),
        (np.zeros(2), np.ones(2), 0.0, ValueError, r"level must be in \(0, 1\)"),
        (np.zeros(2), np.ones(2), 90, ValueError, "0.9 for a 90% interval"),
        (np.zeros(2), np.ones(2), "0.9", TypeError, "level must be a number"),
        (np.zeros(2), np.ones(2), True, TypeError, "level must be a number"),
    ],
)
def test_bad_input_gets_a_clear_error(mean, sd, level, error, match):
    with pytest.raises(error, match=match):
        medl.counterfactual_interval(mean, sd, level)
