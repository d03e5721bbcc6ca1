"""``default_collate`` / ``default_convert`` of ``torch.utils.data`` with NumPy arrays for
tensors, and ``get_worker_info``.

The rules are torch 2.13's: arrays of samples are stacked on a new first axis (``np.stack``);
Python floats become float64, ints int64 (a batch of only bools stays bool, an int batch
holding a float becomes float32 as ``torch.tensor`` infers), NumPy scalars keep their dtype;
``str``/``bytes`` stay as given (a field of tuple samples: a tuple); a Mapping becomes a dict of collated values, a namedtuple the
same namedtuple, and any other sequence (tuples included, as torch) a list of collated
fields. Arrays of strings or objects raise TypeError, as torch. CuPy samples are stacked on
the device (torch stacks CUDA tensors on theirs).
"""
from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from .. import _device

__all__ = ["default_collate", "default_convert", "get_worker_info"]

_STR_OBJ = re.compile(r"[SaUO]")
_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def get_worker_info():
    """None: fastnn loads in the main process (or a background thread), never in worker
    processes, so a dataset's ``__iter__`` must give the whole stream."""
    return None


def _is_numpy_type(t) -> bool:
    return t.__module__ == "numpy" and t.__name__ not in ("str_", "string_", "bytes_")


def default_convert(data):
    """Leave ``data`` as it is, except NumPy values become arrays (a NumPy scalar a 0-d array;
    arrays of strings or objects are left as they are) inside Mappings, namedtuples and
    sequences, and a tuple becomes a list (as torch). The collate function of
    ``DataLoader(batch_size=None)``."""
    t = type(data)
    if isinstance(data, np.ndarray):
        return data
    if _is_numpy_type(t) and isinstance(data, np.generic):
        return np.asarray(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({k: default_convert(data[k]) for k in data})
                return clone
            return t({k: default_convert(data[k]) for k in data})
        except TypeError:
            return {k: default_convert(data[k]) for k in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return t(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return t([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _collate_arrays(batch, xp=np):
    elem = batch[0]
    if _STR_OBJ.search(elem.dtype.str) is not None:
        raise TypeError(_ERR.format(elem.dtype))
    shapes = [tuple(b.shape) if hasattr(b, "shape") else np.shape(b) for b in batch]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise RuntimeError(f"stack expects each array to be equal size, but got "
                               f"{list(shapes[0])} at entry 0 and {list(s)} at entry {i}")
    if xp is not np and not all(_device.device_of(b) == _device.CUDA for b in batch):
        raise TypeError("default_collate: a batch mixes CuPy and other arrays; put every sample on one device")
    return xp.stack(batch, axis=0)


def _collate_ints(batch):
    # torch.tensor(batch): all bools -> bool, any float -> float32 (the default dtype), else
    # int64.
    if all(isinstance(b, (bool, np.bool_)) for b in batch):
        return np.array(batch, dtype=np.bool_)
    if any(isinstance(b, float) for b in batch):
        return np.array(batch, dtype=np.float32)
    try:
        return np.array(batch, dtype=np.int64)
    except OverflowError as e:
        raise RuntimeError(f"Overflow when collating ints into int64: {e}") from None


def _scalar_batch_dtype(batch):
    """The dtype of a batch of NumPy scalars, mixed with Python numbers as torch's as_tensor
    infers it: a Python float counts as float32 and an int as int64 (torch's defaults), and a
    float dtype is not widened by ints (float32 with int64 stays float32); NumPy's own
    promotion when all are NumPy scalars of one kind (None: let np.asarray decide)."""
    if all(isinstance(v, np.generic) for v in batch):
        return None
    dtypes = [np.dtype(np.float32) if isinstance(v, float) else np.dtype(np.int64)
              if isinstance(v, int) and not isinstance(v, bool) else np.asarray(v).dtype for v in batch]
    floats = [d for d in dtypes if d.kind in "fc"]
    return np.result_type(*floats) if floats else np.result_type(*dtypes)


def default_collate(batch):
    """Merge a list of samples into a batch with a new first axis (see the module docstring).

    Examples (arrays for torch's tensors)::

        default_collate([0, 1, 2])                  # array([0, 1, 2])  (int64)
        default_collate([(0, 1.0), (2, 3.0)])       # [array([0, 2]), array([1., 3.])]
        default_collate([{"a": np.zeros(2)}] * 3)   # {"a": array of shape (3, 2)}
        default_collate(["a", "b"])                 # ['a', 'b']
    """
    elem = batch[0]
    t = type(elem)
    if isinstance(elem, np.ndarray):
        return _collate_arrays(batch)
    if _device.device_of(elem) == _device.CUDA:  # CuPy samples: stacked on the device
        return _collate_arrays(batch, _device.xp_of(elem))
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return np.asarray(batch, dtype=_scalar_batch_dtype(batch))
    if isinstance(elem, float):
        return np.array(batch, dtype=np.float64)
    if isinstance(elem, int):
        return _collate_ints(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({k: default_collate([d[k] for d in batch]) for k in elem})
                return clone
            return t({k: default_collate([d[k] for d in batch]) for k in elem})
        except TypeError:
            return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return t(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))  # tuples: str fields come back as tuples, as torch
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone[i] = default_collate(s)
                return clone
            return t([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    raise TypeError(_ERR.format(t))
