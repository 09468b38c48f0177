"""The ladder read by rule: does each of the study's findings still hold at a higher rung?

Every finding is a claim that the records can settle or leave open, and each cell says **yes**, **no** or
**cannot tell**, with the numbers that decided it.  Each rule is a test at the 5% level:

* a ranking claim (R0's order predicts the rung's; a score ranks the subset) holds when Kendall's exact test
  rejects "no association" and tau is positive, fails when tau is negative and the test rejects.  The bootstrap
  interval is shown beside it, but on 8 to 16 architectures a percentile bootstrap is too narrow to decide;
* a claim about one architecture against the middle (``none`` ranks below the subset's median) compares the
  difference with a t bar: its sd is ``noise * sqrt((1 + pi / (2 m)) / k)`` for a k-seed mean against the median
  of m others' (a median of m means has about pi / 2 times a mean's variance), and the t quantile has as many
  degrees of freedom as the seed pairs that measured the noise;
* ``all`` beats every other architecture when it beats the best of them beyond the bar of a difference of two
  k-seed means (``noise * sqrt(2 / k)``); it fails only when some other beats it beyond the same bar corrected
  for the m comparisons (Bonferroni): the best of m noisy values is picked after the fact;
* the spread claim (architectures differ less than at R0) holds when the bootstrap interval of the sd ratio lies
  below 1.

A rung trained with one seed has no measured noise.  It borrows the noise of the rungs in ``NOISE_FROM``: the
verdict is the first's (R0's, measured after 8 epochs at width 0.25, taken to be no smaller than R2's after 24
at width 0.5), and the cell adds what the others (R1's) would say.  Cells of a rung still being
trained read the architectures it has; the header counts them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .ladder import RUNGS, SUBSET_FILE, markdown, report, rung_name, seed_noise, spread_ratio

ALPHA = 0.05
YES, NO, OPEN = "**yes**", "**no**", "**cannot tell**"
NOISE_FROM = {"R2": ("R0", "R1")}  # R2 trains seed 0 only: the widest plausible noise decides, then R1's


@dataclass(frozen=True)
class Noise:
    """One run's seed noise (points), the seed-0/seed-1 pairs it rests on and the rung that measured it."""
    sd: float
    pairs: int
    rung: str

    def bar(self, spread: float, comparisons: int = 1) -> float:
        """The two-sided t bar at ALPHA (Bonferroni over ``comparisons``) of a difference whose sd is
        ``spread`` times the noise."""
        return float(stats.t.ppf(1 - ALPHA / 2 / comparisons, self.pairs) * self.sd * spread)


def noises(truths: dict[str, dict], k: str) -> list[Noise]:
    """The noise that decides rung ``k``'s verdicts, then any asides: its own when it has two seeds, else those
    of ``NOISE_FROM[k]`` that are measured; empty when none is."""
    measured = {r: Noise(*seed_noise(truths[r]["seeds"]), r) for r in truths}
    own = [k] if measured[k].pairs >= 2 else [r for r in NOISE_FROM.get(k, ()) if measured[r].pairs >= 2]
    return [measured[r] for r in own]


def versus(d: float, yes_bar: float, no_bar: float | None = None) -> str:
    """YES when ``d`` (positive: the claim's direction) exceeds ``yes_bar``, NO when it falls below
    ``-no_bar`` (``yes_bar`` when not given)."""
    no_bar = yes_bar if no_bar is None else no_bar
    if not np.isfinite([d, yes_bar, no_bar]).all():
        return OPEN
    return YES if d > yes_bar else NO if d < -no_bar else OPEN


def kendall_verdict(score: dict[str, float], truth: dict[str, float]) -> tuple[str, float]:
    """(verdict, two-sided p of Kendall's test) over the architectures both have."""
    shared = [a for a in truth if a in score and np.isfinite(score[a])]
    if len(shared) < 3:
        return OPEN, math.nan
    res = stats.kendalltau([score[a] for a in shared], [truth[a] for a in shared])
    if not np.isfinite(res.pvalue) or res.pvalue >= ALPHA:
        return OPEN, float(res.pvalue)
    return (YES if res.statistic > 0 else NO), float(res.pvalue)


def interval_below(low: float, high: float, line: float) -> str:
    """YES when the interval lies below ``line``, NO when it lies above, OPEN otherwise."""
    if not np.isfinite([low, high]).all():
        return OPEN
    return YES if high < line else NO if low > line else OPEN


def _ordinal(m: dict[str, float], a: str) -> str:
    return f"{1 + sum(v > m[a] for v in m.values())} of {len(m)}"


def against_middle(m: dict[str, float], a: str, k: int, noise: Noise, below: bool) -> tuple[str, float, str]:
    """Whether ``a`` ranks below (or above) the median of the others beyond the noise: (verdict, the
    difference, its bar)."""
    others = [v for b, v in m.items() if b != a]
    d = (np.median(others) - m[a]) if below else (m[a] - np.median(others))
    bar = noise.bar(math.sqrt((1 + math.pi / (2 * len(others))) / k))
    return versus(d, bar), float(d), f"±{bar:.2f}"


