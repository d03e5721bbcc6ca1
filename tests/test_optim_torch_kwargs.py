"""torch.optim's implementation switches (foreach, fused, capturable, differentiable) in fastnn's
optimizers, and clip_grad_norm_ / clip_grad_value_'s error_if_nonfinite and foreach, against
torch (2.13) as the oracle: the signatures, the values both take, the groups and defaults they
make, the combinations both refuse (and those fastnn refuses: differentiable=True,
capturable=True), updates that do not depend on the switches, and state_dicts carrying them
between the two libraries."""
import inspect
import math
import re

import numpy as np
import pytest

from fastnn import nn, optim

torch = pytest.importorskip("torch")

NAMES = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Rprop", "ASGD"]
FLAGS = ("foreach", "fused", "capturable", "differentiable")
SHAPES = [(4, 3), (5,)]
F32 = {"rtol": 1e-5, "atol": 1e-6}


def _torch_flags(name):
    """The switches torch.optim.<name> has, in its signature's order."""
    return [k for k in inspect.signature(getattr(torch.optim, name)).parameters if k in FLAGS]


def _accepted(name):
    """(name, keyword arguments) torch takes on CPU: each switch alone with each value torch
    steps with, and fused with foreach where both exist (one of them True)."""
    flags = _torch_flags(name)
    calls = []
    for k in flags:
        for v in ((None, True, False) if k in ("foreach", "fused") else (False,)):
            calls.append({k: v})
    if "fused" in flags:
        calls += [{"foreach": False, "fused": True}, {"foreach": True, "fused": False},
                  {"foreach": None, "fused": None, "differentiable": False}]
    return calls


ACCEPTED = [(n, kw) for n in NAMES for kw in _accepted(n)]
ACCEPTED_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in ACCEPTED]


def _data(seed=0, steps=6):
    rng = np.random.default_rng(seed)
    p0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(steps)]
    return p0, grads


def _ours(p0):
    return [nn.Parameter(x.copy()) for x in p0]


def _theirs(p0):
    return [torch.nn.Parameter(torch.tensor(x.copy())) for x in p0]


def _run(opt, ps, grads):
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad[...] = g
        opt.step()


def _run_torch(opt, tps, grads):
    for gs in grads:
        for tp, g in zip(tps, gs):
            tp.grad = torch.tensor(g)
        opt.step()


def _without_params(group):
    return {k: v for k, v in group.items() if k != "params"}


# ---- signatures --------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_signature_is_torchs(name):
    """Every argument torch's constructor has, in its order, of its kind (keyword-only where
    torch's is) and with its default."""
    def described(cls):
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert described(getattr(optim, name)) == described(getattr(torch.optim, name))


@pytest.mark.parametrize("name", NAMES)
def test_switches_torch_lacks_are_refused_as_torch(name):
    """Only the switches torch's class has: another one is a TypeError in both libraries."""
    missing = [k for k in FLAGS if k not in _torch_flags(name)]
    for k in missing:
        with pytest.raises(TypeError):
            getattr(torch.optim, name)(_theirs(_data()[0]), **{k: False})
        with pytest.raises(TypeError, match=k):
            getattr(optim, name)(_ours(_data()[0]), **{k: False})
        # as a group's key it is kept and unused, as torch keeps any key of a group
        opt = getattr(optim, name)(_ours(_data()[0])[:1])
        opt.add_param_group({"params": _ours(_data()[0])[1:], k: False})
        topt = getattr(torch.optim, name)(_theirs(_data()[0])[:1])
        topt.add_param_group({"params": _theirs(_data()[0])[1:], k: False})
        assert opt.param_groups[1][k] is topt.param_groups[1][k] is False


