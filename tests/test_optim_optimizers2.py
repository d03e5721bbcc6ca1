"""fastnn.optim.optimizers2 (Adafactor, LBFGS, Muon) against torch.optim (2.13) as the oracle.

Both libraries start from the same values; each step's gradients come from one fixed NumPy
function of the parameters, evaluated on each library's own current values (so the two runs
differ only by what their optimizers do), and the parameters are compared after every step:
float64 to 1e-10, float32 to rtol 1e-5 / atol 1e-6. Also: every option, the constructor's
signature and defaults, the state_dict layout (torch's names and shapes) and a save / load
that resumes the run exactly, bad arguments, and the emulated GPU.

Muon orthogonalises in bfloat16, as torch's does. Torch's bfloat16 GEMM sums in float32 in an
order of its own (oneDNN's, CPU-dependent), fastnn's exactly: in rare elements the two round to
neighbouring bfloat16 values. So the tight Muon comparisons are against torch.optim.Muon whose
Newton-Schulz function is torch's own line by line (torch's bfloat16 conversion, norm, clamp,
division and rounding of every product) with exact products; against the unpatched
torch.optim.Muon the tolerance allows such flips (on this project's machines they agree exactly).
"""
import inspect
import math
import re

import numpy as np
import pytest

from fastnn import nn
from fastnn.optim import optimizers2
from fastnn.optim.optimizers2 import LBFGS, Adafactor, Muon

torch = pytest.importorskip("torch")
torch_muon = pytest.importorskip("torch.optim._muon")

TOL = {np.float64: {"rtol": 1e-10, "atol": 1e-10}, np.float32: {"rtol": 1e-5, "atol": 1e-6}}
DTYPES = [np.float64, np.float32]


def _params(shapes, dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    values = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
    return ([nn.Parameter(v.copy()) for v in values],
            [torch.nn.Parameter(torch.tensor(v.copy())) for v in values])


def _values(tps):
    return [tp.detach().numpy() for tp in tps]


def _assert_same(ps, tps, dtype, what=""):
    for i, (p, tp) in enumerate(zip(ps, tps)):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, tp.detach().numpy(), err_msg=f"{what} parameter {i}", **TOL[dtype])


def _elementwise_grads(shapes, seed=1):
    """A fixed gradient function for the step-by-step optimizers: per parameter
    g = S * (x - T) + 0.1 sin(3x), S positive with row and column structure (so Adafactor's
    factored moments see rows and columns of different sizes)."""
    rng = np.random.default_rng(seed)
    targets = [rng.standard_normal(s) for s in shapes]
    scales = []
    for s in shapes:
        scale = np.exp(rng.standard_normal(s) * 0.3)
        if len(s) >= 2:
            rows, cols = rng.standard_normal(s[:-1] + (1,)), rng.standard_normal(s[:-2] + (1, s[-1]))
            scale = scale * np.exp(rows) * np.exp(cols)
        scales.append(scale)

    def grads(xs):
        return [(S * (x - T) + 0.1 * np.sin(3 * x)).astype(x.dtype) for x, S, T in zip(xs, scales, targets)]
    return grads


def _matrix_grads(shapes, seed=1):
    """A fixed gradient function for Muon's matrices: g = A X B - C."""
    rng = np.random.default_rng(seed)
    mats = [(rng.standard_normal((m, m)) / math.sqrt(m), rng.standard_normal((n, n)) / math.sqrt(n),
             rng.standard_normal((m, n))) for m, n in shapes]

    def grads(xs):
        return [(A @ x @ B - C).astype(x.dtype) for x, (A, B, C) in zip(xs, mats)]
    return grads


def _step_both(opt, topt, ps, tps, grad_fn, skip=()):
    """One step of each, from grad_fn of each library's own values; parameters in skip get no
    gradient (fastnn: zero_grad; torch: grad None)."""
    opt.zero_grad()
    for i, (p, g) in enumerate(zip(ps, grad_fn([p.data for p in ps]))):
        if i not in skip:
            p.grad[...] = g
    for i, (tp, g) in enumerate(zip(tps, grad_fn(_values(tps)))):
        tp.grad = None if i in skip else torch.tensor(g)
    opt.step()
    topt.step()


def _run_side_by_side(make, make_torch, shapes, dtype, grad_fn, steps, seed=0, scale=1.0):
    ps, tps = _params(shapes, dtype, seed, scale)
    opt, topt = make(ps), make_torch(tps)
    for k in range(steps):
        _step_both(opt, topt, ps, tps, grad_fn)
        _assert_same(ps, tps, dtype, f"step {k + 1}")
    return ps, tps, opt, topt


def _signature_matches_torch(ours, theirs):
    a = list(inspect.signature(ours).parameters.values())
    b = list(inspect.signature(theirs).parameters.values())
    assert [(p.name, p.kind) for p in a] == [(p.name, p.kind) for p in b]
    for p, q in zip(a[1:], b[1:]):
        assert p.default == q.default, (p.name, p.default, q.default)


# =============================================================================================
# Adafactor
ADAFACTOR_SHAPES = [(1,), (5,), (4, 3), (2, 3, 4), (2, 1, 3, 2)]  # 1-D (variance), 2-D to 4-D (factored)
ADAFACTOR_CONFIGS = [
    {},
    {"lr": 0.05},
    {"lr": 0.1, "weight_decay": 0.2},
    {"beta2_decay": -0.5},
    {"beta2_decay": 0.0},
    {"eps": (1e-2, 1e-3)},  # eps1 floors the small second moments of the gradients near the optimum
    {"eps": (None, 2.0)},  # eps2 floors RMS(p) in the step size
    {"eps": (0.0, 0.0)},
    {"d": 1.5, "lr": 0.2},
    {"d": 50.0, "lr": 0.2},
    {"maximize": True, "lr": 0.05},
    {"lr": 0.1, "beta2_decay": -0.65, "eps": (1e-4, 1e-2), "d": 2.0, "weight_decay": 0.05, "maximize": True},
]


def test_adafactor_signature_and_defaults_are_torchs():
    _signature_matches_torch(Adafactor, torch.optim.Adafactor)
    p = nn.Parameter(np.zeros(3, np.float32))
    group = Adafactor([p]).param_groups[0]
    tgroup = torch.optim.Adafactor([torch.nn.Parameter(torch.zeros(3))]).param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in tgroup.items() if k != "params"}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("hp", ADAFACTOR_CONFIGS, ids=[str(sorted(h.items())) for h in ADAFACTOR_CONFIGS])
