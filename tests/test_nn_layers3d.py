"""BatchNorm3d, InstanceNorm3d, MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d and
the 3-D pads (fastnn/nn/layers3d.py) against torch.nn's: outputs and gradients (input and
parameters, torch autograd with a random upstream gradient) on several shapes (batch 0 and 1,
unbatched, size-1 axes, odd strides, padding, dilation, ceil_mode, kernel = input size) in
float32 and float64, max-pool indices (ties too), running statistics in train / eval mode,
state_dict names, reprs, configs and save / load, and errors.

Tolerances (float32 results are compared with torch in float64 on the same float32 values, the
truth; float64 with torch's float64), as tests/test_conformance_nn_extra.py and
tests/test_conformance_layers1d.py:
- exact: max pooling's and the pads' forwards select / copy values.
- "computed": the average poolings (forward and backward), the pads' and max poolings'
  gradient sums and InstanceNorm3d are computed in float64 and rounded once: rtol 1e-6,
  atol 1e-6 in float32 (atol for the normalisation's cancelling dx), rtol 1e-12, atol 1e-12
  in float64.
- BatchNorm3d runs the native batch-norm kernel: tests/tolerances.py's "batch_norm" for y and
  "batch_norm_backward" for dx, dweight and dbias.
"""
import numpy as np
import pytest

import fastnn
from fastnn.nn import layers3d as L3
from tolerances import tol

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
BN = {d: tol("batch_norm", d) for d in DTYPES}
BN_BACKWARD = {d: tol("batch_norm_backward", d) for d in DTYPES}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def case(name, make, shape, fwd, bwd=COMPUTED):
    """(id, factory of a namespace (fastnn's layers3d or torch.nn), shape, tolerances)."""
    return pytest.param(make, shape, fwd, bwd, id=name)


