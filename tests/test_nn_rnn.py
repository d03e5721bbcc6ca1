"""RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU (fastnn/nn/rnn.py) against torch.nn's.

Outputs, final states, dx, dh0 (dc0) and every parameter gradient are compared with torch's
autograd on the same parameters (torch's initial ones, copied in through load_state_dict) and
the same random upstream gradients for the output and the final states, in float32 and
float64. Both sides compute in the dtype of the input, with different summation orders, so they
agree to a few ulp per step: most sequences here are at most 5 steps of O(1) values through at most
3 layers, which stays well inside rtol = atol = 1e-5 in float32 and 1e-10 in float64; a 30-step
bidirectional 2-layer case checks that the float32 tolerance needs no scaling with length at
these sizes (the differences measured stay below 1e-6).

Dropout between layers uses fastnn's RNG, not torch's, so it is tested by its statistics, its
determinism under fastnn.manual_seed, and a finite-difference check of the backward with the
mask held fixed.
"""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.nn import rnn

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _pair(torch, name, dtype, *args, **kwargs):
    """(fastnn module, torch module) with torch's initial parameters in both, in dtype."""
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(*args, **kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    f = getattr(rnn, name)(*args, **kwargs).to(dtype)
    f.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return f, t


def _close(a, b, dtype, what):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    assert a.dtype == dtype, f"{what}: dtype {a.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def _check_params(f, t, dtype, zero_hh=False):
    """Every parameter gradient equals torch's; each is nonzero (so the comparison can fail),
    except weight_hh's when the only step starts from zeros (zero_hh: h_prev = 0, so its
    gradient is exactly 0 on both sides)."""
    names = [n for n, _ in t.named_parameters()]
    assert names == [n for n, _ in f.named_parameters()]
    for n, p in t.named_parameters():
        if zero_hh and n.startswith("weight_hh"):
            assert float(p.grad.abs().max()) == 0 and float(np.abs(getattr(f, n).grad).max()) == 0, n
            continue
        assert p.grad is not None and float(p.grad.abs().max()) > 0, n  # the check can fail
        _close(getattr(f, n).grad, p.grad, dtype, f"grad of {n}")


# ---- sequence modules --------------------------------------------------------------------------
# (kwargs, L, N (None: unbatched), initial state given, which final-state gradients are given)
SEQ_CONFIGS = [
    (dict(), 5, 3, True, "all"),
    (dict(num_layers=2), 4, 2, False, "all"),
    (dict(num_layers=3, bidirectional=True, batch_first=True), 3, 2, True, "all"),
    (dict(bias=False, bidirectional=True), 4, None, True, "all"),
    (dict(num_layers=2, batch_first=True), 1, 1, False, "none"),
    (dict(num_layers=2, bidirectional=True), 3, None, False, "h"),
    (dict(batch_first=True, bias=False), 2, 1, True, "c"),
    (dict(num_layers=2, bidirectional=True), 30, 4, True, "all"),  # a longer BPTT, same tolerance
]
SEQ_CASES = [(name, cfg) for name in ("RNN", "LSTM", "GRU") for cfg in SEQ_CONFIGS]
SEQ_CASES += [("RNN", (dict(nonlinearity="relu", num_layers=2, bidirectional=True), 4, 3, True, "all")),
              ("RNN", (dict(nonlinearity="relu", bias=False), 3, None, False, "all")),
              ("LSTM", (dict(proj_size=2), 4, 3, True, "all")),
              ("LSTM", (dict(proj_size=3, num_layers=2, bidirectional=True, batch_first=True), 3, 2, True, "all")),
              ("LSTM", (dict(proj_size=1, num_layers=3), 2, None, False, "c"))]


def _seq_id(case):
    name, (kw, L, N, given, dstate) = case
    return f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}-L{L}-N{N}-{'hx' if given else 'nohx'}-d{dstate}"


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")  # torch's own warning
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SEQ_CASES, ids=[_seq_id(c) for c in SEQ_CASES])
def test_sequence_module_matches_torch(torch, case, dtype):
    name, (kw, L, N, given, dstate) = case
    I, H = 3, 4
    f, t = _pair(torch, name, dtype, I, H, **kw)
    rng = np.random.default_rng(1)
    D = 2 if kw.get("bidirectional") else 1
    k = D * kw.get("num_layers", 1)
    P = kw.get("proj_size", 0) or H
    lead = (L,) if N is None else ((N, L) if kw.get("batch_first") else (L, N))
    x = rng.standard_normal(lead + (I,)).astype(dtype)
    sshape = (k,) if N is None else (k, N)
    h0 = rng.standard_normal(sshape + (P,)).astype(dtype)
    c0 = rng.standard_normal(sshape + (H,)).astype(dtype)
    is_lstm = name == "LSTM"

    xt = torch.tensor(x, requires_grad=True)
    # with no initial state torch's zeros are given explicitly, to read their gradient
    h0t = torch.tensor(h0 if given else np.zeros_like(h0), requires_grad=True)
    c0t = torch.tensor(c0 if given else np.zeros_like(c0), requires_grad=True)
    if is_lstm:
        yt, (hnt, cnt) = t(xt, (h0t, c0t))
        y, (hn, cn) = f(x, (h0, c0) if given else None)
    else:
        yt, hnt = t(xt, h0t)
        y, hn = f(x, h0 if given else None)
    _close(y, yt, dtype, "output")
    _close(hn, hnt, dtype, "h_n")
    if is_lstm:
        _close(cn, cnt, dtype, "c_n")

    dy = rng.standard_normal(y.shape).astype(dtype)
    dh = rng.standard_normal(hn.shape).astype(dtype) if dstate in ("all", "h") else None
    dc = rng.standard_normal(cn.shape).astype(dtype) if is_lstm and dstate in ("all", "c") else None
    loss = (yt * torch.tensor(dy)).sum()
    if dh is not None:
        loss = loss + (hnt * torch.tensor(dh)).sum()
    if dc is not None:
        loss = loss + (cnt * torch.tensor(dc)).sum()
    loss.backward()
    if is_lstm:
        dx, (dh0, dc0) = f.backward(dy, None if dstate == "none" else (dh, dc))
        _close(dc0, c0t.grad, dtype, "dc0")
    else:
        dx, dh0 = f.backward(dy, dh)
    _close(dx, xt.grad, dtype, "dx")
    _close(dh0, h0t.grad, dtype, "dh0")
    assert dx.flags.c_contiguous and y.flags.c_contiguous
    _check_params(f, t, dtype, zero_hh=L == 1 and not given)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_empty_batch(torch, name):
    f, t = _pair(torch, name, np.float32, 3, 4)
    x = np.zeros((0, 3) if name.endswith("Cell") else (2, 0, 3), np.float32)
    flat = lambda r: [r] if not isinstance(r, tuple) else [z for e in r for z in flat(e)]
    got, want = flat(f(x)), flat(t(torch.tensor(x)))
    assert [a.shape for a in got] == [tuple(b.shape) for b in want]
    dx = f.backward(*[np.zeros_like(got[0])])[0]
    assert dx.shape == x.shape
    assert all(p.grad.shape == p.shape and not p.grad.any() for p in f.parameters())


