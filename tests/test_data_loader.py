"""TensorDataset and DataLoader: coverage, order, reproducibility, prefetch equivalence."""
import threading

import numpy as np
import pytest

from fastnn.data import (Compose, DataLoader, Mixup, RandomCrop, RandomHorizontalFlip,
                         TensorDataset)


def data(n=23):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 1, 1, 2)
    y = np.arange(n, dtype=np.int64)
    return x, y


def collect(loader):
    return [tuple(np.copy(a) for a in b) for b in loader]


def test_tensor_dataset_indexing_and_length_check():
    x, y = data(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5
    bx, by = ds[np.array([4, 1])]
    np.testing.assert_array_equal(by, [4, 1])
    np.testing.assert_array_equal(bx, x[[4, 1]])
    with pytest.raises(ValueError, match="array 0 has 5 samples, array 1 has 4"):
        TensorDataset(x, y[:4])
    with pytest.raises(TypeError, match="must be a numpy.ndarray, got list"):
        TensorDataset([1, 2])


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("prefetch", [0, 2])
def test_every_sample_once_per_epoch(shuffle, prefetch):
    x, y = data(23)
    loader = DataLoader((x, y), batch_size=5, shuffle=shuffle, seed=1, prefetch=prefetch)
    assert len(loader) == 5
    for _ in range(3):
        batches = collect(loader)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        seen = np.concatenate([b[1] for b in batches])
        np.testing.assert_array_equal(np.sort(seen), y)
        for bx, by in batches:                       # x rows stay with their labels
            np.testing.assert_array_equal(bx[:, 0, 0, 0], 2 * by)
        if not shuffle:
            np.testing.assert_array_equal(seen, y)


def test_drop_last():
    x, y = data(23)
    loader = DataLoader((x, y), batch_size=5, shuffle=True, drop_last=True, seed=0)
    assert len(loader) == 4
    batches = collect(loader)
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5]
    assert len(np.unique(np.concatenate([b[1] for b in batches]))) == 20
    assert len(DataLoader((x, y), batch_size=30, drop_last=True)) == 0
    assert collect(DataLoader((x, y), batch_size=30, drop_last=True)) == []


def test_seeded_order_is_reproducible_and_reshuffled_each_epoch():
    x, y = data(40)
    a = DataLoader((x, y), batch_size=8, shuffle=True, seed=7)
    b = DataLoader((x, y), batch_size=8, shuffle=True, seed=7)
    epochs_a = [np.concatenate([by for _, by in a]) for _ in range(3)]
    epochs_b = [np.concatenate([by for _, by in b]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])     # a new order every epoch
    c = DataLoader((x, y), batch_size=8, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([by for _, by in c]), epochs_a[0])
    # set_epoch replays an epoch.
    a.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate([by for _, by in a]), epochs_a[1])


def make_aug(num_classes=23):
    return Compose([RandomCrop(2, padding=1, seed=123), RandomHorizontalFlip(0.5, seed=9),
                    Mixup(0.4, num_classes, seed=5)])


def test_prefetch_gives_the_same_batches_as_no_prefetch():
    x = np.random.default_rng(0).random((23, 1, 2, 2)).astype(np.float32)
    y = np.arange(23)
    plain = DataLoader((x, y), batch_size=4, shuffle=True, seed=3, transform=make_aug())
    pre = DataLoader((x, y), batch_size=4, shuffle=True, seed=3, transform=make_aug(), prefetch=3)
    for _ in range(2):
        bp, bq = collect(plain), collect(pre)
        assert len(bp) == len(bq) == 6
        for (xa, ya), (xb, yb) in zip(bp, bq):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    assert bp[0][1].shape == (4, 23)                    # Mixup produced soft labels


def test_augmentation_independent_of_early_stop_with_prefetch():
    x = np.random.default_rng(0).random((40, 1, 3, 3)).astype(np.float32)
    y = np.arange(40)
    a = DataLoader((x, y), batch_size=4, shuffle=True, seed=3, transform=make_aug(40), prefetch=4)
    b = DataLoader((x, y), batch_size=4, shuffle=True, seed=3, transform=make_aug(40))
    for i, _ in enumerate(a):                 # stop epoch 0 early; the worker ran ahead
        if i == 1:
            break
    collect(b)
    for (xa, ya), (xb, yb) in zip(collect(a), collect(b)):   # epoch 1 of both
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_early_break_stops_the_prefetch_thread():
    # Only the threads this iterator starts count: a thread left over from an earlier test (or
    # anything else in the process) may still be finishing while this one runs.
    x, y = data(200)
    loader = DataLoader((x, y), batch_size=2, prefetch=2)
    earlier = set(threading.enumerate())
    it = iter(loader)
    next(it)
    started = [t for t in threading.enumerate() if t not in earlier]
    assert [t.name for t in started] == ["fastnn-prefetch"]
    it.close()
    assert not started[0].is_alive()
    assert not any(t.name == "fastnn-prefetch" for t in threading.enumerate() if t not in earlier)


