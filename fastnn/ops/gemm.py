"""General matrix multiply: the heart of Dense and Conv layers."""
from __future__ import annotations

import numpy as np

from .. import _core
from ._dispatch import FLOAT_DTYPES, check_float, contiguous, empty, is_cupy, same_dtype

__all__ = ["gemm"]


def _readable(v) -> bool:
    """True when the native kernel reads the 2-D array v in place: adjacent elements along its
    rows, rows at any positive stride (a column slice of a bigger matrix qualifies)."""
    rows, cols = v.shape
    if rows == 0 or cols == 0:
        return True
    s0, s1 = v.strides
    item = v.itemsize
    return (cols == 1 or s1 == item) and (rows == 1 or (s0 > 0 and s0 % item == 0 and s0 // item >= cols))


def _in_place_operand(x: np.ndarray, trans: bool):
    """(array, trans) that the native GEMM reads without a copy, equal to op(x).

    A transposed view of a readable array (e.g. ``w.T``) is passed as its base with the
    transpose flag flipped, also without a copy. Any other layout is copied once here (inputs
    only; a copy of an input loses nothing).
    """
    if _readable(x):
        return x, trans
    if _readable(x.T):
        return x.T, not trans
    return contiguous(x), trans


_ACTIVATIONS = (None, "relu", "tanh")


def gemm(a, b, *, trans_a: bool = False, trans_b: bool = False, bias=None, out=None, beta: float = 0.0,
         activation=None):
    """``act(op(a) @ op(b) (+ bias) (+ beta * out))`` with op = transpose when asked.

    ``C = act(op(a) @ op(b) + bias + beta * C)``, accumulated in the dtype of the inputs (float32
    or float64) by the blocked native kernel; the result does not depend on the thread count.

    Args:
        a: (M, K), or (K, M) with ``trans_a``. b: (K, N), or (N, K) with ``trans_b``.
        bias: optional (N,) added to every row.
        out: optional (M, N) C-contiguous array written in place; with ``beta != 0`` its old
            contents are scaled by beta and added (BLAS semantics: beta = 0 ignores them, NaN
            included). It must not share memory with a, b or bias.
        beta: scale of the old ``out``; needs ``out``.
        activation: None, "relu" (``max(C, 0)``, NaN kept) or "tanh" (the bits of
            ``fastnn.ops.tanh`` of the product), applied as each tile is stored (a fused
            epilogue: no second pass over C).
    Returns:
        The (M, N) result (``out`` when given).

    Transposed operands are read in place (no copy), as are column slices and transposed views;
    other layouts of a and b are copied once. Shapes, dtypes and ``out`` are checked by the
    native binding, which names the offending value.
    """
    if not (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == b.dtype and a.dtype in FLOAT_DTYPES):
        # (the common case skips these: a small product costs only a few microseconds)
        check_float(a, "a")
        same_dtype(a, "a", b, "b")
        if is_cupy(a) or is_cupy(b):
            return _gemm_gpu(a, b, trans_a, trans_b, bias, out, beta, activation)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm needs 2-D operands, got a.ndim={a.ndim}, b.ndim={b.ndim}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"gemm: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    trans_a, trans_b = bool(trans_a), bool(trans_b)
    if bias is not None:
        same_dtype(a, "a", bias, "bias")
        bias = contiguous(bias)
    beta = float(beta)
    if out is None:
        if beta != 0.0:
            raise ValueError(f"gemm: beta={beta} needs an out= array to scale")
        out = empty((a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1]), a.dtype)
    elif not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if not _readable(a):
        a, trans_a = _in_place_operand(a, trans_a)
    if not _readable(b):
        b, trans_b = _in_place_operand(b, trans_b)
    _core.gemm(a, b, out, trans_a, trans_b, 1.0, beta, bias, activation == "relu", activation == "tanh")
    return out


def _gemm_gpu(a, b, trans_a, trans_b, bias, out, beta, activation=None):
    """CuPy operands: cuBLAS through fastnn.cuda (same semantics as the CPU path)."""
    from ._dispatch import backend

    import cupy

    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm needs 2-D operands, got a.ndim={a.ndim}, b.ndim={b.ndim}")
    if bias is not None:
        same_dtype(a, "a", bias, "bias")
    beta = float(beta)
    m, n = (a.shape[1] if trans_a else a.shape[0]), (b.shape[0] if trans_b else b.shape[1])
    if out is None:
        if beta != 0.0:
            raise ValueError(f"gemm: beta={beta} needs an out= array to scale")
        out = cupy.empty((m, n), dtype=a.dtype)
    if activation not in _ACTIVATIONS:
        raise ValueError(f"gemm: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    backend(a, b, out, bias).gemm(a, b, out, bool(trans_a), bool(trans_b), 1.0, beta, bias,
                                  activation == "relu", activation == "tanh")
    return out
