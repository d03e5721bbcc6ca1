"""Regressions from the API fuzz pass over fastnn.nn / optim / data / metrics (bad or unusual
input must give a clear Python exception naming the bad value, torch's type where torch
raises; no leaked internal error, no silent wrong result), plus a fixed-seed randomized
layer sweep against torch."""
import math
import warnings

import numpy as np
import pytest

import fastnn
import fastnn.nn as nn
import fastnn.nn.functional as F
from fastnn import metrics
from fastnn.data import Normalize, RandomRotation

torch = pytest.importorskip("torch")


def _copy_weights(fm, tm):
    tm.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in fm.state_dict().items()})


# ---- fixed bugs -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 4, 3, 3), (0, 4), (2, 4, 0, 3)])
def test_groupnorm_empty_input_as_torch(shape, dtype):
    """Was: ValueError 'cannot reshape array of size 0 into shape (0,2,newaxis)' for an empty
    batch, and a divide-by-zero RuntimeWarning for an empty spatial axis; torch returns an
    empty output (and zero weight/bias grads)."""
    fm = nn.GroupNorm(2, 4)
    x = np.zeros(shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = fm(x)
        dx = fm.backward(np.ones_like(y))
    tm = torch.nn.GroupNorm(2, 4).double()
    tx = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    ty = tm(tx)
    ty.backward(torch.ones_like(ty))
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    assert dx.shape == shape and dx.dtype == dtype
    # the grads are sums over no elements: 0 (torch gives nan for an empty spatial axis, 0/0 in
    # its kernel; 0 for an empty batch)
    np.testing.assert_array_equal(fm.weight.grad, np.zeros(4))
    np.testing.assert_array_equal(fm.bias.grad, np.zeros(4))
    if shape[0] == 0:
        np.testing.assert_array_equal(fm.weight.grad, tm.weight.grad.numpy())
        np.testing.assert_array_equal(fm.bias.grad, tm.bias.grad.numpy())


@pytest.mark.parametrize("L,S,N", [(0, 0, 2), (0, 3, 2), (3, 0, 2), (3, 4, 0)])
def test_multihead_attention_empty_sequences_as_torch(L, S, N):
    """Was: ValueError 'zero-size array to reduction operation maximum which has no identity'
    when there are no keys (S = 0), e.g. a 0-length sequence into TransformerEncoderLayer."""
    fastnn.manual_seed(0)
    fm = nn.MultiheadAttention(8, 2).double()  # float64 inputs need float64 parameters (as torch)
    tm = torch.nn.MultiheadAttention(8, 2).double()
    _copy_weights(fm, tm)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((L, N, 8))
    k = rng.standard_normal((S, N, 8))
    y, w = fm(q, k, k)
    dq, dk, dv = fm.backward(np.ones_like(y))
    ty, tw = tm(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(k))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == k.shape


def test_transformer_encoder_layer_zero_length_sequence():
    fm = nn.TransformerEncoderLayer(8, 2, 16, 0.0)
    y = fm(np.zeros((0, 2, 8), np.float32))
    assert y.shape == (0, 2, 8) and y.dtype == np.float32


@pytest.mark.parametrize("bad", [1, 0, "x", None, 2.5])
def test_avgpool2d_count_include_pad_must_be_bool(bad):
    """Was: any value accepted (bool(...) of it); torch raises TypeError in forward."""
    with pytest.raises(TypeError, match=f"count_include_pad={bad!r}"):
        nn.AvgPool2d(2, count_include_pad=bad)
    with pytest.raises(TypeError, match=f"count_include_pad={bad!r}"):
        F.avg_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2, count_include_pad=bad)
    with pytest.raises(TypeError, match="must be bool"):
        torch.nn.AvgPool2d(2, count_include_pad=bad)(torch.zeros(1, 1, 4, 4))


def test_avgpool2d_count_include_pad_bools_still_work():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    for flag in (True, False, np.bool_(False)):
        y = nn.AvgPool2d(3, 2, 1, count_include_pad=flag)(x)
        ty = torch.nn.AvgPool2d(3, 2, 1, count_include_pad=bool(flag))(torch.from_numpy(x))
        np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12)


@pytest.mark.parametrize("fn", [metrics.mse, metrics.mae, metrics.rmse, metrics.r2_score, metrics.max_error,
                                metrics.mean_squared_error, metrics.explained_variance_score,
                                metrics.median_absolute_error])
def test_regression_metrics_reject_none(fn):
    """Was: np.asarray(None, float64) is nan, so mse(None, None) returned nan silently."""
    with pytest.raises(TypeError, match=r"y_true must be an array of numbers. Received: y_true="):
        fn(None, None)
    with pytest.raises(TypeError, match=r"y_pred must be an array of numbers. Received: y_pred=\[1.0, None\]"):
        fn([1.0, 2.0], [1.0, None])


