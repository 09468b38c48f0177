"""The fidelity ladder: the subset is the rule's choice and is never re-chosen; the numbers its section reads
(seed noise, spread between architectures, ranks) are the ones worked out by hand."""
import json
import math

import numpy as np
import pytest

from vggdarts import derive, ladder
from vggdarts.groundtruth import arch_id, read_records

RECORD = ladder.Path(__file__).resolve().parents[1] / "results" / "groundtruth-cpu"


def _rows(values: dict[str, tuple[str, list[float]]], width=0.25, epochs=8) -> list[dict]:
    return [{"arch_id": a, "origin": origin, "seed": s, "width": width, "epochs": epochs, "val_acc": v}
            for a, (origin, seeds) in values.items() for s, v in enumerate(seeds)]


def _synthetic_record():
    fixed = {arch_id(derive.none()): ("none", [70.0, 70.2]), arch_id(derive.resnet()): ("resnet", [71.0, 71.0]),
             arch_id(derive.all_edges()): ("all", [75.0, 75.4]), "a1488a0": ("search-paper/argmax", [74.0, 74.0])}
    sampled = {f"a10000{i:x}": (f"sample{i}", [60.0 + i, 60.0 + i]) for i in range(10)}  # ranks 0..9 by accuracy
    return _rows({**fixed, **sampled}), list(fixed), list(sampled)


def test_the_subset_is_the_baselines_and_the_pick_then_evenly_spaced_ranks_of_the_sampled():
    rows, fixed, sampled = _synthetic_record()
    choice = ladder.choose_subset(rows, n=8)
    assert choice["fixed"] == fixed
    # 4 of 10 sampled at linspace(0, 9, 4) = 0, 3, 6, 9: the lowest, the highest and equal steps between
    assert choice["sampled"] == [sampled[0], sampled[3], sampled[6], sampled[9]]
    assert choice["archs"] == fixed + choice["sampled"]


def test_the_subset_needs_the_width1_pick_and_enough_samples():
    rows, _, _ = _synthetic_record()
    with pytest.raises(ValueError, match="search-paper/argmax"):
        ladder.choose_subset([r for r in rows if r["origin"] != "search-paper/argmax"], n=8)
    with pytest.raises(ValueError, match="sampled architectures asked for"):
        ladder.choose_subset(rows, n=20)


def test_the_committed_subset_is_what_the_rule_gives_on_the_committed_r0_rows():
    """The choice can be re-derived from the record: higher rungs do not enter it (R0 rows only)."""
    committed = json.loads((RECORD / ladder.SUBSET_FILE).read_text())
    again = ladder.choose_subset(read_records(RECORD / "groundtruth.csv"), n=len(committed["archs"]))
    assert again["archs"] == committed["archs"] and again["rule"] == committed["rule"]


def test_the_subset_is_read_never_rechosen(tmp_path):
    with pytest.raises(FileNotFoundError, match="choose the subset first"):
        ladder.subset(tmp_path)
    (tmp_path / ladder.SUBSET_FILE).write_text(json.dumps({"archs": ["a000000", "a1fffff"]}))
    assert ladder.subset(tmp_path, create=True) == ["a000000", "a1fffff"]


def test_an_unknown_rung_says_which_exist():
    with pytest.raises(ValueError, match="R0, R1, R2"):
        ladder.rung_overrides("R3")
    assert ladder.rung_overrides("R2") == {"width": 0.5, "epochs": 24}


def test_seed_noise_between_sd_and_the_spread_ratio_by_hand():
    # differences s0 - s1 of 1, -1, 2, 0: mean square 6/4, so one run's sd is sqrt(1.5 / 2)
    seeds = {0: {"a": 80.0, "b": 81.0, "c": 84.0, "d": 79.0}, 1: {"a": 79.0, "b": 82.0, "c": 82.0, "d": 79.0}}
    assert ladder.seed_noise(seeds) == (pytest.approx(math.sqrt(0.75)), 4)
    assert math.isnan(ladder.seed_noise({0: {"a": 1.0}})[0])
    means = {"a": 1.0, "b": 2.0, "c": 3.0}  # variance 1 (ddof 1); noise 1 over 2 seeds leaves 1 - 1/2
    assert ladder.between_sd(means, 1.0, 2) == pytest.approx(math.sqrt(0.5))
    assert ladder.between_sd(means, 2.0, 1) == 0.0  # the noise explains all of it
    base = {a: float(i) for i, a in enumerate("abcdefgh")}
    half = {a: v / 2 + 80 for a, v in base.items()}  # the same order, half the spread
    r = ladder.spread_ratio(base, half, n_resamples=500)
    assert (r.estimate, r.low, r.high) == (pytest.approx(0.5),) * 3  # every resample halves it exactly


