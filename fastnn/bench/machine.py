"""The machine line printed with every benchmark table: CPU, ISA in use, threads, NumPy's BLAS
kernel (as threadpoolctl reports it in the NumPy worker), PyTorch, and how timings were taken."""
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


def load_average():
    """The 1-minute load average (this benchmark's own processes count too), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def blas_description(numpy_info: dict) -> str:
    blas = numpy_info.get("blas") or {}
    if not blas:
        return "none found by threadpoolctl"
    text = f"{blas.get('internal_api')} {blas.get('version')} ({blas.get('architecture') or '?'} kernel)"
    kept = numpy_info.get("blas_env") or {}
    return text + "".join(f", {k}={v} kept" for k, v in kept.items())


def machine_line(pool) -> str:
    """One line describing where and how `pool` (a harness.Pool) measures."""
    info = pool.info
    torch = info.get("torch", {}).get("torch", "not installed")
    return (f"machine: {cpu_model()} | {os.cpu_count()} CPUs | fastnn {info['fastnn']['fastnn']} "
            f"ISA {info['fastnn']['isa']} | threads {pool.threads} | NumPy BLAS: "
            f"{blas_description(info.get('numpy', {}))} | torch {torch} | timing: {pool.description()}")
