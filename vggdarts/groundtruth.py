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

from . import derive
from .files import atomic_write_text, file_lock
from .jobs import Job
from .relaxations import Relaxation
from .rundir import git_commit, read_json
from .stats import Interval, bootstrap_interval, bootstrap_tau_difference, ceiling_for_mean, kendall_tau, spearman_rho
from .supernet import N_BLOCKS, candidate_mask

log = logging.getLogger("vggdarts")

CANDIDATES = candidate_mask().numpy()
CELLS = [tuple(c) for c in np.argwhere(CANDIDATES)]  # the 21 candidate (i, j) cells, 0-based
COLUMNS = ("arch_id", "edges", "n_shortcuts", "origin", "seed", "width", "epochs", "val_acc", "test_acc", "params", "macs",
           "dataset", "commit", "threads", "cpu_capability")
# Rows recorded before threads and cpu_capability were: every one came from a local pool of two 1-thread jobs on
# a 2-core machine (the sweep's documented commands); the CPU kind was not recorded.
LEGACY_ROW = {"threads": 1, "cpu_capability": "unknown"}
SPACE_SIZE = math.prod(range(1, N_BLOCKS - 1))  # one source per block 3..8: 720


def arch_id(mask) -> str:
    """A stable id: 'a' + the 21 candidate cells as bits (i then j), in hex."""
    bits = "".join("1" if mask[i][j] else "0" for i, j in CELLS)
    return f"a{int(bits, 2):06x}"


def edges(mask) -> str:
    """The shortcuts as 'j>i' pairs, 1-based, e.g. '1>3 2>4'."""
    return " ".join(f"{j + 1}>{i + 1}" for i, j in zip(*np.nonzero(np.asarray(mask, dtype=bool)))) or "-"


def in_figure3_space(mask) -> bool:
    """Exactly one shortcut into each block 3..8 (where alpha's score is a log-probability of the whole
    architecture; none, all and the threshold picks fall outside)."""
    return bool((np.asarray(mask, dtype=bool).sum(1)[2:] == 1).all())


def figure3_mask(index: int) -> np.ndarray:
    """The ``index``-th (0..719) architecture with exactly one shortcut into each block 3..8 (mixed radix)."""
    if not 0 <= index < SPACE_SIZE:
        raise ValueError(f"index must be in [0, {SPACE_SIZE})")
    mask = np.zeros_like(CANDIDATES)
    for i in range(2, N_BLOCKS):  # block i+1 has i-1 candidates
        index, j = divmod(index, i - 1)
        mask[i, j] = True
    return mask


