"""Loading and launching the CUDA kernels, and the argument checks every GPU entry point shares.

The wrappers in this package are the GPU twin of ``csrc/bindings.cpp``: the kernels trust their
sizes, so every entry point checks device, dtype, C-contiguity and shapes first and raises
TypeError/ValueError naming the offending value. Kernel arguments are always NumPy scalars of
the exact C type of the parameter (CuPy packs an argument by its own type, not by the kernel's
signature) and C-contiguous CuPy arrays (CuPy passes only the data pointer); a null pointer is
``NULL`` (CuPy turns ``None`` into 0xffffffff, not a null pointer).
"""
from __future__ import annotations

import pathlib
import re

import numpy as np

BLOCK = 256          # threads per block
MAX_GRID = 65535     # blocks per launch at most: kernels are grid-stride loops, so any grid covers the work
NULL = np.uint64(0)  # a null pointer argument

# Partial sums (csrc/cuda/common.cuh): about this many values per partial, at most this many
# partials per channel. A function of the count only, so the summation order never changes.
VALUES_PER_PARTIAL = 32
MAX_PARTIALS = 4096

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"[ \t]*$', re.MULTILINE)


def source_dir() -> pathlib.Path:
    """Where the .cu sources are: next to this file when installed, csrc/cuda in a checkout."""
    here = pathlib.Path(__file__).resolve().parent
    for candidate in (here, here.parent.parent / "csrc" / "cuda"):
        if (candidate / "common.cuh").is_file():
            return candidate
    raise FileNotFoundError(f"fastnn CUDA sources (common.cuh) not found next to {here} or in csrc/cuda")


def kernel_source(name: str = "activations.cu") -> str:
    """The text of one CUDA source file, as shipped."""
    path = source_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"CUDA source {name} not found in {path.parent}")
    return path.read_text()


def module_source(name: str) -> str:
    """The source NVRTC compiles: the file with each ``#include "x.cuh"`` replaced by x.cuh's text
    (the headers are fastnn's own). Pasting rather than passing -I keeps CuPy's kernel cache, which
    is keyed on the source text, correct when only a header changes."""
    seen: set[str] = set()

    def paste(match: re.Match) -> str:
        header = match.group(1)
        if header in seen:  # include guards would drop it anyway
            return ""
        seen.add(header)
        return _INCLUDE.sub(paste, kernel_source(header))

    return _INCLUDE.sub(paste, kernel_source(name))


_modules: dict = {}


def module(name: str):
    """The compiled cupy.RawModule of one source file (compiled once per process and CuPy module)."""
    import cupy

    key = (id(cupy), name)
    if key not in _modules:
        _modules[key] = cupy.RawModule(code=module_source(name), options=("--std=c++17",))
    return _modules[key]


def grid(work: int) -> int:
    return max(1, min(MAX_GRID, (work + BLOCK - 1) // BLOCK))


def launch(source: str, kernel: str, work: int, *args) -> None:
    """Runs ``kernel`` of ``source`` with enough threads for `work` items (grid-stride: any count works)."""
    module(source).get_function(kernel)((grid(work),), (BLOCK,), args)


def partial_count(values: int) -> int:
    """Partials per channel for a sum over `values` values (csrc/cuda/common.cuh)."""
    return max(1, min(MAX_PARTIALS, -(-values // VALUES_PER_PARTIAL)))


def suffix(dtype) -> str:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return "f32"
    if dtype == np.float64:
        return "f64"
    raise TypeError(f"fastnn.cuda kernels take float32 or float64, got {dtype}")


def scalar(dtype):
    """The NumPy scalar type of a kernel's T parameter for arrays of `dtype`."""
    return np.float32 if np.dtype(dtype) == np.float32 else np.float64


def i64(value) -> np.int64:
    return np.int64(value)


def i32(value) -> np.int32:
    return np.int32(value)


def ptr(a):
    """An optional array argument: the array, or NULL."""
    return NULL if a is None else a


# ---------------------------------------------------------------------------------------------
# Argument checks (the messages follow csrc/bindings.cpp).

def is_device_array(a) -> bool:
    return type(a).__module__.startswith("cupy") and hasattr(a, "dtype")


def device_array(a, name: str):
    if not is_device_array(a):
        raise TypeError(f"{name} must be a cupy.ndarray (fastnn.cuda runs on the GPU), got "
                        f"{type(a).__module__}.{type(a).__name__}")
    return a


def float_dtype(a, name: str):
    device_array(a, name)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    return a.dtype


def check_in(a, name: str, dtype) -> None:
    """An input: a C-contiguous CuPy array of `dtype`."""
    device_array(a, name)
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)} like the other operands, got {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (fastnn.ops copies inputs explicitly; got a "
                         f"non-contiguous array of shape {tuple(a.shape)})")


check_out = check_in  # CuPy arrays are always writable


def require_shape(a, name: str, shape) -> None:
    shape = tuple(int(s) for s in shape)
    if tuple(a.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(a.shape)}")


def require_same_shape(a, a_name: str, b, b_name: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{b_name} must have the shape of {a_name} {tuple(a.shape)}, got {tuple(b.shape)}")


def require_ndim(a, name: str, ndim: int) -> None:
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {a.ndim}-D array of shape {tuple(a.shape)}")


def value_str(v: float) -> str:
    return f"{v:.9g}"


# ---------------------------------------------------------------------------------------------
# Reductions used by several ops (csrc/cuda/reduce.cu).

def channel_sums(x, out, n: int, c: int, hw: int) -> None:
    """out[ch] = sum of channel ch of the (N, C, HW) array x, in double, in a fixed order."""
    import cupy

    parts = partial_count(n * hw)
    part = cupy.empty(c * parts, dtype=np.float64)
    sfx = suffix(x.dtype)
    launch("reduce.cu", f"channel_sum_partials_{sfx}", c * parts, x, part, i64(n), i64(c), i64(hw), i64(parts))
    launch("reduce.cu", f"finish_channel_sums_{sfx}", c, part, out, i64(c), i64(parts))


def total(values) -> float:
    """The sum of a float64 CuPy vector in a fixed order, as a Python float (a device sync)."""
    import cupy

    out = cupy.empty(1, dtype=np.float64)
    channel_sums(values, out, 1, 1, values.size)
    return float(out.get()[0])


def first_outside(values, lo, hi) -> int:
    """The first flat index whose value is outside [lo, hi) (int64 values) or [lo, hi] (floats; NaN
    counts as outside), or -1. A device sync."""
    import cupy

    n = values.size
    parts = partial_count(n)
    part = cupy.empty(parts, dtype=np.int64)
    if values.dtype == np.int64:
        launch("reduce.cu", "first_outside_i64", parts, values, i64(n), i64(lo), i64(hi), part, i64(parts))
    else:
        launch("reduce.cu", f"first_outside_{suffix(values.dtype)}", parts, values, i64(n), np.float64(lo),
               np.float64(hi), part, i64(parts))
    out = cupy.empty(1, dtype=np.int64)
    launch("reduce.cu", "finish_first", 1, part, out, i64(parts))
    first = int(out.get()[0])
    return -1 if first >= n else first


def fill_zero(a) -> None:
    """a[...] = 0 through conv.cu's channel_bias kernel (no bias, not accumulating)."""
    launch("conv.cu", f"channel_bias_{suffix(a.dtype)}", a.size, a, NULL, i64(1), i64(1), i64(a.size), i32(0))
