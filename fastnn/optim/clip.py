"""Gradient clipping, in place on ``param.grad`` (PyTorch's ``clip_grad_norm_`` / ``clip_grad_value_``),
on whichever device the gradients are."""
from __future__ import annotations

import math

import numpy as np

from .. import _device
from ..nn.module import Module

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _params(parameters):
    """The parameters that have a gradient (PyTorch skips those whose grad is None; here: no
    backward since zero_grad, ``Parameter.has_grad`` False; reading their grad would make it one)
    and are trainable (a frozen parameter's grad is None in PyTorch, where fastnn's layers still
    add into it: counted, it made the norm grow step after step)."""
    if isinstance(parameters, Module):
        params = parameters.parameters()
    elif hasattr(parameters, "grad"):
        params = [parameters]
    else:
        params = list(parameters)
    return [p for p in params if getattr(p, "has_grad", True) and getattr(p, "trainable", True)]


def _flag(name, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def _foreach(value) -> None:
    """torch's implementation switch: fastnn has one implementation, so only the type is checked."""
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"foreach must be None, True or False. Received: foreach={value!r}")


def _max_abs(g) -> float:
    return float(_device.xp_of(g).abs(g).max()) if g.size else 0.0


def _sum_of_powers(g, norm_type: float) -> float:
    """sum(|g|^norm_type) in float64, on g's device (one sync there). A negative order: |0|^p
    is inf and a tiny |g|^p may overflow to inf, without a warning (torch's vector_norm)."""
    xp = _device.xp_of(g)
    with np.errstate(divide="ignore", over="ignore"):
        return float(xp.sum(xp.abs(g.astype(np.float64)) ** norm_type))


def _no_identity(g, norm_type: float) -> None:
    """torch's RuntimeError for the orders with no identity (-inf and p < 0: a minimum) of an empty array."""
    if g.size == 0:
        order = "-inf" if math.isinf(norm_type) else f"{norm_type:g}"
        raise RuntimeError(f"linalg.vector_norm cannot compute the {order} norm on an empty tensor because the "
                           f"operation does not have an identity")


def _norm_order(norm_type) -> float:
    """norm_type as a float (anything ``float()`` takes, as torch's: ``'inf'`` too); NaN is a ValueError."""
    value = float(norm_type)
    if math.isnan(value):
        raise ValueError(f"norm_type must be a number or +-inf, not NaN. Received: norm_type={norm_type!r}")
    return value


def _total_norm(arrays, norm_type: float) -> float:
    """The ``norm_type``-norm of the arrays together, torch's ``get_total_norm``: the norm of
    the vector of each array's ``torch.linalg.vector_norm``. For p > 0 and +-inf that is the
    norm of all entries as if concatenated: |x|^p summed in float64 in order (p > 0, NaN
    propagating), the largest |x| (inf; 0 for an empty array), the smallest |x| (-inf). For
    p < 0 the same sum of |x|^p (a zero entry makes it 0). For 0 (vector_norm's count of
    non-zero entries, taken twice, as torch's): the number of arrays with a non-zero (or NaN)
    entry. -inf and p < 0 of an empty array: torch's RuntimeError."""
    if norm_type == math.inf:
        return float(np.max([_max_abs(g) for g in arrays]))  # (NaN-propagating, as torch's; max() is not)
    if norm_type == 0:
        return float(sum(int(_device.xp_of(g).count_nonzero(g)) > 0 for g in arrays))
    if norm_type < 0:
        for g in arrays:
            _no_identity(g, norm_type)
    if norm_type == -math.inf:
        return float(np.min([float(_device.xp_of(g).abs(g).min()) for g in arrays]))
    total = np.float64(sum(_sum_of_powers(g, norm_type) for g in arrays))
    with np.errstate(divide="ignore", over="ignore"):  # (p < 0: a sum of 0 or inf)
        return float(total ** (1.0 / norm_type))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> np.float64:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated (``inf`` for the max norm), summed in
    float64 in parameter order; the scale is ``max_norm / (norm + 1e-6)`` when below 1.
    ``norm_type``: any order torch's takes (``float()`` of it: ``'inf'`` too), with its
    semantics (``torch.linalg.vector_norm`` of the gradients' norms): -inf the smallest |g|,
    p < 0 ``(sum |g|^p)^(1/p)``, 0 the number of gradients with a non-zero entry (see
    ``_total_norm``); NaN is a ValueError.
    Returns the norm before clipping, as a NumPy float64: a Python float (a subclass) that also
    has torch's ``.item()``, so ``clip_grad_norm_(...).item()`` in ported code works.

    A NaN or infinite norm, as torch's: RuntimeError (torch's message) with
    ``error_if_nonfinite=True``, before any gradient changes; otherwise the gradients are scaled
    by it anyway (all NaN for a NaN norm; zeros, and NaN where a gradient is infinite, for an
    infinite one). ``foreach`` (None, True or False) is accepted for torch's signature and
    chooses nothing: fastnn has one implementation.
    """
    max_norm, norm_type = float(max_norm), _norm_order(norm_type)
    error_if_nonfinite = _flag("error_if_nonfinite", error_if_nonfinite)
    _foreach(foreach)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0. Received: max_norm={max_norm!r}")
    params = _params(parameters)
    if not params:
        return np.float64(0.0)
    total = _total_norm([p.grad for p in params], norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # (a NaN coefficient scales too, as torch's clamp(coef, max=1) passes it on)
        with np.errstate(invalid="ignore"):  # inf * 0 of an infinite norm: NaN, without a warning, as torch
            for p in params:
                p.grad *= p.grad.dtype.type(coef)
    return np.float64(total)


def clip_grad_value_(parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]. ``foreach`` (None, True or
    False), as in torch's signature, chooses nothing."""
    clip_value = float(clip_value)
    _foreach(foreach)
    if not clip_value >= 0:
        raise ValueError(f"clip_value must be >= 0. Received: clip_value={clip_value!r}")
    for p in _params(parameters):
        grad = p.grad
        _device.xp_of(grad).clip(grad, -clip_value, clip_value, out=grad)
