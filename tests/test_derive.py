"""Derivation methods on hand-made alpha, masks, and the fixed-architecture network they build."""
import json

import numpy as np
import pytest
import torch

from vggdarts import derive
from vggdarts.supernet import SuperNet, candidate_mask, softmax_relaxation

CAND = candidate_mask().numpy()


def weights_from(alpha):
    return softmax_relaxation(torch.tensor(alpha, dtype=torch.float32), candidate_mask()).numpy()


def hand_alpha():
    a = np.zeros((8, 6))
    a[3] = [0.0, 1.0, 0, 0, 0, 0]  # block 4 prefers source 2
    a[4] = [2.0, 0.0, 0.0, 0, 0, 0]  # block 5 prefers 1
    a[5] = [0.0, 0.0, 0.0, 3.0, 0, 0]  # block 6 prefers 4
    a[6] = [0.0, 0.0, 0.0, 0.0, 0.0, 0]  # block 7: a five-way tie
    a[7] = [0.0, 0.0, 5.0, 0.0, 5.0, 0.0]  # block 8: a tie between 3 and 5
    return a


def test_argmax_one_per_block_with_ties_to_smallest_source():
    mask = derive.argmax(weights_from(hand_alpha()))
    assert mask.sum() == 6 and mask.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert mask[2, 0]  # single-candidate row: its only source
    assert mask[3, 1] and mask[4, 0] and mask[5, 3]
    assert mask[6, 0]  # five-way tie -> j = 1
    assert mask[7, 2] and not mask[7, 4]  # tie 3 vs 5 -> j = 3


def test_threshold_default_is_above_uniform_and_can_keep_nothing():
    w = weights_from(hand_alpha())
    mask = derive.threshold(w)
    # ties at exactly uniform (block 7, block 3's single 1.0 = 1/1) are not *above* uniform
    assert not mask[2].any() and not mask[6].any()
    assert mask[3, 1] and not mask[3, 0]
    assert mask[7, 2] and mask[7, 4] and mask[7].sum() == 2
    assert not derive.threshold(w, level=1.0).any()  # nothing is above 1
    assert derive.threshold(np.where(CAND, 1.0, 0.0), level=0.5).sum() == 21
    assert not (derive.threshold(w, level=-1) & ~CAND).any()  # never a non-candidate


def test_topk_ranks_relative_to_uniform_and_caps_at_21():
    w = weights_from(hand_alpha())
    top1 = derive.topk(w, 1)
    assert top1.sum() == 1 and top1[5, 3]  # block 6's 3.0 over 4 candidates is the strongest vs uniform
    assert derive.topk(w, 0).sum() == 0
    assert derive.topk(w, 100).sum() == 21 and not (derive.topk(w, 100) & ~CAND).any()
    with pytest.raises(ValueError):
        derive.topk(w, -1)


def test_baselines():
    assert derive.none().sum() == 0
    assert (derive.all_edges() == CAND).all()
    res = derive.resnet()
    assert [tuple(e) for e in np.argwhere(res)] == [(i, i - 2) for i in range(2, 8)]
    r0, r0b, r1 = derive.random_mask(0), derive.random_mask(0), derive.random_mask(1)
    assert (r0 == r0b).all() and not (r0 == r1).all()
    assert r0.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1] and not (r0 & ~CAND).any()


def test_bad_weights_shape_is_refused():
    with pytest.raises(ValueError, match="8x6"):
        derive.argmax(np.zeros((6, 8)))


class _ToyModel:
    """edge_weights_overridden + an accuracy that depends on which edges are present."""

    def __init__(self, weights, importance):
        self.weights, self.importance, self.current = torch.tensor(weights), importance, None

    def edge_weights(self):
        return self.weights

    def edge_weights_overridden(self, w):
        model = self

        class Ctx:
            def __enter__(self):
                model.current = w.clone()

            def __exit__(self, *exc):
                model.current = None

        return Ctx()

    def score(self, w):
        return float((w.numpy() * self.importance).sum())


