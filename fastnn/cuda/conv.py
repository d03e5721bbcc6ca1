"""2-D convolution on the GPU: im2col / col2im kernels (csrc/cuda/conv.cu) + cuBLAS GEMMs through
cupy.matmul. Same signatures and semantics as the fastnn._core functions fastnn.ops calls.

Legend: N C H W (input), OC, KH KW, SH SW, PH PW, OH OW, P = OH*OW, K = C*KH*KW.
The mini-batch is cut into chunks of NB whole samples whose (K, NB*P) column matrix fits
``COLS_BUDGET_BYTES`` (usually the whole batch is one chunk). Per chunk, the column matrix is
channel-major, so y, dw and the column gradient are each ONE GEMM:
    forward   Y_c (OC, NB*P) = W (OC, K) @ cols_c          -> y in NCHW (+ bias)
    backward  dW (OC, K)    += dY_c (OC, NB*P) @ cols_c^T   (chunks added in order: deterministic)
              dcols_c        = W^T @ dY_c                   -> dx by col2im (a gather, no atomics)
A 1x1, stride-1, unpadded convolution is a plain batched GEMM on x itself (forward and dx).
A transposed convolution is the input gradient of the convolution that maps y's shape back to
x's (ConvTranspose2d), so it reuses the same pieces with the roles swapped.
"""
from __future__ import annotations

from typing import NamedTuple

from ._launch import (
    channel_sums, check_in, check_out, fill_zero, float_dtype, i32, i64, launch, ptr, require_ndim,
    require_same_shape, require_shape, suffix,
)

COLS_BUDGET_BYTES = 256 << 20  # one chunk's column matrix at most (a chunk has at least one sample)


