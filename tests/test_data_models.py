"""Cross-validation and bagging with real fastnn models (issue 6's acceptance tests).

The figures (per-fold scores, member and ensemble accuracies) are in the assertion messages;
the cross-validation's are also printed (run with -s to see).
"""
import itertools

import numpy as np
import pytest

import fastnn
from fastnn import metrics, nn, optim
from fastnn.data import Bagging, DatasetNotFoundError, Ensemble, cross_validate, load_digits, load_fashion_mnist


def small_mlp(inputs: int, hidden: int, classes: int = 10):
    def build():
        model = nn.Sequential(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes))
        return model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
    return build


def test_five_fold_cross_validation_of_an_mlp_on_digits():
    pytest.importorskip("sklearn", reason="the 8x8 digits come with scikit-learn (pip install fastnn[digits])")
    x_train, y_train, _, _ = load_digits()
    fastnn.manual_seed(0)
    result = cross_validate(small_mlp(64, 32), x_train, y_train, k=5,
                            fit_kwargs={"epochs": 15, "batch_size": 32, "progress": False}, seed=0)
    print(f"5-fold accuracy: {np.round(result.scores, 4).tolist()} mean {result.mean:.4f} std {result.std:.4f}")
    assert len(result.scores) == 5
    assert all(0.0 <= s <= 1.0 for s in result.scores)
    assert result.mean == pytest.approx(np.mean(result.scores))
    assert result.std == pytest.approx(np.std(result.scores))
    assert result.mean > 0.85, "an MLP learns the digits well above chance (0.1)"


def _mean_squared_distance(p, q) -> float:
    """Mean over samples of the squared distance between two (N, K) probability arrays."""
    return float(np.mean(np.sum((p - q) ** 2, axis=1)))


@pytest.mark.slow
def test_bagged_mlps_on_fashion_mnist_beat_their_members_and_vary_less():
    try:
        x_train, y_train, x_test, y_test = load_fashion_mnist(download=False, verbose=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist): {e}")
    # 12,000 training images keep this to seconds; bootstrap samples of them differ enough
    # for the members to disagree, which is where averaging helps.
    x_train, y_train = x_train[:12000], y_train[:12000]
    fastnn.manual_seed(0)
    bag = Bagging(small_mlp(784, 64), n=5, seed=0)
    bag.fit(x_train, y_train, epochs=2, batch_size=64, progress=False)
    assert len(bag.models) == 5
    probs = [m.predict_proba(x_test) for m in bag.models]
    members = [metrics.accuracy(y_test, p) for p in probs]
    ensemble = bag.score(x_test, y_test)
    figures = (f"member accuracies {np.round(members, 4).tolist()} (median {np.median(members):.4f}, "
               f"mean {np.mean(members):.4f}), bagged ensemble {ensemble:.4f}")
    assert ensemble >= np.median(members), figures
    # Averaging helps on average, not only against the median: its test error is at most the
    # members' mean error (not guaranteed for accuracy, unlike for log-loss by convexity).
    assert ensemble >= np.mean(members), figures

    # Variance reduction: the members are i.i.d. given the training set (own bootstrap sample,
    # own initialisation), so an average of 2 members varies half as much from one draw of
    # members to another as a single member does. Measured as disagreement on the test set:
    # between two members, and between two disjoint 2-member ensembles (fastnn's Ensemble).
    single = np.mean([_mean_squared_distance(probs[i], probs[j]) for i, j in itertools.combinations(range(5), 2)])
    halves = np.mean([_mean_squared_distance(Ensemble([bag.models[i], bag.models[j]]).predict(x_test),
                                             Ensemble([bag.models[k], bag.models[l]]).predict(x_test))
                      for (i, j), (k, l) in [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 3), (1, 2))]])
    figures += (f"; disagreement of the predicted probabilities: two members {single:.4f}, two disjoint "
                f"2-member ensembles {halves:.4f} (ratio {halves / single:.2f}; about 0.5 expected)")
    assert single > 0, "the members are identical: bootstrap samples or initialisations do not differ. " + figures
    assert halves < 0.75 * single, figures


