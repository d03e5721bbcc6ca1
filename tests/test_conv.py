"""Native convolution (fastnn.ops) vs fastnn.reference: random geometries, both dtypes, any layout;
PyTorch as an optional second oracle; bad input raises clearly."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import _core, ops, reference
from strategies import make_layout
import contextlib

from tolerances import assert_close, assert_within, winograd_error_bounds

DTYPES = [np.float32, np.float64]


@st.composite
def conv_cases(draw, max_channels=4):
    """A convolution geometry: batch 0/1/few, 1x1 spatial, kernel = padded input, odd and
    non-square strides, padding up to kernel - 1."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    # smallest input the kernel fits in (then the kernel covers the whole padded input), up to 9
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    n = draw(st.sampled_from([0, 1, 1, 2, 3]))
    c = draw(st.integers(1, max_channels))
    oc = draw(st.integers(1, max_channels))
    return dict(n=n, c=c, oc=oc, h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=(ph, pw))


def _operands(rng, case, dtype):
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"])).astype(dtype)
    fan_in = case["c"] * case["k"][0] * case["k"][1]
    w = (rng.standard_normal((case["oc"], case["c"]) + case["k"]) / np.sqrt(fan_in)).astype(dtype)
    b = rng.standard_normal(case["oc"]).astype(dtype)
    return x, w, b


def _f64(*arrays):
    return [None if a is None else a.astype(np.float64) for a in arrays]


def _stride_arg(pair_value, as_int):
    # exercise both the int and the pair spelling when the pair is square
    return pair_value[0] if as_int and pair_value[0] == pair_value[1] else pair_value


