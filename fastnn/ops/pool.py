"""2-D pooling (NCHW, PyTorch semantics): max, average and global average, forward and backward.

Legend: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2*PH - KH) // SH + 1. ``kernel_size``,
``stride`` (None = kernel_size) and ``padding`` are an int or an (h, w) pair; padding must be at
most half the kernel (PyTorch's rule) and H, W >= 1. float32 or float64; results in the
input's dtype; max-pool indices are int64 positions ``h * W + w`` within the input plane.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._dispatch import backend, check_float, contiguous, empty, get_array_module
from .conv import _check_4d, _output_hw, _x_shape
from .shapes import pair

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


_MAX_WINDOW = 2**31 - 1  # the max-pool kernel records window offsets in 32 bits


def _pool_args(x_shape, kernel_size, stride, padding, check_size: bool = True, ceil_mode: bool = False):
    """Normalised (kernel, stride, padding) pairs and (OH, OW) (None without check_size: the
    caller sizes the output itself), every rule checked. With ceil_mode, (OH, OW) is ceil
    mode's: the kernel may then pass the padded input by less than the stride (H = 1, kernel
    2, stride 2 gives one window, PyTorch's formula), so the floor-mode size check would refuse
    valid layers."""
    k = pair(kernel_size, "kernel_size")
    s = pair(kernel_size if stride is None else stride, "stride")
    p = pair(padding, "padding")
    if min(k) >= 1 and k[0] * k[1] > _MAX_WINDOW:  # (exact here; the native check multiplies in int64, which can wrap)
        raise ValueError(f"pooling kernel_size {k} has {k[0] * k[1]} elements, more than 2^31 - 1")
    if not check_size and (min(k) < 1 or min(s) < 1 or min(p) < 0):
        raise ValueError(f"pooling needs kernel_size >= 1, stride >= 1 and padding >= 0: got kernel_size {k}, "
                         f"stride {s}, padding {p}")
    if min(k) >= 1 and min(p) >= 0 and (p[0] > k[0] // 2 or p[1] > k[1] // 2):
        raise ValueError(f"padding must be at most half the kernel size: got padding {p} for kernel_size {k}")
    if x_shape[2] < 1 or x_shape[3] < 1:
        raise ValueError(f"pooling needs non-empty spatial dimensions, got shape {tuple(x_shape)}")
    if check_size and ceil_mode:
        if min(k) < 1 or min(s) < 1 or min(p) < 0:
            raise ValueError(f"pooling needs kernel_size >= 1, stride >= 1 and padding >= 0: got kernel_size {k}, "
                             f"stride {s}, padding {p}")
        out_hw = _ceil_args(x_shape, k, s, p)[0]
        if min(out_hw) < 1:
            raise ValueError(f"pooling output would be empty (ceil_mode): input {tuple(x_shape[2:])}, kernel_size "
                             f"{k}, stride {s}, padding {p} (the kernel may pass the padded input by less than "
                             f"the stride)")
        return k, s, p, out_hw
    return k, s, p, (_output_hw(x_shape[2], x_shape[3], k, s, p) if check_size else None)


def _ceil_extension(size: int, k: int, s: int, p: int) -> tuple[int, int]:
    """(output length, extra cells at the end) of ceil mode along one axis (PyTorch's rule):
    ceil((size + 2p - k) / s) + 1 windows, less one if the last would start past size + p (in
    the right padding only). The extra cells extend the input so that floor mode over it gives
    that many windows."""
    out = -(-(size + 2 * p - k) // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out, max(0, (out - 1) * s + k - (size + 2 * p))


def _ceil_args(x_shape, k, s, p):
    """(OH, OW), (extra rows, extra columns) of ceil mode."""
    (oh, eh), (ow, ew) = (_ceil_extension(x_shape[2], k[0], s[0], p[0]),
                          _ceil_extension(x_shape[3], k[1], s[1], p[1]))
    return (oh, ow), (eh, ew)


def _extend(x, extra, fill):
    """x with `extra` (rows, columns) of `fill` appended at the bottom / right of each plane."""
    n, c, h, w = x.shape
    big = get_array_module(x).full((n, c, h + extra[0], w + extra[1]), fill, x.dtype)
    big[:, :, :h, :w] = x
    return big


def _avg_divisor_scale(x_shape, k, s, p, out_hw, count_include_pad, xp, dtype):
    """KH*KW / divisor per output position (OH, OW) for ceil mode, PyTorch's divisor: the window
    clipped to the padded input (count_include_pad) or to the real input (otherwise)."""
    def axis(size, k_, s_, p_, out):
        start = np.arange(out) * s_ - p_
        end = np.minimum(start + k_, size + p_)
        if count_include_pad:
            return end - start
        return np.minimum(end, size) - np.maximum(start, 0)

    dh = axis(x_shape[2], k[0], s[0], p[0], out_hw[0])
    dw = axis(x_shape[3], k[1], s[1], p[1], out_hw[1])
    scale = (k[0] * k[1]) / (dh[:, None] * dw[None, :]).astype(np.float64)
    return xp.asarray(scale.astype(dtype))


def _pool_input(x, op: str):
    check_float(x, "x")
    _check_4d(x, "x")
    return contiguous(x)


def _grad_input(dy, op: str):
    check_float(dy, "dy")
    return contiguous(dy)


def _dilation(dilation):
    d = pair(dilation, "dilation")
    if min(d) < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation!r}")
    return d


def _dilated_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Windows along one axis for taps d apart (PyTorch's formula, ceil_mode's rule as above:
    the window may then pass the padded input by less than the stride)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = 0
    if s >= 1:
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + p:
            out -= 1
    if out < 1:
        raise ValueError(f"max pooling output would be empty: size {size}, kernel_size {k}, stride {s}, "
                         f"padding {p}, dilation {d}{', ceil_mode' if ceil_mode else ''}")
    return out


def _dilated_max_pool(x, k, s, p, d, ceil_mode):
    """max_pool2d_forward with dilation d != 1: the windows' taps gathered by a strided view of x
    padded with -inf, then the native kernel's choice: the first largest real element, the last
    NaN if the window has one, the first real element of an all -inf window.

    A dilated window can step over the whole input (H = 2, kernel 2, padding 1, dilation 3: taps
    at rows -1 and 2): it holds no element, its value is -inf and its index -1. PyTorch gives
    -inf too, with an index computed past its first tap that lies outside the plane or on an
    element the window does not hold (garbage); -1 is the "no element" that PyTorch's backward
    kernel skips, and MaxPool2d.backward gives such windows no gradient (y does not depend on x
    there); max_pool2d_backward itself refuses -1 (a ValueError naming it)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    oh, ow = (_dilated_size(h, k[0], s[0], p[0], d[0], ceil_mode), _dilated_size(w, k[1], s[1], p[1], d[1], ceil_mode))
    rows = max((oh - 1) * s[0] + (k[0] - 1) * d[0] + 1, p[0] + h)
    cols = max((ow - 1) * s[1] + (k[1] - 1) * d[1] + 1, p[1] + w)
    padded = xp.full((n, c, rows, cols), -np.inf, x.dtype)
    padded[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    st = padded.strides
    taps = xp.lib.stride_tricks.as_strided(
        padded, (n, c, oh, ow, k[0], k[1]), (st[0], st[1], s[0] * st[2], s[1] * st[3], d[0] * st[2], d[1] * st[3]))
    taps = taps.reshape(n, c, oh, ow, k[0] * k[1])
    # input row / column of every tap, and whether it is a real element (not padding)
    r = np.arange(oh)[:, None] * s[0] - p[0] + np.arange(k[0])[None, :] * d[0]  # (OH, KH)
    q = np.arange(ow)[:, None] * s[1] - p[1] + np.arange(k[1])[None, :] * d[1]  # (OW, KW)
    real = (((r >= 0) & (r < h))[:, None, :, None] & ((q >= 0) & (q < w))[None, :, None, :]).reshape(oh, ow, -1)
    pos = (r[:, None, :, None] * w + q[None, :, None, :]).reshape(oh, ow, -1)
    none_real = xp.asarray(~real.any(axis=-1))  # windows holding no element of x (see above)
    first_real = xp.asarray(np.argmax(real, axis=-1))
    arg = xp.argmax(taps, axis=-1)
    best = xp.take_along_axis(taps, arg[..., None], axis=-1)[..., 0]
    arg = xp.where(best == -np.inf, first_real, arg)
    nan = xp.isnan(taps)
    last_nan = k[0] * k[1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
    arg = xp.where(nan.any(axis=-1), last_nan, arg)
    y = contiguous(xp.take_along_axis(taps, arg[..., None], axis=-1)[..., 0])
    pos = xp.asarray(pos.astype(np.int64))
    idx = pos[xp.arange(oh)[:, None], xp.arange(ow)[None, :], arg]
    if bool(none_real.any()):
        idx = xp.where(none_real, np.int64(-1), idx)
    return y, contiguous(idx.astype(np.int64))


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, dilation=1):
    """y = max over each window, indices = its position ``h * W + w`` in the input plane.

    Padding counts as -inf and never wins; NaN in a window wins (PyTorch); a window of -inf
    gives -inf and the index of its first real element. ``ceil_mode``: OH = ceil((H + 2*PH -
    KH) / SH) + 1 (less one if the last window would start in the right padding), PyTorch's;
    the windows past the input then cover fewer elements. ``dilation``: an int or (h, w) pair,
    the window's taps d apart (PyTorch's; OH = (H + 2*PH - d*(KH - 1) - 1) // SH + 1); dilated
    windows are gathered by array code, slower than the native kernel. A dilated window whose
    taps all miss the input gives -inf and index -1 (see _dilated_max_pool).
    Returns: (y (N, C, OH, OW), indices int64 (N, C, OH, OW)).
    """
    x = _pool_input(x, "max_pool2d_forward")
    d = _dilation(dilation)
    if d != (1, 1):
        k, s, p, _ = _pool_args(x.shape, kernel_size, stride, padding, check_size=False)
        return _dilated_max_pool(x, k, s, p, d, bool(ceil_mode))
    k, s, p, (oh, ow) = _pool_args(x.shape, kernel_size, stride, padding, ceil_mode=bool(ceil_mode))
    xp = get_array_module(x)
    if ceil_mode:
        (oh, ow), extra = _ceil_args(x.shape, k, s, p)
        if extra != (0, 0):  # floor mode over x extended by -inf cells (which never win)
            h, w = x.shape[2], x.shape[3]
            y, idx = max_pool2d_forward(_extend(x, extra, -np.inf), k, s, p)
            wide = w + extra[1]
            return y, (idx // wide) * w + idx % wide  # positions in the extended plane -> in x
    y = empty((x.shape[0], x.shape[1], oh, ow), x.dtype, xp)
    indices = empty(y.shape, np.int64, xp)
    backend(x).max_pool2d_forward(x, y, indices, k, s, p)
    return y, indices


def max_pool2d_backward(dy, indices, x_shape):
    """dx[n, c].flat[indices[n, c, oh, ow]] += dy[n, c, oh, ow]; zeros elsewhere.

    Args: dy and indices (N, C, OH, OW) (indices int64 from the forward); x_shape (N, C, H, W).
    Indices outside [0, H*W) raise ValueError.
    """
    dy = _grad_input(dy, "max_pool2d_backward")
    n, c, h, w = _x_shape(x_shape)
    xp = get_array_module(dy)
    if not isinstance(indices, xp.ndarray) or indices.dtype != np.int64:
        got = indices.dtype if isinstance(indices, (np.ndarray, xp.ndarray)) else type(indices).__name__
        raise TypeError(f"indices must be an int64 {xp.__name__}.ndarray (from max_pool2d_forward), got {got}")
    _check_4d(dy, "dy", "(N, C, OH, OW)")
    if indices.shape != dy.shape or dy.shape[:2] != (n, c):
        raise ValueError(f"dy {dy.shape} and indices {indices.shape} must both be (N, C, OH, OW) with "
                         f"(N, C) = {(n, c)} from x_shape {(n, c, h, w)}")
    dx = empty((n, c, h, w), dy.dtype, xp)
    backend(dy, indices).max_pool2d_backward(dy, contiguous(indices), dx)
    return dx


def _divisor(divisor_override):
    """None, or the nonzero int every window sum is divided by (PyTorch's divisor_override)."""
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, numbers.Integral) \
            or divisor_override == 0:
        raise ValueError(f"divisor_override must be a nonzero int or None, got {divisor_override!r}")
    return int(divisor_override)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True, ceil_mode=False,
                       divisor_override=None):
    """y = (sum of the window's real elements) / divisor: KH*KW when count_include_pad
    (padding counts as zeros), else the number of real elements in the window. ``ceil_mode``:
    output size as max_pool2d_forward's; a window reaching past the padded input divides by
    its part inside it (count_include_pad) or by its real elements, as PyTorch.
    ``divisor_override``: a nonzero int that divides every window's sum instead (PyTorch's;
    count_include_pad then does not matter)."""
    x = _pool_input(x, "avg_pool2d_forward")
    k, s, p, (oh, ow) = _pool_args(x.shape, kernel_size, stride, padding, ceil_mode=bool(ceil_mode))
    div = _divisor(divisor_override)
    if div is not None:  # the window sums (KH*KW times the count_include_pad means) over div
        extra = _ceil_args(x.shape, k, s, p)[1] if ceil_mode else (0, 0)
        y = avg_pool2d_forward(_extend(x, extra, 0) if extra != (0, 0) else x, k, s, p, count_include_pad=True)
        y *= x.dtype.type(k[0] * k[1] / div)
        return y
    if ceil_mode:
        out_hw, extra = _ceil_args(x.shape, k, s, p)
        if extra != (0, 0):  # window sums over x extended by zeros, then PyTorch's divisors
            xp = get_array_module(x)
            y = avg_pool2d_forward(_extend(x, extra, 0), k, s, p, count_include_pad=True)
            return y * _avg_divisor_scale(x.shape, k, s, p, out_hw, count_include_pad, xp, x.dtype)
    y = empty((x.shape[0], x.shape[1], oh, ow), x.dtype, get_array_module(x))
    backend(x).avg_pool2d_forward(x, y, k, s, p, bool(count_include_pad))
    return y


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True, ceil_mode=False,
                        divisor_override=None):
    """dx[n, c, h, w] = sum over the windows containing (h, w) of dy / divisor (divisor_override
    when given, as the forward)."""
    dy = _grad_input(dy, "avg_pool2d_backward")
    shape = _x_shape(x_shape)
    k, s, p, (oh, ow) = _pool_args(shape, kernel_size, stride, padding, ceil_mode=bool(ceil_mode))
    div = _divisor(divisor_override)
    if div is not None:
        (oh, ow), extra = _ceil_args(shape, k, s, p) if ceil_mode else ((oh, ow), (0, 0))
        if dy.shape != (shape[0], shape[1], oh, ow):
            raise ValueError(f"dy must have shape {(shape[0], shape[1], oh, ow)} for x_shape {shape}, got {dy.shape}")
        big = (shape[0], shape[1], shape[2] + extra[0], shape[3] + extra[1])
        dx = avg_pool2d_backward(dy * dy.dtype.type(k[0] * k[1] / div), big, k, s, p, count_include_pad=True)
        return contiguous(dx[:, :, :shape[2], :shape[3]]) if extra != (0, 0) else dx
    if ceil_mode:
        out_hw, extra = _ceil_args(shape, k, s, p)
        if extra != (0, 0):
            if dy.shape != (shape[0], shape[1], *out_hw):
                raise ValueError(f"dy must have shape {(shape[0], shape[1], *out_hw)} for x_shape {shape} "
                                 f"(ceil_mode), got {dy.shape}")
            xp = get_array_module(dy)
            scaled = dy * _avg_divisor_scale(shape, k, s, p, out_hw, count_include_pad, xp, dy.dtype)
            big = (shape[0], shape[1], shape[2] + extra[0], shape[3] + extra[1])
            dx = avg_pool2d_backward(scaled, big, k, s, p, count_include_pad=True)
            return contiguous(dx[:, :, :shape[2], :shape[3]])
    if dy.shape != (shape[0], shape[1], oh, ow):
        raise ValueError(f"dy must have shape {(shape[0], shape[1], oh, ow)} for x_shape {shape}, got {dy.shape}")
    dx = empty(shape, dy.dtype, get_array_module(dy))
    backend(dy).avg_pool2d_backward(dy, dx, k, s, p, bool(count_include_pad))
    return dx


def global_avg_pool2d_forward(x):
    """y[n, c] = mean of x[n, c] over (H, W); x (N, C, H, W) with H, W >= 1 -> y (N, C)."""
    x = _pool_input(x, "global_avg_pool2d_forward")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got shape {x.shape}")
    y = empty(x.shape[:2], x.dtype, get_array_module(x))
    backend(x).global_avg_pool2d_forward(x, y)
    return y


def global_avg_pool2d_backward(dy, x_shape):
    """dx[n, c, h, w] = dy[n, c] / (H * W)."""
    dy = _grad_input(dy, "global_avg_pool2d_backward")
    shape = _x_shape(x_shape)
    if shape[2] < 1 or shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got x_shape {shape}")
    if dy.shape != shape[:2]:
        raise ValueError(f"dy must have shape {shape[:2]} for x_shape {shape}, got {dy.shape}")
    dx = empty(shape, dy.dtype, get_array_module(dy))
    backend(dy).global_avg_pool2d_backward(dy, dx)
    return dx
