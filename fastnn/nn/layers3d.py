"""torch.nn's 3-D layers, with its semantics, arguments, state_dict names and reprs:
BatchNorm3d, InstanceNorm3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d and
the zero / constant / reflection / replication / circular pads of the last three axes.

BatchNorm3d runs the batch-norm kernel of ``fastnn.ops`` (native or CUDA) on an
(N, C, D * H, W) view of the (N, C, D, H, W) input (the statistics are per channel over every
other axis, so the view changes nothing); InstanceNorm3d and the pads are InstanceNorm2d's and
the 2-D pads' code (layers1d.py) over one more axis. The poolings are array code in the array
module of the input (NumPy or CuPy): a loop over the K = KD * KH * KW taps of the window (each
a strided slice of the padded input, never a loop over N, C or the output), or for the adaptive
ones a loop over the output cells of one axis at a time. Max pooling takes, as torch's CPU
kernel, the first maximum in (d, h, w) order and a NaN wins (the last NaN); its backward adds
each dy into the input element of its index. The average poolings sum in float64 and round once
to the input's dtype, their backwards spread dy / divisor in float64 and round once.
Dimension legend: N C D H W, KD KH KW, SD SH SW, PD PH PW, OD OH OW.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from .adaptive import _bounds, _quiet
from .extra import _as64, _check_dy, _check_float_input
from .layers import _BatchNorm, _need_forward
from .layers1d import ConstantPad1d, _InstanceNorm, _Pad
from .module import Module, check_bool, check_int

__all__ = [
    "BatchNorm3d", "InstanceNorm3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
    "ZeroPad3d", "ConstantPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d",
]

F64 = np.float64


# --- normalisation ---------------------------------------------------------------------------

class BatchNorm3d(_BatchNorm):
    """Batch normalization per channel over N, D, H and W (torch.nn.BatchNorm3d); see BatchNorm1d
    for the arguments (num_features, eps, momentum (None: cumulative average), affine,
    track_running_stats, keyword bias) and buffers (running_mean, running_var,
    num_batches_tracked). Shape: (N, C, D, H, W), unchanged (a 5-D input only, as torch)."""

    _ndims = (5,)

    def _as_kernel_input(self, x):
        # per channel over N, D, H, W: the kernel's (N, C, H, W) with H = D * H
        return x.reshape(x.shape[:2] + (x.shape[2] * x.shape[3], x.shape[4]))

    def forward(self, x):
        if getattr(x, "ndim", None) == 5 and x.size and x.size // x.shape[1] <= 1 and (
                self.training or not self.track_running_stats):
            raise ValueError(f"BatchNorm3d in training needs more than one value per channel (N*D*H*W > 1), "
                             f"got input shape {x.shape}")
        return super().forward(x)

    def backward(self, dy):
        _need_forward(self, self._cache)
        _check_dy(self, dy, self._cache[-1] if self._cache[0] is not None else self._cache[1])
        return super().backward(dy)

    def extra_repr(self) -> str:  # torch's
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={getattr(self, 'bias', None) is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm3d(_InstanceNorm):
    """InstanceNorm1d over each (D, H, W) volume (torch.nn.InstanceNorm3d); same arguments
    (num_features, eps, momentum (None: momentum 0, as torch), affine, track_running_stats,
    keyword bias). Shape: (N, C, D, H, W) or (C, D, H, W), unchanged."""
    _spatial = 3


# --- pads ------------------------------------------------------------------------------------

_PAD6_RULE = "an int or a 6-tuple (left, right, top, bottom, front, back) of ints"


def _check_pad6(padding):
    if isinstance(padding, (tuple, list)):
        if len(padding) != 6 or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool)
                                        for p in padding):
            raise ValueError(f"padding must be {_PAD6_RULE}. Received: padding={padding!r}")
    elif isinstance(padding, bool) or not isinstance(padding, numbers.Integral):
        raise TypeError(f"padding must be {_PAD6_RULE}. Received: padding={padding!r}")


class _Pad3d(_Pad):
    """Pads the last 3 axes: padding in torch's order (left, right, top, bottom, front, back)."""
    _axes = 3

    def __init__(self, padding, value: float = 0.0):
        _check_pad6(padding)
        super().__init__(padding, value)


