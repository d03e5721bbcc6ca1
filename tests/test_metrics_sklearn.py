"""fastnn.metrics' scikit-learn-named functions against scikit-learn itself (same inputs)."""
import warnings

import numpy as np
import pytest

skm = pytest.importorskip("sklearn.metrics")
sk_exc = pytest.importorskip("sklearn.exceptions")

from fastnn import metrics  # noqa: E402
from fastnn.metrics import UndefinedMetricWarning  # noqa: E402


def _same(a, b, rtol=1e-12, atol=1e-12):
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y, rtol, atol)
        return
    if b is None:
        assert a is None
        return
    if isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in b:
            _same(a[k], b[k], rtol, atol)
        return
    if isinstance(b, str):
        assert a == b
        return
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                               rtol=rtol, atol=atol, equal_nan=True)
    assert np.shape(a) == np.shape(b)
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype.kind == b.dtype.kind, (a, b)
    if np.ndim(b) == 0:
        assert isinstance(a, float) == isinstance(b, float)


def _both(name, *args, ours=None, **kw):
    """(ours, sklearn's) of one call; sklearn's UndefinedMetricWarning must be ours too."""
    with warnings.catch_warnings(record=True) as sk_w:
        warnings.simplefilter("always")
        expected = getattr(skm, name)(*args, **kw)
    with warnings.catch_warnings(record=True) as our_w:
        warnings.simplefilter("always")
        got = (ours or getattr(metrics, name))(*args, **kw)
    sk_undef = [str(w.message) for w in sk_w if issubclass(w.category, sk_exc.UndefinedMetricWarning)]
    our_undef = [str(w.message) for w in our_w if issubclass(w.category, UndefinedMetricWarning)]
    assert bool(sk_undef) == bool(our_undef), (name, kw, sk_undef, our_undef)
    return got, expected


def check(name, *args, rtol=1e-12, **kw):
    got, expected = _both(name, *args, **kw)
    _same(got, expected, rtol=rtol)
    return got


def _data(kind, n=40, seed=0, k=4):
    rng = np.random.default_rng(seed)
    if kind == "binary":
        return rng.integers(0, 2, n), rng.integers(0, 2, n)
    if kind == "multiclass":
        return rng.integers(0, k, n), rng.integers(0, k, n)
    if kind == "multilabel":
        return rng.integers(0, 2, (n, k)), rng.integers(0, 2, (n, k))
    if kind == "strings":
        c = np.array(["cat", "dog", "pig"])
        return c[rng.integers(0, 3, n)], c[rng.integers(0, 3, n)]
    raise AssertionError(kind)


PRF = ["precision_score", "recall_score", "f1_score", "jaccard_score"]
KINDS_AVERAGES = [("binary", "binary"), ("binary", None), ("binary", "micro"), ("binary", "macro"),
                  ("binary", "weighted"), ("multiclass", None), ("multiclass", "micro"),
                  ("multiclass", "macro"), ("multiclass", "weighted"), ("multilabel", None),
                  ("multilabel", "micro"), ("multilabel", "macro"), ("multilabel", "weighted"),
                  ("multilabel", "samples"), ("strings", "macro"), ("strings", None)]


# ---- precision / recall / F / jaccard -----------------------------------------------------------

@pytest.mark.parametrize("kind,average", KINDS_AVERAGES)
@pytest.mark.parametrize("weighted", [False, True])
def test_set_wise_scores(kind, average, weighted):
    t, p = _data(kind, seed=hash((kind, str(average))) % 100)
    kw = {"average": average}
    if weighted:
        kw["sample_weight"] = np.random.default_rng(1).uniform(0, 2, len(t))
    for name in PRF:
        check(name, t, p, **kw)
    check("fbeta_score", t, p, beta=0.5, **kw)
    check("fbeta_score", t, p, beta=2.0, **kw)
    check("precision_recall_fscore_support", t, p, **kw)
    check("precision_recall_fscore_support", t, p, beta=3.0, **kw)