class Geom(NamedTuple):
    """A kh x kw window sliding over an (n, c, h, w) input: the convolution's geometry."""
    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    oh: int
    ow: int

    @property
    def rows(self) -> int:  # K
        return self.c * self.kh * self.kw

    @property
    def plane_out(self) -> int:  # P
        return self.oh * self.ow

    @property
    def pointwise(self) -> bool:
        return (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (1, 1, 1, 1, 0, 0)

    def with_n(self, n: int) -> "Geom":
        return self._replace(n=n)

    def args(self):
        """(N, C, H, W, KH, KW, SH, SW, PH, PW, OH, OW) as kernel arguments."""
        return tuple(i64(v) for v in self)


def _pair_str(p) -> str:
    return f"({p[0]}, {p[1]})"


def check_window(kernel, stride, padding) -> None:
    if kernel[0] < 1 or kernel[1] < 1:
        raise ValueError(f"kernel_size must be >= 1, got {_pair_str(kernel)}")
    if stride[0] < 1 or stride[1] < 1:
        raise ValueError(f"stride must be >= 1, got {_pair_str(stride)}")
    if padding[0] < 0 or padding[1] < 0:
        raise ValueError(f"padding must be >= 0, got {_pair_str(padding)}")


def window_geom(shape, name: str, kernel, stride, padding) -> Geom:
    """The geometry of a window sliding over a 4-D array of `shape` (csrc/bindings.cpp's checks)."""
    if len(shape) != 4:
        raise ValueError(f"{name} must be 4-D, got {len(shape)}-D array of shape {tuple(shape)}")
    check_window(kernel, stride, padding)
    n, c, h, w = (int(s) for s in shape)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(f"kernel_size {_pair_str(kernel)} is larger than the padded input: {name} "
                         f"{tuple(shape)} with padding {_pair_str(padding)} is {(h + 2 * ph, w + 2 * pw)}")
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1  # fastnn.ops.shapes.conv_output_size
    return Geom(n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)


def samples_per_chunk(g: Geom, itemsize: int) -> int:
    """NB: whole samples per chunk, a function of the shapes only (so the sums' order is fixed)."""
    per_sample = max(1, g.rows * g.plane_out * itemsize)
    return max(1, min(max(g.n, 1), COLS_BUDGET_BYTES // per_sample))


def _chunks(n: int, per: int):
    for s0 in range(0, n, per):
        yield s0, min(per, n - s0)


def _im2col(x, cols, g: Geom, n_stride: int, r_stride: int) -> None:
    launch("conv.cu", f"im2col_{suffix(x.dtype)}", g.n * g.rows * g.plane_out, x, cols, *g.args(),
           i64(n_stride), i64(r_stride))


def _col2im(cols, x, bias, g: Geom, n_stride: int, r_stride: int) -> None:
    launch("conv.cu", f"col2im_{suffix(x.dtype)}", g.n * g.c * g.h * g.w, cols, x, ptr(bias), *g.args(),
           i64(n_stride), i64(r_stride))


def _to_channel_major(a, out, n: int, c: int, p: int) -> None:
    launch("conv.cu", f"to_channel_major_{suffix(a.dtype)}", n * c * p, a, out, i64(n), i64(c), i64(p))


def _from_channel_major(a, out, bias, n: int, c: int, p: int) -> None:
    launch("conv.cu", f"from_channel_major_{suffix(a.dtype)}", n * c * p, a, out, ptr(bias), i64(n), i64(c), i64(p))


def _channel_bias(y, bias, n: int, c: int, p: int, accumulate: bool) -> None:
    launch("conv.cu", f"channel_bias_{suffix(y.dtype)}", n * c * p, y, ptr(bias), i64(n), i64(c), i64(p),
           i32(accumulate))


def _chunk_cols(cols, s0: int, nb: int, k: int, p: int):
    """Chunk s0's (K, NB*P) block of a kept chunk-major column matrix (a view)."""
    return cols.reshape(-1)[s0 * k * p:(s0 + nb) * k * p].reshape(k, nb * p)


# ---------------------------------------------------------------------------------------------
# im2col / col2im (the contract's batch-major layout)

def im2col(x, cols, kernel_size, stride, padding) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(cols, "cols", dt)
    g = window_geom(x.shape, "x", kernel_size, stride, padding)
    require_shape(cols, "cols", (g.n, g.rows, g.plane_out))
    _im2col(x, cols, g, g.rows * g.plane_out, g.plane_out)


def col2im(cols, x, kernel_size, stride, padding) -> None:
    dt = float_dtype(cols, "cols")
    check_in(cols, "cols", dt)
    check_out(x, "x", dt)
    g = window_geom(x.shape, "x", kernel_size, stride, padding)
    require_shape(cols, "cols", (g.n, g.rows, g.plane_out))
    _col2im(cols, x, None, g, g.rows * g.plane_out, g.plane_out)


# ---------------------------------------------------------------------------------------------
# conv2d

def _conv_geom(x, w, stride, padding) -> Geom:
    require_ndim(x, "x", 4)
    require_ndim(w, "w", 4)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w {tuple(w.shape)} expects {w.shape[1]} "
                         "(w is (OC, C, KH, KW))")
    return window_geom(x.shape, "x", (w.shape[2], w.shape[3]), stride, padding)


def _check_bias(b, name: str, dt, channels: int) -> None:
    if b is not None:
        check_in(b, name, dt)
        require_shape(b, name, (channels,))


def conv2d_forward(x, w, b, y, stride, padding, cols=None) -> None:
    """y = conv2d(x, w) + b; cols (K, N*P), if given, receives the chunk-major column matrix."""
    import cupy

    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_in(w, "w", dt)
    check_out(y, "y", dt)
    g = _conv_geom(x, w, stride, padding)
    oc = w.shape[0]
    _check_bias(b, "b", dt, oc)
    require_shape(y, "y", (g.n, oc, g.oh, g.ow))
    k, p = g.rows, g.plane_out
    if cols is not None:
        if g.pointwise:
            raise ValueError("cols: a 1x1 convolution with stride 1 and no padding has no column matrix "
                             "(x is used directly); pass cols=None")
        check_out(cols, "cols", dt)
        require_shape(cols, "cols", (k, g.n * p))
    if g.n == 0 or oc == 0 or p == 0:
        return
    if k == 0:  # no input channels: y = bias
        _channel_bias(y, b, g.n, oc, p, False)
        return
    w2d = w.reshape(oc, k)
    if g.pointwise:  # x[n] is already the (C, P) column matrix: one batched GEMM
        cupy.matmul(w2d, x.reshape(g.n, k, p), out=y.reshape(g.n, oc, p))
        if b is not None:
            _channel_bias(y, b, g.n, oc, p, True)
        return
    per = samples_per_chunk(g, x.itemsize)
    own_cols = cupy.empty(k * per * p, dtype=dt) if cols is None else None
    ycm = cupy.empty(oc * per * p, dtype=dt)
    for s0, nb in _chunks(g.n, per):
        cols_c = _chunk_cols(cols, s0, nb, k, p) if cols is not None else own_cols[:k * nb * p].reshape(k, nb * p)
        _im2col(x[s0:s0 + nb], cols_c, g.with_n(nb), p, nb * p)
        y_cm = ycm[:oc * nb * p].reshape(oc, nb * p)
        cupy.matmul(w2d, cols_c, out=y_cm)
        _from_channel_major(y_cm, y[s0:s0 + nb], b, nb, oc, p)


def _accumulate_product(a, b_t, out, first: bool) -> None:
    """out (=|+=) a @ b_t.T, in chunk order."""
    import cupy

    if first:
        cupy.matmul(a, b_t.T, out=out)
    else:
        out += cupy.matmul(a, b_t.T)


def conv2d_backward(dy, x, w, dx, dw, db, stride, padding, cols=None) -> None:
    """Gradients of conv2d_forward into dx (or None), dw, db (or None); cols from the forward if kept."""
    import cupy

    dt = float_dtype(x, "x")
    check_in(dy, "dy", dt)
    check_in(x, "x", dt)
    check_in(w, "w", dt)
    check_out(dw, "dw", dt)
    g = _conv_geom(x, w, stride, padding)
    oc = w.shape[0]
    require_shape(dy, "dy", (g.n, oc, g.oh, g.ow))
    require_same_shape(w, "w", dw, "dw")
    if dx is not None:
        check_out(dx, "dx", dt)
        require_same_shape(x, "x", dx, "dx")
    if db is not None:
        check_out(db, "db", dt)
        require_shape(db, "db", (oc,))
    k, p = g.rows, g.plane_out
    if cols is not None and not g.pointwise:
        check_in(cols, "cols", dt)
        require_shape(cols, "cols", (k, g.n * p))
    else:
        cols = None
    if db is not None:
        channel_sums(dy, db, g.n, oc, p)
    if k == 0 or oc == 0:  # empty weight: dw is empty, dx gets no contribution
        if dx is not None:
            fill_zero(dx)
        return
    if g.n * p == 0:
        fill_zero(dw)
        if dx is not None:
            fill_zero(dx)
        return
    w2d, dw2d = w.reshape(oc, k), dw.reshape(oc, k)
    if dx is not None and g.pointwise:  # dx[n] = W^T @ dy[n]: one batched GEMM
        cupy.matmul(w2d.T, dy.reshape(g.n, oc, p), out=dx.reshape(g.n, k, p))
    per = samples_per_chunk(g, x.itemsize)
    own_cols = cupy.empty(k * per * p, dtype=dt)  # (im2col of x, then reused for dcols)
    dycm = cupy.empty(oc * per * p, dtype=dt)
    for s0, nb in _chunks(g.n, per):
        gc = g.with_n(nb)
        dy_cm = dycm[:oc * nb * p].reshape(oc, nb * p)
        _to_channel_major(dy[s0:s0 + nb], dy_cm, nb, oc, p)
        scratch = own_cols[:k * nb * p].reshape(k, nb * p)
        if cols is not None:
            cols_c = _chunk_cols(cols, s0, nb, k, p)
        else:
            _im2col(x[s0:s0 + nb], scratch, gc, p, nb * p)
            cols_c = scratch
        _accumulate_product(dy_cm, cols_c, dw2d, s0 == 0)
        if dx is not None and not g.pointwise:
            cupy.matmul(w2d.T, dy_cm, out=scratch)  # dcols (K, NB*P); the columns are used up
            _col2im(scratch, dx[s0:s0 + nb], None, gc, p, nb * p)


# ---------------------------------------------------------------------------------------------
# conv_transpose2d: x (N, C_in, H, W), w (C_in, C_out, KH, KW), y (N, C_out, OH, OW). g is the
# convolution that maps y's shape back to x's: g.(n, c, h, w) = (N, C_out, OH, OW), g.(oh, ow) = (H, W).

def _transpose_geom(x, w, y, y_name: str, stride, padding) -> Geom:
    require_ndim(x, "x", 4)
    require_ndim(w, "w", 4)
    require_ndim(y, y_name, 4)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} channels but the transposed-conv weight w {tuple(w.shape)} "
                         f"(C_in, C_out, KH, KW) expects {w.shape[0]}")
    check_window((w.shape[2], w.shape[3]), stride, padding)
    h, wd = x.shape[2], x.shape[3]
    if h < 1 or wd < 1:
        raise ValueError(f"transposed convolution needs H, W >= 1, got x {tuple(x.shape)}")
    base_h = (h - 1) * stride[0] - 2 * padding[0] + w.shape[2]
    base_w = (wd - 1) * stride[1] - 2 * padding[1] + w.shape[3]
    oph, opw = y.shape[2] - base_h, y.shape[3] - base_w
    if (y.shape[0] != x.shape[0] or y.shape[1] != w.shape[1] or not 0 <= oph < stride[0]
            or not 0 <= opw < stride[1] or y.shape[2] < 1 or y.shape[3] < 1):
        raise ValueError(f"{y_name} has shape {tuple(y.shape)}; a transposed convolution of x {tuple(x.shape)} "
                         f"by w {tuple(w.shape)} with stride {_pair_str(stride)} and padding {_pair_str(padding)} "
                         f"gives (N, C_out, {base_h} + oph, {base_w} + opw) with 0 <= output_padding < stride")
    g = window_geom(y.shape, y_name, (w.shape[2], w.shape[3]), stride, padding)
    assert (g.oh, g.ow) == (h, wd)  # follows from the checks above
    return g


