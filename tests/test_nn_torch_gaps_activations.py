"""Activation / repr behaviours that differed from PyTorch's, found by comparing against torch:
ints printed as floats in reprs, float32 inputs compared with float64 parameters, Softmin on a
0-d input, in-place layers on a non-contiguous view, extra_repr of modules with children."""
import numpy as np
import pytest

from fastnn import nn

REPR_CASES = [
    "Softplus(beta=2, threshold=10)", "Softplus(beta=0.5, threshold=5)", "Threshold(1, 2)", "Threshold(-1, 7, True)",
    "Hardtanh(-2, 2)", "CELU(2)", "ELU(2)", "LeakyReLU(0)", "RReLU(0, 1)", "Hardshrink(1)", "Softshrink(1)",
    "Dropout(0)", "Dropout2d(1)", "BatchNorm2d(3, eps=1, momentum=0)", "LayerNorm(3, eps=1)", "GroupNorm(1, 3, eps=1)",
    "InstanceNorm2d(3, eps=1)", "LocalResponseNorm(2, 1, 1, 1)", "ConstantPad2d(1, 2)", "ConstantPad1d(1, 2)",
    "ConstantPad3d(1, 2)", "Hardswish(inplace=True)", "Hardsigmoid(inplace=True)", "Sequential()",
    "MultiheadAttention(4, 2)", "TransformerEncoderLayer(4, 2, 8)", "TransformerDecoderLayer(4, 2, 8)",
    "Transformer(4, 2, 1, 1, 8)", "Sequential(Sequential(Conv2d(1, 2, 3), BatchNorm2d(2)), Flatten())",
]


@pytest.mark.parametrize("case", REPR_CASES)
def test_repr_is_torchs(case):
    torch = pytest.importorskip("torch")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's nested-tensor notice for Transformer
        want = repr(eval(case, vars(torch.nn)))
    assert repr(eval(case, vars(nn))) == want


def test_an_int_argument_stays_an_int():
    """torch keeps the value given (Softplus(beta=2).beta is 2); the checks used to make it 2.0."""
    assert repr(nn.Softplus(beta=2)) == "Softplus(beta=2, threshold=20.0)"
    layer = nn.BatchNorm1d(4, eps=1)
    assert type(layer.eps) is int and layer.eps == 1
    assert type(nn.ELU(0.5).alpha) is float


def test_a_container_with_its_own_extra_repr_shows_it_before_the_children():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 1)

        def extra_repr(self):
            return "hello=1"

    class Empty(nn.Module):
        pass

    assert repr(Block()) == "Block(\n  hello=1\n  (fc): Linear(in_features=1, out_features=1, bias=True)\n)"
    assert repr(Empty()) == "Empty()"
    assert nn.MultiheadAttention(4, 2).extra_repr() == "" and nn.Sequential(nn.ReLU()).extra_repr() == ""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_are_rounded_to_the_input_dtype_before_comparing(dtype):
    """x == float32(0.1) is at the threshold 0.1 for a float32 input (torch rounds the parameter
    to the input's dtype); comparing in float64 put it above."""
    x = np.array([0.1, -0.1, 0.7, 0.3], dtype)
    at = dtype(0.1) == x[0]
    thr = nn.Threshold(0.1, -5.0)(x)
    assert thr[0] == (-5.0 if at else x[0]) and thr[1] == -5.0
    np.testing.assert_array_equal(nn.Hardshrink(0.1)(x)[:2], [0, 0])
    np.testing.assert_array_equal(nn.Softshrink(0.1)(x)[:2], [0, 0])
    layer = nn.Hardtanh(0.1, 0.7)
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones(4, dtype)), [0, 0, 0, 1])
    shrink = nn.Hardshrink(0.1)
    shrink(x)
    np.testing.assert_array_equal(shrink.backward(np.ones(4, dtype)), [0, 0, 1, 1])


