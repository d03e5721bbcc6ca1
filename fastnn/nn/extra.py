"""More of torch.nn's layers, with its semantics and state_dict names: PReLU, Unflatten,
ZeroPad2d, ConstantPad2d, Dropout2d, LayerNorm, GroupNorm, Upsample (nearest, nearest-exact,
linear, bilinear, bicubic, trilinear), Embedding.

Written in array code with the array module of the input (``ops.get_array_module``: NumPy or
CuPy), as the activations in array code are: they are not in the hot path of the models fastnn
trains, so they have no native kernels. The normalisations and PReLU compute in float64 and
round to the input's dtype (float32 in, float32 out); parameter gradients are rounded to the
parameter's dtype. Dimension legend: N C H W, OH OW.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _device, ops
from .._random import next_seed
from . import init as _init
from .layers import ShapeError, _check_input, _need_forward
from .module import Module, Parameter, as_given, check_bool, check_float_arg, check_int

__all__ = ["PReLU", "Unflatten", "ZeroPad2d", "ConstantPad2d", "Dropout2d", "LayerNorm", "GroupNorm", "Upsample",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "Embedding"]

F64 = np.float64


def _check_float_input(layer, x, ndims, state=None) -> None:
    _check_input(layer, x, ndims, state=state)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{type(layer).__name__} expects a float32 or float64 input, got dtype {x.dtype}")


def _check_dy(layer, dy, shape) -> None:
    if _device.device_of(dy) is None:
        raise TypeError(f"{type(layer).__name__}.backward expects a numpy.ndarray or cupy.ndarray, "
                        f"got {type(dy).__name__}")
    if tuple(dy.shape) != tuple(shape):
        raise ValueError(f"{type(layer).__name__}.backward expects dy of shape {tuple(shape)} (the forward's "
                         f"output), got {tuple(dy.shape)}")


def _as64(a):
    return a.astype(F64, copy=False)


def _add_grad(param: Parameter, g) -> None:
    param.add_grad(g.astype(param.data.dtype, copy=False))


class PReLU(Module):
    """x for x > 0, weight * x otherwise, a learned slope per channel (He et al. 2015).

    Args:
        num_parameters: 1 (one slope for every element) or C, the size of the channel axis 1
            (PyTorch's rule: a 0-D or 1-D input has one channel, so it needs num_parameters = 1).
        init: the initial slope.
    Shape: any; with num_parameters > 1 the channel axis must have num_parameters entries.
    Attributes: weight (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = check_int("num_parameters", num_parameters)
        self.init = check_float_arg("init", init)
        self.weight = Parameter(np.full(self.num_parameters, self.init, np.float32))
        self._x = None

    def reset_parameters(self) -> None:
        self.weight.data.fill(self.init)

    def _channel_axis(self, x) -> int | None:
        """The axis the slopes run along (None: one slope for all). As PyTorch's: axis 1; an
        input of fewer than 2 dimensions has no channel axis (one channel), so it needs
        num_parameters = 1."""
        if self.num_parameters == 1:
            return None
        channels = x.shape[1] if x.ndim >= 2 else 1
        if channels != self.num_parameters:
            raise ValueError(f"PReLU expects {self.num_parameters} channels along axis 1 "
                             f"(num_parameters={self.num_parameters}), got input shape {x.shape}")
        return 1

    def _slopes(self, x, axis):
        w = _as64(self.weight.data)
        if axis is None:
            return w.reshape(())
        return w.reshape((-1,) + (1,) * (x.ndim - axis - 1))

    def forward(self, x):
        _check_float_input(self, x, range(0, 33), state=self.weight.data)
        axis = self._channel_axis(x)
        xp = ops.get_array_module(x)
        x64 = _as64(x)
        self._x = x
        return xp.where(x64 > 0, x64, x64 * self._slopes(x, axis)).astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._x)
        x = self._x
        _check_dy(self, dy, x.shape)
        axis = self._channel_axis(x)
        xp = ops.get_array_module(x)
        x64, dy64 = _as64(x), _as64(dy)
        positive = x64 > 0
        # d/dw: x * dy where x <= 0 (NaN included), summed over every axis but the channel's
        contrib = xp.where(positive, 0.0, x64 * dy64)
        if axis is None:
            dw = contrib.sum().reshape(1)
        else:
            dw = contrib.sum(axis=tuple(a for a in range(x.ndim) if a != axis))
        _add_grad(self.weight, dw)
        return xp.where(positive, dy64, dy64 * self._slopes(x, axis)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"num_parameters": self.num_parameters, "init": self.init}

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Unflatten(Module):
    """Split axis ``dim`` (negative counts from the end) into ``unflattened_size`` (a tuple or
    list of ints, at most one -1), as PyTorch: Unflatten(1, (2, 5)) takes (N, 10) to (N, 2, 5).
    unflattened_size is kept as given (a list stays a list, as torch's repr shows it)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"dim must be an int. Received: dim={dim!r}")
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) and (s >= 0 or s == -1)
                for s in unflattened_size) or list(unflattened_size).count(-1) > 1:
            raise ValueError(f"unflattened_size must be a non-empty tuple of ints >= 0 (at most one -1). "
                             f"Received: unflattened_size={unflattened_size!r}")
        self.dim = int(dim)
        # as given, as torch keeps it: Unflatten(1, [2, 3]) prints unflattened_size=[2, 3]
        self.unflattened_size = (list if isinstance(unflattened_size, list) else tuple)(
            int(s) for s in unflattened_size)
        self._x_shape = None

    def forward(self, x):
        _check_input(self, x, range(1, 33))
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Unflatten: dim={self.dim} is out of range for an input of shape {x.shape}")
        d = self.dim % x.ndim
        known = 1
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        size = x.shape[d]
        sizes = tuple(self.unflattened_size)
        if -1 in sizes:
            if known == 0 or size % known:
                raise ValueError(f"Unflatten: unflattened_size={self.unflattened_size} cannot split axis "
                                 f"{self.dim} of size {size} (input shape {x.shape})")
            sizes = tuple(size // known if s == -1 else s for s in sizes)
        elif known != size:
            raise ValueError(f"Unflatten: unflattened_size={self.unflattened_size} has {known} elements but "
                             f"axis {self.dim} has {size} (input shape {x.shape})")
        self._x_shape = x.shape
        return x.reshape(x.shape[:d] + sizes + x.shape[d + 1:])

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        return dy.reshape(self._x_shape)

    def get_config(self):
        # JSON has lists only: a list given is marked, so that a loaded layer is the saved one
        # (a config without the mark, as saved before, loads a tuple)
        config = {"dim": self.dim, "unflattened_size": list(self.unflattened_size)}
        if isinstance(self.unflattened_size, list):
            config["unflattened_size_is_list"] = True
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        as_list = config.pop("unflattened_size_is_list", False)
        size = config.get("unflattened_size")
        if isinstance(size, (tuple, list)):
            config["unflattened_size"] = list(size) if as_list else tuple(size)
        return cls(**config)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _check_pad_amounts(padding, count: int):
    """A tuple of `count` ints from an int (every side) or a tuple in torch's order (negative
    amounts crop): (left, right) for 1-D pads, (left, right, top, bottom) for 2-D ones."""
    rule = "(left, right)" if count == 2 else "(left, right, top, bottom)"
    if isinstance(padding, (tuple, list)):
        if len(padding) != count or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool)
                                            for p in padding):
            raise ValueError(f"padding must be an int or a {count}-tuple {rule} of ints. Received: padding={padding!r}")
        return tuple(int(p) for p in padding)
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral):
        raise TypeError(f"padding must be an int or a {count}-tuple {rule} of ints. Received: padding={padding!r}")
    return (int(padding),) * count


def _pad_slices(size: int, before: int, after: int):
    """(source slice of the input, destination slice of the output) along one axis."""
    start, stop = max(-before, 0), size - max(-after, 0)
    length = max(stop - start, 0)
    dst = max(before, 0)
    return slice(start, start + length), slice(dst, dst + length)


def _crops_past(size: int, before: int, after: int) -> bool:
    """Whether a constant pad's negative amounts take more than an axis of `size` holds (torch
    crops first, then pads: that is an error there)."""
    return size + min(before, 0) + min(after, 0) < 0


class ConstantPad2d(Module):
    """Pad the last two axes with ``value``: ``padding`` is an int or (left, right, top,
    bottom); a negative amount crops that side (PyTorch's).
    Shape: any input of >= 2 dimensions, (..., H, W) -> (..., H + top + bottom, W + left + right)
    (each must stay >= 0; a side cropped to nothing gives an empty output), as PyTorch's; fewer
    dimensions are a ShapeError.
    """

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding = _check_pad_amounts(padding, 4)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"value must be a real number. Received: value={value!r}")
        self.value = as_given(value)  # torch's repr keeps an int
        self._x_shape = None

    def _geometry(self, shape):
        left, right, top, bottom = self.padding
        h, w = shape[-2], shape[-1]
        oh, ow = h + top + bottom, w + left + right
        if _crops_past(h, top, bottom) or _crops_past(w, left, right):
            raise ValueError(f"{type(self).__name__}: padding={self.padding} crops more than the input's "
                             f"{h} x {w} (input shape {tuple(shape)}; output {oh} x {ow})")
        # (so oh, ow >= 0: a crop to exactly nothing gives an empty output, as torch's)
        (sh, dh), (sw, dw) = _pad_slices(h, top, bottom), _pad_slices(w, left, right)
        return tuple(shape[:-2]) + (oh, ow), (Ellipsis, sh, sw), (Ellipsis, dh, dw)

    def forward(self, x):
        _check_input(self, x, range(2, 33))  # the last two axes of any input, as torch's
        out_shape, src, dst = self._geometry(x.shape)
        xp = ops.get_array_module(x)
        y = xp.full(out_shape, self.value, dtype=x.dtype)
        y[dst] = x[src]
        self._x_shape = x.shape
        return y

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        out_shape, src, dst = self._geometry(self._x_shape)
        _check_dy(self, dy, out_shape)
        dx = ops.get_array_module(dy).zeros(self._x_shape, dtype=dy.dtype)
        dx[src] = dy[dst]
        return dx

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(config["padding"]), config["value"])

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """ConstantPad2d with value 0."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def get_config(self):
        return {"padding": list(self.padding)}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(config["padding"]))

    def extra_repr(self) -> str:
        return f"{self.padding}"


