"""PReLU, Unflatten, ZeroPad2d, ConstantPad2d, Dropout2d, LayerNorm, GroupNorm, Upsample and
ParameterDict's dict methods against torch.nn's: outputs and gradients (input and parameters)
on several shapes (batch 1, odd sizes) in float32 and float64, state_dict names, reprs, errors,
and Dropout2d's train / eval behaviour.

Tolerances (float32 results are compared with torch in float64 on the same float32 values, the
truth; float64 with torch's float64):
- exact: the padding, Unflatten and Upsample forwards copy values; PReLU multiplies once (the
  product rounded once, as torch's).
- "computed": fastnn computes PReLU's gradients, the normalisations and Upsample's gradient sums
  in float64 and rounds once to the dtype, so float32 results are within an ulp or two of the
  truth: rtol 1e-6 (~ 8 ulp), atol 1e-6 for values that cancel to ~0 (LayerNorm and GroupNorm's
  dx subtracts two means of O(1) terms; each dx is O(1)). float64: both sides round each of the
  few sums (< 1000 terms of O(1)), ~1e-14 absolute; rtol 1e-12, atol 1e-12 leave room for the
  cancellation in dx.
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}

# (id, fastnn factory, torch factory, input shape, forward tolerance)
CASES = [
    ("PReLU 1", lambda: nn.PReLU(), lambda: torch.nn.PReLU(), (4, 3, 5), COMPUTED),
    ("PReLU per channel", lambda: nn.PReLU(3, 0.1), lambda: torch.nn.PReLU(3, 0.1), (1, 3, 7, 5), COMPUTED),
    ("PReLU per channel 2-D", lambda: nn.PReLU(5), lambda: torch.nn.PReLU(5), (3, 5), COMPUTED),
    ("PReLU 1-D", lambda: nn.PReLU(), lambda: torch.nn.PReLU(), (7,), COMPUTED),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 3)), lambda: torch.nn.Unflatten(1, (2, 3)), (1, 6, 5), EXACT),
    ("Unflatten -1", lambda: nn.Unflatten(-1, (-1, 3)), lambda: torch.nn.Unflatten(-1, (-1, 3)), (2, 5, 9), EXACT),
    ("ZeroPad2d int", lambda: nn.ZeroPad2d(2), lambda: torch.nn.ZeroPad2d(2), (2, 3, 5, 7), EXACT),
    ("ZeroPad2d crop", lambda: nn.ZeroPad2d((1, -2, 0, -1)), lambda: torch.nn.ZeroPad2d((1, -2, 0, -1)),
     (1, 2, 5, 7), EXACT),
    ("ConstantPad2d", lambda: nn.ConstantPad2d((3, 0, 1, 2), -1.5), lambda: torch.nn.ConstantPad2d((3, 0, 1, 2), -1.5),
     (2, 3, 4, 3), EXACT),
    ("ConstantPad2d 3-D crop", lambda: nn.ConstantPad2d((-1, 2, -2, 1), 0.25),
     lambda: torch.nn.ConstantPad2d((-1, 2, -2, 1), 0.25), (3, 5, 4), EXACT),
    ("LayerNorm", lambda: nn.LayerNorm(7), lambda: torch.nn.LayerNorm(7), (3, 7), COMPUTED),
    ("LayerNorm 2 axes", lambda: nn.LayerNorm((3, 5), eps=1e-3), lambda: torch.nn.LayerNorm((3, 5), eps=1e-3),
     (1, 2, 3, 5), COMPUTED),
    ("LayerNorm no bias", lambda: nn.LayerNorm(5, bias=False), lambda: torch.nn.LayerNorm(5, bias=False),
     (4, 3, 5), COMPUTED),
    ("LayerNorm no affine", lambda: nn.LayerNorm((2, 5), elementwise_affine=False),
     lambda: torch.nn.LayerNorm((2, 5), elementwise_affine=False), (3, 2, 5), COMPUTED),
    ("GroupNorm", lambda: nn.GroupNorm(2, 6), lambda: torch.nn.GroupNorm(2, 6), (3, 6, 5, 7), COMPUTED),
    ("GroupNorm batch 1", lambda: nn.GroupNorm(3, 3, eps=1e-2), lambda: torch.nn.GroupNorm(3, 3, eps=1e-2),
     (1, 3, 3, 5), COMPUTED),
    ("GroupNorm 2-D", lambda: nn.GroupNorm(1, 5), lambda: torch.nn.GroupNorm(1, 5), (4, 5), COMPUTED),
    ("GroupNorm 3-D no bias", lambda: nn.GroupNorm(2, 4, bias=False), lambda: torch.nn.GroupNorm(2, 4, bias=False),
     (2, 4, 9), COMPUTED),
    ("GroupNorm no affine", lambda: nn.GroupNorm(4, 8, affine=False), lambda: torch.nn.GroupNorm(4, 8, affine=False),
     (2, 8, 3, 3), COMPUTED),
    ("Upsample x2", lambda: nn.Upsample(scale_factor=2), lambda: torch.nn.Upsample(scale_factor=2), (2, 3, 4, 5),
     EXACT),
    ("Upsample size", lambda: nn.Upsample(size=(7, 3)), lambda: torch.nn.Upsample(size=(7, 3)), (1, 3, 4, 5), EXACT),
    ("Upsample size int", lambda: nn.Upsample(size=11), lambda: torch.nn.Upsample(size=11), (2, 2, 3, 7), EXACT),
    ("Upsample odd scale", lambda: nn.Upsample(scale_factor=(1.7, 0.6)),
     lambda: torch.nn.Upsample(scale_factor=(1.7, 0.6)), (1, 2, 9, 11), EXACT),
    ("Upsample 2.1", lambda: nn.Upsample(scale_factor=2.1), lambda: torch.nn.Upsample(scale_factor=2.1),
     (1, 2, 5, 7), EXACT),
    ("Upsample 1/3", lambda: nn.Upsample(scale_factor=1 / 3), lambda: torch.nn.Upsample(scale_factor=1 / 3),
     (1, 1, 31, 30), EXACT),
    ("Upsample 1-D", lambda: nn.Upsample(size=13), lambda: torch.nn.Upsample(size=13), (1, 2, 5), EXACT),
    ("Upsample 3-D", lambda: nn.Upsample(size=(3, 4, 5)), lambda: torch.nn.Upsample(size=(3, 4, 5)),
     (1, 2, 7, 2, 3), EXACT),
]


def _copy_params(layer, ref, rng):
    """Random float32-representable values into both (ref's in float64)."""
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(np.float64)))


