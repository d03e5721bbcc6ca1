"""Learning-rate schedules against torch.optim.lr_scheduler (the oracle, optional): every
schedule's rates over 30 steps with one and two parameter groups, alone, chained with
another schedule on the same optimizer, and with the rate changed by hand between steps;
momentum cycling (OneCycleLR, CyclicLR); SequentialLR and ChainedScheduler; resuming
(last_epoch, state_dict); argument errors."""
import math
import pickle

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


def _check(ours, theirs, f_scheds, t_scheds, where, keys=("lr",), exact=False):
    same = (lambda a, b: a == b) if exact else _close
    for i, (g, tg) in enumerate(zip(ours.param_groups, theirs.param_groups)):
        for k in keys:
            a, b = (g[k][0], tg[k][0]) if k == "betas" else (g[k], tg[k])
            assert same(a, b), f"{where}: group {i} {k} = {a!r}, torch {b!r}"
    for s, ts in zip(f_scheds, t_scheds):
        got, want = s.get_last_lr(), ts.get_last_lr()
        assert len(got) == len(want) and all(same(a, b) for a, b in zip(got, want)), (where, got, want)


def _compare(make, n_groups, steps=STEPS, manual_at=None, metrics=None, kind="SGD", hp=None, keys=("lr",),
             exact=False):
    """Build the schedules ``make(module, optimizer)`` (one or a list) on fastnn's and on torch's
    optimizer, step them ``steps`` times after each optimizer step and compare every rate (to
    REL, or bit for bit with ``exact``). With ``manual_at`` the rates are set by hand (1.0 and
    0.5) after that step's optimizer step."""
    torch = pytest.importorskip("torch")
    ours, theirs = _optimizers(torch, n_groups, kind, **({"momentum": 0.9} if hp is None else hp))
    f_scheds, t_scheds = make(optim, ours), make(torch.optim.lr_scheduler, theirs)
    f_scheds = f_scheds if isinstance(f_scheds, list) else [f_scheds]
    t_scheds = t_scheds if isinstance(t_scheds, list) else [t_scheds]
    metrics = metrics or [1.0] * steps
    _check(ours, theirs, f_scheds, t_scheds, "after construction", keys, exact)
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
        _check(ours, theirs, f_scheds, t_scheds, f"step {step + 1}", keys, exact)
    return ours, f_scheds


def _lambdas(n_groups):
    fns = [lambda e: 1.0 / (e + 1), lambda e: 0.9 ** (e // 2)]
    return fns[0] if n_groups == 1 else fns[:n_groups]


def _mult(n_groups):
    fns = [lambda e: 0.95, lambda e: 1.0 if e % 3 else 0.5]
    return fns[0] if n_groups == 1 else fns[:n_groups]


def _cycle_scale(cycle):
    return 1.0 / cycle ** 0.5


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
    # torch takes a real period too: the recursive form's restart test then never fires
    ("CosineAnnealingLR float T_max", lambda m, o, n, **kw: m.CosineAnnealingLR(o, T_max=6.5, eta_min=0.01, **kw)),
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
] + [
    # CyclicLR: a cycle of 4 + 4 (or 3 + 5, 5 + 5, 6 + 0) steps, so 30 steps see several cycles
    ("CyclicLR triangular", lambda m, o, n, **kw: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, **kw)),
    ("CyclicLR triangular2 step_size_down", lambda m, o, n, **kw: m.CyclicLR(
        o, base_lr=[0.01, 0.005][:n], max_lr=[0.1, 0.2][:n], step_size_up=3, step_size_down=5, mode="triangular2",
        **kw)),
    ("CyclicLR exp_range", lambda m, o, n, **kw: m.CyclicLR(o, 0.02, [0.3, 0.1][:n], step_size_up=5,
                                                             mode="exp_range", gamma=0.97, **kw)),
    ("CyclicLR sawtooth", lambda m, o, n, **kw: m.CyclicLR(o, 0.01, 0.1, step_size_up=6, step_size_down=0, **kw)),
    ("CyclicLR scale_fn cycle", lambda m, o, n, **kw: m.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=3,
                                                                  scale_fn=_cycle_scale, **kw)),
    # scale_fn overrides mode, even an unknown one (as torch)
    ("CyclicLR scale_fn iterations", lambda m, o, n, **kw: m.CyclicLR(
        o, [0.01, 0.02][:n], 0.1, step_size_up=3, mode="foo", scale_fn=lambda x: 1 / (1 + 0.1 * x),
        scale_mode="iterations", **kw)),
    ("CyclicLR no momentum", lambda m, o, n, **kw: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, cycle_momentum=False,
                                                               **kw)),
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

