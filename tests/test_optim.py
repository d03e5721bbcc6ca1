"""Optimizers: one step against hand-computed numbers, 50 steps against the reference update
rules (fastnn.reference.*_update) and torch.optim (optional oracle); state, resume, freeze;
gradient clipping; learning-rate schedules against torch.optim.lr_scheduler."""
import math

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim, reference

P0 = [1.0, -2.0, 0.5]
G = [0.5, 0.25, -1.0]


def _param(values=P0):
    return nn.Parameter(np.array(values, dtype=np.float32))


def _steps(opt_cls, steps=1, grad=G, **hp):
    """Run `steps` updates with a constant gradient; return the parameter values."""
    p = _param()
    opt = opt_cls([p], **hp)
    for _ in range(steps):
        p.grad[...] = grad
        opt.step()
    return p.data.astype(np.float64)


def _sign(g):
    return np.sign(np.array(g))


# Each expected value is worked out by hand from the update rule in the optimizer's docstring.
HAND = [
    ("SGD plain", "sgd_update", lambda: _steps(optim.SGD, lr=0.1), np.array(P0) - 0.1 * np.array(G)),
    # g' = g + 0.1 p0 = [0.6, 0.05, -0.95]; buf = g' on the first step; p0 - 0.1 g'
    ("SGD momentum+wd", "sgd_update", lambda: _steps(optim.SGD, lr=0.1, momentum=0.9, weight_decay=0.1),
     [0.94, -2.005, 0.595]),
    # second step: g2 = g + 0.1 p1 = [0.594, 0.0495, -0.9405]; buf = 0.9 [0.6, 0.05, -0.95] + g2
    # = [1.134, 0.0945, -1.7955]; p2 = p1 - 0.1 buf
    ("SGD momentum+wd, 2 steps", "sgd_update",
     lambda: _steps(optim.SGD, 2, lr=0.1, momentum=0.9, weight_decay=0.1), [0.8266, -2.01445, 0.77455]),
    # dampening applies from the second step: buf = 0.9 g + (1 - 0.5) g = 1.4 g; p = p0 - 0.1 (g + 1.4 g)
    ("SGD dampening, 2 steps", "sgd_update", lambda: _steps(optim.SGD, 2, lr=0.1, momentum=0.9, dampening=0.5),
     np.array(P0) - 0.1 * 2.4 * np.array(G)),
    # Nesterov, first step: buf = g; update g + 0.9 buf = 1.9 g
    ("SGD nesterov", "sgd_update", lambda: _steps(optim.SGD, lr=0.1, momentum=0.9, nesterov=True),
     np.array(P0) - 0.19 * np.array(G)),
    # m = 0.1 g, v = 0.001 g^2; m / (1 - 0.9) = g, v / (1 - 0.999) = g^2: a step of lr * sign(g)
    ("Adam", "adam_update", lambda: _steps(optim.Adam, lr=0.1), np.array(P0) - 0.1 * _sign(G)),
    # with a constant gradient the bias-corrected moments stay g and g^2: two sign steps
    ("Adam, 2 steps", "adam_update", lambda: _steps(optim.Adam, 2, lr=0.1), np.array(P0) - 0.2 * _sign(G)),
    # decoupled decay first: p0 (1 - 0.1 * 0.1) = [0.99, -1.98, 0.495], then the sign step
    ("AdamW", "adam_update", lambda: _steps(optim.AdamW, lr=0.1, weight_decay=0.1), [0.89, -2.08, 0.595]),
    # rho_1 = rho_inf - 2 * 0.999 / 0.001 = 1999 - 1998 = 1 <= 5: un-adapted step lr * m_hat = lr * g
    ("RAdam", "radam_update", lambda: _steps(optim.RAdam, lr=0.1), np.array(P0) - 0.1 * np.array(G)),
    # sum = g^2: a step of lr * sign(g)
    ("Adagrad", "adagrad_update", lambda: _steps(optim.Adagrad, lr=0.1), np.array(P0) - 0.1 * _sign(G)),
    # step 2: sum = 2 g^2, lr / (1 + 1 * 0.5) = 0.1 / 1.5; step of (0.1 / 1.5) / sqrt(2) * sign(g)
    ("Adagrad lr_decay, 2 steps", "adagrad_update", lambda: _steps(optim.Adagrad, 2, lr=0.1, lr_decay=0.5),
     np.array(P0) - (0.1 + 0.1 / 1.5 / math.sqrt(2)) * _sign(G)),
    # v = 0.01 g^2, sqrt(v) = 0.1 |g|: a step of lr * 10 * sign(g)
    ("RMSprop", "rmsprop_update", lambda: _steps(optim.RMSprop, lr=0.01), np.array(P0) - 0.1 * _sign(G)),
    # centered: grad_avg = 0.01 g, v - grad_avg^2 = 0.01 g^2 - 0.0001 g^2 = 0.0099 g^2
    ("RMSprop centered", "rmsprop_update", lambda: _steps(optim.RMSprop, lr=0.01, centered=True),
     np.array(P0) - 0.01 / math.sqrt(0.0099) * _sign(G)),
    # v = 0.1 g^2; delta = sqrt(0 + 1e-6) / sqrt(0.1 g^2 + 1e-6) * g; p -= 1.0 * delta
    ("Adadelta", "adadelta_update", lambda: _steps(optim.Adadelta),
     [p - 1e-3 / math.sqrt(0.1 * g * g + 1e-6) * g for p, g in zip(P0, G)]),
]


