"""Native pooling (fastnn.ops) vs fastnn.reference: random geometries, both dtypes, special values;
PyTorch as an optional second oracle; bad input raises clearly."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import _core, ops, reference
from strategies import make_layout
from tolerances import assert_close

DTYPES = [np.float32, np.float64]


@st.composite
def pool_cases(draw):
    """Pooling geometry: 1x1 spatial, kernel = padded input, stride None / odd / non-square,
    padding up to half the kernel (PyTorch's limit), batch 0 and 1."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 10))
    w = draw(st.integers(max(1, kw - 2 * pw), 10))
    n, c = draw(st.sampled_from([0, 1, 2, 3])), draw(st.integers(1, 4))
    return dict(shape=(n, c, h, w), k=(kh, kw), stride=stride, padding=(ph, pw))


def _values(rng, shape, dtype, special: bool):
    x = rng.standard_normal(shape)
    if special and x.size:
        # NaN, -inf and +inf, and ties (windows full of -inf included)
        flat = x.reshape(-1)
        kinds = rng.integers(0, 8, flat.size)
        flat[kinds == 0] = np.nan
        flat[kinds == 1] = -np.inf
        flat[kinds == 2] = np.inf
        flat[kinds == 3] = 0.5
    return x.astype(dtype)


@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), special=st.booleans(),
       layout=st.sampled_from(["contiguous", "transposed", "sliced"]), seed=st.integers(0, 2**32 - 1))
def test_max_pool_random(case, dtype, special, layout, seed):
    rng = np.random.default_rng(seed)
    x = _values(rng, case["shape"], dtype, special)
    args = (case["k"], case["stride"], case["padding"])
    y, idx = ops.max_pool2d_forward(make_layout(x, layout), *args)
    y_r, idx_r = reference.max_pool2d_forward(x, *args)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_r, err_msg=str(case))  # a selection: exact, NaN where NaN
    np.testing.assert_array_equal(idx, idx_r, err_msg=str(case))
    dy = rng.standard_normal(y.shape).astype(dtype)
    # (make_layout's NaN fill does not exist for int64: sliced indices are transposed instead)
    idx_view = make_layout(idx, "transposed" if layout == "sliced" else layout)
    dx = ops.max_pool2d_backward(make_layout(dy, layout), idx_view, x.shape)
    assert dx.dtype == dtype
    # overlapping windows that share a maximum add up: compare as sums
    assert_close(dx, reference.max_pool2d_backward(dy.astype(np.float64), idx, x.shape), "avg_pool")


@given(case=pool_cases(), dtype=st.sampled_from(DTYPES), count_include_pad=st.booleans(),
       layout=st.sampled_from(["contiguous", "transposed", "negative"]), seed=st.integers(0, 2**32 - 1))
def test_avg_pool_random(case, dtype, count_include_pad, layout, seed):
    rng = np.random.default_rng(seed)
    x = _values(rng, case["shape"], dtype, False)
    args = (case["k"], case["stride"], case["padding"], count_include_pad)
    y = ops.avg_pool2d_forward(make_layout(x, layout), *args)
    assert y.dtype == dtype
    assert_close(y, reference.avg_pool2d_forward(x.astype(np.float64), *args), "avg_pool", err_msg=str(case))
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.avg_pool2d_backward(make_layout(dy, layout), x.shape, *args)
    assert dx.dtype == dtype
    assert_close(dx, reference.avg_pool2d_backward(dy.astype(np.float64), x.shape, *args), "avg_pool",
                 err_msg=str(case))


