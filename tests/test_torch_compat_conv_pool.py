"""torch.nn semantics of Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d and Dropout that fastnn
follows: unbatched (C, H, W) inputs, Conv2d's padding_mode, ConvTranspose2d's output_size and
padding_mode, Dropout's inplace. Outputs, input gradients and parameter gradients are compared
with torch.nn's on the same weights.

Tolerances (tests/tolerances.py): float64 results against torch's float64 with "conv" /
"conv_backward" (1e-12 / 1e-11: both sum the same products in different orders); float32
results against torch in float64 on the same float32 values (the truth) with the float32
entries. Max pooling copies values: exact (its gradient too where windows do not overlap;
where they do, a sum of a few terms: "avg_pool"). padding_mode's input gradient sums the padded
elements' gradients in float64, then rounds once: within "conv_backward" too. An unbatched
result must equal the batched N = 1 result bit for bit (the same kernels on the same data).
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from tolerances import tol

torch = pytest.importorskip("torch")
# torch's note that its 'same' padding of an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

F32, F64 = np.float32, np.float64
DTYPES = [F32, F64]
EXACT = {"rtol": 0, "atol": 0}


def _tol(op, dtype):
    return EXACT if op == "exact" else tol(op, dtype)


def _copy_params(layer, ref, rng):
    """The same float32-representable values into both (ref's in float64)."""
    names = [n for n, _ in layer.named_parameters()]
    assert names == [n for n, _ in ref.named_parameters()]
    for (_, p), (_, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        values = rng.uniform(-1.0, 1.0, p.shape).astype(F32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(F64)))


def _torch_forward_backward(ref, x, dy_of, **kwargs):
    """(y, dx, dy) of torch's float64 module: dy_of(y shape) gives the incoming gradient."""
    tx = torch.tensor(x.astype(F64), requires_grad=True)
    ty = ref(tx, **kwargs)
    dy = dy_of(tuple(ty.shape))
    ty.backward(torch.tensor(dy.astype(F64)))
    return ty.detach().numpy(), tx.grad.numpy(), dy


def _compare(layer, ref, x, rng, fwd="conv", bwd="conv_backward", **kwargs):
    """Run layer and ref on x (forward, backward with the same dy) and compare every result."""
    dtype = x.dtype
    ty, tdx, dy = _torch_forward_backward(ref, x, lambda shape: rng.standard_normal(shape).astype(dtype), **kwargs)
    y = layer.forward(x, **kwargs) if kwargs else layer(x)
    assert y.shape == ty.shape and y.dtype == dtype
    np.testing.assert_allclose(y, ty, **_tol(fwd, dtype))
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, tdx, **_tol(bwd, dtype))
    tparams = dict(ref.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **_tol(bwd, dtype), err_msg=name)
    return y, dx


def _pair(make):
    """(fastnn layer, torch layer) from one constructor call on each namespace."""
    return make(nn), make(torch.nn).double()


# ---- unbatched (C, H, W) inputs ------------------------------------------------------------

