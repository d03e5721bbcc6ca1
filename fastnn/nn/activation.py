"""Every activation as a layer: forward caches what the op's backward needs (the output y for
sigmoid, tanh and softmax, the input x otherwise, as in docs/ops.md).

``inplace=True`` (the layers whose PyTorch counterpart takes it: ReLU, LeakyReLU, ELU, CELU,
SELU, SiLU, Mish, Hardswish, Hardsigmoid, ReLU6, Hardtanh, Threshold) writes the result into
the input array and returns that same object, as PyTorch's, when the input is a writable
NumPy array of a dtype the layer computes in (float32 or float64 for the native kernels; any
float dtype for the layers in array code); a non-contiguous view (``x[:, ::2]``) gets the result
copied in, so the array it views changes too, as a torch view does. Any other input (read-only,
a CuPy array) is left untouched and a new array returned, as with ``inplace=False``;
an int input is the same TypeError either way. The backward is exactly the out-of-place one:
ReLU, LeakyReLU with negative_slope >= 0 and Hardtanh / ReLU6 with bounds exact in the dtype
take the derivative from the output (the same bits: y > 0 exactly where x > 0, NaN included);
the others keep a copy of the input made before it is overwritten (so, unlike PyTorch, a
negative slope or alpha works too). As in PyTorch, an in-place layer must not overwrite an
array another layer's backward still needs (the output of Sigmoid, Tanh or Softmax): PyTorch
raises then, fastnn cannot tell. Inside a fused Sequential step (``fusion.py``: Linear + ReLU,
ReLU + MaxPool2d) the layer's input is an intermediate the step never makes or never writes;
the outputs and gradients are the same.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import _device, ops
from .layers import DimensionError
from .module import Module, check_bool, check_float_arg

__all__ = ["Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Swish", "SiLU", "ELU", "GELU",
           "Softmax", "LogSoftmax", "Softmin", "ReLU6", "Hardtanh", "SELU", "CELU", "Mish", "Hardswish", "Hardsigmoid",
           "Softsign", "LogSigmoid", "Tanhshrink", "Softshrink", "Hardshrink", "Threshold"]


def _check_array(layer, x) -> None:
    """x must be a NumPy or CuPy array (callers test for NumPy first: the common case)."""
    if _device.device_of(x) is None:
        raise TypeError(f"{type(layer).__name__} expects a numpy.ndarray or cupy.ndarray, got {type(x).__name__}")


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _Activation(Module):
    _op: str = ""
    _saves_output = False
    inplace = False  # set by the layers that take PyTorch's inplace argument

    def __init__(self):
        super().__init__()
        self._saved = None

    def _params(self) -> dict:
        return {}

    def _config(self) -> dict:
        """The constructor arguments but inplace."""
        return self._params()

    def _computes_in(self, dtype) -> bool:
        return dtype in _KERNEL_DTYPES

    def _writes_input(self, x) -> bool:
        """Whether forward writes its result into x (see the module docstring)."""
        return self.inplace and isinstance(x, np.ndarray) and x.flags.writeable and self._computes_in(x.dtype)

    def _backward_from_output(self, dtype) -> bool:
        """Whether backward given the output returns, bit for bit, what it returns given the
        input: an in-place forward then keeps no copy of the input."""
        return self._saves_output

    def _saved_for_inplace(self, x):
        """What backward needs once x is overwritten (called before the write)."""
        return x if self._backward_from_output(x.dtype) else x.copy()

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        if self._writes_input(x):
            self._saved = self._saved_for_inplace(x)
            if x.flags.c_contiguous and x.flags.aligned:  # the kernel writes x itself
                return getattr(ops, self._op)(x, **self._params(), out=x)
            np.copyto(x, getattr(ops, self._op)(x, **self._params()))
            return x
        y = getattr(ops, self._op)(x, **self._params())
        self._saved = y if self._saves_output else x
        return y

    def backward(self, dy):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return getattr(ops, self._op + "_backward")(dy, self._saved, **self._params())

    def get_config(self):
        config = self._config()
        if self.inplace:  # only then: configs saved before inplace existed stay the same
            config["inplace"] = True
        return config


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

    def extra_repr(self) -> str:  # torch's Sigmoid has none; beta is fastnn's
        return "" if self.beta == 1.0 else f"beta={self.beta}"


class Tanh(_Activation):
    """Hyperbolic tangent."""
    _op, _saves_output = "tanh", True


class ReLU(_Activation):
    """max(x, 0). ``inplace=True`` writes it into x (see the module docstring)."""
    _op = "relu"

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool("inplace", inplace)

    def _backward_from_output(self, dtype):
        return True  # y <= 0 exactly where x <= 0; NaN stays NaN


class LeakyReLU(_Activation):
    """x for x > 0, negative_slope * x otherwise (zeros too, as PyTorch: a negative slope flips
    their sign). ``inplace=True`` writes it into x (see the module docstring)."""
    _op = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = check_float_arg("negative_slope", negative_slope)
        self.inplace = check_bool("inplace", inplace)

    def _params(self):
        return {"negative_slope": self.negative_slope}

    def _backward_from_output(self, dtype):
        return self.negative_slope >= 0.0  # then y > 0 exactly where x > 0 (NaN: neither)


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
    """Swish with beta = 1. ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__(1.0)
        self.inplace = check_bool("inplace", inplace)

    def _config(self):
        return {}


