"""SyncBatchNorm and torch.nn's Lazy modules, with torch's semantics and state_dict names.

- SyncBatchNorm: on one process, torch's SyncBatchNorm is BatchNorm over every axis but 1 (the
  channel axis) for an input of 2 to 5 dimensions; fastnn has no process groups, so
  ``process_group`` is kept (and must be None) and the statistics are this process's batch's.
  ``convert_sync_batchnorm`` replaces every BatchNorm1d/2d/3d of a module tree, sharing their
  parameters and buffers, as torch's.
- LazyLinear, LazyConv1d/2d/3d, LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d,
  LazyInstanceNorm1d/2d/3d: in_features / in_channels / num_features come from the first
  forward's input (or from the first ``load_state_dict``); the module then becomes
  (``cls_to_become``) the regular fastnn class, initialized as that class is. The Parameter
  objects are kept (torch's UninitializedParameter is materialized in place): an optimizer made
  before the first forward trains them. Before materialization each parameter is a
  ``fastnn.nn.parameter.UninitializedParameter`` (a Parameter holding an empty (0,) array, whose
  ``shape`` raises as torch's; it becomes a Parameter, the same object, at materialization) and
  each running statistic an empty ``UninitializedBuffer`` array (replaced by the regular one).
- FractionalMaxPool2d / 3d: torch's interval formula and sample order; with ``_random_samples``
  the outputs and indices are torch's exactly, else the samples come from fastnn's RNG.
- AdaptiveLogSoftmaxWithLoss: torch's head / tail structure and parameter names; forward(input,
  target) -> (output, loss), backward(dloss, doutput) -> dx, log_prob, predict (float64 inside).
SyncBatchNorm and the materialized lazy modules run the regular classes' kernels;
FractionalMaxPool and AdaptiveLogSoftmaxWithLoss are array code on the host (a CuPy input is
copied to the host and back): neither is in a hot path.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _device
from .._random import next_seed
from .containers import ModuleList, Sequential
from .conv3d import Conv3d, ConvTranspose3d
from .extra import F64, _check_dy, _check_float_input
from .layers import BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Linear, _BatchNorm, _need_forward
from .layers1d import Conv1d, ConvTranspose1d, InstanceNorm1d, InstanceNorm2d
from .layers3d import BatchNorm3d, InstanceNorm3d
from .module import Module, check_bool, check_float_arg, check_int
from .parameter import UninitializedBuffer, UninitializedParameter

__all__ = ["SyncBatchNorm", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
           "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
           "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "FractionalMaxPool2d",
           "FractionalMaxPool3d", "AdaptiveLogSoftmaxWithLoss", "TargetRangeError"]


def _bn_repr(layer, num_features) -> str:  # torch's _NormBase.extra_repr
    return (f"{num_features}, eps={layer.eps}, momentum={layer.momentum}, affine={layer.affine}, "
            f"bias={getattr(layer, 'bias', None) is not None}, track_running_stats={layer.track_running_stats}")


# --- SyncBatchNorm ---------------------------------------------------------------------------

class SyncBatchNorm(_BatchNorm):
    """Batch normalization per channel (axis 1) over every other axis, for inputs of 2 to 5
    dimensions (torch.nn.SyncBatchNorm on one process: no statistics are exchanged, fastnn has
    no process groups). Arguments and buffers as BatchNorm1d (momentum None: cumulative
    average; keyword bias=False: the weight alone); ``process_group`` must be None.
    Shape: (N, C, *) with 0 to 3 trailing axes, unchanged.
    """

    _ndims = (2, 3, 4, 5)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, *, bias: bool = True):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: fastnn has no process groups, process_group must be None. "
                             f"Received: process_group={process_group!r}")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias)
        self.process_group = None

    def _as_kernel_input(self, x):
        # per channel over N and the trailing axes: the kernel's (N, C, H, W) with H = their product
        if x.ndim == 2:
            return x
        rest = 1
        for s in x.shape[2:]:
            rest *= s
        return x.reshape(x.shape[:2] + (rest, 1))

    def forward(self, x):
        if getattr(x, "ndim", None) is not None and x.ndim < 2:
            raise ValueError(f"SyncBatchNorm expects an input of at least 2 dimensions (N, C, *), "
                             f"got input shape {x.shape}")
        if (getattr(x, "ndim", 0) in self._ndims and x.size and x.shape[1] == self.num_features
                and x.size // x.shape[1] <= 1 and (self.training or not self.track_running_stats)):
            raise ValueError(f"SyncBatchNorm in training needs more than one value per channel, "
                             f"got input shape {x.shape}")
        return super().forward(x)

    def extra_repr(self) -> str:  # torch's
        return _bn_repr(self, self.num_features)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm1d/2d/3d (at any depth, itself included) replaced by a
        SyncBatchNorm that shares its weight, bias and running statistics and keeps its training
        mode (torch's); the other modules are the same objects, their children replaced."""
        if not isinstance(module, Module):
            raise TypeError(f"convert_sync_batchnorm expects a fastnn.nn.Module. Received: module={module!r}")
        out = module
        if isinstance(module, (BatchNorm1d, BatchNorm2d, BatchNorm3d)):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group,
                      bias=not module.affine or module.bias is not None)
            if module.affine:
                out.weight = module.weight
                if module.bias is not None:
                    out.bias = module.bias
            if module.track_running_stats:
                out.running_mean = module.running_mean
                out.running_var = module.running_var
                out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in list(module._modules.items()):
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                setattr(out, name, new)
        return out


