"""Batch norm 2d training forward + backward on (128, 64, 14, 14) float32:
fastnn vs NumPy reference vs PyTorch (same threads). Goal: fastnn >= 1.0x PyTorch."""
import numpy as np
import pytest

from fastnn import ops, reference

SHAPE = (128, 64, 14, 14)
GROUP = "batch_norm2d train fwd+bwd (128,64,14,14)"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    dy = rng.standard_normal(SHAPE).astype(np.float32)
    gamma = rng.standard_normal(SHAPE[1]).astype(np.float32)
    beta = rng.standard_normal(SHAPE[1]).astype(np.float32)
    return x, dy, gamma, beta


def _fwd_bwd(mod):
    def run(x, dy, gamma, beta, rm, rv):
        y, mean, invstd = mod.batch_norm_forward(x, gamma, beta, rm, rv, training=True)
        return y, mod.batch_norm_backward(dy, x, gamma, mean, invstd, training=True)
    return run


def _check(result, data):
    x, dy, gamma, beta = data
    y, (dx, dgamma, dbeta) = result
    c = SHAPE[1]
    ry, (rdx, rdg, rdb) = _fwd_bwd(reference)(x.astype(np.float64), dy.astype(np.float64), gamma.astype(np.float64),
                                              beta.astype(np.float64), np.zeros(c), np.ones(c))
    np.testing.assert_allclose(y, ry, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, rdx, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dgamma, rdg, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(dbeta, rdb, rtol=1e-3, atol=1e-2)


def test_fastnn(benchmark, data):
    benchmark.group = GROUP
    c = SHAPE[1]
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    result = benchmark(_fwd_bwd(ops), *data, rm, rv)
    _check(result, data)


def test_numpy_reference(benchmark, data):
    benchmark.group = GROUP
    c = SHAPE[1]
    benchmark(_fwd_bwd(reference), *data, np.zeros(c, np.float32), np.ones(c, np.float32))


def test_torch(benchmark, data, torch):
    benchmark.group = GROUP
    x, dy, gamma, beta = data
    tx = torch.from_numpy(x).requires_grad_(True)
    tdy = torch.from_numpy(dy)
    tg = torch.from_numpy(gamma).requires_grad_(True)
    tb = torch.from_numpy(beta).requires_grad_(True)
    rm, rv = torch.zeros(SHAPE[1]), torch.ones(SHAPE[1])

    def run():
        tx.grad = tg.grad = tb.grad = None
        y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True, momentum=0.1, eps=1e-5)
        y.backward(tdy)
        return y.detach().numpy(), (tx.grad.numpy(), tg.grad.numpy(), tb.grad.numpy())

    _check(benchmark(run), data)
