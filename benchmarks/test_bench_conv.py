"""conv2d forward+backward (float32, NCHW): fastnn vs the NumPy reference vs PyTorch.

One group per layer shape (the LeNet/ResNet-style layers of the examples). fastnn runs the
algorithm it picks for the layer (``_core.conv2d_algorithm``: Winograd F(2x2, 3x3) for the
32 -> 64 3x3 layer, im2col or plain GEMMs for the others), recomputing what backward needs
from x; ``test_fastnn_im2col`` forces the im2col path for comparison. PyTorch runs F.conv2d +
autograd with the same thread count. Every variant computes y, dx, dw and db.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. pytest benchmarks/test_bench_conv.py \
        --benchmark-enable --benchmark-group-by=group --benchmark-columns=min,median,rounds

(unsetting the two OpenBLAS variables lets the NumPy reference use its best BLAS kernel).
"""
import numpy as np
import pytest

from fastnn import _core, ops, reference

from conftest import THREADS

# name -> (x shape, OC, kernel, padding); stride 1 everywhere
SHAPES = {
    "3x3 pad1 (128,1,28,28)->32": ((128, 1, 28, 28), 32, 3, 1),
    "3x3 pad1 (128,32,14,14)->64": ((128, 32, 14, 14), 64, 3, 1),
    "1x1 (128,64,14,14)->32": ((128, 64, 14, 14), 32, 1, 0),
    "5x5 (128,20,12,12)->50": ((128, 20, 12, 12), 50, 5, 0),
}


@pytest.fixture(params=list(SHAPES), scope="module")
def case(request):
    rng = np.random.default_rng(0)
    x_shape, oc, k, p = SHAPES[request.param]
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal((oc, x_shape[1], k, k)) / np.sqrt(x_shape[1] * k * k)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    oh = x_shape[2] + 2 * p - k + 1
    dy = rng.standard_normal((x_shape[0], oc, oh, oh)).astype(np.float32)
    return request.param, x, w, b, p, dy


def _check(grads, x, w, b, p, dy):
    """Spot-check against the reference on the first two samples (cheap, still catches a wrong kernel)."""
    dx, dw, db = grads
    dx_r, _, _ = reference.conv2d_backward(dy[:2].astype(np.float64), x[:2].astype(np.float64),
                                           w.astype(np.float64), 1, p)
    np.testing.assert_allclose(dx[:2], dx_r, rtol=1e-3, atol=1e-3)
    dw_r = reference.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64), 1, p,
                                     need_dx=False, has_bias=False)[1]
    scale = np.sqrt(dy.size / dy.shape[1])
    np.testing.assert_allclose(dw / scale, dw_r / scale, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, dy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-3, atol=1e-2)


def test_fastnn(benchmark, case):
    name, x, w, b, p, dy = case
    benchmark.group = f"conv2d {name} fwd+bwd"

    def run():
        ops.conv2d_forward(x, w, b, 1, p)
        return ops.conv2d_backward(dy, x, w, 1, p)

    _check(benchmark(run), x, w, b, p, dy)


def test_fastnn_im2col(benchmark, case):
    """The im2col path forced (the Winograd layers' alternative; the same code elsewhere)."""
    name, x, w, b, p, dy = case
    benchmark.group = f"conv2d {name} fwd+bwd"

    def run():
        ops.conv2d_forward(x, w, b, 1, p)
        return ops.conv2d_backward(dy, x, w, 1, p)

    _core.set_conv2d_algorithm("im2col")
    try:
        _check(benchmark(run), x, w, b, p, dy)
    finally:
        _core.set_conv2d_algorithm("auto")


def test_numpy_reference(benchmark, case):
    name, x, w, b, p, dy = case
    benchmark.group = f"conv2d {name} fwd+bwd"
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def run():
        reference.conv2d_forward(x, w, b, 1, p)
        return reference.conv2d_backward(dy, x, w, 1, p)

    with threadpoolctl.threadpool_limits(THREADS):
        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


def test_torch(benchmark, case, torch):
    name, x, w, b, p, dy = case
    benchmark.group = f"conv2d {name} fwd+bwd"
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    tdy = torch.from_numpy(dy)

    def run():
        tx.grad = tw.grad = tb.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=p).backward(tdy)
        return tx.grad, tw.grad, tb.grad

    grads = benchmark(run)
    _check([g.numpy() for g in grads], x, w, b, p, dy)