class Dropout2d(Module):
    """Channel dropout: in training, zero each whole channel (an H x W plane) with probability
    p and scale the rest by 1 / (1 - p); identity in eval mode (Tompson et al. 2015).

    Shape: (N, C, H, W), or (C, H, W): a 3-D input is one unbatched sample, each of its C planes
    dropped or kept. PyTorch 2.13 still reads a 3-D input as (N, C, L) (with a warning that
    this will change to (C, H, W)); fastnn takes the announced meaning.

    Each forward draws a seed from fastnn's global RNG (``fastnn.manual_seed``), as Dropout; the
    per-channel mask comes from the kernels' counter-based RNG of that seed, so it is the same on
    the CPU and the GPU. p = 1 gives x * 0 (NaN where x is NaN or inf), as Dropout.

    ``inplace=True`` (PyTorch's): in training, the result is written into x and x itself
    returned, when x is a writable, aligned, C-contiguous NumPy array; any other input (a view
    that is not contiguous, a read-only or CuPy array) is left untouched and a new array
    returned, as with ``inplace=False``. The backward needs only the mask: the same either way.
    (In eval mode, or with p = 0, x itself is returned in both cases, as PyTorch's.)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_float_arg("p", p, low=0.0, high=1.0)
        self.inplace = check_bool("inplace", inplace)
        self._factor = None

    def forward(self, x):
        _check_float_input(self, x, (3, 4))
        if not self.training or self.p == 0.0:
            self._factor = None
            return x
        channels = x.shape[:-2]  # (N, C) or (C,)
        mask = ops.dropout_mask(channels, self.p, next_seed())  # uint8 on the host, 1 = kept
        scale = 0.0 if self.p == 1.0 else 1.0 / (1.0 - self.p)
        factor = (mask.astype(x.dtype) * x.dtype.type(scale)).reshape(channels + (1, 1))
        if not isinstance(x, np.ndarray):
            factor = ops.get_array_module(x).asarray(factor)
        self._factor = factor
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as PyTorch's
            if (self.inplace and isinstance(x, np.ndarray) and x.flags.c_contiguous and x.flags.writeable
                    and x.flags.aligned):
                return np.multiply(x, factor, out=x)
            return x * factor

    def backward(self, dy):
        if self._factor is None:
            return dy
        with np.errstate(invalid="ignore"):
            return dy * self._factor

    def get_config(self):
        if self.inplace:  # only then: configs saved before inplace existed stay the same
            return {"p": self.p, "inplace": True}
        return {"p": self.p}

    def extra_repr(self) -> str:  # torch's
        return f"p={self.p}, inplace={self.inplace}"


def _normalize(xp, x64, axes, eps):
    """(xhat, invstd) over axes (biased variance, as every normalisation)."""
    count = 1
    for a in axes:
        count *= x64.shape[a]
    count = max(count, 1)  # an empty group has no values to divide (torch returns an empty output)
    mean = x64.sum(axis=axes, keepdims=True) / count
    centred = x64 - mean
    var = (centred * centred).sum(axis=axes, keepdims=True) / count
    invstd = (var + eps) ** -0.5
    return centred * invstd, invstd


def _normalize_backward(dxhat, xhat, invstd, axes):
    """dx from d(loss)/d(xhat): invstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))."""
    count = 1
    for a in axes:
        count *= dxhat.shape[a]
    count = max(count, 1)
    m1 = dxhat.sum(axis=axes, keepdims=True) / count
    m2 = (dxhat * xhat).sum(axis=axes, keepdims=True) / count
    return invstd * (dxhat - m1 - xhat * m2)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes of each sample (Ba et al. 2016):
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, biased variance, the same in train and
    eval (no running statistics).

    Args:
        normalized_shape: an int or a tuple: the input's last axes.
        eps: added to the variance. elementwise_affine: learn weight (ones) and bias (zeros) of
            shape normalized_shape. bias: with elementwise_affine, learn the bias too.
    Shape: (..., *normalized_shape), unchanged.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else normalized_shape
        if isinstance(normalized_shape, bool) or not isinstance(shape, (tuple, list)) or not shape or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in shape):
            raise ValueError(f"normalized_shape must be a positive int or a non-empty tuple of positive ints. "
                             f"Received: normalized_shape={normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)
        self.elementwise_affine = check_bool("elementwise_affine", elementwise_affine)
        self.bias_enabled = check_bool("bias", bias)
        self.weight = self.bias = None
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, np.float32))
            if self.bias_enabled:
                self.bias = Parameter(np.zeros(self.normalized_shape, np.float32))
        self._cache = None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)

    def forward(self, x):
        k = len(self.normalized_shape)
        _check_float_input(self, x, range(k, 33), state=None if self.weight is None else self.weight.data)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm expects an input ending in normalized_shape={self.normalized_shape}, "
                             f"got shape {x.shape}")
        xp = ops.get_array_module(x)
        axes = tuple(range(x.ndim - k, x.ndim))
        xhat, invstd = _normalize(xp, _as64(x), axes, self.eps)
        y = xhat
        if self.weight is not None:
            y = y * _as64(self.weight.data)
        if self.bias is not None:
            y = y + _as64(self.bias.data)
        self._cache = (xhat, invstd, axes, x.shape)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        xhat, invstd, axes, shape = self._cache
        _check_dy(self, dy, shape)
        dy64 = _as64(dy)
        lead = tuple(range(len(shape) - len(axes)))
        if self.weight is not None:
            _add_grad(self.weight, (dy64 * xhat).sum(axis=lead))
            dxhat = dy64 * _as64(self.weight.data)
        else:
            dxhat = dy64
        if self.bias is not None:
            _add_grad(self.bias, dy64.sum(axis=lead))
        return _normalize_backward(dxhat, xhat, invstd, axes).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias_enabled}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "normalized_shape": tuple(config["normalized_shape"])})

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise each sample over groups of channels (Wu & He 2018): the C channels split into
    num_groups groups of C / num_groups, each normalised over its channels and every spatial
    position (biased variance), then a per-channel ``weight`` and ``bias``; the same in train
    and eval.

    Args:
        num_groups: divides num_channels. num_channels: C. eps: added to the variance.
        affine: learn weight (ones) and bias (zeros) of shape (C,). bias (keyword, as
            PyTorch's): with affine, learn the bias too.
    Shape: (N, C, *), unchanged.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
                 bias: bool = True):
        super().__init__()
        self.num_groups = check_int("num_groups", num_groups)
        self.num_channels = check_int("num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"num_channels must be divisible by num_groups. Received: "
                             f"num_channels={num_channels}, num_groups={num_groups}")
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)
        self.affine = check_bool("affine", affine)
        self.bias_enabled = check_bool("bias", bias)
        self.weight = self.bias = None
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, np.float32))
            if self.bias_enabled:
                self.bias = Parameter(np.zeros(self.num_channels, np.float32))
        self._cache = None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)

    def _per_channel(self, p, ndim):
        return _as64(p.data).reshape((-1,) + (1,) * (ndim - 2))

    def forward(self, x):
        _check_float_input(self, x, range(2, 33), state=None if self.weight is None else self.weight.data)
        if x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm expects {self.num_channels} channels along axis 1 "
                             f"(num_channels={self.num_channels}), got input shape {x.shape}")
        if x.size // self.num_groups == 1:  # PyTorch's check (N * C / G * H * W values)
            raise ValueError(f"GroupNorm expects more than 1 value per group, got input shape {x.shape} "
                             f"with num_groups={self.num_groups}")
        xp = ops.get_array_module(x)
        # explicit group size: reshape(N, G, -1) is ambiguous for an empty batch (N = 0)
        grouped = _as64(x).reshape(x.shape[0], self.num_groups, int(np.prod(x.shape[1:])) // self.num_groups)
        xhat, invstd = _normalize(xp, grouped, (2,), self.eps)
        y = xhat.reshape(x.shape)
        if self.weight is not None:
            y = y * self._per_channel(self.weight, x.ndim)
        if self.bias is not None:
            y = y + self._per_channel(self.bias, x.ndim)
        self._cache = (xhat, invstd, x.shape)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        xhat, invstd, shape = self._cache
        _check_dy(self, dy, shape)
        dy64 = _as64(dy)
        others = (0,) + tuple(range(2, len(shape)))
        if self.weight is not None:
            _add_grad(self.weight, (dy64 * xhat.reshape(shape)).sum(axis=others))
            dxhat = dy64 * self._per_channel(self.weight, len(shape))
        else:
            dxhat = dy64
        if self.bias is not None:
            _add_grad(self.bias, dy64.sum(axis=others))
        dx = _normalize_backward(dxhat.reshape(xhat.shape), xhat, invstd, (2,))
        return dx.reshape(shape).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"num_groups": self.num_groups, "num_channels": self.num_channels, "eps": self.eps,
                "affine": self.affine, "bias": self.bias_enabled}

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def _size_entries(name, value, check):
    """An int / float or a tuple of them, each checked; lists become tuples."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"{name} must not be empty. Received: {name}={value!r}")
        return tuple(check(v) for v in value)
    return check(value)


