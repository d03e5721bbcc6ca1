"""Batch normalization on the GPU (csrc/cuda/batchnorm.cu); same signatures as the fastnn._core functions.

x is (N, C) (HW = 1) or (N, C, H, W) (HW = H*W); statistics per channel over M = N*HW values,
summed in double in a fixed order (partial sums, then one thread per channel).
"""
from __future__ import annotations

import numpy as np

from ._launch import check_in, check_out, float_dtype, i32, i64, launch, partial_count, ptr, require_same_shape, suffix


def _dims(x):
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm needs x of shape (N, C) or (N, C, H, W), got shape {tuple(x.shape)}")
    n, c = x.shape[0], x.shape[1]
    return n, c, (x.shape[2] * x.shape[3] if x.ndim == 4 else 1)


def _channel_vec(a, name: str, dt, c: int) -> None:
    check_in(a, name, dt)
    if tuple(a.shape) != (c,):
        raise ValueError(f"{name} must have shape ({c},) (one value per channel), got {tuple(a.shape)}")


def batch_norm_forward(x, gamma, beta, running_mean, running_var, y, mean, invstd, training: bool,
                       momentum: float = 0.1, eps: float = 1e-5) -> None:
    import cupy

    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    n, c, hw = _dims(x)
    check_out(y, "y", dt)
    require_same_shape(x, "x", y, "y")
    for v, name in ((mean, "mean"), (invstd, "invstd"), (gamma, "gamma"), (beta, "beta"),
                    (running_mean, "running_mean"), (running_var, "running_var")):
        if v is not None:
            _channel_vec(v, name, dt, c)
    if training and n * hw <= 1:
        raise ValueError("batch norm in training needs more than one value per channel (N*H*W > 1), got x of "
                         f"shape {tuple(x.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch norm in eval mode needs running_mean and running_var, got None")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    sfx = suffix(dt)
    if training:
        parts = partial_count(n * hw)
        s1 = cupy.empty(c * parts, dtype=np.float64)
        s2 = cupy.empty(c * parts, dtype=np.float64)
        launch("batchnorm.cu", f"bn_stats_partials_{sfx}", c * parts, x, s1, s2, i64(n), i64(c), i64(hw), i64(parts))
        launch("batchnorm.cu", f"bn_finish_train_{sfx}", c, s1, s2, x, mean, invstd, ptr(running_mean),
               ptr(running_var), i64(n), i64(c), i64(hw), i64(parts), np.float64(momentum), np.float64(eps))
    else:
        launch("batchnorm.cu", f"bn_finish_eval_{sfx}", c, running_mean, running_var, mean, invstd, i64(c),
               np.float64(eps))
    launch("batchnorm.cu", f"bn_normalize_{sfx}", x.size, x, ptr(gamma), ptr(beta), mean, invstd, y, i64(n), i64(c),
           i64(hw))


def batch_norm_backward(dy, x, gamma, mean, invstd, dx, dgamma, dbeta, training: bool = True) -> None:
    import cupy

    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_in(x, "x", dt)
    require_same_shape(dy, "dy", x, "x")
    n, c, hw = _dims(x)
    check_out(dx, "dx", dt)
    require_same_shape(x, "x", dx, "dx")
    if gamma is not None:
        _channel_vec(gamma, "gamma", dt, c)
    for v, name in ((mean, "mean"), (invstd, "invstd"), (dgamma, "dgamma"), (dbeta, "dbeta")):
        _channel_vec(v, name, dt, c)
    sfx = suffix(dt)
    parts = partial_count(n * hw)
    sdy = cupy.empty(c * parts, dtype=np.float64)
    sdyx = cupy.empty(c * parts, dtype=np.float64)
    coef = cupy.empty(3 * c, dtype=dt)
    launch("batchnorm.cu", f"bn_backward_partials_{sfx}", c * parts, dy, x, mean, sdy, sdyx, i64(n), i64(c), i64(hw),
           i64(parts))
    launch("batchnorm.cu", f"bn_backward_finish_{sfx}", c, sdy, sdyx, ptr(gamma), invstd, dgamma, dbeta, coef, i64(n),
           i64(c), i64(hw), i64(parts), i32(bool(training)))
    launch("batchnorm.cu", f"bn_backward_dx_{sfx}", x.size, dy, x, mean, coef, dx, i64(n), i64(c), i64(hw))

