"""Gaps against torch.optim 2.13 (the oracle, optional): ``Optimizer.state`` as torch's
``defaultdict(dict)``; ``ReduceLROnPlateau.step(metrics, epoch)`` and its place under
``LRScheduler``; the deprecated ``LRScheduler.step(epoch)``; torch's ``repr(optimizer)``;
``get_total_norm`` / ``clip_grad_norm_`` with ``'inf'``, order 0, -inf and negative orders.

Each fix has a test of the documented values (runs without torch) and one against torch."""
import math
import re
import warnings
from collections import defaultdict

import numpy as np
import pytest

from fastnn import nn, optim
from fastnn.nn import utils as U
from fastnn.optim import lr_scheduler as fsched

EPOCH_WARNING_START = "The epoch parameter in `scheduler.step()` was not necessary"


def _param(values=(1.0, -2.0, 0.5), dtype=np.float32):
    return nn.Parameter(np.array(values, dtype=dtype))


def _record(fn):
    """fn() with every warning recorded: (result, [(category, message)])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category, str(w.message)) for w in caught]


# ---- 1. Optimizer.state: torch's defaultdict(dict) ------------------------------------------
class _Momentum(optim.Optimizer):
    """torch's custom-optimizer idiom: ``st = self.state[p]; if len(st) == 0: st[...] = ...``."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                if len(st) == 0:
                    st["step"] = 0
                    st["buf"] = np.zeros_like(p.data)
                st["step"] += 1
                st["buf"] *= p.dtype.type(group["momentum"])
                st["buf"] += p.grad
                p.data -= p.dtype.type(group["lr"]) * st["buf"]


def test_state_is_a_defaultdict_and_the_custom_optimizer_idiom_works():
    p, q = _param([1.0, 1.0], np.float64), _param([2.0], np.float64)
    opt = _Momentum([p, q])
    assert isinstance(opt.state, defaultdict)
    assert opt.state[q] == {} and q in opt.state  # read: inserted, empty
    for _ in range(2):
        p.grad[...] = 1.0
        opt.step()
    # buf 1 then 1.9: p = 1 - 0.1 - 0.19
    np.testing.assert_allclose(p.data, [0.71, 0.71], rtol=1e-15)
    assert opt.state[p]["step"] == 2
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 2 and sd["state"][1]["step"] == 2
    other = _Momentum([_param([1.0, 1.0], np.float64), _param([2.0], np.float64)])
    other.load_state_dict(sd)
    assert isinstance(other.state, defaultdict)
    np.testing.assert_array_equal(other.state[other.param_groups[0]["params"][0]]["buf"], [1.9, 1.9])


def test_custom_optimizer_idiom_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchMomentum(torch.optim.Optimizer):
        def __init__(self, params, lr=0.1, momentum=0.9):
            super().__init__(params, {"lr": lr, "momentum": momentum})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = 0
                        st["buf"] = torch.zeros_like(p)
                    st["step"] += 1
                    st["buf"].mul_(group["momentum"]).add_(p.grad)
                    p.add_(st["buf"], alpha=-group["lr"])

    rng = np.random.default_rng(0)
    init = rng.standard_normal(4)
    p, tp = _param(init, np.float64), torch.nn.Parameter(torch.tensor(init))
    opt, topt = _Momentum([p], lr=0.05), TorchMomentum([tp], lr=0.05)
    _step_both(torch, rng, (p, opt), (tp, topt), 4)
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-14)
    assert opt.state_dict()["state"][0]["step"] == topt.state_dict()["state"][0]["step"] == 4


def _step_both(torch, rng, ours, theirs, steps):
    """steps updates of a fastnn and a torch parameter with the same random gradients."""
    (p, opt), (tp, topt) = ours, theirs
    for _ in range(steps):
        g = rng.standard_normal(p.data.shape)
        p.grad[...] = g
        tp.grad = torch.tensor(g)
        opt.step()
        topt.step()


BUILTINS = [("Adam", {}), ("AdamW", {}), ("SGD", {"momentum": 0.9}), ("RMSprop", {"momentum": 0.5}),
            ("Adagrad", {}), ("NAdam", {}), ("Rprop", {}), ("ASGD", {}), ("Adafactor", {}),
            ("Adamax", {}), ("RAdam", {}), ("Adadelta", {})]


