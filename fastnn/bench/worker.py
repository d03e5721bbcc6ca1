"""A benchmark worker: one library in its own process, driven by a :class:`~fastnn.bench.harness.Pool`.

Started by the pool as ``python -c <bootstrap> LIB PARENT_PID [CASE_MODULE ...]``. It reads
pickled commands from stdin and answers each on the original stdout (which it moves away from
fd 1, so a library printing cannot corrupt the stream): ``("ok", value)`` or
``("error", message, traceback)``. Commands:

- ``threads N``: set the library's thread count and the BLAS's (threadpoolctl); returns what
  they report.
- ``prepare KEY KIND PARAMS BLOCK``: build the case, call it once, return the summary of its
  result and the number of calls that take about BLOCK seconds (None if the builder has no
  version for this library).
- ``time KEY CALLS WARMUP``: WARMUP untimed calls, then CALLS timed ones; returns seconds per call
  and the number of times the threads were preempted meanwhile.
- ``drop KEY``, ``peak`` (fastnn only: measured FMA peak per core), ``quit``.
"""
from __future__ import annotations

import faulthandler
import importlib
import os
import pickle
import signal
import sys
import time
import traceback

from .harness import OPENBLAS_OVERRIDES, build_case, summarize

MAX_CALIBRATION_CALLS = 1 << 16


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before we asked
        os._exit(1)


def _blas_info() -> dict:
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {k: pool.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
    return {}


class Worker:
    def __init__(self, lib: str):
        self.lib = lib
        self.cases = {}
        self.blas_limit = None  # keeps threadpoolctl's limiter (and the limit) alive
        import numpy

        self.info = {"lib": lib, "pid": os.getpid(), "numpy": numpy.__version__}
        if lib == "fastnn":
            import fastnn

            self.info.update(fastnn=fastnn.__version__, isa=fastnn.get_isa(), amx=fastnn.get_gemm_amx())
        elif lib == "numpy":
            import fastnn.reference  # noqa: F401  (the NumPy reference ops this worker runs)

            self.info.update(blas=_blas_info(), blas_env={v: os.environ[v] for v in OPENBLAS_OVERRIDES
                                                           if v in os.environ})
        elif lib == "torch":
            import torch  # ImportError: the pool leaves torch out

            self.info.update(torch=torch.__version__)
        else:
            raise ValueError(f"unknown library {lib!r}")

    # -- commands --------------------------------------------------------------------------

    def threads(self, n: int) -> dict:
        from threadpoolctl import threadpool_limits

        self.blas_limit = threadpool_limits(limits=n, user_api="blas")
        got = {}
        if self.lib == "fastnn":
            import fastnn

            fastnn.set_num_threads(n)
            got["fastnn"] = fastnn.get_num_threads()
        elif self.lib == "torch":
            import torch

            torch.set_num_threads(n)
            got["torch"] = torch.get_num_threads()
        blas = _blas_info()  # NumPy (loaded in every worker) and its BLAS
        if blas:
            got["blas"] = blas.get("num_threads")
        return got

    def prepare(self, key, kind: str, params: dict, block: float):
        fn = build_case(kind, self.lib, params)
        if fn is None:
            return None
        summary = summarize(fn())  # first call: the warm-up, and the result to check
        self.cases[key] = fn
        return {"summary": summary, "calls": _calibrate(fn, block)}

    def time(self, key, calls: int, warmup: int):
        """(seconds per call, preemptions): how often the kernel took a CPU from one of this
        process's threads for another task during the block (None where unknown). The other
        workers are stopped, so a preemption means some other process wanted the CPUs."""
        fn = self.cases[key]
        for _ in range(warmup):
            fn()
        before = _preemptions()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        seconds = (time.perf_counter() - t0) / calls
        after = _preemptions()
        return seconds, (None if before is None else after - before)

    def drop(self, key) -> None:
        self.cases.pop(key, None)

    def peak(self) -> float:
        from fastnn import _core

        return _core.fma_peak_gflops(False, 0.2)


def _preemptions():
    """Involuntary context switches of all this process's threads so far (None if unknown)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def _calibrate(fn, target: float) -> int:
    """How many calls make one block of about `target` seconds (at least 1)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target / 4 or n >= MAX_CALIBRATION_CALLS:
            return max(1, round(n * target / max(dt, 1e-9)))
        n *= 4


def main(argv) -> int:
    lib, parent_pid, *case_modules = argv
    _die_with_parent(int(parent_pid))
    # Ctrl-C in a terminal reaches the whole process group: the parent handles it and ends us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()  # a crash prints this worker's Python stack on stderr
    commands = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed to stdout goes to stderr, not into the reply stream
    sys.stdout = sys.stderr

    def reply(*msg):
        pickle.dump(msg, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()

    try:
        for module in case_modules:
            importlib.import_module(module)
        try:
            worker = Worker(lib)
        except ImportError as e:  # the library itself is missing (the pool may leave it out)
            reply("unavailable", str(e))
            return 0
    except Exception as e:
        reply("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        return 1
    reply("ready", worker.info)
    handlers = {"threads": worker.threads, "prepare": worker.prepare, "time": worker.time,
                "drop": worker.drop, "peak": worker.peak}
    while True:
        try:
            command, *args = pickle.load(commands)
        except EOFError:  # the parent is gone
            command = "quit"
        if command == "quit":
            # Skip the interpreter's shutdown (PyTorch's takes about a second): nothing to save.
            sys.stderr.flush()
            os._exit(0)
        try:
            reply("ok", handlers[command](*args))
        except Exception as e:
            reply("error", f"{type(e).__name__}: {e}", traceback.format_exc(limit=-8))
