"""torch.nn.utils.prune for fastnn modules: magnitude, random and custom pruning of parameters.

Pruning parameter ``name`` of a module (as torch's):

- the Parameter itself (the same object: an optimizer built before still trains it) becomes the
  parameter ``<name>_orig`` (appended to the module's parameters, so ``bias`` then
  ``weight_orig``, torch's order), a float buffer ``<name>_mask`` (0/1, the weight's dtype and
  device) is added, and ``module.<name>`` becomes ``orig * mask``, recomputed before every
  forward. ``state_dict()`` holds ``<name>_orig`` and ``<name>_mask``, torch's keys.
- fastnn has no autograd, so the machinery of weight_norm.py does the reparametrization (the
  instance's ``forward`` / ``backward`` wrapped; ``module.<name>`` an unregistered,
  non-trainable Parameter the layer reads): after the layer's own backward wrote the weight
  gradient dw, ``<name>_orig.grad += dw * mask`` (the chain rule of ``orig * mask``).
- Pruning the same parameter again composes the masks through a ``PruningContainer``: the new
  method sees only the entries (unstructured) or channels (structured) not yet pruned, so an
  amount counts among those (torch's ``_compute_nparams_toprune`` on the unpruned slice); its
  scores are the current ``module.<name>`` (the weight of the last forward, as torch's).
- ``remove(module, name)`` makes the pruning permanent: ``<name>`` a plain parameter again (the
  same Parameter object, holding ``orig * mask``), ``<name>_orig`` / ``<name>_mask`` deleted.

Which entries go: ``L1Unstructured`` the smallest ``|score|``, ``LnStructured`` the channels of
smallest Ln norm along ``dim``, the random methods a uniform choice from fastnn's global RNG.
Ties (equal scores): the entry or channel of the lower (flat) index is pruned first (torch's
``topk`` leaves the order of ties unspecified). Masks are chosen on the host (the scores are
copied there: a sort), then stored on the weight's device; the per-step work (``orig * mask``,
``dw * mask``) runs on the weight's array module (NumPy or CuPy).
"""
from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from ... import _device
from ..._random import get_rng
from ..module import Module, Parameter
from .weight_norm import _check_module_and_name, _hooks, _install, _set_weight, _uninstall

__all__ = [
    "BasePruningMethod", "PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured",
    "RandomStructured", "LnStructured", "CustomFromMask", "identity", "random_unstructured", "l1_unstructured",
    "random_structured", "ln_structured", "global_unstructured", "custom_from_mask", "remove", "is_pruned",
]


# ---- array helpers ----------------------------------------------------------------------
def _data(a):
    return a.data if isinstance(a, Parameter) else a


def _on_device_of(a, ref, dtype=None):
    """a (a NumPy / CuPy array or array-like) as a fresh contiguous array on ref's device,
    of dtype (default: a's own)."""
    a = _data(a)
    if _device.device_of(a) is None:
        a = np.asarray(a)
    a = _device.move(a, _device.device_of(ref))
    a = a.astype(a.dtype if dtype is None else dtype)  # a copy
    return _device.xp_of(a).ascontiguousarray(a)


def _keep_mask_like(keep: np.ndarray, ref):
    """A host 0/1 array as ref's dtype on ref's device."""
    return _on_device_of(keep.astype(ref.dtype), ref)


def _pruned_first(scores: np.ndarray, k: int) -> np.ndarray:
    """Flat indices of the k smallest scores (ties: the lower index first)."""
    return np.argsort(scores.ravel(), kind="stable")[:k]


# ---- the hook (weight_norm.py's protocol: name, pre_forward, post_backward) --------------
class _PruningHook:
    """Adapts a pruning method to weight_norm.py's hooks: recompute ``module.<name>`` before a
    forward, turn the weight gradient into ``<name>_orig``'s after a backward."""

    def __init__(self, method):
        self.method = method
        self._mask = None  # the mask of the last forward (what its backward multiplies by)

    @property
    def name(self) -> str:
        return self.method._tensor_name

    def pre_forward(self, module) -> None:
        self._mask = module._buffers[self.name + "_mask"]
        _set_weight(module, self.name, self.method.apply_mask(module))

    def post_backward(self, module, dw) -> None:
        mask = self._mask if self._mask is not None else module._buffers[self.name + "_mask"]
        module._parameters[self.name + "_orig"].add_grad(dw * mask)


def _find_hook(module, name):
    for hook in _hooks(module):
        if isinstance(hook, _PruningHook) and hook.name == name:
            return hook
    return None


