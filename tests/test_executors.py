"""Sweeps on submitit: inline vs a local process pool, the parallelism cap, kill + resubmit, timeout +
requeue, and the SLURM path end to end against fake sbatch/squeue/sacct/scancel commands."""
import csv
import os
import re
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vggdarts.executors import Engine, load_slurm_config, run_jobs
from vggdarts.jobs import Job

pytest.importorskip("submitit")


def _search_job(tmp_path, name, seed=0, **over):
    overrides = {"dataset": "synthetic", "progress": False, "seed": seed, "train_subset": 256, "test_subset": 64,
                 "threads": 1, **over}
    return Job("search", "smoke", overrides, str(tmp_path / name), name)


def _metrics_without_time(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _same_result(a, b):
    za, zb = np.load(Path(a) / "alpha.npz"), np.load(Path(b) / "alpha.npz")
    return (np.array_equal(za["raw"], zb["raw"]) and np.array_equal(za["weights"], zb["weights"])
            and _metrics_without_time(a) == _metrics_without_time(b))


def _cmdline(pid) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return ""


def _workers(folder):
    """PIDs of live submitit worker processes (the task, not its controller) whose folder is under ``folder``.
    Only tasks whose parent is a controller count: a task's own short-lived forks (``subprocess.run`` before
    its exec) carry the same command line for a moment, and are not extra jobs."""
    pids = []
    for proc in Path("/proc").iterdir():
        cmd = _cmdline(proc.name) if proc.name.isdigit() else ""
        if "submitit.core._submit" in cmd and str(folder) in cmd:
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if "submitit.local._local" in _cmdline(ppid):
                pids.append(int(proc.name))
    return pids


def test_inline_and_local_give_bit_identical_results_and_local_respects_max_parallel(tmp_path):
    inline = [_search_job(tmp_path / "inline", f"s{k}", seed=k) for k in range(4)]
    local = [_search_job(tmp_path / "local", f"s{k}", seed=k) for k in range(4)]
    assert [r["status"] for r in run_jobs(inline, Engine(progress=False))] == ["ok"] * 4
    seen, stop, ended = [], threading.Event(), []

    def watch():
        while not stop.is_set():
            seen.append(len(_workers(tmp_path / "local")))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = run_jobs(local, Engine("local", max_parallel=2, poll_s=0.2, progress=False), tmp_path / "local",
                           on_result=lambda n, r: ended.append((n, r["status"], Path(r["run_dir"]).exists())))
    finally:
        stop.set()
        watcher.join()
    assert [r["status"] for r in results] == ["ok"] * 4, results
    assert sorted(ended) == [(n, "ok", True) for n in range(4)]  # each job reported once, as it ended
    assert max(seen) == 2, f"observed worker counts {sorted(set(seen))}"  # parallel, never more than 2
    for a, b in zip(inline, local):
        assert _same_result(a.run_dir, b.run_dir), a.label
    assert list((tmp_path / "local" / "_submitit").glob("*_log.out"))  # submitit's logs under the sweep


def test_a_killed_job_is_resubmitted_and_ends_as_if_uninterrupted(tmp_path):
    reference = _search_job(tmp_path, "reference", epochs=6)
    run_jobs([reference], Engine(progress=False))
    job = _search_job(tmp_path, "killed", epochs=6)
    killed = []

    def kill_once():
        metrics, lock = Path(job.run_dir) / "metrics.csv", Path(job.run_dir) / ".lock"
        deadline = time.time() + 120
        while time.time() < deadline:
            if metrics.exists() and len(metrics.read_text().splitlines()) >= 3 and lock.exists():
                pid = int(lock.read_text().split()[0])
                os.kill(pid, signal.SIGKILL)  # the worker, mid-run (2 epochs checkpointed)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_once)
    killer.start()
    [result] = run_jobs([job], Engine("local", poll_s=0.2, retries=1, progress=False), tmp_path / "sweep")
    killer.join()
    assert killed, "the job finished before it could be killed"
    assert result["status"] == "ok", result
    assert _same_result(reference.run_dir, job.run_dir)


def _epochs_lasting(tmp_path, seconds):
    """How many epochs of ``_search_job`` take about ``seconds`` on this machine now (measured, not assumed:
    CI machines differ by 10x, and a job that ends before its timeout signal tests nothing)."""
    probe = _search_job(tmp_path, "probe", epochs=4)
    run_jobs([probe], Engine(progress=False))
    with open(Path(probe.run_dir) / "metrics.csv") as f:  # each epoch's own seconds: no start-up in them
        per_epoch = float(np.median([float(row["seconds"]) for row in csv.DictReader(f)]))
    return int(min(max(seconds / per_epoch, 40), 4000))


def _worker_start_up(tmp_path) -> float:
    """Seconds a local worker takes to start and finish a 1-epoch job (process, imports, data): measured, since
    a loaded machine takes several times longer than a quiet one."""
    start = time.perf_counter()
    run_jobs([_search_job(tmp_path, "start-up", epochs=1)], Engine("local", poll_s=0.2, progress=False),
             tmp_path / "start-up-sweep")
    return time.perf_counter() - start


def test_a_forced_timeout_requeues_the_job_which_resumes_and_finishes(tmp_path):
    # Each attempt lasts 15 s (longer where a worker's start-up is slow), the signal 5 s before its end; the job
    # computes for 2.5 attempts' worth of epochs, so the signal always comes mid-run (after the worker's start-up
    # and some checkpointed epochs) and the job needs at least one requeue.
    start_up = _worker_start_up(tmp_path)
    attempt = max(15.0, 3 * start_up)
    epochs = _epochs_lasting(tmp_path, 2.5 * (attempt - 5 - start_up))
    reference = _search_job(tmp_path, "reference", epochs=epochs)
    run_jobs([reference], Engine(progress=False))
    job = _search_job(tmp_path, "timed", epochs=epochs)
    engine = Engine("local", timeout_min=attempt / 60, signal_delay_s=5, max_requeues=10, poll_s=0.2, progress=False)
    [result] = run_jobs([job], engine, tmp_path / "sweep")
    assert result["status"] == "ok", result
    logs = "".join(p.read_text() for p in (tmp_path / "sweep" / "_submitit").glob("*_log.*"))
    assert "Requeued" in logs and "resuming" in logs, logs[-2000:]
    assert _same_result(reference.run_dir, job.run_dir)


def test_a_failing_job_is_reported_and_the_others_go_on(tmp_path):
    good = _search_job(tmp_path, "good")
    bad = Job("retrain", "smoke", {"dataset": "synthetic", "progress": False, "arch": str(tmp_path / "missing.json")},
              str(tmp_path / "bad"), "bad")
    results = run_jobs([bad, good], Engine("local", max_parallel=2, poll_s=0.2, retries=0, progress=False),
                       tmp_path / "sweep")
    assert [r["status"] for r in results] == ["failed", "ok"]
    assert "does not exist" in results[0]["error"] and results[0]["run_dir"] == str(tmp_path / "bad")


FAKE_SBATCH = '''#!{python}
import os, re, subprocess, sys
from pathlib import Path
state = Path(os.environ["FAKE_SLURM_DIR"])
if sys.argv[1] == "--run":  # the fake cluster: run the array's tasks here, one after another
    jid, script = sys.argv[2], sys.argv[3]
    text = Path(script).read_text()
    m = re.search(r"#SBATCH --array=(\\d+)-(\\d+)", text)
    for a in range(int(m[1]), int(m[2]) + 1) if m else [0]:
        tid = f"{{jid}}_{{a}}" if m else jid
        (state / f"state_{{tid}}").write_text("RUNNING")
        env = {{**os.environ, "SLURM_JOB_ID": tid, "SLURM_ARRAY_JOB_ID": jid, "SLURM_ARRAY_TASK_ID": str(a),
               "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NTASKS": "1",
               "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "fakenode"}}
        code = subprocess.run(["bash", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        (state / f"state_{{tid}}").write_text("COMPLETED" if code == 0 else "FAILED")
    sys.exit(0)
script = sys.argv[-1]
with open(state / "sbatch_received", "a") as f:
    f.write(Path(script).read_text() + "\\n")
counter = state / "counter"
jid = str(int(counter.read_text()) + 1 if counter.exists() else 4242)
counter.write_text(jid)
subprocess.Popen([sys.executable, __file__, "--run", jid, script], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"Submitted batch job {{jid}}")
'''

FAKE_SRUN = '''#!{python}
import os, subprocess, sys
args, out, err = sys.argv[1:], os.devnull, os.devnull
while args and args[0].startswith("--"):
    flag = args.pop(0)
    if flag == "--output": out = args.pop(0)
    elif flag == "--error": err = args.pop(0)
def fill(p):
    return (p.replace("%A", os.environ["SLURM_ARRAY_JOB_ID"]).replace("%a", os.environ["SLURM_ARRAY_TASK_ID"])
             .replace("%j", os.environ["SLURM_JOB_ID"]).replace("%t", "0"))
with open(fill(out), "a") as o, open(fill(err), "a") as e:
    sys.exit(subprocess.run(args, stdout=o, stderr=e).returncode)
'''

FAKE_SACCT = '''#!{python}
import os
from pathlib import Path
print("JobID|State|NodeList")
for f in sorted(Path(os.environ["FAKE_SLURM_DIR"]).glob("state_*")):
    print(f"{{f.name[6:]}}|{{f.read_text()}}|fakenode")
'''


def test_slurm_path_end_to_end_against_fake_slurm_commands(tmp_path, monkeypatch):
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm"
    bin_dir.mkdir()
    state.mkdir()
    scripts = {"sbatch": FAKE_SBATCH, "srun": FAKE_SRUN, "sacct": FAKE_SACCT,
               "squeue": "#!/bin/sh\necho 'JOBID STATE'\n", "scancel": "#!/bin/sh\nexit 0\n"}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text.format(python=sys.executable) if "{python}" in text else text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(textwrap.dedent("""\
        partition: fakepart
        account: fakelab
        time: 30
        gpus: 1
        cpus: 2
        mem: 4GB
        array_parallelism: 2
    """))
    jobs = [_search_job(tmp_path / "sweep", f"s{k}", seed=k) for k in range(3)]
    results = run_jobs(jobs, Engine("slurm", slurm=load_slurm_config(cluster), poll_s=0.2, progress=False),
                       tmp_path / "sweep")
    assert [r["status"] for r in results] == ["ok"] * 3, results
    received = (state / "sbatch_received").read_text()
    assert received.count("#!/bin/bash") == 1  # one job array for the whole sweep
    for line in ("--array=0-2%2", "--partition=fakepart", "--account=fakelab", "--time=30", "--gpus-per-node=1",
                 "--cpus-per-task=2", "--mem=4GB"):
        assert re.search(rf"#SBATCH {re.escape(line)}\b", received), line
    inline = [_search_job(tmp_path / "inline", f"s{k}", seed=k) for k in range(3)]
    run_jobs(inline, Engine(progress=False))
    assert all(_same_result(a.run_dir, b.run_dir) for a, b in zip(inline, jobs))


def test_engine_settings_are_checked():
    with pytest.raises(ValueError, match="executor"):
        Engine("dask")
    with pytest.raises(ValueError, match="unknown SLURM"):
        Engine("slurm", slurm={"partiton": "x"})
    with pytest.raises(FileNotFoundError, match="cluster.yaml"):
        load_slurm_config("nope.yaml")
    with pytest.raises(ValueError, match="jobs_per_gpu"):
        Engine("local", jobs_per_gpu=0)


class _FakeLocalExecutor:
    """Stands in for submitit.LocalExecutor on a machine without GPUs: records which GPUs each job was given
    and how many ran at once; a job is done after three polls."""
    log: list = []

    def __init__(self, folder, max_num_timeout):
        self.params, self.live = {}, []

    def update_parameters(self, **params):
        self.params.update(params)

    def submit(self, task):
        executor = self

        class FakeJob:
            polls = 0

            def done(self):
                FakeJob.polls += 1
                if FakeJob.polls >= 3 and self in executor.live:
                    executor.live.remove(self)
                return FakeJob.polls >= 3

            def result(self):
                return {"status": "ok", "run_dir": task.job.run_dir, "label": task.job.label}

        job = FakeJob()
        self.live.append(job)
        _FakeLocalExecutor.log.append((task.job.label, tuple(self.params.get("visible_gpus", ())), len(self.live)))
        return job


def test_on_a_gpu_machine_jobs_per_gpu_lets_that_many_jobs_share_each_gpu(tmp_path, monkeypatch):
    import submitit

    from vggdarts import executors

    monkeypatch.setattr(submitit, "LocalExecutor", _FakeLocalExecutor)
    monkeypatch.setattr(executors, "_gpu_count", lambda: 2)
    jobs = [_search_job(tmp_path, f"j{k}") for k in range(6)]
    for per_gpu, most in ((1, 2), (3, 6)):
        _FakeLocalExecutor.log = []
        engine = Engine("local", max_parallel=8, jobs_per_gpu=per_gpu, poll_s=0.0, progress=False)
        results = run_jobs(jobs, engine, tmp_path)
        assert [r["status"] for r in results] == ["ok"] * 6
        assert max(n for *_, n in _FakeLocalExecutor.log) == most  # at most GPUs x jobs_per_gpu at once
        assert all(len(gpus) == 1 for _, gpus, _ in _FakeLocalExecutor.log)  # each job sees one GPU
    first = [gpus[0] for _, gpus, _ in _FakeLocalExecutor.log[:6]]
    assert first == [0, 1, 0, 1, 0, 1]  # the GPU with the fewest jobs first: spread, not stacked


def test_threads_reach_jobs_run_inline_and_a_single_search_from_the_command_line(tmp_path):
    """--threads must not be dropped when the jobs run here (inline) or when one search runs without --seeds:
    a search asked for 1 thread beside another job would otherwise take every core."""
    import json

    from vggdarts.cli import main

    job = _search_job(tmp_path, "inline", epochs=1)
    job = Job(job.kind, job.preset, {k: v for k, v in job.overrides.items() if k != "threads"}, job.run_dir,
              job.label)
    [result] = run_jobs([job], Engine("inline", threads=1, progress=False), tmp_path)
    assert result["status"] == "ok"
    assert json.loads((tmp_path / "inline" / "config.json").read_text())["threads"] == 1
    run_dir = tmp_path / "cli"
    assert main(["search", "--preset", "smoke", "--threads", "1", "--run-dir", str(run_dir), "--set", "dataset=synthetic",
                 "--set", "train_subset=256", "--set", "test_subset=64", "--set", "epochs=1",
                 "--set", "progress=false"]) in (0, None)
    assert json.loads((run_dir / "config.json").read_text())["threads"] == 1