# SequentialLR: (id, make(module, optimizer, n_groups)), the schedules built first, as torch's
SEQUENTIAL = [
    ("LinearLR>ExponentialLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.ExponentialLR(o, gamma=0.9)], milestones=[5])),
    ("LinearLR>StepLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.25, total_iters=4), m.StepLR(o, step_size=3, gamma=0.5)], milestones=[7])),
    ("LinearLR>CosineAnnealingLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20, eta_min=0.001)],
        milestones=[5])),
    ("ConstantLR>ExponentialLR", lambda m, o, n: m.SequentialLR(  # torch's docstring example
        o, [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.9)], milestones=[20])),
    ("LinearLR>ExponentialLR>CosineAnnealingLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=5), m.ExponentialLR(o, gamma=0.8),
            m.CosineAnnealingLR(o, T_max=7, eta_min=0.002)], milestones=[5, 12])),
    ("StepLR>LinearLR>PolynomialLR", lambda m, o, n: m.SequentialLR(
        o, [m.StepLR(o, 2, 0.5), m.LinearLR(o, start_factor=0.5, total_iters=6), m.PolynomialLR(o, 10, 2.0)],
        milestones=[4, 13])),
    # restarts through get_lr() (no closed form in torch): MultiplicativeLR, WarmRestarts, LambdaLR, CyclicLR
    ("ConstantLR>MultiplicativeLR>CosineAnnealingWarmRestarts", lambda m, o, n: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.MultiplicativeLR(o, _mult(n)),
            m.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2)], milestones=[4, 11])),
    ("ExponentialLR>LambdaLR", lambda m, o, n: m.SequentialLR(
        o, [m.ExponentialLR(o, 0.7), m.LambdaLR(o, _lambdas(n))], milestones=[6])),
    ("LinearLR>CyclicLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CyclicLR(o, 0.01, 0.2, step_size_up=3)],
        milestones=[6])),
    ("LinearLR>OneCycleLR", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)],
        milestones=[5])),
    ("milestone 0", lambda m, o, n: m.SequentialLR(o, [m.StepLR(o, 2, 0.5), m.ExponentialLR(o, 0.9)],
                                                   milestones=[0])),
    ("repeated milestone", lambda m, o, n: m.SequentialLR(
        o, [m.LinearLR(o, total_iters=3), m.StepLR(o, 2, 0.5), m.ExponentialLR(o, 0.9)], milestones=[5, 5])),
]

# ChainedScheduler: (id, make(module, optimizer, n_groups))
CHAINED_SCHEDULER = [
    ("ExponentialLR+StepLR", lambda m, o, n: m.ChainedScheduler([m.ExponentialLR(o, gamma=0.9),
                                                                 m.StepLR(o, step_size=3, gamma=0.5)])),
    ("ConstantLR+ExponentialLR", lambda m, o, n: m.ChainedScheduler(  # torch's docstring example
        [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.9)], optimizer=o)),
    ("LinearLR+CosineAnnealingLR+MultiStepLR", lambda m, o, n: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
         m.MultiStepLR(o, [3, 9, 20], 0.5)])),
    ("ChainedScheduler inside", lambda m, o, n: m.ChainedScheduler(
        [m.ChainedScheduler([m.ExponentialLR(o, 0.95), m.StepLR(o, 4, 0.5)]), m.MultiplicativeLR(o, _mult(n))])),
    ("SequentialLR inside", lambda m, o, n: m.ChainedScheduler(
        [m.SequentialLR(o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.ExponentialLR(o, 0.9)], [4]),
         m.StepLR(o, 5, 0.5)])),
]


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



