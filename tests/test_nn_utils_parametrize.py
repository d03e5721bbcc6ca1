"""fastnn.nn.utils.parametrize / parametrizations against torch.nn.utils.parametrize(ations)."""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.utils.parametrizations as TPZ  # noqa: E402
import torch.nn.utils.parametrize as TP  # noqa: E402

import fastnn  # noqa: E402
import fastnn.nn as nn  # noqa: E402
from fastnn.nn.module import Parameter  # noqa: E402
from fastnn.nn.utils import parametrizations as PZ  # noqa: E402
from fastnn.nn.utils import parametrize as P  # noqa: E402
from fastnn.nn.utils.parametrizations import matrix_exp  # noqa: E402
from fastnn.optim import SGD  # noqa: E402

# the old hook-style weight_norm warns as torch's (its own test below checks the warning)
pytestmark = pytest.mark.filterwarnings("ignore:`fastnn.nn.utils.weight_norm` is deprecated:FutureWarning")

TOL = {np.float64: 1e-12, np.float32: 2e-5}
TDT = {np.float64: torch.float64, np.float32: torch.float32}


# ---- parametrizations written twice: fastnn (with backward) and torch (autograd) ------------
class Symmetric(nn.Module):
    def forward(self, X):
        return np.triu(X) + np.triu(X, 1).T

    def backward(self, dW):
        return np.triu(dW) + np.tril(dW, -1).T

    def right_inverse(self, A):
        return np.triu(A)


class TSymmetric(torch.nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).T

    def right_inverse(self, A):
        return A.triu()


class Scale(nn.Module):
    """W * s with a learnable s of shape (1,)."""

    def __init__(self, s=1.5):
        super().__init__()
        self.scale = Parameter(np.array([s]))

    def forward(self, X):
        self._x = X
        return X * self.scale.data.astype(X.dtype)

    def backward(self, dW):
        self.scale.add_grad(np.array([np.sum(dW * self._x)], self.scale.data.dtype))
        return dW * self.scale.data.astype(dW.dtype)


class TScale(torch.nn.Module):
    def __init__(self, s=1.5):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([s], dtype=torch.float64))

    def forward(self, X):
        return X * self.scale.to(X.dtype)


class TanhParam(nn.Module):
    def forward(self, X):
        self._y = np.tanh(X)
        return self._y

    def backward(self, dW):
        return dW * (1 - self._y * self._y)


class TTanh(torch.nn.Module):
    def forward(self, X):
        return torch.tanh(X)


class RankOne(nn.Module):
    """x y^T from two vectors (right_inverse returns a tuple: original0, original1)."""

    def forward(self, x, y):
        self._xy = (x, y)
        return x[:, None] * y[None, :]

    def backward(self, dW):
        x, y = self._xy
        return dW @ y, dW.T @ x

    def right_inverse(self, Z):
        U, S, Vh = np.linalg.svd(Z, full_matrices=False)
        s0 = np.sqrt(S[0])
        return U[:, 0] * s0, Vh[0] * s0


class TRankOne(torch.nn.Module):
    def forward(self, x, y):
        return x.unsqueeze(-1) @ y.unsqueeze(-2)

    def right_inverse(self, Z):
        U, S, Vh = torch.linalg.svd(Z, full_matrices=False)
        s0 = S[0].sqrt().unsqueeze(-1)
        return U[..., :, 0] * s0, Vh[..., 0, :] * s0


class Double(nn.Module):
    def forward(self, X):
        return 2 * X

    def backward(self, dW):
        return 2 * dW

    def right_inverse(self, W):
        return W / 2


class TDouble(torch.nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, W):
        return W / 2


