"""Every layer: forward against a direct formula or the op it wraps, backward (inputs and
parameters) against float64 central differences, through fastnn.ops."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, reference
from nn_helpers import away_from_zero, check_module_gradients


# ---- Linear ------------------------------------------------------------------------------
def test_linear_forward_is_x_wt_plus_b(rng):
    layer = nn.Linear(5, 3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == (4, 3)
    want = x.astype(np.float64) @ layer.weight.data.T.astype(np.float64) + layer.bias.data
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    assert layer.weight.shape == (3, 5)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(rng, bias):
    check_module_gradients(nn.Linear(4, 3, bias=bias), rng.standard_normal((5, 4)))


def test_linear_accepts_leading_axes_and_accumulates_grads(rng):
    layer = nn.Linear(3, 2).double()
    check_module_gradients(layer, rng.standard_normal((2, 4, 3)))
    x = rng.standard_normal((6, 3))
    dy = rng.standard_normal((6, 2))
    layer.zero_grad()
    layer(x)
    layer.backward(dy)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-12)


def test_linear_default_init_bound_is_1_over_sqrt_fan_in():
    fastnn.manual_seed(0)
    layer = nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound  # uses the whole range
    assert nn.Dense is nn.Linear


def test_linear_named_init():
    fastnn.manual_seed(0)
    layer = nn.Linear(300, 200, init="he_normal")
    assert np.all(layer.bias.data == 0)
    assert abs(layer.weight.data.std() - np.sqrt(2 / 300)) < 0.01 * np.sqrt(2 / 300) * 10
    layer = nn.Linear(300, 200, init="glorot_uniform")
    assert np.abs(layer.weight.data).max() <= np.sqrt(6 / 500)


@pytest.mark.parametrize("kwargs, message", [
    ({"in_features": -3, "out_features": 2}, "Received: in_features=-3"),
    ({"in_features": 3, "out_features": 0}, "Received: out_features=0"),
    ({"in_features": 3.5, "out_features": 2}, "Received: in_features=3.5"),
    ({"in_features": 3, "out_features": 2, "init": "bogus"}, "Received: init='bogus'"),
])
def test_linear_validates(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        nn.Linear(**kwargs)


def test_linear_wrong_input_shape_is_clear(rng):
    with pytest.raises(ValueError, match="expects 4 features"):
        nn.Linear(4, 2)(rng.standard_normal((3, 5)).astype(np.float32))


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2), np.float32))


# ---- activations -------------------------------------------------------------------------
ACTIVATIONS = [
    (nn.Sigmoid, {"beta": 1.5}), (nn.Tanh, {}), (nn.ReLU, {}), (nn.LeakyReLU, {"negative_slope": 0.2}),
    (nn.Softplus, {"beta": 0.7}), (nn.Swish, {"beta": 1.3}), (nn.ELU, {"alpha": 0.8}), (nn.Softmax, {}),
    (nn.LogSoftmax, {}), (nn.Step, {}), (nn.SiLU, {}),
]


@pytest.mark.parametrize("cls, kwargs", ACTIVATIONS, ids=[c.__name__ for c, _ in ACTIVATIONS])
def test_activation_layer_gradients(rng, cls, kwargs):
    layer = cls(**kwargs)
    check_module_gradients(layer, away_from_zero(rng, (3, 5), scale=2.0))


def test_activation_layers_match_ops(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(nn.Sigmoid(2.0)(x), fastnn.ops.sigmoid(x, 2.0))
    np.testing.assert_array_equal(nn.LeakyReLU(0.3)(x), fastnn.ops.leaky_relu(x, 0.3))
    np.testing.assert_array_equal(nn.Softmax()(x), fastnn.ops.softmax(x))


def test_softmax_over_channel_axis(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = nn.Softmax(axis=1)(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    check_module_gradients(nn.Softmax(axis=1), x)


def test_activation_validation():
    with pytest.raises(ValueError, match="Received: beta=0.0"):
        nn.Softplus(beta=0.0)
    with pytest.raises(TypeError, match="Received: negative_slope='a'"):
        nn.LeakyReLU("a")


# ---- convolution -------------------------------------------------------------------------
@pytest.mark.parametrize("stride, padding, bias", [(1, 0, True), (2, 1, True), ((1, 2), (1, 0), False)])
def test_conv2d_gradients(rng, stride, padding, bias):
    layer = nn.Conv2d(2, 3, (3, 2), stride=stride, padding=padding, bias=bias)
    check_module_gradients(layer, rng.standard_normal((2, 2, 5, 6)))


def test_conv2d_forward_matches_direct_loop(rng):
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    x = rng.standard_normal((2, 2, 5, 4))
    y = layer(x)
    w, b = layer.weight.data, layer.bias.data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert y.shape == (2, 3, 3, 2)
    for n in range(2):
        for o in range(3):
            for i in range(3):
                for j in range(2):
                    want = np.sum(xp[n, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3] * w[o]) + b[o]
                    assert abs(y[n, o, i, j] - want) < 1e-12


def test_conv2d_default_init_and_validation():
    fastnn.manual_seed(1)
    layer = nn.Conv2d(4, 8, 3)
    assert layer.weight.shape == (8, 4, 3, 3)
    assert np.abs(layer.weight.data).max() <= 1 / np.sqrt(4 * 9)
    with pytest.raises(ValueError, match="Received: kernel_size=0"):
        nn.Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="Received: padding=-1"):
        nn.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="expects 4 features"):
        nn.Conv2d(4, 2, 3)(np.zeros((1, 3, 5, 5), np.float32))


@pytest.mark.parametrize("kernel", [3, 4, (2, 5), (1, 1), (5, 2)])
def test_conv2d_padding_same_keeps_the_size_and_matches_torch(rng, kernel):
    layer = nn.Conv2d(2, 3, kernel, padding="same").double()
    x = rng.standard_normal((2, 2, 6, 7))
    y = layer(x)
    assert y.shape == (2, 3, 6, 7)
    check_module_gradients(layer, x)
    _matches_torch_conv2d(layer, x, y, rng, padding="same")


def _matches_torch_conv2d(layer, x, y, rng, **torch_kwargs):
    """y = layer(x) and the layer's dx, dw, db against torch.nn.functional.conv2d (float64)."""
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.weight.data, requires_grad=True)
    tb = None if layer.bias is None else torch.tensor(layer.bias.data, requires_grad=True)
    with warnings.catch_warnings():  # torch, too, pads a copy for an even kernel (and says so)
        warnings.simplefilter("ignore", UserWarning)
        ty = torch.nn.functional.conv2d(tx, tw, tb, **torch_kwargs)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    layer.zero_grad()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, tw.grad.numpy(), rtol=1e-12, atol=1e-12)
    if tb is not None:
        np.testing.assert_allclose(layer.bias.grad, tb.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert dx.flags.c_contiguous


def test_conv2d_padding_strings_valid_config_and_errors(rng, tmp_path):
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    valid = nn.Conv2d(2, 1, 3, padding="valid")
    assert valid(x).shape == (1, 1, 3, 3) and valid.get_config()["padding"] == "valid"
    model = nn.Sequential(nn.Conv2d(2, 4, 4, padding="same"), nn.ReLU())
    path = tmp_path / "same.npz"
    fastnn.save(model, path)
    again = fastnn.load(path)
    assert again[0].padding == "same"
    np.testing.assert_array_equal(again(x), model(x))
    f32 = nn.Conv2d(2, 3, 2, padding="same")
    assert f32(x).dtype == np.float32 and f32(x).shape == (1, 3, 5, 5)
    with pytest.raises(ValueError, match="needs stride 1"):
        nn.Conv2d(2, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Received: padding='full'"):
        nn.Conv2d(2, 1, 3, padding="full")
    from fastnn import ops
    w = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="needs stride 1"):
        ops.conv2d_forward(x, w, None, stride=2, padding="same")
    with pytest.raises(ValueError, match="got 'full'"):
        ops.conv2d_backward(np.zeros((1, 1, 5, 5), np.float32), x, w, padding="full")


@pytest.mark.parametrize("c, oc, kernel, kw", [
    (4, 6, 3, {"dilation": 2, "padding": 2}),
    (3, 2, (2, 3), {"dilation": (1, 3), "stride": (2, 1)}),
    (4, 6, 3, {"groups": 2, "padding": 1}),
    (4, 4, 3, {"groups": 4, "stride": 2, "padding": 1}),  # depthwise
    (6, 3, (3, 2), {"groups": 3, "dilation": (2, 1), "padding": "same", "bias": False}),
    (4, 8, 1, {"groups": 2}),  # grouped pointwise
])
def test_conv2d_dilation_and_groups_match_torch(rng, c, oc, kernel, kw):
    layer = nn.Conv2d(c, oc, kernel, **kw).double()
    x = rng.standard_normal((2, c, 7, 8))
    y = layer(x)
    check_module_gradients(layer, x)
    _matches_torch_conv2d(layer, x, y, rng, **{k: v for k, v in kw.items() if k != "bias"})
    assert layer.weight.shape == (oc, c // kw.get("groups", 1)) + tuple(np.broadcast_to(kernel, 2))
    again = nn.Conv2d(**layer.get_config()).double()
    again.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(again(x), y)


def test_conv2d_groups_errors_and_float32(rng):
    with pytest.raises(ValueError, match="in_channels must be divisible by groups. Received: in_channels=3, groups=2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Received: dilation=0"):
        nn.Conv2d(4, 4, 3, dilation=0)
    from fastnn import ops
    x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
    with pytest.raises(ValueError, match=r"with groups=2 expects 6"):
        ops.conv2d_forward(x, np.zeros((4, 3, 3, 3), np.float32), groups=2)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        ops.conv2d_forward(x, np.zeros((4, 4, 3, 3), np.float32), groups=0)
    layer = nn.Conv2d(4, 8, 3, groups=4, dilation=2, padding="same")
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == (1, 8, 6, 6)
    want = layer.double()(x.astype(np.float64))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, padding, output_padding", [(1, 0, 0), (2, 1, 1)])
def test_conv_transpose2d_gradients_and_shape(rng, stride, padding, output_padding):
    layer = nn.ConvTranspose2d(2, 3, 3, stride=stride, padding=padding, output_padding=output_padding)
    assert layer.weight.shape == (2, 3, 3, 3)
    x = rng.standard_normal((2, 2, 3, 4))
    check_module_gradients(layer, x)
    y = layer(x)
    assert y.shape == (2, 3, (3 - 1) * stride - 2 * padding + 3 + output_padding,
                       (4 - 1) * stride - 2 * padding + 3 + output_padding)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(1, 1, 3, stride=1, output_padding=1)


def test_conv_transpose2d_groups_dilation_as_torch(rng):
    torch = pytest.importorskip("torch")
    layer = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=(1, 2), groups=2, bias=True,
                               dilation=(1, 3)).double()
    assert layer.weight.shape == (4, 3, 3, 2)
    # default init: U(+-1/sqrt(fan_in)), fan_in = out_channels / groups * KH * KW (torch's)
    assert np.abs(layer.weight.data).max() <= 1 / np.sqrt(3 * 3 * 2)
    ref = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=(1, 2), groups=2,
                                   dilation=(1, 3)).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.weight.data))
        ref.bias.copy_(torch.from_numpy(layer.bias.data))
    x = rng.standard_normal((2, 4, 3, 4))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = ref(tx)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_module_gradients(nn.ConvTranspose2d(2, 4, 2, stride=1, output_padding=1, dilation=2, groups=2),
                           rng.standard_normal((1, 2, 3, 3)))
    config = layer.get_config()
    assert config["groups"] == 2 and config["dilation"] == [1, 3]
    assert nn.ConvTranspose2d(**config).weight.shape == layer.weight.shape
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="stride .* or dilation"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2, dilation=2)


