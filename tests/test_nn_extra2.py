"""RMSNorm, GLU, RReLU, Dropout1d, Dropout3d, AlphaDropout, FeatureAlphaDropout and
LocalResponseNorm (fastnn/nn/extra2.py) against torch.nn's: outputs and gradients (input and
parameters) on several shapes (batch 0, size-1 axes, odd sizes, an LRN window larger than C or
of even size) in float32 and float64, train and eval modes, state_dict names, reprs, config
round trips, errors; for the random layers (whose random numbers differ from torch's) the
distribution of masks and slopes, the exact relation between forward and backward, the values
torch gives, and that the same ``fastnn.manual_seed`` gives the same result.

Tolerances (as tests/test_conformance_nn_extra.py: float32 results are compared with torch in
float64 on the same float32 values, the truth; float64 with torch's float64):
- exact: the dropouts' eval / p = 0 / p = 1 outputs, Dropout1d / Dropout3d's x * scale and
  RReLU's x * slope (one product in the dtype, checked against the same product).
- "computed": RMSNorm, GLU, LocalResponseNorm and alpha dropout compute in float64 and round
  once, RReLU in eval mode multiplies by the slope rounded to the dtype (two roundings: <= 2
  ulp): float32 within rtol 1e-6 (~ 8 ulp), atol 1e-6 for values that cancel to ~0 (RMSNorm's
  and LRN's dx subtract O(1) terms); float64 rtol 1e-12, atol 1e-12.
- statistics: bounds of about 5 standard deviations of the estimate (stated at each test).
"""
import sys

import numpy as np
import pytest

import fastnn
from fastnn.nn.extra2 import (GLU, AlphaDropout, Dropout1d, Dropout3d, FeatureAlphaDropout, LocalResponseNorm,
                              RMSNorm, RReLU)

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}

SELU_SATURATION = 1.7580993408473766  # torch's alpha_dropout constant (SELU's scale * alpha)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _eps(dtype):
    """torch's default RMSNorm eps for an input of dtype (the reference runs in float64)."""
    return float(np.finfo(dtype).eps)


