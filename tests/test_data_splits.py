"""Splits, k-fold, cross_validate and ensembles, with a small self-contained NumPy
softmax-regression model (duck-typed like the Keras-style fastnn model: fit / predict).
When fastnn's Sequential lands, a build function returning a compiled MLP drops in."""
import numpy as np
import pytest

from fastnn.data import (Bagging, Ensemble, KFold, StratifiedKFold, cross_validate,
                         train_test_split)
from fastnn.metrics import accuracy, get, mse


class SoftmaxRegression:
    """Multinomial logistic regression by full-batch gradient descent (float64)."""

    def __init__(self, num_classes, lr=0.5, epochs=60, l2=1e-3, seed=0):
        self.k, self.lr, self.epochs, self.l2, self.seed = num_classes, lr, epochs, l2, seed

    def fit(self, x, y, epochs=None):
        x = x.reshape(len(x), -1).astype(np.float64)
        n, d = x.shape
        rng = np.random.default_rng(self.seed)
        self.w = rng.normal(0, 0.01, (d, self.k))
        self.b = np.zeros(self.k)
        t = np.zeros((n, self.k))
        t[np.arange(n), y] = 1
        for _ in range(epochs or self.epochs):
            p = self.predict(x)
            g = (p - t) / n
            self.w -= self.lr * (x.T @ g + self.l2 * self.w)
            self.b -= self.lr * g.sum(axis=0)
        return self

    def predict(self, x):
        z = x.reshape(len(x), -1) @ self.w + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def blobs(n=600, d=10, k=4, spread=2.2, seed=0):
    """Overlapping Gaussian classes: learnable but not perfectly separable."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (k, d))
    y = rng.integers(0, k, n)
    x = centres[y] + rng.normal(0, spread / np.sqrt(d) * 2, (n, d))
    return x.astype(np.float32), y.astype(np.int64)


# --- train_test_split --------------------------------------------------------------------------

def test_split_sizes_disjoint_cover_and_aligned():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    s = train_test_split(x, y, test_size=0.2, seed=0)
    assert len(s.x_test) == 10 and len(s.x_train) == 40
    np.testing.assert_array_equal(s.x_train[:, 0], 2 * s.y_train)        # rows stay aligned
    np.testing.assert_array_equal(np.sort(np.concatenate([s.y_train, s.y_test])), y)
    s2 = train_test_split(x, y, test_size=0.2, seed=0)
    np.testing.assert_array_equal(s.y_test, s2.y_test)
    assert not np.array_equal(s.y_test, train_test_split(x, y, test_size=0.2, seed=1).y_test)
    assert len(train_test_split(x, test_size=7, seed=0).x_test) == 7
    tail = train_test_split(x, y, test_size=5, shuffle=False)
    np.testing.assert_array_equal(tail.y_test, np.arange(45, 50))
    assert train_test_split(x, test_size=0.5).y_train is None


def test_stratified_split_keeps_proportions():
    y = np.repeat(np.arange(3), [60, 30, 10])
    x = np.arange(100)
    s = train_test_split(x, y, test_size=0.3, stratify=y, seed=4)
    np.testing.assert_array_equal(np.bincount(s.y_test), [18, 9, 3])
    np.testing.assert_array_equal(np.bincount(s.y_train), [42, 21, 7])
    # Uneven: the test count is still exact (ceil(0.25 * 100) = 25).
    s = train_test_split(x, y, test_size=0.25, stratify=y, seed=0)
    assert len(s.y_test) == 25 and set(np.bincount(s.y_test)) <= {15, 16, 7, 8, 2, 3}


@pytest.mark.parametrize("kwargs, message", [
    ({"test_size": 1.5}, "test_size=1.5"),
    ({"test_size": 0.0}, "test_size=0.0"),
    ({"test_size": 10}, "test_size=10"),
    ({"test_size": "a"}, "test_size='a'"),
    ({"stratify": np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])}, "class 1 has only 1 sample"),
    ({"stratify": np.linspace(0, 1, 10)}, "class labels"),
])
def test_split_errors_name_values(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        train_test_split(np.arange(10), np.arange(10), **kwargs)


def test_split_length_mismatch():
    with pytest.raises(ValueError, match="10 and 9"):
        train_test_split(np.arange(10), np.arange(9))


# --- k-fold ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [KFold, StratifiedKFold])
@pytest.mark.parametrize("shuffle", [False, True])
def test_folds_partition_the_samples(cls, shuffle):
    y = np.repeat(np.arange(3), [13, 7, 3])
    if cls is StratifiedKFold:  # a class of 3 for 5 folds: scikit-learn's warning
        with pytest.warns(UserWarning, match="least populated class in y has only 3 members"):
            folds = list(cls(5, shuffle=shuffle, seed=0).split(np.zeros(23), y))
    else:
        folds = list(cls(5, shuffle=shuffle, seed=0).split(np.zeros(23), y))
    assert len(folds) == 5
    tests = np.concatenate([te for _, te in folds])
    np.testing.assert_array_equal(np.sort(tests), np.arange(23))          # each once
    for tr, te in folds:
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 23
    sizes = sorted(len(te) for _, te in folds)
    assert sizes[-1] - sizes[0] <= 1


def test_stratified_folds_keep_class_counts_within_one():
    y = np.repeat(np.arange(3), [50, 25, 10])
    for _, te in StratifiedKFold(5, shuffle=True, seed=1).split(np.zeros(85), y):
        np.testing.assert_array_equal(np.bincount(y[te], minlength=3), [10, 5, 2])


def test_kfold_shuffle_reproducible():
    a = [te for _, te in KFold(4, shuffle=True, seed=3).split(np.zeros(20))]
    b = [te for _, te in KFold(4, shuffle=True, seed=3).split(np.zeros(20))]
    c = [te for _, te in KFold(4, shuffle=False).split(np.zeros(20))]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(c[0], np.arange(5))


def test_kfold_errors_name_values():
    with pytest.raises(ValueError, match="k=1"):
        KFold(1)
    with pytest.raises(TypeError, match="k=2.5"):
        KFold(2.5)
    with pytest.raises(ValueError, match="k=5 folds need at least 5 samples, got 3"):
        list(KFold(5).split(np.zeros(3)))
    with pytest.raises(ValueError, match="needs the class labels"):
        list(StratifiedKFold(2).split(np.zeros(4)))


# --- cross-validation and ensembles -----------------------------------------------------------

def test_cross_validate_five_folds():
    x, y = blobs()
    res = cross_validate(lambda: SoftmaxRegression(4), x, y, k=5, fit_kwargs={"epochs": 40})
    assert res.scores.shape == (5,)
    assert np.all((res.scores > 0.4) & (res.scores <= 1.0))   # well above chance (0.25)
    assert res.mean == pytest.approx(res.scores.mean()) and res.std == pytest.approx(res.scores.std())
    assert res.fit_times.shape == (5,)
    again = cross_validate(lambda: SoftmaxRegression(4), x, y, k=5, fit_kwargs={"epochs": 40})
    np.testing.assert_array_equal(res.scores, again.scores)
    assert "over 5 folds" in str(res)


def test_cross_validate_builds_a_fresh_model_per_fold_and_passes_fit_kwargs():
    built, seen = [], []

    class Probe:
        def fit(self, x, y, **kw):
            seen.append((len(x), kw))

        def predict(self, x):
            return np.tile([1.0, 0.0], (len(x), 1))

    def build():
        built.append(1)
        return Probe()

    y = np.array([0, 1] * 10)
    res = cross_validate(build, np.zeros((20, 3)), y, k=5, fit_kwargs={"epochs": 3})
    assert len(built) == 5 and all(n == 16 and kw == {"epochs": 3} for n, kw in seen)
    np.testing.assert_allclose(res.scores, 0.5)              # stratified: half of each fold


def test_cross_validate_regression_with_custom_metric():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5])

    class LeastSquares:
        def fit(self, x, y):
            self.w = np.linalg.lstsq(x, y, rcond=None)[0]

        def predict(self, x):
            return x @ self.w

    res = cross_validate(LeastSquares, x, y, k=3, metric="mse", stratified=False)
    assert res.mean < 1e-20
    with pytest.raises(ValueError, match="stratified=False"):
        cross_validate(LeastSquares, x, y, k=3, metric="mse")
    with pytest.raises(ValueError, match="unknown metric.*Received: metric='f7'"):
        cross_validate(LeastSquares, x, y, k=3, metric="f7", stratified=False)


def test_bagging_scores_at_least_its_median_member():
    x, y = blobs(n=500, seed=1)
    s = train_test_split(x, y, test_size=0.4, stratify=y, seed=0)
    bag = Bagging(lambda: SoftmaxRegression(4, epochs=50), n=7, seed=0)
    bag.fit(s.x_train, s.y_train)
    member_scores = [accuracy(s.y_test, m.predict(s.x_test)) for m in bag.models]
    assert len(bag.models) == 7 and len(bag.sample_indices) == 7
    # Bootstrap samples differ (and repeat rows).
    assert len(np.unique(bag.sample_indices[0])) < len(s.x_train)
    assert not np.array_equal(bag.sample_indices[0], bag.sample_indices[1])
    assert bag.score(s.x_test, s.y_test) >= np.median(member_scores)
    p = bag.predict(s.x_test)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)   # averaged probabilities


def test_ensemble_averages_predictions_and_weights():
    class Const:
        def __init__(self, p):
            self.p = np.asarray(p, dtype=np.float64)

        def fit(self, x, y):
            self.fitted = True

        def predict(self, x):
            return np.tile(self.p, (len(x), 1))

    e = Ensemble([Const([1.0, 0.0]), Const([0.0, 1.0]), Const([0.0, 1.0])])
    np.testing.assert_allclose(e.predict(np.zeros(2)), [[1 / 3, 2 / 3]] * 2)
    assert e.score(np.zeros(2), np.array([1, 1])) == 1.0
    w = Ensemble(e.models, weights=[4, 1, 1])
    np.testing.assert_allclose(w.predict(np.zeros(1)), [[2 / 3, 1 / 3]])
    e.fit(np.zeros(2), np.zeros(2))
    assert all(m.fitted for m in e.models)
    with pytest.raises(ValueError, match="different shapes"):
        Ensemble([Const([1.0, 0.0]), Const([1.0, 0.0, 0.0])]).predict(np.zeros(1))
    with pytest.raises(ValueError, match="weights must be"):
        Ensemble(e.models, weights=[1, -1, 1])
    with pytest.raises(ValueError, match="empty"):
        Ensemble([])


def test_bagging_arguments_and_without_bootstrap():
    with pytest.raises(ValueError, match="n=0"):
        Bagging(lambda: None, n=0)
    with pytest.raises(ValueError, match="max_samples=1.5"):
        Bagging(lambda: None, max_samples=1.5)
    with pytest.raises(RuntimeError, match="before fit"):
        Bagging(lambda: None).predict(np.zeros(1))
    x, y = blobs(n=80)
    bag = Bagging(lambda: SoftmaxRegression(4, epochs=5), n=2, bootstrap=False,
                  max_samples=0.5, seed=0).fit(x, y)
    for idx in bag.sample_indices:
        assert len(idx) == 40 and len(np.unique(idx)) == 40


def test_metrics():
    assert accuracy(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])) == \
        pytest.approx(2 / 3)
    assert accuracy(np.array([[0, 1], [1, 0]]), np.array([1, 1])) == 0.5    # one-hot truth
    assert mse([1.0, 2.0], [[1.0], [4.0]]) == 2.0
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        accuracy(np.zeros(3, int), np.zeros(2, int))
    assert get(len)[1] is len


def test_train_test_split_unpacks_in_scikit_learn_order():
    x = np.arange(20).reshape(10, 2)
    y = np.arange(10) * 10
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, seed=0)
    assert x_train.shape == (7, 2) and x_test.shape == (3, 2)
    np.testing.assert_array_equal(y_train, x_train[:, 0] * 5)  # rows stay paired with their labels
    np.testing.assert_array_equal(y_test, x_test[:, 0] * 5)


# train_size and random_state: scikit-learn's train_test_split
@pytest.mark.parametrize("n", [7, 10, 13])
@pytest.mark.parametrize("sizes", [dict(train_size=0.5), dict(train_size=3), dict(test_size=0.3, train_size=0.4),
                                   dict(test_size=2, train_size=3), dict(test_size=0.2), dict()])
def test_train_size_counts_and_unshuffled_indices_are_sklearns(n, sizes):
    sk = pytest.importorskip("sklearn.model_selection")
    x = np.arange(n)
    ours = train_test_split(x, shuffle=False, **sizes)
    theirs = sk.train_test_split(x, shuffle=False, **sizes)
    np.testing.assert_array_equal(ours.x_train, theirs[0])
    np.testing.assert_array_equal(ours.x_test, theirs[1])
    shuffled = train_test_split(x, x * 10, random_state=3, **sizes)
    assert len(shuffled.x_train) == len(theirs[0]) and len(shuffled.x_test) == len(theirs[1])
    assert not set(shuffled.x_train) & set(shuffled.x_test)  # disjoint, each in original order
    assert list(shuffled.x_train) == sorted(shuffled.x_train) and np.array_equal(shuffled.y_test, shuffled.x_test * 10)
    again = train_test_split(x, x * 10, seed=3, **sizes)
    np.testing.assert_array_equal(again.x_test, shuffled.x_test)


def test_train_size_with_stratify_keeps_the_proportions():
    y = np.repeat([0, 1], [30, 10])
    s = train_test_split(np.arange(40), y, test_size=0.25, train_size=0.5, stratify=y, seed=0)
    assert len(s.x_train) == 20 and len(s.x_test) == 10
    assert np.bincount(s.y_train).tolist() == [15, 5] and np.bincount(s.y_test).tolist() == [8, 2]
    assert not set(s.x_train) & set(s.x_test)


@pytest.mark.parametrize("sizes, train_counts, test_counts", [(dict(test_size=5, train_size=5), [4, 1], [4, 1]),
                                                             (dict(test_size=0.25, train_size=0.7), [7, 1], [2, 1])])
def test_stratify_with_both_sizes_splits_a_small_class_as_sklearn(sizes, train_counts, test_counts):
    """A class of 2 among 12 samples, both sizes given: the train part used to be drawn from what
    the test part left with the one-size rules ("class 1 has only 1 sample", or a message naming
    test_size=None); scikit-learn splits it, and so does fastnn now, with its counts."""
    sk = pytest.importorskip("sklearn.model_selection")
    y = np.array([0] * 10 + [1] * 2)
    theirs = sk.train_test_split(np.arange(12), y, stratify=y, random_state=0, **sizes)
    assert [np.bincount(theirs[2]).tolist(), np.bincount(theirs[3]).tolist()] == [train_counts, test_counts]
    s = train_test_split(np.arange(12), y, stratify=y, seed=0, **sizes)
    assert np.bincount(s.y_train).tolist() == train_counts and np.bincount(s.y_test).tolist() == test_counts
    assert not set(s.x_train) & set(s.x_test)
    np.testing.assert_array_equal(s.y_train, y[s.x_train])
    assert list(s.x_train) == sorted(s.x_train) and list(s.x_test) == sorted(s.x_test)


def test_stratify_with_both_sizes_has_sklearns_class_counts_on_random_cases():
    """StratifiedShuffleSplit's allocation when samples are left out: the train counts in
    proportion to the classes, then the test counts in proportion to what each class has left.
    scikit-learn breaks remainder ties at random, fastnn by class index, so fastnn's counts must
    be among those scikit-learn gives over many random states."""
    sk = pytest.importorskip("sklearn.model_selection")
    rng = np.random.default_rng(0)
    compared = 0
    while compared < 60:
        counts = rng.integers(2, 12, size=rng.integers(2, 5))
        k, n = len(counts), int(counts.sum())
        y = rng.permutation(np.repeat(np.arange(k), counts))
        if rng.random() < 0.5:
            n_test = int(rng.integers(1, n - 1))
            sizes = dict(test_size=n_test, train_size=int(rng.integers(1, n - n_test)))  # leaves some out
        else:
            a = round(float(rng.uniform(0.05, 0.85)), 2)
            sizes = dict(test_size=a, train_size=round(float(rng.uniform(0.05, 0.9 - a)), 2))
        try:
            theirs = {(tuple(np.bincount(p[2], minlength=k)), tuple(np.bincount(p[3], minlength=k)))
                      for p in (sk.train_test_split(np.arange(n), y, stratify=y, random_state=r, **sizes)
                                for r in range(60))}
        except ValueError:   # too few samples on one side for the classes: not a comparison
            continue
        s = train_test_split(np.arange(n), y, stratify=y, seed=compared, **sizes)
        ours = (tuple(np.bincount(s.y_train, minlength=k)), tuple(np.bincount(s.y_test, minlength=k)))
        assert ours in theirs, (counts.tolist(), sizes, ours, theirs)
        assert not set(s.x_train) & set(s.x_test) and len(s.x_train) + len(s.x_test) < n
        np.testing.assert_array_equal(s.y_test, y[s.x_test])
        compared += 1


def test_stratify_with_both_sizes_names_a_train_size_too_small_for_the_classes():
    y = np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match=r"train_size=2 gives 2 training samples for 3 classes"):
        train_test_split(np.arange(12), y, stratify=y, test_size=5, train_size=2)


@pytest.mark.parametrize("kw, words", [(dict(test_size=0.6, train_size=0.5), r"The sum of test_size and train_size = 1.1"),
                                       (dict(test_size=6, train_size=5), "more than the 10"),
                                       (dict(train_size=10), "train_size as a count"),
                                       (dict(train_size=1.0), "train_size as a fraction"),
                                       (dict(seed=1, random_state=2), "random_state")])
def test_train_size_bad_input(kw, words):
    with pytest.raises(ValueError, match=words):
        train_test_split(np.arange(10), **kw)


@pytest.mark.parametrize("n", [2, 3, 10])
def test_fractions_summing_past_one_are_refused_before_rounding(n):
    """scikit-learn's check: 0.5 + 0.6 > 1 even where the rounded counts (1 + 1 of 3) fit."""
    with pytest.raises(ValueError, match=r"The sum of test_size and train_size = 1.1, should be in the \(0, 1\) range"):
        train_test_split(np.arange(n), test_size=0.5, train_size=0.6)