UNBATCHED = [
    ("Conv2d", lambda m: m.Conv2d(3, 4, 3), (3, 7, 6), "conv", "conv_backward"),
    ("Conv2d stride padding", lambda m: m.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 2)), (2, 8, 5), "conv",
     "conv_backward"),
    ("Conv2d same even kernel", lambda m: m.Conv2d(2, 2, 4, padding="same"), (2, 6, 5), "conv", "conv_backward"),
    ("Conv2d dilation groups no bias", lambda m: m.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, bias=False),
     (4, 7, 8), "conv", "conv_backward"),
    ("Conv2d reflect", lambda m: m.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (2, 5, 6), "conv",
     "conv_backward"),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(3, 2, 3), (3, 4, 5), "conv", "conv_backward"),
    ("ConvTranspose2d stride output_padding",
     lambda m: m.ConvTranspose2d(2, 4, (3, 4), stride=(2, 3), padding=1, output_padding=(1, 2)), (2, 3, 4), "conv",
     "conv_backward"),
    ("ConvTranspose2d groups dilation", lambda m: m.ConvTranspose2d(4, 2, 3, groups=2, dilation=2, bias=False),
     (4, 3, 3), "conv", "conv_backward"),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), (3, 6, 7), "exact", "exact"),
    # overlapping windows: an element's gradient is a sum of windows' (rounded in float32)
    ("MaxPool2d stride padding ceil", lambda m: m.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 6, 8), "exact",
     "avg_pool"),
    ("MaxPool2d dilation", lambda m: m.MaxPool2d(2, 1, dilation=2), (2, 6, 5), "exact", "avg_pool"),
    ("AvgPool2d", lambda m: m.AvgPool2d(2), (3, 6, 7), "avg_pool", "avg_pool"),
    ("AvgPool2d padding no pad count", lambda m: m.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 7, 6),
     "avg_pool", "avg_pool"),
    ("AvgPool2d ceil divisor", lambda m: m.AvgPool2d(2, ceil_mode=True, divisor_override=3), (2, 5, 5),
     "avg_pool", "avg_pool"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, make, shape, fwd, bwd", UNBATCHED, ids=[c[0] for c in UNBATCHED])
def test_unbatched_input_matches_torch(name, make, shape, fwd, bwd, dtype):
    rng = np.random.default_rng(1)
    layer, ref = _pair(make)
    layer.to(dtype)
    _copy_params(layer, ref, rng)
    x = rng.standard_normal(shape).astype(dtype)
    y, dx = _compare(layer, ref, x, rng, fwd, bwd)
    assert y.ndim == 3 and dx.ndim == 3


@pytest.mark.parametrize("name, make, shape, fwd, bwd", UNBATCHED, ids=[c[0] for c in UNBATCHED])
def test_unbatched_equals_batched_of_one(name, make, shape, fwd, bwd):
    """The 3-D result is the N = 1 result without its batch axis, exactly; so are the gradients."""
    rng = np.random.default_rng(2)
    one, batched = make(nn).double(), make(nn).double()
    batched.load_state_dict(one.state_dict())
    x = rng.standard_normal(shape)
    y, y4 = one(x), batched(x[None])
    assert y.shape == y4.shape[1:]
    np.testing.assert_array_equal(y, y4[0])
    dy = rng.standard_normal(y.shape)
    dx, dx4 = one.backward(dy), batched.backward(dy[None])
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, dx4[0])
    for (n, p), (_, p4) in zip(one.named_parameters(), batched.named_parameters()):
        np.testing.assert_array_equal(p.grad, p4.grad, err_msg=n)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=2, stride=1, dilation=2)])
def test_max_pool_return_indices_unbatched_are_torchs(kw):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7, 6))
    y, idx = nn.MaxPool2d(**kw, return_indices=True)(x)
    ty, tidx = torch.nn.MaxPool2d(**kw, return_indices=True)(torch.tensor(x))
    assert idx.shape == tuple(tidx.shape) == y.shape and idx.ndim == 3
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3), lambda: nn.ConvTranspose2d(2, 3, 3)],
                         ids=["Conv2d", "ConvTranspose2d"])
def test_unbatched_conv_need_dx_false_and_accumulation(make):
    rng = np.random.default_rng(4)
    layer = make()
    x = rng.standard_normal((2, 6, 5)).astype(F32)
    dy = rng.standard_normal(layer(x).shape).astype(F32)
    assert layer.backward(dy).shape == x.shape
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert layer.backward(dy, need_dx=False) is None
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, err_msg=n)


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3), lambda: nn.ConvTranspose2d(2, 3, 3),
                                  lambda: nn.MaxPool2d(2), lambda: nn.AvgPool2d(2)],
                         ids=["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("shape", [(6, 6), (1, 1, 2, 6, 6), (2,)])
def test_wrong_rank_says_3d_or_4d(make, shape):
    layer = make()
    with pytest.raises(ValueError, match=rf"{type(layer).__name__} expects a 3-D or 4-D input, got shape "
                                         rf"\({', '.join(map(str, shape))},?\)"):
        layer(np.zeros(shape, F32))


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3), lambda: nn.ConvTranspose2d(2, 3, 3)],
                         ids=["Conv2d", "ConvTranspose2d"])