def conv_transpose2d_forward(x, w, b, y, stride, padding) -> None:
    """y = conv_transpose2d(x, w) + b; y's shape fixes output_padding."""
    import cupy

    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_in(w, "w", dt)
    check_out(y, "y", dt)
    g = _transpose_geom(x, w, y, "y", stride, padding)
    _check_bias(b, "b", dt, w.shape[1])
    c_in, k, p = x.shape[1], g.rows, g.plane_out
    if g.n == 0 or g.c == 0 or g.h * g.w == 0:
        return
    if c_in == 0:  # nothing to scatter: y = bias
        _channel_bias(y, b, g.n, g.c, g.h * g.w, False)
        return
    w2d = w.reshape(c_in, k)
    per = samples_per_chunk(g, x.itemsize)
    xcm = cupy.empty(c_in * per * p, dtype=dt)
    dcols = cupy.empty(k * per * p, dtype=dt)
    for s0, nb in _chunks(g.n, per):
        x_cm = xcm[:c_in * nb * p].reshape(c_in, nb * p)
        _to_channel_major(x[s0:s0 + nb], x_cm, nb, c_in, p)
        d = dcols[:k * nb * p].reshape(k, nb * p)
        cupy.matmul(w2d.T, x_cm, out=d)
        _col2im(d, y[s0:s0 + nb], b, g.with_n(nb), p, nb * p)


