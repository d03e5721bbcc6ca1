"""A row of scores holding a NaN (a diverged model) is a wrong prediction, as the docs say for
NaN predictions: np.argmax used to return the NaN's column, so an all-NaN model scored the
share of class 0 (and a NaN in the true column counted as a hit)."""
import numpy as np
import pytest

from fastnn import metrics

nan = np.nan


def test_accuracy_counts_nan_rows_as_wrong():
    assert metrics.accuracy([0, 0, 0, 1, 2, 0], np.full((6, 3), nan)) == 0.0
    assert metrics.accuracy([0, 1], [[nan, 0.5], [0.1, 0.9]]) == 0.5
    assert metrics.accuracy([0, 1], np.array([[nan, 0.5], [0.1, 0.9]], np.float32), normalize=False) == 1.0


def test_top_k_accuracy_counts_nan_rows_as_wrong():
    assert metrics.top_k_accuracy([0, 1], [[nan, nan, 0.1], [0.1, 0.9, 0.0]], k=2) == 0.5
    assert metrics.top_k_accuracy([0, 1], [[0.2, nan, 0.1], [0.1, 0.9, 0.0]], k=3) == 0.5


def test_confusion_matrix_refuses_nan_scores_as_nan_labels():
    with pytest.raises(ValueError, match="y_pred labels must be whole numbers"):
        metrics.confusion_matrix([0, 0, 1], np.full((3, 2), nan))


@pytest.mark.parametrize("name", ["accuracy", "f1", "mcc", "balanced_accuracy"])
def test_fit_metrics_score_an_all_nan_model_as_wrong_everywhere(name):
    _, fn = metrics.get(name)
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y]
    diverged = np.full((6, 3), nan)
    assert fn(y, perfect) == 1.0
    assert fn(y, diverged) <= 0.0
    half = perfect.copy()
    half[:3] = nan
    assert fn(y, half) < 1.0
