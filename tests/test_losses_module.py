"""Losses are Modules, as torch's: forward (pre-)hooks run on loss(...), a loss can be a model's
attribute or sit in a ModuleDict, train() / eval() / to() work, and the value and gradient are
those of the loss alone."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

LOSS_CLASSES = sorted(name for name in nn.__all__ if isinstance(getattr(nn, name), type)
                      and issubclass(getattr(nn, name), nn.Loss) and name != "Loss")


def test_every_public_loss_is_a_module():
    assert len(LOSS_CLASSES) >= 20
    for name in LOSS_CLASSES:
        assert issubclass(getattr(nn, name), nn.Module), name
    assert isinstance(nn.CrossEntropyLoss(), nn.Module)


def _ce_case(rng):
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    return z, y


def test_forward_hooks_see_and_may_replace_the_loss(rng):
    z, y = _ce_case(rng)
    loss = nn.CrossEntropyLoss()
    plain = loss(z, y)
    seen = []
    handle = loss.register_forward_hook(lambda m, args, out: seen.append((m, args, out)))
    value = loss(z, y)
    assert value == plain and len(seen) == 1
    module, args, out = seen[0]
    assert module is loss and out == plain
    assert args[0] is z and args[1] is y
    handle.remove()
    loss.register_forward_hook(lambda m, args, out: out * 2)
    assert loss(z, y) == 2 * plain  # a hook's return value replaces the output, as torch's


def test_forward_pre_hook_may_replace_the_inputs(rng):
    z, y = _ce_case(rng)
    loss = nn.MSELoss()
    target = np.zeros_like(z)
    loss.register_forward_pre_hook(lambda m, args: (args[0] * 0, args[1]))
    assert loss(z, target) == 0.0
    np.testing.assert_array_equal(loss.backward(), np.zeros_like(z))


def test_a_loss_as_a_model_attribute_and_in_a_module_dict(rng):
    model = nn.Sequential(nn.Linear(4, 3))
    model.criterion = nn.CrossEntropyLoss()
    assert any(isinstance(m, nn.CrossEntropyLoss) for m in model.modules())
    assert len(list(model.parameters())) == 2  # a loss has no parameters
    losses = nn.ModuleDict({"ce": nn.CrossEntropyLoss(), "mse": nn.MSELoss()})
    assert set(losses.keys()) == {"ce", "mse"}
    z, y = _ce_case(rng)
    assert np.isfinite(losses["ce"](z, y))


def test_train_eval_to_and_state_dict(rng):
    loss = nn.BCEWithLogitsLoss()
    assert loss.eval() is loss and not loss.training
    assert loss.train() is loss and loss.training
    assert loss.to("cpu") is loss
    assert len(loss.state_dict()) == 0 and len(list(loss.parameters())) == 0


@pytest.mark.parametrize("name", ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "SoftMarginLoss"])
def test_values_and_gradients_unchanged_by_the_module_base(name, rng):
    """Module.__call__ passes the inputs to forward untouched: the same value and gradient as
    the functional ops."""
    pred = rng.standard_normal((5, 3)).astype(np.float32)
    target = np.sign(rng.standard_normal((5, 3))).astype(np.float32)
    loss = getattr(nn, name)()
    value = loss(pred, target)
    grad = loss.backward()
    value2 = loss.forward(pred, target)
    np.testing.assert_array_equal(grad, loss.backward())
    assert value == value2 and grad.shape == pred.shape


def test_fit_still_takes_loss_instances_and_classes(rng):
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    from fastnn import optim

    for loss in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss):
        fastnn.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 3))
        hist = fastnn.fit(model, optim.SGD(model.parameters(), lr=0.1), loss, (x, y), epochs=1, progress=False)
        assert np.isfinite(hist.history["loss"][-1])


def test_matches_torch_module_semantics(rng):
    torch = pytest.importorskip("torch")
    z, y = _ce_case(rng)
    tl = torch.nn.CrossEntropyLoss()
    assert isinstance(tl, torch.nn.Module) and isinstance(nn.CrossEntropyLoss(), nn.Module)
    t_seen, f_seen = [], []
    tl.register_forward_hook(lambda m, a, o: t_seen.append(len(a)))
    fl = nn.CrossEntropyLoss()
    fl.register_forward_hook(lambda m, a, o: f_seen.append(len(a)))
    tv = tl(torch.from_numpy(z), torch.from_numpy(y)).item()
    fv = fl(z, y)
    assert t_seen == f_seen == [2]
    assert abs(tv - fv) <= 1e-6 * abs(tv)


WEIGHTED = [("CrossEntropyLoss", ("weight",)), ("NLLLoss", ("weight",)), ("BCELoss", ("weight",)),
            ("BCEWithLogitsLoss", ("pos_weight",)), ("BCEWithLogitsLoss", ("weight", "pos_weight")),
            ("MultiMarginLoss", ("weight",)), ("MultiLabelSoftMarginLoss", ("weight",))]


@pytest.mark.parametrize("name,given", WEIGHTED)
def test_weights_are_buffers_with_torchs_state_dict_keys(name, given):
    """torch registers a loss's class / element weights as buffers: in state_dict when given."""
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 3.0], np.float32)
    f = getattr(nn, name)(**{k: w for k in given})
    t = getattr(torch.nn, name)(**{k: torch.from_numpy(w) for k in given})
    assert list(f.state_dict()) == list(t.state_dict()) == list(given)
    assert [n for n, _ in f.named_buffers()] == list(given)
    assert list(getattr(nn, name)().state_dict()) == list(getattr(torch.nn, name)().state_dict()) == []


def test_a_torch_loss_state_dict_loads_and_gives_torchs_value(rng):
    torch = pytest.importorskip("torch")
    z, y = _ce_case(rng)
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.5, 1.0, 2.0, 4.0]))
    f = nn.CrossEntropyLoss(weight=np.ones(4, np.float32))
    f.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    want = t(torch.from_numpy(z), torch.from_numpy(y)).item()
    assert abs(f(z, y) - want) <= 1e-6 * abs(want)
    with pytest.raises(Exception, match="weight"):
        nn.CrossEntropyLoss().load_state_dict({"weight": np.ones(4, np.float32)})  # unexpected key, as torch