def test_backward_accumulates_and_zero_grad_resets(torch):
    f, _ = _pair(torch, "GRU", np.float64, 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((3, 2, 3))
    dy = np.ones((3, 2, 8))
    f(x)
    f.backward(dy)
    once = {n: p.grad.copy() for n, p in f.named_parameters()}
    f(x)
    f.backward(dy)
    for n, p in f.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-12, atol=1e-12, err_msg=n)
    f.zero_grad()
    f(x)
    f.backward(dy)
    for n, p in f.named_parameters():
        np.testing.assert_allclose(p.grad, once[n], rtol=1e-12, atol=1e-12, err_msg=n)


# ---- cells -------------------------------------------------------------------------------------
# (kwargs, N (None: unbatched), state given, dc given (LSTMCell))
CELL_CONFIGS = [(dict(), 3, True, True), (dict(), 2, False, True), (dict(), None, True, True),
                (dict(bias=False), 1, True, False), (dict(), None, False, False)]
CELL_CASES = [(name, cfg) for name in ("RNNCell", "LSTMCell", "GRUCell") for cfg in CELL_CONFIGS]
CELL_CASES += [("RNNCell", (dict(nonlinearity="relu"), 4, True, True)),
               ("RNNCell", (dict(nonlinearity="relu", bias=False), None, True, True))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CELL_CASES,
                         ids=[f"{c[0]}-{c[1][0]}-N{c[1][1]}-{c[1][2]}-{c[1][3]}" for c in CELL_CASES])