def test_conv_transpose2d_is_the_adjoint_of_conv2d(rng):
    """<conv(x), y> == <x, conv_transpose(y)> with the same weights and no bias."""
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False).double()
    tconv = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, bias=False).double()
    tconv.weight.data[...] = conv.weight.data
    x = rng.standard_normal((1, 2, 5, 5))
    y = rng.standard_normal((1, 3, 3, 3))
    np.testing.assert_allclose(np.sum(conv(x) * y), np.sum(x * tconv(y)), rtol=1e-12)


# ---- pooling -----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), 0)])
def test_max_pool_gradients(rng, kernel, stride, padding):
    check_module_gradients(nn.MaxPool2d(kernel, stride, padding), rng.standard_normal((2, 3, 6, 7)))


def test_max_pool_forward(rng):
    x = rng.standard_normal((2, 3, 4, 6)).astype(np.float32)
    y = nn.MaxPool2d(2)(x)
    np.testing.assert_array_equal(y, x.reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5)))
    with pytest.raises(ValueError, match="Received: padding=2"):
        nn.MaxPool2d(3, padding=2)


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_gradients(rng, count_include_pad):
    check_module_gradients(nn.AvgPool2d(3, 2, 1, count_include_pad=count_include_pad),
                           rng.standard_normal((2, 2, 5, 6)))


