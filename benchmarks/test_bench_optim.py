"""One Adam step on 1M float32 parameters: fused fastnn kernel vs the NumPy reference update
vs torch.optim.Adam (default single-tensor path, and fused=True where available; same threads).
Goal: fastnn >= 3x the NumPy reference."""
import numpy as np
import pytest

from fastnn import ops, reference

N = 1 << 20
GROUP = "adam step 1M params"
HYPER = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)


@pytest.fixture
def state():
    rng = np.random.default_rng(0)
    p = rng.standard_normal(N).astype(np.float32)
    g = rng.standard_normal(N).astype(np.float32)
    return p, g, np.zeros(N, np.float32), np.zeros(N, np.float32)


def _stepper(fn, p, g, m, v):
    step = [0]

    def run():
        step[0] += 1
        fn(p, g, m, v, step=step[0], **HYPER)
    return run


def test_fastnn(benchmark, state):
    benchmark.group = GROUP
    p0 = state[0].copy()
    benchmark(_stepper(ops.adam_update, *state))
    assert not np.array_equal(state[0], p0) and np.isfinite(state[0]).all()
    # one fresh step agrees with the float64 reference rule
    g = state[1]
    p1, m1, v1 = p0.copy(), np.zeros(N, np.float32), np.zeros(N, np.float32)
    p2 = p0.astype(np.float64)
    ops.adam_update(p1, g, m1, v1, step=1, **HYPER)
    reference.adam_update(p2, g.astype(np.float64), np.zeros(N), np.zeros(N), step=1, **HYPER)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)


def test_numpy_reference(benchmark, state):
    benchmark.group = GROUP
    benchmark(_stepper(reference.adam_update, *state))


@pytest.mark.parametrize("fused", [False, True], ids=["default", "fused"])
def test_torch(benchmark, state, torch, fused):
    benchmark.group = GROUP
    p, g, _, _ = state
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    tp.grad = torch.from_numpy(g)
    try:
        opt = torch.optim.Adam([tp], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=fused)
        opt.step()
    except (RuntimeError, ValueError) as e:  # fused CPU Adam missing in this build
        pytest.skip(f"torch.optim.Adam(fused={fused}) unavailable: {e}")
    benchmark(opt.step)
