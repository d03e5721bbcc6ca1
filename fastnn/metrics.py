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

The scikit-learn-named functions (``f1_score``, ``roc_auc_score``, ``log_loss``, ...,
``accuracy_score``, ``top_k_accuracy_score``, ``mean_absolute_error``, ...) follow
scikit-learn 1.9's ``sklearn.metrics`` exactly instead: its signatures, defaults, target
types (binary / multiclass / multi-label indicator; no arg-max of 2-D predictions), errors
(ValueError) and warnings (``UndefinedMetricWarning`` for ill-defined values). ``get`` maps
"f1", "precision", "recall", "roc_auc", ... to versions that take fit's outputs (logits).
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["accuracy", "top_k_accuracy", "mae", "mse", "rmse", "msle", "rmsle", "r2_score",
           "confusion_matrix", "get",
           # scikit-learn names
           "UndefinedMetricWarning", "accuracy_score", "top_k_accuracy_score", "precision_score",
           "recall_score", "f1_score", "fbeta_score", "precision_recall_fscore_support",
           "balanced_accuracy_score", "matthews_corrcoef", "cohen_kappa_score", "jaccard_score",
           "hamming_loss", "zero_one_loss", "log_loss", "brier_score_loss", "roc_auc_score",
           "average_precision_score", "roc_curve", "precision_recall_curve", "auc",
           "classification_report", "mean_absolute_error", "mean_squared_error",
           "root_mean_squared_error", "mean_squared_log_error", "root_mean_squared_log_error",
           "median_absolute_error", "max_error", "explained_variance_score",
           "mean_absolute_percentage_error", "mean_pinball_loss", "d2_absolute_error_score"]


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
        labels = p.argmax(axis=1)
        if p.dtype.kind in "fc":  # a row with a NaN score is a NaN prediction (wrong), not its arg-max
            bad = np.isnan(p).any(axis=1)
            if bad.any():
                labels = np.where(bad, np.nan, labels)
        return labels
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
    hit = np.any(top == true[:, None], axis=1)
    if scores.dtype.kind in "fc":
        hit &= ~np.isnan(scores).any(axis=1)  # a NaN score makes the row's prediction wrong
    return _fraction(hit, normalize, sample_weight, "top_k_accuracy")


def confusion_matrix(y_true, y_pred, num_classes: int | None = None, *, labels=None, sample_weight=None,
                     normalize: str | None = None) -> np.ndarray:
    """counts[i, j] = number of samples of true class i predicted as class j (int64).

    Inputs as ``accuracy``'s; labels must be whole numbers in [0, num_classes) (default: the
    largest label + 1, at least K for scores (N, K)). Empty input gives a matrix of zeros.
    As scikit-learn's: with ``sample_weight`` each sample counts its weight (int64 for integer
    weights, else float64); ``normalize="true"`` / ``"pred"`` / ``"all"`` divides by the row
    (true class) sums / column sums / total (float64; a class without samples gives zeros).
    ``labels`` (scikit-learn's; exclusive with num_classes): the classes (any values) indexing
    the rows and columns, in that order; samples of other classes are left out."""
    if num_classes is not None and (isinstance(num_classes, bool)
                                    or not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
        raise ValueError(f"confusion_matrix: num_classes must be a positive int or None. "
                         f"Received: num_classes={num_classes!r}")
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(f"confusion_matrix: normalize must be None, 'true', 'pred' or 'all'. "
                         f"Received: normalize={normalize!r}")
    if labels is not None:
        if num_classes is not None:
            raise ValueError("confusion_matrix: pass num_classes or labels, not both. "
                             f"Received: num_classes={num_classes!r}, labels={labels!r}")
        p = _host(y_pred)
        p = _labels_pred(p, _labels_true(_host(y_true))) if p.ndim == 2 and p.shape[1] > 1 else p
        t = _host(y_true)
        t = _labels_true(t) if t.ndim == 2 and t.shape[1] > 1 else t
        return _confusion_labels(t, p, labels, sample_weight, normalize, "confusion_matrix")
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
    for label, v in (("y_true", y_true), ("y_pred", y_pred)):
        # np.asarray(None, float64) is nan: None (or a None inside a list) would be a silent NaN metric
        if (v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype) == object:
            shown = v.tolist() if isinstance(v, np.ndarray) else v
            raise TypeError(f"{name}: {label} must be an array of numbers. Received: {label}={shown!r}")
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


# ---- scikit-learn-named classification metrics --------------------------------------------
# These follow sklearn.metrics exactly (targets are labels (N,) / (N, 1), or a multi-label
# 0/1 indicator (N, L); scores are probabilities or decision values): unlike ``accuracy``
# they do not take the arg-max of 2-D predictions (a 2-D 0/1 prediction is multi-label, as in
# scikit-learn). ``get("f1")`` etc. wrap them with that conversion for fit(metrics=[...]).

class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the input (e.g. precision with no predicted positives) and
    was set to a fixed value (``zero_division``), as scikit-learn's warning of that name."""


def _host(a):
    """A NumPy array of a (CuPy arrays are copied to the host)."""
    if hasattr(a, "__cuda_array_interface__"):
        from ._device import to_host
        return to_host(a)
    return np.asarray(a)


def _type_of_target(y, name="y"):
    """scikit-learn's ``type_of_target`` for dense arrays: 'binary', 'multiclass',
    'multilabel-indicator', 'continuous', 'continuous-multioutput', 'multiclass-multioutput'."""
    if y.ndim > 2 or (y.dtype == object and y.ndim == 2):
        return "unknown"
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns (shape {y.shape}); expected at least one")
    if y.ndim == 2 and y.shape[1] > 1 and y.size:
        u = np.unique(y)
        if len(u) < 3 and (y.dtype.kind in "biu" or (y.dtype.kind == "f" and np.all(u == np.round(u)))):
            return "multilabel-indicator"
    suffix = "-multioutput" if y.ndim == 2 and y.shape[1] > 1 else ""
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"Input {name} contains NaN or infinity.")
        if np.any(y != np.round(y)):
            return "continuous" + suffix
    if len(np.unique(y)) > 2 or (y.ndim == 2 and y.shape[1] > 1):
        return "multiclass" + suffix
    return "binary"


def _check_targets(y_true, y_pred, name):
    """(type, sorted labels present, y_true, y_pred) as scikit-learn's ``_check_targets``."""
    t, p = _host(y_true), _host(y_pred)
    if t.shape[:1] != p.shape[:1] or t.ndim == 0 or p.ndim == 0:
        raise ValueError(f"{name}: y_true and y_pred have inconsistent numbers of samples: "
                         f"shapes {t.shape} and {p.shape}")
    if t.shape[0] == 0:
        raise ValueError(f"{name}: found empty input (y_true and y_pred have 0 samples); "
                         "a minimum of 1 sample is required")
    tt, tp = _type_of_target(t, "y_true"), _type_of_target(p, "y_pred")
    types = {tt, tp}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        raise ValueError(f"{name}: Classification metrics can't handle a mix of {tt} and {tp} targets")
    y_type = types.pop()
    if y_type not in ("binary", "multiclass", "multilabel-indicator"):
        raise ValueError(f"{name}: {y_type} is not supported (y_true shape {t.shape}, y_pred shape {p.shape})")
    if y_type == "multilabel-indicator":
        if t.shape[1] != p.shape[1]:
            raise ValueError(f"{name}: Multi-label binary indicator input with different numbers of "
                             f"labels: y_true {t.shape}, y_pred {p.shape}")
        return y_type, np.arange(t.shape[1]), t, p
    t, p = t.reshape(-1), p.reshape(-1)
    if (t.dtype.kind in "OUS") != (p.dtype.kind in "OUS"):
        raise ValueError(f"{name}: Mix of label input types (string and number): y_true dtype "
                         f"{t.dtype}, y_pred dtype {p.dtype}")
    labels = np.unique(np.concatenate([t, p]))
    if y_type == "binary" and labels.shape[0] > 2:
        y_type = "multiclass"
    return y_type, labels, t, p


def _weights(sample_weight, n, name):
    return _sample_weight(_host(sample_weight) if sample_weight is not None else None, n, name)


