"""nn.AdaptiveAvgPool2d / nn.AdaptiveMaxPool2d: forward, backward and indices against torch's
layers (many shapes, divisible and not, OH > H, None entries, unbatched; NaN, +-inf, ties),
float64 central differences, the fast paths through fastnn.ops, save / load, errors, and the
emulated GPU (tests/fake_cupy.py)."""
import json

import numpy as np
import pytest

import fastnn
from fastnn import nn, ops
from nn_helpers import check_module_gradients

F32, F64 = np.float32, np.float64
# (rtol, atol) against torch in the same dtype: a window sum in another order, then one division
TOL = {F32: (1e-5, 1e-6), F64: (1e-12, 1e-13)}

# (input shape, output_size): divisible (fast paths) and not, OH > H, 1 x N, None, unbatched
CASES = [
    ((2, 3, 7, 7), 3),
    ((2, 3, 5, 5), 7),
    ((1, 2, 1, 9), (1, 4)),
    ((2, 2, 9, 1), (4, 1)),
    ((2, 2, 8, 6), (None, 4)),
    ((3, 6, 7), (4, None)),
    ((3, 5, 5), 2),
    ((2, 3, 8, 8), 4),
    ((2, 3, 8, 8), 1),
    ((2, 3, 9, 6), (3, 2)),
    ((2, 3, 4, 4), (4, 4)),
    ((2, 1, 10, 7), (3, 5)),
    ((1, 2, 3, 11), (5, 4)),
    ((1, 2, 3, 4), (7, 9)),
    ((1, 1, 2, 2), 5),
    ((2, 2, 15, 13), (4, 6)),
    ((0, 2, 5, 5), 3),
    ((2, 2, 6, 6), (None, None)),
]
IDS = [f"{s}->{o}" for s, o in CASES]


def _torch_pool(kind, output_size, x, dy):
    """torch's (y, indices or None, dx) for x and upstream gradient dy (NumPy arrays)."""
    torch = pytest.importorskip("torch")
    xt = torch.from_numpy(x.copy()).requires_grad_()
    if kind == "avg":
        y, idx = torch.nn.AdaptiveAvgPool2d(output_size)(xt), None
    else:
        y, idx = torch.nn.AdaptiveMaxPool2d(output_size, return_indices=True)(xt)
    y.backward(torch.from_numpy(dy))
    return y.detach().numpy(), None if idx is None else idx.numpy(), xt.grad.numpy()


def _ours(kind, output_size, x, dy):
    if kind == "avg":
        layer = nn.AdaptiveAvgPool2d(output_size)
        y, idx = layer(x), None
    else:
        layer = nn.AdaptiveMaxPool2d(output_size, return_indices=True)
        y, idx = layer(x)
    return y, idx, layer.backward(dy)


def _check_against_torch(kind, output_size, x, dy):
    ty, tidx, tdx = _torch_pool(kind, output_size, x, dy)
    y, idx, dx = _ours(kind, output_size, x, dy)
    assert y.shape == ty.shape and y.dtype == x.dtype
    assert dx.shape == x.shape and dx.dtype == x.dtype
    rtol, atol = TOL[x.dtype.type]
    if kind == "max":
        np.testing.assert_array_equal(y, ty)  # a selection: exact (NaN where torch has NaN)
        assert idx.dtype == np.int64
        np.testing.assert_array_equal(idx, tidx)
    else:
        np.testing.assert_allclose(y, ty, rtol=rtol, atol=atol)
    # max: exact but for overlapping windows adding into one element in another order
    np.testing.assert_allclose(dx, tdx, rtol=rtol, atol=atol)


def _output_shape(shape, output_size):
    oh, ow = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    return shape[:-2] + (shape[-2] if oh is None else oh, shape[-1] if ow is None else ow)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape, output_size", CASES, ids=IDS)
