"""Figures of a run directory, with provenance: what notebooks 02-04 and ``make figures`` call."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import derive, layout, plots
from .config import PRESETS, field_defaults, make_config
from .relaxations import Relaxation
from .rundir import alpha_tables, read_json, read_metrics

IGNORED_FOR_PRESET = ("dataset", "data_root", "seed", "arch", "relaxation", "zero_one_weight", "tau_max", "tau_min",
                      "gumbel_hard", "order", "hvp", "net")  # where/which run, the method and network (shown apart)


def infer_preset(record: dict) -> str:
    """The preset whose settings the recorded config matches (data location aside), else 'custom'.  A field
    the record predates counts as the value it had then (``config.field_defaults``)."""
    job = record.get("job", "search")
    for name in PRESETS[job]:
        overrides = {"arch": "any"} if job == "retrain" else {}
        config = make_config(job, name, overrides)
        then = field_defaults(config)
        reference = config.decision_fields()
        if all(record.get(k, then[k]) == v for k, v in reference.items() if k not in IGNORED_FOR_PRESET):
            return name
    return "custom"


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def provenance(run_dir: str | Path) -> str:
    """'CIFAR-10 (JPEG copy) | preset cpu | width 0.25 | 50 epochs | first-order' for titles (another network than
    VGG11 named after the data set: 'CIFAR-10 (JPEG copy) | VGG16 | preset cpu | ...')."""
    c = read_json(run_dir, "config.json")
    done = len(read_metrics(run_dir)) if (Path(run_dir) / "metrics.csv").exists() else 0
    epochs = f"{done}/{_epochs(c['epochs'])}" if done != c["epochs"] else _epochs(c["epochs"])
    net = c.get("net", layout.DEFAULT)
    parts = [c["dataset_used"], *([net.upper()] if net != layout.DEFAULT else []), f"preset {infer_preset(c)}",
             f"width {c['width']:g}", epochs]
    if c.get("job") == "search":
        parts.append(f"{c['order']}-order DARTS")
        if c.get("relaxation", "softmax") != "softmax":
            parts.append(c["relaxation"])
    return " | ".join(parts)


def finish(fig, out_dir, name: str, show: bool) -> list[Path]:
    """Save a figure (PNG + PDF), then display it inline (notebooks) or just free it."""
    paths = plots.save(fig, out_dir, name)
    if show:
        from .display import show as display

        display(fig, f"{name} ({paths[0]})" if paths else name)
    else:
        plots.plt.close(fig)
    return paths


def search_figures(run_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "",
                   show: bool = False) -> dict[str, list[Path]]:
    """Alpha heatmaps, trajectories and the Figure 1 / Figure 3 diagrams of a search run."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "figures"
    info, cfg = provenance(run_dir), read_json(run_dir, "config.json")
    relaxation = Relaxation(cfg.get("relaxation", "softmax"))
    with np.load(run_dir / "alpha.npz") as z:  # full precision (the CSVs are rounded for people)
        raw, weights, history = z["raw"][-1], z["weights"][-1], z["weights"]
    lay = layout.get(cfg.get("net"))
    channels = lay.scaled_channels(cfg["width"])
    scale = relaxation.scale_label()
    kind = "sigmoid gates" if relaxation.independent else "Softmax weights"
    study = lay.name == layout.DEFAULT  # the original study's tables and figures are VGG11's

    def cf(what: str) -> str:
        return f" (cf. study {what})" if study else ""

    made = {}
    figures = {
        "alpha_raw_heatmap": lambda: plots.alpha_heatmap(raw, "raw", f"Raw alpha{cf('Table 3')}\n{info}"),
        "alpha_weights_heatmap": lambda: plots.alpha_heatmap(
            weights, "weights", f"{kind} of alpha{cf('Table 2')}\n{info}", scale),
        "alpha_trajectories": lambda: plots.alpha_trajectories(
            history, f"Shortcut weights during the search\n{info}", scale.split(" (")[0], relaxation.independent),
        "architecture_all_candidates": lambda: plots.architecture(
            weights, f"All {lay.n_candidates} candidate shortcuts, arc strength = {scale.split(' (')[0]}{cf('Figure 1')}\n{info}",
            channels),
        "architecture_argmax": lambda: plots.architecture(
            weights[:, :lay.n_sources] * derive.argmax(weights),
            f"Strongest shortcut into each block 3-{lay.n_blocks} (argmax{'; cf. study Figure 3' if study else ''}), arc strength = its weight\n"
            f"{info}",
            channels),
    }
    for name, make in figures.items():
        made[name] = finish(make(), out_dir, prefix + name, show)
    return made