@given(shape=st.tuples(st.sampled_from([0, 1, 3]), st.integers(1, 5), st.integers(1, 13), st.integers(1, 13)),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_global_avg_pool_random(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = _values(rng, shape, dtype, False)
    y = ops.global_avg_pool2d_forward(make_layout(x, "transposed"))
    assert y.dtype == dtype and y.shape == shape[:2]
    assert_close(y, reference.global_avg_pool2d_forward(x.astype(np.float64)), "global_avg_pool")
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ops.global_avg_pool2d_backward(dy, x.shape)
    assert_close(dx, reference.global_avg_pool2d_backward(dy.astype(np.float64), x.shape), "global_avg_pool")


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_special_windows(dtype):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan],
                    [-np.inf, -np.inf, 2.0, 5.0],
                    [-np.inf, -np.inf, np.inf, 0.0],
                    [-np.inf, -np.inf, 1.0, 1.0]]]], dtype=dtype)
    y, idx = ops.max_pool2d_forward(x, 2)  # the 2x2 fast path
    np.testing.assert_array_equal(y[0, 0], [[np.nan, np.nan], [-np.inf, np.inf]])
    np.testing.assert_array_equal(idx[0, 0], [[1, 3], [8, 10]])
    y, idx = ops.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1))  # the general path, padded
    y_r, idx_r = reference.max_pool2d_forward(x, 2, 2, 1)
    np.testing.assert_array_equal(y, y_r)
    np.testing.assert_array_equal(idx, idx_r)


def _check_max_pool_2x2(x, rng):
    """Forward (values and indices) and backward of the 2x2 pool against the reference, exactly."""
    y, idx = ops.max_pool2d_forward(x, 2)
    y_r, idx_r = reference.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(y, y_r)
    np.testing.assert_array_equal(idx, idx_r)
    dy = rng.standard_normal(y.shape).astype(x.dtype)
    np.testing.assert_array_equal(ops.max_pool2d_backward(dy, idx, x.shape),
                                  reference.max_pool2d_backward(dy, idx, x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_benchmark_shape_each_isa(dtype, isa, rng):
    _check_max_pool_2x2(rng.standard_normal((2, 32, 28, 28)).astype(dtype), rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5, 9, 71), (2, 3, 33, 40), (1, 2, 2, 2), (2, 2, 5, 3)])
