"""The fidelity ladder: how far the cheap ground truth carries toward longer, wider training.

A *rung* is a training budget ``(width, epochs)``; the recipe is otherwise the ``cpu`` retrain preset's.  R0 is
the ground truth itself (every architecture, two seeds); the higher rungs retrain a fixed subset of it, chosen
once from R0 before any of them was trained and kept in ``results/groundtruth-cpu/ladder.json``:

* the baselines ``none``, ``resnet``, ``all`` and the width-1 search's argmax pick;
* ``n - 4`` of the sampled architectures at evenly spaced ranks of R0's mean validation accuracy (the lowest, the
  highest and equal steps between), so the subset spans the truth's range instead of its crowded middle.

Ties are ordered by the float64 mean, then the id.  Equal two-seed means can differ in the last bit: four sampled
architectures share 79.04 at places 22 to 25 of 32 (lowest first), and the rounding put a190902 at the 24th,
where ordering the tie by id alone would have put a161084.  Either has the same R0 value; the committed choice
stands (the higher rungs were trained on it), and a test re-derives it from the record.

NAS-Bench-201 asked the same question of its space (12 against 200 epochs) before its cheap numbers were trusted.
"""
from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from . import derive
from .files import atomic_write_text
from .groundtruth import agreement_if_shared, arch_id, archs_origin, mean_accuracy, per_seed, read_records
from .rundir import git_commit
from .scores import alpha_logprob, cached_oneshot_scores, final_alpha, in_figure3_space
from .stats import N_RESAMPLES, Interval

Rung = tuple[float, int]  # (width, epochs)
RUNGS: dict[str, Rung] = {"R0": (0.25, 8), "R1": (0.25, 32), "R2": (0.5, 24)}
RUNG_SEEDS: dict[str, tuple[int, ...]] = {"R0": (0, 1), "R1": (0, 1), "R2": (0,)}
SUBSET_FILE = "ladder.json"
WIDTH1_PICK = "search-paper/argmax"  # the origin of the width-1 search's argmax pick in the record


def rung_name(rung: Rung) -> str:
    """'R1 (width 0.25, 32 epochs)', or '(width w, e epochs)' for a budget off the ladder."""
    name = next((k for k, v in RUNGS.items() if v == tuple(rung)), None)
    return f"{name + ' ' if name else ''}(width {rung[0]:g}, {rung[1]} epochs)"


def rung_overrides(name: str) -> dict[str, Any]:
    """The retrain overrides of a rung on top of the ``cpu`` preset."""
    if name not in RUNGS:
        raise ValueError(f"unknown rung {name!r}; choose one of {', '.join(RUNGS)}")
    width, epochs = RUNGS[name]
    return {"width": width, "epochs": epochs}


def choose_subset(rows: list[dict], n: int = 16) -> dict[str, Any]:
    """The ladder's architectures, chosen from the R0 record (see the module's docstring)."""
    truth = mean_accuracy(rows, RUNGS["R0"][1], width=RUNGS["R0"][0])
    origins = archs_origin(rows)
    fixed = [arch_id(make()) for make in (derive.none, derive.resnet, derive.all_edges)]
    picks = [a for a, o in origins.items() if WIDTH1_PICK in o]
    if len(picks) != 1:
        raise ValueError(f"expected one architecture of origin {WIDTH1_PICK} in the record, found {len(picks)}")
    fixed += [a for a in picks if a not in fixed]
    missing = [a for a in fixed if a not in truth]
    if missing:
        raise ValueError(f"the baselines {missing} have no R0 rows; train the set first")
    sampled = sorted((a for a in truth if a not in fixed and any(o.startswith("sample") for o in origins[a])),
                     key=lambda a: (truth[a], a))
    k = n - len(fixed)
    if k > len(sampled):
        raise ValueError(f"{k} sampled architectures asked for, the record has {len(sampled)}")
    ranks = sorted({int(round(x)) for x in np.linspace(0, len(sampled) - 1, k)})
    chosen = [sampled[r] for r in ranks]
    return {"rule": f"none, resnet, all, the width-1 argmax pick; then {k} of the {len(sampled)} sampled "
                    "architectures at evenly spaced ranks of R0's mean val accuracy (lowest to highest)",
            "fixed": fixed, "sampled": chosen, "archs": fixed + chosen,
            "r0_val_acc": {a: round(truth[a], 4) for a in fixed + chosen},
            "rungs": {k: list(v) for k, v in RUNGS.items()}, "seeds": {k: list(v) for k, v in RUNG_SEEDS.items()},
            "chosen_at_commit": git_commit()}


