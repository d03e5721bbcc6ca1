"""A parameter that took no part in a backward since zero_grad is skipped by every optimizer
and by gradient clipping, as PyTorch skips a parameter whose grad is None (zero_grad's default
set_to_none=True): its value, its optimizer state and its step count stay as they were."""
import numpy as np
import pytest

from fastnn import nn, optim

OPTIMIZERS = {
    "SGD": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1), "SGD",
            {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    "Adam": (lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.01), "Adam", {"lr": 0.1, "weight_decay": 0.01}),
    "AdamW": (lambda ps: optim.AdamW(ps, lr=0.1), "AdamW", {"lr": 0.1}),
    "RMSprop": (lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5), "RMSprop", {"lr": 0.01, "momentum": 0.5}),
    "Adagrad": (lambda ps: optim.Adagrad(ps, lr=0.1), "Adagrad", {"lr": 0.1}),
    "Adadelta": (lambda ps: optim.Adadelta(ps, lr=1.0), "Adadelta", {"lr": 1.0}),
    "RAdam": (lambda ps: optim.RAdam(ps, lr=0.1), "RAdam", {"lr": 0.1}),
    "NAdam": (lambda ps: optim.NAdam(ps, lr=0.1, weight_decay=0.01), "NAdam", {"lr": 0.1, "weight_decay": 0.01}),
    "Adamax": (lambda ps: optim.Adamax(ps, lr=0.1), "Adamax", {"lr": 0.1}),
    "Rprop": (lambda ps: optim.Rprop(ps, lr=0.1), "Rprop", {"lr": 0.1}),
    "ASGD": (lambda ps: optim.ASGD(ps, lr=0.1, t0=1), "ASGD", {"lr": 0.1, "t0": 1}),
}
# which of the two parameters gets a gradient at each step (both, only a, none, ...)
PATTERN = [(1, 1), (1, 0), (0, 0), (0, 1), (1, 1), (1, 0)]


def _run_fastnn(make):
    a, b = nn.Parameter(np.ones(3, np.float32)), nn.Parameter(np.full(2, 2.0, np.float32))
    opt = make([a, b])
    for step, (ga, gb) in enumerate(PATTERN):
        opt.zero_grad()
        if ga:
            a.grad[...] = [0.5, -1.0, 0.25 * step]
        if gb:
            b.add_grad(np.array([1.0, -0.5], np.float32))
        opt.step()
    return a.data, b.data, opt


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_parameters_without_a_gradient_are_skipped(name):
    make, torch_name, kwargs = OPTIMIZERS[name]
    a, b, opt = _run_fastnn(make)
    # the state of a parameter counts only the steps in which it had a gradient
    steps = opt.state[opt.param_groups[0]["params"][0]].get("step")
    if steps is not None:
        assert steps == sum(ga for ga, _ in PATTERN)
    torch = pytest.importorskip("torch")
    ta = torch.nn.Parameter(torch.ones(3))
    tb = torch.nn.Parameter(torch.full((2,), 2.0))
    topt = getattr(torch.optim, torch_name)([ta, tb], **kwargs)
    for step, (ga, gb) in enumerate(PATTERN):
        topt.zero_grad()
        if ga:
            ta.grad = torch.tensor([0.5, -1.0, 0.25 * step])
        if gb:
            tb.grad = torch.tensor([1.0, -0.5])
        topt.step()
    # torch's float32 update order differs from the fused kernels' (test_optim.py uses the same
    # tolerance); an update wrongly applied or skipped moves a value by >= 1e-2 here
    np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(b, tb.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_a_new_parameter_has_no_gradient_until_a_backward():
    layer = nn.Linear(3, 2)
    before = layer.weight.data.copy()
    assert not layer.weight.has_grad
    opt = optim.SGD(layer.parameters(), lr=0.1, weight_decay=0.5)
    opt.step()  # no backward yet: nothing moves (weight decay included)
    np.testing.assert_array_equal(layer.weight.data, before)
    layer(np.ones((4, 3), np.float32))
    layer.backward(np.ones((4, 2), np.float32))
    assert layer.weight.has_grad and layer.bias.has_grad
    opt.step()
    assert not np.array_equal(layer.weight.data, before)
    opt.zero_grad()
    assert not layer.weight.has_grad
    np.testing.assert_array_equal(layer.weight.grad, 0)  # reading gives zeros, as always...
    assert layer.weight.has_grad  # ...and makes it a (zero) gradient, written in place


def test_clipping_skips_parameters_without_a_gradient():
    a, b = nn.Parameter(np.ones(2, np.float32)), nn.Parameter(np.ones(2, np.float32))
    a.grad[...] = [3.0, 4.0]
    b.zero_grad()
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == pytest.approx(5.0)
    assert not b.has_grad  # clipping did not turn b's missing gradient into a zero one
    np.testing.assert_allclose(a.grad, [0.6, 0.8], rtol=1e-5)
    optim.clip_grad_value_([a, b], 0.1)
    assert not b.has_grad
    np.testing.assert_allclose(a.grad, [0.1, 0.1])


def test_fit_leaves_an_unused_branch_alone():
    """A layer the forward never reaches keeps its weights through training."""
    from fastnn.nn import Module

    class TwoHeads(Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

        def backward(self, dy, need_dx=True):
            return self.used.backward(dy, need_dx=need_dx)

    model = TwoHeads()
    frozen = model.unused.weight.data.copy()
    opt = optim.Adam(model.parameters(), lr=0.1, weight_decay=0.1)
    loss = nn.MSELoss()
    x, y = np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32)
    for _ in range(3):
        opt.zero_grad()
        loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
    np.testing.assert_array_equal(model.unused.weight.data, frozen)
    assert model.unused.weight not in opt.state
