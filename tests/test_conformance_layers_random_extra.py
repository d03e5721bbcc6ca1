"""Randomized conformance of fastnn's newer layers and losses against torch.nn (the oracle), in
the style of tests/test_conformance_layers_random.py: hypothesis-drawn shapes and
hyper-parameters (derandomized: CI sees the same examples every run), forward output and the
gradients of the input and of every parameter, float32 and float64. Covered: Conv1d (batch 0 / 1,
kernel spanning the whole padded input, strides 1-3, padding up to kernel - 1, 'same' / 'valid',
dilation, groups, every padding mode), ConvTranspose1d (stride, padding, output_padding,
dilation, groups), MaxPool1d / AvgPool1d (ceil_mode, count_include_pad), the reflection /
replication / circular / constant / zero pads in 1-D and 2-D (negative amounts too), LayerNorm,
GroupNorm, InstanceNorm2d, PixelShuffle / PixelUnshuffle, Upsample (nearest, size and
scale_factor), PReLU, MultiMarginLoss, TripletMarginLoss and PoissonNLLLoss.

The generators also draw configurations just past what torch accepts (an input shorter than the
kernel, padding past the input for reflect, output_padding = max(stride, dilation), channels not
divisible by groups or by the shuffle factor, ...): wherever torch raises, fastnn must raise a
ValueError or TypeError, never crash or return an array.

Tolerances (as tests/test_conformance_layers1d.py and tests/test_conformance_nn_extra.py: torch
runs in float64 on the same float32-representable values, the truth; parameters in [-1.5, 1.5]):
- convolutions: tests/tolerances.py's "conv" (y) and "conv_backward" (dx, dw, db); fan_in is kept
  <= 12 and the lengths small, the sums those tolerances were set for.
- max pooling, the pads', shuffles' and Upsample's forwards copy values: exact; the max pool's
  and the shuffles' backwards too (a scatter without sums of overlapping windows is a copy; the
  overlapping max-pool windows with stride < kernel add at most K values, so "computed").
- avg pooling: "avg_pool".
- "computed" (rtol 1e-6, atol 1e-6 float32; 1e-12 float64): the pads' and Upsample's gradient
  sums, the normalisations, PReLU.
- losses: tests/tolerances.py's "loss" (accumulated in double, rounded once).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastnn import nn
from tolerances import tol

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning"),
              pytest.mark.filterwarnings("ignore:Initializing zero-element tensors:UserWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

F32, F64 = np.float32, np.float64
DTYPES = st.sampled_from([F64, F32])
EXACT = {F32: dict(rtol=0, atol=0), F64: dict(rtol=0, atol=0)}
COMPUTED = {F32: dict(rtol=1e-6, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-12)}
CONV = {d: tol("conv", d) for d in (F32, F64)}
CONV_BACKWARD = {d: tol("conv_backward", d) for d in (F32, F64)}
AVG = {d: tol("avg_pool", d) for d in (F32, F64)}
LOSS = {d: tol("loss", d) for d in (F32, F64)}
# what torch raises for a configuration it refuses
TORCH_ERRORS = (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError)


def _settings(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _torch_run(make, x, dy_rng):
    """torch's module (float64), y, dx, the dy used; or the exception torch raised."""
    try:
        ref = make(torch.nn).double()
        tx = torch.tensor(x.astype(np.float64), requires_grad=True)
        ty = ref(tx)
    except TORCH_ERRORS as e:
        return e
    return ref, tx, ty


