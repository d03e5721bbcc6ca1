"""Still more of torch.nn's layers, with its semantics, arguments, state_dict names and reprs:
RMSNorm, GLU, RReLU, Dropout1d, Dropout3d, AlphaDropout, FeatureAlphaDropout, LocalResponseNorm.

Written as extra.py's layers are: array code with the array module of the input
(``ops.get_array_module``: NumPy or CuPy), no native kernels. RMSNorm, GLU, LocalResponseNorm
and AlphaDropout / FeatureAlphaDropout compute in float64 and round once to the input's dtype
(float32 in, float32 out); parameter gradients are rounded to the parameter's dtype. Dropout1d
and Dropout3d scale by a factor in the input's dtype, as Dropout2d (and torch) do; RReLU
multiplies by its slope in the input's dtype, as torch's.

The random layers draw one seed per training forward from fastnn's global RNG
(``fastnn.manual_seed`` makes them reproducible), so their random numbers differ from torch's:
the dropout masks come from the kernels' counter-based RNG of that seed (``ops.dropout_mask``, on
the host, the same on the CPU and the GPU), RReLU's slopes from a NumPy Generator of that seed (one
slope per element, positive elements included). In eval mode the dropouts are the identity (x
itself is returned) and RReLU uses the fixed slope (lower + upper) / 2.

``inplace=True`` (RReLU and the dropouts, PyTorch's): in training, the result is written into x
and x itself returned when x is a writable, aligned, C-contiguous NumPy array; any other input
(a view that is not contiguous, a read-only or CuPy array) is left untouched and a new array
returned, as with ``inplace=False`` (Dropout2d's rule). The backward is the same either way.
Dimension legend: N C L, D H W.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from .._random import next_seed
from .extra import F64, _add_grad, _as64, _check_dy, _check_float_input
from .layers import DimensionError, ShapeError, _need_forward
from .module import Module, Parameter, check_bool, check_float_arg, check_int

__all__ = ["RMSNorm", "GLU", "RReLU", "Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
           "LocalResponseNorm"]

# SELU's negative saturation value is -scale * alpha (torch's alpha_dropout constant)
_SELU_SATURATION = 1.7580993408473766


def _on_device_of(x, host_array):
    """host_array on x's device (a CuPy copy for a CuPy x)."""
    if isinstance(x, np.ndarray):
        return host_array
    return ops.get_array_module(x).asarray(host_array)


def _writes_into(layer, x) -> bool:
    """Whether an in-place layer writes its result into x (see the module docstring)."""
    return (layer.inplace and isinstance(x, np.ndarray) and x.flags.c_contiguous and x.flags.writeable
            and x.flags.aligned)