# --- the Lazy modules ------------------------------------------------------------------------

def _to_json(v):
    return list(v) if isinstance(v, tuple) else v


class _LazyMixin:
    """A regular layer built with a placeholder input size, whose parameters and running
    statistics are emptied; ``_materialize(n)`` gives it the regular class's values for input
    size n, in the same Parameter objects, and turns it into ``cls_to_become``."""

    cls_to_become: type = None
    _in_name = ""      # the inferred constructor argument
    _zero_attrs = ()   # attributes holding that size (0 before materialization)
    _empty_buffers = ()

    def _lazy_init(self, kwargs: dict) -> None:
        object.__setattr__(self, "reset_parameters", lambda: None)  # no draw from the RNG now
        try:
            self.cls_to_become.__init__(self, 1, **kwargs)
        finally:
            object.__delattr__(self, "reset_parameters")
        self._lazy_kwargs = dict(kwargs)
        for name in self._zero_attrs:
            setattr(self, name, 0)
        for p in self._parameters.values():
            p.data = np.empty((0,), p.data.dtype)
            p._grad = np.empty((0,), p.data.dtype)
            p._grad_is_zero = True
            p.__class__ = UninitializedParameter  # the same object, torch's class until materialized
        for name in self._empty_buffers:
            if getattr(self, name, None) is not None:
                setattr(self, name, UninitializedBuffer(dtype=getattr(self, name).dtype))

    def has_uninitialized_params(self) -> bool:
        return True

    def reset_parameters(self) -> None:  # nothing to reset before materialization (torch's)
        return None

    def initialize_parameters(self, x) -> None:
        """Materialize from the input x (torch's name)."""
        self._materialize(self._infer(x))

    def _materialize(self, n: int) -> None:
        n = check_int(self._in_name, n)
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in self._lazy_kwargs.items()}
        regular = self.cls_to_become(n, **kwargs)  # its initialization, from fastnn's RNG
        params = self._parameters
        state = dict(regular.__dict__)
        for name, p in regular._parameters.items():
            mine = params[name]
            data = p.data.astype(mine.data.dtype)
            if _device.device_of(mine.data) != _device.device_of(data):
                data = _device.move(data, _device.device_of(mine.data))
            mine.data = data
            mine._grad = _device.zeros_like(data)
            mine._grad_is_zero = True
            if isinstance(mine, UninitializedParameter):
                mine.__class__ = mine.cls_to_become
            state[name] = mine
        state["_parameters"] = {name: params[name] for name in regular._parameters}
        buffers = {}
        for name, b in regular._buffers.items():
            old = self._buffers.get(name)
            if old is not None and b.dtype.kind == "f":
                b = b.astype(old.dtype)
            if old is not None and _device.device_of(old) != _device.device_of(b):
                b = _device.move(b, _device.device_of(old))
            if name == "num_batches_tracked" and old is not None:
                b = old  # batches already counted stay counted
            buffers[name] = b
            state[name] = b
        state["_buffers"] = buffers
        state["training"] = self.training
        self.__dict__.clear()
        self.__dict__.update(state)
        self.__class__ = self.cls_to_become

    def forward(self, x, *args, **kwargs):
        self.initialize_parameters(x)
        return self.forward(x, *args, **kwargs)

    def backward(self, dy, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}.backward called before forward (its parameters are not "
                           f"materialized yet)")

    def load_state_dict(self, state: dict, strict: bool = True, assign: bool = False):
        """Materialize from the state's shapes (torch's), then load as the regular class."""
        if isinstance(state, dict):
            n = self._in_from_state(state)
            if n:
                self._materialize(n)
                return self.load_state_dict(state, strict, assign)
        return super().load_state_dict(state, strict, assign)

    def get_config(self):
        return {k: _to_json(v) for k, v in self._lazy_kwargs.items()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items()})

    def _infer(self, x) -> int:
        raise NotImplementedError

    def _in_from_state(self, state) -> int:
        raise NotImplementedError


