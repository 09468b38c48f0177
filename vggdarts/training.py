"""Pieces shared by the search and the retraining: device, optimiser, evaluation, the epoch loop."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
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
    """(mean cross-entropy, accuracy in %) over one pass.

    BatchNorm uses its running statistics (eval mode), or with ``batch_statistics`` each batch's own
    (train mode; the running buffers are restored afterwards, so the model is unchanged)."""
    was_training = model.training
    saved = [b.clone() for b in model.buffers()] if batch_statistics else []
    model.train(batch_statistics)
    loss_sum, correct, n = 0.0, 0, 0
    try:
        for x, y in batches.epoch(0):
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    finally:
        for b, b0 in zip(model.buffers(), saved):
            b.copy_(b0)
        model.train(was_training)
    return loss_sum / max(n, 1), 100.0 * correct / max(n, 1)


@dataclass
class Meter:
    """Running mean loss and accuracy over the training steps of one epoch."""

    loss_sum: float = 0.0
    correct: int = 0
    n: int = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> float:
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"training loss became {value}; the run stopped and its last good checkpoint was kept. "
                "Lower lr/alpha_lr or set grad_clip, then use a new --run-dir."
            )
        self.loss_sum += value * len(y)
        self.correct += (logits.argmax(1) == y).sum().item()
        self.n += len(y)
        return value

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.n, 1)

    @property
    def acc(self) -> float:
        return 100.0 * self.correct / max(self.n, 1)


def progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, mininterval=1.0, dynamic_ncols=True)


@dataclass
class EpochLoop:
    """Runs epochs ``start..epochs-1`` of a job, checkpointing after each.

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

    def run_epochs(self, train_epoch: Callable[[int], tuple[float, float]], evaluate_epoch: Callable[[int], dict],
                   state: Callable[[], dict], after_epoch: Callable[[], None] = lambda: None) -> None:
        for epoch in range(len(self.history), self.config.epochs):
            started = time.time()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_epoch(epoch)
            self.scheduler.step()
            row = dict(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc, **evaluate_epoch(epoch), lr=lr)
            row["seconds"] = time.time() - started
            self.history.append({k: row[k] for k in METRIC_COLUMNS})
            self.elapsed += row["seconds"]
            # checkpoint first: the files below are always derivable from it
            self.run.save_checkpoint({**state(), "history": self.history, "elapsed": self.elapsed,
                                      "rng_cpu": torch.get_rng_state()})
            if epoch + 1 in self.config.snapshot_epochs():
                self.run.keep_checkpoint_copy(epoch + 1)
            self.run.write_metrics(self.history)
            after_epoch()
            log.info("epoch %3d/%d  train %.3f/%.2f%%  val %.3f/%.2f%%  test %.3f/%.2f%%  lr %.4g  %.1fs",
                     epoch + 1, self.config.epochs, train_loss, train_acc, row["val_loss"], row["val_acc"],
                     row["test_loss"], row["test_acc"], lr, row["seconds"])
        # A kill between the checkpoint and these files (in the last epoch too) must not leave them stale:
        # after the epochs they are always rewritten from the checkpointed state.
        if self.history:
            self.run.write_metrics(self.history)
            after_epoch()

    def restore(self, checkpoint: dict[str, Any], **stateful) -> None:
        """Resume from a checkpoint: ``stateful`` maps checkpoint keys to objects with load_state_dict."""
        for key, obj in stateful.items():
            obj.load_state_dict(checkpoint[key])
        torch.set_rng_state(checkpoint["rng_cpu"])
        self.history, self.elapsed = list(checkpoint["history"]), float(checkpoint["elapsed"])
        log.info("resuming %s after epoch %d", self.run.path, len(self.history))

    def best(self, column: str) -> dict[str, float]:
        """The history row with the highest finite value of ``column``."""
        rows = [r for r in self.history if math.isfinite(r[column])]
        return max(rows, key=lambda r: r[column]) if rows else {k: float("nan") for k in METRIC_COLUMNS}

    def timing(self) -> dict[str, float]:
        return {"epochs_done": len(self.history),
                "mean_epoch_seconds": sum(r["seconds"] for r in self.history) / max(len(self.history), 1),
                "wall_seconds": self.elapsed}
