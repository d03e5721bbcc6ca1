"""Module and Optimizer hooks (torch's register_*_hook API), state_dict keywords / hooks / extra
state, and the smaller torch.nn.Module methods (get_parameter, set_submodule, to_empty, ...).

torch is the oracle where it is installed: the same hooks on the same model must see the same
shapes, run in the same order and give the same values and gradients."""
import numpy as np
import pytest

import fastnn.nn as nn
import fastnn.optim as optim
from fastnn.hooks import RemovableHandle
from fastnn.optim import optimizer as optimizer_mod

rng = np.random.default_rng(0)


def _mlp():
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()


def _torch_copy(torch, model):
    t = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    t.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    return t


# ---- forward hooks ---------------------------------------------------------------------------
def test_forward_pre_hook_replaces_input_and_hook_replaces_output_as_torch():
    torch = pytest.importorskip("torch")
    m = _mlp()
    t = _torch_copy(torch, m)
    for mod in (m, t):
        mod[0].register_forward_pre_hook(lambda mod_, args: args[0] * 0.5)  # a bare value: wrapped
        mod[2].register_forward_hook(lambda mod_, args, out: out + 1.0)
    x = rng.standard_normal((6, 4))
    np.testing.assert_allclose(m(x), t(torch.tensor(x)).detach().numpy(), rtol=1e-13, atol=1e-13)


def test_forward_hooks_with_kwargs_see_and_replace_keyword_arguments():
    seen = []

    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {**kwargs, "factor": 3.0}), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.append(kwargs["factor"]), with_kwargs=True)
    np.testing.assert_array_equal(m(np.ones(2), factor=2.0), 3 * np.ones(2))
    assert seen == [3.0]


def test_bad_pre_hook_return_with_kwargs_raises():
    m = nn.ReLU()
    m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        m(-np.ones((2, 3), np.float32))


def test_hook_order_prepend_and_removal():
    order = []
    m = nn.ReLU()
    h1 = m.register_forward_hook(lambda *a: order.append(1))
    m.register_forward_hook(lambda *a: order.append(2))
    m.register_forward_hook(lambda *a: order.append(0), prepend=True)
    m(np.ones((1, 2), np.float32))
    assert order == [0, 1, 2]
    assert isinstance(h1, RemovableHandle)
    h1.remove()
    h1.remove()  # twice: nothing
    order.clear()
    m(np.ones((1, 2), np.float32))
    assert order == [0, 2]
    assert len(m._forward_hooks) == 2


def test_handle_as_context_manager_removes_the_hook():
    calls = []
    m = nn.Tanh()
    with m.register_forward_hook(lambda *a: calls.append(1)):
        m(np.zeros((1, 1), np.float32))
    m(np.zeros((1, 1), np.float32))
    assert calls == [1] and not m._forward_hooks and not m._forward_hooks_with_kwargs


def test_always_call_hook_runs_when_forward_raises():
    calls = []
    m = nn.Linear(3, 2)
    m.register_forward_hook(lambda mod, args, out: calls.append(("always", out)), always_call=True)
    m.register_forward_hook(lambda mod, args, out: calls.append(("normal", out)))
    with pytest.raises(ValueError):
        m(np.ones((2, 7), np.float32))  # wrong in_features
    assert calls == [("always", None)]


def test_hooks_run_on_call_not_on_direct_forward():
    calls = []
    m = nn.ReLU()
    m.register_forward_hook(lambda *a: calls.append(1))
    m.forward(np.ones((1, 1), np.float32))
    assert calls == []
    m(np.ones((1, 1), np.float32))
    assert calls == [1]


def test_hooked_layer_is_not_fused_and_sees_the_pre_activation_output():
    torch = pytest.importorskip("torch")
    m = _mlp()
    t = _torch_copy(torch, m)
    got, want = [], []
    m[0].register_forward_hook(lambda mod, args, out: got.append(out.copy()))
    t[0].register_forward_hook(lambda mod, args, out: want.append(out.detach().numpy().copy()))
    x = rng.standard_normal((5, 4))
    m(x)
    t(torch.tensor(x))
    assert (got[0] < 0).any()  # before the ReLU: the Linear ran on its own
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13, atol=1e-13)


