"""TripletMarginWithDistanceLoss, LPPool3d, MaxUnpool3d, EmbeddingBag and CTCLoss against torch.nn:
forward and gradients (torch autograd, a random upstream gradient where the output is not a
scalar) in float32 and float64, reprs, state_dict names, save/load, argument errors.

Tolerances as tests/test_conformance_nn_extra.py's (float32 results are compared with torch in
float64 on the same float32 values, the truth; float64 with torch's float64): EXACT for copies
(MaxUnpool, EmbeddingBag's max mode), COMPUTED (rtol/atol 1e-6 float32, 1e-12 float64) for
results computed in float64 and rounded once.
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.nn import extra4

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _t(a, grad=False):
    import torch
    return torch.tensor(np.asarray(a).astype(np.float64), requires_grad=grad)


# --- TripletMarginWithDistanceLoss -------------------------------------------------------------

TRIPLET_DIST = [
    ("default", lambda: None, lambda t: None),
    ("pairwise p1", lambda: nn.PairwiseDistance(p=1.0), lambda t: t.nn.PairwiseDistance(p=1.0)),
    ("cosine", lambda: nn.CosineSimilarity(dim=-1), lambda t: t.nn.CosineSimilarity(dim=-1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("dist", TRIPLET_DIST, ids=[d[0] for d in TRIPLET_DIST])
@pytest.mark.parametrize("shape", [(6, 5), (4,)])
def test_triplet_with_distance_matches_torch(torch, dist, swap, reduction, dtype, shape):
    rng = np.random.default_rng(hash((swap, reduction, shape)) % 1000)
    a, p, n = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    loss = extra4.TripletMarginWithDistanceLoss(distance_function=dist[1](), margin=0.7, swap=swap,
                                                reduction=reduction)
    ref = torch.nn.TripletMarginWithDistanceLoss(distance_function=dist[2](torch), margin=0.7, swap=swap,
                                                 reduction=reduction)
    ta, tp, tn = _t(a, True), _t(p, True), _t(n, True)
    ty = ref(ta, tp, tn)
    y = loss(a, p, n)
    if reduction == "none":
        assert y.dtype == dtype and y.shape == tuple(ty.shape)
        dy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(_t(dy))
        grads = loss.backward(dy)
    else:
        assert isinstance(y, float)
        ty.backward()
        grads = loss.backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), **COMPUTED[dtype])
    assert len(grads) == 3
    for g, tx in zip(grads, (ta, tp, tn)):
        assert g.dtype == dtype and g.shape == shape
        np.testing.assert_allclose(g, tx.grad.numpy(), **COMPUTED[dtype])
    assert np.abs(np.stack(grads)).max() > 0 or float(np.max(ty.detach().numpy())) == 0


def test_triplet_with_distance_swap_tie_and_scaled_backward(torch):
    a = np.array([[0.0, 0.0], [1.0, 2.0]])
    p = np.array([[0.0, 0.0], [1.0, 2.5]])
    n = np.array([[0.5, 0.0], [1.0, 2.0]])  # row 0: p == a, so d(a, n) == d(p, n): a tie
    loss = extra4.TripletMarginWithDistanceLoss(swap=True)
    ref = torch.nn.TripletMarginWithDistanceLoss(swap=True)
    ta, tp, tn = _t(a, True), _t(p, True), _t(n, True)
    ref(ta, tp, tn).backward(_t(2.5))
    loss(a, p, n)
    for g, tx in zip(loss.backward(2.5), (ta, tp, tn)):
        np.testing.assert_allclose(g, tx.grad.numpy(), **COMPUTED[np.float64])


def test_triplet_with_distance_errors_and_repr():
    L = extra4.TripletMarginWithDistanceLoss
    with pytest.raises(TypeError, match="fastnn Module.*autograd.*lambda"):
        L(distance_function=lambda x, y: x - y)
    with pytest.raises(TypeError, match="fastnn Module"):
        L(distance_function=np.subtract)
    with pytest.raises(ValueError, match="margin=0.0"):
        L(margin=0.0)
    with pytest.raises(ValueError, match="margin=-1"):
        L(margin=-1)
    with pytest.raises(ValueError, match="reduction"):
        L(reduction="avg")
    with pytest.raises(TypeError, match="swap"):
        L(swap=1)
    with pytest.raises(TypeError):
        L(None)  # keyword-only, as torch's
    loss = L()
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 3\)|\(3, 3\).*\(3, 2\)"):
        loss(np.zeros((3, 3)), np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(TypeError, match="float32"):
        loss(np.zeros((3, 3), np.int64), np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(RuntimeError, match="before"):
        L().backward()
    none = L(reduction="none")
    none(np.zeros((3, 2)), np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="dy"):
        none.backward()
    assert repr(L()) == ("TripletMarginWithDistanceLoss(distance_function=PairwiseDistance(), margin=1.0, "
                         "swap=False, reduction='mean')")
    assert L().distance_function is None


# --- LPPool3d / MaxUnpool3d ------------------------------------------------------------------

LPPOOL_CASES = [
    (2, 2, None, False, (2, 3, 4, 4, 6)),
    (3, (2, 3, 1), (1, 2, 1), False, (1, 2, 5, 6, 3)),
    (1.5, 3, 2, True, (2, 1, 6, 7, 5)),  # ceil_mode windows reaching past the input
    (2, (3, 2, 2), None, True, (2, 5, 4, 5)),  # unbatched
    (float("inf"), 2, (1, 2, 2), False, (2, 2, 3, 4, 5)),
    (-float("inf"), 3, 2, True, (1, 2, 5, 5, 6)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LPPOOL_CASES, ids=[str(i) for i in range(len(LPPOOL_CASES))])
def test_lppool3d_matches_torch(torch, case, dtype):
    p, k, s, ceil, shape = case
    rng = np.random.default_rng(len(shape) + int(ceil))
    x = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if p in (1.5, 3):
        x = np.abs(x)  # x^1.5 of a negative x, a negative power-sum's cube root: NaN in both
    x = x.astype(dtype)
    layer, ref = extra4.LPPool3d(p, k, s, ceil), torch.nn.LPPool3d(p, k, s, ceil)
    assert repr(layer) == repr(ref)
    tx = _t(x, True)
    ty = ref(tx)
    y = layer(x)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **(EXACT if np.isinf(p) else COMPUTED)[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(_t(dy))
    dx = layer.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, tx.grad.numpy(), **COMPUTED[dtype])
    assert np.abs(dx).max() > 0 and not np.isnan(dx).any()


def test_lppool3d_zero_window_gradient_and_errors(torch):
    x = np.zeros((1, 1, 2, 2, 2))
    x[0, 0, 0, 0, 0] = 0.0
    layer = extra4.LPPool3d(2, 2)
    layer(x)
    assert np.all(layer.backward(np.ones((1, 1, 1, 1, 1))) == 0)  # docs: zero power-sum, zero gradient
    with pytest.raises(ValueError, match="norm_type=0"):
        extra4.LPPool3d(0, 2)
    with pytest.raises(TypeError, match="norm_type='2'"):
        extra4.LPPool3d("2", 2)
    with pytest.raises(ValueError, match=r"kernel_size=\(2, 2\)"):
        extra4.LPPool3d(2, (2, 2))
    with pytest.raises(ValueError, match="empty output"):
        extra4.LPPool3d(2, 3)(np.ones((1, 1, 2, 4, 4)))
    with pytest.raises(TypeError, match="int64"):
        extra4.LPPool3d(2, 2)(np.ones((1, 1, 2, 2, 2), np.int64))
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 2\)"):
        extra4.LPPool3d(2, 2)(np.ones((1, 1, 2, 2)))  # a 4-D input is (C, D, H, W): C=1, D=1 < kernel


UNPOOL_CASES = [
    (2, None, 0, (2, 3, 4, 4, 6), None),
    ((2, 3, 2), (2, 2, 1), (1, 0, 1), (1, 2, 6, 7, 5), None),
    (2, 1, 0, (2, 2, 3, 4, 5), None),  # overlapping windows: repeated indices
    (2, None, 0, (2, 4, 4, 6), None),  # unbatched
    (2, None, 0, (1, 2, 5, 5, 7), (5, 5, 7)),  # output_size restores the odd sizes
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNPOOL_CASES, ids=[str(i) for i in range(len(UNPOOL_CASES))])
def test_maxunpool3d_inverts_maxpool3d_as_torch(torch, case, dtype):
    k, s, pad, shape, out_size = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    pool = nn.MaxPool3d(k, s, pad, return_indices=True)
    y, idx = pool(x)
    tp = torch.nn.MaxPool3d(k, s, pad, return_indices=True)
    ty, tidx = tp(_t(x))
    np.testing.assert_array_equal(idx, tidx.numpy())
    layer, ref = extra4.MaxUnpool3d(k, s, pad), torch.nn.MaxUnpool3d(k, s, pad)
    assert repr(layer) == repr(ref)
    ty = _t(y, True)
    tu = ref(ty, tidx, output_size=out_size)
    u = layer(y, idx, output_size=out_size)
    assert u.dtype == dtype and u.shape == tuple(tu.shape)
    np.testing.assert_allclose(u, tu.detach().numpy(), **EXACT[dtype])
    du = rng.standard_normal(u.shape).astype(dtype)
    tu.backward(_t(du))
    dx = layer.backward(du)
    assert dx.dtype == dtype and dx.shape == y.shape
    np.testing.assert_allclose(dx, ty.grad.numpy(), **EXACT[dtype])


def test_maxunpool3d_errors():
    layer = extra4.MaxUnpool3d(2)
    x = np.ones((1, 1, 2, 2, 2))
    with pytest.raises(ValueError, match="invalid max index 64"):
        layer(x, np.full(x.shape, 64, np.int64))
    with pytest.raises(TypeError, match="int32"):
        layer(x, np.zeros(x.shape, np.int32))
    with pytest.raises(ValueError, match="output_size"):
        layer(x, np.zeros(x.shape, np.int64), output_size=(4, 4))
    with pytest.raises(ValueError, match=r"between 2 and 6"):
        layer(x, np.zeros(x.shape, np.int64), output_size=(4, 4, 6))
    with pytest.raises(ValueError, match="padding=-1"):
        extra4.MaxUnpool3d(2, padding=-1)
    with pytest.raises(ValueError, match=r"kernel_size=\(2, 2\)"):
        extra4.MaxUnpool3d((2, 2))
    with pytest.raises(RuntimeError, match="before"):
        extra4.MaxUnpool3d(2).backward(np.ones((1, 1, 4, 4, 4)))


@pytest.mark.parametrize("layer", [extra4.LPPool3d(2, (2, 3, 1), 1, True), extra4.LPPool3d(float("inf"), 2),
                                   extra4.MaxUnpool3d((2, 1, 2), 1, (1, 0, 0))])
def test_pool_layers_save_and_load(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)


# --- EmbeddingBag ----------------------------------------------------------------------------

# (id, kwargs, input, offsets, with per_sample_weights)
BAG_CASES = [
    ("sum", dict(mode="sum"), [1, 2, 4, 5, 4, 3, 2, 9], [0, 4], False),
    ("mean empty bags", dict(mode="mean"), [1, 2, 4, 5, 4, 3, 2, 9], [0, 0, 3, 3, 8], False),
    ("max empty bags", dict(mode="max"), [1, 2, 4, 5, 4, 3, 2, 9], [0, 2, 2, 5], False),
    ("max repeated", dict(mode="max"), [3, 3, 1, 3], [0, 2], False),
    ("include_last_offset", dict(mode="sum", include_last_offset=True), [1, 2, 4, 5, 4, 3, 2, 9], [0, 3, 3, 6], False),
    ("include_last_offset mean", dict(mode="mean", include_last_offset=True), [0, 7, 7, 1], [0, 1, 4], False),
    ("per_sample_weights", dict(mode="sum"), [1, 2, 4, 5, 4, 3, 2, 9], [0, 1, 5], True),
    ("psw padding", dict(mode="sum", padding_idx=4), [1, 2, 4, 5, 4, 3, 2, 9], [0, 4], True),
    ("mean padding", dict(mode="mean", padding_idx=2), [2, 2, 4, 5, 4, 3, 2, 9], [0, 2, 5], False),
    ("max padding", dict(mode="max", padding_idx=-1), [9, 2, 4, 9, 4, 3, 2, 9], [0, 1, 4], False),
    ("2-D mean", dict(mode="mean"), [[1, 2, 3], [4, 4, 0], [9, 8, 7], [5, 5, 5]], None, False),
    ("2-D sum psw", dict(mode="sum"), [[1, 2, 3], [4, 4, 0]], None, True),
    ("2-D max", dict(mode="max"), [[1, 2, 3], [4, 4, 0]], None, False),
    ("freq sum", dict(mode="sum", scale_grad_by_freq=True), [1, 1, 4, 1, 4, 3], [0, 2], False),
    ("freq mean", dict(mode="mean", scale_grad_by_freq=True, padding_idx=0), [1, 1, 0, 1, 4, 3], [0, 4], False),
    ("freq sorted", dict(mode="sum", scale_grad_by_freq=True), [2, 3, 3, 3, 5], [0, 2], False),
    ("max_norm", dict(mode="mean", max_norm=1.0), [1, 2, 4, 5, 4, 3], [0, 4], False),
    ("max_norm p1 sum", dict(mode="sum", max_norm=2, norm_type=1.0), [1, 2, 4, 5, 4, 3], [0, 2], True),
]


def _freq_reference(torch, weight, x, off, kwargs):
    """The documented scale_grad_by_freq (each row's gradient divided by its count in the input,
    torch.nn.Embedding's), bag by bag: torch's CPU EmbeddingBag divides by the count of another
    row in the sorted indices (e.g. [2, 3, 3, 3, 5]: row 5's gradient is divided by 3)."""
    pad = kwargs.get("padding_idx")
    tx = torch.tensor(x)
    emb = torch.nn.functional.embedding(tx, weight, padding_idx=pad, scale_grad_by_freq=True)
    ends = list(off[1:]) + [len(x)]
    out = []
    for s, e in zip(off, ends):
        keep = [i for i in range(s, e) if x[i] != pad]
        part = emb[keep].sum(0)
        out.append(part / max(len(keep), 1) if kwargs["mode"] == "mean" else part)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BAG_CASES, ids=[c[0] for c in BAG_CASES])
def test_embedding_bag_matches_torch(torch, case, dtype):
    _, kwargs, inp, offsets, with_psw = case
    rng = np.random.default_rng(11)
    w0 = rng.standard_normal((10, 3)).astype(dtype)
    layer = extra4.EmbeddingBag(10, 3, **kwargs, _weight=w0.copy())
    ref = torch.nn.EmbeddingBag(10, 3, **kwargs, _weight=_t(w0))
    assert repr(layer) == repr(ref)
    assert list(layer.state_dict()) == list(ref.state_dict())
    x = np.array(inp, np.int64)
    off = None if offsets is None else np.array(offsets, np.int64)
    psw = rng.uniform(-2, 2, x.shape).astype(dtype) if with_psw else None
    tpsw = None if psw is None else _t(psw, True)
    if kwargs.get("scale_grad_by_freq"):
        ty = _freq_reference(torch, ref.weight, x, off, kwargs)
    else:
        ty = ref(torch.tensor(x), None if off is None else torch.tensor(off), per_sample_weights=tpsw)
    y = layer(x, off, psw)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    tol = EXACT if kwargs["mode"] == "max" and "max_norm" not in kwargs else COMPUTED
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol[dtype])
    np.testing.assert_allclose(layer.weight.data, ref.weight.detach().numpy(), **COMPUTED[dtype])  # max_norm
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(_t(dy))
    dpsw = layer.backward(dy)
    assert layer.weight.grad.dtype == dtype
    np.testing.assert_allclose(layer.weight.grad, ref.weight.grad.numpy(), **COMPUTED[dtype])
    assert np.abs(layer.weight.grad).max() > 0
    if with_psw:
        assert dpsw.dtype == dtype and dpsw.shape == x.shape
        np.testing.assert_allclose(dpsw, tpsw.grad.numpy(), **COMPUTED[dtype])
    else:
        assert dpsw is None
    if "padding_idx" in kwargs:
        assert np.all(layer.weight.grad[kwargs["padding_idx"]] == 0)


