"""torch.nn's 1-D layers and a few more shape layers, with its semantics and state_dict names:
Conv1d, ConvTranspose1d, MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d, the
reflection / replication / circular / constant pads (1-D and 2-D), InstanceNorm1d / 2d,
PixelShuffle, PixelUnshuffle, ChannelShuffle and Softmax2d.

The 1-D convolutions and poolings run the 2-D ops of ``fastnn.ops`` (the native or CUDA
kernels) on an (N, C, 1, L) view of the (N, C, L) input: stride, padding and dilation become
the (1, s), (0, p), (1, d) pairs of the 2-D op, the weight (OC, C / groups, K) the 2-D op's
(OC, C / groups, 1, K) view. The pads, InstanceNorm, the shuffles and Softmax2d are array code in
the array module of the input (NumPy or CuPy), as the layers of extra.py: InstanceNorm and
Softmax2d compute in float64 and round to the input's dtype, the pads' backward sums the
gradient of every output that read a source element in float64, then rounds once.
Dimension legend: N C L (H W), K, S, P, D, OL.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..ops._dispatch import contiguous
from .adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .extra import _add_grad, _as64, _check_dy, _check_float_input, _check_pad_amounts, _crops_past
from .layers import (AvgPool2d, MaxPool2d, _check_init, _check_input, _check_transpose_output, _init_weight_and_bias,
                     _need_forward, _reset_running_stats, _transposed_output_padding, conv_extra_repr)
from .module import Module, Parameter, as_given, check_bool, check_float_arg, check_int

__all__ = [
    "Conv1d", "ConvTranspose1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d",
    "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d", "ConstantPad1d",
    "CircularPad1d", "CircularPad2d", "InstanceNorm1d", "InstanceNorm2d", "PixelShuffle", "PixelUnshuffle",
    "ChannelShuffle", "Softmax2d",
]

F64 = np.float64
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _single(name: str, value, minimum: int = 1) -> int:
    """An int >= minimum, or a 1-tuple / 1-list of one (torch's _single), as an int."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple. Received: {name}={value!r}")
        value = value[0]
    return check_int(name, value, minimum)


def _as_3d(layer, x, channels=None, state=None):
    """(x as (N, C, L), batched): a 2-D (C, L) input is one unbatched sample (torch's)."""
    _check_input(layer, x, (2, 3), state=state)
    x3 = x if x.ndim == 3 else x.reshape((1,) + x.shape)
    if channels is not None and x3.shape[1] != channels:
        raise ValueError(f"{type(layer).__name__} expects {channels} channels along axis {x.ndim - 2}, "
                         f"got input shape {x.shape}")
    return x3, x.ndim == 3


def _dy_3d(layer, dy, y_shape, batched: bool):
    """dy checked against the forward's output (N, C, OL) (2-D after an unbatched forward), as (N, C, OL)."""
    _check_dy(layer, dy, y_shape if batched else y_shape[1:])
    return dy if batched else dy.reshape(y_shape)


# --- padding by an index map (the pads and Conv1d's padding_mode) ----------------------------

def _pad_index(size: int, before: int, after: int, mode: str, what: str) -> np.ndarray:
    """The source position in an axis of `size` that each output position reads, -1 for a
    constant. A negative amount crops that side. torch's order of the two: a reflection or
    replication pads the whole axis, then crops; a circular pad crops first, then wraps the
    cropped range around (for a constant the order does not matter)."""
    out = size + before + after
    if mode == "constant" and _crops_past(size, before, after):
        raise ValueError(f"{what}: padding ({before}, {after}) crops more than the axis' size {size}")
    if out < 0:
        raise ValueError(f"{what}: padding ({before}, {after}) leaves a negative size {out} of an axis of size {size}")
    if mode == "circular":  # crop, then wrap around the n kept elements
        start, n = max(-before, 0), size - max(-before, 0) - max(-after, 0)
        left, right = max(before, 0), max(after, 0)
        if n == 0 and out == 0:  # cropped to nothing, nothing to wrap: an empty axis, as torch's
            return np.zeros(0, dtype=np.int64)
        if n <= 0 or left > n or right > n:
            raise ValueError(f"{what}: circular padding ({before}, {after}) must be at most the cropped axis' "
                             f"size {n} (it wraps around once at most)")
        return (np.arange(out, dtype=np.int64) - left) % n + start
    t = np.arange(out, dtype=np.int64) - before  # position in x (outside [0, size): padding)
    if mode == "constant":
        return np.where((t >= 0) & (t < size), t, -1)
    if mode == "reflect":
        if before >= size or after >= size:
            raise ValueError(f"{what}: reflection padding ({before}, {after}) must be smaller than the axis' "
                             f"size {size}")
        t = np.abs(t)
        return np.where(t >= size, 2 * (size - 1) - t, t)
    if mode == "replicate":
        if size == 0:  # no edge element to repeat (torch: RuntimeError); np.clip would index -1
            raise ValueError(f"{what}: replication padding ({before}, {after}) needs a non-empty axis, "
                             f"got an axis of size 0")
        return np.clip(t, 0, size - 1)
    raise ValueError(f"{what}: unknown padding mode {mode!r}")


def _gather(x, axis: int, idx: np.ndarray, value: float = 0.0):
    """x indexed by idx along axis; positions of index -1 hold value."""
    xp = ops.get_array_module(x)
    lead = (slice(None),) * (axis % x.ndim)
    if x.shape[axis] == 0:  # an empty axis padded with a constant: every position is a hole
        shape = list(x.shape)
        shape[axis] = len(idx)
        return xp.full(tuple(shape), value, dtype=x.dtype)
    safe = np.maximum(idx, 0)
    y = x[lead + (safe if xp is np else xp.asarray(safe),)]
    holes = np.flatnonzero(idx < 0)
    if holes.size:
        y[lead + (holes if xp is np else xp.asarray(holes),)] = value
    return y


def _gather_backward(g, axis: int, idx: np.ndarray, size: int):
    """The gradient of _gather (float64 in, float64 out): each source position sums the
    gradient of the outputs that read it (a product with the (out, in) 0/1 matrix of idx)."""
    xp = ops.get_array_module(g)
    onehot = np.zeros((len(idx), size), F64)
    reads = idx >= 0
    onehot[np.arange(len(idx))[reads], idx[reads]] = 1.0
    moved = xp.moveaxis(g, axis, -1)
    lead = moved.shape[:-1]
    rows = int(np.prod(lead, dtype=np.int64))  # not -1: idx may be empty (a pad to an empty axis)
    summed = xp.matmul(xp.ascontiguousarray(moved).reshape(rows, len(idx)), xp.asarray(onehot))
    return xp.moveaxis(summed.reshape(lead + (size,)), -1, axis)


class _Pad(Module):
    """Pads the last 1 (or 2) axes: padding in torch's order, (left, right[, top, bottom]).
    A constant pad takes any input of at least that many dimensions (torch's F.pad in constant
    mode); the reflection / replication / circular ones one of (N, C, ...) or (C, ...) only, as
    torch's."""
    _axes = 1
    _mode = "constant"

    def _ranks(self):
        """The input ranks the pad takes."""
        return range(self._axes, 33) if self._mode == "constant" else (self._axes + 1, self._axes + 2)

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        self.padding = _check_pad_amounts(padding, 2 * self._axes)
        self.value = as_given(value)  # torch's repr keeps an int
        self._cache = None

    def _maps(self, shape):
        """[(axis, index map, size)] for the padded axes (the last axis takes the first pair)."""
        name = type(self).__name__
        maps = []
        for i in range(self._axes):
            axis = len(shape) - 1 - i
            before, after = self.padding[2 * i], self.padding[2 * i + 1]
            if self._axes == 1 and self._mode in ("reflect", "replicate") and shape[axis] + before + after == 0:
                # torch's 1-D reflection / replication pads refuse an empty output (its 2-D / 3-D
                # ones, and every constant / circular pad, return one)
                raise ValueError(f"{name}: padding ({before}, {after}) leaves no elements of an axis of size "
                                 f"{shape[axis]} (input too small: output size 0)")
            maps.append((axis, _pad_index(shape[axis], before, after, self._mode, name), shape[axis]))
        return maps

    def forward(self, x):
        _check_float_input(self, x, self._ranks())
        maps = self._maps(x.shape)
        y = x
        for axis, idx, _ in maps:
            y = _gather(y, axis, idx, self.value)
        self._cache = (x.shape, y.shape, maps)
        return y if y is not x else x.copy()

    def backward(self, dy):
        _need_forward(self, self._cache)
        x_shape, y_shape, maps = self._cache
        _check_dy(self, dy, y_shape)
        g = _as64(dy)
        for axis, idx, size in reversed(maps):
            g = _gather_backward(g, axis, idx, size)
        return ops.get_array_module(dy).ascontiguousarray(g).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"padding": list(self.padding)}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "padding": tuple(config["padding"])})

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Pad the last axis with its reflection (the edge element not repeated): padding an int or
    (left, right), each smaller than the axis (torch's rule); a negative amount crops.
    Shape: (N, C, L) or (C, L) -> L + left + right. Backward adds each output's gradient into
    the element it copies."""
    _mode = "reflect"


class ReflectionPad2d(_Pad):
    """ReflectionPad1d over the last two axes: padding an int or (left, right, top, bottom).
    Shape: (N, C, H, W) or (C, H, W)."""
    _axes, _mode = 2, "reflect"


class ReplicationPad1d(_Pad):
    """Pad the last axis by repeating its edge element: padding an int or (left, right).
    Shape: (N, C, L) or (C, L)."""
    _mode = "replicate"


class ReplicationPad2d(_Pad):
    """ReplicationPad1d over the last two axes: padding an int or (left, right, top, bottom)."""
    _axes, _mode = 2, "replicate"


class CircularPad1d(_Pad):
    """Pad the last axis by wrapping around (the left pad is the end of the axis): padding an
    int or (left, right), each at most the axis' size. Shape: (N, C, L) or (C, L)."""
    _mode = "circular"


class CircularPad2d(_Pad):
    """CircularPad1d over the last two axes: padding an int or (left, right, top, bottom)."""
    _axes, _mode = 2, "circular"


class ConstantPad1d(_Pad):
    """Pad the last axis with ``value``: padding an int or (left, right); a negative amount
    crops that side. Shape: any input of >= 1 dimension, (..., L) -> (..., L + left + right)
    (must stay >= 0), as torch's; a 0-D input is a ShapeError."""

    def __init__(self, padding, value: float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"value must be a real number. Received: value={value!r}")
        super().__init__(padding, value)

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad1d(ConstantPad1d):
    """ConstantPad1d with value 0."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def get_config(self):
        return {"padding": list(self.padding)}

    def extra_repr(self) -> str:
        return f"{self.padding}"


# --- convolutions ------------------------------------------------------------------------

def _conv_padding(padding):
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be an int, 'same' or 'valid'. Received: padding={padding!r}")
        return padding
    return (_single("padding", padding, minimum=0),)


class Conv1d(Module):
    """1-D convolution (cross-correlation), torch.nn.Conv1d.

    ``y[n, o, l] = b[o] + sum_{c, k} w[o, c, k] * xpad[n, c, l * S + k * D]``, OL = (L + 2P - D (K - 1)
    - 1) // S + 1.

    Args (torch's order):
        in_channels, out_channels: C and OC (each divisible by groups).
        kernel_size, stride, dilation: an int (or a 1-tuple).
        padding: an int, "valid" (none) or "same" (stride 1: OL = L; an odd total D (K - 1)
            pads one more on the right, as torch).
        groups: channels split into groups that see only their own inputs.
        bias: learn a per-channel bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular" (the input padded as the
            pads of this module do, then convolved unpadded).
        init: "default" (U(+-1/sqrt(C / groups * K)), torch's) or an initializer name of
            ``fastnn.nn.init`` (bias then zeros), as Conv2d.
    Shape: (N, C, L) -> (N, OC, OL), or unbatched (C, L) -> (OC, OL).
    Attributes: weight (OC, C / groups, K), bias (OC,).
    """

    transposed = False  # torch's _ConvNd attributes
    output_padding = (0,)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = (_single("kernel_size", kernel_size),)
        self.stride = (_single("stride", stride),)
        self.padding = _conv_padding(padding)
        self.dilation = (_single("dilation", dilation),)
        self.groups = check_int("groups", groups)
        for what, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ValueError(f"{what} must be divisible by groups. Received: {what}={count}, groups={groups}")
        if self.padding == "same" and self.stride != (1,):
            raise ValueError(f"padding='same' needs stride 1 (as in torch). Received: stride={stride!r}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}. Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        self.weight = Parameter(np.zeros((self.out_channels, self.in_channels // self.groups, self.kernel_size[0]),
                                         np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self, self.in_channels // self.groups * self.kernel_size[0])

    def _sides(self):
        if self.padding == "valid":
            return 0, 0
        if self.padding == "same":
            total = self.dilation[0] * (self.kernel_size[0] - 1)
            return total // 2, total - total // 2
        return self.padding[0], self.padding[0]

    def _op_args(self, padding: int):
        return {"stride": (1, self.stride[0]), "padding": (0, padding), "dilation": (1, self.dilation[0]),
                "groups": self.groups}

    def _w4(self):
        w = self.weight.data
        return w.reshape(w.shape[:2] + (1,) + w.shape[2:])

    def forward(self, x):
        x3, batched = _as_3d(self, x, self.in_channels, state=self.weight.data)
        left, right = self._sides()
        pad_map = None
        if self.padding_mode != "zeros" or left != right:  # padded here, convolved unpadded
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            pad_map = _pad_index(x3.shape[2], left, right, mode, "Conv1d")
            x3 = _gather(x3, 2, pad_map)
            left = 0
        x4 = contiguous(x3).reshape(x3.shape[:2] + (1, x3.shape[2]))
        y = ops.conv2d_forward(x4, self._w4(), None if self.bias is None else self.bias.data,
                               **self._op_args(left))
        self._cache = (x4, left, pad_map, batched, x.shape[-1], y.shape[3])
        y = y.reshape(y.shape[:2] + (y.shape[3],))
        return y if batched else y.reshape(y.shape[1:])

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx, as Conv2d's)."""
        _need_forward(self, self._cache)
        x4, padding, pad_map, batched, length, out_len = self._cache
        dy3 = _dy_3d(self, dy, (x4.shape[0], self.out_channels, out_len), batched)
        dy4 = contiguous(dy3).reshape(dy3.shape[:2] + (1, dy3.shape[2]))
        dx, dw, db = ops.conv2d_backward(dy4, x4, self._w4(), **self._op_args(padding), need_dx=need_dx,
                                         has_bias=self.bias is not None)
        self.weight.add_grad(dw.reshape(self.weight.data.shape))
        if self.bias is not None:
            self.bias.add_grad(db)
        if not need_dx:
            return None
        dx = dx.reshape(dx.shape[:2] + (dx.shape[3],))
        if pad_map is not None:
            dx = ops.get_array_module(dx).ascontiguousarray(
                _gather_backward(_as64(dx), 2, pad_map, length)).astype(dx.dtype, copy=False)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "bias": self.bias is not None,
                "padding_mode": self.padding_mode, "init": self.init}

    def extra_repr(self) -> str:
        return conv_extra_repr(self)


class ConvTranspose1d(Module):
    """1-D transposed convolution (the gradient of Conv1d with respect to its input),
    torch.nn.ConvTranspose1d.

    OL = (L - 1) S - 2P + D (K - 1) + 1 + output_padding.

    Args (torch's order): in_channels, out_channels, kernel_size, stride, padding (ints or
        1-tuples), output_padding (smaller than stride or dilation, torch's rule), groups, bias,
        dilation; padding_mode must be "zeros" (torch's only mode for it); init as Conv1d's
        with torch's fan_in for this layout, out_channels / groups * K.
    ``forward(x, output_size)``: output_size (OL,) (or with the leading N, C / C of x's rank,
    as torch) picks the output_padding that gives it, in place of the layer's, for that call
    (ConvTranspose2d's rule: OL in [min, min + stride - 1], min the size with output_padding 0,
    else ValueError).
    Shape: (N, C_in, L) -> (N, C_out, OL), or unbatched (C_in, L) -> (C_out, OL).
    Attributes: weight (C_in, C_out / groups, K), bias (C_out,).
    """

    transposed = True  # torch's _ConvNd attribute

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = (_single("kernel_size", kernel_size),)
        self.stride = (_single("stride", stride),)
        self.padding = (_single("padding", padding, minimum=0),)
        self.output_padding = (_single("output_padding", output_padding, minimum=0),)
        self.dilation = (_single("dilation", dilation),)
        self.groups = check_int("groups", groups)
        for what, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ValueError(f"{what} must be divisible by groups. Received: {what}={count}, groups={groups}")
        if self.output_padding[0] >= max(self.stride[0], self.dilation[0]):
            raise ValueError(f"output_padding must be smaller than stride {self.stride[0]} or dilation "
                             f"{self.dilation[0]}. Received: output_padding={output_padding!r}")
        if padding_mode != "zeros":
            raise ValueError(f"ConvTranspose1d supports only padding_mode='zeros' (as torch). "
                             f"Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        self.weight = Parameter(np.zeros((self.in_channels, self.out_channels // self.groups, self.kernel_size[0]),
                                         np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init_weight_and_bias(self, self.out_channels // self.groups * self.kernel_size[0])

    def _op_args(self, output_padding=None):
        """The 2-D op's arguments for the (N, C, 1, L) view; output_padding (a 1-tuple) that of
        the forward (the layer's by default)."""
        op_ = self.output_padding if output_padding is None else output_padding
        return {"stride": (1, self.stride[0]), "padding": (0, self.padding[0]),
                "output_padding": (0, op_[0]), "dilation": (1, self.dilation[0]),
                "groups": self.groups}

    def _w4(self):
        w = self.weight.data
        return w.reshape(w.shape[:2] + (1,) + w.shape[2:])

    def _output_padding(self, x, output_size):
        """The forward's output_padding (a 1-tuple): the layer's, or the one giving output_size."""
        return _transposed_output_padding(self, x, output_size)

    def forward(self, x, output_size=None):
        x3, batched = _as_3d(self, x, self.in_channels, state=self.weight.data)
        output_padding = self._output_padding(x, output_size)
        x4 = contiguous(x3).reshape(x3.shape[:2] + (1, x3.shape[2]))
        y = ops.conv_transpose2d_forward(x4, self._w4(), None if self.bias is None else self.bias.data,
                                         **self._op_args(output_padding))
        if x4.shape[0]:
            _check_transpose_output(self, x3.shape[2:], y.shape[3:])
        self._cache = (x4, batched, y.shape[3], output_padding)
        y = y.reshape(y.shape[:2] + (y.shape[3],))
        return y if batched else y.reshape(y.shape[1:])

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx, as Conv2d's), for the forward's output size."""
        _need_forward(self, self._cache)
        x4, batched, out_len, output_padding = self._cache
        dy3 = _dy_3d(self, dy, (x4.shape[0], self.out_channels, out_len), batched)
        dy4 = contiguous(dy3).reshape(dy3.shape[:2] + (1, out_len))
        dx, dw, db = ops.conv_transpose2d_backward(dy4, x4, self._w4(), **self._op_args(output_padding),
                                                   need_dx=need_dx, has_bias=self.bias is not None)
        self.weight.add_grad(dw.reshape(self.weight.data.shape))
        if self.bias is not None:
            self.bias.add_grad(db)
        if not need_dx:
            return None
        dx = dx.reshape(dx.shape[:2] + (dx.shape[3],))
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "output_padding": list(self.output_padding), "groups": self.groups, "bias": self.bias is not None,
                "dilation": list(self.dilation), "padding_mode": self.padding_mode, "init": self.init}

    def extra_repr(self) -> str:
        return conv_extra_repr(self, output_padding=True)


# --- pooling -------------------------------------------------------------------------------

class _Pool1d(Module):
    """Runs a private 2-D pooling layer (not a child: no state, not in modules()) on (N, C, 1, L)."""

    def _set_pool(self, pool) -> None:
        object.__setattr__(self, "_pool", pool)
        self._cache = None

    def forward(self, x):
        x3, batched = _as_3d(self, x)
        out = self._pool.forward(x3.reshape(x3.shape[:2] + (1, x3.shape[2])))
        indices = None
        if isinstance(out, tuple):
            out, indices = out
        self._cache = (batched, out.shape)
        squeeze = (lambda a: a.reshape(a.shape[:2] + (a.shape[3],))) if batched else \
            (lambda a: a.reshape(a.shape[1:2] + (a.shape[3],)))
        return (squeeze(out), squeeze(indices)) if indices is not None else squeeze(out)

    def backward(self, dy):
        _need_forward(self, self._cache)
        batched, y4_shape = self._cache
        dy3 = _dy_3d(self, dy, (y4_shape[0], y4_shape[1], y4_shape[3]), batched)
        dx = self._pool.backward(contiguous(dy3).reshape(y4_shape))
        return dx.reshape(dx.shape[:2] + (dx.shape[3],)) if batched else dx.reshape(dx.shape[1:2] + (dx.shape[3],))


class MaxPool1d(_Pool1d):
    """Max over each window of K taps D apart (torch.nn.MaxPool1d; padding counts as -inf, NaN wins).

    Args (torch's order): kernel_size, stride (default kernel_size), padding (at most
    kernel_size // 2), dilation, return_indices (forward returns (y, indices), int64 positions
    along L), ceil_mode (as MaxPool2d's). Shape: (N, C, L) -> (N, C, OL), or (C, L) -> (C, OL).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = _single("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _single("stride", stride)
        self.padding = _single("padding", padding, minimum=0)
        self.dilation = _single("dilation", dilation)
        if self.padding > self.kernel_size // 2:
            raise ValueError(f"padding must be at most half the kernel size {self.kernel_size}. "
                             f"Received: padding={padding!r}")
        self.return_indices = check_bool("return_indices", return_indices)
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        self._set_pool(MaxPool2d((1, self.kernel_size), (1, self.stride), (0, self.padding), (1, self.dilation),
                                 return_indices=self.return_indices, ceil_mode=self.ceil_mode))

    def get_config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation, "return_indices": self.return_indices, "ceil_mode": self.ceil_mode}

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool1d(_Pool1d):
    """Mean over each window of K elements (torch.nn.AvgPool1d).

    Args (torch's order): kernel_size, stride (default kernel_size), padding (at most
    kernel_size // 2), ceil_mode, count_include_pad (divide by K even where the window overlaps
    the zero padding; torch's default), as AvgPool2d's.
    Shape: (N, C, L) -> (N, C, OL), or (C, L) -> (C, OL).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = (_single("kernel_size", kernel_size),)
        self.stride = self.kernel_size if stride is None else (_single("stride", stride),)
        self.padding = (_single("padding", padding, minimum=0),)
        if self.padding[0] > self.kernel_size[0] // 2:
            raise ValueError(f"padding must be at most half the kernel size {self.kernel_size[0]}. "
                             f"Received: padding={padding!r}")
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        self.count_include_pad = check_bool("count_include_pad", count_include_pad)
        self._set_pool(AvgPool2d((1, self.kernel_size[0]), (1, self.stride[0]), (0, self.padding[0]),
                                 ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad))

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad}

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(_Pool1d):
    """Mean over adaptive windows giving OL = output_size outputs (torch.nn.AdaptiveAvgPool1d):
    output i averages ``[floor(i * L / OL), ceil((i + 1) * L / OL))`` (AdaptiveAvgPool2d's rule).
    Shape: (N, C, L) -> (N, C, OL), or (C, L) -> (C, OL)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _single("output_size", output_size)
        self._set_pool(AdaptiveAvgPool2d((1, self.output_size)))

    def get_config(self):
        return {"output_size": self.output_size}

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_Pool1d):
    """Max over adaptive windows (torch.nn.AdaptiveMaxPool1d), windows as AdaptiveAvgPool1d's;
    ties go to the first maximum, a NaN wins. return_indices: forward returns (y, indices),
    int64 positions along L. Shape: (N, C, L) -> (N, C, OL), or (C, L) -> (C, OL)."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = _single("output_size", output_size)
        self.return_indices = check_bool("return_indices", return_indices)
        self._set_pool(AdaptiveMaxPool2d((1, self.output_size), return_indices=self.return_indices))

    def get_config(self):
        return {"output_size": self.output_size, "return_indices": self.return_indices}

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# --- instance normalisation ------------------------------------------------------------------

class _InstanceNorm(Module):
    _spatial = 1
    _optional_state = ("num_batches_tracked",)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, *, bias: bool = True):
        super().__init__()
        self.num_features = check_int("num_features", num_features)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)
        self.momentum = None if momentum is None else check_float_arg("momentum", momentum, low=0.0, high=1.0)
        self.affine = check_bool("affine", affine)
        self.track_running_stats = check_bool("track_running_stats", track_running_stats)
        self.bias_enabled = check_bool("bias", bias)
        self.weight = self.bias = None
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, np.float32))
            if self.bias_enabled:
                self.bias = Parameter(np.zeros(self.num_features, np.float32))
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.running_mean = self.running_var = None
        self._cache = None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data.fill(1)
        if self.bias is not None:
            self.bias.data.fill(0)
        self.reset_running_stats()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, num_batches_tracked 0 (torch's)."""
        _reset_running_stats(self)

    def _channel(self, a, ndim):
        return _as64(a).reshape((-1,) + (1,) * (ndim - 2))

    def forward(self, x):
        s = self._spatial
        state = self.running_mean if self.track_running_stats else (None if self.weight is None else self.weight.data)
        _check_float_input(self, x, (s + 1, s + 2), state=state)
        batched = x.ndim == s + 2
        xb = x if batched else x.reshape((1,) + x.shape)
        if (self.affine or self.track_running_stats) and xb.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__} expects {self.num_features} channels along axis "
                             f"{1 if batched else 0} (num_features={self.num_features}), got input shape {x.shape}")
        xp = ops.get_array_module(x)
        axes = tuple(range(2, xb.ndim))
        count = 1
        for a in axes:
            count *= xb.shape[a]
        x64 = _as64(xb)
        batch_stats = self.training or not self.track_running_stats
        if batch_stats:
            if count <= 1:
                raise ValueError(f"{type(self).__name__} expects more than 1 spatial element when using input "
                                 f"statistics, got input shape {x.shape}")
            mean = x64.sum(axis=axes, keepdims=True) / count
            centred = x64 - mean
            var = (centred * centred).sum(axis=axes, keepdims=True) / count
            invstd = (var + self.eps) ** -0.5
            xhat = centred * invstd
            if self.training and self.track_running_stats:
                # torch's InstanceNorm never counts num_batches_tracked (saved, always 0), and
                # momentum=None is momentum 0 there (the running statistics stay put): the same here
                m = 0.0 if self.momentum is None else self.momentum
                batch_mean = mean.reshape(xb.shape[:2]).sum(axis=0) / xb.shape[0]
                batch_var = (var * (count / (count - 1))).reshape(xb.shape[:2]).sum(axis=0) / xb.shape[0]
                self.running_mean[...] = ((1 - m) * _as64(self.running_mean) + m * batch_mean).astype(
                    self.running_mean.dtype)
                self.running_var[...] = ((1 - m) * _as64(self.running_var) + m * batch_var).astype(
                    self.running_var.dtype)
        else:
            invstd = (self._channel(self.running_var, xb.ndim) + self.eps) ** -0.5
            xhat = (x64 - self._channel(self.running_mean, xb.ndim)) * invstd
        y = xhat
        if self.weight is not None:
            y = y * self._channel(self.weight.data, xb.ndim)
        if self.bias is not None:
            y = y + self._channel(self.bias.data, xb.ndim)
        self._cache = (xhat, invstd, axes, batch_stats, batched, x.shape)
        return xp.ascontiguousarray(y.reshape(x.shape)).astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        xhat, invstd, axes, batch_stats, batched, shape = self._cache
        _check_dy(self, dy, shape)
        dy64 = _as64(dy).reshape(xhat.shape)
        others = (0,) + axes
        if self.weight is not None:
            _add_grad(self.weight, (dy64 * xhat).sum(axis=others))
            dxhat = dy64 * self._channel(self.weight.data, xhat.ndim)
        else:
            dxhat = dy64
        if self.bias is not None:
            _add_grad(self.bias, dy64.sum(axis=others))
        if batch_stats:
            count = 1
            for a in axes:
                count *= xhat.shape[a]
            m1 = dxhat.sum(axis=axes, keepdims=True) / count
            m2 = (dxhat * xhat).sum(axis=axes, keepdims=True) / count
            dx = invstd * (dxhat - m1 - xhat * m2)
        else:  # the running statistics are constants
            dx = dxhat * invstd
        xp = ops.get_array_module(dy)
        return xp.ascontiguousarray(dx.reshape(shape)).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats, "bias": self.bias_enabled}

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Normalise each channel of each sample over its length (Ulyanov et al. 2016), torch.nn.InstanceNorm1d.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, the mean and biased variance of each
    (n, c) row. Args: num_features (C), eps, momentum (``running = (1 - momentum) running +
    momentum batch``; None is momentum 0, as torch's InstanceNorm: unlike BatchNorm's, no
    cumulative average, and num_batches_tracked, saved as torch's, stays 0), affine (learn
    weight (ones) and bias (zeros) of shape (C,)), track_running_stats (keep running_mean /
    running_var (unbiased, averaged over the batch) in training and normalise with them in
    eval, as torch), bias (keyword: with affine, learn the bias too).
    Shape: (N, C, L) or (C, L), unchanged; L > 1 when normalising by input statistics.
    """
    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """InstanceNorm1d over each (H, W) plane. Shape: (N, C, H, W) or (C, H, W)."""
    _spatial = 2


# --- shuffles and Softmax2d ------------------------------------------------------------------

class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r): output (c, h r + i, w r + j) is input channel
    c r^2 + i r + j at (h, w) (Shi et al. 2016; torch.nn.PixelShuffle)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = check_int("upscale_factor", upscale_factor)
        self._x_shape = None

    @staticmethod
    def _shuffle(x, r):
        *lead, c, h, w = x.shape
        lead = tuple(lead)
        k = len(lead)
        y = x.reshape(lead + (c // (r * r), r, r, h, w))
        y = y.transpose(tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
        return ops.get_array_module(x).ascontiguousarray(y).reshape(lead + (c // (r * r), h * r, w * r))

    @staticmethod
    def _unshuffle(x, r):
        *lead, c, h, w = x.shape
        lead = tuple(lead)
        k = len(lead)
        y = x.reshape(lead + (c, h // r, r, w // r, r))
        y = y.transpose(tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
        return ops.get_array_module(x).ascontiguousarray(y).reshape(lead + (c * r * r, h // r, w // r))

    def forward(self, x):
        _check_input(self, x, range(3, 33))
        r = self.upscale_factor
        if x.shape[-3] % (r * r):
            raise ValueError(f"PixelShuffle expects channels (axis -3) divisible by upscale_factor**2 = {r * r}, "
                             f"got input shape {x.shape}")
        self._x_shape = x.shape
        return self._shuffle(x, r)

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        r = self.upscale_factor
        *lead, c, h, w = self._x_shape
        _check_dy(self, dy, tuple(lead) + (c // (r * r), h * r, w * r))
        return self._unshuffle(dy, r)

    def get_config(self):
        return {"upscale_factor": self.upscale_factor}

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """The inverse of PixelShuffle: (*, C, H r, W r) -> (*, C r^2, H, W) (torch.nn.PixelUnshuffle)."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = check_int("downscale_factor", downscale_factor)
        self._x_shape = None

    def forward(self, x):
        _check_input(self, x, range(3, 33))
        r = self.downscale_factor
        if x.shape[-2] % r or x.shape[-1] % r:
            raise ValueError(f"PixelUnshuffle expects H and W (the last two axes) divisible by downscale_factor="
                             f"{r}, got input shape {x.shape}")
        self._x_shape = x.shape
        return PixelShuffle._unshuffle(x, r)

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        r = self.downscale_factor
        *lead, c, h, w = self._x_shape
        _check_dy(self, dy, tuple(lead) + (c * r * r, h // r, w // r))
        return PixelShuffle._shuffle(dy, r)

    def get_config(self):
        return {"downscale_factor": self.downscale_factor}

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of `groups` groups (Zhang et al. 2018, ShuffleNet;
    torch.nn.ChannelShuffle): output channel j g + i is input channel i (C / g) + j, g = groups
    (the reshape (N, g, C / g, *), axes 1 and 2 swapped, back to (N, C, *)).
    Shape: (N, C, *) with more than 2 axes."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = check_int("groups", groups)
        self._x_shape = None

    @staticmethod
    def _shuffle(x, g):
        n, c = x.shape[:2]
        y = x.reshape((n, g, c // g) + x.shape[2:]).transpose((0, 2, 1) + tuple(range(3, x.ndim + 1)))
        return ops.get_array_module(x).ascontiguousarray(y).reshape(x.shape)

    def forward(self, x):
        _check_input(self, x, range(3, 33))
        if x.shape[1] % self.groups:
            raise ValueError(f"ChannelShuffle expects channels (axis 1) divisible by groups={self.groups}, "
                             f"got input shape {x.shape}")
        self._x_shape = x.shape
        return self._shuffle(x, self.groups)

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        _check_dy(self, dy, self._x_shape)
        return self._shuffle(dy, self._x_shape[1] // self.groups)  # the inverse permutation

    def get_config(self):
        return {"groups": self.groups}

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Softmax2d(Module):
    """Softmax over the channels at each position (torch.nn.Softmax2d): axis -3 of a
    (N, C, H, W) or (C, H, W) input, computed in float64 and rounded to the input's dtype."""

    def __init__(self):
        super().__init__()
        self._y = None

    def forward(self, x):
        _check_float_input(self, x, (3, 4))
        x64 = _as64(x)
        xp = ops.get_array_module(x)
        with np.errstate(invalid="ignore", over="ignore"):
            e = xp.exp(x64 - x64.max(axis=-3, keepdims=True))
            y = e / e.sum(axis=-3, keepdims=True)
        self._y = y
        return y.astype(x.dtype)

    def backward(self, dy):
        _need_forward(self, self._y)
        y = self._y
        _check_dy(self, dy, y.shape)
        dy64 = _as64(dy)
        dx = y * (dy64 - (dy64 * y).sum(axis=-3, keepdims=True))
        return dx.astype(dy.dtype)

    def extra_repr(self) -> str:
        return ""
