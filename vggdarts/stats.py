"""Statistics that can say "no difference": paired differences with confidence intervals, rank correlations
with bootstrap intervals.  Thin wrappers around scipy.stats, so that every table computes them one way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def has_interval(self) -> bool:
        """False where there was nothing to scale an interval by (one pair, or pairs that all differ alike)."""
        return bool(np.isfinite([self.low, self.high]).all())

    def __str__(self) -> str:
        if not self.has_interval:
            return f"{self.estimate:+.2f}, no interval"
        return f"{self.estimate:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def paired_difference(a, b, confidence: float = 0.95) -> Interval:
    """Mean of a - b over paired samples (the same seeds) with a t interval; NaN bounds for fewer than 2 pairs,
    and where every pair differs by the same amount: with no spread to scale it, the t interval would be a point
    and call any such difference certain (two seeds' accuracies, at 0.01% steps, tie often enough)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2 or np.ptp(d) <= 1e-9 * (1 + np.abs(d).max()):  # equal up to float rounding
        return Interval(float(d.mean()) if len(d) else math.nan, math.nan, math.nan)
    low, high = stats.t.interval(confidence, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    return Interval(float(d.mean()), float(low), float(high))


def kendall_tau(x, y) -> float:
    return float(stats.kendalltau(x, y).statistic)


def spearman_rho(x, y) -> float:
    return float(stats.spearmanr(x, y).statistic)


def kendall_tau_along(x, y, axis: int = -1) -> np.ndarray:
    """Kendall's tau-b of each row pair (``axis``): sum of sign products over pairs over the root of the counts
    of pairs untied in x and in y, which is tau-b exactly.  For the bootstrap: thousands of resamples at once."""
    x, y = np.moveaxis(np.asarray(x, float), axis, -1), np.moveaxis(np.asarray(y, float), axis, -1)
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum((-1, -2)) / np.sqrt((sx * sx).sum((-1, -2)) * (sy * sy).sum((-1, -2)))


def spearman_rho_along(x, y, axis: int = -1) -> np.ndarray:
    """Spearman's rho of each row pair: Pearson r of the ranks (ties get their mean rank, as scipy does)."""
    rx, ry = (np.moveaxis(stats.rankdata(v, axis=axis), axis, -1) for v in (x, y))
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx * rx).sum(-1) * (ry * ry).sum(-1))


VECTORISED = {spearman_rho: spearman_rho_along}
N_RESAMPLES = 10_000  # the study's bootstrap size: the reported intervals move by < 0.01 between seeds


