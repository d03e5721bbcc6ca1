"""Losses: ``loss(pred, target)`` returns the loss as a float and keeps the gradient that the
fused op computed with it; ``loss.backward()`` returns dL/dpred, ready for ``model.backward``.
``reduction="mean"`` (PyTorch's default) or ``"sum"`` (the mean times the number of terms it
averages, the gradient likewise) give one float, and ``backward()`` its gradient (``backward(c)``
that gradient times the number c, as PyTorch's ``loss.backward(c)``). ``reduction="none"``
gives the loss of every element (every sample for the classification losses) as an array of the
prediction's dtype, as PyTorch; its ``backward(dy)`` then needs dy, the gradient of whatever you
reduce those losses to (the array's shape), and returns dy times each element's gradient
(computed in float64 from PyTorch's formulas, the fused kernels serving "mean" and "sum").
Targets are cast to the prediction's dtype (class indices for CrossEntropyLoss to int64):
inputs only, the prediction is never converted. The target must be on the prediction's device
(a NumPy target for a CuPy prediction is an error naming both, as in PyTorch; ``fit`` moves each
batch to the model's device itself)."""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _device, ops
from .module import Module, check_float_arg

__all__ = ["Loss", "MSELoss", "L1Loss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "GaussianNLLLoss",
           "HuberLoss", "SmoothL1Loss", "NLLLoss", "KLDivLoss"]


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


_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{name}: reduction must be one of {allowed}, got {reduction!r}")
    return reduction


def _legacy_reduction(name, size_average, reduce, reduction):
    """PyTorch's deprecated size_average / reduce pair: either given overrides reduction, by
    torch's rule (reduce False -> "none", else size_average False -> "sum", else "mean"), with
    torch's warning."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else bool(size_average)
    reduce = True if reduce is None else bool(reduce)
    legacy = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn(f"{name}: size_average and reduce args will be deprecated, please use "
                  f"reduction='{legacy}' instead.", UserWarning, stacklevel=3)
    return legacy


def _class_weight_arg(name, weight):
    """A bare number where PyTorch's first argument, the class weights, goes: fastnn's earlier
    positional label_smoothing (or a mistake); an error as in PyTorch, saying so."""
    if isinstance(weight, (bool, int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: weight must be a 1-D array of class weights, got the number {weight!r}. "
                        "The arguments are PyTorch's, in its order: (weight, size_average, ignore_index, reduce, "
                        "reduction, label_smoothing); pass label_smoothing= by keyword")
    return weight


def _as_array(a):
    """a as an array: NumPy arithmetic on 0-d arrays gives scalars (a 0-d prediction's loss
    terms and gradient), and a loss gives arrays, as PyTorch's 0-d tensors."""
    return np.asarray(a) if isinstance(a, np.generic) else a


def _float_target(name, pred, target):
    target = _on_device_of(name, pred, target)
    if target.shape != pred.shape:  # PyTorch broadcasts (with a warning): (N, 1) with (N,) is N x N terms
        raise ValueError(f"{name}: target shape {target.shape} differs from prediction shape {pred.shape} "
                         "(the target is not broadcast: reshape it to the prediction's shape)")
    # reshape: ascontiguousarray makes a 0-d array 1-d
    return _device.xp_of(target).ascontiguousarray(target, dtype=pred.dtype).reshape(target.shape)


