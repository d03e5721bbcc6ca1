"""Ensembles of duck-typed models (``fit(x, y, **kw)`` / ``predict(x)``) that average
their predictions, as scikit-learn's soft-voting ``VotingClassifier`` / ``BaggingClassifier``
and ``VotingRegressor`` / ``BaggingRegressor`` do:

- classification: the (weighted) mean of the members' class probabilities, ``predict_proba(x)``
  where a member has it (fastnn models, scikit-learn classifiers), else its ``predict(x)``
  (which must then be probabilities), so logits of differently scaled members are never
  averaged;
- regression: the (weighted) mean of the members' ``predict(x)`` values.

Which one is the ``task`` argument: ``"classification"``, ``"regression"``, or ``"auto"`` (the
default): a member that declares its kind (a scikit-learn classifier or regressor) is taken at
its word; any other member is a classifier when ``predict`` gives several columns (N, K) (class
logits or probabilities) and a regressor when it gives one, (N,) or (N, 1). So a fastnn model
with a single output column counts as a regressor unless ``task="classification"``; it then is
a binary classifier whose column is the logit of class 1 (``Module.predict_proba`` gives its
sigmoid, the probability of class 1, shape (N, 1)). A model with several regression outputs
(N, D) needs ``task="regression"``.
"""
from __future__ import annotations

import numbers
from typing import Optional, Sequence

import numpy as np

from ..metrics import get as _metric

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = ("auto", CLASSIFICATION, REGRESSION)


def _check_task(task) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got task={task!r}")
    return task


def _average(predictions, weights=None) -> np.ndarray:
    preds = [np.asarray(p) for p in predictions]
    shapes = {p.shape for p in preds}
    if len(shapes) != 1:
        raise ValueError(f"members predicted different shapes {sorted(shapes)}; every member "
                         "must output the same classes (or the same number of values)")
    stacked = np.stack(preds)
    if weights is None:
        return stacked.mean(axis=0)
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (stacked.ndim - 1))
    dtype = stacked.dtype if stacked.dtype.kind == "f" else np.float64  # a mean of ints is not an int
    return ((stacked * w).sum(axis=0) / w.sum()).astype(dtype, copy=False)


def _declared_task(model) -> Optional[str]:
    """"classification" / "regression" for a model that says what it is (scikit-learn's
    estimator tags, or ``_estimator_type`` before scikit-learn 1.6), else None."""
    kind = None
    tags = getattr(model, "__sklearn_tags__", None)
    if callable(tags):
        try:
            kind = tags().estimator_type
        except Exception:  # a third-party estimator with broken tags: judge it by its output
            kind = None
    if kind is None:
        kind = getattr(model, "_estimator_type", None)
    return {"classifier": CLASSIFICATION, "regressor": REGRESSION}.get(kind)


def _task_of_output(out) -> str:
    out = np.asarray(out)
    return CLASSIFICATION if out.ndim >= 2 and out.shape[-1] > 1 else REGRESSION


def _probabilities(model, x, predicted=None) -> np.ndarray:
    """A member's class probabilities: predict_proba when it has one, else its predict()
    (``predicted`` when already computed)."""
    proba = getattr(model, "predict_proba", None)
    if callable(proba):
        return proba(x)
    return model.predict(x) if predicted is None else predicted


def _regression_average(predictions, weights) -> np.ndarray:
    preds = [np.asarray(p) for p in predictions]
    shapes = {p.shape for p in preds}
    if len(shapes) == 2 and all(len(s) == 1 or (len(s) == 2 and s[1] == 1) for s in shapes):
        preds = [p.reshape(-1) for p in preds]  # (N,) from scikit-learn, (N, 1) from fastnn
    return _average(preds, weights)