def test_matches_torch(rng, kind, dtype, shape, output_size):
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(_output_shape(shape, output_size)).astype(dtype)
    _check_against_torch(kind, output_size, x, dy)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape, output_size", [c for c in CASES if c[0][0] != 0],
                         ids=[i for i, c in zip(IDS, CASES) if c[0][0] != 0])
def test_nan_and_infinities_match_torch(rng, kind, dtype, shape, output_size):
    x = rng.standard_normal(shape).astype(dtype)
    u = rng.random(shape)
    x[u < 0.12] = np.nan   # several NaNs per window at times: torch's index is the last one
    x[(u >= 0.12) & (u < 0.25)] = -np.inf
    x[(u >= 0.25) & (u < 0.3)] = np.inf
    dy = rng.standard_normal(_output_shape(shape, output_size)).astype(dtype)
    _check_against_torch(kind, output_size, x, dy)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("shape, output_size", [((2, 2, 7, 7), 3), ((2, 2, 8, 8), 4), ((1, 3, 5, 6), (7, 4)),
                                                ((2, 2, 6, 9), (4, 5))])
def test_ties_match_torch(rng, kind, shape, output_size):
    """Few distinct values: the argmax is the first maximum in row-major window order."""
    x = rng.integers(0, 3, shape).astype(F32)
    dy = rng.standard_normal(_output_shape(shape, output_size)).astype(F32)
    _check_against_torch(kind, output_size, x, dy)


@pytest.mark.parametrize("output_size", [3, 2, (1, 3)])
def test_special_windows_match_torch(output_size):
    """All -inf windows (index: their first element), a NaN among -inf, and 0 vs -0."""
    x = np.full((1, 2, 6, 6), -np.inf, F64)
    x[0, 1, 4, 5] = np.nan
    x[0, 1, 0, :2] = [0.0, -0.0]
    dy = np.arange(np.prod(_output_shape(x.shape, output_size)), dtype=F64).reshape(
        _output_shape(x.shape, output_size)) + 1
    for kind in ("avg", "max"):
        _check_against_torch(kind, output_size, x, dy)


def test_windows_follow_torchs_start_end_rule():
    """7 -> 3: rows [0, 3), [2, 5), [4, 7) (overlapping); 2 -> 3: [0, 1), [0, 2), [1, 2)."""
    x = np.arange(7, dtype=F64).reshape(1, 1, 7, 1) * 10 + np.arange(2, dtype=F64)
    y = nn.AdaptiveAvgPool2d((3, 3))(x)
    rows = np.array([10.0, 30.0, 50.0])[:, None]
    np.testing.assert_allclose(y[0, 0], rows + np.array([0.0, 0.5, 1.0]), rtol=1e-15)
    y, idx = nn.AdaptiveMaxPool2d((3, 3), return_indices=True)(x)
    np.testing.assert_array_equal(idx[0, 0], [[4, 5, 5], [8, 9, 9], [12, 13, 13]])
    np.testing.assert_array_equal(y[0, 0], [[20, 21, 21], [40, 41, 41], [60, 61, 61]])


def test_avg_backward_spreads_dy_over_each_window_and_overlaps_add():
    layer = nn.AdaptiveAvgPool2d((2, 1))  # 3 rows -> [0, 2), [1, 3): row 1 is in both
    layer(np.zeros((1, 1, 3, 1), F64))
    dx = layer.backward(np.array([[[[4.0], [8.0]]]]))
    np.testing.assert_array_equal(dx[0, 0, :, 0], [2.0, 6.0, 4.0])


# ---- numeric gradients ---------------------------------------------------------------------
@pytest.mark.parametrize("output_size", [3, (4, 5), (None, 2), (2, 4), 1, (9, 3)])
def test_avg_gradients(rng, output_size):
    check_module_gradients(nn.AdaptiveAvgPool2d(output_size), rng.standard_normal((2, 3, 7, 8)))


@pytest.mark.parametrize("output_size", [3, (4, 5), (None, 2), (2, 4), 1, (9, 3)])
def test_max_gradients(rng, output_size):
    # distinct values 0.01 apart: no central difference (eps 1e-6) changes an argmax
    x = (rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) * 0.01).astype(F64)
    check_module_gradients(nn.AdaptiveMaxPool2d(output_size), x)


