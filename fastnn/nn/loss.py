"""Losses: ``loss(pred, target)`` returns the loss as a float and keeps the gradient that the
fused op computed with it; ``loss.backward()`` returns dL/dpred, ready for ``model.backward``.
``reduction="mean"`` (PyTorch's default) or ``"sum"`` (the mean times the number of terms it
averages, the gradient likewise); ``"none"`` is not offered: a loss here is one float whose
backward() needs no upstream gradient (``fastnn.reference`` has the per-element formulas).
Targets are cast to the prediction's dtype (class indices for CrossEntropyLoss to int64):
inputs only, the prediction is never converted. The target must be on the prediction's device
(a NumPy target for a CuPy prediction is an error naming both, as in PyTorch; ``fit`` moves each
batch to the model's device itself)."""
from __future__ import annotations

import numpy as np

from .. import _device, ops
from .module import check_float_arg

__all__ = ["Loss", "MSELoss", "L1Loss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "GaussianNLLLoss"]


def _check_pred(name, pred):
    if not isinstance(pred, np.ndarray) and _device.device_of(pred) is None:
        raise TypeError(f"{name}: the prediction must be a float32/float64 ndarray, got {type(pred).__name__}")
    if pred.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: the prediction must be a float32/float64 ndarray, got {pred.dtype}")


def _on_device_of(name, pred, value, what="target"):
    """value as an array on pred's device: NumPy-convertible values for a NumPy prediction,
    a CuPy array for a CuPy one (anything else is an error naming both devices)."""
    if isinstance(pred, np.ndarray):
        if _device.device_of(value) == _device.CUDA:
            raise _device.mismatch(name, f"the {what}", value, "the prediction is on cpu",
                                   f"move the {what} to the host ({what}.get()) or the model to cuda")
        return np.asarray(value)
    if _device.device_of(value) != _device.CUDA:
        raise _device.mismatch(name, f"the {what}", value, "the prediction is on cuda",
                               f"move the {what} to the device first (cupy.asarray({what}))")
    return value


_REDUCTIONS = ("mean", "sum")


def _check_reduction(name, reduction):
    if reduction not in _REDUCTIONS:
        extra = (" (a fastnn loss is one float with a gradient; use fastnn.reference for per-element losses)"
                 if reduction == "none" else "")
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}{extra}")
    return reduction


def _float_target(name, pred, target):
    target = _on_device_of(name, pred, target)
    if target.shape != pred.shape:
        raise ValueError(f"{name}: target shape {target.shape} differs from prediction shape {pred.shape}")
    return _device.xp_of(target).ascontiguousarray(target, dtype=pred.dtype)


class Loss:
    """Base: ``__call__(pred, target) -> float``, ``backward() -> dL/dpred``; ``reduction`` "mean"
    over every element (PyTorch's default) or "sum"."""

    _op = ""

    def __init__(self, reduction: str = "mean"):
        self._grad = None
        self.reduction = _check_reduction(type(self).__name__, reduction)

    def _reduce(self, loss, grads, count):
        """The fused ops return the mean and its gradient; "sum" scales both by the count."""
        if self.reduction == "sum":
            return float(loss) * count, tuple(g * g.dtype.type(count) for g in grads)
        return float(loss), grads

    def __call__(self, pred, target) -> float:
        _check_pred(type(self).__name__, pred)
        loss, grad = getattr(ops, self._op)(pred, _float_target(type(self).__name__, pred, target))
        loss, (self._grad,) = self._reduce(loss, (grad,), pred.size)
        return loss

    def backward(self):
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss was computed")
        return self._grad

    def get_config(self) -> dict:
        return {"reduction": self.reduction}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class MSELoss(Loss):
    """mean((pred - target)^2)."""
    _op = "mse_loss"


class L1Loss(Loss):
    """mean(|pred - target|)."""
    _op = "l1_loss"


class BCELoss(Loss):
    """-mean(t log p + (1 - t) log(1 - p)) on probabilities p (logs clamped at -100, as PyTorch)."""
    _op = "bce_loss"


class BCEWithLogitsLoss(Loss):
    """BCELoss of sigmoid(logits), computed stably from the logits."""
    _op = "bce_with_logits_loss"


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (N, K), fused with the softmax.

    Target: class indices (N,) (any integer dtype) or probabilities (N, K) (soft labels, mixup).
    ``label_smoothing`` mixes the target with the uniform distribution (PyTorch). ``reduction``:
    "mean" over the N samples or "sum".
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.label_smoothing = check_float_arg("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def __call__(self, logits, target) -> float:
        _check_pred("CrossEntropyLoss", logits)
        if logits.ndim != 2:
            raise ValueError(f"CrossEntropyLoss expects logits of shape (N, K), got {logits.shape}")
        target = _on_device_of("CrossEntropyLoss", logits, target)
        if target.dtype.kind in "iub":
            if target.shape != logits.shape[:1]:
                raise ValueError(f"CrossEntropyLoss: class-index target must have shape {logits.shape[:1]}, "
                                 f"got {target.shape}")
            target = _device.xp_of(target).ascontiguousarray(target, dtype=np.int64)
        else:
            target = _float_target("CrossEntropyLoss", logits, target)
        loss, grad = ops.softmax_cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        loss, (self._grad,) = self._reduce(loss, (grad,), logits.shape[0])
        return loss

    def get_config(self):
        return {"label_smoothing": self.label_smoothing, "reduction": self.reduction}


class GaussianNLLLoss(Loss):
    """Gaussian negative log likelihood: mean(0.5 * (log(var) + (target - mean)^2 / var))
    (+ 0.5 log(2 pi) when full), var clamped at eps (PyTorch).

    ``loss(mean, target, var)``; ``backward()`` returns ``(dmean, dvar)``: the model predicts both.
    """

    def __init__(self, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full = bool(full)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)

    def __call__(self, mean, target, var) -> float:
        _check_pred("GaussianNLLLoss", mean)
        target = _float_target("GaussianNLLLoss", mean, target)
        var = _on_device_of("GaussianNLLLoss", mean, var, "var")
        if var.dtype != mean.dtype:
            raise TypeError(f"GaussianNLLLoss: var has dtype {var.dtype} but mean has {mean.dtype}")
        loss, dmean, dvar = ops.gaussian_nll_loss(mean, target, var, full=self.full, eps=self.eps)
        loss, self._grad = self._reduce(loss, (dmean, dvar), mean.size)
        return loss

    def get_config(self):
        return {"full": self.full, "eps": self.eps, "reduction": self.reduction}