_UPSAMPLE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
# the interpolating modes and the input rank each takes (torch's rule)
_INTERP_NDIM = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_CUBIC_A = -0.75  # torch's cubic convolution constant (Keys' kernel with OpenCV's A)


def _matmul_along(xp, a, axis: int, matrix):
    """a with axis `axis` (of length matrix.shape[0]) replaced by its product with the host
    (in, out) matrix: one GEMM over every other axis."""
    moved = xp.moveaxis(a, axis, -1)
    lead = moved.shape[:-1]
    out = xp.matmul(xp.ascontiguousarray(moved).reshape(-1, matrix.shape[0]), xp.asarray(matrix))
    return xp.moveaxis(out.reshape(lead + (matrix.shape[1],)), -1, axis)


def _gather_sum(xp, a, axis: int, idx, weights):
    """sum_k weights[:, k] * a.take(idx[:, k], axis): axis `axis` of a replaced by len(idx)
    positions, each the weighted sum of the K positions it reads (host (n, K) idx and weights).
    Only the positions read enter a sum, so a NaN or inf reaches the outputs that read it (a zero
    weight included), as in torch, and the work is K gathers, not an (in, out) product."""
    bcast = (len(idx),) + (1,) * (a.ndim - 1 - axis)
    out = None
    for k in range(idx.shape[1]):
        read = a[(slice(None),) * axis + (xp.asarray(idx[:, k]),)]
        term = read * xp.asarray(weights[:, k].reshape(bcast))
        if out is None:
            out = term
        else:
            out += term
    return out


