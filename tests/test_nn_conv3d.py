"""Conv3d and ConvTranspose3d (fastnn/nn/conv3d.py) against torch.nn's: outputs, dx, dW and db
(torch autograd with a random upstream gradient) on many random geometries in float32 and
float64, unbatched and empty-batch inputs, output_size, reprs, state_dict names and shapes, the
initial weight distribution, configs and save / load, gradient accumulation and argument errors.

Tolerances: tests/tolerances.py's "conv" for y and "conv_backward" for dx, dW and db, as
tests/test_conformance_layers1d.py uses for the convolutions. float32 results are compared with
torch in float64 on the same float32 values (the truth), float64 with torch's float64. The
weights are drawn U(+-1/sqrt(fan_in)) and x, dy ~ N(0, 1), so y and dx are O(1) sums of at most
a few hundred terms; dW and db sum N OD OH OW (< 300 here) O(1) products, as those tolerances
were set for.
"""
import warnings
import zlib

import numpy as np
import pytest

import fastnn
from fastnn.nn.conv3d import Conv3d, ConvTranspose3d
from tolerances import tol

DTYPES = [np.float32, np.float64]
CONV = {d: tol("conv", d) for d in DTYPES}
CONV_BACKWARD = {d: tol("conv_backward", d) for d in DTYPES}
MODES = ("zeros", "reflect", "replicate", "circular")
# torch's note that its 'same' padding of an even kernel copies the input (not an error)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# --- random geometries -------------------------------------------------------------------------

def _conv_cases(count=36, seed=1):
    """(id, kwargs, input shape): stride 1-3, padding up to K - 1, dilation 1-2, groups 1-3, non-cubic
    kernels, every padding_mode, some "same" / "valid" paddings, some kernels as large as the padded input."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        g = int(rng.integers(1, 4))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, 3))
        d = tuple(int(v) for v in rng.integers(1, 3, 3))
        mode = MODES[i % 4]
        kind = i % 6
        if kind == 4:
            padding, s, p = "same", (1, 1, 1), [(dd * (kk - 1)) // 2 + 1 for kk, dd in zip(k, d)]
        elif kind == 5:
            padding, s, p = "valid", tuple(int(v) for v in rng.integers(1, 4, 3)), [0, 0, 0]
        else:
            s = tuple(int(v) for v in rng.integers(1, 4, 3))
            p = [int(rng.integers(0, kk)) for kk in k]
            padding = tuple(p)
        # sizes: the padded input at least the dilated kernel (equal to it in one case of three), the
        # input at least each padding + 1 (reflection's rule), OD OH OW small
        size = []
        for kk, dd, pp in zip(k, d, p):
            span = dd * (kk - 1) + 1
            low = max(span - 2 * pp, pp + 1, 1)
            size.append(low if i % 3 == 0 else low + int(rng.integers(0, 4)))
        n = int(rng.integers(1, 3))
        kw = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=s, padding=padding, dilation=d,
                  groups=g, bias=bool(i % 5), padding_mode=mode)
        cases.append((f"conv{i}", kw, (n, cin) + tuple(size)))
    # fixed corner cases: a cubic kernel the size of the input, 'same' with an even kernel and
    # dilation, stride larger than the kernel
    cases.append(("kernel=input", dict(in_channels=2, out_channels=3, kernel_size=(3, 4, 2)), (2, 2, 3, 4, 2)))
    cases.append(("same even dilated", dict(in_channels=2, out_channels=2, kernel_size=(2, 4, 3), padding="same",
                                            dilation=(3, 1, 2)), (1, 2, 4, 5, 5)))
    cases.append(("stride>kernel", dict(in_channels=3, out_channels=3, kernel_size=1, stride=3, groups=3),
                  (2, 3, 7, 5, 4)))
    return cases


def _transpose_cases(count=24, seed=2):
    """(id, kwargs, input shape): as _conv_cases, plus output_padding < max(stride, dilation)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        g = int(rng.integers(1, 4))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, 3))
        d = tuple(int(v) for v in rng.integers(1, 3, 3))
        s = tuple(int(v) for v in rng.integers(1, 4, 3))
        p = tuple(int(rng.integers(0, kk)) for kk in k)
        op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
        size = []
        for kk, dd, ss, pp in zip(k, d, s, p):  # output (I - 1) S - 2P + D (K - 1) + 1 + op > 0
            low = 1
            while (low - 1) * ss - 2 * pp + dd * (kk - 1) + 1 <= 0:
                low += 1
            size.append(low + int(rng.integers(0, 3)))
        n = int(rng.integers(1, 3))
        kw = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=s, padding=p, output_padding=op,
                  groups=g, bias=bool(i % 4), dilation=d)
        cases.append((f"tconv{i}", kw, (n, cin) + tuple(size)))
    return cases


