"""The two halves of a search iteration, checked on small nets."""
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from vggdarts.search import alpha_step_first_order, alpha_step_second_order, weight_step
from vggdarts.supernet import SuperNet, candidate_mask
from vggdarts.training import Meter


def _net_and_batches(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    net = SuperNet(0.0625).to(dtype)
    with torch.no_grad():
        net.alpha.copy_(0.3 * torch.randn(8, 6) * candidate_mask())
    xt, xv = torch.randn(8, 3, 32, 32, dtype=dtype), torch.randn(8, 3, 32, 32, dtype=dtype)
    yt, yv = torch.randint(0, 10, (8,)), torch.randint(0, 10, (8,))
    return net, xt, yt, xv, yv


def _params(net):
    return {n: p.detach().clone() for n, p in net.named_parameters()}


def test_alpha_step_changes_only_alpha():
    net, xt, yt, xv, yv = _net_and_batches()
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    before = _params(net)
    alpha_step_first_order(net, xv, yv)
    assert all(p.grad is None for p in net.weight_parameters()), "first order must not compute weight gradients"
    a_opt.step()
    after = _params(net)
    assert not torch.equal(before["alpha"], after["alpha"])
    assert all(torch.equal(before[n], after[n]) for n in before if n != "alpha")


def test_weight_step_changes_only_weights():
    net, xt, yt, xv, yv = _net_and_batches()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9)
    before = _params(net)
    weight_step(net, w_opt, xt, yt, Meter())
    after = _params(net)
    assert net.alpha.grad is None
    assert torch.equal(before["alpha"], after["alpha"])
    changed = [n for n in before if n != "alpha" and not torch.equal(before[n], after[n])]
    assert len(changed) == len(before) - 1


@pytest.mark.parametrize("hvp", ["exact", "fd"])
def test_second_order_step_restores_weights_and_bn_statistics(hvp):
    net, xt, yt, xv, yv = _net_and_batches()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    weight_step(net, w_opt, xt, yt, Meter())  # create momentum buffers
    state = {k: v.clone() for k, v in net.state_dict().items()}
    alpha_step_second_order(net, w_opt, xt, yt, xv, yv, hvp=hvp)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert net.alpha.grad is not None and torch.isfinite(net.alpha.grad).all()


# The finite-difference check of the unrolled objective, for every relaxation and both Hessian-vector
# products, is in test_relaxations.py.


def _unrolled_reference(net, xt, yt, xv, yv, lr, momentum, wd, bufs):
    """d/dalpha of L_val(w - lr * (dL_train(w, alpha)/dw + wd w + m buf), alpha), by autograd through the
    virtual step (torch.func.functional_call; no code shared with the search)."""
    names = [n for n, _ in net.named_parameters() if n != "alpha"]
    w = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters() if n != "alpha"}
    alpha = net.alpha.detach().clone().requires_grad_()
    buffers = lambda: {n: b.clone() for n, b in net.named_buffers()}  # noqa: E731 - BN updates its copies
    train = F.cross_entropy(functional_call(net, ({**w, "alpha": alpha}, buffers()), (xt,)), yt)
    grads = torch.autograd.grad(train, [w[n] for n in names], create_graph=True)
    w_virtual = {n: w[n] - lr * (g + wd * w[n] + momentum * b) for n, g, b in zip(names, grads, bufs)}
    val = F.cross_entropy(functional_call(net, ({**w_virtual, "alpha": alpha}, buffers()), (xv,)), yv)
    return torch.autograd.grad(val, alpha)[0]


def test_exact_hvp_equals_autograd_through_the_unrolled_step_and_needs_no_eps():
    net, xt, yt, xv, yv = _net_and_batches(torch.float64, seed=2)
    lr, momentum, wd = 0.5, 0.9, 1e-3
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    weight_step(net, w_opt, xt, yt, Meter())  # momentum buffers exist now
    bufs = [w_opt.state[p]["momentum_buffer"] for p in net.weight_parameters()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    reference = _unrolled_reference(net, xt, yt, xv, yv, lr, momentum, wd, bufs)
    results = []
    for fd_scale in (0.01, 1e-7):  # the exact product has no step size: fd_scale must change nothing
        net.load_state_dict(state)
        alpha_step_second_order(net, w_opt, xt, yt, xv, yv, hvp="exact", fd_scale=fd_scale)
        results.append(net.alpha.grad.clone())
        net.alpha.grad = None
    assert torch.equal(results[0], results[1])
    assert (results[0] - reference).norm() < 1e-8 * reference.norm(), (results[0] - reference).norm()
    net.load_state_dict(state)
    alpha_step_first_order(net, xv, yv)  # at w, for scale: the second-order term is not negligible
    assert (net.alpha.grad - reference).norm() > 1e-3 * reference.norm()