@pytest.mark.parametrize("kw", [dict(test_size=2), dict(test_size=0.05, train_size=0.5)])
def test_a_stratified_test_set_needs_a_sample_of_every_class(kw):
    """A test part smaller than the number of classes would miss one (scikit-learn refuses it)."""
    y = np.repeat([0, 1, 2], 8)
    with pytest.raises(ValueError, match=r"The test_size = \d should be greater or equal to the number of classes = 3"):
        train_test_split(np.arange(24), y, stratify=y, **kw)


@pytest.mark.parametrize("labels", [np.array([0., 1, 0, 1, 0, 1, 2, 2]), np.array([[0], [1], [0], [1], [0], [1], [2], [2]])])
def test_stratify_takes_whole_number_floats_and_a_column(labels):
    """scikit-learn's 'multiclass' targets: class indices stored as floats, or as an (N, 1) column."""
    from fastnn.data import StratifiedKFold

    x = np.arange(8)
    _, _, y_train, y_test = train_test_split(x, labels.reshape(-1), stratify=labels, test_size=3, random_state=0)
    assert sorted(y_test.tolist()) == [0.0, 1.0, 2.0]
    folds = list(StratifiedKFold(2).split(x, labels))
    for _, test in folds:  # each fold stratified: one of the two 2s, one or two of the three 0s and 1s
        counts = np.bincount(labels.reshape(-1)[test].astype(int), minlength=3)
        assert counts[2] == 1 and 1 <= counts[0] <= 2 and 1 <= counts[1] <= 2, counts
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(8))
    with pytest.raises(ValueError, match="whole-number floats"):
        train_test_split(x, stratify=np.linspace(0, 1, 8))