def test_unbatched_wrong_channels_names_axis_0(make):
    with pytest.raises(ValueError, match=r"expects 2 features along axis 0, got input shape \(3, 6, 6\)"):
        make()(np.zeros((3, 6, 6), F32))
    with pytest.raises(ValueError, match=r"expects 2 features along axis 1, got input shape \(1, 3, 6, 6\)"):
        make()(np.zeros((1, 3, 6, 6), F32))


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(2, 3, 3), lambda: nn.ConvTranspose2d(2, 3, 3),
                                  lambda: nn.MaxPool2d(2), lambda: nn.AvgPool2d(2)],
                         ids=["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d"])
def test_unbatched_backward_wants_the_unbatched_dy(make):
    layer = make()
    y = layer(np.ones((2, 6, 6), F32))
    with pytest.raises(ValueError, match=rf"expects dy of shape \({', '.join(map(str, y.shape))}\)"):
        layer.backward(np.ones((1,) + y.shape, F32))  # the batched shape after an unbatched forward
    with pytest.raises(ValueError, match="expects dy of shape"):
        layer.backward(np.ones(y.shape[:2] + (y.shape[2] + 1,), F32))
    with pytest.raises(TypeError, match="numpy.ndarray or cupy.ndarray"):
        layer.backward(y.tolist())
    assert layer.backward(np.ones(y.shape, F32)).shape == (2, 6, 6)


# ---- Sequential with an unbatched input ------------------------------------------------------

def _torch_copy(model, ref):
    with torch.no_grad():
        for (name, p), (tname, tp) in zip(model.named_parameters(), ref.named_parameters()):
            assert name == tname
            tp.copy_(torch.tensor(p.data))


def _sequential_against_torch(make, shape):
    rng = np.random.default_rng(5)
    model, ref = make(nn).double(), make(torch.nn).double()
    _torch_copy(model, ref)
    x = rng.standard_normal(shape)
    _compare(model, ref, x, rng)


def test_sequential_unbatched_conv_relu_maxpool_fused():
    _sequential_against_torch(lambda m: m.Sequential(m.Conv2d(2, 3, 3, padding=1), m.ReLU(), m.MaxPool2d(2)),
                              (2, 6, 8))


def test_sequential_unbatched_unfused_layers_and_linear_relu():
    """Conv2d -> Tanh -> MaxPool2d (no fused step), then Flatten(0) and Linear + ReLU (fused)."""
    _sequential_against_torch(lambda m: m.Sequential(m.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
                                                     m.Tanh(), m.MaxPool2d(2), m.ConvTranspose2d(3, 2, 2, stride=2),
                                                     m.AvgPool2d(2), m.Flatten(0), m.Linear(24, 5), m.ReLU()),
                              (2, 6, 8))


# ---- Conv2d(padding_mode=...) --------------------------------------------------------------