def test_forward_hooks_run_every_batch_of_fit():
    calls = []
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    model[0].register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    model.compile(optimizer="sgd", loss="cross_entropy")
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model.fit(x, y, batch_size=16, epochs=1, progress=False, shuffle=False)
    assert calls[:3] == [(16, 8), (16, 8), (8, 8)]


# ---- backward hooks --------------------------------------------------------------------------
def test_full_backward_hooks_change_gradients_as_torch():
    torch = pytest.importorskip("torch")
    m = _mlp()
    t = _torch_copy(torch, m)
    logs = ([], [])
    for mod, log in ((m, logs[0]), (t, logs[1])):
        def bh(mod_, gi, go, log=log):
            log.append((type(mod_).__name__, [tuple(g.shape) for g in gi], [tuple(g.shape) for g in go]))
            return tuple(g * 3 for g in gi)
        mod[1].register_full_backward_hook(bh)
        mod[2].register_full_backward_pre_hook(lambda mod_, go: (go[0] * 0.5,))
    x = rng.standard_normal((6, 4))
    dy = rng.standard_normal((6, 3))
    m(x)
    dx = m.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    t(tx).backward(torch.tensor(dy))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    for p, tp in zip(m.parameters(), t.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert logs[0] == logs[1] == [("ReLU", [(6, 5)], [(6, 5)])]


def test_backward_hook_sees_none_where_fit_skips_the_input_gradient():
    seen = []
    model = nn.Sequential(nn.Linear(4, 3))
    model[0].register_full_backward_hook(lambda mod, gi, go: seen.append(gi))
    model(np.ones((2, 4), np.float32))
    model.backward(np.ones((2, 3), np.float32), need_dx=False)
    assert seen == [(None,)]


def test_backward_hooks_run_once_through_super_backward_and_in_custom_modules():
    calls = []

    class Doubling(nn.ReLU):
        def backward(self, dy):
            return super().backward(dy) * 2

    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = Doubling()

        def forward(self, x):
            return self.inner(x)

        def backward(self, dy):
            return self.inner.backward(dy)  # a child's backward called by hand

    w = Wrapper()
    w.inner.register_full_backward_hook(lambda mod, gi, go: calls.append((gi[0].copy(), go[0].copy())))
    x = np.array([[-1.0, 2.0]])
    w(x)
    dx = w.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(dx, [[0.0, 2.0]])
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0][0], [[0.0, 2.0]])


