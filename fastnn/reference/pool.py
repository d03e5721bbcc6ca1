"""2-D pooling in plain NumPy: the definitions, written to be read, not to be fast.

Legend: x (N, C, H, W) -> y (N, C, OH, OW); window KH x KW, stride (SH, SW) (None means the
kernel size), padding (PH, PW) with PH <= KH // 2 and PW <= KW // 2 (PyTorch's rule, which
guarantees every window holds at least one real input element). Window (oh, ow) covers input
rows oh*SH - PH ... oh*SH - PH + KH - 1 and the matching columns. Each function loops over the
KH*KW offsets (i, j) in row-major order, vectorised over all windows. Same signatures as
``fastnn.ops``; results in the input's dtype.
"""
from __future__ import annotations

import numpy as np

from ..ops.shapes import conv_output_size, pair

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


def _geometry(x_shape, kernel_size, stride, padding):
    if len(x_shape) != 4:
        raise ValueError(f"pooling needs a 4-D (N, C, H, W) input, got shape {tuple(x_shape)}")
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(kernel_size if stride is None else stride, "stride")
    ph, pw = pair(padding, "padding")
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size must be >= 1, got {(kh, kw)}")
    if ph < 0 or pw < 0 or ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"padding must be >= 0 and at most half the kernel size: got padding {(ph, pw)} "
                         f"for kernel_size {(kh, kw)}")
    h, w = x_shape[2], x_shape[3]
    if h < 1 or w < 1:
        raise ValueError(f"pooling needs non-empty spatial dimensions, got H={h}, W={w}")
    oh = conv_output_size(h, kh, sh, ph)
    ow = conv_output_size(w, kw, sw, pw)
    return kh, kw, sh, sw, ph, pw, oh, ow


def _rows_cols(i, j, oh, ow, sh, sw, ph, pw):
    """Input row (OH, 1) and column (1, OW) kernel offset (i, j) reads, for every window."""
    rows = (np.arange(oh) * sh - ph + i)[:, None]
    cols = (np.arange(ow) * sw - pw + j)[None, :]
    return rows, cols


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """y = max over each window, indices = argmax as ``h * W + w`` in the input plane (int64).

    Scanning the window row by row, an element replaces the current maximum when it is greater
    or NaN (so NaN wins, the last NaN in scan order; PyTorch's rule). The scan starts at the
    window's first real element with value -inf, so a window of -inf gives -inf and the index
    of that first element. Padding never wins.
    """
    n, c, h, w = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    best = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    first_row = np.maximum(np.arange(oh) * sh - ph, 0)[:, None]
    first_col = np.maximum(np.arange(ow) * sw - pw, 0)[None, :]
    index = np.broadcast_to(first_row * w + first_col, (n, c, oh, ow)).astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _rows_cols(i, j, oh, ow, sh, sw, ph, pw)
            inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)          # (OH, OW)
            value = x[:, :, np.clip(rows, 0, h - 1), np.clip(cols, 0, w - 1)]    # (N, C, OH, OW)
            take = inside & ((value > best) | np.isnan(value))
            best = np.where(take, value, best)
            index = np.where(take, rows * w + cols, index)
    return best, index


def max_pool2d_backward(dy, indices, x_shape):
    """dx[n, c, indices[n, c, oh, ow]] += dy[n, c, oh, ow] (windows that share a maximum add up)."""
    n, c, h, w = (int(s) for s in x_shape)
    if dy.shape != indices.shape or dy.shape[:2] != (n, c):
        raise ValueError(f"dy {dy.shape} and indices {indices.shape} must both be (N, C, OH, OW) with "
                         f"N, C = {(n, c)}")
    dx = np.zeros((n * c, h * w), dtype=dy.dtype)
    plane = np.arange(n * c)[:, None]
    np.add.at(dx, (plane, indices.reshape(n * c, -1)), dy.reshape(n * c, -1))
    return dx.reshape(n, c, h, w)


def _divisor(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad):
    """Per-window divisor (OH, OW): KH*KW with count_include_pad (windows never reach past
    the padding here), else the number of real elements in the window."""
    if count_include_pad:
        return np.full((oh, ow), kh * kw, dtype=np.int64)
    count = np.zeros((oh, ow), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            rows, cols = _rows_cols(i, j, oh, ow, sh, sw, ph, pw)
            count += (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return count


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """y = (sum of the window's real elements) / divisor; divisor = KH*KW when
    count_include_pad (padding counts as zeros), else the number of real elements."""
    n, c, h, w = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    total = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            total += xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
    divisor = _divisor(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)
    return (total / divisor).astype(x.dtype)


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True):
    """dx[n, c, r, s] = sum over the windows containing (r, s) of dy / divisor."""
    n, c, h, w = (int(s) for s in x_shape)
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry((n, c, h, w), kernel_size, stride, padding)
    if dy.shape != (n, c, oh, ow):
        raise ValueError(f"dy must have shape {(n, c, oh, ow)}, got {dy.shape}")
    g = (dy / _divisor(h, w, kh, kw, sh, sw, ph, pw, oh, ow, count_include_pad)).astype(dy.dtype)
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += g
    return dxp[:, :, ph:ph + h, pw:pw + w].copy()


def global_avg_pool2d_forward(x):
    """y[n, c] = mean over (H, W) of x[n, c]; x (N, C, H, W) with H*W >= 1 -> (N, C)."""
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d needs a 4-D (N, C, H, W) input, got shape {x.shape}")
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got H={x.shape[2]}, W={x.shape[3]}")
    return x.mean(axis=(2, 3)).astype(x.dtype)


def global_avg_pool2d_backward(dy, x_shape):
    """dx[n, c, h, w] = dy[n, c] / (H * W)."""
    n, c, h, w = (int(s) for s in x_shape)
    if dy.shape != (n, c):
        raise ValueError(f"dy must have shape {(n, c)}, got {dy.shape}")
    if h * w == 0:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got H={h}, W={w}")
    return np.broadcast_to((dy / (h * w)).astype(dy.dtype)[:, :, None, None], (n, c, h, w)).copy()