def _check_zero_division(zero_division, name):
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if isinstance(zero_division, (int, float, np.floating)) and not isinstance(zero_division, bool) \
            and (zero_division in (0, 1) or np.isnan(zero_division)):
        return float(zero_division)
    raise ValueError(f"{name}: zero_division must be 'warn', 0.0, 1.0 or np.nan. "
                     f"Received: zero_division={zero_division!r}")


_AVERAGES = (None, "micro", "macro", "weighted", "samples")


def _set_wise_labels(y_true, y_pred, average, labels, pos_label, name):
    """scikit-learn's ``_check_set_wise_labels``: validates ``average`` / ``pos_label``."""
    if average not in _AVERAGES and average != "binary":
        raise ValueError(f"{name}: average has to be one of {_AVERAGES} or 'binary'. "
                         f"Received: average={average!r}")
    y_type, present, t, p = _check_targets(y_true, y_pred, name)
    if average == "binary":
        if y_type == "binary":
            if pos_label not in present.tolist() and len(present) >= 2:
                raise ValueError(f"{name}: pos_label={pos_label!r} is not a valid label. It should be "
                                 f"one of {present.tolist()}")
            labels = [pos_label]
        else:
            opts = [a for a in _AVERAGES if not (y_type == "multiclass" and a == "samples")]
            raise ValueError(f"{name}: Target is {y_type} but average='binary'. Please choose another "
                             f"average setting, one of {opts}.")
    elif pos_label not in (None, 1):
        warnings.warn(f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
                      f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
                      "class.", UserWarning, stacklevel=3)
    return y_type, present, t, p, labels


def _mcm(y_type, present, t, p, w, labels, samplewise, name):
    """tp, pred_sum, true_sum, total (each per label, or per sample when samplewise) as the
    entries of scikit-learn's ``multilabel_confusion_matrix``."""
    if y_type == "multilabel-indicator":
        if labels is None:
            cols = np.arange(t.shape[1])
        else:
            cols = np.asarray(labels)
            if cols.size and (cols.dtype.kind not in "iu" or cols.max() >= t.shape[1] or cols.min() < 0):
                raise ValueError(f"{name}: All labels must be in [0, n labels) for multilabel targets "
                                 f"({t.shape[1]} labels). Received: labels={cols.tolist()}")
        tb, pb = (t[:, cols] != 0), (p[:, cols] != 0)

        def count(m):  # as scikit-learn's sparse count_nonzero (bincount order: same rounding)
            if samplewise:
                return m.sum(axis=1) if w is None else m.sum(axis=1) * w
            if w is None:
                return m.sum(axis=0)
            rows, columns = np.nonzero(m)
            return np.bincount(columns, weights=w[rows], minlength=m.shape[1])
        tp, ps, ts = count(tb & pb), count(pb), count(tb)
        if samplewise:
            total = tb.shape[1] * (np.ones(t.shape[0]) if w is None else w)
        else:
            total = t.shape[0] if w is None else w.sum()
        return tp, ps, ts, total
    if samplewise:
        raise ValueError(f"{name}: Samplewise metrics are not available outside of multilabel "
                         "classification (average='samples').")
    if labels is None:
        lab = present
    else:
        lab = np.asarray(labels)
        if lab.ndim != 1 or lab.size == 0:
            raise ValueError(f"{name}: labels must be a non-empty 1-D list of classes. Received: labels={labels!r}")
    # as scikit-learn: bincounts over the sorted union of labels and present classes
    classes = np.unique(np.concatenate([lab, present]))
    ti, pi = np.searchsorted(classes, t), np.searchsorted(classes, p)
    hit = ti == pi
    k = classes.shape[0]
    tp = np.bincount(ti[hit], weights=None if w is None else w[hit], minlength=k)
    ps = np.bincount(pi, weights=w, minlength=k)
    ts = np.bincount(ti, weights=w, minlength=k)
    idx = np.searchsorted(classes, lab)
    return tp[idx], ps[idx], ts[idx], (t.shape[0] if w is None else w.sum())


def _warn_prf(average, modifier, msg_start, result_size):
    axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
    how = "due to" if result_size == 1 else f"in {axis1}s with"
    warnings.warn(f"{msg_start} ill-defined and being set to 0.0 {how} no {modifier} {axis0}s. "
                  "Use `zero_division` parameter to control this behavior.",
                  UndefinedMetricWarning, stacklevel=4)


def _prf_divide(num, den, metric, modifier, average, warn_for, zero_division):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    mask = den == 0
    result = num / np.where(mask, 1.0, den)
    if not np.any(mask):
        return result
    result[mask] = _check_zero_division(zero_division, metric)
    if isinstance(zero_division, str) and metric in warn_for:
        _warn_prf(average, modifier, f"{metric.capitalize()} is", result.shape[0])
    return result


def _nanaverage(a, weights=None):
    if a.size == 0:
        return np.nan
    if weights is None:
        return np.nanmean(a) if not np.all(np.isnan(a)) else np.nan
    keep = ~np.isnan(a)
    a, weights = a[keep], np.asarray(weights, dtype=np.float64)[keep]
    if a.size == 0:
        return np.nan
    if weights.sum() == 0:
        return float(np.mean(a))
    return float(np.average(a, weights=weights))


def precision_recall_fscore_support(y_true, y_pred, *, beta=1.0, labels=None, pos_label=1, average=None,
                                    warn_for=("precision", "recall", "f-score"), sample_weight=None,
                                    zero_division="warn"):
    """Precision tp / (tp + fp), recall tp / (tp + fn), F-beta (1 + b^2) tp / ((1 + b^2) tp +
    b^2 fn + fp) and support (number of true samples) of each label, as scikit-learn's.

    average: None (per label arrays, and the support), 'binary' (the ``pos_label`` class of a
    binary target), 'micro' (global counts), 'macro' (unweighted mean over labels), 'weighted'
    (mean weighted by support), 'samples' (multi-label: per sample, then the mean). ``labels``
    picks (and orders) the labels used. ``zero_division``: value of 0/0 ratios ("warn": 0.0
    with an UndefinedMetricWarning; 0.0, 1.0 or np.nan silently; NaN ratios are left out of
    the averages)."""
    name = "precision_recall_fscore_support"
    _check_zero_division(zero_division, name)
    if not isinstance(beta, (int, float, np.floating)) or isinstance(beta, bool) or not beta >= 0:
        raise ValueError(f"{name}: beta must be a float >= 0. Received: beta={beta!r}")
    y_type, present, t, p, labels = _set_wise_labels(y_true, y_pred, average, labels, pos_label, name)
    w = _weights(sample_weight, t.shape[0], name)
    samplewise = average == "samples"
    tp, ps, ts, _ = _mcm(y_type, present, t, p, w, labels, samplewise, name)
    if average == "micro":
        tp, ps, ts = np.array([tp.sum()]), np.array([ps.sum()]), np.array([ts.sum()])
    precision = _prf_divide(tp, ps, "precision", "predicted", average, warn_for, zero_division)
    recall = _prf_divide(tp, ts, "recall", "true", average, warn_for, zero_division)
    if np.isposinf(beta):
        f = recall
    elif beta == 0:
        f = precision
    else:
        b2 = beta ** 2
        f = _prf_divide((1 + b2) * np.asarray(tp, np.float64), b2 * np.asarray(ts, np.float64) + ps,
                        "f-score", "true nor predicted", average, warn_for, zero_division)
    weights = ts if average == "weighted" else (w if average == "samples" else None)
    if average is not None:
        return (float(_nanaverage(precision, weights)), float(_nanaverage(recall, weights)),
                float(_nanaverage(f, weights)), None)
    return precision, recall, f, ts


def fbeta_score(y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary", sample_weight=None,
                zero_division="warn"):
    """F-beta score (weighted harmonic mean of precision and recall), as scikit-learn's; the
    arguments as ``precision_recall_fscore_support``'s."""
    _, _, f, _ = precision_recall_fscore_support(
        y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label, average=average,
        warn_for=("f-score",), sample_weight=sample_weight, zero_division=zero_division)
    return f


def f1_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
             zero_division="warn"):
    """F1 score 2 tp / (2 tp + fp + fn), as scikit-learn's (``fbeta_score`` with beta=1)."""
    return fbeta_score(y_true, y_pred, beta=1, labels=labels, pos_label=pos_label, average=average,
                       sample_weight=sample_weight, zero_division=zero_division)


