"""Plotting functions on a hand-made alpha history and metrics."""
import math

import matplotlib

matplotlib.use("Agg")  # unit tests only; notebooks keep the inline backend

import numpy as np
import pytest
from PIL import Image

from vggdarts import plots
from vggdarts.supernet import candidate_mask

CAND = candidate_mask().numpy()


def hand_history(epochs=4):
    rng = np.random.default_rng(0)
    raw = np.cumsum(rng.normal(0, 0.3, (epochs, 8, 6)), axis=0) * CAND
    e = np.exp(raw) * CAND
    weights = e / np.maximum(e.sum(-1, keepdims=True), 1e-12)
    return raw, weights


def _mesh(fig):
    return fig.axes[0].collections[0]


@pytest.mark.parametrize("kind", ["raw", "weights"])
def test_heatmap_draws_the_table_with_non_candidates_masked(kind):
    raw, weights = hand_history()
    table = raw[-1] if kind == "raw" else weights[-1]
    fig = plots.alpha_heatmap(table, kind, "t")
    data = _mesh(fig).get_array().reshape(8, 6)
    assert np.array_equal(np.ma.getmaskarray(data), ~CAND)
    assert np.allclose(data.filled(np.nan)[CAND], table[CAND])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 21 and f"{table[7, 5]:.4f}" in texts
    lo, hi = _mesh(fig).get_clim()
    if kind == "raw":
        assert lo == -hi and hi == pytest.approx(np.abs(table).max())
        white, red, blue = (_mesh(fig).to_rgba(v) for v in (0.0, hi, lo))  # diverging, centred on 0
        assert min(white[:3]) > 0.9 and red[0] > red[2] + 0.2 and blue[2] > blue[0] + 0.2
    else:
        assert (lo, hi) == (0.0, 1.0)
    plots.plt.close(fig)


def test_heatmap_refuses_wrong_shape():
    with pytest.raises(ValueError, match="8x6"):
        plots.alpha_heatmap(np.zeros((6, 8)))


def test_trajectories_one_panel_per_block_one_line_per_candidate():
    _, weights = hand_history(5)
    fig = plots.alpha_trajectories(weights, "t")
    panels = fig.axes
    assert len(panels) == 6
    for i, ax in zip(range(2, 8), panels):
        lines = [l for l in ax.get_lines() if l.get_linestyle() == "-"]
        assert len(lines) == CAND[i].sum()
        assert np.allclose(lines[0].get_ydata(), weights[:, i, 0])
    plots.plt.close(fig)


def test_architecture_draws_one_arc_per_nonzero_edge(tmp_path):
    strength = np.zeros((8, 6))
    strength[4, 1] = 1.0
    strength[7, 5] = 0.3
    fig = plots.architecture(strength, "t", [16, 32, 64, 64, 128, 128, 128, 128])
    arcs = [p for p in fig.axes[0].patches if type(p).__name__ == "PathPatch"]
    boxes = [p for p in fig.axes[0].patches if type(p).__name__ == "FancyBboxPatch"]
    assert len(arcs) == 2 and len(boxes) == 8
    assert arcs[0].get_linewidth() > arcs[1].get_linewidth()
    png, pdf = plots.save(fig, tmp_path, "arch")
    assert pdf.stat().st_size > 1000
    w, h = Image.open(png).size
    assert w > 1200 and h > 400