def _array_input(layer, x):
    if _device.device_of(x) is None:
        raise TypeError(f"{type(layer).__name__} expects a numpy.ndarray or cupy.ndarray input, "
                        f"got {type(x).__name__}")


def _shape_of(state, key):
    v = state.get(key)
    shape = getattr(v, "shape", None)
    return None if shape is None or len(shape) == 0 or (len(shape) == 1 and shape[0] == 0) else tuple(shape)


class LazyLinear(_LazyMixin, Linear):
    """Linear whose in_features is the last axis of the first input (torch.nn.LazyLinear);
    becomes Linear at the first forward. Args: out_features, bias, init (fastnn's, as Linear)."""

    cls_to_become = Linear
    _in_name = "in_features"
    _zero_attrs = ("in_features",)

    def __init__(self, out_features: int, bias: bool = True, init: str = "default"):
        self._lazy_init({"out_features": out_features, "bias": bias, "init": init})
        self._lazy_kwargs["bias"] = self.bias is not None

    def _infer(self, x) -> int:
        _array_input(self, x)
        if x.ndim < 1:
            raise ValueError(f"LazyLinear expects an input of at least 1 dimension, got shape {x.shape}")
        return x.shape[-1]

    def _in_from_state(self, state) -> int:
        s = _shape_of(state, "weight")
        return s[1] if s and len(s) == 2 else 0

    def extra_repr(self) -> str:  # torch's
        return f"in_features=0, out_features={self.out_features}, bias={self.bias is not None}"


class _LazyConvBase(_LazyMixin):
    _in_name = "in_channels"
    _zero_attrs = ("in_channels",)
    _spatial = 2
    _transposed = False

    def _conv_init(self, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, init,
                   output_padding=None):
        kwargs = {"out_channels": out_channels, "kernel_size": kernel_size, "stride": stride, "padding": padding}
        if self._transposed:
            kwargs["output_padding"] = output_padding
        kwargs.update(dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode, init=init)
        if isinstance(groups, int) and not isinstance(groups, bool) and groups >= 1:
            # the placeholder input size must suit groups; the real one is checked at materialization
            object.__setattr__(self, "reset_parameters", lambda: None)
            try:
                self.cls_to_become.__init__(self, groups, **kwargs)
            finally:
                object.__delattr__(self, "reset_parameters")
        else:
            self.cls_to_become.__init__(self, 1, **kwargs)  # raises for the bad groups
        self._lazy_kwargs = dict(kwargs)
        self._lazy_kwargs["bias"] = self.bias is not None
        self.in_channels = 0
        for p in self._parameters.values():
            p.data = np.empty((0,), p.data.dtype)
            p._grad = np.empty((0,), p.data.dtype)
            p._grad_is_zero = True
            p.__class__ = UninitializedParameter

    def _infer(self, x) -> int:
        _array_input(self, x)
        n = self._spatial
        if x.ndim not in (n + 1, n + 2):
            raise ValueError(f"{type(self).__name__} expects an input of {n + 1} or {n + 2} dimensions, "
                             f"got shape {x.shape}")
        return x.shape[0] if x.ndim == n + 1 else x.shape[1]

    def _in_from_state(self, state) -> int:
        s = _shape_of(state, "weight")
        if not s or len(s) != self._spatial + 2:
            return 0
        return s[0] if self._transposed else s[1] * self.groups

    def extra_repr(self) -> str:  # torch's _ConvNd.extra_repr
        n = self._spatial
        k = self._lazy_kwargs

        def tup(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
        s = f"0, {k['out_channels']}, kernel_size={tup(k['kernel_size'])}, stride={tup(k['stride'])}"
        if isinstance(k["padding"], str):
            s += f", padding={k['padding']}"
        elif tup(k["padding"]) != (0,) * n:
            s += f", padding={tup(k['padding'])}"
        if tup(k["dilation"]) != (1,) * n:
            s += f", dilation={tup(k['dilation'])}"
        if self._transposed and tup(k["output_padding"]) != (0,) * n:
            s += f", output_padding={tup(k['output_padding'])}"
        if k["groups"] != 1:
            s += f", groups={k['groups']}"
        if not k["bias"]:
            s += ", bias=False"
        if k["padding_mode"] != "zeros":
            s += f", padding_mode={k['padding_mode']}"
        return s


def _lazy_conv(name, regular, spatial, doc):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, dilation=1, groups: int = 1,
                 bias: bool = True, padding_mode: str = "zeros", init: str = "default"):
        self._conv_init(out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, init)
    return type(name, (_LazyConvBase, regular), {"__init__": __init__, "cls_to_become": regular,
                                                  "_spatial": spatial, "__doc__": doc, "__module__": __name__})


