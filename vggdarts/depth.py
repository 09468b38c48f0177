"""Where two networks of different depth put their shortcuts, in terms that carry across depths.

A VGG11 table has 8 rows and a VGG16 table 13, so "block 7" means different places in them.  Two common
coordinates compare them:

* **relative depth** of block i in an n-block network: (i - 1) / (n - 1), 0 at the first conv, 1 at the last.
  :func:`by_relative_depth` matches each block of the deeper network with the shallower network's block
  nearest in relative depth, and sets their argmax picks side by side (the source, its relative depth and
  the shortcut's relative length (i - j) / (n - 1));
* **resolution stage**: every VGG here has five max-pools, so five stages at 32, 16, 8, 4 and 2 pixels.
  A shortcut j -> i runs from the stage of x_j to the stage of block i's sum (that of x_{i-1}).
  :func:`stage_flow` sums a table's weights (or a mask's shortcuts) over each (source stage, destination stage)
  pair, per destination block, so networks with more blocks per stage are not counted heavier.
"""
from __future__ import annotations

import numpy as np

from . import agreement, layout


def relative_depth(i: int, n_blocks: int) -> float:
    """Block i (1-based) of an n-block network: 0 at the first conv block, 1 at the last."""
    return (i - 1) / (n_blocks - 1)


def argmax_sources(table) -> dict[int, int]:
    """{block i: the source j that derive.argmax keeps (0: none)} for blocks 3..n, 1-based."""
    return {i + 1: j for i, j in zip(layout.of(table).searched_blocks, agreement.argmax_sources(table))}


def by_relative_depth(deep, shallow) -> list[dict]:
    """For each block 3..n of the ``deep`` table, its argmax pick beside the pick of the ``shallow`` table's
    block nearest in relative depth (ties: the shallower block).  Sources 0 mean "none"."""
    lay_d, lay_s = layout.of(deep), layout.of(shallow)
    picks_d, picks_s = argmax_sources(deep), argmax_sources(shallow)
    rows = []
    for i, j in picks_d.items():
        r = relative_depth(i, lay_d.n_blocks)
        k = min(picks_s, key=lambda b: (round(abs(relative_depth(b, lay_s.n_blocks) - r), 9), b))
        js = picks_s[k]
        rows.append({"block": i, "depth": r, "source": j,
                     "length": (i - j) / (lay_d.n_blocks - 1) if j else None,
                     "other_block": k, "other_depth": relative_depth(k, lay_s.n_blocks), "other_source": js,
                     "other_length": (k - js) / (lay_s.n_blocks - 1) if js else None})
    return rows


def stages(net) -> tuple[list[int], list[int]]:
    """(stage of each block's output x_1..x_n, stage of each block's sum, i.e. of x_{i-1}), 1-based stages:
    1 at 32 pixels, 2 at 16, ... (VGG11's x_8 is at stage 6, 1 pixel; it is never a source)."""
    lay = layout.get(net)
    stage_of = {32 >> k: k + 1 for k in range(6)}
    return [stage_of[s] for _, s in lay.block_shapes(1.0)], [stage_of[s] for s in lay.sum_sizes()]


def stage_flow(table) -> np.ndarray:
    """[5, 5]: weight from source stage (rows) into destination stage (columns), summed over the candidate
    cells of a table [n, n-2] (a none column is left out) or a 0/1 mask, divided by the number of
    destination blocks with candidates in that stage: the mean shortcut weight a block of that stage draws
    from each earlier stage."""
    t = np.asarray(table, dtype=float)
    lay = layout.of(t)
    t = np.where(lay.candidates, t[:, :lay.n_sources], 0.0)
    outputs, sums = stages(lay)
    flow = np.zeros((5, 5))
    blocks = np.zeros(5)
    for i in lay.searched_blocks:
        dst = sums[i] - 1
        blocks[dst] += 1
        for j in np.flatnonzero(lay.candidates[i]):
            flow[outputs[j] - 1, dst] += t[i, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(blocks > 0, flow / blocks, np.nan)


def markdown(rows: list[dict], deep_name: str, shallow_name: str) -> str:
    """:func:`by_relative_depth` as a table (sources 0 are "none")."""
    def src(j, length):
        return "none" if not j else f"{j} ({length:.2f})"

    lines = [f"| {deep_name} block (depth) | its argmax source (shortcut length) | {shallow_name} block (depth) | "
             f"its argmax source (shortcut length) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['block']} ({r['depth']:.2f}) | {src(r['source'], r['length'])} | "
                     f"{r['other_block']} ({r['other_depth']:.2f}) | {src(r['other_source'], r['other_length'])} |")
    return "\n".join(lines)


STAGE_PIXELS = (32, 16, 8, 4, 2)


def flow_markdown(deep, shallow, deep_name: str, shallow_name: str) -> str:
    """:func:`stage_flow` of two tables side by side: one row per (source stage, destination stage) that either
    network puts weight on; the mean shortcut weight a destination block draws from that source stage."""
    a, b = stage_flow(deep), stage_flow(shallow)
    lines = [f"| from stage (pixels) | into stage (pixels) | {deep_name}: weight per block | "
             f"{shallow_name}: weight per block |", "|---|---|---|---|"]

    def cell(v):
        return f"{v:.2f}" if np.isfinite(v) else "no block"

    for dst in range(5):
        for src in range(dst + 1):
            if np.isfinite(a[src, dst]) and a[src, dst] > 0 or np.isfinite(b[src, dst]) and b[src, dst] > 0:
                lines.append(f"| {src + 1} ({STAGE_PIXELS[src]}) | {dst + 1} ({STAGE_PIXELS[dst]}) | "
                             f"{cell(a[src, dst])} | {cell(b[src, dst])} |")
    return "\n".join(lines)


def pick_summary(table) -> dict:
    """How a table's argmax places its shortcuts, in numbers that carry across depths.  ``blocks``: blocks
    searched (3..n); ``kept``: those that keep a shortcut; ``choice``: those with two or more candidates (block 3
    has one, so it always takes x_1); ``shortest``: blocks with a choice that take the nearest source eq. (1)
    allows, x_{i-2}; ``span`` and ``relative_span``: the mean of i - j over the kept shortcuts, in blocks and
    as a share of the depth n - 1; ``decided``: over the blocks with a choice, the mean of (c w_max - 1) / (c - 1)
    for a block of c candidates, 0 for a uniform row and 1 for one with all its weight on one source (a none
    column is left out)."""
    t = np.asarray(table, dtype=float)
    lay = layout.of(t)
    picks = argmax_sources(t)
    kept = {i: j for i, j in picks.items() if j}
    counts = lay.candidates.sum(1)
    choice = [i for i in lay.searched_blocks if counts[i] > 1]  # 0-based rows
    spans = [i - j for i, j in kept.items()]
    decided = [(counts[i] * t[i][:lay.n_sources][lay.candidates[i]].max() - 1) / (counts[i] - 1) for i in choice]
    return {"blocks": len(picks), "kept": len(kept), "choice": len(choice),
            "shortest": sum(kept.get(i + 1) == i - 1 for i in choice),
            "span": float(np.mean(spans)) if spans else None,
            "relative_span": float(np.mean(spans)) / (lay.n_blocks - 1) if spans else None,
            "decided": float(np.mean(decided)) if decided else None}
