"""Metrics on NumPy arrays: ``metric(y_true, y_pred) -> float`` (confusion_matrix -> array).

Classification metrics accept scores (N, K) (logits or probabilities: the arg-max is the
prediction) or labels (N,) / (N, 1); targets as labels (N,) / (N, 1) or one-hot / probabilities
(N, K). A single float column (N,) or (N, 1) is read as labels when its values are whole numbers
and as probabilities of class 1 (thresholded at 0.5) when it is one: see ``accuracy``.

Regression metrics take (N,) or (N, D) arrays (more dimensions are flattened to D outputs;
(N,) and (N, 1) may be mixed) and, as scikit-learn, compute the error of each output column and
then average the columns (``multioutput="uniform_average"``, the default), or return the
per-column values (``"raw_values"``), or a weighted average (an array of D weights; for
``r2_score`` also ``"variance_weighted"``).

Every metric takes ``sample_weight=`` (N,) as scikit-learn: one finite weight per sample
(negative ones allowed), not all zero; a weighted mean whose weights sum to 0 raises ValueError
(scikit-learn: ZeroDivisionError).

Every metric but ``confusion_matrix`` raises ValueError on empty input, and every one on inputs
of different shapes (naming both). Unlike scikit-learn, NaN and infinite values are not
rejected (a diverged model gets a NaN metric, not an exception mid-``fit``): the regression
metrics propagate them into the result, and a NaN prediction is a wrong class.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["accuracy", "top_k_accuracy", "mae", "mse", "rmse", "msle", "rmsle", "r2_score",
           "confusion_matrix", "get"]


# ---- sample weights -----------------------------------------------------------------------

def _sample_weight(sample_weight, n, name, dtype=np.float64):
    """(N,) weights as scikit-learn checks them, or None: 1-D, one per sample, finite, not all
    zero (negative weights are allowed)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=dtype)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name}: sample_weight has shape {w.shape} but y_true has {n} samples "
                         f"(expected one weight per sample, shape ({n},))")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: sample_weight must be finite, got {w[~np.isfinite(w)][:5].tolist()}")
    if w.size and not np.any(w):
        raise ValueError(f"{name}: sample_weight is all zero; at least one weight must be non-zero")
    return w


def _mean(values, w, name):
    """Mean of values (N,) or (N, D) over the samples (axis 0), weighted by w (N,) if given."""
    if w is None:
        return np.mean(values, axis=0)
    total = w.sum()
    if total == 0:
        raise ValueError(f"{name}: sample_weight sums to 0 (positive and negative weights cancel), "
                         "so the weighted mean is undefined")
    return _total(values, w) / total


def _total(values, w):
    """Sum of values (N,) or (N, D) over the samples, weighted by w (N,) if given."""
    return np.sum(values if w is None else values * w.reshape((-1,) + (1,) * (values.ndim - 1)), axis=0)


def _shown(bad):
    """The first few offending values, for an error message."""
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in bad[:5].tolist()) \
        + (", ..." if bad.size > 5 else "")


# ---- classification -----------------------------------------------------------------------

def _labels_true(y_true, n=None, pred_shape=None):
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1:
        raise ValueError(f"y_true must be labels (N,) or one-hot (N, K), got shape {np.shape(y_true)}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"y_true has {y.shape[0]} samples but y_pred has {n} "
                         f"(y_true shape {np.shape(y_true)}, y_pred shape {pred_shape})")
    return y


def _is_binary(true) -> bool:
    return true.dtype.kind in "biuf" and bool(np.all((true == 0) | (true == 1)))


def _labels_pred(y_pred, true=None):
    """Predicted labels (N,). A 1-D float y_pred is labels if its non-NaN values are whole
    numbers, else probabilities of class 1 if they lie in [0, 1] and ``true`` is binary (the
    result is then 0.0 / 1.0, NaN where y_pred is NaN); anything else raises."""
    p = np.asarray(y_pred)
    if p.ndim == 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    p = p.reshape(-1) if p.ndim == 2 else p
    if p.ndim != 1:
        raise ValueError(f"y_pred must be scores (N, K) or labels (N,), got shape {np.shape(y_pred)}")
    if p.dtype.kind != "f":
        return p
    v = p[~np.isnan(p)]
    if np.all(np.isfinite(v) & (v == np.round(v))):  # class indices stored as floats
        return p
    if true is not None and _is_binary(true) and np.all((v >= 0) & (v <= 1)):
        return np.where(np.isnan(p), np.nan, (p > 0.5).astype(p.dtype))
    why = ("y_true is not binary (0/1)" if np.all((v >= 0) & (v <= 1))
           else "they are not all in [0, 1]")
    raise ValueError(f"y_pred of shape {np.shape(y_pred)} holds non-integer values, so it is neither "
                     f"class labels nor probabilities of class 1 of a binary target ({why}); "
                     "pass scores (N, K), labels, or probabilities (e.g. a sigmoid of the logits)")


