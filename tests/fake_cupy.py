"""A test-only stand-in for CuPy whose "device" is host memory and whose kernels are the real CUDA
kernels, run by the emulator (tests/cuda_emulation.py). Never shipped.

Installed as ``sys.modules["cupy"]`` by the ``cp`` fixture, it lets the real path
``fastnn.ops`` -> ``fastnn.cuda`` -> ``RawModule(...).get_function(name)(grid, block, args)`` run
end to end on a machine without a GPU: argument order, C types, dtype suffixes, grid sizes and
output allocation are all exercised. What it does, and why it is faithful:
- ``RawModule(code=...).get_function(name)`` launches the emulated kernel of that name with the
  wrapper's own grid and block, checking every argument against the kernel's C signature
  (Emulator.launch); the name must belong to the source the module was built from. There is
  no NumPy fallback for any kernel: a kernel missing from the emulator is an error.
- Device arrays wrap NumPy arrays in guarded allocations: ``empty`` fills them with 0xFF bytes
  (NaN for floats), so reading an element nobody wrote shows up, and 64 guard bytes before and
  after every allocation are checked after each launch, so a kernel writing out of bounds fails.
- As in CuPy, a device array never turns into a NumPy array implicitly (``np.asarray(x)``
  raises; ``.get()`` / ``asnumpy`` copy), and passing a host array or ``None`` to a kernel is an
  error (CuPy would pass garbage).
- What stands in for CuPy's own library code is NumPy: ``matmul`` (cuBLAS), arithmetic and
  comparisons between arrays, ``ascontiguousarray``, reductions like ``max`` and ``sum``, the
  array routines the layers use (``concatenate``, ``moveaxis``, ``clip``, ``copyto``, ...).
  fastnn's kernels are never among them. Like CuPy's, these refuse host arrays as operands
  (``cupy_array[...] = numpy_array`` fails in CuPy too: upload with ``asarray`` first).
``settings`` selects the emulated thread order and can force another launch configuration (the
kernels are grid-stride loops, so results must not change); ``launches`` records kernel names.
"""
from __future__ import annotations

import re
import types

import numpy as np

GUARD = 64          # bytes before and after every allocation
GUARD_BYTE = 0xA5
UNWRITTEN = 0xFF    # what empty() memory holds: NaN in every float lane

settings = types.SimpleNamespace(emulator=None, order=0, launch=None)
launches: list[str] = []


class _Allocation:
    """One device allocation: the array's bytes between two guard regions."""

    def __init__(self, nbytes: int):
        self.raw = np.full(nbytes + 2 * GUARD, GUARD_BYTE, dtype=np.uint8)
        self.raw[GUARD:GUARD + nbytes] = UNWRITTEN
        self.nbytes = nbytes

    def check_guards(self, kernel: str) -> None:
        if (self.raw[:GUARD] != GUARD_BYTE).any() or (self.raw[GUARD + self.nbytes:] != GUARD_BYTE).any():
            raise AssertionError(f"kernel {kernel} wrote outside an array of {self.nbytes} bytes")


def _allocate(shape, dtype) -> "ndarray":
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    count = int(np.prod(shape, dtype=np.int64))
    alloc = _Allocation(count * dtype.itemsize)
    data = alloc.raw[GUARD:GUARD + count * dtype.itemsize].view(dtype).reshape(shape)
    return ndarray(data, alloc)


def _device_copy(values: np.ndarray) -> "ndarray":
    out = _allocate(values.shape, values.dtype)
    out._a[...] = values
    return out


def _host(v):
    """The NumPy value behind a device array (for the NumPy stand-ins of CuPy's library code)."""
    if isinstance(v, ndarray):
        return v._a
    if isinstance(v, np.ndarray):
        raise TypeError("a numpy.ndarray cannot be mixed with device arrays (fake CuPy, as CuPy: move it first)")
    return v


def _key(key):
    """An index with device arrays (alone or in a tuple) as their NumPy values (CuPy indexes
    with device arrays; host arrays would be an error there, and are here)."""
    if isinstance(key, tuple):
        return tuple(_host(k) if isinstance(k, ndarray) else k for k in key)
    return _host(key) if isinstance(key, ndarray) else key


