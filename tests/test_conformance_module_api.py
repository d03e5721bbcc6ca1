"""Module and Parameter API against torch.nn.Module: apply, parameters / buffers with recurse and
remove_duplicate, register_buffer(persistent=), register_parameter, get_submodule,
load_state_dict(strict=), zero_grad(set_to_none=), requires_grad."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim


def _torch():
    return pytest.importorskip("torch")


class _Net(nn.Module):
    """An own parameter, an own buffer and children, one of them shared (at two names)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.register_buffer("count", np.zeros((), np.int64))
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 3), nn.Tanh()))
        self.norm = nn.BatchNorm1d(3)
        self.tied = self.body[0]


def _torch_net():
    torch = _torch()

    class _Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("count", torch.zeros((), dtype=torch.int64))
            self.body = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                            torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()))
            self.norm = torch.nn.BatchNorm1d(3)
            self.tied = self.body[0]

    return _Net()


def test_apply_visits_children_first_then_self_as_torch():
    ours, theirs = _Net(), _torch_net()
    seen_ours, seen_theirs = [], []
    assert ours.apply(lambda m: seen_ours.append(type(m).__name__)) is ours
    theirs.apply(lambda m: seen_theirs.append(type(m).__name__))
    assert seen_ours == seen_theirs
    assert seen_ours[-1] == "_Net"


def test_apply_initialises_weights():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))

    def init(m):
        if isinstance(m, nn.Linear):
            m.weight.data[...] = 0.5
            m.bias.data[...] = -1.0

    model.apply(init)
    for layer in (model[0], model[2]):
        assert np.all(layer.weight.data == 0.5) and np.all(layer.bias.data == -1.0)


@pytest.mark.parametrize("recurse", [True, False])
@pytest.mark.parametrize("remove_duplicate", [True, False])
@pytest.mark.parametrize("prefix", ["", "net"])
def test_named_parameters_and_buffers_as_torch(recurse, remove_duplicate, prefix):
    ours, theirs = _Net(), _torch_net()
    kw = dict(prefix=prefix, recurse=recurse, remove_duplicate=remove_duplicate)
    assert [n for n, _ in ours.named_parameters(**kw)] == [n for n, _ in theirs.named_parameters(**kw)]
    assert [n for n, _ in ours.named_buffers(**kw)] == [n for n, _ in theirs.named_buffers(**kw)]
    assert len(ours.parameters(recurse=recurse)) == len(list(theirs.parameters(recurse=recurse)))
    assert len(ours.buffers(recurse=recurse)) == len(list(theirs.buffers(recurse=recurse)))
    assert [p.shape for p in ours.parameters(recurse)] == [tuple(p.shape) for p in theirs.parameters(recurse)]


def test_state_dict_keys_as_torch():
    assert list(_Net().state_dict()) == list(_torch_net().state_dict())