def _lazy_conv_t(name, regular, spatial, doc):
    def __init__(self, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0, groups: int = 1,
                 bias: bool = True, dilation=1, padding_mode: str = "zeros", init: str = "default"):
        self._conv_init(out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, init,
                        output_padding=output_padding)
    return type(name, (_LazyConvBase, regular), {"__init__": __init__, "cls_to_become": regular,
                                                  "_spatial": spatial, "_transposed": True, "__doc__": doc,
                                                  "__module__": __name__})


_CONV_DOC = ("{r} whose in_channels is the channel axis of the first input (axis 1, axis 0 unbatched), "
             "torch.nn.{n}; becomes {r} at the first forward. Arguments as {r} without in_channels.")
LazyConv1d = _lazy_conv("LazyConv1d", Conv1d, 1, _CONV_DOC.format(r="Conv1d", n="LazyConv1d"))
LazyConv2d = _lazy_conv("LazyConv2d", Conv2d, 2, _CONV_DOC.format(r="Conv2d", n="LazyConv2d"))
LazyConv3d = _lazy_conv("LazyConv3d", Conv3d, 3, _CONV_DOC.format(r="Conv3d", n="LazyConv3d"))
LazyConvTranspose1d = _lazy_conv_t("LazyConvTranspose1d", ConvTranspose1d, 1,
                                   _CONV_DOC.format(r="ConvTranspose1d", n="LazyConvTranspose1d"))
LazyConvTranspose2d = _lazy_conv_t("LazyConvTranspose2d", ConvTranspose2d, 2,
                                   _CONV_DOC.format(r="ConvTranspose2d", n="LazyConvTranspose2d"))
LazyConvTranspose3d = _lazy_conv_t("LazyConvTranspose3d", ConvTranspose3d, 3,
                                   _CONV_DOC.format(r="ConvTranspose3d", n="LazyConvTranspose3d"))


class _LazyNormBase(_LazyMixin):
    _in_name = "num_features"
    _zero_attrs = ("num_features",)
    _empty_buffers = ("running_mean", "running_var")
    _batch_ndims = ()    # the input ndims whose channel axis is 1
    _unbatched_ndim = None  # the instance norms' unbatched input: channels on axis 0

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True):
        self._lazy_init({"eps": eps, "momentum": momentum, "affine": affine,
                         "track_running_stats": track_running_stats, "bias": bias})

    def _infer(self, x) -> int:
        _array_input(self, x)
        if x.ndim in self._batch_ndims:
            return x.shape[1]
        if x.ndim == self._unbatched_ndim:
            return x.shape[0]
        dims = sorted(set(self._batch_ndims) | ({self._unbatched_ndim} - {None}))
        raise ValueError(f"{type(self).__name__} expects an input of {' or '.join(map(str, dims))} dimensions, "
                         f"got shape {x.shape}")

    def _in_from_state(self, state) -> int:
        for key in ("weight", "bias", "running_mean", "running_var"):
            s = _shape_of(state, key)
            if s and len(s) == 1:
                return s[0]
        return 0

    def extra_repr(self) -> str:
        return _bn_repr(self, 0)


def _lazy_norm(name, regular, batch_ndims, unbatched, doc):
    return type(name, (_LazyNormBase, regular), {"cls_to_become": regular, "_batch_ndims": batch_ndims,
                                                  "_unbatched_ndim": unbatched, "__doc__": doc,
                                                  "__init__": _LazyNormBase.__init__, "__module__": __name__})


_NORM_DOC = ("{r} whose num_features is the channel axis of the first input, torch.nn.{n}; becomes {r} at "
             "the first forward. Arguments eps, momentum, affine (default True), track_running_stats "
             "(default True: torch's lazy defaults), keyword bias.")
LazyBatchNorm1d = _lazy_norm("LazyBatchNorm1d", BatchNorm1d, (2, 3), None,
                             _NORM_DOC.format(r="BatchNorm1d", n="LazyBatchNorm1d"))
LazyBatchNorm2d = _lazy_norm("LazyBatchNorm2d", BatchNorm2d, (4,), None,
                             _NORM_DOC.format(r="BatchNorm2d", n="LazyBatchNorm2d"))
LazyBatchNorm3d = _lazy_norm("LazyBatchNorm3d", BatchNorm3d, (5,), None,
                             _NORM_DOC.format(r="BatchNorm3d", n="LazyBatchNorm3d"))
