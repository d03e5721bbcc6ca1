"""The functions fastnn.nn.functional adds beyond the first set (in-place activations, pooling with
indices, unpooling, fractional pooling, embedding_bag, channel_shuffle, gumbel_softmax, the
deprecated upsample*, linear_cross_entropy, multi_head_attention_forward, conv_tbc) against
torch.nn.functional on the same inputs, float32 and float64."""
import warnings

import numpy as np
import pytest

from fastnn import _random
from fastnn.nn import functional as F
from nn_helpers import FUNCTIONAL_TOL, close

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DTYPES = [np.float32, np.float64]
TOL = FUNCTIONAL_TOL


def rnd(rng, shape, dtype, scale=1.0):
    return np.asarray(rng.standard_normal(shape) * scale).astype(dtype)


def t(a):
    return torch.from_numpy(np.array(a))


def close_loss(ours, theirs, dtype, reduction, **kw):
    """A reduced loss is a Python float (fastnn's losses), "none" an array of the dtype."""
    if reduction != "none":
        assert isinstance(ours, float)
        tol = dict(TOL[dtype])
        tol.update(kw)
        np.testing.assert_allclose(ours, float(theirs), **tol)
    else:
        close(ours, theirs, dtype, **kw)


def same(ours, theirs):
    """Exact equality, dtype included (indices)."""
    theirs = theirs.numpy()
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (ours.dtype, theirs.dtype, ours.shape)
    np.testing.assert_array_equal(ours, theirs)