def _fraction(hit, normalize, sample_weight, name):
    """The (weighted) mean of the boolean hit (N,), or with normalize=False its (weighted) sum."""
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(f"{name}: normalize must be True or False. Received: normalize={normalize!r}")
    w = _sample_weight(sample_weight, hit.shape[0], name)
    if not normalize:
        return float(np.sum(hit) if w is None else np.dot(hit, w))
    return float(_mean(hit, w, name))


def accuracy(y_true, y_pred, *, normalize: bool = True, sample_weight=None) -> float:
    """Fraction of samples whose predicted class equals the true one (as scikit-learn's
    ``accuracy_score``; ``normalize=False``: their number, or with ``sample_weight`` their total
    weight, as a float).

    y_pred: scores (N, K) (the arg-max is the class), or one column (N,) / (N, 1):
      - integer or boolean values, or floats whose values are all whole numbers (NaN aside), are
        class labels compared with y_true as they are (``accuracy([2, 0, 1], [2., 0., 1.]) == 1``);
      - other floats are probabilities of class 1, thresholded at 0.5 (``p > 0.5`` is class 1),
        when every non-NaN value lies in [0, 1] and every y_true label is 0 or 1;
      - anything else (e.g. logits, or fractions with a multi-class y_true) raises ValueError
        (as scikit-learn's "mix of binary and continuous targets").
    y_true: labels (N,) / (N, 1), or one-hot / probabilities (N, K) (reduced by arg-max; unlike
    scikit-learn, a multi-label indicator (N, K) is read so too, not as subset accuracy).
    A NaN prediction counts as wrong. Empty input raises ValueError (as scikit-learn).
    """
    p_shape = np.shape(y_pred)
    n = p_shape[0] if len(p_shape) else None
    true = _labels_true(y_true, n, p_shape)
    pred = _labels_pred(y_pred, true)
    if pred.size == 0:
        raise ValueError("accuracy: empty input (zero samples); the fraction is undefined")
    return _fraction(pred == true, normalize, sample_weight, "accuracy")


