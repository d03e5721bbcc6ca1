"""Inverted dropout in plain NumPy, and the counter-based RNG its mask comes from.

The mask is a pure function of (seed, flat C-order index), so it is reproducible for a seed and
independent of how the native kernel splits the work between threads. The definition (the C++
kernel in csrc/kernels/dropout.cpp computes the same bits):

    mix64(z):  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
               z = (z ^ (z >> 27)) * 0x94D049BB133111EB
               return z ^ (z >> 31)                 (all arithmetic mod 2**64: SplitMix64's finalizer)
    key      = mix64(seed)                          (seed an integer in [0, 2**64))
    bits(i)  = mix64(key + (i + 1) * 0x9E3779B97F4A7C15)   (the (i+1)-th SplitMix64 output from state key)
    u(i)     = bits(i) >> 11                        (53 uniform bits)
    t        = floor(p * 2**53)                     (exact: p is a double in [0, 1])
    mask(i)  = 1 if u(i) >= t else 0                (kept with probability 1 - t / 2**53 ~= 1 - p)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["dropout_mask", "dropout_forward", "dropout_backward"]

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB


def _mix64_int(z: int) -> int:
    """mix64 on a Python int (used for the key)."""
    z = ((z ^ (z >> 30)) * _MUL1) & _M64
    z = ((z ^ (z >> 27)) * _MUL2) & _M64
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """mix64 on a uint64 array (NumPy's uint64 array arithmetic wraps mod 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
    return z ^ (z >> np.uint64(31))


def check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}: {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= _M64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"p must be a real number, got {type(p).__name__}: {p!r}")
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
    return p


def keep_threshold(p: float) -> int:
    """t = floor(p * 2**53): an element is kept when its 53 random bits are >= t."""
    return int(math.floor(p * 2.0 ** 53))


def dropout_mask(shape, p, seed) -> np.ndarray:
    """The uint8 keep-mask (1 = kept) for an array of `shape`; see the module docstring."""
    p, seed = check_p(p), check_seed(seed)
    shape = tuple(int(s) for s in np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
    n = int(np.prod(shape, dtype=np.int64))
    key = np.uint64(_mix64_int(seed))
    counter = np.arange(1, n + 1, dtype=np.uint64)
    bits = _mix64(key + counter * np.uint64(_GOLDEN))
    keep = (bits >> np.uint64(11)) >= np.uint64(keep_threshold(p))
    return keep.astype(np.uint8).reshape(shape)


def _scale(p: float, dtype):
    # 1/(1-p) rounded to the array's dtype, as PyTorch scales; p = 1 drops everything.
    return np.asarray(0.0 if p == 1.0 else 1.0 / (1.0 - p), dtype=dtype)


def dropout_forward(x, p, seed, *, training=True):
    """Inverted dropout: y = x * mask / (1 - p), mask = dropout_mask(x.shape, p, seed).

    Returns (y, mask) with mask uint8 (1 = kept); p = 1 gives zeros. Not training: (x, None).
    Dropped elements are x * 0 (so NaN and inf inputs give NaN there, as in PyTorch), except
    p = 1 which returns exact zeros.
    """
    p, seed = check_p(p), check_seed(seed)
    if not training:
        return x, None
    mask = dropout_mask(x.shape, p, seed)
    if p == 1.0:
        return np.zeros_like(x), mask
    return (x * (mask * _scale(p, x.dtype))).astype(x.dtype), mask


def dropout_backward(dy, mask, p):
    """dx = dy * keep / (1 - p), keep = (mask != 0) (zeros when p = 1): a mask is a uint8 keep-flag
    per element, any non-zero byte meaning kept, as the kernels read it."""
    p = check_p(p)
    if p == 1.0:
        return np.zeros_like(dy)
    keep = (np.asarray(mask) != 0).astype(dy.dtype)
    return (dy * (keep * _scale(p, dy.dtype))).astype(dy.dtype)
