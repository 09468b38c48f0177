"""Relaxations: how the architecture parameters alpha become the supernet's edge weights.

A relaxation is one small piece: it turns alpha [n, C] into the edge weights [n, n-2] (VGG11: [8, C], [8, 6])
that eq. (1) multiplies the shortcuts by, gives the deterministic table that is
recorded, plotted and derived from, and may add a term to the alpha step's loss.
The supernet's forward pass is the same for all of them.

=============  ====  ==========================================================
name           C     edge weights of block i (C for VGG11; n-2 or n-1 in general)
=============  ====  ==========================================================
softmax        6     softmax over block i's candidates (the study's; DARTS)
softmax_none   7     softmax over the candidates plus a "none" candidate
                     (DARTS's zero op): none's weight is the share of the block's
                     budget that goes nowhere, so block 3 can learn "no shortcut"
sigmoid        6     independent gates sigma(alpha_ij) (FairDARTS, Chu et al. 2020),
                     optional zero-one loss -w0 * mean((sigma - 0.5)^2) on the alpha step
gumbel         7     Gumbel-softmax samples over candidates plus none at temperature
                     tau, annealed linearly per epoch tau_max -> tau_min (GDAS, Dong &
                     Yang 2019); ``gumbel_hard``: straight-through one-hot forward.
                     Evaluation, tables and derivation use softmax(alpha) (no noise)
=============  ====  ==========================================================

The last column (VGG11: column 7, index 6), where there is one, is "none"; it exists for blocks
3..n only.  Non-candidate cells are 0 in every table.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

NAMES = ("softmax", "softmax_none", "sigmoid", "gumbel")


def choices(candidates: torch.Tensor, with_none: bool) -> torch.Tensor:
    """Bool [n, n-2] or [n, n-1]: the cells a block chooses among (candidates, plus none for blocks with any)."""
    if not with_none:
        return candidates
    return torch.cat([candidates, candidates.any(dim=1, keepdim=True)], dim=1)


def masked_softmax(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax over ``allowed`` cells; 0 elsewhere (rows with nothing allowed are 0)."""
    logits = logits.masked_fill(~allowed, float("-inf"))
    logits = torch.where(allowed.any(dim=1, keepdim=True), logits, torch.zeros_like(logits))  # no all -inf rows
    return torch.softmax(logits, dim=1) * allowed


def flat_index(mask: torch.Tensor) -> torch.Tensor:
    """Row-major flat indices of a bool mask's cells: ``t.flatten()[flat_index(m)]`` equals ``t[m]``.  Computing
    it reads the mask on the host; the supernet does so once, so that its steps never wait for the GPU."""
    return mask.flatten().nonzero().flatten()


