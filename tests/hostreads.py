"""Count the reads of tensor values back to the host (each one a synchronisation on a GPU), and the
transfers between devices (``.to``/``.cuda``: on a GPU each is a small host-to-device copy)."""
from __future__ import annotations

import collections
import sys

import torch
from torch.overrides import TorchFunctionMode

READS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__,
         torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.numpy, torch.Tensor.cpu,
         torch.Tensor.nonzero, torch.nonzero, torch.masked_select, torch.Tensor.masked_select,
         torch.Tensor.to, torch.Tensor.cuda}


class HostReads(TorchFunctionMode):
    """``with HostReads() as reads:`` counts value reads by where they were made (file, line).

    Not counted: reads inside torch.optim (the optimisers' step counters, which live on the host, or with
    capturable=True are never read) and ``Module.to`` moving a network's parameters once, at set-up.
    A ``.to(device)`` counts even where it would not move anything (on the CPU): the step must not ask."""

    def __init__(self):
        super().__init__()
        self.where: collections.Counter = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in READS:
            caller = sys._getframe(1).f_code.co_filename
            if "/torch/optim/" not in caller and not caller.endswith("/torch/nn/modules/module.py"):
                self.where[(func.__name__, caller.rsplit("/", 1)[-1], sys._getframe(1).f_lineno)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.where.values())
