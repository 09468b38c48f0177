"""Analysis: perturbation selection scored with the search's running BN statistics (eval mode, the old way)
versus batch statistics (oneshot.py, the fix), on the same trained supernet and the same validation images.

    .venv/bin/python benchmarks/perturbation_bn.py --search-run results/search-cpu-seed0 --finetune-steps 50

Prints both masks next to argmax and the per-edge accuracy drops of each block; writes JSON with --out.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

from vggdarts import derive
from vggdarts.compare import derive_perturbation
from vggdarts.rundir import final_edge_weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--search-run", required=True)
    p.add_argument("--val-images", type=int, default=5000)
    p.add_argument("--finetune-steps", type=int, default=50)
    p.add_argument("--out", default="")
    args = p.parse_args()
    argmax = derive.argmax(final_edge_weights(args.search_run))
    out = {"search_run": args.search_run, "finetune_steps": args.finetune_steps, "val_images": args.val_images,
           "argmax": argmax.astype(int).tolist()}
    for name, batch_stats in (("running_statistics", False), ("batch_statistics", True)):
        mask, extra = derive_perturbation(args.search_run, args.val_images, args.finetune_steps, "cpu", batch_stats)
        records = extra["measurements"]
        out[name] = {"mask": mask.astype(int).tolist(), "same_as_argmax": bool((mask == argmax).all()),
                     "measurements": records}
        edges = ", ".join(f"{j + 1}->{i + 1}" for i, j in zip(*mask.nonzero()))
        print(f"perturbation with {name.replace('_', ' ')}: {edges}  (same as argmax: {(mask == argmax).all()})")
        for r in records:
            drops = ", ".join(f"j{j}: {d:+.2f}" for j, d in r["drop_by_source"].items())
            print(f"  block {r['block']}: base {r['base_acc']:.2f}%, drop when removed {drops} -> keeps {r['kept_source']}")
    print("argmax: " + ", ".join(f"{j + 1}->{i + 1}" for i, j in zip(*argmax.nonzero())))
    if args.out:
        Path(args.out).write_text(json.dumps(copy.deepcopy(out), indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
