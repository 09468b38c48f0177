"""The ladder read by rule: does each of the study's findings still hold at a higher rung?

Every finding the subset can test is a claim, and each cell says **yes**, **no** or **cannot tell**, with the
numbers that decided it.  Each rule is a two-sided test at the 5% level (``ALPHA``); **no** means the test
rejects in the claim's opposite direction.  Bootstrap intervals are shown beside the ranking and spread
verdicts, but on at most 16 architectures a percentile bootstrap is unreliable in both directions, so tests
decide:

* a ranking claim (R0's order predicts the rung's; a score ranks the subset): Kendall's test of no association
  (exact without ties, scipy's normal approximation with them), **yes** when it rejects with tau > 0;
* one architecture against the subset's middle (``none`` ranks below it): its mean minus the median of the
  others' against a t bar.  With one run's noise s and k_x seeds behind architecture x, the difference's sd is
  about ``s * sqrt(1 / k_a + pi / (2 m) * mean(1 / k_others))`` (a median of m equally noisy means has about
  pi / 2 times one mean's variance over m; somewhat more when their true values differ, so the bar is a little
  narrow), and the t quantile has as many degrees of freedom as the seed pairs that measured s (s^2 is the mean
  of (s0 - s1)^2 / 2 over them, each pair one degree of freedom);
* ``all`` beats every other architecture: **yes** when it beats the best of them beyond the t bar of their
  difference, ``s * sqrt(1 / k_a + 1 / k_b)`` (every other comparison then passes too, so no correction);
  **no** when some other beats it beyond its bar with Bonferroni's correction over the m others, since the
  best of m noisy values is picked after the fact;
* the spread claim (architectures differ less than at R0): the Pitman-Morgan test of equal variances of paired
  values (the correlation of their sums and differences) on the rung's and R0's means.

A rung trained with one seed has no measured noise.  It borrows the noise of the rungs in ``NOISE_FROM``: the
verdict is the first's (R0's, measured after 8 epochs at width 0.25, taken to be no smaller than R2's after 24
at width 0.5), and the cell adds what the others (R1's) would give.  Cells of a rung still being trained read
the architectures it has; the header counts them.  No correction is made across the table's cells.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import stats

from .ladder import (RUNGS, SUBSET_FILE, markdown, mean_gain, rank_in, report, rung_name, sd_ratio, seed_counts,
                     seed_noise, spread_ratio, true_spread)

ALPHA = 0.05
YES, NO, OPEN = "**yes**", "**no**", "**cannot tell**"
NOISE_FROM = {"R2": ("R0", "R1")}  # R2 trains seed 0 only: the widest plausible noise decides, then R1's
ORDER = "R0's order predicts the rung's (Kendall tau of the seed means)"
SPREAD = "architectures differ less than at R0 (their sd over R0's on the same ones; Pitman-Morgan p)"


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


def signed_test(statistic: float, p: float) -> str:
    """YES when a two-sided test rejects with a positive statistic, NO with a negative one."""
    if not np.isfinite(p) or p >= ALPHA:
        return OPEN
    return YES if statistic > 0 else NO


def kendall_verdict(score: dict[str, float], truth: dict[str, float]) -> tuple[str, float]:
    """(verdict, two-sided p of Kendall's test) over the architectures both have."""
    shared = [a for a in truth if a in score and np.isfinite(score[a])]
    if len(shared) < 3:
        return OPEN, math.nan
    res = stats.kendalltau([score[a] for a in shared], [truth[a] for a in shared])
    return signed_test(res.statistic, res.pvalue), float(res.pvalue)


def pitman_morgan(base: dict[str, float], other: dict[str, float]) -> tuple[str, float]:
    """(verdict on "``other`` varies less than ``base``", two-sided p) on the architectures both have: equal
    variances of paired x, y exactly when x + y and x - y are uncorrelated; var(x) > var(y) makes it positive."""
    shared = [a for a in base if a in other]
    if len(shared) < 4:
        return OPEN, math.nan
    x, y = np.array([base[a] for a in shared]), np.array([other[a] for a in shared])
    res = stats.pearsonr(x + y, x - y)
    return signed_test(res.statistic, res.pvalue), float(res.pvalue)


@dataclass(frozen=True)
class Cell:
    """One finding at one rung: the deciding verdict (None where the rung cannot test it), the table's text, and
    the verdicts under the borrowed noises that did not decide, as (rung, verdict)."""
    verdict: str | None
    text: str
    asides: tuple[tuple[str, str], ...] = ()


NOT_TESTED = Cell(None, "-")


# ----------------------------------------------------------------------------- one architecture's standing

Reading = tuple[str, float, str]  # (verdict, the difference in points, its bars)


def against_middle(m: dict[str, float], a: str, k: dict[str, int], noise: Noise, below: bool) -> Reading:
    """Whether ``a`` ranks below (or above) the median of the others beyond the noise."""
    others = [b for b in m if b != a]
    median = float(np.median([m[b] for b in others]))
    d = (median - m[a]) if below else (m[a] - median)
    bar = noise.bar(math.sqrt(1 / k[a] + math.pi / (2 * len(others)) * np.mean([1 / k[b] for b in others])))
    return versus(d, bar), d, f"±{bar:.2f}"


def beats_every_other(m: dict[str, float], a: str, k: dict[str, int], noise: Noise) -> Reading:
    """Whether ``a`` beats the best of the others beyond the noise (yes), or some other beats it beyond its
    Bonferroni bar over all of them (no)."""
    others = [b for b in m if b != a]
    best = max(others, key=lambda b: m[b])
    spread = {b: math.sqrt(1 / k[a] + 1 / k[b]) for b in others}
    d, yes, no = m[a] - m[best], noise.bar(spread[best]), noise.bar(spread[best], len(others))
    beaten = any(m[b] - m[a] > noise.bar(spread[b], len(others)) for b in others)
    verdict = YES if d > yes else NO if beaten else OPEN
    return verdict, d, f"yes above +{yes:.2f}, no below -{no:.2f}"


def standing_cell(t: dict[str, dict], k: str, a: str | None, test: Callable[..., Reading], **kw) -> Cell:
    """One architecture's cell at rung ``k``: its rank, the difference and the verdict under each noise."""
    m, decide = t[k]["mean"], noises(t, k)
    if a is None or a not in m or len(m) < 3:
        return NOT_TESTED
    if not decide:
        return Cell(OPEN, f"{OPEN}: {rank_in(m, a)} of {len(m)}, noise not measured")
    counts = seed_counts(t[k])
    read = [test(m, a, counts, x, **kw) for x in decide]
    place, d = f"{rank_in(m, a)} of {len(m)}", read[0][1]
    if decide[0].rung == k:
        return Cell(read[0][0], f"{read[0][0]}: {place}, {d:+.2f} ({read[0][2]})")
    text = "; ".join(f"{v} with {x.rung}'s noise ({bars})" for x, (v, _, bars) in zip(decide, read))
    return Cell(read[0][0], f"{text}: {place}, {d:+.2f}", tuple((x.rung, v) for x, (v, _, _) in zip(decide[1:], read[1:])))


# ----------------------------------------------------------------------------- the table

def tau_cell(values: dict[str, float], agreement: dict | None, truth: dict[str, float]) -> Cell:
    if not agreement:
        return NOT_TESTED
    verdict, p = kendall_verdict(values, truth)
    return Cell(verdict, f"{verdict}: tau {agreement['tau']}, p {p:.3f} (n {agreement['n']})")


def spread_cell(rep: dict[str, Any], k: str) -> Cell:
    t = rep["truths"]
    if k == "R0":
        return NOT_TESTED
    r = spread_ratio(t["R0"]["mean"], t[k]["mean"], rep["n_resamples"])
    if not np.isfinite(r.estimate):
        return NOT_TESTED
    verdict, p = pitman_morgan(t["R0"]["mean"], t[k]["mean"])
    ci = f"[{r.low:.2f}, {r.high:.2f}]" if np.isfinite([r.low, r.high]).all() else "[too few]"
    return Cell(verdict, f"{verdict}: {r.estimate:.2f} {ci}, p {p:.3f}")


def rows(rep: dict[str, Any]) -> list[tuple[str, Callable[[str], Cell]]]:
    """(the finding, its cell at a rung) for every finding the subset can test."""
    t = rep["truths"]
    who = {label: a for a, label in rep["role"].items() if label != "sample"}.get
    r0_order = lambda k: NOT_TESTED if k == "R0" else tau_cell(t["R0"]["mean"], rep["agreement"].get(f"R0 vs {k}"), t[k]["mean"])  # noqa: E731

    def score_row(s: str) -> Callable[[str], Cell]:
        return lambda k: tau_cell(rep["scores"][s], rep["findings"][k][s], t[k]["mean"])

    def middle(label: str, below: bool) -> Callable[[str], Cell]:
        return lambda k: standing_cell(t, k, who(label), against_middle, below=below)

    return [
        (ORDER, r0_order),
        ("`all` beats every other architecture (rank; `all` minus the best other, points)",
         lambda k: standing_cell(t, k, who("`all`"), beats_every_other)),
        ("the width-1 argmax pick ranks above the subset's middle (rank; the pick minus the others' median)",
         middle("width-1 argmax", below=False)),
        ("`none` ranks below the subset's middle (rank; the others' median minus `none`)", middle("`none`", below=True)),
        ("`resnet` ranks below the subset's middle (rank; the others' median minus `resnet`)", middle("`resnet`", below=True)),
        *[(f"{s} ranks the subset (Kendall tau)", score_row(s)) for s in rep["scores"]],
        (SPREAD, lambda k: spread_cell(rep, k)),
    ]


def grid(rep: dict[str, Any]) -> list[tuple[str, dict[str, Cell]]]:
    """Every finding with its cell at every rung (from the output of :func:`vggdarts.ladder.report`)."""
    return [(label, {k: cell(k) for k in RUNGS}) for label, cell in rows(rep)]


def trained(rep: dict[str, Any], k: str) -> str:
    """A rung's name, with how many of the subset it has while it is incomplete."""
    have, n = len(rep["truths"][k]["mean"]), len(rep["archs"])
    return rung_name(RUNGS[k]) + (f": {have} of {n} trained" if have < n else "")


def table(rep: dict[str, Any], cells: list[tuple[str, dict[str, Cell]]] | None = None) -> str:
    """The findings, one per row, read at every rung (the output of :func:`vggdarts.ladder.report`)."""
    lines = ["| finding | " + " | ".join(trained(rep, k) for k in RUNGS) + " |", "|---" * (1 + len(RUNGS)) + "|"]
    lines += [f"| {label} | " + " | ".join(c[k].text for k in RUNGS) + " |" for label, c in cells or grid(rep)]
    return "\n".join(lines)


def plain(verdict: str) -> str:
    return verdict.strip("*")


def reading(rep: dict[str, Any], cells: list[tuple[str, dict[str, Cell]]] | None = None) -> str:
    """Which findings hold at the highest rung, which do not and which it cannot tell, each with its verdicts at
    the other rungs and under any borrowed noise that reads it differently; then those the highest rung cannot
    test yet.  Interim (and headed so) while any rung is incomplete."""
    top, n = list(RUNGS)[-1], len(rep["archs"])
    have = len(rep["truths"][top]["mean"])
    incomplete = [k for k in RUNGS if len(rep["truths"][k]["mean"]) < n]
    groups: dict[str | None, list[str]] = {YES: [], NO: [], OPEN: [], None: []}
    for label, c in cells or grid(rep):
        said = [f"{k}: {plain(c[k].verdict)}" for k in RUNGS if k != top and c[k].verdict is not None]
        said += [f"{top} with {r}'s noise: {plain(v)}" for r, v in c[top].asides if v != c[top].verdict]
        finding = label.rsplit(" (", 1)[0].replace("the rung's", "the higher rung's")
        groups[c[top].verdict].append(finding + (f" ({'; '.join(said)})" if said else ""))
    lines = [f"At the highest rung, {rung_name(RUNGS[top])}, {have} of the subset's {n} architectures trained"
             + (f" (interim: {' and '.join(incomplete)} not complete)" if incomplete else "")
             + "; each test uses the architectures its rung and score share. Each finding, with its verdicts at "
             "the other rungs:", ""]
    heads = {YES: "holds (yes)", NO: "does not hold (no)", OPEN: "cannot tell", None: f"not tested at {top} yet"}
    for v in (YES, NO, OPEN, None):
        if v is None and not groups[v]:
            continue
        lines.append(f"* **{heads[v]}**:" + ("" if groups[v] else " none"))
        lines += [f"  * {g}" for g in groups[v]]
    return "\n".join(lines)


def _verdicts_at(by_rung: dict[str, list[str]], words: dict[str, str]) -> str:
    """'<words[yes]> R1 and R2; <words[cannot tell]> R3' from {verdict: [rungs]}."""
    return "; ".join(f"{words[v]} {' and '.join(ks)}" for v, ks in by_rung.items() if ks)


def _by_verdict(cells: dict[str, dict[str, Cell]], label: str, rungs: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {YES: [], NO: [], OPEN: []}
    for k in rungs:
        if cells[label][k].verdict is not None:
            out[cells[label][k].verdict].append(k)
    return out


def _order_answer(rep: dict[str, Any], cells: dict[str, dict[str, Cell]], higher: list[str]) -> str:
    said = "; ".join(f"{k} {rung_name(RUNGS[k])[3:]}: tau {a['tau']} ({plain(cells[ORDER][k].verdict)})"
                     for k in higher if (a := rep["agreement"].get(f"R0 vs {k}")))
    ceiling = rep["ceiling_r1"]
    scale = (f" For scale, two runs of the R1 recipe (seeds 0 and 1) rank the subset alike at tau {ceiling['tau']}."
             if ceiling else "")
    got = _by_verdict(cells, ORDER, higher)
    if got[YES] and not got[NO] and not got[OPEN]:
        verdict = "R0's order carries to every higher rung: it predicts each one's better than chance"
    else:
        verdict = "R0's order " + _verdicts_at(got, {YES: "predicts the order at", NO: "is reversed at",
                                                     OPEN: "cannot be told from chance at"})
    return f"**Does R0's order predict the higher rungs'?** {said}.{scale} {verdict}."


def _spread_answer(rep: dict[str, Any], cells: dict[str, dict[str, Cell]], higher: list[str]) -> str:
    t = rep["truths"]
    r0 = t["R0"]["mean"]

    gains = " and ".join(f"{mean_gain(t, k):+.2f}{' points' if i == 0 else ''} at {k}" for i, k in enumerate(higher))
    ratios = "; ".join(f"{k}: {sd_ratio(r0, t[k]['mean']):.2f} ({plain(cells[SPREAD][k].verdict)})" for k in higher
                       if cells[SPREAD][k].verdict is not None)
    whole = [k for k in higher if set(t[k]["mean"]) == set(r0)]
    clean = [f"{k}: {true_spread(t[k]) / true_spread(t['R0']):.2f}" if np.isfinite(true_spread(t[k]))
             else f"{k}: its noise is not measured" for k in whole if true_spread(t["R0"]) > 0]
    got = _by_verdict(cells, SPREAD, higher)
    if got[YES] and not got[NO] and not got[OPEN]:
        verdict = (f"Yes: shortcut placement matters less at {' and '.join(got[YES])} than after R0's "
                   f"{RUNGS['R0'][1]} epochs")
    else:
        verdict = "The architectures differ " + _verdicts_at(got, {
            YES: "less than at R0 at", NO: "more than at R0 at", OPEN: "by an amount the subset cannot tell from R0's at"})
    return ("**Does shortcut placement matter less the longer VGG11 trains?** The mean gain over R0 on the same "
            f"architectures is {gains}. The spread between architectures (their sd) over R0's on the same ones "
            f"is {ratios}" + (f"; with each rung's seed-noise share removed, {'; '.join(clean)}" if clean else "")
            + f". {verdict}.")


def answers(rep: dict[str, Any], cells: list[tuple[str, dict[str, Cell]]] | None = None) -> str:
    """The ladder's two questions answered from the records, in words: does R0's order predict the higher
    rungs', and do the architectures differ less the longer (and wider) VGG11 trains?  Each answer gives the
    numbers and verdicts behind it, rung by rung; a rung with fewer than three architectures is left out."""
    by_label = dict(cells or grid(rep))
    higher = [k for k in RUNGS if k != "R0" and len(rep["truths"][k]["mean"]) >= 3]
    if not higher:
        return "No rung above R0 has three architectures trained yet: the ladder answers nothing so far."
    return _order_answer(rep, by_label, higher) + "\n\n" + _spread_answer(rep, by_label, higher)


def section(record_dir: str | Path, results: str | Path | None = None) -> str:
    """The report's ladder tables and the findings read by rule, for a record with a ladder (the searches it
    scores are looked for beside the record, or in ``results``); a one-line note for a record without one."""
    record_dir = Path(record_dir)
    if not (record_dir / SUBSET_FILE).exists():
        return f"{record_dir} has no fidelity ladder ({SUBSET_FILE})."
    rep = report(record_dir, Path(results) if results is not None else record_dir.parent)
    cells = grid(rep)
    return "\n\n".join((markdown(rep), answers(rep, cells), table(rep, cells), reading(rep, cells)))