@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(["contiguous", "transposed", "sliced"]),
       use_bias=st.booleans(), need_dx=st.booleans(), as_int=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv2d_random(case, dtype, layout, use_bias, need_dx, as_int, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _operands(rng, case, dtype)
    b = b if use_bias else None
    s, p = _stride_arg(case["stride"], as_int), _stride_arg(case["padding"], as_int)
    y = ops.conv2d_forward(make_layout(x, layout), w, b, s, p)
    want = reference.conv2d_forward(*_f64(x, w, b), s, p)
    assert y.dtype == dtype
    assert_close(y, want, "conv", err_msg=str(case))

    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(make_layout(dy, layout), make_layout(x, layout), w, s, p,
                                     need_dx=need_dx, has_bias=use_bias)
    dx_r, dw_r, db_r = reference.conv2d_backward(*_f64(dy, x, w), s, p)
    assert dw.dtype == dtype
    assert_close(dw, dw_r, "conv_backward", err_msg=f"dw {case}")
    if need_dx:
        assert dx.dtype == dtype
        assert_close(dx, dx_r, "conv_backward", err_msg=f"dx {case}")
    else:
        assert dx is None
    if use_bias:
        assert_close(db, db_r, "conv_backward", err_msg=f"db {case}")
    else:
        assert db is None


@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_backward_reuses_forward_columns(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _operands(rng, case, dtype)
    y, cols = ops.conv2d_forward(x, w, b, case["stride"], case["padding"], return_cols=True)
    np.testing.assert_array_equal(y, ops.conv2d_forward(x, w, b, case["stride"], case["padding"]))
    dy = rng.standard_normal(y.shape).astype(dtype)
    with_cols = ops.conv2d_backward(dy, x, w, case["stride"], case["padding"], cols=cols)
    without = ops.conv2d_backward(dy, x, w, case["stride"], case["padding"])
    for a, c in zip(with_cols, without):
        np.testing.assert_array_equal(a, c)
    pointwise = case["k"] == (1, 1) and case["stride"] == (1, 1) and case["padding"] == (0, 0)
    assert (cols is None) == pointwise
    if cols is not None:
        # an opaque buffer (chunk-major); it holds exactly im2col's entries, rearranged
        batch_major = reference.im2col(x, case["k"], case["stride"], case["padding"])
        assert cols.shape == (batch_major.shape[1], batch_major.shape[0] * batch_major.shape[2])
        np.testing.assert_array_equal(np.sort(cols, axis=None), np.sort(batch_major, axis=None))


@given(case=conv_cases(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_im2col_col2im_random(case, dtype, seed):
    rng = np.random.default_rng(seed)
    x, _, _ = _operands(rng, case, dtype)
    k, s, p = case["k"], case["stride"], case["padding"]
    cols = ops.im2col(make_layout(x, "sliced"), k, s, p)
    np.testing.assert_array_equal(cols, reference.im2col(x, k, s, p))  # pure data movement: exact
    g = rng.standard_normal(cols.shape).astype(dtype)
    assert_close(ops.col2im(make_layout(g, "transposed"), x.shape, k, s, p),
                 reference.col2im(g.astype(np.float64), x.shape, k, s, p), "conv_backward")


# Row geometries for the vectorized im2col/col2im rows (masked loads/stores), on every ISA this CPU
# has: OW below, at and past one vector (16/8 float lanes, 8/4 double), padding on the left, the
# right or both sides of a row, row strides (SH > 1) and the strided gather (SW > 1).
ROW_CASES = [
    # (h, w), (kh, kw), (sh, sw), (ph, pw)
    ((5, 3), (3, 3), (1, 1), (0, 1)),
    ((6, 12), (5, 5), (1, 1), (0, 0)),
    ((7, 12), (5, 5), (1, 1), (2, 0)),
    ((6, 11), (4, 5), (1, 1), (1, 3)),
    ((4, 20), (3, 5), (2, 1), (1, 4)),
    ((5, 21), (2, 4), (1, 1), (1, 2)),
    ((9, 36), (3, 3), (3, 1), (2, 0)),
    ((8, 40), (3, 7), (1, 1), (0, 6)),
    ((6, 17), (3, 3), (1, 2), (1, 2)),
    ((3, 9), (3, 9), (1, 1), (2, 8)),
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_col2im_rows_each_isa(dtype, isa, rng):
    for hw, k, s, p in ROW_CASES:
        x = rng.standard_normal((2, 3) + hw).astype(dtype)
        cols = ops.im2col(x, k, s, p)
        np.testing.assert_array_equal(cols, reference.im2col(x, k, s, p), err_msg=f"{isa} {hw} {k} {s} {p}")
        g = rng.standard_normal(cols.shape).astype(dtype)
        assert_close(ops.col2im(g, x.shape, k, s, p), reference.col2im(g.astype(np.float64), x.shape, k, s, p),
                     "conv_backward", err_msg=f"{isa} {hw} {k} {s} {p}")
        # the convolution's own (chunked, channel-major) im2col and col2im
        w = rng.standard_normal((4, 3) + k).astype(dtype)
        y = ops.conv2d_forward(x, w, None, s, p)
        assert_close(y, reference.conv2d_forward(*_f64(x, w), None, s, p), "conv", err_msg=isa)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, dw, _ = ops.conv2d_backward(dy, x, w, s, p)
        want_dx, want_dw, _ = reference.conv2d_backward(*_f64(dy, x, w), s, p)
        assert_close(dx, want_dx, "conv_backward", err_msg=isa)
        assert_close(dw, want_dw, "conv_backward", err_msg=isa)


@st.composite
def transpose_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
    # the output size (H - 1) * S - 2P + K + op must be >= 1
    h = draw(st.integers(1, 6).filter(lambda h: (h - 1) * sh - 2 * ph + kh + oph >= 1))
    w = draw(st.integers(1, 6).filter(lambda w: (w - 1) * sw - 2 * pw + kw + opw >= 1))
    return dict(n=draw(st.sampled_from([0, 1, 2])), cin=draw(st.integers(1, 4)), cout=draw(st.integers(1, 4)),
                h=h, w=w, k=(kh, kw), stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw))


@given(case=transpose_cases(), dtype=st.sampled_from(DTYPES), use_bias=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_conv_transpose2d_random(case, dtype, use_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["cin"], case["h"], case["w"])).astype(dtype)
    w = (rng.standard_normal((case["cin"], case["cout"]) + case["k"]) / np.sqrt(case["cin"])).astype(dtype)
    b = rng.standard_normal(case["cout"]).astype(dtype) if use_bias else None
    geo = (case["stride"], case["padding"], case["output_padding"])
    y = ops.conv_transpose2d_forward(make_layout(x, "transposed"), w, b, *geo)
    assert y.dtype == dtype
    assert_close(y, reference.conv_transpose2d_forward(*_f64(x, w, b), *geo), "conv", err_msg=str(case))
    dy = rng.standard_normal(y.shape).astype(dtype)
    got = ops.conv_transpose2d_backward(dy, x, w, *geo, has_bias=use_bias)
    want = reference.conv_transpose2d_backward(*_f64(dy, x, w), *geo, has_bias=use_bias)
    for name, g, r in zip(("dx", "dw", "db"), got, want):
        if r is None:
            assert g is None
        else:
            assert g.dtype == dtype
            assert_close(g, r, "conv_backward", err_msg=f"{name} {case}")


# (x shape, OC, kernel, stride, padding): the layer shapes of the benchmarks, shrunk in N, plus a
# strided and a non-square case; each run on every ISA this CPU has (the GEMM may dispatch).
FIXED = [
    ((3, 1, 28, 28), 8, (3, 3), 1, 1),
    ((2, 32, 14, 14), 16, (3, 3), 1, 1),
    ((2, 64, 14, 14), 32, (1, 1), 1, 0),
    ((2, 20, 12, 12), 50, (5, 5), 1, 0),
    ((2, 5, 17, 13), 7, (3, 2), (2, 3), (1, 0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, oc, k, s, p", FIXED)
def test_conv2d_layer_shapes_each_isa(x_shape, oc, k, s, p, dtype, isa, rng):
    case = dict(n=x_shape[0], c=x_shape[1], oc=oc, h=x_shape[2], w=x_shape[3], k=k)
    x, w, b = _operands(rng, case, dtype)
    y = ops.conv2d_forward(x, w, b, s, p)
    assert_close(y, reference.conv2d_forward(*_f64(x, w, b), s, p), "conv", err_msg=isa)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for name, g, r in zip("dx dw db".split(), ops.conv2d_backward(dy, x, w, s, p),
                          reference.conv2d_backward(*_f64(dy, x, w), s, p)):
        # dw, db sum N*OH*OW (up to 2352) O(1) products here: compare relative to their scale
        scale = 1.0 if name == "dx" else float(np.sqrt(np.prod(dy.shape) / oc))
        assert_close(g / scale, r / scale, "conv_backward", err_msg=f"{name} {isa}")


# 1x1 convolutions run as one batched GEMM (the weight packed once, B read in place or packed
# by the number of weight panels, the bias in the epilogue): K (= C) past one depth block, OC
# from one to several row panels, planes with ragged column panels, a 1x1 plane.
POINTWISE = [((3, 400, 5, 7), 13), ((2, 7, 9, 9), 70), ((5, 3, 1, 1), 4), ((1, 33, 6, 6), 1), ((4, 16, 2, 17), 40)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, oc", POINTWISE)
def test_pointwise_conv_each_isa(x_shape, oc, dtype, isa, rng):
    case = dict(n=x_shape[0], c=x_shape[1], oc=oc, h=x_shape[2], w=x_shape[3], k=(1, 1))
    x, w, b = _operands(rng, case, dtype)
    assert _core.conv2d_algorithm(x, w, (1, 1), (0, 0)) == "pointwise"
    y = ops.conv2d_forward(x, w, b)
    assert_close(y, reference.conv2d_forward(*_f64(x, w, b), 1, 0), "conv", err_msg=isa)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for name, g, r in zip("dx dw db".split(), ops.conv2d_backward(dy, x, w), reference.conv2d_backward(*_f64(dy, x, w), 1, 0)):
        scale = 1.0 if name == "dx" else float(np.sqrt(np.prod(dy.shape) / oc))
        assert_close(g / scale, r / scale, "conv_backward", err_msg=f"{name} {isa}")


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((9, 6, 11, 10)).astype(np.float32)
    w = rng.standard_normal((5, 6, 3, 3)).astype(np.float32)
    w1 = rng.standard_normal((5, 6, 1, 1)).astype(np.float32)
    b1 = rng.standard_normal(5).astype(np.float32)
    dy = rng.standard_normal((9, 5, 6, 5)).astype(np.float32)
    dy1 = rng.standard_normal((9, 5, 11, 10)).astype(np.float32)
    # C * KH * KW <= 16 (one input channel): the im2col products run sample by sample (conv.cpp)
    xs = rng.standard_normal((9, 1, 11, 10)).astype(np.float32)
    ws = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)
    # OC > 16: the weight gradient as dY @ cols^T instead of its transpose
    wo = rng.standard_normal((20, 6, 3, 3)).astype(np.float32)
    dyo = rng.standard_normal((9, 20, 6, 5)).astype(np.float32)

    def run():
        return [ops.conv2d_forward(x, w, None, 2, 1), *ops.conv2d_backward(dy, x, w, 2, 1),
                ops.conv2d_forward(x, w1), ops.conv2d_forward(x, w1, b1), *ops.conv2d_backward(dy1, x, w1),
                ops.conv_transpose2d_forward(dy, w, None, 2, 1, 1), *ops.conv_transpose2d_backward(x, dy, w, 2, 1, (0, 1)),
                ops.conv2d_forward(xs, ws, b1, 1, 1), *ops.conv2d_backward(dy1, xs, ws, 1, 1),
                ops.conv_transpose2d_forward(dy1, ws, b1[:1], 1, 1), *ops.conv2d_backward(dyo, x, wo, 2, 1)]

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


def test_empty_and_degenerate_shapes():
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    assert ops.conv2d_forward(x, w, None, 1, 1).shape == (0, 4, 5, 5)
    dx, dw, db = ops.conv2d_backward(np.zeros((0, 4, 5, 5), np.float32), x, w, 1, 1)
    assert dx.shape == x.shape and not dw.any() and not db.any()
    # zero output channels, and an input padded up to the kernel size
    assert ops.conv2d_forward(np.ones((2, 3, 5, 5)), np.ones((0, 3, 3, 3)), None).shape == (2, 0, 3, 3)
    y = ops.conv2d_forward(np.ones((1, 1, 1, 1)), np.ones((1, 1, 3, 3)), np.array([0.5]), 1, 1)
    np.testing.assert_array_equal(y, [[[[1.5]]]])


@pytest.mark.parametrize("dtype", [np.float64])
def test_matches_torch(dtype, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for x_shape, oc, k, s, p in FIXED:
        case = dict(n=x_shape[0], c=x_shape[1], oc=oc, h=x_shape[2], w=x_shape[3], k=k)
        x, w, b = _operands(rng, case, dtype)
        tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        ty = F.conv2d(tx, tw, tb, stride=s, padding=p)
        y = ops.conv2d_forward(x, w, b, s, p)
        assert_close(y, ty.detach().numpy(), "conv")
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.from_numpy(dy))
        for g, t in zip(ops.conv2d_backward(dy, x, w, s, p), (tx, tw, tb)):
            assert_close(g, t.grad.numpy(), "conv_backward")
    x = rng.standard_normal((2, 3, 5, 4))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(2)
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    ty = F.conv_transpose2d(tx, tw, tb, stride=(2, 3), padding=(1, 0), output_padding=(1, 2))
    y = ops.conv_transpose2d_forward(x, w, b, (2, 3), (1, 0), (1, 2))
    assert_close(y, ty.detach().numpy(), "conv")
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    for g, t in zip(ops.conv_transpose2d_backward(dy, x, w, (2, 3), (1, 0), (1, 2)), (tx, tw, tb)):
        assert_close(g, t.grad.numpy(), "conv_backward")


# Transposed convolutions with groups and dilation (run per group with the dilated kernel), an
# output_padding >= stride that only a dilation allows (cut out of the unpadded output), against
# torch's conv_transpose2d, forward and every gradient.
TRANSPOSE_GROUPED = [
    # x shape, w shape (C_in, C_out / groups, KH, KW), stride, padding, output_padding, dilation, groups
    ((2, 4, 5, 4), (4, 3, 3, 2), 1, 0, 0, 1, 2),
    ((2, 6, 3, 5), (6, 1, 3, 3), (2, 1), (1, 0), (1, 0), 1, 6),
    ((1, 3, 4, 4), (3, 2, 3, 3), 1, 1, 0, 2, 1),
    ((2, 2, 3, 4), (2, 2, 2, 3), 2, (0, 1), (1, 0), (2, 3), 1),
    ((2, 4, 3, 3), (4, 2, 3, 2), 1, (1, 2), (1, 2), (2, 3), 2),  # output_padding >= stride
    ((1, 2, 2, 3), (2, 1, 2, 2), 1, 0, (2, 0), (3, 1), 2),       # ... past the unpadded output
    ((3, 6, 4, 3), (6, 2, 1, 3), (3, 2), 0, (2, 1), (1, 2), 3),
]


@pytest.mark.parametrize("x_shape, w_shape, s, p, op, d, groups", TRANSPOSE_GROUPED)
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv_transpose_groups_dilation_match_torch(x_shape, w_shape, s, p, op, d, groups, use_bias, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * groups) if use_bias else None
    tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True) if use_bias else None
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p, output_padding=op, groups=groups,
                                              dilation=d)
    y = ops.conv_transpose2d_forward(x, w, b, s, p, op, dilation=d, groups=groups)
    assert y.shape == tuple(ty.shape)
    assert_close(y, ty.detach().numpy(), "conv")
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    dx, dw, db = ops.conv_transpose2d_backward(dy, x, w, s, p, op, dilation=d, groups=groups, has_bias=use_bias)
    assert_close(dx, tx.grad.numpy(), "conv_backward")
    assert_close(dw, tw.grad.numpy(), "conv_backward")
    if use_bias:
        assert_close(db, tb.grad.numpy(), "conv_backward")
    else:
        assert db is None
    # float32 runs the same decomposition on the float kernels
    y32 = ops.conv_transpose2d_forward(x.astype(np.float32), w.astype(np.float32),
                                       None if b is None else b.astype(np.float32), s, p, op, dilation=d, groups=groups)
    assert y32.dtype == np.float32
    assert_close(y32, ty.detach().numpy(), "conv")


def test_conv_transpose_groups_dilation_bad_input():
    x = np.ones((1, 4, 3, 3))
    with pytest.raises(ValueError, match="groups=3"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), None, groups=3)
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), np.ones(2), groups=2)
    with pytest.raises(ValueError, match="stride or dilation"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), None, 1, 0, 2, dilation=2)
    with pytest.raises(ValueError, match="output_padding"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), None, 1, 0, 1)
    with pytest.raises(ValueError, match="dilation"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), None, dilation=0)
    with pytest.raises(ValueError, match="groups"):
        ops.conv_transpose2d_forward(x, np.ones((4, 2, 3, 3)), None, groups=0)
    with pytest.raises(ValueError, match=r"dy must have shape \(1, 4, 5, 5\)"):
        ops.conv_transpose2d_backward(np.ones((1, 2, 5, 5)), x, np.ones((4, 2, 3, 3)), groups=2)


