"""Parking a run in the repository's history and resuming it from there on a machine that kept nothing else."""
import json
import shutil
import subprocess

import pytest

from vggdarts import parking
from vggdarts.config import make_config
from vggdarts.files import file_lock
from vggdarts.rundir import RunDir, RunDirError, read_metrics
from vggdarts.search import search


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    for key, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                       "GIT_COMMITTER_EMAIL": "t@t"}.items():
        monkeypatch.setenv(key, value)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("runs/\n")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "start")
    return repo


CONFIG = make_config("search", "smoke", {"dataset": "synthetic", "progress": False, "epochs": 3})


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A 3-epoch smoke search stopped after epoch 2's files (as a session's end stops it); tests copy it."""
    run_dir = tmp_path_factory.mktemp("parking") / "search-x"
    original = RunDir.write_alpha

    def stop_after_two(self, raw, weights):
        original(self, raw, weights)
        if len(raw) == 2:
            raise KeyboardInterrupt("the session ends")

    with pytest.MonkeyPatch.context() as mp, pytest.raises(KeyboardInterrupt):
        mp.setattr(RunDir, "write_alpha", stop_after_two)
        search(CONFIG, run_dir)
    return run_dir


def _copy(stopped_run, repo):
    run_dir = repo / "runs" / "search-x"
    shutil.copytree(stopped_run, run_dir)
    return run_dir


def test_a_parked_run_is_restored_byte_for_byte_from_the_history_and_resumes(repo, stopped_run, monkeypatch):
    run_dir = _copy(stopped_run, repo)
    size = (run_dir / "checkpoint.pt").stat().st_size
    monkeypatch.setattr(parking, "PART_BYTES", size // 2 - 1)  # the checkpoint goes in three parts
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != ".lock"}
    tree_before = _git(repo, "ls-tree", "-r", "HEAD")

    manifest = parking.park(run_dir, repo=repo)
    assert manifest["epochs_done"] == 2 and manifest["epochs"] == 3
    assert _git(repo, "ls-tree", "-r", "HEAD") == tree_before  # the tree is as small as before ...
    assert not (repo / "parked").exists() and not _git(repo, "status", "--porcelain")
    parked = _git(repo, "ls-tree", "-r", "--name-only", manifest["commit"])  # ... the history holds the run
    assert "parked/search-x/PARKED.json" in parked and "parked/search-x/metrics.csv" in parked
    assert [n for n in parked.split() if "checkpoint" in n] == [f"parked/search-x/checkpoint.pt.0{k}" for k in range(3)]
    monkeypatch.setattr(parking, "PART_BYTES", 1)  # unpark reads the parts the manifest names, whatever the limit now

    shutil.rmtree(repo / "runs")  # the next machine has the repository only
    clone = repo.parent / "clone"
    _git(repo.parent, "clone", "-q", str(repo), str(clone))
    restored = clone / "runs" / "search-x"
    assert parking.unpark("search-x", restored, repo=clone)["commit"] == manifest["commit"]
    assert {p.name: p.read_bytes() for p in restored.iterdir() if p.name != ".lock"} == before

    summary = search(CONFIG, restored)  # the usual command resumes after epoch 2
    assert [r["epoch"] for r in read_metrics(restored)] == [1, 2, 3]
    assert [s["from_epoch"] for s in summary["sessions"]] == [1, 3]


def test_park_and_unpark_refuse_what_would_lose_work_and_change_nothing(repo, stopped_run):
    run_dir = _copy(stopped_run, repo)
    head = _git(repo, "rev-parse", "HEAD")
    with file_lock(run_dir / ".lock"), pytest.raises(RunDirError, match="stop it first"):
        parking.park(run_dir, repo=repo)  # the job still runs
    assert _git(repo, "rev-parse", "HEAD") == head and not (repo / "parked").exists()
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho refused by a hook >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(RunDirError, match="git commit failed.*refused by a hook"):
        parking.park(run_dir, repo=repo)  # git refuses to commit: nothing is left behind
    assert _git(repo, "rev-parse", "HEAD") == head and not (repo / "parked").exists()
    assert not _git(repo, "status", "--porcelain")
    hook.unlink()
    with pytest.raises(RunDirError, match="was ever parked"):
        parking.unpark("search-x", repo / "runs" / "other", repo=repo)

    parking.park(run_dir, repo=repo)
    checkpoint = (run_dir / "checkpoint.pt").read_bytes()
    with pytest.raises(RunDirError, match="already holds a checkpoint"):
        parking.unpark("search-x", run_dir, repo=repo)  # the newer local run is never overwritten
    assert (run_dir / "checkpoint.pt").read_bytes() == checkpoint

    parking.park(run_dir, repo=repo)  # parked again later: unpark takes the newest
    manifest = json.loads((_git(repo, "show", "HEAD~1:parked/search-x/PARKED.json")))
    assert parking.parked_commit("search-x", repo) == _git(repo, "rev-parse", "HEAD~1").strip()
    assert manifest["files"].keys() >= {"checkpoint.pt", "config.json", "metrics.csv", "alpha.npz"}
    assert manifest["parts"] == {}  # the smoke run's files are all under 32 MiB: committed whole
