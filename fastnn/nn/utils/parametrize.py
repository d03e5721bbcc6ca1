"""torch.nn.utils.parametrize for fastnn modules: ``register_parametrization`` and friends.

A parametrization is a fastnn Module whose ``forward(X)`` (or ``forward(X0, X1, ...)``) maps the
original tensor(s) to the value the layer uses, and whose ``backward(dW)`` returns the gradient
with respect to its input(s) (a tuple of them for several inputs): fastnn has no autograd, so
the chain rule is written by hand. ``right_inverse(W)`` is optional, as in torch.

As torch does, registering swaps the instance's class for a subclass ``Parametrized<Class>``
(one per module) with a property ``module.<name>``; the originals live in
``module.parametrizations[name]`` (a ``ParametrizationList``: a ModuleList of the
parametrizations with ``original``, or ``original0``, ``original1``, ... when ``right_inverse``
returns a tuple), so ``state_dict`` keys are torch's (``parametrizations.weight.original``).

fastnn has no forward pre-hooks, so the weight_norm.py machinery is reused (a hook with
``pre_forward`` / ``post_backward`` installed by wrapping the instance's forward/backward):

- before every forward of the module, the chain is run on the originals and its value held in
  an unregistered, non-trainable ``Parameter`` (what the layer reads as ``self.<name>.data`` and
  its backward accumulates the weight gradient into);
- after the layer's backward, that gradient is taken through each parametrization's
  ``backward`` in reverse order and accumulated into the originals' ``.grad``.

Reading ``module.<name>`` outside a forward (torch recomputes on every access) gives the value
of the current originals: it is recomputed when a parameter of the ParametrizationList (an
original, a parametrization's own parameter) or a buffer original changed value since it was
last computed (an optimizer step, ``load_state_dict``, ``to(dtype)``), or any of its arrays was
replaced; else the value of the last computation is returned. So reading it twice in training
mode does not run a spectral-norm power iteration each time, as torch's would, and a buffer
that only a parametrization uses (``base``, ``_u``, ``_v``) changed in place by
``load_state_dict`` shows in the next forward, not in a read before it. A parametrized buffer
is read the same way (it is an array, not a Parameter, and takes no gradient). Inside
``cached()`` the value is computed once per module and tensor, as torch's.

A parametrization object shared by two modules (``transfer_parametrizations_and_params``
shares them, as torch) or a parametrized layer used twice in a container still gets each use's
gradient right: the parametrizations' per-call state (their plain attributes, as containers
save for shared layers) is kept with each computed value and put back before its backward.

``fastnn.save`` refuses a parametrized module (RuntimeError, as ``torch.save`` of one does):
save its ``state_dict`` (or save after ``remove_parametrizations``), and to restore rebuild
the model, register the same parametrizations and call ``load_state_dict``.
"""
from __future__ import annotations

import collections.abc
import copy
import copyreg
from contextlib import contextmanager

import numpy as np

from ... import _device
from ..containers import ModuleDict, ModuleList, _call_state, _restore_call_state
from ..module import LAYER_REGISTRY, Module, Parameter
from .weight_norm import _GUARD, _install, _param, _uninstall

__all__ = ["cached", "ParametrizationList", "register_parametrization", "is_parametrized",
           "remove_parametrizations", "type_before_parametrizations", "transfer_parametrizations_and_params"]

_cache_enabled = 0
_cache: dict = {}


@contextmanager
def cached():
    """Within this context the parametrized tensors are computed once (at their first use or
    read) and reused, as torch's ``parametrize.cached()``: e.g. a layer called several times
    in one step. The values are discarded on leaving the (outermost) context."""
    global _cache, _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _is_array(x) -> bool:
    return _device.device_of(x) is not None and not isinstance(x, (np.generic,))


def _data(x):
    """The array of a Parameter, a NumPy scalar as a 0-d array (NumPy's arithmetic on a 0-d
    array returns one), or x itself."""
    if isinstance(x, Parameter):
        return x.data
    if isinstance(x, np.generic):
        return np.asarray(x)
    return x


def _copy(x):
    """A C-contiguous copy in x's own shape (0-d stays 0-d, unlike ascontiguousarray)."""
    return _device.xp_of(x).array(x, copy=True, order="C")