def _run(case, dtype, seed=0):
    _, make, make_ref, shape, fwd_tol = case
    rng = np.random.default_rng(seed)
    layer, ref = make().to(dtype), make_ref().double()
    _copy_params(layer, ref, rng)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = ref(tx)
    y = layer(x)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    return layer, ref, x, y, dx, ty.detach().numpy(), tx.grad.numpy(), fwd_tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_torch(case, dtype):
    layer, ref, x, y, dx, ty, tdx, fwd_tol = _run(case, dtype)
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, ty.astype(dtype), **fwd_tol[dtype])
    np.testing.assert_allclose(dx, tdx, **COMPUTED[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **COMPUTED[dtype], err_msg=name)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("PReLU per channel", "LayerNorm", "GroupNorm")],
                         ids=lambda c: c[0])
def test_parameter_gradients_accumulate_and_float64_input_keeps_float32_parameters(case):
    """A second backward adds to param.grad; float32 parameters with a float64 input give a
    float64 output and dx (computed in float64) and float32 gradients."""
    _, make, make_ref, shape, _ = case
    rng = np.random.default_rng(3)
    layer = make()
    x = rng.standard_normal(shape)
    y = layer(x)
    assert y.dtype == np.float64 and layer.weight.dtype == np.float32
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    assert dx.dtype == np.float64
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert all(g.dtype == np.float32 for g in first.values())
    assert any(np.abs(g).max() > 0 for g in first.values())
    layer.backward(dy)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, err_msg=n)


def test_prelu_gradient_at_zero_and_nan_as_torch():
    x = np.array([[-0.0, 0.0, np.nan, 2.0, -3.0]], np.float64)
    layer, ref = nn.PReLU(init=0.3).double(), torch.nn.PReLU(init=0.3).double()
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    dy = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(layer(x), ty.detach().numpy())
    np.testing.assert_array_equal(layer.backward(dy), tx.grad.numpy())
    np.testing.assert_array_equal(layer.weight.grad, ref.weight.grad.numpy())  # NaN where torch's is NaN


