"""The vectorised rank statistics give scipy's values, ties included, so the bootstrap intervals do not move."""
import numpy as np
import pytest
from scipy import stats

from vggdarts.stats import (bootstrap_interval, bootstrap_tau_difference, kendall_tau, kendall_tau_along,
                            spearman_rho, spearman_rho_along)


def test_the_vectorised_tau_and_rho_equal_scipys_on_tied_rows():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(50, 12)), 1)  # rounding makes ties, as bootstrap duplicates do
    y = np.round(x + rng.normal(size=(50, 12)), 1)
    assert np.allclose(kendall_tau_along(x, y), [stats.kendalltau(a, b).statistic for a, b in zip(x, y)], atol=1e-12)
    assert np.allclose(spearman_rho_along(x, y), [stats.spearmanr(a, b).statistic for a, b in zip(x, y)], atol=1e-12)


@pytest.mark.parametrize("statistic", [kendall_tau, spearman_rho])
def test_the_bootstrap_interval_is_scipys_loop_over_the_same_resamples(statistic):
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=30), 1)
    y = np.round(x + rng.normal(size=30), 1)
    loop = stats.bootstrap((x, y), lambda a, b: statistic(a, b), paired=True, vectorized=False, n_resamples=300,
                           method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    fast = bootstrap_interval(statistic, x, y, n_resamples=300)
    assert (fast.low, fast.high) == pytest.approx((loop.low, loop.high), abs=1e-12)


def test_the_paired_tau_difference_is_zero_for_one_score_and_negative_for_a_worse_one():
    truth = np.arange(20.0)
    same = bootstrap_tau_difference(truth, truth, truth, n_resamples=200)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    worse = bootstrap_tau_difference(-truth, truth, truth, n_resamples=200)
    assert worse.estimate == pytest.approx(-2.0) and worse.high < 0


def test_the_partial_tau_is_kendalls_formula_on_a_hand_computed_case():
    """x = 1 2 3 4, y = 1 3 2 4, z = 1 2 4 3: tau_xy = tau_xz = 2/3 (one discordant pair of 6), tau_yz = 1/3
    (two), so the partial tau of x and y given z is (2/3 - 2/9) / sqrt(5/9 * 8/9) = 4 / sqrt(40)."""
    from vggdarts.stats import partial_kendall_tau

    x, y, z = [1, 2, 3, 4], [1, 3, 2, 4], [1, 2, 4, 3]
    assert partial_kendall_tau(x, y, z) == pytest.approx(4 / np.sqrt(40), abs=1e-12)
    assert np.isnan(partial_kendall_tau(x, y, x))  # given itself: undefined


@pytest.mark.parametrize("which", ["difference", "partial"])
def test_the_count_based_bootstraps_are_scipys_loop_over_the_same_resamples(which):
    from vggdarts.stats import bootstrap_partial_tau, partial_kendall_tau

    rng = np.random.default_rng(2)
    a = np.round(rng.normal(size=25), 1)
    b, t = np.round(a + rng.normal(size=25), 1), np.round(a + rng.normal(size=25), 1)
    if which == "difference":
        fast = bootstrap_tau_difference(a, b, t, n_resamples=300)
        slow = lambda x, y, z: kendall_tau(x, z) - kendall_tau(y, z)  # noqa: E731
    else:
        fast = bootstrap_partial_tau(a, t, b, n_resamples=300)
        slow = partial_kendall_tau
    loop = stats.bootstrap((a, b, t) if which == "difference" else (a, t, b), slow, paired=True, vectorized=False,
                           n_resamples=300, method="percentile",
                           random_state=np.random.default_rng(0)).confidence_interval
    assert (fast.low, fast.high) == pytest.approx((loop.low, loop.high), abs=1e-12)


@pytest.mark.parametrize("statistic", [kendall_tau, spearman_rho])
def test_a_tiny_sample_gets_a_finite_interval_for_both_statistics(statistic):
    """Three items: 3 of the 27 resamples draw one item three times and rank nothing.  Tau counts them as 0
    (no pair untied); rho must do the same, or its percentile interval is NaN (the ladder's first rows)."""
    x, y = [83.8, 84.7, 85.2], [85.7, 85.3, 85.9]
    ci = bootstrap_interval(statistic, x, y, n_resamples=2000)
    assert np.isfinite([ci.low, ci.high]).all() and ci.low <= ci.estimate <= ci.high
    assert ci.estimate == pytest.approx(statistic(x, y))
