"""The GPU backend: CuPy arrays in, CuPy arrays out.

Matrix products go to cuBLAS through CuPy; the other kernels are CUDA C++ in
``csrc/cuda/*.cu`` (installed next to this file), compiled at first use by
``cupy.RawModule`` (NVRTC). ``fastnn.ops`` calls in here when its inputs are ``cupy.ndarray``.
On machines without CuPy or a device, importing this module works and ``available()`` says no.
"""
from __future__ import annotations

import functools
import pathlib

import numpy as np

ACT_IDS = {"step": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softplus": 5, "swish": 6, "elu": 7}
_BLOCK = 256
_MAX_GRID = 65535


def available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def kernel_source(name: str = "activations.cu") -> str:
    """The CUDA source, from the installed package or (in a source checkout) from csrc/cuda."""
    here = pathlib.Path(__file__).resolve().parent
    for candidate in (here / name, here.parent.parent / "csrc" / "cuda" / name):
        if candidate.is_file():
            return candidate.read_text()
    raise FileNotFoundError(f"CUDA source {name} not found next to {here} or in csrc/cuda")


@functools.lru_cache(maxsize=None)
def _module(name: str):
    import cupy

    return cupy.RawModule(code=kernel_source(name), options=("--std=c++17",))


def _suffix(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return "f32"
    if dtype == np.float64:
        return "f64"
    raise TypeError(f"fastnn.cuda kernels take float32 or float64, got {dtype}")


def _grid(n: int) -> int:
    return max(1, min(_MAX_GRID, (n + _BLOCK - 1) // _BLOCK))


def activation_forward(name: str, x, out, p0: float, p1: float) -> None:
    sfx = _suffix(x.dtype)
    scalar = np.float32 if sfx == "f32" else np.float64
    kern = _module("activations.cu").get_function(f"act_forward_{sfx}")
    kern((_grid(x.size),), (_BLOCK,), (x, out, np.int64(x.size), np.int32(ACT_IDS[name]), scalar(p0), scalar(p1)))


def activation_backward(name: str, dy, saved, out, p0: float, p1: float) -> None:
    sfx = _suffix(dy.dtype)
    scalar = np.float32 if sfx == "f32" else np.float64
    kern = _module("activations.cu").get_function(f"act_backward_{sfx}")
    kern((_grid(dy.size),), (_BLOCK,),
         (dy, saved, out, np.int64(dy.size), np.int32(ACT_IDS[name]), scalar(p0), scalar(p1)))


def softmax_forward(x, out, log: bool) -> None:
    cols = x.shape[-1]
    rows = x.size // cols if cols else 0
    kern = _module("activations.cu").get_function(f"softmax_forward_{_suffix(x.dtype)}")
    kern((_grid(rows),), (_BLOCK,), (x, out, np.int64(rows), np.int64(cols), np.int32(bool(log))))


def softmax_backward(dy, y, out, log: bool) -> None:
    cols = dy.shape[-1]
    rows = dy.size // cols if cols else 0
    kern = _module("activations.cu").get_function(f"softmax_backward_{_suffix(dy.dtype)}")
    kern((_grid(rows),), (_BLOCK,), (dy, y, out, np.int64(rows), np.int64(cols), np.int32(bool(log))))


def gemm(a, b, out, trans_a: bool, trans_b: bool, alpha: float, beta: float, bias) -> None:
    """out = alpha * op(a) @ op(b) (+ bias) (+ beta * out), by cuBLAS through CuPy
    (the same signature as fastnn._core.gemm)."""
    import cupy

    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    old = out * beta if beta != 0.0 else None
    cupy.matmul(opa, opb, out=out)
    if alpha != 1.0:
        out *= alpha
    if old is not None:
        out += old
    if bias is not None:
        out += bias
