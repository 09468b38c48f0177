"""Benchmark: search-step cost relative to a plain training step, data-handling share, matmul rate.

All numbers come from one process on one supernet, so their ratios are
meaningful on a noisy shared machine.  Prints a table and writes JSON.

    .venv/bin/python benchmarks/bench_search.py --width 1 --out benchmarks/results/cpu-width1.json

Targets (issue 2): first-order step <= 1.6x plain, second-order <= 4.5x plain (fd and exact Hessian-vector products both timed),
data handling <= 5% of the step, plain step at width 1 >= 55% of the fp32 matmul rate.

``--modes eager,bf16,compile,cuda_graphs,...`` (or ``all``) also times the plain and the first-order step
under each speed option (accel.py, cudagraphs.py), each on a fresh network, and adds a "modes" table:

    python3 benchmarks/bench_search.py --device cuda --modes all --out benchmarks/results/h100-width1.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Callable

import torch

from vggdarts import accel
from vggdarts.config import make_config
from vggdarts.data import Batches, synthetic_dataset
from vggdarts.relaxations import Sampler
from vggdarts.search import alpha_optimizer, alpha_step_first_order, alpha_step_second_order, search_step, weight_step
from vggdarts.supernet import SuperNet, count_macs
from vggdarts.training import Meter, resolve_device

MODES = {  # in the order they are built and first timed: cheap start-ups first, compilation last
    "eager": {},
    "cuda_graphs": {"cuda_graphs": True},
    "bf16": {"precision": "bf16"},
    "cuda_graphs+bf16": {"cuda_graphs": True, "precision": "bf16"},
    "deterministic": {"deterministic": True},
    "compile": {"compile": True},
    "compile+bf16": {"compile": True, "precision": "bf16"},
}


def matmul_gflops(device: torch.device, n: int = 2048, seconds: float = 3.0) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(fn, batches, steps: int, warmup: int, device) -> float:
    """Seconds per call of fn(batch_w, batch_a), median over ``steps`` timed calls."""
    stream = batches.epoch(0, batches=2 * (steps + warmup) + 2)
    times = []
    for k in range(warmup + steps):
        bw, ba = next(stream), next(stream)
        _sync(device)
        start = time.perf_counter()
        fn(bw, ba)
        _sync(device)
        if k >= warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def build_mode(mode: str, width: float, batches: Batches, device: torch.device):
    """A fresh network and optimisers under one speed option; returns (step, meter, seconds of the first call,
    config)."""
    config = make_config("search", "paper", {"width": width, "batch_size": batches.batch_size, "device": str(device),
                                             **MODES[mode]})
    torch.manual_seed(0)
    # the two compiled modes are timed in turn: a reset for the second would make the first compile again
    model = accel.prepare(SuperNet(width).to(device, memory_format=torch.channels_last), config, device,
                          fresh_compile_cache=False)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=config.lr, momentum=config.momentum)
    sampler, meter = Sampler(model.relaxation, 0), Meter(device)
    step = search_step(model, w_opt, alpha_optimizer(model, config), config, sampler)
    started = time.perf_counter()
    stream = batches.epoch(0, batches=16)
    for update_alpha in (True, False):  # compilation, cuDNN's search, graph warm-up and capture of both kinds
        for _ in range(4):
            step(*next(stream), *next(stream), meter, update_alpha)
    _sync(device)
    return step, meter, time.perf_counter() - started, config


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]


def time_modes(modes: list[str], width: float, batches: Batches, device: torch.device, steps: int,
               rounds: int = 3, on_update: Callable[[dict], None] | None = None) -> dict:
    """Plain (weight step only) and first-order iteration per mode; medians over the rounds.  Each mode is
    built and timed once in turn, then the further rounds time every mode in turn (round-robin), so that load
    changes on a shared machine hit all modes alike.  ``on_update(results so far)`` is called after each mode's
    first timing and after each round, so a run cut short keeps every mode timed before the cut.  Each mode's
    process-wide flags (deterministic algorithms, cuDNN's benchmark) are applied right before it is timed.
    A mode that fails to build or to run gets ``{"error": ...}`` and the others go on."""
    built, errors = {}, {}
    times: dict[str, dict[str, list[float]]] = {}
    b = batches.batch_size

    def time_once(m: str) -> None:
        step, meter, _, config = built[m]
        try:
            accel.configure(config, device)
            times[m]["plain"].append(time_steps(lambda bw, ba: step(*bw, *ba, meter, False), batches, steps, 1, device))
            times[m]["first"].append(time_steps(lambda bw, ba: step(*bw, *ba, meter, True), batches, steps, 1, device))
        except Exception as exc:
            errors[m] = {"error": _error(exc)}
            del built[m]

    def results() -> dict:
        out = dict(errors)
        for m, (_, meter, first_call, _) in built.items():
            n = len(times[m]["first"])
            t_plain, t_first = (sorted(times[m][k])[n // 2] for k in ("plain", "first"))
            out[m] = {"plain_img_s": b / t_plain, "first_order_img_s": b / t_first, "first_over_plain": t_first / t_plain,
                      "first_order_ms": 1000 * t_first, "first_call_s": first_call, "rounds": n,
                      "loss_finite": bool(torch.isfinite(meter.loss_sum))}
        return {m: out[m] for m in modes if m in out}

    for m in modes:
        try:
            built[m] = build_mode(m, width, batches, device)
        except Exception as exc:  # a capture error, an inductor failure: recorded, not fatal
            errors[m] = {"error": _error(exc)}
            continue
        times[m] = {"plain": [], "first": []}
        time_once(m)
        if on_update:
            on_update(results())
    for _ in range(rounds - 1):
        for m in list(built):
            time_once(m)
        if on_update:
            on_update(results())
    return results()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="")
    p.add_argument("--modes", default="", help=f"comma-separated, or 'all': {', '.join(MODES)}")
    p.add_argument("--skip-second-order", action="store_true")
    args = p.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)

    data = synthetic_dataset(n_train=4096, n_test=10)
    mean, std = data.mean_std
    batches = Batches(data.train_x, data.train_y, args.batch_size, mean=mean, std=std, augment=True,
                      shuffle=True, device=device)
    model = SuperNet(args.width).to(device, memory_format=torch.channels_last)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=0.01, momentum=0.9)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=0.005, betas=(0.5, 0.999))
    meter = Meter(device)

    def plain(bw, ba):
        weight_step(model, w_opt, *bw, meter)

    def first(bw, ba):
        a_opt.zero_grad(set_to_none=True)
        alpha_step_first_order(model, *ba)
        a_opt.step()
        weight_step(model, w_opt, *bw, meter)

    def second_order(hvp):
        def step(bw, ba):
            a_opt.zero_grad(set_to_none=True)
            alpha_step_second_order(model, w_opt, *bw, *ba, hvp=hvp)
            a_opt.step()
            weight_step(model, w_opt, *bw, meter)
        return step

    accel.configure(make_config("search", "paper", {"device": str(device)}), device)  # eager's flags, as in training
    gflops = matmul_gflops(device)
    kinds = [("plain", plain), ("first", first), ("second", second_order("fd")), ("second_exact", second_order("exact"))]
    t = {name: time_steps(fn, batches, args.steps, args.warmup, device)
         for name, fn in kinds[:2 if args.skip_second_order else 4]}
    t.setdefault("second", float("nan"))
    t.setdefault("second_exact", float("nan"))
    # data handling: producing the two batches one search step consumes
    stream = batches.epoch(1, batches=2 * 50)
    start = time.perf_counter()
    for _ in range(50):
        next(stream), next(stream)
    _sync(device)
    t_data = (time.perf_counter() - start) / 50
    macs = count_macs(model)
    train_gflop_per_img = 3 * 2 * macs / 1e9  # forward + backward (2x forward)
    plain_gflops = train_gflop_per_img * args.batch_size / t["plain"]

    b = args.batch_size
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "torch": torch.__version__, "width": args.width, "batch_size": b,
        "matmul_gflops": gflops,
        "plain_img_s": b / t["plain"], "first_order_img_s": b / t["first"], "second_order_img_s": b / t["second"],
        "second_order_exact_img_s": b / t["second_exact"],
        "first_over_plain": t["first"] / t["plain"], "second_over_plain": t["second"] / t["plain"],
        "second_exact_over_plain": t["second_exact"] / t["plain"],
        "data_share_of_first_order_step": t_data / t["first"],
        "supernet_macs_per_img": macs, "plain_step_gflops": plain_gflops,
        "plain_over_matmul": plain_gflops / gflops,
    }
    print(f"device {result['device']}, {result['threads']} threads, torch {result['torch']}, "
          f"width {args.width}, batch {b}")
    print(f"fp32 matmul                 {gflops:8.1f} GFLOP/s")
    print(f"plain step                  {result['plain_img_s']:8.1f} img/s  "
          f"({plain_gflops:.1f} GFLOP/s = {100 * result['plain_over_matmul']:.0f}% of matmul; target >= 55% at width 1)")
    print(f"first-order search step     {result['first_order_img_s']:8.1f} img/s  "
          f"{result['first_over_plain']:.2f}x plain (target <= 1.6x)")
    print(f"second-order step, fd hvp   {result['second_order_img_s']:8.1f} img/s  "
          f"{result['second_over_plain']:.2f}x plain (target <= 4.5x)")
    print(f"second-order step, exact    {result['second_order_exact_img_s']:8.1f} img/s  "
          f"{result['second_exact_over_plain']:.2f}x plain")
    print(f"data handling               {1000 * t_data:8.2f} ms/step = "
          f"{100 * result['data_share_of_first_order_step']:.1f}% of a first-order step (target <= 5%)")
    modes = list(MODES) if args.modes == "all" else [m for m in args.modes.split(",") if m]
    unavailable = {m: {"error": "needs a CUDA device"} for m in modes if device.type != "cuda" and "cuda_graphs" in m}
    modes = [m for m in modes if m not in unavailable]

    def write() -> None:  # after the plain measurements and again after the modes: a cut keeps what ran
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    write()
    if modes or unavailable:
        def partial(timed: dict) -> None:  # every mode timed so far, written as it comes
            result["modes"] = {**timed, **unavailable}
            write()

        result["modes"] = {**(time_modes(modes, args.width, batches, device, args.steps, on_update=partial)
                              if modes else {}), **unavailable}
        eager = result["modes"].get("eager", {}).get("first_order_img_s")  # None where eager failed
        print(f"\n{'mode':18s} {'plain img/s':>12s} {'first img/s':>12s} {'first/plain':>12s} "
              f"{'first ms':>9s} {'vs eager':>9s} {'setup s':>10s}")
        for m, r in result["modes"].items():
            if "error" in r:
                print(f"{m:18s} failed: {r['error']}")
                continue
            speedup = r["first_order_img_s"] / eager if eager else float("nan")
            print(f"{m:18s} {r['plain_img_s']:12.1f} {r['first_order_img_s']:12.1f} {r['first_over_plain']:12.2f} "
                  f"{r['first_order_ms']:9.2f} {speedup:8.2f}x {r['first_call_s']:10.1f}"
                  + ("" if r["loss_finite"] else "  (loss not finite!)"))
    write()
    if args.out:
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
