"""More of torch.nn, with its semantics, arguments, defaults, reprs and state_dict names:
LinearCrossEntropyLoss, CrossMapLRN2d, DataParallel, Container.

LinearCrossEntropyLoss composes fastnn's Linear and CrossEntropyLoss (torch's reference path,
``options=None``); CrossMapLRN2d is array code on the input's array module (NumPy or CuPy),
computed in float64 and rounded once to the input's dtype; DataParallel and Container only hold
and delegate to child modules.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from .. import _device
from .containers import layer_from_config, layer_to_config
from .extra import _as64, _check_dy, _check_float_input
from .extra2 import _window_sum
from .layers import Linear, ShapeError, _need_forward
from .loss import CrossEntropyLoss, _check_pred
from .module import Module, check_float_arg, check_int

__all__ = ["LinearCrossEntropyLoss", "CrossMapLRN2d", "DataParallel", "Container"]


def _real(name, value):
    """A finite real number, kept as given (an int stays an int, so the repr is torch's)."""
    return check_float_arg(name, value)


# --- LinearCrossEntropyLoss -------------------------------------------------------------------

class LinearCrossEntropyLoss(Module):
    """torch.nn.LinearCrossEntropyLoss: the cross entropy of ``linear(input)`` against a target.

    The module owns ``linear``, a Linear(in_features, num_classes * prod(out_features)) with
    torch's flat layout: weight (C * prod(out_features), in_features), bias (C * prod(out_features),),
    reshaped to (C, *out_features, in_features) / (C, *out_features) for the loss. ``loss(input,
    target)`` returns a float ("mean", "sum") or the per-sample losses ("none"); ``backward()``
    (``backward(dy)`` for "none") returns d input and accumulates ``linear``'s weight and bias
    gradients. ``ignore_index=None`` means -100 for class-index targets and is required for
    probability targets (a target of the logits' shape (*N, C, *out_features)), as torch's.
    ``options`` (torch's chunking options) is accepted and ignored: chunking changes only memory use.
    """

    def __init__(self, in_features: int, num_classes: int, *, out_features=(), bias: bool = False, device=None,
                 dtype=None, reduction: str = "mean", weight=None, ignore_index=None, label_smoothing=0.0,
                 options=None):
        super().__init__()
        in_features = check_int("in_features", in_features)
        self.num_classes = check_int("num_classes", num_classes)
        if isinstance(out_features, numbers.Integral) or not isinstance(out_features, (tuple, list)):
            raise TypeError(f"LinearCrossEntropyLoss: out_features must be a tuple of ints. "
                            f"Received: out_features={out_features!r}")
        self.out_features = tuple(check_int("out_features", d) for d in out_features)
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"LinearCrossEntropyLoss: reduction must be one of ('mean', 'sum', 'none'). "
                             f"Received: reduction={reduction!r}")
        self.reduction = reduction
        if ignore_index is not None and (isinstance(ignore_index, bool)
                                         or not isinstance(ignore_index, numbers.Integral)):
            raise TypeError(f"LinearCrossEntropyLoss: ignore_index must be an int or None. "
                            f"Received: ignore_index={ignore_index!r}")
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.label_smoothing = _real("label_smoothing", label_smoothing)
        if not 0.0 <= self.label_smoothing <= 1.0:
            raise ValueError(f"LinearCrossEntropyLoss: label_smoothing must be in [0, 1]. "
                             f"Received: label_smoothing={label_smoothing!r}")
        self.options = options
        self.linear = Linear(in_features, math.prod(self.out_features, start=self.num_classes),
                             bias=bool(bias))
        # the loss that does the work; its class weights are refreshed from the buffer at each call
        self._ce = CrossEntropyLoss(reduction=reduction, label_smoothing=float(self.label_smoothing),
                                    ignore_index=-100 if self.ignore_index is None else self.ignore_index)
        self.weight = None
        if weight is not None:
            w = _device.to_host(weight) if _device.device_of(weight) == _device.CUDA else np.asarray(weight)
            if w.shape != (self.num_classes,) or w.dtype.kind not in "iuf":
                raise ValueError(f"LinearCrossEntropyLoss: weight must be a real array of shape "
                                 f"{(self.num_classes,)}. Received: weight of shape {w.shape}, dtype {w.dtype}")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"LinearCrossEntropyLoss: weight must be finite. Received: weight={w.tolist()!r}")
            del self.weight
            self.register_buffer("weight", np.ascontiguousarray(w, dtype=np.float32))
        self._logits_shape = None
        self.to(*[a for a in (device, dtype) if a is not None])

    @property
    def in_features(self) -> int:
        return self.linear.in_features

    def forward(self, input, target):
        name = "LinearCrossEntropyLoss"
        _check_pred(name, input)
        if input.ndim not in (1, 2):
            raise ShapeError(f"{name}: expected input with dimensionality 1 or 2, got shape {input.shape}")
        if input.shape[-1] != self.in_features:
            raise ShapeError(f"{name}: input has {input.shape[-1]} features (shape {input.shape}), "
                             f"the linear expects in_features={self.in_features}")
        if self.out_features and input.ndim == 1:
            raise ShapeError(f"{name}: K-dimensional loss (out_features={self.out_features}) requires batched "
                             f"input (N, {self.in_features}), got unbatched input of shape {input.shape}")
        logits_shape = input.shape[:-1] + (self.num_classes,) + self.out_features
        if tuple(getattr(target, "shape", ())) == logits_shape and self.ignore_index is not None:
            raise ValueError(f"{name}: ignore_index cannot be specified when target contains probabilities "
                             f"(a target of the logits' shape {logits_shape}). "
                             f"Received: ignore_index={self.ignore_index!r}")
        self._ce.weight = None if self.weight is None else np.asarray(_device.to_host(self.weight), np.float64)
        flat = self.linear.forward(input)
        self._logits_shape = (flat.shape, logits_shape)
        return self._ce(flat.reshape(logits_shape), target)

    def backward(self, dy=None):
        """d input; the linear's weight (and bias) gradients are accumulated."""
        _need_forward(self, self._logits_shape)
        flat_shape, _ = self._logits_shape
        dlogits = self._ce.backward(dy)
        return self.linear.backward(dlogits.reshape(flat_shape))

    def get_config(self):
        config = {"in_features": self.in_features, "num_classes": self.num_classes,
                  "out_features": list(self.out_features), "bias": self.linear.bias is not None,
                  "reduction": self.reduction, "ignore_index": self.ignore_index,
                  "label_smoothing": self.label_smoothing}
        if self.weight is not None:
            config["weight"] = np.asarray(_device.to_host(self.weight), np.float64).tolist()
        if isinstance(self.options, dict):
            config["options"] = self.options
        return config

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, num_classes={self.num_classes}, out_features={self.out_features}, "
                f"bias={self.linear.bias is not None}, reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")

    def __repr__(self) -> str:
        lin = self.linear
        linear = f"Linear(in_features={lin.in_features}, out_features={lin.out_features}, bias={lin.bias is not None})"
        return f"{type(self).__name__}(\n  {self.extra_repr()}\n  (linear): {linear}\n)"


