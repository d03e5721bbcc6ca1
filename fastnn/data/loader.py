"""Datasets of in-memory arrays and a batch loader (torch.utils.data.DataLoader's API) with
optional background prefetch."""
from __future__ import annotations

import collections.abc
import itertools
import multiprocessing
import numbers
import queue
import threading
import warnings
from typing import Optional

import numpy as np

from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, Sampler, SequentialSampler
from .transforms import Transform


class TensorDataset(Dataset):
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


class _ShuffleSampler(Sampler):
    """The loader's default ``shuffle=True`` sampler: iterating it gives the permutation of
    the loader's next epoch (its ``seed`` and ``epoch``, or a draw from its ``generator``)."""

    def __init__(self, loader):
        self._loader = loader

    def __iter__(self):
        return iter(self._loader._order(self._loader.epoch).tolist())

    def __len__(self):
        return len(self._loader.dataset)


class _InfiniteConstantSampler(Sampler):
    """The placeholder sampler of an IterableDataset (as torch): None, forever."""

    def __iter__(self):
        while True:
            yield None


def _is_array(a) -> bool:
    return ((isinstance(a, np.ndarray) or type(a).__module__.startswith("cupy"))
            and getattr(a, "ndim", 0) >= 1)


def _shapes_text(arrays) -> str:
    shapes = [tuple(a.shape) for a in arrays]
    if all(sh == shapes[0] for sh in shapes):
        return f"{len(shapes)} arrays, all of shape {shapes[0]}"
    listed = ", ".join(str(sh) for sh in shapes[:4]) + (", ..." if len(shapes) > 4 else "")
    return f"{len(shapes)} arrays of shapes {listed}"


def _list_holds_arrays(items: list, batch_size, batch_sampler, collate_fn) -> bool:
    """Whether a list whose items are all arrays is fastnn's ``[x, y, ...]`` (True) or torch's
    list of samples (False).

    torch reads any list as samples; fastnn has also promised ``[x, y]``. A list is read as the
    one of the two that can work: the arrays need one common first dimension, samples batched by
    :func:`default_collate` need one common shape (any shapes do with a ``collate_fn`` or
    ``batch_size=None``). When both can, guessing would misread something (a list of N images
    of one shape is also N arrays of C rows), so it is a TypeError saying how to be explicit.
    """
    shapes = [tuple(a.shape) for a in items]
    as_arrays = all(sh[0] == shapes[0][0] for sh in shapes)
    as_samples = (all(sh == shapes[0] for sh in shapes) or collate_fn is not None
                  or (batch_size is None and batch_sampler is None))
    if as_arrays and as_samples:
        samples_how = ("np.stack(the_list) (or a Dataset)" if all(sh == shapes[0] for sh in shapes)
                       else "a Dataset whose __getitem__(i) returns the_list[i]")
        raise TypeError(
            f"DataLoader cannot tell what a list of {_shapes_text(items)} is: {len(items)} samples "
            f"(torch's reading of a list) or the arrays (x, y, ...) of a dataset of {shapes[0][0]} "
            f"samples (fastnn's [x, y]). Pass {samples_how} for the samples, or a tuple (x, y, ...) "
            "for the arrays")
    if not (as_arrays or as_samples):
        raise ValueError(
            f"DataLoader got a list of {_shapes_text(items)}: neither the arrays (x, y, ...) of one "
            "dataset (their first dimensions differ) nor samples default_collate can stack (their "
            "shapes differ); give the arrays one length, or the samples a collate_fn")
    return as_arrays


