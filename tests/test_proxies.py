"""The zero-cost proxies against values computed by hand or by an independent formula."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from vggdarts import derive, proxies
from vggdarts.supernet import SuperNet


def _two_layer(w1, w2):
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1)), net[2].weight.copy_(torch.tensor(w2))
    return net


def test_synflow_of_a_two_layer_net_is_twice_its_path_norm():
    """With |theta| and an all-ones input, R = 1^T |W2| |W1| 1 and each layer's sum of |theta dR/dtheta| is R
    (synaptic flow is conserved layer by layer), so the score is 2 R."""
    w1, w2 = [[1.0, -2.0], [0.5, 3.0]], [[-1.0, 0.25], [2.0, 1.0]]
    R = np.ones(2) @ np.abs(w2) @ np.abs(w1) @ np.ones(2)
    assert proxies.synflow(_two_layer(w1, w2), (2,)) == pytest.approx(2 * R)


def test_snip_and_grad_norm_of_a_linear_softmax_match_the_closed_form_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 1])
    W = net[0].weight.detach().double().numpy()
    z = x.double().numpy() @ W.T
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(4)[y.numpy()]).T @ x.double().numpy() / len(y)  # d mean CE / dW
    assert proxies.snip(net, x, y) == pytest.approx(np.abs(W * grad).sum(), rel=1e-5)
    assert proxies.grad_norm(net, x, y) == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def test_naswot_counts_agreeing_units():
    codes = torch.tensor([[1, 0, 1], [1, 1, 0], [0, 0, 1]])
    agree = np.array([[3, 1, 2], [1, 3, 0], [2, 0, 3]])  # units minus Hamming distance, by hand
    assert proxies.naswot_from_codes(codes) == pytest.approx(np.log(abs(np.linalg.det(agree))))
    assert proxies.naswot_from_codes(torch.tensor([[1, 0], [1, 0]])) == -np.inf  # two identical codes: singular


def test_the_supernet_codes_cover_every_relu_unit():
    torch.manual_seed(0)
    model = SuperNet(0.125, mask=torch.from_numpy(derive.resnet()))
    codes = proxies.relu_codes(model, torch.randn(4, 3, 32, 32))
    sizes = []  # each block's ReLU output, per image, counted independently
    hooks = [p.register_forward_hook(lambda m, i, o: sizes.append(i[0][0].numel())) for p in model.pools]
    model(torch.randn(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert codes.shape == (4, sum(sizes)) and set(codes.unique().tolist()) <= {0, 1}


def test_proxies_are_deterministic_for_a_seed_and_differ_between_seeds():
    archs = {"r": {"mask": derive.resnet()}}
    x, y = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 10
    a, b = (proxies.score_architectures(archs, 0.125, x, y, init_seeds=(0, 1)) for _ in range(2))
    assert a == b
    assert all(a[0][k] != a[1][k] for k in proxies.NAMES)


def test_synflow_is_larger_for_a_wider_layer():
    """More parallel paths of positive weights carry more flow (Tanaka et al.): widening a layer raises R."""
    def net(hidden):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    assert proxies.synflow(net(16), (4,)) > proxies.synflow(net(8), (4,))


def test_the_csv_round_trips_and_averages_over_seeds(tmp_path):
    rows = [{"arch_id": "a1", "init_seed": s, "synflow": 1.0 + s, "snip": 2.0, "grad_norm": 3.0, "naswot": -s}
            for s in (0, 1, 2)]
    proxies.write_proxies(tmp_path / "p.csv", rows)
    assert proxies.read_proxies(tmp_path / "p.csv") == {"a1": {"synflow": 2.0, "snip": 2.0, "grad_norm": 3.0,
                                                               "naswot": -1.0}}