@pytest.mark.parametrize("name, op, run, want", HAND, ids=[h[0] for h in HAND])
def test_hand_computed_steps(name, op, run, want):
    np.testing.assert_allclose(run(), want, rtol=2e-6, atol=1e-7)


# ---- 50 steps on a quadratic: against fastnn.reference and torch -------------------------
CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("Adadelta", {"lr": 1.0}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    # beta2 = 0.5: v follows the shrinking g^2 down, so AMSGrad's maximum differs from v
    ("Adam", {"lr": 0.01, "betas": (0.9, 0.5), "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "betas": (0.9, 0.5), "weight_decay": 0.1, "amsgrad": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.01}),
]
OPS = {"SGD": "sgd_update", "Adagrad": "adagrad_update", "Adadelta": "adadelta_update",
       "RMSprop": "rmsprop_update", "Adam": "adam_update", "AdamW": "adam_update", "RAdam": "radam_update"}


def _problem():
    """A separable quadratic 0.5 * sum(a * (p - t)^2) whose minimum is 1 to 2 away from p0 in
    every coordinate. Far enough that the sign-like steps of Adam-type optimizers (at most
    lr = 0.01 per step, 0.5 in 50 steps) never reach it: at the minimum they dither on the sign
    of a gradient that is pure rounding, and two correct float32 implementations drift apart
    by O(lr) there."""
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((4, 5)).astype(np.float32)
    curvature = rng.uniform(0.5, 2.0, (4, 5)).astype(np.float32)
    offset = rng.uniform(1.0, 2.0, (4, 5)) * rng.choice([-1.0, 1.0], (4, 5))
    target = (p0 + offset).astype(np.float32)
    return p0, curvature, target


def _run_fastnn(name, hp, steps=50):
    p0, a, t = _problem()
    p = nn.Parameter(p0.copy())
    opt = getattr(optim, name)([p], **hp)
    for _ in range(steps):
        p.grad[...] = a * (p.data - t)
        opt.step()
    return p.data


def _run_reference(name, hp, steps=50):
    """The same loop written directly on fastnn.reference's update functions."""
    p, a, t = _problem()
    z = lambda: np.zeros_like(p)  # noqa: E731
    hp = dict(hp)
    s1, s2, s3 = z(), z(), z()
    if name == "Adagrad":
        s1 += hp.pop("initial_accumulator_value", 0.0)
    if name in ("Adam", "AdamW", "RAdam"):
        hp["beta1"], hp["beta2"] = hp.pop("betas", (0.9, 0.999))
    if hp.pop("amsgrad", False):
        hp["max_exp_avg_sq"] = s3
    for k in range(1, steps + 1):
        g = a * (p - t)
        if name == "SGD":
            reference.sgd_update(p, g, s1, first_step=k == 1, **hp)
        elif name == "Adagrad":
            reference.adagrad_update(p, g, s1, step=k, **hp)
        elif name == "Adadelta":
            reference.adadelta_update(p, g, s1, s2, **hp)
        elif name == "RMSprop":
            reference.rmsprop_update(p, g, s1, s2, s3, **hp)
        elif name == "Adam":
            reference.adam_update(p, g, s1, s2, step=k, **hp)
        elif name == "AdamW":
            reference.adam_update(p, g, s1, s2, step=k, decoupled=True, **{"weight_decay": 0.01, **hp})
        elif name == "RAdam":
            reference.radam_update(p, g, s1, s2, step=k, **hp)
    return p


@pytest.mark.parametrize("name, hp", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_fifty_steps_match_reference(name, hp):
    np.testing.assert_allclose(_run_fastnn(name, hp), _run_reference(name, hp), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name, hp", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_fifty_steps_match_torch(name, hp):
    torch = pytest.importorskip("torch")
    p0, a, t = _problem()
    tp = torch.nn.Parameter(torch.tensor(p0))
    opt = getattr(torch.optim, name)([tp], **hp)
    at, tt = torch.tensor(a), torch.tensor(t)
    for _ in range(50):
        with torch.no_grad():
            tp.grad = at * (tp - tt)
        opt.step()
    np.testing.assert_allclose(_run_fastnn(name, hp), tp.detach().numpy(), rtol=1e-4, atol=1e-5)


# ---- state, resume, freeze, validation ---------------------------------------------------
def test_state_is_lazy_and_resumable():
    p0, a, t = _problem()
    p = nn.Parameter(p0.copy())
    opt = optim.Adam([p], lr=0.01)
    assert opt.state == {}
    for _ in range(10):
        p.grad[...] = a * (p.data - t)
        opt.step()
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"} and opt.state[p]["step"] == 10
    saved_state, saved_p = opt.state_dict(), p.data.copy()
    q = nn.Parameter(saved_p.copy())
    resumed = optim.Adam([q], lr=0.5)  # the loaded state brings lr back to 0.01
    resumed.load_state_dict(saved_state)
    assert resumed.lr == 0.01
    for _ in range(10):
        p.grad[...] = a * (p.data - t)
        q.grad[...] = a * (q.data - t)
        opt.step()
        resumed.step()
    np.testing.assert_array_equal(p.data, q.data)
    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="shape"):
        resumed.load_state_dict(bad)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_frozen_parameters_are_not_updated(name):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].freeze()
    opt = getattr(optim, name)(model.parameters(), lr=0.1)
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad[...] = 1.0
    opt.step()
    after = [p.data for p in model.parameters()]
    assert all(np.array_equal(b, a) for b, a in zip(before[:2], after[:2]))
    assert all(not np.array_equal(b, a) for b, a in zip(before[2:], after[2:]))
    assert model[0].weight not in opt.state


def test_param_groups_and_zero_grad():
    a, b = _param(), _param()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad[...] = 1
    b.grad[...] = 1
    opt.step()
    np.testing.assert_allclose(a.data, np.array(P0) - 0.1, rtol=1e-6)
    np.testing.assert_allclose(b.data, np.array(P0) - 0.5, rtol=1e-6)
    opt.zero_grad()
    assert not a.grad.any() and not b.grad.any()
    with pytest.raises(ValueError, match="more than one place"):
        optim.SGD([a, a])


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-1), "Received: lr=-1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), "Received: beta2=1.0"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Received: eps=-1e-08"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "Received: alpha=-0.5"),
    (lambda p: optim.Adadelta(p, rho=1.5), "Received: rho=1.5"),
    (lambda p: optim.Adam(p, bogus=1), "got an unexpected keyword"),
    (lambda p: optim.Adam([]), "empty parameter list"),
])
def test_hyperparameter_validation(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make([_param()])


FLOAT64_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01}),
    ("Adadelta", {"lr": 1.0, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.1}),
    ("RAdam", {"lr": 0.1, "weight_decay": 0.01}),
]


