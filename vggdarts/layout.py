"""Network layouts: the plain VGGs whose shortcut placement the study searches.

torchvision's VGG configurations with batch norm (A = VGG11, B = VGG13, D = VGG16, E = VGG19) at 32x32 input:
the conv blocks' channels and the blocks followed by a 2x2 max-pool.  Everything about the search space follows
from a layout and eq. (1) (block i may receive a shortcut from x_j for every j <= i - 2):

=======  ======  ==================  ===============  ===============================
net      blocks  alpha table         candidate edges  one shortcut into each block
=======  ======  ==================  ===============  ===============================
vgg11    8       [8, 6]              21               720
vgg13    10      [10, 8]             36               40,320
vgg16    13      [13, 11]            66               39,916,800
vgg19    16      [16, 14]            105              87,178,291,200
=======  ======  ==================  ===============  ===============================

A table or mask carries its layout in its row count, so a function of a table needs no network argument
(:func:`of`); what is made from nothing (a baseline, a sample) takes the network's name (:func:`get`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

DEFAULT = "vgg11"


@dataclass(frozen=True)
class Layout:
    name: str
    channels: tuple[int, ...]  # conv blocks 1..n at width 1
    pool_after: tuple[int, ...]  # the blocks followed by a 2x2 max-pool (1-based)

    @property
    def n_blocks(self) -> int:
        return len(self.channels)

    @property
    def n_sources(self) -> int:
        """Columns of the alpha table: sources j = 1..n-2 (block n's farthest source)."""
        return self.n_blocks - 2

    @cached_property
    def candidates(self) -> np.ndarray:
        """Bool [n, n-2], read-only: True where source j may feed block i (j <= i - 2)."""
        i = np.arange(1, self.n_blocks + 1).reshape(-1, 1)
        j = np.arange(1, self.n_sources + 1).reshape(1, -1)
        out = j <= i - 2
        out.flags.writeable = False
        return out

    @property
    def n_candidates(self) -> int:
        return int(self.candidates.sum())

    @property
    def searched_blocks(self) -> list[int]:
        """0-based rows that have candidates: blocks 3..n."""
        return [i for i in range(self.n_blocks) if self.candidates[i].any()]

    @property
    def space_size(self) -> int:
        """Networks with exactly one shortcut into each block 3..n: 1 * 2 * ... * (n - 2)."""
        return math.factorial(self.n_sources)

    def table_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The alpha table's shapes: without and with a none column."""
        return (self.n_blocks, self.n_sources), (self.n_blocks, self.n_sources + 1)

    def scaled_channels(self, width: float) -> list[int]:
        return [max(1, round(c * width)) for c in self.channels]

    def block_shapes(self, width: float, image_size: int = 32) -> list[tuple[int, int]]:
        """(channels, spatial size) of each block's output x_1..x_n."""
        shapes, size = [], image_size
        for i, c in enumerate(self.scaled_channels(width), start=1):
            size = size // 2 if i in self.pool_after else size
            shapes.append((c, size))
        return shapes

    def sum_sizes(self, image_size: int = 32) -> list[int]:
        """The spatial size of each block's shortcut sum: block i adds its shortcuts to x_{i-1}, before its
        conv (eq. 1), so block 1's sum is at the input's size and block i's at x_{i-1}'s."""
        return [image_size] + [size for _, size in self.block_shapes(1.0, image_size)[:-1]]


LAYOUTS = {
    "vgg11": Layout("vgg11", (64, 128, 256, 256, 512, 512, 512, 512), (1, 2, 4, 6, 8)),
    "vgg13": Layout("vgg13", (64, 64, 128, 128, 256, 256, 512, 512, 512, 512), (2, 4, 6, 8, 10)),
    "vgg16": Layout("vgg16", (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512), (2, 4, 7, 10, 13)),
    "vgg19": Layout("vgg19", (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512),
                    (2, 4, 8, 12, 16)),
}
_BY_BLOCKS = {layout.n_blocks: layout for layout in LAYOUTS.values()}


def get(net: str | Layout | None = None) -> Layout:
    """The layout named ``net`` (None: VGG11, the study's network)."""
    if isinstance(net, Layout):
        return net
    name = DEFAULT if net is None else str(net).lower()
    if name not in LAYOUTS:
        raise ValueError(f"net must be one of {', '.join(LAYOUTS)}, got {net!r}")
    return LAYOUTS[name]


def of(table) -> Layout:
    """The layout a table or mask belongs to, by its shape: [n, n-2] or, with a none column, [n, n-1]."""
    shape = np.shape(table)
    layout = _BY_BLOCKS.get(shape[0]) if len(shape) == 2 else None
    if layout is None or shape not in layout.table_shapes():
        known = "; ".join(f"{name} {s[0]}x{s[1]}" for name, lay in LAYOUTS.items() for s in lay.table_shapes()[:1])
        raise ValueError(f"a table or mask must be n x (n-2) (rows = destination block i, columns = source j), "
                         f"or n x (n-1) with a none column, for a known network ({known}); got shape {shape}")
    return layout
