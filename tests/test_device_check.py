"""benchmarks/device_check.sh --cpu-dry-run walks every step of the GPU check at smoke size."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_cpu_dry_run_walks_every_step_and_writes_its_report(tmp_path):
    script = ROOT / "benchmarks" / "device_check.sh"
    assert os.access(script, os.X_OK)
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    # cuda_graphs cannot run on a CPU: a mode that fails, as one of seven may on a GPU's first run
    result = subprocess.run([str(script), "--cpu-dry-run", "--modes", "eager,bf16,cuda_graphs"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    assert report["device"]["dry_run"] and report["device"]["torch"]
    assert report["tests"] and set(report["tests"].values()) <= {"skipped", "passed"}  # the CUDA tests ran (here: skip)
    modes = report["bench"]["modes"]
    assert {"eager", "bf16", "cuda_graphs"} == set(modes) and "error" in modes["cuda_graphs"]
    assert all(modes[m]["loss_finite"] for m in ("eager", "bf16")) and report["correct_modes"]["cuda_graphs"] is False
    assert "| cuda_graphs | failed: needs a CUDA device" in (tmp_path / "out" / "device_check.md").read_text()
    paper = report["paper"]
    assert paper["exit_code"] == 0 and len(paper["epoch_seconds"]) == paper["epochs_planned"] == 6  # it fit: all 6
    assert paper["decision"]["after_epochs"] >= 2 and paper["decision"]["fits"]
    assert "projected 6 epochs" in (tmp_path / "out" / "device_check.md").read_text()
    _check_what_comes_back(tmp_path / "out")
    assert report["cut_by_deadline"] == [] and set(report["steps"]) == {"tests", "bench", "search", "retrains"}
    assert set(report["retrains"]) == {"argmax", "all", "none"}
    assert all(r["exit_code"] == 0 and r["test_acc"] is not None for r in report["retrains"].values())
    results = tmp_path / "results"  # what a session does with the archive: tar x into results/
    with tarfile.open(tmp_path / "out" / "records.tar.gz") as tar:
        names = tar.getnames()
        tar.extractall(results, filter="data")
    assert {"device-check/cuda-tests.xml", "device-check/bench.json", "search-smoke-dryrun/metrics.csv",
            "search-smoke-dryrun/alpha.npz", "search-smoke-dryrun/record.json",
            "compare-smoke-dryrun/archs/argmax.json", "compare-smoke-dryrun/none/seed0/summary.json",
            "compare-smoke-dryrun/comparison.csv", "device-check/retrains.log"} <= set(names)
    assert not any(n.endswith((".pt", ".lock")) for n in names)  # no checkpoint, no lock
    from vggdarts import compare, figures
    from vggdarts.notebook import search_summary

    assert json.loads((results / "search-smoke-dryrun" / "record.json").read_text())["supernet_weights"] is False
    figures.print_tables(results / "search-smoke-dryrun")  # what notebooks 02 and 03 read
    assert "best test accuracy" in search_summary(results / "search-smoke-dryrun")
    assert {r["method"] for r in compare.collect(results / "compare-smoke-dryrun", write=False)} == {"argmax", "all", "none"}


def _check_what_comes_back(out: Path) -> None:
    """The device tool returns at most 8 files, none deeper than $OUT/a/b/file."""
    files = [p for p in out.rglob("*") if p.is_file()]
    assert 1 <= len(files) <= 8, files
    assert all(len(p.relative_to(out).parts) <= 3 for p in files), files
    json.loads((out / "device_check.json").read_text())  # valid


def test_a_deadline_that_runs_out_leaves_a_valid_report_and_kills_the_step(tmp_path):
    script = ROOT / "benchmarks" / "device_check.sh"
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(script), "--cpu-dry-run", "--deadline", "4"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    assert report["cut_by_deadline"] and report["seconds"] < 4 + 30  # cut, not run to the end of its own limits
    assert "cut by the deadline" in (tmp_path / "out" / "device_check.md").read_text()
    _check_what_comes_back(tmp_path / "out")


def test_without_a_gpu_the_real_check_refuses_with_one_clear_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the real check would run")
    env = {**os.environ, "OUT": str(tmp_path / "out")}
    result = subprocess.run([str(ROOT / "benchmarks" / "device_check.sh")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "no CUDA device here; use --cpu-dry-run" in result.stderr


def test_a_search_whose_rest_does_not_fit_stops_once_projected(tmp_path):
    script = ROOT / "benchmarks" / "device_check.sh"
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(script), "--cpu-dry-run", "--search-epochs", "5000", "--deadline", "150"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    paper = json.loads((tmp_path / "out" / "device_check.json").read_text())["paper"]
    decided = paper["decision"]["after_epochs"]  # the watch polls every 0.5 s: a smoke epoch may slip past
    assert 2 <= decided <= 10 and not paper["decision"]["fits"]
    assert decided <= len(paper["epoch_seconds"]) <= decided + 1 and paper["exit_code"] == 0  # a decision, not a cut
    assert "stopped there" in (tmp_path / "out" / "device_check.md").read_text()
    _check_what_comes_back(tmp_path / "out")


def _device_check():
    import importlib.util

    spec = importlib.util.spec_from_file_location("device_check", ROOT / "benchmarks" / "device_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_step_is_killed_with_its_children_at_its_timeout_or_when_the_watch_says_stop(tmp_path):
    import time

    dc = _device_check()
    child = tmp_path / "child.pid"
    cmd = ["bash", "-c", f"sleep 60 & echo $! > {child}; wait"]
    started = time.time()
    assert dc.run(cmd, tmp_path / "a.log", timeout=1)[0] == 124 and time.time() - started < 10
    stat = Path(f"/proc/{child.read_text().strip()}/stat")
    for _ in range(50):  # the grandchild went with the group: gone, or a zombie nobody has reaped yet
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{stat.parent} is still running after its group was killed")
    calls = []
    code, _ = dc.run(cmd, tmp_path / "b.log", timeout=60, watch=lambda: calls.append(1) or ("enough" if len(calls) > 1 else None))
    assert code == 0 and "enough" in (tmp_path / "b.log").read_text()


def test_a_mode_is_correct_only_when_every_test_it_rests_on_passed():
    dc = _device_check()
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                "tests/test_cuda.py"], cwd=ROOT, capture_output=True, text=True).stdout
    names = {line.split("::", 1)[1] for line in collected.splitlines() if line.startswith("tests/test_cuda.py::")}
    gated = set(dc.BASIC_TESTS) | {n for t in (*dc.MODE_TESTS.values(), *dc.MAY_SKIP.values()) for n in t}
    assert gated == names  # every CUDA test gates some mode, and every gate is a real test
    passed = dict.fromkeys(names, "passed")
    assert dc.mode_is_correct("cuda_graphs+bf16", passed, dry=False)
    two_gpus = "test_graphs_are_captured_and_replayed_on_the_jobs_gpu_not_the_current_one"
    assert dc.mode_is_correct("cuda_graphs", {**passed, two_gpus: "skipped"}, dry=False)  # one GPU: skipped
    assert not dc.mode_is_correct("cuda_graphs", {**passed, two_gpus: "failed"}, dry=False)
    assert not dc.mode_is_correct("cuda_graphs", {**passed, "test_a_killed_search_resumes_on_cuda[graphs]": "failed"},
                                  dry=False)
    assert not dc.mode_is_correct("deterministic", {**passed, "test_a_killed_search_resumes_on_cuda[deterministic]": "skipped"},
                                  dry=False)
    assert dc.mode_is_correct("bf16", {**passed, "test_a_killed_search_resumes_on_cuda[graphs]": "failed"}, dry=False)
    missing = {k: v for k, v in passed.items() if "graph_replayed" not in k}
    assert not dc.mode_is_correct("cuda_graphs", missing, dry=False)  # a test that did not run is not a pass


def test_retrains_run_without_compile_or_graphs_but_keep_the_precision():
    dc = _device_check()
    for mode in dc.MODE_SETTINGS:
        settings = dc.retrain_settings("dataset=x", 3, mode)
        assert not any(s.startswith(("compile", "cuda_graphs")) for s in settings), mode
        assert ("precision=bf16" in settings) == ("bf16" in mode)
    assert dc.SEARCH_SEED == 1


def test_a_cut_test_step_keeps_the_outcomes_its_verbose_log_shows(tmp_path):
    """pytest writes its junit XML at the end; a step killed at its timeout leaves only the -v log."""
    dc = _device_check()
    log = tmp_path / "cuda-tests.log"
    log.write_text("$ python -m pytest -v -rA -m cuda tests/test_cuda.py\n"
                   "tests/test_cuda.py::test_forward_backward_and_alpha_gradients_on_cuda_equal_the_cpu PASSED [ 10%]\n"
                   "tests/test_cuda.py::test_fast_modes_track_the_fp32_eager_loss_over_200_steps[bf16] FAILED [ 20%]\n"
                   "tests/test_cuda.py::test_graphs_are_captured_and_replayed_on_the_jobs_gpu_not_the_current_one "
                   "SKIPPED (one GPU) [ 30%]\n"
                   "tests/test_cuda.py::test_fast_modes_track_the_fp32_eager_loss_over_200_steps[compile] \n"
                   "[device_check] timed out after 150 s; its process group was killed\n")
    assert dc.test_outcomes(tmp_path / "absent.xml", log) == {
        "test_forward_backward_and_alpha_gradients_on_cuda_equal_the_cpu": "passed",
        "test_fast_modes_track_the_fp32_eager_loss_over_200_steps[bf16]": "failed",
        "test_graphs_are_captured_and_replayed_on_the_jobs_gpu_not_the_current_one": "skipped"}  # compile: cut
    assert dc.test_outcomes(tmp_path / "absent.xml") == {}


def test_the_search_mode_counts_its_start_up_against_the_time_it_has():
    dc = _device_check()
    modes = {"eager": {"first_order_img_s": 1000.0, "first_call_s": 2.0},
             "cuda_graphs": {"first_order_img_s": 3000.0, "first_call_s": 5.0},
             "compile": {"first_order_img_s": 3500.0, "first_call_s": 80.0},
             "bf16": {"first_order_img_s": 9000.0, "first_call_s": 2.0}}
    correct = {"eager": True, "cuda_graphs": True, "compile": True, "bf16": False}  # bf16's tests failed
    assert dc.fastest_mode(modes, correct, seconds=100) == "cuda_graphs"  # compile: 20 s of training left
    assert dc.fastest_mode(modes, correct, seconds=3600) == "compile"
    assert dc.fastest_mode(modes, {"eager": False, "compile": True}, seconds=60) == "eager"  # no time to compile
    assert dc.fastest_mode({}, {}, seconds=100) == "eager"


def test_an_early_step_cannot_take_the_time_a_later_step_is_guaranteed():
    dc = _device_check()
    clock = dc.Clock(300)  # the bounds leave a minute for a loaded machine between these lines
    assert 90 <= clock.budget(150, keep=150) <= 150 and 40 <= clock.budget(150, keep=200) <= 100
    assert clock.budget(150, keep=400) == 0 and 240 <= clock.budget(float("inf")) <= 300
    assert clock.budget(100, keep=0) == 100  # its own limit, when the deadline is further