def test_the_standing_table_ranks_the_baselines_and_measures_alls_margin():
    archs = ["n", "r", "all", "pick", "s1", "s2"]
    r0 = {0: dict(zip(archs, [70.0, 69.0, 75.0, 74.0, 72.0, 71.0])), 1: dict(zip(archs, [70.0, 69.0, 75.0, 74.0, 72.0, 71.0]))}
    r1 = {0: dict(zip(archs[:4], [80.0, 83.0, 82.0, 82.5])), 1: dict(zip(archs[:4], [80.0, 83.0, 82.0, 82.5]))}
    truths = {"R0": {"mean": r0[0], "seeds": r0}, "R1": {"mean": r1[0], "seeds": r1}, "R2": {"mean": {}, "seeds": {}}}
    role = {"n": "`none`", "r": "`resnet`", "all": "`all`", "pick": "width-1 argmax", "s1": "sample", "s2": "sample"}
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in
            ladder.standing({"truths": truths, "role": role, "n_resamples": 200}).splitlines()[2:]}
    assert rows["rank of `all` (1 = best)"] == ["1 of 6", "3 of 4", "not yet |"]
    assert rows["rank of `resnet` (1 = best)"] == ["6 of 6", "1 of 4", "not yet |"]
    assert rows["`all` minus the best other architecture, val acc points"] == ["+1.00", "-1.00", "- |"]
    assert rows["one run's seed noise (sd, points; from the seed-0/seed-1 pairs)"] == [
        "0.00 (6 pairs)", "0.00 (4 pairs)", "not measured (one seed) |"]
    beyond = "`all`'s margin beyond the seed noise? (2 sd of a difference of two means of the rung's seeds)"
    assert rows[beyond] == ["yes: +1.00 outside ±0.00", "yes: -1.00 outside ±0.00", "- |"]  # noise-free seeds
    noisy = {0: {"all": 81.0, "x": 80.0, "y": 79.0}, 1: {"all": 80.0, "x": 80.5, "y": 78.0}}  # d = 1, -0.5, 1
    means = {a: (noisy[0][a] + noisy[1][a]) / 2 for a in noisy[0]}  # all 80.5, x 80.25: margin +0.25
    sigma = np.sqrt((1 + 0.25 + 1) / 3 / 2)  # sqrt(mean(d^2) / 2) = 0.612
    one = {"R0": {"mean": means, "seeds": noisy}, "R1": {"mean": {}, "seeds": {}}, "R2": {"mean": {}, "seeds": {}}}
    line = next(x for x in ladder.standing({"truths": one, "role": {"all": "`all`"}, "n_resamples": 50}).splitlines()
                if x.startswith(f"| {beyond}"))
    assert line.split(" | ")[1] == f"no: +0.25 within ±{2 * sigma:.2f}"  # 2 sigma sqrt(2/2)
    # R1's 4 spread (sd 1.31) against R0's on the same 4 (sd 2.75)
    ratio = np.std([80, 83, 82, 82.5], ddof=1) / np.std([70, 69, 75, 74], ddof=1)
    assert rows["sd across architectures / R0's on the same ones [95% CI]"][1].startswith(f"{ratio:.2f} [")


def test_a_mean_over_fewer_seeds_than_the_rungs_others_says_so():
    truth = {"mean": {"a": 84.0, "b": 83.5}, "seeds": {0: {"a": 84.5, "b": 83.5}, 1: {"a": 83.5}}}
    assert ladder._mean_cell(truth, "a") == "84.00"
    assert ladder._mean_cell(truth, "b") == "83.50 (seed 0 only)"
    assert ladder._mean_cell(truth, "c") == "not yet"


