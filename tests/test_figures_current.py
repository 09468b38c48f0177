"""The committed figures are what their records draw now: `make run PRESET=results` redraws every figure in
figures/ from results/ (and the HVP benchmark's JSON) without writing into results/, and each draws what the
committed one does (texts and data, figures.json).  A record edited since fails here."""
import json

import pytest

from conftest import ROOT
from vggdarts.batch import run_notebooks
from vggdarts.plots import MANIFEST


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory):
    """make run PRESET=results into a temporary folder: (its figures folder, whether results/ stayed untouched)."""
    out = tmp_path_factory.mktemp("results-preset")
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*") if p.is_file()}
    assert run_notebooks("results", str(out)) == 0
    after = {p: p.stat().st_mtime_ns for p in (ROOT / "results").rglob("*") if p.is_file()}
    return out / "figures", before == after


def test_results_preset_redraws_every_committed_figure_as_committed(redrawn):
    figures, untouched = redrawn
    assert untouched, "make run PRESET=results wrote into results/"
    drawn = json.loads((figures / MANIFEST).read_text())
    committed = json.loads((ROOT / "figures" / MANIFEST).read_text())
    assert {p.stem for p in (ROOT / "figures").glob("*.png")} == set(committed), "a committed figure without its record"
    unnamed = sorted(n for n, d in drawn.items() if not any(("CIFAR-10" in t or "synthetic" in t or "digits" in t) for t in d["texts"]))
    assert not unnamed, f"figures whose texts do not name their data set: {unnamed}"
    assert set(committed) <= set(drawn), f"not drawn by PRESET=results: {sorted(set(committed) - set(drawn))}"
    stale = sorted(n for n in committed if drawn[n] != committed[n])
    assert not stale, f"committed figures that their records no longer draw: {stale} (make figures-results)"


def test_the_scale_command_draws_what_notebooks_02_and_03_draw_with_the_paper_prefix(redrawn, tmp_path):
    """`python -m vggdarts scale --figures` (scale.figures) and the notebooks' paper pass (figure_prefix="paper_",
    the report's line on the curves) draw the same paper_* files, with the same texts and data."""
    from vggdarts import scale

    figures, _ = redrawn
    made = {p.name for p in scale.figures(ROOT / "results" / "search-paper", tmp_path)}
    drawn = {p.name for p in figures.iterdir() if p.name.startswith("paper_") and p.suffix in (".png", ".pdf")}
    assert made == drawn and "paper_against_report.png" in made
    manifest = lambda d: {k: v for k, v in json.loads((d / MANIFEST).read_text()).items()  # noqa: E731
                          if k.startswith("paper_")}
    assert manifest(tmp_path) == manifest(figures)
