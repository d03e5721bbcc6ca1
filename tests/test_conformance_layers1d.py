"""Conv1d, ConvTranspose1d, MaxPool1d, AvgPool1d, AdaptiveAvgPool1d, AdaptiveMaxPool1d, the
reflection / replication / circular / constant pads, InstanceNorm1d / 2d, PixelShuffle,
PixelUnshuffle, ChannelShuffle and Softmax2d against torch.nn's: outputs and gradients (input
and parameters) on several shapes (batch 1, unbatched, odd lengths, stride / padding /
dilation / groups variants) in float32 and float64, max-pool indices, running statistics,
state_dict names, reprs, configs and errors.

Tolerances (float32 results are compared with torch in float64 on the same float32 values, the
truth; float64 with torch's float64):
- the convolutions run the native 2-D kernels: tests/tolerances.py's "conv" for y and
  "conv_backward" for dx, dw and db (the parameters are drawn in [-1.5, 1.5], fan_in <= 12,
  so y is O(10) at most, as the sums those tolerances were set for).
- max pooling, the pads' and the shuffles' forwards copy values: exact; the shuffles'
  backwards too (a permutation). avg pooling: "avg_pool" (a sum of K terms, one division).
- "computed" (as tests/test_conformance_nn_extra.py): the pads' gradient sums, InstanceNorm and
  Softmax2d are computed in float64 and rounded once: rtol 1e-6, atol 1e-6 in float32 (atol for
  the normalisations' cancelling dx), rtol 1e-12, atol 1e-12 in float64.
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from tolerances import tol

torch = pytest.importorskip("torch")
# torch's note that its own 'same' padding of an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
CONV = {d: tol("conv", d) for d in DTYPES}
CONV_BACKWARD = {d: tol("conv_backward", d) for d in DTYPES}
AVG = {d: tol("avg_pool", d) for d in DTYPES}


def case(name, make, shape, fwd, bwd=COMPUTED):
    """(id, fastnn factory, torch factory (the same constructor call on torch.nn), shape, tolerances)."""
    return (name, lambda: make(nn), lambda: make(torch.nn), shape, fwd, bwd)


CASES = [
    case("Conv1d", lambda m: m.Conv1d(3, 4, 3), (2, 3, 11), CONV, CONV_BACKWARD),
    case("Conv1d batch 1 stride padding", lambda m: m.Conv1d(2, 3, 4, stride=3, padding=2), (1, 2, 13), CONV,
         CONV_BACKWARD),
    case("Conv1d dilation groups", lambda m: m.Conv1d(4, 6, 3, padding=1, dilation=2, groups=2), (3, 4, 9), CONV,
         CONV_BACKWARD),
    case("Conv1d depthwise no bias", lambda m: m.Conv1d(3, 3, 5, groups=3, bias=False), (2, 3, 7), CONV,
         CONV_BACKWARD),
    case("Conv1d same even kernel", lambda m: m.Conv1d(2, 3, 4, padding="same"), (2, 2, 9), CONV, CONV_BACKWARD),
    case("Conv1d same dilation", lambda m: m.Conv1d(2, 2, 3, padding="same", dilation=3), (1, 2, 10), CONV,
         CONV_BACKWARD),
    case("Conv1d valid", lambda m: m.Conv1d(2, 2, 3, padding="valid", stride=2), (2, 2, 8), CONV, CONV_BACKWARD),
    case("Conv1d reflect", lambda m: m.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"), (2, 2, 7), CONV,
         CONV_BACKWARD),
    case("Conv1d replicate stride", lambda m: m.Conv1d(2, 3, 3, stride=2, padding=3, padding_mode="replicate"),
         (1, 2, 6), CONV, CONV_BACKWARD),
    case("Conv1d circular", lambda m: m.Conv1d(3, 2, 5, padding=2, padding_mode="circular", groups=1), (2, 3, 5),
         CONV, CONV_BACKWARD),
    case("Conv1d unbatched", lambda m: m.Conv1d(3, 2, 2), (3, 6), CONV, CONV_BACKWARD),
    case("ConvTranspose1d", lambda m: m.ConvTranspose1d(3, 2, 3), (2, 3, 7), CONV, CONV_BACKWARD),
    case("ConvTranspose1d stride output_padding", lambda m: m.ConvTranspose1d(2, 3, 4, stride=3, padding=1,
                                                                             output_padding=2), (1, 2, 5), CONV,
         CONV_BACKWARD),
    case("ConvTranspose1d groups dilation", lambda m: m.ConvTranspose1d(4, 2, 3, stride=2, groups=2, dilation=2,
                                                                        output_padding=1, bias=False), (2, 4, 6),
         CONV, CONV_BACKWARD),
    case("ConvTranspose1d unbatched", lambda m: m.ConvTranspose1d(2, 3, 3, padding=1), (2, 5), CONV, CONV_BACKWARD),
    case("MaxPool1d", lambda m: m.MaxPool1d(3), (2, 3, 11), EXACT, EXACT),
    case("MaxPool1d stride padding", lambda m: m.MaxPool1d(4, 3, 2), (1, 2, 13), EXACT, EXACT),
    case("MaxPool1d dilation ceil", lambda m: m.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True), (2, 2, 10), EXACT,
         EXACT),
    case("MaxPool1d unbatched ceil", lambda m: m.MaxPool1d(2, ceil_mode=True), (3, 7), EXACT, EXACT),
    case("AvgPool1d", lambda m: m.AvgPool1d(3), (2, 3, 11), AVG, AVG),
    case("AvgPool1d padding no pad count", lambda m: m.AvgPool1d(4, 2, 2, count_include_pad=False), (1, 2, 9), AVG,
         AVG),
    case("AvgPool1d ceil", lambda m: m.AvgPool1d(3, 2, 1, ceil_mode=True), (2, 2, 8), AVG, AVG),
    case("AvgPool1d unbatched", lambda m: m.AvgPool1d(2, 1), (3, 5), AVG, AVG),
    case("AdaptiveAvgPool1d", lambda m: m.AdaptiveAvgPool1d(4), (2, 3, 11), AVG, AVG),
    case("AdaptiveAvgPool1d divisible", lambda m: m.AdaptiveAvgPool1d(3), (1, 2, 12), AVG, AVG),
    case("AdaptiveAvgPool1d up unbatched", lambda m: m.AdaptiveAvgPool1d(7), (3, 5), AVG, AVG),
    case("AdaptiveMaxPool1d", lambda m: m.AdaptiveMaxPool1d(4), (2, 3, 11), EXACT, EXACT),
    case("AdaptiveMaxPool1d divisible unbatched", lambda m: m.AdaptiveMaxPool1d(2), (3, 8), EXACT, EXACT),
    case("ReflectionPad1d", lambda m: m.ReflectionPad1d(2), (2, 3, 5), EXACT),
    case("ReflectionPad1d tuple crop", lambda m: m.ReflectionPad1d((-1, 3)), (1, 2, 5), EXACT),
    case("ReflectionPad1d unbatched", lambda m: m.ReflectionPad1d((3, 1)), (2, 4), EXACT),
    case("ReflectionPad1d pad past the crop", lambda m: m.ReflectionPad1d((4, -1)), (2, 1, 5), EXACT),
    case("ReplicationPad2d crops", lambda m: m.ReplicationPad2d((-2, 1, 3, -3)), (1, 2, 4, 5), EXACT),
    case("CircularPad2d crops", lambda m: m.CircularPad2d((2, -1, -2, 1)), (2, 1, 4, 5), EXACT),
    case("ReflectionPad2d", lambda m: m.ReflectionPad2d((1, 2, 3, 0)), (2, 2, 5, 4), EXACT),
    case("ReflectionPad2d unbatched", lambda m: m.ReflectionPad2d(2), (2, 3, 3), EXACT),
    case("ReplicationPad1d", lambda m: m.ReplicationPad1d((4, 1)), (2, 3, 3), EXACT),
    case("ReplicationPad1d crop", lambda m: m.ReplicationPad1d((2, -2)), (1, 2, 5), EXACT),
    case("ReplicationPad2d", lambda m: m.ReplicationPad2d((0, 3, 2, 1)), (1, 2, 3, 4), EXACT),
    case("ReplicationPad2d unbatched", lambda m: m.ReplicationPad2d(3), (2, 2, 3), EXACT),
    case("ZeroPad1d", lambda m: m.ZeroPad1d(2), (2, 3, 5), EXACT),
    case("ZeroPad1d crop unbatched", lambda m: m.ZeroPad1d((-1, 2)), (3, 4), EXACT),
    case("ConstantPad1d", lambda m: m.ConstantPad1d((3, 1), -0.75), (1, 2, 5), EXACT),
    case("CircularPad1d", lambda m: m.CircularPad1d((2, 3)), (2, 3, 5), EXACT),
    case("CircularPad1d crop", lambda m: m.CircularPad1d((-1, 2)), (1, 2, 5), EXACT),
    case("CircularPad1d full wrap", lambda m: m.CircularPad1d(4), (2, 4), EXACT),
    case("CircularPad2d", lambda m: m.CircularPad2d((1, 0, 2, 3)), (2, 2, 4, 3), EXACT),
    case("CircularPad2d unbatched", lambda m: m.CircularPad2d(1), (2, 3, 3), EXACT),
    case("InstanceNorm1d", lambda m: m.InstanceNorm1d(3), (2, 3, 7), COMPUTED),
    case("InstanceNorm1d affine batch 1", lambda m: m.InstanceNorm1d(4, eps=1e-3, affine=True), (1, 4, 5), COMPUTED),
    case("InstanceNorm1d affine no bias", lambda m: m.InstanceNorm1d(2, affine=True, bias=False), (3, 2, 6),
         COMPUTED),
    case("InstanceNorm1d unbatched", lambda m: m.InstanceNorm1d(3, affine=True), (3, 9), COMPUTED),
    case("InstanceNorm2d", lambda m: m.InstanceNorm2d(3), (2, 3, 4, 5), COMPUTED),
    case("InstanceNorm2d affine tracked", lambda m: m.InstanceNorm2d(2, affine=True, track_running_stats=True),
         (3, 2, 3, 5), COMPUTED),
    case("InstanceNorm2d unbatched", lambda m: m.InstanceNorm2d(2, affine=True), (2, 5, 3), COMPUTED),
    case("PixelShuffle", lambda m: m.PixelShuffle(2), (2, 8, 3, 5), EXACT, EXACT),
    case("PixelShuffle 3 unbatched", lambda m: m.PixelShuffle(3), (9, 2, 3), EXACT, EXACT),
    case("PixelShuffle 5-D", lambda m: m.PixelShuffle(2), (2, 1, 4, 3, 2), EXACT, EXACT),
    case("PixelUnshuffle", lambda m: m.PixelUnshuffle(2), (2, 3, 6, 4), EXACT, EXACT),
    case("PixelUnshuffle 3 unbatched", lambda m: m.PixelUnshuffle(3), (2, 3, 9), EXACT, EXACT),
    case("ChannelShuffle", lambda m: m.ChannelShuffle(2), (2, 6, 3, 4), EXACT, EXACT),
    case("ChannelShuffle 3 groups 1-D", lambda m: m.ChannelShuffle(3), (1, 6, 5), EXACT, EXACT),
    case("Softmax2d", lambda m: m.Softmax2d(), (2, 5, 3, 4), COMPUTED),
    case("Softmax2d unbatched", lambda m: m.Softmax2d(), (3, 2, 7), COMPUTED),
]


def _copy_params(layer, ref, rng):
    """Random float32-representable values into both (ref's in float64)."""
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(np.float64)))