def test_cell_matches_torch(torch, case, dtype):
    name, (kw, N, given, dc_given) = case
    I, H = 5, 4
    f, t = _pair(torch, name, dtype, I, H, **kw)
    rng = np.random.default_rng(2)
    lead = () if N is None else (N,)
    x = rng.standard_normal(lead + (I,)).astype(dtype)
    h0 = rng.standard_normal(lead + (H,)).astype(dtype)
    c0 = rng.standard_normal(lead + (H,)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0 if given else np.zeros_like(h0), requires_grad=True)
    c0t = torch.tensor(c0 if given else np.zeros_like(c0), requires_grad=True)
    dh = rng.standard_normal(lead + (H,)).astype(dtype)
    if name == "LSTMCell":
        ht, ct = t(xt, (h0t, c0t))
        h, c = f(x, (h0, c0) if given else None)
        _close(h, ht, dtype, "h'")
        _close(c, ct, dtype, "c'")
        dc = rng.standard_normal(lead + (H,)).astype(dtype) if dc_given else None
        loss = (ht * torch.tensor(dh)).sum()
        if dc is not None:
            loss = loss + (ct * torch.tensor(dc)).sum()
        loss.backward()
        dx, (dhx, dcx) = f.backward(dh, dc)
        _close(dcx, c0t.grad, dtype, "dcx")
    else:
        ht = t(xt, h0t)
        h = f(x, h0 if given else None)
        _close(h, ht, dtype, "h'")
        (ht * torch.tensor(dh)).sum().backward()
        dx, dhx = f.backward(dh)
    _close(dx, xt.grad, dtype, "dx")
    _close(dhx, h0t.grad, dtype, "dhx")
    _check_params(f, t, dtype, zero_hh=not given)


# ---- structure: repr, state_dict, init, save / load ----------------------------------------------
STRUCT_CASES = [
    ("RNN", (10, 20), dict()), ("RNN", (10, 20), dict(num_layers=2, nonlinearity="relu", dropout=0.5)),
    ("RNN", (3, 4, 2, "relu", False, True, 0.25, True), dict()),
    ("LSTM", (10, 20), dict(num_layers=2, batch_first=True)),
    ("LSTM", (10, 20), dict(proj_size=5, bidirectional=True, bias=False)),
    ("GRU", (7, 3), dict(num_layers=3, bidirectional=True, dropout=0.1)),
    ("RNNCell", (10, 20), dict(bias=False, nonlinearity="relu")), ("LSTMCell", (10, 20), dict()),
    ("GRUCell", (4, 6), dict(bias=False)),
]


@pytest.mark.parametrize("name, args, kw", STRUCT_CASES)
def test_repr_and_state_dict_match_torch(torch, name, args, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = getattr(torch.nn, name)(*args, **kw)
        f = getattr(rnn, name)(*args, **kw)
    assert repr(f) == repr(t)
    ts, fs = t.state_dict(), f.state_dict()
    assert list(fs) == list(ts)
    assert [tuple(v.shape) for v in fs.values()] == [tuple(v.shape) for v in ts.values()]
    assert all(v.dtype == np.float32 for v in fs.values())


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_init_bound(name):
    fastnn.manual_seed(3)
    hidden = 64
    kw = dict(bidirectional=True, num_layers=2) if not name.endswith("Cell") else {}
    if name == "LSTM":
        kw["proj_size"] = 8
    f = getattr(rnn, name)(16, hidden, **kw)
    bound = 1 / np.sqrt(hidden)
    for n, p in f.named_parameters():
        assert np.abs(p.data).max() <= bound, n
        assert np.abs(p.data).max() > 0.9 * bound, n  # the full range is used
        assert abs(float(p.data.mean())) < 0.2 * bound, n
    fastnn.manual_seed(3)
    g = getattr(rnn, name)(16, hidden, **kw)
    for (n, p), (_, q) in zip(f.named_parameters(), g.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)


@pytest.mark.parametrize("layer", [
    rnn.RNN(3, 4, 2, "relu", batch_first=True), rnn.LSTM(3, 4, proj_size=2, bidirectional=True),
    rnn.GRU(3, 4, num_layers=2, bias=False, dropout=0.3), rnn.RNNCell(3, 4, nonlinearity="relu"),
    rnn.LSTMCell(3, 4, bias=False), rnn.GRUCell(3, 4)], ids=lambda m: type(m).__name__)
def test_save_load_round_trip(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v, err_msg=k)
    layer.eval()
    loaded.eval()
    x = np.random.default_rng(0).standard_normal((2, 3) if type(layer).__name__.endswith("Cell") else (2, 2, 3))
    x = x.astype(np.float32)
    a, b = layer(x), loaded(x)
    flat = lambda r: [r] if isinstance(r, np.ndarray) else [z for e in r for z in flat(e)]
    for u, v in zip(flat(a), flat(b)):
        np.testing.assert_array_equal(u, v)


# ---- dropout between layers --------------------------------------------------------------------
def test_dropout_statistics_determinism_and_eval(torch):
    f, t = _pair(torch, "LSTM", np.float64, 3, 50, num_layers=3, dropout=0.3)
    x = np.random.default_rng(0).standard_normal((20, 10, 3))
    fastnn.manual_seed(5)
    y1, _ = f(x)
    factors = f._cache["factors"]
    assert factors[-1] is None and all(fa is not None for fa in factors[:-1])  # not after the last layer
    for fa in factors[:-1]:
        kept = fa != 0
        assert abs(1 - kept.mean() - 0.3) < 0.02  # 2 * 10 * 20 * 50 = 20000 draws per layer
        np.testing.assert_allclose(fa[kept], 1 / 0.7, rtol=1e-15)
    assert not np.array_equal(factors[0], factors[1])
    fastnn.manual_seed(5)
    y2, _ = f(x)
    np.testing.assert_array_equal(y1, y2)
    y3, _ = f(x)
    assert not np.allclose(y1, y3)
    # eval mode: no dropout, torch's eval output
    f.eval()
    t.eval()
    y, (h, c) = f(x)
    yt, (ht, ct) = t(torch.tensor(x))
    _close(y, yt, np.float64, "eval output")
    _close(c, ct, np.float64, "eval c_n")


def test_dropout_backward_matches_finite_differences():
    fastnn.manual_seed(0)
    f = rnn.GRU(2, 3, num_layers=2, dropout=0.5, bidirectional=True).double()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 2))
    dy = rng.standard_normal((3, 2, 6))
    dh = rng.standard_normal((4, 2, 3))

    def loss(xv):
        fastnn.manual_seed(11)  # the same masks on every forward
        y, h = f(xv)
        return float((y * dy).sum() + (h * dh).sum())

    loss(x)
    assert any((fa == 0).any() for fa in f._cache["factors"] if fa is not None)
    dx, _ = f.backward(dy, dh)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += eps
        xm[idx] -= eps
        num[idx] = (loss(xp_) - loss(xm)) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