# --- CrossMapLRN2d ----------------------------------------------------------------------------

class CrossMapLRN2d(Module):
    """torch.nn.CrossMapLRN2d (Lua torch's SpatialCrossMapLRN): ``y = x * scale ** -beta`` with
    ``scale = k + alpha / size * S``, S a running sum of x**2 over channels, and torch's own
    backward (a custom autograd Function), both computed exactly as torch's code computes them.

    This is not LocalResponseNorm with other constants: torch's running sum never drops channel 0
    (for c >= (size - 1) // 2 + 1 it stays in S), an even size sums size - 1 channels, and the
    backward's window is shifted one channel down (it is not the exact gradient of the forward).
    fastnn reproduces torch's results, these quirks included.

    Args (torch's order): size (int >= 1), alpha, beta, k (finite reals, kept as given for the repr).
    Shape: (N, C, H, W) only (torch's ValueError for any other number of axes), unchanged.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1):
        super().__init__()
        self.size = check_int("size", size)
        self.alpha = _real("alpha", alpha)
        self.beta = _real("beta", beta)
        self.k = _real("k", k)
        self._cache = None

    def forward(self, x):
        _check_float_input(self, x, range(0, 33))
        if x.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {x.ndim}D instead (shape {x.shape}).")
        xp = _device.xp_of(x)
        x64 = _as64(x)
        sq = x64 * x64
        pre_pad = int((self.size - 1) / 2 + 1)
        s = _window_sum(xp, sq, pre_pad - 1, pre_pad - 1)
        if x.shape[1] > pre_pad:  # torch's loop never subtracts channel 0
            s[:, pre_pad:] += sq[:, :1]
        scale = s * (self.alpha / self.size) + self.k
        with np.errstate(divide="ignore", invalid="ignore"):
            y = x64 * scale ** -self.beta
        self._cache = (x.shape, x64, y, scale)
        return y.astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        shape, x64, y, scale = self._cache
        _check_dy(self, dy, shape)
        if self.size == 1:  # torch's backward narrows past its padded buffer: a RuntimeError
            raise RuntimeError("CrossMapLRN2d: torch's backward fails for size=1 (its padded buffer has no room "
                               "for the shifted window), so fastnn's does too. Received: size=1")
        xp = _device.xp_of(dy)
        dy64 = _as64(dy)
        inverse_pre_pad = int(self.size - (self.size - 1) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = dy64 * y / scale
            # torch's accumulator for channel c: ratio[c - inverse_pre_pad] ... ratio[c + size - 1 - inverse_pre_pad]
            acc = _window_sum(xp, ratio, inverse_pre_pad, self.size - 1 - inverse_pre_pad)
            dx = scale ** -self.beta * dy64 - (2.0 * self.alpha * self.beta / self.size) * x64 * acc
        return dx.astype(dy.dtype, copy=False)

    def get_config(self):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# --- DataParallel -----------------------------------------------------------------------------

def _device_index(name, value, allow_none_cpu=False):
    """torch's _get_device_index for fastnn: an int (>= 0; -1 too where allow_none_cpu) or
    "cuda" / "cuda:<i>" (-> i, "cuda" -> 0); "cpu" and anything else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"DataParallel: {name} must be a device index (int) or a device name such as 'cuda:0'. "
                        f"Received: {name}={value!r}")
    if isinstance(value, str):
        low = value.lower()
        if low == "cuda":
            return 0
        if low.startswith("cuda:") and low[5:].isdigit():
            return int(low[5:])
        if low == "cpu":
            raise ValueError(f"DataParallel: expected a non cpu device (torch's rule). Received: {name}={value!r}")
        raise ValueError(f"DataParallel: {name} must be 'cuda' or 'cuda:<index>'. Received: {name}={value!r}")
    lowest = -1 if allow_none_cpu else 0
    if value < lowest:
        raise ValueError(f"DataParallel: {name} must be a device index >= {lowest}. Received: {name}={value!r}")
    return int(value)


