import pytest
import torch

from vggdarts.supernet import (SuperNet, block_shapes, candidate_edges, candidate_mask, check_mask, count_macs,
                               softmax_relaxation)


def test_21_candidate_edges_skip_at_least_one_block():
    edges = candidate_edges()
    assert len(edges) == 21
    assert all(j <= i - 2 for j, i in edges)
    per_block = [sum(1 for _, i in edges if i == b) for b in range(1, 9)]
    assert per_block == [0, 0, 1, 2, 3, 4, 5, 6]
    assert candidate_mask().shape == (8, 6) and int(candidate_mask().sum()) == 21


def test_block_shapes_follow_vgg11_pools():
    assert block_shapes(1.0) == [(64, 16), (128, 8), (256, 8), (256, 4), (512, 4), (512, 2), (512, 2), (512, 1)]
    assert [c for c, _ in block_shapes(0.25)] == [16, 32, 64, 64, 128, 128, 128, 128]


@pytest.mark.parametrize("width", [0.125, 0.25])
def test_forward_shape_and_one_adapter_per_edge(width):
    net = SuperNet(width)
    assert net(torch.randn(3, 3, 32, 32)).shape == (3, 10)
    assert sorted(net.shortcuts.keys()) == sorted(f"{j}_{i}" for j, i in candidate_edges())
    # identity where shapes match (x_6 and block 8's sum are both 512@2x2), pooling only where
    # just the size differs (x_5 512@4x4 -> block 7 at 2x2), 1x1 conv + BN where channels differ
    assert isinstance(net.shortcuts["6_8"], torch.nn.Identity)
    assert [type(m).__name__ for m in net.shortcuts["5_7"]] == ["AvgPool2d"]
    assert any(isinstance(m, torch.nn.Conv2d) for m in net.shortcuts["1_3"].modules())


def test_alpha_starts_at_zero_and_softmax_rows_sum_to_one():
    net = SuperNet(0.125)
    assert torch.equal(net.alpha.detach(), torch.zeros(8, 6))
    torch.manual_seed(0)
    with torch.no_grad():
        net.alpha.normal_()
    w = net.edge_weights()
    assert torch.allclose(w.sum(1), torch.tensor([0, 0, 1, 1, 1, 1, 1, 1.0]))
    assert torch.all(w[~candidate_mask()] == 0)
    assert w[2, 0] == 1.0  # block 3 has a single candidate: weight always 1
    # and the weights are a softmax over the candidates only
    row = net.alpha.detach()[7]
    assert torch.allclose(w[7], torch.softmax(row, 0))


def test_softmax_relaxation_gradient_is_finite_and_zero_off_candidates():
    alpha = torch.randn(8, 6, requires_grad=True)
    softmax_relaxation(alpha, candidate_mask()).pow(2).sum().backward()
    assert torch.isfinite(alpha.grad).all()
    assert torch.all(alpha.grad[~candidate_mask()] == 0)
    assert torch.all(alpha.grad[2] == 0)  # row 3: single candidate never moves


def test_equation_1_by_hand():
    """With only the edge 1->3 weighted, block 3 = relu(convbn3(x2) + w * shortcut(x1))."""
    torch.manual_seed(0)
    net = SuperNet(0.125).eval()
    x = torch.randn(2, 3, 32, 32)
    x1 = net.pools[0](torch.relu(net.blocks[0](x)))
    x2 = net.pools[1](torch.relu(net.blocks[1](x1)))
    expected_x3 = torch.relu(net.blocks[2](x2) + 1.0 * net.shortcuts["1_3"](x1))
    outputs = {}
    net.pools[2].register_forward_hook(lambda m, i, o: outputs.setdefault("x3", o))
    net(x)
    assert torch.allclose(outputs["x3"], expected_x3, atol=1e-6)


def test_parameter_groups_are_disjoint():
    net = SuperNet(0.125)
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert len(arch) == 1 and arch[0] is net.alpha
    assert all(p is not net.alpha for p in weights)
    assert len(arch) + len(weights) == len(list(net.parameters()))


def test_fixed_architecture_has_exactly_the_masked_shortcuts():
    mask = torch.zeros(8, 6)
    mask[4, 1] = mask[7, 5] = mask[2, 0] = 1  # 2->5, 6->8, 1->3
    net = SuperNet(0.125, mask=mask)
    assert net.alpha is None and net.arch_parameters() == []
    assert sorted(net.shortcuts.keys()) == ["1_3", "2_5", "6_8"]
    assert net.sources == [[], [], [1], [], [2], [], [], [6]]
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    plain = SuperNet(0.125, mask=torch.zeros(8, 6))
    assert len(plain.shortcuts) == 0 and count_macs(plain) < count_macs(net)


def test_invalid_masks_are_refused():
    with pytest.raises(ValueError, match="8x6"):
        check_mask(torch.zeros(6, 8))
    bad = torch.zeros(8, 6)
    bad[3, 2] = 1  # 3 -> 4 skips no block
    with pytest.raises(ValueError, match="skip no block"):
        SuperNet(0.125, mask=bad)