STATE_CASES = [
    (lambda: nn.PReLU(4), lambda: torch.nn.PReLU(4)),
    (lambda: nn.LayerNorm((2, 3)), lambda: torch.nn.LayerNorm((2, 3))),
    (lambda: nn.LayerNorm(3, bias=False), lambda: torch.nn.LayerNorm(3, bias=False)),
    (lambda: nn.LayerNorm(3, elementwise_affine=False), lambda: torch.nn.LayerNorm(3, elementwise_affine=False)),
    (lambda: nn.GroupNorm(2, 4), lambda: torch.nn.GroupNorm(2, 4)),
    (lambda: nn.GroupNorm(2, 4, bias=False), lambda: torch.nn.GroupNorm(2, 4, bias=False)),
    (lambda: nn.GroupNorm(2, 4, affine=False), lambda: torch.nn.GroupNorm(2, 4, affine=False)),
    (lambda: nn.Unflatten(1, (2, 2)), lambda: torch.nn.Unflatten(1, (2, 2))),
    (lambda: nn.ZeroPad2d((1, 2, 3, 4)), lambda: torch.nn.ZeroPad2d((1, 2, 3, 4))),
    (lambda: nn.ZeroPad2d(3), lambda: torch.nn.ZeroPad2d(3)),
    (lambda: nn.ConstantPad2d(1, 2.5), lambda: torch.nn.ConstantPad2d(1, 2.5)),
    (lambda: nn.Upsample(scale_factor=2), lambda: torch.nn.Upsample(scale_factor=2)),
    (lambda: nn.Upsample(scale_factor=(1.5, 2)), lambda: torch.nn.Upsample(scale_factor=(1.5, 2))),
    (lambda: nn.Upsample(size=(3, 4)), lambda: torch.nn.Upsample(size=(3, 4))),
    (lambda: nn.Upsample(size=5), lambda: torch.nn.Upsample(size=5)),
]


@pytest.mark.parametrize("make, make_ref", STATE_CASES)
def test_state_dict_names_shapes_values_and_repr_match_torch(make, make_ref):
    layer, ref = make(), make_ref()
    state, tstate = layer.state_dict(), ref.state_dict()
    assert list(state) == list(tstate)
    for k in state:
        assert state[k].shape == tuple(tstate[k].shape), k
        np.testing.assert_array_equal(state[k], tstate[k].numpy())  # the initial values too
    # torch's values load into fastnn
    layer.load_state_dict({k: np.full(v.shape, 0.5, np.float32) for k, v in state.items()})
    assert all((p.data == 0.5).all() for p in layer.parameters())
    assert repr(layer) == repr(ref)


def test_dropout2d_repr_is_torchs():
    assert repr(nn.Dropout2d(0.3)) == repr(torch.nn.Dropout2d(0.3)) == "Dropout2d(p=0.3, inplace=False)"


# --- Dropout2d ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 6, 3, 5), (1, 7, 2, 2), (5, 3, 4)])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_dropout2d_zeroes_whole_channels_and_scales_the_rest(shape, p, dtype):
    fastnn.manual_seed(4)
    x = (np.random.default_rng(0).uniform(0.5, 1.5, shape)).astype(dtype)  # no zeros in x
    layer = nn.Dropout2d(p)
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape
    planes_y = y.reshape(-1, shape[-2] * shape[-1])
    planes_x = x.reshape(planes_y.shape)
    dropped = (planes_y == 0).all(axis=1)
    kept = ~dropped
    assert ((planes_y == 0).any(axis=1) == dropped).all()  # a plane is all zeros or none
    scale = dtype(1 / (1 - p))
    np.testing.assert_allclose(planes_y[kept], planes_x[kept] * scale, rtol=2e-7 if dtype == np.float32 else 1e-15)
    dy = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dx = layer.backward(dy).reshape(planes_y.shape)
    assert dx.dtype == dtype
    assert (dx[dropped] == 0).all()
    np.testing.assert_allclose(dx[kept], dy.reshape(planes_y.shape)[kept] * scale,
                               rtol=2e-7 if dtype == np.float32 else 1e-15)


def test_dropout2d_drops_a_fraction_p_of_channels_and_is_seeded():
    x = np.ones((200, 50, 2, 2), np.float32)
    layer = nn.Dropout2d(0.3)
    fastnn.manual_seed(7)
    y = layer(x)
    fraction = (y[:, :, 0, 0] == 0).mean()
    assert abs(fraction - 0.3) < 0.02  # 10000 channels: 4.4 standard deviations
    fastnn.manual_seed(7)
    np.testing.assert_array_equal(layer(x), y)
    assert not np.array_equal(layer(x), y)  # the next pass draws a new mask