@pytest.mark.parametrize("y", [[0] * 10 + [1] * 3, [2, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 2, 2, 1, 0, 2, 1, 0],
                               ["b", "a", "b", "c", "a", "c", "b", "a", "c"]])
@pytest.mark.parametrize("k", [2, 3])
def test_stratified_folds_are_sklearns(y, k):
    """Unshuffled, the very folds of scikit-learn (classes by first appearance, a contiguous run
    of each class per fold); shuffled, the same class counts per fold."""
    sk = pytest.importorskip("sklearn.model_selection")
    y = np.asarray(y)
    x = np.zeros((len(y), 1))
    for shuffle in (False, True):
        ours = [te for _, te in StratifiedKFold(k, shuffle=shuffle, seed=0).split(x, y)]
        theirs = [te for _, te in sk.StratifiedKFold(k, shuffle=shuffle, random_state=0 if shuffle else None).split(x, y)]
        for a, b in zip(ours, theirs):
            if shuffle:
                assert sorted(y[a].tolist()) == sorted(y[b].tolist())
            else:
                np.testing.assert_array_equal(a, b)


def test_stratified_kfold_refuses_k_above_every_class_as_sklearn():
    with pytest.raises(ValueError, match="n_splits=3 cannot be greater than the number of members in each class"):
        list(StratifiedKFold(3).split(np.zeros(6), np.array([0, 0, 1, 1, 2, 2])))


