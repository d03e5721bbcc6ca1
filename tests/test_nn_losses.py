"""Loss classes: values against direct formulas (and torch as an optional oracle), and
``backward()`` against float64 central differences of the returned loss."""
import numpy as np
import pytest

from fastnn import nn
from gradcheck import assert_gradients


def _check_loss_gradient(loss, pred, target):
    def f(p):
        return loss(p, target)

    assert_gradients(f, [pred], lambda dy: [dy * loss.backward()])


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_int_labels(rng, smoothing):
    logits = rng.standard_normal((5, 4)) * 2
    target = rng.integers(0, 4, 5)
    loss = nn.CrossEntropyLoss(label_smoothing=smoothing)
    value = loss(logits, target)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    soft = np.eye(4)[target] * (1 - smoothing) + smoothing / 4
    assert abs(value - (-(soft * logp).sum(axis=1).mean())) < 1e-12
    assert isinstance(value, float)
    _check_loss_gradient(loss, logits, target)
    # any integer dtype is accepted for the class indices
    assert abs(loss(logits, target.astype(np.int32)) - value) < 1e-15


def test_cross_entropy_soft_labels(rng):
    logits = rng.standard_normal((4, 3))
    target = rng.dirichlet(np.ones(3), size=4)
    _check_loss_gradient(nn.CrossEntropyLoss(), logits, target)


def test_cross_entropy_shape_errors(rng):
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"shape \(4,\), got \(3,\)"):
        loss(rng.standard_normal((4, 3)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"unbatched logits \(4,\) the target must be a 0-d class index"):
        loss(rng.standard_normal(4), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="Received: label_smoothing=1.5"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="before"):
        nn.CrossEntropyLoss().backward()


@pytest.mark.parametrize("cls, op, formula", [
    (nn.MSELoss, "mse_loss", lambda p, t: np.mean((p - t) ** 2)),
    (nn.L1Loss, "l1_loss", lambda p, t: np.mean(np.abs(p - t))),
    (nn.BCEWithLogitsLoss, "bce_with_logits_loss",
     lambda z, t: np.mean(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0) - z * t)),
])
def test_regression_losses(rng, cls, op, formula):
    pred = rng.standard_normal((4, 3))
    target = rng.uniform(0, 1, (4, 3))
    loss = cls()
    assert abs(loss(pred, target) - formula(pred, target)) < 1e-12
    _check_loss_gradient(loss, pred, target)
    with pytest.raises(ValueError, match="target shape"):
        loss(pred, target[:2])


def test_bce_loss(rng):
    prob = rng.uniform(0.05, 0.95, (3, 4))
    target = rng.integers(0, 2, (3, 4))  # integer targets are cast to the prediction's dtype
    loss = nn.BCELoss()
    want = -np.mean(target * np.log(prob) + (1 - target) * np.log(1 - prob))
    assert abs(loss(prob, target) - want) < 1e-12
    _check_loss_gradient(loss, prob, target.astype(np.float64))


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll(rng, full):
    mean = rng.standard_normal((4, 2))
    target = rng.standard_normal((4, 2))
    var = rng.uniform(0.2, 2.0, (4, 2))
    loss = nn.GaussianNLLLoss(full=full)
    want = np.mean(0.5 * (np.log(var) + (target - mean) ** 2 / var)) + (0.5 * np.log(2 * np.pi) if full else 0)
    assert abs(loss(mean, target, var) - want) < 1e-12
    assert_gradients(lambda m, v: loss(m, target, v), [mean, var], lambda dy: [dy * g for g in loss.backward()])


def test_losses_match_torch(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((6, 5))
    target = rng.integers(0, 5, 6)
    ours = nn.CrossEntropyLoss(label_smoothing=0.2)(logits, target)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.2)(torch.tensor(logits), torch.tensor(target)).item()
    assert abs(ours - theirs) < 1e-12
    prob = rng.uniform(0, 1, (6, 5))
    prob[0, 0] = 0.0  # the log clamp at -100
    t = rng.uniform(0, 1, (6, 5))
    assert abs(nn.BCELoss()(prob, t) - torch.nn.BCELoss()(torch.tensor(prob), torch.tensor(t)).item()) < 1e-10
    z = rng.standard_normal((6, 5)) * 10
    assert abs(nn.BCEWithLogitsLoss()(z, t)
               - torch.nn.BCEWithLogitsLoss()(torch.tensor(z), torch.tensor(t)).item()) < 1e-12


