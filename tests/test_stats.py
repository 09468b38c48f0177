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