def _assign_param(p: Parameter, new) -> None:
    """p takes the values of new: in place when shape, dtype and device agree (the Parameter
    object, and so an optimizer's hold on it, is kept, as torch's ``set_``), else its data is
    replaced (with a new, empty gradient)."""
    if new is p.data:
        return
    if new.shape == p.data.shape and new.dtype == p.data.dtype and type(new) is type(p.data):
        p.data[...] = _copy(new)  # a copy first: new may overlap p.data
    else:
        p.data = _copy(new)
        p._grad = _device.zeros_like(p.data)
        p._grad_is_zero = True


def _set_original(owner: Module, name: str, new) -> None:
    """owner.<name> (a registered Parameter or buffer) takes the values of new."""
    if name in owner._parameters:
        _assign_param(owner._parameters[name], new)
    else:
        setattr(owner, name, _copy(new) if new is not owner._buffers[name] else new)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and its original(s): ``original``
    (a Parameter or a buffer, the same object as the tensor before registration) or, when the
    first parametrization's ``right_inverse`` returns a sequence, ``original0``, ``original1``, ...
    It is ``module.parametrizations[name]``; made by ``register_parametrization``, not by hand.

    ``plist()`` is the parametrized value (an array); ``plist.backward(dW)`` accumulates the
    gradient of the originals (each parametrization's ``backward``, last first);
    ``plist.right_inverse(value)`` sets the originals so that ``plist()`` is value."""

    def __init__(self, modules, original, unsafe: bool = False):
        modules = list(modules)
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        object.__setattr__(self, "unsafe", bool(unsafe))
        is_param = isinstance(original, Parameter)
        data = _data(original)
        original_shape, original_dtype = data.shape, data.dtype

        new = data
        for module in reversed(self):
            if hasattr(module, "right_inverse"):
                try:
                    new = module.right_inverse(new)
                except NotImplementedError:
                    pass
        new = _data(new)
        if not _is_array(new) and not isinstance(new, collections.abc.Sequence):
            raise ValueError("'right_inverse' must return an array or a sequence of arrays (list, tuple...). "
                             f"Got {type(new).__name__}")
        is_tensor = _is_array(new)
        if is_tensor:
            if new.dtype != original_dtype:
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                                 f"original.dtype: {original_dtype}\n"
                                 f"right_inverse(original).dtype: {new.dtype}")
            if _device.device_of(new) != _device.device_of(data):
                raise ValueError("When `right_inverse` outputs one tensor, it may not change the device.\n"
                                 f"original.device: {_device.device_of(data)}\n"
                                 f"right_inverse(original).device: {_device.device_of(new)}")
            news = [new]
        else:
            news = [_data(t) for t in new]
            for i, t in enumerate(news):
                if not _is_array(t):
                    raise ValueError("'right_inverse' must return an array or a sequence of arrays (list, tuple...). "
                                     f"Got element {i} of the sequence with type {type(t).__name__}.")
        object.__setattr__(self, "is_tensor", is_tensor)
        object.__setattr__(self, "ntensors", len(news))
        if not self.unsafe:  # checked before anything is set: a failed registration changes nothing
            Z = _data(self._chain(news))
            _check_output(Z, original_dtype, original_shape)
        if is_tensor:
            if is_param:
                _assign_param(original, new)
                self.register_parameter("original", original)
            else:
                self.register_buffer("original", _copy(new) if new is not data else new)
        else:
            for i, t in enumerate(news):
                if is_param:
                    self.register_parameter(f"original{i}", _param(_copy(t), original.trainable))
                else:
                    self.register_buffer(f"original{i}", _copy(t))

    def originals(self) -> list:
        """The original Parameter(s) or buffer(s), in order."""
        names = ["original"] if self.is_tensor else [f"original{i}" for i in range(self.ntensors)]
        return [self._parameters[n] if n in self._parameters else self._buffers[n] for n in names]

    def _chain(self, inputs):
        x = self[0](*inputs)
        for i in range(1, len(self)):
            x = self[i](x)
        return x

    def forward(self):
        return self._chain([_data(o) for o in self.originals()])

    def __call__(self):
        return self.forward()

    def backward(self, dW):
        """dW (the gradient of the parametrized value) through the parametrizations, last first,
        accumulated into the originals that are Parameters (buffers take none). Returns None."""
        for i in range(len(self) - 1, 0, -1):
            dW = self[i].backward(dW)
        grads = self[0].backward(dW)
        if self.is_tensor:
            grads = (grads,)
        elif not isinstance(grads, (tuple, list)) or len(grads) != self.ntensors:
            raise ValueError(f"{type(self[0]).__name__}.backward must return a sequence of {self.ntensors} "
                             f"gradients (one per input of its forward). Got {type(grads).__name__}")
        for i, (orig, g) in enumerate(zip(self.originals(), grads)):
            if g is None or not isinstance(orig, Parameter):
                continue
            g = _data(g)
            if getattr(g, "shape", None) != orig.data.shape:
                raise ValueError(f"{type(self[0]).__name__}.backward returned a gradient of shape "
                                 f"{getattr(g, 'shape', None)} for input {i} of shape {orig.data.shape}")
            orig.add_grad(g)
        return None

    def right_inverse(self, value) -> None:
        """The parametrizations' ``right_inverse`` in reverse order, stored into the original(s)."""
        value = _data(value)
        for module in reversed(self):
            if hasattr(module, "right_inverse"):
                value = module.right_inverse(value)
            else:
                raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
        value = _data(value)
        if self.is_tensor:
            if not _is_array(value):
                raise ValueError(f"`right_inverse` should return an array. Got {type(value).__name__}")
            original = self.originals()[0]
            if value.dtype != _data(original).dtype:
                raise ValueError(f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                                 f"while `original` has dtype {_data(original).dtype}")
            _set_original(self, "original", value)
        else:
            if not isinstance(value, collections.abc.Sequence):
                raise ValueError(f"'right_inverse' must return a sequence of tensors. Got {type(value).__name__}.")
            if len(value) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of tensors of length {self.ntensors}. "
                                 f"Got a sequence of length {len(value)}.")
            value = [_data(t) for t in value]
            for i, (orig, t) in enumerate(zip(self.originals(), value)):
                if not _is_array(t):
                    raise ValueError("'right_inverse' must return a sequence of tensors. "
                                     f"Got element {i} of type {type(t).__name__}.")
                if _data(orig).dtype != t.dtype:
                    raise ValueError(f"Tensor {i} returned by `right_inverse` has dtype {t.dtype} "
                                     f"while `original{i}` has dtype {_data(orig).dtype}")
            for i, t in enumerate(value):
                _set_original(self, f"original{i}", t)