CYCLIC = [c for c in ALONE if c[0].startswith("CyclicLR")]


@pytest.mark.parametrize("manual_at", [None, 7])
@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", CYCLIC, ids=[c[0] for c in CYCLIC])
def test_cyclic_lr_and_momentum_bit_for_bit_like_torch(name, make, n_groups, manual_at):
    """Every rate and SGD momentum the same bits as torch's (the constructor sets lr to base_lr and
    the momentum to max_momentum); a rate set by hand is overridden, as torch."""
    _compare(lambda m, o: make(m, o, n_groups), n_groups, manual_at=manual_at, keys=("lr", "momentum"), exact=True)


@pytest.mark.parametrize("kind, hp, key", [
    ("SGD", {"momentum": 0.9}, "momentum"),
    ("SGD", {"momentum": 0.0, "nesterov": False}, "momentum"),  # torch sets the momentum on too
    ("RMSprop", {"momentum": 0.5}, "momentum"),
    ("Adam", {"betas": (0.9, 0.99)}, "betas"),
    ("AdamW", {}, "betas"),
])
@pytest.mark.parametrize("n_groups", [1, 2])
def test_cyclic_cycles_momentum_like_torch(kind, hp, key, n_groups):
    def make(m, o):
        return m.CyclicLR(o, base_lr=[0.01, 0.002][:n_groups], max_lr=0.1, step_size_up=3, step_size_down=4,
                          mode="triangular2", base_momentum=[0.8, 0.7][:n_groups], max_momentum=0.95)
    ours, _ = _compare(make, n_groups, kind=kind, hp=hp, keys=("lr", key, "max_momentum", "base_momentum"),
                       exact=True)
    if key == "betas":  # beta2 is left alone
        assert all(g["betas"][1] == (hp.get("betas") or (0.9, 0.999))[1] for g in ours.param_groups)


def test_cyclic_lr_by_hand():
    """triangular from 0.1 to 1.0 in 4 steps up and 2 down; momentum the other way, 0.9 to 0.8;
    triangular2 halves the second cycle's amplitude."""
    opt = optim.SGD([_param()], lr=0.5, momentum=0.0)
    sched = optim.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=4, step_size_down=2)
    lrs, moms = [opt.lr], [opt.param_groups[0]["momentum"]]
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(opt.lr)
        moms.append(opt.param_groups[0]["momentum"])
    np.testing.assert_allclose(lrs, [0.1, 0.325, 0.55, 0.775, 1.0, 0.55, 0.1, 0.325, 0.55], rtol=1e-14)
    np.testing.assert_allclose(moms, [0.9, 0.875, 0.85, 0.825, 0.8, 0.85, 0.9, 0.875, 0.85], rtol=1e-14)
    assert sched.get_last_lr() == [opt.lr] and sched.base_lrs == [0.1] and sched.max_lrs == [1.0]
    opt = optim.Adagrad([_param()], lr=0.5)
    sched = optim.CyclicLR(opt, 0.0, 1.0, step_size_up=1, mode="triangular2", cycle_momentum=False)
    lrs = [opt.lr]
    for _ in range(6):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [0.0, 1.0, 0.0, 0.5, 0.0, 0.25, 0.0]


def test_cyclic_after_another_schedule_uses_initial_lr_first_like_torch():
    """torch's quirk: the constructor's step takes the groups' initial_lr (stored by an earlier
    schedule) as the lower bound; from the first step() on, base_lr."""
    _compare(lambda m, o: [m.StepLR(o, 5, 0.5), m.CyclicLR(o, 0.01, 0.1, step_size_up=3)], 2, exact=True,
             keys=("lr", "momentum", "initial_lr"))


