"""The ground-truth set: sample, ids, records that are skipped once there, scores and rank agreement."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vggdarts import derive, groundtruth as gt
from vggdarts.config import make_config
from vggdarts.supernet import candidate_mask
from vggdarts.training import cpu_model

CAND = candidate_mask().numpy()


def test_the_figure3_space_has_720_architectures_with_one_shortcut_per_block():
    masks = [gt.figure3_mask(k) for k in range(gt.SPACE_SIZE)]
    assert gt.SPACE_SIZE == 720 and len({gt.arch_id(m) for m in masks}) == 720
    assert all(m.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1] and not (m & ~CAND).any() for m in masks)


def test_the_sample_is_the_same_for_the_same_seed():
    a, b, c = gt.sample_figure3(32, 0), gt.sample_figure3(32, 0), gt.sample_figure3(32, 1)
    assert [gt.arch_id(m) for m in a] == [gt.arch_id(m) for m in b] != [gt.arch_id(m) for m in c]
    assert len({gt.arch_id(m) for m in a}) == 32


def test_the_fidelity_subset_is_the_baselines_then_the_sample_in_order():
    ids = gt.fidelity_subset(8)
    assert ids == gt.fidelity_subset(8) and len(set(ids)) == 8
    assert ids[:3] == [gt.arch_id(derive.none()), gt.arch_id(derive.resnet()), gt.arch_id(derive.all_edges())]
    assert ids[3:] == [gt.arch_id(m) for m in gt.sample_figure3(32, 0)][:5]
    assert set(ids) <= set(gt.architecture_set(32, 0, "/nonexistent"))


def test_the_set_holds_baselines_and_every_recorded_pick(tmp_path):
    derive.save_mask(tmp_path / "compare-x" / "archs" / "argmax.json", derive.resnet(), "argmax")
    archs = gt.architecture_set(4, 0, tmp_path)
    resnet = archs[gt.arch_id(derive.resnet())]
    assert set(resnet["origin"]) == {"resnet", "compare-x/argmax"}
    assert gt.arch_id(derive.none()) in archs and gt.arch_id(derive.all_edges()) in archs and len(archs) >= 6
    assert gt.edges(derive.resnet()) == "1>3 2>4 3>5 4>6 5>7 6>8"


def test_the_vgg11_set_leaves_out_a_deeper_networks_picks_and_argmax(tmp_path):
    """results/ will hold VGG16's search and comparison; the VGG11 truth must not try to train their masks."""
    from vggdarts import layout

    deep = layout.get("vgg16")
    derive.save_mask(tmp_path / "compare-vgg16-cpu" / "archs" / "argmax.json", derive.resnet(deep), "argmax")
    (tmp_path / "search-vgg16-cpu").mkdir()
    weights = np.where(deep.candidates, 1.0, 0.0)[None] / np.maximum(deep.candidates.sum(1, keepdims=True), 1)
    np.savez(tmp_path / "search-vgg16-cpu" / "alpha.npz", weights=weights)
    derive.save_mask(tmp_path / "compare-x" / "archs" / "argmax.json", derive.resnet(), "argmax")
    archs = gt.architecture_set(2, 0, tmp_path)
    assert all(layout.of(a["mask"]).name == "vgg11" for a in archs.values())
    assert "compare-x/argmax" in archs[gt.arch_id(derive.resnet())]["origin"]  # VGG11's picks still count


def test_a_recorded_run_is_skipped(tmp_path):
    archs = gt.architecture_set(2, 0, tmp_path / "nothing")
    aid = next(iter(archs))
    over = {"dataset": "synthetic", "progress": False}
    jobs = gt.pending_jobs(archs, (0, 1), "smoke", tmp_path / "rec", tmp_path / "runs", over, only=[aid])
    assert [j.overrides["seed"] for j in jobs] == [0, 1]
    epochs = make_config("retrain", "smoke", {"arch": "x"}).epochs
    gt.write_records(tmp_path / "rec" / "groundtruth.csv", [
        {"arch_id": aid, "edges": "-", "n_shortcuts": 6, "origin": "x", "seed": 0, "width": 0.125, "epochs": epochs, "val_acc": 50.0,
         "test_acc": 49.0, "params": 1, "macs": 1, "dataset": "synthetic", "commit": "c", "threads": 1, "cpu_capability": "AVX2",
         "cpu_model": "x"}])
    jobs = gt.pending_jobs(archs, (0, 1), "smoke", tmp_path / "rec", tmp_path / "runs", over, only=[aid])
    assert [j.overrides["seed"] for j in jobs] == [1]  # seed 0 is recorded: skipped
    assert (tmp_path / "rec" / "masks" / f"{aid}.json").exists()
    order = [j.overrides["arch"] for j in gt.pending_jobs(archs, (0,), "smoke", tmp_path / "rec", tmp_path / "runs", over)]
    sampled = [all(o.startswith("sample") for o in archs[Path(a).stem]["origin"]) for a in order]
    assert sampled == sorted(sampled) and not sampled[0] and sampled[-1]  # baselines and picks, then the sample