_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class DataLoader:
    """Iterate over a dataset in batches: ``torch.utils.data.DataLoader``'s arguments, plus
    fastnn's seeded shuffling, batch ``transform`` and background ``prefetch``.

    Which path is taken:

    * **Array path** (one fancy-index gather per batch, the fast one): ``dataset`` is a
      tuple of arrays ``(x, y)`` / ``(x,)`` sharing their first axis (always read as the
      arrays, not as torch's sequence of samples), a list of arrays that can only be such
      arrays (see below), a :class:`TensorDataset`, a single array ``x``, or any object with
      ``len`` and ``ds[index_array] -> tuple of arrays`` (a list returned is read as the
      tuple) that is not a :class:`Dataset` subclass or a Python sequence -- and no
      ``sampler``, ``batch_sampler`` or ``collate_fn`` is given and ``batch_size`` is not
      None. A batch is ``ds[idx]``: a tuple ``(xb, yb)`` / ``(xb,)`` for a tuple of arrays, a
      plain array ``xb`` for a single array (as torch's batches of ``DataLoader(x)``).
    * **Sample path** (torch's): a :class:`Dataset` subclass (int-only ``__getitem__`` is
      enough), a Python sequence of samples (e.g. a list of ``(x, y)`` pairs, ``range``), or
      any map-style dataset once ``sampler``, ``batch_sampler``, ``collate_fn`` or
      ``batch_size=None`` is given. A batch is ``collate_fn([ds[i] for i in indices])``
      (``ds.__getitems__(indices)`` when defined), ``collate_fn`` defaulting to
      :func:`default_collate` (so a tuple sample ``(x, y)`` gives the list ``[xb, yb]``, as
      torch). With ``batch_size=None`` each sample is ``collate_fn(ds[i])``
      (:func:`default_convert` by default), without a batch axis.
    * **Iterable path**: an :class:`IterableDataset` is iterated and every ``batch_size``
      samples are collated (or each sample converted, ``batch_size=None``).

    A **list** whose items are all arrays is read as whichever of the two it can be: fastnn's
    arrays ``[x, y, ...]`` need one common first dimension; torch's list of samples needs one
    common shape for :func:`default_collate` to stack (any shapes with a ``collate_fn`` or
    ``batch_size=None``). So ``[x, y]`` with ``x (N, C, H, W)`` and ``y (N,)`` is the arrays,
    and a list of variable-length sequences the samples. When both readings work -- a list of
    N images of one shape is also N arrays of C rows -- it is a TypeError naming the shapes:
    pass ``np.stack(the_list)`` (or a Dataset) for the samples, a tuple for the arrays. When
    neither does, a ValueError.

    Args:
        dataset: the dataset (see above).
        batch_size: samples per batch, an int >= 1, or None for no automatic batching.
            Default 1, as torch's (fastnn's loader defaulted to 32 before it took torch's
            arguments: pass batch_size= for batches of arrays).
        shuffle: visit the samples in a new random order every epoch (map-style only).
        sampler: an iterable of indices (with ``len`` for ``len(loader)``); not with
            ``shuffle``.
        batch_sampler: an iterable of index lists; not with ``batch_size``, ``shuffle``,
            ``sampler`` or ``drop_last``.
        num_workers: 0 loads in the main process; > 0 makes the batches in **one**
            background thread (never processes) with ``prefetch_factor * num_workers``
            batches ready ahead; the batches and their order are the same either way.
        collate_fn: merges a list of samples into a batch (sample and iterable paths).
        pin_memory, pin_memory_device: accepted, no effect (NumPy batches; a warning says so).
        drop_last: drop the last batch if it is smaller than ``batch_size`` (True or False).
        timeout: seconds to wait for a batch from the background thread (RuntimeError on
            expiry); > 0 needs ``num_workers > 0`` or ``prefetch > 0``.
        worker_init_fn: called as ``worker_init_fn(0)`` in the background thread at the start
            of every epoch when ``num_workers > 0``.
        multiprocessing_context: checked as torch (only with ``num_workers > 0``), unused.
        generator: a ``numpy.random.Generator`` drawing the ``shuffle`` permutations when no
            ``seed`` is given.
        prefetch_factor: batches ahead per worker (``num_workers > 0`` only; default 2).
        persistent_workers: accepted with ``num_workers > 0`` (the thread is per epoch).
        in_order: accepted (batches always come in order).
        seed: (fastnn, keyword-only) makes the orders reproducible: epoch ``e`` uses the
            permutation drawn from ``(seed, e)``, so every epoch reshuffles and rerunning
            gives the same sequence. Without a seed or generator a random seed is drawn once
            per loader.
        transform: (fastnn, keyword-only) called on every batch of arrays as
            ``transform(x, y) -> (x, y)`` (or ``transform(x)`` for a one-array batch), e.g. a
            :class:`Compose` of augmentations. With a ``seed``, fastnn transforms get a
            generator derived from ``(seed, epoch, batch index)``, so augmentation too is
            reproducible and independent of ``prefetch`` and of epochs stopped early.
            Without one, each transform draws from its own generator, batch after batch.
        prefetch: (fastnn, keyword-only) number of batches a background thread prepares
            ahead (0: none; overrides ``prefetch_factor * num_workers``). NumPy releases the
            GIL in the gathers and most transforms, so this overlaps batch preparation with
            the training step. The batches are identical either way.

    Each ``iter(loader)`` is one epoch (the epoch counter advances); ``set_epoch(e)`` sets it.
    ``len(loader)`` is the number of batches per epoch (``len(sampler)`` based, or
    ``len(dataset) / batch_size`` for an IterableDataset: TypeError if it has no ``len``).
    As torch, ``batch_size``, ``batch_sampler``, ``sampler``, ``drop_last``, ``dataset`` and
    ``persistent_workers`` cannot be set after construction.
    """

    __initialized = False

    def __init__(self, dataset, batch_size: Optional[int] = 1,
                 shuffle: Optional[bool] = None, sampler=None, batch_sampler=None,
                 num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *,
                 prefetch_factor: Optional[int] = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: Optional[int] = None, transform=None, prefetch: int = 0):
        # -- the dataset and its kind
        if isinstance(dataset, IterableDataset):
            kind = "iterable"
        elif (isinstance(dataset, (tuple, list)) and dataset
              and all(_is_array(a) for a in dataset)
              and (isinstance(dataset, tuple)
                   or _list_holds_arrays(dataset, batch_size, batch_sampler, collate_fn))):
            dataset = TensorDataset(*dataset)
            kind = "arrays"
        elif isinstance(dataset, TensorDataset):
            kind = "arrays"
        elif isinstance(dataset, (Dataset, collections.abc.Sequence)):
            kind = "samples"
        elif hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
            # an array (NumPy, CuPy, a memmap, an HDF5 dataset: it has a shape) is sliced a batch at
            # a time; any other indexable object is torch's map-style dataset (a class that does not
            # subclass Dataset, a torch Dataset): dataset[i] per sample, then collated
            kind = "arrays" if hasattr(dataset, "shape") else "samples"
        else:
            raise TypeError(f"dataset must be a Dataset, a sequence of samples, an object with "
                            f"len and indexing, or a tuple of arrays, got "
                            f"{type(dataset).__name__}")
        # -- torch's argument checks, in torch's order
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
                or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             f"disable multiprocessing (got num_workers={num_workers!r})")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got timeout={timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             f"prefetch_factor to None (got prefetch_factor={prefetch_factor!r})")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and (
                isinstance(prefetch_factor, bool)
                or not isinstance(prefetch_factor, numbers.Integral) or prefetch_factor < 0):
            raise ValueError("prefetch_factor option should be non-negative, got "
                             f"prefetch_factor={prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if kind == "iterable":
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle \
                    or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually "
                                 "exclusive with drop_last")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got batch_size={batch_size!r}")
        if not isinstance(drop_last, (bool, np.bool_)):
            raise ValueError(f"drop_last must be True or False, got drop_last={drop_last!r}")
        self._check_context(multiprocessing_context, num_workers)
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError("generator must be a numpy.random.Generator or None, got "
                            f"{type(generator).__name__}")
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn),
                         ("transform", transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"prefetch must be an int >= 0, got prefetch={prefetch!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"seed must be None or an int >= 0, got seed={seed!r}")
        if pin_memory:
            warnings.warn("pin_memory=True has no effect in fastnn: batches are NumPy arrays "
                          "and no pinned memory is used", UserWarning, stacklevel=2)
        if kind == "arrays" and (sampler is not None or batch_sampler is not None
                                 or collate_fn is not None or batch_size is None):
            kind = "samples"
        # -- state
        self._kind = kind
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = bool(drop_last)
        self.num_workers = int(num_workers)
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self.generator = generator
        self.seeded = seed is not None
        self.seed = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else int(seed)
        self.transform = transform
        self.prefetch = int(prefetch)
        self.epoch = 0
        self._default_order = sampler is None and batch_sampler is None and kind != "iterable"
        if sampler is None:
            if kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = _ShuffleSampler(self)
            else:
                sampler = SequentialSampler(dataset)
        if self.batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True

    @staticmethod
    def _check_context(context, num_workers):
        if context is None:
            return
        if num_workers == 0:
            raise ValueError("multiprocessing_context can only be used with multi-process "
                             "loading (num_workers > 0), but got num_workers=0")
        if isinstance(context, str):
            methods = multiprocessing.get_all_start_methods()
            if context not in methods:
                raise ValueError(f"multiprocessing_context option should specify a valid start "
                                 f"method in {methods!r}, but got "
                                 f"multiprocessing_context={context!r}")
        elif not isinstance(context, multiprocessing.context.BaseContext):
            raise TypeError("multiprocessing_context option should be a valid context object or "
                            "a string specifying the start method, but got "
                            f"multiprocessing_context={context}")

    def __setattr__(self, attr, val):
        if self.__initialized and attr in _FROZEN:
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{self.__class__.__name__} is initialized")
        super().__setattr__(attr, val)

    def __len__(self):
        if self._kind == "iterable":
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self._kind == "arrays":
            n = len(self.dataset)
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` be epoch ``epoch`` (its shuffle order and augmentation)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got epoch={epoch!r}")
        self.epoch = int(epoch)

    def _order(self, epoch: int):
        """The sample order of epoch ``epoch`` with the default samplers."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.generator is not None and not self.seeded:
            return self.generator.permutation(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def batch_indices(self, epoch: int):
        """The list of index arrays epoch ``epoch`` visits, in order (default samplers; with a
        ``generator`` and no ``seed`` each call draws a new permutation)."""
        n = len(self.dataset)
        order = self._order(epoch)
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _transform_kwargs(self, epoch: int, b: int) -> dict:
        if isinstance(self.transform, Transform) and self.seeded:
            # Independent stream per (seed, epoch, batch): the 1 keeps it apart from the
            # shuffle stream drawn from (seed, epoch).
            return {"rng": np.random.default_rng([self.seed, epoch, b, 1])}
        return {}

    def _make_batch(self, epoch: int, b: int, idx):
        batch = self.dataset[idx]
        if isinstance(batch, list):  # a dataset returning [x, y] means the tuple (x, y)
            batch = tuple(batch)
        # anything else (a single array: DataLoader(x)) is the batch itself, as torch's
        # default_collate gives for array samples
        return self._transform_collated(batch, epoch, b)

    def _transform_collated(self, batch, epoch: int, b: int):
        """``transform`` on a collated batch: an array x, or a list/tuple (x,) / (x, y) (the
        container type is kept)."""
        t = self.transform
        if t is None:
            return batch
        kw = self._transform_kwargs(epoch, b)
        if isinstance(batch, np.ndarray) or type(batch).__module__.startswith("cupy"):
            return t(batch, **kw)
        if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields") \
                and len(batch) in (1, 2):
            if len(batch) == 1:
                out = (t(batch[0], **kw),)
            else:
                out = t(batch[0], batch[1], **kw)
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise TypeError("transform(x, y) must return a pair (x, y), got "
                                    f"{type(out).__name__}")
            return list(out) if isinstance(batch, list) else tuple(out)
        what = (f"a {type(batch).__name__} of {len(batch)} items"
                if isinstance(batch, (list, tuple)) else f"a {type(batch).__name__}")
        raise ValueError(f"transform needs batches x, (x,) or (x, y) of arrays, got {what}")

    def _fetch(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(indices)
        return [self.dataset[i] for i in indices]

    def _produce(self, epoch: int):
        """The batches of epoch ``epoch``, made one at a time (in the caller's thread)."""
        if self._kind == "arrays":
            for b, idx in enumerate(self.batch_indices(epoch)):
                yield self._make_batch(epoch, b, idx)
            return
        collate = self.collate_fn
        if self._kind == "iterable":
            it = iter(self.dataset)
            if self.batch_size is None:
                for b, sample in enumerate(it):
                    yield self._transform_collated(collate(sample), epoch, b)
                return
            for b in itertools.count():
                chunk = list(itertools.islice(it, self.batch_size))
                if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                    return
                yield self._transform_collated(collate(chunk), epoch, b)
            return
        if self.batch_sampler is not None:
            if self._default_order:
                index_batches = (idx.tolist() for idx in self.batch_indices(epoch))
            else:
                index_batches = iter(self.batch_sampler)
            for b, indices in enumerate(index_batches):
                yield self._transform_collated(collate(self._fetch(indices)), epoch, b)
            return
        indices = self._order(epoch).tolist() if self._default_order else self.sampler
        for b, i in enumerate(indices):
            yield self._transform_collated(collate(self.dataset[i]), epoch, b)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        depth = self.prefetch if self.prefetch > 0 else (
            max(1, self.prefetch_factor * self.num_workers) if self.num_workers > 0 else 0)
        if depth == 0:
            if self.timeout:
                raise AssertionError(f"timeout={self.timeout!r} needs loading in a background "
                                     "thread (num_workers > 0 or prefetch > 0), as torch's "
                                     "single-process loader requires timeout == 0")
            yield from self._produce(epoch)
            return
        yield from self._prefetching(epoch, depth)

    def _prefetching(self, epoch, depth):
        q: queue.Queue = queue.Queue(maxsize=depth)
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
                if self.num_workers > 0 and self.worker_init_fn is not None:
                    self.worker_init_fn(0)
                for batch in self._produce(epoch):
                    if stop.is_set() or not put(("ok", batch)):
                        return
                put(("end", None))
            except BaseException as e:  # handed to the consumer, re-raised there
                put(("err", e))

        thread = threading.Thread(target=work, name="fastnn-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    kind, item = q.get(timeout=self.timeout if self.timeout > 0 else None)
                except queue.Empty:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") \
                        from None
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