CONV_CASES = _conv_cases()
TRANSPOSE_CASES = _transpose_cases()


def _pair(torch, cls, tcls, kw, dtype, rng):
    """(fastnn layer in dtype, torch layer in float64) with the same parameters, U(+-1/sqrt(fan_in))
    values representable in dtype."""
    layer, ref = cls(**kw).to(dtype), tcls(**kw).double()
    w = layer.weight.data
    fan_in = int(np.prod(w.shape[1:]))
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        v = (rng.uniform(-1, 1, p.shape) / np.sqrt(fan_in)).astype(dtype)
        p.data[...] = v
        with torch.no_grad():
            tp.copy_(torch.tensor(v.astype(np.float64)))
    return layer, ref


def _check_against_torch(torch, layer, ref, x, dtype, rng, **fwd):
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = ref(tx, **fwd)
    y = layer(x, **fwd)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **CONV[dtype])
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, tx.grad.numpy(), **CONV_BACKWARD[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype and p.grad.shape == tuple(tparams[name].shape)
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), err_msg=name, **CONV_BACKWARD[dtype])
    return y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv3d_matches_torch(torch, case, dtype):
    _, kw, shape = case
    rng = np.random.default_rng(zlib.crc32(case[0].encode()))
    layer, ref = _pair(torch, Conv3d, torch.nn.Conv3d, kw, dtype, rng)
    _check_against_torch(torch, layer, ref, rng.standard_normal(shape).astype(dtype), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=[c[0] for c in TRANSPOSE_CASES])
def test_conv_transpose3d_matches_torch(torch, case, dtype):
    _, kw, shape = case
    rng = np.random.default_rng(zlib.crc32(case[0].encode()))
    layer, ref = _pair(torch, ConvTranspose3d, torch.nn.ConvTranspose3d, kw, dtype, rng)
    _check_against_torch(torch, layer, ref, rng.standard_normal(shape).astype(dtype), dtype, rng)