def test_regression_metrics_still_accept_arrays_and_lists():
    assert metrics.mse([1.0, 2.0], [1.0, 4.0]) == 2.0
    assert metrics.mae(np.array([1, 2]), np.array([2, 2])) == 0.5


@pytest.mark.parametrize("fn", [metrics.roc_auc_score, metrics.average_precision_score,
                                metrics.top_k_accuracy_score])
def test_score_metrics_reject_scalars(fn):
    """Was: IndexError 'tuple index out of range' for a scalar y_true / y_score."""
    with pytest.raises(ValueError, match=r"y_true must be an array of samples .* y_true=5"):
        fn(5, 5)
    with pytest.raises(ValueError, match=r"y_score must be an array of samples .* y_score=0.5"):
        fn([0, 1], 0.5)


def test_normalize_rejects_none_mean_std():
    """Was: Normalize(None, 0.5) built, then every image came out all-NaN."""
    with pytest.raises(TypeError, match="mean=None"):
        Normalize(None, 0.5)
    with pytest.raises(TypeError, match=r"std=\[0.5, None\]"):
        Normalize((0.1, 0.2), [0.5, None])
    x = np.full((2, 3, 3), 1.0, np.float32)
    np.testing.assert_allclose(Normalize((0.5, 0.0), (0.5, 2.0))(x)[1], 0.5)


@pytest.mark.parametrize("degrees", [math.inf, (0.0, math.inf), (-math.inf, 0.0)])
def test_random_rotation_rejects_infinite_degrees(degrees):
    """Was: accepted, then OverflowError 'high - low range exceeds valid bounds' at call time."""
    with pytest.raises(ValueError, match="degrees must be finite, got degrees="):
        RandomRotation(degrees)
    assert RandomRotation(1e6, seed=0)(np.zeros((1, 4, 4), np.float32)).shape == (1, 4, 4)


@pytest.mark.parametrize("name,shape", [("ConvTranspose1d", (1, 1, 2)), ("ConvTranspose2d", (1, 1, 2, 2)),
                                        ("ConvTranspose2d", (1, 2, 2))])
def test_conv_transpose_empty_output_raises_as_torch(name, shape):
    """Was: an output with an empty spatial axis returned silently; torch raises RuntimeError
    ("Output size is too small"). An empty batch still gives an empty output, as torch."""
    x = np.zeros(shape, np.float32)
    with pytest.raises(RuntimeError, match=r"gives an output of \(0(, 0)?,?\), which must be positive \(padding="):
        getattr(nn, name)(1, 1, 1, padding=1)(x)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        getattr(torch.nn, name)(1, 1, 1, padding=1)(torch.from_numpy(x))
    empty = np.zeros((0,) + shape[1:], np.float32) if len(shape) > 3 or name == "ConvTranspose1d" else None
    if empty is not None:
        assert getattr(nn, name)(1, 1, 1, padding=1)(empty).shape == tuple(
            getattr(torch.nn, name)(1, 1, 1, padding=1)(torch.from_numpy(empty)).shape)


@pytest.mark.parametrize("layer,shape", [(lambda: nn.ReplicationPad2d(1), (1, 1, 0, 2)),
                                         (lambda: nn.ReplicationPad1d((0, 2)), (1, 0)),
                                         (lambda: nn.Conv1d(1, 1, 1, padding=1, padding_mode="replicate"), (1, 1, 0))])
def test_replication_pad_of_empty_axis_raises(layer, shape):
    """Was: IndexError 'index 0 is out of bounds for axis 2 with size 0' (no edge to repeat)."""
    with pytest.raises(ValueError, match=r"replication padding \(\d, \d\) needs a non-empty axis, got an axis of size 0"):
        layer()(np.zeros(shape, np.float32))


# ---- randomized sweep against torch -----------------------------------------------------------