def test_cyclic_state_dict_keeps_scale_fn_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, cycle):
            return self.rate ** (cycle - 1)

    opt = optim.SGD([_param()], lr=0.1, momentum=0.9)
    sched = optim.CyclicLR(opt, 0.01, 0.1, step_size_up=2, scale_fn=Decay(0.5))
    state = sched.state_dict()
    assert state["_scale_fn_custom"] == {"rate": 0.5}
    pickle.dumps(state)
    other = optim.CyclicLR(optim.SGD([_param()], lr=0.1, momentum=0.9), 0.01, 0.1, step_size_up=2,
                           scale_fn=Decay(0.9))
    other.load_state_dict(state)
    assert other._scale_fn_custom.rate == 0.5
    lam = optim.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda c: 1.0).state_dict()
    assert lam["_scale_fn_custom"] is None
    pickle.dumps(lam)
    # a built-in mode stores no bound method (torch drops its _scale_fn_ref for pickling)
    pickle.dumps(optim.CyclicLR(opt, 0.01, 0.1, mode="exp_range", gamma=0.99).state_dict())


def test_cyclic_without_momentum_needs_cycle_momentum_false_like_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="cycle_momentum"):
        torch.optim.lr_scheduler.CyclicLR(torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(2))]), 0.01, 0.1)
    with pytest.raises(ValueError, match="cycle_momentum=False"):
        optim.CyclicLR(optim.Adagrad([_param()]), 0.01, 0.1)
    with pytest.raises(ValueError, match="Adadelta has neither"):
        optim.CyclicLR(optim.Adadelta([_param()]), 0.01, 0.1)
    opt = optim.Adagrad([_param()], lr=0.5)
    optim.CyclicLR(opt, 0.01, 0.1, cycle_momentum=False)
    assert opt.lr == 0.01 and "max_momentum" not in opt.param_groups[0]


@pytest.mark.parametrize("manual_at", [None, 8])
@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", SEQUENTIAL, ids=[c[0] for c in SEQUENTIAL])
def test_sequential_lr_bit_for_bit_like_torch(name, make, n_groups, manual_at):
    _compare(lambda m, o: make(m, o, n_groups), n_groups, manual_at=manual_at, keys=("lr", "momentum"), exact=True)


def test_sequential_lr_by_hand():
    """torch's docstring example (from 0.05): ConstantLR(0.1, 20 epochs), then ExponentialLR(0.9)
    restarted at its epoch 0, that is at 0.05."""
    opt = optim.SGD([_param()], lr=0.05)
    sched = optim.SequentialLR(opt, [optim.ConstantLR(opt, factor=0.1, total_iters=20),
                                     optim.ExponentialLR(opt, gamma=0.9)], milestones=[20])
    lrs = [opt.lr]
    for _ in range(22):
        opt.step()
        sched.step()
        lrs.append(opt.lr)
    np.testing.assert_allclose(lrs[:20], [0.005] * 20, rtol=1e-15)
    np.testing.assert_allclose(lrs[20:], [0.05, 0.045, 0.0405], rtol=1e-15)
    assert sched.get_last_lr() == [lrs[-1]] and sched.last_epoch == 22


@pytest.mark.parametrize("manual_at", [None, 8])
@pytest.mark.parametrize("n_groups", [1, 2])
@pytest.mark.parametrize("name, make", CHAINED_SCHEDULER, ids=[c[0] for c in CHAINED_SCHEDULER])
def test_chained_scheduler_bit_for_bit_like_torch(name, make, n_groups, manual_at):
    _compare(lambda m, o: make(m, o, n_groups), n_groups, manual_at=manual_at, exact=True)


