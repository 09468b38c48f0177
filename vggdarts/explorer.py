"""An interactive alpha explorer for JupyterLab (ipywidgets): pick a search run, slide through its epochs.

    from vggdarts.explorer import AlphaExplorer
    AlphaExplorer(run_dir="results/search-cpu-seed0").widget      # the last expression of a cell displays it

* a run picker: every search run directory under ``runs/`` and ``results/`` (those with an alpha.npz);
* an epoch slider over the alpha heatmap, with a raw / weights toggle (the none column where the
  relaxation has one; the colour bar says which scale is shown);
* the architecture diagram at that epoch (every candidate, arc strength = its weight).

Everything is drawn from ``alpha.npz``; ``drawn`` holds the table on screen (tests compare it with the file).
Headless runs (papermill) show the widget's text form; the static figures come from figures.search_figures.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from . import plots
from .figures import provenance
from .relaxations import Relaxation
from .rundir import read_json

DEFAULT_ROOTS = ("runs", "results")


def find_search_runs(roots=DEFAULT_ROOTS, max_depth: int = 3) -> list[Path]:
    """Search run directories (config.json with job 'search' and an alpha.npz) under ``roots``, root by root,
    sorted within each."""
    found: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        here = set()
        for depth in range(max_depth + 1):
            for cfg in root.glob("/".join(["*"] * depth + ["config.json"])):
                if (cfg.parent / "alpha.npz").exists() and read_json(cfg.parent, "config.json").get("job") == "search":
                    here.add(cfg.parent)
        found += sorted(here - set(found))
    return found


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plots.plt.close(fig)
    return buffer.getvalue()


class AlphaExplorer:
    def __init__(self, run_dir: str | Path | None = None, roots=DEFAULT_ROOTS):
        import ipywidgets as w

        self.runs = find_search_runs(roots)
        if run_dir is not None and Path(run_dir) not in self.runs:
            self.runs.insert(0, Path(run_dir))
        if not self.runs:
            raise FileNotFoundError(f"no search runs under {', '.join(map(str, roots))}; run notebook 01 (or "
                                    "`python -m vggdarts search`) first, or pass run_dir=results/search-cpu-seed0")
        self.picker = w.Dropdown(options=[str(r) for r in self.runs], value=str(run_dir or self.runs[0]),
                                 description="run", layout=w.Layout(width="60%"))
        self.kind = w.ToggleButtons(options=["weights", "raw"], value="weights", description="table")
        self.epoch = w.IntSlider(value=1, min=1, max=1, description="epoch", continuous_update=False)
        self.caption = w.HTML()
        fit = dict(max_width="100%", height="auto")  # a deeper VGG's figures are wider than a notebook cell
        self.heatmap = w.Image(format="png", layout=w.Layout(**fit))
        self.diagram = w.Image(format="png", layout=w.Layout(**fit))
        self.drawn: np.ndarray | None = None
        self._load(self.picker.value)
        self.picker.observe(lambda change: self._load(change["new"]), names="value")
        self.kind.observe(lambda change: self.redraw(), names="value")
        self.epoch.observe(lambda change: self.redraw(), names="value")
        self.widget = w.VBox([w.HBox([self.picker, self.kind]), self.epoch, self.caption, self.heatmap, self.diagram])
        self.redraw()

    def _load(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)
        with np.load(self.run_dir / "alpha.npz") as z:
            self.tables = {"raw": z["raw"], "weights": z["weights"]}
        self.relaxation = Relaxation(read_json(self.run_dir, "config.json").get("relaxation", "softmax"))
        self.info = provenance(self.run_dir)
        last = len(self.tables["raw"])
        with self.epoch.hold_trait_notifications():
            self.epoch.max = last
            self.epoch.value = last
        if self.drawn is not None:
            self.redraw()

    def redraw(self) -> None:
        k = self.epoch.value
        table = self.tables[self.kind.value][k - 1]
        scale = self.relaxation.scale_label()
        title = f"{'raw alpha' if self.kind.value == 'raw' else scale.split(' (')[0]}, epoch {k}\n{self.info}"
        self.heatmap.value = _png(plots.alpha_heatmap(table, self.kind.value, title, scale))
        weights = self.tables["weights"][k - 1]
        self.diagram.value = _png(plots.architecture(weights, f"all candidates at epoch {k}, arc strength = weight"))
        self.caption.value = f"<b>{self.run_dir}</b>: epoch {k} of {len(self.tables['raw'])}"
        self.drawn = table


def explore(run_dir: str | Path | None = None, roots=DEFAULT_ROOTS):
    """The explorer's widget, for a notebook cell."""
    return AlphaExplorer(run_dir, roots).widget
