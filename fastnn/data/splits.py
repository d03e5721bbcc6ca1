"""Hold-out splits, k-fold cross-validation and the scoring loop around them.

Models are duck-typed, Keras style: ``build_model()`` returns a fresh object with
``fit(x, y, **fit_kwargs)`` and ``predict(x)`` (class probabilities ``(N, K)`` for classifiers,
values for regression). Nothing here depends on ``fastnn.nn``.
"""
from __future__ import annotations

import numbers
import time
import warnings
from typing import Iterator, NamedTuple, Optional, Tuple

import numpy as np

from ..metrics import get as _metric


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {name}={value}")
    return int(value)


def _num_samples(arrays) -> int:
    """The common length of the arrays (None entries skipped): the first axis of an array, the
    len() of a list or another sequence, as scikit-learn's check_consistent_length."""
    lengths = []
    for i, a in enumerate(arrays):
        if a is None:
            continue
        if hasattr(a, "shape"):
            if len(a.shape) == 0:
                raise TypeError(f"array {i} must be an array with a sample axis, got a 0-d {type(a).__name__}")
            lengths.append(int(a.shape[0]))
        elif hasattr(a, "__len__") and hasattr(a, "__getitem__"):
            lengths.append(len(a))
        else:
            raise TypeError(f"array {i} must be an array with a sample axis, got {type(a).__name__}")
    if not lengths:
        raise ValueError("no array given")
    different = [m for m in lengths if m != lengths[0]]
    if different:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths} (arrays have "
                         f"different numbers of samples: {lengths[0]} and {different[0]})")
    return lengths[0]


def _take_rows(a, idx: np.ndarray):
    """Rows idx of a: fancy indexing for an array, a list of the items for a list or another
    sequence (scikit-learn's _safe_indexing), None for None."""
    if a is None:
        return None
    if hasattr(a, "shape"):
        return a[idx]
    return [a[i] for i in idx.tolist()]


def _class_labels(y, name: str = "y") -> np.ndarray:
    """Class labels (N,) to stratify by: integers, booleans, strings, or floats that are all
    whole numbers (class indices stored as floats, scikit-learn's 'multiclass'); a column
    (N, 1) is taken as (N,), as scikit-learn's."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    whole_floats = (y.dtype.kind == "f" and y.ndim == 1
                    and bool(np.all(np.isfinite(y) & (y == np.round(y)))))
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
                           or y.dtype.kind in "US" or whole_floats):
        raise ValueError(f"{name} must be 1-D class labels (integers, strings, or whole-number floats) "
                         f"to stratify, got shape {y.shape} dtype {y.dtype}"
                         + ("" if y.dtype.kind != "f" else " with fractional or non-finite values")
                         + "; for regression targets pass stratified=False / stratify=None")
    return y


class Split(NamedTuple):
    """``x_train, x_test, y_train, y_test``: scikit-learn's order, so code written for
    ``sklearn.model_selection.train_test_split`` unpacks it unchanged. (The dataset loaders'
    :class:`DatasetSplits` is ``x_train, y_train, x_test, y_test``: use the field names when in doubt.)"""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: Optional[np.ndarray]
    y_test: Optional[np.ndarray]


def _resolve_count(size, n: int, name: str = "test_size") -> int:
    """A split side's sample count from a fraction in (0, 1) or an int count, scikit-learn's
    rounding: the test side rounds up, the train side down."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float in (0, 1) or an int count, got {name}={size!r}")
    if isinstance(size, numbers.Integral):
        if not 1 <= size <= n - 1:
            raise ValueError(f"{name} as a count must be in [1, {n - 1}] for {n} samples, got {name}={size}")
        return int(size)
    if isinstance(size, numbers.Real):
        if not 0.0 < size < 1.0:
            raise ValueError(f"{name} as a fraction must be in (0, 1), got {name}={size}")
        k = int(np.ceil(size * n)) if name == "test_size" else int(np.floor(size * n))
        if not 1 <= k <= n - 1:
            raise ValueError(f"{name}={size} leaves an empty train or test set with {n} samples")
        return k
    raise TypeError(f"{name} must be a float in (0, 1) or an int count, got {name}={size!r}")