# (id, fastnn factory, torch factory (torch, dtype), input shape, forward tolerance, train)
CASES = [
    ("RMSNorm", lambda: RMSNorm(5), lambda t, dt: t.nn.RMSNorm(5, eps=_eps(dt)), (3, 5), COMPUTED, True),
    ("RMSNorm tuple", lambda: RMSNorm((3, 4), eps=1e-3), lambda t, dt: t.nn.RMSNorm((3, 4), eps=1e-3),
     (2, 2, 3, 4), COMPUTED, True),
    ("RMSNorm list", lambda: RMSNorm([2, 3]), lambda t, dt: t.nn.RMSNorm([2, 3], eps=_eps(dt)), (4, 2, 3),
     COMPUTED, True),
    ("RMSNorm no affine", lambda: RMSNorm((2, 5), elementwise_affine=False),
     lambda t, dt: t.nn.RMSNorm((2, 5), eps=_eps(dt), elementwise_affine=False), (4, 2, 5), COMPUTED, True),
    ("RMSNorm batch 0", lambda: RMSNorm(4), lambda t, dt: t.nn.RMSNorm(4, eps=_eps(dt)), (0, 4), COMPUTED, True),
    ("RMSNorm size-1 axes", lambda: RMSNorm((1, 6)), lambda t, dt: t.nn.RMSNorm((1, 6), eps=_eps(dt)),
     (3, 1, 1, 6), COMPUTED, True),
    ("RMSNorm 1-D", lambda: RMSNorm(7, eps=0.1), lambda t, dt: t.nn.RMSNorm(7, eps=0.1), (7,), COMPUTED, True),
    ("GLU", lambda: GLU(), lambda t, dt: t.nn.GLU(), (4, 6), COMPUTED, True),
    ("GLU dim 1", lambda: GLU(1), lambda t, dt: t.nn.GLU(1), (2, 4, 3), COMPUTED, True),
    ("GLU dim -3 halves of 1", lambda: GLU(-3), lambda t, dt: t.nn.GLU(-3), (2, 3, 5), COMPUTED, True),
    ("GLU 1-D", lambda: GLU(0), lambda t, dt: t.nn.GLU(0), (8,), COMPUTED, True),
    ("GLU batch 0", lambda: GLU(), lambda t, dt: t.nn.GLU(), (0, 4), COMPUTED, True),
    ("LRN", lambda: LocalResponseNorm(3, alpha=0.5), lambda t, dt: t.nn.LocalResponseNorm(3, alpha=0.5),
     (2, 5, 4), COMPUTED, True),
    ("LRN defaults 4-D", lambda: LocalResponseNorm(5), lambda t, dt: t.nn.LocalResponseNorm(5), (2, 6, 3, 3),
     COMPUTED, True),
    ("LRN even size", lambda: LocalResponseNorm(2, 0.5, 1.3, 2.0),
     lambda t, dt: t.nn.LocalResponseNorm(2, 0.5, 1.3, 2.0), (2, 4, 3, 3), COMPUTED, True),
    ("LRN even size 4", lambda: LocalResponseNorm(4, 0.8), lambda t, dt: t.nn.LocalResponseNorm(4, 0.8),
     (1, 6, 5), COMPUTED, True),
    ("LRN size > C", lambda: LocalResponseNorm(7, 0.5), lambda t, dt: t.nn.LocalResponseNorm(7, 0.5), (2, 3, 5),
     COMPUTED, True),
    ("LRN size 1", lambda: LocalResponseNorm(1, 0.5, 0.6, 0.5), lambda t, dt: t.nn.LocalResponseNorm(1, 0.5, 0.6, 0.5),
     (3, 2, 4), COMPUTED, True),
    ("LRN one channel", lambda: LocalResponseNorm(3, 1.0), lambda t, dt: t.nn.LocalResponseNorm(3, 1.0), (2, 1, 4),
     COMPUTED, True),
    ("LRN 5-D", lambda: LocalResponseNorm(3, 0.5, 0.9), lambda t, dt: t.nn.LocalResponseNorm(3, 0.5, 0.9),
     (1, 4, 2, 3, 2), COMPUTED, True),
    ("LRN batch 0", lambda: LocalResponseNorm(3), lambda t, dt: t.nn.LocalResponseNorm(3), (0, 3, 4), EXACT, True),
    ("RReLU eval", lambda: RReLU(), lambda t, dt: t.nn.RReLU(), (3, 7), COMPUTED, False),
    ("RReLU eval bounds", lambda: RReLU(0.05, 0.6), lambda t, dt: t.nn.RReLU(0.05, 0.6), (2, 3, 4), COMPUTED, False),
    ("RReLU eval 0-D", lambda: RReLU(), lambda t, dt: t.nn.RReLU(), (), COMPUTED, False),
    ("Dropout1d eval", lambda: Dropout1d(), lambda t, dt: t.nn.Dropout1d(), (2, 3, 4), EXACT, False),
    ("Dropout3d eval", lambda: Dropout3d(0.3), lambda t, dt: t.nn.Dropout3d(0.3), (2, 3, 2, 2, 2), EXACT, False),
    ("AlphaDropout eval", lambda: AlphaDropout(), lambda t, dt: t.nn.AlphaDropout(), (4, 5), EXACT, False),
    ("FeatureAlphaDropout eval", lambda: FeatureAlphaDropout(0.2), lambda t, dt: t.nn.FeatureAlphaDropout(0.2),
     (2, 3, 4, 2), EXACT, False),
]


def _copy_params(layer, ref, rng, torch):
    """Random float32-representable values into both (ref's in float64)."""
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(np.float64)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_torch(case, dtype, torch):
    _, make, make_ref, shape, fwd_tol, train = case
    rng = np.random.default_rng(0)
    layer, ref = make().to(dtype), make_ref(torch, dtype).double()
    layer.train(train)
    ref.train(train)
    _copy_params(layer, ref, rng, torch)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = ref(tx)
    y = layer(x)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == tuple(ty.shape) and dx.shape == x.shape
    np.testing.assert_allclose(y, ty.detach().numpy().astype(dtype), **fwd_tol[dtype])
    np.testing.assert_allclose(dx, tx.grad.numpy(), **COMPUTED[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **COMPUTED[dtype], err_msg=name)


def test_the_cases_are_not_trivial():
    """The LRN cases with alpha >= 0.5 normalise visibly (the cross-channel term of dx matters)."""
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    layer = LocalResponseNorm(3, alpha=0.5)
    y = layer(x)
    assert np.abs(y - x).max() > 0.1
    dx = layer.backward(np.ones_like(x))
    assert np.abs(dx - (y / x)).max() > 0.05  # not just dy times the scale


def test_rmsnorm_default_eps_is_the_input_dtype_s_epsilon(torch):
    """Inputs of ~1e-4 have a mean square ~1e-8, below float32's eps 1.19e-7: eps decides."""
    rng = np.random.default_rng(2)
    x = (1e-4 * rng.standard_normal((3, 6))).astype(np.float32)
    y = RMSNorm(6)(x)
    want = torch.nn.RMSNorm(6, eps=_eps(np.float32)).double()(torch.tensor(x.astype(np.float64))).detach().numpy()
    np.testing.assert_allclose(y, want, **COMPUTED[np.float32])
    torch32 = torch.nn.RMSNorm(6)(torch.tensor(x)).detach().numpy()  # eps=None in float32
    np.testing.assert_allclose(y, torch32, rtol=1e-5, atol=1e-6)
    other = torch.nn.RMSNorm(6, eps=_eps(np.float64)).double()(torch.tensor(x.astype(np.float64))).detach().numpy()
    assert np.abs(y - other).max() > 0.1  # float64's eps would give another result
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(RMSNorm(6)(x64), other, **COMPUTED[np.float64])


def test_rmsnorm_gradients_accumulate_and_float64_input_keeps_float32_weight():
    rng = np.random.default_rng(3)
    layer = RMSNorm((2, 3))
    layer.weight.data[...] = rng.uniform(0.5, 1.5, (2, 3)).astype(np.float32)
    x = rng.standard_normal((4, 2, 3))
    y = layer(x)
    assert y.dtype == np.float64 and layer.weight.dtype == np.float32
    dy = rng.standard_normal(y.shape)
    assert layer.backward(dy).dtype == np.float64
    first = layer.weight.grad.copy()
    assert first.dtype == np.float32 and np.abs(first).max() > 0
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * first, rtol=1e-6)


