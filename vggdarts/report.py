"""The study's report, ``docs/report.md``: people write the prose, the package renders every table from
``results/``.  A table sits between ``<!-- table: NAME -->`` and ``<!-- /table -->``; :func:`update` re-renders
each one in place and :func:`stale` names those whose committed text differs from what the records give now
(the test suite calls it, so a number in the report cannot drift from its record).

    python -m vggdarts report            # re-render every table of docs/report.md from results/
    python -m vggdarts report --check    # exit 1 and name the stale tables
"""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Callable

import numpy as np

from . import reference, scale
from .files import atomic_write_text
from .rundir import alpha_tables, read_json, read_metrics

REPORT = Path("docs/report.md")
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)

# The unstated-settings probe against the records it is compared with (all seed-0 or the cpu seeds).
SIGNATURE_RUNS = ("search-cpu-seed0-awd", "search-cpu-seed0", "search-cpu-seed1", "search-cpu-seed2")


def signature_table(results: Path) -> str:
    """Per run: alpha's weight decay, the largest |alpha|, per block 6..8 the argmax and the rejected sources'
    spread, and the agreement with the report's Table 2; the report's own Table 3 first."""
    head = ["| run | alpha weight decay | max abs alpha | block 6: argmax, rejected spread | block 7 | block 8 "
            "| argmax as the report (blocks 4-8) | tau vs Table 2 | best test acc % |", "|---|---|---|---|---|---|---|---|---|"]

    def row(name, decay, raw, agree, tau, best):
        sig = reference.signature(raw)
        blocks = {r["block"]: r for r in sig["rows"]}
        cells = [f"{blocks[b]['argmax']}, {blocks[b]['rejected_spread']:.2f}" for b in (6, 7, 8)]
        return f"| {name} | {decay} | {sig['max_abs_alpha']:.2f} | {' | '.join(cells)} | {agree} | {tau} | {best} |"

    lines = head + [row("original report, Table 3", "unstated", reference.REPORT_TABLE3, "5 of 5", "+1.00",
                        f"{reference.REPORT_BEST_TEST_ACC:.2f} (original CIFAR-10)")]
    for name in SIGNATURE_RUNS:
        run = results / name
        raw, table = alpha_tables(run)
        config, summary = read_json(run, "config.json"), read_json(run, "summary.json")
        agree = reference.against_report(table, config.get("relaxation", "softmax"))
        lines.append(row(f"`{name}` (seed {config['seed']})", f"{config['alpha_weight_decay']:g}", raw,
                         f"{agree['argmax_agree']} of 5", f"{agree['tau']:+.2f}", f"{summary['best_test_acc']:.2f}"))
    return "\n".join(lines) + "\n"


_GT_CACHE: dict[tuple, dict] = {}


def _records_state(results: Path, dirs: list[Path]) -> tuple:
    """A key that changes whenever a file under ``dirs`` is added, removed or rewritten (a cache's key)."""
    files = sorted(p for d in dirs if d.is_dir() for p in d.rglob("*") if p.is_file())
    return str(results.resolve()), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def ground_truth_report(results: Path) -> dict:
    """The ground-truth report (``groundtruth.report``) over the search records that ``make run PRESET=results``
    scores (``notebooks/params/results.yaml``: one list for the notebook and the report), computed once per
    state of the records it reads (its several tables share it)."""
    import yaml

    from . import groundtruth

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "notebooks" / "params" / "results.yaml").read_text())
    runs = [results / Path(r).name for r in params["search_runs"]]
    record = results / Path(params["record_dir"]).name
    key = _records_state(results, [record, *runs])
    if key not in _GT_CACHE:
        _GT_CACHE.clear()
        _GT_CACHE[key] = groundtruth.report(record, runs, params["epochs"], width=params["width"],
                                            val_images=params["val_images"], device="cpu")
    return _GT_CACHE[key]


def _gt_table(render: str) -> Callable[[Path], str]:
    def table(results: Path) -> str:
        from . import groundtruth

        return getattr(groundtruth, render)(ground_truth_report(results)).replace(str(results) + "/", "") + "\n"

    table.__doc__ = f"groundtruth.{render} of the ground-truth report."
    return table


