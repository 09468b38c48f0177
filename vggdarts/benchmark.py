"""The ground truth as a small tabular benchmark: every stand-alone run of the set, queryable by mask or id, and
a versioned export that needs nothing of this package to read.

    from vggdarts import benchmark
    bench = benchmark.load()                          # results/groundtruth-cpu (or an exported JSON file)
    bench.query("a1fffff")                            # by id; or by a [8, 6] mask, or by edges "1>3 2>4 ..."
    bench.query(mask, rung=(0.25, 8))                 # one rung only
    bench.figure3_space()                             # the 720 one-shortcut-per-block networks, what is known
    benchmark.export("results/groundtruth-cpu")       # -> results/groundtruth-cpu/vggdarts-bench-v1.json

A *rung* is a training budget ``(width, epochs)`` on the ``cpu`` retrain recipe (:mod:`vggdarts.ladder`).  A
query returns every row (seed, rung, val and test accuracy, the CPU and threads it ran on, the commit), the
architecture's parameter count, MACs and zero-cost proxies, and per rung the summary: mean and standard
deviation over the seeds, and the percentile of the mean among the architectures trained at that rung
(100 = best).  The data set is CIFAR-10 as a JPEG (quality 75) copy; validation = 5,000 held-out training
images, test = the 10,000 test images (reported, never used for a decision).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_text

NAME = "vggdarts-bench"
VERSION = 1
EXPORT_FILE = f"{NAME}-v{VERSION}.json"
RUN_FIELDS = ("seed", "width", "epochs", "val_acc", "test_acc", "dataset", "cpu_capability", "cpu_model", "threads",
              "commit")
DEFAULT_RECORD = Path("results") / "groundtruth-cpu"


def _mask_list(mask) -> list[list[int]]:
    return np.asarray(mask, dtype=int).tolist()


def build(record_dir: str | Path) -> dict[str, Any]:
    """The whole set as one JSON-able dict (the export's content): architectures with their masks, sizes,
    proxies and runs; the rungs and the ladder's subset."""
    from . import derive, groundtruth, proxies

    record_dir = Path(record_dir)
    rows = groundtruth.read_records(record_dir / "groundtruth.csv")
    if not rows:
        raise FileNotFoundError(f"{record_dir}/groundtruth.csv holds no rows; train the set first "
                                "(python -m vggdarts groundtruth --preset cpu)")
    cached = proxies.read_proxies(record_dir / "proxies.csv") if (record_dir / "proxies.csv").exists() else {}
    archs: dict[str, dict] = {}
    for r in rows:
        a = archs.setdefault(r["arch_id"], {
            "edges": r["edges"], "mask": _mask_list(derive.load_mask(record_dir / "masks" / f"{r['arch_id']}.json")[0]),
            "n_shortcuts": r["n_shortcuts"], "origin": groundtruth.archs_origin([r])[r["arch_id"]],
            "in_figure3_space": groundtruth.in_figure3_space(derive.load_mask(record_dir / "masks" / f"{r['arch_id']}.json")[0]),
            "size": {}, "proxies": cached.get(r["arch_id"]), "runs": []})
        a["size"][f"{r['width']:g}"] = {"params": r["params"], "macs": r["macs"]}
        for o in groundtruth.archs_origin([r])[r["arch_id"]]:
            if o not in a["origin"]:
                a["origin"].append(o)
        a["runs"].append({k: r[k] for k in RUN_FIELDS})
    ladder_file = record_dir / "ladder.json"
    return {"name": NAME, "version": VERSION,
            "dataset": "CIFAR-10 (JPEG copy, quality 75): val = 5,000 held-out training images, test = 10,000",
            "space": "VGG11-BN with shortcuts j -> i for j <= i - 2 (21 candidate edges); mask rows = destination "
                     "block 1..8, columns = source block 1..6",
            "recipe": "cpu retrain preset: SGD 0.05, momentum 0.9, weight decay 5e-4, cosine, batch 128, crop + flip; "
                      "a rung sets width and epochs",
            "proxies": "mean over 3 initialisation seeds at width 0.25, one batch of 64 training images "
                       "(synflow, snip, grad_norm, naswot)",
            "ladder": json.loads(ladder_file.read_text()) if ladder_file.exists() else None,
            "architectures": {a: archs[a] for a in sorted(archs)}}


def export(record_dir: str | Path = DEFAULT_RECORD, path: str | Path | None = None) -> Path:
    """Write the versioned export (default: ``record_dir/vggdarts-bench-v1.json``); returns its path."""
    path = Path(path) if path is not None else Path(record_dir) / EXPORT_FILE
    atomic_write_text(path, json.dumps(build(record_dir), indent=1, sort_keys=True) + "\n")
    return path


@dataclass
class Benchmark:
    data: dict[str, Any]

    @property
    def architectures(self) -> dict[str, dict]:
        return self.data["architectures"]

    def rungs(self) -> list[tuple[float, int]]:
        """Every (width, epochs) with at least one run, in order."""
        return sorted({(r["width"], r["epochs"]) for a in self.architectures.values() for r in a["runs"]})

    def resolve(self, arch) -> str:
        """An architecture's id from an id ('a1fffff'), an edges string ('1>3 2>4 ...', '-' for none) or a mask."""
        from .groundtruth import arch_id

        if isinstance(arch, str):
            if arch in self.architectures:
                return arch
            by_edges = {a["edges"]: k for k, a in self.architectures.items()}
            if arch.strip() in by_edges:
                return by_edges[arch.strip()]
            raise KeyError(f"{arch!r} is not in the set (neither an id nor an edges string of it); "
                           f"{len(self.architectures)} architectures are, see Benchmark.architectures")
        aid = arch_id(np.asarray(arch, dtype=bool))
        if aid not in self.architectures:
            raise KeyError(f"the mask {aid} has not been trained stand-alone; see Benchmark.figure3_space() for "
                           "what is known, or add it: python -m vggdarts groundtruth --preset cpu --only " + aid)
        return aid

    def summary(self, aid: str, rung: tuple[float, int]) -> dict[str, float] | None:
        """Mean and sample standard deviation of the val accuracy over the seeds at ``rung``, test mean, and the
        percentile of the mean among the architectures trained at that rung (100 = best)."""
        def runs_of(a):
            return [r for r in self.architectures[a]["runs"] if (r["width"], r["epochs"]) == tuple(rung)]

        own = runs_of(aid)
        if not own:
            return None
        means = [float(np.mean([r["val_acc"] for r in rs])) for a in self.architectures if (rs := runs_of(a))]
        mean = float(np.mean([r["val_acc"] for r in own]))
        return {"seeds": len(own), "val_mean": mean,
                "val_std": float(np.std([r["val_acc"] for r in own], ddof=1)) if len(own) > 1 else math.nan,
                "test_mean": float(np.mean([r["test_acc"] for r in own])),
                "percentile": float(100.0 * np.mean(np.array(means) <= mean)), "of": len(means)}

    def query(self, arch, rung: tuple[float, int] | None = None) -> dict[str, Any]:
        """Every recorded fact about ``arch``: its rows (at ``rung``, or all) and, per rung, the summary."""
        aid = self.resolve(arch)
        a = self.architectures[aid]
        rungs = [tuple(rung)] if rung is not None else sorted({(r["width"], r["epochs"]) for r in a["runs"]})
        return {"arch_id": aid, "edges": a["edges"], "mask": a["mask"], "n_shortcuts": a["n_shortcuts"],
                "origin": a["origin"], "in_figure3_space": a["in_figure3_space"], "size": a["size"],
                "proxies": a["proxies"],
                "runs": [r for r in a["runs"] if rung is None or (r["width"], r["epochs"]) == tuple(rung)],
                "summary": {f"width {w:g}, {e} epochs": self.summary(aid, (w, e)) for w, e in rungs}}

    def figure3_space(self) -> list[dict[str, Any]]:
        """The 720 networks with one shortcut into each block 3..8, each with its id, edges and the summaries
        the set has for it (empty for the networks not trained yet)."""
        from .groundtruth import SPACE_SIZE, arch_id, edges, figure3_mask

        out = []
        for k in range(SPACE_SIZE):
            mask = figure3_mask(k)
            aid = arch_id(mask)
            known = self.query(aid)["summary"] if aid in self.architectures else {}
            out.append({"index": k, "arch_id": aid, "edges": edges(mask), "trained": bool(known), "summary": known})
        return out


def load(source: str | Path = DEFAULT_RECORD) -> Benchmark:
    """The set from a record directory (``groundtruth.csv`` with ``masks/``) or from an exported JSON file."""
    source = Path(source)
    if source.is_file():
        data = json.loads(source.read_text())
        if data.get("name") != NAME or data.get("version") != VERSION:
            raise ValueError(f"{source} is not a {NAME} v{VERSION} export (name {data.get('name')!r}, "
                             f"version {data.get('version')!r})")
        return Benchmark(data)
    if not (source / "groundtruth.csv").exists():
        raise FileNotFoundError(f"{source} holds neither groundtruth.csv nor is an export file; the study's set is "
                                f"{DEFAULT_RECORD} (or {DEFAULT_RECORD / EXPORT_FILE})")
    return Benchmark(json.loads(json.dumps(build(source))))
