"""The study's figures. Each function takes plain arrays (so it is testable on hand-made data)
and returns a matplotlib Figure; :func:`save` writes it as PNG (160 dpi) and PDF.

* :func:`alpha_heatmap`      raw alpha (diverging, centred on 0) or softmax weights (0..1),
                              n blocks x n-2 sources (VGG11 8 x 6), non-candidates masked, 4-decimal labels
* :func:`alpha_trajectories` edge weight per epoch, one panel per destination block
* :func:`architecture`       VGG blocks in a row, shortcuts as arcs (strength = weight)
* :func:`curves`             train/val/test accuracy and loss per epoch
* :func:`comparison`         retrained test accuracy vs parameters and MACs, per method
* :func:`ladder`             the fidelity ladder: accuracy per rung, and ranks against the first rung's
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, PathPatch
from matplotlib.path import Path as MplPath

from . import layout

DPI = 160


MANIFEST = "figures.json"  # beside the figures: what each one draws (describe), for the figure-currency test


def _values(array) -> str:
    """Numbers to 6 significant digits (a last-bit difference between CPUs' summation orders does not count)."""
    a = np.ma.filled(np.ma.asarray(array, dtype=float), np.nan).ravel()
    return ",".join(f"{v:.6g}" for v in a)


def describe(fig: Figure) -> dict:
    """What a figure draws, independent of pixels and file format: every text (titles, labels, tick labels,
    annotations, legends) and a digest of every data array (lines, scatter points, bars, images)."""
    import hashlib

    from matplotlib.collections import Collection
    from matplotlib.image import AxesImage
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    texts = [t.get_text() for t in fig.texts if t.get_text()]
    data = []
    for ax in fig.axes:
        texts += [ax.get_title(loc) for loc in ("left", "center", "right") if ax.get_title(loc)]
        texts += [ax.get_xlabel(), ax.get_ylabel()]
        texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels() + ax.texts if t.get_text()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
        for artist in ax.get_children():
            if isinstance(artist, Line2D):
                data.append("line:" + _values(artist.get_xdata()) + ";" + _values(artist.get_ydata()))
            elif isinstance(artist, Collection):
                data.append("coll:" + _values(artist.get_offsets()))
            elif isinstance(artist, AxesImage):
                data.append("image:" + _values(artist.get_array()))
            elif isinstance(artist, Rectangle) and artist is not ax.patch:
                data.append("bar:" + _values([artist.get_x(), artist.get_y(), artist.get_width(), artist.get_height()]))
    digest = hashlib.sha256("\n".join(data).encode()).hexdigest()[:16]
    return {"texts": [t for t in texts if t], "data": digest}


def save(fig: Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write ``name``.png and ``name``.pdf into ``out_dir`` and what it draws into ``out_dir``/figures.json;
    returns the figure's paths."""
    import json

    from .files import atomic_write_text, file_lock

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None, "ModDate": None})
    manifest = out / MANIFEST
    with file_lock(out / ".figures.lock", what=str(manifest)):
        entries = json.loads(manifest.read_text()) if manifest.exists() else {}
        entries[name] = describe(fig)
        atomic_write_text(manifest, json.dumps(dict(sorted(entries.items())), indent=1, ensure_ascii=False) + "\n")
    return paths


def heatmap_data(table: np.ndarray) -> np.ma.MaskedArray:
    """The [n, n-2] (or [n, n-1], with none) table with cells that are no choice masked: exactly what
    alpha_heatmap draws."""
    table = np.asarray(table, dtype=float)
    cand = layout.of(table).candidates
    allowed = cand if table.shape[1] == cand.shape[1] else np.hstack([cand, cand.any(1, keepdims=True)])
    return np.ma.masked_array(table, mask=~allowed)


def _grown(size: tuple[float, float], table) -> tuple[float, float]:
    """A figure size drawn for VGG11's 8 x 6 table, grown with the table so every cell keeps its size."""
    lay = layout.of(table)
    return size[0] * max(1.0, lay.n_sources / 6), size[1] * max(1.0, lay.n_blocks / 8)


