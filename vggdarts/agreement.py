"""Does the search agree with itself?  Several search runs of one relaxation (seeds, or a rerun with another
thread count) compared through their final relaxed tables: which source each block's argmax picks in each
run, the mean and spread of every weight, and the rank correlation between the runs' tables.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from . import derive
from .rundir import alpha_tables
from .stats import kendall_tau
from .supernet import candidate_mask

CANDIDATES = candidate_mask().numpy()


def argmax_sources(table: np.ndarray) -> list[int]:
    """For blocks 3..8, the source j (1-based; 0 = none) that derive.argmax keeps."""
    mask = derive.argmax(table)
    return [int(np.flatnonzero(mask[i])[0]) + 1 if mask[i].any() else 0 for i in range(2, 8)]


def seed_agreement(runs, names=None, epoch: int | None = None) -> dict:
    """Per-block argmax of each run and whether all agree, the mean and sample std (ddof=1) of every candidate
    weight across runs, and Kendall tau between every pair of runs' tables (over the 21 candidate cells).
    ``epoch``: compare the tables after this epoch (1-based; None: each run's last)."""
    runs = [Path(r) for r in runs]
    names = list(names or [r.name for r in runs])
    full = [np.asarray(alpha_tables(r, epoch)[1], dtype=float) for r in runs]
    tables = np.stack([t[:, :CANDIDATES.shape[1]] for t in full])
    picks = [argmax_sources(t) for t in full]
    mean, std = tables.mean(0), tables.std(0, ddof=1) if len(runs) > 1 else np.zeros_like(tables[0])
    rows = [{"block": b, "argmax": [p[b - 3] for p in picks], "agree": len({p[b - 3] for p in picks}) == 1,
             "mean": mean[b - 1][CANDIDATES[b - 1]].tolist(), "std": std[b - 1][CANDIDATES[b - 1]].tolist()}
            for b in range(3, 9)]
    tau = {f"{names[a]} vs {names[b]}": kendall_tau(tables[a][CANDIDATES], tables[b][CANDIDATES])
           for a, b in combinations(range(len(runs)), 2)}
    return {"runs": names, "picks": picks, "rows": rows, "agreeing_blocks": sum(r["agree"] for r in rows), "pairwise_tau": tau,
            "mean": mean, "std": std}


def markdown(agreement: dict) -> str:
    names = agreement["runs"]
    lines = ["| block | " + " | ".join(f"argmax source: {n}" for n in names) + " | mean ± std of the weights, j = 1, 2, ... |",
             "|---|" + "---|" * len(names) + "---|"]
    for r in agreement["rows"]:
        cells = ", ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(r["mean"], r["std"]))
        picks = [f"**{p}**" if not r["agree"] else str(p) for p in r["argmax"]]
        lines.append(f"| {r['block']} | " + " | ".join(picks) + f" | {cells} |")
    lines += ["", f"Blocks whose argmax agrees in every run: {agreement['agreeing_blocks']} of 6. Kendall tau between "
              "the tables (21 candidate cells): " + "; ".join(f"{k} {v:+.2f}" for k, v in agreement["pairwise_tau"].items())
              + "."]
    return "\n".join(lines)