@pytest.mark.parametrize("name, hp", BUILTINS)
def test_builtin_step_initialises_an_existing_empty_state(name, hp):
    rng = np.random.default_rng(1)
    init, grads = rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal((3, 3, 2)).astype(np.float32)
    p, fresh_p = nn.Parameter(init.copy()), nn.Parameter(init.copy())
    opt, fresh = getattr(optim, name)([p], lr=0.01, **hp), getattr(optim, name)([fresh_p], lr=0.01, **hp)
    st = opt.state[p]  # torch's idiom inserts an empty dict: the step must take it for a missing state
    assert st == {}
    for g in grads:
        p.grad[...], fresh_p.grad[...] = g, g
        opt.step()
        fresh.step()
    np.testing.assert_array_equal(p.data, fresh_p.data)
    assert opt.state[p] is st and set(st) == set(fresh.state[fresh_p])


@pytest.mark.parametrize("name, hp", [("Adam", {}), ("SGD", {"momentum": 0.9}), ("RMSprop", {"centered": True})])
def test_builtin_with_an_empty_state_matches_torch(name, hp):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    init = rng.standard_normal(5)
    p, tp = _param(init, np.float64), torch.nn.Parameter(torch.tensor(init))
    opt, topt = getattr(optim, name)([p], lr=0.01, **hp), getattr(torch.optim, name)([tp], lr=0.01, **hp)
    assert opt.state[p] == topt.state[tp] == {}
    _step_both(torch, rng, (p, opt), (tp, topt), 3)
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)
    assert sorted(opt.state_dict()["state"][0]) == sorted(topt.state_dict()["state"][0])


def test_state_dict_and_empty_states():
    # SGD without momentum keeps no state (torch's: no entry); an entry made by self.state[q]
    # is in state_dict as torch's, {} (and loads back as a missing state)
    p, q = _param(), _param()
    opt = optim.SGD([p, q], lr=0.1)
    p.grad[...] = 1.0
    opt.step()
    assert p not in opt.state and opt.state_dict()["state"] == {}
    opt.state[q]
    assert opt.state_dict()["state"] == {1: {}}
    a, b = _param(), _param()
    adam = optim.Adam([a, b], lr=0.1)
    adam.load_state_dict({"state": {0: {}}, "param_groups": adam.state_dict()["param_groups"]})
    assert isinstance(adam.state, defaultdict) and adam.state[a] == {} and adam.state[b] == {}
    fresh_a = _param()
    fresh = optim.Adam([fresh_a], lr=0.1)
    a.grad[...] = fresh_a.grad[...] = [0.5, -1.0, 2.0]
    adam.step()
    fresh.step()
    np.testing.assert_array_equal(a.data, fresh_a.data)
    assert adam.state[a]["step"] == 1


def test_state_dict_with_empty_states_matches_torch():
    torch = pytest.importorskip("torch")
    p, q = _param(), _param()
    tp, tq = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt, topt = optim.SGD([p, q], lr=0.1), torch.optim.SGD([tp, tq], lr=0.1)
    p.grad[...] = 1.0
    tp.grad = torch.ones(3)
    opt.step()
    topt.step()
    assert (p in opt.state) == (tp in topt.state) is False
    assert opt.state_dict()["state"] == topt.state_dict()["state"] == {}
    opt.state[q]
    topt.state[tq]
    assert opt.state_dict()["state"] == topt.state_dict()["state"] == {1: {}}


# ---- 2. and 4. ReduceLROnPlateau: step(metrics, epoch), an LRScheduler, mode_worse -------------
def test_plateau_step_metrics_and_epoch():
    opt = optim.SGD([_param()], lr=0.1)
    r = optim.ReduceLROnPlateau(opt, patience=0)
    r.step(metrics=1.0)  # torch's argument name
    r.step(2.0)  # positional, as before
    assert r.last_epoch == 2 and opt.param_groups[0]["lr"] == pytest.approx(0.01)
    with pytest.warns(UserWarning, match=re.escape(EPOCH_WARNING_START)):
        r.step(3.0, 10)
    assert r.last_epoch == 10 and opt.param_groups[0]["lr"] == pytest.approx(0.001)
    with pytest.warns(UserWarning, match=re.escape(EPOCH_WARNING_START)):
        r.step(0.5, epoch=4)
    assert r.last_epoch == 4 and r.best == 0.5
    r.step(0.4)
    assert r.last_epoch == 5
    assert fsched.EPOCH_DEPRECATION_WARNING.startswith(EPOCH_WARNING_START)