class Loss(Module):
    """Base: ``loss(pred, target) -> float`` (``forward``), ``backward() -> dL/dpred``;
    ``reduction`` "mean" over every element (PyTorch's default) or "sum". A Module, as torch's
    losses are: forward hooks run on ``loss(...)``, ``.to()``, ``train()`` / ``eval()``, and a loss
    can sit in a ModuleDict or be a model's attribute."""

    _op = ""
    # torch registers a loss's class / element weights as buffers: in state_dict (when given),
    # moved by to(); None stays a plain attribute with no state_dict entry, as torch's None buffer.
    _WEIGHT_BUFFERS = ("weight", "pos_weight")

    def __setattr__(self, name, value):
        if name in self._WEIGHT_BUFFERS and "_buffers" in self.__dict__:
            if value is None:
                self._buffers.pop(name, None)
            elif name not in self._buffers:
                self.__dict__.pop(name, None)
                self.register_buffer(name, value)
                return
        super().__setattr__(name, value)

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self._grad = None
        self.reduction = _check_reduction(type(self).__name__, reduction)

    def _reduce(self, loss, grads, count):
        """The fused ops return the mean and its gradient; "sum" scales both by the count (the
        sum of no terms is 0, as PyTorch's, where the mean is NaN)."""
        if self.reduction == "sum":
            return (float(loss) * count if count else 0.0), tuple(g * g.dtype.type(count) for g in grads)
        return float(loss), grads

    def _unreduced(self, terms, grads, dtype, expand=None, fold=None):
        """reduction="none": keep each element's gradient (grads, float64) for backward(dy) and
        return the losses (terms, float64) in the prediction's dtype. expand(dy) maps dy (the
        losses' shape) onto the gradients' (the classification losses: a class axis); fold, one
        callable or None per gradient, maps dy * gradient back to a broadcast input's shape."""
        self._grad = grads if len(grads) > 1 else grads[0]
        self._none = (terms.shape, dtype, expand, fold or (None,) * len(grads))
        return _as_array(terms).astype(dtype)

    def forward(self, pred, target) -> float:
        name = type(self).__name__
        _check_pred(name, pred)
        target = _float_target(name, pred, target)
        if self.reduction == "none":
            terms, grad = self._elementwise(pred, target)
            return self._unreduced(terms, (grad,), pred.dtype)
        loss, grad = getattr(ops, self._op)(pred, target)
        loss, (self._grad,) = self._reduce(loss, (grad,), pred.size)
        return loss

    def _elementwise(self, pred, target):
        """(per-element losses, their gradients), float64 arrays of pred's shape."""
        raise NotImplementedError

    def backward(self, dy=None):
        """dL/dpred. "mean"/"sum": the loss's gradient (times dy, a number, when given).
        "none": dy (the losses' shape) is required; returns dy times each element's gradient."""
        name = type(self).__name__
        if self._grad is None:
            raise RuntimeError(f"{name}.backward called before the loss was computed")
        grads = tuple(map(_as_array, self._grad if isinstance(self._grad, tuple) else (self._grad,)))
        if self.reduction == "none":
            shape, dtype, expand, fold = self._none
            if dy is None:
                raise ValueError(f"{name}.backward: with reduction='none' the loss is an array of shape {shape}: "
                                 "pass dy, the gradient of what you reduce it to (e.g. ones / N for its mean)")
            xp = _device.xp_of(grads[0])
            dy = xp.asarray(dy, dtype=np.float64)
            if dy.shape != shape:
                raise ValueError(f"{name}.backward: dy must have the losses' shape {shape}, got {dy.shape}")
            if expand is not None:
                dy = expand(dy)
            out = tuple((g * dy if f is None else f(g * dy)).astype(dtype) for g, f in zip(grads, fold))
        elif dy is None:
            out = grads
        else:
            if not isinstance(dy, (int, float, np.integer, np.floating)) and getattr(dy, "size", 2) != 1:
                raise ValueError(f"{name}.backward: the loss is one number, so dy must be one number, got {dy!r}")
            c = float(dy)
            out = tuple(g * g.dtype.type(c) for g in grads)
        out = tuple(map(_as_array, out))
        return out if isinstance(self._grad, tuple) else out[0]

    def get_config(self) -> dict:
        return {"reduction": self.reduction}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class MSELoss(Loss):
    """mean((pred - target)^2)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("MSELoss", size_average, reduce, reduction))
    _op = "mse_loss"

    def _elementwise(self, pred, target):
        d = pred.astype(np.float64) - target.astype(np.float64)
        return d * d, 2.0 * d


def _torch_sign(xp, d):
    """sign(d) with 0 for NaN, as torch.sign (the gradient of torch's L1 losses)."""
    return xp.where(d > 0, 1.0, xp.where(d < 0, -1.0, 0.0))


class L1Loss(Loss):
    """mean(|pred - target|); the gradient at a tie is 0, and where pred - target is NaN (PyTorch's
    sign, which gives 0 for NaN)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("L1Loss", size_average, reduce, reduction))
    _op = "l1_loss"

    def _elementwise(self, pred, target):
        xp = _device.xp_of(pred)
        d = pred.astype(np.float64) - target.astype(np.float64)
        return xp.abs(d), _torch_sign(xp, d)


def _weight_array(name, what, value):
    """A finite real weight array (host float64), or None."""
    if value is None:
        return None
    if _device.device_of(value) == _device.CUDA:
        value = _device.to_host(value)
    w = np.asarray(value)
    if w.dtype.kind not in "iuf" or w.size == 0:
        raise ValueError(f"{name}: {what} must be a non-empty array of real numbers. "
                         f"Received: shape {w.shape}, dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: {what} must be finite. Received: {what}={w.tolist()!r}")
    return w


def _broadcast_weight(name, what, w, pred):
    """w on pred's device, checked to broadcast to pred's shape (as PyTorch's)."""
    try:
        shape = np.broadcast_shapes(w.shape, pred.shape)
    except ValueError:
        shape = None
    if shape != pred.shape:
        raise ValueError(f"{name}: {what} of shape {w.shape} does not broadcast to the prediction's shape {pred.shape}")
    return _device.xp_of(pred).asarray(w)


class _WeightedBCE(Loss):
    """A BCE loss with an optional per-element ``weight`` (broadcast to the prediction, as
    PyTorch's): the loss is mean (or sum) of weight * term, its gradient weight * d term."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction(type(self).__name__, size_average, reduce, reduction))
        self.weight = _weight_array(type(self).__name__, "weight", weight)

    def _weighted(self, pred, target):
        """(per-element terms in float64, gradient of their mean) for the weighted path."""
        raise NotImplementedError

    def _elementwise(self, pred, target):
        terms, grad = self._weighted(pred, target)
        return terms, grad.astype(np.float64) * max(pred.size, 1)  # the mean's gradient, times n

    def forward(self, pred, target) -> float:
        name = type(self).__name__
        _check_pred(name, pred)
        target = _float_target(name, pred, target)
        if self.reduction == "none":
            terms, grad = self._elementwise(pred, target)
            if self.weight is not None:
                w = _broadcast_weight(name, "weight", self.weight, pred)
                terms, grad = terms * w, grad * w
            return self._unreduced(terms, (grad,), pred.dtype)
        if self.weight is None and getattr(self, "pos_weight", None) is None:
            loss, grad = getattr(ops, self._op)(pred, target)
            loss, (self._grad,) = self._reduce(loss, (grad,), pred.size)
            return loss
        terms, grad = self._weighted(pred, target)
        if self.weight is not None:
            w = _broadcast_weight(name, "weight", self.weight, pred)
            terms = terms * w
            grad = grad * w.astype(grad.dtype)
        loss = float(terms.sum()) / max(pred.size, 1) if pred.size else float("nan")
        loss, (self._grad,) = self._reduce(loss, (grad.astype(pred.dtype, copy=False),), pred.size)
        return loss

    def get_config(self):
        config = super().get_config()
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        return config


class BCELoss(_WeightedBCE):
    """-mean(t log p + (1 - t) log(1 - p)) on probabilities p (logs clamped at -100, as PyTorch).
    ``weight`` (optional, broadcast to p's shape) scales each element's term, as PyTorch's."""
    _op = "bce_loss"

    def _weighted(self, prob, target):
        _, grad = ops.bce_loss(prob, target)  # validates prob and target in [0, 1]; gradient of the mean
        xp = _device.xp_of(prob)
        p, t = prob.astype(np.float64), target.astype(np.float64)
        with np.errstate(divide="ignore"):
            terms = -(t * xp.maximum(xp.log(p), -100.0) + (1.0 - t) * xp.maximum(xp.log1p(-p), -100.0))
        return terms, grad

    def _elementwise(self, prob, target):
        terms, _ = self._weighted(prob, target)
        p, t = prob.astype(np.float64), target.astype(np.float64)
        # PyTorch's gradient, its denominator clamped at 1e-12 written as a float constant
        eps = float(np.float32(1e-12))
        return terms, (p - t) / _device.xp_of(p).maximum(p * (1.0 - p), eps)


class BCEWithLogitsLoss(_WeightedBCE):
    """BCELoss of sigmoid(logits), computed stably from the logits.

    ``weight`` (optional) as BCELoss's; ``pos_weight`` (optional, broadcast to the logits' shape:
    one value per class along the last axis) weighs the positive term, as PyTorch's:
    term = -(pos_weight t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))."""
    _op = "bce_with_logits_loss"

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(weight, size_average, reduce, reduction)
        self.pos_weight = _weight_array("BCEWithLogitsLoss", "pos_weight", pos_weight)

    def _weighted(self, logits, target):
        xp = _device.xp_of(logits)
        x, t = logits.astype(np.float64), target.astype(np.float64)
        pw = 1.0 if self.pos_weight is None else _broadcast_weight(
            "BCEWithLogitsLoss", "pos_weight", self.pos_weight, logits)
        log_weight = 1.0 + (pw - 1.0) * t
        tail = xp.log1p(xp.exp(-xp.abs(x)))
        softplus_neg = tail + xp.maximum(-x, 0.0)  # -log sigmoid(x)
        one_minus_sig = xp.exp(-(tail + xp.maximum(x, 0.0)))  # 1 - sigmoid(x) = exp(-softplus(x))
        terms = (1.0 - t) * x + log_weight * softplus_neg
        grad = ((1.0 - t) - log_weight * one_minus_sig) / max(logits.size, 1)
        return terms, grad

    def get_config(self):
        config = super().get_config()
        if self.pos_weight is not None:
            config["pos_weight"] = self.pos_weight.tolist()
        return config


def _class_rows(name, logits, target):
    """Classification inputs as rows: (rows (R, K), target rows ((R,) labels or (R, K)), layout),
    for logits (K,) (one sample), (N, K) or (N, K, d1, ...) (every position a sample, PyTorch's
    K-dimensional case). layout(loss, terms (R,), grad (R, K), dtype) stores the per-sample
    gradients in the logits' layout for backward(dy) and returns the losses, shaped (), (N,)
    or (N, d1, ...)."""
    if logits.ndim == 0:
        raise ValueError(f"{name} expects logits of shape (N, K), (K,) or (N, K, d1, ...), got {logits.shape}")
    xp = _device.xp_of(logits)
    target = _on_device_of(name, logits, target)
    labels = target.dtype.kind in "iub"
    k = logits.shape[-1] if logits.ndim == 1 else logits.shape[1]
    if logits.ndim == 1:
        want = () if labels else logits.shape
        if target.shape != want:
            raise ValueError(f"{name}: for unbatched logits {logits.shape} the target must be "
                             f"{'a 0-d class index' if want == () else f'of shape {want}'}, got shape {target.shape}")
        rows, t = logits[None], target[None]

        def layout(loss, terms, grad, dtype):
            return loss._unreduced(terms.reshape(()), (grad[0],), dtype)
        return rows, t, layout
    spatial = logits.shape[2:]
    want = logits.shape[:1] + spatial if labels else logits.shape
    if target.shape != want:
        what = "class-index target" if labels else "target"
        raise ValueError(f"{name}: {what} must have shape {want} for logits {logits.shape}, got {target.shape}")
    if logits.ndim == 2:
        def layout(loss, terms, grad, dtype):
            return loss._unreduced(terms, (grad,), dtype, expand=lambda dy: dy[:, None])
        return logits, target, layout
    rows = xp.moveaxis(logits, 1, -1).reshape(-1, k)
    t = target.reshape(-1) if labels else xp.moveaxis(target, 1, -1).reshape(-1, k)

    def layout(loss, terms, grad, dtype):
        g = xp.moveaxis(grad.reshape(logits.shape[:1] + spatial + (k,)), -1, 1)
        return loss._unreduced(terms.reshape(logits.shape[:1] + spatial), (g,), dtype,
                               expand=lambda dy: xp.expand_dims(dy, 1))
    return rows, t, layout


def _class_weights(name, weight, rows, shape):
    """The per-class weights (K,) on rows' device: weight checked to have K entries, or ones."""
    k = rows.shape[1]
    if weight is not None and weight.size != k:
        raise ValueError(f"{name}: weight has {weight.size} entries but the input has {k} classes "
                         f"(shape {shape}); give one weight per class")
    xp = _device.xp_of(rows)
    return xp.ones(k) if weight is None else xp.asarray(weight)


def _checked_labels(name, target, k, ignore_index):
    """(labels (N,) int64 with ignored ones set to 0, kept as float64 0/1) for class indices
    (N,) in [0, k). A bad label is reported as given (a uint64 one past int64's range is
    negative after the cast)."""
    xp = _device.xp_of(target)
    labels = target.astype(np.int64)
    ignored = labels == ignore_index
    bad = ~ignored & ((labels < 0) | (labels >= k))
    if bool(bad.any()):
        i = int(xp.argmax(bad))
        raise ops.LabelError(f"{name}: target label {int(target[i])} at index {i} is outside [0, {k}) "
                         f"(and is not ignore_index={ignore_index})")
    return xp.where(ignored, 0, labels), (~ignored).astype(np.float64)


def _check_soft_ignore_index(ignore_index):
    """PyTorch's rule for probability targets: a negative ignore_index (the default -100) is
    accepted and unused, a class index is an error."""
    if ignore_index >= 0:
        raise ValueError("CrossEntropyLoss: ignore_index applies to class-index targets only, not to "
                         f"probabilities (PyTorch's rule). Received: ignore_index={ignore_index}")


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (N, K), fused with the softmax.

    Target: class indices (N,) (any integer dtype) or probabilities (N, K) (soft labels, mixup).
    Logits (K,) are one sample; (N, K, d1, ...) make every position a sample (targets (N, d1,
    ...) or (N, K, d1, ...); the mean is over all positions), as PyTorch. ``label_smoothing`` in
    [0, 1] mixes the target with the uniform distribution (PyTorch). ``reduction``: "mean" over
    the N samples, "sum" or "none".

    Arguments in PyTorch's order: ``(weight=None, size_average=None, ignore_index=-100,
    reduce=None, reduction="mean", label_smoothing=0.0)``; the deprecated ``size_average`` /
    ``reduce``, when given, override ``reduction`` by PyTorch's rule (with its warning).

    ``weight``: a weight per class, shape (K,), as PyTorch's: sample n's loss is
    ``-(1 - eps) w[y_n] log p[y_n] - eps / K * sum_k w[k] log p[k]`` for class indices, and
    "mean" divides the sum by ``sum_n w[y_n]`` (not by N); for probability targets each term
    ``-q[n, k] log p[n, k]`` is scaled by ``w[k]`` and "mean" divides by N.
    ``ignore_index`` (class indices only): samples with this label add nothing to the
    loss, its gradient or the mean's divisor (PyTorch's default -100); when every sample is
    ignored, "mean" is NaN (0 / 0) with a zero gradient, "sum" is 0. With probability targets
    a negative ignore_index is unused and one >= 0 an error, as in PyTorch.
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        weight = _class_weight_arg("CrossEntropyLoss", weight)
        super().__init__(_legacy_reduction("CrossEntropyLoss", size_average, reduce, reduction))
        self.label_smoothing = check_float_arg("label_smoothing", label_smoothing, low=0.0, high=1.0)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"CrossEntropyLoss: ignore_index must be an int. Received: ignore_index={ignore_index!r}")
        self.ignore_index = int(ignore_index)
        self.weight = None
        if weight is not None:
            w = _device.to_host(weight) if _device.device_of(weight) == _device.CUDA else weight
            w = np.asarray(w)
            if w.ndim != 1 or w.size == 0 or w.dtype.kind not in "iuf":
                raise ValueError("CrossEntropyLoss: weight must be a 1-D array of real numbers, one per class. "
                                 f"Received: shape {w.shape}, dtype {w.dtype}")
            w = w.astype(np.float64)
            if not np.all(np.isfinite(w)):
                raise ValueError(f"CrossEntropyLoss: weight must be finite. Received: weight={w.tolist()!r}")
            self.weight = w

    def forward(self, logits, target) -> float:
        _check_pred("CrossEntropyLoss", logits)
        if self.reduction == "none":
            return self._per_sample(logits, target)
        if logits.ndim == 2:
            return self._rows(logits, target)
        if logits.ndim == 0:
            raise ValueError(f"CrossEntropyLoss expects logits of shape (N, K), (K,) or (N, K, d1, ...), "
                             f"got {logits.shape}")
        xp = _device.xp_of(logits)
        target = _on_device_of("CrossEntropyLoss", logits, target)
        if logits.ndim == 1:  # one unbatched sample: (K,) with a scalar label or (K,) probabilities
            want = () if target.dtype.kind in "iub" else logits.shape
            if target.shape != want:
                raise ValueError(f"CrossEntropyLoss: for unbatched logits {logits.shape} the target must be "
                                 f"{'a 0-d class index' if want == () else f'of shape {want}'}, got shape {target.shape}")
            loss = self._rows(logits[None], target[None])
            self._grad = self._grad[0]
            return loss
        # (N, K, d1, ...): every position is a sample (PyTorch's K-dimensional case, e.g. per-pixel
        # classes); the class axis moves last and the positions become rows.
        k = logits.shape[1]
        rows = xp.ascontiguousarray(xp.moveaxis(logits, 1, -1)).reshape(-1, k)
        if target.dtype.kind in "iub":
            want = logits.shape[:1] + logits.shape[2:]
            if target.shape != want:
                raise ValueError(f"CrossEntropyLoss: class-index target must have shape {want} for logits "
                                 f"{logits.shape}, got {target.shape}")
            flat = target.reshape(-1)
        else:
            if target.shape != logits.shape:
                raise ValueError(f"CrossEntropyLoss: target shape {target.shape} differs from prediction shape "
                                 f"{logits.shape}")
            flat = xp.ascontiguousarray(xp.moveaxis(target, 1, -1)).reshape(-1, k)
        loss = self._rows(rows, flat)
        moved = self._grad.reshape(logits.shape[:1] + logits.shape[2:] + (k,))
        self._grad = xp.ascontiguousarray(xp.moveaxis(moved, -1, 1))
        return loss

    def _rows(self, logits, target) -> float:
        """The loss of (N, K) logits."""
        n, k = logits.shape
        if self.weight is not None and self.weight.size != k:
            raise ValueError(f"CrossEntropyLoss: weight has {self.weight.size} entries but the logits have "
                             f"{k} classes (shape {logits.shape}); give one weight per class")
        xp = _device.xp_of(logits)
        target = _on_device_of("CrossEntropyLoss", logits, target)
        if target.dtype.kind in "iub":
            if target.shape != logits.shape[:1]:
                raise ValueError(f"CrossEntropyLoss: class-index target must have shape {logits.shape[:1]}, "
                                 f"got {target.shape}")
            labels = xp.ascontiguousarray(target, dtype=np.int64)
            if self.weight is None and not bool((labels == self.ignore_index).any()):  # the fused op as it is
                try:  # it checks the labels itself (the Python check costs ~10 us of a training step)
                    loss, grad = ops.softmax_cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
                except ValueError:  # a label outside [0, K): said as given, as on the other paths
                    _checked_labels("CrossEntropyLoss", target, k, self.ignore_index)
                    raise
                loss, (self._grad,) = self._reduce(loss, (grad,), n)
                return loss
            labels, kept = _checked_labels("CrossEntropyLoss", target, k, self.ignore_index)
            return self._weighted_labels(logits, labels, kept, xp)
        if target.dtype.kind == "f" and target.shape == logits.shape[:1]:
            # float class indices (labels loaded as floats): torch says "expected Long"
            raise TypeError(f"CrossEntropyLoss: a target of shape {target.shape} holds class indices, which must "
                            f"be integers, got {target.dtype} (cast it: y.astype(np.int64)); a float target "
                            f"holds class probabilities, of the logits' shape {logits.shape}")
        _check_soft_ignore_index(self.ignore_index)
        target = _float_target("CrossEntropyLoss", logits, target)
        if self.weight is None:
            loss, grad = ops.softmax_cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        else:
            eps = self.label_smoothing
            w = xp.asarray(self.weight)
            q = (w * ((1.0 - eps) * target.astype(np.float64) + eps / k)).astype(logits.dtype)
            loss, grad = ops.softmax_cross_entropy(logits, q)
        loss, (self._grad,) = self._reduce(loss, (grad,), n)
        return loss

    def _weighted_labels(self, logits, labels, kept, xp):
        """Class weights and/or ignored samples (labels checked, 0 where kept is 0): the fused op
        on the soft target q[n] = (1 - eps) w[y_n] onehot(y_n) + eps / K w (zero for an ignored
        sample), whose mean over N and gradient are rescaled to PyTorch's divisor sum_n w[y_n]."""
        n, k = logits.shape
        w = xp.ones(k) if self.weight is None else xp.asarray(self.weight)
        w_label = w[labels] * kept
        eps = self.label_smoothing
        q = (eps / k) * kept[:, None] * w[None, :]
        q[xp.arange(n), labels] += (1.0 - eps) * w_label
        mean_over_n, grad = ops.softmax_cross_entropy(logits, q.astype(logits.dtype))
        if self.reduction == "sum":
            loss, (self._grad,) = self._reduce(mean_over_n, (grad,), n)
            return loss
        total = float(w_label.sum())
        if total == 0.0:  # every sample ignored (or weighted 0): 0 / 0, as PyTorch
            self._grad = xp.zeros_like(grad)
            return float("nan")
        scale = n / total
        self._grad = grad * grad.dtype.type(scale)
        return float(mean_over_n) * scale

    def get_config(self):
        config = {"label_smoothing": self.label_smoothing, "reduction": self.reduction}
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        if self.ignore_index != -100:
            config["ignore_index"] = self.ignore_index
        return config

    def _per_sample(self, logits, target):
        """reduction="none": each sample's (position's) loss -sum_k c_k log p_k and its gradient
        p sum(c) - c, in float64, where c holds the target's weights (smoothing, class weights,
        0 for an ignored sample): PyTorch's per-sample formulas."""
        name = "CrossEntropyLoss"
        rows, t, layout = _class_rows(name, logits, target)
        xp = _device.xp_of(rows)
        n, k = rows.shape
        w = _class_weights(name, self.weight, rows, logits.shape)
        eps = self.label_smoothing
        if t.dtype.kind in "iub":
            labels, kept = _checked_labels(name, t, k, self.ignore_index)
            c = (eps / k) * kept[:, None] * w[None, :]
            c[xp.arange(n), labels] += (1.0 - eps) * w[labels] * kept
        else:
            _check_soft_ignore_index(self.ignore_index)
            c = ((1.0 - eps) * t.astype(np.float64) + eps / k) * w[None, :]
        logp = ops.log_softmax(xp.ascontiguousarray(rows, dtype=np.float64))
        terms = -xp.where(c != 0, c * logp, 0.0).sum(axis=1)
        grad = xp.exp(logp) * c.sum(axis=1, keepdims=True) - c
        return layout(self, terms, grad, logits.dtype)


