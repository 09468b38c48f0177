"""Small helpers the notebooks call, so that no notebook cell holds logic of its own."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import make_config
from .display import markdown, show  # noqa: F401  (the notebooks call nb.markdown / nb.show)
from .training import setup_logging

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def setup() -> Path:
    """Work from the project root (so run_dir/data_root mean the same in JupyterLab, pytest and
    papermill), log one line per epoch, and return the root."""
    here = Path.cwd().resolve()
    if (PROJECT_ROOT / "notebooks").is_dir() and (here == PROJECT_ROOT or PROJECT_ROOT in here.parents):
        os.chdir(PROJECT_ROOT)  # a notebook opened anywhere inside the project (notebooks/, runs/...)
    setup_logging()
    return Path.cwd()


def config(job: str, preset: str, extra: dict[str, Any] | None = None, **parameters):
    """make_config from notebook parameters: None means 'the preset's value'; ``extra`` sets any other field."""
    return make_config(job, preset, {**parameters, **(extra or {})})


def engine(executor: str = "inline", max_parallel: int = 1, slurm_config: str | None = None, **settings):
    """Where a notebook's sweep runs (executors.Engine), from notebook parameters."""
    from .executors import Engine, load_slurm_config

    return Engine(executor, max_parallel, slurm=load_slurm_config(slurm_config), **settings)


def search_summary(run_dir: str | Path) -> str:
    """A short Markdown summary of a search run (best test accuracy, dataset used, where it is)."""
    from .figures import provenance
    from .rundir import read_json

    s = read_json(run_dir, "summary.json")
    warn = ""
    if "NOT CIFAR-10" in s["dataset_used"] or "synthetic" in s["dataset_used"]:
        warn = f"\n\n**WARNING: this run used {s['dataset_used']}, not CIFAR-10. Its numbers say nothing about CIFAR-10.**"
    return (f"**Search finished** ({provenance(run_dir)})\n\n"
            f"- test accuracy at the best-val epoch (the selection): **{s['test_acc_at_best_val']:.2f}%** "
            f"(epoch {s['best_val_epoch']}, val = alpha half {s['best_val_acc']:.2f}%)\n"
            f"- best test accuracy over epochs (the study's headline convention, not a selection): "
            f"{s['best_test_acc']:.2f}% (epoch {s['best_test_epoch']}); final {s['final_test_acc']:.2f}%\n"
            f"- dataset actually used: {s['dataset_used']}\n"
            f"- {s['epochs_done']} epochs, {s['mean_epoch_seconds']:.1f} s/epoch, run directory `{run_dir}`{warn}")