def test_plateau_is_an_lr_scheduler_with_mode_worse():
    opt = optim.SGD([_param()], lr=0.1)
    lo, hi = optim.ReduceLROnPlateau(opt), optim.ReduceLROnPlateau(opt, mode="max")
    assert isinstance(lo, optim.LRScheduler) and isinstance(hi, optim.LRScheduler)
    assert lo.state_dict()["mode_worse"] == math.inf and hi.state_dict()["mode_worse"] == -math.inf
    assert lo.best == math.inf and hi.best == -math.inf
    state = hi.state_dict()
    state["mode_worse"] = 123.0
    hi.load_state_dict(state)  # recomputed from mode, as torch's _init_is_better
    assert hi.mode_worse == -math.inf
    with pytest.raises(ValueError, match="cannot hold a ReduceLROnPlateau"):
        optim.ChainedScheduler([optim.StepLR(opt, 2), lo])


def test_plateau_matches_torch_with_epoch_and_state_dict():
    torch = pytest.importorskip("torch")
    assert fsched.EPOCH_DEPRECATION_WARNING == torch.optim.lr_scheduler.EPOCH_DEPRECATION_WARNING
    opt = optim.SGD([_param()], lr=0.1)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    r = optim.ReduceLROnPlateau(opt, mode="max", patience=1, cooldown=1, factor=0.5)
    tr = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, mode="max", patience=1, cooldown=1, factor=0.5)
    assert isinstance(tr, torch.optim.lr_scheduler.LRScheduler) and isinstance(r, optim.LRScheduler)
    assert sorted(r.state_dict()) == sorted(tr.state_dict())
    for metric, epoch in [(1.0, None), (0.5, None), (0.4, 7), (0.3, None), (2.0, None), (1.0, 3), (0.9, None),
                          (0.8, None), (0.7, 20), (0.6, None)]:
        if epoch is None:
            r.step(metric)
            tr.step(metric)
        else:
            _, ours = _record(lambda: r.step(metric, epoch))
            _, theirs = _record(lambda: tr.step(metric, epoch=epoch))
            assert ours == theirs == [(UserWarning, torch.optim.lr_scheduler.EPOCH_DEPRECATION_WARNING)]
        assert r.last_epoch == tr.last_epoch and r.get_last_lr() == tr.get_last_lr()
        fs, ts = r.state_dict(), tr.state_dict()
        assert {k: fs[k] for k in fs} == {k: ts[k] for k in fs}


# ---- 3. LRScheduler.step(epoch) ---------------------------------------------------------
SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, 3, 0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, [2, 5, 5, 9], 0.5),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, 10, 0.001),
    "LinearLR": lambda m, o: m.LinearLR(o, 0.25, 1.0, 6),
    "ConstantLR": lambda m, o: m.ConstantLR(o, 0.5, 4),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (e + 1)),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, 8, 2.0),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, [1.0, 0.5], total_steps=20),
    "CyclicLR": lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="triangular2"),
}
EPOCHS = [None, None, 7, None, None, 3, None, 12, 12, None, 0, None, 5.5, None]


def _two_groups_sgd():
    return optim.SGD([{"params": [_param()], "lr": 0.1}, {"params": [_param()], "lr": 0.03}], lr=0.1, momentum=0.9)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_step_epoch_matches_torch(name):
    torch = pytest.importorskip("torch")
    opt = _two_groups_sgd()
    topt = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.ones(3))], "lr": 0.1},
                            {"params": [torch.nn.Parameter(torch.ones(3))], "lr": 0.03}], lr=0.1, momentum=0.9)
    s, ts = SCHEDULES[name](optim, opt), SCHEDULES[name](torch.optim.lr_scheduler, topt)
    for i, epoch in enumerate(EPOCHS):
        opt.step()
        topt.step()
        if epoch is None:
            s.step()
            ts.step()
        else:
            _, ours = _record(lambda: s.step(epoch))
            _, theirs = _record(lambda: ts.step(epoch))
            assert ours == theirs == [(UserWarning, torch.optim.lr_scheduler.EPOCH_DEPRECATION_WARNING)], (i, epoch)
        assert s.last_epoch == ts.last_epoch, (i, epoch)
        for a, b in zip(s.get_last_lr(), ts.get_last_lr()):
            assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-16), (i, epoch, s.get_last_lr(), ts.get_last_lr())
        assert [g["momentum"] for g in opt.param_groups] == pytest.approx(
            [g["momentum"] for g in topt.param_groups], rel=1e-12)


