"""fastnn.nn.init (trunc_normal_, orthogonal_, eye_, dirac_, sparse_, deprecated aliases) and
fastnn.nn.utils.prune, against torch 2.x (same inputs, copied weights) and hand-derived values."""
import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.utils.prune as tprune  # noqa: E402

import fastnn.nn as nn
from fastnn.nn import init
from fastnn.nn.module import Parameter
from fastnn.nn.utils import prune
from fastnn.optim import SGD, Adam

TDT = {np.float64: torch.float64, np.float32: torch.float32}


# =========================================================================================
# init
# =========================================================================================
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 1), (0, 3)])
def test_eye_matches_torch(shape, dtype):
    w = np.full(shape, 7.0, dtype)
    assert init.eye_(w) is w
    np.testing.assert_array_equal(w, torch.nn.init.eye_(torch.empty(shape, dtype=TDT[dtype])).numpy())
    p = Parameter(np.full(shape, 7.0, dtype))
    assert init.eye_(p) is p
    np.testing.assert_array_equal(p.data, w)
    assert p.data.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((2, 4, 4), 1), ((6, 4, 3, 3), 1), ((6, 4, 3, 3), 2),
                                          ((6, 1, 2, 5), 3), ((4, 2, 3, 3, 3), 1), ((4, 3, 2, 3, 4), 2),
                                          ((1, 1, 1), 1)])
def test_dirac_matches_torch(shape, groups, dtype):
    w = np.full(shape, 7.0, dtype)
    assert init.dirac_(w, groups) is w
    np.testing.assert_array_equal(w, torch.nn.init.dirac_(torch.empty(shape, dtype=TDT[dtype]), groups).numpy())


def test_dirac_is_identity_of_a_conv():
    conv = nn.Conv2d(3, 3, 3, padding=1).double()
    init.dirac_(conv.weight)
    init.zeros_(conv.bias)
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 5))
    np.testing.assert_allclose(conv(x), x, atol=1e-12)


