"""torch.nn.utils.weight_norm / remove_weight_norm (torch's old hook API) for fastnn modules.

fastnn has no autograd and no forward pre-hooks, so the reparametrization is done by wrapping
the *instance's* ``forward`` and ``backward`` (instance attributes that shadow the class's
methods; ``_forward`` too when the class has one, as Linear's fused path calls it):

- before every forward, each installed hook recomputes the weight into ``module.<name>``: an
  unregistered, non-trainable ``Parameter`` (not in ``parameters()`` or ``state_dict()``) whose
  ``.data`` the layer's own forward reads, as it reads a plain ``self.weight``;
- around every backward, the holder's gradient is cleared, the layer's own backward writes the
  weight gradient into it, and the hook turns it by hand (the chain rule of ``w = g v / ||v||``)
  into gradients accumulated into ``<name>_g.grad`` and ``<name>_v.grad``.

The wrappers are bound to the module (``copy.deepcopy`` and ``pickle`` copy them with it); the hooks
live in ``module.__dict__["_norm_hooks"]``; removing the last hook removes the wrappers, so the
class's methods are used again. ``get_config`` is unchanged (the layer's constructor arguments):
``fastnn.save`` writes the ``<name>_g`` / ``<name>_v`` keys, and ``fastnn.load`` then fails
with a StateDictError naming them (it rebuilds a plain layer); save after ``remove_weight_norm``,
or rebuild, apply ``weight_norm`` and ``load_state_dict``.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ... import _device
from ..module import Module, Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]

_HOOKS = "_norm_hooks"
_GUARD = "_norm_hooks_active"


# ---- shared machinery (spectral_norm.py uses it too) ------------------------------------
def _param(data, trainable: bool = True) -> Parameter:
    """A Parameter holding data in its own shape (Parameter() makes a 0-d array 1-d, as
    np.ascontiguousarray does; torch's weight_g for dim=None is 0-d)."""
    p = Parameter(data, trainable=trainable)
    if np.ndim(data) == 0:
        xp = np if isinstance(data, np.generic) else _device.xp_of(data)
        p.data = xp.asarray(data, dtype=p.data.dtype).reshape(())
        p._grad = xp.zeros_like(p.data)
    return p


def _hooks(module) -> list:
    return module.__dict__.get(_HOOKS, [])


def _set_weight(module, name: str, data) -> None:
    """module.<name> = an unregistered, non-trainable Parameter holding data (what the layer's
    forward reads as ``self.<name>.data`` and its backward accumulates a gradient into)."""
    holder = Parameter(data, trainable=False)
    holder._derived = True  # frozen for optimizers, but its backward gradient feeds g and v
    object.__setattr__(module, name, holder)


def _normed_call(self, method: str, args, kwargs):
    """Run the hooks' pre-forward (once, even when forward calls _forward), then the class's method."""
    if self.__dict__.get(_GUARD):
        return getattr(type(self), method)(self, *args, **kwargs)
    object.__setattr__(self, _GUARD, True)
    try:
        for hook in _hooks(self):
            hook.pre_forward(self)
        return getattr(type(self), method)(self, *args, **kwargs)
    finally:
        object.__setattr__(self, _GUARD, False)


def _normed_forward(self, *args, **kwargs):
    return _normed_call(self, "forward", args, kwargs)


def _normed_private_forward(self, *args, **kwargs):
    return _normed_call(self, "_forward", args, kwargs)


def _normed_backward(self, *args, **kwargs):
    hooks = _hooks(self)
    for hook in hooks:
        getattr(self, hook.name).zero_grad()
    out = type(self).backward(self, *args, **kwargs)
    for hook in hooks:
        holder = getattr(self, hook.name)
        if holder.has_grad:
            hook.post_backward(self, holder.grad)
    return out


class _Bound:
    """fn bound to module, as types.MethodType, but picklable (a bound method pickles as a
    lookup of its name on the object, which these wrappers do not have as class attributes)."""

    __slots__ = ("__self__", "__func__")

    def __init__(self, module, fn):
        self.__self__, self.__func__ = module, fn

    def __call__(self, *args, **kwargs):
        return self.__func__(self.__self__, *args, **kwargs)

    def __reduce__(self):
        return (_Bound, (self.__self__, self.__func__))


def _install(module, hook) -> None:
    if _HOOKS not in module.__dict__:
        object.__setattr__(module, _HOOKS, [])
        object.__setattr__(module, "forward", _Bound(module, _normed_forward))
        object.__setattr__(module, "backward", _Bound(module, _normed_backward))
        if hasattr(type(module), "_forward"):
            object.__setattr__(module, "_forward", _Bound(module, _normed_private_forward))
    module.__dict__[_HOOKS].append(hook)


def _uninstall(module, hook) -> None:
    hooks = module.__dict__[_HOOKS]
    hooks.remove(hook)
    if not hooks:
        for attr in (_HOOKS, _GUARD, "forward", "backward", "_forward"):
            module.__dict__.pop(attr, None)


def _check_module_and_name(module, name: str, func: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{func} expects a fastnn.nn.Module. Received: module={module!r}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"{func}: name must be a non-empty str. Received: name={name!r}")


def _check_parameter(module, name: str, func: str) -> Parameter:
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"{func}: {type(module).__name__} has no parameter {name!r}. Received: name={name!r}")
    return weight


