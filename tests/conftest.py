import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"



@pytest.fixture(scope="session")
def cifar_archive():
    """The offline CIFAR-10 JPEG copy beside the checkout; tests using it skip where it is absent."""
    if not SHARED_ARCHIVE.exists():
        pytest.skip(f"offline CIFAR-10 copy not found at {SHARED_ARCHIVE}")
    return SHARED_ARCHIVE


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    """A data_root whose cache is shared by the whole session (decode the JPEG copy once)."""
    root = ROOT / "data"
    root.mkdir(exist_ok=True)
    return root


def run_cli(*args, cwd=ROOT, timeout=300):
    """Run ``python -m vggdarts ARGS`` and return the CompletedProcess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "vggdarts", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def smoke_search_args(run_dir, *extra):
    return ["search", "--preset", "smoke", "--run-dir", str(run_dir), "--set", "dataset=synthetic",
            "--set", "progress=false", *extra]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A finished smoke search on synthetic data (shared, read-only for tests)."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    result = run_cli(*smoke_search_args(run_dir, "--set", "epochs=3"))
    assert result.returncode == 0, result.stderr
    return run_dir


def execute_notebook(name, where, **parameters):
    """Run notebooks/NAME.ipynb through papermill with ``parameters`` into ``where``; the executed notebook."""
    import nbformat
    import papermill as pm

    out = where / f"{name}.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), parameters=parameters, cwd=str(ROOT),
                        kernel_name="python3", progress_bar=False)
    return nbformat.read(out, as_version=4)