def test_worker_errors_reach_the_consumer():
    def broken(x, y):
        raise RuntimeError("boom in transform")
    x, y = data(10)
    with pytest.raises(RuntimeError, match="boom in transform"):
        collect(DataLoader((x, y), batch_size=3, transform=broken, prefetch=2))


def test_plain_callable_transform_and_single_array_dataset():
    x, y = data(6)
    out = collect(DataLoader((x, y), batch_size=6, transform=lambda a, b: (a * 2, b + 1)))
    np.testing.assert_array_equal(out[0][1], y + 1)
    single = collect(DataLoader((x,), batch_size=4, transform=lambda a: a + 1))
    assert len(single) == 2 and len(single[0]) == 1
    np.testing.assert_array_equal(single[0][0], x[:4] + 1)


class ListDataset:
    """A user dataset indexed by index arrays; its ``shape`` marks it as an array-like, which
    the loader slices a batch at a time (as a memmap or an HDF5 dataset)."""

    def __init__(self, n):
        self.n = n
        self.shape = (n,)

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        idx = np.asarray(idx)
        return idx.astype(np.float32)[:, None], idx


class SampleDataset:
    """A torch-style map-style dataset that does not subclass Dataset: one sample per index."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i].reshape(-1) - self.x[i].mean(), self.y[i]


def test_custom_dataset():
    batches = collect(DataLoader(ListDataset(7), batch_size=3, shuffle=True, seed=0))
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(7))


def test_a_dataset_without_the_base_class_is_indexed_per_sample_as_torch():
    """It was indexed with whole index arrays: reshape(-1) flattened the batch into one row and
    the mean was the batch's."""
    x = np.arange(40, dtype=np.float32).reshape(10, 2, 2)
    y = np.arange(10)
    batches = list(DataLoader(SampleDataset(x, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 4), (4, 4), (2, 4)]
    np.testing.assert_array_equal(batches[0][0][0], [-1.5, -0.5, 0.5, 1.5])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader

    for ours, theirs in zip(batches, TorchLoader(SampleDataset(x, y), batch_size=4)):
        np.testing.assert_array_equal(ours[0], theirs[0].numpy())
        np.testing.assert_array_equal(ours[1], theirs[1].numpy())


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size=0"),
    ({"batch_size": 2.5}, "batch_size=2.5"),
    ({"prefetch": -1}, "prefetch=-1"),
    ({"seed": -3}, "seed=-3"),
    ({"transform": 3}, "transform must be callable"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DataLoader(data(4), **kwargs)


def test_bad_data():
    with pytest.raises(TypeError, match="got int"):
        DataLoader(5)


def test_unseeded_loader_leaves_augmentation_to_the_transforms_own_seed():
    x = np.random.default_rng(0).random((12, 1, 3, 3)).astype(np.float32)
    y = np.arange(12)
    runs = []
    for prefetch in (0, 2):
        loader = DataLoader((x, y), batch_size=4, transform=RandomCrop(2, padding=1, seed=11),
                            prefetch=prefetch)
        runs.append(collect(loader))
    for (xa, _), (xb, _) in zip(*runs):
        np.testing.assert_array_equal(xa, xb)
    # and it is the transform's own sequence, batch after batch
    t = RandomCrop(2, padding=1, seed=11)
    for i, (xa, _) in enumerate(runs[0]):
        np.testing.assert_array_equal(xa, t(x[4 * i:4 * i + 4]))


def test_docs_give_the_loaders_real_defaults():
    """docs/data.md said batch_size=32 and that torch's batch_size=None was not offered; the
    loader defaults to 1 (torch's) and supports None."""
    import inspect
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text(encoding="utf-8")
    documented = re.search(r"`DataLoader\(data, ([^`]*)\)`", text)
    assert documented, "docs/data.md lost the DataLoader signature"
    params = inspect.signature(DataLoader).parameters
    for item in re.split(r",\s*", documented.group(1)):
        name, default = item.split("=")
        assert repr(params[name].default) == default, (name, default, params[name].default)
    assert "not offered" not in text[text.index("## Loading"):text.index("## Transforms")]
    assert [a.tolist() for a in DataLoader(np.arange(3), batch_size=None)] == [0, 1, 2]


@pytest.mark.parametrize("batch, dtype", [([np.float32(1), 2.5], np.float32), ([np.int64(1), 2.5], np.float32),
                                          ([np.int32(1), 3], np.int64), ([np.float16(1), 2.0], np.float32),
                                          ([np.float32(1), 2], np.float32), ([np.float32(1), np.float64(2)], np.float64),
                                          ([np.int32(1), np.int32(2)], np.int32)])
def test_default_collate_of_numpy_scalars_mixed_with_python_numbers_is_torchs(batch, dtype):
    """torch's as_tensor: a Python float is float32, an int int64, and ints do not widen a float;
    np.asarray made [np.float32(1), 2.5] float64."""
    from fastnn.data import default_collate

    out = default_collate(batch)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.array(batch, dtype=np.float64).astype(dtype))
    torch = pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    assert str(torch_collate(batch).dtype) == f"torch.{np.dtype(dtype).name}"
