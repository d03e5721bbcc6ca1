"""Parameter and Module: the state every layer and container shares.

A Module holds parameters (trainable arrays with a gradient), buffers (state that is saved but
not trained, e.g. BatchNorm's running statistics) and child modules, all in insertion order so
``parameters()`` and ``state_dict()`` are deterministic. Layers implement ``forward(x)`` (caching
only what backward needs) and ``backward(dy)`` (returning dx and accumulating into
``param.grad``); containers compose them, so no general autograd is needed.
"""
from __future__ import annotations

import functools
import inspect
import numbers
import types
from collections import OrderedDict
from typing import Callable, Iterator, Mapping, NamedTuple, TypeVar

import numpy as np

from .. import _device
from .._device import CPU, CUDA
from ..hooks import RemovableHandle, add_hook

__all__ = ["Parameter", "Buffer", "Module", "StateDictError", "IncompatibleKeys", "LAYER_REGISTRY", "check_int",
           "check_float_arg", "pair", "has_hooks", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_pre_hook", "register_module_full_backward_hook",
           "register_module_backward_hook", "register_module_module_registration_hook",
           "register_module_parameter_registration_hook", "register_module_buffer_registration_hook"]

# Every Module subclass by name, for fastnn.load to rebuild an architecture from its JSON config:
# under its class name, and under "module.QualName". A class of another package (a user's) never
# takes over the class name of one of fastnn's own: an unrelated user `class ReLU(Module)` changed
# what fastnn.load built for every saved ReLU. Such a class is saved under its qualified name
# (layer_type_name). Among other classes the latest of a name wins (a notebook cell run again).
LAYER_REGISTRY: dict[str, type] = {}


def _is_fastnn_class(cls) -> bool:
    return cls.__module__ == "fastnn" or cls.__module__.startswith("fastnn.")


def _qualified_name(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _register_layer(cls) -> None:
    LAYER_REGISTRY[_qualified_name(cls)] = cls
    current = LAYER_REGISTRY.get(cls.__name__)
    if current is None or _is_fastnn_class(cls) or not _is_fastnn_class(current):
        LAYER_REGISTRY[cls.__name__] = cls


# torch.nn's layers whose constructors take the factory keywords device= and dtype= (where and
# in what dtype their parameters and buffers are made); fastnn's classes of these names get
# them added (_with_factory_kwargs) unless their __init__ has its own (RNNBase's).
_FACTORY_KWARGS_LAYERS = frozenset({
    "AdaptiveLogSoftmaxWithLoss", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Bilinear", "Conv1d", "Conv2d",
    "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "GRUCell",
    "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LSTMCell", "LayerNorm", "Linear",
    "MultiheadAttention", "PReLU", "RMSNorm", "RNNCell", "SyncBatchNorm", "Transformer",
    "TransformerDecoderLayer", "TransformerEncoderLayer"})


def _factory_dtype(dtype):
    """A dtype as NumPy's: NumPy dtypes and names, or a torch dtype (``torch.float64``)."""
    try:
        return np.dtype(dtype)
    except TypeError:
        name = str(dtype)
        if name.startswith("torch."):
            try:
                return np.dtype(name[len("torch."):])
            except TypeError:
                pass
        raise TypeError(f"dtype must be float32 or float64 (a NumPy or torch dtype), got {dtype!r}") from None


def _with_factory_kwargs(init):
    """``init`` taking torch's keyword-only factory arguments too: ``device`` ("cpu", "cuda",
    "cuda:0" or a torch.device) and ``dtype`` (float32 or float64: NumPy's, a name, or torch's).
    The layer is built as usual, then moved / cast (``Module.to``)."""
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, device=None, dtype=None, **kwargs):
        init(self, *args, **kwargs)
        if device is not None or dtype is not None:
            self.to(device=None if device is None else str(device),
                    dtype=None if dtype is None else _factory_dtype(dtype))

    params = list(sig.parameters.values())
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None) for name in ("device", "dtype")]
    tail = [q for q in params if q.kind == inspect.Parameter.VAR_KEYWORD]
    __init__.__signature__ = sig.replace(parameters=[q for q in params if q not in tail] + extra + tail)
    return __init__


def layer_type_name(cls) -> str:
    """The name a model file records for a layer class: its class name when that finds it in
    LAYER_REGISTRY, else its qualified name (a user class named as one of fastnn's)."""
    return cls.__name__ if LAYER_REGISTRY.get(cls.__name__) is cls else _qualified_name(cls)


class Buffer:
    """A buffer to be (torch.nn.Buffer): ``self.running = nn.Buffer(np.zeros(3))`` in a Module's
    ``__init__`` is ``self.register_buffer("running", array, persistent)``; the attribute is then
    the array itself. ``data`` None is an empty float32 array (torch's empty tensor);
    ``persistent=False`` keeps it out of ``state_dict``."""

    __slots__ = ("data", "persistent")

    def __init__(self, data=None, *, persistent: bool = True):
        if data is None:
            data = np.empty(0, np.float32)
        if _device.device_of(data) is None:
            raise TypeError(f"Buffer data must be a numpy.ndarray or cupy.ndarray, got {type(data).__name__}")
        if not isinstance(persistent, (bool, np.bool_)):
            raise TypeError(f"persistent must be True or False. Received: persistent={persistent!r}")
        self.data, self.persistent = data, bool(persistent)

    def __repr__(self):
        return f"Buffer({self.data!r}, persistent={self.persistent})"


