"""DARTS search of the shortcut weights alpha: bilevel optimisation on two halves of the training set.

Each iteration:
  1. alpha step on a batch of the *alpha* half (Adam on alpha only);
       order=first:  grad = dL_val(w, alpha)/dalpha  (no weight gradients computed)
       order=second: DARTS's unrolled gradient of L_val(w - lr * dL_train/dw, alpha), its
                     Hessian-vector product exact (double backprop) or by DARTS's finite difference
  2. weight step on a batch of the *weights* half (SGD on the network weights only).
After each epoch: evaluate on the alpha half (val) and the test set, record alpha,
checkpoint.  Rerunning into the same run directory resumes after the last epoch.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import accel, relaxations
from .config import SearchConfig
from .cudagraphs import match_capturable
from .data import load_dataset, split_in_two, stratified_subset
from .hessian import mixed_hvp
from .rundir import RunDir, RunDirError, read_json
from .supernet import SuperNet
from .training import (EpochLoop, Meter, configure_threads, evaluate, make_batches, progress, resolve_device,
                       sgd_and_schedule)

log = logging.getLogger("vggdarts")


# ----------------------------------------------------------------------------- the two steps

def alpha_loss(model: SuperNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The alpha step's objective on a validation batch: cross-entropy plus the relaxation's own term on alpha."""
    return F.cross_entropy(model(x), y) + model.alpha_penalty()


def alpha_step_first_order(model: SuperNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accumulate dL_val/dalpha into alpha.grad; the weights get no gradient (the cheap half)."""
    loss = alpha_loss(model, x, y)
    loss.backward(inputs=model.arch_parameters())
    return loss.detach()


def alpha_step_second_order(model: SuperNet, w_opt: torch.optim.SGD, x_train, y_train, x_val, y_val,
                            hvp: str = "exact", fd_scale: float = 0.01):
    """Set alpha.grad to DARTS's unrolled gradient (eq. 7-8 of Liu et al. 2019):

        dL_val(w', alpha)/dalpha - lr * [d^2 L_train(w, alpha)/dalpha dw] . dL_val(w', alpha)/dw'

    w' = w - lr * (momentum * buf + dL_train/dw + wd * w) is the step SGD would take next (gradient
    clipping aside).  The mixed product is exact (double backprop) or DARTS's finite difference
    (``hvp``, see :mod:`vggdarts.hessian`).  Weights and BN running statistics are restored
    afterwards: only alpha.grad changes."""
    alpha, weights = model.arch_parameters(), model.weight_parameters()
    group = w_opt.param_groups[0]
    lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
    saved_weights = [p.detach().clone() for p in weights]
    saved_buffers = [b.clone() for b in model.buffers()]

    def train_loss():
        return F.cross_entropy(model(x_train), y_train)

    grads = torch.autograd.grad(train_loss(), weights)
    with torch.no_grad():  # w -> w'
        for p, g in zip(weights, grads):
            step = g + wd * p
            buf = w_opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None:
                step = step + momentum * buf
            p.sub_(lr * step)

    loss_val = alpha_loss(model, x_val, y_val)
    grads = torch.autograd.grad(loss_val, alpha + weights)
    d_alpha, d_weights = grads[: len(alpha)], grads[len(alpha):]
    with torch.no_grad():  # back to w: the mixed derivative is taken there
        for p, w0 in zip(weights, saved_weights):
            p.copy_(w0)
    products = mixed_hvp(hvp, train_loss, alpha, weights, d_weights, fd_scale)
    with torch.no_grad():
        for b, b0 in zip(model.buffers(), saved_buffers):
            b.copy_(b0)
    for a, da, h in zip(alpha, d_alpha, products):
        a.grad = da - lr * h
    return loss_val.detach()


def weight_step(model: SuperNet, w_opt: torch.optim.SGD, x, y, meter: Meter, grad_clip: float = 0.0) -> None:
    """One SGD step on the network weights; alpha gets no gradient."""
    weights = model.weight_parameters()
    w_opt.zero_grad(set_to_none=True)
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    meter.add(loss, logits, y)  # summed on the device; a NaN stops the run at the epoch's end, unsaved
    loss.backward(inputs=weights)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(weights, grad_clip)
    w_opt.step()


def search_iteration(model: SuperNet, w_opt, a_opt, config: SearchConfig, sampler: relaxations.Sampler,
                     xw, yw, xa, ya, meter: Meter, update_alpha: bool = True) -> None:
    """One DARTS iteration: the alpha step on a batch of the alpha half, then the weight step on a batch of
    the weights half (each under its own Gumbel sample, for that relaxation)."""
    if update_alpha:
        a_opt.zero_grad(set_to_none=True)
        with sampler.step(model):
            if config.order == "first":
                alpha_step_first_order(model, xa, ya)
            else:
                alpha_step_second_order(model, w_opt, xw, yw, xa, ya, config.hvp)
        a_opt.step()
    with sampler.step(model):
        weight_step(model, w_opt, xw, yw, meter, config.grad_clip)


def alpha_optimizer(model: SuperNet, config: SearchConfig) -> torch.optim.Adam:
    """Adam on alpha (capturable, i.e. its step count on the GPU, when the iteration is a CUDA graph)."""
    return torch.optim.Adam(model.arch_parameters(), lr=config.alpha_lr, betas=(config.alpha_beta1, config.alpha_beta2),
                            weight_decay=config.alpha_weight_decay, capturable=config.cuda_graphs)


def search_step(model: SuperNet, w_opt, a_opt, config: SearchConfig, sampler: relaxations.Sampler):
    """``step(xw, yw, xa, ya, meter, update_alpha)``: one search_iteration, eager or (cuda_graphs) a CUDA graph
    captured again when the weights' learning rate changes."""
    def iteration(xw, yw, xa, ya, meter: Meter, update_alpha: bool = True) -> None:
        search_iteration(model, w_opt, a_opt, config, sampler, xw, yw, xa, ya, meter, update_alpha)

    if not config.cuda_graphs:
        return iteration
    from .cudagraphs import GraphedIteration

    return GraphedIteration(iteration, key=lambda: w_opt.param_groups[0]["lr"])


