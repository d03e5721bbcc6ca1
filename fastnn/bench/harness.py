"""Timing harness: one persistent worker process per library, only one of them running at a time.

Why processes. PyTorch (its bundled OpenMP and MKL) and NumPy's OpenBLAS leave their idle worker
threads spinning on the cores for up to about a second after a call. Timed in the same process,
right after them, a 2-thread fastnn call waits for a time slice for its second thread (measured:
fastnn's 128x784x512 GEMM ran at 20-30 GFLOP/s inside the old interleaved table, 185 alone).
Here every library runs in its own process, and the parent keeps every idle worker stopped
(SIGSTOP): while one library's block is timed, no thread of another library can be scheduled.

Method (:meth:`Pool.compare`):

1. Each worker builds the case itself from its kind and parameters (see :func:`register_case`;
   the builders are in ``fastnn/bench/cases.py``), so only a few bytes cross the pipe. Inputs are
   seeded: every library gets the same arrays.
2. Each worker calls the case once (warm-up) and returns a small summary of the result; the
   parent checks every peer's summary against fastnn's (a benchmark must not time a wrong kernel).
   It then calibrates how many calls make one block of about ``block`` seconds.
3. ``rounds`` rounds: each times one block per library, the order rotated by one library every
   round. The parent resumes (SIGCONT) a worker only for its own block and stops it again once it
   has answered, waiting until the kernel reports it stopped before resuming the next one.
4. Per library: the median over rounds of the seconds per call. Per peer: the median of the
   per-round ratios peer/fastnn (how many times faster fastnn is), and their min and max, so the
   noise of a run is visible.
5. Each block also counts how often the kernel preempted the worker's threads (involuntary
   context switches). Our other workers are stopped, so a high rate means another process on
   the machine took CPU time from the block: :attr:`Comparison.preemption_rates`.

Where SIGSTOP does not exist (Windows) the workers are not stopped; the pool says so in its
``notes`` and sleeps ``settle`` seconds before each block instead, which is less effective.

Workers die with the parent: on Linux by PR_SET_PDEATHSIG (even if the parent is killed; it fires
when the thread that started the pool ends, so start it from a thread that outlives it), else
when their pipe closes; :meth:`Pool.close` (also run by ``with`` and at exit) ends them. They
ignore SIGINT: on Ctrl-C the parent's KeyboardInterrupt closes the pool.
"""
from __future__ import annotations

import atexit
import itertools
import os
import pickle
import signal
import statistics
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["LIBRARIES", "OPTIONAL_LIBRARIES", "OPENBLAS_OVERRIDES", "BenchError", "Case", "Comparison",
           "Pool", "register_case", "build_case", "fair_environment", "summarize", "check_summaries"]

LIBRARIES = ("fastnn", "numpy", "torch")
OPTIONAL_LIBRARIES = ("torch",)  # a missing one drops its column; fastnn and numpy are required
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
CAN_STOP = hasattr(signal, "SIGSTOP") and hasattr(os, "WUNTRACED")
# A block whose calibrated call count is at least this gets one untimed call first (costs <= 10%):
# it brings the library's thread pool and caches back after another library's block.
WARMUP_MIN_CALLS = 10


class BenchError(RuntimeError):
    """A benchmark could not run: a worker failed, crashed, or two libraries disagree."""


class BenchUsageError(BenchError):
    """An argument of ``fastnn bench`` that cannot work (``--only`` matching nothing, a
    ``--json`` path that cannot be written): found before anything runs; exit code 2."""


# ------------------------------------------------------------------------------------------
# Case registry (used in the workers)

_BUILDERS: Dict[str, Callable] = {}


def register_case(kind: str):
    """Decorator: ``builder(lib, **params)`` returns a zero-argument callable doing one call of the
    case for library ``lib`` (``"fastnn"``, ``"numpy"`` or ``"torch"``), or None if that library
    has no such case. The callable's return value (arrays, tensors, numbers or a tuple of them) is
    what the result check compares; it may be None (nothing to check)."""
    def decorate(builder):
        if kind in _BUILDERS and _BUILDERS[kind] is not builder:
            raise ValueError(f"case kind {kind!r} is registered twice")
        _BUILDERS[kind] = builder
        return builder
    return decorate


