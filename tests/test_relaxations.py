"""Relaxations: softmax with none, independent sigmoid gates, Gumbel-softmax; their gradients and runs."""
import os
import signal
import subprocess
import sys
import time
from contextlib import nullcontext

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from conftest import ROOT, smoke_search_args
from vggdarts import derive
from vggdarts.config import make_config
from vggdarts.relaxations import NAMES, Relaxation, Sampler

NONE_COLUMN = 6  # VGG11: the none column follows the six sources
from vggdarts.search import alpha_loss, alpha_step_first_order, alpha_step_second_order, search, weight_step
from vggdarts.supernet import SuperNet, candidate_mask
from vggdarts.training import Meter

CAND = candidate_mask()
ROWS = CAND.any(1)  # blocks 3..8


def _alpha(relaxation, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, relaxation.columns(6), generator=g, dtype=torch.float64)


def test_softmax_none_rows_with_none_sum_to_one_and_block3_has_a_choice():
    r = Relaxation("softmax_none")
    table = r.table(_alpha(r), CAND)
    assert table.shape == (8, 7)
    assert torch.allclose(table[ROWS].sum(1), torch.ones(6, dtype=torch.float64))
    assert (table[~ROWS] == 0).all() and (table[:, :6][~CAND] == 0).all()
    assert 0 < table[2, 0] < 1 and 0 < table[2, NONE_COLUMN] < 1  # block 3: from block 1, or none
    assert torch.allclose(r.edge_weights(_alpha(r), CAND), table[:, :6])


def test_sigmoid_gates_are_independent():
    r = Relaxation("sigmoid")
    alpha = _alpha(r)
    before = r.table(alpha, CAND)
    moved = alpha.clone()
    moved[5, 2] += 1.5
    after = r.table(moved, CAND)
    changed = (after != before).nonzero().tolist()
    assert changed == [[5, 2]]
    assert torch.allclose(after[5, 2], torch.sigmoid(moved[5, 2]))


def test_zero_one_loss_matches_its_formula():
    r = Relaxation("sigmoid", zero_one_weight=10.0)
    alpha = _alpha(r)
    gates = torch.sigmoid(torch.stack([alpha[i, j] for i, j in CAND.nonzero().tolist()]))
    expected = -10.0 * torch.mean((gates - 0.5) ** 2)
    assert torch.allclose(torch.as_tensor(r.penalty(alpha, CAND)), expected)
    assert Relaxation("sigmoid").penalty(alpha, CAND) == 0.0  # w0 = 0: off
    assert Relaxation("softmax").penalty(alpha, CAND) == 0.0


def test_gumbel_samples_lie_on_the_simplex_and_the_temperature_anneals():
    r = Relaxation("gumbel", tau_max=10.0, tau_min=0.1)
    noise = next(r.noise_stream(seed=0, epoch=0))
    for tau in (10.0, 1.0, 0.1):
        w = r.edge_weights(_alpha(r).float(), CAND, noise, tau)
        full = torch.cat([w, 1 - w.sum(1, keepdim=True)], 1)  # the none share
        assert (w >= 0).all() and (w[~CAND] == 0).all()
        assert torch.allclose(w[ROWS].sum(1) + full[ROWS, 6], torch.ones(6)) and (full[ROWS, 6] >= -1e-6).all()
    assert r.temperature(0, 50) == 10.0 and r.temperature(49, 50) == pytest.approx(0.1)
    assert r.temperature(0, 50) > r.temperature(25, 50) > r.temperature(49, 50)
    sampler = Sampler(r, seed=0, epoch=49, epochs=50)
    assert sampler.tau == pytest.approx(0.1)


def test_gumbel_hard_is_one_hot_forward_with_nonzero_alpha_gradients():
    r = Relaxation("gumbel", hard=True)
    alpha = _alpha(r).float().requires_grad_()
    noise = next(r.noise_stream(seed=1, epoch=0))
    w = r.edge_weights(alpha, CAND, noise, tau=1.0)
    choice = torch.cat([w, 1 - w.sum(1, keepdim=True)], 1)[ROWS]
    assert set(torch.unique(choice.detach()).tolist()) <= {0.0, 1.0} and (choice.sum(1) == 1).all()
    (w * torch.randn(8, 6)).sum().backward()
    assert alpha.grad.abs().sum() > 0


