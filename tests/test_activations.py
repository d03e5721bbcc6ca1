"""Native activations and softmax vs fastnn.reference: every ISA, both dtypes, any layout."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from strategies import LAYOUTS, make_layout, shapes
from tolerances import assert_close

# name -> (params, name of the tensor backward takes)
ACTIVATIONS = {
    "step": ({}, "x"),
    "sigmoid": ({"beta": 1.7}, "y"),
    "tanh": ({}, "y"),
    "relu": ({}, "x"),
    "leaky_relu": ({"negative_slope": 0.2}, "x"),
    "softplus": ({"beta": 0.8, "threshold": 15.0}, "x"),
    "swish": ({"beta": 1.3}, "x"),
    "elu": ({"alpha": 0.7}, "x"),
    "gelu": ({"approximate": "none"}, "x"),
}
SOFTMAXES = ["softmax", "log_softmax"]
DTYPES = [np.float32, np.float64]


def _values(rng, shape, dtype, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _ref64(name, *arrays, **params):
    """The reference evaluated in float64 (the truth for both dtypes)."""
    return getattr(reference, name)(*[a.astype(np.float64) for a in arrays], **params)


def _tolerance_op(name):
    return name if name in SOFTMAXES else "activation"  # softmax and log_softmax have their own


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_forward_backward_each_isa(name, dtype, isa, rng):
    params, saved_name = ACTIVATIONS[name]
    x = _values(rng, (3, 1031), dtype)  # a prime inner size: every SIMD tail is exercised
    y = getattr(ops, name)(x, **params)
    assert y.dtype == dtype and y.shape == x.shape
    assert_close(y, _ref64(name, x, **params), "activation", dtype, err_msg=f"{name} on {isa}")

    dy = _values(rng, x.shape, dtype, 1.0)
    saved = y if saved_name == "y" else x
    dx = getattr(ops, name + "_backward")(dy, saved, **params)
    assert dx.dtype == dtype
    assert_close(dx, _ref64(name + "_backward", dy, saved, **params), "activation_backward", dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_each_isa(name, dtype, isa, rng):
    x = _values(rng, (37, 11), dtype)
    y = getattr(ops, name)(x)
    assert_close(y, _ref64(name, x), _tolerance_op(name), dtype, err_msg=f"{name} on {isa}")
    dy = _values(rng, x.shape, dtype, 1.0)
    dx = getattr(ops, name + "_backward")(dy, y)
    assert_close(dx, _ref64(name + "_backward", dy, y), _tolerance_op(name) + "_backward", dtype,
                 err_msg=f"{name}_backward on {isa}")


# Every op x dtype x layout is its own test, so each combination is proven on non-contiguous
# inputs; hypothesis draws the shapes (sizes 0, 1, primes, ...) and the values' seed. Each of the
# 80 combinations gets a quarter of the profile's examples (60 -> 15 each, 1200 in all).
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS) + SOFTMAXES)
@settings(max_examples=max(5, settings.default.max_examples // 4))
@given(shape=shapes(), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_and_layouts(name, dtype, layout, shape, seed):
    rng = np.random.default_rng(seed)
    params, saved_name = ACTIVATIONS.get(name, ({}, "y"))
    op = _tolerance_op(name)
    values = _values(rng, shape, dtype)
    x = make_layout(values, layout)
    y = getattr(ops, name)(x, **params)
    assert y.dtype == dtype and y.shape == shape
    assert_close(y, _ref64(name, values, **params), op, dtype, err_msg=f"{name} {shape} {layout}")
    # backward: dy and the saved tensor (x, or the output y) in the same layout
    dy_values = _values(rng, shape, dtype, 1.0)
    saved_values = y if saved_name == "y" else values
    dy, saved = make_layout(dy_values, layout), make_layout(saved_values, layout)
    dx = getattr(ops, name + "_backward")(dy, saved, **params)
    assert dx.dtype == dtype and dx.shape == shape
    assert_close(dx, _ref64(name + "_backward", dy_values, saved_values, **params), op + "_backward", dtype,
                 err_msg=f"{name}_backward {shape} {layout}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 1e4, -1e4], dtype=dtype)
    for name, (params, _) in ACTIVATIONS.items():
        got = getattr(ops, name)(x, **params)
        with np.errstate(all="ignore"):
            want = _ref64(name, x, **params)
        assert_close(got, want, "activation", dtype, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_signed_zero_as_pytorch(dtype, isa):
    """PyTorch's rules at the edges: ReLU's and ELU's backward pass the gradient on at a NaN
    input (threshold_backward / elu_backward test x <= 0), and ELU(-0.0) is -0.0."""
    x = np.array([np.nan, -0.0, 0.0, -1.0, 2.0], dtype)
    dy = np.full(5, 3.0, dtype)
    np.testing.assert_array_equal(ops.relu_backward(dy, x), np.array([3, 0, 0, 0, 3], dtype))
    np.testing.assert_array_equal(reference.relu_backward(dy, x), np.array([3, 0, 0, 0, 3], dtype))
    g = ops.elu_backward(dy, x, alpha=0.5)
    assert g[0] == 3 and g[4] == 3 and g[1] == g[2] == 1.5
    assert reference.elu_backward(dy, x, alpha=0.5)[0] == 3
    y = ops.elu(x, alpha=0.5)
    assert np.isnan(y[0]) and np.signbit(y[1]) and not np.signbit(y[2])
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, requires_grad=True)
    torch.relu(t).backward(torch.tensor(dy))
    np.testing.assert_array_equal(ops.relu_backward(dy, x), t.grad.numpy())
    assert np.signbit(torch.nn.functional.elu(torch.tensor([-0.0], dtype=t.dtype)).numpy()[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_torch(dtype, approximate, isa):
    """GELU, exact (x Phi(x), the float32 erfc keeping the negative tail's digits) and tanh
    form, against torch's float64 GELU over the range where it is not 0 or x."""
    torch = pytest.importorskip("torch")
    x = np.concatenate([np.linspace(-12, 12, 4001), [0.0, -0.0, 1e-30, -1e-30]]).astype(dtype)
    t = torch.tensor(x.astype(np.float64), requires_grad=True)
    want = torch.nn.functional.gelu(t, approximate=approximate)
    want.backward(torch.ones_like(t))
    assert_close(ops.gelu(x, approximate=approximate), want.detach().numpy(), "activation", dtype)
    assert_close(ops.gelu_backward(np.ones_like(x), x, approximate=approximate), t.grad.numpy(),
                 "activation_backward", dtype)
    layer = fastnn.nn.GELU(approximate)
    np.testing.assert_array_equal(layer(x), ops.gelu(x, approximate=approximate))
    assert fastnn.nn.GELU(**layer.get_config()).approximate == approximate
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        ops.gelu(x, approximate="erf")


def test_softmax_extreme_rows():
    x = np.array([[1e30, 0.0, -1e30], [-np.inf, 0.0, 1.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    assert_close(ops.softmax(x), _ref64("softmax", x), "softmax")
    assert_close(ops.log_softmax(x), _ref64("log_softmax", x), "log_softmax")
    assert np.allclose(ops.softmax(x).sum(axis=-1), 1.0)


def test_thread_count_does_not_change_results(rng):
    x = _values(rng, (400, 1000), np.float32)
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        one = [ops.tanh(x), ops.softmax(x), ops.elu(x)]
        fastnn.set_num_threads(2)
        two = [ops.tanh(x), ops.softmax(x), ops.elu(x)]
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_out_argument_written_in_place(rng):
    x = _values(rng, (5, 6), np.float32)
    out = np.empty_like(x)
    result = ops.sigmoid(x, out=out)
    assert result is out
    assert_close(out, _ref64("sigmoid", x), "activation")
    ops.relu(out, out=out)  # in place on itself
    assert (out >= 0).all()


@pytest.mark.parametrize("bad, exc, words", [
    (np.arange(6, dtype=np.int64).reshape(2, 3), TypeError, "int64"),
    (np.ones((2, 3), dtype=np.float16), TypeError, "float16"),
    ([1.0, 2.0], TypeError, "list"),
    (np.ones((2, 3), dtype=np.complex64), TypeError, "complex64"),
])
def test_bad_input_dtype(bad, exc, words):
    with pytest.raises(exc, match=words):
        ops.relu(bad)


def test_bad_out_and_mismatches():
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.tanh(x, out=np.empty((4, 4), np.float32).T)
    with pytest.raises(TypeError, match="float64"):
        ops.tanh(x, out=np.empty((4, 4), np.float64))
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        ops.tanh(x, out=np.empty((4, 5), np.float32))
    with pytest.raises(TypeError, match="float64"):
        ops.relu_backward(x, x.astype(np.float64))
    with pytest.raises(ValueError, match="shape"):
        ops.relu_backward(x, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="0-D"):
        ops.softmax(np.ones((), np.float32))
    with pytest.raises(ValueError, match="beta"):
        ops.softplus(x, beta=0.0)
    with pytest.raises(ValueError, match="nan"):
        ops.elu(x, alpha=float("nan"))
    ro = np.empty((4, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ops.tanh(x, out=ro)


def test_core_rejects_what_ops_would_copy():
    """The binding itself never casts or copies: a non-contiguous array is an error there."""
    x = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        fastnn._core.activation_forward("relu", x.T[::2], np.empty((2, 4), np.float32))
    with pytest.raises(TypeError):
        fastnn._core.activation_forward("relu", [1.0, 2.0], np.empty(2, np.float32))
    with pytest.raises(ValueError, match="unknown activation 'mish'"):
        fastnn._core.activation_forward("mish", x, np.empty_like(x))
