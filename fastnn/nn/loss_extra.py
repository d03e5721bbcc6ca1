"""More of torch.nn's losses, and its two-input modules CosineSimilarity and PairwiseDistance.

Losses: PoissonNLLLoss, SoftMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss,
MultiLabelMarginLoss, HingeEmbeddingLoss, and the multi-input MarginRankingLoss (x1, x2, y),
CosineEmbeddingLoss (x1, x2, y) and TripletMarginLoss (anchor, positive, negative). They follow
the ``Loss`` protocol of ``fastnn.nn.loss``: ``loss(...)`` returns a float ("mean", "sum") or the
per-element / per-sample losses ("none", an array of the input's dtype), and ``backward()`` (or
``backward(dy)`` for "none") returns the gradient. A loss of several differentiable inputs returns
a tuple of gradients from ``backward``, one per differentiable input in the forward's order:
``(dx1, dx2)`` for MarginRankingLoss and CosineEmbeddingLoss (the labels y get none) and
``(danchor, dpositive, dnegative)`` for TripletMarginLoss.

Modules: ``CosineSimilarity()(x1, x2)`` and ``PairwiseDistance()(x1, x2)`` take two inputs
(broadcast against each other, as PyTorch's); their ``backward(dy)`` returns the tuple
``(dx1, dx2)``, each of its input's shape (a broadcast input's gradient summed back).

Everything is array code with the input's array module (NumPy or CuPy), computed in float64 with
PyTorch's formulas and rounded to the input's dtype, as the array-code activations are. Unlike
PyTorch, the losses do not broadcast their inputs against each other (a shape mismatch is a
ValueError naming both shapes). The deprecated ``size_average``/``reduce`` arguments are taken in
torch's positional order and mapped to a reduction by torch's rule, with its warning.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

from .. import _device
from .loss import (Loss, _as_array, _broadcast_weight, _check_pred, _float_target, _legacy_reduction,
                   _on_device_of, _weight_array)
from .module import Module, check_float_arg

__all__ = ["PoissonNLLLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
           "HingeEmbeddingLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
           "CosineSimilarity", "PairwiseDistance"]

F64 = np.float64


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def _softplus(xp, z):
    """log(1 + exp(z)) without overflow."""
    return xp.log1p(xp.exp(-xp.abs(z))) + xp.maximum(z, 0.0)


def _sigmoid(xp, z):
    e = xp.exp(-xp.abs(z))  # in (0, 1]: no overflow on either side
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _second_input(name, first, value, what):
    """A further float input of a multi-input loss or module: on first's device, of its dtype."""
    value = _on_device_of(name, first, value, what)
    if value.dtype != first.dtype:
        raise TypeError(f"{name}: {what} has dtype {value.dtype} but the first input has {first.dtype}")
    return value


def _same_shape(name, shapes):
    """shapes: (what, shape) pairs that must agree (these losses do not broadcast)."""
    (w0, s0), *rest = shapes
    for w, s in rest:
        if tuple(s) != tuple(s0):
            raise ValueError(f"{name}: {w} has shape {tuple(s)} but {w0} has shape {tuple(s0)} "
                             "(the inputs are not broadcast: give them one shape)")