def test_adafactor_follows_torch_step_by_step(hp, dtype):
    grad_fn = _elementwise_grads(ADAFACTOR_SHAPES)
    _run_side_by_side(lambda ps: Adafactor(ps, **hp), lambda tps: torch.optim.Adafactor(tps, **hp),
                      ADAFACTOR_SHAPES, dtype, grad_fn, steps=25)


def _final_values(cls, configs, shapes, make_grads, steps):
    """For each hyperparameter set, the float64 parameters (flattened, concatenated) after
    `steps` steps of cls on the gradients of make_grads(shapes)."""
    grad_fn = make_grads(shapes)
    finals = []
    for hp in configs:
        ps, _ = _params(shapes, np.float64)
        opt = cls(ps, **hp)
        for _ in range(steps):
            for p, g in zip(ps, grad_fn([p.data for p in ps])):
                p.grad[...] = g
            opt.step()
        finals.append(np.concatenate([p.data.ravel() for p in ps]))
    return finals


def test_adafactor_each_option_changes_the_run():
    """(So the comparisons above test what they name.)"""
    finals = _final_values(Adafactor, ADAFACTOR_CONFIGS, ADAFACTOR_SHAPES, _elementwise_grads, 25)
    for hp, final in zip(ADAFACTOR_CONFIGS[1:], finals[1:]):
        if hp != {"eps": (0.0, 0.0)}:  # (an edge case: no floors, where these runs need none)
            assert np.abs(final - finals[0]).max() > 1e-6, hp


def test_adafactor_clipping_and_the_eps2_floor_by_hand():
    """A 1-D parameter, gradients 1 then 10: step 1 has V = G^2, so U = 1 and every element moves
    by alpha_1 = max(eps2, RMS(p)) * min(lr, 1), the eps2 floor here; step 2 has
    V = 1 + 2^-0.8 (100 - 1), U = 10 / sqrt(V) > d = 1: clipped to RMS 1, a move of alpha_2
    (with d = 2 it is not clipped: alpha_2 * U)."""
    for d in (1.0, 2.0):
        p = nn.Parameter(np.full(6, 1e-4))
        opt = Adafactor([p], lr=0.5, eps=(None, 0.05), d=d)
        p.grad[...] = 1.0
        opt.step()
        np.testing.assert_allclose(p.data, 1e-4 - 0.05 * 0.5, rtol=1e-14)
        before = p.data.copy()
        p.grad[...] = 10.0
        opt.step()
        u = 10.0 / math.sqrt(1.0 + 2.0 ** -0.8 * 99.0)
        alpha = max(0.05, abs(before[0])) * min(0.5, 1 / math.sqrt(2))
        np.testing.assert_allclose(before - p.data, alpha * u / max(1.0, u / d), rtol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_adafactor_parameter_groups_and_parameters_without_gradients(dtype):
    shapes = [(5,), (4, 3), (2, 3, 4)]
    grad_fn = _elementwise_grads(shapes)
    ps, tps = _params(shapes, dtype)
    groups = lambda q: [{"params": q[:2], "lr": 0.05}, {"params": q[2:], "weight_decay": 0.1, "d": 1.2}]  # noqa: E731
    opt, topt = Adafactor(groups(ps), lr=0.2), torch.optim.Adafactor(groups(tps), lr=0.2)
    for k in range(12):
        _step_both(opt, topt, ps, tps, grad_fn, skip=(1,) if k % 3 == 1 else ())
        _assert_same(ps, tps, dtype, f"step {k + 1}")
    assert opt.state[ps[1]]["step"] == topt.state[tps[1]]["step"].item() == 8  # skipped steps do not count
    assert opt.state[ps[0]]["step"] == 12


def test_adafactor_foreach_chooses_nothing():
    shapes = [(5,), (4, 3)]
    grad_fn = _elementwise_grads(shapes)
    runs = []
    for foreach in (None, True, False):
        ps, _ = _params(shapes, np.float32)
        opt = Adafactor(ps, lr=0.1, foreach=foreach)
        assert opt.param_groups[0]["foreach"] is foreach
        for _ in range(5):
            for p, g in zip(ps, grad_fn([p.data for p in ps])):
                p.grad[...] = g
            opt.step()
        runs.append([p.data.copy() for p in ps])
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=re.escape("Received: foreach='yes'")):
        Adafactor(ps, foreach="yes")


def test_adafactor_state_dict_has_torchs_layout():
    shapes = ADAFACTOR_SHAPES
    ps, tps, opt, topt = _run_side_by_side(lambda q: Adafactor(q, lr=0.1), lambda q: torch.optim.Adafactor(q, lr=0.1),
                                           shapes, np.float64, _elementwise_grads(shapes), steps=3)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i, slots in theirs["state"].items():
        assert set(ours["state"][i]) == set(slots)
        for k, v in slots.items():
            if k == "step":
                assert ours["state"][i][k] == v.item() == 3
            else:
                assert ours["state"][i][k].shape == tuple(v.shape), (i, k)
                np.testing.assert_allclose(ours["state"][i][k], v.numpy(), **TOL[np.float64])
    assert set(ours["state"][2]) == {"step", "row_var", "col_var"} and ours["state"][2]["row_var"].shape == (4, 1)
    assert set(ours["state"][1]) == {"step", "variance"}
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours["param_groups"]] == \
        [{k: v for k, v in g.items() if k != "params"} for g in theirs["param_groups"]]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_adafactor_state_dict_round_trip_resumes_the_run(dtype):
    """4 steps, save, a new optimizer with other hyperparameters loads the save, 8 more steps:
    torch's uninterrupted run, and bit for bit fastnn's uninterrupted one."""
    shapes = ADAFACTOR_SHAPES
    grad_fn = _elementwise_grads(shapes)
    hp = {"lr": 0.1, "weight_decay": 0.05, "d": 1.5, "eps": (1e-5, 1e-3)}
    ps, tps = _params(shapes, dtype)
    qs, _ = _params(shapes, dtype)
    opt, topt, straight = Adafactor(ps, **hp), torch.optim.Adafactor(tps, **hp), Adafactor(qs, **hp)

    def step_straight():
        for q, g in zip(qs, grad_fn([q.data for q in qs])):
            q.grad[...] = g
        straight.step()
    for _ in range(4):
        _step_both(opt, topt, ps, tps, grad_fn)
        step_straight()
    saved = opt.state_dict()
    resumed = Adafactor(ps, lr=0.5, d=3.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.1 and resumed.param_groups[0]["eps"] == (1e-5, 1e-3)
    saved["state"][2]["row_var"][...] = 1e6  # the loaded state is a copy
    for k in range(8):
        _step_both(resumed, topt, ps, tps, grad_fn)
        step_straight()
        _assert_same(ps, tps, dtype, f"resumed step {k + 1}")
        for p, q in zip(ps, qs):
            np.testing.assert_array_equal(p.data, q.data)


def test_adafactor_load_state_dict_checks_the_factored_shapes():
    ps, _ = _params([(4, 3)], np.float32)
    opt = Adafactor(ps)
    ps[0].grad[...] = 1.0
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["col_var"] = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=re.escape("'col_var' of parameter 0 has shape (4, 3), expected (1, 3)")):
        Adafactor(ps).load_state_dict(saved)


