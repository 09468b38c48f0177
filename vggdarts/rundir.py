"""The run directory: the files every job writes and every notebook reads.

Schema (search; retrain writes the same minus the alpha files)::

    config.json     every resolved parameter + job, dataset actually used,
                    package/torch versions, git commit
    metrics.csv     one row per completed epoch (columns: METRIC_COLUMNS)
    alpha.npz       raw, weights: float [epochs, 8, C] in the table layout, full precision
                    (what derivation reads); C = 6, or 7 with a last "none" column for the
                    relaxations that have one (softmax_none, gumbel)
    alpha_raw.csv   final raw alpha, rows i = 1..8, columns j1..j6 (+ none), 4 decimals
    alpha_weights.csv  final relaxed table (softmax weights or sigmoid gates), same layout
    checkpoint-epochNNN.pt  copies kept after the epochs listed in keep_checkpoints (optional)
    checkpoint.pt   everything needed to resume, rewritten atomically each epoch
    summary.json    best/final accuracies, best epoch by val accuracy, wall time

Opening a run directory never runs code from it: checkpoints are loaded with
``torch.load(weights_only=True)`` and hold only tensors and plain containers.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__, layout
from .config import field_defaults
from .files import atomic_write_bytes, atomic_write_text, file_lock

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr", "seconds")
log = logging.getLogger("vggdarts")
FILES = ("config.json", "metrics.csv", "checkpoint.pt", "summary.json", "alpha.npz", "alpha_raw.csv",
         "alpha_weights.csv")


class RunDirError(RuntimeError):
    """The run directory cannot be used for this job (nothing in it was changed)."""


def git_commit() -> str:
    """The code version: the commit hash, and where the tree has uncommitted changes '-dirty' plus a digest of
    the package's diff against it ('-dirty+3f2a9c1e0b4d'; 'clean-package' when only files outside vggdarts/
    changed), so that two records made from the same modified code can be told apart; or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if not dirty:
            return commit
        diff = subprocess.run(["git", "-C", str(here), "diff", "HEAD", "--", "."], capture_output=True,
                              timeout=30).stdout
        return f"{commit}-dirty+{hashlib.sha256(diff).hexdigest()[:12] if diff else 'clean-package'}"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunDir:
    """A job's output folder; refuses to mix runs of different configs."""

    def __init__(self, path: str | os.PathLike, job: str, config):
        self.path, self.job, self.config = Path(path), job, config
        self._check_compatible()

    @contextmanager
    def locked(self, wait: bool = True):
        """Hold the run directory's lock (a second process waits, or gets files.Busy with ``wait=False``);
        the compatibility check is repeated under the lock, since another process may have started the run."""
        lock = self.file(".lock")
        with file_lock(lock, wait, what=f"run directory {self.path}"):
            try:
                self._check_compatible()
                yield self
            finally:  # a finished run keeps no lock file, refused or not (one still waiting finds the run done)
                if self.file("summary.json").exists():
                    lock.unlink(missing_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def _check_compatible(self) -> None:
        cfg_file = self.file("config.json")
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run directory {self.path} is a file; choose another --run-dir")
        if not cfg_file.exists():
            leftovers = [p.name for p in self.path.glob("*") if p.name in FILES] if self.path.exists() else []
            if leftovers:
                raise RunDirError(f"{self.path} holds run files ({', '.join(leftovers)}) but no config.json; "
                                  "it is not a run this version can resume. Choose another --run-dir.")
            return
        try:
            saved = json.loads(cfg_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise RunDirError(f"{cfg_file} is unreadable ({err}); choose another --run-dir") from None
        if saved.get("job") != self.job:
            raise RunDirError(f"{self.path} holds a {saved.get('job')!r} run, not a {self.job!r} run; "
                              "choose another --run-dir")
        mine, defaults = self.config.decision_fields(), field_defaults(self.config)
        saved = {k: saved.get(k, defaults[k]) for k in mine}  # runs older than a field ran with its default
        diffs = [f"{k}: {saved[k]!r} (run dir) vs {v!r} (now)" for k, v in mine.items() if saved[k] != v]
        if diffs:
            raise RunDirError(
                f"{self.path} was made with a different config ({'; '.join(diffs)}). Nothing was changed. "
                "Use a new --run-dir, or pass the run's original settings to resume it."
            )

    def write_config(self, dataset_used: str, extra: dict[str, Any] | None = None) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.file("config.json").exists():
            return  # a resumed run keeps the record of how it was started
        record = {"job": self.job, **self.config.to_dict(), "dataset_used": dataset_used,
                  "vggdarts_version": __version__, "torch_version": torch.__version__,
                  "cpu_capability": torch.backends.cpu.get_cpu_capability(), "python_version": platform.python_version(), "git_commit": git_commit(), **(extra or {})}
        atomic_write_text(self.file("config.json"), json.dumps(record, indent=2) + "\n")

    # -- checkpoint
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.file("checkpoint.pt"), buffer.getvalue())

    def keep_checkpoint_copy(self, epoch: int) -> Path:
        """Keep the checkpoint of ``epoch`` as checkpoint-epochNNN.pt (config field keep_checkpoints)."""
        path = self.file(f"checkpoint-epoch{epoch:03d}.pt")
        atomic_write_bytes(path, self.file("checkpoint.pt").read_bytes())
        return path

    def load_checkpoint(self) -> dict[str, Any] | None:
        path = self.file("checkpoint.pt")
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint gets the same advice
            raise RunDirError(
                f"{path} cannot be loaded ({type(err).__name__}: {str(err)[:200]}). It was left as it is. "
                "Move or delete it to restart this run from scratch, or use a new --run-dir."
            ) from None

    def finished_summary(self, checkpoint: dict[str, Any] | None) -> dict[str, Any] | None:
        """The summary of a run that already did all its epochs; None while there is work left.  A record
        exported without its checkpoint (export_record, compare.export_sweep) and copied back into a run folder
        is finished too, by its summary's epoch count: retraining it would overwrite the record."""
        if not self.file("summary.json").exists():
            return None
        summary = read_json(self.path, "summary.json")
        if checkpoint is None:
            done = summary.get("epochs_done", 0)
            if done < self.config.epochs:
                raise RunDirError(f"{self.path} holds a finished record of {done} epochs without its checkpoint.pt, "
                                  f"so it cannot be extended to {self.config.epochs}. Nothing was changed. "
                                  "Use a new --run-dir.")
        elif len(checkpoint["history"]) < self.config.epochs:
            return None
        log.info("run %s is already complete (%d epochs%s)", self.path, self.config.epochs,
                 "" if checkpoint is not None else "; an exported record, no checkpoint")
        return summary

    # -- human-readable artifacts
    def write_metrics(self, rows: list[dict[str, float]]) -> None:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row[k]) for k in METRIC_COLUMNS})
        atomic_write_text(self.file("metrics.csv"), out.getvalue())

    def write_alpha(self, raw: list[np.ndarray], weights: list[np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, raw=np.stack(raw), weights=np.stack(weights))
        atomic_write_bytes(self.file("alpha.npz"), buffer.getvalue())
        atomic_write_text(self.file("alpha_raw.csv"), table_csv(raw[-1]))
        atomic_write_text(self.file("alpha_weights.csv"), table_csv(weights[-1]))

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.file("summary.json"), json.dumps(summary, indent=2) + "\n")


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))  # exact round trip


