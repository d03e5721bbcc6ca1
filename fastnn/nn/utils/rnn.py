"""torch.nn.utils.rnn's packed-sequence helpers on NumPy (CuPy) arrays: ``PackedSequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``, ``pack_sequence``,
``unpad_sequence``, ``unpack_sequence`` and ``invert_permutation``, with torch 2.13's semantics.

``batch_sizes`` and the lengths ``pad_packed_sequence`` returns are int64 NumPy arrays on the host
(torch keeps them on the CPU); ``data``, ``sorted_indices`` and ``unsorted_indices`` live on the
device of the data. fastnn's RNN / LSTM / GRU take a ``PackedSequence`` (and return one), as torch's.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable

import numpy as np

from fastnn import _device

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence",
           "pad_sequence", "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PADDING_SIDES = ("left", "right")


def _xp(a, what: str):
    try:
        return _device.xp_of(a)
    except TypeError:
        raise TypeError(f"{what} must be a numpy.ndarray or cupy.ndarray, got {type(a).__name__}") from None


def _host_lengths(lengths, what: str = "lengths") -> np.ndarray:
    """lengths (a list, tuple or array of integers) as a 1-D int64 NumPy array."""
    if _device.device_of(lengths) == _device.CUDA:
        lengths = _device.to_host(lengths)
    try:
        arr = np.asarray(lengths)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a sequence of integers. Received: {what}={lengths!r}") from None
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one length per batch element), got shape {arr.shape}. "
                         f"Received: {what}={lengths!r}")
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{what} must hold integers, got dtype {arr.dtype}. Received: {what}={lengths!r}")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"{what} must hold whole numbers. Received: {what}={lengths!r}")
    return arr.astype(np.int64)


def invert_permutation(permutation):
    """The inverse of a 1-D permutation array (None for None), int64 on its device."""
    if permutation is None:
        return None
    xp = _xp(permutation, "permutation")
    output = xp.empty(permutation.shape, dtype=np.int64)
    output[permutation] = xp.arange(permutation.size, dtype=np.int64)
    return output


_PackedSequenceBase = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """The data and ``batch_sizes`` of a packed batch of variable-length sequences (torch's
    namedtuple: ``data``, ``batch_sizes``, ``sorted_indices``, ``unsorted_indices``). Made by
    ``pack_padded_sequence`` / ``pack_sequence``, not by hand. ``PackedSequence((data,
    batch_sizes))`` and a missing ``unsorted_indices`` (the inverse of ``sorted_indices``) work
    as in torch."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError("PackedSequence(data) expects data to be a (data, batch_sizes) pair "
                                f"when batch_sizes is not given. Received: {type(data).__name__}")
            data, batch_sizes = data
        if _device.device_of(batch_sizes) == _device.CUDA:
            raise ValueError("batch_sizes should always be on the host (a NumPy array). Instances of "
                             "PackedSequence should be made by pack_sequence / pack_padded_sequence.")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with(self, data):
        if data is self.data:
            return self
        device = _device.device_of(data)

        def move(t):
            return None if t is None else _device.move(t, device)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def to(self, target):
        """A copy with ``data`` on a device ("cpu", "cuda") or of a dtype; self when nothing changes."""
        if isinstance(target, str) and _device.is_device_name(target):
            return self._with(_device.move(self.data, _device.parse(target)))
        dtype = np.dtype(target)
        return self if self.data.dtype == dtype else self._with(self.data.astype(dtype))

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def half(self):
        return self.to(np.float16)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def short(self):
        return self.to(np.int16)

    def char(self):
        return self.to(np.int8)

    def byte(self):
        return self.to(np.uint8)

    @property
    def is_cuda(self) -> bool:
        return _device.device_of(self.data) == _device.CUDA


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True) -> PackedSequence:
    """Pack a padded batch ``T x B x *`` (``B x T x *`` with batch_first) of sequences of the given
    lengths. With enforce_sorted the lengths must be decreasing; otherwise the batch is sorted
    (stably, longest first) and the permutation kept in sorted_indices / unsorted_indices."""
    xp = _xp(input, "input")
    if input.ndim < 2:
        raise ValueError(f"input must have at least 2 dimensions (T x B x * or B x T x *), got shape {input.shape}")
    lengths = _host_lengths(lengths)
    if batch_first:
        input = xp.moveaxis(input, 0, 1)
    T, B = input.shape[0], input.shape[1]
    if B == 0 or T == 0:
        raise ValueError(f"Cannot pack empty tensors: input of shape {input.shape} (as T x B x *)")
    if lengths.shape[0] != B:
        raise ValueError(f"Expected len(lengths) to be equal to batch_size, but got {lengths.shape[0]} "
                         f"(batch_size={B}). Received: lengths={lengths.tolist()}")
    if lengths.min() <= 0:
        raise ValueError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                         f"that is <= 0. Received: lengths={lengths.tolist()}")
    if lengths.max() > T:
        raise ValueError(f"Every length must be at most the padded length T={T}, but got {int(lengths.max())}. "
                         f"Received: lengths={lengths.tolist()}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                             "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                             f"sidestep this requirement. Received: lengths={lengths.tolist()}")
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = xp.asarray(order.astype(np.int64))
        input = input[:, sorted_indices]
    max_len = int(lengths[0])
    steps = np.arange(max_len)
    batch_sizes = (lengths[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)
    mask = xp.asarray(steps[:, None] < lengths[None, :])
    data = input[:max_len][mask]
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of ``pack_padded_sequence``: (padded ``T x B x *`` or ``B x T x *``, lengths as
    an int64 host array), in the batch's original order. ``total_length`` pads T further."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"sequence must be a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    xp = _xp(data, "sequence.data")
    batch_sizes = _host_lengths(sequence.batch_sizes, "batch_sizes")
    if batch_sizes.size == 0:
        raise ValueError("sequence.batch_sizes is empty: nothing to pad")
    max_seq_length = batch_sizes.shape[0]
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, (int, np.integer)):
            raise TypeError(f"total_length must be an int or None. Received: total_length={total_length!r}")
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {max_seq_length}")
        max_seq_length = int(total_length)
    T, B = batch_sizes.shape[0], int(batch_sizes[0])
    lengths = (batch_sizes[None, :] > np.arange(B)[:, None]).sum(axis=1).astype(np.int64)
    padded = xp.full((max_seq_length, B) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    mask = xp.asarray(np.arange(T)[:, None] < lengths[None, :])
    padded[:T][mask] = data
    if batch_first:
        padded = xp.ascontiguousarray(xp.moveaxis(padded, 0, 1))
    unsorted_indices = sequence.unsorted_indices
    if unsorted_indices is not None:
        padded = padded[unsorted_indices] if batch_first else padded[:, unsorted_indices]
        lengths = lengths[_device.to_host(unsorted_indices)]
    return padded, lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack variable-length sequences (each ``L x *``, same trailing dims) into ``T x B x *``
    (``B x T x *`` with batch_first), padded on the right or left with padding_value. The dtype is
    that of the first sequence."""
    if padding_side not in _PADDING_SIDES:
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side!r}.")
    if not isinstance(sequences, Iterable) or isinstance(sequences, (str, bytes)):
        raise TypeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: "
                        f"{type(sequences).__name__}")
    sequences = tuple(sequences)
    if not sequences:
        raise ValueError("pad_sequence received an empty list of sequences")
    xp = _xp(sequences[0], "sequences[0]")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if _xp(s, f"sequences[{i}]") is not xp:
            raise TypeError(f"all sequences must be on one device: sequences[0] is {_device.describe(first)}, "
                            f"sequences[{i}] is {_device.describe(s)}")
        if s.ndim < 1:
            raise ValueError(f"each sequence must have at least 1 dimension (L x *); sequences[{i}] has shape {s.shape}")
        if s.shape[1:] != first.shape[1:]:
            raise ValueError(f"all sequences must have the trailing dimensions of sequences[0], {first.shape[1:]}; "
                             f"sequences[{i}] has shape {s.shape}")
    T = max(s.shape[0] for s in sequences)
    out = xp.full((len(sequences), T) + tuple(first.shape[1:]), padding_value, dtype=first.dtype)
    for i, s in enumerate(sequences):
        L = s.shape[0]
        if padding_side == "right":
            out[i, :L] = s
        else:
            out[i, T - L:] = s
    if not batch_first:
        out = xp.ascontiguousarray(xp.moveaxis(out, 0, 1))
    return out


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Split a padded batch back into a list of sequences (copies) of the given lengths. Unlike
    torch, the input is never transposed in place."""
    xp = _xp(padded_sequences, "padded_sequences")
    if padded_sequences.ndim < 2:
        raise ValueError(f"padded_sequences must have at least 2 dimensions, got shape {padded_sequences.shape}")
    lengths = _host_lengths(lengths)
    if not batch_first:
        padded_sequences = xp.moveaxis(padded_sequences, 0, 1)
    if lengths.shape[0] != padded_sequences.shape[0]:
        raise ValueError(f"lengths has {lengths.shape[0]} entries but the batch has {padded_sequences.shape[0]} "
                         f"sequences. Received: lengths={lengths.tolist()}")
    return [padded_sequences[b, :max(int(n), 0)].copy() for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True) -> PackedSequence:
    """``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)``."""
    if not isinstance(sequences, Iterable) or isinstance(sequences, (str, bytes)):
        raise TypeError(f"pack_sequence: Expected iterable for input sequences, but got arg of type: "
                        f"{type(sequences).__name__}")
    sequences = tuple(sequences)
    padded = pad_sequence(sequences)
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences (in their original order) a PackedSequence holds."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
