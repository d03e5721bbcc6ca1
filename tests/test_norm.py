"""Native batch norm vs fastnn.reference: every ISA, both dtypes, random shapes and layouts,
training and eval, running statistics, bad input, thread-count invariance, PyTorch as oracle."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from strategies import LAYOUTS, make_layout
from tolerances import assert_close

DTYPES = [np.float32, np.float64]


def _case(rng, shape, dtype, offset=0.5):
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + offset).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, rm, rv, dy


def _check(x, gamma, beta, rm, rv, dy, training, momentum=0.1, eps=1e-5, x_values=None):
    """Run ops and the float64 reference on the same values and compare everything."""
    x_values = x if x_values is None else x_values
    dtype = x.dtype
    f64 = lambda a: None if a is None else a.astype(np.float64)
    rm_n, rv_n = (None if a is None else a.copy() for a in (rm, rv))
    rm_r, rv_r = f64(rm), f64(rv)
    y, mean, invstd = ops.batch_norm_forward(x, gamma, beta, rm_n, rv_n, training=training, momentum=momentum,
                                             eps=eps)
    yr, meanr, invstdr = reference.batch_norm_forward(f64(x_values), f64(gamma), f64(beta), rm_r, rv_r,
                                                      training=training, momentum=momentum, eps=eps)
    assert y.dtype == mean.dtype == invstd.dtype == dtype
    assert_close(y, yr, "batch_norm", dtype, "y")
    assert_close(mean, meanr, "batch_norm", dtype, "mean")
    assert_close(invstd, invstdr, "batch_norm", dtype, "invstd")
    if rm is not None:
        assert_close(rm_n, rm_r, "batch_norm", dtype, "running_mean")
        assert_close(rv_n, rv_r, "batch_norm", dtype, "running_var")
    dx, dgamma, dbeta = ops.batch_norm_backward(dy, x, gamma, mean, invstd, training=training)
    # the reference backward from the same (rounded) statistics the kernel used
    dxr, dgr, dbr = reference.batch_norm_backward(f64(dy), f64(x_values), f64(gamma), f64(mean), f64(invstd),
                                                  training=training)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == dtype
    scale = max(1.0, float(np.abs(dxr).max(initial=0)))
    assert_close(dx / scale, dxr / scale, "batch_norm_backward", dtype, "dx")
    assert_close(dgamma, dgr, "batch_norm_backward", dtype, "dgamma")
    assert_close(dbeta, dbr, "batch_norm_backward", dtype, "dbeta")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 300), (5, 7, 9, 11), (2, 3, 1, 1), (1, 4, 3, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_each_isa(shape, dtype, training, isa, rng):
    _check(*_case(rng, shape, dtype), training=training)


@given(n=st.sampled_from([0, 1, 2, 3, 8, 17]), c=st.sampled_from([0, 1, 3, 7, 16, 257]),
       spatial=st.sampled_from([None, (1, 1), (1, 3), (5, 7), (8, 8), (0, 4)]),
       dtype=st.sampled_from(DTYPES), training=st.booleans(), affine=st.booleans(), track=st.booleans(),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**32 - 1))
def test_random_shapes(n, c, spatial, dtype, training, affine, track, layout, seed):
    shape = (n, c) if spatial is None else (n, c) + spatial
    rng = np.random.default_rng(seed)
    x, gamma, beta, rm, rv, dy = _case(rng, shape, dtype)
    if not affine:
        gamma = beta = None
    if not track and training:
        rm = rv = None
    xl = make_layout(x, layout)
    count = n * (1 if spatial is None else spatial[0] * spatial[1])
    if training and count <= 1:
        with pytest.raises(ValueError, match=r"N\*H\*W > 1"):
            ops.batch_norm_forward(xl, gamma, beta, rm, rv, training=True)
        return
    _check(xl, gamma, beta, rm, rv, dy, training, momentum=0.3, eps=1e-3, x_values=x)


def test_large_offset_is_accurate():
    # Mean 1000, std 0.01: a one-pass sum of squares in float32 would lose the variance entirely.
    rng = np.random.default_rng(1)
    x = (1000 + 0.01 * rng.standard_normal((64, 3, 8, 8))).astype(np.float32)
    _, mean, invstd = ops.batch_norm_forward(x, None, None, None, None, training=True)
    _, meanr, invstdr = reference.batch_norm_forward(x.astype(np.float64), None, None, None, None, training=True)
    np.testing.assert_allclose(invstd, invstdr, rtol=1e-6)
    np.testing.assert_allclose(mean, meanr, rtol=1e-7)


def test_running_stats_updated_in_place(rng):
    x = rng.standard_normal((6, 3, 2, 2)).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    rm_id, rv_id = id(rm), id(rv)
    ops.batch_norm_forward(x, None, None, rm, rv, training=True, momentum=0.5)
    assert id(rm) == rm_id and id(rv) == rv_id
    np.testing.assert_allclose(rm, 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rv, 0.5 + 0.5 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    before = rm.copy()
    ops.batch_norm_forward(x, None, None, rm, rv, training=False)  # eval leaves them alone
    np.testing.assert_array_equal(rm, before)


def test_thread_count_does_not_change_results(rng):
    cases = [_case(rng, (32, 24, 9, 9), np.float32), _case(rng, (4099, 300), np.float32)]
    before = fastnn.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            out = []
            for x, gamma, beta, rm, rv, dy in cases:
                rm, rv = rm.copy(), rv.copy()
                y, mean, invstd = ops.batch_norm_forward(x, gamma, beta, rm, rv, training=True)
                out += [y, mean, invstd, rm, rv, *ops.batch_norm_backward(dy, x, gamma, mean, invstd)]
            results.append(out)
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, gamma, beta, _, _, dy = _case(rng, (8, 5, 6, 7), np.float32)
    bn = torch.nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
    rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
    for training in (True, False):
        bn.train(training)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = bn(tx)
        ty.backward(torch.from_numpy(dy))
        y, mean, invstd = ops.batch_norm_forward(x, gamma, beta, rm, rv, training=training)
        dx, dgamma, dbeta = ops.batch_norm_backward(dy, x, gamma, mean, invstd, training=training)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-5)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(dgamma, bn.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dbeta, bn.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
        bn.weight.grad = bn.bias.grad = None


def test_bad_input():
    x = np.zeros((4, 3, 2, 2), np.float32)
    c3 = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, H, W\), got shape \(4, 3, 2\)"):
        ops.batch_norm_forward(x[..., 0], None, None, None, None, training=True)
    with pytest.raises(ValueError, match=r"N\*H\*W > 1.*\(1, 3, 1, 1\).*one sample cannot be normalised.*drop_last"):
        ops.batch_norm_forward(x[:1, :, :1, :1], None, None, None, None, training=True)
    with pytest.raises(ValueError, match=r"N\*H\*W > 1.*\(0, 3, 2, 2\)$"):  # empty, not one sample
        ops.batch_norm_forward(x[:0], None, None, None, None, training=True)
    with pytest.raises(TypeError, match="gamma has dtype float64"):
        ops.batch_norm_forward(x, np.ones(3), None, None, None, training=True)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\).*got \(4,\)"):
        ops.batch_norm_forward(x, np.ones(4, np.float32), None, None, None, training=True)
    with pytest.raises(ValueError, match="in place"):
        ops.batch_norm_forward(x, None, None, np.zeros(6, np.float32)[::2], c3, training=True)
    with pytest.raises(TypeError, match="running_var has dtype float64"):
        ops.batch_norm_forward(x, None, None, c3, np.ones(3), training=True)
    with pytest.raises(ValueError, match="needs running_mean and running_var, got None"):
        ops.batch_norm_forward(x, None, None, None, None, training=False)
    with pytest.raises(ValueError, match="eps must be finite and >= 0.0, got -1"):
        ops.batch_norm_forward(x, None, None, None, None, training=True, eps=-1.0)
    with pytest.raises(TypeError, match="training must be a bool"):
        ops.batch_norm_forward(x, None, None, None, None, training="yes")
    with pytest.raises(TypeError, match="int64"):
        ops.batch_norm_forward(x.astype(np.int64), None, None, None, None, training=True)
    with pytest.raises(ValueError, match="dy must have the shape of x"):
        ops.batch_norm_backward(x[:2], x, None, c3, c3)
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        ops.batch_norm_backward(x, x, None, np.zeros(2, np.float32), c3)
