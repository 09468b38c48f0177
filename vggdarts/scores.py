"""Every way of scoring a shortcut mask without training it: alpha, the one-shot supernet, and the controls.

**Alpha.** Under a softmax relaxation, alpha is a distribution over each block's sources, so it gives an
architecture with exactly one shortcut into each block 3..8 (the Figure-3 space) a log-probability:
sum_i log w_{i, j(i)}.  That is :func:`alpha_logprob`, and it is defined only where the relaxation puts
probability:

* ``softmax``: one source per block, the Figure-3 space; any other mask has no probability under alpha and
  gets NaN (left out of the ranking);
* ``softmax_none`` and ``gumbel`` (a none column; gumbel scored on the deterministic softmax of the final alpha,
  as its tables and derivation are): one source *or none* per block, so ``none`` is scored too;
* ``sigmoid``: independent gates, so every mask has a probability, sum log g (kept) + sum log(1 - g) (dropped).

For masks with several shortcuts into a block, no relaxation here defines a probability, and any rule is a
choice.  Two are kept side by side, so a reader sees how much a whole-set result leans on the rule:

* :func:`alpha_edge_sum`, the sum of log weights over the kept edges (log w_none for an empty block where a none
  column exists).  Each extra shortcut adds a negative term, so it favours *fewer* shortcuts;
* :func:`alpha_kept_mass`, per block the log of the weight alpha puts on the kept sources,
  sum_i log sum_{j in M_i} w_ij (an empty block: log w_none where there is a none column, else a sentinel below
  any attainable log mass, since plain softmax gives "no shortcut" no mass).  A superset never scores lower, so it favours *more* shortcuts.

Both equal :func:`alpha_logprob` on the Figure-3 space; for ``sigmoid`` both are the gates' log-likelihood.
Every rule reads the raw alpha and takes its logs exactly (log-softmax, log-sigmoid): a weight that underflows
in the stored table (gates saturate at about 1 - 4e-7 in float32, a softmax weight can fall below 1e-13) keeps
its rank.

**NN-Mass and NN-Density** (Bhardwaj, Li and Marculescu, CVPR 2021, arXiv:1910.00780): a cell's density is
its long-range links over the possible ones; NN-Density averages the cells' densities, NN-Mass sums them
weighted by the cells' width (channels).  The mapping onto this space, an adaptation: a *cell* is a resolution
stage of VGG11 (the blocks between two pools), a link belongs to the cell of the block it feeds, and the
possible links of a cell are the candidate edges into its blocks (j <= i - 2); stages without candidates
(blocks 1 and 2) have no density.  Every Figure-3 mask has the same links per stage, so both are constant there.

**The parameter count and the MACs** come from the records, the zero-cost proxies from ``proxies.csv``
(:mod:`vggdarts.proxies`).  **One-shot**: the supernet's accuracy on the alpha half with the mask imposed.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from scipy.special import log_expit, log_softmax, logsumexp

from .files import atomic_write_text
from . import layout
from .relaxations import Relaxation

log = logging.getLogger("vggdarts")

NO_MASS = -1e6  # an empty block's log mass without a none column: below any attainable log weight
ALPHA_RULES = ("logprob", "edge sum", "kept mass")


def in_figure3_space(mask) -> bool:
    """Exactly one shortcut into each block that has candidates (3..8 in VGG11)."""
    m = np.asarray(mask, dtype=bool)
    return bool((m.sum(1)[layout.of(m).candidates.any(1)] == 1).all())


def final_alpha(search_run: str | Path) -> tuple[np.ndarray, str]:
    """A search record's final raw alpha [8, C] and its relaxation: what every alpha score reads."""
    from .rundir import read_json

    with np.load(Path(search_run) / "alpha.npz") as z:
        raw = z["raw"][-1]
    return raw, read_json(search_run, "config.json").get("relaxation", "softmax")


