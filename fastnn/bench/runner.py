"""``fastnn bench [gemm|conv|layers|train|all] [--quick] [--json PATH]``: one table.

Columns: op / shape, fastnn time, NumPy reference time, PyTorch time (when installed), the
ratios (how many times faster fastnn is), GFLOP/s and % of the machine's peak where the op has
a flop count. Timings are interleaved (see timing.py); the machine line says CPU, ISA, threads
and NumPy's BLAS kernel. For the GEMM table against NumPy's best BLAS kernel see
``fastnn.bench.gemm`` (it unsets OPENBLAS_CORETYPE in its own process).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .machine import machine_line
from .timing import compare


@dataclass
class Case:
    suite: str
    op: str
    shape: str
    fastnn: Callable[[], object]
    numpy: Optional[Callable[[], object]]
    torch: Optional[Callable[[], object]]
    flops: Optional[float] = None


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def conv_cases(torch, quick: bool):
    from fastnn import ops, reference

    rng = np.random.default_rng(0)
    shapes = [((128, 1, 28, 28), 32, 3, 1), ((128, 32, 14, 14), 64, 3, 1), ((128, 64, 14, 14), 32, 1, 0),
              ((128, 20, 12, 12), 50, 5, 0)]
    if quick:
        shapes = shapes[1:3]
    cases = []
    for xs, oc, k, pad in shapes:
        x = rng.standard_normal(xs).astype(np.float32)
        w = (rng.standard_normal((oc, xs[1], k, k)) * 0.1).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        oh = xs[2] + 2 * pad - k + 1
        dy = rng.standard_normal((xs[0], oc, oh, oh)).astype(np.float32)
        flops = 3 * 2.0 * xs[0] * oc * oh * oh * xs[1] * k * k  # forward + dx + dw

        def run(mod, x=x, w=w, b=b, dy=dy, pad=pad):
            mod.conv2d_forward(x, w, b, 1, pad)
            return mod.conv2d_backward(dy, x, w, 1, pad)

        tfn = None
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
            tdy = torch.from_numpy(dy)

            def tfn(tx=tx, tw=tw, tb=tb, tdy=tdy, pad=pad):
                for t in (tx, tw, tb):
                    t.grad = None
                torch.nn.functional.conv2d(tx, tw, tb, padding=pad).backward(tdy)

        cases.append(Case("conv", f"conv{k}x{k} fwd+bwd", f"{xs}->{oc} pad {pad}", lambda run=run: run(ops),
                          lambda run=run: run(reference), tfn, flops))
    return cases


def layer_cases(torch, quick: bool):
    from fastnn import ops, reference

    rng = np.random.default_rng(1)
    cases = []

    # max pool 2x2
    x = rng.standard_normal((128, 32, 28, 28)).astype(np.float32)
    dyp = rng.standard_normal((128, 32, 14, 14)).astype(np.float32)

    def pool(mod, x=x, dyp=dyp):
        y, idx = mod.max_pool2d_forward(x, 2)
        return mod.max_pool2d_backward(dyp, idx, x.shape)

    tpool = None
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)
        tdyp = torch.from_numpy(dyp)

        def tpool():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, 2).backward(tdyp)
    cases.append(Case("layers", "maxpool2x2 fwd+bwd", "(128, 32, 28, 28)", lambda: pool(ops), lambda: pool(reference), tpool))

    # batch norm 2d, training mode
    xb = rng.standard_normal((128, 64, 14, 14)).astype(np.float32)
    dyb = rng.standard_normal(xb.shape).astype(np.float32)
    g, be = np.ones(64, np.float32), np.zeros(64, np.float32)

    def bn(mod):
        rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)
        y, mean, invstd = mod.batch_norm_forward(xb, g, be, rm, rv, training=True)
        return mod.batch_norm_backward(dyb, xb, g, mean, invstd, training=True)

    tbn = None
    if torch is not None:
        tbx = torch.from_numpy(xb).requires_grad_(True)
        tg, tbe = torch.from_numpy(g).requires_grad_(True), torch.from_numpy(be).requires_grad_(True)
        tdyb = torch.from_numpy(dyb)

        def tbn():
            for t in (tbx, tg, tbe):
                t.grad = None
            rm, rv = torch.zeros(64), torch.ones(64)
            torch.nn.functional.batch_norm(tbx, rm, rv, tg, tbe, training=True).backward(tdyb)
    cases.append(Case("layers", "batchnorm2d fwd+bwd", "(128, 64, 14, 14)", lambda: bn(ops), lambda: bn(reference), tbn))

    # activations on 1M elements
    xa = rng.standard_normal(1 << 20).astype(np.float32)
    dya = rng.standard_normal(1 << 20).astype(np.float32)
    for name, saved in (("relu", "x"), ("tanh", "y")):
        def act(mod, name=name, saved=saved):
            y = getattr(mod, name)(xa)
            return getattr(mod, name + "_backward")(dya, y if saved == "y" else xa)

        tact = None
        if torch is not None:
            txa = torch.from_numpy(xa).requires_grad_(True)
            tdya = torch.from_numpy(dya)

            def tact(name=name, txa=txa, tdya=tdya):
                txa.grad = None
                getattr(torch, name)(txa).backward(tdya)
        cases.append(Case("layers", f"{name} fwd+bwd", "1M", lambda act=act: act(ops), lambda act=act: act(reference), tact))

    # softmax cross-entropy on (128, 10)
    logits = rng.standard_normal((128, 10)).astype(np.float32)
    labels = rng.integers(0, 10, 128).astype(np.int64)
    tce = None
    if torch is not None:
        tl = torch.from_numpy(logits).requires_grad_(True)
        tlab = torch.from_numpy(labels)

        def tce():
            tl.grad = None
            torch.nn.functional.cross_entropy(tl, tlab).backward()
    cases.append(Case("layers", "softmax-CE fwd+bwd", "(128, 10)", lambda: ops.softmax_cross_entropy(logits, labels),
                      lambda: reference.softmax_cross_entropy(logits, labels), tce))

    # Adam on 1M parameters
    n = 1 << 20
    state = {k: [rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32),
                 np.zeros(n, np.float32), np.zeros(n, np.float32)] for k in ("ops", "ref")}

    def adam(mod, key):
        p, gr, m, v = state[key]
        mod.adam_update(p, gr, m, v, step=1, lr=1e-3)

    tadam = None
    if torch is not None:
        tp = torch.nn.Parameter(torch.from_numpy(rng.standard_normal(n).astype(np.float32)))
        tp.grad = torch.from_numpy(rng.standard_normal(n).astype(np.float32))
        topt = torch.optim.Adam([tp], lr=1e-3)
        tadam = topt.step
    cases.append(Case("layers", "Adam update", "1M params", lambda: adam(ops, "ops"), lambda: adam(reference, "ref"), tadam))
    return cases


def peak_gflops(threads: int) -> float:
    """The machine's float32 peak for `threads` cores, from a measured FMA throughput probe."""
    from .. import _core

    return _core.fma_peak_gflops(False, 0.2) * threads


