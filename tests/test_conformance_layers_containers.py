"""Conformance of the containers (Sequential, ModuleList, Identity), BatchNorm, Dropout and
fastnn.save / fastnn.load with PyTorch, where fastnn follows its semantics (from a probe)."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import nn


# --- Sequential's list API (torch.nn.Sequential) ---------------------------------------------

_KINDS = ["ReLU", "Tanh", "Sigmoid", "ELU", "GELU", "Softplus", "SiLU", "Identity", "LeakyReLU", "Softmax"]


def _both(kind):
    torch = pytest.importorskip("torch")
    return getattr(nn, kind)(), getattr(torch.nn, kind)()


def _kinds(container):
    return [type(m).__name__ for m in container]


def _same_as_torch(ours, theirs):
    assert _kinds(ours) == _kinds(theirs)
    assert list(ours._modules) == list(theirs._modules) == [str(i) for i in range(len(theirs))]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    for name, child in ours._modules.items():  # the attribute and the registration agree
        assert getattr(ours, name) is child


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_list_api_edits_match_torch(container):
    """insert (negative too), del (int, negative, slice), pop, s[i] = m, extend, append: the same
    modules in the same order, renumbered "0", "1", ... as torch's. fastnn had only append."""
    torch = pytest.importorskip("torch")
    pairs = [_both(k) for k in _KINDS]
    if container == "Sequential":
        ours, theirs = nn.Sequential(*[p[0] for p in pairs[:4]]), torch.nn.Sequential(*[p[1] for p in pairs[:4]])
    else:
        ours, theirs = nn.ModuleList([p[0] for p in pairs[:4]]), torch.nn.ModuleList([p[1] for p in pairs[:4]])
    # (method, index or None, module position or None); an index < 0 counts from the end
    edits = [("insert", 0, 4), ("insert", -1, 5), ("insert", "len", 6), ("insert", "-len", 7),
             ("__delitem__", 1, None), ("__delitem__", -1, None), ("__delitem__", slice(1, 3), None),
             ("__setitem__", -2, 8), ("__setitem__", 0, 9), ("extend", None, [1, 2]), ("append", None, 3),
             ("__delitem__", slice(None, None, 2), None)]
    ours_m, theirs_m = [p[0] for p in pairs], [p[1] for p in pairs]
    for method, index, which in edits:
        for c, mods in ((ours, ours_m), (theirs, theirs_m)):
            i = {"len": len(c), "-len": -len(c)}.get(index, index) if not isinstance(index, slice) else index
            if method == "insert" and c is theirs and container == "ModuleList" and i < 0:
                i += len(c)  # torch's ModuleList.insert mishandles a negative index (Sequential's does not)
            args = ([] if index is None else [i]) + (
                [] if which is None else [[mods[k] for k in which] if isinstance(which, list) else mods[which]])
            getattr(c, method)(*args)
        _same_as_torch(ours, theirs)
    assert type(ours.pop(0)).__name__ == type(theirs.pop(0)).__name__
    _same_as_torch(ours, theirs)
    assert type(ours.pop(-1)).__name__ == type(theirs.pop(-1)).__name__
    _same_as_torch(ours, theirs)
    for i in range(-len(theirs), len(theirs)):
        assert type(ours[i]).__name__ == type(theirs[i]).__name__
    sliced = ours[::-1]
    assert type(sliced) is type(ours) and _kinds(sliced) == _kinds(theirs[::-1])
    assert list(sliced._modules) == [str(i) for i in range(len(sliced))]


@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_out_of_range_positions_raise_index_error_as_torch(container):
    c = getattr(nn, container)([nn.ReLU(), nn.Tanh()])
    for i in (2, -3):
        with pytest.raises(IndexError, match=f"Received: index={i}"):
            c[i]
        with pytest.raises(IndexError, match=f"Received: index={i}"):
            c[i] = nn.ReLU()
        with pytest.raises(IndexError, match=f"Received: index={i}"):
            del c[i]
    for i in (3, -3):
        with pytest.raises(IndexError, match=f"Received: index={i}"):
            c.insert(i, nn.ReLU())
    with pytest.raises(TypeError, match="Received: index='0'"):
        c["0"]
    assert len(c) == 2 and c[np.int64(-1)] is c[1]
    kind = "layer" if container == "Sequential" else "module"
    with pytest.raises(TypeError, match=f"Received: {kind}=3"):
        c[0] = 3
    with pytest.raises(TypeError, match=f"Received: {kind}=3"):
        c.insert(0, 3)
    with pytest.raises(TypeError, match="iterable"):
        c.extend(3)
    with pytest.raises(TypeError, match=f"Received: {kind}='x'"):
        c.extend([nn.ReLU(), "x"])
    assert len(c) == 2  # a failed extend adds nothing