def test_embedding_bag_default_init_gradient_accumulation_and_pretrained():
    layer = extra4.EmbeddingBag(6, 4, padding_idx=2)
    assert layer.weight.shape == (6, 4) and layer.weight.dtype == np.float32
    assert np.all(layer.weight.data[2] == 0) and np.abs(layer.weight.data).max() > 0
    x = np.array([[0, 1], [2, 5]])
    y = layer(x)
    np.testing.assert_allclose(y[0], layer.weight.data[[0, 1]].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(y[1], layer.weight.data[5], rtol=1e-6)  # padding left out of the mean
    dy = np.ones((2, 4), np.float32)
    layer.backward(dy)
    first = layer.weight.grad.copy()
    layer.backward(dy)
    np.testing.assert_allclose(layer.weight.grad, 2 * first)
    pre = extra4.EmbeddingBag.from_pretrained(np.eye(3), mode="sum")
    assert not pre.weight.trainable and repr(pre) == "EmbeddingBag(3, 3, mode='sum')"
    np.testing.assert_array_equal(pre(np.array([0, 2, 1]), np.array([0, 2])), [[1, 0, 1], [0, 1, 0]])


def test_embedding_bag_errors():
    EB = extra4.EmbeddingBag
    with pytest.raises(ValueError, match="mode='avg'"):
        EB(5, 2, mode="avg")
    with pytest.raises(ValueError, match="scale_grad_by_freq"):
        EB(5, 2, mode="max", scale_grad_by_freq=True)
    with pytest.raises(ValueError, match="padding_idx=5"):
        EB(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse"):
        EB(5, 2, sparse=True)
    with pytest.raises(ValueError, match="_weight"):
        EB(5, 2, _weight=np.zeros((5, 3)))
    layer = EB(5, 2)
    x = np.array([1, 2, 3])
    with pytest.raises(ValueError, match="offsets.*None"):
        layer(x)
    with pytest.raises(ValueError, match="2-D.*offsets"):
        layer(x.reshape(1, 3), np.array([0]))
    with pytest.raises(ValueError, match=r"offsets\[0\].*got 1"):
        layer(x, np.array([1, 2]))
    with pytest.raises(ValueError, match=r"offsets\[-1\].*length 3.*got 4"):
        layer(x, np.array([0, 4]))
    with pytest.raises(ValueError, match="non-decreasing"):
        layer(x, np.array([0, 2, 1]))
    with pytest.raises(IndexError, match="index 7"):
        layer(np.array([1, 7]), np.array([0]))
    with pytest.raises(TypeError, match="float64"):
        layer(x.astype(np.float64), np.array([0]))
    with pytest.raises(ValueError, match="mode='sum'.*mean"):
        layer(x, np.array([0]), per_sample_weights=np.ones(3, np.float32))
    with pytest.raises(TypeError, match="float64"):
        EB(5, 2, mode="sum")(x, np.array([0]), per_sample_weights=np.ones(3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        EB(5, 2, mode="sum")(x, np.array([0]), per_sample_weights=np.ones(2, np.float32))
    with pytest.raises(RuntimeError, match="before"):
        EB(5, 2).backward(np.ones((1, 2), np.float32))


@pytest.mark.parametrize("layer", [lambda: extra4.EmbeddingBag(7, 3), lambda: extra4.EmbeddingBag(
    7, 3, max_norm=2, norm_type=1.0, mode="sum", include_last_offset=True, padding_idx=-2),
    lambda: extra4.EmbeddingBag(7, 3, mode="max")])
def test_embedding_bag_save_and_load(layer, tmp_path):
    layer = layer()
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    np.testing.assert_array_equal(loaded.weight.data, layer.weight.data)
    assert list(loaded.state_dict()) == ["weight"]


# --- CTCLoss ---------------------------------------------------------------------------------

def _log_softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=-1, keepdims=True))


# (id, T, C, blank, targets rows, input_lengths)
CTC_CASES = [
    ("basic", 12, 5, 0, [[1, 2, 3], [4, 4], [2]], [12, 12, 12]),
    ("repeats short inputs", 10, 4, 0, [[1, 1, 2, 2], [3, 3, 3], [1, 2, 1, 2, 1]], [10, 7, 9]),
    ("blank last", 9, 4, 3, [[0, 1, 0], [2], []], [9, 5, 3]),  # an empty target too
    ("batch 1", 6, 3, 1, [[2, 2, 0]], [6]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("case", CTC_CASES, ids=[c[0] for c in CTC_CASES])
def test_ctc_loss_matches_torch(torch, case, layout, reduction, dtype):
    _, t_max, c, blank, rows, il = case
    rng = np.random.default_rng(t_max * c)
    n = len(rows)
    lp = _log_softmax(rng.standard_normal((t_max, n, c)) * 2).astype(dtype)
    tl = np.array([len(r) for r in rows], np.int64)
    if layout == "padded":
        tg = np.full((n, max(max(tl), 1)), blank, np.int64)
        for i, r in enumerate(rows):
            tg[i, :len(r)] = r
    else:
        tg = np.array([v for r in rows for v in r], np.int64)
    il = np.array(il, np.int64)
    loss = extra4.CTCLoss(blank=blank, reduction=reduction)
    ref = torch.nn.CTCLoss(blank=blank, reduction=reduction)
    tlp = _t(lp, True)
    ty = ref(tlp, torch.tensor(tg), torch.tensor(il), torch.tensor(tl))
    y = loss(lp, tg, il, tl)
    if reduction == "none":
        assert y.dtype == dtype and y.shape == (n,)
        dy = rng.standard_normal(n).astype(dtype)
        ty.backward(_t(dy))
        g = loss.backward(dy)
    else:
        assert isinstance(y, float)
        ty.backward()
        g = loss.backward()
    np.testing.assert_allclose(y, ty.detach().numpy(), **COMPUTED[dtype])
    assert np.isfinite(y).all()
    assert g.dtype == dtype and g.shape == lp.shape
    np.testing.assert_allclose(g, tlp.grad.numpy(), **COMPUTED[dtype])
    for i in range(n):
        assert np.all(g[il[i]:, i] == 0) and np.abs(g[:il[i], i]).max() > 0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ctc_loss_zero_infinity_and_impossible_alignments(torch, reduction):
    rng = np.random.default_rng(5)
    lp = _log_softmax(rng.standard_normal((4, 3, 5)))
    tg = np.array([[1, 1, 2], [1, 2, 3], [2, 3, 0]])  # row 0 needs 4 steps (a blank between the 1s), given 3
    il, tl = np.array([3, 4, 2]), np.array([3, 3, 2])  # row 2: 2 labels in 2 steps is possible
    for zero in (True, False):
        loss = extra4.CTCLoss(reduction=reduction, zero_infinity=zero)
        ref = torch.nn.CTCLoss(reduction=reduction, zero_infinity=zero)
        tlp = _t(lp, True)
        ty = ref(tlp, torch.tensor(tg), torch.tensor(il), torch.tensor(tl))
        y = loss(lp, tg, il, tl)
        np.testing.assert_allclose(y, ty.detach().numpy(), **COMPUTED[np.float64])
        if zero:
            dy = np.ones(3) if reduction == "none" else None
            ty.backward(None if dy is None else _t(dy))
            g = loss.backward(dy)
            np.testing.assert_allclose(g, tlp.grad.numpy(), **COMPUTED[np.float64])
            assert np.all(g[:, 0] == 0) and np.abs(g[:, 1]).max() > 0
        else:
            assert np.isinf(np.sum(y))


def test_ctc_loss_unbatched_and_scaled_backward(torch):
    rng = np.random.default_rng(9)
    lp = _log_softmax(rng.standard_normal((7, 4)))
    tlp = _t(lp, True)
    ref = torch.nn.CTCLoss(reduction="none")
    ty = ref(tlp, torch.tensor([1, 3, 3]), torch.tensor(6), torch.tensor(3))
    loss = extra4.CTCLoss(reduction="none")
    y = loss(lp, np.array([1, 3, 3]), 6, 3)
    assert y.shape == () and ty.shape == ()
    np.testing.assert_allclose(y, ty.detach().numpy(), **COMPUTED[np.float64])
    ty.backward(_t(1.7))
    np.testing.assert_allclose(loss.backward(np.array(1.7)), tlp.grad.numpy(), **COMPUTED[np.float64])
    mean, tmean = extra4.CTCLoss(), torch.nn.CTCLoss()
    tlp = _t(lp[:, None], True)
    tmean(tlp, torch.tensor([[1, 3, 3]]), torch.tensor([6]), torch.tensor([3])).backward(_t(2.5))
    mean(lp[:, None], np.array([[1, 3, 3]]), [6], [3])
    np.testing.assert_allclose(mean.backward(2.5), tlp.grad.numpy(), **COMPUTED[np.float64])


def test_ctc_loss_errors_and_repr():
    lp = _log_softmax(np.zeros((5, 2, 4)))
    tg, il, tl = np.array([[1, 2], [3, 0]]), np.array([5, 5]), np.array([2, 1])
    loss = extra4.CTCLoss()
    with pytest.raises(ValueError, match="blank=4"):
        extra4.CTCLoss(blank=4)(lp, tg, il, tl)
    with pytest.raises(ValueError, match="blank=-1"):
        extra4.CTCLoss(blank=-1)
    with pytest.raises(ValueError, match="reduction"):
        extra4.CTCLoss(reduction="batchmean")
    with pytest.raises(TypeError, match="zero_infinity"):
        extra4.CTCLoss(zero_infinity="yes")
    with pytest.raises(ValueError, match=r"input_lengths.*\[6, 5\]"):
        loss(lp, tg, np.array([6, 5]), tl)
    with pytest.raises(ValueError, match="target label 0 is invalid"):
        loss(lp, tg, il, np.array([2, 2]))
    with pytest.raises(ValueError, match="target label 7"):
        loss(lp, np.array([[1, 7], [3, 0]]), il, tl)
    with pytest.raises(ValueError, match="sum\\(target_lengths\\)=3"):
        loss(lp, np.array([1, 2]), il, tl)
    with pytest.raises(ValueError, match="one length per sample"):
        loss(lp, tg, np.array([5]), tl)
    with pytest.raises(TypeError, match="float64"):
        loss(lp, tg, il.astype(np.float64), tl)
    with pytest.raises(TypeError, match="float32"):
        loss(lp.astype(np.int64), tg, il, tl)
    with pytest.raises(RuntimeError, match="before"):
        extra4.CTCLoss().backward()
    assert repr(extra4.CTCLoss()) == "CTCLoss(blank=0, reduction='mean', zero_infinity=False)"


@pytest.mark.parametrize("shape, k, s, p", [((1, 1, 1, 3, 3), 2, 2, 2.0), ((1, 1, 3, 3, 3), 4, 2, 1.5),
                                            ((1, 1, 1, 3, 3), 2, 2, float("inf")), ((1, 1, 3, 3, 3), 4, 2, float("-inf")),
                                            ((1, 1, 1, 3, 3), (1, 2, 2), 2, 2.0)])
def test_lppool3d_input_smaller_than_kernel_as_torch(shape, k, s, p):
    """torch's finite-p LPPool3d (avg_pool3d) refuses an input axis shorter than the kernel even
    in ceil_mode; p = +-inf (max_pool3d) accepts it."""
    torch = pytest.importorskip("torch")
    x = np.arange(1, 1 + np.prod(shape), dtype=np.float64).reshape(shape)
    layer, ref = nn.LPPool3d(p, k, s, ceil_mode=True), torch.nn.LPPool3d(p, k, s, ceil_mode=True)
    try:
        want = ref(torch.from_numpy(x)).numpy()
    except RuntimeError:
        with pytest.raises(ValueError, match="smaller than kernel_size"):
            layer(x)
    else:
        np.testing.assert_allclose(layer(x), want, rtol=1e-12)