CASES = [
    case("BatchNorm3d", lambda m: m.BatchNorm3d(3), (2, 3, 4, 3, 5), BN, BN_BACKWARD),
    case("BatchNorm3d batch 1 no bias", lambda m: m.BatchNorm3d(2, eps=1e-3, bias=False), (1, 2, 3, 1, 4), BN,
         BN_BACKWARD),
    case("BatchNorm3d no affine", lambda m: m.BatchNorm3d(4, affine=False), (3, 4, 2, 2, 3), BN, BN_BACKWARD),
    case("BatchNorm3d untracked", lambda m: m.BatchNorm3d(2, track_running_stats=False), (2, 2, 3, 4, 1), BN,
         BN_BACKWARD),
    case("BatchNorm3d batch 0", lambda m: m.BatchNorm3d(3), (0, 3, 2, 3, 4), BN, BN_BACKWARD),
    case("InstanceNorm3d", lambda m: m.InstanceNorm3d(3), (2, 3, 4, 3, 5), COMPUTED),
    case("InstanceNorm3d affine batch 1", lambda m: m.InstanceNorm3d(2, eps=1e-3, affine=True), (1, 2, 3, 2, 4),
         COMPUTED),
    case("InstanceNorm3d affine no bias tracked",
         lambda m: m.InstanceNorm3d(2, affine=True, bias=False, track_running_stats=True), (3, 2, 2, 3, 3), COMPUTED),
    case("InstanceNorm3d batch 0", lambda m: m.InstanceNorm3d(3), (0, 3, 2, 2, 2), COMPUTED),
    case("InstanceNorm3d unbatched size-1 axes", lambda m: m.InstanceNorm3d(3, affine=True), (3, 1, 4, 1), COMPUTED),
    case("MaxPool3d", lambda m: m.MaxPool3d(2), (2, 3, 4, 6, 5), EXACT),
    case("MaxPool3d stride padding", lambda m: m.MaxPool3d(3, 2, 1), (2, 2, 7, 6, 5), EXACT),
    case("MaxPool3d odd tuples", lambda m: m.MaxPool3d((3, 2, 4), (2, 3, 1), (1, 0, 2)), (1, 2, 7, 8, 6), EXACT),
    case("MaxPool3d dilation ceil", lambda m: m.MaxPool3d((3, 2, 3), 2, 1, dilation=(2, 1, 3), ceil_mode=True),
         (2, 2, 9, 6, 10), EXACT),
    case("MaxPool3d ceil last window dropped", lambda m: m.MaxPool3d(2, 2, 1, ceil_mode=True), (2, 2, 5, 7, 4),
         EXACT),
    case("MaxPool3d ceil unbatched", lambda m: m.MaxPool3d(2, ceil_mode=True), (3, 5, 3, 7), EXACT),
    # ceil_mode keeps one window over an axis shorter than the kernel (2 < 3), as torch
    case("MaxPool3d ceil axis shorter than kernel", lambda m: m.MaxPool3d((3, 2, 2), (3, 3, 1), (0, 1, 1),
                                                                          ceil_mode=True), (1, 2, 2, 2, 4), EXACT),
    case("MaxPool3d kernel = input", lambda m: m.MaxPool3d((4, 3, 5)), (2, 3, 4, 3, 5), EXACT),
    case("MaxPool3d size-1 axes", lambda m: m.MaxPool3d((1, 2, 1), 1), (2, 2, 1, 4, 1), EXACT),
    case("MaxPool3d batch 0", lambda m: m.MaxPool3d(2), (0, 2, 4, 4, 4), EXACT),
    case("AvgPool3d", lambda m: m.AvgPool3d(2), (2, 3, 4, 6, 5), COMPUTED),
    case("AvgPool3d stride padding", lambda m: m.AvgPool3d(3, 2, 1), (2, 2, 7, 6, 5), COMPUTED),
    case("AvgPool3d no pad count", lambda m: m.AvgPool3d((3, 2, 4), (2, 1, 3), (1, 1, 2), count_include_pad=False),
         (1, 2, 7, 5, 9), COMPUTED),
    case("AvgPool3d ceil", lambda m: m.AvgPool3d(3, 2, 1, ceil_mode=True), (2, 2, 8, 6, 7), COMPUTED),
    case("AvgPool3d ceil last window dropped", lambda m: m.AvgPool3d(2, 2, 1, ceil_mode=True), (2, 2, 5, 7, 4),
         COMPUTED),
    case("AvgPool3d ceil no pad count", lambda m: m.AvgPool3d((2, 3, 3), (2, 2, 3), (1, 1, 0), ceil_mode=True,
                                                              count_include_pad=False), (1, 3, 6, 8, 8), COMPUTED),
    case("AvgPool3d divisor_override", lambda m: m.AvgPool3d(3, 2, 1, divisor_override=5), (2, 2, 5, 6, 7), COMPUTED),
    case("AvgPool3d kernel = input unbatched", lambda m: m.AvgPool3d((3, 4, 2)), (2, 3, 4, 2), COMPUTED),
    case("AvgPool3d batch 0", lambda m: m.AvgPool3d(2), (0, 2, 4, 4, 4), COMPUTED),
    case("AdaptiveAvgPool3d", lambda m: m.AdaptiveAvgPool3d((2, 3, 4)), (2, 3, 5, 7, 9), COMPUTED),
    case("AdaptiveAvgPool3d divisible", lambda m: m.AdaptiveAvgPool3d(2), (1, 2, 4, 6, 8), COMPUTED),
    case("AdaptiveAvgPool3d None up unbatched", lambda m: m.AdaptiveAvgPool3d((None, 5, 1)), (3, 4, 3, 6), COMPUTED),
    case("AdaptiveAvgPool3d batch 0", lambda m: m.AdaptiveAvgPool3d(2), (0, 2, 3, 3, 3), COMPUTED),
    case("AdaptiveMaxPool3d", lambda m: m.AdaptiveMaxPool3d((2, 3, 4)), (2, 3, 5, 7, 9), EXACT),
    case("AdaptiveMaxPool3d up", lambda m: m.AdaptiveMaxPool3d((4, 1, 7)), (1, 2, 3, 5, 4), EXACT),
    case("AdaptiveMaxPool3d None unbatched", lambda m: m.AdaptiveMaxPool3d((3, None, 2)), (2, 6, 3, 5), EXACT),
    case("ZeroPad3d", lambda m: m.ZeroPad3d(1), (2, 3, 2, 3, 4), EXACT),
    case("ZeroPad3d crop unbatched", lambda m: m.ZeroPad3d((1, -2, 0, 2, -1, 3)), (2, 3, 4, 5), EXACT),
    case("ConstantPad3d", lambda m: m.ConstantPad3d((2, 0, 1, 3, 0, 1), -0.75), (1, 2, 3, 2, 4), EXACT),
    case("ConstantPad3d int value", lambda m: m.ConstantPad3d(1, 2), (2, 1, 1, 2, 3), EXACT),
    case("ReflectionPad3d", lambda m: m.ReflectionPad3d((1, 2, 0, 1, 2, 1)), (2, 3, 4, 3, 5), EXACT),
    case("ReflectionPad3d unbatched", lambda m: m.ReflectionPad3d(2), (2, 3, 4, 3), EXACT),
    case("ReplicationPad3d", lambda m: m.ReplicationPad3d((3, 0, 1, 2, 2, 1)), (1, 2, 3, 2, 4), EXACT),
    case("ReflectionPad3d crops", lambda m: m.ReflectionPad3d((-1, 2, 1, -1, 0, 2)), (2, 3, 4, 3, 5), EXACT),
    case("ReplicationPad3d crops", lambda m: m.ReplicationPad3d((-1, 2, 1, -1, 0, 2)), (1, 2, 4, 3, 5), EXACT),
    case("CircularPad3d crops", lambda m: m.CircularPad3d((-1, 2, 1, -1, 0, 2)), (2, 1, 4, 3, 5), EXACT),
    case("ReplicationPad3d unbatched size-1", lambda m: m.ReplicationPad3d(2), (2, 1, 3, 1), EXACT),
    case("CircularPad3d", lambda m: m.CircularPad3d((1, 2, 0, 1, 2, 1)), (2, 2, 3, 4, 5), EXACT),
    case("CircularPad3d full wrap unbatched", lambda m: m.CircularPad3d((3, 3, 2, 0, 1, 2)), (2, 2, 2, 3), EXACT),
]