ADAFACTOR_BAD = [
    ({"lr": -1.0}, "Received: lr=-1.0"),
    ({"beta2_decay": 0.5}, "Received: beta2_decay=0.5"),
    ({"eps": (-1e-3, 1e-3)}, "Received: eps1=-0.001"),
    ({"eps": (None, -1.0)}, "Received: eps2=-1.0"),
    ({"d": 0.5}, "Received: d=0.5"),
    ({"weight_decay": -0.1}, "Received: weight_decay=-0.1"),
]


@pytest.mark.parametrize("hp, message", ADAFACTOR_BAD)
def test_adafactor_invalid_values_raise_value_error_as_torch(hp, message):
    with pytest.raises(ValueError):
        torch.optim.Adafactor([torch.nn.Parameter(torch.zeros(2))], **hp)
    with pytest.raises(ValueError, match=re.escape(message)):
        Adafactor([nn.Parameter(np.zeros(2, np.float32))], **hp)
    opt = Adafactor([nn.Parameter(np.zeros(2, np.float32))])
    with pytest.raises(ValueError, match=re.escape(message)):  # in a group added later too
        opt.add_param_group({"params": [nn.Parameter(np.zeros(2, np.float32))], **hp})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("hp, error, message", [
    ({"eps": 1e-3}, ValueError, "eps must be a pair (eps1 or None, eps2). Received: eps=0.001"),
    ({"d": math.nan}, ValueError, "Received: d=nan"),
    ({"maximize": 1}, TypeError, "maximize must be True or False. Received: maximize=1"),
])
def test_adafactor_other_bad_values(hp, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Adafactor([nn.Parameter(np.zeros(2, np.float32))], **hp)


# =============================================================================================
# LBFGS
def _rosenbrock(xs, k=100.0):
    """The n-dimensional Rosenbrock function of the parameters' concatenation and its gradient:
    sum k (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 (k = 100: the classic ill-conditioned valley)."""
    flat = np.concatenate([x.reshape(-1) for x in xs])
    a, b = flat[:-1], flat[1:]
    loss = np.sum(k * (b - a * a) ** 2 + (1 - a) ** 2)
    g = np.zeros_like(flat)
    g[:-1] += -4 * k * a * (b - a * a) - 2 * (1 - a)
    g[1:] += 2 * k * (b - a * a)
    out, offset = [], 0
    for x in xs:
        out.append(g[offset:offset + x.size].reshape(x.shape))
        offset += x.size
    return float(loss), out


_LSQ = np.random.default_rng(3)
_LSQ_X, _LSQ_Y = _LSQ.standard_normal((12, 4)), _LSQ.standard_normal((12, 3))


def _least_squares(xs):
    """0.5 |X W^T + b - Y|^2 over W (3, 4) and b (3,), and its gradient."""
    w, b = xs
    x, y = _LSQ_X.astype(w.dtype), _LSQ_Y.astype(w.dtype)
    r = x @ w.T + b - y
    return 0.5 * float(np.sum(r.astype(np.float64) ** 2)), [r.T @ x, r.sum(0)]


ROSEN_SHAPES, LSQ_SHAPES = [(3,), (2, 2)], [(3, 4), (3,)]


def _closures(opt, topt, ps, tps, fn):
    """fastnn's and torch's closures (zero the gradients, evaluate fn, set the gradients, return
    the loss as a float), counting their calls."""
    calls = [0, 0]

    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss, grads = fn([p.data for p in ps])
        for p, g in zip(ps, grads):
            p.grad[...] = g
        return loss

    def torch_closure():
        calls[1] += 1
        topt.zero_grad()
        loss, grads = fn(_values(tps))
        for tp, g in zip(tps, grads):
            tp.grad = torch.tensor(g)
        return loss
    return closure, torch_closure, calls


def _lbfgs_side_by_side(fn, shapes, dtype, hp, steps, scale=0.5):
    ps, tps = _params(shapes, dtype, scale=scale)
    opt, topt = LBFGS(ps, **hp), torch.optim.LBFGS(tps, **hp)
    closure, torch_closure, calls = _closures(opt, topt, ps, tps, fn)
    for k in range(steps):
        ours, theirs = opt.step(closure), topt.step(torch_closure)
        _assert_same(ps, tps, dtype, f"step {k + 1}")
        # the same iterations, line-search evaluations, history and results
        assert ours == pytest.approx(theirs, rel=TOL[dtype]["rtol"], abs=TOL[dtype]["atol"])
        assert calls[0] == calls[1]
        state, tstate = opt.state[ps[0]], topt.state[tps[0]]
        assert (state["n_iter"], state["func_evals"]) == (tstate["n_iter"], tstate["func_evals"])
        assert len(state["old_dirs"]) == len(tstate["old_dirs"])
    return ps, tps, opt, topt


LBFGS_CONFIGS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.1, "max_iter": 3},
    {"max_iter": 5},
    {"history_size": 2, "max_iter": 4},
    {"history_size": 3, "max_iter": 7, "lr": 0.5, "line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "max_eval": 8, "max_iter": 6},
    {"max_iter": 10, "max_eval": 4},
    {"tolerance_grad": 1e-2},
    {"tolerance_change": 1e-3, "line_search_fn": "strong_wolfe"},
    {"tolerance_change": 1e-2},
]
LBFGS_IDS = [str(sorted(h.items())) for h in LBFGS_CONFIGS]