def _steps_beside_torch(torch, name, hp, dtype, steps):
    """fastnn's and torch's optimizer `name` (both with hp) for `steps` steps on the same
    gradients g = sin(i + step) + 0.1 p (p: fastnn's parameter, from P0). Returns (fastnn
    parameter, torch parameter, the fastnn parameter's original data array)."""
    p = nn.Parameter(np.array(P0, dtype=dtype))
    tp = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float64 if dtype == np.float64 else torch.float32))
    data = p.data
    opt, topt = getattr(optim, name)([p], **hp), getattr(torch.optim, name)([tp], **hp)
    for step in range(steps):
        g = (np.sin(np.arange(len(P0)) + step) + 0.1 * p.data).astype(dtype)
        opt.zero_grad()
        p.grad[...] = g
        opt.step()
        topt.zero_grad()
        tp.grad = torch.tensor(g)
        topt.step()
    return p, tp, data


@pytest.mark.parametrize("name,hp", FLOAT64_CASES)
def test_float64_parameters_train_as_pytorch(name, hp):
    """A float64 model (Module.double(), for gradient checks) trains: its parameters take the
    reference's float64 update (the fused kernels are float32; fastnn.ops refuses float64), in
    place, matching torch's float64 optimizer."""
    torch = pytest.importorskip("torch")
    p, tp, data = _steps_beside_torch(torch, name, hp, np.float64, 12)
    assert p.data is data and p.data.dtype == np.float64  # updated in place
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