def test_non_persistent_buffer_is_moved_but_not_saved(tmp_path):
    torch = _torch()
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours.register_buffer("cache", np.zeros(2, np.float32), persistent=False)
    theirs.register_buffer("cache", torch.zeros(2), persistent=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["cache"]
    ours.double()
    assert ours.cache.dtype == np.float64
    ours.load_state_dict(nn.Linear(2, 2).double().state_dict())  # strict: no "cache" expected
    path = tmp_path / "m.npz"
    fastnn.save(ours, path)
    assert "cache" not in fastnn.load(path).state_dict()
    # registered again as persistent, it is saved
    ours.register_buffer("cache", np.ones(2), persistent=True)
    assert list(ours.state_dict()) == ["weight", "bias", "cache"]


def test_register_checks_as_torch():
    torch = _torch()
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    for bad in ("a.b", ""):
        with pytest.raises(KeyError):
            theirs.register_parameter(bad, None)
        with pytest.raises(KeyError, match="Received: name="):
            ours.register_parameter(bad, nn.Parameter(np.zeros(2, np.float32)))
        with pytest.raises(KeyError, match="Received: name="):
            ours.register_buffer(bad, np.zeros(2))
    with pytest.raises(TypeError):
        theirs.register_parameter("c", torch.zeros(2))
    with pytest.raises(TypeError, match="cannot assign ndarray as parameter 'c'"):
        ours.register_parameter("c", np.zeros(2))
    with pytest.raises(KeyError):
        theirs.register_buffer("weight", torch.zeros(2))
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        ours.register_buffer("weight", np.zeros(2))
    with pytest.raises(TypeError, match="buffer 'b' must be a numpy.ndarray"):
        ours.register_buffer("b", [1, 2])
    ours.register_parameter("extra", nn.Parameter(np.zeros(3, np.float32)))
    theirs.register_parameter("extra", torch.nn.Parameter(torch.zeros(3)))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def test_get_submodule_as_torch():
    ours, theirs = _Net(), _torch_net()
    for target in ("", "body", "body.2", "body.2.0", "tied", "norm"):
        assert type(ours.get_submodule(target)).__name__ == type(theirs.get_submodule(target)).__name__
    assert ours.get_submodule("tied") is ours.get_submodule("body.0")
    for bad in ("body.7", "nope", "body.2.0.weight"):
        with pytest.raises(AttributeError):
            theirs.get_submodule(bad)
        with pytest.raises(AttributeError, match="no child module"):
            ours.get_submodule(bad)


def test_load_state_dict_strict_false_reports_keys_as_torch():
    torch = _torch()
    ours, theirs = _Net(), _torch_net()
    src_ours = {k: v for k, v in _Net().state_dict().items() if not k.startswith("norm.")}
    src_ours["other.weight"] = np.zeros(3, np.float32)
    src_theirs = {k: torch.from_numpy(np.array(v)) for k, v in src_ours.items()}
    before = ours.norm.weight.data.copy()
    got, want = ours.load_state_dict(src_ours, strict=False), theirs.load_state_dict(src_theirs, strict=False)
    assert got.missing_keys == want.missing_keys and got.unexpected_keys == want.unexpected_keys
    assert got == (want.missing_keys, want.unexpected_keys)  # a named tuple, as torch's
    np.testing.assert_array_equal(ours.body[0].weight.data, src_ours["body.0.weight"])  # the common keys loaded
    np.testing.assert_array_equal(ours.norm.weight.data, before)  # the missing ones untouched
    assert ours.load_state_dict(_Net().state_dict()) == ([], [])
    with pytest.raises(RuntimeError):
        theirs.load_state_dict(src_theirs)
    for error in (RuntimeError, ValueError):  # torch's RuntimeError; fastnn raised ValueError before
        with pytest.raises(error, match=r"missing keys \['norm.weight'"):
            ours.load_state_dict(src_ours)


def test_shape_mismatch_raises_even_when_not_strict_and_loads_nothing():
    torch = _torch()
    ours, theirs = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="size mismatch"):
        theirs.load_state_dict({"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, strict=False)
    w, b = ours.weight.data.copy(), ours.bias.data.copy()
    with pytest.raises(nn.StateDictError, match=r"state_dict\['weight'\] has shape \(3, 2\)"):
        ours.load_state_dict({"bias": np.zeros(2, np.float32), "weight": np.zeros((3, 2), np.float32)}, strict=False)
    np.testing.assert_array_equal(ours.weight.data, w)
    np.testing.assert_array_equal(ours.bias.data, b)  # not half loaded
    with pytest.raises(TypeError, match="must be a dict"):
        ours.load_state_dict([("weight", w)])


def _train_one_step(set_to_none, lib):
    """One SGD step with weight decay after zero_grad(set_to_none) without any backward."""
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    if lib == "torch":
        torch = _torch()
        model = torch.nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            model.weight.copy_(torch.from_numpy(w0))
        model(torch.ones(1, 2)).sum().backward()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.5)
        opt.step()
        model.zero_grad(set_to_none=set_to_none)
        opt.step()
        return model.weight.detach().numpy()
    model = nn.Linear(2, 2, bias=False)
    model.weight.data[...] = w0
    y = model(np.ones((1, 2), np.float32))
    model.backward(np.ones_like(y))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.5)
    opt.step()
    model.zero_grad(set_to_none=set_to_none)
    opt.step()
    return model.weight.data


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_set_to_none_as_torch(set_to_none):
    """None: the next step skips the parameter; zeros: weight decay and momentum still move it."""
    ours, theirs = _train_one_step(set_to_none, "fastnn"), _train_one_step(set_to_none, "torch")
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    p = nn.Parameter(np.ones(2, np.float32))
    p.zero_grad(set_to_none=set_to_none)
    assert p.has_grad is (not set_to_none)
    np.testing.assert_array_equal(p.grad, 0.0)