def _labels(name, first, target, shape):
    """Integer class indices of the given shape, on first's device, as int64."""
    target = _on_device_of(name, first, target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold class indices (an integer array), got dtype {target.dtype}")
    if tuple(target.shape) != tuple(shape):
        raise ValueError(f"{name}: for input of shape {first.shape} the target must have shape {tuple(shape)}, "
                         f"got {target.shape}")
    return target.astype(np.int64)


class _ArrayLoss(Loss):
    """A loss in array code: a subclass's __call__ computes each term (float64) and the gradient of
    the sum of the terms with respect to each differentiable input (float64, of the input's
    shape, or of a row layout with ``fold`` mapping back), then calls _finish. "mean" divides by
    the number of terms (NaN, and zero gradients, when there are none), "sum" adds them."""

    def _finish(self, terms, grads, dtype, expand=None, fold=None):
        grads = tuple(grads)
        if self.reduction == "none":
            return self._unreduced(terms, grads, dtype, expand=expand, fold=fold)
        xp = _device.xp_of(grads[0])
        fold = fold or (None,) * len(grads)
        total = float(terms.sum())
        if self.reduction == "sum":
            value, scale = total, 1.0
        elif terms.size == 0:
            value, scale = float("nan"), 0.0
        else:
            value, scale = total / terms.size, 1.0 / terms.size
        out = []
        for g, f in zip(grads, fold):
            g = g * scale if scale else xp.zeros_like(g)
            out.append(_as_array((g if f is None else f(g)).astype(dtype)))
        self._grad = tuple(out) if len(out) > 1 else out[0]
        return value


def _margin(value):
    return check_float_arg("margin", value)


class PoissonNLLLoss(_ArrayLoss):
    """PyTorch's PoissonNLLLoss, the negative log likelihood of a Poisson target t of rate
    lambda: exp(x) - t x for the log-rate x (``log_input=True``), or x - t log(x + eps) for the
    rate x itself. ``full=True`` adds Stirling's approximation of log(t!),
    t log t - t + 0.5 log(2 pi t), for the elements with t > 1 (0 elsewhere; it has no gradient).

    Args: log_input, full, eps (> 0; only used when log_input is False), reduction.
    Shape: input and target of one shape; "none" gives one loss per element."""

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None, eps: float = 1e-8,
                 reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("PoissonNLLLoss", size_average, reduce, reduction))
        self.log_input = _check_bool("log_input", log_input)
        self.full = _check_bool("full", full)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)

    def forward(self, log_input, target):
        name = "PoissonNLLLoss"
        _check_pred(name, log_input)
        target = _float_target(name, log_input, target)
        xp = _device.xp_of(log_input)
        x, t = log_input.astype(F64), target.astype(F64)
        if self.log_input:
            ex = xp.exp(x)
            terms, grad = ex - t * x, ex - t
        else:
            terms, grad = x - t * xp.log(x + self.eps), 1.0 - t / (x + self.eps)
        if self.full:
            big = t > 1
            safe = xp.where(big, t, 2.0)  # logs of the masked elements are never used
            stirling = safe * xp.log(safe) - safe + 0.5 * xp.log(2.0 * math.pi * safe)
            terms = terms + xp.where(big, stirling, 0.0)
        return self._finish(terms, (grad,), log_input.dtype)

    def get_config(self):
        return {"log_input": self.log_input, "full": self.full, "eps": self.eps, "reduction": self.reduction}


class SoftMarginLoss(_ArrayLoss):
    """PyTorch's SoftMarginLoss, the two-class logistic loss log(1 + exp(-y x)) for labels y
    (usually -1 or 1), computed without overflow. Shape: input and target of one shape."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("SoftMarginLoss", size_average, reduce, reduction))

    def forward(self, input, target):  # noqa: A002 (PyTorch's name)
        name = "SoftMarginLoss"
        _check_pred(name, input)
        target = _float_target(name, input, target)
        xp = _device.xp_of(input)
        x, y = input.astype(F64), target.astype(F64)
        z = -y * x
        return self._finish(_softplus(xp, z), (-y * _sigmoid(xp, z),), input.dtype)


class MultiLabelSoftMarginLoss(_ArrayLoss):
    """PyTorch's MultiLabelSoftMarginLoss: one-vs-all logistic loss over C classes with 0/1
    targets; sample n's loss is -1/C sum_c w_c (y log sigmoid(x) + (1 - y) log sigmoid(-x)).

    Args: weight (optional, broadcast to the input: usually (C,), one per class), reduction.
    Shape: input (N, C) or (C,), target of the input's shape; "none" gives (N,) or ()."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("MultiLabelSoftMarginLoss", size_average, reduce, reduction))
        self.weight = _weight_array("MultiLabelSoftMarginLoss", "weight", weight)

    def forward(self, input, target):  # noqa: A002
        name = "MultiLabelSoftMarginLoss"
        _check_pred(name, input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{name} expects input of shape (N, C) or (C,), got {input.shape}")
        target = _float_target(name, input, target)
        xp = _device.xp_of(input)
        x, y = input.astype(F64), target.astype(F64)
        c = input.shape[-1]
        elems = y * _softplus(xp, -x) + (1.0 - y) * _softplus(xp, x)
        grad = _sigmoid(xp, x) - y
        if self.weight is not None:
            w = _broadcast_weight(name, "weight", self.weight, input)
            elems, grad = elems * w, grad * w
        terms = elems.sum(axis=-1) / c if c else elems.sum(axis=-1) * float("nan")
        return self._finish(terms, (grad / max(c, 1),), input.dtype, expand=lambda dy: dy[..., None])

    def get_config(self):
        config = {"reduction": self.reduction}
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        return config


def _rows(name, input):
    """input (N, C) or (C,) as rows (R, C), and a fold back to its shape."""
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"{name} expects input of shape (N, C) or (C,) with C >= 1, got {input.shape}")
    shape = input.shape
    return input.reshape(-1, shape[-1]).astype(F64), (lambda g: g.reshape(shape))


