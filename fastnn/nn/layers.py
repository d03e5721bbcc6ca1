"""Layers with parameters or shape logic: Linear, Conv2d, ConvTranspose2d, pooling, BatchNorm,
Dropout, Flatten, Reshape.

Each has the same shape: ``__init__`` validates and stores its config (errors show the received
value), ``reset_parameters()`` draws the initial weights from fastnn's global RNG, ``forward``
calls ``fastnn.ops`` and caches only what backward needs, ``backward(dy)`` returns dx and adds
the parameter gradients into ``param.grad``. Dimension legend: N C H W, KH KW, SH SW, PH PW, OH OW.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _device, ops
from .._random import next_seed
from ..ops._dispatch import contiguous
from ..ops.shapes import conv_transpose_output_size
from . import init as _init
from .module import Module, Parameter, check_bool, check_float_arg, check_int, pair

__all__ = [
    "Linear", "Dense", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "Dropout", "Flatten", "Reshape",
]


def _check_init(init: str) -> str:
    if init != "default":
        _init.get(init)  # raises ValueError naming the received value
    return init


def _init_weight_and_bias(layer, fan_in: int) -> None:
    """Shared by Linear, Conv2d, ConvTranspose2d: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for weight and bias, or the named initializer for the weight with a zero bias."""
    if layer.init == "default":
        _init.default_uniform_(layer.weight, fan_in)
        if layer.bias is not None:
            _init.default_uniform_(layer.bias, fan_in)
    else:
        _init.get(layer.init)(layer.weight)
        if layer.bias is not None:
            _init.zeros_(layer.bias)


def _wrong_device(layer, x, device: str) -> TypeError:
    to = "cupy.asarray(x)" if device == _device.CUDA else "x.get()"
    return _device.mismatch(type(layer).__name__, "the input", x, f"the layer's parameters are on {device}",
                            f"move the input ({to}) or the model (model.to({_device.device_of(x)!r})) first")


def _need_forward(layer, cache) -> None:
    if cache is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")


class ShapeError(ValueError, RuntimeError):
    """An input of the wrong rank or feature / channel count for the layer: a ValueError, and a
    RuntimeError as PyTorch's shape errors, so code written for either catches it."""


def _check_input(layer, x, ndims, channels=None, axis=1, state=None):
    """x must be an ndarray with ndim in ndims and `channels` entries along axis (when given),
    on the device of `state` (an array the layer holds: a parameter's data or a buffer)."""
    if not isinstance(x, np.ndarray):
        if _device.device_of(x) is None:
            raise TypeError(f"{type(layer).__name__} expects a numpy.ndarray or cupy.ndarray, got {type(x).__name__}")
        if state is not None and isinstance(state, np.ndarray):
            raise _wrong_device(layer, x, _device.CPU)
    elif state is not None and not isinstance(state, np.ndarray):
        raise _wrong_device(layer, x, _device.CUDA)
    if x.ndim not in ndims:
        ranks = sorted(ndims)
        if len(ranks) > 4 and ranks == list(range(ranks[0], ranks[-1] + 1)):
            # a long run of ranks (range(1, 33): any input of >= 1 dimension) as its bounds,
            # not as 32 alternatives
            low, high = ranks[0], ranks[-1]
            bound = f"at least {low}" if x.ndim < low else f"at most {high}"
            raise ShapeError(f"{type(layer).__name__} expects an input of {bound} dimension(s) "
                             f"({low}-D to {high}-D), got shape {x.shape}")
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeError(f"{type(layer).__name__} expects a {want} input, got shape {x.shape}")
    if channels is not None and x.shape[axis] != channels:
        raise ShapeError(f"{type(layer).__name__} expects {channels} features along axis {axis}, "
                         f"got input shape {x.shape}")


def _as_4d(layer, x, channels=None, state=None):
    """(x as (N, C, H, W), batched): a 3-D (C, H, W) input is one unbatched sample, run as N = 1
    (torch's rule; layers1d's _as_3d is the same for (C, L))."""
    _check_input(layer, x, (3, 4), state=state)
    if channels is not None and x.shape[-3] != channels:
        raise ShapeError(f"{type(layer).__name__} expects {channels} features along axis {x.ndim - 3}, "
                         f"got input shape {x.shape}")
    return (x if x.ndim == 4 else x.reshape((1,) + x.shape)), x.ndim == 4


def _dy_4d(layer, dy, y_shape, batched: bool):
    """dy as (N, C, OH, OW). After an unbatched forward dy must be the (C, OH, OW) output's shape;
    a batched one is left to the op's own shape check."""
    if batched:
        return dy
    if _device.device_of(dy) is None:
        raise TypeError(f"{type(layer).__name__}.backward expects a numpy.ndarray or cupy.ndarray, "
                        f"got {type(dy).__name__}")
    if tuple(dy.shape) != tuple(y_shape[1:]):
        raise ValueError(f"{type(layer).__name__}.backward expects dy of shape {tuple(y_shape[1:])} (the "
                         f"forward's unbatched output), got {tuple(dy.shape)}")
    return dy.reshape(y_shape)