def sample_figure3(n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` distinct architectures of the Figure-3 space, the same for the same seed."""
    picks = np.random.default_rng(seed).choice(SPACE_SIZE, size=min(n, SPACE_SIZE), replace=False)
    return [figure3_mask(int(k)) for k in picks]


def architecture_set(n_sample: int = 32, seed: int = 0, results: str | Path = "results") -> dict[str, dict]:
    """{arch_id: {"mask", "origin"}}: the sample, the baselines and every pick recorded under ``results``."""
    out: dict[str, dict] = {}

    def add(mask, origin: str) -> None:
        mask = np.asarray(mask, dtype=bool)
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
                 overrides: dict[str, Any] | None = None, only: list[str] | None = None) -> list[Job]:
    """A retrain job for every (architecture, seed) without a row in the record (for these epochs): the
    baselines and the methods' picks first (what percentiles and regrets need), then the sample."""
    from .config import make_config

    config = make_config("retrain", preset, {**(overrides or {}), "arch": "x"})
    width, epochs = config.width, config.epochs
    done = {(r["arch_id"], r["seed"], r["width"], r["epochs"])
            for r in read_records(Path(record_dir) / "groundtruth.csv")}
    jobs = []
    sampled_last = sorted(only or archs, key=lambda a: all(o.startswith("sample") for o in archs[a]["origin"]))
    for aid in sampled_last:
        mask_file = Path(record_dir) / "masks" / f"{aid}.json"
        if not mask_file.exists():
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
                         "threads": s["threads"], "cpu_capability": s["cpu_capability"]})
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
    archs = architecture_set(n_sample, sample_seed, results)
    jobs = pending_jobs(archs, seeds, preset, record_dir, run_root, overrides, only)
    added = []
    if jobs:
        run_jobs(jobs, engine, run_root,
                 on_result=lambda n, result: added.append(record_finished([jobs[n]], [result], archs, record_dir)))
    return sum(added)


# ----------------------------------------------------------------------------- scores and agreement

def alpha_score(table, mask, relaxation: str = "softmax", floor: float = 1e-12) -> float:
    """How much alpha likes an architecture: the sum of log edge weights along its shortcuts; for independent
    gates, log g for every kept edge and log(1 - g) for every dropped one.  With a none column, a block without
    a shortcut scores log w_none."""
    t = np.asarray(table, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    w = t[:, :CANDIDATES.shape[1]]
    if Relaxation(relaxation).independent:
        return float(np.log(np.clip(w[mask], floor, 1)).sum() + np.log(np.clip(1 - w[CANDIDATES & ~mask], floor, 1)).sum())
    score = float(np.log(np.clip(w[mask], floor, 1)).sum())
    if t.shape[1] > CANDIDATES.shape[1]:
        empty = CANDIDATES.any(1) & ~mask.any(1)
        score += float(np.log(np.clip(t[empty, -1], floor, 1)).sum())
    return score


def oneshot_cache(cache_dir: str | Path, run_name: str, val_images: int) -> Path:
    return Path(cache_dir) / f"{run_name}-val{val_images}.csv"


def cached_oneshot_scores(cache_dir: str | Path, run_name: str, val_images: int) -> dict[str, float]:
    """The one-shot scores kept for ``run_name`` (empty when there is no cache)."""
    cache = oneshot_cache(cache_dir, run_name, val_images)
    if not cache.exists():
        return {}
    with open(cache, newline="") as f:
        return {r["arch_id"]: float(r["oneshot_acc"]) for r in csv.DictReader(f)}


def has_weights(search_run: str | Path) -> bool:
    return (Path(search_run) / "supernet.pt").exists() or (Path(search_run) / "checkpoint.pt").exists()


def oneshot_scores(search_run: str | Path, masks: dict[str, np.ndarray], val_images: int = 5000,
                   device: str = "auto", cache_dir: str | Path | None = None, name: str | None = None) -> dict[str, float]:
    """The supernet's accuracy on (part of) the alpha half with each mask imposed (oneshot.mask_score).

    With ``cache_dir``, scores are kept in ``cache_dir/<name>-val<val_images>.csv`` (``name``: the run
    directory's name) and only the architectures it lacks are scored (the supernet is not even loaded when none
    is missing).  A record committed without its weights (the width-1 search) gives only what its cache holds."""
    name = name or Path(search_run).name
    scores = cached_oneshot_scores(cache_dir, name, val_images) if cache_dir else {}
    missing = [a for a in masks if a not in scores]
    if missing and not has_weights(search_run):
        log.warning("%s has no weights; its one-shot scores cover the %d cached of %d architectures (recompute "
                    "from its run directory's checkpoint: python -m vggdarts scale)", search_run,
                    len(masks) - len(missing), len(masks))
        return {aid: scores[aid] for aid in masks if aid in scores}
    if missing:
        from .oneshot import mask_score, scoring_batches
        from .search import load_search_run

        config, data, model, _, a_idx = load_search_run(search_run, device)
        batches = scoring_batches(data, a_idx, val_images, config.eval_batch_size, next(model.parameters()).device)
        scores.update({aid: mask_score(model, masks[aid], batches) for aid in missing})
        if cache_dir is not None:
            cache = oneshot_cache(cache_dir, name, val_images)
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, "arch_id,oneshot_acc\n" + "".join(f"{a},{v!r}\n" for a, v in sorted(scores.items())))
    return {aid: scores[aid] for aid in masks}


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


def rank_agreement(score: dict[str, float], truth: dict[str, float], n_resamples: int = 2000, top: int = 5) -> dict:
    """Kendall tau and Spearman rho (bootstrap 95% CIs) and top-``top`` overlap between a score and the truth,
    over the architectures both have."""
    ids = sorted(set(score) & set(truth))
    x, y = np.array([score[a] for a in ids]), np.array([truth[a] for a in ids])
    best = lambda d: set(sorted(ids, key=lambda a: -d[a])[:top])  # noqa: E731
    return {"n": len(ids), "tau": bootstrap_interval(kendall_tau, x, y, n_resamples=n_resamples),
            "rho": bootstrap_interval(spearman_rho, x, y, n_resamples=n_resamples),
            f"top{top}_overlap": len(best(score) & best(truth))}


def agreement_if_shared(score: dict[str, float], truth: dict[str, float], n_resamples: int = 2000) -> dict | None:
    """:func:`rank_agreement`, or None while the two share fewer than 3 architectures (no ranking to compare)."""
    return rank_agreement(score, truth, n_resamples) if len(set(score) & set(truth)) >= 3 else None


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


def seed_noise_ceiling(seeds: dict[int, dict[str, float]], n_resamples: int = 2000) -> dict | None:
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


def control_scores(record_dir: Path, rows: list[dict], truth: dict[str, float]) -> dict[str, dict[str, float]]:
    """What costs nothing, scored like alpha: the parameter count, the MACs, and each zero-cost proxy of
    ``proxies.csv`` (mean over its initialisation seeds) where that cache exists."""
    from . import proxies

    out = {"params": {r["arch_id"]: float(r["params"]) for r in rows if r["arch_id"] in truth},
           "macs": {r["arch_id"]: float(r["macs"]) for r in rows if r["arch_id"] in truth}}
    if (record_dir / "proxies.csv").exists():
        cached = proxies.read_proxies(record_dir / "proxies.csv")
        for name in proxies.NAMES:
            out[name] = {a: v[name] for a, v in cached.items() if a in truth}
    return out


def paired_differences(runs: dict, controls: dict, truth: dict[str, float], n_resamples: int) -> list[dict]:
    """``controls``: the report's control entry (scores and their agreement with the truth)."""
    """Paired bootstraps over architectures: each run's alpha against the parameter count, and each run's
    one-shot score against the best-ranking zero-cost proxy (chosen on the truth itself: the strongest control)."""
    from .proxies import NAMES

    def diff(a: dict, b: dict) -> tuple[int, Interval]:
        ids = sorted(set(a) & set(b) & set(truth))
        return len(ids), bootstrap_tau_difference([a[i] for i in ids], [b[i] for i in ids], [truth[i] for i in ids],
                                                  n_resamples=n_resamples)

    scores, agreement = controls["scores"], controls["agreement"]
    best = max((p for p in NAMES if p in scores), key=lambda p: agreement[p]["tau"].estimate, default=None)
    out = []
    for run, info in runs.items():
        n, d = diff(info["scores"]["alpha"], scores["params"])
        out.append({"run": run, "score": "alpha", "control": "params", "n": n, "difference": d})
        if "one-shot" in info["scores"] and best is not None:
            n, d = diff(info["scores"]["one-shot"], scores[best])
            out.append({"run": run, "score": "one-shot", "control": best, "n": n, "difference": d})
    return out


def report(record_dir: str | Path, search_runs, epochs: int, fidelity_epochs: int = 20, val_images: int = 5000,
           n_resamples: int = 2000, device: str = "auto") -> dict[str, Any]:
    """Every score of every search run against the stand-alone mean validation accuracy at ``epochs``, the
    seed noise ceiling, the chance distribution, the fidelity check and where each recorded pick lands."""
    record_dir = Path(record_dir)
    rows = read_records(record_dir / "groundtruth.csv")
    truth = mean_accuracy(rows, epochs)
    if len(truth) < 3:
        raise ValueError(f"{record_dir}/groundtruth.csv has {len(truth)} architectures at {epochs} epochs; "
                         "train the set first (python -m vggdarts groundtruth ...)")
    masks = {aid: derive.load_mask(record_dir / "masks" / f"{aid}.json")[0] for aid in truth}
    figure3_truth = {a: v for a, v in truth.items() if in_figure3_space(masks[a])}
    runs: dict[str, dict] = {}
    for run in map(Path, search_runs):
        relaxation = read_json(run, "config.json").get("relaxation", "softmax")
        with np.load(run / "alpha.npz") as z:
            table = z["weights"][-1]
        scores = {"alpha": {a: alpha_score(table, m, relaxation) for a, m in masks.items()}}
        if has_weights(run) or oneshot_cache(record_dir / "oneshot", run.name, val_images).exists():
            scores["one-shot"] = oneshot_scores(run, masks, val_images, device, record_dir / "oneshot")
        runs[str(run)] = {"scores": scores,
                          "agreement": {k: rank_agreement(v, truth, n_resamples) for k, v in scores.items()},
                          "agreement_figure3": {k: rank_agreement(v, figure3_truth, n_resamples)
                                                for k, v in scores.items()}}
    origins = archs_origin(rows)
    sampled = {a for a in truth if any(o.startswith("sample") for o in origins[a])}
    sampled_truth = {a: truth[a] for a in sampled}
    for info in runs.values():
        info["agreement_sampled"] = {k: agreement_if_shared(v, sampled_truth, n_resamples)
                                     for k, v in info["scores"].items()}
    controls = control_scores(record_dir, rows, truth)
    control_info = {"scores": controls,
                    "agreement": {k: rank_agreement(v, truth, n_resamples) for k, v in controls.items()},
                    "agreement_figure3": {k: rank_agreement(v, figure3_truth, n_resamples) for k, v in controls.items()},
                    "agreement_sampled": {k: agreement_if_shared(v, sampled_truth, n_resamples)
                                          for k, v in controls.items()}}
    picks: dict[str, list[dict]] = {}  # every architecture of an origin (random draws three)
    for aid, its_origins in origins.items():
        for origin in its_origins:
            if not origin.startswith("sample") and aid in truth:
                standing = pick_standing(aid, truth)
                among = pick_standing(aid, {**sampled_truth, aid: truth[aid]}) if sampled_truth else None
                picks.setdefault(origin, []).append({"arch_id": aid, **standing, "sampled": among})
    fidelity = mean_accuracy(rows, fidelity_epochs)
    seeds = per_seed(rows, epochs)
    fidelity_seeds = per_seed(rows, fidelity_epochs)
    same = min(set(fidelity_seeds) & set(seeds), default=None)  # the longer budget against the same seed's short one
    same_seed = None if same is None else agreement_if_shared(fidelity_seeds[same], seeds[same], n_resamples)
    ceiling = seed_noise_ceiling(seeds, n_resamples)
    return {"epochs": epochs, "truth": truth, "test": mean_accuracy(rows, epochs, "test_acc"), "runs": runs,
            "controls": control_info, "sampled": sorted(sampled),
            "paired": paired_differences(runs, control_info, truth, n_resamples),
            "ceiling": ceiling, "n_seeds": len(seeds),
            "ceiling_for_mean": ceiling_for_mean(ceiling["tau"], len(seeds)) if ceiling else None,
            "chance_tau": random_tau(truth),
            "fidelity": agreement_if_shared(fidelity, truth, n_resamples),
            "fidelity_same_seed": same_seed and {"seed": same, **same_seed},
            "fidelity_epochs": fidelity_epochs, "fidelity_truth": fidelity, "per_seed": seeds,
            "picks": picks, "outside_figure3": sorted(set(truth) - set(figure3_truth)),
            "n_rows": sum(r["epochs"] == epochs for r in rows)}


def markdown(rep: dict[str, Any]) -> str:
    """The tau/rho table (each score x each search run, 95% bootstrap CIs), noise ceiling, chance, fidelity."""
    lines = [f"Stand-alone truth: mean val accuracy of {len(rep['truth'])} architectures at {rep['epochs']} epochs "
             f"({rep['n_rows']} runs).", "",
             "| search run | score | n | Kendall tau [95% CI] | Spearman rho [95% CI] | top-5 overlap "
             "| tau, Figure-3 space only [95% CI] | tau, sampled only [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    sources = [(run, info) for run, info in rep["runs"].items()] + [("(control)", rep["controls"])]
    for run, info in sources:
        for score, a in info["agreement"].items():
            f3, sa = info["agreement_figure3"][score], info["agreement_sampled"][score]
            lines.append(f"| {run} | {score} | {a['n']} | {a['tau']} | {a['rho']} | {a['top5_overlap']} | "
                         f"{f3['tau']} (n = {f3['n']}) | {sa['tau'] if sa else '-'} (n = {sa['n'] if sa else 0}) |")
    chance = rep["chance_tau"]
    lines.append(f"| (chance) | random score | {len(rep['truth'])} | {chance.mean():+.2f} "
                 f"[{np.percentile(chance, 2.5):+.2f}, {np.percentile(chance, 97.5):+.2f}] | | | | |")
    if rep["ceiling"] is not None:
        lines.append(f"| (noise ceiling) | seed 0 vs seed 1 | {rep['ceiling']['n']} | {rep['ceiling']['tau']} | "
                     f"{rep['ceiling']['rho']} | {rep['ceiling']['top5_overlap']} | |")
        lines.append(f"| (ceiling for the mean) | a perfect score vs the mean of {rep['n_seeds']} seeds (model) | "
                     f"{rep['ceiling']['n']} | {rep['ceiling_for_mean']} | | | |")
    if rep["fidelity"] is not None:
        f = rep["fidelity"]
        lines.append(f"| (fidelity) | {rep['fidelity_epochs']} vs {rep['epochs']} epochs | {f['n']} | {f['tau']} | "
                     f"{f['rho']} | {f['top5_overlap']} | |")
    if rep["fidelity_same_seed"] is not None:
        f = rep["fidelity_same_seed"]
        lines.append(f"| (fidelity, one seed) | {rep['fidelity_epochs']} vs {rep['epochs']} epochs, both seed "
                     f"{f['seed']} | {f['n']} | {f['tau']} | {f['rho']} | {f['top5_overlap']} | |")
    lines += ["", f"| pick | architecture | val acc % | percentile in the set | regret (val acc points) | "
              f"percentile among the {len(rep['sampled'])} sampled | regret among them | test acc % |",
              "|---|---|---|---|---|---|---|---|"]
    for origin, entries in sorted(rep["picks"].items()):
        for p in entries:
            a, among = p["arch_id"], p["sampled"]
            lines.append(f"| {origin} | {a} | {rep['truth'][a]:.2f} | {p['percentile']:.0f} | {p['regret']:.2f} | "
                         f"{among['percentile']:.0f} | {among['regret']:.2f} | {rep['test'][a]:.2f} |" if among else
                         f"| {origin} | {a} | {rep['truth'][a]:.2f} | {p['percentile']:.0f} | {p['regret']:.2f} | - | - | "
                         f"{rep['test'][a]:.2f} |")
        if len(entries) > 1:
            mean = lambda key, part=None: np.mean([(e[part] if part else e)[key] for e in entries])  # noqa: E731
            sampled_part = (f"{mean('percentile', 'sampled'):.0f} | {mean('regret', 'sampled'):.2f}"
                            if all(e["sampled"] for e in entries) else "- | -")
            lines.append(f"| {origin}, mean of {len(entries)} | | {np.mean([rep['truth'][e['arch_id']] for e in entries]):.2f} "
                         f"| {mean('percentile'):.0f} | {mean('regret'):.2f} | {sampled_part} | |")
    if rep["paired"]:
        lines += ["", "| search run | score | control | n | tau(score) - tau(control) [95% paired bootstrap CI] |",
                  "|---|---|---|---|---|"]
        for d in rep["paired"]:
            verdict = "" if d["difference"].excludes_zero else " (cannot be told from noise)"
            lines.append(f"| {d['run']} | {d['score']} | {d['control']} | {d['n']} | {d['difference']}{verdict} |")
    return "\n".join(lines)
