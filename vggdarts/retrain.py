"""Train a derived architecture (a fixed shortcut mask) from scratch on the full training set.

The training images are split into a training part and a validation hold-out
(``val_size``, the same images for every method and seed: split seed 0).  The
validation accuracy is logged every epoch; the test set is evaluated once, after
the last epoch, and never used for any decision.  The run directory has the
search's schema (config.json, metrics.csv with test columns empty until the
end, checkpoint.pt, summary.json) and resumes the same way.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import accel
from . import layout
from .config import ConfigError, RetrainConfig
from .data import load_dataset, split_in_two, stratified_subset
from .derive import format_mask, load_mask
from .rundir import RunDir, RunDirError, read_json
from .supernet import SuperNet, count_macs, count_parameters
from .training import (EpochLoop, Meter, configure_threads, evaluate, make_batches, progress, resolve_device,
                       sgd_and_schedule)

log = logging.getLogger("vggdarts")
NAN = float("nan")


def retrain(config: RetrainConfig, run_dir: str | Path, wait: bool = True) -> dict:
    """Train (or resume training) the architecture ``config.arch`` into ``run_dir``; returns the summary.

    The run directory is locked meanwhile: a second process waits (or, with ``wait=False``, gets files.Busy)."""
    config.validate()
    mask, arch_record = load_mask(config.arch)
    net = layout.of(mask).name
    if net != config.net:
        raise ConfigError(f"{config.arch} is a {net} architecture ({mask.shape[0]}x{mask.shape[1]}), "
                          f"but net={config.net}; pass net={net}. Nothing was trained.")
    run = RunDir(run_dir, "retrain", config)
    with run.locked(wait):
        check_same_architecture(run, mask)
        return _retrain(config, run, mask, arch_record)


def check_same_architecture(run: RunDir, mask) -> None:
    """A run directory is matched by the architecture's contents, not by the mask file's path."""
    if not run.file("config.json").exists():
        return
    saved = read_json(run.path, "config.json").get("arch_mask")
    if saved is not None and saved != mask.astype(int).tolist():
        raise RunDirError(f"{run.path} trained a different architecture than {run.config.arch} now holds "
                          f"(was the mask file re-derived?). Nothing was changed. Use a new --run-dir, "
                          "or restore the original mask file.")


def train_val_split(data, config: RetrainConfig):
    """(training indices, validation indices) of a retrain: ``val_size`` images held out, stratified, seed 0."""
    used = stratified_subset(data.train_y, config.train_subset, seed=0)
    if config.val_size >= len(used):
        raise RunDirError(f"val_size={config.val_size} leaves no training images (only {len(used)} used)")
    val_part, train_part = split_in_two(data.train_y[used], seed=0, first=config.val_size)
    return used[train_part], used[val_part]


def _retrain(config: RetrainConfig, run: RunDir, mask, arch_record: dict) -> dict:
    ckpt = run.load_checkpoint()
    if (done := run.finished_summary(ckpt)) is not None:
        return done

    configure_threads(config.threads)
    device = resolve_device(config.device)
    data = load_dataset(config.dataset, config.data_root)
    train_idx, val_idx = train_val_split(data, config)
    test_idx = stratified_subset(data.test_y, config.test_subset, seed=0)
    train = make_batches(data, data.train_x[train_idx], data.train_y[train_idx], config, device, train=True)
    val = make_batches(data, data.train_x[val_idx], data.train_y[val_idx], config, device, train=False)
    test = make_batches(data, data.test_x[test_idx], data.test_y[test_idx], config, device, train=False)

    torch.manual_seed(config.seed)
    model = SuperNet(config.width, len(data.classes), mask=torch.from_numpy(mask), net=config.net)
    params, macs = count_parameters(model), count_macs(model)
    model = accel.prepare(model.to(device, memory_format=torch.channels_last), config, device)
    opt, sched = sgd_and_schedule(model.parameters(), config)
    loop = EpochLoop(run, config, opt, sched)
    if ckpt is not None:
        loop.restore(ckpt, model=model, opt=opt, sched=sched)
    run.write_config(data.name, extra={"arch_method": arch_record.get("method"), "arch_mask": mask.astype(int).tolist(),
                                       "n_train": len(train_idx), "n_val": len(val_idx), "n_test": len(test_idx),
                                       "device_used": str(device)})
    log.info("retraining %s (%d shortcuts, %.2fM parameters, %.1fM MACs) on %s\n%s",
             arch_record.get("method"), int(mask.sum()), params / 1e6, macs / 1e6, data.name, format_mask(mask))

    meter = Meter(device)

    def train_epoch(epoch: int):
        for x, y in progress(train.epoch(epoch), len(train), f"retrain {epoch + 1}/{config.epochs}", config.progress):
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            meter.add(loss, logits, y)  # summed on the device; read (and NaN-checked) once per epoch
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
        return meter.read()

    def evaluate_epoch(epoch: int):
        val_loss, val_acc = evaluate(model, val) if len(val_idx) else (NAN, NAN)
        last = epoch + 1 == config.epochs
        test_loss, test_acc = evaluate(model, test) if last else (NAN, NAN)  # the test set: once, at the end
        return dict(val_loss=val_loss, val_acc=val_acc, test_loss=test_loss, test_acc=test_acc)

    def state():
        return {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}

    started = time.time()
    loop.run_epochs(train_epoch, evaluate_epoch, state)
    final = loop.history[-1]
    summary = {"job": "retrain", "dataset_used": data.name, "arch_method": arch_record.get("method"),
               "arch_file": str(config.arch), "n_shortcuts": int(mask.sum()), "params": params, "macs": macs,
               "test_acc": final["test_acc"], "test_loss": final["test_loss"], "final_val_acc": final["val_acc"],
               "best_val_acc": loop.best("val_acc")["val_acc"], "seed": config.seed, "width": config.width,
               **loop.timing(), "session_seconds": time.time() - started}
    run.write_summary(summary)
    log.info("retrain done: %s seed %d -> test acc %.2f%% on %s (%s)", arch_record.get("method"), config.seed,
             summary["test_acc"], data.name, run.path)
    return summary
