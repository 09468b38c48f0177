"""A plain VGG-BN with weighted shortcuts between its conv blocks: the search space.

Block i (i = 1..8) of VGG11 is Conv3x3-BN(-ReLU), with a 2x2 max-pool after
blocks 1, 2, 4, 6, 8 (other VGGs: layout.py; n blocks, an [n, n-2] table).  Every block i >= 3 may receive shortcuts from the
outputs x_j of earlier blocks j = 1..i-2 (a shortcut skips at least one block):

    x_i = pool_i( ReLU( ConvBn_i(x_{i-1}) + sum_j w_ij * shortcut_ij(x_j) ) )      (1)

    x_{i-1} --> Conv3x3 --> BN --(+)--> ReLU --> [MaxPool 2x2] --> x_i
                                 ^
    x_j -----> shortcut_ij ---->(x w_ij)      for every candidate j <= i-2

* The ReLU comes *after* the sum, as in ResNet, so a shortcut can carry
  negative pre-activations into the block.  Pooling belongs to the block: x_j is
  the pooled output of block j, and the sum lives at the resolution of
  ConvBn_i's output (that of x_{i-1}).
* shortcut_ij adapts x_j to that shape: identity when shapes match, average
  pooling when x_j is larger, then 1x1 conv + BN when the channels differ.
* In the search, w_i = relaxation(alpha_i) over block i's candidates (softmax by
  default; see relaxations.py): 21 candidate edges in all; alpha is one [8, 6]
  parameter laid out as the study's tables (row = destination i, column = source
  j; non-candidates 0), [8, 7] for relaxations with a "none" column.
* With a fixed 0/1 ``mask`` instead, the same module is a plain network with
  exactly the masked shortcuts and no alpha: a derived architecture.  The k
  shortcuts into one block are averaged (weight 1/k each), keeping the search's
  per-block budget (softmax weights sum to 1); one shortcut has weight 1, as in ResNet.
"""
from __future__ import annotations

from contextlib import contextmanager
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import layout
from .layout import Layout
from .relaxations import Relaxation, flat_index, masked_softmax



def candidate_mask(net: str | Layout | None = None) -> torch.Tensor:
    """Bool [n, n-2]: True where source j may feed block i (j <= i - 2); VGG11: [8, 6], 21 cells."""
    return torch.from_numpy(layout.get(net).candidates.copy())


def candidate_edges(net: str | Layout | None = None) -> list[tuple[int, int]]:
    """The candidate edges as (source j, destination i), 1-based, sorted by i then j (VGG11: 21)."""
    return [(j + 1, i + 1) for i, j in candidate_mask(net).nonzero().tolist()]


def softmax_relaxation(alpha: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax over each block's candidates; 0 elsewhere (the study's relaxation)."""
    return masked_softmax(alpha, candidates)


# ----------------------------------------------------------------------------- modules

def block_shapes(width: float, net: str | Layout | None = None) -> list[tuple[int, int]]:
    """(channels, spatial size) of each block's output x_1..x_n for 32x32 input."""
    return layout.get(net).block_shapes(width)


def scaled_channels(width: float, net: str | Layout | None = None) -> list[int]:
    return layout.get(net).scaled_channels(width)


class ConvBn(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out))


