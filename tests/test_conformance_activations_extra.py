"""The activations written in array code (ReLU6, Hardtanh, SELU, CELU, Mish, Hardswish,
Hardsigmoid, Softsign, LogSigmoid, Tanhshrink, Softshrink, Hardshrink, Threshold, Softmin)
against torch.nn's: values and gradients in both dtypes (float32 against torch in float64),
the edge points of every piece (the kinks, +-inf, NaN, signed zeros), arguments, errors and
save / load."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-6, atol=1e-7)}

CASES = [
    ("ReLU6", {}, {}), ("Hardtanh", {}, {}), ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}, None),
    ("SELU", {}, {}), ("CELU", {}, {}), ("CELU", {"alpha": 0.5}, None), ("CELU", {"alpha": -1.5}, None),
    ("Mish", {}, {}), ("Hardswish", {}, {}), ("Hardsigmoid", {}, {}), ("Softsign", {}, {}),
    ("LogSigmoid", {}, {}), ("Tanhshrink", {}, {}), ("Softshrink", {}, {}), ("Softshrink", {"lambd": 2.0}, None),
    ("Hardshrink", {}, {}), ("Hardshrink", {"lambd": 0.0}, None), ("Threshold", {"threshold": 0.5, "value": -3.0}, None),
    ("Softmin", {"dim": 1}, None),
]
# the kinks of every piece (+-3, +-6, +-0.5, +-1, +-2, 0 with both signs), extremes and random values
POINTS = np.array([-0.0, 0.0, -3.0, 3.0, 6.0, -6.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 1e-8, -1e-8,
                   50.0, -50.0, 100.0, -100.0, 1e3, -1e3])


def _input(dtype):
    rng = np.random.default_rng(0)
    return np.concatenate([POINTS, rng.standard_normal(40) * 4]).reshape(6, 10).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs, _", CASES)
def test_values_and_gradients_match_torch(name, kwargs, _, dtype):
    x = _input(dtype)
    layer = getattr(nn, name)(**kwargs)
    y = layer(x)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = getattr(torch.nn, name)(**kwargs)(tx)
    dy = np.random.default_rng(1).standard_normal(x.shape)
    ty.backward(torch.tensor(dy))
    assert y.dtype == dtype and y.shape == x.shape
    # float32: the exact value rounded to float32 (inf where it passes float32's range, as CELU
    # with a negative alpha at x = -1000)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(y, ty.detach().numpy().astype(dtype), **TOL[dtype])
    dx = layer.backward(dy.astype(dtype))
    assert dx.dtype == dtype
    want = tx.grad.numpy()
    if name == "Hardsigmoid" and dtype == np.float64:
        # torch's float64 Hardsigmoid gradient multiplies by 1/6 rounded to float32 (3e-8 off):
        # fastnn gives the exact dy / 6 inside (-3, 3)
        np.testing.assert_allclose(dx, np.where((x > -3) & (x < 3), dy / 6, 0.0), **TOL[dtype])
        np.testing.assert_allclose(dx, want, rtol=1e-7, atol=0)
        return
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(dx, want.astype(dtype), **TOL[dtype])


@pytest.mark.parametrize("name, kwargs, _", [c for c in CASES if c[0] != "Softmin"])
def test_infinities_nan_and_signed_zeros_as_torch(name, kwargs, _):
    x = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0])
    y = getattr(nn, name)(**kwargs)(x)
    want = getattr(torch.nn, name)(**kwargs)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(y, want)  # NaN where torch's is NaN, and the infinities
    np.testing.assert_array_equal(np.signbit(y[3:]), np.signbit(want[3:]))


@pytest.mark.parametrize("name, kwargs, _", CASES)
def test_save_load_keeps_the_arguments(name, kwargs, _, tmp_path):
    model = nn.Sequential(nn.Linear(10, 10), getattr(nn, name)(**kwargs))
    fastnn.save(model, tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert loaded[1].get_config() == model[1].get_config()
    x = _input(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize("make, exc, message", [
    (lambda: nn.Hardtanh(1.0, 1.0), ValueError, "max_val must be greater"),
    (lambda: nn.Hardtanh("a"), TypeError, "min_val"),
    (lambda: nn.CELU(0.0), ValueError, "alpha=0.0"),
    (lambda: nn.Softshrink(-0.5), ValueError, "lambd"),
    (lambda: nn.Hardshrink(float("nan")), ValueError, "lambd"),
    (lambda: nn.Threshold(0.1, None), TypeError, "value"),
])
def test_bad_arguments_raise_naming_them(make, exc, message):
    with pytest.raises(exc, match=message):
        make()


def test_backward_checks():
    layer = nn.Mish()
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones(3))
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.backward(np.ones(3))
    with pytest.raises(TypeError, match="float"):
        layer(np.arange(3))