# ---- clipping ----------------------------------------------------------------------------
def test_clip_grad_norm_and_value():
    a, b = _param([1, 2, 3]), _param([0, 0])
    a.grad[...] = [3, 0, 0]
    b.grad[...] = [0, 4]
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert abs(total - 5.0) < 1e-12
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), np.array([3, 0, 0, 0, 4]) / (5 + 1e-6), rtol=1e-6)
    a.grad[...] = [3, 0, 0]
    assert optim.clip_grad_norm_([a], max_norm=10.0) == 3.0
    np.testing.assert_array_equal(a.grad, [3, 0, 0])  # below the limit: untouched
    a.grad[...] = [3, -4, 1]
    assert optim.clip_grad_norm_([a], 1.0, norm_type=math.inf) == 4.0
    a.grad[...] = [3, -4, 0.5]
    optim.clip_grad_value_([a], 1.0)
    np.testing.assert_array_equal(a.grad, [1, -1, 0.5])
    with pytest.raises(ValueError, match="Received: max_norm=-1.0"):
        optim.clip_grad_norm_([a], -1)


def test_clip_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,)]]
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, t, g in zip(ours, theirs, grads):
        p.grad[...] = g
        t.grad = torch.tensor(g)
    n1 = optim.clip_grad_norm_(ours, 0.7)
    n2 = torch.nn.utils.clip_grad_norm_(theirs, 0.7).item()
    assert abs(n1 - n2) < 1e-5
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)


# ---- schedules ---------------------------------------------------------------------------
SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}, "StepLR", {"step_size": 3, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}, "ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}, "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
    ("LinearWarmup", {"warmup_steps": 4, "start_factor": 0.25}, "LinearLR", {"total_iters": 4, "start_factor": 0.25}),
]


@pytest.mark.parametrize("ours, kw, theirs, tkw", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedules_match_torch(ours, kw, theirs, tkw):
    torch = pytest.importorskip("torch")
    opt = optim.SGD([_param()], lr=0.1)
    sched = getattr(optim, ours)(opt, **kw)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    tsched = getattr(torch.optim.lr_scheduler, theirs)(topt, **tkw)
    for epoch in range(15):
        assert abs(opt.lr - topt.param_groups[0]["lr"]) < 1e-12 * 0.1 + 1e-15, (epoch, opt.lr)
        topt.step()
        sched.step()
        tsched.step()


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    opt = optim.SGD([_param()], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.05)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, factor=0.5, patience=2, cooldown=1, min_lr=0.05)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    lrs, tlrs = [], []
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        lrs.append(opt.lr)
        tlrs.append(topt.param_groups[0]["lr"])
    assert lrs == tlrs
    assert lrs[-1] < 0.2  # it did cut, more than once