def precision_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                    zero_division="warn"):
    """Precision tp / (tp + fp), as scikit-learn's."""
    p, _, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average, warn_for=("precision",),
        sample_weight=sample_weight, zero_division=zero_division)
    return p


def recall_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
    """Recall tp / (tp + fn), as scikit-learn's."""
    _, r, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average, warn_for=("recall",),
        sample_weight=sample_weight, zero_division=zero_division)
    return r


def jaccard_score(y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
                  zero_division="warn"):
    """Jaccard index tp / (tp + fp + fn), as scikit-learn's."""
    name = "jaccard_score"
    if not (isinstance(zero_division, str) and zero_division == "warn") and not (
            isinstance(zero_division, (int, float)) and not isinstance(zero_division, bool)
            and zero_division in (0, 1)):
        raise ValueError(f"{name}: zero_division must be 'warn', 0 or 1. Received: zero_division={zero_division!r}")
    y_type, present, t, p, labels = _set_wise_labels(y_true, y_pred, average, labels, pos_label, name)
    w = _weights(sample_weight, t.shape[0], name)
    tp, ps, ts, _ = _mcm(y_type, present, t, p, w, labels, average == "samples", name)
    num, den = tp, ps + ts - tp
    if average == "micro":
        num, den = np.array([num.sum()]), np.array([den.sum()])
    jac = _prf_divide(num, den, "jaccard", "true or predicted", average, ("jaccard",), zero_division)
    if average is None:
        return jac
    weights = None
    if average == "weighted":
        weights = ts if np.any(ts) else None
    elif average == "samples" and w is not None:
        weights = w
    return float(np.average(jac, weights=weights))


def _check_normalize(normalize, name):
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(f"{name}: normalize must be True or False. Received: normalize={normalize!r}")


def accuracy_score(y_true, y_pred, *, normalize=True, sample_weight=None):
    """Accuracy as scikit-learn's: the fraction (``normalize=False``: the (weighted) number) of
    samples predicted exactly; for a multi-label indicator, of samples whose whole label set
    matches (subset accuracy). Labels, not scores: see ``accuracy`` for the arg-max form."""
    name = "accuracy_score"
    _check_normalize(normalize, name)
    y_type, _, t, p = _check_targets(y_true, y_pred, name)
    hit = np.all(t == p, axis=1) if y_type == "multilabel-indicator" else t == p
    w = _weights(sample_weight, t.shape[0], name)
    if not normalize:
        return float(hit.sum() if w is None else np.dot(hit, w))
    return float(_mean(hit.astype(np.float64), w, name))


def zero_one_loss(y_true, y_pred, *, normalize=True, sample_weight=None):
    """1 - accuracy_score (``normalize=False``: the (weighted) number of misclassified samples)."""
    _check_normalize(normalize, "zero_one_loss")
    score = accuracy_score(y_true, y_pred, normalize=normalize, sample_weight=sample_weight)
    if normalize:
        return 1 - score
    n = len(_host(y_true)) if sample_weight is None else float(np.sum(_host(sample_weight)))
    return float(n - score)


def hamming_loss(y_true, y_pred, *, sample_weight=None):
    """Fraction of wrong labels (multi-label: of wrong label entries), as scikit-learn's."""
    name = "hamming_loss"
    y_type, _, t, p = _check_targets(y_true, y_pred, name)
    w = _weights(sample_weight, t.shape[0], name)
    if y_type == "multilabel-indicator":
        wrong = np.sum(t != p, axis=1) / t.shape[1]
    else:
        wrong = (t != p).astype(np.float64)
    return float(_mean(wrong, w, name))


def _confusion_labels(y_true, y_pred, labels, sample_weight, normalize, name):
    """scikit-learn's confusion_matrix with explicit ``labels``."""
    y_type, _, t, p = _check_targets(y_true, y_pred, name)
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"{name}: {y_type} is not supported")
    lab = np.asarray(labels)
    if lab.size == 0:
        raise ValueError(f"{name}: 'labels' should contains at least one label.")
    if not np.any(np.isin(t, lab)):
        raise ValueError(f"{name}: At least one label specified must be in y_true. "
                         f"Received: labels={lab.tolist()}")
    w = None
    if sample_weight is not None:
        kind = _host(sample_weight).dtype.kind
        w = _sample_weight(_host(sample_weight), t.shape[0], name, np.int64 if kind in "biu" else np.float64)
    index = {v: i for i, v in enumerate(lab.tolist())}
    ti = np.array([index.get(v, -1) for v in t.tolist()], dtype=np.int64)
    pi = np.array([index.get(v, -1) for v in p.tolist()], dtype=np.int64)
    keep = (ti >= 0) & (pi >= 0)
    counts = np.zeros((lab.size, lab.size), dtype=np.int64 if w is None else w.dtype)
    np.add.at(counts, (ti[keep], pi[keep]), 1 if w is None else w[keep])
    if normalize is None:
        return counts
    with np.errstate(divide="ignore", invalid="ignore"):
        total = {"true": counts.sum(axis=1, keepdims=True), "pred": counts.sum(axis=0, keepdims=True),
                 "all": counts.sum()}[normalize]
        return np.nan_to_num(counts / total)


def _sk_confusion(y_true, y_pred, labels=None, sample_weight=None, name="confusion_matrix"):
    """Confusion matrix over the sorted present labels (or ``labels``) as scikit-learn's."""
    _, present, _, _ = _check_targets(y_true, y_pred, name)
    return _confusion_labels(y_true, y_pred, present if labels is None else labels, sample_weight, None, name)


def balanced_accuracy_score(y_true, y_pred, *, sample_weight=None, adjusted=False):
    """Mean recall over the classes present in y_true, as scikit-learn's (``adjusted=True``:
    rescaled so chance is 0 and perfect is 1). A class only predicted warns (UserWarning)."""
    c = _sk_confusion(y_true, y_pred, sample_weight=sample_weight, name="balanced_accuracy_score")
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.diag(c) / c.sum(axis=1)
    if np.any(np.isnan(per_class)):
        warnings.warn("y_pred contains classes not in y_true", UserWarning, stacklevel=2)
        per_class = per_class[~np.isnan(per_class)]
    score = np.mean(per_class)
    if adjusted:
        chance = 1 / per_class.shape[0]
        score = (score - chance) / (1 - chance)
    return float(score)


def matthews_corrcoef(y_true, y_pred, *, sample_weight=None):
    """Matthews correlation coefficient (multi-class R_K), as scikit-learn's; 0.0 when undefined."""
    c = _sk_confusion(y_true, y_pred, sample_weight=sample_weight, name="matthews_corrcoef").astype(np.float64)
    t_sum, p_sum = c.sum(axis=1), c.sum(axis=0)
    n_correct, n = np.trace(c), p_sum.sum()
    cov_tp = n_correct * n - np.dot(t_sum, p_sum)
    cov_pp = n ** 2 - np.dot(p_sum, p_sum)
    cov_tt = n ** 2 - np.dot(t_sum, t_sum)
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_pp * cov_tt))


