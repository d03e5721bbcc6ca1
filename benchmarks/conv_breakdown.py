"""Where conv2d's forward+backward time goes: the three GEMMs vs im2col/col2im vs the rest.

    PYTHONPATH=. python benchmarks/conv_breakdown.py [--threads N] [--repeat R]

For each benchmark layer it times, best of R runs: the whole fastnn fwd+bwd (columns recomputed
in backward), the same GEMMs alone at the exact shapes conv2d makes
(y = W @ cols, dW = dY @ cols^T, dcols = W^T @ dY, as single GEMMs on whole-batch
(C*KH*KW, N*OH*OW) matrices; the kernel makes them per L2-sized chunk of samples),
im2col and col2im alone, and PyTorch's F.conv2d fwd+bwd when installed. "other" is the
remainder: the channel-major permutes of y and dy, the bias and db reductions, allocation.
The 1x1 layer makes per-sample GEMMs on x itself (no im2col); its GEMM row times the three
products at the same total size as single GEMMs, an estimate.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import fastnn
from fastnn import ops

SHAPES = [
    ("3x3 pad1 (128,1,28,28)->32", (128, 1, 28, 28), 32, 3, 1),
    ("3x3 pad1 (128,32,14,14)->64", (128, 32, 14, 14), 64, 3, 1),
    ("1x1 (128,64,14,14)->32", (128, 64, 14, 14), 32, 1, 0),
    ("5x5 (128,20,12,12)->50", (128, 20, 12, 12), 50, 5, 0),
]


def best_ms(fn, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=fastnn.get_num_threads())
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    fastnn.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"threads={args.threads}, best of {args.repeat}, ms, float32")
    header = f"{'layer':30} {'fastnn':>8} {'gemm':>8} {'im2col':>8} {'col2im':>8} {'other':>8} {'torch':>8} {'torch/fastnn':>12}"
    print(header)
    for name, x_shape, oc, k, p in SHAPES:
        n, c, h, w = x_shape
        x = rng.standard_normal(x_shape).astype(np.float32)
        wt = (rng.standard_normal((oc, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
        b = rng.standard_normal(oc).astype(np.float32)
        oh = h + 2 * p - k + 1
        dy = rng.standard_normal((n, oc, oh, oh)).astype(np.float32)

        def fwd_bwd():
            ops.conv2d_forward(x, wt, b, 1, p)
            ops.conv2d_backward(dy, x, wt, 1, p)

        total = best_ms(fwd_bwd, args.repeat)
        kk, np_ = c * k * k, n * oh * oh
        wm = wt.reshape(oc, kk)
        cols = rng.standard_normal((kk, np_)).astype(np.float32)
        dym = rng.standard_normal((oc, np_)).astype(np.float32)
        gemm = (best_ms(lambda: ops.gemm(wm, cols), args.repeat)
                + best_ms(lambda: ops.gemm(dym, cols, trans_b=True), args.repeat)
                + best_ms(lambda: ops.gemm(wm, dym, trans_a=True), args.repeat))
        if k > 1:
            i2c = best_ms(lambda: ops.im2col(x, k, 1, p), args.repeat)
            bcols = ops.im2col(x, k, 1, p)
            c2i = best_ms(lambda: ops.col2im(bcols, x_shape, k, 1, p), args.repeat)
        else:
            i2c = c2i = 0.0
        other = total - gemm - i2c - c2i
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, wt, b))
            tdy = torch.from_numpy(dy)

            def torch_run():
                tx.grad = tw.grad = tb.grad = None
                torch.nn.functional.conv2d(tx, tw, tb, padding=p).backward(tdy)

            t_ms = best_ms(torch_run, args.repeat)
            torch_cols = f"{t_ms:8.2f} {t_ms / total:12.2f}"
        else:
            torch_cols = f"{'-':>8} {'-':>12}"
        print(f"{name:30} {total:8.2f} {gemm:8.2f} {i2c:8.2f} {c2i:8.2f} {other:8.2f} {torch_cols}")


if __name__ == "__main__":
    main()