def test_schedule_validation():
    opt = optim.SGD([_param()], lr=0.1)
    with pytest.raises(ValueError, match="Received: step_size=0"):
        optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="Received: factor=1.5"):
        optim.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(TypeError, match="Optimizer"):
        optim.ExponentialLR(object(), gamma=0.9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_radam_decoupled_weight_decay_as_pytorch(dtype):
    torch = pytest.importorskip("torch")
    hp = {"lr": 0.1, "weight_decay": 0.2, "decoupled_weight_decay": True}
    # 10 steps: past rho_t > 5 (step 6 on), both branches of RAdam
    p, tp, _ = _steps_beside_torch(torch, "RAdam", hp, dtype, 10)
    q, _, _ = _steps_beside_torch(torch, "RAdam", {"lr": 0.1, "weight_decay": 0.2}, dtype, 10)  # the L2 form
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(p.data, tp.detach().numpy(), **tol)
    assert np.abs(p.data - q.data).max() > 1e-3  # decoupled decay is not the L2 form
    with pytest.raises(TypeError, match="decoupled_weight_decay must be True or False"):
        optim.RAdam([p], decoupled_weight_decay=1)


def test_a_torch_optimizer_state_dict_loads_as_copies_and_trains(rng):
    """The tensors were kept as they were: step() then failed, after updating the torch
    optimizer's own live state in place (its state_dict holds references)."""
    torch = pytest.importorskip("torch")
    tm = torch.nn.Linear(4, 2).double()
    fm = nn.Linear(4, 2).double() if "dtype" in nn.Linear.__init__.__code__.co_varnames else nn.Linear(4, 2).double()
    fm.load_state_dict(tm.state_dict())
    to = torch.optim.Adam(tm.parameters(), lr=0.1)
    xb = rng.standard_normal((3, 4))
    tm(torch.from_numpy(xb)).sum().backward()
    to.step()
    before = {k: v.clone() for k, v in to.state[tm.weight].items()}
    fo = optim.Adam(fm.parameters(), lr=0.1)
    fo.load_state_dict(to.state_dict())
    assert all(isinstance(v, (np.ndarray, int, float)) for v in fo.state[fm.weight].values())
    fm.load_state_dict(tm.state_dict())
    for model_step in range(2):
        fo.zero_grad()
        fm(xb)
        fm.backward(np.ones((3, 2)))
        fo.step()
        to.zero_grad()
        tm(torch.from_numpy(xb)).sum().backward()
        to.step()
    np.testing.assert_allclose(fm.weight.data, tm.weight.detach().numpy(), rtol=1e-12, atol=1e-12)
    # the torch optimizer moved by its own steps only
    assert int(to.state[tm.weight]["step"]) == 3 and fo.state[fm.weight]["step"] == 3
    assert not torch.equal(before["exp_avg"], to.state[tm.weight]["exp_avg"])


def test_clipping_skips_frozen_parameters_as_torch():
    """Frozen layers still add into their gradients (no autograd to skip them): counted by
    clip_grad_norm_, the norm grew step after step where torch's, with grad None, stays put."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))
    f = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 3))
    f.load_state_dict(t.state_dict())
    t[0].requires_grad_(False)
    f[0].requires_grad_(False)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    dy = np.ones((5, 3), np.float32)
    for _ in range(3):
        t.zero_grad()
        t(torch.from_numpy(x)).backward(torch.from_numpy(dy))
        f[1].zero_grad()
        f(x)
        f.backward(dy)
        want = float(torch.nn.utils.clip_grad_norm_(t.parameters(), 1e9))
        assert float(optim.clip_grad_norm_(f.parameters(), 1e9)) == pytest.approx(want, rel=1e-6)


def test_to_and_load_state_dict_take_torch_dtypes_devices_and_parameters():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(3, 2)
    assert layer.to(torch.float64) is layer and layer.weight.dtype == np.float64
    layer.to("cpu", torch.float32)
    assert layer.weight.dtype == np.float32
    layer.to(torch.device("cpu"))
    layer.to(device=torch.device("cpu"), dtype=torch.float64)
    assert layer.weight.dtype == np.float64
    layer.type(torch.float32)
    assert layer.weight.dtype == np.float32
    t = torch.nn.Linear(3, 2)
    for state in (t.state_dict(keep_vars=True), dict(t.named_parameters())):
        layer.load_state_dict(state)
        np.testing.assert_array_equal(layer.weight.data, t.weight.detach().numpy())
        layer.load_state_dict(state, assign=True)
        np.testing.assert_array_equal(layer.bias.data, t.bias.detach().numpy())