def cohen_kappa_score(y1, y2, *, labels=None, weights=None, sample_weight=None, replace_undefined_by=np.nan):
    """Cohen's kappa (inter-rater agreement), as scikit-learn's: ``weights`` None, 'linear' or
    'quadratic' (disagreement weights |i - j| or (i - j)^2 over the label order); an undefined
    kappa warns (UndefinedMetricWarning) and returns ``replace_undefined_by``."""
    name = "cohen_kappa_score"
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"{name}: weights must be None, 'linear' or 'quadratic'. Received: weights={weights!r}")
    try:
        c = _sk_confusion(y1, y2, labels=labels, sample_weight=sample_weight, name=name).astype(np.float64)
    except ValueError as e:
        if "At least one label specified must be in y_true" in str(e):
            raise ValueError(f"{name}: At least one label in `labels` must be present in `y1`. "
                             f"Received: labels={list(labels)!r}") from e
        raise
    k = c.shape[0]
    sum0, sum1 = c.sum(axis=0), c.sum(axis=1)
    if sum0.sum() == 0:
        warnings.warn("`y2` contains no labels that are present in both `y1` and `labels`. "
                      "`cohen_kappa_score` is undefined and set to the value defined by the "
                      f"`replace_undefined_by` param, which is set to {replace_undefined_by}.",
                      UndefinedMetricWarning, stacklevel=2)
        return replace_undefined_by
    expected = np.outer(sum0, sum1) / sum0.sum()
    if weights is None:
        w_mat = 1.0 - np.eye(k)
    else:
        d = np.arange(k)[None, :] - np.arange(k)[:, None]
        w_mat = np.abs(d).astype(np.float64) if weights == "linear" else (d ** 2).astype(np.float64)
    den = np.sum(w_mat * expected)
    if den == 0:
        warnings.warn("`y1`, `y2` and `labels` have only one label in common. `cohen_kappa_score` is "
                      "undefined and set to the value defined by the `replace_undefined_by` param, "
                      f"which is set to {replace_undefined_by}.", UndefinedMetricWarning, stacklevel=2)
        return replace_undefined_by
    return float(1 - np.sum(w_mat * c) / den)


def _one_hot(t, labels, name):
    """(N, K) indicator of y_true over the sorted ``labels`` (default: y_true's classes) and the
    classes, as scikit-learn's LabelBinarizer (a 2-class problem gives two columns here)."""
    if t.ndim == 2 and t.shape[1] > 1 and _type_of_target(t, "y_true") == "multilabel-indicator":
        return t.astype(np.float64), np.arange(t.shape[1])
    t = t.reshape(-1)
    if labels is not None:
        classes = np.unique(np.asarray(labels))
        if not np.array_equal(classes, np.asarray(labels)):
            warnings.warn(f"Labels passed were {list(labels)}. But this function assumes labels are "
                          f"ordered lexicographically. Pass the ordered labels={classes.tolist()} and "
                          "ensure that the columns of y_prob correspond to this ordering.", UserWarning,
                          stacklevel=3)
        extra = np.setdiff1d(t, classes)
        if extra.size:
            raise ValueError(f"{name}: y_true contains values {extra.tolist()} not belonging to the "
                             f"passed labels {classes.tolist()}.")
    else:
        classes = np.unique(t)
    if classes.shape[0] == 1:
        raise ValueError(f"{name}: y_true contains only one label ({classes[0]!r}). Please provide "
                         "the list of all expected class labels explicitly through the labels argument.")
    return (t[:, None] == classes[None, :]).astype(np.float64), classes


def _probabilities(y_true, y_proba, sample_weight, labels, name):
    """(one-hot y_true (N, K), y_proba (N, K), weights) as scikit-learn's
    ``_validate_multiclass_probabilistic_prediction``."""
    p = _host(y_proba)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    t = _host(y_true)
    if p.shape[0] != t.shape[0] if t.ndim and p.ndim else True:
        raise ValueError(f"{name}: y_true and y_proba have inconsistent numbers of samples: "
                         f"shapes {t.shape} and {p.shape}")
    if p.size == 0:
        raise ValueError(f"{name}: found empty input (0 samples)")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name}: Input y_proba contains NaN or infinity.")
    if p.max() > 1:
        raise ValueError(f"{name}: y_prob contains values greater than 1: {p.max()}")
    if p.min() < 0:
        raise ValueError(f"{name}: y_prob contains values lower than 0: {p.min()}")
    w = _weights(sample_weight, p.shape[0], name)
    onehot, classes = _one_hot(t, labels, name)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    eps = np.finfo(p.dtype).eps
    if not np.all(np.isclose(p.sum(axis=1), 1, rtol=np.sqrt(eps), atol=0)):
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                      UserWarning, stacklevel=3)
    if classes.shape[0] != p.shape[1]:
        if labels is None:
            raise ValueError(f"{name}: y_true and y_prob contain different number of classes: "
                             f"{onehot.shape[1]} vs {p.shape[1]}. Please provide the true labels "
                             f"explicitly through the labels argument. Classes found in y_true: "
                             f"{classes.tolist()}")
        raise ValueError(f"{name}: The number of classes in labels is different from that in y_prob. "
                         f"Classes found in labels: {classes.tolist()}")
    return onehot, p, w


def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None, y_pred="deprecated"):
    """Cross-entropy -mean sum_k y_k log p_k of probabilities y_proba (N, K) (or (N,): of the
    greater class), as scikit-learn 1.9's: probabilities are clipped to [eps, 1 - eps] with eps
    the machine epsilon of y_proba's float dtype; rows that do not sum to 1 warn (UserWarning);
    values outside [0, 1] raise. ``normalize=False``: the (weighted) sum. ``y_pred=`` is
    scikit-learn 1.9's deprecated spelling of y_proba (FutureWarning)."""
    name = "log_loss"
    _check_normalize(normalize, name)
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, use `y_proba` instead.")
        warnings.warn("`y_pred` was renamed to `y_proba` in version 1.9 and will be removed in 1.11. "
                      "Use `y_proba` instead.", FutureWarning, stacklevel=2)
        y_proba = y_pred
    if y_proba is None:
        raise ValueError(f"{name}: y_proba is required (probabilities of shape (N, K) or (N,))")
    onehot, p, w = _probabilities(y_true, y_proba, sample_weight, labels, name)
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        oh = onehot.astype(p.dtype)  # in y_proba's precision, as scikit-learn
        loss = -np.sum(np.where(oh != 0, oh * np.log(p), p.dtype.type(0)), axis=1)
    if not normalize:
        return float(_total(loss, w))
    return float(_mean(loss, w, name))


def _pos_label(pos_label, classes, name):
    """scikit-learn's ``_check_pos_label_consistency``."""
    if pos_label is None:
        cl = classes.tolist()
        if classes.dtype.kind in "OUS" or not (cl in ([0, 1], [-1, 1], [0], [-1], [1])
                                               or cl in ([0.0, 1.0], [-1.0, 1.0], [False, True])):
            raise ValueError(f"{name}: y_true takes value in {cl} and pos_label is not specified: either "
                             "make y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly.")
        return 1
    return pos_label


def brier_score_loss(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None, scale_by_half="auto"):
    """Mean squared difference between one-hot y_true and probabilities, as scikit-learn's:
    y_proba (N,) / (N, 1) is the positive class's probability (``pos_label``, default the greater
    label) and the score is halved (``scale_by_half="auto"``: for binary, which gives the classic
    mean (p - y)^2); (N, K) with K >= 3 is multi-class (not halved by default)."""
    name = "brier_score_loss"
    p = _host(y_proba)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    if scale_by_half not in ("auto", True, False):
        raise ValueError(f"{name}: scale_by_half must be 'auto', True or False. "
                         f"Received: scale_by_half={scale_by_half!r}")
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        t = _host(y_true).reshape(-1)
        p = p.reshape(-1)
        if t.shape[0] != p.shape[0]:
            raise ValueError(f"{name}: y_true and y_proba have inconsistent numbers of samples: "
                             f"{t.shape[0]} and {p.shape[0]}")
        if p.size == 0:
            raise ValueError(f"{name}: found empty input (0 samples)")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name}: Input y_proba contains NaN or infinity.")
        y_type = _type_of_target(t, "y_true")
        if y_type != "binary":
            raise ValueError(f"{name}: The type of the target inferred from y_true is {y_type} but should "
                             "be binary according to the shape of y_prob.")
        if p.max() > 1:
            raise ValueError(f"{name}: y_prob contains values greater than 1: {p.max()}")
        if p.min() < 0:
            raise ValueError(f"{name}: y_prob contains values less than 0: {p.min()}")
        w = _weights(sample_weight, t.shape[0], name)
        classes = np.unique(t)
        try:
            pos = _pos_label(pos_label, classes, name)
        except ValueError:
            if classes.dtype.kind in "OUS":
                raise
            pos = classes[-1]
        yt = (t == pos).astype(np.float64)
        losses = (1 - yt - (1 - p)) ** 2 + (yt - p) ** 2
        half = True if scale_by_half == "auto" else scale_by_half
    else:
        onehot, p, w = _probabilities(y_true, p, sample_weight, labels, name)
        losses = np.sum((onehot - p) ** 2, axis=1)
        half = p.shape[1] < 3 if scale_by_half == "auto" else scale_by_half
    score = float(_mean(losses, w, name))
    return 0.5 * score if half else score