LazyInstanceNorm1d = _lazy_norm("LazyInstanceNorm1d", InstanceNorm1d, (3,), 2,
                                _NORM_DOC.format(r="InstanceNorm1d", n="LazyInstanceNorm1d"))
LazyInstanceNorm2d = _lazy_norm("LazyInstanceNorm2d", InstanceNorm2d, (4,), 3,
                                _NORM_DOC.format(r="InstanceNorm2d", n="LazyInstanceNorm2d"))
LazyInstanceNorm3d = _lazy_norm("LazyInstanceNorm3d", InstanceNorm3d, (5,), 4,
                                _NORM_DOC.format(r="InstanceNorm3d", n="LazyInstanceNorm3d"))


# --- FractionalMaxPool2d / 3d ----------------------------------------------------------------

def _tuple_n(name, value, n, minimum=1):
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a {n}-tuple of ints. Received: {name}={value!r}")
        return tuple(check_int(name, v, minimum) for v in value)
    v = check_int(name, value, minimum)
    return (v,) * n


def _ratio_n(value, n):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise ValueError(f"output_ratio must be a float or a {n}-tuple of floats in (0, 1). "
                         f"Received: output_ratio={value!r}")
    return tuple(check_float_arg("output_ratio", v, low=0.0, high=1.0, low_open=True, high_open=True)
                 for v in values)


def _intervals(sample, size: int, out: int, k: int, dtype):
    """torch's generate_intervals, in the input's dtype as its CPU kernel: the window starts
    floor((i + u) * alpha) - floor(u * alpha), alpha = (size - k) / (out - 1), the last at size - k.
    sample: (P,) samples u in [0, 1) -> (P, out) int64 starts."""
    starts = np.empty((sample.shape[0], out), np.int64)
    if out > 1:
        alpha = dtype.type(size - k) / dtype.type(out - 1)
        i = np.arange(out - 1, dtype=dtype)
        u = sample.astype(dtype, copy=False)[:, None]
        starts[:, :-1] = (((i[None, :] + u) * alpha).astype(np.int64)
                          - (u * alpha).astype(np.int64))
    starts[:, -1] = size - k
    return starts