def _copy_params(layer, ref, rng, torch):
    """Random float32-representable values into both (ref's in float64)."""
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(np.float64)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make, shape, fwd_tol, bwd_tol", CASES)
def test_forward_and_gradients_match_torch(make, shape, fwd_tol, bwd_tol, dtype, torch):
    rng = np.random.default_rng(0)
    layer, ref = make(L3).to(dtype), make(torch.nn).double()
    _copy_params(layer, ref, rng, torch)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = ref(tx)
    y = layer(x)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    ty, tdx = ty.detach().numpy(), tx.grad.numpy()
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, ty.astype(dtype) if fwd_tol is EXACT else ty, **fwd_tol[dtype])
    np.testing.assert_allclose(dx, tdx, **bwd_tol[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **bwd_tol[dtype], err_msg=name)
    for name, value in ref.state_dict().items():  # the running statistics after one training step
        np.testing.assert_allclose(layer.state_dict()[name], value.numpy(), **COMPUTED[dtype], err_msg=name)


def test_cases_are_not_trivial():
    """The comparisons above see real values: a shifted input changes the pools' output."""
    x = np.random.default_rng(1).standard_normal((1, 1, 4, 4, 4))
    for layer in (L3.MaxPool3d(2), L3.AvgPool3d(2), L3.AdaptiveAvgPool3d(3), L3.AdaptiveMaxPool3d(3)):
        assert not np.allclose(layer(x), layer(x[:, :, ::-1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make, shape", [
    (lambda m: m.MaxPool3d(3, 2, 1, return_indices=True), (2, 3, 7, 6, 5)),
    (lambda m: m.MaxPool3d((2, 3, 2), (1, 2, 3), (1, 1, 0), (2, 1, 2), return_indices=True, ceil_mode=True),
     (1, 2, 7, 6, 5)),
    (lambda m: m.MaxPool3d(2, return_indices=True), (3, 5, 4, 7)),
    (lambda m: m.AdaptiveMaxPool3d((3, 2, 4), return_indices=True), (2, 3, 7, 6, 5)),
    (lambda m: m.AdaptiveMaxPool3d(5, return_indices=True), (3, 4, 3, 6)),
])
@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
def test_max_pool_indices_are_torchs(make, shape, dtype, ties, torch):
    rng = np.random.default_rng(2)
    # ties: a few distinct values, so most windows hold several maxima (the first one wins)
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    y, idx = make(L3)(x)
    ty, tidx = make(torch.nn)(torch.tensor(x))
    np.testing.assert_array_equal(y, ty.numpy())
    assert idx.dtype == np.int64 and idx.shape == tuple(tidx.shape)
    np.testing.assert_array_equal(idx, tidx.numpy())


@pytest.mark.parametrize("make", [lambda m: m.MaxPool3d(2, 1, return_indices=True),
                                  lambda m: m.AdaptiveMaxPool3d((2, 3, 2), return_indices=True)])
def test_max_pool_nan_wins_and_gets_the_gradient(make, torch):
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4, 4))
    x[0, 0, 1, 1, 2] = x[0, 1, 2, 3, 0] = x[0, 1, 2, 3, 1] = np.nan
    layer = make(L3)
    y, idx = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = make(torch.nn)(tx)
    np.testing.assert_array_equal(y, ty.detach().numpy())  # NaN where torch's is
    assert np.isnan(y).any()
    np.testing.assert_array_equal(idx, tidx.numpy())
    dy = np.random.default_rng(4).standard_normal(y.shape)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), **COMPUTED[np.float64])


