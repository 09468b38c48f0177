"""docs/report.md's tables are what the records give now."""
import json
import shutil
from pathlib import Path

import pytest

from vggdarts import report

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_report_is_current():
    assert report.stale(ROOT / "docs" / "report.md", ROOT / "results") == []


def test_a_changed_record_makes_its_table_stale_and_update_renders_it(tmp_path):
    results = tmp_path / "results"
    for name in report.SIGNATURE_RUNS:
        shutil.copytree(ROOT / "results" / name, results / name)
    doc = tmp_path / "report.md"  # the signature table alone (the others need the whole of results/)
    doc.write_text(report.BLOCK.search((ROOT / "docs" / "report.md").read_text()).group(0) + "\n")
    assert "table: unstated-settings" in doc.read_text()
    summary = results / "search-cpu-seed0" / "summary.json"
    data = json.loads(summary.read_text())
    data["best_test_acc"] = 12.34
    summary.write_text(json.dumps(data))
    assert report.stale(doc, results) == ["unstated-settings"]
    assert report.update(doc, results) == ["unstated-settings"] and "| 12.34 |" in doc.read_text()
    assert report.stale(doc, results) == []


def test_an_unknown_table_name_is_one_clear_error(tmp_path):
    doc = tmp_path / "report.md"
    doc.write_text("<!-- table: no-such -->\n<!-- /table -->\n")
    with pytest.raises(KeyError, match="does not render"):
        report.stale(doc, ROOT / "results")
    assert doc.read_text() == "<!-- table: no-such -->\n<!-- /table -->\n"  # untouched