def test_dropout2d_eval_p0_and_p1_as_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    layer = nn.Dropout2d(0.5).eval()
    assert layer(x) is x and layer.backward(x) is x  # eval: the identity
    np.testing.assert_array_equal(torch.nn.Dropout2d(0.5).eval()(torch.tensor(x)).numpy(), x)
    p0 = nn.Dropout2d(0.0)
    assert p0(x) is x
    p1 = nn.Dropout2d(1.0)
    y = p1(x)
    want = torch.nn.Dropout2d(1.0)(torch.tensor(x)).numpy()  # x * 0: NaN for inf
    np.testing.assert_array_equal(y, want)
    assert np.isnan(y[0, 0, 0, 0]) and (y.ravel()[1:] == 0).all()
    np.testing.assert_array_equal(p1.backward(np.ones_like(x)), np.zeros_like(x))


# --- arguments and shapes -------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.PReLU(0), ValueError, "num_parameters=0"),
    (lambda: nn.PReLU(2.0), TypeError, "num_parameters=2.0"),
    (lambda: nn.PReLU(init="a"), TypeError, "init='a'"),
    (lambda: nn.Unflatten(1.5, (2, 3)), TypeError, "dim=1.5"),
    (lambda: nn.Unflatten(1, (2, -1, -1)), ValueError, r"unflattened_size=\(2, -1, -1\)"),
    (lambda: nn.Unflatten(1, 6), ValueError, "unflattened_size=6"),
    (lambda: nn.ZeroPad2d((1, 2)), ValueError, r"padding=\(1, 2\)"),
    (lambda: nn.ZeroPad2d(1.5), TypeError, "padding=1.5"),
    (lambda: nn.ConstantPad2d(1, "x"), TypeError, "value='x'"),
    (lambda: nn.Dropout2d(1.5), ValueError, "p=1.5"),
    (lambda: nn.Dropout2d(-0.1), ValueError, "p=-0.1"),
    (lambda: nn.LayerNorm(0), ValueError, "normalized_shape=0"),
    (lambda: nn.LayerNorm(()), ValueError, r"normalized_shape=\(\)"),
    (lambda: nn.LayerNorm(3, eps=0), ValueError, "eps=0"),
    (lambda: nn.LayerNorm(3, elementwise_affine="yes"), TypeError, "elementwise_affine='yes'"),
    (lambda: nn.GroupNorm(4, 6), ValueError, "num_channels=6, num_groups=4"),
    (lambda: nn.GroupNorm(0, 6), ValueError, "num_groups=0"),
    (lambda: nn.GroupNorm(2, 4, eps=-1.0), ValueError, "eps=-1.0"),
    (lambda: nn.Upsample(scale_factor=2, mode="cubic"), ValueError, "mode='cubic'"),
    (lambda: nn.Upsample(), ValueError, "size=None, scale_factor=None"),
    (lambda: nn.Upsample(size=3, scale_factor=2), ValueError, "size=3, scale_factor=2"),
    (lambda: nn.Upsample(size=0), ValueError, "size=0"),
    (lambda: nn.Upsample(size=2.5), TypeError, "size=2.5"),
    (lambda: nn.Upsample(scale_factor=-1.0), ValueError, "scale_factor=-1.0"),
    (lambda: nn.Upsample(scale_factor="2"), TypeError, "scale_factor='2'"),
])
def test_bad_arguments_raise_naming_the_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("make, shape, match", [
    (lambda: nn.PReLU(3), (2, 4, 5), r"3 channels along axis 1.*\(2, 4, 5\)"),
    (lambda: nn.PReLU(3), (3,), r"\(3,\)"),   # torch: a 1-D input has one channel
    (lambda: nn.Unflatten(1, (2, 4)), (3, 6), r"unflattened_size=\(2, 4\).*6"),
    (lambda: nn.Unflatten(1, (4, -1)), (3, 6), r"\(4, -1\)"),
    (lambda: nn.Unflatten(3, (1, 2)), (3, 2), "dim=3"),
    (lambda: nn.ZeroPad2d(1), (3,), r"at least 2 dimension\(s\).*got shape \(3,\)"),
    (lambda: nn.ZeroPad2d(-2), (1, 1, 4, 3), r"padding=\(-2, -2, -2, -2\).*0 x -1"),
    (lambda: nn.Dropout2d(), (3, 4), r"\(3, 4\)"),
    (lambda: nn.LayerNorm((3, 4)), (2, 4, 3), r"normalized_shape=\(3, 4\).*\(2, 4, 3\)"),
    (lambda: nn.GroupNorm(2, 4), (2, 6, 3), r"4 channels along axis 1.*\(2, 6, 3\)"),
    (lambda: nn.GroupNorm(2, 4), (4,), r"\(4,\)"),
    (lambda: nn.GroupNorm(2, 2), (1, 2), "more than 1 value per group"),
    (lambda: nn.Upsample(size=(2, 3)), (1, 2, 4), r"size=\(2, 3\) has 2 entries"),
    (lambda: nn.Upsample(scale_factor=2), (4, 4), r"\(4, 4\)"),
    (lambda: nn.Upsample(scale_factor=0.1), (1, 1, 5, 5), "empty output"),
])
def test_bad_input_shapes_raise_value_error(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(np.zeros(shape, np.float32))


def test_integer_input_and_backward_before_forward_raise():
    with pytest.raises(TypeError, match="int64"):
        nn.LayerNorm(3)(np.zeros((2, 3), np.int64))
    for layer in (nn.PReLU(), nn.LayerNorm(3), nn.GroupNorm(1, 3), nn.Upsample(size=2), nn.ZeroPad2d(1),
                  nn.Unflatten(1, (1, 3))):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((2, 3), np.float32))
    layer = nn.LayerNorm(3)
    layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy of shape \(2, 3\).*\(3, 2\)"):
        layer.backward(np.zeros((3, 2), np.float32))