def test_two_by_two_path_each_isa(dtype, shape, isa, rng):
    """The 2x2 / stride 2 / unpadded path (per ISA, pool_impl.h): rows of more than 16 windows
    and ragged ends, odd sizes (last row / column unused), NaN and infinities; with ceil_mode
    the windows that hang over the edge (the general path) against PyTorch."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, size=max(1, flat.size // 7), replace=False)
    flat[picks[0::3]] = np.nan
    flat[picks[1::3]] = np.inf
    flat[picks[2::3]] = -np.inf
    _check_max_pool_2x2(x, rng)
    torch = pytest.importorskip("torch")
    y, idx = ops.max_pool2d_forward(x, 2, ceil_mode=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((8, 16, 15, 14)).astype(np.float32)

    def run():
        y, idx = ops.max_pool2d_forward(x, 3, 2, 1)
        a = ops.avg_pool2d_forward(x, 3, 1, 1, False)
        return [y, idx, ops.max_pool2d_backward(y, idx, x.shape), a,
                ops.avg_pool2d_backward(a, x.shape, 3, 1, 1, False), ops.global_avg_pool2d_forward(x)]

    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        one = run()
        fastnn.set_num_threads(2)
        two = run()
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _values(rng, (2, 3, 9, 8), np.float64, True)
    for k, s, p in [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1)), (4, 3, 2)]:
        y, idx = ops.max_pool2d_forward(x, k, s, p)
        ty, tidx = F.max_pool2d(torch.from_numpy(x), k, s, p, return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(idx, tidx.numpy())
    x = rng.standard_normal((2, 3, 9, 8))
    for k, s, p in [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1))]:
        for cip in (True, False):
            tx = torch.from_numpy(x).requires_grad_(True)
            ty = F.avg_pool2d(tx, k, s, p, count_include_pad=cip)
            y = ops.avg_pool2d_forward(x, k, s, p, cip)
            assert_close(y, ty.detach().numpy(), "avg_pool")
            dy = rng.standard_normal(y.shape)
            ty.backward(torch.from_numpy(dy))
            assert_close(ops.avg_pool2d_backward(dy, x.shape, k, s, p, cip), tx.grad.numpy(), "avg_pool")


# ---------------------------------------------------------------------------------------------
# Bad input

X = np.zeros((2, 3, 6, 6), np.float32)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ops.max_pool2d_forward(X, 3, 1, 2), ValueError,
     r"padding must be at most half the kernel size: got padding \(2, 2\) for kernel_size \(3, 3\)"),
    (lambda: ops.max_pool2d_forward(X, 2, 0), ValueError, "stride must be >= 1, got 0"),
    (lambda: ops.avg_pool2d_forward(X, 2, -1), ValueError, "stride must be >= 1, got -1"),
    (lambda: ops.avg_pool2d_forward(X, 2, 1, -1), ValueError, "padding must be >= 0, got -1"),
    (lambda: ops.max_pool2d_forward(X, 7), ValueError, "kernel_size 7 is larger than the padded input"),
    (lambda: ops.max_pool2d_forward(X, 0), ValueError, "kernel_size must be >= 1, got 0"),
    (lambda: ops.max_pool2d_forward(X[0], 2), ValueError, r"x must be a 4-D \(N, C, H, W\) array, got shape \(3, 6, 6\)"),
    (lambda: ops.max_pool2d_forward(X.astype(np.int64), 2), TypeError, "int64"),
    (lambda: ops.max_pool2d_forward(np.zeros((1, 1, 0, 4), np.float32), 1), ValueError, "non-empty spatial"),
    (lambda: ops.max_pool2d_forward(X, 2.5), TypeError, "kernel_size must be an int or a pair of ints, got float"),
    (lambda: ops.max_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), np.zeros((2, 3, 3, 3), np.int32), X.shape),
     TypeError, "indices must be an int64"),
    (lambda: ops.max_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), np.zeros((2, 3, 3, 2), np.int64), X.shape),
     ValueError, "must both be"),
    (lambda: ops.max_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), np.full((2, 3, 3, 3), 36, np.int64), X.shape),
     ValueError, r"indices must lie in \[0, H\*W\) = \[0, 36\).*got 36"),
    (lambda: ops.max_pool2d_backward(np.zeros((2, 3, 3, 3), np.float32), np.full((2, 3, 3, 3), -1, np.int64), X.shape),
     ValueError, "got -1"),
    (lambda: ops.avg_pool2d_backward(np.zeros((2, 3, 3, 2), np.float32), X.shape, 2), ValueError,
     r"dy must have shape \(2, 3, 3, 3\)"),
    (lambda: ops.global_avg_pool2d_forward(np.zeros((2, 3, 0, 2), np.float32)), ValueError, "non-empty spatial"),
    (lambda: ops.global_avg_pool2d_backward(np.zeros((2, 4), np.float32), X.shape), ValueError,
     r"dy must have shape \(2, 3\)"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_core_checks_everything_itself():
    y = np.empty((2, 3, 3, 3), np.float32)
    idx = np.empty((2, 3, 3, 3), np.int64)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 3, 3, 3\)"):
        _core.max_pool2d_forward(X, np.empty((2, 3, 3, 2), np.float32), idx, (2, 2), (2, 2), (0, 0))
    with pytest.raises(TypeError, match="indices must have dtype int64, got int32"):
        _core.max_pool2d_forward(X, y, idx.astype(np.int32), (2, 2), (2, 2), (0, 0))
    with pytest.raises(ValueError, match="at most half"):
        _core.avg_pool2d_forward(X, y, (2, 2), (2, 2), (2, 0), True)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.max_pool2d_backward(y, np.zeros((3, 3, 3, 2), np.int64).T, np.empty_like(X))
    with pytest.raises(ValueError, match="agree in N and C"):
        _core.max_pool2d_backward(y, idx, np.empty((2, 4, 6, 6), np.float32))


@given(case=pool_cases(), count_include_pad=st.booleans(), special=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_ceil_mode_matches_torch(case, count_include_pad, special, seed):
    """ceil_mode=True (max and average, forward and backward) against torch on random geometries
    (the ceil rule drops a window that would start in the right padding; the last windows
    reach past the input), float64."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    n, c, h, w = case["shape"]
    if n == 0:
        n = 1  # torch's pooling refuses an empty batch
    x = _values(rng, (n, c, h, w), np.float64, special)
    k, s, p = case["k"], case["stride"], case["padding"]
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s, p, ceil_mode=True)
    y, idx = ops.max_pool2d_forward(x, k, s, p, ceil_mode=True)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    dx = ops.max_pool2d_backward(dy, idx, x.shape)
    finite = np.isfinite(y)  # windows of ties between +-inf / NaN may pick another (equal) element
    if finite.all():
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert idx.min() >= 0 and idx.max() < h * w
    x = rng.standard_normal((n, c, h, w))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode=True, count_include_pad=count_include_pad)
    y = ops.avg_pool2d_forward(x, k, s, p, count_include_pad=count_include_pad, ceil_mode=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    dx = ops.avg_pool2d_backward(dy, x.shape, k, s, p, count_include_pad=count_include_pad, ceil_mode=True)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert dx.shape == x.shape and dx.flags.c_contiguous


def test_ceil_mode_layers(rng):
    """The layers: output size, the windows past the input, float32, gradients, config, errors."""
    from fastnn import nn
    from nn_helpers import check_module_gradients
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    pool = nn.MaxPool2d(2, ceil_mode=True)
    y = pool(x)
    assert y.shape == (2, 3, 3, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, :, 2, 3], x[:, :, 4, 6])  # the corner window holds one element
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 2, 3)
    avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert avg(x).shape == (2, 3, 3, 4)
    check_module_gradients(nn.AvgPool2d(2, ceil_mode=True).double(), rng.standard_normal((1, 2, 5, 5)))
    check_module_gradients(nn.MaxPool2d(3, stride=2, ceil_mode=True).double(), rng.standard_normal((1, 2, 6, 6)))
    assert pool.get_config()["ceil_mode"] is True and "ceil_mode" not in nn.MaxPool2d(2).get_config()
    again = nn.AvgPool2d(**avg.get_config())
    np.testing.assert_array_equal(again(x), avg(x))
    seq = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True))  # the fused ReLU + max pool step
    np.testing.assert_array_equal(seq(x), np.maximum(y, 0))
    with pytest.raises(TypeError, match="Received: ceil_mode='yes'"):
        nn.MaxPool2d(2, ceil_mode="yes")
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3, 3, 4\)"):
        ops.avg_pool2d_backward(np.zeros((2, 3, 2, 3), np.float32), x.shape, 2, ceil_mode=True)


