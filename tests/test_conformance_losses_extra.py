"""fastnn.nn.loss_extra against torch.nn (the oracle): values and the gradients of every
differentiable input, for every reduction, in float32 and float64 (float32 results against torch
in float64 on the same inputs), batch 1 and unbatched shapes, the edge cases torch defines (zero
vectors, -1/1 labels, -1 padding, the Stirling term, clamp points), CosineSimilarity and
PairwiseDistance (broadcast inputs too), and the errors for bad arguments and shapes."""
import numpy as np
import pytest

from fastnn import nn

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-6)}


def _t(a, grad=False):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return torch.tensor(a.astype(np.float64), requires_grad=grad)
    return torch.tensor(a.astype(np.int64))


def _check(ours, theirs, inputs, others, reduction, dtype, n_grad=None):
    """ours(*inputs, *others) and its backward against torch autograd: the first n_grad inputs
    (default all of inputs) are differentiable."""
    inputs = [np.asarray(x, dtype=dtype) for x in inputs]
    others = [np.asarray(o, dtype=dtype) if np.asarray(o).dtype.kind == "f" else np.asarray(o) for o in others]
    value = ours(*inputs, *others)
    tin = [_t(x, grad=True) for x in inputs]
    out = theirs(*tin, *[_t(o) for o in others])
    if reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == tuple(out.shape)
        dy = np.random.default_rng(0).standard_normal(value.shape)
        grads = ours.backward(dy)
        out.backward(torch.tensor(dy))
    else:
        assert isinstance(value, float)
        grads = ours.backward()
        out.backward()
    np.testing.assert_allclose(value, out.detach().numpy(), **TOL[dtype])
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs)
    for g, x, tx in zip(grads, inputs, tin):
        assert isinstance(g, np.ndarray) and g.dtype == dtype and g.shape == x.shape
        np.testing.assert_allclose(g, tx.grad.numpy(), **TOL[dtype])


