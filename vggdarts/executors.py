"""Run a sweep's jobs on an existing engine: in this process, a local pool of processes, or SLURM.

Every job is "run, or resume, this config into this run directory" (:mod:`vggdarts.jobs`), so an
engine only has to start it again after a timeout, a preemption or a crash: it continues from its
last checkpointed epoch and ends with the same result as an uninterrupted run.

* ``inline``  one after another in this process (notebooks, tests; the default).
* ``local``   submitit's LocalExecutor: each job is its own subprocess; at most ``max_parallel`` run at
              once (submitit would start them all), each with ``threads`` CPU threads (default: the
              cores split between the parallel jobs), one per GPU where there are GPUs.  A timeout is
              always set (submitit's default would kill a job after 2 minutes); a job that times out is
              requeued and resumes; a job whose process dies is resubmitted ``retries`` times.
* ``slurm``   submitit's SlurmExecutor: one job array per sweep with ``array_parallelism``; partition,
              account, time, gpus, cpus and memory from a YAML file or a dict; a job that hits its time
              limit or is preempted is requeued (submitit's Checkpointable) and resumes.

submitit's logs go under ``<sweep folder>/_submitit``.  A failed job is reported with its run
directory and the last lines of its error; the other jobs go on, and the final report lists every
failure.  Diverged runs are results (``status: diverged``), not failures.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .jobs import Job, run_inline, run_job

log = logging.getLogger("vggdarts")
EXECUTORS = ("inline", "local", "slurm")
# cluster.yaml keys -> submitit SlurmExecutor parameters
SLURM_KEYS = {"partition": "partition", "account": "account", "time": "time", "gpus": "gpus_per_node",
              "cpus": "cpus_per_task", "mem": "mem", "qos": "qos", "constraint": "constraint",
              "array_parallelism": "array_parallelism", "setup": "setup", "job_name": "job_name"}


@dataclass
class Engine:
    """Where and how a sweep's jobs run (CLI: --executor/--max-parallel/--threads/--slurm-config;
    notebooks: the same names as parameters)."""

    executor: str = "inline"
    max_parallel: int = 1  # local: processes at once (on a GPU machine: at most jobs_per_gpu per GPU)
    threads: int = 0  # CPU threads per job; 0 = the machine's cores split between the parallel jobs
    timeout_min: float = 7 * 24 * 60  # local: a job running longer is signalled, checkpointed and requeued
    signal_delay_s: int = 60  # local: the signal comes this long before the timeout, to save and exit in time
    retries: int = 1  # local/slurm: resubmissions of a job whose process died without a result
    max_requeues: int = 3  # timeouts/preemptions a job may be requeued after
    slurm: dict[str, Any] = field(default_factory=dict)  # cluster.yaml's settings
    poll_s: float = 1.0
    progress: bool = True
    jobs_per_gpu: int = 1  # local, on a GPU machine: jobs sharing one GPU (small, launch-bound jobs leave it idle)

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.max_parallel < 1 or self.threads < 0 or self.jobs_per_gpu < 1:
            raise ValueError("max_parallel and jobs_per_gpu must be >= 1, threads >= 0")
        if not 0 < self.signal_delay_s < self.timeout_min * 60:
            raise ValueError(f"signal_delay_s must be between 0 and the timeout ({self.timeout_min * 60:g} s)")
        unknown = set(self.slurm) - set(SLURM_KEYS)
        if unknown:
            raise ValueError(f"unknown SLURM setting(s) {sorted(unknown)}; valid: {', '.join(sorted(SLURM_KEYS))}")


def load_slurm_config(path: str | os.PathLike | None) -> dict[str, Any]:
    """Read a cluster.yaml (partition, account, time in minutes, gpus, cpus, mem, array_parallelism, ...)."""
    if not path:
        return {}
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SLURM config {path} does not exist (copy and edit docs/cluster.yaml; docs/reference.md, 'Sweeps')")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of SLURM settings, e.g. 'partition: gpu'")
    return data


class JobTask:
    """The callable submitit pickles: run or resume one job.  Checkpointable: on a timeout or preemption
    submitit requeues the same task, and the run directory makes it continue where it stopped."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self) -> dict[str, Any]:
        from .training import setup_logging

        setup_logging()  # one line per epoch into the job's submitit log
        return run_job(self.job)

    def checkpoint(self, *args, **kwargs):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(JobTask(self.job))