# ---- accepted values: groups, defaults, updates ------------------------------------------
@pytest.mark.parametrize("name, kw", ACCEPTED, ids=ACCEPTED_IDS)
def test_param_groups_and_defaults_are_torchs(name, kw):
    """The same call makes torch's group (keys in torch's order, values) and defaults; torch
    takes the call on CPU (it steps)."""
    p0, grads = _data()
    opt, topt = getattr(optim, name)(_ours(p0), **kw), getattr(torch.optim, name)(tps := _theirs(p0), **kw)
    _run_torch(topt, tps, grads[:1])
    assert list(opt.param_groups[0]) == list(topt.param_groups[0])
    assert _without_params(opt.param_groups[0]) == _without_params(topt.param_groups[0])
    assert list(opt.defaults) == list(topt.defaults) and opt.defaults == topt.defaults
    for k, v in kw.items():
        assert opt.param_groups[0][k] is v  # stored as given (None stays None)


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_of_dicts_and_names_are_torchs(name):
    """Per-group dicts (the group's keys first, then the defaults it leaves out, as torch's
    setdefault), named parameters, and add_param_group: torch's keys in torch's order."""
    p0, _ = _data()
    flags = {k: False for k in _torch_flags(name)}
    ps, tps = _ours(p0), _theirs(p0)
    opt = getattr(optim, name)([{"lr": 0.5, "params": [("a", ps[0])], "foreach": False}], **flags)
    topt = getattr(torch.optim, name)([{"lr": 0.5, "params": [("a", tps[0])], "foreach": False}], **flags)
    opt.add_param_group({"params": [("b", ps[1])], "weight_decay": 0.0} if "weight_decay" in opt.defaults
                        else {"params": [("b", ps[1])]})
    topt.add_param_group({"params": [("b", tps[1])], "weight_decay": 0.0} if "weight_decay" in topt.defaults
                         else {"params": [("b", tps[1])]})
    for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
        assert list(g) == list(tg)
        assert _without_params(g) == _without_params(tg)
    for g, tg in zip(opt.state_dict()["param_groups"], topt.state_dict()["param_groups"], strict=True):
        assert list(g) == list(tg) and g == tg


@pytest.mark.parametrize("name, kw", ACCEPTED, ids=ACCEPTED_IDS)
def test_switches_leave_the_updates_unchanged(name, kw):
    """fastnn has one implementation: six steps with the switches give exactly the arrays (and
    state) of six steps without them; and torch's with the same switches, to rounding."""
    p0, grads = _data()
    plain, switched = _ours(p0), _ours(p0)
    opt_plain, opt_switched = getattr(optim, name)(plain), getattr(optim, name)(switched, **kw)
    _run(opt_plain, plain, grads)
    _run(opt_switched, switched, grads)
    for a, b in zip(plain, switched):
        assert not np.array_equal(a.data, p0[plain.index(a)])  # (the steps did move them)
        np.testing.assert_array_equal(b.data, a.data)
    for a, b in zip(plain, switched):
        for k, v in opt_plain.state[a].items():
            np.testing.assert_array_equal(opt_switched.state[b][k], v, err_msg=k)
    tps = _theirs(p0)
    _run_torch(getattr(torch.optim, name)(tps, **kw), tps, grads)
    for p, tp in zip(switched, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)


WRONG_TYPE = [(n, k, v) for n in NAMES for k, v in [("foreach", "yes"), ("fused", 1), ("capturable", None),
                                                       ("differentiable", 0)] if k in _torch_flags(n)]


@pytest.mark.parametrize("name, flag, value", WRONG_TYPE, ids=[f"{n}-{k}" for n, k, _ in WRONG_TYPE])
def test_switch_of_another_type_is_a_type_error(name, flag, value):
    with pytest.raises(TypeError, match=re.escape(f"Received: {flag}={value!r}")):
        getattr(optim, name)(_ours(_data()[0]), **{flag: value})


# ---- refused values ----------------------------------------------------------------------
TORCH_ERRORS = [  # (keyword arguments, torch's message): both libraries raise it in the constructor
    ({"foreach": True, "fused": True}, "`fused` and `foreach` cannot be `True` together."),
    ({"fused": True, "differentiable": True}, "`fused` does not support `differentiable`"),
    ({"foreach": True, "fused": True, "differentiable": True}, "`fused` does not support `differentiable`"),
]
FUSED = [n for n in NAMES if "fused" in _torch_flags(n)]


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("kw, message", TORCH_ERRORS, ids=["foreach-fused", "fused-differentiable", "all-three"])
def test_torchs_refused_combinations_raise_torchs_error(name, kw, message):
    p0, _ = _data()
    with pytest.raises(RuntimeError, match=re.escape(message)):
        getattr(torch.optim, name)(_theirs(p0), **kw)
    with pytest.raises(RuntimeError, match=re.escape(message)):
        getattr(optim, name)(_ours(p0), **kw)