def test_replacing_a_layer_keeps_its_place_in_parameters_and_state_dict():
    """s[0] = Linear(...) (and setattr of a registered name) used to move the layer's entry to
    the end of the registry: parameters() and state_dict() changed order, a Sequential's
    iteration too. PyTorch keeps the place."""
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    new = nn.Linear(2, 3)
    s[0] = new
    assert list(s) == [new, s[1], s[2]]
    assert list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    lin = nn.Linear(2, 2)
    lin.weight = nn.Parameter(np.zeros((2, 2), np.float32))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_del_attribute_unregisters_as_torch():
    torch = pytest.importorskip("torch")

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

    m, t = Two(), torch.nn.Sequential()
    t.a, t.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    del m.a, t.a
    assert list(m.state_dict()) == list(t.state_dict()) == ["b.weight", "b.bias"]
    del m.b.bias, t.b.bias
    assert list(m.state_dict()) == list(t.state_dict()) == ["b.weight"]
    bn, tbn = nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    del bn.running_var, tbn.running_var
    assert list(bn.state_dict()) == list(tbn.state_dict()) == ["weight", "bias", "running_mean", "num_batches_tracked"]


def test_add_module_checks_as_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Sequential(nn.ReLU()), torch.nn.Module()
    for bad, error in [(("x", 3), TypeError), ((3, nn.ReLU()), TypeError), (("a.b", nn.ReLU()), KeyError),
                       (("", nn.ReLU()), KeyError), (("forward", nn.ReLU()), KeyError)]:
        with pytest.raises(error):
            nn.Module().add_module(*bad)
        with pytest.raises(error):
            theirs.add_module(bad[0], torch.nn.ReLU() if isinstance(bad[1], nn.Module) else bad[1])
    holder = nn.Module()
    holder.add_module("fc", nn.Linear(2, 2))
    assert [n for n, _ in holder.named_children()] == ["fc"] and list(holder.state_dict()) == ["fc.weight", "fc.bias"]
    # a Sequential's names are its positions (fastnn.save stores the list of layers): the next
    # position appends, an existing one replaces, any other name is refused
    ours.add_module("1", nn.Tanh())
    ours.add_module("0", nn.Sigmoid())
    assert _kinds(ours) == ["Sigmoid", "Tanh"]
    with pytest.raises(ValueError, match="Received: name='fc'"):
        ours.add_module("fc", nn.ReLU())


# --- fused steps after the layers change -------------------------------------------------------

def _mlp():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 3))


def _cnn():
    fastnn.manual_seed(1)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(27, 4))


