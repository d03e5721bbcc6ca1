"""Fake benchmark cases with known costs and behaviours, for the harness tests.

The harness's workers import this module (``Pool(case_modules=("bench_fake_cases",))``), so the
builders below run in the worker processes.
"""
import os
import signal
import time

import numpy as np

from fastnn.bench.harness import register_case


@register_case("spin")
def spin(lib, seconds):
    """Busy-waits seconds[lib] per call (wall clock), so the cost ratio is known."""
    cost = seconds[lib]

    def run():
        end = time.perf_counter() + cost
        while time.perf_counter() < end:
            pass
    return run


@register_case("value")
def value(lib, values):
    """Returns an array filled with values[lib]: the result check must catch different values."""
    return lambda: np.full(5, values[lib], np.float32)


@register_case("only")
def only(lib, libs):
    """Exists only for the libraries listed."""
    return (lambda: None) if lib in libs else None


@register_case("fail")
def fail(lib, fail_lib, when):
    """Raises ValueError in fail_lib's worker, while building (when='build') or in the call."""
    if lib == fail_lib and when == "build":
        raise ValueError(f"cannot build this case: size=-3 in {lib}")

    def run():
        if lib == fail_lib:
            raise ValueError(f"bad call: size=-3 in {lib}")
    return run


@register_case("crash")
def crash(lib, crash_lib):
    """Kills its own worker with SIGSEGV (as a crashing native kernel would), in crash_lib only."""
    def run():
        if lib == crash_lib:
            os.kill(os.getpid(), signal.SIGSEGV)
    return run


def process_state(pid: int) -> str:
    """The kernel's one-letter state of a process ('R', 'S', 'T' = stopped, 'Z' ...), '' if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return ""


@register_case("probe")
def probe(lib, pids_file, log_dir):
    """Each call records the states of the other workers (pids read from pids_file)."""
    log = os.path.join(log_dir, f"{lib}.log")

    def run():
        with open(pids_file) as f:
            pids = [int(p) for p in f.read().split()]
        states = [process_state(p) for p in pids if p != os.getpid()]
        with open(log, "a") as f:
            f.write(" ".join(states) + "\n")
    return run
