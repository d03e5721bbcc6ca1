"""fastnn.optim's NAdam, Adamax, Rprop and ASGD against torch.optim (2.13, foreach=False: its
single-tensor implementations) as the oracle: signatures and defaults, validation, one step
against hand-computed numbers, 25 steps of parameters and state for several hyperparameter
settings in float32 and float64, hyperparameters changed between steps, parameters without a
gradient, the state_dict's layout and round trip, and the same numbers on the (emulated) GPU."""
import inspect
import math
import re

import numpy as np
import pytest

from fastnn import nn, optim

torch = pytest.importorskip("torch")

NAMES = ["NAdam", "Adamax", "Rprop", "ASGD"]
SHAPES = [(5, 7), (3,), (1,)]
STEPS = 25
# the updates round as torch's (fused multiply-adds included), so float32 agrees to an ulp or two
# per step; an error in the rule (a missed bias correction, a wrong sign) is orders larger
F32 = {"rtol": 1e-6, "atol": 1e-7}
F64 = {"rtol": 1e-12, "atol": 1e-14}

CONFIGS = [
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-3, "momentum_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.3, 0.8), "weight_decay": 0.2, "decoupled_weight_decay": True,
               "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.05, "betas": (0.3, 0.5), "eps": 1e-2, "maximize": True}),  # lerp's weight >= 0.5
    ("Rprop", {}),
    ("Rprop", {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.5)}),  # both clamps reached
    ("Rprop", {"lr": 0.05, "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 5, "weight_decay": 0.1}),  # averaging from step 6
    ("ASGD", {"lr": 0.02, "t0": 0, "maximize": True}),  # averaging from the first step
    ("ASGD", {"lr": 0.02, "t0": -3.5}),
]
CONFIG_IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]