def _fused_equals_layer_by_layer(model, dtype):
    """The Sequential (fused steps) against its layers' own forward / backward, one by one."""
    rng = np.random.default_rng(2)
    first = model[0]
    x = rng.standard_normal((5, first.in_features) if isinstance(first, nn.Linear) else (5, 2, 6, 6)).astype(dtype)
    model.zero_grad()
    y = model(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = model.backward(dy)
    grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    y1 = x
    for layer in model:
        y1 = layer.forward(y1)
    dx1 = dy
    for layer in reversed(list(model)):
        dx1 = layer.backward(dx1)
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(dx, dx1)
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(g, p.grad)


@pytest.mark.parametrize("build, edit, plan", [
    (_mlp, lambda s: s.__setitem__(1, nn.Tanh()), ["LinearTanh", "LinearTanh", "Linear"]),
    (_mlp, lambda s: s.__delitem__(1), ["Linear", "LinearTanh", "Linear"]),
    (_mlp, lambda s: s.insert(1, nn.Identity()), ["Linear", "Identity", "ReLU", "LinearTanh", "Linear"]),
    (_mlp, lambda s: s.pop(3), ["LinearRelu", "Linear", "Linear"]),
    (_mlp, lambda s: s.append(nn.ReLU()), ["LinearRelu", "LinearTanh", "LinearRelu"]),
    (_mlp, lambda s: s.__delitem__(slice(0, 2)), ["LinearTanh", "Linear"]),
    (_cnn, lambda s: s.insert(2, nn.Identity()), ["Conv2d", "ReLU", "Identity", "MaxPool2d", "Flatten", "Linear"]),
    (_cnn, lambda s: s.__setitem__(1, nn.ELU()), ["Conv2d", "ELU", "MaxPool2d", "Flatten", "Linear"]),
    (_cnn, lambda s: s.insert(1, nn.BatchNorm2d(3)), ["Conv2d", "BatchNorm2d", "ReluMaxPool", "Flatten", "Linear"]),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_steps_are_planned_anew_after_the_layers_change(build, edit, plan, dtype):
    """Each forward plans its fused steps from the current layers: after an edit the result,
    dx and gradients are bitwise those of the new layers run one by one."""
    model = build().to(dtype)
    _fused_equals_layer_by_layer(model, dtype)
    edit(model)
    model.to(dtype)
    _fused_equals_layer_by_layer(model, dtype)
    assert [type(s).__name__ for s in model._plan] == plan


def test_backward_after_an_edit_follows_the_last_forward():
    """As autograd's graph: a backward between an edit and the next forward is the gradient of
    the layers that ran (the plan is rebuilt at the next forward)."""
    model = _mlp().double()
    x = np.random.default_rng(3).standard_normal((4, 4))
    reference = _mlp().double()
    dy = np.ones((4, 3))
    reference(x)
    want = reference.backward(dy)
    model(x)
    model[1] = nn.Tanh()
    np.testing.assert_array_equal(model.backward(dy), want)


# --- Identity and ModuleList ---------------------------------------------------------------

def test_identity_as_torch(tmp_path, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4))
    layer = nn.Identity(54, unused_argument=0.1)  # arguments are ignored, as torch's
    torch.nn.Identity(54, unused_argument=0.1)
    assert layer(x) is x and layer.backward(x) is x and not layer.parameters() and layer.get_config() == {}
    model = nn.Sequential(nn.Linear(4, 5), nn.Identity(), nn.ReLU(), nn.Identity(), nn.Linear(5, 2)).double()
    ref = nn.Sequential(model[0], model[2], model[4])
    np.testing.assert_array_equal(model(x), ref(x))
    np.testing.assert_array_equal(model.backward(np.ones((3, 2))), ref.backward(np.ones((3, 2))))
    fastnn.save(model, tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert _kinds(loaded) == _kinds(model)
    np.testing.assert_array_equal(loaded(x), model.eval()(x))


class _Tower(nn.Module):
    """A custom module holding its blocks in a ModuleList (PyTorch's idiom)."""

    def __init__(self, depth=3, width=4):
        super().__init__()
        self.depth, self.width = depth, width
        self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(depth))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        for block, norm in zip(self.blocks, self.norms):
            x = norm(block(x))
        return self.head(x)

    def backward(self, dy):
        dy = self.head.backward(dy)
        for block, norm in zip(reversed(list(self.blocks)), reversed(list(self.norms))):
            dy = block.backward(norm.backward(dy))
        return dy

    def get_config(self):
        return {"depth": self.depth, "width": self.width}


def test_module_list_registers_its_modules_as_torch(tmp_path, rng):
    torch = pytest.importorskip("torch")
    tower = _Tower()

    class TorchTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
            self.norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(4) for _ in range(3))
            self.head = torch.nn.Linear(4, 2)

    ref = TorchTower()
    assert [n for n, _ in tower.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in tower.named_modules()] == [n for n, _ in ref.named_modules()]
    assert list(tower.state_dict()) == list(ref.state_dict())
    tower.double().eval()
    assert all(not m.training for m in tower.modules()) and tower.blocks[2].weight.dtype == np.float64
    tower.train()
    x = rng.standard_normal((6, 4))
    y = tower(x)
    assert y.shape == (6, 2) and tower.backward(np.ones_like(y)).shape == x.shape
    fastnn.save(tower, tmp_path / "tower.fnn")
    loaded = fastnn.load(tmp_path / "tower.fnn")
    np.testing.assert_array_equal(loaded(x), tower.eval()(x))
    with pytest.raises(NotImplementedError):
        tower.blocks(x)


def test_module_list_save_load_and_operators(tmp_path):
    ml = nn.ModuleList([nn.Linear(2, 3), nn.ReLU()])
    ml += [nn.Linear(3, 1)]
    both = ml + nn.ModuleList([nn.Tanh()])
    assert type(both) is nn.ModuleList and _kinds(both) == ["Linear", "ReLU", "Linear", "Tanh"] and len(ml) == 3
    assert list(nn.ModuleList()) == [] and len(nn.ModuleList()) == 0
    ml[2].freeze()
    fastnn.save(ml, tmp_path / "ml.fnn")
    loaded = fastnn.load(tmp_path / "ml.fnn")
    assert type(loaded) is nn.ModuleList and loaded.get_config() == ml.get_config()
    for (k, a), (k2, b) in zip(ml.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and np.array_equal(a, b)
    assert [p.trainable for p in loaded.parameters()] == [True, True, False, False]


# --- BatchNorm (float64 against torch) --------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (4, 3, 2, 5)])
@pytest.mark.parametrize("momentum", [0.1, None, 0.7])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm_train_and_eval_match_torch(shape, momentum, affine, track, rng):
    """Three training steps then eval (batch of one too): y, dx, dweight, dbias and the running
    statistics (unbiased running variance, momentum None: the cumulative average)."""
    torch = pytest.importorskip("torch")
    c = shape[1]
    name = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
    ours = getattr(nn, name)(c, momentum=momentum, affine=affine, track_running_stats=track).double()
    theirs = getattr(torch.nn, name)(c, momentum=momentum, affine=affine, track_running_stats=track).double()
    if affine:
        w, b = rng.standard_normal(c), rng.standard_normal(c)
        ours.weight.data[:], ours.bias.data[:] = w, b
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(w))
            theirs.bias.copy_(torch.from_numpy(b))
    eval_shapes = [shape, (1,) + shape[1:]] if track else [shape]
    for training, s in [(True, shape)] * 3 + [(False, s) for s in eval_shapes]:
        ours.train(training)
        theirs.train(training)
        x, dy = rng.standard_normal(s) * 3 + 1, rng.standard_normal(s)
        ours.zero_grad()
        y = ours(x)
        dx = ours.backward(dy)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = theirs(tx)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-11, atol=1e-12)
        if affine:
            np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-11, atol=1e-12)
            theirs.weight.grad = theirs.bias.grad = None
        if track:
            np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-13, atol=1e-14)
            assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_batch_norm_training_with_one_value_per_channel_raises_as_torch(shape):
    torch = pytest.importorskip("torch")
    name = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
    for track in (True, False):
        with pytest.raises(ValueError, match="more than (one|1) value per channel"):
            getattr(torch.nn, name)(3, track_running_stats=track)(torch.zeros(shape))
        with pytest.raises(ValueError, match="more than (one|1) value per channel"):
            getattr(nn, name)(3, track_running_stats=track)(np.zeros(shape, np.float32))
        # without running statistics eval mode normalises by the batch too: the same error
        with pytest.raises(ValueError, match="more than (one|1) value per channel"):
            getattr(nn, name)(3, track_running_stats=False).eval()(np.zeros(shape, np.float32))
    assert getattr(nn, name)(3).eval()(np.zeros(shape, np.float32)).shape == shape


