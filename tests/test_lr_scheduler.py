"""Learning-rate schedules against torch.optim.lr_scheduler (the oracle, optional): every
schedule's rates over 30 steps with one and two parameter groups, alone, chained with
another schedule on the same optimizer, and with the rate changed by hand between steps;
momentum cycling (OneCycleLR); resuming (last_epoch, state_dict); argument errors."""
import math

import numpy as np
import pytest

from fastnn import nn, optim

STEPS = 30
REL = 1e-12
ABS = 1e-16  # (PyTorch's LinearLR to end_factor 0 ends at +-1e-17, fastnn's at 0: see LinearLR)


def _param():
    return nn.Parameter(np.array([1.0, -2.0, 0.5], dtype=np.float32))


def _optimizers(torch, n_groups, kind="SGD", **hp):
    """The same optimizer in fastnn and torch: one group (lr 0.1) or two (0.1 and 0.03)."""
    lrs = [0.1, 0.03][:n_groups]
    ours = [{"params": [_param()], "lr": lr} for lr in lrs]
    theirs = [{"params": [torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))], "lr": lr} for lr in lrs]
    return getattr(optim, kind)(ours, **hp), getattr(torch.optim, kind)(theirs, **hp)


def _close(a, b):
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def _check(ours, theirs, f_scheds, t_scheds, where, keys=("lr",)):
    for i, (g, tg) in enumerate(zip(ours.param_groups, theirs.param_groups)):
        for k in keys:
            a, b = (g[k][0], tg[k][0]) if k == "betas" else (g[k], tg[k])
            assert _close(a, b), f"{where}: group {i} {k} = {a!r}, torch {b!r}"
    for s, ts in zip(f_scheds, t_scheds):
        got, want = s.get_last_lr(), ts.get_last_lr()
        assert len(got) == len(want) and all(_close(a, b) for a, b in zip(got, want)), (where, got, want)


def _compare(make, n_groups, steps=STEPS, manual_at=None, metrics=None, kind="SGD", hp=None, keys=("lr",)):
    """Build the schedules ``make(module, optimizer)`` (one or a list) on fastnn's and on torch's
    optimizer, step them ``steps`` times after each optimizer step and compare every rate. With
    ``manual_at`` the rates are set by hand (1.0 and 0.5) after that step's optimizer step."""
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizers(torch, n_groups, kind, **({"momentum": 0.9} if hp is None else hp))
    f_scheds, t_scheds = make(optim, ours), make(torch.optim.lr_scheduler, theirs)
    f_scheds = f_scheds if isinstance(f_scheds, list) else [f_scheds]
    t_scheds = t_scheds if isinstance(t_scheds, list) else [t_scheds]
    metrics = metrics or [1.0] * steps
    _check(ours, theirs, f_scheds, t_scheds, "after construction", keys)
    for step in range(steps):
        ours.step()
        theirs.step()
        if step == manual_at:
            for opt in (ours, theirs):
                for g, lr in zip(opt.param_groups, (1.0, 0.5)):
                    g["lr"] = lr
        for s, ts in zip(f_scheds, t_scheds):
            if isinstance(s, optim.ReduceLROnPlateau):
                s.step(metrics[step])
                ts.step(metrics[step])
            else:
                s.step()
                ts.step()
        _check(ours, theirs, f_scheds, t_scheds, f"step {step + 1}", keys)
    return ours, f_scheds