def subset(record_dir: str | Path, n: int = 16, create: bool = False, write: bool = True) -> list[str]:
    """The fixed subset of ``record_dir/ladder.json``; with ``create``, chosen when it is missing and written
    unless ``write`` is False (a plan); never re-chosen: the rungs above R0 are only comparable on the same
    architectures."""
    path = Path(record_dir) / SUBSET_FILE
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"{path} is missing; choose the subset first "
                                    "(python -m vggdarts groundtruth --preset cpu --ladder R1 ...)")
        choice = choose_subset(read_records(Path(record_dir) / "groundtruth.csv"), n)
        if not write:
            return choice["archs"]
        atomic_write_text(path, json.dumps(choice, indent=1) + "\n")
    return json.loads(path.read_text())["archs"]


# ----------------------------------------------------------------------------- what the ladder answers

ROLES = {"none": "`none`", "resnet": "`resnet`", "all": "`all`", WIDTH1_PICK: "width-1 argmax"}
SCORED_RUNS = ("search-paper", "search-cpu-seed0")  # the width-1 search and a width-0.25 seed, scored per rung


def rung_truths(rows: list[dict], archs: list[str]) -> dict[str, dict]:
    """Per rung: the mean val accuracy over its seeds, each seed's, and the seeds recorded, on ``archs``."""
    out = {}
    for name, (width, epochs) in RUNGS.items():
        seeds = {s: {a: v for a, v in per.items() if a in archs}
                 for s, per in per_seed(rows, epochs, width=width).items()}
        out[name] = {"mean": {a: v for a, v in mean_accuracy(rows, epochs, width=width).items() if a in archs},
                     "seeds": {s: v for s, v in seeds.items() if v}}
    return out


def standings(record_dir: str | Path) -> tuple[list[str], dict[str, str], dict[str, dict], list[dict]]:
    """(the subset, each one's role, :func:`rung_truths`, the record's rows) of ``record_dir``."""
    archs = subset(record_dir)
    rows = read_records(Path(record_dir) / "groundtruth.csv")
    origins = archs_origin(rows)
    role = {a: next((label for o, label in ROLES.items() if o in origins.get(a, [])), "sample") for a in archs}
    return archs, role, rung_truths(rows, archs), rows


