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
    # b's mean rests on one seed, a's and c's on two: the noise's share is 1 * (1/2 + 1 + 1/2) / 3, leaving 1/3
    assert ladder.between_sd(means, 1.0, {"a": 2, "b": 1, "c": 2}) == pytest.approx(math.sqrt(1 / 3))
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
    truths["R2"] = {"mean": {"n": 84.0, "r": 85.0}, "seeds": {0: {"n": 84.0, "r": 85.0}, 1: {"n": 84.4}}}
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in
            ladder.standing({"truths": truths, "role": role, "n_resamples": 200}).splitlines()[2:]}
    assert rows["one run's seed noise (sd, points; from the seed-0/seed-1 pairs)"][2] == "not measured (1 pair) |"
    # two pairs and a one-seed mean: noise sqrt(mean(2^2, 2^2) / 2) = sqrt(2); the means 85, 84, 88 (variance
    # 13/3) lose the noise's share at each one's own seed count, 2 x mean(1/2, 1/2, 1) = 4/3: sqrt(3)
    truths["R2"] = {"mean": {"n": 85.0, "r": 84.0, "all": 88.0},
                    "seeds": {0: {"n": 84.0, "r": 85.0, "all": 88.0}, 1: {"n": 86.0, "r": 83.0}}}
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in
            ladder.standing({"truths": truths, "role": role, "n_resamples": 200}).splitlines()[2:]}
    assert rows["one run's seed noise (sd, points; from the seed-0/seed-1 pairs)"][2] == f"{math.sqrt(2):.2f} (2 pairs) |"
    assert rows["the same without the seed noise's share"][2] == f"{math.sqrt(3):.2f} |"
    # R1's 4 spread (sd 1.31) against R0's on the same 4 (sd 2.75)
    ratio = np.std([80, 83, 82, 82.5], ddof=1) / np.std([70, 69, 75, 74], ddof=1)
    assert rows["sd across architectures / R0's on the same ones [95% CI]"][1].startswith(f"{ratio:.2f} [")


def test_a_mean_over_fewer_seeds_than_the_rungs_others_says_so():
    truth = {"mean": {"a": 84.0, "b": 83.5}, "seeds": {0: {"a": 84.5, "b": 83.5}, 1: {"a": 83.5}}}
    assert ladder._mean_cell(truth, "a") == "84.00"
    assert ladder._mean_cell(truth, "b") == "83.50 (seed 0 only)"
    assert ladder._mean_cell(truth, "c") == "not yet"
    # a rung where most architectures have one seed (R2 with a few second seeds) names the two-seed means instead
    truth = {"mean": {"a": 84.0, "b": 83.5, "c": 82.0}, "seeds": {0: {"a": 84.5, "b": 83.5, "c": 82.0}, 1: {"a": 83.5}}}
    assert [ladder._mean_cell(truth, x) for x in "abc"] == ["84.00 (seeds 0, 1)", "83.50", "82.00"]


