"""The study's result: derive an architecture by every method, retrain each with several seeds, compare.

``derive_all`` writes one mask JSON per method into ``OUT/archs/``;
``sweep`` retrains every (method, seed) into ``OUT/<method>/seed<k>/`` — a finished
run is skipped, an interrupted one resumes — and ``collect`` gathers their
summaries into ``OUT/comparison.csv``.  Methods choose on the search's alpha half
(validation data) only; each trained network's test accuracy is read once.
"""
from __future__ import annotations

import csv
import io
import itertools
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import derive
from .files import atomic_write_text, file_lock
from .executors import Engine, run_jobs
from .jobs import Job
from .rundir import final_edge_weights, read_json
from .stats import paired_difference
from .training import evaluate, make_batches

log = logging.getLogger("vggdarts")
DEFAULT_METHODS = ("argmax", "threshold", "topk", "perturbation", "none", "all", "resnet", "random")


def derive_perturbation(search_run: str | Path, val_images: int = 5000, finetune_steps: int = 0,
                        device: str = "auto", batch_statistics: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Perturbation-based selection on the search's supernet, scored on (part of) its alpha half
    with batch statistics (:mod:`vggdarts.oneshot`); ``batch_statistics=False`` reproduces the old,
    defective eval-mode scoring, for benchmarks/perturbation_bn.py only."""
    from .oneshot import accuracy_under, scoring_batches
    from .search import load_search_run, weight_step
    from .training import Meter

    config, data, model, w_idx, a_idx = load_search_run(search_run, device)
    device_ = next(model.parameters()).device
    val = scoring_batches(data, a_idx, val_images, config.eval_batch_size, device_)

    finetune = None
    if finetune_steps > 0:
        train = make_batches(data, data.train_x[w_idx], data.train_y[w_idx], config, device_, train=True)
        opt = torch.optim.SGD(model.weight_parameters(), lr=config.lr, momentum=config.momentum)
        rounds = itertools.count(config.epochs)  # fresh batches: "epochs" after the search's own

        def finetune() -> None:
            model.train()
            for x, y in train.epoch(next(rounds), batches=finetune_steps):
                weight_step(model, opt, x, y, Meter(device_), config.grad_clip)

    def score(weights) -> float:
        if batch_statistics:
            return accuracy_under(model, weights, val)
        with model.edge_weights_overridden(weights):
            return evaluate(model, val)[1]  # running statistics collected under softmax(alpha)

    mask, records = derive.perturbation(model, score, finetune)
    return mask, {"val_images": len(val.labels), "finetune_steps": finetune_steps, "bn": "batch statistics",
                  "measurements": records}


def search_relaxation(search_run: str | Path) -> str:
    """The relaxation a search run used (runs recorded before relaxations were configurable: softmax)."""
    return read_json(search_run, "config.json").get("relaxation", "softmax")


def method_params(method: str, *, k: int = 6, level: float | None = None, seed: int = 0, val_images: int = 5000,
                  finetune_steps: int = 0) -> dict[str, Any]:
    """The parameters ``method`` uses, as recorded in its mask JSON (and compared when a sweep reuses one)."""
    return {"topk": {"k": k}, "threshold": {"level": level}, "random": {"seed": seed},
            "perturbation": {"val_images": val_images, "finetune_steps": finetune_steps}}.get(method, {})


def derive_to_file(path: str | Path, method: str, search_run: str | Path, *, device: str = "auto",
                   **options) -> np.ndarray:
    """Derive one architecture from a search run by ``method`` and save it as a mask JSON; returns the mask.

    Alpha-based methods read the full-precision final weights from ``alpha.npz`` (the CSVs, rounded to
    4 decimals, are for people).  Only the parameters ``method`` uses are recorded (:func:`method_params`)."""
    params = method_params(method, **options)
    relaxation = search_relaxation(search_run) if method in derive.ALPHA_METHODS else None
    extra: dict[str, Any] = {}
    if method == "perturbation":
        mask, extra = derive_perturbation(search_run, params["val_images"], params["finetune_steps"], device)
        params["val_images"] = extra.pop("val_images")
        extra.pop("finetune_steps")
    else:
        mask = derive.derive_from_weights(method, final_edge_weights(search_run), relaxation, **params)
    if relaxation is not None:  # the mask came from alpha: say how alpha was relaxed
        extra = {"relaxation": relaxation, **extra}
    derive.save_mask(path, mask, method, params, run=str(search_run), extra=extra)
    return mask


def derive_all(search_run: str | Path, out_dir: str | Path, methods=DEFAULT_METHODS, seeds=(0, 1, 2),
               topk_k: int = 6, threshold_level: float | None = None, perturb_val_images: int = 5000,
               perturb_finetune_steps: int = 0, device: str = "auto") -> dict[str, Path]:
    """Write ``OUT/archs/<name>.json`` for every method (``random``: one per seed).

    An existing file is reused only if it was derived by the same method with the same parameters;
    otherwise this refuses (its retrains would no longer match what is asked).  The folder is locked
    meanwhile, so parallel sweeps derive each mask once."""
    archs = Path(out_dir) / "archs"
    options = dict(k=topk_k, level=threshold_level, val_images=perturb_val_images,
                   finetune_steps=perturb_finetune_steps)
    paths: dict[str, Path] = {}
    with file_lock(archs / ".lock", what=f"{archs}"):
        for method in methods:
            for seed in (seeds if method == "random" else (0,)):
                name = f"random{seed}" if method == "random" else method
                paths[name] = path = archs / f"{name}.json"
                if path.exists():
                    _check_same_derivation(path, method, method_params(method, seed=seed, **options))
                    continue
                mask = derive_to_file(path, method, search_run, seed=seed, device=device, **options)
                log.info("%s: %d shortcuts\n%s", name, int(mask.sum()), derive.format_mask(mask))
    return paths


def _check_same_derivation(path: Path, method: str, params: dict[str, Any]) -> None:
    _, record = derive.load_mask(path)
    recorded = dict(record.get("params", {}))
    if method == "perturbation":  # the recorded count is what was used (capped at the alpha half's size)
        recorded.pop("val_images", None)
        params = {k: v for k, v in params.items() if k != "val_images"}
    if record.get("method") != method or recorded != params:
        raise ValueError(f"{path} was derived by {record.get('method')} with {record.get('params')}, but "
                         f"{method} with {params} is asked. Nothing was changed. Use another --out folder, "
                         "or delete that file and the retrains made from it.")


def retrain_jobs(paths: dict[str, Path], out_dir: str | Path, preset: str, seeds, base: dict[str, Any]) -> list[Job]:
    """One retrain job per (method, seed), seed-major (an interrupted sweep has every method at some seeds)."""
    jobs = []
    for seed in seeds:
        for name, path in paths.items():
            if name.startswith("random") and name != f"random{seed}":
                continue
            label = "random" if name.startswith("random") else name
            jobs.append(Job("retrain", preset, {**base, "arch": str(path), "seed": seed},
                            str(Path(out_dir) / label / f"seed{seed}"), f"{label} seed {seed}"))
    return jobs


def sweep(search_run: str | Path, out_dir: str | Path, preset: str = "cpu", seeds=(0, 1, 2),
          methods=DEFAULT_METHODS, overrides: dict[str, Any] | None = None, engine: Engine | None = None,
          **derive_options) -> list[dict]:
    """Derive, then retrain every (method, seed) on ``engine`` (default: inline); restartable.
    Returns the collected rows."""
    search_cfg = read_json(search_run, "config.json")
    base = {"dataset": search_cfg["dataset"], "data_root": search_cfg["data_root"],
            "net": search_cfg.get("net", "vgg11")}  # the searched network (records before the field: VGG11)
    base.update(overrides or {})
    paths = derive_all(search_run, out_dir, methods, seeds, **derive_options)
    run_jobs(retrain_jobs(paths, out_dir, preset, seeds, base), engine, out_dir)
    return collect(out_dir)


def collect_many(folders: dict[str, str | Path]) -> list[dict]:
    """Rows of several comparison folders in one table, methods labelled ``<label>/<method>`` (an empty label
    keeps the method's name), e.g. {"": "results/compare-cpu", "sigmoid": "results/compare-cpu-sigmoid"}."""
    rows = []
    for label, folder in folders.items():
        for r in collect(folder, write=False):
            rows.append({**r, "method": f"{label}/{r['method']}" if label else r["method"]})
    return rows


def run_machine(run: Path, summary: dict) -> dict[str, Any]:
    """The thread count, CPU capability and CPU model a run trained under: the summary's measured values where
    it has them, else the config's ``threads`` (0: torch's default, all cores) and "unknown" (not recorded then)."""
    config = read_json(run, "config.json")
    return {"threads": summary.get("threads", config.get("threads") or 0),
            "cpu_capability": summary.get("cpu_capability") or config.get("cpu_capability") or "unknown",
            "cpu_model": summary.get("cpu_model") or "unknown"}


def pairing(a: dict, b: dict) -> str:
    """Whether two runs of one seed can be bit-identical in their arithmetic: "same" (thread count and CPU
    capability recorded and equal), "differs" (either recorded and different, or both CPU models recorded and
    different: one capability on two vendors' CPUs ran other kernels), "unrecorded" (threads equal, the
    capability not recorded).  Seed pairing holds in every case (initialisation and data order are the
    seed's); only "same" pairs share the float reductions too."""
    models = (a.get("cpu_model", "unknown"), b.get("cpu_model", "unknown"))
    if a["threads"] != b["threads"] or "unknown" not in (a["cpu_capability"], b["cpu_capability"]) and \
            a["cpu_capability"] != b["cpu_capability"] or "unknown" not in models and models[0] != models[1]:
        return "differs"
    return "unrecorded" if "unknown" in (a["cpu_capability"], b["cpu_capability"]) else "same"


def collect(out_dir: str | Path, write: bool = True) -> list[dict]:
    """Rows (method, seed, test_acc, ...) of every finished retrain under ``out_dir``; writes comparison.csv
    (unless ``write=False``: reporting a committed record changes nothing in it)."""
    rows = []
    for summary_file in sorted(Path(out_dir).glob("*/seed*/summary.json")):
        s = read_json(summary_file.parent, "summary.json")
        rows.append({"method": summary_file.parent.parent.name, "seed": s["seed"], "status": "ok",
                     "test_acc": s["test_acc"], "final_val_acc": s["final_val_acc"], "n_shortcuts": s["n_shortcuts"],
                     "params": s["params"], "macs": s["macs"], "epochs": s["epochs_done"],
                     "dataset": s["dataset_used"], **run_machine(summary_file.parent, s)})
    for failed_file in sorted(Path(out_dir).glob("*/seed*/failed.json")):
        if (failed_file.parent / "summary.json").exists():
            continue
        f = read_json(failed_file.parent, "failed.json")
        c = read_json(failed_file.parent, "config.json")
        rows.append({"method": failed_file.parent.parent.name, "seed": f["seed"], "status": f["status"],
                     "test_acc": math.nan, "final_val_acc": math.nan, "n_shortcuts": int(np.sum(c["arch_mask"])),
                     "params": math.nan, "macs": math.nan, "epochs": c["epochs"], "dataset": c["dataset_used"]})
    if rows and write:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(Path(out_dir) / "comparison.csv", out.getvalue())
    return rows


def _finished_by_seed(rows: list[dict], method: str) -> dict[int, dict]:
    """A method's finished runs by seed: what a paired difference pairs on."""
    return {r["seed"]: r for r in rows if r["method"] == method and r["status"] == "ok"}


def aggregate(rows: list[dict], reference: str = "none") -> list[dict]:
    """Mean and sample std of test accuracy per method over its finished runs, with parameters and MACs;
    ``failed`` counts runs that diverged; ``diff`` is the paired difference to ``reference`` over the seeds
    both have (a stats.Interval: mean and 95% t interval), None where there is nothing to pair."""
    out = []
    base = _finished_by_seed(rows, reference)
    for method in dict.fromkeys(r["method"] for r in rows):
        everything = [r for r in rows if r["method"] == method]
        ok = [r for r in everything if r["status"] == "ok"]
        mean = lambda key: float(np.mean([r[key] for r in ok])) if ok else math.nan  # noqa: E731
        acc = np.array([r["test_acc"] for r in ok], dtype=float)
        mine = _finished_by_seed(rows, method)
        seeds = sorted(set(mine) & set(base))
        paired = method != reference and seeds
        diff = paired_difference([mine[s]["test_acc"] for s in seeds], [base[s]["test_acc"] for s in seeds]) if paired else None
        pairs = [pairing(mine[s], base[s]) for s in seeds] if paired and "threads" in base[seeds[0]] else []
        out.append({"method": method, "n": len(ok), "failed": len(everything) - len(ok), "test_acc_mean": mean("test_acc"),
                    "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
                    "val_acc_mean": mean("final_val_acc"), "n_shortcuts": float(everything[0]["n_shortcuts"]),
                    "params_M": mean("params") / 1e6, "macs_M": mean("macs") / 1e6, "diff": diff,
                    "diff_n": len(seeds), "pairs": pairs, "reference": reference})
    return sorted(out, key=lambda r: -r["test_acc_mean"] if not math.isnan(r["test_acc_mean"]) else math.inf)


def against(rows: list[dict], picks, baselines) -> list[dict]:
    """Every pick against every baseline: the paired test-accuracy difference over the seeds both finished
    (a stats.Interval, mean and 95% t interval, as :func:`aggregate`'s last column) and ``verdict``: "higher",
    "lower" (the interval excludes 0) or "cannot tell"; a pick missing a run pairs fewer seeds."""
    by_seed = {m: _finished_by_seed(rows, m) for m in (*picks, *baselines)}
    out = []
    for pick in picks:
        for base in baselines:
            seeds = sorted(set(by_seed[pick]) & set(by_seed[base]))
            d = paired_difference([by_seed[pick][s]["test_acc"] for s in seeds],
                                  [by_seed[base][s]["test_acc"] for s in seeds])
            told = len(seeds) > 1 and d.excludes_zero
            out.append({"pick": pick, "baseline": base, "n": len(seeds), "diff": d,
                        "verdict": ("higher" if d.estimate > 0 else "lower") if told else "cannot tell"})
    return out


def markdown_table(summary: list[dict]) -> str:
    """The comparison table; the last column is the paired difference to the reference (same seeds) with its
    95% interval, in bold where the interval excludes 0 (distinguishable from seed noise at this n)."""
    reference = summary[0].get("reference", "none") if summary else "none"
    lines = [f"| method | runs | test acc % (mean ± std) | val acc % | shortcuts | params (M) | MACs (M) | "
             f"Δ test vs {reference}, paired [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for r in summary:
        std = "" if math.isnan(r["test_acc_std"]) else f" ± {r['test_acc_std']:.2f}"
        runs = f"{r['n']}" + (f" ({r['failed']} diverged)" if r["failed"] else "")
        d = r.get("diff")
        if d is None:
            delta = "—"
        elif not d.has_interval:
            delta = f"{d} (n={r['diff_n']})"
        else:
            delta = f"**{d}**" if d.excludes_zero else f"{d}"
        if "differs" in r.get("pairs", []):
            delta += " ≈"
        lines.append(f"| {r['method']} | {runs} | {r['test_acc_mean']:.2f}{std} | {r['val_acc_mean']:.2f} | "
                     f"{r['n_shortcuts']:.0f} | {r['params_M']:.3f} | {r['macs_M']:.1f} | {delta} |")
    pairs = [p for r in summary for p in r.get("pairs", [])]
    if pairs:
        differs = pairs.count("differs")
        lines += ["", f"Seed pairs: {pairs.count('same')} of {len(pairs)} ran under the same thread count and CPU "
                  f"capability, {pairs.count('unrecorded')} under the same thread count on a CPU whose capability "
                  f"was not recorded, and {differs} under another thread count or CPU"
                  + (" (marked ≈: that pairing is approximate; the runs share initialisation and data order, not "
                     "their float reductions)." if differs else ".")]
    return "\n".join(lines)


def export_sweep(sweep_dir: str | Path, dest: str | Path) -> Path:
    """Copy a comparison sweep's record for committing: archs/*.json, comparison.csv, and each retrain's
    config.json, metrics.csv, summary.json (or failed.json) -- no checkpoints."""
    from .rundir import export_record

    src, dest = Path(sweep_dir), Path(dest)
    for path in sorted(src.glob("archs/*.json")) + sorted(src.glob("comparison.csv")):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, path.read_text())
    for run in sorted(p.parent for p in src.glob("*/seed*/config.json")):
        if (run / "summary.json").exists():
            export_record(run, dest / run.relative_to(src), supernet=False)
        elif (run / "failed.json").exists():
            for name in ("config.json", "failed.json"):
                (dest / run.relative_to(src)).mkdir(parents=True, exist_ok=True)
                atomic_write_text(dest / run.relative_to(src) / name, (run / name).read_text())
    return dest