def test_eye_dirac_errors():
    with pytest.raises(ValueError, match=r"Only tensors with 2 dimensions are supported.*\(2, 3, 4\)"):
        init.eye_(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions"):
        init.eye_(np.zeros(3))
    with pytest.raises(ValueError, match=r"Only tensors with 3, 4, or 5 dimensions are supported.*\(2, 3\)"):
        init.dirac_(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5"):
        init.dirac_(np.zeros((1, 1, 1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"dim 0 must be divisible by groups.*groups=4"):
        init.dirac_(np.zeros((6, 2, 3)), groups=4)
    with pytest.raises(ValueError, match="groups must be >= 1. Received: groups=0"):
        init.dirac_(np.zeros((6, 2, 3)), groups=0)
    with pytest.raises(TypeError, match="groups must be an int"):
        init.dirac_(np.zeros((6, 2, 3)), groups=1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,sparsity", [((10, 6), 0.3), ((10, 6), 0.1), ((7, 3), 0.5), ((5, 4), 0.0),
                                            ((5, 4), 1.0), ((1, 3), 0.5), ((0, 3), 0.5), ((4, 0), 0.5)])
def test_sparse_zero_count_per_column_matches_torch(shape, sparsity, dtype):
    w = np.full(shape, 7.0, dtype)
    assert init.sparse_(w, sparsity, generator=np.random.default_rng(1)) is w
    t = torch.nn.init.sparse_(torch.empty(shape, dtype=TDT[dtype]), sparsity).numpy()
    want = math.ceil(sparsity * shape[0])  # 0.3 * 10 = 3.0000000000000004 -> 4, as torch
    np.testing.assert_array_equal((w == 0).sum(axis=0), (t == 0).sum(axis=0))
    np.testing.assert_array_equal((w == 0).sum(axis=0), np.full(shape[1], min(want, shape[0])))
    assert w.dtype == dtype


def test_sparse_values_and_randomness():
    rng = np.random.default_rng(3)
    w = init.sparse_(np.empty((400, 50)), 0.25, std=0.5, generator=rng)
    nz = w[w != 0]
    assert nz.size == 300 * 50
    assert abs(nz.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * nz.size)
    assert abs(nz.mean()) < 5 * 0.5 / math.sqrt(nz.size)
    zero_rows = [tuple(np.flatnonzero(w[:, j] == 0)) for j in range(50)]
    assert len(set(zero_rows)) == 50  # each column its own rows
    assert abs((w == 0).mean(axis=1).mean() - 0.25) < 1e-12
    assert (w == 0).any(axis=1).sum() > 390  # zeros spread over (almost) all rows


def test_sparse_errors():
    with pytest.raises(ValueError, match=r"Only tensors with 2 dimensions are supported.*\(3,\)"):
        init.sparse_(np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        init.sparse_(np.zeros((3, 3)), -0.1)
    with pytest.raises(ValueError, match="sparsity must be in"):
        init.sparse_(np.zeros((3, 3)), 1.5)
    with pytest.raises(TypeError, match="sparsity must be a real number"):
        init.sparse_(np.zeros((3, 3)), "0.5")


def _truncnorm_moments(mean, std, a, b):
    phi = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    al, be = (a - mean) / std, (b - mean) / std
    z = cdf(be) - cdf(al)
    m = mean + std * (phi(al) - phi(be)) / z
    var = std**2 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0),      # defaults: normal + redraw
                                          (0.5, 2.0, -1.0, 1.5),      # mass 0.35 > 0.3: redraw branch
                                          (0.0, 1.0, 1.0, 3.0),       # mass 0.157: rejection branch
                                          (1.0, 0.1, -0.5, 0.95),     # mode at b, far tail
                                          (0.0, 0.02, -0.04, 0.04)])  # the transformers' init
def test_trunc_normal_bounds_and_moments(mean, std, a, b, dtype):
    n = 100_000
    m, s = _truncnorm_moments(mean, std, a, b)
    w = np.empty((n // 100, 100), dtype)
    assert init.trunc_normal_(w, mean, std, a, b, generator=np.random.default_rng(5)) is w
    t = torch.nn.init.trunc_normal_(torch.empty((n // 100, 100), dtype=TDT[dtype]), mean, std, a, b,
                                    generator=torch.Generator().manual_seed(5)).numpy()
    for x in (w, t):  # ours and torch's satisfy the same limits
        assert x.min() >= np.asarray(a, dtype) and x.max() <= np.asarray(b, dtype)
        assert abs(x.mean(dtype=np.float64) - m) < 5 * s / math.sqrt(n)
        assert abs(x.std(dtype=np.float64) - s) < 5 * s / math.sqrt(2 * n)  # se <= s / sqrt(2n): kurtosis <= 3
    assert len(np.unique(w)) > n * 0.9


def test_trunc_normal_parameter_seed_and_degenerate_cases():
    import fastnn

    fastnn.manual_seed(4)
    p = init.trunc_normal_(Parameter(np.zeros((30, 20), np.float32)), std=0.5)
    fastnn.manual_seed(4)
    q = init.trunc_normal_(np.zeros((30, 20), np.float32), std=0.5)
    np.testing.assert_array_equal(p.data, q)
    g1 = init.trunc_normal_(np.empty(50), generator=np.random.default_rng(9))
    g2 = init.trunc_normal_(np.empty(50), generator=np.random.default_rng(9))
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(init.trunc_normal_(np.empty((4, 2)), 0.0, 1.0, 0.25, 0.25), np.full((4, 2), 0.25))
    assert init.trunc_normal_(np.empty((0, 3))).shape == (0, 3)


def test_trunc_normal_warning_and_errors():
    with pytest.warns(UserWarning, match=r"mean is more than 2 std from \[a, b\] in nn.init.trunc_normal_"):
        w = init.trunc_normal_(np.empty(1000), mean=10.0, std=1.0, a=-2.0, b=2.0)
    assert w.min() >= -2 and w.max() <= 2 and w.mean() > 1.5  # piled up near b
    with pytest.raises(ValueError, match="needs std > 0. Received: std=0.0"):
        init.trunc_normal_(np.empty(3), std=0.0)
    with pytest.raises(RuntimeError, match="needs a <= b. Received: a=2.0, b=-2.0"):
        init.trunc_normal_(np.empty(3), a=2.0, b=-2.0)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        init.trunc_normal_(np.empty(3), generator=42)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 6), (6, 1), (4, 2, 3), (2, 3, 2, 2), (7, 2, 2)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain, dtype):
    w = np.zeros(shape, dtype)
    assert init.orthogonal_(w, gain, generator=np.random.default_rng(0)) is w
    t = torch.nn.init.orthogonal_(torch.empty(shape, dtype=TDT[dtype]), gain).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for x in (w, t):
        m = x.reshape(shape[0], -1).astype(np.float64)
        rows, cols = m.shape
        gram = m @ m.T if rows <= cols else m.T @ m
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=tol * gain**2)
    assert w.dtype == dtype


def test_orthogonal_is_haar_distributed():
    # QR without the sign correction gives Q[0, 0] = -|x0| / ||x|| < 0 always (LAPACK's sign)
    rng = np.random.default_rng(1)
    n, draws = 3, 3000
    q00 = np.array([init.orthogonal_(np.empty((n, n)), generator=rng)[0, 0] for _ in range(draws)])
    assert abs(q00.mean()) < 5 * math.sqrt(1 / n / draws)
    assert abs((q00**2).mean() - 1 / n) < 0.03
    wide = np.array([init.orthogonal_(np.empty((2, 4)), generator=rng)[:, 0] for _ in range(draws)])
    assert np.all(np.abs(wide.mean(axis=0)) < 5 * math.sqrt(1 / 4 / draws))


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match=r"Only tensors with 2 or more dimensions are supported.*\(5,\)"):
        init.orthogonal_(np.zeros(5))
    w = np.full((0, 3), 7.0)
    assert init.orthogonal_(w) is w
    p = Parameter(np.zeros((3, 4), np.float32))
    init.orthogonal_(p, gain=init.calculate_gain("relu"))
    np.testing.assert_allclose(p.data @ p.data.T, 2 * np.eye(3), atol=1e-5)


def test_generator_on_existing_initializers():
    for fn, args in ((init.uniform_, (-1.0, 1.0)), (init.normal_, (0.0, 2.0)), (init.xavier_uniform_, ()),
                     (init.xavier_normal_, ()), (init.kaiming_uniform_, ()), (init.kaiming_normal_, ())):
        a = fn(np.empty((4, 5)), *args, generator=np.random.default_rng(2))
        b = fn(np.empty((4, 5)), *args, generator=np.random.default_rng(2))
        c = fn(np.empty((4, 5)), *args, generator=np.random.default_rng(3))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        init.uniform_(np.empty(3), generator=torch.Generator())


ALIASES = [("uniform", (0.0, 1.0), {"generator": 0}), ("normal", (0.0, 1.0), {"generator": 0}),
           ("constant", (0.5,), {}), ("eye", (), {}), ("dirac", (), {}), ("xavier_uniform", (), {"generator": 0}),
           ("xavier_normal", (), {"generator": 0}), ("kaiming_uniform", (), {"generator": 0}),
           ("kaiming_normal", (), {"generator": 0}), ("orthogonal", (), {"generator": 0}),
           ("sparse", (0.5,), {"generator": 0})]


@pytest.mark.parametrize("old,args,kwargs", ALIASES)
def test_deprecated_aliases_warn_as_torch_and_call_the_underscore_version(old, args, kwargs):
    shape = (4, 2, 3) if old == "dirac" else (4, 6)
    kw = {k: np.random.default_rng(7) for k in kwargs}
    with pytest.warns(FutureWarning, match=rf"^`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`.$"):
        a = getattr(init, old)(np.empty(shape), *args, **kw)
    kw = {k: np.random.default_rng(7) for k in kwargs}
    b = getattr(init, old + "_")(np.empty(shape), *args, **kw)
    np.testing.assert_array_equal(a, b)
    assert getattr(init, old).__name__ == old
    # torch's: same class and text
    with pytest.warns(FutureWarning) as rec:
        getattr(torch.nn.init, old)(torch.empty(shape), *args)
    assert str(rec[0].message) == f"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`."


def test_init_on_the_device(xp):
    p = Parameter(xp.zeros((4, 6), dtype=np.float32))
    for fn, args in ((init.eye_, ()), (init.orthogonal_, ()), (init.trunc_normal_, ()), (init.sparse_, (0.5,))):
        fn(p, *args)
        host = p.data.get()
        ref = fn(np.zeros((4, 6), np.float32), *args) if fn is init.eye_ else None
        if ref is not None:
            np.testing.assert_array_equal(host, ref)
    init.dirac_(Parameter(xp.zeros((2, 2, 3), dtype=np.float64)))
    q = Parameter(xp.zeros((3, 3), dtype=np.float64))
    init.orthogonal_(q, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(q.data.get(), init.orthogonal_(np.zeros((3, 3)), generator=np.random.default_rng(0)))


# =========================================================================================
# prune
# =========================================================================================
def _pair(kind, seed=0, dtype=np.float64):
    if kind == "linear":
        f, t, shape = nn.Linear(6, 5), torch.nn.Linear(6, 5), (4, 6)
    elif kind == "conv2d":
        f, t, shape = nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1), (2, 3, 5, 5)
    elif kind == "conv1d":
        f, t, shape = nn.Conv1d(3, 4, 2), torch.nn.Conv1d(3, 4, 2), (2, 3, 6)
    else:
        raise AssertionError(kind)
    f.to(dtype)
    t.to(TDT[dtype])
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in t.named_parameters():
            v = rng.normal(size=tuple(p.shape))  # continuous: no ties
            p.copy_(torch.from_numpy(v))
            getattr(f, name).data[...] = v
    return f, t, shape


def _same_state(f, t, exact=True):
    fs, ts = f.state_dict(), t.state_dict()
    assert list(fs) == list(ts)
    for k in fs:
        if exact:
            np.testing.assert_array_equal(fs[k], ts[k].numpy(), err_msg=k)
        else:
            np.testing.assert_allclose(fs[k], ts[k].numpy(), rtol=1e-12, atol=1e-12, err_msg=k)
    assert [n for n, _ in f.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in f.named_buffers()] == [n for n, _ in t.named_buffers()]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["linear", "conv2d"])
