"""fastnn.nn.utils.rnn against torch.nn.utils.rnn (torch 2.13): values, batch_sizes, indices and
errors, exact equality (these functions only copy)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils import rnn as trnn  # noqa: E402

from fastnn.nn.utils import rnn as frnn  # noqa: E402

DTYPES = [np.float32, np.float64]


def _same(a, t):
    t = t.detach().numpy()
    assert isinstance(a, np.ndarray)
    assert a.dtype == t.dtype, (a.dtype, t.dtype)
    assert a.shape == t.shape, (a.shape, t.shape)
    np.testing.assert_array_equal(a, t)


def _same_packed(p, tp):
    assert isinstance(p, frnn.PackedSequence)
    _same(p.data, tp.data)
    _same(p.batch_sizes, tp.batch_sizes)
    assert p.batch_sizes.dtype == np.int64
    for mine, theirs in ((p.sorted_indices, tp.sorted_indices), (p.unsorted_indices, tp.unsorted_indices)):
        if theirs is None:
            assert mine is None
        else:
            _same(mine, theirs)


def _case(rng, dtype, B, feat, equal=False, sort=False):
    lengths = np.full(B, rng.integers(1, 6)) if equal else rng.integers(1, 6, B)
    if sort:
        lengths = np.sort(lengths)[::-1].copy()
    T = int(lengths.max()) + int(rng.integers(0, 2))
    x = rng.standard_normal((T, B) + feat).astype(dtype)
    return x, lengths


CASES = [(B, feat, equal) for B in (1, 2, 5, 9) for feat in ((), (3,), (2, 3)) for equal in (False, True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B,feat,equal", CASES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_pad_round_trip_matches_torch(dtype, B, feat, equal, batch_first, enforce_sorted):
    rng = np.random.default_rng(hash((B, feat, equal, batch_first, enforce_sorted)) % 2**32)
    x, lengths = _case(rng, dtype, B, feat, equal, sort=enforce_sorted)
    if batch_first:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    for lens in (lengths, list(map(int, lengths))):
        p = frnn.pack_padded_sequence(x, lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
        tp = trnn.pack_padded_sequence(torch.from_numpy(x), torch.as_tensor(lengths), batch_first=batch_first,
                                       enforce_sorted=enforce_sorted)
        _same_packed(p, tp)
        for total in (None, x.shape[1 if batch_first else 0] + 2):
            for pv in (0.0, -7.5):
                out, out_len = frnn.pad_packed_sequence(p, batch_first=batch_first, padding_value=pv,
                                                        total_length=total)
                tout, tlen = trnn.pad_packed_sequence(tp, batch_first=batch_first, padding_value=pv,
                                                      total_length=total)
                _same(out, tout)
                _same(out_len, tlen)


def test_unsorted_lengths_indices_and_ties():
    rng = np.random.default_rng(1)
    for B in range(1, 17):  # torch's CPU sort orders ties stably up to 16 elements
        lengths = rng.integers(1, 4, B)
        x = rng.standard_normal((3, B, 2))
        p = frnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
        tp = trnn.pack_padded_sequence(torch.from_numpy(x), torch.as_tensor(lengths), enforce_sorted=False)
        _same_packed(p, tp)
        assert p.sorted_indices.dtype == np.int64 and p.unsorted_indices.dtype == np.int64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("feat", [(), (3,), (2, 2)])
def test_pad_sequence_matches_torch(dtype, batch_first, padding_side, feat):
    rng = np.random.default_rng(len(feat) * 4 + batch_first * 2 + (padding_side == "left"))
    for lens in ([1], [3, 1, 4], [2, 2, 2], [0, 3], [5, 1, 1, 2]):
        seqs = [rng.standard_normal((n,) + feat).astype(dtype) for n in lens]
        for pv in (0.0, 2.5):
            out = frnn.pad_sequence(seqs, batch_first=batch_first, padding_value=pv, padding_side=padding_side)
            tout = trnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first=batch_first,
                                     padding_value=pv, padding_side=padding_side)
            _same(out, tout)


def test_pad_sequence_defaults_and_mixed_dtype():
    rng = np.random.default_rng(3)
    seqs = [rng.standard_normal((n, 2)).astype(np.float32) for n in (2, 4)]
    seqs[1] = seqs[1].astype(np.float64)
    _same(frnn.pad_sequence(seqs), trnn.pad_sequence([torch.from_numpy(s) for s in seqs]))  # first's dtype
    stacked = rng.standard_normal((3, 4, 2))  # an array is iterated along its first axis, as in torch
    _same(frnn.pad_sequence(stacked), trnn.pad_sequence(torch.from_numpy(stacked)))
    _same(frnn.pad_sequence(iter(list(stacked))), trnn.pad_sequence(iter(list(torch.from_numpy(stacked)))))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("feat", [(), (3,), (2, 3)])
def test_pack_and_unpack_sequence_match_torch(dtype, enforce_sorted, feat):
    rng = np.random.default_rng(7 + enforce_sorted + 3 * len(feat))
    for lens in ([1], [4, 2, 2, 1], [3, 3, 3], [1, 5, 2, 4, 3], [2, 6]):
        if enforce_sorted:
            lens = sorted(lens, reverse=True)
        seqs = [rng.standard_normal((n,) + feat).astype(dtype) for n in lens]
        tseqs = [torch.from_numpy(s) for s in seqs]
        p = frnn.pack_sequence(seqs, enforce_sorted=enforce_sorted)
        tp = trnn.pack_sequence(tseqs, enforce_sorted=enforce_sorted)
        _same_packed(p, tp)
        back, tback = frnn.unpack_sequence(p), trnn.unpack_sequence(tp)
        assert len(back) == len(tback) == len(seqs)
        for a, t, s in zip(back, tback, seqs):
            _same(a, t)
            np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence_matches_torch_and_does_not_mutate(dtype, batch_first):
    rng = np.random.default_rng(11 + batch_first)
    lens = [3, 1, 5, 2]
    seqs = [rng.standard_normal((n, 2)).astype(dtype) for n in lens]
    padded = frnn.pad_sequence(seqs, batch_first=batch_first)
    before = padded.copy()
    out = frnn.unpad_sequence(padded, np.array(lens), batch_first=batch_first)
    tout = trnn.unpad_sequence(torch.from_numpy(padded.copy()), torch.tensor(lens), batch_first=batch_first)
    assert len(out) == len(tout)
    for a, t in zip(out, tout):
        _same(a, t)
    np.testing.assert_array_equal(padded, before)
    assert padded.shape == before.shape
    out[0][...] = 99.0  # copies, not views
    np.testing.assert_array_equal(padded, before)


def test_packed_sequence_namedtuple_and_constructors():
    x = np.arange(12.0).reshape(4, 3)
    p = frnn.pack_padded_sequence(x, [4, 2, 1])
    assert p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    data, batch_sizes, si, ui = p
    assert si is None and ui is None
    np.testing.assert_array_equal(batch_sizes, [3, 2, 1, 1])
    q = frnn.PackedSequence(p.data, p.batch_sizes, np.array([2, 0, 1]))
    np.testing.assert_array_equal(q.unsorted_indices, [1, 2, 0])
    tq = trnn.PackedSequence(torch.from_numpy(p.data), torch.from_numpy(p.batch_sizes), torch.tensor([2, 0, 1]))
    _same(q.unsorted_indices, tq.unsorted_indices)
    r = frnn.PackedSequence((p.data, p.batch_sizes))
    assert r.data is p.data and r.sorted_indices is None
    assert p.to(np.float64) is p and p.to("cpu") is p and not p.is_cuda
    f = p.float()
    assert f.data.dtype == np.float32 and f.batch_sizes is p.batch_sizes
    np.testing.assert_array_equal(frnn.invert_permutation(np.array([3, 0, 2, 1])), [1, 3, 2, 0])
    assert frnn.invert_permutation(None) is None


def test_errors():
    x = np.zeros((4, 3, 2))
    with pytest.raises(ValueError, match=r"sorted in decreasing order.*\[2, 3, 1\]"):
        frnn.pack_padded_sequence(x, [2, 3, 1])
    with pytest.raises(ValueError, match=r"greater than 0.*\[3, 2, 0\]"):
        frnn.pack_padded_sequence(x, [3, 2, 0])
    with pytest.raises(ValueError, match=r"greater than 0.*\[3, 0, 2\]"):
        frnn.pack_padded_sequence(x, [3, 0, 2], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"T=4.*5"):
        frnn.pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match=r"T=3.*4"):
        frnn.pack_padded_sequence(np.zeros((3, 3, 2)), [4, 2, 1], batch_first=True)
    with pytest.raises(ValueError, match=r"batch_size=3"):
        frnn.pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="whole numbers"):
        frnn.pack_padded_sequence(x, [3.5, 2, 1])
    with pytest.raises(ValueError, match="1-D"):
        frnn.pack_padded_sequence(x, [[3, 2, 1]])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        frnn.pack_padded_sequence(np.zeros(4), [3])
    with pytest.raises(ValueError, match="empty"):
        frnn.pack_padded_sequence(np.zeros((4, 0, 2)), [])
    with pytest.raises(TypeError, match="list"):
        frnn.pack_padded_sequence([[1.0]], [1])
    p = frnn.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match=r"total_length=2 and max sequence length being 3"):
        frnn.pad_packed_sequence(p, total_length=2)
    with pytest.raises(TypeError, match="PackedSequence"):
        frnn.pad_packed_sequence(x)
    with pytest.raises(ValueError, match="'up'"):
        frnn.pad_sequence([x[0], x[1]], padding_side="up")
    with pytest.raises(ValueError, match="empty"):
        frnn.pad_sequence([])
    with pytest.raises(ValueError, match="empty"):
        frnn.pack_sequence([])
    with pytest.raises(TypeError, match="int"):
        frnn.pad_sequence(5)
    with pytest.raises(ValueError, match=r"sequences\[1\] has shape \(3, 4\)"):
        frnn.pad_sequence([np.zeros((2, 3)), np.zeros((3, 4))])
    with pytest.raises(ValueError, match="at least 1 dimension"):
        frnn.pad_sequence([np.zeros(())])
    with pytest.raises(TypeError, match=r"sequences\[1\] must be a numpy"):
        frnn.pad_sequence([np.zeros(2), [1.0]])
    with pytest.raises(ValueError, match="lengths has 2 entries"):
        frnn.unpad_sequence(x, [1, 2])


@pytest.fixture
def cp(monkeypatch):
    """tests/fake_cupy.py as `cupy`, without the kernel emulator (these helpers launch no kernels:
    a launch would fail, as settings.emulator is None)."""
    import sys

    import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(fake_cupy, "__name__", "cupy")
    monkeypatch.setattr(fake_cupy, "settings", type(fake_cupy.settings)(emulator=None, order=0, launch=None))
    return fake_cupy


@pytest.mark.parametrize("batch_first", [False, True])
def test_on_the_device_matches_the_host(cp, batch_first):
    rng = np.random.default_rng(21 + batch_first)
    lengths = np.array([2, 4, 1, 4])
    x = rng.standard_normal((4, 4, 3)).astype(np.float32)
    host = frnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    dev = frnn.pack_padded_sequence(cp.asarray(x), cp.asarray(lengths), batch_first=batch_first,
                                    enforce_sorted=False)
    assert dev.is_cuda and isinstance(dev.batch_sizes, np.ndarray)
    np.testing.assert_array_equal(dev.data.get(), host.data)
    np.testing.assert_array_equal(dev.batch_sizes, host.batch_sizes)
    np.testing.assert_array_equal(dev.sorted_indices.get(), host.sorted_indices)
    np.testing.assert_array_equal(dev.unsorted_indices.get(), host.unsorted_indices)
    out, lens = frnn.pad_packed_sequence(dev, batch_first=batch_first, padding_value=-1.0, total_length=5)
    hout, hlens = frnn.pad_packed_sequence(host, batch_first=batch_first, padding_value=-1.0, total_length=5)
    np.testing.assert_array_equal(out.get(), hout)
    assert isinstance(lens, np.ndarray)
    np.testing.assert_array_equal(lens, hlens)
    for a, b in zip(frnn.unpack_sequence(dev), frnn.unpack_sequence(host)):
        np.testing.assert_array_equal(a.get(), b)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 1, 2)]
    for side in ("right", "left"):
        dpad = frnn.pad_sequence([cp.asarray(s) for s in seqs], batch_first=batch_first, padding_side=side)
        np.testing.assert_array_equal(dpad.get(), frnn.pad_sequence(seqs, batch_first=batch_first, padding_side=side))
    back = dev.cpu()
    assert not back.is_cuda and isinstance(back.data, np.ndarray) and isinstance(back.sorted_indices, np.ndarray)
    np.testing.assert_array_equal(back.data, host.data)
    with pytest.raises(TypeError, match="one device"):
        frnn.pad_sequence([cp.asarray(seqs[0]), seqs[1]])