def test_glu_saturates_without_overflow(torch):
    x = np.array([[1.0, -2.0, 800.0, -800.0], [3.0, 0.5, -1e300, 1e300]])
    layer = GLU()
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow warning either
        y = layer(x)
        dx = layer.backward(np.ones((2, 2)))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.GLU()(tx)
    ty.backward(torch.ones(2, 2, dtype=torch.float64))
    np.testing.assert_allclose(y, ty.detach().numpy(), **COMPUTED[np.float64])
    np.testing.assert_allclose(dx, tx.grad.numpy(), **COMPUTED[np.float64])
    assert np.isfinite(dx).all()


# --- RReLU ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_rrelu_training_slopes_are_uniform_and_seeded(dtype):
    n = 200_000
    layer = RReLU(0.1, 0.4)
    fastnn.manual_seed(5)
    slopes = -layer(-np.ones(n, dtype))
    assert slopes.dtype == dtype
    assert slopes.min() >= dtype(0.1) and slopes.max() <= dtype(0.4)
    # U(0.1, 0.4): mean 0.25 (sd of the estimate 1.9e-4), variance 0.0075 (sd 1.5e-5)
    assert abs(slopes.mean() - 0.25) < 1e-3
    assert abs(slopes.var() - 0.3 ** 2 / 12) < 1e-4
    counts, _ = np.histogram(slopes, bins=10, range=(0.1, 0.4))
    assert np.abs(counts - n / 10).max() < 700  # each bin: sd 134
    fastnn.manual_seed(5)
    np.testing.assert_array_equal(-layer(-np.ones(n, dtype)), slopes)
    assert not np.array_equal(-layer(-np.ones(n, dtype)), slopes)  # a new draw every forward


@pytest.mark.parametrize("dtype", DTYPES)
def test_rrelu_forward_and_backward_use_the_same_slopes(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5, 6)).astype(dtype)
    x[0, 0, :3] = 0.0  # zeros take the slope, as torch's
    layer = RReLU()
    fastnn.manual_seed(9)
    slopes = -layer(-np.ones(x.shape, dtype))
    fastnn.manual_seed(9)
    y = layer(x)
    factor = np.where(x > 0, dtype(1), slopes)
    np.testing.assert_array_equal(y, x * factor)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, dy * factor)
    assert (dx[0, 0, :3] != dy[0, 0, :3]).all()


def test_rrelu_special_values_as_torch(torch):
    """Training: NaN has gradient 1 and zeros the slope (torch's noise); eval: the mean slope
    for both (torch's leaky_relu)."""
    x = np.array([np.nan, 0.0, -0.0, -1.0, 2.0, -np.inf, np.inf])
    dy = np.arange(1.0, 8.0)
    for train in (True, False):
        layer, ref = RReLU(0.1, 0.3).train(train), torch.nn.RReLU(0.1, 0.3).train(train)
        y = layer(x)
        dx = layer.backward(dy)
        tx = torch.tensor(x, requires_grad=True)
        ty = ref(tx)
        ty.backward(torch.tensor(dy))
        ty, tdx = ty.detach().numpy(), tx.grad.numpy()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
        np.testing.assert_array_equal(np.signbit(y), np.signbit(ty))
        np.testing.assert_array_equal(dx == dy, tdx == dy)  # where the gradient is 1
        fixed = [0, 1, 2, 4, 5, 6]
        np.testing.assert_array_equal(y[fixed], ty[fixed])
        if train:
            assert dx[0] == dy[0] and 0.1 <= -y[3] <= 0.3
            assert all(0.1 * dy[i] <= dx[i] <= 0.3 * dy[i] for i in (1, 2, 3, 5))
        else:
            np.testing.assert_array_equal(y, ty)
            np.testing.assert_array_equal(dx, tdx)
            assert dx[0] == (0.1 + 0.3) / 2 * dy[0]