def _data(dtype=np.float32, steps=STEPS, seed=0, sign_flips=True):
    """Initial values and `steps` gradients per parameter. The gradients of the first parameter
    keep their sign for stretches (Rprop's step sizes grow to their maximum), the others are
    random (signs flip: step sizes shrink, steps are skipped)."""
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = []
    for k in range(steps):
        gs = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        gs[0] = np.abs(gs[0]) * (1 if (k // 8) % 2 == 0 else -1)
        grads.append(gs)
    return p0, grads


def _pair(name, hp, dtype=np.float32, seed=0):
    p0, grads = _data(dtype, seed=seed)
    ps = [nn.Parameter(x.copy()) for x in p0]
    tps = [torch.nn.Parameter(torch.tensor(x.copy())) for x in p0]
    return ps, tps, getattr(optim, name)(ps, foreach=False, **hp), getattr(torch.optim, name)(tps, foreach=False, **hp), grads


def _set_grads(ps, tps, gs):
    for p, tp, g in zip(ps, tps, gs):
        p.grad[...] = g
        tp.grad = torch.tensor(g)


def _to_numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else value


def _assert_state_equal(opt, topt, ps, tps, tol):
    for p, tp in zip(ps, tps):
        theirs = topt.state[tp]
        assert set(opt.state[p]) == set(theirs), (set(opt.state[p]), set(theirs))
        for k, v in theirs.items():
            np.testing.assert_allclose(opt.state[p][k], _to_numpy(v), err_msg=k, **tol)


# ---- signatures and validation -----------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_constructor_arguments_follow_torch(name):
    """torch's positional arguments in torch's order (a prefix: the rest are foreach/capturable
    switches), torch's defaults, and maximize."""
    ours = list(inspect.signature(getattr(optim, name)).parameters.values())[1:]
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    positional = [p.name for p in ours if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == list(theirs)[1:len(positional) + 1]
    for p in ours:
        assert p.name in theirs, p.name
        assert p.default == theirs[p.name].default, (p.name, p.default, theirs[p.name].default)
    assert "maximize" in {p.name for p in ours}
    assert name in optim.__all__


def test_defaults_are_torchs():
    p = [nn.Parameter(np.zeros(2, np.float32))]
    tp = [torch.nn.Parameter(torch.zeros(2))]
    for name in NAMES:
        ours, theirs = getattr(optim, name)(p).param_groups[0], getattr(torch.optim, name)(tp).param_groups[0]
        assert {k: v for k, v in ours.items() if k != "params"}.items() <= theirs.items(), name


BAD = [  # (name, hyperparameters, message, torch refuses it too)
    *[(n, {"lr": -1.0}, "Received: lr=-1.0", True) for n in NAMES],
    *[(n, {"lr": math.nan}, "Received: lr=nan", True) for n in NAMES],
    *[(n, {"weight_decay": -0.1}, "Received: weight_decay=-0.1", True) for n in ("NAdam", "Adamax", "ASGD")],
    *[(n, {"eps": -1e-8}, "Received: eps=-1e-08", True) for n in ("NAdam", "Adamax")],
    *[(n, {"betas": (1.0, 0.999)}, "Received: beta1=1.0", True) for n in ("NAdam", "Adamax")],
    *[(n, {"betas": (-0.1, 0.999)}, "Received: beta1=-0.1", True) for n in ("NAdam", "Adamax")],
    *[(n, {"betas": (0.9, 1.0)}, "Received: beta2=1.0", True) for n in ("NAdam", "Adamax")],
    ("NAdam", {"momentum_decay": -0.1}, "Received: momentum_decay=-0.1", True),
    ("Rprop", {"etas": (1.0, 1.2)}, "Received: eta_minus=1.0", True),
    ("Rprop", {"etas": (0.0, 1.2)}, "Received: eta_minus=0.0", True),
    ("Rprop", {"etas": (-0.5, 1.2)}, "Received: eta_minus=-0.5", True),
    ("Rprop", {"etas": (0.5, 1.0)}, "Received: eta_plus=1.0", True),
    ("Rprop", {"etas": (0.5, 0.9)}, "Received: eta_plus=0.9", True),
    # stricter than torch, which takes these and then produces nonsense or NaN
    ("Adamax", {"betas": (0.9,)}, "betas must be a pair (beta1, beta2). Received: betas=(0.9,)", False),
    ("Rprop", {"etas": (0.5, 1.2, 2.0)}, "etas must be a pair (eta_minus, eta_plus)", False),
    ("Rprop", {"step_sizes": (-1e-6, 50)}, "Received: step_size_min=-1e-06", False),
    ("Rprop", {"step_sizes": (1.0, 0.5)}, "Received: step_size_max=0.5", False),
    ("ASGD", {"lambd": -1e-4}, "Received: lambd=-0.0001", False),
    ("ASGD", {"alpha": math.inf}, "Received: alpha=inf", False),
    ("ASGD", {"t0": math.nan}, "Received: t0=nan", False),
    ("ASGD", {"t0": -math.inf}, "Received: t0=-inf", False),
    ("NAdam", {"lr": True}, "Received: lr=True", False),
]


@pytest.mark.parametrize("name, hp, message, torch_too", BAD,
                         ids=[f"{n}-{sorted(hp)}-{i}" for i, (n, hp, _, _) in enumerate(BAD)])
def test_invalid_hyperparameters_raise_value_error(name, hp, message, torch_too):
    if torch_too:
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **hp)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(optim, name)([nn.Parameter(np.zeros(2, np.float32))], **hp)
    opt = getattr(optim, name)([nn.Parameter(np.zeros(2, np.float32))], lr=0.1)
    with pytest.raises(ValueError, match=re.escape(message)):  # in a group added later too
        opt.add_param_group({"params": [nn.Parameter(np.zeros(2, np.float32))], **hp})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("name", NAMES)
def test_maximize_must_be_a_bool(name):
    with pytest.raises(TypeError, match="maximize must be True or False. Received: maximize=1"):
        getattr(optim, name)([nn.Parameter(np.zeros(2, np.float32))], maximize=1)


def test_nadam_decoupled_weight_decay_must_be_a_bool():
    with pytest.raises(TypeError, match="Received: decoupled_weight_decay=1"):
        optim.NAdam([nn.Parameter(np.zeros(2, np.float32))], decoupled_weight_decay=1)


def test_a_bad_value_set_in_a_group_is_caught_at_the_step_before_anything_moves():
    p = nn.Parameter(np.ones(2, np.float32))
    opt = optim.Rprop([p])
    opt.param_groups[0]["etas"] = (0.5, 0.8)
    p.grad[...] = 1.0
    with pytest.raises(ValueError, match="Received: eta_plus=0.8"):
        opt.step()
    np.testing.assert_array_equal(p.data, 1.0)
    assert p not in opt.state


# ---- one step by hand --------------------------------------------------------------------
P0, G = np.array([1.0, -2.0, 0.5], np.float32), np.array([0.5, 1.0, -2.0], np.float32)


def _hand_nadam():
    lr, b1, b2, eps, psi = 0.1, 0.9, 0.999, 1e-8, 4e-3
    mu1, mu2 = (b1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in (1, 2))
    m, v = (1 - b1) * G.astype(np.float64), (1 - b2) * G.astype(np.float64) ** 2
    denom = np.sqrt(v / (1 - b2)) + eps
    return P0 - lr * (1 - mu1) / (1 - mu1) * G / denom - lr * mu2 / (1 - mu1 * mu2) * m / denom


HAND = [
    ("NAdam", {"lr": 0.1}, _hand_nadam()),
    # m = 0.1 g, u = |g| + eps, lr / (1 - 0.9) * m / u: a step of lr against the gradient's sign
    ("Adamax", {"lr": 0.1}, P0 - 0.1 * G / (np.abs(G) + 1e-8)),
    # prev = 0: factor 1, the step size stays lr
    ("Rprop", {"lr": 0.1}, P0 - 0.1 * np.sign(G)),
    # eta = lr on the first step
    ("ASGD", {"lr": 0.1, "lambd": 0.5}, P0 * (1 - 0.5 * 0.1) - 0.1 * G),
]


@pytest.mark.parametrize("name, hp, want", HAND, ids=[h[0] for h in HAND])
def test_one_step_against_hand_computed_numbers(name, hp, want):
    p = nn.Parameter(P0.copy())
    p.grad[...] = G
    getattr(optim, name)([p], **hp).step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, want, rtol=1e-6, atol=1e-7)


def test_rprop_step_sizes_grow_shrink_and_skip_as_described():
    p = nn.Parameter(np.zeros(2, np.float32))
    opt = optim.Rprop([p], lr=0.1, etas=(0.5, 2.0), step_sizes=(0.01, 0.3))
    steps = []
    for g in ([1.0, 1.0], [1.0, -1.0], [1.0, -1.0], [1.0, 1.0]):
        before = p.data.copy()
        p.grad[...] = g
        opt.step()
        steps.append(p.data - before)
    s = opt.state[p]
    # element 0 keeps its sign: 0.1, 0.2, 0.3 (clamped), 0.3. Element 1: 0.1; a flip (0.05,
    # skipped, prev = 0); after a skip no comparison (0.05); a flip again (0.025, skipped)
    np.testing.assert_allclose([x[0] for x in steps], [-0.1, -0.2, -0.3, -0.3], rtol=1e-6)
    np.testing.assert_allclose([x[1] for x in steps], [-0.1, 0.0, 0.05, 0.0], rtol=1e-6)
    np.testing.assert_allclose(s["step_size"], [0.3, 0.025], rtol=1e-6)
    np.testing.assert_array_equal(s["prev"], [1.0, 0.0])
    assert s["step"] == 4


# ---- many steps against torch ------------------------------------------------------------
@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_steps_match_torch(name, hp):
    ps, tps, opt, topt, grads = _pair(name, hp)
    p0 = [p.data.copy() for p in ps]
    for gs in grads:
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)
            assert p.data.dtype == np.float32
    _assert_state_equal(opt, topt, ps, tps, F32)
    assert all(np.abs(p.data - q).max() > 1e-3 for p, q in zip(ps, p0))  # they did move
    for p, g in zip(ps, grads[-1]):  # the gradient is left as it is (maximize, weight decay, Rprop's skip)
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_float64_steps_match_torch(name, hp):
    ps, tps, opt, topt, grads = _pair(name, hp, np.float64)
    for gs in grads:
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        assert p.data.dtype == np.float64
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F64)
    _assert_state_equal(opt, topt, ps, tps, F64)