def test_requires_grad_freezes_as_torch():
    torch = _torch()
    ours = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    ours[0].weight.requires_grad = False
    assert ours[0].weight.trainable is False and ours[0].bias.requires_grad is True
    before, bias_before = ours[0].weight.data.copy(), ours[0].bias.data.copy()
    x = np.ones((3, 2), np.float32)
    ours.backward(np.ones_like(ours(x)))
    optim.SGD(ours.parameters(), lr=0.1).step()
    np.testing.assert_array_equal(ours[0].weight.data, before)
    assert not np.array_equal(ours[0].bias.data, bias_before)  # the rest trains
    assert ours.requires_grad_(False) is ours
    assert not any(p.trainable for p in ours.parameters())
    ours.requires_grad_()
    assert all(p.requires_grad for p in ours.parameters())
    with pytest.raises(RuntimeError):
        torch.nn.Parameter(torch.zeros(1)).requires_grad = 1
    with pytest.raises(TypeError, match="requires_grad must be a bool. Received: requires_grad=1"):
        ours[0].weight.requires_grad = 1


def test_batch_norm_counts_batches_at_any_momentum_and_loads_a_state_without_the_count():
    """num_batches_tracked: always saved and counted, as torch; an older fastnn file (saved it
    only for momentum=None) still loads, keeping the count, as torch's BatchNorm does."""
    torch = _torch()
    ours, theirs = nn.BatchNorm2d(3, momentum=0.3), torch.nn.BatchNorm2d(3, momentum=0.3)
    x = np.random.default_rng(1).standard_normal((4, 3, 2, 2)).astype(np.float32)
    for _ in range(3):
        ours(x)
        theirs(torch.from_numpy(x))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == 3
    ours.eval()
    ours(x)
    assert int(ours.num_batches_tracked) == 3  # eval does not count
    old = {k: v for k, v in nn.BatchNorm2d(3).state_dict().items() if k != "num_batches_tracked"}
    old["running_mean"] = np.full(3, 2.0, np.float32)
    assert ours.load_state_dict(old) == ([], [])
    np.testing.assert_array_equal(ours.running_mean, 2.0)
    assert int(ours.num_batches_tracked) == 3
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in old.items()})  # torch agrees
    assert int(theirs.num_batches_tracked) == 3
    with pytest.raises(nn.StateDictError, match="missing keys"):  # the other buffers stay required
        ours.load_state_dict({k: v for k, v in old.items() if k != "running_var"})


def test_layer_attributes_that_torch_code_reads():
    """Attributes torch's layers have that ported code reads (conv.transposed, softmax.dim, ...)."""
    torch = pytest.importorskip("torch")
    pairs = [(nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3)), (nn.Conv1d(3, 4, 3), torch.nn.Conv1d(3, 4, 3)),
             (nn.Conv3d(3, 4, 3), torch.nn.Conv3d(3, 4, 3)),
             (nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1),
              torch.nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1)),
             (nn.ConvTranspose1d(3, 4, 3), torch.nn.ConvTranspose1d(3, 4, 3)),
             (nn.ConvTranspose3d(3, 4, 3), torch.nn.ConvTranspose3d(3, 4, 3))]
    for ours, theirs in pairs:
        assert ours.transposed == theirs.transposed
        assert tuple(ours.output_padding) == tuple(theirs.output_padding)
    assert nn.Softmax(dim=1).dim == torch.nn.Softmax(dim=1).dim == 1
    assert nn.LogSoftmax(dim=0).dim == 0
    assert nn.Upsample(scale_factor=2).name == torch.nn.Upsample(scale_factor=2).name == "Upsample"
    assert nn.UpsamplingNearest2d(scale_factor=2).name == "UpsamplingNearest2d"
    assert nn.Embedding(4, 2).sparse is torch.nn.Embedding(4, 2).sparse is False