# ---- regression vs classification in ensembles, predict_proba of one output column -----------

def _regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 3.0).astype(np.float32)  # (N, 1), mean 3
    return x, y


def _regressor():
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    return model.compile(optimizer=optim.Adam(model.parameters(), lr=0.05), loss="mse")


def test_ensemble_of_regressors_averages_their_predictions_not_probabilities():
    x, y = _regression_data()
    fastnn.manual_seed(0)
    members = [_regressor(), _regressor()]
    for m in members:
        m.fit(x, y, epochs=20, batch_size=16, progress=False)
    preds = [m.predict(x) for m in members]
    e = Ensemble(members)
    out = e.predict(x)
    assert e.task_ == "regression"  # "auto": one output column
    assert out.shape == (64, 1)
    np.testing.assert_allclose(out, (preds[0] + preds[1]) / 2, rtol=1e-6)
    assert not np.allclose(out, 1.0), "the softmax of one column is 1.0: that is what was averaged"
    w = Ensemble(members, weights=[3, 1], task="regression").predict(x)
    np.testing.assert_allclose(w, 0.75 * preds[0] + 0.25 * preds[1], rtol=1e-5)
    assert e.score(x, y) == pytest.approx(metrics.mse(y, out), rel=1e-5)  # default metric: mse
    assert e.score(x, y, metric="mae") == pytest.approx(metrics.mae(y, out), rel=1e-5)
    with pytest.raises(ValueError, match="regression.*predict_proba|predict_proba.*regression"):
        e.predict_proba(x)


def test_bagged_regressors_track_the_target():
    x, y = _regression_data(n=96, seed=1)
    fastnn.manual_seed(1)
    bag = Bagging(_regressor, n=3, seed=0).fit(x, y, epochs=30, batch_size=16, progress=False)
    out = bag.predict(x)
    members = [m.predict(x) for m in bag.models]
    assert bag.task_ == "regression" and out.shape == (96, 1)
    np.testing.assert_allclose(out, np.mean(members, axis=0), rtol=1e-5)
    # far better than predicting the mean of y (the variance of y, about 7.5)
    assert bag.score(x, y) < 0.25 * np.var(y), (bag.score(x, y), np.var(y))
    with pytest.raises(RuntimeError, match="before fit"):
        Bagging(_regressor).score(x, y)


def test_predict_proba_of_one_output_column_is_the_sigmoid():
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 1))
    logits = model.predict(x)
    p = model.predict_proba(x)
    assert p.shape == (10, 1)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits.astype(np.float64))), rtol=1e-5, atol=1e-7)
    assert not np.allclose(p, 1.0)
    # already probabilities: returned as they are
    with_sigmoid = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    np.testing.assert_array_equal(with_sigmoid.predict_proba(x), with_sigmoid.predict(x))
    # a 1-D output (one logit per sample): the sigmoid of each, not a softmax across the samples
    flat = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    assert flat.predict(x).shape == flat.predict_proba(x).shape == (10,)
    np.testing.assert_allclose(flat.predict_proba(x), 1 / (1 + np.exp(-flat.predict(x).astype(np.float64))),
                               rtol=1e-5, atol=1e-7)
    # several columns: the softmax, as before
    np.testing.assert_allclose(nn.Sequential(nn.Linear(4, 3)).predict_proba(x).sum(axis=1), 1.0, rtol=1e-5)