def _lambdas(n_groups):
    fns = [lambda e: 1.0 / (e + 1), lambda e: 0.9 ** (e // 2)]
    return fns[0] if n_groups == 1 else fns[:n_groups]


def _mult(n_groups):
    fns = [lambda e: 0.95, lambda e: 1.0 if e % 3 else 0.5]
    return fns[0] if n_groups == 1 else fns[:n_groups]


# (id, make(module, optimizer, n_groups)): the names and arguments are torch's in both.
ALONE = [
    ("StepLR", lambda m, o, n, **kw: m.StepLR(o, step_size=3, gamma=0.5, **kw)),
    ("StepLR every step", lambda m, o, n, **kw: m.StepLR(o, step_size=1, gamma=0.9, **kw)),
    ("MultiStepLR", lambda m, o, n, **kw: m.MultiStepLR(o, milestones=[2, 5, 11], gamma=0.3, **kw)),
    # unsorted, and a repeated milestone multiplies once per repeat (PyTorch's Counter)
    ("MultiStepLR-unsorted", lambda m, o, n, **kw: m.MultiStepLR(o, milestones=[11, 2, 5, 5], gamma=0.3, **kw)),
    ("ExponentialLR", lambda m, o, n, **kw: m.ExponentialLR(o, gamma=0.9, **kw)),
    ("ExponentialLR gamma>1", lambda m, o, n, **kw: m.ExponentialLR(o, gamma=1.05, **kw)),
    ("CosineAnnealingLR", lambda m, o, n, **kw: m.CosineAnnealingLR(o, T_max=10, eta_min=0.01, **kw)),  # 3 half-periods
    ("CosineAnnealingLR eta_min 0", lambda m, o, n, **kw: m.CosineAnnealingLR(o, T_max=7, **kw)),
    ("LinearLR", lambda m, o, n, **kw: m.LinearLR(o, start_factor=0.25, total_iters=4, **kw)),
    ("LinearLR defaults", lambda m, o, n, **kw: m.LinearLR(o, **kw)),
    ("LinearLR decay to 0", lambda m, o, n, **kw: m.LinearLR(o, start_factor=0.37, end_factor=0.0, total_iters=20,
                                                             **kw)),
    ("LinearLR decay to 0, torch < 0", lambda m, o, n, **kw: m.LinearLR(o, start_factor=1 / 3, end_factor=0.0,
                                                                          total_iters=4, **kw)),
    ("ConstantLR", lambda m, o, n, **kw: m.ConstantLR(o, factor=0.5, total_iters=4, **kw)),
    ("ConstantLR defaults", lambda m, o, n, **kw: m.ConstantLR(o, **kw)),
    ("PolynomialLR", lambda m, o, n, **kw: m.PolynomialLR(o, total_iters=10, power=2.0, **kw)),
    ("PolynomialLR sqrt", lambda m, o, n, **kw: m.PolynomialLR(o, total_iters=25, power=0.5, **kw)),
    ("LambdaLR", lambda m, o, n, **kw: m.LambdaLR(o, _lambdas(n), **kw)),
    ("MultiplicativeLR", lambda m, o, n, **kw: m.MultiplicativeLR(o, _mult(n), **kw)),
    ("CosineAnnealingWarmRestarts", lambda m, o, n, **kw: m.CosineAnnealingWarmRestarts(o, T_0=5, **kw)),
    ("CosineAnnealingWarmRestarts T_mult", lambda m, o, n, **kw: m.CosineAnnealingWarmRestarts(o, 3, T_mult=2,
                                                                                          eta_min=0.001, **kw)),
    ("OneCycleLR", lambda m, o, n, **kw: m.OneCycleLR(o, max_lr=1.0, total_steps=STEPS, **kw)),
    ("OneCycleLR linear", lambda m, o, n, **kw: m.OneCycleLR(o, max_lr=[1.0, 0.4][:n] if n > 1 else 0.4,
                                                       epochs=5, steps_per_epoch=6, anneal_strategy="linear",
                                                       pct_start=0.25, **kw)),
    ("OneCycleLR three_phase", lambda m, o, n, **kw: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, three_phase=True,
                                                            div_factor=10.0, final_div_factor=100.0, **kw)),
    ("OneCycleLR no momentum", lambda m, o, n, **kw: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS + 5,
                                                            cycle_momentum=False, **kw)),
]

