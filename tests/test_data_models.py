"""Cross-validation and bagging with real fastnn models (issue 6's acceptance tests).

The figures (per-fold scores, member and ensemble accuracies) are in the assertion messages;
the cross-validation's are also printed (run with -s to see).
"""
import itertools

import numpy as np
import pytest

import fastnn
from fastnn import metrics, nn
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
