"""Retraining derived architectures and the restartable comparison sweep."""
import json
import math

import numpy as np
import pytest

from conftest import run_cli
from vggdarts import compare, derive
from vggdarts.config import make_config
from vggdarts.retrain import retrain
from vggdarts.rundir import read_metrics


def _config(arch, **over):
    return make_config("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(arch), **over})


@pytest.fixture
def resnet_arch(tmp_path):
    return derive.save_mask(tmp_path / "resnet.json", derive.resnet(), "resnet")


def test_retrain_reports_test_accuracy_once_at_the_end(tmp_path, resnet_arch, caplog):
    with caplog.at_level("INFO", logger="vggdarts"):
        summary = retrain(_config(resnet_arch, epochs=3), tmp_path / "r")
    rows = read_metrics(tmp_path / "r")
    assert [math.isnan(r["test_acc"]) for r in rows] == [True, True, False]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert len(lines) == 3 and "nan" not in " ".join(lines)  # the log says nothing of test until it is measured
    assert ["test" in line for line in lines] == [False, False, True]
    assert all(not math.isnan(r["val_acc"]) for r in rows)
    assert summary["test_acc"] == rows[-1]["test_acc"] and summary["n_shortcuts"] == 6
    assert summary["params"] > 0 and summary["macs"] > 0 and summary["arch_method"] == "resnet"
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["arch_mask"] == derive.resnet().astype(int).tolist()
    assert config["n_train"] + config["n_val"] == 768 and config["n_val"] == 256


def test_retrain_refuses_a_missing_or_bad_arch(tmp_path):
    result = run_cli("retrain", "--arch", str(tmp_path / "nope.json"), "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "does not exist" in result.stderr and "derive" in result.stderr
    assert not (tmp_path / "r").exists()


def test_derive_cli_writes_a_mask(smoke_run, tmp_path):
    out = tmp_path / "argmax.json"
    result = run_cli("derive", "--search-run", str(smoke_run), "--method", "argmax", "--out", str(out))
    assert result.returncode == 0, result.stderr
    mask, record = derive.load_mask(out)
    weights = np.loadtxt(smoke_run / "alpha_weights.csv", delimiter=",", skiprows=1)[:, 1:]
    assert (mask == derive.argmax(weights)).all() and record["run"] == str(smoke_run)
    assert "i\\j" in result.stdout


def test_sweep_is_restartable(smoke_run, tmp_path):
    out = tmp_path / "cmp"
    methods = ("argmax", "none", "random")
    rows = compare.sweep(smoke_run, out, "smoke", seeds=(0, 1), methods=methods, overrides={"epochs": 1})
    assert sorted((r["method"], r["seed"]) for r in rows) == sorted(
        (m, s) for m in methods for s in (0, 1))
    assert (out / "archs" / "random0.json").exists() and (out / "archs" / "random1.json").exists()
    assert not np.array_equal(derive.load_mask(out / "archs" / "random0.json")[0],
                              derive.load_mask(out / "archs" / "random1.json")[0])
    finished = (out / "argmax" / "seed0" / "checkpoint.pt").stat().st_mtime_ns
    # simulate an interrupted run: keep only its checkpoint-free start (delete summary + checkpoint)
    interrupted = out / "none" / "seed1"
    for name in ("summary.json", "checkpoint.pt", "metrics.csv"):
        (interrupted / name).unlink()
    rows2 = compare.sweep(smoke_run, out, "smoke", seeds=(0, 1), methods=methods, overrides={"epochs": 1})
    assert (out / "argmax" / "seed0" / "checkpoint.pt").stat().st_mtime_ns == finished  # skipped
    assert (interrupted / "summary.json").exists()
    assert {(r["method"], r["seed"]): r["test_acc"] for r in rows2} == {(r["method"], r["seed"]): r["test_acc"]
                                                                       for r in rows}  # same seed, same result
    table = compare.aggregate(rows2)
    assert {r["method"] for r in table} == set(methods) and all(r["n"] == 2 for r in table)
    assert "| argmax | 2 |" in compare.markdown_table(table)


def test_diverged_runs_are_reported_not_fatal(smoke_run, tmp_path):
    out = tmp_path / "cmp"
    rows = compare.sweep(smoke_run, out, "smoke", seeds=(0,), methods=("none", "all"),
                         overrides={"epochs": 1, "lr": 1e12})
    status = {r["method"]: r["status"] for r in rows}
    assert "diverged" in status.values()
    table = compare.aggregate(rows)
    assert any(r["failed"] for r in table)


def test_perturbation_on_a_search_run_with_finetuning(smoke_run):
    before = (smoke_run / "checkpoint.pt").read_bytes()
    mask, extra = compare.derive_perturbation(smoke_run, val_images=128, finetune_steps=2)
    assert mask.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert extra["val_images"] == 128 and len(extra["measurements"]) == 6
    assert (smoke_run / "checkpoint.pt").read_bytes() == before  # the search run is only read


def test_rows_of_several_sweeps_are_labelled_and_paired(smoke_run, tmp_path):
    compare.sweep(smoke_run, tmp_path / "a", "smoke", seeds=(0, 1), methods=("none", "resnet"), overrides={"epochs": 1})
    compare.sweep(smoke_run, tmp_path / "b", "smoke", seeds=(0, 1), methods=("all",), overrides={"epochs": 1})
    rows = compare.collect_many({"": tmp_path / "a", "other": tmp_path / "b"})
    assert {r["method"] for r in rows} == {"none", "resnet", "other/all"}
    table = {r["method"]: r for r in compare.aggregate(rows)}
    d = table["other/all"]["diff"]
    by_seed = {(r["method"], r["seed"]): r["test_acc"] for r in rows}
    assert d.estimate == pytest.approx(np.mean([by_seed[("other/all", s)] - by_seed[("none", s)] for s in (0, 1)]))
    assert table["none"]["diff"] is None


def test_pairs_are_marked_approximate_where_the_runs_had_other_threads_or_cpus():
    def row(method, seed, acc, threads, cap):
        return {"method": method, "seed": seed, "status": "ok", "test_acc": acc, "final_val_acc": acc,
                "n_shortcuts": 0, "params": 1e6, "macs": 1e6, "threads": threads, "cpu_capability": cap}

    same = [row("none", s, 70 + s, 1, "AVX512") for s in (0, 1)] + [row("all", s, 71 + s, 1, "AVX512") for s in (0, 1)]
    table = compare.aggregate(same)
    assert [r["pairs"] for r in table if r["method"] == "all"] == [["same", "same"]]
    assert "≈" not in compare.markdown_table(table) and "2 of 2 ran under the same" in compare.markdown_table(table)
    other = same[:2] + [row("all", 0, 71, 2, "AVX512"), row("all", 1, 72, 1, "AVX2")]
    text = compare.markdown_table(compare.aggregate(other))
    assert "≈ |" in text and "0 of 2 ran under the same" in text and "2 under another thread count" in text
    legacy = same[:2] + [row("all", s, 71 + s, 1, "unknown") for s in (0, 1)]
    assert compare.aggregate(legacy)[0]["pairs"] == ["unrecorded", "unrecorded"]
    # one capability on two vendors' CPUs runs other kernels: recorded models that differ do not pair exactly
    vendors = [dict(r, cpu_model="Intel Xeon" if r["method"] == "none" else m)
               for r, m in zip(same, ("", "", "AMD EPYC", "Intel Xeon"))]
    assert [r["pairs"] for r in compare.aggregate(vendors) if r["method"] == "all"] == [["differs", "same"]]
    assert "≈" not in compare.markdown_table(compare.aggregate(legacy))


def test_every_pick_against_every_baseline_by_hand():
    """Two seeds: t(0.975, 1) = 12.706.  argmax - none = 2.0, 2.5: mean 2.25, sem 0.25, [-0.93, +5.43], cannot
    tell; threshold - none = 2.0, 2.02: mean 2.01, sem 0.01, [+1.883, +2.137], higher; threshold - all =
    -1.0 (seed 0 only: all's seed 1 diverged), no interval; a diverged or missing run is not paired."""
    def row(method, seed, acc, status="ok"):
        return {"method": method, "seed": seed, "test_acc": acc, "status": status}

    rows = [row("none", 0, 80.0), row("none", 1, 81.0), row("all", 0, 83.0), row("all", 1, math.nan, "diverged"),
            row("argmax", 0, 82.0), row("argmax", 1, 83.5), row("threshold", 0, 82.0), row("threshold", 1, 83.02)]
    got = {(p["pick"], p["baseline"]): p for p in compare.against(rows, ["argmax", "threshold"], ["none", "all"])}
    a = got["argmax", "none"]
    assert (a["n"], a["verdict"]) == (2, "cannot tell")
    assert np.allclose([a["diff"].estimate, a["diff"].low, a["diff"].high], [2.25, 2.25 - 12.7062 * 0.25, 2.25 + 12.7062 * 0.25], atol=1e-3)
    t = got["threshold", "none"]
    assert (t["n"], t["verdict"]) == (2, "higher") and np.allclose([t["diff"].low, t["diff"].high], [1.8829, 2.1371], atol=1e-3)
    one = got["threshold", "all"]
    assert (one["n"], one["verdict"]) == (1, "cannot tell") and np.isclose(one["diff"].estimate, -1.0)
    assert math.isnan(one["diff"].low) and str(one["diff"]) == "-1.00, no interval"
    flipped = compare.against([{**r, "test_acc": 160 - r["test_acc"]} for r in rows], ["threshold"], ["none"])
    assert flipped[0]["verdict"] == "lower"
