"""SyncBatchNorm and the Lazy modules (fastnn/nn/extra5.py) against torch.nn's: outputs and
gradients (input and parameters) in float32 and float64, state_dict names, reprs, save/load,
materialization in place (an optimizer made before the first forward), errors.

Tolerances as tests/test_conformance_nn_extra.py: float64 against torch's float64 (rtol 1e-12,
atol 1e-12: a few sums of < 1000 O(1) terms); float32 against torch in float64 on the same
float32 values (the truth): rtol 1e-6, atol 1e-6 (a few ulp; atol for dx values that cancel
to ~0).
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.nn import extra5 as E


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


TOL = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def _t(torch, a):
    return torch.from_numpy(np.asarray(a, np.float64))


# --- SyncBatchNorm ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False)])
def test_sync_batchnorm_matches_torch(torch, dtype, shape, affine, track):
    rng = np.random.default_rng(0)
    c = shape[1]
    ours = E.SyncBatchNorm(c, momentum=0.3, affine=affine, track_running_stats=track)
    theirs = torch.nn.SyncBatchNorm(c, momentum=0.3, affine=affine, track_running_stats=track).double()
    if dtype == np.float64:
        ours.double()
    if affine:
        w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
        ours.weight.data[:], ours.bias.data[:] = w, b
        with torch.no_grad():
            theirs.weight.copy_(_t(torch, w))
            theirs.bias.copy_(_t(torch, b))
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        dy = rng.standard_normal(shape).astype(dtype)
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(dy)
        tx = _t(torch, x).requires_grad_(True)
        ty = theirs(tx)
        ty.backward(_t(torch, dy))
        assert y.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype])
        np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL[dtype])
        if affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), **TOL[dtype])
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), **TOL[dtype])
            theirs.weight.grad = theirs.bias.grad = None
        if track:
            np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), **TOL[dtype])
            np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), **TOL[dtype])
            assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_sync_batchnorm_repr_errors_and_save(torch, tmp_path):
    assert repr(E.SyncBatchNorm(4)) == repr(torch.nn.SyncBatchNorm(4))
    assert repr(E.SyncBatchNorm(4, eps=1e-3, momentum=None, affine=False, track_running_stats=False)) == repr(
        torch.nn.SyncBatchNorm(4, eps=1e-3, momentum=None, affine=False, track_running_stats=False))
    with pytest.raises(ValueError, match="at least 2"):
        E.SyncBatchNorm(3)(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="more than one value per channel"):
        E.SyncBatchNorm(3)(np.zeros((1, 3, 1), np.float32))
    with pytest.raises(ValueError, match="Received: num_features=0"):
        E.SyncBatchNorm(0)
    with pytest.raises(ValueError, match="Received: process_group="):
        E.SyncBatchNorm(3, process_group="world")
    with pytest.raises(Exception, match="3"):
        E.SyncBatchNorm(3)(np.zeros((2, 4, 5), np.float32))
    layer = E.SyncBatchNorm(3, momentum=None)
    layer(np.random.default_rng(1).standard_normal((4, 3, 2)).astype(np.float32))
    fastnn.save(layer, tmp_path / "s.fnn")
    loaded = fastnn.load(tmp_path / "s.fnn")
    assert type(loaded) is E.SyncBatchNorm and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)


def test_convert_sync_batchnorm_as_torch(torch):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.2),
                          nn.Sequential(nn.BatchNorm2d(4, affine=False), nn.ReLU()))
    model[1].running_mean[:] = [1, 2, 3, 4]
    model[1].eval()
    weight = model[1].weight
    out = E.SyncBatchNorm.convert_sync_batchnorm(model)
    assert out is model
    assert type(model[1]) is E.SyncBatchNorm and type(model[2][0]) is E.SyncBatchNorm
    assert model[1].weight is weight and model[1].momentum == 0.2 and not model[1].training
    np.testing.assert_array_equal(model[1].running_mean, [1, 2, 3, 4])
    assert not model[2][0].affine
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, momentum=0.2),
                                 torch.nn.Sequential(torch.nn.BatchNorm2d(4, affine=False), torch.nn.ReLU()))
    tmodel = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tmodel)
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert repr(model[1]) == repr(tmodel[1])
    single = E.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm3d(2))
    assert type(single) is E.SyncBatchNorm and single.num_features == 2


# --- Lazy modules ----------------------------------------------------------------------------

# (lazy factory, regular fastnn factory(in), torch regular factory(in), input shape, tolerance key)
LAZY = [
    ("LazyLinear", lambda: E.LazyLinear(5), lambda n: nn.Linear(n, 5), lambda t, n: t.nn.Linear(n, 5), (4, 3)),
    ("LazyLinear 3-D", lambda: E.LazyLinear(2, bias=False), lambda n: nn.Linear(n, 2, bias=False),
     lambda t, n: t.nn.Linear(n, 2, bias=False), (2, 3, 6)),
    ("LazyConv1d", lambda: E.LazyConv1d(4, 3, padding=1), lambda n: nn.Conv1d(n, 4, 3, padding=1),
     lambda t, n: t.nn.Conv1d(n, 4, 3, padding=1), (2, 3, 7)),
    ("LazyConv2d", lambda: E.LazyConv2d(4, 3, stride=2, groups=2), lambda n: nn.Conv2d(n, 4, 3, stride=2, groups=2),
     lambda t, n: t.nn.Conv2d(n, 4, 3, stride=2, groups=2), (2, 4, 7, 6)),
    ("LazyConv3d", lambda: E.LazyConv3d(2, 2), lambda n: nn.Conv3d(n, 2, 2),
     lambda t, n: t.nn.Conv3d(n, 2, 2), (2, 3, 4, 3, 4)),
    ("LazyConvTranspose1d", lambda: E.LazyConvTranspose1d(3, 3, stride=2), lambda n: nn.ConvTranspose1d(n, 3, 3, stride=2),
     lambda t, n: t.nn.ConvTranspose1d(n, 3, 3, stride=2), (2, 2, 5)),
    ("LazyConvTranspose2d", lambda: E.LazyConvTranspose2d(3, 2, padding=1), lambda n: nn.ConvTranspose2d(n, 3, 2, padding=1),
     lambda t, n: t.nn.ConvTranspose2d(n, 3, 2, padding=1), (2, 2, 4, 5)),
    ("LazyConvTranspose3d", lambda: E.LazyConvTranspose3d(2, 2), lambda n: nn.ConvTranspose3d(n, 2, 2),
     lambda t, n: t.nn.ConvTranspose3d(n, 2, 2), (1, 3, 3, 2, 3)),
    ("LazyBatchNorm1d", lambda: E.LazyBatchNorm1d(), lambda n: nn.BatchNorm1d(n),
     lambda t, n: t.nn.BatchNorm1d(n), (5, 3, 4)),
    ("LazyBatchNorm2d", lambda: E.LazyBatchNorm2d(momentum=None), lambda n: nn.BatchNorm2d(n, momentum=None),
     lambda t, n: t.nn.BatchNorm2d(n, momentum=None), (3, 2, 4, 3)),
    ("LazyBatchNorm3d", lambda: E.LazyBatchNorm3d(), lambda n: nn.BatchNorm3d(n),
     lambda t, n: t.nn.BatchNorm3d(n), (2, 3, 2, 3, 2)),
    ("LazyInstanceNorm1d", lambda: E.LazyInstanceNorm1d(), lambda n: nn.InstanceNorm1d(n, affine=True, track_running_stats=True),
     lambda t, n: t.nn.InstanceNorm1d(n, affine=True, track_running_stats=True), (2, 3, 6)),
    ("LazyInstanceNorm2d", lambda: E.LazyInstanceNorm2d(affine=False, track_running_stats=False),
     lambda n: nn.InstanceNorm2d(n), lambda t, n: t.nn.InstanceNorm2d(n), (2, 3, 4, 5)),
    ("LazyInstanceNorm3d", lambda: E.LazyInstanceNorm3d(), lambda n: nn.InstanceNorm3d(n, affine=True, track_running_stats=True),
     lambda t, n: t.nn.InstanceNorm3d(n, affine=True, track_running_stats=True), (2, 2, 3, 2, 3)),
]
IDS = [c[0] for c in LAZY]


def _in_size(name, shape):
    return shape[-1] if "Linear" in name else shape[1]


@pytest.mark.parametrize("case", LAZY, ids=IDS)
def test_lazy_state_dict_before_materialization(case):
    """The keys of the regular layer (torch's lazy state_dict has them all before the first
    forward), each an empty array until then (num_batches_tracked a 0 count)."""
    name, lazy, regular, _, shape = case
    layer = lazy()
    assert list(layer.state_dict()) == list(regular(_in_size(name, shape)).state_dict())
    for k, v in layer.state_dict().items():
        assert v.shape == (() if k == "num_batches_tracked" else (0,)), k
    assert repr(layer).startswith(name.split()[0] + "(")


def test_lazy_state_dict_keys_before_as_torch(torch):
    pairs = [(E.LazyLinear(5), torch.nn.LazyLinear(5)), (E.LazyConv2d(4, 3, bias=False), torch.nn.LazyConv2d(4, 3, bias=False)),
             (E.LazyConvTranspose3d(4, 3), torch.nn.LazyConvTranspose3d(4, 3)),
             (E.LazyBatchNorm1d(), torch.nn.LazyBatchNorm1d()), (E.LazyInstanceNorm2d(), torch.nn.LazyInstanceNorm2d()),
             (E.LazyBatchNorm3d(affine=False), torch.nn.LazyBatchNorm3d(affine=False))]
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict()), repr(ours)


def test_lazy_reprs_match_torch(torch):
    pairs = [(E.LazyLinear(5, bias=False), torch.nn.LazyLinear(5, bias=False)),
             (E.LazyConv1d(4, 3), torch.nn.LazyConv1d(4, 3)),
             (E.LazyConv2d(4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False),
              torch.nn.LazyConv2d(4, 3, stride=2, padding=1, dilation=2, groups=2, bias=False)),
             (E.LazyConv3d(4, (1, 2, 3), padding_mode="circular", padding=1),
              torch.nn.LazyConv3d(4, (1, 2, 3), padding_mode="circular", padding=1)),
             (E.LazyConvTranspose2d(4, 3, output_padding=1, stride=2), torch.nn.LazyConvTranspose2d(4, 3, output_padding=1, stride=2)),
             (E.LazyBatchNorm2d(eps=1e-3), torch.nn.LazyBatchNorm2d(eps=1e-3)),
             (E.LazyInstanceNorm1d(affine=False), torch.nn.LazyInstanceNorm1d(affine=False))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    layer = E.LazyLinear(5)
    layer(np.zeros((2, 3), np.float32))
    assert type(layer) is nn.Linear and repr(layer).startswith("Linear(in_features=3, out_features=5, bias=True")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAZY, ids=IDS)
def test_lazy_materializes_and_matches_torch(torch, case, dtype):
    name, lazy, regular, treg, shape = case
    rng = np.random.default_rng(3)
    layer = lazy()
    params_before = list(layer.parameters())
    if dtype == np.float64:
        layer.double()
    x = rng.standard_normal(shape).astype(dtype)
    y = layer(x)
    n = _in_size(name, shape)
    reg = regular(n)
    assert type(layer) is type(reg) and type(layer) is lazy().cls_to_become
    assert [a is b for a, b in zip(layer.parameters(), params_before)] == [True] * len(params_before)
    assert len(params_before) == len(list(reg.parameters()))
    assert layer.get_config() == reg.get_config() and repr(layer) == repr(reg)
    tlayer = treg(torch, n).double()
    assert list(layer.state_dict()) == list(tlayer.state_dict())
    with torch.no_grad():
        for k, v in tlayer.state_dict().items():
            assert layer.state_dict()[k].shape == tuple(v.shape), k
            if v.dtype.is_floating_point:
                v.copy_(_t(torch, layer.state_dict()[k]))
    assert y.dtype == dtype
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    tx = _t(torch, x).requires_grad_(True)
    ty = tlayer(tx)
    ty.backward(_t(torch, dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL[dtype])
    tparams = dict(tlayer.named_parameters())
    for pname, p in layer.named_parameters():
        assert p.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[pname].grad.numpy(), **TOL[dtype], err_msg=pname)


@pytest.mark.parametrize("case", [c for c in LAZY if c[0] in ("LazyLinear", "LazyConv2d", "LazyConvTranspose1d",
                                                                 "LazyBatchNorm1d", "LazyInstanceNorm3d")],
                         ids=lambda c: c[0])
def test_optimizer_made_before_first_forward_trains_materialized_params(case):
    name, lazy, regular, _, shape = case
    rng = np.random.default_rng(5)
    layer = lazy()
    opt = optim.Adam(layer.parameters(), lr=0.1)
    x = rng.standard_normal(shape).astype(np.float32)
    y = layer(x)
    reg = regular(_in_size(name, shape))
    reg.load_state_dict(layer.state_dict())
    ropt = optim.Adam(reg.parameters(), lr=0.1)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for model, o in ((layer, opt), (reg, ropt)):
        o.zero_grad()
        model(x)
        model.backward(dy)
        o.step()
    after = layer.state_dict()
    for pname, _ in layer.named_parameters():
        assert not np.array_equal(after[pname], before[pname]), pname
    for k, v in reg.state_dict().items():
        np.testing.assert_array_equal(after[k], v, err_msg=k)


def test_lazy_initial_distribution_as_regular_class():
    from fastnn._random import manual_seed
    manual_seed(123)
    ws = []
    for _ in range(20):
        layer = E.LazyLinear(50)
        layer(np.zeros((1, 16), np.float32))
        ws.append(layer.weight.data)
    w = np.concatenate([a.ravel() for a in ws])
    bound = 1 / np.sqrt(16)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 and abs(w.mean()) < 0.01
    bn = E.LazyBatchNorm2d()
    bn(np.random.default_rng(0).standard_normal((2, 3, 2, 2)).astype(np.float32))
    np.testing.assert_array_equal(bn.weight.data, np.ones(3, np.float32))
    np.testing.assert_array_equal(bn.bias.data, np.zeros(3, np.float32))
    assert int(bn.num_batches_tracked) == 1 and bn.running_mean.shape == (3,)


def test_lazy_load_state_dict_materializes_as_torch(torch):
    src = nn.Conv2d(3, 4, 2, groups=1)
    layer = E.LazyConv2d(4, 2)
    w = layer.weight
    layer.load_state_dict(src.state_dict())
    assert type(layer) is nn.Conv2d and layer.in_channels == 3 and layer.weight is w
    np.testing.assert_array_equal(layer.weight.data, src.weight.data)
    lin = E.LazyLinear(2)
    lin.load_state_dict({"weight": np.ones((2, 7), np.float32), "bias": np.zeros(2, np.float32)})
    assert type(lin) is nn.Linear and lin.in_features == 7
    tl = torch.nn.LazyLinear(2)
    tl.load_state_dict({"weight": torch.ones(2, 7), "bias": torch.zeros(2)})
    assert tuple(tl.weight.shape) == lin.weight.shape
    bn = E.LazyBatchNorm1d()
    bn.load_state_dict(nn.BatchNorm1d(6).state_dict())
    assert type(bn) is nn.BatchNorm1d and bn.num_features == 6
    ct = E.LazyConvTranspose1d(4, 3, groups=2)
    ct.load_state_dict(nn.ConvTranspose1d(6, 4, 3, groups=2).state_dict())
    assert type(ct) is nn.ConvTranspose1d and ct.in_channels == 6
    # an uninitialized state loads into an uninitialized lazy module, which stays lazy
    lazy = E.LazyLinear(3)
    lazy.load_state_dict(E.LazyLinear(3).state_dict())
    assert type(lazy) is E.LazyLinear


def test_lazy_save_load_round_trip(tmp_path):
    layer = E.LazyConv1d(4, 3, stride=2)
    fastnn.save(layer, tmp_path / "lazy.fnn")
    loaded = fastnn.load(tmp_path / "lazy.fnn")
    assert type(loaded) is E.LazyConv1d and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    x = np.random.default_rng(0).standard_normal((2, 3, 9)).astype(np.float32)
    layer(x)
    fastnn.save(layer, tmp_path / "mat.fnn")
    again = fastnn.load(tmp_path / "mat.fnn")
    assert type(again) is nn.Conv1d
    np.testing.assert_array_equal(again(x), layer(x))


def test_lazy_in_a_sequential_trains():
    model = nn.Sequential(E.LazyLinear(4), nn.ReLU(), E.LazyLinear(1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = model(x)
    assert y.shape == (8, 1) and type(model[0]) is nn.Linear and type(model[2]) is nn.Linear
    w = model[2].weight.data.copy()
    opt.zero_grad()
    model.backward(np.ones_like(y))
    opt.step()
    assert not np.array_equal(model[2].weight.data, w)


def test_lazy_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="Received: out_features=0"):
        E.LazyLinear(0)
    with pytest.raises(ValueError, match="Received: out_channels=0"):
        E.LazyConv2d(0, 3)
    with pytest.raises((TypeError, ValueError), match="Received: eps="):
        E.LazyBatchNorm1d(eps=-1.0)
    with pytest.raises(ValueError, match="dimensions"):
        E.LazyConv2d(4, 3)(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="dimensions"):
        E.LazyBatchNorm2d()(np.zeros((3, 5), np.float32))
    with pytest.raises(TypeError, match="ndarray"):
        E.LazyLinear(3)([1.0, 2.0])
    with pytest.raises(ValueError, match="groups|in_channels"):
        E.LazyConv2d(4, 3, groups=2)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        E.LazyLinear(3).backward(np.zeros((1, 3), np.float32))
    # unbatched conv / instance-norm inputs take their channels from axis 0 (torch's)
    conv = E.LazyConv1d(2, 2)
    assert conv(np.zeros((5, 4), np.float32)).shape == (2, 3) and conv.in_channels == 5
    inorm = E.LazyInstanceNorm1d()
    assert inorm(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)).shape == (3, 4)
    assert inorm.num_features == 3


# --- FractionalMaxPool2d / 3d ------------------------------------------------------------------
# Forward and indices are exact (a selection); dx sums dy where windows overlap (a few terms,
# summed in another order than torch's): COMPUTED tolerances.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,shape,kernel,out", [
    (2, (2, 3, 9, 7), 3, (4, 3)), (2, (3, 8, 8), (2, 3), 5), (2, (1, 2, 5, 6), 2, (4, 5)), (2, (2, 1, 6, 6), 2, 1),
    (3, (2, 2, 7, 6, 8), 2, (3, 4, 2)), (3, (2, 5, 5, 5), (3, 2, 2), 2)])
def test_fractional_max_pool_with_samples_equals_torch(torch, dtype, n, shape, kernel, out):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[3] = np.nan
    x.flat[10] = x.flat[11] = 5.0  # a tie: the first wins
    nb = shape[0] if len(shape) == n + 2 else 1
    samples = rng.random((nb, shape[-n - 1], n)).astype(dtype)
    ours = (E.FractionalMaxPool2d if n == 2 else E.FractionalMaxPool3d)(
        kernel, output_size=out, return_indices=True, _random_samples=samples)
    tcls = torch.nn.FractionalMaxPool2d if n == 2 else torch.nn.FractionalMaxPool3d
    theirs = tcls(kernel, output_size=out, return_indices=True, _random_samples=torch.from_numpy(samples))
    y, idx = ours(x)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty, tidx = theirs(tx)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(idx, tidx.numpy())
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(dy))
    dx = ours.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12 if dtype == np.float64 else 1e-6, atol=0)


def test_fractional_max_pool_ratio_rng_repr_save_and_errors(torch, tmp_path):
    from fastnn._random import manual_seed
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 9)).astype(np.float32)
    pool = E.FractionalMaxPool2d(2, output_ratio=0.5)
    assert pool(x).shape == torch.nn.FractionalMaxPool2d(2, output_ratio=0.5)(torch.from_numpy(x)).shape == (2, 3, 5, 4)
    manual_seed(1)
    a = pool(x)
    manual_seed(1)
    b = pool(x)
    c = pool(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)  # fresh samples at each forward
    assert repr(pool) == repr(torch.nn.FractionalMaxPool2d(2, output_ratio=0.5)) == "FractionalMaxPool2d()"
    assert repr(E.FractionalMaxPool3d(2, 3)) == repr(torch.nn.FractionalMaxPool3d(2, 3))
    fastnn.save(E.FractionalMaxPool3d(2, output_size=(2, 3, 2), return_indices=True), tmp_path / "f.fnn")
    loaded = fastnn.load(tmp_path / "f.fnn")
    assert type(loaded) is E.FractionalMaxPool3d and loaded.output_size == (2, 3, 2) and loaded.return_indices
    with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
        E.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of"):
        E.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match="Received: output_ratio=1.5"):
        E.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="Received: kernel_size=0"):
        E.FractionalMaxPool2d(0, output_size=3)
    with pytest.raises(ValueError, match="too large"):
        E.FractionalMaxPool2d(2, output_size=7)(np.zeros((1, 1, 7, 7), np.float32))
    with pytest.raises(ValueError, match="_random_samples"):
        E.FractionalMaxPool2d(2, output_size=3, _random_samples=np.zeros((1, 2, 2)))(np.zeros((1, 3, 7, 7), np.float32))
    with pytest.raises(Exception):
        E.FractionalMaxPool2d(2, output_size=3)(np.zeros((7, 7), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        E.FractionalMaxPool2d(2, output_size=3)(np.zeros((1, 7, 7), np.int64))


# --- AdaptiveLogSoftmaxWithLoss ----------------------------------------------------------------

def _asm_pair(torch, dtype, in_features, n_classes, cutoffs, **kw):
    ours = E.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, **kw)
    if dtype == np.float64:
        ours.double()
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, **kw).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for k, v in theirs.state_dict().items():
            assert tuple(v.shape) == ours.state_dict()[k].shape, k
            v.copy_(_t(torch, ours.state_dict()[k]))
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg,target", [
    (dict(in_features=16, n_classes=10, cutoffs=[3, 6], div_value=2.0, head_bias=True), [0, 4, 9, 2, 7, 5, 1]),
    (dict(in_features=12, n_classes=20, cutoffs=[5, 10, 15], div_value=2.0), [19, 0, 3, 3, 16]),  # tail 0 and 1 unused
    (dict(in_features=8, n_classes=4, cutoffs=[1]), [0]),                           # batch of one
])
def test_adaptive_log_softmax_matches_torch(torch, dtype, cfg, target):
    rng = np.random.default_rng(11)
    ours, theirs = _asm_pair(torch, dtype, **cfg)
    t = np.array(target, np.int64)
    x = rng.standard_normal((t.size, cfg["in_features"])).astype(dtype)
    output, loss = ours(x, t)
    assert output.dtype == dtype and output.shape == (t.size,) and loss.shape == ()
    tx = _t(torch, x).requires_grad_(True)
    tout = theirs(tx, torch.from_numpy(t))
    assert tout._fields == ours(x, t)._fields == ("output", "loss")
    doutput = rng.standard_normal(t.size).astype(dtype)
    (tout.loss * 0.5 + (tout.output * _t(torch, doutput)).sum()).backward()
    ours.zero_grad()
    ours(x, t)
    dx = ours.backward(0.5, doutput)
    np.testing.assert_allclose(output, tout.output.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(loss, tout.loss.item(), **TOL[dtype])
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL[dtype])
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if tparams[name].grad is None:
            assert not p.has_grad, name
        else:
            np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **TOL[dtype], err_msg=name)
    np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(tx).detach().numpy(), **TOL[dtype])
    np.testing.assert_array_equal(ours.predict(x), theirs.predict(tx).numpy())
    # unbatched: a 1-D input and a 0-d target
    o1, l1 = ours(x[0], np.array(t[0]))
    to1 = theirs(tx[0].detach(), torch.tensor(int(t[0])))
    assert o1.shape == () and ours.log_prob(x[0]).shape == (cfg["n_classes"],)
    np.testing.assert_allclose(o1, to1.output.item(), **TOL[dtype])
    np.testing.assert_allclose(l1, to1.loss.item(), **TOL[dtype])


def test_adaptive_log_softmax_init_save_errors_and_training(torch, tmp_path):
    m = E.AdaptiveLogSoftmaxWithLoss(32, 50, [10, 30])
    assert m.head.weight.shape == (12, 32) and m.head.bias is None
    assert m.tail[1][0].weight.shape == (2, 32) and m.tail[1][1].weight.shape == (20, 2)
    bound = 1 / np.sqrt(32)
    assert np.abs(m.head.weight.data).max() <= bound and m.head.weight.data.std() > 0.4 * bound
    x = np.random.default_rng(0).standard_normal((6, 32)).astype(np.float32)
    t = np.array([0, 12, 45, 9, 31, 20])
    fastnn.save(m, tmp_path / "asm.fnn")
    loaded = fastnn.load(tmp_path / "asm.fnn")
    assert type(loaded) is E.AdaptiveLogSoftmaxWithLoss and loaded.get_config() == m.get_config()
    np.testing.assert_array_equal(loaded(x, t).output, m(x, t).output)
    opt = optim.SGD(m.parameters(), lr=0.5)
    first = float(m(x, t).loss)
    for _ in range(5):
        opt.zero_grad()
        m(x, t)
        m.backward()
        opt.step()
    assert float(m(x, t).loss) < first
    with pytest.raises(ValueError, match="cutoffs should be"):
        E.AdaptiveLogSoftmaxWithLoss(8, 10, [5, 3])
    with pytest.raises(ValueError, match="cutoffs should be"):
        E.AdaptiveLogSoftmaxWithLoss(8, 10, [10])
    with pytest.raises(ValueError, match="Received: in_features=0"):
        E.AdaptiveLogSoftmaxWithLoss(0, 10, [5])
    with pytest.raises(RuntimeError, match="Target values should be in"):
        m(x, np.array([0, 1, 2, 3, 4, 50]))
    with pytest.raises(ValueError, match="Target values should be in"):
        m(x, np.array([0, 1, 2, 3, 4, -1]))
    with pytest.raises(RuntimeError, match="Target values should be in"):
        torch.nn.AdaptiveLogSoftmaxWithLoss(32, 50, [10, 30])(torch.zeros(6, 32), torch.tensor([0, 1, 2, 3, 4, 50]))
    with pytest.raises(ValueError, match="target must be"):
        m(x, t[:3])
    with pytest.raises(ValueError, match="input of shape"):
        m(x[:, :5], t)
    with pytest.raises(RuntimeError):
        E.AdaptiveLogSoftmaxWithLoss(8, 10, [5]).backward()
