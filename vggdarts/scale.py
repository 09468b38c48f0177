"""The study at its own scale: the ``paper`` search (width 1, 100 epochs) beside the original report and the
quarter-width ``cpu`` searches.

At width 1 the supernet's weights are about 42 MB, too much to commit, so :func:`record` computes everything
that needs them while the run directory's checkpoint is on disk, and exports the record without them:

* the picks ``argmax``, ``threshold`` and ``perturbation`` (fine-tuned as in the ``cpu`` comparison) into
  ``results/search-paper/archs/``, where the ground-truth sweep finds them (``groundtruth.architecture_set``);
* the one-shot score of every architecture of the ground-truth set into its ``oneshot/`` cache;
* the search record itself (``rundir.export_record(..., supernet=False)``) and a README saying how to
  recompute the above from the checkpoint.

The tables (rendered into docs/report.md by :mod:`vggdarts.report`) read only ``results/``:

* :func:`report_table` — best test accuracy against the report's 85.54 %, and per block 4..8 the argmax against
  the report's Table 2, Spearman rho and the project's even-share-centred tau, for the width-1 run and the three
  ``cpu`` seeds (whose spread says how much a difference to the report could be seed noise);
* :func:`widths_table` — the width-1 table against the ``cpu`` seeds' (``agreement.seed_agreement``);
* :func:`picks_table` — the paper picks' standing in the ground truth beside the ``cpu`` searches' picks, and
  the paper supernet's alpha and one-shot scores against the truth;
* :func:`cost_table` — measured seconds per epoch of every attempt (:func:`log_epochs` keeps them in
  ``benchmarks/results/paper-epochs.csv``, since a run directory may be lost between sessions), with the CPU,
  its capability and the threads.
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np

from . import agreement, compare, derive, groundtruth, reference, scores
from .files import atomic_write_text
from .stats import N_RESAMPLES
from .rundir import RunDirError, alpha_tables, export_record, read_json
from .training import cpu_model

log = logging.getLogger("vggdarts")

PAPER = "search-paper"
CPU_SEEDS = ("search-cpu-seed0", "search-cpu-seed1", "search-cpu-seed2")
PICKS = ("argmax", "threshold", "perturbation")
FINETUNE_STEPS = 50  # as the cpu comparison's perturbation pick (results/compare-cpu/archs/perturbation.json)
VAL_IMAGES = 5000
GROUND_TRUTH = "groundtruth-cpu"
TRUTH_WIDTH, TRUTH_EPOCHS = 0.25, 8  # the ground-truth set's rung R0 (the cpu retrain preset)
CPU_PICK_SOURCES = ("compare-cpu", "compare-cpu-seed0")  # the cpu comparisons whose picks include all of PICKS


def record(run_dir: str | Path, dest: str | Path, results: str | Path = "results", val_images: int = VAL_IMAGES,
           finetune_steps: int = FINETUNE_STEPS, device: str = "auto") -> Path:
    """Export a finished search run without its weights, after computing what needs them (module docstring).
    Rerunning it reuses what is there (same-parameter picks, cached one-shot scores)."""
    run_dir, dest, results = Path(run_dir), Path(dest), Path(results)
    if not (run_dir / "summary.json").exists():
        raise RunDirError(f"{run_dir} has no summary.json: let the search finish (rerun its command to resume)")
    if not (run_dir / "checkpoint.pt").exists() and not (run_dir / "supernet.pt").exists():
        raise RunDirError(f"{run_dir} has no checkpoint.pt: the perturbation pick and the one-shot scores need the "
                          "trained weights, so export from the run directory itself")
    if dest.resolve().parent != results.resolve():
        raise ValueError(f"{dest} must lie directly in {results}, where the ground-truth sweep looks for picks")
    compare.derive_all(run_dir, dest, methods=PICKS, perturb_val_images=val_images,
                       perturb_finetune_steps=finetune_steps, device=device)
    export_record(run_dir, dest, supernet=False)
    masks = {aid: entry["mask"] for aid, entry in groundtruth.architecture_set(results=results).items()}
    scores.oneshot_scores(run_dir, masks, val_images, device, results / GROUND_TRUTH / "oneshot", name=dest.name)
    atomic_write_text(dest / "README.md", _readme(run_dir, dest, results, val_images, finetune_steps))
    return dest


def _readme(run_dir: Path, dest: Path, results: Path, val_images: int, finetune_steps: int) -> str:
    c, s = read_json(run_dir, "config.json"), read_json(run_dir, "summary.json")
    return (f"# {dest.name}\n\nThe `paper` search (width {c['width']:g}, {s['epochs_done']} epochs, seed {c['seed']}, "
            f"{c['dataset_used']}), exported from `{run_dir}` by `python -m vggdarts scale {run_dir}` at commit "
            f"{c['git_commit'][:7]}.\n\nThe supernet's weights are not committed (about 42 MB at width 1). What needs "
            f"them was computed from `{run_dir}/checkpoint.pt` before export: `archs/` (argmax, threshold, and "
            f"perturbation with {finetune_steps} fine-tune steps, scored on {val_images} alpha-half images) and "
            f"`{results.name}/{GROUND_TRUTH}/oneshot/{dest.name}-val{val_images}.csv`. To recompute them, rerun the "
            f"search with the settings of `config.json` into a run directory (it is seeded: bit-identical where the "
            f"CPU capability and thread count of `summary.json`'s sessions match), then the command above.\n")


# ---- tables (docs/report.md) ----------------------------------------------------------------------------

def _missing(results: Path) -> str | None:
    if (results / PAPER / "summary.json").exists():
        return None
    return (f"No `{PAPER}` record yet: the `paper` search has not finished (it resumes across sessions; "
            f"see the status above).\n")


def _standing(summary: dict) -> str:
    return (f"{summary['best_test_acc']:.2f} (epoch {summary['best_test_epoch']}) | {summary['test_acc_at_best_val']:.2f} "
            f"(epoch {summary['best_val_epoch']}) | {summary['final_test_acc']:.2f}")


def report_table(results: Path) -> str:
    """The width-1 run and the three cpu seeds against the original report (Tables 2 and 3, 85.54 %)."""
    if (text := _missing(results)) is not None:
        return text
    head = ["| run | width | epochs | best test acc % (epoch) | test acc % at best-val epoch | final test acc % "
            "| argmax, blocks 4-8 (report: " + ", ".join(str(r["report_argmax"]) for r in reference.against_report(
                reference.REPORT_TABLE2)["rows"]) + ") | Spearman rho per block 4-8 | tau vs Table 2 | max abs alpha |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    lines = head + [f"| original report | 1 | 100 | {reference.REPORT_BEST_TEST_ACC:.2f} (original CIFAR-10) | - | - | "
                    f"- | - | +1.00 | {reference.signature(reference.REPORT_TABLE3)['max_abs_alpha']:.2f} |"]
    cpu_taus = []
    for name in (PAPER, *CPU_SEEDS):
        c, s = read_json(results / name, "config.json"), read_json(results / name, "summary.json")
        raw, table = alpha_tables(results / name)
        a = reference.against_report(table, c.get("relaxation", "softmax"))
        if name != PAPER:
            cpu_taus.append(a["tau"])
        picks = ", ".join(f"**{r['argmax']}**" if r["argmax"] != r["report_argmax"] else str(r["argmax"])
                          for r in a["rows"])
        rho = ", ".join(f"{r['spearman_rho']:+.2f}" for r in a["rows"])
        lines.append(f"| `{name}` (seed {c['seed']}) | {c['width']:g} | {s['epochs_done']} | {_standing(s)} | "
                     f"{picks} ({a['argmax_agree']} of 5 as the report) | {rho} | {a['tau']:+.2f} | "
                     f"{reference.signature(raw)['max_abs_alpha']:.2f} |")
    lines += ["", f"Accuracies on CIFAR-10 (JPEG copy) except the report's. An argmax in bold differs from the "
              f"report's. The three `cpu` seeds' tau against Table 2 spans {min(cpu_taus):+.2f} to {max(cpu_taus):+.2f}: "
              "a width-1 tau inside that range cannot be told from seed-to-seed variation at width 0.25."]
    return "\n".join(lines) + "\n"


def widths_table(results: Path) -> str:
    """The width-1 table against each cpu seed's, block by block (argmax) and overall (tau)."""
    if (text := _missing(results)) is not None:
        return text
    names = ["width 1", *(f"w0.25 s{n[-1]}" for n in CPU_SEEDS)]
    return agreement.markdown(agreement.seed_agreement([results / PAPER, *(results / n for n in CPU_SEEDS)],
                                                       names)) + "\n"