@pytest.mark.parametrize("amount", [0, 1, 7, 0.0, 0.3, 0.55, 1.0])
def test_l1_unstructured_matches_torch(kind, amount, dtype):
    f, t, _ = _pair(kind, dtype=dtype)
    w0 = f.weight
    assert prune.l1_unstructured(f, "weight", amount=amount) is f
    tprune.l1_unstructured(t, "weight", amount=amount)
    _same_state(f, t)
    assert f.weight_orig is w0 and f.weight_orig.trainable  # the same Parameter, still trained
    assert f.weight_mask.dtype == dtype
    np.testing.assert_array_equal(f.weight.data, t.weight.detach().numpy())
    assert "weight" not in dict(f.named_parameters())
    assert prune.is_pruned(f) and tprune.is_pruned(t)


@pytest.mark.parametrize("kind,n,dim,amount", [("linear", 2, 0, 2), ("linear", 1, -1, 0.5), ("linear", np.inf, 1, 3),
                                               ("conv2d", 1, 0, 0.5), ("conv2d", 2, 1, 1), ("conv2d", -np.inf, 0, 2),
                                               ("conv1d", "fro", -1, 0.34), ("conv2d", 0.5, 2, 1),
                                               ("linear", "fro", 0, 0.34),
                                               ("conv1d", "nuc", 0, 2), ("conv1d", 3, 1, 0.0), ("conv1d", 2, 2, 1)])