def _wrap(result, base: "ndarray | None" = None):
    """A device array for a NumPy result: a view of base's allocation when it shares its memory."""
    if base is not None and isinstance(result, np.ndarray) and np.shares_memory(result, base._a):
        return ndarray(result, base._alloc)
    return _device_copy(np.asarray(result))


class ndarray:
    """A device array: a NumPy view into a guarded allocation."""

    __array_ufunc__ = None  # NumPy must defer to these methods, never convert

    def __init__(self, data: np.ndarray, alloc: _Allocation):
        self._a = data
        self._alloc = alloc

    # --- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T, self._alloc))

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake CuPy, as CuPy: use .get())")

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"fake_cupy.ndarray({self._a!r})"

    # --- views and copies
    def reshape(self, *shape):
        return _wrap(self._a.reshape(*shape), self)

    def ravel(self):
        return _wrap(self._a.ravel(), self)

    def transpose(self, *axes):
        return ndarray(self._a.transpose(*axes), self._alloc)

    def view(self, dtype):  # the same memory as another dtype (CuPy's ndarray.view)
        return ndarray(self._a.view(dtype), self._alloc)

    def __getitem__(self, key):
        return _wrap(self._a[_key(key)], self)

    def __setitem__(self, key, value):
        self._a[_key(key)] = _host(value)

    def get(self):
        return self._a.copy()

    def copy(self):
        return _device_copy(self._a)

    def astype(self, dtype, copy=True):
        return _device_copy(self._a.astype(dtype))

    def fill(self, value):
        self._a.fill(value)

    # --- scalars out (a device sync in CuPy)
    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __index__(self):
        return int(self._a)

    def item(self):
        return self._a.item()

    # --- reductions (CuPy's own kernels; NumPy here)
    def max(self, *args, **kwargs):
        return _wrap(self._a.max(*args, **kwargs))

    def min(self, *args, **kwargs):
        return _wrap(self._a.min(*args, **kwargs))

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduce_into(self._a.sum(axis=axis, dtype=dtype, keepdims=keepdims), out)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _reduce_into(self._a.mean(axis=axis, dtype=dtype, keepdims=keepdims), out)

    def clip(self, a_min, a_max, out=None):
        return clip(self, a_min, a_max, out)

    def argmax(self, axis=None):
        return _wrap(self._a.argmax(axis=axis))

    def dot(self, other):  # (cuBLAS's dot: a 0-d device array for two vectors)
        return _wrap(self._a.dot(_host(other)))

    def any(self, axis=None):
        return _wrap(self._a.any(axis=axis))

    def all(self, axis=None):
        return _wrap(self._a.all(axis=axis))


def _reduce_into(result, out):
    """A reduction's result, written into the device array out when given (CuPy's out=)."""
    if out is None:
        return _wrap(result)
    if not isinstance(out, ndarray):
        raise TypeError(f"out must be a device array, got {type(out).__name__}")
    out._a[...] = result
    return out


def _binary(op):
    def forward(self, other):
        return _wrap(op(self._a, _host(other)))

    def reflected(self, other):
        return _wrap(op(_host(other), self._a))

    def in_place(self, other):
        self._a[...] = op(self._a, _host(other))
        return self

    return forward, reflected, in_place


for _name, _op in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("pow", np.power), ("floordiv", np.floor_divide), ("mod", np.mod)):
    _f, _r, _i = _binary(_op)
    setattr(ndarray, f"__{_name}__", _f)
    setattr(ndarray, f"__r{_name}__", _r)
    setattr(ndarray, f"__i{_name}__", _i)
for _name, _op in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                   ("gt", np.greater), ("ge", np.greater_equal), ("and", np.logical_and), ("or", np.logical_or)):
    setattr(ndarray, f"__{_name}__", _binary(_op)[0])
# a @ b (CuPy's ndarray has it: cuBLAS); no in-place form, as NumPy's and CuPy's
ndarray.__matmul__, ndarray.__rmatmul__ = _binary(np.matmul)[:2]
ndarray.__neg__ = lambda self: _wrap(-self._a)
ndarray.__invert__ = lambda self: _wrap(~self._a)
ndarray.__abs__ = lambda self: _wrap(np.abs(self._a))
ndarray.__hash__ = None
ndarray.__module__ = "cupy"  # what fastnn.ops dispatches on (CuPy's ndarray says the same)


