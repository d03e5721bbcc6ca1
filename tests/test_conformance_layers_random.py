"""Randomized conformance of fastnn's spatial layers against torch.nn (the oracle): forward and
backward (dx, dweight, dbias) of Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, the adaptive
pools, BatchNorm1d / 2d (train and eval, running statistics after several steps), Flatten and
GlobalAvgPool2d, in float64 (rtol 1e-9) and float32 (rtol 1e-4, atol scaled to the values),
over hypothesis-drawn configurations (derandomized: CI sees the same examples every run).
Invalid configurations must raise a ValueError / TypeError naming the bad value wherever
torch raises, never crash or return a wrong shape."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import nn

torch = pytest.importorskip("torch")
# torch's note that an even kernel with padding="same" copies the input (not a conformance matter)
# and that a zero-size weight (kernel_size 0, refused later) is not initialised
pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
              pytest.mark.filterwarnings("ignore:Initializing zero-element tensors:UserWarning")]

F32, F64 = np.float32, np.float64
DTYPES = st.sampled_from([F64, F32])
RTOL = {F64: 1e-9, F32: 1e-4}


def _settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _tt(a, grad=False):
    t = torch.from_numpy(np.ascontiguousarray(a).copy())
    return t.requires_grad_(True) if grad else t


def _close(got, want, dtype, what, scale=None):
    """got (fastnn) against want (torch, same dtype): shape and dtype exactly, values within
    RTOL[dtype] relative plus an absolute RTOL[dtype] * scale (default: the largest finite
    |want|), so that a value near 0 from cancellation is judged against the values summed."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, want {np.dtype(dtype)}"
    if scale is None:
        finite = np.abs(want[np.isfinite(want)])
        scale = float(finite.max()) if finite.size else 1.0
    rtol = RTOL[dtype]
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-3), equal_nan=True, err_msg=what)


def _to(module, dtype):
    return module.double() if dtype == F64 else module


def _torch_module(module, dtype):
    return module.double() if dtype == F64 else module.float()


def _copy_params(ours, theirs, rng, dtype):
    """Random weight / bias, the same in both layers."""
    with torch.no_grad():
        for name in ("weight", "bias"):
            p = getattr(ours, name, None)
            if p is None:
                continue
            v = rng.standard_normal(p.data.shape).astype(dtype)
            p.data[...] = v
            getattr(theirs, name).copy_(torch.from_numpy(v))


def _run_both(ours, theirs, x, rng, *, indices=False):
    """(ours: y, dx), (torch: y, dx), dy for the same x and a random dy (from rng) of y's shape.
    With indices, y is the (values, indices) pair of return_indices and dy is for the values."""
    y = ours(x)
    xt = _tt(x, grad=True)
    yt = theirs(xt)
    yv, ytv = (y[0], yt[0]) if indices else (y, yt)
    assert yv.shape == tuple(ytv.shape), f"forward shape {yv.shape}, torch {tuple(ytv.shape)}"
    dy = rng.standard_normal(yv.shape).astype(x.dtype)
    dx = ours.backward(dy)
    ytv.backward(_tt(dy))
    return (y, dx), (yt, xt.grad.numpy()), dy


# ---- Conv2d / ConvTranspose2d ------------------------------------------------------------

