"""Pooling forward+backward (float32, NCHW): fastnn vs the NumPy reference vs PyTorch.

    PYTHONPATH=. pytest benchmarks/test_bench_pool.py --benchmark-enable --benchmark-group-by=group \
        --benchmark-columns=min,median,rounds
"""
import numpy as np
import pytest

from fastnn import ops, reference

X_SHAPE = (128, 32, 28, 28)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X_SHAPE).astype(np.float32)
    dy = rng.standard_normal((128, 32, 14, 14)).astype(np.float32)
    return x, dy


def _max_fastnn(x, dy):
    y, idx = ops.max_pool2d_forward(x, 2)
    return ops.max_pool2d_backward(dy, idx, x.shape)


def _max_reference(x, dy):
    y, idx = reference.max_pool2d_forward(x, 2)
    return reference.max_pool2d_backward(dy, idx, x.shape)


def _avg_fastnn(x, dy):
    ops.avg_pool2d_forward(x, 2)
    return ops.avg_pool2d_backward(dy, x.shape, 2)


def _avg_reference(x, dy):
    reference.avg_pool2d_forward(x, 2)
    return reference.avg_pool2d_backward(dy, x.shape, 2)


def test_max_fastnn(benchmark, data):
    benchmark.group = "max_pool2d 2x2 (128,32,28,28) fwd+bwd"
    dx = benchmark(_max_fastnn, *data)
    x, dy = data
    np.testing.assert_array_equal(dx[:4], _max_reference(x[:4], dy[:4]))


def test_max_numpy_reference(benchmark, data):
    benchmark.group = "max_pool2d 2x2 (128,32,28,28) fwd+bwd"
    benchmark.pedantic(_max_reference, args=data, rounds=3, iterations=1, warmup_rounds=1)


def test_max_torch(benchmark, data, torch):
    benchmark.group = "max_pool2d 2x2 (128,32,28,28) fwd+bwd"
    x, dy = data
    tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def run():
        tx.grad = None
        y, _ = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
        y.backward(tdy)
        return tx.grad

    dx = benchmark(run)
    np.testing.assert_array_equal(dx.numpy()[:4], _max_reference(x[:4], dy[:4]))


def test_avg_fastnn(benchmark, data):
    benchmark.group = "avg_pool2d 2x2 (128,32,28,28) fwd+bwd"
    dx = benchmark(_avg_fastnn, *data)
    x, dy = data
    np.testing.assert_allclose(dx[:4], _avg_reference(x[:4], dy[:4]), rtol=1e-6, atol=1e-7)


def test_avg_numpy_reference(benchmark, data):
    benchmark.group = "avg_pool2d 2x2 (128,32,28,28) fwd+bwd"
    benchmark.pedantic(_avg_reference, args=data, rounds=3, iterations=1, warmup_rounds=1)


def test_avg_torch(benchmark, data, torch):
    benchmark.group = "avg_pool2d 2x2 (128,32,28,28) fwd+bwd"
    x, dy = data
    tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

    def run():
        tx.grad = None
        torch.nn.functional.avg_pool2d(tx, 2).backward(tdy)
        return tx.grad

    dx = benchmark(run)
    np.testing.assert_allclose(dx.numpy()[:4], _avg_reference(x[:4], dy[:4]), rtol=1e-6, atol=1e-7)
