"""fastnn.nn.utils.stateless (functional_call, swap_parameters), fastnn.func (functional_call,
stack_module_state), skip_init and the conv weight memory-format helpers, against torch 2.13."""
import re
import warnings

import numpy as np
import pytest

import fastnn.nn as nn
from fastnn import func
from fastnn.nn.utils.init_utils import skip_init
from fastnn.nn.utils.memory_format import (convert_conv2d_weight_memory_format,
                                           convert_conv3d_weight_memory_format)
from fastnn.nn.utils.stateless import functional_call, swap_parameters

torch = pytest.importorskip("torch")
tnn = torch.nn

DEPRECATION = re.escape("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0")


def rng(seed=0):
    return np.random.default_rng(seed)


def t(a):
    return torch.from_numpy(np.array(a))


def copy_weights(fmodel, tmodel):
    """torch's parameters and buffers <- fastnn's (same names), in torch's dtype."""
    fstate = dict(fmodel.named_parameters(remove_duplicate=False))
    fbuf = dict(fmodel.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for name, p in tmodel.named_parameters(remove_duplicate=False):
            p.copy_(t(fstate[name].data))
        for name, b in tmodel.named_buffers(remove_duplicate=False):
            b.copy_(t(fbuf[name]))


def random_state(module, seed, dtype=None):
    """{name: new random array} for every parameter and buffer name (floats only)."""
    r = rng(seed)
    out = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        out[name] = r.standard_normal(p.shape).astype(dtype or p.dtype)
    return out


def snapshot(module):
    return ({n: (p, p.data, p.data.copy()) for n, p in module.named_parameters(remove_duplicate=False)},
            {n: (b, b.copy()) for n, b in module.named_buffers(remove_duplicate=False)})


def assert_unchanged(module, snap):
    params, buffers = snap
    now = dict(module.named_parameters(remove_duplicate=False))
    assert set(now) == set(params)
    for n, (p, data, values) in params.items():
        assert now[n] is p and p.data is data
        np.testing.assert_array_equal(p.data, values)
    nowb = dict(module.named_buffers(remove_duplicate=False))
    assert set(nowb) == set(buffers)
    for n, (b, values) in buffers.items():
        assert nowb[n] is b and getattr(module.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) is b
        np.testing.assert_array_equal(b, values)


def fc(*args, **kwargs):
    """fastnn.nn.utils.stateless.functional_call, its FutureWarning checked."""
    with pytest.warns(FutureWarning, match=DEPRECATION):
        return functional_call(*args, **kwargs)


# ---- functional_call: values --------------------------------------------------------------------

def test_warning_is_torchs():
    lin, tlin = nn.Linear(2, 3), tnn.Linear(2, 3)
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        torch.nn.utils.stateless.functional_call(tlin, {}, torch.ones(1, 2))
    with warnings.catch_warnings(record=True) as fw:
        warnings.simplefilter("always")
        functional_call(lin, {}, np.ones((1, 2), np.float32))
    assert [(w.category, str(w.message)) for w in fw] == [(w.category, str(w.message)) for w in tw]
    assert fw[0].category is FutureWarning and fw[0].filename == __file__  # points at the caller


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_matches_torch_and_restores(dtype):
    lin = nn.Linear(3, 4).to(dtype=dtype)
    tlin = tnn.Linear(3, 4).to(torch.float64 if dtype == np.float64 else torch.float32)
    copy_weights(lin, tlin)
    snap = snapshot(lin)
    d = random_state(lin, 1)
    x = rng(2).standard_normal((5, 3)).astype(dtype)
    y = func.functional_call(lin, d, x)
    ty = torch.func.functional_call(tlin, {k: t(v) for k, v in d.items()}, t(x))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    np.testing.assert_allclose(y, x @ d["weight"].T + d["bias"], rtol=1e-5, atol=1e-6)
    assert_unchanged(lin, snap)


def test_partial_dict_and_empty_dict():
    lin = nn.Linear(3, 2).double()
    x = rng(3).standard_normal((4, 3))
    w = rng(4).standard_normal((2, 3))
    y = fc(lin, {"weight": w}, x)
    np.testing.assert_allclose(y, x @ w.T + lin.bias.data, rtol=1e-12)
    np.testing.assert_allclose(fc(lin, {}, x), lin(x), rtol=0)


def test_args_single_tuple_and_kwargs():
    lin = nn.Linear(3, 2).double()
    d = random_state(lin, 5)
    x = rng(6).standard_normal((4, 3))
    a = fc(lin, d, x)
    np.testing.assert_array_equal(fc(lin, d, (x,)), a)
    np.testing.assert_array_equal(fc(lin, d, kwargs={"x": x}), a)  # keyword-only input

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2).double()

        def forward(self, x, y, scale=1.0):
            return self.lin(x) * scale + y

    class TScaled(tnn.Module):
        def __init__(self):
            super().__init__()
            self.lin = tnn.Linear(3, 2).double()

        def forward(self, x, y, scale=1.0):
            return self.lin(x) * scale + y

    m, tm = Scaled(), TScaled()
    d = {"lin.weight": rng(7).standard_normal((2, 3)), "lin.bias": rng(8).standard_normal(2)}
    y0 = rng(9).standard_normal((4, 2))
    out = fc(m, d, (x, y0), {"scale": 3.0})
    tout = torch.func.functional_call(tm, {k: t(v) for k, v in d.items()}, (t(x), t(y0)), {"scale": 3.0})
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12)