ground_truth_table = _gt_table("markdown")


_LADDER_CACHE: dict[tuple, dict] = {}


def ladder_report(results: Path) -> dict:
    """``ladder.report`` of the ground-truth record, computed once per state of the records it reads (the ladder's
    tables share it)."""
    from . import ladder

    record = results / "groundtruth-cpu"
    key = _records_state(results, [record, *(results / r for r in ladder.SCORED_RUNS)])
    if key not in _LADDER_CACHE:
        _LADDER_CACHE.clear()
        _LADDER_CACHE[key] = ladder.report(record, results)
    return _LADDER_CACHE[key]


def ladder_table(results: Path) -> str:
    """The fidelity ladder on its fixed subset (:mod:`vggdarts.ladder`), from whatever rows are recorded."""
    from . import ladder

    return ladder.markdown(ladder_report(results)) + "\n"


def ladder_verdicts_table(results: Path) -> str:
    """The study's findings read by rule at every rung (:mod:`vggdarts.ladder_verdicts`)."""
    from . import ladder_verdicts

    return ladder_verdicts.table(ladder_report(results)) + "\n"


def ladder_answers(results: Path) -> str:
    """The ladder's two questions (does R0's order predict the higher rungs'? does placement matter less?) in words."""
    from . import ladder_verdicts

    return ladder_verdicts.answers(ladder_report(results)) + "\n"


def ladder_reading(results: Path) -> str:
    """Which findings carry to the highest rung, which do not, which the subset cannot tell there."""
    from . import ladder_verdicts

    return ladder_verdicts.reading(ladder_report(results)) + "\n"


# ---- the searches -------------------------------------------------------------------------------------------

SEARCHES = ("search-cpu", "search-cpu-seed0", "search-cpu-seed1", "search-cpu-seed2", "search-cpu-softmax_none",
            "search-cpu-sigmoid", "search-cpu-gumbel", "search-cpu-second-fd", "search-cpu-second-exact",
            "search-cpu-seed0-awd")


def _threads(config: dict) -> str:
    return "not recorded" if "threads" not in config else str(config["threads"] or "all cores")


