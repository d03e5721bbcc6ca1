"""``inplace=True`` of the activations and Dropout2d against the same layers out of place (bit
for bit) and torch.nn's with inplace=True (values and gradients, float32 and float64; float32
against torch in float64, as tests/test_conformance_activations_extra.py): the same object is
returned, the fallback for inputs that cannot be written, the fused Sequential steps, save /
load, and Hardtanh's deprecated min_value / max_value."""
import inspect
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn import activation

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-6, atol=1e-7)}

# (layer, arguments, whether torch runs it in place: torch refuses the backward of an in-place
# LeakyReLU / ELU / CELU with a negative slope or alpha, fastnn keeps a copy of x instead)
CASES = [
    ("ReLU", {}, True), ("LeakyReLU", {}, True), ("LeakyReLU", {"negative_slope": 0.0}, True),
    ("LeakyReLU", {"negative_slope": 1.5}, True), ("LeakyReLU", {"negative_slope": -0.5}, False),
    ("ELU", {}, True), ("ELU", {"alpha": 0.7}, True), ("ELU", {"alpha": -0.7}, False),
    ("CELU", {}, True), ("CELU", {"alpha": 0.5}, True), ("CELU", {"alpha": -1.5}, False),
    ("SELU", {}, True), ("SiLU", {}, True), ("Mish", {}, True), ("Hardswish", {}, True),
    ("Hardsigmoid", {}, True), ("ReLU6", {}, True), ("Hardtanh", {}, True),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}, True), ("Hardtanh", {"min_val": -0.3, "max_val": 0.7}, True),
    ("Threshold", {"threshold": 0.5, "value": -3.0}, True), ("Threshold", {"threshold": -1.0, "value": 2.0}, True),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw, _ in CASES]
# the kinks of every piece (+-3, +-6, +-0.5, +-1, +-2, -0.3, 0.7, 0 with both signs), extremes and random values
POINTS = np.array([-0.0, 0.0, -3.0, 3.0, 6.0, -6.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, -0.3, 0.7, 1e-8, -1e-8,
                   50.0, -50.0, 1e3, -1e3])
SPECIAL = np.array([np.inf, -np.inf, np.nan, -np.nan, -0.0, 0.0, 1e-300, -1e-300, 3.0, -3.0, 6.0, 1.0, -1.0])


def _input(dtype):
    rng = np.random.default_rng(0)
    return np.concatenate([POINTS, rng.standard_normal(40) * 4]).reshape(6, 10).astype(dtype)