def _reduction_cases(rng):
    """(fastnn loss class, torch class name, kwargs, pred, target) for every loss class."""
    logits, labels = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    prob, t = rng.uniform(0.05, 0.95, (6, 5)), rng.uniform(0, 1, (6, 5))
    x, y = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    return [
        (nn.CrossEntropyLoss, "CrossEntropyLoss", {"label_smoothing": 0.1}, logits, labels),
        (nn.CrossEntropyLoss, "CrossEntropyLoss", {}, logits, rng.dirichlet(np.ones(5), size=6)),
        (nn.MSELoss, "MSELoss", {}, x, y),
        (nn.L1Loss, "L1Loss", {}, x, y),
        (nn.BCELoss, "BCELoss", {}, prob, t),
        (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", {}, x * 3, t),
    ]


def test_sum_reduction_is_the_mean_times_the_terms(rng):
    for cls, _, kw, pred, target in _reduction_cases(rng):
        mean_loss, sum_loss = cls(**kw), cls(reduction="sum", **kw)
        terms = pred.shape[0] if cls is nn.CrossEntropyLoss else pred.size
        assert abs(sum_loss(pred, target) - terms * mean_loss(pred, target)) < 1e-12 * terms
        np.testing.assert_allclose(sum_loss.backward(), terms * mean_loss.backward(), rtol=1e-14)
        _check_loss_gradient(sum_loss, pred, target)
        assert sum_loss.get_config()["reduction"] == "sum" and "reduction='sum'" in repr(sum_loss)
    mean, target, var = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.uniform(0.2, 2, (4, 3))
    g = nn.GaussianNLLLoss(full=True, reduction="sum")
    want = np.sum(0.5 * (np.log(var) + (target - mean) ** 2 / var) + 0.5 * np.log(2 * np.pi))
    assert abs(g(mean, target, var) - want) < 1e-11
    assert_gradients(lambda m, v: g(m, target, v), [mean, var], lambda dy: [dy * d for d in g.backward()])


def test_reduction_matches_torch(rng):
    torch = pytest.importorskip("torch")
    for cls, tname, kw, pred, target in _reduction_cases(rng):
        for reduction in ("mean", "sum"):
            ours = cls(reduction=reduction, **kw)
            value = ours(pred, target)
            tp = torch.tensor(pred, requires_grad=True)
            theirs = getattr(torch.nn, tname)(reduction=reduction, **kw)(tp, torch.tensor(target))
            theirs.backward()
            assert abs(value - theirs.item()) < 1e-10 * max(1.0, abs(value)), (tname, reduction)
            np.testing.assert_allclose(ours.backward(), tp.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_reduction_is_checked():
    for cls in (nn.MSELoss, nn.L1Loss, nn.BCELoss, nn.BCEWithLogitsLoss, nn.CrossEntropyLoss, nn.GaussianNLLLoss,
                nn.HuberLoss, nn.SmoothL1Loss, nn.NLLLoss):
        with pytest.raises(ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"):
            cls(reduction="avg")
    with pytest.raises(ValueError, match=r"\('mean', 'batchmean', 'sum', 'none'\), got 'avg'"):
        nn.KLDivLoss(reduction="avg")


def _weighted_ce_formula(logits, labels, weight, ignore_index, eps, reduction):
    """PyTorch's documented formula for class weights, ignore_index and label smoothing."""
    n, k = logits.shape
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    kept = labels != ignore_index
    y = np.where(kept, labels, 0)
    w = np.ones(k) if weight is None else weight
    per = -(1 - eps) * w[y] * logp[np.arange(n), y] - eps / k * (w * logp).sum(axis=1)
    total = (per * kept).sum()
    return total if reduction == "sum" else total / (w[y] * kept).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weighted, ignore", [(True, False), (False, True), (True, True)])
def test_cross_entropy_class_weights_and_ignore_index(rng, reduction, eps, weighted, ignore):
    logits = rng.standard_normal((7, 4)) * 2
    labels = rng.integers(0, 4, 7)
    if ignore:
        labels[[1, 4]] = 3 if weighted else -100  # ignore a real class too (ignore_index=3)
    ignore_index = 3 if (ignore and weighted) else -100
    weight = np.array([0.5, 2.0, 1.0, 3.0]) if weighted else None
    loss = nn.CrossEntropyLoss(label_smoothing=eps, reduction=reduction, weight=weight, ignore_index=ignore_index)
    value = loss(logits, labels)
    want = _weighted_ce_formula(logits, labels, weight, ignore_index, eps, reduction)
    assert abs(value - want) < 1e-12 * max(1.0, abs(want))
    _check_loss_gradient(loss, logits, labels)
    ignored_rows = labels == ignore_index
    assert ignored_rows.any() == ignore
    assert np.all(loss.backward()[ignored_rows] == 0)  # an ignored sample gets no gradient


def test_cross_entropy_weights_match_torch(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((9, 5)) * 3
    labels = rng.integers(0, 5, 9)
    labels[2] = -100
    weight = rng.uniform(0.2, 3.0, 5)
    soft = rng.dirichlet(np.ones(5), size=9)
    cases = [({"weight": weight}, labels), ({"weight": weight, "label_smoothing": 0.15}, labels),
             ({"label_smoothing": 0.15}, labels), ({"ignore_index": 4, "label_smoothing": 0.1}, labels % 5),
             ({"weight": weight}, soft), ({"weight": weight, "label_smoothing": 0.3}, soft)]
    for kw, target in cases:
        for reduction in ("mean", "sum"):
            for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-5)):
                ours = nn.CrossEntropyLoss(reduction=reduction, **kw)
                x = logits.astype(dtype)
                t = target.astype(dtype) if target.dtype.kind == "f" else target
                value = ours(x, t)
                tw = {k: torch.tensor(v.astype(dtype)) if k == "weight" else v for k, v in kw.items()}
                tx = torch.tensor(x, requires_grad=True)
                theirs = torch.nn.CrossEntropyLoss(reduction=reduction, **tw)(
                    tx, torch.tensor(t) if t.dtype.kind == "f" else torch.tensor(t).long())
                theirs.backward()
                assert abs(value - theirs.item()) < tol * max(1.0, abs(value)), (kw, reduction, dtype)
                np.testing.assert_allclose(ours.backward(), tx.grad.numpy(), rtol=tol, atol=tol * 1e-2)
                assert ours.backward().dtype == dtype


def test_cross_entropy_every_sample_ignored(rng):
    logits = rng.standard_normal((3, 4))
    labels = np.full(3, -100)
    mean = nn.CrossEntropyLoss()
    assert np.isnan(mean(logits, labels))  # 0 / 0, as PyTorch
    assert np.all(mean.backward() == 0)
    total = nn.CrossEntropyLoss(reduction="sum")
    assert total(logits, labels) == 0.0 and np.all(total.backward() == 0)


def test_cross_entropy_weight_and_ignore_errors(rng):
    logits = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="weight has 2 entries but the logits have 3 classes"):
        nn.CrossEntropyLoss(weight=[1.0, 2.0])(logits, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"1-D array .* shape \(2, 2\)"):
        nn.CrossEntropyLoss(weight=np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        nn.CrossEntropyLoss(weight=[1.0, np.inf, 1.0])
    with pytest.raises(TypeError, match="ignore_index must be an int. Received: ignore_index=1.5"):
        nn.CrossEntropyLoss(ignore_index=1.5)
    with pytest.raises(ValueError, match=r"target label 7 at index 2 is outside \[0, 3\)"):
        nn.CrossEntropyLoss(weight=[1, 1, 1])(logits, np.array([0, 1, 7, -100]))
    with pytest.raises(ValueError, match="class-index targets only"):
        nn.CrossEntropyLoss(ignore_index=0)(logits, rng.dirichlet(np.ones(3), size=4))
    loss = nn.CrossEntropyLoss(weight=[1, 2, 3], ignore_index=0)
    assert loss.get_config() == {"label_smoothing": 0.0, "reduction": "mean", "weight": [1.0, 2.0, 3.0],
                                 "ignore_index": 0}
    again = nn.CrossEntropyLoss(**loss.get_config())
    labels = np.array([0, 1, 2, 1])
    assert again(logits, labels) == loss(logits, labels)


def test_bce_weights_match_torch(rng):
    torch = pytest.importorskip("torch")
    prob = rng.uniform(0.02, 0.98, (6, 4))
    prob[0, 0], prob[1, 1] = 0.0, 1.0  # the log clamp at -100 (and PyTorch's gradient clamp)
    z = rng.standard_normal((6, 4)) * 4
    t = rng.uniform(0, 1, (6, 4))
    weight = rng.uniform(0.1, 2.0, (6, 4))
    row_weight = rng.uniform(0.1, 2.0, (6, 1))
    pos_weight = rng.uniform(0.5, 3.0, 4)
    cases = [(nn.BCELoss, "BCELoss", {"weight": weight}, prob), (nn.BCELoss, "BCELoss", {"weight": row_weight}, prob),
             (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", {"weight": weight}, z),
             (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", {"pos_weight": pos_weight}, z),
             (nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", {"pos_weight": pos_weight, "weight": row_weight}, z)]
    for cls, tname, kw, pred in cases:
        for reduction in ("mean", "sum"):
            for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-5)):
                ours = cls(reduction=reduction, **kw)
                p = pred.astype(dtype)
                value = ours(p, t.astype(dtype))
                tp = torch.tensor(p, requires_grad=True)
                theirs = getattr(torch.nn, tname)(reduction=reduction, **{k: torch.tensor(v.astype(dtype))
                                                                          for k, v in kw.items()})
                out = theirs(tp, torch.tensor(t.astype(dtype)))
                out.backward()
                assert abs(value - out.item()) < tol * max(1.0, abs(value)), (tname, kw.keys(), reduction, dtype)
                np.testing.assert_allclose(ours.backward(), tp.grad.numpy(), rtol=tol, atol=tol * 1e-2)
                assert ours.backward().dtype == dtype


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_weights_formula_and_gradients(rng, reduction):
    z = rng.standard_normal((5, 3)) * 3
    t = rng.uniform(0, 1, (5, 3))
    pw, w = np.array([0.5, 1.0, 4.0]), rng.uniform(0.2, 2.0, (5, 1))
    loss = nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    sig = 1 / (1 + np.exp(-z))
    terms = -w * (pw * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    want = terms.sum() if reduction == "sum" else terms.mean()
    assert abs(loss(z, t) - want) < 1e-12 * max(1.0, abs(want))
    _check_loss_gradient(loss, z, t)
    prob = rng.uniform(0.05, 0.95, (5, 3))
    bce = nn.BCELoss(weight=w, reduction=reduction)
    terms = -w * (t * np.log(prob) + (1 - t) * np.log(1 - prob))
    want = terms.sum() if reduction == "sum" else terms.mean()
    assert abs(bce(prob, t) - want) < 1e-12 * max(1.0, abs(want))
    _check_loss_gradient(bce, prob, t)
    # no weights: the fused op itself, unchanged
    assert nn.BCELoss()(prob, t) == nn.BCELoss(reduction="mean")(prob, t)


def test_bce_weight_errors(rng):
    p, t = rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(0, 1, (4, 3))
    with pytest.raises(ValueError, match=r"weight of shape \(2,\) does not broadcast to the prediction's shape \(4, 3\)"):
        nn.BCELoss(weight=[1.0, 2.0])(p, t)
    with pytest.raises(ValueError, match=r"pos_weight of shape \(4,\) does not broadcast"):
        nn.BCEWithLogitsLoss(pos_weight=np.ones(4))(p, t)
    with pytest.raises(ValueError, match="finite"):
        nn.BCEWithLogitsLoss(pos_weight=[np.nan, 1, 1])
    with pytest.raises(ValueError, match="non-empty array of real numbers"):
        nn.BCELoss(weight="sum")
    with pytest.raises(ValueError, match=r"\[0, 1\]|outside"):
        nn.BCELoss(weight=np.ones(3))(p * 2, t)
    loss = nn.BCEWithLogitsLoss(pos_weight=[1, 2, 3], reduction="sum")
    assert loss.get_config() == {"reduction": "sum", "pos_weight": [1.0, 2.0, 3.0]}
    assert nn.BCEWithLogitsLoss(**loss.get_config())(p, t) == loss(p, t)


def test_cross_entropy_k_dimensional_and_unbatched_match_torch(rng):
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((3, 4, 5, 2)) * 2
    labels = rng.integers(0, 4, (3, 5, 2))
    labels[0, 1, 1] = -100
    soft = np.moveaxis(rng.dirichlet(np.ones(4), size=(3, 5, 2)), -1, 1)
    cases = [({}, labels), ({"label_smoothing": 0.2, "weight": np.array([1.0, 2.0, 0.5, 1.5])}, labels),
             ({"reduction": "sum"}, labels), ({}, soft), ({"weight": np.array([1.0, 2.0, 0.5, 1.5])}, soft)]
    for kw, target in cases:
        ours = nn.CrossEntropyLoss(**kw)
        value = ours(logits, target)
        tx = torch.tensor(logits, requires_grad=True)
        tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
        out = torch.nn.CrossEntropyLoss(**tkw)(tx, torch.tensor(target))
        out.backward()
        assert abs(value - out.item()) < 1e-10, kw
        grad = ours.backward()
        assert grad.shape == logits.shape and grad.flags.c_contiguous
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
    one = rng.standard_normal(4)
    ours = nn.CrossEntropyLoss(label_smoothing=0.1)
    value = ours(one, np.array(2))
    tx = torch.tensor(one, requires_grad=True)
    out = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(tx, torch.tensor(2))
    out.backward()
    assert abs(value - out.item()) < 1e-12
    np.testing.assert_allclose(ours.backward(), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"must have shape \(3, 5, 2\)"):
        nn.CrossEntropyLoss()(logits, labels[:, :4])
    with pytest.raises(ValueError, match=r"\(N, K\), \(K,\) or \(N, K, d1, ...\)"):
        nn.CrossEntropyLoss()(np.ones(()), np.array(0))


# PyTorch's argument order (weight, size_average, ignore_index, reduce, reduction[, label_smoothing])
@pytest.mark.parametrize("cls", ["CrossEntropyLoss", "NLLLoss"])
def test_class_losses_take_torch_positional_arguments(cls, rng):
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 0.5, 3.0])
    x = rng.standard_normal((6, 4))
    if cls == "NLLLoss":
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    y = rng.integers(0, 4, 6)
    y[1] = 2
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for args in [(w,), (w, None, 2), (w, None, 2, None, "sum"), (None, None, -100, None, "none")]:
        ours = getattr(nn, cls)(*args)(x, y)
        targs = tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
        theirs = getattr(torch.nn, cls)(*targs)(tx, ty)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{cls}{args[1:]}")
    # a bare number where the class weights go is an error, as in PyTorch (it was fastnn's
    # positional label_smoothing): never a silent smoothing
    with pytest.raises(TypeError, match="label_smoothing"):
        getattr(nn, cls)(0.1)


@pytest.mark.parametrize("size_average, reduce", [(None, False), (False, None), (True, True), (False, True),
                                                  (True, None), (None, True)])
def test_legacy_size_average_and_reduce_as_torch(size_average, reduce, rng):
    torch = pytest.importorskip("torch")
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        loss = nn.CrossEntropyLoss(size_average=size_average, reduce=reduce, reduction="mean")
    with pytest.warns(UserWarning):
        ref = torch.nn.CrossEntropyLoss(size_average=size_average, reduce=reduce, reduction="mean")
    assert loss.reduction == ref.reduction
    np.testing.assert_allclose(loss(x, y), ref(torch.from_numpy(x), torch.from_numpy(y)).numpy(), rtol=1e-12)


def test_label_out_of_range_is_value_and_index_error(rng):
    from fastnn import ops
    x = rng.standard_normal((4, 3)).astype(np.float32)
    bad = np.array([0, 1, 3, 2])
    calls = [lambda: nn.CrossEntropyLoss()(x, bad),  # the fused op's own check
             lambda: nn.CrossEntropyLoss(weight=np.ones(3))(x, bad),  # the array-code path
             lambda: nn.CrossEntropyLoss(ignore_index=0)(x, bad),
             lambda: nn.NLLLoss()(x, bad),
             lambda: ops.softmax_cross_entropy(x, bad),
             lambda: ops.softmax_cross_entropy(x, -bad)]
    for call in calls:
        for cls in (ValueError, IndexError, ops.LabelError):
            with pytest.raises(cls, match="outside"):
                call()