# ---------------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3) (csrc/kernels/winograd.h): 3x3 stride-1 layers with C, OC >= 8 take it;
# the tests force it on small layers too and check every result against the reference within
# the error bound derived for its transforms (tests/tolerances.py).


@contextlib.contextmanager
def conv_algorithm(name):
    _core.set_conv2d_algorithm(name)
    try:
        yield
    finally:
        _core.set_conv2d_algorithm("auto")


def _winograd_calls():
    return _core.conv2d_algorithm_calls()["winograd"]


def _check_winograd(x, w, b, dy, padding, got, need_dx=True, err_msg=""):
    """got = (y, dx, dw, db) from the Winograd path vs the float64 reference, elementwise within
    the derived bound."""
    y, dx, dw, db = got
    x64, w64, dy64 = _f64(x, w, dy)
    b64 = None if b is None else b.astype(np.float64)
    bound_y, bound_dx, bound_dw, y_exact = winograd_error_bounds(x64, w64, dy64, padding, b64, dtype=x.dtype)
    y_ref = reference.conv2d_forward(x64, w64, b64, 1, padding)
    dx_ref, dw_ref, db_ref = reference.conv2d_backward(dy64, x64, w64, 1, padding)
    np.testing.assert_allclose(y_exact, y_ref, rtol=1e-12, atol=1e-12)  # the bound's algebra
    assert_within(y, y_ref, bound_y, "y " + err_msg)
    assert_within(dw, dw_ref, bound_dw, "dw " + err_msg)
    if need_dx:
        assert_within(dx, dx_ref, bound_dx, "dx " + err_msg)
    if db is not None:
        assert_close(db, db_ref, "conv_backward", err_msg="db " + err_msg)
    return y_ref, dx_ref


