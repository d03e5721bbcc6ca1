"""MultiheadAttention vs torch.nn.MultiheadAttention: outputs, weights, every gradient."""
import numpy as np
import pytest

import fastnn
from fastnn.nn.transformer import MultiheadAttention

TOL = {np.float32: 1e-5, np.float64: 1e-10}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _tdtype(torch, dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


def _close(a, b, dtype):
    t = TOL[dtype]
    np.testing.assert_allclose(np.asarray(a, np.float64), b.detach().double().numpy(), rtol=t, atol=t)


def _pair(torch, dtype, seed=0, **kw):
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(dtype=_tdtype(torch, dtype), **kw)
    with torch.no_grad():  # make biases non-zero so their gradients matter
        for name, p in tm.named_parameters():
            if "bias" in name:
                p.uniform_(-0.5, 0.5)
    fm = MultiheadAttention(**kw)
    if dtype == np.float64:
        fm.double()
    fm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, fm


def _run(torch, dtype, kw, L=3, S=4, N=2, self_attn=False, unbatched=False, mask_fn=None, fwd=None, seed=0):
    fwd = dict(fwd or {})
    tm, fm = _pair(torch, dtype, seed, **kw)
    rng = np.random.default_rng(seed)
    E = kw["embed_dim"]
    kdim = kw.get("kdim") or E
    vdim = kw.get("vdim") or E
    bf = kw.get("batch_first", False)

    def shape(T, D):
        if unbatched:
            return (T, D)
        return (N, T, D) if bf else (T, N, D)
    q = rng.standard_normal(shape(L, E)).astype(dtype)
    if self_attn:
        k = v = q
        S = L
    else:
        k = rng.standard_normal(shape(S, kdim)).astype(dtype)
        v = rng.standard_normal(shape(S, vdim)).astype(dtype)
    if mask_fn is not None:
        masks = mask_fn(rng, N, L, S, kw["num_heads"])
        fwd.update({key: (val.astype(dtype) if isinstance(val, np.ndarray) and val.dtype.kind == "f" else val)
                    for key, val in masks.items()})
    tfwd = {key: (torch.from_numpy(val) if isinstance(val, np.ndarray) else val) for key, val in fwd.items()}
    tq = torch.from_numpy(q.copy()).requires_grad_()
    tk = tq if self_attn else torch.from_numpy(k.copy()).requires_grad_()
    tv = tq if self_attn else torch.from_numpy(v.copy()).requires_grad_()
    ty, tw = tm(tq, tk, tv, **tfwd)
    y, w = fm.forward(q, k, v, **fwd)
    _close(y, ty, dtype)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    if tw is None:
        assert w is None
    else:
        _close(w, tw, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    loss = (ty * torch.from_numpy(dy)).sum()
    dw = None
    if tw is not None:
        dw = rng.standard_normal(w.shape).astype(dtype)
        loss = loss + (tw * torch.from_numpy(dw)).sum()
    loss.backward()
    dq, dk, dv = fm.backward(dy, dw)
    if self_attn:
        _close(dq + dk + dv, tq.grad, dtype)
    else:
        _close(dq, tq.grad, dtype)
        _close(dk, tk.grad, dtype)
        _close(dv, tv.grad, dtype)
    fparams = dict(fm.named_parameters())
    tparams = dict(tm.named_parameters())
    assert fparams.keys() == tparams.keys()
    for name, tp in tparams.items():
        _close(fparams[name].grad, tp.grad, dtype)
    return fm, tm


def _bool_attn(rng, N, L, S, H):
    m = rng.random((L, S)) < 0.3
    m[:, 0] = False
    return {"attn_mask": m}


def _float_attn3(rng, N, L, S, H):
    return {"attn_mask": rng.standard_normal((N * H, L, S))}


def _kpm(rng, N, L, S, H):
    m = np.zeros((N, S), bool)
    m[0, -1] = True
    m[1, -2:] = True
    return {"key_padding_mask": m}


def _both(rng, N, L, S, H):
    kpm = np.where(_kpm(rng, N, L, S, H)["key_padding_mask"], -3.0, 0.5)  # a float padding mask, added
    return {"key_padding_mask": kpm, "attn_mask": rng.standard_normal((L, S))}


def _causal(rng, N, L, S, H):
    return {"attn_mask": np.triu(np.ones((L, S), bool), 1), "is_causal": True}


CASES = {
    "cross": (dict(embed_dim=8, num_heads=2), {}),
    "self": (dict(embed_dim=8, num_heads=4), dict(self_attn=True)),
    "kdim_vdim": (dict(embed_dim=6, num_heads=3, kdim=5, vdim=7), {}),
    "batch_first": (dict(embed_dim=8, num_heads=2, batch_first=True), {}),
    "unbatched": (dict(embed_dim=8, num_heads=2), dict(unbatched=True)),
    "bool_mask": (dict(embed_dim=8, num_heads=2), dict(mask_fn=_bool_attn)),
    "float_mask_3d": (dict(embed_dim=8, num_heads=2), dict(mask_fn=_float_attn3)),
    "key_padding": (dict(embed_dim=8, num_heads=2), dict(mask_fn=_kpm)),
    "kpm_and_float_mask": (dict(embed_dim=8, num_heads=2, batch_first=True), dict(mask_fn=_both)),
    "causal": (dict(embed_dim=8, num_heads=2), dict(self_attn=True, mask_fn=_causal)),
    "no_weights": (dict(embed_dim=8, num_heads=2), dict(fwd={"need_weights": False})),
    "per_head_weights": (dict(embed_dim=8, num_heads=2), dict(fwd={"average_attn_weights": False})),
    "bias_kv": (dict(embed_dim=8, num_heads=2, add_bias_kv=True), dict(mask_fn=_both)),
    "zero_attn": (dict(embed_dim=8, num_heads=2, add_zero_attn=True), dict(mask_fn=_both)),
    "bias_kv_zero_attn_kdim": (dict(embed_dim=8, num_heads=2, add_bias_kv=True, add_zero_attn=True, kdim=3,
                                    vdim=5), dict(mask_fn=_bool_attn)),
    "no_bias": (dict(embed_dim=8, num_heads=2, bias=False), {}),
    # is_causal with need_weights=False and no padding mask: torch's own causal mask over the
    # keys as extended by bias_k / the zero key (they are then hidden from every query)
    "causal_bias_kv": (dict(embed_dim=8, num_heads=2, add_bias_kv=True),
                       dict(self_attn=True, mask_fn=_causal, fwd={"need_weights": False})),
    "causal_zero_attn": (dict(embed_dim=8, num_heads=2, add_zero_attn=True, add_bias_kv=True),
                         dict(self_attn=True, mask_fn=_causal, fwd={"need_weights": False})),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
def test_mha_matches_torch(torch, case, dtype):
    kw, opts = CASES[case]
    _run(torch, dtype, kw, **opts)


def test_mha_unbatched_kpm(torch):
    def kpm(rng, N, L, S, H):
        m = np.zeros(S, bool)
        m[1] = True
        return {"key_padding_mask": m}
    _run(torch, np.float64, dict(embed_dim=4, num_heads=2), unbatched=True, mask_fn=kpm)


def test_mha_state_dict_repr_and_init(torch):
    for kw in (dict(embed_dim=8, num_heads=2), dict(embed_dim=6, num_heads=3, kdim=4, vdim=5, add_bias_kv=True),
               dict(embed_dim=4, num_heads=1, bias=False)):
        tm = torch.nn.MultiheadAttention(**kw)
        fm = MultiheadAttention(**kw)
        assert repr(fm) == repr(tm)
        fsd, tsd = fm.state_dict(), tm.state_dict()
        assert list(fsd) == list(tsd)
        for k in tsd:
            assert tuple(fsd[k].shape) == tuple(tsd[k].shape)
    fm = MultiheadAttention(16, 4)
    assert np.all(fm.in_proj_bias.data == 0) and np.all(fm.out_proj.bias.data == 0)
    bound = np.sqrt(6.0 / (16 + 48))  # xavier_uniform of (48, 16)
    w = fm.in_proj_weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound


def test_mha_save_load_roundtrip(tmp_path):
    m = MultiheadAttention(8, 2, add_bias_kv=True, kdim=3, vdim=5, batch_first=True)
    path = tmp_path / "mha.fastnn"
    fastnn.save(m, str(path))
    m2 = fastnn.load(str(path))
    assert type(m2) is MultiheadAttention and m2.get_config() == m.get_config()
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 8)).astype(np.float32)
    k = rng.standard_normal((2, 4, 3)).astype(np.float32)
    v = rng.standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(m.forward(q, k, v)[0], m2.forward(q, k, v)[0])


def test_mha_bad_arguments():
    with pytest.raises(ValueError, match="embed_dim=10"):
        MultiheadAttention(10, 3)
    with pytest.raises(TypeError, match="num_heads=2.0"):
        MultiheadAttention(8, 2.0)
    with pytest.raises(ValueError, match="dropout=1.5"):
        MultiheadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="batch_first='yes'"):
        MultiheadAttention(8, 2, batch_first="yes")
    with pytest.raises(ValueError, match="kdim=0"):
        MultiheadAttention(8, 2, kdim=0)
    m = MultiheadAttention(8, 2)
    x = np.zeros((3, 2, 8), np.float32)
    with pytest.raises(ValueError, match="attn_mask"):
        m.forward(x, x, x, attn_mask=np.zeros((2, 2), bool))
    with pytest.raises(RuntimeError, match="is_causal"):
        m.forward(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match=r"\(3, 2, 7\)"):
        m.forward(x, x[..., :7], x)
    with pytest.raises(RuntimeError, match="before forward"):
        MultiheadAttention(8, 2).backward(x)