class Ensemble:
    """Average of the predictions of already built models.

    Args:
        models: the members (each with ``fit`` and ``predict``).
        weights: optional non-negative weight per member (normalised); default equal.
        task: ``"auto"`` (default), ``"classification"`` or ``"regression"``: see the module
            docstring. ``"auto"`` is decided at the first ``predict`` after construction or
            ``fit`` (from the members' declared kind, else from their output columns) and kept
            in ``task_``.

    ``predict(x)``: classification, the (weighted) mean of the members' class probabilities
    (``predict_proba(x)`` is the same); regression, the (weighted) mean of their ``predict(x)``
    (a mix of (N,) and (N, 1) outputs gives (N,)). ``fit`` fits every member on the same data.
    ``score(x, y, metric=None)``: the metric of ``predict(x)``; None is ``"accuracy"`` for
    classification (of the predicted classes: arg-max, or probability of class 1 > 0.5 for one
    column) and ``"mse"`` for regression.
    """

    def __init__(self, models: Sequence, weights: Optional[Sequence[float]] = None, *, task: str = "auto"):
        self.models = list(models)
        if not self.models:
            raise ValueError("Ensemble needs at least one model, got an empty list")
        for i, m in enumerate(self.models):
            if not callable(getattr(m, "predict", None)):
                raise TypeError(f"model {i} ({type(m).__name__}) has no predict() method")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (len(self.models),) or np.any(weights < 0) or weights.sum() <= 0:
                raise ValueError(f"weights must be {len(self.models)} non-negative numbers with a "
                                 f"positive sum, got weights={weights.tolist()!r}")
        self.weights = weights
        self.task = _check_task(task)
        self.task_ = None if task == "auto" else task

    def fit(self, x, y, **fit_kwargs):
        for m in self.models:
            m.fit(x, y, **fit_kwargs)
        self.task_ = None if self.task == "auto" else self.task
        return self

    def _resolve_task(self, x):
        """(task, the members' predict outputs if they had to be computed to decide, else None)."""
        if self.task != "auto":
            return self.task, None
        if self.task_ is not None:
            return self.task_, None
        declared = [_declared_task(m) for m in self.models]
        outputs = None
        if any(d is None for d in declared):
            outputs = [m.predict(x) for m in self.models]
            declared = [d or _task_of_output(o) for d, o in zip(declared, outputs)]
        kinds = set(declared)
        if len(kinds) != 1:
            described = ", ".join(f"model {i}: {k}" for i, k in enumerate(declared))
            raise ValueError(f"task='auto' cannot decide: the members disagree ({described}); "
                             "pass task='classification' or task='regression'")
        self.task_ = kinds.pop()
        return self.task_, outputs

    def _predict(self, x, task=None, outputs=None) -> np.ndarray:
        if task is None:
            task, outputs = self._resolve_task(x)
        if task == REGRESSION:
            if outputs is None:
                outputs = [m.predict(x) for m in self.models]
            return _regression_average(outputs, self.weights)
        if outputs is None:
            outputs = [None] * len(self.models)
        return _average([_probabilities(m, x, o) for m, o in zip(self.models, outputs)], self.weights)

    def predict(self, x) -> np.ndarray:
        return self._predict(x)

    def predict_proba(self, x) -> np.ndarray:
        """The averaged class probabilities (classification only; the same as ``predict``)."""
        task, outputs = self._resolve_task(x)
        if task != CLASSIFICATION:
            how = "task='regression'" if self.task == REGRESSION else \
                "task='auto', every member predicting one column or declaring itself a regressor"
            raise ValueError(f"predict_proba: this ensemble does regression ({how}), so it has no "
                             "class probabilities: use predict, or pass task='classification'")
        return self._predict(x, task, outputs)

    def score(self, x, y, metric=None) -> float:
        task, outputs = self._resolve_task(x)
        pred = self._predict(x, task, outputs)
        if metric is None:
            metric = "accuracy" if task == CLASSIFICATION else "mse"
        if task == CLASSIFICATION and isinstance(metric, str) and metric == "accuracy":
            pred = np.asarray(pred)
            if pred.ndim >= 2 and pred.shape[-1] > 1:
                pred = pred.argmax(axis=-1)
            else:  # one column: the probability of class 1
                pred = (pred.reshape(pred.shape[0]) > 0.5).astype(np.int64)
        return float(_metric(metric)[1](y, pred))


class Bagging(Ensemble):
    """Bootstrap aggregating (Breiman, 1996): ``n`` fresh models, each fitted on its own
    sample of the training set, predictions averaged.

    Args:
        build_model: zero-argument callable returning a new, untrained model.
        n: number of members, >= 1.
        bootstrap: draw each member's ``max_samples * N`` rows with replacement (True) or
            without (False; with ``max_samples=1.0`` every member then sees all the data and
            members differ only by their own initialisation).
        max_samples: fraction (0, 1] of N drawn per member.
        seed: seed of the row sampling.
        task: ``"auto"``, ``"classification"`` or ``"regression"``, as for ``Ensemble``.

    After ``fit``: ``models`` (the members) and ``sample_indices`` (rows each was fitted on).
    """

    def __init__(self, build_model, n: int = 10, *, bootstrap: bool = True,
                 max_samples: float = 1.0, seed: Optional[int] = None, task: str = "auto"):
        if not callable(build_model):
            raise TypeError(f"build_model must be a callable returning a new model, got "
                            f"{type(build_model).__name__}")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive int, got n={n!r}")
        if not isinstance(max_samples, numbers.Real) or not 0.0 < max_samples <= 1.0:
            raise ValueError(f"max_samples must be in (0, 1], got max_samples={max_samples!r}")
        self.build_model = build_model
        self.n = int(n)
        self.bootstrap = bool(bootstrap)
        self.max_samples = float(max_samples)
        self.seed = seed
        self.task = _check_task(task)
        self.task_ = None if task == "auto" else task
        self.models = []
        self.weights = None
        self.sample_indices = []

    def fit(self, x, y, **fit_kwargs):
        n_rows = x.shape[0]
        if y.shape[0] != n_rows:
            raise ValueError(f"x has {n_rows} samples but y has {y.shape[0]}")
        m = max(1, int(round(self.max_samples * n_rows)))
        rng = np.random.default_rng(self.seed)
        self.models, self.sample_indices = [], []
        for _ in range(self.n):
            if self.bootstrap:
                idx = rng.integers(0, n_rows, size=m)
            else:
                idx = np.sort(rng.permutation(n_rows)[:m])
            model = self.build_model()
            model.fit(x[idx], y[idx], **fit_kwargs)
            self.models.append(model)
            self.sample_indices.append(idx)
        self.task_ = None if self.task == "auto" else self.task
        return self

    def _check_fitted(self, what):
        if not self.models:
            raise RuntimeError(f"Bagging.{what} called before fit")

    def predict(self, x) -> np.ndarray:
        self._check_fitted("predict")
        return super().predict(x)

    def predict_proba(self, x) -> np.ndarray:
        self._check_fitted("predict_proba")
        return super().predict_proba(x)

    def score(self, x, y, metric=None) -> float:
        self._check_fitted("score")
        return super().score(x, y, metric)
