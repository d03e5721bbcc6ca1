"""Matrix products on the GPU: cuBLAS through cupy.matmul (same signature as fastnn._core.gemm)."""
from __future__ import annotations

from ._launch import float_dtype, device_array, require_ndim


def gemm(a, b, out, trans_a: bool = False, trans_b: bool = False, alpha: float = 1.0, beta: float = 0.0,
         bias=None, relu: bool = False, tanh: bool = False) -> None:
    """out = alpha * op(a) @ op(b) (+ bias per row) (+ beta * out), then ReLU if relu, tanh if tanh
    (by this module's tanh activation kernel, as fastnn.ops.tanh would apply it).

    op(a), op(b) may be any CuPy layout (cuBLAS reads transposed views in place); out must be a
    C-contiguous (M, N) array of their dtype that does not overlap them.
    """
    import cupy

    if relu and tanh:
        raise ValueError("gemm: relu and tanh are exclusive activations, got both")
    dt = float_dtype(a, "a")
    for v, name in ((b, "b"), (out, "out")) + (((bias, "bias"),) if bias is not None else ()):
        device_array(v, name)
        if v.dtype != dt:
            raise TypeError(f"{name} must have dtype {dt} like a, got {v.dtype}")
    require_ndim(a, "a", 2)
    require_ndim(b, "b", 2)
    require_ndim(out, "out", 2)
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    if opa.shape[1] != opb.shape[0]:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {opa.shape[0]}x{opa.shape[1]} (a {tuple(a.shape)}"
                         f"{', transposed' if trans_a else ''}) but op(b) is {opb.shape[0]}x{opb.shape[1]} "
                         f"(b {tuple(b.shape)}{', transposed' if trans_b else ''})")
    m, n = opa.shape[0], opb.shape[1]
    if tuple(out.shape) != (m, n):
        raise ValueError(f"gemm: out must have shape {(m, n)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError("gemm: out must be C-contiguous: the product is written in place")
    if bias is not None and tuple(bias.shape) != (n,):
        raise ValueError(f"gemm: bias must have shape ({n},), got {tuple(bias.shape)}")
    old = out * beta if beta != 0.0 else None
    cupy.matmul(opa, opb, out=out)
    if alpha != 1.0:
        out *= alpha
    if old is not None:
        out += old
    if bias is not None:
        out += bias
    if relu:
        cupy.maximum(out, 0, out=out)
    if tanh:
        from .activations import activation_forward

        activation_forward("tanh", out, out)