REFUSED = [(n, k) for n in NAMES for k in ("differentiable", "capturable") if k in _torch_flags(n)]


@pytest.mark.parametrize("name, flag", REFUSED, ids=[f"{n}-{k}" for n, k in REFUSED])
def test_differentiable_and_capturable_true_are_refused(name, flag):
    """NotImplementedError naming the argument (a RuntimeError, as torch's own failures with
    these on CPU parameters are caught by), in the constructor, add_param_group, a step after
    the group was edited (nothing updated) and load_state_dict (nothing loaded). Torch itself
    fails at the first CPU step (capturable: an assertion on the device; differentiable: an
    in-place update of a leaf that requires grad)."""
    p0, grads = _data()
    tps = _theirs(p0)
    with pytest.raises((AssertionError, RuntimeError)):
        _run_torch(getattr(torch.optim, name)(tps, **{flag: True}), tps, grads[:1])
    message = re.escape(f"Received: {flag}=True")
    with pytest.raises(NotImplementedError, match=message):
        getattr(optim, name)(_ours(p0), **{flag: True})
    assert issubclass(NotImplementedError, RuntimeError)

    ps = _ours(p0)
    opt = getattr(optim, name)(ps[:1])
    with pytest.raises(NotImplementedError, match=message):
        opt.add_param_group({"params": ps[1:], flag: True})
    assert len(opt.param_groups) == 1

    opt = getattr(optim, name)(ps)
    _run(opt, ps, grads[:1])
    before = [p.data.copy() for p in ps]
    opt.param_groups[0][flag] = True
    with pytest.raises(NotImplementedError, match=message):
        _run(opt, ps, grads[1:2])
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)

    opt.param_groups[0][flag] = False
    saved = opt.state_dict()
    saved["param_groups"][0][flag] = True
    saved["param_groups"][0]["lr"] = 0.125
    fresh = getattr(optim, name)(_ours(p0))
    with pytest.raises(NotImplementedError, match=message):
        fresh.load_state_dict(saved)
    assert fresh.state == {} and fresh.param_groups[0][flag] is False and fresh.param_groups[0]["lr"] != 0.125


# ---- state_dicts -------------------------------------------------------------------------
def _switches_on(name):
    """Keyword arguments with every switch at a value other than its default that fastnn takes."""
    kw = {"foreach": False} if "foreach" in _torch_flags(name) else {}
    if "fused" in _torch_flags(name):
        kw = {"foreach": False, "fused": True}
    return kw


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_carries_the_switches(name):
    """3 steps, save, an optimizer with the default switches loads it: it has the saved
    switches, and 3 more steps are those of the uninterrupted run, bit for bit."""
    p0, grads = _data()
    kw = _switches_on(name)
    ps, resumed_ps = _ours(p0), None
    opt = getattr(optim, name)(ps, **kw)
    _run(opt, ps, grads[:3])
    saved = opt.state_dict()
    for k, v in kw.items():
        assert saved["param_groups"][0][k] is v
    resumed_ps = [nn.Parameter(p.data.copy()) for p in ps]
    resumed = getattr(optim, name)(resumed_ps)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0].keys() == opt.param_groups[0].keys()
    assert _without_params(resumed.param_groups[0]) == _without_params(opt.param_groups[0])
    _run(opt, ps, grads[3:])
    _run(resumed, resumed_ps, grads[3:])
    for a, b in zip(ps, resumed_ps):
        np.testing.assert_array_equal(b.data, a.data)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_without_the_switches_still_loads(name):
    """A state_dict saved before the switches existed (no such keys) loads: the groups keep
    their switches and the run resumes bit for bit."""
    p0, grads = _data()
    ps = _ours(p0)
    opt = getattr(optim, name)(ps)
    _run(opt, ps, grads[:3])
    saved = opt.state_dict()
    for g in saved["param_groups"]:
        for k in FLAGS:
            g.pop(k, None)
    resumed_ps = [nn.Parameter(p.data.copy()) for p in ps]
    kw = _switches_on(name)
    resumed = getattr(optim, name)(resumed_ps, **kw)
    resumed.load_state_dict(saved)
    for k in _torch_flags(name):
        assert resumed.param_groups[0][k] is kw.get(k, resumed.defaults[k])
    _run(opt, ps, grads[3:])
    _run(resumed, resumed_ps, grads[3:])
    for a, b in zip(ps, resumed_ps):
        np.testing.assert_array_equal(b.data, a.data)


