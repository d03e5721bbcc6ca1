"""Loss and activation modules against torch.nn (the oracle): values and gradients of every loss
for every reduction in both dtypes (float32 results against torch in float64 on the same
inputs), their options and edge cases (empty and 0-d inputs, all targets ignored, shared
variances, soft targets), the errors they raise, and the activations at extreme inputs."""
import math

import numpy as np
import pytest

from fastnn import nn
from tolerances import TOLERANCES

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's KLDivLoss "mean" warning

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
# float64: fastnn and torch agree to rounding; float32: fastnn in float32 against torch in float64
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _t(a):
    """A torch tensor of a: floats in float64 (the oracle's precision), integers as int64."""
    a = np.asarray(a)
    return torch.tensor(a.astype(np.float64)) if a.dtype.kind == "f" else torch.tensor(a.astype(np.int64))


def _compare(ours, theirs, pred, target, reduction, dtype):
    """ours(pred, target) and its backward against torch autograd of theirs ("none": backward
    of a random dy)."""
    pred = np.asarray(pred, dtype=dtype)
    target = np.asarray(target)
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    value = ours(pred, target)
    tp = torch.tensor(pred.astype(np.float64), requires_grad=True)
    out = theirs(tp, _t(target))
    if reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == tuple(out.shape)
        dy = np.random.default_rng(0).standard_normal(value.shape)
        grad = ours.backward(dy)
        out.backward(torch.tensor(dy))
    else:
        assert isinstance(value, float)
        grad = ours.backward()
        out.backward()
    np.testing.assert_allclose(value, out.detach().numpy(), **TOL[dtype])
    assert isinstance(grad, np.ndarray) and grad.dtype == dtype and grad.shape == pred.shape
    np.testing.assert_allclose(grad, tp.grad.numpy(), **TOL[dtype])