def _axis_labels(ax, data, fontsize: float | None = None) -> None:
    """Tick labels of a table heatmap: sources j (and none) across, destination blocks i down."""
    n = layout.of(data).n_sources
    kw = {} if fontsize is None else {"fontsize": fontsize}
    ax.set_xticklabels([str(j) for j in range(1, n + 1)] + (["none"] if data.shape[1] > n else []), **kw)
    ax.set_yticklabels([str(i) for i in range(1, data.shape[0] + 1)], rotation=0, **kw)


def alpha_heatmap(table: np.ndarray, kind: str = "raw", title: str = "", scale: str | None = None) -> Figure:
    """Heatmap of an alpha table: ``kind='raw'`` (diverging, symmetric about 0) or ``'weights'`` (0..1).

    ``scale`` labels the colour bar by meaning (e.g. "sigmoid gate (independent per edge ...)");
    default "softmax weight (rows sum to 1)"."""
    import seaborn as sns

    data = heatmap_data(table)
    if kind == "raw":
        limit = max(float(np.abs(data).max()), 1e-4)
        style = dict(cmap="RdBu_r", center=0.0, vmin=-limit, vmax=limit)
        label = "raw alpha"
    elif kind == "weights":
        style = dict(cmap="viridis", vmin=0.0, vmax=1.0)
        label = scale or "softmax weight (rows sum to 1)"
    else:
        raise ValueError("kind must be 'raw' or 'weights'")
    n = layout.of(data).n_sources
    fig, ax = plt.subplots(figsize=_grown((7.2 + 0.9 * (data.shape[1] - n), 5.6), data))
    sns.heatmap(data.filled(np.nan), mask=data.mask, annot=True, fmt=".4f", annot_kws={"size": 8.5},
                linewidths=0.6, linecolor="white", square=False, ax=ax, cbar_kws={"label": label}, **style)
    ax.set_facecolor("#eeeeee")  # masked (non-candidate) cells
    _axis_labels(ax, data)
    ax.set_xlabel("source block j (shortcut from x_j)" + ("; none = no shortcut" if data.shape[1] > n else ""))
    ax.set_ylabel("destination block i")
    ax.set_title(title or label, fontsize=10)
    fig.tight_layout()
    return fig


def alpha_trajectories(weights: np.ndarray, title: str = "", scale: str = "softmax weight",
                       independent: bool = False) -> Figure:
    """Edge weight of every candidate per epoch; ``weights`` is [epochs, n, n-2] or [epochs, n, n-1] (with none,
    drawn dashed black).  The grey line is uniform (1/n over the block's choices), or 0.5 for gates.
    VGG11's six panels each carry a legend; a deeper network's panels share one (a colour per source)."""
    weights = np.asarray(weights, dtype=float)
    lay = layout.of(weights[-1])
    cand, blocks = lay.candidates, lay.searched_blocks
    has_none = weights.shape[2] > lay.n_sources
    epochs = np.arange(1, len(weights) + 1)
    cols = 3 if len(blocks) <= 6 else 4
    rows = -(-len(blocks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11 if cols == 3 else 14, 3 * rows), sharex=True, squeeze=False)
    colours = plt.get_cmap("tab10" if lay.n_sources <= 10 else "tab20")
    shared_legend = len(blocks) > 6
    for ax, i in zip(axes.flat, blocks):
        n = int(cand[i].sum())
        for j in np.flatnonzero(cand[i]):
            ax.plot(epochs, weights[:, i, j], color=colours(j), lw=1.6, label=f"j={j + 1}")
        if has_none:
            ax.plot(epochs, weights[:, i, lay.n_sources], color="black", lw=1.6, ls="--", label="none")
        ax.axhline(0.5 if independent else 1.0 / (n + has_none), color="grey", lw=0.8, ls=":")
        ax.set_title(f"into block {i + 1} ({n} candidate{'s' if n > 1 else ''})", fontsize=9)
        top = weights[:, i].max() * 1.15
        ax.set_ylim(-0.02, 1.02 if (n == 1 and not has_none) or independent else min(1.02, max(0.5, top)))
        ax.grid(alpha=0.3)
        if not shared_legend:
            ax.legend(fontsize=7, ncol=2, loc="upper left", frameon=False)
    for ax in list(axes.flat)[len(blocks):]:
        ax.axis("off")
    for col in range(cols):  # the lowest panel of each column shows the epochs
        lowest = axes[max(r for r in range(rows) if r * cols + col < len(blocks)), col]
        lowest.set_xlabel("epoch")
        lowest.tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel(scale)
    note = "dotted: gate 0.5" if independent else "dotted: uniform weight 1/n over the block's choices"
    fig.suptitle((title + "\n" if title else "") + note, fontsize=10)
    if shared_legend:  # the last panel has every source (and none): one key for all
        handles, labels = axes.flat[len(blocks) - 1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower right", ncol=min(8, len(labels)), fontsize=8, frameon=False,
                   title="source block")
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return fig