def _check_output(Z, dtype, shape) -> None:
    if isinstance(Z, Parameter):
        Z = Z.data
    if not _is_array(Z):
        raise ValueError(f"A parametrization must return a tensor (an array). Got {type(Z).__name__}.")
    if Z.dtype != dtype:
        raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless `unsafe` "
                         f"flag is enabled.\nunparametrized dtype: {dtype}\nparametrized dtype: {Z.dtype}")
    if Z.shape != shape:
        raise ValueError("Registering a parametrization may not change the shape of the tensor, unless `unsafe` "
                         f"flag is enabled.\nunparametrized shape: {shape}\nparametrized shape: {Z.shape}")


# ---- the hook: recompute before forward, chain rule after backward ----------------------
# module.__dict__[_VALUES][name]: {"value": the holder Parameter (or array), "snapshot": the arrays
# it was computed from, "call_state": the parametrizations' caches then}. The dict is replaced,
# never changed in place, so a container that saves a shared layer's per-call state (its plain
# attributes) gives each use's backward the value and caches of that use's forward.
_VALUES = "_parametrized_values"


def _store(module, name: str, state) -> None:
    values = dict(module.__dict__.get(_VALUES, {}))
    if state is None:
        values.pop(name, None)
    else:
        values[name] = state
    module.__dict__[_VALUES] = values


class _ParametrizationHook:
    """weight_norm.py's hook protocol for one parametrized tensor (Parameters only: a buffer
    takes no gradient, so it is recomputed on access alone)."""

    def __init__(self, name: str):
        self.name = name

    def pre_forward(self, module) -> None:
        _compute(module, self.name, force=True)

    def post_backward(self, module, dw) -> None:
        state = module.__dict__[_VALUES][self.name]
        if state["call_state"] is not None:
            _restore_call_state(state["call_state"])  # the caches of this value's computation
        module.parametrizations[self.name].backward(dw)


