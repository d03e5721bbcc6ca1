"""Module machinery: parameter order, modes, state_dict, freeze, dtype, summary, repr, init."""
import inspect
import sys

import numpy as np
import pytest

import fastnn
from fastnn import nn


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))


def test_parameters_are_ordered_and_named():
    model = _mlp()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model.parameters()[0] is model[0].weight
    assert isinstance(model.parameters(), list)
    assert model.num_parameters() == 4 * 8 + 8 + 8 * 3 + 3


def test_shared_parameter_listed_once():
    a = nn.Linear(3, 3)
    b = nn.Linear(3, 3)
    b.weight = a.weight
    assert len(nn.Sequential(a, b).parameters()) == 3


def test_train_eval_propagate():
    model = _mlp()
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad():
    model = _mlp()
    for p in model.parameters():
        p.grad += 1
    model.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_zero_grad_is_lazy_but_reads_as_zeros():
    """zero_grad only marks the gradients; the next backward writes instead of adding, and
    reading grad in between shows zeros. Two backwards after it still accumulate."""
    fastnn.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    dy = np.ones((4, 2), np.float32)
    layer(x)
    layer.backward(dy)
    once = layer.weight.grad.copy()
    np.testing.assert_allclose(once, dy.T @ x, rtol=1e-6)
    layer.weight.grad[...] = 7.0
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()  # reads as zeros
    layer.zero_grad()
    layer.weight._grad[...] = np.nan  # stale memory: a lazy zero must never add it
    layer.bias._grad[...] = np.nan
    layer.backward(dy)
    np.testing.assert_array_equal(layer.weight.grad, once)
    np.testing.assert_allclose(layer.bias.grad, dy.sum(axis=0))
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, 2 * dy.sum(axis=0))


def test_state_dict_round_trip_and_strictness():
    fastnn.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    a(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))  # moves running stats
    state = a.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                           "1.num_batches_tracked"]
    state["0.weight"][...] = 99  # a copy: the model is untouched
    assert not np.any(a[0].weight.data == 99)
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    b.load_state_dict(a.state_dict())
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(va, vb, err_msg=k)
    bad = a.state_dict()
    bad["0.weight"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"0.weight.*shape \(3, 4\).*expects \(4, 3\)"):
        b.load_state_dict(bad)
    missing = a.state_dict()
    del missing["1.running_var"]
    with pytest.raises(ValueError, match="missing keys.*1.running_var"):
        b.load_state_dict(missing)
    extra = {**a.state_dict(), "2.weight": np.zeros(1)}
    with pytest.raises(ValueError, match="unexpected keys.*2.weight"):
        b.load_state_dict(extra)


def test_freeze_unfreeze():
    model = _mlp()
    model[0].freeze()
    assert [p.trainable for p in model.parameters()] == [False, False, True, True]
    assert model.num_parameters(trainable_only=True) == 8 * 3 + 3
    model.unfreeze()
    assert all(p.trainable for p in model.parameters())


def test_to_double_and_back():
    model = _mlp().double()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model.dtype == np.float64
    y = model.eval()(np.ones((2, 4)))
    assert y.dtype == np.float64
    model.float()
    assert model.dtype == np.float32
    with pytest.raises(TypeError, match="float16"):
        model.to(np.float16)


def test_dtype_mismatch_is_an_error_not_a_cast():
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 2)(np.ones((1, 2), np.float64))


def test_manual_seed_reproduces_init():
    fastnn.manual_seed(123)
    a = _mlp()
    fastnn.manual_seed(123)
    b = _mlp()
    c = _mlp()
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    assert not np.array_equal(b[0].weight.data, c[0].weight.data)
    with pytest.raises(ValueError, match="-1"):
        fastnn.manual_seed(-1)


def test_summary_and_repr():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
                          nn.Linear(8, 3))
    text = model.summary((4,), print_fn=None)
    lines = text.splitlines()
    assert "Output shape" in lines[0]
    assert any(line.split()[:4] == ["0", "Linear", "(None,", "8)"] for line in lines)
    assert any("2.block.0" in line and "Linear" in line for line in lines)
    assert f"Total params: {model.num_parameters():,}" in text
    assert model.training  # summary restores the mode
    r = repr(model)
    assert r.startswith("Sequential(\n  (0): Linear(in_features=4, out_features=8")
    assert "(2): Residual(\n    (block): Sequential(" in r


