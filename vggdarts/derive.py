"""From alpha to an architecture: each method returns an [n, n-2] 0/1 shortcut mask (VGG11: 8x6).

Rows are destination blocks i = 1..n, columns source blocks j = 1..n-2, as in the
alpha tables; only the candidate cells (j <= i-2; VGG11: 21) can be 1.  A table's
shape names its network (layout.py); the baselines take the network's name.

Alpha-based methods read the run's relaxed table (alpha.npz, full precision): softmax
weights (rows sum to 1, with a "none" column for softmax_none / gumbel) or independent
sigmoid gates:

* ``argmax``     one shortcut into each block 3..n: its strongest source (ties: smallest j);
                 with a none column, no shortcut where none is strictly stronger.
* ``threshold``  every edge whose weight is above ``level`` (default: above uniform, 1/n for
                 a block with n choices, none included; sigmoid gates: 0.5, FairDARTS's 0.85
                 as an option; a weight equal to the level up to 1e-6 is not above); may keep
                 nothing.  Under plain softmax, block 3's single candidate has weight exactly
                 1 = uniform for ever: the search says nothing about it, so threshold never
                 keeps it (softmax_none, sigmoid and gumbel do learn block 3).
* ``topk``       the k strongest edges overall: shared weights ranked relative to uniform
                 (w * n), so blocks with many candidates are not penalised; gates as they are;
                 k above the candidate count keeps all.
* ``perturbation`` one shortcut per block chosen by how much the supernet's validation
                 accuracy drops when the edge is removed (Wang et al., ICLR 2021), greedily
                 block by block, optionally fine-tuning the supernet between decisions.

Baselines: ``none`` (the plain network), ``all`` (every candidate), ``resnet`` (i-2 -> i),
``random`` (one random source per block, seeded).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .files import atomic_write_text
from . import layout
from .layout import Layout
from .relaxations import Relaxation
from .supernet import check_mask

log = logging.getLogger("vggdarts")
ALPHA_METHODS = ("argmax", "threshold", "topk", "perturbation")
BASELINES = ("none", "all", "resnet", "random")
TIE_TOLERANCE = 1e-6  # float32 softmax of equal logits is uniform only to rounding


def _split_table(table) -> tuple[np.ndarray, np.ndarray | None, Layout]:
    """(edge weights [n, n-2] with -inf at non-candidates, the none column [n] or None, the network's layout)."""
    t = np.asarray(table, dtype=float)
    lay = layout.of(t)
    n = lay.n_sources
    none_col = t[:, n] if t.shape[1] > n else None
    return np.where(lay.candidates, t[:, :n], -np.inf), none_col, lay  # non-candidates can never be chosen


def _n_choices(table) -> np.ndarray:
    """[n, 1]: how many options each block's weights are shared among (candidates, plus none if present)."""
    cand = layout.of(table).candidates
    extra = 1 if np.shape(table)[1] > cand.shape[1] else 0
    return (cand.sum(axis=1, keepdims=True) + extra * cand.any(axis=1, keepdims=True)).clip(min=1)


def argmax(table) -> np.ndarray:
    """The strongest source into each block 3..n; with a none column, no shortcut where none is strictly
    stronger than every source (ties go to the smallest j, then to a shortcut)."""
    w, none_col, lay = _split_table(table)
    mask = none(lay)
    for i in lay.searched_blocks:
        j = int(np.argmax(w[i]))  # np.argmax takes the first of ties: the smallest j
        if none_col is None or w[i, j] >= none_col[i]:
            mask[i, j] = True
    return mask


def threshold(table, level: float | None = None, independent: bool = False) -> np.ndarray:
    """Every edge above ``level``.  Default: independent (sigmoid) gates 0.5 (FairDARTS uses 0.85);
    weights sharing a block's budget: above uniform 1/n over the block's n choices (none counts)."""
    w, _, lay = _split_table(table)
    if level is None:
        cut = np.full_like(w, 0.5) if independent else np.broadcast_to(1.0 / _n_choices(table), w.shape)
    else:
        cut = np.full_like(w, level)
    return lay.candidates & (w > cut + TIE_TOLERANCE)


def topk(table, k: int, independent: bool = False) -> np.ndarray:
    """The k strongest edges overall: gates ranked as they are (independent), shared weights relative to
    uniform (w * n), so blocks with many candidates are not penalised; k above the candidate count keeps all."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    w, _, lay = _split_table(table)
    score = w if independent else w * _n_choices(table)
    order = np.argsort(-score, axis=None, kind="stable")[: min(k, lay.n_candidates)]
    mask = np.zeros(w.size, dtype=bool)
    mask[order] = True
    return mask.reshape(w.shape) & lay.candidates


def none(net: str | Layout | None = None) -> np.ndarray:
    lay = layout.get(net)
    return np.zeros((lay.n_blocks, lay.n_sources), dtype=bool)


def all_edges(net: str | Layout | None = None) -> np.ndarray:
    return layout.get(net).candidates.copy()


def resnet(net: str | Layout | None = None) -> np.ndarray:
    """Shortcuts every two blocks, i - 2 -> i for every block 3..n (ResNet's basic-block spacing)."""
    mask = none(net)
    for i in layout.get(net).searched_blocks:
        mask[i, i - 2] = True  # 0-based: block i+1 takes a shortcut from block i-1
    return mask


def random_mask(seed: int, net: str | Layout | None = None) -> np.ndarray:
    lay = layout.get(net)
    rng = np.random.default_rng(seed)
    mask = none(lay)
    for i in lay.searched_blocks:
        mask[i, rng.choice(np.flatnonzero(lay.candidates[i]))] = True
    return mask


def perturbation(model, score: Callable[[torch.Tensor], float], finetune: Callable[[], None] | None = None,
                 order: list[int] | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Greedy perturbation-based selection on a trained supernet.

    ``score(weights)`` is the supernet's validation accuracy with edge weights
    ``weights`` imposed (see :mod:`vggdarts.oneshot`: batch statistics, so the
    score is not biased by BN statistics collected under other weights).  For
    each block (``order``: 0-based rows, default 3..8 in turn), every still
    undecided candidate edge into it is removed in turn (weight set to 0, others
    unchanged) and scored; the edge whose removal costs the most accuracy is kept
    (weight 1) and the block's other edges are removed.  ``finetune()``, if
    given, trains the supernet's weights briefly after each decision, with the
    decided weights imposed.  Returns the mask and a log of every measurement."""
    weights = model.edge_weights().detach().clone()
    candidates = layout.of(weights).candidates
    records = []
    for i in order or layout.of(weights).searched_blocks:
        base = score(weights)
        drops = {}
        for j in np.flatnonzero(candidates[i]):
            trial = weights.clone()
            trial[i, j] = 0.0
            drops[int(j)] = base - score(trial)
        keep = max(drops, key=lambda j: (drops[j], -j))  # largest drop; ties: smallest j
        records.append({"block": i + 1, "base_acc": base,
                        "drop_by_source": {j + 1: d for j, d in drops.items()}, "kept_source": keep + 1})
        log.info("perturbation: block %d keeps source %d (val acc drops %s)", i + 1, keep + 1,
                 ", ".join(f"j{j + 1}: {d:+.2f}" for j, d in drops.items()))
        weights[i] = 0.0
        weights[i, keep] = 1.0
        if finetune is not None:
            with model.edge_weights_overridden(weights):
                finetune()
    return (weights > 0).cpu().numpy() & candidates, records


def derive_from_weights(method: str, table, relaxation: str | None = "softmax", **params) -> np.ndarray:
    """Masks for every method that needs only the relaxed table (or nothing); ``relaxation`` says how to
    read it (independent sigmoid gates or weights sharing a block's budget); the baselines are of the table's
    network."""
    independent = Relaxation(relaxation or "softmax").independent
    lay = layout.of(table)
    simple: dict[str, Callable[..., np.ndarray]] = {
        "argmax": lambda: argmax(table),
        "threshold": lambda: threshold(table, params.get("level"), independent),
        "topk": lambda: topk(table, int(params.get("k", 6)), independent), "none": lambda: none(lay),
        "all": lambda: all_edges(lay), "resnet": lambda: resnet(lay),
        "random": lambda: random_mask(int(params.get("seed", 0)), lay),
    }
    if method not in simple:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(ALPHA_METHODS + BASELINES)}")
    return simple[method]()


# ----------------------------------------------------------------------------- mask files

def format_mask(mask) -> str:
    """The mask as the study's table (VGG11: 8x6; 1 = shortcut j -> i)."""
    mask = np.asarray(mask, dtype=bool)
    lay = layout.of(mask)
    lines = ["i\\j " + " ".join(f"{j:>2}" for j in range(1, lay.n_sources + 1))]
    for i in range(lay.n_blocks):
        cells = [(" 1" if mask[i, j] else " 0") if lay.candidates[i, j] else " ." for j in range(lay.n_sources)]
        lines.append(f"{i + 1:>3} " + " ".join(cells))
    return "\n".join(lines)


def save_mask(path: str | Path, mask, method: str, params: dict | None = None, run: str = "",
              extra: dict | None = None) -> Path:
    mask = np.asarray(mask, dtype=bool)
    check_mask(torch.from_numpy(mask))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    edges = [[int(j) + 1, int(i) + 1] for i, j in zip(*np.nonzero(mask))]
    record = {"method": method, "params": params or {}, "run": str(run), "mask": mask.astype(int).tolist(),
              "edges_source_to_block": edges, "n_shortcuts": len(edges), **(extra or {})}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def load_mask(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a mask JSON; a clear ValueError if it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"architecture file {path} does not exist; make one with "
                                "`python -m vggdarts derive --search-run DIR --method argmax --out FILE`")
    try:
        record = json.loads(path.read_text())
        mask = np.asarray(record["mask"], dtype=int)
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("mask entries must be 0 or 1")
        check_mask(torch.from_numpy(mask))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid architecture file ({err}); expected JSON with an n x (n-2) 0/1 "
                         "'mask' (VGG11: 8x6; rows i = 1..n, columns j = 1..n-2, only j <= i-2)") from None
    return mask.astype(bool), record