# --- train_test_split(*arrays): scikit-learn's any number of arrays ---------------------------
# fastnn draws the shuffled split with NumPy's default_rng, not scikit-learn's RandomState, so
# only the unshuffled parts are compared index for index; shuffled, the structure is.

def _three(n):
    """Three arrays whose rows name their index: a 1-D array, a 2-D array, a list of strings."""
    a = np.arange(n)
    return a, np.stack([a * 10, a * 10 + 1], axis=1), [f"s{i}" for i in range(n)]


@pytest.mark.parametrize("n", [7, 10, 13])
@pytest.mark.parametrize("sizes", [dict(), dict(test_size=0.3), dict(train_size=3), dict(test_size=2, train_size=3)])
def test_three_arrays_unshuffled_are_sklearns(n, sizes):
    sk = pytest.importorskip("sklearn.model_selection")
    ours = train_test_split(*_three(n), shuffle=False, **sizes)
    theirs = sk.train_test_split(*_three(n), shuffle=False, **sizes)
    assert isinstance(ours, list) and len(ours) == len(theirs) == 6
    for got, want in zip(ours, theirs):
        assert type(got) is type(want)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [7, 10, 13])
@pytest.mark.parametrize("sizes", [dict(), dict(test_size=0.3), dict(train_size=0.5), dict(test_size=2, train_size=3)])
def test_three_arrays_shuffled_split_every_array_by_the_same_rows(n, sizes):
    sk = pytest.importorskip("sklearn.model_selection")
    a, b, c = _three(n)
    parts = train_test_split(a, b, c, random_state=5, **sizes)
    theirs = sk.train_test_split(a, b, c, random_state=5, **sizes)
    assert len(parts) == 6 and [len(p) for p in parts] == [len(p) for p in theirs]   # scikit-learn's sizes
    a_train, a_test, b_train, b_test, c_train, c_test = parts
    assert isinstance(c_train, list) and isinstance(c_test, list)
    assert not set(a_train) & set(a_test)                                              # disjoint
    assert list(a_train) == sorted(a_train) and list(a_test) == sorted(a_test)         # rows keep their order
    for idx, b_part, c_part in ((a_train, b_train, c_train), (a_test, b_test, c_test)):
        np.testing.assert_array_equal(b_part, b[idx])                                  # the same rows
        assert c_part == [c[i] for i in idx]
    # the rows the one- and two-array calls select, with the same seed
    two = train_test_split(a, b, seed=5, **sizes)
    np.testing.assert_array_equal(two.x_train, a_train)
    np.testing.assert_array_equal(two.y_test, b_test)
    np.testing.assert_array_equal(train_test_split(a, seed=5, **sizes).x_test, a_test)