def test_backward_hook_wrong_number_of_gradients_raises():
    m = nn.ReLU()
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    m(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        m.backward(np.ones((1, 2), np.float32))
    p = nn.ReLU()
    p.register_full_backward_pre_hook(lambda mod, go: ())
    p(np.ones((1, 2), np.float32))
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0, but expected 1"):
        p.backward(np.ones((1, 2), np.float32))


def test_regular_and_full_backward_hooks_cannot_be_mixed():
    m = nn.ReLU()
    m.register_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
        m.register_backward_hook(lambda *a: None)


def test_removed_backward_hook_no_longer_runs():
    calls = []
    m = nn.Tanh()
    h = m.register_full_backward_hook(lambda *a: calls.append(1))
    m(np.ones((1, 2), np.float32))
    m.backward(np.ones((1, 2), np.float32))
    h.remove()
    m.backward(np.ones((1, 2), np.float32))
    assert calls == [1]


# ---- state_dict keywords, hooks and extra state ------------------------------------------------
def test_state_dict_prefix_destination_keep_vars():
    m = _mlp()
    dest = {"other": 1}
    out = m.state_dict(destination=dest, prefix="model.")
    assert out is dest and list(out) == ["other", "model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]
    kept = m.state_dict(keep_vars=True)
    assert kept["0.weight"] is m[0].weight
    copied = m.state_dict()
    assert copied["0.weight"] is not m[0].weight.data
    np.testing.assert_array_equal(copied["0.weight"], m[0].weight.data)


def test_state_dict_hooks_order_and_arguments_as_torch():
    torch = pytest.importorskip("torch")
    m = _mlp()
    t = _torch_copy(torch, m)
    logs = ([], [])
    for mod, log in ((m, logs[0]), (t, logs[1])):
        mod.register_state_dict_pre_hook(lambda mod_, prefix, keep_vars, log=log: log.append(("pre", prefix, keep_vars)))
        mod[2].register_state_dict_pre_hook(lambda mod_, prefix, keep_vars, log=log: log.append(("pre2", prefix)))
        mod.register_state_dict_post_hook(
            lambda mod_, sd, prefix, meta, log=log: log.append(("post", prefix, sorted(sd))))
    m.state_dict()
    t.state_dict()
    assert logs[0] == logs[1]


def test_state_dict_post_hook_can_edit_in_place_but_not_return():
    m = nn.Linear(2, 2)
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.pop(prefix + "bias"))
    with pytest.raises(RuntimeError, match="must return None"):
        m.state_dict()
    n = nn.Linear(2, 2)
    n.register_state_dict_post_hook(lambda mod, sd, prefix, meta: sd.__setitem__(prefix + "extra", np.ones(1)))
    assert list(n.state_dict()) == ["weight", "bias", "extra"]


def test_load_state_dict_pre_hook_converts_old_keys():
    m = _mlp()
    src = _mlp()
    old = {k.replace("weight", "w"): v for k, v in src.state_dict().items()}

    def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
        for k in list(sd):
            if k.startswith(prefix) and k.endswith(".w"):
                sd[k[:-2] + ".weight"] = sd.pop(k)

    m.register_load_state_dict_pre_hook(rename)
    m.load_state_dict(old)
    assert "0.w" in old  # the caller's dict is not changed
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k], v)


def test_load_state_dict_pre_hook_error_messages_fail_the_load():
    m = nn.Linear(2, 2)
    m.register_load_state_dict_pre_hook(lambda mod, sd, prefix, meta, strict, miss, unex, errors:
                                        errors.append("checkpoint too old"))
    with pytest.raises(RuntimeError, match="checkpoint too old"):
        m.load_state_dict(nn.Linear(2, 2).state_dict())


