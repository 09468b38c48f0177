"""Any plain VGG as the search space (layout.py): each layout against torchvision's configuration, eq. (1) by
hand on VGG13, a first-order alpha gradient on VGG16 against finite differences, derivation on a VGG16 table
by hand, a VGG13 search killed and resumed, and the refusals a user can meet."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs as TORCHVISION_CFGS

from conftest import ROOT, run_cli, smoke_search_args
from vggdarts import derive, layout
from vggdarts.config import ConfigError, make_config
from vggdarts.groundtruth import arch_id
from vggdarts.supernet import SuperNet, candidate_edges

CFG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
CANDIDATES = {"vgg11": 21, "vgg13": 36, "vgg16": 66, "vgg19": 105}


@pytest.mark.parametrize("net", list(CFG))
def test_layout_is_torchvisions_vgg_and_has_its_candidate_count(net):
    cfg, lay = TORCHVISION_CFGS[CFG[net]], layout.get(net)
    convs, after = [v for v in cfg if v != "M"], []
    for k, v in enumerate(cfg):
        if v == "M":  # a max-pool after the conv blocks counted so far
            after.append(sum(1 for u in cfg[:k] if u != "M"))
    assert list(lay.channels) == convs and list(lay.pool_after) == after
    n = len(convs)
    assert lay.n_candidates == CANDIDATES[net] == (n - 2) * (n - 1) // 2
    edges = candidate_edges(net)
    assert len(edges) == CANDIDATES[net] and all(j <= i - 2 for j, i in edges)
    assert [sum(1 for _, i in edges if i == b) for b in range(1, n + 1)] == [0, 0] + list(range(1, n - 1))
    size = 32
    for k, (c, s) in enumerate(lay.block_shapes(0.5), start=1):  # 32x32 input, halved after each pool
        size = size // 2 if k in after else size
        assert (c, s) == (max(1, round(convs[k - 1] * 0.5)), size)


@pytest.mark.parametrize("net", ["vgg13", "vgg16", "vgg19"])
def test_supernet_of_a_deeper_vgg_has_one_adapter_per_candidate(net):
    model = SuperNet(0.0625, 10, "softmax_none", net=net)
    n = layout.get(net).n_blocks
    assert tuple(model.alpha.shape) == (n, n - 1) and len(model.blocks) == n
    assert sorted(model.shortcuts.keys()) == sorted(f"{j}_{i}" for j, i in candidate_edges(net))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(isinstance(p, torch.nn.MaxPool2d) for p in model.pools) == 5


def test_equation_1_by_hand_on_vgg13_with_two_shortcuts_sharing_a_block():
    """Edges 1->3, 2->5 and 3->5: block 3 = relu(convbn3(x2) + sc13(x1)); block 5 (no pool after it in VGG13)
    = relu(convbn5(x4) + (sc25(x2) + sc35(x3)) / 2): k shortcuts into a block share weight 1/k."""
    torch.manual_seed(0)
    mask = np.zeros((10, 8), dtype=bool)
    mask[2, 0] = mask[4, 1] = mask[4, 2] = True
    net = SuperNet(0.125, mask=torch.from_numpy(mask)).eval()
    assert net.layout.name == "vgg13"
    x = torch.randn(2, 3, 32, 32)
    x1 = F.relu(net.blocks[0](x))  # VGG13 pools after blocks 2, 4, 6, 8, 10
    x2 = F.max_pool2d(F.relu(net.blocks[1](x1)), 2)
    x3 = F.relu(net.blocks[2](x2) + net.shortcuts["1_3"](x1))
    x4 = F.max_pool2d(F.relu(net.blocks[3](x3)), 2)
    x5 = F.relu(net.blocks[4](x4) + 0.5 * net.shortcuts["2_5"](x2) + 0.5 * net.shortcuts["3_5"](x3))
    seen = {}
    net.pools[4].register_forward_hook(lambda m, i, o: seen.setdefault("x5", o))
    net(x)
    assert torch.allclose(seen["x5"], x5, atol=1e-6)


def test_first_order_alpha_gradient_of_vgg16_matches_finite_differences():
    """float64, batch statistics (train mode, no running-stat dependence): autograd's dL/dalpha on cells of
    rows 3, 8 and 13 against central differences; their error is O(eps^2) plus rounding ~1e-16 / eps."""
    torch.manual_seed(0)
    model = SuperNet(0.0625, 10, "softmax", net="vgg16").double().train()
    with torch.no_grad():
        model.alpha.normal_(0, 0.5)
    x, y = torch.randn(4, 3, 32, 32, dtype=torch.float64), torch.tensor([0, 3, 5, 9])

    def loss() -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    model.zero_grad()
    loss().backward()
    grad = model.alpha.grad.clone()
    eps = 1e-6
    for i, j in [(3, 0), (7, 2), (12, 10), (12, 0)]:
        with torch.no_grad():
            model.alpha[i, j] += eps
            up = loss().item()
            model.alpha[i, j] -= 2 * eps
            down = loss().item()
            model.alpha[i, j] += eps
        assert abs((up - down) / (2 * eps) - grad[i, j].item()) <= 1e-7 + 1e-5 * abs(grad[i, j].item())
    assert grad[2].abs().max() == 0  # block 3's single candidate: softmax weight 1 whatever alpha is
    assert grad[~torch.from_numpy(layout.get("vgg16").candidates.copy())].abs().max() == 0


def test_derivation_on_a_vgg16_table_by_hand():
    rng = np.random.default_rng(3)
    cand = layout.get("vgg16").candidates
    table = np.where(cand, rng.random((13, 11)), 0.0)
    table = table / np.maximum(table.sum(1, keepdims=True), 1e-12)  # softmax-like rows summing to 1
    expected = np.zeros((13, 11), dtype=bool)
    for i in range(2, 13):  # block i+1 has candidates j = 0 .. i-2
        expected[i, int(np.argmax(table[i, :i - 1]))] = True
    assert np.array_equal(derive.argmax(table), expected)
    above = np.zeros((13, 11), dtype=bool)
    for i in range(2, 13):
        for j in range(i - 1):
            above[i, j] = table[i, j] > 1.0 / (i - 1) + 1e-6
    assert np.array_equal(derive.threshold(table), above)
    relative = [(table[i, j] * (i - 1), i, j) for i in range(2, 13) for j in range(i - 1)]
    top = {(i, j) for _, i, j in sorted(relative, reverse=True)[:7]}
    assert {tuple(c) for c in np.argwhere(derive.topk(table, 7))} == top
    resnet = derive.derive_from_weights("resnet", table)
    assert resnet.shape == (13, 11) and [tuple(c) for c in np.argwhere(resnet)] == [(i, i - 2) for i in range(2, 13)]
    assert derive.derive_from_weights("all", table).sum() == 66 and derive.derive_from_weights("none", table).sum() == 0
    assert "\n".join(derive.format_mask(expected).splitlines()[:1]) == "i\\j " + " ".join(f"{j:>2}" for j in range(1, 12))


def test_vgg11_ids_do_not_change_and_deeper_ids_name_their_network():
    assert arch_id(derive.none()) == "a000000" and arch_id(derive.resnet()) == "a148841"
    assert arch_id(derive.all_edges()) == "a1fffff"
    deep = arch_id(derive.all_edges("vgg16"))
    assert deep == "vgg16-a" + format(2 ** 66 - 1, "017x")
    assert arch_id(derive.resnet("vgg19")).startswith("vgg19-a") and arch_id(derive.none("vgg13")) == "vgg13-a" + "0" * 9


def test_a_user_is_told_which_networks_exist_and_when_a_mask_is_of_another(tmp_path):
    with pytest.raises(ConfigError, match="vgg11, vgg13, vgg16, vgg19"):
        make_config("search", "smoke", {"net": "vgg12"}).validate()
    with pytest.raises(ValueError, match="known network"):
        layout.of(np.zeros((9, 7)))
    from vggdarts.reference import against_report

    with pytest.raises(ValueError, match="VGG11's"):
        against_report(np.zeros((13, 11)))
    arch = derive.save_mask(tmp_path / "deep.json", derive.resnet("vgg16"), "resnet")
    from vggdarts.retrain import retrain

    config = make_config("retrain", "smoke", {"arch": str(arch), "dataset": "synthetic", "progress": False})
    with pytest.raises(ConfigError, match="pass net=vgg16"):
        retrain(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing made


def test_vgg13_smoke_search_killed_mid_run_resumes_bit_identically(tmp_path):
    extra = ("--set", "epochs=3", "--set", "net=vgg13")
    whole = tmp_path / "whole"
    result = run_cli(*smoke_search_args(whole, *extra))
    assert result.returncode == 0, result.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "vggdarts", *smoke_search_args(killed, *extra)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics, deadline = killed / "metrics.csv", time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"
    result = run_cli(*smoke_search_args(killed, *extra))
    assert result.returncode == 0 and "resuming" in result.stdout, result.stderr
    a, b = np.load(whole / "alpha.npz"), np.load(killed / "alpha.npz")
    assert a["raw"].shape == (3, 10, 8) and np.array_equal(a["raw"], b["raw"])
    assert np.array_equal(a["weights"], b["weights"])


def test_the_vgg16_parameter_file_passes_the_network_to_the_search_notebook():
    import papermill as pm

    from vggdarts import notebook
    from vggdarts.batch import load_params

    params = load_params("vgg16-cpu")
    declared = set().union(*(pm.inspect_notebook(str(ROOT / "notebooks" / f"{n}.ipynb")) for n in params["notebooks"]))
    assert set(params) - {"notebooks"} <= declared, "a parameter no notebook declares would be dropped"
    config = notebook.config("search", params["preset"], net=params["net"])
    assert (config.net, config.width, config.epochs) == ("vgg16", 0.25, 50)


def test_each_blocks_shortcut_sum_lives_at_its_input_size():
    """VGG11 pools after blocks 1, 2, 4, 6 and 8: outputs at 16 8 8 4 4 2 2 1, so the sums (at x_{i-1}, the
    input for block 1) run at 32 16 8 8 4 4 2 2; VGG16 pools after 2, 4, 7, 10, 13."""
    assert layout.get("vgg11").sum_sizes() == [32, 16, 8, 8, 4, 4, 2, 2]
    assert layout.get("vgg16").sum_sizes() == [32, 32, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 2]