@pytest.mark.parametrize("name", NAMES)
def test_maximize_is_the_minimization_of_the_negated_gradient(name):
    ps, _, opt, _, grads = _pair(name, {"maximize": True})
    qs = [nn.Parameter(p.data.copy()) for p in ps]
    other = getattr(optim, name)(qs)
    for gs in grads:
        for p, q, g in zip(ps, qs, gs):
            p.grad[...] = g
            q.grad[...] = -g
        opt.step()
        other.step()
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.data, q.data)


CHANGES = {  # hyperparameters changed after 5 steps (Rprop's step sizes keep their values: lr starts them)
    "NAdam": {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1, "decoupled_weight_decay": True},
    "Adamax": {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-3},
    "Rprop": {"lr": 0.5, "etas": (0.25, 1.1), "step_sizes": (1e-2, 0.2)},
    "ASGD": {"lr": 0.1, "lambd": 0.01, "alpha": 0.5, "t0": 8},
}


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_changed_between_steps_take_effect_as_in_torch(name):
    ps, tps, opt, topt, grads = _pair(name, {})
    for k, gs in enumerate(grads):
        if k == 5:
            opt.param_groups[0].update(CHANGES[name])
            topt.param_groups[0].update(CHANGES[name])
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)
    _assert_state_equal(opt, topt, ps, tps, F32)