def _random_case(rng):
    """(fastnn layer, torch layer, input shape) for one random valid configuration."""
    kind = rng.choice(["linear", "conv1d", "conv2d", "convT2d", "maxpool2d", "avgpool2d", "batchnorm2d",
                       "layernorm", "groupnorm", "act", "softmax", "pad", "mha"])
    n = int(rng.integers(1, 4))
    if kind == "linear":
        i, o = (int(v) for v in rng.integers(1, 7, 2))
        args, kw, shape = (i, o), {"bias": bool(rng.integers(2))}, (n, i)
        return nn.Linear(*args, **kw), torch.nn.Linear(*args, **kw), shape
    if kind in ("conv1d", "conv2d", "convT2d"):
        g = int(rng.choice([1, 2]))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k, s, p, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2)), int(rng.integers(1, 3))
        kw = {"stride": s, "padding": p, "dilation": d, "groups": g, "bias": bool(rng.integers(2))}
        if kind == "convT2d":
            kw["output_padding"] = int(rng.integers(0, max(s, d)))
        size = d * (k - 1) + 1 + int(rng.integers(0, 5))
        if kind == "convT2d" and (size - 1) * s - 2 * p + d * (k - 1) + 1 <= 0:
            kw["padding"] = 0  # torch rejects an empty output (tested below)
        name = {"conv1d": "Conv1d", "conv2d": "Conv2d", "convT2d": "ConvTranspose2d"}[kind]
        shape = (n, cin, size) if kind == "conv1d" else (n, cin, size, size + int(rng.integers(0, 3)))
        return getattr(nn, name)(cin, cout, k, **kw), getattr(torch.nn, name)(cin, cout, k, **kw), shape
    if kind in ("maxpool2d", "avgpool2d"):
        k = int(rng.integers(1, 4))
        kw = {"stride": int(rng.integers(1, 4)), "padding": int(rng.integers(0, k // 2 + 1)),
              "ceil_mode": bool(rng.integers(2))}
        if kind == "maxpool2d":
            kw["dilation"] = int(rng.integers(1, 3))
        else:
            kw["count_include_pad"] = bool(rng.integers(2))
        name = "MaxPool2d" if kind == "maxpool2d" else "AvgPool2d"
        size = (kw.get("dilation", 1)) * (k - 1) + 1 + int(rng.integers(0, 4))
        return getattr(nn, name)(k, **kw), getattr(torch.nn, name)(k, **kw), (n, 2, size, size)
    if kind == "batchnorm2d":
        c = int(rng.integers(1, 4))
        kw = {"affine": bool(rng.integers(2)), "momentum": float(rng.uniform(0.05, 0.5))}
        return nn.BatchNorm2d(c, **kw), torch.nn.BatchNorm2d(c, **kw), (n + 1, c, 2, 3)
    if kind == "layernorm":
        d = int(rng.integers(2, 6))
        kw = {"elementwise_affine": bool(rng.integers(2))}
        return nn.LayerNorm(d, **kw), torch.nn.LayerNorm(d, **kw), (n, 3, d)
    if kind == "groupnorm":
        g = int(rng.choice([1, 2, 3]))
        c = g * int(rng.integers(1, 3))
        return nn.GroupNorm(g, c), torch.nn.GroupNorm(g, c), (n, c, 2, 2)
    if kind == "act":
        name = str(rng.choice(["ReLU", "Tanh", "Sigmoid", "GELU", "ELU", "SiLU", "Softplus", "LeakyReLU",
                               "Hardswish", "Mish", "SELU", "CELU", "Softsign", "LogSigmoid", "Hardtanh"]))
        return getattr(nn, name)(), getattr(torch.nn, name)(), (n, 5)
    if kind == "softmax":
        dim = int(rng.integers(-2, 2))
        name = str(rng.choice(["Softmax", "LogSoftmax", "Softmin"]))
        return getattr(nn, name)(dim), getattr(torch.nn, name)(dim), (n, 4)
    if kind == "pad":
        name = str(rng.choice(["ZeroPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"]))
        p = tuple(int(v) for v in rng.integers(0, 3, 4))
        return getattr(nn, name)(p), getattr(torch.nn, name)(p), (n, 2, 3, 4)
    e, h = int(rng.choice([4, 6])), int(rng.choice([1, 2]))
    kw = {"bias": bool(rng.integers(2)), "batch_first": True}
    return nn.MultiheadAttention(e, h, **kw), torch.nn.MultiheadAttention(e, h, **kw), (n, int(rng.integers(1, 5)), e)


def test_random_layers_forward_backward_match_torch():
    rng = np.random.default_rng(1234)
    fastnn.manual_seed(1234)
    for case in range(100):
        fm, tm, shape = _random_case(rng)
        fm, tm = fm.double(), tm.double()
        _copy_weights(fm, tm)
        x = rng.standard_normal(shape)
        mha = isinstance(fm, nn.MultiheadAttention)
        y = fm(x, x, x)[0] if mha else fm(x)
        tx = torch.from_numpy(x).requires_grad_()
        ty = tm(tx, tx, tx)[0] if mha else tm(tx)
        label = f"case {case}: {fm!r} input {shape}"
        assert y.shape == tuple(ty.shape), label
        assert np.all(np.isfinite(y)), label
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-9, atol=1e-10, err_msg=label)
        dy = rng.standard_normal(y.shape)
        dx = fm.backward(dy)
        if mha:  # self-attention: the three input grads add up
            dx = dx[0] + dx[1] + dx[2]
        ty.backward(torch.from_numpy(dy))
        assert dx.shape == shape and np.all(np.isfinite(dx)), label
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=label)
        for (name, p), (_, tp) in zip(fm.named_parameters(), tm.named_parameters()):
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=f"{label} {name}")

