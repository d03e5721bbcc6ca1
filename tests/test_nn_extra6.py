"""LinearCrossEntropyLoss, CrossMapLRN2d, DataParallel and Container against torch.nn: forward and
gradients (torch autograd, a random upstream gradient where the output is not a scalar) in float32
and float64, reprs, state_dict names, save/load, argument errors.

float32 results are compared with torch in float64 on the same float32 values (the truth):
fastnn computes CrossMapLRN2d in float64 and rounds once (rtol/atol 1e-6); LinearCrossEntropyLoss
runs fastnn's float32 GEMM and fused softmax cross entropy (rtol/atol 1e-5). float64 at 1e-12.
"""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn import extra6

DTYPES = [np.float32, np.float64]
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
GEMM = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _t(a, grad=False):
    import torch
    return torch.tensor(np.asarray(a).astype(np.float64), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


# --- LinearCrossEntropyLoss ----------------------------------------------------------------------

LCE_CASES = [
    # (out_features, bias, reduction, ignore_index, label_smoothing, class weights, target kind, batched)
    ((), False, "mean", None, 0.0, False, "index", True),
    ((), True, "sum", None, 0.0, True, "index", True),
    ((), True, "none", 2, 0.15, True, "index", True),
    ((), True, "mean", 1, 0.0, False, "index", True),
    ((3, 2), True, "mean", None, 0.1, True, "index", True),
    ((3,), False, "none", 0, 0.0, False, "index", True),
    ((), True, "mean", None, 0.2, True, "prob", True),
    ((2,), True, "none", None, 0.0, False, "prob", True),
    ((), True, "mean", None, 0.0, False, "index", False),
    ((), False, "sum", None, 0.3, True, "prob", False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(LCE_CASES)))
def test_linear_cross_entropy_matches_torch(torch, case, dtype):
    out, bias, reduction, ignore_index, smoothing, weighted, kind, batched = LCE_CASES[case]
    rng = np.random.default_rng(case)
    n, fin, c = 7, 5, 4
    w = (rng.random(c) + 0.5).astype(dtype) if weighted else None
    loss = extra6.LinearCrossEntropyLoss(fin, c, out_features=out, bias=bias, dtype=dtype, reduction=reduction,
                                         weight=w, ignore_index=ignore_index, label_smoothing=smoothing)
    ref = torch.nn.LinearCrossEntropyLoss(fin, c, out_features=out, bias=bias, dtype=torch.float64,
                                          reduction=reduction, weight=None if w is None else _t(w),
                                          ignore_index=ignore_index, label_smoothing=smoothing)
    # random weights (not only the default init) and a nonzero old gradient to accumulate into
    for p in loss.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    ref.load_state_dict({k: _t(v) for k, v in loss.state_dict().items()})
    old = {name: rng.standard_normal(p.shape).astype(dtype) for name, p in loss.named_parameters()}
    for name, p in loss.named_parameters():
        p.grad = old[name].copy()
    batch = (n,) if batched else ()
    x = rng.standard_normal(batch + (fin,)).astype(dtype)
    if kind == "index":
        t = rng.integers(0, c, batch + out)
        if ignore_index is not None:
            t.reshape(-1)[:2] = ignore_index  # some ignored samples
    else:
        t = rng.random(batch + (c,) + out).astype(dtype)
        t /= t.sum(axis=len(batch), keepdims=True)
    tx = _t(x, True)
    ty = ref(tx, torch.tensor(t) if kind == "index" else _t(t))
    y = loss(x, t)
    if reduction == "none":
        assert y.dtype == dtype and y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y, _np(ty), **GEMM[dtype])
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(_t(dy))
        dx = loss.backward(dy)
    else:
        assert isinstance(y, float)
        np.testing.assert_allclose(y, ty.item(), **GEMM[dtype])
        ty.backward()
        dx = loss.backward()
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, _np(tx.grad), **GEMM[dtype])
    for name, p in loss.named_parameters():
        tp = dict(ref.named_parameters())[name]
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, old[name].astype(np.float64) + tp.grad.numpy(), **GEMM[dtype])