class MultiMarginLoss(_ArrayLoss):
    """PyTorch's MultiMarginLoss, the multi-class hinge loss: sample n with class y has loss
    sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C.

    Args: p (1 or 2), margin, weight (optional (C,), one per class), reduction ("mean" over the
    samples).
    Shape: input (N, C) with target (N,) class indices, or (C,) with target () or (1,); "none"
    gives the target's shape."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(_legacy_reduction("MultiMarginLoss", size_average, reduce, reduction))
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported. Received: p={p!r}")
        self.p = int(p)
        self.margin = _margin(margin)
        self.weight = _weight_array("MultiMarginLoss", "weight", weight)
        if self.weight is not None and self.weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: weight must be 1-D, one per class. Received: shape {self.weight.shape}")

    def forward(self, input, target):  # noqa: A002
        name = "MultiMarginLoss"
        _check_pred(name, input)
        x, fold = _rows(name, input)
        xp = _device.xp_of(input)
        n, c = x.shape
        if input.ndim == 2:
            shape = (n,)
        else:
            raw = _on_device_of(name, input, target)
            shape = (1,) if raw.shape == (1,) else ()
        y = _labels(name, input, target, shape).reshape(-1)
        bad = (y < 0) | (y >= c)
        if bool(bad.any()):
            raise ValueError(f"{name}: target {int(y[bad][0])} is out of range for {c} classes (expected 0 <= target < {c})")
        if self.weight is not None and self.weight.shape[0] != c:
            raise ValueError(f"{name}: weight has {self.weight.shape[0]} entries but the input has {c} classes")
        picked = xp.arange(n)
        z = self.margin - x[picked, y][:, None] + x
        hit = z > 0
        hit[picked, y] = False
        h = z if self.p == 1 else z * z
        dh = 1.0 if self.p == 1 else 2.0 * z
        wy = 1.0 if self.weight is None else xp.asarray(self.weight)[y][:, None]
        terms = xp.where(hit, h * wy, 0.0).sum(axis=1) / c
        grad = xp.where(hit, dh * wy, 0.0) / c
        grad[picked, y] = -grad.sum(axis=1)
        return self._finish(terms.reshape(shape), (grad,), input.dtype,
                            expand=lambda dy: dy.reshape(-1, 1), fold=(fold,))

    def get_config(self):
        config = {"p": self.p, "margin": self.margin, "reduction": self.reduction}
        if self.weight is not None:
            config["weight"] = self.weight.tolist()
        return config


class MultiLabelMarginLoss(_ArrayLoss):
    """PyTorch's MultiLabelMarginLoss, the multi-label hinge loss: the target row lists the
    sample's classes and ends at its first negative entry (pad with -1: [3, 0, -1, 1] means
    classes 3 and 0). Sample n's loss is sum over its classes j and the classes i it lacks of
    max(0, 1 - (x[j] - x[i])) / C.

    Shape: input (N, C) or (C,), target of the input's shape (integers); "none" gives (N,) or ()."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("MultiLabelMarginLoss", size_average, reduce, reduction))

    def forward(self, input, target):  # noqa: A002
        name = "MultiLabelMarginLoss"
        _check_pred(name, input)
        x, fold = _rows(name, input)
        xp = _device.xp_of(input)
        n, c = x.shape
        t = _labels(name, input, target, input.shape).reshape(n, c)
        listed = xp.cumprod(t >= 0, axis=1).astype(bool)  # before the first negative entry
        bad = listed & (t >= c)
        if bool(bad.any()):
            raise ValueError(f"{name}: target {int(t[bad][0])} is out of range for {c} classes "
                             f"(expected 0 <= target < {c}, or -1 to end a sample's list)")
        idx = xp.where(listed, t, 0)
        onehot = (idx[:, :, None] == xp.arange(c)[None, None, :]) & listed[:, :, None]  # (N, J, C)
        is_target = onehot.any(axis=1)  # (N, C)
        xj = xp.take_along_axis(x, idx, axis=1)  # (N, J)
        z = 1.0 - xj[:, :, None] + x[:, None, :]  # (N, J, I)
        hit = listed[:, :, None] & ~is_target[:, None, :] & (z > 0)
        terms = xp.where(hit, z, 0.0).sum(axis=(1, 2)) / c
        per_i = hit.sum(axis=1).astype(F64)  # each non-target class i: how many margins it breaks
        per_j = hit.sum(axis=2).astype(F64)  # each listed target j: the same, from its side
        grad = (per_i - (onehot * per_j[:, :, None]).sum(axis=1)) / c
        shape = input.shape[:-1]
        return self._finish(terms.reshape(shape), (grad,), input.dtype,
                            expand=lambda dy: dy.reshape(-1, 1), fold=(fold,))


