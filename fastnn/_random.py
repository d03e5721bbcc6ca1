"""fastnn's global random state: one NumPy Generator behind parameter init, dropout and shuffling.

``fastnn.manual_seed(s)`` resets it, so a run (init, dropout masks, batch order) is reproducible.
Dropout draws one 63-bit seed per forward pass from it and hands that seed to the counter-based
kernel RNG, so the masks are also independent of the thread count.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed fastnn's global RNG (parameter init, dropout masks, fit's shuffling)."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    _generator = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """The global Generator (use it, don't keep it: manual_seed replaces it)."""
    return _generator


def next_seed() -> int:
    """A fresh seed in [0, 2**63) from the global RNG (for the kernels' counter-based RNG)."""
    return int(_generator.integers(0, 2**63 - 1, dtype=np.int64))