def log_weights(raw, relaxation: str = "softmax") -> dict[str, np.ndarray | None]:
    """The final table's logs, computed exactly from the raw alpha [8, C] (a weight can underflow where its log
    does not): ``keep`` [8, 6] the log weight (log g for gates) of each candidate edge, -inf elsewhere; ``drop``
    [8, 6] log(1 - g) for independent gates, else None; ``none`` [8] the none column's log weight, else None."""
    relax = Relaxation(relaxation)
    raw = np.asarray(raw, dtype=float)
    cand = layout.of(raw).candidates
    n = cand.shape[1]
    if relax.independent:
        inf = np.where(cand, 0.0, -np.inf)
        return {"keep": log_expit(raw[:, :n]) + inf, "drop": log_expit(-raw[:, :n]) + inf, "none": None}
    allowed = np.hstack([cand, cand.any(1, keepdims=True)]) if relax.has_none else cand
    logits = np.where(allowed, raw[:, :allowed.shape[1]], -np.inf)
    rows = allowed.any(1)
    logw = np.full(allowed.shape, -np.inf)
    logw[rows] = log_softmax(logits[rows], axis=1)
    return {"keep": logw[:, :n], "drop": None, "none": logw[:, n] if relax.has_none else None}


def _gates_loglik(lw, mask) -> float:
    return float(lw["keep"][mask].sum() + lw["drop"][layout.of(mask).candidates & ~mask].sum())


def alpha_logprob(raw, mask, relaxation: str = "softmax") -> float:
    """The architecture's log-probability under the final alpha (``raw`` [8, C]); NaN where the relaxation gives
    it none (see the module's docstring)."""
    lw, mask = log_weights(raw, relaxation), np.asarray(mask, dtype=bool)
    if lw["drop"] is not None:
        return _gates_loglik(lw, mask)
    per_block = mask.sum(1)[layout.of(mask).candidates.any(1)]
    if (per_block > 1).any() or ((per_block == 0).any() and lw["none"] is None):
        return float("nan")
    return alpha_edge_sum(raw, mask, relaxation)


def alpha_edge_sum(raw, mask, relaxation: str = "softmax") -> float:
    """Sum of log weights over the kept edges (+ log w_none per empty block with a none column)."""
    lw, mask = log_weights(raw, relaxation), np.asarray(mask, dtype=bool)
    if lw["drop"] is not None:
        return _gates_loglik(lw, mask)
    score = float(lw["keep"][mask].sum())
    if lw["none"] is not None:
        score += float(lw["none"][layout.of(mask).candidates.any(1) & ~mask.any(1)].sum())
    return score


def alpha_kept_mass(raw, mask, relaxation: str = "softmax") -> float:
    """Per block, the log of the weight on the kept sources, summed; an empty block scores log w_none, or, with
    no none column, :data:`NO_MASS` (below any attainable log mass: plain softmax gives "no shortcut" no mass)."""
    lw, mask = log_weights(raw, relaxation), np.asarray(mask, dtype=bool)
    if lw["drop"] is not None:
        return _gates_loglik(lw, mask)
    score = 0.0
    for i in layout.of(mask).searched_blocks:
        if mask[i].any():
            score += float(logsumexp(lw["keep"][i][mask[i]]))
        else:
            score += float(lw["none"][i]) if lw["none"] is not None else NO_MASS
    return score


ALPHA_SCORES = {"logprob": alpha_logprob, "edge sum": alpha_edge_sum, "kept mass": alpha_kept_mass}


# ----------------------------------------------------------------------------- topology: NN-Mass, NN-Density

def stages(width: float, net: str | layout.Layout | None = None) -> list[dict]:
    """The network's resolution stages (VGG11's by default) as NN-Mass's cells: the blocks (1-based) whose sums
    run at one spatial size, the channels there (at ``width``) and the candidate edges into them (the possible
    long-range links)."""
    lay = layout.get(net)
    shapes = lay.block_shapes(width)
    out: dict[int, dict] = {}
    for i, size in enumerate(lay.sum_sizes(), start=1):
        stage = out.setdefault(size, {"blocks": [], "channels": shapes[i - 1][0], "possible": 0})
        stage["blocks"].append(i)
        stage["possible"] += int(lay.candidates[i - 1].sum())
    return list(out.values())


def stage_densities(mask, width: float) -> list[tuple[int, float]]:
    """(channels, density) of every stage with possible links: its links over its candidate edges."""
    mask = np.asarray(mask, dtype=bool)
    return [(s["channels"], sum(int(mask[i - 1].sum()) for i in s["blocks"]) / s["possible"])
            for s in stages(width, layout.of(mask)) if s["possible"]]