def test_ln_structured_matches_torch(kind, n, dim, amount):
    f, t, _ = _pair(kind, seed=1)
    prune.ln_structured(f, "weight", amount=amount, n=n, dim=dim)
    tprune.ln_structured(t, "weight", amount=amount, n=n, dim=dim)
    _same_state(f, t)


def test_iterative_pruning_composes_masks_as_torch():
    f, t, _ = _pair("conv2d", seed=2)
    steps = [("l1", dict(amount=0.3)), ("l1", dict(amount=5)), ("ln", dict(amount=1, n=2, dim=0)),
             ("ln", dict(amount=0.5, n=1, dim=1)), ("l1", dict(amount=0.25))]
    for i, (kind, kw) in enumerate(steps):
        (prune.l1_unstructured if kind == "l1" else prune.ln_structured)(f, "weight", **kw)
        (tprune.l1_unstructured if kind == "l1" else tprune.ln_structured)(
            t, "weight", **kw)
        _same_state(f, t)
        hook = prune._find_hook(f, "weight")
        if i == 0:
            assert isinstance(hook.method, prune.L1Unstructured)
        else:
            assert isinstance(hook.method, prune.PruningContainer) and len(hook.method) == i + 1
    assert [type(m).__name__ for m in prune._find_hook(f, "weight").method] == \
        ["L1Unstructured", "L1Unstructured", "LnStructured", "LnStructured", "L1Unstructured"]
    # already-pruned entries are not counted again: 36*... checked by hand for the first two steps
    f2, _, _ = _pair("linear", seed=3)
    prune.l1_unstructured(f2, "weight", amount=0.5)   # 15 of 30
    prune.l1_unstructured(f2, "weight", amount=0.5)   # round(0.5 * 15) = 8 of the 15 left
    assert int((f2.weight_mask == 0).sum()) == 23
    prune.l1_unstructured(f2, "weight", amount=7)     # 7 of the 7 left
    assert int((f2.weight_mask == 0).sum()) == 30
    with pytest.raises(ValueError, match="amount=1 should be smaller than the number of parameters to prune=0"):
        prune.l1_unstructured(f2, "weight", amount=1)
    assert len(prune._find_hook(f2, "weight").method) == 3  # the failed step left the container as it was


def test_iterative_pruning_scores_are_the_weight_of_the_last_forward():
    f, t, shape = _pair("linear", seed=4)
    prune.l1_unstructured(f, "weight", amount=0.2)
    tprune.l1_unstructured(t, "weight", amount=0.2)
    scale = np.linspace(0.1, 3, 30).reshape(5, 6)
    with torch.no_grad():
        t.weight_orig.mul_(torch.from_numpy(scale))
    f.weight_orig.data *= scale
    prune.l1_unstructured(f, "weight", amount=0.2)   # stale module.weight: torch's too
    tprune.l1_unstructured(t, "weight", amount=0.2)
    _same_state(f, t)
    x = np.random.default_rng(0).normal(size=shape)
    f(x)
    t(torch.from_numpy(x))
    prune.l1_unstructured(f, "weight", amount=3)
    tprune.l1_unstructured(t, "weight", amount=3)
    _same_state(f, t)


def test_random_pruning_counts_and_composition():
    import fastnn

    fastnn.manual_seed(0)
    f, t, _ = _pair("conv2d", seed=5)   # weight (4, 3, 3, 3): 108 entries
    prune.random_unstructured(f, "weight", amount=0.5)
    tprune.random_unstructured(t, "weight", amount=0.5)
    assert int((f.weight_mask == 0).sum()) == int((t.weight_mask == 0).sum()) == 54
    prune.random_unstructured(f, "weight", amount=0.25)   # round(0.25 * 54) = 14 more
    tprune.random_unstructured(t, "weight", amount=0.25)
    assert int((f.weight_mask == 0).sum()) == int((t.weight_mask == 0).sum()) == 68
    prune.random_structured(f, "weight", amount=1, dim=0)
    zeroed = [c for c in range(4) if not f.weight_mask[c].any()]
    assert len(zeroed) >= 1
    kept = [c for c in range(4) if c not in zeroed]
    before = np.array(f.weight_mask)
    prune.random_structured(f, "weight", amount=0.5, dim=0)   # half of the channels not yet all zero
    newly = [c for c in kept if not f.weight_mask[c].any()]
    assert len(newly) == round(0.5 * len(kept))
    assert np.all(f.weight_mask <= before)
    # values are orig * mask
    np.testing.assert_array_equal(f.weight.data, f.weight_orig.data * f.weight_mask)