# --- Dropout ---------------------------------------------------------------------------------

def test_dropout_p1_is_x_times_zero_as_torch():
    """p = 1 gave plain zeros where torch gives x * 0: NaN for a NaN or inf input (as fastnn's
    own p < 1 gives for a dropped NaN), -0.0 for a negative one; the gradient is dy * 0."""
    torch = pytest.importorskip("torch")
    x = np.array([[np.nan, np.inf, -np.inf, -1.5], [2.0, 0.0, -0.0, 3.0]])
    dy = x[::-1].copy()
    layer = nn.Dropout(1.0)
    y = layer(x)
    dx = layer.backward(dy)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.Dropout(1.0)(tx)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.detach().numpy()))
    np.testing.assert_array_equal(dx, tx.grad.numpy())
    assert y.dtype == x.dtype and dx.shape == x.shape
    finite = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    assert not layer(finite).any() and not layer.backward(finite).any()
    assert layer(np.ones((), np.float32)).shape == ()


def test_dropout_modes_scaling_and_mask_as_torch(rng):
    x = rng.standard_normal((200, 50))
    assert nn.Dropout(0.0)(x) is x and nn.Dropout(0.0).backward(x) is x
    layer = nn.Dropout(0.3).eval()
    assert layer(x) is x and layer.backward(x) is x
    layer.train()
    y = layer(x)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), kept / 0.7)  # the same mask
    for bad in (-0.1, 1.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=f"Received: p={bad!r}"):
            nn.Dropout(bad)
    for bad in ("0.5", None, True):  # not a number: a TypeError, as torch's for a str or None
        with pytest.raises(TypeError, match=f"Received: p={bad!r}"):
            nn.Dropout(bad)


