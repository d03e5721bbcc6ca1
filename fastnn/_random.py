"""fastnn's global random state: one NumPy Generator behind parameter init, dropout and shuffling.

``fastnn.manual_seed(s)`` resets it, so a run (init, dropout masks, batch order) is reproducible.
Dropout draws one 63-bit seed per forward pass from it and hands that seed to the counter-based
kernel RNG, so the masks are also independent of the thread count.
"""
from __future__ import annotations

import copy

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


def get_rng_state() -> dict:
    """A copy of the global RNG's state (torch.get_rng_state's role): give it to
    ``set_rng_state`` to replay what follows, e.g. to resume a run with dropout and fit's
    shuffling bit for bit from a checkpoint. A plain dict (the NumPy bit generator's state),
    picklable and JSON-friendly."""
    return copy.deepcopy(_generator.bit_generator.state)


def set_rng_state(state: dict) -> None:
    """Restore the global RNG to a state from ``get_rng_state``; ValueError naming what is wrong
    with anything else (the RNG is then left as it was)."""
    global _generator
    if not isinstance(state, dict) or "bit_generator" not in state:
        raise ValueError(f"set_rng_state expects a state from fastnn.get_rng_state(), got {type(state).__name__}: "
                         f"{state!r:.80}")
    kind = getattr(np.random, str(state["bit_generator"]), None)
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"set_rng_state: unknown bit generator {state['bit_generator']!r}")
    bit_generator = kind()
    try:
        bit_generator.state = copy.deepcopy(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"set_rng_state: not a valid {state['bit_generator']} state: {exc}") from None
    _generator = np.random.Generator(bit_generator)