def test_each_finding_is_read_yes_no_or_open_by_the_seed_noise_and_the_tests():
    from scipy import stats

    from vggdarts import ladder_verdicts as lv
    from vggdarts.groundtruth import agreement_if_shared

    assert lv.versus(1.0, 0.5) == lv.YES and lv.versus(-1.0, 0.5) == lv.NO and lv.versus(0.4, 0.5) == lv.OPEN
    assert lv.versus(-1.0, 0.5, no_bar=1.5) == lv.OPEN  # "no" may need a wider bar than "yes"
    assert lv.versus(5.0, math.nan) == lv.OPEN  # no noise known: nothing is decided
    x = {a: float(v) for a, v in zip("abcdefgh", [3, 1, 4, 1.5, 5, 9, 2, 6])}
    assert lv.pitman_morgan(x, {a: v / 2 + 80 for a, v in x.items()}) == (lv.YES, pytest.approx(0.0))  # half the spread
    assert lv.pitman_morgan(x, {a: 2 * v for a, v in x.items()})[0] == lv.NO  # twice the spread
    shuffled = dict(zip(x, [2, 6, 1.5, 5, 3, 1, 9, 4]))  # the same values reordered: equal variances, r = 0
    verdict, p = lv.pitman_morgan(x, shuffled)
    r = np.corrcoef([x[a] + shuffled[a] for a in x], [x[a] - shuffled[a] for a in x])[0, 1]
    assert verdict == lv.OPEN and r == pytest.approx(0.0, abs=1e-12) and p == pytest.approx(1.0)
    noise = lv.Noise(0.5, 4, "R1")  # t quantiles with 4 degrees of freedom (the pairs), Bonferroni over 3
    assert noise.bar(1.0) == pytest.approx(0.5 * 2.7764451) and noise.bar(1.0, 3) == pytest.approx(0.5 * 3.9608, rel=1e-4)
    x = dict(zip("abcdefgh", range(8)))  # Kendall's exact test: 8 in order, p = 2 / 8!; reversed: no
    assert lv.kendall_verdict(x, {a: float(v) for a, v in x.items()}) == (lv.YES, pytest.approx(2 / math.factorial(8)))
    assert lv.kendall_verdict(x, {a: -float(v) for a, v in x.items()})[0] == lv.NO
    four = dict(zip("abcd", range(4)))  # four in perfect order cannot be told from chance: p = 2 / 4!
    assert lv.kendall_verdict(four, dict(four)) == (lv.OPEN, pytest.approx(2 / 24))

    archs = ["n", "r", "all", "pick", "s1", "s2", "s3", "s4"]
    base = dict(zip(archs, [70.0, 69.0, 76.0, 75.0, 72.0, 71.0, 73.0, 74.0]))
    # R0: seeds differ by +-1 on every architecture: one run's noise sqrt(1 / 2), 8 pairs
    r0 = {0: {a: v + 0.5 for a, v in base.items()}, 1: {a: v - 0.5 for a, v in base.items()}}
    # R1: noise sqrt(0.01 / 2) over 8 pairs; `all` first by 0.4, `none` last, `resnet` second
    r1m = dict(zip(archs, [80.0, 82.6, 83.0, 82.5, 81.0, 81.5, 82.0, 82.2]))
    r1 = {0: {a: v + 0.05 for a, v in r1m.items()}, 1: {a: v - 0.05 for a, v in r1m.items()}}
    r2m = dict(zip(archs, [84.0, 84.1, 84.5, 85.5, 84.2, 84.3, 84.4, 84.45]))  # one seed: noise borrowed
    truths = {"R0": {"mean": base, "seeds": r0}, "R1": {"mean": r1m, "seeds": r1}, "R2": {"mean": r2m, "seeds": {0: r2m}}}
    role = dict(zip(archs, ["`none`", "`resnet`", "`all`", "width-1 argmax"] + ["sample"] * 4))
    rep = {"truths": truths, "role": role, "archs": archs, "n_resamples": 500, "scores": {"params": dict(base)},
           "agreement": {f"R0 vs {k}": agreement_if_shared(base, truths[k]["mean"], 500) for k in ("R1", "R2")},
           "findings": {k: {"params": agreement_if_shared(base, truths[k]["mean"], 500)} for k in truths}}
    rows = {line.split(" | ")[0][2:]: line.rstrip(" |").split(" | ")[1:] for line in lv.table(rep).splitlines()[2:]}
    t975, s0, s1 = stats.t.ppf(0.975, 8), math.sqrt(0.5), math.sqrt(0.005)
    bonf = stats.t.ppf(1 - 0.025 / 7, 8)  # `all` against 7 others
    first = next(v for k, v in rows.items() if k.startswith("`all` beats"))
    assert first[0] == f"{lv.OPEN}: 1 of 8, +1.00 (yes above +{t975 * s0:.2f}, no below -{bonf * s0:.2f})"
    assert first[1] == f"{lv.YES}: 1 of 8, +0.40 (yes above +{t975 * s1:.2f}, no below -{bonf * s1:.2f})"  # 83.0 - 82.6
    k1 = math.sqrt(2)  # R2 has one seed: a difference of two one-run values
    assert first[2] == (f"{lv.OPEN} with R0's noise (yes above +{t975 * s0 * k1:.2f}, no below -{bonf * s0 * k1:.2f}); "
                        f"{lv.NO} with R1's noise (yes above +{t975 * s1 * k1:.2f}, no below -{bonf * s1 * k1:.2f}): "
                        "2 of 8, -1.00")  # 84.5 against the pick's 85.5
    middle = math.sqrt((1 + math.pi / 14) / 2)  # a 2-seed mean against the median of 7 others
    none = next(v for k, v in rows.items() if k.startswith("`none` ranks"))
    assert none[1] == f"{lv.YES}: 8 of 8, +2.20 (±{t975 * s1 * middle:.2f})"  # the median of the other 7 is 82.2
    resnet = next(v for k, v in rows.items() if k.startswith("`resnet` ranks"))
    assert resnet[1] == f"{lv.NO}: 2 of 8, -0.60 (±{t975 * s1 * middle:.2f})"  # 82.6 against the others' 82.0
    assert resnet[0] == f"{lv.YES}: 8 of 8, +4.00 (±{t975 * s0 * middle:.2f})"  # 69 against the others' 73
    spread = next(v for k, v in rows.items() if k.startswith("architectures differ less"))
    ratio = np.std(list(r1m.values()), ddof=1) / np.std(list(base.values()), ddof=1)
    assert spread[0] == "-" and spread[1].startswith(f"{lv.YES}: {ratio:.2f} [")
    assert spread[1].endswith(f", p {lv.pitman_morgan(base, r1m)[1]:.3f}")

    # a mean over fewer seeds than the rung's others carries more noise: R1 without `all`'s seed 1
    del r1[1]["all"]
    rows = {line.split(" | ")[0][2:]: line.rstrip(" |").split(" | ")[1:] for line in lv.table(rep).splitlines()[2:]}
    s1 = math.sqrt(np.mean([0.01] * 7) / 2)  # 7 pairs left
    t975, bonf = stats.t.ppf(0.975, 7), stats.t.ppf(1 - 0.025 / 7, 7)
    spread_ab = math.sqrt(1 / 1 + 1 / 2)  # `all` on one seed against `resnet` on two
    first = next(v for k, v in rows.items() if k.startswith("`all` beats"))
    assert first[1] == f"{lv.YES}: 1 of 8, +0.40 (yes above +{t975 * s1 * spread_ab:.2f}, no below -{bonf * s1 * spread_ab:.2f})"
    none = next(v for k, v in rows.items() if k.startswith("`none` ranks"))  # others: `all` one seed, six two seeds
    assert none[1] == f"{lv.YES}: 8 of 8, +2.20 (±{t975 * s1 * math.sqrt(1 / 2 + math.pi / 14 * (1 + 6 / 2) / 7):.2f})"
    # `all` beaten by one of 3 others beyond the uncorrected t bar (2.23) but not beyond Bonferroni's (2.87): open
    four, two = {"all": 80.0, "b": 82.6, "c": 79.0, "d": 78.0}, {"all": 2, "b": 2, "c": 2, "d": 2}
    noise10 = lv.Noise(1.0, 10, "R1")  # sd of a difference of two 2-seed means: 1.0 * sqrt(1/2 + 1/2)
    assert lv.beats_every_other(four, "all", two, noise10)[0] == lv.OPEN
    assert lv.beats_every_other({**four, "b": 83.2}, "all", two, noise10)[0] == lv.NO  # 3.2 beyond 2.87
    # without any measured noise nothing about one architecture is decided
    bare = {k: {"mean": v["mean"], "seeds": {0: v["mean"]}} for k, v in truths.items()}
    assert lv.standing_cell(bare, "R1", "all", lv.beats_every_other).text == f"{lv.OPEN}: 1 of 8, noise not measured"
    assert rows["params ranks the subset (Kendall tau)"][0].startswith(f"{lv.YES}: tau +1.00 [+1.00, +1.00], p 0.000")


