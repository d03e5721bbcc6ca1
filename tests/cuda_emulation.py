"""The CUDA kernels, compiled as C++ with csrc/cuda/emulate.h and loaded with ctypes (test-only).

``Emulator.launch(name, grid, block, args)`` is the emulated cuLaunchKernel: it looks the kernel
up in the registry of csrc/cuda/emulate_exports.cpp and checks every argument against the
kernel's C parameter types, as strictly as a GPU needs them (CuPy packs an argument by its own
type, so a Python int where the kernel takes a float, or an int32 where it takes a long long, is
silent garbage on a real device): pointers take a C-contiguous NumPy array of the pointee's dtype
(or NULL = numpy.uint64(0)); scalars take the NumPy scalar type of the parameter, nothing else.
"""
from __future__ import annotations

import ctypes
import os
import pathlib
import shutil
import subprocess

import numpy as np

CUDA_DIR = pathlib.Path(__file__).resolve().parent.parent / "csrc" / "cuda"

# emulate.h's type names -> (NumPy dtype, ctypes type)
SCALARS = {"f32": (np.float32, ctypes.c_float), "f64": (np.float64, ctypes.c_double),
           "i32": (np.int32, ctypes.c_int32), "i64": (np.int64, ctypes.c_int64),
           "u64": (np.uint64, ctypes.c_uint64), "u8": (np.uint8, ctypes.c_uint8)}

FORWARD, REVERSE, SCRAMBLED = 0, 1, 2  # thread orders (emulate.h)


def build(out_dir: pathlib.Path) -> pathlib.Path:
    """Compiles emulate_exports.cpp (every .cu file) into a shared library in out_dir."""
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if cxx is None:
        raise RuntimeError("no C++ compiler to build the CUDA emulation")
    lib = out_dir / "fastnn_cuda_emu.so"
    r = subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", "-Wall", "-o", str(lib),
                        str(CUDA_DIR / "emulate_exports.cpp")], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building the CUDA emulation failed:\n{r.stderr}")
    return lib


class Emulator:
    def __init__(self, lib_path):
        self.lib = ctypes.CDLL(str(lib_path))
        self.lib.fastnn_emu_kernel_name.restype = ctypes.c_char_p
        self.lib.fastnn_emu_kernel_signature.restype = ctypes.c_char_p
        self.lib.fastnn_emu_launch_kernel.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_int,
                                                      ctypes.POINTER(ctypes.c_void_p)]
        self.kernels = {}  # name -> (registry index, [parameter types])
        for i in range(self.lib.fastnn_emu_kernel_count()):
            name = self.lib.fastnn_emu_kernel_name(i).decode()
            sig = self.lib.fastnn_emu_kernel_signature(i).decode()
            self.kernels[name] = (i, sig.split(",") if sig else [])

    def _value(self, kernel: str, pos: int, ctype: str, arg):
        """The ctypes object holding argument `pos` of `kernel`, after checking its type."""
        where = f"{kernel} argument {pos} ({ctype})"
        if ctype.endswith("*"):
            pointee = ctype.removeprefix("const ").removesuffix("*")
            if type(arg) is np.uint64 and arg == 0:
                return ctypes.c_void_p(0)  # NULL
            if not isinstance(arg, np.ndarray):
                raise TypeError(f"{where}: needs an array of {pointee} (or NULL), got {type(arg).__name__}")
            if arg.dtype != SCALARS[pointee][0]:
                raise TypeError(f"{where}: needs an array of {pointee}, got dtype {arg.dtype}")
            if not arg.flags.c_contiguous:
                raise ValueError(f"{where}: a kernel sees only the data pointer; got a non-contiguous array")
            if not ctype.startswith("const ") and not arg.flags.writeable:
                raise ValueError(f"{where}: the kernel writes through this pointer; got a read-only array")
            return ctypes.c_void_p(arg.ctypes.data)
        np_type, c_type = SCALARS[ctype]
        if type(arg) is not np_type:
            raise TypeError(f"{where}: needs a numpy.{np.dtype(np_type).name} scalar, got {type(arg).__name__} {arg!r}")
        return c_type(arg)

    def launch(self, name: str, grid: int, block: int, args, order: int = FORWARD) -> None:
        if name not in self.kernels:
            raise KeyError(f"kernel {name} is not in the emulator's registry (csrc/cuda/emulate_exports.cpp)")
        index, types = self.kernels[name]
        if len(args) != len(types):
            raise TypeError(f"{name} takes {len(types)} arguments ({', '.join(types)}), got {len(args)}")
        values = [self._value(name, i, t, a) for i, (t, a) in enumerate(zip(types, args))]
        params = (ctypes.c_void_p * max(1, len(values)))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        self.lib.fastnn_emu_launch_kernel(index, grid, block, order, params)