def test_dropout_warns_with_one_layer():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        rnn.GRU(3, 4, dropout=0.2)


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("factory, exc, match", [
    (lambda: rnn.RNN(3, 0), ValueError, "hidden_size=0"),
    (lambda: rnn.LSTM(3, 4.0), TypeError, "hidden_size=4.0"),
    (lambda: rnn.GRU(0, 4), ValueError, "input_size=0"),
    (lambda: rnn.GRU(3, 4, num_layers=0), ValueError, "num_layers=0"),
    (lambda: rnn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "nonlinearity='sigmoid'"),
    (lambda: rnn.RNNCell(3, 4, nonlinearity="gelu"), ValueError, "nonlinearity='gelu'"),
    (lambda: rnn.LSTM(3, 4, num_layers=2, dropout=1.5), ValueError, "dropout=1.5"),
    (lambda: rnn.LSTM(3, 4, num_layers=2, dropout=True), ValueError, "dropout=True"),
    (lambda: rnn.LSTM(3, 4, proj_size=4), ValueError, "proj_size=4"),
    (lambda: rnn.LSTM(3, 4, proj_size=-1), ValueError, "proj_size=-1"),
    (lambda: rnn.GRU(3, 4, bias="yes"), TypeError, "bias='yes'"),
    (lambda: rnn.RNN(3, 4, batch_first=1), TypeError, "batch_first=1"),
    (lambda: rnn.LSTMCell(3, -2), ValueError, "hidden_size=-2"),
])
def test_bad_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