def test_summary_prints(capsys):
    nn.Sequential(nn.Linear(2, 3)).summary((2,))
    assert "Total params: 9" in capsys.readouterr().out


def test_init_functions():
    fastnn.manual_seed(0)
    w = np.zeros((400, 300), np.float32)
    nn.init.xavier_uniform_(w)
    assert np.abs(w).max() <= np.sqrt(6 / 700) and np.abs(w).max() > 0.95 * np.sqrt(6 / 700)
    nn.init.kaiming_normal_(w)
    assert abs(w.std() / np.sqrt(2 / 300) - 1) < 0.02
    nn.init.kaiming_uniform_(w, mode="fan_out")
    assert np.abs(w).max() <= np.sqrt(6 / 400)
    nn.init.xavier_normal_(w)
    assert abs(w.std() / np.sqrt(2 / 700) - 1) < 0.02
    nn.init.zeros_(w)
    assert not w.any()
    assert nn.init.calculate_fan_in_and_fan_out((8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="Received: init='nope'"):
        nn.init.get("nope")


def test_parameter_validation():
    with pytest.raises(TypeError, match="int64"):
        nn.Parameter(np.zeros(3, np.int64))
    p = nn.Parameter(np.ones(3, np.float32))
    assert p.grad.shape == (3,) and p.trainable


def test_custom_module_requires_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = 1

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_buffer_assignment_registers_a_buffer_as_torch():
    torch = pytest.importorskip("torch")

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.count = nn.Buffer(np.arange(3.0))
            self.cache = nn.Buffer(np.ones(2, np.float32), persistent=False)
            self.empty = nn.Buffer()

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)
            self.count = torch.nn.Buffer(torch.arange(3.0))
            self.cache = torch.nn.Buffer(torch.ones(2), persistent=False)
            self.empty = torch.nn.Buffer()

    m, t = M(), T()
    assert list(m.state_dict()) == list(t.state_dict()) == ["count", "empty", "lin.weight", "lin.bias"]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()] == ["count", "cache", "empty"]
    assert isinstance(m.count, np.ndarray) and m.count.tolist() == [0.0, 1.0, 2.0]
    assert m.empty.shape == (0,) and m.empty.dtype == np.float32
    m.count = nn.Buffer(np.zeros(3))  # a new Buffer for a buffer name keeps its place
    assert list(m.state_dict()) == ["count", "empty", "lin.weight", "lin.bias"] and m.count.sum() == 0
    with pytest.raises(TypeError, match="list"):
        nn.Buffer([1.0, 2.0])
    with pytest.raises(TypeError, match="persistent"):
        nn.Buffer(np.zeros(1), persistent="no")
    with pytest.raises(KeyError, match="lin"):
        m.lin = nn.Buffer(np.zeros(1))  # a child of that name exists, as torch's register_buffer


def test_parameter_gradient_follows_a_replaced_data_array():
    """p.data replaced by an array of another dtype / shape: the next backward accumulates into
    a gradient of the new kind (never a silent cast into the old one); with a gradient held, the
    replacement is refused at the next accumulation instead of mixing the two."""
    lin = nn.Linear(3, 2)
    for p in lin.parameters():
        p.data = p.data.astype(np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))
    lin(x)
    lin.backward(np.ones((4, 2)))
    assert lin.weight.grad.dtype == np.float64 and lin.bias.grad.dtype == np.float64
    np.testing.assert_allclose(lin.weight.grad, np.ones((2, 4)) @ x)
    lin.weight.data = np.zeros((2, 3), np.float32)  # gradient held: refused when next used
    with pytest.raises(RuntimeError, match="zero_grad"):
        lin.weight.accumulate()
    lin.zero_grad()
    grad, beta = lin.weight.accumulate()
    assert beta == 0.0 and grad.dtype == np.float32 and grad.shape == (2, 3)