@st.composite
def conv_configs(draw, transpose=False):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 6 // groups))
    cout = groups * draw(st.integers(1, 6 // groups))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    kind = "int" if transpose else draw(st.sampled_from(["int", "int", "int", "same", "valid"]))
    if kind == "int":
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)))
    else:
        s, p = (1, 1), kind
    cfg = dict(cin=cin, cout=cout, k=k, s=s, p=p, d=d, groups=groups, bias=draw(st.booleans()),
               n=draw(st.sampled_from([0, 1, 3])), seed=draw(st.integers(0, 2**32 - 1)))
    if transpose:
        cfg["op"] = tuple(draw(st.integers(0, max(s[i], d[i]) - 1)) for i in range(2))
        # the output (H - 1) S - 2P + D (K - 1) + 1 + op must be >= 1 (torch refuses less)
        hw = []
        for i in range(2):
            low = 1
            while (low - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1 + cfg["op"][i] < 1:
                low += 1
            hw.append(low + draw(st.integers(0, 3)))
        cfg["hw"] = tuple(hw)
    else:
        # down to exactly the dilated kernel over the padded input (extra = 0)
        total = [0, 0] if p == "valid" else ([d[i] * (k[i] - 1) for i in range(2)] if p == "same" else
                                            [2 * p[i] for i in range(2)])
        cfg["hw"] = tuple(max(1, d[i] * (k[i] - 1) + 1 - total[i]) + draw(st.integers(0, 3)) for i in range(2))
    return cfg


def _conv_pair(cfg, dtype, transpose):
    if transpose:
        kw = dict(stride=cfg["s"], padding=cfg["p"], output_padding=cfg["op"], groups=cfg["groups"],
                  bias=cfg["bias"], dilation=cfg["d"])
        ours = nn.ConvTranspose2d(cfg["cin"], cfg["cout"], cfg["k"], **kw)
        theirs = torch.nn.ConvTranspose2d(cfg["cin"], cfg["cout"], cfg["k"], **kw)
    else:
        kw = dict(stride=cfg["s"], padding=cfg["p"], dilation=cfg["d"], groups=cfg["groups"], bias=cfg["bias"])
        ours = nn.Conv2d(cfg["cin"], cfg["cout"], cfg["k"], **kw)
        theirs = torch.nn.Conv2d(cfg["cin"], cfg["cout"], cfg["k"], **kw)
    return _to(ours, dtype), _torch_module(theirs, dtype)


def _check_conv(cfg, dtype, transpose):
    rng = np.random.default_rng(cfg["seed"])
    ours, theirs = _conv_pair(cfg, dtype, transpose)
    _copy_params(ours, theirs, rng, dtype)
    x = rng.standard_normal((cfg["n"], cfg["cin"]) + cfg["hw"]).astype(dtype)
    (y, dx), (yt, dxt), dy = _run_both(ours, theirs, x, rng)
    # the absolute tolerance: a bound on the sum of |terms| of one output / gradient entry (the
    # weights reaching one output channel, resp. one input channel, times the largest input)
    w_abs = np.abs(ours.weight.data)
    to_y, to_x = (w_abs.sum(axis=(0, 2, 3)), w_abs.sum(axis=(1, 2, 3))) if transpose else \
        (w_abs.sum(axis=(1, 2, 3)), w_abs.sum(axis=(0, 2, 3)))
    y_scale = np.abs(x).max(initial=1) * to_y.max() + (np.abs(ours.bias.data).max() if cfg["bias"] else 0)
    _close(y, yt.detach().numpy(), dtype, f"y {cfg}", scale=y_scale)
    _close(dx, dxt, dtype, f"dx {cfg}", scale=np.abs(dy).max(initial=1) * to_x.max())
    dw_scale = float(np.abs(x).sum() * np.abs(dy).max(initial=1)) or 1.0
    _close(ours.weight.grad, theirs.weight.grad.numpy(), dtype, f"dweight {cfg}", scale=dw_scale)
    if cfg["bias"]:
        _close(ours.bias.grad, theirs.bias.grad.numpy(), dtype, f"dbias {cfg}",
               scale=float(np.abs(dy).sum()) or 1.0)
    else:
        assert ours.bias is None and theirs.bias is None


@_settings(120)
@given(cfg=conv_configs(), dtype=DTYPES)
def test_conv2d_matches_torch(cfg, dtype):
    _check_conv(cfg, dtype, transpose=False)


@_settings(120)
@given(cfg=conv_configs(transpose=True), dtype=DTYPES)
def test_conv_transpose2d_matches_torch(cfg, dtype):
    _check_conv(cfg, dtype, transpose=True)


# ---- MaxPool2d / AvgPool2d ------------------------------------------------------------------

def _plane_values(draw, rng, shape, dtype, specials):
    """Normal values, or small integers (many ties), with -inf / +inf / NaN sprinkled in when
    specials."""
    kind = draw(st.sampled_from(["normal", "ties", "ties"]))
    x = rng.standard_normal(shape) if kind == "normal" else rng.integers(-1, 2, shape).astype(np.float64)
    if specials and x.size:
        for value in draw(st.lists(st.sampled_from([-np.inf, np.inf, np.nan]), max_size=3)):
            x.flat[rng.integers(x.size)] = value
        if draw(st.integers(0, 5)) == 0:  # a whole plane of -inf
            x[0, 0] = -np.inf
    return x.astype(dtype)


@st.composite
def pool_configs(draw, dilation):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    ceil = draw(st.booleans())
    # the (dilated) window fits the padded input, down to exactly; in ceil mode it may pass it
    # by less than the stride (one window: ceil((H + 2P - span) / S) + 1 = 1, PyTorch's)
    stride = k if s is None else s
    hw = tuple(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i] - (stride[i] - 1 if ceil else 0)) + draw(st.integers(0, 4))
               for i in range(2))
    return dict(k=k, s=s, p=p, d=d, hw=hw, ceil=ceil, n=draw(st.sampled_from([0, 1, 2])),
                c=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**32 - 1)))


