"""weight_norm / spectral_norm (torch's old hook API) against torch 2.x autograd."""
import copy
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastnn.nn as nn
from fastnn.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from fastnn.nn.utils.weight_norm import remove_weight_norm, weight_norm

# the old hook-style weight_norm warns as torch's (its own test below checks the warning)
pytestmark = pytest.mark.filterwarnings("ignore:`fastnn.nn.utils.weight_norm` is deprecated:FutureWarning")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def _pair(kind, seed):
    """(fastnn layer, torch layer, input shape) with the same parameters."""
    if kind == "linear":
        f, t, shape = nn.Linear(5, 4), torch.nn.Linear(5, 4), (3, 5)
    elif kind == "conv1d":
        f, t, shape = nn.Conv1d(3, 4, 3, padding=1), torch.nn.Conv1d(3, 4, 3, padding=1), (2, 3, 7)
    elif kind == "conv2d":
        f, t, shape = nn.Conv2d(3, 4, (2, 3), stride=1), torch.nn.Conv2d(3, 4, (2, 3), stride=1), (2, 3, 5, 6)
    elif kind == "convt2d":
        f, t, shape = nn.ConvTranspose2d(3, 2, 3, stride=2), torch.nn.ConvTranspose2d(3, 2, 3, stride=2), (2, 3, 4, 4)
    else:
        raise AssertionError(kind)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in t.named_parameters():
            p.copy_(torch.from_numpy(rng.normal(size=tuple(p.shape))))
            getattr(f, name).data[...] = p.numpy()
    return f, t, shape


def _setup(kind, dtype, seed=0):
    f, t, shape = _pair(kind, seed)
    f.to(dtype)
    t.to(TDT[dtype])
    return f, t, shape


def _close(a, b, dtype, what):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    a = np.asarray(a)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def _steps(f, t, shape, dtype, n_steps, seed, lr=0.05, zero=True):
    """n_steps of forward / backward with random upstream gradients and an SGD update; compares
    outputs, dx and every parameter gradient (and buffer) after each step."""
    rng = np.random.default_rng(seed)
    fparams = dict(f.named_parameters())
    tparams = dict(t.named_parameters())
    assert list(fparams) == list(tparams)
    for step in range(n_steps):
        x = rng.normal(size=shape).astype(dtype)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y = f(x)
        yt = t(xt)
        _close(y, yt, dtype, f"output step {step}")
        dy = rng.normal(size=y.shape).astype(dtype)
        dx = f.backward(dy)
        yt.backward(torch.from_numpy(dy))
        _close(dx, xt.grad, dtype, f"dx step {step}")
        for name in fparams:
            _close(fparams[name].grad, tparams[name].grad, dtype, f"grad {name} step {step}")
        for name, b in t.named_buffers():
            _close(dict(f.named_buffers())[name], b, dtype, f"buffer {name} step {step}")
        with torch.no_grad():
            for name in fparams:
                fparams[name].data -= lr * fparams[name].grad
                tparams[name] -= lr * tparams[name].grad
                if zero:
                    fparams[name].zero_grad()
                    tparams[name].grad = None


def _twn(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nn.utils.weight_norm(*args, **kwargs)


# ---- weight_norm --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,dim", [("linear", 0), ("linear", 1), ("linear", None), ("linear", -1),
                                      ("conv1d", 0), ("conv1d", 2), ("conv2d", 0), ("conv2d", 1),
                                      ("conv2d", None), ("conv2d", -2), ("convt2d", 0), ("convt2d", 1)])
