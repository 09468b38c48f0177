"""Ground truth for the search space: architectures trained stand-alone, and every way of choosing measured
against them (Yu et al., ICLR 2020; NAS-Bench-201's several seeds per architecture).

* :func:`architecture_set` — a fixed, seeded sample of the study's Figure-3 space (exactly one shortcut into
  each block 3..8: 1*2*3*4*5*6 = 720 networks), plus the baselines ``none``, ``resnet``, ``all`` and every
  architecture a derivation method picked in ``results/`` (mask JSONs, and the argmax of every search record).
* :func:`run` — retrains each (architecture, seed) stand-alone through an executor and appends one row per
  run to ``results/groundtruth-<preset>/groundtruth.csv`` (masks beside it in ``masks/``).  A row that exists
  is skipped, so the set grows across sessions.
* scores: :func:`alpha_score` (sum of log edge weights; gates: log g kept, log(1-g) dropped),
  :func:`oneshot_scores` (supernet accuracy on the alpha half with the mask imposed, batch statistics), and
  :func:`rank_agreement` (Kendall tau, Spearman rho with bootstrap CIs, top-5 overlap) against the stand-alone
  mean **validation** accuracy; test accuracy is only reported.
"""
from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import derive, layout
from .files import atomic_write_text, file_lock
from .jobs import Job
from .rundir import git_commit
from .scores import ALPHA_SCORES, control_scores, final_alpha, has_weights, in_figure3_space, oneshot_cache, oneshot_scores
from .stats import (N_RESAMPLES, bootstrap_interval, bootstrap_partial_tau, bootstrap_tau_difference,
                    ceiling_for_mean, kendall_tau, spearman_rho)

log = logging.getLogger("vggdarts")

COLUMNS = ("arch_id", "edges", "n_shortcuts", "origin", "seed", "width", "epochs", "val_acc", "test_acc", "params", "macs",
           "dataset", "commit", "threads", "cpu_capability", "cpu_model")
# Rows recorded before threads and cpu_capability were: every one came from a local pool of two 1-thread jobs on
# a 2-core machine (the sweep's documented commands); the CPU kind was not recorded.  Nor was the CPU model
# before its column: "unknown".
LEGACY_ROW = {"threads": 1, "cpu_capability": "unknown", "cpu_model": "unknown"}
SPACE_SIZE = layout.get("vgg11").space_size  # VGG11, one source per block 3..8: 720


def arch_id(mask) -> str:
    """A stable id: 'a' + the candidate cells as bits (i then j), in hex; VGG11's 21 cells give 'a' and 6 hex
    digits.  Another network's id starts with its name: 'vgg16-a' and 17 hex digits (66 cells)."""
    mask = np.asarray(mask, dtype=bool)
    lay = layout.of(mask)
    bits = "".join("1" if mask[i, j] else "0" for i, j in zip(*np.nonzero(lay.candidates)))
    body = f"a{int(bits, 2):0{-(-lay.n_candidates // 4)}x}"
    return body if lay.name == layout.DEFAULT else f"{lay.name}-{body}"


def edges(mask) -> str:
    """The shortcuts as 'j>i' pairs, 1-based, e.g. '1>3 2>4'."""
    return " ".join(f"{j + 1}>{i + 1}" for i, j in zip(*np.nonzero(np.asarray(mask, dtype=bool)))) or "-"


def figure3_mask(index: int, net: str | layout.Layout | None = None) -> np.ndarray:
    """The ``index``-th (VGG11: 0..719) architecture with exactly one shortcut into each block 3..n (mixed radix)."""
    lay = layout.get(net)
    if not 0 <= index < lay.space_size:
        raise ValueError(f"index must be in [0, {lay.space_size})")
    mask = derive.none(lay)
    for i in lay.searched_blocks:  # block i+1 has i-1 candidates
        index, j = divmod(index, i - 1)
        mask[i, j] = True
    return mask