def with_threads(jobs: list[Job], engine: Engine) -> list[Job]:
    """Give each job its CPU thread count (a runtime field: it does not change what a run means)."""
    threads = engine.threads or max(1, (os.cpu_count() or 1) // engine.max_parallel)
    return [replace(j, overrides={**j.overrides, "threads": j.overrides.get("threads", threads)}) for j in jobs]


def run_jobs(jobs: list[Job], engine: Engine | None = None, folder: str | os.PathLike = ".",
             on_result: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Run every job on ``engine``; returns one result per job, in order ({status, run_dir, label, ...}).

    Statuses: ok, diverged, failed (with ``error``: the last lines of its log).  ``on_result(n, result)`` is
    called as each job ends, so a long sweep can record what finished before it is cut off."""
    engine = engine or Engine()
    done = on_result or (lambda n, result: None)
    if engine.executor == "inline":  # here, one after another: all cores unless --threads says otherwise
        return run_inline(with_threads(jobs, engine) if engine.threads else jobs, done)
    jobs = with_threads(jobs, engine) if engine.executor == "local" else jobs
    logs = Path(folder) / "_submitit"
    run = _run_local if engine.executor == "local" else _run_slurm
    results = run(jobs, engine, logs, done)
    failures = [r for r in results if r["status"] == "failed"]
    for r in failures:
        log.error("FAILED %s (%s):\n%s", r["label"], r["run_dir"], r["error"])
    log.info("%d jobs: %d ok, %d diverged, %d failed%s", len(results), sum(r["status"] == "ok" for r in results),
             sum(r["status"] == "diverged" for r in results), len(failures),
             "".join(f"\n  failed: {r['label']} -> {r['run_dir']}" for r in failures))
    return results


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


def _run_local(jobs: list[Job], engine: Engine, logs: Path, done: Callable[[int, dict], None]) -> list[dict]:
    import submitit

    gpus = _gpu_count()
    parallel = min(engine.max_parallel, gpus * engine.jobs_per_gpu) if gpus else engine.max_parallel
    executor = submitit.LocalExecutor(folder=logs, max_num_timeout=engine.max_requeues)
    executor.update_parameters(timeout_min=engine.timeout_min, signal_delay_s=engine.signal_delay_s)
    pending = list(range(len(jobs)))
    running: dict[int, tuple[Any, int | None]] = {}  # job index -> (submitit job, gpu)
    attempts = [0] * len(jobs)
    results: dict[int, dict] = {}
    bar = _progress(len(jobs), engine)
    while pending or running:
        while pending and len(running) < parallel:
            n = pending.pop(0)
            busy = [g for _, g in running.values()]
            gpu = min(range(gpus), key=busy.count) if gpus else None  # the GPU with the fewest jobs
            if gpu is not None:
                executor.update_parameters(gpus_per_node=1, visible_gpus=[gpu])
            attempts[n] += 1
            running[n] = (executor.submit(JobTask(jobs[n])), gpu)
        time.sleep(engine.poll_s)
        for n, (sjob, _) in list(running.items()):
            if not sjob.done():
                continue
            del running[n]
            outcome = _outcome(sjob, jobs[n])
            if outcome["status"] == "failed" and attempts[n] <= engine.retries:
                log.warning("%s: its process ended without a result; resubmitting (it resumes from %s)",
                            jobs[n].label, jobs[n].run_dir)
                pending.insert(0, n)
                continue
            results[n] = outcome
            done(n, outcome)
            bar.update(1)
    bar.close()
    return [results[n] for n in range(len(jobs))]


def _run_slurm(jobs: list[Job], engine: Engine, logs: Path, done: Callable[[int, dict], None]) -> list[dict]:
    import submitit

    settings = {SLURM_KEYS[k]: v for k, v in engine.slurm.items()}
    settings.setdefault("array_parallelism", engine.max_parallel)
    executor = submitit.SlurmExecutor(folder=logs, max_num_timeout=engine.max_requeues)
    executor.update_parameters(**settings)
    with executor.batch():  # one job array for the whole sweep
        submitted = [executor.submit(JobTask(job)) for job in jobs]
    log.info("submitted %d jobs as SLURM array %s", len(jobs), submitted[0].job_id.split("_")[0] if submitted else "-")
    results: dict[int, dict] = {}
    bar = _progress(len(jobs), engine)
    while len(results) < len(jobs):
        time.sleep(engine.poll_s)
        for n, sjob in enumerate(submitted):
            if n not in results and sjob.done():
                results[n] = _outcome(sjob, jobs[n])
                done(n, results[n])
                bar.update(1)
    bar.close()
    return [results[n] for n in range(len(jobs))]


def _outcome(sjob, job: Job) -> dict[str, Any]:
    base = {"run_dir": job.run_dir, "label": job.label or job.run_dir}
    try:
        return sjob.result()
    except Exception as err:  # noqa: BLE001 - any failure of one job is reported, the others go on
        tail = _tail(sjob.stderr()) or _tail(str(err))
        return {**base, "status": "failed", "summary": None, "error": tail}


def _tail(text: str | None, lines: int = 12) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, engine: Engine):
    from .training import progress_bars_shown

    if not engine.progress or not progress_bars_shown():
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="jobs finished", unit="job")