class ReflectionPad3d(_Pad3d):
    """ReflectionPad1d over the last three axes (torch.nn.ReflectionPad3d): padding an int or
    (left, right, top, bottom, front, back), each smaller than its axis.
    Shape: (N, C, D, H, W) or (C, D, H, W)."""
    _mode = "reflect"


class ReplicationPad3d(_Pad3d):
    """ReplicationPad1d over the last three axes (torch.nn.ReplicationPad3d): padding an int or a
    6-tuple. Shape: (N, C, D, H, W) or (C, D, H, W)."""
    _mode = "replicate"


class CircularPad3d(_Pad3d):
    """CircularPad1d over the last three axes (torch.nn.CircularPad3d): padding an int or a
    6-tuple, each at most its axis' size. Shape: (N, C, D, H, W) or (C, D, H, W)."""
    _mode = "circular"


class ConstantPad3d(_Pad3d):
    """Pad the last three axes with ``value`` (torch.nn.ConstantPad3d): padding an int or
    (left, right, top, bottom, front, back); a negative amount crops that side.
    Shape: any input of >= 3 dimensions, (..., D, H, W), as torch's (fewer: a ShapeError)."""

    def __init__(self, padding, value: float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"value must be a real number. Received: value={value!r}")
        super().__init__(padding, value)

    get_config = ConstantPad1d.get_config
    extra_repr = ConstantPad1d.extra_repr