def _loss_cases():
    rng = np.random.default_rng(7)
    p, t = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    tie = t.copy()
    tie[0, :2] = p[0, :2]  # L1's gradient at a tie is 0
    probs, ptarget = rng.random((6, 5)), rng.random((6, 5))
    clamped = probs.copy()
    clamped[0, :2] = 0.0, 1.0  # log clamped at -100, as torch
    ptarget[0, :2] = 0.3, 0.6
    w5, w61 = rng.random(5) + 0.5, rng.random((6, 1)) + 0.5
    p3, t3 = rng.standard_normal((2, 3, 5)) * 4, rng.random((2, 3, 5))
    labels = rng.integers(0, 5, 6)
    labels[2] = 3
    some_ignored = labels.copy()
    some_ignored[[1, 4]] = -100
    soft = rng.dirichlet(np.ones(5), size=6)
    p4, y4 = rng.standard_normal((2, 5, 3, 4)), rng.integers(0, 5, (2, 3, 4))
    y4[0, 0, 0] = -100
    s4 = np.moveaxis(rng.dirichlet(np.ones(5), size=(2, 3, 4)), -1, 1)
    logp = torch.log_softmax(torch.tensor(p), 1).numpy()
    logp4 = torch.log_softmax(torch.tensor(p4), 1).numpy()
    kl_target = soft.copy()
    kl_target[0, 0] = 0.0
    tw = torch.tensor(w5)
    cases = [
        ("mse", nn.MSELoss, torch.nn.MSELoss, {}, p, t),
        ("l1", nn.L1Loss, torch.nn.L1Loss, {}, p, tie),
        ("huber 0.3", nn.HuberLoss, torch.nn.HuberLoss, {"delta": 0.3}, p, t),
        ("huber 5", nn.HuberLoss, torch.nn.HuberLoss, {"delta": 5.0}, p * 4, t),
        ("smooth_l1 0.3", nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {"beta": 0.3}, p, t),
        ("smooth_l1 0 (L1)", nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {"beta": 0.0}, p, tie),
        ("bce", nn.BCELoss, torch.nn.BCELoss, {}, probs, ptarget),
        ("bce clamped", nn.BCELoss, torch.nn.BCELoss, {}, clamped, ptarget),
        ("bce weight (5,)", nn.BCELoss, torch.nn.BCELoss, {"weight": w5}, probs, ptarget),
        ("bce weight (6, 1)", nn.BCELoss, torch.nn.BCELoss, {"weight": w61}, clamped, ptarget),
        ("bce logits", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {}, p * 10, ptarget),
        ("bce logits pos_weight", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {"pos_weight": w5}, p * 10,
         ptarget),
        ("bce logits pos_weight 3-D", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {"pos_weight": w5}, p3, t3),
        ("bce logits both weights", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss,
         {"pos_weight": w5, "weight": w61}, p, ptarget),
        ("nll", nn.NLLLoss, torch.nn.NLLLoss, {}, logp, labels),
        ("nll weight ignore", nn.NLLLoss, torch.nn.NLLLoss, {"weight": w5, "ignore_index": 3}, logp, labels),
        ("nll K-dim", nn.NLLLoss, torch.nn.NLLLoss, {"weight": w5}, logp4, y4),
        ("nll unbatched", nn.NLLLoss, torch.nn.NLLLoss, {"weight": w5}, logp[0], np.array(2)),
        ("kl", nn.KLDivLoss, torch.nn.KLDivLoss, {}, logp, kl_target),
        ("kl log_target", nn.KLDivLoss, torch.nn.KLDivLoss, {"log_target": True}, logp, np.log(soft)),
    ]
    for eps in (0.0, 0.25, 1.0):
        ce = {"label_smoothing": eps}
        cew = {"label_smoothing": eps, "weight": w5}
        cases += [
            (f"ce eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, ce, p, labels),
            (f"ce weight eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p, labels),
            (f"ce ignored eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, ce, p, some_ignored),
            (f"ce weight ignored eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p, some_ignored),
            (f"ce soft eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, ce, p, soft),
            (f"ce soft weight eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p, soft),
            (f"ce K-dim eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p4, y4),
            (f"ce K-dim soft eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p4, s4),
            (f"ce unbatched eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, cew, p[0], np.array(3)),
            (f"ce unbatched soft eps={eps}", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, ce, p[0], soft[0]),
        ]
    return cases


LOSS_CASES = _loss_cases()


def _torch_kwargs(kw):
    return {k: torch.tensor(np.asarray(v, dtype=np.float64)) if k in ("weight", "pos_weight") else v
            for k, v in kw.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_torch(case, reduction, dtype):
    _, ours, theirs, kw, pred, target = case
    _compare(ours(reduction=reduction, **kw), theirs(reduction=reduction, **_torch_kwargs(kw)),
             pred, target, reduction, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (2, 5, 3)])
def test_kl_div_batchmean_matches_torch(shape, log_target, dtype):
    rng = np.random.default_rng(8)
    logq = torch.log_softmax(torch.tensor(rng.standard_normal(shape)), -1).numpy()
    target = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if log_target:
        target = np.log(target)
    _compare(nn.KLDivLoss(reduction="batchmean", log_target=log_target),
             torch.nn.KLDivLoss(reduction="batchmean", log_target=log_target), logq, target, "batchmean", dtype)


def test_kl_div_negative_target_is_nan_as_torch():
    """torch's xlogy(t, t) term is NaN for t < 0 (and 0 at t = 0); the gradient is -t all the same."""
    x, t = np.array([-1.0, -2.0, -0.5]), np.array([-0.5, 0.0, 0.25])
    ours = nn.KLDivLoss(reduction="none")
    value = ours(x, t)
    expected = torch.nn.KLDivLoss(reduction="none")(_t(x), _t(t)).numpy()
    assert np.isnan(value[0]) and np.isnan(expected[0])
    np.testing.assert_allclose(value, expected, rtol=1e-15)
    np.testing.assert_array_equal(ours.backward(np.ones(3)), -t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3, 5, 6), (4, 3, 5), (4, 3, 5, 1), (4, 1, 5, 6), (1, 3, 5, 6)])
@pytest.mark.parametrize("full, eps", [(False, 1e-6), (True, 0.3)])
def test_gaussian_nll_shared_variances_match_torch(var_shape, reduction, dtype, full, eps):
    """torch 2.x broadcasts a var with mean's shape less its last axis, or with any one axis
    of size 1 (e.g. (N, 1, H, W) for (N, C, H, W)); dvar has var's shape."""
    rng = np.random.default_rng(9)
    mean, target = rng.standard_normal((4, 3, 5, 6)), rng.standard_normal((4, 3, 5, 6))
    var = rng.random(var_shape) + 0.1
    var.reshape(-1)[:3] = 0.0, 1e-9, 0.2  # the first two clamped at eps
    ours = nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)
    m, t, v = (a.astype(dtype) for a in (mean, target, var))
    value = ours(m, t, v)
    tm, tv = torch.tensor(m.astype(np.float64), requires_grad=True), torch.tensor(v.astype(np.float64),
                                                                                   requires_grad=True)
    out = torch.nn.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(tm, _t(t), tv)
    if reduction == "none":
        dy = rng.standard_normal(value.shape)
        dm, dv = ours.backward(dy)
        out.backward(torch.tensor(dy))
    else:
        dm, dv = ours.backward()
        out.backward()
    np.testing.assert_allclose(value, out.detach().numpy(), **TOL[dtype])
    assert dm.dtype == dv.dtype == dtype and dm.shape == mean.shape and dv.shape == var_shape
    np.testing.assert_allclose(dm, tm.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(dv, tv.grad.numpy(), rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_number_var_matches_torch(reduction, dtype):
    """A float var is one variance for every element (torch's), and its gradient is a 0-d array."""
    rng = np.random.default_rng(10)
    mean, target = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)
    ours = nn.GaussianNLLLoss(full=True, reduction=reduction)
    value = ours(mean, target, 0.7)
    tm, tv = torch.tensor(mean.astype(np.float64), requires_grad=True), torch.tensor(0.7, dtype=torch.float64,
                                                                                      requires_grad=True)
    expected = torch.nn.GaussianNLLLoss(full=True, reduction=reduction)(tm, _t(target), 0.7)
    np.testing.assert_allclose(value, expected.detach().numpy(), **TOL[dtype])
    # the gradient of the shared variance, from torch with a tensor broadcast to every element
    out = torch.nn.GaussianNLLLoss(full=True, reduction=reduction)(tm, _t(target), tv.expand(5, 3))
    if reduction == "none":
        dy = rng.standard_normal((5, 3))
        dm, dv = ours.backward(dy)
        out.backward(torch.tensor(dy))
    else:
        dm, dv = ours.backward()
        out.backward()
    np.testing.assert_allclose(dm, tm.grad.numpy(), **TOL[dtype])
    assert isinstance(dv, np.ndarray) and dv.shape == () and dv.dtype == dtype
    np.testing.assert_allclose(dv, tv.grad.numpy(), **TOL[dtype])


def test_gaussian_nll_errors():
    m = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"var must be non-negative. Received: var=-0.5"):
        nn.GaussianNLLLoss()(m, m, -0.5)
    with pytest.raises(ValueError, match=r"var must be non-negative, got -1"):
        nn.GaussianNLLLoss()(m, m, -np.ones((2, 3, 1)))
    with pytest.raises(ValueError, match=r"var must be non-negative, got -1"):
        nn.GaussianNLLLoss(reduction="none")(m, m, -np.ones((2, 3, 4)))
    # two axes of size 1 is not one shared variance per row (torch's "var is of incorrect size")
    with pytest.raises(ValueError, match=r"var of shape \(2, 1, 1\) does not fit mean \(2, 3, 4\)"):
        nn.GaussianNLLLoss()(m, m, np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match=r"var of shape \(3, 4\) does not fit mean \(2, 3, 4\)"):
        nn.GaussianNLLLoss()(m, m, np.ones((3, 4)))
    with pytest.raises(TypeError, match="var has dtype float64 but mean has float32"):
        nn.GaussianNLLLoss()(m.astype(np.float32), m, np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"eps must be a finite number in \(0.0, inf\). Received: eps=0"):
        nn.GaussianNLLLoss(eps=0)


_EMPTY = np.zeros((0, 3))
_NO_LABELS = np.zeros(0, dtype=np.int64)
EMPTY_CASES = [
    ("mse", nn.MSELoss, torch.nn.MSELoss, {}, _EMPTY),
    ("l1", nn.L1Loss, torch.nn.L1Loss, {}, _EMPTY),
    ("huber", nn.HuberLoss, torch.nn.HuberLoss, {}, _EMPTY),
    ("smooth_l1", nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {}, _EMPTY),
    ("bce", nn.BCELoss, torch.nn.BCELoss, {}, _EMPTY),
    ("bce weight", nn.BCELoss, torch.nn.BCELoss, {"weight": [1.0, 2.0, 3.0]}, _EMPTY),
    ("bce logits", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {}, _EMPTY),
    ("bce logits pos_weight", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {"pos_weight": [1.0, 2.0, 3.0]},
     _EMPTY),
    ("ce", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {}, _NO_LABELS),
    ("ce weight", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {"weight": [1.0, 2.0, 3.0]}, _NO_LABELS),
    ("ce soft", nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {}, _EMPTY),
    ("nll", nn.NLLLoss, torch.nn.NLLLoss, {}, _NO_LABELS),
    ("kl", nn.KLDivLoss, torch.nn.KLDivLoss, {}, _EMPTY),
]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_empty_batch_sum_is_zero_mean_is_nan(case, reduction):
    """The sum of no terms is 0 and their mean NaN, as torch (fastnn's "sum" was NaN)."""
    _, ours, theirs, kw, target = case
    value = ours(reduction=reduction, **kw)(_EMPTY, target)
    expected = theirs(reduction=reduction, **_torch_kwargs(kw))(_t(_EMPTY), _t(target)).item()
    if reduction == "sum":
        assert value == 0.0 == expected
    else:
        assert math.isnan(value) and math.isnan(expected)


def test_gaussian_nll_empty_batch():
    assert nn.GaussianNLLLoss(reduction="sum")(_EMPTY, _EMPTY, np.ones((0, 3))) == 0.0
    assert math.isnan(nn.GaussianNLLLoss()(_EMPTY, _EMPTY, np.ones((0, 3))))


ZERO_D_CASES = [
    ("mse", nn.MSELoss, torch.nn.MSELoss, {}, 0.3, 1.0),
    ("l1", nn.L1Loss, torch.nn.L1Loss, {}, 0.3, 1.0),
    ("huber", nn.HuberLoss, torch.nn.HuberLoss, {"delta": 0.5}, 0.3, 1.0),
    ("smooth_l1", nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {"beta": 0.0}, 0.3, 1.0),
    ("bce", nn.BCELoss, torch.nn.BCELoss, {}, 0.3, 0.8),
    ("bce weight", nn.BCELoss, torch.nn.BCELoss, {"weight": 2.0}, 0.3, 0.8),
    ("bce logits", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {}, 0.3, 0.8),
    ("bce logits pos_weight", nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {"pos_weight": 2.0}, 0.3, 0.8),
    ("kl", nn.KLDivLoss, torch.nn.KLDivLoss, {}, -0.3, 0.8),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", ZERO_D_CASES, ids=[c[0] for c in ZERO_D_CASES])
def test_zero_d_prediction_matches_torch(case, reduction, dtype):
    """A 0-d prediction and target (torch's scalar tensors): the target stays 0-d, and the
    losses ("none") and gradients are 0-d arrays, not NumPy scalars."""
    _, ours, theirs, kw, pred, target = case
    _compare(ours(reduction=reduction, **kw), theirs(reduction=reduction, **_torch_kwargs(kw)),
             np.array(pred), np.array(target), reduction, dtype)


def test_zero_d_gaussian_nll_and_batchmean():
    value = nn.GaussianNLLLoss(reduction="none")(np.array(0.3), np.array(1.0), np.array(0.5))
    expected = torch.nn.GaussianNLLLoss(reduction="none")(_t(0.3), _t(1.0), _t(0.5))
    assert value.shape == () and abs(float(value) - expected.item()) < 1e-15
    # torch's batchmean of a 0-d input divides by 1
    ours = nn.KLDivLoss(reduction="batchmean")
    assert abs(ours(np.array(-0.3), np.array(0.8)) - torch.nn.KLDivLoss(reduction="batchmean")(
        _t(-0.3), _t(0.8)).item()) < 1e-15


@pytest.mark.parametrize("eps", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_every_target_ignored(reduction, weighted, eps):
    """torch: "mean" is NaN (0 / 0), "sum" 0, the gradient 0, with or without weights or smoothing."""
    rng = np.random.default_rng(11)
    logits, labels = rng.standard_normal((4, 3)), np.full(4, 2)
    kw = {"weight": np.array([0.5, 2.0, 1.0])} if weighted else {}
    ours = nn.CrossEntropyLoss(label_smoothing=eps, reduction=reduction, ignore_index=2, **kw)
    value = ours(logits, labels)
    tx = torch.tensor(logits, requires_grad=True)
    out = torch.nn.CrossEntropyLoss(ignore_index=2, label_smoothing=eps, reduction=reduction,
                                    **_torch_kwargs(kw))(tx, _t(labels))
    out.sum().backward()
    np.testing.assert_array_equal(value, out.detach().numpy())  # NaN == NaN here
    grad = ours.backward(np.ones(4)) if reduction == "none" else ours.backward()
    np.testing.assert_array_equal(grad, tx.grad.numpy())
    assert not grad.any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, -1, -7])
def test_cross_entropy_soft_targets_accept_a_negative_ignore_index(ignore_index, reduction):
    """torch refuses ignore_index >= 0 with probability targets and leaves a negative one unused
    (fastnn refused every value but -100)."""
    rng = np.random.default_rng(12)
    logits, soft = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), size=4)
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    _compare(nn.CrossEntropyLoss(**kw), torch.nn.CrossEntropyLoss(**kw), logits, soft, reduction, np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_soft_targets_refuse_a_class_ignore_index(reduction):
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point target"):
        torch.nn.CrossEntropyLoss(ignore_index=0)(torch.zeros(2, 3), torch.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"class-index targets only.*Received: ignore_index=0"):
        nn.CrossEntropyLoss(ignore_index=0, reduction=reduction)(np.zeros((2, 3)), np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_integer_label_dtypes(label_dtype, reduction):
    """Any integer dtype (torch takes int64 or uint8): the same loss as int64 labels."""
    rng = np.random.default_rng(13)
    logits, labels = rng.standard_normal((6, 4)), np.array([0, 3, 1, 2, 2, 0])
    weight = np.array([1.0, 0.5, 2.0, 1.5])
    for ours, theirs in [(nn.CrossEntropyLoss(label_smoothing=0.1, reduction=reduction, weight=weight),
                          torch.nn.CrossEntropyLoss(weight=_t(weight), label_smoothing=0.1, reduction=reduction)),
                         (nn.CrossEntropyLoss(reduction=reduction), torch.nn.CrossEntropyLoss(reduction=reduction)),
                         (nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction))]:
        value = ours(logits, labels.astype(label_dtype))
        tx = torch.tensor(logits, requires_grad=True)
        out = theirs(tx, _t(labels))
        out.sum().backward()
        np.testing.assert_allclose(value, out.detach().numpy(), rtol=1e-12)
        grad = ours.backward(np.ones(6)) if reduction == "none" else ours.backward()
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_out_of_range_labels_are_named(weighted, reduction):
    """torch: "Target 4 is out of bounds."; fastnn names the loss, the label, its index and
    ignore_index on every path (the fused one too), and a uint64 label past int64's range as
    given (not wrapped to a negative number)."""
    kw = {"weight": np.ones(4)} if weighted else {}
    logits = np.zeros((3, 4))
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        torch.nn.CrossEntropyLoss()(torch.zeros(3, 4), torch.tensor([0, 4, 1]))
    for bad, labels in [(4, np.array([0, 4, 1])), (-1, np.array([0, -1, 1])),
                        (2 ** 63 + 5, np.array([0, 2 ** 63 + 5, 1], dtype=np.uint64))]:
        for loss in (nn.CrossEntropyLoss(reduction=reduction, **kw), nn.NLLLoss(reduction=reduction, **kw)):
            name = type(loss).__name__
            with pytest.raises(ValueError, match=rf"{name}: target label {bad} at index 1 is outside \[0, 4\) "
                                                 r"\(and is not ignore_index=-100\)"):
                loss(logits, labels)
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: target label 7 at index 0 is outside \[0, 4\)"):
        nn.CrossEntropyLoss(reduction=reduction)(np.zeros(4), np.array(7))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: target label 9 at index 5 is outside \[0, 4\)"):
        nn.CrossEntropyLoss(reduction=reduction)(np.zeros((2, 4, 3)), np.array([[0, 1, 2], [0, 0, 9]]))


@pytest.mark.parametrize("smoothing", [-0.1, 1.5, float("nan")])
def test_label_smoothing_outside_unit_interval(smoothing):
    with pytest.raises(ValueError, match=rf"label_smoothing must be a finite number in \[0.0, 1.0\]. "
                                         rf"Received: label_smoothing={smoothing}"):
        nn.CrossEntropyLoss(label_smoothing=smoothing)


def test_bad_reduction_is_named():
    for cls in (nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss, nn.CrossEntropyLoss, nn.GaussianNLLLoss,
                nn.HuberLoss, nn.SmoothL1Loss, nn.NLLLoss, nn.KLDivLoss):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be one of .*got 'avg'"):
            cls(reduction="avg")
    with pytest.raises(ValueError, match="got 'batchmean'"):  # KLDivLoss's alone
        nn.MSELoss(reduction="batchmean")


def test_shape_mismatch_is_an_error_not_a_broadcast():
    """torch broadcasts a (N,) target against an (N, 1) prediction (N x N terms) with a warning;
    fastnn refuses, naming both shapes."""
    with pytest.warns(UserWarning, match="different to the input size"):
        torch.nn.MSELoss()(torch.zeros(3, 1), torch.zeros(3))
    for loss in (nn.MSELoss(), nn.L1Loss(reduction="none"), nn.HuberLoss(), nn.BCELoss(), nn.BCEWithLogitsLoss(),
                 nn.KLDivLoss(), nn.SmoothL1Loss()):
        with pytest.raises(ValueError, match=rf"{type(loss).__name__}: target shape \(3,\) differs from prediction "
                                             r"shape \(3, 1\) \(the target is not broadcast"):
            loss(np.full((3, 1), 0.5), np.full(3, 0.5))


def test_bce_ranges_as_torch():
    for prob, target, what in [([1.5, 0.5], [1.0, 0.0], "input"), ([np.nan, 0.5], [1.0, 0.0], "input"),
                               ([0.3, 0.5], [1.5, 0.0], "target")]:
        with pytest.raises(RuntimeError, match=f"all elements of {what} should be between 0 and 1"):
            torch.nn.BCELoss()(_t(prob), _t(target))
        ours_what, bad = ("prob", prob[0]) if what == "input" else ("target", target[0])
        for kw in ({}, {"reduction": "none"}, {"weight": [1.0, 2.0]}):
            with pytest.raises(ValueError, match=rf"{ours_what} must lie in \[0, 1\], got {bad} at flat index 0"):
                nn.BCELoss(**kw)(np.array(prob), np.array(target))
    # BCEWithLogits takes any target, as torch
    value = nn.BCEWithLogitsLoss()(np.zeros(2), np.array([1.5, -0.5]))
    assert abs(value - torch.nn.BCEWithLogitsLoss()(_t(np.zeros(2)), _t([1.5, -0.5])).item()) < 1e-15


def test_bce_log_clamp_matches_torch():
    """log(0) is clamped at -100: p = 0 with t = 1 costs exactly 100."""
    for dtype in DTYPES:
        p, t = np.array([0.0, 1.0, 0.0], dtype), np.array([1.0, 0.0, 0.5], dtype)
        for reduction in REDUCTIONS:
            value = nn.BCELoss(reduction=reduction)(p, t)
            expected = torch.nn.BCELoss(reduction=reduction)(torch.tensor(p), torch.tensor(t)).numpy()
            np.testing.assert_allclose(value, expected, rtol=1e-6)
        assert nn.BCELoss(reduction="sum")(p, t) == pytest.approx(250.0, rel=1e-6)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match=r"delta must be a finite number in \(0.0, inf\). Received: delta=0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match=r"beta must be a finite number in \[0.0, inf\). Received: beta=-1"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast to the prediction's shape "
                                         r"\(2, 3, 5\)"):
        nn.BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0])(np.zeros((2, 3, 5)), np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="weight has 3 entries but the logits have 4 classes"):
        nn.CrossEntropyLoss(weight=[1, 2, 3])(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(TypeError, match="log_target must be True or False. Received: log_target=1"):
        nn.KLDivLoss(log_target=1)


def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()


@pytest.mark.parametrize("case", ["gaussian number var", "gaussian var (4, 1, 6)", "kl negative target",
                                  "ce soft ignore_index -1", "mse 0-d", "ce empty sum"])
def test_new_behaviours_on_the_gpu(xp, case):
    """The same values and gradients on CuPy arrays (tests/fake_cupy.py or a real device) as on
    NumPy for the behaviours above."""
    rng = np.random.default_rng(19)
    m, t = rng.standard_normal((4, 3, 6)), rng.standard_normal((4, 3, 6))
    make, args, extra = {
        "gaussian number var": (lambda: nn.GaussianNLLLoss(reduction="sum"), (m, t), 0.7),
        "gaussian var (4, 1, 6)": (lambda: nn.GaussianNLLLoss(full=True), (m, t), rng.random((4, 1, 6)) + 0.1),
        "kl negative target": (lambda: nn.KLDivLoss(reduction="none"), (m, np.where(t < -1, t, np.abs(t))), None),
        "ce soft ignore_index -1": (lambda: nn.CrossEntropyLoss(ignore_index=-1), (
            m[:, 0], rng.dirichlet(np.ones(6), size=4)), None),
        "mse 0-d": (lambda: nn.MSELoss(reduction="none"), (np.array(0.3), np.array(1.0)), None),
        "ce empty sum": (lambda: nn.CrossEntropyLoss(reduction="sum"), (np.zeros((0, 3)), _NO_LABELS), None),
    }[case]
    extra = () if extra is None else (extra,)
    results = []
    for device in (np, xp):
        loss = make()
        on = (lambda a: a) if device is np else (lambda a: xp.asarray(a) if isinstance(a, np.ndarray) else a)
        value = loss(*(on(a) for a in args), *(on(e) for e in extra))
        grads = loss.backward(on(np.ones(np.shape(value)))) if loss.reduction == "none" else loss.backward()
        grads = grads if isinstance(grads, tuple) else (grads,)
        results.append((_host(value) if not isinstance(value, float) else value, [_host(g) for g in grads]))
    (v_cpu, g_cpu), (v_gpu, g_gpu) = results
    np.testing.assert_allclose(v_gpu, v_cpu, rtol=1e-12, equal_nan=True)
    for gg, gc in zip(g_gpu, g_cpu):
        assert gg.shape == gc.shape
        np.testing.assert_allclose(gg, gc, rtol=1e-12, atol=1e-15)
    if case == "kl negative target":
        assert np.isnan(v_gpu).any()
    if case == "ce empty sum":
        assert v_gpu == 0.0


def test_new_errors_on_the_gpu(xp):
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: target label 9223372036854775813 at index 1"):
        nn.CrossEntropyLoss()(xp.asarray(np.zeros((3, 4))), xp.asarray(np.array([0, 2 ** 63 + 5, 1], np.uint64)))
    with pytest.raises(ValueError, match=r"var must be non-negative. Received: var=-1.0"):
        nn.GaussianNLLLoss()(xp.asarray(np.zeros(3)), xp.asarray(np.zeros(3)), -1.0)


# ---- activations ---------------------------------------------------------------------------

SPECIAL = np.array([1e4, -1e4, np.inf, -np.inf, np.nan, -0.0, 0.0, 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 3.0,
                    -3.0, 19.9, 20.0, 20.1, -20.0, 30.0, -30.0, 88.7, -88.7, 89.0, -89.0, 709.0, -709.0, 710.0,
                    -745.0, 1e38, -1e38, 1e300, -1e300])

ACTIVATIONS = [
    ("sigmoid", nn.Sigmoid, torch.nn.Sigmoid, ()),
    ("tanh", nn.Tanh, torch.nn.Tanh, ()),
    ("relu", nn.ReLU, torch.nn.ReLU, ()),
    ("silu", nn.SiLU, torch.nn.SiLU, ()),
    ("leaky_relu", nn.LeakyReLU, torch.nn.LeakyReLU, ()),
    ("leaky_relu 0.2", nn.LeakyReLU, torch.nn.LeakyReLU, (0.2,)),
    ("leaky_relu 0", nn.LeakyReLU, torch.nn.LeakyReLU, (0.0,)),
    ("elu", nn.ELU, torch.nn.ELU, ()),
    ("elu 0.4", nn.ELU, torch.nn.ELU, (0.4,)),
    ("softplus", nn.Softplus, torch.nn.Softplus, ()),
    ("softplus 2, 5", nn.Softplus, torch.nn.Softplus, (2.0, 5.0)),
    ("softplus -1", nn.Softplus, torch.nn.Softplus, (-1.0,)),
    ("softplus 0.5, -3", nn.Softplus, torch.nn.Softplus, (0.5, -3.0)),
]


def _tol(op, dtype):
    """The project's per-op tolerances (tests/tolerances.py: float32 against the float64 truth)."""
    rtol, atol = TOLERANCES[op][np.dtype(dtype)]
    return dict(rtol=rtol, atol=atol)


def _as(values, dtype):
    """values as dtype holds them (overflow to inf, underflow to 0)."""
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def _activation_check(ours, theirs, x, dtype, op="activation", skip_nan_grad=False):
    """ours(x) and ours.backward(dy) in dtype against torch autograd in float64 on the same x;
    dy in [-1, 1], so the absolute tolerances hold for the gradients too."""
    x = _as(x, dtype)
    dy = np.random.default_rng(14).uniform(-1, 1, x.shape).astype(dtype)
    y = ours(x)
    dx = ours.backward(dy)
    assert y.dtype == dx.dtype == dtype and y.shape == dx.shape == x.shape
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = theirs(tx)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    np.testing.assert_allclose(y, _as(ty.detach().numpy(), dtype), **_tol(op, dtype), equal_nan=True)
    keep = ~np.isnan(x) if skip_nan_grad else np.ones(x.shape, bool)
    np.testing.assert_allclose(dx[keep], _as(tx.grad.numpy(), dtype)[keep], **_tol(op + "_backward", dtype),
                               equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_activation_extremes_match_torch(case, dtype):
    """±1e4, ±inf, NaN, ±0, tiny and overflowing inputs, and Softplus's threshold. ELU's
    gradient at NaN is left out: torch's own differs between its loops (dy from the scalar
    one, NaN from the vectorized one; fastnn passes dy on)."""
    name, ours, theirs, args = case
    _activation_check(ours(*args), theirs(*args), SPECIAL, dtype, skip_nan_grad=name.startswith("elu"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_activation_large_arrays_match_torch(case, dtype):
    _, ours, theirs, args = case
    x = np.random.default_rng(15).standard_normal((3, 100003)) * 30
    _activation_check(ours(*args), theirs(*args), x[:, ::2], dtype)  # strided too


@pytest.mark.parametrize("case", [c for c in ACTIVATIONS if c[0] in ("relu", "leaky_relu", "elu", "tanh", "silu")],
                         ids=lambda c: c[0])
def test_activation_sign_of_zero(case):
    _, ours, theirs, args = case
    x = np.array([-0.0, 0.0])
    np.testing.assert_array_equal(np.signbit(ours(*args)(x)), np.signbit(theirs(*args)(torch.tensor(x)).numpy()))


def _gelu_truth(x, approximate):
    """GELU and its derivative in float64 from forms without cancellation (torch's own GELU
    loses the negative tail to 1 + erf(x) and 1 + tanh(u) rounding, fastnn's does not)."""
    tx = torch.tensor(x, requires_grad=True)
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (tx + 0.044715 * tx ** 3)
        y = tx * torch.sigmoid(2 * u)  # = 0.5 x (1 + tanh u)
    else:
        y = 0.5 * tx * torch.special.erfc(-tx / math.sqrt(2))
    return tx, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_and_its_tail(approximate, dtype):
    """torch's GELU loses the negative tail to the rounding of 1 + erf(x / sqrt 2) (or 1 +
    tanh u), fastnn's does not: torch itself where its formula is accurate and at +-inf and NaN
    (GELU(inf) = inf, NaN at -inf, NaN gradients), the cancellation-free forms everywhere up to
    |x| = 1e4 (past the cube root of the largest float, x^3 overflows and the tanh form's
    gradient is NaN in torch's float32 and float64 alike, and fastnn's)."""
    rng = np.random.default_rng(16)
    ours, theirs = nn.GELU(approximate), torch.nn.GELU(approximate=approximate)
    _activation_check(ours, theirs, np.concatenate([rng.uniform(-2, 8, 20011), [np.inf, -np.inf, np.nan]]), dtype)
    x = np.concatenate([rng.standard_normal(20011) * 8, SPECIAL[np.abs(SPECIAL) <= 1e4]]).astype(dtype)
    dy = rng.uniform(-1, 1, x.shape).astype(dtype)
    y, dx = ours(x), ours.backward(dy)
    tx, ty = _gelu_truth(x.astype(np.float64), approximate)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    np.testing.assert_allclose(y, _as(ty.detach().numpy(), dtype), **_tol("activation", dtype))
    np.testing.assert_allclose(dx, _as(tx.grad.numpy(), dtype), **_tol("activation_backward", dtype))


def test_gelu_approximate_is_checked():
    with pytest.raises(ValueError, match=r"approximate must be 'none' or 'tanh'. Received: approximate='erf'"):
        nn.GELU("erf")
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        torch.nn.GELU(approximate="erf")(torch.zeros(1))  # torch checks at the first call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, tcls", [(nn.Softmax, torch.nn.Softmax), (nn.LogSoftmax, torch.nn.LogSoftmax)])
def test_softmax_dims_match_torch(cls, tcls, dtype):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((3, 4, 5)) * 5
    op = "softmax" if cls is nn.Softmax else "log_softmax"
    for dim in (0, 1, 2, -1, -2, -3):
        _activation_check(cls(dim=dim), tcls(dim=dim), x, dtype, op)
        _activation_check(cls(dim), tcls(dim), x, dtype, op)  # positional: torch's dim, fastnn's axis
    special = np.array([[1e4, -1e4, 0.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0], [-np.inf, -np.inf, 0.0],
                        [np.nan, 0.0, 1.0], [1e38, 1e38, -1e38], [-0.0, 0.0, 0.0], [-np.inf, -np.inf, -np.inf]])
    _activation_check(cls(dim=1), tcls(dim=1), special, dtype, op)
    _activation_check(cls(dim=0), tcls(dim=0), special.T.copy(), dtype, op)
    # large: 2000 rows of 97 (the tolerances' row length), along the last axis and along axis 0
    big = rng.standard_normal((2000, 97)) * 10
    _activation_check(cls(dim=1), tcls(dim=1), big, dtype, op)
    _activation_check(cls(dim=0), tcls(dim=0), big[:97].T.copy(), dtype, op)


@pytest.mark.parametrize("cls, tcls", [(nn.Softmax, torch.nn.Softmax), (nn.LogSoftmax, torch.nn.LogSoftmax)])
def test_softmax_of_a_0d_input(cls, tcls):
    """A 0-d input is one class along dim 0 or -1: softmax 1, log_softmax 0, gradient 0 (torch's)."""
    for dim in (0, -1):
        for dtype in DTYPES:
            _activation_check(cls(dim=dim), tcls(dim=dim), np.array(2.5), dtype,
                              "softmax" if cls is nn.Softmax else "log_softmax")
    with pytest.raises(IndexError, match="Dimension out of range"):
        tcls(dim=1)(torch.tensor(2.5))
    with pytest.raises(ValueError, match=r"axis 1 is out of range for an input of shape \(\)"):
        cls(dim=1)(np.array(2.5))


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
def test_softmax_dim_none_is_the_last_axis():
    """fastnn's Softmax() / Softmax(dim=None) works along the last axis; torch's deprecated
    implicit choice takes axis 0 of a 3-D input (and 1 of a 4-D one), so ported code names dim."""
    x = np.random.default_rng(18).standard_normal((2, 3, 4))
    for layer in (nn.Softmax(), nn.Softmax(dim=None)):
        np.testing.assert_allclose(layer(x), torch.softmax(torch.tensor(x), dim=-1).numpy(), rtol=1e-13)
    implicit = torch.nn.Softmax()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(implicit, torch.softmax(torch.tensor(x), dim=0).numpy())
    assert not np.allclose(nn.Softmax()(x), implicit)
    with pytest.raises(ValueError, match="give the axis once: axis=0 and dim=1 differ"):
        nn.Softmax(0, dim=1)


def test_activation_constructor_arguments_as_torch():
    """PyTorch's argument names and defaults; a bad value names itself."""
    assert nn.LeakyReLU().negative_slope == torch.nn.LeakyReLU().negative_slope == 0.01
    assert nn.ELU().alpha == torch.nn.ELU().alpha == 1.0
    assert (nn.Softplus().beta, nn.Softplus().threshold) == (torch.nn.Softplus().beta, torch.nn.Softplus().threshold)
    assert nn.GELU().approximate == torch.nn.GELU().approximate == "none"
    assert nn.LeakyReLU(negative_slope=0.3).get_config() == {"negative_slope": 0.3}
    assert nn.Softplus(beta=2, threshold=10).get_config() == {"beta": 2.0, "threshold": 10.0}
    with pytest.raises(ValueError, match="Received: negative_slope=inf"):
        nn.LeakyReLU(float("inf"))
    with pytest.raises(TypeError, match="alpha must be a real number. Received: alpha='1'"):
        nn.ELU("1")
    with pytest.raises(ValueError, match="beta must be non-zero. Received: beta=0.0"):
        nn.Softplus(beta=0)
    with pytest.raises(TypeError, match="axis must be an int. Received: axis=1.5"):
        nn.Softmax(dim=1.5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ours, theirs", [
    (lambda r: nn.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r)),
    (lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0), lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0)),
])
def test_l1_gradient_at_nan_is_zero_as_torch(ours, theirs, reduction, dtype):
    """torch.sign(NaN) is 0, so torch's L1 gradient is 0 where pred - target is NaN (the loss
    itself is NaN); a tie gives 0 too. Both the native kernel ("mean") and the array path."""
    pred = np.array([np.nan, 1.0, 2.0, 0.5, -1.0], dtype)
    target = np.array([0.0, 1.0, 3.0, np.nan, -2.0], dtype)
    loss = ours(reduction)
    value = loss(pred, target)
    tp = torch.tensor(pred.astype(np.float64), requires_grad=True)
    out = theirs(reduction)(tp, _t(target))
    dy = np.arange(1.0, 6.0) if reduction == "none" else None
    (out * torch.tensor(dy)).sum().backward() if dy is not None else out.backward()
    np.testing.assert_array_equal(np.isnan(value), np.isnan(out.detach().numpy()))
    grad = loss.backward(dy.astype(dtype)) if dy is not None else loss.backward()
    assert grad.dtype == dtype and not np.isnan(grad).any()
    np.testing.assert_allclose(grad, tp.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, theirs", [
    (lambda: nn.LeakyReLU(-0.5), lambda z: torch.nn.functional.leaky_relu(z, -0.5)),
    (lambda: nn.LeakyReLU(0.1), lambda z: torch.nn.functional.leaky_relu(z, 0.1)),
    (lambda: nn.ELU(-1.0), lambda z: torch.nn.functional.elu(z, -1.0)),
    (lambda: nn.ELU(1.0), lambda z: torch.nn.functional.elu(z, 1.0)),
])
def test_signed_zeros_through_leaky_relu_and_elu_as_torch(ours, theirs, dtype):
    """torch's LeakyReLU sends zeros through the slope (x > 0 ? x : slope x) and ELU passes them as
    they are: with a negative slope or alpha the sign of the zero shows (and is kept bitwise)."""
    x = np.array([-0.0, 0.0, -2.0, 3.0, np.nan, -np.inf], dtype)
    y = ours()(x)
    want = theirs(torch.tensor(x)).numpy()
    assert y.dtype == dtype
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))
    np.testing.assert_allclose(y, want, **TOL[dtype])
