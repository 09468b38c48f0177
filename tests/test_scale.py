"""The width-1 record without its weights (scale.record) and the tables and figures read from it."""
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from vggdarts import derive, groundtruth as gt, scale, scores
from vggdarts.rundir import RECORD_FILES, RunDirError

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


def _results(tmp_path: Path) -> Path:
    """A results folder as it was before the width-1 record: the three cpu seeds' records, the cpu comparisons'
    picks and the ground-truth record (copies of the committed ones, without weights, and without the committed
    width-1 picks' rows, so that the test's own smoke picks are the only ``search-paper`` origins)."""
    results = tmp_path / "results"
    for name in scale.CPU_SEEDS:
        (results / name).mkdir(parents=True)
        for f in ("config.json", "summary.json", "alpha.npz", "metrics.csv"):
            shutil.copy(ROOT / "results" / name / f, results / name / f)
    for name in scale.CPU_PICK_SOURCES:
        shutil.copytree(ROOT / "results" / name / "archs", results / name / "archs")
    shutil.copytree(ROOT / "results" / scale.GROUND_TRUTH / "masks", results / scale.GROUND_TRUTH / "masks")
    rows = []
    for r in gt.read_records(ROOT / "results" / scale.GROUND_TRUTH / "groundtruth.csv"):
        origins = [o for o in r["origin"].split("+") if not o.startswith(f"{scale.PAPER}/")]
        if origins:
            rows.append({**r, "origin": "+".join(origins)})
    gt.write_records(results / scale.GROUND_TRUTH / "groundtruth.csv", rows)
    return results


def test_before_the_run_has_finished_every_table_says_so_and_the_export_refuses(tmp_path, smoke_run):
    results = _results(tmp_path)
    for name, render in scale.TABLES.items():
        expected = "No epoch of the width-1 search" if name == "scale-cost" else "No `search-paper` record yet"
        assert render(results).startswith(expected)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(smoke_run, unfinished)
    (unfinished / "summary.json").unlink()
    with pytest.raises(RunDirError, match="no summary.json: let the search finish"):
        scale.record(unfinished, results / "search-paper", results, device="cpu")
    assert not (results / "search-paper").exists()  # nothing half-written
    cli = run_cli("scale", str(unfinished), "--out", str(results / "search-paper"), "--results", str(results))
    assert cli.returncode == 2 and cli.stderr.startswith("error:") and "let the search finish" in cli.stderr
    assert not (results / "search-paper").exists()


def test_the_record_keeps_what_needs_the_weights_and_not_the_weights(tmp_path, smoke_run, caplog):
    results = _results(tmp_path)
    dest = scale.record(smoke_run, results / "search-paper", results, device="cpu")
    files = {p.name for p in dest.iterdir()}
    assert set(RECORD_FILES) <= files and "README.md" in files and "archs" in files
    assert not {"supernet.pt", "checkpoint.pt"} & files and not list(dest.glob("**/*.pt"))
    assert "checkpoint.pt" in (dest / "README.md").read_text()
    picks = {p.stem: derive.load_mask(p) for p in (dest / "archs").glob("*.json")}
    assert set(picks) == set(scale.PICKS)
    assert picks["perturbation"][1]["params"]["finetune_steps"] == scale.FINETUNE_STEPS
    # the one-shot cache covers the whole ground-truth set, the new picks included
    archs = gt.architecture_set(results=results)
    assert {f"search-paper/{m}" for m in scale.PICKS} <= {o for a in archs.values() for o in a["origin"]}
    cached = scores.cached_oneshot_scores(results / scale.GROUND_TRUTH / "oneshot", "search-paper", scale.VAL_IMAGES)
    assert set(cached) == set(archs) and all(0 <= v <= 100 for v in cached.values())
    # without the weights the record answers from its cache, and says what it cannot score
    masks = {a: e["mask"] for a, e in archs.items()}
    assert scores.oneshot_scores(dest, masks, scale.VAL_IMAGES, "cpu", results / scale.GROUND_TRUTH / "oneshot") == cached
    extra = np.zeros_like(derive.none())
    extra[2, 1] = extra[3, 0] = True
    with caplog.at_level(logging.WARNING, logger="vggdarts"):
        got = scores.oneshot_scores(dest, {**masks, "extra": extra}, scale.VAL_IMAGES, "cpu",
                                results / scale.GROUND_TRUTH / "oneshot")
    assert got == cached and "no weights" in caplog.text
    # a second export reuses the picks and the cache (nothing is scored again)
    cache = scores.oneshot_cache(results / scale.GROUND_TRUTH / "oneshot", "search-paper", scale.VAL_IMAGES)
    before = cache.stat().st_mtime_ns, (dest / "archs" / "perturbation.json").stat().st_mtime_ns
    scale.record(smoke_run, dest, results, device="cpu")
    assert (cache.stat().st_mtime_ns, (dest / "archs" / "perturbation.json").stat().st_mtime_ns) == before

    # the tables read the record
    text = scale.report_table(results)
    assert "| original report | 1 | 100 | 85.54" in text and "`search-paper` (seed 0)" in text
    assert all(f"`{n}`" in text for n in scale.CPU_SEEDS)
    assert "width 1 vs w0.25 s0" in scale.widths_table(results)
    picks_text = scale.picks_table(results, n_resamples=50)
    assert picks_text.count("not yet trained") == 3  # no stand-alone rows for the new picks yet
    assert "`search-paper` | one-shot, whole set |" in picks_text and "`search-cpu-seed0` | alpha (log-probability), Figure-3 space |" in picks_text
    # once the picks are trained, their standing in the set appears
    rows = gt.read_records(results / scale.GROUND_TRUTH / "groundtruth.csv")
    aid = gt.arch_id(picks["argmax"][0])
    best = max(r["val_acc"] for r in rows if r["epochs"] == scale.TRUTH_EPOCHS)
    template = next(r for r in rows if r["epochs"] == scale.TRUTH_EPOCHS)
    for seed in (0, 1):  # hand-made rows: the pick beats the whole set
        rows.append({**template, "arch_id": aid, "origin": "search-paper/argmax", "seed": seed, "val_acc": best + 1})
    gt.write_records(results / scale.GROUND_TRUTH / "groundtruth.csv", rows)
    if not (results / scale.GROUND_TRUTH / "masks" / f"{aid}.json").exists():
        derive.save_mask(results / scale.GROUND_TRUTH / "masks" / f"{aid}.json", picks["argmax"][0], "groundtruth")
    line = next(x for x in scale.picks_table(results, n_resamples=50).splitlines() if x.startswith("| argmax |"))
    assert f"| {aid} | {best + 1:.2f} | 100 | 0.00 |" in line
    cost = scale.cost_table(results)
    assert "The finished record: 3 epochs" in cost and "over 1 session(s)" in cost

    made = scale.figures(dest, tmp_path / "figures")
    names = {p.name for p in made}
    assert {"paper_against_report.png", "paper_accuracy_curves.png", "paper_alpha_raw_heatmap.png",
            "paper_alpha_weights_heatmap.png"} <= names
    assert all(p.stat().st_size > 0 for p in made)


