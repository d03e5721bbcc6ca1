"""2-D convolution in plain NumPy: the definitions, written to be read, not to be fast.

Legend: x (N, C, H, W); conv weight w (OC, C, KH, KW); y (N, OC, OH, OW); stride (SH, SW);
padding (PH, PW) of zeros; cross-correlation, as every DL framework:

    y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, oh*SH + i, ow*SW + j]

Every function loops over the KH*KW kernel offsets (i, j); for one offset the input positions
it touches form the strided slice ``xpad[:, :, i : i + SH*(OH-1) + 1 : SH, j : ...]`` of shape
(N, C, OH, OW), so each step is one tensordot. Same signatures as ``fastnn.ops``; results in
the input's dtype.
"""
from __future__ import annotations

import numpy as np

from ..ops.shapes import conv_output_size, conv_transpose_output_size, pair

__all__ = [
    "im2col", "col2im", "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
]


def _pad(x, ph: int, pw: int):
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _window(i: int, j: int, oh: int, ow: int, sh: int, sw: int):
    """Index of the padded-input positions kernel offset (i, j) touches, for all outputs."""
    return (slice(None), slice(None), slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw))


def _check_4d(a, name: str):
    if np.ndim(a) != 4:
        raise ValueError(f"{name} must be 4-D, got shape {np.shape(a)}")


def _geometry(x_shape, kernel_size, stride, padding):
    """(KH, KW, SH, SW, PH, PW, OH, OW) for a convolution of an x of shape x_shape."""
    kh, kw = pair(kernel_size, "kernel_size")
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    oh = conv_output_size(x_shape[2], kh, sh, ph)
    ow = conv_output_size(x_shape[3], kw, sw, pw)
    return kh, kw, sh, sw, ph, pw, oh, ow


def im2col(x, kernel_size, stride=1, padding=0):
    """Patches as columns: cols[n, c*KH*KW + i*KW + j, oh*OW + ow] = xpad[n, c, oh*SH + i, ow*SW + j].

    Shape (N, C*KH*KW, OH*OW). A convolution is then ``w.reshape(OC, -1) @ cols[n]``.
    """
    _check_4d(x, "x")
    n, c = x.shape[:2]
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(x.shape, kernel_size, stride, padding)
    xp = _pad(x, ph, pw)
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[_window(i, j, oh, ow, sh, sw)]
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """The adjoint of im2col: each column entry is added back to the input position it came
    from (overlapping patches sum; entries that came from padding are dropped). Shape x_shape."""
    n, c, h, w = (int(s) for s in x_shape)
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry((n, c, h, w), kernel_size, stride, padding)
    if cols.shape != (n, c * kh * kw, oh * ow):
        raise ValueError(f"cols must have shape {(n, c * kh * kw, oh * ow)} for x_shape {tuple(x_shape)}, "
                         f"got {cols.shape}")
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[_window(i, j, oh, ow, sh, sw)] += cols[:, :, i, j]
    return xp[:, :, ph:ph + h, pw:pw + w].copy()


def _check_conv(x, w, b, x_name="x"):
    _check_4d(x, x_name)
    _check_4d(w, "w")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{x_name} has {x.shape[1]} channels but w {w.shape} expects {w.shape[1]}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), got {b.shape}")


