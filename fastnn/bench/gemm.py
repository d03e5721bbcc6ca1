"""GEMM speed table: fastnn vs NumPy's BLAS vs PyTorch, GFLOP/s and % of the FMA peak.

Used by ``benchmarks/gemm_table.py`` and ``fastnn bench gemm``::

    python benchmarks/gemm_table.py [--quick] [--threads 1 2] [--json PATH] [--no-torch]

Fairness rules (DESIGN.md, "Measuring against peers"; method in harness.py):

- Each library runs in its own worker process, and only one of them runs at a time (the idle
  ones are SIGSTOPped), so no library's spinning idle threads take a core from the next one.
- NumPy's OpenBLAS is slowed by ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` overrides in this
  machine's environment: the NumPy worker starts without them (only that process), and the table
  header records the BLAS kernel threadpoolctl reports there (SkylakeX/Cooperlake expected).
- Same thread count for all three (fastnn.set_num_threads, threadpoolctl, torch.set_num_threads),
  all writing into preallocated outputs, on the same seeded operands; fastnn's result is checked
  against NumPy's before timing.
- Interleaved rounds in rotating order; GFLOP/s from the median seconds per call, the ratios
  are medians of the per-round ratios, with their min-max.

torch is an optional peer: it is imported only in its own worker, when installed.
"""
from __future__ import annotations

import argparse
import json
import sys

from .harness import OPENBLAS_OVERRIDES, Case, Pool, fair_environment  # noqa: F401 (re-exported)
from .machine import disturbance_note, preemption_rates

__all__ = ["SHAPES", "QUICK_SHAPES", "GemmCase", "run", "format_tables", "main", "fair_environment"]


class GemmCase:
    """C (m x n) = op(A) (m x k) @ op(B) (k x n), op = transpose for 'T'."""

    def __init__(self, m, k, n, trans="NN", label=None):
        if trans not in ("NN", "NT", "TN", "TT"):
            raise ValueError(f"trans must be one of NN, NT, TN, TT; received: trans={trans!r}")
        self.m, self.k, self.n, self.trans = m, k, n, trans
        self.label = label or (f"{m}^3" if m == k == n and trans == "NN" else f"{m}x{k}x{n} {trans}")

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    def case(self) -> Case:
        return Case("gemm", f"gemm {self.label}", {"m": self.m, "k": self.k, "n": self.n, "trans": self.trans},
                    flops=self.flops, rtol=1e-4)

    def __repr__(self):
        return f"GemmCase({self.label})"


SHAPES = [
    *(GemmCase(s, s, s) for s in (64, 128, 256, 512, 1024, 2048)),
    GemmCase(128, 784, 512, "NN", "128x784x512 NN (dense fwd)"),
    GemmCase(784, 128, 512, "TN", "784x128x512 TN (weight grad)"),
    GemmCase(128, 512, 784, "NT", "128x512x784 NT (input grad)"),
    GemmCase(128, 512, 10, "NN", "128x512x10 NN (output layer)"),
    # The same dense layer as nn.Linear stores it (weight (out, in)): y = x W^T, dW = dy^T x.
    GemmCase(128, 784, 512, "NT", "128x784x512 NT (Linear fwd)"),
    GemmCase(512, 128, 784, "TN", "512x128x784 TN (Linear dW)"),
    GemmCase(128, 1024, 512, "NN"),
    GemmCase(64, 288, 25088, "NN", "64x288x25088 NN (im2col)"),
    GemmCase(32, 9, 100352, "NN", "32x9x100352 NN (im2col)"),
]
QUICK_SHAPES = [c for c in SHAPES if c.label.split()[0] in
                ("256^3", "1024^3", "128x784x512", "784x128x512", "128x512x784", "128x512x10")]


def _pool_info(pool: Pool) -> dict:
    numpy_info = pool.info.get("numpy", {})
    return {
        "blas": numpy_info.get("blas", {}),
        "openblas_overrides_in_env": [v for v in OPENBLAS_OVERRIDES if v in numpy_info.get("blas_env", {})],
        "isa": pool.info["fastnn"]["isa"],
        "amx": bool(pool.info["fastnn"].get("amx")),
        "torch": pool.info.get("torch", {}).get("torch"),
        "timing": pool.description(),
        "notes": list(pool.notes),
    }