def test_mha_dropout_determinism_and_fd():
    m = MultiheadAttention(4, 2, dropout=0.4).double()
    rng = np.random.default_rng(3)
    q = rng.standard_normal((3, 2, 4))
    k = rng.standard_normal((5, 2, 4))
    v = rng.standard_normal((5, 2, 4))
    fastnn.manual_seed(7)
    y1, w1 = m.forward(q, k, v)
    fastnn.manual_seed(7)
    y2, w2 = m.forward(q, k, v)
    np.testing.assert_array_equal(y1, y2)
    assert (w1 == 0).any()  # some weights dropped
    m.eval()
    y3, _ = m.forward(q, k, v)
    assert not np.allclose(y1, y3)
    m.train()
    dy = rng.standard_normal(y1.shape)
    fastnn.manual_seed(7)
    m.forward(q, k, v)
    m.zero_grad()
    dq, dk, dv = m.backward(dy)

    def f(qq, kk, vv):
        fastnn.manual_seed(7)  # the same dropout mask
        return float((m.forward(qq, kk, vv)[0] * dy).sum())
    eps = 1e-6
    for arr, g, idx in ((q, dq, (1, 0, 2)), (k, dk, (4, 1, 0)), (v, dv, (2, 1, 3))):
        plus, minus = arr.copy(), arr.copy()
        plus[idx] += eps
        minus[idx] -= eps
        args_p = [plus if a is arr else a for a in (q, k, v)]
        args_m = [minus if a is arr else a for a in (q, k, v)]
        fd = (f(*args_p) - f(*args_m)) / (2 * eps)
        assert abs(fd - g[idx]) < 1e-6 * max(1.0, abs(fd))