# ----------------------------------------------------------------------------- the job

def search_split(data, config: SearchConfig, checkpoint: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the weights half and the alpha half (stratified, by ``config.seed``).

    With a checkpoint, the split must be the one it recorded (else the data changed under the run)."""
    used = stratified_subset(data.train_y, config.train_subset, config.seed)
    w_part, a_part = split_in_two(data.train_y[used], config.seed)
    w_idx, a_idx = used[w_part], used[a_part]
    if checkpoint is not None and not (torch.equal(checkpoint["split_weights"], w_idx)
                                       and torch.equal(checkpoint["split_alpha"], a_idx)):
        raise RunDirError("the data split differs from the one in the run's checkpoint (was the data set changed?). "
                          "Nothing was changed; use the original data or a new --run-dir.")
    return w_idx, a_idx


def search(config: SearchConfig, run_dir: str | Path, wait: bool = True) -> dict:
    """Run (or resume) a search into ``run_dir``; returns the summary.

    The run directory is locked meanwhile: a second process waits (or, with ``wait=False``, gets files.Busy)."""
    config.validate()
    run = RunDir(run_dir, "search", config)
    with run.locked(wait):
        return _search(config, run)


def _search(config: SearchConfig, run: RunDir) -> dict:
    ckpt = run.load_checkpoint()
    if (done := run.finished_summary(ckpt)) is not None:
        return done

    configure_threads(config.threads)
    device = resolve_device(config.device)
    data = load_dataset(config.dataset, config.data_root)
    torch.manual_seed(config.seed)
    w_idx, a_idx = search_split(data, config, ckpt)
    test_idx = stratified_subset(data.test_y, config.test_subset, seed=0)

    w_batches = make_batches(data, data.train_x[w_idx], data.train_y[w_idx], config, device, train=True)
    a_batches = make_batches(data, data.train_x[a_idx], data.train_y[a_idx], config, device, train=True,
                             seed_offset=1)
    a_eval = make_batches(data, data.train_x[a_idx], data.train_y[a_idx], config, device, train=False)
    test = make_batches(data, data.test_x[test_idx], data.test_y[test_idx], config, device, train=False)

    model = SuperNet(config.width, len(data.classes), relaxations.from_config(config), net=config.net)
    model = accel.prepare(model.to(device, memory_format=torch.channels_last), config, device)
    w_opt, sched = sgd_and_schedule(model.weight_parameters(), config)
    a_opt = alpha_optimizer(model, config)
    loop = EpochLoop(run, config, w_opt, sched)
    alpha_raw: list[np.ndarray] = []
    alpha_w: list[np.ndarray] = []
    if ckpt is not None:
        loop.restore(ckpt, model=model, w_opt=w_opt, a_opt=a_opt, sched=sched)
        match_capturable(a_opt, config.cuda_graphs, device)  # the checkpoint may come from the other mode
        alpha_raw = [a.numpy() for a in ckpt["alpha_raw"]]
        alpha_w = [a.numpy() for a in ckpt["alpha_weights"]]
    run.write_config(data.name, extra={"n_weights_split": len(w_idx), "n_alpha_split": len(a_idx),
                                       "n_test": len(test_idx), "device_used": str(device)})
    if data.is_stand_in:
        log.warning("dataset is %s: numbers from this run say nothing about CIFAR-10", data.name)

    meter = Meter(device)
    sampler = relaxations.Sampler(model.relaxation, config.seed, epochs=config.epochs,  # Gumbel noise, if any
                                  shape=tuple(model.alpha.shape))
    step = search_step(model, w_opt, a_opt, config, sampler)

    def train_epoch(epoch: int):
        update_alpha = epoch >= config.warmup_epochs
        sampler.start(epoch, draws=len(w_batches) * (2 if update_alpha else 1), device=device)  # one per step
        pairs = zip(w_batches.epoch(epoch), a_batches.epoch(epoch, batches=len(w_batches)))
        for (xw, yw), (xa, ya) in progress(pairs, len(w_batches), f"search {epoch + 1}/{config.epochs}",
                                           config.progress):
            step(xw, yw, xa, ya, meter, update_alpha)
        train_loss, train_acc = meter.read()  # the epoch's one host sync; stops here on a NaN loss
        alpha_raw.append(model.alpha.detach().cpu().double().numpy().copy())
        alpha_w.append(model.table().detach().cpu().double().numpy().copy())
        return train_loss, train_acc

    def evaluate_epoch(epoch: int):
        (val_loss, val_acc), (test_loss, test_acc) = evaluate(model, a_eval), evaluate(model, test)
        return dict(val_loss=val_loss, val_acc=val_acc, test_loss=test_loss, test_acc=test_acc)

    def state():
        return {"model": model.state_dict(), "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(),
                "sched": sched.state_dict(), "split_weights": w_idx, "split_alpha": a_idx,
                "alpha_raw": torch.from_numpy(np.stack(alpha_raw)),
                "alpha_weights": torch.from_numpy(np.stack(alpha_w))}

    started = time.time()
    loop.run_epochs(train_epoch, evaluate_epoch, state, after_epoch=lambda: run.write_alpha(alpha_raw, alpha_w))
    best_test, best_val = loop.best("test_acc"), loop.best("val_acc")
    summary = {"job": "search", "dataset_used": data.name, "best_test_acc": best_test["test_acc"],
               "best_test_epoch": best_test["epoch"], "final_test_acc": loop.history[-1]["test_acc"],
               "best_val_acc": best_val["val_acc"], "best_val_epoch": best_val["epoch"],
               "test_acc_at_best_val": best_val["test_acc"], **loop.timing(),
               "session_seconds": time.time() - started}
    run.write_summary(summary)
    log.info("search done: best test acc %.2f%% (epoch %d), final %.2f%%, on %s -> %s", summary["best_test_acc"],
             summary["best_test_epoch"], summary["final_test_acc"], data.name, run.path)
    return summary


def load_search_run(run_dir: str | Path, device: str = "auto"):
    """A finished (or interrupted) search: (config, dataset, supernet with its trained weights, split indices).

    Reads a run directory (checkpoint.pt) or an exported record (supernet.pt). The split is recomputed
    from the recorded config and checked against the checkpoint's where there is one, so derivation
    methods see exactly the search's alpha half."""
    from .config import config_from_dict

    run_dir = Path(run_dir)
    record = read_json(run_dir, "config.json")
    config = config_from_dict("search", record)
    config.device, config.progress = device, False
    ckpt = RunDir(run_dir, "search", config).load_checkpoint()
    if ckpt is None:  # an exported record (rundir.export_record) keeps the weights alone
        if not (run_dir / "supernet.pt").exists():
            raise RunDirError(f"{run_dir} has neither checkpoint.pt nor supernet.pt; run or resume the search first")
        ckpt = torch.load(run_dir / "supernet.pt", map_location="cpu", weights_only=True)
    data = load_dataset(config.dataset, config.data_root)
    w_idx, a_idx = search_split(data, config, ckpt if "split_weights" in ckpt else None)
    model = SuperNet(config.width, len(data.classes), relaxations.from_config(config), net=config.net)
    model.load_state_dict(ckpt["model"])
    model = model.to(resolve_device(device), memory_format=torch.channels_last)
    return config, data, model, w_idx, a_idx
