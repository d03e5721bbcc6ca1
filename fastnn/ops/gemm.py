"""General matrix multiply: the heart of Dense and Conv layers."""
from __future__ import annotations

from ._dispatch import backend, check_float, contiguous, get_array_module, same_dtype

__all__ = ["gemm"]


def gemm(a, b, *, trans_a: bool = False, trans_b: bool = False, bias=None, out=None, beta: float = 0.0):
    """``op(a) @ op(b) (+ bias) (+ beta * out)`` with op = transpose when asked.

    Args:
        a: (M, K), or (K, M) with ``trans_a``. b: (K, N), or (N, K) with ``trans_b``.
        bias: optional (N,) added to every row.
        out: optional (M, N) C-contiguous array written in place; with ``beta != 0`` its old
            contents are scaled by beta and added (BLAS semantics: beta = 0 ignores them).
    Transposed operands are read in place (no copy) as long as the stored array is C-contiguous.
    """
    check_float(a, "a")
    same_dtype(a, "a", b, "b")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm needs 2-D operands, got a.ndim={a.ndim}, b.ndim={b.ndim}")
    a, b = contiguous(a), contiguous(b)
    m = a.shape[1] if trans_a else a.shape[0]
    ka = a.shape[0] if trans_a else a.shape[1]
    kb = b.shape[1] if trans_b else b.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    if ka != kb:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {m}x{ka}, op(b) is {kb}x{n} "
                         f"(a{a.shape}, trans_a={trans_a}; b{b.shape}, trans_b={trans_b})")
    if bias is not None:
        same_dtype(a, "a", bias, "bias")
        bias = contiguous(bias)
    beta = float(beta)
    xp = get_array_module(a)
    if out is None:
        if beta != 0.0:
            raise ValueError(f"gemm: beta={beta} needs an out= array to scale")
        out = xp.empty((m, n), dtype=a.dtype)
    elif not isinstance(out, xp.ndarray):
        raise TypeError(f"out must be a {xp.__name__}.ndarray, got {type(out).__name__}")
    backend(a, b, out, bias).gemm(a, b, out, trans_a, trans_b, 1.0, beta, bias)
    return out