def nn_density(mask, width: float) -> float:
    """The mean density of the stages that can have long-range links."""
    return float(np.mean([d for _, d in stage_densities(mask, width)]))


def nn_mass(mask, width: float) -> float:
    """The stages' densities weighted by their channels (at ``width``), summed."""
    return float(sum(c * d for c, d in stage_densities(mask, width)))


# ----------------------------------------------------------------------------- the controls

def control_scores(record_dir: Path, rows: list[dict], truth: dict[str, float], masks: dict[str, np.ndarray],
                   width: float) -> dict[str, dict[str, float]]:
    """What costs nothing, scored like alpha: the parameter count, the MACs, NN-Mass and NN-Density (at the
    truth's ``width``), and each zero-cost proxy of ``proxies.csv`` (mean over its initialisation seeds)."""
    from . import proxies

    out = {"params": {r["arch_id"]: float(r["params"]) for r in rows if r["arch_id"] in truth},
           "macs": {r["arch_id"]: float(r["macs"]) for r in rows if r["arch_id"] in truth},
           "nn-mass": {a: nn_mass(masks[a], width) for a in truth},
           "nn-density": {a: nn_density(masks[a], width) for a in truth}}
    if (record_dir / "proxies.csv").exists():
        cached = proxies.read_proxies(record_dir / "proxies.csv")
        for name in proxies.NAMES:
            out[name] = {a: v[name] for a, v in cached.items() if a in truth}
    return out


# ----------------------------------------------------------------------------- one-shot

def oneshot_cache(cache_dir: str | Path, run_name: str, val_images: int) -> Path:
    return Path(cache_dir) / f"{run_name}-val{val_images}.csv"


def cached_oneshot_scores(cache_dir: str | Path, run_name: str, val_images: int) -> dict[str, float]:
    """The one-shot scores kept for ``run_name`` (empty when there is no cache)."""
    cache = oneshot_cache(cache_dir, run_name, val_images)
    if not cache.exists():
        return {}
    with open(cache, newline="") as f:
        return {r["arch_id"]: float(r["oneshot_acc"]) for r in csv.DictReader(f)}


def has_weights(search_run: str | Path) -> bool:
    return (Path(search_run) / "supernet.pt").exists() or (Path(search_run) / "checkpoint.pt").exists()


def oneshot_scores(search_run: str | Path, masks: dict[str, np.ndarray], val_images: int = 5000,
                   device: str = "auto", cache_dir: str | Path | None = None, name: str | None = None) -> dict[str, float]:
    """The supernet's accuracy on (part of) the alpha half with each mask imposed (oneshot.mask_score).

    With ``cache_dir``, scores are kept in ``cache_dir/<name>-val<val_images>.csv`` (``name``: the run
    directory's name) and only the architectures it lacks are scored (the supernet is not even loaded when none
    is missing).  A record committed without its weights (the width-1 search) gives only what its cache holds."""
    name = name or Path(search_run).name
    scores = cached_oneshot_scores(cache_dir, name, val_images) if cache_dir else {}
    missing = [a for a in masks if a not in scores]
    if missing and not has_weights(search_run):
        log.warning("%s has no weights; its one-shot scores cover the %d cached of %d architectures (recompute "
                    "from its run directory's checkpoint: python -m vggdarts scale)", search_run,
                    len(masks) - len(missing), len(masks))
        return {aid: scores[aid] for aid in masks if aid in scores}
    if missing:
        from .oneshot import mask_score, scoring_batches
        from .search import load_search_run

        config, data, model, _, a_idx = load_search_run(search_run, device)
        batches = scoring_batches(data, a_idx, val_images, config.eval_batch_size, next(model.parameters()).device)
        scores.update({aid: mask_score(model, masks[aid], batches) for aid in missing})
        if cache_dir is not None:
            cache = oneshot_cache(cache_dir, name, val_images)
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, "arch_id,oneshot_acc\n" + "".join(f"{a},{v!r}\n" for a, v in sorted(scores.items())))
    return {aid: scores[aid] for aid in masks}
