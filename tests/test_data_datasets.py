"""Dataset loaders on real local data (Debian's Fashion-MNIST, scikit-learn's digits) and the
IDX / CIFAR parsers' validation."""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn.data import (DatasetNotFoundError, DatasetSplits, load_digits, load_fashion_mnist,
                         load_mnist)
from fastnn.data import datasets
from fastnn.data._download import verify_file
from fastnn.data._idx import CIFAR_RECORD, parse_cifar_batch, parse_idx
from data_helpers import idx_bytes, idx_spec, make_idx_dataset

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_user_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")
    monkeypatch.setattr("urllib.request.urlopen", refuse)


@pytest.mark.skipif(not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_found_in_debian_location_without_network(no_user_dirs, no_network):
    data = load_fashion_mnist()              # no arguments, no network
    assert isinstance(data, DatasetSplits)
    x_train, y_train, x_test, y_test = data
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.flags.c_contiguous
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # Fashion-MNIST is balanced: 6000 / 1000 of each of the 10 classes.
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 1000))
    # Debian recompressed the files (their .gz MD5s may differ from the published ones): each
    # passes verification, by the published .gz MD5 or the published content MD5.
    for rf in datasets.DATASETS["fashion_mnist"].files.values():
        verify_file(DEBIAN_FASHION / rf.name, rf)


def test_dataset_not_found_message_names_places_and_remedy(tmp_path, no_user_dirs, monkeypatch):
    spec = datasets.DATASETS["fashion_mnist"]
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist",
                        datasets.DatasetSpec(title=spec.title, subdir=spec.subdir,
                                             files=spec.files, system_dirs=(str(tmp_path / "sys"),),
                                             how_to_get=spec.how_to_get))
    with pytest.raises(DatasetNotFoundError) as err:
        load_fashion_mnist(path=tmp_path / "given", download=False)
    msg = str(err.value)
    for place in (tmp_path / "given", tmp_path / "cache" / "fastnn" / "fashion-mnist",
                  tmp_path / "sys"):
        assert str(place) in msg
    assert "download=False" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_local_file_with_wrong_content_is_skipped_and_reported(tmp_path, no_user_dirs):
    d = tmp_path / "d"
    d.mkdir()
    for rf in datasets.DATASETS["mnist"].files.values():
        (d / rf.name[:-3]).write_bytes(idx_bytes(np.zeros((2, 3), np.uint8)))
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        load_mnist(path=d, download=False)


def test_a_broken_gz_does_not_hide_a_good_uncompressed_copy_beside_it(tmp_path, no_user_dirs, monkeypatch):
    """"IDX files may be gzipped or not", "first complete verified copy wins": the search used
    to stop at the first name that existed, so a truncated .gz made the valid raw file beside
    it unusable."""
    arrays, raw, gz = make_idx_dataset(seed=3)
    spec = idx_spec(gz, raw, [], subdir="mnist")
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    d = tmp_path / "d"
    d.mkdir()
    for role, rf in spec.files.items():
        (d / rf.name).write_bytes(gz[role])
    broken = spec.files["train_images"].name
    (d / broken).write_bytes(gz["train_images"][:40])          # truncated download
    (d / broken[:-3]).write_bytes(raw["train_images"])       # the good uncompressed file
    data = load_mnist(path=d, download=False)
    np.testing.assert_array_equal(data.x_train[:, 0], arrays["train_images"].astype(np.float32) / 255)
    # when no copy works, the error names each one and why
    (d / broken[:-3]).write_bytes(raw["train_images"][:-1])
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist(path=d, download=False)
    msg = str(err.value)
    assert f"{broken}: corrupt or truncated gzip data" in msg and f"{broken[:-3]}: checksum mismatch" in msg


def test_digits_split_is_fixed_stratified_and_scaled():
    pytest.importorskip("sklearn")
    a = load_digits()
    b = load_digits()
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)          # the split is fixed
    full = np.bincount(np.concatenate([y_train, y_test]))
    frac = np.bincount(y_test, minlength=10) / full
    assert np.all(np.abs(frac - 0.2) < 0.02)         # stratified: ~20% of each class
    c = load_digits(seed=1)
    assert not np.array_equal(c.y_test, a.y_test)


def test_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"fastnn\[digits\]"):
        load_digits()


# --- parsers -----------------------------------------------------------------------------------

def test_parse_idx_round_trip_and_dtypes():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(a)), a)
    i32 = np.array([1, -2, 70000], dtype=">i4")
    data = bytes([0, 0, 0x0C, 1]) + np.array([3], ">u4").tobytes() + i32.tobytes()
    out = parse_idx(data)
    assert out.dtype == np.dtype("int32") and out.dtype.isnative
    np.testing.assert_array_equal(out, [1, -2, 70000])


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:-1], "has 27 bytes"),                      # truncated data
    (lambda b: b + b"\0", "has 29 bytes"),                   # trailing garbage
    (lambda b: b"\x01" + b[1:], "bad IDX magic"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
    (lambda b: b[:3] + b"\x00" + b[4:], "0 dimensions"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b[:2], "too short"),
    (lambda b: b"\x1f\x8b" + b[2:], "bad IDX magic"),        # still gzipped
])
def test_parse_idx_rejects_malformed(mutate, message):
    good = idx_bytes(np.zeros((3, 2, 2), np.uint8))          # 16 + 12 = 28 bytes
    with pytest.raises(ValueError, match=message):
        parse_idx(mutate(good), "f")


def test_idx_header_dims_must_match_byte_count():
    # Header claims 4 images but the data holds 3: refused, not silently reshaped.
    body = np.zeros((3, 2, 2), np.uint8).tobytes()
    data = bytes([0, 0, 8, 3]) + np.array([4, 2, 2], ">u4").tobytes() + body
    with pytest.raises(ValueError, match=r"shape \(4, 2, 2\)"):
        parse_idx(data)


def test_parse_cifar_batch_layout_and_validation():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 9, 4], np.uint8)
    data = np.concatenate([labels[:, None], imgs.reshape(3, -1)], axis=1).tobytes()
    x, y = parse_cifar_batch(data)
    np.testing.assert_array_equal(x, imgs)      # R plane, then G, then B: already CHW
    assert y.dtype == np.int64 and list(y) == [0, 9, 4]
    with pytest.raises(ValueError, match="whole number"):
        parse_cifar_batch(data[:-1])
    bad = bytearray(data)
    bad[CIFAR_RECORD] = 10
    with pytest.raises(ValueError, match="label 10 out of range"):
        parse_cifar_batch(bytes(bad))


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.default_cache_dir() == tmp_path / "fastnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "fastnn"


def test_locate_and_load_says_where_the_data_came_from(tmp_path, monkeypatch):
    from fastnn.data import DatasetNotFoundError, locate_and_load

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        with pytest.raises(DatasetNotFoundError):
            locate_and_load("fashion-mnist", download=False)
        return
    splits, where = locate_and_load("fashion-mnist", download=False)
    assert where == "/usr/share/datasets/fashion-mnist"
    assert splits.x_train.shape == (60000, 1, 28, 28)
    with pytest.raises(ValueError, match="'imagenet'"):
        locate_and_load("imagenet")