@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_set_wise_labels_subset_and_absent(average):
    t, p = _data("multiclass", k=5, seed=3)
    for labels in ([0, 2], [4, 1, 3], [1, 7], [2]):  # subsets, reordering, a label absent from both
        for name in PRF:
            check(name, t, p, labels=labels, average=average)
        check("precision_recall_fscore_support", t, p, labels=labels, average=average)
    tm, pm = _data("multilabel", k=5, seed=4)
    for name in PRF:
        check(name, tm, pm, labels=[0, 3], average=average)


def test_pos_label_binary():
    t, p = _data("binary", seed=5)
    for name in PRF:
        check(name, t, p, pos_label=0)
    ts, ps = np.array(["a", "b", "b", "a", "b"]), np.array(["b", "b", "a", "a", "b"])
    for name in PRF:
        check(name, ts, ps, pos_label="a")
    with pytest.raises(ValueError, match=r"pos_label=2 is not a valid label"):
        metrics.f1_score(t, p, pos_label=2)
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label"):
        metrics.precision_score(ts, ps)
    with pytest.warns(UserWarning, match="pos_label .set to 0. is ignored"):
        metrics.f1_score(t, p, pos_label=0, average="macro")


@pytest.mark.parametrize("zero_division", ["warn", 0.0, 1.0, np.nan])
def test_zero_division(zero_division):
    cases = [
        (np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0])),          # no predicted positives
        (np.array([0, 0, 0, 0]), np.array([0, 1, 0, 0])),          # no true positives
        (np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0])),          # nothing positive at all
        (np.array([0, 1, 2, 2]), np.array([0, 0, 0, 1])),          # class 2 never predicted
        (np.array([[0, 1], [0, 1]]), np.array([[0, 0], [0, 1]])),  # multilabel empty column
    ]
    for t, p in cases:
        averages = ["micro", "macro", "weighted", None] + ([] if t.ndim == 2 or len(np.unique(
            np.r_[t, p])) > 2 else ["binary"]) + (["samples"] if t.ndim == 2 else [])
        for average in averages:
            for name in PRF if zero_division == zero_division else PRF[:3]:  # jaccard: no NaN option
                check(name, t, p, average=average, zero_division=zero_division)
            check("precision_recall_fscore_support", t, p, average=average, zero_division=zero_division)


def test_zero_division_warning_text_and_class():
    assert issubclass(UndefinedMetricWarning, UserWarning)
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined and being set to 0.0 due to "
                                                    "no predicted samples"):
        assert metrics.precision_score([0, 1, 1], [0, 0, 0]) == 0.0
    with pytest.warns(UndefinedMetricWarning, match="Recall is ill-defined and being set to 0.0 in labels "
                                                    "with no true samples"):
        metrics.recall_score([0, 0, 1], [0, 2, 1], average="macro")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score([0, 1, 1], [0, 0, 0], zero_division=1.0) == 1.0