def _dy(shape, dtype, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _run(layer, x, dy):
    y = layer(x)
    return y, layer.backward(dy)


def _torch_run(name, kwargs, x, dy, inplace):
    """torch's y and dx (an in-place op needs a non-leaf input: a clone of the leaf): in float64
    (fastnn rounds exact results, torch's float32 exp-based ones are a few ulp off), but in x's
    dtype for the layers that compare x with a parameter, which torch rounds to that dtype."""
    dtype = x.dtype if name in ("Hardtanh", "ReLU6", "Threshold") else np.float64
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    t = tx.clone()
    ty = getattr(torch.nn, name)(**kwargs, inplace=inplace)(t)
    assert (ty is t) == inplace
    ty.backward(torch.tensor(dy.astype(dtype)))
    return ty.detach().numpy(), tx.grad.numpy()


def _assert_same_bits(a, b):
    np.testing.assert_array_equal(a, b)  # NaN where the other is NaN
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    assert a.dtype == b.dtype and a.shape == b.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, torch_inplace", CASES, ids=IDS)
def test_inplace_returns_input_and_matches_out_of_place_and_torch(name, kwargs, torch_inplace, dtype):
    x = _input(dtype)
    dy = _dy(x.shape, dtype)
    y_ref, dx_ref = _run(getattr(nn, name)(**kwargs), x.copy(), dy)
    xi = x.copy()
    layer = getattr(nn, name)(**kwargs, inplace=True)
    y = layer(xi)
    assert y is xi
    _assert_same_bits(y, y_ref)
    dx = layer.backward(dy)
    _assert_same_bits(dx, dx_ref)  # the exact out-of-place gradient, though x was overwritten

    if not torch_inplace:  # torch computes the forward but refuses this backward
        with pytest.raises(RuntimeError, match="negative slope"):
            _torch_run(name, kwargs, x, dy, inplace=True)
    ty, tdx = _torch_run(name, kwargs, x, dy, inplace=torch_inplace)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(y, ty.astype(dtype), **TOL[dtype])
        if name == "Hardsigmoid" and dtype == np.float64:
            # torch's float64 Hardsigmoid gradient multiplies by 1/6 rounded to float32 (3e-8 off)
            np.testing.assert_allclose(dx, tdx, rtol=1e-7, atol=0)
        else:
            np.testing.assert_allclose(dx, tdx.astype(dtype), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, torch_inplace", CASES, ids=IDS)
def test_infinities_nan_and_signed_zeros_in_place(name, kwargs, torch_inplace, dtype):
    x = SPECIAL.astype(dtype)
    dy = np.arange(1, x.size + 1, dtype=dtype)
    y_ref, dx_ref = _run(getattr(nn, name)(**kwargs), x.copy(), dy)
    xi = x.copy()
    layer = getattr(nn, name)(**kwargs, inplace=True)
    assert layer(xi) is xi
    _assert_same_bits(xi, y_ref)
    _assert_same_bits(layer.backward(dy), dx_ref)  # e.g. a NaN input passes dy on in both
    ty, tdx = _torch_run(name, kwargs, x, dy, inplace=torch_inplace)
    np.testing.assert_allclose(xi, ty.astype(dtype), rtol=TOL[dtype]["rtol"], atol=0)  # NaN where torch's is
    if name in ("Hardtanh", "ReLU6"):
        # torch's own hardtanh gradient at NaN depends on the length: dy in its scalar loop (as
        # fastnn's), 0 in its vector loop (this length): compare the others
        tdx = np.where(np.isnan(x), dx_ref, tdx)
    if name == "Hardsigmoid" and dtype == np.float64:
        np.testing.assert_allclose(dx_ref, tdx, rtol=1e-7, atol=0)
    else:
        np.testing.assert_allclose(dx_ref, tdx.astype(dtype), rtol=TOL[dtype]["rtol"], atol=0)


def _fallback_inputs(dtype):
    """Inputs inplace=True cannot write: (description, array, the array it views)."""
    rng = np.random.default_rng(2)
    read_only = rng.standard_normal((6, 10)).astype(dtype) * 4
    read_only.flags.writeable = False
    return [("read-only", read_only, read_only)]


def _view_inputs(dtype):
    """Non-contiguous views: (description, view, the array it views, the viewed positions)."""
    rng = np.random.default_rng(2)
    padded = rng.standard_normal((6, 20)).astype(dtype) * 4
    padded[:, 1::2] = np.nan  # a kernel ignoring the strides would read (or write) these
    transposed = np.ascontiguousarray(rng.standard_normal((10, 6)).astype(dtype) * 4)
    return [("strided", padded[:, ::2], padded, (slice(None), slice(None, None, 2))),
            ("transposed", transposed.T, transposed, (slice(None), slice(None)))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, _", CASES, ids=IDS)
def test_inputs_that_cannot_be_written_fall_back_to_out_of_place(name, kwargs, _, dtype):
    for what, x, base in _fallback_inputs(dtype):
        before = base.copy()
        dy = _dy(x.shape, dtype)
        y_ref, dx_ref = _run(getattr(nn, name)(**kwargs), np.ascontiguousarray(x), dy)
        y, dx = _run(getattr(nn, name)(**kwargs, inplace=True), x, dy)
        assert y is not x and not np.shares_memory(y, base), what
        np.testing.assert_array_equal(base, before, err_msg=what)  # untouched
        _assert_same_bits(y, y_ref)
        _assert_same_bits(dx, dx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, _", CASES, ids=IDS)
def test_a_non_contiguous_view_is_written_through(name, kwargs, _, dtype):
    """As a torch view: the result lands in the viewed array (only at the viewed positions),
    the same object is returned, and the backward is the out-of-place one."""
    for what, x, base, where in _view_inputs(dtype):
        before = base.copy()
        dy = _dy(x.shape, dtype)
        y_ref, dx_ref = _run(getattr(nn, name)(**kwargs), np.ascontiguousarray(x), dy)
        y, dx = _run(getattr(nn, name)(**kwargs, inplace=True), x, dy)
        assert y is x, what
        _assert_same_bits(y, y_ref)
        _assert_same_bits(dx, dx_ref)
        rest = np.ones(base.shape, bool)
        rest[where] = False
        np.testing.assert_array_equal(base[rest], before[rest], err_msg=what)  # NaN padding untouched


@pytest.mark.parametrize("name, kwargs, _", CASES, ids=IDS)
def test_int_input_is_the_same_type_error_in_place(name, kwargs, _):
    x = np.arange(-3, 3, dtype=np.int64)
    with pytest.raises(TypeError) as out_of_place:
        getattr(nn, name)(**kwargs)(x)
    with pytest.raises(TypeError) as in_place:
        getattr(nn, name)(**kwargs, inplace=True)(x)
    assert str(in_place.value) == str(out_of_place.value)
    np.testing.assert_array_equal(x, np.arange(-3, 3))


def test_float16_in_place_where_the_layer_computes_in_it():
    """The layers in array code take any float dtype, so they write a float16 input; the native
    kernels (ReLU, LeakyReLU, ELU, SiLU) refuse float16 either way."""
    x = _input(np.float16)
    for name in ["Hardtanh", "ReLU6", "SELU", "Hardswish", "Threshold"]:
        kwargs = {"threshold": 0.5, "value": -3.0} if name == "Threshold" else {}
        dy = _dy(x.shape, np.float16)
        y_ref, dx_ref = _run(getattr(nn, name)(**kwargs), x.copy(), dy)
        xi = x.copy()
        layer = getattr(nn, name)(**kwargs, inplace=True)
        assert layer(xi) is xi
        _assert_same_bits(xi, y_ref)
        _assert_same_bits(layer.backward(dy), dx_ref)
    for name in ["ReLU", "LeakyReLU", "ELU", "SiLU"]:
        with pytest.raises(TypeError, match="float16"):
            getattr(nn, name)(inplace=True)(x.copy())


def test_0d_input_in_place():
    for name in ["ReLU", "ELU", "Hardtanh"]:
        x = np.array(-2.0)
        layer = getattr(nn, name)(inplace=True)
        y = layer(x)
        assert y is x and y.shape == ()
        assert float(x) == float(getattr(nn, name)()(np.array(-2.0)))
        assert layer.backward(np.array(1.0)).shape == ()


@pytest.mark.parametrize("name, kwargs, from_output", [
    ("ReLU", {}, True), ("LeakyReLU", {}, True), ("LeakyReLU", {"negative_slope": 0.0}, True),
    ("LeakyReLU", {"negative_slope": -0.5}, False), ("ReLU6", {}, True), ("Hardtanh", {}, True),
    ("Hardtanh", {"min_val": -0.3, "max_val": 0.7}, True), ("ELU", {}, False), ("SiLU", {}, False),
    ("Threshold", {"threshold": 0.5, "value": -3.0}, False),
])
def test_backward_keeps_the_output_only_where_it_is_exact(name, kwargs, from_output):
    """A copy of x exactly where the derivative cannot be read off the output (Hardtanh's can
    always: x is compared with the bounds rounded to its dtype, which the output holds)."""
    x = _input(np.float32)
    layer = getattr(nn, name)(**kwargs, inplace=True)
    layer(x)
    assert (layer._saved is x) == from_output


@pytest.mark.parametrize("inplace", [False, True])
def test_hardtanh_bounds_are_rounded_to_the_input_dtype(inplace):
    """Bounds that float32 rounds inward: as torch, which compares x with the bounds rounded to
    x's dtype, x = -1 and 1 are at the bounds (gradient 0), like the clipped -2 and 2, in place
    or not."""
    lo, hi = -1.0 - 2.0 ** -30, 1.0 + 2.0 ** -30
    assert np.float32(lo) == -1.0 and np.float32(hi) == 1.0
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32)
    layer = nn.Hardtanh(lo, hi, inplace=inplace)
    y = layer(x.copy())
    np.testing.assert_array_equal(y, [-1.0, -1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(layer.backward(np.ones(5, np.float32)), [0.0, 0.0, 1.0, 0.0, 0.0])


# ---- the arguments ---------------------------------------------------------------------------

def _fastnn_classes():
    return [(name, getattr(nn, name)) for name in activation.__all__] + [("Dropout2d", nn.Dropout2d)]


@pytest.mark.parametrize("name, cls", _fastnn_classes(), ids=[n for n, _ in _fastnn_classes()])
def test_inplace_argument_exactly_where_torch_has_it(name, cls):
    """The same parameters, order and defaults as torch's where torch takes inplace (positional
    calls port as they are), and no inplace where torch has none."""
    ours = inspect.signature(cls).parameters
    if not hasattr(torch.nn, name):
        assert "inplace" not in ours  # Step, Swish: no torch counterpart
        return
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    assert ("inplace" in ours) == ("inplace" in theirs)
    if "inplace" in theirs:
        assert list(ours) == list(theirs)
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


@pytest.mark.parametrize("bad", [1, 0, "yes", None, 1.0])
def test_inplace_must_be_a_bool(bad):
    for make in [nn.ReLU, nn.Hardsigmoid, nn.SiLU, nn.Dropout2d, lambda inplace: nn.ELU(1.0, inplace)]:
        with pytest.raises(TypeError, match=re.escape(f"inplace must be a bool. Received: inplace={bad!r}")):
            make(inplace=bad)
    assert nn.ReLU(np.True_).inplace is True


@pytest.mark.parametrize("make, want", [
    (lambda m: m.ReLU(inplace=True), "ReLU(inplace=True)"),
    (lambda m: m.LeakyReLU(0.2, True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda m: m.ELU(0.5, inplace=True), "ELU(alpha=0.5, inplace=True)"),
    (lambda m: m.Hardtanh(-2.0, 2.0, True), "Hardtanh(min_val=-2.0, max_val=2.0, inplace=True)"),
    (lambda m: m.Threshold(0.5, 3.0, True), "Threshold(threshold=0.5, value=3.0, inplace=True)"),
    (lambda m: m.ReLU6(inplace=True), "ReLU6(inplace=True)"),
    (lambda m: m.SiLU(inplace=True), "SiLU(inplace=True)"),
    (lambda m: m.Dropout2d(0.3, inplace=True), "Dropout2d(p=0.3, inplace=True)"),
])
def test_repr_as_torch(make, want):
    assert repr(make(nn)) == repr(make(torch.nn)) == want


def test_config_holds_inplace_only_when_true():
    for name, kwargs, _ in CASES:
        plain, inplace = getattr(nn, name)(**kwargs), getattr(nn, name)(**kwargs, inplace=True)
        assert "inplace" not in plain.get_config()
        assert inplace.get_config() == {**plain.get_config(), "inplace": True}
        assert getattr(nn, name).from_config(inplace.get_config()).inplace is True
    assert nn.Dropout2d(0.3).get_config() == {"p": 0.3}
    assert nn.Dropout2d(0.3, inplace=True).get_config() == {"p": 0.3, "inplace": True}
    # a config saved before inplace existed
    assert nn.layer_from_config({"type": "ReLU", "config": {}}).inplace is False
    assert nn.layer_from_config({"type": "Hardtanh", "config": {"min_val": -2.0, "max_val": 2.0}}).inplace is False


def test_save_load_keeps_inplace(tmp_path):
    fastnn.manual_seed(11)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(0.25, inplace=True),
        nn.LeakyReLU(0.1, True), nn.ELU(inplace=True), nn.CELU(0.5, True), nn.SELU(inplace=True),
        nn.SiLU(inplace=True), nn.Mish(inplace=True), nn.Hardswish(inplace=True), nn.Hardsigmoid(inplace=True),
        nn.ReLU6(inplace=True), nn.Hardtanh(-0.5, 0.9, True), nn.Threshold(0.6, -1.0, True), nn.Flatten(),
        nn.Linear(4 * 5 * 5, 3), nn.ReLU())
    fastnn.save(model, tmp_path / "m.fnn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the saved Hardtanh uses min_val / max_val: no FutureWarning
        loaded = fastnn.load(tmp_path / "m.fnn")
    assert repr(loaded) == repr(model)
    for a, b in zip(model, loaded):
        assert type(a) is type(b) and a.get_config() == b.get_config()
        assert getattr(b, "inplace", False) == getattr(a, "inplace", False)
    assert sum(getattr(b, "inplace", False) for b in loaded) == 13
    x = np.random.default_rng(12).standard_normal((3, 2, 5, 5)).astype(np.float32)
    model.eval()
    np.testing.assert_array_equal(loaded(x.copy()), model(x.copy()))


# ---- Hardtanh's deprecated min_value / max_value ------------------------------------------------

def _make(module, kwargs):
    """A Hardtanh and the FutureWarning messages its construction gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = module.Hardtanh(**kwargs)
    return layer, [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]


@pytest.mark.parametrize("kwargs", [
    {"min_value": -2.0}, {"max_value": 2.5}, {"min_value": -0.5, "max_value": 0.25},
    {"min_val": -3.0, "min_value": -2.0},  # both given: min_value wins, as torch's
    {"max_val": 3.0, "max_value": 0.5}, {"min_value": None, "max_value": None}, {"min_val": -1.0, "min_value": -1.0},
    {"min_value": -1, "max_value": 2},
])
def test_hardtanh_min_value_max_value_as_torch(kwargs):
    layer, messages = _make(nn, kwargs)
    ref, ref_messages = _make(torch.nn, kwargs)
    assert (layer.min_val, layer.max_val) == (ref.min_val, ref.max_val)
    assert messages == ref_messages  # torch's FutureWarning, once per deprecated name given
    assert layer.get_config() == {"min_val": float(ref.min_val), "max_val": float(ref.max_val)}
    x = _input(np.float64)
    dy = _dy(x.shape, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ty, tdx = _torch_run("Hardtanh", kwargs, x, dy, inplace=True)
        layer = nn.Hardtanh(**kwargs, inplace=True)
    xi = x.copy()
    assert layer(xi) is xi
    np.testing.assert_array_equal(xi, ty)
    np.testing.assert_array_equal(layer.backward(dy), tdx)


def test_hardtanh_deprecated_names_warn_at_the_callers_line():
    with pytest.warns(FutureWarning, match="`min_value` is deprecated and renamed to `min_val`") as record:
        nn.Hardtanh(min_value=-2.0)
    assert record[0].filename == __file__


@pytest.mark.parametrize("kwargs", [
    {"min_val": 3.0, "max_val": 1.0}, {"min_val": 1.0, "max_val": 1.0}, {"min_value": 2.0, "max_value": 1.0},
    {"min_val": -3.0, "min_value": 2.0}, {"max_val": 3.0, "max_value": -1.0}, {"min_value": 1.0},
])
def test_hardtanh_bounds_error_as_torch(kwargs):
    """torch raises AssertionError; fastnn's error is a ValueError and an AssertionError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(AssertionError, match="must be greater than min_val"):
            torch.nn.Hardtanh(**kwargs)
        with pytest.raises(AssertionError, match="max_val must be greater than min_val. Received:"):
            nn.Hardtanh(**kwargs)
        with pytest.raises(ValueError):
            nn.Hardtanh(**kwargs)


def test_hardtanh_deprecated_names_checked_by_their_names():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(TypeError, match="min_value must be a real number. Received: min_value='a'"):
            nn.Hardtanh(min_value="a")
        with pytest.raises(ValueError, match="max_value"):
            nn.Hardtanh(max_value=float("inf"))


# ---- Dropout2d ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p, shape", [(0.3, (4, 6, 3, 5)), (0.6, (6, 3, 5)), (1.0, (2, 3, 2, 2))])
def test_dropout2d_in_place_is_out_of_place_written_into_x(p, shape, dtype):
    x = (np.random.default_rng(3).standard_normal(shape) * 3).astype(dtype)
    x.flat[:3] = [np.inf, np.nan, -0.0]  # p = 1: inf * 0 is NaN, as torch's
    dy = _dy(shape, dtype)
    fastnn.manual_seed(21)
    y_ref, dx_ref = _run(nn.Dropout2d(p), x.copy(), dy)
    fastnn.manual_seed(21)
    xi = x.copy()
    layer = nn.Dropout2d(p, inplace=True)
    assert layer(xi) is xi
    _assert_same_bits(xi, y_ref)
    dx = layer.backward(dy)
    _assert_same_bits(dx, dx_ref)
    # torch's definition: each channel is x * 0 or x / (1 - p), its gradient dy times the same
    scale = dtype(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    planes, planes0 = xi.reshape(-1, *shape[-2:]), x.reshape(-1, *shape[-2:])
    with np.errstate(invalid="ignore"):
        dropped = np.array([np.array_equal(c, c0 * 0, equal_nan=True) for c, c0 in zip(planes, planes0)])
        kept = np.array([np.array_equal(c, c0 * scale, equal_nan=True) for c, c0 in zip(planes, planes0)])
    assert (dropped | kept).all()
    factor = np.where(dropped, dtype(0), scale).reshape(shape[:-2] + (1, 1))
    np.testing.assert_array_equal(dx, dy * factor)
    if p < 1:
        assert 0 < dropped.sum() < dropped.size  # some channels dropped, some kept


@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0)])
def test_dropout2d_identity_returns_x_as_torch(training, p):
    x = np.ones((2, 3, 4, 4), np.float32)
    layer = nn.Dropout2d(p, inplace=True).train(training)
    assert layer(x) is x and (x == 1).all()
    tx = torch.ones(2, 3, 4, 4)
    assert torch.nn.Dropout2d(p, inplace=True).train(training)(tx) is tx


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout2d_fallback_leaves_x_untouched(dtype):
    rng = np.random.default_rng(4)
    padded = (rng.standard_normal((3, 4, 5, 10)) * 3).astype(dtype)
    padded[..., 1::2] = np.nan
    read_only = (rng.standard_normal((3, 4, 5, 5)) * 3).astype(dtype)
    read_only.flags.writeable = False
    for x, base in [(padded[..., ::2], padded), (read_only, read_only)]:
        before = base.copy()
        dy = _dy(x.shape, dtype)
        fastnn.manual_seed(5)
        y_ref, dx_ref = _run(nn.Dropout2d(0.5), np.ascontiguousarray(x), dy)
        fastnn.manual_seed(5)
        y, dx = _run(nn.Dropout2d(0.5, inplace=True), x, dy)
        assert y is not x and not np.shares_memory(y, base)
        np.testing.assert_array_equal(base, before)
        _assert_same_bits(y, y_ref)
        _assert_same_bits(dx, dx_ref)
    with pytest.raises(TypeError, match="int64"):
        nn.Dropout2d(0.5, inplace=True)(np.ones((1, 2, 3, 3), np.int64))


# ---- Sequential and its fused steps ------------------------------------------------------------

def _torch_copy(model, tmodel):
    """fastnn's parameters into the torch model (float64)."""
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
            assert name == tname
            tp.copy_(torch.tensor(p.data.astype(np.float64)))


def _run_model(model, x, dy):
    model.zero_grad()
    y = model(x)
    dx = model.backward(dy)
    return y.copy(), dx.copy(), [p.grad.copy() for p in model.parameters()]


def _layer_by_layer(model, x, dy):
    model.zero_grad()
    for layer in model:
        x = layer.forward(x)
    y = x.copy()
    for layer in reversed(list(model)):
        dy = layer.backward(dy)
    return y, dy, [p.grad.copy() for p in model.parameters()]


def _cnn(module, inplace):
    return module.Sequential(
        module.Conv2d(2, 4, 3, padding=1), module.ReLU(inplace=inplace), module.MaxPool2d(2), module.Flatten(),
        module.Linear(4 * 3 * 3, 8), module.ReLU(inplace=inplace), module.Linear(8, 6), module.Tanh(),
        module.Linear(6, 5), module.Hardswish(inplace=inplace), module.Linear(5, 3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_steps_with_inplace_layers_as_out_of_place_and_torch(dtype):
    """Conv + ReLU(inplace) + MaxPool2d, Linear + ReLU(inplace) and Linear + Tanh run fused;
    the same y, dx and parameter gradients as the out-of-place model, fused or layer by layer,
    and as torch's with inplace=True."""
    fastnn.manual_seed(3)
    plain = _cnn(nn, False)
    fastnn.manual_seed(3)
    model = _cnn(nn, True)
    if dtype == np.float64:
        plain.double()
        model.double()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 6, 6)).astype(dtype)
    dy = rng.standard_normal((5, 3)).astype(dtype)
    want = _run_model(plain, x.copy(), dy)
    got = _run_model(model, x.copy(), dy)
    assert [type(s).__name__ for s in model._plan] == ["Conv2d", "ReluMaxPool", "Flatten", "LinearRelu", "LinearTanh",
                                                       "Linear", "Hardswish", "Linear"]
    unfused = _layer_by_layer(model, x.copy(), dy)  # here the ReLUs do write their input
    for a, b, c in zip(want[:2], got[:2], unfused[:2]):
        _assert_same_bits(b, a)
        _assert_same_bits(c, a)
    for a, b, c in zip(want[2], got[2], unfused[2]):
        _assert_same_bits(b, a)
        _assert_same_bits(c, a)

    tmodel = _cnn(torch.nn, True).double()
    _torch_copy(model, tmodel)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = tmodel(tx)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[0], ty.detach().numpy(), **tol)
    np.testing.assert_allclose(got[1], tx.grad.numpy(), **tol)
    for g, (_, tp) in zip(got[2], tmodel.named_parameters()):
        np.testing.assert_allclose(g, tp.grad.numpy(), **tol)


def test_inplace_layer_after_layers_that_keep_their_input():
    """Linear and BatchNorm keep their input, not their output: an in-place ReLU, Dropout2d and
    Hardtanh after them (PyTorch's usual Conv-BN-ReLU(inplace=True)) leave every gradient as the
    out-of-place model's, layer by layer too (no fusion)."""
    def make(inplace):
        fastnn.manual_seed(9)
        return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(inplace=inplace),
                             nn.Dropout2d(0.4, inplace=inplace), nn.Hardtanh(-0.5, 0.5, inplace), nn.Flatten(),
                             nn.Linear(3 * 4 * 4, 2)).double()

    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 2, 6, 6))
    dy = rng.standard_normal((4, 2))
    plain, model = make(False), make(True)
    fastnn.manual_seed(1)  # the same Dropout2d masks in the three runs
    want = _run_model(plain, x.copy(), dy)
    fastnn.manual_seed(1)
    got = _run_model(model, x.copy(), dy)
    fastnn.manual_seed(1)
    unfused = _layer_by_layer(model, x.copy(), dy)
    for a, b, c in zip(want[:2] + tuple(want[2]), got[:2] + tuple(got[2]), unfused[:2] + tuple(unfused[2])):
        _assert_same_bits(b, a)
        _assert_same_bits(c, a)
