"""GEMM in plain NumPy (the definition; the benchmarks' NumPy baseline)."""
from __future__ import annotations

import numpy as np


def gemm(a, b, *, trans_a=False, trans_b=False, bias=None, out=None, beta=0.0, activation=None):
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    result = opa @ opb
    if bias is not None:
        result = result + bias
    if out is not None and beta != 0.0:
        result = result + beta * out
    if activation == "relu":
        result = np.where((result > 0) | np.isnan(result), result, result.dtype.type(0))  # NaN stays NaN
    elif activation == "tanh":
        result = np.tanh(result)
    elif activation is not None:
        raise ValueError(f"gemm: activation must be None, 'relu' or 'tanh', got {activation!r}")
    if out is not None:
        out[...] = result
        return out
    return result.astype(a.dtype, copy=False)
