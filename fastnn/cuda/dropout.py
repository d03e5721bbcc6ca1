"""Inverted dropout on the GPU (csrc/cuda/dropout.cu) with the CPU kernel's counter-based RNG, so a
seed gives the same mask bit for bit on both devices; same signatures as the fastnn._core functions."""
from __future__ import annotations

import numpy as np

from ..reference.dropout import keep_threshold
from ._launch import check_in, check_out, device_array, float_dtype, i32, i64, launch, require_same_shape, scalar, suffix


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p}")


def _check_seed(seed: int) -> np.uint64:
    if not 0 <= seed < 2 ** 64:
        raise TypeError(f"seed must be an integer in [0, 2**64), got {seed}")
    return np.uint64(seed)


def _check_mask(mask, name: str) -> None:
    device_array(mask, name)
    if mask.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {mask.dtype}")
    if not mask.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")


def _scale(p: float, dtype):
    """1 / (1 - p) rounded to the array's dtype (0 for p = 1), as the CPU kernel scales."""
    return scalar(dtype)(0.0 if p == 1.0 else 1.0 / (1.0 - p))


def dropout_mask(mask, p: float, seed: int) -> None:
    _check_mask(mask, "mask")
    _check_p(p)
    launch("dropout.cu", "dropout_mask", mask.size, mask, i64(mask.size), _check_seed(seed),
           np.uint64(keep_threshold(p)))


def dropout_forward(x, y, mask, p: float, seed: int) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(y, "y", dt)
    require_same_shape(x, "x", y, "y")
    _check_mask(mask, "mask")
    require_same_shape(x, "x", mask, "mask")
    _check_p(p)
    launch("dropout.cu", f"dropout_forward_{suffix(dt)}", x.size, x, y, mask, i64(x.size), _check_seed(seed),
           np.uint64(keep_threshold(p)), _scale(p, dt), i32(p == 1.0))


def dropout_backward(dy, mask, dx, p: float) -> None:
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    _check_mask(mask, "mask")
    require_same_shape(dy, "dy", mask, "mask")
    check_out(dx, "dx", dt)
    require_same_shape(dy, "dy", dx, "dx")
    _check_p(p)
    launch("dropout.cu", f"dropout_backward_{suffix(dt)}", dy.size, dy, mask, dx, i64(dy.size), _scale(p, dt),
           i32(p == 1.0))