def test_chained_scheduler_is_its_schedules_stepped_in_turn():
    a = optim.SGD([_param()], lr=1.0)
    chained = optim.ChainedScheduler([optim.ExponentialLR(a, 0.9), optim.StepLR(a, 3, 0.5)])
    b = optim.SGD([_param()], lr=1.0)
    separate = [optim.ExponentialLR(b, 0.9), optim.StepLR(b, 3, 0.5)]
    for _ in range(10):
        chained.step()
        for s in separate:
            s.step()
        assert a.lr == b.lr and chained.get_last_lr() == separate[-1].get_last_lr() == [b.lr]
    assert math.isclose(a.lr, 0.9 ** 10 * 0.5 ** 3, rel_tol=1e-14)


def test_errors_in_sequential_and_chained_like_torch():
    """torch raises ValueError for a schedule on another optimizer and for a wrong number of
    milestones (and fastnn too: test_schedule_errors has the messages)."""
    torch = pytest.importorskip("torch")
    for m, (opt, other) in ((optim, (_opt(), _opt())),
                            (torch.optim.lr_scheduler, _optimizers(torch, 1)[1:] + _optimizers(torch, 1)[1:])):
        a, b = m.ExponentialLR(opt, 0.9), m.StepLR(other, 2)
        with pytest.raises(ValueError):
            m.SequentialLR(opt, [a, b], milestones=[3])
        with pytest.raises(ValueError):
            m.SequentialLR(opt, [a, m.StepLR(opt, 2)], milestones=[3, 5])
        with pytest.raises(ValueError):
            m.SequentialLR(opt, [a], milestones=[3])
        with pytest.raises(ValueError):
            m.ChainedScheduler([a, b])
        with pytest.raises(ValueError):
            m.ChainedScheduler([a, m.ReduceLROnPlateau(opt)])


def test_sequential_and_cyclic_through_fit():
    """fit's LearningRateScheduler steps them once per epoch, as any schedule (OneCycleLR too):
    the logged rates are the epochs' rates."""
    import fastnn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)

    def run(make):
        model = nn.Linear(3, 1)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = make(opt)
        hist = fastnn.fit(model, opt, "mse", train=(x, y), epochs=6, batch_size=8, progress=False,
                          callbacks=[fastnn.LearningRateScheduler(sched)])
        want_opt = optim.SGD([_param()], lr=0.1, momentum=0.9)
        want_sched, want = make(want_opt), []
        for _ in range(6):
            want.append(want_opt.lr)
            want_sched.step()
        assert hist["lr"] == want and len(set(want)) > 2

    run(lambda o: optim.SequentialLR(o, [optim.LinearLR(o, start_factor=0.25, total_iters=3),
                                         optim.ExponentialLR(o, 0.5)], milestones=[3]))
    run(lambda o: optim.CyclicLR(o, 0.01, 0.1, step_size_up=2))


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


CLOSED_FORM = [c for c in ALONE
               if not c[0].startswith(("Lambda", "Multiplicative", "OneCycle", "CosineAnnealingW", "Cyclic"))]


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


@pytest.mark.parametrize("name, make", ALONE + CHAINED + SEQUENTIAL + CHAINED_SCHEDULER,
                         ids=[c[0] for c in ALONE + CHAINED + SEQUENTIAL + CHAINED_SCHEDULER])
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


def _with_opt(make):
    return make(_opt())


