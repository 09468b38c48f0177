"""The study's report, ``docs/report.md``: people write the prose, the package renders every table from
``results/``.  A table sits between ``<!-- table: NAME -->`` and ``<!-- /table -->``; :func:`update` re-renders
each one in place and :func:`stale` names those whose committed text differs from what the records give now
(the test suite calls it, so a number in the report cannot drift from its record).

    python -m vggdarts report            # re-render every table of docs/report.md from results/
    python -m vggdarts report --check    # exit 1 and name the stale tables
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from . import reference
from .files import atomic_write_text
from .rundir import alpha_tables, read_json

REPORT = Path("docs/report.md")
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)

# The unstated-settings probe against the records it is compared with (all seed-0 or the cpu seeds).
SIGNATURE_RUNS = ("search-cpu-seed0-awd", "search-cpu-seed0", "search-cpu-seed1", "search-cpu-seed2")


def signature_table(results: Path) -> str:
    """Per run: alpha's weight decay, the largest |alpha|, per block 6..8 the argmax and the rejected sources'
    spread, and the agreement with the report's Table 2; the report's own Table 3 first."""
    head = ["| run | alpha weight decay | max abs alpha | block 6: argmax, rejected spread | block 7 | block 8 "
            "| argmax as the report (blocks 4-8) | tau vs Table 2 | best test acc % |", "|---|---|---|---|---|---|---|---|---|"]

    def row(name, decay, raw, agree, tau, best):
        sig = reference.signature(raw)
        blocks = {r["block"]: r for r in sig["rows"]}
        cells = [f"{blocks[b]['argmax']}, {blocks[b]['rejected_spread']:.2f}" for b in (6, 7, 8)]
        return f"| {name} | {decay} | {sig['max_abs_alpha']:.2f} | {' | '.join(cells)} | {agree} | {tau} | {best} |"

    lines = head + [row("original report, Table 3", "unstated", reference.REPORT_TABLE3, "5 of 5", "+1.00",
                        f"{reference.REPORT_BEST_TEST_ACC:.2f} (original CIFAR-10)")]
    for name in SIGNATURE_RUNS:
        run = results / name
        raw, table = alpha_tables(run)
        config, summary = read_json(run, "config.json"), read_json(run, "summary.json")
        agree = reference.against_report(table, config.get("relaxation", "softmax"))
        lines.append(row(f"`{name}` (seed {config['seed']})", f"{config['alpha_weight_decay']:g}", raw,
                         f"{agree['argmax_agree']} of 5", f"{agree['tau']:+.2f}", f"{summary['best_test_acc']:.2f}"))
    return "\n".join(lines) + "\n"


def ground_truth_table(results: Path) -> str:
    """The ground-truth report (``groundtruth.markdown``) over the search records that ``make run
    PRESET=results`` scores (``notebooks/params/results.yaml``: one list for the notebook and the report)."""
    import yaml

    from . import groundtruth

    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "notebooks" / "params" / "results.yaml").read_text())
    runs = [results / Path(r).name for r in params["search_runs"]]
    rep = groundtruth.report(results / "groundtruth-cpu", runs, params["epochs"], val_images=params["val_images"],
                             device="cpu")
    return groundtruth.markdown(rep).replace(str(results) + "/", "") + "\n"


TABLES: dict[str, Callable[[Path], str]] = {"unstated-settings": signature_table, "ground-truth": ground_truth_table}


def _render(text: str, results: Path) -> str:
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"docs/report.md names a table {name!r} that vggdarts.report does not render; "
                           f"known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name](results) + m.group(4)

    return BLOCK.sub(one, text)


def stale(path: str | Path = REPORT, results: str | Path = "results") -> list[str]:
    """The tables of ``path`` whose text differs from a fresh rendering from ``results``."""
    text = Path(path).read_text()
    fresh = {m.group("name"): m.group("body") for m in BLOCK.finditer(_render(text, Path(results)))}
    return [m.group("name") for m in BLOCK.finditer(text) if fresh[m.group("name")] != m.group("body")]


def update(path: str | Path = REPORT, results: str | Path = "results") -> list[str]:
    """Re-render every table of ``path`` in place; returns the names that changed."""
    changed = stale(path, results)
    if changed:
        atomic_write_text(path, _render(Path(path).read_text(), Path(results)))
    return changed