class ELU(_Activation):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. ``inplace=True`` writes it into x (see the
    module docstring)."""
    _op = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = check_float_arg("alpha", alpha)
        self.inplace = check_bool("inplace", inplace)

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

    @property
    def dim(self) -> int:
        """torch's name of ``axis``."""
        return self.axis

    @dim.setter
    def dim(self, value: int) -> None:
        self.axis = value

    # The kernels work along the last axis; another axis is moved there and back (a copy).
    # A 0-d input is one class along axis 0 or -1 (softmax 1, log_softmax 0), as PyTorch's.
    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        if not -max(x.ndim, 1) <= self.axis < max(x.ndim, 1):
            raise DimensionError(f"axis {self.axis} is out of range for an input of shape {x.shape}")
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

    def extra_repr(self) -> str:  # torch's format (fastnn's default axis is -1, torch's dim None)
        return f"dim={self.axis}"


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


class Softmin(_SoftmaxBase):
    """softmax(-x) along ``axis`` (or ``dim=``, as Softmax): PyTorch's Softmin."""
    _op = "softmax"

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        if x.ndim == 0:  # (-x of a 0-d array is a scalar)
            return self.forward(x.reshape(1)).reshape(())
        return super().forward(-x)

    def backward(self, dy):
        dx = super().backward(dy)  # a new array (a view of one): negated in place, 0-d too
        dx *= -1
        return dx


# ---- activations in array code -------------------------------------------------------------
# PyTorch's other element-wise activations, written with the array module of the input (NumPy
# or CuPy), computed in float64 and rounded to the input's dtype (float32 results are then the
# exact values rounded, where exp(x / alpha) would amplify float32 rounding): f(x) and f'(x)
# from the input saved by forward. Not native kernels:
# they are not in the hot path of the models fastnn trains (docs/api.md).

class _ArrayActivation(_Activation):
    def _f(self, xp, x):
        raise NotImplementedError

    def _df(self, xp, x):  # f'(x), the same shape
        raise NotImplementedError

    def _computes_in(self, dtype):
        return dtype.kind == "f"

    def _backward_from_output(self, dtype):
        return False  # backward takes x (_df)

    def _in_dtype(self, value):
        """A parameter rounded to the dtype of the input being computed (_f and _df see it in
        float64): torch compares a float32 x with float32(threshold), so x == float32(0.1)
        counts as at the threshold 0.1."""
        return float(self._dtype.type(value))

    def forward(self, x):
        if not isinstance(x, np.ndarray):
            _check_array(self, x)
        if x.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__} expects a float array, got dtype {x.dtype}")
        xp = ops.get_array_module(x)
        self._dtype = x.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            y = xp.asarray(self._f(xp, x.astype(np.float64, copy=False))).astype(x.dtype, copy=False)
        if self._writes_input(x):
            self._saved = self._saved_for_inplace(x)
            np.copyto(x, y)
            return x
        self._saved = x
        return y

    def backward(self, dy):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x = self._saved
        if tuple(dy.shape) != tuple(x.shape):
            raise ValueError(f"{type(self).__name__}.backward expects dy of shape {x.shape} (the forward's input), "
                             f"got {dy.shape}")
        xp = ops.get_array_module(x)
        self._dtype = x.dtype
        with np.errstate(over="ignore", invalid="ignore"):
            d = xp.asarray(self._df(xp, x.astype(np.float64, copy=False)))
            return (dy.astype(np.float64, copy=False) * d).astype(dy.dtype, copy=False)