def _state_to_numpy(state_dict):
    """torch's state_dict with fastnn's values: arrays, an int step, Python floats."""
    def value(k, v):
        if not isinstance(v, torch.Tensor):
            return v
        if v.ndim == 0:
            return int(v.item()) if k == "step" else float(v.item())
        return v.detach().numpy().copy()

    return {"state": {i: {k: value(k, v) for k, v in s.items()} for i, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


def _state_to_torch(state_dict):
    """fastnn's state_dict with torch's values: tensors, float32 scalar tensors (step included)."""
    def value(v):
        if isinstance(v, np.ndarray):
            return torch.tensor(v)
        return torch.tensor(float(v), dtype=torch.float32)

    return {"state": {i: {k: value(v) for k, v in s.items()} for i, s in state_dict["state"].items()},
            "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("name", NAMES)
def test_torchs_state_dict_loads_into_fastnn_and_back(name):
    """torch's state_dict (with its switches) loads into fastnn, values converted to arrays:
    fastnn's groups are then torch's, and fastnn's next steps follow torch's; fastnn's
    state_dict (with the switches) loads into torch the other way, and torch's steps follow
    fastnn's."""
    p0, grads = _data()
    kw = _switches_on(name)
    tps = _theirs(p0)
    topt = getattr(torch.optim, name)(tps, **kw)
    _run_torch(topt, tps, grads[:3])
    ps = [nn.Parameter(tp.detach().numpy().copy()) for tp in tps]
    opt = getattr(optim, name)(ps)
    opt.load_state_dict(_state_to_numpy(topt.state_dict()))
    assert _without_params(opt.param_groups[0]) == _without_params(topt.param_groups[0])
    _run(opt, ps, grads[3:5])
    _run_torch(topt, tps, grads[3:5])
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)

    back = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in ps]
    topt_back = getattr(torch.optim, name)(back)
    topt_back.load_state_dict(_state_to_torch(opt.state_dict()))
    assert _without_params(topt_back.param_groups[0]) == _without_params(opt.param_groups[0])
    _run(opt, ps, grads[5:])
    _run_torch(topt_back, back, grads[5:])
    for p, tp in zip(ps, back):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), **F32)


# ---- clipping ----------------------------------------------------------------------------
def test_clip_signatures_are_torchs():
    def described(f):
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    assert described(optim.clip_grad_norm_) == described(torch.nn.utils.clip_grad_norm_)
    assert described(optim.clip_grad_value_) == described(torch.nn.utils.clip_grad_value_)