def _resolve_test_count(test_size, n: int) -> int:
    return _resolve_count(test_size, n, "test_size")


def _split_counts(test_size, train_size, n: int) -> tuple[int, int]:
    """(n_test, n_train) as scikit-learn's train_test_split: test 0.25 when neither is given, the
    other side the rest when one is; both given may leave samples out, never overlap."""
    if test_size is None and train_size is None:
        test_size = 0.25
    n_test = None if test_size is None else _resolve_count(test_size, n, "test_size")
    n_train = None if train_size is None else _resolve_count(train_size, n, "train_size")
    fractions = [isinstance(v, (float, np.floating)) for v in (test_size, train_size)]
    if all(fractions) and test_size + train_size > 1:  # scikit-learn's check, before rounding
        raise ValueError(f"The sum of test_size and train_size = {test_size + train_size}, should be in the "
                         f"(0, 1) range. Reduce test_size and/or train_size (test_size={test_size!r}, "
                         f"train_size={train_size!r})")
    if n_test is None:
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n:
        raise ValueError(f"test_size={test_size!r} and train_size={train_size!r} ask for {n_test} + {n_train} "
                         f"samples, more than the {n} there are; reduce test_size and/or train_size")
    return n_test, n_train


def _check_class_sizes(classes: np.ndarray, counts: np.ndarray) -> None:
    if counts.min() < 2:
        bad = classes[counts.argmin()].item()    # a plain value for the message
        raise ValueError(f"stratify: class {bad!r} has only {counts.min()} sample; each class "
                         "needs at least 2 to appear on both sides of the split")


def _check_test_classes(n_test: int, n_classes: int, test_size) -> None:
    if n_test < n_classes:  # scikit-learn refuses this too: a class would be missing from the test set
        raise ValueError(f"stratify: test_size={test_size!r} gives {n_test} test samples for {n_classes} classes; "
                         f"The test_size = {n_test} should be greater or equal to the number of classes = "
                         f"{n_classes}")


def _stratified_test_indices(labels: np.ndarray, n_test: int, rng, test_size=None) -> np.ndarray:
    """Pick ``n_test`` indices so each class gets its proportional share (largest remainder)."""
    classes, y_idx, counts = np.unique(labels, return_inverse=True, return_counts=True)
    _check_class_sizes(classes, counts)
    n = len(labels)
    if n - n_test < len(classes):   # scikit-learn refuses this too (train_size < number of classes)
        raise ValueError(f"stratify: test_size={test_size!r} leaves {n - n_test} training samples for "
                         f"{len(classes)} classes; each class needs at least one training sample "
                         f"(test_size at most {n - len(classes)} here)")
    _check_test_classes(n_test, len(classes), test_size)
    exact = counts * (n_test / n)
    take = np.floor(exact).astype(np.int64)
    # Hand out the remaining test slots to the classes with the largest remainders; ties go
    # to the lower class index, so the result does not depend on anything but the data.
    short = n_test - int(take.sum())
    order = np.lexsort((np.arange(len(classes)), -(exact - take)))
    take[order[:short]] += 1
    # Always leave one sample per class for training; give any slots this frees to the
    # other classes in the same remainder order.
    take = np.minimum(take, counts - 1)
    deficit = n_test - int(take.sum())
    while deficit > 0:
        room = [c for c in order if take[c] < counts[c] - 1]
        if not room:
            break
        for c in room[:deficit]:
            take[c] += 1
        deficit = n_test - int(take.sum())
    picked = []
    for c in range(len(classes)):
        members = np.flatnonzero(y_idx == c)
        picked.append(rng.permutation(members)[:take[c]])
    return np.sort(np.concatenate(picked))


