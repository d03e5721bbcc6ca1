"""torch.nn.utils.clip_grad: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``, from
``fastnn.optim.clip``), the norm alone (``get_total_norm``), clipping by a norm already taken
(``clip_grads_with_norm_``) and the deprecated ``clip_grad_norm``."""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ... import _device
from ...optim.clip import _flag, _foreach, _norm_order, _params, _total_norm, clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]


def _norm_type(norm_type) -> float:
    """A real number (any order torch's vector_norm takes: 0 and negative ones too), or the
    string ``'inf'`` / ``'-inf'`` (as torch's ``float(norm_type)``; other strings, which torch
    would also convert, are a TypeError here); NaN is a ValueError."""
    if isinstance(norm_type, str):
        if norm_type.strip().lower() not in ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"):
            raise TypeError(f"norm_type must be a real number, inf or 'inf' (or '-inf'). "
                            f"Received: norm_type={norm_type!r}")
    elif isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type must be a real number or inf. Received: norm_type={norm_type!r}")
    return _norm_order(norm_type)  # (clip_grad_norm_'s conversion and NaN check)


def _arrays(tensors) -> list:
    if _device.device_of(tensors) is not None or isinstance(tensors, np.generic):
        tensors = [tensors]
    else:
        try:
            tensors = list(tensors)
        except TypeError:
            raise TypeError(f"tensors must be an array or an iterable of arrays. Received: tensors={tensors!r}") from None
    tensors = [np.asarray(t) if isinstance(t, np.generic) else t for t in tensors]  # a NumPy scalar: 0-d
    for i, t in enumerate(tensors):
        if _device.device_of(t) is None:
            raise TypeError(f"tensors must hold numpy or cupy arrays. Received: tensors[{i}]={t!r}")
        if not np.issubdtype(t.dtype, np.floating):
            raise TypeError(f"tensors must be floating-point arrays. Received: tensors[{i}] of dtype {t.dtype}")
    return tensors


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> np.float64:
    """The norm of all ``tensors`` together, as if concatenated into one vector (torch's
    ``get_total_norm``), as ``clip_grad_norm_`` takes it: summed in float64, ``inf`` (or
    ``'inf'``) for the max norm, ``-inf`` the smallest |x|, negative orders as torch's; order 0
    is torch's too: the number of arrays with a non-zero entry (vector_norm's count, of the
    arrays' counts). 0.0 for no arrays. Returns a NumPy float64."""
    norm_type = _norm_type(norm_type)
    error_if_nonfinite = _flag("error_if_nonfinite", error_if_nonfinite)
    _foreach(foreach)
    tensors = _arrays(tensors)
    if not tensors:
        return np.float64(0.0)
    total = _total_norm(tensors, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return np.float64(total)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach: bool | None = None) -> None:
    """Scale every gradient by ``max_norm / (total_norm + 1e-6)`` when that is below 1 (a NaN
    coefficient scales too), as ``clip_grad_norm_`` does with the norm it takes: torch's
    ``clip_grads_with_norm_``. ``total_norm``: a number or a 0-d/size-1 array."""
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real):
        raise TypeError(f"max_norm must be a real number. Received: max_norm={max_norm!r}")
    max_norm = float(max_norm)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be >= 0. Received: max_norm={max_norm!r}")
    if _device.device_of(total_norm) is not None:
        if total_norm.size != 1:
            raise ValueError(f"total_norm must be a number. Received: total_norm of shape {total_norm.shape}")
        total_norm = total_norm.reshape(()).item()
    if isinstance(total_norm, bool) or not isinstance(total_norm, numbers.Real):
        raise TypeError(f"total_norm must be a real number. Received: total_norm={total_norm!r}")
    total = float(total_norm)
    if total < 0:
        raise ValueError(f"total_norm must be >= 0 (or NaN / inf). Received: total_norm={total!r}")
    _foreach(foreach)
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:
        with np.errstate(invalid="ignore"):
            for p in _params(parameters):
                p.grad *= p.grad.dtype.type(coef)


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> np.float64:
    """Deprecated alias of ``clip_grad_norm_`` (a FutureWarning, as torch's)."""
    warnings.warn("`fastnn.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`fastnn.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)