def _check_layer(make, x, rng, fwd, bwd, what, copy_params=True):
    """make(torch.nn) and make(nn) built the same way, run on x: when torch raises, fastnn must
    raise ValueError / TypeError (constructing or calling); otherwise y, dx and every
    parameter's gradient against torch's within the tolerances."""
    dtype = x.dtype.type
    got = _torch_run(make, x, rng)
    if isinstance(got, Exception):
        with pytest.raises((ValueError, TypeError)):
            layer = make(nn).to(dtype)
            layer(x)
        return
    ref, tx, ty = got
    layer = make(nn).to(dtype)
    if copy_params:
        for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
            assert name == tname, what
            values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
            p.data[...] = values
            with torch.no_grad():
                tp.copy_(torch.tensor(values.astype(np.float64)))
        ty = ref(tx)
    y = layer(x)
    tyn = ty.detach().numpy()
    assert isinstance(y, np.ndarray) and y.dtype == dtype, what
    assert y.shape == tyn.shape, f"{what}: y shape {y.shape}, torch {tyn.shape}"
    np.testing.assert_allclose(y, tyn.astype(dtype) if fwd is EXACT else tyn, **fwd[dtype], err_msg=f"y {what}")
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    assert dx.dtype == dtype and dx.shape == x.shape, what
    tdx = tx.grad.numpy()
    np.testing.assert_allclose(dx, tdx.astype(dtype) if bwd is EXACT else tdx, **bwd[dtype], err_msg=f"dx {what}")
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams), what
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype, what
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **bwd[dtype], err_msg=f"d{name} {what}")


# ---- Conv1d / ConvTranspose1d -----------------------------------------------------------------

@st.composite
def conv1d_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 6))
    d = draw(st.integers(1, 3))
    s = draw(st.sampled_from([1, 1, 2, 3]))
    kind = draw(st.sampled_from(["int", "int", "int", "same", "valid"]))
    p = draw(st.integers(0, k - 1)) if kind == "int" else kind
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    total = 0 if kind == "valid" else (d * (k - 1) if kind == "same" else 2 * p)
    # from one short of the dilated kernel over the padded input (torch refuses it) up
    length = max(1, d * (k - 1) + 1 - total + draw(st.integers(-1, 3)))
    return dict(cin=cin, cout=cout, k=k, s=s, p=p, d=d, groups=groups, mode=mode, bias=draw(st.booleans()),
                shape=draw(st.sampled_from([(0,), (1,), (2,), ()])) + (cin, length),
                seed=draw(st.integers(0, 2**32 - 1)))


@_settings(60)
@given(cfg=conv1d_configs(), dtype=DTYPES)
def test_conv1d_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)

    def make(m):
        return m.Conv1d(cfg["cin"], cfg["cout"], cfg["k"], stride=cfg["s"], padding=cfg["p"], dilation=cfg["d"],
                        groups=cfg["groups"], bias=cfg["bias"], padding_mode=cfg["mode"])
    _check_layer(make, x, rng, CONV, CONV_BACKWARD, str(cfg))


@st.composite
def conv_transpose1d_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 2))
    k = draw(st.integers(1, 5))
    d = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k))
    # output_padding up to max(stride, dilation): the last value is refused by torch
    op = draw(st.integers(0, max(s, d)))
    length = draw(st.integers(1, 6))
    return dict(cin=cin, cout=cout, k=k, s=s, p=p, d=d, op=op, groups=groups, bias=draw(st.booleans()),
                shape=draw(st.sampled_from([(0,), (1,), (2,), ()])) + (cin, length),
                seed=draw(st.integers(0, 2**32 - 1)))


@_settings(60)
@given(cfg=conv_transpose1d_configs(), dtype=DTYPES)
def test_conv_transpose1d_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)

    def make(m):
        return m.ConvTranspose1d(cfg["cin"], cfg["cout"], cfg["k"], stride=cfg["s"], padding=cfg["p"],
                                 output_padding=cfg["op"], groups=cfg["groups"], bias=cfg["bias"], dilation=cfg["d"])
    if cfg["op"] >= max(cfg["s"], cfg["d"]):
        # torch refuses it for every non-empty input (its empty-batch shortcut skips the check);
        # fastnn refuses the configuration itself
        with pytest.raises(ValueError):
            make(nn)
        return
    _check_layer(make, x, rng, CONV, CONV_BACKWARD, str(cfg))


# ---- MaxPool1d / AvgPool1d ----------------------------------------------------------------------