@pytest.mark.parametrize("cls", ["BatchNorm3d", "InstanceNorm3d"])
@pytest.mark.parametrize("momentum", [0.3, None])
def test_running_statistics_and_eval_match_torch(cls, momentum, torch):
    rng = np.random.default_rng(7)
    shape = (3, 4, 2, 3, 5)
    layer = getattr(L3, cls)(4, momentum=momentum, affine=True, track_running_stats=True).double()
    ref = getattr(torch.nn, cls)(4, momentum=momentum, affine=True, track_running_stats=True).double()
    _copy_params(layer, ref, rng, torch)
    for _ in range(3):
        x = rng.standard_normal(shape) * 2 + 1
        layer(x)
        ref(torch.tensor(x))
    state = layer.state_dict()
    assert list(state) == list(ref.state_dict())
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(state[name], value.numpy(), **COMPUTED[np.float64], err_msg=name)
    if cls == "BatchNorm3d" or momentum is not None:  # (torch's InstanceNorm with momentum None keeps them)
        assert not np.allclose(state["running_mean"], 0)
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


def test_float32_buffers_stay_float32_and_gradients_accumulate():
    rng = np.random.default_rng(5)
    for layer in (L3.BatchNorm3d(3), L3.InstanceNorm3d(3, affine=True, track_running_stats=True)):
        x = rng.standard_normal((2, 3, 2, 3, 2)).astype(np.float32)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        layer(x)
        assert layer.running_mean.dtype == np.float32 and layer.running_var.dtype == np.float32
        layer.backward(dy)
        first = {n: p.grad.copy() for n, p in layer.named_parameters()}
        assert all(np.abs(g).max() > 0 for g in first.values())
        layer(x)
        layer.backward(dy)
        for n, p in layer.named_parameters():
            np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-5, atol=1e-6, err_msg=n)
    assert int(L3.BatchNorm3d(3).num_batches_tracked) == 0
    assert int(layer.num_batches_tracked) == 0  # torch's InstanceNorm does not count


