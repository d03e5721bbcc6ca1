"""fastnn.metrics against direct formulas and scikit-learn (optional oracle)."""
import numpy as np
import pytest

from fastnn import metrics


def test_accuracy_forms():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = np.array([1, 0, 0, 0])
    assert metrics.accuracy(labels, scores) == 0.75
    assert metrics.accuracy(np.eye(2)[labels], scores) == 0.75  # one-hot targets
    assert metrics.accuracy(labels, np.array([1, 0, 1, 0])) == 0.75  # label predictions
    assert metrics.accuracy(np.array([1, 0, 1]), np.array([[0.7], [0.2], [0.4]])) == 2 / 3  # binary column
    with pytest.raises(ValueError, match="3 samples but y_pred has 4"):
        metrics.accuracy(labels[:3], scores)


def test_top_k():
    scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    y = np.array([2, 2, 0])
    assert metrics.top_k_accuracy(y, scores, k=1) == 0
    assert metrics.top_k_accuracy(y, scores, k=2) == 1 / 3
    assert metrics.top_k_accuracy(y, scores, k=3) == 1
    name, fn = metrics.get("top_2_accuracy")
    assert fn(y, scores) == 1 / 3
    with pytest.raises(ValueError, match="Received: k=0"):
        metrics.top_k_accuracy(y, scores, k=0)


def test_regression_metrics(rng):
    t = rng.uniform(0, 3, (20, 2))
    p = t + rng.standard_normal((20, 2)) * 0.3
    assert abs(metrics.mae(t, p) - np.mean(np.abs(t - p))) < 1e-15
    assert abs(metrics.mse(t, p) - np.mean((t - p) ** 2)) < 1e-15
    assert abs(metrics.rmse(t, p) - np.sqrt(np.mean((t - p) ** 2))) < 1e-15
    p_pos = np.abs(p)
    assert abs(metrics.rmsle(t, p_pos) - np.sqrt(np.mean((np.log1p(p_pos) - np.log1p(t)) ** 2))) < 1e-15
    with pytest.raises(ValueError, match="differ"):
        metrics.mse(t, p[:, :1])
    with pytest.raises(ValueError, match="> -1"):
        metrics.rmsle(t, p - 10)
    assert metrics.mse(t[:, 0], t[:, :1]) == 0.0  # (N,) vs (N, 1) is accepted


def test_against_sklearn(rng):
    skm = pytest.importorskip("sklearn.metrics")
    t = rng.uniform(0, 3, (30, 2))
    p = t + rng.standard_normal((30, 2))
    assert abs(metrics.r2_score(t, p) - skm.r2_score(t, p)) < 1e-12
    y = rng.integers(0, 4, 50)
    scores = rng.standard_normal((50, 4))
    np.testing.assert_array_equal(metrics.confusion_matrix(y, scores),
                                  skm.confusion_matrix(y, scores.argmax(1), labels=range(4)))
    assert abs(metrics.top_k_accuracy(y, scores, 2) - skm.top_k_accuracy_score(y, scores, k=2)) < 1e-12


def test_confusion_matrix_and_r2_edge_cases():
    cm = metrics.confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1], num_classes=4)
    assert cm.shape == (4, 4) and cm[2, 2] == 1 and cm[1, 2] == 1 and cm.sum() == 4
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=2)
    assert metrics.r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert metrics.r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f1")
