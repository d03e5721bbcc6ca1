"""Sequential, Residual and Concat: composition of forward/backward, gradient checks, and a
residual CNN and an Inception-style Concat block that train."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from nn_helpers import check_module_gradients

CNN_OPS = ("conv2d_forward", "conv2d_backward", "batch_norm_forward", "batch_norm_backward",
           "global_avg_pool2d_forward", "global_avg_pool2d_backward")


def test_sequential_gradients(rng):
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())
    check_module_gradients(model, rng.standard_normal((3, 4)))


def test_sequential_list_indexing_append():
    layers = [nn.Linear(2, 3), nn.ReLU()]
    model = nn.Sequential(layers)
    assert len(model) == 2 and model[1] is layers[1] and list(model) == layers
    model.append(nn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[:2], nn.Sequential)
    with pytest.raises(TypeError, match="Received: layer=3"):
        nn.Sequential(3)


def test_residual_identity_and_shortcut(rng):
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    res = nn.Residual(block).double()
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(res(x), block(x) + x, rtol=1e-15)
    check_module_gradients(nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh())), x)
    check_module_gradients(nn.Residual(nn.Linear(4, 3), shortcut=nn.Linear(4, 3, bias=False)), x)
    with pytest.raises(ValueError, match="shortcut"):
        nn.Residual(nn.Linear(4, 3)).double()(x)


def test_concat_gradients(rng):
    model = nn.Concat(nn.Linear(4, 2), nn.Sequential(nn.Linear(4, 3), nn.Tanh()), nn.Sigmoid())
    y = model.double()(rng.standard_normal((3, 4)))
    assert y.shape == (3, 9)
    check_module_gradients(model, rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="at least one branch"):
        nn.Concat()


def _residual_cnn():
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
    down = nn.Residual(nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU()),
                       shortcut=nn.Conv2d(4, 6, 1, stride=2))
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Residual(block), nn.ReLU(), down,
                         nn.GlobalAvgPool2d(), nn.Linear(6, 3))


def _inception():
    block = nn.Concat(
        nn.Conv2d(2, 2, 1),
        nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1)),
        nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(2, 1, 1)),
    )
    return nn.Sequential(block, nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(6, 3))


def test_residual_cnn_gradients(rng):
    fastnn.manual_seed(0)
    check_module_gradients(_residual_cnn(), rng.standard_normal((2, 1, 6, 6)))


def test_inception_block_gradients(rng):
    fastnn.manual_seed(0)
    check_module_gradients(_inception(), rng.standard_normal((2, 2, 5, 5)))


def _toy_images(rng, n=96):
    """Three classes of 8x8 images: a bright row band, a bright column band, or a bright corner."""
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.5
    x[y == 0, 0, 3:5, :] += 2
    x[y == 1, 0, :, 3:5] += 2
    x[y == 2, 0, :3, :3] += 2
    return x, y


@pytest.mark.parametrize("build, channels", [(_residual_cnn, 1), (_inception, 2)], ids=["residual", "inception"])
def test_cnn_blocks_train(rng, build, channels):
    fastnn.manual_seed(0)
    model = build()
    x, y = _toy_images(rng)
    x = np.repeat(x, channels, axis=1)
    opt = fastnn.optim.Adam(model.parameters(), lr=0.02)
    loss = nn.CrossEntropyLoss()
    losses = []
    for _ in range(40):
        opt.zero_grad()
        losses.append(loss(model(x), y))
        model.backward(loss.backward())
        opt.step()
    assert losses[-1] < 0.6 * losses[0], losses


def test_backward_without_input_gradient_gives_the_same_parameter_gradients(rng):
    """fit asks for need_dx=False: the parameter gradients must not change, dx is None."""
    for build, x in [(lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)),
                      rng.standard_normal((4, 3, 2, 2))),
                     (_residual_cnn, rng.standard_normal((2, 1, 6, 6)))]:
        fastnn.manual_seed(0)
        model = build().double()
        dy = rng.standard_normal(model(x).shape)
        model.zero_grad()
        model(x)
        dx = model.backward(dy)
        full = [p.grad.copy() for p in model.parameters()]
        model.zero_grad()
        model(x)
        assert model.backward(dy, need_dx=False) is None
        for a, b in zip(full, model.parameters()):
            np.testing.assert_array_equal(a, b.grad)
        assert dx.shape == x.shape


def test_a_layer_used_twice_refuses_backward_but_runs_forward():
    """A layer keeps only its last forward's input: training a Sequential that uses one layer
    twice would give wrong gradients, so backward refuses; the forward (inference) is fine."""
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    x = np.ones((2, 3), np.float32)
    y = model(x)
    np.testing.assert_allclose(y, lin(np.tanh(lin(x))), rtol=1e-6)
    with pytest.raises(RuntimeError, match="appears more than once"):
        model.backward(np.ones_like(y))
