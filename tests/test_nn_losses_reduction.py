"""reduction="none" for every loss, backward(dy) / backward(c), and the losses composed in
float64 array code (HuberLoss, SmoothL1Loss, NLLLoss, KLDivLoss): values and gradients against
PyTorch (the oracle, both dtypes), plus errors."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

torch = pytest.importorskip("torch")
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-13)}


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((6, 5)).astype(dtype)
    t = rng.standard_normal((6, 5)).astype(dtype)
    probs = rng.random((6, 5)).astype(dtype)
    soft = rng.random((6, 5))
    soft = (soft / soft.sum(axis=1, keepdims=True)).astype(dtype)
    labels = rng.integers(0, 5, 6)
    labels[2] = 3
    w = rng.random(5) + 0.5
    return rng, p, t, probs, soft, labels, w


def _cases(dtype):
    rng, p, t, probs, soft, labels, w = _data(dtype)
    sig = (1 / (1 + np.exp(-p))).astype(dtype)
    tw = torch.tensor(w)
    logp = torch.log_softmax(torch.tensor(p.astype(np.float64)), 1).numpy().astype(dtype)
    p4 = rng.standard_normal((2, 5, 3, 4)).astype(dtype)
    y4 = rng.integers(0, 5, (2, 3, 4))
    logp4 = torch.log_softmax(torch.tensor(p4.astype(np.float64)), 1).numpy().astype(dtype)
    kl_t = soft.copy()
    kl_t[0, 0] = 0
    return [
        ("mse", lambda r: nn.MSELoss(reduction=r), lambda r: torch.nn.MSELoss(reduction=r), p, t),
        ("l1", lambda r: nn.L1Loss(reduction=r), lambda r: torch.nn.L1Loss(reduction=r), p, t),
        ("huber", lambda r: nn.HuberLoss(reduction=r, delta=0.7), lambda r: torch.nn.HuberLoss(reduction=r, delta=0.7),
         p, t),
        ("smooth_l1", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.7),
         lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.7), p, t),
        ("smooth_l1 beta 0", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0),
         lambda r: torch.nn.SmoothL1Loss(reduction=r, beta=0.0), p, t),
        ("bce", lambda r: nn.BCELoss(reduction=r), lambda r: torch.nn.BCELoss(reduction=r), sig, probs),
        ("bce weight", lambda r: nn.BCELoss(weight=w, reduction=r), lambda r: torch.nn.BCELoss(weight=tw, reduction=r),
         sig, probs),
        ("bce logits pos_weight", lambda r: nn.BCEWithLogitsLoss(pos_weight=w, weight=w[::-1].copy(), reduction=r),
         lambda r: torch.nn.BCEWithLogitsLoss(pos_weight=tw, weight=torch.tensor(w[::-1].copy()), reduction=r),
         p, probs),
        ("ce", lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: torch.nn.CrossEntropyLoss(reduction=r), p, labels),
        ("ce weight ignore smoothing", lambda r: nn.CrossEntropyLoss(label_smoothing=0.1, reduction=r, weight=w, ignore_index=3),
         lambda r: torch.nn.CrossEntropyLoss(weight=tw, ignore_index=3, label_smoothing=0.1, reduction=r), p, labels),
        ("ce soft weight smoothing", lambda r: nn.CrossEntropyLoss(label_smoothing=0.2, reduction=r, weight=w),
         lambda r: torch.nn.CrossEntropyLoss(weight=tw, label_smoothing=0.2, reduction=r), p, soft),
        ("ce unbatched", lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: torch.nn.CrossEntropyLoss(reduction=r),
         p[0], np.array(2)),
        ("ce K-dim", lambda r: nn.CrossEntropyLoss(reduction=r), lambda r: torch.nn.CrossEntropyLoss(reduction=r),
         p4, y4),
        ("nll weight ignore", lambda r: nn.NLLLoss(weight=w, ignore_index=3, reduction=r),
         lambda r: torch.nn.NLLLoss(weight=tw, ignore_index=3, reduction=r), logp, labels),
        ("nll K-dim", lambda r: nn.NLLLoss(reduction=r), lambda r: torch.nn.NLLLoss(reduction=r), logp4, y4),
        ("kl", lambda r: nn.KLDivLoss(reduction=r), lambda r: torch.nn.KLDivLoss(reduction=r), logp, kl_t),
        ("kl log_target", lambda r: nn.KLDivLoss(reduction=r, log_target=True),
         lambda r: torch.nn.KLDivLoss(reduction=r, log_target=True), logp, np.log(soft)),
    ]


def _torch_target(target):
    t = torch.tensor(target)
    return t.double() if t.is_floating_point() else t


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # torch's KLDivLoss 'mean' warning
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_against_torch(dtype, reduction):
    rng = np.random.default_rng(1)
    for name, ours, theirs, pred, target in _cases(dtype):
        if reduction == "batchmean" and not name.startswith("kl"):
            continue
        loss = ours(reduction)
        value = loss(pred, target)
        tp = torch.tensor(pred.astype(np.float64), requires_grad=True)
        tv = theirs(reduction)(tp, _torch_target(target))
        if reduction == "none":
            assert isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == tuple(tv.shape), name
            dy = rng.standard_normal(value.shape)
            grad = loss.backward(dy)
            tv.backward(torch.tensor(dy))
        else:
            assert isinstance(value, float), name
            grad = loss.backward()
            tv.backward()
        np.testing.assert_allclose(value, tv.detach().numpy(), **TOL[dtype], err_msg=name)
        assert grad.dtype == dtype and grad.shape == pred.shape, name
        np.testing.assert_allclose(grad, tp.grad.numpy(), **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("var_shape", [(6, 3), (6,), (6, 1)])  # own, shared (PyTorch's two forms)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gaussian_nll(reduction, var_shape):
    rng = np.random.default_rng(2)
    m, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    v = rng.random(var_shape) + 0.1
    v.reshape(-1)[0] = 1e-9  # clamped at eps
    loss = nn.GaussianNLLLoss(full=True, reduction=reduction)
    value = loss(m, t, v)
    tm, tvar = torch.tensor(m, requires_grad=True), torch.tensor(v, requires_grad=True)
    tv = torch.nn.GaussianNLLLoss(full=True, reduction=reduction)(tm, torch.tensor(t), tvar)
    if reduction == "none":
        dy = rng.standard_normal(value.shape)
        dm, dv = loss.backward(dy)
        tv.backward(torch.tensor(dy))
    else:
        dm, dv = loss.backward()
        tv.backward()
    np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(dm, tm.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert dv.shape == var_shape
    np.testing.assert_allclose(dv, tvar.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gaussian_nll_var_shape_error():
    with pytest.raises(ValueError, match=r"var of shape \(6, 2\) does not fit mean \(6, 3\)"):
        nn.GaussianNLLLoss()(np.zeros((6, 3)), np.zeros((6, 3)), np.ones((6, 2)))


def test_backward_scaled_by_a_number():
    p, t = np.ones((2, 3)), np.zeros((2, 3))
    loss = nn.MSELoss()
    loss(p, t)
    np.testing.assert_allclose(loss.backward(0.5), 0.5 * loss.backward())
    np.testing.assert_allclose(loss.backward(np.float64(2.0)), 2 * loss.backward())
    with pytest.raises(ValueError, match="dy must be one number"):
        loss.backward(np.ones(3))


def test_none_needs_dy_of_the_losses_shape():
    loss = nn.CrossEntropyLoss(reduction="none")
    out = loss(np.zeros((4, 3)), np.array([0, 1, 2, 0]))
    assert out.shape == (4,)
    np.testing.assert_allclose(out, np.log(3))
    with pytest.raises(ValueError, match=r"reduction='none' the loss is an array of shape \(4,\): pass dy"):
        loss.backward()
    with pytest.raises(ValueError, match=r"dy must have the losses' shape \(4,\), got \(4, 3\)"):
        loss.backward(np.ones((4, 3)))
    # the mean of the per-sample losses has the "mean" loss's gradient
    mean = nn.CrossEntropyLoss()
    x = np.random.default_rng(3).standard_normal((4, 3))
    y = np.array([0, 2, 1, 1])
    assert loss(x, y).mean() == pytest.approx(mean(x, y), rel=1e-12)
    np.testing.assert_allclose(loss.backward(np.full(4, 0.25)), mean.backward(), rtol=1e-12, atol=1e-15)


def test_errors():
    with pytest.raises(ValueError, match="Received: delta=0"):
        nn.HuberLoss(delta=0)
    with pytest.raises(ValueError, match="Received: beta=-1"):
        nn.SmoothL1Loss(beta=-1)
    with pytest.raises(TypeError, match="class indices"):
        nn.NLLLoss()(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target label 5 at index 1 is outside"):
        nn.NLLLoss()(np.zeros((2, 3)), np.array([0, 5]))
    with pytest.raises(ValueError, match="weight has 2 entries"):
        nn.NLLLoss(weight=[1, 2])(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(TypeError, match="log_target must be True or False"):
        nn.KLDivLoss(log_target=1)
    with pytest.raises(ValueError, match="differs from prediction shape"):
        nn.HuberLoss()(np.zeros((2, 3)), np.zeros((3, 2)))


def test_nll_all_ignored_is_nan_as_pytorch():
    loss = nn.NLLLoss(ignore_index=1)
    assert np.isnan(loss(np.zeros((2, 3)), np.array([1, 1])))
    assert not loss.backward().any()
    assert nn.NLLLoss(ignore_index=1, reduction="sum")(np.zeros((2, 3)), np.array([1, 1])) == 0.0


def test_fit_refuses_an_unreduced_loss():
    model = nn.Sequential(nn.Linear(3, 2))
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="reduction='none'"):
        fastnn.fit(model, "sgd", nn.MSELoss(reduction="none"), (x, y), epochs=1, metrics=(), progress=False)


def test_composed_losses_train_a_model():
    """HuberLoss and the NLLLoss + LogSoftmax pair drive fit like the built-in losses."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, :1] * 2 - x[:, 1:2]).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 1))
    opt = fastnn.optim.Adam(model.parameters(), lr=0.05)
    loss = nn.HuberLoss()
    first = None
    for _ in range(100):
        opt.zero_grad()
        value = loss(model(x), y)
        first = value if first is None else first
        model.backward(loss.backward())
        opt.step()
    assert value < 0.05 * first