def test_run_trains_and_records_then_skips(tmp_path):
    over = {"dataset": "synthetic", "progress": False, "epochs": 1}
    archs = gt.architecture_set(1, 0, tmp_path / "results")
    only = [gt.arch_id(derive.none()), gt.arch_id(derive.resnet())]
    assert gt.run("smoke", (0,), 1, 0, tmp_path / "results", tmp_path / "runs", over, only=only) == 2
    rows = gt.read_records(tmp_path / "results" / "groundtruth-smoke" / "groundtruth.csv")
    assert {r["arch_id"] for r in rows} == set(only) and all(r["epochs"] == 1 for r in rows)
    machine = {"threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "cpu_model": cpu_model()}
    assert all({k: r[k] for k in machine} == machine for r in rows)  # what bit-identity depends on, per row
    assert gt.run("smoke", (0,), 1, 0, tmp_path / "results", tmp_path / "runs", over, only=only) == 0
    origins = sorted(o.split(":")[0] for a in archs.values() for o in a["origin"])  # no picks under an empty results/
    assert len(archs) == 4 and origins == ["all", "none", "resnet", "sample0"]


def test_rows_recorded_before_the_machine_columns_read_as_one_thread_of_unknown_cpu(tmp_path):
    old = tmp_path / "groundtruth.csv"
    old.write_text("arch_id,edges,n_shortcuts,origin,seed,width,epochs,val_acc,test_acc,params,macs,dataset,commit\n"
                   "a000000,-,0,none,0,0.25,8,77.94,77.57,579098,9880832,CIFAR-10 (JPEG copy),c\n")
    (row,) = gt.read_records(old)
    assert (row["threads"], row["cpu_capability"], row["cpu_model"], row["val_acc"]) == (1, "unknown", "unknown", 77.94)
    gt.write_records(old, [row])
    assert old.read_text().splitlines()[0].endswith(",commit,threads,cpu_capability,cpu_model")
    with pytest.raises(KeyError):  # a new row must say how it was trained
        gt.write_records(old, [{k: v for k, v in row.items() if k != "threads"}])
    older = tmp_path / "older.csv"  # before the rung: the width is not guessed
    older.write_text("arch_id,edges,n_shortcuts,origin,seed,epochs,val_acc,test_acc,params,macs,dataset,commit\n"
                     "a000000,-,0,none,0,8,77.94,77.57,579098,9880832,CIFAR-10 (JPEG copy),c\n")
    with pytest.raises(ValueError, match="no width column"):
        gt.read_records(older)


def test_rank_agreement_and_pick_standing():
    truth = {f"a{k}": float(k) for k in range(10)}
    perfect = gt.rank_agreement(truth, truth, n_resamples=200)
    assert perfect["tau"].estimate == pytest.approx(1.0) and perfect["top5_overlap"] == 5
    reverse = gt.rank_agreement({a: -v for a, v in truth.items()}, truth, n_resamples=200)
    assert reverse["tau"].estimate == pytest.approx(-1.0) and reverse["top5_overlap"] == 0
    chance = gt.random_tau(truth, draws=200)
    assert abs(chance.mean()) < 0.1
    assert gt.pick_standing("a9", truth) == {"percentile": 100.0, "regret": 0.0}
    assert gt.pick_standing("a0", truth)["regret"] == 9.0


def _append_slowly(record_dir, seed):
    """record_finished in a process whose read of the record is slow: a window for another writer."""
    import time

    from vggdarts.jobs import Job

    read = gt.read_records
    gt.read_records = lambda path: (read(path), time.sleep(0.5))[0]
    archs = gt.architecture_set(1, 0, record_dir / "nothing")
    aid = gt.arch_id(derive.none())
    summary = {"n_shortcuts": 0, "seed": seed, "width": 0.125, "epochs_done": 1, "final_val_acc": 50.0, "test_acc": 49.0,
               "params": 1, "macs": 1, "dataset_used": "synthetic", "threads": 1, "cpu_capability": "AVX2"}
    job = Job("retrain", "smoke", {"arch": f"masks/{aid}.json", "seed": seed}, "unused", "x")
    gt.record_finished([job], [{"status": "ok", "summary": summary}], archs, record_dir)


def test_two_sweeps_recording_at_once_keep_both_rows(tmp_path):
    import multiprocessing as mp

    procs = [mp.get_context("fork").Process(target=_append_slowly, args=(tmp_path, seed)) for seed in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    rows = gt.read_records(tmp_path / "groundtruth.csv")
    assert sorted(r["seed"] for r in rows) == [0, 1]  # without the lock both read an empty record: one row survives


def _hand_made_study(tmp_path, truth: dict[str, tuple[np.ndarray, float]], table: np.ndarray, epochs: int = 8):
    """A record (2 seeds per architecture, seed 1 = seed 0 + 0.1) and an alpha-only search run."""
    rec, run = tmp_path / "rec", tmp_path / "search"
    rows = []
    for aid, (mask, acc) in truth.items():
        derive.save_mask(rec / "masks" / f"{aid}.json", mask, "groundtruth", {"origin": ["x"]})
        rows += [{"arch_id": aid, "edges": gt.edges(mask), "n_shortcuts": int(mask.sum()), "origin": f"sample0:{aid}",
                  "seed": s, "width": 0.25, "epochs": epochs, "val_acc": acc + 0.1 * s, "test_acc": acc, "params": 1, "macs": 1,
                  "dataset": "synthetic", "commit": "c", "threads": 1, "cpu_capability": "AVX2", "cpu_model": "x"} for s in (0, 1)]
    gt.write_records(rec / "groundtruth.csv", rows)
    run.mkdir()
    (run / "config.json").write_text('{"relaxation": "softmax"}')
    np.savez(run / "alpha.npz", weights=table[None], raw=table[None])
    return rec, run


def test_report_ranks_alpha_only_where_it_is_a_log_probability(tmp_path):
    """`none` has no probability under a plain softmax: the edge-sum rule gave it 0, the best score, whatever
    it is worth.  Alpha is ranked in the Figure-3 space only, and the whole-set column says it is undefined."""
    table = np.where(CAND, 0.1, 0.0)
    table[4] = [0.6, 0.3, 0.1, 0, 0, 0]  # block 5 prefers source 1, then 2, then 3
    masks = {}
    for j in range(3):
        m = gt.figure3_mask(0)
        m[4] = [k == j for k in range(6)]
        masks[f"src{j + 1}"] = m
    truth = {name: (m, 80.0 - 2 * k) for k, (name, m) in enumerate(masks.items())}  # the order alpha prefers
    plain = gt.arch_id(derive.none())
    truth[plain] = (derive.none(), 60.0)  # worst
    rec, run = _hand_made_study(tmp_path, truth, table)
    rep = gt.report(rec, [run], 8, width=0.25, n_resamples=100)
    info = rep["runs"][str(run)]
    assert "one-shot" not in info["scores"]  # no supernet kept: alpha only
    assert np.isnan(info["scores"]["alpha"][plain])
    f3 = info["agreement"]["alpha"]["Figure-3 space"]
    assert f3["n"] == 3 and f3["tau"].estimate == pytest.approx(1.0)
    assert info["agreement"]["alpha"]["whole set"] is None
    edge_sum, kept_mass = info["rules"]["edge sum"], info["rules"]["kept mass"]
    assert (edge_sum["rank_none"], kept_mass["rank_none"]) == (1, 4)  # the old rule put the worst network first
    assert edge_sum["agreement"]["tau"].estimate == pytest.approx(0.0)  # plain breaks 3 of 6 pairs
    assert kept_mass["agreement"]["tau"].estimate == pytest.approx(1.0)
    assert rep["per_seed"][1][plain] == pytest.approx(60.1) and rep["ceiling"]["tau"].estimate == pytest.approx(1.0)
    text = gt.markdown(rep)
    assert "tau, Figure-3 space (n = 3)" in text and "| alpha | +1.00 [" in text
    assert text.splitlines()[4].endswith("| - | - |")  # alpha over the whole set: undefined
    assert rep["ceiling_for_mean"].estimate == pytest.approx(1.0) and "a perfect score vs the mean of 2 seeds" in text
    assert "| kept mass | +1.00" in gt.rules_markdown(rep)
    with pytest.raises(ValueError, match="0 architectures"):
        gt.report(rec, [run], 8, width=0.5, n_resamples=10)  # no rows at that rung


def test_the_ceiling_for_a_mean_of_seeds_follows_its_model():
    from vggdarts.stats import Interval, ceiling_for_mean

    third = ceiling_for_mean(Interval(1 / 3, 0.0, 1.0), 2)  # r = sin(pi/6) = 0.5; reliability 2/3
    assert third.estimate == pytest.approx(2 / np.pi * np.arcsin(np.sqrt(2 / 3)))
    assert (third.low, third.high) == (0.0, pytest.approx(1.0))
    assert ceiling_for_mean(Interval(0.4, 0.4, 0.4), 1).estimate == pytest.approx(2 / np.pi * np.arcsin(
        np.sqrt(np.sin(np.pi * 0.2))))  # one seed: a perfect score vs one noisy seed
    assert ceiling_for_mean(Interval(0.4, 0.4, 0.4), 3).estimate > ceiling_for_mean(Interval(0.4, 0.4, 0.4), 2).estimate


def test_the_fidelity_check_ranks_the_longer_budget_against_the_short_one(tmp_path):
    masks = [gt.figure3_mask(i) for i in range(5)]
    truth = {f"f{i}": (m, 80.0 - 2 * i) for i, m in enumerate(masks)}  # 8 epochs: f0 > f1 > f2 > f3 > f4
    # f4 is not retrained longer: the check ranks the architectures both budgets have
    rec, run = _hand_made_study(tmp_path, truth, np.where(CAND, 0.1, 0.0))
    assert gt.report(rec, [run], 8, n_resamples=50)["fidelity_same_seed"] is None  # no 20-epoch rows yet
    rows = gt.read_records(rec / "groundtruth.csv")
    longer = {"f0": 85.0, "f1": 86.0, "f2": 84.0, "f3": 83.0}  # 20 epochs, seed 0: f0 and f1 swap
    seed0 = {r["arch_id"]: r for r in rows if r["seed"] == 0}
    rows += [{**seed0[a], "epochs": 20, "val_acc": v} for a, v in longer.items()]
    gt.write_records(rec / "groundtruth.csv", rows)
    rep = gt.report(rec, [run], 8, fidelity_epochs=20, n_resamples=50)
    assert rep["fidelity_truth"] == longer and rep["truth"]["f0"] == pytest.approx(80.05)  # the mean of 2 seeds
    assert rep["fidelity"]["tau"].estimate == pytest.approx(4 / 6)  # one discordant pair of six
    same = rep["fidelity_same_seed"]
    assert same["seed"] == 0 and same["n"] == 4 and same["tau"].estimate == pytest.approx(4 / 6)
    text = gt.markdown(rep)
    assert "5 architectures at width 0.25, 8 epochs (10 runs)" in text  # the 20-epoch rows are not in the truth
    assert "| (fidelity) | 20 vs 8 epochs (n = 4) | | | | | | +0.67" in text
    assert "| (fidelity) | 20 vs 8 epochs, seed 0 (n = 4) | | | | | | +0.67" in text


def test_the_report_sets_alpha_beside_the_controls_and_reports_every_random_pick(tmp_path, monkeypatch):
    """Six sampled architectures whose accuracy follows their parameter count exactly, while alpha prefers the
    reverse; three of them are also 'random' picks.  Then params ranks perfectly, alpha perfectly wrong, the
    paired difference is -2 with a CI below zero under every bootstrap seed, every random pick is listed."""
    from vggdarts import scores

    masks = [gt.figure3_mask(i) for i in range(6)]
    table = np.where(CAND, 0.1, 0.0)
    truth = {f"s{i}": (m, 70.0 + i) for i, m in enumerate(masks)}
    rec, run = _hand_made_study(tmp_path, truth, table)
    alpha_prefers = {f"s{i}": -float(i) for i in range(6)}
    rows = gt.read_records(rec / "groundtruth.csv")
    for r in rows:
        i = int(r["arch_id"][1:])
        r["params"] = 1000 + i
        if i in (1, 3, 5):
            r["origin"] += "+compare-cpu/random"
    gt.write_records(rec / "groundtruth.csv", rows)

    def reversed_score(table, mask, relaxation="softmax"):
        return alpha_prefers[next(a for a, (m, _) in truth.items() if np.array_equal(m, mask))]

    monkeypatch.setitem(scores.ALPHA_SCORES, "logprob", reversed_score)
    rep = gt.report(rec, [run], 8, n_resamples=200)
    controls = rep["controls"]["agreement"]
    assert controls["params"]["whole set"]["tau"].estimate == pytest.approx(1.0)
    assert controls["params"]["whole set"]["partial"] is None  # params given params: undefined
    assert rep["runs"][str(run)]["agreement"]["alpha"]["whole set"]["tau"].estimate == pytest.approx(-1.0)
    assert controls["params"]["sampled"]["n"] == 6 and len(rep["sampled"]) == 6
    assert controls["nn-mass"]["whole set"] is None  # every mask here has one shortcut per block: constant
    assert {(p["score"], p["control"]) for p in rep["paired"]} == {("alpha", "params")}
    assert {p["subset"] for p in rep["paired"]} == {"Figure-3 space", "sampled", "whole set"}
    for paired in rep["paired"]:
        assert paired["difference"].estimate == pytest.approx(-2.0) and all(paired["excludes"])
    assert all((c["low"], c["high"], c["positive"]) == (1, 1, 0) for c in rep["counts"])
    random = rep["picks"]["compare-cpu/random"]
    assert sorted(p["arch_id"] for p in random) == ["s1", "s3", "s5"]
    assert [p["percentile"] for p in sorted(random, key=lambda p: p["arch_id"])] == pytest.approx([100 * 2 / 6, 100 * 4 / 6, 100.0])
    assert "| compare-cpu/random, mean of 3 |" in gt.picks_markdown(rep)
    assert "| (control) | params | +1.00" in gt.markdown(rep)
    assert "| Figure-3 space | alpha - params | 1 | 0 | 1 |" in gt.paired_markdown(rep)


def test_a_count_that_depends_on_the_bootstrap_seed_is_given_as_a_range():
    from vggdarts.stats import Interval

    def d(run, excludes, estimate=0.1):
        return {"run": run, "score": "one-shot", "control": "naswot", "subset": "sampled",
                "difference": Interval(estimate, -0.1, 0.3), "excludes": excludes}

    counts = gt.distinguishable_counts([d("a", [True] * 10), d("b", [True, False] * 5), d("c", [False] * 10, -0.1)])
    (c,) = counts
    assert (c["runs"], c["low"], c["high"], c["positive"], c["control"]) == (3, 1, 2, 2, "best proxy")


def test_a_further_seeded_batch_of_the_space_is_labelled_as_sampled(tmp_path):
    """`groundtruth --n-sample 16 --sample-seed K` grows the sample: 16 networks of the Figure-3 space, each one
    shortcut per block, labelled sampleK:i, which the report counts as sampled."""
    archs = gt.architecture_set(16, 3, tmp_path / "no-results")
    batch = [a for a, e in archs.items() if any(o.startswith("sample3:") for o in e["origin"])]
    assert len(batch) == 16 and all(gt.in_figure3_space(archs[a]["mask"]) for a in batch)
    assert set(batch) != {gt.arch_id(m) for m in gt.sample_figure3(16, 0)}  # another seed, another draw
    rows = [{"arch_id": a, "origin": "+".join(archs[a]["origin"])} for a in batch]
    assert all(any(o.startswith("sample") for o in origins) for origins in gt.archs_origin(rows).values())


def _files(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def test_a_plan_lists_what_the_record_lacks_and_where_a_stopped_run_resumes_and_writes_nothing(tmp_path, capsys):
    from vggdarts.cli import main

    none, resnet = gt.arch_id(derive.none()), gt.arch_id(derive.resnet())
    config = make_config("retrain", "smoke", {"arch": "x"})
    gt.write_records(tmp_path / "results" / "groundtruth-smoke" / "groundtruth.csv", [
        {"arch_id": none, "edges": "-", "n_shortcuts": 0, "origin": "none", "seed": 0, "width": config.width,
         "epochs": config.epochs, "val_acc": 50.0, "test_acc": 49.0, "params": 1, "macs": 1, "dataset": "synthetic",
         "commit": "c", "threads": 1, "cpu_capability": "AVX2", "cpu_model": "x"}])
    stopped = tmp_path / "runs" / f"{resnet}-w{config.width:g}-e{config.epochs}" / "seed0"
    stopped.mkdir(parents=True)
    (stopped / "metrics.csv").write_text("epoch,val_acc\n1,30.0\n2,40.0\n")
    before = _files(tmp_path)
    assert main(["groundtruth", "--preset", "smoke", "--seeds", "0", "1", "--only", none, resnet, "--plan",
                 "--results", str(tmp_path / "results"), "--run-root", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [f"{none} seed 1 (width {config.width:g}, {config.epochs} ep)",
                                                           f"{resnet} seed 0 (width {config.width:g}, {config.epochs} ep)",
                                                           f"{resnet} seed 1 (width {config.width:g}, {config.epochs} ep)"]
    assert "from scratch" in lines[0] and "resumes after epoch 2" in lines[1] and "from scratch" in lines[2]
    assert lines[-1] == "3 runs to train, 1 of them started; nothing written"
    assert _files(tmp_path) == before  # no mask file, no run directory, no row


def test_an_id_outside_the_set_is_one_clear_error_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="not in the ground-truth set: a123456"):
        gt.run("smoke", (0,), 1, 0, tmp_path / "results", tmp_path / "runs", {"dataset": "synthetic"}, only=["a123456"])
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_a_ladder_plan_on_a_record_without_its_subset_chooses_it_in_memory_only(tmp_path, capsys):
    """The committed R0 rows alone (no ladder.json, no higher rung): the plan lists every subset architecture at
    R1 with both seeds, the subset being the committed one re-derived, and leaves the record as it was."""
    import json

    from conftest import ROOT
    from vggdarts.cli import main

    record = tmp_path / "results" / "groundtruth-cpu"
    record.mkdir(parents=True)
    for other in (ROOT / "results").iterdir():  # the searches and comparisons whose picks are in the set
        if other.name != record.name:
            (tmp_path / "results" / other.name).symlink_to(other)
    rows = gt.read_records(ROOT / "results" / "groundtruth-cpu" / "groundtruth.csv")
    gt.write_records(record / "groundtruth.csv", [r for r in rows if (r["width"], r["epochs"]) == (0.25, 8)])
    before = _files(tmp_path)
    assert main(["groundtruth", "--preset", "cpu", "--ladder", "R1", "--seeds", "0", "1", "--plan",
                 "--results", str(tmp_path / "results"), "--run-root", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    committed = json.loads((ROOT / "results" / "groundtruth-cpu" / "ladder.json").read_text())["archs"]
    assert sorted({line.split()[0] for line in lines[:-1]}) == sorted(committed)
    assert all("(width 0.25, 32 ep): from scratch" in line for line in lines[:-1])
    assert lines[-1] == f"{2 * len(committed)} runs to train, 0 of them started; nothing written"
    assert _files(tmp_path) == before

    # --only narrows the subset (to measure a rung's noise on a few of it), in the subset's order; an id outside
    # it is one clear error, never a silent omission or the whole subset
    plan = ["groundtruth", "--preset", "cpu", "--ladder", "R2", "--seeds", "1", "--plan",
            "--results", str(tmp_path / "results"), "--run-root", str(tmp_path / "runs")]
    assert main(plan + ["--only", committed[3], committed[0]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [committed[0], committed[3]]
    assert all("seed 1 (width 0.5, 24 ep): from scratch" in line for line in lines[:-1])
    assert main(plan + ["--only", committed[0], "a1234567"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only names a1234567, not in --ladder's subset (") and "drop --only" in err
    assert _files(tmp_path) == before