# ---- ranking: curves and areas --------------------------------------------------------------

def _binary_clf_curve(y_true, y_score, pos_label, sample_weight, name):
    """(fps, tps, thresholds) at each distinct score, descending (scikit-learn's)."""
    t, s = _host(y_true), _host(y_score)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s.reshape(-1)
    if t.ndim != 1 or s.ndim != 1:
        raise ValueError(f"{name}: y_true and y_score must be 1-D for a binary curve, got shapes "
                         f"{t.shape} and {s.shape}")
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"{name}: y_true and y_score have inconsistent numbers of samples: "
                         f"{t.shape[0]} and {s.shape[0]}")
    if t.size == 0:
        raise ValueError(f"{name}: found empty input (0 samples)")
    y_type = _type_of_target(t, "y_true")
    if not (y_type == "binary" or (y_type == "multiclass" and pos_label is not None)):
        raise ValueError(f"{name}: {y_type} format is not supported")
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: Input y_score contains NaN or infinity.")
    pos = _pos_label(pos_label, np.unique(t), name)
    yt = (t == pos).astype(np.float64)
    w = _weights(sample_weight, t.shape[0], name)
    if w is not None:
        keep = w != 0
        yt, s, w = yt[keep], s[keep], w[keep]
    order = np.argsort(-s.astype(np.float64), kind="stable")
    s, yt = s[order], yt[order]
    if w is not None:
        w = w[order]
    idx = np.r_[np.nonzero(np.diff(s))[0], yt.size - 1]
    tps = np.cumsum(yt * (1.0 if w is None else w))[idx]
    fps = np.cumsum((1 - yt) * w)[idx] if w is not None else 1 + idx - tps
    return fps, tps, s[idx]


def roc_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True):
    """(fpr, tpr, thresholds) of a binary problem, as scikit-learn's: thresholds decrease from
    +inf (no sample predicted positive); ``drop_intermediate`` drops collinear points. A class
    absent from y_true warns (UndefinedMetricWarning) and gives NaN rates."""
    fps, tps, thr = _binary_clf_curve(y_true, y_score, pos_label, sample_weight, "roc_curve")
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    thr = np.r_[np.inf, thr.astype(np.float64)]
    if fps[-1] <= 0:
        warnings.warn("No negative samples in y_true, false positive value should be meaningless",
                      UndefinedMetricWarning, stacklevel=2)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warnings.warn("No positive samples in y_true, true positive value should be meaningless",
                      UndefinedMetricWarning, stacklevel=2)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thr


def precision_recall_curve(y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False):
    """(precision, recall, thresholds) of a binary problem, as scikit-learn's: thresholds
    increase; precision and recall have one more element, the point (recall 0, precision 1)."""
    fps, tps, thr = _binary_clf_curve(y_true, y_score, pos_label, sample_weight, "precision_recall_curve")
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    ps = tps + fps
    precision = np.where(ps != 0, tps / np.where(ps != 0, ps, 1), 0.0)
    if tps[-1] == 0:
        warnings.warn("No positive class found in y_true, recall is set to one for all thresholds.",
                      UserWarning, stacklevel=2)
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thr[::-1]


def auc(x, y):
    """Area under the curve (x, y) by the trapezoidal rule; x must be monotonic (scikit-learn's)."""
    x, y = np.asarray(_host(x), np.float64).reshape(-1), np.asarray(_host(y), np.float64).reshape(-1)
    if x.shape[0] < 2:
        raise ValueError(f"At least 2 points are needed to compute area under curve, but x.shape = {x.shape[0]}")
    direction = 1
    dx = np.diff(x)
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1
        else:
            raise ValueError(f"x is neither increasing nor decreasing : {x}.")
    return float(direction * np.trapezoid(y, x) if hasattr(np, "trapezoid") else direction * np.trapz(y, x))


def _binary_roc_auc(y_true, y_score, sample_weight=None, max_fpr=None):
    if len(np.unique(y_true)) != 2:
        warnings.warn("Only one class is present in y_true. ROC AUC score is not defined in that case.",
                      UndefinedMetricWarning, stacklevel=3)
        return np.nan
    fpr, tpr, _ = roc_curve(y_true, y_score, sample_weight=sample_weight)
    if max_fpr is None or max_fpr == 1:
        return auc(fpr, tpr)
    stop = np.searchsorted(fpr, max_fpr, "right")
    tpr = np.append(tpr[:stop], np.interp(max_fpr, [fpr[stop - 1], fpr[stop]], [tpr[stop - 1], tpr[stop]]))
    fpr = np.append(fpr[:stop], max_fpr)
    partial = auc(fpr, tpr)
    min_area, max_area = 0.5 * max_fpr ** 2, max_fpr
    return 0.5 * (1 + (partial - min_area) / (max_area - min_area))


def _average_binary_score(metric, t, s, average, w, name):
    """scikit-learn's ``_average_binary_score`` over the columns of an indicator t (N, L)."""
    if average not in _AVERAGES:
        raise ValueError(f"{name}: average has to be one of {_AVERAGES}. Received: average={average!r}")
    if s.shape != t.shape:
        raise ValueError(f"{name}: y_true and y_score have different shapes {t.shape} and {s.shape}")
    axis, score_w, avg_w = 1, w, None
    if average == "micro":
        score_w = None if w is None else np.repeat(w, t.shape[1])
        t, s = t.reshape(-1, 1), s.reshape(-1, 1)
    elif average == "weighted":
        avg_w = (t * w[:, None]).sum(axis=0) if w is not None else t.sum(axis=0)
        if np.isclose(avg_w.sum(), 0):
            return 0
    elif average == "samples":
        avg_w, score_w, axis = w, None, 0
    n = s.shape[axis]
    score = np.zeros(n)
    for c in range(n):
        tc = t[:, c] if axis == 1 else t[c]
        sc = s[:, c] if axis == 1 else s[c]
        score[c] = metric(tc, sc, sample_weight=score_w)
    if average is None:
        return score
    if avg_w is not None:
        score[avg_w == 0] = 0
        return float(np.average(score, weights=avg_w))
    return float(np.mean(score))


def _at_least_1d(name, t, s, labels=("y_true", "y_score")):
    """A scalar y_true / y_score has no samples axis: a clear error instead of an IndexError."""
    for label, a in zip(labels, (t, s)):
        if a.ndim == 0:
            raise ValueError(f"{name}: {label} must be an array of samples (1-D or 2-D), got a scalar "
                             f"{label}={a.item()!r}")