# --- array creation and transfer
def empty(shape, dtype=np.float64):
    return _allocate(shape, dtype)


def empty_like(a, dtype=None):
    return _allocate(a.shape, a.dtype if dtype is None else dtype)


def zeros(shape, dtype=np.float64):
    out = _allocate(shape, dtype)
    out._a[...] = 0
    return out


def zeros_like(a, dtype=None):
    return zeros(a.shape, a.dtype if dtype is None else dtype)


def ones(shape, dtype=np.float64):
    out = _allocate(shape, dtype)
    out._a[...] = 1
    return out


def ones_like(a, dtype=None):
    return ones(a.shape, a.dtype if dtype is None else dtype)


def full(shape, fill_value, dtype=np.float64):
    out = _allocate(shape, dtype)
    out._a[...] = fill_value
    return out


def full_like(a, fill_value, dtype=None):
    out = _allocate(a.shape, a.dtype if dtype is None else dtype)
    out._a[...] = fill_value
    return out


def asarray(a, dtype=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return _device_copy(np.asarray(a, dtype=dtype))


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"fake cupy.ascontiguousarray needs a device array, got {type(a).__name__}")
    if a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
        return a
    return _device_copy(np.ascontiguousarray(a._a, dtype=dtype))


# --- CuPy's library functions: NumPy stands in for cuBLAS and CuPy's element-wise kernels
def matmul(a, b, out=None):
    if out is None:
        return _wrap(np.matmul(_host(a), _host(b)))
    if not isinstance(out, ndarray):
        raise TypeError("out must be a device array")
    np.matmul(_host(a), _host(b), out=out._a)
    return out


def _device_only(a, name):
    if not isinstance(a, ndarray):
        raise TypeError(f"fake cupy.{name} needs device arrays, got {type(a).__name__} (as CuPy: move it first)")
    return a._a


def concatenate(arrays, axis=0):
    return _device_copy(np.concatenate([_device_only(a, "concatenate") for a in arrays], axis=axis))


def moveaxis(a, source, destination):
    return ndarray(np.moveaxis(_device_only(a, "moveaxis"), source, destination), a._alloc)  # a view, as in CuPy


def tril(a, k=0):
    return _device_copy(np.tril(_device_only(a, "tril"), k))


def swapaxes(a, axis1, axis2):
    return ndarray(np.swapaxes(_device_only(a, "swapaxes"), axis1, axis2), a._alloc)  # a view, as in CuPy


def copyto(dst, src):
    np.copyto(_device_only(dst, "copyto"), _host(src))


def abs(a):  # noqa: A001 (CuPy's name)
    return _wrap(np.abs(_device_only(a, "abs")))


def sum(a, axis=None, dtype=None, out=None, keepdims=False):  # noqa: A001
    _device_only(a, "sum")
    return a.sum(axis=axis, dtype=dtype, out=out, keepdims=keepdims)


def clip(a, a_min, a_max, out=None):
    result = np.clip(_device_only(a, "clip"), _host(a_min), _host(a_max))
    return _reduce_into(result, out)


def maximum(a, b, out=None):
    if out is None:
        return _wrap(np.maximum(_host(a), _host(b)))
    np.maximum(_host(a), _host(b), out=out._a)
    return out


def minimum(a, b, out=None):
    if out is None:
        return _wrap(np.minimum(_host(a), _host(b)))
    np.minimum(_host(a), _host(b), out=out._a)
    return out


def where(condition, a, b):
    return _wrap(np.where(_host(condition), _host(a), _host(b)))


def argmax(a, axis=None):
    return _wrap(np.argmax(_device_only(a, "argmax"), axis=axis))


def arange(*args, dtype=None):
    return _wrap(np.arange(*args, dtype=dtype))


def exp(a):
    return _wrap(np.exp(_device_only(a, "exp")))


def expm1(a):
    return _wrap(np.expm1(_device_only(a, "expm1")))


def tanh(a):
    return _wrap(np.tanh(_device_only(a, "tanh")))


def log(a):
    return _wrap(np.log(_device_only(a, "log")))


def sqrt(a):
    return _wrap(np.sqrt(_device_only(a, "sqrt")))


def log1p(a):
    return _wrap(np.log1p(_device_only(a, "log1p")))