def picks_table(results: Path, n_resamples: int = N_RESAMPLES) -> str:
    """Where each pick of the width-1 search lands in the ground truth, beside the cpu comparisons' picks by the
    same method; and the width-1 supernet's alpha and one-shot scores against the truth (tau, 95% CI)."""
    if (text := _missing(results)) is not None:
        return text
    record_dir = results / GROUND_TRUTH
    rows = groundtruth.read_records(record_dir / "groundtruth.csv")
    truth = groundtruth.mean_accuracy(rows, TRUTH_EPOCHS, width=TRUTH_WIDTH)
    arch_of = {origin: aid for aid, origins in groundtruth.archs_origin(rows).items() for origin in origins}
    lines = [f"| method | width-1 pick | val acc % | percentile in the set | regret | `cpu` picks ({', '.join(CPU_PICK_SOURCES)}): "
             "percentile | regret |", "|---|---|---|---|---|---|---|"]
    for method in PICKS:
        aid = arch_of.get(f"{PAPER}/{method}")
        cpu = [groundtruth.pick_standing(arch_of[o], truth) for o in (f"{s}/{method}" for s in CPU_PICK_SOURCES)
               if arch_of.get(o) in truth]
        cpu_text = (" / ".join(f"{p['percentile']:.0f}" for p in cpu) + " | " + " / ".join(f"{p['regret']:.2f}" for p in cpu)
                    if cpu else "- | -")
        if aid in truth:
            p = groundtruth.pick_standing(aid, truth)
            lines.append(f"| {method} | {aid} | {truth[aid]:.2f} | {p['percentile']:.0f} | {p['regret']:.2f} | {cpu_text} |")
        else:
            lines.append(f"| {method} | {aid or '-'} | not yet trained | - | - | {cpu_text} |")
    masks = {aid: derive.load_mask(record_dir / "masks" / f"{aid}.json")[0] for aid in truth
             if (record_dir / "masks" / f"{aid}.json").exists()}
    lines += ["", f"| search run | score | n | Kendall tau vs the truth [95% CI] |", "|---|---|---|---|"]
    for run in (PAPER, CPU_SEEDS[0]):
        table, relaxation = scores.final_alpha(results / run)
        figure3 = {a: v for a, v in truth.items() if a in masks and scores.in_figure3_space(masks[a])}
        ranked = {"alpha (log-probability), Figure-3 space":
                  ({a: scores.alpha_logprob(table, masks[a], relaxation) for a in figure3}, figure3),
                  "one-shot, whole set": (scores.cached_oneshot_scores(record_dir / "oneshot", run, VAL_IMAGES), truth)}
        for score, (values, subset) in ranked.items():
            a = groundtruth.agreement_if_shared(values, subset, n_resamples)
            lines.append(f"| `{run}` | {score} | {a['n'] if a else 0} | {a['tau'] if a else '-'} |")
    lines += ["", f"The truth: mean val accuracy at {TRUTH_EPOCHS} epochs, width 0.25, seeds 0 and 1 "
              "(CIFAR-10, JPEG copy); percentile 100 = best in the set."]
    return "\n".join(lines) + "\n"


