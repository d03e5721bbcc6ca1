"""Backend choice and the input handling every op shares.

One place decides the backend: NumPy arrays go to the C++ extension, CuPy arrays to
``fastnn.cuda``. Inputs that are not C-contiguous are copied explicitly here (an input copy
loses nothing); outputs given with ``out=`` must already be C-contiguous, of the right dtype
and shape, because writing into a hidden copy would lose the result.
"""
from __future__ import annotations

import numpy as np

from .. import _core

_CACHE_MIN_BYTES = _core.cache_stats()["min_block_bytes"]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def get_array_module(*arrays):
    """``numpy`` or ``cupy``, from the arrays given (Chainer/CuPy style)."""
    for a in arrays:
        if a is not None and type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def is_cupy(x) -> bool:
    return type(x).__module__.startswith("cupy")


def check_float(x, name: str):
    """x must be a NumPy (or CuPy) array of float32 or float64; returns its dtype."""
    if not isinstance(x, np.ndarray) and not is_cupy(x):
        raise TypeError(f"{name} must be a numpy.ndarray (or cupy.ndarray), got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {x.dtype}")
    return x.dtype


def same_dtype(ref, ref_name: str, x, name: str) -> None:
    check_float(x, name)
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {ref_name} has dtype {ref.dtype}; "
                        "fastnn never converts silently, cast one of them")


def same_shape(ref, ref_name: str, x, name: str) -> None:
    if x.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {ref.shape}, got {x.shape}")


def contiguous(x):
    """A C-contiguous view of x, copying only when needed (inputs only)."""
    if x.flags.c_contiguous:
        return x  # also keeps 0-d arrays 0-d (ascontiguousarray would make them 1-d)
    if is_cupy(x):
        import cupy

        return cupy.ascontiguousarray(x)
    return np.ascontiguousarray(x)


def backend(*arrays):
    """The module that runs kernels for these arrays: ``fastnn._core`` for NumPy arrays,
    ``fastnn.cuda`` for CuPy arrays. Both expose the same kernel functions. Mixing the two
    is an error (fastnn never moves data between devices silently)."""
    for a in arrays:
        if a is not None and type(a) is not np.ndarray:
            break
    else:  # all NumPy (the common case, without the set below)
        return _core
    kinds = {is_cupy(a) for a in arrays if a is not None}
    if len(kinds) > 1:
        raise TypeError("inputs mix numpy and cupy arrays; move them to one device first")
    if kinds == {True}:
        from .. import cuda

        return cuda
    return _core


def empty(shape, dtype, xp=np):
    """An uninitialised C-contiguous result array (``xp``: numpy or cupy).

    Large NumPy results come from the native block cache (``fastnn._core.empty``): a training
    loop allocates the same arrays every step, and reusing their memory saves the page faults
    that freshly mapped memory costs (see csrc/kernels/block_cache.h). Small ones are plain
    ``numpy.empty``, which is faster for them.
    """
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    count = 1
    for s in shape:
        count *= s
    if count * dtype.itemsize < _CACHE_MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    return _core.empty(shape, dtype)


def unaliased(x, out, *, in_place_ok: bool = True):
    """x, or a copy of it when it shares memory with the caller's ``out`` array (None: no check,
    the op allocates its result).

    The native kernels read their inputs while they write ``out``; an input that overlaps
    ``out`` only partly (a shifted view of the same buffer, an input that is a slice of out)
    would be read after parts of it were overwritten: a silently wrong result. Such an input
    is copied here (an input copy loses nothing). With ``in_place_ok``, an input that is exactly
    ``out`` (same first element, shape and strides: an element-wise in-place op) is kept, as
    the element-wise and row-wise kernels read each element before writing it.
    """
    if out is None or x is None or not isinstance(x, np.ndarray) or not isinstance(out, np.ndarray):
        return x
    if not np.may_share_memory(x, out):
        return x
    if (in_place_ok and x.shape == out.shape and x.strides == out.strides
            and x.__array_interface__["data"][0] == out.__array_interface__["data"][0]):
        return x
    return x.copy()


def out_array(out, shape, dtype, name: str = "out", xp=np):
    """Validate a caller's ``out=`` array, or allocate a fresh one (``xp``: numpy or cupy)."""
    if out is None:
        return empty(shape, dtype, xp)
    if not isinstance(out, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__}.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous: results are written in place, never into a copy")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable")
    return out