def test_reset_running_stats_as_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 3, 5)).astype(np.float32)
    for ours, theirs in ((nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)),
                         (nn.InstanceNorm1d(3, track_running_stats=True), torch.nn.InstanceNorm1d(3, track_running_stats=True))):
        ours(x)
        theirs(torch.tensor(x))
        assert ours.running_mean.any()
        if ours.weight is not None:
            ours.weight.data.fill(2.0)
        ours.reset_running_stats()
        theirs.reset_running_stats()
        for k, v in theirs.state_dict().items():
            if "running" in k or "num_batches" in k:
                np.testing.assert_array_equal(ours.state_dict()[k], v.numpy())
        if ours.weight is not None:
            assert (ours.weight.data == 2.0).all()  # parameters are left as they are


REPR_CASES = [
    ("Linear", (3, 4), {}), ("Linear", (3, 4), {"bias": False}), ("Conv2d", (3, 4, 3), {}),
    ("Conv2d", (3, 4, 3), {"stride": 2, "padding": 1, "groups": 1, "bias": False}),
    ("Conv2d", (4, 4, 3), {"padding": "same", "dilation": 2, "groups": 2, "padding_mode": "reflect"}),
    ("ConvTranspose2d", (3, 4, 3), {"stride": 2, "output_padding": 1}), ("Conv1d", (3, 4, 3), {"padding": 1}),
    ("Conv3d", (3, 4, 3), {}), ("MaxPool2d", (2,), {}), ("MaxPool2d", ((2, 3), 1, 1), {"ceil_mode": True}),
    ("AvgPool2d", (3,), {"stride": 2}), ("BatchNorm1d", (3,), {}), ("BatchNorm2d", (3,), {"affine": False}),
    ("BatchNorm2d", (3,), {"momentum": None, "eps": 1e-3}), ("Dropout", (0.2,), {}), ("Dropout2d", (), {}),
    ("Embedding", (10, 3), {}), ("Embedding", (10, 3), {"padding_idx": 0, "max_norm": 2.0}), ("Sigmoid", (), {}),
    ("Softshrink", (), {}), ("Hardshrink", (0.3,), {}), ("Softmax", (), {"dim": 1}), ("LogSoftmax", (), {"dim": 0}),
    ("ModuleList", (), {}), ("ModuleDict", (), {}), ("CosineSimilarity", (), {}), ("PairwiseDistance", (), {}),
    ("ReLU", (), {}), ("Tanh", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {}), ("Flatten", (), {}),
    ("LayerNorm", (4,), {}), ("GroupNorm", (2, 4), {}), ("LSTM", (3, 4), {"num_layers": 2}), ("GRU", (3, 4), {}),
    ("Upsample", (), {"scale_factor": 2}), ("AdaptiveAvgPool2d", (1,), {}), ("Identity", (), {}),
]


@pytest.mark.parametrize("name, args, kwargs", REPR_CASES)
def test_repr_is_torchs(name, args, kwargs):
    torch = pytest.importorskip("torch")
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_member_lists_work_with_torchs_generator_idioms():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert next(m.parameters()) is m[0].weight  # next(model.parameters()): the first parameter
    assert next(m.named_parameters()) == ("0.weight", m[0].weight)
    assert next(m.children()) is m[0] and next(m.modules()) is m
    assert next(m.buffers()) is m[1].running_mean
    params = m.parameters()
    assert [p for p in params] == [p for p in params] and len(params) == 4  # still a list
    it = m.parameters()
    assert [next(it) for _ in range(4)] == list(m.parameters())
    with pytest.raises(StopIteration):
        next(it)


@pytest.mark.parametrize("name, args", [("MaxPool2d", (2,)), ("MaxPool2d", ((2, 3), 1, 1, 2)), ("AvgPool2d", (3, 2)),
                                        ("AvgPool2d", ((3, 1),)), ("MaxPool2d", (3,))])
def test_pool_attributes_are_the_arguments_as_given_as_torch(name, args):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    for attr in ("kernel_size", "stride", "padding") + (("dilation",) if name == "MaxPool2d" else ()):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-6, atol=1e-6)