class HingeEmbeddingLoss(_ArrayLoss):
    """PyTorch's HingeEmbeddingLoss for labels y in {1, -1}: x where y = 1 and
    max(0, margin - x) where y = -1 (as PyTorch, a label that is neither adds both terms).
    Shape: input and target of one shape."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("HingeEmbeddingLoss", size_average, reduce, reduction))
        self.margin = _margin(margin)

    def forward(self, input, target):  # noqa: A002
        name = "HingeEmbeddingLoss"
        _check_pred(name, input)
        target = _float_target(name, input, target)
        xp = _device.xp_of(input)
        x, y = input.astype(F64), target.astype(F64)
        gap = self.margin - x
        not_pos, not_neg = y != 1, y != -1
        terms = xp.where(not_pos, xp.maximum(gap, 0.0), 0.0) + xp.where(not_neg, x, 0.0)
        # clamp_min's gradient passes at the clamp point itself (gap == 0), as PyTorch's
        grad = xp.where(not_neg, 1.0, 0.0) - xp.where(not_pos & (gap >= 0), 1.0, 0.0)
        return self._finish(terms, (grad,), input.dtype)

    def get_config(self):
        return {"margin": self.margin, "reduction": self.reduction}


def _float_labels(name, first, y, shape):
    y = _on_device_of(name, first, y)
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{name}: target must be a real array (labels 1 or -1), got dtype {y.dtype}")
    if tuple(y.shape) != tuple(shape):
        raise ValueError(f"{name}: target has shape {y.shape} but it must have shape {tuple(shape)}")
    return y.astype(F64)


class MarginRankingLoss(_ArrayLoss):
    """PyTorch's MarginRankingLoss: max(0, -y (x1 - x2) + margin) for y = 1 (x1 should rank
    higher) or -1 (x2 should). ``loss(x1, x2, y)``; ``backward()`` returns ``(dx1, dx2)``.
    Shape: x1, x2 and y of one shape."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("MarginRankingLoss", size_average, reduce, reduction))
        self.margin = _margin(margin)

    def forward(self, input1, input2, target):
        name = "MarginRankingLoss"
        _check_pred(name, input1)
        input2 = _second_input(name, input1, input2, "input2")
        _same_shape(name, (("input1", input1.shape), ("input2", input2.shape)))
        y = _float_labels(name, input1, target, input1.shape)
        xp = _device.xp_of(input1)
        inner = -y * (input1.astype(F64) - input2.astype(F64)) + self.margin
        on = inner >= 0  # clamp_min's gradient passes at 0, as PyTorch's
        terms = xp.maximum(inner, 0.0)
        return self._finish(terms, (xp.where(on, -y, 0.0), xp.where(on, y, 0.0)), input1.dtype)

    def get_config(self):
        return {"margin": self.margin, "reduction": self.reduction}