def test_step_epoch_values():
    """The closed form where a schedule has one (from base_lrs, whatever the current rate), else
    get_lr() at that epoch; then the chainable form goes on from there. (CosineAnnealingWarmRestarts
    has its own step(epoch), without the warning, as torch's: checked still working, below.)"""
    def warned(sched, epoch):
        with pytest.warns(UserWarning, match=re.escape(EPOCH_WARNING_START)):
            sched.step(epoch)

    opt = optim.SGD([_param()], lr=0.1)
    s = optim.StepLR(opt, 3, 0.5)
    opt.param_groups[0]["lr"] = 7.0  # (the closed form ignores it)
    warned(s, 7)
    assert s.last_epoch == 7 and s.get_last_lr() == [pytest.approx(0.025)]
    s.step()  # epoch 8: not a multiple of 3, the rate stays
    assert s.last_epoch == 8 and s.get_last_lr() == [pytest.approx(0.025)]
    s.step()  # epoch 9: halved
    assert s.get_last_lr() == [pytest.approx(0.0125)]
    warned(s, 3)
    assert s.last_epoch == 3 and s.get_last_lr() == [pytest.approx(0.05)]

    opt = optim.SGD([_param()], lr=0.1)
    c = optim.CosineAnnealingLR(opt, 10)
    warned(c, 5)
    assert c.get_last_lr() == [pytest.approx(0.05)]
    warned(c, 10)
    assert c.get_last_lr() == [pytest.approx(0.0, abs=1e-17)]

    opt = optim.SGD([_param()], lr=0.1)
    lam = optim.LambdaLR(opt, lambda e: 1.0 / (e + 1))  # no closed form: get_lr() at the epoch
    warned(lam, 4)
    assert lam.last_epoch == 4 and lam.get_last_lr() == [pytest.approx(0.02)]

    opt = optim.SGD([_param()], lr=0.1)
    mul = optim.MultiplicativeLR(opt, lambda e: 0.5)  # get_lr(): the current rate times the factor
    warned(mul, 10)
    assert mul.last_epoch == 10 and mul.get_last_lr() == [pytest.approx(0.05)]

    opt = optim.SGD([_param()], lr=0.1, momentum=0.9)
    one = optim.OneCycleLR(opt, 1.0, total_steps=10)
    with pytest.raises(ValueError, match="total_steps"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        one.step(11)  # past its end, as torch's
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, fsched.EPOCH_DEPRECATION_WARNING)]
    assert one.last_epoch == 0 and one._step_count == 1  # a step that raises leaves it as it was
    warned(one, 2)
    assert one.last_epoch == 2 and one._step_count == 2

    opt = optim.SGD([_param()], lr=0.1)
    w = optim.CosineAnnealingWarmRestarts(opt, 4)
    w.step(6)  # its own epoch argument: no warning (warnings are errors here)
    assert w.T_cur == 2 and w.get_last_lr() == [pytest.approx(0.05)]
    with pytest.raises(ValueError, match="Received: epoch="):
        optim.StepLR(optim.SGD([_param()], lr=0.1), 2).step("3")


# ---- 5. repr(optimizer) ---------------------------------------------------------------------
def _groups(lib_param):
    return [{"params": [lib_param()]}, {"params": [lib_param()], "lr": 0.5, "weight_decay": 0.1}]


def test_repr_is_torchs_format():
    opt = optim.SGD(_groups(_param), lr=0.1, momentum=0.9)
    assert repr(opt) == (
        "SGD (\n"
        "Parameter Group 0\n    dampening: 0\n    differentiable: False\n    foreach: None\n    fused: None\n"
        "    lr: 0.1\n    maximize: False\n    momentum: 0.9\n    nesterov: False\n    weight_decay: 0\n"
        "\n"
        "Parameter Group 1\n    dampening: 0\n    differentiable: False\n    foreach: None\n    fused: None\n"
        "    lr: 0.5\n    maximize: False\n    momentum: 0.9\n    nesterov: False\n    weight_decay: 0.1\n"
        ")")
    adam = optim.Adam([_param()])
    assert repr(adam).startswith("Adam (\nParameter Group 0\n    amsgrad: False\n    betas: (0.9, 0.999)\n")
    assert "    weight_decay: 0\n)" in repr(adam)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_repr_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours = getattr(optim, name)(_groups(_param), lr=0.01)
    theirs = getattr(torch.optim, name)(_groups(lambda: torch.nn.Parameter(torch.ones(3))), lr=0.01)
    assert repr(ours) == repr(theirs)