def test_curves_mark_the_best_test_accuracy():
    metrics = [dict(epoch=e, train_loss=2 / e, train_acc=50 + e, val_loss=2.2 / e, val_acc=48 + e,
                    test_loss=2.1 / e, test_acc=acc, lr=0.01, seconds=1.0)
               for e, acc in zip(range(1, 5), [40.0, 55.5, 51.0, 52.0])]
    fig = plots.curves(metrics, "t")
    acc_ax = fig.axes[0]
    star = [l for l in acc_ax.get_lines() if l.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_xdata()[0] == 2 and star[0].get_ydata()[0] == 55.5
    assert "55.50%" in star[0].get_label()
    plots.plt.close(fig)


def test_curves_skip_splits_that_were_never_evaluated():
    nan = math.nan
    metrics = [dict(epoch=1, train_loss=1, train_acc=50, val_loss=nan, val_acc=nan, test_loss=nan, test_acc=nan,
                    lr=0.1, seconds=1)]
    fig = plots.curves(metrics)
    assert [l.get_label() for l in fig.axes[0].get_lines()] == ["train (weights half)"]
    plots.plt.close(fig)


def test_comparison_plots_every_method_against_params_and_macs():
    rows = [dict(method=m, n=3, failed=0, test_acc_mean=80 + k, test_acc_std=0.5, val_acc_mean=80, n_shortcuts=6,
                 params_M=0.15 + 0.01 * k, macs_M=2.7) for k, m in enumerate(["argmax", "none", "resnet"])]
    fig = plots.comparison(rows, "t")
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert len(labels) == 3 and any(l.startswith("none (baseline, 6 shortcuts, n=3") for l in labels)
    plots.plt.close(fig)


def test_provenance_names_dataset_preset_width_and_epochs(smoke_run):
    from vggdarts.figures import infer_preset, provenance
    from vggdarts.config import make_config

    text = provenance(smoke_run)
    assert text.startswith("synthetic (tests only) | preset custom | width 0.125 | 3 epochs")  # smoke has 2 epochs
    record = {"job": "search", **make_config("search", "cpu", {"dataset": "/x.tar.gz", "seed": 4}).to_dict()}
    assert infer_preset(record) == "cpu"
    older = {k: v for k, v in record.items() if k not in ("precision", "hvp")}  # recorded before those fields
    assert infer_preset(older) == "cpu"
    assert infer_preset({**older, "precision": "bf16"}) == "custom"
    record["lr"] = 0.02
    assert infer_preset(record) == "custom"


def test_the_ladder_draws_each_architecture_per_rung_and_its_ranks_by_hand():
    """Four architectures: R0 80 79 78 77 (a..d); R1 has a, b, c at 84 85 83 (b overtakes a); R2 only a and d."""
    means = {"R0": {"a": 80.0, "b": 79.0, "c": 78.0, "d": 77.0}, "R1": {"a": 84.0, "b": 85.0, "c": 83.0},
             "R2": {"a": 86.0, "d": 86.5}}
    fig = plots.ladder(means, ["R0", "R1", "R2"], {"a": "all", "d": "none"}, "t")
    left, right = fig.axes[:2]
    lines = {tuple(map(tuple, line.get_xydata())) for line in left.get_lines()}
    assert ((0, 80), (1, 84), (2, 86)) in lines and ((0, 77), (2, 86.5)) in lines and ((0, 79), (1, 85)) in lines
    r1, r2 = [c.get_offsets() for c in right.collections[:2]]
    # ranks among the architectures both rungs have: R1 vs R0 on a, b, c; R2 vs R0 on a, d
    assert sorted(map(tuple, np.asarray(r1))) == [(1, 2), (2, 1), (3, 3)]
    assert sorted(map(tuple, np.asarray(r2))) == [(1, 2), (2, 1)]
    plots.plt.close(fig)


def test_an_architecture_figure_names_its_search_when_the_search_was_exported_under_another_name(tmp_path):
    """A mask records the run directory it was derived from (runs/vgg16-cpu); the search was exported as
    results/search-vgg16-cpu.  Given the search it derived from, the diagram's title still names the data set
    and its channels the search's width; the recorded place alone finds nothing."""
    import json
    from pathlib import Path

    from vggdarts import derive, figures

    search = Path(__file__).resolve().parents[1] / "results" / "search-vgg16-cpu"
    mask = np.array(derive.load_mask(search.parent / "compare-vgg16-cpu" / "archs" / "argmax.json")[0])
    derive.save_mask(tmp_path / "archs" / "argmax.json", mask, "argmax", run=str(tmp_path / "runs" / "vgg16-cpu"))
    figures.architecture_figures(tmp_path, tmp_path / "found", search_run=search)
    figures.architecture_figures(tmp_path, tmp_path / "lost")
    title = lambda d: " ".join(json.loads((tmp_path / d / plots.MANIFEST).read_text())["arch_argmax"]["texts"])  # noqa: E731
    assert "CIFAR-10 (JPEG copy)" in title("found") and "width 0.25" in title("found")
    assert "CIFAR-10" not in title("lost")