def test_three_arrays_stratified_keep_the_rows_of_two():
    y = np.repeat(np.arange(3), [12, 6, 4])
    x = np.arange(22)
    w = np.linspace(0, 1, 22)
    x_train, x_test, y_train, y_test, w_train, w_test = train_test_split(x, y, w, test_size=0.5, stratify=y, seed=2)
    two = train_test_split(x, y, test_size=0.5, stratify=y, seed=2)
    for got, want in zip((x_train, x_test, y_train, y_test), two):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(w_train, w[x_train])
    np.testing.assert_array_equal(w_test, w[x_test])
    assert np.bincount(y_test).tolist() == [6, 3, 2]


def test_one_and_two_arrays_still_return_a_split():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    one = train_test_split(x, test_size=0.3, seed=1)
    two = train_test_split(x, y, test_size=0.3, seed=1)
    assert type(one) is type(two) and type(one).__name__ == "Split"
    assert one._fields == ("x_train", "x_test", "y_train", "y_test")
    assert one.y_train is None and one.y_test is None
    np.testing.assert_array_equal(one.x_test, two.x_test)
    # the earlier signature's keywords
    for call in (train_test_split(x, y=y, test_size=0.3, seed=1), train_test_split(x=x, y=y, test_size=0.3, seed=1),
                 train_test_split(x, None, test_size=0.3, seed=1)):
        assert type(call) is type(two)
        np.testing.assert_array_equal(call.x_train, two.x_train)
    assert train_test_split(x, None, test_size=0.3, seed=1).y_train is None
    with pytest.raises(TypeError, match="y="):
        train_test_split(x, y, y=y)
    with pytest.raises(TypeError, match="x="):
        train_test_split(x, x=x)


