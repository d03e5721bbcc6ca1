"""torch.nn's 3-D convolutions, with its semantics, arguments, init, reprs and state_dict names:
Conv3d and ConvTranspose3d.

Array code in the array module of the input (NumPy or CuPy), float32 or float64 (the
parameters' dtype). Conv3d's forward is an im2col by a strided view of the padded input,
(N, OD, OH, OW, C / groups, KD, KH, KW), copied once per group into an (N OD OH OW,
C / groups KD KH KW) matrix and multiplied by the group's (OC / groups, C / groups KD KH KW)
weight in one ``fastnn.ops.gemm`` over the whole batch. Backward: dW by one GEMM per group
(accumulated into ``weight.grad`` by the GEMM's beta, as Linear), db a sum over N and the
output positions (in float64, rounded once), dx a GEMM giving each window's gradient, then a
col2im: a loop over the KD KH KW kernel offsets, each adding one strided slice (its targets
distinct, so the sum has a fixed order). ConvTranspose3d's forward is that input gradient,
its backward Conv3d's forward (dx) and weight gradient. padding_mode "reflect", "replicate"
and "circular" pad the input by layers1d's index maps (torch's rules and errors), and their
backward adds each padded element's gradient into its source in float64.
Dimension legend: N C D H W, KD KH KW, SD SH SW, PD PH PW, OD OH OW, G (groups).
"""
from __future__ import annotations

import numpy as np

from .. import _device, ops
from .extra import _as64
from .layers import (ShapeError, _check_init, _check_input, _init_weight_and_bias, _need_forward, _split,
                     _transposed_output_padding, conv_extra_repr)
from .layers1d import _PADDING_MODES, _gather, _gather_backward, _pad_index
from .module import Module, Parameter, check_int

__all__ = ["Conv3d", "ConvTranspose3d"]

F64 = np.float64