MODES = ["zeros", "reflect", "replicate", "circular"]
PADDING_CONFIGS = [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=3, padding=2),
    dict(kernel_size=(3, 2), padding=(2, 1)),
    dict(kernel_size=(2, 3), padding=(0, 2)),
    dict(kernel_size=3, padding=2, stride=2),
    dict(kernel_size=(3, 3), padding=(1, 3), stride=(2, 3)),
    dict(kernel_size=3, padding=2, dilation=2),
    dict(kernel_size=(2, 3), padding=(1, 2), dilation=(3, 1)),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=(2, 1), groups=4, dilation=(1, 2), stride=(1, 2), bias=False),
    dict(kernel_size=4, padding="same"),
    dict(kernel_size=(2, 3), padding="same", dilation=(1, 2)),
    dict(kernel_size=(3, 4), padding="same", dilation=2),
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=3, padding=0, stride=2),
]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("cfg", PADDING_CONFIGS, ids=[str(c) for c in PADDING_CONFIGS])
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_padding_mode_matches_torch_float64(mode, cfg, batched):
    rng = np.random.default_rng(6)
    make = lambda m: m.Conv2d(4, 8, **cfg, padding_mode=mode)  # noqa: E731
    layer, ref = _pair(make)
    layer.double()
    _copy_params(layer, ref, rng)
    shape = (2, 4, 6, 7) if batched else (4, 6, 7)
    _compare(layer, ref, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("mode", MODES[1:])
def test_conv2d_padding_mode_matches_torch_float32(mode):
    rng = np.random.default_rng(7)
    layer, ref = _pair(lambda m: m.Conv2d(3, 4, (3, 4), padding=(2, 3), stride=(1, 2), padding_mode=mode))
    _copy_params(layer, ref, rng)
    _compare(layer, ref, rng.standard_normal((2, 3, 5, 6)).astype(F32), rng)


@pytest.mark.parametrize("mode", MODES[1:])
def test_conv2d_padding_mode_is_not_zero_padding(mode):
    """The modes differ from zeros (and from each other) on a non-constant input: a layer that
    ignored padding_mode would fail here even if torch did the same."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 5, 5))
    zeros, other = nn.Conv2d(2, 2, 3, padding=2).double(), nn.Conv2d(2, 2, 3, padding=2, padding_mode=mode).double()
    other.load_state_dict(zeros.state_dict())
    assert not np.allclose(zeros(x), other(x))


def test_conv2d_padding_mode_gradient_folds_into_the_source():
    """1x1 kernel of weight 1, no bias: y is the padded input itself, so dx[i] counts how often
    each input element was copied (reflect, padding 1 along a length-3 row: [1, 3, 1])."""
    layer = nn.Conv2d(1, 1, 1, padding=(0, 1), padding_mode="reflect", bias=False).double()
    layer.weight.data[...] = 1.0
    x = np.arange(3.0).reshape(1, 1, 3)
    np.testing.assert_array_equal(layer(x), [[[1.0, 0.0, 1.0, 2.0, 1.0]]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 5))), [[[1.0, 3.0, 1.0]]])


def test_conv2d_padding_mode_need_dx_false():
    rng = np.random.default_rng(9)
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate").double()
    x = rng.standard_normal((2, 2, 5, 5))
    dy = rng.standard_normal(layer(x).shape)
    assert layer.backward(dy, need_dx=False) is None
    dw = layer.weight.grad.copy()
    layer.zero_grad()
    assert layer.backward(dy).shape == x.shape
    np.testing.assert_array_equal(layer.weight.grad, dw)


@pytest.mark.parametrize("mode", ["foo", "Zeros", "constant", None, 0])
def test_conv2d_invalid_padding_mode(mode):
    with pytest.raises(ValueError, match=r"padding_mode must be one of \('zeros', 'reflect', 'replicate', "
                                         rf"'circular'\). Received: padding_mode={mode!r}"):
        nn.Conv2d(1, 1, 3, padding_mode=mode)
    with pytest.raises(ValueError, match="padding_mode"):
        torch.nn.Conv2d(1, 1, 3, padding_mode=mode)


@pytest.mark.parametrize("mode, padding, shape, ok", [
    ("reflect", 2, (1, 1, 2, 5), False),  # padding 2 on a side of 2: torch refuses it
    ("reflect", 2, (1, 1, 3, 5), True),
    ("reflect", (1, 3), (1, 4, 3), False),  # 3 columns of padding on a width of 3
    ("circular", 3, (1, 1, 3, 5), True),  # wraps around once
    ("circular", 4, (1, 1, 3, 5), False),
    ("replicate", 4, (1, 1, 1, 1), True),
])
def test_conv2d_padding_mode_size_rules_as_torch(mode, padding, shape, ok):
    x = np.zeros(shape)
    layer = nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode).double()
    ref = torch.nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode).double()
    if ok:
        assert layer(x).shape == tuple(ref(torch.tensor(x)).shape)
        return
    with pytest.raises(RuntimeError):
        ref(torch.tensor(x))
    what = "reflection padding" if mode == "reflect" else "circular padding"
    with pytest.raises(ValueError, match=rf"Conv2d\(padding=.*padding_mode='{mode}'\).*{what}"):
        layer(x)


def test_conv2d_padding_mode_config_and_save_load(tmp_path):
    rng = np.random.default_rng(10)
    plain = nn.Conv2d(2, 3, 3, padding=1)
    assert "padding_mode" not in plain.get_config()  # saved configs keep their old form
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")
    config = layer.get_config()
    assert config["padding_mode"] == "circular"
    assert nn.Conv2d.from_config(config).padding_mode == "circular"
    old = {k: v for k, v in config.items() if k != "padding_mode"}  # a config written before the option
    assert nn.Conv2d.from_config(old).padding_mode == "zeros"
    model = nn.Sequential(layer, nn.ReLU(), nn.Conv2d(3, 2, 2, padding="same", padding_mode="reflect"))
    x = rng.standard_normal((2, 2, 5, 6)).astype(F32)
    model.eval()
    y = model(x)
    fastnn.save(model, tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert [getattr(m, "padding_mode", None) for m in loaded] == ["circular", None, "reflect"]
    np.testing.assert_array_equal(loaded(x), y)


# ---- ConvTranspose2d output_size and padding_mode ------------------------------------------

TRANSPOSE_CONFIGS = [
    dict(kernel_size=3, stride=2),
    dict(kernel_size=(3, 4), stride=(3, 2), padding=(1, 0)),
    dict(kernel_size=2, stride=3, padding=1, output_padding=1),  # output_size overrides output_padding
    dict(kernel_size=3, stride=2, dilation=2, groups=2),
    dict(kernel_size=3, stride=1, dilation=3, output_padding=2),  # one valid size: output_padding 0
]


def _both(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _size_range(cfg, hw):
    """torch's valid output sizes (lowest, highest) per axis, written out from its formula."""
    k, s = _both(cfg["kernel_size"]), _both(cfg["stride"])
    p, d = _both(cfg.get("padding", 0)), _both(cfg.get("dilation", 1))
    lo = tuple((hw[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 for i in range(2))
    return lo, tuple(lo[i] + s[i] - 1 for i in range(2))


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("cfg", TRANSPOSE_CONFIGS, ids=[str(c) for c in TRANSPOSE_CONFIGS])
def test_conv_transpose_output_size_matches_torch(cfg, batched):
    rng = np.random.default_rng(11)
    layer, ref = _pair(lambda m: m.ConvTranspose2d(4, 6, **cfg))
    layer.double()
    _copy_params(layer, ref, rng)
    shape = (2, 4, 3, 4) if batched else (4, 3, 4)
    lo, hi = _size_range(cfg, shape[-2:])
    x = rng.standard_normal(shape)
    for size in sorted({(lo[0], hi[1]), (hi[0], lo[1]), (hi[0], hi[1])}):
        for spelled in (size, list(size), shape[:-2] + size):  # (OH, OW), or with x's leading axes
            layer.zero_grad()
            ref.zero_grad()
            y, _ = _compare(layer, ref, x, rng, output_size=spelled)
            assert y.shape[-2:] == size
    # a forward without output_size is back to the layer's own output_padding
    layer.zero_grad()
    ref.zero_grad()
    y, _ = _compare(layer, ref, x, rng)
    assert y.shape[-2:] == tuple(lo[i] + _both(cfg.get("output_padding", 0))[i] for i in range(2))


def test_conv_transpose_output_size_picks_output_padding_for_backward():
    """backward uses the forward's output_padding (from output_size), not the layer's."""
    rng = np.random.default_rng(12)
    layer = nn.ConvTranspose2d(2, 3, 3, stride=3).double()
    x = rng.standard_normal((1, 2, 3, 3))
    y = layer.forward(x, output_size=(11, 9))
    assert y.shape == (1, 3, 11, 9)
    assert layer.backward(rng.standard_normal(y.shape)).shape == x.shape
    with pytest.raises(ValueError, match="dy"):
        layer.backward(rng.standard_normal((1, 3, 9, 9)))


@pytest.mark.parametrize("shape, output_size, exc, message", [
    ((1, 1, 4, 4), (11, 10), ValueError, r"valid sizes range from \(9, 9\) to \(10, 10\)"),
    ((1, 1, 4, 4), (8, 9), ValueError, r"requested an output size of \(8, 9\)"),
    ((1, 4, 4), (1, 1, 10, 10), ValueError, "for a 3-D input, output_size must have 2 or 3 elements"),
    ((1, 1, 4, 4), (5, 1, 1, 10, 10), ValueError, "for a 4-D input, output_size must have 2 or 4 elements"),
    ((1, 1, 4, 4), (10,), ValueError, "must have 2 or 4 elements"),
    ((1, 1, 4, 4), 10, TypeError, "output_size must be a tuple or list of ints. Received: output_size=10"),
    ((1, 1, 4, 4), (10.0, 10), TypeError, "Received: output_size=\\(10.0, 10\\)"),
])
def test_conv_transpose_output_size_errors_as_torch(shape, output_size, exc, message):
    x = np.zeros(shape)
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        torch.nn.ConvTranspose2d(1, 1, 3, stride=2).double()(torch.tensor(x), output_size=output_size)
    with pytest.raises(exc, match=message):
        nn.ConvTranspose2d(1, 1, 3, stride=2).double().forward(x, output_size=output_size)


def test_conv_transpose_padding_mode_zeros_only():
    assert nn.ConvTranspose2d(1, 1, 3, padding_mode="zeros").padding_mode == "zeros"
    assert "padding_mode" not in nn.ConvTranspose2d(1, 1, 3).get_config()
    for mode in ["reflect", "replicate", "circular", "foo"]:
        with pytest.raises(ValueError):
            torch.nn.ConvTranspose2d(1, 1, 3, padding_mode=mode)
        with pytest.raises(ValueError, match=rf"supports only padding_mode='zeros'.*Received: padding_mode='{mode}'"):
            nn.ConvTranspose2d(1, 1, 3, padding_mode=mode)


# ---- Dropout(inplace=True) -------------------------------------------------------------------

def _dropout(x, inplace, seed=123, p=0.4):
    fastnn.manual_seed(seed)
    layer = nn.Dropout(p, inplace=inplace)
    y = layer(x)
    return layer, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 50), (3, 2, 5, 5), ()])
