"""Batch normalization over channel axis 1 (PyTorch semantics): x is (N, C) or (N, C, H, W).

Training normalises with the batch mean and biased variance and updates ``running_mean`` and
``running_var`` in place (unbiased variance, ``running = (1 - momentum) * running + momentum * batch``);
eval normalises with the running statistics. float32 or float64; one fused native pass per
direction, deterministic for any thread count.
"""
from __future__ import annotations

import math

import numpy as np

from ._dispatch import backend, check_float, contiguous, empty, get_array_module, same_dtype

__all__ = ["batch_norm_forward", "batch_norm_backward"]


def _real(value, name: str, *, lo: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value) or (lo is not None and value < lo):
        raise ValueError(f"{name} must be finite{f' and >= {lo}' if lo is not None else ''}, got {value!r}")
    return value


def _channel_input(v, x, name: str):
    if v is None:
        return None
    same_dtype(x, "x", v, name)
    return contiguous(v)


def _in_place(v, x, name: str):
    """A running statistic updated in place: it must already be the array to write (no copy)."""
    if v is None:
        return None
    xp = get_array_module(x)
    if not isinstance(v, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray, got {type(v).__name__}")
    same_dtype(x, "x", v, name)
    if not v.flags.c_contiguous or not v.flags.writeable:
        raise ValueError(f"{name} is updated in place, so it must be a writable C-contiguous array "
                         "(a copy would lose the update)")
    return v


def batch_norm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics per channel (axis 1).

    Args:
        x: (N, C) or (N, C, H, W), float32 or float64.
        gamma, beta: (C,) scale and shift, or None (no affine transform).
        running_mean, running_var: (C,) running statistics. Training updates them in place
            (writable C-contiguous arrays of x's dtype, or None: not tracked); eval reads them.
        training: use (and update) batch statistics, or use the running ones.
        momentum: weight of the batch statistic in the running average.
        eps: added to the variance.
    Returns:
        (y, mean, invstd): y like x; mean and invstd (C,) are the statistics used (pass them to
        batch_norm_backward).
    Raises:
        ValueError in training when a channel has a single value (N*H*W == 1), as PyTorch.
    """
    check_float(x, "x")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"training must be a bool, got {type(training).__name__}: {training!r}")
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm needs x of shape (N, C) or (N, C, H, W), got shape {x.shape}")
    momentum = _real(momentum, "momentum")
    eps = _real(eps, "eps", lo=0.0)
    x = contiguous(x)
    gamma, beta = _channel_input(gamma, x, "gamma"), _channel_input(beta, x, "beta")
    if training:
        running_mean = _in_place(running_mean, x, "running_mean")
        running_var = _in_place(running_var, x, "running_var")
        if running_mean is not None and running_var is not None and type(running_mean) is np.ndarray \
                and np.may_share_memory(running_mean, running_var):
            raise ValueError("running_mean and running_var share memory: both are updated in place, so each "
                             "must be its own array")
    else:
        running_mean = _channel_input(running_mean, x, "running_mean")
        running_var = _channel_input(running_var, x, "running_var")
    c = x.shape[1]
    xp = get_array_module(x)
    y = empty(x.shape, x.dtype, xp)
    mean, invstd = empty(c, x.dtype, xp), empty(c, x.dtype, xp)
    backend(x, gamma, beta, running_mean, running_var).batch_norm_forward(
        x, gamma, beta, running_mean, running_var, y, mean, invstd, bool(training), momentum, eps)
    return y, mean, invstd


def batch_norm_backward(dy, x, gamma, mean, invstd, *, training=True):
    """Gradients of batch_norm_forward from the (mean, invstd) it returned.

    With xhat = (x - mean) * invstd and M = N*H*W: dbeta = sum(dy), dgamma = sum(dy * xhat);
    training: dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma); eval: dx = gamma * invstd * dy.
    gamma may be None (1). Returns (dx, dgamma, dbeta) in dy's dtype.
    """
    check_float(dy, "dy")
    same_dtype(dy, "dy", x, "x")
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got {dy.shape}")
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm needs x of shape (N, C) or (N, C, H, W), got shape {x.shape}")
    for v, name in ((mean, "mean"), (invstd, "invstd")):
        if v is None:
            raise TypeError(f"{name} must be the (C,) array batch_norm_forward returned, got None")
    dy, x = contiguous(dy), contiguous(x)
    gamma = _channel_input(gamma, x, "gamma")
    mean, invstd = _channel_input(mean, x, "mean"), _channel_input(invstd, x, "invstd")
    c = x.shape[1]
    xp = get_array_module(dy)
    dx = empty(dy.shape, dy.dtype, xp)
    dgamma, dbeta = empty(c, dy.dtype, xp), empty(c, dy.dtype, xp)
    backend(dy, x, gamma, mean, invstd).batch_norm_backward(dy, x, gamma, mean, invstd, dx, dgamma, dbeta,
                                                            bool(training))
    return dx, dgamma, dbeta