class _FractionalMaxPool(Module):
    _n = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices: bool = False,
                 _random_samples=None):
        super().__init__()
        n = self._n
        self.kernel_size = _tuple_n("kernel_size", kernel_size, n)
        self.output_size = None if output_size is None else _tuple_n("output_size", output_size, n)
        self.output_ratio = None if output_ratio is None else _ratio_n(output_ratio, n)
        if (self.output_size is None) == (self.output_ratio is None):
            what = "either an output size, or a pooling ratio" if self.output_size is None else \
                "only one of output_size and output_ratio"
            raise ValueError(f"{type(self).__name__} requires specifying {what}. "
                             f"Received: output_size={output_size!r}, output_ratio={output_ratio!r}")
        self.return_indices = check_bool("return_indices", return_indices)
        if _random_samples is not None:
            if _device.device_of(_random_samples) is None:
                _random_samples = np.asarray(_random_samples)
            if _random_samples.ndim != 3 or _random_samples.shape[-1] != n:
                raise ValueError(f"_random_samples must be an array of shape (N, C, {n}). "
                                 f"Received: _random_samples of shape {_random_samples.shape}")
        self._random_samples = _random_samples
        self._cache = None

    def _out_size(self, spatial):
        if self.output_size is not None:
            return self.output_size
        return tuple(int(s * r) for s, r in zip(spatial, self.output_ratio))

    def forward(self, x):
        n = self._n
        _check_float_input(self, x, (n + 1, n + 2))
        batched = x.ndim == n + 2
        xb = x if batched else x[None]
        nb, c = xb.shape[:2]
        spatial = xb.shape[2:]
        out = self._out_size(spatial)
        names = ("depth", "height", "width")[3 - n:]
        for name, size, o, k in zip(names, spatial, out, self.kernel_size):
            if o + k - 1 > size:
                raise ValueError(f"{type(self).__name__}: pool {name} {k} too large relative to input {name} "
                                 f"{size} and output {name} {o} (input shape {x.shape})")
            if o < 1:
                raise ValueError(f"{type(self).__name__}: output {name} must be >= 1, got {o} "
                                 f"(input shape {x.shape})")
        samples = self._random_samples
        if samples is None:
            samples = np.random.default_rng(next_seed()).random((nb, c, n)).astype(x.dtype)
        elif tuple(samples.shape[:2]) != (nb, c):
            raise ValueError(f"{type(self).__name__}: _random_samples of shape {tuple(samples.shape)} do not suit "
                             f"an input of shape {x.shape} (expected ({nb}, {c}, {n}))")
        xh = _device.move(xb, "cpu") if _device.device_of(xb) != "cpu" else xb
        samples = np.asarray(_device.move(samples, "cpu") if _device.device_of(samples) not in (None, "cpu")
                             else samples).reshape(nb * c, n)
        # torch's sample order: (w, h) in 2-D, (t, h, w) in 3-D
        order = (1, 0) if n == 2 else (0, 1, 2)
        planes = xh.reshape((nb * c,) + spatial)
        P = nb * c
        starts = [_intervals(samples[:, order[d]], spatial[d], out[d], self.kernel_size[d], x.dtype)
                  for d in range(n)]
        # every window position: (P, o1, .., on, k1 * .. * kn) flat indices into a plane
        strides = [int(np.prod(spatial[d + 1:], dtype=np.int64)) for d in range(n)]
        flat = np.zeros((P,) + out + (1,), np.int64)
        for d in range(n):
            shape = [P] + [1] * n + [1]
            shape[1 + d] = out[d]
            s_d = starts[d].reshape(shape)
            offs = np.arange(self.kernel_size[d], dtype=np.int64)
            flat = (flat[..., :, None] + (s_d[..., None] + offs) * strides[d]).reshape(flat.shape[:-1] + (-1,))
        vals = np.take_along_axis(planes.reshape(P, -1), flat.reshape(P, -1), axis=1).reshape(flat.shape)
        # torch's scan: the first maximum; a NaN wins over numbers, the last NaN over earlier ones
        nan = np.isnan(vals)
        kk = vals.shape[-1]
        last_nan = kk - 1 - np.argmax(nan[..., ::-1], axis=-1)
        best = np.where(nan.any(axis=-1), last_nan, np.argmax(np.where(nan, -np.inf, vals), axis=-1))
        idx = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]
        y = np.take_along_axis(vals, best[..., None], axis=-1)[..., 0]
        y = y.reshape((nb, c) + out)
        idx = idx.reshape((nb, c) + out)
        if not batched:
            y, idx = y[0], idx[0]
        if _device.device_of(x) != "cpu":
            y, idx = _device.move(y, _device.device_of(x)), _device.move(idx, _device.device_of(x))
        self._cache = (idx, x.shape, x.dtype)
        return (y, idx) if self.return_indices else y

    def backward(self, dy):
        _need_forward(self, self._cache)
        idx, shape, dtype = self._cache
        _check_dy(self, dy, idx.shape)
        device = _device.device_of(dy)
        n = self._n
        plane = int(np.prod(shape[-n:], dtype=np.int64))
        lead = int(np.prod(shape[:-n], dtype=np.int64))
        host = (lambda a: np.asarray(_device.move(a, "cpu"))) if device != "cpu" else np.asarray
        dx = np.zeros((lead, plane), dtype)
        src = host(dy).reshape(lead, -1).astype(dtype, copy=False)
        rows = np.broadcast_to(np.arange(lead).reshape(lead, 1), src.shape)
        np.add.at(dx, (rows, host(idx).reshape(lead, -1)), src)
        if device != "cpu":
            dx = _device.move(dx, device)
        return dx.reshape(shape)

    def get_config(self):
        return {"kernel_size": list(self.kernel_size),
                "output_size": None if self.output_size is None else list(self.output_size),
                "output_ratio": None if self.output_ratio is None else list(self.output_ratio),
                "return_indices": self.return_indices}

    def extra_repr(self) -> str:  # torch's (none)
        return ""


class FractionalMaxPool2d(_FractionalMaxPool):
    """Fractional max pooling (Graham 2014; torch.nn.FractionalMaxPool2d): kH x kW windows at
    pseudo-random starts, one sample u in [0, 1) per plane and axis: start i = floor((i + u) *
    alpha) - floor(u * alpha), alpha = (in - k) / (out - 1), the last window at in - k (torch's
    CPU kernel, computed in the input's dtype). ``output_size`` (int or (oH, oW)) or
    ``output_ratio`` (in (0, 1): out = int(in * ratio)); ``_random_samples`` (N, C, 2), torch's
    (w, h) order, fixes the samples, else they are drawn from fastnn's RNG at each forward.
    ``return_indices``: also the flat index h * W + w of each maximum in its plane.
    Shape: (N, C, H, W) or (C, H, W) -> (N, C, oH, oW)."""

    _n = 2


