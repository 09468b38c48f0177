"""Batch runs of the numbered notebooks with papermill: ``make run PRESET=...``.

Parameters come from ``notebooks/params/PRESET.yaml`` (the same file works with
``papermill -f``); each notebook receives only the parameters its ``parameters``
cell declares.  Executed notebooks go to ``RUN_DIR/notebooks/``; a failing cell
stops the batch with exit code 1, names the notebook and cell, and the executed
notebook (with the error) is kept.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import yaml

from .notebook import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
DEFAULT_NOTEBOOKS = ("01_search", "02_alpha", "03_curves")


def load_params(preset: str) -> dict:
    path = NOTEBOOK_DIR / "params" / f"{preset}.yaml"
    if not path.exists():
        choices = ", ".join(sorted(p.stem for p in (NOTEBOOK_DIR / "params").glob("*.yaml")))
        raise FileNotFoundError(f"no parameter file {path}; choose a preset with one of: {choices}")
    return yaml.safe_load(path.read_text()) or {}


@contextlib.contextmanager
def _environment(**values: str):
    """Set environment variables for what starts inside (a notebook kernel), then restore them."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _stream_progress() -> None:
    """Show each cell's output (the search's one line per epoch) in the terminal while it runs."""
    import logging

    class CurrentStdout(logging.StreamHandler):
        def emit(self, record):
            self.stream = sys.stdout  # whatever stdout is now (a terminal, a log file, a test's capture)
            super().emit(record)

    logger = logging.getLogger("papermill")
    if not any(isinstance(h, CurrentStdout) or getattr(h, "_vggdarts", False) for h in logger.handlers):
        handler = CurrentStdout()
        handler._vggdarts = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)


def run_notebooks(preset: str, run_dir: str, notebooks: list[str] | None = None) -> int:
    import papermill as pm

    params = load_params(preset)
    order = notebooks or params.pop("notebooks", None) or list(DEFAULT_NOTEBOOKS)
    params.pop("notebooks", None)
    passes = [] if notebooks else params.pop("passes", None) or []  # more records through the same notebooks
    params.pop("passes", None)
    run_dir_path = Path(run_dir)
    # the whole study hangs off one folder: the search, its figures, the comparison; a parameter file may
    # point elsewhere (PRESET=results reads the committed records and writes only figures under RUN_DIR)
    defaults = dict(run_dir=str(run_dir_path), search_run=str(run_dir_path),
                    figures_dir=str(run_dir_path / "figures"), out_dir=str(run_dir_path / "compare"))
    params = {**defaults, **{k: v for k, v in params.items() if v is not None}}
    from .training import BATCH_ENV

    _stream_progress()
    out_dir = run_dir_path / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [("", name, params) for name in order]
    for p in passes:  # e.g. notebooks 02 and 03 once more on the width-1 record, its figures prefixed paper_
        extra = {k: v for k, v in p.items() if k not in ("name", "notebooks")}
        runs += [(f"{p['name']}-", name, {**params, **extra}) for name in p["notebooks"]]
    for label, name, values in runs:
        source = NOTEBOOK_DIR / f"{name.removesuffix('.ipynb')}.ipynb"
        if not source.exists():
            raise FileNotFoundError(f"no notebook {source}")
        declared = pm.inspect_notebook(str(source))
        mine = {k: v for k, v in values.items() if k in declared}
        target = out_dir / f"{label}{source.name}"
        print(f"== {source.name} -> {target}  parameters {mine}", flush=True)
        try:  # the kernel inherits it: a bar in a logged batch never moves; the epoch lines are the progress
            with _environment(**{BATCH_ENV: "1"}):
                pm.execute_notebook(str(source), str(target), parameters=mine, cwd=str(PROJECT_ROOT),
                                    kernel_name="python3", log_output=True, progress_bar=False)
        except pm.PapermillExecutionError as err:
            print(f"error: notebook {source.name} failed in cell {err.cell_index} (execution count "
                  f"{err.exec_count}): {err.ename}: {err.evalue}\nThe executed notebook with the error is kept "
                  f"at {target}.", file=sys.stderr)
            return 1
    print(f"done: executed notebooks in {out_dir}, figures in {params['figures_dir']}")
    return 0