class CosineEmbeddingLoss(_ArrayLoss):
    """PyTorch's CosineEmbeddingLoss: 1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin)
    where y = -1 (0 for other labels), the cosine along the last axis computed as PyTorch does,
    sum(x1 x2) / sqrt((|x1|^2 + e)(|x2|^2 + e)), e = float32(1e-12) (a zero vector has cosine 0, and a finite
    but large gradient). ``loss(x1, x2, y)``; ``backward()`` returns ``(dx1, dx2)``.

    Args: margin (PyTorch suggests 0 to 0.5), reduction.
    Shape: x1, x2 (N, D) with y (N,), or (D,) with y (); "none" gives y's shape."""

    _EPS = float(np.float32(1e-12))  # PyTorch's, added to each squared norm (a float constant)

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("CosineEmbeddingLoss", size_average, reduce, reduction))
        self.margin = _margin(margin)

    def forward(self, input1, input2, target):
        name = "CosineEmbeddingLoss"
        _check_pred(name, input1)
        input2 = _second_input(name, input1, input2, "input2")
        if input1.ndim not in (1, 2):
            raise ValueError(f"{name} expects inputs of shape (N, D) or (D,), got {input1.shape}")
        _same_shape(name, (("input1", input1.shape), ("input2", input2.shape)))
        y = _float_labels(name, input1, target, input1.shape[:-1])
        xp = _device.xp_of(input1)
        a, b = input1.astype(F64), input2.astype(F64)
        s = (a * b).sum(axis=-1)
        sq1 = (a * a).sum(axis=-1) + self._EPS
        sq2 = (b * b).sum(axis=-1) + self._EPS
        root = xp.sqrt(sq1 * sq2)
        cos = s / root
        # d cos / d x1 = x2 / root - cos x1 / sq1 (and the mirror for x2)
        dcos1 = b / root[..., None] - (cos / sq1)[..., None] * a
        dcos2 = a / root[..., None] - (cos / sq2)[..., None] * b
        pos, neg = y == 1, y == -1
        over = cos - self.margin
        terms = xp.where(pos, 1.0 - cos, 0.0) + xp.where(neg, xp.maximum(over, 0.0), 0.0)
        dterm = xp.where(pos, -1.0, 0.0) + xp.where(neg & (over >= 0), 1.0, 0.0)  # d term / d cos
        return self._finish(terms, (dterm[..., None] * dcos1, dterm[..., None] * dcos2), input1.dtype,
                            expand=lambda dy: dy[..., None])

    def get_config(self):
        return {"margin": self.margin, "reduction": self.reduction}


