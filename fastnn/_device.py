"""Devices for the Python API: "cpu" (NumPy arrays) and "cuda" (CuPy arrays on CuPy's current
device), and the only place outside ``fastnn.cuda`` that moves arrays between them.

Layers, optimizers and the training loop never copy between devices implicitly: an input on
the wrong device is an error naming both devices (PyTorch's rule). The explicit moves are
``Module.to``, ``load_state_dict`` / ``Optimizer.load_state_dict`` (values are copied onto the
target's device, as in PyTorch), ``fit`` / ``evaluate`` / ``predict`` (NumPy batches go to the
model's device; results come back as NumPy arrays and floats) and ``fastnn.save`` / ``load``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CPU", "CUDA", "DEVICES", "parse", "device_of", "describe", "move", "to_host", "copy_into",
           "array_module", "xp_of", "zeros_like", "full_like", "cuda_unavailable_reason", "require_cuda",
           "mismatch"]

CPU, CUDA = "cpu", "cuda"
DEVICES = (CPU, CUDA)


def is_device_name(value) -> bool:
    """A string naming a device: "cpu", "cuda" or PyTorch's "cuda:<index>"."""
    if not isinstance(value, str):
        return False
    name = value.lower()
    return name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())


def parse(device) -> str:
    """"cpu" or "cuda" from a device name ("cuda:0", PyTorch's form, is "cuda": CuPy's current
    device); anything else, and another device index, is a ValueError naming it."""
    if is_device_name(device):
        name = device.lower()
        if name.startswith("cuda:") and int(name[5:]) != 0:
            raise ValueError(f"fastnn runs on CuPy's current device, 'cuda' (or 'cuda:0'); to use another GPU, "
                             f"select it with cupy.cuda.Device(i).use() first. Received: device={device!r}")
        return CUDA if name.startswith("cuda") else CPU
    raise ValueError(f"device must be 'cpu' or 'cuda'. Received: device={device!r}")


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def device_of(a) -> str | None:
    """"cpu" for a NumPy array, "cuda" for a CuPy array, None for anything else."""
    if isinstance(a, np.ndarray):
        return CPU
    if _is_cupy(a) and hasattr(a, "dtype"):
        return CUDA
    return None


def describe(a) -> str:
    """How an error message names a value: its type and its device."""
    device = device_of(a)
    kind = f"{type(a).__module__.split('.')[0]}.{type(a).__name__}"
    return f"a {kind} on {device}" if device else f"a {type(a).__name__}"


def cuda_unavailable_reason() -> str | None:
    """None when CuPy imports and sees a CUDA device, else why not (one line, CuPy's words)."""
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # ImportError, CUDARuntimeError (no driver, no device), ...
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"{type(exc).__name__}: {text}" if not isinstance(exc, ImportError) else text
    if count < 1:
        return "getDeviceCount() returned 0"
    return None


def require_cuda():
    """The cupy module, or a RuntimeError saying why there is no CUDA device."""
    reason = cuda_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"no CUDA device found (CuPy: {reason})")
    import cupy

    return cupy


def move(a, device: str):
    """a on device: the same array when it is already there, else a copy (host <-> device)."""
    here = device_of(a)
    if here == device:
        return a
    if here is None:
        raise TypeError(f"expected a numpy.ndarray or cupy.ndarray, got {type(a).__name__}")
    if device == CUDA:
        return require_cuda().asarray(a)
    return a.get()


def to_host(a) -> np.ndarray:
    """A NumPy array of a's values: a itself when it is one, else a copy from the device."""
    return a if isinstance(a, np.ndarray) else move(a, CPU)


def copy_into(target, value) -> None:
    """target[...] = value across devices (value cast to target's dtype), as PyTorch's copy_."""
    where = device_of(target)
    if where == CPU:
        target[...] = to_host(value) if device_of(value) == CUDA else value
        return
    cupy = require_cuda()
    # CuPy does not take host arrays on the right of an assignment: upload first
    target[...] = cupy.asarray(value if device_of(value) else np.asarray(value), dtype=target.dtype)


def array_module(device: str):
    return np if device == CPU else require_cuda()


def xp_of(a):
    """numpy or cupy for an array (NumPy tested first: the common case costs one isinstance)."""
    if isinstance(a, np.ndarray):
        return np
    if device_of(a) == CUDA:
        import cupy

        return cupy
    raise TypeError(f"expected a numpy.ndarray or cupy.ndarray, got {type(a).__name__}")


def zeros_like(a):
    """Zeros of a's shape and dtype on a's device."""
    return np.zeros_like(a) if isinstance(a, np.ndarray) else array_module(CUDA).zeros_like(a)


def full_like(a, value):
    return np.full_like(a, value) if isinstance(a, np.ndarray) else array_module(CUDA).full_like(a, value)


def mismatch(who: str, what: str, value, want: str, hint: str) -> TypeError:
    """The error for an array on the wrong device, naming both devices."""
    return TypeError(f"{who}: {what} is {describe(value)}, but {want}; fastnn never copies between devices "
                     f"implicitly: {hint}")