class Counting(nn.Module):
    """Identity that counts its forwards."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, X):
        self.calls += 1
        return X

    def backward(self, dW):
        return dW


class NoBackward(nn.Module):
    def forward(self, X):
        return 2 * X


# ---- helpers ------------------------------------------------------------------------
def _pair(kind, dtype, seed=0):
    if kind == "linear":
        f, t, shape = nn.Linear(4, 4), torch.nn.Linear(4, 4), (3, 4)
    elif kind == "linear_tall":
        f, t, shape = nn.Linear(3, 5), torch.nn.Linear(3, 5), (2, 3)
    elif kind == "linear_wide":
        f, t, shape = nn.Linear(5, 3), torch.nn.Linear(5, 3), (2, 5)
    elif kind == "linear1":
        f, t, shape = nn.Linear(1, 1), torch.nn.Linear(1, 1), (2, 1)
    elif kind == "conv2d":
        f, t, shape = nn.Conv2d(3, 4, 2), torch.nn.Conv2d(3, 4, 2), (2, 3, 5, 5)
    elif kind == "convt2d":
        f, t, shape = nn.ConvTranspose2d(3, 2, 3, stride=2), torch.nn.ConvTranspose2d(3, 2, 3, stride=2), (2, 3, 3, 3)
    else:
        raise AssertionError(kind)
    rng = np.random.default_rng(seed)
    f.to(dtype)
    t.to(TDT[dtype])
    with torch.no_grad():
        for name, p in t.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape)).astype(dtype)))
            getattr(f, name).data[...] = p.numpy()
    return f, t, shape


def _np(x):
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _close(a, b, dtype, what):
    a, b = np.asarray(a), _np(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def _copy_state(t, f):
    """torch's state into fastnn's (same keys: a check of the names too)."""
    tstate = {k: v.detach().numpy().copy() for k, v in t.state_dict().items()}
    assert list(f.state_dict()) == list(tstate)
    for k, v in tstate.items():
        assert f.state_dict()[k].shape == v.shape, k
    f.load_state_dict(tstate)


def _train(f, t, shape, dtype, steps=3, lr=0.1, seed=1, zero=True):
    """steps of forward, backward with a random upstream gradient and SGD on both; compares
    outputs, dx, every parameter's gradient, the buffers and the parameters after each step."""
    rng = np.random.default_rng(seed)
    fopt = SGD(f.parameters(), lr=lr)
    topt = torch.optim.SGD(t.parameters(), lr=lr)
    fparams, tparams = dict(f.named_parameters()), dict(t.named_parameters())
    assert list(fparams) == list(tparams)
    for step in range(steps):
        x = rng.normal(size=shape).astype(dtype)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y, yt = f(x), t(xt)
        _close(y, yt, dtype, f"output step {step}")
        dy = rng.normal(size=y.shape).astype(dtype)
        if zero:
            fopt.zero_grad()
            topt.zero_grad()
        dx = f.backward(dy)
        yt.backward(torch.from_numpy(dy))
        _close(dx, xt.grad, dtype, f"dx step {step}")
        for name in fparams:
            _close(fparams[name].grad, tparams[name].grad, dtype, f"grad {name} step {step}")
        fopt.step()
        topt.step()
        for name in fparams:
            _close(fparams[name].data, tparams[name], dtype, f"param {name} after step {step}")
        fbuf = dict(f.named_buffers())
        for name, b in t.named_buffers():
            _close(fbuf[name], b, dtype, f"buffer {name} step {step}")


# ---- register_parametrization ---------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chained_symmetric_and_scale_train_as_torch(dtype):
    f, t, shape = _pair("linear", dtype)
    P.register_parametrization(f, "weight", Symmetric())
    P.register_parametrization(f, "weight", Scale().to(dtype))
    TP.register_parametrization(t, "weight", TSymmetric())
    TP.register_parametrization(t, "weight", TScale().to(TDT[dtype]))
    assert list(f.state_dict()) == ["bias", "parametrizations.weight.original", "parametrizations.weight.1.scale"]
    _close(f.weight.data, t.weight, dtype, "weight after registration")
    _close(f.parametrizations.weight.original.data, t.parametrizations.weight.original, dtype, "original")
    _train(f, t, shape, dtype, steps=4)
    W = f.weight.data
    np.testing.assert_array_equal(W, W.T)
    assert type(f).__name__ == "ParametrizedLinear"
    assert isinstance(f, nn.Linear)
    assert "(weight): ParametrizationList" in repr(f) and f.extra_repr().startswith("in_features=4")
    assert isinstance(f.parametrizations.weight, P.ParametrizationList)
    assert len(f.parametrizations.weight) == 2