@pytest.mark.parametrize("name", NAMES)
def test_per_group_hyperparameters_match_torch(name):
    p0, grads = _data()
    ps = [nn.Parameter(x.copy()) for x in p0]
    tps = [torch.nn.Parameter(torch.tensor(x.copy())) for x in p0]
    hp = {"NAdam": {"weight_decay": 0.1}, "Adamax": {"betas": (0.5, 0.9)}, "Rprop": {"lr": 0.2},
          "ASGD": {"t0": 3, "lambd": 0.1}}[name]
    opt = getattr(optim, name)([{"params": ps[:1], **hp}, {"params": ps[1:]}], lr=0.03)
    topt = getattr(torch.optim, name)([{"params": tps[:1], **hp}, {"params": tps[1:]}], lr=0.03, foreach=False)
    for gs in grads:
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_without_a_gradient_are_skipped(name):
    """One parameter with a gradient at every step, one with a gradient at every other step
    (torch: grad None in between), one never: untouched and without state."""
    p0, grads = _data(seed=3)
    ps = [nn.Parameter(x.copy()) for x in p0]
    tps = [torch.nn.Parameter(torch.tensor(x.copy())) for x in p0]
    hp = {"weight_decay": 0.1} if name in ("NAdam", "Adamax", "ASGD") else {}
    opt, topt = getattr(optim, name)(ps, **hp), getattr(torch.optim, name)(tps, foreach=False, **hp)
    for k, gs in enumerate(grads):
        opt.zero_grad()
        topt.zero_grad()
        for i in (0, 1) if k % 2 == 0 else (0,):
            ps[i].grad[...] = gs[i]
            tps[i].grad = torch.tensor(gs[i])
        assert not ps[2].has_grad and tps[2].grad is None
        opt.step()
        topt.step()
    for p, tp in zip(ps[:2], tps[:2]):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)
    _assert_state_equal(opt, topt, ps[:2], tps[:2], F32)
    assert opt.state[ps[1]]["step"] == (STEPS + 1) // 2
    np.testing.assert_array_equal(ps[2].data, p0[2])
    assert ps[2] not in opt.state and tps[2] not in topt.state