def test_perturbation_keeps_the_edge_whose_removal_hurts_most_not_the_largest_alpha():
    w = weights_from(hand_alpha())
    importance = np.zeros((8, 6))
    importance[3, 0] = 10.0  # block 4: the weaker edge (j=1) is the important one
    importance[7, 5] = 10.0  # block 8: j=6, which alpha ranks low
    model = _ToyModel(w, importance)
    calls = []
    mask, records = derive.perturbation(model, model.score, finetune=lambda: calls.append(1))
    assert mask.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert mask[3, 0] and mask[7, 5]
    assert not mask[3, 1] and derive.argmax(w)[3, 1]  # differs from argmax where importance says so
    assert len(calls) == 6 and [r["block"] for r in records] == [3, 4, 5, 6, 7, 8]
    assert records[1]["drop_by_source"][1] > records[1]["drop_by_source"][2]


def test_perturbation_on_a_real_supernet_restores_its_weights():
    torch.manual_seed(0)
    net = SuperNet(0.0625).eval()
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))

    def acc(w):
        with torch.no_grad(), net.edge_weights_overridden(w):
            return (net(x).argmax(1) == y).float().mean().item() * 100

    before = net.edge_weights().detach().clone()
    mask, _ = derive.perturbation(net, acc)
    assert mask.sum(1).tolist() == [0, 0, 1, 1, 1, 1, 1, 1]
    assert torch.equal(net.edge_weights().detach(), before)


def test_mask_json_round_trip_and_table(tmp_path):
    mask = derive.resnet()
    path = derive.save_mask(tmp_path / "m.json", mask, "resnet", {"note": 1}, run="runs/x")
    loaded, record = derive.load_mask(path)
    assert (loaded == mask).all() and record["method"] == "resnet" and record["n_shortcuts"] == 6
    assert record["edges_source_to_block"][0] == [1, 3]
    table = derive.format_mask(mask)
    assert table.splitlines()[3] == "  3  1  .  .  .  .  ."
    assert table.splitlines()[8] == "  8  0  0  0  0  0  1"


def test_bad_mask_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="derive"):
        derive.load_mask(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mask": np.eye(8, 6, dtype=int).tolist()}))  # diagonal: j = i, not a candidate
    with pytest.raises(ValueError, match="not a valid architecture file"):
        derive.load_mask(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a valid architecture file"):
        derive.load_mask(bad)


@pytest.mark.parametrize("method", ["argmax", "threshold", "topk", "none", "all", "resnet", "random"])
def test_fixed_network_from_each_method_has_exactly_the_named_shortcuts(method):
    mask = derive.derive_from_weights(method, weights_from(hand_alpha()), k=4, seed=3)
    net = SuperNet(0.125, mask=torch.from_numpy(mask))
    named = {f"{j + 1}_{i + 1}" for i, j in np.argwhere(mask)}
    assert set(net.shortcuts.keys()) == named
    used = {f"{j}_{i}" for i, sources in enumerate(net.sources, start=1) for j in sources}
    assert used == named
    w = net.edge_weights()
    assert torch.allclose(w.sum(1), torch.from_numpy((mask.sum(1) > 0).astype(np.float32)))
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_statistics_agree_with_scipy_on_fixed_data():
    from scipy import stats as sps

    from vggdarts import stats

    x = np.array([79.1, 79.4, 78.8, 80.2, 79.9, 78.5, 79.0, 80.1])
    y = np.array([0.2, 0.5, 0.1, 0.9, 0.4, 0.0, 0.3, 0.8])
    assert stats.kendall_tau(x, y) == pytest.approx(sps.kendalltau(x, y).statistic)
    assert stats.spearman_rho(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    ci = stats.bootstrap_interval(stats.kendall_tau, x, y, n_resamples=500)
    ref = sps.bootstrap((x, y), lambda a, b: sps.kendalltau(a, b).statistic, paired=True, vectorized=False,
                        n_resamples=500, method="percentile", random_state=np.random.default_rng(0))
    assert (ci.low, ci.high) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert ci.low <= ci.estimate <= ci.high
    d = stats.paired_difference([80.0, 81.0, 79.5], [78.0, 78.5, 78.0])
    t = sps.ttest_rel([80.0, 81.0, 79.5], [78.0, 78.5, 78.0]).confidence_interval(0.95)
    assert d.estimate == pytest.approx(2.0) and (d.low, d.high) == pytest.approx((t.low, t.high))
    assert d.excludes_zero and not stats.paired_difference([1.0, -1.0, 0.5], [0.0, 0.0, 0.0]).excludes_zero
    same = stats.paired_difference([83.02, 82.0], [81.0, 79.98])  # +2.02 twice (up to float rounding): no spread
    assert same.estimate == pytest.approx(2.02) and np.isnan([same.low, same.high]).all() and not same.excludes_zero