class FractionalMaxPool3d(_FractionalMaxPool):
    """FractionalMaxPool2d over (T, H, W) (torch.nn.FractionalMaxPool3d): ``_random_samples``
    (N, C, 3) in (t, h, w) order; indices t * H * W + h * W + w.
    Shape: (N, C, T, H, W) or (C, T, H, W) -> (N, C, oT, oH, oW)."""

    _n = 3


# --- AdaptiveLogSoftmaxWithLoss ----------------------------------------------------------------

class TargetRangeError(ValueError, RuntimeError):
    """A target outside [0, n_classes) (torch raises RuntimeError; a ValueError too, as fastnn's)."""


class _ASMoutput(NamedTuple):
    output: object
    loss: object


def _log_softmax64(z):
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    lse = np.log(e.sum(axis=1, keepdims=True))
    return z - m - lse


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation (Grave et al. 2016; torch.nn.AdaptiveLogSoftmaxWithLoss).

    The classes [0, cutoffs[0]) (the shortlist) and one entry per cluster are scored by ``head``
    (Linear(in_features, cutoffs[0] + n_clusters, bias=head_bias)); cluster i (the classes
    [cutoffs[i], cutoffs[i + 1]), the last up to n_classes) by ``tail[i]`` = Sequential(Linear(in,
    in // div_value ** (i + 1), bias=False), Linear(that, cluster size, bias=False)).
    ``forward(input, target)`` (or calling the module with both) -> (output, loss): output[b] the
    log-probability of target[b], loss = -mean(output) (torch's). ``backward(dloss=1.0,
    doutput=None)`` -> d input, after forward(input, target): accumulates every weight's gradient.
    ``log_prob(input)`` -> (B, n_classes) log-probabilities, ``predict(input)`` -> their argmax
    (no backward through either). Computed in float64, rounded to the input's dtype.
    Shape: input (B, in_features) with target (B,), or (in_features,) with a 0-d target.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0, head_bias: bool = False):
        super().__init__()
        self.in_features = check_int("in_features", in_features)
        self.n_classes = check_int("n_classes", n_classes)
        ok = isinstance(cutoffs, (list, tuple)) and len(cutoffs) > 0 and all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in cutoffs)
        if not ok or list(cutoffs) != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > self.n_classes - 1 \
                or len(set(cutoffs)) != len(cutoffs):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted in an increasing "
                             f"order, where each value is between 1 and n_classes-1. Received: cutoffs={cutoffs!r}")
        self.div_value = check_float_arg("div_value", div_value, low=0.0, low_open=True)
        self.head_bias = check_bool("head_bias", head_bias)
        self.cutoffs = [int(c) for c in cutoffs] + [self.n_classes]
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias)
        tails = []
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            if hsz < 1:
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss: cluster {i}'s projection has in_features // "
                                 f"div_value ** {i + 1} = 0 features (fastnn's Linear needs >= 1). Received: "
                                 f"in_features={in_features}, div_value={div_value}")
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tails.append(Sequential(Linear(self.in_features, hsz, bias=False), Linear(hsz, osz, bias=False)))
        self.tail = ModuleList(tails)
        self._cache = None

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for t in self.tail:
            for layer in t:
                layer.reset_parameters()

    def _check(self, x):
        _check_float_input(self, x, (1, 2), state=self.head.weight.data)
        if x.shape[-1] != self.in_features:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss expects input of shape (B, {self.in_features}) or "
                             f"({self.in_features},), got {x.shape}")

    def _host64(self, a):
        a = _device.move(a, "cpu") if _device.device_of(a) not in (None, "cpu") else a
        return np.asarray(a).astype(F64)

    @staticmethod
    def _on(a, like):
        """host array a as like's dtype, on like's device (the computation runs on the host)."""
        a = a.astype(like.dtype)
        device = _device.device_of(like)
        return _device.move(a, device) if device not in (None, "cpu") else a

    def forward(self, input, target=None):
        if target is None:
            raise TypeError("AdaptiveLogSoftmaxWithLoss.forward needs (input, target); log_prob(input) gives "
                            "every class's log-probability")
        self._check(input)
        t = np.asarray(_device.move(target, "cpu") if _device.device_of(target) not in (None, "cpu") else target)
        batched = input.ndim == 2
        if t.dtype.kind not in "iu" or t.ndim != (1 if batched else 0) or (batched and t.shape[0] != input.shape[0]):
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: target must be an integer array of shape "
                             f"{(input.shape[0],) if batched else ()} for an input of shape {input.shape}, got "
                             f"{t.dtype} {t.shape}")
        x = self._host64(input).reshape(-1, self.in_features)
        t = t.reshape(-1).astype(np.int64)
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise TargetRangeError(f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                             f"[{t.min()}, {t.max()}] were found.")
        B = x.shape[0]
        out = np.zeros(B)
        gather = t.copy()
        clusters = []
        for i in range(1, len(self.cutoffs)):
            low, high = self.cutoffs[i - 1], self.cutoffs[i]
            rows = np.nonzero((t >= low) & (t < high))[0]
            if rows.size == 0:
                continue
            a = self._host64(self.tail[i - 1][0].weight.data)
            b = self._host64(self.tail[i - 1][1].weight.data)
            u = x[rows] @ a.T
            lc = _log_softmax64(u @ b.T)
            rel = t[rows] - low
            gather[rows] = self.shortlist_size + i - 1
            out[rows] = lc[np.arange(rows.size), rel]
            clusters.append((i - 1, rows, rel, u, lc))
        h = x @ self._host64(self.head.weight.data).T
        if self.head.bias is not None:
            h = h + self._host64(self.head.bias.data)
        lh = _log_softmax64(h)
        out += lh[np.arange(B), gather]
        loss = -out.mean() if B else np.float64(np.nan)
        self._cache = (x, gather, lh, clusters, input.shape, input[:0], batched)  # input[:0]: its dtype and device
        dt = input.dtype
        output = out.astype(dt)
        if not batched:
            output = output.reshape(())
        return _ASMoutput(_device.move(output, _device.device_of(input)) if _device.device_of(input) != "cpu"
                          else output, np.asarray(loss, dt))

    def backward(self, dloss=1.0, doutput=None):
        """d input from the loss's gradient (dloss, default 1) and, optionally, the output's."""
        _need_forward(self, self._cache)
        x, gather, lh, clusters, shape, like, batched = self._cache
        B = x.shape[0]
        d = np.full(B, -float(dloss) / B) if B else np.zeros(0)
        if doutput is not None:
            do = self._host64(doutput)
            if do.size != B or do.shape != ((B,) if batched else ()):
                raise ValueError(f"AdaptiveLogSoftmaxWithLoss.backward expects doutput of shape "
                                 f"{(B,) if batched else ()}, got {do.shape}")
            d = d + do.reshape(-1)
        dh = -np.exp(lh) * d[:, None]
        dh[np.arange(B), gather] += d
        wh = self._host64(self.head.weight.data)
        dx = dh @ wh
        self.head.weight.add_grad(self._on(dh.T @ x, self.head.weight.data))
        if self.head.bias is not None:
            self.head.bias.add_grad(self._on(dh.sum(axis=0), self.head.bias.data))
        for k, rows, rel, u, lc in clusters:
            pa, pb = self.tail[k][0].weight, self.tail[k][1].weight
            dr = d[rows]
            dc = -np.exp(lc) * dr[:, None]
            dc[np.arange(rows.size), rel] += dr
            b64 = self._host64(pb.data)
            pb.add_grad(self._on(dc.T @ u, pb.data))
            du = dc @ b64
            pa.add_grad(self._on(du.T @ x[rows], pa.data))
            dx[rows] += du @ self._host64(pa.data)
        # a cluster no target fell in gets no gradient (torch's grad None: optimizers skip it)
        self._cache = None
        return self._on(dx.reshape(shape), like)

    def log_prob(self, input):
        """(B, n_classes) (or (n_classes,)) log-probabilities of every class."""
        self._check(input)
        x = self._host64(input).reshape(-1, self.in_features)
        h = x @ self._host64(self.head.weight.data).T
        if self.head.bias is not None:
            h = h + self._host64(self.head.bias.data)
        lh = _log_softmax64(h)
        out = np.empty((x.shape[0], self.n_classes))
        out[:, :self.shortlist_size] = lh[:, :self.shortlist_size]
        for i, (start, stop) in enumerate(zip(self.cutoffs, self.cutoffs[1:])):
            a = self._host64(self.tail[i][0].weight.data)
            b = self._host64(self.tail[i][1].weight.data)
            out[:, start:stop] = _log_softmax64((x @ a.T) @ b.T) + lh[:, self.shortlist_size + i:self.shortlist_size + i + 1]
        return self._on(out if input.ndim == 2 else out[0], input)

    def predict(self, input):
        """The most likely class of each row (int64), argmax of log_prob."""
        lp = self.log_prob(input)
        return _device.xp_of(lp).asarray(lp.argmax(axis=-1), np.int64)

    def get_config(self):
        return {"in_features": self.in_features, "n_classes": self.n_classes, "cutoffs": self.cutoffs[:-1],
                "div_value": self.div_value, "head_bias": self.head_bias}
