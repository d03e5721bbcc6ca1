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


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_gradients(trans_a, trans_b, rng):
    m, k, n, beta = 4, 6, 5, 0.7
    a = rng.standard_normal((k, m) if trans_a else (m, k))
    b = rng.standard_normal((n, k) if trans_b else (k, n))
    bias, c = rng.standard_normal(n), rng.standard_normal((m, n))

    def f(a, b, bias, c):
        out = c.copy()  # gemm writes into out: perturbing c must not change the next call's c
        result = reference.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, out=out, beta=beta)
        assert result is out
        return result

    opa = a.T if trans_a else a
    opb = b.T if trans_b else b

    def grads(dy):
        # y = op(a) @ op(b) + bias + beta * c: d op(a) = dy op(b)^T, d op(b) = op(a)^T dy,
        # and a transposed operand gets the transpose of its op's gradient.
        d_opa, d_opb = dy @ opb.T, opa.T @ dy
        return [d_opa.T if trans_a else d_opa, d_opb.T if trans_b else d_opb, dy.sum(axis=0), beta * dy]

    assert_gradients(f, [a, b, bias, c], grads, rng=rng)