CHAINED = [
    ("ExponentialLR+StepLR", lambda m, o, n: [m.ExponentialLR(o, gamma=0.9), m.StepLR(o, step_size=3, gamma=0.5)]),
    ("StepLR+MultiStepLR", lambda m, o, n: [m.StepLR(o, 4, 0.8), m.MultiStepLR(o, [3, 9, 20], 0.5)]),
    ("LinearLR+CosineAnnealingLR", lambda m, o, n: [m.LinearLR(o, start_factor=0.1, total_iters=5),
                                                    m.CosineAnnealingLR(o, T_max=12, eta_min=0.001)]),
    ("ConstantLR+ExponentialLR", lambda m, o, n: [m.ConstantLR(o, factor=0.5, total_iters=6),
                                                  m.ExponentialLR(o, gamma=0.95)]),
    ("MultiplicativeLR+PolynomialLR", lambda m, o, n: [m.MultiplicativeLR(o, _mult(n)),
                                                       m.PolynomialLR(o, total_iters=20, power=1.5)]),
    ("CosineAnnealingLR+StepLR", lambda m, o, n: [m.CosineAnnealingLR(o, T_max=8), m.StepLR(o, 5, 0.5)]),
    ("StepLR+ReduceLROnPlateau", lambda m, o, n: [m.StepLR(o, step_size=7, gamma=0.5),
                                                  m.ReduceLROnPlateau(o, factor=0.5, patience=2, min_lr=0.002)]),
    ("LambdaLR+ExponentialLR", lambda m, o, n: [m.ExponentialLR(o, gamma=0.9), m.LambdaLR(o, _lambdas(n))]),
]
PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8] + [0.85] * (STEPS - 6)


@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", ALONE, ids=[c[0] for c in ALONE])
def test_schedule_matches_torch(name, make, n_groups):
    _compare(lambda m, o: make(m, o, n_groups), n_groups)


@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", ALONE, ids=[c[0] for c in ALONE])
def test_schedule_after_a_manual_lr_change_matches_torch(name, make, n_groups):
    """A rate set by hand carries on in a chainable schedule (StepLR continues from 1.0), and is
    overridden by those computed from the initial rates (LambdaLR, WarmRestarts, OneCycleLR)."""
    _compare(lambda m, o: make(m, o, n_groups), n_groups, manual_at=7)


@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", CHAINED, ids=[c[0] for c in CHAINED])
def test_chained_schedules_match_torch(name, make, n_groups):
    _compare(lambda m, o: make(m, o, n_groups), n_groups, metrics=PLATEAU_METRICS)
    _compare(lambda m, o: make(m, o, n_groups), n_groups, metrics=PLATEAU_METRICS, manual_at=11)


