"""Zero-cost proxies: what a network scores at initialisation, from one minibatch, before any training.

The controls a search method has to beat (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; Mellor et al., "Neural Architecture Search without Training", ICML 2021).  Each is computed on the
stand-alone network of an architecture, as the papers define it:

* :func:`synflow` (Tanaka et al., NeurIPS 2020): every parameter replaced by its absolute value, BatchNorm in
  eval mode (at initialisation an affine identity), float64, an all-ones input; R = sum of the output;
  score = sum over conv and linear weights of |theta * dR/dtheta|.  No data.
* :func:`snip` (Lee et al., ICLR 2019): sum over conv and linear weights of |theta * dL/dtheta|, L the
  cross-entropy of the batch, BatchNorm in train mode (batch statistics).
* :func:`grad_norm`: the sum over conv and linear layers of the L2 norm of dL/dW (same L).
* :func:`naswot` (Mellor et al.): the binary code of every image (which ReLU units are on, all layers);
  K[i, k] = number of units on which images i and k agree; score = log |det K|.

:func:`score_architectures` averages each over initialisation seeds (one batch, the same for every network)
and writes ``proxies.csv``.  Kendall tau of a proxy is rank-based, so the scores' scales do not matter.
"""
from __future__ import annotations

import copy
import csv
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .files import atomic_write_text

NAMES = ("synflow", "snip", "grad_norm", "naswot")


def _weights(model: nn.Module) -> list[nn.Parameter]:
    """The conv and linear weights: what the pruning-at-init scores sum over."""
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def synflow(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad()
    net(torch.ones((1, *input_shape), dtype=torch.float64)).sum().backward()
    return float(sum((w.detach() * w.grad).abs().sum() for w in _weights(net)))


def _loss_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """(conv and linear weights, dL/dW) of a copy in train mode (batch statistics), L the batch's cross-entropy."""
    net = copy.deepcopy(model).train()
    weights = _weights(net)
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    return [w.detach() for w in weights], grads


def _snip(weights, grads) -> float:
    return float(sum((w * g).abs().sum() for w, g in zip(weights, grads)))


def _grad_norm(grads) -> float:
    return float(sum(g.norm() for g in grads))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return _snip(*_loss_gradients(model, x, y))


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return _grad_norm(_loss_gradients(model, x, y)[1])


def naswot_from_codes(codes: torch.Tensor) -> float:
    """codes: [images, units] of 0/1.  K = c c^T + (1 - c)(1 - c)^T counts the units on which two images agree
    (the number of units minus their Hamming distance); the score is log |det K|."""
    c = codes.double()
    k = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(k).logabsdet)


def relu_codes(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[images, units]: which ReLU outputs are positive, over every ReLU of the network.  The supernet applies
    F.relu right before each block's pool, so its codes are read at the pools' inputs; other networks' at
    their nn.ReLU modules' outputs."""
    pools = getattr(model, "pools", None)
    sites = list(pools) if pools is not None else [m for m in model.modules() if isinstance(m, nn.ReLU)]
    codes: list[torch.Tensor] = []

    def hook(module, inputs, output):
        active = inputs[0] if pools is not None else output
        codes.append((active.detach() > 0).flatten(1))

    handles = [m.register_forward_hook(hook) for m in sites]
    try:
        with torch.no_grad():
            model.train()(x)
    finally:
        for h in handles:
            h.remove()
    return torch.cat(codes, 1)


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    return naswot_from_codes(relu_codes(model, x))


def all_proxies(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    weights, grads = _loss_gradients(model, x, y)  # one backward for snip and grad_norm
    return {"synflow": synflow(model, tuple(x.shape[1:])), "snip": _snip(weights, grads),
            "grad_norm": _grad_norm(grads), "naswot": naswot(copy.deepcopy(model), x)}


# ----------------------------------------------------------------------------- the ground-truth set

COLUMNS = ("arch_id", "init_seed", *NAMES)


def proxy_batch(width: float, batch: int = 64, dataset: str = "auto", data_root: str = "data"):
    """One batch of ``batch`` training images (the retrain's training part, a fixed seeded draw, no
    augmentation), normalised as the networks see them."""
    from .config import make_config
    from .data import load_dataset
    from .retrain import train_val_split
    from .training import make_batches

    config = make_config("retrain", "cpu", {"arch": "-", "width": width, "dataset": dataset, "data_root": data_root,
                                            "batch_size": batch, "eval_batch_size": batch})
    data = load_dataset(config.dataset, config.data_root)
    train_idx, _ = train_val_split(data, config)
    pick = train_idx[np.random.default_rng(0).choice(len(train_idx), batch, replace=False)]
    batches = make_batches(data, data.train_x[pick], data.train_y[pick], config, torch.device("cpu"), train=False)
    x, y = next(iter(batches.epoch(0)))
    return x.contiguous(), y, data


def score_architectures(archs: dict[str, dict], width: float, x: torch.Tensor, y: torch.Tensor,
                        init_seeds=(0, 1, 2), num_classes: int = 10) -> list[dict]:
    """One row per (architecture, initialisation seed) with every proxy."""
    from .supernet import SuperNet

    rows = []
    for aid, entry in sorted(archs.items()):
        for seed in init_seeds:
            torch.manual_seed(seed)
            model = SuperNet(width, num_classes, mask=torch.from_numpy(np.asarray(entry["mask"], dtype=bool)))
            rows.append({"arch_id": aid, "init_seed": seed, **all_proxies(model, x, y)})
    return rows


def write_proxies(path: str | Path, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in sorted(rows, key=lambda r: (r["arch_id"], r["init_seed"])):
        writer.writerow({k: (repr(float(r[k])) if k in NAMES else r[k]) for k in COLUMNS})
    atomic_write_text(path, out.getvalue())


def read_proxies(path: str | Path) -> dict[str, dict[str, float]]:
    """{arch_id: {proxy: mean over the initialisation seeds}}."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        for name in NAMES:
            out.setdefault(r["arch_id"], {}).setdefault(name, []).append(float(r[name]))
    return {aid: {name: float(np.mean(v)) for name, v in scores.items()} for aid, scores in out.items()}


def update(csv_path: str | Path, archs: dict[str, dict], width: float, dataset: str = "auto",
           data_root: str = "data", init_seeds=(0, 1, 2), batch: int = 64) -> int:
    """Score the architectures that ``csv_path`` lacks (a cache: the set grows as picks are added); returns
    how many were added.  Every network sees the same batch, so rows from different calls are comparable."""
    path = Path(csv_path)
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    missing = {a: e for a, e in archs.items() if a not in {r["arch_id"] for r in rows}}
    if not missing:
        return 0
    x, y, data = proxy_batch(width, batch, dataset, data_root)
    rows += score_architectures(missing, width, x, y, init_seeds, len(data.classes))
    write_proxies(path, rows)
    return len(missing)