def _sequential(milestones, n=2, last_epoch=-1, other=False):
    opt = _opt()
    scheds = [optim.LinearLR(opt), optim.StepLR(_opt() if other else opt, 2), optim.ExponentialLR(opt, 0.9)][:n]
    return optim.SequentialLR(opt, scheds, milestones, last_epoch=last_epoch)


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
    (lambda: optim.CosineAnnealingLR(_opt(), T_max=-2.5), ValueError, "Received: T_max=-2.5"),
    (lambda: optim.CosineAnnealingLR(_opt(), T_max=float("inf")), ValueError, "Received: T_max=inf"),
    (lambda: optim.CosineAnnealingLR(_opt(), T_max=True), ValueError, "Received: T_max=True"),
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
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, mode="foo"), ValueError, "Received: mode='foo'"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, scale_fn=lambda x: 1.0, scale_mode="epochs"), ValueError,
     "Received: scale_mode='epochs'"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, scale_fn=3), TypeError, "Received: scale_fn=3"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, step_size_up=0), ValueError, "Received: step_size_up=0"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, step_size_up=2.5), ValueError, "Received: step_size_up=2.5"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, step_size_down=-1), ValueError, "Received: step_size_down=-1"),
    (lambda: optim.CyclicLR(_opt(), -0.1, 0.1), ValueError, "Received: base_lr=-0.1"),
    (lambda: optim.CyclicLR(_opt(), 0.01, float("inf")), ValueError, "Received: max_lr=inf"),
    (lambda: optim.CyclicLR(_opt(), 0.01, [0.1, 0.2]), ValueError, "one value per parameter group"),
    (lambda: optim.CyclicLR(_opt(), [0.01, 0.02], 0.1), ValueError, "Received: base_lr="),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, mode="exp_range", gamma=0), ValueError, "Received: gamma=0"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, cycle_momentum=1), TypeError, "Received: cycle_momentum=1"),
    (lambda: optim.CyclicLR(optim.Adagrad([_param()]), 0.01, 0.1), ValueError, "Adagrad has neither"),
    (lambda: optim.CyclicLR(optim.Adam([_param()]), 0.01, 0.1, max_momentum=1.0), ValueError,
     "Received: max_momentum=1.0"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, base_momentum=-0.1), ValueError, "Received: base_momentum=-0.1"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, last_epoch=-2), ValueError, "Received: last_epoch=-2"),
    (lambda: optim.CyclicLR(_opt(), 0.01, 0.1, last_epoch=3), KeyError, "initial_lr"),
    (lambda: optim.CyclicLR(object(), 0.01, 0.1), TypeError, "Optimizer"),
    (lambda: _sequential([2, 5]), ValueError, r"len\(milestones\) == len\(schedulers\) - 1 == 1\)\. "
                                              r"Received: milestones=\[2, 5\]"),
    (lambda: _sequential([]), ValueError, r"Received: milestones=\[\]"),
    (lambda: _sequential([-1]), ValueError, r"Received: milestones\[0\]=-1"),
    (lambda: _sequential([2.5]), ValueError, r"Received: milestones\[0\]=2.5"),
    (lambda: _sequential(3), TypeError, "Received: milestones=3"),
    (lambda: _sequential([5, 3], n=3), ValueError, r"increasing order. Received: milestones=\[5, 3\]"),
    (lambda: _sequential([3], last_epoch=-2), ValueError, "Received: last_epoch=-2"),
    (lambda: _sequential([3], other=True), ValueError, r"schedulers\[1\] \(StepLR\) is on another optimizer"),
    (lambda: optim.SequentialLR(_opt(), [], []), ValueError, "at least one schedule"),
    (lambda: optim.SequentialLR(_opt(), 5, []), TypeError, "Received: schedulers=5"),
    (lambda: optim.SequentialLR(object(), [], []), TypeError, "Optimizer"),
    (lambda: _with_opt(lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), object()], [3])), TypeError,
     r"schedulers\[1\] is a object"),
    (lambda: _with_opt(lambda o: optim.SequentialLR(o, [optim.StepLR(o, 2), optim.ReduceLROnPlateau(o)], [3])),
     ValueError, r"cannot hold a ReduceLROnPlateau \(schedulers\[1\]\)"),
    (lambda: _with_opt(lambda o: optim.SequentialLR(
        o, [optim.StepLR(o, 2), optim.ChainedScheduler([optim.StepLR(o, 3)])], [3])), ValueError,
     r"cannot hold a ChainedScheduler \(schedulers\[1\]\)"),
    (lambda: optim.ChainedScheduler([]), ValueError, "at least one schedule"),
    (lambda: optim.ChainedScheduler([optim.StepLR(_opt(), 2), optim.StepLR(_opt(), 2)]), ValueError,
     r"schedulers\[1\] \(StepLR\) is on another optimizer"),
    (lambda: optim.ChainedScheduler([optim.StepLR(_opt(), 2)], optimizer=_opt()), ValueError,
     r"schedulers\[0\] \(StepLR\) is on another optimizer"),
    (lambda: optim.ChainedScheduler([optim.StepLR(_opt(), 2)], optimizer=object()), TypeError, "Optimizer"),
    (lambda: _with_opt(lambda o: optim.ChainedScheduler([optim.StepLR(o, 2), optim.ReduceLROnPlateau(o)])),
     ValueError, "cannot hold a ReduceLROnPlateau"),
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