def test_three_chained_nonlinear_parametrizations_train_as_torch():
    """Scale, then tanh, then symmetric: the backward must run them last first."""
    f, t, shape = _pair("linear", np.float64)
    for p in (Scale(0.7), TanhParam(), Symmetric()):
        P.register_parametrization(f, "weight", p)
    for p in (TScale(0.7), TTanh(), TSymmetric()):
        TP.register_parametrization(t, "weight", p)
    assert list(f.state_dict()) == list(t.state_dict())
    _close(f.weight.data, t.weight, np.float64, "weight")
    _train(f, t, shape, np.float64, steps=3)


def test_original_is_the_parameter_an_optimizer_already_holds():
    f, t, shape = _pair("linear", np.float64)
    weight = f.weight
    fopt = SGD(f.parameters(), lr=0.1)  # created before registration, as torch allows
    P.register_parametrization(f, "weight", Symmetric())
    assert f.parametrizations.weight.original is weight
    np.testing.assert_array_equal(weight.data, np.triu(weight.data))  # right_inverse applied in place
    TP.register_parametrization(t, "weight", TSymmetric())
    topt = torch.optim.SGD(t.parameters(), lr=0.1)
    x = np.random.default_rng(3).normal(size=shape)
    y = f(x)
    f.backward(np.ones_like(y))
    t(torch.from_numpy(x)).sum().backward()
    fopt.step()
    topt.step()
    _close(f.weight.data, t.weight, np.float64, "weight after a step")


def test_rank_one_tuple_originals_match_torch():
    f, t, shape = _pair("linear", np.float64)
    P.register_parametrization(f, "weight", RankOne())
    TP.register_parametrization(t, "weight", TRankOne())
    assert list(f.state_dict()) == list(t.state_dict()) == [
        "bias", "parametrizations.weight.original0", "parametrizations.weight.original1"]
    _close(f.weight.data, t.weight, np.float64, "rank-one weight")
    assert np.linalg.matrix_rank(f.weight.data) == 1
    _train(f, t, shape, np.float64, steps=3)
    with pytest.raises(ValueError, match="sequence of tensors"):
        P.remove_parametrizations(f, "weight", leave_parametrized=False)
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    _close(f.weight.data, t.weight, np.float64, "removed rank-one weight")
    assert type(f) is nn.Linear and list(f.state_dict()) == ["bias", "weight"] == list(t.state_dict())


def test_reading_weight_outside_forward_follows_the_originals():
    f = nn.Linear(3, 3).double()
    P.register_parametrization(f, "weight", Scale())
    orig = f.parametrizations.weight.original
    np.testing.assert_allclose(f.weight.data, 1.5 * orig.data, rtol=1e-15)
    orig.data[0, 0] += 1.0  # an optimizer step changes the original in place
    np.testing.assert_allclose(f.weight.data, 1.5 * orig.data, rtol=1e-15)
    f.parametrizations.weight[0].scale.data[...] = 2.0  # a parametrization's own parameter
    np.testing.assert_allclose(f.weight.data, 2.0 * orig.data, rtol=1e-15)
    assert isinstance(f.weight, Parameter) and not f.weight.trainable
    assert all(p is not f.weight for p in f.parameters())
    f.to(np.float32)
    assert f.weight.data.dtype == np.float32
    np.testing.assert_allclose(f.weight.data, 2.0 * orig.data, rtol=1e-6)


def test_setter_uses_right_inverse():
    f = nn.Linear(4, 4).double()
    P.register_parametrization(f, "weight", Symmetric())
    A = np.random.default_rng(0).normal(size=(4, 4))
    A = A + A.T
    f.weight = A
    np.testing.assert_allclose(f.weight.data, A, rtol=1e-15)
    np.testing.assert_allclose(f.parametrizations.weight.original.data, np.triu(A), rtol=1e-15)
    f.weight = Parameter(2 * A)
    np.testing.assert_allclose(f.weight.data, 2 * A, rtol=1e-15)
    assert "weight" not in f._parameters
    g = nn.Linear(2, 2)
    P.register_parametrization(g, "weight", NoBackward())
    with pytest.raises(RuntimeError, match="NoBackward does not implement right_inverse"):
        g.weight = np.zeros((2, 2), np.float32)


