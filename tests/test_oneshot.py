"""The one-shot score (supernet accuracy with edge weights imposed): batch statistics, no side effects."""
import numpy as np
import torch

from vggdarts import derive, oneshot, scores
from vggdarts.data import Batches, synthetic_dataset
from vggdarts.supernet import SuperNet, candidate_mask, mask_weights
from vggdarts.training import evaluate


def _net_and_batches(seed=0):
    torch.manual_seed(seed)
    net = SuperNet(0.125)
    with torch.no_grad():
        net.alpha.normal_(0, 2)  # far from uniform: imposing a mask is a big change
    data = synthetic_dataset(n_train=400, n_test=10)
    batches = oneshot.scoring_batches(data, torch.arange(400), 400, 100)
    return net, data, batches


def _collect_bn_statistics(net, data, weights=None, steps=20):
    """Run train-mode forward passes (as the search does) so BN's running statistics describe ``weights``."""
    mean, std = data.mean_std
    feed = Batches(data.train_x, data.train_y, 100, mean=mean, std=std, shuffle=True, seed=1)
    net.train()
    with torch.no_grad():
        for step in range(steps):
            for x, _ in feed.epoch(step):
                if weights is None:
                    net(x)
                else:
                    with net.edge_weights_overridden(weights):
                        net(x)


def test_a_trial_score_does_not_depend_on_bn_statistics_collected_under_other_weights():
    """The defect: in eval mode, a trial was scored with running statistics gathered under softmax(alpha)."""
    net, data, batches = _net_and_batches()
    trial = derive.argmax(net.edge_weights().detach().numpy())
    trial_w = mask_weights(torch.from_numpy(trial))
    stale, fresh = SuperNet(0.125), SuperNet(0.125)
    stale.load_state_dict(net.state_dict())
    fresh.load_state_dict(net.state_dict())
    _collect_bn_statistics(stale, data)  # statistics of the search's own weights
    _collect_bn_statistics(fresh, data, trial_w)  # statistics of the trial's weights
    assert not torch.allclose(stale.blocks[7][1].running_mean, fresh.blocks[7][1].running_mean, atol=1e-3)
    with stale.edge_weights_overridden(trial_w), fresh.edge_weights_overridden(trial_w):  # the old way: eval mode
        assert evaluate(stale, batches) != evaluate(fresh, batches)
    buffers = [b.clone() for b in stale.buffers()]
    score_stale = oneshot.accuracy_under(stale, trial_w, batches)
    score_fresh = oneshot.accuracy_under(fresh, trial_w, batches)
    assert score_stale == score_fresh  # batch statistics: the running buffers play no part
    assert all(torch.equal(a, b) for a, b in zip(buffers, stale.buffers()))  # and are left untouched
    assert stale.training  # the mode is restored


def test_mask_score_equals_the_derived_network_with_the_supernet_weights():
    """The one-shot score of a mask = a fixed-architecture network (the one retraining builds) carrying the
    supernet's weights, evaluated with batch statistics."""
    net, data, batches = _net_and_batches(1)
    mask = derive.random_mask(3)
    mask[7] = candidate_mask()[7].numpy()  # block 8 averages all six of its shortcuts
    fixed = SuperNet(0.125, mask=torch.from_numpy(mask))
    missing, unexpected = fixed.load_state_dict({k: v for k, v in net.state_dict().items() if k != "alpha"},
                                                strict=False)
    assert missing == ["fixed_weights"] and all(k.startswith("shortcuts.") for k in unexpected)
    fixed.train()
    correct = n = 0
    with torch.no_grad():
        for x, y in batches.epoch(0):
            correct += (fixed(x).argmax(1) == y).sum().item()
            n += len(y)
    assert oneshot.mask_score(net, mask, batches) == 100.0 * correct / n


def test_scoring_batches_mix_classes_and_are_the_same_every_time():
    data = synthetic_dataset(n_train=1000, n_test=10)
    order = torch.argsort(data.train_y, stable=True)  # sorted by class, like the decoded JPEG copy
    batches = oneshot.scoring_batches(data, order, 500, 100)
    first = [y for _, y in batches.epoch(0)]
    assert all(len(torch.unique(y)) == 10 for y in first)
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in batches.epoch(0)]))
    assert np.bincount(torch.cat(first).numpy()).tolist() == [50] * 10


def test_oneshot_scores_are_cached_per_search_run_and_only_missing_ones_computed(smoke_run, tmp_path, monkeypatch):
    from vggdarts import derive, groundtruth as gt
    import vggdarts.search as search_module

    masks = {gt.arch_id(m): m for m in (derive.resnet(), derive.none(), derive.all_edges())}
    first = scores.oneshot_scores(smoke_run, dict(list(masks.items())[:2]), 128, "cpu", tmp_path)
    cache = tmp_path / f"{smoke_run.name}-val128.csv"
    assert cache.exists() and len(cache.read_text().splitlines()) == 3
    loads = []
    real = search_module.load_search_run
    monkeypatch.setattr(search_module, "load_search_run", lambda *a, **k: loads.append(1) or real(*a, **k))
    again = scores.oneshot_scores(smoke_run, dict(list(masks.items())[:2]), 128, "cpu", tmp_path)
    assert again == first and loads == []  # all cached: the supernet was not loaded
    full = scores.oneshot_scores(smoke_run, masks, 128, "cpu", tmp_path)
    assert loads == [1] and {k: full[k] for k in first} == first and len(cache.read_text().splitlines()) == 4
    assert full == scores.oneshot_scores(smoke_run, masks, 128, "cpu")  # = scoring afresh