def conv2d_forward(x, w, b=None, stride=1, padding=0):
    """y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[n, c, oh*SH + i, ow*SW + j].

    x (N, C, H, W), w (OC, C, KH, KW), b (OC,) or None -> y (N, OC, OH, OW).
    """
    _check_conv(x, w, b)
    n = x.shape[0]
    oc, _, kh, kw = w.shape
    _, _, sh, sw, ph, pw, oh, ow = _geometry(x.shape, (kh, kw), stride, padding)
    xp = _pad(x, ph, pw)
    y = np.zeros((n, oc, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = xp[_window(i, j, oh, ow, sh, sw)]                       # (N, C, OH, OW)
            y += np.tensordot(patch, w[:, :, i, j], axes=([1], [1])).transpose(0, 3, 1, 2)
    if b is not None:
        y += b.reshape(1, oc, 1, 1)
    return y


def conv2d_backward(dy, x, w, stride=1, padding=0, *, need_dx=True, has_bias=True):
    """Gradients of conv2d_forward: (dx, dw, db).

    dw[o, c, i, j] = sum_{n, oh, ow} dy[n, o, oh, ow] * xpad[n, c, oh*SH + i, ow*SW + j]
    dxpad[n, c, oh*SH + i, ow*SW + j] += sum_o dy[n, o, oh, ow] * w[o, c, i, j]  (then cropped)
    db[o] = sum_{n, oh, ow} dy[n, o, oh, ow]
    dx is None unless need_dx; db is None unless has_bias.
    """
    _check_conv(x, w, None)
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    _, _, sh, sw, ph, pw, oh, ow = _geometry(x.shape, (kh, kw), stride, padding)
    if dy.shape != (n, oc, oh, ow):
        raise ValueError(f"dy must have shape {(n, oc, oh, ow)}, got {dy.shape}")
    xp = _pad(x, ph, pw)
    dxp = np.zeros_like(xp) if need_dx else None
    dw = np.zeros(w.shape, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            win = _window(i, j, oh, ow, sh, sw)
            dw[:, :, i, j] = np.tensordot(dy, xp[win], axes=([0, 2, 3], [0, 2, 3]))
            if need_dx:
                dxp[win] += np.tensordot(dy, w[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)
    dx = dxp[:, :, ph:ph + h, pw:pw + wd].copy() if need_dx else None
    db = dy.sum(axis=(0, 2, 3)).astype(dy.dtype) if has_bias else None
    return dx, dw, db


def _check_conv_transpose(x, w, b):
    _check_4d(x, "x")
    _check_4d(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} channels but the transposed-conv weight w {w.shape} "
                         f"(C_in, C_out, KH, KW) expects {w.shape[0]}")
    if b is not None and b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape ({w.shape[1]},), got {b.shape}")


def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding):
    kh, kw = w_shape[2:]
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    oph, opw = pair(output_padding, "output_padding")
    oh = conv_transpose_output_size(x_shape[2], kh, sh, ph, oph)
    ow = conv_transpose_output_size(x_shape[3], kw, sw, pw, opw)
    return kh, kw, sh, sw, ph, pw, oh, ow


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0):
    """The input-gradient of a convolution, used as a layer (PyTorch's ConvTranspose2d):

    ypad[n, co, h*SH + i, w*SW + j] += sum_ci x[n, ci, h, w] * wt[ci, co, i, j];  y = crop(ypad) + b

    x (N, C_in, H, W), wt (C_in, C_out, KH, KW), b (C_out,) -> y (N, C_out, OH, OW) with
    OH = (H - 1) * SH - 2 * PH + KH + output_padding.
    """
    _check_conv_transpose(x, w, b)
    n, _, h, wd = x.shape
    cout = w.shape[1]
    kh, kw, sh, sw, ph, pw, oh, ow = _transpose_geometry(x.shape, w.shape, stride, padding, output_padding)
    yp = np.zeros((n, cout, oh + 2 * ph, ow + 2 * pw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            contrib = np.tensordot(x, w[:, :, i, j], axes=([1], [0])).transpose(0, 3, 1, 2)  # (N, C_out, H, W)
            yp[_window(i, j, h, wd, sh, sw)] += contrib
    y = yp[:, :, ph:ph + oh, pw:pw + ow].copy()
    if b is not None:
        y += b.reshape(1, cout, 1, 1)
    return y


def conv_transpose2d_backward(dy, x, w, stride=1, padding=0, output_padding=0, *, need_dx=True, has_bias=True):
    """Gradients of conv_transpose2d_forward: (dx, dw, db).

    dx[n, ci, h, w] = sum_{co,i,j} wt[ci, co, i, j] * dypad[n, co, h*SH + i, w*SW + j]  (a convolution of dy)
    dw[ci, co, i, j] = sum_{n,h,w} x[n, ci, h, w] * dypad[n, co, h*SH + i, w*SW + j]
    db[co] = sum_{n,oh,ow} dy[n, co, oh, ow]
    """
    _check_conv_transpose(x, w, None)
    n, _, h, wd = x.shape
    cout = w.shape[1]
    kh, kw, sh, sw, ph, pw, oh, ow = _transpose_geometry(x.shape, w.shape, stride, padding, output_padding)
    if dy.shape != (n, cout, oh, ow):
        raise ValueError(f"dy must have shape {(n, cout, oh, ow)}, got {dy.shape}")
    dyp = _pad(dy, ph, pw)
    dx = np.zeros(x.shape, dtype=x.dtype) if need_dx else None
    dw = np.zeros(w.shape, dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            patch = dyp[_window(i, j, h, wd, sh, sw)]  # (N, C_out, H, W)
            dw[:, :, i, j] = np.tensordot(x, patch, axes=([0, 2, 3], [0, 2, 3]))
            if need_dx:
                dx += np.tensordot(patch, w[:, :, i, j], axes=([1], [1])).transpose(0, 3, 1, 2)
    db = dy.sum(axis=(0, 2, 3)).astype(dy.dtype) if has_bias else None
    return dx, dw, db