def test_unsafe_false_checks():
    class Shape(nn.Module):
        def forward(self, X):
            return X[:1]

    class Dtype(nn.Module):
        def forward(self, X):
            return X.astype(np.float64)

    class BadInverse(nn.Module):
        def forward(self, X):
            return X

        def right_inverse(self, X):
            return X.astype(np.float64)

    class NotArray(nn.Module):
        def forward(self, X):
            return 3.0

    with pytest.raises(ValueError, match=r"may not change the shape(.|\n)*\(4, 3\)(.|\n)*\(1, 3\)"):
        P.register_parametrization(nn.Linear(3, 4), "weight", Shape())
    with pytest.raises(ValueError, match=r"may not change the dtype(.|\n)*float32(.|\n)*float64"):
        P.register_parametrization(nn.Linear(3, 4), "weight", Dtype())
    with pytest.raises(ValueError, match="may not change the dtype"):
        P.register_parametrization(nn.Linear(3, 4), "weight", BadInverse())
    with pytest.raises(ValueError, match="must return a tensor"):
        P.register_parametrization(nn.Linear(3, 4), "weight", NotArray())
    m = nn.Linear(3, 4)
    before = m.weight.data.copy()
    with pytest.raises(ValueError):
        P.register_parametrization(m, "weight", Shape())
    assert type(m) is nn.Linear and "weight" in m._parameters  # nothing changed
    np.testing.assert_array_equal(m.weight.data, before)
    P.register_parametrization(m, "weight", Shape(), unsafe=True)
    assert m.weight.shape == (1, 3)
    # chained: the checks run on the current parametrized value
    m = nn.Linear(3, 4)
    P.register_parametrization(m, "weight", Counting())
    with pytest.raises(ValueError, match=r"module.weight.shape: \(4, 3\)"):
        P.register_parametrization(m, "weight", Shape())
    with pytest.raises(ValueError, match="right_inverse must have the same dtype"):
        P.register_parametrization(m, "weight", BadInverse())
    assert len(m.parametrizations.weight) == 1
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name 'nope'"):
        P.register_parametrization(m, "nope", Counting())
    with pytest.raises(TypeError, match="parametrization must be a fastnn.nn.Module"):
        P.register_parametrization(m, "bias", lambda x: x)