def test_the_notebooks_ladder_section_is_the_reports_tables_and_a_record_without_a_ladder_says_so(tmp_path):
    from vggdarts import ladder_verdicts, report

    text = ladder_verdicts.section(RECORD)
    results = RECORD.parent
    assert text == "\n\n".join(f(results).rstrip("\n") for f in (report.ladder_table, report.ladder_answers,
                                                                  report.ladder_verdicts_table, report.ladder_reading))
    assert ladder_verdicts.section(tmp_path) == f"{tmp_path} has no fidelity ladder (ladder.json)."


def test_the_reading_groups_each_finding_by_its_verdict_at_the_highest_rung_and_says_when_it_is_interim():
    from vggdarts import ladder_verdicts as lv
    from vggdarts.groundtruth import agreement_if_shared

    archs = ["n", "r", "all", "pick", "s1", "s2", "s3", "s4"]
    base = dict(zip(archs, [70.0, 69.0, 76.0, 75.0, 72.0, 71.0, 73.0, 74.0]))  # R0: noise sqrt(1/2), 8 pairs
    r1m = dict(zip(archs, [80.0, 82.6, 83.0, 82.5, 81.0, 81.5, 82.0, 82.2]))  # R1: noise sqrt(0.005), 8 pairs
    r2m = dict(zip(archs, [84.0, 84.1, 84.5, 85.5, 84.2, 84.3, 84.4, 84.45]))  # R2: one seed

    def rep_of(r2: dict[str, float]) -> dict:
        truths = {"R0": {"mean": base, "seeds": {0: {a: v + 0.5 for a, v in base.items()}, 1: {a: v - 0.5 for a, v in base.items()}}},
                  "R1": {"mean": r1m, "seeds": {0: {a: v + 0.05 for a, v in r1m.items()}, 1: {a: v - 0.05 for a, v in r1m.items()}}},
                  "R2": {"mean": r2, "seeds": {0: r2}}}
        return {"truths": truths, "role": dict(zip(archs, ["`none`", "`resnet`", "`all`", "width-1 argmax"] + ["sample"] * 4)),
                "archs": archs, "n_resamples": 200, "scores": {"params": dict(base)},
                "agreement": {f"R0 vs {k}": agreement_if_shared(base, truths[k]["mean"], 200) for k in ("R1", "R2")},
                "findings": {k: {"params": agreement_if_shared(base, truths[k]["mean"], 200)} for k in truths}}

    text = lv.reading(rep_of(r2m))
    head, _, *lines = text.splitlines()
    assert head == ("At the highest rung, R2 (width 0.5, 24 epochs), 8 of the subset's 8 architectures trained; each "
                    "test uses the architectures its rung and score share. Each finding, with its verdicts at the other rungs:")
    blocks, at = {}, None
    for line in lines:
        if line.startswith("* "):
            at = line[2:].split(":")[0]
            blocks[at] = []
        else:
            blocks[at].append(line.removeprefix("  * "))
    assert list(blocks) == ["**holds (yes)**", "**does not hold (no)**", "**cannot tell**"]
    assert "* **does not hold (no)**: none" in lines and blocks["**does not hold (no)**"] == []
    r1_params = lv.plain(lv.kendall_verdict(base, r1m)[0])
    # R2 against R0: 3 discordant pairs of 28 (tau 0.79, exact p < 0.01)
    assert f"params ranks the subset (R0: yes; R1: {r1_params})" in blocks["**holds (yes)**"]
    assert f"R0's order predicts the higher rung's (R1: {r1_params})" in blocks["**holds (yes)**"]
    # `all` 1.0 behind the pick: open with R0's noise, no with R1's (worked out in the test above); at R1 it is
    # 0.4 ahead of `resnet` beyond R1's bar: yes
    assert "`all` beats every other architecture (R0: cannot tell; R1: yes; R2 with R1's noise: no)" in blocks["**cannot tell**"]
    # `none` 0.4 below the others' median 84.4: R0's bar 1.80 leaves it open, R1's 0.18 says yes
    assert "`none` ranks below the subset's middle (R0: yes; R1: yes; R2 with R1's noise: yes)" in blocks["**cannot tell**"]
    assert sum(map(len, blocks.values())) == len(lv.rows(rep_of(r2m)))  # every finding is tested at R2

    # R2 without two architectures: interim, and a finding about a missing architecture is not read there
    partial = {a: v for a, v in r2m.items() if a not in ("all", "s4")}
    text = lv.reading(rep_of(partial))
    assert text.splitlines()[0] == ("At the highest rung, R2 (width 0.5, 24 epochs), 6 of the subset's 8 architectures "
                                    "trained (interim: R2 not complete); each test uses the architectures its rung and "
                                    "score share. Each finding, with its verdicts at the other rungs:")
    untested = text.split("* **not tested at R2 yet**:\n")[1].splitlines()
    assert untested == ["  * `all` beats every other architecture (R0: cannot tell; R1: yes)"]
    assert "`none` ranks below the subset's middle" in text.split("* **not tested")[0]


