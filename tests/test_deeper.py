"""The question asked of VGG16, end to end at toy size: notebooks 01 -> 04 through papermill with net=vgg16
(as `make run PRESET=vgg16-cpu` runs them), the records exported as results/ holds them, and the report's
"Deeper networks" tables rendered from those records."""
import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, SHARED_ARCHIVE, run_cli, execute_notebook
from vggdarts import depth, derive, report
from vggdarts.rundir import alpha_tables

METHODS = ["argmax", "threshold", "perturbation", "none", "all", "resnet"]


@pytest.fixture(scope="module")
def vgg16(tmp_path_factory):
    base = tmp_path_factory.mktemp("vgg16")
    dataset = str(SHARED_ARCHIVE) if SHARED_ARCHIVE.exists() else "synthetic"
    run_dir, figures = base / "run", base / "figures"
    execute_notebook("01_search", base, preset="smoke", net="vgg16", run_dir=str(run_dir), dataset=dataset, epochs=2,
             train_subset=640, test_subset=200)
    execute_notebook("02_alpha", base, run_dir=str(run_dir), figures_dir=str(figures))
    execute_notebook("03_curves", base, run_dir=str(run_dir), figures_dir=str(figures))
    execute_notebook("04_derive_retrain", base, search_run=str(run_dir), out_dir=str(run_dir / "compare"), preset="smoke",
             seeds=[0, 1], methods=METHODS, extra={"epochs": 1}, figures_dir=str(figures))
    results = base / "results"
    results.mkdir()
    for src, out in ((run_dir, report.DEEPER["search"]), (run_dir / "compare", report.DEEPER["compare"])):
        done = run_cli("export", "--run-dir", str(src), "--out", str(results / out))
        assert done.returncode == 0, done.stderr
    shutil.copytree(ROOT / "results" / report.DEEPER["shallow"], results / report.DEEPER["shallow"])
    return dict(run_dir=run_dir, figures=figures, results=results)


def test_the_search_notebook_searches_vgg16s_66_edges(vgg16):
    config = json.loads((vgg16["run_dir"] / "config.json").read_text())
    raw, weights = alpha_tables(vgg16["run_dir"])
    assert config["net"] == "vgg16" and raw.shape == weights.shape == (13, 11)
    assert np.allclose(weights.sum(1)[2:], 1.0, atol=1e-5)  # softmax rows over each block's candidates


def test_the_vgg16_figures_are_drawn(vgg16):
    for name in ("alpha_raw_heatmap", "alpha_weights_heatmap", "alpha_trajectories", "architecture_argmax",
                 "accuracy_curves", "comparison"):
        with Image.open(vgg16["figures"] / f"{name}.png") as im:
            assert im.size[0] > 300 and im.size[1] > 200 and len(np.unique(np.asarray(im.convert("L")))) > 20, name


def test_the_comparison_retrains_every_method_on_vgg16_masks(vgg16):
    with open(vgg16["results"] / report.DEEPER["compare"] / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["method"], int(r["seed"])) for r in rows) == sorted((m, s) for m in METHODS for s in (0, 1))
    masks = {m: derive.load_mask(vgg16["run_dir"] / "compare" / "archs" / f"{m}.json")[0] for m in METHODS}
    assert all(np.asarray(m).shape == (13, 11) for m in masks.values())
    assert np.array_equal(masks["resnet"], derive.resnet("vgg16")) and np.array_equal(masks["all"], derive.all_edges("vgg16"))
    by = {r["method"]: r for r in rows}
    assert int(by["all"]["params"]) > int(by["resnet"]["params"]) > int(by["none"]["params"])


def test_the_deeper_networks_tables_render_from_the_vgg16_records(vgg16):
    text = report.deeper_search_table(vgg16["results"])
    assert "VGG16 (`search-vgg16-cpu`): 2 epochs" in text and "Not yet" not in text
    table = alpha_tables(vgg16["results"] / report.DEEPER["search"])[1]
    pairs = depth.by_relative_depth(table, alpha_tables(ROOT / "results" / report.DEEPER["shallow"])[1])
    assert len(pairs) == 11 and all(f"| {r['block']} ({r['depth']:.2f}) |" in text for r in pairs)
    compare = report.deeper_compare_table(vgg16["results"])
    lines = [line for line in compare.splitlines() if line.startswith("| ") and "method" not in line]
    assert sorted(line.split(" | ")[0][2:] for line in lines) == sorted(METHODS)
    assert "Δ test vs none, paired" in compare