def test_against_torch_at_the_parameter_values():
    torch = pytest.importorskip("torch")
    x = np.array([0.1, -0.1, 0.5, -0.5, 0.7, 2.0, -0.0, 0.0, np.nan], np.float32)
    for ours, theirs in [(nn.Threshold(0.1, -5.0), torch.nn.Threshold(0.1, -5.0)),
                         (nn.Hardshrink(0.1), torch.nn.Hardshrink(0.1)), (nn.Softshrink(0.1), torch.nn.Softshrink(0.1)),
                         (nn.Softshrink(0.5), torch.nn.Softshrink(0.5)), (nn.Hardtanh(0.1, 0.7), torch.nn.Hardtanh(0.1, 0.7))]:
        t = torch.tensor(x, requires_grad=True)
        ty = theirs(t)
        ty.backward(torch.ones_like(ty))
        y = ours(x)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        assert (np.signbit(y) == np.signbit(ty.detach().numpy()))[~np.isnan(y)].all(), ours
        np.testing.assert_array_equal(ours.backward(np.ones_like(x)), t.grad.numpy())


def test_softmin_of_a_0d_input():
    layer = nn.Softmin(dim=0)
    y = layer(np.array(0.3, np.float32))
    assert isinstance(y, np.ndarray) and y.shape == () and y == 1.0
    dx = layer.backward(np.array(2.0, np.float32))
    assert isinstance(dx, np.ndarray) and dx.shape == () and dx == 0.0


INPLACE = ["ReLU", "LeakyReLU", "ELU", "CELU", "SELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid", "ReLU6", "Hardtanh"]


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_on_a_strided_view_writes_the_viewed_array(name):
    """torch writes through a view; fastnn used to return a new array and leave a
    non-contiguous input unchanged."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 4, 6)) * 4).astype(np.float32)
    base = x.copy()
    view = base[:, :, ::2]
    layer = getattr(nn, name)(inplace=True)
    y = layer(view)
    assert y is view
    want = getattr(nn, name)()(x[:, :, ::2])
    np.testing.assert_array_equal(base[:, :, ::2], want)
    np.testing.assert_array_equal(base[:, :, 1::2], x[:, :, 1::2])  # the rest untouched
    dy = rng.standard_normal(view.shape).astype(np.float32)
    ref = getattr(nn, name)()
    ref(x[:, :, ::2])
    np.testing.assert_array_equal(layer.backward(dy), ref.backward(dy))


def test_inplace_leaves_a_read_only_input_alone():
    x = np.linspace(-1, 1, 6, dtype=np.float32)
    x.setflags(write=False)
    y = nn.ReLU(inplace=True)(x)
    assert y is not x and x[0] == -1 and y[0] == 0


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_functional_losses_take_torchs_weight(fn, reduction):
    """torch 2.13's weight= (elementwise, the input's shape): 'mean' divides by the sum of the
    weights for mse and l1, by the element count for huber. fastnn refused weight=."""
    from fastnn.nn import functional as F

    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3))
    w = rng.random((2, 4, 3))
    d = x - t
    loss = {"mse_loss": d ** 2, "l1_loss": np.abs(d),
            "huber_loss": np.where(np.abs(d) < 1, 0.5 * d ** 2, np.abs(d) - 0.5)}[fn] * w
    want = {"none": loss, "sum": loss.sum(),
            "mean": loss.sum() / (w.sum() if fn != "huber_loss" else loss.size)}[reduction]
    np.testing.assert_allclose(getattr(F, fn)(x, t, reduction=reduction, weight=w), want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"weight must have the shape of input \(2, 4, 3\), got \(4, 3\)"):
        getattr(F, fn)(x, t, reduction=reduction, weight=w[0])


def test_weighted_functional_losses_match_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    from fastnn.nn import functional as F

    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.random((5, 3)).astype(np.float32)
    for fn in ("mse_loss", "l1_loss", "huber_loss"):
        for reduction in ("none", "mean", "sum"):
            theirs = getattr(TF, fn)(torch.tensor(x), torch.tensor(t), reduction=reduction, weight=torch.tensor(w))
            np.testing.assert_allclose(getattr(F, fn)(x, t, reduction=reduction, weight=w), theirs.numpy(),
                                       rtol=2e-6, atol=1e-6)