def test_avg_pool_forward(rng):
    x = rng.standard_normal((2, 3, 4, 6))
    np.testing.assert_allclose(nn.AvgPool2d(2)(x), x.reshape(2, 3, 2, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-12)


def test_global_avg_pool(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(x), x.mean(axis=(2, 3)), rtol=1e-12)
    check_module_gradients(nn.GlobalAvgPool2d(), x)


# ---- batch norm --------------------------------------------------------------------------
@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                        (nn.BatchNorm2d, (3, 2, 3, 4))])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients(rng, cls, shape, training):
    layer = cls(shape[1])
    layer.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
    layer.bias.data[...] = rng.standard_normal(shape[1])
    layer.running_mean[...] = rng.standard_normal(shape[1])
    layer.running_var[...] = rng.uniform(0.5, 2, shape[1])
    layer.train(training)
    check_module_gradients(layer, rng.standard_normal(shape) * 2 + 1)


def test_batch_norm_statistics(rng):
    layer = nn.BatchNorm2d(3, momentum=0.1).double()
    x = rng.standard_normal((4, 3, 5, 5)) * 3 + 2
    y = layer(x)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)  # eps=1e-5 of var ~9
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-12)
    layer.eval()
    before = layer.running_mean.copy()
    y_eval = layer(x)
    np.testing.assert_array_equal(layer.running_mean, before)
    want = (x - before[None, :, None, None]) / np.sqrt(layer.running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, want, rtol=1e-12)