def test_unbatched_gradients(rng):
    check_module_gradients(nn.AdaptiveAvgPool2d((4, 3)), rng.standard_normal((2, 5, 7)))
    x = rng.permutation(2 * 5 * 7).reshape(2, 5, 7) * 0.01
    check_module_gradients(nn.AdaptiveMaxPool2d((4, 3)), x)


# ---- layer behaviour ------------------------------------------------------------------------
def test_unbatched_matches_a_batch_of_one(rng):
    x = rng.standard_normal((3, 7, 5)).astype(F32)
    for layer in (nn.AdaptiveAvgPool2d((3, 4)), nn.AdaptiveMaxPool2d((3, 4), return_indices=True)):
        out = layer(x)
        one = layer(x[None])
        for a, b in zip(out if isinstance(out, tuple) else (out,), one if isinstance(one, tuple) else (one,)):
            assert a.shape == b.shape[1:]
            np.testing.assert_array_equal(a, b[0])
        layer(x)
        dy = rng.standard_normal((3, 3, 4)).astype(F32)
        dx = layer.backward(dy)
        assert dx.shape == x.shape
        layer(x[None])
        np.testing.assert_array_equal(dx, layer.backward(dy[None])[0])


def test_return_indices_only_when_asked(rng):
    x = rng.standard_normal((2, 3, 7, 7)).astype(F32)
    y = nn.AdaptiveMaxPool2d(3)(x)
    assert isinstance(y, np.ndarray) and y.shape == (2, 3, 3, 3)
    y2, idx = nn.AdaptiveMaxPool2d(3, return_indices=True)(x)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(np.take_along_axis(x.reshape(2, 3, -1), idx.reshape(2, 3, -1), 2).reshape(y.shape), y)


def test_non_contiguous_input(rng):
    x = rng.standard_normal((2, 3, 9, 14)).astype(F64)[:, :, :, ::2]
    assert not x.flags.c_contiguous
    for kind in ("avg", "max"):
        _check_against_torch(kind, (4, 3), np.ascontiguousarray(x), rng.standard_normal((2, 3, 4, 3)))
        y, idx, dx = _ours(kind, (4, 3), x, np.ones((2, 3, 4, 3)))
        y2, idx2, dx2 = _ours(kind, (4, 3), np.ascontiguousarray(x), np.ones((2, 3, 4, 3)))
        np.testing.assert_array_equal(y, y2)
        np.testing.assert_array_equal(dx, dx2)


def test_in_a_sequential_and_trains(rng):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d((3, 3)),
                          nn.AdaptiveAvgPool2d((2, None)), nn.Flatten(), nn.Linear(4 * 2 * 3, 3))
    x = rng.standard_normal((4, 2, 7, 5)).astype(F32)
    loss = nn.CrossEntropyLoss()
    loss(model(x), np.array([0, 1, 2, 0]))
    model.backward(loss.backward())
    assert all(np.isfinite(p.grad).all() and p.grad.any() for p in model.parameters())
    assert "AdaptiveMaxPool2d" in model.summary((2, 7, 5), print_fn=None)


@pytest.mark.parametrize("kind, shape, output_size, op", [
    ("avg", (2, 3, 8, 6), (4, 3), "avg_pool2d"),
    ("avg", (2, 3, 8, 6), 1, "global_avg_pool2d"),
    ("avg", (2, 3, 8, 6), (None, 2), "avg_pool2d"),
    ("max", (2, 3, 8, 6), (4, 3), "max_pool2d"),
    ("max", (2, 3, 8, 6), 1, "max_pool2d"),
    ("avg", (2, 3, 8, 6), (3, 3), None),
    ("max", (2, 3, 8, 6), (16, 6), None),
])
def test_divisible_sizes_run_the_pooling_ops(monkeypatch, rng, kind, shape, output_size, op):
    """H % OH == 0 and W % OW == 0: the plain pooling ops (native kernels) forward and backward."""
    calls = []
    for name in ("avg_pool2d", "global_avg_pool2d", "max_pool2d"):
        for stage in ("forward", "backward"):
            fn = getattr(ops, f"{name}_{stage}")

            def counted(*args, _fn=fn, _name=f"{name}_{stage}", **kwargs):
                calls.append(_name)
                return _fn(*args, **kwargs)

            monkeypatch.setattr(ops, f"{name}_{stage}", counted)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(_output_shape(shape, output_size))
    _check_against_torch(kind, output_size, x, dy)
    assert calls == ([] if op is None else [f"{op}_forward", f"{op}_backward"])