def make_shortcut(src: tuple[int, int], dst: tuple[int, int]) -> nn.Module:
    """Adapt a (channels, size) source tensor to a (channels, size) destination."""
    (c_src, s_src), (c_dst, s_dst) = src, dst
    layers: list[nn.Module] = []
    if s_src != s_dst:
        layers.append(nn.AvgPool2d(s_src // s_dst))
    if c_src != c_dst:
        layers.append(ConvBn(c_src, c_dst, 1))
    return nn.Sequential(*layers) if layers else nn.Identity()


class SuperNet(nn.Module):
    """A plain VGG-BN (``net``, default VGG11) whose blocks 3..n sum weighted shortcuts from earlier blocks, eq. (1).

    ``mask=None``: the search supernet, edge weights = relaxation(alpha).
    ``mask`` = 0/1 [n, n-2]: a fixed architecture with exactly those shortcuts (its shape names the network).
    """

    def __init__(self, width: float = 1.0, num_classes: int = 10, relaxation: str | Relaxation = "softmax",
                 mask: torch.Tensor | None = None, net: str | Layout | None = None):
        super().__init__()
        self.layout = layout.of(mask) if mask is not None and net is None else layout.get(net)
        channels, shapes = self.layout.scaled_channels(width), self.layout.block_shapes(width)
        self.candidates: torch.Tensor
        self._override: torch.Tensor | None = None
        self._sample: tuple[torch.Tensor, float] | None = None  # Gumbel noise and temperature of this step
        self.autocast_dtype: torch.dtype | None = None  # e.g. bf16: the layers under autocast (accel.py)
        self.register_buffer("candidates", candidate_mask(self.layout), persistent=False)
        self.register_buffer("candidate_index", flat_index(self.candidates), persistent=False)
        if mask is None:
            self.relaxation = relaxation if isinstance(relaxation, Relaxation) else Relaxation(relaxation)
            self.alpha = nn.Parameter(torch.zeros(self.layout.n_blocks, self.relaxation.columns(self.layout.n_sources)))
            edges = self.candidates
        else:
            mask = torch.as_tensor(mask).bool()
            check_mask(mask, self.layout)
            self.relaxation, self.alpha = None, None
            self.register_buffer("fixed_weights", mask_weights(mask))
            edges = mask
        # sources[i-1] = the j's that feed block i; shortcuts["j_i"] adapts x_j to block i
        self.sources = [[j + 1 for j in edges[i].nonzero().flatten().tolist()] for i in range(self.layout.n_blocks)]
        self.blocks = nn.ModuleList()
        self.pools = nn.ModuleList()
        self.shortcuts = nn.ModuleDict()
        c_in = 3
        for i, c in enumerate(channels, start=1):
            self.blocks.append(ConvBn(c_in, c, 3))
            self.pools.append(nn.MaxPool2d(2) if i in self.layout.pool_after else nn.Identity())
            dst = (c, shapes[i - 2][1] if i >= 2 else 32)  # ConvBn_i's output: x_{i-1}'s size
            for j in self.sources[i - 1]:
                self.shortcuts[f"{j}_{i}"] = make_shortcut(shapes[j - 1], dst)
            c_in = c
        self.classifier = nn.Linear(channels[-1], num_classes)

    def edge_weights(self) -> torch.Tensor:
        """w [n, n-2]: w[i-1, j-1] is the weight of shortcut j -> i."""
        if self._override is not None:
            return self._override
        if self.alpha is None:
            return self.fixed_weights
        noise, tau = self._sample if self._sample is not None else (None, 1.0)
        return self.relaxation.edge_weights(self.alpha, self.candidates, noise, tau)

    def table(self) -> torch.Tensor:
        """The deterministic relaxed table [n, n-2] or [n, n-1] (with "none"): what is recorded and derived from."""
        return self.relaxation.table(self.alpha, self.candidates)

    def alpha_penalty(self) -> torch.Tensor | float:
        """The relaxation's own term in the alpha step's loss (0 for most)."""
        return self.relaxation.penalty(self.alpha, self.candidates, self.candidate_index)

    @contextmanager
    def sampled(self, noise: torch.Tensor, tau: float):
        """Inside the block, edge weights are a Gumbel-softmax sample with this noise and temperature."""
        device = self.candidates.device
        previous, self._sample = self._sample, (noise if noise.device == device else noise.to(device), tau)
        try:
            yield self
        finally:
            self._sample = previous

    @contextmanager
    def edge_weights_overridden(self, weights: torch.Tensor):
        """Use fixed edge weights instead of relaxation(alpha) inside the block (for derivation)."""
        previous, self._override = self._override, weights.detach().to(self.candidates.device)
        try:
            yield self
        finally:
            self._override = previous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.edge_weights()  # always fp32: the relaxation runs before any autocast
        outputs: list[torch.Tensor] = []  # x_1 .. x_n
        with torch.autocast(x.device.type, self.autocast_dtype, enabled=self.autocast_dtype is not None):
            for i, (conv_bn, pool) in enumerate(zip(self.blocks, self.pools), start=1):
                h = conv_bn(x)  # ConvBn_i(x_{i-1})
                for j in self.sources[i - 1]:  # + sum_j w_ij * shortcut_ij(x_j)
                    h = h + w[i - 1, j - 1] * self.shortcuts[f"{j}_{i}"](outputs[j - 1])
                x = pool(F.relu(h))
                outputs.append(x)
            logits = self.classifier(torch.flatten(x, 1))
        return logits if self.autocast_dtype is None else logits.float()  # the loss is computed in fp32

    # -- parameter groups: alpha vs network weights
    def arch_parameters(self) -> list[nn.Parameter]:
        return [] if self.alpha is None else [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]


def mask_weights(mask: torch.Tensor) -> torch.Tensor:
    """Edge weights of a derived architecture: the k shortcuts into a block share weight 1/k, the same
    per-block budget as the softmax relaxation (weights sum to 1); a single shortcut has weight 1, as in ResNet."""
    mask = torch.as_tensor(mask).float()
    return mask / mask.sum(1, keepdim=True).clamp(min=1)


def check_mask(mask: torch.Tensor, net: str | Layout | None = None) -> Layout:
    """A valid architecture mask is [n, n-2] for its network (``net``; None: whichever its shape names), 0/1,
    and only uses candidate edges.  Returns the network's layout."""
    shape = tuple(mask.shape)
    lay = layout.get(net) if net is not None else layout.of(mask)
    if shape != (lay.n_blocks, lay.n_sources):
        raise ValueError(f"mask must be {lay.n_blocks}x{lay.n_sources} for {lay.name} (rows = block i, columns = "
                         f"source j), got {shape}")
    bad = mask.bool() & ~candidate_mask(lay)
    if bad.any():
        cells = [(i + 1, j + 1) for i, j in bad.nonzero().tolist()]
        raise ValueError(f"mask has shortcuts that skip no block (need j <= i-2): (i, j) = {cells}")
    return lay


def count_macs(model: nn.Module, image_size: int = 32) -> int:
    """Multiply-accumulates of one forward pass on one image (convolutions and linear layers)."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += output.numel() * kernel
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return macs


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p is not getattr(model, "alpha", None))