# ---- validation (torch's messages) --------------------------------------------------------
def _validate_pruning_amount_init(amount) -> None:
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount!r}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (
            not isinstance(amount, numbers.Integral) and not 0.0 <= float(amount) <= 1.0):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _compute_nparams_toprune(amount, tensor_size: int) -> int:
    """amount as a count: an int as is, a fraction rounded (Python's round, as torch's)."""
    if isinstance(amount, numbers.Integral):
        return int(amount)
    return round(float(amount) * tensor_size)


def _validate_pruning_amount(amount: int, tensor_size: int) -> None:
    if amount > tensor_size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={tensor_size}")


def _validate_structured_pruning(t) -> None:
    if t.ndim <= 1:
        raise ValueError("Structured pruning can only be applied to multidimensional tensors. Found tensor of "
                         f"shape {tuple(t.shape)} with {t.ndim} dims")


def _validate_pruning_dim(t, dim) -> int:
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int. Received: dim={dim!r}")
    if not -t.ndim <= dim < t.ndim:
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")
    return int(dim) % t.ndim


def _compute_norm(t: np.ndarray, n, dim: int) -> np.ndarray:
    """torch.norm(t, p=n, dim=all axes but dim): one Ln norm per channel along dim."""
    x = np.moveaxis(t, dim, 0)
    if isinstance(n, str):
        if n == "fro":  # torch.norm: the 2-norm over at most 2 dims (a matrix norm error beyond)
            if x.ndim > 3:
                raise RuntimeError(f"n='fro' needs at most 2 dims besides dim (torch.norm's limit), got a tensor "
                                   f"of shape {tuple(t.shape)}")
            n = 2
        elif n == "nuc":
            if x.ndim != 3:
                raise ValueError(f"n='nuc' needs a 3-D tensor (a matrix per channel), got shape {tuple(t.shape)}")
            return np.linalg.norm(x, ord="nuc", axis=(1, 2))
        else:
            raise ValueError(f"n must be a number, 'fro' or 'nuc'. Received: n={n!r}")
    elif isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Real):
        raise TypeError(f"n must be a number, 'fro' or 'nuc'. Received: n={n!r}")
    a = np.abs(x.reshape(x.shape[0], -1))
    n = float(n)
    if n == np.inf:
        return a.max(axis=1, initial=0.0)
    if n == -np.inf:
        return a.min(axis=1, initial=np.inf)
    if n == 0:
        return (a != 0).sum(axis=1).astype(a.dtype)
    with np.errstate(divide="ignore"):
        return (a**n).sum(axis=1) ** (1.0 / n)


