"""docs/report.md's tables are what the records give now."""
import json
import shutil
from pathlib import Path

import pytest

from vggdarts import report

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_report_is_current():
    assert report.stale(ROOT / "docs" / "report.md", ROOT / "results") == []


def test_every_table_the_package_renders_is_in_the_report_once():
    names = [m.group("name") for m in report.BLOCK.finditer((ROOT / "docs" / "report.md").read_text())]
    assert sorted(names) == sorted(report.TABLES)


def test_the_readme_has_no_table_of_results(tmp_path):
    """Published numbers live in the report, rendered; the README's tables are reference (names, fields)."""
    import re

    readme = (ROOT / "README.md").read_text()
    numeric_rows = [line for line in readme.splitlines() if line.startswith("|") and re.search(r"\b\d{2}\.\d\d\b", line)]
    assert numeric_rows == []


def test_every_decimal_number_in_the_readme_is_one_the_report_renders_or_states():
    """The README's findings quote the report; a number the report no longer has is one that drifted from the
    records (the report's tables are rendered from them and checked current above)."""
    import re

    readme, text = (ROOT / "README.md").read_text(), (ROOT / "docs" / "report.md").read_text()
    findings = readme.split("## Findings so far", 1)[1].split("\n## ", 1)[0]
    numbers = set(re.findall(r"[+-]?\d+\.\d+%?", findings))
    assert len(numbers) >= 5  # the section quotes numbers; an empty match would prove nothing
    assert sorted(n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", text)) == []
    # and within the sections the finding links to: a stale number can survive elsewhere in a long report
    for bullet in findings.split("\n* ")[1:]:
        anchors = re.findall(r"\]\(docs/report\.md#([^)\s]+)\)", bullet)
        assert anchors, f"a finding that links to no section of the report: {bullet[:60]}"
        where = "".join(_section(text, a) for a in anchors)
        quoted = set(re.findall(r"[+-]?\d+\.\d+%?", bullet))
        assert sorted(n for n in quoted if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", where)) == [], bullet[:60]


def _section(text: str, anchor: str) -> str:
    """The report's section under the heading whose anchor is ``anchor``, up to the next heading of its level
    or above."""
    import re

    heads = [(m.start(), len(m.group(1)), _slug(m.group(2))) for m in re.finditer(r"(?m)^(#+) (.+)$", text)]
    start, level = next((pos, lvl) for pos, lvl, slug in heads if slug == anchor)
    end = next((pos for pos, lvl, _ in heads if pos > start and lvl <= level), len(text))
    return text[start:end]


def test_the_ladder_words_in_the_readme_and_the_report_are_what_the_verdicts_say():
    """The README's ladder finding and the report's written reading state verdicts in words; a new row can move
    a verdict across the 5% line without changing a decimal the README quotes. Each stated verdict is checked
    against the committed verdicts table (itself checked current above)."""
    import re

    text = (ROOT / "docs" / "report.md").read_text()
    table = text.split("<!-- table: ladder-verdicts -->", 1)[1].split("<!-- /table -->", 1)[0].strip().splitlines()
    rungs = [c.split(" (")[0] for c in table[0].strip("| ").split(" | ")[1:]]
    verdict = {}  # (finding's start, rung) -> yes / no / cannot tell / None, the deciding verdict of each cell
    for line in table[2:]:
        label, *cells = line.strip("| ").split(" | ")
        for k, cell in zip(rungs, cells):
            m = re.match(r"\*\*(yes|no|cannot tell)\*\*", cell)
            verdict[label, k] = m.group(1) if m else None

    def at(start: str, k: str) -> str | None:
        return next(v for (label, r), v in verdict.items() if label.startswith(start) and r == k)

    readme = (ROOT / "README.md").read_text()
    bullet = readme.split("* **The cheap truth carries", 1)[1].split("\n* ", 1)[0].split("\n## ", 1)[0]
    reading = text.split("**The reading.**", 1)[1].split("\n\n", 1)[0]
    words = " ".join((bullet + " " + reading).split())
    claims = {  # a phrase of the README or the reading -> whether the verdicts bear it out
        "R0's order predicts both better than chance": at("R0's order", "R1") == at("R0's order", "R2") == "yes",
        "R0's ranking predicts longer and wider training better than chance":
            at("R0's order", "R1") == at("R0's order", "R2") == "yes",
        "The architectures differ far less": at("architectures differ less", "R1") == at("architectures differ less", "R2") == "yes",
        "one-shot score ranks the subset at every rung": all(at("search-cpu-seed0: one-shot", k) == "yes" for k in rungs),
        "one-shot score ranks the subset better than chance at every rung":
            all(at("search-cpu-seed0: one-shot", k) == "yes" for k in rungs),
        "that search's alpha does so at R0 only":
            [at("search-cpu-seed0: alpha", k) == "yes" for k in rungs] == [True] + [False] * (len(rungs) - 1),
        "the width-1 search's one-shot score passes the 5% line and the parameter count misses it":
            at("search-paper: one-shot", "R2") == "yes" and at("params", "R2") != "yes",
        "the width-1 one-shot score passes the 5% line, the others miss it":
            at("search-paper: one-shot", "R2") == "yes" and at("params", "R2") != "yes"
            and at("search-paper: alpha", "R2") != "yes",
        "`all`'s lead at R0 and R1 was never beyond the noise": at("`all` beats", "R0") == at("`all` beats", "R1") == "cannot tell",
        "only R1 tells it from the noise": [at("`none` ranks below", k) for k in rungs] == ["cannot tell", "yes", "cannot tell"],
    }
    stated = [c for c in claims if c in words]
    assert len(stated) >= 6, stated  # the words this test guards are still there (reword the test with them)
    assert [c for c in stated if not claims[c]] == []


def test_a_changed_record_makes_its_table_stale_and_update_renders_it(tmp_path):
    results = tmp_path / "results"
    for name in report.SIGNATURE_RUNS:
        shutil.copytree(ROOT / "results" / name, results / name)
    doc = tmp_path / "report.md"  # the signature table alone (the others need the whole of results/)
    block = next(m for m in report.BLOCK.finditer((ROOT / "docs" / "report.md").read_text())
                 if m.group("name") == "unstated-settings")
    doc.write_text(block.group(0) + "\n")
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


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    import re

    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_in_the_readme_and_docs_reaches_a_file_and_its_heading():
    import re

    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            assert file.exists(), f"{doc.name}: {target} does not exist"
            if anchor and file.suffix == ".md":
                headings = {_slug(h) for h in re.findall(r"(?m)^#+ (.+)$", file.read_text())}
                assert anchor in headings, f"{doc.name}: no heading #{anchor} in {file.name}"


def test_every_rendered_table_row_has_as_many_cells_as_its_header():
    """A '|' inside a rendered cell (e.g. an absolute value written |x|) would split it and shift the row."""
    text = (ROOT / "docs" / "report.md").read_text()
    for block in report.BLOCK.finditer(text):
        header = None
        for line in block.group(0).splitlines():
            if not line.startswith("|"):
                header = None
                continue
            cells = line.count("|")
            if header is None:
                header = cells
            assert cells == header, f"table {block.group('name')}: {line[:120]}"
