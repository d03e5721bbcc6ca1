"""Metrics on NumPy arrays: ``metric(y_true, y_pred) -> float`` (confusion_matrix -> array).

Classification metrics accept scores (N, K) (logits or probabilities: the arg-max is the
prediction) or labels (N,); targets as labels (N,) or one-hot / probabilities (N, K). A single
score column (N,) or (N, 1) of probabilities is thresholded at 0.5 (binary).
"""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "top_k_accuracy", "mae", "mse", "rmse", "rmsle", "r2_score", "confusion_matrix",
           "get"]


def _labels_true(y_true, n=None):
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1:
        raise ValueError(f"y_true must be labels (N,) or one-hot (N, K), got shape {np.shape(y_true)}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"y_true has {y.shape[0]} samples but y_pred has {n}")
    return y


def _labels_pred(y_pred):
    p = np.asarray(y_pred)
    if p.ndim == 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    p = p.reshape(-1) if p.ndim == 2 else p
    if p.ndim != 1:
        raise ValueError(f"y_pred must be scores (N, K) or labels (N,), got shape {np.shape(y_pred)}")
    if p.dtype.kind == "f":  # one probability column: binary decision at 0.5
        return (p > 0.5).astype(np.int64)
    return p


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class equals the true one."""
    pred = _labels_pred(y_pred)
    true = _labels_true(y_true, pred.shape[0])
    return float(np.mean(pred == true)) if pred.size else 0.0


def top_k_accuracy(y_true, y_pred, k: int = 5) -> float:
    """Fraction of samples whose true class is among the k highest scores (ties: lower index first)."""
    scores = np.asarray(y_pred)
    if scores.ndim != 2:
        raise ValueError(f"top_k_accuracy needs scores of shape (N, K), got {scores.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int. Received: k={k!r}")
    true = _labels_true(y_true, scores.shape[0])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == true[:, None], axis=1))) if true.size else 0.0


def _pair(y_true, y_pred, name):
    t, p = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        if t.size == p.size and t.squeeze().shape == p.squeeze().shape:
            t, p = t.reshape(p.shape), p
        else:
            raise ValueError(f"{name}: y_true shape {t.shape} and y_pred shape {p.shape} differ")
    if t.size == 0:
        raise ValueError(f"{name}: empty input")
    return t, p


def mae(y_true, y_pred) -> float:
    """mean |y_true - y_pred|."""
    t, p = _pair(y_true, y_pred, "mae")
    return float(np.mean(np.abs(t - p)))


def mse(y_true, y_pred) -> float:
    """mean (y_true - y_pred)^2."""
    t, p = _pair(y_true, y_pred, "mse")
    return float(np.mean((t - p) ** 2))


def rmse(y_true, y_pred) -> float:
    """sqrt(mse)."""
    return float(np.sqrt(mse(y_true, y_pred)))


def rmsle(y_true, y_pred) -> float:
    """sqrt(mean (log1p(y_pred) - log1p(y_true))^2); values must be > -1."""
    t, p = _pair(y_true, y_pred, "rmsle")
    if np.any(t <= -1) or np.any(p <= -1):
        raise ValueError("rmsle: values must be > -1 (log1p is undefined otherwise)")
    return float(np.sqrt(np.mean((np.log1p(p) - np.log1p(t)) ** 2)))


def r2_score(y_true, y_pred) -> float:
    """1 - sum (t - p)^2 / sum (t - mean t)^2 (per output column, then averaged, as scikit-learn);
    a constant target gives 1.0 if predicted exactly, else 0.0 (scikit-learn's convention)."""
    t, p = _pair(y_true, y_pred, "r2_score")
    t2, p2 = t.reshape(t.shape[0], -1), p.reshape(p.shape[0], -1)
    ss_res = np.sum((t2 - p2) ** 2, axis=0)
    ss_tot = np.sum((t2 - t2.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                          np.where(ss_res == 0, 1.0, 0.0))
    return float(np.mean(scores))


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j (int64)."""
    pred = _labels_pred(y_pred).astype(np.int64)
    true = _labels_true(y_true, pred.shape[0]).astype(np.int64)
    if num_classes is None:
        num_classes = int(max(true.max(initial=-1), pred.max(initial=-1))) + 1
        if np.ndim(y_pred) == 2 and np.shape(y_pred)[1] > 1:
            num_classes = max(num_classes, np.shape(y_pred)[1])
    if (true < 0).any() or (pred < 0).any() or (true >= num_classes).any() or (pred >= num_classes).any():
        raise ValueError(f"labels must be in [0, {num_classes})")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (true, pred), 1)
    return counts


_BY_NAME = {
    "accuracy": accuracy, "acc": accuracy, "top_k_accuracy": top_k_accuracy,
    "mae": mae, "mean_absolute_error": mae, "mse": mse, "mean_squared_error": mse,
    "rmse": rmse, "rmsle": rmsle, "r2": r2_score, "r2_score": r2_score,
}


def get(metric):
    """(name, function) for a metric name ("accuracy", "top_5_accuracy", "mae", "mse", "rmse",
    "rmsle", "r2") or a callable (named after its __name__)."""
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if isinstance(metric, str):
        if metric.startswith("top_") and metric.endswith("_accuracy") and metric[4:-9].isdigit():
            k = int(metric[4:-9])
            return metric, lambda t, p, _k=k: top_k_accuracy(t, p, _k)
        if metric in _BY_NAME:
            return metric, _BY_NAME[metric]
    raise ValueError(f"unknown metric; expected a callable or one of {sorted(_BY_NAME)} or 'top_<k>_accuracy'. "
                     f"Received: metric={metric!r}")
