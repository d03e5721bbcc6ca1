"""Build and runtime configuration: version, ISA dispatch, threads, GPU availability."""
from __future__ import annotations

import os
import platform
import sys

from . import _core

__version__: str = _core.build_info()["version"]


def _init_from_env() -> None:
    """Apply FASTNN_NUM_THREADS / FASTNN_ISA. The C++ side reads them too at load time; here a
    bad value is reported instead of silently ignored."""
    threads = os.environ.get("FASTNN_NUM_THREADS")
    if threads:
        try:
            n = int(threads)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"FASTNN_NUM_THREADS must be a positive integer, got {threads!r}")
        _core.set_num_threads(n)
    isa = os.environ.get("FASTNN_ISA")
    if isa:
        _core.set_isa(isa)
    amx = os.environ.get("FASTNN_AMX")
    if amx:
        if amx not in ("0", "1"):
            raise ValueError(f"FASTNN_AMX must be 0 (off) or 1 (on where available), got {amx!r}")
        _core.set_gemm_amx(amx == "1")
    limit = os.environ.get("FASTNN_CACHE_LIMIT_MB")
    if limit:
        if not limit.isdigit():
            raise ValueError(f"FASTNN_CACHE_LIMIT_MB must be a non-negative integer (MiB), got {limit!r}")
        _core.cache_set_limit(int(limit) << 20)


def set_num_threads(n: int) -> None:
    """Set how many threads the native kernels use (default: all cores, or FASTNN_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"num_threads must be an int, got {type(n).__name__}: {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """How many threads the native kernels use."""
    return _core.get_num_threads()


def set_isa(name: str) -> None:
    """Force the kernels down to 'generic', 'avx2' or 'avx512' (for testing and comparison).

    Asking for more than the CPU supports raises ValueError; ``set_isa(detected)`` restores.
    """
    _core.set_isa(name)


def get_isa() -> str:
    """The instruction set the native kernels use now."""
    return _core.get_isa()


def set_gemm_amx(on: bool) -> None:
    """Use Intel AMX tiles for large float32 GEMMs (default: on where the CPU has AMX-BF16).

    The AMX path keeps float32 accuracy (each value is split into three bfloat16 parts; see
    csrc/kernels/gemm_amx.h), so results differ from the AVX-512 kernel's only by rounding.
    ``set_gemm_amx(False)`` (or FASTNN_AMX=0) gives the AVX-512 kernel's bits. On a CPU without
    AMX this is accepted and changes nothing.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, got {type(on).__name__}: {on!r}")
    _core.set_gemm_amx(on)


def get_gemm_amx() -> bool:
    """Whether large float32 GEMMs run on AMX tiles now (available, ISA avx512, not turned off)."""
    return _core.gemm_amx_enabled()


def set_cache_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` of freed result memory for reuse (default 1 GiB, or the env
    FASTNN_CACHE_LIMIT_MB). 0 turns the cache off.

    fastnn.ops returns its large arrays (256 KiB and up) from a block cache: a training loop
    allocates the same arrays every step, and reusing their memory avoids the page faults that
    freshly mapped memory costs on every first touch.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"nbytes must be an int, got {type(nbytes).__name__}: {nbytes!r}")
    _core.cache_set_limit(nbytes)


def empty_cache() -> None:
    """Free the cached blocks (arrays still in use keep their memory), as torch.cuda.empty_cache."""
    _core.cache_clear()


def cache_stats() -> dict:
    """The block cache's state: cached_bytes, limit_bytes, hits, misses, min_block_bytes."""
    return _core.cache_stats()


def _cuda_status() -> tuple[str, str]:
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or a broken CUDA install
        return "not installed", f"no ({type(exc).__name__})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"{cupy.__version__}", f"no ({type(exc).__name__}: {exc})"
    return f"{cupy.__version__}", (f"yes ({count} device{'s' if count != 1 else ''})" if count else "no devices")


def config() -> dict:
    """The configuration as a dict (what show_config prints)."""
    info = _core.build_info()
    cupy_version, cuda_device = _cuda_status()
    import numpy

    return {
        "fastnn": info["version"],
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "compiler": info["compiler"],
        "openmp": info["openmp"],
        "isas_compiled": ", ".join(info["isas_compiled"]),
        "isa_detected": _core.detected_isa(),
        "isa_in_use": _core.get_isa(),
        "amx_gemm": ("in use" if _core.gemm_amx_enabled() else "available, off") if _core.amx_available()
        else "not available",
        "threads": _core.get_num_threads(),
        "cpus": _core.max_hardware_threads(),
        "cupy": cupy_version,
        "cuda_device": cuda_device,
    }


def show_config(file=None) -> None:
    """Print version, compiler, ISA found and in use, threads, and CuPy / CUDA availability."""
    cfg = config()
    width = max(len(k) for k in cfg)
    for key, value in cfg.items():
        print(f"{key:<{width}}  {value}", file=file or sys.stdout)


_init_from_env()