def curves_figure(run_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "",
                  show: bool = False, reference: tuple[float, str] | None = None) -> list[Path]:
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "figures"
    fig = plots.curves(read_metrics(run_dir), f"Search accuracy and loss per epoch (cf. study Figure 2)\n"
                                               f"{provenance(run_dir)}", reference)
    return finish(fig, out_dir, prefix + "accuracy_curves", show)


def hvp_error_figure(record: str | Path, out_dir: str | Path, show: bool = False) -> list[Path]:
    """The second-order gradient's error against float64 (hvp_error), from benchmarks/bench_hvp.py's recorded
    JSON: what the benchmark measured, redrawn without rerunning it.  An empty ``record`` draws nothing."""
    if not record:
        return []
    path = Path(record)
    if not path.exists():
        raise FileNotFoundError(f"no HVP benchmark record {path}: run benchmarks/bench_hvp.py --out {path} first, "
                                "or leave hvp_record empty")
    recorded = json.loads(path.read_text())
    return finish(plots.hvp_error_figure(recorded["rows"], recorded.get("dataset", "")), out_dir, "hvp_error", show)


def comparison_figure(compare_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "",
                      show: bool = False) -> list[Path]:
    from .compare import aggregate, collect

    compare_dir = Path(compare_dir)
    rows = collect(compare_dir, write=False)
    if not rows:
        raise FileNotFoundError(f"no finished retrains under {compare_dir}; run the comparison first")
    first = next(compare_dir.glob("*/seed*/config.json")).parent
    seeds = sorted({r["seed"] for r in rows})
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds))
    title = (f"Derived architectures retrained from scratch, test accuracy over {seed_text}\n"
             f"{provenance(first).rsplit(' | ', 1)[0]} | {_epochs(rows[0]['epochs'])} each")
    fig = plots.comparison(aggregate(rows), title)
    return finish(fig, Path(out_dir) if out_dir is not None else compare_dir / "figures", prefix + "comparison", show)


def _derived_from(record: dict, search_run: str | Path | None) -> str:
    """The search a mask record was derived from, where it is now: its recorded run directory, that directory's
    export under results/ by the same name, else ``search_run`` (the search the caller derived it from, e.g. a
    run exported under another name); "" when none exists."""
    recorded = record.get("run", "")
    places = [recorded, Path("results") / Path(recorded).name] if recorded else []
    return next((str(p) for p in [*places, search_run] if p and (Path(p) / "config.json").exists()), "")


def architecture_figures(compare_dir: str | Path, out_dir: str | Path | None = None, prefix: str = "",
                         show: bool = False, search_run: str | Path | None = None) -> dict[str, list[Path]]:
    """One diagram per derived architecture (compare_dir/archs/*.json), titled with the search it came from."""
    compare_dir = Path(compare_dir)
    out_dir = Path(out_dir) if out_dir is not None else compare_dir / "figures"
    made = {}
    for path in sorted((compare_dir / "archs").glob("*.json")):
        mask, record = derive.load_mask(path)
        origin = _derived_from(record, search_run)
        info = provenance(origin) if origin else ""
        width = read_json(origin, "config.json")["width"] if origin else 1.0
        params = ", ".join(f"{k}={v}" for k, v in (record.get("params") or {}).items() if v is not None)
        title = (f"{path.stem}{f' ({params})' if params else ''}: {int(mask.sum())} shortcuts, arc = the derived "
                 f"network's weight (1/k for k shortcuts into a block)\nderived from: {info}")
        fixed_weights = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        fig = plots.architecture(fixed_weights, title, layout.of(mask).scaled_channels(width))
        made[path.stem] = finish(fig, out_dir, f"{prefix}arch_{path.stem}", show)
    return made


