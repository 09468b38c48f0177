"""The fidelity ladder: how far the cheap ground truth carries toward longer, wider training.

A *rung* is a training budget ``(width, epochs)``; the recipe is otherwise the ``cpu`` retrain preset's.  R0 is
the ground truth itself (every architecture, two seeds); the higher rungs retrain a fixed subset of it, chosen
once from R0 before any of them was trained and kept in ``results/groundtruth-cpu/ladder.json``:

* the baselines ``none``, ``resnet``, ``all`` and the width-1 search's argmax pick;
* ``n - 4`` of the sampled architectures at evenly spaced ranks of R0's mean validation accuracy (the lowest, the
  highest and equal steps between), so the subset spans the truth's range instead of its crowded middle.

NAS-Bench-201 asked the same question of its space (12 against 200 epochs) before its cheap numbers were trusted.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import derive
from .files import atomic_write_text
from .groundtruth import arch_id, archs_origin, mean_accuracy, read_records
from .rundir import git_commit

Rung = tuple[float, int]  # (width, epochs)
RUNGS: dict[str, Rung] = {"R0": (0.25, 8), "R1": (0.25, 32), "R2": (0.5, 24)}
RUNG_SEEDS: dict[str, tuple[int, ...]] = {"R0": (0, 1), "R1": (0, 1), "R2": (0,)}
SUBSET_FILE = "ladder.json"
WIDTH1_PICK = "search-paper/argmax"  # the origin of the width-1 search's argmax pick in the record


def rung_name(rung: Rung) -> str:
    """'R1 (width 0.25, 32 epochs)', or '(width w, e epochs)' for a budget off the ladder."""
    name = next((k for k, v in RUNGS.items() if v == tuple(rung)), None)
    return f"{name + ' ' if name else ''}(width {rung[0]:g}, {rung[1]} epochs)"


def rung_overrides(name: str) -> dict[str, Any]:
    """The retrain overrides of a rung on top of the ``cpu`` preset."""
    if name not in RUNGS:
        raise ValueError(f"unknown rung {name!r}; choose one of {', '.join(RUNGS)}")
    width, epochs = RUNGS[name]
    return {"width": width, "epochs": epochs}


def choose_subset(rows: list[dict], n: int = 16) -> dict[str, Any]:
    """The ladder's architectures, chosen from the R0 record (see the module's docstring)."""
    truth = mean_accuracy(rows, RUNGS["R0"][1], width=RUNGS["R0"][0])
    origins = archs_origin(rows)
    fixed = [arch_id(make()) for make in (derive.none, derive.resnet, derive.all_edges)]
    picks = [a for a, o in origins.items() if WIDTH1_PICK in o]
    if len(picks) != 1:
        raise ValueError(f"expected one architecture of origin {WIDTH1_PICK} in the record, found {len(picks)}")
    fixed += [a for a in picks if a not in fixed]
    missing = [a for a in fixed if a not in truth]
    if missing:
        raise ValueError(f"the baselines {missing} have no R0 rows; train the set first")
    sampled = sorted((a for a in truth if a not in fixed and any(o.startswith("sample") for o in origins[a])),
                     key=lambda a: (truth[a], a))
    k = n - len(fixed)
    if k > len(sampled):
        raise ValueError(f"{k} sampled architectures asked for, the record has {len(sampled)}")
    ranks = sorted({int(round(x)) for x in np.linspace(0, len(sampled) - 1, k)})
    chosen = [sampled[r] for r in ranks]
    return {"rule": f"none, resnet, all, the width-1 argmax pick; then {k} of the {len(sampled)} sampled "
                    "architectures at evenly spaced ranks of R0's mean val accuracy (lowest to highest)",
            "fixed": fixed, "sampled": chosen, "archs": fixed + chosen,
            "r0_val_acc": {a: round(truth[a], 4) for a in fixed + chosen},
            "rungs": {k: list(v) for k, v in RUNGS.items()}, "seeds": {k: list(v) for k, v in RUNG_SEEDS.items()},
            "chosen_at_commit": git_commit()}


def subset(record_dir: str | Path, n: int = 16, create: bool = False) -> list[str]:
    """The fixed subset of ``record_dir/ladder.json``; with ``create``, chosen and written when it is missing
    (never re-chosen: the rungs above R0 are only comparable on the same architectures)."""
    path = Path(record_dir) / SUBSET_FILE
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"{path} is missing; choose the subset first "
                                    "(python -m vggdarts groundtruth --preset cpu --ladder R1 ...)")
        choice = choose_subset(read_records(Path(record_dir) / "groundtruth.csv"), n)
        atomic_write_text(path, json.dumps(choice, indent=1) + "\n")
    return json.loads(path.read_text())["archs"]