def _cases():
    rng = np.random.default_rng(3)
    cases = []
    for shape in [(6, 5), (1, 5), (5,), (2, 3, 4)]:
        x = rng.standard_normal(shape)
        counts = rng.poisson(2.0, shape).astype(np.float64)
        counts.flat[0] = 0.0
        counts.flat[-1] = 1.0  # t <= 1: no Stirling term
        signs = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
        cases += [
            (f"poisson {shape}", nn.PoissonNLLLoss, torch.nn.PoissonNLLLoss, {}, [x], [counts]),
            (f"poisson full {shape}", nn.PoissonNLLLoss, torch.nn.PoissonNLLLoss, {"full": True}, [x], [counts]),
            (f"poisson rate full {shape}", nn.PoissonNLLLoss, torch.nn.PoissonNLLLoss,
             {"log_input": False, "full": True, "eps": 1e-3}, [np.abs(x) + 0.1], [counts]),
            (f"soft margin {shape}", nn.SoftMarginLoss, torch.nn.SoftMarginLoss, {}, [x * 3], [signs]),
            (f"hinge {shape}", nn.HingeEmbeddingLoss, torch.nn.HingeEmbeddingLoss, {"margin": 0.5}, [x], [signs]),
            (f"margin ranking {shape}", nn.MarginRankingLoss, torch.nn.MarginRankingLoss, {"margin": 0.2},
             [x, rng.standard_normal(shape)], [signs]),
        ]
    for shape in [(6, 5), (1, 5), (5,)]:
        x = rng.standard_normal(shape) * 2
        multi = (rng.random(shape) < 0.4).astype(np.float64)
        labels = rng.integers(0, 5, shape[:-1] if len(shape) == 2 else ())
        # class lists padded with -1; entries after the first -1 are ignored
        lists = np.full(shape, -1)
        rows = lists.reshape(-1, 5)
        for r in range(rows.shape[0]):
            k = r % 4
            rows[r, :k] = rng.permutation(5)[:k]
            rows[r, k + 1:] = rng.integers(0, 5, 4 - k)  # garbage after the terminating -1
        w = rng.random(5) + 0.5
        cases += [
            (f"multilabel soft {shape}", nn.MultiLabelSoftMarginLoss, torch.nn.MultiLabelSoftMarginLoss, {}, [x], [multi]),
            (f"multilabel soft weighted {shape}", lambda **k: nn.MultiLabelSoftMarginLoss(weight=w, **k),
             lambda **k: torch.nn.MultiLabelSoftMarginLoss(weight=torch.tensor(w), **k), {}, [x], [multi]),
            (f"multi margin {shape}", nn.MultiMarginLoss, torch.nn.MultiMarginLoss, {}, [x], [labels]),
            (f"multi margin p2 weighted {shape}", lambda **k: nn.MultiMarginLoss(p=2, margin=0.7, weight=w, **k),
             lambda **k: torch.nn.MultiMarginLoss(p=2, margin=0.7, weight=torch.tensor(w), **k), {}, [x], [labels]),
            (f"multilabel margin {shape}", nn.MultiLabelMarginLoss, torch.nn.MultiLabelMarginLoss, {}, [x], [lists]),
        ]
    for shape in [(6, 4), (1, 4), (4,)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        y = np.where(rng.random(shape[:-1]) < 0.5, -1, 1)
        if len(shape) == 2 and shape[0] > 2:
            a[0] = 0.0  # a zero vector: cosine 0, torch's eps-sized denominator
            b[1] = 0.0
            a[2], y[2] = b[2] * 2.0, -1  # parallel: cosine 1, the margin active
        cases += [
            (f"cosine embedding {shape}", nn.CosineEmbeddingLoss, torch.nn.CosineEmbeddingLoss, {"margin": 0.1}, [a, b], [y]),
            (f"cosine embedding m0 {shape}", nn.CosineEmbeddingLoss, torch.nn.CosineEmbeddingLoss, {}, [a, b], [y]),
        ]
        n = rng.standard_normal(shape)
        for kw in [{}, {"margin": 0.3, "p": 1.0}, {"p": 3.0, "swap": True}, {"p": float("inf"), "eps": 0.0},
                   {"swap": True, "margin": 2.0}, {"p": 0.5}]:
            cases.append((f"triplet {kw} {shape}", nn.TripletMarginLoss, torch.nn.TripletMarginLoss, kw, [a, b, n], []))
    return cases


CASES = _cases()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(case, reduction, dtype):
    _, ours, theirs, kwargs, inputs, others = case
    _check(ours(reduction=reduction, **kwargs), theirs(reduction=reduction, **kwargs), inputs, others, reduction, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_clamp_points_pass_the_gradient_as_torch(reduction):
    """At margin - x = 0 (hinge) and -y (x1 - x2) + margin = 0 (ranking), torch's clamp_min lets
    the gradient through."""
    x = np.array([1.0, 0.5, 2.0, 1.0])
    y = np.array([-1.0, -1.0, 1.0, 1.0])
    _check(nn.HingeEmbeddingLoss(reduction=reduction), torch.nn.HingeEmbeddingLoss(reduction=reduction),
           [x], [y], reduction, np.float64)
    _check(nn.MarginRankingLoss(reduction=reduction), torch.nn.MarginRankingLoss(reduction=reduction),
           [x, x.copy()], [y], reduction, np.float64)


def test_hinge_other_labels_add_both_terms_as_torch():
    x = np.array([0.3, -0.2, 2.0])
    y = np.array([0.0, 2.0, 0.5])
    _check(nn.HingeEmbeddingLoss(), torch.nn.HingeEmbeddingLoss(), [x], [y], "mean", np.float64)


def test_triplet_swap_tie_splits_the_gradient_as_torch():
    a = np.array([[0.0, 0.0], [1.0, 2.0]])
    p = np.array([[2.0, 0.0], [1.5, 2.0]])
    n = np.array([[1.0, 0.5], [0.0, 0.0]])  # row 0: d(a, n) = d(p, n)
    _check(nn.TripletMarginLoss(swap=True, eps=0.0, margin=3.0), torch.nn.TripletMarginLoss(swap=True, eps=0.0, margin=3.0),
           [a, p, n], [], "mean", np.float64)


def test_empty_batch_mean_is_nan_sum_is_zero():
    x = np.zeros((0, 4))
    for ours, extra in [(nn.MultiMarginLoss, [np.zeros(0, np.int64)]), (nn.SoftMarginLoss, [np.zeros((0, 4))]),
                        (nn.MultiLabelMarginLoss, [np.zeros((0, 4), np.int64)])]:
        mean = ours()
        assert np.isnan(mean(x, *extra))
        assert mean.backward().shape == (0, 4)
        loss = ours(reduction="sum")
        assert loss(x, *extra) == 0.0 and loss.backward().shape == (0, 4)


def _module_cases():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    a[0] = 0.0  # a zero vector: torch clamps its norm at eps
    b[1] = 1e-9  # a norm below eps
    c, d = rng.standard_normal((3, 1, 4)), rng.standard_normal((1, 6, 4))
    return [
        ("cos dim 1", lambda: nn.CosineSimilarity(), lambda: torch.nn.CosineSimilarity(), a, b),
        ("cos dim 0", lambda: nn.CosineSimilarity(dim=0), lambda: torch.nn.CosineSimilarity(dim=0), a, b),
        ("cos batch 1", lambda: nn.CosineSimilarity(dim=-1), lambda: torch.nn.CosineSimilarity(dim=-1), a[1:2], b[2:3]),
        ("cos 1-D", lambda: nn.CosineSimilarity(dim=0), lambda: torch.nn.CosineSimilarity(dim=0), a[2], b[2]),
        ("cos broadcast", lambda: nn.CosineSimilarity(dim=-1, eps=1e-3),
         lambda: torch.nn.CosineSimilarity(dim=-1, eps=1e-3), c, d),
        ("cos broadcast along dim", lambda: nn.CosineSimilarity(dim=1), lambda: torch.nn.CosineSimilarity(dim=1),
         a[:, :1], b),
        ("dist", lambda: nn.PairwiseDistance(), lambda: torch.nn.PairwiseDistance(), a, b),
        ("dist keepdim p1", lambda: nn.PairwiseDistance(p=1.0, keepdim=True),
         lambda: torch.nn.PairwiseDistance(p=1.0, keepdim=True), a, b),
        ("dist p3 broadcast", lambda: nn.PairwiseDistance(p=3.0, eps=0.0),
         lambda: torch.nn.PairwiseDistance(p=3.0, eps=0.0), c, d),
        ("dist inf batch 1", lambda: nn.PairwiseDistance(p=float("inf")),
         lambda: torch.nn.PairwiseDistance(p=float("inf")), a[:1], b[:1]),
        ("dist zero distance", lambda: nn.PairwiseDistance(eps=0.0), lambda: torch.nn.PairwiseDistance(eps=0.0), a, a),
        ("dist 1-D", lambda: nn.PairwiseDistance(), lambda: torch.nn.PairwiseDistance(), a[3], b[3]),
    ]


MODULE_CASES = _module_cases()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_two_input_modules_match_torch(case, dtype):
    _, ours, theirs, x1, x2 = case
    x1, x2 = x1.astype(dtype), x2.astype(dtype)
    m = ours()
    y = m(x1, x2)
    t1, t2 = _t(x1, grad=True), _t(x2, grad=True)
    ty = theirs()(t1, t2)
    assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype])
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx1, dx2 = m.backward(dy)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    for g, x, tx in ((dx1, x1, t1), (dx2, x2, t2)):
        assert g.dtype == dtype and g.shape == x.shape
        np.testing.assert_allclose(g, tx.grad.numpy(), **TOL[dtype])