def test_random_unstructured_is_uniform_and_seeded():
    import fastnn

    counts = np.zeros(20)
    for s in range(300):
        fastnn.manual_seed(s)
        lin = nn.Linear(5, 4)
        prune.random_unstructured(lin, "weight", amount=5)
        counts += (lin.weight_mask == 0).ravel()
    assert counts.sum() == 1500
    assert np.all(np.abs(counts - 75) < 5 * math.sqrt(75))
    fastnn.manual_seed(11)
    a = prune.random_structured(nn.Linear(5, 8), "weight", amount=3, dim=0).weight_mask
    fastnn.manual_seed(11)
    b = prune.random_structured(nn.Linear(5, 8), "weight", amount=3, dim=0).weight_mask
    np.testing.assert_array_equal(a, b)
    assert ((a == 0).all(axis=1)).sum() == 3


def test_importance_scores_custom_mask_identity_and_bias():
    f, t, _ = _pair("linear", seed=6)
    scores = np.random.default_rng(1).normal(size=(5, 6))
    prune.l1_unstructured(f, "weight", amount=9, importance_scores=scores)
    tprune.l1_unstructured(t, "weight", amount=9, importance_scores=torch.from_numpy(scores))
    prune.ln_structured(f, "weight", amount=2, n=1, dim=1, importance_scores=scores)
    tprune.ln_structured(t, "weight", amount=2, n=1, dim=1, importance_scores=torch.from_numpy(scores))
    mask = np.array([1, 0, 1, 1, 0], np.int64)
    prune.custom_from_mask(f, "bias", mask=mask)
    tprune.custom_from_mask(t, "bias", mask=torch.from_numpy(mask))
    _same_state(f, t)
    assert list(f.state_dict()) == ["weight_orig", "bias_orig", "weight_mask", "bias_mask"]
    g, u, _ = _pair("linear", seed=6)
    prune.identity(g, "weight")
    tprune.identity(u, "weight")
    _same_state(g, u)
    assert np.all(g.weight_mask == 1)
    prune.l1_unstructured(g, "bias", amount=2)   # a 1-D parameter: unstructured works
    tprune.l1_unstructured(u, "bias", amount=2)
    _same_state(g, u)


def test_prune_method_and_custom_subclass():
    w = np.array([[0.5, -2.0, 0.1], [3.0, -0.2, 1.0]])
    np.testing.assert_array_equal(prune.L1Unstructured(2).prune(w), [[0.5, -2.0, 0], [3.0, 0, 1.0]])
    sc = w[::-1] * np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(prune.L1Unstructured(2).prune(w, importance_scores=sc),
                                  tprune.L1Unstructured(2).prune(
                                      torch.from_numpy(w), importance_scores=torch.from_numpy(sc)).numpy())
    np.testing.assert_array_equal(prune.L1Unstructured(2).prune(w, importance_scores=sc), [[0.5, 0, 0.1], [3, -0.2, 0]])
    np.testing.assert_array_equal(prune.LnStructured(1, n=1, dim=1).prune(w, default_mask=np.ones((2, 3))),
                                  [[0.5, -2.0, 0], [3.0, -0.2, 0]])
    # ties: the lower flat index goes first (documented choice)
    np.testing.assert_array_equal(prune.L1Unstructured(2).compute_mask(np.ones(4), np.ones(4)), [0, 0, 1, 1])
    np.testing.assert_array_equal(prune.LnStructured(1, n=2, dim=0).compute_mask(np.ones((3, 2)), np.ones((3, 2))),
                                  [[0, 0], [1, 1], [1, 1]])

    class KeepEveryOther(prune.BasePruningMethod):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):
            mask = default_mask.copy()
            mask.reshape(-1)[::2] = 0
            return mask

    lin = nn.Linear(3, 2).double()
    method = KeepEveryOther.apply(lin, "weight")
    assert method._tensor_name == "weight"
    np.testing.assert_array_equal(lin.weight_mask, [[0, 1, 0], [1, 0, 1]])
    KeepEveryOther.apply(lin, "weight")   # the 3 entries left: 1st and 3rd of them
    np.testing.assert_array_equal(lin.weight_mask, [[0, 0, 0], [1, 0, 0]])
    with pytest.raises(TypeError, match="abstract"):
        prune.BasePruningMethod()


def test_global_unstructured_matches_torch():
    f1, t1, _ = _pair("linear", seed=7)
    f2, t2, _ = _pair("conv2d", seed=8)
    prune.l1_unstructured(f1, "weight", amount=4)  # one of them pruned before
    tprune.l1_unstructured(t1, "weight", amount=4)
    params_f = ((f1, "weight"), (f2, "weight"), (f2, "bias"))
    params_t = ((t1, "weight"), (t2, "weight"), (t2, "bias"))
    prune.global_unstructured(iter(params_f), pruning_method=prune.L1Unstructured, amount=0.4)
    tprune.global_unstructured(params_t, pruning_method=tprune.L1Unstructured, amount=0.4)
    _same_state(f1, t1)
    _same_state(f2, t2)
    total = sum(int((m == 0).sum()) for m in (f1.weight_mask, f2.weight_mask, f2.bias_mask))
    assert total == 4 + round(0.4 * (30 - 4 + 108 + 4))
    sc = np.random.default_rng(2).normal(size=(4, 3, 3, 3))
    prune.global_unstructured(params_f, prune.L1Unstructured, importance_scores={(f2, "weight"): sc}, amount=10)
    tprune.global_unstructured(params_t, tprune.L1Unstructured,
                                             importance_scores={(t2, "weight"): torch.from_numpy(sc)}, amount=10)
    _same_state(f1, t1)
    _same_state(f2, t2)
    f3, t3, _ = _pair("linear", seed=9)
    import fastnn

    fastnn.manual_seed(0)
    prune.global_unstructured([(f3, "weight"), (f3, "bias")], prune.RandomUnstructured, amount=7)
    assert int((f3.weight_mask == 0).sum() + (f3.bias_mask == 0).sum()) == 7


