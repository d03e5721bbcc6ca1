"""General matrix multiply: the heart of Dense and Conv layers."""
from __future__ import annotations

import numpy as np

from .. import _core
from ._dispatch import check_float, contiguous, gpu_not_available, is_cupy, out_array, same_dtype

__all__ = ["gemm"]


def _in_place_operand(x: np.ndarray, trans: bool):
    """(array, trans) that the native GEMM reads without a copy, equal to op(x).

    The kernel reads rows with adjacent elements at any positive row stride (a column slice of
    a bigger matrix is read in place). A transposed view of such an array (e.g. ``w.T``) is
    passed as its base with the transpose flag flipped, also without a copy. Any other layout
    is copied once here (inputs only; a copy of an input loses nothing).
    """
    def readable(v):
        rows, cols = v.shape
        if v.size == 0:
            return True
        inner_ok = cols <= 1 or v.strides[1] == v.itemsize
        outer_ok = rows <= 1 or (v.strides[0] > 0 and v.strides[0] % v.itemsize == 0
                                 and v.strides[0] // v.itemsize >= cols)
        return inner_ok and outer_ok

    if readable(x):
        return x, trans
    if readable(x.T):
        return x.T, not trans
    return contiguous(x), trans


def gemm(a, b, *, trans_a: bool = False, trans_b: bool = False, bias=None, out=None, beta: float = 0.0):
    """``op(a) @ op(b) (+ bias) (+ beta * out)`` with op = transpose when asked.

    ``C = op(a) @ op(b) + bias + beta * C``, accumulated in the dtype of the inputs (float32 or
    float64) by the blocked native kernel; the result does not depend on the thread count.

    Args:
        a: (M, K), or (K, M) with ``trans_a``. b: (K, N), or (N, K) with ``trans_b``.
        bias: optional (N,) added to every row.
        out: optional (M, N) C-contiguous array written in place; with ``beta != 0`` its old
            contents are scaled by beta and added (BLAS semantics: beta = 0 ignores them, NaN
            included). It must not share memory with a, b or bias.
        beta: scale of the old ``out``; needs ``out``.
    Returns:
        The (M, N) result (``out`` when given).

    Transposed operands are read in place (no copy), as are column slices and transposed views;
    other layouts of a and b are copied once.
    """
    check_float(a, "a")
    same_dtype(a, "a", b, "b")
    if is_cupy(a):
        gpu_not_available("gemm")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm needs 2-D operands, got a.ndim={a.ndim}, b.ndim={b.ndim}")
    m = a.shape[1] if trans_a else a.shape[0]
    ka = a.shape[0] if trans_a else a.shape[1]
    kb = b.shape[1] if trans_b else b.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    if ka != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {m}x{ka}, op(b) is {kb}x{n} "
                         f"(a{a.shape}, trans_a={trans_a}; b{b.shape}, trans_b={trans_b})")
    if bias is not None:
        same_dtype(a, "a", bias, "bias")
        if bias.shape != (n,):
            raise ValueError(f"gemm: bias must have shape ({n},), got {bias.shape}")
        bias = contiguous(bias)
    beta = float(beta)
    if out is None and beta != 0.0:
        raise ValueError(f"gemm: beta={beta} needs an out= array to scale")
    out = out_array(out, (m, n), a.dtype)
    a, trans_a = _in_place_operand(a, bool(trans_a))
    b, trans_b = _in_place_operand(b, bool(trans_b))
    _core.gemm(a, b, out, trans_a, trans_b, 1.0, beta, bias)
    return out