def build_case(kind: str, lib: str, params: dict):
    try:
        builder = _BUILDERS[kind]
    except KeyError:
        raise BenchError(f"unknown case kind {kind!r}; registered: {sorted(_BUILDERS)}") from None
    return builder(lib, **params)


@dataclass
class Case:
    """What the parent knows of a case: its kind and parameters (sent to the workers), a label for
    tables and errors, the flop count of one call (for GFLOP/s), the result-check tolerance
    relative to the result's RMS, an optional block length of its own, and table fields."""
    kind: str
    label: str
    params: dict = field(default_factory=dict)
    flops: Optional[float] = None
    rtol: float = 1e-3
    block: Optional[float] = None
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Result summaries: a few numbers per output array, compared across libraries

SAMPLE_POINTS = 16


def summarize(result) -> Optional[list]:
    """A small, comparable summary of a case's result: per output, its shape, mean, RMS and the
    values at 16 evenly spaced flat positions. Runs in the worker (imports NumPy)."""
    import numpy as np

    if result is None:
        return None
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    summary = []
    for out in outputs:
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().numpy()
        a = np.asarray(out, dtype=np.float64).ravel()
        idx = np.linspace(0, a.size - 1, min(SAMPLE_POINTS, a.size)).astype(np.int64)
        summary.append({"shape": list(np.shape(out)), "mean": float(a.mean()) if a.size else 0.0,
                        "rms": float(np.sqrt(np.mean(a * a))) if a.size else 0.0,
                        "sample": [float(v) for v in a[idx]]})
    return summary


def check_summaries(label: str, base_lib: str, base: Optional[list], lib: str, other: Optional[list],
                    rtol: float) -> None:
    """Raise BenchError if two libraries' results differ by more than rtol times the RMS."""
    if base is None or other is None:
        return
    if len(base) != len(other):
        raise BenchError(f"{base_lib} and {lib} disagree on case {label!r}: {len(base)} vs {len(other)} outputs")
    for i, (b, o) in enumerate(zip(base, other)):
        if b["shape"] != o["shape"]:
            raise BenchError(f"{base_lib} and {lib} disagree on case {label!r}: output {i} has shape "
                             f"{tuple(b['shape'])} vs {tuple(o['shape'])}")
        scale = max(b["rms"], o["rms"], 1e-30)
        diffs = [("mean", b["mean"], o["mean"]), ("rms", b["rms"], o["rms"]),
                 *((f"value {j}", x, y) for j, (x, y) in enumerate(zip(b["sample"], o["sample"])))]
        for what, x, y in diffs:
            if not abs(x - y) <= rtol * scale:  # also catches NaN
                raise BenchError(f"{base_lib} and {lib} disagree on case {label!r}: output {i} {what} "
                                 f"{x!r} vs {y!r} (tolerance {rtol:g} x RMS {scale:.3g})")


# ------------------------------------------------------------------------------------------
# Results

@dataclass
class Comparison:
    """Timings of one case: per library the seconds per call of each round's block."""
    case: Case
    per_round: Dict[str, List[float]]
    calls: Dict[str, int]
    base: str = "fastnn"
    # per library, per round: times the kernel preempted one of its threads during the block
    # (None where the platform cannot tell)
    preemptions: Dict[str, List[Optional[int]]] = field(default_factory=dict)

    @property
    def seconds(self) -> Dict[str, float]:
        """Median seconds per call, per library."""
        return {lib: statistics.median(ts) for lib, ts in self.per_round.items()}

    def round_ratios(self, peer: str) -> List[float]:
        """peer / base seconds per call in each round: how many times faster the base library is."""
        return [p / b for p, b in zip(self.per_round[peer], self.per_round[self.base])]

    @property
    def peers(self) -> List[str]:
        return [lib for lib in self.per_round if lib != self.base]

    @property
    def ratios(self) -> Dict[str, float]:
        """Median of the per-round ratios, per peer."""
        return {peer: statistics.median(self.round_ratios(peer)) for peer in self.peers}

    @property
    def preemption_rates(self) -> Dict[str, Optional[float]]:
        """Preemptions per second of timed block, per library: about 0 on an otherwise idle
        machine; tens or more mean other processes took CPU time from this comparison."""
        rates = {}
        for lib, counts in self.preemptions.items():
            seconds = sum(t * self.calls[lib] for t in self.per_round[lib])
            known = [n for n in counts if n is not None]
            rates[lib] = sum(known) / seconds if known and len(known) == len(counts) and seconds > 0 else None
        return rates

    @property
    def ratio_ranges(self) -> Dict[str, Tuple[float, float]]:
        """(min, max) of the per-round ratios, per peer."""
        return {peer: (min(self.round_ratios(peer)), max(self.round_ratios(peer))) for peer in self.peers}


