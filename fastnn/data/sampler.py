"""Index samplers of ``torch.utils.data`` (PyTorch 2.13 names, arguments and errors).

Random samplers draw from NumPy: ``generator`` is a ``numpy.random.Generator``, an int seed
(a Generator made once from it, so successive epochs differ but a rerun repeats them) or
None (fresh entropy every epoch, as torch draws a new seed per ``iter``). The orders are
NumPy's, so they differ from torch's for the same seed; their distributions are the same.
"""
from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterable, Sized

import numpy as np

from .dataset import as_generator

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler"]


class Sampler:
    """Base class: subclasses implement ``__iter__`` over indices (or lists of indices) and
    usually ``__len__``."""

    def __iter__(self):
        raise NotImplementedError


def _generator_or_none(generator):
    """Keep None (fresh entropy per iteration); turn an int seed into one Generator."""
    return None if generator is None else as_generator(generator)


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Sized):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices into ``data_source``.

    Args:
        data_source: a sized dataset.
        replacement: draw ``num_samples`` indices with replacement (uniformly) if True;
            otherwise whole permutations, concatenated and cut to ``num_samples``.
        num_samples: number of indices per epoch (default ``len(data_source)``).
        generator: ``numpy.random.Generator``, int seed or None (see the module docstring).
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples=None,
                 generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _generator_or_none(generator)
        if not isinstance(self.replacement, bool):
            raise TypeError("replacement should be a boolean value, but got "
                            f"replacement={self.replacement}")
        ns = self.num_samples
        if isinstance(ns, bool) or not isinstance(ns, int) or ns <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={ns}")

    @property
    def num_samples(self) -> int:
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = self.generator if self.generator is not None else np.random.default_rng()
        if self.replacement:
            yield from rng.integers(0, n, size=self.num_samples).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from rng.permutation(n).tolist()
            yield from rng.permutation(n).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one every epoch)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = _generator_or_none(generator)

    def __iter__(self):
        rng = self.generator if self.generator is not None else np.random.default_rng()
        for i in rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """Indices ``0..len(weights)-1`` drawn with probabilities proportional to ``weights``.

    Args:
        weights: a 1-d sequence of non-negative weights (need not sum to 1).
        num_samples: number of indices to draw.
        replacement: with replacement if True; without, each index at most once (then
            ``num_samples`` may not exceed the number of non-zero weights).
        generator: ``numpy.random.Generator``, int seed or None.

    Errors as torch: ValueError for a bad ``num_samples``/``replacement`` or non-1-d
    weights; RuntimeError (torch's ``multinomial``, raised when iterating) for negative,
    non-finite or all-zero weights and for ``num_samples > len(weights)`` without
    replacement (zero-weight indices come last, as torch).
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if (not isinstance(num_samples, int) or isinstance(num_samples, bool)
                or num_samples <= 0):
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = _generator_or_none(generator)

    def _check(self):
        # torch.multinomial's checks, made when sampling as torch does.
        w = self.weights
        if w.size == 0:
            raise RuntimeError("cannot sample from an empty weights sequence")
        if not np.all(np.isfinite(w)):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if np.any(w < 0):
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if not np.any(w > 0):
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not self.replacement and self.num_samples > w.size:
            raise RuntimeError(f"cannot sample n_sample > prob_dist.size(-1) samples without "
                               f"replacement (num_samples={self.num_samples}, {w.size} weights)")

    def __iter__(self):
        self._check()
        rng = self.generator if self.generator is not None else np.random.default_rng()
        p = self.weights / self.weights.sum()
        if self.replacement:
            out = rng.choice(len(p), size=self.num_samples, replace=True, p=p)
        else:
            # Sequential draws without replacement (as multinomial): Efraimidis-Spirakis keys
            # log(u) / w, largest first; once the non-zero weights are used up, the zero-weight
            # indices follow in a random order (as torch.multinomial does).
            u = rng.random(len(p))
            positive = p > 0
            with np.errstate(divide="ignore"):
                keys = np.where(positive, np.log(u) / np.where(positive, p, 1.0), u)
            out = np.lexsort((-keys, ~positive))[:self.num_samples]
        yield from out.tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (any iterable of indices); the last,
    shorter list is dropped if ``drop_last``."""

    def __init__(self, sampler: Sampler | Iterable, batch_size: int, drop_last: bool):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError("drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        it = iter(self.sampler)
        if self.drop_last:
            for batch in zip(*([it] * self.batch_size)):
                yield [*batch]
        else:
            batch = [*itertools.islice(it, self.batch_size)]
            while batch:
                yield batch
                batch = [*itertools.islice(it, self.batch_size)]

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size


class DistributedSampler(Sampler):
    """The share of replica ``rank`` out of ``num_replicas``: every ``num_replicas``-th index,
    starting at ``rank``, of the (shuffled) index list, padded by repeating its start to a
    multiple of ``num_replicas`` or, with ``drop_last``, cut to one.

    Args:
        dataset: a sized dataset.
        num_replicas, rank: the number of processes and this one's rank. fastnn has no
            process group, so both must be given (None raises ValueError; torch would ask
            ``torch.distributed``).
        shuffle: permute the indices with the seed ``seed + epoch`` (NumPy's permutation,
            so the order differs from torch's; the same on every replica, as needed).
        seed: the base seed, identical on all replicas.
        drop_last: drop the tail instead of padding.

    Call :meth:`set_epoch` at the start of each epoch so the shuffle changes.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            raise ValueError("DistributedSampler needs num_replicas and rank: fastnn has no "
                             "process group to ask (torch.distributed); got "
                             f"num_replicas={num_replicas!r}, rank={rank!r}")
        for name, v in (("num_replicas", num_replicas), ("rank", rank)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {name}={v!r}")
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be >= 1, got num_replicas={num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        indices = indices[self.rank:self.total_size:self.num_replicas]
        return iter(indices)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next shuffle (all replicas must pass the same value)."""
        self.epoch = epoch