def table_csv(table: np.ndarray) -> str:
    """An [n, n-2] table as CSV: header j1..j(n-2) (plus ``none`` for an [n, n-1] table), one row per block i,
    4 decimals (VGG11: [8, 6], j1..j6)."""
    n = layout.of(table).n_sources
    names = [f"j{j}" for j in range(1, n + 1)] + (["none"] if table.shape[1] > n else [])
    lines = ["i," + ",".join(names)]
    for i, row in enumerate(table, start=1):
        lines.append(f"{i}," + ",".join(f"{v:.4f}" for v in row))
    return "\n".join(lines) + "\n"


def read_table_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a table written by :func:`table_csv` back into an [n, n-2] (or [n, n-1], with none) array."""
    return np.loadtxt(path, delimiter=",", skiprows=1)[:, 1:]


RECORD_FILES = ("config.json", "metrics.csv", "summary.json", "alpha.npz", "alpha_raw.csv", "alpha_weights.csv")


def export_record(run_dir: str | os.PathLike, dest: str | os.PathLike, supernet: bool = True) -> Path:
    """Copy a finished run's record into ``dest`` (e.g. ``results/NAME``) for committing: the files in
    RECORD_FILES that exist, plus ``supernet.pt`` (the trained network's weights only, no optimiser state)
    when ``supernet`` and the run has a checkpoint, so one-shot scores and perturbation selection can be
    computed from the record without rerunning the search."""
    src, dest = Path(run_dir), Path(dest)
    if not (src / "summary.json").exists():
        raise RunDirError(f"{src} has no summary.json: only finished runs are exported")
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (src / name).exists():
            atomic_write_bytes(dest / name, (src / name).read_bytes())
    if supernet and (src / "checkpoint.pt").exists():
        model = torch.load(src / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
        buffer = io.BytesIO()
        torch.save({"model": model}, buffer)
        atomic_write_bytes(dest / "supernet.pt", buffer.getvalue())
    return dest


def alpha_tables(run_dir: str | os.PathLike, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(raw alpha, relaxed table) after ``epoch`` (1-based; None: the last recorded), full precision, from
    alpha.npz: [8, 6], or [8, 7] with a none column."""
    path = Path(run_dir) / "alpha.npz"
    if not path.exists():
        raise RunDirError(f"{path} does not exist: is {run_dir} a search run with at least one finished epoch?")
    with np.load(path) as z:
        raw, weights = z["raw"], z["weights"]
    if epoch is not None and not 1 <= epoch <= len(weights):
        raise RunDirError(f"{run_dir} records epochs 1..{len(weights)} of alpha; epoch {epoch} is not among them")
    k = -1 if epoch is None else epoch - 1
    return raw[k], weights[k]


def final_edge_weights(run_dir: str | os.PathLike) -> np.ndarray:
    """The last epoch's relaxed edge weights at full precision (what derivation reads)."""
    return alpha_tables(run_dir)[1]


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, float]]:
    with open(Path(run_dir) / "metrics.csv", newline="") as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


def finished_epochs(run_dir: str | os.PathLike) -> int:
    """Epochs a run directory has finished, by its metrics.csv (0 when there is none).  The checkpoint is written
    before the metrics, so a run resumes after at least this many epochs."""
    return len(read_metrics(run_dir)) if (Path(run_dir) / "metrics.csv").exists() else 0


def read_json(run_dir: str | os.PathLike, name: str) -> dict[str, Any]:
    path = Path(run_dir) / name
    if not path.exists():
        raise RunDirError(f"{path} does not exist: is {run_dir} a finished vggdarts run? "
                          "Run the search (notebook 01 or `python -m vggdarts search`) first.")
    return json.loads(path.read_text())
