"""Activations and softmax: forward and backward, element-wise / over the last axis.

Backward functions take what the forward saved, as PyTorch's do: the output ``y`` for
sigmoid, tanh, softmax and log_softmax; the input ``x`` for the others.
Any shape; float32 or float64; the result has the input's dtype and shape.
"""
from __future__ import annotations

import math

from ._dispatch import (
    backend, check_float, contiguous, get_array_module, out_array, same_dtype, same_shape, unaliased,
)

__all__ = [
    "step", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "swish", "elu", "gelu", "softmax", "log_softmax",
    "step_backward", "sigmoid_backward", "tanh_backward", "relu_backward", "leaky_relu_backward",
    "softplus_backward", "swish_backward", "elu_backward", "gelu_backward", "softmax_backward",
    "log_softmax_backward",
]


def _finite(value, name: str, nonzero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    value = float(value)
    if not math.isfinite(value) or (nonzero and value == 0.0):
        raise ValueError(f"{name} must be finite{' and non-zero' if nonzero else ''}, got {value!r}")
    return value


def _forward(name: str, x, out, p0: float = 1.0, p1: float = 20.0):
    check_float(x, "x")
    x = contiguous(x)
    x = unaliased(x, out)  # a partly overlapping out would be written before x is read
    out = out_array(out, x.shape, x.dtype, xp=get_array_module(x))
    backend(x, out).activation_forward(name, x, out, p0, p1)
    return out


def _backward(name: str, dy, saved, saved_name: str, out, p0: float = 1.0, p1: float = 20.0):
    check_float(dy, "dy")
    same_dtype(dy, "dy", saved, saved_name)
    same_shape(dy, "dy", saved, saved_name)
    dy, saved = contiguous(dy), contiguous(saved)
    dy, saved = unaliased(dy, out), unaliased(saved, out)
    out = out_array(out, dy.shape, dy.dtype, xp=get_array_module(dy))
    backend(dy, saved, out).activation_backward(name, dy, saved, out, p0, p1)
    return out


def step(x, *, out=None):
    """Heaviside step: 1 where x > 0, 0 where x <= 0 (NaN stays NaN). Its gradient is 0."""
    return _forward("step", x, out)


def step_backward(dy, x, *, out=None):
    """Zero: the step function is piecewise constant."""
    return _backward("step", dy, x, "x", out)


def sigmoid(x, beta: float = 1.0, *, out=None):
    """1 / (1 + exp(-beta * x))."""
    return _forward("sigmoid", x, out, _finite(beta, "beta"))


def sigmoid_backward(dy, y, beta: float = 1.0, *, out=None):
    """dy * beta * y * (1 - y), from the forward output y."""
    return _backward("sigmoid", dy, y, "y", out, _finite(beta, "beta"))


def tanh(x, *, out=None):
    """Hyperbolic tangent."""
    return _forward("tanh", x, out)


def tanh_backward(dy, y, *, out=None):
    """dy * (1 - y^2), from the forward output y."""
    return _backward("tanh", dy, y, "y", out)


def relu(x, *, out=None):
    """max(x, 0); NaN stays NaN."""
    return _forward("relu", x, out)


def relu_backward(dy, x, *, out=None):
    """0 where x <= 0, else dy (the gradient at 0 is taken as 0, and a NaN input passes dy on,
    as PyTorch's threshold_backward)."""
    return _backward("relu", dy, x, "x", out)


def leaky_relu(x, negative_slope: float = 0.01, *, out=None):
    """x where x >= 0, negative_slope * x elsewhere."""
    return _forward("leaky_relu", x, out, _finite(negative_slope, "negative_slope"))


def leaky_relu_backward(dy, x, negative_slope: float = 0.01, *, out=None):
    """dy where x > 0, negative_slope * dy elsewhere."""
    return _backward("leaky_relu", dy, x, "x", out, _finite(negative_slope, "negative_slope"))


def softplus(x, beta: float = 1.0, threshold: float = 20.0, *, out=None):
    """(1/beta) * log(1 + exp(beta * x)); x itself where beta * x > threshold (PyTorch's rule)."""
    return _forward("softplus", x, out, _finite(beta, "beta", nonzero=True), _finite(threshold, "threshold"))


def softplus_backward(dy, x, beta: float = 1.0, threshold: float = 20.0, *, out=None):
    """dy * sigmoid(beta * x); dy where beta * x > threshold."""
    return _backward("softplus", dy, x, "x", out, _finite(beta, "beta", nonzero=True),
                     _finite(threshold, "threshold"))


def swish(x, beta: float = 1.0, *, out=None):
    """x * sigmoid(beta * x) (SiLU when beta = 1)."""
    return _forward("swish", x, out, _finite(beta, "beta"))


def swish_backward(dy, x, beta: float = 1.0, *, out=None):
    """dy * (s + beta * x * s * (1 - s)) with s = sigmoid(beta * x)."""
    return _backward("swish", dy, x, "x", out, _finite(beta, "beta"))


def elu(x, alpha: float = 1.0, *, out=None):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere."""
    return _forward("elu", x, out, _finite(alpha, "alpha"))


def elu_backward(dy, x, alpha: float = 1.0, *, out=None):
    """dy * alpha * exp(x) where x <= 0, else dy (a NaN input passes dy on, as PyTorch)."""
    return _backward("elu", dy, x, "x", out, _finite(alpha, "alpha"))


def _approximate(approximate) -> float:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh' (PyTorch's). Received: approximate={approximate!r}")
    return 1.0 if approximate == "tanh" else 0.0


def gelu(x, approximate: str = "none", *, out=None):
    """GELU (Hendrycks & Gimpel 2016), PyTorch's: x Phi(x) with Phi the standard normal CDF,
    computed as 0.5 x erfc(-x / sqrt 2) (float32: a vectorized erfc, relative error ~1e-6 also in
    the negative tail); approximate="tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return _forward("gelu", x, out, _approximate(approximate))


def gelu_backward(dy, x, approximate: str = "none", *, out=None):
    """dy (Phi(x) + x phi(x)) (phi the normal density), or the tanh form's derivative."""
    return _backward("gelu", dy, x, "x", out, _approximate(approximate))


def _softmax(x, out, log: bool, name: str):
    check_float(x, "x")
    if x.ndim < 1:
        raise ValueError(f"{name} needs an array with at least 1 dimension, got a 0-D array")
    x = contiguous(x)
    x = unaliased(x, out)
    out = out_array(out, x.shape, x.dtype, xp=get_array_module(x))
    backend(x, out).softmax_forward(x, out, log)
    return out


def _softmax_bwd(dy, y, out, log: bool, name: str):
    check_float(dy, "dy")
    same_dtype(dy, "dy", y, "y")
    same_shape(dy, "dy", y, "y")
    if dy.ndim < 1:
        raise ValueError(f"{name} needs an array with at least 1 dimension, got a 0-D array")
    dy, y = contiguous(dy), contiguous(y)
    dy, y = unaliased(dy, out), unaliased(y, out)
    out = out_array(out, dy.shape, dy.dtype, xp=get_array_module(dy))
    backend(dy, y, out).softmax_backward(dy, y, out, log)
    return out


def softmax(x, *, out=None):
    """exp(x - max) / sum(exp(x - max)) over the last axis."""
    return _softmax(x, out, False, "softmax")


def log_softmax(x, *, out=None):
    """x - max - log(sum(exp(x - max))) over the last axis."""
    return _softmax(x, out, True, "log_softmax")


def softmax_backward(dy, y, *, out=None):
    """y * (dy - sum(dy * y)) over the last axis, from the softmax output y."""
    return _softmax_bwd(dy, y, out, False, "softmax_backward")


def log_softmax_backward(dy, y, *, out=None):
    """dy - exp(y) * sum(dy) over the last axis, from the log_softmax output y."""
    return _softmax_bwd(dy, y, out, True, "log_softmax_backward")