class GaussianNLLLoss(Loss):
    """Gaussian negative log likelihood: mean(0.5 * (log(var) + (target - mean)^2 / var))
    (+ 0.5 log(2 pi) when full), var clamped at eps (PyTorch).

    ``loss(mean, target, var)``; ``backward()`` returns ``(dmean, dvar)``: the model predicts both.
    var may also be shared, as PyTorch's: of mean's shape without its last axis, of mean's shape
    with one axis of size 1 (e.g. (N, 1): one variance for all of a sample's outputs,
    homoscedastic; (N, 1, H, W) for (N, C, H, W)), or a number (one variance for every
    element); dvar then has var's shape (the broadcast gradients summed; a 0-d array for a
    number). A negative var raises ValueError.
    """

    def __init__(self, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction)
        self.full = bool(full)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)

    def forward(self, mean, target, var) -> float:
        name = "GaussianNLLLoss"
        _check_pred(name, mean)
        target = _float_target(name, mean, target)
        xp = _device.xp_of(mean)
        number = isinstance(var, numbers.Real) and not isinstance(var, bool)
        if number:
            if not var >= 0:
                raise ValueError(f"{name}: var must be non-negative. Received: var={var!r}")
            var = xp.full((), var, dtype=mean.dtype)
        else:
            var = _on_device_of(name, mean, var, "var")
            if var.dtype != mean.dtype:
                raise TypeError(f"{name}: var has dtype {var.dtype} but mean has {mean.dtype}")
        var_shape, fold = var.shape, None
        if var.shape != mean.shape:  # PyTorch's shared variances, broadcast to mean's shape
            odd = [a for a in range(mean.ndim) if var.ndim == mean.ndim and var.shape[a] != mean.shape[a]]
            if number:
                axes, view = tuple(range(mean.ndim)), var
            elif mean.ndim >= 1 and var.shape == mean.shape[:-1]:  # one per row: along the last axis
                axes, view = (mean.ndim - 1,), var[..., None]
            elif len(odd) == 1 and var.shape[odd[0]] == 1:
                axes, view = tuple(odd), var
            else:
                raise ValueError(f"{name}: var of shape {var_shape} does not fit mean {mean.shape}: give "
                                 f"{mean.shape}, {mean.shape[:-1]}, {mean.shape} with one axis set to 1 "
                                 f"(e.g. {mean.shape[:-1] + (1,)}) or a number")
            var = xp.ascontiguousarray(xp.broadcast_to(view, mean.shape))

            def fold(g):  # the gradient of a broadcast var: summed over the broadcast axes
                return g.sum(axis=axes).reshape(var_shape)
        loss, dmean, dvar = ops.gaussian_nll_loss(mean, target, var, full=self.full, eps=self.eps)
        if self.reduction == "none":  # each element's term and gradients (PyTorch's formulas, v = max(var, eps))
            m, t = mean.astype(np.float64), target.astype(np.float64)
            v = xp.maximum(var.astype(np.float64), self.eps)
            r = (t - m) ** 2 / v
            terms = 0.5 * (xp.log(v) + r) + (0.5 * math.log(2 * math.pi) if self.full else 0.0)
            return self._unreduced(terms, ((m - t) / v, 0.5 * (1.0 - r) / v), mean.dtype, fold=(None, fold))
        if fold is not None:
            dvar = fold(dvar.astype(np.float64)).astype(dvar.dtype)
        loss, self._grad = self._reduce(loss, (dmean, dvar), mean.size)
        return loss

    def get_config(self):
        return {"full": self.full, "eps": self.eps, "reduction": self.reduction}


