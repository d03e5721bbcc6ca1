"""RNN, LSTM, GRU (fastnn/nn/rnn.py) on a PackedSequence input against torch.nn's.

The same padded batch is packed with pack_padded_sequence on both sides (fastnn.nn.utils.rnn and
torch.nn.utils.rnn; enforce_sorted True with decreasing lengths, and False with unsorted ones),
run through modules holding the same parameters (torch's initial ones, copied through
load_state_dict), and backpropagated from the same random upstream gradients of output.data and
h_n (and c_n). output.data, batch_sizes, sorted_indices, unsorted_indices, h_n / c_n, dx.data,
dh0 (dc0) and every parameter gradient are compared with torch's autograd, in float64 (1e-10)
and float32 (1e-5). The lengths always differ, so padded rows and the reverse direction's late
starts are exercised; a packed run also differs from the padded run of the same batch (checked),
so the comparison can tell the two semantics apart.
"""
import numpy as np
import pytest
from test_nn_rnn import _pair  # (fastnn, torch) modules with torch's initial parameters

from fastnn.nn import rnn
from fastnn.nn.utils import rnn as urnn

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float64, np.float32]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _close(a, b, dtype, what):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.dtype == dtype, f"{what}: dtype {a.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def _same_index(a, b, what):
    if b is None:
        assert a is None, what
    else:
        assert a is not None, what
        np.testing.assert_array_equal(np.asarray(a), b.numpy(), err_msg=what)


def _check_params(f, t, dtype, nonzero=True):
    """Every parameter gradient equals torch's; with nonzero, each is nonzero (so the check can
    fail; the random-length relu cases may have a layer whose units are all inactive)."""
    names = [n for n, _ in t.named_parameters()]
    assert names == [n for n, _ in f.named_parameters()]
    for n, p in t.named_parameters():
        assert p.grad is not None, n
        if nonzero:
            assert float(p.grad.abs().max()) > 0, n
        _close(getattr(f, n).grad, p.grad, dtype, f"grad of {n}")


LENGTHS = {True: [5, 4, 4, 2, 1], False: [2, 5, 1, 4, 3]}

CASES = [
    ("RNN", dict(nonlinearity="tanh")),
    ("RNN", dict(nonlinearity="relu")),
    ("LSTM", {}),
    ("LSTM", dict(proj_size=2)),
    ("GRU", {}),
]


def _run_case(torch, name, kw, dtype, num_layers, bidirectional, enforce_sorted, with_hx, seed=0):
    I, H = 3, 4
    lengths = LENGTHS[enforce_sorted]
    T, B = max(lengths), len(lengths)
    rng = np.random.default_rng(seed)
    f, t = _pair(torch, name, dtype, I, H, num_layers=num_layers, bidirectional=bidirectional, **kw)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    x = rng.standard_normal((T, B, I)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    fp = urnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    tp = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=enforce_sorted)
    # the packed data as a leaf, so torch's dx is the gradient of the packed data (fastnn's dx.data)
    tdata = tp.data.detach().clone().requires_grad_(True)
    tp = torch.nn.utils.rnn.PackedSequence(tdata, tp.batch_sizes, tp.sorted_indices, tp.unsorted_indices)
    np.testing.assert_array_equal(fp.data, tdata.detach().numpy())
    D = 2 if bidirectional else 1
    k = D * num_layers
    P = kw.get("proj_size", 0) or H
    lstm = name == "LSTM"
    if with_hx:
        h0 = rng.standard_normal((k, B, P)).astype(dtype)
        c0 = rng.standard_normal((k, B, H)).astype(dtype) if lstm else None
        th0 = torch.tensor(h0, requires_grad=True)
        tc0 = torch.tensor(c0, requires_grad=True) if lstm else None
        fhx = (h0, c0) if lstm else h0
        thx = (th0, tc0) if lstm else th0
        fout, fst = f(fp, fhx)
        tout, tst = t(tp, thx)
    else:
        fout, fst = f(fp)
        tout, tst = t(tp)
    assert isinstance(fout, urnn.PackedSequence)
    np.testing.assert_array_equal(fout.batch_sizes, tout.batch_sizes.numpy())
    assert fout.batch_sizes.dtype == np.int64
    _same_index(fout.sorted_indices, tout.sorted_indices, "sorted_indices")
    _same_index(fout.unsorted_indices, tout.unsorted_indices, "unsorted_indices")
    _close(fout.data, tout.data, dtype, "output.data")
    fstates = fst if lstm else (fst,)
    tstates = tst if lstm else (tst,)
    for i, (a, b) in enumerate(zip(fstates, tstates)):
        _close(a, b, dtype, f"state {i}")
    dy = rng.standard_normal(fout.data.shape).astype(dtype)
    dstates = [rng.standard_normal(a.shape).astype(dtype) for a in fstates]
    loss = (tout.data * torch.tensor(dy)).sum() + sum((b * torch.tensor(g)).sum()
                                                       for b, g in zip(tstates, dstates))
    loss.backward()
    if lstm:
        dx, (dh0, dc0) = f.backward(urnn.PackedSequence(dy, fout.batch_sizes, fout.sorted_indices,
                                                       fout.unsorted_indices), tuple(dstates))
    else:
        dx, dh0 = f.backward(dy, dstates[0])
        dc0 = None
    assert isinstance(dx, urnn.PackedSequence)
    np.testing.assert_array_equal(dx.batch_sizes, fp.batch_sizes)
    _same_index(dx.sorted_indices, tp.sorted_indices, "dx.sorted_indices")
    _close(dx.data, tdata.grad, dtype, "dx.data")
    assert dh0.shape == (k, B, P)
    if with_hx:
        _close(dh0, th0.grad, dtype, "dh0")
        if lstm:
            _close(dc0, tc0.grad, dtype, "dc0")
    _check_params(f, t, dtype)
    return f, fp


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name,kw", CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"])
def test_packed_matches_torch(torch, name, kw, num_layers, bidirectional, enforce_sorted, with_hx, dtype):
    _run_case(torch, name, kw, dtype, num_layers, bidirectional, enforce_sorted, with_hx)