def test_conv2d_matches_torch():
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    tconv = tnn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    d = random_state(conv, 10)
    x = rng(11).standard_normal((2, 2, 7, 6))
    snap = snapshot(conv)
    y = func.functional_call(conv, d, x)
    ty = torch.func.functional_call(tconv, {k: t(v) for k, v in d.items()}, t(x))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_unchanged(conv, snap)


def shared_pair():
    lin, tlin = nn.Linear(3, 3).double(), tnn.Linear(3, 3).double()
    m, tm = nn.Sequential(lin, nn.Tanh(), lin), tnn.Sequential(tlin, tnn.Tanh(), tlin)
    copy_weights(m, tm)
    return m, tm


class Tied(nn.Module):
    """Two Linear layers sharing one weight Parameter (b.weight = a.weight), own biases."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3).double(), nn.Linear(3, 3).double()
        self.b.weight = self.a.weight

    def forward(self, x):
        self._g = np.tanh(self.a(x))
        return self.b(self._g)

    def backward(self, dy):
        return self.a.backward(self.b.backward(dy) * (1 - self._g ** 2))


class TTied(tnn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = tnn.Linear(3, 3).double(), tnn.Linear(3, 3).double()
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


def tied_pair():
    m, tm = Tied(), TTied()
    copy_weights(m, tm)
    return m, tm


def test_tied_parameter_untied_by_tie_weights_false():
    m, tm = tied_pair()
    x = rng(40).standard_normal((4, 3))
    w = rng(41).standard_normal((3, 3))
    snap = snapshot(m)
    w0, ba, bb = m.a.weight.data, m.a.bias.data, m.b.bias.data
    for tie, second in ((True, w), (False, w0)):
        y = func.functional_call(m, {"a.weight": w}, x, tie_weights=tie)
        ty = torch.func.functional_call(tm, {"a.weight": t(w)}, t(x), tie_weights=tie)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(y, np.tanh(x @ w.T + ba) @ second.T + bb, rtol=1e-12)
        assert_unchanged(m, snap)
    w2 = rng(42).standard_normal((3, 3))
    with pytest.raises(ValueError) as te:
        torch.func.functional_call(tm, {"a.weight": t(w), "b.weight": t(w2)}, t(x))
    with pytest.raises(ValueError, match=re.escape("functional_call got multiple values for keys "
                                                   "['a.weight', 'b.weight'], which are tied")) as fe:
        func.functional_call(m, {"a.weight": w, "b.weight": w2}, x)
    assert str(fe.value) == str(te.value)
    y = func.functional_call(m, {"a.weight": w, "b.weight": w2}, x, tie_weights=False)
    np.testing.assert_allclose(y, np.tanh(x @ w.T + ba) @ w2.T + bb, rtol=1e-12)
    assert_unchanged(m, snap)


def test_tie_weights_one_name_replaces_both():
    m, tm = shared_pair()
    x = rng(12).standard_normal((4, 3))
    w = rng(13).standard_normal((3, 3))
    snap = snapshot(m)
    for tie in (True, False):
        y = func.functional_call(m, {"0.weight": w}, x, tie_weights=tie)
        ty = torch.func.functional_call(tm, {"0.weight": t(w)}, t(x), tie_weights=tie)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
        assert_unchanged(m, snap)
    b = m[0].bias.data
    np.testing.assert_allclose(func.functional_call(m, {"0.weight": w}, x),
                               np.tanh(x @ w.T + b) @ w.T + b, rtol=1e-12)  # both uses of the layer
    # a shared layer is one module: "0.weight" and "2.weight" are one slot, untied or not (torch's)
    np.testing.assert_allclose(func.functional_call(m, {"0.weight": w}, x, tie_weights=False),
                               np.tanh(x @ w.T + b) @ w.T + b, rtol=1e-12)


def test_tie_weights_two_values():
    m, tm = shared_pair()
    x = rng(14).standard_normal((2, 3))
    w1, w2 = rng(15).standard_normal((3, 3)), rng(16).standard_normal((3, 3))
    with pytest.raises(ValueError) as te:
        torch.func.functional_call(tm, {"0.weight": t(w1), "2.weight": t(w2)}, t(x))
    snap = snapshot(m)
    with pytest.raises(ValueError, match=re.escape("functional_call got multiple values for keys")) as fe:
        func.functional_call(m, {"0.weight": w1, "2.weight": w2}, x)
    assert str(fe.value) == str(te.value)
    assert_unchanged(m, snap)
    # the same array for both names is no error; untied, two values are used each at its place
    np.testing.assert_allclose(func.functional_call(m, {"0.weight": w1, "2.weight": w1}, x),
                               func.functional_call(m, {"0.weight": w1}, x), rtol=0)
    y = func.functional_call(m, {"0.weight": w1, "2.weight": w2}, x, tie_weights=False)
    ty = torch.func.functional_call(tm, {"0.weight": t(w1), "2.weight": t(w2)}, t(x), tie_weights=False)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    assert_unchanged(m, snap)


def test_strict_keys():
    m, tm = shared_pair()
    x = rng(17).standard_normal((2, 3))
    bad = {"0.weight": rng(18).standard_normal((3, 3)), "zz": np.zeros(3)}
    with pytest.raises(RuntimeError) as te:
        torch.func.functional_call(tm, {k: t(v) for k, v in bad.items()}, t(x), strict=True)
    with pytest.raises(RuntimeError, match="Error\\(s\\) in reparametrizing for Sequential") as fe:
        func.functional_call(m, bad, x, strict=True)
    assert str(fe.value) == str(te.value)
    # tie_weights fills the tied names in before the check: 0.* alone is complete
    full = {"0.weight": rng(19).standard_normal((3, 3)), "0.bias": rng(20).standard_normal(3)}
    y = func.functional_call(m, full, x, strict=True)
    ty = torch.func.functional_call(tm, {k: t(v) for k, v in full.items()}, t(x), strict=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError) as te:
        torch.func.functional_call(tm, {k: t(v) for k, v in full.items()}, t(x), strict=True, tie_weights=False)
    with pytest.raises(RuntimeError, match="Missing key\\(s\\): '2.bias', '2.weight'") as fe:
        func.functional_call(m, full, x, strict=True, tie_weights=False)
    assert str(fe.value) == str(te.value)
    # not strict: an unknown top-level name is a plain attribute for the call only (torch's)
    lin = nn.Linear(3, 3).double()
    func.functional_call(lin, {"extra": np.zeros(2)}, x)
    assert not hasattr(lin, "extra")


def test_exceptions_restore():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2).double()
            self.bn = nn.BatchNorm1d(2).double()

        def forward(self, x):
            self.bn(self.lin(x))
            raise ValueError("boom in forward")

    m = Boom()
    m.bn.eval()  # (in training the module's own running_var, not given, would move: correctly)
    m.lin(np.ones((2, 3)))
    m.lin.backward(np.ones((2, 2)))  # an own gradient to keep
    grad = m.lin.weight.grad.copy()
    snap = snapshot(m)
    d = {"lin.weight": rng(21).standard_normal((2, 3)), "bn.running_mean": np.zeros(2)}
    with pytest.raises(ValueError, match="boom in forward"):
        func.functional_call(m, d, np.ones((4, 3)))
    assert_unchanged(m, snap)
    np.testing.assert_array_equal(m.lin.weight.grad, grad)
    # a bad value after good ones: the good ones are put back
    with pytest.raises(TypeError, match="is not an instance of numpy.ndarray"):
        func.functional_call(m, {"lin.weight": d["lin.weight"], "bn.running_var": [1.0, 2.0]}, np.ones((4, 3)))
    assert_unchanged(m, snap)
    with pytest.raises(TypeError, match="must be given a float32 or float64 array, got int64"):
        func.functional_call(m, {"lin.bias": np.zeros(2, np.int64)}, np.ones((4, 3)))
    assert_unchanged(m, snap)
    # a bad path: torch's AttributeError text
    tm = tnn.Sequential(tnn.Linear(3, 2))
    with pytest.raises(AttributeError) as te:
        torch.func.functional_call(tm, {"c.weight": torch.ones(2)}, torch.ones(1, 3))
    with pytest.raises(AttributeError, match="Boom has no attribute `c`") as fe:
        func.functional_call(m, {"c.weight": np.ones(2)}, np.ones((1, 3)))
    assert str(te.value).replace("Sequential", "Boom") == str(fe.value)
    assert_unchanged(m, snap)
    # an exception inside swap_parameters restores the gradients too
    with pytest.raises(ValueError, match="inside"):
        with swap_parameters(m.lin, {"weight": d["lin.weight"]}):
            m.lin(np.ones((2, 3)))
            m.lin.backward(np.ones((2, 2)))
            raise ValueError("inside")
    assert_unchanged(m, snap)
    np.testing.assert_array_equal(m.lin.weight.grad, grad)


def test_bad_arguments():
    lin = nn.Linear(2, 2)
    x = np.ones((1, 2), np.float32)
    with pytest.raises(TypeError, match="module must be a fastnn.nn.Module"):
        func.functional_call(tnn.Linear(2, 2), {}, x)
    with pytest.raises(ValueError, match=re.escape("a dict, or a list/tuple of dicts, but got <class 'int'>")):
        func.functional_call(lin, 3, x)
    with pytest.raises(TypeError, match="parameters_and_buffers must be a dict"):
        fc(lin, [{}], x)
    with pytest.raises(RuntimeError, match="can't be used with nn.DataParallel"):
        func.functional_call(nn.DataParallel(lin), {}, x)


# ---- buffers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_buffers_updated_in_passed_arrays(dtype):
    bn, tbn = nn.BatchNorm2d(3).to(dtype=dtype), tnn.BatchNorm2d(3).to(torch.float32 if dtype == np.float32 else torch.float64)
    snap = snapshot(bn)
    r = rng(22)
    d = {"weight": r.standard_normal(3).astype(dtype), "bias": r.standard_normal(3).astype(dtype),
         "running_mean": r.standard_normal(3).astype(dtype), "running_var": r.uniform(0.5, 2, 3).astype(dtype),
         "num_batches_tracked": np.array(4, np.int64)}
    td = {k: t(v) for k, v in d.items()}
    arrays = dict(d)
    x = r.standard_normal((4, 3, 2, 5)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for _ in range(2):  # training: batch statistics, the passed running statistics move
        y = func.functional_call(bn, d, x)
        ty = torch.func.functional_call(tbn, td, t(x))
        np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    for k in d:
        assert d[k] is arrays[k]  # written in place, the same arrays (torch's: the same tensors)
        np.testing.assert_allclose(d[k], td[k].detach().numpy(), **tol)
    assert int(d["num_batches_tracked"]) == 6
    assert_unchanged(bn, snap)  # the module's own running statistics did not move (torch's neither)
    np.testing.assert_array_equal(tbn.running_mean.numpy(), 0)
    bn.eval(), tbn.eval()  # eval: the passed running statistics are used
    y = func.functional_call(bn, (dict(list(d.items())[:2]), dict(list(d.items())[2:])), x)
    ty = torch.func.functional_call(tbn, td, t(x))
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    assert int(d["num_batches_tracked"]) == 6


def test_reassigned_buffer_written_back_to_dict():
    class Count(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("foo", np.zeros(1))

        def forward(self, x):
            self.foo = self.foo + 1  # a new array, not in place
            return x + self.foo

    class TCount(tnn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("foo", torch.zeros(1, dtype=torch.float64))

        def forward(self, x):
            self.foo = self.foo + 1
            return x + self.foo

    m, tm = Count(), TCount()
    a, ta = {"foo": np.zeros(1)}, {"foo": torch.zeros(1, dtype=torch.float64)}
    y = fc(m, a, np.ones(2))
    ty = torch.func.functional_call(tm, ta, torch.ones(2, dtype=torch.float64))
    np.testing.assert_array_equal(y, ty.numpy())
    assert a["foo"][0] == ta["foo"][0] == 1.0
    assert m.foo[0] == tm.foo[0] == 0.0 and m._buffers["foo"] is m.foo
    # a tuple of dicts is merged into a new dict: the caller's dicts are not written back (torch's)
    b, tb = {"foo": np.zeros(1)}, {"foo": torch.zeros(1, dtype=torch.float64)}
    func.functional_call(m, (b,), np.ones(2))
    torch.func.functional_call(tm, (tb,), torch.ones(2, dtype=torch.float64))
    assert b["foo"][0] == tb["foo"][0] == 0.0


# ---- swap_parameters: gradients -----------------------------------------------------------------

def torch_grads(tm, d, x, dy, buffers=None, extra=(), tie_weights=True):
    """torch's output, {name: d loss / d given parameter}, d loss / dx and the gradients of the
    module's own tensors ``extra`` (loss = sum(y * dy)); ``buffers`` (tensors) passed as they are."""
    leaves = {k: t(v).requires_grad_() for k, v in d.items()}
    tx = t(x).requires_grad_()
    y = torch.func.functional_call(tm, {**leaves, **(buffers or {})}, tx, tie_weights=tie_weights)
    grads = torch.autograd.grad(y, list(leaves.values()) + [tx] + list(extra), t(dy))
    n = len(leaves)
    return (y.detach().numpy(), dict(zip(leaves, (g.numpy() for g in grads[:n]))), grads[n].numpy(),
            [g.numpy() for g in grads[n + 1:]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swap_parameters_gradients_mlp(dtype):
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-5)
    m = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).to(dtype=dtype)
    tm = tnn.Sequential(tnn.Linear(3, 5), tnn.Tanh(), tnn.Linear(5, 2)).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    x, dy = rng(23).standard_normal((4, 3)).astype(dtype), rng(24).standard_normal((4, 2)).astype(dtype)
    m(x)
    m.backward(dy)  # the module's own gradients, to be kept
    own = {n: p.grad.copy() for n, p in m.named_parameters()}
    snap = snapshot(m)
    d = random_state(m, 25)
    ty, tgrads, tdx, _ = torch_grads(tm, d, x, dy)
    with swap_parameters(m, d) as grads:
        assert m.get_parameter("0.weight").data is d["0.weight"]
        assert not m.get_parameter("0.weight").has_grad
        y = m(x)
        dx = m.backward(dy)
        inside = {n: m.get_parameter(n).grad.copy() for n in d}
        assert grads == {}
    np.testing.assert_allclose(y, ty, **tol)
    np.testing.assert_allclose(dx, tdx, **tol)
    assert set(grads) == set(tgrads) == set(d)
    for n in d:
        assert grads[n].dtype == dtype
        np.testing.assert_allclose(grads[n], tgrads[n], **tol)
        np.testing.assert_array_equal(inside[n], grads[n])
    assert_unchanged(m, snap)
    for n, p in m.named_parameters():
        np.testing.assert_array_equal(p.grad, own[n])


