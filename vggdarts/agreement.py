"""Does the search agree with itself?  Several search runs (seeds, a rerun with another thread count, another
gradient order) compared through their relaxed tables: which source each block's argmax picks in each run,
the mean and spread of every weight, and the rank correlation between the runs' tables.

The rank correlation is taken over each weight's deviation from its even share (the table at alpha = 0:
1/k in a softmax row of k choices, 0.5 for a sigmoid gate), over the cells that can move (not block 3 of a
plain softmax, whose single candidate is 1.0 for ever).  Correlating the raw weights would mostly measure
the row sizes: a 2-candidate row's weights are larger than a 6-candidate row's in every run, so two
untrained tables already have tau ~ +0.8.
"""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from . import derive, layout
from .relaxations import Relaxation
from .rundir import alpha_tables, read_json
from .stats import kendall_tau


def even_share(relaxation: Relaxation, net: str | layout.Layout | None = None) -> np.ndarray:
    """The table at alpha = 0 [n, n-2] (shortcut columns; VGG11 [8, 6]): what every weight would be if nothing
    were learned."""
    import torch

    lay = layout.get(net)
    alpha = torch.zeros(lay.n_blocks, relaxation.columns(lay.n_sources))
    return relaxation.table(alpha, torch.from_numpy(lay.candidates.copy())).numpy()[:, :lay.n_sources]


def _run_tables(run: Path, epochs: slice | int | None) -> tuple[np.ndarray, np.ndarray]:
    """(tables after the chosen epoch(s), with the none column where there is one; even share) of a record."""
    relaxation = Relaxation(read_json(run, "config.json").get("relaxation", "softmax"))
    if isinstance(epochs, slice):
        with np.load(run / "alpha.npz") as z:
            tables = np.asarray(z["weights"], dtype=float)[epochs]
    else:
        tables = np.asarray(alpha_tables(run, epochs)[1], dtype=float)
    return tables, even_share(relaxation, layout.of(tables[-1] if tables.ndim == 3 else tables))


def _movable(evens) -> np.ndarray:
    """Candidate cells whose weight can move in every run (even share below 1)."""
    return layout.of(evens[0]).candidates & np.all([e < 1 for e in evens], axis=0)


def table_tau(a: np.ndarray, b: np.ndarray, even_a: np.ndarray, even_b: np.ndarray) -> float:
    """Kendall tau between two tables' deviations from their even shares, over the cells that can move."""
    cells, n = _movable([even_a, even_b]), even_a.shape[1]
    return kendall_tau((a[:, :n] - even_a)[cells], (b[:, :n] - even_b)[cells])


def argmax_sources(table: np.ndarray) -> list[int]:
    """For blocks 3..n, the source j (1-based; 0 = none) that derive.argmax keeps."""
    mask = derive.argmax(table)
    return [int(np.flatnonzero(mask[i])[0]) + 1 if mask[i].any() else 0 for i in layout.of(table).searched_blocks]


def seed_agreement(runs, names=None, epoch: int | None = None) -> dict:
    """Per-block argmax of each run and whether all agree, the mean and sample std (ddof=1) of every candidate
    weight across runs, and Kendall tau between every pair of runs' tables (see :func:`table_tau`).
    ``epoch``: compare the tables after this epoch (1-based; None: each run's last)."""
    runs = [Path(r) for r in runs]
    names = list(names or [r.name for r in runs])
    full, evens = zip(*(_run_tables(r, epoch) for r in runs))
    picks = [argmax_sources(t) for t in full]
    lay = layout.of(full[0])
    if any(layout.of(t) != lay for t in full):
        raise ValueError(f"runs of different networks cannot be compared table by table: {[r.name for r in runs]}")
    tables = np.stack([t[:, :lay.n_sources] for t in full])
    mean, std = tables.mean(0), tables.std(0, ddof=1) if len(runs) > 1 else np.zeros_like(tables[0])
    cand = lay.candidates
    rows = [{"block": b, "argmax": [p[b - 3] for p in picks], "agree": len({p[b - 3] for p in picks}) == 1,
             "mean": mean[b - 1][cand[b - 1]].tolist(), "std": std[b - 1][cand[b - 1]].tolist()}
            for b in range(3, lay.n_blocks + 1)]
    tau = {f"{names[a]} vs {names[b]}": table_tau(tables[a], tables[b], evens[a], evens[b])
           for a, b in combinations(range(len(runs)), 2)}
    return {"runs": names, "picks": picks, "rows": rows, "agreeing_blocks": sum(r["agree"] for r in rows), "pairwise_tau": tau,
            "mean": mean, "std": std}


def tau_to_first(runs, names=None, last_epoch: int | None = None) -> dict[str, np.ndarray]:
    """Kendall tau between each later run's table and the first run's, after every epoch 1..last_epoch
    (None: the shortest record): how far apart the runs drift, epoch by epoch."""
    runs = [Path(r) for r in runs]
    names = list(names or [r.name for r in runs])
    tables, evens = zip(*(_run_tables(r, slice(None)) for r in runs))
    last = last_epoch or min(len(t) for t in tables)
    for r, t in zip(runs, tables):
        if len(t) < last:
            raise ValueError(f"{r} records {len(t)} epochs of alpha; it cannot be compared up to epoch {last}")
    return {name: np.array([table_tau(tables[0][e], t[e], evens[0], even) for e in range(last)])
            for name, t, even in zip(names[1:], tables[1:], evens[1:])}


def markdown(agreement: dict) -> str:
    names = agreement["runs"]
    lines = ["| block | " + " | ".join(f"argmax source: {n}" for n in names) + " | mean ± std of the weights, j = 1, 2, ... |",
             "|---|" + "---|" * len(names) + "---|"]
    for r in agreement["rows"]:
        cells = ", ".join(f"{m:.2f}±{s:.2f}" for m, s in zip(r["mean"], r["std"]))
        picks = [f"**{p}**" if not r["agree"] else str(p) for p in r["argmax"]]
        lines.append(f"| {r['block']} | " + " | ".join(picks) + f" | {cells} |")
    lines += ["", f"Blocks whose argmax agrees in every run: {agreement['agreeing_blocks']} of {len(agreement['rows'])}. "
              "Kendall tau between "
              "the tables (each weight's deviation from its even share): " + "; ".join(f"{k} {v:+.2f}" for k, v in agreement["pairwise_tau"].items())
              + "."]
    return "\n".join(lines)
