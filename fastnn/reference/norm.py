"""Batch normalization in plain NumPy (PyTorch semantics), written to be read.

Channel axis 1: x is (N, C) or (N, C, H, W); statistics are per channel over N (and H, W).
Training normalises with the batch mean and the *biased* variance and updates the running
statistics in place with the *unbiased* variance:
    running = (1 - momentum) * running + momentum * batch_stat.
Eval normalises with the running statistics.
"""
from __future__ import annotations

import numpy as np

__all__ = ["batch_norm_forward", "batch_norm_backward"]


def _reduce_axes(x):
    if x.ndim not in (2, 4):
        raise ValueError(f"batch norm needs x of shape (N, C) or (N, C, H, W), got shape {x.shape}")
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    """A (C,) vector shaped to broadcast against x along axis 1."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum=0.1, eps=1e-5):
    """y = gamma * (x - mean) * invstd + beta, invstd = 1 / sqrt(var + eps), per channel.

    Args:
        x: (N, C) or (N, C, H, W).
        gamma, beta: (C,) scale and shift, or None (1 and 0: no affine transform).
        running_mean, running_var: (C,) running statistics. Training updates them in place
            (they may be None there: no tracking); eval reads them (required).
        training: batch statistics (True) or running statistics (False).
        momentum: weight of the batch statistic in the running average.
        eps: added to the variance.
    Returns:
        (y, mean, invstd): y like x; mean and invstd (C,) are the statistics used, which
        batch_norm_backward takes.
    """
    axes = _reduce_axes(x)
    channels = x.shape[1]
    if training:
        count = x.size // channels if channels else 0
        if count <= 1:
            raise ValueError("batch norm in training needs more than one value per channel "
                             f"(N*H*W > 1), got x of shape {x.shape}")
        mean = x.mean(axis=axes)
        var = ((x - _per_channel(mean, x)) ** 2).mean(axis=axes)  # biased: divides by N*H*W
        if running_mean is not None:
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        if running_var is not None:
            unbiased = var * (count / (count - 1))
            running_var[...] = (1 - momentum) * running_var + momentum * unbiased
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch norm in eval mode needs running_mean and running_var, got None")
        mean = np.asarray(running_mean, dtype=x.dtype)
        var = np.asarray(running_var, dtype=x.dtype)
    invstd = (1 / np.sqrt(var + eps)).astype(x.dtype)
    mean = mean.astype(x.dtype)
    y = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    if gamma is not None:
        y = y * _per_channel(gamma, x)
    if beta is not None:
        y = y + _per_channel(beta, x)
    return y.astype(x.dtype), mean, invstd


def batch_norm_backward(dy, x, gamma, mean, invstd, *, training=True):
    """Gradients of batch_norm_forward, from the mean and invstd it returned.

    With xhat = (x - mean) * invstd and M = N*H*W values per channel:
        dbeta = sum(dy), dgamma = sum(dy * xhat)  (over N, H, W);
        training: dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma)
                  (mean and invstd depend on x);
        eval:     dx = gamma * invstd * dy (the statistics are constants).
    gamma may be None (treated as 1). Returns (dx, dgamma, dbeta).
    """
    axes = _reduce_axes(x)
    channels = x.shape[1]
    count = x.size // channels if channels else 0
    xhat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    g = np.ones(channels, dtype=x.dtype) if gamma is None else gamma
    scale = _per_channel(g * invstd, x)
    if training:
        dx = scale / count * (count * dy - _per_channel(dbeta, x) - xhat * _per_channel(dgamma, x))
    else:
        dx = scale * dy
    return dx.astype(dy.dtype), dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)