@st.composite
def pool1d_configs(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.one_of(st.none(), st.integers(1, 3)))
    # padding up to k // 2, and one past it now and then (torch refuses it)
    p = draw(st.integers(0, k // 2 + (1 if draw(st.integers(0, 7)) == 0 else 0)))
    ceil = draw(st.booleans())
    length = max(1, k - 2 * p + draw(st.integers(-1, 4)))
    return dict(k=k, s=s, p=p, ceil=ceil, shape=draw(st.sampled_from([(0, 2), (1, 1), (2, 3), (3,)])) + (length,),
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


def _pool_input(cfg, rng, dtype):
    if cfg["ties"]:  # small integers: many ties, the first maximum wins (as torch's)
        return rng.integers(-1, 2, cfg["shape"]).astype(dtype)
    return rng.standard_normal(cfg["shape"]).astype(dtype)


@_settings(60)
@given(cfg=pool1d_configs(), dtype=DTYPES)
def test_max_pool1d_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = _pool_input(cfg, rng, dtype)
    overlap = cfg["s"] is not None and cfg["s"] < cfg["k"]
    _check_layer(lambda m: m.MaxPool1d(cfg["k"], cfg["s"], cfg["p"], ceil_mode=cfg["ceil"]), x, rng,
                 EXACT, COMPUTED if overlap else EXACT, str(cfg))


@_settings(60)
@given(cfg=pool1d_configs(), count_include_pad=st.booleans(), dtype=DTYPES)
def test_avg_pool1d_matches_torch(cfg, count_include_pad, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = _pool_input(cfg, rng, dtype)
    _check_layer(lambda m: m.AvgPool1d(cfg["k"], cfg["s"], cfg["p"], ceil_mode=cfg["ceil"],
                                       count_include_pad=count_include_pad), x, rng, AVG, AVG,
                 f"{cfg} count_include_pad={count_include_pad}")


# ---- pads -----------------------------------------------------------------------------------------

PADS_1D = ["ReflectionPad1d", "ReplicationPad1d", "CircularPad1d", "ConstantPad1d", "ZeroPad1d"]
PADS_2D = ["ReflectionPad2d", "ReplicationPad2d", "CircularPad2d", "ConstantPad2d", "ZeroPad2d"]


@st.composite
def pad_configs(draw):
    name = draw(st.sampled_from(PADS_1D + PADS_2D))
    axes = 2 if name.endswith("2d") else 1
    amount = st.integers(-3, 4)
    padding = draw(st.one_of(amount, st.tuples(*[amount] * (2 * axes))))
    lead = draw(st.sampled_from([(2, 1), (1, 3), (0, 2), (2,)]))  # (2,): unbatched
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(axes))
    value = draw(st.sampled_from([0.0, -0.75, 2.5]))
    return dict(name=name, padding=padding, shape=lead + spatial, value=value, seed=draw(st.integers(0, 2**32 - 1)))


@_settings(100)
@given(cfg=pad_configs(), dtype=DTYPES)
def test_pads_match_torch(cfg, dtype):
    pads = cfg["padding"] if isinstance(cfg["padding"], tuple) else (cfg["padding"],) * (2 * (len(cfg["shape"]) - 2))
    axes = len(pads) // 2
    sizes = cfg["shape"][::-1][:axes]
    # an axis cropped to exactly nothing: torch returns an empty axis for some pads and amounts
    # and raises for others (ZeroPad1d((-2, -2)) on 4 elements: empty; ((1, -2)) on 1: an error);
    # fastnn always raises. Not compared.
    assume(all(n + pads[2 * i] + pads[2 * i + 1] != 0 for i, n in enumerate(sizes)))
    # a circular pad whose crops leave nothing to wrap: torch still returns values (from outside
    # the cropped range); fastnn raises. Not compared.
    if cfg["name"].startswith("Circular"):
        assume(all(n - max(-pads[2 * i], 0) - max(-pads[2 * i + 1], 0) > 0 for i, n in enumerate(sizes)))
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)

    def make(m):
        cls = getattr(m, cfg["name"])
        return cls(cfg["padding"], cfg["value"]) if cfg["name"].startswith("Constant") else cls(cfg["padding"])
    _check_layer(make, x, rng, EXACT, COMPUTED, str(cfg))


# ---- LayerNorm / GroupNorm / InstanceNorm2d --------------------------------------------------------

@st.composite
def layer_norm_configs(draw):
    normalized = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=2)))
    lead = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=2)))
    # now and then an input whose trailing axes are not normalized_shape (torch refuses it)
    if draw(st.integers(0, 7)) == 0:
        shape = lead + tuple(n + 1 for n in normalized)
    else:
        shape = lead + normalized
    return dict(normalized=normalized if len(normalized) > 1 or draw(st.booleans()) else normalized[0],
                shape=shape, eps=draw(st.sampled_from([1e-5, 1e-3, 0.1])), affine=draw(st.booleans()),
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


@_settings(60)
@given(cfg=layer_norm_configs(), dtype=DTYPES)
def test_layer_norm_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    _check_layer(lambda m: m.LayerNorm(cfg["normalized"], eps=cfg["eps"], elementwise_affine=cfg["affine"],
                                       bias=cfg["bias"]), x, rng, COMPUTED, COMPUTED, str(cfg))


@st.composite
def group_norm_configs(draw):
    groups = draw(st.integers(1, 4))
    channels = groups * draw(st.integers(1, 3)) + (1 if draw(st.integers(0, 9)) == 0 else 0)
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    return dict(groups=groups, channels=channels, shape=(draw(st.integers(1, 3)), channels) + spatial,
                eps=draw(st.sampled_from([1e-5, 1e-2])), affine=draw(st.booleans()), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


@_settings(60)
@given(cfg=group_norm_configs(), dtype=DTYPES)
def test_group_norm_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    _check_layer(lambda m: m.GroupNorm(cfg["groups"], cfg["channels"], eps=cfg["eps"], affine=cfg["affine"],
                                       bias=cfg["bias"]), x, rng, COMPUTED, COMPUTED, str(cfg))


@st.composite
def instance_norm_configs(draw):
    c = draw(st.integers(1, 4))
    lead = draw(st.sampled_from([(1,), (2,), (3,), ()]))
    return dict(c=c, shape=lead + (c, draw(st.integers(1, 4)), draw(st.integers(1, 4))),
                affine=draw(st.booleans()), track=draw(st.booleans()), eps=draw(st.sampled_from([1e-5, 1e-2])),
                seed=draw(st.integers(0, 2**32 - 1)))


@_settings(50)
@given(cfg=instance_norm_configs(), dtype=DTYPES)
def test_instance_norm2d_matches_torch(cfg, dtype):
    """Training mode (the statistics of each instance; torch refuses a single spatial element)."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    _check_layer(lambda m: m.InstanceNorm2d(cfg["c"], eps=cfg["eps"], affine=cfg["affine"],
                                            track_running_stats=cfg["track"]), x, rng, COMPUTED, COMPUTED, str(cfg))


# ---- PixelShuffle / PixelUnshuffle / Upsample / PReLU ------------------------------------------------

@st.composite
def shuffle_configs(draw):
    r = draw(st.integers(1, 3))
    unshuffle = draw(st.booleans())
    # no empty batch: torch's PixelUnshuffle returns an empty input unchanged, (0, 1, 2, 2) for 2
    lead = draw(st.sampled_from([(2,), (1,), (), (2, 1)]))
    if unshuffle:
        c, h, w = draw(st.integers(1, 3)), r * draw(st.integers(1, 3)), r * draw(st.integers(1, 3))
        if draw(st.integers(0, 7)) == 0:
            w += 1  # not divisible (refused by torch when r > 1)
    else:
        c, h, w = r * r * draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        if draw(st.integers(0, 7)) == 0:
            c += 1
    return dict(r=r, unshuffle=unshuffle, shape=lead + (c, h, w), seed=draw(st.integers(0, 2**32 - 1)))


@_settings(50)
@given(cfg=shuffle_configs(), dtype=DTYPES)
def test_pixel_shuffle_and_unshuffle_match_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    name = "PixelUnshuffle" if cfg["unshuffle"] else "PixelShuffle"
    _check_layer(lambda m: getattr(m, name)(cfg["r"]), x, rng, EXACT, EXACT, f"{name} {cfg}")


@st.composite
def upsample_configs(draw):
    spatial = draw(st.integers(1, 3))
    shape = (draw(st.integers(0, 2)), draw(st.integers(1, 2))) + tuple(draw(st.integers(1, 6)) for _ in range(spatial))
    if draw(st.booleans()):
        size = draw(st.one_of(st.integers(1, 9), st.tuples(*[st.integers(1, 9)] * spatial)))
        kw = dict(size=size)
    else:
        factor = st.sampled_from([0.5, 0.6, 1.0, 1.5, 1.7, 2.0, 2.1, 3.0, 1 / 3, 2.5])
        kw = dict(scale_factor=draw(st.one_of(factor, st.tuples(*[factor] * spatial))))
    return dict(shape=shape, kw=kw, seed=draw(st.integers(0, 2**32 - 1)))


@_settings(60)
@given(cfg=upsample_configs(), dtype=DTYPES)
def test_upsample_nearest_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    spatial = x.ndim - 2
    factors = cfg["kw"].get("scale_factor")
    factors = factors if isinstance(factors, tuple) else (factors,) * spatial
    if spatial != 2 and factors[0] is not None and any(
            int(np.floor(n * f)) in (n, 2 * n) and f not in (1.0, 2.0) for n, f in zip(x.shape[2:], factors)):
        # torch's 1-D / 3-D forward reads floor(o / scale_factor) there but its backward takes the
        # "out == in" / "out == 2 in" shortcuts (scale_factor=2.1 on 2 elements: forward reads
        # 0, 0, 0, 1, backward sends dy to 0, 0, 1, 1): the forward against torch, dx against
        # the adjoint of that forward, <y, dy> = <x, dx>
        layer = nn.Upsample(mode="nearest", **cfg["kw"]).to(dtype)
        y = layer(x)
        want = torch.nn.Upsample(mode="nearest", **cfg["kw"])(torch.tensor(x)).numpy()
        np.testing.assert_array_equal(y, want, err_msg=str(cfg))
        dy = rng.standard_normal(y.shape).astype(dtype)
        dx = layer.backward(dy)
        np.testing.assert_allclose(np.vdot(x.astype(F64), dx.astype(F64)), np.vdot(y.astype(F64), dy.astype(F64)),
                                   **COMPUTED[dtype], err_msg=str(cfg))
        return
    _check_layer(lambda m: m.Upsample(mode="nearest", **cfg["kw"]), x, rng, EXACT, COMPUTED, str(cfg))


@st.composite
def prelu_configs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    channels = shape[1] if len(shape) > 1 else shape[0]
    num = draw(st.sampled_from([1, channels, channels + 1]))  # channels + 1: refused by torch
    return dict(shape=shape, num=num, init=draw(st.sampled_from([0.25, -0.5, 0.0])),
                seed=draw(st.integers(0, 2**32 - 1)))


@_settings(50)
@given(cfg=prelu_configs(), dtype=DTYPES)
def test_prelu_matches_torch(cfg, dtype):
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(cfg["shape"]).astype(dtype)
    _check_layer(lambda m: m.PReLU(cfg["num"], cfg["init"]), x, rng, COMPUTED, COMPUTED, str(cfg))


# ---- losses -----------------------------------------------------------------------------------------

def _check_loss(ours_make, theirs_make, inputs, others, reduction, dtype, what):
    """Value and the gradients of the differentiable inputs against torch autograd (float64)."""
    tin = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in inputs]
    tot = [torch.tensor(o.astype(np.float64)) if o.dtype.kind == "f" else torch.tensor(o) for o in others]
    try:
        theirs = theirs_make()
        out = theirs(*tin, *tot)
    except TORCH_ERRORS:
        with pytest.raises((ValueError, TypeError)):
            ours_make()(*inputs, *others)
        return
    ours = ours_make()
    value = ours(*inputs, *others)
    if reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == tuple(out.shape), what
        dy = np.random.default_rng(0).standard_normal(value.shape).astype(dtype)
        grads = ours.backward(dy)
        out.backward(torch.tensor(dy.astype(np.float64)))
        want = out.detach().numpy()
    else:
        assert isinstance(value, float), what
        grads = ours.backward()
        out.backward()
        want = float(out)
    np.testing.assert_allclose(value, want, **LOSS[dtype], err_msg=f"value {what}")
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs), what
    for i, (g, x, tx) in enumerate(zip(grads, inputs, tin)):
        assert isinstance(g, np.ndarray) and g.dtype == dtype and g.shape == x.shape, what
        np.testing.assert_allclose(g, tx.grad.numpy(), **LOSS[dtype], err_msg=f"grad {i} {what}")


REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@_settings(50)
@given(n=st.integers(0, 4), c=st.integers(1, 5), unbatched=st.booleans(), p=st.sampled_from([1, 2]),
       margin=st.sampled_from([0.0, 0.5, 1.0, 2.0]), weighted=st.booleans(), reduction=REDUCTIONS,
       bad_target=st.integers(0, 7), seed=st.integers(0, 2**32 - 1), dtype=DTYPES)
def test_multi_margin_loss_matches_torch(n, c, unbatched, p, margin, weighted, reduction, bad_target, seed, dtype):
    if n == 0 and not unbatched and reduction == "mean":
        n = 1  # torch's mean over no samples is 0 here, fastnn's NaN (as its other losses): not compared
    rng = np.random.default_rng(seed)
    shape = (c,) if unbatched else (n, c)
    x = rng.standard_normal(shape).astype(dtype)
    target = rng.integers(0, c, () if unbatched else (n,)).astype(np.int64)
    if bad_target == 0 and target.size:
        target.flat[0] = c  # out of range: refused by torch
    weight = rng.uniform(0.1, 2.0, c).astype(dtype) if weighted else None
    kw = dict(p=p, margin=margin, reduction=reduction)
    _check_loss(lambda: nn.MultiMarginLoss(weight=weight, **kw),
                lambda: torch.nn.MultiMarginLoss(weight=None if weight is None else torch.tensor(weight.astype(F64)),
                                                 **kw),
                [x], [target], reduction, dtype, f"{shape} {kw} weighted={weighted}")


@_settings(50)
@given(n=st.integers(0, 4), d=st.integers(1, 6), unbatched=st.booleans(),
       p=st.sampled_from([1.0, 2.0, 3.0, 1.5]), margin=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
       eps=st.sampled_from([1e-6, 0.0, 0.1]), swap=st.booleans(), reduction=REDUCTIONS,
       seed=st.integers(0, 2**32 - 1), dtype=DTYPES)
def test_triplet_margin_loss_matches_torch(n, d, unbatched, p, margin, eps, swap, reduction, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = (d,) if unbatched else (n, d)
    a, pos, neg = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    kw = dict(margin=margin, p=p, eps=eps, swap=swap, reduction=reduction)
    _check_loss(lambda: nn.TripletMarginLoss(**kw), lambda: torch.nn.TripletMarginLoss(**kw),
                [a, pos, neg], [], reduction, dtype, f"{shape} {kw}")


@_settings(50)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple), log_input=st.booleans(),
       full=st.booleans(), eps=st.sampled_from([1e-8, 1e-3, 0.5]), reduction=REDUCTIONS,
       seed=st.integers(0, 2**32 - 1), dtype=DTYPES)
def test_poisson_nll_loss_matches_torch(shape, log_input, full, eps, reduction, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) if log_input else rng.uniform(0.05, 3.0, shape)
    x = x.astype(dtype)
    target = rng.poisson(2.0, shape).astype(dtype)
    kw = dict(log_input=log_input, full=full, eps=eps, reduction=reduction)
    _check_loss(lambda: nn.PoissonNLLLoss(**kw), lambda: torch.nn.PoissonNLLLoss(**kw),
                [x], [target], reduction, dtype, f"{shape} {kw}")
