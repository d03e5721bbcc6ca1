"""fastnn.metrics against direct formulas and scikit-learn (optional oracle)."""
import warnings

import numpy as np
import pytest

from fastnn import metrics

REGRESSION = ["mae", "mse", "rmse", "rmsle", "r2_score"]
SHAPES = [(40,), (40, 1), (40, 3)]


def _sklearn_fn(skm, name):
    return {"mae": skm.mean_absolute_error, "mse": skm.mean_squared_error,
            "rmse": skm.root_mean_squared_error, "rmsle": skm.root_mean_squared_log_error,
            "r2_score": skm.r2_score}[name]


def _sklearn_regression(skm, name):
    if name in ("rmse", "rmsle") and not hasattr(skm, "root_mean_squared_error"):
        pytest.skip("scikit-learn < 1.4 has no root_mean_squared_(log_)error")
    return _sklearn_fn(skm, name)


# ---- classification -------------------------------------------------------------------------

def test_accuracy_forms():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([1, 0, 0, 0])
    assert metrics.accuracy(labels, scores) == 0.75
    assert metrics.accuracy(np.eye(2)[labels], scores) == 0.75  # one-hot targets
    assert metrics.accuracy(labels, np.array([1, 0, 1, 0])) == 0.75  # label predictions
    assert metrics.accuracy(np.array([1, 0, 1]), np.array([[0.7], [0.2], [0.4]])) == 2 / 3  # binary column
    assert metrics.accuracy(np.array([[1.0], [0.0], [1.0]]), np.array([0.7, 0.2, 0.4])) == 2 / 3  # (N, 1) float targets
    assert metrics.accuracy(np.array([True, False, True]), np.array([0.7, 0.2, 0.4])) == 2 / 3  # bool targets
    assert type(metrics.accuracy(labels, scores)) is float
    with pytest.raises(ValueError, match=r"3 samples but y_pred has 4 \(y_true shape \(3,\), y_pred shape \(4, 2\)\)"):
        metrics.accuracy(labels[:3], scores)


def test_accuracy_float_class_labels():
    # class indices stored as floats are labels, not probabilities
    assert metrics.accuracy([2, 0, 1], [2.0, 0.0, 1.0]) == 1.0
    assert metrics.accuracy([2, 0, 1], np.array([[2.0], [0.0], [1.0]], dtype=np.float32)) == 1.0
    assert metrics.accuracy([0, 1, 1], [0.0, 1.0, 0.0]) == 2 / 3  # whole 0/1 floats: both readings agree
    assert metrics.accuracy([3, 1], [3.0, 2.0]) == 0.5
    # a fraction is a probability only for a binary target
    assert metrics.accuracy([0, 1, 1, 0], [0.2, 0.51, 0.5, 1.0]) == 0.5  # 0.5 is class 0 (p > 0.5)
    with pytest.raises(ValueError, match=r"y_true is not binary"):
        metrics.accuracy([0, 2, 1], [0.2, 0.9, 0.6])
    with pytest.raises(ValueError, match=r"not all in \[0, 1\]"):
        metrics.accuracy([0, 1, 1], [-1.3, 2.5, 0.2])  # logits are not probabilities
    with pytest.raises(ValueError, match=r"neither class labels nor probabilities"):
        metrics.accuracy([0, 1], [0.5, np.inf])


def test_accuracy_nan_prediction_is_wrong():
    assert metrics.accuracy([0, 1, 1], [0.2, np.nan, 0.9]) == 2 / 3
    assert metrics.accuracy([0, 0, 2], [0.0, np.nan, 2.0]) == 2 / 3
    with pytest.raises(ValueError, match="whole numbers"):
        metrics.confusion_matrix([0, 1], [0.0, np.nan])


def test_accuracy_empty_raises():
    for t, p in [([], []), (np.zeros(0, np.int64), np.zeros((0, 3))), (np.zeros(0), np.zeros(0))]:
        with pytest.raises(ValueError, match="accuracy: empty input"):
            metrics.accuracy(t, p)
    with pytest.raises(ValueError, match="top_k_accuracy: empty input"):
        metrics.top_k_accuracy(np.zeros(0, np.int64), np.zeros((0, 3)), k=1)
    np.testing.assert_array_equal(metrics.confusion_matrix([], [], num_classes=2), np.zeros((2, 2)))


def test_accuracy_empty_matches_sklearn_raising():
    skm = pytest.importorskip("sklearn.metrics")
    with pytest.raises(ValueError):
        skm.accuracy_score([], [])


@pytest.mark.parametrize("seed", range(3))
def test_accuracy_against_sklearn(seed):
    skm = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(seed)
    y = r.integers(0, 4, 60)
    scores = r.standard_normal((60, 4))
    assert metrics.accuracy(y, scores) == skm.accuracy_score(y, scores.argmax(1))
    labels = r.integers(0, 4, 60)
    assert metrics.accuracy(y, labels) == skm.accuracy_score(y, labels)
    assert metrics.accuracy(y, labels.astype(np.float64)) == skm.accuracy_score(y, labels.astype(np.float64))
    assert metrics.accuracy(y.astype(np.float32), labels[:, None]) == skm.accuracy_score(y, labels)
    yb, prob = r.integers(0, 2, 60), r.uniform(0, 1, 60)
    assert metrics.accuracy(yb, prob) == skm.accuracy_score(yb, (prob > 0.5).astype(int))
    assert metrics.accuracy(yb, prob[:, None]) == skm.accuracy_score(yb, (prob > 0.5).astype(int))