# ---- weight norm ----------------------------------------------------------------------
def _norm_except_dim(v, dim):
    """torch.norm_except_dim(v, 2, dim): the 2-norm over all axes but dim (keepdims), or over
    everything (a 0-d array) for dim None."""
    xp = _device.xp_of(v)
    if dim is None:
        return xp.asarray(xp.sqrt(xp.sum(v * v)))
    axes = tuple(i for i in range(v.ndim) if i != dim)
    return xp.sqrt(xp.sum(v * v, axis=axes, keepdims=True))


class WeightNorm:
    """The hook: name, dim (None for a norm over the whole tensor; torch's -1 means that too)."""

    def __init__(self, name: str, dim):
        self.name = name
        self.dim = dim
        self._cache = None

    def compute_weight(self, module):
        g = module._parameters[self.name + "_g"].data
        v = module._parameters[self.name + "_v"].data
        norm = _norm_except_dim(v, self.dim)
        return v * (g / norm), (g, v, norm)

    def pre_forward(self, module) -> None:
        w, self._cache = self.compute_weight(module)
        _set_weight(module, self.name, w)

    def post_backward(self, module, dw) -> None:
        g, v, norm = self._cache
        axes = None if self.dim is None else tuple(i for i in range(v.ndim) if i != self.dim)
        keep = self.dim is not None
        # w = g v / n:  dg = <dw, v> / n;  dv = (g / n) (dw - v <dw, v> / n^2)
        dot = _device.xp_of(v).sum(dw * v, axis=axes, keepdims=keep)
        module._parameters[self.name + "_g"].add_grad(dot / norm)
        module._parameters[self.name + "_v"].add_grad((g / norm) * (dw - v * (dot / (norm * norm))))

    def __deepcopy__(self, memo):
        new = WeightNorm(self.name, self.dim)
        new._cache = None
        return new


def _weight_norm_dim(dim, ndim: int):
    if dim is None:
        return None
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"weight_norm: dim must be an int or None. Received: dim={dim!r}")
    dim = int(dim)
    if dim == -1:  # torch's convention: -1 is "no dim", a norm over the whole tensor
        return None
    if not -ndim <= dim < ndim:
        raise ValueError(f"weight_norm: dim must be in [{-ndim}, {ndim - 1}] or None for a weight of "
                         f"{ndim} dimensions. Received: dim={dim!r}")
    return dim % ndim


def weight_norm(module, name: str = "weight", dim=0):
    """Weight normalization (torch.nn.utils.weight_norm): replace parameter ``name`` by
    ``name + "_g"`` (the norm of the weight over all axes but ``dim``, keepdims shape; a 0-d
    scalar for ``dim=None`` or ``-1``) and ``name + "_v"`` (the weight), and recompute
    ``module.<name> = g * v / ||v||`` before every forward. Returns module. Deprecated in favour
    of ``parametrizations.weight_norm``, with torch's FutureWarning."""
    warnings.warn("`fastnn.nn.utils.weight_norm` is deprecated in favor of "
                  "`fastnn.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    _check_module_and_name(module, name, "weight_norm")
    for hook in _hooks(module):
        if isinstance(hook, WeightNorm) and hook.name == name:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    weight = _check_parameter(module, name, "weight_norm")
    dim = _weight_norm_dim(dim, weight.data.ndim)
    fn = WeightNorm(name, dim)
    trainable = weight.trainable
    del module._parameters[name]
    object.__delattr__(module, name)
    module.register_parameter(name + "_g", _param(_norm_except_dim(weight.data, dim), trainable))
    module.register_parameter(name + "_v", Parameter(weight.data.copy(), trainable=trainable))
    _install(module, fn)
    fn.pre_forward(module)
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo ``weight_norm``: parameter ``name`` again, holding the current ``g * v / ||v||``
    (``name_g`` / ``name_v`` are removed). ValueError if the module has no weight_norm of name."""
    _check_module_and_name(module, name, "remove_weight_norm")
    for hook in _hooks(module):
        if isinstance(hook, WeightNorm) and hook.name == name:
            w, _ = hook.compute_weight(module)
            trainable = module._parameters[name + "_v"].trainable
            _uninstall(module, hook)
            module.__dict__.pop(name, None)
            delattr(module, name + "_g")
            delattr(module, name + "_v")
            setattr(module, name, Parameter(w, trainable=trainable))
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module!r}")
