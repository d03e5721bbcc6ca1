"""fastnn: a deep-learning library you can read end to end, with native kernels that are fast.

Layers of the package (data flows down only):

- ``fastnn.ops``: stateless functional kernels, one function per op, dispatching on the array
  type (NumPy -> the C++ extension ``fastnn._core``; CuPy -> ``fastnn.cuda``).
- ``fastnn.reference``: the same ops in plain NumPy, naive and obviously right; the truth the
  tests compare against and the baseline the benchmarks show.
"""
from ._config import (
    __version__,
    cache_stats,
    empty_cache,
    get_gemm_amx,
    get_isa,
    get_num_threads,
    set_gemm_amx,
    set_isa,
    set_cache_limit,
    set_num_threads,
    show_config,
)
from . import cuda, data, ops, reference

# The Python API (issue 5): layers, optimizers, training, save/load.
from ._random import get_rng_state, manual_seed, set_rng_state
from . import func, hooks, metrics, nn, optim
from .serialization import ModelFileError, load, save
from .training import (
    Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint, evaluate, fit, predict,
)

__all__ = [
    "__version__",
    "cache_stats",
    "cuda",
    "data",
    "empty_cache",
    "get_gemm_amx",
    "get_isa",
    "get_num_threads",
    "ops",
    "reference",
    "set_cache_limit",
    "set_gemm_amx",
    "set_isa",
    "set_num_threads",
    "show_config",
    # Python API
    "Callback", "EarlyStopping", "History", "LearningRateScheduler", "ModelCheckpoint", "ModelFileError",
    "evaluate", "fit", "func", "get_rng_state", "hooks", "load", "manual_seed", "metrics", "nn", "optim", "predict", "save",
    "set_rng_state",
]