class Parameter:
    """A trainable array and its gradient.

    Attributes:
        data: the values (float32 by default; float64 for gradient checks): a NumPy array, or a
            CuPy array for a parameter on the GPU (``Module.to("cuda")``).
        grad: the accumulated gradient, same shape, dtype and device as data (zeros until a backward).
        trainable: False excludes it from optimizer updates and backward keeps no gradient for
            it (``Module.freeze``).
        device: "cpu" or "cuda" (read-only; ``Module.to`` moves parameters).

    ``zero_grad()`` is lazy: it only marks the gradient as zero, and the next backward writes
    its result instead of adding it (``accumulate``), so no pass clears the array first.
    Reading ``grad`` in between gives zeros, as always. Until a backward (or a write through
    ``grad``) gives it a gradient, ``has_grad`` is False, for a new parameter too: optimizers
    and gradient clipping then skip it, as PyTorch skips a parameter whose ``grad`` is None
    (``zero_grad()`` sets it to None by default), so a parameter that took no part in a
    backward keeps its value, its optimizer state and its step count.
    """

    # _derived: a frozen holder of values computed from other parameters (weight_norm's and
    # parametrize's weight), whose gradient a backward must still produce for the chain rule
    __slots__ = ("data", "_grad", "_grad_is_zero", "trainable", "_derived")

    def __init__(self, data, grad=None, trainable: bool = True):
        if _device.device_of(data) == CUDA:
            data = _device.require_cuda().ascontiguousarray(data)
        else:
            data = np.ascontiguousarray(data)
        if data.dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter data must be float32 or float64, got {data.dtype}")
        self.data = data
        if grad is None:
            self._grad = _device.zeros_like(data)
            self._grad_is_zero = True  # no gradient yet (PyTorch: grad is None)
        elif grad.shape != data.shape or grad.dtype != data.dtype:
            raise ValueError(f"grad must match data ({data.shape}, {data.dtype}), got ({grad.shape}, {grad.dtype})")
        elif _device.device_of(grad) != _device.device_of(data):
            raise ValueError(f"grad must be on the device of data ({_device.device_of(data)}), "
                             f"got {_device.describe(grad)}")
        else:
            self.grad = grad
        self.trainable = bool(trainable)
        self._derived = False

    def _fresh_grad(self):
        """The gradient array, re-made (zeros like data) when data was replaced by an array of
        another shape, dtype or device while the gradient was zero; refused when a gradient
        had accumulated (it cannot belong to the new values)."""
        g, d = self._grad, self.data
        if g.shape == d.shape and g.dtype == d.dtype and type(g) is type(d):
            return g
        if not self._grad_is_zero:
            raise RuntimeError(f"Parameter data was replaced by an array of {d.shape} {d.dtype} "
                               f"({_device.describe(d)}) while its gradient ({g.shape} {g.dtype}) held a value: "
                               f"call zero_grad() first, or use Module.to(dtype=...) / .to(device)")
        self._grad = _device.zeros_like(d)
        return self._grad

    @property
    def grad(self):
        self._fresh_grad()
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value
        self._grad_is_zero = False

    @property
    def has_grad(self) -> bool:
        """False from ``zero_grad()`` (or creation) until a backward or a write through ``grad``."""
        return not self._grad_is_zero

    def accumulate(self):
        """(gradient array, beta) for a kernel that adds its result into the gradient: beta is
        0.0 right after ``zero_grad`` (the kernel must then write every element, nothing needs
        clearing first), else 1.0. A frozen parameter (``trainable=False``) gets its array as
        scratch with beta 0 and keeps no gradient (``has_grad`` stays False, ``grad`` reads
        zeros), as PyTorch leaves the grad of a parameter without requires_grad None."""
        self._fresh_grad()
        if not self.trainable and not getattr(self, "_derived", False):
            return self._grad, 0.0
        if self._grad_is_zero:
            self._grad_is_zero = False
            return self._grad, 0.0
        return self._grad, 1.0

    def add_grad(self, value) -> None:
        """grad += value (a plain copy right after ``zero_grad``)."""
        grad, beta = self.accumulate()
        if beta != 0.0:
            grad += value
        elif isinstance(grad, np.ndarray):
            np.copyto(grad, value)
        else:
            grad[...] = value

    @property
    def device(self) -> str:
        """"cpu" (NumPy data) or "cuda" (CuPy data)."""
        return CPU if isinstance(self.data, np.ndarray) else CUDA

    def _move(self, device: str) -> None:
        """data and grad onto device (Module.to); a lazily zeroed gradient stays lazily zeroed."""
        if self.device != device:
            self.data = _device.move(self.data, device)
            self._grad = _device.move(self._grad, device)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def requires_grad(self) -> bool:
        """PyTorch's name for ``trainable``: ``p.requires_grad = False`` freezes p (optimizers
        skip it), as ``Module.freeze`` / ``requires_grad_(False)``."""
        return self.trainable

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be a bool. Received: requires_grad={value!r}")
        self.trainable = bool(value)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """No gradient until the next backward (PyTorch's ``grad = None``: optimizers skip the
        parameter), or, with ``set_to_none=False``, a gradient of zeros that optimizers do apply
        (weight decay and momentum still move the parameter, the step count advances), as PyTorch's."""
        if set_to_none:
            self._grad_is_zero = True
        else:
            self._grad.fill(0)
            self._grad_is_zero = False

    def __repr__(self) -> str:
        frozen = "" if self.trainable else ", trainable=False"
        device = "" if self.device == CPU else f", device={self.device!r}"
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype}{device}{frozen})"


def check_int(name: str, value, minimum: int = 1):
    """An int >= minimum, or a ValueError/TypeError in Keras style ("Received: units=-3")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}. Received: {name}={value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """A bool (NumPy's too), or a TypeError in Keras style ("Received: inplace='yes'")."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool. Received: {name}={value!r}")
    return bool(value)


def as_given(value):
    """A real number as torch keeps a constructor argument: an integer stays an int (so
    ``Softplus(beta=2)`` prints ``beta=2``), anything else becomes a float."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_float_arg(name: str, value, low=None, high=None, low_open=False, high_open=False):
    """A real number within [low, high] (open ends when asked), else a clear error. An integer
    stays an int (as torch keeps the value given: ``Softplus(beta=2)`` prints ``beta=2``),
    anything else becomes a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number. Received: {name}={value!r}")
    value = as_given(value)
    bad = not np.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        rng = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be a finite number in {rng}. Received: {name}={value!r}")
    return value


def pair(name: str, value, minimum: int = 1) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= minimum, as a tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w). Received: {name}={value!r}")
        return (check_int(name, value[0], minimum), check_int(name, value[1], minimum))
    v = check_int(name, value, minimum)
    return (v, v)