def _run(case, dtype, seed=0):
    _, make, make_ref, shape, fwd_tol, bwd_tol = case
    rng = np.random.default_rng(seed)
    layer, ref = make().to(dtype), make_ref().double()
    _copy_params(layer, ref, rng)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = ref(tx)
    y = layer(x)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    return layer, ref, x, y, dx, ty.detach().numpy(), tx.grad.numpy(), fwd_tol, bwd_tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_torch(case, dtype):
    layer, ref, x, y, dx, ty, tdx, fwd_tol, bwd_tol = _run(case, dtype)
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, ty.astype(dtype) if fwd_tol is EXACT else ty, **fwd_tol[dtype])
    np.testing.assert_allclose(dx, tdx.astype(dtype) if bwd_tol is EXACT else tdx, **bwd_tol[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **bwd_tol[dtype], err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_dict_names_and_shapes_are_torchs(case):
    _, make, make_ref, *_ = case
    ours, theirs = make().state_dict(), make_ref().state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_repr_is_torchs_and_config_round_trips(case):
    _, make, make_ref, *_ = case
    layer = make()
    assert repr(layer) == repr(make_ref())
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config() and repr(again) == repr(layer)


@pytest.mark.parametrize("name", ["Conv1d", "ConvTranspose1d"])
def test_conv_gradients_accumulate_and_need_dx_false(name):
    rng = np.random.default_rng(4)
    layer = getattr(nn, name)(2, 4, 3, stride=2, padding=1)
    x = rng.standard_normal((3, 2, 9)).astype(np.float32)
    dy = rng.standard_normal(layer(x).shape).astype(np.float32)
    layer.backward(dy)
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert layer.backward(dy, need_dx=False) is None
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, err_msg=n)


@pytest.mark.parametrize("make, fan_in", [(lambda: nn.Conv1d(6, 4, 5, groups=2), 15),
                                          (lambda: nn.ConvTranspose1d(4, 6, 5, groups=2), 15)])
def test_default_init_is_torchs_uniform_bound(make, fan_in):
    fastnn.manual_seed(0)
    layer = make()
    bound = 1 / np.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.5 * bound


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make, shape", [(lambda m: m.MaxPool1d(3, 2, 1, return_indices=True), (2, 3, 10)),
                                         (lambda m: m.MaxPool1d(3, 2, 1, dilation=2, return_indices=True), (1, 2, 9)),
                                         (lambda m: m.AdaptiveMaxPool1d(4, return_indices=True), (2, 3, 11)),
                                         (lambda m: m.AdaptiveMaxPool1d(3, return_indices=True), (3, 9))])