# ---------------------------------------------------------------------------------------------
# Dilated max pooling (array code) and avg pooling's divisor_override, against PyTorch: values,
# indices and gradients, with NaN / -inf windows, padding, odd strides and ceil mode.
DILATED = [  # kernel, stride, padding, dilation, ceil_mode
    (2, 1, 1, 2, False), (3, 2, 1, 2, True), ((2, 3), (1, 2), (1, 0), (3, 1), False), (3, 3, 1, 2, True),
    (2, None, 0, (1, 2), False), ((3, 1), 2, (1, 0), 3, True), (1, 2, 0, 4, True),
]


@pytest.mark.parametrize("k, s, p, d, ceil_mode", DILATED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dilated_max_pool_matches_torch(k, s, p, d, ceil_mode, dtype, rng):
    torch = pytest.importorskip("torch")
    x = _values(rng, (2, 3, 9, 8), dtype, True)
    x[1, 2] = -np.inf  # a whole plane of -inf: every window's first real element
    y, idx = ops.max_pool2d_forward(x, k, s, p, ceil_mode=ceil_mode, dilation=d)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, k, s, p, dilation=d, ceil_mode=ceil_mode, return_indices=True)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(ops.max_pool2d_backward(dy, idx, x.shape), tx.grad.numpy())