@st.composite
def winograd_cases(draw, max_channels=4):
    """3x3, stride 1: padding 0..2 per axis, output from 1x1 (kernel = padded input) to odd and
    non-square sizes (tiles cut at the border), batch 0, 1 and a few."""
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, 3 - 2 * ph), 9))
    w = draw(st.integers(max(1, 3 - 2 * pw), 9))
    return dict(n=draw(st.sampled_from([0, 1, 1, 2, 3])), c=draw(st.integers(1, max_channels)),
                oc=draw(st.integers(1, max_channels)), h=h, w=w, k=(3, 3), padding=(ph, pw))


@given(case=winograd_cases(), dtype=st.sampled_from(DTYPES), use_bias=st.booleans(), need_dx=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_winograd_random(case, dtype, use_bias, need_dx, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _operands(rng, case, dtype)
    b = b if use_bias else None
    p = case["padding"]
    before = _winograd_calls()
    with conv_algorithm("winograd"):
        y = ops.conv2d_forward(x, w, b, 1, p)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx, dw, db = ops.conv2d_backward(dy, x, w, 1, p, need_dx=need_dx, has_bias=use_bias)
    # the path was taken (a batch of 0 returns before any algorithm runs)
    assert _winograd_calls() - before == (2 if case["n"] > 0 else 0)
    assert y.dtype == dw.dtype == dtype and (dx is None) == (not need_dx)
    y_ref, dx_ref = _check_winograd(x, w, b, dy, p, (y, dx, dw, db), need_dx, str(case))
    assert_close(y, y_ref, "winograd", err_msg=str(case))
    if need_dx:
        assert_close(dx, dx_ref, "winograd", err_msg=str(case))


# Layers the automatic choice sends to Winograd with the AVX-512 product kernel (float32): the
# benchmark's (shrunk in N), odd and non-square outputs, each padding, a 1x1 output, channel
# counts that are not multiples of 16. Run on every ISA (forced where the choice differs).
WINOGRAD_FIXED = [
    ((2, 32, 14, 14), 64, 1),
    ((3, 8, 9, 7), 16, 0),
    ((2, 16, 5, 6), 8, 2),
    ((2, 9, 1, 1), 8, 1),
    ((1, 20, 13, 11), 50, (1, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, oc, p", WINOGRAD_FIXED)
def test_winograd_layer_shapes_each_isa(x_shape, oc, p, dtype, isa, rng):
    case = dict(n=x_shape[0], c=x_shape[1], oc=oc, h=x_shape[2], w=x_shape[3], k=(3, 3))
    x, w, b = _operands(rng, case, dtype)
    if isa == "avx512" and dtype == np.float32:
        assert _core.conv2d_algorithm(x, w, (1, 1), (p, p) if np.isscalar(p) else p) == "winograd"
    before = _winograd_calls()
    with conv_algorithm("winograd"):
        y = ops.conv2d_forward(x, w, b, 1, p)
        dy = rng.standard_normal(y.shape).astype(dtype)
        got = ops.conv2d_backward(dy, x, w, 1, p)
    assert _winograd_calls() - before == 2
    _check_winograd(x, w, b, dy, p, (y, *got), err_msg=f"{x_shape} {isa}")


def test_conv2d_algorithm_choice(isa):
    def algo(x_shape, w_shape, s=(1, 1), p=(1, 1), dtype=np.float32):
        return _core.conv2d_algorithm(np.zeros(x_shape, dtype), np.zeros(w_shape, dtype), s, p)

    # C, OC >= 8 with the AVX-512 product kernel (float32), >= 32 otherwise (conv.cpp's measurements)
    kernel = isa == "avx512"
    assert algo((128, 32, 14, 14), (64, 32, 3, 3)) == "winograd"
    assert algo((128, 32, 14, 14), (64, 32, 3, 3), dtype=np.float64) == "winograd"
    assert algo((128, 8, 28, 28), (8, 8, 3, 3), p=(0, 0)) == ("winograd" if kernel else "im2col")
    assert algo((128, 16, 7, 7), (32, 16, 3, 3)) == ("winograd" if kernel else "im2col")
    assert algo((128, 16, 7, 7), (32, 16, 3, 3), dtype=np.float64) == "im2col"
    assert algo((128, 1, 28, 28), (32, 1, 3, 3)) == "im2col"      # C = 1
    assert algo((128, 32, 14, 14), (4, 32, 3, 3)) == "im2col"     # OC < 8
    assert algo((128, 32, 14, 14), (64, 32, 3, 3), s=(2, 2)) == "im2col"
    assert algo((128, 20, 12, 12), (50, 20, 5, 5), p=(0, 0)) == "im2col"
    assert algo((128, 64, 14, 14), (32, 64, 1, 1), p=(0, 0)) == "pointwise"
    with conv_algorithm("im2col"):
        assert algo((128, 32, 14, 14), (64, 32, 3, 3)) == "im2col"
    with conv_algorithm("winograd"):
        assert algo((2, 1, 5, 5), (1, 1, 3, 3)) == "winograd"
        assert algo((2, 8, 9, 9), (8, 8, 5, 5)) == "im2col"        # not a 3x3 stride-1 layer
        assert algo((2, 8, 9, 9), (8, 8, 1, 1), p=(0, 0)) == "pointwise"
    with pytest.raises(ValueError, match="'auto', 'im2col' or 'winograd', got 'fft'"):
        _core.set_conv2d_algorithm("fft")
    assert algo((128, 32, 14, 14), (64, 32, 3, 3)) == "winograd"  # a bad name changes nothing
    with pytest.raises(TypeError, match="w must have dtype float32 like the other operands, got float64"):
        _core.conv2d_algorithm(np.zeros((1, 8, 5, 5), np.float32), np.zeros((8, 8, 3, 3)), (1, 1), (1, 1))


@pytest.mark.parametrize("x_shape, oc, p", [((37, 16, 11, 9), 24, 1), ((128, 32, 14, 14), 64, 1)])
def test_winograd_does_not_depend_on_thread_count(x_shape, oc, p, rng):
    """Many blocks and dU groups (conv_winograd.cpp): bitwise the same results for 1 and 2 threads."""
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal((oc, x_shape[1], 3, 3)) / np.sqrt(9 * x_shape[1])).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    dy = rng.standard_normal((x_shape[0], oc, x_shape[2] + 2 * p - 2, x_shape[3] + 2 * p - 2)).astype(np.float32)
    def run():  # forced: the automatic choice depends on the ISA in use (winograd_pays)
        with conv_algorithm("winograd"):
            assert _core.conv2d_algorithm(x, w, (1, 1), (p, p)) == "winograd"
            calls = _winograd_calls()
            got = [ops.conv2d_forward(x, w, b, 1, p), *ops.conv2d_backward(dy, x, w, 1, p),
                   *ops.conv2d_backward(dy, x, w, 1, p, need_dx=False)[1:]]
            assert _winograd_calls() == calls + 3
            return got

    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        one = run()
        fastnn.set_num_threads(2)
        two = run()
    finally:
        fastnn.set_num_threads(before)
    for a, c in zip(one, two):
        np.testing.assert_array_equal(a, c)


def test_winograd_keeps_columns_when_asked(rng):
    """return_cols still fills im2col's column matrix; y and the gradients are those of the
    Winograd path with or without it."""
    case = dict(n=3, c=8, oc=8, h=6, w=5, k=(3, 3))
    x, w, b = _operands(rng, case, np.float32)
    with conv_algorithm("winograd"):
        calls = _winograd_calls()
        y, cols = ops.conv2d_forward(x, w, b, 1, 1, return_cols=True)
        np.testing.assert_array_equal(y, ops.conv2d_forward(x, w, b, 1, 1))
        np.testing.assert_array_equal(np.sort(cols, axis=None), np.sort(reference.im2col(x, 3, 1, 1), axis=None))
        dy = rng.standard_normal(y.shape).astype(np.float32)
        for a, c in zip(ops.conv2d_backward(dy, x, w, 1, 1, cols=cols), ops.conv2d_backward(dy, x, w, 1, 1)):
            np.testing.assert_array_equal(a, c)
        assert _winograd_calls() == calls + 4


def test_winograd_agrees_with_im2col_and_gradcheck(rng):
    """float64: the two algorithms agree to rounding, and Winograd's gradients match central
    differences of its own forward."""
    x = rng.standard_normal((2, 8, 5, 4))
    w = rng.standard_normal((8, 8, 3, 3)) / np.sqrt(72)
    b = rng.standard_normal(8)
    dy = rng.standard_normal((2, 8, 5, 4))
    with conv_algorithm("im2col"):
        want = [ops.conv2d_forward(x, w, b, 1, 1), *ops.conv2d_backward(dy, x, w, 1, 1)]
    got = [ops.conv2d_forward(x, w, b, 1, 1), *ops.conv2d_backward(dy, x, w, 1, 1)]
    for g, r in zip(got, want):
        assert_close(g, r, "winograd")
    loss = lambda xx, ww: float(np.sum(ops.conv2d_forward(xx, ww, b, 1, 1) * dy))  # noqa: E731
    eps = 1e-6
    for arr, grad, idx in ((x, got[1], (1, 3, 2, 1)), (w, got[2], (5, 2, 0, 2)), (x, got[1], (0, 7, 4, 3))):
        plus, minus = arr.copy(), arr.copy()
        plus[idx] += eps
        minus[idx] -= eps
        args_p = (plus, w) if arr is x else (x, plus)
        args_m = (minus, w) if arr is x else (x, minus)
        numeric = (loss(*args_p) - loss(*args_m)) / (2 * eps)
        assert abs(numeric - grad[idx]) < 1e-7 * max(1.0, abs(numeric))


# ---------------------------------------------------------------------------------------------
# Bad input


X = np.zeros((2, 3, 6, 6), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ops.conv2d_forward(X, np.zeros((4, 2, 3, 3), np.float32)), ValueError, "x has 3 channels but w"),
    (lambda: ops.conv2d_forward(X, np.zeros((4, 3, 9, 3), np.float32)), ValueError,
     r"kernel_size 9 is larger than the padded input: size 6 \+ 2 \* padding 0 = 6"),
    (lambda: ops.conv2d_forward(X, W, None, 1, -1), ValueError, "padding must be >= 0, got -1"),
    (lambda: ops.conv2d_forward(X, W, None, -2), ValueError, "stride must be >= 1, got -2"),
    (lambda: ops.conv2d_forward(X, W, None, (1, 0)), ValueError, "stride must be >= 1, got 0"),
    (lambda: ops.conv2d_forward(X, W, None, 1.0), TypeError, "stride must be an int or a pair of ints, got float"),
    (lambda: ops.conv2d_forward(X, W, None, (1, 1, 1)), ValueError, r"got \(1, 1, 1\) of length 3"),
    (lambda: ops.conv2d_forward(X.astype(np.float64), W), TypeError, "w has dtype float32 but x has dtype float64"),
    (lambda: ops.conv2d_forward(X.astype(np.int32), W), TypeError, "int32"),
    (lambda: ops.conv2d_forward(X[0], W), ValueError, r"x must be a 4-D \(N, C, H, W\) array, got shape \(3, 6, 6\)"),
    (lambda: ops.conv2d_forward(X, W[0]), ValueError, r"w must be a 4-D \(OC, C, KH, KW\) array, got shape"),
    (lambda: ops.conv2d_forward(X, W, np.zeros(5, np.float32)), ValueError, r"b must have shape \(4,\).*got \(5,\)"),
    (lambda: ops.conv2d_forward(X, W, np.zeros(4, np.float64)), TypeError, "b has dtype float64"),
    (lambda: ops.conv2d_forward(X.tolist(), W), TypeError, "list"),
    (lambda: ops.conv2d_forward(X, W, out=np.zeros((4, 4, 4, 2), np.float32).T), ValueError, "C-contiguous"),
    (lambda: ops.conv2d_forward(X, W, out=np.zeros((2, 4, 5, 4), np.float32)), ValueError, r"\(2, 4, 4, 4\)"),
    (lambda: ops.conv2d_backward(np.zeros((2, 4, 5, 5), np.float32), X, W), ValueError,
     r"dy must have shape \(2, 4, 4, 4\)"),
    (lambda: ops.conv2d_backward(np.zeros((2, 4, 4, 4), np.float64), X, W), TypeError, "dy has dtype float64"),
    (lambda: ops.conv2d_backward(np.zeros((2, 4, 4, 4), np.float32), X, W, cols=np.zeros((27, 31), np.float32)),
     ValueError, r"cols must have shape \(27, 32\)"),
    (lambda: ops.conv_transpose2d_forward(X, W), ValueError, "x has 3 channels but the transposed-conv weight"),
    (lambda: ops.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3), np.float32), None, 2, 0, 2), ValueError,
     "output_padding=2 with stride=2"),
    (lambda: ops.conv_transpose2d_forward(X, np.zeros((3, 2, 1, 1), np.float32), None, 1, 4), ValueError,
     "output size would be -2"),
    (lambda: ops.im2col(X, 7), ValueError, "larger than the padded input"),
    (lambda: ops.col2im(np.zeros((2, 27, 15), np.float32), (2, 3, 6, 6), 3), ValueError,
     r"cols must have shape \(2, 27, 16\)"),
    (lambda: ops.col2im(np.zeros((2, 27, 16), np.float32), (2, 3, 6), 3), ValueError, "x_shape must be 4"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_core_checks_everything_itself():
    """The binding re-checks what fastnn.ops checks: a direct call with inconsistent sizes raises."""
    y = np.empty((2, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"y must have shape \(2, 4, 4, 4\), got \(2, 4, 4, 3\)"):
        _core.conv2d_forward(X, W, None, np.empty((2, 4, 4, 3), np.float32), (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"stride must be >= 1, got \(0, 1\)"):
        _core.conv2d_forward(X, W, None, y, (0, 1), (0, 0))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.conv2d_forward(np.asfortranarray(X), W, None, y, (1, 1), (0, 0))
    with pytest.raises(ValueError, match="larger than the padded input"):
        _core.conv2d_forward(X, np.zeros((4, 3, 7, 7), np.float32), None, y, (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"cols must have shape \(27, 32\)"):
        _core.conv2d_forward(X, W, None, y, (1, 1), (0, 0), np.empty((27, 33), np.float32))
    with pytest.raises(ValueError, match="writable"):
        ro = np.empty_like(y)
        ro.flags.writeable = False
        _core.conv2d_forward(X, W, None, ro, (1, 1), (0, 0))
    with pytest.raises(ValueError, match="gives"):
        _core.conv_transpose2d_forward(X, np.zeros((3, 2, 3, 3), np.float32), None,
                                       np.empty((2, 2, 9, 8), np.float32), (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"cols must have shape \(2, 27, 16\)"):
        _core.im2col(X, np.empty((2, 27, 15), np.float32), (3, 3), (1, 1), (0, 0))
    with pytest.raises(TypeError, match="float64"):
        _core.col2im(np.empty((2, 27, 16), np.float64), np.empty_like(X), (3, 3), (1, 1), (0, 0))


# OC 5 and 16: the weight gradient runs as dw^T = cols @ dY^T; OC 17 and 40: as dw = dY @ cols^T
# (conv.cpp, kDwTransposedMaxOc), both with partial sums over many chunks.
@pytest.mark.parametrize("oc", [5, 16, 17, 40])
@pytest.mark.parametrize("dtype", DTYPES)
def test_many_chunks(dtype, oc, rng):
    """A batch large enough that the kernels cut it into more chunks than dw partial groups
    (conv.cpp: ~768 KiB of columns per chunk, at most 16 groups), kept columns included."""
    case = dict(n=48, c=16, oc=oc, h=20, w=20, k=(3, 3))
    x, w, b = _operands(rng, case, dtype)
    y, cols = ops.conv2d_forward(x, w, b, 1, 1, return_cols=True)
    assert_close(y, reference.conv2d_forward(*_f64(x, w, b), 1, 1), "conv")
    dy = rng.standard_normal(y.shape).astype(dtype)
    want = reference.conv2d_backward(*_f64(dy, x, w), 1, 1)
    scale = float(np.sqrt(np.prod(dy.shape) / case["oc"]))  # dw, db sum 19200 O(1) products
    for kept in (cols, None):
        dx, dw, db = ops.conv2d_backward(dy, x, w, 1, 1, cols=kept)
        assert_close(dx, want[0], "conv_backward")
        assert_close(dw / scale, want[1] / scale, "conv_backward")
        assert_close(db / scale, want[2] / scale, "conv_backward")
    y = ops.conv_transpose2d_forward(dy, w, None, 1, 1)
    assert_close(y, reference.conv_transpose2d_forward(*_f64(dy, w), None, 1, 1), "conv")
    dxt, dwt, _ = ops.conv_transpose2d_backward(x, dy, w, 1, 1)
    want_t = reference.conv_transpose2d_backward(*_f64(x, dy, w), 1, 1)
    assert_close(dxt, want_t[0], "conv_backward")
    assert_close(dwt / scale, want_t[1] / scale, "conv_backward")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose_empty_output_as_pytorch(dtype):
    """An output size of 0 is an empty result (PyTorch), not an error; its gradients are all 0.
    A negative size still raises, naming the numbers."""
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 1)).astype(dtype)
    w = np.ones((2, 3, 1, 2), dtype)
    y = ops.conv_transpose2d_forward(x, w, np.ones(3, dtype), stride=(2, 1), padding=(0, 1))
    assert y.shape == (2, 3, 11, 0) and y.dtype == dtype
    dx, dw, db = ops.conv_transpose2d_backward(y, x, w, stride=(2, 1), padding=(0, 1))
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == (3,)
    assert not dx.any() and not dw.any() and not db.any()
    with pytest.raises(ValueError, match=r"would be -1 \(< 0\)"):
        ops.conv_transpose2d_forward(x, w[:, :, :, :1], stride=1, padding=(0, 1))
