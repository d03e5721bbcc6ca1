"""Fuzzing fastnn.ops and fastnn._core: regression tests for the bugs a fuzzing campaign found
(three segfaults and a process exit in the bindings, silently wrong results from aliased
outputs and non-finite inputs, unclear errors), and a randomized sweep over every op family
asserting that each call either matches fastnn.reference or raises a Python exception.
"""
import numpy as np
import pytest

import fastnn
from fastnn import _core, ops, reference

F32, F64 = np.float32, np.float64
ACTS = ["step", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "swish", "elu", "gelu"]


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# out= sharing memory with an input (fixed in fastnn/ops: the input is read from a copy)

@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name", ACTS)
def test_activation_out_partly_overlapping_input(name, dtype):
    buf = (_rng(1).standard_normal(301) * 4).astype(dtype)
    x, out = buf[:200], buf[1:201]  # out is x shifted by one element
    want = getattr(reference, name)(x.copy())
    getattr(ops, name)(x, out=out)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "tanh", "gelu"])
def test_activation_backward_out_partly_overlapping(name):
    buf = _rng(2).standard_normal(402).astype(F64)
    dy, x = buf[:200].copy(), buf[200:400].copy()
    saved = reference.tanh(x) if name == "tanh" else x
    want = getattr(reference, name + "_backward")(dy, saved)
    # out overlaps dy (shifted) and, separately, the saved tensor (shifted)
    big = np.concatenate([dy, [0.0]])
    want_shifted = getattr(reference, name + "_backward")(big[1:].copy(), saved)
    getattr(ops, name + "_backward")(big[1:], saved, out=big[:200])
    np.testing.assert_allclose(big[:200], want_shifted, rtol=1e-12)
    big = np.concatenate([saved, [0.0]])
    got = getattr(ops, name + "_backward")(dy, big[:200], out=big[1:])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_out_partly_overlapping(log):
    name = "log_softmax" if log else "softmax"
    buf = _rng(3).standard_normal(300).astype(F32)
    x, out = buf[:200].reshape(2, 100), buf[50:250].reshape(2, 100)
    want = getattr(reference, name)(x.copy())
    getattr(ops, name)(x, out=out)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_out_partly_overlapping(log):
    name = "log_softmax" if log else "softmax"
    rng = _rng(4)
    y = getattr(ops, name)(rng.standard_normal((2, 60)).astype(F64))
    buf = rng.standard_normal(121)
    dy, out = buf[:120].reshape(2, 60), buf[1:].reshape(2, 60)
    want = getattr(reference, name + "_backward")(dy.copy(), y)
    getattr(ops, name + "_backward")(dy, y, out=out)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu", "softmax", "log_softmax"])
def test_in_place_out_is_input_still_works(name):
    x = (_rng(5).standard_normal((3, 70)) * 3).astype(F32)
    want = getattr(reference, name)(x.copy())
    res = getattr(ops, name)(x, out=x)
    assert res is x
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-6)


def test_im2col_out_sharing_memory_with_x():
    buf = _rng(6).random(4 * 9 * 16).astype(F32)
    x, cols = buf[:64].reshape(1, 4, 4, 4), buf.reshape(1, 36, 16)
    want = reference.im2col(x.copy(), 3, 1, 1)
    assert ops.im2col(x, 3, 1, 1, out=cols) is cols
    np.testing.assert_array_equal(cols, want)


def test_col2im_out_sharing_memory_with_cols():
    buf = _rng(7).random(4 * 9 * 16).astype(F64)
    cols = buf.reshape(1, 36, 16)
    out = buf[100:164].reshape(1, 4, 4, 4)
    want = reference.col2im(cols.copy(), (1, 4, 4, 4), 3, 1, 1)
    ops.col2im(cols, (1, 4, 4, 4), 3, 1, 1, out=out)
    np.testing.assert_allclose(out, want, rtol=1e-12)


@pytest.mark.parametrize("c,k,p", [(2, 1, 0), (3, 3, 1), (40, 3, 1), (8, 5, 2)])
def test_conv2d_out_is_x(c, k, p):
    rng = _rng(8)
    x = rng.standard_normal((2, c, 8, 8))
    w = rng.standard_normal((c, c, k, k))
    want = reference.conv2d_forward(x.copy(), w, None, 1, p)
    ops.conv2d_forward(x, w, None, 1, p, out=x)
    np.testing.assert_allclose(x, want, rtol=1e-10, atol=1e-10)