class ZeroPad3d(ConstantPad3d):
    """ConstantPad3d with value 0 (torch.nn.ZeroPad3d)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def get_config(self):
        return {"padding": list(self.padding)}

    def extra_repr(self) -> str:
        return f"{self.padding}"


# --- pooling ---------------------------------------------------------------------------------

def _triple(name: str, value, minimum: int = 1):
    """An int >= minimum, or a 3-tuple / 3-list of them; kept as given (an int, or a tuple) for
    the repr, as torch keeps its arguments."""
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise ValueError(f"{name} must be an int or a 3-tuple (d, h, w). Received: {name}={value!r}")
        return tuple(check_int(name, v, minimum) for v in value)
    return check_int(name, value, minimum)


def _three(value) -> tuple:
    return value if isinstance(value, tuple) else (value,) * 3


def _config_value(value):
    return list(value) if isinstance(value, tuple) else value


def _as_5d(layer, x):
    """(x as (N, C, D, H, W), batched): a 4-D (C, D, H, W) input is one unbatched sample."""
    _check_float_input(layer, x, (4, 5))
    if 0 in x.shape[-4:]:
        raise ValueError(f"{type(layer).__name__} expects non-empty non-batch dimensions (C, D, H, W >= 1), "
                         f"got input shape {x.shape}")
    return (x if x.ndim == 5 else x.reshape((1,) + x.shape)), x.ndim == 5


def _dy_5d(layer, dy, y_shape, batched: bool):
    _check_dy(layer, dy, y_shape if batched else y_shape[1:])
    return dy if batched else dy.reshape(y_shape)


def _pool_out(layer, size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's pooling output length (ceil_mode: the last window starts inside the input or the
    left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    # torch's max pooling in ceil_mode keeps one window over an axis shorter than the window (size
    # 2, kernel 3); its average pooling refuses that input
    if out < 1 or (span < 0 and not (ceil_mode and getattr(layer, "_ceil_keeps_short_axis", False))):
        raise ValueError(f"{type(layer).__name__}: an axis of size {size} (padding {p}) is smaller than the "
                         f"window (kernel {k}, dilation {d}): the output would be empty")
    return out


def _scatter_max_grad(dy5, indices, x_shape):
    """dx (x_shape, float64) with each dy added into the element of its plane index (-1: none)."""
    xp = ops.get_array_module(dy5)
    n, c = x_shape[:2]
    plane = int(np.prod(x_shape[2:], dtype=np.int64))
    outs = int(np.prod(indices.shape[2:], dtype=np.int64))
    idx = indices.reshape(n * c, outs)
    flat = idx + (xp.arange(n * c, dtype=np.int64) * plane)[:, None]
    g = _as64(dy5).reshape(n * c, outs)
    keep = idx >= 0
    dx = xp.bincount(flat[keep], weights=g[keep], minlength=n * c * plane)
    return dx.reshape(x_shape)


class _Pool3d(Module):
    def __init__(self, kernel_size, stride, padding, ceil_mode):
        super().__init__()
        self.kernel_size = _triple("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _triple("stride", stride)
        self.padding = _triple("padding", padding, minimum=0)
        for p, k in zip(_three(self.padding), _three(self.kernel_size)):
            if p > k // 2:
                raise ValueError(f"padding must be at most half the kernel size {self.kernel_size}. "
                                 f"Received: padding={padding!r}")
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        self._cache = None

    @classmethod
    def from_config(cls, config):  # the triples are saved as lists
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})

    def _geometry(self, shape, dilation=(1, 1, 1)):
        """Per spatial axis (size, k, s, p, d, out, right padding the taps reach past the input)."""
        axes = []
        for size, k, s, p, d in zip(shape[2:], _three(self.kernel_size), _three(self.stride), _three(self.padding),
                                    dilation):
            out = _pool_out(self, size, k, s, p, d, self.ceil_mode)
            right = max(0, (out - 1) * s + d * (k - 1) + 1 - size - p)
            axes.append((size, k, s, p, d, out, right))
        return axes

    @staticmethod
    def _taps(axes):
        """For each tap (a, b, c): the slices of the padded input it reads for every output."""
        for a in range(axes[0][1]):
            for b in range(axes[1][1]):
                for c in range(axes[2][1]):
                    yield (a, b, c), (slice(None), slice(None)) + tuple(
                        slice(t * d, t * d + s * (out - 1) + 1, s)
                        for t, (size, k, s, p, d, out, right) in zip((a, b, c), axes))

    @staticmethod
    def _padded(x5, axes, fill, dtype):
        xp = ops.get_array_module(x5)
        n, c = x5.shape[:2]
        xpad = xp.full((n, c) + tuple(size + p + right for size, k, s, p, d, out, right in axes), fill, dtype)
        xpad[(slice(None), slice(None)) + tuple(slice(p, p + size) for size, k, s, p, d, out, right in axes)] = x5
        return xpad


class MaxPool3d(_Pool3d):
    """Max over each KD x KH x KW window of taps D apart (torch.nn.MaxPool3d; padding counts as
    -inf, NaN wins, ties go to the first maximum in (d, h, w) order).

    Args (torch's order): kernel_size, stride (default kernel_size), padding (at most
    kernel_size // 2), dilation, return_indices (forward returns (y, indices), the int64
    positions ``(d * H + h) * W + w`` of the maxima in each input volume; -1 for a dilated window
    whose taps all miss the input, value -inf and no gradient, where torch's index is garbage),
    ceil_mode (as MaxPool2d's); each an int or a (d, h, w) triple.
    Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched (C, D, H, W) -> (C, OD, OH, OW).
    """

    _ceil_keeps_short_axis = True

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = _triple("dilation", dilation)
        self.return_indices = check_bool("return_indices", return_indices)

    def forward(self, x):
        x5, batched = _as_5d(self, x)
        xp = ops.get_array_module(x5)
        axes = self._geometry(x5.shape, _three(self.dilation))
        (dd, kd, sd, pd, ddl, od, _), (hh, kh, sh, ph, dh, oh, _), (ww, kw, sw, pw, dw, ow, _) = axes
        xpad = self._padded(x5, axes, -np.inf, x5.dtype)
        n, c = x5.shape[:2]
        best = xp.full((n, c, od, oh, ow), -np.inf, x5.dtype)
        indices = xp.full((n, c, od, oh, ow), -1, np.int64)
        with _quiet():
            for (a, b, t), sl in self._taps(axes):
                pos_d = np.arange(od) * sd - pd + a * ddl
                pos_h = np.arange(oh) * sh - ph + b * dh
                pos_w = np.arange(ow) * sw - pw + t * dw
                flat = (pos_d[:, None, None] * hh + pos_h[None, :, None]) * ww + pos_w[None, None, :]
                valid = (((pos_d >= 0) & (pos_d < dd))[:, None, None] & ((pos_h >= 0) & (pos_h < hh))[None, :, None]
                         & ((pos_w >= 0) & (pos_w < ww))[None, None, :])
                v = xpad[sl]
                # torch's rule: a larger value or a NaN replaces the max; the first tap inside the
                # input starts it (so a window of -inf picks its first element)
                take = (v > best) | (v != v) | ((indices < 0) & xp.asarray(valid))
                best = xp.where(take, v, best)
                indices = xp.where(take, xp.asarray(flat), indices)
        self._cache = (batched, x5.shape, indices)
        y = best if batched else best.reshape(best.shape[1:])
        if self.return_indices:
            return y, (indices.copy() if batched else indices.reshape(indices.shape[1:]))
        return y

    def backward(self, dy):
        _need_forward(self, self._cache)
        batched, x_shape, indices = self._cache
        dy5 = _dy_5d(self, dy, indices.shape, batched)
        dx = _scatter_max_grad(dy5, indices, x_shape).astype(dy.dtype, copy=False)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"kernel_size": _config_value(self.kernel_size), "stride": _config_value(self.stride),
                "padding": _config_value(self.padding), "dilation": _config_value(self.dilation),
                "return_indices": self.return_indices, "ceil_mode": self.ceil_mode}

    def extra_repr(self) -> str:  # torch's
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool3d(_Pool3d):
    """Mean over each KD x KH x KW window (torch.nn.AvgPool3d).

    Args (torch's order): kernel_size, stride (default kernel_size), padding (at most
    kernel_size // 2), ceil_mode (as MaxPool3d's; a window reaching past the padded input
    divides by its part inside it), count_include_pad (divide by the window size including the
    zero padding, torch's default; else by the elements of the input it covers),
    divisor_override (a nonzero int dividing every window's sum instead).
    Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched (C, D, H, W) -> (C, OD, OH, OW).
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = check_bool("count_include_pad", count_include_pad)
        if divisor_override is not None and (isinstance(divisor_override, bool) or
                                             not isinstance(divisor_override, numbers.Integral) or
                                             divisor_override == 0):
            raise ValueError(f"divisor_override must be a nonzero int or None. "
                             f"Received: divisor_override={divisor_override!r}")
        self.divisor_override = None if divisor_override is None else int(divisor_override)

    def _divisor(self, axes, xp):
        """(OD, OH, OW) float64 divisors: torch's pool size (the window clipped to the padded
        input) or, without count_include_pad, the number of input elements in it."""
        if self.divisor_override is not None:
            return float(self.divisor_override)
        lengths = []
        for size, k, s, p, d, out, right in axes:
            start = np.arange(out) * s - p
            end = np.minimum(start + k, size + p)
            if self.count_include_pad:
                lengths.append((end - start).astype(F64))
            else:
                lengths.append((np.minimum(end, size) - np.maximum(start, 0)).astype(F64))
        return xp.asarray(lengths[0][:, None, None] * lengths[1][None, :, None] * lengths[2][None, None, :])

    def forward(self, x):
        x5, batched = _as_5d(self, x)
        xp = ops.get_array_module(x5)
        axes = self._geometry(x5.shape)
        xpad = self._padded(_as64(x5), axes, 0.0, F64)
        total = None
        with _quiet():
            for _, sl in self._taps(axes):
                total = xpad[sl].copy() if total is None else total + xpad[sl]
            divisor = self._divisor(axes, xp)
            y = (total / divisor).astype(x5.dtype)
        self._cache = (batched, x5.shape, y.shape, axes, divisor)
        return y if batched else y.reshape(y.shape[1:])

    def backward(self, dy):
        _need_forward(self, self._cache)
        batched, x_shape, y_shape, axes, divisor = self._cache
        dy5 = _dy_5d(self, dy, y_shape, batched)
        xp = ops.get_array_module(dy5)
        with _quiet():
            g = _as64(dy5) / divisor
            dxpad = xp.zeros(x_shape[:2] + tuple(size + p + right for size, k, s, p, d, out, right in axes), F64)
            for _, sl in self._taps(axes):
                dxpad[sl] += g
        dx = dxpad[(slice(None), slice(None)) + tuple(slice(p, p + size) for size, k, s, p, d, out, right in axes)]
        dx = xp.ascontiguousarray(dx).astype(dy.dtype, copy=False)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {"kernel_size": _config_value(self.kernel_size), "stride": _config_value(self.stride),
                "padding": _config_value(self.padding), "ceil_mode": self.ceil_mode,
                "count_include_pad": self.count_include_pad, "divisor_override": self.divisor_override}

    def extra_repr(self) -> str:  # torch's
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


_OUTPUT_SIZE3_RULE = "output_size must be a positive int or a 3-tuple (d, h, w) of positive ints or None"


def _check_output_size3(output_size):
    def entry(v, none_ok):
        if v is None and none_ok:
            return None
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{_OUTPUT_SIZE3_RULE}. Received: output_size={output_size!r}")
        if v < 1:
            raise ValueError(f"{_OUTPUT_SIZE3_RULE}. Received: output_size={output_size!r}")
        return int(v)

    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 3:
            raise ValueError(f"{_OUTPUT_SIZE3_RULE}. Received: output_size={output_size!r}")
        return tuple(entry(v, True) for v in output_size)
    return entry(output_size, False)


class _AdaptivePool3d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = _check_output_size3(output_size)
        self._cache = None

    def _out(self, shape):
        return tuple(size if o is None else o for size, o in zip(shape[2:], _three(self.output_size)))

    def get_config(self):
        return {"output_size": _config_value(self.output_size)}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})

    def extra_repr(self) -> str:  # torch's
        return f"output_size={self.output_size}"


def _along(axis: int, index):
    return (slice(None),) * axis + (index,)


class AdaptiveAvgPool3d(_AdaptivePool3d):
    """Mean over adaptive windows giving a fixed output size (torch.nn.AdaptiveAvgPool3d): along
    each axis of length L pooled to O cells, cell i covers ``[floor(i * L / O), ceil((i + 1) * L / O))``
    (AdaptiveAvgPool2d's rule). Args: output_size: an int or a triple (OD, OH, OW); None as an
    entry keeps that axis' size. Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched
    (C, D, H, W) -> (C, OD, OH, OW). Computed in float64 (the mean over each axis in turn),
    rounded once."""

    def forward(self, x):
        x5, batched = _as_5d(self, x)
        xp = ops.get_array_module(x5)
        outs = self._out(x5.shape)
        a = _as64(x5)
        with _quiet():
            for axis, out in zip((2, 3, 4), outs):
                shape = list(a.shape)
                shape[axis] = out
                res = xp.empty(tuple(shape), F64)
                for i, (s, e) in enumerate(_bounds(a.shape[axis], out)):
                    res[_along(axis, i)] = a[_along(axis, slice(s, e))].sum(axis=axis) / (e - s)
                a = res
        y = a.astype(x5.dtype)
        self._cache = (batched, x5.shape, y.shape)
        return y if batched else y.reshape(y.shape[1:])

    def backward(self, dy):
        _need_forward(self, self._cache)
        batched, x_shape, y_shape = self._cache
        dy5 = _dy_5d(self, dy, y_shape, batched)
        xp = ops.get_array_module(dy5)
        g = _as64(dy5)
        with _quiet():
            for axis in (4, 3, 2):
                shape = list(g.shape)
                shape[axis] = x_shape[axis]
                spread = xp.zeros(tuple(shape), F64)
                for i, (s, e) in enumerate(_bounds(x_shape[axis], y_shape[axis])):
                    spread[_along(axis, slice(s, e))] += g[_along(axis, slice(i, i + 1))] / (e - s)
                g = spread
        dx = g.astype(dy.dtype)
        return dx if batched else dx.reshape(dx.shape[1:])


def _max_stage(a, axis: int, out: int, has_nan: bool):
    """(max, absolute argmax) of a over the adaptive windows of one axis: the first maximum, or
    where a window holds a NaN, NaN and its last NaN (torch's rule)."""
    xp = ops.get_array_module(a)
    shape = list(a.shape)
    shape[axis] = out
    val = xp.empty(tuple(shape), a.dtype)
    arg = xp.empty(tuple(shape), np.int64)
    for i, (s, e) in enumerate(_bounds(a.shape[axis], out)):
        win = a[_along(axis, slice(s, e))]
        v = win.max(axis=axis)
        w = win.argmax(axis=axis)
        if has_nan:
            last = (e - s - 1) - xp.flip(win != win, axis=axis).argmax(axis=axis)
            w = xp.where(v != v, last, w)
        val[_along(axis, i)] = v
        arg[_along(axis, i)] = w + s
    return val, arg


class AdaptiveMaxPool3d(_AdaptivePool3d):
    """Max over adaptive windows (torch.nn.AdaptiveMaxPool3d), windows as AdaptiveAvgPool3d's;
    ties go to the first maximum in (d, h, w) order, a NaN wins (the last NaN).
    return_indices: forward returns (y, indices), int64 positions ``(d * H + h) * W + w`` in each
    input volume. Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched (C, D, H, W) ->
    (C, OD, OH, OW). Backward adds each dy into its argmax (overlapping windows add up)."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = check_bool("return_indices", return_indices)

    def forward(self, x):
        x5, batched = _as_5d(self, x)
        xp = ops.get_array_module(x5)
        od, oh, ow = self._out(x5.shape)
        _, _, d, h, w = x5.shape
        has_nan = bool((x5 != x5).any())
        with _quiet():
            # along W, then H, then D: the first maximum in (d, h, w) order
            v, aw = _max_stage(x5, 4, ow, has_nan)
            v, ah = _max_stage(v, 3, oh, has_nan)
            aw = xp.take_along_axis(aw, ah, axis=3)
            y, ad = _max_stage(v, 2, od, has_nan)
            ah = xp.take_along_axis(ah, ad, axis=2)
            aw = xp.take_along_axis(aw, ad, axis=2)
        indices = (ad * h + ah) * w + aw
        self._cache = (batched, x5.shape, indices)
        if not batched:
            y, out_indices = y.reshape(y.shape[1:]), indices.reshape(indices.shape[1:])
        else:
            out_indices = indices.copy()
        return (y, out_indices) if self.return_indices else y

    def backward(self, dy):
        _need_forward(self, self._cache)
        batched, x_shape, indices = self._cache
        dy5 = _dy_5d(self, dy, indices.shape, batched)
        dx = _scatter_max_grad(dy5, indices, x_shape).astype(dy.dtype, copy=False)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        return {**super().get_config(), "return_indices": self.return_indices}
