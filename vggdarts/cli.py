"""Command line for scripts and batch jobs.

    python -m vggdarts search   --preset NAME --run-dir DIR [--set key=value ...] [--seeds 0 1 2]
    python -m vggdarts derive   --search-run DIR --method NAME --out MASK.json [--k 6] [--level X] [--seed S]
    python -m vggdarts retrain  --arch MASK.json --preset NAME --run-dir DIR [--set key=value ...]
    python -m vggdarts compare  --search-run DIR --out DIR --preset NAME [--seeds 0 1 2] [--methods ...]
                                [--executor inline|local|slurm] [--max-parallel N] [--slurm-config cluster.yaml]
    python -m vggdarts figures  --run-dir DIR [--compare-dir DIR] [--out figures]
    python -m vggdarts groundtruth --preset cpu --seeds 0 1 [--executor local --max-parallel 2]
                                   [--fidelity 8 --seeds 0 --set epochs=20]
    python -m vggdarts export   --run-dir DIR --out results/NAME
    python -m vggdarts park     RUN_DIR [--name NAME]        (commit a stopped run, then its removal)
    python -m vggdarts unpark   NAME --run-dir DIR           (restore it from the history)
    python -m vggdarts notebooks --preset NAME --run-dir DIR

User errors (bad parameter, missing data, foreign run directory, corrupt
checkpoint) print one line starting with ``error:`` and exit with code 2.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .config import PRESETS, ConfigError, make_config, parse_assignments
from .data import DataError
from .rundir import RunDirError
from .training import NonFiniteLossError, setup_logging

USER_ERRORS = (ConfigError, DataError, RunDirError, NonFiniteLossError, FileNotFoundError, ValueError)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's own convention)
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _job_args(p: argparse.ArgumentParser, job: str) -> None:
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS[job]),
                   help="smoke (under a minute), cpu (quarter width, for a 2-core CPU), paper (the study's setup)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set epochs=3 --set dataset=PATH")


def _engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where the jobs run (see executors.py)")
    g.add_argument("--executor", default="inline", choices=("inline", "local", "slurm"),
                   help="inline: one after another here; local: a pool of processes; slurm: a job array")
    g.add_argument("--max-parallel", type=int, default=1, help="local: processes at once; slurm: array parallelism")
    g.add_argument("--threads", type=int, default=0, help="CPU threads per job (0: the cores split between jobs)")
    g.add_argument("--jobs-per-gpu", type=int, default=1,
                   help="local, on a GPU machine: jobs sharing each GPU (default 1; more for small width-0.25 jobs)")
    g.add_argument("--timeout-min", type=float, default=7 * 24 * 60,
                   help="local: a job running longer is checkpointed and requeued")
    g.add_argument("--slurm-config", default=None, help="cluster.yaml: partition, account, time, gpus, cpus, mem, ...")


def _engine(args):
    from .executors import Engine, load_slurm_config

    return Engine(args.executor, args.max_parallel, args.threads, args.timeout_min,
                  slurm=load_slurm_config(args.slurm_config), jobs_per_gpu=args.jobs_per_gpu)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m vggdarts", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("search", help="DARTS search of the shortcut weights alpha")
    _job_args(p, "search")
    p.add_argument("--run-dir", required=True, help="output folder; rerun into it to resume")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="several searches, one run directory per seed: RUN_DIR/seed<k>")
    _engine_args(p)

    p = sub.add_parser("derive", help="derive an architecture (8x6 shortcut mask) from a search run")
    p.add_argument("--search-run", required=True)
    p.add_argument("--method", required=True, choices=("argmax", "threshold", "topk", "perturbation", "none",
                                                         "all", "resnet", "random"))
    p.add_argument("--out", required=True, help="mask JSON to write")
    p.add_argument("--k", type=int, default=6, help="topk: number of shortcuts")
    p.add_argument("--level", type=float, default=None, help="threshold: keep weights above this (default 1/n)")
    p.add_argument("--seed", type=int, default=0, help="random: which sample")
    p.add_argument("--val-images", type=int, default=5000, help="perturbation: alpha-half images to score on")
    p.add_argument("--finetune-steps", type=int, default=0, help="perturbation: fine-tune steps between decisions")

    p = sub.add_parser("retrain", help="train a derived architecture from scratch")
    _job_args(p, "retrain")
    p.add_argument("--arch", required=True, help="mask JSON written by `derive`")
    p.add_argument("--run-dir", required=True, help="output folder; rerun into it to resume")

    p = sub.add_parser("compare", help="derive by every method, retrain each with several seeds, tabulate")
    _job_args(p, "retrain")
    p.add_argument("--search-run", required=True)
    p.add_argument("--out", required=True, help="sweep folder; rerun to skip finished and resume interrupted runs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--finetune-steps", type=int, default=0)
    _engine_args(p)

    p = sub.add_parser("figures", help="render a run's figures (PNG + PDF), e.g. the committed figures/")
    p.add_argument("--run-dir", required=True, help="a search run directory")
    p.add_argument("--compare-dir", default=None, help="a comparison folder (from `compare`), optional")
    p.add_argument("--out", default=None, help="output folder (default: <run-dir>/figures)")

    p = sub.add_parser("agree", help="do search runs agree? argmax per block, mean ± std, tau between tables "
                                     "(and with the first run's, epoch by epoch)")
    p.add_argument("runs", nargs="+", help="two or more search run directories or records")
    p.add_argument("--names", nargs="+", default=None, help="a label per run (default: the folder names)")
    p.add_argument("--epoch", type=int, default=None, help="compare after this epoch (default: each run's last)")
    p.add_argument("--out", default="figures", help="where <name>, <name>_tables and <name>_tau (.png, .pdf) go")
    p.add_argument("--name", default="agreement", help="figure file name")

    p = sub.add_parser("groundtruth", help="train the ground-truth set stand-alone; rows in results/groundtruth-PRESET")
    _job_args(p, "retrain")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-sample", type=int, default=32, help="architectures sampled from the Figure-3 space")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--only", nargs="+", default=None,
                   help="only these arch ids (within the subset of --ladder or --fidelity, when given)")
    p.add_argument("--fidelity", type=int, default=0, metavar="N",
                   help="only the fidelity subset: none, resnet, all and the first N-3 sampled (with --set epochs=20)")
    p.add_argument("--ladder", default=None, metavar="RUNG", help="only the fidelity ladder's fixed subset, at this "
                   "rung (R1: width 0.25, 32 epochs; R2: width 0.5, 24 epochs); chosen from R0 on first use")
    p.add_argument("--results", default="results")
    p.add_argument("--run-root", default="runs/groundtruth")
    p.add_argument("--plan", action="store_true",
                   help="list the runs the record lacks (and where a stopped one resumes), train nothing, write nothing")
    _engine_args(p)

    p = sub.add_parser("proxies", help="zero-cost proxies of the ground-truth set at init: results/groundtruth-PRESET/proxies.csv")
    p.add_argument("--preset", default="cpu", help="the retrain preset whose width the networks have")
    p.add_argument("--dataset", default="auto")
    p.add_argument("--n-sample", type=int, default=32)
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--results", default="results")

    p = sub.add_parser("benchmark", help="query the ground truth as a benchmark, or write its versioned export")
    p.add_argument("arch", nargs="?", default=None, help="an arch id, or edges such as '1>3 2>4 3>5 4>6 5>7 6>8'")
    p.add_argument("--source", default="results/groundtruth-cpu", help="a record directory or an export file")
    p.add_argument("--export", action="store_true", help="write SOURCE/vggdarts-bench-v1.json from the record")

    p = sub.add_parser("report", help="re-render the tables of docs/report.md from results/ (and the benchmark export)")
    p.add_argument("--path", default="docs/report.md")
    p.add_argument("--results", default="results")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is stale")

    p = sub.add_parser("export", help="copy a finished run's record (no checkpoints; + supernet.pt) for results/")
    p.add_argument("--run-dir", required=True, help="a finished run, or a comparison sweep folder (with archs/)")
    p.add_argument("--out", required=True, help="e.g. results/search-cpu-seed1")

    p = sub.add_parser("scale", help="record a finished width-1 search without its weights: picks, one-shot cache of "
                                     "the ground-truth set, record, figures/paper_*")
    p.add_argument("run_dir", help="the finished search's run directory (with checkpoint.pt)")
    p.add_argument("--out", default="results/search-paper")
    p.add_argument("--results", default="results")
    p.add_argument("--figures", default="figures", help="where paper_*.png/.pdf go")
    p.add_argument("--device", default="auto")
    p.add_argument("--log-epochs", metavar="ATTEMPT", default=None,
                   help="only append the run's measured epochs to benchmarks/results/paper-epochs.csv under this "
                        "label (e.g. the date the run started); the run need not have finished")
    p.add_argument("--beside", default="nothing", help="with --log-epochs: what else ran on the machine")

    p = sub.add_parser("park", help="commit a stopped run's directory as parked/NAME, then its removal from the tree "
                                    "(the state stays in the history, for another machine to resume)")
    p.add_argument("run_dir", help="the run directory (its job must have stopped)")
    p.add_argument("--name", default=None, help="default: the run directory's name")

    p = sub.add_parser("unpark", help="restore the last parked state of NAME from the history into a run directory")
    p.add_argument("name")
    p.add_argument("--run-dir", required=True, help="where to restore it (must hold no checkpoint)")

    p = sub.add_parser("notebooks", help="run notebooks 01 -> 02 -> 03 (-> 04) with papermill")
    p.add_argument("--preset", default="smoke", help="parameter file notebooks/params/PRESET.yaml")
    p.add_argument("--run-dir", required=True, help="where the search and the executed notebooks go")
    p.add_argument("--notebooks", nargs="+", default=None, help="which notebooks (default: those the preset lists)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        return _run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("vggdarts").warning("interrupted; rerun the same command to resume")
        return 130


def _narrowed(chosen: list[str] | None, asked: list[str] | None, what: str) -> list[str] | None:
    """``--only``'s ids, kept within a subset that ``--ladder`` or ``--fidelity`` chose (in the subset's order);
    an id outside it is an error, not a silent omission."""
    if asked is None or chosen is None:
        return asked if chosen is None else chosen
    outside = [a for a in asked if a not in chosen]
    if outside:
        raise ValueError(f"--only names {', '.join(outside)}, not in {what} ({', '.join(chosen)}); "
                         "drop them, or drop --only to train the whole subset")
    return [a for a in chosen if a in asked]


def _run(args) -> int:
    if args.command == "search":
        from .search import search

        overrides = parse_assignments(args.overrides)
        if args.seeds is None:  # one search, here: --threads is its thread count (--set threads=N wins)
            overrides = {"threads": args.threads, **overrides} if args.threads else overrides
            search(make_config("search", args.preset, overrides), args.run_dir)
        else:
            from .executors import run_jobs
            from .jobs import Job

            jobs = [Job("search", args.preset, {**overrides, "seed": seed}, f"{args.run_dir}/seed{seed}", f"seed {seed}")
                    for seed in args.seeds]
            for job in jobs:
                job.config()  # a bad parameter stops here, before anything is submitted
            results = run_jobs(jobs, _engine(args), args.run_dir)
            return 0 if all(r["status"] == "ok" for r in results) else 1
    elif args.command == "retrain":
        from .retrain import retrain

        overrides = {**parse_assignments(args.overrides), "arch": args.arch}
        retrain(make_config("retrain", args.preset, overrides), args.run_dir)
    elif args.command == "derive":
        from . import compare, derive

        mask = compare.derive_to_file(args.out, args.method, args.search_run, k=args.k, level=args.level,
                                      seed=args.seed, val_images=args.val_images, finetune_steps=args.finetune_steps)
        print(derive.format_mask(mask))
    elif args.command == "compare":
        from . import compare

        methods = tuple(args.methods) if args.methods else compare.DEFAULT_METHODS
        rows = compare.sweep(args.search_run, args.out, args.preset, tuple(args.seeds), methods,
                             parse_assignments(args.overrides), engine=_engine(args), topk_k=args.k,
                             perturb_finetune_steps=args.finetune_steps)
        print(compare.markdown_table(compare.aggregate(rows)))
    elif args.command == "figures":
        from . import figures

        made = [*figures.search_figures(args.run_dir, args.out).values(), figures.curves_figure(args.run_dir, args.out)]
        if args.compare_dir:
            made += [figures.comparison_figure(args.compare_dir, args.out),
                     *figures.architecture_figures(args.compare_dir, args.out, search_run=args.run_dir).values()]
        for paths in made:
            print(" ".join(str(p) for p in paths))
    elif args.command == "agree":
        from . import figures

        text, paths = figures.agreement_figures(args.runs, args.out, args.names, args.epoch, args.name)
        print(text + "\n" + " ".join(str(p) for p in paths))
    elif args.command == "groundtruth":
        from . import groundtruth

        overrides = parse_assignments(args.overrides)
        only = groundtruth.fidelity_subset(args.fidelity, args.n_sample, args.sample_seed) if args.fidelity else None
        if args.ladder:
            from . import ladder

            overrides = {**ladder.rung_overrides(args.ladder), **overrides}
            only = ladder.subset(Path(args.results) / f"groundtruth-{args.preset}", create=True, write=not args.plan)
        only = _narrowed(only, args.only, "--ladder's subset" if args.ladder else "--fidelity's subset")
        if args.plan:
            todo = groundtruth.plan(args.preset, tuple(args.seeds), args.n_sample, args.sample_seed, args.results,
                                    args.run_root, overrides, only)
            for job, done in todo:
                print(f"{job.label}: {f'resumes after epoch {done}' if done else 'from scratch'} ({job.run_dir})")
            print(f"{len(todo)} runs to train, {sum(done > 0 for _, done in todo)} of them started; nothing written")
            return 0
        added = groundtruth.run(args.preset, tuple(args.seeds), args.n_sample, args.sample_seed, args.results,
                                args.run_root, overrides, _engine(args), only)
        print(f"{added} rows added to {args.results}/groundtruth-{args.preset}/groundtruth.csv")
    elif args.command == "proxies":
        from . import groundtruth, proxies

        width = make_config("retrain", args.preset, {"arch": "-"}).width
        archs = groundtruth.architecture_set(args.n_sample, args.sample_seed, args.results)
        csv_path = Path(args.results) / f"groundtruth-{args.preset}" / "proxies.csv"
        added = proxies.update(csv_path, archs, width, args.dataset)
        print(f"{added} architectures scored into {csv_path}")
    elif args.command == "report":
        from . import report

        if args.check:
            names = report.stale(args.path, args.results)
            print(f"stale tables in {args.path}: {', '.join(names)} (run python -m vggdarts report)" if names
                  else f"{args.path} is current")
            return 1 if names else 0
        changed = report.update(args.path, args.results)
        print(f"re-rendered in {args.path}: {', '.join(changed) or 'nothing (already current)'}")
        from . import benchmark

        print(f"wrote {benchmark.export(Path(args.results) / 'groundtruth-cpu')}")
    elif args.command == "benchmark":
        import json

        from . import benchmark

        if args.export:
            print(f"wrote {benchmark.export(args.source)}")
        if args.arch:
            print(json.dumps(benchmark.load(args.source).query(args.arch), indent=1))
    elif args.command == "export":
        from .compare import export_sweep
        from .rundir import export_record

        is_sweep = (Path(args.run_dir) / "archs").is_dir()
        print(export_sweep(args.run_dir, args.out) if is_sweep else export_record(args.run_dir, args.out))
    elif args.command == "scale":
        from . import scale

        if args.log_epochs:
            path = Path("benchmarks/results") / scale.EPOCH_LOG
            added = scale.log_epochs(args.run_dir, path, args.log_epochs, args.beside)
            print(f"{added} epochs added to {path}")
            return 0
        dest = scale.record(args.run_dir, args.out, args.results, device=args.device)
        made = scale.figures(dest, args.figures)
        print(f"recorded {dest}; figures: {' '.join(str(p) for p in made if p.suffix == '.png')}\n"
              "next: python -m vggdarts groundtruth --preset cpu (trains the new picks), python -m vggdarts proxies "
              "--preset cpu, python -m vggdarts report")
    elif args.command == "park":
        from .parking import park

        m = park(args.run_dir, args.name)
        print(f"parked {m['name']} (epoch {m['epochs_done']} of {m['epochs']}) in {m['commit'][:12]}, and removed it "
              f"from the tree; restore with: python -m vggdarts unpark {m['name']} --run-dir {args.run_dir}")
    elif args.command == "unpark":
        from .parking import unpark

        m = unpark(args.name, args.run_dir)
        print(f"restored {m['name']} (epoch {m['epochs_done']} of {m['epochs']}, parked {m['parked_at']} from "
              f"{m['commit'][:12]}) into {args.run_dir}; resume it with the job's usual command")
    elif args.command == "notebooks":
        from .batch import run_notebooks

        return run_notebooks(args.preset, args.run_dir, args.notebooks)
    return 0
