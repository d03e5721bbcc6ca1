"""Native losses vs fastnn.reference (float64 truth): random shapes incl. empty and batch 1,
both dtypes, extreme logits, label validation, thread-count invariance, PyTorch as oracle."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from strategies import LAYOUTS, make_layout, shapes
from tolerances import assert_close, tol

DTYPES = [np.float32, np.float64]
F64 = np.float64


def _assert_loss(got, want, dtype):
    if math.isnan(want):
        assert math.isnan(got)
    else:
        rtol, atol = tol("loss", dtype).values()
        assert got == pytest.approx(want, rel=rtol, abs=atol)


def _check_ce(logits, target, ls, layout="contiguous"):
    dtype = logits.dtype
    loss, g = ops.softmax_cross_entropy(make_layout(logits, layout), target, ls)
    t64 = target if target.dtype.kind in "iu" else target.astype(F64)
    want, wg = reference.softmax_cross_entropy(logits.astype(F64), t64, ls)
    assert isinstance(loss, float) and g.dtype == dtype
    _assert_loss(loss, want, dtype)
    assert_close(g, wg, "loss", dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cross_entropy_int_and_soft(dtype, ls, rng):
    logits = (rng.standard_normal((37, 11)) * 4).astype(dtype)
    _check_ce(logits, rng.integers(0, 11, 37), ls)
    _check_ce(logits, rng.dirichlet(np.ones(11), 37).astype(dtype), ls)


@given(n=st.sampled_from([0, 1, 2, 7, 64, 129]), k=st.sampled_from([1, 2, 3, 10, 31, 100]),
       dtype=st.sampled_from(DTYPES), soft=st.booleans(), ls=st.sampled_from([0.0, 0.05, 1.0]),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_random(n, k, dtype, soft, ls, layout, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((n, k)) * 5).astype(dtype)
    target = rng.dirichlet(np.ones(k), n).astype(dtype) if soft else rng.integers(0, k, n)
    _check_ce(logits, target, ls, layout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_extreme_logits(dtype):
    logits = np.array([[1e8, -1e8, 0.0], [-np.inf, 2.0, 1.0], [1e8, 1e8, -np.inf], [-1e8, -1e8, -1e8]], dtype)
    labels = np.array([0, 1, 1, 2])
    loss, g = ops.softmax_cross_entropy(logits, labels)
    assert math.isfinite(loss) and np.isfinite(g).all()
    _check_ce(logits, labels, 0.0)
    soft = np.array([[1, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0], [0.2, 0.3, 0.5]], dtype)
    _check_ce(logits, soft, 0.0)
    # label smoothing puts weight on the -inf class: the loss is +inf, as in PyTorch
    loss, g = ops.softmax_cross_entropy(logits, labels, 0.1)
    assert loss == math.inf and np.isfinite(g).all()


def test_cross_entropy_exp_accuracy():
    """The kernel's own double exp (simd_math::exp_f64, vectorized) against libm through the
    float64 gradient: one row whose logits sit 0 .. -745 below its maximum (every binade of
    exp's output down to the subnormals and the underflow to 0), and rows of every length
    1 .. 40 (every vector tail). p_j = exp(z_j - max) / sum, against NumPy's exp (< 1 ulp) and
    an exact sum: 8 ulp = exp_f64's few ulp + the kernel's float sum (positive terms, relative
    error a few ulp) + the division (measured: 5.2 ulp at most)."""
    z = np.concatenate([[0.0], -np.geomspace(1e-12, 745.5, 3000), -np.linspace(0.0, 40.0, 997)])
    rows = [z] + [np.random.default_rng(k).normal(0, 5, k) for k in range(1, 41)]
    for row in rows:
        logits = row.reshape(1, -1)
        label = np.array([int(np.argmin(row))])
        _, g = ops.softmax_cross_entropy(logits, label)
        e = np.exp(row - row.max())
        want = e / math.fsum(e)
        want[label[0]] -= 1.0
        tiny = np.abs(want) < np.finfo(F64).tiny  # subnormal results: rounded once, absolutely
        np.testing.assert_allclose(g[0][~tiny], want[~tiny], rtol=8 * np.finfo(F64).eps, atol=0)
        np.testing.assert_allclose(g[0][tiny], want[tiny], rtol=0, atol=4 * np.finfo(F64).smallest_subnormal)


@pytest.mark.parametrize("labels,bad", [([0, 5, 1], 5), ([0, -1, 2], -1), ([7, 0, 0], 7)])
def test_cross_entropy_bad_labels(labels, bad):
    with pytest.raises(ValueError, match=f"target label {bad} at index {labels.index(bad)} is outside \\[0, 5\\)"):
        ops.softmax_cross_entropy(np.zeros((3, 5), np.float32), np.array(labels))


def test_cross_entropy_bad_input():
    z = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"integer target must have shape \(3,\), got \(2,\)"):
        ops.softmax_cross_entropy(z, np.array([0, 1]))
    with pytest.raises(TypeError, match="target has dtype float64 but logits has dtype float32"):
        ops.softmax_cross_entropy(z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        ops.softmax_cross_entropy(z, np.array([0, 1, 2]), 1.5)
    with pytest.raises(TypeError, match="bool"):
        ops.softmax_cross_entropy(z, np.array([True, False, True]))
    with pytest.raises(ValueError, match="logits must be 2-D"):
        ops.softmax_cross_entropy(z[0], np.array([0]))
    # int32 labels are accepted (an exact copy of an input)
    assert ops.softmax_cross_entropy(z, np.array([0, 1, 4], np.int32))[0] == pytest.approx(math.log(5))


POINTWISE = ["mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss"]


def _inputs(name, rng, shape, dtype):
    if name == "bce_loss":
        pred = rng.uniform(0, 1, shape)
    else:
        pred = rng.standard_normal(shape) * 3
    target = rng.uniform(0, 1, shape) if name.startswith("bce") else rng.standard_normal(shape)
    return pred.astype(dtype), target.astype(dtype)


@given(name=st.sampled_from(POINTWISE), shape=shapes(max_elements=20_000), dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**32 - 1))
def test_pointwise_random(name, shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    pred, target = _inputs(name, rng, shape, dtype)
    loss, g = getattr(ops, name)(make_layout(pred, layout), make_layout(target, layout))
    want, wg = getattr(reference, name)(pred.astype(F64), target.astype(F64))
    _assert_loss(loss, want, dtype)
    assert g.dtype == dtype and g.shape == shape
    assert_close(g, wg, "loss", dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [1.5, -0.5, np.nan])
def test_bce_target_outside_unit_interval_raises(dtype, bad):
    """PyTorch's BCELoss: "all elements of target should be between 0 and 1"; the message names
    the value and its index (BCEWithLogitsLoss takes any target, as PyTorch)."""
    prob = np.array([0.3, 0.6, 0.5], dtype)
    target = np.array([1.0, 0.0, bad], dtype)
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\], got .* at flat index 2"):
        ops.bce_loss(prob, target)
    with pytest.raises(ValueError, match="target must lie in"):
        reference.bce_loss(prob, target)
    ops.bce_with_logits_loss(prob, target)  # no range for the logits' target


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_clamps(dtype):
    prob = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5], dtype)
    loss, g = ops.bce_loss(prob, target)
    with np.errstate(all="ignore"):
        want, wg = reference.bce_loss(prob.astype(F64), target.astype(F64))
    _assert_loss(loss, want, dtype)
    assert_close(g, wg, "loss", dtype)
    # two logs clamped at -100, -log(1e-30) unclamped, log 2 for p = t = 0.5; exact terms are 0
    assert loss == pytest.approx((200 - math.log(float(prob[4])) + math.log(2)) / 6, rel=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_extremes(dtype):
    x = np.array([-1e8, 1e8, -50.0, 50.0, 0.0], dtype)
    t = np.array([1.0, 0.0, 0.5, 0.5, 0.3], dtype)
    loss, g = ops.bce_with_logits_loss(x, t)
    want, wg = reference.bce_with_logits_loss(x.astype(F64), t.astype(F64))
    _assert_loss(loss, want, dtype)
    assert_close(g, wg, "loss", dtype)


@given(shape=shapes(max_elements=20_000), dtype=st.sampled_from(DTYPES), full=st.booleans(),
       eps=st.sampled_from([1e-6, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_gaussian_nll_random(shape, dtype, full, eps, seed):
    rng = np.random.default_rng(seed)
    mean, target = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    var = rng.uniform(0, 2, shape).astype(dtype)
    loss, dm, dv = ops.gaussian_nll_loss(mean, target, var, full=full, eps=eps)
    want, wdm, wdv = reference.gaussian_nll_loss(mean.astype(F64), target.astype(F64), var.astype(F64),
                                                 full=full, eps=eps)
    _assert_loss(loss, want, dtype)
    assert_close(dm, wdm, "loss", dtype)
    assert_close(dv, wdv, "loss", dtype)


def test_losses_bad_input():
    a = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\], got 1.5 at flat index 1"):
        ops.bce_loss(np.array([0.5, 1.5, 0.2], np.float32), a)
    with pytest.raises(ValueError, match="got nan"):
        ops.bce_loss(np.array([0.5, np.nan, 0.2], np.float32), a)
    with pytest.raises(ValueError, match="var must be non-negative, got -0.5"):
        ops.gaussian_nll_loss(a, a, np.array([1, -0.5, 1], np.float32))
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        ops.gaussian_nll_loss(a, a, a, eps=0.0)
    with pytest.raises(ValueError, match=r"target must have the shape of pred \(3,\)"):
        ops.mse_loss(a, np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="target has dtype float64"):
        ops.l1_loss(a, np.zeros(3))


def test_thread_count_does_not_change_results(rng):
    z = rng.standard_normal((3000, 100)).astype(np.float32)
    labels = rng.integers(0, 100, 3000)
    p, t = rng.standard_normal(1_000_003).astype(np.float32), rng.standard_normal(1_000_003).astype(np.float32)
    before = fastnn.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            out.append([ops.softmax_cross_entropy(z, labels), ops.mse_loss(p, t), ops.l1_loss(p, t),
                        ops.gaussian_nll_loss(p, t, np.abs(t))])
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(*out):
        assert a[0] == b[0]
        for ga, gb in zip(a[1:], b[1:]):
            np.testing.assert_array_equal(ga, gb)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = (rng.standard_normal((16, 10)) * 3).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    for target, ls in ((labels, 0.0), (labels, 0.2), (rng.dirichlet(np.ones(10), 16).astype(np.float32), 0.1)):
        tz = torch.from_numpy(z).requires_grad_(True)
        tl = F.cross_entropy(tz, torch.from_numpy(target), label_smoothing=ls)
        tl.backward()
        loss, g = ops.softmax_cross_entropy(z, target, ls)
        assert loss == pytest.approx(tl.item(), rel=1e-5)
        np.testing.assert_allclose(g, tz.grad.numpy(), rtol=1e-4, atol=1e-7)
    p, t = rng.uniform(0, 1, (4, 5)).astype(np.float32), rng.uniform(0, 1, (4, 5)).astype(np.float32)
    for ours, theirs in ((ops.mse_loss, F.mse_loss), (ops.l1_loss, F.l1_loss), (ops.bce_loss, F.binary_cross_entropy),
                         (ops.bce_with_logits_loss, F.binary_cross_entropy_with_logits)):
        tp = torch.from_numpy(p).requires_grad_(True)
        tl = theirs(tp, torch.from_numpy(t))
        tl.backward()
        loss, g = ours(p, t)
        assert loss == pytest.approx(tl.item(), rel=1e-5)
        np.testing.assert_allclose(g, tp.grad.numpy(), rtol=1e-4, atol=1e-7)