# ---- pruning methods --------------------------------------------------------------------
class BasePruningMethod(ABC):
    """Base class of pruning methods (torch's): subclasses set ``PRUNING_TYPE``
    ("unstructured", "structured" (with a ``dim`` attribute) or "global") and implement
    ``compute_mask(t, default_mask)``, the new mask (0/1, t's shape) on top of default_mask."""

    _tensor_name = None
    PRUNING_TYPE: str

    def __call__(self, module, inputs=None):
        """Recompute ``module.<name> = orig * mask`` (what runs before every forward)."""
        _set_weight(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t, default_mask):
        """The mask for scores t, respecting default_mask (the mask of earlier pruning)."""

    def apply_mask(self, module):
        """``<name>_orig * <name>_mask`` (an array on the weight's device)."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = module._buffers[self._tensor_name + "_mask"]
        orig = module._parameters[self._tensor_name + "_orig"].data
        return mask.astype(orig.dtype, copy=False) * orig

    @classmethod
    def apply(cls, module, name, *args, importance_scores=None, **kwargs):
        """Prune parameter ``name`` of module with ``cls(*args, **kwargs)`` (composed with an
        earlier pruning of it through a PruningContainer); importance_scores (the parameter's
        shape) rank the entries instead of the weight. Returns the method (or the container)."""
        _check_module_and_name(module, name, "prune")
        old = _find_hook(module, name)
        method = cls(*args, **kwargs)
        method._tensor_name = name
        added_to = None
        if old is None:
            weight = module._parameters.get(name)
            if weight is None:
                if not hasattr(module, name):
                    raise AttributeError(f"'{type(module).__name__}' object has no attribute '{name}'")
                raise TypeError(f"prune: {type(module).__name__}.{name} is not a parameter "
                                f"(got {type(getattr(module, name)).__name__}). Received: name={name!r}")
            current = weight.data
            default_mask = _device.xp_of(current).ones_like(current)
            combined = method
        else:
            current = getattr(module, name).data  # the weight of the last forward, as torch's module.<name>
            default_mask = module._buffers[name + "_mask"].copy()
            if isinstance(old.method, PruningContainer):
                combined = added_to = old.method
            else:
                combined = PruningContainer(old.method)
            combined.add_pruning_method(method)
        if importance_scores is not None:
            if tuple(_data(importance_scores).shape) != tuple(current.shape):
                raise AssertionError(f"importance_scores should have the same shape as parameter {name} of "
                                     f"{module}, got {tuple(_data(importance_scores).shape)} vs {tuple(current.shape)}")
            scores = _on_device_of(importance_scores, current)
        else:
            scores = current
        try:
            mask = combined.compute_mask(scores, default_mask=default_mask)
            if tuple(mask.shape) != tuple(current.shape):
                raise ValueError(f"{type(combined).__name__}.compute_mask returned a mask of shape "
                                 f"{tuple(mask.shape)} for parameter {name} of shape {tuple(current.shape)}")
            mask = _on_device_of(mask, current, current.dtype)
        except BaseException:
            if added_to is not None:  # the container is left as it was
                added_to._pruning_methods = added_to._pruning_methods[:-1]
            raise
        # commit: nothing below can fail on a valid module
        if old is None:
            del module._parameters[name]
            object.__delattr__(module, name)
            module.register_parameter(name + "_orig", weight)
        else:
            _uninstall(module, old)
            module.__dict__.pop(name, None)
        module.register_buffer(name + "_mask", mask)
        hook = _PruningHook(combined)
        _install(module, hook)  # last, as torch re-registers the forward pre-hook
        hook.pre_forward(module)
        return combined

    def prune(self, t, default_mask=None, importance_scores=None):
        """t * compute_mask(importance_scores or t, default_mask or ones): t pruned, the module untouched."""
        t = _data(t)
        if importance_scores is not None:
            if tuple(_data(importance_scores).shape) != tuple(t.shape):
                raise AssertionError("importance_scores should have the same shape as tensor t, "
                                     f"got {tuple(_data(importance_scores).shape)} vs {tuple(t.shape)}")
            importance_scores = _on_device_of(importance_scores, t)
        else:
            importance_scores = t
        default_mask = (_device.xp_of(t).ones_like(t) if default_mask is None
                        else _on_device_of(default_mask, t))
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module) -> None:
        """Make the pruning permanent: parameter ``<name>`` (the ``_orig`` Parameter object)
        holding ``orig * mask``; ``<name>_orig`` and ``<name>_mask`` removed. Pruning itself is
        not undone."""
        if self._tensor_name is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name = self._tensor_name
        weight = self.apply_mask(module)
        hook = _find_hook(module, name)
        if hook is not None:  # also when called on a method inside the hook's container
            _uninstall(module, hook)
        module.__dict__.pop(name, None)
        orig = module._parameters[name + "_orig"]
        orig.data = weight
        delattr(module, name + "_orig")
        delattr(module, name + "_mask")
        module.__dict__.get("_non_persistent", set()).discard(name + "_mask")
        module.register_parameter(name, orig)


class PruningContainer(BasePruningMethod):
    """A sequence of pruning methods of one parameter (iterative pruning): ``compute_mask``
    applies the latest one to the part not pruned yet (the entries where the mask is 1 for
    "unstructured", the channels along ``dim`` not all zero for "structured", everything for
    "global") and writes its result into the previous mask."""

    def __init__(self, *args) -> None:
        self._pruning_methods: tuple = ()
        if args and isinstance(args[0], BasePruningMethod):
            self._tensor_name = args[0]._tensor_name
        for method in args:
            self.add_pruning_method(method)

    def add_pruning_method(self, method) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' "
                             f"to PruningContainer {self}. Found '{method._tensor_name}'")
        self._pruning_methods += (method,)

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self):
        return iter(self._pruning_methods)

    def __getitem__(self, idx):
        return self._pruning_methods[idx]

    def compute_mask(self, t, default_mask):
        if not self._pruning_methods:
            raise ValueError("PruningContainer has no pruning method to compute a mask with")
        method = self._pruning_methods[-1]
        t = _data(t)
        mask = default_mask
        new_mask = mask.copy()
        kind = getattr(method, "PRUNING_TYPE", None)
        if kind == "unstructured":
            slc = mask == 1
        elif kind == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute '
                                     "`dim` defined.")
            dim = _validate_pruning_dim(t, method.dim)
            keep_channel = mask.sum(axis=tuple(d for d in range(t.ndim) if d != dim)) != 0
            slc = [slice(None)] * t.ndim
            slc[dim] = keep_channel
            slc = tuple(slc)
        elif kind == "global":
            slc = (slice(None),) * t.ndim
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {kind}")
        partial_mask = method.compute_mask(t[slc], default_mask=mask[slc])
        new_mask[slc] = partial_mask.astype(new_mask.dtype)
        return new_mask


class Identity(BasePruningMethod):
    """Prunes nothing: the reparametrization with a mask of ones."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        return default_mask

    @classmethod
    def apply(cls, module, name):
        return super().apply(module, name)