# ---- 6. get_total_norm / clip_grad_norm_ orders -----------------------------------------------
def _norm_cases():
    return {
        "zeros": [np.array([1.0, 2.0, 3.0]), np.array([4.0, 0.0]), np.array([0.0, 0.0])],
        "no zeros": [np.array([1.0, 2.0, 3.0]), np.array([4.0, 0.5])],
        "nan": [np.array([np.nan, 1.0]), np.array([-2.0])],
        "inf": [np.array([np.inf, np.inf]), np.array([-3.0, 1.0])],
    }


ORDERS = [0, 0.0, -1.0, -2.5, -0.5, -math.inf, "-inf", "inf"]  # (inf, p > 0: tests/test_nn_utils.py)


def test_get_total_norm_orders_values():
    zeros, no_zeros = _norm_cases()["zeros"], _norm_cases()["no zeros"]
    assert U.get_total_norm(zeros, "inf") == 4.0 and U.get_total_norm(zeros, "-inf") == 0.0
    assert U.get_total_norm(zeros, 0) == 2.0  # torch's: arrays with a non-zero entry (counts of counts)
    assert U.get_total_norm(no_zeros, 0) == 2.0 and U.get_total_norm([np.arange(1.0, 5.0)], 0) == 1.0
    assert U.get_total_norm(no_zeros, -math.inf) == 0.5
    assert U.get_total_norm(zeros, -1.0) == 0.0
    np.testing.assert_allclose(U.get_total_norm(no_zeros, -1.0), 1.0 / (1 + 1 / 2 + 1 / 3 + 1 / 4 + 2), rtol=1e-15)
    assert np.isnan(U.get_total_norm(_norm_cases()["nan"], -math.inf))
    assert U.get_total_norm(_norm_cases()["nan"], 0) == 2.0  # NaN is not zero
    assert U.get_total_norm(_norm_cases()["inf"], -2.0) == pytest.approx(1.0 / math.sqrt(1 + 1 / 9))
    with pytest.raises(RuntimeError, match="empty tensor"):
        U.get_total_norm([np.ones(2), np.zeros(0)], -math.inf)
    with pytest.raises(RuntimeError, match="empty tensor"):
        U.get_total_norm([np.zeros(0)], -1.0)
    assert U.get_total_norm([np.zeros(0), np.ones(3)], 0) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        U.get_total_norm(zeros, math.nan)
    with pytest.raises(TypeError, match="norm_type"):
        U.get_total_norm(zeros, "fast")
    # clip_grad_norm_ takes the same norm (order 0: 1 gradient with a non-zero entry)
    a = _param([3.0, 0.0, -4.0])
    a.grad[...] = [3.0, 0.0, -4.0]
    assert optim.clip_grad_norm_([a], 0.5, 0) == 1.0
    np.testing.assert_allclose(a.grad, np.array([3.0, 0.0, -4.0]) * np.float32(0.5 / (1 + 1e-6)), rtol=1e-6)
    a.grad[...] = [3.0, 0.5, -4.0]
    assert optim.clip_grad_norm_([a], 0.1, "-inf") == 0.5
    np.testing.assert_allclose(a.grad, np.array([3.0, 0.5, -4.0]) * 0.1 / (0.5 + 1e-6), rtol=1e-6)


@pytest.mark.parametrize("order", ORDERS, ids=[repr(o) for o in ORDERS])
@pytest.mark.parametrize("case", sorted(_norm_cases()))
def test_get_total_norm_orders_match_torch(order, case):
    torch = pytest.importorskip("torch")
    arrays = _norm_cases()[case]
    got = U.get_total_norm(arrays, order)
    want = torch.nn.utils.get_total_norm([torch.tensor(a) for a in arrays], order).item()
    assert type(got) is np.float64
    np.testing.assert_allclose(got, want, rtol=1e-14, equal_nan=True)


@pytest.mark.parametrize("order", [0, -1.0, -math.inf, "-inf", "inf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_norm_orders_match_torch(order, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2,)]]
    grads[2][...] = 0.0  # order 0 counts the gradients with a non-zero entry
    params = [nn.Parameter(g.copy()) for g in grads]
    tparams = [torch.nn.Parameter(torch.tensor(g)) for g in grads]
    for p, tp, g in zip(params, tparams, grads):
        p.grad[...] = g
        tp.grad = torch.tensor(g)
    total = optim.clip_grad_norm_(params, 0.3, order)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, 0.3, order).item()
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(total, ttotal, rtol=rtol)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=rtol, atol=1e-30)
    # get_total_norm of the same gradients (before clipping) is the same norm
    assert U.get_total_norm(grads, order) == total
