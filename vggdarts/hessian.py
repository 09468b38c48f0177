"""The mixed second derivative in DARTS's unrolled alpha gradient (eq. 7-8 of Liu et al., 2019).

    grad_alpha L_val(w', alpha) - lr * [d^2 L_train(w, alpha) / dalpha dw] . v,    v = grad_w' L_val(w', alpha)

Two ways to get the product [d^2 L_train / dalpha dw] . v at the current weights w:

* ``exact``: double backpropagation.  g = dL_train/dw with ``create_graph=True``,
  then d(g . v)/dalpha.  No step size; exact up to float rounding; one forward and
  about two backward passes, the same order of cost as the finite difference.
* ``fd``: DARTS's central difference, (dL_train(w + eps v)/dalpha - dL_train(w - eps v)/dalpha) / (2 eps)
  with eps = fd_scale / ||v|| (DARTS: fd_scale = 0.01).  ReLU and max-pool make
  dL/dalpha piecewise in w: once w +- eps v crosses a kink the quotient measures
  the jump, not the curvature, so on this network it is accurate only for steps
  that float32 cannot resolve (benchmarks/bench_hvp.py measures how far off it is).

Both functions leave the weights at w (the fd perturbs them and puts them back
exactly); the caller restores BatchNorm's running statistics.
"""
from __future__ import annotations

import torch

HVP_METHODS = ("exact", "fd")


def mixed_hvp_exact(train_loss, alpha: list[torch.Tensor], weights: list[torch.Tensor],
                    v: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """[d^2 L / dalpha dw] . v by double backprop; ``train_loss()`` evaluates L_train at the current weights."""
    grads = torch.autograd.grad(train_loss(), weights, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, v))
    return torch.autograd.grad(dot, alpha)


def mixed_hvp_fd(train_loss, alpha: list[torch.Tensor], weights: list[torch.Tensor], v: list[torch.Tensor],
                 fd_scale: float = 0.01) -> tuple[torch.Tensor, ...]:
    """DARTS's central-difference estimate of [d^2 L / dalpha dw] . v, eps = fd_scale / ||v||."""
    eps = fd_scale / torch.cat([u.flatten() for u in v]).norm()
    w0 = [p.detach().clone() for p in weights]

    def alpha_grad_at(sign: float):
        with torch.no_grad():
            for p, p0, u in zip(weights, w0, v):
                p.copy_(p0 + sign * eps * u)
        return torch.autograd.grad(train_loss(), alpha)

    g_plus, g_minus = alpha_grad_at(+1.0), alpha_grad_at(-1.0)
    with torch.no_grad():
        for p, p0 in zip(weights, w0):
            p.copy_(p0)
    return tuple((gp - gm) / (2 * eps) for gp, gm in zip(g_plus, g_minus))


def mixed_hvp(method: str, train_loss, alpha, weights, v, fd_scale: float = 0.01):
    if method == "exact":
        return mixed_hvp_exact(train_loss, alpha, weights, v)
    if method == "fd":
        return mixed_hvp_fd(train_loss, alpha, weights, v, fd_scale)
    raise ValueError(f"hvp must be one of {HVP_METHODS}, got {method!r}")
