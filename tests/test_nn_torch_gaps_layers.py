"""Layer behaviours that differed from PyTorch's, found by comparing against torch:
ConvTranspose1d.forward(x, output_size), the zero / constant pads on inputs of any rank, the
shape error for a long range of ranks, and the reprs of Embedding (an int norm_type),
AdaptiveMaxPool2d (no return_indices) and Unflatten (a list kept as given)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn.layers import ShapeError

DTYPES = [np.float32, np.float64]


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-11}


def _torch_dtype(torch, dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


# --- 1. ConvTranspose1d.forward(x, output_size) ----------------------------------------------

CT1_CONFIGS = [
    # (in, out, kernel, stride, padding, dilation, groups, bias, input shape, output_size)
    (3, 4, 3, 3, 1, 2, 1, True, (2, 3, 5), (17,)),
    (3, 4, 3, 3, 1, 2, 1, True, (2, 3, 5), [16]),
    (3, 4, 3, 3, 1, 2, 1, True, (2, 3, 5), (2, 4, 16)),  # with N, C
    (3, 4, 3, 3, 1, 2, 1, True, (2, 3, 5), (15,)),       # the smallest: output_padding 0
    (4, 6, 2, 2, 0, 1, 2, False, (1, 4, 6), [13]),
    (2, 2, 4, 4, 2, 1, 1, True, (2, 7), (2, 25)),        # unbatched, with C
    (2, 2, 4, 4, 2, 1, 1, True, (2, 7), (27,)),          # unbatched, the largest
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CT1_CONFIGS)
def test_conv_transpose1d_output_size_forward_and_backward_as_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    cin, cout, k, s, p, d, g, bias, shape, output_size = cfg
    rng = np.random.default_rng(0)
    layer = nn.ConvTranspose1d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    if dtype == np.float64:
        layer = layer.double()
    ref = torch.nn.ConvTranspose1d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    ref = ref.to(_torch_dtype(torch, dtype))
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.weight.data))
        if bias:
            ref.bias.copy_(torch.tensor(layer.bias.data))
    x = rng.standard_normal(shape).astype(dtype)
    y = layer(x, output_size)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx, output_size)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), **_tol(dtype))
    dy = rng.standard_normal(y.shape).astype(dtype)
    layer.zero_grad()
    dx = layer.backward(dy)
    ty.backward(torch.tensor(dy))
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, tx.grad.numpy(), **_tol(dtype))
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), **_tol(dtype))
    if bias:
        np.testing.assert_allclose(layer.bias.grad, ref.bias.grad.numpy(), **_tol(dtype))
    # for that call only: the layer's own output_padding still gives the default size
    assert layer.output_padding == (0,)
    assert layer(x).shape == tuple(ref(torch.tensor(x)).shape)


def test_conv_transpose1d_output_size_through_forward_and_a_sequential_call():
    torch = pytest.importorskip("torch")
    layer = nn.ConvTranspose1d(2, 3, 3, stride=2)
    ref = torch.nn.ConvTranspose1d(2, 3, 3, stride=2)
    x = np.zeros((1, 2, 4), np.float32)
    assert layer.forward(x, output_size=[10]).shape == tuple(ref(torch.tensor(x), output_size=[10]).shape) \
        == (1, 3, 10)


@pytest.mark.parametrize("output_size", [(14,), (18,), [2, 4, 20], (0,)])
def test_conv_transpose1d_output_size_out_of_range_is_a_value_error_as_torch(output_size):
    torch = pytest.importorskip("torch")
    layer = nn.ConvTranspose1d(3, 4, 3, stride=3, padding=1, dilation=2)
    ref = torch.nn.ConvTranspose1d(3, 4, 3, stride=3, padding=1, dilation=2)
    x = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(ValueError):
        ref(torch.tensor(x), output_size)
    with pytest.raises(ValueError, match=r"ConvTranspose1d: requested an output size of .*valid sizes range from "
                                         r"\(15,\) to \(17,\)"):
        layer(x, output_size)


@pytest.mark.parametrize("output_size", [(1, 16), (2, 4, 16, 1)])
def test_conv_transpose1d_output_size_of_a_wrong_length_is_a_value_error_as_torch(output_size):
    torch = pytest.importorskip("torch")
    layer = nn.ConvTranspose1d(3, 4, 3, stride=3)
    x = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(ValueError):
        torch.nn.ConvTranspose1d(3, 4, 3, stride=3)(torch.tensor(x), output_size)
    with pytest.raises(ValueError, match=r"output_size must have 1 or 3 elements"):
        layer(x, output_size)


def test_conv_transpose1d_output_size_not_ints_is_a_type_error():
    torch = pytest.importorskip("torch")
    layer = nn.ConvTranspose1d(3, 4, 3, stride=3)
    x = np.zeros((2, 3, 5), np.float32)
    with pytest.raises(TypeError):
        torch.nn.ConvTranspose1d(3, 4, 3, stride=3)(torch.tensor(x), 15)
    for bad in (15, (15.0,), (True,)):
        with pytest.raises(TypeError, match="output_size must be a tuple or list of ints"):
            layer(x, bad)


# --- 2. zero / constant pads on inputs of any rank -------------------------------------------

PAD_CASES = [
    ("ZeroPad1d", ((1, -2),), [(5,), (2, 3, 4, 5), (1, 2, 1, 2, 2, 6)]),
    ("ConstantPad1d", ((2, 1), 1.5), [(5,), (2, 3, 4, 5)]),
    ("ZeroPad2d", (1,), [(4, 5), (1, 2, 3, 4, 5), (2, 1, 2, 1, 2, 3, 3)]),
    ("ConstantPad2d", ((1, 0, -1, 2), -2), [(4, 5), (1, 2, 3, 4, 5)]),
    ("ZeroPad3d", ((1, 0, 2, 1, 0, 1),), [(3, 4, 5), (2, 1, 2, 3, 4, 5)]),
    ("ConstantPad3d", (1, 3.5), [(3, 4, 5), (1, 2, 2, 3, 4, 5)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,shape", [(n, a, s) for n, a, shapes in PAD_CASES for s in shapes])
def test_constant_pads_pad_the_last_axes_of_any_rank_as_torch(name, args, shape, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    layer, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    x = rng.standard_normal(shape).astype(dtype)
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    np.testing.assert_array_equal(y, ty.detach().numpy())  # copies: exact
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    ty.backward(torch.tensor(dy))
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_array_equal(dx, tx.grad.numpy())


def test_zero_pad2d_examples_of_the_torch_docs_shapes():
    assert nn.ZeroPad2d(1)(np.zeros((4, 5), np.float32)).shape == (6, 7)
    assert nn.ZeroPad2d(1)(np.zeros((1, 2, 3, 4, 5), np.float32)).shape == (1, 2, 3, 6, 7)
    assert nn.ConstantPad1d(1, 0.5)(np.zeros((2, 3, 4, 5), np.float32)).shape == (2, 3, 4, 7)


@pytest.mark.parametrize("name,args,shape", [
    ("ZeroPad1d", (1,), ()), ("ConstantPad1d", (1, 2.0), ()), ("ZeroPad2d", (1,), (5,)),
    ("ConstantPad2d", (1, 2.0), ()), ("ZeroPad3d", (1,), (4, 5)), ("ConstantPad3d", (1, 2.0), (5,)),
])
def test_constant_pads_on_too_few_dimensions_raise_as_torch(name, args, shape):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        getattr(torch.nn, name)(*args)(torch.zeros(shape))
    need = {"1d": 1, "2d": 2, "3d": 3}[name[-2:]]
    with pytest.raises(ShapeError, match=rf"{name} expects an input of at least {need} dimension\(s\) "
                                         rf"\({need}-D to 32-D\), got shape") as info:
        getattr(nn, name)(*args)(np.zeros(shape, np.float32))
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)


def test_only_the_constant_pads_take_any_rank_the_others_keep_torchs_rule():
    torch = pytest.importorskip("torch")
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert nn.ZeroPad1d(1)(x).shape == tuple(torch.nn.ZeroPad1d(1)(torch.tensor(x)).shape) == (2, 3, 4, 7)
    for name in ("ReflectionPad1d", "ReplicationPad1d", "CircularPad1d"):
        with pytest.raises((NotImplementedError, RuntimeError, ValueError)):
            getattr(torch.nn, name)(1)(torch.tensor(x))
        with pytest.raises(ShapeError, match="2-D or 3-D"):
            getattr(nn, name)(1)(x)
    x2 = np.zeros((4, 5), np.float32)
    assert nn.ZeroPad2d(1)(x2).shape == (6, 7)
    for name in ("ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"):
        with pytest.raises(ShapeError, match="3-D or 4-D"):
            getattr(nn, name)(1)(x2)


# --- 3. the shape error of a long range of ranks ---------------------------------------------

def test_a_long_range_of_ranks_is_named_by_its_bounds():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.Linear(3, 2)(torch.zeros(()))
    cases = [
        (lambda: nn.Unflatten(1, (2, 3))(np.zeros((), np.float32)),
         "Unflatten expects an input of at least 1 dimension(s) (1-D to 32-D), got shape ()"),
        (lambda: nn.Linear(3, 2)(np.zeros((), np.float32)),
         "Linear expects an input of at least 1 dimension(s) (1-D to 32-D), got shape ()"),
        (lambda: nn.PixelShuffle(2)(np.zeros((4, 2), np.float32)),
         "PixelShuffle expects an input of at least 3 dimension(s) (3-D to 32-D), got shape (4, 2)"),
        (lambda: nn.PReLU()(np.zeros((1,) * 33, np.float32)),
         f"PReLU expects an input of at most 32 dimension(s) (0-D to 32-D), got shape {(1,) * 33}"),
    ]
    for run, message in cases:
        with pytest.raises(ShapeError) as info:
            run()
        assert str(info.value) == message
        assert " or " not in str(info.value)  # not "1-D or 2-D or ... or 32-D"
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)


def test_short_lists_of_ranks_keep_their_message():
    # alongside the long-range form above (the only part that changed): a short list still
    # names each rank
    with pytest.raises(ShapeError) as info:
        nn.Unflatten(1, (2, 3))(np.zeros((), np.float32))
    assert "1-D or 2-D" not in str(info.value)
    with pytest.raises(ShapeError, match=r"^Conv2d expects a 3-D or 4-D input, got shape \(2, 6\)$"):
        nn.Conv2d(1, 1, 1)(np.zeros((2, 6), np.float32))
    with pytest.raises(ShapeError, match=r"^Upsample expects a 3-D or 4-D or 5-D input, got shape \(4, 4\)$"):
        nn.Upsample(scale_factor=2)(np.zeros((4, 4), np.float32))


# --- 4. reprs as torch prints them -----------------------------------------------------------

REPR_CASES = [
    "Embedding(5, 3, max_norm=1, norm_type=1)", "Embedding(5, 3, norm_type=3)", "Embedding(5, 3, norm_type=1)",
    "Embedding(5, 3, padding_idx=1, max_norm=2, norm_type=1, scale_grad_by_freq=True)",
    "AdaptiveMaxPool2d((3, 4), return_indices=True)", "AdaptiveMaxPool2d(3, True)",
    "AdaptiveMaxPool2d((3, None), return_indices=True)",
    "Unflatten(1, [2, 3])", "Unflatten(-1, [2, -1])",
]


@pytest.mark.parametrize("case", REPR_CASES)
def test_repr_is_torchs(case):
    torch = pytest.importorskip("torch")
    assert repr(eval(case, vars(nn))) == repr(eval(case, vars(torch.nn)))


def test_adaptive_max_pool_reprs_omit_return_indices_in_every_rank():
    torch = pytest.importorskip("torch")
    for name, size in (("AdaptiveMaxPool1d", 3), ("AdaptiveMaxPool2d", (3, 4)), ("AdaptiveMaxPool3d", (1, 2, 3))):
        ours, ref = getattr(nn, name)(size, return_indices=True), getattr(torch.nn, name)(size, return_indices=True)
        assert repr(ours) == repr(ref) == f"{name}(output_size={size})"
        assert ours.return_indices is True


def test_embedding_int_norm_type_is_kept_and_renorms_as_torch():
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        w = np.random.default_rng(2).standard_normal((5, 3)).astype(dtype) * 2
        ours = nn.Embedding(5, 3, max_norm=1, norm_type=1, _weight=w.copy())
        ref = torch.nn.Embedding(5, 3, max_norm=1, norm_type=1, _weight=torch.tensor(w.copy()))
        assert type(ours.norm_type) is int and ours.norm_type == ref.norm_type == 1
        assert repr(ours) == repr(ref) == "Embedding(5, 3, max_norm=1, norm_type=1)"
        idx = np.array([[0, 2], [2, 4]])
        y = ours(idx)
        ty = ref(torch.tensor(idx))
        np.testing.assert_allclose(y, ty.detach().numpy(), **_tol(dtype))
        np.testing.assert_allclose(ours.weight.data, ref.weight.detach().numpy(), **_tol(dtype))
        dy = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
        ours.backward(dy)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), **_tol(dtype))
    assert type(nn.Embedding(5, 3, norm_type=2.5).norm_type) is float
    assert repr(nn.Embedding(5, 3, norm_type=float("inf"))) == "Embedding(5, 3, norm_type=inf)"


def test_unflatten_keeps_a_list_or_a_tuple_as_given_and_runs_as_torch():
    torch = pytest.importorskip("torch")
    as_list, as_tuple = nn.Unflatten(1, [2, 3]), nn.Unflatten(1, (2, 3))
    assert as_list.unflattened_size == [2, 3] and type(as_list.unflattened_size) is list
    assert as_tuple.unflattened_size == (2, 3) and type(as_tuple.unflattened_size) is tuple
    for dtype in DTYPES:
        x = np.arange(24, dtype=dtype).reshape(4, 6)
        y = as_list(x)
        ty = torch.nn.Unflatten(1, [2, 3])(torch.tensor(x))
        np.testing.assert_array_equal(y, ty.numpy())
        assert as_list.backward(np.ones_like(y)).shape == x.shape
    with pytest.raises(ValueError, match=r"unflattened_size=\[2, 4\] has 8 elements"):
        nn.Unflatten(1, [2, 4])(np.zeros((3, 6), np.float32))


@pytest.mark.parametrize("make", [
    lambda: nn.Unflatten(1, [2, 3]), lambda: nn.Unflatten(-1, [2, -1]),
    lambda: nn.Embedding(5, 3, max_norm=1, norm_type=1),
    lambda: nn.AdaptiveMaxPool2d((3, 4), return_indices=True),
])
def test_saved_configs_round_trip(make, tmp_path):
    layer = make()
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    for attr in ("unflattened_size", "norm_type", "return_indices"):
        if hasattr(layer, attr):
            assert type(getattr(loaded, attr)) is type(getattr(layer, attr))
            assert getattr(loaded, attr) == getattr(layer, attr)
    if isinstance(layer, nn.Unflatten):
        assert repr(loaded) == ("Unflatten(dim=1, unflattened_size=[2, 3])" if layer.dim == 1
                                else "Unflatten(dim=-1, unflattened_size=[2, -1])")
    elif isinstance(layer, nn.Embedding):
        assert repr(loaded) == "Embedding(5, 3, max_norm=1, norm_type=1)"
    else:
        assert repr(loaded) == "AdaptiveMaxPool2d(output_size=(3, 4))" and loaded.return_indices is True


def test_an_unflatten_config_saved_before_loads_a_tuple(tmp_path):
    # configs saved before the list mark existed hold a list for a tuple; a list-given layer's
    # config carries the mark, a tuple-given one's does not
    assert nn.Unflatten.from_config({"dim": 1, "unflattened_size": [2, 3]}).unflattened_size == (2, 3)
    config = nn.Unflatten(1, [2, 3]).get_config()
    assert config == {"dim": 1, "unflattened_size": [2, 3], "unflattened_size_is_list": True}
    assert nn.Unflatten.from_config(config).unflattened_size == [2, 3]
    tup = nn.Unflatten(-1, (2, -1))
    assert tup.get_config() == {"dim": -1, "unflattened_size": [2, -1]}
    fastnn.save(tup, tmp_path / "tuple.fnn")
    loaded = fastnn.load(tmp_path / "tuple.fnn")
    assert loaded.unflattened_size == (2, -1) and type(loaded.unflattened_size) is tuple
    assert repr(loaded) == repr(tup) == "Unflatten(dim=-1, unflattened_size=(2, -1))"