@pytest.mark.parametrize("name,kw", CASES, ids=["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"])
def test_packed_random_lengths(torch, name, kw):
    """More random batches: random lengths (ties included), bidirectional, 2 layers, float64."""
    rng = np.random.default_rng(7)
    for seed in range(3):
        B = int(rng.integers(2, 7))
        lengths = [int(v) for v in rng.integers(1, 7, size=B)]
        _run_rand(torch, name, kw, lengths, seed)


def _run_rand(torch, name, kw, lengths, seed):
    dtype = np.float64
    I, H = 2, 3
    T, B = max(lengths), len(lengths)
    rng = np.random.default_rng(100 + seed)
    f, t = _pair(torch, name, dtype, I, H, num_layers=2, bidirectional=True, **kw)
    x = rng.standard_normal((B, T, I))
    fp = urnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    tp = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), batch_first=True,
                                                 enforce_sorted=False)
    tdata = tp.data.clone().requires_grad_(True)
    tp = torch.nn.utils.rnn.PackedSequence(tdata, tp.batch_sizes, tp.sorted_indices, tp.unsorted_indices)
    fout, fst = f(fp)
    tout, tst = t(tp)
    lstm = name == "LSTM"
    fstates = fst if lstm else (fst,)
    tstates = tst if lstm else (tst,)
    _close(fout.data, tout.data, dtype, "output.data")
    for a, b in zip(fstates, tstates):
        _close(a, b, dtype, "state")
    dy = rng.standard_normal(fout.data.shape)
    ds = [rng.standard_normal(a.shape) for a in fstates]
    (sum((b * torch.tensor(g)).sum() for b, g in zip(tstates, ds)) + (tout.data * torch.tensor(dy)).sum()).backward()
    if lstm:
        dx, (dh0, dc0) = f.backward(fout._with(dy), tuple(ds))
    else:
        dx, dh0 = f.backward(fout._with(dy), ds[0])
    _close(dx.data, tdata.grad, dtype, "dx.data")
    _check_params(f, t, dtype, nonzero=kw.get("nonlinearity") != "relu")


@pytest.mark.parametrize("name,kw", CASES[:1] + CASES[2:3] + CASES[4:], ids=["rnn", "lstm", "gru"])
def test_packed_differs_from_padded_and_state_gradient(torch, name, kw):
    """The packed run is not the padded run of the same batch (so the torch comparison sees the
    semantics), and only d_h_n flows to dh0 of rows whose sequences are shorter."""
    f, fp = _run_case(torch, name, kw, np.float64, 1, True, False, True)
    padded, lengths = urnn.pad_packed_sequence(fp)
    fout, _ = f(fp)
    pout, _ = f(padded)
    pdata = urnn.pack_padded_sequence(pout, lengths, enforce_sorted=False).data
    assert np.abs(pdata - fout.data).max() > 1e-3


def test_unpacked_paths_unchanged(torch):
    """A plain array input still gives the padded semantics (no masking): equals torch's padded run."""
    f, t = _pair(torch, "GRU", np.float64, 3, 4, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    out, h = f(x)
    tout, th = t(torch.tensor(x))
    _close(out, tout, np.float64, "output")
    _close(h, th, np.float64, "h_n")


def test_packed_errors(torch):
    f = rnn.LSTM(3, 4).to(np.float64)
    fp = urnn.pack_padded_sequence(np.zeros((3, 2, 3)), [3, 1])
    with pytest.raises(Exception):
        f(fp, (np.zeros((1, 3, 4)), np.zeros((1, 3, 4))))  # hx batch 3 != 2
    f(fp)
    with pytest.raises(Exception):
        f.backward(np.zeros((5, 4)))  # output.data has 4 rows
    g = rnn.GRU(2, 4).to(np.float64)
    with pytest.raises(Exception):
        g(fp)  # 3 features, input_size 2
