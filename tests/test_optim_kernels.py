"""Fused optimizer updates vs fastnn.reference.optim: one step and 20 steps against the float64
rule, every ISA, random sizes (0, 1, primes), in-place semantics, bad input, thread-count
invariance, torch.optim as an optional oracle."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from strategies import EDGE_SIZES
from tolerances import assert_close

F32, F64 = np.float32, np.float64

# name -> (function name, slots, keyword hyperparameters, uses `step`, sgd first_step handling)
CONFIGS = {
    "sgd": ("sgd_update", ["momentum_buf"], dict(lr=0.05), False),
    "sgd_momentum": ("sgd_update", ["momentum_buf"], dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), False),
    "sgd_nesterov": ("sgd_update", ["momentum_buf"], dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), False),
    "adagrad": ("adagrad_update", ["sum_sq"], dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10), True),
    "adadelta": ("adadelta_update", ["square_avg", "acc_delta"], dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01), False),
    "rmsprop": ("rmsprop_update", ["square_avg"], dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.01), False),
    "rmsprop_centered_momentum": ("rmsprop_update", ["square_avg", "momentum_buf", "grad_avg"],
                                  dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.8, centered=True), False),
    "adam": ("adam_update", ["exp_avg", "exp_avg_sq"], dict(lr=0.01, beta1=0.8, beta2=0.99, weight_decay=0.01), True),
    "adamw": ("adam_update", ["exp_avg", "exp_avg_sq"], dict(lr=0.01, weight_decay=0.1, decoupled=True), True),
    "radam": ("radam_update", ["exp_avg", "exp_avg_sq"], dict(lr=0.01, beta2=0.9, weight_decay=0.01), True),
    # AMSGrad: the third slot is passed by keyword (see KEYWORD_SLOTS)
    "adam_amsgrad": ("adam_update", ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
                     dict(lr=0.01, beta1=0.8, beta2=0.99, weight_decay=0.01), True),
    "adamw_amsgrad": ("adam_update", ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
                      dict(lr=0.01, weight_decay=0.1, decoupled=True), True),
    # a large eps makes where eps enters the formula (inside or outside the sqrt) visible
    "adam_big_eps": ("adam_update", ["exp_avg", "exp_avg_sq"], dict(lr=0.01, eps=0.05), True),
    "radam_big_eps": ("radam_update", ["exp_avg", "exp_avg_sq"], dict(lr=0.01, beta2=0.9, eps=0.05), True),
    "rmsprop_big_eps": ("rmsprop_update", ["square_avg"], dict(lr=0.01, eps=0.05), False),
    "adagrad_big_eps": ("adagrad_update", ["sum_sq"], dict(lr=0.1, eps=0.05), True),
    "adadelta_big_eps": ("adadelta_update", ["square_avg", "acc_delta"], dict(lr=1.0, eps=0.05), False),
}


KEYWORD_SLOTS = ("max_exp_avg_sq",)  # optional slots after the positional ones


def _run(module, name, param, grad, slots, step):
    fn_name, slot_names, kw, uses_step = CONFIGS[name]
    kw = dict(kw)
    slots = list(slots)
    for i in range(len(slot_names) - 1, -1, -1):
        if slot_names[i] in KEYWORD_SLOTS:
            kw[slot_names[i]] = slots.pop(i)
    if uses_step:
        kw["step"] = step
    if fn_name == "sgd_update":
        kw["first_step"] = step == 1
        if kw.get("momentum", 0) == 0:
            slots = [None]
    getattr(module, fn_name)(param, grad, *slots, **kw)


def _state(rng, n, name, dtype=F32):
    _, slot_names, _, _ = CONFIGS[name]
    param = rng.standard_normal(n).astype(dtype)
    # slots start from a plausible mid-training state (non-negative where they are squares)
    squares = ("sum_sq", "square_avg", "acc_delta", "exp_avg_sq", "max_exp_avg_sq")
    slots = [np.abs(rng.standard_normal(n)).astype(dtype) * 0.1 if s in squares
             else (rng.standard_normal(n) * 0.1).astype(dtype) for s in slot_names]
    return param, slots


def _compare(rng, name, n, steps, op, fresh=False):
    param, slots = _state(rng, n, name)
    if fresh:  # the state an optimizer starts from: zero slots
        slots = [np.zeros_like(s) for s in slots]
    if name == "rmsprop_centered_momentum":
        slots[2] = np.zeros(n, F32)  # grad_avg^2 <= square_avg, as after any real history
    ref_param, ref_slots = param.astype(F64), [s.astype(F64) for s in slots]
    for step in range(1, steps + 1):
        grad = rng.standard_normal(n).astype(F32)
        _run(ops, name, param, grad, slots, step)
        _run(reference, name, ref_param, grad.astype(F64), ref_slots, step)
    assert_close(param, ref_param, op, F32, f"{name} param")
    for s, r in zip(slots, ref_slots):
        assert_close(s, r, op, F32, f"{name} slot")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_one_step_each_isa(name, isa, rng):
    _compare(rng, name, 1031, 1, "optim_step")


@pytest.mark.parametrize("fresh", [False, True], ids=["mid_training", "from_zero"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_twenty_steps(name, fresh, rng):
    _compare(rng, name, 257, 20, "optim_steps", fresh)


@given(name=st.sampled_from(list(CONFIGS)), n=st.sampled_from(EDGE_SIZES + [100_003]),
       steps=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_random_sizes(name, n, steps, seed):
    _compare(np.random.default_rng(seed), name, n, steps, "optim_step" if steps == 1 else "optim_steps")


def test_updates_in_place_multidimensional(rng):
    param = rng.standard_normal((7, 3, 5)).astype(F32)
    m, v = np.zeros_like(param), np.zeros_like(param)
    ids = [id(a) for a in (param, m, v)]
    before = param.copy()
    ops.adam_update(param, np.ones_like(param), m, v, step=1, lr=0.1)
    assert [id(a) for a in (param, m, v)] == ids
    np.testing.assert_allclose(param, before - 0.1, rtol=1e-6, atol=1e-6)  # first Adam step: lr * sign(g)
    np.testing.assert_allclose(m, 0.1, rtol=1e-6)  # (1 - beta1) rounded to float32


def test_grad_non_contiguous_is_fine(rng):
    param, grad = rng.standard_normal(50).astype(F32), rng.standard_normal(100).astype(F32)[::2]
    want = param - 0.1 * grad
    ops.sgd_update(param, grad, None, lr=0.1)
    np.testing.assert_allclose(param, want, rtol=1e-6)


def test_rejects_what_cannot_be_updated_in_place():
    p32, g32 = np.ones(4, F32), np.ones(4, F32)
    with pytest.raises(TypeError, match="float32.*got dtype float64"):
        ops.adam_update(np.ones(4), np.ones(4), np.zeros(4), np.zeros(4), step=1)
    with pytest.raises(TypeError, match="grad has dtype float64 but param has dtype float32"):
        ops.sgd_update(p32, np.ones(4), None, lr=0.1)
    strided = np.ones(8, F32)[::2]
    with pytest.raises(ValueError, match="param must be C-contiguous"):
        ops.sgd_update(strided, g32, None, lr=0.1)
    with pytest.raises(ValueError, match="exp_avg_sq must be C-contiguous"):
        ops.adam_update(p32, g32, np.zeros(4, F32), np.zeros(8, F32)[::2], step=1)
    with pytest.raises(ValueError, match=r"exp_avg must have the shape of param \(4,\), got \(5,\)"):
        ops.adam_update(p32, g32, np.zeros(5, F32), np.zeros(4, F32), step=1)
    with pytest.raises(TypeError, match="exp_avg must be a float32 array"):
        ops.adam_update(p32, g32, np.zeros(4), np.zeros(4, F32), step=1)
    ro = np.ones(4, F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="param must be a writable array"):
        ops.sgd_update(ro, g32, None, lr=0.1)
    with pytest.raises(ValueError, match="momentum_buf is needed when momentum != 0, got None"):
        ops.sgd_update(p32, g32, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="grad_avg is needed when centered=True, got None"):
        ops.rmsprop_update(p32, g32, np.zeros(4, F32), centered=True)
    with pytest.raises(ValueError, match="sum_sq is needed by adagrad, got None"):
        ops.adagrad_update(p32, g32, None, step=1)
    np.testing.assert_array_equal(p32, 1.0)  # nothing was touched by the failed calls


@pytest.mark.parametrize("call,match", [
    (lambda p, g, s: ops.sgd_update(p, g, None, lr=-0.1), "lr must be a finite number in .*got -0.1"),
    (lambda p, g, s: ops.sgd_update(p, g, s, lr=0.1, momentum=-1), "momentum .*got -1"),
    (lambda p, g, s: ops.sgd_update(p, g, s, lr=0.1, nesterov=True), "Nesterov .*momentum=0.0"),
    (lambda p, g, s: ops.sgd_update(p, g, s, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True), "dampening=0.5"),
    (lambda p, g, s: ops.sgd_update(p, g, s, lr=float("nan")), "lr .*got nan"),
    (lambda p, g, s: ops.adagrad_update(p, g, s, step=0), "step .*>= 1, got 0"),
    (lambda p, g, s: ops.adagrad_update(p, g, s, step=1, lr_decay=-1), "lr_decay .*got -1"),
    (lambda p, g, s: ops.adadelta_update(p, g, s, s.copy(), rho=1.5), "rho .*got 1.5"),
    (lambda p, g, s: ops.rmsprop_update(p, g, s, alpha=-0.5), "alpha .*got -0.5"),
    (lambda p, g, s: ops.adam_update(p, g, s, s.copy(), step=1, beta1=1.0), r"beta1 .*\[0.0, 1.0\), got 1.0"),
    (lambda p, g, s: ops.adam_update(p, g, s, s.copy(), step=1, beta2=-0.1), "beta2 .*got -0.1"),
    (lambda p, g, s: ops.adam_update(p, g, s, s.copy(), step=1, eps=-1e-8), "eps .*got -1e-08"),
    (lambda p, g, s: ops.radam_update(p, g, s, s.copy(), step=1, weight_decay=-0.1), "weight_decay .*got -0.1"),
])
def test_bad_hyperparameters(call, match):
    p, g, s = np.ones(3, F32), np.ones(3, F32), np.zeros(3, F32)
    with pytest.raises(ValueError, match=match):
        call(p, g, s)
    np.testing.assert_array_equal(p, 1.0)


def test_bad_types():
    p, g, s = np.ones(3, F32), np.ones(3, F32), np.zeros(3, F32)
    with pytest.raises(TypeError, match="step must be an integer, got float"):
        ops.adam_update(p, g, s, s.copy(), step=1.0)
    with pytest.raises(TypeError, match="lr must be a real number, got str"):
        ops.sgd_update(p, g, None, lr="0.1")
    with pytest.raises(TypeError, match="param must be a numpy.ndarray, got list"):
        ops.sgd_update([1.0], g, None, lr=0.1)


def test_thread_count_does_not_change_results(rng):
    n = 1_000_003
    p0, g = rng.standard_normal(n).astype(F32), rng.standard_normal(n).astype(F32)
    before = fastnn.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            p, m, v = p0.copy(), np.zeros(n, F32), np.zeros(n, F32)
            ops.adam_update(p, g, m, v, step=1)
            out.append((p, m, v))
    finally:
        fastnn.set_num_threads(before)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


TORCH = {
    "sgd_momentum": ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "adam": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01)),
    "adamw": ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "radam": ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.01)),
    "rmsprop_centered_momentum": ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.8, centered=True)),
    "adadelta": ("Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01)),
    "adagrad": ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10)),
}


@pytest.mark.parametrize("name", list(TORCH))
def test_matches_torch_optim(name, rng):
    torch = pytest.importorskip("torch")
    cls, kw = TORCH[name]
    n = 1000
    p = rng.standard_normal(n).astype(F32)
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    opt = getattr(torch.optim, cls)([tp], foreach=False, **kw)
    slots = [np.zeros(n, F32) for _ in CONFIGS[name][1]]
    for step in range(1, 21):
        g = rng.standard_normal(n).astype(F32)
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        _run(ops, name, p, g, slots, step)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_amsgrad_uses_the_running_maximum_of_exp_avg_sq():
    """After a large gradient, AMSGrad's denominator keeps its maximum: the slot holds the
    running max of exp_avg_sq exactly, and the step is the one Adam takes with that maximum."""
    n = 64
    param, m, v, vmax = np.ones(n, F32), np.zeros(n, F32), np.zeros(n, F32), np.zeros(n, F32)
    plain = [param.copy(), np.zeros(n, F32), np.zeros(n, F32)]
    seen = np.zeros(n, F32)
    for step, scale in enumerate([10.0, 1.0, 0.1, 0.1], start=1):
        g = np.full(n, scale, F32)
        ops.adam_update(param, g, m, v, step=step, lr=0.01, beta2=0.5, max_exp_avg_sq=vmax)
        ops.adam_update(plain[0], g, plain[1], plain[2], step=step, lr=0.01, beta2=0.5)
        seen = np.maximum(seen, v)
        np.testing.assert_array_equal(vmax, seen)
    assert (vmax > v).all()  # the gradients shrank: the maximum is no longer the current v
    # a larger denominator: AMSGrad moved less than Adam over the small-gradient steps
    assert (np.abs(param - 1) < np.abs(plain[0] - 1)).all()
    ref = [np.ones(n), np.zeros(n), np.zeros(n), np.zeros(n)]
    for step, scale in enumerate([10.0, 1.0, 0.1, 0.1], start=1):
        reference.adam_update(ref[0], np.full(n, scale), ref[1], ref[2], step=step, lr=0.01, beta2=0.5,
                              max_exp_avg_sq=ref[3])
    np.testing.assert_allclose(param, ref[0], rtol=1e-6)


def test_amsgrad_maximum_propagates_nan():
    param, m, v = np.ones(3, F32), np.zeros(3, F32), np.zeros(3, F32)
    vmax = np.array([np.nan, 0.0, 0.0], F32)
    ops.adam_update(param, np.array([1.0, np.nan, 1.0], F32), m, v, step=1, max_exp_avg_sq=vmax)
    assert np.isnan(vmax[:2]).all() and vmax[2] == v[2]  # as torch.maximum: NaN on either side wins


def test_amsgrad_slot_is_checked():
    p, g = np.ones(4, F32), np.ones(4, F32)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        ops.adam_update(p, g, np.zeros(4, F32), np.zeros(4, F32), step=1, max_exp_avg_sq=np.zeros(5, F32))
    with pytest.raises(TypeError, match="max_exp_avg_sq"):
        ops.adam_update(p, g, np.zeros(4, F32), np.zeros(4, F32), step=1, max_exp_avg_sq=np.zeros(4))