def test_the_two_questions_are_answered_from_the_verdicts_with_the_numbers_worked_out_by_hand():
    from vggdarts import ladder_verdicts as lv
    from vggdarts.groundtruth import agreement_if_shared

    archs = ["n", "r", "all", "pick", "s1", "s2", "s3", "s4"]
    base = dict(zip(archs, [70.0, 69.0, 76.0, 75.0, 72.0, 71.0, 73.0, 74.0]))  # R0: noise sqrt(1/2), 8 pairs
    r1m = dict(zip(archs, [80.0, 82.6, 83.0, 82.5, 81.0, 81.5, 82.0, 82.2]))  # R1: noise sqrt(0.005), 8 pairs

    def rep_of(r2: dict[str, float], r1m: dict[str, float] = r1m) -> dict:
        r1 = {0: {a: v + 0.05 for a, v in r1m.items()}, 1: {a: v - 0.05 for a, v in r1m.items()}}
        truths = {"R0": {"mean": base, "seeds": {0: {a: v + 0.5 for a, v in base.items()}, 1: {a: v - 0.5 for a, v in base.items()}}},
                  "R1": {"mean": r1m, "seeds": r1}, "R2": {"mean": r2, "seeds": {0: r2} if r2 else {}}}
        return {"truths": truths, "role": dict(zip(archs, ["`none`", "`resnet`", "`all`", "width-1 argmax"] + ["sample"] * 4)),
                "archs": archs, "n_resamples": 200, "scores": {"params": dict(base)},
                "agreement": {f"R0 vs {k}": agreement_if_shared(base, truths[k]["mean"], 200) for k in ("R1", "R2")},
                "ceiling_r1": agreement_if_shared(r1[0], r1[1], 200),
                "findings": {k: {"params": agreement_if_shared(base, truths[k]["mean"], 200)} for k in truths}}

    # R2 with half R0's spread around a constant: the architectures differ less at both rungs
    r2m = {a: 84.0 + (v - 72.5) / 2 for a, v in base.items()}
    rep = rep_of(r2m)
    order, spread = lv.answers(rep).split("\n\n")
    tau = {k: rep["agreement"][f"R0 vs {k}"]["tau"] for k in ("R1", "R2")}
    assert lv.kendall_verdict(base, r1m)[0] == lv.OPEN  # tau +0.36 on 8: p 0.28
    assert order == ("**Does R0's order predict the higher rungs'?** "
                     f"R1 (width 0.25, 32 epochs): tau {tau['R1']} (cannot tell); "
                     f"R2 (width 0.5, 24 epochs): tau {tau['R2']} (yes). For scale, two runs of the R1 recipe (seeds 0 "
                     f"and 1) rank the subset alike at tau {rep['ceiling_r1']['tau']}. R0's order predicts the order at "
                     "R2; cannot be told from chance at R1.")
    # R1 in R0's order too: the order carries to every rung
    order = lv.answers(rep_of(r2m, {a: 0.9 * v + 15 for a, v in base.items()})).split("\n\n")[0]
    assert order.endswith("R0's order carries to every higher rung: it predicts each one's better than chance.")
    gain1 = np.mean([r1m[a] - base[a] for a in archs])  # 82.35 - 72.5
    ratio1 = np.std(list(r1m.values()), ddof=1) / np.std(list(base.values()), ddof=1)
    # the spread without the noise's share: var(means) - noise^2 / 2 at each rung (two seeds everywhere)
    clean1 = math.sqrt(np.var(list(r1m.values()), ddof=1) - 0.005 / 2) / math.sqrt(np.var(list(base.values()), ddof=1) - 0.5 / 2)
    assert spread == ("**Does shortcut placement matter less the longer VGG11 trains?** The mean gain over R0 on the "
                      f"same architectures is {gain1:+.2f} points at R1 and +11.50 at R2. The spread between architectures "
                      f"(their sd) over R0's on the same ones is R1: {ratio1:.2f} (yes); R2: 0.50 (yes); with each "
                      f"rung's seed-noise share removed, R1: {clean1:.2f}; R2: its noise is not measured. Yes: shortcut "
                      "placement matters less at R1 and R2 than after R0's 8 epochs.")

    # R2 twice R0's spread and reversed: the order runs against R0's there, and the architectures differ more
    r2m = {a: 84.0 - 2 * (v - 72.5) for a, v in base.items()}
    order, spread = lv.answers(rep_of(r2m)).split("\n\n")
    assert order.endswith("R0's order is reversed at R2; cannot be told from chance at R1.")
    assert spread.endswith("The architectures differ less than at R0 at R1; more than at R0 at R2.")
    assert "R2: 2.00 (no)" in spread

    # nothing above R0 trained: nothing answered
    partial = rep_of({})
    partial["truths"]["R1"] = {"mean": {}, "seeds": {}}
    assert lv.answers(partial) == "No rung above R0 has three architectures trained yet: the ladder answers nothing so far."