def sign(a):
    return _wrap(np.sign(_device_only(a, "sign")))


def isnan(a):
    return _wrap(np.isnan(_device_only(a, "isnan")))


def meshgrid(*xi, indexing="xy"):
    return [_wrap(m) for m in np.meshgrid(*[_device_only(x, "meshgrid") for x in xi], indexing=indexing)]


def stack(arrays, axis=0):
    return _wrap(np.stack([_device_only(a, "stack") for a in arrays], axis=axis))


def floor(a):
    return _wrap(np.floor(_device_only(a, "floor")))


def rint(a):
    return _wrap(np.rint(_device_only(a, "rint")))


def trunc(a):
    return _wrap(np.trunc(_device_only(a, "trunc")))


def fmod(a, b):
    return _wrap(np.fmod(_device_only(a, "fmod"), _host(b)))


def cumprod(a, axis=None, dtype=None):
    return _wrap(np.cumprod(_device_only(a, "cumprod"), axis=axis, dtype=dtype))


def bincount(x, weights=None, minlength=None):
    w = None if weights is None else _device_only(weights, "bincount")
    return _wrap(np.bincount(_device_only(x, "bincount"), weights=w, minlength=0 if minlength is None else minlength))


def take_along_axis(a, indices, axis):
    return _wrap(np.take_along_axis(_device_only(a, "take_along_axis"), _device_only(indices, "take_along_axis"), axis))


def _as_strided(a, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided: a view of a's memory (kept inside its allocation)."""
    view = np.lib.stride_tricks.as_strided(_device_only(a, "as_strided"), shape, strides)
    return ndarray(view, a._alloc)


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))
float32, float64, int64 = np.float32, np.float64, np.int64


def broadcast_to(a, shape):
    return _wrap(np.broadcast_to(_device_only(a, "broadcast_to"), shape))


def expand_dims(a, axis):
    return _wrap(np.expand_dims(_device_only(a, "expand_dims"), axis))


cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))


# --- kernels
class _Function:
    def __init__(self, module: "RawModule", name: str):
        self.module, self.name = module, name

    def __call__(self, grid, block, args, shared_mem=0):
        if not (isinstance(grid, tuple) and isinstance(block, tuple) and isinstance(args, tuple)):
            raise TypeError(f"{self.name}: grid, block and args must be tuples (CuPy's RawKernel call)")
        for dims, what, limit in ((grid, "grid", 2**31 - 1), (block, "block", 1024)):
            if not 1 <= len(dims) <= 3 or any(type(d) is not int or d < 1 for d in dims):
                raise ValueError(f"{self.name}: {what} must be 1 to 3 positive ints, got {dims}")
            if dims[0] > limit or any(d != 1 for d in dims[1:]):
                raise ValueError(f"{self.name}: fastnn launches 1-D {what}s of at most {limit}, got {dims}")
        if shared_mem:
            raise ValueError(f"{self.name}: fastnn's kernels use no shared memory")
        for a in args:
            if a is None:
                raise TypeError(f"{self.name}: None as a kernel argument (CuPy passes 0xffffffff, not NULL)")
            if isinstance(a, np.ndarray):
                raise TypeError(f"{self.name}: a numpy.ndarray (host memory) as a kernel argument")
        g, b = settings.launch if settings.launch is not None else (grid[0], block[0])
        host_args = tuple(a._a if isinstance(a, ndarray) else a for a in args)
        launches.append(self.name)
        settings.emulator.launch(self.name, g, b, host_args, settings.order)
        for a in args:
            if isinstance(a, ndarray):
                a._alloc.check_guards(self.name)


class RawModule:
    def __init__(self, code: str, options=(), **kwargs):
        if "#include" in re.sub(r"//[^\n]*", "", code):
            raise ValueError("NVRTC has no include path here: the module source must be self-contained")
        self.code, self.options = code, tuple(options)

    def get_function(self, name: str) -> _Function:
        stem = re.sub(r"_(f32|f64)$", "", name)
        if not re.search(rf"\b({re.escape(name)}|{re.escape(stem)}_##SUFFIX)\b", self.code):
            raise AttributeError(f"kernel {name} is not defined in this module's source (cuModuleGetFunction fails)")
        return _Function(self, name)
