"""The reference convolution and pooling: forward against brute-force loops (and PyTorch when
installed), every backward against central differences in float64, and the shape helpers."""
import itertools

import numpy as np
import pytest

from fastnn import reference
from fastnn.ops.shapes import conv_output_size, conv_transpose_output_size, pair
from gradcheck import assert_gradients

# (x shape, (OC, KH, KW), stride, padding): non-square kernels/strides, stride > kernel,
# kernel = input size, 1x1, padding up to kernel - 1.
CONV_CASES = [
    ((2, 3, 5, 6), (4, 3, 2), 1, 0),
    ((2, 2, 7, 5), (3, 3, 3), 2, 1),
    ((1, 3, 6, 7), (2, 2, 3), (2, 3), (1, 2)),
    ((2, 2, 4, 4), (3, 4, 4), 1, 0),
    ((3, 4, 3, 5), (2, 1, 1), 1, 0),
    ((1, 2, 5, 5), (2, 2, 2), 3, 1),
    ((1, 1, 1, 1), (2, 3, 3), 1, 2),
]


# ---------------------------------------------------------------------------------------------
# Shape helpers


def test_conv_output_size_formula():
    for h, k, s, p in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 3)):
        if h + 2 * p < k:
            with pytest.raises(ValueError, match="larger than the padded input"):
                conv_output_size(h, k, s, p)
        else:
            assert conv_output_size(h, k, s, p) == (h + 2 * p - k) // s + 1
            # the brute-force count of window starts that fit
            assert conv_output_size(h, k, s, p) == len(range(0, h + 2 * p - k + 1, s))


@pytest.mark.parametrize("args, words", [
    ((5, 3, 0, 0), "stride must be >= 1, got 0"),
    ((5, 3, -1, 0), "stride must be >= 1, got -1"),
    ((5, 3, 1, -2), "padding must be >= 0, got -2"),
    ((5, 0, 1, 0), "kernel_size must be >= 1, got 0"),
    ((2, 5, 1, 1), r"kernel_size 5 is larger than the padded input: size 2 \+ 2 \* padding 1 = 4"),
    ((-1, 1, 1, 0), "got -1"),
])
def test_conv_output_size_errors(args, words):
    with pytest.raises(ValueError, match=words):
        conv_output_size(*args)


def test_conv_transpose_output_size():
    for h, k, s, p in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(0, 3)):
        for op in range(s):
            size = (h - 1) * s - 2 * p + k + op
            if size < 0:
                with pytest.raises(ValueError, match="output size would be"):
                    conv_transpose_output_size(h, k, s, p, op)
                continue
            assert conv_transpose_output_size(h, k, s, p, op) == size
            if size == 0:  # an empty output, as PyTorch
                continue
            # it inverts the convolution's size map
            assert conv_output_size(size, k, s, p) == h
    with pytest.raises(ValueError, match="output_padding=2 with stride=2"):
        conv_transpose_output_size(3, 3, 2, 0, 2)
    with pytest.raises(ValueError, match="input size >= 1, got 0"):
        conv_transpose_output_size(0, 3, 1, 0)


def test_pair():
    assert pair(3, "stride") == (3, 3)
    assert pair((2, 5), "stride") == (2, 5)
    assert pair([1, 4], "padding") == (1, 4)
    assert pair(np.int64(2), "stride") == (2, 2)
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints, got float: 1.5"):
        pair(1.5, "stride")
    with pytest.raises(TypeError, match="bool"):
        pair(True, "stride")
    with pytest.raises(ValueError, match=r"padding must be an int or a pair \(h, w\), got \(1, 2, 3\)"):
        pair((1, 2, 3), "padding")
    with pytest.raises(TypeError, match="kernel_size"):
        pair((1, None), "kernel_size")


# ---------------------------------------------------------------------------------------------
# Forward against brute-force loops (one output element at a time)


def _brute_conv2d(x, w, b, stride, padding):
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    for ni, o, r, s in itertools.product(range(n), range(oc), range(oh), range(ow)):
        acc = 0.0 if b is None else b[o]
        for ci, i, j in itertools.product(range(c), range(kh), range(kw)):
            hh, ww = r * sh - ph + i, s * sw - pw + j
            if 0 <= hh < h and 0 <= ww < wd:
                acc += w[o, ci, i, j] * x[ni, ci, hh, ww]
        y[ni, o, r, s] = acc
    return y