def test_step_lr_continues_from_a_manual_rate():
    """The brief's case, by hand: StepLR(3, 0.5) from 0.1; lr set to 1.0 after epoch 4."""
    opt = optim.SGD([_param()], lr=0.1)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for epoch in range(1, 10):
        if epoch == 5:
            opt.param_groups[0]["lr"] = 1.0
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [0.1, 0.1, 0.05, 0.05, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_linear_lr_to_zero_ends_at_zero():
    """PyTorch's recursive form ends at -1.85e-18 here, which fastnn's optimizers would refuse."""
    opt = optim.SGD([_param()], lr=0.1)
    sched = optim.LinearLR(opt, start_factor=1 / 3, end_factor=0.0, total_iters=4)
    for _ in range(6):
        opt.step()
        sched.step()
    assert opt.lr == 0.0
    opt.step()


def test_exponential_and_step_compose():
    opt = optim.SGD([_param()], lr=1.0)
    a, b = optim.ExponentialLR(opt, gamma=0.9), optim.StepLR(opt, step_size=3, gamma=0.5)
    for epoch in range(1, 8):
        a.step()
        b.step()
        assert math.isclose(opt.lr, 0.9 ** epoch * 0.5 ** (epoch // 3), rel_tol=1e-14)


@pytest.mark.parametrize("kind, hp, key", [
    ("SGD", {"momentum": 0.9}, "momentum"),
    ("SGD", {"momentum": 0.0}, "momentum"),  # torch sets the momentum on too
    ("RMSprop", {"momentum": 0.5}, "momentum"),
    ("Adam", {"betas": (0.9, 0.99)}, "betas"),
    ("AdamW", {}, "betas"),
])
@pytest.mark.parametrize("n_groups", [1, 2])
def test_one_cycle_cycles_momentum_like_torch(kind, hp, key, n_groups):
    def make(m, o):
        return m.OneCycleLR(o, max_lr=[0.5, 0.2][:n_groups], total_steps=STEPS, base_momentum=[0.8, 0.7][:n_groups],
                            max_momentum=0.93, three_phase=kind == "Adam")
    ours, _ = _compare(make, n_groups, kind=kind, hp=hp, keys=("lr", key, "max_lr", "min_lr", "initial_lr"))
    if key == "betas":
        assert all(g["betas"][1] == (hp.get("betas") or (0.9, 0.999))[1] for g in ours.param_groups)


def test_one_cycle_past_total_steps_raises_like_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizers(torch, 1)
    s, ts = optim.OneCycleLR(ours, max_lr=1.0, total_steps=5), torch.optim.lr_scheduler.OneCycleLR(
        theirs, max_lr=1.0, total_steps=5)
    for _ in range(5):  # PyTorch allows total_steps steps after the constructor's
        ours.step()
        theirs.step()
        s.step()
        ts.step()
    lr = ours.lr
    with pytest.raises(ValueError, match="stepped 6 times, past its total_steps=5"):
        s.step()
    with pytest.raises(ValueError, match="Tried to step 6 times"):
        ts.step()
    assert ours.lr == lr and s.last_epoch == 5  # unchanged by the failed step


def test_one_cycle_phase_of_no_length():
    """pct_start * total_steps == 1: a warm-up phase of no length, where torch divides by zero;
    fastnn starts at max_lr and anneals over the rest."""
    opt = optim.SGD([_param()], lr=0.1, momentum=0.9)
    sched = optim.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.1)
    lrs = [opt.lr]
    for _ in range(9):
        sched.step()
        lrs.append(opt.lr)
    lo = 1.0 / 25 / 1e4
    want = [lo + (1.0 - lo) / 2 * (math.cos(math.pi * s / 9) + 1) for s in range(10)]
    np.testing.assert_allclose(lrs, want, rtol=1e-13)


def test_warm_restarts_fractional_epochs_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizers(torch, 2)
    s = optim.CosineAnnealingWarmRestarts(ours, T_0=3, T_mult=2, eta_min=0.01)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(theirs, T_0=3, T_mult=2, eta_min=0.01)
    for epoch in range(12):
        for i in range(4):
            s.step(epoch + i / 4)
            ts.step(epoch + i / 4)
            _check(ours, theirs, [s], [ts], (epoch, i))
            assert _close(s.lr_at(s.base_lrs[0], epoch + i / 4), ours.param_groups[0]["lr"])
    s.step()
    ts.step()
    _check(ours, theirs, [s], [ts], "after an epoch-less step")


CLOSED_FORM = [c for c in ALONE if not c[0].startswith(("Lambda", "Multiplicative", "OneCycle", "CosineAnnealingW"))]


@pytest.mark.parametrize("name, make", CLOSED_FORM, ids=[c[0] for c in CLOSED_FORM])
def test_closed_form_lr_at_matches_the_steps(name, make):
    """Stepped alone, a chainable schedule follows its closed form ``lr_at`` (torch's
    _get_closed_form_lr) up to rounding."""
    opt = optim.SGD([_param()], lr=0.1)
    sched = make(optim, opt, 1)
    for epoch in range(STEPS + 1):
        assert math.isclose(opt.lr, sched.lr_at(0.1, epoch), rel_tol=1e-9, abs_tol=1e-15), (epoch, opt.lr)
        sched.step()


RESUMABLE = [c for c in ALONE if not c[0].startswith(("OneCycle", "CosineAnnealingW"))]


@pytest.mark.parametrize("name, make", RESUMABLE, ids=[c[0] for c in RESUMABLE])
def test_resuming_with_last_epoch_matches_torch(name, make):
    """A new schedule with last_epoch=10 on an optimizer that ran 10 epochs (PyTorch's resume,
    with its quirks: the constructor's step is epoch 11)."""
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizers(torch, 2)
    for m, opt in ((optim, ours), (torch.optim.lr_scheduler, theirs)):
        s = make(m, opt, 2)
        for _ in range(10):
            opt.step()
            s.step()
    f, t = make(optim, ours, 2, last_epoch=10), make(torch.optim.lr_scheduler, theirs, 2, last_epoch=10)
    _check(ours, theirs, [f], [t], "resumed")
    for step in range(15):
        ours.step()
        theirs.step()
        f.step()
        t.step()
        _check(ours, theirs, [f], [t], f"resumed step {step}")


@pytest.mark.parametrize("name, make", ALONE + CHAINED, ids=[c[0] for c in ALONE + CHAINED])
def test_state_dict_resumes_the_run(name, make):
    """Save the optimizer and the schedules after 12 steps, load them into new ones: the next
    steps give the rates of the uninterrupted run."""
    def build():
        opt = optim.SGD([{"params": [_param()]}, {"params": [_param()], "lr": 0.03}], lr=0.1, momentum=0.9)
        scheds = make(optim, opt, 2)
        return opt, scheds if isinstance(scheds, list) else [scheds]

    def advance(opt, scheds, n, start):
        out = []
        for i in range(start, start + n):
            opt.step()
            for s in scheds:
                s.step(PLATEAU_METRICS[i]) if isinstance(s, optim.ReduceLROnPlateau) else s.step()
            out.append([g["lr"] for g in opt.param_groups] + [s.get_last_lr() for s in scheds])
        return out

    opt, scheds = build()
    advance(opt, scheds, 12, 0)
    saved_opt, saved = opt.state_dict(), [s.state_dict() for s in scheds]
    want = advance(opt, scheds, 15, 12)
    opt2, scheds2 = build()
    opt2.load_state_dict(saved_opt)
    for s, st in zip(scheds2, saved):
        s.load_state_dict(st)
    assert advance(opt2, scheds2, 15, 12) == want


def test_lambda_state_dict_keeps_callable_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = optim.SGD([_param()], lr=0.1)
    sched = optim.LambdaLR(opt, Decay(0.5))
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}]
    other = optim.LambdaLR(optim.SGD([_param()], lr=0.1), Decay(0.9))
    other.load_state_dict(state)
    assert other.lr_lambdas[0].rate == 0.5
    assert optim.LambdaLR(opt, lambda e: 1.0).state_dict()["lr_lambdas"] == [None]


