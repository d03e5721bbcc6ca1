"""Activations in plain NumPy: the definitions, written to be read, not to be fast.

Same signatures as ``fastnn.ops``; results in the input's dtype.
"""
from __future__ import annotations

import math

import numpy as np


def _np_sigmoid(z):
    # Split by sign so exp never overflows: sigmoid(z) = 1/(1+e^-z) = e^z/(1+e^z).
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def step(x):
    return np.where(x > 0, 1, np.where(x <= 0, 0, x)).astype(x.dtype)


def step_backward(dy, x):
    return np.zeros_like(dy)


def sigmoid(x, beta=1.0):
    return _np_sigmoid(beta * x).astype(x.dtype)


def sigmoid_backward(dy, y, beta=1.0):
    return (dy * beta * y * (1 - y)).astype(dy.dtype)


def tanh(x):
    return np.tanh(x)


def tanh_backward(dy, y):
    return dy * (1 - y * y)


def relu(x):
    return np.where(x < 0, 0, x).astype(x.dtype)


def relu_backward(dy, x):
    """dy where x is not <= 0: NaN passes the gradient on, as PyTorch's threshold_backward."""
    return np.where(x <= 0, 0, dy).astype(dy.dtype)


def leaky_relu(x, negative_slope=0.01):
    # x > 0, not x >= 0, as PyTorch: zeros go through the slope (a negative slope flips their sign)
    return np.where(x > 0, x, negative_slope * x).astype(x.dtype)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    return np.where(x > 0, dy, negative_slope * dy).astype(dy.dtype)


def softplus(x, beta=1.0, threshold=20.0):
    z = beta * x
    with np.errstate(over="ignore", invalid="ignore"):
        soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, soft).astype(x.dtype)


def softplus_backward(dy, x, beta=1.0, threshold=20.0):
    z = beta * x
    return np.where(z > threshold, dy, dy * _np_sigmoid(z)).astype(dy.dtype)


def swish(x, beta=1.0):
    return (x * _np_sigmoid(beta * x)).astype(x.dtype)


def swish_backward(dy, x, beta=1.0):
    s = _np_sigmoid(beta * x)
    return (dy * (s + beta * x * s * (1 - s))).astype(dy.dtype)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu(x, approximate="none"):
    """x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (math.erfc per element); or the tanh form."""
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = x64 * 0.5 * _erfc(-x64 / math.sqrt(2))
    return y.astype(x.dtype)


def gelu_backward(dy, x, approximate="none"):
    """dy (Phi(x) + x phi(x)), or the derivative of the tanh form."""
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        k = math.sqrt(2 / math.pi)
        th = np.tanh(k * (x64 + 0.044715 * x64 ** 3))
        d = 0.5 * (1 + th) + 0.5 * x64 * (1 - th * th) * k * (1 + 3 * 0.044715 * x64 ** 2)
    else:
        with np.errstate(over="ignore"):
            d = 0.5 * _erfc(-x64 / math.sqrt(2)) + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return (dy * d).astype(dy.dtype)


def elu(x, alpha=1.0):
    with np.errstate(over="ignore"):
        neg = alpha * np.expm1(np.minimum(x, 0))
    return np.where(x < 0, neg, x).astype(x.dtype)  # zeros keep their sign, as PyTorch's


def elu_backward(dy, x, alpha=1.0):
    """dy where x is not <= 0 (NaN passes the gradient on, as PyTorch), dy alpha exp(x) elsewhere."""
    return np.where(x <= 0, dy * alpha * np.exp(np.minimum(x, 0)), dy).astype(dy.dtype)


def _shifted(x):
    """x - max over the last axis. An empty array (e.g. an empty last axis) has no max, NumPy's
    max raises: the result is empty whatever the shift, as in PyTorch, so shift by nothing."""
    if x.size == 0:
        return x.copy()
    return x - x.max(axis=-1, keepdims=True)


def softmax(x):
    with np.errstate(invalid="ignore"):
        z = _shifted(x)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def log_softmax(x):
    with np.errstate(invalid="ignore", divide="ignore"):
        z = _shifted(x)
        return (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(x.dtype)


def softmax_backward(dy, y):
    return (y * (dy - (dy * y).sum(axis=-1, keepdims=True))).astype(dy.dtype)


def log_softmax_backward(dy, y):
    return (dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)).astype(dy.dtype)