def test_swap_parameters_gradients_conv_bn_shared():
    conv, tconv = nn.Conv2d(2, 2, 3, padding=1).double(), tnn.Conv2d(2, 2, 3, padding=1).double()
    m = nn.Sequential(conv, nn.BatchNorm2d(2).double(), nn.ReLU(), conv)
    tm = tnn.Sequential(tconv, tnn.BatchNorm2d(2).double(), tnn.ReLU(), tconv)
    copy_weights(m, tm)
    r = rng(26)
    params = {"0.weight": r.standard_normal((2, 2, 3, 3)), "1.weight": r.uniform(0.5, 1.5, 2),
              "1.bias": r.standard_normal(2)}
    bufs = {"1.running_mean": r.standard_normal(2), "1.running_var": r.uniform(0.5, 2, 2),
            "1.num_batches_tracked": np.array(3)}
    tbufs = {k: t(v) for k, v in bufs.items()}
    x, dy = r.standard_normal((3, 2, 4, 4)), r.standard_normal((3, 2, 4, 4))
    ty, tgrads, tdx, (tbias,) = torch_grads(tm, params, x, dy, tbufs, extra=[tconv.bias])
    snap = snapshot(m)
    with swap_parameters(m, {**params, **bufs}) as grads:
        y = m(x)
        dx = m.backward(dy)
    np.testing.assert_allclose(y, ty, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-9, atol=1e-11)
    # 0.weight and its tied name 3.weight share one gradient: the sum of both uses (torch's)
    assert set(grads) == {"0.weight", "3.weight", "1.weight", "1.bias"}
    assert grads["3.weight"] is grads["0.weight"]
    for n in ("0.weight", "1.weight", "1.bias"):
        np.testing.assert_allclose(grads[n], tgrads[n], rtol=1e-9, atol=1e-11)
    # the conv bias was not given: its gradient (both uses) went to the module's own Parameter
    np.testing.assert_allclose(m[0].bias.grad, tbias, rtol=1e-9, atol=1e-11)
    for k in bufs:  # the passed running statistics moved as torch's passed tensors did
        np.testing.assert_allclose(bufs[k], tbufs[k].numpy(), rtol=1e-12)
    assert_unchanged(m, snap)