@dataclass(frozen=True)
class Relaxation:
    name: str = "softmax"
    zero_one_weight: float = 0.0  # sigmoid: w0 of FairDARTS's zero-one loss (0 = off)
    tau_max: float = 10.0  # gumbel: temperature at the first epoch
    tau_min: float = 0.1  # gumbel: temperature at the last epoch
    hard: bool = False  # gumbel: straight-through one-hot forward

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"relaxation must be one of {', '.join(NAMES)}, got {self.name!r}")

    @property
    def has_none(self) -> bool:
        return self.name in ("softmax_none", "gumbel")

    @property
    def independent(self) -> bool:
        """Gates that do not compete within a block (no row budget)."""
        return self.name == "sigmoid"

    @property
    def stochastic(self) -> bool:
        return self.name == "gumbel"

    def columns(self, n_sources: int) -> int:
        """Columns of alpha for a network with ``n_sources`` source columns (VGG11: 6): one more for none."""
        return n_sources + self.has_none

    def scale_label(self) -> str:
        if self.independent:
            return "sigmoid gate (independent per edge; rows need not sum to 1)"
        return "softmax weight (each row, with none, sums to 1)" if self.has_none else "softmax weight (rows sum to 1)"

    # -- alpha -> weights
    def table(self, alpha: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """The deterministic table [n, C] (with the none column where there is one)."""
        if self.independent:
            return torch.sigmoid(alpha) * candidates
        return masked_softmax(alpha, choices(candidates, self.has_none))

    def edge_weights(self, alpha: torch.Tensor, candidates: torch.Tensor,
                     noise: torch.Tensor | None = None, tau: float = 1.0) -> torch.Tensor:
        """The weights [n, n-2] eq. (1) uses: the table's shortcut columns, or a Gumbel-softmax sample."""
        if noise is None:
            return self.table(alpha, candidates)[:, :candidates.shape[1]]
        allowed = choices(candidates, self.has_none)
        soft = masked_softmax((alpha + noise) / tau, allowed)
        if self.hard:
            index = soft.masked_fill(~allowed, -1.0).argmax(dim=1, keepdim=True)
            one_hot = torch.zeros_like(soft).scatter_(1, index, 1.0) * allowed.any(dim=1, keepdim=True)
            soft = one_hot - soft.detach() + soft  # straight through: one-hot forward, soft gradient
        return soft[:, :candidates.shape[1]]

    def penalty(self, alpha: torch.Tensor, candidates: torch.Tensor,
                index: torch.Tensor | None = None) -> torch.Tensor | float:
        """The relaxation's own term in the alpha loss: FairDARTS's zero-one loss for sigmoid gates.
        ``index``: flat_index(candidates), precomputed (a step then needs no host sync)."""
        if self.independent and self.zero_one_weight > 0:
            gates = torch.sigmoid(alpha.flatten()[flat_index(candidates) if index is None else index])
            return -self.zero_one_weight * ((gates - 0.5) ** 2).mean()
        return 0.0

    # -- Gumbel noise, drawn from the run's seeded generator
    def temperature(self, epoch: int, epochs: int) -> float:
        """Linear anneal per epoch: tau_max at the first epoch (0), tau_min at the last (epochs - 1)."""
        if epochs <= 1:
            return self.tau_max
        return self.tau_max + (self.tau_min - self.tau_max) * epoch / (epochs - 1)

    def noise_stream(self, seed: int, epoch: int, shape: tuple[int, int] = (8, 7)):
        """Gumbel(0, 1) draws of alpha's ``shape`` (VGG11 with none: [8, 7]) for epoch ``epoch``; depends only on
        (seed, epoch), so a resumed run draws exactly what an uninterrupted one would."""
        g = torch.Generator().manual_seed(seed * 1_000_033 + 7 * epoch + 3)
        while True:
            u = torch.rand(shape, generator=g, dtype=torch.float64).clamp_(1e-12, 1 - 1e-12)
            yield (-torch.log(-torch.log(u))).float()


def from_config(config) -> Relaxation:
    return Relaxation(config.relaxation, config.zero_one_weight, config.tau_max, config.tau_min, config.gumbel_hard)


class Sampler:
    """Per-step Gumbel samples for a search epoch: ``with sampler.step(model):`` runs one step under a
    fresh sample (the same sample for every forward inside the step: the unrolled second-order
    gradient sees one fixed draw).  A no-op for deterministic relaxations.

    ``draws`` samples (the epoch's steps) are drawn up front and moved to ``device`` in one copy, so a
    step never waits on a host-to-device transfer; any further step draws on from the same stream.
    ``shape``: alpha's (the network's table with none; VGG11 [8, 7])."""

    def __init__(self, relaxation: Relaxation, seed: int, epoch: int = 0, epochs: int = 1, draws: int = 0,
                 device: torch.device | str = "cpu", shape: tuple[int, int] = (8, 7)):
        self.relaxation, self.seed, self.epochs, self.shape = relaxation, seed, epochs, tuple(shape)
        self.start(epoch, draws, device)

    def start(self, epoch: int, draws: int = 0, device: torch.device | str = "cpu") -> None:
        """Begin epoch ``epoch``: its temperature and its noise stream (``draws`` samples drawn up front)."""
        self.tau = self.relaxation.temperature(epoch, self.epochs)
        self.stream = self.relaxation.noise_stream(self.seed, epoch, self.shape) if self.relaxation.stochastic else None
        self.drawn = (torch.stack([next(self.stream) for _ in range(draws)]).to(device)
                      if self.stream is not None and draws > 0 else None)
        self.used = 0

    def step(self, model):
        if self.stream is None:
            return nullcontext()
        k, self.used = self.used, self.used + 1
        noise = self.drawn[k] if self.drawn is not None and k < len(self.drawn) else next(self.stream)
        return model.sampled(noise, self.tau)