def test_dropout_inplace_writes_into_x_with_the_same_values(dtype, shape):
    x = np.asarray(np.random.default_rng(13).standard_normal(shape) + 3.0, dtype)  # no zeros in x
    _, want = _dropout(x.copy(), inplace=False)
    target = x.copy()
    layer, got = _dropout(target, inplace=True)
    assert got is target
    np.testing.assert_array_equal(target, want)
    if target.size > 1:
        assert (target == 0).any() and (target != 0).any()  # some dropped, some kept: x was changed
    plain, _ = _dropout(x.copy(), inplace=False)
    dy = np.random.default_rng(14).standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(layer.backward(dy), plain.backward(dy))


def test_dropout_inplace_strided_view_is_written_in_place():
    base = np.random.default_rng(15).standard_normal((6, 8)) + 3.0
    _, want = _dropout(base[:, ::2].copy(), inplace=False)
    view = base[:, ::2]
    untouched = base[:, 1::2].copy()
    got = _dropout(view, inplace=True)[1]
    assert got is view
    np.testing.assert_array_equal(base[:, ::2], want)
    np.testing.assert_array_equal(base[:, 1::2], untouched)


def test_dropout_inplace_read_only_input_gets_a_new_array():
    x = np.random.default_rng(16).standard_normal((4, 6)) + 3.0
    _, want = _dropout(x.copy(), inplace=False)
    x.flags.writeable = False
    kept = x.copy()
    y = _dropout(x, inplace=True)[1]
    assert y is not x
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(x, kept)