def test_get_lr_outside_step_warns_like_torch():
    opt = optim.SGD([_param()], lr=0.1)
    sched = optim.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    assert sched.get_last_lr() == [0.1]


def test_earlier_api_still_works():
    # LinearWarmup's argument order and attribute; LinearLR is now a class of its own
    opt = optim.SGD([_param()], lr=0.1)
    w = optim.LinearWarmup(opt, 4, start_factor=0.25)
    assert isinstance(w, optim.LinearLR) and w.warmup_steps == w.total_iters == 4
    assert math.isclose(opt.lr, 0.025)
    old = {"warmup_steps": 4, "start_factor": 0.25, "end_factor": 1.0, "base_lrs": [0.1], "last_epoch": 2}
    w.load_state_dict(old)
    assert w.total_iters == 4 and w.last_epoch == 2

    # a subclass giving only the closed form lr_at(base_lr, epoch)
    class Halving(optim.LRScheduler):
        def lr_at(self, base_lr, epoch):
            return base_lr / 2 ** epoch

    opt = optim.SGD([_param()], lr=0.8)
    h = Halving(opt)
    h.step()
    h.step()
    assert opt.lr == 0.2 and h.get_last_lr() == [0.2]

    class Nothing(optim.LRScheduler):
        pass

    with pytest.raises(NotImplementedError, match="get_lr"):
        Nothing(optim.SGD([_param()], lr=0.1))

    # ReduceLROnPlateau's min_lr (now one value per group, min_lrs)
    r = optim.ReduceLROnPlateau(optim.SGD([_param()], lr=0.1), min_lr=0.01)
    assert r.min_lr == 0.01 and r.min_lrs == [0.01]
    r.min_lr = 0.02
    assert r.min_lrs == [0.02]