def _brute_conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Scatter definition: every input element adds w * x to the outputs it reaches."""
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    oph, opw = pair(output_padding, "output_padding")
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    oh, ow = (h - 1) * sh - 2 * ph + kh + oph, (wd - 1) * sw - 2 * pw + kw + opw
    y = np.zeros((n, cout, oh, ow)) + (0 if b is None else b.reshape(1, -1, 1, 1))
    for ni, ci, r, s, co, i, j in itertools.product(range(n), range(cin), range(h), range(wd), range(cout),
                                                    range(kh), range(kw)):
        hh, ww = r * sh - ph + i, s * sw - pw + j
        if 0 <= hh < oh and 0 <= ww < ow:
            y[ni, co, hh, ww] += x[ni, ci, r, s] * w[ci, co, i, j]
    return y


@pytest.mark.parametrize("x_shape, wk, stride, padding", CONV_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_forward_matches_loops(x_shape, wk, stride, padding, dtype, rng):
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((wk[0], x_shape[1], wk[1], wk[2])).astype(dtype)
    b = rng.standard_normal(wk[0]).astype(dtype)
    y = reference.conv2d_forward(x, w, b, stride, padding)
    assert y.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, _brute_conv2d(x, w, b, stride, padding), rtol=tol, atol=tol)
    np.testing.assert_allclose(reference.conv2d_forward(x, w, None, stride, padding),
                               _brute_conv2d(x, w, None, stride, padding), rtol=tol, atol=tol)


@pytest.mark.parametrize("x_shape, cout, k, stride, padding, output_padding", [
    ((2, 3, 4, 5), 2, (3, 3), 1, 0, 0),
    ((1, 2, 3, 4), 3, (3, 2), 2, 1, 1),
    ((2, 2, 3, 3), 2, (2, 3), (3, 2), (0, 1), (2, 1)),
    ((1, 1, 1, 1), 2, (1, 1), 1, 0, 0),
])
def test_conv_transpose2d_forward_matches_loops(x_shape, cout, k, stride, padding, output_padding, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((x_shape[1], cout) + k)
    b = rng.standard_normal(cout)
    y = reference.conv_transpose2d_forward(x, w, b, stride, padding, output_padding)
    np.testing.assert_allclose(y, _brute_conv_transpose2d(x, w, b, stride, padding, output_padding),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, wk, stride, padding", CONV_CASES)
def test_im2col_matches_loops(x_shape, wk, stride, padding, rng):
    x = rng.standard_normal(x_shape)
    kh, kw = wk[1:]
    cols = reference.im2col(x, (kh, kw), stride, padding)
    sh, sw = pair(stride, "s")
    ph, pw = pair(padding, "p")
    n, c, h, wd = x.shape
    oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(wd, kw, sw, pw)
    assert cols.shape == (n, c * kh * kw, oh * ow)
    for ni, ci, i, j, r, s in itertools.product(range(n), range(c), range(kh), range(kw), range(oh), range(ow)):
        hh, ww = r * sh - ph + i, s * sw - pw + j
        want = x[ni, ci, hh, ww] if 0 <= hh < h and 0 <= ww < wd else 0.0
        assert cols[ni, ci * kh * kw + i * kw + j, r * ow + s] == want
    # a convolution is a matrix product with the columns
    w = rng.standard_normal((wk[0], c, kh, kw))
    y = np.einsum("ok,nkp->nop", w.reshape(wk[0], -1), cols).reshape(n, wk[0], oh, ow)
    np.testing.assert_allclose(y, reference.conv2d_forward(x, w, None, stride, padding), rtol=1e-12, atol=1e-12)


def _brute_max_pool(x, k, s, p):
    kh, kw = pair(k, "k")
    sh, sw = pair(k if s is None else s, "s")
    ph, pw = pair(p, "p")
    n, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.empty((n, c, oh, ow), x.dtype)
    idx = np.empty((n, c, oh, ow), np.int64)
    for ni, ci, r, q in itertools.product(range(n), range(c), range(oh), range(ow)):
        best, arg = -np.inf, None
        for i, j in itertools.product(range(kh), range(kw)):
            hh, ww = r * sh - ph + i, q * sw - pw + j
            if not (0 <= hh < h and 0 <= ww < w):
                continue
            v = x[ni, ci, hh, ww]
            if arg is None:
                arg = hh * w + ww  # the scan starts at the first real element with -inf
            if v > best or np.isnan(v):
                best, arg = v, hh * w + ww
        y[ni, ci, r, q], idx[ni, ci, r, q] = best, arg
    return y, idx


POOL_CASES = [
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 2, 7, 5), 3, 2, 1),
    ((2, 1, 5, 7), (3, 2), (1, 3), (1, 1)),
    ((1, 2, 4, 4), 4, 1, 2),
    ((1, 1, 1, 1), 1, 1, 0),
    ((1, 2, 5, 5), (2, 3), 3, (1, 0)),
]


@pytest.mark.parametrize("x_shape, k, s, p", POOL_CASES)
def test_max_pool_forward_matches_loops(x_shape, k, s, p, rng):
    x = rng.standard_normal(x_shape)
    y, idx = reference.max_pool2d_forward(x, k, s, p)
    y_want, idx_want = _brute_max_pool(x, k, s, p)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(idx, idx_want)
    assert idx.dtype == np.int64


def test_max_pool_special_values():
    x = np.array([[[[1.0, np.nan, 3.0, np.nan],
                    [-np.inf, -np.inf, 2.0, 5.0],
                    [-np.inf, -np.inf, np.inf, 0.0],
                    [-np.inf, -np.inf, 1.0, 1.0]]]])
    y, idx = reference.max_pool2d_forward(x, 2, 2, 0)
    # NaN wins; an all -inf window gives -inf at its first element; ties keep the first.
    np.testing.assert_array_equal(y[0, 0], [[np.nan, np.nan], [-np.inf, np.inf]])
    np.testing.assert_array_equal(idx[0, 0], [[1, 3], [8, 10]])
    y, idx = reference.max_pool2d_forward(np.ones((1, 1, 2, 2)), 2, 1, 1)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    y_want, idx_want = _brute_max_pool(x, 3, 1, 1)
    y, idx = reference.max_pool2d_forward(x, 3, 1, 1)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(idx, idx_want)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape, k, s, p", POOL_CASES)
def test_avg_pool_forward_matches_loops(x_shape, k, s, p, count_include_pad, rng):
    x = rng.standard_normal(x_shape)
    y = reference.avg_pool2d_forward(x, k, s, p, count_include_pad)
    kh, kw = pair(k, "k")
    sh, sw = pair(k if s is None else s, "s")
    ph, pw = pair(p, "p")
    n, c, h, w = x.shape
    for ni, ci, r, q in itertools.product(range(n), range(c), range(y.shape[2]), range(y.shape[3])):
        vals = [x[ni, ci, r * sh - ph + i, q * sw - pw + j]
                for i in range(kh) for j in range(kw)
                if 0 <= r * sh - ph + i < h and 0 <= q * sw - pw + j < w]
        want = sum(vals) / (kh * kw if count_include_pad else len(vals))
        np.testing.assert_allclose(y[ni, ci, r, q], want, rtol=1e-12, atol=1e-14)


def test_pool_argument_errors():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"at most half the kernel size: got padding \(2, 2\) for kernel_size \(3, 3\)"):
        reference.max_pool2d_forward(x, 3, 1, 2)
    with pytest.raises(ValueError, match="stride must be >= 1, got 0"):
        reference.avg_pool2d_forward(x, 2, 0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        reference.max_pool2d_forward(x, 7, 1, 1)
    with pytest.raises(ValueError, match="non-empty spatial"):
        reference.global_avg_pool2d_forward(np.zeros((1, 1, 0, 3)))


def test_conv_argument_errors(rng):
    x = np.zeros((1, 3, 4, 4))
    with pytest.raises(ValueError, match="x has 3 channels but w"):
        reference.conv2d_forward(x, np.zeros((2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\), got \(3,\)"):
        reference.conv2d_forward(x, np.zeros((2, 3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        reference.conv2d_forward(x, np.zeros((2, 3, 7, 3)), None, 1, 1)
    with pytest.raises(ValueError, match="padding must be >= 0, got -1"):
        reference.conv2d_forward(x, np.zeros((2, 3, 3, 3)), None, 1, -1)


# ---------------------------------------------------------------------------------------------
# Backward passes against central differences (float64)


@pytest.mark.parametrize("x_shape, wk, stride, padding", CONV_CASES)
def test_conv2d_gradients(x_shape, wk, stride, padding, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((wk[0], x_shape[1], wk[1], wk[2]))
    b = rng.standard_normal(wk[0])
    f = lambda x, w, b: reference.conv2d_forward(x, w, b, stride, padding)
    assert_gradients(f, [x, w, b], lambda dy: list(reference.conv2d_backward(dy, x, w, stride, padding)), rng=rng)


def test_conv2d_backward_flags(rng):
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3))
    dy = rng.standard_normal((2, 4, 3, 3))
    dx, dw, db = reference.conv2d_backward(dy, x, w, need_dx=False, has_bias=False)
    assert dx is None and db is None
    np.testing.assert_array_equal(dw, reference.conv2d_backward(dy, x, w)[1])


@pytest.mark.parametrize("x_shape, cout, k, stride, padding, output_padding", [
    ((2, 3, 4, 3), 2, (3, 3), 1, 0, 0),
    ((1, 2, 3, 4), 3, (3, 2), 2, 1, 1),
    ((2, 2, 3, 3), 2, (2, 3), (3, 2), (0, 1), (2, 1)),
])
def test_conv_transpose2d_gradients(x_shape, cout, k, stride, padding, output_padding, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((x_shape[1], cout) + k)
    b = rng.standard_normal(cout)
    f = lambda x, w, b: reference.conv_transpose2d_forward(x, w, b, stride, padding, output_padding)
    assert_gradients(f, [x, w, b], lambda dy: list(
        reference.conv_transpose2d_backward(dy, x, w, stride, padding, output_padding)), rng=rng)


@pytest.mark.parametrize("x_shape, k, stride, padding", [
    ((2, 2, 5, 4), (3, 2), 1, 1), ((1, 3, 6, 7), (2, 3), (2, 3), (1, 2)), ((1, 1, 3, 3), (3, 3), 1, 2)])
def test_col2im_is_the_gradient_of_im2col(x_shape, k, stride, padding, rng):
    x = rng.standard_normal(x_shape)
    f = lambda x: reference.im2col(x, k, stride, padding)
    assert_gradients(f, [x], lambda dy: [reference.col2im(dy, x.shape, k, stride, padding)], rng=rng)


@pytest.mark.parametrize("x_shape, k, s, p", POOL_CASES)
def test_max_pool_gradient(x_shape, k, s, p, rng):
    # distinct values far apart: the argmax does not move under the finite-difference step
    x = rng.permutation(np.prod(x_shape)).reshape(x_shape).astype(np.float64) * 0.1
    _, idx = reference.max_pool2d_forward(x, k, s, p)
    f = lambda x: reference.max_pool2d_forward(x, k, s, p)[0]
    assert_gradients(f, [x], lambda dy: [reference.max_pool2d_backward(dy, idx, x.shape)], rng=rng)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape, k, s, p", POOL_CASES)
def test_avg_pool_gradient(x_shape, k, s, p, count_include_pad, rng):
    x = rng.standard_normal(x_shape)
    f = lambda x: reference.avg_pool2d_forward(x, k, s, p, count_include_pad)
    assert_gradients(f, [x], lambda dy: [reference.avg_pool2d_backward(dy, x.shape, k, s, p, count_include_pad)],
                     rng=rng)


def test_global_avg_pool_gradient(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    assert_gradients(reference.global_avg_pool2d_forward, [x],
                     lambda dy: [reference.global_avg_pool2d_backward(dy, x.shape)], rng=rng)
    np.testing.assert_allclose(reference.global_avg_pool2d_forward(x), x.mean(axis=(2, 3)))


# ---------------------------------------------------------------------------------------------
# PyTorch as an optional second oracle for the forward semantics


@pytest.mark.parametrize("x_shape, wk, stride, padding", CONV_CASES)
def test_conv2d_matches_torch(x_shape, wk, stride, padding, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((wk[0], x_shape[1], wk[1], wk[2]))
    b = rng.standard_normal(wk[0])
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(reference.conv2d_forward(x, w, b, stride, padding), want, rtol=1e-12, atol=1e-12)


def test_conv_transpose2d_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 5))
    w = rng.standard_normal((3, 2, 3, 2))
    b = rng.standard_normal(2)
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                stride=(2, 3), padding=(1, 0), output_padding=(1, 2)).numpy()
    got = reference.conv_transpose2d_forward(x, w, b, (2, 3), (1, 0), (1, 2))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, k, s, p", POOL_CASES)
def test_pools_match_torch(x_shape, k, s, p, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal(x_shape)
    x.reshape(-1)[::7] = -np.inf
    x.reshape(-1)[::11] = np.nan
    tx = torch.from_numpy(x)
    y, idx = reference.max_pool2d_forward(x, k, s, p)
    ty, tidx = F.max_pool2d(tx, k, s, p, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    x = rng.standard_normal(x_shape)
    for cip in (True, False):
        want = F.avg_pool2d(torch.from_numpy(x), k, s, p, count_include_pad=cip).numpy()
        np.testing.assert_allclose(reference.avg_pool2d_forward(x, k, s, p, cip), want, rtol=1e-12, atol=1e-14)