class HardtanhBoundsError(ValueError, AssertionError):
    """Hardtanh's max_val <= min_val (PyTorch raises AssertionError, fastnn ValueError: both)."""


class Hardtanh(_ArrayActivation):
    """x clipped to [min_val, max_val] (NaN stays NaN); gradient 1 strictly inside, 0 outside and
    at the bounds, as PyTorch's. ``inplace=True`` writes it into x (see the module docstring).

    ``min_value`` / ``max_value`` are PyTorch's deprecated names of min_val / max_val: given,
    they win over min_val / max_val (with PyTorch's FutureWarning), as in PyTorch."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None):
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning,
                          stacklevel=2)
            min_val = check_float_arg("min_value", min_value)
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning,
                          stacklevel=2)
            max_val = check_float_arg("max_value", max_value)
        self.min_val = check_float_arg("min_val", min_val)
        self.max_val = check_float_arg("max_val", max_val)
        if self.max_val <= self.min_val:
            raise HardtanhBoundsError(f"max_val must be greater than min_val. Received: min_val={self.min_val}, "
                                      f"max_val={self.max_val}")
        self.inplace = check_bool("inplace", inplace)

    def _params(self):
        return {"min_val": self.min_val, "max_val": self.max_val}

    def _backward_from_output(self, dtype):
        # The output holds the bounds rounded to x's dtype, which are what x is compared with:
        # y is strictly inside exactly where x is (NaN stays NaN)
        return True

    def _f(self, xp, x):
        lo, hi = self._in_dtype(self.min_val), self._in_dtype(self.max_val)
        return xp.where(x < lo, lo, xp.where(x > hi, hi, x))

    def _df(self, xp, x):
        return ~((x <= self._in_dtype(self.min_val)) | (x >= self._in_dtype(self.max_val)))


class ReLU6(Hardtanh):
    """min(max(x, 0), 6). ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def _params(self):
        return {}


def _nonpositive(xp, x):
    """x where x <= 0 (-0.0 kept), else 0: the argument of the negative piece, never overflowing."""
    return xp.where(x > 0, x.dtype.type(0), x)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class SELU(_ArrayActivation):
    """scale (x for x > 0, alpha (exp(x) - 1) otherwise), PyTorch's constants (Klambauer et al. 2017).
    ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool("inplace", inplace)

    def _f(self, xp, x):
        return _SELU_SCALE * xp.where(x > 0, x, _SELU_ALPHA * xp.expm1(_nonpositive(xp, x)))

    def _df(self, xp, x):  # NaN takes the positive piece, as PyTorch's
        return _SELU_SCALE * xp.where(x <= 0, _SELU_ALPHA * xp.exp(_nonpositive(xp, x)), 1.0)


class CELU(_ArrayActivation):
    """x for x > 0, alpha (exp(x / alpha) - 1) otherwise (alpha != 0). ``inplace=True`` writes it
    into x (see the module docstring)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = check_float_arg("alpha", alpha)
        if self.alpha == 0.0:
            raise ValueError("alpha must be non-zero (CELU divides by it). Received: alpha=0.0")
        self.inplace = check_bool("inplace", inplace)

    def _params(self):
        return {"alpha": self.alpha}

    def _f(self, xp, x):
        return xp.where(x > 0, x, self.alpha * xp.expm1(_nonpositive(xp, x) / self.alpha))

    def _df(self, xp, x):  # NaN takes the positive piece, as PyTorch's
        return xp.where(x <= 0, xp.exp(_nonpositive(xp, x) / self.alpha), 1.0)