def _adjoint_taps(idx, weights, n_in: int):
    """The gather of the adjoint of (idx, weights), an (out, K) map: the (in, M) output positions
    and weights of every (output, tap) that reads input i, in row i; the unused slots point at
    position out (a zero appended to dy) with weight 0. M: the most taps reading one input."""
    n_out, k = idx.shape
    cols = idx.ravel()
    order = np.argsort(cols, kind="stable")
    counts = np.bincount(cols, minlength=n_in)
    rows = cols[order]
    slot = np.arange(cols.size) - (np.cumsum(counts) - counts)[rows]
    width = max(int(counts.max()), 1)
    t_idx = np.full((n_in, width), n_out, np.int64)
    t_weights = np.zeros((n_in, width), F64)
    t_idx[rows, slot] = order // k
    t_weights[rows, slot] = weights.ravel()[order]
    return t_idx, t_weights


def _nearest_scale(n_in: int, n_out: int, scale_factor):
    """torch's compute_scales_value<float>: 1 / scale_factor when given, else in / out, float32."""
    return np.float32(n_in) / np.float32(n_out) if scale_factor is None else np.float32(1.0 / scale_factor)


def _nearest_exact_indices(n_in: int, n_out: int, scale_factor, spatial: int, dtype):
    """The input read by each output in mode "nearest-exact", min(floor((o + 0.5) * scale), in - 1),
    rounded as torch's forward kernels round it (they differ at the float32 ties, as 20.5 * 2/41):
    - 2-D: nearest_exact_idx, (o + 0.5) times the float32 scale in double, then floorf (which
      rounds to float32 first);
    - 1-D and 3-D: s = max(scale * (o + 0.5) - 0.5, 0) in the input's dtype, then floorf(s + 0.5);
      in float32 torch's x86 build fuses the multiply-add (one rounding), reproduced here exactly
      (the product of the float32 scale and o + 0.5 is exact in double)."""
    o = np.arange(n_out, dtype=F64)
    if spatial == 2:
        pos = (o + 0.5) * F64(_nearest_scale(n_in, n_out, scale_factor))
    elif np.dtype(dtype) == np.float32:
        real = (F64(_nearest_scale(n_in, n_out, scale_factor)) * (o + 0.5) - 0.5).astype(np.float32)
        pos = np.maximum(real, np.float32(0)).astype(F64) + 0.5
    else:
        scale = F64(n_in) / F64(n_out) if scale_factor is None else 1.0 / scale_factor
        pos = np.maximum(scale * (o + 0.5) - 0.5, 0.0) + 0.5
    return np.minimum(np.floor(pos.astype(np.float32)).astype(np.int64), n_in - 1)