def architecture(strength: np.ndarray, title: str = "", channels: Sequence[int] | None = None) -> Figure:
    """The network's conv blocks in a row (pools marked) with shortcuts j -> i as arcs (VGG11: 8 blocks).

    ``strength`` [n, n-2] in 0..1: an arc's width and opacity grow with it; 0 draws nothing.
    Pass a 0/1 mask to draw a derived architecture."""
    strength = np.asarray(strength, dtype=float)
    lay = layout.of(strength)
    strength = np.where(lay.candidates, strength[:, :lay.n_sources], 0.0)  # a none column: no arc
    rise, top = 0.32, 0.35 + 0.55 + 0.32 * (lay.n_blocks - 1) + 0.3  # an arc j -> i rises with i - j
    fig, ax = plt.subplots(figsize=(11 * max(1.0, lay.n_blocks / 8) ** 0.8, 4.2 * max(1.0, (top + 0.8) / 4.24)))
    xs = np.arange(1, lay.n_blocks + 1) * 1.3
    cmap = plt.get_cmap("plasma_r")
    ax.annotate("", xy=(xs[0] - 0.42, 0), xytext=(xs[0] - 1.0, 0), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.text(xs[0] - 1.05, 0, "input", ha="right", va="center", fontsize=9)
    for k, x in enumerate(xs):
        i = k + 1
        box = FancyBboxPatch((x - 0.4, -0.35), 0.8, 0.7, boxstyle="round,pad=0.02", fc="#dde8f5", ec="#35608f")
        ax.add_patch(box)
        label = f"conv{i}" + (f"\n{channels[k]}" if channels is not None else "")
        ax.text(x, 0.02, label, ha="center", va="center", fontsize=9)
        if i in lay.pool_after:
            ax.text(x, -0.5, "pool", ha="center", va="top", fontsize=7.5, color="#555555")
        nxt = xs[k + 1] - 0.42 if k + 1 < len(xs) else x + 1.0
        ax.annotate("", xy=(nxt, 0), xytext=(x + 0.4, 0), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.text(xs[-1] + 1.05, 0, "FC", ha="left", va="center", fontsize=9)
    for i in range(lay.n_blocks):
        for j in range(lay.n_sources):
            s = strength[i, j]
            if s <= 0:
                continue
            x0, x1 = xs[j] + 0.1, xs[i] - 0.1
            height = 0.55 + rise * (i - j)
            verts = [(x0, 0.35), (x0, 0.35 + height), (x1, 0.35 + height), (x1, 0.35)]
            path = MplPath(verts, [MplPath.MOVETO, MplPath.CURVE4, MplPath.CURVE4, MplPath.CURVE4])
            ax.add_patch(PathPatch(path, fc="none", ec=cmap(0.15 + 0.85 * s), lw=0.6 + 4.0 * s,
                                   alpha=0.35 + 0.65 * s))
            ax.plot([x1], [0.35], marker="v", ms=3 + 3 * s, color=cmap(0.15 + 0.85 * s), alpha=0.35 + 0.65 * s)
    arc_colours = matplotlib.colors.ListedColormap(cmap(np.linspace(0.15, 1.0, 256)))  # what the arcs use
    sm = matplotlib.cm.ScalarMappable(cmap=arc_colours, norm=matplotlib.colors.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, fraction=0.025, pad=0.01, label="shortcut weight")
    ax.set_xlim(xs[0] - 1.6, xs[-1] + 1.5)
    ax.set_ylim(-0.8, top)
    ax.set_aspect("auto")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def curves(metrics: list[dict], title: str = "", reference: tuple[float, str] | None = None) -> Figure:
    """Accuracy and loss per epoch for the train (weights half), val (alpha half) and test sets;
    ``reference``: (accuracy %, label) drawn as a dashed line (e.g. the original report's best test)."""
    epochs = [r["epoch"] for r in metrics]
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"train": dict(color="#1f77b4"), "val": dict(color="#ff7f0e"), "test": dict(color="#2ca02c")}
    names = {"train": "train (weights half)", "val": "val (alpha half)", "test": "test"}
    for split, style in styles.items():
        acc = [r[f"{split}_acc"] for r in metrics]
        loss = [r[f"{split}_loss"] for r in metrics]
        if all(math.isnan(v) for v in acc):
            continue
        acc_ax.plot(epochs, acc, lw=1.6, label=names[split], **style)
        loss_ax.plot(epochs, loss, lw=1.6, label=names[split], **style)
    finite = [r for r in metrics if not math.isnan(r["test_acc"])]
    if finite:
        best = max(finite, key=lambda r: r["test_acc"])
        acc_ax.plot([best["epoch"]], [best["test_acc"]], marker="*", ms=13, color="#2ca02c", mec="black", mew=0.6,
                    ls="none", label=f"best test {best['test_acc']:.2f}% (epoch {best['epoch']})")
    if reference is not None:
        acc_ax.axhline(reference[0], color="black", ls="--", lw=1, label=reference[1])
    acc_ax.set_ylabel("accuracy (%)")
    loss_ax.set_ylabel("cross-entropy loss")
    for ax in (acc_ax, loss_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


BASELINE_STYLE = {"none": "s", "all": "D", "resnet": "^", "random": "v"}  # hollow markers
# derived methods: filled, different shapes and sizes, so that two methods that chose the same
# architecture (and so got the same accuracy) stay visible as a ring around a smaller marker
DERIVED_STYLE = {"argmax": ("o", 13), "perturbation": ("P", 8), "threshold": ("X", 9), "topk": ("h", 10)}
METHOD_ORDER = ("all", "argmax", "none", "perturbation", "random", "resnet", "threshold", "topk")  # fixed colours


def comparison(summary: list[dict], title: str = "") -> Figure:
    """Test accuracy (mean +- std over seeds; one run's value where each method has one) per method against
    parameters and MACs.

    ``summary`` rows as from :func:`vggdarts.compare.aggregate`."""
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6), sharey=True)
    colours = plt.get_cmap("tab10")
    for row in sorted(summary, key=lambda r: r["method"]):
        k = METHOD_ORDER.index(row["method"]) if row["method"] in METHOD_ORDER else len(METHOD_ORDER)
        baseline = row["method"] in BASELINE_STYLE
        marker, size = (BASELINE_STYLE[row["method"]], 8) if baseline else DERIVED_STYLE.get(row["method"], ("o", 9))
        std = 0.0 if math.isnan(row["test_acc_std"]) else row["test_acc_std"]
        failed = f", {row['failed']} diverged" if row.get("failed") else ""
        label = (f"{row['method']} ({'baseline' if baseline else 'derived'}, {row['n_shortcuts']:.0f} shortcuts, "
                 f"n={row['n']}{failed})")
        for ax, x in zip(axes, (row["params_M"], row["macs_M"])):
            ax.errorbar([x], [row["test_acc_mean"]], yerr=[std], marker=marker, ms=size, capsize=4, ls="none",
                        color=colours(k % 10), mfc="white" if baseline else colours(k % 10), mew=1.5,
                        zorder=3 + 20 - size, label=label)
    axes[0].set_xlabel("parameters (M)")
    axes[1].set_xlabel("MACs per image (M)")
    most = max((r["n"] for r in summary), default=0)
    axes[0].set_ylabel("test accuracy (%), mean ± std over seeds" if most > 1 else "test accuracy (%), one seed")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def hvp_error_figure(rows: Sequence[dict], dataset: str = "") -> Figure:
    """Error of the second-order alpha gradient against the exact float64 one, per search epoch:
    DARTS's finite difference (fd, float32) and the exact product in float32 (log scale), and fd's cosine."""
    epochs = sorted({r["epoch"] for r in rows})
    fig, (ax_err, ax_cos) = plt.subplots(1, 2, figsize=(10, 3.8))
    for offset, key, label, colour in ((-0.12, "fd_rel_error", "fd (DARTS, eps = 0.01/||v||), float32", "C3"),
                                       (0.12, "exact32_rel_error", "exact (double backprop), float32", "C0")):
        for k, epoch in enumerate(epochs):
            values = np.array([r[key] for r in rows if r["epoch"] == epoch])
            ax_err.scatter(np.full(len(values), k + offset), values, s=10, alpha=0.5, color=colour,
                           label=label if k == 0 else None)
            ax_err.hlines(np.median(values), k + offset - 0.1, k + offset + 0.1, color=colour, lw=2)
    ax_err.set_yscale("log")
    ax_err.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax_err.set_ylabel("relative error of the alpha gradient")
    for k, epoch in enumerate(epochs):
        values = np.array([r["fd_cosine"] for r in rows if r["epoch"] == epoch])
        ax_cos.scatter(np.full(len(values), k), values, s=10, alpha=0.5, color="C3")
        ax_cos.hlines(np.median(values), k - 0.15, k + 0.15, color="C3", lw=2)
    ax_cos.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax_cos.set_ylabel("cosine(fd, exact)")
    for ax in (ax_err, ax_cos):
        ax.set_xticks(range(len(epochs)), ["init" if e == 0 else f"epoch {e}" for e in epochs])
    ax_err.legend(fontsize=8, loc="best")
    fig.suptitle("Second-order alpha gradient vs exact (float64), per batch; bar = median"
                 + (f" ({dataset})" if dataset else ""))
    fig.tight_layout()
    return fig