def _watched(plist) -> list:
    """(array, compare values?) for every array a parametrized value depends on: the values of
    the parameters (originals, a parametrization's own) and of buffer originals; only the
    identity of the other buffers (spectral norm's u and v change in each training forward:
    their new values must not make the value of this forward stale before its backward)."""
    originals = {id(o) for o in plist.originals() if not isinstance(o, Parameter)}
    return ([(p.data, True) for _, p in plist.named_parameters()]
            + [(b, id(b) in originals) for _, b in plist.named_buffers()])


def _snapshot(plist) -> list:
    return [(a, _copy(a) if by_value else None) for a, by_value in _watched(plist)]


def _unchanged(plist, snapshot) -> bool:
    watched = _watched(plist)
    if len(watched) != len(snapshot):
        return False
    for (a, _), (ref, values) in zip(watched, snapshot):
        if a is not ref:
            return False
        if values is not None and (a.shape != values.shape or a.dtype != values.dtype
                                   or not _device.xp_of(a).array_equal(a, values, equal_nan=True)):
            return False
    return True


def _compute(module, name: str, force: bool):
    """module.<name>'s value: recomputed (force, or when the ParametrizationList's arrays
    changed since the last computation), or taken from ``cached()``'s store."""
    state = module.__dict__.get(_VALUES, {}).get(name)
    plist = module.parametrizations[name]
    key = (id(module), name)
    if _cache_enabled and key in _cache:
        _store(module, name, _cache[key])
        return _cache[key]["value"]
    if not force and state is not None and _unchanged(plist, state["snapshot"]):
        return state["value"]
    z = _data(plist())
    is_param = any(isinstance(o, Parameter) for o in plist.originals())
    value = _param(z, trainable=False) if is_param and _is_array(z) else z
    if isinstance(value, Parameter):
        value._derived = True  # frozen for optimizers, but its backward gradient feeds the originals
    state = {"value": value, "snapshot": _snapshot(plist),
             "call_state": _call_state(plist) if is_param else None}
    _store(module, name, state)
    if _cache_enabled:
        _cache[key] = state
    return value


def _invalidate(module, name: str) -> None:
    _store(module, name, None)


# ---- class injection ------------------------------------------------------------------
def _default_deepcopy(self, memo):
    """torch's default deepcopy of a parametrized module, the copy with a class of its own (the
    properties live on the class: removing a parametrization from the copy leaves the original's)."""
    obj = memo.get(id(self), None)
    if obj is not None:
        return obj
    replica = self.__new__(self.__class__)
    memo[id(self)] = replica
    object.__setattr__(replica, "__dict__", copy.deepcopy(self.__dict__, memo))
    for slot in copyreg._slotnames(self.__class__):
        if hasattr(self, slot):
            setattr(replica, slot, copy.deepcopy(getattr(self, slot), memo))
    cls = self.__class__
    if cls.__dict__.get("_fastnn_parametrized"):
        object.__setattr__(replica, "__class__", _new_class(cls.__name__, cls.__bases__, dict(cls.__dict__)))
    return replica


def _new_class(name, bases, dct):
    """type(name, bases, dct) kept out of LAYER_REGISTRY (Module.__init_subclass__ would enter it:
    it is not a layer fastnn.load could rebuild, having no parametrizations of its own)."""
    dct = {k: v for k, v in dct.items() if k not in ("__dict__", "__weakref__")}
    qualified = f"{dct.get('__module__', __name__)}.{dct.get('__qualname__', name)}"
    previous = {key: LAYER_REGISTRY.get(key) for key in (name, qualified)}
    cls = type(name, bases, dct)
    for key, value in previous.items():
        if value is None:
            LAYER_REGISTRY.pop(key, None)
        else:
            LAYER_REGISTRY[key] = value
    return cls


def _getstate(self):
    raise RuntimeError("Serialization of parametrized modules is only supported through state_dict(): "
                       "save module.state_dict() (or save after remove_parametrizations), then rebuild the "
                       "model, register the same parametrizations and call load_state_dict")


def _get_config(self):
    raise RuntimeError(f"fastnn.save cannot store {type(self).__name__} (a {type(self).__bases__[0].__name__} with "
                       "parametrizations): serialization of parametrized modules is only supported through "
                       "state_dict(). Save module.state_dict() (or save after remove_parametrizations), then "
                       "rebuild the model, register the same parametrizations and call load_state_dict")