# --- the dropouts ---------------------------------------------------------------------------

CHANNEL_SHAPES = [(Dropout1d, (4, 6, 5)), (Dropout1d, (6, 5)), (Dropout1d, (3, 1, 1)), (Dropout3d, (2, 5, 2, 3, 2)),
                  (Dropout3d, (5, 2, 3, 2)), (Dropout3d, (3, 1, 1, 1, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
@pytest.mark.parametrize("cls, shape", CHANNEL_SHAPES, ids=[f"{c.__name__} {s}" for c, s in CHANNEL_SHAPES])
def test_channel_dropout_zeroes_whole_channels_and_scales_the_rest(cls, shape, p, dtype):
    fastnn.manual_seed(4)
    x = np.random.default_rng(0).uniform(0.5, 1.5, shape).astype(dtype)  # no zeros in x
    layer = cls(p)
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape and y is not x
    spatial = 1 if cls is Dropout1d else 3
    channels_y = y.reshape(-1, int(np.prod(shape[-spatial:])))
    channels_x = x.reshape(channels_y.shape)
    dropped = (channels_y == 0).all(axis=1)
    assert ((channels_y == 0).any(axis=1) == dropped).all()  # a channel is all zeros or none
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(channels_y[~dropped], channels_x[~dropped] * scale)
    dy = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype
    dx, dy = dx.reshape(channels_y.shape), dy.reshape(channels_y.shape)
    assert (dx[dropped] == 0).all()
    np.testing.assert_array_equal(dx[~dropped], dy[~dropped] * scale)


@pytest.mark.parametrize("cls, shape", [(Dropout1d, (200, 50, 3)), (Dropout3d, (100, 100, 1, 2, 1))])
def test_channel_dropout_drops_a_fraction_p_of_channels_as_torch(cls, shape, torch):
    x = np.ones(shape, np.float32)
    layer = cls(0.3)
    fastnn.manual_seed(7)
    y = layer(x)
    first = y[(slice(None), slice(None)) + (0,) * (len(shape) - 2)]
    assert abs((first == 0).mean() - 0.3) < 0.025  # 10000 channels: sd 0.0046
    want = getattr(torch.nn, cls.__name__)(0.3)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(np.unique(y), np.unique(want))  # {0, 1 / 0.7} in float32


def _alpha_constants(p):
    """torch's (kept scale a, kept shift, dropped value) (ATen's _dropout_impl)."""
    a = 1.0 / np.sqrt((SELU_SATURATION ** 2 * p + 1) * (1 - p))
    return a, SELU_SATURATION * a * p, SELU_SATURATION * a * (p - 1)


ALPHA_SHAPES = [(AlphaDropout, (40, 30)), (AlphaDropout, (3, 1, 5, 1)), (AlphaDropout, (7,)),
                (FeatureAlphaDropout, (20, 30, 2, 3)), (FeatureAlphaDropout, (10, 8, 2, 2, 3)),
                (FeatureAlphaDropout, (40, 30)), (FeatureAlphaDropout, (9, 1, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("cls, shape", ALPHA_SHAPES, ids=[f"{c.__name__} {s}" for c, s in ALPHA_SHAPES])
def test_alpha_dropout_values_and_gradient(cls, shape, p, dtype):
    fastnn.manual_seed(6)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, shape).astype(dtype)  # kept outputs > 0, dropped ones < 0
    layer = cls(p)
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape and y is not x
    a, shift, dropped_value = _alpha_constants(p)
    dropped = y < 0
    np.testing.assert_allclose(y[~dropped], x[~dropped].astype(np.float64) * a + shift, **COMPUTED[dtype])
    np.testing.assert_allclose(y[dropped], dropped_value, **COMPUTED[dtype])
    if cls is FeatureAlphaDropout:  # whole (sample, channel) entries
        per_channel = dropped.reshape(shape[0], shape[1], -1)
        assert (per_channel == per_channel[:, :, :1]).all()
    dy = rng.standard_normal(shape).astype(dtype)
    dx = layer.backward(dy)
    assert dx.dtype == dtype
    assert (dx[dropped] == 0).all()
    np.testing.assert_allclose(dx[~dropped], dy[~dropped].astype(np.float64) * a, **COMPUTED[dtype])


@pytest.mark.parametrize("cls, shape", [(AlphaDropout, (400, 500)), (FeatureAlphaDropout, (500, 200, 3))])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_keeps_mean_and_variance_and_drops_a_fraction_p(cls, shape, p):
    fastnn.manual_seed(8)
    x = np.random.default_rng(1).standard_normal(shape)
    y = cls(p)(x)
    # 200000 elements (FeatureAlphaDropout: 100000 channels): the mean's sd <= 0.0032, the
    # variance's about 0.005, the dropped fraction's <= 0.0016
    assert abs(y.mean()) < 0.016
    assert abs(y.var() - 1) < 0.03
    dropped = np.isclose(y, _alpha_constants(p)[2], rtol=0, atol=1e-12)
    assert abs(dropped.mean() - p) < 0.008


@pytest.mark.parametrize("cls, shape", [(AlphaDropout, (300, 40)), (FeatureAlphaDropout, (3, 400, 2, 2))])
def test_alpha_dropout_values_as_torch(cls, shape, torch):
    """On ones, torch's outputs take two values (kept, dropped), its gradients two (a, 0):
    fastnn's the same, and FeatureAlphaDropout reads axes 0 and 1 as (N, C) as torch does."""
    x = np.ones(shape)
    layer, ref = cls(0.4), getattr(torch.nn, cls.__name__)(0.4)
    fastnn.manual_seed(3)
    y = layer(x)
    dx = layer.backward(np.ones(shape))
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    ty.backward(torch.ones(shape, dtype=torch.float64))
    np.testing.assert_allclose(np.unique(y), np.unique(ty.detach().numpy()), rtol=1e-12)
    np.testing.assert_allclose(np.unique(dx), np.unique(tx.grad.numpy()), rtol=1e-12)
    assert len(np.unique(y)) == 2
    if cls is FeatureAlphaDropout:
        for out in (y, ty.detach().numpy()):
            assert (out == out[:, :, :1, :1]).all()


RANDOM_LAYERS = [
    (lambda **kw: RReLU(**kw), (3, 4, 5)),
    (lambda **kw: Dropout1d(0.4, **kw), (3, 4, 5)),
    (lambda **kw: Dropout3d(0.4, **kw), (3, 4, 2, 1, 2)),
    (lambda **kw: AlphaDropout(0.4, **kw), (3, 4, 5)),
    (lambda **kw: FeatureAlphaDropout(0.4, **kw), (3, 4, 2, 2)),
]
RANDOM_IDS = ["RReLU", "Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


@pytest.mark.parametrize("make, shape", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_the_same_seed_gives_the_same_result(make, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    layer = make()
    runs = []
    for _ in range(2):
        fastnn.manual_seed(11)
        y = layer(x)
        runs.append((y, layer.backward(dy)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(layer(x), runs[0][0])  # the next pass draws anew
    fastnn.manual_seed(12)
    assert not np.array_equal(layer(x), runs[0][0])


@pytest.mark.parametrize("make, shape", RANDOM_LAYERS, ids=RANDOM_IDS)
def test_inplace_writes_into_x_with_the_same_values_and_gradient(make, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    dy = np.random.default_rng(1).standard_normal(shape)
    fastnn.manual_seed(2)
    plain = make()
    want = plain(x)
    want_dx = plain.backward(dy)
    target = x.copy()
    fastnn.manual_seed(2)
    layer = make(inplace=True)
    got = layer(target)
    assert got is target
    np.testing.assert_array_equal(target, want)
    np.testing.assert_array_equal(layer.backward(dy), want_dx)
    # a view that is not contiguous, or a read-only array: left untouched, a new array returned
    wide = np.concatenate([x, x], axis=-1)
    view = wide[..., ::2]
    readonly = x.copy()
    readonly.flags.writeable = False
    for arg in (view, readonly):
        before = arg.copy()
        fastnn.manual_seed(2)
        out = layer(arg)
        assert out is not arg
        np.testing.assert_array_equal(arg, before)


@pytest.mark.parametrize("make", [lambda: Dropout1d(0.5), lambda: Dropout3d(0.5), lambda: AlphaDropout(0.5),
                                  lambda: FeatureAlphaDropout(0.5)], ids=RANDOM_IDS[1:])
def test_dropouts_eval_p0_p1_and_empty_as_torch(make, torch):
    name = type(make()).__name__
    shape = (2, 3, 2, 2, 2) if name == "Dropout3d" else (2, 3, 4)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x.flat[0] = np.inf
    layer = make().eval()
    assert layer(x) is x and layer.backward(x) is x  # eval: the identity
    np.testing.assert_array_equal(getattr(torch.nn, name)(0.5).eval()(torch.tensor(x)).numpy(), x)
    p0 = type(layer)(0.0)
    assert p0(x) is x
    p1 = type(layer)(1.0)
    y = p1(x)
    want = getattr(torch.nn, name)(1.0)(torch.tensor(x)).numpy()  # x * 0: NaN for inf
    np.testing.assert_array_equal(y, want)
    assert np.isnan(y.flat[0]) and (y.ravel()[1:] == 0).all()
    np.testing.assert_array_equal(p1.backward(np.ones_like(x)), np.zeros_like(x))
    empty = np.zeros((0,) + shape[1:], np.float32)
    train = make()
    assert train(empty) is empty  # torch returns an empty input as it is
    assert tuple(getattr(torch.nn, name)(0.5)(torch.tensor(empty)).shape) == empty.shape


# --- state_dict, repr, config ---------------------------------------------------------------

STATE_CASES = [
    (lambda: RMSNorm(5), lambda t: t.nn.RMSNorm(5)),
    (lambda: RMSNorm([2, 3], eps=1e-3), lambda t: t.nn.RMSNorm([2, 3], eps=1e-3)),
    (lambda: RMSNorm((2, 3), elementwise_affine=False), lambda t: t.nn.RMSNorm((2, 3), elementwise_affine=False)),
    (lambda: GLU(), lambda t: t.nn.GLU()),
    (lambda: GLU(1), lambda t: t.nn.GLU(1)),
    (lambda: RReLU(), lambda t: t.nn.RReLU()),
    (lambda: RReLU(0.1, 0.3, True), lambda t: t.nn.RReLU(0.1, 0.3, True)),
    (lambda: RReLU(0.2, 0.2), lambda t: t.nn.RReLU(0.2, 0.2)),
    (lambda: Dropout1d(), lambda t: t.nn.Dropout1d()),
    (lambda: Dropout1d(0.2, True), lambda t: t.nn.Dropout1d(0.2, True)),
    (lambda: Dropout3d(0.3), lambda t: t.nn.Dropout3d(0.3)),
    (lambda: AlphaDropout(), lambda t: t.nn.AlphaDropout()),
    (lambda: AlphaDropout(0.1, inplace=True), lambda t: t.nn.AlphaDropout(0.1, inplace=True)),
    (lambda: FeatureAlphaDropout(0.7), lambda t: t.nn.FeatureAlphaDropout(0.7)),
    (lambda: LocalResponseNorm(3), lambda t: t.nn.LocalResponseNorm(3)),
    (lambda: LocalResponseNorm(2, 1e-3, 0.5, 2.0), lambda t: t.nn.LocalResponseNorm(2, 1e-3, 0.5, 2.0)),
]


@pytest.mark.parametrize("make, make_ref", STATE_CASES)
def test_state_dict_names_shapes_values_and_repr_match_torch(make, make_ref, torch):
    layer, ref = make(), make_ref(torch)
    state, tstate = layer.state_dict(), ref.state_dict()
    assert list(state) == list(tstate)
    for k in state:
        assert state[k].shape == tuple(tstate[k].shape), k
        np.testing.assert_array_equal(state[k], tstate[k].numpy())  # the initial values too
    layer.load_state_dict({k: np.full(v.shape, 0.5, np.float32) for k, v in state.items()})
    assert all((p.data == 0.5).all() for p in layer.parameters())
    assert repr(layer) == repr(ref)


def test_rmsnorm_weight_is_none_without_affine_and_reset_parameters():
    assert RMSNorm(3, elementwise_affine=False).weight is None
    layer = RMSNorm(3)
    layer.weight.data[...] = 2
    layer.reset_parameters()
    np.testing.assert_array_equal(layer.weight.data, np.ones(3, np.float32))


@pytest.mark.parametrize("layer", [RMSNorm((2, 3), eps=1e-3), RMSNorm(4, elementwise_affine=False), GLU(-2),
                                   RReLU(0.05, 0.5, inplace=True), Dropout1d(0.3), Dropout3d(0.6, True),
                                   AlphaDropout(0.25), FeatureAlphaDropout(0.4, inplace=True),
                                   LocalResponseNorm(4, 2e-4, 0.6, 1.5)], ids=lambda m: repr(m))
def test_config_round_trips(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    assert loaded.state_dict().keys() == layer.state_dict().keys()


def test_a_saved_rmsnorm_keeps_its_weight(tmp_path):
    layer = RMSNorm((2, 3))
    layer.weight.data[...] = np.arange(6, dtype=np.float32).reshape(2, 3)
    fastnn.save(layer, tmp_path / "rms.fnn")
    loaded = fastnn.load(tmp_path / "rms.fnn")
    np.testing.assert_array_equal(loaded.weight.data, layer.weight.data)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), layer(x))


def test_a_sequential_of_the_layers_trains_saves_and_loads(tmp_path):
    """In a Sequential: backward runs through every layer, and the saved model is the same."""
    fastnn.manual_seed(0)
    model = fastnn.nn.Sequential(LocalResponseNorm(3, 0.5), Dropout1d(0.2), RMSNorm(8), GLU(), RReLU(),
                                 AlphaDropout(0.1), FeatureAlphaDropout(0.1), fastnn.nn.Flatten(),
                                 fastnn.nn.Linear(20, 3))
    x = np.random.default_rng(0).standard_normal((6, 5, 8)).astype(np.float32)
    y = model(x)
    assert y.shape == (6, 3)
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.isfinite(dx).all() and np.abs(dx).max() > 0
    assert [n for n, _ in model.named_parameters()] == ["2.weight", "8.weight", "8.bias"]
    assert np.abs(model[2].weight.grad).max() > 0
    fastnn.save(model, tmp_path / "model.fnn")
    loaded = fastnn.load(tmp_path / "model.fnn")
    assert repr(loaded) == repr(model)
    model.eval()
    loaded.eval()
    np.testing.assert_array_equal(loaded(x), model(x))


# --- arguments and shapes -------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: RMSNorm(0), ValueError, "normalized_shape=0"),
    (lambda: RMSNorm((3, 0)), ValueError, r"normalized_shape=\(3, 0\)"),
    (lambda: RMSNorm(()), ValueError, r"normalized_shape=\(\)"),
    (lambda: RMSNorm(2.5), ValueError, "normalized_shape=2.5"),
    (lambda: RMSNorm(3, eps=-1), ValueError, "eps=-1"),
    (lambda: RMSNorm(3, eps=0), ValueError, "eps=0"),
    (lambda: RMSNorm(3, eps="a"), TypeError, "eps='a'"),
    (lambda: RMSNorm(3, elementwise_affine="yes"), TypeError, "elementwise_affine='yes'"),
    (lambda: GLU(1.5), TypeError, "dim=1.5"),
    (lambda: GLU(True), TypeError, "dim=True"),
    (lambda: RReLU(lower="a"), TypeError, "lower='a'"),
    (lambda: RReLU(upper=float("nan")), ValueError, "upper=nan"),
    (lambda: RReLU(0.5, 0.1), ValueError, "lower=0.5, upper=0.1"),
    (lambda: RReLU(inplace=1), TypeError, "inplace=1"),
    (lambda: Dropout1d(1.5), ValueError, "p=1.5"),
    (lambda: Dropout3d(-0.1), ValueError, "p=-0.1"),
    (lambda: AlphaDropout(2), ValueError, "p=2"),
    (lambda: FeatureAlphaDropout("x"), TypeError, "p='x'"),
    (lambda: Dropout1d(inplace="no"), TypeError, "inplace='no'"),
    (lambda: LocalResponseNorm(0), ValueError, "size=0"),
    (lambda: LocalResponseNorm(2.5), TypeError, "size=2.5"),
    (lambda: LocalResponseNorm(3, alpha="x"), TypeError, "alpha='x'"),
    (lambda: LocalResponseNorm(3, beta=float("inf")), ValueError, "beta=inf"),
    (lambda: LocalResponseNorm(3, k=float("nan")), ValueError, "k=nan"),
])
def test_bad_arguments_raise_naming_the_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


# (fastnn factory, torch factory or None where torch accepts the input, shape, torch's error, match)
BAD_INPUTS = [
    (lambda: GLU(), lambda t: t.nn.GLU(), (3, 5), RuntimeError, r"axis -1 has size 5.*\(3, 5\)"),
    (lambda: GLU(0), lambda t: t.nn.GLU(0), (3, 4), RuntimeError, "axis 0 has size 3"),
    (lambda: GLU(), lambda t: t.nn.GLU(), (), RuntimeError, "0-D"),
    (lambda: GLU(2), lambda t: t.nn.GLU(2), (3, 4), IndexError, r"dim=2 is out of range.*\(3, 4\)"),
    (lambda: GLU(-3), lambda t: t.nn.GLU(-3), (3, 4), IndexError, "dim=-3"),
    (lambda: LocalResponseNorm(2), lambda t: t.nn.LocalResponseNorm(2), (3, 4), ValueError, r"\(3, 4\)"),
    (lambda: RMSNorm(3), lambda t: t.nn.RMSNorm(3), (2, 4), RuntimeError, r"normalized_shape=\(3,\).*\(2, 4\)"),
    (lambda: RMSNorm((3, 4)), lambda t: t.nn.RMSNorm((3, 4)), (2, 4, 3), RuntimeError, r"\(2, 4, 3\)"),
    (lambda: RMSNorm((3, 4)), lambda t: t.nn.RMSNorm((3, 4)), (4,), ValueError, r"\(4,\)"),
    (lambda: Dropout1d(), lambda t: t.nn.Dropout1d(), (2, 3, 4, 5), RuntimeError, r"2-D or 3-D.*\(2, 3, 4, 5\)"),
    (lambda: Dropout1d(), lambda t: t.nn.Dropout1d(), (5,), RuntimeError, r"\(5,\)"),
    (lambda: Dropout3d(), None, (2, 3, 4), RuntimeError, r"4-D or 5-D.*\(2, 3, 4\)"),
    (lambda: FeatureAlphaDropout(), lambda t: t.nn.FeatureAlphaDropout(), (3,), RuntimeError, r"\(3,\)"),
]


@pytest.mark.parametrize("make, make_ref, shape, torch_error, match", BAD_INPUTS)
def test_bad_input_shapes_raise_value_error_and_torch_s_error(make, make_ref, shape, torch_error, match, torch):
    """A ValueError (fastnn's rule), which is also the class of torch's error for the same input."""
    x = np.zeros(shape, np.float32)
    for error in (ValueError, torch_error):
        with pytest.raises(error, match=match):
            make()(x)
    if make_ref is not None:
        with pytest.raises(torch_error):
            make_ref(torch)(torch.tensor(x))


ALL_LAYERS = [(lambda: RMSNorm(3), (2, 3)), (lambda: GLU(), (2, 4)), (lambda: RReLU(), (2, 3)),
              (lambda: Dropout1d(), (2, 3, 4)), (lambda: Dropout3d(), (2, 3, 1, 1, 2)),
              (lambda: AlphaDropout(), (2, 3)), (lambda: FeatureAlphaDropout(), (2, 3, 2)),
              (lambda: LocalResponseNorm(2), (2, 3, 2))]
ALL_IDS = ["RMSNorm", "GLU", "RReLU"] + RANDOM_IDS[1:] + ["LocalResponseNorm"]


@pytest.mark.parametrize("make, shape", ALL_LAYERS, ids=ALL_IDS)
def test_integer_input_list_input_and_a_dy_of_the_wrong_shape_raise(make, shape):
    layer = make()
    with pytest.raises(TypeError, match="int64"):
        layer(np.zeros(shape, np.int64))
    with pytest.raises(TypeError, match="list"):
        layer(np.zeros(shape).tolist())
    y = layer(np.ones(shape, np.float32))
    with pytest.raises(ValueError, match=rf"dy of shape \({y.shape[0]}, "):
        layer.backward(np.zeros(y.shape + (1,), np.float32))


@pytest.mark.parametrize("make, shape", [c for c, i in zip(ALL_LAYERS, ALL_IDS) if i in
                                         ("RMSNorm", "GLU", "RReLU", "LocalResponseNorm")],
                         ids=["RMSNorm", "GLU", "RReLU", "LocalResponseNorm"])
def test_backward_before_forward_raises(make, shape):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward(np.zeros(shape, np.float32))


# --- CuPy: the same array code on the device ------------------------------------------------

@pytest.fixture
def fake_cupy(monkeypatch):
    """tests/fake_cupy.py as `cupy`, without the kernel emulator: these layers launch no kernel
    (a launch would fail), they run CuPy's array functions, which the fake checks never mix a
    host array with a device one."""
    import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(fake_cupy, "__name__", "cupy")
    monkeypatch.setattr(fake_cupy, "settings", type(fake_cupy.settings)(emulator=None, order=0, launch=None))
    return fake_cupy


DEVICE_CASES = [
    ("RMSNorm", lambda: RMSNorm((2, 3)), (4, 2, 3), True),
    ("GLU", lambda: GLU(1), (2, 4, 3), True),
    ("RReLU train", lambda: RReLU(), (3, 5), True),
    ("RReLU eval", lambda: RReLU(), (3, 5), False),
    ("Dropout1d", lambda: Dropout1d(0.4), (3, 5, 4), True),
    ("Dropout3d", lambda: Dropout3d(0.4), (5, 2, 3, 2), True),
    ("AlphaDropout", lambda: AlphaDropout(0.3), (4, 5), True),
    ("FeatureAlphaDropout", lambda: FeatureAlphaDropout(0.3), (3, 4, 2), True),
    ("LocalResponseNorm", lambda: LocalResponseNorm(3, 0.5), (2, 5, 3), True),
]


@pytest.mark.parametrize("name, make, shape, train", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_each_layer_runs_on_cupy_arrays_like_on_numpy(name, make, shape, train, fake_cupy):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape if name != "GLU" else (2, 2, 3)).astype(np.float32)
    results = []
    for device in ("cpu", "cuda"):
        layer = make().train(train)
        if device == "cuda":
            layer = layer.cuda()
        fastnn.manual_seed(3)  # the same masks and slopes on both
        arg = x if device == "cpu" else fake_cupy.asarray(x)
        y = layer(arg)
        dx = layer.backward(dy if device == "cpu" else fake_cupy.asarray(dy))
        grads = [p.grad for p in layer.parameters()]
        if device == "cuda":
            assert all(isinstance(a, fake_cupy.ndarray) for a in [y, dx] + grads)
            y, dx, grads = y.get(), dx.get(), [g.get() for g in grads]
        results.append((y, dx, grads))
    (y0, dx0, g0), (y1, dx1, g1) = results
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(dx1, dx0)
    for a, b in zip(g1, g0):
        np.testing.assert_array_equal(a, b)
