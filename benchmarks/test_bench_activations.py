"""ReLU, tanh, sigmoid and GELU forward+backward on 1M float32 elements: fastnn vs NumPy
reference vs PyTorch."""
import numpy as np
import pytest

from fastnn import ops, reference

N = 1 << 20
CASES = {
    "relu": (ops.relu, ops.relu_backward, reference.relu, reference.relu_backward, "x"),
    "tanh": (ops.tanh, ops.tanh_backward, reference.tanh, reference.tanh_backward, "y"),
    "sigmoid": (ops.sigmoid, ops.sigmoid_backward, reference.sigmoid, reference.sigmoid_backward, "y"),
    "gelu": (ops.gelu, ops.gelu_backward, reference.gelu, reference.gelu_backward, "x"),
}


@pytest.fixture(params=list(CASES))
def case(request, rng):
    x = rng.standard_normal(N).astype(np.float32)
    dy = rng.standard_normal(N).astype(np.float32)
    return request.param, x, dy


def _fwd_bwd(fwd, bwd, saved_kind):
    def run(x, dy):
        y = fwd(x)
        return bwd(dy, y if saved_kind == "y" else x)
    return run


def test_fastnn(benchmark, case):
    name, x, dy = case
    fwd, bwd, rfwd, rbwd, kind = CASES[name]
    benchmark.group = f"activation {name} fwd+bwd 1M"
    dx = benchmark(_fwd_bwd(fwd, bwd, kind), x, dy)
    np.testing.assert_allclose(dx, _fwd_bwd(rfwd, rbwd, kind)(x, dy), rtol=1e-4, atol=1e-5)


def test_numpy_reference(benchmark, case):
    name, x, dy = case
    _, _, rfwd, rbwd, kind = CASES[name]
    benchmark.group = f"activation {name} fwd+bwd 1M"
    benchmark(_fwd_bwd(rfwd, rbwd, kind), x, dy)


def test_torch(benchmark, case, torch):
    name, x, dy = case
    benchmark.group = f"activation {name} fwd+bwd 1M"
    tx = torch.from_numpy(x).requires_grad_(True)
    tdy = torch.from_numpy(dy)
    fn = torch.nn.functional.gelu if name == "gelu" else getattr(torch, name)

    def run():
        tx.grad = None
        y = fn(tx)
        y.backward(tdy)
        return tx.grad

    dx = benchmark(run)
    _, _, rfwd, rbwd, kind = CASES[name]
    np.testing.assert_allclose(dx.numpy(), _fwd_bwd(rfwd, rbwd, kind)(x, dy), rtol=1e-4, atol=1e-5)