REPR_CASES = [
    lambda m: m.BatchNorm3d(3), lambda m: m.BatchNorm3d(3, 1e-3, None, False),
    lambda m: m.BatchNorm3d(5, affine=True, track_running_stats=False, bias=False),
    lambda m: m.InstanceNorm3d(3), lambda m: m.InstanceNorm3d(2, 1e-4, 0.2, True, True),
    lambda m: m.InstanceNorm3d(2, affine=True, bias=False),
    lambda m: m.MaxPool3d(3), lambda m: m.MaxPool3d((2, 3, 1), (1, 2, 1), (1, 1, 0), 1, True, True),
    lambda m: m.MaxPool3d(3, 2, (1, 0, 1), dilation=(1, 2, 3)),
    lambda m: m.AvgPool3d(3), lambda m: m.AvgPool3d((2, 2, 3), 1, 1, True, False, 3),
    lambda m: m.AdaptiveAvgPool3d((2, None, 3)), lambda m: m.AdaptiveAvgPool3d(4),
    lambda m: m.AdaptiveMaxPool3d(2, True), lambda m: m.AdaptiveMaxPool3d((None, 1, 2)),
    lambda m: m.ZeroPad3d(1), lambda m: m.ZeroPad3d((1, 2, 3, 4, 5, -6)), lambda m: m.ConstantPad3d(1, 2),
    lambda m: m.ConstantPad3d((1, 0, 2, 0, 3, 0), -0.5), lambda m: m.ReflectionPad3d(1),
    lambda m: m.ReplicationPad3d((2, 1, 0, 0, 1, 2)), lambda m: m.CircularPad3d((1, 2, 3, 4, 5, 6)),
]