def test_linear_cross_entropy_backward_scaled_and_all_ignored(torch):
    rng = np.random.default_rng(5)
    loss = extra6.LinearCrossEntropyLoss(3, 4, bias=True, ignore_index=3, dtype=np.float64)
    ref = torch.nn.LinearCrossEntropyLoss(3, 4, bias=True, ignore_index=3, dtype=torch.float64)
    ref.load_state_dict({k: _t(v) for k, v in loss.state_dict().items()})
    x = rng.standard_normal((5, 3))
    t = np.array([0, 3, 1, 2, 3])
    tx = _t(x, True)
    (ref(tx, torch.tensor(t)) * 2.5).backward()
    loss(x, t)
    np.testing.assert_allclose(loss.backward(2.5), _np(tx.grad), **COMPUTED[np.float64])
    np.testing.assert_allclose(loss.linear.weight.grad, ref.linear.weight.grad.numpy(), **COMPUTED[np.float64])
    before = loss.linear.weight.grad.copy()
    # every sample ignored: mean is NaN (0 / 0), the gradient zero, as torch's
    t = np.full(5, 3)
    tx = _t(x, True)
    ty = ref(tx, torch.tensor(t))
    ty.backward()
    y = loss(x, t)
    assert np.isnan(y) and np.isnan(ty.item())
    np.testing.assert_array_equal(loss.backward(), _np(tx.grad))
    np.testing.assert_array_equal(loss.linear.weight.grad, before)  # adds nothing, as torch's zero gradient


def test_linear_cross_entropy_layout_repr_state_dict(torch):
    loss = extra6.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True, weight=np.ones(10),
                                         reduction="sum", ignore_index=-1, label_smoothing=0.25)
    ref = torch.nn.LinearCrossEntropyLoss(5, 10, out_features=(4, 3), bias=True, weight=torch.ones(10),
                                          reduction="sum", ignore_index=-1, label_smoothing=0.25)
    assert repr(loss) == repr(ref)
    assert repr(extra6.LinearCrossEntropyLoss(2, 3)) == repr(torch.nn.LinearCrossEntropyLoss(2, 3))
    assert list(loss.state_dict()) == list(ref.state_dict()) == ["weight", "linear.weight", "linear.bias"]
    for k, v in ref.state_dict().items():
        assert loss.state_dict()[k].shape == tuple(v.shape)
    assert loss.linear.weight.shape == (120, 5) and loss.linear.bias.shape == (120,)
    assert loss.in_features == 5 and loss.num_classes == 10 and loss.out_features == (4, 3)
    assert loss.ignore_index == -1 and extra6.LinearCrossEntropyLoss(2, 3).ignore_index is None
    opts = torch.nn.LinearCrossEntropyOptions()  # accepted, ignored, shown as torch shows it
    assert repr(extra6.LinearCrossEntropyLoss(2, 3, options=opts)) == repr(
        torch.nn.LinearCrossEntropyLoss(2, 3, options=opts))


def test_linear_cross_entropy_save_load(tmp_path):
    rng = np.random.default_rng(1)
    loss = extra6.LinearCrossEntropyLoss(4, 3, out_features=(2,), bias=True, weight=[1.0, 2.0, 0.5],
                                         reduction="sum", ignore_index=1, label_smoothing=0.1)
    path = tmp_path / "lce.npz"
    fastnn.save(loss, path)
    back = fastnn.load(path)
    assert type(back) is extra6.LinearCrossEntropyLoss and repr(back) == repr(loss)
    for k, v in loss.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = rng.integers(0, 3, (5, 2))
    assert back(x, t) == loss(x, t)
    np.testing.assert_array_equal(back.backward(), loss.backward())


def test_linear_cross_entropy_errors():
    L = extra6.LinearCrossEntropyLoss
    with pytest.raises(ValueError, match=r"weight.*\(3,\).*\(4,\)"):
        L(2, 3, weight=np.ones(4))
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        L(2, 3, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction='avg'"):
        L(2, 3, reduction="avg")
    with pytest.raises(TypeError, match="ignore_index=1.0"):
        L(2, 3, ignore_index=1.0)
    with pytest.raises(TypeError, match="out_features=4"):
        L(2, 3, out_features=4)
    with pytest.raises(ValueError, match="out_features=0"):
        L(2, 3, out_features=(2, 0))
    with pytest.raises(ValueError, match="num_classes=0"):
        L(2, 0)
    loss = L(2, 3, ignore_index=0)
    with pytest.raises(ValueError, match="ignore_index cannot be specified when target contains probabilities"):
        loss(np.ones((4, 2)), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"dimensionality 1 or 2.*\(1, 4, 2\)"):
        loss(np.ones((1, 4, 2)), np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="in_features=2"):
        loss(np.ones((4, 3)), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="requires batched input"):
        L(2, 3, out_features=(2,))(np.ones(2), np.zeros(2, np.int64))
    with pytest.raises(RuntimeError, match="before"):
        L(2, 3).backward()


# --- CrossMapLRN2d -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,channels", [(2, 5), (3, 6), (4, 7), (5, 3), (5, 8), (6, 4), (9, 2)])
def test_cross_map_lrn2d_matches_torch(torch, size, channels, dtype):
    rng = np.random.default_rng(size * 31 + channels)
    x = (2 * rng.standard_normal((3, channels, 4, 3))).astype(dtype)
    m = extra6.CrossMapLRN2d(size, alpha=0.4, beta=0.65, k=1.3)
    ref = torch.nn.CrossMapLRN2d(size, alpha=0.4, beta=0.65, k=1.3)
    tx = _t(x, True)
    ty = ref(tx)
    y = m(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, _np(ty), **COMPUTED[dtype])
    dy = rng.standard_normal(x.shape).astype(dtype)
    ty.backward(_t(dy))
    dx = m.backward(dy)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, _np(tx.grad), **COMPUTED[dtype])