def tables_side_by_side(tables: Sequence[np.ndarray], titles: Sequence[str], scales: Sequence[str],
                        suptitle: str = "") -> Figure:
    """Several runs' final relaxed tables as heatmaps, at most two to a row (readable at a README's width),
    8x6 or 8x7 with a none column, each with its own colour-bar label (softmax weights vs sigmoid gates)."""
    import seaborn as sns

    cols = min(2, len(tables))
    rows = -(-len(tables) // cols)
    panel = _grown((6.2, 4.9), tables[0])
    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols, panel[1] * rows), squeeze=False)
    for ax, table, title, scale in zip(axes.flat, tables, titles, scales):
        data = heatmap_data(table)
        sns.heatmap(data.filled(np.nan), mask=data.mask, annot=True, fmt=".2f", annot_kws={"size": 9},
                    linewidths=0.5, linecolor="white", vmin=0, vmax=1, cmap="viridis", ax=ax,
                    cbar_kws={"label": "\n(".join(scale.split(" (", 1)) if "(" in scale else scale, "shrink": 0.8})
        ax.set_facecolor("#eeeeee")
        _axis_labels(ax, data, 9)
        ax.set_xlabel("source block j")
        ax.set_ylabel("destination block i")
        ax.set_title(title, fontsize=10)
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def reference_side_by_side(weights: np.ndarray, raw: np.ndarray, report_weights: np.ndarray,
                           report_raw: np.ndarray, suptitle: str = "") -> Figure:
    """Our softmax weights and raw alpha (8x6) beside a reference's (the original report's Tables 2 and 3):
    weights on 0..1, raw alpha on one diverging scale shared by both raw panels."""
    import seaborn as sns

    limit = max(float(np.abs(heatmap_data(t)).max()) for t in (raw, report_raw))
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 8.4))
    panels = [(weights, "ours: softmax weights", dict(cmap="viridis", vmin=0, vmax=1)),
              (report_weights, "report, Table 2: softmax weights", dict(cmap="viridis", vmin=0, vmax=1)),
              (raw, "ours: raw alpha", dict(cmap="RdBu_r", center=0.0, vmin=-limit, vmax=limit)),
              (report_raw, "report, Table 3: raw alpha", dict(cmap="RdBu_r", center=0.0, vmin=-limit, vmax=limit))]
    for ax, (table, title, style) in zip(axes.flat, panels):
        table = np.asarray(table, dtype=float)
        data = heatmap_data(table[:, :layout.of(table).n_sources])
        sns.heatmap(data.filled(np.nan), mask=data.mask, annot=True, fmt=".2f", annot_kws={"size": 7.5},
                    linewidths=0.5, linecolor="white", ax=ax, **style)
        ax.set_facecolor("#eeeeee")
        _axis_labels(ax, data, 8)
        ax.set_xlabel("source block j")
        ax.set_ylabel("destination block i")
        ax.set_title(title, fontsize=9.5)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def paired_scatter(panels: Sequence[dict], title: str = "") -> Figure:
    """One scatter per panel of ``x`` against ``y`` (both {arch: value}, over the archs both have), Kendall tau
    and its 95% bootstrap CI in the title.  Panel keys: title, x, y, agreement, xlabel, ylabel, and optionally
    ``marked`` ({arch: label}: drawn in red and labelled) and ``diagonal`` (draw y = x)."""
    cols = min(3, max(1, len(panels)))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels):
        ids = sorted(set(p["x"]) & set(p["y"]))
        ax.scatter([p["x"][a] for a in ids], [p["y"][a] for a in ids], s=18, alpha=0.75)
        for a, label in p.get("marked", {}).items():
            if a in p["x"] and a in p["y"]:
                ax.scatter(p["x"][a], p["y"][a], s=30, color="tab:red", zorder=3)
                ax.annotate(label, (p["x"][a], p["y"][a]), fontsize=6.5, xytext=(3, 3), textcoords="offset points")
        if p.get("diagonal") and ids:
            lo = min(min(p["x"][a], p["y"][a]) for a in ids)
            hi = max(max(p["x"][a], p["y"][a]) for a in ids)
            ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(f"{p['title']}\nKendall tau {p['agreement']['tau']} (n = {p['agreement']['n']})", fontsize=8.5)
        ax.set_xlabel(p["xlabel"], fontsize=8)
        ax.set_ylabel(p["ylabel"], fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9.5)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the suptitle
    else:
        fig.tight_layout()
    return fig