def beats_every_other(m: dict[str, float], a: str, k: int, noise: Noise) -> tuple[str, float, str]:
    """Whether ``a`` beats the best of the others beyond the noise (yes), or some other beats it beyond the
    Bonferroni bar over all of them (no): (verdict, the difference, its bars)."""
    others = [v for b, v in m.items() if b != a]
    d = m[a] - max(others)
    yes, no = noise.bar(math.sqrt(2 / k)), noise.bar(math.sqrt(2 / k), len(others))
    return versus(d, yes, no), d, f"yes above +{yes:.2f}, no below -{no:.2f}"


def table(rep: dict[str, Any]) -> str:
    """The findings, one per row, read at every rung (the output of :func:`vggdarts.ladder.report`)."""
    t, role, n = rep["truths"], rep["role"], len(rep["archs"])
    by_role = {label: a for a, label in role.items() if label != "sample"}

    def one_arch(label: str, test: Callable[..., tuple[str, float, str]], **kw) -> Callable[[str], str]:
        def cell(k: str) -> str:
            m, a, decide = t[k]["mean"], by_role.get(label), noises(t, k)
            if a is None or a not in m or len(m) < 3:
                return "-"
            if not decide:
                return f"{OPEN}: {_ordinal(m, a)}, noise not measured"
            seeds = max(1, len(t[k]["seeds"]))
            read = [test(m, a, seeds, x, **kw) for x in decide]
            d = read[0][1]
            if decide[0].rung == k:
                return f"{read[0][0]}: {_ordinal(m, a)}, {d:+.2f} ({read[0][2]})"
            return "; ".join(f"{v} with {x.rung}'s noise ({bars})" for x, (v, _, bars) in zip(decide, read)) + (
                f": {_ordinal(m, a)}, {d:+.2f}")
        return cell

    def tau_cell(score: dict[str, float], k: str) -> str:
        agreement = rep["findings"][k].get(score) if score in rep["scores"] else rep["agreement"].get(f"R0 vs {k}")
        values = rep["scores"].get(score, t["R0"]["mean"])
        if not agreement:
            return "-"
        verdict, p = kendall_verdict(values, t[k]["mean"])
        return f"{verdict}: tau {agreement['tau']}, p {p:.3f} (n {agreement['n']})"

    def spread_cell(k: str) -> str:
        if k == "R0":
            return "-"
        r = spread_ratio(t["R0"]["mean"], t[k]["mean"], rep["n_resamples"])
        if not np.isfinite(r.estimate):
            return "-"
        ci = f"[{r.low:.2f}, {r.high:.2f}]" if np.isfinite([r.low, r.high]).all() else "[too few]"
        return f"{interval_below(r.low, r.high, 1.0)}: {r.estimate:.2f} {ci}"

    rows: list[tuple[str, Callable[[str], str]]] = [
        ("R0's order predicts the rung's (Kendall tau of the seed means)",
         lambda k: tau_cell("", k) if k != "R0" else "-"),
        ("`all` beats every other architecture (rank; `all` minus the best other, points)",
         one_arch("`all`", beats_every_other)),
        ("the width-1 argmax pick ranks above the subset's middle (rank; the pick minus the others' median)",
         one_arch("width-1 argmax", against_middle, below=False)),
        ("`none` ranks below the subset's middle (rank; the others' median minus `none`)",
         one_arch("`none`", against_middle, below=True)),
        ("`resnet` ranks below the subset's middle (rank; the others' median minus `resnet`)",
         one_arch("`resnet`", against_middle, below=True)),
        *[(f"{score} ranks the subset (Kendall tau)", (lambda s: lambda k: tau_cell(s, k))(score))
          for score in rep["scores"]],
        ("architectures differ less than at R0 (their sd over R0's on the same ones, below 1)", spread_cell),
    ]
    header = [f"{rung_name(RUNGS[k])}" + (f": {len(t[k]['mean'])} of {n} trained" if len(t[k]["mean"]) < n else "")
              for k in RUNGS]
    lines = ["| finding | " + " | ".join(header) + " |", "|---" * (1 + len(RUNGS)) + "|"]
    lines += [f"| {label} | " + " | ".join(cell(k) for k in RUNGS) + " |" for label, cell in rows]
    return "\n".join(lines)


def section(record_dir: str | Path, results: str | Path | None = None) -> str:
    """The report's ladder tables and the findings read by rule, for a record with a ladder (the searches it
    scores are looked for beside the record, or in ``results``); a one-line note for a record without one."""
    record_dir = Path(record_dir)
    if not (record_dir / SUBSET_FILE).exists():
        return f"{record_dir} has no fidelity ladder ({SUBSET_FILE})."
    rep = report(record_dir, Path(results) if results is not None else record_dir.parent)
    return markdown(rep) + "\n\n" + table(rep)
