"""The ladder read by rule: does each of the study's findings still hold at a higher rung?

Every finding is a claim that the records can settle or leave open, and each cell of the table says **yes**,
**no** or **cannot tell**, with the numbers that decided it:

* a ranking claim (R0's order predicts the rung's; a score ranks the subset) holds when Kendall tau's bootstrap
  interval lies above 0, fails when it lies below, and is open otherwise;
* a claim about one architecture (``all`` beats every other; ``none`` ranks below the middle) holds when the
  difference it names exceeds twice the seed noise of a difference of two k-seed means (noise x sqrt(2 / k), as
  :func:`vggdarts.ladder.standing` uses), fails when it is as large the other way, and is open in between;
* the spread claim (architectures differ less than at R0) holds when the interval of the sd ratio lies below 1.

A rung trained with one seed has no measured noise: it borrows the noise of the rung named in ``NOISE_FROM``
(the other long schedule), and a verdict that rests on it is conditional and says so ("no if R2's seed noise
is R1's"): longer training has lowered the noise at every rung measured, but R2's own has not been.  Cells of a rung still being
trained are read on the architectures it has; the header counts them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .ladder import RUNGS, SUBSET_FILE, markdown, report, rung_name, seed_noise, spread_ratio

YES, NO, OPEN = "**yes**", "**no**", "**cannot tell**"
NOISE_FROM = {"R2": "R1"}  # R2 trains seed 0 only; R1 (width 0.25, 32 epochs) is the nearest budget with two seeds


def noise_bar(noise: float, k: int) -> float:
    """Twice the sd of a difference of two k-seed means when one run carries ``noise`` (points)."""
    return 2 * noise * math.sqrt(2 / k)


def rung_noise(truths: dict[str, dict], k: str) -> tuple[float, str | None]:
    """(one run's seed noise at rung ``k``, the rung it was borrowed from or None); NaN when none is known."""
    sd, pairs = seed_noise(truths[k]["seeds"])
    if pairs >= 2:
        return sd, None
    source = NOISE_FROM.get(k)
    if source is not None and seed_noise(truths[source]["seeds"])[1] >= 2:
        return seed_noise(truths[source]["seeds"])[0], source
    return math.nan, None


def versus(d: float, bar: float) -> str:
    """YES when ``d`` (positive: the claim's direction) exceeds ``bar``, NO when it exceeds it the other way."""
    if not np.isfinite(bar) or not np.isfinite(d):
        return OPEN
    return YES if d > bar else NO if d < -bar else OPEN


def interval_verdict(low: float, high: float, line: float = 0.0, below: bool = False) -> str:
    """YES when the interval lies above ``line`` (below it, with ``below``), NO when wholly on the other side."""
    if not np.isfinite([low, high]).all():
        return OPEN
    above, under = low > line, high < line
    return (YES if under else NO if above else OPEN) if below else (YES if above else NO if under else OPEN)


def _others(m: dict[str, float], a: str) -> list[float]:
    return [v for b, v in m.items() if b != a]


def _ordinal(m: dict[str, float], a: str) -> str:
    return f"{1 + sum(v > m[a] for v in m.values())} of {len(m)}"


def table(rep: dict[str, Any]) -> str:
    """The findings, one per row, read at every rung (the output of :func:`vggdarts.ladder.report`)."""
    t, role, n = rep["truths"], rep["role"], len(rep["archs"])
    by_role = {label: a for a, label in role.items() if label != "sample"}
    noise = {k: rung_noise(t, k) for k in RUNGS}

    def bar(k: str) -> tuple[float, str | None]:
        sd, source = noise[k]
        return noise_bar(sd, max(1, len(t[k]["seeds"]))), source

    def one_arch(a: str | None, gap: Callable[[dict, str], float], says: Callable[[float, float], str]):
        def cell(k: str) -> str:
            m = t[k]["mean"]
            if a is None or a not in m or len(m) < 3:
                return "-"
            b, note = bar(k)
            d = gap(m, a)
            verdict = says(d, b)
            if note and verdict != OPEN:  # a borrowed noise decides only under its assumption
                verdict += f" if {k}'s seed noise is {noise[k][1]}'s"
            within = f"±{b:.2f}" if np.isfinite(b) else "noise not measured"
            return f"{verdict}: {_ordinal(m, a)}, {d:+.2f} ({within})"
        return cell

    def tau_cell(agreement: dict | None) -> str:
        if not agreement:
            return "-"
        tau = agreement["tau"]
        return f"{interval_verdict(tau.low, tau.high)}: {tau} (n {agreement['n']})"

    def spread_cell(k: str) -> str:
        if k == "R0":
            return "-"
        r = spread_ratio(t["R0"]["mean"], t[k]["mean"], rep["n_resamples"])
        if not np.isfinite(r.estimate):
            return "-"
        ci = f"[{r.low:.2f}, {r.high:.2f}]" if np.isfinite([r.low, r.high]).all() else "[too few]"
        return f"{interval_verdict(r.low, r.high, line=1.0, below=True)}: {r.estimate:.2f} {ci}"

    rows: list[tuple[str, Callable[[str], str]]] = [
        ("R0's order predicts the rung's (Kendall tau of the seed means above 0)",
         lambda k: tau_cell(rep["agreement"].get(f"R0 vs {k}")) if k != "R0" else "-"),
        ("`all` beats every other architecture (rank; `all` minus the best other, points)",
         one_arch(by_role.get("`all`"), lambda m, a: m[a] - max(_others(m, a)), versus)),
        ("no architecture beats the width-1 argmax pick (rank; the pick minus the best other)",
         one_arch(by_role.get("width-1 argmax"), lambda m, a: m[a] - max(_others(m, a)),
                  lambda d, b: NO if versus(d, b) == NO else YES if np.isfinite(b) else OPEN)),
        ("`none` ranks below the subset's middle (rank; the median of the others minus `none`)",
         one_arch(by_role.get("`none`"), lambda m, a: float(np.median(_others(m, a))) - m[a], versus)),
        ("`resnet` ranks below the subset's middle (rank; the median of the others minus `resnet`)",
         one_arch(by_role.get("`resnet`"), lambda m, a: float(np.median(_others(m, a))) - m[a], versus)),
        *[(f"{score} ranks the subset (Kendall tau above 0)",
           (lambda s: lambda k: tau_cell(rep["findings"][k][s]))(score))
          for score in next(iter(rep["findings"].values()))],
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