def final_table(run_dir: str | Path, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray, Relaxation]:
    """(raw alpha, relaxed table, relaxation) of a search run after ``epoch`` (None: the last), full precision."""
    relaxation = Relaxation(read_json(run_dir, "config.json").get("relaxation", "softmax"))
    return (*alpha_tables(run_dir, epoch), relaxation)


def print_tables(run_dir: str | Path) -> None:
    """Print a run's final raw alpha and relaxed table (rows: block i; columns: source j, then none)."""
    raw, table, relaxation = final_table(run_dir)
    columns = f"columns: source j = 1..{layout.of(raw).n_sources}" + (", none" if relaxation.has_none else "")
    fixed = dict(precision=4, suppress_small=True, floatmode="fixed", max_line_width=120)  # 0.0004, not 4.000e-04
    print(f"{provenance(run_dir)}\nraw alpha (rows: block i, {columns})\n{np.array2string(raw, **fixed)}")
    print(f"{relaxation.scale_label()}\n{np.array2string(table, **fixed)}")
    print("strongest shortcut into each block (argmax" + (", none allowed" if relaxation.has_none else "") + "):")
    print(derive.format_mask(derive.argmax(table)))


def tables_figure(run_dirs, out_dir: str | Path | None = None, name: str = "relaxations",
                  show: bool = False, epoch: int | None = None) -> list[Path]:
    """The relaxed tables of several search runs side by side (e.g. one per relaxation, or per gradient order),
    after ``epoch`` (None: each run's last)."""
    run_dirs = [Path(r) for r in run_dirs]
    tables, titles, scales = [], [], []
    for run in run_dirs:
        _, table, relaxation = final_table(run, epoch)
        cfg = read_json(run, "config.json")
        extra = f", w0={cfg['zero_one_weight']:g}" if relaxation.independent and cfg.get("zero_one_weight") else ""
        order = f", {cfg.get('order', 'first')} order" + (f" ({cfg['hvp']})" if cfg.get("order") == "second" else "")
        tables.append(table)
        titles.append(f"{relaxation.name}{extra}{order}\n{run.name}")
        scales.append(relaxation.scale_label())
    info = provenance(run_dirs[0]).split(" | ")
    when = "Final shortcut weights" if epoch is None else f"Shortcut weights after epoch {epoch}"
    fig = plots.tables_side_by_side(tables, titles, scales,
                                    f"{when} ({', '.join(info[:3])}, seed "
                                    f"{read_json(run_dirs[0], 'config.json')['seed']})")
    return finish(fig, out_dir if out_dir is not None else run_dirs[0] / "figures", name, show)


def ladder_figure(record_dir: str | Path, out_dir: str | Path = "figures", show: bool = False) -> list[Path]:
    """The fidelity ladder of a ground-truth record (ground_truth_ladder): every subset architecture's mean val
    accuracy per rung, and its rank at each higher rung against R0's; nothing when the record has no ladder."""
    from . import ladder

    if not (Path(record_dir) / ladder.SUBSET_FILE).exists():
        print(f"{record_dir} has no fidelity ladder ({ladder.SUBSET_FILE}): no ladder figure")
        return []
    archs, role, truths, rows = ladder.standings(record_dir)
    labels = {k: ladder.rung_name(ladder.RUNGS[k]) for k in truths}
    means = {labels[k]: t["mean"] for k, t in truths.items()}
    marked = {a: r.strip("`") for a, r in role.items() if r != "sample"}
    dataset = next(iter({r["dataset"] for r in rows if r["arch_id"] in archs}), "")
    counts = ", ".join(f"{k} {len(t['mean'])} of {len(archs)}" for k, t in truths.items())
    title = f"The fidelity ladder on {len(archs)} architectures ({counts} trained), {dataset}"
    return finish(plots.ladder(means, list(means), marked, title), out_dir, "ground_truth_ladder", show)


