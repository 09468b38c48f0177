"""Pieces shared by the search and the retraining: device, optimiser, evaluation, the epoch loop."""
from __future__ import annotations

import logging
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import Batches, Dataset
from .rundir import METRIC_COLUMNS, RunDir

log = logging.getLogger("vggdarts")


class NonFiniteLossError(RuntimeError):
    """Training diverged (NaN/inf loss); the last good checkpoint is kept."""


def setup_logging(level: int = logging.INFO) -> None:
    """Send vggdarts' one-line-per-epoch log to stdout (idempotent; for CLI and notebooks)."""
    if not any(getattr(h, "_vggdarts", False) for h in log.handlers):
        import sys

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        handler._vggdarts = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level)


def configure_threads(threads: int) -> None:
    """CPU threads for this process (0 = leave torch's default).  Results are bit-identical only between
    runs with the same thread count: float reductions are split differently."""
    if threads > 0:
        torch.set_num_threads(threads)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; platform.processor() is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What a run's float results depend on besides its config: the CPU kernels torch picked (its CPU
    capability), the thread count and the torch version.  Runs are bit-identical only where all three agree.
    The CPU's model name is recorded beside them (it says which machine a resumed run moved to)."""
    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
           "torch_version": str(torch.__version__), "cpu_model": cpu_model()}
    return {**out, **gpu_provenance()}


def gpu_provenance() -> dict[str, Any]:
    """Where a GPU is present: which one, the CUDA and cuDNN versions and the TF32 flags in force (what a CUDA
    run's float results depend on besides the config); empty otherwise."""
    if not torch.cuda.is_available():
        return {}
    return {"gpu": torch.cuda.get_device_name(torch.cuda.current_device()), "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but CUDA is not available here; use device=auto or cpu")
    return device


def sgd_and_schedule(params, config, steps_per_epoch: int = 1):
    """The weights' SGD optimiser and its per-epoch LR schedule (constant or cosine)."""
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.lr_schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs, eta_min=config.lr_min)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0)
    return opt, sched


def make_batches(data: Dataset, images, labels, config, device, *, train: bool, seed_offset: int = 0) -> Batches:
    mean, std = data.mean_std
    return Batches(images, labels, config.batch_size if train else config.eval_batch_size, mean=mean, std=std,
                   augment=train and config.augment, shuffle=train, seed=config.seed * 7919 + seed_offset,
                   device=device)


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, batch_statistics: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in %) over one pass; the sums stay on the device until the end.

    BatchNorm uses its running statistics (eval mode), or with ``batch_statistics`` each batch's own
    (train mode; the running buffers are restored afterwards, so the model is unchanged)."""
    was_training = model.training
    saved = [b.clone() for b in model.buffers()] if batch_statistics else []
    model.train(batch_statistics)
    meter = Meter(batches.device)
    try:
        for x, y in batches.epoch(0):
            logits = model(x)
            meter.add(F.cross_entropy(logits, y, reduction="sum"), logits, y, mean=False)
    finally:
        for b, b0 in zip(model.buffers(), saved):
            b.copy_(b0)
        model.train(was_training)
    return meter.read(check=False)


class Meter:
    """Running loss and accuracy over an epoch's steps, summed on the device: a step never waits for the
    GPU.  ``read()`` brings both to the host once (and stops a run whose loss became NaN/inf there, before
    its epoch can be checkpointed).  The sums are updated in place, so a CUDA graph can capture ``add``."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.n = 0

    def reset(self) -> "Meter":
        """Start a new epoch, in place (a captured CUDA graph keeps adding into these same tensors)."""
        self.loss_sum.zero_()
        self.correct.zero_()
        self.n = 0
        return self

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, mean: bool = True) -> None:
        """``loss``: the batch's mean (``mean=True``) or summed loss."""
        self.loss_sum.add_(loss.detach().double() * (len(y) if mean else 1))
        self.correct.add_((logits.detach().argmax(1) == y).sum())
        self.n += len(y)

    def read(self, check: bool = True) -> tuple[float, float]:
        """(mean loss, accuracy in %) so far, and a fresh start for the next epoch: the one host sync of an epoch."""
        loss_sum, correct, n = self.loss_sum.item(), self.correct.item(), self.n
        self.reset()
        if check and not math.isfinite(loss_sum):
            raise NonFiniteLossError(
                f"training loss became {loss_sum}; the run stopped and its last good checkpoint was kept. "
                "Lower lr/alpha_lr or set grad_clip, then use a new --run-dir."
            )
        return loss_sum / max(n, 1), 100.0 * correct / max(n, 1)


BATCH_ENV = "VGGDARTS_BATCH"  # set by the notebook batch runner: its log cannot redraw a bar, the epoch lines suffice


def progress_bars_shown() -> bool:
    return os.environ.get(BATCH_ENV) != "1"


def progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled or not progress_bars_shown():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, mininterval=1.0, dynamic_ncols=True)