def test_modules_round_trip_their_config_and_repr():
    for m in (nn.CosineSimilarity(dim=-1, eps=1e-4), nn.PairwiseDistance(p=1.0, eps=0.0, keepdim=True)):
        again = nn.layer_from_config(nn.layer_to_config(m))
        assert type(again) is type(m) and again.get_config() == m.get_config()
        assert repr(m).startswith(type(m).__name__ + "(")
    assert repr(nn.CosineSimilarity()) == repr(torch.nn.CosineSimilarity()) == "CosineSimilarity()"
    assert repr(nn.PairwiseDistance()) == repr(torch.nn.PairwiseDistance()) == "PairwiseDistance()"
    assert repr(nn.CosineSimilarity(dim=-1)) == "CosineSimilarity(dim=-1)"  # (torch's drops it)
    assert nn.PairwiseDistance(p=3).norm == 3.0  # torch's attribute name


def test_defaults_and_repr_as_torch():
    assert repr(nn.PoissonNLLLoss()) == "PoissonNLLLoss(log_input=True, full=False, eps=1e-08, reduction='mean')"
    assert repr(nn.MultiMarginLoss()) == "MultiMarginLoss(p=1, margin=1.0, reduction='mean')"
    assert repr(nn.TripletMarginLoss()) == "TripletMarginLoss(margin=1.0, p=2.0, eps=1e-06, swap=False, reduction='mean')"
    for ours, theirs in [(nn.HingeEmbeddingLoss, torch.nn.HingeEmbeddingLoss), (nn.MarginRankingLoss,
                         torch.nn.MarginRankingLoss), (nn.CosineEmbeddingLoss, torch.nn.CosineEmbeddingLoss),
                         (nn.TripletMarginLoss, torch.nn.TripletMarginLoss), (nn.MultiMarginLoss, torch.nn.MultiMarginLoss)]:
        o, t = ours(), theirs()
        assert o.margin == t.margin and o.reduction == t.reduction
    assert nn.TripletMarginLoss().p == torch.nn.TripletMarginLoss().p and nn.TripletMarginLoss().eps == 1e-6
    assert nn.PoissonNLLLoss().eps == torch.nn.PoissonNLLLoss().eps