def test_remove_makes_pruning_permanent():
    f, t, shape = _pair("linear", seed=10)
    w0 = f.weight
    prune.l1_unstructured(f, "weight", amount=0.4)
    prune.ln_structured(f, "weight", amount=1, n=2, dim=0)
    tprune.l1_unstructured(t, "weight", amount=0.4)
    tprune.ln_structured(t, "weight", amount=1, n=2, dim=0)
    assert prune.remove(f, "weight") is f
    tprune.remove(t, "weight")
    _same_state(f, t)
    assert list(f.state_dict()) == ["bias", "weight"]
    assert f.weight is w0 and isinstance(f.weight, Parameter) and f.weight.trainable
    assert "weight_orig" not in f.__dict__ and "weight_mask" not in f.__dict__
    assert not prune.is_pruned(f)
    x = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(f(x), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12)
    assert "forward" not in f.__dict__   # the class's methods again
    with pytest.raises(ValueError, match="Parameter 'weight' of module .* has to be pruned before pruning can be"):
        prune.remove(f, "weight")
    # the module can be pruned again from scratch
    prune.l1_unstructured(f, "weight", amount=1)
    assert int((f.weight_mask == 0).sum()) == 1   # a fresh mask (the zeros are in weight_orig now)
    assert int((f.weight_orig.data == 0).sum()) == int((t.weight == 0).sum()) >= 12


