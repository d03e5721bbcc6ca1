"""Ensembles of duck-typed models (``fit(x, y, **kw)`` / ``predict(x)``) that average
their predictions: class probabilities for classifiers, values for regression.

A member with ``predict_proba`` (fastnn models, scikit-learn classifiers) contributes its
probabilities, so logits of differently scaled members are never averaged."""
from __future__ import annotations

import numbers
from typing import Optional, Sequence

import numpy as np

from ._metrics import get_metric


def _average(predictions, weights=None) -> np.ndarray:
    preds = [np.asarray(p) for p in predictions]
    shapes = {p.shape for p in preds}
    if len(shapes) != 1:
        raise ValueError(f"members predicted different shapes {sorted(shapes)}; every member "
                         "must output the same classes")
    stacked = np.stack(preds)
    if weights is None:
        return stacked.mean(axis=0)
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (stacked.ndim - 1))
    return ((stacked * w).sum(axis=0) / w.sum()).astype(stacked.dtype, copy=False)


def _member_output(model, x) -> np.ndarray:
    """Probabilities when the member can give them, else its predict()."""
    proba = getattr(model, "predict_proba", None)
    return proba(x) if callable(proba) else model.predict(x)


class Ensemble:
    """Average of the predictions of already built models.

    Args:
        models: the members (each with ``fit`` and ``predict``).
        weights: optional non-negative weight per member (normalised); default equal.

    ``predict(x)`` is the (weighted) mean of the members' ``predict(x)``; ``fit`` fits every
    member on the same data; ``score(x, y, metric="accuracy")``.
    """

    def __init__(self, models: Sequence, weights: Optional[Sequence[float]] = None):
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

    def fit(self, x, y, **fit_kwargs):
        for m in self.models:
            m.fit(x, y, **fit_kwargs)
        return self

    def predict(self, x) -> np.ndarray:
        return _average([_member_output(m, x) for m in self.models], self.weights)

    def score(self, x, y, metric="accuracy") -> float:
        return float(get_metric(metric)(y, self.predict(x)))


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

    After ``fit``: ``models`` (the members) and ``sample_indices`` (rows each was fitted on).
    """

    def __init__(self, build_model, n: int = 10, *, bootstrap: bool = True,
                 max_samples: float = 1.0, seed: Optional[int] = None):
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
        return self

    def predict(self, x) -> np.ndarray:
        if not self.models:
            raise RuntimeError("Bagging.predict called before fit")
        return super().predict(x)