def test_lists_are_split_into_lists_as_sklearn():
    sk = pytest.importorskip("sklearn.model_selection")
    items, labels = list("abcdefghij"), list(range(10))
    ours = train_test_split(items, labels, test_size=0.3, shuffle=False)
    theirs = sk.train_test_split(items, labels, test_size=0.3, shuffle=False)
    assert list(ours) == theirs and all(isinstance(p, list) for p in ours)
    shuffled = train_test_split(items, np.arange(10), test_size=0.3, seed=0)
    assert shuffled.x_test == [items[i] for i in shuffled.y_test]
    assert sorted(shuffled.x_train + shuffled.x_test) == items
    rows = train_test_split(np.arange(10), seed=0).x_train
    assert train_test_split(tuple(items), seed=0).x_train == [items[i] for i in rows]   # a tuple too


def test_none_among_the_arrays_stays_none():
    parts = train_test_split(np.arange(8), None, np.arange(8) * 2, seed=0)
    assert parts[2] is None and parts[3] is None
    np.testing.assert_array_equal(parts[5], parts[1] * 2)


def test_no_array_and_inconsistent_lengths_raise_sklearns_errors():
    sk = pytest.importorskip("sklearn.model_selection")
    for arrays in [(), (np.arange(10), np.arange(9)), (np.arange(10), np.arange(10), list(range(9)))]:
        with pytest.raises(ValueError) as theirs:
            sk.train_test_split(*arrays)
        with pytest.raises(ValueError) as ours:
            train_test_split(*arrays)
        assert str(ours.value).startswith(str(theirs.value)), (str(ours.value), str(theirs.value))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[10, 10, 9\]"):
        train_test_split(np.arange(10), np.zeros((10, 3)), list(range(9)))


@pytest.mark.parametrize("bad", [np.float64(3.0), np.array(5), 5, {1, 2, 3}])
def test_non_arrays_raise_type_error_naming_the_argument(bad):
    with pytest.raises(TypeError, match="array 1 must be an array with a sample axis"):
        train_test_split(np.arange(3), bad)
