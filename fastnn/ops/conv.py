"""2-D convolution (NCHW, cross-correlation, PyTorch semantics): forward and backward.

Legend: x (N, C, H, W); conv weight w (OC, C, KH, KW); transposed-conv weight (C_in, C_out, KH, KW);
y (N, OC, OH, OW) with OH = (H + 2*PH - KH) // SH + 1 (``fastnn.ops.shapes.conv_output_size``).
``stride``, ``padding``, ``kernel_size`` are an int or an (h, w) pair. float32 or float64; every
result has the input's dtype. Inputs of any layout are accepted (copied to C order when needed).

The native kernels lower a convolution to im2col + GEMM over chunks of the mini-batch sized to
stay in L2 (see csrc/kernels/conv.h), except 3x3 stride-1 layers with enough input and output
channels (8 each in float32 with AVX-512, 32 otherwise), which run Winograd F(2x2, 3x3) (2.25x
fewer multiplications; its float32 error bound is derived in tests/tolerances.py); ``fastnn._core.conv2d_algorithm(x, w, stride,
padding)`` tells which. ``conv2d_forward(..., return_cols=True)`` hands back the column matrix
so ``conv2d_backward(..., cols=...)`` can skip recomputing it (a Winograd layer fills it too,
and its backward does not need it).
"""
from __future__ import annotations

import numbers

from ._dispatch import backend, check_float, contiguous, empty, get_array_module, out_array, same_dtype, unaliased
from .shapes import conv_output_size, conv_transpose_output_size, pair

__all__ = [
    "im2col", "col2im", "conv2d_forward", "conv2d_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
]


def _check_4d(a, name: str, what: str = "(N, C, H, W)") -> None:
    if a.ndim != 4:
        raise ValueError(f"{name} must be a 4-D {what} array, got shape {a.shape}")


def _x_shape(x_shape, name: str = "x_shape") -> tuple[int, int, int, int]:
    try:
        shape = tuple(x_shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple (N, C, H, W), got {type(x_shape).__name__}: {x_shape!r}") from None
    if len(shape) != 4 or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in shape):
        raise ValueError(f"{name} must be 4 non-negative ints (N, C, H, W), got {x_shape!r}")
    return tuple(int(s) for s in shape)


def _output_hw(h: int, w: int, kernel, stride, padding):
    """(OH, OW) with every argument checked (errors name the axis' values)."""
    return (conv_output_size(h, kernel[0], stride[0], padding[0]),
            conv_output_size(w, kernel[1], stride[1], padding[1]))


def _conv_operands(x, w, b, x_name: str = "x", groups: int = 1):
    """Type/rank/channel checks shared by conv2d forward and backward; returns C-ordered arrays."""
    check_float(x, x_name)
    same_dtype(x, x_name, w, "w")
    if b is not None:
        same_dtype(x, x_name, b, "b")
    _check_4d(x, x_name)
    _check_4d(w, "w", "(OC, C, KH, KW)" if groups == 1 else "(OC, C / groups, KH, KW)")
    if groups != 1 and w.shape[0] % groups:
        raise ValueError(f"w {w.shape} has {w.shape[0]} output channels, not a multiple of groups={groups}")
    if x.shape[1] != w.shape[1] * groups:
        if groups == 1:
            raise ValueError(f"{x_name} has {x.shape[1]} channels but w {w.shape} expects {w.shape[1]} "
                             "(w is (OC, C, KH, KW))")
        raise ValueError(f"{x_name} has {x.shape[1]} channels but w {w.shape} with groups={groups} expects "
                         f"{w.shape[1] * groups} (w is (OC, C / groups, KH, KW))")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},) for w {w.shape}, got {b.shape}")
    return contiguous(x), contiguous(w), None if b is None else contiguous(b)