def test_load_state_dict_post_hook_can_clear_missing_keys_as_torch():
    torch = pytest.importorskip("torch")
    for mod in (nn.Linear(3, 2), torch.nn.Linear(3, 2)):
        seen = []

        def post(mod_, keys, seen=seen):
            seen.append(list(keys.missing_keys))
            keys.missing_keys.clear()

        mod.register_load_state_dict_post_hook(post)
        w = np.ones((2, 3), np.float32)
        out = mod.load_state_dict({"weight": w if isinstance(mod, nn.Module) else torch.tensor(w)})
        assert seen == [["bias"]] and list(out.missing_keys) == []
    m = nn.Linear(3, 2)
    m.register_load_state_dict_post_hook(lambda mod, keys: None)
    with pytest.raises(RuntimeError, match="missing keys"):
        m.load_state_dict({"weight": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(m.weight.data, 1)  # torch's order: loaded, then the strict error


def test_load_state_dict_assign_takes_the_arrays_themselves():
    m = nn.Linear(3, 2)
    sd = {"weight": np.arange(6, dtype=np.float32).reshape(2, 3), "bias": np.zeros(2, np.float32)}
    m.load_state_dict(sd, assign=True)
    assert m.weight.data is sd["weight"]
    copy = nn.Linear(3, 2)
    copy.load_state_dict(sd)
    assert copy.weight.data is not sd["weight"]
    y = m(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(y, [[3.0, 12.0]])


class _Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.count = 0
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        self.count += 1
        return self.lin(x)

    def get_extra_state(self):
        return {"count": self.count}

    def set_extra_state(self, state):
        self.count = state["count"]


def test_extra_state_round_trip_and_missing_key():
    a = _Counter()
    a(np.ones((1, 2), np.float32))
    a(np.ones((1, 2), np.float32))
    sd = a.state_dict()
    assert list(sd) == ["_extra_state", "lin.weight", "lin.bias"] and sd["_extra_state"] == {"count": 2}
    b = _Counter()
    b.load_state_dict(sd)
    assert b.count == 2
    with pytest.raises(RuntimeError, match="_extra_state"):
        _Counter().load_state_dict({k: v for k, v in sd.items() if k != "_extra_state"})
    out = _Counter().load_state_dict({k: v for k, v in sd.items() if k != "_extra_state"}, strict=False)
    assert out.missing_keys == []  # as torch: only a strict load asks for it


def test_base_extra_state_methods_raise():
    with pytest.raises(RuntimeError, match="override get_extra_state"):
        nn.Linear(2, 2).get_extra_state()
    with pytest.raises(RuntimeError, match="override set_extra_state"):
        nn.Linear(2, 2).set_extra_state(None)


# ---- smaller torch.nn.Module methods ------------------------------------------------------------
def test_get_parameter_get_buffer_and_errors_as_torch():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert m.get_parameter("0.weight") is m[0].weight
    assert m.get_buffer("1.running_mean") is m[1].running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        m.get_parameter("0.nope")
    with pytest.raises(AttributeError, match="`running_mean` is not an nn.Parameter"):
        m.get_parameter("1.running_mean")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        m.get_buffer("0.weight")
    with pytest.raises(AttributeError, match="no child module '5'"):
        m.get_parameter("5.weight")


def test_set_submodule_and_register_module():
    m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU()))
    new = nn.Tanh()
    m.set_submodule("1.0", new)
    assert m[1][0] is new
    m.set_submodule("1.extra", nn.ReLU())
    assert "extra" in m[1]._modules
    with pytest.raises(AttributeError, match="has no attribute `missing`"):
        m.set_submodule("1.missing", nn.ReLU(), strict=True)
    with pytest.raises(ValueError, match="without a target"):
        m.set_submodule("", nn.ReLU())
    with pytest.raises(ValueError, match="is not an nn.Module"):
        m.set_submodule("0", 3)
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        m.set_submodule("0.weight", nn.ReLU())
    holder = nn.Module()
    holder.register_module("act", nn.ReLU())
    assert list(holder._modules) == ["act"]


def test_type_half_bfloat16_share_memory_to_empty_and_other_backends():
    m = nn.Linear(2, 2)
    assert m.type(np.float64) is m and m.weight.data.dtype == np.float64
    with pytest.raises(TypeError, match="float16"):
        m.half()
    with pytest.raises(TypeError, match="bfloat16"):
        m.bfloat16()
    assert m.share_memory() is m
    assert m.to_empty(device="cpu") is m and m.device == "cpu"
    for name in ("ipu", "xpu", "mtia"):
        with pytest.raises(RuntimeError, match=f"no {name} backend"):
            getattr(m, name)()


# ---- optimizer hooks -------------------------------------------------------------------------
def _one_step_model():
    m = nn.Linear(3, 2)
    m(np.ones((2, 3), np.float32))
    m.backward(np.ones((2, 2), np.float32))
    return m


def test_step_hooks_order_as_torch():
    torch = pytest.importorskip("torch")
    import importlib
    topt = importlib.import_module("torch.optim.optimizer")  # (torch.optim does not keep the name)
    logs = []
    for opt in (optim.AdamW(_one_step_model().parameters()),
                torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))])):
        log = []
        glob = (optimizer_mod.register_optimizer_step_pre_hook(lambda o, a, k, log=log: log.append("gpre"))
                if isinstance(opt, optim.Optimizer)
                else topt.register_optimizer_step_pre_hook(lambda o, a, k, log=log: log.append("gpre")))
        glob_post = (optimizer_mod.register_optimizer_step_post_hook(lambda o, a, k, log=log: log.append("gpost"))
                     if isinstance(opt, optim.Optimizer)
                     else topt.register_optimizer_step_post_hook(
                         lambda o, a, k, log=log: log.append("gpost")))
        opt.register_step_pre_hook(lambda o, a, k, log=log: log.append("pre"))
        opt.register_step_post_hook(lambda o, a, k, log=log: log.append("post"))
        if not isinstance(opt, optim.Optimizer):
            opt.param_groups[0]["params"][0].grad = torch.ones(2)
        opt.step()
        glob.remove()
        glob_post.remove()
        opt.step()
        logs.append(log)
    assert logs[0] == logs[1] == ["gpre", "pre", "post", "gpost", "pre", "post"]