def _check_normalized_shape(normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
    if isinstance(normalized_shape, bool) or not isinstance(shape, (tuple, list)) or not shape or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(f"normalized_shape must be a positive int or a non-empty tuple of positive ints. "
                         f"Received: normalized_shape={normalized_shape!r}")
    return tuple(int(s) for s in shape)


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` axes of each sample
    (Zhang & Sennrich 2019): ``y = x / sqrt(mean(x ** 2) + eps) * weight``, no centring and no
    bias, the same in train and eval.

    Args:
        normalized_shape: an int or a tuple: the input's last axes.
        eps: added to the mean square; None (the default, as torch's) uses the machine epsilon
            of the input's dtype, ``np.finfo(x.dtype).eps`` (1.19e-7 for float32, 2.2e-16 for
            float64). Unlike torch, an eps given must be > 0 (as LayerNorm's here).
        elementwise_affine: learn ``weight`` (ones) of shape normalized_shape.
    Shape: (..., *normalized_shape), unchanged; the leading axes may be empty (batch 0).
    Attributes: weight (normalized_shape), or None without elementwise_affine.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine: bool = True):
        super().__init__()
        self.normalized_shape = _check_normalized_shape(normalized_shape)
        self.eps = None if eps is None else check_float_arg("eps", eps, low=0.0, low_open=True)
        self.elementwise_affine = check_bool("elementwise_affine", elementwise_affine)
        self.weight = None
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
        self._cache = None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data.fill(1)

    def forward(self, x):
        k = len(self.normalized_shape)
        _check_float_input(self, x, range(k, 33), state=None if self.weight is None else self.weight.data)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ShapeError(f"RMSNorm expects an input ending in normalized_shape={self.normalized_shape}, "
                             f"got shape {x.shape}")
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else self.eps
        axes = tuple(range(x.ndim - k, x.ndim))
        count = int(np.prod(self.normalized_shape))
        x64 = _as64(x)
        rstd = ((x64 * x64).sum(axis=axes, keepdims=True) / count + eps) ** -0.5
        xhat = x64 * rstd
        y = xhat if self.weight is None else xhat * _as64(self.weight.data)
        self._cache = (xhat, rstd, axes, x.shape)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        xhat, rstd, axes, shape = self._cache
        _check_dy(self, dy, shape)
        dy64 = _as64(dy)
        if self.weight is not None:
            _add_grad(self.weight, (dy64 * xhat).sum(axis=tuple(range(len(shape) - len(axes)))))
            dxhat = dy64 * _as64(self.weight.data)
        else:
            dxhat = dy64
        # d/dx of x * r(x), r = (mean(x^2) + eps)^-1/2: r (dxhat - xhat mean(dxhat xhat))
        count = int(np.prod(self.normalized_shape))
        m = (dxhat * xhat).sum(axis=axes, keepdims=True) / count
        return (rstd * (dxhat - xhat * m)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "normalized_shape": tuple(config["normalized_shape"])})

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


def _sigmoids(xp, b):
    """(sigmoid(b), sigmoid(-b)) = (1 - sigmoid(b)), each without overflow or cancellation."""
    e = xp.exp(-xp.abs(b))
    d = 1.0 + e
    positive = b >= 0
    return xp.where(positive, 1.0 / d, e / d), xp.where(positive, e / d, 1.0 / d)


class GLU(Module):
    """The gated linear unit (Dauphin et al. 2017): x split in halves a, b along ``dim``
    (negative counts from the end), ``y = a * sigmoid(b)``.

    Shape: any input with an even size along dim -> that axis halved. A 0-D input, or an odd
    size along dim, is a ShapeError (a ValueError, and a RuntimeError as torch's); a dim outside
    the input's axes a DimensionError (an IndexError, as torch's, and a ValueError).
    """

    def __init__(self, dim: int = -1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"dim must be an int. Received: dim={dim!r}")
        self.dim = int(dim)
        self._cache = None

    def forward(self, x):
        _check_float_input(self, x, range(0, 33))
        if x.ndim == 0:
            raise ShapeError("GLU does not support a 0-D input (it halves an axis)")
        if not -x.ndim <= self.dim < x.ndim:
            raise DimensionError(f"GLU: dim={self.dim} is out of range for an input of shape {x.shape}")
        d = self.dim % x.ndim
        if x.shape[d] % 2:
            raise ShapeError(f"GLU: the halved axis must have an even size, but axis {self.dim} has size "
                             f"{x.shape[d]} (input shape {x.shape})")
        xp = ops.get_array_module(x)
        half = x.shape[d] // 2
        x64 = _as64(x)
        lead = (slice(None),) * d
        a, b = x64[lead + (slice(0, half),)], x64[lead + (slice(half, None),)]
        s, s_neg = _sigmoids(xp, b)
        self._cache = (a, s, s_neg, d)
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as torch's
            return (a * s).astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        a, s, s_neg, d = self._cache
        _check_dy(self, dy, a.shape)
        xp = ops.get_array_module(dy)
        dy64 = _as64(dy)
        with np.errstate(invalid="ignore"):
            da = dy64 * s
            db = dy64 * a * s * s_neg  # sigmoid' = s (1 - s)
        return xp.concatenate([da, db], axis=d).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"dim": self.dim}

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class RReLU(Module):
    """The randomized leaky ReLU (Xu et al. 2015): x for x > 0, a * x otherwise, where in
    training each element draws its own slope a ~ U(lower, upper) on every forward, and in eval
    mode a = (lower + upper) / 2 for all.

    As torch's: the slope is applied in the input's dtype (drawn as float64 and rounded to it),
    zeros take the slope (their gradient is a, not 1); in training a NaN element has gradient 1,
    in eval mode the slope. The slopes come from fastnn's RNG (see the module docstring), one per
    element; the same ``fastnn.manual_seed`` gives the same slopes. backward(dy) is dy times the
    slopes of the last forward. lower must be <= upper (torch checks it at the forward, fastnn at
    construction). ``inplace=True``: see the module docstring.
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower = check_float_arg("lower", lower)
        self.upper = check_float_arg("upper", upper)
        if self.lower > self.upper:
            raise ValueError(f"lower must be <= upper. Received: lower={lower!r}, upper={upper!r}")
        self.inplace = check_bool("inplace", inplace)
        self._factor = None

    def forward(self, x):
        _check_float_input(self, x, range(0, 33))
        xp = ops.get_array_module(x)
        one = x.dtype.type(1)
        if self.training:
            noise = np.random.default_rng(next_seed()).uniform(self.lower, self.upper, x.shape).astype(x.dtype)
            factor = xp.where(x <= 0, _on_device_of(x, noise), one)  # torch's: NaN keeps slope 1
        else:
            factor = xp.where(x > 0, one, x.dtype.type((self.lower + self.upper) / 2))
        self._factor = factor
        with np.errstate(invalid="ignore"):  # inf * 0 (lower = 0) is NaN, as torch's
            if _writes_into(self, x):
                return np.multiply(x, factor, out=x)
            return x * factor

    def backward(self, dy):
        _need_forward(self, self._factor)
        _check_dy(self, dy, self._factor.shape)
        with np.errstate(invalid="ignore"):
            return dy * self._factor.astype(dy.dtype, copy=False)

    def get_config(self):
        return {"lower": self.lower, "upper": self.upper, "inplace": self.inplace}

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class _DropoutBase(Module):
    """p and inplace, checked as Dropout2d's; the config and the repr torch's (p, inplace)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_float_arg("p", p, low=0.0, high=1.0)
        self.inplace = check_bool("inplace", inplace)
        self._factor = self._shape = None

    def _identity(self, x) -> bool:
        """Eval mode, p = 0 or an empty x: x itself is the output (torch's)."""
        if not self.training or self.p == 0.0 or x.size == 0:
            self._factor = None
            return True
        return False

    def get_config(self):
        return {"p": self.p, "inplace": self.inplace}

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _ChannelDropout(_DropoutBase):
    """Dropout2d's channel dropout for `_spatial` trailing spatial axes."""

    _spatial = 1

    def forward(self, x):
        _check_float_input(self, x, (self._spatial + 1, self._spatial + 2))
        if self._identity(x):
            return x
        channels = tuple(x.shape[:-self._spatial])  # (N, C) or (C,)
        mask = ops.dropout_mask(channels, self.p, next_seed())  # uint8 on the host, 1 = kept
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        factor = (mask.astype(x.dtype) * x.dtype.type(scale)).reshape(channels + (1,) * self._spatial)
        self._factor = factor = _on_device_of(x, factor)
        self._shape = x.shape
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as torch's
            if _writes_into(self, x):
                return np.multiply(x, factor, out=x)
            return x * factor

    def backward(self, dy):
        if self._factor is None:
            return dy
        _check_dy(self, dy, self._shape)
        with np.errstate(invalid="ignore"):
            return dy * self._factor.astype(dy.dtype, copy=False)


class Dropout1d(_ChannelDropout):
    """Channel dropout for 1-D feature maps: in training, zero each whole channel (a length-L
    row) with probability p and scale the rest by 1 / (1 - p); identity in eval mode.

    Shape: (N, C, L), or (C, L) (one unbatched sample, as torch's). Any other rank is a
    ShapeError (torch: a RuntimeError). p = 1 gives x * 0 (NaN where x is NaN or inf), as torch's.
    The mask comes from fastnn's RNG (module docstring); ``inplace``: the module docstring.
    """

    _spatial = 1


class Dropout3d(_ChannelDropout):
    """Channel dropout for 3-D feature maps: in training, zero each whole channel (a D x H x W
    volume) with probability p and scale the rest by 1 / (1 - p); identity in eval mode.

    Shape: (N, C, D, H, W), or (C, D, H, W) (one unbatched sample, as torch's). Any other rank is
    a ShapeError, where torch warns and goes on. p = 1 gives x * 0, as torch's. The mask comes
    from fastnn's RNG (module docstring); ``inplace``: the module docstring.
    """

    _spatial = 3


class _AlphaDropoutBase(_DropoutBase):
    """torch's alpha dropout: kept elements a * x + a * s * p, dropped ones a * s * (p - 1), with
    s = SELU's saturation 1.7580993408473766 and a = 1 / sqrt((s^2 p + 1)(1 - p)), so an input
    of mean 0 and variance 1 keeps them; the mask over `_mask_shape(x)`."""

    def _mask_shape(self, x):
        return tuple(x.shape)

    def _check(self, x) -> None:
        _check_float_input(self, x, range(0, 33))

    def forward(self, x):
        self._check(x)
        if self._identity(x):
            return x
        shape = self._mask_shape(x)
        keep = ops.dropout_mask(shape, self.p, next_seed()).astype(F64)
        keep = keep.reshape(shape + (1,) * (x.ndim - len(shape)))
        if self.p == 1.0:  # torch's x * 0 (NaN where x is NaN or inf)
            factor, shift = keep * 0.0, None
        else:
            a = 1.0 / np.sqrt((_SELU_SATURATION ** 2 * self.p + 1.0) * (1.0 - self.p))
            factor = keep * a
            shift = _on_device_of(x, (keep - 1.0) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * self.p)
        self._factor = factor = _on_device_of(x, factor)
        self._shape = x.shape
        with np.errstate(invalid="ignore"):
            y = _as64(x) * factor
            y = (y if shift is None else y + shift).astype(x.dtype, copy=False)
        if _writes_into(self, x):
            np.copyto(x, y)
            return x
        return y

    def backward(self, dy):
        if self._factor is None:
            return dy
        _check_dy(self, dy, self._shape)
        with np.errstate(invalid="ignore"):
            return (_as64(dy) * self._factor).astype(dy.dtype, copy=False)


class AlphaDropout(_AlphaDropoutBase):
    """Alpha dropout (Klambauer et al. 2017), for self-normalising (SELU) networks: in training,
    each element is dropped with probability p, set to SELU's negative saturation value
    -1.7580993408473766, and then the whole output is scaled and shifted so that an input of
    mean 0 and variance 1 keeps them: kept elements become a * x + a * s * p, dropped ones
    a * s * (p - 1), with s = 1.7580993408473766 and a = 1 / sqrt((s^2 p + 1)(1 - p)) (torch's).
    Identity in eval mode. backward: dy * a where kept, 0 where dropped.

    Shape: any. p = 1 gives x * 0, as torch's. Computed in float64 and rounded once (torch:
    two roundings in float32). The mask comes from fastnn's RNG (module docstring);
    ``inplace``: the module docstring.
    """


class FeatureAlphaDropout(_AlphaDropoutBase):
    """AlphaDropout over whole channels: in training each (sample, channel) entry of the first
    two axes is dropped or kept as a whole, with AlphaDropout's values and gradient.

    Shape: any input of 2 or more axes, read as (N, C, *), as torch's implementation does: a
    4-D input is (N, C, H, W) and a 2-D one (N, C) (torch's docs list an unbatched (C, D, H, W),
    but its code, and so fastnn, drops per entry of the first two axes). A 0-D or 1-D input is a
    ShapeError (torch: a RuntimeError).
    """

    def _check(self, x) -> None:
        _check_float_input(self, x, range(0, 33))
        if x.ndim < 2:
            raise ShapeError(f"FeatureAlphaDropout expects an input of at least 2 axes (N, C, *), got shape "
                             f"{x.shape}")

    def _mask_shape(self, x):
        return tuple(x.shape[:2])


def _window_sum(xp, a, before: int, after: int):
    """out[:, c] = a[:, c - before] + ... + a[:, c + after], zero outside the C channels of
    axis 1 (a sum of shifted slices: no cumulative sums, so no cancellation)."""
    c = a.shape[1]
    out = xp.zeros(a.shape, F64)
    for d in range(-min(before, c - 1), min(after, c - 1) + 1):
        out[:, max(0, -d):c - max(0, d)] += a[:, max(0, d):c - max(0, -d)]
    return out


class LocalResponseNorm(Module):
    """Local response normalisation across channels (Krizhevsky et al. 2012), as torch's:
    ``y_c = x_c / (k + alpha / size * sum(x_c' ** 2)) ** beta``, the sum over the channels c'
    from c - size // 2 to c + (size - 1) // 2 that exist (torch zero-pads and divides by size
    whatever the padding, so a size larger than C, or an even size, is fine).

    Args: size (int >= 1, the window of channels), alpha, beta, k: finite real numbers (torch
    checks none of them; here stored as floats, so alpha=1 shows as alpha=1.0 in the repr).
    Shape: (N, C, *) with at least 3 axes, unchanged (torch's: a 2-D input is an error, a
    ShapeError here). An empty input is returned as it is.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = check_int("size", size)
        self.alpha = check_float_arg("alpha", alpha)
        self.beta = check_float_arg("beta", beta)
        self.k = check_float_arg("k", k)
        self._cache = None

    def forward(self, x):
        _check_float_input(self, x, range(0, 33))
        if x.ndim < 3:
            raise ShapeError(f"LocalResponseNorm expects an input of 3 or more axes (N, C, *), got shape "
                             f"{x.shape}")
        if x.size == 0:
            self._cache = (x.shape, None)
            return x
        xp = ops.get_array_module(x)
        x64 = _as64(x)
        with np.errstate(divide="ignore", invalid="ignore"):  # k <= 0 can reach 0 ** -beta, as torch's
            den = self.k + (self.alpha / self.size) * _window_sum(xp, x64 * x64, self.size // 2,
                                                                  (self.size - 1) // 2)
            scale = den ** -self.beta
            y = x64 * scale
        self._cache = (x.shape, (x64, den, scale))
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        shape, saved = self._cache
        _check_dy(self, dy, shape)
        if saved is None:
            return dy
        x64, den, scale = saved
        xp = ops.get_array_module(dy)
        dy64 = _as64(dy)
        with np.errstate(divide="ignore", invalid="ignore"):
            # x_j enters the denominators of the channels c whose window holds j: the transposed
            # window, c from j - (size - 1) // 2 to j + size // 2
            t = _window_sum(xp, dy64 * x64 * scale / den, (self.size - 1) // 2, self.size // 2)
            dx = dy64 * scale - (2.0 * self.alpha * self.beta / self.size) * x64 * t
        return dx.astype(dy.dtype, copy=False)

    def get_config(self):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
