"""The original report's tables and the measures that set a search beside them."""
import numpy as np
import pytest

from vggdarts import reference as ref
from vggdarts.reference import CANDIDATES


def test_the_report_tables_are_each_others_softmax():
    raw, weights = ref.REPORT_TABLE3, ref.REPORT_TABLE2
    for i in range(2, 8):
        row = np.exp(raw[i][CANDIDATES[i]])
        assert np.allclose(row / row.sum(), weights[i][CANDIDATES[i]], atol=6e-5)  # printed to 4 decimals


def test_the_signature_of_table3_is_a_tight_cluster_of_rejected_sources():
    sig = ref.signature(ref.REPORT_TABLE3)
    by_block = {r["block"]: r for r in sig["rows"]}
    assert sig["max_abs_alpha"] == pytest.approx(2.4581)
    assert by_block[6]["rejected_spread"] == pytest.approx(-0.6411 + 0.6870)  # max - min of the three rejected
    assert by_block[7]["rejected_spread"] == pytest.approx(-0.6325 + 0.6814)
    assert [r["argmax"] for r in sig["rows"]] == [2, 3, 2, 2, 5]
    drift = ref.REPORT_TABLE3.copy()
    drift[6, [0, 2]] = [-9.0, -3.0]  # two rejected sources of block 7 drift apart
    assert ref.signature(drift)["rows"][3]["rejected_spread"] == pytest.approx(9.0 - 0.6325)
    assert ref.signature(drift)["max_abs_alpha"] == 9.0


def test_agreement_with_the_report_is_perfect_for_its_own_table_and_drops_for_a_changed_one():
    same = ref.against_report(ref.REPORT_TABLE2)
    assert same["argmax_agree"] == 5 and same["tau"] == pytest.approx(1.0)
    assert all(r["spearman_rho"] == pytest.approx(1.0) for r in same["rows"])
    flipped = ref.REPORT_TABLE2.copy()
    flipped[3, :2] = flipped[3, 1::-1]  # block 4 prefers source 1 now
    other = ref.against_report(flipped)
    assert other["argmax_agree"] == 4 and other["rows"][0]["spearman_rho"] == -1.0 and other["tau"] < 1.0