def test_top_k():
    scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    y = np.array([2, 2, 0])
    assert metrics.top_k_accuracy(y, scores, k=1) == 0
    assert metrics.top_k_accuracy(y, scores, k=2) == 1 / 3
    assert metrics.top_k_accuracy(y, scores, k=3) == 1
    assert metrics.top_k_accuracy(y, scores, k=7) == 1
    name, fn = metrics.get("top_2_accuracy")
    assert fn(y, scores) == 1 / 3
    assert metrics.top_k_accuracy([0], [[0.5, 0.5]], k=1) == 1.0  # ties: lower index first, as argmax
    with pytest.raises(ValueError, match="Received: k=0"):
        metrics.top_k_accuracy(y, scores, k=0)
    with pytest.raises(ValueError, match=r"y_true has 2 samples but y_pred has 3 .*\(3, 3\)"):
        metrics.top_k_accuracy(y[:2], scores, k=1)


def test_confusion_matrix_edge_cases():
    cm = metrics.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], num_classes=4)
    assert cm.shape == (4, 4) and cm[2, 2] == 1 and cm[1, 2] == 1 and cm.sum() == 4
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=2)
    np.testing.assert_array_equal(metrics.confusion_matrix([2, 0, 1], [2.0, 0.0, 0.0]),
                                  [[1, 0, 0], [1, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="y_true has 2 samples but y_pred has 3"):
        metrics.confusion_matrix([0, 1], [0, 1, 1])


def test_classification_against_sklearn(rng):
    skm = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 4, 50)
    scores = rng.standard_normal((50, 4))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, scores),
                                  skm.confusion_matrix(y, scores.argmax(1), labels=range(4)))
    assert abs(metrics.top_k_accuracy(y, scores, 2) - skm.top_k_accuracy_score(y, scores, k=2)) < 1e-12
    assert metrics.accuracy([2, 0, 1], [2.0, 0.0, 1.0]) == skm.accuracy_score([2, 0, 1], [2.0, 0.0, 1.0])


# ---- regression -----------------------------------------------------------------------------