def test_the_epoch_log_keeps_every_attempt_and_adds_each_epoch_once(tmp_path, smoke_run):
    log_path = tmp_path / "benchmarks" / "results" / scale.EPOCH_LOG
    log_path.parent.mkdir(parents=True)
    assert scale.log_epochs(smoke_run, log_path, "first") == 3
    assert scale.log_epochs(smoke_run, log_path, "first") == 0  # nothing twice
    assert scale.log_epochs(smoke_run, log_path, "second", beside="tests") == 3
    rows = scale.read_epoch_log(log_path)
    assert [(r["attempt"], r["epoch"]) for r in rows] == [(a, e) for a in ("first", "second") for e in (1, 2, 3)]
    assert all(r["seconds"] > 0 and r["threads"] >= 1 and r["cpu_capability"] for r in rows)
    text = scale.cost_table(tmp_path / "results")
    assert "| first | 1 | 1-3 |" in text and "| second | 1 | 1-3 |" in text and "| tests |" in text
    assert "light work beside it (1 of the rows above)" in text  # "tests" beside is not a quiet row


def test_the_epoch_log_tells_the_sessions_of_a_resumed_run_apart(tmp_path, smoke_run):
    """A run resumed on another machine: each epoch is logged with the epoch its session began at, rows of the
    attempt logged before that column existed get it from the checkpoint, and another attempt's stay blank."""
    import torch

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    ckpt = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    first = ckpt["sessions"][0]
    ckpt["sessions"] = [first, {**first, "from_epoch": 3, "cpu_model": "Another CPU"}]
    torch.save(ckpt, run / "checkpoint.pt")
    log_path = tmp_path / "benchmarks" / "results" / scale.EPOCH_LOG
    log_path.parent.mkdir(parents=True)
    old_columns = "attempt,epoch,seconds,cpu_model,cpu_capability,threads,beside"
    log_path.write_text(f"{old_columns}\nolder,1,300.0,Some CPU,AVX2,2,nothing\n"
                        f"resumed,1,10.0,{first['cpu_model']},{first['cpu_capability']},2,nothing\n")
    assert scale.log_epochs(run, log_path, "resumed", beside="light work") == 2
    rows = {(r["attempt"], r["epoch"]): r for r in scale.read_epoch_log(log_path)}
    assert rows["older", 1]["session_from"] is None
    assert [rows["resumed", e]["session_from"] for e in (1, 2, 3)] == [1, 1, 3]
    assert rows["resumed", 3]["cpu_model"] == "Another CPU" and rows["resumed", 2]["beside"] == "light work"
    text = scale.cost_table(tmp_path / "results")
    assert "| older | not recorded | 1-1 | Some CPU |" in text
    assert "| resumed | 1 | 1-1 |" in text and "| resumed | 1 | 2-2 |" in text and "| resumed | 3 | 3-3 | Another CPU |" in text
    assert "(4 of the rows above)" in text and " to 8.3 h of a 2-core CPU" in text  # the slowest: 300 s per epoch


def test_the_export_must_land_where_the_ground_truth_finds_its_picks(tmp_path, smoke_run):
    results = _results(tmp_path)
    with pytest.raises(ValueError, match="must lie directly in"):
        scale.record(smoke_run, tmp_path / "elsewhere" / "search-paper", results, device="cpu")