def run_cases(cases, quick: bool, threads: int):
    rows = []
    peak = peak_gflops(threads)
    for c in cases:
        cands = {"fastnn": c.fastnn}
        if c.numpy is not None:
            cands["numpy"] = c.numpy
        if c.torch is not None:
            cands["torch"] = c.torch
        t = compare(cands, rounds=3 if quick else 7, block=0.02 if quick else 0.1)
        row = {"suite": c.suite, "op": c.op, "shape": c.shape, "fastnn_ms": t["fastnn"] * 1e3,
               "numpy_ms": t.get("numpy", float("nan")) * 1e3, "torch_ms": t.get("torch", float("nan")) * 1e3}
        row["vs_numpy"] = row["numpy_ms"] / row["fastnn_ms"]
        row["vs_torch"] = row["torch_ms"] / row["fastnn_ms"]
        if c.flops:
            row["gflops"] = c.flops / t["fastnn"] / 1e9
            row["pct_peak"] = 100 * row["gflops"] / peak if peak else float("nan")
        rows.append(row)
    return rows


def format_table(rows) -> str:
    head = (f"{'op':<22} {'shape':<28} {'fastnn ms':>10} {'numpy ms':>10} {'torch ms':>10} "
            f"{'vs numpy':>9} {'vs torch':>9} {'GFLOP/s':>8} {'% peak':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        gf = r.get("gflops")
        pp = r.get("pct_peak")
        lines.append(f"{r['op']:<22} {r['shape']:<28} {r['fastnn_ms']:>10.3f} {r['numpy_ms']:>10.3f} "
                     f"{r['torch_ms']:>10.3f} {r['vs_numpy']:>8.1f}x {r['vs_torch']:>8.2f}x "
                     f"{'' if gf is None else f'{gf:8.1f}':>8} {'' if pp is None or pp != pp else f'{pp:6.0f}%':>7}")
    return "\n".join(lines)


def main(args) -> int:
    import fastnn

    from .gemm import OPENBLAS_OVERRIDES, fair_environment

    overrides = [v for v in OPENBLAS_OVERRIDES if v in os.environ]
    if overrides and not args.keep_blas_env:
        # NumPy's OpenBLAS reads them at import and runs a slower kernel: compare against its best
        # kernel by re-running this benchmark process without them (tests and CI keep them).
        print(f"(re-running without {', '.join(overrides)} so NumPy uses its best BLAS kernel)", flush=True)
        argv = [sys.executable, "-m", "fastnn", "bench", *sys.argv[sys.argv.index("bench") + 1:]] \
            if "bench" in sys.argv else [sys.executable, "-m", "fastnn", "bench"]
        os.execve(sys.executable, argv, fair_environment())
    if args.threads:
        fastnn.set_num_threads(args.threads)
    threads = fastnn.get_num_threads()
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
    suites = ("gemm", "conv", "layers", "train") if args.suite == "all" else (args.suite,)
    results = {"machine": machine_line(threads)}
    print(results["machine"])
    if torch is None:
        print("(PyTorch not installed: its columns are empty; pip install torch to compare)")
    for suite in suites:
        print(f"\n== {suite}")
        if suite == "gemm":
            from . import gemm as gemm_bench

            rows = gemm_bench.run(threads=(threads,), quick=args.quick,
                                  peers=("numpy", "torch") if torch is not None else ("numpy",))
            print(gemm_bench.format_tables(rows))
        elif suite == "train":
            from . import train as train_bench

            rows = train_bench.run(samples=2048 if args.quick else 60_000, reference_batches=2 if args.quick else 10,
                                   torch_peer=torch is not None, threads=threads)
            print(train_bench.format_rows(rows))
        else:
            cases = conv_cases(torch, args.quick) if suite == "conv" else layer_cases(torch, args.quick)
            rows = run_cases(cases, args.quick, threads)
            print(format_table(rows))
        sys.stdout.flush()
        results[suite] = rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0
