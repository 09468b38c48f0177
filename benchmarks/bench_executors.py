"""Benchmark: the same 4 ``smoke`` retrains run ``inline`` (one process, all cores) and then ``local``
(submitit process pool, max_parallel 2, 1 thread each); prints the wall-time ratio measured in this run.

    .venv/bin/python benchmarks/bench_executors.py --out benchmarks/results/executors-cpu.json

On a 2-core machine the pool can win only where one job does not use both cores well (small nets);
process start-up (importing torch, loading the data) is paid once per job in the pool.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from vggdarts import derive
from vggdarts.executors import Engine, run_jobs
from vggdarts.jobs import Job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="data/cifar10-jpeg.tar.gz", help="falls back to synthetic if missing")
    p.add_argument("--out", default="")
    args = p.parse_args()
    dataset = args.dataset if Path(args.dataset).exists() else "synthetic"
    with tempfile.TemporaryDirectory() as tmp:
        archs = [derive.save_mask(Path(tmp) / f"{m}.json", getattr(derive, m)(), m) for m in ("none", "resnet")]
        walls = {}
        for name, engine in (("inline", Engine(progress=False)),
                             ("local", Engine("local", max_parallel=2, threads=1, poll_s=0.2, progress=False))):
            jobs = [Job("retrain", "smoke", {"dataset": dataset, "arch": str(arch), "seed": seed, "progress": False},
                        f"{tmp}/{name}/{arch.stem}-{seed}", f"{arch.stem} seed {seed}")
                    for arch in archs for seed in (0, 1)]
            start = time.perf_counter()
            results = run_jobs(jobs, engine, f"{tmp}/{name}")
            walls[name] = time.perf_counter() - start
            assert all(r["status"] == "ok" for r in results), results
    result = {"jobs": 4, "preset": "smoke", "dataset": dataset, "cores": os.cpu_count(),
              "inline_seconds": walls["inline"], "local_seconds": walls["local"],
              "local_over_inline": walls["local"] / walls["inline"]}
    print(f"4 smoke retrains on {dataset}, {os.cpu_count()} cores: inline {walls['inline']:.1f} s, "
          f"local (2 processes x 1 thread) {walls['local']:.1f} s -> local/inline = {result['local_over_inline']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