def top_k_accuracy(y_true, y_pred, k: int = 5, *, normalize: bool = True, sample_weight=None) -> float:
    """Fraction of samples whose true class is among the k highest scores of y_pred (N, K)
    (``normalize`` and ``sample_weight`` as ``accuracy``'s).

    The labels are column indices: whole numbers in [0, K), else ValueError (a label no column
    scores would silently count as a miss; scikit-learn instead maps the sorted distinct labels
    to the columns). Ties are broken by the lower class index first (so ``k=1`` agrees with
    ``accuracy``'s arg-max; scikit-learn's ``top_k_accuracy_score`` prefers the higher index).
    k >= K gives 1.0. Empty input raises ValueError."""
    scores = np.asarray(y_pred)
    if scores.ndim != 2:
        raise ValueError(f"top_k_accuracy needs scores of shape (N, K), got {scores.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int. Received: k={k!r}")
    true = _labels_true(y_true, scores.shape[0], scores.shape)
    if true.size == 0:
        raise ValueError("top_k_accuracy: empty input (zero samples); the fraction is undefined")
    n_classes = scores.shape[1]
    if true.dtype.kind not in "biuf":
        raise ValueError(f"top_k_accuracy: y_true labels must be class indices in [0, {n_classes}), "
                         f"got dtype {true.dtype}")
    bad = true[~((true >= 0) & (true < n_classes) & (true == np.round(true)))]
    if bad.size:
        raise ValueError(f"top_k_accuracy: y_true labels must be class indices in [0, {n_classes}) "
                         f"(the columns of y_pred); got {_shown(bad)}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return _fraction(np.any(top == true[:, None], axis=1), normalize, sample_weight, "top_k_accuracy")


def confusion_matrix(y_true, y_pred, num_classes: int | None = None, *, sample_weight=None,
                     normalize: str | None = None) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j (int64).

    Inputs as ``accuracy``'s; labels must be whole numbers in [0, num_classes) (default: the
    largest label + 1, at least K for scores (N, K)). Empty input gives a matrix of zeros.
    As scikit-learn's: with ``sample_weight`` each sample counts its weight (int64 for integer
    weights, else float64); ``normalize="true"`` / ``"pred"`` / ``"all"`` divides by the row
    (true class) sums / column sums / total (float64; a class without samples gives zeros)."""
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
        raise ValueError(f"confusion_matrix: num_classes must be a positive int or None. "
                         f"Received: num_classes={num_classes!r}")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all'. "
                         f"Received: normalize={normalize!r}")
    p_shape = np.shape(y_pred)
    n = p_shape[0] if len(p_shape) else None
    true = _labels_true(y_true, n, p_shape)
    pred = _labels_pred(y_pred, true)
    for name, a in (("y_true", true), ("y_pred", pred)):
        if a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a))):
            raise ValueError(f"confusion_matrix: {name} labels must be whole numbers (got NaN, inf or fractions)")
    pred, true = pred.astype(np.int64), true.astype(np.int64)
    if num_classes is None:
        num_classes = int(max(true.max(initial=-1), pred.max(initial=-1))) + 1
        if len(p_shape) == 2 and p_shape[1] > 1:
            num_classes = max(num_classes, p_shape[1])
    for name, a in (("y_true", true), ("y_pred", pred)):
        bad = a[(a < 0) | (a >= num_classes)]
        if bad.size:
            raise ValueError(f"confusion_matrix: labels must be in [0, {num_classes}); "
                             f"{name} has {_shown(bad)}")
    w = None
    if sample_weight is not None:
        kind = np.asarray(sample_weight).dtype.kind
        w = _sample_weight(sample_weight, true.shape[0], "confusion_matrix",
                           np.int64 if kind in "biu" else np.float64)
    counts = np.zeros((num_classes, num_classes), dtype=np.int64 if w is None else w.dtype)
    np.add.at(counts, (true, pred), 1 if w is None else w)
    if normalize is None:
        return counts
    with np.errstate(divide="ignore", invalid="ignore"):
        total = {"true": counts.sum(axis=1, keepdims=True), "pred": counts.sum(axis=0, keepdims=True),
                 "all": counts.sum()}[normalize]
        return np.nan_to_num(counts / total)


# ---- regression ---------------------------------------------------------------------------

def _outputs(a):
    return tuple(d for d in a.shape[1:] if d != 1)


def _pair(y_true, y_pred, name):
    """float64 (N, D) views of y_true and y_pred. Shapes must agree on N and, once size-1 axes
    after the first are dropped, on the rest ((N,) with (N, 1) is accepted, (1, N) with (N,) not)."""
    t = np.atleast_1d(np.asarray(y_true, dtype=np.float64))
    p = np.atleast_1d(np.asarray(y_pred, dtype=np.float64))
    if t.shape != p.shape and (t.shape[0] != p.shape[0] or _outputs(t) != _outputs(p)):
        raise ValueError(f"{name}: y_true shape {np.shape(y_true)} and y_pred shape {np.shape(y_pred)} differ")
    if t.size == 0:
        raise ValueError(f"{name}: empty input (y_true shape {np.shape(y_true)})")
    n = t.shape[0]
    return t.reshape(n, -1), p.reshape(n, -1)


def _average(values, multioutput, name, variance=None):
    """Per-column values (D,) combined as scikit-learn's ``multioutput``; ``variance`` (D,),
    the columns' (weighted) sums of squares about their mean, enables ``"variance_weighted"``
    (r2_score's), which falls back to the uniform mean when every column is constant."""
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return values
        if multioutput == "uniform_average":
            return float(np.mean(values))
        if multioutput == "variance_weighted" and variance is not None:
            return float(np.average(values, weights=variance) if np.any(variance) else np.mean(values))
        options = "'uniform_average', 'raw_values'" + (", 'variance_weighted'" if variance is not None else "")
        raise ValueError(f"{name}: multioutput must be {options} or an array of "
                         f"{values.shape[0]} weights. Received: multioutput={multioutput!r}")
    w = np.asarray(multioutput, dtype=np.float64)
    if w.shape != values.shape:
        raise ValueError(f"{name}: multioutput weights have shape {w.shape}, expected ({values.shape[0]},) "
                         f"(one per output column)")
    if not np.all(np.isfinite(w)) or w.sum() == 0:
        raise ValueError(f"{name}: multioutput weights must be finite and not sum to 0. "
                         f"Received: multioutput={w.tolist()}")
    return float(np.average(values, weights=w))


def mae(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean absolute error: mean |y_true - y_pred| per output column, then combined by
    ``multioutput`` (with the default the same as the mean over all elements)."""
    t, p = _pair(y_true, y_pred, "mae")
    w = _sample_weight(sample_weight, t.shape[0], "mae")
    return _average(_mean(np.abs(t - p), w, "mae"), multioutput, "mae")


def mse(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean squared error: mean (y_true - y_pred)^2 per output column, then combined by
    ``multioutput`` (with the default the same as the mean over all elements)."""
    t, p = _pair(y_true, y_pred, "mse")
    w = _sample_weight(sample_weight, t.shape[0], "mse")
    return _average(_mean((t - p) ** 2, w, "mse"), multioutput, "mse")


def rmse(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Root mean squared error of each output column, sqrt(mean (y_true - y_pred)^2), then
    combined by ``multioutput`` (as scikit-learn's ``root_mean_squared_error``): for D > 1
    columns the default is the mean of the D per-column RMSEs, not sqrt(mse)."""
    t, p = _pair(y_true, y_pred, "rmse")
    w = _sample_weight(sample_weight, t.shape[0], "rmse")
    return _average(np.sqrt(_mean((t - p) ** 2, w, "rmse")), multioutput, "rmse")


def _squared_log_errors(y_true, y_pred, sample_weight, name):
    """Per-column (weighted) mean of (log1p(y_pred) - log1p(y_true))^2, after the domain check."""
    t, p = _pair(y_true, y_pred, name)
    w = _sample_weight(sample_weight, t.shape[0], name)
    for arg, a in (("y_true", t), ("y_pred", p)):
        bad = a[a <= -1]
        if bad.size:
            raise ValueError(f"{name}: values must be > -1 (log1p is undefined otherwise); "
                             f"{arg} has {bad.size} value(s) <= -1: {_shown(bad)}")
    return _mean((np.log1p(p) - np.log1p(t)) ** 2, w, name)


def msle(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean squared log error of each output column, mean (log1p(y_pred) - log1p(y_true))^2,
    then combined by ``multioutput`` (as scikit-learn's ``mean_squared_log_error``). Every value
    must be > -1, as for ``rmsle``."""
    return _average(_squared_log_errors(y_true, y_pred, sample_weight, "msle"), multioutput, "msle")


def rmsle(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Root mean squared log error of each output column, sqrt(mean (log1p(y_pred) -
    log1p(y_true))^2), then combined by ``multioutput`` (as scikit-learn's
    ``root_mean_squared_log_error``). Every value must be > -1 (log1p's domain; recent
    scikit-learn uses the same bound, older releases rejected every negative value): otherwise
    ValueError naming the argument and the offending values."""
    per_column = _squared_log_errors(y_true, y_pred, sample_weight, "rmsle")
    return _average(np.sqrt(per_column), multioutput, "rmsle")


def r2_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite: bool = True):
    """Coefficient of determination 1 - sum w (t - p)^2 / sum w (t - mean t)^2 of each output
    column (w: ``sample_weight``, mean t weighted by it), then combined by ``multioutput`` (as
    scikit-learn's ``r2_score``; ``"variance_weighted"`` weights each column by its denominator).

    A constant target column gives 1.0 if predicted exactly, else 0.0 (``force_finite=True``, the
    default); with ``force_finite=False`` the plain formula's NaN / -inf. Fewer than two samples:
    NaN (for every column) and a RuntimeWarning, as scikit-learn (which warns with its
    UndefinedMetricWarning, and returns one NaN even for ``"raw_values"``)."""
    if not isinstance(force_finite, (bool, np.bool_)):
        raise ValueError(f"r2_score: force_finite must be True or False. "
                         f"Received: force_finite={force_finite!r}")
    t, p = _pair(y_true, y_pred, "r2_score")
    w = _sample_weight(sample_weight, t.shape[0], "r2_score")
    if t.shape[0] < 2:
        warnings.warn("r2_score: R^2 is not well-defined with less than two samples; returning NaN",
                      RuntimeWarning, stacklevel=2)
        return _average(np.full(t.shape[1], np.nan), multioutput, "r2_score", np.zeros(t.shape[1]))
    ss_res = _total((t - p) ** 2, w)
    ss_tot = _total((t - _mean(t, w, "r2_score")) ** 2, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        if force_finite:
            scores = np.where(ss_tot != 0, 1 - ss_res / np.where(ss_tot != 0, ss_tot, 1),
                              np.where(ss_res == 0, 1.0, 0.0))
        else:
            scores = 1 - ss_res / ss_tot
    return _average(scores, multioutput, "r2_score", ss_tot)


# ---- by name ------------------------------------------------------------------------------

_BY_NAME = {
    "accuracy": accuracy, "acc": accuracy, "top_k_accuracy": top_k_accuracy,
    "mae": mae, "mean_absolute_error": mae, "mse": mse, "mean_squared_error": mse,
    "rmse": rmse, "root_mean_squared_error": rmse, "msle": msle, "mean_squared_log_error": msle,
    "rmsle": rmsle, "root_mean_squared_log_error": rmsle, "r2": r2_score, "r2_score": r2_score,
}


def get(metric):
    """(name, function) for a metric name ("accuracy", "top_5_accuracy", "mae", "mse", "rmse",
    "msle", "rmsle", "r2", or scikit-learn's long names) or a callable (named after its
    __name__)."""
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
