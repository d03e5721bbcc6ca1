"""Cross-validation and bagging with real fastnn models (issue 6's acceptance tests).

The figures (per-fold scores, member and ensemble accuracies) are printed: run with -s to see.
"""
import numpy as np
import pytest

import fastnn
from fastnn import metrics, nn
from fastnn.data import Bagging, DatasetNotFoundError, cross_validate, load_digits, load_fashion_mnist


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


@pytest.mark.slow
def test_bagged_mlps_on_fashion_mnist_beat_their_median_member():
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
    members = [metrics.accuracy(y_test, m.predict(x_test)) for m in bag.models]
    ensemble = bag.score(x_test, y_test)
    print(f"member accuracies {np.round(members, 4).tolist()}, median {np.median(members):.4f}, "
          f"bagged ensemble {ensemble:.4f}")
    assert len(bag.models) == 5
    assert ensemble >= np.median(members)
