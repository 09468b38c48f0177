"""The two halves of a search iteration, checked on small nets."""
import torch
import torch.nn.functional as F

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


def test_second_order_step_restores_weights_and_bn_statistics():
    net, xt, yt, xv, yv = _net_and_batches()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    weight_step(net, w_opt, xt, yt, Meter())  # create momentum buffers
    state = {k: v.clone() for k, v in net.state_dict().items()}
    alpha_step_second_order(net, w_opt, xt, yt, xv, yv)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert net.alpha.grad is not None and torch.isfinite(net.alpha.grad).all()


def test_second_order_gradient_matches_finite_differences_of_the_unrolled_objective():
    """d/dalpha L_val(w - lr * (dL_train/dw + wd w + m buf), alpha), by central differences, in float64.

    The Hessian-vector product is itself a finite difference; on a 4-channel ReLU net
    DARTS's float32-sized step (0.01 in weight space) crosses ReLU kinks, so float64
    uses a small step here: this checks the formula, not float32 rounding."""
    net, xt, yt, xv, yv = _net_and_batches(torch.float64, seed=1)
    lr, momentum, wd = 0.5, 0.9, 1e-3
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    weight_step(net, w_opt, xt, yt, Meter())  # momentum buffers exist now
    weights = net.weight_parameters()
    bufs = [w_opt.state[p]["momentum_buffer"] for p in weights]
    state = {k: v.clone() for k, v in net.state_dict().items()}

    def unrolled_objective(alpha):
        net.load_state_dict(state)
        with torch.no_grad():
            net.alpha.copy_(alpha)
        grads = torch.autograd.grad(F.cross_entropy(net(xt), yt), weights)
        with torch.no_grad():
            for p, g, b in zip(weights, grads, bufs):
                p.sub_(lr * (g + wd * p + momentum * b))
            return F.cross_entropy(net(xv), yv).item()

    alpha0 = state["alpha"].clone()
    numeric = torch.zeros(8, 6, dtype=torch.float64)
    h = 1e-5
    for i, j in candidate_mask().nonzero().tolist():
        e = torch.zeros(8, 6, dtype=torch.float64)
        e[i, j] = h
        numeric[i, j] = (unrolled_objective(alpha0 + e) - unrolled_objective(alpha0 - e)) / (2 * h)

    net.load_state_dict(state)
    alpha_step_second_order(net, w_opt, xt, yt, xv, yv, fd_scale=1e-5)
    second = net.alpha.grad.clone()
    net.alpha.grad = None
    net.load_state_dict(state)
    # first order at the virtual weights, for scale: the unrolled term must matter
    grads = torch.autograd.grad(F.cross_entropy(net(xt), yt), weights)
    with torch.no_grad():
        for p, g, b in zip(weights, grads, bufs):
            p.sub_(lr * (g + wd * p + momentum * b))
    first = torch.autograd.grad(F.cross_entropy(net(xv), yv), [net.alpha])[0]

    error = (second - numeric).norm()
    assert error < 2e-4 * numeric.norm(), (error, numeric.norm())
    assert (first - numeric).norm() > 100 * error  # the Hessian term is not negligible here