class _ComposedLoss(Loss):
    """A loss composed from array expressions in float64 on the prediction's device (small
    per-element formulas, no fused kernel): _elementwise gives each element's loss and gradient,
    "mean" divides their sum by the count (NaN when empty), "sum" adds them."""

    def _divisor(self, pred):
        return pred.size

    def forward(self, pred, target) -> float:
        name = type(self).__name__
        _check_pred(name, pred)
        terms, grad = self._elementwise(pred, target)
        if self.reduction == "none":
            return self._unreduced(terms, (grad,), pred.dtype)
        total = float(terms.sum())
        if self.reduction == "sum":
            scale = 1.0
        else:
            d = self._divisor(pred)
            if d == 0:
                self._grad = _device.xp_of(pred).zeros_like(pred)
                return float("nan")
            scale = 1.0 / d
        self._grad = (grad * scale).astype(pred.dtype)
        return total * scale


class HuberLoss(_ComposedLoss):
    """PyTorch's HuberLoss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = pred -
    target (quadratic near 0, linear beyond delta; delta > 0)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = check_float_arg("delta", delta, low=0.0, low_open=True)

    def _elementwise(self, pred, target):
        xp = _device.xp_of(pred)
        d = pred.astype(np.float64) - _float_target("HuberLoss", pred, target).astype(np.float64)
        a, k = xp.abs(d), self.delta
        quad = a < k
        return xp.where(quad, 0.5 * d * d, k * (a - 0.5 * k)), xp.where(quad, d, k * xp.sign(d))

    def get_config(self):
        return {"reduction": self.reduction, "delta": self.delta}


class SmoothL1Loss(_ComposedLoss):
    """PyTorch's SmoothL1Loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta >= 0;
    beta = 0 is L1Loss). HuberLoss(delta) = beta * SmoothL1Loss(beta) for delta = beta."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(_legacy_reduction("SmoothL1Loss", size_average, reduce, reduction))
        self.beta = check_float_arg("beta", beta, low=0.0)

    def _elementwise(self, pred, target):
        xp = _device.xp_of(pred)
        d = pred.astype(np.float64) - _float_target("SmoothL1Loss", pred, target).astype(np.float64)
        a, b = xp.abs(d), self.beta
        if b == 0.0:  # L1Loss, gradient included (0 at NaN, as torch's beta = 0 path)
            return a, _torch_sign(xp, d)
        quad = a < b
        return xp.where(quad, 0.5 * d * d / b, a - 0.5 * b), xp.where(quad, d / b, xp.sign(d))

    def get_config(self):
        return {"reduction": self.reduction, "beta": self.beta}


