"""Speed, apart from the maths: reduced precision, torch.compile and deterministic algorithms.

All three are config fields (``precision``, ``compile``, ``deterministic``; CUDA graphs live in
:mod:`vggdarts.cudagraphs`).  Their defaults keep the plain eager fp32 behaviour, bit for bit.

precision=bf16
    The network's layers run under bf16 autocast (CUDA, or CPU where it has bf16 kernels).  The edge
    weights (alpha through its relaxation) are computed before autocast starts, the logits come back
    in fp32, so the loss, alpha, its gradient and both optimisers' state stay fp32.
compile=true
    ``torch.compile`` of the network (``nn.Module.compile``: parameter names and checkpoints do not
    change).  First order only: the second-order step's double backward cannot be compiled.
deterministic=true
    Deterministic cuDNN/cuBLAS algorithms and ``torch.use_deterministic_algorithms`` (warn_only); without it,
    CUDA runs let cuDNN benchmark its fastest (possibly nondeterministic) algorithms.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn

from .config import ConfigError

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16}
COMPILE_BACKEND = "inductor"  # torch.compile's default; the CPU tests swap in "aot_eager" (same tracing, no codegen)


def configure(config, device: torch.device) -> None:
    """Process-wide algorithm choices for this job (set both ways, so a notebook kernel that ran one
    job does not carry its choice into the next)."""
    deterministic = bool(config.deterministic)
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic workspace
    # warn_only: an op without a deterministic kernel warns (naming itself) instead of stopping a long run;
    # the CUDA resume test (bit-identical under deterministic=true) shows whether any such op is hit
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    # TF32: fp32 matmuls and convolutions on tensor cores with a 10-bit mantissa.  PyTorch lets cuDNN use it by
    # default; here it is a recorded choice (config.tf32), off unless asked for, so "fp32" means fp32.
    tf32 = bool(getattr(config, "tf32", False))
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def prepare(model: nn.Module, config, device: torch.device, fresh_compile_cache: bool = True) -> nn.Module:
    """Apply the config's precision and compile choices to ``model`` (in place; returns it).
    ``fresh_compile_cache=False`` keeps what earlier networks compiled (a benchmark timing two compiled networks
    in turn, well below the recompile limit)."""
    if getattr(config, "cuda_graphs", False) and device.type != "cuda":
        raise ConfigError(f"cuda_graphs=true needs a CUDA device, and this job runs on {device}; "
                          "set cuda_graphs=false (or run where a GPU is)")
    configure(config, device)
    model.autocast_dtype = AUTOCAST_DTYPES[config.precision]
    if config.compile:
        # nn.Module.compile keeps its cache on SuperNet.forward's code object, which every instance shares: a
        # process that builds several networks (an inline sweep, a notebook) would reach the recompile limit by
        # the third or fourth and run the rest eagerly.  Each job starts from an empty cache instead.
        if fresh_compile_cache:
            torch._dynamo.reset()
        model.compile(backend=COMPILE_BACKEND)
    return model
