"""The GPU backend: CuPy arrays in, CuPy arrays out.

Matrix products go to cuBLAS through CuPy; the other kernels are CUDA C++ in
``csrc/cuda/*.cu`` (installed next to this file), compiled at first use by
``cupy.RawModule`` (NVRTC). ``fastnn.ops`` calls in here when its inputs are ``cupy.ndarray``:
every function below has the name, arguments and semantics of the ``fastnn._core`` function
``fastnn.ops`` calls for NumPy arrays, so ``ops`` dispatches with ``backend()`` alone.
On machines without CuPy or a device, importing this module works and ``available()`` says no.

Results are deterministic: every sum runs in a fixed order (no float atomics), as on the CPU;
dropout uses the CPU's counter-based RNG, so a seed gives the same mask on both.
"""
from __future__ import annotations

from ._launch import kernel_source, module_source, source_dir
from .activations import ACT_IDS, activation_backward, activation_forward, softmax_backward, softmax_forward
from .conv import (
    col2im, conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward, im2col,
)
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .gemm import gemm
from .losses import gaussian_nll_loss, pointwise_loss, softmax_cross_entropy
from .norm import batch_norm_backward, batch_norm_forward
from .optim import adadelta_update, adagrad_update, adam_update, radam_update, rmsprop_update, sgd_update
from .pool import (
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward,
)

# The CUDA sources this package compiles (CMakeLists.txt installs each next to this file).
SOURCES = ("common.cuh", "activations.cu", "batchnorm.cu", "conv.cu", "dropout.cu", "losses.cu", "optim.cu",
           "pool.cu", "reduce.cu")

__all__ = [
    "available", "kernel_source", "module_source", "source_dir", "SOURCES", "ACT_IDS",
    "activation_forward", "activation_backward", "softmax_forward", "softmax_backward", "gemm",
    "im2col", "col2im", "conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_backward", "dropout_mask", "dropout_forward", "dropout_backward",
    "softmax_cross_entropy", "pointwise_loss", "gaussian_nll_loss",
    "sgd_update", "adagrad_update", "adadelta_update", "rmsprop_update", "adam_update", "radam_update",
]


def available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
