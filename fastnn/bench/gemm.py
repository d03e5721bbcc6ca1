"""GEMM speed table: fastnn vs NumPy's BLAS vs PyTorch, GFLOP/s and % of the FMA peak.

Used by ``benchmarks/gemm_table.py`` (and meant for a ``fastnn bench gemm`` command)::

    python benchmarks/gemm_table.py [--quick] [--threads 1 2] [--json PATH]

Fairness rules (DESIGN.md, "Measuring against peers"):

- NumPy's OpenBLAS is slowed by ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` overrides in this
  machine's environment; :func:`main` re-executes the process without them (only that
  process) and records the BLAS kernel threadpoolctl reports (SkylakeX/Cooperlake expected).
- Same thread count for all three (fastnn.set_num_threads, threadpoolctl, torch.set_num_threads),
  all writing into preallocated outputs.
- Timing is interleaved: each repetition times fastnn, NumPy and torch back to back, and the
  median of the repetitions is reported, so load from other processes hits all of them alike.

torch is an optional peer: imported here only when asked for and installed (fastnn itself never
imports it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np

import fastnn
from fastnn import _core, ops

__all__ = ["SHAPES", "QUICK_SHAPES", "GemmCase", "blas_info", "run", "format_tables", "main"]

OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class GemmCase:
    """C (m x n) = op(A) (m x k) @ op(B) (k x n), op = transpose for 'T'."""

    def __init__(self, m, k, n, trans="NN", label=None):
        self.m, self.k, self.n, self.trans = m, k, n, trans
        self.label = label or (f"{m}^3" if m == k == n and trans == "NN" else f"{m}x{k}x{n} {trans}")

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    def __repr__(self):
        return f"GemmCase({self.label})"


SHAPES = [
    *(GemmCase(s, s, s) for s in (64, 128, 256, 512, 1024, 2048)),
    GemmCase(128, 784, 512, "NN", "128x784x512 NN (dense fwd)"),
    GemmCase(784, 128, 512, "TN", "784x128x512 TN (weight grad)"),
    GemmCase(128, 512, 784, "NT", "128x512x784 NT (input grad)"),
    GemmCase(128, 512, 10, "NN", "128x512x10 NN (output layer)"),
    GemmCase(128, 1024, 512, "NN"),
    GemmCase(64, 288, 25088, "NN", "64x288x25088 NN (im2col)"),
    GemmCase(32, 9, 100352, "NN", "32x9x100352 NN (im2col)"),
]
QUICK_SHAPES = [c for c in SHAPES if c.label.split()[0] in
                ("256^3", "1024^3", "128x784x512", "784x128x512", "128x512x784", "128x512x10")]


def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl sees it (kernel 'architecture', version), or {}."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return {k: info.get(k) for k in ("internal_api", "architecture", "version", "num_threads")}
    return {}


def _operands(case: GemmCase, rng):
    ta, tb = case.trans[0] == "T", case.trans[1] == "T"
    a = rng.standard_normal((case.k, case.m) if ta else (case.m, case.k), dtype=np.float32)
    b = rng.standard_normal((case.n, case.k) if tb else (case.k, case.n), dtype=np.float32)
    return a, b, ta, tb


def _runners(case: GemmCase, rng, torch):
    """name -> zero-argument callable doing one product into a preallocated output."""
    a, b, ta, tb = _operands(case, rng)
    out_f = np.empty((case.m, case.n), np.float32)
    out_n = np.empty((case.m, case.n), np.float32)
    opa = a.T if ta else a  # views: BLAS reads them through its transpose flags
    opb = b.T if tb else b
    runners = {
        "fastnn": lambda: ops.gemm(a, b, trans_a=ta, trans_b=tb, out=out_f),
        "numpy": lambda: np.matmul(opa, opb, out=out_n),
    }
    if torch is not None:
        ta_t, tb_t = torch.from_numpy(a), torch.from_numpy(b)
        top_a = ta_t.t() if ta else ta_t
        top_b = tb_t.t() if tb else tb_t
        out_t = torch.empty((case.m, case.n), dtype=torch.float32)
        runners["torch"] = lambda: torch.mm(top_a, top_b, out=out_t)
    # Check once that fastnn computes the same product (a benchmark must not time a wrong kernel).
    runners["fastnn"]()
    runners["numpy"]()
    scale = np.sqrt(case.k) * 1e-5 * max(1.0, float(np.abs(out_n).max()))
    if not np.allclose(out_f, out_n, rtol=0, atol=scale):
        raise AssertionError(f"fastnn and NumPy disagree on {case.label}")
    return runners


def _time_interleaved(runners: dict, flops: float, reps: int, min_seconds: float, settle: float = 0.0) -> dict:
    """GFLOP/s per runner (median over `reps` rounds) and fastnn's speed ratio to each peer
    (median of the per-round ratios: a round times every runner back to back, in rotating
    order, over the same number of calls, so load from other processes hits all alike)."""
    for fn in runners.values():  # warm up: page in outputs, start thread pools
        fn()
    t0 = time.perf_counter()
    runners["fastnn"]()
    one = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, math.ceil(min_seconds / one))
    samples = {name: [] for name in runners}
    names = list(runners)
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn = runners[name]
            if settle:
                # Idle worker threads of the library timed just before keep spinning for a
                # while (OpenBLAS ~2**28 cycles, OpenMP runtimes ~0.2 s) and would steal the
                # core this runner's second thread needs: let them go to sleep first.
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)
    result = {name: flops / statistics.median(ts) * 1e-9 for name, ts in samples.items()}
    for name in names:
        if name != "fastnn":
            result[f"fastnn/{name}"] = statistics.median(
                t_peer / t_fast for t_peer, t_fast in zip(samples[name], samples["fastnn"]))
    return result


def run(threads=(1, 2), quick: bool = False, shapes=None, reps=None, min_seconds=None,
        peers=("numpy", "torch"), progress=None, settle: float = 0.25) -> dict:
    """Measure the table. Returns a JSON-able dict:
    {"blas": ..., "isa": ..., "peak_gflops_per_core": ..., "tables": {threads: [rows]}}
    where each row has shape, GFLOP/s of fastnn / numpy / torch, the ratios and % of peak.
    settle: seconds of sleep before each timed runner when threads > 1 (see _time_interleaved).
    """
    shapes = shapes or (QUICK_SHAPES if quick else SHAPES)
    reps = reps or (5 if quick else 9)
    min_seconds = min_seconds or (0.01 if quick else 0.02)
    torch = None
    if "torch" in peers:
        try:
            import torch  # optional peer
        except ImportError:
            torch = None
    from threadpoolctl import threadpool_limits

    peak = _core.fma_peak_gflops(False, 0.2)
    result = {
        "blas": blas_info(),
        "openblas_overrides_in_env": [v for v in OPENBLAS_OVERRIDES if v in os.environ],
        "isa": fastnn.get_isa(),
        "torch": getattr(torch, "__version__", None),
        "peak_gflops_per_core": peak,
        "tables": {},
    }
    rng = np.random.default_rng(0)
    before = fastnn.get_num_threads()
    try:
        for t in threads:
            fastnn.set_num_threads(t)
            if torch is not None:
                torch.set_num_threads(t)
            rows = []
            with threadpool_limits(limits=t, user_api="blas"):
                for case in shapes:
                    g = _time_interleaved(_runners(case, rng, torch), case.flops, reps, min_seconds,
                                          settle=settle if t > 1 else 0.0)
                    row = {
                        "shape": case.label, "m": case.m, "k": case.k, "n": case.n, "trans": case.trans,
                        "fastnn": g["fastnn"], "numpy": g["numpy"], "torch": g.get("torch"),
                        "fastnn/numpy": g["fastnn/numpy"],
                        "fastnn/torch": g.get("fastnn/torch"),
                        "pct_peak": 100.0 * g["fastnn"] / (peak * t),
                    }
                    rows.append(row)
                    if progress:
                        progress(t, row)
            result["tables"][str(t)] = rows
    finally:
        fastnn.set_num_threads(before)
    return result


def format_tables(result: dict) -> str:
    blas = result.get("blas", {})
    lines = [f"NumPy BLAS: {blas.get('internal_api')} {blas.get('version')} kernel={blas.get('architecture')}; "
             f"fastnn ISA: {result['isa']}; torch: {result.get('torch')}; "
             f"peak {result['peak_gflops_per_core']:.1f} GFLOP/s per core (measured FMA throughput)"]
    head = f"{'shape':<30} {'fastnn':>8} {'numpy':>8} {'torch':>8} {'f/numpy':>8} {'f/torch':>8} {'%peak':>6}"
    for t, rows in result["tables"].items():
        lines += ["", f"float32 GFLOP/s, {t} thread{'s' if t != '1' else ''} "
                      f"(median of interleaved repetitions)", head, "-" * len(head)]
        for r in rows:
            torch_s = f"{r['torch']:8.1f}" if r["torch"] is not None else f"{'-':>8}"
            ratio_t = f"{r['fastnn/torch']:8.2f}" if r["fastnn/torch"] is not None else f"{'-':>8}"
            lines.append(f"{r['shape']:<30} {r['fastnn']:8.1f} {r['numpy']:8.1f} {torch_s} "
                         f"{r['fastnn/numpy']:8.2f} {ratio_t} {r['pct_peak']:6.1f}")
    return "\n".join(lines)


def fair_environment(env=None) -> dict:
    """A copy of the environment without the OpenBLAS overrides that slow NumPy down."""
    env = dict(os.environ if env is None else env)
    for v in OPENBLAS_OVERRIDES:
        env.pop(v, None)
    return env


def main(argv=None, reexec_argv=None) -> int:
    """Command line: parse, re-execute without the OpenBLAS overrides if needed, print tables.

    reexec_argv: the full command that reruns this program (default: this process's own).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and repetitions")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    args = parser.parse_args(argv)
    if any(v in os.environ for v in OPENBLAS_OVERRIDES):
        # NumPy's OpenBLAS read them at import: only a fresh process runs at full speed.
        cmd = reexec_argv or getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *cmd[1:]], fair_environment())

    def progress(t, row):
        print(f"  [{t} thread(s)] {row['shape']}: fastnn {row['fastnn']:.1f}, numpy {row['numpy']:.1f} GFLOP/s",
              file=sys.stderr, flush=True)

    result = run(threads=args.threads, quick=args.quick,
                 peers=("numpy",) if args.no_torch else ("numpy", "torch"), progress=progress)
    print(format_tables(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