def test_conv_transpose2d_grouped_out_is_x():
    torch = pytest.importorskip("torch")
    rng = _rng(9)
    x = rng.standard_normal((2, 4, 5, 5))
    w = rng.standard_normal((4, 2, 3, 3))  # groups=2: C_out = 4, output 5x5 with padding 1
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, 1, 1, 0, 2).numpy()
    ops.conv_transpose2d_forward(x, w, None, 1, 1, groups=2, out=x)
    np.testing.assert_allclose(x, want, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# state arrays that alias each other, and clear errors (fixed in fastnn/ops)

def test_sgd_momentum_buf_is_param_rejected():
    p, g = np.ones(10, F32), np.ones(10, F32)
    with pytest.raises(ValueError, match="momentum_buf shares memory with param"):
        ops.sgd_update(p, g, p, lr=0.1, momentum=0.9)
    np.testing.assert_array_equal(p, 1.0)  # untouched


def test_adam_slots_sharing_memory_rejected():
    p, g = np.ones(10, F32), np.ones(10, F32)
    m = np.zeros(10, F32)
    with pytest.raises(ValueError, match="exp_avg_sq shares memory with exp_avg"):
        ops.adam_update(p, g, m, m, step=1)
    buf = np.zeros(20, F32)
    with pytest.raises(ValueError, match="shares memory"):
        ops.radam_update(p, g, buf[:10], buf[5:15], step=1)
    with pytest.raises(ValueError, match="grad shares memory with param|exp_avg shares memory with grad"):
        ops.adam_update(p, g, g, np.zeros(10, F32), step=1)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_loss_bindings_reject_a_grad_that_shares_memory_with_an_input(dtype):
    """The loss kernels write grad while they read their inputs: any sharing (an exact alias, a
    shifted view) is a ValueError naming both arrays, and nothing is written."""
    rng = _rng(21)
    logits = rng.standard_normal((4, 5)).astype(dtype)
    soft = rng.dirichlet(np.ones(5), 4).astype(dtype)
    labels = np.array([0, 4, 2, 1], np.int64)
    before = logits.copy()
    for target in (labels, soft):
        with pytest.raises(ValueError, match="grad shares memory with logits"):
            _core.softmax_cross_entropy(logits, target, logits, 0.0)
    with pytest.raises(ValueError, match="grad shares memory with target"):
        _core.softmax_cross_entropy(logits, soft, soft, 0.1)
    np.testing.assert_array_equal(logits, before)
    buf = rng.uniform(0.1, 0.9, 30).astype(dtype)
    pred, target = buf[:10], buf[10:20]
    for name in ("mse", "l1", "bce", "bce_with_logits"):
        with pytest.raises(ValueError, match="grad shares memory with pred"):
            _core.pointwise_loss(name, pred, target, pred)
        with pytest.raises(ValueError, match="grad shares memory with target"):
            _core.pointwise_loss(name, pred, target, buf[15:25])  # half of target
    mean, var = buf[:10].copy(), buf[20:].copy()
    dvar = np.empty_like(mean)
    with pytest.raises(ValueError, match="dmean shares memory with var"):
        _core.gaussian_nll_loss(mean, target, var, var, dvar, False, 1e-6)
    with pytest.raises(ValueError, match="dvar shares memory with dmean"):
        _core.gaussian_nll_loss(mean, target, var, dvar, dvar, False, 1e-6)
    # fresh outputs: the same values as the ops (which always allocate them)
    grad = np.empty_like(logits)
    loss = _core.softmax_cross_entropy(logits, labels, grad, 0.0)
    want_loss, want_grad = ops.softmax_cross_entropy(logits, labels)
    assert loss == want_loss
    np.testing.assert_array_equal(grad, want_grad)


def test_param_is_grad_still_allowed():
    p = np.full(4, 2.0, F32)
    ops.sgd_update(p, p, None, lr=0.25)  # reads grad[i] before writing param[i]
    np.testing.assert_array_equal(p, 1.5)


def test_optimizer_slot_of_wrong_type_and_huge_step():
    p, g = np.zeros(3, F32), np.zeros(3, F32)
    with pytest.raises(TypeError, match="exp_avg must be a numpy.ndarray"):
        ops.adam_update(p, g, [0.0] * 3, np.zeros(3, F32), step=1)
    with pytest.raises(TypeError, match="square_avg must be a numpy.ndarray"):
        ops.rmsprop_update(p, g, (0, 0, 0))
    with pytest.raises(ValueError, match=r"step must be at most 2\*\*63 - 1, got 1180591620717411303424"):
        ops.adam_update(p, g, np.zeros(3, F32), np.zeros(3, F32), step=2**70)
    ops.adam_update(p, g, np.zeros(3, F32), np.zeros(3, F32), step=2**63 - 1)  # the largest step works


def test_optimizer_float64_and_noncontiguous_params_rejected():
    with pytest.raises(TypeError, match="float32"):
        ops.sgd_update(np.zeros(3), np.zeros(3), None, lr=0.1)
    p = np.zeros(6, F32)[::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.sgd_update(p, np.zeros(3, F32), None, lr=0.1)
    p = np.zeros((3, 3), F32).T
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.adagrad_update(p, np.zeros((3, 3), F32), np.zeros((3, 3), F32), step=1)
    p = np.zeros(3, F32)
    with pytest.raises(ValueError, match="exp_avg must be C-contiguous"):
        ops.adam_update(p, p.copy(), np.zeros(6, F32)[::2], np.zeros(3, F32), step=1)
    with pytest.raises(ValueError, match="exp_avg must have the shape of param"):
        ops.adam_update(p, p.copy(), np.zeros(4, F32), np.zeros(3, F32), step=1)


def test_batch_norm_running_stats_aliasing_rejected():
    x = _rng(10).random((4, 3)).astype(F32)
    rm = np.zeros(3, F32)
    with pytest.raises(ValueError, match="running_mean and running_var share memory"):
        ops.batch_norm_forward(x, None, None, rm, rm, training=True)
    np.testing.assert_array_equal(rm, 0.0)
    # eval mode only reads them: one array for both is fine
    y, _, _ = ops.batch_norm_forward(x, None, None, rm, np.ones(3, F32), training=False)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_batch_norm_backward_none_statistics():
    x = _rng(11).random((4, 3)).astype(F32)
    with pytest.raises(TypeError, match="mean must be the \\(C,\\) array batch_norm_forward returned, got None"):
        ops.batch_norm_backward(x, x, None, None, np.ones(3, F32))
    with pytest.raises(TypeError, match="invstd must be"):
        ops.batch_norm_backward(x, x, None, np.ones(3, F32), None)


def test_batch_norm_single_value_per_channel():
    with pytest.raises(ValueError, match=r"N\*H\*W > 1"):
        ops.batch_norm_forward(np.ones((1, 3, 1, 1), F32), None, None, None, None, training=True)
    y, _, _ = ops.batch_norm_forward(np.ones((1, 3, 1, 1), F32), None, None, np.zeros(3, F32),
                                     np.ones(3, F32), training=False)
    assert y.shape == (1, 3, 1, 1)


@pytest.mark.parametrize("shape,exc,match", [
    (3.5, TypeError, "shape must be an int or a tuple of ints, got float: 3.5"),
    ("ab", TypeError, "shape must be an int or a tuple of ints"),
    ((2, True), TypeError, "shape must be an int or a tuple of ints"),
    (-1, ValueError, "non-negative dimensions, got -1"),
    ((2, -3), ValueError, r"non-negative dimensions, got \(2, -3\)"),
])
def test_dropout_mask_bad_shape(shape, exc, match):
    with pytest.raises(exc, match=match):
        ops.dropout_mask(shape, 0.5, 1)


@pytest.mark.parametrize("shape", [(3, 4), (), 5, (0,), (2, 0, 3)])
def test_dropout_mask_shapes_match_reference(shape):
    np.testing.assert_array_equal(ops.dropout_mask(shape, 0.3, 7), reference.dropout_mask(shape, 0.3, 7))


@pytest.mark.parametrize("fn", ["max", "avg"])
def test_pool_kernel_too_many_elements(fn):
    x = np.arange(4, dtype=F32).reshape(1, 1, 2, 2)
    f = ops.max_pool2d_forward if fn == "max" else ops.avg_pool2d_forward
    # the native int64 product would wrap to 0: refused as a geometry argument over 2**31 - 1
    with pytest.raises(ValueError, match=r"kernel_size must be at most 2\*\*31 - 1 = 2147483647 in magnitude, got 4294967296"):
        f(x, 2**32, padding=2**31)
    with pytest.raises(ValueError, match="more than 2\\^31 - 1"):
        f(x, 2**16, padding=2**15)
    with pytest.raises(ValueError, match="more than 2\\^31 - 1"):
        ops.avg_pool2d_backward(np.ones((1, 1, 1, 1), F32), (1, 1, 2, 2), 2**16, padding=2**15)
    with pytest.raises(ValueError, match=r"kernel_size must be at most 2\*\*31 - 1"):
        ops.avg_pool2d_backward(np.ones((1, 1, 1, 1), F32), (1, 1, 2, 2), 2**32, padding=2**31)


def test_pool_big_kernel_within_limit():
    x = np.ones((1, 1, 1, 1), F32)
    y, idx = ops.max_pool2d_forward(x, 46340, padding=23170)
    assert y.item() == 1.0 and idx.item() == 0


# ---------------------------------------------------------------------------------------------
# edge cases that were found to work (kept as regression tests)

def test_conv_zero_batch_and_zero_channels():
    w = np.ones((4, 3, 3, 3), F32)
    x = np.zeros((0, 3, 5, 5), F32)
    assert ops.conv2d_forward(x, w).shape == (0, 4, 3, 3)
    dx, dw, db = ops.conv2d_backward(np.zeros((0, 4, 3, 3), F32), x, w)
    assert dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    b = np.arange(4, dtype=F32)
    y = ops.conv2d_forward(np.zeros((2, 0, 5, 5), F32), np.ones((4, 0, 3, 3), F32), b)
    np.testing.assert_array_equal(y[1, :, 2, 2], b)


@pytest.mark.parametrize("dilation", [10**5, (1, 3000)])
def test_conv_dilated_kernel_checked_before_it_is_built(dilation):
    # the dilated kernel used to be allocated first: MemoryError "Unable to allocate 149. GiB"
    x, w = np.ones((1, 1, 5, 5), F32), np.ones((2, 1, 3, 3), F32)
    with pytest.raises(ValueError, match=r"kernel_size (200001|6001) is larger than the padded input: size 5 \+ "
                                         r"2 \* padding 1 = 7 \(kernel_size \(3, 3\) with dilation"):
        ops.conv2d_forward(x, w, padding=1, dilation=dilation)
    with pytest.raises(ValueError, match="with dilation"):
        ops.conv2d_backward(np.ones((1, 2, 1, 1), F32), x, w, padding=1, dilation=dilation)


def test_conv_dilated_kernel_that_fits_exactly():
    torch = pytest.importorskip("torch")
    rng = _rng(15)
    x, w = rng.standard_normal((2, 2, 7, 5)), rng.standard_normal((3, 2, 3, 2))
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 1, (1, 0), (4, 4)).numpy()
    np.testing.assert_allclose(ops.conv2d_forward(x, w, padding=(1, 0), dilation=4), want, rtol=1e-10)
    np.testing.assert_allclose(ops.conv2d_forward(x, w, padding="same", dilation=(3, 2)),
                               torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 1, "same",
                                                          (3, 2)).numpy(), rtol=1e-10)