def _net(relaxation, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    net = SuperNet(0.0625, relaxation=relaxation).to(dtype)
    with torch.no_grad():
        net.alpha.copy_(0.3 * torch.randn(8, relaxation.columns(6)))
    xt, xv = torch.randn(8, 3, 32, 32, dtype=dtype), torch.randn(8, 3, 32, 32, dtype=dtype)
    yt, yv = torch.randint(0, 10, (8,)), torch.randint(0, 10, (8,))
    return net, xt, yt, xv, yv


RELAXATIONS = [Relaxation("softmax"), Relaxation("softmax_none"), Relaxation("sigmoid", zero_one_weight=10.0),
               Relaxation("gumbel", tau_max=2.0), Relaxation("gumbel", hard=True)]
IDS = ["softmax", "softmax_none", "sigmoid+zero-one", "gumbel", "gumbel_hard"]


def fixed_draw(net, relaxation):
    """A context manager factory: every forward inside runs under one fixed Gumbel draw (a no-op for the
    deterministic relaxations)."""
    sampler = Sampler(relaxation, seed=3, epoch=0, epochs=4)
    noise = next(sampler.stream) if sampler.stream is not None else None
    return lambda: net.sampled(noise, sampler.tau) if noise is not None else nullcontext()


@pytest.mark.parametrize("relaxation", RELAXATIONS, ids=IDS)
def test_first_order_alpha_gradient_is_autograd_of_the_validation_loss(relaxation):
    net, xt, yt, xv, yv = _net(relaxation)
    with_noise = fixed_draw(net, relaxation)
    with with_noise():
        alpha_step_first_order(net, xv, yv)
    got = net.alpha.grad.clone()
    with with_noise():
        logits = functional_call(net, {**dict(net.named_parameters())}, (xv,))
        reference = torch.autograd.grad(F.cross_entropy(logits, yv) + net.alpha_penalty(), net.alpha)[0]
    assert torch.allclose(got, reference, rtol=1e-10, atol=1e-12)
    assert got.abs().sum() > 0


def _hand_weights(relaxation, alpha, noise=None, tau=1.0):
    """Equation (1)'s edge weights written out here: sigma(alpha) per candidate for gates; otherwise the softmax
    of alpha (or of (alpha + g) / tau for a Gumbel draw) over each block's candidates and its none column."""
    cand = CAND.to(alpha.device)
    if relaxation.independent:
        return torch.sigmoid(alpha) * cand
    allowed = torch.cat([cand, cand.any(1, keepdim=True)], 1) if relaxation.has_none else cand
    z = alpha if noise is None else (alpha + noise.to(alpha.dtype)) / tau
    w = torch.softmax(z.masked_fill(~allowed, float("-inf")), 1)
    return torch.nan_to_num(w)[:, :6]  # blocks 1 and 2 have no choice: no weights


@pytest.mark.parametrize("relaxation", RELAXATIONS[:4], ids=IDS[:4])
def test_first_order_alpha_gradient_is_that_of_the_hand_written_relaxation(relaxation):
    """The reference runs the network on weights relaxed by the formula above, not by the package's relaxation,
    so a wrong relaxation (a Gumbel sample that divides only the noise by tau, say) cannot agree with itself."""
    net, xt, yt, xv, yv = _net(relaxation)
    sampler = Sampler(relaxation, seed=3, epoch=0, epochs=4)
    noise = next(sampler.stream) if sampler.stream is not None else None
    with (net.sampled(noise, sampler.tau) if noise is not None else nullcontext()):
        alpha_step_first_order(net, xv, yv)
    got = net.alpha.grad.clone()
    net._override = _hand_weights(relaxation, net.alpha, noise, sampler.tau)
    try:
        loss = F.cross_entropy(net(xv), yv) + net.alpha_penalty()
        reference = torch.autograd.grad(loss, net.alpha)[0]
    finally:
        net._override = None
    assert torch.allclose(got, reference, rtol=1e-8, atol=1e-12)
    assert got.abs().sum() > 0


def _choices(relaxation):
    cells = CAND.nonzero().tolist()
    return cells + ([[i, NONE_COLUMN] for i in range(2, 8)] if relaxation.has_none else [])


@pytest.mark.parametrize("hvp", ["exact", "fd"])
@pytest.mark.parametrize("relaxation", RELAXATIONS[:4], ids=IDS[:4])
def test_second_order_gradient_matches_finite_differences_of_the_unrolled_objective(relaxation, hvp):
    """d/dalpha [L_val(w - lr (dL_train/dw + wd w + m buf), alpha) + penalty(alpha)] by central differences,
    float64, one Gumbel draw held fixed for every evaluation."""
    net, xt, yt, xv, yv = _net(relaxation, seed=1)
    lr, momentum, wd = 0.5, 0.9, 1e-3
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    draw = fixed_draw(net, relaxation)
    with draw():
        weight_step(net, w_opt, xt, yt, Meter())  # momentum buffers exist now
    weights = net.weight_parameters()
    bufs = [w_opt.state[p]["momentum_buffer"] for p in weights]
    state = {k: v.clone() for k, v in net.state_dict().items()}

    def unrolled_objective(alpha):
        net.load_state_dict(state)
        with torch.no_grad():
            net.alpha.copy_(alpha)
        with draw():
            grads = torch.autograd.grad(F.cross_entropy(net(xt), yt), weights)
            with torch.no_grad():
                for p, g, b in zip(weights, grads, bufs):
                    p.sub_(lr * (g + wd * p + momentum * b))
                return alpha_loss(net, xv, yv).item()

    alpha0 = state["alpha"].clone()
    numeric = torch.zeros_like(alpha0)
    h = 1e-5
    for i, j in _choices(relaxation):
        e = torch.zeros_like(alpha0)
        e[i, j] = h
        numeric[i, j] = (unrolled_objective(alpha0 + e) - unrolled_objective(alpha0 - e)) / (2 * h)
    net.load_state_dict(state)
    with draw():
        alpha_step_second_order(net, w_opt, xt, yt, xv, yv, hvp=hvp, fd_scale=1e-5)
    error = (net.alpha.grad - numeric).norm()
    assert error < 2e-4 * numeric.norm(), (error, numeric.norm())


def _config(relaxation, **over):
    return make_config("search", "smoke", {"dataset": "synthetic", "progress": False, "relaxation": relaxation,
                                           "train_subset": 256, **over})


@pytest.mark.parametrize("name", [n for n in NAMES if n != "softmax"])
def test_each_relaxation_searches_records_its_table_and_derives(name, tmp_path):
    search(_config(name, epochs=1), tmp_path / "r")
    z = np.load(tmp_path / "r" / "alpha.npz")
    r = Relaxation(name)
    assert z["raw"].shape == (1, 8, r.columns(6)) and z["weights"].shape == (1, 8, r.columns(6))
    header = (tmp_path / "r" / "alpha_weights.csv").read_text().splitlines()[0]
    assert header.endswith(",none") == r.has_none
    if name in ("softmax_none", "gumbel"):
        assert np.allclose(z["weights"][-1][2:].sum(1), 1.0)
        assert z["raw"][-1, 2, 0] != 0 or z["raw"][-1, 2, NONE_COLUMN] != 0  # block 3 learns now
    from vggdarts.compare import derive_to_file

    mask = derive_to_file(tmp_path / "a.json", "argmax", tmp_path / "r")
    assert derive.load_mask(tmp_path / "a.json")[1]["relaxation"] == name
    table, expected = z["weights"][-1], np.zeros((8, 6), dtype=bool)
    for i in range(2, 8):  # by hand: block i+1's strongest of its i - 1 sources, unless none is stronger still
        sources = table[i, :i - 1]
        if not (r.has_none and table[i, NONE_COLUMN] > sources.max()):
            expected[i, int(np.argmax(sources))] = True
    assert (mask == expected).all()


def test_argmax_with_none_can_choose_no_shortcut_and_sigmoid_threshold_defaults_to_half():
    table = np.zeros((8, 7))
    table[2] = [0.3, 0, 0, 0, 0, 0, 0.7]  # block 3: none wins
    table[3] = [0.5, 0.2, 0, 0, 0, 0, 0.3]  # block 4: source 1 wins
    table[4:, 0], table[4:, 6] = 0.5, 0.5  # ties between a source and none: the shortcut
    mask = derive.argmax(table)
    assert not mask[2].any() and mask[3, 0] and mask[4:, 0].all() and mask.sum() == 5
    gates = np.where(CAND.numpy(), 0.6, 0.0)
    gates[7, 5] = 0.9
    assert derive.derive_from_weights("threshold", gates, "sigmoid").sum() == 21
    assert derive.derive_from_weights("threshold", gates, "sigmoid", level=0.85).sum() == 1
    assert derive.derive_from_weights("topk", gates, "sigmoid", k=1)[7, 5]


def test_gumbel_same_seed_same_alpha(tmp_path):
    for name in "ab":
        search(_config("gumbel", epochs=1), tmp_path / name)
    search(_config("gumbel", epochs=1, seed=1), tmp_path / "c")
    raw = {k: np.load(tmp_path / k / "alpha.npz")["raw"] for k in "abc"}
    assert np.array_equal(raw["a"], raw["b"]) and not np.array_equal(raw["a"], raw["c"])


def test_gumbel_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    args = smoke_search_args(tmp_path / "full", "--set", "epochs=3", "--set", "relaxation=gumbel",
                             "--set", "gumbel_hard=true")
    subprocess.run([sys.executable, "-m", "vggdarts", *args], cwd=ROOT, check=True, capture_output=True)
    run_dir = tmp_path / "killed"
    args = [a if a != str(tmp_path / "full") else str(run_dir) for a in args]
    proc = subprocess.Popen([sys.executable, "-m", "vggdarts", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "summary.json").exists(), "the run finished before it could be killed"
    subprocess.run([sys.executable, "-m", "vggdarts", *args], cwd=ROOT, check=True, capture_output=True)
    resumed, uninterrupted = np.load(run_dir / "alpha.npz"), np.load(tmp_path / "full" / "alpha.npz")
    assert np.array_equal(resumed["raw"], uninterrupted["raw"]) and resumed["raw"].shape == (3, 8, 7)