def _parametrized_setattr(self, name, value):
    """``module.<name> = value`` for a parametrized name: the chain's right_inverse (torch's setter)."""
    plists = self.__dict__.get("_modules", {}).get("parametrizations")
    if plists is not None and isinstance(plists, ModuleDict) and name in plists:
        plists[name].right_inverse(value)
        _invalidate(self, name)
        return
    type(self).__bases__[0].__setattr__(self, name, value)


def _safe_extra_repr(self):
    """The base class's extra_repr (its get_config is replaced by one that refuses to save)."""
    base = type(self).__bases__[0]
    if base.extra_repr is not Module.extra_repr:
        try:
            return base.extra_repr(self)
        except RuntimeError:  # it read get_config
            pass
    config = base.get_config(self)
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in config.items()
                     if not isinstance(v, (dict, list)) or not any(isinstance(i, dict) for i in v))


def _inject_new_class(module) -> None:
    cls = module.__class__
    dct = {"__getstate__": _getstate, "get_config": _get_config, "extra_repr": _safe_extra_repr,
           "__setattr__": _parametrized_setattr, "__module__": cls.__module__, "_fastnn_parametrized": True}
    if not hasattr(cls, "__deepcopy__"):
        dct["__deepcopy__"] = _default_deepcopy
    object.__setattr__(module, "__class__", _new_class(f"Parametrized{cls.__name__}", (cls,), dct))


def _inject_property(module, tensor_name: str) -> None:
    if hasattr(module, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self):
        state = self.__dict__.get(_VALUES, {}).get(tensor_name)
        if self.__dict__.get(_GUARD) and state is not None:  # inside this module's forward
            return state["value"]
        return _compute(self, tensor_name, force=False)

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)
        _invalidate(self, tensor_name)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