def test_conv_kernel_larger_than_input():
    with pytest.raises(ValueError, match="kernel_size 3 is larger than the padded input: size 2"):
        ops.conv2d_forward(np.zeros((1, 1, 2, 2), F32), np.ones((1, 1, 3, 3), F32))


def test_gemm_out_aliasing_rejected_and_k0():
    a = np.ones((4, 4), F32)
    with pytest.raises(ValueError, match="out must not share memory"):
        ops.gemm(a, a, out=a)
    out = np.full((3, 4), np.nan, F32)
    ops.gemm(np.zeros((3, 0), F32), np.zeros((0, 4), F32), out=out, bias=np.arange(4, dtype=F32))
    np.testing.assert_array_equal(out, np.tile(np.arange(4, dtype=F32), (3, 1)))  # beta = 0 ignores NaN


def test_cross_entropy_labels_out_of_range():
    lg = np.zeros((3, 4), F32)
    for bad, shown in ((4, "4"), (-1, "-1")):
        with pytest.raises(ops.LabelError, match=f"target label {shown} at index 1 is outside \\[0, 4\\)"):
            ops.softmax_cross_entropy(lg, np.array([0, bad, 1]))
    with pytest.raises(IndexError):
        ops.softmax_cross_entropy(np.zeros((2, 0), F32), np.zeros(2, np.int64))
    loss, grad = ops.softmax_cross_entropy(np.zeros((0, 4), F32), np.zeros(0, np.int64))
    assert np.isnan(loss) and grad.shape == (0, 4)