def run(threads=(1, 2), quick: bool = False, shapes=None, rounds=None, block=None,
        peers=("numpy", "torch"), progress=None, pool: Pool = None, fair_blas: bool = True) -> dict:
    """Measure the table. Returns a JSON-able dict:
    {"blas": ..., "isa": ..., "peak_gflops_per_core": ..., "tables": {threads: [rows]}}
    where each row has the shape, GFLOP/s of fastnn / numpy / torch, fastnn's speed ratios to
    each peer (median of the rounds) with their per-round min-max, and % of peak.

    pool: an open :class:`Pool` to use (its libraries decide the peers); by default one is started
    for `peers` and closed at the end. block: seconds per timed block; rounds: per shape.
    """
    shapes = shapes or (QUICK_SHAPES if quick else SHAPES)
    rounds = rounds or (5 if quick else 11)
    block = block or (0.05 if quick else 0.2)
    if pool is None:
        with Pool(("fastnn", *peers), threads=threads[0], fair_blas=fair_blas) as own:
            return run(threads, quick, shapes, rounds, block, peers, progress, own)
    peak = pool.fastnn_peak()
    result = {**_pool_info(pool), "peak_gflops_per_core": peak, "rounds": rounds, "block_seconds": block,
              "tables": {}}
    for t in threads:
        pool.set_threads(t)
        rows = []
        for shape in shapes:
            c = pool.compare(shape.case(), rounds=rounds, block=block)
            gflops = {lib: shape.flops / s * 1e-9 for lib, s in c.seconds.items()}
            row = {"shape": shape.label, "m": shape.m, "k": shape.k, "n": shape.n, "trans": shape.trans,
                   "fastnn": gflops["fastnn"], "numpy": gflops.get("numpy"), "torch": gflops.get("torch"),
                   "pct_peak": 100.0 * gflops["fastnn"] / (peak * t), "preempted_per_s": preemption_rates(c)}
            for peer in ("numpy", "torch"):
                row[f"fastnn/{peer}"] = c.ratios.get(peer)
                row[f"fastnn/{peer}_range"] = list(c.ratio_ranges[peer]) if peer in c.ratios else None
            rows.append(row)
            if progress:
                progress(t, row)
        result["tables"][str(t)] = rows
    return result


def _ratio_cells(r, peer: str) -> str:
    value, spread = r.get(f"fastnn/{peer}"), r.get(f"fastnn/{peer}_range")
    if value is None:
        return f"{'-':>8} {'':>11}"
    return f"{value:8.2f} {f'{spread[0]:.2f}-{spread[1]:.2f}':>11}"


def format_tables(result: dict) -> str:
    blas = result.get("blas", {})
    kept = result.get("openblas_overrides_in_env")
    lines = [f"NumPy BLAS: {blas.get('internal_api')} {blas.get('version')} kernel={blas.get('architecture')}"
             f"{' (with ' + ', '.join(kept) + ' kept)' if kept else ''}; "
             f"fastnn ISA: {result['isa']}{' + AMX (large float32 products)' if result.get('amx') else ''}; "
             f"torch: {result.get('torch')}; "
             f"peak {result['peak_gflops_per_core']:.1f} GFLOP/s per core (measured FMA throughput"
             f"{'; AMX products can pass it' if result.get('amx') else ''})"]
    if result.get("timing"):
        lines.append(f"timing: {result['timing']}")
    lines += [f"note: {n}" for n in result.get("notes", ())]
    head = (f"{'shape':<30} {'fastnn':>8} {'numpy':>8} {'torch':>8} {'f/numpy':>8} {'range':>11} "
            f"{'f/torch':>8} {'range':>11} {'%peak':>6}")
    for t, rows in result["tables"].items():
        lines += ["", f"float32 GFLOP/s, {t} thread{'s' if t != '1' else ''} "
                      f"(median of {result.get('rounds', '?')} interleaved rounds; "
                      f"ratio = how many times faster fastnn is, range = min-max over the rounds)",
                  head, "-" * len(head)]
        for r in rows:
            numpy_s = f"{r['numpy']:8.1f}" if r.get("numpy") is not None else f"{'-':>8}"
            torch_s = f"{r['torch']:8.1f}" if r.get("torch") is not None else f"{'-':>8}"
            lines.append(f"{r['shape']:<30} {r['fastnn']:8.1f} {numpy_s} {torch_s} {_ratio_cells(r, 'numpy')} "
                         f"{_ratio_cells(r, 'torch')} {r['pct_peak']:6.1f}")
        note = disturbance_note(rows, lambda r: r["shape"])
        if note:
            lines.append(note)
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line: measure and print the tables (optionally write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the NumPy worker")
    args = parser.parse_args(argv)
    bad = [t for t in args.threads if t < 1]
    if bad:
        parser.error(f"--threads: expected positive integers, got {bad[0]}")

    def progress(t, row):
        others = ", ".join(f"{peer} {row[peer]:.1f}" for peer in ("numpy", "torch") if row.get(peer) is not None)
        print(f"  [{t} thread(s)] {row['shape']}: fastnn {row['fastnn']:.1f}, {others} GFLOP/s",
              file=sys.stderr, flush=True)

    result = run(threads=args.threads, quick=args.quick, progress=progress, fair_blas=not args.keep_blas_env,
                 peers=("numpy",) if args.no_torch else ("numpy", "torch"))
    print(format_tables(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
