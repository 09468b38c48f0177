"""The numbered notebooks: committed clean, and run through papermill on a tiny real run."""
import json

import nbformat
import numpy as np
import papermill as pm
import pytest
from PIL import Image

from conftest import ROOT, SHARED_ARCHIVE, execute_notebook
from vggdarts.batch import run_notebooks
from vggdarts.plots import heatmap_data
from vggdarts.rundir import read_table_csv
from vggdarts.supernet import candidate_mask

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIGURES = ["alpha_raw_heatmap", "alpha_weights_heatmap", "alpha_trajectories", "architecture_all_candidates",
           "architecture_argmax", "accuracy_curves", "against_report"]


def test_there_are_five_numbered_notebooks():
    assert [p.stem for p in NOTEBOOKS] == ["01_search", "02_alpha", "03_curves", "04_derive_retrain",
                                           "05_ground_truth"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_are_clean(path):
    raw = json.loads(path.read_text())  # nbformat.read fills in a missing cell id (with a warning) before validate
    assert all("id" in c for c in raw["cells"]), "every cell needs an id (nbformat 4.5)"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "commit notebooks without outputs"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.cells[1].cell_type == "code" and "parameters" in nb.cells[1].metadata.get("tags", [])
    # thin: every code cell is short (the parameters cell declares, one line each)
    assert all(len(c.source.splitlines()) <= 15 for c in code[1:]) and len(code[0].source.splitlines()) <= 20


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path):
    """papermill silently drops a parameter whose line it cannot parse; the batch runner would then not pass it."""
    import ast

    cell = nbformat.read(path, as_version=4).cells[1].source
    names = [target.id for node in ast.parse(cell).body for target in node.targets]
    assert list(pm.inspect_notebook(str(path))) == names


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """01 -> 02 -> 03 -> 04 with small parameters on the offline CIFAR-10 copy (synthetic where it is absent)."""
    base = tmp_path_factory.mktemp("study")
    dataset = str(SHARED_ARCHIVE) if SHARED_ARCHIVE.exists() else "synthetic"
    run_dir, figures_dir = base / "run", base / "figures"
    executed = {"01": execute_notebook("01_search", base, preset="smoke", run_dir=str(run_dir), dataset=dataset, epochs=2,
                               train_subset=640, test_subset=200)}
    executed["02"] = execute_notebook("02_alpha", base, run_dir=str(run_dir), figures_dir=str(figures_dir))
    executed["03"] = execute_notebook("03_curves", base, run_dir=str(run_dir), figures_dir=str(figures_dir))
    executed["04"] = execute_notebook("04_derive_retrain", base, search_run=str(run_dir), out_dir=str(base / "compare"),
                              preset="smoke", seeds=[0, 1], methods=["argmax", "perturbation", "none", "random"],
                              extra={"epochs": 1})
    return dict(run_dir=run_dir, figures_dir=figures_dir, compare=base / "compare", executed=executed,
                dataset=dataset)


def test_search_notebook_writes_a_run_and_says_what_data_it_used(study):
    summary = json.loads((study["run_dir"] / "summary.json").read_text())
    assert summary["epochs_done"] == 2
    text = json.dumps(study["executed"]["01"].cells[-1].outputs)
    assert "best test accuracy" in text and summary["dataset_used"] in text
    if study["dataset"] != "synthetic":
        assert summary["dataset_used"] == "CIFAR-10 (JPEG copy)"


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_a_real_image(study, name):
    png = study["figures_dir"] / f"{name}.png"
    assert png.stat().st_size > 10_000 and (study["figures_dir"] / f"{name}.pdf").stat().st_size > 1_000
    w, h = Image.open(png).size
    assert 1000 <= w <= 2200 and 500 <= h <= 1400, (w, h)


def test_figures_are_shown_inline_in_the_executed_notebooks(study):
    images = [o for c in study["executed"]["02"].cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) == 6  # 5 search figures + the side-by-side with the original report
    assert any("image/png" in o.get("data", {}) for c in study["executed"]["03"].cells for o in c.get("outputs", []))


