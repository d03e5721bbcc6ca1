"""End-to-end training on Fashion-MNIST (real data; marked slow: run with ``-m slow``).

The IDX files are read directly from /usr/share/datasets/fashion-mnist (or $FASHION_MNIST_DIR)
with the tiny reader below (fastnn.data is developed separately). These need the native ops to
run in reasonable time.
"""
import gzip
import os
import pathlib
import struct

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim

DATA_DIR = pathlib.Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def _read_idx(path: pathlib.Path) -> np.ndarray:
    """An IDX file (optionally gzipped): magic (0, 0, dtype code, ndim), big-endian dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4]!r})")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(stem: str) -> pathlib.Path:
    for name in (stem + ".gz", stem):
        if (DATA_DIR / name).exists():
            return DATA_DIR / name
    pytest.skip(f"Fashion-MNIST file {stem}[.gz] not found in {DATA_DIR} (set FASHION_MNIST_DIR)")


@pytest.fixture(scope="module")
def fashion():
    x_train = _read_idx(_find("train-images-idx3-ubyte"))
    y_train = _read_idx(_find("train-labels-idx1-ubyte")).astype(np.int64)
    x_test = _read_idx(_find("t10k-images-idx3-ubyte"))
    y_test = _read_idx(_find("t10k-labels-idx1-ubyte")).astype(np.int64)
    # scale to [0, 1], then standardise with the training set's statistics
    x_train = x_train.astype(np.float32) / 255
    x_test = x_test.astype(np.float32) / 255
    mean, std = x_train.mean(), x_train.std()
    x_train = (x_train - mean) / std
    x_test = (x_test - mean) / std
    return x_train[:, None], y_train, x_test[:, None], y_test


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