# ---- save / load and config -----------------------------------------------------------------
def test_save_load_round_trip(tmp_path, rng):
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.AdaptiveMaxPool2d((3, None)),
                          nn.AdaptiveAvgPool2d([2, 2]), nn.Flatten(), nn.Linear(12, 4))
    x = rng.standard_normal((3, 2, 7, 5)).astype(F32)
    y = model.eval()(x)
    path = tmp_path / "adaptive.fnn"
    fastnn.save(model, path)
    loaded = fastnn.load(path)
    assert repr(loaded) == repr(model)
    assert "AdaptiveMaxPool2d(output_size=(3, None))" in repr(model)
    np.testing.assert_array_equal(loaded(x), y)
    assert loaded[1].output_size == (3, None) and loaded[2].output_size == (2, 2)


@pytest.mark.parametrize("layer", [nn.AdaptiveAvgPool2d(4), nn.AdaptiveAvgPool2d((None, None)),
                                   nn.AdaptiveMaxPool2d((None, 3), return_indices=True), nn.AdaptiveMaxPool2d(2)])
def test_config_round_trip(tmp_path, rng, layer):
    config = json.loads(json.dumps(nn.layer_to_config(layer)))
    again = nn.layer_from_config(config)
    assert type(again) is type(layer) and again.get_config() == layer.get_config()
    assert getattr(again, "return_indices", False) == getattr(layer, "return_indices", False)
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert repr(loaded) == repr(layer)
    x = rng.standard_normal((2, 3, 6, 7)).astype(F32)
    want, got = layer(x), loaded(x)
    assert isinstance(got, tuple) == isinstance(want, tuple) == getattr(layer, "return_indices", False)
    for a, b in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
        np.testing.assert_array_equal(a, b)
    assert nn.LAYER_REGISTRY[type(layer).__name__] is type(layer)


def test_config_values():
    assert nn.AdaptiveAvgPool2d(7).get_config() == {"output_size": 7}
    assert nn.AdaptiveAvgPool2d((3, None)).get_config() == {"output_size": [3, None]}
    assert nn.AdaptiveMaxPool2d(2).get_config() == {"output_size": 2}
    assert nn.AdaptiveMaxPool2d(2, return_indices=True).get_config() == {"output_size": 2, "return_indices": True}
    assert nn.AdaptiveAvgPool2d(np.int64(3)).output_size == 3


# ---- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("output_size, error", [
    (0, ValueError), (-2, ValueError), ((3, 0), ValueError), ((None, -1), ValueError),
    (2.5, TypeError), ("3", TypeError), (True, TypeError), ((3, 2.0), TypeError), ((False, 2), TypeError),
    ((3,), ValueError), ((1, 2, 3), ValueError), ([], ValueError), (None, TypeError),
])
@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
def test_bad_output_size(cls, output_size, error):
    with pytest.raises(error, match=r"output_size.*Received: output_size=" + _escaped(output_size)):
        cls(output_size)


def _escaped(v):
    import re

    return re.escape(repr(v))


def test_bad_return_indices():
    with pytest.raises(TypeError, match="Received: return_indices='yes'"):
        nn.AdaptiveMaxPool2d(2, return_indices="yes")


