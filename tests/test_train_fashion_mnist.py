"""End-to-end training on Fashion-MNIST (real data, marked slow: `pytest -m "not slow"` skips it).

The data comes from fastnn.data.load_fashion_mnist without network access: Debian's
dataset-fashion-mnist package (which .ci/run installs), $FASTNN_DATA or ~/.cache/fastnn.
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.data import DatasetNotFoundError, load_fashion_mnist


@pytest.fixture(scope="module")
def fashion():
    try:
        x_train, y_train, x_test, y_test = load_fashion_mnist(download=False, verbose=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"Fashion-MNIST is not on this machine (apt-get install dataset-fashion-mnist): {e}")
    # already scaled to [0, 1]; standardise with the training set's statistics
    mean, std = x_train.mean(), x_train.std()
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return x_train, y_train, x_test, y_test


@pytest.mark.slow
def test_mlp_reaches_85_percent_in_two_epochs(fashion):
    x_train, y_train, x_test, y_test = fashion
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    fastnn.fit(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(), train=(x_train, y_train),
               epochs=2, batch_size=64, metrics=[], progress=True, seed=0)
    acc = fastnn.evaluate(model, (x_test, y_test), metrics=["accuracy"])["accuracy"]
    print(f"MLP test accuracy after 2 epochs: {acc:.4f}")
    assert acc >= 0.85, f"test accuracy {acc:.4f}"


@pytest.mark.slow
def test_cnn_reaches_89_percent_in_two_epochs(fashion):
    x_train, y_train, x_test, y_test = fashion
    fastnn.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10),
    )
    fastnn.fit(model, optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(), train=(x_train, y_train),
               epochs=2, batch_size=32, metrics=[], progress=True, seed=0)
    acc = fastnn.evaluate(model, (x_test, y_test), metrics=["accuracy"])["accuracy"]
    print(f"CNN test accuracy after 2 epochs: {acc:.4f}")
    assert acc >= 0.89, f"test accuracy {acc:.4f}"