def roc_auc_score(y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None, multi_class="raise",
                  labels=None):
    """Area under the ROC curve, as scikit-learn's: binary (y_score (N,): scores of the greater
    label), multi-label (indicator (N, L) and scores (N, L); ``average`` None/'micro'/'macro'/
    'weighted'/'samples'), multi-class (probabilities (N, K) summing to 1; ``multi_class``
    'ovr' (one-vs-rest, average 'macro'/'weighted'/'micro'/None) or 'ovo' (Hand & Till
    one-vs-one, average 'macro'/'weighted', no sample_weight)). ``max_fpr`` (binary only): the
    McClish-standardized partial AUC over fpr in [0, max_fpr]."""
    name = "roc_auc_score"
    t, s = _host(y_true), _host(y_score)
    _at_least_1d(name, t, s)
    if t.shape[:1] != s.shape[:1]:
        raise ValueError(f"{name}: y_true and y_score have inconsistent numbers of samples: "
                         f"shapes {t.shape} and {s.shape}")
    if t.size == 0:
        raise ValueError(f"{name}: found empty input (0 samples)")
    if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: Input y_score contains NaN or infinity.")
    y_type = _type_of_target(t, "y_true")
    w = _weights(sample_weight, t.shape[0], name)
    if max_fpr is not None and not (0 < max_fpr <= 1):
        raise ValueError(f"{name}: Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    if y_type == "multiclass" or (y_type == "binary" and s.ndim == 2 and s.shape[1] > 2):
        return _multiclass_roc_auc(t.reshape(-1), s, labels, multi_class, average, w, max_fpr, name)
    if y_type == "binary":
        t = t.reshape(-1)
        if s.ndim == 2 and s.shape[1] == 1:
            s = s.reshape(-1)
        if s.ndim != 1:
            raise ValueError(f"{name}: a binary y_true needs y_score of shape (N,) (scores of the greater "
                             f"label), got {s.shape}")
        classes = np.unique(t)
        t01 = (t == classes[-1]).astype(np.int64) if classes.size == 2 else (t == 1).astype(np.int64)
        return _binary_roc_auc(t01, s, w, max_fpr)
    if y_type == "multilabel-indicator":
        return _average_binary_score(lambda a, b, sample_weight=None: _binary_roc_auc(a, b, sample_weight, max_fpr),
                                     t, s, average, w, name)
    raise ValueError(f"{name}: {y_type} format is not supported")


def _multiclass_roc_auc(t, s, labels, multi_class, average, w, max_fpr, name):
    if max_fpr is not None and max_fpr != 1:
        raise ValueError(f"{name}: Partial AUC computation not available in multiclass setting, 'max_fpr' "
                         f"must be set to `None`, received `max_fpr={max_fpr}` instead")
    if multi_class == "raise":
        raise ValueError(f"{name}: multi_class must be in ('ovo', 'ovr'). Received: multi_class={multi_class!r}")
    if s.ndim != 2:
        raise ValueError(f"{name}: multi-class y_true needs y_score of shape (N, K), got {s.shape}")
    if not np.allclose(1, s.sum(axis=1)):
        raise ValueError(f"{name}: Target scores need to be probabilities for multiclass roc_auc, i.e. "
                         "they should sum up to 1.0 over classes")
    average_options = ("macro", "weighted", None) if multi_class == "ovo" else ("macro", "weighted", None, "micro")
    if average not in average_options:
        raise ValueError(f"{name}: average must be one of {average_options} for multiclass problems. "
                         f"Received: average={average!r}")
    if multi_class not in ("ovo", "ovr"):
        raise ValueError(f"{name}: multi_class='{multi_class}' is not supported for multiclass ROC AUC, "
                         "multi_class must be in ('ovo', 'ovr')")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        classes = np.unique(lab)
        if len(classes) != len(lab):
            raise ValueError(f"{name}: Parameter 'labels' must be unique. Received: labels={lab.tolist()}")
        if not np.array_equal(classes, lab):
            raise ValueError(f"{name}: Parameter 'labels' must be ordered. Received: labels={lab.tolist()}")
        if len(classes) != s.shape[1]:
            raise ValueError(f"{name}: Number of given labels, {len(classes)}, not equal to the number of "
                             f"columns in 'y_score', {s.shape[1]}")
        if len(np.setdiff1d(t, classes)):
            raise ValueError(f"{name}: 'y_true' contains labels not in parameter 'labels'")
    else:
        classes = np.unique(t)
        if len(classes) != s.shape[1]:
            raise ValueError(f"{name}: Number of classes in y_true ({len(classes)}) not equal to the number "
                             f"of columns in 'y_score' ({s.shape[1]})")
    if multi_class == "ovo":
        if w is not None:
            raise ValueError(f"{name}: sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                             "'sample_weight' must be None in this case.")
        enc = np.searchsorted(classes, t)
        present = np.unique(enc).tolist()  # pairs of the classes y_true has (scikit-learn's)
        pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
        scores, prevalence = np.empty(len(pairs)), np.empty(len(pairs))
        for i, (a, b) in enumerate(pairs):
            ma, mb = enc == a, enc == b
            m = ma | mb
            prevalence[i] = np.mean(m)
            ab = _binary_roc_auc(ma[m].astype(np.int64), s[m, a])
            ba = _binary_roc_auc(mb[m].astype(np.int64), s[m, b])
            scores[i] = (ab + ba) / 2
        return float(np.average(scores, weights=prevalence if average == "weighted" else None))
    onehot = (t[:, None] == classes[None, :]).astype(np.int64)
    return _average_binary_score(_binary_roc_auc, onehot, s, average, w, name)


def _binary_average_precision(y_true, y_score, pos_label=1, sample_weight=None):
    precision, recall, _ = precision_recall_curve(y_true, y_score, pos_label=pos_label,
                                                  sample_weight=sample_weight)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def average_precision_score(y_true, y_score, *, average="macro", pos_label=1, sample_weight=None):
    """Average precision sum_n (R_n - R_{n-1}) P_n (no interpolation), as scikit-learn's: binary
    (y_score (N,)), multi-label indicator (N, L), or multi-class labels with scores (N, K)
    (one-vs-rest), averaged by ``average``."""
    name = "average_precision_score"
    t, s = _host(y_true), _host(y_score)
    _at_least_1d(name, t, s)
    if t.shape[:1] != s.shape[:1]:
        raise ValueError(f"{name}: y_true and y_score have inconsistent numbers of samples: "
                         f"shapes {t.shape} and {s.shape}")
    if t.size == 0:
        raise ValueError(f"{name}: found empty input (0 samples)")
    w = _weights(sample_weight, t.shape[0], name)
    y_type = _type_of_target(t, "y_true")
    present = np.unique(t)
    if y_type == "binary":
        if present.shape[0] == 2 and pos_label not in present.tolist():
            raise ValueError(f"{name}: pos_label={pos_label!r} is not a valid label. It should be one of "
                             f"{present.tolist()}")
        return _binary_average_precision(t.reshape(-1), s.reshape(-1) if s.ndim == 2 and s.shape[1] == 1 else s,
                                         pos_label, w)
    if y_type == "multilabel-indicator" and pos_label != 1:
        raise ValueError(f"{name}: Parameter pos_label is fixed to 1 for multilabel-indicator y_true. Do not "
                         f"set pos_label or set pos_label to 1. Received: pos_label={pos_label!r}")
    if y_type == "multiclass":
        if pos_label != 1:
            raise ValueError(f"{name}: Parameter pos_label is fixed to 1 for multiclass y_true. Do not set "
                             f"pos_label or set pos_label to 1. Received: pos_label={pos_label!r}")
        t = (t.reshape(-1)[:, None] == present[None, :]).astype(np.int64)
        if s.shape != t.shape:
            raise ValueError(f"{name}: `y_score` needs to be of shape `(n_samples, n_classes)`, since "
                             f"`y_true` contains multiple classes. Got `y_score.shape={s.shape}`.")
    elif y_type != "multilabel-indicator":
        raise ValueError(f"{name}: {y_type} format is not supported")
    return _average_binary_score(lambda a, b, sample_weight=None: _binary_average_precision(a, b, 1, sample_weight),
                                 t, s, average, w, name)


def top_k_accuracy_score(y_true, y_score, *, k=2, normalize=True, sample_weight=None, labels=None):
    """scikit-learn's ``top_k_accuracy_score``: the fraction of samples whose true label is
    among the k highest scores. Unlike ``top_k_accuracy`` the labels are any values, mapped to
    the columns in sorted order (of ``labels`` if given, else of y_true's classes); a binary
    y_score (N,) is the greater label's score; ties rank the higher column first."""
    name = "top_k_accuracy_score"
    _check_normalize(normalize, name)
    t, s = _host(y_true), _host(y_score)
    _at_least_1d(name, t, s)
    t = t.reshape(-1)
    if t.shape[0] != s.shape[0]:
        raise ValueError(f"{name}: y_true and y_score have inconsistent numbers of samples: "
                         f"{t.shape[0]} and {s.shape[0]}")
    if t.size == 0:
        raise ValueError(f"{name}: found empty input (0 samples)")
    y_type = _type_of_target(t, "y_true")
    if y_type == "binary" and labels is not None and len(labels) > 2:
        y_type = "multiclass"
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"{name}: y type must be 'binary' or 'multiclass', got '{y_type}' instead.")
    if s.ndim == 2 and s.shape[1] == 1 and y_type == "binary":
        s = s.reshape(-1)
    n_classes = s.shape[1] if s.ndim == 2 else 2
    if labels is None:
        classes = np.unique(t)
        if len(classes) != n_classes:
            raise ValueError(f"{name}: Number of classes in 'y_true' ({len(classes)}) not equal to the number "
                             f"of classes in 'y_score' ({n_classes}). You can provide a list of all known "
                             "classes by assigning it to the `labels` parameter.")
    else:
        lab = np.asarray(labels).reshape(-1)
        classes = np.unique(lab)
        if len(classes) != len(lab):
            raise ValueError(f"{name}: Parameter 'labels' must be unique. Received: labels={lab.tolist()}")
        if not np.array_equal(classes, lab):
            raise ValueError(f"{name}: Parameter 'labels' must be ordered. Received: labels={lab.tolist()}")
        if len(classes) != n_classes:
            raise ValueError(f"{name}: Number of given labels ({len(classes)}) not equal to the number of "
                             f"classes in 'y_score' ({n_classes}).")
        if len(np.setdiff1d(t, classes)):
            raise ValueError(f"{name}: 'y_true' contains labels not in parameter 'labels'.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name}: k must be a positive int. Received: k={k!r}")
    if k >= n_classes:
        warnings.warn(f"'k' ({k}) greater than or equal to 'n_classes' ({n_classes}) will result in a "
                      "perfect score and is therefore meaningless.", UndefinedMetricWarning, stacklevel=2)
    enc = np.searchsorted(classes, t)
    if s.ndim == 1:
        hit = (s > 0.5) == enc.astype(bool) if k == 1 else np.ones(t.shape[0], bool)
    else:
        top = np.argsort(s, axis=1, kind="stable")[:, ::-1][:, :k]
        hit = np.any(top == enc[:, None], axis=1)
    w = _weights(sample_weight, t.shape[0], name)
    if not normalize:
        return float(hit.sum() if w is None else np.dot(hit, w))
    return float(_mean(hit.astype(np.float64), w, name))


def classification_report(y_true, y_pred, *, labels=None, target_names=None, sample_weight=None, digits=2,
                          output_dict=False, zero_division="warn"):
    """Per-class precision, recall, F1 and support with the averages, as scikit-learn's: a text
    table (``digits`` decimals) or with ``output_dict=True`` a dict {class name: {"precision",
    "recall", "f1-score", "support"}, "accuracy" (when every class is reported, single-label),
    "macro avg", "weighted avg", ("micro avg", "samples avg" as scikit-learn)}."""
    name = "classification_report"
    y_type, present, t, p = _check_targets(y_true, y_pred, name)
    if labels is None:
        labels, labels_given = present, False
    else:
        labels, labels_given = np.asarray(labels), True
    micro_is_accuracy = y_type in ("binary", "multiclass") and (
        not labels_given or set(labels.tolist()) >= set(present.tolist()))
    if target_names is not None and len(labels) != len(target_names):
        if labels_given:
            warnings.warn(f"labels size, {len(labels)}, does not match size of target_names, "
                          f"{len(target_names)}", UserWarning, stacklevel=2)
        else:
            raise ValueError(f"{name}: Number of classes, {len(labels)}, does not match size of target_names, "
                             f"{len(target_names)}. Try specifying the labels parameter")
    if target_names is None:
        target_names = [f"{lab}" for lab in labels.tolist()]
    headers = ["precision", "recall", "f1-score", "support"]
    pr, rc, f1, sup = precision_recall_fscore_support(t, p, labels=labels, average=None,
                                                      sample_weight=sample_weight, zero_division=zero_division)
    rows = list(zip(target_names, pr, rc, f1, sup))
    averages = (("micro", "macro", "weighted", "samples") if y_type.startswith("multilabel")
                else ("micro", "macro", "weighted"))
    report = {r[0]: dict(zip(headers, [float(v) for v in r[1:]])) for r in rows}
    width = max(max(len(cn) for cn in target_names), len("weighted avg"), digits)
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    text = ("{:>{width}s} " + " {:>9}" * len(headers)).format("", *headers, width=width) + "\n\n"
    for r in rows:
        text += row_fmt.format(*r, width=width, digits=digits)
    text += "\n"
    for avg in averages:
        line = ("accuracy" if micro_is_accuracy else "micro avg") if avg == "micro" else avg + " avg"
        a = list(precision_recall_fscore_support(t, p, labels=labels, average=avg, sample_weight=sample_weight,
                                                 zero_division=zero_division)[:3]) + [np.sum(sup)]
        if line == "accuracy":
            report[line] = float(a[2])
            text += ("{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n").format(
                line, "", "", *a[2:], width=width, digits=digits)
        else:
            report[line] = dict(zip(headers, [float(v) for v in a]))
            text += row_fmt.format(line, *a, width=width, digits=digits)
    return report if output_dict else text


# ---- scikit-learn-named regression metrics ------------------------------------------------

mean_absolute_error = mae
mean_squared_error = mse
root_mean_squared_error = rmse
mean_squared_log_error = msle
root_mean_squared_log_error = rmsle


def _weighted_percentile(a, w, q=50.0):
    """Per-column weighted percentile as scikit-learn's ``_weighted_percentile`` with
    average=True (the median of the weighted empirical CDF, averaging at exact halves)."""
    out = np.empty(a.shape[1])
    for j in range(a.shape[1]):
        col = a[:, j]
        order = np.argsort(col, kind="stable")
        x, ww = col[order], w[order]
        cdf = np.cumsum(ww)
        target = q / 100 * cdf[-1]
        i = np.searchsorted(cdf, target, side="left")
        i = min(i, len(x) - 1)
        if np.isclose(cdf[i], target) and i + 1 < len(x):
            nxt = i + 1
            while nxt < len(x) - 1 and ww[nxt] == 0:
                nxt += 1
            out[j] = (x[i] + x[nxt]) / 2
        else:
            out[j] = x[i]
    return out


def median_absolute_error(y_true, y_pred, *, multioutput="uniform_average", sample_weight=None):
    """Median of |y_true - y_pred| per output column (weighted median with ``sample_weight``),
    then combined by ``multioutput``, as scikit-learn's."""
    name = "median_absolute_error"
    t, p = _pair(_host(y_true), _host(y_pred), name)
    w = _weights(sample_weight, t.shape[0], name)
    err = np.abs(p - t)
    values = np.median(err, axis=0) if w is None else _weighted_percentile(err, w)
    return _average(values, multioutput, name)


def max_error(y_true, y_pred):
    """Largest |y_true - y_pred| of a single-output regression, as scikit-learn's."""
    t, p = _pair(_host(y_true), _host(y_pred), "max_error")
    if t.shape[1] != 1:
        raise ValueError(f"max_error: Multioutput not supported in max_error (y_true shape {np.shape(y_true)})")
    return float(np.max(np.abs(t - p)))


def explained_variance_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average",
                             force_finite=True):
    """1 - Var(y_true - y_pred) / Var(y_true) per output column, then combined by
    ``multioutput`` (incl. 'variance_weighted'), as scikit-learn's; constant y_true columns as
    ``r2_score``'s (``force_finite``)."""
    name = "explained_variance_score"
    t, p = _pair(_host(y_true), _host(y_pred), name)
    w = _weights(sample_weight, t.shape[0], name)
    diff_mean = _mean(t - p, w, name)
    num = _mean((t - p - diff_mean) ** 2, w, name)
    den = _mean((t - _mean(t, w, name)) ** 2, w, name)
    with np.errstate(divide="ignore", invalid="ignore"):
        if force_finite:
            scores = np.where(den != 0, 1 - num / np.where(den != 0, den, 1), np.where(num == 0, 1.0, 0.0))
        else:
            scores = 1 - num / den
    return _average(scores, multioutput, name, den)