def test_none_backward_needs_dy():
    loss = nn.MarginRankingLoss(reduction="none")
    loss(np.ones(3), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="pass dy"):
        loss.backward()
    with pytest.raises(RuntimeError, match="before"):
        nn.TripletMarginLoss().backward()
    with pytest.raises(RuntimeError, match="before forward"):
        nn.CosineSimilarity().backward(np.ones(3))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p=3"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match=r"reduction .*'avg'"):
        nn.SoftMarginLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"reduction .*'batchmean'"):
        nn.PoissonNLLLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="margin=nan"):
        nn.MarginRankingLoss(margin=float("nan"))
    with pytest.raises(ValueError, match="p=-1.0"):
        nn.TripletMarginLoss(p=-1.0)
    with pytest.raises(ValueError, match="p=-2"):
        nn.PairwiseDistance(p=-2)
    with pytest.raises(ValueError, match="eps=0"):
        nn.PoissonNLLLoss(eps=0)
    with pytest.raises(ValueError, match=r"weight must be 1-D.*\(2, 2\)"):
        nn.MultiMarginLoss(weight=np.ones((2, 2)))
    with pytest.raises(TypeError, match="swap=1"):
        nn.TripletMarginLoss(swap=1)
    with pytest.raises(TypeError, match="dim=1.5"):
        nn.CosineSimilarity(dim=1.5)


def test_bad_shapes_and_values_are_named():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"target 3 is out of range for 3 classes"):
        nn.MultiMarginLoss()(x, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"target -2 is out of range"):
        nn.MultiMarginLoss()(x, np.array([0, 1, -2, 2]))
    with pytest.raises(ValueError, match=r"target must have shape \(4,\), got \(4, 1\)"):
        nn.MultiMarginLoss()(x, np.zeros((4, 1), np.int64))
    with pytest.raises(ValueError, match=r"weight has 2 entries but the input has 3 classes"):
        nn.MultiMarginLoss(weight=[1.0, 2.0])(x, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="class indices"):
        nn.MultiMarginLoss()(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"target 5 is out of range for 3 classes"):
        nn.MultiLabelMarginLoss()(x, np.array([[0, 5, -1]] * 4))
    nn.MultiLabelMarginLoss()(x, np.array([[0, -1, 7]] * 4))  # after the first -1: not read, as torch
    with pytest.raises(ValueError, match=r"input2 has shape \(4, 2\) but input1 has shape \(4, 3\)"):
        nn.MarginRankingLoss()(x, np.zeros((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"target has shape \(3,\) but it must have shape \(4,\)"):
        nn.CosineEmbeddingLoss()(x, x, np.ones(3))
    with pytest.raises(ValueError, match=r"\(N, D\) or \(D,\), got \(2, 4, 3\)"):
        nn.CosineEmbeddingLoss()(np.zeros((2, 4, 3)), np.zeros((2, 4, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"negative has shape \(4, 2\) but anchor has shape \(4, 3\)"):
        nn.TripletMarginLoss()(x, x, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="positive has dtype float32"):
        nn.TripletMarginLoss()(x, x.astype(np.float32), x)
    with pytest.raises(ValueError, match=r"target shape \(4,\) differs from prediction shape \(4, 3\)"):
        nn.SoftMarginLoss()(x, np.ones(4))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(C,\), got \(2, 2, 3\)"):
        nn.MultiLabelSoftMarginLoss()(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"x1 of shape \(4, 3\) and x2 of shape \(2, 3\) do not broadcast"):
        nn.CosineSimilarity()(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dim=2 is out of range"):
        nn.CosineSimilarity(dim=2)(x, x)
    m = nn.PairwiseDistance()
    m(x, x)
    with pytest.raises(ValueError, match=r"dy of shape \(4,\) .*got \(4, 1\)"):
        m.backward(np.ones((4, 1)))