def test_swap_parameters_optimizer_step_updates_passed_arrays():
    from fastnn.optim import SGD

    lin = nn.Linear(2, 1).double()
    w, w_start = np.ones((1, 2)), lin.weight.data.copy()
    b_start = lin.bias.data.copy()
    opt = SGD(lin.parameters(), lr=0.5)
    x = np.array([[1.0, 2.0]])
    with swap_parameters(lin, {"weight": w}) as grads:
        lin(x)
        lin.backward(np.ones((1, 1)))
        opt.step()
    np.testing.assert_array_equal(grads["weight"], x)
    np.testing.assert_array_equal(w, 1 - 0.5 * x)  # the passed array was stepped in place
    np.testing.assert_array_equal(lin.weight.data, w_start)  # the module's own weight was not
    np.testing.assert_array_equal(lin.bias.data, b_start - 0.5)  # the bias, not given, is the module's own


def test_empty_and_size_one_batches():
    lin, tlin = nn.Linear(3, 1).double(), tnn.Linear(3, 1).double()
    d = random_state(lin, 50)
    for n in (0, 1):
        x = rng(51).standard_normal((n, 3))
        y = func.functional_call(lin, d, x)
        ty = torch.func.functional_call(tlin, {k: t(v) for k, v in d.items()}, t(x))
        assert y.shape == (n, 1)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
        with swap_parameters(lin, d) as grads:
            lin(x)
            lin.backward(np.ones((n, 1)))
        np.testing.assert_allclose(grads["weight"], x.sum(0, keepdims=True), rtol=1e-12)