def test_max_pool_indices_are_torchs(make, shape, dtype):
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    y, idx = make(nn)(x)
    ty, tidx = make(torch.nn)(torch.tensor(x))
    np.testing.assert_array_equal(y, ty.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("cls", ["InstanceNorm1d", "InstanceNorm2d"])
@pytest.mark.parametrize("momentum", [0.3, None])
def test_instance_norm_running_statistics_and_eval_match_torch(cls, momentum):
    rng = np.random.default_rng(7)
    shape = (3, 4, 5) if cls == "InstanceNorm1d" else (3, 4, 3, 5)
    layer = getattr(nn, cls)(4, momentum=momentum, affine=True, track_running_stats=True).double()
    ref = getattr(torch.nn, cls)(4, momentum=momentum, affine=True, track_running_stats=True).double()
    _copy_params(layer, ref, rng)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        layer(x)
        ref(torch.tensor(x))
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(layer.state_dict()[name], value.numpy(), **COMPUTED[np.float64], err_msg=name)
    layer.eval()
    ref.eval()
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    dy = rng.standard_normal(shape)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer(x), ty.detach().numpy(), **COMPUTED[np.float64])
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), **COMPUTED[np.float64])
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(getattr(layer, name).grad, p.grad.numpy(), **COMPUTED[np.float64], err_msg=name)