def test_the_cost_projection_is_set_against_what_the_vgg16_records_took(vgg16, tmp_path):
    """Each retrain's minutes are its epochs times its mean epoch; the search's epoch is the median of its
    metrics; a bound below every retrain counts them all, one above none; no records, no sentence."""
    summaries = [json.loads(f.read_text()) for f in (vgg16["results"] / report.DEEPER["compare"]).glob("*/seed*/summary.json")]
    minutes = sorted(s["mean_epoch_seconds"] * s["epochs_done"] / 60 for s in summaries)
    with open(vgg16["results"] / report.DEEPER["search"] / "metrics.csv") as f:
        epoch = np.median([float(r["seconds"]) for r in csv.DictReader(f)])
    low = report._deeper_cost_measured(vgg16["results"], 146.0, 0.0)
    assert f"median epoch {epoch:.0f} s against the projected 146 s" in low
    assert f"the 12 retrains {minutes[0]:.1f} to {minutes[-1]:.1f} min each, 12 of them over" in low
    assert "within the projected bound" in report._deeper_cost_measured(vgg16["results"], 146.0, 60 * minutes[-1] + 1)
    assert report._deeper_cost_measured(tmp_path, 146.0, 0.0) == ""


def test_the_deeper_networks_tables_say_how_to_make_missing_records(tmp_path):
    text = report.deeper_search_table(tmp_path) + report.deeper_compare_table(tmp_path) + report.deeper_reading(tmp_path)
    assert text.count("Not yet recorded") == 3 and "make run PRESET=vgg16-cpu" in text


def test_the_deeper_reading_says_what_the_vgg16_records_say(vgg16):
    """The reading's numbers are depth.pick_summary's of the two searches, one table row per pick and baseline
    with compare.against's verdict, every told pair named in the words, and picks that are one network named."""
    results = vgg16["results"]
    text = report.deeper_reading(results)
    deep = depth.pick_summary(alpha_tables(results / report.DEEPER["search"])[1])
    shallow = depth.pick_summary(alpha_tables(results / report.DEEPER["shallow"])[1])
    assert f"Of the 10 blocks with a choice of source, {deep['shortest']} take x_(i-2)" in text
    assert f"(VGG11: {shallow['shortest']} of 5)" in text and f"span {deep['span']:.1f} blocks, {deep['relative_span']:.2f} of" in text
    assert f"average {deep['decided']:.2f} (VGG11: {shallow['decided']:.2f})" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and "against" not in line]
    assert sorted((r[0][2:], r[1]) for r in rows) == sorted(
        (p, b) for p in ("argmax", "threshold", "perturbation") for b in ("none", "all", "resnet"))
    for r in rows:
        if r[4].rstrip(" |") != "cannot tell":
            assert "no interval" not in r[3] and f"`{r[0][2:]}` {r[4].rstrip(' |')} than `{r[1]}` ({r[3]})" in text
    archs = results / report.DEEPER["compare"] / "archs"
    masks = {m: json.loads((archs / f"{m}.json").read_text())["mask"] for m in METHODS}
    same = [(a, b) for i, a in enumerate(METHODS) for b in METHODS[i + 1:] if masks[a] == masks[b]]
    assert all(f"`{a}` and `{b}`" in text for a, b in same) and (("Same network" in text) == bool(same))


def test_vgg16_records_beside_the_vgg11_ones_change_only_the_deeper_networks_tables(vgg16, tmp_path):
    """With VGG16's search and comparison in results/, every VGG11 table of the report renders as committed and
    the VGG11 ground-truth set is the same (it must not take VGG16's picks as its own)."""
    from vggdarts import groundtruth

    both = tmp_path / "results"
    both.mkdir()
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")  # the report's speed tables read beside results/
    for entry in (ROOT / "results").iterdir():
        if entry.name not in (report.DEEPER["search"], report.DEEPER["compare"]):  # the toy ones stand in for them
            (both / entry.name).symlink_to(entry)
    for name in (report.DEEPER["search"], report.DEEPER["compare"]):
        (both / name).symlink_to(vgg16["results"] / name)
    assert sorted(report.stale(ROOT / "docs" / "report.md", both)) == ["deeper-compare", "deeper-cost", "deeper-reading",
                                                                           "deeper-search"]
    assert groundtruth.architecture_set(results=both).keys() == groundtruth.architecture_set(results=ROOT / "results").keys()
