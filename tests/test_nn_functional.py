"""fastnn.nn.functional against torch.nn.functional (forward values), float32 and float64."""
import warnings

import numpy as np
import pytest

from fastnn import _random
from fastnn.nn import _grid
from fastnn.nn import functional as F
from nn_helpers import FUNCTIONAL_TOL, close


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def TF(torch):
    return torch.nn.functional


DTYPES = [np.float32, np.float64]
TOL = FUNCTIONAL_TOL


def rnd(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def t(torch, a):
    return torch.from_numpy(np.array(a))


# ---- activations -------------------------------------------------------------------------------
ACTS = [
    ("relu", {}), ("relu6", {}), ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 1.3}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}),
    ("leaky_relu", {"negative_slope": 0.2}), ("hardtanh", {"min_val": -0.5, "max_val": 1.5}),
    ("hardsigmoid", {}), ("hardswish", {}), ("sigmoid", {}), ("tanh", {}),
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 1.5}), ("softsign", {}),
    ("softshrink", {"lambd": 0.3}), ("hardshrink", {"lambd": 0.4}), ("tanhshrink", {}),
    ("threshold", {"threshold": 0.1, "value": -2.0}), ("logsigmoid", {}), ("glu", {"dim": 1}),
    ("rrelu", {"lower": 0.1, "upper": 0.3}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(ACTS)])
