"""The machine line printed with every benchmark table: CPU, ISA in use, threads, NumPy's BLAS."""
from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas() -> str:
    """NumPy's BLAS library and the kernel it runs (OpenBLAS core type), via threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    import numpy  # noqa: F401  (loads the BLAS so threadpoolctl can see it)

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            arch = pool.get("architecture") or "?"
            return f"{pool.get('internal_api')} {pool.get('version')} ({arch} kernel, {pool.get('num_threads')} threads)"
    return "none found"


def machine_line(threads: int) -> str:
    import fastnn

    env = "".join(f", {k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ)
    return (f"machine: {cpu_model()} | {os.cpu_count()} CPUs | fastnn {fastnn.__version__} ISA {fastnn.get_isa()} | "
            f"threads {threads} | NumPy BLAS: {numpy_blas()}{env}")