def test_each_finding_is_read_yes_no_or_open_by_the_seed_noise_and_the_intervals():
    from vggdarts import ladder_verdicts as lv
    from vggdarts.groundtruth import agreement_if_shared

    assert lv.versus(1.0, 0.5) == lv.YES and lv.versus(-1.0, 0.5) == lv.NO and lv.versus(0.4, 0.5) == lv.OPEN
    assert lv.versus(5.0, math.nan) == lv.OPEN  # no noise known: nothing is decided
    assert lv.interval_verdict(0.1, 0.9) == lv.YES and lv.interval_verdict(-0.9, -0.1) == lv.NO
    assert lv.interval_verdict(-0.1, 0.9) == lv.OPEN
    assert lv.interval_verdict(0.2, 0.6, line=1.0, below=True) == lv.YES
    assert lv.interval_verdict(1.2, 1.6, line=1.0, below=True) == lv.NO
    assert lv.noise_bar(0.5, 2) == pytest.approx(1.0) and lv.noise_bar(0.5, 1) == pytest.approx(2 * 0.5 * math.sqrt(2))

    archs = ["n", "r", "all", "pick", "s1", "s2", "s3", "s4"]
    base = dict(zip(archs, [70.0, 69.0, 76.0, 75.0, 72.0, 71.0, 73.0, 74.0]))
    # R0: seeds differ by +-1 on every architecture: one run's noise sqrt(1 / 2), bar 2 * 0.707 * 1 = 1.41
    r0 = {0: {a: v + 0.5 for a, v in base.items()}, 1: {a: v - 0.5 for a, v in base.items()}}
    # R1: noise sqrt(0.01 / 2) = 0.0707, bar 0.14; `all` first by 0.5, `none` last, `resnet` above the median
    r1m = dict(zip(archs, [80.0, 82.6, 83.0, 82.5, 81.0, 81.5, 82.0, 82.2]))
    r1 = {0: {a: v + 0.05 for a, v in r1m.items()}, 1: {a: v - 0.05 for a, v in r1m.items()}}
    # R2: one seed; `all` 1.0 below the pick, which R1's bar (0.0707 * 2 * sqrt(2) = 0.20) calls beyond noise
    r2m = dict(zip(archs, [84.0, 84.1, 84.5, 85.5, 84.2, 84.3, 84.4, 84.45]))
    truths = {"R0": {"mean": base, "seeds": r0}, "R1": {"mean": r1m, "seeds": r1}, "R2": {"mean": r2m, "seeds": {0: r2m}}}
    role = dict(zip(archs, ["`none`", "`resnet`", "`all`", "width-1 argmax"] + ["sample"] * 4))
    params = dict(base)  # ranks R0 exactly
    rep = {"truths": truths, "role": role, "archs": archs, "n_resamples": 500,
           "agreement": {f"R0 vs {k}": agreement_if_shared(base, truths[k]["mean"], 500) for k in ("R1", "R2")},
           "findings": {k: {"params": agreement_if_shared(params, truths[k]["mean"], 500)} for k in truths}}
    rows = {line.split(" | ")[0][2:]: line.rstrip(" |").split(" | ")[1:] for line in lv.table(rep).splitlines()[2:]}
    first = next(v for k, v in rows.items() if k.startswith("`all` beats"))
    assert first[0] == f"{lv.OPEN}: 1 of 8, +1.00 (±1.41)"  # a margin of 1 inside R0's noise
    assert first[1] == f"{lv.YES}: 1 of 8, +0.40 (±0.14)"  # 83.0 - 82.6
    assert first[2] == f"{lv.NO} if R2's seed noise is R1's: 2 of 8, -1.00 (±0.20)"  # borrowed, and said so
    none = next(v for k, v in rows.items() if k.startswith("`none` ranks"))
    assert none[1] == f"{lv.YES}: 8 of 8, +2.20 (±0.14)"  # median of the other 7 is 82.2
    resnet = next(v for k, v in rows.items() if k.startswith("`resnet` ranks"))
    assert resnet[1] == f"{lv.NO}: 2 of 8, -0.60 (±0.14)"  # 82.6 against the others' median 82.0
    assert next(v for k, v in rows.items() if k.startswith("no architecture beats"))[2].startswith(
        f"{lv.YES} if R2's seed noise is R1's: 1 of 8")
    spread = next(v for k, v in rows.items() if k.startswith("architectures differ less"))
    ratio = np.std(list(r1m.values()), ddof=1) / np.std(list(base.values()), ddof=1)
    assert spread[0] == "-" and spread[1].startswith(f"{lv.YES}: {ratio:.2f} [")
    assert rows["params ranks the subset (Kendall tau above 0)"][0] == f"{lv.YES}: +1.00 [+1.00, +1.00] (n 8)"


def test_the_notebooks_ladder_section_is_the_reports_tables_and_a_record_without_a_ladder_says_so(tmp_path):
    from vggdarts import ladder_verdicts, report

    text = ladder_verdicts.section(RECORD)
    results = RECORD.parent
    assert text == report.ladder_table(results).rstrip("\n") + "\n\n" + report.ladder_verdicts_table(results).rstrip("\n")
    assert ladder_verdicts.section(tmp_path) == f"{tmp_path} has no fidelity ladder (ladder.json)."