@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=LBFGS_IDS)
def test_lbfgs_on_rosenbrock_follows_torch_in_float64(hp):
    hp = {"max_iter": 5, **hp}  # 5 steps of 5 iterations: before rounding differences grow in the valley
    _lbfgs_side_by_side(_rosenbrock, ROSEN_SHAPES, np.float64, hp, steps=5)


@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=LBFGS_IDS)
def test_lbfgs_on_least_squares_follows_torch_in_float64(hp):
    _lbfgs_side_by_side(_least_squares, LSQ_SHAPES, np.float64, hp, steps=6, scale=1.0)


def _capped(hp, max_iter=3):
    return {**hp, "max_iter": min(hp.get("max_iter", 20), max_iter)}


# float32: L-BFGS amplifies rounding differences (here of the dot products' order: NumPy's and
# MKL's) several times over per iteration once its curvature pairs are differences of nearly
# equal gradients; torch differs from itself as much when only its gradients' rounding changes
# (autograd's instead of this NumPy formula). So the float32 runs are compared tightly over the
# first 6 iterations (2 steps of at most 3), and the long ones by where they end.
@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=LBFGS_IDS)
def test_lbfgs_on_least_squares_follows_torch_in_float32(hp):
    _lbfgs_side_by_side(_least_squares, LSQ_SHAPES, np.float32, _capped(hp), steps=2, scale=1.0)


@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=LBFGS_IDS)
def test_lbfgs_on_a_mild_rosenbrock_follows_torch_in_float32(hp):
    _lbfgs_side_by_side(lambda xs: _rosenbrock(xs, k=10.0), ROSEN_SHAPES, np.float32, _capped(hp), steps=2)


@pytest.mark.parametrize("hp", LBFGS_CONFIGS, ids=LBFGS_IDS)
def test_lbfgs_long_float32_runs_end_where_torchs_do(hp):
    ps, tps = _params(LSQ_SHAPES, np.float32)
    opt, topt = LBFGS(ps, **hp), torch.optim.LBFGS(tps, **hp)
    closure, torch_closure, _ = _closures(opt, topt, ps, tps, _least_squares)
    for _ in range(6):
        opt.step(closure)
        topt.step(torch_closure)
    assert closure() == pytest.approx(torch_closure(), rel=1e-5)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-3)


def test_lbfgs_each_option_changes_the_run():
    """(So the comparisons above test what they name: with each option of each configuration,
    the runs of the two problems end elsewhere, or after other numbers of evaluations, than
    without it.)"""
    def run(hp):
        ends = []
        for fn, shapes, scale, base in ((_rosenbrock, ROSEN_SHAPES, 0.5, {"max_iter": 5}),
                                        (_least_squares, LSQ_SHAPES, 1.0, {})):
            ps, tps = _params(shapes, np.float64, scale=scale)
            opt = LBFGS(ps, **{**base, **hp})
            closure, _, calls = _closures(opt, None, ps, tps, fn)
            for _ in range(5):
                opt.step(closure)
            ends += [p.data.ravel() for p in ps] + [np.array([calls[0]])]
        return np.concatenate(ends)
    for hp in LBFGS_CONFIGS[1:]:
        for option in hp:
            if (hp, option) == ({"max_iter": 10, "max_eval": 4}, "max_iter"):
                continue  # (max_eval is the limit that binds there)
            without = {k: v for k, v in hp.items() if k != option}
            assert np.abs(run(hp) - run(without)).max() > 1e-8, (hp, option)


def test_lbfgs_reaches_rosenbrocks_minimum_as_torch():
    ps, tps, opt, topt = _lbfgs_side_by_side(_rosenbrock, ROSEN_SHAPES, np.float64,
                                             {"line_search_fn": "strong_wolfe"}, steps=4)
    for p in ps:
        np.testing.assert_allclose(p.data, 1.0, atol=1e-5)


def test_lbfgs_with_torchs_autograd_closure():
    """Torch's usual closure (autograd of the loss) against fastnn's NumPy gradient: the same run."""
    ps, tps = _params(LSQ_SHAPES, np.float64)
    opt, topt = LBFGS(ps, line_search_fn="strong_wolfe", max_iter=4), \
        torch.optim.LBFGS(tps, line_search_fn="strong_wolfe", max_iter=4)
    closure, _, _ = _closures(opt, topt, ps, tps, _least_squares)
    x, y = torch.tensor(_LSQ_X), torch.tensor(_LSQ_Y)

    def torch_closure():
        topt.zero_grad()
        loss = 0.5 * ((x @ tps[0].T + tps[1] - y) ** 2).sum()
        loss.backward()
        return loss
    for k in range(4):
        ours, theirs = opt.step(closure), topt.step(torch_closure)
        assert ours == pytest.approx(theirs.item(), rel=1e-12)
        _assert_same(ps, tps, np.float64, f"step {k + 1}")


def test_lbfgs_step_needs_a_closure_and_returns_its_first_loss():
    ps, _ = _params(LSQ_SHAPES, np.float64)
    opt = LBFGS(ps)
    with pytest.raises(TypeError):
        opt.step()
    losses = []

    def closure():
        opt.zero_grad()
        loss, grads = _least_squares([p.data for p in ps])
        for p, g in zip(ps, grads):
            p.grad[...] = g
        losses.append(loss)
        return loss
    assert opt.step(closure) == losses[0] > losses[-1]


def test_lbfgs_defaults_and_max_eval_as_torch():
    _signature_matches_torch(LBFGS, torch.optim.LBFGS)
    for kwargs in ({}, {"max_iter": 7}, {"max_iter": 7, "max_eval": 30}):
        group = LBFGS([nn.Parameter(np.zeros(2))], **kwargs).param_groups[0]
        tgroup = torch.optim.LBFGS([torch.nn.Parameter(torch.zeros(2))], **kwargs).param_groups[0]
        assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in tgroup.items() if k != "params"}
    assert LBFGS([nn.Parameter(np.zeros(2))], max_iter=7).param_groups[0]["max_eval"] == 8