def test_batch_norm_without_affine(rng):
    layer = nn.BatchNorm1d(3, affine=False)
    assert layer.parameters() == []
    assert set(layer.state_dict()) == {"running_mean", "running_var", "num_batches_tracked"}
    check_module_gradients(layer, rng.standard_normal((5, 3)))


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm2d, (4, 3, 2, 5))])
@pytest.mark.parametrize("momentum, track", [(None, True), (0.1, False), (None, False)])
def test_batch_norm_cumulative_average_and_untracked_stats_match_torch(rng, cls, shape, momentum, track):
    torch = pytest.importorskip("torch")
    ours = cls(3, momentum=momentum, track_running_stats=track).double()
    theirs = getattr(torch.nn, cls.__name__)(3, momentum=momentum, track_running_stats=track).double()
    ours.weight.data[:] = theirs.weight.detach().numpy()[:] = rng.uniform(0.5, 1.5, 3)
    for step in range(4):  # the running statistics average four batches of different scale
        x = rng.standard_normal(shape) * (step + 1) + step
        np.testing.assert_allclose(ours(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    if track:
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 4
    else:
        assert ours.running_mean is None and "running_mean" not in ours.state_dict()
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape) + 3.0
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(tx)
    np.testing.assert_allclose(ours(x), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(shape)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(ours.backward(dy), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    check_module_gradients(ours, rng.standard_normal(shape))


def test_batch_norm_options_survive_save_and_load(rng, tmp_path):
    model = nn.Sequential(nn.BatchNorm1d(3, momentum=None), nn.BatchNorm1d(3, track_running_stats=False))
    for _ in range(3):
        model(rng.standard_normal((5, 3)).astype(np.float32))
    path = tmp_path / "bn.npz"
    fastnn.save(model, path)
    again = fastnn.load(path)
    assert int(again[0].num_batches_tracked) == 3 and again[0].momentum is None
    assert again[1].track_running_stats is False and again[1].running_mean is None
    np.testing.assert_array_equal(again[0].running_mean, model[0].running_mean)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    model.eval()
    again.eval()
    np.testing.assert_array_equal(again(x), model(x))
    again.train()
    again(x)
    assert int(again[0].num_batches_tracked) == 4


def test_batch_norm_validation():
    with pytest.raises(ValueError, match="Received: momentum=1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="Received: num_features=0"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="4-D"):
        nn.BatchNorm2d(3)(np.zeros((2, 3), np.float32))


# ---- dropout -----------------------------------------------------------------------------
def test_dropout_gradients_and_reproducibility(rng):
    x = rng.standard_normal((4, 50))
    check_module_gradients(nn.Dropout(0.3), x, seed=7)
    layer = nn.Dropout(0.3).double()
    fastnn.manual_seed(5)
    a = layer(x)
    fastnn.manual_seed(5)
    b = layer(x)
    c = layer(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)  # a fresh mask each forward
    kept = a != 0
    np.testing.assert_allclose(a[kept], x[kept] / 0.7, rtol=1e-12)
    assert 0.5 < kept.mean() < 0.9


def test_dropout_eval_is_identity_and_validates(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    layer = nn.Dropout(0.5).eval()
    assert layer(x) is x
    np.testing.assert_array_equal(layer.backward(x), x)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"Received: p={p}"):
            nn.Dropout(p)


# ---- reshaping ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 3), (4,), (), (2, 0, 3)])
@pytest.mark.parametrize("dims", [(), (0,), (-2,), (1, 2), (0, -2), (2, 2), (-1, -1), (0, 0)])
def test_flatten_dims_as_pytorch(shape, dims, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape)
    try:
        want = torch.nn.Flatten(*dims)(torch.tensor(x)).numpy()
    except (IndexError, RuntimeError):
        with pytest.raises(IndexError):
            nn.Flatten(*dims)(x)
        return
    layer = nn.Flatten(*dims)
    y = layer(x)
    assert y.shape == want.shape
    np.testing.assert_array_equal(y, want)
    assert layer.backward(y).shape == x.shape
    assert nn.Flatten(**layer.get_config())(x).shape == want.shape


def test_flatten_bad_arguments():
    with pytest.raises(TypeError, match="start_dim must be an int"):
        nn.Flatten(1.5)
    with pytest.raises(ValueError, match="start_dim=2 comes after end_dim=1"):  # also a ValueError
        nn.Flatten(2, 1)(np.ones((2, 3, 4)))


def test_softmax_dim_keyword(rng):
    x = rng.standard_normal((2, 3, 4))
    for cls, name in ((nn.Softmax, "softmax"), (nn.LogSoftmax, "log_softmax")):
        np.testing.assert_allclose(cls(dim=1)(x), cls(1)(x))
        np.testing.assert_allclose(cls(dim=0)(x), getattr(reference, name)(np.moveaxis(x, 0, -1)).transpose(2, 0, 1),
                                   rtol=1e-12)
        with pytest.raises(ValueError, match="axis=1 and dim=2 differ"):
            cls(1, dim=2)


def test_flatten_and_reshape(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    check_module_gradients(nn.Flatten(), x)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Reshape((3, -1))(x).shape == (2, 3, 20)
    check_module_gradients(nn.Reshape((5, 12)), x)
    with pytest.raises(ValueError, match="cannot reshape"):
        nn.Reshape((7,))(x)
    with pytest.raises(ValueError, match="Received: shape="):
        nn.Reshape((0, 2))