EPOCH_LOG = "paper-epochs.csv"  # in benchmarks/results: every measured epoch of every attempt, finished or not
QUIET = ("nothing", "light work")  # what beside a measured epoch leaves its rate the machine's own
EPOCH_COLUMNS = ("attempt", "epoch", "seconds", "cpu_model", "cpu_capability", "threads", "beside", "session_from")
# session_from: the first epoch of the session (machine) that ran the epoch; two machines of the same model
# name ran 280 and 410 s per epoch, so this is what tells them apart. Blank where no checkpoint said.


def read_epoch_log(path: str | Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path, newline="") as f:
        return [{**r, "epoch": int(r["epoch"]), "seconds": float(r["seconds"]), "threads": int(r["threads"]),
                 "session_from": int(r["session_from"]) if r.get("session_from") else None}
                for r in csv.DictReader(f)]


def log_epochs(run_dir: str | Path, path: str | Path, attempt: str, beside: str = "nothing") -> int:
    """Append the run's epochs that ``path`` lacks for ``attempt`` (a label, e.g. the date the run started),
    with each session's CPU, capability and threads and the epoch it began at (from the checkpoint; rows of the
    attempt logged without that epoch get it too).  A run directory can be lost between sessions; this log
    keeps what each attempt measured.  Returns the rows added."""
    import torch

    ckpt = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=True)
    sessions = ckpt.get("sessions") or []

    def session_of(epoch: int) -> dict:
        return max((s for s in sessions if s["from_epoch"] <= epoch), key=lambda s: s["from_epoch"],
                   default={"cpu_capability": "unknown", "threads": 0, "from_epoch": None})

    rows = read_epoch_log(path)
    for r in rows:
        if r["attempt"] == attempt and r["session_from"] is None:
            r["session_from"] = session_of(r["epoch"])["from_epoch"]
    done = {r["epoch"] for r in rows if r["attempt"] == attempt}
    new = []
    for r in ckpt["history"]:
        if r["epoch"] in done:
            continue
        session = session_of(r["epoch"])  # cpu_model: recorded since it was added, else this machine's
        new.append({"attempt": attempt, "epoch": r["epoch"], "seconds": round(r["seconds"], 1),
                    "cpu_model": session.get("cpu_model", cpu_model()), "cpu_capability": session["cpu_capability"],
                    "threads": session["threads"], "beside": beside, "session_from": session["from_epoch"]})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EPOCH_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows + new, key=lambda r: (r["attempt"], r["epoch"])))
    atomic_write_text(path, out.getvalue())
    return len(new)