def _approximate_mode(counts: np.ndarray, n_draws: int) -> np.ndarray:
    """Per-class counts of ``n_draws`` samples in proportion to ``counts``: scikit-learn's
    ``_approximate_mode`` (floor of the exact shares, the rest to the largest remainders). Its
    ties are broken at random; here they go to the lower class index, so the counts are one of
    scikit-learn's possible outcomes and depend on nothing but the data."""
    exact = counts / counts.sum() * n_draws     # scikit-learn's expression: the same floats
    take = np.floor(exact).astype(np.int64)
    short = n_draws - int(take.sum())
    order = np.lexsort((np.arange(len(counts)), -(exact - take)))
    take[order[:short]] += 1
    return take


def _stratified_train_test_indices(labels: np.ndarray, n_train: int, n_test: int, rng,
                                   train_size) -> tuple[np.ndarray, np.ndarray]:
    """Both sizes given (some samples in neither part): scikit-learn's StratifiedShuffleSplit
    allocation, the train counts in proportion to the classes, then the test counts in
    proportion to what each class has left. The one-size rules of
    _stratified_test_indices do not apply: they assume the two parts use every sample."""
    classes, y_idx, counts = np.unique(labels, return_inverse=True, return_counts=True)
    _check_class_sizes(classes, counts)
    if n_train < len(classes):   # scikit-learn refuses this too
        raise ValueError(f"stratify: train_size={train_size!r} gives {n_train} training samples for "
                         f"{len(classes)} classes; it must be at least the number of classes")
    _check_test_classes(n_test, len(classes), n_test)
    train_take = _approximate_mode(counts, n_train)
    test_take = _approximate_mode(counts - train_take, n_test)
    train, test = [], []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_idx == c))
        train.append(members[:train_take[c]])
        test.append(members[train_take[c]:train_take[c] + test_take[c]])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def train_test_split(*arrays, test_size=None, train_size=None, random_state: Optional[int] = None,
                     shuffle: bool = True, stratify=None, seed: Optional[int] = None, x=None,
                     y=None) -> Split | list:
    """Split arrays into a train and a test part, scikit-learn's ``train_test_split(*arrays)``.

    Args:
        *arrays: one or more arrays ``(N, ...)`` (or lists / other sequences of N items, as
            scikit-learn), all split by the same row indices; None stays None. ``x=`` and ``y=``
            are accepted as keywords for the first two (fastnn's earlier signature).
        test_size: fraction in (0, 1) (the test count is ``ceil(test_size * N)``) or an int count;
            0.25 when neither size is given, the rest of the samples when only train_size is.
        train_size: fraction (``floor(train_size * N)`` samples) or count, as scikit-learn's; the
            rest when not given. With both, samples beyond their sum are in neither part.
        random_state: seed of the random choice (scikit-learn's name; ``seed`` is fastnn's); the
            same seed gives the same split. The choice is NumPy's ``default_rng(seed)``, not
            scikit-learn's RandomState, so a shuffled split picks other rows than scikit-learn's
            with the same seed; unshuffled, the parts are scikit-learn's.
        shuffle: False takes the last samples as the test set, in order (no stratification).
        stratify: class labels ``(N,)`` (usually ``y``): each class keeps its proportion on
            both sides (needs every class to have at least 2 samples, and at least as many
            training samples as classes, as scikit-learn; else ValueError). When the two parts
            use every sample, the test counts are the classes' shares (largest remainders) and
            every class keeps at least one training sample; when both sizes are given and leave
            samples out, the counts are scikit-learn's StratifiedShuffleSplit allocation (the
            train counts in proportion to the classes, then the test counts in proportion to
            what each class has left). Remainder ties go to the lower class index (scikit-learn
            breaks them at random).

    Returns:
        For one or two arrays, Split ``(x_train, x_test, y_train, y_test)``, scikit-learn's order
        (``y_*`` are None with one array); for three or more, scikit-learn's list
        ``[a_train, a_test, b_train, b_test, ...]``, two entries per array. The rows of each part
        keep their original order; a list comes back as a list of its items, as scikit-learn's.

    Raises:
        ValueError: no array ("At least one array required as input", scikit-learn's), arrays
            of different lengths (naming them: "... inconsistent numbers of samples: [10, 9]"),
            fewer than 2 samples, or sizes out of range.
        TypeError: an argument that is not an array or a sequence (a scalar, a 0-d array).
    """
    if x is not None:
        if arrays:
            raise TypeError("train_test_split() got the first array twice: positionally and as x=")
        arrays = (x,)
    if y is not None:
        if len(arrays) != 1:
            raise TypeError(f"train_test_split() got y= with {len(arrays)} positional arrays; y= names the "
                            "second array when only the first is positional")
        arrays = arrays + (y,)
    if not arrays:
        raise ValueError("At least one array required as input")
    if random_state is not None:
        if seed is not None and seed != random_state:
            raise ValueError(f"seed and random_state (scikit-learn's name) name the same thing; got seed={seed!r}, "
                             f"random_state={random_state!r}")
        seed = random_state
    n = _num_samples(arrays)
    if n < 2:
        raise ValueError(f"need at least 2 samples to split, got {n}")
    n_test, n_train = _split_counts(test_size, train_size, n)
    if not shuffle:
        if stratify is not None:
            raise ValueError("stratify needs shuffle=True")
        # the first n_train samples train, the next n_test test (scikit-learn's); all of them
        # used, the last n_test are the test set
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = np.random.default_rng(seed)
        if stratify is not None:
            labels = _class_labels(stratify, "stratify")
            if labels.shape[0] != n:
                raise ValueError(f"stratify has {labels.shape[0]} labels for {n} samples")
        if stratify is not None and n_train + n_test < n:  # both sizes given, samples left out
            train_idx, test_idx = _stratified_train_test_indices(labels, n_train, n_test, rng, train_size)
        elif stratify is not None:
            test_idx = _stratified_test_indices(labels, n_test, rng, test_size)
            mask = np.zeros(n, dtype=bool)
            mask[test_idx] = True
            train_idx = np.flatnonzero(~mask)
        else:
            perm = rng.permutation(n)
            test_idx = np.sort(perm[:n_test])
            train_idx = np.sort(perm[n_test:n_test + n_train])
    parts = [part for a in arrays for part in (_take_rows(a, train_idx), _take_rows(a, test_idx))]
    if len(arrays) > 2:
        return parts
    if len(parts) == 2:
        parts += [None, None]
    return Split(*parts)


