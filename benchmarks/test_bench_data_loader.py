"""DataLoader epoch with augmentation plus a stand-in training step: prefetch=0 vs prefetch=2.

The step is a float32 matmul (NumPy releases the GIL in it), so with prefetch the background
thread prepares the next batch while the step runs. Both variants must see identical batches.
"""
import numpy as np
import pytest

from fastnn.data import Compose, DataLoader, RandomCrop, RandomHorizontalFlip, RandomRotation

N, BATCH = 1024, 128


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.random((N, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, N)
    w = rng.standard_normal((3 * 32 * 32, 1024)).astype(np.float32)
    return x, y, w


def _aug():
    return Compose([RandomCrop(32, padding=4, seed=0), RandomHorizontalFlip(seed=1),
                    RandomRotation(10, seed=2)])


def _epoch(loader, w):
    total = 0.0
    for xb, _ in loader:
        h = xb.reshape(len(xb), -1) @ w          # the "training step"
        total += float(h[:, 0].sum())
    return total


@pytest.mark.parametrize("prefetch", [0, 2])
def test_loader_epoch(benchmark, setup, prefetch):
    x, y, w = setup
    benchmark.group = f"DataLoader epoch {N} x 3x32x32, crop+flip+rotate, matmul step"
    loader = DataLoader((x, y), batch_size=BATCH, shuffle=True, seed=0, transform=_aug(),
                        prefetch=prefetch)

    def run():
        loader.set_epoch(0)
        return _epoch(loader, w)

    total = benchmark(run)
    reference = DataLoader((x, y), batch_size=BATCH, shuffle=True, seed=0, transform=_aug())
    assert total == _epoch(reference, w)