def test_lbfgs_stops_at_once_when_the_gradient_is_below_tolerance_grad():
    ps, tps = _params([(3,)], np.float64)
    opt, topt = LBFGS(ps, tolerance_grad=10.0), torch.optim.LBFGS(tps, tolerance_grad=10.0)
    closure, torch_closure, calls = _closures(opt, topt, ps, tps, lambda xs: (0.0, [0.01 * x for x in xs]))
    opt.step(closure)
    topt.step(torch_closure)
    assert calls == [1, 1] and set(opt.state[ps[0]]) == set(topt.state[tps[0]]) == {"func_evals", "n_iter"}
    _assert_same(ps, tps, np.float64)


def test_lbfgs_parameter_without_gradient_or_frozen_counts_as_zero_gradient():
    """A parameter whose gradient is never set (torch: grad None) and a frozen one keep their
    values; the others follow torch's run over the same parameter list."""
    shapes = [(3,), (2,), (2, 2)]
    ps, tps = _params(shapes, np.float64)
    ps[2].trainable = False
    before = [p.data.copy() for p in ps]
    opt, topt = LBFGS(ps, max_iter=5), torch.optim.LBFGS(tps, max_iter=5)

    def fn(xs):
        loss, grads = _rosenbrock(xs[:1], k=10.0)
        return loss, grads

    def closure():
        opt.zero_grad()
        loss, grads = fn([p.data for p in ps])
        ps[0].grad[...] = grads[0]
        ps[2].grad[...] = 1.0  # frozen: ignored
        return loss

    def torch_closure():
        topt.zero_grad()
        loss, grads = fn(_values(tps))
        tps[0].grad = torch.tensor(grads[0])
        return loss
    for _ in range(3):
        opt.step(closure)
        topt.step(torch_closure)
        _assert_same(ps, tps, np.float64)
    np.testing.assert_array_equal(ps[1].data, before[1])
    np.testing.assert_array_equal(ps[2].data, before[2])
    assert opt.state[ps[0]]["d"].shape == topt.state[tps[0]]["d"].shape == (9,)


def test_lbfgs_state_dict_has_torchs_layout():
    ps, tps, opt, topt = _lbfgs_side_by_side(_least_squares, LSQ_SHAPES, np.float64,
                                             {"history_size": 3, "max_iter": 4}, steps=2, scale=1.0)
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert list(ours["state"]) == list(theirs["state"]) == [0]  # the global state, on the first parameter
    state, tstate = ours["state"][0], theirs["state"][0]
    assert set(state) == set(tstate) == {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro", "H_diag",
                                         "prev_flat_grad", "prev_loss", "al"}
    for k in ("d", "prev_flat_grad"):
        np.testing.assert_allclose(state[k], tstate[k].numpy(), **TOL[np.float64])
    for k in ("old_dirs", "old_stps", "ro", "al"):
        assert len(state[k]) == len(tstate[k]), k
        for a, b in zip(state[k], tstate[k]):
            np.testing.assert_allclose(a, b.numpy(), **TOL[np.float64])
    for k in ("t", "H_diag", "prev_loss"):
        assert float(state[k]) == pytest.approx(float(tstate[k]), rel=1e-10)
    assert [{k: v for k, v in g.items() if k != "params"} for g in ours["param_groups"]] == \
        [{k: v for k, v in g.items() if k != "params"} for g in theirs["param_groups"]]


@pytest.mark.parametrize("hp", [{"history_size": 3, "max_iter": 4}, {"line_search_fn": "strong_wolfe", "max_iter": 3}])
def test_lbfgs_state_dict_round_trip_resumes_the_run(hp):
    """2 steps, save, a new LBFGS with other hyperparameters loads the save, 3 more steps:
    torch's uninterrupted run, and bit for bit fastnn's uninterrupted one."""
    ps, tps = _params(ROSEN_SHAPES, np.float64, scale=0.5)
    qs, _ = _params(ROSEN_SHAPES, np.float64, scale=0.5)
    opt, topt, straight = LBFGS(ps, **hp), torch.optim.LBFGS(tps, **hp), LBFGS(qs, **hp)
    closure, torch_closure, _ = _closures(opt, topt, ps, tps, _rosenbrock)
    straight_closure, _, _ = _closures(straight, topt, qs, tps, _rosenbrock)
    for _ in range(2):
        opt.step(closure)
        topt.step(torch_closure)
        straight.step(straight_closure)
    saved = opt.state_dict()
    resumed = LBFGS(ps, lr=0.25, history_size=50)
    resumed.load_state_dict(saved)
    assert {k: resumed.param_groups[0][k] for k in hp} == hp
    saved["state"][0]["old_dirs"][0][...] = 1e6  # the loaded history is a copy
    saved["state"][0]["d"][...] = 1e6
    closure, _, _ = _closures(resumed, topt, ps, tps, _rosenbrock)
    for k in range(3):
        resumed.step(closure)
        topt.step(torch_closure)
        straight.step(straight_closure)
        _assert_same(ps, tps, np.float64, f"resumed step {k + 1}")
        for p, q in zip(ps, qs):
            np.testing.assert_array_equal(p.data, q.data)


def test_lbfgs_state_dict_is_a_copy_and_checks_the_flat_size():
    ps, tps, opt, _ = _lbfgs_side_by_side(_least_squares, LSQ_SHAPES, np.float64, {"max_iter": 3}, steps=1, scale=1.0)
    saved = opt.state_dict()
    saved["state"][0]["old_stps"][0][...] = 1e6
    assert np.abs(opt.state[ps[0]]["old_stps"][0]).max() < 1e3
    saved = opt.state_dict()
    saved["state"][0]["prev_flat_grad"] = np.zeros(5)
    with pytest.raises(ValueError, match=re.escape("'prev_flat_grad' of parameter 0 has shape (5,), expected (15,)")):
        LBFGS(ps).load_state_dict(saved)


def test_lbfgs_takes_one_parameter_group_only_as_torch():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    message = "LBFGS doesn't support per-parameter options (parameter groups)"
    with pytest.raises(ValueError, match=re.escape(message)):
        torch.optim.LBFGS([{"params": [torch.nn.Parameter(torch.zeros(2))]},
                           {"params": [torch.nn.Parameter(torch.zeros(2))]}])
    with pytest.raises(ValueError, match=re.escape(message)):
        LBFGS([{"params": [a]}, {"params": [b]}])
    opt = LBFGS([{"params": [a], "lr": 0.5}])  # one group, as a dict: fine
    assert opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match=re.escape(message)):  # (torch's step asserts it)
        opt.add_param_group({"params": [b]})