def test_the_random_geometries_cover_the_brief(torch):
    """Every padding_mode, strides 1-3, dilation 2, groups 1-3, non-cubic kernels and a kernel
    exactly the padded input's size occur in the cases above."""
    kws = [kw for _, kw, _ in CONV_CASES]
    assert {kw.get("padding_mode", "zeros") for kw in kws} == set(MODES)
    assert {s for kw in kws for s in np.atleast_1d(kw.get("stride", 1))} == {1, 2, 3}
    assert {kw.get("groups", 1) for kw in kws} == {1, 2, 3}
    assert any(2 in kw.get("dilation", (1,)) for kw in kws)
    assert any(isinstance(kw["kernel_size"], tuple) and len(set(kw["kernel_size"])) > 1 for kw in kws)
    assert any(kw.get("padding") == "same" for kw in kws)
    tight = 0
    for _, kw, shape in CONV_CASES:
        layer = Conv3d(**kw)
        sides = layer._sides()
        if any(sz + b + a == d * (k - 1) + 1 for sz, (b, a), k, d in
               zip(shape[2:], sides, layer.kernel_size, layer.dilation)):
            tight += 1
    assert tight >= 5
    assert any(any(kw["output_padding"]) for _, kw, _ in TRANSPOSE_CASES)
    assert {kw["groups"] for _, kw, _ in TRANSPOSE_CASES} == {1, 2, 3}


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_input_as_torch(torch, dtype):
    rng = np.random.default_rng(5)
    for cls, tcls, kw in ((Conv3d, torch.nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=(2, 1, 3),
                                                         padding=1, padding_mode="replicate")),
                          (ConvTranspose3d, torch.nn.ConvTranspose3d,
                           dict(in_channels=2, out_channels=4, kernel_size=2, stride=2, groups=2))):
        layer, ref = _pair(torch, cls, tcls, kw, dtype, rng)
        y = _check_against_torch(torch, layer, ref, rng.standard_normal((2, 3, 4, 5)).astype(dtype), dtype, rng)
        assert y.ndim == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(torch, dtype):
    for cls, tcls, kw in ((Conv3d, torch.nn.Conv3d, dict(in_channels=2, out_channels=3, kernel_size=2, stride=2)),
                          (ConvTranspose3d, torch.nn.ConvTranspose3d, dict(in_channels=2, out_channels=3,
                                                                           kernel_size=2, stride=2))):
        layer = cls(**kw).to(dtype)
        ty = tcls(**kw)(torch.zeros((0, 2, 4, 5, 6)))
        y = layer(np.zeros((0, 2, 4, 5, 6), dtype))
        assert y.shape == tuple(ty.shape) and y.dtype == dtype
        dx = layer.backward(np.zeros(y.shape, dtype))
        assert dx.shape == (0, 2, 4, 5, 6)
        assert not layer.weight.grad.any() and not layer.bias.grad.any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose3d_output_size(torch, dtype):
    rng = np.random.default_rng(6)
    kw = dict(in_channels=2, out_channels=2, kernel_size=3, stride=(2, 3, 2), padding=1)
    for size in ((7, 10, 8), [2, 2, 8, 12, 7]):
        layer, ref = _pair(torch, ConvTranspose3d, torch.nn.ConvTranspose3d, kw, dtype, rng)
        y = _check_against_torch(torch, layer, ref, rng.standard_normal((2, 2, 4, 4, 4)).astype(dtype), dtype, rng,
                                 output_size=size)
        assert y.shape[2:] == tuple(size[-3:])
    layer = ConvTranspose3d(**kw)
    with pytest.raises(ValueError,
                       match=r"valid sizes range from \(7, 10, 7\) to \(8, 12, 8\).*output_size=\(9, 10, 7\)"):
        layer(np.zeros((1, 2, 4, 4, 4), np.float32), output_size=(9, 10, 7))
    with pytest.raises(TypeError, match="output_size"):
        layer(np.zeros((1, 2, 4, 4, 4), np.float32), output_size=7.5)


# --- backward bookkeeping -------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Conv3d, ConvTranspose3d])
def test_gradients_accumulate_and_need_dx(cls):
    rng = np.random.default_rng(7)
    layer = cls(4, 2, (2, 3, 2), stride=2, padding=1, groups=2)
    x = rng.standard_normal((2, 4, 5, 4, 6)).astype(np.float32)
    y = layer(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert all(np.abs(g).sum() > 0 for g in first.values())
    layer(x)
    assert layer.backward(dy, need_dx=False) is None
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, atol=1e-7, err_msg=n)
    layer.zero_grad()
    layer(x)
    np.testing.assert_array_equal(layer.backward(dy), dx)
    for n, p in layer.named_parameters():
        np.testing.assert_array_equal(p.grad, first[n], err_msg=n)


