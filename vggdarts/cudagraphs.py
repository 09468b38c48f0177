"""CUDA graphs for the search (config ``cuda_graphs=true``): one DARTS iteration, the first-order alpha step
and the weight step with both optimiser updates, captured once and replayed, so that an iteration costs
one launch instead of hundreds.  At batch 64 the width-1 supernet is bound by kernel launches, not FLOPs.

What capture needs, and where it is met (PyTorch's "CUDA Graphs" notes list the pitfalls):

* static inputs: each replay first copies its batches into the buffers the graph reads;
* no host sync inside the step: the loss and accuracy sums stay on the device (training.Meter, updated
  in place), the zero-one penalty gathers by a precomputed index (relaxations.flat_index);
* capturable optimisers: Adam with ``capturable=True`` (its step count lives on the GPU); SGD's update
  reads its learning rate as a constant, so the graph is captured again whenever the learning rate
  changes (once per epoch under a cosine schedule, once per run under the study's constant one);
* lazy state (momentum buffers, Adam moments, cuDNN's algorithm choice) exists before capture: the
  first ``warmup`` iterations run eagerly on a side stream;
* BatchNorm's ``num_batches_tracked`` is incremented in place by the captured forward, so replays count;
  its running statistics use a fixed momentum (no host-side factor);
* a batch of another shape (an epoch's last, smaller batch) runs eagerly: same maths, same tensors.

Only deterministic relaxations and first order are captured (config.validate says so); everything the
graph changes is ordinary parameter and optimiser state, so checkpoints and resume are unchanged.
"""
from __future__ import annotations

from typing import Callable

import torch


class GraphedIteration:
    """``GraphedIteration(iteration, key)``, called like ``iteration(xw, yw, xa, ya, meter, update_alpha)``.

    ``key()`` returns what the captured graph depends on besides its inputs (the learning rate); when it
    changes the iteration is captured again."""

    def __init__(self, iteration: Callable, key: Callable[[], object], warmup: int = 3):
        self.iteration, self.key, self.warmup = iteration, key, warmup
        self.eager_runs: dict[bool, int] = {}  # per mode (with / without the alpha step)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captured_for: tuple | None = None  # (input shapes, update_alpha, key())
        self.static: tuple[torch.Tensor, ...] = ()
        self.captures = 0  # how often the iteration was captured (for tests and the benchmark)
        self.meter = None  # the Meter whose tensors the graph adds into

    def __call__(self, xw, yw, xa, ya, meter, update_alpha: bool = True) -> None:
        inputs = (xw, yw, xa, ya)
        signature = (tuple(t.shape for t in inputs), update_alpha, self.key())
        if self.eager_runs.get(update_alpha, 0) < self.warmup:
            self._eager_on_side_stream(inputs, meter, update_alpha)
            return
        if self.graph is not None and signature[0] != self.captured_for[0]:
            self.iteration(*inputs, meter, update_alpha)  # another shape (an epoch's last batch): eagerly
            return
        if signature != self.captured_for or meter is not self.meter:  # another Meter: its own tensors
            self._capture(inputs, meter, update_alpha, signature)
        for buffer, value in zip(self.static, inputs):
            buffer.copy_(value)
        with torch.cuda.device(xw.device):
            self.graph.replay()
        meter.n += len(yw)

    def _eager_on_side_stream(self, inputs, meter, update_alpha: bool) -> None:
        device = inputs[0].device  # the job's GPU, which need not be the current one (device=cuda:1)
        with torch.cuda.device(device):
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                self.iteration(*inputs, meter, update_alpha)
            torch.cuda.current_stream(device).wait_stream(side)
        self.eager_runs[update_alpha] = self.eager_runs.get(update_alpha, 0) + 1

    def _capture(self, inputs, meter, update_alpha: bool, signature) -> None:
        self.graph = None  # free the previous graph's memory pool first
        self.static = tuple(t.clone() for t in inputs)
        graph = torch.cuda.CUDAGraph()
        counted = meter.n
        with torch.cuda.device(inputs[0].device), torch.cuda.graph(graph):  # on the job's GPU; runs nothing yet
            self.iteration(*self.static, meter, update_alpha)
        meter.n = counted
        self.graph, self.captured_for, self.meter = graph, signature, meter
        self.captures += 1


def match_capturable(optimizer: torch.optim.Optimizer, capturable: bool, device: torch.device) -> None:
    """After ``load_state_dict``, make an Adam's state fit this session's mode: ``load_state_dict`` brings back
    the checkpoint's ``capturable`` flag, and with it the step counts' place (on the GPU for a graphed run, on
    the CPU for an eager one).  ``cuda_graphs`` is a runtime field, so a run may resume under either value."""
    for group in optimizer.param_groups:
        group["capturable"] = capturable
    for state in optimizer.state.values():
        if "step" in state:
            step = torch.as_tensor(state["step"], dtype=torch.float32).detach()
            state["step"] = step.to(device) if capturable else step.cpu()