def _regression_data(rng, shape, name):
    t = rng.uniform(0, 3, shape)
    p = t + rng.standard_normal(shape) * 0.5
    if name == "rmsle":
        p = np.abs(p)
    if len(shape) == 2 and shape[1] == 3:  # columns of different scales: per-column != pooled
        t, p = t * [1.0, 10.0, 0.1], p * [1.0, 10.0, 0.1]
    return t, p


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", REGRESSION)
def test_regression_against_sklearn(rng, name, shape):
    skm = pytest.importorskip("sklearn.metrics")
    sk = _sklearn_regression(skm, name)
    ours = getattr(metrics, name)
    t, p = _regression_data(rng, shape, name)
    got = ours(t, p)
    assert type(got) is float
    np.testing.assert_allclose(got, sk(t, p), rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours(t, p, multioutput="raw_values"), sk(t, p, multioutput="raw_values"),
                               rtol=1e-12, atol=0)
    if len(shape) == 2 and shape[1] > 1:  # scikit-learn refuses weights for one output
        w = rng.uniform(0.5, 2, shape[1])
        np.testing.assert_allclose(ours(t, p, multioutput=w), sk(t, p, multioutput=w), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_1d_against_2d_column(rng, name):
    t, p = _regression_data(rng, (25,), name)
    ours = getattr(metrics, name)
    assert ours(t, p[:, None]) == ours(t[:, None], p) == ours(t, p)


def test_rmse_averages_per_column_rmse():
    t = np.zeros((2, 2))
    p = np.array([[1.0, 0.0], [1.0, 0.0]])  # column RMSEs 1 and 0
    assert metrics.rmse(t, p) == 0.5  # not sqrt(mse) = sqrt(0.5)
    np.testing.assert_array_equal(metrics.rmse(t, p, multioutput="raw_values"), [1.0, 0.0])
    assert metrics.rmse(t, p, multioutput=[3, 1]) == 0.75
    assert metrics.rmsle(t, np.expm1(p)) == 0.5
    assert metrics.rmse(t[:, 0], p[:, 0]) == 1.0


def test_mae_mse_equal_pooled_mean(rng):
    t = rng.uniform(0, 3, (20, 3))
    p = t + rng.standard_normal((20, 3)) * 0.3
    np.testing.assert_allclose(metrics.mae(t, p), np.mean(np.abs(t - p)), rtol=1e-14)
    np.testing.assert_allclose(metrics.mse(t, p), np.mean((t - p) ** 2), rtol=1e-14)
    np.testing.assert_allclose(metrics.rmsle(t[:, 0], np.abs(p[:, 0])),
                               np.sqrt(np.mean((np.log1p(np.abs(p[:, 0])) - np.log1p(t[:, 0])) ** 2)), rtol=1e-14)


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_shape_errors(name):
    fn = getattr(metrics, name)
    t = np.ones((5, 2))
    with pytest.raises(ValueError, match=rf"{name}: y_true shape \(5, 2\) and y_pred shape \(5, 1\) differ"):
        fn(t, t[:, :1])
    with pytest.raises(ValueError, match=r"y_true shape \(1, 5\) and y_pred shape \(5,\) differ"):
        fn(np.ones((1, 5)), np.ones(5))  # one sample of 5 outputs is not 5 samples
    with pytest.raises(ValueError, match=r"y_true shape \(4,\) and y_pred shape \(5,\) differ"):
        fn(np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match=f"{name}: empty input"):
        fn([], [])
    with pytest.raises(ValueError, match=f"{name}: empty input"):
        fn(np.zeros((0, 2)), np.zeros((0, 2)))
    if name != "r2_score":  # r2 takes sklearn's "variance_weighted" (tests/test_conformance_metrics_loader.py)
        with pytest.raises(ValueError, match="multioutput must be 'uniform_average', 'raw_values'"):
            fn(t, t, multioutput="variance_weighted")
    with pytest.raises(ValueError, match=r"multioutput weights have shape \(3,\), expected \(2,\)"):
        fn(t, t, multioutput=[1, 1, 1])


def test_rmsle_domain():
    t = np.array([0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"> -1 .*y_pred has 2 value\(s\) <= -1: -1, -3"):
        metrics.rmsle(t, np.array([-1.0, 0.5, -3.0]))
    with pytest.raises(ValueError, match=r"y_true has 1 value\(s\) <= -1: -2\.5"):
        metrics.rmsle(np.array([0.5, -2.5, 1.0]), t)
    with pytest.raises(ValueError, match=r"y_pred has 7 value\(s\) <= -1: -2, -2, -2, -2, -2, \.\.\."):
        metrics.rmsle(np.zeros(7), np.full(7, -2.0))
    # (-1, 0) is inside log1p's domain, as in recent scikit-learn
    expected = np.sqrt(np.mean((np.log1p([-0.5, 1.0, 2.0]) - np.log1p(t)) ** 2))
    np.testing.assert_allclose(metrics.rmsle(t, [-0.5, 1.0, 2.0]), expected, rtol=1e-14)


def test_rmsle_domain_against_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    _sklearn_regression(skm, "rmsle")
    t = np.array([0.5, 1.0, 2.0])
    with pytest.raises(ValueError):
        skm.root_mean_squared_log_error(t, [-1.0, 0.5, -3.0])
    try:
        sk = skm.root_mean_squared_log_error(t, [-0.5, 1.0, 2.0])
    except ValueError:
        pytest.skip("this (older) scikit-learn rejects every negative value")
    np.testing.assert_allclose(metrics.rmsle(t, [-0.5, 1.0, 2.0]), sk, rtol=1e-12)


def test_r2_edge_cases():
    assert metrics.r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0  # constant target predicted exactly
    assert metrics.r2_score([1.0, 1.0], [1.0, 2.0]) == 0.0  # constant target missed
    assert metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    t = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 2.0]])
    p = np.array([[1.0, 1.0, 0.0], [1.0, 3.0, 1.0]])
    np.testing.assert_array_equal(metrics.r2_score(t, p, multioutput="raw_values"), [1.0, 0.0, 0.5])
    assert metrics.r2_score(t, p) == 0.5
    with pytest.warns(RuntimeWarning, match="less than two samples"):
        assert np.isnan(metrics.r2_score([1.0], [2.0]))
    with pytest.warns(RuntimeWarning, match="less than two samples"):
        assert np.isnan(metrics.r2_score([3.0], [3.0]))
    with pytest.warns(RuntimeWarning, match="less than two samples"):
        raw = metrics.r2_score(np.ones((1, 3)), np.ones((1, 3)), multioutput="raw_values")
    assert raw.shape == (3,) and np.isnan(raw).all()


def test_r2_edge_cases_against_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    cases = [([1.0, 1.0], [1.0, 1.0]), ([1.0, 1.0], [1.0, 2.0]), ([[1.0, 1.0, 0.0], [1.0, 1.0, 2.0]],
             [[1.0, 1.0, 0.0], [1.0, 3.0, 1.0]]), ([5.0, 5.0, 5.0], [4.0, 5.0, 6.0])]
    for t, p in cases:
        for mo in ("uniform_average", "raw_values"):
            np.testing.assert_array_equal(metrics.r2_score(t, p, multioutput=mo), skm.r2_score(t, p, multioutput=mo))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.r2_score([1.0], [2.0]))
        with pytest.warns(RuntimeWarning):
            assert np.isnan(metrics.r2_score([1.0], [2.0]))


def test_regression_nan_propagates():
    for name in REGRESSION:
        assert np.isnan(getattr(metrics, name)([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])), name


def test_get():
    for name in ["accuracy", "mae", "mse", "rmse", "rmsle", "r2"]:
        assert callable(metrics.get(name)[1])
    assert metrics.get("r2")[1] is metrics.r2_score
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f7")