def _grad_pair(grads):
    ours = [nn.Parameter(np.zeros_like(g)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, tp, g in zip(ours, theirs, grads):
        p.grad[...] = g
        tp.grad = torch.tensor(g)
    return ours, theirs


NONFINITE = [  # gradients of two parameters with a NaN or an infinity, in the first or the second
    ("nan-first", [[1.0, math.nan, 2.0], [3.0, 4.0]]),
    ("nan-second", [[1.0, 5.0, 2.0], [3.0, math.nan]]),
    ("inf-first", [[1.0, math.inf, 2.0], [3.0, 4.0]]),
    ("inf-second", [[1.0, 5.0, 2.0], [-math.inf, 4.0]]),
    ("nan-and-inf", [[math.inf, 5.0, 2.0], [3.0, math.nan]]),
]
NORM_TYPES = [2.0, 1.0, 3.0, math.inf]


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("case, values", NONFINITE, ids=[c for c, _ in NONFINITE])
def test_clip_grad_norm_error_if_nonfinite_raises_as_torch(case, values, norm_type):
    """torch's RuntimeError and message, and the gradients left as they were."""
    grads = [np.array(v, np.float32) for v in values]
    ours, theirs = _grad_pair(grads)
    with pytest.raises(RuntimeError) as want:
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as got:
        optim.clip_grad_norm_(ours, 1.0, norm_type, error_if_nonfinite=True)
    assert str(got.value) == str(want.value)
    for p, g in zip(ours, grads):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("case, values", NONFINITE, ids=[c for c, _ in NONFINITE])
def test_clip_grad_norm_nonfinite_without_error_scales_as_torch(case, values, norm_type):
    """error_if_nonfinite=False (the default): the same non-finite norm returned and the
    gradients scaled by it as torch's (NaN where torch has NaN)."""
    grads = [np.array(v, np.float32) for v in values]
    ours, theirs = _grad_pair(grads)
    want = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type).item()
    got = optim.clip_grad_norm_(ours, 1.0, norm_type)
    assert not math.isfinite(got)
    assert (math.isnan(got) and math.isnan(want)) or got == want
    for p, tp in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())  # (NaN positions must agree too)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("foreach", [None, True, False])
@pytest.mark.parametrize("error_if_nonfinite", [True, False])
def test_clip_with_a_finite_norm_ignores_the_switches_as_torch(norm_type, foreach, error_if_nonfinite):
    """A finite norm: no error with either error_if_nonfinite, and foreach changes nothing;
    torch's norm and gradients (clip_grad_value_ too)."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,)]]
    ours, theirs = _grad_pair(grads)
    plain, _ = _grad_pair(grads)
    want = torch.nn.utils.clip_grad_norm_(theirs, 0.7, norm_type, error_if_nonfinite, foreach).item()
    got = optim.clip_grad_norm_(ours, 0.7, norm_type, error_if_nonfinite=error_if_nonfinite, foreach=foreach)
    assert got == optim.clip_grad_norm_(plain, 0.7, norm_type)
    assert got == pytest.approx(want, rel=1e-5)
    for p, q, tp in zip(ours, plain, theirs):
        np.testing.assert_array_equal(p.grad, q.grad)
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), **F32)
    for p in ours:
        p.grad[...] = p.grad * 10
    for tp in theirs:
        tp.grad *= 10
    optim.clip_grad_value_(ours, 0.25, foreach=foreach)
    torch.nn.utils.clip_grad_value_(theirs, 0.25, foreach=foreach)
    for p, tp in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad, tp.grad.numpy())


def test_clip_switch_of_another_type_is_a_type_error():
    p = nn.Parameter(np.zeros(3, np.float32))
    p.grad[...] = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match=re.escape("Received: foreach='yes'")):
        optim.clip_grad_norm_([p], 1.0, foreach="yes")
    with pytest.raises(TypeError, match=re.escape("Received: foreach=1")):
        optim.clip_grad_value_([p], 1.0, foreach=1)
    with pytest.raises(TypeError, match=re.escape("Received: error_if_nonfinite=None")):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=None)
    np.testing.assert_array_equal(p.grad, [1.0, 2.0, 3.0])


def test_clip_grad_norm_returns_a_float_with_item():
    """torch returns a 0-d tensor; ported code calls .item() on it (and logs it as a number)."""
    from fastnn import nn, optim
    p = nn.Parameter(np.array([3.0, 4.0], np.float32))
    p.grad = np.array([3.0, 4.0], np.float32)
    norm = optim.clip_grad_norm_([p], 1.0)
    assert isinstance(norm, float) and norm.item() == pytest.approx(5.0) and type(norm.item()) is float
    assert optim.clip_grad_norm_([], 1.0).item() == 0.0