def mean_absolute_percentage_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean |y_true - y_pred| / max(|y_true|, eps) per column (eps = float64 machine epsilon, so a
    zero target gives a huge, not infinite, error), as scikit-learn's; a fraction, not percent."""
    name = "mean_absolute_percentage_error"
    t, p = _pair(_host(y_true), _host(y_pred), name)
    w = _weights(sample_weight, t.shape[0], name)
    ape = np.abs(p - t) / np.maximum(np.abs(t), np.finfo(np.float64).eps)
    return _average(_mean(ape, w, name), multioutput, name)


def mean_pinball_loss(y_true, y_pred, *, sample_weight=None, alpha=0.5, multioutput="uniform_average"):
    """Pinball (quantile) loss mean(alpha * max(t - p, 0) + (1 - alpha) * max(p - t, 0)) per
    column, as scikit-learn's (alpha=0.5: half the MAE)."""
    name = "mean_pinball_loss"
    if not (isinstance(alpha, (int, float, np.floating)) and not isinstance(alpha, bool) and 0 <= alpha <= 1):
        raise ValueError(f"{name}: alpha must be a float in [0, 1]. Received: alpha={alpha!r}")
    t, p = _pair(_host(y_true), _host(y_pred), name)
    w = _weights(sample_weight, t.shape[0], name)
    diff = t - p
    sign = (diff >= 0).astype(np.float64)
    loss = alpha * sign * diff - (1 - alpha) * (1 - sign) * diff
    return _average(_mean(loss, w, name), multioutput, name)