def _train_compare(f, t, shape, make_opt, steps, seed, reprune=None):
    """steps of forward / backward / optimizer step on the pruned fastnn and torch modules,
    comparing outputs, dx, the gradients of every parameter and the parameters after each."""
    rng = np.random.default_rng(seed)
    fo, to = make_opt(f.parameters(), SGD), make_opt(t.parameters(), torch.optim.SGD)
    for step in range(steps):
        if reprune is not None and step == steps // 2:
            reprune(f, prune)
            reprune(t, tprune)
        x = rng.normal(size=shape)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y, yt = f(x), t(xt)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=f"y {step}")
        dy = rng.normal(size=y.shape)
        fo.zero_grad()
        to.zero_grad()
        dx = f.backward(dy)
        yt.backward(torch.from_numpy(dy))
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"dx {step}")
        tp = dict(t.named_parameters())
        for name, p in f.named_parameters():
            np.testing.assert_allclose(p.grad, tp[name].grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{name} {step}")
        fo.step()
        to.step()
        _same_state(f, t, exact=False)
    # the pruned entries of weight_orig get no gradient: with plain SGD they never move
    return f, t


@pytest.mark.parametrize("kind", ["linear", "conv2d"])
@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum_wd", "adam"])
def test_pruned_module_trains_like_torch(kind, opt):
    f, t, shape = _pair(kind, seed=11)
    if kind == "linear":
        prune.l1_unstructured(f, "weight", amount=0.4)
        tprune.l1_unstructured(t, "weight", amount=0.4)
        prune.l1_unstructured(f, "bias", amount=2)
        tprune.l1_unstructured(t, "bias", amount=2)
    else:
        prune.ln_structured(f, "weight", amount=1, n=2, dim=0)
        tprune.ln_structured(t, "weight", amount=1, n=2, dim=0)
        prune.l1_unstructured(f, "weight", amount=20)
        tprune.l1_unstructured(t, "weight", amount=20)
    _same_state(f, t)

    def make_opt(params, sgd):
        if opt == "sgd":
            return sgd(params, lr=0.05)
        if opt == "sgd_momentum_wd":
            return sgd(params, lr=0.05, momentum=0.9, weight_decay=0.01)
        return (Adam if sgd is SGD else torch.optim.Adam)(params, lr=0.01)

    def reprune(m, lib):
        lib.l1_unstructured(m, "weight", amount=0.2)

    before = f.weight_orig.data.copy()
    mask0 = f.weight_mask.copy()
    _train_compare(f, t, shape, make_opt, steps=6, seed=12, reprune=reprune)
    if opt == "sgd":
        np.testing.assert_array_equal(f.weight_orig.data[mask0 == 0], before[mask0 == 0])
    assert np.any(f.weight_orig.data[mask0 == 1] != before[mask0 == 1])
    prune.remove(f, "weight")
    tprune.remove(t, "weight")
    _same_state(f, t, exact=False)


def test_pruned_layer_inside_sequential_and_deepcopy():
    seq = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    tseq = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for (n, p), (_, q) in zip(seq.named_parameters(), tseq.named_parameters()):
            q.copy_(torch.from_numpy(p.data))
    prune.l1_unstructured(seq[0], "weight", amount=0.5)
    tprune.l1_unstructured(tseq[0], "weight", amount=0.5)
    assert prune.is_pruned(seq) and not prune.is_pruned(seq[2])
    assert list(seq.state_dict()) == list(tseq.state_dict())
    clone = copy.deepcopy(seq)
    _train_compare(seq, tseq, (5, 4), lambda params, sgd: sgd(params, lr=0.1), steps=3, seed=13)
    # the copy is pruned on its own: its mask and weight_orig did not move with the original
    assert clone[0].weight_mask is not seq[0].weight_mask
    np.testing.assert_array_equal(clone[0].weight_mask, seq[0].weight_mask)
    assert not np.array_equal(clone[0].weight_orig.data, seq[0].weight_orig.data)
    x = np.random.default_rng(1).normal(size=(2, 4))
    y = clone(x)
    clone.backward(np.ones_like(y))
    assert np.all(clone[0].weight_orig.grad[clone[0].weight_mask == 0] == 0)
    assert np.any(clone[0].weight_orig.grad != 0)
    sd = seq.state_dict()
    fresh = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()
    prune.identity(fresh[0], "weight")
    fresh.load_state_dict(sd)
    np.testing.assert_array_equal(fresh(x), seq(x))


def test_prune_errors():
    lin = nn.Linear(3, 2)
    for bad, err, msg in ((-1, ValueError, "amount=-1 should either be a float in the range"),
                          (1.5, ValueError, r"amount=1.5 should either be a float in the range \[0, 1\]"),
                          (-0.1, ValueError, "amount=-0.1 should"),
                          ("0.5", TypeError, "Invalid type for amount: '0.5'. Must be int or float."),
                          (None, TypeError, "Invalid type for amount")):
        with pytest.raises(err, match=msg):
            prune.l1_unstructured(lin, "weight", amount=bad)
        with pytest.raises(err, match=msg):
            prune.RandomStructured(bad)
    assert not prune.is_pruned(lin) and list(dict(lin.named_parameters())) == ["weight", "bias"]
    with pytest.raises(ValueError, match="amount=7 should be smaller than the number of parameters to prune=6"):
        prune.l1_unstructured(lin, "weight", amount=7)
    with pytest.raises(ValueError, match="amount=3 should be smaller than the number of parameters to prune=2"):
        prune.ln_structured(lin, "weight", amount=3, n=2, dim=0)
    # a failed first pruning leaves the module as it was
    assert not prune.is_pruned(lin) and list(dict(lin.named_parameters())) == ["weight", "bias"]
    assert "forward" not in lin.__dict__ and not lin._buffers
    with pytest.raises(ValueError, match=r"Structured pruning can only be applied to multidimensional tensors.*\(2,\)"):
        prune.random_structured(lin, "bias", amount=1, dim=0)
    with pytest.raises(IndexError, match=r"Invalid index 2 for tensor of size \(2, 3\)"):
        prune.ln_structured(lin, "weight", amount=1, n=2, dim=2)
    with pytest.raises(IndexError, match="Invalid index -3"):
        prune.random_structured(lin, "weight", amount=1, dim=-3)
    with pytest.raises(ValueError, match="n must be a number, 'fro' or 'nuc'. Received: n='l1'"):
        prune.ln_structured(lin, "weight", amount=1, n="l1", dim=0)
    with pytest.raises(RuntimeError, match="n='fro' needs at most 2 dims besides dim"):
        prune.ln_structured(nn.Conv2d(1, 2, 2), "weight", amount=1, n="fro", dim=0)
    with pytest.raises(ValueError, match="n='nuc' needs a 3-D tensor"):
        prune.ln_structured(lin, "weight", amount=1, n="nuc", dim=0)
    with pytest.raises(AssertionError, match=r"importance_scores should have the same shape as parameter weight"):
        prune.l1_unstructured(lin, "weight", amount=1, importance_scores=np.ones((3, 2)))
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'kernel'"):
        prune.l1_unstructured(lin, "kernel", amount=1)
    with pytest.raises(TypeError, match="expects a fastnn.nn.Module"):
        prune.l1_unstructured(torch.nn.Linear(2, 2), "weight", amount=1)
    with pytest.raises(ValueError, match="Parameter 'bias' of module .* has to be pruned before"):
        prune.remove(lin, "bias")
    with pytest.raises(AssertionError, match="default_mask shape"):
        prune.custom_from_mask(lin, "weight", mask=np.ones((3, 2)))
    assert not prune.is_pruned(lin)
    with pytest.raises(TypeError, match="global_unstructured\\(\\): parameters is not an Iterable"):
        prune.global_unstructured(5, prune.L1Unstructured, amount=1)
    with pytest.raises(TypeError, match="importance_scores must be of type dict"):
        prune.global_unstructured([(lin, "weight")], prune.L1Unstructured, importance_scores=[1], amount=1)
    with pytest.raises(TypeError, match='Only "unstructured" PRUNING_TYPE supported'):
        prune.global_unstructured([(lin, "weight")], prune.LnStructured, amount=1, n=2, dim=0)
    with pytest.raises(TypeError, match="is not a BasePruningMethod subclass"):
        prune.PruningContainer(prune.Identity()).add_pruning_method("x")
    m = prune.L1Unstructured(1)
    m._tensor_name = "bias"
    with pytest.raises(ValueError, match="Can only add pruning methods acting on the parameter named 'weight'"):
        c = prune.PruningContainer()
        c._tensor_name = "weight"
        c.add_pruning_method(m)
    with pytest.raises(AssertionError, match="has to be pruned"):
        prune.L1Unstructured(1).apply_mask(lin)
    with pytest.raises(AssertionError, match="has to be pruned before pruning can be removed"):
        prune.L1Unstructured(1).remove(lin)
    prune.l1_unstructured(lin, "weight", amount=2)
    with pytest.raises(ValueError, match="amount=5 should be smaller than the number of parameters to prune=4"):
        prune.l1_unstructured(lin, "weight", amount=5)
    assert isinstance(prune._find_hook(lin, "weight").method, prune.L1Unstructured)   # unchanged
    assert int((lin.weight_mask == 0).sum()) == 2


def test_prune_on_the_device_like_on_the_cpu(xp):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6)).astype(np.float32)
    dy = rng.normal(size=(3, 5)).astype(np.float32)
    cpu, _, _ = _pair("linear", seed=14, dtype=np.float32)
    gpu = copy.deepcopy(cpu).cuda()
    for m in (cpu, gpu):
        prune.l1_unstructured(m, "weight", amount=0.3)
        prune.ln_structured(m, "weight", amount=1, n=1, dim=1)
        prune.custom_from_mask(m, "bias", mask=np.array([1, 0, 1, 1, 1]))
        prune.random_unstructured(m, "bias", amount=0)
    assert isinstance(gpu.weight_mask, xp.ndarray) and isinstance(gpu.weight_orig.data, xp.ndarray)
    np.testing.assert_array_equal(gpu.weight_mask.get(), cpu.weight_mask)
    np.testing.assert_array_equal(gpu.bias_mask.get(), cpu.bias_mask)
    y_cpu, y_gpu = cpu(x), gpu(xp.asarray(x))
    assert isinstance(y_gpu, xp.ndarray)
    np.testing.assert_allclose(y_gpu.get(), y_cpu, rtol=1e-5, atol=1e-6)
    cpu.backward(dy)
    gpu.backward(xp.asarray(dy))
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        np.testing.assert_allclose(pg.grad.get(), pc.grad, rtol=1e-5, atol=1e-6, err_msg=name)
    prune.global_unstructured([(gpu, "weight"), (gpu, "bias")], prune.L1Unstructured, amount=3)
    prune.global_unstructured([(cpu, "weight"), (cpu, "bias")], prune.L1Unstructured, amount=3)
    np.testing.assert_array_equal(gpu.weight_mask.get(), cpu.weight_mask)
    prune.remove(gpu, "weight")
    prune.remove(cpu, "weight")
    assert isinstance(gpu.weight.data, xp.ndarray)
    np.testing.assert_array_equal(gpu.weight.data.get(), cpu.weight.data)


