"""The search job end to end: run directory schema, reproducibility, resume, refusals."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli, smoke_search_args
from vggdarts.config import make_config
from vggdarts.rundir import METRIC_COLUMNS, read_table_csv
from vggdarts.search import search
from vggdarts.training import cpu_model
from vggdarts.training import NonFiniteLossError


def _files(run_dir):
    """Every file of a run directory but its lock (which records the pid of the last process that held it)."""
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.name != ".lock"}


def test_smoke_run_writes_the_documented_run_directory(smoke_run):
    names = {p.name for p in smoke_run.iterdir()}
    assert {"config.json", "metrics.csv", "alpha.npz", "alpha_raw.csv", "alpha_weights.csv", "checkpoint.pt",
            "summary.json"} <= names
    config = json.loads((smoke_run / "config.json").read_text())
    assert config["job"] == "search" and config["epochs"] == 3 and config["dataset_used"].startswith("synthetic")
    assert config["torch_version"] == torch.__version__ and "git_commit" in config and "vggdarts_version" in config
    with open(smoke_run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == METRIC_COLUMNS and [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(0 <= float(r["test_acc"]) <= 100 for r in rows)
    z = np.load(smoke_run / "alpha.npz")
    assert z["raw"].shape == (3, 8, 6) and z["weights"].shape == (3, 8, 6)
    assert np.allclose(read_table_csv(smoke_run / "alpha_raw.csv"), z["raw"][-1], atol=5e-5)
    assert np.allclose(read_table_csv(smoke_run / "alpha_weights.csv"), z["weights"][-1], atol=5e-5)
    assert np.allclose(z["weights"][-1].sum(1), [0, 0, 1, 1, 1, 1, 1, 1])
    assert np.all(z["raw"][:, 2, 0] == 0)  # block 3's single candidate never moves
    assert np.abs(z["raw"][-1]).max() > 0  # but alpha did move elsewhere
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert summary["epochs_done"] == 3 and summary["best_test_acc"] == max(float(r["test_acc"]) for r in rows)
    best_val = max(rows, key=lambda r: float(r["val_acc"]))
    assert summary["best_val_epoch"] == int(best_val["epoch"])


def _config(**over):
    return make_config("search", "smoke", {"dataset": "synthetic", "progress": False, **over})


def test_same_seed_same_alpha_different_seed_different_alpha(tmp_path):
    search(_config(epochs=1), tmp_path / "a")
    search(_config(epochs=1), tmp_path / "b")
    search(_config(epochs=1, seed=1), tmp_path / "c")
    raw = {k: np.load(tmp_path / k / "alpha.npz")["raw"] for k in "abc"}
    assert np.array_equal(raw["a"], raw["b"])
    assert not np.array_equal(raw["a"], raw["c"])


def test_second_order_search_takes_a_different_alpha_path_than_first_order(tmp_path):
    """The unrolled gradient is not the first-order one: from the same seed and batches, a second-order search
    (exact or finite-difference Hessian-vector product) ends with other alpha than a first-order one, and its
    record says which it ran.  (The gradient itself is checked against finite differences in test_relaxations.)"""
    runs = {"first": dict(order="first"), "exact": dict(order="second", hvp="exact"),
            "fd": dict(order="second", hvp="fd")}
    raw = {}
    for name, over in runs.items():
        summary = search(_config(epochs=1, train_subset=256, **over), tmp_path / name)
        assert summary["epochs_done"] == 1
        raw[name] = np.load(tmp_path / name / "alpha.npz")["raw"][-1]
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert (config["order"], config["hvp"]) == (over["order"], over.get("hvp", config["hvp"]))
    assert np.abs(raw["exact"]).max() > 0
    assert not np.allclose(raw["exact"], raw["first"], rtol=0, atol=1e-6)
    assert not np.allclose(raw["fd"], raw["first"], rtol=0, atol=1e-6)


def test_sigkill_mid_epoch_then_resume_gives_bit_identical_alpha(smoke_run, tmp_path):
    run_dir = tmp_path / "killed"
    args = [sys.executable, "-m", "vggdarts", *smoke_search_args(run_dir, "--set", "epochs=3")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # during epoch 2 (epoch 1 is checkpointed)
    proc.wait()
    assert not (run_dir / "summary.json").exists(), "the run finished before it could be killed"
    done = len(metrics.read_text().splitlines()) - 1
    assert 1 <= done < 3
    result = run_cli(*smoke_search_args(run_dir, "--set", "epochs=3"))
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    resumed, uninterrupted = np.load(run_dir / "alpha.npz"), np.load(smoke_run / "alpha.npz")
    assert np.array_equal(resumed["raw"], uninterrupted["raw"])
    assert np.array_equal(resumed["weights"], uninterrupted["weights"])
    assert (run_dir / "metrics.csv").read_text().count("\n") == 4
    sessions = json.loads((run_dir / "summary.json").read_text())["sessions"]  # the machine of each session
    assert [s["from_epoch"] for s in sessions] == [1, done + 1]
    assert all(s["cpu_capability"] == torch.backends.cpu.get_cpu_capability() for s in sessions)
    assert all(s["cpu_model"] == cpu_model() and s["cpu_model"] for s in sessions)  # which machine ran each


def test_finished_run_is_not_rerun(smoke_run):
    before = _files(smoke_run)
    summary = search(_config(epochs=3), smoke_run)
    assert summary["epochs_done"] == 3 and _files(smoke_run) == before


def test_run_dir_from_another_config_is_refused_and_untouched(smoke_run):
    before = _files(smoke_run)
    result = run_cli(*smoke_search_args(smoke_run, "--set", "epochs=5"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "different config" in result.stderr and "epochs: 3" in result.stderr
    assert _files(smoke_run) == before


def test_corrupt_checkpoint_gives_clear_error_and_is_kept(smoke_run, tmp_path):
    run_dir = tmp_path / "corrupt"
    shutil.copytree(smoke_run, run_dir)
    (run_dir / "summary.json").unlink()
    (run_dir / "checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(Exception, match="cannot be loaded.*left as it is"):
        search(_config(epochs=3), run_dir)
    assert (run_dir / "checkpoint.pt").read_bytes() == b"\x00garbage"


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {EVIL_MARKER}",))


EVIL_MARKER = ""


def test_checkpoint_with_code_is_never_executed(smoke_run, tmp_path):
    global EVIL_MARKER
    EVIL_MARKER = str(tmp_path / "pwned")
    run_dir = tmp_path / "evil"
    shutil.copytree(smoke_run, run_dir)
    (run_dir / "summary.json").unlink()
    torch.save({"history": [], "payload": _Evil()}, run_dir / "checkpoint.pt")
    with pytest.raises(Exception, match="cannot be loaded"):
        search(_config(epochs=3), run_dir)
    assert not os.path.exists(EVIL_MARKER)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    import vggdarts.search as search_module

    run_dir = tmp_path / "nan"
    search(_config(epochs=1), run_dir)
    good = (run_dir / "checkpoint.pt").read_bytes()
    real_ce = torch.nn.functional.cross_entropy

    class PoisonedF:
        def __getattr__(self, name):
            return getattr(torch.nn.functional, name)

        @staticmethod
        def cross_entropy(logits, y, **kw):
            return real_ce(logits, y, **kw) * float("nan")

    monkeypatch.setattr(search_module, "F", PoisonedF())
    # same run, more epochs is a different config: use a fresh directory seeded from the good epoch instead
    resumed = tmp_path / "nan2"
    shutil.copytree(run_dir, resumed)
    (resumed / "summary.json").unlink()
    cfg = json.loads((resumed / "config.json").read_text())
    cfg["epochs"] = 2
    (resumed / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NonFiniteLossError, match="last good checkpoint was kept"):
        search(_config(epochs=2), resumed)
    ckpt = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert len(ckpt["history"]) == 1 and (resumed / "checkpoint.pt").read_bytes() == good


@pytest.mark.parametrize("args, message", [
    (["--set", "nosuchkey=1"], "unknown search parameter 'nosuchkey'"),
    (["--set", "epochs=many"], "epochs='many': expected int"),
    (["--set", "order=third"], "order must be 'first' or 'second'"),
    (["--set", "width=-1"], "width must be > 0"),
])
def test_bad_parameters_exit_2_with_one_line(tmp_path, args, message):
    result = run_cli("search", "--preset", "smoke", "--run-dir", str(tmp_path / "r"), *args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_preset_and_missing_data_exit_2(tmp_path):
    result = run_cli("search", "--preset", "huge", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run_cli("search", "--preset", "smoke", "--run-dir", str(tmp_path / "r"), "--set", "dataset=/no/such.tar.gz")
    assert result.returncode == 2 and "neither a known name nor an existing path" in result.stderr
    assert result.stderr.strip().count("\n") == 0