def report(record_dir: str | Path, results: str | Path = "results", n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """The ladder on its fixed subset: agreement between rungs, the seed ceiling at R1, the accuracy gain and
    spread per rung, and the study's findings (the baselines, alpha, one-shot, params, the width-1 pick) per rung.
    Everything is computed from what is recorded: a rung still being trained counts the architectures it has."""
    record_dir, results = Path(record_dir), Path(results)
    archs, role, truths, rows = standings(record_dir)
    pairs = [("R0", "R1"), ("R0", "R2"), ("R1", "R2")]
    agreement = {f"{a} vs {b}": agreement_if_shared(truths[a]["mean"], truths[b]["mean"], n_resamples) for a, b in pairs}
    r1 = truths["R1"]["seeds"]
    ceiling = agreement_if_shared(r1.get(0, {}), r1.get(1, {}), n_resamples)
    masks = {a: derive.load_mask(record_dir / "masks" / f"{a}.json")[0] for a in archs}
    params = {r["arch_id"]: float(r["params"]) for r in rows if r["arch_id"] in archs and r["width"] == RUNGS["R0"][0]}
    scored: dict[str, dict[str, float]] = {"params (width 0.25)": params}
    for run in SCORED_RUNS:
        if not (results / run / "alpha.npz").exists():
            continue
        table, relaxation = final_alpha(results / run)
        scored[f"{run}: alpha (Figure-3 masks)"] = {a: alpha_logprob(table, m, relaxation) for a, m in masks.items()
                                                    if in_figure3_space(m)}
        oneshot = cached_oneshot_scores(record_dir / "oneshot", run, 5000)
        if oneshot:
            scored[f"{run}: one-shot"] = {a: oneshot[a] for a in archs if a in oneshot}
    findings = {name: {score: agreement_if_shared(values, t["mean"], n_resamples)
                       for score, values in scored.items()} for name, t in truths.items()}
    return {"archs": archs, "role": role, "truths": truths, "agreement": agreement, "ceiling_r1": ceiling,
            "scores": scored, "findings": findings, "n_resamples": n_resamples}


def seed_noise(seeds: dict[int, dict[str, float]]) -> tuple[float, int]:
    """One row's seed noise, in accuracy points, from the architectures trained with seeds 0 and 1:
    sqrt(mean((s0 - s1)^2) / 2) (each seed = the architecture's value + independent noise of that sd), and how
    many pairs it rests on; (NaN, 0) with fewer than two pairs."""
    both = [a for a in seeds.get(0, {}) if a in seeds.get(1, {})]
    if len(both) < 2:
        return math.nan, len(both)
    d = np.array([seeds[0][a] - seeds[1][a] for a in both])
    return float(np.sqrt(np.mean(d ** 2) / 2)), len(both)


def spread_ratio(base: dict[str, float], other: dict[str, float], n_resamples: int = N_RESAMPLES,
                 seed: int = 0) -> Interval:
    """sd(other) / sd(base) across the architectures both have, with a percentile bootstrap interval over the
    architectures (paired: a resample keeps each one's two values).  Below 1: the architectures differ less at
    ``other``'s rung.  A resample with no spread at ``base`` leaves the interval NaN (tiny samples only)."""
    shared = [a for a in base if a in other]
    x, y = np.array([base[a] for a in shared]), np.array([other[a] for a in shared])
    if len(shared) < 3:
        return Interval(math.nan, math.nan, math.nan)

    def ratio(a, b, axis=-1):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.std(b, axis=axis, ddof=1) / np.std(a, axis=axis, ddof=1)

    with warnings.catch_warnings():  # scipy warns of the NaN resamples; the caller prints "too few" for them
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        ci = stats.bootstrap((x, y), ratio, paired=True, vectorized=True, n_resamples=n_resamples,
                             method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    return Interval(sd_ratio(base, other), float(ci.low), float(ci.high))


def sd_ratio(base: dict[str, float], other: dict[str, float]) -> float:
    """sd(other) / sd(base) across the architectures both have (the estimate :func:`spread_ratio` bootstraps)."""
    shared = [a for a in base if a in other]
    return float(np.std([other[a] for a in shared], ddof=1) / np.std([base[a] for a in shared], ddof=1))


def seed_counts(truth: dict) -> dict[str, int]:
    """How many seeds stand behind each architecture's mean at a rung."""
    return {a: sum(a in per for per in truth["seeds"].values()) for a in truth["mean"]}


def between_sd(means: dict[str, float], noise: float, k: int | dict[str, int]) -> float:
    """The spread of the architectures' true values: sd of the means with the seed noise's share removed from
    their variance, noise^2 / k for k-seed means (the mean of noise^2 / k_a when ``k`` gives each architecture's
    seed count); 0 when the noise explains all of it, NaN when it is unknown."""
    if len(means) < 2:
        return math.nan
    inv_k = np.mean([1 / k[a] for a in means]) if isinstance(k, dict) else 1 / k
    v = np.var(list(means.values()), ddof=1) - noise ** 2 * inv_k
    return float(np.sqrt(max(v, 0.0))) if np.isfinite(v) else math.nan


def mean_gain(truths: dict[str, dict], k: str) -> float:
    """Rung ``k``'s mean accuracy gain over R0 on the architectures both have, in points (NaN with none)."""
    m, r0 = truths[k]["mean"], truths["R0"]["mean"]
    shared = [a for a in m if a in r0]
    return float(np.mean([m[a] - r0[a] for a in shared])) if shared else math.nan


def true_spread(truth: dict) -> float:
    """A rung's spread across architectures without its seed noise's share (:func:`between_sd` with the rung's
    measured noise and each mean's seed count); NaN while the noise is unmeasured."""
    return between_sd(truth["mean"], seed_noise(truth["seeds"])[0], seed_counts(truth))


def rank_in(values: dict[str, float], a: str) -> int:
    """``a``'s place among ``values`` (1 = the highest; a tie shares the better place)."""
    return 1 + sum(v > values[a] for v in values.values())


def standing(rep: dict[str, Any]) -> str:
    """Per rung: where the baselines and the width-1 pick rank, `all`'s margin over the best other, one seed's
    noise, and the spread across architectures against R0's on the same architectures."""
    t, role = rep["truths"], rep["role"]
    by_role = {label: a for a, label in role.items() if label != "sample"}
    lines = ["| on the ladder's subset | " + " | ".join(rung_name(RUNGS[k]) for k in RUNGS) + " |",
             "|---" * (1 + len(RUNGS)) + "|"]

    def row(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(k, t[k]["mean"]) for k in RUNGS) + " |")

    def rank(a):
        return lambda k, m: f"{rank_in(m, a)} of {len(m)}" if a in m else "not yet"

    for label in ("`all`", "`none`", "`resnet`", "width-1 argmax"):
        if label in by_role:
            row(f"rank of {label} (1 = best)", rank(by_role[label]))
    best = by_role.get("`all`")

    def margin(m):  # `all` minus the best other architecture
        return m[best] - max(v for a, v in m.items() if a != best)
    row("`all` minus the best other architecture, val acc points",
        lambda k, m: f"{margin(m):+.2f}" if best in m and len(m) > 1 else "-")
    noise = {k: seed_noise(t[k]["seeds"]) for k in RUNGS}
    row("one run's seed noise (sd, points; from the seed-0/seed-1 pairs)",
        lambda k, m: f"{noise[k][0]:.2f} ({noise[k][1]} pairs)" if noise[k][1] >= 2 else "not measured (1 pair)"
        if noise[k][1] == 1 else "not measured (one seed)" if len(RUNG_SEEDS[k]) < 2 else "-")

    row("sd across architectures of the seed means",
        lambda k, m: f"{np.std(list(m.values()), ddof=1):.2f}" if len(m) > 1 else "-")
    row("the same without the seed noise's share",
        lambda k, m: f"{b:.2f}" if np.isfinite(b := true_spread(t[k])) else "-")

    def ratio(k, m):
        if k == "R0":
            return "1"
        r = spread_ratio(t["R0"]["mean"], m, rep["n_resamples"])
        return f"{r.estimate:.2f} [{r.low:.2f}, {r.high:.2f}]" if np.isfinite([r.low, r.high]).all() else (
            f"{r.estimate:.2f} [too few]" if np.isfinite(r.estimate) else "-")
    row("sd across architectures / R0's on the same ones [95% CI]", ratio)
    return "\n".join(lines)


def _seeds_of(truth: dict, a: str) -> tuple[int, ...]:
    return tuple(s for s, per in sorted(truth["seeds"].items()) if a in per)


def _mean_cell(truth: dict, a: str) -> str:
    """An architecture's mean at a rung, naming its seeds where they differ from those of most of the rung's
    architectures (a tie counts the larger set as usual): "(seed 0 only)" while its second seed is missing,
    "(seeds 0, 1)" where most have one."""
    if a not in truth["mean"]:
        return "not yet"
    counts = Counter(_seeds_of(truth, b) for b in truth["mean"])
    usual = max(counts, key=lambda seeds: (counts[seeds], len(seeds)))
    mine = _seeds_of(truth, a)
    named = ", ".join(map(str, mine))
    note = "" if mine == usual else f" (seed {named} only)" if len(mine) < len(usual) else f" (seeds {named})"
    return f"{truth['mean'][a]:.2f}" + note


def _spread(values: dict[str, float]) -> str:
    v = np.array(list(values.values()))
    return f"{v.mean():.2f} | {v.std(ddof=1):.2f} | {v.max() - v.min():.2f}" if len(v) > 1 else "- | - | -"


def markdown(rep: dict[str, Any]) -> str:
    """The ladder's tables: every architecture per rung, the agreement between rungs, the spread per rung, and
    the findings re-tested per rung."""
    t, archs, n = rep["truths"], rep["archs"], len(rep["archs"])
    lines = ["| architecture | role | " + " | ".join(
        f"{k} {rung_name(RUNGS[k])[3:]}: mean of seeds {', '.join(map(str, sorted(t[k]['seeds']))) or '-'}" for k in RUNGS)
        + " | rank at R0 | " + " | ".join(f"rank at {k}" for k in RUNGS if k != "R0") + " |", "|---" * (3 + 2 * len(RUNGS) - 1) + "|"]

    def rank(k, a):
        m = t[k]["mean"]
        return str(rank_in(m, a)) if a in m else "-"

    for a in sorted(archs, key=lambda a: -t["R0"]["mean"].get(a, 0)):
        cells = [_mean_cell(t[k], a) for k in RUNGS]
        lines.append(f"| {a} | {rep['role'][a]} | " + " | ".join(cells) + " | " +
                     " | ".join(rank(k, a) for k in RUNGS) + " |")
    lines += ["", f"| rungs compared (mean of the seeds) | n of {n} | Kendall tau [95% CI] | Spearman rho [95% CI] |",
              "|---|---|---|---|"]
    for name, a in [*rep["agreement"].items(), ("R1 seed 0 vs R1 seed 1 (the noise ceiling at R1)", rep["ceiling_r1"])]:
        lines.append(f"| {name} | {a['n']} | {a['tau']} | {a['rho']} |" if a else f"| {name} | fewer than 3 shared | - | - |")
    lines += ["", f"| rung | architectures trained (of {n}) | runs | mean val acc % | std across architectures "
              "| best minus worst | mean gain over R0 on the same architectures |", "|---|---|---|---|---|---|---|"]
    for k in RUNGS:
        m, gain = t[k]["mean"], mean_gain(t, k)
        runs = sum(len(v) for v in t[k]["seeds"].values())
        lines.append(f"| {rung_name(RUNGS[k])} | {len(m)} | {runs} | {_spread(m)} | "
                     + (f"{gain:+.2f} |" if m and k != "R0" else "- |"))
    lines += ["", standing(rep)]
    lines += ["", "| score | " + " | ".join(f"tau at {k} [95% CI] (n)" for k in RUNGS) + " |", "|---" * (1 + len(RUNGS)) + "|"]
    for score in next(iter(rep["findings"].values())):
        cells = [f"{a['tau']} ({a['n']})" if (a := rep["findings"][k][score]) else "-" for k in RUNGS]
        lines.append(f"| {score} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