def test_prune_then_move_to_the_device(xp):
    cpu, _, _ = _pair("linear", seed=15, dtype=np.float32)
    prune.l1_unstructured(cpu, "weight", amount=0.5)
    gpu = copy.deepcopy(cpu).cuda()
    assert isinstance(gpu.weight_mask, xp.ndarray)
    x = np.random.default_rng(2).normal(size=(2, 6)).astype(np.float32)
    np.testing.assert_allclose(gpu(xp.asarray(x)).get(), cpu(x), rtol=1e-5, atol=1e-6)
    gpu.backward(xp.ones((2, 5), dtype=np.float32))
    cpu.backward(np.ones((2, 5), np.float32))
    np.testing.assert_allclose(gpu.weight_orig.grad.get(), cpu.weight_orig.grad, rtol=1e-5, atol=1e-6)


def test_init_keyword_names_and_kaiming_default_are_torchs():
    torch = pytest.importorskip("torch")
    import inspect

    from fastnn.nn import init as finit

    for name in ("uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_", "xavier_normal_",
                 "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "orthogonal_", "eye_", "dirac_", "sparse_"):
        ours = list(inspect.signature(getattr(finit, name)).parameters)
        theirs = list(inspect.signature(getattr(torch.nn.init, name)).parameters)
        assert ours == theirs, (name, ours, theirs)
    # torch's Linear init: kaiming_uniform_(w, a=sqrt(5)) with the default (leaky_relu) gain
    w = np.empty((300, 400))
    finit.kaiming_uniform_(tensor=w, a=5 ** 0.5, generator=np.random.default_rng(0))
    bound = (2.0 / 6.0) ** 0.5 * (3.0 / 400) ** 0.5  # gain sqrt(2 / (1 + a^2)), a^2 = 5
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    finit.constant_(tensor=w, val=2.5)
    assert (w == 2.5).all()