def test_dilated_max_pool_bad_input():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match="dilation"):
        ops.max_pool2d_forward(x, 2, dilation=0)
    with pytest.raises(ValueError, match="empty"):
        ops.max_pool2d_forward(x, 3, dilation=2)  # a 5-wide window on 4 columns
    with pytest.raises(ValueError, match="half the kernel"):
        ops.max_pool2d_forward(x, 2, 1, 2, dilation=2)


@pytest.mark.parametrize("k, s, p, ceil_mode", [(3, 2, 1, False), (3, 2, 1, True), (2, None, 0, True),
                                                 ((2, 3), (1, 2), (1, 1), False)])
@pytest.mark.parametrize("divisor", [5, -3, 1])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_divisor_override_matches_torch(k, s, p, ceil_mode, divisor, count_include_pad, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.functional.avg_pool2d(tx, k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                                        divisor_override=divisor)
    y = ops.avg_pool2d_forward(x, k, s, p, count_include_pad, ceil_mode, divisor_override=divisor)
    assert_close(y, ty.detach().numpy(), "avg_pool")
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    dx = ops.avg_pool2d_backward(dy, x.shape, k, s, p, count_include_pad, ceil_mode, divisor_override=divisor)
    assert_close(dx, tx.grad.numpy(), "avg_pool")
    y32 = ops.avg_pool2d_forward(x.astype(np.float32), k, s, p, count_include_pad, ceil_mode, divisor_override=divisor)
    assert y32.dtype == np.float32
    assert_close(y32, ty.detach().numpy(), "avg_pool")


@pytest.mark.parametrize("bad", [0, 2.0, True, "2"])
def test_avg_pool_divisor_override_bad(bad):
    with pytest.raises(ValueError, match="divisor_override"):
        ops.avg_pool2d_forward(np.ones((1, 1, 4, 4)), 2, divisor_override=bad)
    with pytest.raises(ValueError, match="divisor_override"):
        fastnn.nn.AvgPool2d(2, divisor_override=bad)


def test_pool_layers_dilation_indices_divisor_as_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 9))
    pool = fastnn.nn.MaxPool2d(3, 2, 1, dilation=2, return_indices=True, ceil_mode=True)
    tpool = torch.nn.MaxPool2d(3, 2, 1, dilation=2, return_indices=True, ceil_mode=True)
    tx = torch.from_numpy(x).requires_grad_(True)
    (y, idx), (ty, tidx) = pool(x), tpool(tx)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(pool.backward(dy), tx.grad.numpy())
    # PyTorch's argument order: AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor)
    avg, tavg = fastnn.nn.AvgPool2d(3, 2, 1, True, False, 4), torch.nn.AvgPool2d(3, 2, 1, True, False, 4)
    assert_close(avg(x), tavg(torch.from_numpy(x)).numpy(), "avg_pool")
    # a dilated MaxPool2d after a ReLU still fuses (max and ReLU commute); return_indices does not
    relu_pool = fastnn.nn.Sequential(fastnn.nn.ReLU(), fastnn.nn.MaxPool2d(2, dilation=2))
    want = torch.nn.functional.max_pool2d(torch.relu(torch.from_numpy(x)), 2, dilation=2).numpy()
    np.testing.assert_array_equal(relu_pool(x), want)
    assert fastnn.nn.MaxPool2d(3, dilation=(1, 2)).get_config()["dilation"] == [1, 2]
    assert fastnn.nn.AvgPool2d(3, divisor_override=2).get_config()["divisor_override"] == 2
