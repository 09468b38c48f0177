"""A job is "run, or resume, this config into this run directory"; a sweep is a list of jobs.

Every run directory resumes after its last finished epoch and is locked while a
process trains it, so a job can be run again, requeued or run by two sweeps at
once: it trains once and continues where it stopped.  ``run_job`` is the one
entry point, in this process or in a worker (:mod:`vggdarts.executors`).

A run that diverges (NaN loss) is a result, not a crash: it leaves
``failed.json`` beside its config, and a later sweep with the *same* config
skips it (training is deterministic); a changed config is refused by the run
directory like any other mismatch.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import make_config
from .files import Busy, atomic_write_text

log = logging.getLogger("vggdarts")


@dataclass(frozen=True)
class Job:
    kind: str  # "search" | "retrain"
    preset: str
    overrides: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    run_dir: str = ""
    label: str = ""  # for reports, e.g. "argmax seed 1"

    def config(self):
        return make_config(self.kind, self.preset, self.overrides)


def run_job(job: Job, wait: bool = True) -> dict[str, Any]:
    """Run or resume ``job``; returns {'status': 'ok' | 'diverged', 'run_dir', 'label', 'summary'}.

    ``wait=False``: if another process holds the run directory, raise files.Busy at once."""
    from .retrain import retrain
    from .search import search
    from .training import NonFiniteLossError

    config, run_dir = job.config(), Path(job.run_dir)
    result = {"run_dir": str(run_dir), "label": job.label or str(run_dir)}
    failed = run_dir / "failed.json"
    if failed.exists():
        record = json.loads(failed.read_text())
        if record.get("config") == config.decision_fields():
            log.info("%s diverged before with this config; not retried (delete failed.json to retry)", run_dir)
            return {**result, "status": record["status"], "summary": None}
    runner = search if job.kind == "search" else retrain
    try:
        summary = runner(config, run_dir, wait=wait)
    except NonFiniteLossError as err:
        log.warning("%s diverged: %s", result["label"], err)
        record = {"job": job.kind, "seed": config.seed, "label": result["label"], "status": "diverged",
                  "error": str(err), "config": config.decision_fields()}
        atomic_write_text(failed, json.dumps(record, indent=2) + "\n")
        return {**result, "status": "diverged", "summary": None}
    failed.unlink(missing_ok=True)
    return {**result, "status": "ok", "summary": summary}


def run_inline(jobs: list[Job], on_result: Callable[[int, dict], None] | None = None) -> list[dict[str, Any]]:
    """Run the jobs in this process, one after another.  A run directory another process is training
    is put off to the end and then waited for, so two sweeps over one folder share the work.
    ``on_result(n, result)`` is called as each job ends."""
    results: dict[int, dict] = {}
    busy = []
    for n, job in enumerate(jobs):
        try:
            results[n] = run_job(job, wait=False)
        except Busy as err:
            log.info("%s; coming back to it later", err)
            busy.append(n)
            continue
        if on_result:
            on_result(n, results[n])
    for n in busy:
        results[n] = run_job(jobs[n], wait=True)
        if on_result:
            on_result(n, results[n])
    return [results[n] for n in range(len(jobs))]