class NLLLoss(Loss):
    """PyTorch's NLLLoss: the negative log likelihood of class indices, on log-probabilities
    (e.g. a LogSoftmax output; LogSoftmax + NLLLoss = CrossEntropyLoss). Input (N, K), (K,) or
    (N, K, d1, ...) with targets (N,), () or (N, d1, ...). Sample n's loss is -w[y_n] x[n, y_n];
    "mean" divides their sum by sum_n w[y_n] (NaN if that is 0); ``weight`` (K,) per class and
    ``ignore_index`` (samples with that label count for nothing) as CrossEntropyLoss's; arguments
    in PyTorch's order ``(weight, size_average, ignore_index, reduce, reduction)``, the deprecated
    pair as CrossEntropyLoss's."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        weight = _class_weight_arg("NLLLoss", weight)
        super().__init__(_legacy_reduction("NLLLoss", size_average, reduce, reduction))
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise TypeError(f"NLLLoss: ignore_index must be an int. Received: ignore_index={ignore_index!r}")
        self.ignore_index = int(ignore_index)
        self.weight = None if weight is None else _weight_array("NLLLoss", "weight", weight)
        if self.weight is not None and self.weight.ndim != 1:
            raise ValueError(f"NLLLoss: weight must be 1-D, one per class. Received: shape {self.weight.shape}")

    def forward(self, log_probs, target) -> float:
        name = "NLLLoss"
        _check_pred(name, log_probs)
        target = _on_device_of(name, log_probs, target)
        if target.dtype.kind not in "iub":
            raise TypeError(f"{name}: target must hold class indices (an integer array), got dtype {target.dtype}")
        rows, t, layout = _class_rows(name, log_probs, target)
        xp = _device.xp_of(rows)
        n, k = rows.shape
        w = _class_weights(name, self.weight, rows, log_probs.shape)
        labels, kept = _checked_labels(name, t, k, self.ignore_index)
        wl = w[labels] * kept
        picked = rows[xp.arange(n), labels].astype(np.float64)
        terms = -xp.where(wl != 0, wl * picked, 0.0)
        grad = xp.zeros((n, k))
        grad[xp.arange(n), labels] = -wl
        if self.reduction == "none":
            return layout(self, terms, grad, log_probs.dtype)
        total = float(terms.sum())
        if self.reduction == "sum":
            scale = 1.0
        else:
            divisor = float(wl.sum())
            if divisor == 0.0:  # every sample ignored (or weighted 0): 0 / 0, as PyTorch
                layout(self, terms, grad * 0.0, log_probs.dtype)
                self._grad = self._grad.astype(log_probs.dtype)
                return float("nan")
            scale = 1.0 / divisor
        layout(self, terms, grad * scale, log_probs.dtype)  # the gradient in the input's layout
        self._grad = self._grad.astype(log_probs.dtype)
        return total * scale

    def get_config(self):
        config = {"reduction": self.reduction}
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        if self.ignore_index != -100:
            config["ignore_index"] = self.ignore_index
        return config


class NLLLoss2d(NLLLoss):
    """torch's deprecated name of NLLLoss for (N, K, H, W) inputs: NLLLoss itself, which takes any
    (N, K, d1, ...) input (same arguments)."""


class KLDivLoss(_ComposedLoss):
    """PyTorch's KLDivLoss: KL(target || q) with the input log q (log-probabilities): each element
    is t (log t - x) (0 where t = 0, NaN where t < 0: PyTorch's xlogy), or with
    ``log_target=True`` (target given as log t) exp(t) (t - x). ``reduction``: "mean" over all
    elements (PyTorch's default, which is not the KL divergence), "batchmean" (the sum over the
    batch size: the true KL per sample, as PyTorch recommends), "sum" or "none"."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        Module.__init__(self)  # not Loss.__init__: "batchmean" is a reduction only KLDivLoss takes
        self._grad = None
        reduction = _legacy_reduction("KLDivLoss", size_average, reduce, reduction)
        self.reduction = _check_reduction("KLDivLoss", reduction, ("mean", "batchmean", "sum", "none"))
        if not isinstance(log_target, (bool, np.bool_)):
            raise TypeError(f"KLDivLoss: log_target must be True or False. Received: log_target={log_target!r}")
        self.log_target = bool(log_target)

    def _divisor(self, pred):
        if self.reduction == "batchmean":
            return pred.shape[0] if pred.ndim else 1
        return pred.size

    def _elementwise(self, pred, target):
        xp = _device.xp_of(pred)
        x = pred.astype(np.float64)
        t = _float_target("KLDivLoss", pred, target).astype(np.float64)
        if self.log_target:
            et = xp.exp(t)
            return et * (t - x), -et
        with np.errstate(divide="ignore", invalid="ignore"):  # xlogy(t, t): 0 at t = 0, NaN for t < 0
            tlogt = xp.where(t == 0, 0.0, t * xp.log(t))
        return tlogt - t * x, -t

    def get_config(self):
        return {"reduction": self.reduction, "log_target": self.log_target}