def test_set_num_threads_bad_values():
    for n, exc in ((0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc):
            fastnn.set_num_threads(n)


@pytest.mark.parametrize("n", [1, 2, 64])
def test_results_do_not_depend_on_threads(n):
    rng = _rng(12)
    x, w = rng.standard_normal((8, 8, 10, 10)), rng.standard_normal((4, 8, 3, 3))
    a = rng.standard_normal((70, 50)).astype(F32)
    old = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        y1, g1 = ops.conv2d_forward(x, w, padding=1), ops.gemm(a, a.T)
        fastnn.set_num_threads(n)
        yn, gn = ops.conv2d_forward(x, w, padding=1), ops.gemm(a, a.T)
    finally:
        fastnn.set_num_threads(old)
    np.testing.assert_array_equal(y1, yn)
    np.testing.assert_array_equal(g1, gn)


def test_unaligned_inputs():
    def unaligned(shape, seed):
        n = int(np.prod(shape))
        a = np.frombuffer(bytearray(n * 4 + 1), dtype=F32, count=n, offset=1).reshape(shape)
        a[...] = _rng(seed).standard_normal(shape)
        return a
    x, w = unaligned((2, 40, 6, 6), 1), unaligned((40, 40, 3, 3), 2)  # a Winograd layer
    assert not x.flags.aligned
    want = reference.conv2d_forward(x.astype(F64), w.astype(F64), None, 1, 1)
    np.testing.assert_allclose(ops.conv2d_forward(x, w, padding=1), want, rtol=1e-4, atol=1e-3)
    a = unaligned((33, 65), 3)
    np.testing.assert_allclose(ops.gelu(a), reference.gelu(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.gemm(a, a.T), a.astype(F64) @ a.T, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------------------------------------
# native bindings: their own checks (they can be called directly), and the numerics fixed in C++

def test_core_avg_pool_backward_dx_aliasing_dy():
    dy = _rng(13).random((1, 1, 3, 3)).astype(F32)
    want = reference.avg_pool2d_backward(dy.copy(), (1, 1, 3, 3), 3, 1, 1)
    try:
        _core.avg_pool2d_backward(dy, dy, (3, 3), (1, 1), (1, 1), True)
    except ValueError:
        return
    np.testing.assert_allclose(dy, want, rtol=1e-6)


def test_core_softplus_beta_zero_rejected():
    with pytest.raises(ValueError, match="beta"):
        _core.activation_forward("softplus", np.ones(3, F32), np.zeros(3, F32), 0.0, 20.0)


def test_core_sgd_nan_lr_rejected():
    p = np.zeros(3, F32)
    with pytest.raises(ValueError, match="lr"):
        _core.sgd_update(p, np.ones(3, F32), None, float("nan"))


def test_core_adam_beta1_one_rejected():
    p = np.zeros(3, F32)
    with pytest.raises(ValueError, match="beta1"):
        _core.adam_update(p, np.ones(3, F32), np.zeros(3, F32), np.zeros(3, F32), 1, beta1=1.0)


def test_core_conv_huge_padding_message():
    x, w, y = np.ones((1, 1, 1, 1), F32), np.ones((1, 1, 1, 1), F32), np.zeros((1, 1, 1, 1), F32)
    with pytest.raises(ValueError) as e:
        _core.conv2d_forward(x, w, None, y, (1, 1), (2**62, 0))
    assert "-9223372036854775807" not in str(e.value)


def test_dropout_backward_mask_not_0_1():
    m, dy = np.full(4, 7, np.uint8), np.ones(4, F32)
    try:
        got = ops.dropout_backward(dy, m, 0.5)
    except ValueError:
        return
    np.testing.assert_array_equal(got, reference.dropout_backward(dy, m, 0.5))


def test_gaussian_nll_nan_var_let_through():
    z = np.zeros(1, F32)
    loss, _, _ = ops.gaussian_nll_loss(z, z, np.array([np.nan], F32))
    assert np.isnan(loss)


def test_batch_norm_train_mean_with_inf():
    x = np.array([[np.inf], [-2.0]], F32)
    rm, rv = np.zeros(1, F32), np.ones(1, F32)
    _, mean, _ = ops.batch_norm_forward(x, None, None, rm, rv, training=True)
    assert mean[0] == np.inf and rm[0] == np.inf  # PyTorch's and the reference's


@pytest.mark.parametrize("shape", [(2, 3, 2, 3), (4, 2)])
def test_batch_norm_eval_backward_ignores_nonfinite_x(shape):
    # eval: dx = gamma * invstd * dy, independent of x (PyTorch, reference); the native kernel gave
    # NaN where x was NaN or inf
    rng = _rng(14)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    x.flat[[1, 4]] = [np.nan, -np.inf]
    g, mean, invstd = rng.standard_normal(shape[1]), np.zeros(shape[1]), np.full(shape[1], 0.5)
    dx, dgamma, dbeta = ops.batch_norm_backward(dy, x, g, mean, invstd, training=False)
    want = reference.batch_norm_backward(dy, x, g, mean, invstd, training=False)
    assert np.isfinite(dx).all()
    np.testing.assert_allclose(dx, want[0], rtol=1e-12)
    np.testing.assert_allclose(dbeta, want[2], rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# randomized sweep: every op family, random shapes / layouts / dtypes; a correct result or a
# Python exception (TypeError / ValueError / IndexError), never anything else

BAD_DTYPES = [np.float16, np.int32, np.bool_, np.complex64, object]


def _layout(a, rng):
    """a's values in a random memory layout: C, Fortran, negative strides or a strided slice."""
    if a.ndim == 0:
        return a
    kind = rng.integers(0, 4)
    if kind == 1:
        return np.asfortranarray(a)
    if kind == 2:
        axis = int(rng.integers(0, a.ndim))
        return np.flip(np.flip(a, axis).copy(), axis)
    if kind == 3:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a


def _close(got, want, dtype):
    got, want = np.asarray(got, F64), np.asarray(want, F64)
    assert got.shape == want.shape
    tol = 2e-4 if dtype == F32 else 1e-9
    scale = 1.0 + (np.nanmax(np.abs(want[np.isfinite(want)])) if np.isfinite(want).any() else 0.0)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True)


def _case(rng):
    """(op, valid, fast, ref): fast() runs fastnn, ref() the reference on the same inputs; valid is
    False when the inputs break a documented rule (bad dtype, a non-contiguous parameter), so
    fastnn must raise. Chained cases (forward then backward) draw their dy from a seed of their own
    in both functions, so both see the same dy."""
    ops_list = ["act", "act_bwd", "softmax", "gemm", "conv", "conv_bwd", "convT", "im2col", "maxpool", "avgpool",
                "gap", "bn", "dropout", "ce", "pointwise", "sgd", "adam"]
    op = ops_list[int(rng.integers(0, len(ops_list)))]
    good = rng.random() < 0.85
    dtype = [F32, F64][int(rng.integers(0, 2))] if good else BAD_DTYPES[int(rng.integers(0, len(BAD_DTYPES)))]
    sub = int(rng.integers(0, 2**31))

    def arr(shape, scale=2.0, r=rng):
        v = np.asarray(r.standard_normal(shape) * scale)  # (a 0-d draw is a scalar)
        if good and v.size and r.random() < 0.15:
            v.flat[int(r.integers(0, v.size))] = [np.nan, np.inf, -np.inf][int(r.integers(0, 3))]
        return _layout(np.array(v, dtype=dtype), r)

    def dy_like(shape):  # the same dy in fast() and ref()
        return arr(shape, r=np.random.default_rng(sub))

    def dim(lo=0, hi=5):
        return int(rng.integers(lo, hi))

    if op in ("act", "act_bwd"):
        name = ACTS[int(rng.integers(0, len(ACTS)))]
        shape = tuple(dim(0, 9) for _ in range(int(rng.integers(0, 4))))
        x = arr(shape, 4.0)
        if op == "act":
            return op, good, lambda: getattr(ops, name)(x), lambda: getattr(reference, name)(x)
        dy = arr(shape)
        saved = x
        if good and name in ("sigmoid", "tanh"):
            saved = np.asarray(getattr(reference, name)(x), dtype=x.dtype)  # (0-d: a NumPy scalar)
        return (op, good, lambda: getattr(ops, name + "_backward")(dy, saved),
                lambda: getattr(reference, name + "_backward")(dy, saved))
    if op == "softmax":
        name = ["softmax", "log_softmax"][int(rng.integers(0, 2))]
        x = arr((dim(0, 4), dim(1, 40)), 3.0)
        return op, good, lambda: getattr(ops, name)(x), lambda: getattr(reference, name)(x)
    if op == "gemm":
        m, n, k = dim(0, 20), dim(0, 20), dim(0, 20)
        ta, tb = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
        a, b = arr((k, m) if ta else (m, k)), arr((n, k) if tb else (k, n))
        bias = arr((n,)) if rng.random() < 0.5 else None
        act = [None, "relu", "tanh"][int(rng.integers(0, 3))]
        kw = dict(trans_a=ta, trans_b=tb, bias=bias, activation=act)
        return op, good, lambda: ops.gemm(a, b, **kw), lambda: reference.gemm(a, b, **kw)
    if op in ("conv", "conv_bwd", "convT", "im2col"):
        kh, kw = dim(1, 4), dim(1, 4)
        s, p = (dim(1, 3), dim(1, 3)), (dim(0, 2), dim(0, 2))
        h, w = dim(max(0, kh - 2 * p[0]), 7), dim(max(0, kw - 2 * p[1]), 7)
        n, c, oc = dim(0, 3), dim(0, 4), dim(1, 4)
        x = arr((n, c, h, w))
        if op == "im2col":
            return op, good, lambda: ops.im2col(x, (kh, kw), s, p), lambda: reference.im2col(x, (kh, kw), s, p)
        if op == "convT":
            wt, b = arr((c, oc, kh, kw)), arr((oc,))
            x = arr((n, c, max(h, 1), max(w, 1)))
            return (op, good, lambda: ops.conv_transpose2d_forward(x, wt, b, s, p),
                    lambda: reference.conv_transpose2d_forward(x, wt, b, s, p))
        wt, b = arr((oc, c, kh, kw)), arr((oc,))
        if op == "conv":
            return op, good, lambda: ops.conv2d_forward(x, wt, b, s, p), lambda: reference.conv2d_forward(x, wt, b, s, p)
        dy = dy_like((n, oc, (h + 2 * p[0] - kh) // s[0] + 1, (w + 2 * p[1] - kw) // s[1] + 1))
        return op, good, lambda: ops.conv2d_backward(dy, x, wt, s, p), lambda: reference.conv2d_backward(dy, x, wt, s, p)
    if op in ("maxpool", "avgpool"):
        k = (dim(1, 4), dim(1, 4))
        s = (dim(1, 3), dim(1, 3))
        p = (dim(0, k[0] // 2 + 1), dim(0, k[1] // 2 + 1))
        x = arr((dim(0, 3), dim(0, 3), dim(max(1, k[0] - 2 * p[0]), 7), dim(max(1, k[1] - 2 * p[1]), 7)))
        if op == "maxpool":
            def maxpool(lib):
                y, i = lib.max_pool2d_forward(x, k, s, p)
                return y, i, lib.max_pool2d_backward(dy_like(y.shape), i, x.shape)
            return op, good, lambda: maxpool(ops), lambda: maxpool(reference)
        cip = bool(rng.integers(0, 2))

        def avgpool(lib):
            y = lib.avg_pool2d_forward(x, k, s, p, cip)
            return y, lib.avg_pool2d_backward(dy_like(y.shape), x.shape, k, s, p, cip)
        return op, good, lambda: avgpool(ops), lambda: avgpool(reference)
    if op == "gap":
        x = arr((dim(0, 3), dim(0, 3), dim(1, 5), dim(1, 5)))
        return op, good, lambda: ops.global_avg_pool2d_forward(x), lambda: reference.global_avg_pool2d_forward(x)
    if op == "bn":
        shape = (dim(2, 5), dim(0, 4)) if rng.random() < 0.5 else (dim(1, 3), dim(0, 4), dim(1, 4), dim(2, 4))
        x, g, b = arr(shape), arr((shape[1],)), arr((shape[1],))
        training = bool(rng.integers(0, 2))
        rdt = dtype if good else F32

        def bn(lib):
            rm, rv = np.zeros(shape[1], rdt), np.ones(shape[1], rdt)
            y, mean, invstd = lib.batch_norm_forward(x, g, b, rm, rv, training=training)
            d = lib.batch_norm_backward(dy_like(shape), x, g, mean, invstd, training=training)
            return y, mean, invstd, rm, rv, d
        return op, good, lambda: bn(ops), lambda: bn(reference)
    if op == "dropout":
        x = arr(tuple(dim(0, 6) for _ in range(int(rng.integers(0, 3)))))
        pr, seed = float(rng.choice([0.0, 0.3, 1.0])), int(rng.integers(0, 2**63))
        return op, good, lambda: ops.dropout_forward(x, pr, seed), lambda: reference.dropout_forward(x, pr, seed)
    if op == "ce":
        nn, kk = dim(0, 5), dim(1, 6)
        lg = arr((nn, kk), 5.0)
        t = rng.integers(-1 if rng.random() < 0.1 else 0, kk + (1 if rng.random() < 0.1 else 0), nn)
        ls = float(rng.choice([0.0, 0.1]))
        return op, good, lambda: ops.softmax_cross_entropy(lg, t, ls), lambda: reference.softmax_cross_entropy(lg, t, ls)
    if op == "pointwise":
        name = ["mse_loss", "l1_loss", "bce_with_logits_loss"][int(rng.integers(0, 3))]
        shape = (dim(0, 5), dim(0, 5))
        pred, tgt = arr(shape), arr(shape)
        return op, good, lambda: getattr(ops, name)(pred, tgt), lambda: getattr(reference, name)(pred, tgt)
    # optimizer updates: param and slots must be float32 C-contiguous (anything else is an error)
    n = dim(0, 40)
    pdt = (F32 if rng.random() < 0.8 else F64) if good else dtype
    param0 = rng.standard_normal(n).astype(pdt)
    strided = rng.random() < 0.15 and n > 1
    grad = _layout(rng.standard_normal(n).astype(pdt), rng)
    slots0 = [rng.standard_normal(n).astype(pdt), np.abs(rng.standard_normal(n)).astype(pdt)]

    def upd(lib):
        param = np.repeat(param0, 2)[::2] if strided else param0.copy()  # strided: must be rejected
        slots = [v.copy() for v in slots0]
        if op == "sgd":
            lib.sgd_update(param, grad, slots[0], lr=0.1, momentum=0.9, nesterov=True)
        else:
            lib.adam_update(param, grad, slots[0], slots[1], step=3, lr=0.01, weight_decay=0.1)
        return param, slots
    return op, pdt == F32 and not strided, lambda: upd(ops), lambda: upd(reference)


def _flatten(r):
    if isinstance(r, (tuple, list)):
        for item in r:
            yield from _flatten(item)
    elif r is not None:
        yield r


def test_randomized_ops_match_reference_or_raise():
    rng = np.random.default_rng(20261207)
    seen, raised, compared = set(), 0, 0
    with np.errstate(all="ignore"):
        for case in range(240):
            op, valid, fast, ref = _case(rng)
            seen.add(op)
            try:
                got = fast()
            except (TypeError, ValueError, IndexError) as e:
                raised += 1
                if valid:  # a valid call may fail only where the reference fails too
                    try:
                        ref()
                    except Exception:
                        continue
                    raise AssertionError(f"case {case} ({op}): fastnn raised {e!r} where the reference did not")
                continue
            assert valid, f"case {case} ({op}): an invalid input (bad dtype or layout) was accepted"
            want = ref()
            got, want = list(_flatten(got)), list(_flatten(want))
            assert len(got) == len(want), (case, op)
            for g_, w_ in zip(got, want):
                if isinstance(g_, float) or np.ndim(g_) == 0 and not isinstance(g_, np.ndarray):
                    _close(np.float64(g_), np.float64(w_), F32)
                    continue
                assert g_.shape == np.shape(w_), (case, op)
                if g_.dtype in (F32, F64):
                    assert g_.dtype == np.asarray(w_).dtype, (case, op, g_.dtype, np.asarray(w_).dtype)
                    _close(g_, w_, g_.dtype)
                else:  # indices, masks: exactly
                    np.testing.assert_array_equal(g_, w_)
            compared += 1
    assert len(seen) == 17 and raised > 10 and compared > 150, (seen, raised, compared)


# ---- the native crashes the fuzzing found, now Python exceptions --------------------------------
def test_core_empty_refuses_object_dtypes():
    for dt in (np.dtype(object), np.dtype([("a", "f4"), ("b", object)]), np.dtype("U3")):
        with pytest.raises(TypeError, match="not supported"):
            _core.empty((10,), dt)
    assert _core.empty((3,), np.dtype(np.float32)).shape == (3,)


@pytest.mark.parametrize("fn", ["im2col", "col2im"])
def test_core_im2col_col2im_refuse_sizes_that_overflow(fn):
    x, cols = np.ones((1, 1, 1, 1), F32), np.zeros((1, 4, 0), F32)
    args = (x, cols) if fn == "im2col" else (cols, x)
    with pytest.raises(ValueError, match="more than 2\\^63 elements"):
        getattr(_core, fn)(*args, (2, 2), (1, 1), (2**31, 2**31))
    with pytest.raises(ValueError, match="overflows int64"):
        getattr(_core, fn)(*args, (2, 2), (1, 1), (2**62, 0))


def test_set_num_threads_has_a_ceiling():
    before = fastnn.get_num_threads()
    try:
        with pytest.raises(ValueError, match="at most 1024, got 100000"):
            fastnn.set_num_threads(100000)
        assert fastnn.get_num_threads() == before
        fastnn.set_num_threads(1024)
        assert fastnn.get_num_threads() == 1024
    finally:
        fastnn.set_num_threads(before)


def test_core_bindings_refuse_partly_overlapping_outputs():
    buf = _rng(21).random(200).astype(F32)
    x = buf[0:36].reshape(1, 1, 6, 6)
    cols = buf[10:110].reshape(1, 4, 25)  # shares x's last 26 values
    with pytest.raises(ValueError, match="cols shares memory with x"):
        _core.im2col(x, cols, (2, 2), (1, 1), (0, 0))
    y = np.zeros(8, F32)
    _core.activation_forward("relu", y, y, 1.0, 20.0)  # exact in-place stays allowed
    z = np.arange(9, dtype=F32)
    with pytest.raises(ValueError, match="out shares memory with x"):
        _core.activation_forward("tanh", z[1:], z[:-1], 1.0, 20.0)
    dy = np.ones((1, 1, 3, 3), F32)
    with pytest.raises(ValueError, match="dx shares memory with dy"):
        _core.avg_pool2d_backward(dy, dy, (3, 3), (1, 1), (1, 1), True)