def _softplus(xp, x):
    """log(1 + exp(x)) without overflow."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _sigmoid(xp, x):
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Mish(_ArrayActivation):
    """x tanh(softplus(x)) (Misra 2019).
    ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool("inplace", inplace)

    def _f(self, xp, x):
        return x * xp.tanh(_softplus(xp, x))

    def _df(self, xp, x):
        t = xp.tanh(_softplus(xp, x))
        return t + x * _sigmoid(xp, x) * (1 - t * t)


class Hardswish(_ArrayActivation):
    """x relu6(x + 3) / 6; gradient 0 up to -3, (2x + 3) / 6 below 3, 1 from 3 (and at NaN), as PyTorch's.
    ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool("inplace", inplace)

    def extra_repr(self) -> str:
        return ""  # torch's shows no inplace for this one

    def _f(self, xp, x):
        return x * xp.clip(x + 3, 0, 6) / 6

    def _df(self, xp, x):
        return xp.where(x <= -3, 0.0, xp.where(x < 3, (2 * x + 3) / 6, 1.0))


class Hardsigmoid(_ArrayActivation):
    """relu6(x + 3) / 6; gradient 1/6 strictly between -3 and 3, else 0.
    ``inplace=True`` writes it into x (see the module docstring)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = check_bool("inplace", inplace)

    def extra_repr(self) -> str:
        return ""  # torch's shows no inplace for this one

    def _f(self, xp, x):
        return xp.clip(x + 3, 0, 6) / 6

    def _df(self, xp, x):
        return xp.where((x > -3) & (x < 3), 1.0 / 6.0, 0.0)


class Softsign(_ArrayActivation):
    """x / (1 + |x|)."""

    def _f(self, xp, x):
        return x / (1 + xp.abs(x))

    def _df(self, xp, x):
        d = 1 + xp.abs(x)
        return 1 / (d * d)


class LogSigmoid(_ArrayActivation):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), finite for every finite x."""

    def _f(self, xp, x):
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def _df(self, xp, x):
        return _sigmoid(xp, -x)


class Tanhshrink(_ArrayActivation):
    """x - tanh(x)."""

    def _f(self, xp, x):
        return x - xp.tanh(x)

    def _df(self, xp, x):
        t = xp.tanh(x)
        return t * t


class _Shrink(_ArrayActivation):
    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = check_float_arg("lambd", lambd, low=0.0)

    def _params(self):
        return {"lambd": self.lambd}

    def _df(self, xp, x):
        lam = self._in_dtype(self.lambd)
        return ~((x >= -lam) & (x <= lam))  # NaN passes the gradient, as torch's scalar path

    def extra_repr(self) -> str:  # torch's
        return f"{self.lambd}"


class Softshrink(_Shrink):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (lambd >= 0)."""

    def _f(self, xp, x):
        lam = x.dtype.type(self._in_dtype(self.lambd))
        return xp.where(x > lam, x - lam, xp.where(x < -lam, x + lam, x * 0))


class Hardshrink(_Shrink):
    """x where |x| > lambd, else 0 (lambd >= 0)."""

    def _f(self, xp, x):
        lam = self._in_dtype(self.lambd)
        return xp.where((x >= -lam) & (x <= lam), x.dtype.type(0), x)  # NaN passes, as PyTorch's


class Threshold(_ArrayActivation):
    """value where x <= threshold, else x (PyTorch's Threshold(threshold, value): NaN passes);
    gradient 0 where x <= threshold, else 1. ``inplace=True`` writes it into x (see the module
    docstring)."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = check_float_arg("threshold", threshold)
        self.value = check_float_arg("value", value)
        self.inplace = check_bool("inplace", inplace)

    def _params(self):
        return {"threshold": self.threshold, "value": self.value}

    def _f(self, xp, x):
        return xp.where(x <= self._in_dtype(self.threshold), x.dtype.type(self.value), x)

    def _df(self, xp, x):
        return ~(x <= self._in_dtype(self.threshold))