def _unstructured_mask(amount, t, default_mask, choose):
    """default_mask with the k = amount entries ``choose(size, k)`` (flat indices) also zeroed."""
    size = int(t.size)
    k = _compute_nparams_toprune(amount, size)
    _validate_pruning_amount(k, size)
    if k == 0:
        return default_mask.copy()
    keep = np.ones(size)
    keep[choose(size, k)] = 0
    return default_mask * _keep_mask_like(keep.reshape(t.shape), default_mask)


class RandomUnstructured(BasePruningMethod):
    """Prune ``amount`` (an int count, or a float fraction of the entries) not yet pruned entries,
    chosen uniformly at random (fastnn's global RNG)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _unstructured_mask(self.amount, t, default_mask,
                                  lambda size, k: get_rng().choice(size, size=k, replace=False))

    @classmethod
    def apply(cls, module, name, amount):
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prune the ``amount`` (int count or float fraction) not yet pruned entries of smallest
    ``|score|`` (ties: the lower flat index first)."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t, default_mask):
        return _unstructured_mask(self.amount, t, default_mask,
                                  lambda size, k: _pruned_first(np.abs(_device.to_host(t)), k))

    @classmethod
    def apply(cls, module, name, amount, importance_scores=None):
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)



def _channels_to_prune(amount, t, dim):
    """(dim, channels along it, how many to prune) for a structured method, validated as torch."""
    _validate_structured_pruning(t)
    dim = _validate_pruning_dim(t, dim)
    nchannels = int(t.shape[dim])
    k = _compute_nparams_toprune(amount, nchannels)
    _validate_pruning_amount(k, nchannels)
    return dim, nchannels, k


def _without_channels(t, dim, default_mask, drop):
    """default_mask with the channels ``drop`` (indices along dim) also zeroed."""
    channel_keep = np.ones(int(t.shape[dim]))
    channel_keep[drop] = 0
    shape = [1] * t.ndim
    shape[dim] = channel_keep.size
    keep = np.broadcast_to(channel_keep.reshape(shape), t.shape)
    return default_mask * _keep_mask_like(keep, default_mask)


class RandomStructured(BasePruningMethod):
    """Prune ``amount`` (int count or float fraction of the channels) whole channels along
    ``dim`` (default -1), chosen uniformly at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, dim=-1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t, default_mask):
        dim, nchannels, k = _channels_to_prune(self.amount, t, self.dim)
        if k == 0:
            return default_mask
        return _without_channels(t, dim, default_mask, get_rng().choice(nchannels, size=k, replace=False))

    @classmethod
    def apply(cls, module, name, amount, dim=-1):
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prune the ``amount`` (int count or float fraction of the channels) channels along ``dim``
    of smallest Ln norm (``n``: a number, inf, -inf, 'fro' or 'nuc', torch.norm's ``p``; ties:
    the lower channel index first)."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount, n, dim=-1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t, default_mask):
        dim, _, k = _channels_to_prune(self.amount, t, self.dim)
        norm = _compute_norm(_device.to_host(t), self.n, dim)  # (checked also when k == 0, as torch)
        if k == 0:
            return default_mask
        return _without_channels(t, dim, default_mask, _pruned_first(norm, k))

    @classmethod
    def apply(cls, module, name, amount, n, dim, importance_scores=None):
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Prune with a given mask (the parameter's shape): the new mask is default_mask * mask."""

    PRUNING_TYPE = "global"

    def __init__(self, mask) -> None:
        self.mask = _data(mask)

    def compute_mask(self, t, default_mask):
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError(f"default_mask shape {tuple(default_mask.shape)} must match self.mask shape "
                                 f"{tuple(self.mask.shape)}")
        return default_mask * _on_device_of(self.mask, default_mask, default_mask.dtype)

    @classmethod
    def apply(cls, module, name, mask):
        return super().apply(module, name, mask=mask)


# ---- functions ----------------------------------------------------------------------------
def identity(module, name):
    """Reparametrize ``name`` with a mask of ones (nothing pruned). Returns module."""
    Identity.apply(module, name)
    return module


def random_unstructured(module, name, amount):
    """Prune ``amount`` random entries of ``name`` (int count or float fraction). Returns module."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module, name, amount, importance_scores=None):
    """Prune the ``amount`` entries of ``name`` of smallest |importance_scores| (default: the
    weight). Returns module."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module, name, amount, dim):
    """Prune ``amount`` random channels of ``name`` along dim. Returns module."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module, name, amount, n, dim, importance_scores=None):
    """Prune the ``amount`` channels of ``name`` along dim of smallest Ln norm. Returns module."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(parameters, pruning_method, importance_scores=None, **kwargs) -> None:
    """Prune the (module, name) pairs of ``parameters`` together: ``pruning_method`` (an
    "unstructured" method class, e.g. L1Unstructured; kwargs such as ``amount`` go to it) ranks
    all their entries (``importance_scores``: a dict (module, name) -> scores; default the
    weights) as one vector, and each parameter gets its slice of the mask (``custom_from_mask``)."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    if not parameters:
        raise ValueError("global_unstructured(): parameters is empty")
    for pair in parameters:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"global_unstructured(): parameters must hold (module, name) tuples. Received: {pair!r}")
        _check_module_and_name(pair[0], pair[1], "global_unstructured")
        if not hasattr(pair[0], pair[1]):
            raise AttributeError(f"'{type(pair[0]).__name__}' object has no attribute '{pair[1]}'")
    weights = [_data(getattr(module, name)) for module, name in parameters]
    ref = weights[0]
    xp = _device.xp_of(ref)
    for w, (module, name) in zip(weights, parameters):
        if _device.device_of(w) != _device.device_of(ref):
            raise TypeError(f"global_unstructured(): all parameters must be on one device; {name} of "
                            f"{type(module).__name__} is {_device.describe(w)}, the first is {_device.describe(ref)}")
    scores = []
    for w, key in zip(weights, parameters):
        s = importance_scores.get(key, w)
        if tuple(_data(s).shape) != tuple(w.shape):
            raise AssertionError(f"importance_scores should have the same shape as parameter {key[1]} of "
                                 f"{key[0]}, got {tuple(_data(s).shape)} vs {tuple(w.shape)}")
        scores.append(_on_device_of(s, ref, ref.dtype).ravel())
    relevant_importance_scores = xp.concatenate(scores)
    default_mask = xp.concatenate([
        _on_device_of(module._buffers[name + "_mask"], ref, ref.dtype).ravel() if name + "_mask" in module._buffers
        else xp.ones(int(w.size), dtype=ref.dtype) for w, (module, name) in zip(weights, parameters)])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if getattr(method, "PRUNING_TYPE", None) != "unstructured":
        raise TypeError('Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
                        f"{pruning_method} of type {getattr(method, 'PRUNING_TYPE', None)}")
    container.add_pruning_method(method)
    final_mask = container.compute_mask(relevant_importance_scores, default_mask)
    pointer = 0
    for w, (module, name) in zip(weights, parameters):
        num = int(w.size)
        custom_from_mask(module, name, mask=final_mask[pointer:pointer + num].reshape(w.shape))
        pointer += num


def custom_from_mask(module, name, mask):
    """Prune ``name`` with the given mask (its shape; nonzero keeps). Returns module."""
    CustomFromMask.apply(module, name, mask)
    return module


def remove(module, name):
    """Make the pruning of ``name`` permanent (see BasePruningMethod.remove). Returns module.
    ValueError if ``name`` is not pruned."""
    _check_module_and_name(module, name, "remove")
    hook = _find_hook(module, name)
    if hook is None:
        raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")
    hook.method.remove(module)
    return module


def is_pruned(module) -> bool:
    """Whether module or one of its submodules has a pruned parameter."""
    if not isinstance(module, Module):
        raise TypeError(f"is_pruned expects a fastnn.nn.Module. Received: module={module!r}")
    return any(isinstance(hook, _PruningHook) for _, sub in module.named_modules() for hook in _hooks(sub))