# ------------------------------------------------------------------------------------------
# Workers (parent side)

def fair_environment(env=None) -> dict:
    """A copy of the environment without the OpenBLAS overrides that slow NumPy down."""
    env = dict(os.environ if env is None else env)
    for v in OPENBLAS_OVERRIDES:
        env.pop(v, None)
    return env


def _import_root(module: str) -> str:
    """The sys.path directory a module is imported from (its top-level package's parent)."""
    import importlib.util

    top = module.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.origin:
        raise BenchError(f"case module {module!r} cannot be imported here")
    origin = os.path.dirname(spec.origin)
    return os.path.dirname(origin) if spec.submodule_search_locations else origin


# The worker must import the same fastnn as this process: drop the current directory that -c puts
# first on sys.path (a source checkout there would shadow an installed fastnn), PYTHONPATH decides.
_BOOTSTRAP = ("import sys\n"
              "if not getattr(sys.flags, 'safe_path', False): sys.path.pop(0)\n"
              "from fastnn.bench.worker import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def _site_dirs() -> set:
    """This interpreter's site-packages directories (real paths)."""
    import site

    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user:
        dirs.append(user)
    return {os.path.realpath(d) for d in dirs}


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class _Worker:
    def __init__(self, lib: str, env: dict, case_modules: Sequence[str]):
        self.lib = lib
        self.running = True
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, lib, str(os.getpid()), *case_modules],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and self.proc.poll() is None

    def send(self, msg) -> None:
        pickle.dump(msg, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.flush()

    def recv(self):
        return pickle.load(self.proc.stdout)

    def stop(self) -> None:
        """SIGSTOP, and wait until the kernel reports the process stopped (or gone)."""
        if not CAN_STOP or not self.running or self.proc.returncode is not None:
            return
        try:
            os.kill(self.pid, signal.SIGSTOP)
        except ProcessLookupError:  # already reaped
            self.running = False
            return
        _, status = os.waitpid(self.pid, os.WUNTRACED)
        self.running = False
        if not os.WIFSTOPPED(status):  # it died meanwhile; we reaped it, tell Popen
            self.proc.returncode = os.waitstatus_to_exitcode(status)

    def resume(self) -> None:
        if CAN_STOP and not self.running and self.proc.returncode is None:
            os.kill(self.pid, signal.SIGCONT)
        self.running = True

    def exit_description(self, timeout: float = 10.0) -> str:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"

    def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()  # SIGKILL also ends a stopped process
            except ProcessLookupError:
                pass
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


_LIVE_POOLS: "weakref.WeakSet[Pool]" = weakref.WeakSet()


@atexit.register
def _close_live_pools() -> None:
    for pool in list(_LIVE_POOLS):
        pool.close(graceful=False)


class Pool:
    """One worker process per library, all stopped except the one answering a request.

    libs: libraries to start (``LIBRARIES``); a missing optional one (torch) is left out, with a
    note in ``notes``. threads: thread count for every library (fastnn.set_num_threads,
    torch.set_num_threads, threadpoolctl for the BLAS). fair_blas: start the NumPy worker without
    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so it runs OpenBLAS's best kernel for this CPU.
    stop_idle: SIGSTOP idle workers (default: where the platform can). settle: seconds to sleep
    before each block when workers are not stopped and threads > 1. case_modules: modules the
    workers import to register case builders.

    Use as a context manager; ``info[lib]`` holds each worker's versions (and the BLAS kernel
    threadpoolctl reports in the NumPy worker).
    """

    def __init__(self, libs: Sequence[str] = LIBRARIES, threads: int = 1, *, fair_blas: bool = True,
                 stop_idle: Optional[bool] = None, settle: float = 0.5,
                 case_modules: Sequence[str] = ("fastnn.bench.cases",)):
        unknown = [lib for lib in libs if lib not in LIBRARIES]
        if unknown or not libs:
            raise ValueError(f"libs must be a non-empty subset of {LIBRARIES}; received: libs={tuple(libs)}")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer; received: threads={threads!r}")
        if stop_idle and not CAN_STOP:
            raise ValueError("stop_idle=True needs SIGSTOP, which this platform does not have")
        self.stop_idle = CAN_STOP if stop_idle is None else bool(stop_idle)
        self.settle = settle
        self.fair_blas = fair_blas
        self.notes: List[str] = []
        self.info: Dict[str, dict] = {}
        self.workers: Dict[str, _Worker] = {}
        self.threads = 0
        self._keys = itertools.count()
        if not self.stop_idle:
            self.notes.append("idle workers are not stopped (no SIGSTOP here): their spinning threads "
                              "may slow the library timed next; a settle pause stands in")
        _LIVE_POOLS.add(self)
        try:
            self._start(libs, case_modules)
            self.set_threads(threads)
        except BaseException:
            self.close(graceful=False)
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def _start(self, libs, case_modules) -> None:
        import fastnn

        roots = [os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))]
        roots += [_import_root(m) for m in case_modules]
        # An installed fastnn lives in site-packages, which the worker (same interpreter) has on
        # its path anyway, after PYTHONPATH as here; putting it in front would let it shadow what
        # the caller's PYTHONPATH puts before it (e.g. a directory that hides a library).
        site_dirs = _site_dirs()
        roots = [r for r in roots if os.path.realpath(r) not in site_dirs]
        pythonpath = os.pathsep.join(dict.fromkeys([*roots, *filter(None, [os.environ.get("PYTHONPATH")])]))
        started = []
        for lib in libs:  # start all at once: their imports overlap
            env = fair_environment() if (lib == "numpy" and self.fair_blas) else dict(os.environ)
            env["PYTHONPATH"] = pythonpath
            w = _Worker(lib, env, case_modules)
            started.append(w)
            self.workers[lib] = w
        for w in started:
            try:
                status, *rest = w.recv()
            except (EOFError, pickle.UnpicklingError):
                raise BenchError(f"the {w.lib} worker {w.exit_description()} while starting; "
                                 f"its messages are above") from None
            if status == "ready":
                self.info[w.lib] = rest[0]
                self._idle(w)
            elif status == "unavailable" and w.lib in OPTIONAL_LIBRARIES:
                self.notes.append(f"{w.lib} is not available ({rest[0]}): its column is left out")
                w.kill()
                del self.workers[w.lib]
            else:
                raise BenchError(f"the {w.lib} worker could not start: {rest[0]}" + (f"\n{rest[1]}" if len(rest) > 1 else ""))

    def close(self, graceful: bool = True) -> None:
        """End every worker (asked to quit if graceful, else SIGKILL). Safe to call twice."""
        workers = list(self.workers.values())
        if graceful:
            asked = []
            for w in workers:
                if w.alive:
                    try:
                        w.resume()
                        w.send(("quit",))
                        asked.append(w)
                    except (OSError, ValueError):
                        pass
            for w in asked:
                try:
                    w.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for w in workers:
            w.kill()
        self.workers.clear()
        _LIVE_POOLS.discard(self)

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(graceful=exc_type is None)

    @property
    def libs(self) -> List[str]:
        return list(self.workers)

    @property
    def pids(self) -> Dict[str, int]:
        return {lib: w.pid for lib, w in self.workers.items()}

    # -- requests --------------------------------------------------------------------------

    def _idle(self, w: _Worker) -> None:
        if self.stop_idle:
            w.stop()

    def request(self, lib: str, command: str, *args, what: str = ""):
        """Resume `lib`'s worker, send it a command, wait for the answer, stop it again."""
        w = self.workers.get(lib)
        if w is None:
            raise BenchError(f"no {lib} worker in this pool (libraries: {self.libs})")
        where = f" while running case {what!r}" if what else f" during {command!r}"
        w.resume()
        try:
            w.send((command, *args))
            reply = w.recv()
        except (EOFError, BrokenPipeError, pickle.UnpicklingError):
            raise BenchError(f"the {lib} worker {w.exit_description()}{where}; its messages are above") from None
        self._idle(w)
        if reply[0] == "error":
            raise BenchError(f"the {lib} worker failed{where}: {reply[1]}\n{reply[2]}")
        return reply[1]

    def set_threads(self, threads: int) -> None:
        """Same thread count for every library; checks what each library reports back."""
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer; received: threads={threads!r}")
        for lib in self.libs:
            got = self.request(lib, "threads", threads)
            wrong = {k: v for k, v in got.items() if v != threads}
            if wrong:
                raise BenchError(f"the {lib} worker was asked for {threads} threads but reports {wrong}")
        self.threads = threads

    def fastnn_peak(self) -> float:
        """fastnn's measured single-core float32 FMA peak, GFLOP/s (measured alone, in its worker)."""
        return self.request("fastnn", "peak")

    def description(self) -> str:
        """How timings were taken, for the machine line."""
        if self.stop_idle:
            return "one process per library, idle ones stopped (SIGSTOP)"
        return "one process per library, not stopped (no SIGSTOP on this platform)"

    # -- timing ----------------------------------------------------------------------------

    def compare(self, case: Case, rounds: int = 7, block: float = 0.1, base: str = "fastnn") -> Comparison:
        """Time `case` in every library (see the module docstring). Libraries whose builder
        returns None for this case are left out of its comparison."""
        if rounds < 1 or not block > 0:
            raise ValueError(f"rounds must be >= 1 and block > 0; received: rounds={rounds}, block={block}")
        block = case.block or block
        key = next(self._keys)
        calls: Dict[str, int] = {}
        try:
            per_round, preemptions = self._time_case(case, key, rounds, block, base, calls)
        except KeyboardInterrupt:
            raise  # the pool is about to be closed: ask the workers nothing more
        except BaseException:
            self._drop(key, calls)
            raise
        self._drop(key, calls)
        return Comparison(case, per_round, calls, base, preemptions)

    def _time_case(self, case: Case, key: int, rounds: int, block: float, base: str, calls: Dict[str, int]):
        """Prepare the case in every worker (filling `calls`), check, time the rounds:
        returns (seconds per call, preemptions), per library per round."""
        summaries: Dict[str, Optional[list]] = {}
        for lib in self.libs:
            prepared = self.request(lib, "prepare", key, case.kind, case.params, block, what=case.label)
            if prepared is not None:
                calls[lib] = prepared["calls"]
                summaries[lib] = prepared["summary"]
        if base not in calls:
            raise BenchError(f"case {case.label!r} has no {base} version to compare against")
        for lib in calls:
            if lib != base:
                check_summaries(case.label, base, summaries[base], lib, summaries[lib], case.rtol)
        per_round: Dict[str, List[float]] = {lib: [] for lib in calls}
        order = list(calls)
        preemptions: Dict[str, list] = {lib: [] for lib in calls}
        settle = self.settle if (not self.stop_idle and self.threads > 1) else 0.0
        for r in range(rounds):
            k = r % len(order)
            for lib in order[k:] + order[:k]:
                if settle:
                    time.sleep(settle)
                warmup = 1 if calls[lib] >= WARMUP_MIN_CALLS else 0
                seconds, preempted = self.request(lib, "time", key, calls[lib], warmup, what=case.label)
                per_round[lib].append(seconds)
                preemptions[lib].append(preempted)
        return per_round, preemptions

    def _drop(self, key: int, libs) -> None:
        """Free a case's arrays in the workers that still run (best effort)."""
        for lib in libs:
            w = self.workers.get(lib)
            if w is not None and w.alive:
                try:
                    self.request(lib, "drop", key)
                except BenchError:
                    pass