def test_float32_buffers_stay_float32():
    layer = nn.InstanceNorm1d(3, track_running_stats=True)
    layer(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
    assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
    assert int(layer.num_batches_tracked) == 0  # torch's InstanceNorm does not count


@pytest.mark.parametrize("make, exc, match", [
    (lambda: nn.Conv1d(3, 4, 0), ValueError, "kernel_size=0"),
    (lambda: nn.Conv1d(3, 4, 3, stride=(1, 2)), ValueError, r"stride=\(1, 2\)"),
    (lambda: nn.Conv1d(3, 4, 3, groups=2), ValueError, "in_channels=3, groups=2"),
    (lambda: nn.Conv1d(3, 4, 3, padding="full"), ValueError, "padding='full'"),
    (lambda: nn.Conv1d(3, 4, 3, padding=-1), ValueError, "padding=-1"),
    (lambda: nn.Conv1d(3, 4, 3, stride=2, padding="same"), ValueError, "stride=2"),
    (lambda: nn.Conv1d(3, 4, 3, padding_mode="wrap"), ValueError, "padding_mode='wrap'"),
    (lambda: nn.Conv1d(3, 4, 2.5), TypeError, "kernel_size=2.5"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=2), ValueError, "output_padding=2"),
    (lambda: nn.ConvTranspose1d(3, 4, 3, padding_mode="reflect"), ValueError, "padding_mode='reflect'"),
    (lambda: nn.MaxPool1d(2, padding=2), ValueError, "padding=2"),
    (lambda: nn.MaxPool1d(2, return_indices=1), TypeError, "return_indices=1"),
    (lambda: nn.AvgPool1d(3, ceil_mode="yes"), TypeError, "ceil_mode='yes'"),
    (lambda: nn.AdaptiveAvgPool1d(0), ValueError, "output_size=0"),
    (lambda: nn.AdaptiveMaxPool1d((2, 3)), ValueError, r"output_size=\(2, 3\)"),
    (lambda: nn.ReflectionPad1d((1, 2, 3)), ValueError, r"padding=\(1, 2, 3\)"),
    (lambda: nn.ReplicationPad2d((1, 2)), ValueError, r"padding=\(1, 2\)"),
    (lambda: nn.CircularPad1d(1.5), TypeError, "padding=1.5"),
    (lambda: nn.ConstantPad1d(1, "a"), TypeError, "value='a'"),
    (lambda: nn.InstanceNorm1d(0), ValueError, "num_features=0"),
    (lambda: nn.InstanceNorm2d(3, eps=0), ValueError, "eps=0"),
    (lambda: nn.InstanceNorm2d(3, affine=1), TypeError, "affine=1"),
    (lambda: nn.PixelShuffle(0), ValueError, "upscale_factor=0"),
    (lambda: nn.PixelUnshuffle(1.0), TypeError, "downscale_factor=1.0"),
    (lambda: nn.ChannelShuffle(-2), ValueError, "groups=-2"),
])
def test_bad_arguments_raise_naming_the_value(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("layer, shape, match", [
    (nn.Conv1d(3, 4, 3), (2, 4, 7), "3 channels"),
    (nn.Conv1d(3, 4, 3), (2, 3, 4, 5), "2-D or 3-D"),
    (nn.Conv1d(3, 4, 5), (2, 3, 3), "3"),
    (nn.Conv1d(3, 4, 3, padding=3, padding_mode="reflect"), (1, 3, 3), "reflection padding"),
    (nn.ConvTranspose1d(3, 4, 3), (2, 2, 7), "3 channels"),
    (nn.MaxPool1d(5), (2, 3), "kernel_size 5 is larger"),
    (nn.ReflectionPad1d(3), (2, 3, 3), "smaller than"),
    (nn.CircularPad2d((0, 0, 4, 0)), (1, 1, 3, 3), "at most"),
    (nn.CircularPad1d((3, -1)), (1, 1, 3), "at most the cropped axis' size 2"),
    (nn.ZeroPad1d(-3), (2, 3, 4), "crops more than the axis. size 4"),  # torch: narrow() length < 0
    (nn.ReflectionPad2d(1), (3, 4), "3-D or 4-D"),
    (nn.InstanceNorm1d(3, affine=True), (2, 4, 5), "3 channels"),
    (nn.InstanceNorm1d(3), (2, 3, 1), "more than 1 spatial element"),
    (nn.PixelShuffle(2), (2, 6, 3, 3), "divisible"),
    (nn.PixelUnshuffle(2), (2, 6, 3, 4), "divisible"),
    (nn.ChannelShuffle(4), (2, 6, 3), "divisible"),
    (nn.ChannelShuffle(2), (2, 6), "3-D"),
    (nn.Softmax2d(), (3, 4), "3-D or 4-D"),
])
def test_bad_inputs_raise(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("layer, shape", [(nn.Conv1d(2, 3, 3), (2, 2, 6)), (nn.ReflectionPad1d(1), (2, 2, 4)),
                                          (nn.InstanceNorm1d(2), (2, 2, 4)), (nn.MaxPool1d(2), (2, 2, 6))])
def test_backward_checks_dy_and_needs_forward(layer, shape):
    fresh = type(layer).from_config(layer.get_config())
    with pytest.raises(RuntimeError, match="before forward"):
        fresh.backward(np.zeros(shape, np.float32))
    y = layer(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), np.float32))


