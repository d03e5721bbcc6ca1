"""Where conv2d's forward+backward time goes, per benchmark layer, against PyTorch.

    PYTHONPATH=. python benchmarks/conv_breakdown.py [--threads N] [--repeat R]

For each layer, best of R interleaved rounds (fastnn, the im2col path forced, PyTorch, the parts
below, in turn: a machine shared with other work slows them alike); CPU time of this thread with
1 thread (time.thread_time: other processes' load does not count), wall time with more. Columns:

- algo: what fastnn runs for the layer (``_core.conv2d_algorithm``): pointwise (1x1: GEMMs on x
  itself), im2col (column matrices + GEMMs), winograd (F(2x2, 3x3), csrc/kernels/winograd.h).
- fastnn: y, dx, dw, db (columns recomputed in backward, as the layers do); im2col path: the
  same with ``_core.set_conv2d_algorithm("im2col")``.
- gemm: im2col layers: the three GEMMs alone at the exact shapes conv2d makes (y = W @ cols,
  dW = dY @ cols^T, dcols = W^T @ dY as single whole-batch GEMMs; the kernel makes them per
  L2-sized chunk; for the 1x1 layer an estimate at the same total size). winograd layers
  (marked *): its 48 products' time at the measured FMA peak of the cores in use, a lower bound
  (they run inside the kernel and are not timed apart).
- im2col, col2im: those passes alone (im2col layers).
- other: the rest: channel-major copies, bias and db, allocation; for Winograd the tile
  transforms, the channel-last transposes and the weight transforms.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastnn
from fastnn import _core, ops

SHAPES = [
    ("3x3 pad1 (128,1,28,28)->32", (128, 1, 28, 28), 32, 3, 1),
    ("3x3 pad1 (128,32,14,14)->64", (128, 32, 14, 14), 64, 3, 1),
    ("1x1 (128,64,14,14)->32", (128, 64, 14, 14), 32, 1, 0),
    ("5x5 (128,20,12,12)->50", (128, 20, 12, 12), 50, 5, 0),
]


def interleaved_best(fns, repeat, clock):
    """{name: best ms} over `repeat` rounds, each round running every fn once in turn."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t = clock()
            fn()
            best[name] = min(best[name], clock() - t)
    return {name: t * 1e3 for name, t in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    fastnn.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    peak = _core.fma_peak_gflops(False, 0.2) * args.threads
    rng = np.random.default_rng(0)
    print(f"threads={args.threads}, best of {args.repeat} interleaved rounds, ms "
          f"({'CPU time' if args.threads == 1 else 'wall time'}), float32, FMA peak {peak:.0f} GFLOP/s")
    print(f"{'layer':30} {'algo':>9} {'fastnn':>8} {'gemm':>8} {'im2col':>8} {'col2im':>8} {'other':>8} "
          f"{'im2col path':>11} {'torch':>8} {'torch/fastnn':>12}")
    for name, x_shape, oc, k, p in SHAPES:
        n, c, h, w = x_shape
        x = rng.standard_normal(x_shape).astype(np.float32)
        wt = (rng.standard_normal((oc, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        oh = h + 2 * p - k + 1
        dy = rng.standard_normal((n, oc, oh, oh)).astype(np.float32)
        algo = _core.conv2d_algorithm(x, wt, (1, 1), (p, p))

        def fwd_bwd():
            ops.conv2d_forward(x, wt, b, 1, p)
            ops.conv2d_backward(dy, x, wt, 1, p)

        def forced_im2col():
            _core.set_conv2d_algorithm("im2col")
            try:
                fwd_bwd()
            finally:
                _core.set_conv2d_algorithm("auto")

        fns = {"fastnn": fwd_bwd, "im2col path": forced_im2col}
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, wt, b))
            tdy = torch.from_numpy(dy)

            def torch_run():
                tx.grad = tw.grad = tb.grad = None
                torch.nn.functional.conv2d(tx, tw, tb, padding=p).backward(tdy)

            fns["torch"] = torch_run
        kk, np_ = c * k * k, n * oh * oh
        if algo != "winograd":
            wm = wt.reshape(oc, kk)
            cols = rng.standard_normal((kk, np_)).astype(np.float32)
            dym = rng.standard_normal((oc, np_)).astype(np.float32)
            fns["gemm y"] = lambda: ops.gemm(wm, cols)
            fns["gemm dw"] = lambda: ops.gemm(dym, cols, trans_b=True)
            fns["gemm dcols"] = lambda: ops.gemm(wm, dym, trans_a=True)
            if k > 1:
                bcols = ops.im2col(x, k, 1, p)
                fns["im2col"] = lambda: ops.im2col(x, k, 1, p)
                fns["col2im"] = lambda: ops.col2im(bcols, x_shape, k, 1, p)
        t = interleaved_best(fns, args.repeat, clock)
        if algo == "winograd":
            tiles = n * ((oh + 1) // 2) ** 2
            gemm = 3 * 16 * 2.0 * c * oc * tiles / (peak * 1e9) * 1e3
            i2c = c2i = None
            other = t["fastnn"] - gemm
        else:
            gemm = t["gemm y"] + t["gemm dw"] + t["gemm dcols"]
            i2c, c2i = t.get("im2col", 0.0), t.get("col2im", 0.0)
            other = t["fastnn"] - gemm - i2c - c2i

        def col(v, width=8, mark=""):
            return f"{'-':>{width}}" if v is None else f"{v:{width - len(mark)}.2f}{mark}"

        torch_cols = (f"{t['torch']:8.2f} {t['torch'] / t['fastnn']:12.2f}" if "torch" in t
                      else f"{'-':>8} {'-':>12}")
        print(f"{name:30} {algo:>9} {t['fastnn']:8.2f} {col(gemm, mark='*' if algo == 'winograd' else '')} "
              f"{col(i2c)} {col(c2i)} {other:8.2f} {t['im2col path']:11.2f} {torch_cols}")


if __name__ == "__main__":
    main()