# ---- state_dict / load_state_dict --------------------------------------------------------
@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_layout_is_torchs(name, hp):
    ps, tps, opt, topt, grads = _pair(name, hp)
    for gs in grads[:4]:
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i, slots in theirs["state"].items():
        assert set(ours["state"][i]) == set(slots), (i, set(ours["state"][i]), set(slots))
        for k, v in slots.items():
            np.testing.assert_allclose(ours["state"][i][k], _to_numpy(v), err_msg=k, **F32)
    for g, tg in zip(ours["param_groups"], theirs["param_groups"]):
        assert g.items() <= tg.items()


OTHER = {"NAdam": {"lr": 0.125, "betas": (0.5, 0.5)}, "Adamax": {"lr": 0.125, "eps": 0.25},
         "Rprop": {"lr": 0.125, "etas": (0.25, 4.0)}, "ASGD": {"lr": 0.125, "t0": 2.0}}


@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_round_trip_resumes_the_run(name, hp):
    """6 steps, save, a new optimizer with other hyperparameters (and a fresh copy of the
    parameters) loads the save: the next steps are those of the uninterrupted run, bit for bit,
    and torch's."""
    ps, tps, opt, topt, grads = _pair(name, hp)
    for gs in grads[:6]:
        _set_grads(ps, tps, gs)
        opt.step()
        topt.step()
    saved = opt.state_dict()
    qs = [nn.Parameter(p.data.copy()) for p in ps]
    resumed = getattr(optim, name)(qs, **OTHER[name])
    resumed.load_state_dict(saved)
    for k, v in opt.param_groups[0].items():
        if k != "params":
            assert resumed.param_groups[0][k] == v, k
    for gs in grads[6:]:
        _set_grads(ps, tps, gs)
        for q, g in zip(qs, gs):
            q.grad[...] = g
        opt.step()
        resumed.step()
        topt.step()
    for p, q, tp in zip(ps, qs, tps):
        np.testing.assert_array_equal(q.data, p.data)
        np.testing.assert_allclose(q.data, tp.detach().numpy(), **F32)
    for p, q in zip(ps, qs):
        for k, v in opt.state[p].items():
            np.testing.assert_array_equal(resumed.state[q][k], v, err_msg=k)


def test_state_dict_arrays_are_copies():
    ps, tps, opt, topt, grads = _pair("ASGD", {"t0": 0})
    _set_grads(ps, tps, grads[0])
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["ax"][...] = 99.0
    assert not np.any(opt.state[ps[0]]["ax"] == 99.0)


# ---- the (emulated) GPU ------------------------------------------------------------------
@pytest.mark.parametrize("name, hp", CONFIGS, ids=CONFIG_IDS)
def test_device_parameters_take_the_cpus_steps(xp, name, hp):
    """Parameters held by CuPy (the emulating fake CuPy, or a real GPU): the state lives on the
    device, and the steps are the CPU's (the GPU rounds its own way: a float32 tolerance)."""
    p0, grads = _data(steps=8)
    cpu = [nn.Parameter(x.copy()) for x in p0]
    dev = [nn.Parameter(xp.asarray(x)) for x in p0]
    opt_cpu, opt_dev = getattr(optim, name)(cpu, **hp), getattr(optim, name)(dev, **hp)
    for gs in grads:
        for pc, pd, g in zip(cpu, dev, gs):
            pc.grad[...] = g
            pd.grad[...] = xp.asarray(g)
        opt_cpu.step()
        opt_dev.step()
    for pc, pd in zip(cpu, dev):
        assert isinstance(pd.data, xp.ndarray) and pd.data.dtype == np.float32
        np.testing.assert_allclose(pd.data.get(), pc.data, **F32)
        for k, v in opt_cpu.state[pc].items():
            w = opt_dev.state[pd][k]
            if isinstance(v, np.ndarray):
                assert isinstance(w, xp.ndarray), k
                w = w.get()
            np.testing.assert_allclose(w, v, err_msg=k, **F32)
