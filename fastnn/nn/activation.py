"""Every activation as a layer: forward caches what the op's backward needs (the output y for
sigmoid, tanh and softmax, the input x otherwise, as in docs/ops.md)."""
from __future__ import annotations

import numpy as np

from .. import _device, ops
from .module import Module, check_float_arg

__all__ = ["Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Swish", "SiLU", "ELU", "GELU",
           "Softmax", "LogSoftmax"]


def _check_array(layer, x) -> None:
    """x must be a NumPy or CuPy array (callers test for NumPy first: the common case)."""
    if _device.device_of(x) is None:
        raise TypeError(f"{type(layer).__name__} expects a numpy.ndarray or cupy.ndarray, got {type(x).__name__}")


class _Activation(Module):
    _op: str = ""
    _saves_output = False

    def __init__(self):
        super().__init__()
        self._saved = None

    def _params(self) -> dict:
        return {}

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        y = getattr(ops, self._op)(x, **self._params())
        self._saved = y if self._saves_output else x
        return y

    def backward(self, dy):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return getattr(ops, self._op + "_backward")(dy, self._saved, **self._params())

    def get_config(self):
        return self._params()


class Step(_Activation):
    """Heaviside step: 1 where x > 0, else 0. Its gradient is zero everywhere."""
    _op = "step"


class Sigmoid(_Activation):
    """1 / (1 + exp(-beta * x))."""
    _op, _saves_output = "sigmoid", True

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = check_float_arg("beta", beta)

    def _params(self):
        return {"beta": self.beta}


class Tanh(_Activation):
    """Hyperbolic tangent."""
    _op, _saves_output = "tanh", True


class ReLU(_Activation):
    """max(x, 0)."""
    _op = "relu"


class LeakyReLU(_Activation):
    """x for x >= 0, negative_slope * x otherwise."""
    _op = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = check_float_arg("negative_slope", negative_slope)

    def _params(self):
        return {"negative_slope": self.negative_slope}


class Softplus(_Activation):
    """(1 / beta) * log(1 + exp(beta * x)); linear where beta * x > threshold."""
    _op = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = check_float_arg("beta", beta)
        if self.beta == 0.0:
            raise ValueError("beta must be non-zero. Received: beta=0.0")
        self.threshold = check_float_arg("threshold", threshold)

    def _params(self):
        return {"beta": self.beta, "threshold": self.threshold}


class Swish(_Activation):
    """x * sigmoid(beta * x) (SiLU for beta = 1; Ramachandran et al. 2017)."""
    _op = "swish"

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = check_float_arg("beta", beta)

    def _params(self):
        return {"beta": self.beta}


class SiLU(Swish):
    """Swish with beta = 1."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class ELU(_Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    _op = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = check_float_arg("alpha", alpha)

    def _params(self):
        return {"alpha": self.alpha}


class GELU(_Activation):
    """x Phi(x) (PyTorch's GELU; ``approximate="tanh"`` for its tanh form), Phi the normal CDF."""
    _op = "gelu"

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh'. Received: approximate={approximate!r}")
        self.approximate = approximate

    def _params(self):
        return {"approximate": self.approximate}


class _SoftmaxBase(_Activation):
    _saves_output = True

    def __init__(self, axis: int = -1, *, dim: int | None = None):
        super().__init__()
        if dim is not None:  # PyTorch's name for the axis
            if axis != -1 and axis != dim:
                raise ValueError(f"give the axis once: axis={axis!r} and dim={dim!r} differ")
            axis = dim
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int. Received: axis={axis!r}")
        self.axis = int(axis)

    # The kernels work along the last axis; another axis is moved there and back (a copy).
    # A 0-d input is one class along axis 0 or -1 (softmax 1, log_softmax 0), as PyTorch's.
    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        if not -max(x.ndim, 1) <= self.axis < max(x.ndim, 1):
            raise ValueError(f"axis {self.axis} is out of range for an input of shape {x.shape}")
        if x.ndim == 0:
            return self.forward(x.reshape(1)).reshape(())
        xp = ops.get_array_module(x)
        xm = xp.moveaxis(x, self.axis, -1)
        y = getattr(ops, self._op)(xm)
        self._saved = y
        return xp.moveaxis(y, -1, self.axis)

    def backward(self, dy):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if getattr(dy, "ndim", None) == 0:
            return self.backward(dy.reshape(1)).reshape(())
        xp = ops.get_array_module(dy)
        dym = xp.moveaxis(dy, self.axis, -1)
        return xp.moveaxis(getattr(ops, self._op + "_backward")(dym, self._saved), -1, self.axis)

    def get_config(self):
        return {"axis": self.axis}


class Softmax(_SoftmaxBase):
    """exp(x_i) / sum_j exp(x_j) along ``axis`` (default last; ``dim=`` is PyTorch's name for
    it: ``Softmax(dim=1)``). ``dim=None`` (PyTorch's default) is the last axis too, not
    PyTorch's deprecated implicit choice (axis 0 for a 0-, 1- or 3-D input, else 1): give the
    axis for a 3-D or 4-D input. For classification, feed the logits to CrossEntropyLoss
    instead (it fuses softmax and is numerically safer)."""
    _op = "softmax"


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``axis`` (or ``dim=``, as Softmax)."""
    _op = "log_softmax"
