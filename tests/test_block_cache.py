"""The block cache behind fastnn.ops' large results (csrc/kernels/block_cache.h): freed blocks
are handed out again, live arrays never share memory, the limit holds, bad input is refused."""
import numpy as np
import pytest

import fastnn
from fastnn import _core, ops
from fastnn.ops._dispatch import empty

from test_config import _run

MIN = _core.cache_stats()["min_block_bytes"]


@pytest.fixture
def fresh_cache():
    before = _core.cache_stats()["limit_bytes"]
    fastnn.empty_cache()
    yield
    fastnn.set_cache_limit(before)
    fastnn.empty_cache()


def test_freed_block_is_reused(fresh_cache):
    shape = (MIN // 4 + 1000,)
    a = _core.empty(shape, np.dtype(np.float32))
    address = a.ctypes.data
    del a
    s0 = _core.cache_stats()
    assert s0["cached_bytes"] >= shape[0] * 4
    b = _core.empty(shape, np.dtype(np.float32))
    s1 = _core.cache_stats()
    assert b.ctypes.data == address
    assert s1["hits"] == s0["hits"] + 1 and s1["misses"] == s0["misses"]
    # sizes are rounded up to 64 KiB classes below 4 MiB
    assert s0["cached_bytes"] - s1["cached_bytes"] == -(-shape[0] * 4 // (64 << 10)) * (64 << 10)


def test_live_arrays_never_share_memory(fresh_cache):
    arrays = [_core.empty((MIN // 8 + i,), np.dtype(np.float64)) for i in range(6)]
    for i, a in enumerate(arrays):
        a.fill(i)
    for i, a in enumerate(arrays):
        assert np.all(a == i)
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


def test_arrays_are_ordinary_writable_c_contiguous(fresh_cache):
    a = _core.empty((3, 512, 257), np.dtype(np.float32))
    assert a.shape == (3, 512, 257) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
    assert a.ctypes.data % 64 == 0
    a[...] = 1.5
    assert float(a.sum()) == 1.5 * a.size
    # It survives its creator's other references and pickles like any array.
    import pickle
    b = pickle.loads(pickle.dumps(a[1:2]))
    assert np.array_equal(b, a[1:2])


def test_ops_results_come_from_the_cache_and_are_reused(fresh_cache):
    x = np.random.default_rng(0).standard_normal((64, 2048)).astype(np.float32)  # 512 KiB
    y = ops.relu(x)
    assert isinstance(y.base, type(_core.empty((MIN,), np.dtype(np.uint8)).base))
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    del y
    hits = _core.cache_stats()["hits"]
    y2 = ops.relu(x)
    assert _core.cache_stats()["hits"] == hits + 1
    np.testing.assert_array_equal(y2, np.maximum(x, 0))
    # Small results stay plain NumPy arrays.
    small = ops.relu(x[:2, :8])
    assert small.base is None


def test_limit_is_respected_and_zero_disables(fresh_cache):
    fastnn.set_cache_limit(0)
    a = _core.empty((MIN,), np.dtype(np.uint8))
    del a
    assert _core.cache_stats()["cached_bytes"] == 0
    fastnn.set_cache_limit(3 * MIN)
    blocks = [_core.empty((MIN,), np.dtype(np.uint8)) for _ in range(5)]
    del blocks
    s = _core.cache_stats()
    assert 0 < s["cached_bytes"] <= 3 * MIN and s["limit_bytes"] == 3 * MIN
    fastnn.empty_cache()
    assert _core.cache_stats()["cached_bytes"] == 0


def test_empty_helper_matches_numpy_semantics():
    for shape, dtype in [((0,), np.float32), ((5, 0, 3), np.float64), (7, np.int64), ((300, 300), np.float32)]:
        a = empty(shape, dtype)
        want = np.empty(shape, dtype)
        assert a.shape == want.shape and a.dtype == want.dtype and a.flags.c_contiguous


def test_bad_input_is_refused(fresh_cache):
    with pytest.raises(ValueError, match="-3"):
        _core.empty((4, -3), np.dtype(np.float32))
    with pytest.raises(ValueError, match="too large"):
        _core.empty((1 << 62, 1 << 62), np.dtype(np.float32))
    with pytest.raises(ValueError, match="-1"):
        _core.cache_set_limit(-1)
    with pytest.raises(TypeError, match="2.5"):
        fastnn.set_cache_limit(2.5)


def test_env_limit_is_applied_and_checked(tmp_path):
    ok = _run("import fastnn; print(fastnn.cache_stats()['limit_bytes'])", tmp_path, FASTNN_CACHE_LIMIT_MB="12")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(12 << 20)
    bad = _run("import fastnn", tmp_path, FASTNN_CACHE_LIMIT_MB="lots")
    assert bad.returncode != 0 and "FASTNN_CACHE_LIMIT_MB" in bad.stderr and "'lots'" in bad.stderr