class KFold:
    """K-fold cross-validation indices: each sample is in exactly one test fold.

    Fold sizes differ by at most one (the first ``N % k`` folds get the extra sample).

    Args:
        k: number of folds, >= 2.
        shuffle: shuffle the sample order once before cutting the folds (else contiguous).
        seed: seed of that shuffle.
    """

    def __init__(self, k: int = 5, *, shuffle: bool = False, seed: Optional[int] = None):
        self.k = _check_int(k, "k", 2)
        self.shuffle = bool(shuffle)
        self.seed = seed

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k}, shuffle={self.shuffle}, seed={self.seed})"

    def _check_n(self, n: int):
        if self.k > n:
            raise ValueError(f"k={self.k} folds need at least {self.k} samples, got {n}")

    def _fold_ids(self, n: int, y) -> np.ndarray:
        order = np.random.default_rng(self.seed).permutation(n) if self.shuffle else np.arange(n)
        sizes = np.full(self.k, n // self.k)
        sizes[: n % self.k] += 1
        fold = np.empty(n, dtype=np.int64)
        fold[order] = np.repeat(np.arange(self.k), sizes)
        return fold

    def split(self, x, y=None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` for each of the k folds (sorted int64)."""
        n = _num_samples([x, y])
        self._check_n(n)
        fold = self._fold_ids(n, y)
        for f in range(self.k):
            yield np.flatnonzero(fold != f), np.flatnonzero(fold == f)

    def get_n_splits(self) -> int:
        return self.k


class StratifiedKFold(KFold):
    """K-fold where each fold keeps the class proportions of ``y``: scikit-learn's allocation.

    Classes are taken in order of first appearance; the labels sorted by class are dealt to the
    k folds in turn to count how many of each class every fold gets (so the fold sizes differ by
    at most one), and each class's samples go to the folds in sample order, a contiguous run per
    fold (shuffled within the class when ``shuffle``). Without shuffling the folds are
    scikit-learn's exactly. As scikit-learn's: ValueError when every class has fewer than k
    samples, a UserWarning when the smallest one does (it is absent from some test folds).
    """

    def _fold_ids(self, n: int, y) -> np.ndarray:
        if y is None:
            raise ValueError("StratifiedKFold.split needs the class labels y")
        labels = _class_labels(y)
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        encoded = np.unique(first, return_inverse=True)[1][inverse.reshape(-1)]  # by first appearance
        counts = np.bincount(encoded)
        if np.all(self.k > counts):
            raise ValueError(f"n_splits={self.k} cannot be greater than the number of members in each class "
                             f"(the largest class has {counts.max()})")
        if self.k > counts.min():
            warnings.warn(f"The least populated class in y has only {counts.min()} members, which is less than "
                          f"n_splits={self.k}.", UserWarning, stacklevel=3)
        ordered = np.sort(encoded)
        allocation = np.stack([np.bincount(ordered[i::self.k], minlength=counts.size) for i in range(self.k)])
        rng = np.random.default_rng(self.seed) if self.shuffle else None
        fold = np.empty(n, dtype=np.int64)
        for c in range(counts.size):
            folds = np.repeat(np.arange(self.k), allocation[:, c])
            if rng is not None:
                rng.shuffle(folds)
            fold[encoded == c] = folds
        return fold


class CVResult(NamedTuple):
    """Per-fold scores of :func:`cross_validate` and their summary.

    ``std`` is the population standard deviation (ddof=0) of the fold scores, as scikit-learn
    reports it.
    """

    scores: np.ndarray
    mean: float
    std: float
    fit_times: np.ndarray

    def __str__(self):
        return f"{self.mean:.4f} +/- {self.std:.4f} over {len(self.scores)} folds"


def cross_validate(build_model, x, y, k: int = 5, fit_kwargs: Optional[dict] = None,
                   metric="accuracy", stratified: bool = True, seed: Optional[int] = 0,
                   shuffle: bool = True) -> CVResult:
    """k-fold cross-validation of a model factory.

    For each fold: ``model = build_model()`` (a fresh, untrained model), ``model.fit(x[train],
    y[train], **fit_kwargs)``, then ``metric(y[test], model.predict(x[test]))``.

    Args:
        build_model: zero-argument callable returning a new model (``fit``/``predict``).
        x, y: the data, ``(N, ...)`` each.
        k: number of folds, >= 2.
        fit_kwargs: keyword arguments for every ``fit`` call (epochs, batch size, ...).
        metric: ``"accuracy"`` (argmax of predicted probabilities vs labels), ``"mse"``,
            ``"mae"``, or a callable ``metric(y_true, y_pred) -> float``.
        stratified: keep class proportions in each fold (needs class labels; pass False
            for regression).
        seed: seed of the fold assignment.
        shuffle: shuffle before cutting folds.

    Returns:
        CVResult ``(scores (k,), mean, std, fit_times (k,))``.
    """
    if not callable(build_model):
        raise TypeError(f"build_model must be a callable returning a new model, got "
                        f"{type(build_model).__name__}")
    score_fn = _metric(metric)[1]
    fit_kwargs = {} if fit_kwargs is None else dict(fit_kwargs)
    splitter = (StratifiedKFold if stratified else KFold)(k, shuffle=shuffle, seed=seed)
    scores, times = [], []
    for train_idx, test_idx in splitter.split(x, y):
        model = build_model()
        for attr in ("fit", "predict"):
            if not callable(getattr(model, attr, None)):
                raise TypeError(f"build_model() returned a {type(model).__name__} without a "
                                f"{attr}() method")
        t0 = time.perf_counter()
        model.fit(x[train_idx], y[train_idx], **fit_kwargs)
        times.append(time.perf_counter() - t0)
        scores.append(float(score_fn(y[test_idx], model.predict(x[test_idx]))))
    s = np.asarray(scores, dtype=np.float64)
    return CVResult(s, float(s.mean()), float(s.std()), np.asarray(times))
