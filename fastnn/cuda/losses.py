"""Losses with their gradients on the GPU (csrc/cuda/losses.cu), the CPU kernels' numerics; same
signatures as the fastnn._core functions. The loss is a Python float (one device sync per call),
NaN for an empty input; inputs are validated on the device first (labels, probabilities, var)."""
from __future__ import annotations

import math

import numpy as np

from ._launch import (
    check_in, check_out, device_array, first_outside, float_dtype, i32, i64, launch, partial_count,
    require_ndim, require_same_shape, suffix, total, value_str,
)

POINT_LOSSES = {"mse": 0, "l1": 1, "bce": 2, "bce_with_logits": 3}  # fastnn::PointLoss
HALF_LOG_2PI = 0.91893853320467274178


def softmax_cross_entropy(logits, target, grad, label_smoothing: float = 0.0) -> float:
    import cupy

    dt = float_dtype(logits, "logits")
    check_in(logits, "logits", dt)
    require_ndim(logits, "logits", 2)
    check_out(grad, "grad", dt)
    require_same_shape(logits, "logits", grad, "grad")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {value_str(label_smoothing)}")
    n, k = logits.shape
    device_array(target, "target")
    labels = target.dtype == np.int64
    if labels:
        if not target.flags.c_contiguous:
            raise ValueError("target must be C-contiguous")
        if tuple(target.shape) != (n,):
            raise ValueError(f"integer target must have shape ({n},), got {tuple(target.shape)}")
        bad = first_outside(target, 0, k)
        if bad >= 0:
            raise ValueError(f"target label {int(target[bad])} at index {bad} is outside [0, {k})")
    else:
        if target.dtype.kind != "f":
            raise TypeError(f"target must be int64 class labels or float probabilities, got dtype {target.dtype}")
        check_in(target, "target", dt)
        require_same_shape(logits, "logits", target, "target")
    if n == 0:
        return math.nan
    inv_n = 1.0 / n
    off = label_smoothing / k if k else 0.0  # (no class to smooth over when k == 0)
    row_loss = cupy.empty(n, dtype=np.float64)
    if labels:
        launch("losses.cu", f"ce_labels_rows_{suffix(dt)}", n, logits, target, grad, row_loss, i64(n), i64(k),
               np.float64((1.0 - label_smoothing) + off), np.float64(off), np.float64(inv_n))
    else:
        launch("losses.cu", f"ce_soft_rows_{suffix(dt)}", n, logits, target, grad, row_loss, i64(n), i64(k),
               np.float64(label_smoothing), np.float64(off), np.float64(inv_n))
    return total(row_loss) / n


def _raise_if_outside(a, what: str, lo: float, hi: float) -> None:
    bad = first_outside(a, lo, hi)
    if bad >= 0:
        raise ValueError(f"{what}, got {value_str(float(a.reshape(-1)[bad]))} at flat index {bad}")


def pointwise_loss(name: str, pred, target, grad) -> float:
    import cupy

    if name not in POINT_LOSSES:
        raise ValueError(f"unknown loss '{name}'; expected one of: {', '.join(POINT_LOSSES)}")
    dt = float_dtype(pred, "pred")
    check_in(pred, "pred", dt)
    check_in(target, "target", dt)
    require_same_shape(pred, "pred", target, "target")
    check_out(grad, "grad", dt)
    require_same_shape(pred, "pred", grad, "grad")
    if name == "bce":
        _raise_if_outside(pred, "bce_loss: prob must lie in [0, 1]", 0.0, 1.0)
        _raise_if_outside(target, "bce_loss: target must lie in [0, 1]", 0.0, 1.0)
    n = pred.size
    if n == 0:
        return math.nan
    inv_n = 1.0 / n
    parts = partial_count(n)
    part = cupy.empty(parts, dtype=np.float64)
    launch("losses.cu", f"pointwise_loss_partials_{suffix(dt)}", parts, pred, target, grad, part, i64(n), i64(parts),
           i32(POINT_LOSSES[name]), np.float64(inv_n))
    return total(part) * inv_n


def gaussian_nll_loss(mean, target, var, dmean, dvar, full: bool = False, eps: float = 1e-6) -> float:
    import cupy

    dt = float_dtype(mean, "mean")
    for a, name in ((mean, "mean"), (target, "target"), (var, "var")):
        check_in(a, name, dt)
    require_same_shape(mean, "mean", target, "target")
    require_same_shape(mean, "mean", var, "var")
    check_out(dmean, "dmean", dt)
    check_out(dvar, "dvar", dt)
    require_same_shape(mean, "mean", dmean, "dmean")
    require_same_shape(mean, "mean", dvar, "dvar")
    if not eps > 0.0:
        raise ValueError(f"eps must be > 0, got {value_str(eps)}")
    _raise_if_outside(var, "gaussian_nll_loss: var must be non-negative", 0.0, math.inf)
    n = mean.size
    if n == 0:
        return math.nan
    inv_n = 1.0 / n
    parts = partial_count(n)
    part = cupy.empty(parts, dtype=np.float64)
    launch("losses.cu", f"gaussian_nll_partials_{suffix(dt)}", parts, mean, target, var, dmean, dvar, part, i64(n),
           i64(parts), np.float64(eps), np.float64(inv_n))
    return total(part) * inv_n + (HALF_LOG_2PI if full else 0.0)