def _empty_windows(cfg, out_hw):
    """(OH, OW) bool: the windows with no tap inside the input."""
    axes = []
    for i in range(2):
        s = cfg["k"][i] if cfg["s"] is None else cfg["s"][i]
        taps = np.arange(out_hw[i])[:, None] * s - cfg["p"][i] + np.arange(cfg["k"][i])[None, :] * cfg["d"][i]
        axes.append(~((taps >= 0) & (taps < cfg["hw"][i])).any(axis=1))
    return axes[0][:, None] | axes[1][None, :]


@_settings(150)
@given(cfg=pool_configs(dilation=True), data=st.data(), dtype=DTYPES)
def test_max_pool2d_matches_torch(cfg, data, dtype):
    """y, indices (ties: the first maximum; NaN wins; -inf windows) and dx, exactly."""
    rng = np.random.default_rng(cfg["seed"])
    x = _plane_values(data.draw, rng, (cfg["n"], cfg["c"]) + cfg["hw"], dtype, specials=True)
    ret = data.draw(st.booleans(), label="return_indices")
    kw = dict(stride=cfg["s"], padding=cfg["p"], dilation=cfg["d"], ceil_mode=cfg["ceil"])
    ours = nn.MaxPool2d(cfg["k"], return_indices=ret, **kw)
    theirs = torch.nn.MaxPool2d(cfg["k"], return_indices=True, **kw)
    y = ours(x)
    y, idx = y if ret else (y, None)
    xt = _tt(x, grad=True)
    yt, idxt = theirs(xt)
    assert y.shape == tuple(yt.shape) and y.dtype == dtype, (y.shape, tuple(yt.shape), cfg)
    np.testing.assert_array_equal(y, yt.detach().numpy(), err_msg=str(cfg))
    idxt = idxt.numpy()
    empty = _empty_windows(cfg, y.shape[2:])
    if ret:
        assert idx.dtype == np.int64 and idx.shape == y.shape
        np.testing.assert_array_equal(idx[..., ~empty], idxt[..., ~empty], err_msg=str(cfg))
        # a window whose taps all fall in the padding (the dilation steps over the input) has
        # no element: torch's value is -inf with an index past its first tap, outside the plane
        # or on an element the window does not hold; fastnn's index is -1, the "no element"
        # that torch's backward kernel skips (see the report in fastnn/ops/pool.py)
        assert np.all(y[..., empty] == -np.inf) and np.all(idx[..., empty] == -1), (idx, cfg)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(dy)
    # such windows get no gradient in fastnn (y does not depend on x there); torch's would go
    # wherever its index points, so its dy is zero there
    yt.backward(_tt(np.where(empty, 0, dy).astype(dtype)))
    _close(dx, xt.grad.numpy(), dtype, f"dx {cfg}")


@_settings(120)
@given(cfg=pool_configs(dilation=False), data=st.data(), dtype=DTYPES)
def test_avg_pool2d_matches_torch(cfg, data, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["n"], cfg["c"]) + cfg["hw"]).astype(dtype)
    kw = dict(stride=cfg["s"], padding=cfg["p"], ceil_mode=cfg["ceil"],
              count_include_pad=data.draw(st.booleans(), label="count_include_pad"),
              divisor_override=data.draw(st.one_of(st.none(), st.integers(1, 9), st.just(-3)), label="divisor"))
    ours, theirs = nn.AvgPool2d(cfg["k"], **kw), torch.nn.AvgPool2d(cfg["k"], **kw)
    (y, dx), (yt, dxt), _ = _run_both(ours, theirs, x, rng)
    _close(y, yt.detach().numpy(), dtype, f"y {cfg} {kw}")
    _close(dx, dxt, dtype, f"dx {cfg} {kw}")


# ---- AdaptiveAvgPool2d / AdaptiveMaxPool2d ---------------------------------------------------