def test_lbfgs_unknown_line_search_is_value_and_runtime_error():
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        p = torch.nn.Parameter(torch.zeros(2))
        opt = torch.optim.LBFGS([p], line_search_fn="armijo")
        p.grad = torch.ones(2)
        opt.step(lambda: 1.0)
    for error in (ValueError, RuntimeError):
        with pytest.raises(error, match=re.escape("Received: line_search_fn='armijo'")):
            LBFGS([nn.Parameter(np.zeros(2))], line_search_fn="armijo")


@pytest.mark.parametrize("hp, error, message", [
    ({"lr": -1.0}, ValueError, "Received: lr=-1.0"),
    # stricter than torch, which takes these and then loops no iteration, pops from an empty
    # history, or never stops early
    ({"max_iter": 0}, ValueError, "Received: max_iter=0"),
    ({"max_iter": 2.5}, TypeError, "Received: max_iter=2.5"),
    ({"max_eval": 0}, ValueError, "Received: max_eval=0"),
    ({"history_size": 0}, ValueError, "Received: history_size=0"),
    ({"tolerance_grad": -1.0}, ValueError, "Received: tolerance_grad=-1.0"),
    ({"tolerance_change": math.nan}, ValueError, "Received: tolerance_change=nan"),
])
def test_lbfgs_bad_arguments(hp, error, message):
    if hp == {"lr": -1.0}:
        with pytest.raises(ValueError):
            torch.optim.LBFGS([torch.nn.Parameter(torch.zeros(2))], **hp)
    with pytest.raises(error, match=re.escape(message)):
        LBFGS([nn.Parameter(np.zeros(2))], **hp)


def test_lbfgs_has_no_maximize_or_foreach_as_torch():
    for kwarg in ("maximize", "foreach"):
        with pytest.raises(TypeError):
            torch.optim.LBFGS([torch.nn.Parameter(torch.zeros(2))], **{kwarg: False})
        with pytest.raises(TypeError):
            LBFGS([nn.Parameter(np.zeros(2))], **{kwarg: False})


# =============================================================================================
# Muon
MUON_SHAPES = [(4, 6), (7, 3), (5, 5)]  # wide, tall (orthogonalised transposed), square
MUON_CONFIGS = [
    {"lr": 0.02},
    {"lr": 0.02, "momentum": 0.9},
    {"lr": 0.02, "momentum": 0.0},
    {"lr": 0.02, "nesterov": False},
    {"lr": 0.02, "weight_decay": 0.0},
    {"lr": 0.05, "weight_decay": 0.5},
    {"lr": 0.02, "ns_coefficients": (2.0, -1.5, 0.5)},
    {"lr": 0.02, "ns_steps": 0},
    {"lr": 0.02, "ns_steps": 2},
    {"lr": 0.02, "ns_steps": 8},
    {"lr": 0.02, "eps": 10.0},  # above the updates' Frobenius norms: the floor acts
    {"lr": 0.02, "adjust_lr_fn": "original"},
    {"lr": 0.02, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.01, "momentum": 0.8, "nesterov": False, "weight_decay": 0.2, "ns_coefficients": (3.0, -3.2, 1.2),
     "ns_steps": 4, "adjust_lr_fn": "match_rms_adamw"},
]
MUON_IDS = [str(sorted(h.items())) for h in MUON_CONFIGS]