def test_step_pre_hook_replaces_arguments_and_bad_return_raises():
    m = _one_step_model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    seen = []

    def closure():
        seen.append("closure")
        return 1.5

    opt.register_step_pre_hook(lambda o, args, kwargs: ((), {"closure": closure}))
    assert opt.step() == 1.5 and seen == ["closure"]
    bad = optim.SGD(m.parameters(), lr=0.1)
    bad.register_step_pre_hook(lambda o, args, kwargs: "nope")
    with pytest.raises(RuntimeError, match="new_args, new_kwargs"):
        bad.step()


def test_step_hooks_update_the_same_as_without():
    a, b = _one_step_model(), _one_step_model()
    b.load_state_dict(a.state_dict())
    b.weight.grad = a.weight.grad.copy()
    b.bias.grad = a.bias.grad.copy()
    oa, ob = optim.Adam(a.parameters(), lr=0.1), optim.Adam(b.parameters(), lr=0.1)
    calls = []
    ob.register_step_post_hook(lambda o, args, kwargs: calls.append(o.state[b.weight]["step"]))
    for _ in range(3):
        oa.step()
        ob.step()
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert calls == [1, 2, 3]  # the step ran once per call (Adam's step is the base class's)


def test_optimizer_state_dict_hooks():
    m = _one_step_model()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    opt.step()
    log = []
    opt.register_state_dict_pre_hook(lambda o: log.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "note": "hello"})
    sd = opt.state_dict()
    assert log == ["pre"] and sd["note"] == "hello"

    other = optim.SGD(m.parameters(), lr=0.5, momentum=0.9)

    def pre(o, sd):
        sd = dict(sd)
        sd.pop("note")
        sd["param_groups"] = [{**g, "lr": 0.25} for g in sd["param_groups"]]
        return sd

    other.register_load_state_dict_pre_hook(pre)
    other.register_load_state_dict_post_hook(lambda o: log.append(("post", o.param_groups[0]["lr"])))
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.25 and log[-1] == ("post", 0.25)
    assert "note" in sd  # the caller's dict is not changed
    np.testing.assert_array_equal(other.state[m.weight]["momentum_buffer"], opt.state[m.weight]["momentum_buffer"])


def test_optimizer_hook_prepend_and_type_aliases():
    m = _one_step_model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    order = []
    opt.register_state_dict_pre_hook(lambda o: order.append(1))
    opt.register_state_dict_pre_hook(lambda o: order.append(0), prepend=True)
    opt.state_dict()
    assert order == [0, 1]
    assert optim.Optimizer.OptimizerPreHook is optimizer_mod.OptimizerPreHook
    with pytest.raises(TypeError, match="hook must be callable"):
        opt.register_step_pre_hook(3)


def test_step_hooks_run_once_when_a_subclass_step_calls_super():
    class CountingSGD(optim.SGD):
        def step(self, closure=None):
            self.calls = getattr(self, "calls", 0) + 1
            return super().step(closure)

    m = _one_step_model()
    opt = CountingSGD(m.parameters(), lr=0.1)
    log = []
    opt.register_step_pre_hook(lambda o, a, k: log.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: log.append("post"))
    opt.step()
    assert opt.calls == 1 and log == ["pre", "post"]