def _source_index_and_lambda(n_in: int, n_out: int, scale_factor, align_corners: bool, cubic: bool, dtype):
    """torch's area_pixel_compute_scale, area_pixel_compute_source_index and
    guard_index_and_lambda, in the input's dtype (torch's opmath type for float32 / float64):
    per output position the input index below the source position (at most in - 1; -1 for a
    cubic position left of 0) and the fraction past it, clamped to [0, 1]."""
    t = np.dtype(dtype).type
    if align_corners:
        scale = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
    elif scale_factor is None:
        scale = t(n_in) / t(n_out)
    else:
        scale = t(1.0 / scale_factor)
    o = np.arange(n_out, dtype=dtype)
    if align_corners:
        real = scale * o
    else:
        real = scale * (o + t(0.5)) - t(0.5)
        if not cubic:
            real = np.maximum(real, t(0))  # OpenCV's rule; the cubic taps need the negative positions
    # floorf: torch rounds the position to float32 before the floor (a no-op for float32)
    idx = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n_in - 1)
    lam = np.clip(real - idx.astype(dtype), t(0), t(1))
    return idx, lam.astype(F64)


def _cubic_weights(lam):
    """torch's get_cubic_upsample_coefficients: the 4 taps' weights at fraction lam (float64)."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(lam + 1), near(lam), near(1 - lam), far(2 - lam)]


def _interp_taps(n_in: int, n_out: int, scale_factor, align_corners: bool, cubic: bool, dtype):
    """One axis's linear (K = 2) or cubic (K = 4) interpolation: the (out, K) inputs each output
    reads, as torch's kernels read them (border taps clamped, so repeated), and their float64
    weights."""
    if not cubic and n_out == n_in:
        # torch's copy case (compute_source_index_and_lambda: index o twice, weights 1 and 0), even
        # when a scale_factor such as 1.1 gives out = in; its cubic kernel has none
        o = np.arange(n_out, dtype=np.int64)
        return np.stack([o, o], axis=1), np.stack([np.ones(n_out), np.zeros(n_out)], axis=1)
    idx, lam = _source_index_and_lambda(n_in, n_out, scale_factor, align_corners, cubic, dtype)
    if cubic:
        cols = np.stack([np.clip(idx - 1 + j, 0, n_in - 1) for j in range(4)], axis=1)
        return cols, np.stack(_cubic_weights(lam), axis=1)
    return np.stack([idx, idx + (idx < n_in - 1)], axis=1), np.stack([1.0 - lam, lam], axis=1)


def _area_taps(n_in: int, n_out: int):
    """One axis of torch's "area" mode (its adaptive average pooling): output o averages inputs
    floor(o in / out) .. ceil((o + 1) in / out) - 1. The (out, K) inputs and float64 weights, K the
    widest window; spare slots repeat the window's first input with weight 0 (a NaN there is in
    the window anyway)."""
    o = np.arange(n_out, dtype=np.int64)
    start = o * n_in // n_out
    count = -(-(o + 1) * n_in // n_out) - start
    j = np.arange(int(count.max()), dtype=np.int64)
    inside = j[None, :] < count[:, None]
    idx = np.where(inside, start[:, None] + j[None, :], start[:, None])
    return idx, np.where(inside, 1.0 / count[:, None], 0.0)


class Upsample(Module):
    """Upsampling (or downsampling) of the spatial axes, PyTorch's ``nn.Upsample``: nearest
    neighbour, or linear / bilinear / bicubic / trilinear interpolation, separable per axis.

    Give exactly one of ``size`` (the output's spatial size: an int, or one int per spatial axis)
    and ``scale_factor`` (a positive number, or one per axis; the output is
    ``floor(in * scale_factor)``). Along an axis of input size ``in`` and output size ``out``,
    the scale is ``in / out`` for ``size`` and ``1 / scale_factor`` for ``scale_factor`` (as
    torch: the given factor, not in / out, unless ``recompute_scale_factor=True``), and output
    position o reads, per mode:

    - ``"nearest"``: input ``min(floor(o * scale), in - 1)``, the scale in float32 as PyTorch's
      kernel (and its exact cases out = in, out = 2 in on 2-D inputs), so the same positions.
    - ``"nearest-exact"``: input ``min(floor((o + 0.5) * scale), in - 1)`` (Pillow's and
      scikit-image's rule), rounded as PyTorch's forward kernels round it (its 1-D / 3-D and
      2-D kernels differ at float32 ties), so the same positions.
    - ``"linear"`` (3-D input), ``"bilinear"`` (4-D), ``"trilinear"`` (5-D): the source position
      ``s = scale * (o + 0.5) - 0.5`` clamped at 0 (``align_corners=False``) or
      ``s = o * (in - 1) / (out - 1)`` (``align_corners=True``: the corner pixels' centres meet,
      0 when out = 1), and ``(1 - f) x[i] + f x[i + 1]`` with ``i = min(floor(s), in - 1)``,
      ``f = s - i`` clamped to [0, 1] and ``i + 1`` held at ``in - 1``; out = in is a copy.
    - ``"bicubic"`` (4-D): the same s, not clamped, and the 4 inputs ``i - 1 .. i + 2`` (indices
      clamped to [0, in - 1]) weighted by Keys' cubic convolution with A = -0.75, as torch's.
    - ``"area"`` (3-, 4- or 5-D): the mean of inputs ``floor(o in / out) .. ceil((o + 1) in / out)
      - 1``, torch's adaptive average pooling to the output size (the scale plays no other part).

    Positions and fractions are computed in the input's dtype as torch's CPU kernels; the
    interpolation and every backward in float64, rounded to the input's dtype. The backward is
    the forward's adjoint: each output's gradient goes back to the inputs it read, times their
    weights. Where torch's backward is not its forward's adjoint, fastnn keeps the adjoint (the
    true gradient): nearest's 1-D / 3-D exact cases (scale_factor=2.1 on 2 elements), the
    nearest-exact ties its backward rounds as its 2-D kernel (1-D, 2 elements to 41), and bicubic
    with out = in on both axes from a scale_factor (1.1 on 5), where torch's forward interpolates
    and its backward returns dy.

    Args:
        size: the output's spatial size, an int or one per spatial axis.
        scale_factor: the spatial multiplier, a positive number or one per spatial axis.
        mode: one of ``"nearest"``, ``"nearest-exact"``, ``"linear"``, ``"bilinear"``,
            ``"bicubic"``, ``"trilinear"``, ``"area"``.
        align_corners: None (False) or a bool, for the interpolating modes only (torch's rule: a
            ValueError naming it with the nearest modes, even False).
        recompute_scale_factor: None / False (use the scale_factor given) or True (use in / out of
            the computed output size); True with ``size`` is a ValueError, as torch's.
    Shape: (N, C, L), (N, C, H, W) or (N, C, D, H, W) for the nearest and area modes; the interpolating
        modes take the rank named above (another: ShapeError, a ValueError and RuntimeError;
        torch raises NotImplementedError, also a RuntimeError).
    """

    @property
    def name(self) -> str:
        """The class name (torch's Upsample keeps it as an attribute)."""
        return type(self).__name__

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if not isinstance(mode, str) or mode not in _UPSAMPLE_MODES:
            raise ValueError(f"Upsample mode must be one of {', '.join(map(repr, _UPSAMPLE_MODES))}. "
                             f"Received: mode={mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError(f"give exactly one of size and scale_factor. Received: size={size!r}, "
                             f"scale_factor={scale_factor!r}")
        if align_corners is not None:
            align_corners = check_bool("align_corners", align_corners)
            if mode not in _INTERP_NDIM:
                raise ValueError(f"align_corners can only be set with the interpolating modes linear, bilinear, "
                                 f"bicubic and trilinear. Received: align_corners={align_corners!r}, mode={mode!r}")
        if recompute_scale_factor is not None:
            recompute_scale_factor = check_bool("recompute_scale_factor", recompute_scale_factor)
            if recompute_scale_factor and size is not None:
                raise ValueError(f"recompute_scale_factor is not meaningful with an explicit size. "
                                 f"Received: recompute_scale_factor=True, size={size!r}")

        def positive_int(v):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"size must be a positive int or a tuple of them. Received: size={size!r}")
            if v < 1:
                raise ValueError(f"size must be a positive int or a tuple of them. Received: size={size!r}")
            return int(v)

        def positive_float(v):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"scale_factor must be a positive number or a tuple of them. "
                                f"Received: scale_factor={scale_factor!r}")
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"scale_factor must be a positive number or a tuple of them. "
                                 f"Received: scale_factor={scale_factor!r}")
            return float(v)

        self.size = None if size is None else _size_entries("size", size, positive_int)
        self.scale_factor = None if scale_factor is None else _size_entries("scale_factor", scale_factor,
                                                                            positive_float)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        self._cache = None

    def _per_axis(self, value, spatial: int, name: str):
        if isinstance(value, tuple):
            if len(value) != spatial:
                raise ValueError(f"Upsample: {name}={value} has {len(value)} entries for an input with "
                                 f"{spatial} spatial axes")
            return value
        return (value,) * spatial

    def _axes(self, in_shape):
        """Per spatial axis: (in, out, the scale_factor the source position uses, or None for
        in / out: with size, and with recompute_scale_factor=True as torch's)."""
        spatial = len(in_shape) - 2
        if self.size is not None:
            sizes = self._per_axis(self.size, spatial, "size")
            return [(n_in, n_out, None) for n_in, n_out in zip(in_shape[2:], sizes)]
        axes = []
        for n_in, s in zip(in_shape[2:], self._per_axis(self.scale_factor, spatial, "scale_factor")):
            n_out = int(np.floor(n_in * s))
            if n_out < 1:
                raise ValueError(f"Upsample: scale_factor={self.scale_factor} gives an empty output for an "
                                 f"input of shape {tuple(in_shape)}")
            axes.append((n_in, n_out, None if self.recompute_scale_factor else s))
        return axes

    def _indices(self, axes, spatial: int, dtype):
        """Nearest modes, per spatial axis: the host int64 array of input positions read by each
        output position."""
        result = []
        for n_in, n_out, scale_factor in axes:
            if self.mode == "nearest-exact":
                idx = _nearest_exact_indices(n_in, n_out, scale_factor, spatial, dtype)
            # PyTorch's two exact cases, taken before the float32 rule by its 2-D kernel only (its
            # 1-D and 3-D kernels apply the rule: scale_factor=2.1 on 2 elements reads 0, 0, 0, 1);
            # with size the rule gives the same positions
            elif spatial == 2 and n_out == n_in:
                idx = np.arange(n_out, dtype=np.int64)
            elif spatial == 2 and n_out == 2 * n_in:
                idx = np.arange(n_out, dtype=np.int64) // 2
            else:
                scale = _nearest_scale(n_in, n_out, scale_factor)
                pos = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
                idx = np.minimum(pos, n_in - 1)
            result.append(idx)
        return result

    def _check_rank(self, x) -> None:
        _check_float_input(self, x, (3, 4, 5))
        need = _INTERP_NDIM.get(self.mode)
        if need is not None and x.ndim != need:
            raise ShapeError(f"Upsample: mode={self.mode!r} needs a {need}-D input, got a {x.ndim}-D input of "
                             f"shape {tuple(x.shape)}")

    def forward(self, x):
        self._check_rank(x)
        xp = ops.get_array_module(x)
        axes = self._axes(x.shape)
        if self.mode in _INTERP_NDIM or self.mode == "area":
            if self.mode == "area":
                taps = [_area_taps(n_in, n_out) for n_in, n_out, _ in axes]
            else:
                cubic = self.mode == "bicubic"
                taps = [_interp_taps(n_in, n_out, s, bool(self.align_corners), cubic, x.dtype)
                        for n_in, n_out, s in axes]
            y = _as64(x)
            with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is NaN, as torch's, without a warning
                for axis, (idx, weights) in enumerate(taps, start=2):
                    y = _gather_sum(xp, y, axis, idx, weights)
                y = xp.ascontiguousarray(y).astype(x.dtype, copy=False)
            self._cache = (x.shape, taps)
            return y
        indices = self._indices(axes, x.ndim - 2, x.dtype)
        y = x
        for axis, idx in enumerate(indices, start=2):
            key = (slice(None),) * axis + (idx if xp is np else xp.asarray(idx),)
            y = y[key]
        if self.mode == "nearest-exact":
            self._cache = (x.shape, [(idx[:, None], np.ones((len(idx), 1))) for idx in indices])
        else:
            self._cache = (x.shape, indices)
        return y if y is not x else x.copy()

    def backward(self, dy):
        _need_forward(self, self._cache)
        shape, maps = self._cache
        _check_dy(self, dy, tuple(shape[:2]) + tuple(len(m if self.mode == "nearest" else m[0]) for m in maps))
        xp = ops.get_array_module(dy)
        g = _as64(dy)
        if self.mode == "nearest":
            # one axis at a time: the sum of the outputs that read each input is a product with
            # the (out, in) 0/1 matrix of the index map
            for axis, (idx, n_in) in enumerate(zip(maps, shape[2:]), start=2):
                onehot = np.zeros((len(idx), n_in), F64)
                onehot[np.arange(len(idx)), idx] = 1.0
                g = _matmul_along(xp, g, axis, onehot)
            return xp.ascontiguousarray(g).astype(dy.dtype, copy=False)
        # the adjoint of the forward's taps, one axis at a time: each input gathers w dy from the
        # outputs that read it, dy padded with one zero for the unused slots
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is NaN, as torch's, without a warning
            for axis, ((idx, weights), n_in) in enumerate(zip(maps, shape[2:]), start=2):
                t_idx, t_weights = _adjoint_taps(idx, weights, n_in)
                pad = xp.zeros(g.shape[:axis] + (1,) + g.shape[axis + 1:], F64)
                g = _gather_sum(xp, xp.concatenate([g, pad], axis=axis), axis, t_idx, t_weights)
            return xp.ascontiguousarray(g).astype(dy.dtype, copy=False)

    def get_config(self):
        as_json = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        return {"size": as_json(self.size), "scale_factor": as_json(self.scale_factor), "mode": self.mode,
                "align_corners": self.align_corners, "recompute_scale_factor": self.recompute_scale_factor}

    @classmethod
    def from_config(cls, config):
        as_tuple = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        # configs saved before align_corners / recompute_scale_factor existed have neither
        return cls(as_tuple(config["size"]), as_tuple(config["scale_factor"]), config["mode"],
                   config.get("align_corners"), config.get("recompute_scale_factor"))

    def extra_repr(self) -> str:
        # torch's: align_corners and recompute_scale_factor are not shown
        info = f"size={self.size!r}" if self.scale_factor is None else f"scale_factor={self.scale_factor!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """torch's ``nn.UpsamplingNearest2d(size=None, scale_factor=None)``: ``Upsample`` with
    ``mode="nearest"`` (the same positions, the same backward)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")

    def get_config(self):
        config = super().get_config()
        return {"size": config["size"], "scale_factor": config["scale_factor"]}

    @classmethod
    def from_config(cls, config):
        as_tuple = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731
        return cls(as_tuple(config["size"]), as_tuple(config["scale_factor"]))