def test_swap_parameters_running_stats_match_torch():
    bn, tbn = nn.BatchNorm2d(2).double(), tnn.BatchNorm2d(2).double()
    d = {"running_mean": np.zeros(2), "running_var": np.ones(2)}
    td = {k: t(v) for k, v in d.items()}
    x = rng(27).standard_normal((3, 2, 2, 2))
    with swap_parameters(bn, d) as grads:
        bn(x)
    torch.func.functional_call(tbn, td, t(x))
    for k in d:
        np.testing.assert_allclose(d[k], td[k].numpy(), rtol=1e-12)
    assert grads == {}  # no backward ran


def test_swap_parameters_tied_gradients():
    m, tm = tied_pair()
    x, dy = rng(28).standard_normal((4, 3)), rng(29).standard_normal((4, 3))
    w, w2 = rng(30).standard_normal((3, 3)), rng(31).standard_normal((3, 3))
    own = m.a.weight
    snap = snapshot(m)
    # tied: one Parameter (the module's own) holds w for both names, its gradient the sum of both uses
    ty, tgrads, tdx, tbias = torch_grads(tm, {"a.weight": w}, x, dy, extra=[tm.a.bias, tm.b.bias])
    with swap_parameters(m, {"a.weight": w}) as grads:
        assert m.a.weight is own and m.b.weight is own and own.data is w
        y = m(x)
        dx = m.backward(dy)
    assert set(grads) == {"a.weight", "b.weight"} and grads["a.weight"] is grads["b.weight"]
    np.testing.assert_allclose(y, ty, rtol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["a.weight"], tgrads["a.weight"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.a.bias.grad, tbias[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.b.bias.grad, tbias[1], rtol=1e-10, atol=1e-12)
    assert_unchanged(m, snap)
    m.zero_grad()
    # untied with two values: each its own gradient, as torch's autograd w.r.t. two tensors
    ty, tgrads, tdx, _ = torch_grads(tm, {"a.weight": w, "b.weight": w2}, x, dy, tie_weights=False)
    with swap_parameters(m, {"a.weight": w, "b.weight": w2}, tie_weights=False) as grads:
        assert m.a.weight is not own and m.a.weight.data is w
        assert m.b.weight is not own and m.b.weight.data is w2
        y = m(x)
        dx = m.backward(dy)
    np.testing.assert_allclose(y, ty, rtol=1e-12)
    for k in ("a.weight", "b.weight"):
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=1e-10, atol=1e-12)
    assert not own.has_grad
    # untied: a.weight gets a Parameter of its own for the block, b keeps the module's
    with swap_parameters(m, {"a.weight": w, "b.weight": w2}, tie_weights=False):
        assert m.a.weight is not own and m.a.weight.data is w
        assert m.b.weight is not own and m.b.weight.data is w2
    with swap_parameters(m, {"a.weight": w}, tie_weights=False):
        assert m.a.weight is not own and m.b.weight is own and own.data is snap[0]["a.weight"][1]
    assert m.a.weight is own and m.b.weight is own
    assert_unchanged(m, snap)


# ---- fastnn.func ---------------------------------------------------------------------------------

def test_func_tuple_of_dicts_and_errors():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()
    tm = tnn.Sequential(tnn.Linear(3, 2), tnn.BatchNorm1d(2)).double()
    params = random_state(m, 29)
    buffers = {"1.running_mean": rng(30).standard_normal(2), "1.running_var": np.full(2, 2.0)}
    x = rng(31).standard_normal((5, 3))
    m.eval(), tm.eval()
    y = func.functional_call(m, (params, buffers), x)
    ty = torch.func.functional_call(tm, ({k: t(v) for k, v in params.items()},
                                         {k: t(v) for k, v in buffers.items()}), t(x))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_array_equal(func.functional_call(m, [params, buffers], x), y)
    with pytest.raises(ValueError) as te:
        torch.func.functional_call(tm, ({"0.bias": torch.ones(2)}, {"0.bias": torch.ones(2)}), t(x))
    with pytest.raises(ValueError, match="appeared in multiple dictionaries") as fe:
        func.functional_call(m, ({"0.bias": np.ones(2)}, {"0.bias": np.ones(2)}), x)
    assert str(fe.value) == str(te.value)
    with pytest.raises(ValueError, match="^Expected all elements of parameter_and_buffer_dicts to be dictionaries$"):
        func.functional_call(m, ({}, 3), x)
    with pytest.raises(ValueError, match="but got <class 'str'>"):
        func.functional_call(m, "weight", x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.func's own: no deprecation warning
        func.functional_call(m, {}, x)


def test_stack_module_state_matches_torch():
    models = [nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double() for _ in range(3)]
    tmodels = [tnn.Sequential(tnn.Linear(3, 4), tnn.BatchNorm1d(4)).double() for _ in range(3)]
    x = rng(32).standard_normal((5, 3))
    for i, (m, tm) in enumerate(zip(models, tmodels)):
        m(x + i)  # different running statistics per model
        copy_weights(m, tm)
    params, buffers = func.stack_module_state(models)
    tparams, tbuffers = torch.func.stack_module_state(tmodels)
    assert list(params) == list(tparams) and list(buffers) == list(tbuffers)
    for k in tparams:
        assert params[k].shape == tuple(tparams[k].shape) and params[k].dtype == np.float64
        np.testing.assert_array_equal(params[k], tparams[k].detach().numpy())
    for k in tbuffers:
        assert params.get(k) is None and buffers[k].shape == tuple(tbuffers[k].shape)
        assert buffers[k].dtype == tbuffers[k].numpy().dtype
        np.testing.assert_array_equal(buffers[k], tbuffers[k].numpy())
    # model i's slice through functional_call (on model 0) is model i's own forward
    for i, m in enumerate(models):
        m.eval()
        models[0].eval()
        y = func.functional_call(models[0], ({k: v[i] for k, v in params.items()},
                                             {k: v[i] for k, v in buffers.items()}), x)
        np.testing.assert_allclose(y, m(x), rtol=1e-12)
    params["0.weight"][0] = 0.0  # copies, not views of the models' arrays
    assert not np.all(models[0][0].weight.data == 0)
    one_p, one_b = func.stack_module_state(nn.ModuleList([nn.Linear(2, 1)]))
    assert one_p["weight"].shape == (1, 1, 2) and one_b == {}


def test_stack_module_state_errors():
    cases = [([], []),
             ([nn.Linear(2, 3), nn.Linear(2, 3).eval()], [tnn.Linear(2, 3), tnn.Linear(2, 3).eval()]),
             ([nn.Linear(2, 3), nn.Conv2d(2, 2, 1)], [tnn.Linear(2, 3), tnn.Conv2d(2, 2, 1)]),
             ([nn.Linear(2, 3), nn.Linear(3, 3)], [tnn.Linear(2, 3), tnn.Linear(3, 3)])]
    a, ta = nn.Linear(2, 3), tnn.Linear(2, 3)
    a.bias.requires_grad = False
    ta.bias.requires_grad_(False)
    cases.append(([nn.Linear(2, 3), a], [tnn.Linear(2, 3), ta]))
    for fmodels, tmodels in cases:
        with pytest.raises(RuntimeError) as te:
            torch.func.stack_module_state(tmodels)
        with pytest.raises(RuntimeError) as fe:
            func.stack_module_state(fmodels)
        assert str(fe.value) == str(te.value)
    with pytest.raises(KeyError):
        func.stack_module_state([nn.Linear(2, 3), nn.Linear(2, 3, bias=False)])


# ---- skip_init ----------------------------------------------------------------------------------

def test_skip_init():
    m = skip_init(nn.Linear, 5, 2, bias=False)
    assert isinstance(m, nn.Linear) and m.weight.shape == (2, 5) and m.bias is None
    m = skip_init(nn.Linear, in_features=6, out_features=1, device="cpu")
    assert m.weight.shape == (1, 6) and m.device == "cpu"

    class WithDevice(nn.Module):
        def __init__(self, n, device=None):
            super().__init__()
            self.got = device
            self.w = nn.Parameter(np.zeros(n))

    assert skip_init(WithDevice, 3).got == "cpu"
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.skip_init(int)
    with pytest.raises(RuntimeError, match="Expected a Module; got <class 'int'>") as fe:
        skip_init(int)
    assert str(fe.value) == str(te.value)
    with pytest.raises(TypeError, match="issubclass"):
        skip_init(3)


# ---- memory formats -----------------------------------------------------------------------------

def conv_model():
    return nn.Sequential(nn.Conv2d(2, 2, 3), nn.ReLU(), nn.Sequential(nn.ConvTranspose2d(2, 2, 2)))


@pytest.mark.parametrize("fmt", ["channels_last", "contiguous_format", torch.channels_last,
                                 torch.contiguous_format])
def test_conv2d_memory_format_is_identity(fmt):
    m = conv_model()
    snap = snapshot(m)
    x = rng(33).standard_normal((1, 2, 5, 5)).astype(np.float32)
    y = m(x)
    assert convert_conv2d_weight_memory_format(m, fmt) is m
    assert_unchanged(m, snap)
    np.testing.assert_array_equal(m(x), y)
    assert convert_conv3d_weight_memory_format(m, fmt) is m  # no 3-d conv in it: nothing to check


@pytest.mark.parametrize("fmt", ["channels_last_3d", "contiguous_format", torch.channels_last_3d])
def test_conv3d_memory_format_is_identity(fmt):
    m = nn.Sequential(nn.Conv3d(1, 2, 2), nn.ConvTranspose3d(2, 1, 2))
    snap = snapshot(m)
    assert convert_conv3d_weight_memory_format(m, fmt) is m
    assert_unchanged(m, snap)


@pytest.mark.parametrize("fmt", ["channels_last_3d", "preserve_format"])
def test_memory_format_errors_as_torch(fmt):
    tfmt = getattr(torch, fmt)
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.convert_conv2d_weight_memory_format(tnn.Conv2d(2, 2, 1), tfmt)
    with pytest.raises(RuntimeError) as fe:
        convert_conv2d_weight_memory_format(conv_model(), fmt)
    assert str(fe.value) == str(te.value)
    fmt3 = "channels_last" if fmt == "channels_last_3d" else fmt
    with pytest.raises(RuntimeError) as te:
        torch.nn.utils.convert_conv3d_weight_memory_format(tnn.Conv3d(2, 2, 1), getattr(torch, fmt3))
    with pytest.raises(RuntimeError) as fe:
        convert_conv3d_weight_memory_format(nn.Conv3d(2, 2, 1), fmt3)
    assert str(fe.value) == str(te.value)
    # both are fine on a model without convolutions
    lin = nn.Linear(2, 2)
    assert convert_conv2d_weight_memory_format(lin, tfmt) is lin


@pytest.mark.parametrize("bad", ["nhwc", "channels_lastx", 3, None, "xchannels_last"])
def test_memory_format_invalid(bad):
    for f in (convert_conv2d_weight_memory_format, convert_conv3d_weight_memory_format):
        with pytest.raises(ValueError, match=re.escape(f"memory_format={bad!r}")):
            f(nn.Linear(2, 2), bad)
        with pytest.raises(TypeError):
            f(conv_model(), bad)
    with pytest.raises(TypeError, match="module must be a fastnn.nn.Module"):
        convert_conv2d_weight_memory_format("conv", "channels_last")


def test_scalar_and_non_contiguous_substitutes():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(np.array(2.0))

        def forward(self, x):
            self._x = x
            return x * self.s.data

        def backward(self, dy):
            self.s.add_grad(np.sum(dy * self._x))
            return dy * self.s.data

    m = Scale()
    x = np.arange(3.0)
    s = np.array(5.0)
    with swap_parameters(m, {"s": s}):
        assert m.s.data is s and m.s.data.shape == ()  # kept 0-d, not made (1,)
    np.testing.assert_array_equal(func.functional_call(m, {"s": s}, x), 5 * x)
    np.testing.assert_array_equal(func.functional_call(m, {"s": np.float64(4.0)}, x), 4 * x)  # a NumPy scalar
    with swap_parameters(m, {"s": s}) as grads:
        assert m.s.data is s
        m(x)
        np.testing.assert_array_equal(m.backward(np.ones(3)), np.full(3, 5.0))
    assert grads["s"].shape == () and float(grads["s"]) == 3.0  # the substitute's shape (torch's)
    np.testing.assert_array_equal(m.s.data, [2.0])  # (fastnn's own Parameter holds a 0-d value as (1,))
    lin = nn.Linear(3, 2).double()
    w = rng(60).standard_normal((3, 2)).T  # (2, 3), not C-contiguous: used as a contiguous copy
    xx = rng(61).standard_normal((4, 3))
    np.testing.assert_allclose(func.functional_call(lin, {"weight": w}, xx), xx @ w.T + lin.bias.data, rtol=1e-12)
