"""benchmarks/device_check.sh --cpu-dry-run walks every step of the GPU check at smoke size."""
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_cpu_dry_run_walks_every_step_and_writes_its_report(tmp_path):
    script = ROOT / "benchmarks" / "device_check.sh"
    assert os.access(script, os.X_OK)
    env = {**os.environ, "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(script), "--cpu-dry-run"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    assert report["device"]["dry_run"] and report["device"]["torch"]
    assert report["tests"] and set(report["tests"].values()) <= {"skipped", "passed"}  # the CUDA tests ran (here: skip)
    assert {"eager", "bf16"} <= set(report["bench"]["modes"])
    assert all(r["loss_finite"] for r in report["bench"]["modes"].values())
    assert report["paper"]["exit_code"] == 0 and len(report["paper"]["epoch_seconds"]) == 2
    assert "projected 100 epochs" in (tmp_path / "out" / "device_check.md").read_text()
    _check_what_comes_back(tmp_path / "out")
    assert report["cut_by_deadline"] == [] and set(report["steps"]) == {"tests", "bench", "search"}
    with tarfile.open(tmp_path / "out" / "records.tar.gz") as tar:
        names = tar.getnames()
    assert {"cuda-tests.xml", "bench.json", "search-smoke-2ep/metrics.csv", "search-smoke-2ep/alpha.npz"} <= set(names)
    assert not any(n.endswith((".pt", ".lock")) for n in names)  # no checkpoint, no lock


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