# ---- pads that crop an axis to nothing, or past it -------------------------------------------
# torch's rules: a crop to exactly nothing gives an empty output (a 1-D reflection / replication
# pad refuses it: "input too small"); a crop past what the axis holds raises for the constant
# pads (torch crops first). The gradient of an empty output is zeros of the input's shape
# (torch's ReflectionPad3d returns uninitialised memory there: not compared).
_CROP_NAMES = ["ConstantPad1d", "ZeroPad1d", "ReflectionPad1d", "ReplicationPad1d", "CircularPad1d",
               "ConstantPad2d", "ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d",
               "ConstantPad3d", "ZeroPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d"]


def _crop_layers(name, amounts):
    dims = int(name[-2])
    padding = tuple(amounts) + (0,) * (2 * dims - 2)
    args = (padding, 1.5) if name.startswith("Constant") else (padding,)
    from fastnn.nn import layers3d
    ours = getattr(nn, name, None) or getattr(layers3d, name)
    return ours(*args), getattr(torch.nn, name)(*args), dims


@pytest.mark.parametrize("name", _CROP_NAMES)
@pytest.mark.parametrize("amounts", [(0, -3), (-3, 0), (-1, -2), (1, -4), (-4, 1)])
def test_pad_crop_to_nothing_or_past_the_axis_follows_torch(name, amounts):
    if name.startswith("Circular") and min(amounts) < -3:
        # torch's circular pad past the axis depends on the side ((-4, 1) returns, (1, -4) fails
        # inside torch); fastnn's rule: it wraps at most once around the cropped axis, else raises
        with pytest.raises(ValueError, match="at most the cropped axis"):
            _crop_layers(name, amounts)[0](np.zeros((2, 2) + (2,) * (int(name[-2]) - 1) + (3,)))
        return
    layer, theirs, dims = _crop_layers(name, amounts)
    x = np.random.default_rng(0).standard_normal((2, 2) + (2,) * (dims - 1) + (3,))
    try:
        expected = theirs(torch.tensor(x))
    except RuntimeError:
        with pytest.raises(ValueError, match=r"padding"):
            layer(x)
        return
    y = layer(x)
    assert y.shape == tuple(expected.shape)
    np.testing.assert_array_equal(y, expected.numpy())
    if y.size == 0:
        dx = layer.backward(np.zeros(y.shape))
        assert dx.shape == x.shape and not dx.any()