@pytest.mark.parametrize("kind", ["raw", "weights"])
def test_heatmap_data_is_the_run_tables_with_non_candidates_masked(study, kind):
    table = read_table_csv(study["run_dir"] / f"alpha_{kind}.csv")
    data = heatmap_data(table)
    assert np.array_equal(data.mask, ~candidate_mask().numpy())
    assert np.array_equal(data.compressed(), table[candidate_mask().numpy()])


def test_derive_retrain_notebook_compares_every_method(study):
    rows = list((study["compare"] / "comparison.csv").read_text().splitlines())
    methods = {r.split(",")[0] for r in rows[1:]}
    assert methods == {"argmax", "perturbation", "none", "random"} and len(rows) == 1 + 8
    assert (study["compare"] / "figures" / "comparison.png").exists()
    assert len(list((study["compare"] / "figures").glob("arch_*.png"))) == 5  # argmax perturbation none random0/1
    table = json.dumps(study["executed"]["04"].cells[-2].outputs)
    assert "| argmax |" in table and "test acc" in table


def test_batch_runner_reports_the_failing_notebook_and_keeps_it(tmp_path, capsys):
    status = run_notebooks("smoke", str(tmp_path / "not-a-run"), ["02_alpha"])
    err = capsys.readouterr().err
    assert status == 1
    assert "02_alpha.ipynb failed in cell" in err and "does not exist" in err
    kept = tmp_path / "not-a-run" / "notebooks" / "02_alpha.ipynb"
    assert kept.exists() and "RunDirError" in kept.read_text()


def test_ground_truth_notebook_runs_with_small_parameters(study, tmp_path):
    seed_runs = [str(ROOT / "results" / f"search-cpu-seed{s}") for s in (0, 1, 2)]  # three real, different runs
    executed = execute_notebook("05_ground_truth", tmp_path, record_dir=str(tmp_path / "gt" / "groundtruth-smoke"),
                        search_runs=[str(study["run_dir"])], preset="smoke", epochs=1, train=True, seeds=[0, 1],
                        n_sample=1, results_dir=str(tmp_path / "gt"), extra={"epochs": 1, "dataset": "synthetic"},
                        run_root=str(tmp_path / "runs"),
                        val_images=200, figures_dir=str(tmp_path / "figures"), seed_runs=seed_runs)
    outputs = json.dumps([c.outputs for c in executed.cells if c.cell_type == "code"])
    # the tables the notebook shows are the package's, recomputed here from the same record and runs
    from vggdarts import agreement, groundtruth

    rep = groundtruth.report(tmp_path / "gt" / "groundtruth-smoke", [str(study["run_dir"])], 1, val_images=200)
    for line in groundtruth.markdown(rep).splitlines()[:6]:
        assert json.dumps(line)[1:-1] in outputs, line
    agree = agreement.seed_agreement(seed_runs)
    assert agree["agreeing_blocks"] < 6  # the three cpu seeds disagree on some blocks ...
    assert f"argmax agrees in every run: {agree['agreeing_blocks']} of 6" in outputs  # ... and the notebook says so
    for name in ("scores", "tau", "ceiling", "set", "seeds"):
        assert (tmp_path / "figures" / f"ground_truth_{name}.png").stat().st_size > 10_000
    rows = (tmp_path / "gt" / "groundtruth-smoke" / "groundtruth.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * 2  # (1 sampled + none, resnet, all) x 2 seeds


def test_batch_runs_print_one_line_per_epoch_while_they_run(tmp_path, capsys):
    assert run_notebooks("smoke", str(tmp_path), ["01_search", "03_curves"]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/2" in out and "epoch   2/2" in out
    assert "it/s" not in out  # no progress bar that a log cannot move
    assert "<Figure size" not in out and "[figure] accuracy_curves" in out  # figures named, not repr'd
    assert "<IPython.core.display.Markdown object>" not in out and "**Search finished**" in out
