"""More of torch.nn's layers, with its semantics, arguments, state_dict names and reprs:
LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d, Fold, Unfold, Bilinear.

Written in array code with the array module of the input (``ops.get_array_module``: NumPy or
CuPy), as the layers of extra.py, with no native kernels of their own; Unfold and Fold run
fastnn's ``ops.im2col`` / ``ops.col2im`` (the same (N, C*KH*KW, L) layout as torch's) when the
dilation is 1, and gather the dilated windows by array code otherwise. Whatever sums (LPPool's
window sums and its gradient, Fold's forward, Unfold's backward, Bilinear's products and
every parameter gradient) is computed in float64 and rounded once to the input's dtype
(parameter gradients to the parameter's); what copies (Unfold's forward, Fold's backward,
MaxUnpool both ways) is exact.

MaxUnpool and Bilinear take several inputs: ``MaxUnpool2d(...)(x, indices, output_size=None)``
and ``Bilinear(...)(x1, x2)``; Bilinear's ``backward(dy)`` returns the tuple ``(dx1, dx2)`` (as the
two-input modules of loss_extra.py), MaxUnpool's returns dx alone (the indices get no
gradient). Neither fits in a ``Sequential``, which passes one input. Inputs are float32 or
float64 (torch's LPPool also takes integer inputs: fastnn raises TypeError). Dimension legend:
N C H W (L), KH KW, SH SW, PH PW, DH DW, OH OW (OL).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _device, ops
from . import init as _init
from .extra import _add_grad, _as64, _check_dy, _check_float_input
from .layers import ShapeError, _need_forward
from .layers1d import _single
from .module import Module, Parameter, as_given, check_bool, check_int, pair

__all__ = ["LPPool1d", "LPPool2d", "MaxUnpool1d", "MaxUnpool2d", "Fold", "Unfold", "Bilinear"]

F64 = np.float64


# --- shared helpers --------------------------------------------------------------------------

def _int_or_tuple(name: str, value, count: int, minimum: int = 1):
    """An int >= minimum, kept as an int, or a `count`-tuple (a list becomes a tuple) of them:
    the argument as torch's modules keep it (so the repr is torch's)."""
    if isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ValueError(f"{name} must be an int or a {count}-tuple of ints. Received: {name}={value!r}")
        for v in value:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must be an int or a {count}-tuple of ints. Received: {name}={value!r}")
            if v < minimum:
                raise ValueError(f"{name} must be >= {minimum}. Received: {name}={value!r}")
        return tuple(int(v) for v in value)
    return check_int(name, value, minimum)


def _expand(value, count: int) -> tuple:
    """An int or tuple argument as a `count`-tuple."""
    return tuple(value) if isinstance(value, tuple) else (value,) * count


def _as_json(value):
    return list(value) if isinstance(value, tuple) else value


def _as_tuple(value):
    return tuple(value) if isinstance(value, list) else value


def _tap_slices(kernel, stride, dilation, out):
    """(i, j, (rows, cols)) for every tap (i, j) of a 2-D window, in torch's row-major order:
    the strided slices of a (padded) plane that tap reads for all OH x OW outputs."""
    for i in range(kernel[0]):
        rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (out[0] - 1) + 1, stride[0])
        for j in range(kernel[1]):
            cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (out[1] - 1) + 1, stride[1])
            yield i, j, (Ellipsis, rows, cols)


def _sign(xp, a):
    """torch.sign (and sgn) of a real array: -1, 0 or 1, and 0 for NaN (not NumPy's NaN)."""
    return xp.where(a > 0, 1.0, 0.0) - xp.where(a < 0, 1.0, 0.0)


def _check_nonempty(layer, x, batch_axis: bool) -> None:
    """torch's rule for pooling and im2col inputs: only the batch axis may be empty."""
    rest = x.shape[1:] if batch_axis else x.shape
    if any(s == 0 for s in rest):
        raise ShapeError(f"{type(layer).__name__} expects an input whose non-batch axes are not empty "
                         f"(only the batch axis may be 0), got shape {tuple(x.shape)}")


# --- LPPool -----------------------------------------------------------------------------------

def _pool_size(size: int, k: int, s: int, ceil_mode: bool) -> tuple[int, int]:
    """(windows, extra cells past the input) along one axis, torch's pooling_output_shape with
    no padding: floor((size - k) / s) + 1, or with ceil_mode ceil(...) + 1 less one if the last
    window would start past the input; the last windows may then reach past it by < stride."""
    span = size - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size:
        out -= 1
    return out, max(0, (out - 1) * s + k - size)


def _norm_type_arg(norm_type):
    """An LPPool layer's power: a nonzero real (+-inf allowed), kept an int when given one (the repr
    is torch's)."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or math.isnan(norm_type):
        raise TypeError(f"norm_type must be a real number (inf allowed). Received: norm_type={norm_type!r}")
    if norm_type == 0:
        raise ValueError(f"norm_type must be nonzero (the result is a power 1 / norm_type). "
                         f"Received: norm_type={norm_type!r}")
    return as_given(norm_type)


class _LPPoolNd(Module):
    _spatial = 2

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = _norm_type_arg(norm_type)
        if self._spatial == 1:
            self.kernel_size = _single("kernel_size", kernel_size)
            self.stride = None if stride is None else _single("stride", stride)
        else:
            self.kernel_size = _int_or_tuple("kernel_size", kernel_size, 2)
            self.stride = None if stride is None else _int_or_tuple("stride", stride, 2)
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        self._cache = None

    # the geometry as 2-D pairs (a 1-D layer runs on (N, C, 1, L))
    def _pairs(self):
        if self._spatial == 1:
            k = (1, self.kernel_size)
            s = (1, self.kernel_size if self.stride is None else self.stride)
        else:
            k = _expand(self.kernel_size, 2)
            s = k if self.stride is None else _expand(self.stride, 2)
        return k, s

    def _as_4d(self, x):
        ndims = (2, 3) if self._spatial == 1 else (3, 4)
        _check_float_input(self, x, ndims)
        batched = x.ndim == ndims[1]
        _check_nonempty(self, x, batched)
        x4 = x if batched else x.reshape((1,) + x.shape)
        if self._spatial == 1:
            x4 = x4.reshape(x4.shape[:2] + (1, x4.shape[2]))
        return x4, batched

    def _geometry(self, x4_shape, x_shape):
        k, s = self._pairs()
        (oh, eh), (ow, ew) = (_pool_size(x4_shape[2], k[0], s[0], self.ceil_mode),
                              _pool_size(x4_shape[3], k[1], s[1], self.ceil_mode))
        if oh < 1 or ow < 1:
            size = x4_shape[3:] if self._spatial == 1 else x4_shape[2:]
            kernel = self.kernel_size
            raise ValueError(f"{type(self).__name__}: an input of spatial size {tuple(size)} gives an empty output "
                             f"with kernel_size={kernel!r}, stride={self.stride!r}, ceil_mode={self.ceil_mode} "
                             f"(input shape {tuple(x_shape)})")
        return k, s, (oh, ow), (eh, ew)

    def _out_shape(self, x_shape, out):
        if self._spatial == 1:
            return tuple(x_shape[:-1]) + (out[1],)
        return tuple(x_shape[:-2]) + out

    def forward(self, x):
        x4, _ = self._as_4d(x)
        xp = ops.get_array_module(x)
        k, s, out, extra = self._geometry(x4.shape, x.shape)
        n, c, h, w = x4.shape
        p = self.norm_type
        x64 = _as64(x4)
        with np.errstate(all="ignore"):
            if math.isinf(p):
                y, arg = self._max_forward(xp, x64, k, s, out, extra, negate=p < 0)
                self._cache = ("max", x.shape, x64, arg, k, s, out, extra)
            else:
                powered = x64 ** p
                if extra != (0, 0):
                    big = xp.zeros((n, c, h + extra[0], w + extra[1]), F64)
                    big[:, :, :h, :w] = powered
                    powered = big
                sums = None
                for _, _, sl in _tap_slices(k, s, (1, 1), out):
                    sums = powered[sl].copy() if sums is None else sums + powered[sl]
                # torch's avg_pool2d divisor (no padding): each window clipped to the input
                starts_h, starts_w = np.arange(out[0]) * s[0], np.arange(out[1]) * s[1]
                count = ((np.minimum(starts_h + k[0], h) - starts_h)[:, None] *
                         (np.minimum(starts_w + k[1], w) - starts_w)[None, :]).astype(F64)
                count = xp.asarray(count)
                mean = sums / count
                sign = _sign(xp, mean)
                relu = xp.maximum(xp.abs(mean), 0.0)  # NaN stays NaN, as torch's relu
                scaled = sign * relu * (k[0] * k[1])
                y = scaled ** (1.0 / p)
                self._cache = ("power", x.shape, x64, mean, sign, relu, scaled, count, k, s, out, extra)
        return y.reshape(self._out_shape(x.shape, out)).astype(x.dtype, copy=False)

    @staticmethod
    def _max_forward(xp, x64, k, s, out, extra, negate: bool):
        """max (min for -inf) of |x| over each window, and the tap chosen: torch's max_pool2d
        rule (the first largest; a NaN replaces the current choice, so the last NaN wins)."""
        n, c, h, w = x64.shape
        a = -xp.abs(x64) if negate else xp.abs(x64)
        if extra != (0, 0):  # the cells past the input never win
            big = xp.full((n, c, h + extra[0], w + extra[1]), -np.inf, F64)
            big[:, :, :h, :w] = a
            a = big
        best = arg = None
        for t, (_, _, sl) in enumerate(_tap_slices(k, s, (1, 1), out)):
            v = a[sl]
            if best is None:
                best, arg = v.copy(), xp.zeros(v.shape, np.int64)
                continue
            take = (v > best) | xp.isnan(v)
            best = xp.where(take, v, best)
            arg = xp.where(take, np.int64(t), arg)
        return (-best if negate else best), arg

    def backward(self, dy):
        _need_forward(self, self._cache)
        kind, x_shape, x64 = self._cache[:3]
        out, extra = self._cache[-2:]
        k, s = self._cache[-4:-2]
        _check_dy(self, dy, self._out_shape(x_shape, out))
        xp = ops.get_array_module(dy)
        n, c, h, w = x64.shape
        g = _as64(dy).reshape((n, c) + out)
        p = self.norm_type
        big_shape = (n, c, h + extra[0], w + extra[1])
        with np.errstate(all="ignore"):
            if kind == "max":
                arg = self._cache[3]
                gx = xp.zeros(big_shape, F64)
                for t, (_, _, sl) in enumerate(_tap_slices(k, s, (1, 1), out)):
                    gx[sl] += xp.where(arg == t, g, 0.0)
                # y = max |x| (or -max -|x|): the gradient reaches the chosen element times sgn(x)
                dx = gx[:, :, :h, :w] * _sign(xp, x64)
            else:
                mean, sign, relu, scaled, count = self._cache[3:8]
                e = 1.0 / p
                # torch's autograd of sign(m) * relu(|m|) * K, then ** (1 / p), step by step: the
                # pow backward is grad * (e * base ** (e - 1)), relu's passes where its result > 0
                # (NaN included), abs's multiplies by sgn(m), sign's gives nothing
                g = g * (e * scaled ** (e - 1.0))
                g = g * (k[0] * k[1]) * sign
                g = xp.where(relu <= 0, 0.0, g) * _sign(xp, mean)
                g = g / count
                gp = xp.zeros(big_shape, F64)
                for _, _, sl in _tap_slices(k, s, (1, 1), out):
                    gp[sl] += g
                dx = gp[:, :, :h, :w] * (p * x64 ** (p - 1))
        return xp.ascontiguousarray(dx).reshape(x_shape).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"norm_type": self.norm_type, "kernel_size": _as_json(self.kernel_size),
                "stride": _as_json(self.stride), "ceil_mode": self.ceil_mode}

    @classmethod
    def from_config(cls, config):
        return cls(config["norm_type"], _as_tuple(config["kernel_size"]), _as_tuple(config.get("stride")),
                   config.get("ceil_mode", False))

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool2d(_LPPoolNd):
    """Power-average pooling (torch.nn.LPPool2d): ``(sum over the window of x^p)^(1/p)``, computed
    as torch computes it: ``avg_pool2d(x^p)`` (no padding; the divisor of a ceil_mode window
    reaching past the input is its part inside the input), then
    ``(sign(a) * relu(|a|) * KH * KW) ** (1 / p)``; p = inf is the max of |x| over the window
    and p = -inf the min (torch's max_pool2d of |x|, with its choice of element: the first
    largest, the last NaN). The gradient is torch autograd's of that formula step by step: zero
    where the window's power-sum is zero (the docs' rule), and x^p's gradient ``p x^(p-1)``
    (NaN or inf where torch's is, e.g. p < 1 at x = 0). Computed in float64, rounded to the
    input's dtype. A negative x with a non-integer p, or a negative power-sum with an odd p,
    gives NaN, as torch.

    Args (torch's order): norm_type (p: a nonzero real number, or +-inf; p = 0, which torch
        takes and then fails on with ZeroDivisionError in forward, is a ValueError here),
        kernel_size (an int or (KH, KW)), stride (default kernel_size), ceil_mode (OH =
        ceil((H - KH) / SH) + 1, less one if the last window would start past the input).
        kernel_size and stride are kept as given (an int or a tuple; a list becomes a tuple),
        so the repr is torch's.
    Shape: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW); N may be 0.
    """

    _spatial = 2


class LPPool1d(_LPPoolNd):
    """Power-average pooling over windows of K elements (torch.nn.LPPool1d): LPPool2d's formula
    on an (N, C, 1, L) view, the window sum scaled by K (as torch).

    Args (torch's order): norm_type, kernel_size, stride (default kernel_size), ceil_mode, as
        LPPool2d's; kernel_size and stride are ints (a 1-tuple is taken as its int; torch's
        LPPool1d fails in forward on a tuple kernel_size).
    Shape: (N, C, L) -> (N, C, OL), or unbatched (C, L) -> (C, OL); N may be 0.
    """

    _spatial = 1


# --- MaxUnpool --------------------------------------------------------------------------------

class _MaxUnpoolNd(Module):
    _spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        if self._spatial == 1:
            self.kernel_size = (_single("kernel_size", kernel_size),)
            self.stride = self.kernel_size if stride is None else (_single("stride", stride),)
            self.padding = (_single("padding", padding, minimum=0),)
        else:
            self.kernel_size = pair("kernel_size", kernel_size)
            self.stride = self.kernel_size if stride is None else pair("stride", stride)
            self.padding = pair("padding", padding, minimum=0)
        self._cache = None

    def _output_size(self, x_shape, output_size):
        """torch's _unpool_output_size: (in - 1) * stride + kernel - 2 * padding per axis, or the
        output_size given (its last `spatial` entries when it has spatial + 2), each strictly
        within stride of that default."""
        d = self._spatial
        default = tuple((x_shape[-d + i] - 1) * self.stride[i] + self.kernel_size[i] - 2 * self.padding[i]
                        for i in range(d))
        if output_size is None:
            size = default
        else:
            if hasattr(output_size, "tolist") and not isinstance(output_size, (tuple, list)):
                output_size = output_size.tolist()
            if not isinstance(output_size, (tuple, list)) or not all(
                    isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in output_size):
                raise TypeError(f"{type(self).__name__}: output_size must be a sequence of ints. "
                                f"Received: output_size={output_size!r}")
            sizes = tuple(int(v) for v in output_size)
            if len(sizes) == d + 2:
                sizes = sizes[2:]
            if len(sizes) != d:
                raise ValueError(f"{type(self).__name__}: output_size should be a sequence containing {d} or "
                                 f"{d + 2} elements, but it has a length of {len(sizes)}. "
                                 f"Received: output_size={output_size!r}")
            for i in range(d):
                lo, hi = default[i] - self.stride[i], default[i] + self.stride[i]
                if not lo < sizes[i] < hi:
                    raise ValueError(f"{type(self).__name__}: invalid output_size {output_size!r} (dim {i} must be "
                                     f"between {lo} and {hi}, exclusive). Received: output_size={output_size!r}")
            size = sizes
        if min(size) < 1:
            raise ValueError(f"{type(self).__name__}: the output size {size} of an input of shape {tuple(x_shape)} "
                             f"is empty (kernel_size={self.kernel_size}, stride={self.stride}, "
                             f"padding={self.padding}, output_size={output_size!r})")
        return size

    def forward(self, x, indices, output_size=None):
        d = self._spatial
        _check_float_input(self, x, (d + 1, d + 2))
        batched = x.ndim == d + 2
        _check_nonempty(self, x, batched)
        if _device.device_of(indices) is None:
            raise TypeError(f"{type(self).__name__} expects indices as a numpy.ndarray or cupy.ndarray, "
                            f"got {type(indices).__name__}")
        if _device.device_of(indices) != _device.device_of(x):
            raise TypeError(f"{type(self).__name__}: indices are on {_device.device_of(indices)} but the input "
                            f"is on {_device.device_of(x)}")
        if indices.dtype != np.int64:
            raise TypeError(f"{type(self).__name__} expects int64 indices (as MaxPool's return_indices), "
                            f"got dtype {indices.dtype}")
        if tuple(indices.shape) != tuple(x.shape):
            raise ValueError(f"{type(self).__name__} expects indices of the input's shape {tuple(x.shape)}, "
                             f"got {tuple(indices.shape)}")
        size = self._output_size(x.shape, output_size)
        plane = int(np.prod(size))
        xp = ops.get_array_module(x)
        lead = tuple(x.shape[:-d])
        planes = int(np.prod(lead, dtype=np.int64))
        idx = indices.reshape(planes, int(np.prod(x.shape[-d:], dtype=np.int64)))
        bad = (idx < 0) | (idx >= plane)
        if bool(bad.any()):
            first = int(idx.reshape(-1)[int(xp.argmax(bad.reshape(-1)))])
            raise ValueError(f"{type(self).__name__}: found an invalid max index {first} (the output planes are of "
                             f"size {' x '.join(map(str, size))}: indices must be in [0, {plane}))")
        rows = xp.arange(planes).reshape(-1, 1)
        y = xp.zeros((planes, plane), x.dtype)
        y[rows, idx] = x.reshape(idx.shape)  # repeated indices: the last one written wins (NumPy)
        self._cache = (x.shape, rows, idx, lead + size)
        return y.reshape(lead + size)

    def backward(self, dy):
        _need_forward(self, self._cache)
        x_shape, rows, idx, y_shape = self._cache
        _check_dy(self, dy, y_shape)
        # torch's gradient: each input reads dy where it was written (every repeated index too)
        return dy.reshape(rows.shape[0], int(np.prod(y_shape[len(y_shape) - self._spatial:])))[rows, idx].reshape(
            x_shape)

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    @classmethod
    def from_config(cls, config):
        return cls(tuple(config["kernel_size"]), tuple(config["stride"]), tuple(config["padding"]))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d (torch.nn.MaxUnpool2d): ``forward(x, indices,
    output_size=None)`` puts each x[n, c, i, j] at position ``indices[n, c, i, j]`` (a flat
    ``h * OW + w`` in its output plane, as MaxPool2d(return_indices=True) returns them) of a
    zero (OH, OW) plane. ``backward(dy)`` returns dx (each input's dy at its index, as torch's;
    the indices get no gradient).

    The output size is ``(H - 1) * SH + KH - 2 * PH`` (and the same for W) or ``output_size``
    (2 ints, or 4 with (N, C) first, each strictly within the stride of that default, as
    torch's). An index outside [0, OH * OW) is a ValueError naming it (torch: RuntimeError).
    Repeated indices (MaxPool2d with stride < kernel): the last written wins on NumPy, as
    torch's CPU kernel (CuPy may write any; MaxPool's repeats carry the same value), and the
    backward gives each of them the gradient at its index, as torch. Index -1 (fastnn's
    MaxPool2d for a dilated window holding no input element) is invalid here.

    Args (torch's order): kernel_size, stride (default kernel_size), padding: ints or pairs,
        kept as pairs (torch's repr: ``kernel_size=(2, 2)``).
    Shape: x and indices (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW);
        indices int64; N may be 0.
    """

    _spatial = 2


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d (torch.nn.MaxUnpool1d): ``forward(x, indices,
    output_size=None)`` puts x[n, c, i] at position ``indices[n, c, i]`` (as MaxPool1d's
    return_indices) of a zero row of OL = ``(L - 1) * S + K - 2 * P`` (or ``output_size``: 1
    int, or 3 with (N, C) first, strictly within the stride of that default). MaxUnpool2d's
    rules otherwise.

    Args (torch's order): kernel_size, stride (default kernel_size), padding: ints (or
        1-tuples), kept as 1-tuples (torch's repr: ``kernel_size=(2,)``).
    Shape: x and indices (N, C, L) -> (N, C, OL), or unbatched (C, L) -> (C, OL); N may be 0.
    """

    _spatial = 1


# --- Fold / Unfold ----------------------------------------------------------------------------

class _FoldGeometry(Module):
    """kernel_size, dilation, padding, stride as given (int or pair) and their pairs."""

    def _set_geometry(self, kernel_size, dilation, padding, stride) -> None:
        self.kernel_size = _int_or_tuple("kernel_size", kernel_size, 2)
        self.dilation = _int_or_tuple("dilation", dilation, 2)
        self.padding = _int_or_tuple("padding", padding, 2, minimum=0)
        self.stride = _int_or_tuple("stride", stride, 2)
        self._cache = None

    def _pairs(self):
        return (_expand(self.kernel_size, 2), _expand(self.dilation, 2), _expand(self.padding, 2),
                _expand(self.stride, 2))

    def _blocks(self, size, what: str):
        """The (rows, columns) of sliding blocks over a plane of `size` (torch's formula), each >= 1."""
        k, d, p, s = self._pairs()
        blocks = tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
        if min(blocks) < 1:
            raise ValueError(f"{type(self).__name__}: {what} of spatial size {tuple(size)} with "
                             f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                             f"stride={self.stride} has {blocks} sliding blocks, but each count must be at least 1")
        return blocks

    def _im2col(self, x, blocks):
        """x (N, C, H, W) -> (N, C*KH*KW, L) in x's dtype (torch's unfold layout), a copy."""
        k, d, p, s = self._pairs()
        if d == (1, 1):
            return ops.im2col(x, k, s, p)
        xp = ops.get_array_module(x)
        n, c, h, w = x.shape
        padded = xp.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), x.dtype)
        padded[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
        cols = xp.empty((n, c, k[0], k[1]) + blocks, x.dtype)
        for i, j, sl in _tap_slices(k, s, d, blocks):
            cols[:, :, i, j] = padded[sl]
        return cols.reshape(n, c * k[0] * k[1], blocks[0] * blocks[1])

    def _col2im(self, cols, x_shape, blocks):
        """The adjoint of _im2col, in float64: each column entry added back where it was read
        (overlaps sum, padding dropped)."""
        k, d, p, s = self._pairs()
        cols = _as64(cols)
        if d == (1, 1):
            return ops.col2im(cols, x_shape, k, s, p)
        xp = ops.get_array_module(cols)
        n, c, h, w = x_shape
        padded = xp.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), F64)
        taps = cols.reshape((n, c, k[0], k[1]) + blocks)
        for i, j, sl in _tap_slices(k, s, d, blocks):
            padded[sl] += taps[:, :, i, j]
        return padded[:, :, p[0]:p[0] + h, p[1]:p[1] + w]

    def _geometry_config(self):
        return {"kernel_size": _as_json(self.kernel_size), "dilation": _as_json(self.dilation),
                "padding": _as_json(self.padding), "stride": _as_json(self.stride)}

    def _geometry_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Unfold(_FoldGeometry):
    """Sliding local blocks of a batched image as columns (torch.nn.Unfold, im2col):
    ``y[n, c*KH*KW + i*KW + j, l] = xpad[n, c, bh*SH + i*DH, bw*SW + j*DW]`` for block
    ``l = bh * BW + bw``, xpad the input zero-padded by PH / PW on each side; (BH, BW) =
    ``(H + 2 PH - DH (KH - 1) - 1) // SH + 1`` (and the same for W), each at least 1 (else a
    ValueError naming the arguments). The forward copies (exact); the backward is Fold's sum, in
    float64, rounded to dy's dtype.

    Args (torch's order): kernel_size, dilation=1, padding=0, stride=1: ints or pairs, kept as
        given (torch's repr).
    Shape: (N, C, H, W) -> (N, C*KH*KW, BH*BW), or unbatched (C, H, W) -> (C*KH*KW, BH*BW);
        N may be 0, C, H and W may not (torch's rule).
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self._set_geometry(kernel_size, dilation, padding, stride)

    def forward(self, x):
        _check_float_input(self, x, (3, 4))
        batched = x.ndim == 4
        _check_nonempty(self, x, batched)
        x4 = x if batched else x.reshape((1,) + x.shape)
        blocks = self._blocks(x4.shape[2:], "an input")
        y = self._im2col(x4, blocks)
        self._cache = (x.shape, x4.shape, blocks, y.shape)
        return y if batched else y.reshape(y.shape[1:])

    def backward(self, dy):
        _need_forward(self, self._cache)
        x_shape, x4_shape, blocks, y_shape = self._cache
        _check_dy(self, dy, y_shape if len(x_shape) == 4 else y_shape[1:])
        dx = self._col2im(dy.reshape(y_shape), x4_shape, blocks)
        return ops.get_array_module(dx).ascontiguousarray(dx).reshape(x_shape).astype(dy.dtype, copy=False)

    def get_config(self):
        return self._geometry_config()

    @classmethod
    def from_config(cls, config):
        return cls(**{key: _as_tuple(value) for key, value in config.items()})

    def extra_repr(self) -> str:
        return self._geometry_repr()


class Fold(_FoldGeometry):
    """Columns of sliding local blocks summed back into a batched image (torch.nn.Fold,
    col2im), Unfold's adjoint: each entry ``x[n, c*KH*KW + i*KW + j, l]`` is added at
    ``(bh*SH + i*DH - PH, bw*SW + j*DW - PW)`` of the (OH, OW) = output_size plane (overlapping
    blocks sum; entries landing in the padding are dropped). The input's L must be the number
    of blocks Unfold gives for an output_size image, and its C*KH*KW divisible by KH*KW (else
    a ValueError naming them). The forward sums in float64 and rounds to the input's dtype; the
    backward is Unfold's copy. Fold(Unfold(x)) is x times the number of blocks covering each
    position, as torch.

    Args (torch's order): output_size (an int or (OH, OW)), kernel_size, dilation=1,
        padding=0, stride=1: ints or pairs, kept as given (torch's repr).
    Shape: (N, C*KH*KW, L) -> (N, C, OH, OW), or unbatched (C*KH*KW, L) -> (C, OH, OW); N may
        be 0, the other axes may not (torch's rule).
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = _int_or_tuple("output_size", output_size, 2)
        self._set_geometry(kernel_size, dilation, padding, stride)

    def forward(self, x):
        _check_float_input(self, x, (2, 3))
        batched = x.ndim == 3
        _check_nonempty(self, x, batched)
        x3 = x if batched else x.reshape((1,) + x.shape)
        k = _expand(self.kernel_size, 2)
        size = _expand(self.output_size, 2)
        if x3.shape[1] % (k[0] * k[1]):
            raise ValueError(f"Fold expects the size of the input's axis {x.ndim - 2} to be divisible by the product "
                             f"of kernel_size={self.kernel_size} ({k[0] * k[1]}), got input shape {tuple(x.shape)}")
        blocks = self._blocks(size, "an output")
        if x3.shape[2] != blocks[0] * blocks[1]:
            raise ValueError(f"Fold: output_size={self.output_size}, kernel_size={self.kernel_size}, "
                             f"dilation={self.dilation}, padding={self.padding}, stride={self.stride} give "
                             f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]} sliding blocks, but the input's "
                             f"axis {x.ndim - 1} has {x3.shape[2]} (input shape {tuple(x.shape)})")
        y_shape = (x3.shape[0], x3.shape[1] // (k[0] * k[1])) + size
        y = self._col2im(x3, y_shape, blocks)
        self._cache = (x.shape, y_shape, blocks, batched)
        y = ops.get_array_module(y).ascontiguousarray(y).astype(x.dtype, copy=False)
        return y if batched else y.reshape(y.shape[1:])

    def backward(self, dy):
        _need_forward(self, self._cache)
        x_shape, y_shape, blocks, batched = self._cache
        _check_dy(self, dy, y_shape if batched else y_shape[1:])
        if dy.dtype not in (np.float32, np.float64):
            raise TypeError(f"Fold.backward expects a float32 or float64 dy, got dtype {dy.dtype}")
        dx = self._im2col(dy.reshape(y_shape), blocks)
        return dx.reshape(x_shape)

    def get_config(self):
        return {"output_size": _as_json(self.output_size), **self._geometry_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**{key: _as_tuple(value) for key, value in config.items()})

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, {self._geometry_repr()}"


# --- Bilinear ---------------------------------------------------------------------------------

class Bilinear(Module):
    """A bilinear map of two inputs (torch.nn.Bilinear): ``y[..., o] = sum_ij x1[..., i]
    weight[o, i, j] x2[..., j] + bias[o]``. ``forward(x1, x2)`` (or ``layer(x1, x2)``);
    ``backward(dy)`` returns the tuple ``(dx1, dx2)`` (as CosineSimilarity's and the multi-input
    losses') and adds into weight.grad and bias.grad. Computed in float64 and rounded to the
    input's dtype (parameter gradients to the parameter's).

    Args (torch's order): in1_features (>= 1, as torch), in2_features, out_features (>= 0, as
        torch), bias. weight (out_features, in1_features, in2_features) and bias
        (out_features,) start U(-1/sqrt(in1_features), 1/sqrt(in1_features)), torch's init, from
        fastnn's global RNG.
    Shape: x1 (*, in1_features) and x2 (*, in2_features) with the same leading axes (none:
        1-D inputs; a leading axis may be 0; no broadcasting, as torch) -> (*, out_features);
        x1 and x2 of the same dtype.
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in1_features = check_int("in1_features", in1_features)
        self.in2_features = check_int("in2_features", in2_features, minimum=0)
        self.out_features = check_int("out_features", out_features, minimum=0)
        self.weight = Parameter(np.zeros((self.out_features, self.in1_features, self.in2_features), np.float32))
        self.bias = Parameter(np.zeros(self.out_features, np.float32)) if check_bool("bias", bias) else None
        self.reset_parameters()
        self._cache = None

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in1_features)
        _init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            _init.uniform_(self.bias, -bound, bound)

    def _check(self, x1, x2):
        state = self.weight.data
        _check_float_input(self, x1, range(1, 33), state=state)
        _check_float_input(self, x2, range(1, 33), state=state)
        if x1.dtype != x2.dtype:
            raise TypeError(f"Bilinear expects x1 and x2 of the same dtype, got {x1.dtype} and {x2.dtype}")
        if x1.ndim != x2.ndim or x1.shape[:-1] != x2.shape[:-1]:
            raise ValueError(f"Bilinear expects x1 and x2 with the same leading axes (no broadcasting), got shapes "
                             f"{tuple(x1.shape)} and {tuple(x2.shape)}")
        if x1.shape[-1] != self.in1_features or x2.shape[-1] != self.in2_features:
            raise ValueError(f"Bilinear expects x1 (*, {self.in1_features}) and x2 (*, {self.in2_features}) "
                             f"(in1_features={self.in1_features}, in2_features={self.in2_features}), got shapes "
                             f"{tuple(x1.shape)} and {tuple(x2.shape)}")

    def forward(self, x1, x2):
        self._check(x1, x2)
        xp = ops.get_array_module(x1)
        lead = tuple(x1.shape[:-1])
        o, i, j = self.weight.shape
        rows = int(np.prod(lead, dtype=np.int64))
        a = _as64(x1).reshape(rows, i)
        b = _as64(x2).reshape(rows, j)
        w = _as64(self.weight.data)
        # t[n, o, j] = sum_i x1[n, i] w[o, i, j]; y[n, o] = sum_j t[n, o, j] x2[n, j]
        t = xp.matmul(a, xp.ascontiguousarray(w.transpose(1, 0, 2)).reshape(i, o * j)).reshape(rows, o, j)
        y = xp.matmul(t, b[:, :, None])[:, :, 0]
        if self.bias is not None:
            y = y + _as64(self.bias.data)
        self._cache = (a, b, t, lead, x1.dtype)
        return y.reshape(lead + (o,)).astype(x1.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        a, b, t, lead, dtype = self._cache
        o, i, j = self.weight.shape
        _check_dy(self, dy, lead + (o,))
        xp = ops.get_array_module(a)
        rows = a.shape[0]
        g = _as64(dy).reshape(rows, o)
        w = _as64(self.weight.data)
        # dx2[n, j] = sum_o dy[n, o] t[n, o, j]; dx1[n, i] = sum_oj dy[n, o] w[o, i, j] x2[n, j]
        dx2 = xp.matmul(g[:, None, :], t)[:, 0, :]
        u = xp.matmul(b, xp.ascontiguousarray(w.transpose(2, 0, 1)).reshape(j, o * i)).reshape(rows, o, i)
        dx1 = xp.matmul(g[:, None, :], u)[:, 0, :]
        outer = (a[:, :, None] * b[:, None, :]).reshape(rows, i * j)
        _add_grad(self.weight, xp.matmul(g.T, outer).reshape(o, i, j))
        if self.bias is not None:
            _add_grad(self.bias, g.sum(axis=0))
        return (dx1.reshape(lead + (i,)).astype(dy.dtype, copy=False),
                dx2.reshape(lead + (j,)).astype(dy.dtype, copy=False))

    def get_config(self):
        return {"in1_features": self.in1_features, "in2_features": self.in2_features,
                "out_features": self.out_features, "bias": self.bias is not None}

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