def im2col(x, kernel_size, stride=1, padding=0, *, out=None):
    """Patches as columns: ``cols[n, c*KH*KW + i*KW + j, oh*OW + ow] = xpad[n, c, oh*SH + i, ow*SW + j]``.

    Args: x (N, C, H, W); kernel_size, stride, padding: int or (h, w).
    Returns: cols (N, C*KH*KW, OH*OW) (zeros where the window covers padding).
    """
    check_float(x, "x")
    _check_4d(x, "x")
    k, s, p = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(padding, "padding")
    oh, ow = _output_hw(x.shape[2], x.shape[3], k, s, p)
    x = contiguous(x)
    cols = out_array(out, (x.shape[0], x.shape[1] * k[0] * k[1], oh * ow), x.dtype, xp=get_array_module(x))
    x = unaliased(x, out, in_place_ok=False)  # out= overlapping x: read x before cols overwrites it
    backend(x, cols).im2col(x, cols, k, s, p)
    return cols


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, *, out=None):
    """The adjoint of :func:`im2col`: each column entry is added back to the input position it
    came from (overlapping patches sum, entries from padding are dropped).

    Args: cols (N, C*KH*KW, OH*OW); x_shape (N, C, H, W). Returns an x_shape array.
    """
    check_float(cols, "cols")
    n, c, h, w = _x_shape(x_shape)
    k, s, p = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(padding, "padding")
    oh, ow = _output_hw(h, w, k, s, p)
    want = (n, c * k[0] * k[1], oh * ow)
    if cols.shape != want:
        raise ValueError(f"cols must have shape {want} for x_shape {(n, c, h, w)}, kernel_size {k}, "
                         f"stride {s}, padding {p}; got {cols.shape}")
    cols = contiguous(cols)
    x = out_array(out, (n, c, h, w), cols.dtype, xp=get_array_module(cols))
    cols = unaliased(cols, out, in_place_ok=False)
    backend(cols, x).col2im(cols, x, k, s, p)
    return x


def _is_pointwise(w, s, p) -> bool:
    return w.shape[2] == 1 and w.shape[3] == 1 and s == (1, 1) and p == (0, 0)


def _groups(groups) -> int:
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    return int(groups)


def _dilate(w, d):
    """The kernel with d - 1 zeros between its taps (a convolution with dilation d is one with
    this kernel: the zero taps add exact zeros for finite inputs)."""
    if d == (1, 1):
        return w
    kh, kw = w.shape[2], w.shape[3]
    big = get_array_module(w).zeros(w.shape[:2] + (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1), w.dtype)
    big[:, :, ::d[0], ::d[1]] = w
    return big


def _check_dilated_fits(x, w, d, padding) -> None:
    """A dilated kernel must fit in the padded input: checked before _dilate builds it (its
    d (K - 1) + 1 taps can take far more memory than the layer: dilation 10**5 on a 3x3 kernel
    is 149 GiB), so a bad dilation raises ValueError here instead of MemoryError (or a huge
    allocation followed by the size error)."""
    if d == (1, 1) or x.ndim != 4 or w.ndim != 4:
        return
    if isinstance(padding, str):
        if padding != "valid":  # "same": the output is the input's size; others fail later
            return
        p = (0, 0)
    else:
        p = pair(padding, "padding")
    for axis in range(2):
        span = d[axis] * (w.shape[2 + axis] - 1) + 1
        size = x.shape[2 + axis] + 2 * p[axis]
        if span > size:
            raise ValueError(f"kernel_size {span} is larger than the padded input: size {x.shape[2 + axis]} + "
                             f"2 * padding {p[axis]} = {size} (kernel_size {tuple(w.shape[2:])} with dilation {d} "
                             f"spans {span} positions)")


def _check_dilation(dilation):
    d = pair(dilation, "dilation")
    if min(d) < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation!r}")
    return d


