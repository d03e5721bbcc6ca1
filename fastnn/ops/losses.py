"""Loss functions, each fused with its gradient: one native pass returns ``(loss, grad...)``.

Reduction is the mean (PyTorch's default); the loss is a Python float (NaN for empty inputs),
gradients have the prediction's dtype. Numerically stable: softmax cross-entropy handles logits
of +-1e8 and -inf, BCE clamps its logs at -100 as PyTorch does.
"""
from __future__ import annotations

import math

import numpy as np

from ._dispatch import backend, check_float, contiguous, empty, get_array_module, same_dtype, same_shape

__all__ = ["LabelError", "softmax_cross_entropy", "mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss", "gaussian_nll_loss"]


class LabelError(ValueError, IndexError):
    """A class label outside [0, K): a ValueError, and an IndexError like PyTorch's "Target ...
    is out of bounds", so code written for either catches it."""


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    return float(value)


def softmax_cross_entropy(logits, target, label_smoothing=0.0):
    """Mean over rows of -sum_k q_k log softmax(logits)_k, with its gradient.

    Args:
        logits: (N, K) float32 or float64.
        target: integer (N,) class labels in [0, K) (q = one-hot), or (N, K) probabilities of
            logits' dtype (soft labels, mixup).
        label_smoothing: eps in [0, 1]: q <- (1 - eps) q + eps / K (PyTorch).
    Returns:
        (loss, dlogits), dlogits = (softmax(logits) * sum(q) - q) / N.
    Raises:
        LabelError (a ValueError and an IndexError) naming the first label outside [0, K).
    """
    check_float(logits, "logits")
    xp = get_array_module(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D (N, K), got shape {logits.shape}")
    ls = _real(label_smoothing, "label_smoothing")
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if not isinstance(target, xp.ndarray):
        raise TypeError(f"target must be a {xp.__name__}.ndarray, got {type(target).__name__}")
    if target.dtype.kind in "iu":
        if target.shape != (logits.shape[0],):
            raise ValueError(f"integer target must have shape ({logits.shape[0]},), got {target.shape}")
        if target.dtype == np.uint64 and target.size and target.max() > np.iinfo(np.int64).max:
            i = int(np.argmax(target > np.iinfo(np.int64).max))  # the first such label
            raise LabelError(f"target label {int(target[i])} at index {i} is outside [0, {logits.shape[1]})")
        target = xp.ascontiguousarray(target, dtype=np.int64)  # labels are an input: an exact copy is fine
    elif target.dtype.kind == "f":
        same_dtype(logits, "logits", target, "target")
        same_shape(logits, "logits", target, "target")
        target = contiguous(target)
    else:
        raise TypeError(f"target must hold integer class labels or float probabilities, got dtype {target.dtype}")
    logits = contiguous(logits)
    grad = empty(logits.shape, logits.dtype, xp)
    try:
        loss = backend(logits, target).softmax_cross_entropy(logits, target, grad, ls)
    except ValueError as e:  # the native check of the labels: the same error class as above
        if str(e).startswith("target label "):
            raise LabelError(str(e)) from None
        raise
    return loss, grad


def _pointwise(name: str, pred, target, pred_name: str):
    check_float(pred, pred_name)
    same_dtype(pred, pred_name, target, "target")
    same_shape(pred, pred_name, target, "target")
    pred, target = contiguous(pred), contiguous(target)
    grad = get_array_module(pred).empty_like(pred)
    loss = backend(pred, target).pointwise_loss(name.removesuffix("_loss"), pred, target, grad)
    return loss, grad


def mse_loss(pred, target):
    """mean((pred - target)^2); returns (loss, dpred) with dpred = 2 (pred - target) / n."""
    return _pointwise("mse_loss", pred, target, "pred")


def l1_loss(pred, target):
    """mean(|pred - target|); returns (loss, dpred) with dpred = sign(pred - target) / n (0 where equal
    and where the difference is NaN, as PyTorch)."""
    return _pointwise("l1_loss", pred, target, "pred")


def bce_loss(prob, target):
    """-mean(t log p + (1 - t) log(1 - p)), logs clamped at -100 (PyTorch).

    Returns (loss, dprob), dprob = (p - t) / max(p (1 - p), 1e-12) / n. prob or target outside [0, 1] raises ValueError
    (as PyTorch's BCELoss; NaN counts as outside).
    """
    return _pointwise("bce_loss", prob, target, "prob")


def bce_with_logits_loss(logits, target):
    """BCE of sigmoid(logits), computed stably: mean(max(x, 0) - x t + log(1 + exp(-|x|))).

    Returns (loss, dlogits), dlogits = (sigmoid(x) - t) / n.
    """
    return _pointwise("bce_with_logits_loss", logits, target, "logits")


def gaussian_nll_loss(mean, target, var, full=False, eps=1e-6):
    """mean(0.5 (log v + (target - mean)^2 / v)) (+ 0.5 log(2 pi) when full), v = max(var, eps).

    var has the shape of mean; a negative var raises ValueError (PyTorch). Returns
    (loss, dmean, dvar); as in PyTorch the clamp is not differentiated (dvar is taken at v).
    """
    check_float(mean, "mean")
    same_dtype(mean, "mean", target, "target")
    same_dtype(mean, "mean", var, "var")
    same_shape(mean, "mean", target, "target")
    same_shape(mean, "mean", var, "var")
    eps = _real(eps, "eps")
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    mean, target, var = contiguous(mean), contiguous(target), contiguous(var)
    xp = get_array_module(mean)
    dmean, dvar = empty(mean.shape, mean.dtype, xp), empty(mean.shape, mean.dtype, xp)
    loss = backend(mean, target, var).gaussian_nll_loss(mean, target, var, dmean, dvar, bool(full), eps)
    return loss, dmean, dvar