def test_zero_dim_parameter():
    from fastnn.nn.utils.weight_norm import _param

    class Gain(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = _param(np.array(3.0))

        def forward(self, x):
            self._x = x
            return x * self.alpha.data

        def backward(self, dy):
            self.alpha.add_grad(np.sum(dy * self._x))
            return dy * self.alpha.data

    m = Gain()
    P.register_parametrization(m, "alpha", Double())
    assert m.alpha.data.shape == () and m.parametrizations.alpha.original.data.shape == ()
    np.testing.assert_allclose(m.parametrizations.alpha.original.data, 1.5)
    x = np.arange(3.0)
    np.testing.assert_allclose(m(x), 3.0 * x)
    m.backward(np.ones(3))
    np.testing.assert_allclose(m.parametrizations.alpha.original.grad, 2 * x.sum())
    P.remove_parametrizations(m, "alpha")
    assert m.alpha.data.shape == () and float(m.alpha.data) == 3.0


def test_missing_backward_is_a_clear_error():
    m = nn.Linear(2, 2)
    P.register_parametrization(m, "weight", NoBackward())
    y = m(np.ones((1, 2), np.float32))
    with pytest.raises(NotImplementedError, match="NoBackward does not implement backward"):
        m.backward(np.ones_like(y))


def test_is_parametrized_type_before_and_remove():
    f, t, _ = _pair("linear", np.float64)
    assert not P.is_parametrized(f) and not P.is_parametrized(f, "weight")
    assert P.type_before_parametrizations(f) is nn.Linear
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        P.remove_parametrizations(f, "weight")
    for mod, reg, sym in ((f, P, Symmetric), (t, TP, TSymmetric)):
        reg.register_parametrization(mod, "weight", sym())
        reg.register_parametrization(mod, "bias", (Scale if mod is f else TScale)())
    assert P.is_parametrized(f) and P.is_parametrized(f, "weight") and P.is_parametrized(f, "bias")
    assert not P.is_parametrized(f, "other")
    assert P.type_before_parametrizations(f) is nn.Linear
    assert list(f.state_dict()) == list(t.state_dict())
    P.remove_parametrizations(f, "bias", leave_parametrized=False)
    TP.remove_parametrizations(t, "bias", leave_parametrized=False)
    _close(f.bias.data, t.bias, np.float64, "bias left unparametrized")
    assert P.is_parametrized(f) and not P.is_parametrized(f, "bias")
    assert list(f.state_dict()) == list(t.state_dict())
    orig = f.parametrizations.weight.original
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    assert f.weight is orig  # the original Parameter holds the parametrized value, as torch
    _close(f.weight.data, t.weight, np.float64, "weight left parametrized")
    assert type(f) is nn.Linear and not hasattr(f, "parametrizations")
    assert list(f.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert "ParametrizedLinear" not in nn.module.LAYER_REGISTRY
    _train(f, t, (2, 4), np.float64, steps=1)


def test_parametrized_buffer():
    f = nn.BatchNorm1d(3).double()
    t = torch.nn.BatchNorm1d(3).double()
    f.running_var[...] = [1.0, 2.0, 3.0]
    with torch.no_grad():
        t.running_var.copy_(torch.tensor([1.0, 2.0, 3.0]))
    P.register_parametrization(f, "running_var", Double())
    TP.register_parametrization(t, "running_var", TDouble())
    np.testing.assert_allclose(f.parametrizations.running_var.original, [0.5, 1.0, 1.5], rtol=1e-15)
    assert list(f.state_dict()) == list(t.state_dict())
    assert isinstance(f.running_var, np.ndarray)
    f.eval()
    t.eval()
    x = np.random.default_rng(0).normal(size=(4, 3))
    _close(f(x), t(torch.from_numpy(x)), np.float64, "eval output with a parametrized buffer")
    P.remove_parametrizations(f, "running_var")
    np.testing.assert_allclose(f.running_var, [1.0, 2.0, 3.0], rtol=1e-15)
    assert "running_var" in f._buffers


def test_cached_computes_once():
    m = nn.Linear(3, 3).double()
    P.register_parametrization(m, "weight", Counting())
    counter = m.parametrizations.weight[0]
    x = np.ones((2, 3))
    counter.calls = 0
    m(x)
    m(x)
    assert counter.calls == 2
    counter.calls = 0
    with P.cached():
        y1 = m(x)
        _ = m.weight
        with P.cached():
            y2 = m(x)
        m.backward(np.ones_like(y1))
        m.backward(np.ones_like(y2))
    assert counter.calls == 1
    np.testing.assert_allclose(m.parametrizations.weight.original.grad, 2 * np.ones((3, 3)) * 2, rtol=1e-15)
    m(x)
    assert counter.calls == 2


def test_deepcopy_is_independent():
    f = nn.Linear(4, 4).double()
    P.register_parametrization(f, "weight", Symmetric())
    g = copy.deepcopy(f)
    assert type(g).__name__ == "ParametrizedLinear"
    np.testing.assert_array_equal(g.weight.data, f.weight.data)
    g.parametrizations.weight.original.data[0, 1] += 1.0
    assert g.weight.data[1, 0] != f.weight.data[1, 0]
    P.remove_parametrizations(g, "weight")
    assert type(g) is nn.Linear and P.is_parametrized(f, "weight")
    np.testing.assert_array_equal(f.weight.data, f.weight.data.T)


def test_transfer_parametrizations_and_params():
    f = nn.Linear(4, 4).double()
    P.register_parametrization(f, "weight", Symmetric())
    to = nn.Linear(4, 4).double()
    assert P.transfer_parametrizations_and_params(nn.Linear(2, 2), to) is to and not P.is_parametrized(to)
    P.transfer_parametrizations_and_params(f, to)
    assert P.is_parametrized(to, "weight")
    assert to.parametrizations.weight.original is f.parametrizations.weight.original
    np.testing.assert_array_equal(to.weight.data, f.weight.data)
    # the shared parametrization object still gives each module the gradient of its own forward
    x1, x2 = np.ones((1, 4)), np.arange(4.0)[None]
    y1 = f(x1)
    y2 = to(x2)
    f.parametrizations.weight.original.zero_grad()
    f.backward(np.ones_like(y1))
    to.backward(np.ones_like(y2))
    dW = np.ones((4, 1)) @ x1 + np.ones((4, 1)) @ x2
    np.testing.assert_allclose(f.parametrizations.weight.original.grad, Symmetric().backward(dW), rtol=1e-15)


def test_save_refuses_and_state_dict_round_trip(tmp_path):
    f, t, shape = _pair("linear", np.float64)
    model = nn.Sequential(f, nn.ReLU())
    P.register_parametrization(f, "weight", Symmetric())
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        fastnn.save(model, tmp_path / "m.fnn")
    assert not list(tmp_path.iterdir())
    state = model.state_dict()
    other = nn.Sequential(nn.Linear(4, 4).double(), nn.ReLU())
    P.register_parametrization(other[0], "weight", Symmetric())
    other.load_state_dict(state)
    x = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_array_equal(other(x), model(x))
    with pytest.raises(nn.StateDictError, match="parametrizations.weight.original"):
        nn.Sequential(nn.Linear(4, 4).double(), nn.ReLU()).load_state_dict(state)
    P.remove_parametrizations(f, "weight")
    fastnn.save(model, tmp_path / "m.fnn")
    np.testing.assert_array_equal(fastnn.load(tmp_path / "m.fnn")(x), model(x))


def test_sequential_with_parametrized_linear_trains_as_torch():
    f, t, shape = _pair("linear", np.float64)
    P.register_parametrization(f, "weight", Symmetric())
    TP.register_parametrization(t, "weight", TSymmetric())
    fs, ts = nn.Sequential(f, nn.ReLU()), torch.nn.Sequential(t, torch.nn.ReLU())
    _train(fs, ts, shape, np.float64, steps=3)


@pytest.mark.parametrize("which", ["symmetric", "spectral_norm"])
def test_layer_shared_in_a_sequential_trains_as_torch(which):
    """One parametrized layer used twice: each use's backward gets its own forward's value (a
    spectral norm's power iteration changes it between the uses)."""
    f, t, shape = _pair("linear", np.float64)
    if which == "symmetric":
        P.register_parametrization(f, "weight", Symmetric())
        TP.register_parametrization(t, "weight", TSymmetric())
    else:
        PZ.spectral_norm(f)
        TPZ.spectral_norm(t)
        _copy_state(t, f)
    fs, ts = nn.Sequential(f, nn.Tanh(), f), torch.nn.Sequential(t, torch.nn.Tanh(), t)
    _train(fs, ts, shape, np.float64, steps=3)


def test_need_dx_false_path_and_old_weight_norm_alongside():
    """Sequential.backward(need_dx=False) (what fit uses) reaches the chain rule; torch's old
    weight_norm hook on the same layer's other tensor works alongside."""
    from fastnn.nn.utils.weight_norm import weight_norm as old_weight_norm

    f, t, shape = _pair("linear", np.float64)
    P.register_parametrization(f, "weight", Symmetric())
    TP.register_parametrization(t, "weight", TSymmetric())
    old_weight_norm(f, "bias", dim=None)
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(t, "bias", dim=None)
    fs, ts = nn.Sequential(f, nn.ReLU()), torch.nn.Sequential(t, torch.nn.ReLU())
    x = np.random.default_rng(2).normal(size=shape)
    y = fs(x)
    dy = np.random.default_rng(3).normal(size=y.shape)
    assert fs.backward(dy, need_dx=False) is None
    ts(torch.from_numpy(x)).backward(torch.from_numpy(dy))
    tparams = dict(ts.named_parameters())
    for name, p in fs.named_parameters():
        _close(p.grad, tparams[name].grad, np.float64, name)


def test_backward_of_the_wrong_shape_is_an_error():
    class Bad(nn.Module):
        def forward(self, X):
            return X

        def backward(self, dW):
            return dW[0]

    m = nn.Linear(3, 2).double()
    P.register_parametrization(m, "weight", Bad())
    y = m(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"Bad.backward returned a gradient of shape \(3,\) for input 0 of shape \(2, 3\)"):
        m.backward(np.ones_like(y))


# ---- weight_norm ------------------------------------------------------------------------
@pytest.mark.parametrize("kind,dim", [("linear", 0), ("linear", 1), ("linear", None), ("conv2d", 0),
                                      ("conv2d", -2), ("convt2d", 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weight_norm_matches_torch(kind, dim, dtype):
    f, t, shape = _pair(kind, dtype)
    PZ.weight_norm(f, dim=dim)
    TPZ.weight_norm(t, dim=dim)
    _copy_state(t, f)
    g = f.parametrizations.weight.original0
    assert g.data.shape == tuple(t.parametrizations.weight.original0.shape)
    _close(f.weight.data, t.weight, dtype, "weight")
    _train(f, t, shape, dtype, steps=3)
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    _close(f.weight.data, t.weight, dtype, "removed")


def test_weight_norm_registration_values_and_errors():
    f, t, _ = _pair("conv2d", np.float64)
    PZ.weight_norm(f, dim=1)
    TPZ.weight_norm(t, dim=1)
    for k in ("parametrizations.weight.original0", "parametrizations.weight.original1"):
        _close(f.state_dict()[k], t.state_dict()[k], np.float64, k)
    with pytest.raises(IndexError, match="Dimension out of range"):
        PZ.weight_norm(nn.Linear(3, 4), dim=2)
    with pytest.raises(TypeError, match="dim must be an int"):
        PZ.weight_norm(nn.Linear(3, 4), dim=0.5)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'w'"):
        PZ.weight_norm(nn.Linear(3, 4), name="w")


# ---- spectral_norm ----------------------------------------------------------------------
@pytest.mark.parametrize("kind,kwargs", [("linear", {}), ("linear_tall", {"n_power_iterations": 3}),
                                         ("conv2d", {}), ("convt2d", {}), ("conv2d", {"dim": 1, "eps": 1e-3})])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spectral_norm_matches_torch(kind, kwargs, dtype):
    f, t, shape = _pair(kind, dtype)
    PZ.spectral_norm(f, **kwargs)
    TPZ.spectral_norm(t, **kwargs)
    assert f.parametrizations.weight[0].dim == t.parametrizations.weight[0].dim
    _copy_state(t, f)  # the random u, v of torch
    _train(f, t, shape, dtype, steps=3)
    f.eval()
    t.eval()
    u = f.parametrizations.weight[0]._u.copy()
    _train(f, t, shape, dtype, steps=2)
    np.testing.assert_array_equal(f.parametrizations.weight[0]._u, u)  # no power iteration in eval mode
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    _close(f.weight.data, t.weight, dtype, "removed")


def test_spectral_norm_sigma_and_vector_and_errors():
    f = nn.Linear(6, 5).double()
    PZ.spectral_norm(f, n_power_iterations=50)
    f(np.ones((1, 6)))
    np.testing.assert_allclose(np.linalg.svd(f.weight.data)[1][0], 1.0, rtol=1e-8)
    f, t, shape = _pair("linear", np.float64)
    PZ.spectral_norm(f, "bias")  # a 1-D tensor: divided by its norm
    TPZ.spectral_norm(t, "bias")
    assert list(f.state_dict()) == list(t.state_dict())
    _train(f, t, shape, np.float64, steps=2)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        PZ.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        PZ.spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="no parameter or buffer with name 'kernel'"):
        PZ.spectral_norm(nn.Linear(2, 2), "kernel")


# ---- orthogonal -------------------------------------------------------------------------
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("kind", ["linear", "linear_tall", "linear_wide", "conv2d", "linear1"])
@pytest.mark.parametrize("use_trivialization", [True, False])
def test_orthogonal_matches_torch(orthogonal_map, kind, use_trivialization):
    dtype = np.float64
    f, t, shape = _pair(kind, dtype)
    PZ.orthogonal(f, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    TPZ.orthogonal(t, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    assert list(f.state_dict()) == list(t.state_dict())
    if not (use_trivialization and kind in ("linear_tall", "linear_wide")):  # else: a random completion
        _close(f.weight.data, t.weight, dtype, "weight after registration")
    _copy_state(t, f)
    _close(f.weight.data, t.weight, dtype, "weight from torch's state")
    W = f.weight.data
    m, n = W.shape[-2:]
    gram = np.swapaxes(W, -1, -2) @ W if m >= n else W @ np.swapaxes(W, -1, -2)
    if orthogonal_map != "householder" or use_trivialization:
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(min(m, n)), gram.shape), atol=1e-12)
    _train(f, t, shape, dtype, steps=3, lr=0.05)
    P.remove_parametrizations(f, "weight")
    TP.remove_parametrizations(t, "weight")
    _close(f.weight.data, t.weight, dtype, "removed")


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_float32_and_assignment(orthogonal_map):
    f, t, shape = _pair("linear", np.float32)
    PZ.orthogonal(f, orthogonal_map=orthogonal_map)
    TPZ.orthogonal(t, orthogonal_map=orthogonal_map)
    _close(f.weight.data, t.weight, np.float32, "float32 weight")
    _train(f, t, shape, np.float32, steps=2)
    Q = np.linalg.qr(np.random.default_rng(5).normal(size=(4, 4)))[0].astype(np.float32)
    f.weight = Q
    with torch.no_grad():
        t.weight = torch.from_numpy(Q.copy())
    _close(f.weight.data, t.weight, np.float32, "assigned orthogonal")
    np.testing.assert_allclose(f.weight.data, Q, atol=1e-5)


def test_orthogonal_defaults_and_errors():
    sq, tall = nn.Linear(3, 3), nn.Linear(2, 4)
    PZ.orthogonal(sq)
    PZ.orthogonal(tall)
    assert sq.parametrizations.weight[0].orthogonal_map == "matrix_exp"
    assert tall.parametrizations.weight[0].orthogonal_map == "householder"
    with pytest.raises(ValueError, match='orthogonal_map has to be one of.*Got: qr'):
        PZ.orthogonal(nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="Got a tensor of 1 dimensions"):
        PZ.orthogonal(nn.Linear(3, 3), "bias")
    m = nn.Linear(3, 3)
    PZ.orthogonal(m, orthogonal_map="cayley", use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        m.weight = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        PZ.orthogonal(nn.Linear(3, 3)).parametrizations.weight.right_inverse(np.eye(2, dtype=np.float32))


@pytest.mark.parametrize("scale", [0.0, 1e-3, 0.1, 1.0, 3.0, 30.0])
def test_matrix_exp_matches_torch(scale):
    rng = np.random.default_rng(int(scale * 10))
    A = rng.normal(size=(2, 5, 5)) * scale
    ref = torch.matrix_exp(torch.from_numpy(A)).numpy()
    np.testing.assert_allclose(matrix_exp(A), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert matrix_exp(np.zeros((0, 0))).shape == (0, 0)
    assert matrix_exp(A.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="square"):
        matrix_exp(np.zeros((2, 3)))


def test_new_weight_norm_loads_an_old_api_checkpoint_as_torch():
    from fastnn.nn.utils import weight_norm as old_weight_norm

    old = old_weight_norm(nn.Linear(4, 3).double())
    sd = old.state_dict()
    assert {"weight_g", "weight_v"} <= set(sd)
    new = PZ.weight_norm(nn.Linear(4, 3).double())
    new.load_state_dict(sd)
    t = TPZ.weight_norm(torch.nn.Linear(4, 3).double())
    t.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    x = np.random.default_rng(5).standard_normal((2, 4))
    np.testing.assert_allclose(new(x), t(torch.tensor(x)).detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(new(x), old(x), rtol=1e-13, atol=1e-14)
