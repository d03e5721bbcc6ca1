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
    """sum(|g|^norm_type) in float64, on g's device (one sync there)."""
    xp = _device.xp_of(g)
    return float(xp.sum(xp.abs(g.astype(np.float64)) ** norm_type))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> np.float64:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    The norm is taken over all gradients as if concatenated (``inf`` for the max norm), summed in
    float64 in parameter order; the scale is ``max_norm / (norm + 1e-6)`` when below 1.
    Returns the norm before clipping, as a NumPy float64: a Python float (a subclass) that also
    has torch's ``.item()``, so ``clip_grad_norm_(...).item()`` in ported code works.

    A NaN or infinite norm, as torch's: RuntimeError (torch's message) with
    ``error_if_nonfinite=True``, before any gradient changes; otherwise the gradients are scaled
    by it anyway (all NaN for a NaN norm; zeros, and NaN where a gradient is infinite, for an
    infinite one). ``foreach`` (None, True or False) is accepted for torch's signature and
    chooses nothing: fastnn has one implementation.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    error_if_nonfinite = _flag("error_if_nonfinite", error_if_nonfinite)
    _foreach(foreach)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0. Received: max_norm={max_norm!r}")
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or inf. Received: norm_type={norm_type!r}")
    params = _params(parameters)
    if not params:
        return np.float64(0.0)
    if math.isinf(norm_type):
        total = float(np.max([_max_abs(p.grad) for p in params]))  # (NaN-propagating, as torch's; max() is not)
    else:
        total = sum(_sum_of_powers(p.grad, norm_type) for p in params) ** (1.0 / norm_type)
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