# ---- encoder -------------------------------------------------------------------------------
from fastnn.nn.transformer import TransformerEncoder, TransformerEncoderLayer  # noqa: E402


def _load(fm, tm, dtype):
    if dtype == np.float64:
        fm.double()
    with_grad = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    fm.load_state_dict(with_grad)


def _randomize(torch, tm):
    with torch.no_grad():
        for name, p in tm.named_parameters():
            if "bias" in name or "norm" in name:
                p.add_(torch.empty_like(p).uniform_(-0.3, 0.3))


def _check_module_grads(fm, tm, dtype):
    fparams = dict(fm.named_parameters())
    tparams = dict(tm.named_parameters())
    assert fparams.keys() == tparams.keys()
    for name, tp in tparams.items():
        _close(fparams[name].grad, tp.grad, dtype)


def _enc_masks(rng, N, S, H, dtype):
    attn = rng.standard_normal((S, S)).astype(dtype)
    kpm = np.zeros((N, S), bool)
    kpm[1, -1] = True
    return attn, kpm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first,activation,batch_first,masks", [
    (False, "relu", False, False), (True, "gelu", True, True), (False, "gelu", False, True),
    (True, "relu", False, False)])
def test_encoder_layer_matches_torch(torch, dtype, norm_first, activation, batch_first, masks):
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation,
              batch_first=batch_first, norm_first=norm_first)
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(**kw, dtype=_tdtype(torch, dtype))
    _randomize(torch, tm)
    fm = TransformerEncoderLayer(**kw)
    _load(fm, tm, dtype)
    rng = np.random.default_rng(0)
    N, S = 2, 5
    x = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8)).astype(dtype)
    fwd = {}
    if masks:
        attn, kpm = _enc_masks(rng, N, S, 2, dtype)
        fwd = {"src_mask": attn, "src_key_padding_mask": np.where(kpm, -np.inf, 0.0).astype(dtype)}
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = tm(tx, **{k: torch.from_numpy(v) for k, v in fwd.items()})
    y = fm.forward(x, **fwd)
    _close(y, ty, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    (ty * torch.from_numpy(dy)).sum().backward()
    _close(fm.backward(dy), tx.grad, dtype)
    _check_module_grads(fm, tm, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encoder_stack_matches_torch(torch, dtype):
    kw = dict(d_model=8, nhead=4, dim_feedforward=12, dropout=0.0)
    torch.manual_seed(1)
    tdt = _tdtype(torch, dtype)
    tm = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**kw, dtype=tdt), 3,
                                     norm=torch.nn.LayerNorm(8, dtype=tdt), enable_nested_tensor=False)
    _randomize(torch, tm)
    import fastnn.nn as fnn
    fm = TransformerEncoder(TransformerEncoderLayer(**kw), 3, norm=fnn.LayerNorm(8))
    assert list(fm.state_dict()) == list(tm.state_dict())
    _load(fm, tm, dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 2, 8)).astype(dtype)
    mask = np.triu(np.ones((6, 6), bool), 1)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = tm(tx, mask=torch.from_numpy(mask), is_causal=True)
    y = fm.forward(x, mask=mask, is_causal=True)
    _close(y, ty, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    (ty * torch.from_numpy(dy)).sum().backward()
    _close(fm.backward(dy), tx.grad, dtype)
    _check_module_grads(fm, tm, dtype)


def test_encoder_repr_state_dict_and_save(torch, tmp_path):
    import fastnn.nn as fnn
    for kw in (dict(d_model=4, nhead=2, dim_feedforward=8), dict(d_model=6, nhead=3, dim_feedforward=5,
                                                                  bias=False, norm_first=True)):
        tl = torch.nn.TransformerEncoderLayer(**kw)
        fl = TransformerEncoderLayer(**kw)
        assert repr(fl) == repr(tl)
        te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(kw["d_model"]), enable_nested_tensor=False)
        fe = TransformerEncoder(fl, 2, norm=fnn.LayerNorm(kw["d_model"]))
        assert repr(fe) == repr(te)
        fsd, tsd = fe.state_dict(), te.state_dict()
        assert list(fsd) == list(tsd)
        assert all(tuple(fsd[k].shape) == tuple(tsd[k].shape) for k in tsd)
    fe = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True), 2,
                            norm=fnn.LayerNorm(8))
    assert fe.layers[0] is not fe.layers[1]
    assert fe.layers[0].linear1.weight.data is not fe.layers[1].linear1.weight.data
    path = tmp_path / "enc.fastnn"
    fastnn.save(fe, str(path))
    fe2 = fastnn.load(str(path))
    fe.eval()
    fe2.eval()
    x = np.random.default_rng(0).standard_normal((4, 2, 8)).astype(np.float32)
    np.testing.assert_array_equal(fe.forward(x), fe2.forward(x))
    assert fe2.get_config() == fe.get_config()


