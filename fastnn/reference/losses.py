"""Loss functions in plain NumPy (PyTorch semantics, reduction='mean'), each returning the loss
and its gradient. Computed in the input's dtype; the loss is a Python float.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["softmax_cross_entropy", "mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss",
           "gaussian_nll_loss"]


def check_labels(target, classes: int) -> None:
    """Integer labels must lie in [0, classes); the message names the first bad one."""
    bad = np.flatnonzero((target < 0) | (target >= classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"target label {int(target.reshape(-1)[i])} at index {i} is outside [0, {classes}) "
                         f"({bad.size} bad label{'s' if bad.size > 1 else ''})")


def check_label_smoothing(label_smoothing) -> float:
    ls = float(label_smoothing)
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return ls


def softmax_cross_entropy(logits, target, label_smoothing=0.0):
    """Mean over rows of -sum_k q_k * log_softmax(logits)_k.

    Args:
        logits: (N, K).
        target: int (N,) class indices in [0, K) (q = one-hot), or float (N, K) probabilities
            (soft labels, mixup; q = target).
        label_smoothing: eps in [0, 1]: q <- (1 - eps) * q + eps / K (PyTorch).
    Returns:
        (loss, dlogits) with dlogits = (softmax(logits) * sum_k q_k - q) / N.
    Terms with q_k = 0 contribute 0 even where the logit is -inf (0 * log 0 = 0), so a class
    that cannot occur may carry a -inf logit. N = 0 gives loss NaN (mean of nothing, as PyTorch).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, K), got shape {logits.shape}")
    n, k = logits.shape
    ls = check_label_smoothing(label_smoothing)
    if np.issubdtype(target.dtype, np.integer):
        if target.shape != (n,):
            raise ValueError(f"integer target must have shape ({n},), got {target.shape}")
        check_labels(target, k)
        q = np.zeros(logits.shape, dtype=logits.dtype)
        q[np.arange(n), target.astype(np.int64)] = 1
    else:
        if target.shape != logits.shape:
            raise ValueError(f"probability target must have the shape of logits {logits.shape}, got {target.shape}")
        q = target.astype(logits.dtype)
    if ls:
        q = (1 - ls) * q + ls / k
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        terms = np.where(q == 0, 0, q * logp)
        p = np.exp(logp)
    losses = -terms.sum(axis=1)
    loss = float(losses.mean()) if n else math.nan
    grad = (p * q.sum(axis=1, keepdims=True) - q) / max(n, 1)
    return loss, grad.astype(logits.dtype)


def _mean(values) -> float:
    return float(values.mean()) if values.size else math.nan


def mse_loss(pred, target):
    """mean((pred - target)^2); grad 2 (pred - target) / n."""
    d = pred - target
    return _mean(d * d), (2 * d / max(d.size, 1)).astype(pred.dtype)


def l1_loss(pred, target):
    """mean(|pred - target|); grad sign(pred - target) / n (0 where equal, and where the difference
    is NaN: PyTorch's sign(NaN) is 0, so its L1 gradient there is 0)."""
    d = pred - target
    sign = np.where(d > 0, 1.0, np.where(d < 0, -1.0, 0.0))
    return _mean(np.abs(d)), (sign / max(d.size, 1)).astype(pred.dtype)


def check_probabilities(prob, name: str = "prob") -> None:
    bad = np.flatnonzero(~((prob >= 0) & (prob <= 1)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"bce_loss: {name} must lie in [0, 1], got {prob.reshape(-1)[i]!r} at index {i}")


# PyTorch clamps the gradient's denominator p * (1 - p) at 1e-12 (aten/src/ATen/native/Loss.cpp),
# a float constant there: 1e-12 rounded to float32.
BCE_GRAD_EPSILON = float(np.float32(1e-12))


def bce_loss(prob, target):
    """-mean(t log p + (1 - t) log(1 - p)), each log clamped at -100 (PyTorch).

    Grad (p - t) / max(p (1 - p), 1e-12) / n, PyTorch's formula. prob or target outside [0, 1]
    raises (as PyTorch's BCELoss).
    """
    check_probabilities(prob)
    check_probabilities(target, "target")
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(prob), -100)
        log_1mp = np.maximum(np.log(1 - prob), -100)
    loss = _mean(-(target * log_p + (1 - target) * log_1mp))
    grad = (prob - target) / np.maximum(prob * (1 - prob), BCE_GRAD_EPSILON) / max(prob.size, 1)
    return loss, grad.astype(prob.dtype)


def bce_with_logits_loss(logits, target):
    """mean(max(x, 0) - x t + log(1 + exp(-|x|))) (stable BCE of sigmoid(x)); grad (sigmoid(x) - t) / n."""
    x = logits
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    loss = _mean(np.maximum(x, 0) - x * target + np.log1p(e))
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return loss, ((sig - target) / max(x.size, 1)).astype(x.dtype)


def gaussian_nll_loss(mean, target, var, full=False, eps=1e-6):
    """mean(0.5 (log v + (target - mean)^2 / v)) (+ 0.5 log(2 pi) when full), v = max(var, eps).

    var has the shape of mean; negative var raises (PyTorch). As in PyTorch, the clamp is not
    differentiated (it is done under no_grad there): dvar is taken at v even where var < eps.
    Returns (loss, dmean, dvar):
        dmean = (mean - target) / v / n,  dvar = 0.5 (1 / v - (target - mean)^2 / v^2) / n.
    """
    if var.shape != mean.shape:
        raise ValueError(f"var must have the shape of mean {mean.shape}, got {var.shape}")
    if np.any(var < 0):
        i = int(np.flatnonzero(var < 0)[0])
        raise ValueError(f"gaussian_nll_loss: var must be non-negative, got {var.reshape(-1)[i]!r} at index {i}")
    v = np.maximum(var, eps)
    d = mean - target
    terms = 0.5 * (np.log(v) + d * d / v)
    loss = _mean(terms)
    if full:
        loss += 0.5 * math.log(2 * math.pi)
    n = max(mean.size, 1)
    dmean = d / v / n
    dvar = 0.5 * (1 / v - d * d / (v * v)) / n
    return loss, dmean.astype(mean.dtype), dvar.astype(var.dtype)