def cost_table(results: Path) -> str:
    """Measured seconds per epoch of the width-1 search: every attempt's epochs (benchmarks/results/paper-epochs.csv)
    with the projection to 100 epochs, then the finished record's own sessions."""
    log_rows = read_epoch_log(results.parent / "benchmarks" / "results" / EPOCH_LOG)
    lines = ["| attempt | session from epoch | epochs measured | CPU | capability | threads | beside it | s/epoch (median) "
             "| min-max | 100 epochs, projected (h) |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    for r in log_rows:
        key = (r["attempt"], r["session_from"], r["cpu_model"], r["cpu_capability"], r["threads"], r["beside"])
        groups.setdefault(key, []).append(r)
    quiet = []  # the projected hours of the rows with nothing but light work beside
    for (attempt, session_from, model, capability, threads, beside), rs in groups.items():
        secs = np.array([r["seconds"] for r in rs])
        median = float(np.median(secs))
        hours = 100 * median / 3600
        if beside in QUIET:
            quiet.append(hours)
        lines.append(f"| {attempt} | {session_from or 'not recorded'} | {min(r['epoch'] for r in rs)}-{max(r['epoch'] for r in rs)} | {model} | "
                     f"{capability} | {threads} | {beside} | {median:.0f} | {secs.min():.0f}-{secs.max():.0f} | "
                     f"{hours:.1f} |")
    if not groups:
        lines = ["No epoch of the width-1 search has been measured yet."]
    if quiet:
        lines += ["", f"With nothing but light work beside it ({len(quiet)} of the rows above), 100 epochs take "
                  f"{min(quiet):.1f} to {max(quiet):.1f} h of a 2-core CPU at the measured median rates."]
    if (results / PAPER / "summary.json").exists():
        s = read_json(results / PAPER, "summary.json")
        lines += ["", f"The finished record: {s['epochs_done']} epochs, {s['wall_seconds'] / 3600:.1f} h of epochs "
                  f"({s['mean_epoch_seconds']:.0f} s per epoch on average) over {len(s.get('sessions') or [1])} "
                  f"session(s); its CPU capability: {s.get('cpu_capability', 'unknown')}."]
    return "\n".join(lines) + "\n"


TABLES = {"scale-report": report_table, "scale-widths": widths_table, "scale-picks": picks_table,
          "scale-cost": cost_table}


# ---- figures ---------------------------------------------------------------------------------------------

def against_report_figure(run_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "",
                          show: bool = False) -> list[Path]:
    """A search record's final softmax weights and raw alpha beside the original report's Tables 2 and 3.
    The report searched VGG11: another network's record draws nothing, and says so."""
    from . import figures as fig, layout, plots

    run_dir = Path(run_dir)
    raw, table = alpha_tables(run_dir)
    if layout.of(table).name != "vgg11":
        print(f"{run_dir} searched {layout.of(table).name.upper()}; the original report's Tables 2 and 3 are "
              "VGG11's, so there is nothing to set beside them.")
        return []
    side = plots.reference_side_by_side(table, raw, reference.REPORT_TABLE2, reference.REPORT_TABLE3,
                                        f"This implementation ({fig.provenance(run_dir)}) against the original "
                                        f"report (width 1, 100 epochs, original CIFAR-10)")
    return fig.finish(side, out_dir if out_dir is not None else run_dir / "figures", prefix + "against_report", show)


def figures(run_dir: str | Path, out_dir: str | Path = "figures", prefix: str = "paper_", show: bool = False) -> list[Path]:
    """The record's search figures and curves (``paper_*``; notebooks 02 and 03 draw the same with
    ``figure_prefix="paper_"``), and its Tables 2 and 3 beside the report's."""
    from . import figures as fig

    made = [p for paths in fig.search_figures(run_dir, out_dir, prefix, show).values() for p in paths]
    made += fig.curves_figure(run_dir, out_dir, prefix, show, reference.BEST_TEST_LINE)
    return made + against_report_figure(run_dir, out_dir, prefix, show)