def _check_norm_p(p) -> float:
    """A p-norm order: a real p >= 0 or inf."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not p >= 0:
        raise ValueError(f"p must be a real number >= 0 (or inf). Received: p={p!r}")
    return float(p)


def _vector_norm(xp, d, p):
    """(the p-norm of d along its last axis, its gradient with respect to d), float64, with
    PyTorch's subgradients: 0 where the norm is 0, an even split between the largest entries for
    p = inf, and 0 for p = 0 (the count of non-zero entries)."""
    a = xp.abs(d)
    if p == 0:
        return (d != 0).sum(axis=-1).astype(F64), xp.zeros_like(d)
    if p == 1:
        return a.sum(axis=-1), xp.sign(d)
    if math.isinf(p):
        n = a.max(axis=-1)
        top = (a == n[..., None]).astype(F64)
        return n, xp.sign(d) * top / top.sum(axis=-1, keepdims=True)
    if p == 2:
        n = xp.sqrt((d * d).sum(axis=-1))
    else:
        n = ((a ** p).sum(axis=-1)) ** (1.0 / p)
    zero = n == 0
    safe = xp.where(zero, 1.0, n)[..., None]
    if p == 2:
        g = d / safe
    else:
        g = xp.sign(d) * (a / safe) ** (p - 1.0)
    return n, xp.where(zero[..., None], 0.0, g)


class TripletMarginLoss(_ArrayLoss):
    """PyTorch's TripletMarginLoss: max(0, margin + d(a, p) - d(a, n)) for an anchor a, a positive
    p and a negative n, d(u, v) = ||u - v + eps||_p along the last axis (PairwiseDistance's). With
    ``swap=True`` d(a, n) is min(d(a, n), d(p, n)) (Balntas et al. 2016; a tie splits the
    gradient in halves, as PyTorch's). ``loss(anchor, positive, negative)``; ``backward()``
    returns ``(danchor, dpositive, dnegative)``.

    Args: margin, p (>= 0 or inf), eps, swap, reduction.
    Shape: the three inputs (N, D) or (D,), of one shape; "none" gives (N,) or ()."""

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                 size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(_legacy_reduction("TripletMarginLoss", size_average, reduce, reduction))
        # torch.nn.TripletMarginLoss refuses margin <= 0 (ValueError)
        self.margin = check_float_arg("margin", margin, low=0.0, low_open=True)
        self.p = _check_norm_p(p)
        self.eps = check_float_arg("eps", eps)
        self.swap = _check_bool("swap", swap)

    def forward(self, anchor, positive, negative):
        name = "TripletMarginLoss"
        _check_pred(name, anchor)
        positive = _second_input(name, anchor, positive, "positive")
        negative = _second_input(name, anchor, negative, "negative")
        if anchor.ndim not in (1, 2):
            raise ValueError(f"{name} expects inputs of shape (N, D) or (D,), got anchor {anchor.shape}")
        _same_shape(name, (("anchor", anchor.shape), ("positive", positive.shape), ("negative", negative.shape)))
        xp = _device.xp_of(anchor)
        a, pos, neg = anchor.astype(F64), positive.astype(F64), negative.astype(F64)
        d_ap, g_ap = _vector_norm(xp, a - pos + self.eps, self.p)
        d_an, g_an = _vector_norm(xp, a - neg + self.eps, self.p)
        w_an = xp.ones_like(d_an)
        d_neg = d_an
        if self.swap:
            d_pn, g_pn = _vector_norm(xp, pos - neg + self.eps, self.p)
            w_an = xp.where(d_an < d_pn, 1.0, xp.where(d_an == d_pn, 0.5, 0.0))
            d_neg = xp.minimum(d_an, d_pn)
        inner = self.margin + d_ap - d_neg
        on = xp.where(inner >= 0, 1.0, 0.0)[..., None]  # clamp_min's gradient passes at 0
        w_an = w_an[..., None]
        da = on * (g_ap - w_an * g_an)
        dp = -on * g_ap
        dn = on * w_an * g_an
        if self.swap:
            w_pn = 1.0 - w_an
            dp = dp - on * w_pn * g_pn
            dn = dn + on * w_pn * g_pn
        return self._finish(xp.maximum(inner, 0.0), (da, dp, dn), anchor.dtype, expand=lambda dy: dy[..., None])

    def get_config(self):
        return {"margin": self.margin, "p": self.p, "eps": self.eps, "swap": self.swap, "reduction": self.reduction}


# --- two-input modules -------------------------------------------------------------------

def _unbroadcast(g, shape):
    """g (a broadcast shape) summed back to shape."""
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


class _TwoInputModule(Module):
    """A module of two inputs: ``module(x1, x2)`` and ``backward(dy) -> (dx1, dx2)``."""

    def __call__(self, x1, x2):
        return self.forward(x1, x2)

    def _inputs(self, x1, x2):
        name = type(self).__name__
        _check_pred(name, x1)
        x2 = _second_input(name, x1, x2, "x2")
        try:
            shape = np.broadcast_shapes(x1.shape, x2.shape)
        except ValueError:
            raise ValueError(f"{name}: x1 of shape {x1.shape} and x2 of shape {x2.shape} do not broadcast") from None
        return x2, shape

    def _dy(self, dy, shape):
        name = type(self).__name__
        if self._cache is None:
            raise RuntimeError(f"{name}.backward called before forward")
        if _device.device_of(dy) is None:
            raise TypeError(f"{name}.backward expects a numpy.ndarray or cupy.ndarray, got {type(dy).__name__}")
        if tuple(dy.shape) != tuple(shape):
            raise ValueError(f"{name}.backward expects dy of shape {tuple(shape)} (the forward's output), "
                             f"got {tuple(dy.shape)}")
        return dy.astype(F64)

    def extra_repr(self) -> str:
        """torch's (none) with the default arguments; the others, by name, when set."""
        defaults = {k: v.default for k, v in inspect.signature(type(self).__init__).parameters.items()}
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if defaults.get(k) != v)


class CosineSimilarity(_TwoInputModule):
    """PyTorch's CosineSimilarity: sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along ``dim``,
    the inputs broadcast against each other, as PyTorch's (each normalised by its clamped norm
    first; the gradient treats the clamp as PyTorch does, as a constant). ``module(x1, x2)``;
    ``backward(dy)`` returns ``(dx1, dx2)``, each of its input's shape.

    Args: dim (the axis of the broadcast shape to reduce; negative counts from the end), eps.
    Shape: x1, x2 broadcastable; the output is their broadcast shape without ``dim``."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an int. Received: dim={dim!r}")
        self.dim = int(dim)
        self.eps = check_float_arg("eps", eps)
        self._cache = None

    def forward(self, x1, x2):
        x2, shape = self._inputs(x1, x2)
        nd = len(shape)
        if not -max(nd, 1) <= self.dim < max(nd, 1) or nd == 0:
            raise ValueError(f"CosineSimilarity: dim={self.dim} is out of range for inputs of {nd} dimensions "
                             f"(broadcast shape {shape})")
        axis = self.dim % nd
        xp = _device.xp_of(x1)
        a = xp.broadcast_to(x1.astype(F64), shape)
        b = xp.broadcast_to(x2.astype(F64), shape)
        n1 = xp.sqrt((a * a).sum(axis=axis, keepdims=True))
        n2 = xp.sqrt((b * b).sum(axis=axis, keepdims=True))
        c1, c2 = xp.maximum(n1, self.eps), xp.maximum(n2, self.eps)
        cos = ((a / c1) * (b / c2)).sum(axis=axis, keepdims=True)
        out_shape = shape[:axis] + shape[axis + 1:]
        self._cache = (a, b, n1, n2, c1, c2, cos, axis, x1.shape, x2.shape, out_shape)
        self._dtype = x1.dtype
        return _as_array(cos.reshape(out_shape).astype(x1.dtype))

    def backward(self, dy):
        a, b, n1, n2, c1, c2, cos, axis, s1, s2, out_shape = self._cache or (None,) * 11
        dy = self._dy(dy, out_shape)
        dy = dy.reshape(cos.shape)
        xp = _device.xp_of(a)
        # the norms' gradients x / n (0 where n = 0), the clamped values as constants
        u1 = xp.where(n1 == 0, 0.0, a / xp.where(n1 == 0, 1.0, n1))
        u2 = xp.where(n2 == 0, 0.0, b / xp.where(n2 == 0, 1.0, n2))
        dx1 = dy * (b / (c1 * c2) - cos / c1 * u1)
        dx2 = dy * (a / (c1 * c2) - cos / c2 * u2)
        dtype = self._dtype
        return (_as_array(_unbroadcast(dx1, s1).astype(dtype)), _as_array(_unbroadcast(dx2, s2).astype(dtype)))

    def get_config(self):
        return {"dim": self.dim, "eps": self.eps}


class PairwiseDistance(_TwoInputModule):
    """PyTorch's PairwiseDistance: ||x1 - x2 + eps||_p along the last axis of the broadcast
    inputs (p >= 0 or inf; PyTorch's subgradients, see TripletMarginLoss). ``module(x1, x2)``;
    ``backward(dy)`` returns ``(dx1, dx2)``, each of its input's shape.

    Args: p, eps, keepdim (keep the reduced axis, of size 1).
    Shape: x1, x2 broadcastable, of at least one dimension; the output is their broadcast shape
    without the last axis (with it, of size 1, for keepdim)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm = _check_norm_p(p)
        self.eps = check_float_arg("eps", eps)
        self.keepdim = _check_bool("keepdim", keepdim)
        self._cache = None

    def forward(self, x1, x2):
        x2, shape = self._inputs(x1, x2)
        if len(shape) == 0:
            raise ValueError(f"PairwiseDistance expects inputs of at least one dimension, got shapes "
                             f"{x1.shape} and {x2.shape}")
        xp = _device.xp_of(x1)
        d = xp.broadcast_to(x1.astype(F64) - x2.astype(F64) + self.eps, shape)
        n, g = _vector_norm(xp, d, self.norm)
        self._cache = (g, n.shape, x1.shape, x2.shape)
        self._dtype = x1.dtype
        out = n[..., None] if self.keepdim else n
        return _as_array(out.astype(x1.dtype))

    def backward(self, dy):
        g, n_shape, s1, s2 = self._cache or (None,) * 4
        out_shape = None if n_shape is None else (n_shape + (1,) if self.keepdim else n_shape)
        dy = self._dy(dy, out_shape)
        dd = (dy if self.keepdim else dy[..., None]) * g
        return (_as_array(_unbroadcast(dd, s1).astype(self._dtype)),
                _as_array(_unbroadcast(-dd, s2).astype(self._dtype)))

    def get_config(self):
        return {"p": self.norm, "eps": self.eps, "keepdim": self.keepdim}

