"""Weight initializers (in place, PyTorch's names and formulas), drawing from fastnn's global RNG.

Fans: a weight of shape (out, in, *kernel) has fan_in = in * prod(kernel) and
fan_out = out * prod(kernel) (PyTorch's rule, also for transposed-conv weights (C_in, C_out, ...),
where it is applied to the stored layout).

- Glorot/Xavier (Glorot & Bengio 2010): uniform bound ``gain * sqrt(6 / (fan_in + fan_out))``,
  normal std ``gain * sqrt(2 / (fan_in + fan_out))``.
- He/Kaiming (He et al. 2015): std ``gain / sqrt(fan)``, gain ``sqrt(2 / (1 + a^2))`` for
  (leaky) ReLU; uniform bound ``sqrt(3) * std``.
- ``default_uniform_``: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), what PyTorch's Linear and Conv layers use.
- ``trunc_normal_``, ``orthogonal_`` (Saxe et al. 2013), ``eye_``, ``dirac_``, ``sparse_`` (Martens 2010)
  as torch's; the non-underscore names (``uniform``, ``normal``, ...) are torch's deprecated aliases
  (a FutureWarning, then the underscore function).

``generator``: a ``numpy.random.Generator`` to draw from instead of fastnn's global RNG (torch's
``generator=`` takes a ``torch.Generator``; here NumPy's stands for it).

Random values are drawn on the host and copied to the device for a parameter on the GPU, so a
seed gives the same initial weights on both devices.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _device
from .._random import get_rng
from .module import Parameter

__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "uniform_", "normal_", "zeros_", "ones_", "constant_",
    "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_", "kaiming_uniform_",
    "kaiming_normal_", "he_uniform_", "he_normal_", "default_uniform_", "get", "trunc_normal_", "orthogonal_",
    "eye_", "dirac_", "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
    "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse",
]


def _array(w) -> np.ndarray:
    return w.data if isinstance(w, Parameter) else w


def calculate_fan_in_and_fan_out(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, or of a weight (an array or Parameter: its shape)."""
    shape = tuple(shape.shape if hasattr(shape, "shape") else shape)
    if len(shape) < 2:
        raise ValueError(f"fan in/out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str = "leaky_relu", param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                        "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is not None and (isinstance(param, (bool, np.bool_)) or not isinstance(param, numbers.Real)):
            raise ValueError(f"negative_slope must be a number. Received: param={param!r}")
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity. Received: nonlinearity={nonlinearity!r}")


def _fill(w, values):
    arr = _array(w)
    values = values.astype(arr.dtype, copy=False)
    if isinstance(arr, np.ndarray):
        arr[...] = values
    else:
        _device.copy_into(arr, values)  # drawn on the host, uploaded
    return w


def _rng(generator) -> np.random.Generator:
    """generator (a numpy.random.Generator), or fastnn's global RNG for None."""
    if generator is None:
        return get_rng()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator or None. Received: generator={generator!r}")
    return generator


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    arr = _array(tensor)
    return _fill(tensor, _rng(generator).uniform(a, b, size=arr.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    arr = _array(tensor)
    return _fill(tensor, _rng(generator).normal(mean, std, size=arr.shape))


def constant_(tensor, val: float):
    _array(tensor).fill(val)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(tensor).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(tensor).shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _calculate_correct_fan(tensor, mode: str) -> int:
    """fan_in or fan_out of a weight (torch's private helper, which ported reset_parameters
    methods call; the mode is case-insensitive, as torch's)."""
    lowered = mode.lower() if isinstance(mode, str) else mode
    if lowered not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out'. Received: mode={mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(_array(tensor).shape)
    return fan_in if lowered == "fan_in" else fan_out


def _kaiming_std(w, a, mode, nonlinearity):
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(w, mode))


def _is_empty(w) -> bool:
    """A weight with no elements: kaiming_* leave it unchanged with a warning (PyTorch's)."""
    if 0 in _array(w).shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    if _is_empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    if _is_empty(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def _real(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number. Received: {name}={value!r}")
    return float(value)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Fill tensor with draws of N(mean, std^2) truncated to [a, b] (every value in [a, b]), as torch's:
    normal draws outside [a, b] are redrawn when [a, b] holds more than 30% of the mass, else
    uniform draws on [a, b] accepted with probability pdf(x) / pdf(mode) (rejection sampling),
    so a far tail costs no endless redraws. Warns (UserWarning) when mean is more than 2 std
    outside [a, b], as torch. Drawn in float64, then cast to tensor's dtype."""
    mean, std, a, b = (_real(n, v) for n, v in (("mean", mean), ("std", std), ("a", a), ("b", b)))
    if not std > 0.0:
        raise ValueError(f"trunc_normal_ needs std > 0. Received: std={std!r}")
    if a > b:
        raise RuntimeError(f"trunc_normal_ needs a <= b. Received: a={a!r}, b={b!r}")
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    rng = _rng(generator)
    arr = _array(tensor)
    n = arr.size
    p = _norm_cdf((b - mean) / std) - _norm_cdf((a - mean) / std)
    if p > 0.3:
        out = rng.normal(mean, std, size=n)
        bad = np.flatnonzero((out < a) | (out > b))
        while bad.size:
            out[bad] = rng.normal(mean, std, size=bad.size)
            bad = bad[(out[bad] < a) | (out[bad] > b)]
    else:
        mode = max(a, min(mean, b))
        log_peak = -0.5 * ((mode - mean) / std) ** 2
        out = np.empty(n)
        pending = np.arange(n)
        while pending.size:
            x = rng.uniform(a, b, size=pending.size)
            accept = np.log(rng.uniform(size=pending.size)) <= -0.5 * ((x - mean) / std) ** 2 - log_peak
            out[pending[accept]] = x[accept]
            pending = pending[~accept]
    return _fill(tensor, out.reshape(arr.shape))


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """Fill tensor with a (semi) orthogonal matrix (Saxe et al. 2013), as torch's: tensor viewed as
    (rows, cols) = (shape[0], prod(shape[1:])); Q of the QR decomposition of a standard normal
    matrix (of its transpose when rows < cols), columns signed by diag(R) so Q is Haar-uniform,
    times gain. So W W^T = gain^2 I when rows <= cols, W^T W = gain^2 I otherwise. A tensor with
    no elements is left as is."""
    arr = _array(tensor)
    if arr.ndim < 2:
        raise ValueError(f"Only tensors with 2 or more dimensions are supported. Received: shape={arr.shape}")
    gain = _real("gain", gain)
    rng = _rng(generator)
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = rng.normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(arr.shape))


def eye_(tensor):
    """Fill the 2-D tensor with the identity matrix (ones on the main diagonal of a non-square one
    too), as torch's: a Linear layer passes on as many inputs as it can."""
    arr = _array(tensor)
    if arr.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported. Received: shape={arr.shape}")
    return _fill(tensor, np.eye(*arr.shape))


def dirac_(tensor, groups: int = 1):
    """Fill the 3-, 4- or 5-D conv weight tensor with the Dirac delta, as torch's: zeros, and for each
    of the ``groups`` groups of out_channels // groups output channels, output channel
    ``g * (out // groups) + d`` takes input channel d at the kernel's centre (``k // 2`` on each
    axis), for d < min(out // groups, in). ValueError if out_channels is not divisible by groups."""
    arr = _array(tensor)
    if arr.ndim not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported. Received: shape={arr.shape}")
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"groups must be an int. Received: groups={groups!r}")
    if groups < 1:
        raise ValueError(f"groups must be >= 1. Received: groups={groups!r}")
    if arr.shape[0] % groups != 0:
        raise ValueError(f"dim 0 must be divisible by groups. Received: shape={arr.shape}, groups={groups}")
    out_per_group = arr.shape[0] // int(groups)
    values = np.zeros(arr.shape)
    centre = tuple(s // 2 for s in arr.shape[2:])
    for g in range(int(groups)):
        for d in range(min(out_per_group, arr.shape[1])):
            values[(g * out_per_group + d, d) + centre] = 1.0
    return _fill(tensor, values)


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """Fill the 2-D tensor as a sparse matrix (Martens 2010), as torch's: N(0, std^2) values, then in
    each column ``ceil(sparsity * rows)`` rows, chosen at random, set to zero. sparsity must be in
    [0, 1] (torch does not check it; a negative one there zeroes a wrong count)."""
    arr = _array(tensor)
    if arr.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported. Received: shape={arr.shape}")
    sparsity = _real("sparsity", sparsity)
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1]. Received: sparsity={sparsity!r}")
    std = _real("std", std)
    if std < 0:
        raise ValueError(f"std must be >= 0. Received: std={std!r}")
    rng = _rng(generator)
    rows, cols = arr.shape
    num_zeros = math.ceil(sparsity * rows)
    values = rng.normal(0.0, std, size=(rows, cols))
    if num_zeros and cols:
        zero_rows = np.argsort(rng.random((rows, cols)), axis=0)[:num_zeros]  # a random permutation per column
        np.put_along_axis(values, zero_rows, 0.0, axis=0)
    return _fill(tensor, values)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_


def default_uniform_(w, fan_in: int):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(w, -bound, bound)


# Names a layer's ``init=`` argument accepts (Keras-style strings).
_BY_NAME = {
    "xavier_uniform": xavier_uniform_, "glorot_uniform": xavier_uniform_,
    "xavier_normal": xavier_normal_, "glorot_normal": xavier_normal_,
    "kaiming_uniform": kaiming_uniform_, "he_uniform": kaiming_uniform_,
    "kaiming_normal": kaiming_normal_, "he_normal": kaiming_normal_,
    "zeros": zeros_,
}


def get(name: str):
    """The initializer called ``name`` ("glorot_uniform", "he_normal", ...)."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer; expected 'default' or one of {sorted(_BY_NAME)}. "
                         f"Received: init={name!r}") from None


# ---- torch's deprecated names: a FutureWarning, then the underscore function ----------
def _make_deprecate(meth):
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
                      FutureWarning, stacklevel=2)
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"{old_name}(...): deprecated, use :func:`{new_name}` (torch's alias)."
    deprecated_init.__name__ = deprecated_init.__qualname__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)


# torch's private names, which custom reset_parameters() methods ported from torch call
_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out
_no_grad_uniform_ = uniform_
_no_grad_normal_ = normal_
_no_grad_fill_ = constant_
_no_grad_zero_ = zeros_