@st.composite
def adaptive_configs(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    entry = lambda size: st.one_of(st.none(), st.integers(1, 2 * size + 1))  # noqa: E731
    size = draw(st.one_of(st.integers(1, 2 * min(h, w) + 1), st.tuples(entry(h), entry(w))))
    shape = draw(st.sampled_from([(2, 3), (1, 1), (0, 2), (3,)])) + (h, w)  # (3,): unbatched
    return dict(shape=shape, size=size, seed=draw(st.integers(0, 2**32 - 1)))


@_settings(100)
@given(cfg=adaptive_configs(), dtype=DTYPES)
def test_adaptive_avg_pool2d_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    (y, dx), (yt, dxt), _ = _run_both(nn.AdaptiveAvgPool2d(cfg["size"]), torch.nn.AdaptiveAvgPool2d(cfg["size"]),
                                      x, rng)
    _close(y, yt.detach().numpy(), dtype, f"y {cfg}")
    _close(dx, dxt, dtype, f"dx {cfg}")


@_settings(100)
@given(cfg=adaptive_configs(), data=st.data(), dtype=DTYPES)
def test_adaptive_max_pool2d_matches_torch(cfg, data, dtype):
    rng = np.random.default_rng(cfg["seed"])
    shape = cfg["shape"] if len(cfg["shape"]) == 4 else (1,) + cfg["shape"]
    x = _plane_values(data.draw, rng, shape, dtype, specials=True).reshape(cfg["shape"])
    (y, dx), (yt, dxt), _ = _run_both(nn.AdaptiveMaxPool2d(cfg["size"], return_indices=True),
                                      torch.nn.AdaptiveMaxPool2d(cfg["size"], return_indices=True), x, rng,
                                      indices=True)
    np.testing.assert_array_equal(y[0], yt[0].detach().numpy(), err_msg=str(cfg))
    assert y[0].dtype == dtype and y[1].dtype == np.int64
    np.testing.assert_array_equal(y[1], yt[1].numpy(), err_msg=str(cfg))
    _close(dx, dxt, dtype, f"dx {cfg}")


# ---- BatchNorm1d / BatchNorm2d --------------------------------------------------------------

@st.composite
def batch_norm_configs(draw):
    c = draw(st.integers(1, 5))
    rank = draw(st.sampled_from([2, 3, 4]))
    n = draw(st.integers(1, 4))
    rest = tuple(draw(st.integers(1, 4)) for _ in range(rank - 2))
    if n * int(np.prod(rest, dtype=np.int64)) == 1:
        n = 2  # training needs more than one value per channel (tested apart, in test_conformance_layers_containers)
    if draw(st.integers(0, 5)) == 0:  # an empty batch: N = 0, or an empty length / plane
        axis = draw(st.integers(0, rank - 2))
        n, rest = (0, rest) if axis == 0 else (n, rest[:axis - 1] + (0,) + rest[axis:])
    modes = draw(st.lists(st.booleans(), min_size=2, max_size=5))  # True: a training step
    return dict(c=c, shape=(n, c) + rest, modes=[True] + modes, eps=draw(st.sampled_from([1e-5, 1e-3, 0.1])),
                momentum=draw(st.one_of(st.none(), st.sampled_from([0.0, 1.0]), st.floats(0.01, 0.99))),
                affine=draw(st.booleans()), track=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


@_settings(80)
@given(cfg=batch_norm_configs(), dtype=DTYPES)
def test_batch_norm_matches_torch_over_steps(cfg, dtype):
    """A random sequence of train / eval steps (batch sizes varying): y, dx, dweight, dbias
    each step and the running statistics and num_batches_tracked after each."""
    rng = np.random.default_rng(cfg["seed"])
    name = "BatchNorm2d" if len(cfg["shape"]) == 4 else "BatchNorm1d"
    kw = dict(eps=cfg["eps"], momentum=cfg["momentum"], affine=cfg["affine"], track_running_stats=cfg["track"])
    ours = _to(getattr(nn, name)(cfg["c"], **kw), dtype)
    theirs = _torch_module(getattr(torch.nn, name)(cfg["c"], **kw), dtype)
    _copy_params(ours, theirs, rng, dtype)
    for step, training in enumerate(cfg["modes"]):
        ours.train(training)
        theirs.train(training)
        shape = cfg["shape"] if training or step % 2 else (1,) + cfg["shape"][1:]
        if not training and not cfg["track"] or 0 in cfg["shape"]:
            shape = cfg["shape"]  # batch statistics in eval too: one value per channel would raise
        x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
        ours.zero_grad()
        theirs.zero_grad()
        var_before = None if ours.running_var is None else ours.running_var.astype(F64)
        (y, dx), (yt, dxt), dy = _run_both(ours, theirs, x, rng)
        what = f"step {step} ({'train' if training else 'eval'}) {cfg}"
        _close(y, yt.detach().numpy(), dtype, f"y {what}")
        # dx's terms are dy * gamma / sqrt(var + eps) and cancel (to exactly 0 for two values
        # per channel without eps): the tolerance is on their size, not on dx's
        axes = (0,) + tuple(range(2, x.ndim))
        if x.size == 0:
            var = np.ones(cfg["c"])
        else:
            var = x.astype(F64).var(axis=axes) if training or not cfg["track"] else var_before
        gamma = np.abs(ours.weight.data).max(initial=1) if cfg["affine"] else 1.0
        dy_abs = np.abs(dy).max(initial=0) or 1.0
        _close(dx, dxt, dtype, f"dx {what}", scale=dy_abs * gamma / np.sqrt(np.min(var, initial=np.inf) + cfg["eps"]))
        if cfg["affine"]:
            dsum = float(np.abs(dy).sum(axis=axes).max(initial=0)) or 1.0  # a sum over N (and L, H, W)
            _close(ours.weight.grad, theirs.weight.grad.numpy(), dtype, f"dweight {what}", scale=dsum)
            _close(ours.bias.grad, theirs.bias.grad.numpy(), dtype, f"dbias {what}", scale=dsum)
        if cfg["track"]:
            _close(ours.running_mean, theirs.running_mean.numpy(), dtype, f"running_mean {what}")
            _close(ours.running_var, theirs.running_var.numpy(), dtype, f"running_var {what}")
            assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked), what
        else:
            assert ours.running_mean is None and theirs.running_mean is None


# ---- Flatten / GlobalAvgPool2d --------------------------------------------------------------

@_settings(100)
@given(shape=st.lists(st.integers(0, 3), max_size=5).map(tuple), start=st.integers(-6, 5), end=st.integers(-6, 5))
def test_flatten_matches_torch(shape, start, end):
    """Shape and values as torch.flatten (what nn.Flatten calls), an IndexError where torch's
    dims are out of range and an error where start_dim comes after end_dim."""
    x = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=F64).reshape(shape)
    layer = nn.Flatten(start, end)
    try:
        want = torch.flatten(_tt(x), start, end).numpy()
    except (IndexError, RuntimeError) as e:
        exc = IndexError if isinstance(e, IndexError) else ValueError
        with pytest.raises(exc, match=r"start_dim|end_dim"):
            layer(x)
        return
    y = layer(x)
    np.testing.assert_array_equal(y, want)
    assert y.shape == want.shape
    dy = np.arange(y.size, dtype=F64).reshape(y.shape) - 2
    np.testing.assert_array_equal(layer.backward(dy), dy.reshape(shape))


