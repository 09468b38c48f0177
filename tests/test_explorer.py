"""The interactive alpha explorer (ipywidgets), driven as a user would, without a browser."""
import shutil

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
from vggdarts.explorer import AlphaExplorer, find_search_runs  # noqa: E402


@pytest.fixture
def roots(smoke_run, tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    shutil.copytree(smoke_run, runs / "a")
    shutil.copytree(smoke_run, results / "b" / "nested")
    (runs / "not-a-run").mkdir()
    return str(runs), str(results)


def test_the_run_picker_lists_the_search_runs(roots):
    runs = find_search_runs(roots)
    assert [p.name for p in runs] == ["a", "nested"]
    explorer = AlphaExplorer(roots=roots)
    assert list(explorer.picker.options) == [str(p) for p in runs]


def test_the_slider_draws_alpha_at_epoch_k_and_the_toggle_switches_table(roots):
    explorer = AlphaExplorer(roots=roots)
    z = np.load(f"{explorer.picker.value}/alpha.npz")
    assert explorer.epoch.max == len(z["raw"]) == 3 and explorer.epoch.value == 3
    before = explorer.heatmap.value
    explorer.epoch.value = 2
    assert np.array_equal(explorer.drawn, z["weights"][1])
    assert explorer.heatmap.value != before and explorer.heatmap.value[:4] == b"\x89PNG"
    explorer.kind.value = "raw"
    assert np.array_equal(explorer.drawn, z["raw"][1])
    explorer.epoch.value = 1
    assert np.array_equal(explorer.drawn, z["raw"][0])
    explorer.picker.value = explorer.picker.options[1]  # another run: back to its last epoch
    assert explorer.epoch.value == 3 and np.array_equal(explorer.drawn, z["raw"][2])


def test_no_runs_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no search runs"):
        AlphaExplorer(roots=[str(tmp_path)])