def test_set_wise_errors():
    t, p = _data("multiclass")
    with pytest.raises(ValueError, match=r"average has to be one of .*Received: average='mean'"):
        metrics.f1_score(t, p, average="mean")
    with pytest.raises(ValueError, match=r"Target is multiclass but average='binary'"):
        metrics.precision_score(t, p)
    with pytest.raises(ValueError, match=r"mix of binary and continuous targets"):
        metrics.f1_score([0, 1, 1], [0.2, 0.7, 0.9])
    with pytest.raises(ValueError, match=r"mix of multilabel-indicator and multiclass targets"):
        metrics.f1_score(np.eye(3, dtype=int), [0, 1, 2], average="macro")
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples"):
        metrics.recall_score([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match=r"empty input"):
        metrics.f1_score([], [])
    with pytest.raises(ValueError, match=r"zero_division must be .*Received: zero_division=2"):
        metrics.f1_score([0, 1], [0, 1], zero_division=2)
    with pytest.raises(ValueError, match=r"Samplewise metrics are not available"):
        metrics.f1_score(t, p, average="samples")
    with pytest.raises(ValueError, match=r"All labels must be in \[0, n labels\)"):
        metrics.f1_score(np.eye(3, dtype=int), np.eye(3, dtype=int), labels=[0, 5], average="macro")
    with pytest.raises(ValueError, match=r"zero_division must be 'warn', 0 or 1. Received: zero_division=nan"):
        metrics.jaccard_score([0, 1], [0, 1], zero_division=np.nan)
    with pytest.raises(ValueError, match=r"Mix of label input types"):
        metrics.f1_score(np.array(["a", "b"]), np.array([0, 1]), average="macro")


# ---- accuracy family ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "strings"])
def test_accuracy_hamming_zero_one(kind):
    t, p = _data(kind, seed=7)
    w = np.random.default_rng(2).uniform(0, 3, len(t))
    for kw in ({}, {"sample_weight": w}):
        for normalize in (True, False):
            check("accuracy_score", t, p, normalize=normalize, **kw)
            check("zero_one_loss", t, p, normalize=normalize, **kw)
        check("hamming_loss", t, p, **kw)
    with pytest.raises(ValueError, match="normalize must be True or False"):
        metrics.accuracy_score(t, p, normalize="yes")


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings"])
def test_balanced_mcc_kappa(kind):
    t, p = _data(kind, seed=9)
    w = np.random.default_rng(3).uniform(0, 3, len(t))
    for kw in ({}, {"sample_weight": w}):
        for adjusted in (False, True):
            check("balanced_accuracy_score", t, p, adjusted=adjusted, **kw)
        check("matthews_corrcoef", t, p, **kw)
        for weights in (None, "linear", "quadratic"):
            check("cohen_kappa_score", t, p, weights=weights, **kw)
    classes = np.unique(t)
    check("cohen_kappa_score", t, p, labels=classes[::-1][:2].tolist(), weights="linear")


def test_balanced_mcc_kappa_edge_cases():
    # constant predictions, perfect predictions, a class only predicted
    for t, p in [([0, 1, 1, 0], [1, 1, 1, 1]), ([0, 1, 2], [0, 1, 2]), ([0, 0, 1, 1], [0, 2, 1, 1]),
                 ([1, 1, 1], [1, 1, 1])]:
        t, p = np.array(t), np.array(p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(metrics.balanced_accuracy_score(t, p), skm.balanced_accuracy_score(t, p))
        check("matthews_corrcoef", t, p)
        check("cohen_kappa_score", t, p)
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        metrics.balanced_accuracy_score([0, 0, 1], [0, 2, 1])
    with pytest.warns(UndefinedMetricWarning, match="only one label in common"):
        assert np.isnan(metrics.cohen_kappa_score([1, 1], [1, 1]))
    with pytest.warns(UndefinedMetricWarning, match="which is set to 1.0"):
        assert metrics.cohen_kappa_score([1, 1], [1, 1], replace_undefined_by=1.0) == 1.0
    with pytest.raises(ValueError, match="weights must be None, 'linear' or 'quadratic'.*Received: weights='cubic'"):
        metrics.cohen_kappa_score([0, 1], [0, 1], weights="cubic")
    with pytest.raises(ValueError, match=r"At least one label in `labels` must be present in `y1`"):
        metrics.cohen_kappa_score([0, 1], [0, 1], labels=[5])


@pytest.mark.parametrize("kind", ["binary", "multiclass", "strings"])
def test_confusion_matrix_labels(kind):
    t, p = _data(kind, seed=11)
    classes = np.unique(np.r_[t, p])
    w_int = np.random.default_rng(4).integers(1, 4, len(t))
    w_float = np.random.default_rng(4).uniform(0, 2, len(t))
    for labels in (classes, classes[::-1], classes[:2], np.r_[classes[1:2], classes[0:1]]):
        for normalize in (None, "true", "pred", "all"):
            for w in (None, w_int, w_float):
                got = metrics.confusion_matrix(t, p, labels=labels, normalize=normalize, sample_weight=w)
                expected = skm.confusion_matrix(t, p, labels=labels, normalize=normalize, sample_weight=w)
                np.testing.assert_allclose(got, expected, rtol=1e-12)
                assert got.dtype.kind == expected.dtype.kind
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        metrics.confusion_matrix(t, p, labels=["zzz"] if kind == "strings" else [99])
    with pytest.raises(ValueError, match="not both"):
        metrics.confusion_matrix([0, 1], [0, 1], 2, labels=[0, 1])
    # the existing positional num_classes form is unchanged
    np.testing.assert_array_equal(metrics.confusion_matrix([0, 1], [1, 1], 3),
                                  [[0, 1, 0], [0, 1, 0], [0, 0, 0]])


# ---- probabilistic losses -------------------------------------------------------------------

def _probs(n, k, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2
    e = np.exp(z - z.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss(dtype):
    rng = np.random.default_rng(12)
    t = rng.integers(0, 3, 30)
    pr = _probs(30, 3, 12, dtype)
    w = rng.uniform(0, 2, 30)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for kw in ({}, {"sample_weight": w}, {"normalize": False}, {"normalize": False, "sample_weight": w}):
        check("log_loss", t, pr, rtol=rtol, **kw)
    # binary: one column is P(greater label); exact 0/1 probabilities are clipped to dtype eps
    tb = rng.integers(0, 2, 30)
    pb = rng.uniform(0, 1, 30).astype(dtype)
    pb[:3] = [0.0, 1.0, 1.0]
    tb[:3] = [1, 0, 1]
    check("log_loss", tb, pb, rtol=rtol)
    check("log_loss", tb, pb[:, None], rtol=rtol)
    check("log_loss", np.array(["no", "yes"])[tb], pb, rtol=rtol)
    # labels= when y_true misses a class; one-hot / multilabel y_true
    check("log_loss", np.array([0, 0, 2]), pr[:3], labels=[0, 1, 2], rtol=rtol)
    check("log_loss", np.eye(3, dtype=int)[t], pr, rtol=rtol)
    with pytest.warns(FutureWarning, match="renamed to `y_proba`"):
        _same(metrics.log_loss(t, y_pred=pr), skm.log_loss(t, pr), rtol=rtol)
    with pytest.raises(ValueError, match="Cannot use both"):
        metrics.log_loss(t, pr, y_pred=pr)
    with pytest.warns(UserWarning, match="do not sum to one"):
        metrics.log_loss([0, 1, 2], np.full((3, 3), 0.2))
    with pytest.raises(ValueError, match="different number of classes: 2 vs 3"):
        metrics.log_loss([0, 1, 1], pr[:3])
    with pytest.raises(ValueError, match="y_true contains only one label"):
        metrics.log_loss([1, 1, 1], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="values greater than 1"):
        metrics.log_loss([0, 1], [0.5, 1.5])
    with pytest.raises(ValueError, match="not belonging to the passed labels"):
        metrics.log_loss([0, 3], pr[:2], labels=[0, 1, 2])


def test_brier_score_loss():
    rng = np.random.default_rng(13)
    tb, pb = rng.integers(0, 2, 25), rng.uniform(0, 1, 25)
    w = rng.uniform(0, 2, 25)
    for kw in ({}, {"sample_weight": w}, {"pos_label": 0}, {"scale_by_half": False}):
        check("brier_score_loss", tb, pb, **kw)
    check("brier_score_loss", np.array(["neg", "pos"])[tb], pb, pos_label="pos")
    check("brier_score_loss", tb * 2 + 3, pb)  # labels {3, 5}: the greater label is positive
    t, pr = rng.integers(0, 4, 25), _probs(25, 4, 13)
    for kw in ({}, {"sample_weight": w}, {"scale_by_half": True}):
        check("brier_score_loss", t, pr, **kw)
    check("brier_score_loss", tb, np.c_[1 - pb, pb])  # two columns: halved as the 1-D form
    with pytest.raises(ValueError, match="should be binary according to the shape of y_prob"):
        metrics.brier_score_loss([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="values less than 0"):
        metrics.brier_score_loss([0, 1], [-0.1, 0.2])
    with pytest.raises(ValueError, match="pos_label is not specified"):
        metrics.brier_score_loss(np.array(["a", "b"]), [0.1, 0.2])


# ---- ranking: curves and AUC ----------------------------------------------------------------

def _curve_inputs(seed, ties):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, 50)
    s = rng.normal(size=50)
    if ties:
        s = np.round(s * 2) / 2  # many tied scores
    return t, s


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_curves_and_binary_areas(ties, weighted):
    t, s = _curve_inputs(14, ties)
    kw = {"sample_weight": np.random.default_rng(5).uniform(0, 2, 50)} if weighted else {}
    if weighted:
        kw["sample_weight"][:5] = 0  # zero-weight samples are dropped from the curves
    for drop in (True, False):
        check("roc_curve", t, s, drop_intermediate=drop, **kw)
        check("precision_recall_curve", t, s, drop_intermediate=drop, **kw)
    check("roc_curve", t, s, pos_label=0, **kw)
    check("roc_auc_score", t, s, **kw)
    for max_fpr in (0.3, 0.75, 1.0):
        check("roc_auc_score", t, s, max_fpr=max_fpr, **kw)
    check("average_precision_score", t, s, **kw)
    check("average_precision_score", t, s, pos_label=0, **kw)
    check("roc_auc_score", np.array(["a", "b"])[t], s, **kw)
    check("precision_recall_curve", np.array(["a", "b"])[t], s, pos_label="b", **kw)


def test_curves_degenerate():
    t, s = np.array([1, 1, 1]), np.array([0.2, 0.5, 0.5])
    check("roc_curve", t, s)               # no negatives: NaN fpr + warning
    check("roc_curve", 1 - t, s)           # no positives: NaN tpr + warning
    check("roc_auc_score", t, s)           # one class: NaN + warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(metrics.precision_recall_curve(1 - t, s), skm.precision_recall_curve(1 - t, s))
        _same(metrics.average_precision_score(1 - t, s), skm.average_precision_score(1 - t, s))
    check("roc_auc_score", np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5]))  # constant: 0.5
    check("average_precision_score", np.array([0, 1, 0, 1]), np.array([0.5, 0.5, 0.5, 0.5]))
    check("roc_curve", np.array([0, 1]), np.array([0.3, 0.7]))
    with pytest.raises(ValueError, match="multiclass format is not supported"):
        metrics.roc_curve([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="pos_label is not specified"):
        metrics.roc_curve(np.array(["a", "b"]), [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN or infinity"):
        metrics.roc_auc_score([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match=r"Expected max_fpr in range \(0, 1\], got: 1.5"):
        metrics.roc_auc_score([0, 1], [0.1, 0.2], max_fpr=1.5)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted", "samples"])
def test_multilabel_auc_and_ap(average):
    rng = np.random.default_rng(15)
    t, s = rng.integers(0, 2, (40, 4)), rng.normal(size=(40, 4))
    s[:, 1] = np.round(s[:, 1])
    w = rng.uniform(0, 2, 40)
    for kw in ({}, {"sample_weight": w}):
        check("roc_auc_score", t, s, average=average, **kw)
        check("average_precision_score", t, s, average=average, **kw)
    with pytest.raises(ValueError, match="pos_label is fixed to 1 for multilabel"):
        metrics.average_precision_score(t, s, pos_label=0)


@pytest.mark.parametrize("multi_class,average", [("ovr", "macro"), ("ovr", "weighted"), ("ovr", "micro"),
                                                 ("ovr", None), ("ovo", "macro"), ("ovo", "weighted")])
def test_multiclass_auc(multi_class, average):
    rng = np.random.default_rng(16)
    t = rng.integers(0, 4, 60)
    pr = _probs(60, 4, 16)
    pr[:10] = 0.25  # tied rows
    check("roc_auc_score", t, pr, multi_class=multi_class, average=average)
    if multi_class == "ovr":
        check("roc_auc_score", t, pr, multi_class=multi_class, average=average,
              sample_weight=rng.uniform(0, 2, 60))
    # labels naming a class y_true lacks
    t3 = np.where(t == 2, 0, t)
    check("roc_auc_score", t3, pr, multi_class=multi_class, average=average, labels=[0, 1, 2, 3])
    check("average_precision_score", t, pr, average=average)


def test_multiclass_auc_errors():
    t, pr = np.array([0, 1, 2, 1]), _probs(4, 3, 1)
    with pytest.raises(ValueError, match="multi_class must be in"):
        metrics.roc_auc_score(t, pr)
    with pytest.raises(ValueError, match="need to be probabilities"):
        metrics.roc_auc_score(t, pr * 2, multi_class="ovr")
    with pytest.raises(ValueError, match="sample_weight is not supported for multiclass one-vs-one"):
        metrics.roc_auc_score(t, pr, multi_class="ovo", sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="Number of classes in y_true"):
        metrics.roc_auc_score([0, 1, 3, 4], pr, multi_class="ovr")  # 4 classes, 3 columns
    with pytest.raises(ValueError, match="'labels' must be ordered"):
        metrics.roc_auc_score(t, pr, multi_class="ovr", labels=[2, 1, 0])
    with pytest.raises(NotImplementedError, match="average=None is not implemented"):
        metrics.roc_auc_score(t, pr, multi_class="ovo", average=None)
    with pytest.raises(ValueError, match="Partial AUC computation not available in multiclass"):
        metrics.roc_auc_score(t, pr, multi_class="ovr", max_fpr=0.5)


def test_auc_function():
    x, y = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.8, 1.0])
    _same(metrics.auc(x, y), skm.auc(x, y))
    _same(metrics.auc(x[::-1], y[::-1]), skm.auc(x[::-1], y[::-1]))
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        metrics.auc([0, 1, 0.5], [0, 1, 1])


def test_top_k_accuracy_score():
    rng = np.random.default_rng(17)
    t = rng.integers(0, 5, 60)
    s = np.round(rng.normal(size=(60, 5)))  # ties: scikit-learn ranks the higher column first
    w = rng.uniform(0, 2, 60)
    for k in (1, 2, 3):
        for kw in ({}, {"sample_weight": w}, {"normalize": False}):
            check("top_k_accuracy_score", t, s, k=k, **kw)
    check("top_k_accuracy_score", np.array(list("abcde"))[t], s, k=2)
    check("top_k_accuracy_score", np.where(t == 4, 0, t), s, k=2, labels=[0, 1, 2, 3, 4])
    tb, sb = rng.integers(0, 2, 30), rng.uniform(size=30)
    check("top_k_accuracy_score", tb, sb, k=1)
    check("top_k_accuracy_score", t, s, k=5)  # k >= n_classes: warns, 1.0
    with pytest.raises(ValueError, match=r"Number of classes in 'y_true' \(4\) not equal"):
        metrics.top_k_accuracy_score([0, 1, 2, 3], s[:4])
    # fastnn's top_k_accuracy differs only in tie-breaking (lower index first)
    s_untied = rng.normal(size=(60, 5))
    assert metrics.top_k_accuracy(t, s_untied, 2) == metrics.top_k_accuracy_score(t, s_untied, k=2)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "strings"])
@pytest.mark.parametrize("weighted", [False, True])
def test_classification_report(kind, weighted):
    t, p = _data(kind, seed=18)
    kw = {"sample_weight": np.random.default_rng(6).uniform(0, 2, len(t))} if weighted else {}
    for digits in (2, 4):
        check("classification_report", t, p, digits=digits, **kw)
        check("classification_report", t, p, digits=digits, output_dict=True, **kw)
    labels = np.unique(t)[:2].tolist() if kind != "multilabel" else [0, 2]
    check("classification_report", t, p, labels=labels, output_dict=True, **kw)
    check("classification_report", t, p, labels=labels, target_names=["first", "second"], **kw)


# ---- regression ------------------------------------------------------------------------------

REGRESSION = ["mean_absolute_error", "mean_squared_error", "root_mean_squared_error", "median_absolute_error",
              "explained_variance_score", "mean_absolute_percentage_error", "r2_score", "mean_pinball_loss",
              "d2_absolute_error_score", "mean_squared_log_error", "root_mean_squared_log_error"]


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("shape", [(30,), (30, 1), (30, 3)])
def test_regression(name, shape):
    rng = np.random.default_rng(19)
    t, p = rng.uniform(0, 3, shape), rng.uniform(0, 3, shape)
    t.flat[:3] = 0.0  # MAPE's eps for zero targets
    w = rng.uniform(0, 2, shape[0])
    w_int = rng.integers(1, 4, shape[0]).astype(np.float64)  # ties in the weighted median
    mo = ["uniform_average", "raw_values"] + (["variance_weighted"] if name in (
        "r2_score", "explained_variance_score") else []) + ([np.array([0.2, 0.3, 0.5])] if len(shape) == 2
                                                             and shape[1] == 3 else [])
    for multioutput in mo:
        for kw in ({}, {"sample_weight": w}, {"sample_weight": w_int}):
            check(name, t, p, multioutput=multioutput, **kw)
    if name == "mean_pinball_loss":
        for alpha in (0.1, 0.9):
            check(name, t, p, alpha=alpha)
    if name == "explained_variance_score":
        check(name, np.ones(5), np.ones(5) * 2, force_finite=False)
        check(name, np.ones(5), np.arange(5.0))


def test_regression_edge_cases():
    check("max_error", np.array([3.0, 2.0, 7.0, 1.0]), np.array([4.0, 2.0, 7.0, 1.0]))
    with pytest.raises(ValueError, match="Multioutput not supported"):
        metrics.max_error(np.ones((3, 2)), np.ones((3, 2)))
    check("median_absolute_error", np.arange(4.0), np.array([0.0, 1.0, 5.0, 3.0]))  # even count
    check("d2_absolute_error_score", np.full(4, 2.0), np.full(4, 2.0))     # constant, exact: 1.0
    check("d2_absolute_error_score", np.full(4, 2.0), np.arange(4.0))      # constant, wrong: 0.0
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        assert np.isnan(metrics.d2_absolute_error_score([1.0], [2.0]))
    with pytest.raises(ValueError, match=r"alpha must be a float in \[0, 1\]. Received: alpha=1.5"):
        metrics.mean_pinball_loss([1.0], [2.0], alpha=1.5)
    with pytest.raises(ValueError, match="multioutput must be"):
        metrics.median_absolute_error([1.0, 2.0], [1.0, 2.0], multioutput="variance_weighted")
    # the short names are the same functions
    assert metrics.mean_absolute_error is metrics.mae and metrics.root_mean_squared_log_error is metrics.rmsle


# ---- fit(metrics=[...]) ----------------------------------------------------------------------

def test_get_adapters_on_logits():
    rng = np.random.default_rng(20)
    logits = rng.normal(size=(50, 3))
    y = rng.integers(0, 3, 50)
    pred = logits.argmax(1)
    for name, fn in [("f1", skm.f1_score), ("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("jaccard", skm.jaccard_score)]:
        _same(metrics.get(name)[1](y, logits), fn(y, pred, average="macro", zero_division=0.0))
        _same(metrics.get(name)[1](np.eye(3)[y], logits), fn(y, pred, average="macro", zero_division=0.0))
    _same(metrics.get("mcc")[1](y, logits), skm.matthews_corrcoef(y, pred))
    _same(metrics.get("balanced_accuracy")[1](y, logits), skm.balanced_accuracy_score(y, pred))
    _same(metrics.get("cohen_kappa")[1](y, logits), skm.cohen_kappa_score(y, pred))
    e = np.exp(logits)
    _same(metrics.get("roc_auc")[1](y, logits), skm.roc_auc_score(y, e / e.sum(1, keepdims=True),
                                                                 multi_class="ovr"))
    # binary: two logit columns, one logit column, one probability column
    yb = rng.integers(0, 2, 50)
    two = rng.normal(size=(50, 2))
    _same(metrics.get("f1")[1](yb, two), skm.f1_score(yb, two.argmax(1)))
    _same(metrics.get("roc_auc")[1](yb, two), skm.roc_auc_score(yb, two[:, 1] - two[:, 0]))
    _same(metrics.get("roc_auc")[1](yb[:, None], two[:, :1]), skm.roc_auc_score(yb, two[:, 0]))
    prob = rng.uniform(size=(50, 1))
    _same(metrics.get("recall")[1](yb, prob), skm.recall_score(yb, (prob[:, 0] > 0.5).astype(int)))
    # a NaN probability is the wrong class
    _same(metrics.get("f1")[1]([1, 0, 1, 1], np.array([[0.9], [np.nan], [np.nan], [0.8]])),
          skm.f1_score([1, 0, 1, 1], [1, 1, 0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning mid-fit
        assert metrics.get("balanced_accuracy")[1]([0, 0, 1], np.eye(3)[[0, 2, 1]]) == 0.75
        assert metrics.get("precision")[1]([0, 1, 1], np.array([[1.0, 0.0]] * 3)) == 0.0
    for name in ("mape", "explained_variance", "median_absolute_error", "max_error"):
        assert callable(metrics.get(name)[1])
    with pytest.raises(ValueError, match="Received: metric='f7'"):
        metrics.get("f7")


def test_fit_with_classification_metrics():
    import fastnn
    from fastnn import nn, optim
    rng = np.random.default_rng(21)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    history = fastnn.fit(model, optim.SGD(model.parameters(), lr=0.1), "cross_entropy", train=(x, y),
                         val=(x, y), epochs=2, batch_size=16, metrics=["f1", "precision", "recall", "roc_auc",
                                                                       "mcc"], progress=False)
    for name in ("f1", "precision", "recall", "roc_auc", "mcc"):
        assert len(history.history[name]) == 2 and len(history.history[f"val_{name}"]) == 2
    out = np.asarray(model.eval()(x), dtype=np.float64)
    e = np.exp(out - out.max(1, keepdims=True))
    expected = {"f1": skm.f1_score(y, out.argmax(1), average="macro", zero_division=0.0),
                "mcc": skm.matthews_corrcoef(y, out.argmax(1)),
                "roc_auc": skm.roc_auc_score(y, e / e.sum(1, keepdims=True), multi_class="ovr")}
    for name, value in expected.items():
        assert history.history[f"val_{name}"][-1] == pytest.approx(value, rel=1e-4, abs=1e-6), name


# ---- fuzz: small random inputs hit the degenerate cases ----------------------------------------

@pytest.mark.parametrize("seed", range(25))
def test_fuzz_small_inputs(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 7))
    k = int(rng.integers(2, 4))
    t, p = rng.integers(0, k, n), rng.integers(0, k, n)
    w = rng.integers(0, 3, n).astype(np.float64)
    w[0] = 1.0
    for kw in ({}, {"sample_weight": w}):
        for average in ("micro", "macro", "weighted", None):
            for name in PRF:
                check(name, t, p, average=average, **kw)
        for name in ("accuracy_score", "hamming_loss", "zero_one_loss", "matthews_corrcoef"):
            check(name, t, p, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(metrics.cohen_kappa_score(t, p, weights="quadratic", **kw),
                  skm.cohen_kappa_score(t, p, weights="quadratic", **kw))
            _same(metrics.balanced_accuracy_score(t, p, **kw), skm.balanced_accuracy_score(t, p, **kw))
        tb, sb = rng.integers(0, 2, n), np.round(rng.normal(size=n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in ("roc_curve", "precision_recall_curve", "average_precision_score", "roc_auc_score"):
                _same(getattr(metrics, name)(tb, sb, **kw), getattr(skm, name)(tb, sb, **kw))
        tm, pm = rng.integers(0, 2, (n, 3)), rng.integers(0, 2, (n, 3))
        for average in ("micro", "macro", "weighted", "samples", None):
            for name in PRF:
                check(name, tm, pm, average=average, **kw)


def test_float32_and_size_one():
    rng = np.random.default_rng(22)
    t, p = rng.uniform(0, 2, (20, 2)).astype(np.float32), rng.uniform(0, 2, (20, 2)).astype(np.float32)
    for name in REGRESSION:
        check(name, t, p, rtol=1e-6)
    tb, sb = rng.integers(0, 2, 20), rng.normal(size=20).astype(np.float32)
    for name in ("roc_curve", "precision_recall_curve", "roc_auc_score", "average_precision_score"):
        check(name, tb, sb, rtol=1e-6)
    for name in PRF + ["accuracy_score", "matthews_corrcoef", "hamming_loss"]:
        check(name, [1], [1])
        check(name, [1], [0])
    check("cohen_kappa_score", [1], [0])
    for name in ["mean_absolute_error", "mean_squared_error", "median_absolute_error", "max_error",
                 "mean_absolute_percentage_error", "mean_pinball_loss"]:
        check(name, [2.0], [3.5])
    for name in ("accuracy_score", "hamming_loss", "matthews_corrcoef", "log_loss", "roc_auc_score",
                 "average_precision_score", "roc_curve", "mean_pinball_loss", "median_absolute_error"):
        with pytest.raises(ValueError, match="empty"):
            getattr(metrics, name)([], [])