def test_single_logit_binary_classifiers_need_task_classification():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((80, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32).reshape(-1, 1)
    fastnn.manual_seed(2)
    members = []
    for _ in range(2):
        m = nn.Sequential(nn.Linear(2, 1))
        m.compile(optimizer=optim.Adam(m.parameters(), lr=0.05), loss="bce_with_logits")
        m.fit(x, y, epochs=30, batch_size=16, progress=False)
        members.append(m)
    e = Ensemble(members, task="classification")
    p = e.predict(x)
    assert p.shape == (80, 1) and np.all((p > 0) & (p < 1))
    np.testing.assert_allclose(p, (members[0].predict_proba(x) + members[1].predict_proba(x)) / 2, rtol=1e-6)
    np.testing.assert_array_equal(e.predict_proba(x), p)
    acc = e.score(x, y.ravel().astype(np.int64))  # classes from p > 0.5
    assert acc == pytest.approx(metrics.accuracy(y.ravel(), p)) and acc > 0.9
    assert Ensemble(members).task == "auto" and Ensemble(members).predict(x).shape == (80, 1)
    assert Ensemble(members).score(x, y) == pytest.approx(metrics.mse(y, Ensemble(members).predict(x)), rel=1e-5)


def test_ensemble_task_argument_and_auto_decision():
    class Member:
        calls = 0

        def __init__(self, out):
            self.out = np.asarray(out, dtype=np.float64)

        def fit(self, x, y):
            return self

        def predict(self, x):
            Member.calls += 1
            return np.tile(self.out, (len(x), 1))

    with pytest.raises(ValueError, match="task must be one of"):
        Ensemble([Member([1.0])], task="ranking")
    with pytest.raises(ValueError, match="task must be one of"):
        Bagging(lambda: Member([1.0]), task="clf")
    mixed = Ensemble([Member([0.2, 0.8]), Member([0.5])])
    with pytest.raises(ValueError, match="members disagree.*model 0: classification, model 1: regression"):
        mixed.predict(np.zeros(3))
    # multi-output regression needs task="regression" ("auto" reads several columns as classes)
    two = Ensemble([Member([1.0, 2.0]), Member([3.0, 6.0])], task="regression")
    np.testing.assert_allclose(two.predict(np.zeros(2)), [[2.0, 4.0]] * 2)
    assert two.score(np.zeros(2), np.array([[2.0, 4.0]] * 2)) == 0.0
    # "auto" is decided once, then kept (one predict per member per call afterwards)
    e = Ensemble([Member([0.0, 1.0]), Member([1.0, 0.0])])
    Member.calls = 0
    e.predict(np.zeros(2))
    e.predict(np.zeros(2))
    assert e.task_ == "classification" and Member.calls == 4
    e.fit(np.zeros(2), np.zeros(2))
    assert e.task_ is None  # decided again after fit
    # integer regression outputs are averaged as floats, also with weights
    ints = Ensemble([Member([1.0]), Member([2.0])], weights=[1, 1])
    ints.models[0].out = ints.models[0].out.astype(np.int64)
    ints.models[1].out = ints.models[1].out.astype(np.int64)
    np.testing.assert_array_equal(ints.predict(np.zeros(1)), [[1.5]])


def test_ensemble_with_scikit_learn_members_uses_their_declared_kind():
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    x, y = _regression_data(n=40, seed=3)
    fastnn.manual_seed(3)
    fastnn_member = _regressor()
    fastnn_member.fit(x, y, epochs=5, batch_size=8, progress=False)
    linear = sklearn_linear.LinearRegression().fit(x, y.ravel())
    e = Ensemble([fastnn_member, linear])
    out = e.predict(x)
    assert e.task_ == "regression"
    assert out.shape == (40,)  # (N, 1) from fastnn and (N,) from scikit-learn: (N,)
    np.testing.assert_allclose(out, (fastnn_member.predict(x).ravel() + linear.predict(x)) / 2, rtol=1e-5)

    labels = (y.ravel() > 3).astype(np.int64)
    clf = [sklearn_linear.LogisticRegression().fit(x, labels), sklearn_linear.LogisticRegression(C=0.1).fit(x, labels)]
    c = Ensemble(clf)  # predict() gives labels (N,), yet they declare themselves classifiers
    p = c.predict(x)
    assert c.task_ == "classification" and p.shape == (40, 2)
    np.testing.assert_allclose(p, (clf[0].predict_proba(x) + clf[1].predict_proba(x)) / 2)
    assert c.score(x, labels) == metrics.accuracy(labels, p)