class UpsamplingBilinear2d(UpsamplingNearest2d):
    """torch's ``nn.UpsamplingBilinear2d(size=None, scale_factor=None)``: ``Upsample`` with
    ``mode="bilinear"`` and ``align_corners=True`` (the corner pixels' centres meet), on
    (N, C, H, W) inputs."""

    def __init__(self, size=None, scale_factor=None):
        Upsample.__init__(self, size, scale_factor, mode="bilinear", align_corners=True)


class Embedding(Module):
    """A lookup table (PyTorch's ``nn.Embedding``): ``y = weight[indices]``, indices an integer
    array of any shape, y of shape ``indices.shape + (embedding_dim,)``. The weight starts
    N(0, 1), as torch's.

    Args (torch's order): num_embeddings, embedding_dim; ``padding_idx`` (negative counts from
    the end): that row starts at zero and never gets a gradient; ``max_norm``: rows looked up
    whose ``norm_type``-norm exceeds it are scaled in place to max_norm / (norm + 1e-7) before
    the lookup (torch's renorm); ``scale_grad_by_freq``: each row's gradient divided by how often
    the batch looks it up; ``sparse=True`` (sparse gradients) is not supported;
    ``_weight`` / ``_freeze``: an initial table (used as given, float) and whether it is frozen.
    backward(dy) adds into weight.grad and returns None (indices have no gradient), so the layer
    goes first in a model. An index outside [0, num_embeddings) is an IndexError, negative ones
    included, as torch's.
    """

    sparse = False  # torch's attribute (sparse gradients: fastnn's are dense)

    backward_can_skip_dx = True
    takes_indices = True  # fit / predict / evaluate pass integer batches as they are

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False):
        super().__init__()
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"padding_idx must be an int or None. Received: padding_idx={padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"padding_idx must be within num_embeddings ({self.num_embeddings}). "
                                 f"Received: padding_idx={padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = None if max_norm is None else check_float_arg("max_norm", max_norm, low=0.0)
        if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or np.isnan(norm_type):
            raise TypeError(f"norm_type must be a real number (inf allowed). Received: norm_type={norm_type!r}")
        # as given (torch keeps it: Embedding(5, 3, max_norm=1, norm_type=1) prints norm_type=1),
        # an int stays an int as check_float_arg keeps one
        self.norm_type = as_given(norm_type)
        self.scale_grad_by_freq = check_bool("scale_grad_by_freq", scale_grad_by_freq)
        if check_bool("sparse", sparse):
            raise NotImplementedError("Embedding(sparse=True): fastnn has no sparse gradients; use sparse=False")
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.zeros(shape, np.float32))
            self.reset_parameters()
        else:
            w = _weight if _device.device_of(_weight) is not None else np.asarray(_weight)
            if tuple(w.shape) != shape or w.dtype.kind != "f":
                raise ValueError(f"Embedding: _weight must be a float array of shape {shape}, got shape "
                                 f"{tuple(w.shape)} and dtype {w.dtype}")
            self.weight = Parameter(w)
        if check_bool("_freeze", _freeze):
            self.weight.trainable = False
        self._cache = None

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding whose table is ``embeddings`` (2-D; frozen unless freeze=False), as torch's."""
        w = embeddings if _device.device_of(embeddings) is not None else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        return cls(w.shape[0], w.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=w, _freeze=freeze)

    def reset_parameters(self) -> None:
        _init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _indices(self, idx):
        if _device.device_of(idx) is None:
            raise TypeError(f"Embedding expects an integer numpy.ndarray or cupy.ndarray of indices, "
                            f"got {type(idx).__name__}")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding expects integer indices, got dtype {idx.dtype}")
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_embeddings):
            bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
            raise IndexError(f"Embedding: index {bad} is out of range for {self.num_embeddings} embeddings "
                             f"(valid: 0 <= index < {self.num_embeddings})")
        return idx.astype(np.int64, copy=False)

    # The row bookkeeping (which rows a batch uses, how often; the scatter-add of the gradient)
    # runs on the host with NumPy, whatever the device: the index arrays are small, and CuPy's
    # scatter functions differ between versions. The table itself stays where it is.
    def forward(self, x):
        idx = self._indices(x)
        w = self.weight.data
        if self.max_norm is not None and idx.size:
            rows = np.unique(_device.to_host(idx))
            on_gpu = _device.device_of(w) == _device.CUDA
            used = _as64(_device.to_host(w[_device.move(rows, _device.CUDA) if on_gpu else rows]))
            norms = np.linalg.norm(used, ord=self.norm_type, axis=1)
            over = norms > self.max_norm
            if bool(over.any()):
                scaled = (used[over] * (self.max_norm / (norms[over] + 1e-7))[:, None]).astype(w.dtype)
                at = rows[over]
                if on_gpu:
                    scaled, at = _device.move(scaled, _device.CUDA), _device.move(at, _device.CUDA)
                w[at] = scaled
        self._cache = idx
        return w[idx]

    def backward(self, dy, need_dx: bool = True):
        _need_forward(self, self._cache)
        idx = self._cache
        _check_dy(self, dy, idx.shape + (self.embedding_dim,))
        flat = _device.to_host(idx).reshape(-1)
        rows = _as64(_device.to_host(dy)).reshape(-1, self.embedding_dim)
        if self.scale_grad_by_freq and flat.size:
            counts = np.bincount(flat, minlength=self.num_embeddings)
            rows = rows / counts[flat][:, None]
        grad = np.zeros((self.num_embeddings, self.embedding_dim), F64)
        np.add.at(grad, flat, rows)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        if _device.device_of(self.weight.data) == _device.CUDA:
            grad = _device.move(grad, _device.CUDA)
        _add_grad(self.weight, grad)
        return None

    def get_config(self):
        config = {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim}
        if self.padding_idx is not None:
            config["padding_idx"] = self.padding_idx
        if self.max_norm is not None:
            config["max_norm"] = self.max_norm
        if self.norm_type != 2.0:
            config["norm_type"] = self.norm_type
        if self.scale_grad_by_freq:
            config["scale_grad_by_freq"] = True
        return config

    def extra_repr(self) -> str:  # torch's
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return text

