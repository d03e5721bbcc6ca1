"""Every op's GPU path end to end: CuPy arrays through fastnn.ops -> fastnn.cuda -> the CUDA
kernels, against fastnn.reference (float64 truth) and the CPU path, with tests/tolerances.py.

Each test runs twice: on tests/fake_cupy.py, whose kernels are the real CUDA kernels run by the
emulator (argument types checked against the kernels' C signatures, guarded allocations), and,
marked `gpu`, on real CuPy (skipped where no device exists). The fake's extras (thread orders,
forced launch shapes, the record of launched kernels) are used by the tests at the end."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from cuda_emulation import REVERSE, SCRAMBLED
from test_conv import conv_cases
from test_losses import _assert_loss
from test_optim_kernels import CONFIGS, _run, _state
from test_pool import _values, pool_cases
from tolerances import assert_close

DTYPES = [np.float32, np.float64]
F64 = np.float64
# the fixture below is function-scoped on purpose (it swaps `cupy` for one test)
EXAMPLES = settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                             HealthCheck.data_too_large])


def dev(xp, a, layout="contiguous"):
    """a on the device; layout "transposed" gives a non-contiguous view there."""
    if a is None:
        return None
    if layout == "transposed" and a.ndim >= 2:
        return xp.asarray(np.ascontiguousarray(a.T)).T
    return xp.asarray(a)


def host(a):
    return None if a is None else a.get()


def _f64(*arrays):
    return [None if a is None else a.astype(F64) for a in arrays]


def _conv_operands(rng, case, dtype):
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    fan_in = case["c"] * case["k"][0] * case["k"][1]
    w = (rng.standard_normal((case["oc"], case["c"]) + case["k"]) / np.sqrt(fan_in)).astype(dtype)
    return x, w, rng.standard_normal(case["oc"]).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Convolution

@EXAMPLES
@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["contiguous", "transposed"]),
       use_bias=st.booleans(), need_dx=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv2d(xp, case, dtype, layout, use_bias, need_dx, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _conv_operands(rng, case, dtype)
    b = b if use_bias else None
    s, p = case["stride"], case["padding"]
    y = ops.conv2d_forward(dev(xp, x, layout), dev(xp, w), dev(xp, b), s, p)
    assert isinstance(y, xp.ndarray) and y.dtype == dtype
    assert_close(host(y), reference.conv2d_forward(*_f64(x, w, b), s, p), "conv", err_msg=str(case))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dev(xp, dy, layout), dev(xp, x, layout), dev(xp, w), s, p,
                                     need_dx=need_dx, has_bias=use_bias)
    dx_r, dw_r, db_r = reference.conv2d_backward(*_f64(dy, x, w), s, p)
    assert_close(host(dw), dw_r, "conv_backward", err_msg=f"dw {case}")
    assert (dx is None) == (not need_dx) and (db is None) == (not use_bias)
    if need_dx:
        assert_close(host(dx), dx_r, "conv_backward", err_msg=f"dx {case}")
    if use_bias:
        assert_close(host(db), db_r, "conv_backward", err_msg=f"db {case}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k, s, p", [(3, 1, 1), (1, 1, 0), (1, 2, 0), (5, 2, 2), ((3, 2), (2, 1), (1, 0))])
@pytest.mark.parametrize("budget", [None, 1])
def test_conv2d_chunks_and_kept_columns(xp, k, s, p, dtype, budget, monkeypatch, rng):
    """Several chunks (a tiny column budget: one sample per chunk) give the same gradients as one,
    the kept column matrix is reused by backward, and the 1x1 plain-GEMM path agrees."""
    if budget is not None:
        monkeypatch.setattr(fastnn.cuda.conv, "COLS_BUDGET_BYTES", budget)
    kk = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((5, 3, 11, 7)).astype(dtype)
    w = (rng.standard_normal((4, 3) + kk) / 3).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    pointwise = kk == (1, 1) and s == 1 and p == 0
    y, cols = ops.conv2d_forward(dev(xp, x), dev(xp, w), dev(xp, b), s, p, return_cols=True)
    assert (cols is None) == pointwise
    assert_close(host(y), reference.conv2d_forward(*_f64(x, w, b), s, p), "conv")
    dy = rng.standard_normal(y.shape).astype(dtype)
    want = reference.conv2d_backward(*_f64(dy, x, w), s, p)
    for kept in (None, cols):
        got = ops.conv2d_backward(dev(xp, dy), dev(xp, x), dev(xp, w), s, p, cols=kept)
        for g, r, name in zip(got, want, ("dx", "dw", "db")):
            assert_close(host(g), r, "conv_backward", err_msg=name)
    cpu = ops.conv2d_backward(dy, x, w, s, p)
    for g, c in zip(got, cpu):
        assert_close(host(g), c.astype(F64), "conv_backward")  # the two backends agree


@EXAMPLES
@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), use_bias=st.booleans(), need_dx=st.booleans(),
       seed=st.integers(0, 2**32 - 1), data=st.data())
def test_conv_transpose2d(xp, case, dtype, use_bias, need_dx, seed, data):
    if case["n"] == 0 or min(case["h"], case["w"]) < 1:
        return
    rng = np.random.default_rng(seed)
    s = case["stride"]
    op = (data.draw(st.integers(0, s[0] - 1)), data.draw(st.integers(0, s[1] - 1)))
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    w = (rng.standard_normal((case["c"], case["oc"]) + case["k"]) / np.sqrt(case["c"])).astype(dtype)
    b = rng.standard_normal(case["oc"]).astype(dtype) if use_bias else None
    p = case["padding"]
    try:
        want = reference.conv_transpose2d_forward(*_f64(x, w, b), s, p, op)
    except ValueError:  # output size < 1 for this geometry: the ops raise the same
        with pytest.raises(ValueError):
            ops.conv_transpose2d_forward(dev(xp, x), dev(xp, w), dev(xp, b), s, p, op)
        return
    y = ops.conv_transpose2d_forward(dev(xp, x), dev(xp, w), dev(xp, b), s, p, op)
    assert_close(host(y), want, "conv", err_msg=str(case))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ops.conv_transpose2d_backward(dev(xp, dy), dev(xp, x), dev(xp, w), s, p, op,
                                               need_dx=need_dx, has_bias=use_bias)
    dx_r, dw_r, db_r = reference.conv_transpose2d_backward(*_f64(dy, x, w), s, p, op)
    assert_close(host(dw), dw_r, "conv_backward", err_msg=f"dw {case}")
    if need_dx:
        assert_close(host(dx), dx_r, "conv_backward", err_msg=f"dx {case}")
    if use_bias:
        assert_close(host(db), db_r, "conv_backward", err_msg=f"db {case}")


@EXAMPLES
@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_im2col_col2im(xp, case, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    args = (case["k"], case["stride"], case["padding"])
    cols = ops.im2col(dev(xp, x), *args)
    np.testing.assert_array_equal(host(cols), reference.im2col(x, *args))  # a copy: exact
    back = ops.col2im(cols, x.shape, *args)
    assert_close(host(back), reference.col2im(host(cols).astype(F64), x.shape, *args), "conv")


# ---------------------------------------------------------------------------------------------
# Pooling

@EXAMPLES
@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), special=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_max_pool(xp, case, dtype, special, seed):
    rng = np.random.default_rng(seed)
    x = _values(rng, case["shape"], dtype, special)
    args = (case["k"], case["stride"], case["padding"])
    y, idx = ops.max_pool2d_forward(dev(xp, x), *args)
    y_r, idx_r = reference.max_pool2d_forward(x, *args)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(host(y), y_r)  # a selection: exact, NaN where NaN
    np.testing.assert_array_equal(host(idx), idx_r)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.max_pool2d_backward(dev(xp, dy), idx, x.shape)
    assert_close(host(dx), reference.max_pool2d_backward(dy.astype(F64), idx_r, x.shape), "avg_pool")


@EXAMPLES
@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), cip=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_avg_pool(xp, case, dtype, cip, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    args = (case["k"], case["stride"], case["padding"], cip)
    y = ops.avg_pool2d_forward(dev(xp, x), *args)
    assert_close(host(y), reference.avg_pool2d_forward(x.astype(F64), *args), "avg_pool")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.avg_pool2d_backward(dev(xp, dy), x.shape, *args)
    assert_close(host(dx), reference.avg_pool2d_backward(dy.astype(F64), x.shape, *args), "avg_pool")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3, 2, 2), (1, 1, 1, 1), (2, 3, 7, 5), (3, 2, 13, 17)])
def test_global_avg_pool(xp, shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    y = ops.global_avg_pool2d_forward(dev(xp, x))
    assert_close(host(y), reference.global_avg_pool2d_forward(x.astype(F64)), "global_avg_pool")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.global_avg_pool2d_backward(dev(xp, dy), shape)
    assert_close(host(dx), reference.global_avg_pool2d_backward(dy.astype(F64), shape), "global_avg_pool")


def test_max_pool_backward_rejects_indices_outside_the_plane(xp):
    dy, idx = np.ones((1, 2, 2, 2), np.float32), np.zeros((1, 2, 2, 2), np.int64)
    idx[0, 1, 1, 0] = 9
    for d, i in ((dy, idx), (dev(xp, dy), dev(xp, idx))):  # the same error on both devices
        with pytest.raises(ValueError, match=r"indices must lie in \[0, H\*W\) = \[0, 9\) for dx \(1, 2, 3, 3\), got 9"):
            ops.max_pool2d_backward(d, i, (1, 2, 3, 3))
    with pytest.raises(TypeError, match="indices must be an int64"):
        ops.max_pool2d_backward(dev(xp, dy), idx, (1, 2, 3, 3))  # host indices with device dy


# ---------------------------------------------------------------------------------------------
# Batch norm

@EXAMPLES
@given(n=st.sampled_from([1, 2, 3, 17]), c=st.sampled_from([1, 3, 8]), spatial=st.sampled_from([None, (1, 1), (3, 5), (7, 2)]),
       dtype=st.sampled_from(DTYPES), training=st.booleans(), affine=st.booleans(), track=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_batch_norm(xp, n, c, spatial, dtype, training, affine, track, seed):
    shape = (n, c) + (spatial or ())
    if training and n * (1 if spatial is None else spatial[0] * spatial[1]) <= 1:
        return
    if not training:
        track = True
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    gamma, beta = (rng.standard_normal(c).astype(dtype) for _ in range(2)) if affine else (None, None)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    rm_d, rv_d = (dev(xp, rm), dev(xp, rv)) if track else (None, None)
    rm_r, rv_r = (rm.astype(F64), rv.astype(F64)) if track else (None, None)
    y, mean, invstd = ops.batch_norm_forward(dev(xp, x), dev(xp, gamma), dev(xp, beta), rm_d, rv_d,
                                             training=training, momentum=0.2, eps=1e-4)
    yr, meanr, invstdr = reference.batch_norm_forward(*_f64(x, gamma, beta), rm_r, rv_r, training=training,
                                                      momentum=0.2, eps=1e-4)
    for got, want in ((y, yr), (mean, meanr), (invstd, invstdr)) + (((rm_d, rm_r), (rv_d, rv_r)) if track else ()):
        assert got.dtype == dtype
        assert_close(host(got), want, "batch_norm", dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    dx, dgamma, dbeta = ops.batch_norm_backward(dev(xp, dy), dev(xp, x), dev(xp, gamma), mean, invstd,
                                                training=training)
    dxr, dgr, dbr = reference.batch_norm_backward(*_f64(dy, x, gamma, host(mean), host(invstd)), training=training)
    scale = max(1.0, float(np.abs(dxr).max(initial=0)))
    assert_close(host(dx) / scale, dxr / scale, "batch_norm_backward", dtype, "dx")
    assert_close(host(dgamma), dgr, "batch_norm_backward", dtype, "dgamma")
    assert_close(host(dbeta), dbr, "batch_norm_backward", dtype, "dbeta")


def test_batch_norm_far_from_zero_is_accurate(xp):
    """Shifted sums: a large common offset does not cancel the variance away (float32)."""
    x = (np.random.default_rng(1).standard_normal((64, 3, 4, 4)) + 1e4).astype(np.float32)
    y, mean, invstd = ops.batch_norm_forward(dev(xp, x), None, None, None, None, training=True)
    _, _, invstd_r = reference.batch_norm_forward(x.astype(F64), None, None, None, None, training=True)
    assert_close(host(invstd), invstd_r, "batch_norm", np.float32)


@pytest.mark.parametrize("shape", [(2, 3, 2, 3), (4, 2)])
def test_batch_norm_non_finite_inputs_as_the_reference(xp, shape):
    """An inf first value keeps the mean inf (finite shift); eval dx ignores a NaN / inf x."""
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    x.reshape(shape[0], shape[1], -1)[0, 0, 0] = np.inf
    with np.errstate(invalid="ignore"):  # inf - inf in the variance and y, as torch's
        _, mean, _ = ops.batch_norm_forward(dev(xp, x), None, None, None, None, training=True)
        _, mean_r, _ = reference.batch_norm_forward(x.astype(F64), None, None, None, None, training=True)
    assert host(mean)[0] == mean_r[0] == np.inf
    x.reshape(shape[0], shape[1], -1)[1, 1, 0] = np.nan
    dy = np.ones(shape, np.float32)
    g, m, s = np.full(shape[1], 2.0, np.float32), np.zeros(shape[1], np.float32), np.full(shape[1], 0.5, np.float32)
    dx, _, _ = ops.batch_norm_backward(dev(xp, dy), dev(xp, x), dev(xp, g), dev(xp, m), dev(xp, s), training=False)
    np.testing.assert_array_equal(host(dx), np.ones(shape, np.float32))  # gamma * invstd * dy


def test_batch_norm_errors(xp):
    x = dev(xp, np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match=r"more than one value per channel \(N\*H\*W > 1\)"):
        ops.batch_norm_forward(x, None, None, None, None, training=True)
    with pytest.raises(ValueError, match="eval mode needs running_mean and running_var"):
        ops.batch_norm_forward(x, None, None, None, None, training=False)
    with pytest.raises(TypeError, match="running_mean must be a cupy.ndarray"):
        ops.batch_norm_forward(x, None, None, np.zeros(3, np.float32), None, training=True)


# ---------------------------------------------------------------------------------------------
# Dropout

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, p, seed", [((0,), 0.5, 1), ((1,), 0.5, 2), ((13, 7), 0.3, 3), ((4, 3, 5, 7), 0.9, 4),
                                            ((1001,), 0.0, 5), ((64, 33), 1.0, 2**64 - 1)])
def test_dropout_is_the_cpu_dropout_bit_for_bit(xp, shape, p, seed, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    if x.size > 2:
        x.reshape(-1)[:3] = [np.inf, -np.inf, np.nan]
    y, mask = ops.dropout_forward(dev(xp, x), p, seed)
    y_cpu, mask_cpu = ops.dropout_forward(x, p, seed)
    assert mask.dtype == np.uint8 and y.dtype == dtype
    np.testing.assert_array_equal(host(mask), mask_cpu)
    np.testing.assert_array_equal(host(mask), reference.dropout_mask(shape, p, seed))
    np.testing.assert_array_equal(host(y), y_cpu)  # one rounding, the same on both: identical
    with np.errstate(invalid="ignore"):  # inf * 0 where dropped
        want = reference.dropout_forward(x.astype(F64), p, seed)[0]
    assert_close(host(y), want, "dropout", dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(host(ops.dropout_backward(dev(xp, dy), mask, p)),
                                  ops.dropout_backward(dy, mask_cpu, p))
    x_d = dev(xp, x)
    assert ops.dropout_forward(x_d, p, seed, training=False) == (x_d, None)


# ---------------------------------------------------------------------------------------------
# Losses

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, k", [(0, 3), (1, 1), (1, 10), (37, 11), (129, 2)])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.1, 1.0])
def test_softmax_cross_entropy(xp, n, k, soft, ls, dtype, rng):
    logits = (rng.standard_normal((n, k)) * 5).astype(dtype)
    target = rng.dirichlet(np.ones(k), n).astype(dtype) if soft else rng.integers(0, k, n)
    loss, grad = ops.softmax_cross_entropy(dev(xp, logits, "transposed"), dev(xp, target), ls)
    t64 = target.astype(F64) if soft else target
    want, want_grad = reference.softmax_cross_entropy(logits.astype(F64), t64, ls)
    assert isinstance(loss, float) and grad.dtype == dtype
    _assert_loss(loss, want, dtype)
    assert_close(host(grad), want_grad, "loss", dtype)
    loss_cpu, _ = ops.softmax_cross_entropy(logits, target, ls)
    _assert_loss(loss, loss_cpu, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_extreme_logits(xp, dtype):
    logits = np.array([[1e8, -1e8, 0], [-np.inf, 0, 1], [3, 3, 3]], dtype=dtype)
    for target in (np.array([0, 2, 1]), np.array([[1, 0, 0], [0, 0.5, 0.5], [0.2, 0.3, 0.5]], dtype=dtype)):
        loss, grad = ops.softmax_cross_entropy(dev(xp, logits), dev(xp, target))
        loss_cpu, grad_cpu = ops.softmax_cross_entropy(logits, target)
        assert math.isfinite(loss)
        _assert_loss(loss, loss_cpu, dtype)
        assert_close(host(grad), grad_cpu.astype(F64), "loss", dtype)


def test_softmax_cross_entropy_bad_labels(xp):
    logits = np.zeros((4, 3), np.float32)
    for labels in (np.array([0, 1, 3, 0]), np.array([0, -1, 2, 5])):
        bad = int(np.flatnonzero((labels < 0) | (labels >= 3))[0])
        msg = rf"target label {labels[bad]} at index {bad} is outside \[0, 3\)"
        with pytest.raises(ValueError, match=msg):
            ops.softmax_cross_entropy(dev(xp, logits), dev(xp, labels))
        with pytest.raises(ValueError, match=msg):
            ops.softmax_cross_entropy(logits, labels)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss"])
@pytest.mark.parametrize("shape", [(0,), (1,), (7, 13), (3, 1, 5, 2), (100_003,)])
def test_pointwise_losses(xp, name, shape, dtype, rng):
    if name == "bce_loss":
        pred = rng.uniform(0, 1, shape)
        if pred.size > 3:
            pred.reshape(-1)[:2] = [0.0, 1.0]  # the clamped logs
        target = rng.uniform(0, 1, shape)
    else:
        pred, target = rng.standard_normal(shape) * 3, rng.standard_normal(shape)
        if name == "l1_loss" and pred.size:
            target.reshape(-1)[0] = pred.reshape(-1)[0]  # sign(0) = 0
    pred, target = pred.astype(dtype), target.astype(dtype)
    loss, grad = getattr(ops, name)(dev(xp, pred), dev(xp, target))
    want, want_grad = getattr(reference, name)(pred.astype(F64), target.astype(F64))
    _assert_loss(loss, want, dtype)
    assert_close(host(grad), want_grad, "loss", dtype)


def test_bce_rejects_probabilities_outside_0_1(xp):
    prob = np.array([0.5, 1.5, -1.0], np.float32)
    for p in (prob, dev(xp, prob)):
        with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\], got 1.5 at flat index 1"):
            ops.bce_loss(p, p * 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (17, 5), (40_001,)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(xp, shape, full, dtype, rng):
    mean, target = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    var = rng.uniform(0, 2, shape).astype(dtype)
    if var.size > 1:
        var.reshape(-1)[:2] = [0.0, 1e-9]  # clamped at eps
    loss, dmean, dvar = ops.gaussian_nll_loss(dev(xp, mean), dev(xp, target), dev(xp, var), full=full, eps=1e-6)
    want, wm, wv = reference.gaussian_nll_loss(*_f64(mean, target, var), full=full, eps=1e-6)
    _assert_loss(loss, want, dtype)
    assert_close(host(dmean), wm, "loss", dtype)
    assert_close(host(dvar), wv, "loss", dtype)
    if var.size:
        var.reshape(-1)[-1] = -0.5
        with pytest.raises(ValueError, match=rf"var must be non-negative, got -0.5 at flat index {var.size - 1}"):
            ops.gaussian_nll_loss(dev(xp, mean), dev(xp, target), dev(xp, var))


# ---------------------------------------------------------------------------------------------
# Optimizer updates

@pytest.mark.parametrize("steps, op", [(1, "optim_step"), (20, "optim_steps")])
@pytest.mark.parametrize("n", [0, 1, 257, 1031])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_optimizer_updates(xp, name, n, steps, op, rng):
    """GPU steps against the float64 rule and against the CPU kernel on the same inputs."""
    param, slots = _state(rng, n, name)
    if name == "rmsprop_centered_momentum":
        slots[2] = np.zeros(n, np.float32)
    ref_param, ref_slots = param.astype(F64), [s.astype(F64) for s in slots]
    cpu_param, cpu_slots = param.copy(), [s.copy() for s in slots]
    gpu_param, gpu_slots = dev(xp, param), [dev(xp, s) for s in slots]
    for step in range(1, steps + 1):
        grad = rng.standard_normal(n).astype(np.float32)
        _run(ops, name, gpu_param, dev(xp, grad), gpu_slots, step)
        _run(ops, name, cpu_param, grad, cpu_slots, step)
        _run(reference, name, ref_param, grad.astype(F64), ref_slots, step)
    assert_close(host(gpu_param), ref_param, op, np.float32, f"{name} param")
    assert_close(host(gpu_param), cpu_param.astype(F64), "optim_step", np.float32, f"{name} vs CPU")
    for s, r in zip(gpu_slots, ref_slots):
        assert_close(host(s), r, op, np.float32, f"{name} slot")


def test_optimizer_errors(xp):
    p, g = dev(xp, np.ones(3, np.float32)), dev(xp, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="momentum_buf is needed when momentum != 0, got None"):
        ops.sgd_update(p, g, None, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="param must be a float32 array"):
        ops.sgd_update(dev(xp, np.ones(3)), dev(xp, np.ones(3)), None, lr=0.1)
    with pytest.raises(TypeError, match="grad must be a cupy.ndarray like param"):
        ops.sgd_update(p, np.ones(3, np.float32), None, lr=0.1)
    with pytest.raises(TypeError, match="exp_avg must be a cupy.ndarray"):
        ops.adam_update(p, g, np.zeros(3, np.float32), dev(xp, np.zeros(3, np.float32)), step=1)


def test_mixing_devices_raises(xp):
    x, w = np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises(TypeError, match="mix numpy and cupy"):
        ops.conv2d_forward(dev(xp, x), w)
    with pytest.raises(TypeError, match="mix numpy and cupy"):
        ops.mse_loss(dev(xp, x), x)


# ---------------------------------------------------------------------------------------------
# A small CNN, forward and backward and one Adam step, through the ops on both devices.

def _model_step(xp, arrays, seed=7):
    """conv3x3 (no bias: BN follows)-BN-ReLU-maxpool-dense-dropout-CE, backward, Adam on every
    parameter. `arrays` holds NumPy inputs; returns the results as NumPy arrays (and the loss)."""
    to = (lambda a: a) if xp is np else (lambda a: xp.asarray(a))
    back = (lambda a: a) if xp is np else host
    a = {k: to(v.copy()) for k, v in arrays.items()}
    out = {}
    h = ops.conv2d_forward(a["x"], a["w1"], None, 1, 1)
    hb, mean, invstd = ops.batch_norm_forward(h, a["gamma"], a["beta"], a["rm"], a["rv"], training=True)
    hr = ops.relu(hb)
    hp, idx = ops.max_pool2d_forward(hr, 2)
    flat = hp.reshape(hp.shape[0], -1)
    z = ops.gemm(flat, a["w2"], trans_b=True, bias=a["b2"])
    zd, mask = ops.dropout_forward(z, 0.25, seed)
    loss, dz = ops.softmax_cross_entropy(zd, a["labels"], 0.1)
    dz = ops.dropout_backward(dz, mask, 0.25)
    grads = {"w2": ops.gemm(dz, flat, trans_a=True), "b2": dz.sum(axis=0)}
    dflat = ops.gemm(dz, a["w2"])
    dhr = ops.max_pool2d_backward(dflat.reshape(hp.shape), idx, hr.shape)
    dhb = ops.relu_backward(dhr, hb)
    dh, grads["gamma"], grads["beta"] = ops.batch_norm_backward(dhb, h, a["gamma"], mean, invstd)
    _, grads["w1"], _ = ops.conv2d_backward(dh, a["x"], a["w1"], 1, 1, need_dx=False, has_bias=False)
    for name, g in grads.items():
        m, v = to(np.zeros(arrays[name].shape, np.float32)), to(np.zeros(arrays[name].shape, np.float32))
        ops.adam_update(a[name], g if g.flags.c_contiguous else ops._dispatch.contiguous(g), m, v, step=1, lr=1e-2)
    for name, value in (("y", z), ("mask", mask), ("idx", idx), ("mean", mean), ("invstd", invstd)):
        out[name] = back(value)
    for name in ("w1", "gamma", "beta", "w2", "b2", "rm", "rv"):
        out[name] = back(a[name])
    for name, g in grads.items():
        out["d" + name] = back(g)
    return loss, out


def _model_inputs(rng):
    return {"x": rng.standard_normal((6, 2, 8, 8)).astype(np.float32),
            "w1": (rng.standard_normal((4, 2, 3, 3)) / 4).astype(np.float32),
            "gamma": rng.uniform(0.5, 1.5, 4).astype(np.float32), "beta": rng.standard_normal(4).astype(np.float32),
            "rm": np.zeros(4, np.float32), "rv": np.ones(4, np.float32),
            "w2": (rng.standard_normal((5, 64)) / 8).astype(np.float32),
            "b2": np.zeros(5, np.float32), "labels": rng.integers(0, 5, 6)}


def test_small_cnn_step_matches_the_cpu(xp, rng):
    inputs = _model_inputs(rng)
    loss_gpu, gpu = _model_step(xp, inputs)
    loss_cpu, cpu = _model_step(np, inputs)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
    np.testing.assert_array_equal(gpu["mask"], cpu["mask"])  # the same RNG
    np.testing.assert_array_equal(gpu["idx"], cpu["idx"])
    for name in cpu:
        if name not in ("mask", "idx"):
            assert_close(gpu[name], cpu[name].astype(F64), "conv_backward", np.float32, err_msg=name)


# ---------------------------------------------------------------------------------------------
# Emulation only: launch-shape and thread-order invariance, and that the tour reaches every kernel.

def _tour(cp, rng_seed=3):
    """Every GPU op once (incl. float64 variants), returning all results as NumPy arrays."""
    rng = np.random.default_rng(rng_seed)
    results = []
    for dtype in DTYPES:
        loss, out = _model_step(cp, _model_inputs(rng)) if dtype == np.float32 else (None, {})
        results += [np.float64(loss or 0)] + list(out.values())
        x = rng.standard_normal((3, 2, 7, 5)).astype(dtype)
        w = rng.standard_normal((4, 2, 3, 2)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        y = ops.conv2d_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), (2, 1), (1, 0))
        y1 = ops.conv2d_forward(cp.asarray(x), cp.asarray(w[:, :, :1, :1]), cp.asarray(b))
        g = ops.conv2d_backward(y, cp.asarray(x), cp.asarray(w), (2, 1), (1, 0))
        g1 = ops.conv2d_backward(y1, cp.asarray(x), cp.asarray(w[:, :, :1, :1]))
        wt = rng.standard_normal((2, 3, 3, 3)).astype(dtype)
        t = ops.conv_transpose2d_forward(cp.asarray(x), cp.asarray(wt), cp.asarray(b[:3]), 2, 1, 1)
        gt = ops.conv_transpose2d_backward(t, cp.asarray(x), cp.asarray(wt), 2, 1, 1)
        cols = ops.im2col(cp.asarray(x), 3, 1, 1)
        back = ops.col2im(cols, x.shape, 3, 1, 1)
        mp, idx = ops.max_pool2d_forward(cp.asarray(x), 3, 2, 1)
        dmp = ops.max_pool2d_backward(mp, idx, x.shape)
        ap = ops.avg_pool2d_forward(cp.asarray(x), 3, 2, 1, False)
        dap = ops.avg_pool2d_backward(ap, x.shape, 3, 2, 1, False)
        gp = ops.global_avg_pool2d_forward(cp.asarray(x))
        dgp = ops.global_avg_pool2d_backward(gp, x.shape)
        rm, rv = cp.asarray(np.zeros(2, dtype)), cp.asarray(np.ones(2, dtype))
        bn = ops.batch_norm_forward(cp.asarray(x), None, None, rm, rv, training=True)
        bne = ops.batch_norm_forward(cp.asarray(x), None, None, rm, rv, training=False)
        dbn = ops.batch_norm_backward(bn[0], cp.asarray(x), None, bn[1], bn[2])
        do, mask = ops.dropout_forward(cp.asarray(x), 0.4, 11)
        ddo = ops.dropout_backward(do, mask, 0.4)
        acts = [f(cp.asarray(x)) for f in (ops.sigmoid, ops.tanh, ops.softmax, ops.log_softmax)]
        dacts = [ops.sigmoid_backward(acts[0], acts[0]), ops.softmax_backward(acts[2], acts[2]),
                 ops.log_softmax_backward(acts[3], acts[3]), ops.elu_backward(cp.asarray(x), cp.asarray(x))]
        logits = cp.asarray(x.reshape(-1, 5))
        probs = cp.asarray(rng.dirichlet(np.ones(5), logits.shape[0]).astype(dtype))
        ce = ops.softmax_cross_entropy(logits, probs)
        ce_labels = ops.softmax_cross_entropy(logits, cp.asarray(rng.integers(0, 5, logits.shape[0])), 0.2)
        device_mask = cp.empty(x.shape, np.uint8)
        fastnn.cuda.dropout_mask(device_mask, 0.3, 5)  # (ops.dropout_mask makes host masks)
        pl = [ops.mse_loss(logits, probs), ops.bce_loss(probs, probs), ops.bce_with_logits_loss(logits, probs),
              ops.l1_loss(logits, probs)]
        gn = ops.gaussian_nll_loss(logits, probs, probs, full=True)
        arrays = [y, y1, *g, *g1, t, *gt, cols, back, mp, idx, dmp, ap, dap, gp, dgp, *bn, *bne, *dbn, rm, rv, do,
                  mask, ddo, *acts, *dacts, ce[1], ce_labels[1], device_mask, *(p[1] for p in pl), gn[1], gn[2]]
        results += [host(a) for a in arrays] + [np.float64(v) for v in (ce[0], ce_labels[0], *(p[0] for p in pl),
                                                                       gn[0])]
    p = cp.asarray(rng.standard_normal(50).astype(np.float32))
    for name in CONFIGS:
        slots = [cp.asarray(s) for s in _state(rng, 50, name)[1]]
        _run(ops, name, p, cp.asarray(rng.standard_normal(50).astype(np.float32)), slots, 3)
        results += [host(p)] + [host(s) for s in slots]
    return results


def test_results_do_not_depend_on_launch_shape_or_thread_order(cp):
    base = _tour(cp)
    for launch, order in (((3, 5), REVERSE), ((7, 32), SCRAMBLED), ((1, 1), SCRAMBLED)):
        cp.settings.launch, cp.settings.order = launch, order
        for a, b in zip(base, _tour(cp)):
            np.testing.assert_array_equal(a, b, err_msg=f"launch {launch}, order {order}")


def test_the_tour_launches_every_kernel(cp, cuda_emulator):
    cp.launches.clear()
    _tour(cp)
    assert set(cp.launches) == set(cuda_emulator.kernels)


def test_fake_cupy_is_strict(cp):
    """The stand-in refuses what real CuPy would turn into garbage on a GPU."""
    x = cp.asarray(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(x)
    kern = cp.RawModule(code=fastnn.cuda.module_source("activations.cu")).get_function("act_forward_f32")
    with pytest.raises(TypeError, match=r"None as a kernel argument"):
        kern((1,), (32,), (x, None, np.int64(4), np.int32(3), np.float32(1), np.float32(20)))
    with pytest.raises(TypeError, match="host memory"):
        kern((1,), (32,), (x, np.ones(4, np.float32), np.int64(4), np.int32(3), np.float32(1), np.float32(20)))
    with pytest.raises(AttributeError, match="not defined in this module's source"):
        cp.RawModule(code=fastnn.cuda.module_source("activations.cu")).get_function("im2col_f32")
    y = cp.empty(3, np.float32)
    assert np.isnan(y.get()).all()  # unwritten device memory reads as NaN
    with pytest.raises(AssertionError, match="wrote outside an array of 12 bytes"):
        kern((1,), (32,), (x, y, np.int64(4), np.int32(3), np.float32(1), np.float32(20)))
