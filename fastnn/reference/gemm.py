"""GEMM in plain NumPy (the definition; the benchmarks' NumPy baseline)."""
from __future__ import annotations

import numpy as np


def gemm(a, b, *, trans_a=False, trans_b=False, bias=None, out=None, beta=0.0):
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    result = opa @ opb
    if bias is not None:
        result = result + bias
    if out is not None:
        if beta != 0.0:
            result = result + beta * out
        out[...] = result
        return out
    return result.astype(a.dtype, copy=False)
