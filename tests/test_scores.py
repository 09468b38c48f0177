"""Scoring a mask without training it: alpha where it is a log-probability, the two multi-edge rules, NN-Mass and
NN-Density, each against a hand computation."""
import numpy as np
import pytest

from vggdarts import derive, groundtruth as gt, scores
from vggdarts.supernet import candidate_mask

CAND = candidate_mask().numpy()


def _uniform_softmax():
    """Every block's sources equally likely: block i (1-based) has i - 2 of them."""
    return np.where(CAND, 1.0 / np.maximum(CAND.sum(1, keepdims=True), 1), 0.0)


def _raw(weights):
    """Raw alpha whose softmax over each block's choices is ``weights`` (rows summing to 1): their logs."""
    return np.log(np.where(weights > 0, weights, 1.0))


def test_a_figure3_mask_scores_its_log_probability():
    table = _uniform_softmax()
    table[4] = [0.6, 0.3, 0.1, 0, 0, 0]
    mask = gt.figure3_mask(0)
    mask[4] = [False, True, False, False, False, False]  # block 5 from block 2: p = 0.3
    by_hand = np.log(1.0) + np.log(1 / 2) + np.log(0.3) + np.log(1 / 4) + np.log(1 / 5) + np.log(1 / 6)
    for rule in scores.ALPHA_RULES:  # all three rules agree there
        assert scores.ALPHA_SCORES[rule](_raw(table), mask) == pytest.approx(by_hand, abs=1e-12)
        assert scores.ALPHA_SCORES[rule](_raw(table) + 3.0, mask) == pytest.approx(by_hand, abs=1e-12)  # softmax's shift
    with_none = np.hstack([table * 0.5, np.where(CAND.any(1), 0.5, 0.0)[:, None]])
    assert scores.alpha_logprob(_raw(with_none), mask, "softmax_none") == pytest.approx(by_hand + 6 * np.log(0.5))


def test_a_weight_that_underflows_keeps_its_rank():
    """Raw alpha 40 apart: the weight e^-40 (4e-18) is far below float32's resolution of the stored table, but
    its log is exact, so a mask using it still ranks above one using an even rarer source."""
    raw = np.zeros((8, 6))
    raw[7, :] = [40.0, 0.0, -10.0, 40.0, 40.0, 40.0]
    rare, rarer = gt.figure3_mask(0), gt.figure3_mask(0)
    rare[7], rarer[7] = np.eye(6, dtype=bool)[1], np.eye(6, dtype=bool)[2]
    gap = scores.alpha_logprob(raw, rare) - scores.alpha_logprob(raw, rarer)
    assert gap == pytest.approx(10.0, abs=1e-9)


def test_none_does_not_outrank_all_for_having_fewer_edges():
    """The defect: under the edge sum, `none` scores 0, the highest possible, and `all` the lowest, whatever alpha
    learned.  With uniform weights alpha has no preference: the kept mass gives `all` (every block's whole mass,
    log 1 = 0) the top score and `none` (no mass) the floor; the log-probability ranks neither."""
    table, none, every = _raw(_uniform_softmax()), derive.none(), derive.all_edges()
    assert scores.alpha_edge_sum(table, none) == 0.0 > scores.alpha_edge_sum(table, every)  # the old rule
    assert scores.alpha_kept_mass(table, every) == pytest.approx(0.0, abs=1e-12)
    assert scores.alpha_kept_mass(table, none) == 6 * scores.NO_MASS
    assert scores.alpha_kept_mass(table, none) < scores.alpha_kept_mass(table, gt.figure3_mask(0)) \
        < scores.alpha_kept_mass(table, every)
    assert np.isnan(scores.alpha_logprob(table, none)) and np.isnan(scores.alpha_logprob(table, every))
    two = gt.figure3_mask(0)
    two[7, 1] = True  # block 8 from blocks 1 and 2: twice the mass of one source
    assert scores.alpha_kept_mass(table, two) == pytest.approx(scores.alpha_kept_mass(table, gt.figure3_mask(0))
                                                               + np.log(2))


def test_independent_gates_score_every_mask_by_its_likelihood():
    gates = np.where(CAND, np.log(9.0), 0.0)  # sigmoid(log 9) = 0.9
    gates[7, 5] = -np.log(9.0)
    drop_one = CAND.copy()
    drop_one[7, 5] = False
    by_hand = 20 * np.log(0.9) + np.log(0.9)  # 20 kept at 0.9, the dropped gate's 1 - 0.1
    for rule in scores.ALPHA_RULES:
        assert scores.ALPHA_SCORES[rule](gates, drop_one, "sigmoid") == pytest.approx(by_hand)
    assert scores.alpha_logprob(gates, derive.none(), "sigmoid") == pytest.approx(20 * np.log(0.1) + np.log(0.9))


def test_a_none_column_scores_the_empty_blocks():
    w = np.where(CAND, 0.6 / np.maximum(CAND.sum(1, keepdims=True), 1), 0.0)
    t = _raw(np.hstack([w, np.where(CAND.any(1), 0.4, 0.0)[:, None]]))
    for relaxation in ("softmax_none", "gumbel"):
        assert scores.alpha_logprob(t, derive.none(), relaxation) == pytest.approx(6 * np.log(0.4))
        assert scores.alpha_kept_mass(t, derive.none(), relaxation) == pytest.approx(6 * np.log(0.4))


def test_nn_mass_and_density_on_the_resnet_mask():
    """ResNet-style shortcuts (1>3 2>4 | 3>5 4>6 | 5>7 6>8): two links in each stage with candidates, which have
    3, 7 and 11 possible links and 256, 512, 512 channels at width 1."""
    stages = scores.stages(1.0)
    assert [s["blocks"] for s in stages] == [[1], [2], [3, 4], [5, 6], [7, 8]]
    assert [s["possible"] for s in stages] == [0, 0, 3, 7, 11] and sum(s["possible"] for s in stages) == CAND.sum()
    resnet = derive.resnet()
    assert scores.nn_density(resnet, 1.0) == pytest.approx((2 / 3 + 2 / 7 + 2 / 11) / 3)
    assert scores.nn_mass(resnet, 1.0) == pytest.approx(256 * 2 / 3 + 512 * 2 / 7 + 512 * 2 / 11)
    assert scores.nn_mass(resnet, 0.25) == pytest.approx(64 * 2 / 3 + 128 * 2 / 7 + 128 * 2 / 11)
    assert scores.nn_density(derive.all_edges(), 1.0) == 1.0 and scores.nn_mass(derive.none(), 1.0) == 0.0
    one = derive.none()
    one[7, 0] = True  # one link, 1>8, in the last stage
    assert scores.nn_mass(one, 1.0) == pytest.approx(512 / 11) and scores.nn_density(one, 1.0) == pytest.approx(1 / 33)
    assert len({scores.nn_mass(gt.figure3_mask(k), 1.0) for k in (0, 100, 719)}) == 1  # constant there
