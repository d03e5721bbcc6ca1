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
            f"ISA {info['fastnn']['isa']}{' (+ AMX float32 GEMM)' if info['fastnn'].get('amx') else ''} | threads {pool.threads} | NumPy BLAS: "
            f"{blas_description(info.get('numpy', {}))} | torch {torch} | timing: {pool.description()}")


# Preemptions per second of a timed block above which a case counts as disturbed: an otherwise
# idle machine shows a few per second at 1 thread and up to about 40 at 2 (kernel threads, small
# jobs); another busy process, 150-300.
DISTURBED_PER_S = 100.0


def preemption_rates(comparison) -> dict:
    """A Comparison's preemptions per second per library, rounded, for the JSON rows."""
    return {lib: None if v is None else round(v, 1) for lib, v in comparison.preemption_rates.items()}


def disturbance_note(rows, name) -> str:
    """A warning line if other processes preempted the timed threads in some rows, else ''.
    rows carry "preempted_per_s" (lib -> rate); name(row) labels a row."""
    disturbed = []
    for r in rows:
        known = [(v, lib) for lib, v in (r.get("preempted_per_s") or {}).items() if v is not None]
        if known and max(known)[0] > DISTURBED_PER_S:
            disturbed.append((*max(known), name(r)))
    if not disturbed:
        return ""
    rate, lib, label = max(disturbed)
    return (f"note: other processes preempted the timed threads in {len(disturbed)} of {len(rows)} cases "
            f"(most: {rate:.0f}/s, {lib} in {label}): their ratios are unreliable; rerun on a quieter machine")