def ground_truth_figures(rep: dict, out_dir: str | Path = "figures", show: bool = False) -> list[Path]:
    """The ground-truth report's figures: every (score, search run) against the stand-alone truth, the
    architectures outside the Figure-3 space in red (ground_truth_scores), all taus with CIs against chance
    and the noise ceiling (ground_truth_tau), the seed and budget agreement of the truth itself
    (ground_truth_ceiling), and the set ranked, picks marked (ground_truth_set)."""
    truth_label = f"stand-alone mean val acc (%), {rep['epochs']} ep"
    marked: dict[str, list[str]] = {}
    for origin, entries in sorted(rep["picks"].items()):
        for p in entries:
            marked.setdefault(p["arch_id"], []).append(origin)
    outside = {a: min(marked.get(a, [a]), key=len) for a in rep["outside_figure3"]}  # none, all, threshold picks
    baselines = {a: o for a, os_ in marked.items() for o in os_ if o in ("none", "resnet", "all")}
    axis = {"alpha": "alpha score: log-probability of the architecture under the final alpha",
            "one-shot": "one-shot score: supernet val acc (%) with the mask imposed"}
    panels = []
    for run, info in rep["runs"].items():
        for score, values in info["scores"].items():
            subset = next(k for k in ("whole set", "Figure-3 space", "sampled") if info["agreement"][score][k]) \
                if any(info["agreement"][score].values()) else None
            if subset is None:
                continue
            ids = rep["subsets"][subset]
            panels.append({"title": f"{Path(run).name}: {score} ({subset})", "x": {a: values[a] for a in ids},
                           "y": rep["truth"], "xlabel": axis.get(score, score), "ylabel": truth_label,
                           "agreement": info["agreement"][score][subset],
                           "marked": {a: o for a, o in baselines.items() if a in ids}})
    truth_text = f"truth: width {rep['width']:g}, {rep['epochs']} epochs, {rep['dataset']}"
    paths = finish(plots.paired_scatter(panels, f"Each score against the stand-alone {truth_text}"), out_dir,
                   "ground_truth_scores", show)

    def columns(agreement: dict, subsets) -> dict:
        return {f"{k} ({agreement[k]['n']})": agreement[k]["tau"] for k in subsets if agreement.get(k) is not None}

    sources = [(f"{Path(run).name}: {score}", a) for run, info in rep["runs"].items()
               for score, a in info["agreement"].items()]
    sources += [(f"control: {score}", a) for score, a in rep["controls"]["agreement"].items()]
    for name, subsets, chance in (("ground_truth_tau", ("Figure-3 space",), rep["chance_tau_figure3"]),
                                  ("ground_truth_tau_subsets", ("Figure-3 space", "sampled", "whole set"),
                                   rep["chance_tau"])):
        rows = [(label, columns(a, subsets)) for label, a in sources if columns(a, subsets)]
        where = "the Figure-3 space" if len(subsets) == 1 else "each subset (chance: whole set)"
        fig = plots.tau_intervals(rows, (float(np.percentile(chance, 2.5)), float(np.percentile(chance, 97.5))),
                                  rep["ceiling_for_mean"], rep["ceiling"]["tau"].estimate if rep["ceiling"] else None,
                                  f"How well each score ranks the stand-alone trained architectures of {where};\n"
                                  f"{truth_text}")
        paths += finish(fig, out_dir, name, show)

    seeds = rep["per_seed"]
    truth_panels = []
    if rep["ceiling"] is not None:
        truth_panels.append({"title": "noise ceiling: seed 0 vs seed 1", "x": seeds[0], "y": seeds[1], "diagonal": True,
                             "xlabel": f"val acc (%), seed 0, {rep['epochs']} ep", "agreement": rep["ceiling"],
                             "ylabel": f"val acc (%), seed 1, {rep['epochs']} ep"})
    if rep["fidelity"] is not None:
        truth_panels.append({"title": f"fidelity: {rep['fidelity_epochs']} vs {rep['epochs']} epochs",
                             "x": rep["fidelity_truth"], "y": rep["truth"], "agreement": rep["fidelity"],
                             "xlabel": f"val acc (%), {rep['fidelity_epochs']} ep", "ylabel": truth_label})
    if truth_panels:
        paths += finish(plots.paired_scatter(truth_panels, f"The truth's own noise and budget ({rep['dataset']})"),
                        out_dir, "ground_truth_ceiling", show)

    fig = plots.set_ranking(seeds, {a: ", ".join(o) for a, o in marked.items()}, f"val acc (%), {rep['epochs']} ep",
                            f"The set: {len(rep['truth'])} architectures trained stand-alone, {truth_text}\n"
                            "(dot: mean over seeds; red: baselines and methods' picks)")
    return paths + finish(fig, out_dir, "ground_truth_set", show)