def tau_intervals(rows: Sequence[tuple[str, dict]], chance: tuple[float, float], ceiling=None, seed_tau=None,
                  title: str = "") -> Figure:
    """Each (label, {series: Interval}) as points with their 95% CIs (one colour per series, side by side),
    against the chance band (the central 95% of a random score's tau), the ceiling (an Interval: what a perfect
    score could reach against the truth) and the measured seed-vs-seed tau (a dashed line)."""
    fig, ax = plt.subplots(figsize=(7.4, 0.32 * len(rows) + 1.6))
    y = np.arange(len(rows))[::-1]
    ax.axvspan(*chance, color="grey", alpha=0.25, label="chance (random score, central 95%)")
    if ceiling is not None:
        ax.axvspan(ceiling.low, ceiling.high, color="tab:green", alpha=0.15,
                   label="ceiling: a perfect score vs the seed mean (model, 95% CI)")
        ax.axvline(ceiling.estimate, color="tab:green", linewidth=1)
    if seed_tau is not None:
        ax.axvline(seed_tau, color="tab:green", linewidth=1, linestyle="--", label="seed 0 vs seed 1 (measured)")
    series = list(dict.fromkeys(name for _, ivs in rows for name in ivs))
    for k, name in enumerate(series):
        shift = 0.18 * (k - (len(series) - 1) / 2)
        points = [(yk - shift, ivs[name]) for yk, (_, ivs) in zip(y, rows) if name in ivs]
        ax.errorbar([iv.estimate for _, iv in points], [yk for yk, _ in points],
                    xerr=[[iv.estimate - iv.low for _, iv in points], [iv.high - iv.estimate for _, iv in points]],
                    fmt="o", markersize=4, color=f"C{k}", capsize=2, label=name)
    ax.set_yticks(y)
    ax.set_yticklabels([label for label, _ in rows], fontsize=7.5)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Kendall tau with the stand-alone mean val accuracy (95% bootstrap CI)")
    ax.set_title(title, fontsize=9.5, pad=46)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def set_ranking(per_seed: dict, marked: dict[str, str], ylabel: str, title: str = "") -> Figure:
    """Every architecture of the set, sorted by its mean over seeds (dot), each seed's value (ticks, joined),
    the ``marked`` ones ({arch: label}: baselines, picks) in red, numbered, with a key below the axes."""
    means: dict[str, list[float]] = {}
    for values in per_seed.values():
        for a, v in values.items():
            means.setdefault(a, []).append(v)
    order = sorted(means, key=lambda a: np.mean(means[a]))
    key = {a: k + 1 for k, a in enumerate(a for a in reversed(order) if a in marked)}
    fig, (ax, key_ax) = plt.subplots(2, 1, figsize=(max(7.0, 0.17 * len(order) + 2), 5.4 + 0.12 * len(key)),
                                     gridspec_kw={"height_ratios": [4.2, 0.5 + 0.12 * len(key)]})
    for x, a in enumerate(order):
        color = "tab:red" if a in marked else "tab:blue"
        ax.plot([x, x], [min(means[a]), max(means[a])], color=color, linewidth=1, alpha=0.6)
        ax.scatter([x] * len(means[a]), means[a], marker="_", s=30, color=color)
        ax.scatter(x, np.mean(means[a]), s=16, color=color, zorder=3)
        if a in key:
            ax.annotate(str(key[a]), (x, max(means[a])), fontsize=7, xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", color="tab:red")
    key_ax.axis("off")
    key_ax.text(0.0, 1.0, "\n".join(f"{k:>2}  {a}: {marked[a]}" for a, k in key.items()), transform=key_ax.transAxes,
                fontsize=6.5, va="top", ha="left", family="monospace")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=90, fontsize=5.5)
    ax.set_xlabel("architecture (sorted by the mean over seeds)")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.margins(y=0.25)
    ax.set_title(title, fontsize=9.5)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def mean_std_heatmap(mean: np.ndarray, std: np.ndarray, picks: Sequence[Sequence[int]], names: Sequence[str],
                     title: str = "") -> Figure:
    """Mean weight across search runs (colour), annotated mean ± std, with each run's argmax pick marked."""
    import seaborn as sns

    data = heatmap_data(mean)
    labels = np.array([[f"{m:.2f}\n±{s:.2f}" for m, s in zip(rm, rs)] for rm, rs in zip(mean, std)])
    fig, ax = plt.subplots(figsize=_grown((7.6, 5.8), data))
    sns.heatmap(data.filled(np.nan), mask=data.mask, annot=labels, fmt="", annot_kws={"size": 7.5}, vmin=0, vmax=1,
                cmap="viridis", linewidths=0.6, linecolor="white", ax=ax,
                cbar_kws={"label": "mean softmax weight across runs (rows sum to 1)"})
    ax.set_facecolor("#eeeeee")
    markers = "ov^sD"
    for k, (run_picks, name) in enumerate(zip(picks, names)):
        for block, j in zip(range(3, data.shape[0] + 1), run_picks):
            if j:
                ax.scatter(j - 1 + 0.2 + 0.2 * k, block - 1 + 0.15, marker=markers[k % len(markers)], s=26,
                           color="white", edgecolor="black", linewidth=0.6, zorder=3,
                           label=f"argmax of {name}" if block == 3 else None)
    ax.legend(loc="upper right", fontsize=7.5, framealpha=0.9)
    _axis_labels(ax, data)
    ax.set_xlabel("source block j")
    ax.set_ylabel("destination block i")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def tau_curves(curves: dict[str, np.ndarray], reference: str, title: str = "") -> Figure:
    """Kendall tau between each run's relaxed table and the reference run's, epoch by epoch."""
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for name, tau in curves.items():
        ax.plot(np.arange(1, len(tau) + 1), tau, marker="o", markersize=3, label=name)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"Kendall tau with {reference}\n(deviations from the even share)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def ladder(means: dict[str, dict[str, float]], rungs: Sequence[str], marked: dict[str, str], title: str = "") -> Figure:
    """The fidelity ladder: each architecture's mean val accuracy per rung ({rung label: {arch: value}}), joined
    across the rungs it has (left), and its rank at each higher rung against its rank at the first (right;
    1 = best among the architectures both rungs have).  ``marked`` ({arch: label}) in colour, the rest grey."""
    fig, (ax, rank_ax) = plt.subplots(1, 2, figsize=(10.5, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    archs = sorted({a for m in means.values() for a in m})
    colours = {a: f"C{k}" for k, a in enumerate(marked)}
    for a in archs:
        xs = [k for k, r in enumerate(rungs) if a in means[r]]
        ys = [means[rungs[k]][a] for k in xs]
        style = dict(color=colours[a], linewidth=1.6, zorder=3, label=marked[a]) if a in marked else dict(
            color="grey", linewidth=0.8, alpha=0.6)
        ax.plot(xs, ys, marker="o", markersize=4, **style)
    ax.set_xticks(range(len(rungs)))
    ax.set_xticklabels(rungs, fontsize=7.5)
    ax.set_xlim(-0.3, len(rungs) - 0.7)
    ax.set_ylabel("mean val acc (%) over the rung's seeds", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="lower right")
    base = means[rungs[0]]
    n_max = 1
    for k, r in enumerate(rungs[1:]):
        shared = [a for a in means[r] if a in base]
        if len(shared) < 2:
            continue

        def rank(m, a):
            return 1 + sum(m[b] > m[a] for b in shared)

        n_max = max(n_max, len(shared))
        xs, ys = [rank(base, a) for a in shared], [rank(means[r], a) for a in shared]
        rank_ax.scatter(xs, ys, s=22, marker="os^"[k % 3], label=f"{r} (n = {len(shared)})", zorder=2)
        for a, x, y in zip(shared, xs, ys):  # each rung's labels on their own side of the points
            if a in marked:
                rank_ax.annotate(marked[a], (x, y), fontsize=6.5, xytext=(4, 4 - 12 * k), textcoords="offset points",
                                 color=f"C{k}")
    rank_ax.plot([1, n_max], [1, n_max], color="grey", linewidth=0.8, linestyle="--")
    rank_ax.set_xlabel(f"rank at {rungs[0].split(' (')[0]} (1 = best)", fontsize=8)
    rank_ax.set_ylabel("rank at the higher rung, same architectures", fontsize=8)
    rank_ax.invert_xaxis()
    rank_ax.invert_yaxis()
    rank_ax.grid(alpha=0.3)
    for axis in (rank_ax.xaxis, rank_ax.yaxis):
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    rank_ax.margins(0.12)
    if rank_ax.collections:
        rank_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9.5)
    fig.tight_layout()
    return fig