def d2_absolute_error_score(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """D^2 with the absolute error: 1 - pinball(y, pred) / pinball(y, weighted median of y) per
    column, as scikit-learn's (a constant target column gives 1.0 if predicted exactly, else
    0.0); fewer than two samples give NaN with an UndefinedMetricWarning."""
    name = "d2_absolute_error_score"
    t, p = _pair(_host(y_true), _host(y_pred), name)
    if t.shape[0] < 2:
        warnings.warn("D^2 score is not well-defined with less than two samples.", UndefinedMetricWarning,
                      stacklevel=2)
        return float("nan")
    w = _weights(sample_weight, t.shape[0], name)
    num = mean_pinball_loss(t, p, sample_weight=w, alpha=0.5, multioutput="raw_values")
    med = np.median(t, axis=0) if w is None else _weighted_percentile(t, w)
    den = mean_pinball_loss(t, np.broadcast_to(med, t.shape), sample_weight=w, alpha=0.5,
                            multioutput="raw_values")
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(den != 0, 1 - num / np.where(den != 0, den, 1), np.where(num == 0, 1.0, 0.0))
    return _average(scores, multioutput, name)


# ---- fit(metrics=[...]) adapters ----------------------------------------------------------
# fit concatenates the epoch's model outputs y_pred (N, K) -- logits or probabilities -- and
# targets (labels (N,) / (N, 1), or one-hot (N, K)). The adapters reduce them as ``accuracy``
# does (arg-max of K > 1 columns; a single column of probabilities thresholded at 0.5) and
# then call the scikit-learn function, with zero_division=0.0 (no warning each epoch).

def _fit_labels(y_true, y_pred):
    p_shape = np.shape(y_pred)
    n = p_shape[0] if len(p_shape) else None
    true = _labels_true(_host(y_true), n, p_shape)
    pred = _labels_pred(_host(y_pred), true)
    k = p_shape[1] if len(p_shape) == 2 else 1
    binary = k <= 2 and set(np.unique(true).tolist()) | set(np.unique(pred[~np.isnan(pred)] if pred.dtype.kind == "f"
                                                                       else pred).tolist()) <= {0, 1}
    return true, pred, binary


def _fit_wrong_for_nan(true, pred):
    """A NaN prediction (of a probability column, or a row of scores holding a NaN) is a wrong
    class, as in ``accuracy``: 1 - y for a binary target, the next class (mod K) otherwise."""
    if pred.dtype.kind == "f" and np.any(np.isnan(pred)):
        k = max(2, int(np.nanmax(pred, initial=0)) + 1, int(np.max(true, initial=0)) + 1)
        pred = np.where(np.isnan(pred), (true + 1) % k, pred)
    return pred


def _fit_set_wise(fn):
    def metric(y_true, y_pred):
        true, pred, binary = _fit_labels(y_true, y_pred)
        pred = _fit_wrong_for_nan(true, pred)
        return fn(true, pred, average="binary" if binary else "macro", zero_division=0.0)
    metric.__name__ = fn.__name__
    return metric


def _fit_roc_auc(y_true, y_pred):
    """ROC AUC of fit's outputs: one column (N,) / (N, 1) of scores of class 1 (logits or
    probabilities); two columns: logit/probability difference of class 1 over class 0; K > 2:
    softmax of the rows (unless already probabilities), one-vs-rest macro average."""
    s = np.asarray(_host(y_pred), dtype=np.float64)
    true = _labels_true(_host(y_true), s.shape[0] if s.ndim else None, s.shape)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1] - s[:, 0]
    elif s.ndim == 2 and s.shape[1] > 2:
        if not (np.all(s >= 0) and np.allclose(s.sum(axis=1), 1)):
            e = np.exp(s - s.max(axis=1, keepdims=True))
            s = e / e.sum(axis=1, keepdims=True)
        return roc_auc_score(true, s, multi_class="ovr", labels=np.arange(s.shape[1]))
    return roc_auc_score(true, s.reshape(-1))


def _fit_simple(fn):
    def metric(y_true, y_pred):
        true, pred, _ = _fit_labels(y_true, y_pred)
        pred = _fit_wrong_for_nan(true, pred)
        with warnings.catch_warnings():  # balanced accuracy: a class only predicted is no news mid-fit
            warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
            return fn(true, pred)
    metric.__name__ = fn.__name__
    return metric


# ---- by name ------------------------------------------------------------------------------

_BY_NAME = {
    "accuracy": accuracy, "acc": accuracy, "top_k_accuracy": top_k_accuracy,
    "mae": mae, "mean_absolute_error": mae, "mse": mse, "mean_squared_error": mse,
    "rmse": rmse, "root_mean_squared_error": rmse, "msle": msle, "mean_squared_log_error": msle,
    "rmsle": rmsle, "root_mean_squared_log_error": rmsle, "r2": r2_score, "r2_score": r2_score,
    "median_absolute_error": median_absolute_error, "max_error": max_error,
    "explained_variance": explained_variance_score, "explained_variance_score": explained_variance_score,
    "mape": mean_absolute_percentage_error, "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "mean_pinball_loss": mean_pinball_loss, "d2_absolute_error_score": d2_absolute_error_score,
    # classification from fit's outputs (logits / probabilities), see _fit_labels
    "f1": _fit_set_wise(f1_score), "precision": _fit_set_wise(precision_score),
    "recall": _fit_set_wise(recall_score), "jaccard": _fit_set_wise(jaccard_score),
    "balanced_accuracy": _fit_simple(balanced_accuracy_score), "mcc": _fit_simple(matthews_corrcoef),
    "matthews_corrcoef": _fit_simple(matthews_corrcoef), "cohen_kappa": _fit_simple(cohen_kappa_score),
    "roc_auc": _fit_roc_auc,
}


# Scores (higher is better); every other name in _BY_NAME is an error or loss (lower is better).
_HIGHER_IS_BETTER = {"accuracy", "acc", "top_k_accuracy", "r2", "r2_score", "explained_variance",
                     "explained_variance_score", "d2_absolute_error_score", "f1", "precision", "recall", "jaccard",
                     "balanced_accuracy", "mcc", "matthews_corrcoef", "cohen_kappa", "roc_auc"}


def direction(name: str):
    """"max" for a metric name ``get`` knows whose higher values are better (accuracy, r2, mcc,
    ...), "min" for its errors (mae, mse, ...) and for "loss" or a name ending in "_loss"; None
    for a name it does not know."""
    if name in _HIGHER_IS_BETTER or (name.startswith("top_") and name.endswith("_accuracy") and name[4:-9].isdigit()):
        return "max"
    if name in _BY_NAME or name == "loss" or name.endswith("_loss"):
        return "min"
    return None


def get(metric):
    """(name, function) for a metric name ("accuracy", "top_5_accuracy", "mae", "mse", "rmse",
    "msle", "rmsle", "r2", "mape", "explained_variance", scikit-learn's long regression names,
    and for classification outputs "f1", "precision", "recall", "jaccard" (average 'binary'
    when at most 2 score columns and labels in {0, 1}, else 'macro'; zero_division=0.0),
    "balanced_accuracy", "mcc", "cohen_kappa", "roc_auc") or a callable (named after its
    __name__). The classification names take fit's outputs: scores (N, K) reduced by arg-max,
    or one column of probabilities of class 1 (thresholded at 0.5), as ``accuracy``; "roc_auc"
    ranks one score column, the difference of two columns, or the softmax of K > 2 (one-vs-rest
    macro)."""
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