def test_bad_shapes_and_types():
    f32 = np.float32
    m = rnn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"3 features.*\(5, 2, 7\)"):
        m(np.zeros((5, 2, 7), f32))
    with pytest.raises(ValueError, match=r"2-D or 3-D.*\(5, 2, 3, 1\)"):
        m(np.zeros((5, 2, 3, 1), f32))
    with pytest.raises(ValueError, match=r"hx\[0\].*\(2, 2, 4\).*\(1, 2, 4\)"):
        m(np.zeros((5, 2, 3), f32), (np.zeros((1, 2, 4), f32), np.zeros((2, 2, 4), f32)))
    with pytest.raises(ValueError, match=r"hx\[1\].*2-D input.*\(2, 4\).*\(2, 1, 4\)"):
        m(np.zeros((5, 3), f32), (np.zeros((2, 4), f32), np.zeros((2, 1, 4), f32)))
    with pytest.raises(TypeError, match=r"hx\[0\].*input's dtype float32.*float64"):
        m(np.zeros((5, 2, 3), f32), (np.zeros((2, 2, 4)), np.zeros((2, 2, 4), f32)))
    with pytest.raises(TypeError, match="tuple"):
        m(np.zeros((5, 2, 3), f32), np.zeros((2, 2, 4), f32))
    with pytest.raises(TypeError, match="float32.*float64"):
        m(np.zeros((5, 2, 3)))
    with pytest.raises(TypeError, match="int64"):
        m(np.zeros((5, 2, 3), np.int64))
    with pytest.raises(TypeError, match="list"):
        m([[[0.0] * 3]])
    with pytest.raises(ValueError, match=r"sequence length larger than 0.*\(0, 2, 3\)"):
        m(np.zeros((0, 2, 3), f32))
    with pytest.raises(RuntimeError, match="before forward"):
        rnn.GRU(3, 4).backward(np.zeros((5, 2, 4), f32))
    g = rnn.GRU(3, 4, batch_first=True)
    g(np.zeros((2, 5, 3), f32))
    with pytest.raises(ValueError, match=r"d_output.*\(2, 5, 4\).*\(5, 2, 4\)"):
        g.backward(np.zeros((5, 2, 4), f32))
    with pytest.raises(ValueError, match=r"d_h_n.*\(1, 2, 4\).*\(2, 4\)"):
        g.backward(np.zeros((2, 5, 4), f32), np.zeros((2, 4), f32))
    c = rnn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"3 features.*\(2, 5\)"):
        c(np.zeros((2, 5), f32))
    with pytest.raises(ValueError, match=r"hx.*1-D input.*\(4,\).*\(1, 4\)"):
        c(np.zeros(3, f32), np.zeros((1, 4), f32))
    with pytest.raises(ValueError, match=r"1-D or 2-D.*\(1, 2, 3\)"):
        c(np.zeros((1, 2, 3), f32))
    lc = rnn.LSTMCell(3, 4)
    lc(np.zeros((2, 3), f32))
    with pytest.raises(ValueError, match=r"dc.*\(2, 4\).*\(2, 5\)"):
        lc.backward(np.zeros((2, 4), f32), np.zeros((2, 5), f32))
    m(np.zeros((5, 2, 3), f32))
    with pytest.raises(TypeError, match="d_state"):
        m.backward(np.zeros((5, 2, 4), f32), np.zeros((2, 2, 4), f32))


def test_summary_shows_output_shape():
    text = rnn.LSTM(3, 4, batch_first=True, bidirectional=True).summary((5, 3), print_fn=None)
    assert "LSTM" in text and "(None, 5, 8)" in text and "Total params: 288" in text


@pytest.mark.parametrize("name, kw", [("RNN", dict(num_layers=2, bidirectional=True, nonlinearity="relu")),
                                      ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2, batch_first=True)),
                                      ("GRU", dict(num_layers=2, dropout=0.5)), ("LSTMCell", {}), ("GRUCell", {})])
def test_emulated_device_matches_cpu(cp, name, kw):
    """The same layer on the CPU and on the emulated GPU (tests/fake_cupy.py): same results."""
    fastnn.manual_seed(0)
    f = getattr(rnn, name)(3, 4, **kw).double()
    fastnn.manual_seed(0)
    g = getattr(rnn, name)(3, 4, **kw).double().to("cuda")
    cell = name.endswith("Cell")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) if cell else (3, 2, 3))
    flat = lambda r: [r] if not isinstance(r, tuple) else [z for e in r for z in flat(e)]
    fastnn.manual_seed(1)
    a = flat(f(x))
    fastnn.manual_seed(1)
    b = flat(g(cp.asarray(x)))
    for u, v in zip(a, b):
        np.testing.assert_allclose(v.get(), u, rtol=1e-12, atol=1e-12)
    dy = rng.standard_normal(a[0].shape)
    da = flat(f.backward(dy))
    db = flat(g.backward(cp.asarray(dy)))
    for u, v in zip(da, db):
        np.testing.assert_allclose(v.get(), u, rtol=1e-12, atol=1e-12)
    for (n, p), (_, q) in zip(f.named_parameters(), g.named_parameters()):
        np.testing.assert_allclose(q.grad.get(), p.grad, rtol=1e-12, atol=1e-12, err_msg=n)
    with pytest.raises(TypeError, match="cpu|cuda"):
        g(x)