def test_encoder_bad_arguments():
    with pytest.raises(ValueError, match="activation='tanh'"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="embed_dim=8"):
        TransformerEncoderLayer(8, 3)
    with pytest.raises(ValueError, match="dim_feedforward=0"):
        TransformerEncoderLayer(8, 2, dim_feedforward=0)
    with pytest.raises(TypeError, match="num_layers='2'"):
        TransformerEncoder(TransformerEncoderLayer(8, 2, 16), "2")
    with pytest.raises(TypeError, match="encoder_layer"):
        TransformerEncoder("layer", 2)


def test_encoder_layer_dropout_deterministic_and_fd():
    layer = TransformerEncoderLayer(4, 2, 6, dropout=0.3).double()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 4))
    fastnn.manual_seed(11)
    y1 = layer.forward(x)
    fastnn.manual_seed(11)
    y2 = layer.forward(x)
    np.testing.assert_array_equal(y1, y2)
    layer.eval()
    assert not np.allclose(layer.forward(x), y1)
    layer.train()
    dy = rng.standard_normal(y1.shape)
    fastnn.manual_seed(11)
    layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(dy)

    def f(xx):
        fastnn.manual_seed(11)
        return float((layer.forward(xx) * dy).sum())
    eps = 1e-6
    for idx in ((0, 0, 1), (2, 1, 3), (1, 1, 0)):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        fd = (f(plus) - f(minus)) / (2 * eps)
        assert abs(fd - dx[idx]) < 1e-6 * max(1.0, abs(fd))


