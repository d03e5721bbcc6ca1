"""Hypothesis strategies for array shapes and non-contiguous layouts."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

# Sizes that break tiling assumptions: 0, 1, primes, around SIMD widths, and a large one.
EDGE_SIZES = [0, 1, 2, 3, 5, 7, 8, 13, 15, 16, 17, 31, 33, 64, 97]


def dims(max_size: int = 97):
    return st.one_of(st.sampled_from([s for s in EDGE_SIZES if s <= max_size]),
                     st.integers(0, max_size))


def shapes(min_dims: int = 1, max_dims: int = 4, max_size: int = 97, max_elements: int = 200_000):
    return st.lists(dims(max_size), min_size=min_dims, max_size=max_dims).map(tuple).filter(
        lambda s: int(np.prod(s, dtype=np.int64)) <= max_elements)


LAYOUTS = ["contiguous", "transposed", "sliced", "negative"]


def make_layout(values: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to `values` but stored with another layout. The memory around it holds
    NaN, so a kernel that ignores strides reads NaN and fails loudly."""
    if layout == "contiguous" or values.ndim == 0:
        return values.copy()
    if layout == "transposed":
        base = np.ascontiguousarray(values.T)
        return base.T
    if layout == "sliced":
        big = np.full(values.shape[:-1] + (values.shape[-1] * 2 + 1,), np.nan, dtype=values.dtype)
        view = big[..., 1::2]
        view[...] = values
        return view
    if layout == "negative":
        base = np.full(values.shape, np.nan, dtype=values.dtype)
        view = base[..., ::-1]
        view[...] = values
        return view
    raise ValueError(layout)
