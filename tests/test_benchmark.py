"""The ground truth as a benchmark: the committed export is what the record gives, follows its schema, and a
query answers for every architecture with the numbers of its rows."""
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from vggdarts import benchmark, derive, groundtruth as gt

RECORD = Path(__file__).resolve().parents[1] / "results" / "groundtruth-cpu"
EXPORT = RECORD / benchmark.EXPORT_FILE

RUN = {"type": "object", "required": list(benchmark.RUN_FIELDS), "additionalProperties": False, "properties": {
    "seed": {"type": "integer"}, "width": {"type": "number", "exclusiveMinimum": 0}, "epochs": {"type": "integer"},
    "val_acc": {"type": "number", "minimum": 0, "maximum": 100}, "test_acc": {"type": "number", "minimum": 0, "maximum": 100},
    "dataset": {"type": "string"}, "cpu_capability": {"type": "string"}, "cpu_model": {"type": "string"}, "threads": {"type": "integer"},
    "commit": {"type": "string"}}}
SCHEMA = {"type": "object", "required": ["name", "version", "dataset", "space", "recipe", "ladder", "architectures"],
          "properties": {
              "name": {"const": benchmark.NAME}, "version": {"const": benchmark.VERSION},
              "architectures": {"type": "object", "propertyNames": {"pattern": "^a[0-9a-f]{6}$"},
                                "additionalProperties": {
                                    "type": "object",
                                    "required": ["edges", "mask", "n_shortcuts", "origin", "in_figure3_space", "size",
                                                 "proxies", "runs"],
                                    "properties": {
                                        "mask": {"type": "array", "minItems": 8, "maxItems": 8, "items": {
                                            "type": "array", "minItems": 6, "maxItems": 6,
                                            "items": {"enum": [0, 1]}}},
                                        "runs": {"type": "array", "minItems": 1, "items": RUN},
                                        "size": {"type": "object", "additionalProperties": {
                                            "type": "object", "required": ["params", "macs"]}}}}}}}


def test_the_committed_export_is_current_and_follows_its_schema():
    data = json.loads(EXPORT.read_text())
    jsonschema.validate(data, SCHEMA)
    assert EXPORT.read_text() == json.dumps(benchmark.build(RECORD), indent=1, sort_keys=True) + "\n", \
        "the export is stale: python -m vggdarts report"
    for aid, a in data["architectures"].items():  # a mask is its id and its edges
        assert gt.arch_id(np.array(a["mask"], dtype=bool)) == aid and gt.edges(np.array(a["mask"])) == a["edges"]


def test_a_query_answers_for_every_architecture_and_pins_a_known_row():
    bench = benchmark.load(EXPORT)
    rows = gt.read_records(RECORD / "groundtruth.csv")
    assert set(bench.architectures) == {r["arch_id"] for r in rows}
    for aid in bench.architectures:
        q = bench.query(aid)
        assert q["runs"] and q["summary"] and len(q["runs"]) == sum(r["arch_id"] == aid for r in rows)
    q = bench.query(derive.all_edges(), rung=(0.25, 8))  # by mask
    assert q["arch_id"] == "a1fffff" and bench.query(q["edges"])["arch_id"] == "a1fffff"  # by edges
    seed0 = next(r for r in q["runs"] if r["seed"] == 0)
    pinned = next(r for r in rows if (r["arch_id"], r["seed"], r["width"], r["epochs"]) == ("a1fffff", 0, 0.25, 8))
    assert (seed0["val_acc"], seed0["test_acc"], seed0["commit"]) == (pinned["val_acc"], pinned["test_acc"], pinned["commit"])
    (summary,) = q["summary"].values()
    vals = [r["val_acc"] for r in rows if r["arch_id"] == "a1fffff" and (r["width"], r["epochs"]) == (0.25, 8)]
    assert summary["val_mean"] == pytest.approx(np.mean(vals)) and summary["val_std"] == pytest.approx(np.std(vals, ddof=1))
    truth = gt.mean_accuracy(rows, 8, width=0.25)
    none = bench.query("-", rung=(0.25, 8))["summary"]["width 0.25, 8 epochs"]
    assert none["percentile"] == pytest.approx(gt.pick_standing("a000000", truth)["percentile"])
    assert none["of"] == len(truth)


def test_the_figure3_space_lists_720_networks_and_what_is_known(tmp_path):
    bench = benchmark.load(EXPORT)
    space = bench.figure3_space()
    assert len(space) == 720 and len({s["arch_id"] for s in space}) == 720
    trained = {s["arch_id"] for s in space if s["trained"]}
    assert trained == {a for a, v in bench.architectures.items() if v["in_figure3_space"]}


def test_a_query_outside_the_set_says_what_to_do(tmp_path):
    bench = benchmark.load(EXPORT)
    untrained = next(s for s in bench.figure3_space() if not s["trained"])
    with pytest.raises(KeyError, match="--only " + untrained["arch_id"]):
        bench.query(gt.figure3_mask(untrained["index"]))
    with pytest.raises(KeyError, match="neither an id nor an edges string"):
        bench.query("a999999")
    bad = tmp_path / "x.json"
    bad.write_text('{"name": "other"}')
    with pytest.raises(ValueError, match="is not a vggdarts-bench v1 export"):
        benchmark.load(bad)