def sample_figure3(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct architectures of the Figure-3 space, the same for the same seed."""
    picks = np.random.default_rng(seed).choice(SPACE_SIZE, size=min(n, SPACE_SIZE), replace=False)
    return [figure3_mask(int(k)) for k in picks]


def architecture_set(n_sample: int = 32, seed: int = 0, results: str | Path = "results") -> dict[str, dict]:
    """{arch_id: {"mask", "origin"}}: the sample, the baselines and every VGG11 pick recorded under ``results``
    (the set is VGG11's; a deeper network's search and comparison in ``results`` are left out)."""
    out: dict[str, dict] = {}

    def add(mask, origin: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if layout.of(mask).name != layout.DEFAULT:
            return
        entry = out.setdefault(arch_id(mask), {"mask": mask, "origin": []})
        if origin not in entry["origin"]:
            entry["origin"].append(origin)

    for k, mask in enumerate(sample_figure3(n_sample, seed)):
        add(mask, f"sample{seed}:{k}")
    for name, make in (("none", derive.none), ("resnet", derive.resnet), ("all", derive.all_edges)):
        add(make(), name)
    root = Path(results)
    for path in sorted(root.glob("*/archs/*.json")):  # every derivation method's pick in a comparison
        mask, record = derive.load_mask(path)
        add(mask, f"{path.parent.parent.name}/{record.get('method', path.stem)}")
    for run in sorted(p.parent for p in root.glob("search-*/alpha.npz")):  # every search record's argmax
        with np.load(run / "alpha.npz") as z:
            add(derive.argmax(z["weights"][-1]), f"{run.name}/argmax")
    return out


def fidelity_subset(n: int = 8, n_sample: int = 32, seed: int = 0) -> list[str]:
    """The architectures of the fidelity check (longer training): the baselines none, resnet and all, then
    the first n - 3 of the seeded sample (whose order is already random)."""
    baselines = [arch_id(make()) for make in (derive.none, derive.resnet, derive.all_edges)]
    sampled = [arch_id(m) for m in sample_figure3(n_sample, seed) if arch_id(m) not in baselines]
    return baselines + sampled[:max(n - 3, 0)]


# ----------------------------------------------------------------------------- records

def read_records(csv_path: str | Path) -> list[dict[str, Any]]:
    path = Path(csv_path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = [{**LEGACY_ROW, **{k: v for k, v in r.items() if v is not None}} for r in csv.DictReader(f)]
    if rows and "width" not in rows[0]:
        raise ValueError(f"{path} has no width column (rows recorded before the rung was); add one with each "
                         "row's retrain width (the preset's: cpu 0.25, smoke 0.125), then rerun")
    for r in rows:
        r["threads"] = int(r["threads"])
        for key in ("seed", "epochs", "n_shortcuts", "params", "macs"):
            r[key] = int(r[key])
        for key in ("width", "val_acc", "test_acc"):
            r[key] = float(r[key])
    return rows


def write_records(csv_path: str | Path, rows: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in sorted(rows, key=lambda r: (r["arch_id"], r["width"], r["epochs"], r["seed"])):
        writer.writerow({k: r[k] for k in COLUMNS})
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(csv_path, out.getvalue())


def pending_jobs(archs: dict[str, dict], seeds, preset: str, record_dir: str | Path, run_root: str | Path,
                 overrides: dict[str, Any] | None = None, only: list[str] | None = None,
                 save_masks: bool = True) -> list[Job]:
    """A retrain job for every (architecture, seed) without a row in the record (for these epochs): the
    baselines and the methods' picks first (what percentiles and regrets need), then the sample.  Each job's
    mask file is written into the record unless ``save_masks`` is False (a plan writes nothing)."""
    from .config import make_config

    config = make_config("retrain", preset, {**(overrides or {}), "arch": "x"})
    width, epochs = config.width, config.epochs
    done = {(r["arch_id"], r["seed"], r["width"], r["epochs"])
            for r in read_records(Path(record_dir) / "groundtruth.csv")}
    if unknown := sorted(set(only or ()) - set(archs)):
        raise ValueError(f"not in the ground-truth set: {', '.join(unknown)} (the set is the baselines, the sample "
                         "and every pick recorded under results/; train another pattern with python -m vggdarts "
                         "retrain --arch MASK.json --run-dir DIR)")
    jobs = []
    sampled_last = sorted(only or archs, key=lambda a: all(o.startswith("sample") for o in archs[a]["origin"]))
    for aid in sampled_last:
        mask_file = Path(record_dir) / "masks" / f"{aid}.json"
        if save_masks and not mask_file.exists():
            derive.save_mask(mask_file, archs[aid]["mask"], "groundtruth", {"origin": archs[aid]["origin"]})
        for seed in seeds:
            if (aid, seed, width, epochs) in done:
                continue
            jobs.append(Job("retrain", preset, {**(overrides or {}), "arch": str(mask_file), "seed": seed},
                            str(Path(run_root) / f"{aid}-w{width:g}-e{epochs}" / f"seed{seed}"),
                            f"{aid} seed {seed} (width {width:g}, {epochs} ep)"))
    return jobs


def record_finished(jobs: list[Job], results: list[dict], archs: dict[str, dict], record_dir: str | Path) -> int:
    """Append a row for every finished job; returns how many were added.  The read-append-write holds a lock,
    so sweeps running side by side (two shells, or SLURM arrays) do not drop each other's rows."""
    csv_path = Path(record_dir) / "groundtruth.csv"
    commit = git_commit()
    with file_lock(csv_path.with_name(".groundtruth.lock"), what=str(csv_path)):
        rows = read_records(csv_path)
        added = 0
        for job, result in zip(jobs, results):
            if result["status"] != "ok":
                continue
            s, aid = result["summary"], Path(job.overrides["arch"]).stem
            rows.append({"arch_id": aid, "edges": edges(archs[aid]["mask"]), "n_shortcuts": s["n_shortcuts"],
                         "origin": "+".join(archs[aid]["origin"]), "seed": s["seed"], "width": s["width"],
                         "epochs": s["epochs_done"],
                         "val_acc": s["final_val_acc"], "test_acc": s["test_acc"], "params": s["params"],
                         "macs": s["macs"], "dataset": s["dataset_used"], "commit": commit,
                         "threads": s["threads"], "cpu_capability": s["cpu_capability"],
                         "cpu_model": s.get("cpu_model", "unknown")})
            added += 1
        write_records(csv_path, rows)
    return added


def run(preset: str = "cpu", seeds=(0, 1), n_sample: int = 32, sample_seed: int = 0, results: str | Path = "results",
        run_root: str | Path = "runs/groundtruth", overrides: dict[str, Any] | None = None, engine=None,
        only: list[str] | None = None) -> int:
    """Train what the record lacks, appending each row as its job ends (a sweep cut off keeps what finished).
    ``only``: a subset of arch ids (e.g. the fidelity check).  Returns how many rows were added."""
    from .executors import run_jobs

    record_dir = Path(results) / f"groundtruth-{preset}"
    if "-dirty" in (code := git_commit()) and not code.endswith("+clean-package"):  # the record itself may differ
        log.warning("vggdarts/ has uncommitted changes (%s): the rows of this sweep record that digest, not a "
                    "commit anyone can check out; commit first for rows whose code can be identified", code)
    archs = architecture_set(n_sample, sample_seed, results)
    jobs = pending_jobs(archs, seeds, preset, record_dir, run_root, overrides, only)
    added = []
    if jobs:
        run_jobs(jobs, engine, run_root,
                 on_result=lambda n, result: added.append(record_finished([jobs[n]], [result], archs, record_dir)))
    return sum(added)


def plan(preset: str = "cpu", seeds=(0, 1), n_sample: int = 32, sample_seed: int = 0, results: str | Path = "results",
         run_root: str | Path = "runs/groundtruth", overrides: dict[str, Any] | None = None,
         only: list[str] | None = None) -> list[tuple[Job, int]]:
    """What :func:`run` would train, in its order, writing nothing: each job with the epochs its run directory
    has finished already (a sweep that was stopped resumes after them; 0 for a fresh one)."""
    from .rundir import finished_epochs

    record_dir = Path(results) / f"groundtruth-{preset}"
    jobs = pending_jobs(architecture_set(n_sample, sample_seed, results), seeds, preset, record_dir, run_root,
                        overrides, only, save_masks=False)
    return [(job, finished_epochs(job.run_dir)) for job in jobs]


# ----------------------------------------------------------------------------- scores and agreement

def at_rung(row: dict, epochs: int, width: float | None) -> bool:
    """Whether ``row`` was trained for ``epochs`` at ``width`` (None: at any width)."""
    return row["epochs"] == epochs and (width is None or row["width"] == width)


def mean_accuracy(rows: list[dict], epochs: int, key: str = "val_acc", min_seeds: int = 1,
                  width: float | None = None) -> dict[str, float]:
    """Mean ``key`` per architecture over its seeds at the rung (``width``, ``epochs``) (architectures with
    >= min_seeds runs)."""
    per: dict[str, list[float]] = {}
    for r in rows:
        if at_rung(r, epochs, width):
            per.setdefault(r["arch_id"], []).append(r[key])
    return {a: float(np.mean(v)) for a, v in per.items() if len(v) >= min_seeds}


def rank_agreement(score: dict[str, float], truth: dict[str, float], n_resamples: int = N_RESAMPLES, top: int = 5,
                   given: dict[str, float] | None = None) -> dict:
    """Kendall tau and Spearman rho (bootstrap 95% CIs) and top-``top`` overlap between a score and the truth,
    over the architectures both have; with ``given`` (e.g. the parameter count), also Kendall's partial tau of
    the score and the truth given it (None when ``given`` ranks the score perfectly, as it does itself)."""
    ids = sorted(set(score) & set(truth))
    x, y = np.array([score[a] for a in ids]), np.array([truth[a] for a in ids])
    best = lambda d: set(sorted(ids, key=lambda a: -d[a])[:top])  # noqa: E731
    out = {"n": len(ids), "tau": bootstrap_interval(kendall_tau, x, y, n_resamples=n_resamples),
           "rho": bootstrap_interval(spearman_rho, x, y, n_resamples=n_resamples),
           f"top{top}_overlap": len(best(score) & best(truth)), "partial": None}
    if given is not None:
        z = np.array([given[a] for a in ids])
        if abs(kendall_tau(x, z)) < 1 - 1e-9:
            out["partial"] = bootstrap_partial_tau(x, y, z, n_resamples=n_resamples)
    return out


def agreement_if_shared(score: dict[str, float], truth: dict[str, float], n_resamples: int = N_RESAMPLES,
                        given: dict[str, float] | None = None) -> dict | None:
    """:func:`rank_agreement` over the architectures both have (a finite score), or None while they share
    fewer than 3 or the score is constant there (e.g. a 20-epoch check of 8 architectures against the set)."""
    shared = {a: v for a, v in truth.items() if a in score and np.isfinite(score[a])}
    return rank_agreement(score, shared, n_resamples, given=given) if defined_on(score, shared) else None


def agreement_where_defined(score: dict[str, float], truth: dict[str, float], n_resamples: int = N_RESAMPLES,
                            given: dict[str, float] | None = None) -> dict | None:
    """:func:`rank_agreement` on the whole of ``truth`` (a subset of the set) where the score is defined on every
    architecture of it, None otherwise: a score undefined on part of a subset is not ranked on it."""
    return rank_agreement(score, truth, n_resamples, given=given) if defined_on(score, truth) else None


def defined_on(score: dict[str, float], truth: dict[str, float]) -> bool:
    """Whether ``score`` is finite on every architecture of ``truth`` (at least 3) and not constant there."""
    values = [score.get(a, math.nan) for a in truth]
    return len(truth) >= 3 and bool(np.isfinite(values).all()) and np.ptp(values) > 0


def random_tau(truth: dict[str, float], draws: int = 1000, seed: int = 0) -> np.ndarray:
    """Kendall tau of ``draws`` random scores against the truth: the chance distribution."""
    rng = np.random.default_rng(seed)
    y = np.array(list(truth.values()))
    return np.array([kendall_tau(rng.random(len(y)), y) for _ in range(draws)])


def pick_standing(pick: str, truth: dict[str, float]) -> dict[str, float]:
    """A method's pick within the set: its percentile (100 = best) and regret (best-in-set minus its own)."""
    values = np.array(list(truth.values()))
    own = truth[pick]
    return {"percentile": float(100.0 * (values <= own).mean()), "regret": float(values.max() - own)}


def seed_noise_ceiling(seeds: dict[int, dict[str, float]], n_resamples: int = N_RESAMPLES) -> dict | None:
    """Kendall tau between the seed-0 and seed-1 stand-alone accuracies (``seeds``: :func:`per_seed`, bootstrap
    CI): how well any method could rank at this budget.  None while fewer than 3 architectures have both."""
    return agreement_if_shared(seeds.get(0, {}), seeds.get(1, {}), n_resamples)


def per_seed(rows: list[dict], epochs: int, key: str = "val_acc",
             width: float | None = None) -> dict[int, dict[str, float]]:
    """``key`` of every architecture, per seed, at the rung (``width``, ``epochs``): {seed: {arch_id: value}}."""
    out: dict[int, dict[str, float]] = {}
    for r in rows:
        if at_rung(r, epochs, width):
            out.setdefault(r["seed"], {})[r["arch_id"]] = r[key]
    return out


# ----------------------------------------------------------------------------- the report

def archs_origin(rows: list[dict]) -> dict[str, list[str]]:
    """{arch_id: its origins} from the record (one row's ``origin`` joins them with '+')."""
    out: dict[str, list[str]] = {}
    for r in rows:
        for origin in r["origin"].split("+"):
            if origin not in out.setdefault(r["arch_id"], []):
                out[r["arch_id"]].append(origin)
    return out


BOOTSTRAP_SEEDS = tuple(range(10))  # a count of "distinguishable" tests must hold under each of these


def paired_differences(runs: dict, controls: dict, subsets: dict[str, dict[str, float]], n_resamples: int) -> list[dict]:
    """Paired bootstraps over architectures, in every subset where both scores are defined: each run's alpha
    against the parameter count, and each run's one-shot score against the best-ranking zero-cost proxy of that
    subset (chosen on the truth itself: the strongest control).  Each difference is bootstrapped under every
    seed of :data:`BOOTSTRAP_SEEDS`: the interval shown is seed 0's, ``excludes_zero`` counts the seeds."""
    from .proxies import NAMES

    out = []
    for subset, truth in subsets.items():
        ids = sorted(truth)
        tau = {p: kendall_tau([controls[p][i] for i in ids], [truth[i] for i in ids])
               for p in NAMES if p in controls and defined_on(controls[p], truth)}
        best = max(tau, key=tau.get, default=None)
        for run, info in runs.items():
            for score, control in (("alpha", "params"), ("one-shot", best)):
                a, b = info["scores"].get(score), controls.get(control) if control else None
                if a is None or b is None or not defined_on(a, truth):
                    continue
                args = ([a[i] for i in ids], [b[i] for i in ids], [truth[i] for i in ids])
                diffs = [bootstrap_tau_difference(*args, n_resamples=n_resamples, seed=s) for s in BOOTSTRAP_SEEDS]
                out.append({"run": run, "score": score, "control": control, "subset": subset, "n": len(ids),
                            "difference": diffs[0], "excludes": [d.excludes_zero for d in diffs]})
    return out


def distinguishable_counts(paired: list[dict]) -> list[dict]:
    """Per (subset, score, control kind): in how many runs the difference excludes 0, as a range over the
    bootstrap seeds (one number only when every seed gives it)."""
    groups: dict[tuple, list[dict]] = {}
    for d in paired:
        kind = "params" if d["control"] == "params" else "best proxy"
        groups.setdefault((d["subset"], d["score"], kind), []).append(d)
    out = []
    for (subset, score, kind), ds in groups.items():
        per_seed = [sum(d["excludes"][s] for d in ds) for s in range(len(ds[0]["excludes"]))]
        out.append({"subset": subset, "score": score, "control": kind, "runs": len(ds), "low": min(per_seed),
                    "high": max(per_seed), "positive": sum(d["difference"].estimate > 0 for d in ds),
                    "seeds": len(per_seed)})
    return out


SUBSETS = ("Figure-3 space", "sampled", "whole set")


def score_agreement(scores: dict[str, dict[str, float]], subsets: dict[str, dict[str, float]],
                    params: dict[str, float], n_resamples: int) -> dict[str, dict[str, dict | None]]:
    """{score: {subset: agreement (with the partial tau given the parameter count) or None where undefined}}."""
    return {k: {name: agreement_where_defined(v, truth, n_resamples, given=params) for name, truth in subsets.items()}
            for k, v in scores.items()}


def alpha_rules(table, masks: dict[str, np.ndarray], relaxation: str) -> dict[str, dict[str, float]]:
    """Alpha's score of every mask under each rule of :data:`scores.ALPHA_SCORES`."""
    return {rule: {a: f(table, m, relaxation) for a, m in masks.items()} for rule, f in ALPHA_SCORES.items()}


def report(record_dir: str | Path, search_runs, epochs: int, width: float | None = None, fidelity_epochs: int = 20,
           val_images: int = 5000, n_resamples: int = N_RESAMPLES, device: str = "auto") -> dict[str, Any]:
    """Every score of every search run against the stand-alone mean validation accuracy at the rung
    (``width``, ``epochs``), in the Figure-3 space, among the sampled architectures and over the whole set
    (each score only where it is defined on every architecture of the subset); the alpha rules side by side,
    the paired tests, the seed noise ceiling, the chance distribution, the fidelity check and the picks."""
    record_dir = Path(record_dir)
    rows = [r for r in read_records(record_dir / "groundtruth.csv") if width is None or r["width"] == width]
    truth = mean_accuracy(rows, epochs)
    if len(truth) < 3:
        raise ValueError(f"{record_dir}/groundtruth.csv has {len(truth)} architectures at {epochs} epochs; "
                         "train the set first (python -m vggdarts groundtruth ...)")
    masks = {aid: derive.load_mask(record_dir / "masks" / f"{aid}.json")[0] for aid in truth}
    origins = archs_origin(rows)
    sampled = {a for a in truth if any(o.startswith("sample") for o in origins[a])}
    subsets = {"Figure-3 space": {a: v for a, v in truth.items() if in_figure3_space(masks[a])},
               "sampled": {a: truth[a] for a in sampled}, "whole set": truth}
    truth_width = width if width is not None else next(iter(rows))["width"]
    controls = control_scores(record_dir, rows, truth, masks, truth_width)
    params = controls["params"]
    runs: dict[str, dict] = {}
    for run in map(Path, search_runs):
        table, relaxation = final_alpha(run)
        rules = alpha_rules(table, masks, relaxation)
        scores = {"alpha": rules["logprob"]}
        if has_weights(run) or oneshot_cache(record_dir / "oneshot", run.name, val_images).exists():
            scores["one-shot"] = oneshot_scores(run, masks, val_images, device, record_dir / "oneshot")
        runs[str(run)] = {"relaxation": relaxation, "scores": scores,
                          "agreement": score_agreement(scores, subsets, params, n_resamples),
                          "rules": {rule: {"agreement": agreement_where_defined(v, truth, n_resamples),
                                           "rank_none": _rank(v, arch_id(derive.none())),
                                           "rank_all": _rank(v, arch_id(derive.all_edges()))}
                                    for rule, v in rules.items() if rule != "logprob"}}
    control_info = {"scores": controls, "agreement": score_agreement(controls, subsets, params, n_resamples)}
    picks: dict[str, list[dict]] = {}  # every architecture of an origin (random draws three)
    for aid, its_origins in origins.items():
        for origin in its_origins:
            if not origin.startswith("sample") and aid in truth:
                standing = pick_standing(aid, truth)
                among = pick_standing(aid, {**subsets["sampled"], aid: truth[aid]}) if sampled else None
                picks.setdefault(origin, []).append({"arch_id": aid, **standing, "sampled": among})
    fidelity = mean_accuracy(rows, fidelity_epochs)
    seeds = per_seed(rows, epochs)
    fidelity_seeds = per_seed(rows, fidelity_epochs)
    same = min(set(fidelity_seeds) & set(seeds), default=None)  # the longer budget against the same seed's short one
    same_seed = None if same is None else agreement_if_shared(fidelity_seeds[same], seeds[same], n_resamples)
    ceiling = seed_noise_ceiling(seeds, n_resamples)
    paired = paired_differences(runs, controls, {k: subsets[k] for k in SUBSETS}, n_resamples)
    dataset = ", ".join(sorted({r["dataset"] for r in rows if r["epochs"] == epochs}))
    return {"epochs": epochs, "width": truth_width, "dataset": dataset, "truth": truth, "test": mean_accuracy(rows, epochs, "test_acc"),
            "runs": runs, "controls": control_info, "sampled": sorted(sampled), "subsets": subsets,
            "paired": paired, "counts": distinguishable_counts(paired), "n_resamples": n_resamples,
            "ceiling": ceiling, "n_seeds": len(seeds),
            "ceiling_for_mean": ceiling_for_mean(ceiling["tau"], len(seeds)) if ceiling else None,
            "chance_tau": random_tau(truth), "chance_tau_figure3": random_tau(subsets["Figure-3 space"]),
            "fidelity": agreement_if_shared(fidelity, truth, n_resamples),
            "fidelity_same_seed": same_seed and {"seed": same, **same_seed},
            "fidelity_epochs": fidelity_epochs, "fidelity_truth": fidelity, "per_seed": seeds,
            "picks": picks, "outside_figure3": sorted(set(truth) - set(subsets["Figure-3 space"])),
            "n_rows": sum(r["epochs"] == epochs for r in rows)}


def _rank(score: dict[str, float], aid: str) -> int | None:
    """``aid``'s rank under ``score`` (1 = highest), or None when it is not scored."""
    if aid not in score or not np.isfinite(score[aid]):
        return None
    return 1 + sum(v > score[aid] for v in score.values() if np.isfinite(v))


def _cell(a: dict | None, key: str = "tau") -> str:
    return "-" if a is None or a.get(key) is None else str(a[key])


def markdown(rep: dict[str, Any]) -> str:
    """The score table (every score, each subset where it is defined: Kendall tau and the partial tau given the
    parameter count, 95% bootstrap CIs), then chance, the noise ceiling and the fidelity check."""
    n = {k: len(v) for k, v in rep["subsets"].items()}
    lines = [f"Stand-alone truth: mean val accuracy of {len(rep['truth'])} architectures at width {rep['width']:g}, "
             f"{rep['epochs']} epochs ({rep['n_rows']} runs), {rep['dataset']}; {rep['n_resamples']:,} bootstrap "
             "resamples. A dash: the score is not defined on every architecture of that subset.", "",
             f"| search run | score | tau, Figure-3 space (n = {n['Figure-3 space']}) | rho, Figure-3 space "
             "| partial tau given params, Figure-3 space "
             f"| tau, sampled (n = {n['sampled']}) | partial tau, sampled | tau, whole set (n = {n['whole set']}) "
             "| partial tau, whole set |", "|---|---|---|---|---|---|---|---|---|"]
    sources = [(run, info) for run, info in rep["runs"].items()] + [("(control)", rep["controls"])]
    for run, info in sources:
        for score, a in info["agreement"].items():
            f3, sa, wh = a["Figure-3 space"], a["sampled"], a["whole set"]
            lines.append(f"| {run} | {score} | {_cell(f3)} | {_cell(f3, 'rho')} | {_cell(f3, 'partial')} | "
                         f"{_cell(sa)} | {_cell(sa, 'partial')} | {_cell(wh)} | {_cell(wh, 'partial')} |")
    chance = rep["chance_tau"]
    lines.append(f"| (chance) | random score, whole set | | | | | | {chance.mean():+.2f} "
                 f"[{np.percentile(chance, 2.5):+.2f}, {np.percentile(chance, 97.5):+.2f}] | |")
    if rep["ceiling"] is not None:
        lines.append(f"| (noise ceiling) | seed 0 vs seed 1, whole set | | | | | | {rep['ceiling']['tau']} | |")
        lines.append(f"| (ceiling for the mean) | a perfect score vs the mean of {rep['n_seeds']} seeds (model) "
                     f"| | | | | | {rep['ceiling_for_mean']} | |")
    for key, label in (("fidelity", "{f} vs {e} epochs"), ("fidelity_same_seed", "{f} vs {e} epochs, seed {s}")):
        f = rep[key]
        if f is not None:
            text = label.format(f=rep["fidelity_epochs"], e=rep["epochs"], s=f.get("seed"))
            lines.append(f"| (fidelity) | {text} (n = {f['n']}) | | | | | | {f['tau']} | |")
    return "\n".join(lines)


def rules_markdown(rep: dict[str, Any]) -> str:
    """Alpha over the whole set under the two multi-edge rules, side by side: tau, and where none and all land."""
    n = len(rep["truth"])
    lines = [f"| search run | relaxation | rule | tau, whole set (n = {n}) | rank of `none` (of {n}) "
             f"| rank of `all` (of {n}) |", "|---|---|---|---|---|---|"]
    for run, info in rep["runs"].items():
        for rule, r in info["rules"].items():
            lines.append(f"| {run} | {info['relaxation']} | {rule} | {_cell(r['agreement'])} | "
                         f"{r['rank_none'] or '-'} | {r['rank_all'] or '-'} |")
    return "\n".join(lines)


def paired_markdown(rep: dict[str, Any]) -> str:
    """The paired tests per subset (seed 0's interval; how many of the bootstrap seeds exclude 0), then the
    counts of distinguishable runs as ranges over the seeds."""
    seeds = len(rep["paired"][0]["excludes"]) if rep["paired"] else 0
    lines = ["| subset | search run | score | control | n | tau(score) - tau(control) [95% paired bootstrap CI] "
             f"| excludes 0 under how many of {seeds} bootstrap seeds |", "|---|---|---|---|---|---|---|"]
    for d in rep["paired"]:
        lines.append(f"| {d['subset']} | {d['run']} | {d['score']} | {d['control']} | {d['n']} | {d['difference']} | "
                     f"{sum(d['excludes'])} |")
    lines += ["", f"| subset | score minus control | runs | difference > 0 in | distinguishable from 0 in "
              f"(range over {seeds} bootstrap seeds) |", "|---|---|---|---|---|"]
    for c in rep["counts"]:
        k = f"{c['low']}" if c["low"] == c["high"] else f"{c['low']}-{c['high']} (depends on the bootstrap seed)"
        lines.append(f"| {c['subset']} | {c['score']} - {c['control']} | {c['runs']} | {c['positive']} | {k} |")
    return "\n".join(lines)


def picks_markdown(rep: dict[str, Any]) -> str:
    """Where every recorded pick lands in the set and among the sampled architectures."""
    lines = [f"| pick | architecture | val acc % | percentile in the set | regret (val acc points) | "
             f"percentile among the {len(rep['sampled'])} sampled | regret among them | test acc % |",
             "|---|---|---|---|---|---|---|---|"]
    for origin, entries in sorted(rep["picks"].items()):
        for p in entries:
            a, among = p["arch_id"], p["sampled"]
            sampled_part = f"{among['percentile']:.0f} | {among['regret']:.2f}" if among else "- | -"
            lines.append(f"| {origin} | {a} | {rep['truth'][a]:.2f} | {p['percentile']:.0f} | {p['regret']:.2f} | "
                         f"{sampled_part} | {rep['test'][a]:.2f} |")
        if len(entries) > 1:
            mean = lambda key, part=None: np.mean([(e[part] if part else e)[key] for e in entries])  # noqa: E731
            sampled_part = (f"{mean('percentile', 'sampled'):.0f} | {mean('regret', 'sampled'):.2f}"
                            if all(e["sampled"] for e in entries) else "- | -")
            lines.append(f"| {origin}, mean of {len(entries)} | | {np.mean([rep['truth'][e['arch_id']] for e in entries]):.2f} "
                         f"| {mean('percentile'):.0f} | {mean('regret'):.2f} | {sampled_part} | |")
    return "\n".join(lines)
