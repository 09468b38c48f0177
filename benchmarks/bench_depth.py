"""Benchmark: what a deeper plain VGG costs to search, relative to VGG11, measured in one process.

Times the plain weight step and the first-order search iteration of each network's supernet at one width,
and a training step of the network with every candidate shortcut (the costliest retrain),
round-robin (each round times every network in turn), so that load from other processes hits all alike; the
ratios are medians over the rounds.  A search epoch's projection multiplies the ratio by VGG11's median epoch
in a committed record (``--vgg11-record``), which should come from the same kind of CPU and thread count.

    .venv/bin/python benchmarks/bench_depth.py --threads 1 --out benchmarks/results/depth-cpu.json
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from bench_search import time_steps
from vggdarts import layout
from vggdarts.config import make_config
from vggdarts.data import Batches, synthetic_dataset
from vggdarts.relaxations import Sampler
from vggdarts.rundir import read_metrics
from vggdarts.search import alpha_optimizer, search_step, weight_step
from vggdarts.supernet import SuperNet, candidate_mask, count_macs
from vggdarts.training import Meter


def build(net: str, width: float, batches: Batches):
    """(search iteration, meter, MACs per image, retrain step) of ``net`` under the cpu preset's optimisers: a fresh
    supernet, and the network with every candidate shortcut (``all``, the costliest retrain) for the retrain step."""
    config = make_config("search", "cpu", {"net": net, "width": width, "batch_size": batches.batch_size, "device": "cpu"})
    torch.manual_seed(0)
    model = SuperNet(width, net=net).to(memory_format=torch.channels_last)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=config.lr, momentum=config.momentum)
    step = search_step(model, w_opt, alpha_optimizer(model, config), config, Sampler(model.relaxation, 0))
    meter = Meter(torch.device("cpu"))
    fixed = SuperNet(width, mask=candidate_mask(net).float()).to(memory_format=torch.channels_last)
    f_opt = torch.optim.SGD(fixed.weight_parameters(), lr=config.lr, momentum=config.momentum)
    return step, meter, count_macs(model), lambda bw, ba: weight_step(fixed, f_opt, *bw, meter)


def median_epoch_seconds(record: Path) -> float:
    seconds = sorted(r["seconds"] for r in read_metrics(record))
    return seconds[len(seconds) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default=",".join(layout.LAYOUTS))
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=50, help="the search's epochs, for the projection")
    p.add_argument("--vgg11-record", default="results/search-cpu-seed0-awd",
                   help="a committed VGG11 search at the same width: its median epoch is the projection's base")
    p.add_argument("--out", default="")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    nets = args.nets.split(",")
    assert nets[0] == "vgg11", "the first network is the reference: vgg11"

    data = synthetic_dataset(n_train=2048, n_test=10)
    mean, std = data.mean_std
    batches = Batches(data.train_x, data.train_y, args.batch_size, mean=mean, std=std, augment=True, shuffle=True)
    built = {n: build(n, args.width, batches) for n in nets}
    times: dict[str, dict[str, list[float]]] = {n: {"plain": [], "first": [], "retrain_all": []} for n in nets}
    cpu = torch.device("cpu")
    for _ in range(args.rounds):
        for n, (step, meter, _, retrain) in built.items():
            for kind, update_alpha in (("plain", False), ("first", True)):
                times[n][kind].append(time_steps(lambda bw, ba: step(*bw, *ba, meter, update_alpha), batches,
                                                 args.steps, 1, cpu))
            times[n]["retrain_all"].append(time_steps(retrain, batches, args.steps, 1, cpu))
    med = {n: {k: sorted(v)[args.rounds // 2] for k, v in t.items()} for n, t in times.items()}
    base_epoch = median_epoch_seconds(Path(args.vgg11_record))
    rows = {}
    for n in nets:
        ratio = med[n]["first"] / med["vgg11"]["first"]
        rows[n] = {"blocks": layout.get(n).n_blocks, "macs_per_img": built[n][2],
                   "macs_over_vgg11": built[n][2] / built["vgg11"][2],
                   "first_order_ms": 1000 * med[n]["first"], "plain_ms": 1000 * med[n]["plain"],
                   "first_over_vgg11": ratio, "plain_over_vgg11": med[n]["plain"] / med["vgg11"]["plain"],
                   "retrain_all_ms": 1000 * med[n]["retrain_all"],
                   "retrain_all_over_vgg11": med[n]["retrain_all"] / med["vgg11"]["retrain_all"],
                   "projected_epoch_s": ratio * base_epoch,
                   "projected_search_h": ratio * base_epoch * args.epochs / 3600}
    result = {"cpu": platform.processor() or "cpu", "capability": torch.backends.cpu.get_cpu_capability(),
              "threads": torch.get_num_threads(), "torch": torch.__version__, "width": args.width,
              "batch_size": args.batch_size, "rounds": args.rounds, "vgg11_record": args.vgg11_record,
              "vgg11_median_epoch_s": base_epoch, "epochs": args.epochs, "nets": rows}
    print(f"width {args.width}, batch {args.batch_size}, {result['threads']} thread(s), {result['capability']}; "
          f"projection from {args.vgg11_record}'s median epoch {base_epoch:.1f} s x {args.epochs} epochs")
    print(f"{'net':6} {'MACs/img':>10} {'xMACs':>6} {'first ms':>9} {'x first':>8} {'x plain':>8} {'x all':>6} "
          f"{'epoch s':>8} {'search h':>9}")
    for n, r in rows.items():
        print(f"{n:6} {r['macs_per_img'] / 1e6:9.1f}M {r['macs_over_vgg11']:6.2f} {r['first_order_ms']:9.1f} "
              f"{r['first_over_vgg11']:8.2f} {r['plain_over_vgg11']:8.2f} {r['retrain_all_over_vgg11']:6.2f} "
              f"{r['projected_epoch_s']:8.0f} {r['projected_search_h']:9.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