class StateDictError(ValueError, RuntimeError):
    """A state dict that does not fit the model (missing or unexpected keys, a shape or dtype
    that differs). A RuntimeError, as PyTorch's, and a ValueError, as fastnn raised before."""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` did not load (PyTorch's ``_IncompatibleKeys``)."""
    missing_keys: list
    unexpected_keys: list


class Members(list):
    """What parameters(), named_parameters(), buffers(), children() and modules() return: a list
    (len, indexing, iterating as often as needed) that is also an iterator over its items, so
    torch's idioms for its generators work: ``next(model.parameters())`` is the first parameter."""

    __slots__ = ("_next",)

    def __next__(self):
        i = getattr(self, "_next", 0)
        if i >= len(self):
            raise StopIteration
        self._next = i + 1
        return self[i]


class Module:
    """Base class of every layer, container and model.

    Subclasses implement ``forward(x)`` and ``backward(dy)``; assign ``Parameter`` and ``Module``
    attributes (registered in order) and call ``register_buffer`` for saved non-trained state.
    ``get_config()`` returns the constructor arguments (JSON-serializable) so ``fastnn.save``
    can store the architecture.
    """

    # Buffers a state dict may lack (checkpoints from before they were saved): they keep their
    # value, as PyTorch's BatchNorm fills in a missing num_batches_tracked.
    _optional_state: tuple = ()

    # torch.nn.Module's class attributes (nothing in fastnn reads them)
    dump_patches: bool = False
    call_super_init: bool = False
    T_destination = TypeVar("T_destination", bound=dict)
    _version: int = 1

    # Hook registries (torch's attribute names); an instance gets its own dicts in __init__,
    # these empty read-only ones stand in for an instance made without it.
    _forward_pre_hooks = _forward_pre_hooks_with_kwargs = types.MappingProxyType({})
    _forward_hooks = _forward_hooks_with_kwargs = _forward_hooks_always_called = types.MappingProxyType({})
    _backward_pre_hooks = _backward_hooks = types.MappingProxyType({})
    _state_dict_pre_hooks = _state_dict_hooks = types.MappingProxyType({})
    _load_state_dict_pre_hooks = _load_state_dict_post_hooks = types.MappingProxyType({})
    _is_full_backward_hook = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _register_layer(cls)
        if cls.__name__ in _FACTORY_KWARGS_LAYERS and _is_fastnn_class(cls) and \
                "dtype" not in inspect.signature(cls.__init__).parameters:  # its own __init__ or a base's
            cls.__init__ = _with_factory_kwargs(cls.__init__)
        bw = cls.__dict__.get("backward")
        if isinstance(bw, types.FunctionType) and not hasattr(bw, "_fastnn_hooked"):
            cls.backward = _hookable_backward(bw)

    def __init__(self):
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)
        for name in _HOOK_DICTS:
            object.__setattr__(self, name, OrderedDict())

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        if isinstance(value, Buffer):  # torch's nn.Buffer: registered, the attribute is its array
            self.register_buffer(name, value.data, persistent=value.persistent)
            return
        # a new value for a registered name keeps its place (PyTorch's): a parameter or child
        # replaced (model.fc = Linear(...), seq[0] = ...) stays where it was in parameters(),
        # state_dict() and a Sequential's order
        if isinstance(value, Parameter):
            if _global_parameter_registration_hooks:
                value = _registration(_global_parameter_registration_hooks, self, name, value)
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            if _global_module_registration_hooks:
                value = _registration(_global_module_registration_hooks, self, name, value)
            self._parameters.pop(name, None)
            self._modules[name] = value
        else:
            if name in self._buffers:
                if _device.device_of(value) is None:
                    raise TypeError(f"buffer {name!r} must be a numpy.ndarray or cupy.ndarray, "
                                    f"got {type(value).__name__}")
                self._buffers[name] = value
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        """``del module.name`` unregisters a parameter, buffer or child too (PyTorch's)."""
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def add_module(self, name: str, module: "Module") -> None:
        """Register ``module`` as the child ``name`` (``setattr(self, name, module)``), with
        PyTorch's checks: name a non-empty str without ".", not an attribute other than a child."""
        if not isinstance(module, Module):
            raise TypeError(f"module must be a fastnn.nn.Module. Received: module={module!r}")
        if not isinstance(name, str):
            raise TypeError(f"module name must be a str. Received: name={name!r}")
        if not name or "." in name:
            raise KeyError(f"module name must be non-empty and contain no '.'. Received: name={name!r}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists. Received: name={name!r}")
        setattr(self, name, module)

    def register_buffer(self, name: str, value: np.ndarray, persistent: bool = True) -> None:
        """State that is not trained (e.g. running statistics), moved and cast with the model.
        It is saved in ``state_dict`` unless ``persistent=False`` (PyTorch's: a cache that a
        checkpoint should not hold)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"buffer name must be a non-empty str without '.'. Received: name={name!r}")
        if _device.device_of(value) is None:
            raise TypeError(f"buffer {name!r} must be a numpy.ndarray or cupy.ndarray, got {type(value).__name__}")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists. Received: name={name!r}")
        if _global_buffer_registration_hooks:
            value = _registration(_global_buffer_registration_hooks, self, name, value)
        self._buffers[name] = value
        if persistent:
            self.__dict__.get("_non_persistent", set()).discard(name)
        else:
            if "_non_persistent" not in self.__dict__:
                object.__setattr__(self, "_non_persistent", set())
            self._non_persistent.add(name)
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter) -> None:
        """``setattr(self, name, param)`` with PyTorch's checks (a Parameter, a new or parameter name)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"parameter name must be a non-empty str without '.'. Received: name={name!r}")
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            f"(fastnn.nn.Parameter expected)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists. Received: name={name!r}")
        setattr(self, name, param)

    def get_submodule(self, target: str) -> "Module":
        """The module at a dotted path (``"features.0"``; ``""`` is self), as PyTorch's; an
        AttributeError names the first part that is not a child."""
        mod = self
        if target == "":
            return mod
        for part in target.split("."):
            if part not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no child module {part!r} (in target {target!r})")
            mod = mod._modules[part]
        return mod

    def _member(self, target: str, registry: str, what: str):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{type(mod).__name__} has no attribute `{name}`")
        members = getattr(mod, registry)
        if name not in members:
            raise AttributeError(f"`{name}` is not {what}")
        return members[name]

    def get_parameter(self, target: str) -> Parameter:
        """The Parameter at a dotted path (``"features.0.weight"``), as PyTorch's; AttributeError
        naming what is not there, or what is not a Parameter."""
        return self._member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str):
        """The buffer array at a dotted path (``"bn.running_mean"``), as PyTorch's."""
        return self._member(target, "_buffers", "a buffer")

    def set_submodule(self, target: str, module: "Module", strict: bool = False) -> None:
        """Put ``module`` at a dotted path (``"features.0"``), as PyTorch's: the parents must
        exist; ``strict=True`` only replaces an existing child. ValueError for an empty target,
        AttributeError for a missing parent or (strict) child."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent_path, _, name = target.rpartition(".")
        parent = self.get_submodule(parent_path)
        if strict and name not in parent._modules:
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if hasattr(parent, name) and name not in parent._modules:
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def register_module(self, name: str, module: "Module") -> None:
        """Alias of ``add_module`` (PyTorch's)."""
        self.add_module(name, module)

    # ---- computation -------------------------------------------------------------------
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        """forward(...): the inputs (a second input, masks, states, or none) go to forward, as
        torch's Module.__call__ passes them; forward pre-hooks and hooks run around it."""
        if self._forward_pre_hooks or self._forward_hooks or _global_forward_pre_hooks or _global_forward_hooks:
            return self._call_with_hooks(args, kwargs)
        y = self.forward(*args, **kwargs)
        if _summary_records is not None:
            _summary_records.append((self, getattr(y, "shape", None)))
        return y

    def _call_with_hooks(self, args: tuple, kwargs: dict):
        # every module's hooks (register_module_forward_*_hook) first, then this module's, as torch
        for hook_id, hook in [*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()]:
            if hook_id in self._forward_pre_hooks_with_kwargs:
                out = hook(self, args, kwargs)
                if out is not None:
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                           f"new_kwargs), but got {out}.")
                    args, kwargs = out
            else:
                out = hook(self, args)
                if out is not None:
                    args = out if isinstance(out, tuple) else (out,)
        called = set()
        try:
            y = self.forward(*args, **kwargs)
            for hook_id, hook in [*_global_forward_hooks.items(), *self._forward_hooks.items()]:
                called.add(hook_id)
                if hook_id in self._forward_hooks_with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                    out = hook(self, args, kwargs, y)
                else:
                    out = hook(self, args, y)
                if out is not None:
                    y = out
        except Exception:
            # always_call hooks run even when forward (or an earlier hook) raised, as torch's;
            # the original exception is the one that propagates
            for hook_id, hook in [*_global_forward_hooks.items(), *self._forward_hooks.items()]:
                always = hook_id in self._forward_hooks_always_called or hook_id in _global_forward_hooks_always_called
                if always and hook_id not in called:
                    try:
                        if hook_id in self._forward_hooks_with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:
                        pass
            raise
        if _summary_records is not None:
            _summary_records.append((self, getattr(y, "shape", None)))
        return y

    # ---- hooks -------------------------------------------------------------------------
    def _own_hooks(self, name: str) -> OrderedDict:
        d = self.__dict__.get(name)
        if d is None:  # an instance made without Module.__init__
            d = OrderedDict()
            object.__setattr__(self, name, d)
        return d

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` before every ``module(...)`` call (args: the positional inputs
        as a tuple); a return value other than None replaces the inputs (a single value is
        wrapped in a tuple). ``with_kwargs=True``: ``hook(module, args, kwargs)`` returning None
        or ``(new_args, new_kwargs)``. ``prepend``: run before the hooks already registered.
        Hooks run on ``module(x)``, not on a direct ``module.forward(x)`` (torch's rule); a layer
        with hooks is not fused with its neighbour inside a Sequential. Returns a handle whose
        ``remove()`` unregisters the hook."""
        hooks = self._own_hooks("_forward_pre_hooks")
        kw = self._own_hooks("_forward_pre_hooks_with_kwargs")
        handle = add_hook(hooks, hook, prepend, extra=(kw,))
        if with_kwargs:
            kw[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """``hook(module, args, output)`` after every ``module(...)`` call; a return value other
        than None replaces the output. ``with_kwargs=True``: ``hook(module, args, kwargs, output)``.
        ``always_call=True``: also called (with output None) when forward raised, the exception
        then propagating. Returns a removable handle (see register_forward_pre_hook)."""
        hooks = self._own_hooks("_forward_hooks")
        kw = self._own_hooks("_forward_hooks_with_kwargs")
        always = self._own_hooks("_forward_hooks_always_called")
        handle = add_hook(hooks, hook, prepend, extra=(kw, always))
        if with_kwargs:
            kw[handle.id] = True
        if always_call:
            always[handle.id] = True
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` before every ``module.backward(dy)``: grad_output is the
        tuple ``(dy,)`` (dy itself when backward takes a tuple); a return value other than None
        (a tuple of the same length) replaces it. Returns a removable handle."""
        return self._add_backward_hook("_backward_pre_hooks", hook, prepend, full=None)

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` after every ``module.backward(dy)``:
        grad_input is ``(dx,)`` (the tuple backward returns for several inputs; ``(None,)``
        where backward skipped dx, as fit asks of the first layer), grad_output ``(dy,)``; a
        return value other than None (a tuple of the same length) replaces grad_input, i.e.
        what backward returns. Hooks run when backward is called on the module, by a container
        or by hand. Returns a removable handle."""
        return self._add_backward_hook("_backward_hooks", hook, prepend, full=True)

    def register_backward_hook(self, hook) -> RemovableHandle:
        """The deprecated non-full backward hook: in fastnn each layer's backward is one step,
        so it sees what a full backward hook sees. It cannot be mixed with full hooks on one
        module (torch's RuntimeError)."""
        return self._add_backward_hook("_backward_hooks", hook, False, full=False)

    def _add_backward_hook(self, name: str, hook, prepend: bool, full) -> RemovableHandle:
        if full is not None:
            if self._is_full_backward_hook is not None and self._is_full_backward_hook != full \
                    and self._backward_hooks:
                raise RuntimeError("Cannot use both regular backward hooks and full backward hooks on a "
                                   "single Module. Please use only one of them.")
            object.__setattr__(self, "_is_full_backward_hook", full)
        handle = add_hook(self._own_hooks(name), hook, prepend)
        object.__setattr__(self, "_bw_hooked", True)
        return handle

    def register_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` before ``state_dict()`` collects this module's entries."""
        return add_hook(self._own_hooks("_state_dict_pre_hooks"), hook)

    def register_state_dict_post_hook(self, hook) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` after this module's entries (its
        children's included) are in ``state_dict``; it may change the dict in place and must
        return None."""
        return add_hook(self._own_hooks("_state_dict_hooks"), hook)

    def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` before ``load_state_dict`` loads anything. It may edit
        ``state_dict`` (a copy of the caller's: rename or convert old keys) and append messages
        to ``error_msgs`` (each one makes the load fail with them)."""
        return add_hook(self._own_hooks("_load_state_dict_pre_hooks"), hook)

    def register_load_state_dict_post_hook(self, hook) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` after ``load_state_dict`` loaded the matching keys;
        it may remove entries from ``incompatible_keys.missing_keys`` / ``.unexpected_keys`` in
        place (a strict load fails on what is left) and must return None."""
        return add_hook(self._own_hooks("_load_state_dict_post_hooks"), hook)

    # ---- traversal ---------------------------------------------------------------------
    def children(self) -> list["Module"]:
        """The direct child modules, each once (a child registered under two names, once), as PyTorch."""
        return Members({id(m): m for m in self._modules.values()}.values())

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """(name, child) pairs of the direct children, each child once (at its first name), as PyTorch."""
        seen = set()
        for name, m in self._modules.items():
            if id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) pairs, self first, then depth first in registration order. A module
        that appears at several places (a shared layer) is listed once, at its first place, unless
        ``remove_duplicate=False`` (PyTorch's rule; ``state_dict`` lists every place)."""
        seen = set()

        def walk(mod, path):
            if remove_duplicate:
                if id(mod) in seen:
                    return
                seen.add(id(mod))
            yield path, mod
            for name, child in mod._modules.items():
                yield from walk(child, f"{path}.{name}" if path else name)

        return walk(self, prefix)

    def modules(self) -> list["Module"]:
        return Members(m for _, m in self.named_modules())

    def apply(self, fn: Callable[["Module"], object]) -> "Module":
        """fn(module) for every child (recursively, each child's children first), then for self,
        as PyTorch's (``model.apply(init_weights)``). Returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        mods = self.named_modules(prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        out = Members()
        for mod_name, mod in mods:
            for name, value in getattr(mod, registry).items():
                if remove_duplicate:
                    if id(value) in seen:  # a parameter shared by two layers is listed once
                        continue
                    seen.add(id(value))
                out.append((f"{mod_name}.{name}" if mod_name else name, value))
        return out

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> list[tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs in registration order, children after own; only self's
        with ``recurse=False``; a shared parameter once unless ``remove_duplicate=False`` (PyTorch's)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        """The Parameters, as named_parameters: a list that is also an iterator over itself
        (``next(model.parameters())``, torch's idiom for the first one, works)."""
        return Members(p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> list[tuple[str, np.ndarray]]:
        """(dotted name, buffer) pairs, as named_parameters (non-persistent buffers too)."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> list[np.ndarray]:
        return Members(b for _, b in self.named_buffers(recurse=recurse))

    # ---- modes and gradients -----------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, (bool, np.bool_)):   # PyTorch's check: train("no") is not eval()
            raise ValueError(f"training mode is expected to be boolean. Received: mode={mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Every parameter's ``zero_grad(set_to_none)`` (see Parameter.zero_grad)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def freeze(self) -> "Module":
        """Mark every parameter non-trainable: optimizers skip them (transfer learning).

        BatchNorm running statistics still update in train mode; call ``eval()`` on a frozen
        BatchNorm to keep them fixed too (PyTorch behaves the same).
        """
        for p in self.parameters():
            p.trainable = False
        return self

    def unfreeze(self) -> "Module":
        for p in self.parameters():
            p.trainable = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """PyTorch's spelling of ``unfreeze()`` / ``freeze()`` (``requires_grad_(False)``). Returns self."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, device=None, dtype=None) -> "Module":
        """Move and/or cast in place, PyTorch style: ``to("cuda")``, ``to(np.float64)``,
        ``to("cpu", np.float32)``, ``to(device=..., dtype=...)``. Returns self.

        device: "cpu" (NumPy arrays) or "cuda" (CuPy arrays on CuPy's current device); moves every
            parameter, its gradient and every buffer (BatchNorm running statistics). Optimizer slots
            follow their parameter at the next ``step()``. Moving to "cuda" without a device raises
            RuntimeError saying why (CuPy missing, no GPU).
        dtype: float32 or float64; casts parameters, their gradients and floating buffers.
        """
        if device is not None and not isinstance(device, str):
            device = str(device)  # a torch.device
        for arg in args:
            if not isinstance(arg, str) and type(arg).__name__ == "device":
                arg = str(arg)  # torch.device("cpu")
            if _device.is_device_name(arg):
                if device is not None:
                    raise TypeError(f"to() got two devices: {device!r} and {arg!r}")
                device = arg
            else:
                if dtype is not None:
                    raise TypeError(f"to() got two dtypes: {dtype!r} and {arg!r}")
                dtype = arg
        if device is not None:
            self._move_to(_device.parse(device))
        if dtype is not None:
            self._cast_to(dtype)
        return self

    def _move_to(self, device: str, recurse: bool = True) -> None:
        for mod in (self.modules() if recurse else [self]):
            for p in mod._parameters.values():
                p._move(device)
            for name, b in list(mod._buffers.items()):
                setattr(mod, name, _device.move(b, device))

    def _cast_to(self, dtype) -> None:
        try:
            dtype = _factory_dtype(dtype)  # NumPy's, a name, or torch's (torch.float64)
        except TypeError:
            raise TypeError(f"to() takes a device ('cpu' or 'cuda') and/or a dtype (float32 or float64). "
                            f"Received: {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        for mod in self.modules():
            for p in mod._parameters.values():
                if p.data.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    # through _grad, not the grad property: reading grad would give a parameter
                    # without a gradient (has_grad False, which optimizers skip) a zero one
                    p._grad = p._grad.astype(dtype)
            for name, b in list(mod._buffers.items()):
                if b.dtype.kind == "f" and b.dtype != dtype:
                    setattr(mod, name, b.astype(dtype))

    def cuda(self) -> "Module":
        """``to("cuda")``: parameters, gradients and buffers onto the GPU. Returns self."""
        return self.to(CUDA)

    def cpu(self) -> "Module":
        """``to("cpu")``. Returns self."""
        return self.to(CPU)

    @property
    def device(self) -> str:
        """"cpu" or "cuda": where the parameters (and buffers) are; "cpu" for a model with neither."""
        for p in self.parameters():
            return p.device
        for _, b in self.named_buffers():
            return _device.device_of(b)
        return CPU

    def double(self) -> "Module":
        return self.to(np.float64)

    def type(self, dst_type) -> "Module":
        """Cast parameters and floating buffers to ``dst_type`` (float32 or float64), as
        ``to(dtype)``. Returns self."""
        return self.to(dst_type)

    def half(self) -> "Module":
        """Not offered: fastnn's kernels compute in float32 and float64 (TypeError saying so)."""
        raise TypeError("fastnn computes in float32 or float64; half precision (float16) is not "
                        "supported: use model.float() or model.double()")

    def bfloat16(self) -> "Module":
        """Not offered (NumPy has no bfloat16): TypeError saying so."""
        raise TypeError("fastnn computes in float32 or float64; bfloat16 is not supported: use "
                        "model.float() or model.double()")

    def share_memory(self) -> "Module":
        """No effect: fastnn's arrays live in this process (nothing to move to shared memory)."""
        return self

    def to_empty(self, *, device=None, recurse: bool = True) -> "Module":
        """Move to ``device`` (torch's: new uninitialized storage there; fastnn keeps the values,
        which is one valid content of uninitialized memory). ``recurse=False``: only this
        module's own parameters and buffers. Returns self."""
        if device is None:
            return self
        self._move_to(_device.parse(device), recurse=recurse)
        return self

    def _no_backend(self, name: str):
        raise RuntimeError(f"fastnn runs on 'cpu' and 'cuda'; there is no {name} backend")

    def ipu(self, device=None) -> "Module":
        self._no_backend("ipu")

    def xpu(self, device=None) -> "Module":
        self._no_backend("xpu")

    def mtia(self, device=None) -> "Module":
        self._no_backend("mtia")

    def float(self) -> "Module":
        return self.to(np.float32)

    @property
    def dtype(self):
        """The dtype of the first parameter (float32 for a model without parameters)."""
        for p in self.parameters():
            return p.data.dtype
        for _, b in self.named_buffers():
            if b.dtype.kind == "f":
                return b.dtype
        return np.dtype(np.float32)

    # ---- state -------------------------------------------------------------------------
    def _state_items(self):
        """(key, module, name) of every saved parameter and persistent buffer, at every place
        of the module tree (a shared layer under each of its names, as PyTorch's state_dict)."""
        for mod_name, mod in self.named_modules(remove_duplicate=False):
            skip = mod.__dict__.get("_non_persistent", ())
            for name in list(mod._parameters) + [b for b in mod._buffers if b not in skip]:
                yield (f"{mod_name}.{name}" if mod_name else name), mod, name

    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False) -> dict:
        """Copies of every parameter and persistent buffer, by dotted name, in a deterministic
        order (own entries, then the children's, depth first), on the model's device (CuPy
        arrays for a model on "cuda", as PyTorch; ``fastnn.save`` writes host copies).

        PyTorch's keywords: ``destination`` (a dict to fill and return), ``prefix`` (put before
        every key), ``keep_vars=True`` (the Parameter objects and buffer arrays themselves, not
        copies). A module whose class overrides ``get_extra_state`` adds ``<prefix>_extra_state``.
        State-dict pre-hooks run before a module's entries are collected, post-hooks after its
        subtree's."""
        if destination is None:
            destination = OrderedDict()  # torch's type (an ordered dict, as every dict now is)
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str. Received: prefix={prefix!r}")
        self._save_state(destination, prefix, bool(keep_vars))
        return destination

    def _save_state(self, dest: dict, prefix: str, keep_vars: bool) -> None:
        for hook in list(self._state_dict_pre_hooks.values()):
            hook(self, prefix, keep_vars)
        skip = self.__dict__.get("_non_persistent", ())
        for name, p in self._parameters.items():
            dest[prefix + name] = p if keep_vars else p.data.copy()
        for name, b in self._buffers.items():
            if name not in skip:
                dest[prefix + name] = b if keep_vars else b.copy()
        if type(self).get_extra_state is not Module.get_extra_state:
            dest[prefix + _EXTRA_STATE] = self.get_extra_state()
        for name, child in self._modules.items():
            child._save_state(dest, f"{prefix}{name}.", keep_vars)
        for hook in list(self._state_dict_hooks.values()):
            if hook(self, dest, prefix, {"version": self._version}) is not None:
                raise RuntimeError("state_dict post-hook must return None.")

    def load_state_dict(self, state_dict: Mapping, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values in: values are cast to the model's dtype for floating arrays and copied
        onto the model's device whichever device they are on, as PyTorch's. ``strict`` (the
        default) needs exactly the model's keys; ``strict=False`` loads the keys both have and
        returns the others as ``IncompatibleKeys(missing_keys, unexpected_keys)`` (PyTorch's).
        A shape or dtype kind that differs raises StateDictError either way, before anything
        is copied (the model is never left half loaded).

        ``assign=True`` (torch's): each parameter / buffer takes the given array itself (on the
        model's device, C-contiguous, float32 or float64 kept) instead of a copy into the old one.
        Load-state-dict pre-hooks see a copy of the dict first (and may edit it); post-hooks see
        the IncompatibleKeys after the matching keys are loaded (and may clear entries), and a
        strict load with post-hooks then fails on what they left, as torch's (the matching keys
        are loaded by then). A class overriding ``set_extra_state`` gets ``<prefix>_extra_state``."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict of arrays (dict-like), got {type(state_dict).__name__}")
        state = dict(state_dict)
        missing: list = []
        unexpected: list = []
        error_msgs: list = []
        modules = list(self.named_modules(remove_duplicate=False))
        for mod_name, mod in modules:
            for hook in list(mod._load_state_dict_pre_hooks.values()):
                hook(mod, state, f"{mod_name}." if mod_name else "", {"version": mod._version}, strict,
                     missing, unexpected, error_msgs)
        if error_msgs:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                 + "\n\t".join(error_msgs))
        targets = {key: (mod, name) for key, mod, name in self._state_items()}
        extra = {(f"{n}." if n else "") + _EXTRA_STATE: mod for n, mod in modules
                 if type(mod).set_extra_state is not Module.set_extra_state}
        missing += [k for k, (mod, name) in targets.items() if k not in state and name not in mod._optional_state]
        missing += [k for k in extra if k not in state and strict]
        unexpected += [k for k in state if k not in targets and k not in extra]
        post = [(mod, hook) for _, mod in modules for hook in mod._load_state_dict_post_hooks.values()]
        if strict and (missing or unexpected) and not post:
            raise StateDictError(f"state_dict does not match {type(self).__name__}: missing keys {missing}, "
                                 f"unexpected keys {unexpected}")
        loaded = [(key, mod, name) for key, (mod, name) in targets.items() if key in state]
        for key, mod, name in loaded:
            value = state[key] if _device.device_of(state[key]) else _host_values(state[key])
            current = mod._parameters[name].data if name in mod._parameters else mod._buffers[name]
            if value.shape != current.shape:
                raise StateDictError(f"state_dict[{key!r}] has shape {value.shape}, "
                                     f"the model expects {current.shape}")
            if value.dtype.kind != current.dtype.kind and not (value.dtype.kind in "iu" and current.dtype.kind in "iu"):
                raise StateDictError(f"state_dict[{key!r}] has dtype {value.dtype}, the model expects {current.dtype}")
        for key, mod, name in loaded:
            if assign:
                _assign_state(mod, name, state[key])
            else:
                target = mod._parameters[name].data if name in mod._parameters else mod._buffers[name]
                value = state[key]
                _device.copy_into(target, value if _device.device_of(value) else _host_values(value))
        for key, mod in extra.items():
            if key in state:
                mod.set_extra_state(state[key])
        result = IncompatibleKeys(missing, unexpected)
        for mod, hook in post:
            if hook(mod, result) is not None:
                raise RuntimeError("Hooks registered with ``register_load_state_dict_post_hook`` are not "
                                   "expected to return new values; change the incompatible keys in place.")
        if strict and (result.missing_keys or result.unexpected_keys):
            raise StateDictError(f"state_dict does not match {type(self).__name__}: missing keys "
                                 f"{result.missing_keys}, unexpected keys {result.unexpected_keys}")
        return result

    def get_extra_state(self):
        """State beyond parameters and buffers for ``state_dict`` (torch's): override it and
        ``set_extra_state`` together; ``state_dict`` then holds ``<prefix>_extra_state``. (fastnn.save
        stores it only when it is an array.)"""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called. "
                           "Please override get_extra_state() in the module class.")

    def set_extra_state(self, state) -> None:
        """Receives what ``get_extra_state`` returned, from ``load_state_dict`` (torch's)."""
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called. "
                           "Please override set_extra_state() in the module class.")

    # ---- description -------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments, JSON-serializable (used by fastnn.save)."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Module":
        return cls(**config)

    def extra_repr(self) -> str:
        """The layer's settings inside its repr's parentheses: its config by default, '' for a
        module with children (torch's containers, attention and transformer layers show only
        their children)."""
        if self._modules:
            return ""
        # configs hold lists (JSON); pairs read better as tuples: kernel_size=(3, 3)
        return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in self.get_config().items()
                         if not isinstance(v, (dict, list)) or not any(isinstance(i, dict) for i in v))

    def __repr__(self) -> str:
        """torch's layout: the extra_repr lines then one ``(name): child`` line per child, on one
        line when there is a single extra line and no child."""
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        lines = extra_lines + child_lines
        if not lines:
            return f"{type(self).__name__}()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.trainable or not trainable_only)

    def summary(self, input_shape, print_fn=print, dtype=None) -> str:
        """A table of every layer called on a forward pass of one sample: name, type, output
        shape and parameter count, then the totals. ``input_shape`` excludes the batch axis.

        The pass runs in eval mode on zeros (so no running statistics change) and restores the
        previous mode. Returns the text; prints it too unless ``print_fn`` is None.
        """
        global _summary_records
        shape = (1,) + tuple(int(s) for s in input_shape)
        x = _device.array_module(self.device).zeros(shape, dtype=dtype or self.dtype)
        modes = [(m, m.training) for m in self.modules()]
        names = {id(m): n for n, m in self.named_modules()}
        depth = {id(m): (n.count(".") + 1 if n else 0) for n, m in self.named_modules()}
        _summary_records = []
        try:
            self.eval()
            self(x)
            records = _summary_records
        finally:
            _summary_records = None
            for m, mode in modes:
                object.__setattr__(m, "training", mode)
        # calls arrive children-first; show them in tree order (parents before their children)
        order = {id(m): i for i, m in enumerate(self.modules())}
        records.sort(key=lambda r: order.get(id(r[0]), len(order)))
        rows = [("Layer", "Type", "Output shape", "Params")]
        for mod, out_shape in records:
            own = sum(p.size for p in mod.parameters())
            name = names.get(id(mod), "?") or "(model)"
            indent = "  " * max(depth.get(id(mod), 0) - 1, 0)
            shown = "(None, " + ", ".join(str(s) for s in out_shape[1:]) + ")" if out_shape else "?"
            if len(out_shape or ()) == 1:
                shown = "(None,)"
            rows.append((indent + name, type(mod).__name__, shown, f"{own:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        fmt = lambda r: f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
        rule = "-" * len(fmt(rows[0]))
        total, trainable = self.num_parameters(), self.num_parameters(trainable_only=True)
        text = "\n".join([fmt(rows[0]), rule] + [fmt(r) for r in rows[1:]] + [
            rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}"])
        if print_fn is not None:
            print_fn(text)
        return text

    # ---- Keras-style training (fastnn.training does the work) ---------------------------
    def compile(self, optimizer="adam", loss="cross_entropy", metrics=None) -> "Module":
        """Keras style: remember the optimizer, loss and metrics for ``fit``/``evaluate``.

        Strings are accepted: optimizers "sgd", "adam", "adamw", "rmsprop", "adagrad",
        "adadelta", "radam", "nadam", "adamax", "rprop", "asgd"; losses "cross_entropy"/"categorical_crossentropy"/
        "sparse_categorical_crossentropy" (on logits: do not end the model with Softmax),
        "mse", "mae"/"l1", "bce"/"binary_crossentropy", "bce_with_logits"; metrics as in
        ``fastnn.metrics.get``.
        """
        from ..training import resolve_loss, resolve_optimizer

        object.__setattr__(self, "_compiled", {
            "optimizer": resolve_optimizer(optimizer, self),
            "loss": resolve_loss(loss),
            "metrics": [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics or []),
        })
        return self

    def _compiled_or_raise(self):
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            raise RuntimeError(f"{type(self).__name__} is not compiled: call model.compile(optimizer, loss) first")
        return compiled

    def fit(self, x, y=None, batch_size: int = 32, epochs: int = 1, validation_data=None,
            callbacks=None, progress: bool = True, seed=None, shuffle: bool = True, drop_last: bool = False,
            initial_epoch: int = 0):
        """Keras style ``fit``; see ``fastnn.fit`` (``drop_last`` and ``initial_epoch`` too). Returns a History."""
        from ..training import fit

        c = self._compiled_or_raise()
        train = x if y is None else (x, y)
        return fit(self, c["optimizer"], c["loss"], train=train, val=validation_data, epochs=epochs,
                   batch_size=batch_size, metrics=c["metrics"], callbacks=callbacks, progress=progress,
                   seed=seed, shuffle=shuffle, drop_last=drop_last, initial_epoch=initial_epoch)

    def evaluate(self, x, y=None, batch_size: int = 256) -> dict:
        """Keras style ``evaluate``: {"loss": ..., metric: ...}; see ``fastnn.evaluate``."""
        from ..training import evaluate

        c = self._compiled_or_raise()
        data = x if y is None else (x, y)
        return evaluate(self, data, loss=c["loss"], metrics=c["metrics"], batch_size=batch_size)

    def predict(self, x, batch_size: int = 256):
        """Eval-mode forward pass in batches; see ``fastnn.predict``."""
        from ..training import predict

        return predict(self, x, batch_size=batch_size)

    def predict_proba(self, x, batch_size: int = 256):
        """Class probabilities (scikit-learn's name) from ``predict(x)``, since classifiers here
        end in logits (what CrossEntropyLoss / BCEWithLogitsLoss take):

        - several output columns (N, K): the softmax over the last axis, one probability per class;
        - one output column (N, 1) (or a 1-D output (N,)): one logit of class 1 per sample, as a
          binary classifier trained with ``"bce_with_logits"`` has: its sigmoid, the probability
          of class 1, in the shape of the output ((N, 1), or (N,)), not a softmax over one
          column (1.0 everywhere). ``fastnn.metrics.accuracy`` reads such a column as probabilities of
          class 1 too (``p > 0.5`` is class 1).

        A Sequential whose last layer is already Softmax or Sigmoid outputs probabilities: they
        are returned as they are. A regression model has no probabilities: use ``predict``."""
        return self.probabilities_of(self.predict(x, batch_size=batch_size))

    def probabilities_of(self, out):
        """What ``predict_proba`` makes of this model's outputs ``out`` (from ``predict``):
        for a server or loop that already has the outputs and wants both without a second
        forward pass."""
        from .activation import Sigmoid, Softmax
        from ..ops import sigmoid, softmax

        from .containers import Sequential

        if isinstance(self, Sequential) and len(self) and isinstance(self[-1], (Softmax, Sigmoid)):
            return out
        if out.ndim == 1 or out.shape[-1] == 1:
            return sigmoid(out)
        return softmax(out)


# Set by Module.summary while it runs a forward pass; __call__ appends (module, output shape).
_summary_records = None

_EXTRA_STATE = "_extra_state"


def _host_values(value):
    """A state_dict value as a NumPy array: a torch tensor or Parameter is detached first
    (torch's state_dict(keep_vars=True) and named_parameters() hold Parameters that need a
    gradient, which numpy() refuses)."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _assign_state(mod, name: str, value) -> None:
    """load_state_dict(assign=True): the array itself becomes the parameter's / buffer's value
    (a copy where it is read-only, or must change dtype, layout or device)."""
    device = mod._parameters[name].device if name in mod._parameters else _device.device_of(mod._buffers[name])
    value = value if _device.device_of(value) else _host_values(value)
    if _device.device_of(value) != device:
        value = _device.move(value, device)
    xp = _device.xp_of(value)
    if value.dtype.kind == "f" and value.dtype not in (np.float32, np.float64):
        value = value.astype(np.float32)
    value = xp.ascontiguousarray(value) if value.ndim else value
    if xp is np and not value.flags.writeable:
        # a read-only array (np.frombuffer, a memory-mapped file): the optimizers update
        # parameters in place, so it is taken as a copy rather than failing at the first step
        value = value.copy()
    if name in mod._parameters:
        mod._parameters[name].data = value
    else:
        setattr(mod, name, value)


# Hooks of every module (torch.nn.modules.module.register_module_*_hook)
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: OrderedDict = OrderedDict()
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()
_global_module_registration_hooks: OrderedDict = OrderedDict()
_global_parameter_registration_hooks: OrderedDict = OrderedDict()
_global_buffer_registration_hooks: OrderedDict = OrderedDict()


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, args)`` before the call of every module (before its own pre-hooks); a
    return value replaces the inputs. Returns a removable handle."""
    return add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False, always_call: bool = False) -> RemovableHandle:
    """``hook(module, args, output)`` (``(module, args, kwargs, output)`` with kwargs) after the
    call of every module (before its own hooks); a return value replaces the output."""
    handle = add_hook(_global_forward_hooks, hook,
                      extra=(_global_forward_hooks_with_kwargs, _global_forward_hooks_always_called))
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """``hook(module, grad_output)`` before the backward of every module (before its own)."""
    return add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """``hook(module, grad_input, grad_output)`` after the backward of every module (before its own)."""
    return add_hook(_global_backward_hooks, hook)


def register_module_backward_hook(hook) -> RemovableHandle:
    """The deprecated global non-full backward hook: the same as the full one in fastnn."""
    return add_hook(_global_backward_hooks, hook)


def register_module_module_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, submodule)`` whenever a child module is registered (assignment,
    add_module); a Module returned is registered instead."""
    return add_hook(_global_module_registration_hooks, hook)


def register_module_parameter_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, param)`` whenever a Parameter is registered; a Parameter returned
    is registered instead."""
    return add_hook(_global_parameter_registration_hooks, hook)


def register_module_buffer_registration_hook(hook) -> RemovableHandle:
    """``hook(module, name, buffer)`` whenever a buffer is registered (register_buffer); an array
    returned is registered instead."""
    return add_hook(_global_buffer_registration_hooks, hook)


def _registration(hooks: OrderedDict, module, name: str, value):
    for hook in list(hooks.values()):
        out = hook(module, name, value)
        if out is not None:
            value = out
    return value


_HOOK_DICTS = ("_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
               "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_pre_hooks",
               "_backward_hooks", "_state_dict_pre_hooks", "_state_dict_hooks",
               "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def has_hooks(module) -> bool:
    """True when a forward or backward hook is registered on module (Sequential then runs it
    unfused, so that its own forward and backward, and so its hooks, are called)."""
    return bool(module._forward_pre_hooks or module._forward_hooks or module._backward_pre_hooks
                or module._backward_hooks or _global_forward_pre_hooks or _global_forward_hooks
                or _global_backward_pre_hooks or _global_backward_hooks)


def _hookable_backward(fn):
    """Wrap a Module subclass's backward so that backward hooks registered on an instance run
    around it. Without hooks the cost is one dict lookup; a backward that calls super().backward
    runs the hooks once (the outer call), as the flag is lowered while they run."""

    @functools.wraps(fn)
    def backward(self, *args, **kwargs):
        flag = self.__dict__.get("_bw_hooked")
        if flag is not True and (flag == "running" or not (_global_backward_pre_hooks or _global_backward_hooks)):
            return fn(self, *args, **kwargs)
        return _run_backward_hooks(self, fn, args, kwargs)

    backward._fastnn_hooked = True
    names = list(inspect.signature(fn).parameters)
    fn._fastnn_grad_name = names[1] if len(names) > 1 else None
    return backward


def _check_grads(kind: str, what: str, out, expected: int) -> tuple:
    if not isinstance(out, (tuple, list)):
        raise TypeError(f"backward {kind}hook must return None or a tuple of gradients, got {type(out).__name__}")
    if len(out) != expected:
        raise RuntimeError(f"backward {kind}hook returned an invalid number of {what}, got {len(out)}, "
                           f"but expected {expected}")
    return tuple(out)


def _run_backward_hooks(self, fn, args, kwargs):
    pre = [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]
    post = [*_global_backward_hooks.values(), *self._backward_hooks.values()]
    if not (pre or post):  # every hook removed since: back to the plain path
        object.__setattr__(self, "_bw_hooked", False)
        return fn(self, *args, **kwargs)
    flag = self.__dict__.get("_bw_hooked")
    if args:
        dy = args[0]

        def call(d):
            return fn(self, d, *args[1:], **kwargs)
    else:  # backward(dy=...): the gradient is the function's first argument, by name
        name = fn._fastnn_grad_name
        if name not in kwargs:
            return fn(self, **kwargs)  # (the TypeError of the call itself)
        dy = kwargs[name]

        def call(d):
            return fn(self, **{**kwargs, name: d})
    many = isinstance(dy, tuple)
    grad_output = dy if many else (dy,)
    for hook in pre:
        out = hook(self, grad_output)
        if out is not None:
            grad_output = _check_grads("pre ", "grad_output", out, len(grad_output))
    object.__setattr__(self, "_bw_hooked", "running")
    try:
        dx = call(grad_output if many else grad_output[0])
    finally:
        object.__setattr__(self, "_bw_hooked", flag)
    several = isinstance(dx, tuple)
    grad_input = dx if several else (dx,)
    for hook in post:
        out = hook(self, grad_input, grad_output)
        if out is not None:
            grad_input = _check_grads("", "grad_input", out, len(grad_input))
    return grad_input if several else grad_input[0]