@pytest.mark.parametrize("layer", [nn.PReLU(3, 0.2), nn.Unflatten(-1, (2, -1)), nn.ZeroPad2d((1, 0, -1, 2)),
                                   nn.ConstantPad2d(2, -0.5), nn.Dropout2d(0.3), nn.LayerNorm((2, 3), 1e-3, bias=False),
                                   nn.GroupNorm(1, 3, affine=False), nn.Upsample(scale_factor=(2, 1.5)),
                                   nn.Upsample(size=[4, 5])])
def test_config_round_trips(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)


# --- ParameterDict's dict methods -----------------------------------------------------------

def test_parameter_dict_get_setdefault_popitem_copy_fromkeys_as_torch():
    a, b = np.ones(2, np.float32), np.zeros(3, np.float32)
    pd, tpd = nn.ParameterDict({"a": a, "b": b}), torch.nn.ParameterDict({"a": torch.tensor(a), "b": torch.tensor(b)})
    assert pd.get("a") is pd["a"] and pd.get("zz") is None and pd.get("zz", 5) == 5
    assert tpd.get("zz") is None
    c = np.full(4, 2.0, np.float32)
    got = pd.setdefault("c", c)
    tpd.setdefault("c", torch.tensor(c))
    assert got is pd["c"] and np.array_equal(got.data, c)
    assert pd.setdefault("a", c) is pd["a"] and np.array_equal(pd["a"].data, a)  # present: unchanged
    assert list(pd.keys()) == list(tpd.keys()) == ["a", "b", "c"]
    copy, tcopy = pd.copy(), tpd.copy()
    assert isinstance(copy, nn.ParameterDict) and list(copy.keys()) == list(tcopy.keys())
    assert all(copy[k] is pd[k] for k in pd)       # shallow: the same Parameters, as torch's
    key, value = pd.popitem()
    tkey, _ = tpd.popitem()
    assert key == tkey == "c" and np.array_equal(value.data, c) and "c" not in pd
    assert list(pd.keys()) == list(tpd.keys()) == ["a", "b"] and "c" in copy  # the copy keeps it
    shared = pd["a"]
    made, tmade = pd.fromkeys(["x", "y"], shared), tpd.fromkeys(["x", "y"], tpd["a"])
    assert list(made.keys()) == list(tmade.keys()) == ["x", "y"]
    assert made["x"] is shared and made["y"] is shared
    assert len(made.parameters()) == len(list(tmade.parameters())) == 1
    arrays = pd.fromkeys(["u", "v"], b)
    assert arrays["u"] is not arrays["v"] and not np.shares_memory(arrays["u"].data, arrays["v"].data)
    arrays["u"].data += 1
    assert np.array_equal(arrays["v"].data, b)
    with pytest.raises(TypeError, match="Parameters or float arrays"):
        pd.fromkeys(["x"])
    pd.popitem()
    pd.popitem()
    with pytest.raises(KeyError, match="empty"):
        pd.popitem()