def _padding(padding, w, stride):
    """(symmetric (ph, pw), extra (top, bottom, left, right) or None) for an int / pair padding or
    PyTorch's strings: "valid" = 0; "same" (stride 1 only) pads K - 1 in total per axis, half
    on each side, the odd one at the bottom / right (an even kernel), which the kernels (that
    pad symmetrically) get as an explicitly zero-padded input."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), None
        if padding != "same":
            raise ValueError(f"padding must be an int, an (h, w) pair, 'same' or 'valid'; got {padding!r}")
        if tuple(stride) != (1, 1):
            raise ValueError(f"padding='same' needs stride 1 (as in PyTorch); got stride {tuple(stride)}")
        kh, kw = int(w.shape[2]), int(w.shape[3])
        top, left = (kh - 1) // 2, (kw - 1) // 2
        bottom, right = kh - 1 - top, kw - 1 - left
        if (top, left) == (bottom, right):
            return (top, left), None
        return (0, 0), (top, bottom, left, right)
    return pair(padding, "padding"), None


def _pad_input(x, extra):
    top, bottom, left, right = extra
    n, c, h, w = x.shape
    padded = get_array_module(x).zeros((n, c, h + top + bottom, w + left + right), x.dtype)
    padded[:, :, top:top + h, left:left + w] = x
    return padded


def conv2d_forward(x, w, b=None, stride=1, padding=0, *, dilation=1, groups=1, out=None, return_cols=False):
    """``y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * xpad[n, c, oh*SH + i, ow*SW + j]``.

    Args:
        x: (N, C, H, W). w: (OC, C, KH, KW). b: (OC,) or None. stride: int or (h, w).
        padding: int or (h, w), or PyTorch's "valid" (0) or "same" (stride 1; output H x W; an
            even kernel pads one more at the bottom / right, as PyTorch).
        out: optional C-contiguous (N, OC, OH, OW) array to write y into.
        return_cols: also return the column matrix the kernel built, a (C*KH*KW, N*OH*OW) array
            whose layout is internal (chunk-major), to pass to :func:`conv2d_backward` as
            ``cols=`` (None for a 1x1, stride-1, unpadded convolution, which uses x directly).
            It costs C*KH*KW*N*OH*OW elements of memory and saves one im2col in backward;
            measured, that saving is about nil (backward's im2col runs on L2-resident chunks
            while the kept matrix is read from memory), so layers need not keep it.
        dilation: int or (h, w): taps d apart (PyTorch's; OH = (H + 2P - d (K - 1) - 1) // S + 1).
        groups: C and OC split into this many groups, group g's outputs seeing only its inputs;
            w is then (OC, C / groups, KH, KW) (PyTorch's; groups = C is a depthwise convolution).
            Grouped and dilated convolutions run one convolution per group with the dilated
            kernel, and keep no columns (cols is None).
    Returns: y (N, OC, OH, OW), or (y, cols) with return_cols.
    """
    groups, d = _groups(groups), _check_dilation(dilation)
    if groups != 1 or d != (1, 1):
        x, w, b = _conv_operands(x, w, b, groups=groups)
        _check_dilated_fits(x, w, d, padding)
        w = _dilate(w, d)
        og, cg = w.shape[0] // groups, w.shape[1]
        parts = [conv2d_forward(contiguous(x[:, g * cg:(g + 1) * cg]), contiguous(w[g * og:(g + 1) * og]),
                                None if b is None else contiguous(b[g * og:(g + 1) * og]), stride, padding)
                 for g in range(groups)]
        y = out_array(out, (x.shape[0], w.shape[0]) + parts[0].shape[2:], x.dtype, xp=get_array_module(x))
        for g, part in enumerate(parts):
            y[:, g * og:(g + 1) * og] = part
        return (y, None) if return_cols else y
    x, w, b = _conv_operands(x, w, b)
    s = pair(stride, "stride")
    p, extra = _padding(padding, w, s)
    if extra is not None:
        x = _pad_input(x, extra)
    oh, ow = _output_hw(x.shape[2], x.shape[3], w.shape[2:], s, p)
    xp = get_array_module(x)
    y = out_array(out, (x.shape[0], w.shape[0], oh, ow), x.dtype, xp=xp)
    # an out= sharing memory with an operand: the operand is read from a copy (y is written
    # chunk by chunk while x, w and b are still being read)
    x, w, b = (unaliased(x, out, in_place_ok=False), unaliased(w, out, in_place_ok=False),
               unaliased(b, out, in_place_ok=False))
    cols = None
    if return_cols and not _is_pointwise(w, s, p):
        cols = empty((w.shape[1] * w.shape[2] * w.shape[3], x.shape[0] * oh * ow), x.dtype, xp)
    backend(x, w, b, y).conv2d_forward(x, w, b, y, s, p, cols)
    return (y, cols) if return_cols else y


def conv2d_backward(dy, x, w, stride=1, padding=0, *, dilation=1, groups=1, need_dx=True, has_bias=True,
                    cols=None):
    """Gradients of :func:`conv2d_forward`.

    dw[o, c, i, j] = sum_{n,oh,ow} dy[n, o, oh, ow] * xpad[n, c, oh*SH + i, ow*SW + j];
    dx = the sum of w-weighted dy patches put back where they came from (col2im of W^T dy);
    db[o] = sum_{n,oh,ow} dy[n, o, oh, ow].

    Args:
        dy: (N, OC, OH, OW); x, w: the forward's operands.
        need_dx: compute dx (False for a first layer). has_bias: compute db.
        cols: the column matrix from ``conv2d_forward(..., return_cols=True)`` on the same x
            (optional; recomputed from x when None).
        dilation, groups: as for :func:`conv2d_forward`.
    Returns: (dx or None, dw, db or None), each in the dtype of the inputs.
    """
    groups, d = _groups(groups), _check_dilation(dilation)
    if groups != 1 or d != (1, 1):
        x, w, _ = _conv_operands(x, w, None, groups=groups)
        same_dtype(x, "x", dy, "dy")
        _check_4d(dy, "dy", "(N, OC, OH, OW)")
        if dy.shape[:2] != (x.shape[0], w.shape[0]):
            raise ValueError(f"dy must have shape (N, OC, OH, OW) = ({x.shape[0]}, {w.shape[0]}, ...) for x "
                             f"{x.shape} and w {w.shape}, got {dy.shape}")
        _check_dilated_fits(x, w, d, padding)
        wd = _dilate(w, d)
        og, cg = w.shape[0] // groups, w.shape[1]
        xp = get_array_module(x)
        dx = empty(x.shape, x.dtype, xp) if need_dx else None
        dwd = empty(wd.shape, wd.dtype, xp)
        db = empty(w.shape[0], x.dtype, xp) if has_bias else None
        for g in range(groups):
            o, c = slice(g * og, (g + 1) * og), slice(g * cg, (g + 1) * cg)
            dxg, dwg, dbg = conv2d_backward(contiguous(dy[:, o]), contiguous(x[:, c]), contiguous(wd[o]), stride,
                                            padding, need_dx=need_dx, has_bias=has_bias)
            if need_dx:
                dx[:, c] = dxg
            dwd[o] = dwg
            if has_bias:
                db[o] = dbg
        return dx, contiguous(dwd[:, :, ::d[0], ::d[1]]), db
    x, w, _ = _conv_operands(x, w, None)
    same_dtype(x, "x", dy, "dy")
    s = pair(stride, "stride")
    p, extra = _padding(padding, w, s)
    if extra is not None:  # the gradient of the explicitly padded input, cropped back to x
        h, wd = x.shape[2], x.shape[3]
        dx, dw, db = conv2d_backward(dy, _pad_input(x, extra), w, s, 0, need_dx=need_dx, has_bias=has_bias,
                                     cols=cols)
        if dx is not None:
            dx = contiguous(dx[:, :, extra[0]:extra[0] + h, extra[2]:extra[2] + wd])
        return dx, dw, db
    oh, ow = _output_hw(x.shape[2], x.shape[3], w.shape[2:], s, p)
    want = (x.shape[0], w.shape[0], oh, ow)
    if dy.shape != want:
        raise ValueError(f"dy must have shape {want} (the forward's output for x {x.shape}, w {w.shape}), "
                         f"got {dy.shape}")
    xp = get_array_module(x)
    if cols is not None:
        same_dtype(x, "x", cols, "cols")
        if not isinstance(cols, xp.ndarray) or not cols.flags.c_contiguous:
            raise ValueError("cols must be the C-contiguous array conv2d_forward(..., return_cols=True) returned")
        k = w.shape[1] * w.shape[2] * w.shape[3]
        if cols.shape != (k, x.shape[0] * oh * ow):
            raise ValueError(f"cols must have shape {(k, x.shape[0] * oh * ow)}, got {cols.shape}")
    dy = contiguous(dy)
    dx = empty(x.shape, x.dtype, xp) if need_dx else None
    dw = empty(w.shape, w.dtype, xp)
    db = empty(w.shape[0], x.dtype, xp) if has_bias else None
    backend(dy, x, w, cols).conv2d_backward(dy, x, w, dx, dw, db, s, p, cols)
    return dx, dw, db


def _transpose_operands(x, w, b, groups: int = 1):
    check_float(x, "x")
    same_dtype(x, "x", w, "w")
    if b is not None:
        same_dtype(x, "x", b, "b")
    _check_4d(x, "x")
    _check_4d(w, "w", "(C_in, C_out, KH, KW)" if groups == 1 else "(C_in, C_out / groups, KH, KW)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} channels but the transposed-conv weight w {w.shape} "
                         f"(C_in, C_out{'' if groups == 1 else ' / groups'}, KH, KW) expects {w.shape[0]}")
    if w.shape[0] % groups:
        raise ValueError(f"w {w.shape} has {w.shape[0]} input channels, not a multiple of groups={groups}")
    c_out = w.shape[1] * groups
    if b is not None and b.shape != (c_out,):
        raise ValueError(f"b must have shape ({c_out},) for w {w.shape}"
                         f"{'' if groups == 1 else f' with groups={groups}'}, got {b.shape}")
    return contiguous(x), contiguous(w), None if b is None else contiguous(b)


def _transpose_output_hw(x, w, s, p, op, d=(1, 1)):
    """PyTorch's (H - 1) S - 2P + d (K - 1) + 1 + output_padding per axis, output_padding <
    max(stride, dilation) (the rule of torch.nn.ConvTranspose2d)."""
    size = []
    for axis in range(2):
        k = d[axis] * (w.shape[2 + axis] - 1) + 1
        size.append(conv_transpose_output_size(x.shape[2 + axis], k, s[axis], p[axis], op[axis], d[axis]))
    return tuple(size)


def _transpose_args(stride, padding, output_padding, dilation, groups):
    return (pair(stride, "stride"), pair(padding, "padding"), pair(output_padding, "output_padding"),
            _check_dilation(dilation), _groups(groups))


def _transpose_parts(w, groups):
    """Group g's (input channels = rows of w, output channels) slices; w is (C_in, C_out / groups, KH, KW)."""
    ci, co = w.shape[0] // groups, w.shape[1]
    return [(slice(g * ci, (g + 1) * ci), slice(g * co, (g + 1) * co)) for g in range(groups)]


def _transpose_native(s, p, op):
    """The (padding, output_padding) the native kernel runs with, and whether the result must be
    cut out of the unpadded output (an output_padding >= stride, which only a dilation allows:
    the kernel's geometry needs output_padding < stride)."""
    if all(o < st for o, st in zip(op, s)):
        return p, op, False
    return (0, 0), (0, 0), True


def _crop_full(full, p, size):
    """full[..., p_h:p_h + OH, p_w:p_w + OW], zero past full's end (the output_padding rows)."""
    out = get_array_module(full).zeros(full.shape[:2] + tuple(size), full.dtype)
    h = min(size[0], full.shape[2] - p[0])
    w = min(size[1], full.shape[3] - p[1])
    if h > 0 and w > 0:
        out[:, :, :h, :w] = full[:, :, p[0]:p[0] + h, p[1]:p[1] + w]
    return out


def conv_transpose2d_forward(x, w, b=None, stride=1, padding=0, output_padding=0, *, dilation=1, groups=1,
                             out=None):
    """Transposed convolution (PyTorch's ConvTranspose2d): the input-gradient of a convolution.

    ``ypad[n, co, h*SH + i*DH, w*SW + j*DW] += sum_ci x[n, ci, h, w] * w[ci, co, i, j]``, y = crop(ypad) + b.

    Args: x (N, C_in, H, W); w (C_in, C_out / groups, KH, KW); b (C_out,) or None; stride,
        padding, output_padding (0 <= output_padding < max(stride, dilation)), dilation: int or
        (h, w); groups: C_in and C_out split into this many groups, group g's outputs made from
        its inputs only (PyTorch's). Grouped or dilated layers run one transposed convolution per
        group with the dilated kernel (zeros between the taps).
    Returns: y (N, C_out, OH, OW), OH = (H - 1)*SH - 2*PH + DH*(KH - 1) + 1 + output_padding.
    """
    s, p, op, d, groups = _transpose_args(stride, padding, output_padding, dilation, groups)
    x, w, b = _transpose_operands(x, w, b, groups)
    oh, ow = _transpose_output_hw(x, w, s, p, op, d)
    xp = get_array_module(x)
    y = out_array(out, (x.shape[0], w.shape[1] * groups, oh, ow), x.dtype, xp=xp)
    x, w, b = (unaliased(x, out, in_place_ok=False), unaliased(w, out, in_place_ok=False),
               unaliased(b, out, in_place_ok=False))
    if oh == 0 or ow == 0:  # an empty output (PyTorch allows it): no values, nothing to compute
        return y
    if groups == 1 and d == (1, 1) and all(o < st for o, st in zip(op, s)):
        backend(x, w, b, y).conv_transpose2d_forward(x, w, b, y, s, p)
        return y
    wd = _dilate(w, d)
    pn, opn, cut = _transpose_native(s, p, op)
    for xs, cs in _transpose_parts(wd, groups):
        wg = contiguous(wd[xs])
        bg = None if b is None else contiguous(b[cs])
        part = conv_transpose2d_forward(contiguous(x[:, xs]), wg, None if cut else bg, s, pn, opn)
        if cut:
            part = _crop_full(part, p, (oh, ow))
            if bg is not None:
                part += bg.reshape(1, -1, 1, 1)
        y[:, cs] = part
    return y


def conv_transpose2d_backward(dy, x, w, stride=1, padding=0, output_padding=0, *, dilation=1, groups=1,
                              need_dx=True, has_bias=True):
    """Gradients of :func:`conv_transpose2d_forward`: (dx or None, dw, db or None).

    dx = conv2d(dy, w) (no bias); dw[ci, co, i, j] = sum_{n,h,w} x[n, ci, h, w] * dypad[n, co, h*SH + i*DH, w*SW + j*DW];
    db[co] = sum of dy over (N, OH, OW). dilation, groups: as for the forward.
    """
    s, p, op, d, groups = _transpose_args(stride, padding, output_padding, dilation, groups)
    x, w, _ = _transpose_operands(x, w, None, groups)
    same_dtype(x, "x", dy, "dy")
    oh, ow = _transpose_output_hw(x, w, s, p, op, d)
    want = (x.shape[0], w.shape[1] * groups, oh, ow)
    if dy.shape != want:
        raise ValueError(f"dy must have shape {want} (the forward's output for x {x.shape}, w {w.shape}"
                         f"{'' if groups == 1 else f', groups={groups}'}), got {dy.shape}")
    dy = contiguous(dy)
    xp = get_array_module(x)
    dx = empty(x.shape, x.dtype, xp) if need_dx else None
    dw = empty(w.shape, w.dtype, xp)
    db = empty(want[1], x.dtype, xp) if has_bias else None
    if oh == 0 or ow == 0:  # an empty output takes no part in the loss: every gradient is 0
        for g in (dx, dw, db):
            if g is not None:
                g.fill(0)
        return dx, dw, db
    if groups == 1 and d == (1, 1) and all(o < st for o, st in zip(op, s)):
        backend(dy, x, w).conv_transpose2d_backward(dy, x, w, dx, dw, db, s, p)
        return dx, dw, db
    wd = _dilate(w, d)
    pn, opn, cut = _transpose_native(s, p, op)
    dwd = empty(wd.shape, wd.dtype, xp)
    for xs, cs in _transpose_parts(wd, groups):
        dyg = dy[:, cs]
        if cut:  # the gradient of the crop: dy put back where its values came from, 0 elsewhere
            full_hw = _transpose_output_hw(x, wd, s, (0, 0), (0, 0))
            full = xp.zeros((dy.shape[0], dyg.shape[1]) + full_hw, dy.dtype)
            h, w_ = min(oh, full_hw[0] - p[0]), min(ow, full_hw[1] - p[1])
            if h > 0 and w_ > 0:
                full[:, :, p[0]:p[0] + h, p[1]:p[1] + w_] = dyg[:, :, :h, :w_]
            dyg = full
        dxg, dwg, dbg = conv_transpose2d_backward(contiguous(dyg), contiguous(x[:, xs]), contiguous(wd[xs]), s, pn,
                                                  opn, need_dx=need_dx, has_bias=has_bias and not cut)
        if need_dx:
            dx[:, xs] = dxg
        dwd[xs] = dwg
        if has_bias:  # with a cut, the output_padding rows past the unpadded output have a bias too
            db[cs] = dbg if not cut else dy[:, cs].sum(axis=(0, 2, 3), dtype=xp.float64).astype(dy.dtype)
    return dx, contiguous(dwd[:, :, ::d[0], ::d[1]]), db