@_settings(60)
@given(shape=st.tuples(st.integers(0, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
       seed=st.integers(0, 2**32 - 1), dtype=DTYPES)
def test_global_avg_pool2d_matches_torch_adaptive_avg_pool_to_1(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    layer = nn.GlobalAvgPool2d()
    y = layer(x)
    xt = _tt(x, grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1).reshape(shape[:2])
    _close(y, yt.detach().numpy(), dtype, f"y {shape}")
    dy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(_tt(dy))
    _close(layer.backward(dy), xt.grad.numpy(), dtype, f"dx {shape}")


def test_max_pool2d_window_with_no_element():
    """H = W = 2, kernel 2, padding 1, dilation 3: the one window's taps are rows / columns -1
    and 2, none inside the input. torch: -inf with index 6 (row 2, column 2: outside the 2 x 2
    plane); fastnn: -inf with index -1 and no gradient (torch's backward kernel skips -1). With
    kernel (1, 2), padding (0, 1), dilation (1, 3) torch's index for row 0 is 2, the element
    (1, 0), which the window does not hold: its gradient lands there; fastnn's dx is 0."""
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    for k, p, d, torch_idx in [(2, 1, 3, [[6]]), ((1, 2), (0, 1), (1, 3), [[2], [4]])]:
        layer = nn.MaxPool2d(k, 1, p, d, return_indices=True)
        y, idx = layer(x)
        yt, idxt = torch.nn.functional.max_pool2d(_tt(x), k, 1, p, d, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        assert np.all(y == -np.inf) and idxt.numpy()[0, 0].tolist() == torch_idx
        assert np.all(idx == -1)
        np.testing.assert_array_equal(layer.backward(np.ones_like(y)), np.zeros_like(x))
        # the layer without indices, and a float32 input: the same
        layer = nn.MaxPool2d(k, 1, p, d)
        y32 = layer(x.astype(F32))
        assert y32.dtype == F32 and np.all(y32 == -np.inf)
        np.testing.assert_array_equal(layer.backward(np.ones_like(y32)), np.zeros((1, 1, 2, 2), F32))


# ---- invalid configurations: an error wherever torch raises --------------------------------

def _outcome(build, x):
    """("ok", output shape) or ("error", the exception) of build()(x)."""
    try:
        y = build()(x)
    except Exception as e:  # noqa: BLE001 - every kind is judged by the caller
        return "error", e
    y = y[0] if isinstance(y, tuple) else y
    return "ok", tuple(y.shape)


def _same_outcome(ours, theirs, shape, what):
    """fastnn raises a ValueError / TypeError where torch raises, and gives torch's output shape
    where torch succeeds (a 3-D (C, H, W) input included: one unbatched sample, as torch's)."""
    x = np.random.default_rng(0).standard_normal(shape)
    kind_t, got_t = _outcome(theirs, _tt(x))
    kind, got = _outcome(lambda: _to(ours(), F64), x)
    if kind == "error":
        assert isinstance(got, (ValueError, TypeError)), f"{what}: {type(got).__name__}: {got}"
        if kind_t == "ok" and len(shape) == 4 and shape[0] == 0:
            return  # torch skips its checks (dilation 0, kernel past the input) for an empty batch
    assert kind == kind_t, f"{what}: fastnn {kind} {got!r}, torch {kind_t} {got_t!r}"
    if kind == "ok":
        assert got == got_t, f"{what}: fastnn shape {got}, torch {got_t}"


@st.composite
def bad_conv_configs(draw):
    """Conv configurations with any of: a kernel past the padded input, stride <= 0, padding < 0,
    dilation 0, groups not dividing the channels, the wrong rank or channel count, H or W = 0."""
    cin, cout = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kw = dict(kernel_size=(draw(st.integers(0, 6)), draw(st.integers(1, 6))),
              stride=(draw(st.integers(-1, 3)), draw(st.integers(1, 3))),
              padding=draw(st.one_of(st.tuples(st.integers(-1, 3), st.integers(0, 3)),
                                     st.sampled_from(["same", "valid"]))),
              dilation=(draw(st.integers(0, 3)), draw(st.integers(1, 2))),
              groups=draw(st.integers(1, 4)))
    shape = (draw(st.integers(0, 2)), draw(st.sampled_from([cin, cin, cin + 1])),
             draw(st.integers(0, 6)), draw(st.integers(1, 6)))
    rank = draw(st.sampled_from([4, 4, 4, 2, 3, 5]))
    shape = shape[1:] if rank == 3 else shape[:2] if rank == 2 else (1,) + shape if rank == 5 else shape
    return cin, cout, kw, shape


@_settings(150)
@given(cfg=bad_conv_configs())
def test_conv2d_errors_as_torch(cfg):
    cin, cout, kw, shape = cfg
    _same_outcome(lambda: nn.Conv2d(cin, cout, **kw), lambda: torch.nn.Conv2d(cin, cout, **kw).double(),
                  shape, f"Conv2d({cin}, {cout}, {kw}) on {shape}")


@_settings(150)
@given(cfg=bad_conv_configs(), op=st.tuples(st.integers(0, 3), st.integers(0, 2)))
def test_conv_transpose2d_errors_as_torch(cfg, op):
    cin, cout, kw, shape = cfg
    if isinstance(kw["padding"], str):
        kw["padding"] = (0, 0)  # ConvTranspose2d takes no padding strings (torch neither)
    kw["output_padding"] = op
    x_hw = shape[-2:]
    out = [(x_hw[i] - 1) * kw["stride"][i] - 2 * kw["padding"][i] + kw["dilation"][i] * (kw["kernel_size"][i] - 1)
           + 1 + op[i] for i in range(2)]
    ours = lambda: nn.ConvTranspose2d(cin, cout, **kw)  # noqa: E731
    theirs = lambda: torch.nn.ConvTranspose2d(cin, cout, **kw).double()  # noqa: E731
    if min(out) == 0 and min(x_hw) >= 1 and len(shape) == 4:
        # an output size of 0: fastnn returns the empty result (by design: test_conv.py's
        # test_conv_transpose_empty_output_as_pytorch); torch raises "Output size is too small"
        # for most such configurations but returns the empty result for some (kernel 4,
        # padding 2, H = W = 1): torch is not consistent, so it is the oracle only where it
        # succeeds (a reported departure where it raises)
        x = np.zeros(shape)
        kind_t, got_t = _outcome(theirs, _tt(x))
        kind, got = _outcome(lambda: _to(ours(), F64), x)
        if kind == "ok":
            assert got == (shape[0], cout, *out) and (kind_t == "error" or got_t == got), (kw, shape, got, got_t)
        else:
            assert isinstance(got, (ValueError, TypeError)) and kind_t == "error", (kw, shape, got, got_t)
        return
    _same_outcome(ours, theirs, shape, f"ConvTranspose2d({cin}, {cout}, {kw}) on {shape}")


@_settings(150)
@given(k=st.tuples(st.integers(0, 5), st.integers(1, 5)),
       s=st.one_of(st.none(), st.tuples(st.integers(-1, 3), st.integers(1, 3))),
       p=st.tuples(st.integers(-1, 3), st.integers(0, 3)), d=st.tuples(st.integers(0, 3), st.integers(1, 2)),
       ceil=st.booleans(), which=st.sampled_from(["max", "avg"]),
       shape=st.sampled_from([(2, 3, 5, 4), (1, 2, 1, 1), (1, 1, 3, 7), (0, 2, 4, 4), (2, 4, 4), (4, 4),
                              (1, 1, 2, 4, 4), (1, 2, 0, 3)]))
def test_pool2d_errors_as_torch(k, s, p, d, ceil, which, shape):
    """Padding past half the kernel, a kernel past the padded input, stride <= 0, kernel 0,
    dilation 0, the wrong rank, an empty plane."""
    if which == "max":
        kw = dict(stride=s, padding=p, dilation=d, ceil_mode=ceil)
        ours, theirs = (lambda: nn.MaxPool2d(k, **kw)), (lambda: torch.nn.MaxPool2d(k, **kw))
    else:
        kw = dict(stride=s, padding=p, ceil_mode=ceil)
        ours, theirs = (lambda: nn.AvgPool2d(k, **kw)), (lambda: torch.nn.AvgPool2d(k, **kw))
    _same_outcome(ours, theirs, shape, f"{which} pool {k} {kw} on {shape}")


@pytest.mark.parametrize("ours, theirs, shape, exc, message", [
    # kernel larger than the padded input
    (lambda: nn.Conv2d(2, 3, 5, padding=1), lambda: torch.nn.Conv2d(2, 3, 5, padding=1), (1, 2, 2, 2),
     ValueError, r"kernel_size 5 is larger than the padded input: size 2 \+ 2 \* padding 1 = 4"),
    (lambda: nn.Conv2d(2, 3, 3, dilation=3), lambda: torch.nn.Conv2d(2, 3, 3, dilation=3), (1, 2, 6, 6),
     ValueError, "kernel_size 7 is larger than the padded input"),
    (lambda: nn.MaxPool2d(7), lambda: torch.nn.MaxPool2d(7), (1, 2, 6, 6),
     ValueError, "kernel_size 7 is larger than the padded input"),
    (lambda: nn.MaxPool2d(3, dilation=3), lambda: torch.nn.MaxPool2d(3, dilation=3), (1, 2, 6, 6),
     ValueError, "max pooling output would be empty: size 6, kernel_size 3, stride 3, padding 0, dilation 3"),
    (lambda: nn.AvgPool2d(4, padding=1), lambda: torch.nn.AvgPool2d(4, padding=1), (1, 2, 1, 1),
     ValueError, "kernel_size 4 is larger than the padded input: size 1"),
    # padding past half the kernel (pools)
    (lambda: nn.MaxPool2d(3, padding=2), lambda: torch.nn.MaxPool2d(3, padding=2), (1, 2, 6, 6),
     ValueError, r"padding must be at most half the kernel size \(3, 3\). Received: padding=2"),
    (lambda: nn.AvgPool2d((2, 4), padding=(0, 3)), lambda: torch.nn.AvgPool2d((2, 4), padding=(0, 3)), (1, 2, 6, 6),
     ValueError, r"Received: padding=\(0, 3\)"),
    # negative / zero stride
    (lambda: nn.Conv2d(2, 3, 3, stride=-1), lambda: torch.nn.Conv2d(2, 3, 3, stride=-1), (1, 2, 6, 6),
     ValueError, "Received: stride=-1"),
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=(1, -2)), lambda: torch.nn.ConvTranspose2d(2, 3, 3, stride=(1, -2)),
     (1, 2, 4, 4), ValueError, "Received: stride=-2"),
    (lambda: nn.MaxPool2d(2, stride=-1), lambda: torch.nn.MaxPool2d(2, stride=-1), (1, 2, 6, 6),
     ValueError, "Received: stride=-1"),
    (lambda: nn.AvgPool2d(2, stride=0), lambda: torch.nn.AvgPool2d(2, stride=0), (1, 2, 6, 6),
     ValueError, "Received: stride=0"),
    # groups not dividing the channels
    (lambda: nn.Conv2d(4, 3, 3, groups=2), lambda: torch.nn.Conv2d(4, 3, 3, groups=2), (1, 4, 6, 6),
     ValueError, "Received: out_channels=3, groups=2"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), lambda: torch.nn.Conv2d(3, 4, 3, groups=2), (1, 3, 6, 6),
     ValueError, "Received: in_channels=3, groups=2"),
    (lambda: nn.ConvTranspose2d(3, 6, 3, groups=2), lambda: torch.nn.ConvTranspose2d(3, 6, 3, groups=2),
     (1, 3, 6, 6), ValueError, "Received: in_channels=3, groups=2"),
    (lambda: nn.Conv2d(3, 3, 3, groups=0), lambda: torch.nn.Conv2d(3, 3, 3, groups=0), (1, 3, 6, 6),
     ValueError, "Received: groups=0"),
    # output_padding not below stride or dilation
    (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2),
     lambda: torch.nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2), (1, 2, 4, 4),
     ValueError, "Received: output_padding=2"),
    # wrong input rank
    (lambda: nn.Conv2d(2, 3, 3), lambda: torch.nn.Conv2d(2, 3, 3), (2, 6), ValueError,
     r"Conv2d expects a 3-D or 4-D input, got shape \(2, 6\)"),
    (lambda: nn.ConvTranspose2d(2, 3, 3), lambda: torch.nn.ConvTranspose2d(2, 3, 3), (1, 1, 2, 4, 4), ValueError,
     r"ConvTranspose2d expects a 3-D or 4-D input, got shape \(1, 1, 2, 4, 4\)"),
    (lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), (1, 1, 2, 6, 6), ValueError,
     r"MaxPool2d expects a 3-D or 4-D input, got shape \(1, 1, 2, 6, 6\)"),
    (lambda: nn.AdaptiveAvgPool2d(2), lambda: torch.nn.AdaptiveAvgPool2d(2), (6, 6), ValueError,
     r"expects a 3-D or 4-D input, got shape \(6, 6\)"),
    (lambda: nn.AdaptiveMaxPool2d(2), lambda: torch.nn.AdaptiveMaxPool2d(2), (1, 1, 1, 6, 6), ValueError,
     r"expects a 3-D or 4-D input, got shape \(1, 1, 1, 6, 6\)"),
    (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (2, 3, 4, 4), ValueError,
     r"BatchNorm1d expects a 2-D or 3-D input, got shape \(2, 3, 4, 4\)"),
    (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (2, 3, 4), ValueError,
     r"BatchNorm2d expects a 4-D input, got shape \(2, 3, 4\)"),
    # wrong channel count
    (lambda: nn.Conv2d(2, 3, 3), lambda: torch.nn.Conv2d(2, 3, 3), (1, 4, 6, 6), ValueError,
     r"Conv2d expects 2 features along axis 1, got input shape \(1, 4, 6, 6\)"),
    (lambda: nn.Conv2d(4, 4, 3, groups=2), lambda: torch.nn.Conv2d(4, 4, 3, groups=2), (1, 2, 6, 6), ValueError,
     r"Conv2d expects 4 features along axis 1, got input shape \(1, 2, 6, 6\)"),
    (lambda: nn.ConvTranspose2d(2, 3, 3), lambda: torch.nn.ConvTranspose2d(2, 3, 3), (1, 3, 4, 4), ValueError,
     r"expects 2 features along axis 1, got input shape \(1, 3, 4, 4\)"),
    (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (2, 4, 4, 4), ValueError,
     r"BatchNorm2d expects 3 features along axis 1, got input shape \(2, 4, 4, 4\)"),
    # empty planes, padding strings
    (lambda: nn.Conv2d(2, 3, 1), lambda: torch.nn.Conv2d(2, 3, 1), (1, 2, 0, 6), ValueError,
     "kernel_size 1 is larger than the padded input: size 0"),
    (lambda: nn.MaxPool2d(1), lambda: torch.nn.MaxPool2d(1), (1, 2, 0, 6), ValueError, "non-empty spatial"),
    (lambda: nn.AdaptiveAvgPool2d(2), lambda: torch.nn.AdaptiveAvgPool2d(2), (1, 1, 0, 6), ValueError,
     "non-empty spatial"),
    (lambda: nn.Conv2d(2, 3, 3, stride=2, padding="same"), lambda: torch.nn.Conv2d(2, 3, 3, stride=2, padding="same"),
     (1, 2, 6, 6), ValueError, "Received: stride=2"),
    (lambda: nn.Conv2d(2, 3, 3, padding="full"), lambda: torch.nn.Conv2d(2, 3, 3, padding="full"), (1, 2, 6, 6),
     ValueError, "Received: padding='full'"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), lambda: torch.nn.AvgPool2d(2, divisor_override=0), (1, 2, 6, 6),
     ValueError, "Received: divisor_override=0"),
])
def test_invalid_configuration_raises_naming_the_value(ours, theirs, shape, exc, message):
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.raises((RuntimeError, ValueError, TypeError, IndexError)):
        theirs().double()(_tt(x))
    with pytest.raises(exc, match=message):
        _to(ours(), F64)(x)


def test_sequential_relu_max_pool_window_with_no_element():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, 1, 1, dilation=3))
    want = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(2, 1, 1, dilation=3))(_tt(x)).numpy()
    y = model(x)
    np.testing.assert_array_equal(y, want)  # -inf: the pair is not fused for a dilated pool
    np.testing.assert_array_equal(model.backward(np.ones_like(y)), np.zeros_like(x))