def _ns_exact_products(grad, ns_coefficients, ns_steps, eps):
    """torch's _zeropower_via_newtonschulz line by line, but each bfloat16 matrix product summed
    exactly before its rounding to float32 then bfloat16 (addmm's beta * C added with one
    rounding), instead of oneDNN's float32 order: what fastnn's emulation computes."""
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    a, b, c = ns_coefficients

    def addmm(bias, x, y, beta=0.0, alpha=1.0):
        product = (x.double() @ y.double()).float()
        if bias is None:
            return product.bfloat16()
        product = product * alpha  # float32
        return (float(np.float32(beta)) * bias.double() + product.double()).float().bfloat16()

    ortho_grad = grad.bfloat16()
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    ortho_grad.div_(ortho_grad.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram_matrix = addmm(None, ortho_grad, ortho_grad.T)
        gram_update = addmm(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
        ortho_grad = addmm(ortho_grad, gram_update, ortho_grad, beta=a)
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    return ortho_grad


@pytest.fixture
def exact_torch_products(monkeypatch):
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", _ns_exact_products)


def test_muon_signature_and_defaults_are_torchs():
    _signature_matches_torch(Muon, torch.optim.Muon)
    group = Muon([nn.Parameter(np.zeros((2, 3), np.float32))]).param_groups[0]
    tgroup = torch.optim.Muon([torch.nn.Parameter(torch.zeros(2, 3))]).param_groups[0]
    assert {k: v for k, v in group.items() if k != "params"} == {k: v for k, v in tgroup.items() if k != "params"}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("hp", MUON_CONFIGS, ids=MUON_IDS)
def test_muon_follows_torch_step_by_step(hp, dtype, exact_torch_products):
    _run_side_by_side(lambda ps: Muon(ps, **hp), lambda tps: torch.optim.Muon(tps, **hp), MUON_SHAPES, dtype,
                      _matrix_grads(MUON_SHAPES), steps=20)


def test_muon_each_option_changes_the_run():
    """(So the comparisons above test what they name.)"""
    finals = _final_values(Muon, MUON_CONFIGS, MUON_SHAPES, _matrix_grads, 20)
    for hp, final in zip(MUON_CONFIGS[1:], finals[1:]):
        if hp != {"lr": 0.02, "adjust_lr_fn": "original"}:  # (None is "original")
            assert np.abs(final - finals[0]).max() > 1e-6, hp
    np.testing.assert_array_equal(finals[MUON_CONFIGS.index({"lr": 0.02, "adjust_lr_fn": "original"})], finals[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("hp", MUON_CONFIGS[:4], ids=MUON_IDS[:4])
def test_muon_follows_torchs_own_bfloat16_products(hp, dtype):
    """Unpatched torch.optim.Muon: a product rounded to the neighbouring bfloat16 value changes
    an update by ~2^-8 of that element's step (lr * adjusted ratio * |O| <= 0.05 here)."""
    ps, tps = _params(MUON_SHAPES, dtype)
    opt, topt = Muon(ps, **hp), torch.optim.Muon(tps, **hp)
    grad_fn = _matrix_grads(MUON_SHAPES)
    for _ in range(20):
        _step_both(opt, topt, ps, tps, grad_fn)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=2e-3)


def test_newton_schulz_matches_torchs():
    """fastnn's bfloat16 Newton-Schulz against torch's on matrices of many shapes: equal but in
    rare elements (torch's own product order, see the module docstring)."""
    rng = np.random.default_rng(0)
    total = equal = 0
    for _ in range(150):
        m, n = (int(v) for v in rng.integers(1, 17, 2))
        for dtype in DTYPES:
            g = (rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-3, 3)).astype(dtype)
            ours = optimizers2._zeropower_via_newtonschulz(g, (3.4445, -4.7750, 2.0315), 5, 1e-7)
            theirs = torch_muon._zeropower_via_newtonschulz(torch.tensor(g), (3.4445, -4.7750, 2.0315), 5, 1e-7)
            assert ours.dtype == np.float32 and ours.shape == (m, n)
            theirs = theirs.float().numpy()
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=0.05)
            total += ours.size
            equal += int((ours == theirs).sum())
            np.testing.assert_array_equal(ours, _ns_exact_products(torch.tensor(g), (3.4445, -4.7750, 2.0315), 5,
                                                                   1e-7).float().numpy())
    assert equal / total > 0.99


def test_newton_schulz_of_zeros_is_zeros_as_torch():
    ours = optimizers2._zeropower_via_newtonschulz(np.zeros((3, 4)), (3.4445, -4.7750, 2.0315), 5, 1e-7)
    theirs = torch_muon._zeropower_via_newtonschulz(torch.zeros(3, 4), (3.4445, -4.7750, 2.0315), 5, 1e-7)
    np.testing.assert_array_equal(ours, theirs.float().numpy())
    np.testing.assert_array_equal(ours, 0.0)


def test_bfloat16_rounding_is_torchs():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        rng.standard_normal(20000) * 10.0 ** rng.integers(-44, 38, 20000),
        [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1e-40, 3.4e38, 3.3961e38, -3.4e38],
        1.0 + np.arange(-300, 300) * 2.0 ** -9,  # ties and their neighbours around 1
    ])
    for dtype in DTYPES:  # a float64 value goes through float32 first, as torch's conversion
        x = values.astype(dtype)
        theirs = torch.tensor(x).bfloat16().float().numpy()
        np.testing.assert_array_equal(optimizers2._round_bf16(x), theirs)
    tie = np.array([1.00390625 + 2.0 ** -40])  # double rounding: float32 makes it a tie, to even
    assert optimizers2._round_bf16(tie)[0] == torch.tensor(tie).bfloat16().item() == 1.0


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_muon_state_dict_layout_and_round_trip(dtype, exact_torch_products):
    hp = {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.05}
    grad_fn = _matrix_grads(MUON_SHAPES)
    ps, tps = _params(MUON_SHAPES, dtype)
    qs, _ = _params(MUON_SHAPES, dtype)
    opt, topt, straight = Muon(ps, **hp), torch.optim.Muon(tps, **hp), Muon(qs, **hp)

    def step_straight():
        for q, g in zip(qs, grad_fn([q.data for q in qs])):
            q.grad[...] = g
        straight.step()
    for _ in range(4):
        _step_both(opt, topt, ps, tps, grad_fn)
        step_straight()
    saved, tsaved = opt.state_dict(), topt.state_dict()
    assert sorted(saved["state"]) == sorted(tsaved["state"]) == [0, 1, 2]
    for i, slots in tsaved["state"].items():
        assert set(saved["state"][i]) == set(slots) == {"momentum_buffer"}
        np.testing.assert_allclose(saved["state"][i]["momentum_buffer"], slots["momentum_buffer"].numpy(),
                                   **TOL[dtype])
    assert [{k: v for k, v in g.items() if k != "params"} for g in saved["param_groups"]] == \
        [{k: v for k, v in g.items() if k != "params"} for g in tsaved["param_groups"]]
    resumed = Muon(ps, lr=0.5, nesterov=False, ns_steps=1)
    resumed.load_state_dict(saved)
    saved["state"][0]["momentum_buffer"][...] = 1e6
    assert {k: resumed.param_groups[0][k] for k in hp} == hp and resumed.param_groups[0]["nesterov"] is True
    for k in range(6):
        _step_both(resumed, topt, ps, tps, grad_fn)
        step_straight()
        _assert_same(ps, tps, dtype, f"resumed step {k + 1}")
        for p, q in zip(ps, qs):
            np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (1, 1, 1)])
def test_muon_takes_2d_parameters_only_as_torch(shape):
    message = "Muon only supports 2D parameters whereas we found a parameter with size: "
    with pytest.raises(ValueError, match=re.escape(message)):
        torch.optim.Muon([torch.nn.Parameter(torch.zeros(shape))])
    with pytest.raises(ValueError, match=re.escape(message + str(shape))):
        Muon([nn.Parameter(np.zeros(shape, np.float32))])
    ok = nn.Parameter(np.zeros((2, 3), np.float32))
    opt = Muon([ok])
    with pytest.raises(ValueError, match=re.escape(message + str(shape))):  # torch: only at the step
        opt.add_param_group({"params": [nn.Parameter(np.zeros(shape, np.float32))]})
    assert len(opt.param_groups) == 1
    Muon([ok, nn.Parameter(np.zeros((1, 1), np.float32)), nn.Parameter(np.zeros((7, 2)))])  # any 2-D, any dtype


def test_muon_skips_parameters_without_gradients_as_torch(exact_torch_products):
    grad_fn = _matrix_grads(MUON_SHAPES)
    ps, tps = _params(MUON_SHAPES, np.float64)
    opt, topt = Muon(ps, lr=0.02), torch.optim.Muon(tps, lr=0.02)
    for k in range(6):
        _step_both(opt, topt, ps, tps, grad_fn, skip=(0,) if k < 3 else (2,))
        _assert_same(ps, tps, np.float64, f"step {k + 1}")


MUON_BAD = [
    ({"lr": -1.0}, "Received: lr=-1.0"),
    ({"momentum": -0.1}, "Received: momentum=-0.1"),
    ({"weight_decay": -0.1}, "Received: weight_decay=-0.1"),
    ({"adjust_lr_fn": "sqrt"}, "Adjust learning rate function sqrt is not supported"),
]