@dataclass
class EpochLoop:
    """Runs epochs ``start..epochs-1`` of a job, checkpointing after each (or every ``checkpoint_every``-th).

    ``train_epoch(epoch) -> (train_loss, train_acc)`` trains one epoch;
    ``evaluate_epoch(epoch) -> dict`` returns val/test losses and accuracies;
    ``state() -> dict`` is what the checkpoint needs besides the history;
    ``after_epoch()`` writes job-specific artifacts (alpha files)."""

    run: RunDir
    config: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: list[dict[str, float]] = field(default_factory=list)
    elapsed: float = 0.0  # wall seconds of earlier sessions of this run
    sessions: list[dict[str, Any]] = field(default_factory=list)  # one machine() per session, from its epoch

    def run_epochs(self, train_epoch: Callable[[int], tuple[float, float]], evaluate_epoch: Callable[[int], dict],
                   state: Callable[[], dict], after_epoch: Callable[[], None] = lambda: None) -> None:
        if len(self.history) < self.config.epochs:
            self.sessions.append({"from_epoch": len(self.history) + 1, **machine()})
        for epoch in range(len(self.history), self.config.epochs):
            started = time.time()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_epoch(epoch)
            self.scheduler.step()
            row = dict(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc, **evaluate_epoch(epoch), lr=lr)
            row["seconds"] = time.time() - started
            self.history.append({k: row[k] for k in METRIC_COLUMNS})
            self.elapsed += row["seconds"]
            if not self.config.checkpoints_after(epoch + 1):
                self._log(row, 0.0)  # no file is written: they all stay what the last checkpoint holds
                continue
            # checkpoint first: the files below are always derivable from it
            saving = time.time()
            self.run.save_checkpoint({**state(), "history": self.history, "elapsed": self.elapsed,
                                      "sessions": self.sessions, "rng_cpu": torch.get_rng_state()})
            # an epoch's seconds include its checkpoint (at width 1 about 85 MB, copied off the GPU and synced);
            # the checkpoint's own copy of this last row cannot, the next checkpoint and metrics.csv do
            checkpoint_seconds = time.time() - saving
            self.history[-1]["seconds"] += checkpoint_seconds
            self.elapsed += checkpoint_seconds
            if epoch + 1 in self.config.snapshot_epochs():
                self.run.keep_checkpoint_copy(epoch + 1)
            self.run.write_metrics(self.history)
            after_epoch()
            self._log(row, checkpoint_seconds)
        # A kill between the checkpoint and these files (in the last epoch too) must not leave them stale:
        # after the epochs they are always rewritten from the checkpointed state.
        if self.history:
            self.run.write_metrics(self.history)
            after_epoch()

    def _log(self, row: dict, checkpoint_seconds: float) -> None:
        test = "" if math.isnan(row["test_acc"]) else f"  test {row['test_loss']:.3f}/{row['test_acc']:.2f}%"
        log.info("epoch %3d/%d  train %.3f/%.2f%%  val %.3f/%.2f%%%s  lr %.4g  %.1fs (checkpoint %.1fs)",
                 row["epoch"], self.config.epochs, row["train_loss"], row["train_acc"], row["val_loss"], row["val_acc"],
                 test, row["lr"], self.history[-1]["seconds"], checkpoint_seconds)  # test: once measured

    def restore(self, checkpoint: dict[str, Any], **stateful) -> None:
        """Resume from a checkpoint: ``stateful`` maps checkpoint keys to objects with load_state_dict."""
        for key, obj in stateful.items():
            obj.load_state_dict(checkpoint[key])
        torch.set_rng_state(checkpoint["rng_cpu"])
        self.history, self.elapsed = list(checkpoint["history"]), float(checkpoint["elapsed"])
        self.sessions = list(checkpoint.get("sessions", []))  # empty for checkpoints older than this record
        log.info("resuming %s after epoch %d", self.run.path, len(self.history))

    def best(self, column: str) -> dict[str, float]:
        """The history row with the highest finite value of ``column``."""
        rows = [r for r in self.history if math.isfinite(r[column])]
        return max(rows, key=lambda r: r[column]) if rows else {k: float("nan") for k in METRIC_COLUMNS}

    def timing(self) -> dict[str, float]:
        kinds = sorted({(s["cpu_capability"], s["threads"]) for s in self.sessions})
        models = sorted({s.get("cpu_model", "unknown") for s in self.sessions})  # recorded since it was added
        return {"epochs_done": len(self.history),
                "mean_epoch_seconds": sum(r["seconds"] for r in self.history) / max(len(self.history), 1),
                "wall_seconds": self.elapsed, "sessions": self.sessions,
                # the machine when every session ran on one kind; "mixed" says the run is not bit-reproducible
                "cpu_capability": kinds[0][0] if len(kinds) == 1 else ("mixed" if kinds else "unknown"),
                "threads": kinds[0][1] if len(kinds) == 1 else 0,
                # the CPU model too: the capability alone does not pin the kernels (two vendors' AVX512 differ)
                "cpu_model": models[0] if len(models) == 1 else ("mixed" if models else "unknown")}
