"""Measurement: how far is DARTS's finite-difference Hessian-vector product from the exact one, on real data?

At initialisation and at the checkpoints a ``cpu``-preset search kept after epochs 1, 5 and 20
(``keep_checkpoints=1,5,20``), for 20 (train, val) batch pairs of CIFAR-10 (JPEG copy) each:

* the whole second-order alpha gradient with ``hvp=fd`` (float32, DARTS's eps = 0.01/||v||) and with
  ``hvp=exact`` (float32), both from the package's own ``alpha_step_second_order``;
* the reference: ``hvp=exact`` in float64;
* relative error ||g - g_ref|| / ||g_ref|| and cosine(g, g_ref) for fd and for exact float32;
* the second-order correction's size: ||g_ref - g_first|| / ||g_ref||, with g_first the first-order gradient;
* the time of a plain, first-order, second-order fd and second-order exact step (medians, same process).

    .venv/bin/python benchmarks/bench_hvp.py --search-run runs/search-cpu-seed0 \\
        --out benchmarks/results/hvp-cpu.json --figure figures/hvp_error.png
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import time_steps  # noqa: E402

from vggdarts.config import config_from_dict  # noqa: E402
from vggdarts.data import load_dataset  # noqa: E402
from vggdarts.relaxations import from_config  # noqa: E402
from vggdarts.rundir import read_json  # noqa: E402
from vggdarts.search import alpha_step_first_order, alpha_step_second_order, search_split, weight_step  # noqa: E402
from vggdarts.supernet import SuperNet  # noqa: E402
from vggdarts.training import Meter, make_batches, sgd_and_schedule  # noqa: E402


def load_point(config, n_classes, checkpoint: Path | None, dtype=torch.float32):
    torch.manual_seed(config.seed)
    model = SuperNet(config.width, n_classes, from_config(config))
    w_opt, _ = sgd_and_schedule(model.weight_parameters(), config)
    if checkpoint is not None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        w_opt.load_state_dict(state["w_opt"])
    if dtype != torch.float32:
        model64 = copy.deepcopy(model).to(dtype)
        opt64, _ = sgd_and_schedule(model64.weight_parameters(), config)
        opt64.load_state_dict(w_opt.state_dict())  # casts the momentum buffers to float64
        return model64, opt64
    return model, w_opt


def alpha_gradient(model, w_opt, bw, ba, how: str) -> torch.Tensor:
    model.alpha.grad = None
    if how == "first":
        alpha_step_first_order(model, *ba)
    else:
        alpha_step_second_order(model, w_opt, *bw, *ba, hvp=how)
    g = model.alpha.grad.detach().double().clone()
    model.alpha.grad = None
    return g


def cosine(a, b) -> float:
    return float((a * b).sum() / (a.norm() * b.norm()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--search-run", default=None, help="a cpu search run with checkpoint-epoch001/005/020.pt")
    p.add_argument("--redraw", default=None, metavar="JSON", help="only draw --figure from a recorded --out JSON")
    p.add_argument("--epochs", type=int, nargs="+", default=[0, 1, 5, 20], help="0 = initialisation")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--out", default="")
    p.add_argument("--figure", default="")
    args = p.parse_args()
    if args.redraw:
        if not args.figure:
            p.error("--redraw needs --figure")
        recorded = json.loads(Path(args.redraw).read_text())
        draw(recorded["rows"], args.figure, recorded.get("dataset", ""))
        return
    if not args.search_run:
        p.error("--search-run is required (or --redraw JSON --figure PNG)")
    run = Path(args.search_run)
    config = config_from_dict("search", read_json(run, "config.json"))
    data = load_dataset(config.dataset, config.data_root)
    w_idx, a_idx = search_split(data, config)
    w_batches = make_batches(data, data.train_x[w_idx], data.train_y[w_idx], config, "cpu", train=True)
    a_batches = make_batches(data, data.train_x[a_idx], data.train_y[a_idx], config, "cpu", train=True, seed_offset=1)

    rows, timing = [], {}
    for epoch in args.epochs:
        ckpt = None if epoch == 0 else run / f"checkpoint-epoch{epoch:03d}.pt"
        model, w_opt = load_point(config, len(data.classes), ckpt)
        model64, w_opt64 = load_point(config, len(data.classes), ckpt, torch.float64)
        pairs = zip(w_batches.epoch(epoch), a_batches.epoch(epoch))
        for k in range(args.batches):
            bw, ba = next(pairs)
            b64 = lambda b: (b[0].double(), b[1])  # noqa: E731
            ref = alpha_gradient(model64, w_opt64, b64(bw), b64(ba), "exact")
            fd, exact = alpha_gradient(model, w_opt, bw, ba, "fd"), alpha_gradient(model, w_opt, bw, ba, "exact")
            first = alpha_gradient(model, w_opt, bw, ba, "first")
            rows.append({"epoch": epoch, "batch": k,
                         "fd_rel_error": float((fd - ref).norm() / ref.norm()), "fd_cosine": cosine(fd, ref),
                         "exact32_rel_error": float((exact - ref).norm() / ref.norm()),
                         "exact32_cosine": cosine(exact, ref),
                         "second_order_share": float((ref - first).norm() / ref.norm())})
        if epoch == args.epochs[-1]:  # timing on the trained network
            a_opt = torch.optim.Adam(model.arch_parameters(), lr=config.alpha_lr)
            meter = Meter()

            def step(how):
                def fn(bw, ba):
                    if how != "plain":
                        a_opt.zero_grad(set_to_none=True)
                        alpha_gradient(model, w_opt, bw, ba, how)
                    weight_step(model, w_opt, *bw, meter)
                return fn

            timing = {how: time_steps(step(how), w_batches, 8, 2, torch.device("cpu"))
                      for how in ("plain", "first", "fd", "exact")}

    summary = []
    for epoch in args.epochs:
        r = [x for x in rows if x["epoch"] == epoch]
        med = lambda key: float(np.median([x[key] for x in r]))  # noqa: E731
        summary.append({"epoch": epoch, **{f"median_{k}": med(k) for k in
                                           ("fd_rel_error", "fd_cosine", "exact32_rel_error", "exact32_cosine",
                                            "second_order_share")}})
    print(f"CIFAR-10 (JPEG copy), width {config.width}, batch {config.batch_size}, {args.batches} batches per point, "
          f"{torch.get_num_threads()} threads")
    print("| epoch | fd rel. error | fd cosine | exact fp32 rel. error | second-order share |")
    print("|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['epoch']} | {s['median_fd_rel_error']:.3g} | {s['median_fd_cosine']:.3f} | "
              f"{s['median_exact32_rel_error']:.2g} | {s['median_second_order_share']:.3f} |")
    ratios = {f"{k}_over_plain": v / timing["plain"] for k, v in timing.items()}
    print("step time / plain step: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    result = {"search_run": str(run), "dataset": data.name, "width": config.width, "batch_size": config.batch_size,
              "threads": torch.get_num_threads(), "torch": torch.__version__, "rows": rows, "summary": summary,
              "step_seconds": timing, **ratios}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    if args.figure:
        from vggdarts.plots import hvp_error_figure

        draw(rows, args.figure, data.name)


def draw(rows, figure: str, dataset: str) -> None:
    """The figure through plots.save (PNG, PDF and its entry in figures.json, for the figure-currency test).
    Notebook 03 redraws it from the recorded JSON (parameter hvp_record; make run PRESET=results)."""
    from vggdarts.plots import hvp_error_figure, save

    save(hvp_error_figure(rows, dataset), Path(figure).parent, Path(figure).stem)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