def test_plateau_per_group_min_lr_matches_torch():
    def make(m, o):
        return m.ReduceLROnPlateau(o, factor=0.5, patience=1, min_lr=[0.02, 0.01])
    _compare(make, 2, metrics=PLATEAU_METRICS)


def _opt():
    return optim.SGD([_param()], lr=0.1)


ERRORS = [
    (lambda: optim.StepLR(_opt(), step_size=0), ValueError, "Received: step_size=0"),
    (lambda: optim.StepLR(_opt(), step_size=1.5), ValueError, "Received: step_size=1.5"),
    (lambda: optim.StepLR(_opt(), 3, gamma=0), ValueError, "Received: gamma=0"),
    (lambda: optim.StepLR(_opt(), 3, gamma=-0.5), ValueError, "Received: gamma=-0.5"),
    (lambda: optim.ExponentialLR(_opt(), gamma=0.0), ValueError, "Received: gamma=0.0"),
    (lambda: optim.ExponentialLR(_opt(), gamma=float("nan")), ValueError, "Received: gamma=nan"),
    (lambda: optim.ExponentialLR(object(), gamma=0.9), TypeError, "Optimizer"),
    (lambda: optim.MultiStepLR(_opt(), [-1, 4]), ValueError, r"milestones\[0\]=-1"),
    (lambda: optim.MultiStepLR(_opt(), [1, 2.5]), ValueError, r"milestones\[1\]=2.5"),
    (lambda: optim.MultiStepLR(_opt(), 5), TypeError, "Received: milestones=5"),
    (lambda: optim.MultiStepLR(_opt(), [1], gamma=0), ValueError, "Received: gamma=0"),
    (lambda: optim.ConstantLR(_opt(), factor=0), ValueError, "Received: factor=0"),
    (lambda: optim.ConstantLR(_opt(), factor=1.5), ValueError, "Received: factor=1.5"),
    (lambda: optim.ConstantLR(_opt(), total_iters=0), ValueError, "Received: total_iters=0"),
    (lambda: optim.LinearLR(_opt(), start_factor=0), ValueError, "Received: start_factor=0"),
    (lambda: optim.LinearLR(_opt(), start_factor=1.5), ValueError, "Received: start_factor=1.5"),
    (lambda: optim.LinearLR(_opt(), end_factor=-0.1), ValueError, "Received: end_factor=-0.1"),
    (lambda: optim.LinearLR(_opt(), total_iters=0), ValueError, "Received: total_iters=0"),
    (lambda: optim.LinearWarmup(_opt(), warmup_steps=0), ValueError, "Received: warmup_steps=0"),
    (lambda: optim.PolynomialLR(_opt(), total_iters=0), ValueError, "Received: total_iters=0"),
    (lambda: optim.PolynomialLR(_opt(), power=-1), ValueError, "Received: power=-1"),
    (lambda: optim.CosineAnnealingLR(_opt(), T_max=0), ValueError, "Received: T_max=0"),
    (lambda: optim.CosineAnnealingLR(_opt(), 5, eta_min=-1), ValueError, "Received: eta_min=-1"),
    (lambda: optim.CosineAnnealingWarmRestarts(_opt(), T_0=0), ValueError, "Received: T_0=0"),
    (lambda: optim.CosineAnnealingWarmRestarts(_opt(), 2, T_mult=0), ValueError, "Received: T_mult=0"),
    (lambda: optim.CosineAnnealingWarmRestarts(_opt(), 2, T_mult=1.5), ValueError, "Received: T_mult=1.5"),
    (lambda: optim.CosineAnnealingWarmRestarts(_opt(), 2).step(-1), ValueError, "Received: epoch=-1"),
    (lambda: optim.LambdaLR(_opt(), [lambda e: 1.0] * 2), ValueError, "expected 1 lr_lambdas"),
    (lambda: optim.LambdaLR(_opt(), 0.5), TypeError, "lr_lambda must be a function"),
    (lambda: optim.MultiplicativeLR(_opt(), "x"), TypeError, "lr_lambda must be a function"),
    (lambda: optim.OneCycleLR(_opt(), 1.0), ValueError, "needs total_steps, or epochs and steps_per_epoch"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, epochs=3), ValueError, "Received: total_steps=None"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, total_steps=0), ValueError, "Received: total_steps=0"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, epochs=0, steps_per_epoch=4), ValueError, "Received: epochs=0"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, epochs=2, steps_per_epoch=0), ValueError, "Received: steps_per_epoch=0"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, 10, pct_start=1.5), ValueError, "Received: pct_start=1.5"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, 10, anneal_strategy="exp"), ValueError, "anneal_strategy='exp'"),
    (lambda: optim.OneCycleLR(_opt(), 0.0, 10), ValueError, "Received: max_lr=0.0"),
    (lambda: optim.OneCycleLR(_opt(), [1.0, 2.0], 10), ValueError, "one value per parameter group"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, 10, div_factor=0), ValueError, "Received: div_factor=0"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, 10, final_div_factor=-1), ValueError, "Received: final_div_factor=-1"),
    (lambda: optim.OneCycleLR(optim.Adagrad([_param()]), 1.0, 10), ValueError, "cycle_momentum=False"),
    (lambda: optim.OneCycleLR(optim.Adam([_param()]), 1.0, 10, max_momentum=1.0), ValueError,
     "Received: max_momentum=1.0"),
    (lambda: optim.OneCycleLR(_opt(), 1.0, 10, base_momentum=-0.1), ValueError, "Received: base_momentum=-0.1"),
    (lambda: optim.StepLR(_opt(), 2, last_epoch=4), KeyError, "initial_lr"),
    (lambda: optim.StepLR(_opt(), 2, last_epoch=-2), ValueError, "Received: last_epoch=-2"),
    (lambda: optim.ReduceLROnPlateau(_opt(), factor=1.5), ValueError, "Received: factor=1.5"),
    (lambda: optim.ReduceLROnPlateau(_opt(), min_lr=[0.1, 0.2]), ValueError, "one value per parameter group"),
    (lambda: optim.ReduceLROnPlateau(_opt(), min_lr=-1), ValueError, "Received: min_lr=-1"),
    (lambda: optim.ReduceLROnPlateau(_opt(), mode="up"), ValueError, "Received: mode='up'"),
]


@pytest.mark.parametrize("make, exc, match", ERRORS, ids=[e[2] for e in ERRORS])
def test_schedule_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_one_cycle_without_momentum_on_adagrad():
    opt = optim.Adagrad([_param()], lr=0.1)
    sched = optim.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)
    assert math.isclose(opt.lr, 1.0 / 25)
    for _ in range(10):
        opt.step()
        sched.step()
