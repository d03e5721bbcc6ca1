"""The reference's activation backward passes agree with central differences (float64)."""
import numpy as np
import pytest

from fastnn import reference
from gradcheck import assert_gradients

PARAMS = {
    "sigmoid": {"beta": 1.7}, "tanh": {}, "relu": {}, "leaky_relu": {"negative_slope": 0.2},
    "softplus": {"beta": 0.8, "threshold": 15.0}, "swish": {"beta": 1.3}, "elu": {"alpha": 0.7}, "step": {},
}
USES_OUTPUT = {"sigmoid", "tanh"}


def _inputs_away_from_kinks(rng, shape):
    x = rng.standard_normal(shape) * 3
    x[np.abs(x) < 1e-3] = 0.5  # central differences are wrong across a kink at 0
    return x


@pytest.mark.parametrize("name", list(PARAMS))
def test_activation_gradients(name, rng):
    params = PARAMS[name]
    x = _inputs_away_from_kinks(rng, (4, 7))
    f = lambda x: getattr(reference, name)(x, **params)
    saved = f(x) if name in USES_OUTPUT else x
    assert_gradients(f, [x], lambda dy: [getattr(reference, name + "_backward")(dy, saved, **params)], rng=rng)


def test_softplus_gradient_across_threshold(rng):
    x = np.array([[-30.0, -5.0, 0.3, 14.0, 19.0, 25.0, 40.0]])
    f = lambda x: reference.softplus(x, beta=1.0, threshold=20.0)
    assert_gradients(f, [x], lambda dy: [reference.softplus_backward(dy, x, 1.0, 20.0)])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_gradients(name, rng):
    x = rng.standard_normal((5, 9)) * 3
    f = getattr(reference, name)
    y = f(x)
    assert_gradients(f, [x], lambda dy: [getattr(reference, name + "_backward")(dy, y)], rng=rng)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 5), (2, 0, 3), (2, 3, 0)])
def test_softmax_of_empty_arrays(name, shape):
    """A size-0 axis gives an empty result (as NumPy's and PyTorch's), not a max() error."""
    x = np.empty(shape, np.float32)
    for f, args in [(name, (x,)), (name + "_backward", (x, x))]:
        y = getattr(reference, f)(*args)
        assert y.shape == shape and y.dtype == np.float32, f


def test_gemm_gradients(rng):
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 5))
    bias = rng.standard_normal(5)
    f = lambda a, b, bias: reference.gemm(a, b, bias=bias)
    # d(a@b + bias): da = dy b^T, db = a^T dy, dbias = sum over rows
    assert_gradients(f, [a, b, bias], lambda dy: [dy @ b.T, a.T @ dy, dy.sum(axis=0)], rng=rng)