def test_per_batch_stepping_through_fit_as_a_torch_loop():
    """LearningRateScheduler(s, interval="batch") steps after every optimizer step: the rates the
    batches train with are those of a PyTorch loop calling scheduler.step() per batch."""
    import fastnn

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    epochs, batches = 3, 3  # 20 samples in batches of 8: 8 + 8 + 4

    class Rates(fastnn.Callback):
        def __init__(self):
            super().__init__()
            self.lrs, self.sizes, self.batch_ids = [], [], []

        def set_optimizer(self, optimizer):
            self.opt = optimizer

        def on_train_batch_begin(self, batch, logs=None):
            self.lrs.append(self.opt.lr)
            self.batch_ids.append(batch)

        def on_train_batch_end(self, batch, logs):
            assert np.isfinite(logs["loss"])
            self.sizes.append(logs["size"])

    for make, make_torch in [
        (lambda o: optim.OneCycleLR(o, max_lr=0.1, total_steps=epochs * batches),
         lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=epochs * batches)),
        (lambda o: optim.CyclicLR(o, 0.01, 0.1, step_size_up=2),
         lambda o: torch.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2)),
    ]:
        model = nn.Linear(3, 1)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        rates = Rates()
        # the schedule callback first: a batch's rate is set before the recorder reads it
        fastnn.fit(model, opt, "mse", train=(x, y), epochs=epochs, batch_size=8, progress=False, shuffle=False,
                   callbacks=[fastnn.LearningRateScheduler(make(opt), interval="batch"), rates])
        topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        tsched, want = make_torch(topt), []
        for _ in range(epochs * batches):
            want.append(topt.param_groups[0]["lr"])
            topt.step()
            tsched.step()
        assert rates.lrs == want and len(set(want)) >= 3
        assert rates.sizes == [8, 8, 4] * epochs and rates.batch_ids == [0, 1, 2] * epochs


def test_per_batch_function_schedule_and_bad_interval():
    import fastnn

    x = np.ones((6, 2), np.float32)
    y = np.zeros((6, 1), np.float32)
    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.5)
    seen = []

    def schedule(step, lr):
        seen.append(step)
        return 0.1 / (1 + step)

    hist = fastnn.fit(model, opt, "mse", train=(x, y), epochs=2, batch_size=4, progress=False,
                      callbacks=[fastnn.LearningRateScheduler(schedule, interval="batch")])
    assert seen == [0, 1, 2, 3]  # the run's batches, counted across epochs
    assert hist["lr"] == [0.1 / 2, 0.1 / 4]  # an epoch logs the rate of its last batch
    with pytest.raises(ValueError, match="interval"):
        fastnn.LearningRateScheduler(schedule, interval="step")
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        fastnn.LearningRateScheduler(optim.ReduceLROnPlateau(opt), interval="batch")


def test_reduce_on_plateau_in_cooldown_as_torch():
    torch = pytest.importorskip("torch")
    ours = optim.ReduceLROnPlateau(optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0), patience=0, cooldown=2)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), patience=0, cooldown=2)
    flags = ([], [])
    for metric in (1.0, 2.0, 2.0, 2.0, 2.0, 0.5):
        for s, f in ((ours, flags[0]), (theirs, flags[1])):
            s.step(metric)
            f.append(s.in_cooldown)
    assert flags[0] == flags[1] and any(flags[0]) and not all(flags[0])
