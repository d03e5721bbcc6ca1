"""Sequential's fused steps (fastnn/nn/fusion.py) give exactly what the layers give one by one."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

from nn_helpers import check_module_gradients


def _unfused_forward(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return x


def _unfused_backward(layers, dy):
    for layer in reversed(layers):
        dy = layer.backward(dy)
    return dy


def _grads(model):
    return [p.grad.copy() for p in model.parameters()]


def _compare(model, x, seed=0):
    """Fused Sequential vs the same layers run one by one: same y, dx and parameter grads."""
    rng = np.random.default_rng(seed)
    layers = list(model)
    model.zero_grad()
    y = model(x)
    dy = rng.standard_normal(y.shape).astype(y.dtype)
    dx = model.backward(dy)
    fused = (y.copy(), dx.copy(), _grads(model))
    model.zero_grad()
    y1 = _unfused_forward(layers, x)
    dx1 = _unfused_backward(layers, dy)
    np.testing.assert_array_equal(fused[0], y1)
    np.testing.assert_array_equal(fused[1], dx1)
    for g, g1 in zip(fused[2], _grads(model)):
        np.testing.assert_array_equal(g, g1)
    return y1, dx1


def _cnn():
    fastnn.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 6), nn.ReLU(), nn.Linear(6, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cnn_block_fused_equals_layer_by_layer(dtype):
    model = _cnn()
    if dtype == np.float64:
        model.double()
    x = np.random.default_rng(1).standard_normal((5, 2, 6, 6)).astype(dtype)
    y, dx = _compare(model, x)
    assert y.shape == (5, 3) and dx.shape == x.shape
    # the steps really were fused
    kinds = [type(s).__name__ for s in model._plan]
    assert kinds == ["Conv2d", "ReluMaxPool", "Flatten", "LinearRelu", "Linear"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_linear_tanh_fused_equals_layer_by_layer(dtype):
    fastnn.manual_seed(7)
    model = nn.Sequential(nn.Flatten(), nn.Linear(49, 40), nn.Tanh(), nn.Linear(40, 10), nn.Tanh(),
                          nn.Linear(10, 3))
    if dtype == np.float64:
        model.double()
    x = (3 * np.random.default_rng(8).standard_normal((6, 1, 7, 7))).astype(dtype)
    y, dx = _compare(model, x)
    assert y.shape == (6, 3) and dx.shape == x.shape
    kinds = [type(s).__name__ for s in model._plan]
    assert kinds == ["Flatten", "LinearTanh", "LinearTanh", "Linear"]


def test_overlapping_padded_windows_and_nan():
    fastnn.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Flatten())
    x = np.random.default_rng(2).standard_normal((3, 1, 7, 7)).astype(np.float32)
    x[0, 0, 3, 3] = np.nan   # a NaN wins its windows in both paths and gets no gradient
    x[1] = -np.abs(x[1]) - 5  # windows with no positive value: the argmax choice differs, dx must not
    model[0].bias.data[:] = -1.0
    y, dx = _compare(model, x)
    assert np.isnan(y).any() and (y == 0).any() and (y > 0).any()


def test_gradients_through_fused_steps():
    fastnn.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 4),
                          nn.ReLU(), nn.Linear(4, 2))
    x = np.random.default_rng(6).standard_normal((3, 1, 6, 6))
    check_module_gradients(model, x)


def test_subclasses_are_not_fused():
    class ScaledReLU(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

        def backward(self, dy):
            return super().backward(2 * dy)

    fastnn.manual_seed(7)
    model = nn.Sequential(nn.Linear(4, 5), ScaledReLU(), nn.Linear(5, 2))
    x = np.random.default_rng(8).standard_normal((3, 4)).astype(np.float32)
    want = model[2].forward(2 * np.maximum(model[0].forward(x), 0))
    np.testing.assert_allclose(model(x), want, rtol=1e-6)
    assert [type(s).__name__ for s in model._plan] == ["Linear", "ScaledReLU", "Linear"]


def test_fused_relu_holds_no_stale_cache():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    model(np.ones((1, 1, 4, 4), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        model[0].backward(np.ones((1, 1, 4, 4), np.float32))


def test_summary_still_lists_every_layer():
    text = _cnn().summary((2, 6, 6), print_fn=None)
    assert text.count("ReLU") == 2 and "MaxPool2d" in text and text.count("Linear") == 2


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Sequential(nn.Linear(2, 2)).backward(np.ones((1, 2), np.float32))