def _unbatch(a, batched: bool):
    """a (N = 1, ...) without its batch axis after an unbatched forward; None stays None."""
    return a if batched or a is None else a.reshape(a.shape[1:])


class Linear(Module):
    """Fully connected layer: ``y = x @ W.T + b``.

    Args:
        in_features, out_features: sizes of the last axis of x and y.
        bias: learn an additive bias.
        init: "default" (U(+-1/sqrt(in_features)) for W and b, as PyTorch) or an initializer
            name from ``fastnn.nn.init`` ("glorot_uniform", "he_normal", ...; bias then zeros).
    Shape: x (N, in_features) or (..., in_features) -> y (..., out_features).
    Attributes: weight (out_features, in_features), bias (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "default"):
        super().__init__()
        self.in_features = check_int("in_features", in_features)
        self.out_features = check_int("out_features", out_features)
        self.init = _check_init(init)
        self.weight = Parameter(np.zeros((self.out_features, self.in_features), np.float32))
        self.bias = Parameter(np.zeros(self.out_features, np.float32)) if bias else None
        self._x = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == "default":
            _init.default_uniform_(self.weight, self.in_features)
            if self.bias is not None:
                _init.default_uniform_(self.bias, self.in_features)
        else:
            _init.get(self.init)(self.weight)
            if self.bias is not None:
                _init.zeros_(self.bias)

    def forward(self, x):
        return self._forward(x)

    def _forward(self, x, activation=None):
        """forward, with an activation fused into the GEMM's epilogue (see nn/fusion.py)."""
        _check_input(self, x, range(1, 33), self.in_features, axis=-1, state=self.weight.data)
        x2 = x.reshape(-1, self.in_features)
        y = ops.gemm(x2, self.weight.data, trans_b=True, bias=None if self.bias is None else self.bias.data,
                     activation=activation)
        self._x = x2
        return y.reshape(x.shape[:-1] + (self.out_features,))

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx: the first layer's dx is never used in training)."""
        _need_forward(self, self._x)
        dy2 = contiguous(dy).reshape(-1, self.out_features)
        # dW += dy^T x, accumulated by the GEMM itself (beta = 1 keeps the old gradient; 0 right
        # after zero_grad)
        grad, beta = self.weight.accumulate()
        ops.gemm(dy2, self._x, trans_a=True, out=grad, beta=beta)
        if self.bias is not None:
            grad, beta = self.bias.accumulate()
            if beta == 0.0:
                dy2.sum(axis=0, out=grad)
            else:
                grad += dy2.sum(axis=0)
        if not need_dx:
            return None
        dx = ops.gemm(dy2, self.weight.data)
        return dx.reshape(dy.shape[:-1] + (self.in_features,))

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "init": self.init}

    def extra_repr(self) -> str:  # torch's
        text = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        return text if self.init == "default" else f"{text}, init={self.init!r}"


Dense = Linear  # Keras' name


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # torch's Conv2d padding_mode values


def _pads():
    """layers1d, whose index-map padding (its pads' and Conv1d's padding_mode) Conv2d reuses:
    imported on use, as layers1d imports this module."""
    from . import layers1d

    return layers1d


def _split(total: int) -> tuple[int, int]:
    """torch's 'same' split of a total padding: half before, the odd one after."""
    return total // 2, total - total // 2



def conv_extra_repr(layer, output_padding: bool = False) -> str:
    """torch's _ConvNd.extra_repr, for 1-, 2- and 3-D convolutions (``init`` added when not
    the default, as it is fastnn's)."""
    n = len(layer.kernel_size)
    text = f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}, stride={layer.stride}"
    if isinstance(layer.padding, str):
        text += f", padding={layer.padding}"
    elif tuple(layer.padding) != (0,) * n:
        text += f", padding={layer.padding}"
    if tuple(layer.dilation) != (1,) * n:
        text += f", dilation={layer.dilation}"
    if output_padding and tuple(layer.output_padding) != (0,) * n:
        text += f", output_padding={layer.output_padding}"
    if layer.groups != 1:
        text += f", groups={layer.groups}"
    if layer.bias is None:
        text += ", bias=False"
    if getattr(layer, "padding_mode", "zeros") != "zeros":
        text += f", padding_mode={layer.padding_mode}"
    init = getattr(layer, "init", "default")
    return text if init == "default" else f"{text}, init={init!r}"