def test_weight_norm_matches_torch(kind, dim, dtype):
    f, t, shape = _setup(kind, dtype, seed=1)
    assert weight_norm(f, dim=dim) is f
    _twn(t, dim=dim)
    assert list(f.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        _close(f.state_dict()[k], v, dtype, k)
    assert "weight" not in dict(f.named_parameters())
    _close(f.weight.data, t.weight, dtype, "weight after apply")
    _steps(f, t, shape, dtype, n_steps=3, seed=2)
    # gradients accumulate over two backwards without zero_grad, as torch's
    _steps(f, t, shape, dtype, n_steps=2, seed=3, zero=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weight_norm_in_sequential_and_remove(dtype):
    f1, t1, _ = _setup("linear", dtype, seed=4)
    f2, t2 = nn.Linear(4, 3).to(dtype), torch.nn.Linear(4, 3).to(TDT[dtype])
    with torch.no_grad():
        for name, p in t2.named_parameters():
            getattr(f2, name).data[...] = p.numpy()
    weight_norm(f1)
    _twn(t1)
    weight_norm(f2, dim=None)
    _twn(t2, dim=None)
    fs, ts = nn.Sequential(f1, nn.ReLU(), f2), torch.nn.Sequential(t1, torch.nn.ReLU(), t2)
    assert list(fs.state_dict()) == list(ts.state_dict())
    _steps(fs, ts, (6, 5), dtype, n_steps=3, seed=5)
    # remove: a plain trainable parameter with the current weight, torch's key order
    remove_weight_norm(f1)
    torch.nn.utils.remove_weight_norm(t1)
    assert list(f1.state_dict()) == list(t1.state_dict()) == ["bias", "weight"]
    assert isinstance(f1.weight, nn.Parameter) and f1.weight.trainable
    _close(f1.weight.data, t1.weight, dtype, "weight after remove")
    assert "forward" not in f1.__dict__ and "backward" not in f1.__dict__
    _steps(fs, ts, (6, 5), dtype, n_steps=2, seed=6)


def test_weight_norm_state_dict_roundtrip_and_deepcopy():
    f, t, shape = _setup("conv2d", np.float64, seed=7)
    weight_norm(f)
    _twn(t)
    g = copy.deepcopy(f)
    f2, _, _ = _setup("conv2d", np.float64, seed=8)
    weight_norm(f2)
    f2.load_state_dict(f.state_dict())
    x = np.random.default_rng(9).normal(size=shape)
    np.testing.assert_array_equal(f2(x), f(x))
    np.testing.assert_array_equal(g(x), f(x))
    # the copy has its own parameters: changing the original's does not change it
    f.weight_g.data *= 2
    assert not np.allclose(g(x), f(x))
    _steps(g, t, shape, np.float64, n_steps=2, seed=10)


def test_weight_norm_errors():
    f = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        remove_weight_norm(f)
    weight_norm(f)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same parameter weight"):
        weight_norm(f)
    with pytest.raises(ValueError, match="'foo'"):
        weight_norm(nn.Linear(3, 2), name="foo")
    with pytest.raises(ValueError, match="'weight'"):
        weight_norm(nn.ReLU())
    with pytest.raises(ValueError, match="dim=2"):
        weight_norm(nn.Linear(3, 2), dim=2)
    with pytest.raises(TypeError, match="dim='0'"):
        weight_norm(nn.Linear(3, 2), dim="0")
    with pytest.raises(TypeError, match="module="):
        weight_norm("linear")
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        remove_weight_norm(f, name="bias")
    remove_weight_norm(f)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        remove_weight_norm(f)


# ---- spectral_norm ------------------------------------------------------------------------
def _copy_uv(f, t):
    for name, b in t.named_buffers():
        dict(f.named_buffers())[name][...] = b.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,dim,iters", [("linear", None, 1), ("linear", 1, 2), ("conv1d", None, 1),
                                            ("conv2d", None, 1), ("conv2d", 1, 3), ("conv2d", 3, 1),
                                            ("convt2d", None, 1), ("convt2d", 0, 2)])