# ---- decoder and Transformer ---------------------------------------------------------------
from fastnn.nn.transformer import Transformer, TransformerDecoder, TransformerDecoderLayer  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first,activation,batch_first,masks", [
    (False, "relu", False, True), (True, "gelu", True, True), (True, "relu", False, False),
    (False, "gelu", True, False)])
def test_decoder_layer_matches_torch(torch, dtype, norm_first, activation, batch_first, masks):
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation,
              batch_first=batch_first, norm_first=norm_first)
    torch.manual_seed(3)
    tm = torch.nn.TransformerDecoderLayer(**kw, dtype=_tdtype(torch, dtype))
    _randomize(torch, tm)
    fm = TransformerDecoderLayer(**kw)
    assert list(fm.state_dict()) == list(tm.state_dict())
    _load(fm, tm, dtype)
    rng = np.random.default_rng(4)
    N, T, S = 2, 4, 5
    x = rng.standard_normal((N, T, 8) if batch_first else (T, N, 8)).astype(dtype)
    mem = rng.standard_normal((N, S, 8) if batch_first else (S, N, 8)).astype(dtype)
    fwd = {}
    if masks:
        tkpm = np.zeros((N, T), bool)
        tkpm[0, -1] = True
        mkpm = np.zeros((N, S), bool)
        mkpm[1, :2] = True
        fwd = {"tgt_mask": np.triu(np.ones((T, T), bool), 1), "memory_mask": rng.standard_normal((T, S)).astype(dtype),
               "tgt_key_padding_mask": tkpm, "memory_key_padding_mask": np.where(mkpm, -np.inf, 0).astype(dtype)}
        fwd["tgt_mask"] = np.where(fwd["tgt_mask"], -np.inf, 0).astype(dtype)
        fwd["tgt_key_padding_mask"] = np.where(tkpm, -np.inf, 0).astype(dtype)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    tmem = torch.from_numpy(mem.copy()).requires_grad_()
    ty = tm(tx, tmem, **{k: torch.from_numpy(v) for k, v in fwd.items()})
    y = fm.forward(x, mem, **fwd)
    _close(y, ty, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    (ty * torch.from_numpy(dy)).sum().backward()
    dx, dmem = fm.backward(dy)
    _close(dx, tx.grad, dtype)
    _close(dmem, tmem.grad, dtype)
    _check_module_grads(fm, tm, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_matches_torch(torch, dtype, norm_first):
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=12, dropout=0.0,
              norm_first=norm_first, batch_first=norm_first)
    torch.manual_seed(5)
    tm = torch.nn.Transformer(**kw, dtype=_tdtype(torch, dtype))
    _randomize(torch, tm)
    fm = Transformer(**kw)
    assert list(fm.state_dict()) == list(tm.state_dict())
    _load(fm, tm, dtype)
    rng = np.random.default_rng(6)
    N, S, T = 2, 5, 4
    src = rng.standard_normal((N, S, 8) if norm_first else (S, N, 8)).astype(dtype)
    tgt = rng.standard_normal((N, T, 8) if norm_first else (T, N, 8)).astype(dtype)
    tmask = Transformer.generate_square_subsequent_mask(T, dtype=dtype)
    np.testing.assert_array_equal(tmask, torch.nn.Transformer.generate_square_subsequent_mask(
        T, dtype=_tdtype(torch, dtype)).numpy())
    skpm = np.zeros((N, S), bool)
    skpm[1, -1] = True
    tsrc = torch.from_numpy(src.copy()).requires_grad_()
    ttgt = torch.from_numpy(tgt.copy()).requires_grad_()
    ty = tm(tsrc, ttgt, tgt_mask=torch.from_numpy(tmask), tgt_is_causal=True,
            src_key_padding_mask=torch.from_numpy(skpm), memory_key_padding_mask=torch.from_numpy(skpm))
    y = fm.forward(src, tgt, tgt_mask=tmask, tgt_is_causal=True, src_key_padding_mask=skpm,
                   memory_key_padding_mask=skpm)
    _close(y, ty, dtype)
    dy = rng.standard_normal(y.shape).astype(dtype)
    (ty * torch.from_numpy(dy)).sum().backward()
    dsrc, dtgt = fm.backward(dy)
    _close(dsrc, tsrc.grad, dtype)
    _close(dtgt, ttgt.grad, dtype)
    _check_module_grads(fm, tm, dtype)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_decoder_transformer_repr_save_and_errors(torch, tmp_path):
    kw = dict(d_model=4, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=8)
    tt = torch.nn.Transformer(**kw)
    ft = Transformer(**kw)
    assert repr(ft) == repr(tt)
    fsd, tsd = ft.state_dict(), tt.state_dict()
    assert list(fsd) == list(tsd) and all(tuple(fsd[k].shape) == tuple(tsd[k].shape) for k in tsd)
    w = ft.encoder.layers[0].linear1.weight.data  # xavier_uniform re-draw, as torch
    bound = np.sqrt(6.0 / (4 + 8))
    assert np.abs(w).max() <= bound
    tl = torch.nn.TransformerDecoderLayer(6, 3, 5, norm_first=True, bias=False)
    fl = TransformerDecoderLayer(6, 3, 5, norm_first=True, bias=False)
    assert repr(fl) == repr(tl)
    assert repr(TransformerDecoder(fl, 2)) == repr(torch.nn.TransformerDecoder(tl, 2))
    path = tmp_path / "tr.fastnn"
    fastnn.save(ft, str(path))
    ft2 = fastnn.load(str(path))
    ft.eval()
    ft2.eval()
    rng = np.random.default_rng(0)
    src = rng.standard_normal((5, 2, 4)).astype(np.float32)
    tgt = rng.standard_normal((3, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(ft.forward(src, tgt), ft2.forward(src, tgt))
    with pytest.raises(RuntimeError, match="batch number"):
        ft.forward(src, tgt[:, :1])
    with pytest.raises(ValueError, match="embed_dim=6"):
        Transformer(d_model=6, nhead=4)
    with pytest.raises(TypeError, match="decoder_layer"):
        TransformerDecoder(None, 2)
    with pytest.raises(ValueError, match="num_decoder_layers=0"):
        Transformer(d_model=4, nhead=2, num_decoder_layers=0)


def test_decoder_layer_unbatched_matches_torch(torch):
    torch.manual_seed(0)
    tm = torch.nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, dtype=torch.float64)
    _randomize(torch, tm)
    fm = TransformerDecoderLayer(4, 2, 6, dropout=0.0)
    _load(fm, tm, np.float64)
    rng = np.random.default_rng(8)
    x, mem = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    tx, tmem = torch.from_numpy(x.copy()).requires_grad_(), torch.from_numpy(mem.copy()).requires_grad_()
    ty = tm(tx, tmem)
    y = fm.forward(x, mem)
    _close(y, ty, np.float64)
    dy = rng.standard_normal(y.shape)
    (ty * torch.from_numpy(dy)).sum().backward()
    dx, dmem = fm.backward(dy)
    _close(dx, tx.grad, np.float64)
    _close(dmem, tmem.grad, np.float64)
    _check_module_grads(fm, tm, np.float64)


# A query row that the masks leave nothing to attend to: torch's need_weights=False path
# (scaled_dot_product_attention's "safe softmax") gives it output 0 and no gradient; with
# need_weights=True its weights and output are NaN. Rows 0 of the attention mask and a sample
# whose every key is padded are such rows.
def _dead_attn_row(rng, N, L, S, H):
    m = rng.random((L, S)) < 0.3
    m[:, 0] = False
    m[0] = True
    return {"attn_mask": m}


def _dead_sample(rng, N, L, S, H):
    m = np.zeros((N, S), bool)
    m[1] = True
    return {"key_padding_mask": m, "attn_mask": rng.random((L, S)) < 0.2}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask_fn", [_dead_attn_row, _dead_sample])
def test_mha_fully_masked_rows_without_weights_are_zero_as_torch(torch, dtype, mask_fn):
    fm, _ = _run(torch, dtype, dict(embed_dim=8, num_heads=2), mask_fn=mask_fn, fwd={"need_weights": False})
    assert np.isfinite(fm.in_proj_weight.grad).all()


@pytest.mark.parametrize("mask_fn", [_dead_attn_row, _dead_sample])
def test_mha_fully_masked_rows_with_weights_are_nan_as_torch(torch, mask_fn):
    tm, fm = _pair(torch, np.float64, 0, embed_dim=8, num_heads=2)
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((3, 2, 8)), rng.standard_normal((4, 2, 8))
    masks = mask_fn(rng, 2, 3, 4, 2)
    ty, tw = tm(*(torch.from_numpy(a) for a in (q, k, k)), **{n: torch.from_numpy(m) for n, m in masks.items()})
    y, w = fm.forward(q, k, k, **masks)
    assert np.isnan(y).any() and np.isnan(w).any()
    _close(y, ty, np.float64)  # NaN where torch's is, equal elsewhere
    _close(w, tw, np.float64)


def test_sdpa_fully_masked_rows_are_zero_as_torch(torch):
    from fastnn.nn import functional as F
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 6))
    allowed = rng.random((2, 3, 5)) < 0.7
    allowed[0, 1] = False  # query 1 of sample 0 may attend to nothing
    bias = np.where(allowed, 0.0, -np.inf)
    for mask in (allowed, bias):
        got = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        want = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v, mask)))
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
        assert (got[0, 1] == 0).all()
    q[0, 1, 0] = np.nan  # a NaN score: not "all -inf", the row stays NaN (torch's too)
    got = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    want = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v, allowed)))
    assert np.isnan(got[0, 1]).all() and np.isnan(want.numpy()[0, 1]).all()


