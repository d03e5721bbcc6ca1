"""Interleaved timing: every candidate is timed in the same rounds, so machine noise (other
processes, frequency changes) hits all of them alike and their ratio is what is reported."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Dict


def _calibrate(fn: Callable[[], object], target: float) -> int:
    """How many calls make one timed block of about `target` seconds (at least 1)."""
    fn()  # warm up: first-call allocations, thread pool start
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target / 4 or n >= 1 << 16:
            return max(1, int(round(n * target / max(dt, 1e-9))))
        n *= 4


def compare(candidates: Dict[str, Callable[[], object]], rounds: int = 7, block: float = 0.05,
            settle: float = 0.1) -> Dict[str, float]:
    """Median seconds per call of each candidate, timed in interleaved rounds.

    Each round runs every candidate once for a block of about `block` seconds, in turn; the
    median over `rounds` rounds is kept (robust to a round disturbed by another process).
    Before each block the process sleeps `settle` seconds, so worker threads that the previous
    library left spinning (OpenMP, OpenBLAS, PyTorch's pool) go idle instead of competing with
    the next library for the cores.
    """
    calls = {name: _calibrate(fn, block) for name, fn in candidates.items()}
    samples: Dict[str, list] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            n = calls[name]
            if settle:
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(v) for name, v in samples.items()}