# --- save / load of every layer -------------------------------------------------------------

def _every_layer_model():
    fastnn.manual_seed(0)
    body = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same", dilation=2, groups=2, bias=False, init="he_normal"),
        nn.BatchNorm2d(4, eps=1e-3, momentum=None),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1, groups=2, dilation=1),
        nn.BatchNorm2d(4, momentum=0.3, affine=False),
        nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.CrossMapLRN2d(3, alpha=0.2, beta=0.5, k=2),
        nn.DataParallel(nn.AvgPool2d(2, stride=1, padding=1, ceil_mode=True, count_include_pad=False,
                                     divisor_override=3)),
        nn.Residual(nn.Sequential(nn.Conv2d(4, 6, 1), nn.ELU(0.5)), shortcut=nn.Conv2d(4, 6, 1, bias=False)),
        nn.Concat(nn.Conv2d(6, 2, 3, padding=(1, 1), stride=(1, 1)),
                  nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Identity(), nn.Conv2d(6, 3, 1)),
                  nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, dilation=2),
                                nn.ConvTranspose2d(6, 6, 3, dilation=2, groups=3, padding=1),
                                nn.Softplus(beta=2.0, threshold=5.0))),
        nn.Residual(nn.Sequential(nn.AdaptiveAvgPool2d((3, None)), nn.AdaptiveMaxPool2d((3, 5))),
                    shortcut=nn.AdaptiveAvgPool2d((3, 5))),
        nn.BatchNorm2d(11, track_running_stats=False),
        nn.Flatten(start_dim=2, end_dim=3),
        nn.BatchNorm1d(11, momentum=None, affine=False),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(165, 20, bias=False, init="glorot_uniform"),
        nn.GELU(approximate="tanh"),
        nn.BatchNorm1d(20, eps=1e-2, momentum=0.5),
        nn.Reshape((4, 5)),
        nn.Softmax(dim=1),
        nn.Flatten(),
        nn.Sigmoid(beta=0.5), nn.Dense(20, 12), nn.Swish(1.5), nn.SiLU(), nn.Tanh(), nn.Step(),
    )
    extra = [nn.Hardtanh(-2.0, 2.5), nn.ReLU6(), nn.SELU(), nn.CELU(0.7), nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(),
             nn.Softsign(), nn.LogSigmoid(), nn.Tanhshrink(), nn.Softshrink(0.1), nn.Hardshrink(0.05),
             nn.Threshold(-0.5, 0.25), nn.Softmin(dim=1),
             # (N, 8) -> (N, 2, 2, 2) -> upsampled, padded and cropped back -> (N, 8)
             nn.PReLU(8, 0.1), nn.LayerNorm(8, eps=1e-3, bias=False), nn.Unflatten(1, (2, 2, 2)),
             nn.GroupNorm(2, 2, eps=1e-4, bias=False), nn.Upsample(size=(3, 3)), nn.ConstantPad2d((1, -1, 0, 1), 0.5),
             nn.ZeroPad2d((-1, 0, -1, -1)), nn.Dropout2d(0.2), nn.Upsample(scale_factor=1.5), nn.GroupNorm(1, 2),
             nn.ZeroPad2d((0, -1, 0, -1)), nn.Flatten(),
             # layers1d.py: (N, 8) -> (N, 2, 4) -> 1-D layers -> (N, 2, 2, 2) -> 2-D pads and shuffles -> (N, 8)
             nn.Unflatten(1, (2, 4)),
             nn.Conv1d(2, 4, 3, padding="same", padding_mode="reflect", groups=2, bias=False, init="he_uniform"),
             nn.InstanceNorm1d(4, momentum=None, affine=True, track_running_stats=True, bias=False),
             nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
             nn.MaxPool1d(3, stride=1, padding=1, dilation=1, ceil_mode=True),
             nn.AvgPool1d(2, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
             nn.ReflectionPad1d((1, 2)), nn.ReplicationPad1d((0, 1)), nn.CircularPad1d((2, -1)),
             nn.ConstantPad1d((-1, 1), 0.5), nn.ZeroPad1d((1, 0)), nn.AdaptiveMaxPool1d(6), nn.AdaptiveAvgPool1d(4),
             nn.Unflatten(2, (2, 2)), nn.ReflectionPad2d(1), nn.ReplicationPad2d((0, 1, 1, 0)),
             nn.CircularPad2d((-1, 0, 0, -1)), nn.PixelUnshuffle(2), nn.ChannelShuffle(4),
             nn.InstanceNorm2d(8, eps=1e-3, momentum=0.2, affine=True), nn.Softmax2d(), nn.PixelShuffle(2),
             nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(),
             # extra2.py, extra3.py: (N, 8) -> (N, 2, 4) -> (N, 2, 2, 2) -> pooled, upsampled, unfolded and folded
             # back -> (N, 8) -> GLU (N, 4) -> (N, 8)
             nn.RMSNorm((8,), eps=1e-4), nn.RReLU(0.1, 0.3), nn.AlphaDropout(0.1), nn.Unflatten(1, (2, 4)),
             nn.Dropout1d(0.2), nn.FeatureAlphaDropout(0.1), nn.LPPool1d(2, 1), nn.Unflatten(2, (2, 2)),
             nn.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0), nn.Dropout3d(0.1),
             nn.LPPool2d(2, 2, stride=1, ceil_mode=True), nn.UpsamplingNearest2d(size=(2, 2)),
             nn.UpsamplingBilinear2d(scale_factor=1.5), nn.Unfold(2, padding=1, stride=2), nn.Fold((3, 3), 2, padding=1,
                                                                                               stride=2),
             nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.GLU(dim=1), nn.Linear(4, 8),
             # conv3d.py, layers3d.py: (N, 8) -> (N, 1, 2, 2, 2) -> 3-D layers -> (N, 8)
             nn.Unflatten(1, (1, 2, 2, 2)), nn.ReplicationPad3d((1, 0, 0, 1, 1, 0)), nn.ReflectionPad3d((0, 1, 1, 0, 0, 1)),
             nn.CircularPad3d(1), nn.ConstantPad3d((0, -1, -1, 0, 0, -1), 0.25), nn.ZeroPad3d((1, 0, 0, 0, 0, 0)),
             nn.Conv3d(1, 4, 3, padding="same", padding_mode="reflect", dilation=(1, 2, 1), bias=False,
                       init="he_uniform"),
             nn.BatchNorm3d(4, eps=1e-3, momentum=0.2), nn.InstanceNorm3d(4, affine=True, track_running_stats=True),
             nn.MaxPool3d(2, stride=1, padding=1, dilation=(1, 1, 2), ceil_mode=True),
             nn.AvgPool3d(2, stride=(1, 2, 1), padding=(1, 0, 1), ceil_mode=True, count_include_pad=False,
                          divisor_override=2),
             nn.ConvTranspose3d(4, 2, 2, stride=2, padding=1, output_padding=(1, 0, 1), groups=2, dilation=1),
             nn.AdaptiveMaxPool3d((2, None, 2)), nn.AdaptiveAvgPool3d((1, 2, 2)),
             # extra4.py, extra5.py: (N, 2, 2, 2) -> (N, 8)
             nn.SyncBatchNorm(2, momentum=0.3), nn.LPPool3d(2, 1), nn.Flatten(),
             nn.Unflatten(1, (2, 2, 2)), nn.FractionalMaxPool2d(1, output_size=(2, 2)), nn.Flatten(),
             nn.Unflatten(1, (1, 2, 2, 2)), nn.FractionalMaxPool3d(1, output_size=(2, 2, 2)), nn.Flatten()]
    return nn.Sequential(body, nn.Linear(12, 8), *extra, nn.LogSoftmax(axis=-1), nn.Reshape((2, 4, 1)),
                         nn.GlobalAvgPool2d())