# ---- in-place activations ----------------------------------------------------------------------
INPLACE = [
    ("elu_", (), {}), ("elu_", (0.6,), {}), ("celu_", (), {"alpha": 1.7}), ("hardtanh_", (), {}),
    ("hardtanh_", (-0.3,), {"max_val": 0.8}), ("leaky_relu_", (), {}), ("leaky_relu_", (0.3,), {}),
    ("leaky_relu_", (), {"negative_slope": -0.5}), ("rrelu_", (0.2, 0.4), {}), ("selu_", (), {}),
    ("threshold_", (0.2, -3.0), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kw", INPLACE, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(INPLACE)])
@pytest.mark.parametrize("shape", [(3, 5), (0,), (1,), (), (2, 3, 4)])
def test_inplace_activations(name, args, kw, dtype, shape):
    rng = np.random.default_rng(len(name) + len(shape))
    x = rnd(rng, shape, dtype, 2.0)
    ref = getattr(TF, name)(t(x), *args, **kw)
    before = x.copy()
    y = getattr(F, name)(x, *args, **kw)
    assert y is x
    close(x, ref, dtype)
    # the out-of-place form gives the same values and leaves its input alone
    out_of_place = getattr(F, name[:-1])(before.copy(), *args, **kw)
    close(out_of_place, ref, dtype)


@pytest.mark.parametrize("name,args", [("elu_", ()), ("selu_", ()), ("leaky_relu_", (0.1,)),
                                       ("threshold_", (0.0, 5.0)), ("hardtanh_", (-0.5, 0.5)),
                                       ("celu_", (2.0,)), ("rrelu_", ()), ("relu_", ())])
def test_inplace_non_contiguous_view_is_written(name, args):
    rng = np.random.default_rng(3)
    base = rnd(rng, (4, 6), np.float64)
    keep = base.copy()
    view = base[:, ::2]
    ref = getattr(TF, name)(t(view), *args)
    y = getattr(F, name)(view, *args)
    assert y is view
    close(view, ref, np.float64)
    np.testing.assert_array_equal(base[:, 1::2], keep[:, 1::2])  # the other columns untouched


def test_inplace_rrelu_training_writes_random_slopes():
    _random.manual_seed(0)
    x = np.linspace(-3, 3, 200).astype(np.float32)
    x0 = x.copy()
    y = F.rrelu_(x, 0.1, 0.3, training=True)
    assert y is x
    neg = x0 <= 0
    np.testing.assert_array_equal(x[~neg], x0[~neg])
    slope = x[x0 < 0] / x0[x0 < 0]
    assert slope.min() >= 0.1 - 1e-6 and slope.max() <= 0.3 + 1e-6 and slope.std() > 0.01


@pytest.mark.parametrize("name,args", [("elu_", ()), ("threshold_", (0.0, 1.0)), ("selu_", ()),
                                       ("leaky_relu_", ()), ("hardtanh_", ()), ("celu_", ()), ("rrelu_", ()), ("relu_", ())])
def test_inplace_errors(name, args):
    ro = np.ones(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        getattr(F, name)(ro, *args)
    ints = np.arange(3)
    with pytest.raises(TypeError, match="int64"):
        getattr(F, name)(ints, *args)
    np.testing.assert_array_equal(ints, np.arange(3))
    with pytest.raises(TypeError, match="NumPy or CuPy array"):
        getattr(F, name)([1.0, 2.0], *args)


def test_inplace_bad_arguments():
    with pytest.raises(ValueError, match="max_val must be greater than min_val"):
        F.hardtanh_(np.ones(3), 2.0, 1.0)
    with pytest.raises(ValueError, match="alpha must be non-zero"):
        F.celu_(np.ones(3), 0.0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        F.rrelu_(np.ones(3), 0.5, 0.1)


# ---- pooling with indices, unpooling -----------------------------------------------------------
POOLS = [
    (1, (2, 3, 11), dict(kernel_size=3), ),
    (1, (3, 9), dict(kernel_size=2, stride=1, padding=1, dilation=2, ceil_mode=True)),
    (2, (2, 3, 7, 8), dict(kernel_size=(2, 3), stride=(2, 1), padding=1)),
    (2, (3, 6, 6), dict(kernel_size=3, stride=2, ceil_mode=True)),
    (2, (1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    (3, (1, 2, 5, 6, 4), dict(kernel_size=2)),
    (3, (2, 5, 5, 5), dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 0, 1), ceil_mode=True)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,shape,kw", POOLS)
def test_max_pool_with_indices(d, shape, kw, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rnd(rng, shape, dtype)
    ours = getattr(F, f"max_pool{d}d_with_indices")(x, **kw)
    theirs = getattr(TF, f"max_pool{d}d_with_indices")(t(x), **kw)
    assert isinstance(ours, tuple) and len(ours) == 2
    close(ours[0], theirs[0], dtype)
    same(ours[1], theirs[1])
    # return_indices=False makes no difference, as torch's
    ours2 = getattr(F, f"max_pool{d}d_with_indices")(x, return_indices=False, **kw)
    same(ours2[1], theirs[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,shape,out", [(1, (2, 3, 10), 4), (1, (3, 7), 7), (1, (2, 1, 5), 1),
                                         (2, (2, 3, 7, 9), (3, 4)), (2, (3, 5, 5), 2), (2, (1, 1, 6, 4), (None, 3)),
                                         (3, (1, 2, 5, 6, 7), (2, 3, 4)), (3, (2, 4, 4, 5), 2)])
def test_adaptive_max_pool_with_indices(d, shape, out, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rnd(rng, shape, dtype)
    ours = getattr(F, f"adaptive_max_pool{d}d_with_indices")(x, out)
    theirs = getattr(TF, f"adaptive_max_pool{d}d_with_indices")(t(x), out)
    close(ours[0], theirs[0], dtype)
    same(ours[1], theirs[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,shape,kw,output_size", [
    (1, (2, 3, 10), dict(kernel_size=2), None),
    (1, (2, 3, 11), dict(kernel_size=2), [11]),
    (1, (3, 9), dict(kernel_size=3, stride=2, padding=1), (2, 3, 10)),
    (2, (2, 3, 6, 8), dict(kernel_size=2), None),
    (2, (2, 3, 7, 9), dict(kernel_size=2), (7, 9)),
    (2, (3, 9, 9), dict(kernel_size=3, stride=2, padding=1), None),
    (2, (1, 2, 8, 8), dict(kernel_size=(2, 3), stride=(2, 2)), (1, 2, 8, 8)),
    (3, (1, 2, 4, 6, 4), dict(kernel_size=2), None),
    (3, (2, 5, 5, 5), dict(kernel_size=2, stride=2), (5, 5, 5)),
])
def test_max_unpool(d, shape, kw, output_size, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rnd(rng, shape, dtype)
    y, idx = getattr(F, f"max_pool{d}d")(x, **kw, return_indices=True)
    ty, tidx = getattr(TF, f"max_pool{d}d")(t(x), **kw, return_indices=True)
    ours = getattr(F, f"max_unpool{d}d")(y, idx, **kw, output_size=output_size)
    theirs = getattr(TF, f"max_unpool{d}d")(ty, tidx, **kw, output_size=output_size)
    close(ours, theirs, dtype, rtol=0, atol=0)


def test_max_unpool_errors():
    x = np.ones((1, 1, 2, 2))
    idx = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(x, idx, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="invalid max index 16"):
        F.max_unpool2d(x, np.full((1, 1, 2, 2), 16, np.int64), 2)
    with pytest.raises(TypeError, match="int64"):
        F.max_unpool1d(np.ones((1, 3)), np.zeros((1, 3), np.int32), 2)
    with pytest.raises(ValueError, match="2 or 4 elements"):
        F.max_unpool2d(x, idx, 2, output_size=(4, 4, 4))


# ---- fractional max pooling --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d,shape,kw", [
    (2, (2, 3, 11, 9), dict(kernel_size=2, output_size=(5, 4))),
    (2, (1, 2, 10, 10), dict(kernel_size=(3, 2), output_ratio=(0.5, 0.5))),
    (2, (3, 8, 13), dict(kernel_size=3, output_ratio=(0.6, 0.4))),
    (2, (1, 1, 5, 5), dict(kernel_size=2, output_size=4)),
    (2, (2, 2, 6, 7), dict(kernel_size=2, output_size=1)),
    (3, (1, 2, 7, 8, 9), dict(kernel_size=2, output_size=(3, 4, 5))),
    (3, (2, 6, 6, 7), dict(kernel_size=(2, 3, 2), output_ratio=0.5)),
])
def test_fractional_max_pool_with_samples_is_torch(d, shape, kw, dtype):
    rng = np.random.default_rng(sum(shape))
    x = rnd(rng, shape, dtype)
    n = shape[0] if len(shape) == d + 2 else 1
    samples = rng.random((n, shape[-d - 1], d)).astype(dtype)
    ours = getattr(F, f"fractional_max_pool{d}d")(x, **kw, return_indices=True, _random_samples=samples)
    theirs = getattr(TF, f"fractional_max_pool{d}d")(t(x), **kw, return_indices=True, _random_samples=t(samples))
    close(ours[0], theirs[0], dtype, rtol=0, atol=0)
    same(ours[1], theirs[1])
    only = getattr(F, f"fractional_max_pool{d}d")(x, **kw, _random_samples=samples)
    close(only, theirs[0], dtype, rtol=0, atol=0)
    pair = getattr(F, f"fractional_max_pool{d}d_with_indices")(x, **kw, _random_samples=samples)
    same(pair[1], theirs[1])


def test_fractional_max_pool2d_scalar_ratio():
    # torch 2.13's functional fails on a scalar output_ratio (len() of a float); fastnn takes it as
    # the documented (ratio, ratio), the same as the pair
    x = rnd(np.random.default_rng(0), (2, 3, 10, 9), np.float64)
    s = np.random.default_rng(1).random((2, 3, 2))
    ours = F.fractional_max_pool2d(x, 2, output_ratio=0.5, _random_samples=s)
    theirs = TF.fractional_max_pool2d(t(x), 2, output_ratio=(0.5, 0.5), _random_samples=t(s))
    close(ours, theirs, np.float64, rtol=0, atol=0)
    assert ours.shape == (2, 3, 5, 4)


def test_fractional_max_pool_samples_near_one_and_zero():
    # windows at the edges of the sample range: the formula floor((i + u) a) - floor(u a) exactly
    x = np.arange(2 * 1 * 17 * 19, dtype=np.float32).reshape(2, 1, 17, 19)[:, :, ::-1].copy()
    samples = np.array([[[0.0, 0.999999]], [[0.5, 0.25]]], np.float32)
    ours = F.fractional_max_pool2d(x, 3, output_size=(6, 7), return_indices=True, _random_samples=samples)
    theirs = TF.fractional_max_pool2d(t(x), 3, output_size=(6, 7), return_indices=True, _random_samples=t(samples))
    close(ours[0], theirs[0], np.float32, rtol=0, atol=0)
    same(ours[1], theirs[1])


def test_fractional_max_pool_random_draws():
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 12))
    _random.manual_seed(5)
    a = F.fractional_max_pool2d(x, 2, output_size=5)
    _random.manual_seed(5)
    b = F.fractional_max_pool2d(x, 2, output_size=5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, 3, 5, 5)
    # every value is the maximum of some 2 x 2 window of its plane
    windows = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(2, 3)).max(axis=(-1, -2))
    for n in range(2):
        for c in range(3):
            assert np.isin(a[n, c], windows[n, c]).all()


def test_fractional_max_pool_errors():
    x = np.ones((1, 1, 6, 6))
    with pytest.raises(ValueError, match="requires specifying either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match="too large"):
        F.fractional_max_pool2d(x, 3, output_size=5)
    with pytest.raises(ValueError, match="_random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match="output_ratio must be"):
        F.fractional_max_pool3d(np.ones((1, 1, 6, 6, 6)), 2, output_ratio=(0.5, 0.5))


# ---- embedding_bag -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", ["2d", "offsets", "last_offset", "padding", "empty_bag"])
def test_embedding_bag(mode, case, dtype):
    rng = np.random.default_rng(7)
    w = rnd(rng, (10, 4), dtype)
    kw = {}
    if case == "2d":
        inp, off = rng.integers(0, 10, (3, 5)), None
    else:
        inp = rng.integers(0, 10, 12)
        off = np.array([0, 3, 3, 7] if case == "empty_bag" else [0, 4, 5, 9])
        if case == "last_offset":
            off = np.array([0, 2, 6, 12])
            kw["include_last_offset"] = True
        if case == "padding":
            inp[[1, 4, 5]] = 2
            kw["padding_idx"] = 2
    ours = F.embedding_bag(inp, w, None if off is None else off, mode=mode, **kw)
    theirs = TF.embedding_bag(t(inp), t(w), None if off is None else t(off), mode=mode, **kw)
    close(ours, theirs, dtype)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("inp,off,kw", [(np.array([], np.int64), np.array([0]), {}),
                                        (np.array([], np.int64), np.array([0, 0]), dict(include_last_offset=True)),
                                        (np.zeros((0, 3), np.int64), None, {}),
                                        (np.array([1, 2], np.int64), np.array([0, 0, 2]), {})])
def test_embedding_bag_empty(inp, off, kw, mode):
    w = rnd(np.random.default_rng(0), (5, 3), np.float64)
    close(F.embedding_bag(inp, w, off, mode=mode, **kw),
          TF.embedding_bag(t(inp), t(w), None if off is None else t(off), mode=mode, **kw), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_bag_per_sample_weights_and_max_norm(dtype):
    rng = np.random.default_rng(8)
    w = rnd(rng, (8, 3), dtype, 3.0)
    inp = rng.integers(0, 8, 9)
    off = np.array([0, 2, 5])
    psw = rnd(rng, (9,), dtype)
    close(F.embedding_bag(inp, w, off, mode="sum", per_sample_weights=psw),
          TF.embedding_bag(t(inp), t(w), t(off), mode="sum", per_sample_weights=t(psw)), dtype)
    w_ours, w_torch = w.copy(), t(w)
    ours = F.embedding_bag(inp, w_ours, off, max_norm=1.5, norm_type=1.0, mode="mean")
    theirs = TF.embedding_bag(t(inp), w_torch, t(off), max_norm=1.5, norm_type=1.0, mode="mean")
    close(ours, theirs, dtype)
    close(w_ours, w_torch, dtype)  # the rows used are renormalized in place, as torch's
    assert not np.array_equal(w_ours, w)
    # sparse only concerns torch's gradient: the same values
    close(F.embedding_bag(inp, w, off, sparse=True), TF.embedding_bag(t(inp), t(w), t(off), sparse=True), dtype)


def test_embedding_bag_errors_and_swapped_arguments():
    w = np.ones((5, 2))
    inp = np.array([0, 1, 2])
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(inp, w, np.array([0]), mode="mean", per_sample_weights=np.ones(3))
    with pytest.raises(ValueError, match="same shape as the input"):
        F.embedding_bag(inp, w, np.array([0]), mode="sum", per_sample_weights=np.ones(2))
    with pytest.raises(ValueError, match="offsets has to be"):
        F.embedding_bag(inp, w)
    with pytest.raises(ValueError, match="if input is 2-D, then offsets has to be None"):
        F.embedding_bag(inp.reshape(1, 3), w, np.array([0]))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        F.embedding_bag(inp, w, np.array([0]), mode="min")
    with pytest.raises(ValueError, match="max mode does not support sparse"):
        F.embedding_bag(inp, w, np.array([0]), mode="max", sparse=True)
    with pytest.raises(ValueError, match="max mode does not support scaling"):
        F.embedding_bag(inp, w, np.array([0]), mode="max", scale_grad_by_freq=True)
    with pytest.raises(ValueError, match="weight has to be a 2D"):
        F.embedding_bag(inp, np.ones(5), np.array([0]))
    with pytest.raises(IndexError, match="index 7 is out of range"):
        F.embedding_bag(np.array([7]), w, np.array([0]))
    with pytest.warns(UserWarning, match="Argument order of nn.functional.embedding_bag was changed"):
        y = F.embedding_bag(w, inp, np.array([0, 1]), mode="sum")
    np.testing.assert_array_equal(y, [[1.0, 1.0], [2.0, 2.0]])


# ---- channel shuffle ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["channel_shuffle", "native_channel_shuffle"])
@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 2), ((1, 12, 2, 2), 3), ((2, 6, 1, 2, 2), 6),
                                          ((0, 4, 3), 2), ((3, 5, 2), 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_shuffle(name, shape, groups, dtype):
    x = rnd(np.random.default_rng(1), shape, dtype)
    close(getattr(F, name)(x, groups), getattr(TF, name)(t(x), groups), dtype, rtol=0, atol=0)


def test_channel_shuffle_errors():
    with pytest.raises(RuntimeError, match="expects input with > 2 dims"):
        F.channel_shuffle(np.ones((2, 6)), 2)
    with pytest.raises(RuntimeError, match="must be positive. Value of groups:0"):
        F.channel_shuffle(np.ones((2, 6, 3)), 0)
    with pytest.raises(ValueError, match="Got 6 channels and 4 groups"):
        F.native_channel_shuffle(np.ones((2, 6, 3)), 4)


# ---- gumbel_softmax ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((4, 5), -1), ((3, 4, 2), 1), ((6,), 0), ((2, 3, 4), 0)])
def test_gumbel_softmax_properties(shape, dim, dtype):
    logits = rnd(np.random.default_rng(2), shape, dtype)
    _random.manual_seed(11)
    soft = F.gumbel_softmax(logits, tau=0.5, dim=dim)
    assert soft.dtype == dtype and soft.shape == shape
    np.testing.assert_allclose(soft.sum(axis=dim), 1.0, rtol=1e-5)
    assert (soft >= 0).all()
    _random.manual_seed(11)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True, dim=dim)
    assert hard.dtype == dtype
    np.testing.assert_array_equal(hard.sum(axis=dim), 1.0)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    # the one-hot marks the argmax of the soft sample drawn with the same seed
    np.testing.assert_array_equal(np.argmax(hard, axis=dim), np.argmax(soft, axis=dim))
    # a different seed draws different noise
    _random.manual_seed(12)
    assert not np.allclose(F.gumbel_softmax(logits, tau=0.5, dim=dim), soft)


def test_gumbel_softmax_tau_and_distribution():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    _random.manual_seed(0)
    draws = F.gumbel_softmax(np.tile(logits, (4000, 1)), tau=1.0, hard=True)
    freq = draws.mean(axis=0)  # the Gumbel-max trick: argmax frequencies are the softmax probabilities
    np.testing.assert_allclose(freq, [0.1, 0.2, 0.7], atol=0.03)
    _random.manual_seed(0)
    sharp = F.gumbel_softmax(np.tile(logits, (500, 1)), tau=0.05)
    _random.manual_seed(0)
    smooth = F.gumbel_softmax(np.tile(logits, (500, 1)), tau=20.0)
    assert sharp.max(axis=1).mean() > 0.95  # small tau: nearly one-hot
    assert smooth.max(axis=1).mean() < 0.45  # large tau: nearly uniform
    # the same noise: the argmax does not depend on tau
    np.testing.assert_array_equal(sharp.argmax(axis=1), smooth.argmax(axis=1))


def test_gumbel_softmax_errors_and_warning():
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated and has no effect."):
        F.gumbel_softmax(np.zeros((2, 3)), eps=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.gumbel_softmax(np.zeros((2, 3)))
    with pytest.raises(IndexError, match="Dimension out of range"):
        F.gumbel_softmax(np.zeros((2, 3)), dim=2)
    with pytest.raises(TypeError, match="float array"):
        F.gumbel_softmax(np.zeros((2, 3), np.int64))
    assert F.gumbel_softmax(np.zeros((0, 3)), hard=True).shape == (0, 3)


# ---- upsample* (deprecated) --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_upsample_deprecated(dtype):
    x = rnd(np.random.default_rng(4), (2, 3, 4, 5), dtype)
    cases = [("upsample", dict(scale_factor=2)), ("upsample", dict(size=(7, 3), mode="bilinear")),
             ("upsample", dict(size=9, mode="bilinear", align_corners=True)),
             ("upsample_nearest", dict(size=(6, 11))), ("upsample_nearest", dict(scale_factor=3)),
             ("upsample_bilinear", dict(size=(7, 9))), ("upsample_bilinear", dict(scale_factor=2))]
    for name, kw in cases:
        with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated. Use "
                                             f"`nn.functional.interpolate` instead."):
            ours = getattr(F, name)(x, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = getattr(TF, name)(t(x), **kw)
        close(ours, theirs, dtype)
    x1 = rnd(np.random.default_rng(4), (2, 3, 6), dtype)
    with pytest.warns(UserWarning, match="deprecated"):
        close(F.upsample(x1, scale_factor=2, mode="linear"), TF.interpolate(t(x1), scale_factor=2, mode="linear"),
              dtype)


# ---- linear_cross_entropy ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_linear_cross_entropy(reduction, dtype):
    rng = np.random.default_rng(9)
    x = rnd(rng, (6, 5), dtype)
    w = rnd(rng, (4, 5), dtype)
    b = rnd(rng, (4,), dtype)
    y = rng.integers(0, 4, 6)
    y[2] = 3
    ours = F.linear_cross_entropy(x, w, y, linear_bias=b, reduction=reduction)
    theirs = TF.linear_cross_entropy(t(x), t(w), t(y), linear_bias=t(b), reduction=reduction)
    close_loss(ours, theirs, dtype, reduction)
    kw = dict(reduction=reduction, ignore_index=3, label_smoothing=0.2, weight=np.array([1.0, 2.0, 0.5, 1.0]))
    ours = F.linear_cross_entropy(x, w, y, **kw)
    theirs = TF.linear_cross_entropy(t(x), t(w), t(y), **{**kw, "weight": t(kw["weight"]).to(t(x).dtype)})
    close_loss(ours, theirs, dtype, reduction, rtol=1e-5 if dtype == np.float32 else 1e-10)
    # probability targets and a K-dimensional loss
    p = rng.random((6, 4))
    p = (p / p.sum(1, keepdims=True)).astype(dtype)
    close_loss(F.linear_cross_entropy(x, w, p, reduction=reduction),
          TF.linear_cross_entropy(t(x), t(w), t(p), reduction=reduction), dtype, reduction)
    wk = rnd(rng, (4, 3, 5), dtype)
    bk = rnd(rng, (4, 3), dtype)
    yk = rng.integers(0, 4, (6, 3))
    close_loss(F.linear_cross_entropy(x, wk, yk, linear_bias=bk, reduction=reduction),
          TF.linear_cross_entropy(t(x), t(wk), t(yk), linear_bias=t(bk), reduction=reduction), dtype, reduction)
    # unbatched
    close_loss(F.linear_cross_entropy(x[0], w, y[:1].reshape(()), reduction=reduction),
          TF.linear_cross_entropy(t(x[0]), t(w), t(y[0]), reduction=reduction), dtype, reduction)


def test_linear_cross_entropy_errors():
    x, w = np.ones((2, 3)), np.ones((4, 3))
    y = np.array([0, 1])
    with pytest.raises(RuntimeError, match="expected input with dimensionality 1 or 2, got 3"):
        F.linear_cross_entropy(np.ones((1, 2, 3)), w, y)
    with pytest.raises(RuntimeError, match="linear_weight with dimensionality at least 2"):
        F.linear_cross_entropy(x, np.ones(3), y)
    with pytest.raises(RuntimeError, match="got 3 and 2, respectively"):
        F.linear_cross_entropy(x, np.ones((4, 2)), y)
    with pytest.raises(RuntimeError, match=r"expected linear_bias shape \(4,\), got \(3,\)"):
        F.linear_cross_entropy(x, w, y, linear_bias=np.ones(3))
    with pytest.raises(RuntimeError, match="requires batched input"):
        F.linear_cross_entropy(x[0], np.ones((4, 2, 3)), y[0])
    with pytest.raises(RuntimeError, match="ignore_index cannot be specified when target contains probabilities"):
        F.linear_cross_entropy(x, w, np.full((2, 4), 0.25), ignore_index=1)


# ---- multi_head_attention_forward --------------------------------------------------------------
def _mha_args(rng, dtype, E, H, kdim, vdim, bias, bias_kv, out_bias=True):
    a = dict(embed_dim_to_check=E, num_heads=H)
    sep = kdim != E or vdim != E
    a["in_proj_weight"] = None if sep else rnd(rng, (3 * E, E), dtype, 0.5)
    a["in_proj_bias"] = rnd(rng, (3 * E,), dtype) if bias else None
    a["bias_k"] = rnd(rng, (1, 1, E), dtype) if bias_kv else None
    a["bias_v"] = rnd(rng, (1, 1, E), dtype) if bias_kv else None
    a["out_proj_weight"] = rnd(rng, (E, E), dtype, 0.5)
    a["out_proj_bias"] = rnd(rng, (E,), dtype) if out_bias else None
    if sep:
        a.update(use_separate_proj_weight=True, q_proj_weight=rnd(rng, (E, E), dtype, 0.5),
                 k_proj_weight=rnd(rng, (E, kdim), dtype, 0.5), v_proj_weight=rnd(rng, (E, vdim), dtype, 0.5))
    return a


def _torch_args(a):
    return {k: (t(v) if isinstance(v, np.ndarray) else v) for k, v in a.items()}


MHA = [
    dict(),
    dict(need_weights=False),
    dict(average_attn_weights=False),
    dict(kpm=True),
    dict(mask="bool"),
    dict(mask="float", kpm=True),
    dict(mask="bool3"),
    dict(bias_kv=True, mask="float", kpm=True),
    dict(zero_attn=True, kpm=True, mask="bool", average_attn_weights=False),
    dict(bias_kv=True, zero_attn=True),
    dict(bias=False, out_bias=False),
    dict(bias=True, out_bias=False),
    dict(kdim=3, vdim=5),
    dict(separate=True),
    dict(unbatched=True, kpm=True, mask="float"),
    dict(causal=True, need_weights=False),
    dict(causal=True, kpm=True),
    dict(causal="other", need_weights=False),
    dict(causal="other"),
    dict(causal=True, need_weights=False, bias_kv=True),  # torch's causal mask over the extended key
    dict(causal=True, need_weights=False, zero_attn=True),
    dict(causal=True, need_weights=False, bias_kv=True, zero_attn=True),
    dict(static_k=True),
    dict(static_k=True, static_v=True, kpm=True, mask="float", zero_attn=True),
    dict(static_v=True, separate=True, average_attn_weights=False),
    dict(static_k=True, static_v=True, unbatched=True, static_len=7),
    dict(static_k=True, static_v=True, kdim=3, vdim=5, bias=False, static_len=2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MHA, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "plain" for c in MHA])
def test_multi_head_attention_forward(case, dtype):
    rng = np.random.default_rng(len(str(case)))
    E, H, L, S, N = 8, 2, 4, 5, 3
    kdim, vdim = case.get("kdim", E), case.get("vdim", E)
    a = _mha_args(rng, dtype, E, H, kdim, vdim, case.get("bias", True), case.get("bias_kv", False),
                  case.get("out_bias", True))
    if case.get("separate"):
        w = a.pop("in_proj_weight")
        a.update(in_proj_weight=None, use_separate_proj_weight=True, q_proj_weight=w[:E].copy(),
                 k_proj_weight=w[E:2 * E].copy(), v_proj_weight=w[2 * E:].copy())
    unb = case.get("unbatched", False)
    lead = () if unb else (N,)
    q = rnd(rng, (L,) + lead + (E,), dtype)
    k = rnd(rng, (S,) + lead + (kdim,), dtype)
    v = rnd(rng, (S,) + lead + (vdim,), dtype)
    kw = dict(add_zero_attn=case.get("zero_attn", False), dropout_p=0.0, training=False,
              need_weights=case.get("need_weights", True), average_attn_weights=case.get("average_attn_weights",
                                                                                          True))
    if case.get("kpm"):
        kpm = np.zeros(lead + (S,), bool)
        kpm[..., -1] = True
        if not unb:
            kpm[0, 1] = True
        kw["key_padding_mask"] = kpm
    mask = case.get("mask")
    if case.get("causal"):
        # "other": a mask that is not causal; torch's SDPA path (need_weights=False) uses the causal one
        kw["attn_mask"] = np.triu(np.ones((L, S), bool), 1 if case["causal"] is True else 2)
        kw["is_causal"] = True
    elif mask == "bool":
        m = np.zeros((L, S), bool)
        m[0, 2] = m[3, 0] = True
        kw["attn_mask"] = m
    elif mask == "float":
        kw["attn_mask"] = rnd(rng, (L, S), dtype)
    elif mask == "bool3":
        m = rng.random((N * H, L, S)) < 0.3
        m[..., 0] = False
        kw["attn_mask"] = m
    d = E // H
    for name in ("static_k", "static_v"):
        if case.get(name):
            kw[name] = rnd(rng, ((1 if unb else N) * H, case.get("static_len", S), d), dtype)
    with warnings.catch_warnings(record=True) as ours_warned:
        warnings.simplefilter("always")
        out, w = F.multi_head_attention_forward(q, k, v, **a, **kw)
    with warnings.catch_warnings(record=True) as torch_warned:
        warnings.simplefilter("always")
        tout, tw = TF.multi_head_attention_forward(t(q), t(k), t(v), **_torch_args(a), **_torch_args(kw))
    assert [str(m.message) for m in ours_warned] == [str(m.message) for m in torch_warned]
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else {}
    close(out, tout, dtype, **tol)
    if tw is None:
        assert w is None
    else:
        close(w, tw, dtype, **tol)


def test_multi_head_attention_forward_dropout_training():
    rng = np.random.default_rng(0)
    a = _mha_args(rng, np.float64, 4, 1, 4, 4, True, False)
    q = rnd(rng, (3, 2, 4), np.float64)
    _random.manual_seed(1)
    out, w = F.multi_head_attention_forward(q, q, q, **a, add_zero_attn=False, dropout_p=0.5)  # training=True
    zero = (w == 0).mean()
    assert 0.2 < zero < 0.8  # dropped weights (returned after the dropout, as torch's)
    out_eval, w_eval = F.multi_head_attention_forward(q, q, q, **a, add_zero_attn=False, dropout_p=0.5,
                                                      training=False)
    np.testing.assert_allclose(w_eval.sum(-1), 1.0)
    kept = w > 0
    np.testing.assert_allclose(w[kept], 2 * w_eval[kept])  # the others scaled by 1 / (1 - p)
    assert not np.allclose(out, out_eval)
    # the output is the dropped weights applied to the projected values
    wq, wk, wv = np.split(a["in_proj_weight"], 3)
    bq, bk, bv = np.split(a["in_proj_bias"], 3)
    vals = np.einsum("snf,ef->nse", q, wv) + bv
    expect = np.einsum("nls,nse->lne", w, vals) @ a["out_proj_weight"].T + a["out_proj_bias"]
    np.testing.assert_allclose(out, expect, rtol=1e-10, atol=1e-12)


def test_multi_head_attention_forward_errors():
    rng = np.random.default_rng(0)
    a = _mha_args(rng, np.float64, 4, 2, 4, 4, True, False)
    q = rnd(rng, (3, 2, 4), np.float64)
    base = dict(add_zero_attn=False, dropout_p=0.0)
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 6, but got 4"):
        F.multi_head_attention_forward(q, q, q, **{**a, "embed_dim_to_check": 6}, **base)
    with pytest.raises(AssertionError, match="embed_dim 4 not divisible by num_heads 3"):
        F.multi_head_attention_forward(q, q, q, **{**a, "num_heads": 3}, **base)
    with pytest.raises(AssertionError, match="use_separate_proj_weight is False but in_proj_weight is None"):
        F.multi_head_attention_forward(q, q, q, **{**a, "in_proj_weight": None}, **base)
    with pytest.raises(AssertionError, match="use_separate_proj_weight is True but q_proj_weight is None"):
        F.multi_head_attention_forward(q, q, q, **a, **base, use_separate_proj_weight=True)
    with pytest.raises(AssertionError, match="bias_k is set but bias_v is None"):
        F.multi_head_attention_forward(q, q, q, **{**a, "bias_k": np.zeros((1, 1, 4))}, **base)
    with pytest.raises(AssertionError, match="key shape"):
        F.multi_head_attention_forward(q, q, q[:2], **a, **base)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D"):
        F.multi_head_attention_forward(q[None], q[None], q[None], **a, **base)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        F.multi_head_attention_forward(q, q, q, **a, **base, is_causal=True)
    with pytest.raises(AssertionError, match=r"expecting static_k of shape \(4, S, 2\)"):
        F.multi_head_attention_forward(q, q, q, **a, **base, static_k=np.zeros((3, 3, 2)))
    with pytest.raises(AssertionError, match="bias cannot be added to static value."):
        F.multi_head_attention_forward(q, q, q, **{**a, "bias_k": np.zeros((1, 1, 4)), "bias_v": np.zeros((1, 1, 4))},
                                       **base, static_v=np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="2D attn_mask"):
        F.multi_head_attention_forward(q, q, q, **a, **base, attn_mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="in_proj_weight must have shape"):
        F.multi_head_attention_forward(q, q, q, **{**a, "in_proj_weight": np.zeros((4, 4))}, **base)


# ---- conv_tbc ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T,B,Cin,K,Cout,pad", [(7, 2, 3, 3, 4, 0), (5, 1, 2, 2, 3, 1), (9, 3, 4, 4, 2, 2),
                                               (6, 2, 3, 3, 5, -1), (1, 2, 3, 2, 4, 0), (4, 2, 1, 1, 1, 0),
                                               (3, 0, 2, 2, 2, 1), (2, 2, 3, 3, 2, 0)])
def test_conv_tbc(T, B, Cin, K, Cout, pad, dtype):
    rng = np.random.default_rng(T * 10 + K)
    x, w, b = rnd(rng, (T, B, Cin), dtype), rnd(rng, (K, Cin, Cout), dtype), rnd(rng, (Cout,), dtype)
    theirs = TF.conv_tbc(t(x), t(w), t(b), pad)
    close(F.conv_tbc(x, w, b, pad), theirs, dtype, **({"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {}))
    close(F.conv_tbc(x, w, b, pad=pad), theirs, dtype, **({"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32
                                                        else {}))


def test_conv_tbc_errors():
    x, w, b = np.ones((5, 2, 3)), np.ones((2, 3, 4)), np.ones(4)
    with pytest.raises(RuntimeError, match="Input must have 3 dims"):
        F.conv_tbc(np.ones((5, 2)), w, b)
    with pytest.raises(RuntimeError, match="Input dim 2 \\(input channels\\) is not == dim 1"):
        F.conv_tbc(x, np.ones((2, 2, 4)), b)
    with pytest.raises(ValueError, match="Bias size must equal dim 2"):
        F.conv_tbc(x, w, np.ones(3))
    with pytest.raises(TypeError, match="bias must be a NumPy or CuPy array"):
        F.conv_tbc(x, w, None)
    with pytest.raises(TypeError, match="pad must be an int"):
        F.conv_tbc(x, w, b, 1.5)