def test_save_refuses_an_extra_state_that_is_not_an_array(tmp_path):
    import fastnn

    with pytest.raises(TypeError, match=r"state_dict\['_extra_state'\] is a dict"):
        fastnn.save(_Counter(), tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


# ---- hooks of every module (torch.nn.modules.module.register_module_*) -----------------------
def test_global_forward_and_backward_hooks_order_as_torch():
    torch = pytest.importorskip("torch")
    import importlib

    from fastnn.nn.modules import module as fmod

    tmod = importlib.import_module("torch.nn.modules.module")
    m = _mlp()
    t = _torch_copy(torch, m)
    logs = []
    for model, lib in ((m, fmod), (t, tmod)):
        log = []
        handles = [
            lib.register_module_forward_pre_hook(lambda mod, args, log=log: log.append(("gpre", type(mod).__name__))),
            lib.register_module_forward_hook(lambda mod, args, out, log=log: log.append(("gpost", type(mod).__name__))),
            lib.register_module_full_backward_hook(
                lambda mod, gi, go, log=log: log.append(("gback", type(mod).__name__))),
            model[0].register_forward_hook(lambda mod, args, out, log=log: log.append(("own", type(mod).__name__))),
        ]
        x = np.ones((2, 4))
        if model is m:
            model(x)
            model.backward(np.ones((2, 3)))
        else:
            tx = torch.tensor(x, requires_grad=True)
            model(tx).backward(torch.ones(2, 3, dtype=torch.float64))
        for h in handles:
            h.remove()
        logs.append(log)
    assert logs[0] == logs[1]
    assert ("gback", "Linear") in logs[0]


def test_global_hooks_removed_leave_no_trace():
    from fastnn.nn.modules import module as fmod

    calls = []
    h = fmod.register_module_forward_hook(lambda mod, args, out: calls.append(1))
    nn.ReLU()(np.ones((1, 2), np.float32))
    h.remove()
    nn.ReLU()(np.ones((1, 2), np.float32))
    assert calls == [1]
    assert not nn.module.has_hooks(nn.ReLU())


def test_registration_hooks_can_replace_what_is_registered():
    torch = pytest.importorskip("torch")
    import importlib

    from fastnn.nn.modules import module as fmod

    tmod = importlib.import_module("torch.nn.modules.module")
    seen = ([], [])
    for lib, log in ((fmod, seen[0]), (tmod, seen[1])):
        hs = [lib.register_module_parameter_registration_hook(lambda mod, name, p, log=log: log.append(("p", name))),
              lib.register_module_buffer_registration_hook(lambda mod, name, b, log=log: log.append(("b", name))),
              lib.register_module_module_registration_hook(lambda mod, name, sub, log=log: log.append(("m", name)))]
        try:
            if lib is fmod:
                nn.Sequential(nn.BatchNorm1d(2))
            else:
                torch.nn.Sequential(torch.nn.BatchNorm1d(2))
        finally:
            for h in hs:
                h.remove()
    assert seen[0] == seen[1] and ("b", "running_mean") in seen[0] and ("m", "0") in seen[0]
    replaced = nn.Parameter(np.full(3, 7.0, np.float32))
    h = fmod.register_module_parameter_registration_hook(lambda mod, name, p: replaced if name == "bias" else None)
    try:
        lin = nn.Linear(2, 3)
    finally:
        h.remove()
    assert lin.bias is replaced and lin._parameters["bias"] is replaced


def test_hooks_fire_on_layers_with_several_inputs_and_on_a_forward_without_inputs():
    calls = []
    for layer, args in ((nn.Bilinear(2, 3, 4), (np.ones((1, 2), np.float32), np.ones((1, 3), np.float32))),
                        (nn.EmbeddingBag(5, 2), (np.array([[0, 1], [2, 3]]),))):
        layer.register_forward_hook(lambda mod, a, out: calls.append((type(mod).__name__, len(a))))
        layer(*args)

    class Const(nn.Module):
        def forward(self):
            return np.ones(3)

    c = Const()
    c.register_forward_pre_hook(lambda mod, a: calls.append(("Const", len(a))))
    np.testing.assert_array_equal(c(), np.ones(3))  # torch allows a forward without inputs
    assert calls == [("Bilinear", 2), ("EmbeddingBag", 1), ("Const", 0)]  # the inputs as given, as torch