def test_cross_map_lrn2d_defaults_repr_and_quirks(torch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 2, 2)) * 30
    m, ref = extra6.CrossMapLRN2d(3), torch.nn.CrossMapLRN2d(3)
    np.testing.assert_allclose(m(x), _np(ref(_t(x))), **COMPUTED[np.float64])
    assert repr(m) == repr(ref) == "CrossMapLRN2d(3, alpha=0.0001, beta=0.75, k=1)"
    assert repr(extra6.CrossMapLRN2d(5, 1, 0.5, 2.0)) == repr(torch.nn.CrossMapLRN2d(5, 1, 0.5, 2.0))
    assert m.state_dict() == {} and not m.parameters()
    # not LocalResponseNorm: torch's running sum keeps channel 0 in later windows
    lrn = nn.LocalResponseNorm(3)
    assert not np.allclose(m(x), lrn(x))
    # size 1: torch's forward works, its backward fails; fastnn's too
    one = extra6.CrossMapLRN2d(1)
    np.testing.assert_allclose(one(x), _np(torch.nn.CrossMapLRN2d(1)(_t(x))), **COMPUTED[np.float64])
    with pytest.raises(RuntimeError, match="size=1"):
        one.backward(np.ones_like(x))


def test_cross_map_lrn2d_save_load_and_errors(tmp_path):
    m = extra6.CrossMapLRN2d(4, alpha=0.01, beta=0.5, k=2)
    fastnn.save(m, tmp_path / "lrn.npz")
    back = fastnn.load(tmp_path / "lrn.npz")
    assert type(back) is extra6.CrossMapLRN2d and repr(back) == repr(m)
    x = np.random.default_rng(0).standard_normal((1, 5, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(back(x), m(x))
    with pytest.raises(ValueError, match=r"Expected input to be 4D, got 3D"):
        m(np.ones((5, 2, 2), np.float32))
    with pytest.raises(ValueError, match="size=0"):
        extra6.CrossMapLRN2d(0)
    with pytest.raises(TypeError, match="size=2.5"):
        extra6.CrossMapLRN2d(2.5)
    with pytest.raises(TypeError, match="alpha='a'"):
        extra6.CrossMapLRN2d(3, alpha="a")
    with pytest.raises(ValueError, match="beta=inf"):
        extra6.CrossMapLRN2d(3, beta=float("inf"))
    m(x)
    with pytest.raises(ValueError):
        m.backward(np.ones((1, 5, 2, 3), np.float32))


# --- DataParallel --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_data_parallel_delegates(torch, dtype):
    rng = np.random.default_rng(2)
    inner = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    inner.to(dtype)
    dp = extra6.DataParallel(inner)
    ref_inner = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).double()
    ref = torch.nn.DataParallel(ref_inner)
    assert list(dp.state_dict()) == list(ref.state_dict()) == ["module.0.weight", "module.0.bias"]
    ref.load_state_dict({k: _t(v) for k, v in dp.state_dict().items()})
    x = rng.standard_normal((5, 4)).astype(dtype)
    tx = _t(x, True)
    ty = ref(tx)
    y = dp(x)
    np.testing.assert_allclose(y, _np(ty), **GEMM[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(_t(dy))
    dx = dp.backward(dy)
    np.testing.assert_allclose(dx, _np(tx.grad), **GEMM[dtype])
    np.testing.assert_allclose(inner[0].weight.grad, ref_inner[0].weight.grad.numpy(), **GEMM[dtype])
    np.testing.assert_allclose(inner[0].bias.grad, ref_inner[0].bias.grad.numpy(), **GEMM[dtype])
    assert dp.module is inner and dp.children() == [inner]
    assert [p is q for p, q in zip(dp.parameters(), inner.parameters())] == [True, True]


def test_data_parallel_repr_attributes_save_load(torch, tmp_path):
    dp = extra6.DataParallel(nn.Tanh(), device_ids=[0], output_device="cuda:0", dim=1)
    assert repr(dp) == repr(torch.nn.DataParallel(torch.nn.Tanh())) == "DataParallel(\n  (module): Tanh()\n)"
    assert dp.device_ids == torch.nn.DataParallel(torch.nn.Tanh()).device_ids == []  # no CUDA here
    assert dp.dim == 1
    # kwargs and extra inputs reach the module
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    wrapped = extra6.DataParallel(mha)
    q = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    out, w = wrapped(q, q, q, need_weights=True)
    out2, w2 = mha(q, q, q, need_weights=True)
    np.testing.assert_array_equal(out, out2)
    model = extra6.DataParallel(nn.Sequential(nn.Linear(3, 2), nn.ReLU()), device_ids=["cuda"], dim=-1)
    fastnn.save(model, tmp_path / "dp.npz")
    back = fastnn.load(tmp_path / "dp.npz")
    assert type(back) is extra6.DataParallel and repr(back) == repr(model)
    assert back.get_config() == model.get_config() and back.dim == -1
    assert list(back.state_dict()) == ["module.0.weight", "module.0.bias"]
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(back(x), model(x))


def test_data_parallel_errors():
    DP = extra6.DataParallel
    with pytest.raises(TypeError, match="module=3"):
        DP(3)
    with pytest.raises(TypeError, match="device_ids=0"):
        DP(nn.ReLU(), device_ids=0)
    with pytest.raises(TypeError, match="device_ids=1.5"):
        DP(nn.ReLU(), device_ids=[0, 1.5])
    with pytest.raises(ValueError, match="device_ids=-2"):
        DP(nn.ReLU(), device_ids=[-2])
    with pytest.raises(ValueError, match="non cpu.*device_ids='cpu'"):
        DP(nn.ReLU(), device_ids=["cpu"])
    with pytest.raises(ValueError, match="device_ids='gpu0'"):
        DP(nn.ReLU(), device_ids=["gpu0"])
    with pytest.raises(ValueError, match="output_device=-3"):
        DP(nn.ReLU(), output_device=-3)
    with pytest.raises(TypeError, match="output_device=True"):
        DP(nn.ReLU(), output_device=True)
    with pytest.raises(TypeError, match="dim='0'"):
        DP(nn.ReLU(), dim="0")


# --- Container -----------------------------------------------------------------------------------

def test_container_matches_torch(torch, tmp_path):
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        c = extra6.Container(fc=nn.Linear(3, 2), act=nn.ReLU())
    with pytest.warns(FutureWarning, match="`nn.Container` is deprecated"):
        ref = torch.nn.Container(fc=torch.nn.Linear(3, 2), act=torch.nn.ReLU())
    assert [n for n, _ in c.named_children()] == [n for n, _ in ref.named_children()] == ["fc", "act"]
    assert list(c.state_dict()) == list(ref.state_dict()) == ["fc.weight", "fc.bias"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert repr(extra6.Container(a=nn.ReLU(), b=nn.Tanh())) == repr(
            torch.nn.Container(a=torch.nn.ReLU(), b=torch.nn.Tanh()))
        assert repr(extra6.Container()) == repr(torch.nn.Container()) == "Container()"
    with pytest.raises(NotImplementedError):
        c.forward(np.ones((1, 3), np.float32))
    fastnn.save(c, tmp_path / "c.npz")
    with pytest.warns(FutureWarning):
        back = fastnn.load(tmp_path / "c.npz")
    assert type(back) is extra6.Container and [n for n, _ in back.named_children()] == ["fc", "act"]
    for k, v in c.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v)
    # a subclass warns when it is defined, as torch's deprecated class does
    with pytest.warns(FutureWarning, match="deprecated"):
        class Mine(extra6.Container):
            pass


def test_container_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(TypeError, match="fc=3"):
            extra6.Container(fc=3)
        with pytest.raises(KeyError, match="training"):
            extra6.Container(training=nn.ReLU())
        with pytest.raises(KeyError, match="a.b"):
            extra6.Container(**{"a.b": nn.ReLU()})