def search_records_table(results: Path) -> str:
    """One row per committed search record: what it ran and what its supernet reached (test read every epoch,
    reported only; the selection is the best epoch by val accuracy, the alpha half)."""
    lines = ["| record | relaxation | order | seed | alpha wd | epochs | threads | val acc % at best-val epoch "
             "| test acc % there | best test acc % (epoch) | final test acc % |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in SEARCHES:
        c, s = read_json(results / name, "config.json"), read_json(results / name, "summary.json")
        relaxation = c.get("relaxation", "softmax") + (f", w0 {c['zero_one_weight']:g}" if c.get("zero_one_weight") else "")
        order = c["order"] + (f" ({c.get('hvp', 'fd')})" if c["order"] == "second" else "")
        lines.append(f"| `{name}` | {relaxation} | {order} | {c['seed']} | {c.get('alpha_weight_decay', 0):g} | "
                     f"{s['epochs_done']} | {_threads(c)} | {s['best_val_acc']:.2f} (epoch {s['best_val_epoch']}) | "
                     f"{s['test_acc_at_best_val']:.2f} | {s['best_test_acc']:.2f} ({s['best_test_epoch']}) | "
                     f"{s['final_test_acc']:.2f} |")
    return "\n".join(lines) + "\n"


def alpha_markdown(table: np.ndarray, has_none: bool = False, digits: int = 4, bold: bool = True) -> str:
    """A table in the study's layout (rows i = destination block 3..n, columns j = source block; blank = not a
    candidate), the block's strongest choice in bold."""
    from . import layout

    lay = layout.of(table)
    cols = [str(j) for j in range(1, lay.n_sources + 1)] + (["none"] if has_none else [])
    lines = ["| i \\ j | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for i in lay.searched_blocks:
        allowed = list(lay.candidates[i]) + ([True] if has_none else [])
        best = max((v for v, ok in zip(table[i], allowed) if ok), default=None)
        cells = ["" if not ok else (f"**{v:.{digits}f}**" if bold and v == best else f"{v:.{digits}f}")
                 for v, ok in zip(table[i], allowed)]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_search_table(results: Path) -> str:
    """The first `cpu` search's final softmax weights (Table 2 layout) and raw alpha (Table 3 layout)."""
    raw, table = alpha_tables(results / "search-cpu")
    return ("Softmax weights (Table 2 layout), the block's strongest source in bold:\n\n" + alpha_markdown(table)
            + "\n\nRaw alpha (Table 3 layout):\n\n" + alpha_markdown(raw, bold=False) + "\n\nRow sums of raw alpha, "
            "blocks 3..8: " + ", ".join(f"{v:+.2f}" for v in raw[2:].sum(1)) + "\n")


def relaxation_tables(results: Path) -> str:
    """The final tables of the three relaxations besides softmax, each on its own scale."""
    from .relaxations import Relaxation

    out = []
    for name in ("softmax_none", "sigmoid", "gumbel"):
        run = results / f"search-cpu-{name}"
        relaxation = Relaxation(read_json(run, "config.json").get("relaxation", "softmax"))
        out.append(f"`{name}` ({relaxation.scale_label()}):\n\n"
                   + alpha_markdown(alpha_tables(run)[1], relaxation.has_none, digits=2, bold=not relaxation.independent))
    return "\n\n".join(out) + "\n"


def _agreement(results: Path, runs: dict[str, str], epoch: int | None = None, extra: dict[str, str] | None = None) -> str:
    from . import agreement

    rep = agreement.seed_agreement([results / r for r in runs.values()], list(runs), epoch)
    text = agreement.markdown(rep)
    for label, (a, b) in (extra or {}).items():
        pair = agreement.seed_agreement([results / a, results / b], epoch=epoch)
        text += f" {label}: {next(iter(pair['pairwise_tau'].values())):+.2f}."
    return text + "\n"


def seed_agreement_table(results: Path) -> str:
    return _agreement(results, {"seed 0": "search-cpu-seed0", "seed 1": "search-cpu-seed1", "seed 2": "search-cpu-seed2"},
                      extra={"Seed 0 against its rerun with 2 threads (`search-cpu`)": ("search-cpu-seed0", "search-cpu")})


def second_order_table(results: Path) -> str:
    return _agreement(results, {"first order": "search-cpu-seed0", "second order, fd": "search-cpu-second-fd",
                                "second order, exact": "search-cpu-second-exact"}, epoch=20,
                      extra={"After epoch 20, first order seed 0 against its 2-thread rerun": ("search-cpu-seed0", "search-cpu"),
                             "against seed 1": ("search-cpu-seed0", "search-cpu-seed1"),
                             "against seed 2": ("search-cpu-seed0", "search-cpu-seed2")})


# ---- derived architectures, retrained ------------------------------------------------------------------------

def _comparison(results: Path, folders: dict[str, str], keep=None) -> str:
    from . import compare

    rows = compare.collect_many({label: results / folder for label, folder in folders.items()})
    rows = [r for r in rows if keep is None or r["method"] in keep]
    return compare.markdown_table(compare.aggregate(rows)) + "\n"


def compare_cpu_table(results: Path) -> str:
    return _comparison(results, {"": "compare-cpu"})


def compare_20ep_table(results: Path) -> str:
    return _comparison(results, {"": "compare-cpu-20ep"})


BASELINES = ("all", "random", "none")


def relaxations_retrained_table(results: Path) -> str:
    folders = {"": "compare-cpu", "softmax_none": "compare-cpu-softmax_none", "sigmoid": "compare-cpu-sigmoid",
               "gumbel": "compare-cpu-gumbel", "softmax (seed-0 rerun)": "compare-cpu-seed0"}
    keep = BASELINES + ("softmax_none/argmax", "sigmoid/threshold", "sigmoid/argmax", "gumbel/argmax",
                        "softmax (seed-0 rerun)/argmax")
    return _comparison(results, folders, keep)


def perturbation_retrained_table(results: Path) -> str:
    keep = BASELINES + ("argmax", "seed-0 rerun/argmax", "seed-0 rerun/perturbation")
    return _comparison(results, {"": "compare-cpu", "seed-0 rerun": "compare-cpu-seed0"}, keep)


# ---- deeper networks: the question asked of VGG16 ----------------------------------------------------------

DEEPER = {"search": "search-vgg16-cpu", "compare": "compare-vgg16-cpu", "shallow": "search-cpu-seed0"}
DEEPER_COMMANDS = ("make run PRESET=vgg16-cpu RUN_DIR=runs/vgg16-cpu",
                   "python -m vggdarts export --run-dir runs/vgg16-cpu --out results/search-vgg16-cpu",
                   "python -m vggdarts export --run-dir runs/vgg16-cpu/compare --out results/compare-vgg16-cpu")


def _not_yet(what: str) -> str:
    return f"Not yet recorded: {what}. The records are made by\n\n" + "".join(f"    {c}\n" for c in DEEPER_COMMANDS)


def deeper_search_table(results: Path) -> str:
    """Where VGG16's search puts its shortcuts against VGG11's search of the same preset and seed: argmax per
    block by relative depth, and the weight each resolution stage draws from each earlier one."""
    from . import depth

    deep_run, shallow_run = results / DEEPER["search"], results / DEEPER["shallow"]
    if not (deep_run / "alpha.npz").exists():
        return _not_yet(f"`{deep_run.name}`")
    deep, shallow = alpha_tables(deep_run)[1], alpha_tables(shallow_run)[1]
    config, summary = read_json(deep_run, "config.json"), read_json(deep_run, "summary.json")
    names = (f"{config['net'].upper()} (`{deep_run.name}`)", f"VGG11 (`{shallow_run.name}`)")
    recorded = len(np.load(deep_run / "alpha.npz")["weights"])
    epochs = f"{config['epochs']}" if recorded == config["epochs"] else f"{recorded} of {config['epochs']}"
    head = (f"{names[0]}: {epochs} epochs, width {config['width']:g}, seed {config['seed']}, "
            f"{config['relaxation']}, {summary['mean_epoch_seconds']:.0f} s per epoch (threads: {_threads(config)}); test acc at "
            f"the best val epoch {summary['test_acc_at_best_val']:.2f}%, final {summary['final_test_acc']:.2f}% "
            f"({summary['dataset_used']}).")
    return "\n\n".join([head, depth.markdown(depth.by_relative_depth(deep, shallow), *names),
                         depth.flow_markdown(deep, shallow, *names)]) + "\n"


DEEPER_PICKS, DEEPER_BASELINES = ("argmax", "threshold", "perturbation"), ("none", "all", "resnet")


def deeper_reading(results: Path) -> str:
    """The "Deeper networks" reading in words, from the records: where the deeper search's argmax puts its
    shortcuts against VGG11's, then every pick against every baseline with the comparison's paired statistics."""
    deep_run, sweep = results / DEEPER["search"], results / DEEPER["compare"]
    if not (deep_run / "alpha.npz").exists():
        return _not_yet(f"`{deep_run.name}`")
    where = _deeper_where(deep_run, results / DEEPER["shallow"])
    if not (sweep / "comparison.csv").exists():
        return where + "\n\n" + _not_yet(f"`{sweep.name}`")
    return where + "\n\n" + _deeper_against(sweep)


def _deeper_where(deep_run: Path, shallow_run: Path) -> str:
    """depth.pick_summary of both searches' argmax (the block-by-block comparison is the table above)."""
    from . import depth

    deep, shallow = alpha_tables(deep_run)[1], alpha_tables(shallow_run)[1]
    net = read_json(deep_run, "config.json")["net"].upper()
    d, s = depth.pick_summary(deep), depth.pick_summary(shallow)

    kept = (f"Both searches' argmax take a source into every searched block ({net}: {d['blocks']}, VGG11: "
            f"{s['blocks']})." if d["kept"] == d["blocks"] and s["kept"] == s["blocks"] else
            f"{net}'s argmax keeps a shortcut into {d['kept']} of its {d['blocks']} searched blocks (VGG11: "
            f"{s['kept']} of {s['blocks']}).")

    def span(p):
        return "no shortcut kept" if p["span"] is None else f"{p['span']:.1f} blocks, {p['relative_span']:.2f} of the depth"

    return (f"**Where.** {kept} Of the {d['choice']} blocks with a choice of "
            f"source, {d['shortest']} take x_(i-2), the nearest eq. (1) allows (VGG11: {s['shortest']} of "
            f"{s['choice']}). {net}'s shortcuts span {span(d)} on average (VGG11: {span(s)}). Its rows are "
            f"{'less' if d['decided'] < s['decided'] else 'more'} decided: on a scale from 0 (a uniform row) to 1 "
            f"(all weight on one source), the blocks with a choice average {d['decided']:.2f} (VGG11: "
            f"{s['decided']:.2f}).")


def _deeper_against(sweep: Path) -> str:
    """compare.against of every recorded pick and baseline as a table and in words, and which are one network."""
    from . import compare, derive

    rows = compare.collect_many({"": sweep})
    methods = {r["method"] for r in rows if r["status"] == "ok"}
    picks = [m for m in DEEPER_PICKS if m in methods]
    missing = [m for m in DEEPER_PICKS if m not in methods]
    if not picks:
        return f"No pick retrained yet ({', '.join(f'`{m}`' for m in missing)}): nothing to set against the baselines.\n"
    pairs = compare.against(rows, picks, [b for b in DEEPER_BASELINES if b in methods])
    table = ["| pick | against | seeds paired | Δ test, paired [95% CI] | verdict |", "|---|---|---|---|---|"]
    table += [f"| {p['pick']} | {p['baseline']} | {p['n']} | {p['diff']} | {p['verdict']} |" for p in pairs]
    told = [p for p in pairs if p["verdict"] != "cannot tell"]
    n = min((p["n"] for p in pairs), default=0)
    masks = {m: derive.load_mask(sweep / "archs" / f"{m}.json")[0] for m in picks + list(DEEPER_BASELINES)
             if (sweep / "archs" / f"{m}.json").exists()}
    same = [f"`{a}` and `{b}`" for a, b in itertools.combinations(masks, 2) if np.array_equal(masks[a], masks[b])]
    words = [f"**Picks against baselines** ({len(pairs)} pairs, at most {max((p['n'] for p in pairs), default=0)} "
             f"seeds each; each interval at 95%, not corrected for the {len(pairs)} comparisons, as in the "
             "comparison table)."]
    words.append("Told from seed noise: " + "; ".join(
        f"`{p['pick']}` {p['verdict']} than `{p['baseline']}` ({p['diff']})" for p in told) + "." if told
        else "No pick can be told from any baseline.")
    if len(told) < len(pairs):
        words.append(f"{'The rest' if told else 'These'} cannot be told from seed noise, which is not evidence "
                     "that they are equal.")
    if n >= 2:
        words.append(f"With {n} seeds the t interval has {n - 1} degree{'s' if n != 2 else ''} of freedom, so only "
                     "a difference that every seed repeats closely is told.")
    if same:
        words.append(f"Same network: {', '.join(same)}.")
    if missing:
        words.append(f"Not retrained yet: {', '.join(f'`{m}`' for m in missing)}.")
    return "\n".join(table) + "\n\n" + " ".join(words) + "\n"


DEEPER_RETRAIN_BASE = "compare-cpu-sigmoid/argmax/seed0"  # a VGG11 cpu retrain recorded at 1 thread


def deeper_cost_table(results: Path) -> str:
    """What each deeper VGG costs against VGG11 (benchmarks/bench_depth.py): the search iteration, the costliest
    retrain step (every candidate shortcut), the projected cpu search from a VGG11 record's median epoch, and
    what the vgg16-cpu preset (the search, then 2 x 6 retrains two at a time) needs in all."""
    b = _bench(results, "depth-cpu.json")
    rows = [f"| {n.upper()} | {r['blocks']} | {r['macs_over_vgg11']:.2f}x | {r['first_over_vgg11']:.2f}x | "
            f"{r['retrain_all_over_vgg11']:.2f}x | {r['projected_epoch_s']:.0f} s | {r['projected_search_h']:.1f} h |"
            for n, r in b["nets"].items()]
    v16, retrain = b["nets"]["vgg16"], read_json(results / DEEPER_RETRAIN_BASE, "summary.json")["wall_seconds"]
    most = v16["retrain_all_over_vgg11"] * retrain
    total = v16["projected_search_h"] + 6 * most / 3600
    return (f"Measured by `benchmarks/bench_depth.py` ({b['capability']}, {b['threads']} thread, width {b['width']:g}, "
            f"batch {b['batch_size']}, median of {b['rounds']} round-robin rounds, synthetic images); the projection "
            f"multiplies the search ratio by `{Path(b['vgg11_record']).name}`'s median epoch, "
            f"{b['vgg11_median_epoch_s']:.1f} s, over {b['epochs']} epochs.\n\n"
            "| network | blocks | MACs | search iteration | retrain step, all shortcuts | search epoch | search |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"For `vgg16-cpu`: the search {v16['projected_search_h']:.1f} h of one core, then twelve retrains of at "
            f"most {most / 60:.0f} min each ({v16['retrain_all_over_vgg11']:.2f}x `{DEEPER_RETRAIN_BASE}`'s "
            f"{retrain / 60:.1f} min at 1 thread), two at a time: at most {total:.1f} h of the 2-core machine."
            + _deeper_cost_measured(results, v16["projected_epoch_s"], most) + "\n")


def _deeper_cost_measured(results: Path, projected_epoch_s: float, most_s: float) -> str:
    """The projection against what the VGG16 records took (empty before they exist): the search's median epoch,
    and each retrain's epochs times its mean epoch, with the threads and CPU they ran on."""
    search, sweep = results / DEEPER["search"], results / DEEPER["compare"]
    retrains = sorted(sweep.glob("*/seed*/summary.json"))
    if not (search / "summary.json").exists() or not retrains:
        return ""
    epochs = [r["seconds"] for r in read_metrics(search)]
    summaries = [read_json(f.parent, "summary.json") for f in retrains]
    minutes = [s["mean_epoch_seconds"] * s["epochs_done"] / 60 for s in summaries]
    runs = [read_json(search, "summary.json"), *summaries]
    machines = sorted({f"{r.get('threads', '?')} thread{'' if r.get('threads') == 1 else 's'}, "
                       f"{r.get('cpu_model', 'unknown CPU')}" for r in runs})
    over = sum(m > most_s / 60 for m in minutes)
    return (f" Measured in the records ({'; '.join(machines)}; they do not say what else shared the cores): the "
            f"search's median epoch {np.median(epochs):.0f} s against the projected {projected_epoch_s:.0f} s, and "
            f"the {len(minutes)} retrains {min(minutes):.1f} to {max(minutes):.1f} min each"
            + (f", {over} of them over the projected bound." if over else ", within the projected bound."))


def deeper_compare_table(results: Path) -> str:
    if not (results / DEEPER["compare"] / "comparison.csv").exists():
        return _not_yet(f"`{DEEPER['compare']}`")
    return _comparison(results, {"": DEEPER["compare"]})


# ---- measurements in benchmarks/results ----------------------------------------------------------------------

def _bench(results: Path, name: str) -> dict:
    return json.loads((results.parent / "benchmarks" / "results" / name).read_text())


def perturbation_picks_table(results: Path) -> str:
    rec = _bench(results, "perturbation-bn-seed0.json")

    def sources(mask):
        return [next((j + 1 for j in range(6) if mask[i][j]), "none") for i in range(2, 8)]

    lines = ["| selection on `search-cpu-seed0` | 3 | 4 | 5 | 6 | 7 | 8 |", "|---|---|---|---|---|---|---|"]
    picks = {"argmax of alpha": sources(rec["argmax"]),
             "perturbation, running BN statistics (old)": sources(rec["running_statistics"]["mask"]),
             "perturbation, batch statistics (fixed)": sources(rec["batch_statistics"]["mask"])}
    for label, row in picks.items():
        cells = [f"**{v}**" if len({p[k] for p in picks.values()}) > 1 else str(v) for k, v in enumerate(row)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    drops = {m["block"]: m["drop_by_source"] for m in rec["batch_statistics"]["measurements"]}
    lines += ["", "Accuracy drop (points) of the supernet when the kept edge is removed, batch statistics: "
              + "; ".join(f"block {b}: {max(d.values()):.1f}" for b, d in drops.items()) + "."]
    return "\n".join(lines) + "\n"


def hvp_table(results: Path) -> str:
    rec = _bench(results, "hvp-cpu.json")
    lines = ["| point | fd (float32, eps = 0.01/‖v‖): relative error of the alpha gradient | cosine(fd, exact) "
             "| exact in float32: relative error | ‖second-order term‖ / ‖gradient‖ |", "|---|---|---|---|---|"]
    for r in rec["summary"]:
        point = "initialisation" if r["epoch"] == 0 else f"after epoch {r['epoch']}"
        lines.append(f"| {point} | {r['median_fd_rel_error']:.2f} | {r['median_fd_cosine']:.3f} | "
                     f"{r['median_exact32_rel_error']:.2g} | {r['median_second_order_share']:.2f} |")
    lines += ["", f"Medians over {len(rec['rows']) // len(rec['summary'])} (train, val) batch pairs of "
              f"{rec['batch_size']} at each point ({rec['dataset']}, width {rec['width']:g}, {rec['threads']} thread). "
              "Time per search step relative to a plain training step: "
              + ", ".join(f"{k} {rec[f'{k}_over_plain']:.2f}x" for k in ("first", "fd", "exact")) + "."]
    return "\n".join(lines) + "\n"


def bench_table(results: Path) -> str:
    lines = ["| width | threads | matmul GFLOP/s | plain step img/s | first-order / plain | second-order / plain "
             "| data share of a step | plain step / matmul rate |", "|---|---|---|---|---|---|---|---|"]
    for name in ("cpu-width1.json", "cpu-width0.25.json"):
        r = _bench(results, name)
        lines.append(f"| {r['width']:g} | {r['threads']} | {r['matmul_gflops']:.1f} | {r['plain_img_s']:.1f} | "
                     f"{r['first_over_plain']:.2f}x | {r['second_over_plain']:.2f}x | "
                     f"{100 * r['data_share_of_first_order_step']:.1f}% | {100 * r['plain_over_matmul']:.0f}% |")
    return "\n".join(lines) + "\n"


def cpu_modes_table(results: Path) -> str:
    r = _bench(results, "cpu-modes-width0.25.json")
    eager = r["modes"]["eager"]["first_order_img_s"]
    lines = [f"| mode (CPU, width {r['width']:g}, {r['threads']} thread) | first-order img/s | vs eager | plain img/s "
             "| set-up (first call) |", "|---|---|---|---|---|"]
    for mode, m in r["modes"].items():
        lines.append(f"| {mode} | {m['first_order_img_s']:.0f} | {m['first_order_img_s'] / eager:.2f}x | "
                     f"{m['plain_img_s']:.0f} | {m['first_call_s']:.0f} s |")
    return "\n".join(lines) + "\n"


def executors_table(results: Path) -> str:
    r = _bench(results, "executors-cpu.json")
    return ("| jobs | preset | cores | inline s | local pool s | local / inline |\n|---|---|---|---|---|---|\n"
            f"| {r['jobs']} | {r['preset']} | {r['cores']} | {r['inline_seconds']:.1f} | {r['local_seconds']:.1f} | "
            f"{r['local_over_inline']:.2f} |\n")


def fidelity_table(results: Path) -> str:
    from . import groundtruth

    rows = groundtruth.read_records(results / "groundtruth-cpu" / "groundtruth.csv")
    mean8, seeds8 = groundtruth.mean_accuracy(rows, 8, width=0.25), groundtruth.per_seed(rows, 8, width=0.25)
    seeds20 = groundtruth.per_seed(rows, 20, width=0.25)
    origin = groundtruth.archs_origin(rows)
    long = seeds20.get(0, {})
    lines = ["| architecture | 8 ep, mean of the seeds | 8 ep, seed 0 | 20 ep, seed 0 | 20 ep minus the 8-ep mean |",
             "|---|---|---|---|---|"]
    for arch in sorted(long, key=long.get):
        label = next((f"`{b}`" for b in ("none", "resnet", "all") if b in origin.get(arch, [])), "sample")
        lines.append(f"| {label} ({arch}) | {mean8[arch]:.2f} | {seeds8[0][arch]:.2f} | {long[arch]:.2f} | "
                     f"{long[arch] - mean8[arch]:+.2f} |")
    return "\n".join(lines) + "\n"


def below_none_table(results: Path) -> str:
    """How many stand-alone architectures, sampled ones and picks, train below plain VGG11 (`none`)."""
    from . import groundtruth

    rows = groundtruth.read_records(results / "groundtruth-cpu" / "groundtruth.csv")
    truth, origin = groundtruth.mean_accuracy(rows, 8, width=0.25), groundtruth.archs_origin(rows)
    none = truth["a000000"]
    sampled = [a for a in truth if any(o.startswith("sample") for o in origin[a])]
    picks = [a for a in truth if a not in sampled and not {"none", "resnet", "all"} & set(origin[a])]
    below = lambda archs: [a for a in archs if truth[a] < none]  # noqa: E731
    return (f"| architectures (8 epochs, mean val acc) | trained | below `none` ({none:.2f}) |\n|---|---|---|\n"
            f"| sampled from the Figure-3 space | {len(sampled)} | {len(below(sampled))} |\n"
            f"| picked by a derivation method (and not a baseline) | {len(picks)} | {len(below(picks))} |\n")


TABLES: dict[str, Callable[[Path], str]] = {
    "search-records": search_records_table, "cpu-search": cpu_search_table, "seed-agreement": seed_agreement_table,
    "compare-cpu": compare_cpu_table, "compare-cpu-20ep": compare_20ep_table, "relaxation-tables": relaxation_tables,
    "relaxations-retrained": relaxations_retrained_table, "hvp": hvp_table, "second-order": second_order_table,
    "perturbation-picks": perturbation_picks_table, "perturbation-retrained": perturbation_retrained_table,
    "ground-truth": ground_truth_table, "ground-truth-rules": _gt_table("rules_markdown"),
    "ground-truth-paired": _gt_table("paired_markdown"), "ground-truth-picks": _gt_table("picks_markdown"),
    "ladder": ladder_table, "ladder-answers": ladder_answers, "ladder-verdicts": ladder_verdicts_table, "ladder-reading": ladder_reading,
    "deeper-search": deeper_search_table, "deeper-compare": deeper_compare_table, "deeper-reading": deeper_reading,
    "deeper-cost": deeper_cost_table, "fidelity": fidelity_table, "below-none": below_none_table, "unstated-settings": signature_table,
    "bench-search": bench_table, "cpu-modes": cpu_modes_table, "executors": executors_table, **scale.TABLES}


def _render(text: str, results: Path) -> str:
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"docs/report.md names a table {name!r} that vggdarts.report does not render; "
                           f"known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name](results) + m.group(4)

    return BLOCK.sub(one, text)


def stale(path: str | Path = REPORT, results: str | Path = "results") -> list[str]:
    """The tables of ``path`` whose text differs from a fresh rendering from ``results`` (and the benchmark
    export, named ``benchmark-export``, when it differs from what the ground-truth record gives)."""
    from . import benchmark

    text = Path(path).read_text()
    fresh = {m.group("name"): m.group("body") for m in BLOCK.finditer(_render(text, Path(results)))}
    names = [m.group("name") for m in BLOCK.finditer(text) if fresh[m.group("name")] != m.group("body")]
    record = Path(results) / "groundtruth-cpu"
    if (record / "groundtruth.csv").exists():
        export = record / benchmark.EXPORT_FILE
        current = json.dumps(benchmark.build(record), indent=1, sort_keys=True) + "\n"
        if not export.exists() or export.read_text() != current:
            names.append("benchmark-export")
    return names


def update(path: str | Path = REPORT, results: str | Path = "results") -> list[str]:
    """Re-render every table of ``path`` in place; returns the names that changed."""
    changed = [n for n in stale(path, results) if n != "benchmark-export"]
    if changed:
        atomic_write_text(path, _render(Path(path).read_text(), Path(results)))
    return changed