def test_activations(torch, TF, name, kw, dtype):
    rng = np.random.default_rng(hash(name) % 1000)
    for shape in [(3, 4, 6), (2, 8)]:
        x = rnd(rng, shape, dtype, 2.0)
        close(getattr(F, name)(x, **kw), getattr(TF, name)(t(torch, x), **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu(torch, TF, dtype):
    rng = np.random.default_rng(1)
    x, w = rnd(rng, (2, 3, 5), dtype), rnd(rng, (3,), dtype)
    close(F.prelu(x, w), TF.prelu(t(torch, x), t(torch, w)), dtype)
    w1 = rnd(rng, (1,), dtype)
    close(F.prelu(x, w1), TF.prelu(t(torch, x), t(torch, w1)), dtype)


def test_inplace_relu_writes_input():
    x = np.array([-1.0, 2.0, -3.0])
    y = F.relu(x, inplace=True)
    np.testing.assert_array_equal(x, [0.0, 2.0, 0.0])
    assert y is x or np.shares_memory(x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_softmax_family(torch, TF, name, dtype):
    rng = np.random.default_rng(2)
    x = rnd(rng, (3, 4, 5), dtype, 3.0)
    for dim in (0, 1, -1):
        close(getattr(F, name)(x, dim=dim), getattr(TF, name)(t(torch, x), dim=dim), dtype)
    close(getattr(F, name)(x, 1, dtype=np.float64), getattr(TF, name)(t(torch, x), 1, dtype=torch.float64),
          np.float64, rtol=1e-6 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("ndim,expect", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_implicit_dim_warns(torch, TF, ndim, expect):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)[:ndim])
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        y = F.softmax(x)
    np.testing.assert_allclose(y, TF.softmax(t(torch, x), dim=expect).numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalize(torch, TF, dtype):
    rng = np.random.default_rng(4)
    x = rnd(rng, (3, 5, 2), dtype)
    x[0, :, 0] = 0
    for p, dim in [(2.0, 1), (1.0, -1), (3.0, 0), (float("inf"), 1), (0.5, 1)]:
        close(F.normalize(x, p=p, dim=dim), TF.normalize(t(torch, x), p=p, dim=dim), dtype)


# ---- linear, conv ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_bilinear(torch, TF, dtype):
    rng = np.random.default_rng(5)
    x, w, b = rnd(rng, (4, 3, 6), dtype), rnd(rng, (5, 6), dtype), rnd(rng, (5,), dtype)
    close(F.linear(x, w, b), TF.linear(t(torch, x), t(torch, w), t(torch, b)), dtype)
    close(F.linear(x, w), TF.linear(t(torch, x), t(torch, w)), dtype)
    x1, x2 = rnd(rng, (4, 3), dtype), rnd(rng, (4, 2), dtype)
    wb, bb = rnd(rng, (5, 3, 2), dtype), rnd(rng, (5,), dtype)
    close(F.bilinear(x1, x2, wb, bb), TF.bilinear(t(torch, x1), t(torch, x2), t(torch, wb), t(torch, bb)), dtype)
    close(F.bilinear(x1, x2, wb), TF.bilinear(t(torch, x1), t(torch, x2), t(torch, wb)), dtype)


CONV_CASES = [
    dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(padding="valid", groups=2),
    dict(stride=(2, 1, 1), padding=(1, 0, 2), dilation=(1, 2, 1), groups=2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv(torch, TF, nd, case, dtype):
    rng = np.random.default_rng(10 * nd + case)
    kw = {k: (v[:nd] if isinstance(v, tuple) else v) for k, v in CONV_CASES[case].items()}
    g = kw.get("groups", 1)
    size = (7, 6, 5)[:nd]
    x = rnd(rng, (2, 4) + size, dtype)
    w = rnd(rng, (6, 4 // g) + (3, 2, 3)[:nd], dtype, 1 / np.sqrt(4 // g * (3, 2, 3)[:nd][-1] * nd))  # ~unit outputs
    b = rnd(rng, (6,), dtype)
    ours = getattr(F, f"conv{nd}d")(x, w, b, **kw)
    theirs = getattr(TF, f"conv{nd}d")(t(torch, x), t(torch, w), t(torch, b), **kw)
    close(ours, theirs, dtype)
    close(getattr(F, f"conv{nd}d")(x, w, None, **kw), getattr(TF, f"conv{nd}d")(t(torch, x), t(torch, w), **kw),
          dtype)


TCONV_CASES = [dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=2, dilation=2, groups=2),
               dict(stride=(2, 3, 1), padding=(0, 1, 1), output_padding=(1, 2, 0), groups=2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("case", range(len(TCONV_CASES)))
def test_conv_transpose(torch, TF, nd, case, dtype):
    rng = np.random.default_rng(100 + 10 * nd + case)
    kw = {k: (v[:nd] if isinstance(v, tuple) else v) for k, v in TCONV_CASES[case].items()}
    g = kw.get("groups", 1)
    x = rnd(rng, (2, 4) + (5, 4, 3)[:nd], dtype)
    w = rnd(rng, (4, 6 // g) + (3, 3, 2)[:nd], dtype)
    b = rnd(rng, (6,), dtype)
    fn = f"conv_transpose{nd}d"
    close(getattr(F, fn)(x, w, b, **kw), getattr(TF, fn)(t(torch, x), t(torch, w), t(torch, b), **kw), dtype)


# ---- pooling -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_avg_pool(torch, TF, nd, dtype):
    rng = np.random.default_rng(200 + nd)
    x = rnd(rng, (2, 3) + (9, 8, 7)[:nd], dtype)
    tx = t(torch, x)
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=2, stride=1, dilation=2)]:
        y, idx = getattr(F, f"max_pool{nd}d")(x, return_indices=True, **kw)
        ty, tidx = getattr(TF, f"max_pool{nd}d")(tx, return_indices=True, **kw)
        close(y, ty, dtype)
        np.testing.assert_array_equal(idx, tidx.numpy())
        close(getattr(F, f"max_pool{nd}d")(x, **kw), getattr(TF, f"max_pool{nd}d")(tx, **kw), dtype)
    avg_cases = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                 dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)]
    if nd > 1:
        avg_cases.append(dict(kernel_size=2, padding=1, divisor_override=3))
    for kw in avg_cases:
        close(getattr(F, f"avg_pool{nd}d")(x, **kw), getattr(TF, f"avg_pool{nd}d")(tx, **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_adaptive_and_lp_pool(torch, TF, nd, dtype):
    rng = np.random.default_rng(300 + nd)
    x = rnd(rng, (2, 3) + (9, 7, 6)[:nd], dtype)
    tx = t(torch, x)
    out = (4, 3, 5)[:nd]
    close(getattr(F, f"adaptive_avg_pool{nd}d")(x, out), getattr(TF, f"adaptive_avg_pool{nd}d")(tx, out), dtype)
    y, idx = getattr(F, f"adaptive_max_pool{nd}d")(x, out, return_indices=True)
    ty, tidx = getattr(TF, f"adaptive_max_pool{nd}d")(tx, out, return_indices=True)
    close(y, ty, dtype)
    np.testing.assert_array_equal(idx, tidx.numpy())
    for norm_type, k, s, cm in [(2, 2, None, False), (3.0, 3, 2, True), (1, 2, 1, False)]:
        close(getattr(F, f"lp_pool{nd}d")(x, norm_type, k, s, cm),
              getattr(TF, f"lp_pool{nd}d")(tx, norm_type, k, s, cm), dtype)


# ---- pad, interpolate, shuffles, fold ----------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad(torch, TF, dtype):
    rng = np.random.default_rng(400)
    cases = [((2, 3, 6), (1, 2)), ((2, 3, 5, 6), (1, 2, 2, 0)), ((2, 2, 4, 5, 6), (1, 1, 2, 0, 0, 3)),
             ((3, 6), (2, 1)), ((3, 4, 5), (1, 2, 3, 1))]
    for shape, p in cases:
        x = rnd(rng, shape, dtype)
        for mode in ("reflect", "replicate", "circular"):
            close(F.pad(x, p, mode=mode), TF.pad(t(torch, x), p, mode=mode), dtype)
        close(F.pad(x, p, value=1.5), TF.pad(t(torch, x), p, value=1.5), dtype)
        close(F.pad(x, p), TF.pad(t(torch, x), p), dtype)
    for shape, p in [((5,), (1, 2)), ((2, 2, 2, 3), (1, 1)), ((2, 3, 2, 2, 4), (0, 1, 2, 0))]:
        x = rnd(rng, shape, dtype)
        close(F.pad(x, p, "constant", -1.0), TF.pad(t(torch, x), p, "constant", -1.0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_interpolate(torch, TF, dtype):
    rng = np.random.default_rng(500)
    x1, x2, x3 = rnd(rng, (2, 3, 5), dtype), rnd(rng, (2, 3, 4, 5), dtype), rnd(rng, (1, 2, 3, 4, 3), dtype)
    cases = [(x1, dict(size=9, mode="nearest")), (x1, dict(scale_factor=1.7, mode="nearest-exact")),
             (x1, dict(size=8, mode="linear", align_corners=True)), (x1, dict(scale_factor=2, mode="linear")),
             (x2, dict(size=(7, 3), mode="bilinear")), (x2, dict(scale_factor=(1.5, 2), mode="bicubic")),
             (x2, dict(size=(6, 8), mode="bicubic", align_corners=True)), (x2, dict(scale_factor=2)),
             (x3, dict(size=(5, 6, 4), mode="trilinear")), (x3, dict(scale_factor=2, mode="nearest")),
             (x2, dict(scale_factor=1.3, mode="bilinear", recompute_scale_factor=True))]
    for x, kw in cases:
        close(F.interpolate(x, **kw), TF.interpolate(t(torch, x), **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shuffle_unfold_fold(torch, TF, dtype):
    rng = np.random.default_rng(600)
    x = rnd(rng, (2, 8, 3, 4), dtype)
    close(F.pixel_shuffle(x, 2), TF.pixel_shuffle(t(torch, x), 2), dtype)
    close(F.pixel_unshuffle(x[:, :, :2, :4], 2), TF.pixel_unshuffle(t(torch, x[:, :, :2, :4]), 2), dtype)
    y = rnd(rng, (2, 3, 6, 7), dtype)
    kw = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=2)
    cols = F.unfold(y, **kw)
    close(cols, TF.unfold(t(torch, y), **kw), dtype)
    close(F.fold(cols, (6, 7), **kw), TF.fold(t(torch, cols), (6, 7), **kw), dtype)


# ---- one_hot, embedding ------------------------------------------------------------------------
def test_one_hot(torch, TF):
    idx = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(idx), TF.one_hot(t(torch, idx)).numpy())
    out = F.one_hot(idx, num_classes=6)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, TF.one_hot(t(torch, idx), 6).numpy())
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(idx, 3)
    with pytest.raises(ValueError, match="-1"):
        F.one_hot(np.array([-1, 0]))
    with pytest.raises(TypeError, match="float"):
        F.one_hot(np.array([0.0]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding(torch, TF, dtype):
    rng = np.random.default_rng(700)
    w = rnd(rng, (7, 4), dtype, 2.0)
    idx = np.array([[0, 3, 6], [2, 2, 5]])
    close(F.embedding(idx, w), TF.embedding(t(torch, idx), t(torch, w)), dtype)
    close(F.embedding(idx, w, padding_idx=2), TF.embedding(t(torch, idx), t(torch, w), padding_idx=2), dtype)
    w2, tw2 = w.copy(), t(torch, w)
    close(F.embedding(idx, w2, max_norm=1.0), TF.embedding(t(torch, idx), tw2, max_norm=1.0), dtype)
    close(w2, tw2, dtype)  # the rows used were renormalized in place, as torch's
    assert not np.allclose(w2, w)


# ---- dropout -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                                  "feature_alpha_dropout"])
def test_dropout(name):
    x = np.random.default_rng(800).standard_normal((4, 6, 5, 3, 2))[:, :, :, :, 0] if name != "dropout3d" else \
        np.random.default_rng(800).standard_normal((4, 6, 5, 3, 2))
    if name == "dropout1d":
        x = x[:, :, :, 0]
    assert F.__dict__[name](x, 0.5, training=False) is x
    assert F.__dict__[name](x, 0.0, training=True) is x
    y = F.__dict__[name](x, 0.5, training=True)
    assert y.shape == x.shape and not np.allclose(y, x)
    if name in ("dropout", "dropout1d", "dropout2d", "dropout3d"):
        kept = y != 0
        np.testing.assert_allclose(y[kept], 2 * x[kept], rtol=1e-12)
    with pytest.raises(ValueError, match="1.5"):
        F.__dict__[name](x, 1.5)
    with pytest.raises(TypeError, match="training"):
        F.__dict__[name](x, 0.5, training="yes")


# ---- normalization -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
def test_batch_norm(torch, TF, shape, dtype):
    rng = np.random.default_rng(900 + len(shape))
    x = rnd(rng, shape, dtype, 2.0) + 1
    w, b = rnd(rng, (3,), dtype), rnd(rng, (3,), dtype)
    rm, rv = rnd(rng, (3,), dtype), np.abs(rnd(rng, (3,), dtype)) + 0.5
    trm, trv = t(torch, rm), t(torch, rv)
    close(F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3),
          TF.batch_norm(t(torch, x), trm, trv, t(torch, w), t(torch, b), training=True, momentum=0.3, eps=1e-3),
          dtype)
    close(rm, trm, dtype)
    close(rv, trv, dtype)
    close(F.batch_norm(x, rm, rv, w, b), TF.batch_norm(t(torch, x), trm, trv, t(torch, w), t(torch, b)), dtype)
    close(F.batch_norm(x, None, None, training=True), TF.batch_norm(t(torch, x), None, None, training=True), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_instance_norm(torch, TF, dtype):
    rng = np.random.default_rng(950)
    x = rnd(rng, (3, 4, 5, 2), dtype) * 3
    w, b = rnd(rng, (4,), dtype), rnd(rng, (4,), dtype)
    close(F.instance_norm(x), TF.instance_norm(t(torch, x)), dtype)
    rm, rv = rnd(rng, (4,), dtype), np.abs(rnd(rng, (4,), dtype)) + 0.5
    trm, trv = t(torch, rm), t(torch, rv)
    close(F.instance_norm(x, rm, rv, w, b, momentum=0.2),
          TF.instance_norm(t(torch, x), trm, trv, t(torch, w), t(torch, b), momentum=0.2), dtype)
    close(rm, trm, dtype)
    close(rv, trv, dtype)
    close(F.instance_norm(x, rm, rv, w, b, use_input_stats=False),
          TF.instance_norm(t(torch, x), trm, trv, t(torch, w), t(torch, b), use_input_stats=False), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_group_rms_lrn(torch, TF, dtype):
    rng = np.random.default_rng(960)
    x = rnd(rng, (2, 6, 3, 4), dtype) * 2 + 0.5
    tx = t(torch, x)
    w, b = rnd(rng, (3, 4), dtype), rnd(rng, (3, 4), dtype)
    close(F.layer_norm(x, (3, 4), t(torch, w).numpy(), b), TF.layer_norm(tx, (3, 4), t(torch, w), t(torch, b)), dtype)
    close(F.layer_norm(x, [4], eps=1e-3), TF.layer_norm(tx, [4], eps=1e-3), dtype)
    close(F.layer_norm(x, (3, 4), w), TF.layer_norm(tx, (3, 4), t(torch, w)), dtype)
    close(F.layer_norm(x, (3, 4), None, b), TF.layer_norm(tx, (3, 4), None, t(torch, b)), dtype)
    gw, gb = rnd(rng, (6,), dtype), rnd(rng, (6,), dtype)
    close(F.group_norm(x, 3, gw, gb), TF.group_norm(tx, 3, t(torch, gw), t(torch, gb)), dtype)
    close(F.group_norm(x, 2, eps=1e-2), TF.group_norm(tx, 2, eps=1e-2), dtype)
    close(F.rms_norm(x, (3, 4), w), TF.rms_norm(tx, (3, 4), t(torch, w)), dtype)
    close(F.rms_norm(x, [4], eps=1e-3), TF.rms_norm(tx, [4], eps=1e-3), dtype)
    close(F.local_response_norm(x, 3, alpha=0.1, beta=0.6, k=2.0),
          TF.local_response_norm(tx, 3, alpha=0.1, beta=0.6, k=2.0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_distances(torch, TF, dtype):
    rng = np.random.default_rng(970)
    a, b = rnd(rng, (4, 5), dtype), rnd(rng, (4, 5), dtype)
    close(F.cosine_similarity(a, b), TF.cosine_similarity(t(torch, a), t(torch, b)), dtype)
    close(F.cosine_similarity(a, b, dim=0, eps=1e-3), TF.cosine_similarity(t(torch, a), t(torch, b), 0, 1e-3), dtype)
    for p, keep in [(2.0, False), (1.0, True), (3.0, False)]:
        close(F.pairwise_distance(a, b, p=p, keepdim=keep),
              TF.pairwise_distance(t(torch, a), t(torch, b), p=p, keepdim=keep), dtype)


# ---- losses ------------------------------------------------------------------------------------
def lclose(ours, theirs, dtype):
    if isinstance(ours, float):
        assert theirs.ndim == 0
        np.testing.assert_allclose(ours, theirs.item(), **TOL[dtype])
    else:
        close(ours, theirs, dtype)


REDS = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDS)
def test_cross_entropy_nll(torch, TF, dtype, reduction):
    rng = np.random.default_rng(1000)
    x = rnd(rng, (6, 5), dtype, 2)
    y = rng.integers(0, 5, 6)
    y[1] = 3
    wt = np.abs(rnd(rng, (5,), dtype)) + 0.1
    tx, ty, tw = t(torch, x), t(torch, y), t(torch, wt)
    for kw in [dict(), dict(label_smoothing=0.2), dict(ignore_index=3), dict(weight=wt, label_smoothing=0.1)]:
        tkw = {k: (tw if k == "weight" else v) for k, v in kw.items()}
        lclose(F.cross_entropy(x, y, reduction=reduction, **kw),
               TF.cross_entropy(tx, ty, reduction=reduction, **tkw), dtype)
    soft = np.abs(rnd(rng, (6, 5), dtype))
    soft /= soft.sum(1, keepdims=True)
    lclose(F.cross_entropy(x, soft, reduction=reduction, label_smoothing=0.1),
           TF.cross_entropy(tx, t(torch, soft), reduction=reduction, label_smoothing=0.1), dtype)
    x3 = rnd(rng, (2, 5, 3), dtype)
    y3 = rng.integers(0, 5, (2, 3))
    lclose(F.cross_entropy(x3, y3, reduction=reduction), TF.cross_entropy(t(torch, x3), t(torch, y3),
                                                                           reduction=reduction), dtype)
    lp = np.log(TF.softmax(tx, 1).numpy())
    for kw in [dict(), dict(weight=wt), dict(ignore_index=3)]:
        tkw = {k: (tw if k == "weight" else v) for k, v in kw.items()}
        lclose(F.nll_loss(lp, y, reduction=reduction, **kw), TF.nll_loss(t(torch, lp), ty, reduction=reduction,
                                                                           **tkw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDS)
def test_regression_losses(torch, TF, dtype, reduction):
    rng = np.random.default_rng(1100)
    a, b = rnd(rng, (4, 3), dtype, 2), rnd(rng, (4, 3), dtype, 2)
    ta, tb = t(torch, a), t(torch, b)
    lclose(F.mse_loss(a, b, reduction=reduction), TF.mse_loss(ta, tb, reduction=reduction), dtype)
    lclose(F.l1_loss(a, b, reduction=reduction), TF.l1_loss(ta, tb, reduction=reduction), dtype)
    lclose(F.smooth_l1_loss(a, b, reduction=reduction, beta=0.7),
           TF.smooth_l1_loss(ta, tb, reduction=reduction, beta=0.7), dtype)
    lclose(F.huber_loss(a, b, reduction=reduction, delta=1.3), TF.huber_loss(ta, tb, reduction=reduction, delta=1.3),
           dtype)
    var = np.abs(rnd(rng, (4, 3), dtype)) + 0.1
    lclose(F.gaussian_nll_loss(a, b, var, full=True, reduction=reduction),
           TF.gaussian_nll_loss(ta, tb, t(torch, var), full=True, reduction=reduction), dtype)
    lam = np.abs(b)
    lclose(F.poisson_nll_loss(a, lam, reduction=reduction), TF.poisson_nll_loss(ta, t(torch, lam),
                                                                                 reduction=reduction), dtype)
    pos = np.abs(a) + 0.1
    lclose(F.poisson_nll_loss(pos, lam, log_input=False, full=True, reduction=reduction),
           TF.poisson_nll_loss(t(torch, pos), t(torch, lam), log_input=False, full=True, reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDS)
def test_binary_and_kl_losses(torch, TF, dtype, reduction):
    rng = np.random.default_rng(1200)
    z = rnd(rng, (5, 3), dtype, 2)
    p = 1 / (1 + np.exp(-z))
    y = rng.uniform(0, 1, (5, 3)).astype(dtype)
    w = np.abs(rnd(rng, (3,), dtype))
    pw = np.abs(rnd(rng, (3,), dtype)) + 0.5
    tz, tp, ty, tw, tpw = (t(torch, v) for v in (z, p, y, w, pw))
    lclose(F.binary_cross_entropy(p, y, reduction=reduction), TF.binary_cross_entropy(tp, ty, reduction=reduction),
           dtype)
    lclose(F.binary_cross_entropy(p, y, w, reduction=reduction),
           TF.binary_cross_entropy(tp, ty, tw, reduction=reduction), dtype)
    lclose(F.binary_cross_entropy_with_logits(z, y, w, reduction=reduction, pos_weight=pw),
           TF.binary_cross_entropy_with_logits(tz, ty, tw, reduction=reduction, pos_weight=tpw), dtype)
    lq, ly = np.log(p), np.log(y)
    for red in ([reduction, "batchmean"] if reduction == "sum" else [reduction]):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            lclose(F.kl_div(lq, y, reduction=red), TF.kl_div(t(torch, lq), ty, reduction=red), dtype)
            lclose(F.kl_div(lq, ly, reduction=red, log_target=True),
                   TF.kl_div(t(torch, lq), t(torch, ly), reduction=red, log_target=True), dtype)
        # torch warns that "mean" is not "batchmean"; so does fastnn (2 calls each)
        assert sum("batchmean" in str(w.message) for w in seen) == (4 if red == "mean" else 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDS)
def test_margin_losses(torch, TF, dtype, reduction):
    rng = np.random.default_rng(1300)
    x, x2 = rnd(rng, (6, 4), dtype), rnd(rng, (6, 4), dtype)
    sign = np.where(rng.uniform(size=(6, 4)) < 0.5, -1.0, 1.0).astype(dtype)
    tx, tx2, ts = t(torch, x), t(torch, x2), t(torch, sign)
    lclose(F.hinge_embedding_loss(x, sign, margin=0.5, reduction=reduction),
           TF.hinge_embedding_loss(tx, ts, margin=0.5, reduction=reduction), dtype)
    lclose(F.margin_ranking_loss(x, x2, sign, margin=0.2, reduction=reduction),
           TF.margin_ranking_loss(tx, tx2, ts, margin=0.2, reduction=reduction), dtype)
    lclose(F.soft_margin_loss(x, sign, reduction=reduction), TF.soft_margin_loss(tx, ts, reduction=reduction), dtype)
    lab = (sign > 0).astype(dtype)
    w = np.abs(rnd(rng, (4,), dtype))
    lclose(F.multilabel_soft_margin_loss(x, lab, w, reduction=reduction),
           TF.multilabel_soft_margin_loss(tx, t(torch, lab), t(torch, w), reduction=reduction), dtype)
    s1 = sign[:, 0]
    lclose(F.cosine_embedding_loss(x, x2, s1, margin=0.1, reduction=reduction),
           TF.cosine_embedding_loss(tx, tx2, t(torch, s1), margin=0.1, reduction=reduction), dtype)
    neg = rnd(rng, (6, 4), dtype)
    lclose(F.triplet_margin_loss(x, x2, neg, margin=0.8, p=1.5, swap=True, reduction=reduction),
           TF.triplet_margin_loss(tx, tx2, t(torch, neg), margin=0.8, p=1.5, swap=True, reduction=reduction), dtype)
    lclose(F.triplet_margin_with_distance_loss(x, x2, neg, margin=0.5, reduction=reduction),
           TF.triplet_margin_with_distance_loss(tx, tx2, t(torch, neg), margin=0.5, reduction=reduction), dtype)
    y = rng.integers(0, 4, 6)
    lclose(F.multi_margin_loss(x, y, p=2, margin=0.7, weight=w, reduction=reduction),
           TF.multi_margin_loss(tx, t(torch, y), p=2, margin=0.7, weight=t(torch, w), reduction=reduction), dtype)
    ml = np.array([[3, 0, -1, 1], [1, 2, 3, -1], [0, -1, 2, 2], [2, 1, 0, 3], [-1, 0, 0, 0], [1, -1, 0, 0]])
    lclose(F.multilabel_margin_loss(x, ml, reduction=reduction),
           TF.multilabel_margin_loss(tx, t(torch, ml), reduction=reduction), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDS)
def test_ctc_loss(torch, TF, dtype, reduction):
    rng = np.random.default_rng(1400)
    T, N, C = 8, 3, 5
    lp = TF.log_softmax(t(torch, rnd(rng, (T, N, C), dtype)), 2).numpy()
    tg = rng.integers(1, C, (N, 4))
    il, tl = np.array([8, 7, 6]), np.array([4, 2, 3])
    lclose(F.ctc_loss(lp, tg, il, tl, reduction=reduction),
           TF.ctc_loss(t(torch, lp), t(torch, tg), t(torch, il), t(torch, tl), reduction=reduction), dtype)


def test_legacy_reduction_args(torch, TF):
    rng = np.random.default_rng(1500)
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    with pytest.warns(UserWarning, match="reduction='sum'"):
        got = F.mse_loss(a, b, size_average=False)
    np.testing.assert_allclose(got, TF.mse_loss(t(torch, a), t(torch, b), reduction="sum").item(), rtol=1e-12)
    assert isinstance(F.l1_loss(a, b), float)


# ---- errors and side effects -------------------------------------------------------------------
def test_errors():
    x = np.zeros((2, 3, 4))
    with pytest.raises(TypeError, match="list"):
        F.relu([1.0, 2.0])
    with pytest.raises(ValueError, match="'wrap'"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(ValueError, match=r"\(1, 1, 1\)"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="2.0"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)
    with pytest.raises(ValueError, match=r"\(5,\), got \(4,\)"):
        F.linear(x, np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="antialias"):
        F.interpolate(np.zeros((1, 1, 4, 4)), scale_factor=2, mode="bilinear", antialias=True)
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((2, 2, 3, 3)), groups=0)
    with pytest.raises(ValueError, match="weight"):
        F.mse_loss(x, x, weight=np.ones(3))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        F.batch_norm(x, np.zeros(4), np.ones(3), training=True)
    with pytest.raises(ValueError, match="dim"):
        F.normalize(x, dim=3)
    with pytest.raises(ValueError, match="reduction|'avg'"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction="avg")


def test_global_rng_untouched():
    """Building a layer to run its forward must not advance fastnn's global RNG (init draws)."""
    _random.manual_seed(5)
    expect = _random.get_rng().standard_normal(3)
    _random.manual_seed(5)
    F.bilinear(np.ones((2, 3)), np.ones((2, 2)), np.ones((4, 3, 2)), np.ones(4))
    F.conv2d(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)))
    np.testing.assert_array_equal(_random.get_rng().standard_normal(3), expect)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_dot_product_attention(torch, TF, dtype):
    rng = np.random.default_rng(1600)
    q, k, v = rnd(rng, (2, 3, 4, 5), dtype), rnd(rng, (2, 3, 6, 5), dtype), rnd(rng, (2, 3, 6, 7), dtype)
    tq, tk, tv = t(torch, q), t(torch, k), t(torch, v)
    close(F.scaled_dot_product_attention(q, k, v), TF.scaled_dot_product_attention(tq, tk, tv), dtype)
    bm = rng.uniform(size=(4, 6)) < 0.7
    bm[:, 0] = True  # no fully masked row
    close(F.scaled_dot_product_attention(q, k, v, bm, scale=0.3),
          TF.scaled_dot_product_attention(tq, tk, tv, t(torch, bm), scale=0.3), dtype)
    fm = rnd(rng, (3, 4, 6), dtype)
    close(F.scaled_dot_product_attention(q, k, v, attn_mask=fm),
          TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=t(torch, fm)), dtype)
    close(F.scaled_dot_product_attention(q, k, v, is_causal=True),
          TF.scaled_dot_product_attention(tq, tk, tv, is_causal=True), dtype)
    kg, vg = k[:, :1], v[:, :1]
    close(F.scaled_dot_product_attention(q, kg, vg, enable_gqa=True),
          TF.scaled_dot_product_attention(tq, t(torch, kg), t(torch, vg), enable_gqa=True), dtype)
    with pytest.raises(ValueError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, bm, is_causal=True)
    with pytest.raises(ValueError, match="1.5"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pdist(torch, TF, dtype):
    rng = np.random.default_rng(1700)
    x = rnd(rng, (5, 3), dtype)
    x[3] = x[1]  # a zero distance
    for p in (2, 1, 0.5, 3.0, 0, float("inf")):
        close(F.pdist(x, p), TF.pdist(t(torch, x), p), dtype)
    assert F.pdist(x[:1]).shape == (0,)
    with pytest.raises(ValueError, match="-1"):
        F.pdist(x, -1)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        F.pdist(x[:, 0])


def test_more_errors_and_rrelu_training():
    with pytest.raises(ValueError, match=r"expected input\[1, 3, 5, 5\] to have 2 channels"):
        F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"to have 4 channels, but got 3"):
        F.conv_transpose1d(np.ones((3, 5)), np.ones((4, 2, 3)))
    with pytest.raises(TypeError, match="float64"):
        F.linear(np.ones((2, 3), np.float32), np.ones((4, 3)))
    with pytest.raises(ValueError, match="-0.1"):
        F.dropout(np.ones(3), -0.1)
    with pytest.raises(ValueError, match="'Area'"):
        F.interpolate(np.ones((1, 1, 4)), scale_factor=2, mode="Area")
    with pytest.raises(ValueError, match=r"\(1, 3\)"):
        F.batch_norm(np.ones((1, 3)), None, None, training=True)
    with pytest.raises(TypeError, match="prelu: weight"):
        F.prelu(np.ones(3), 0.25)
    x = -np.abs(np.random.default_rng(1800).standard_normal(1000)) - 0.1
    y = F.rrelu(x, 0.1, 0.3, training=True)
    slopes = y / x
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.01
    np.testing.assert_array_equal(F.rrelu(x, 0.1, 0.3), x * 0.2)


# --- on the (emulated) GPU: the same values as on the CPU, as device arrays ---------------------

def _gpu_cases(rng):
    x4 = rng.standard_normal((2, 4, 6, 5)).astype(np.float32)
    w = (rng.standard_normal((6, 2, 3, 3)) / 4).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    lg = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    q = rng.standard_normal((2, 3, 4)).astype(np.float32)
    lw = rng.standard_normal((3, 4)).astype(np.float32)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    grid = (rng.standard_normal((2, 3, 5, 2)) * 0.8).astype(np.float32)  # some points outside [-1, 1]
    dy_grid = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    theta = rng.standard_normal((2, 2, 3)).astype(np.float32)
    bag_idx, bag_off = np.array([0, 2, 1, 3, 3]), np.array([0, 2])
    return [
        ("conv2d", lambda F, a: F.conv2d(a(x4), a(w), a(b), stride=2, padding=1, groups=2)),
        ("linear", lambda F, a: F.linear(a(q), a(lw), a(b[:3]))),
        ("max_pool2d", lambda F, a: F.max_pool2d(a(x4), 2, ceil_mode=True)),
        ("avg_pool2d", lambda F, a: F.avg_pool2d(a(x4), 3, 1, 1, count_include_pad=False)),
        ("interpolate", lambda F, a: F.interpolate(a(x4), scale_factor=2, mode="bilinear", align_corners=False)),
        ("softmax", lambda F, a: F.softmax(a(lg), dim=1)),
        ("gelu", lambda F, a: F.gelu(a(lg), approximate="tanh")),
        ("layer_norm", lambda F, a: F.layer_norm(a(x4), (6, 5))),
        ("batch_norm", lambda F, a: F.batch_norm(a(x4), a(rm.copy()), a(rv.copy()), training=True)),
        ("pad", lambda F, a: F.pad(a(x4), (1, 2, 0, 1), mode="reflect")),
        ("attention", lambda F, a: F.scaled_dot_product_attention(a(q), a(q), a(q), is_causal=True)),
        ("cross_entropy none", lambda F, a: F.cross_entropy(a(lg), a(y), reduction="none", label_smoothing=0.1)),
        ("mse_loss none", lambda F, a: F.mse_loss(a(lg), a(lg[::-1].copy()), reduction="none")),
        ("grid_sample bilinear border", lambda F, a: F.grid_sample(a(x4), a(grid), padding_mode="border",
                                                                   align_corners=False)),
        ("grid_sample nearest reflection", lambda F, a: F.grid_sample(a(x4), a(grid), mode="nearest",
                                                                      padding_mode="reflection", align_corners=True)),
        ("grid_sample bicubic zeros", lambda F, a: F.grid_sample(a(x4), a(grid), mode="bicubic", align_corners=False)),
        ("affine_grid", lambda F, a: F.affine_grid(a(theta), (2, 4, 5, 3), align_corners=False)),
        ("grid_sample_backward", lambda F, a: _grid.grid_sample_backward(
            a(dy_grid), a(x4), a(grid), "bilinear", "reflection", False)[1]),
        ("affine_grid_backward", lambda F, a: _grid.affine_grid_backward(a(grid), (2, 4, 3, 5), True)),
        ("max_pool2d_with_indices", lambda F, a: F.max_pool2d_with_indices(a(x4), 3, 2, 1)[1]),
        ("embedding_bag max", lambda F, a: F.embedding_bag(a(bag_idx), a(lw.T.copy()), a(bag_off), mode="max")),
        ("channel_shuffle", lambda F, a: F.channel_shuffle(a(x4), 2)),
        ("elu_", lambda F, a: F.elu_(a(lg.copy()), alpha=0.5)),
    ]


@pytest.mark.parametrize("i", range(23))
def test_functions_run_on_the_gpu_like_on_the_cpu(xp, i, rng):
    name, run = _gpu_cases(rng)[i]
    cpu = run(F, lambda v: v)
    gpu = run(F, xp.asarray)
    assert isinstance(gpu, xp.ndarray), name
    host = gpu if isinstance(gpu, np.ndarray) else gpu.get()
    np.testing.assert_allclose(host, cpu, rtol=1e-5, atol=1e-6, err_msg=name)


def test_losses_run_on_the_gpu_like_on_the_cpu(xp, rng):
    lg = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, 5)
    np.testing.assert_allclose(float(F.cross_entropy(xp.asarray(lg), xp.asarray(y))), float(F.cross_entropy(lg, y)),
                               rtol=1e-6)
    np.testing.assert_allclose(float(F.l1_loss(xp.asarray(lg), xp.asarray(lg * 2))), float(F.l1_loss(lg, lg * 2)),
                               rtol=1e-6)