def conv_transpose2d_backward(dy, x, w, dx, dw, db, stride, padding) -> None:
    """Gradients of conv_transpose2d_forward into dx (or None), dw, db (or None)."""
    import cupy

    dt = float_dtype(x, "x")
    check_in(dy, "dy", dt)
    check_in(x, "x", dt)
    check_in(w, "w", dt)
    check_out(dw, "dw", dt)
    g = _transpose_geom(x, w, dy, "dy", stride, padding)
    require_same_shape(w, "w", dw, "dw")
    if dx is not None:
        check_out(dx, "dx", dt)
        require_same_shape(x, "x", dx, "dx")
    if db is not None:
        check_out(db, "db", dt)
        require_shape(db, "db", (w.shape[1],))
    c_in, k, p = x.shape[1], g.rows, g.plane_out
    if db is not None:
        channel_sums(dy, db, g.n, g.c, g.h * g.w)
    if c_in == 0 or k == 0:
        if dx is not None:
            fill_zero(dx)
        return
    if g.n * p == 0:
        fill_zero(dw)
        return
    w2d, dw2d = w.reshape(c_in, k), dw.reshape(c_in, k)
    per = samples_per_chunk(g, x.itemsize)
    colsb = cupy.empty(k * per * p, dtype=dt)
    xcm = cupy.empty(c_in * per * p, dtype=dt)
    for s0, nb in _chunks(g.n, per):
        cols_c = colsb[:k * nb * p].reshape(k, nb * p)
        _im2col(dy[s0:s0 + nb], cols_c, g.with_n(nb), p, nb * p)
        x_cm = xcm[:c_in * nb * p].reshape(c_in, nb * p)
        if dx is not None:  # dx = conv2d(dy, w): (C_in, NB*P) = W (C_in, K) @ cols
            cupy.matmul(w2d, cols_c, out=x_cm)
            _from_channel_major(x_cm, dx[s0:s0 + nb], None, nb, c_in, p)
        _to_channel_major(x[s0:s0 + nb], x_cm, nb, c_in, p)
        _accumulate_product(x_cm, cols_c, dw2d, s0 == 0)
