"""2-D pooling (NCHW, PyTorch semantics): max, average and global average, forward and backward.

Legend: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2*PH - KH) // SH + 1. ``kernel_size``,
``stride`` (None = kernel_size) and ``padding`` are an int or an (h, w) pair; padding must be at
most half the kernel (PyTorch's rule) and H, W >= 1. float32 or float64; results in the
input's dtype; max-pool indices are int64 positions ``h * W + w`` within the input plane.
"""
from __future__ import annotations

import numpy as np

from ._dispatch import backend, check_float, contiguous, empty, get_array_module
from .conv import _check_4d, _output_hw, _x_shape
from .shapes import pair

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


def _pool_args(x_shape, kernel_size, stride, padding):
    """Normalised (kernel, stride, padding) pairs and (OH, OW), every rule checked."""
    k = pair(kernel_size, "kernel_size")
    s = pair(kernel_size if stride is None else stride, "stride")
    p = pair(padding, "padding")
    if min(k) >= 1 and min(p) >= 0 and (p[0] > k[0] // 2 or p[1] > k[1] // 2):
        raise ValueError(f"padding must be at most half the kernel size: got padding {p} for kernel_size {k}")
    if x_shape[2] < 1 or x_shape[3] < 1:
        raise ValueError(f"pooling needs non-empty spatial dimensions, got shape {tuple(x_shape)}")
    return k, s, p, _output_hw(x_shape[2], x_shape[3], k, s, p)


def _pool_input(x, op: str):
    check_float(x, "x")
    _check_4d(x, "x")
    return contiguous(x)


def _grad_input(dy, op: str):
    check_float(dy, "dy")
    return contiguous(dy)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """y = max over each window, indices = its position ``h * W + w`` in the input plane.

    Padding counts as -inf and never wins; NaN in a window wins (PyTorch); a window of -inf
    gives -inf and the index of its first real element.
    Returns: (y (N, C, OH, OW), indices int64 (N, C, OH, OW)).
    """
    x = _pool_input(x, "max_pool2d_forward")
    k, s, p, (oh, ow) = _pool_args(x.shape, kernel_size, stride, padding)
    xp = get_array_module(x)
    y = empty((x.shape[0], x.shape[1], oh, ow), x.dtype, xp)
    indices = empty(y.shape, np.int64, xp)
    backend(x).max_pool2d_forward(x, y, indices, k, s, p)
    return y, indices


def max_pool2d_backward(dy, indices, x_shape):
    """dx[n, c].flat[indices[n, c, oh, ow]] += dy[n, c, oh, ow]; zeros elsewhere.

    Args: dy and indices (N, C, OH, OW) (indices int64 from the forward); x_shape (N, C, H, W).
    Indices outside [0, H*W) raise ValueError.
    """
    dy = _grad_input(dy, "max_pool2d_backward")
    n, c, h, w = _x_shape(x_shape)
    xp = get_array_module(dy)
    if not isinstance(indices, xp.ndarray) or indices.dtype != np.int64:
        got = indices.dtype if isinstance(indices, (np.ndarray, xp.ndarray)) else type(indices).__name__
        raise TypeError(f"indices must be an int64 {xp.__name__}.ndarray (from max_pool2d_forward), got {got}")
    _check_4d(dy, "dy", "(N, C, OH, OW)")
    if indices.shape != dy.shape or dy.shape[:2] != (n, c):
        raise ValueError(f"dy {dy.shape} and indices {indices.shape} must both be (N, C, OH, OW) with "
                         f"(N, C) = {(n, c)} from x_shape {(n, c, h, w)}")
    dx = empty((n, c, h, w), dy.dtype, xp)
    backend(dy, indices).max_pool2d_backward(dy, contiguous(indices), dx)
    return dx


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """y = (sum of the window's real elements) / divisor: KH*KW when count_include_pad
    (padding counts as zeros), else the number of real elements in the window."""
    x = _pool_input(x, "avg_pool2d_forward")
    k, s, p, (oh, ow) = _pool_args(x.shape, kernel_size, stride, padding)
    y = empty((x.shape[0], x.shape[1], oh, ow), x.dtype, get_array_module(x))
    backend(x).avg_pool2d_forward(x, y, k, s, p, bool(count_include_pad))
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True):
    """dx[n, c, h, w] = sum over the windows containing (h, w) of dy / divisor."""
    dy = _grad_input(dy, "avg_pool2d_backward")
    shape = _x_shape(x_shape)
    k, s, p, (oh, ow) = _pool_args(shape, kernel_size, stride, padding)
    if dy.shape != (shape[0], shape[1], oh, ow):
        raise ValueError(f"dy must have shape {(shape[0], shape[1], oh, ow)} for x_shape {shape}, got {dy.shape}")
    dx = empty(shape, dy.dtype, get_array_module(dy))
    backend(dy).avg_pool2d_backward(dy, dx, k, s, p, bool(count_include_pad))
    return dx


def global_avg_pool2d_forward(x):
    """y[n, c] = mean of x[n, c] over (H, W); x (N, C, H, W) with H, W >= 1 -> y (N, C)."""
    x = _pool_input(x, "global_avg_pool2d_forward")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got shape {x.shape}")
    y = empty(x.shape[:2], x.dtype, get_array_module(x))
    backend(x).global_avg_pool2d_forward(x, y)
    return y


def global_avg_pool2d_backward(dy, x_shape):
    """dx[n, c, h, w] = dy[n, c] / (H * W)."""
    dy = _grad_input(dy, "global_avg_pool2d_backward")
    shape = _x_shape(x_shape)
    if shape[2] < 1 or shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got x_shape {shape}")
    if dy.shape != shape[:2]:
        raise ValueError(f"dy must have shape {shape[:2]} for x_shape {shape}, got {dy.shape}")
    dx = empty(shape, dy.dtype, get_array_module(dy))
    backend(dy).global_avg_pool2d_backward(dy, dx)
    return dx