@pytest.mark.parametrize("hp, message", MUON_BAD)
def test_muon_invalid_values_raise_value_error_as_torch(hp, message):
    with pytest.raises(ValueError):
        torch.optim.Muon([torch.nn.Parameter(torch.zeros(2, 2))], **hp)
    with pytest.raises(ValueError, match=re.escape(message)):
        Muon([nn.Parameter(np.zeros((2, 2), np.float32))], **hp)


@pytest.mark.parametrize("hp, message", [
    ({"ns_steps": 100}, "Number of steps must be less than 100"),
    ({"ns_coefficients": (1.0, 2.0)}, "Coefficients must be a tuple of exactly 3 values"),
])
def test_muon_values_torch_refuses_at_the_step_are_refused_at_construction(hp, message):
    tp = torch.nn.Parameter(torch.zeros(2, 2))
    topt = torch.optim.Muon([tp], **hp)
    tp.grad = torch.ones(2, 2)
    with pytest.raises(ValueError, match=message):
        topt.step()
    with pytest.raises(ValueError, match=message):
        Muon([nn.Parameter(np.zeros((2, 2), np.float32))], **hp)


@pytest.mark.parametrize("hp, error, message", [
    ({"ns_steps": -1}, ValueError, "Received: ns_steps=-1"),
    ({"ns_steps": 2.0}, TypeError, "Received: ns_steps=2.0"),
    ({"ns_coefficients": (1.0, math.nan, 2.0)}, ValueError, "Received: ns_coefficients=(1.0, nan, 2.0)"),
    ({"eps": -1e-7}, ValueError, "Received: eps=-1e-07"),
    ({"nesterov": 1}, TypeError, "nesterov must be True or False. Received: nesterov=1"),
    ({"lr": math.inf}, ValueError, "Received: lr=inf"),
])
def test_muon_other_bad_values(hp, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Muon([nn.Parameter(np.zeros((2, 2), np.float32))], **hp)


def test_muon_has_no_maximize_as_torch():
    with pytest.raises(TypeError):
        torch.optim.Muon([torch.nn.Parameter(torch.zeros(2, 2))], maximize=True)
    with pytest.raises(TypeError):
        Muon([nn.Parameter(np.zeros((2, 2), np.float32))], maximize=True)


# =============================================================================================
# the parameter's device (tests/fake_cupy.py, or real CuPy on a GPU)
def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()


@pytest.mark.parametrize("name", ["adafactor", "muon"])
def test_step_by_step_optimizers_on_the_gpu_like_on_the_cpu(xp, name):
    shapes = ADAFACTOR_SHAPES if name == "adafactor" else MUON_SHAPES
    grad_fn = _elementwise_grads(shapes) if name == "adafactor" else _matrix_grads(shapes)
    make = (lambda q: Adafactor(q, lr=0.1, weight_decay=0.1, d=1.5)) if name == "adafactor" else \
        (lambda q: Muon(q, lr=0.02))
    cpu, _ = _params(shapes, np.float32)
    gpu = [nn.Parameter(xp.asarray(p.data)) for p in cpu]
    opts = make(cpu), make(gpu)
    for _ in range(6):
        for ps, opt in zip((cpu, gpu), opts):
            for p, g in zip(ps, grad_fn([_host(p.data) for p in ps])):
                p.grad = g if ps is cpu else xp.asarray(g)
            opt.step()
    for p, q in zip(gpu, cpu):
        assert isinstance(p.data, xp.ndarray)
        np.testing.assert_allclose(_host(p.data), q.data, **TOL[np.float32])
    slots = [v for s in opts[1].state.values() for v in s.values() if hasattr(v, "dtype")]
    assert slots and all(isinstance(v, xp.ndarray) for v in slots)


def test_lbfgs_on_the_gpu_like_on_the_cpu(xp):
    runs = []
    for device in ("cpu", "cuda"):
        ps, _ = _params(LSQ_SHAPES, np.float64)
        if device == "cuda":
            ps = [nn.Parameter(xp.asarray(p.data)) for p in ps]
        opt = LBFGS(ps, line_search_fn="strong_wolfe", history_size=3, max_iter=5)

        def closure():
            opt.zero_grad()
            loss, grads = _least_squares([_host(p.data) for p in ps])
            for p, g in zip(ps, grads):
                p.grad = g if device == "cpu" else xp.asarray(g)
            return loss
        losses = [opt.step(closure) for _ in range(3)]
        runs.append((losses, [_host(p.data) for p in ps], opt.state[ps[0]]))
    (cpu_losses, cpu_values, _), (gpu_losses, gpu_values, gpu_state) = runs
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-10)
    for a, b in zip(gpu_values, cpu_values):
        np.testing.assert_allclose(a, b, **TOL[np.float64])
    assert isinstance(gpu_state["d"], xp.ndarray) and all(isinstance(v, xp.ndarray) for v in gpu_state["old_dirs"])


def test_lbfgs_state_follows_the_model_to_the_gpu_and_back(xp):
    """2 steps on the CPU, 2 on the GPU, 2 on the CPU again: the run all on the CPU (the history,
    a list of arrays, moves with the model)."""
    def run(devices):
        model = nn.Linear(4, 3)
        values, _ = _params(LSQ_SHAPES, np.float64)
        model.double()
        for p, v in zip(model.parameters(), values):
            p.data[...] = v.data
        opt = LBFGS(model.parameters(), history_size=3, max_iter=3)
        ps = model.parameters()

        def closure():
            opt.zero_grad()
            loss, grads = _least_squares([_host(p.data) for p in ps])
            for p, g in zip(ps, grads):
                p.grad = g if p.device == "cpu" else xp.asarray(g)
            return loss
        for device in devices:
            model.to(device)
            opt.step(closure)
            state = opt.state[ps[0]]
            assert all(_host(v) is v for v in state["old_dirs"]) == (device == "cpu")
        return [_host(p.data) for p in ps]
    for a, b in zip(run(["cpu", "cpu", "cuda", "cuda", "cpu", "cpu"]), run(["cpu"] * 6)):
        np.testing.assert_allclose(a, b, **TOL[np.float64])


def test_lbfgs_refuses_parameters_on_two_devices(xp):
    opt = LBFGS([nn.Parameter(np.zeros(2)), nn.Parameter(xp.zeros(2))])
    with pytest.raises(TypeError, match=re.escape("LBFGS needs every parameter on one device; they are on "
                                                  "['cpu', 'cuda']")):
        opt.step(lambda: 0.0)