class DataParallel(Module):
    """torch.nn.DataParallel on fastnn's single device: the wrapped ``module`` (child ``module``,
    so state_dict keys are ``module.<name>``, torch's) is run as it is, with no scatter over
    devices, replication or gather: torch does the same with no GPU, and with one GPU it runs the
    module on that GPU alone. ``forward(*inputs, **kwargs)`` is ``module(*inputs, **kwargs)``;
    ``backward(*args, **kwargs)`` is ``module.backward(...)``.

    device_ids (None, or a list of ints >= 0 / "cuda[:i]" names), output_device (None, an int >= -1
    or "cuda[:i]") and dim (an int) are checked and kept for the config. ``device_ids`` is ``[]``
    without a CUDA device (torch's attribute then); with one, fastnn uses CuPy's current device
    and any index other than 0 is a ValueError. The module is not moved (torch moves it to
    device_ids[0]): call ``.to("cuda")`` yourself, inputs must be on the module's device.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be a fastnn.nn.Module. Received: module={module!r}")
        if device_ids is not None:
            if isinstance(device_ids, (str, bytes)) or not isinstance(device_ids, (list, tuple)):
                raise TypeError(f"DataParallel: device_ids must be a list of device indices or None. "
                                f"Received: device_ids={device_ids!r}")
            ids = [_device_index("device_ids", d) for d in device_ids]
        else:
            ids = None
        out = None if output_device is None else _device_index("output_device", output_device, allow_none_cpu=True)
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"DataParallel: dim must be an int. Received: dim={dim!r}")
        self._args = {"device_ids": ids, "output_device": out, "dim": int(dim)}
        self.module = module
        if _device.cuda_unavailable_reason() is not None:
            self.device_ids = []  # torch's: no device, the module runs as it is
        else:
            self.device_ids = [0] if ids is None else ids
            bad = [i for i in self.device_ids if i != 0]
            if bad:
                raise ValueError(f"DataParallel: fastnn runs on one GPU (CuPy's current device, index 0). "
                                 f"Received: device_ids={device_ids!r}")
        self.output_device = out if out is not None else (self.device_ids[0] if self.device_ids else None)
        self.dim = int(dim)

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)

    def backward(self, *args, **kwargs):
        return self.module.backward(*args, **kwargs)

    def get_config(self):
        return {"module": layer_to_config(self.module), **self._args}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(layer_from_config(config.pop("module")), **config)


# --- Container --------------------------------------------------------------------------------

_CONTAINER_WARNING = ("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                      "Subclass that instead.")


class Container(Module):
    """torch.nn.Container (deprecated): a Module whose children are the keyword arguments, in
    their order (``Container(a=m1, b=m2)``: children ``a`` and ``b``). Creating one, and defining
    a subclass, emits torch's FutureWarning. It has no forward / backward of its own (torch's
    Module neither): subclass it, or better Module."""

    def __init_subclass__(cls, **kwargs):
        warnings.warn(_CONTAINER_WARNING, FutureWarning, stacklevel=2)
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs):
        warnings.warn(_CONTAINER_WARNING, FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            if not isinstance(value, Module):
                raise TypeError(f"Container: {key}={value!r} is not a fastnn.nn.Module")
            self.add_module(key, value)

    def get_config(self):
        return {"modules": {k: layer_to_config(m) for k, m in self._modules.items()}}

    def extra_repr(self) -> str:
        return ""

    @classmethod
    def from_config(cls, config):
        return cls(**{k: layer_from_config(spec) for k, spec in config["modules"].items()})