class Conv2d(Module):
    """2-D convolution (cross-correlation, as every DL framework).

    ``y[n, o] = b[o] + sum_c w[o, c] (*) x[n, c]`` with output size ``(H + 2P - K) // S + 1``.

    Args:
        in_channels, out_channels: C and OC.
        kernel_size, stride, padding: an int or an (h, w) pair (zeros, or as padding_mode says).
            padding may also be "valid" (none) or "same" (stride 1: the output keeps H x W; an
            even kernel pads one more row / column at the bottom / right, as PyTorch).
        dilation: an int or (h, w) pair: taps d apart (PyTorch's; the kernel spans d (K - 1) + 1).
        groups: channels split into groups that see only their own inputs (C and OC divisible by
            it; groups = C is depthwise). Grouped / dilated layers run one convolution per group
            with the dilated kernel (slower than the plain path, same semantics as PyTorch).
        bias: learn a per-channel bias.
        padding_mode: "zeros" (default), "reflect", "replicate" or "circular": as torch, the
            input is padded with that mode (PH rows at the top and bottom, PW columns left and
            right; for "same" torch's split of D (K - 1)), then convolved unpadded; backward adds
            each padded element's gradient into the element it copies. Reflection needs each
            padding smaller than the input side, circular at most the side (torch's rules).
        init: as for Linear (default bound 1/sqrt(C/groups*KH*KW)).
    Shape: x (N, C, H, W) -> y (N, OC, OH, OW), or unbatched (C, H, W) -> (OC, OH, OW).
    Attributes: weight (OC, C / groups, KH, KW), bias (OC,).
    """

    transposed = False  # torch's _ConvNd attributes
    output_padding = (0, 0)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = pair("stride", stride)
        self.dilation = pair("dilation", dilation)
        self.groups = check_int("groups", groups)
        for what, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ValueError(f"{what} must be divisible by groups. Received: {what}={count}, groups={groups}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be an int, an (h, w) pair, 'same' or 'valid'. "
                                 f"Received: padding={padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in PyTorch). Received: stride={stride!r}")
            self.padding = padding
        else:
            self.padding = pair("padding", padding, minimum=0)
        if not isinstance(padding_mode, str) or padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}. Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        kh, kw = self.kernel_size
        self.weight = Parameter(np.zeros((self.out_channels, self.in_channels // self.groups, kh, kw), np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.in_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        _init_weight_and_bias(self, fan_in)

    def _shape_args(self, padded: bool):
        """The op's arguments; padded: the input is already padded (padding_mode), so no padding."""
        return {"stride": self.stride, "padding": 0 if padded else self.padding, "dilation": self.dilation,
                "groups": self.groups}

    def _pad_maps(self, shape):
        """[(axis, index map, size)] of padding_mode's explicit padding of an (N, C, H, W) input,
        or None when the layer pads with zeros or not at all."""
        if self.padding_mode == "zeros" or self.padding == "valid":
            return None
        if self.padding == "same":
            (top, bottom), (left, right) = (_split(d * (k - 1)) for d, k in zip(self.dilation, self.kernel_size))
        else:
            (top, bottom), (left, right) = ((p, p) for p in self.padding)
        if top == bottom == left == right == 0:
            return None
        what = (f"Conv2d(padding={self.padding!r}, padding_mode={self.padding_mode!r}) on an input of "
                f"{shape[2]} x {shape[3]}")
        index = _pads()._pad_index
        return [(2, index(shape[2], top, bottom, self.padding_mode, what), shape[2]),
                (3, index(shape[3], left, right, self.padding_mode, what), shape[3])]

    def forward(self, x):
        x4, batched = _as_4d(self, x, self.in_channels, state=self.weight.data)
        pad_maps = self._pad_maps(x4.shape)
        if pad_maps is not None:
            for axis, idx, _ in pad_maps:
                x4 = _pads()._gather(x4, axis, idx)
        y = ops.conv2d_forward(x4, self.weight.data, None if self.bias is None else self.bias.data,
                               **self._shape_args(pad_maps is not None))
        self._cache = (x4, pad_maps, batched, y.shape)
        return _unbatch(y, batched)

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx: the first layer's dx is never used in training)."""
        _need_forward(self, self._cache)
        x4, pad_maps, batched, y_shape = self._cache
        dx, dw, db = ops.conv2d_backward(_dy_4d(self, dy, y_shape, batched), x4, self.weight.data,
                                         **self._shape_args(pad_maps is not None),
                                         need_dx=need_dx, has_bias=self.bias is not None)
        self.weight.add_grad(dw)
        if self.bias is not None:
            self.bias.add_grad(db)
        if dx is None:
            return None
        if pad_maps is not None:  # each padded element's gradient added into its source (in float64)
            g = dx.astype(np.float64, copy=False)
            for axis, idx, size in reversed(pad_maps):
                g = _pads()._gather_backward(g, axis, idx, size)
            dx = ops.get_array_module(g).ascontiguousarray(g).astype(dx.dtype, copy=False)
        return _unbatch(dx, batched)

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "bias": self.bias is not None, "init": self.init,
                **({"dilation": list(self.dilation)} if self.dilation != (1, 1) else {}),
                **({"groups": self.groups} if self.groups != 1 else {}),
                **({"padding_mode": self.padding_mode} if self.padding_mode != "zeros" else {})}

    def extra_repr(self) -> str:
        return conv_extra_repr(self)


def _transposed_output_padding(layer, x, output_size):
    """The output_padding of a transposed convolution's forward, for any number of spatial axes
    (len(layer.kernel_size): ConvTranspose1d/2d/3d): the layer's output_padding when output_size is None, else the one
    giving output_size (torch's _ConvTransposeNd._output_padding). output_size holds the
    spatial sizes, or x.ndim entries (with the leading N, C / C, which are ignored); each size
    must lie in [min, min + stride - 1], min the size with output_padding 0 (TypeError /
    ValueError naming the received value otherwise, as ConvTranspose2d's)."""
    if output_size is None:
        return layer.output_padding
    name, n = type(layer).__name__, len(layer.kernel_size)
    if not isinstance(output_size, (tuple, list)) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in output_size):
        raise TypeError(f"output_size must be a tuple or list of ints. Received: output_size={output_size!r}")
    size = tuple(int(v) for v in output_size)
    if len(size) == x.ndim:  # (N, C, OL...) or (C, OL...): the spatial part counts
        size = size[x.ndim - n:]
    if len(size) != n:
        raise ValueError(f"{name}: for a {x.ndim}-D input, output_size must have {n} or {x.ndim} "
                         f"elements. Received: output_size={output_size!r}")
    lowest = tuple(conv_transpose_output_size(x.shape[x.ndim - n + i], d * (k - 1) + 1, s, p, 0)
                   for i, (k, s, p, d) in enumerate(zip(layer.kernel_size, layer.stride, layer.padding,
                                                        layer.dilation)))
    highest = tuple(lo + s - 1 for lo, s in zip(lowest, layer.stride))
    if not all(lo <= v <= hi for v, lo, hi in zip(size, lowest, highest)):
        raise ValueError(f"{name}: requested an output size of {size}, but valid sizes range from "
                         f"{lowest} to {highest} (for an input of shape {tuple(x.shape)}). "
                         f"Received: output_size={output_size!r}")
    return tuple(v - lo for v, lo in zip(size, lowest))


class ConvTranspose2d(Module):
    """2-D transposed convolution (the gradient of Conv2d with respect to its input).

    Output size ``OH = (H - 1) * SH - 2 * PH + DH * (KH - 1) + 1 + output_padding`` (PyTorch).

    Args (PyTorch's order):
        in_channels, out_channels, kernel_size, stride, padding: as Conv2d.
        output_padding: extra rows/cols on one side, each < stride or < dilation (PyTorch's rule).
        groups: channels split into groups, each group's outputs made from its own inputs only
            (in_channels and out_channels divisible by it).
        bias: learn a per-channel bias.
        dilation: an int or (h, w) pair: taps d apart. Grouped / dilated layers run one
            transposed convolution per group with the dilated kernel (same semantics as
            PyTorch, slower than the plain path).
        padding_mode: "zeros", the only mode torch's ConvTranspose2d takes (others: ValueError).
        init: "default" draws U(+-1/sqrt(fan_in)) with PyTorch's fan_in for this layout,
            ``out_channels / groups * KH * KW`` (it reads dimension 1 of the stored weight).
    ``forward(x, output_size)``: output_size (OH, OW) (or with the leading N, C / C of x's
    rank, as torch) picks the output_padding that gives it, in place of the layer's, for that
    call; each entry in [min, min + stride - 1], min the size with output_padding 0, or
    ValueError (torch's rule).
    Shape: x (N, C_in, H, W) -> y (N, C_out, OH, OW), or unbatched (C_in, H, W) -> (C_out, OH, OW).
    Attributes: weight (C_in, C_out / groups, KH, KW), bias (C_out,).
    """

    transposed = True  # torch's _ConvNd attribute

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros",
                 init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = pair("kernel_size", kernel_size)
        self.stride = pair("stride", stride)
        self.padding = pair("padding", padding, minimum=0)
        self.output_padding = pair("output_padding", output_padding, minimum=0)
        self.dilation = pair("dilation", dilation)
        self.groups = check_int("groups", groups)
        for what, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise ValueError(f"{what} must be divisible by groups. Received: {what}={count}, groups={groups}")
        for op_, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op_ >= max(s, d):
                raise ValueError(f"output_padding must be smaller than stride {self.stride} or dilation "
                                 f"{self.dilation}. Received: output_padding={output_padding!r}")
        if not isinstance(padding_mode, str) or padding_mode != "zeros":
            raise ValueError(f"ConvTranspose2d supports only padding_mode='zeros' (as torch). "
                             f"Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        kh, kw = self.kernel_size
        self.weight = Parameter(np.zeros((self.in_channels, self.out_channels // self.groups, kh, kw), np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.out_channels // self.groups * self.kernel_size[0] * self.kernel_size[1]
        _init_weight_and_bias(self, fan_in)

    def _shape_args(self, output_padding):
        return {"stride": self.stride, "padding": self.padding, "output_padding": output_padding,
                "dilation": self.dilation, "groups": self.groups}

    def _output_padding(self, x, output_size):
        """The output_padding of a forward: the layer's, or the one giving output_size."""
        return _transposed_output_padding(self, x, output_size)

    def forward(self, x, output_size=None):
        x4, batched = _as_4d(self, x, self.in_channels, state=self.weight.data)
        output_padding = self._output_padding(x, output_size)
        y = ops.conv_transpose2d_forward(x4, self.weight.data, None if self.bias is None else self.bias.data,
                                         **self._shape_args(output_padding))
        if x4.shape[0]:
            _check_transpose_output(self, x4.shape[2:], y.shape[2:])
        self._cache = (x4, output_padding, batched, y.shape)
        return _unbatch(y, batched)

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx: the first layer's dx is never used in training)."""
        _need_forward(self, self._cache)
        x4, output_padding, batched, y_shape = self._cache
        dx, dw, db = ops.conv_transpose2d_backward(_dy_4d(self, dy, y_shape, batched), x4, self.weight.data,
                                                   **self._shape_args(output_padding),
                                                   need_dx=need_dx, has_bias=self.bias is not None)
        self.weight.add_grad(dw)
        if self.bias is not None:
            self.bias.add_grad(db)
        return _unbatch(dx, batched)

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "output_padding": list(self.output_padding),
                "bias": self.bias is not None, "init": self.init,
                **({"dilation": list(self.dilation)} if self.dilation != (1, 1) else {}),
                **({"groups": self.groups} if self.groups != 1 else {})}

    def extra_repr(self) -> str:
        return conv_extra_repr(self, output_padding=True)


def _check_transpose_output(layer, in_size, out_size):
    """torch rejects a transposed convolution whose output has an empty spatial axis ("Output
    size is too small"); the kernel would return an empty array instead (an empty batch is fine)."""
    if 0 in out_size:
        raise ShapeError(f"{type(layer).__name__}: an input of {tuple(in_size)} per channel gives an output of "
                         f"{tuple(out_size)}, which must be positive (padding={layer.padding} is too large)")


def _as_given(v):
    """A pooling argument as the layer keeps it (torch keeps what was given): a list as a tuple."""
    return tuple(v) if isinstance(v, list) else v


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        super().__init__()
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        # (h, w) pairs the kernels take; the public attributes are the arguments as given, as
        # torch's (MaxPool2d(2).kernel_size == 2, stride None -> kernel_size)
        self._k = pair("kernel_size", kernel_size)
        self._s = self._k if stride is None else pair("stride", stride)
        self._p = pair("padding", padding, minimum=0)
        for p, k in zip(self._p, self._k):
            if p > k // 2:
                raise ValueError(f"padding must be at most half the kernel size {self._k}. "
                                 f"Received: padding={padding!r}")
        self.kernel_size = _as_given(kernel_size)
        self.stride = self.kernel_size if stride is None else _as_given(stride)
        self.padding = _as_given(padding)
        self._x_shape = None

    def _x4_shape(self):
        """The forward's input shape as (N, C, H, W) (_x_shape is the input's own: 3-D unbatched)."""
        shape = tuple(self._x_shape)
        return shape if len(shape) == 4 else (1,) + shape

    def get_config(self):
        # as given (an int stays an int), so that a loaded layer is the saved one
        k, st, p = (list(v) if isinstance(v, tuple) else v for v in (self.kernel_size, self.stride, self.padding))
        config = {"kernel_size": k, "stride": st, "padding": p}
        if self.ceil_mode:
            config["ceil_mode"] = True
        return config


class MaxPool2d(_Pool2d):
    """Max over each KH x KW window (padding counts as -inf; NaN wins, as PyTorch).

    Args (PyTorch's order): kernel_size, stride (default kernel_size), padding (<= kernel_size
    // 2), dilation (the window's taps d apart; dilated windows are gathered by array code,
    slower than the native kernel), return_indices (forward returns (y, indices), the int64
    positions ``h * W + w`` of the maxima in each input plane, as PyTorch; -1 for a dilated
    window whose taps all miss the input, value -inf and no gradient, where PyTorch's index is
    garbage), ceil_mode (OH = ceil((H + 2P - d (K - 1) - 1) / S) + 1, the last window starting
    inside the input or the left padding, as PyTorch; default floor).
    Shape: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW) (indices too).
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self._d = pair("dilation", dilation)
        self.dilation = _as_given(dilation)
        self.return_indices = check_bool("return_indices", return_indices)

    def forward(self, x):
        x4, batched = _as_4d(self, x)
        # _indices and _x_shape are also what the fused ReLU + MaxPool2d step sets (nn/fusion.py)
        y, self._indices = ops.max_pool2d_forward(x4, self._k, stride=self._s, padding=self._p,
                                                  ceil_mode=self.ceil_mode, dilation=self._d)
        self._x_shape = x.shape
        y = _unbatch(y, batched)
        return (y, _unbatch(self._indices.copy(), batched)) if self.return_indices else y

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        batched = len(self._x_shape) == 4
        dy = _dy_4d(self, dy, self._indices.shape, batched)
        indices = self._indices
        if self._d != (1, 1):
            # a dilated window may hold no element of x (its taps all in the padding): index -1,
            # value -inf, whatever x is; it gets no gradient (the op refuses -1: it names a bug
            # when it comes from anywhere else)
            hole = indices < 0
            if bool(hole.any()):
                xp = ops.get_array_module(indices)
                dy = xp.where(hole, dy.dtype.type(0), dy)
                indices = xp.where(hole, np.int64(0), indices)
        return _unbatch(ops.max_pool2d_backward(dy, indices, self._x4_shape()), batched)

    def get_config(self):
        config = super().get_config()
        if self._d != (1, 1):
            d = self.dilation
            config["dilation"] = list(d) if isinstance(d, tuple) else d
        if self.return_indices:
            config["return_indices"] = True
        return config

    def extra_repr(self) -> str:  # torch's
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """Mean over each KH x KW window.

    Args (PyTorch's order): kernel_size, stride (default kernel_size), padding, ceil_mode (as
    MaxPool2d's; a window reaching past the padded input divides by its part inside it),
    count_include_pad (divide by the full window size even where it overlaps the zero padding,
    PyTorch's default), divisor_override (a nonzero int dividing every window's sum instead).
    Shape: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = check_bool("count_include_pad", count_include_pad)  # torch: TypeError
        if divisor_override is not None and (isinstance(divisor_override, bool) or
                                             not isinstance(divisor_override, numbers.Integral) or
                                             divisor_override == 0):
            raise ValueError(f"divisor_override must be a nonzero int or None. "
                             f"Received: divisor_override={divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)
        self._y_shape = None

    def _shape_args(self):
        return {"stride": self._s, "padding": self._p, "count_include_pad": self.count_include_pad,
                "ceil_mode": self.ceil_mode, "divisor_override": self.divisor_override}

    def forward(self, x):
        x4, batched = _as_4d(self, x)
        y = ops.avg_pool2d_forward(x4, self._k, **self._shape_args())
        self._x_shape, self._y_shape = x.shape, y.shape
        return _unbatch(y, batched)

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        batched = len(self._x_shape) == 4
        dx = ops.avg_pool2d_backward(_dy_4d(self, dy, self._y_shape, batched), self._x4_shape(), self._k,
                                     **self._shape_args())
        return _unbatch(dx, batched)

    def get_config(self):
        config = {**super().get_config(), "count_include_pad": self.count_include_pad}
        if self.divisor_override is not None:
            config["divisor_override"] = self.divisor_override
        return config

    def extra_repr(self) -> str:  # torch's
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool2d(Module):
    """Mean over each whole plane: (N, C, H, W) -> (N, C)."""

    def __init__(self):
        super().__init__()
        self._x_shape = None

    def forward(self, x):
        _check_input(self, x, (4,))
        self._x_shape = x.shape
        return ops.global_avg_pool2d_forward(x)

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        return ops.global_avg_pool2d_backward(dy, self._x_shape)



def _reset_running_stats(norm) -> None:
    """A norm layer's running statistics back to their start (nothing without them)."""
    if norm.track_running_stats:
        norm.running_mean.fill(0)
        norm.running_var.fill(1)
        norm.num_batches_tracked.fill(0)

class _BatchNorm(Module):
    _ndims: tuple = ()
    _optional_state = ("num_batches_tracked",)  # saved only with momentum=None before 2026-12

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True):
        super().__init__()
        bias = check_bool("bias", bias)
        self.num_features = check_int("num_features", num_features)
        self.eps = check_float_arg("eps", eps, low=0.0, low_open=True)
        # None: the cumulative average of every batch so far (PyTorch's), by num_batches_tracked
        self.momentum = None if momentum is None else check_float_arg("momentum", momentum, low=0.0, high=1.0)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:  # bias=False (torch's): the learned scale alone, no shift
            self.weight = Parameter(np.ones(self.num_features, np.float32))
            self.bias = Parameter(np.zeros(self.num_features, np.float32)) if bias else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, np.float32))
            # batches seen in training (PyTorch's, always saved; momentum=None averages by it)
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:  # batch statistics in training and in eval alike (PyTorch's)
            self.running_mean = self.running_var = None
        self._cache = None

    def reset_parameters(self) -> None:
        if self.affine:
            _init.ones_(self.weight)
            if self.bias is not None:
                _init.zeros_(self.bias)
        self.reset_running_stats()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, num_batches_tracked 0 (torch's)."""
        _reset_running_stats(self)

    def _as_kernel_input(self, x):
        return x

    def forward(self, x):
        state = self.running_mean if self.track_running_stats else (self.weight.data if self.affine else None)
        _check_input(self, x, self._ndims, self.num_features, state=state)
        xk = self._as_kernel_input(x)
        xp = ops.get_array_module(x)
        if self.affine:  # (the kernel always applies an affine map: with no bias, a zero shift)
            gamma = self.weight.data
            beta = self.bias.data if self.bias is not None else xp.zeros(self.num_features, gamma.dtype)
        else:  # the identity map
            gamma, beta = xp.ones(self.num_features, x.dtype), xp.zeros(self.num_features, x.dtype)
        batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1  # in place: the buffer stays the same array
            if momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        if batch_stats and x.size == 0:
            # an empty batch (N = 0, or L, H or W = 0) has no statistics: PyTorch returns the empty
            # output, keeps the running statistics (still counting the batch) and gives zero
            # gradients; the kernels refuse it (they need more than one value per channel)
            self._cache = (None, x.shape, x.dtype)
            return ops.get_array_module(x).empty(x.shape, x.dtype)
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        y, mean, invstd = ops.batch_norm_forward(xk, gamma, beta, *running, training=batch_stats,
                                                 momentum=0.0 if momentum is None else momentum, eps=self.eps)
        self._cache = (xk, gamma, mean, invstd, batch_stats, x.shape)
        return y.reshape(x.shape)

    def backward(self, dy):
        _need_forward(self, self._cache)
        if self._cache[0] is None:  # an empty batch (see forward)
            _, shape, dtype = self._cache
            if tuple(dy.shape) != tuple(shape):
                raise ValueError(f"{type(self).__name__}.backward expects dy of shape {shape} (the forward's "
                                 f"input), got {dy.shape}")
            if self.affine:
                xp = ops.get_array_module(dy)
                self.weight.add_grad(xp.zeros(self.num_features, self.weight.data.dtype))
                if self.bias is not None:
                    self.bias.add_grad(xp.zeros(self.num_features, self.bias.data.dtype))
            return ops.get_array_module(dy).empty(shape, dtype)
        xk, gamma, mean, invstd, training, shape = self._cache
        dx, dgamma, dbeta = ops.batch_norm_backward(contiguous(dy).reshape(xk.shape), xk, gamma,
                                                    mean, invstd, training=training)
        if self.affine:
            self.weight.add_grad(dgamma)
            if self.bias is not None:
                self.bias.add_grad(dbeta)
        return dx.reshape(shape)

    def get_config(self):
        config = {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                  "affine": self.affine}
        if self.affine and self.bias is None:  # only then: older configs stay the same
            config["bias"] = False
        if not self.track_running_stats:
            config["track_running_stats"] = False
        return config

    def extra_repr(self) -> str:  # torch's
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={getattr(self, 'bias', None) is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over the batch (and length) axes, per feature (Ioffe & Szegedy 2015).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``; training uses the batch mean and biased
    variance and updates ``running = (1 - momentum) * running + momentum * batch`` (unbiased
    variance); eval uses the running statistics. ``momentum=None``: the running statistics are
    the cumulative average of all batches (momentum 1 / num_batches_tracked, a buffer then);
    ``track_running_stats=False``: no running statistics, batch statistics in eval too (PyTorch).
    ``bias=False`` (keyword, PyTorch 2.13's): with ``affine``, the learned weight alone (bias None).
    Shape: (N, C) or (N, C, L). Attributes: weight, bias (C,); buffers running_mean, running_var.
    """

    _ndims = (2, 3)

    def _as_kernel_input(self, x):
        # (N, C, L) is normalised per channel over N and L: the kernel's (N, C, H, W) with W = 1
        return x if x.ndim == 2 else x.reshape(x.shape + (1,))


class BatchNorm2d(_BatchNorm):
    """Batch normalization per channel over N, H and W; see BatchNorm1d.
    Shape: (N, C, H, W)."""

    _ndims = (4,)


def _times_zero(a, out) -> None:
    """out = a * 0 (NaN where a is NaN or inf, -0.0 where a < 0), without NumPy's inf * 0 warning."""
    with np.errstate(invalid="ignore"):
        ops.get_array_module(a).multiply(a, 0, out=out)


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest
    by 1 / (1 - p); identity in eval mode (x itself is returned, as PyTorch). p = 1 gives x * 0
    (zeros; NaN where x is NaN or inf, as PyTorch's and as the dropped elements of p < 1), and
    its gradient dy * 0.

    inplace (PyTorch's): in training the result is written into x, which is returned (the same
    object), when x is a writable array (a NumPy array with ``flags.writeable``, or a CuPy
    array); otherwise a new array as with inplace=False. The values, mask and gradient are the
    same either way (the mask is kept for backward). As in PyTorch, the layer before must not
    need its own output for its backward (Tanh, Sigmoid do: their gradients would then be
    computed from the dropped-out values; PyTorch's autograd refuses that).

    Each forward pass draws a seed from fastnn's global RNG (``fastnn.manual_seed`` makes runs
    reproducible); the mask comes from the kernels' counter-based RNG of that seed.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_float_arg("p", p, low=0.0, high=1.0)
        self.inplace = check_bool("inplace", inplace)
        self._mask = None

    def forward(self, x):
        _check_input(self, x, range(0, 33))
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        y, self._mask = ops.dropout_forward(x, self.p, next_seed(), training=True)
        if self.p == 1.0:  # the kernel writes zeros; x * 0 keeps NaN / inf as NaN, as PyTorch's (and as
            _times_zero(x, y)  # a dropped element for p < 1)
        if self.inplace and getattr(x.flags, "writeable", True):
            x[...] = y  # x may be strided: the kernel wrote a contiguous y, copied into x's own layout
            return x
        return y

    def backward(self, dy):
        if self._mask is None:
            return dy
        dx = ops.dropout_backward(dy, self._mask, self.p)
        if self.p == 1.0:  # dy * 0, as forward
            _times_zero(dy, dx)
        return dx

    def get_config(self):
        return {"p": self.p, **({"inplace": True} if self.inplace else {})}

    def extra_repr(self) -> str:  # torch's
        return f"p={self.p}, inplace={self.inplace}"


class DimensionError(IndexError, ValueError):
    """An axis outside an input's dimensions (PyTorch raises IndexError, fastnn ValueError: both)."""


class Flatten(Module):
    """Merge the axes start_dim .. end_dim (inclusive; negative counts from the end), as PyTorch:
    (N, C, H, W) -> (N, C*H*W) with the defaults start_dim = 1, end_dim = -1. A 0-d input is
    one element: (1,). An axis outside the input's dimensions, or start_dim after end_dim,
    raises DimensionError (an IndexError, as PyTorch's, and a ValueError)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Flatten: {name} must be an int. Received: {name}={v!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._x_shape = None

    def _axes(self, shape):
        nd = max(len(shape), 1)  # a 0-d input counts as one axis of size 1, as in PyTorch
        axes = []
        for name, v in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -nd <= v < nd:
                raise DimensionError(f"Flatten: {name}={v} is out of range for an input of shape {tuple(shape)} "
                                     f"(expected an axis in [{-nd}, {nd - 1}])")
            axes.append(v % nd)
        if axes[0] > axes[1]:
            raise DimensionError(f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} for an "
                                 f"input of shape {tuple(shape)}")
        return axes

    def forward(self, x):
        _check_input(self, x, range(0, 33))
        s, e = self._axes(x.shape)
        self._x_shape = x.shape
        shape = x.shape if x.ndim else (1,)
        merged = 1
        for d in shape[s:e + 1]:
            merged *= d
        return x.reshape(shape[:s] + (merged,) + shape[e + 1:])

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        return dy.reshape(self._x_shape)

    def get_config(self):
        return {"start_dim": self.start_dim, "end_dim": self.end_dim}


class Reshape(Module):
    """Reshape each sample: (N, ...) -> (N, *shape); shape excludes the batch axis, one -1 allowed."""

    def __init__(self, shape):
        super().__init__()
        if isinstance(shape, int) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(s, int) and not isinstance(s, bool) and (s > 0 or s == -1) for s in shape) \
                or list(shape).count(-1) > 1:
            raise ValueError(f"shape must be a tuple of positive ints (at most one -1). Received: shape={shape!r}")
        self.shape = tuple(shape)
        self._x_shape = None

    def forward(self, x):
        _check_input(self, x, range(1, 33))
        try:
            y = x.reshape((x.shape[0],) + self.shape)
        except ValueError:
            raise ValueError(f"Reshape{self.shape} cannot reshape a sample of shape {x.shape[1:]}") from None
        self._x_shape = x.shape
        return y

    def backward(self, dy):
        _need_forward(self, self._x_shape)
        return dy.reshape(self._x_shape)

    def get_config(self):
        return {"shape": list(self.shape)}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(config["shape"]))