@pytest.mark.parametrize("make", REPR_CASES)
def test_repr_and_state_dict_are_torchs_and_save_load_round_trips(make, torch, tmp_path):
    layer, ref = make(L3), make(torch.nn)
    assert repr(layer) == repr(ref)
    ours, theirs = layer.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == tuple(theirs[k].shape), k
    for p in layer.parameters():
        p.data[...] = np.random.default_rng(6).uniform(-1, 1, p.shape)
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: L3.MaxPool3d(0), ValueError, "kernel_size=0"),
    (lambda: L3.MaxPool3d((2, 2)), ValueError, r"kernel_size=\(2, 2\)"),
    (lambda: L3.MaxPool3d(2, stride=(1, 0, 1)), ValueError, "stride=0"),
    (lambda: L3.MaxPool3d(2, padding=2), ValueError, "padding=2"),
    (lambda: L3.MaxPool3d(3, padding=(0, 2, 0)), ValueError, r"padding=\(0, 2, 0\)"),
    (lambda: L3.MaxPool3d(2, dilation=0), ValueError, "dilation=0"),
    (lambda: L3.MaxPool3d(2.5), TypeError, "kernel_size=2.5"),
    (lambda: L3.MaxPool3d(2, return_indices=1), TypeError, "return_indices=1"),
    (lambda: L3.AvgPool3d(3, ceil_mode="yes"), TypeError, "ceil_mode='yes'"),
    (lambda: L3.AvgPool3d(3, padding=-1), ValueError, "padding=-1"),
    (lambda: L3.AvgPool3d(3, divisor_override=0), ValueError, "divisor_override=0"),
    (lambda: L3.AvgPool3d(3, count_include_pad=None), TypeError, "count_include_pad=None"),
    (lambda: L3.AdaptiveAvgPool3d(0), ValueError, "output_size=0"),
    (lambda: L3.AdaptiveAvgPool3d((2, 3)), ValueError, r"output_size=\(2, 3\)"),
    (lambda: L3.AdaptiveMaxPool3d(None), TypeError, "output_size=None"),
    (lambda: L3.AdaptiveMaxPool3d((2, 1.5, 2)), TypeError, r"output_size=\(2, 1.5, 2\)"),
    (lambda: L3.ReflectionPad3d((1, 2, 3, 4)), ValueError, r"padding=\(1, 2, 3, 4\)"),
    (lambda: L3.CircularPad3d(1.5), TypeError, "padding=1.5"),
    (lambda: L3.ConstantPad3d(1, "a"), TypeError, "value='a'"),
    (lambda: L3.BatchNorm3d(0), ValueError, "num_features=0"),
    (lambda: L3.BatchNorm3d(3, momentum=2), ValueError, "momentum=2"),
    (lambda: L3.InstanceNorm3d(3, eps=0), ValueError, "eps=0"),
    (lambda: L3.InstanceNorm3d(3, affine=1), TypeError, "affine=1"),
])
def test_bad_arguments_raise_naming_the_value(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("layer, shape, exc, match", [
    (L3.BatchNorm3d(3), (3, 2, 2, 2), ValueError, "5-D"),
    (L3.BatchNorm3d(3), (2, 4, 2, 2, 2), ValueError, "3 features"),
    (L3.BatchNorm3d(3), (1, 3, 1, 1, 1), ValueError, "more than one value per channel"),
    (L3.InstanceNorm3d(3, affine=True), (2, 4, 2, 2, 2), ValueError, "3 channels"),
    (L3.InstanceNorm3d(3), (2, 3, 1, 1, 1), ValueError, "more than 1 spatial element"),
    (L3.MaxPool3d(5), (2, 3, 4, 6, 6), ValueError, "smaller than the window"),
    # torch's avg_pool3d refuses an axis shorter than the kernel even in ceil_mode (its max_pool3d
    # keeps one window: the case "MaxPool3d ceil axis shorter than kernel" above)
    (L3.AvgPool3d((3, 2, 2), (3, 3, 1), (0, 1, 1), ceil_mode=True), (1, 2, 2, 2, 4), ValueError,
     "smaller than the window"),
    (L3.MaxPool3d(2), (2, 3, 4), ValueError, "4-D or 5-D"),
    (L3.AvgPool3d(2), (2, 0, 4, 4, 4), ValueError, "non-empty"),
    (L3.AdaptiveAvgPool3d(2), (2, 3, 0, 4, 4), ValueError, "non-empty"),
    (L3.ReflectionPad3d(3), (1, 2, 3, 4, 4), ValueError, "smaller than"),
    (L3.CircularPad3d((0, 0, 0, 0, 4, 0)), (1, 1, 3, 3, 3), ValueError, "at most"),
    (L3.ZeroPad3d(-3), (2, 3, 4, 4, 4), ValueError, "crops more than the axis. size 4"),
    (L3.ReplicationPad3d(1), (3, 4, 4), ValueError, "4-D or 5-D"),
])
def test_bad_inputs_raise(layer, shape, exc, match):
    with pytest.raises(exc, match=match):
        layer(np.zeros(shape, np.float32))


def test_pools_refuse_integer_input():
    for layer in (L3.MaxPool3d(2), L3.AvgPool3d(2), L3.AdaptiveMaxPool3d(2), L3.ZeroPad3d(1)):
        with pytest.raises(TypeError, match="float32 or float64"):
            layer(np.zeros((1, 1, 2, 2, 2), np.int64))


@pytest.mark.parametrize("make, shape", [
    (lambda: L3.BatchNorm3d(2), (2, 2, 2, 3, 2)), (lambda: L3.InstanceNorm3d(2), (2, 2, 2, 3, 2)),
    (lambda: L3.MaxPool3d(2), (2, 2, 4, 4, 4)), (lambda: L3.AvgPool3d(2), (2, 4, 4, 4)),
    (lambda: L3.AdaptiveAvgPool3d(3), (1, 2, 4, 4, 5)), (lambda: L3.AdaptiveMaxPool3d(2), (2, 4, 4, 5)),
    (lambda: L3.ReflectionPad3d(1), (2, 2, 3, 3, 4)),
])
def test_backward_checks_dy_and_needs_forward(make, shape):
    with pytest.raises(RuntimeError, match="before forward"):
        make().backward(np.zeros(shape, np.float32))
    layer = make()
    y = layer(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    with pytest.raises(ValueError, match="dy"):
        layer.backward(np.zeros(y.shape[:-1] + (y.shape[-1] + 1,), np.float32))