@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
def test_bad_inputs(cls):
    layer = cls(2)
    with pytest.raises(ValueError, match=r"expects a 3-D or 4-D input, got shape \(4, 4\)"):
        layer(np.zeros((4, 4), F32))
    with pytest.raises(ValueError, match=r"got shape \(1, 1, 1, 4, 4\)"):
        layer(np.zeros((1, 1, 1, 4, 4), F32))
    with pytest.raises(TypeError, match="float32 or float64 input, got dtype int64"):
        layer(np.zeros((1, 1, 4, 4), np.int64))
    with pytest.raises(TypeError, match="expects a numpy.ndarray or cupy.ndarray, got list"):
        layer([[[0.0]]])
    with pytest.raises(ValueError, match=r"non-empty spatial dimensions .* got input shape \(1, 2, 0, 4\)"):
        layer(np.zeros((1, 2, 0, 4), F32))
    with pytest.raises(RuntimeError, match=f"{cls.__name__}.backward called before forward"):
        cls(2).backward(np.zeros((1, 1, 2, 2), F32))


@pytest.mark.parametrize("cls", [nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d])
@pytest.mark.parametrize("output_size", [2, 3])  # fast path and general path
def test_bad_dy(cls, output_size):
    layer = cls(output_size)
    layer(np.zeros((1, 2, 6, 6), F32))
    with pytest.raises(ValueError, match=rf"dy of shape \(1, 2, {output_size}, {output_size}\).*got \(1, 2, 4, 4\)"):
        layer.backward(np.zeros((1, 2, 4, 4), F32))
    with pytest.raises(TypeError, match="got dtype int32"):
        layer.backward(np.zeros((1, 2, output_size, output_size), np.int32))
    with pytest.raises(TypeError, match="got list"):
        layer.backward([0.0])
    layer(np.zeros((2, 6, 6), F32))  # unbatched: dy is 3-D too
    with pytest.raises(ValueError, match=rf"dy of shape \(2, {output_size}, {output_size}\)"):
        layer.backward(np.zeros((1, 2, output_size, output_size), F32))


# ---- the emulated GPU (tests/fake_cupy.py) and real CuPy where there is a device ----------------
GPU_CASES = [((2, 3, 8, 6), (4, 3)), ((2, 3, 8, 6), 1), ((2, 3, 7, 7), 3), ((1, 2, 3, 4), (7, 9)),
             ((3, 7, 5), (None, 2)), ((2, 2, 9, 6), (4, 5))]


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("shape, output_size", GPU_CASES, ids=[f"{s}->{o}" for s, o in GPU_CASES])
def test_on_the_gpu_like_on_the_cpu(xp, rng, kind, shape, output_size):
    x = rng.standard_normal(shape).astype(F32)
    if kind == "max":
        x[rng.random(shape) < 0.1] = np.nan
        x[rng.random(shape) < 0.1] = -np.inf
    dy = rng.standard_normal(_output_shape(shape, output_size)).astype(F32)
    y_cpu, idx_cpu, dx_cpu = _ours(kind, output_size, x, dy)
    emulated = hasattr(xp, "launches")
    if emulated:
        xp.launches.clear()
    y, idx, dx = _ours(kind, output_size, xp.asarray(x), xp.asarray(dy))
    assert isinstance(y, xp.ndarray) and isinstance(dx, xp.ndarray) and y.dtype == F32 and dx.dtype == F32
    oh, ow = _output_shape(shape, output_size)[-2:]
    divisible = shape[-2] % oh == 0 and shape[-1] % ow == 0
    if emulated:  # the divisible sizes run fastnn's CUDA pooling kernels, the others CuPy's array code
        assert any("pool2d" in name for name in xp.launches) == divisible, xp.launches
    if kind == "max":
        np.testing.assert_array_equal(y.get(), y_cpu)
        np.testing.assert_array_equal(idx.get(), idx_cpu)
        assert idx.dtype == np.int64
    else:
        np.testing.assert_allclose(y.get(), y_cpu, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(dx.get(), dx_cpu, rtol=2e-6, atol=1e-6)