def _settings(module):
    """What a layer was built with: its public attributes that are not state."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"
            and not isinstance(v, (nn.Module, nn.Parameter, np.ndarray))}


def test_every_layer_round_trips_with_its_config_state_and_outputs(tmp_path):
    """Every layer class of fastnn.nn, built with non-default arguments, reloads with the same
    settings (so get_config misses no constructor argument), parameters, buffers, frozen flags
    and the same outputs in eval and in train mode."""
    model = _every_layer_model()
    layer_classes = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
                     and issubclass(getattr(nn, name), nn.Module) and not issubclass(getattr(nn, name), nn.Loss)}
    # (the holders without a forward round-trip in test_conformance_containers_dict.py)
    assert layer_classes - {type(m).__name__ for m in model.modules()} == {"Module", "Dense", "ModuleList", "ModuleDict",
                                                                           "ParameterList", "ParameterDict",
                                                                           # two inputs: no place in a Sequential
                                                                           # (test_conformance_losses_extra.py)
                                                                           "CosineSimilarity", "PairwiseDistance",
                                                                           # (test_nn_extra3.py)
                                                                           "MaxUnpool1d", "MaxUnpool2d", "Bilinear",
                                                                           # several inputs, integer input, or the
                                                                           # lazy classes (regular ones after the first
                                                                           # forward): round trips in test_nn_extra4.py,
                                                                           # test_nn_extra5.py, test_nn_transformer.py
                                                                           "MaxUnpool3d", "EmbeddingBag",
                                                                           "AdaptiveLogSoftmaxWithLoss",
                                                                           # input and target / a holder without
                                                                           # forward: test_nn_extra6.py
                                                                           "LinearCrossEntropyLoss", "Container",
                                                                           "MultiheadAttention", "Transformer",
                                                                           "TransformerEncoderLayer", "TransformerEncoder",
                                                                           "TransformerDecoderLayer", "TransformerDecoder",
                                                                           "LazyLinear", "LazyConv1d", "LazyConv2d",
                                                                           "LazyConv3d", "LazyConvTranspose1d",
                                                                           "LazyConvTranspose2d", "LazyConvTranspose3d",
                                                                           "LazyBatchNorm1d", "LazyBatchNorm2d",
                                                                           "LazyBatchNorm3d", "LazyInstanceNorm1d",
                                                                           "LazyInstanceNorm2d", "LazyInstanceNorm3d",
                                                                           # (state) tuples in and out: test_nn_rnn.py
                                                                           "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell",
                                                                           "GRUCell",
                                                                           # bases without forward (torch's):
                                                                           # test_nn_bases.py
                                                                           "RNNBase", "RNNCellBase",
                                                                           # integer input, its own round trip in
                                                                           # test_nn_embedding.py
                                                                           "Embedding"}
    model[1].freeze()
    model[0][17].weight.trainable = False
    x = np.random.default_rng(1).standard_normal((4, 2, 9, 9)).astype(np.float32)
    for _ in range(3):
        model(x)  # running statistics and num_batches_tracked move
    fastnn.save(model, tmp_path / "every.fnn")
    loaded = fastnn.load(tmp_path / "every.fnn")
    assert not loaded.training and all(not m.training for m in loaded.modules())
    pairs = list(zip(model.named_modules(), loaded.named_modules()))
    assert len(pairs) == len(model.modules()) == len(loaded.modules())
    for (name, a), (name2, b) in pairs:
        assert name == name2 and type(a) is type(b)
        assert a.get_config() == b.get_config(), name
        assert _settings(a) == _settings(b), name
    assert repr(loaded) == repr(model)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and np.array_equal(a, b), k
    assert [(n, p.trainable) for n, p in model.named_parameters()] == \
        [(n, p.trainable) for n, p in loaded.named_parameters()]
    np.testing.assert_array_equal(loaded(x), model.eval()(x))
    model.train()
    loaded.train()
    fastnn.manual_seed(5)
    y = model(x)
    fastnn.manual_seed(5)
    np.testing.assert_array_equal(loaded(x), y)
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert np.array_equal(a, b), k


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(3, stride=2, padding=1, dilation=1, return_indices=True, ceil_mode=True),
    nn.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1), return_indices=True),
    nn.AdaptiveMaxPool2d((3, None), return_indices=True),
    nn.ModuleList([nn.BatchNorm1d(3, momentum=None), nn.Identity(), nn.Linear(3, 3, bias=False)]),
])
def test_layers_outside_a_chain_round_trip(tmp_path, layer):
    """Layers that return (y, indices), and a ModuleList, which cannot sit inside a Sequential."""
    fastnn.save(layer, tmp_path / "l.fnn")
    loaded = fastnn.load(tmp_path / "l.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert _settings(loaded) == _settings(layer)
    if isinstance(layer, nn.ModuleList):
        return
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(np.float32)
    for a, b in zip(layer(x), loaded(x)):
        np.testing.assert_array_equal(a, b)
