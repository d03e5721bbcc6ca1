"""Softmax cross-entropy loss + gradient on (128, 10) float32 logits with int labels:
fastnn vs NumPy reference vs PyTorch (same threads)."""
import numpy as np
import pytest

from fastnn import ops, reference

GROUP = "softmax_cross_entropy loss+grad (128,10)"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((128, 10)) * 3).astype(np.float32), rng.integers(0, 10, 128)


def _check(loss, grad, data):
    logits, labels = data
    rl, rg = reference.softmax_cross_entropy(logits.astype(np.float64), labels)
    assert loss == pytest.approx(rl, rel=1e-5)
    np.testing.assert_allclose(grad, rg, rtol=1e-4, atol=1e-7)


def test_fastnn(benchmark, data):
    benchmark.group = GROUP
    loss, grad = benchmark(ops.softmax_cross_entropy, *data)
    _check(loss, grad, data)


def test_numpy_reference(benchmark, data):
    benchmark.group = GROUP
    benchmark(reference.softmax_cross_entropy, *data)


def test_torch(benchmark, data, torch):
    benchmark.group = GROUP
    logits, labels = data
    tz = torch.from_numpy(logits).requires_grad_(True)
    tl = torch.from_numpy(labels)

    def run():
        tz.grad = None
        loss = torch.nn.functional.cross_entropy(tz, tl)
        loss.backward()
        return loss.item(), tz.grad.numpy()

    _check(*benchmark(run), data)
