"""Datasets of in-memory arrays and a batch loader with optional background prefetch."""
from __future__ import annotations

import numbers
import queue
import threading
from typing import Optional

import numpy as np

from .transforms import Transform


class TensorDataset:
    """Arrays sharing their first (sample) axis; ``ds[idx]`` returns a tuple of rows.

    ``idx`` may be an int, a slice or an index array, so a loader fetches a whole batch with
    one fancy-indexing gather per array.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        n = None
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray) and not type(a).__module__.startswith("cupy"):
                raise TypeError(f"TensorDataset array {i} must be a numpy.ndarray, got "
                                f"{type(a).__name__}")
            if a.ndim == 0:
                raise ValueError(f"TensorDataset array {i} is 0-d; it needs a sample axis")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ValueError(f"TensorDataset arrays differ in length: array 0 has {n} "
                                 f"samples, array {i} has {a.shape[0]}")
        self.arrays = tuple(arrays)

    def __len__(self):
        return self.arrays[0].shape[0]

    def __getitem__(self, idx):
        return tuple(a[idx] for a in self.arrays)

    def __repr__(self):
        return f"TensorDataset({', '.join(str(a.shape) for a in self.arrays)})"


_END = object()


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        data: a dataset (``len(ds)`` and ``ds[index_array] -> tuple of arrays``, e.g.
            :class:`TensorDataset`; a list returned is read as the tuple) or a tuple of arrays
            ``(x, y)`` / ``(x,)`` (not torch's list of samples ``[(x0, y0), ...]``: TypeError).
        batch_size: samples per batch, an int >= 1 (torch's ``None``, one sample at a time
            without a batch axis, is not offered).
        shuffle: visit the samples in a new random order every epoch.
        drop_last: drop the last batch if it is smaller than ``batch_size`` (True or False, as
            torch checks).
        seed: makes the orders reproducible: epoch ``e`` uses the permutation drawn from
            ``(seed, e)``, so every epoch reshuffles and rerunning gives the same sequence.
            Without a seed a random one is drawn once per loader.
        transform: called on every batch as ``transform(x, y) -> (x, y)`` (or
            ``transform(x)`` for a one-array dataset), e.g. a :class:`Compose` of augmentations.
            With a ``seed``, fastnn transforms get a generator derived from ``(seed, epoch,
            batch index)``, so augmentation too is reproducible and independent of
            ``prefetch`` and of epochs stopped early. Without one, each transform draws from
            its own generator (its ``seed=``), batch after batch in order.
        prefetch: number of batches a background thread prepares ahead (0: none). NumPy
            releases the GIL in the gathers and most transforms, so this overlaps batch
            preparation with the training step. The batches are identical either way.

    Each ``iter(loader)`` is one epoch (the epoch counter advances); ``set_epoch(e)`` sets it.
    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, data, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: Optional[int] = None, transform=None, prefetch: int = 0):
        if isinstance(data, (tuple, list)):
            sample = next((a for a in data if isinstance(a, (tuple, list))), None)
            if sample is not None:
                # torch's DataLoader takes a list of samples [(x0, y0), ...]; here a tuple or
                # list holds the arrays (x, y), so that a batch is one gather per array.
                raise TypeError(f"data must be a dataset or numpy arrays (x, y) / (x,), got a "
                                f"{type(data).__name__} holding a {type(sample).__name__} (a list of "
                                "samples, as torch's DataLoader takes?): stack them into arrays, "
                                "DataLoader((np.stack(xs), np.stack(ys)))")
            data = TensorDataset(*data)
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise TypeError(f"data must be a dataset (len and indexing) or a tuple of arrays, "
                            f"got {type(data).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got batch_size={batch_size!r}")
        if not isinstance(drop_last, (bool, np.bool_)):
            raise ValueError(f"drop_last must be True or False, got drop_last={drop_last!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"prefetch must be an int >= 0, got prefetch={prefetch!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"seed must be None or an int >= 0, got seed={seed!r}")
        self.dataset = data
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seeded = seed is not None
        self.seed = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else int(seed)
        self.transform = transform
        self.prefetch = int(prefetch)
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` be epoch ``epoch`` (its shuffle order and augmentation)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got epoch={epoch!r}")
        self.epoch = int(epoch)

    def batch_indices(self, epoch: int):
        """The list of index arrays epoch ``epoch`` visits, in order."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _make_batch(self, epoch: int, b: int, idx):
        batch = self.dataset[idx]
        if isinstance(batch, list):  # a dataset returning [x, y] means the tuple (x, y)
            batch = tuple(batch)
        elif not isinstance(batch, tuple):
            batch = (batch,)
        t = self.transform
        if t is None:
            return batch
        kw = {}
        if isinstance(t, Transform) and self.seeded:
            # Independent stream per (seed, epoch, batch): the 1 keeps it apart from the
            # shuffle stream drawn from (seed, epoch).
            kw["rng"] = np.random.default_rng([self.seed, epoch, b, 1])
        if len(batch) == 1:
            return (t(batch[0], **kw),)
        if len(batch) == 2:
            out = t(batch[0], batch[1], **kw)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError("transform(x, y) must return a pair (x, y), got "
                                f"{type(out).__name__}")
            return out
        raise ValueError(f"transform needs batches of (x,) or (x, y), got {len(batch)} arrays")

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        batches = self.batch_indices(epoch)
        if self.prefetch == 0:
            for b, idx in enumerate(batches):
                yield self._make_batch(epoch, b, idx)
            return
        yield from self._prefetching(epoch, batches)

    def _prefetching(self, epoch, batches):
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def put(item) -> bool:
            # Blocking put that gives up when the consumer has gone away.
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for b, idx in enumerate(batches):
                    if stop.is_set() or not put(("ok", self._make_batch(epoch, b, idx))):
                        return
                put(("end", None))
            except BaseException as e:  # handed to the consumer, re-raised there
                put(("err", e))

        thread = threading.Thread(target=work, name="fastnn-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                kind, item = q.get()
                if kind == "ok":
                    yield item
                elif kind == "end":
                    return
                else:
                    raise item
        finally:
            # Early exit (break, exception, garbage collection): stop the worker and wait for
            # it, so no thread outlives the epoch.
            stop.set()
            thread.join()

    def __repr__(self):
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, "
                f"prefetch={self.prefetch})")
