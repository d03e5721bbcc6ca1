"""The few metrics cross-validation and ensembles need (private: ``fastnn.metrics`` is the
public module). Predictions may be class probabilities ``(N, K)`` or labels/values ``(N,)``."""
from __future__ import annotations

import numpy as np


def _labels(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2:
        return a.argmax(axis=1)
    if a.ndim == 1:
        return a
    raise ValueError(f"{name} must be labels (N,) or scores (N, K), got shape {a.shape}")


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class (argmax of ``y_pred`` if 2-D) equals
    ``y_true`` (labels, or one-hot/soft labels reduced by argmax)."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("accuracy of zero samples is undefined")
    return float(np.mean(t == p))


def _values(y_true, y_pred):
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 1 and t.ndim == 1:
        p = p[:, 0]
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    return t, p


def mse(y_true, y_pred) -> float:
    """Mean squared error (lower is better)."""
    t, p = _values(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error (lower is better)."""
    t, p = _values(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


METRICS = {"accuracy": accuracy, "mse": mse, "mae": mae}


def get_metric(metric):
    """A metric by name (``"accuracy"``, ``"mse"``, ``"mae"``) or a callable
    ``metric(y_true, y_pred) -> float`` passed through."""
    if callable(metric):
        return metric
    if metric in METRICS:
        return METRICS[metric]
    raise ValueError(f"unknown metric {metric!r}; use one of {sorted(METRICS)} or a callable "
                     "metric(y_true, y_pred) -> float")
