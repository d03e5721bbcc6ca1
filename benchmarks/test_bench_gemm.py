"""float32 GEMM: fastnn vs NumPy (`@`, its BLAS) vs PyTorch, one benchmark group per shape.

Shapes are (M, K, N) with the transposes of the layer that uses them. For the fair NumPy
comparison run without the OpenBLAS overrides (see benchmarks/README.md):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE pytest benchmarks/test_bench_gemm.py --benchmark-enable
or print the GFLOP/s table with benchmarks/gemm_table.py.
"""
import numpy as np
import pytest

from fastnn import ops

CASES = {
    **{f"{s}^3": (s, s, s, "NN") for s in (64, 128, 256, 512, 1024, 2048)},
    "128x784x512": (128, 784, 512, "NN"),
    "784x128x512 TN": (784, 128, 512, "TN"),
    "128x512x784 NT": (128, 512, 784, "NT"),
    "128x512x10": (128, 512, 10, "NN"),
    # the same dense layer as nn.Linear calls it (weight stored (out, in)): y = x W^T, dW = dy^T x
    "128x784x512 NT Linear fwd": (128, 784, 512, "NT"),
    "512x128x784 TN Linear dW": (512, 128, 784, "TN"),
    "128x1024x512": (128, 1024, 512, "NN"),
    "64x288x25088 im2col": (64, 288, 25088, "NN"),
    "32x9x100352 im2col": (32, 9, 100352, "NN"),
}


@pytest.fixture(params=list(CASES))
def case(request, rng):
    m, k, n, trans = CASES[request.param]
    ta, tb = trans[0] == "T", trans[1] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    return request.param, a, b, ta, tb, np.empty((m, n), np.float32)


def _expected(a, b, ta, tb):
    return (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)


def _check(got, a, b, ta, tb):
    k = a.shape[0] if ta else a.shape[1]
    np.testing.assert_allclose(got, _expected(a, b, ta, tb), rtol=0, atol=1e-5 * k)


def test_fastnn(benchmark, case):
    name, a, b, ta, tb, out = case
    benchmark.group = f"gemm {name}"
    got = benchmark(lambda: ops.gemm(a, b, trans_a=ta, trans_b=tb, out=out))
    _check(got, a, b, ta, tb)


def test_numpy(benchmark, case):
    name, a, b, ta, tb, out = case
    benchmark.group = f"gemm {name}"
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    got = benchmark(lambda: np.matmul(opa, opb, out=out))
    _check(got, a, b, ta, tb)


def test_torch(benchmark, case, torch):
    name, a, b, ta, tb, out = case
    benchmark.group = f"gemm {name}"
    tA, tB = torch.from_numpy(a), torch.from_numpy(b)
    opa, opb = (tA.t() if ta else tA), (tB.t() if tb else tB)
    tout = torch.from_numpy(out)
    got = benchmark(lambda: torch.mm(opa, opb, out=tout))
    _check(got.numpy(), a, b, ta, tb)
