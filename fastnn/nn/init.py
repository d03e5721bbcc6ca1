"""Weight initializers (in place, PyTorch's names and formulas), drawing from fastnn's global RNG.

Fans: a weight of shape (out, in, *kernel) has fan_in = in * prod(kernel) and
fan_out = out * prod(kernel) (PyTorch's rule, also for transposed-conv weights (C_in, C_out, ...),
where it is applied to the stored layout).

- Glorot/Xavier (Glorot & Bengio 2010): uniform bound ``gain * sqrt(6 / (fan_in + fan_out))``,
  normal std ``gain * sqrt(2 / (fan_in + fan_out))``.
- He/Kaiming (He et al. 2015): std ``gain / sqrt(fan)``, gain ``sqrt(2 / (1 + a^2))`` for
  (leaky) ReLU; uniform bound ``sqrt(3) * std``.
- ``default_uniform_``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), what PyTorch's Linear and Conv layers use.

Random values are drawn on the host and copied to the device for a parameter on the GPU, so a
seed gives the same initial weights on both devices.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _device
from .._random import get_rng
from .module import Parameter

__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_",
    "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_", "kaiming_uniform_",
    "kaiming_normal_", "he_uniform_", "he_normal_", "default_uniform_", "get",
]


def _array(w) -> np.ndarray:
    return w.data if isinstance(w, Parameter) else w


def calculate_fan_in_and_fan_out(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, or of a weight (an array or Parameter: its shape)."""
    shape = tuple(shape.shape if hasattr(shape, "shape") else shape)
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str = "leaky_relu", param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, (bool, np.bool_)) or not isinstance(param, numbers.Real)):
            raise ValueError(f"negative_slope must be a number. Received: param={param!r}")
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity. Received: nonlinearity={nonlinearity!r}")


def _fill(w, values):
    arr = _array(w)
    values = values.astype(arr.dtype, copy=False)
    if isinstance(arr, np.ndarray):
        arr[...] = values
    else:
        _device.copy_into(arr, values)  # drawn on the host, uploaded
    return w


def uniform_(w, a: float = 0.0, b: float = 1.0):
    arr = _array(w)
    return _fill(w, get_rng().uniform(a, b, size=arr.shape))


def normal_(w, mean: float = 0.0, std: float = 1.0):
    arr = _array(w)
    return _fill(w, get_rng().normal(mean, std, size=arr.shape))


def constant_(w, value: float):
    _array(w).fill(value)
    return w


def zeros_(w):
    return constant_(w, 0.0)


def ones_(w):
    return constant_(w, 1.0)


def xavier_uniform_(w, gain: float = 1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(w).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(w, -bound, bound)


def xavier_normal_(w, gain: float = 1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(w).shape)
    return normal_(w, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(w, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'. Received: mode={mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(w).shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def _is_empty(w) -> bool:
    """A weight with no elements: kaiming_* leave it unchanged with a warning (PyTorch's)."""
    if 0 in _array(w).shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(w, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    if _is_empty(w):
        return w
    bound = math.sqrt(3.0) * _kaiming_std(w, a, mode, nonlinearity)
    return uniform_(w, -bound, bound)


def kaiming_normal_(w, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "relu"):
    if _is_empty(w):
        return w
    return normal_(w, 0.0, _kaiming_std(w, a, mode, nonlinearity))


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_


def default_uniform_(w, fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(w, -bound, bound)


# Names a layer's ``init=`` argument accepts (Keras-style strings).
_BY_NAME = {
    "xavier_uniform": xavier_uniform_, "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_, "glorot_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_, "he_uniform": kaiming_uniform_,
    "kaiming_normal": kaiming_normal_, "he_normal": kaiming_normal_,
    "zeros": zeros_,
}


def get(name: str):
    """The initializer called ``name`` ("glorot_uniform", "he_normal", ...)."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer; expected 'default' or one of {sorted(_BY_NAME)}. "
                         f"Received: init={name!r}") from None