def test_dropout_inplace_p1_keeps_nan_as_torch():
    x = np.array([1.0, np.nan, -np.inf, 2.0])
    got = _dropout(x, inplace=True, p=1.0)[1]
    t = torch.tensor([1.0, np.nan, -np.inf, 2.0])
    torch.nn.Dropout(1.0, inplace=True)(t)
    assert got is x
    np.testing.assert_array_equal(x, t.numpy())  # zeros, NaN where x was NaN or inf


@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_eval_and_p0_return_x_itself(inplace):
    x = np.ones((3, 4), F32)
    layer = nn.Dropout(0.5, inplace=inplace).eval()
    assert layer(x) is x and layer.backward(x) is x
    t = torch.ones(3, 4)
    assert torch.nn.Dropout(0.5, inplace=inplace).eval()(t) is t
    assert nn.Dropout(0.0, inplace=inplace)(x) is x
    np.testing.assert_array_equal(x, 1.0)


def test_dropout_inplace_after_relu_trains_as_torch():
    """ReLU keeps its input, so an in-place Dropout after it gives torch's gradients."""
    rng = np.random.default_rng(17)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(0.5, inplace=True)).double()
    ref = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU()).double()
    _torch_copy(model, ref)
    x = rng.standard_normal((6, 5))
    fastnn.manual_seed(3)
    y = model(x)
    mask = model[2]._mask.astype(F64) / 0.5  # fastnn's own mask, applied to torch's output
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx) * torch.tensor(mask)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(model.backward(dy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (n, p), (_, tp) in zip(model.named_parameters(), ref.named_parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=n)


def test_dropout_inplace_config_and_validation():
    assert nn.Dropout(0.3).get_config() == {"p": 0.3}
    config = nn.Dropout(0.3, inplace=True).get_config()
    assert config == {"p": 0.3, "inplace": True}
    assert nn.Dropout.from_config(config).inplace is True
    assert nn.Dropout.from_config({"p": 0.3}).inplace is False
    with pytest.raises(TypeError, match="Received: inplace='yes'"):
        nn.Dropout(0.3, inplace="yes")


# ---- error types: fastnn's ValueError is also torch's class for the same mistake -------------

@pytest.mark.parametrize("call", [
    lambda: nn.Linear(3, 2)(np.zeros((2, 4), np.float32)),
    lambda: nn.Conv2d(3, 2, 1)(np.zeros((1, 4, 2, 2), np.float32)),
    lambda: nn.Conv2d(3, 2, 1)(np.zeros((4, 2, 2), np.float32)),
    lambda: nn.Conv2d(3, 2, 1)(np.zeros((2, 2), np.float32)),
    lambda: nn.BatchNorm2d(3)(np.zeros((2, 4, 2, 2), np.float32)),
    lambda: nn.MaxPool2d(2)(np.zeros((1, 1, 1, 4, 4), np.float32))])
def test_shape_errors_are_value_and_runtime_errors(call):
    """torch raises RuntimeError for these; fastnn's ShapeError is both."""
    for cls in (ValueError, RuntimeError):
        with pytest.raises(cls, match="expects"):
            call()


def test_softmax_axis_out_of_range_is_value_and_index_error():
    for cls in (ValueError, IndexError):
        with pytest.raises(cls, match="out of range"):
            nn.Softmax(dim=2)(np.zeros((2, 3), np.float32))


# ---- BatchNorm(bias=False): torch 2.13's keyword -------------------------------------------

@pytest.mark.parametrize("cls, shape", [("BatchNorm2d", (4, 3, 5, 2)), ("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5))])
def test_batch_norm_without_bias_matches_torch(cls, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    ours, ref = getattr(nn, cls)(3, bias=False).double(), getattr(torch.nn, cls)(3, bias=False).double()
    assert ours.bias is None and ref.bias is None
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    w = rng.uniform(0.5, 1.5, 3)
    ours.weight.data[...] = w
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(w))
    for training in (True, False):
        ours.train(training)
        ref.train(training)
        x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
        tx = torch.from_numpy(x).requires_grad_()
        y = ours(x)
        ty = ref(tx)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        ours.zero_grad()
        ref.zero_grad()
        dx = ours.backward(dy)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-9, atol=1e-11)
    assert [p.data.shape for p in ours.parameters()] == [(3,)]
    again = getattr(nn, cls)(**ours.get_config())
    assert again.bias is None and ours.get_config()["bias"] is False
    assert "bias" not in getattr(nn, cls)(3).get_config()
    with pytest.raises(TypeError, match="bias"):
        getattr(nn, cls)(3, bias="no")