def test_decoder_with_causal_mask_and_left_padding_has_no_nan_as_torch(torch):
    """Causal self-attention plus a padded first position leaves query 0 nothing to attend to;
    torch's layers give it 0 there, so the stack's output stays finite (it was all NaN)."""
    from fastnn.nn import TransformerDecoder, TransformerDecoderLayer
    torch.manual_seed(0)
    tl = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, dtype=torch.float64)
    td = torch.nn.TransformerDecoder(tl, 2).eval()
    fd = TransformerDecoder(TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0), 2).double().eval()
    fd.load_state_dict({n: p.detach().numpy() for n, p in td.state_dict().items()})
    rng = np.random.default_rng(0)
    tgt, mem = rng.standard_normal((4, 2, 8)), rng.standard_normal((5, 2, 8))
    causal = np.triu(np.ones((4, 4), bool), 1)
    pad = np.zeros((2, 4), bool)
    pad[0, 0] = True
    kw = dict(tgt_mask=causal, tgt_key_padding_mask=pad)
    tt = torch.from_numpy(tgt).requires_grad_()
    ty = td(tt, torch.from_numpy(mem), **{n: torch.from_numpy(m) for n, m in kw.items()})
    y = fd(tgt, mem, **kw)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(y.shape)
    (ty * torch.from_numpy(dy)).sum().backward()
    dtgt, _ = fd.backward(dy)
    np.testing.assert_allclose(dtgt, tt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_attention_bad_inputs_torch_rejects_raise():
    from fastnn.nn import functional as F
    m = MultiheadAttention(4, 2)
    q = np.zeros((3, 2, 4), np.float32)
    with pytest.raises(TypeError, match="one dtype"):
        m(q, q.astype(np.float64), q.astype(np.float64))
    with pytest.raises(ValueError, match="unbatched"):
        m(q[:, 0], q[:, 0], q[:, 0], key_padding_mask=np.zeros((1, 3), bool))
    y, _ = m(q[:, 0], q[:, 0], q[:, 0], key_padding_mask=np.zeros(3, bool))
    assert y.shape == (3, 4)
    with pytest.raises(ValueError, match="does not broadcast"):  # would have made a (2, 2, 3, 6) output
        F.scaled_dot_product_attention(np.zeros((2, 3, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5, 6)),
                                       attn_mask=np.ones((2, 2, 3, 5), bool))