def test_spectral_norm_matches_torch(kind, dim, iters, dtype):
    f, t, shape = _setup(kind, dtype, seed=11)
    assert spectral_norm(f, n_power_iterations=iters, dim=dim) is f
    torch.nn.utils.spectral_norm(t, n_power_iterations=iters, dim=dim)
    assert list(f.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        assert f.state_dict()[k].shape == tuple(v.shape), k
        assert f.state_dict()[k].dtype == v.numpy().dtype, k
    np.testing.assert_allclose(np.linalg.norm(f.weight_u), 1.0, rtol=1e-6)
    _copy_uv(f, t)
    _close(f.weight.data, t.weight, dtype, "weight after apply")
    _steps(f, t, shape, dtype, n_steps=3, seed=12)  # train: u, v evolve
    f.eval()
    t.eval()
    u_before = f.weight_u.copy()
    _steps(f, t, shape, dtype, n_steps=2, seed=13)  # eval: u, v fixed
    np.testing.assert_array_equal(f.weight_u, u_before)
    f.train()
    t.train()
    _steps(f, t, shape, dtype, n_steps=2, seed=14, zero=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_remove_spectral_norm(dtype):
    f, t, shape = _setup("conv2d", dtype, seed=15)
    spectral_norm(f)
    torch.nn.utils.spectral_norm(t)
    _copy_uv(f, t)
    _steps(f, t, shape, dtype, n_steps=2, seed=16)
    remove_spectral_norm(f)
    torch.nn.utils.remove_spectral_norm(t)
    assert list(f.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(f.weight, nn.Parameter) and f.weight.trainable
    _close(f.weight.data, t.weight, dtype, "weight after remove")
    _steps(f, t, shape, dtype, n_steps=2, seed=17)


def test_spectral_and_weight_norm_on_two_parameters_and_default_rng():
    import fastnn

    fastnn.manual_seed(0)
    a = spectral_norm(nn.Linear(4, 3))
    fastnn.manual_seed(0)
    b = spectral_norm(nn.Linear(4, 3))
    np.testing.assert_array_equal(a.weight_u, b.weight_u)  # drawn from fastnn's RNG
    assert a.weight_u.shape == (3,) and a.weight_v.shape == (4,)
    # spectral_norm on a ConvTranspose defaults to dim 1: u has out_channels entries
    c = spectral_norm(nn.ConvTranspose2d(3, 5, 2))
    assert c.weight_u.shape == (5,) and c.weight_v.shape == (3 * 2 * 2,)


def test_spectral_norm_errors():
    f = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        remove_spectral_norm(f)
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(TypeError, match="n_power_iterations"):
        spectral_norm(nn.Linear(3, 2), n_power_iterations=1.5)
    with pytest.raises(ValueError, match="eps"):
        spectral_norm(nn.Linear(3, 2), eps=-1.0)
    with pytest.raises(ValueError, match="dim=2"):
        spectral_norm(nn.Linear(3, 2), dim=2)
    with pytest.raises(ValueError, match="'foo'"):
        spectral_norm(nn.Linear(3, 2), name="foo")
    spectral_norm(f)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the same parameter weight"):
        spectral_norm(f)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        remove_weight_norm(f)
    remove_spectral_norm(f)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        remove_spectral_norm(f)


def test_weight_and_spectral_norm_run_on_the_gpu_like_on_the_cpu(xp):
    import fastnn
    from fastnn.nn.utils import spectral_norm, weight_norm

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    dy = rng.standard_normal((3, 4)).astype(np.float32)
    for apply in (lambda m: weight_norm(m, dim=0), lambda m: spectral_norm(m)):
        fastnn.manual_seed(1)
        cpu = apply(nn.Linear(5, 4))
        fastnn.manual_seed(1)
        gpu = apply(nn.Linear(5, 4)).cuda()
        y_cpu, y_gpu = cpu(x), gpu(xp.asarray(x))
        assert isinstance(y_gpu, xp.ndarray)
        np.testing.assert_allclose(y_gpu.get() if hasattr(y_gpu, "get") else y_gpu, y_cpu, rtol=1e-5, atol=1e-6)
        cpu.backward(dy)
        gpu.backward(xp.asarray(dy))
        for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
            g = pg.grad.get() if hasattr(pg.grad, "get") else pg.grad
            np.testing.assert_allclose(g, pc.grad, rtol=1e-5, atol=1e-6, err_msg=name)


def test_weight_and_spectral_normed_modules_pickle_and_keep_training():
    import pickle

    from fastnn.nn.utils import spectral_norm, weight_norm

    for wrap in (weight_norm, spectral_norm):
        m = wrap(nn.Linear(3, 2).double())
        x = np.random.default_rng(0).standard_normal((4, 3))
        m(x)
        m2 = pickle.loads(pickle.dumps(m))
        m.eval()
        m2.eval()
        np.testing.assert_array_equal(m2(x), m(x))
        m2.train()
        m2.zero_grad()
        m2(x)
        m2.backward(np.ones((4, 2)))
        names = [n for n, p in m2.named_parameters() if n != "bias"]
        assert all(m2.get_parameter(n).has_grad for n in names), names
        assert m2.forward.__self__ is m2  # the wrapper is bound to the copy, not the original