AGREEMENT_PARTS = ("heatmap", "tables", "tau")


def agreement_figures(runs, figures_dir: str | Path = "figures", names=None, epoch: int | None = None,
                      name: str = "agreement", parts=AGREEMENT_PARTS, show: bool = False) -> tuple[str, list[Path]]:
    """Do several searches agree? ``parts`` of: the mean ± std heatmap (<name>), the tables side by side
    (<name>_tables) and each table's tau with the first's, epoch by epoch (<name>_tau).  What ``python -m
    vggdarts agree`` and notebook 05's ``agreement_sets`` draw."""
    unknown = set(parts) - set(AGREEMENT_PARTS)
    if unknown:
        raise ValueError(f"unknown agreement parts {sorted(unknown)}; choose from {', '.join(AGREEMENT_PARTS)}")
    if names is not None and len(names) != len(runs):
        raise ValueError(f"{len(names)} names for {len(runs)} runs; give one per run")
    text, paths = "", []
    if "heatmap" in parts:
        text, made = seed_agreement_figures(runs, figures_dir, show, names=names, epoch=epoch, name=name)
        paths += made
    if "tables" in parts:
        paths += tables_figure(runs, figures_dir, f"{name}_tables", show=show, epoch=epoch)
    if "tau" in parts:
        tau_text, made = tau_curves_figure(runs, figures_dir, names, epoch, f"{name}_tau", show=show)
        text, paths = (text + "\n" + tau_text).strip(), paths + made
    return text, paths


def seed_agreement_figures(runs, out_dir: str | Path = "figures", show: bool = False,
                           names=None, epoch: int | None = None, name: str = "ground_truth_seeds") -> tuple[str, list[Path]]:
    """The seed-agreement table (markdown) and figures/<name>.png: mean ± std of every weight across the runs
    (after ``epoch``; None: each run's last), each run's argmax marked."""
    from . import agreement

    if len(runs) < 2:
        return "(the seed agreement needs two or more search runs: set `seed_runs`)", []
    rep = agreement.seed_agreement(runs, names, epoch)
    dataset = read_json(runs[0], "config.json").get("dataset_used", "data set not recorded")
    fig = plots.mean_std_heatmap(rep["mean"], rep["std"], rep["picks"], rep["runs"],
                                 title=f"{len(runs)} search runs ({dataset})" + (f", after epoch {epoch}" if epoch else "")
                                       + ": mean ± std (sample) of each weight; "
                                       f"argmax agrees in {rep['agreeing_blocks']} of 6 blocks")
    return agreement.markdown(rep), finish(fig, out_dir, name, show)


def tau_curves_figure(runs, out_dir: str | Path = "figures", names=None, last_epoch: int | None = None,
                      name: str = "agreement_tau", show: bool = False) -> tuple[str, list[Path]]:
    """Kendall tau of every run's table with the first run's, epoch by epoch (figures/<name>.png), and a line
    of text with the values after the last epoch."""
    from . import agreement

    names = list(names or [Path(r).name for r in runs])
    curves = agreement.tau_to_first(runs, names, last_epoch)
    dataset = read_json(runs[0], "config.json").get("dataset_used", "data set not recorded")
    fig = plots.tau_curves(curves, names[0], f"How far each search's table is from {names[0]}'s, epoch by epoch "
                                             f"({dataset})")
    last = len(next(iter(curves.values())))
    text = f"Kendall tau with {names[0]} after epoch {last}: " + "; ".join(f"{n} {t[-1]:+.2f}" for n, t in curves.items())
    return text, finish(fig, out_dir, name, show)