@pytest.mark.parametrize("cls", [Conv3d, ConvTranspose3d])
def test_backward_checks_dy_and_needs_forward(cls):
    layer = cls(2, 2, 2)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 2, 2, 2, 2), np.float32))
    y = layer(np.zeros((1, 2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy of shape"):
        layer.backward(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        layer.backward(np.zeros(y.shape, np.float64))
    y = layer(np.zeros((2, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"dy of shape"):
        layer.backward(np.zeros((1,) + y.shape, np.float32))


# --- reprs, state_dict, init, configs -----------------------------------------------------------

REPR_CASES = [
    (Conv3d, dict(in_channels=3, out_channels=4, kernel_size=3)),
    (Conv3d, dict(in_channels=4, out_channels=6, kernel_size=(1, 2, 3), stride=(2, 1, 3), padding=(0, 1, 2),
                  dilation=2, groups=2, bias=False, padding_mode="reflect")),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=2, padding="same", padding_mode="circular")),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=[2, 2, 1], padding="valid", stride=[1, 2, 1])),
    (ConvTranspose3d, dict(in_channels=3, out_channels=4, kernel_size=3)),
    (ConvTranspose3d, dict(in_channels=4, out_channels=2, kernel_size=(3, 1, 2), stride=2, padding=(1, 0, 1),
                           output_padding=(1, 0, 1), groups=2, bias=False, dilation=(1, 2, 1))),
]


@pytest.mark.parametrize("cls, kw", REPR_CASES)
def test_repr_and_state_dict_are_torchs(torch, cls, kw):
    layer, ref = cls(**kw), getattr(torch.nn, cls.__name__)(**kw)
    assert repr(layer) == repr(ref)
    ours, theirs = layer.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k


@pytest.mark.parametrize("cls, kw", [(Conv3d, dict(in_channels=6, out_channels=42, kernel_size=(2, 3, 4), groups=3)),
                                     (ConvTranspose3d, dict(in_channels=40, out_channels=6, kernel_size=(3, 2, 4),
                                                            groups=2))])
def test_initial_weights_are_torchs_distribution(torch, cls, kw):
    """U(+-b) with torch's b = 1/sqrt(fan_in) (kaiming_uniform a = sqrt(5)) for weight and bias: the
    bound from torch's fan_in of its own weight, both layers' extremes near it and their spread alike."""
    fastnn.manual_seed(0)
    layer, ref = cls(**kw), getattr(torch.nn, cls.__name__)(**kw)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(ref.weight)
    bound = 1 / np.sqrt(fan_in)
    for name in ("weight", "bias"):
        ours, theirs = getattr(layer, name).data, getattr(ref, name).detach().numpy()
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        for v in (ours, theirs):
            assert np.abs(v).max() <= bound * (1 + 1e-6)
        if name == "weight":  # thousands of draws: max |w| within 1 % of the bound, std b/sqrt(3) +- 5 %
            assert np.abs(ours).max() > 0.99 * bound
            assert abs(ours.std() - bound / np.sqrt(3)) < 0.05 * bound / np.sqrt(3)
            assert abs(ours.std() - theirs.std()) < 0.1 * theirs.std()
            assert abs(ours.mean()) < 0.05 * bound


def test_init_option_and_reset_parameters():
    fastnn.manual_seed(3)
    layer = Conv3d(2, 3, 2, init="glorot_uniform")
    assert not layer.bias.data.any() and layer.weight.data.any()
    before = layer.weight.data.copy()
    layer.reset_parameters()
    assert not np.array_equal(before, layer.weight.data)
    with pytest.raises(ValueError, match="nope"):
        Conv3d(2, 3, 2, init="nope")
    with pytest.raises(ValueError, match="nope"):
        ConvTranspose3d(2, 3, 2, init="nope")


@pytest.mark.parametrize("cls, kw", REPR_CASES)
def test_config_and_save_load_round_trip(cls, kw, tmp_path):
    fastnn.manual_seed(4)
    layer = cls(**kw)
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is cls and loaded.get_config() == layer.get_config() and repr(loaded) == repr(layer)
    for (n, p), (m, q) in zip(layer.named_parameters(), loaded.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(p.data, q.data)
    again = cls.from_config(layer.get_config())
    assert repr(again) == repr(layer)
    x = np.random.default_rng(0).standard_normal((1, layer.in_channels, 5, 6, 5)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), loaded(x))


# --- argument and input errors -----------------------------------------------------------------

@pytest.mark.parametrize("cls, kw, err, match", [
    (Conv3d, dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), ValueError, "out_channels=6, groups=4"),
    (Conv3d, dict(in_channels=5, out_channels=6, kernel_size=3, groups=2), ValueError, "in_channels=5, groups=2"),
    (ConvTranspose3d, dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), ValueError,
     "out_channels=3, groups=2"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, stride=-1), ValueError, "stride=-1"),
    (ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=3, stride=(1, -2, 1)), ValueError, "stride=-2"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=0), ValueError, "kernel_size=0"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=(2, 2)), ValueError, r"kernel_size=\(2, 2\)"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=2.5), TypeError, "kernel_size=2.5"),
    (Conv3d, dict(in_channels=0, out_channels=2, kernel_size=2), ValueError, "in_channels=0"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding=-1), ValueError, "padding=-1"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding="full"), ValueError, "padding='full'"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding="same", stride=2), ValueError, "stride=2"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding_mode="mirror"), ValueError,
     "padding_mode='mirror'"),
    (Conv3d, dict(in_channels=2, out_channels=2, kernel_size=3, dilation=0), ValueError, "dilation=0"),
    (ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding_mode="reflect"), ValueError,
     "padding_mode='reflect'"),
    (ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=3, stride=2, output_padding=2), ValueError,
     "output_padding=2"),
    (ConvTranspose3d, dict(in_channels=2, out_channels=2, kernel_size=3, padding="same"), TypeError, "padding='same'"),
])
def test_bad_arguments_raise_naming_the_value(torch, cls, kw, err, match):
    with pytest.raises(err, match=match):
        cls(**kw)
    if kw["in_channels"] == 0:  # torch builds an empty layer (fastnn's Conv1d / Conv2d refuse, as here)
        return
    with warnings.catch_warnings():  # torch refuses them too (warning first on empty weights)
        warnings.simplefilter("ignore")
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            getattr(torch.nn, cls.__name__)(**kw)(torch.zeros((1, kw["in_channels"], 4, 4, 4)))


