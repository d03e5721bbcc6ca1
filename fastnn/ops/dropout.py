"""Inverted dropout with a counter-based mask (see fastnn.reference.dropout for the RNG's exact
definition): the mask depends only on (seed, flat index), never on the thread count, and
``fastnn.reference.dropout_mask(shape, p, seed)`` reproduces it bit for bit.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _core
from ..reference.dropout import check_p, check_seed
from ._dispatch import backend, check_float, contiguous, empty, get_array_module

__all__ = ["dropout_mask", "dropout_forward", "dropout_backward"]


def _shape(shape) -> tuple:
    """shape as a tuple of non-negative ints (an int means a 1-D shape); errors name the value."""
    dims = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {type(shape).__name__}: {shape!r}") from None
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}")
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must have non-negative dimensions, got {shape!r}")
    return tuple(int(d) for d in dims)


def dropout_mask(shape, p, seed):
    """The uint8 keep-mask (1 = kept, probability ~ 1 - p) for an array of `shape`."""
    p, seed = check_p(p), check_seed(seed)
    mask = empty(_shape(shape), np.uint8)
    _core.dropout_mask(mask, p, seed)
    return mask


def dropout_forward(x, p, seed, *, training=True):
    """Inverted dropout: y = x * mask / (1 - p).

    Args:
        x: any shape, float32 or float64.
        p: probability of dropping an element, in [0, 1] (p = 1 gives zeros).
        seed: integer in [0, 2**64); the same seed gives the same mask.
        training: when False, returns (x, None) untouched.
    Returns:
        (y, mask) with mask uint8 of x's shape (1 = kept), to pass to dropout_backward.
    """
    p, seed = check_p(p), check_seed(seed)
    if not training:
        return x, None
    check_float(x, "x")
    x = contiguous(x)
    xp = get_array_module(x)
    y = empty(x.shape, x.dtype, xp)
    mask = empty(x.shape, np.uint8, xp)
    backend(x).dropout_forward(x, y, mask, p, seed)
    return y, mask


def dropout_backward(dy, mask, p):
    """dx = dy * mask / (1 - p) (zeros when p = 1)."""
    p = check_p(p)
    check_float(dy, "dy")
    xp = get_array_module(dy)
    if not isinstance(mask, xp.ndarray) or mask.dtype != np.uint8:
        raise TypeError(f"mask must be the uint8 array dropout_forward returned, got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if mask.shape != dy.shape:
        raise ValueError(f"mask must have the shape of dy {dy.shape}, got {mask.shape}")
    dy, mask = contiguous(dy), contiguous(mask)
    dx = empty(dy.shape, dy.dtype, xp)
    backend(dy, mask).dropout_backward(dy, mask, dx, p)
    return dx