# ---- public API -----------------------------------------------------------------------
def _check_module(module, func: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{func} expects a fastnn.nn.Module. Received: module={module!r}")


def register_parametrization(module, tensor_name: str, parametrization, *, unsafe: bool = False):
    """Register ``parametrization`` (a fastnn Module with forward and backward) on the parameter
    or buffer ``tensor_name`` of module (torch's ``register_parametrization``): afterwards
    ``module.<tensor_name>`` is ``parametrization(original)``; a second registration on the
    same tensor is applied after the first. The original is initialised to
    ``right_inverse(current value)`` when the parametrization has one. With ``unsafe=False``
    the shape and dtype of the result must be those of the tensor (ValueError naming them).
    The parametrization is put in the module's training mode. Returns module."""
    _check_module(module, "register_parametrization")
    if not isinstance(parametrization, Module):
        raise TypeError("register_parametrization: parametrization must be a fastnn.nn.Module (with forward and "
                        f"backward). Received: parametrization={parametrization!r}")
    if not isinstance(tensor_name, str):
        raise TypeError(f"register_parametrization: tensor_name must be a str. Received: tensor_name={tensor_name!r}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            Y = _data(getattr(module, tensor_name))
            X = _data(parametrization(Y))
            if not _is_array(X):
                raise ValueError(f"A parametrization must return a tensor (an array). Got {type(X).__name__}.")
            if X.dtype != Y.dtype:
                raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless the "
                                 f"`unsafe` flag is enabled.\nmodule.{tensor_name}.dtype: {Y.dtype}\n"
                                 f"parametrization(module.{tensor_name}).dtype: {X.dtype}")
            if X.shape != Y.shape:
                raise ValueError("Registering a parametrization may not change the shape of the tensor, unless the "
                                 f"`unsafe` flag is enabled.\nmodule.{tensor_name}.shape: {Y.shape}\n"
                                 f"parametrization(module.{tensor_name}).shape: {X.shape}")
            if hasattr(parametrization, "right_inverse"):
                try:
                    Z = parametrization.right_inverse(X)
                except NotImplementedError:
                    pass
                else:
                    Z = _data(Z)
                    if not _is_array(Z):
                        raise ValueError("parametrization.right_inverse must return a tensor (an array). "
                                         f"Got: {type(Z).__name__}")
                    if Z.dtype != Y.dtype:
                        raise ValueError("The tensor returned by parametrization.right_inverse must have the same "
                                         f"dtype as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                                         f"module.{tensor_name}.dtype: {Y.dtype}\nreturned dtype: {Z.dtype}")
                    if Z.shape != Y.shape:
                        raise ValueError("The tensor returned by parametrization.right_inverse must have the same "
                                         f"shape as module.{tensor_name}, unless the `unsafe` flag is enabled.\n"
                                         f"module.{tensor_name}.shape: {Y.shape}\nreturned shape: {Z.shape}")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        object.__setattr__(plist, "unsafe", plist.unsafe or bool(unsafe))
        _invalidate(module, tensor_name)
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = module._parameters.get(tensor_name)
        if original is None:
            original = module._buffers[tensor_name]
        plist = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if module.__dict__.get("_non_persistent"):
            module.__dict__["_non_persistent"].discard(tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = plist
        if isinstance(original, Parameter):
            _install(module, _ParametrizationHook(tensor_name))
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element "
                         f"with name '{tensor_name}'")
    return module


def is_parametrized(module, tensor_name=None) -> bool:
    """Whether module has a parametrization on tensor_name (on any tensor when None)."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations") \
        if isinstance(module, Module) else None
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def _hook_of(module, tensor_name):
    for hook in module.__dict__.get("_norm_hooks", []):
        if isinstance(hook, _ParametrizationHook) and hook.name == tensor_name:
            return hook
    return None


def remove_parametrizations(module, tensor_name: str, leave_parametrized: bool = True):
    """Remove the parametrizations on tensor_name: it becomes a plain parameter (or buffer)
    again, holding the current parametrized value (``leave_parametrized=True``; the original
    Parameter object, so an optimizer keeps it) or the original (``False``; only when there is
    one original: else ValueError). ValueError when tensor_name is not parametrized. Returns module."""
    _check_module(module, "remove_parametrizations")
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.originals()[0]
        if leave_parametrized:
            t = _data(_compute(module, tensor_name, force=False))
            if t.dtype != _data(original).dtype:
                raise ValueError(f"remove_parametrizations: the parametrized {tensor_name} has dtype {t.dtype}, its "
                                 f"original {_data(original).dtype}: use leave_parametrized=False")
            if isinstance(original, Parameter):
                _assign_param(original, t)
            else:
                original = _copy(t)
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized "
                             "in terms of a sequence of tensors.")
        t = _data(_compute(module, tensor_name, force=False))
        is_param = any(isinstance(o, Parameter) for o in plist.originals())
        original = _param(_copy(t), trainable=plist.originals()[0].trainable) if is_param else _copy(t)
    hook = _hook_of(module, tensor_name)
    if hook is not None:
        _uninstall(module, hook)
    _invalidate(module, tensor_name)
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, original)
    else:
        module.register_buffer(tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__dict__.pop(_VALUES, None)
        object.__setattr__(module, "__class__", module.__class__.__bases__[0])
    return module


def type_before_parametrizations(module) -> type:
    """The module's class before parametrizations were registered (its class when none are)."""
    if is_parametrized(module):
        return module.__class__.__bases__[0]
    return type(module)


def transfer_parametrizations_and_params(from_module, to_module, tensor_name=None):
    """Register from_module's parametrizations (the same parametrization objects, as torch) on
    to_module and give it from_module's originals (the same Parameters: shared); all
    parametrized tensors, or only tensor_name. A tensor to_module lacks is created first.
    Does nothing when from_module is not parametrized. Returns to_module."""
    _check_module(from_module, "transfer_parametrizations_and_params")
    _check_module(to_module, "transfer_parametrizations_and_params")
    if is_parametrized(from_module):
        names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
        for name in names:
            if not is_parametrized(from_module, name):
                raise ValueError(f"Module {from_module} does not have a parametrization on {name}")
            if not hasattr(to_module, name):
                setattr(to_module, name, _param(_copy(_data(getattr(from_module, name)))))
            for param_func in from_module.parametrizations[name]:
                register_parametrization(to_module, name, param_func)
            src, dst = from_module.parametrizations[name], to_module.parametrizations[name]
            names_i = ["original"] if src.is_tensor else [f"original{i}" for i in range(src.ntensors)]
            for n, orig in zip(names_i, src.originals()):
                if isinstance(orig, Parameter):
                    if n in dst._buffers:
                        del dst._buffers[n]
                        object.__delattr__(dst, n)
                    setattr(dst, n, orig)
                else:
                    dst._parameters.pop(n, None)
                    dst.__dict__.pop(n, None)
                    dst.register_buffer(n, orig)
            object.__setattr__(dst, "is_tensor", src.is_tensor)
            object.__setattr__(dst, "ntensors", src.ntensors)
            _invalidate(to_module, name)
    return to_module