def test_a_user_class_named_as_a_builtin_does_not_change_what_load_builds(tmp_path):
    """LAYER_REGISTRY was keyed by class name, last definition winning: an unrelated user
    `class ReLU(Module)` made fastnn.load build it for every saved ReLU (other outputs, no
    warning), and a user `class Linear` made every saved model fail to load."""
    import fastnn
    from fastnn.nn import LAYER_REGISTRY

    fastnn.manual_seed(0)
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(2, 6)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    fastnn.save(model, tmp_path / "builtin.npz")
    want = model(x)

    class ReLU(nn.Module):  # a user's own layer, unrelated to nn.ReLU
        def forward(self, x):
            return x * 2

    class Linear(nn.Module):
        def forward(self, x):
            return x

    try:
        loaded = fastnn.load(tmp_path / "builtin.npz")
        assert type(loaded[1]) is nn.ReLU and type(loaded[0]) is nn.Linear
        np.testing.assert_array_equal(loaded(x), want)
        # the user's class is saved under its qualified name and loads as itself
        mine = nn.Sequential(nn.Linear(6, 4), ReLU())
        fastnn.save(mine, tmp_path / "mine.npz")
        again = fastnn.load(tmp_path / "mine.npz")
        assert type(again[1]) is ReLU and type(again[0]) is nn.Linear
        np.testing.assert_array_equal(again(x), mine(x))
    finally:
        for cls in (ReLU, Linear):
            LAYER_REGISTRY.pop(f"{cls.__module__}.{cls.__qualname__}", None)
    assert LAYER_REGISTRY["ReLU"] is nn.ReLU and LAYER_REGISTRY["Linear"] is nn.Linear


_FACTORY_ARGS = {
    "AdaptiveLogSoftmaxWithLoss": (8, 10, [4]), "BatchNorm1d": (3,), "BatchNorm2d": (3,), "BatchNorm3d": (3,),
    "Bilinear": (2, 3, 4), "Conv1d": (2, 3, 3), "Conv2d": (2, 3, 3), "Conv3d": (2, 3, 3),
    "ConvTranspose1d": (2, 3, 3), "ConvTranspose2d": (2, 3, 3), "ConvTranspose3d": (2, 3, 3),
    "Embedding": (10, 3), "EmbeddingBag": (10, 3), "GRUCell": (3, 4), "GroupNorm": (2, 4),
    "InstanceNorm1d": (3, 1e-5, 0.1, True), "InstanceNorm2d": (3, 1e-5, 0.1, True),
    "InstanceNorm3d": (3, 1e-5, 0.1, True), "LSTMCell": (3, 4),
    "LayerNorm": (4,), "Linear": (3, 4), "MultiheadAttention": (8, 2), "PReLU": (), "RMSNorm": (4,),
    "RNNCell": (3, 4), "SyncBatchNorm": (3,), "Transformer": (8, 2, 1, 1, 16),
    "TransformerDecoderLayer": (8, 2, 16), "TransformerEncoderLayer": (8, 2, 16),
}


@pytest.mark.parametrize("name", sorted(_FACTORY_ARGS))
def test_layers_take_torchs_factory_keywords(name):
    """torch's `nn.Linear(3, 4, device=..., dtype=torch.float64)`: a TypeError before."""
    from fastnn.nn.module import _FACTORY_KWARGS_LAYERS

    assert set(_FACTORY_ARGS) == _FACTORY_KWARGS_LAYERS
    cls = getattr(nn, name)
    params = inspect.signature(cls.__init__).parameters
    assert params["device"].default is None and params["dtype"].default is None
    dtypes = [np.float64, "float64"]
    torch = sys.modules.get("torch")
    if torch is not None:
        dtypes.append(torch.float64)
    for dtype in dtypes:
        layer = cls(*_FACTORY_ARGS[name], device="cpu", dtype=dtype)
        arrays = [p.data for p in layer.parameters()] + [b for _, b in layer.named_buffers() if b.dtype.kind == "f"]
        assert arrays and all(a.dtype == np.float64 for a in arrays), name
    assert {p.data.dtype for p in cls(*_FACTORY_ARGS[name]).parameters()} == {np.dtype(np.float32)}
    with pytest.raises(TypeError, match="float32 or float64"):
        cls(*_FACTORY_ARGS[name], dtype=np.float16)