def test_bad_inputs_raise_naming_the_shape(torch):
    layer = Conv3d(3, 2, (2, 5, 2), padding=(0, 1, 0))
    with pytest.raises(ValueError, match=r"3 channels.*\(2, 4, 6, 6, 6\)"):
        layer(np.zeros((2, 4, 6, 6, 6), np.float32))
    with pytest.raises(ValueError, match=r"\(6, 4, 6\).*kernel \(2, 5, 2\)"):  # padded 2 + 2 < 5
        layer(np.zeros((1, 3, 6, 2, 6), np.float32))
    with pytest.raises(RuntimeError):
        torch.nn.Conv3d(3, 2, (2, 5, 2), padding=(0, 1, 0))(torch.zeros((1, 3, 6, 2, 6)))
    assert layer(np.zeros((1, 3, 6, 3, 6), np.float32)).shape == (1, 2, 5, 1, 5)  # padded 3 + 2 fits
    with pytest.raises(ValueError, match=r"4-D or 5-D.*\(3, 6, 6\)"):
        layer(np.zeros((3, 6, 6), np.float32))
    with pytest.raises(TypeError, match="float64"):
        layer(np.zeros((1, 3, 6, 6, 6), np.float64))
    with pytest.raises(TypeError, match="int64"):
        layer(np.zeros((1, 3, 6, 6, 6), np.int64))
    with pytest.raises(ValueError, match="reflection padding"):
        Conv3d(1, 1, 3, padding=2, padding_mode="reflect")(np.zeros((1, 1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="positive"):
        ConvTranspose3d(1, 1, 2, padding=1)(np.zeros((1, 1, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="2 channels"):
        ConvTranspose3d(2, 1, 2)(np.zeros((1, 3, 3, 3, 3), np.float32))


# --- the emulated GPU (tests/fake_cupy.py) and real CuPy where there is a device ----------------

@pytest.mark.parametrize("make, shape", [
    (lambda: Conv3d(4, 6, (2, 3, 1), stride=(1, 2, 1), padding=(1, 1, 0), dilation=(2, 1, 1), groups=2),
     (2, 4, 5, 6, 4)),
    (lambda: Conv3d(2, 3, 3, padding="same", padding_mode="reflect"), (1, 2, 4, 5, 4)),
    (lambda: ConvTranspose3d(4, 2, (2, 3, 2), stride=2, padding=1, output_padding=1, groups=2), (2, 4, 3, 4, 3)),
], ids=["Conv3d grouped", "Conv3d reflect same", "ConvTranspose3d"])
def test_on_the_gpu_like_on_the_cpu(xp, make, shape):
    """The same layer on CuPy arrays gives the host's results (conv tolerances: the GEMMs may sum
    in another order), as CuPy arrays."""
    rng = np.random.default_rng(11)
    layer = make()
    x = rng.standard_normal(shape).astype(np.float32)
    want = layer(x)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want_dx = layer.backward(dy)
    host_grads = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer.to("cuda")
    y = layer(xp.asarray(x))
    dx = layer.backward(xp.asarray(dy))
    assert isinstance(y, xp.ndarray) and isinstance(dx, xp.ndarray)
    assert y.dtype == np.float32 and dx.dtype == np.float32
    np.testing.assert_allclose(y.get(), want, **CONV[np.float32])
    np.testing.assert_allclose(dx.get(), want_dx, **CONV_BACKWARD[np.float32])
    for p, ref in zip(layer.parameters(), host_grads):
        np.testing.assert_allclose(p.grad.get(), ref, **CONV_BACKWARD[np.float32])