def _triple(name: str, value, minimum: int = 1) -> tuple[int, int, int]:
    """An int or a (d, h, w) triple of ints >= minimum (torch's _triple), as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise ValueError(f"{name} must be an int or a triple (d, h, w). Received: {name}={value!r}")
        return tuple(check_int(name, v, minimum) for v in value)
    v = check_int(name, value, minimum)
    return (v, v, v)


def _as_5d(layer, x, channels: int, weight):
    """(x as (N, C, D, H, W), batched): a 4-D (C, D, H, W) input is one unbatched sample
    (torch's rule). x must be float32 / float64, of the parameters' dtype."""
    _check_input(layer, x, (4, 5), state=weight)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{type(layer).__name__} expects a float32 or float64 input, got dtype {x.dtype}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{type(layer).__name__}: the input has dtype {x.dtype} but the parameters {weight.dtype}; "
                        f"fastnn never converts silently, cast one of them (layer.to({str(x.dtype)!r}))")
    if x.shape[-4] != channels:
        raise ShapeError(f"{type(layer).__name__} expects {channels} channels along axis {x.ndim - 4}, "
                         f"got input shape {x.shape}")
    return (x if x.ndim == 5 else x.reshape((1,) + x.shape)), x.ndim == 5


def _dy_5d(layer, dy, y_shape, batched: bool):
    """dy checked against the forward's output (N, C, OD, OH, OW) (4-D after an unbatched
    forward) and its dtype, as (N, C, OD, OH, OW)."""
    want = tuple(y_shape) if batched else tuple(y_shape[1:])
    if _device.device_of(dy) is None:
        raise TypeError(f"{type(layer).__name__}.backward expects a numpy.ndarray or cupy.ndarray, "
                        f"got {type(dy).__name__}")
    if tuple(dy.shape) != want:
        raise ValueError(f"{type(layer).__name__}.backward expects dy of shape {want} (the forward's output), "
                         f"got {tuple(dy.shape)}")
    if dy.dtype != layer.weight.data.dtype:
        raise TypeError(f"{type(layer).__name__}.backward expects dy of dtype {layer.weight.data.dtype}, "
                        f"got {dy.dtype}")
    return dy.reshape(y_shape)


def _windows(xp, a, out_sizes, stride, dilation, kernel):
    """The (N, OD, OH, OW, C, KD, KH, KW) view of a (N, C, D, H, W) array's windows: element
    (n, o, c, k) is a[n, c, o * S + k * DIL] per axis (out_sizes fit inside a: checked by the
    callers)."""
    sn, sc, sd, sh, sw = a.strides
    shape = (a.shape[0],) + tuple(out_sizes) + (a.shape[1],) + tuple(kernel)
    strides = ((sn,) + tuple(s * st for s, st in zip((sd, sh, sw), stride)) + (sc,)
               + tuple(s * d for s, d in zip((sd, sh, sw), dilation)))
    if xp is np:
        return np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)  # CuPy's takes no writeable


def _cols(xp, a, c0, c1, out_sizes, stride, dilation, kernel):
    """The im2col matrix (N OD OH OW, (c1 - c0) KD KH KW) of channels [c0, c1) of a (a copy)."""
    view = _windows(xp, a, out_sizes, stride, dilation, kernel)[:, :, :, :, c0:c1]
    rows = a.shape[0] * int(np.prod(out_sizes))
    return xp.ascontiguousarray(view).reshape(rows, (c1 - c0) * int(np.prod(kernel)))


def _col2im(dst, c0, cols, out_sizes, stride, dilation, kernel):
    """dst[:, c0:c0 + C'] += the col2im of cols (N OD OH OW, C' KD KH KW): one strided slice
    per kernel offset, whose targets are distinct (so no element is written twice at once)."""
    n = dst.shape[0]
    kd, kh, kw = kernel
    c = cols.shape[1] // (kd * kh * kw)
    g = cols.reshape((n,) + tuple(out_sizes) + (c, kd, kh, kw))
    (od, oh, ow), (sd, sh, sw), (dd, dh, dw) = out_sizes, stride, dilation
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                part = g[:, :, :, :, :, i, j, k].transpose(0, 4, 1, 2, 3)
                dst[:, c0:c0 + c, i * dd:i * dd + sd * (od - 1) + 1:sd, j * dh:j * dh + sh * (oh - 1) + 1:sh,
                    k * dw:k * dw + sw * (ow - 1) + 1:sw] += part


def _bias_grad(param, dy5) -> None:
    """bias.grad += dy summed over N and the output positions (in float64, rounded once)."""
    param.add_grad(dy5.sum(axis=(0, 2, 3, 4), dtype=F64).astype(param.data.dtype, copy=False))


def _check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    for what, count in (("in_channels", in_channels), ("out_channels", out_channels)):
        if count % groups:
            raise ValueError(f"{what} must be divisible by groups. Received: {what}={count}, groups={groups}")


class Conv3d(Module):
    """3-D convolution (cross-correlation), torch.nn.Conv3d.

    ``y[n, o] = b[o] + sum_{c, k} w[o, c, k] * xpad[n, c, o * S + k * DIL]`` per axis, with
    ``OD = (D + 2 PD - DD (KD - 1) - 1) // SD + 1`` (H, W alike).

    Args (torch's order):
        in_channels, out_channels: C and OC (each divisible by groups).
        kernel_size, stride, dilation: an int or a (d, h, w) triple.
        padding: an int, a (d, h, w) triple, "valid" (none) or "same" (stride 1: the output keeps
            D x H x W; an odd total DIL (K - 1) pads one more at the end, as torch).
        groups: channels split into groups that see only their own inputs.
        bias: learn a per-channel bias.
        padding_mode: "zeros", "reflect", "replicate" or "circular" (the input padded in that
            mode, then convolved unpadded, as torch; reflection needs each padding smaller than
            the input's side, circular at most the side).
        init: "default" (U(+-1/sqrt(C / groups * KD * KH * KW)), torch's kaiming_uniform with
            a = sqrt(5), and its bias bound) or an initializer name of ``fastnn.nn.init`` (bias
            then zeros), as Conv2d.
    Shape: (N, C, D, H, W) -> (N, OC, OD, OH, OW), or unbatched (C, D, H, W) -> (OC, OD, OH, OW).
    Attributes: weight (OC, C / groups, KD, KH, KW), bias (OC,).
    """

    transposed = False  # torch's _ConvNd attributes
    output_padding = (0, 0, 0)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = _triple("kernel_size", kernel_size)
        self.stride = _triple("stride", stride)
        self.dilation = _triple("dilation", dilation)
        self.groups = check_int("groups", groups)
        _check_groups(self.in_channels, self.out_channels, self.groups)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be an int, a (d, h, w) triple, 'same' or 'valid'. "
                                 f"Received: padding={padding!r}")
            if padding == "same" and self.stride != (1, 1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in torch). Received: stride={stride!r}")
            self.padding = padding
        else:
            self.padding = _triple("padding", padding, minimum=0)
        if not isinstance(padding_mode, str) or padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}. Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        self.weight = Parameter(np.zeros((self.out_channels, self.in_channels // self.groups) + self.kernel_size,
                                         np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        kd, kh, kw = self.kernel_size
        _init_weight_and_bias(self, self.in_channels // self.groups * kd * kh * kw)

    def _sides(self):
        """[(before, after)] padding of the D, H and W axes."""
        if self.padding == "valid":
            return [(0, 0)] * 3
        if self.padding == "same":
            return [_split(d * (k - 1)) for d, k in zip(self.dilation, self.kernel_size)]
        return [(p, p) for p in self.padding]

    def _pad(self, x5):
        """(the padded input, how: ("zeros", sides) or ("maps", [(axis, index map, size)]))."""
        xp = ops.get_array_module(x5)
        sides = self._sides()
        if all(b == a == 0 for b, a in sides):
            return x5, ("zeros", sides)
        if self.padding_mode == "zeros":
            shape = x5.shape[:2] + tuple(s + b + a for s, (b, a) in zip(x5.shape[2:], sides))
            xpad = xp.zeros(shape, x5.dtype)
            xpad[(slice(None), slice(None)) + tuple(slice(b, b + s) for s, (b, _) in zip(x5.shape[2:], sides))] = x5
            return xpad, ("zeros", sides)
        what = (f"Conv3d(padding={self.padding!r}, padding_mode={self.padding_mode!r}) on an input of "
                f"{x5.shape[2]} x {x5.shape[3]} x {x5.shape[4]}")
        maps = [(2 + i, _pad_index(x5.shape[2 + i], b, a, self.padding_mode, what), x5.shape[2 + i])
                for i, (b, a) in enumerate(sides)]
        xpad = x5
        for axis, idx, _ in maps:
            xpad = _gather(xpad, axis, idx)
        return xp.ascontiguousarray(xpad), ("maps", maps)

    def _out_sizes(self, padded_shape):
        spans = tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size))
        if any(p < s for p, s in zip(padded_shape, spans)):
            raise ShapeError(f"Conv3d: the padded input is {tuple(padded_shape)} per channel, smaller than the "
                             f"(dilated) kernel {spans}: kernel size can't be greater than the padded input size "
                             f"(kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding!r})")
        return tuple((p - s) // st + 1 for p, s, st in zip(padded_shape, spans, self.stride))

    def forward(self, x):
        x5, batched = _as_5d(self, x, self.in_channels, self.weight.data)
        xp = ops.get_array_module(x5)
        xpad, how = self._pad(x5)
        out = self._out_sizes(xpad.shape[2:])
        n, g = x5.shape[0], self.groups
        cg, ocg = self.in_channels // g, self.out_channels // g
        w2 = self.weight.data.reshape(self.out_channels, -1)
        b = None if self.bias is None else self.bias.data
        if g == 1:  # channels last, then transposed
            cols = _cols(xp, xpad, 0, cg, out, self.stride, self.dilation, self.kernel_size)
            y = ops.gemm(cols, w2, trans_b=True, bias=b).reshape((n,) + out + (self.out_channels,))
        else:
            y = xp.empty((n,) + out + (self.out_channels,), x5.dtype)
            y2 = y.reshape(-1, self.out_channels)
            for i in range(g):
                cols = _cols(xp, xpad, i * cg, (i + 1) * cg, out, self.stride, self.dilation, self.kernel_size)
                y2[:, i * ocg:(i + 1) * ocg] = ops.gemm(cols, w2[i * ocg:(i + 1) * ocg], trans_b=True,
                                                        bias=None if b is None else b[i * ocg:(i + 1) * ocg])
        self._cache = (xpad, how, batched, x5.shape, (n, self.out_channels) + out)
        y = xp.ascontiguousarray(y.transpose(0, 4, 1, 2, 3))
        return y if batched else y.reshape(y.shape[1:])

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx, as Conv2d's); adds into weight.grad and bias.grad."""
        _need_forward(self, self._cache)
        xpad, how, batched, x_shape, y_shape = self._cache
        dy5 = _dy_5d(self, dy, y_shape, batched)
        xp = ops.get_array_module(dy5)
        out, g = y_shape[2:], self.groups
        cg, ocg = self.in_channels // g, self.out_channels // g
        dyl = xp.ascontiguousarray(dy5.transpose(0, 2, 3, 4, 1)).reshape(-1, self.out_channels)
        w2 = self.weight.data.reshape(self.out_channels, -1)
        grad, beta = self.weight.accumulate()
        grad2 = grad.reshape(self.out_channels, -1)
        for i in range(g):
            cols = _cols(xp, xpad, i * cg, (i + 1) * cg, out, self.stride, self.dilation, self.kernel_size)
            ops.gemm(dyl[:, i * ocg:(i + 1) * ocg], cols, trans_a=True, out=grad2[i * ocg:(i + 1) * ocg], beta=beta)
        if self.bias is not None:
            _bias_grad(self.bias, dy5)
        if not need_dx:
            return None
        dxpad = xp.zeros(xpad.shape, xpad.dtype)
        for i in range(g):
            dcols = ops.gemm(xp.ascontiguousarray(dyl[:, i * ocg:(i + 1) * ocg]), w2[i * ocg:(i + 1) * ocg])
            _col2im(dxpad, i * cg, dcols, out, self.stride, self.dilation, self.kernel_size)
        kind, info = how
        if kind == "zeros":
            dx = dxpad[(slice(None), slice(None)) + tuple(slice(b, b + s) for s, (b, _) in zip(x_shape[2:], info))]
            dx = xp.ascontiguousarray(dx)
        else:  # each padded element's gradient added into its source (in float64)
            gsum = _as64(dxpad)
            for axis, idx, size in reversed(info):
                gsum = _gather_backward(gsum, axis, idx, size)
            dx = xp.ascontiguousarray(gsum).astype(dxpad.dtype, copy=False)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups, "bias": self.bias is not None,
                "padding_mode": self.padding_mode, "init": self.init}

    def extra_repr(self) -> str:
        return conv_extra_repr(self)


class ConvTranspose3d(Module):
    """3-D transposed convolution (the gradient of Conv3d with respect to its input),
    torch.nn.ConvTranspose3d.

    ``OD = (D - 1) SD - 2 PD + DD (KD - 1) + 1 + output_padding`` (H, W alike).

    Args (torch's order): in_channels, out_channels, kernel_size, stride, padding (ints or
        (d, h, w) triples), output_padding (each smaller than its stride or dilation, torch's
        rule), groups, bias, dilation; padding_mode must be "zeros" (torch's only mode for it);
        init as Conv3d's with torch's fan_in for this layout, out_channels / groups * KD * KH * KW.
    ``forward(x, output_size)``: output_size (OD, OH, OW) (or with the leading N, C / C of x's
    rank, as torch) picks the output_padding that gives it, for that call; each entry in
    [min, min + stride - 1], min the size with output_padding 0, or ValueError (torch's rule).
    Shape: (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW), or unbatched (C_in, D, H, W) ->
    (C_out, OD, OH, OW).
    Attributes: weight (C_in, C_out / groups, KD, KH, KW), bias (C_out,).
    """

    transposed = True  # torch's _ConvNd attribute

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", init: str = "default"):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.kernel_size = _triple("kernel_size", kernel_size)
        self.stride = _triple("stride", stride)
        if isinstance(padding, str):
            raise TypeError(f"padding must be an int or a (d, h, w) triple of ints (ConvTranspose3d takes no "
                            f"'same' / 'valid', as torch). Received: padding={padding!r}")
        self.padding = _triple("padding", padding, minimum=0)
        self.output_padding = _triple("output_padding", output_padding, minimum=0)
        self.dilation = _triple("dilation", dilation)
        self.groups = check_int("groups", groups)
        _check_groups(self.in_channels, self.out_channels, self.groups)
        for op_, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op_ >= max(s, d):
                raise ValueError(f"output_padding must be smaller than stride {self.stride} or dilation "
                                 f"{self.dilation}. Received: output_padding={output_padding!r}")
        if not isinstance(padding_mode, str) or padding_mode != "zeros":
            raise ValueError(f"ConvTranspose3d supports only padding_mode='zeros' (as torch). "
                             f"Received: padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        self.init = _check_init(init)
        self.weight = Parameter(np.zeros((self.in_channels, self.out_channels // self.groups) + self.kernel_size,
                                         np.float32))
        self.bias = Parameter(np.zeros(self.out_channels, np.float32)) if bias else None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        kd, kh, kw = self.kernel_size
        _init_weight_and_bias(self, self.out_channels // self.groups * kd * kh * kw)

    def _lowest(self, in_sizes):
        """The output sizes with output_padding 0."""
        return tuple((i - 1) * s - 2 * p + d * (k - 1) + 1 for i, k, s, p, d in
                     zip(in_sizes, self.kernel_size, self.stride, self.padding, self.dilation))

    def _output_padding(self, x, output_size):
        """The forward's output_padding: the layer's, or the one giving output_size."""
        return _transposed_output_padding(self, x, output_size)

    def __call__(self, x, output_size=None):
        """``layer(x)`` or ``layer(x, output_size)``, as torch's (the latter not recorded by summaries)."""
        return super().__call__(x) if output_size is None else super().__call__(x, output_size)

    def forward(self, x, output_size=None):
        x5, batched = _as_5d(self, x, self.in_channels, self.weight.data)
        xp = ops.get_array_module(x5)
        output_padding = self._output_padding(x, output_size)
        in_sizes = x5.shape[2:]
        out = tuple(lo + op_ for lo, op_ in zip(self._lowest(in_sizes), output_padding))
        if any(o <= 0 for o in out):
            raise ShapeError(f"ConvTranspose3d: an input of {tuple(in_sizes)} per channel gives an output of "
                             f"{out}, which must be positive (padding={self.padding} is too large)")
        n, g = x5.shape[0], self.groups
        cg, ocg = self.in_channels // g, self.out_channels // g
        full = tuple(o + 2 * p for o, p in zip(out, self.padding))  # the uncropped output
        xl = xp.ascontiguousarray(x5.transpose(0, 2, 3, 4, 1)).reshape(-1, self.in_channels)
        w2 = self.weight.data.reshape(self.in_channels, -1)
        ypad = xp.zeros((n, self.out_channels) + full, x5.dtype)
        for i in range(g):
            cols = ops.gemm(xp.ascontiguousarray(xl[:, i * cg:(i + 1) * cg]), w2[i * cg:(i + 1) * cg])
            _col2im(ypad, i * ocg, cols, in_sizes, self.stride, self.dilation, self.kernel_size)
        y = ypad[(slice(None), slice(None)) + tuple(slice(p, p + o) for p, o in zip(self.padding, out))]
        if self.bias is not None:
            y = y + self.bias.data.reshape(-1, 1, 1, 1)
        y = xp.ascontiguousarray(y)
        self._cache = (xl, batched, x5.shape, y.shape)
        return y if batched else y.reshape(y.shape[1:])

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """dx (None when not need_dx, as Conv2d's); adds into weight.grad and bias.grad."""
        _need_forward(self, self._cache)
        xl, batched, x_shape, y_shape = self._cache
        dy5 = _dy_5d(self, dy, y_shape, batched)
        xp = ops.get_array_module(dy5)
        in_sizes, g = x_shape[2:], self.groups
        cg, ocg = self.in_channels // g, self.out_channels // g
        full = tuple(o + 2 * p for o, p in zip(y_shape[2:], self.padding))
        if any(self.padding):
            dypad = xp.zeros(y_shape[:2] + full, dy5.dtype)
            dypad[(slice(None), slice(None)) + tuple(slice(p, p + o) for p, o in
                                                     zip(self.padding, y_shape[2:]))] = dy5
        else:
            dypad = xp.ascontiguousarray(dy5)
        w2 = self.weight.data.reshape(self.in_channels, -1)
        grad, beta = self.weight.accumulate()
        grad2 = grad.reshape(self.in_channels, -1)
        dxl = xp.empty((xl.shape[0], self.in_channels), dy5.dtype) if need_dx else None
        for i in range(g):
            cols = _cols(xp, dypad, i * ocg, (i + 1) * ocg, in_sizes, self.stride, self.dilation, self.kernel_size)
            ops.gemm(xl[:, i * cg:(i + 1) * cg], cols, trans_a=True, out=grad2[i * cg:(i + 1) * cg], beta=beta)
            if need_dx:
                dxl[:, i * cg:(i + 1) * cg] = ops.gemm(cols, w2[i * cg:(i + 1) * cg], trans_b=True)
        if self.bias is not None:
            _bias_grad(self.bias, dy5)
        if not need_dx:
            return None
        dx = xp.ascontiguousarray(dxl.reshape((x_shape[0],) + tuple(in_sizes) + (self.in_channels,))
                                  .transpose(0, 4, 1, 2, 3))
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding),
                "output_padding": list(self.output_padding), "groups": self.groups, "bias": self.bias is not None,
                "dilation": list(self.dilation), "padding_mode": self.padding_mode, "init": self.init}

    def extra_repr(self) -> str:
        return conv_extra_repr(self, output_padding=True)