def partial_kendall_tau(x, y, z) -> float:
    """Kendall's partial tau of x and y given z (Kendall 1942):
    (tau_xy - tau_xz tau_yz) / sqrt((1 - tau_xz^2)(1 - tau_yz^2)); NaN when z ranks x or y perfectly."""
    txy, txz, tyz = kendall_tau(x, y), kendall_tau(x, z), kendall_tau(y, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float((txy - txz * tyz) / np.sqrt((1 - txz ** 2) * (1 - tyz ** 2)))


class _PairSigns:
    """Kendall's tau-b of any resample of n items, computed from the items' pairwise sign matrices.

    A resample that draws item k c_k times has sum_{k,l} c_k c_l s_x[k,l] s_y[k,l] as twice its concordance
    surplus, and c^T |s_x| c as twice its pairs untied in x: duplicates are pairs tied in both, exactly as
    tau-b counts them.  So a resample costs one n x n matrix product instead of sorting the resampled values.

    The three quadratic forms of a tau are one product with the stacked [n, 3n] matrix.  Every term is an integer
    and every sum is at most n^2 in size, so float32 sums them exactly while n^2 < 2^24: the same taus as float64,
    at half the cost (a float64 fallback beyond)."""

    def __init__(self, *columns):
        self.n = len(columns[0])
        self.signs = [np.sign(np.subtract.outer(c, c)) for c in map(np.asarray, columns)]
        self.dtype = np.float32 if self.n * self.n < 2 ** 24 else np.float64
        self._stacked: dict[tuple[int, int], np.ndarray] = {}

    def counts(self, idx) -> np.ndarray:
        idx = np.atleast_2d(np.asarray(idx, dtype=np.int64))
        offsets = (np.arange(len(idx)) * self.n)[:, None]
        flat = np.bincount((idx + offsets).ravel(), minlength=len(idx) * self.n)
        return flat.reshape(len(idx), self.n).astype(self.dtype)

    def tau(self, c: np.ndarray, a: int, b: int) -> np.ndarray:
        if (a, b) not in self._stacked:
            sa, sb = self.signs[a], self.signs[b]
            self._stacked[(a, b)] = np.hstack([sa * sb, sa * sa, sb * sb]).astype(self.dtype)
        c = c.astype(self.dtype, copy=False)
        forms = ((c @ self._stacked[(a, b)]).reshape(len(c), 3, self.n) * c[:, None, :]).sum(-1)
        cross, untied_a, untied_b = forms.astype(np.float64).T  # exact integers
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample tied throughout ranks nothing: tau 0
            return np.nan_to_num(cross / np.sqrt(untied_a * untied_b), nan=0.0)


def _bootstrap_indices(statistic_of_counts, n: int, confidence: float, n_resamples: int, seed: int):
    """scipy.stats.bootstrap over the item indices 0..n-1 (paired by construction); the statistic gets each
    resample's counts.  The draws are scipy's own, so the interval is the one its loop over values gives."""
    pairs_of = lambda idx, axis=-1: statistic_of_counts(idx)  # noqa: E731
    return stats.bootstrap((np.arange(n),), pairs_of, vectorized=True, confidence_level=confidence,
                           n_resamples=n_resamples, method="percentile", batch=2000,
                           random_state=np.random.default_rng(seed)).confidence_interval


def bootstrap_interval(statistic, x, y, confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                       seed: int = 0) -> Interval:
    """``statistic(x, y)`` with a percentile bootstrap interval over resampled (x, y) pairs (scipy.stats.bootstrap).
    Kendall tau is evaluated from each resample's counts (:class:`_PairSigns`), Spearman rho on all resamples at
    once (:data:`VECTORISED`): the same resamples and the same values as scipy's loop, to rounding."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if statistic is kendall_tau:
        pairs = _PairSigns(x, y)
        ci = _bootstrap_indices(lambda idx: pairs.tau(pairs.counts(idx), 0, 1), len(x), confidence, n_resamples, seed)
        return Interval(float(statistic(x, y)), float(ci.low), float(ci.high))
    along = VECTORISED.get(statistic)  # a resample tied throughout ranks nothing: 0, as for tau (not NaN)
    vectorised = ((lambda a, b, axis=-1: np.nan_to_num(along(a, b, axis), nan=0.0)) if along
                  else (lambda a, b: np.nan_to_num(statistic(a, b), nan=0.0)))
    result = stats.bootstrap((x, y), vectorised, paired=True, vectorized=along is not None,
                             confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                             random_state=np.random.default_rng(seed))
    ci = result.confidence_interval
    return Interval(float(statistic(x, y)), float(ci.low), float(ci.high))


def bootstrap_partial_tau(x, y, z, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
    """:func:`partial_kendall_tau` of x and y given z, with a percentile bootstrap interval over the items."""
    pairs = _PairSigns(x, y, z)

    def partial(idx):
        c = pairs.counts(idx)
        txy, txz, tyz = pairs.tau(c, 0, 1), pairs.tau(c, 0, 2), pairs.tau(c, 1, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (txy - txz * tyz) / np.sqrt((1 - txz ** 2) * (1 - tyz ** 2))

    ci = _bootstrap_indices(partial, len(pairs.signs[0]), confidence, n_resamples, seed)
    return Interval(partial_kendall_tau(x, y, z), float(ci.low), float(ci.high))


def ceiling_for_mean(seed_tau: Interval, k: int) -> Interval:
    """How well a *perfect* score could rank against the mean of ``k`` seeds, given the Kendall tau between two
    single seeds (a model, not a measurement): each seed = quality + independent noise, jointly normal.  Then
    Pearson r = sin(pi tau / 2) (Greiner), the mean of k seeds has reliability k r / (1 + (k - 1) r)
    (Spearman-Brown), its correlation with the quality is the square root of that, and back to tau with
    2 asin(.) / pi.  Applied to the estimate and to both ends of the interval (the map is monotone)."""
    def one(tau: float) -> float:
        r = max(0.0, math.sin(math.pi * tau / 2))
        return 2 / math.pi * math.asin(math.sqrt(k * r / (1 + (k - 1) * r)))

    return Interval(one(seed_tau.estimate), one(seed_tau.low), one(seed_tau.high))


def bootstrap_tau_difference(a, b, truth, confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                             seed: int = 0) -> Interval:
    """Kendall tau(a, truth) - tau(b, truth), with a percentile bootstrap interval over the architectures
    (each resample draws architectures, keeping each one's two scores and truth together: a paired test)."""
    a, b, truth = (np.asarray(v, dtype=float) for v in (a, b, truth))
    pairs = _PairSigns(a, b, truth)

    def diff(idx):
        c = pairs.counts(idx)
        return pairs.tau(c, 0, 2) - pairs.tau(c, 1, 2)

    ci = _bootstrap_indices(diff, len(a), confidence, n_resamples, seed)
    return Interval(kendall_tau(a, truth) - kendall_tau(b, truth), float(ci.low), float(ci.high))
