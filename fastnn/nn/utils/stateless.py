"""``fastnn.nn.utils.stateless``: run a module with other values for its parameters and buffers
(torch.nn.utils.stateless), plus fastnn's ``swap_parameters`` for a backward pass on them.

``functional_call(module, parameters_and_buffers, args, kwargs)`` puts the given arrays (keyed by
dotted name, ``"0.weight"``, ``"bn.running_mean"``) in place of the module's parameters and
buffers, calls the module, and puts the module's own values back, also when the forward raises.
It is deprecated in torch (a FutureWarning, as torch's) in favour of ``fastnn.func.functional_call``,
the same function (which also takes a tuple of dicts).

The arrays are used as they are (no copy; a parameter's value that is not a C-contiguous float
array is copied, as ``Parameter`` does): what the forward writes into them in place stays there,
as in torch, e.g. BatchNorm's running statistics in training mode update the passed
``running_mean`` / ``running_var`` / ``num_batches_tracked`` arrays and not the module's own. An
attribute the forward assigns anew (``self.buf = self.buf + 1``) is written back into the dict
(torch's too).

Backward (fastnn has no autograd): the values a layer caches in forward are those of the swap, so
a ``module.backward(dy)`` after ``functional_call`` has returned would mix them with the restored
weights and give wrong gradients. For gradients use ``swap_parameters``, which keeps the arrays
in place until the ``with`` block ends::

    with swap_parameters(model, {"weight": w, "bias": b}) as grads:
        y = model(x)
        model.backward(dy)      # model.weight.grad is d loss / d w here
    grads["weight"]             # the same gradient, kept after the block

Inside the block each parameter the dict replaces is held by a Parameter whose ``data`` is the
given array and whose ``grad`` starts empty (the module's own Parameter object when all its names
are given one value, a new one otherwise); the module's own gradients are put back unchanged on
exit, as torch's autograd would leave them (the graph goes through the given tensors only).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from ... import _device
from ..module import Module, Parameter

__all__ = ["functional_call", "swap_parameters"]

_MISSING = object()


def _is_array(value) -> bool:
    return _device.device_of(value) is not None


def _tied_names(module) -> dict:
    """{name: set of every name of the same parameter or buffer object}, for tied names only."""
    by_id: dict = {}
    for name, value in (module.named_parameters(remove_duplicate=False)
                        + module.named_buffers(remove_duplicate=False)):
        by_id.setdefault(id(value), set()).add(name)
    return {name: names for names in by_id.values() if len(names) > 1 for name in names}


def _untie(module, parameters_and_buffers: dict) -> dict:
    """torch's _untie_named_tensors_map: a value given for one name of a tied parameter or buffer
    goes to all its names; different values for names of one tied object are a ValueError."""
    tied = _tied_names(module)
    given = [name for name in parameters_and_buffers if name in tied]
    for name in given:
        names = tied[name]
        values = {id(parameters_and_buffers[n]) for n in names if n in parameters_and_buffers}
        if len(values) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(names)}, "
                             f"which are tied. Consider using tie_weights=False")
    untied = dict(parameters_and_buffers)
    for name in given:
        for other in tied[name]:
            untied[other] = parameters_and_buffers[name]
    return untied


def _check_keys(module, names) -> None:
    valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
    valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
    missing, unexpected = sorted(valid - set(names)), sorted(set(names) - valid)
    msgs = []
    if unexpected:
        msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
    if missing:
        msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
    if msgs:
        raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(type(module).__name__, "\n\t".join(msgs)))


def _submodule(module, path: str, memo: dict):
    """The submodule at a dotted path, with torch's NamedMemberAccessor errors."""
    if not path:
        return module
    if path in memo:
        return memo[path]
    prefix, _, attr = path.rpartition(".")
    parent = _submodule(module, prefix, memo)
    if not hasattr(parent, attr):
        raise AttributeError(f"{type(parent).__name__} has no attribute `{attr}`")
    sub = getattr(parent, attr)
    if not isinstance(sub, Module):
        raise TypeError(f"submodule `{path}`: {sub!r} is not an instance of fastnn.nn.Module")
    memo[path] = sub
    return sub


def _not_array(value) -> TypeError:
    return TypeError(f"{value!r} is not an instance of numpy.ndarray or cupy.ndarray")


def _param_data(name: str, value):
    """A given array as a Parameter's data: a float32/float64 C-contiguous array (copied only
    when it is not one already, as Parameter does)."""
    if not _is_array(value):
        raise _not_array(value)
    if value.dtype not in (np.float32, np.float64):
        raise TypeError(f"parameter {name!r} must be given a float32 or float64 array, got {value.dtype}")
    return value if value.flags.c_contiguous else _device.xp_of(value).ascontiguousarray(value)


class _Swap:
    """The swapped state of one module: what to put back, and where the substitutes live."""

    def __init__(self, module):
        self.module = module
        self.memo: dict = {}
        self.slots: list = []      # (name, owner, attr, kind, original, installed) in swap order
        self.own: list = []        # (Parameter, data, _grad, _grad_is_zero) of the module's own, changed in place
        self.holders: dict = {}    # parameter name -> the Parameter holding its substitute

    def enter(self, values: dict) -> None:
        all_params = self.module.named_parameters(remove_duplicate=False)
        names_of: dict = {}
        for n, p in all_params:
            names_of.setdefault(id(p), []).append(n)
        fresh: dict = {}  # id(value) -> a new Parameter for it (the same one for one array given twice)
        in_place: dict = {}  # id(own Parameter) -> it, already given its substitute
        scalars: dict = {}  # a NumPy scalar (a slice of a stacked 0-d buffer) as a 0-d array, once per object
        values = {k: scalars.setdefault(id(v), np.asarray(v)) if isinstance(v, np.generic) else v
                  for k, v in values.items()}
        for name, value in values.items():
            prefix, _, attr = name.rpartition(".")
            owner = _submodule(self.module, prefix, self.memo)
            if attr == "":
                raise KeyError("tensor name can't be empty string \"\"")
            if attr in owner._parameters:
                own = owner._parameters[attr]
                if isinstance(own, Parameter):
                    names = names_of.get(id(own), [name])
                    whole = all(n in values and values[n] is value for n in names)
                else:
                    whole = False
                if whole:  # every name of this Parameter gets this array: the Parameter itself holds it
                    if id(own) not in in_place:
                        data = _param_data(name, value)
                        self.own.append((own, own.data, own._grad, own._grad_is_zero))
                        own.data = data
                        own._grad = _device.zeros_like(data)
                        own._grad_is_zero = True
                        in_place[id(own)] = own
                    self.slots.append((name, owner, attr, "own", own, own.data))
                    self.holders[name] = own
                else:
                    holder = fresh.get(id(value))
                    if holder is None:
                        holder = Parameter(_param_data(name, value),
                                           trainable=getattr(own, "trainable", True))
                        fresh[id(value)] = holder
                    self.slots.append((name, owner, attr, "param", own, holder.data))
                    owner._parameters[attr] = holder
                    object.__setattr__(owner, attr, holder)
                    self.holders[name] = holder
            elif attr in owner._buffers:
                if not _is_array(value):
                    raise _not_array(value)
                self.slots.append((name, owner, attr, "buffer", owner._buffers[attr], value))
                owner._buffers[attr] = value
                object.__setattr__(owner, attr, value)
            else:
                original = getattr(owner, attr, _MISSING)
                if original is not _MISSING and original is not None and not _is_array(original):
                    raise TypeError(f"attribute `{attr}`: {original!r} is not an instance of numpy.ndarray "
                                    f"or cupy.ndarray")
                if not _is_array(value):
                    raise _not_array(value)
                self.slots.append((name, owner, attr, "attr", original, value))
                object.__setattr__(owner, attr, value)

    def current(self, name, owner, attr, kind):
        """The value at a slot now (what the forward may have reassigned)."""
        if kind in ("own", "param"):
            value = owner._parameters.get(attr, _MISSING)
            return value.data if isinstance(value, Parameter) else value
        if kind == "buffer":
            return owner._buffers.get(attr, _MISSING)
        return owner.__dict__.get(attr, _MISSING)

    def exit(self) -> dict:
        """Put the module's own values back; {name: new value} for each slot the forward
        assigned anew (not for one whose array was only written into)."""
        final = {}
        for name, owner, attr, kind, original, installed in reversed(self.slots):
            now = self.current(name, owner, attr, kind)
            if now is not installed and now is not _MISSING:
                final[name] = now
            if kind in ("own", "param"):
                owner._parameters[attr] = original
                object.__setattr__(owner, attr, original)
            elif kind == "buffer":
                owner._buffers[attr] = original
                object.__setattr__(owner, attr, original)
            elif original is _MISSING:
                owner.__dict__.pop(attr, None)
            else:
                object.__setattr__(owner, attr, original)
        for own, data, grad, grad_is_zero in reversed(self.own):
            own.data, own._grad, own._grad_is_zero = data, grad, grad_is_zero
        return final


def _check_module(module) -> None:
    from ..extra6 import DataParallel

    if not isinstance(module, Module):
        raise TypeError(f"module must be a fastnn.nn.Module. Received: module={module!r}")
    if isinstance(module, DataParallel):
        raise RuntimeError("The stateless API can't be used with nn.DataParallel module")


def _check_dict(parameters_and_buffers) -> None:
    if not isinstance(parameters_and_buffers, dict):
        raise TypeError(f"parameters_and_buffers must be a dict of name -> array. "
                        f"Received: {type(parameters_and_buffers).__name__}")
    for key in parameters_and_buffers:
        if not isinstance(key, str):
            raise TypeError(f"parameters_and_buffers keys must be str (dotted names). Received: {key!r}")


@contextlib.contextmanager
def _reparametrize(module, parameters_and_buffers: dict, tie_weights: bool, strict: bool, grads=None):
    _check_module(module)
    _check_dict(parameters_and_buffers)
    values = _untie(module, parameters_and_buffers) if tie_weights else parameters_and_buffers
    if strict:
        _check_keys(module, values)
    swap = _Swap(module)
    try:
        swap.enter(values)
        yield swap
    finally:
        if grads is not None:
            for name, holder in swap.holders.items():
                if holder.has_grad:
                    grads[name] = holder._fresh_grad()
        final = swap.exit()
        # what the forward left at a slot (an array written anew) goes back into the caller's dict (torch's)
        parameters_and_buffers.update({k: final[k] for k in parameters_and_buffers if k in final})


def _call(module, args, kwargs):
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    if not args and type(module).__call__ is Module.__call__:  # keyword-only input (Module.__call__ needs x)
        if module._forward_pre_hooks or module._forward_hooks:
            return module._call_with_hooks((), kwargs)
        return module.forward(**kwargs)
    return module(*args, **kwargs)


def _functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    with _reparametrize(module, parameters_and_buffers, tie_weights, strict):
        return _call(module, args, kwargs)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights: bool = True,
                    strict: bool = False):
    """``module(*args, **kwargs)`` with ``parameters_and_buffers`` (dotted name -> array) in place
    of its parameters and buffers; the module's own are put back afterwards, also when the
    forward raises (torch.nn.utils.stateless.functional_call, deprecated there: FutureWarning;
    ``fastnn.func.functional_call`` is the same function).

    Args:
        module: a fastnn.nn.Module (not a DataParallel: RuntimeError, as torch's).
        parameters_and_buffers: {dotted name: array}. Names neither a parameter nor a buffer are set
            as plain attributes for the call. The arrays are used in place (see the module docstring).
        args: one value or a tuple of positional arguments (None: none).
        kwargs: a dict of keyword arguments (None: none).
        tie_weights: True (default): a value given for one name of a shared parameter / buffer
            replaces all its names; different values for them are a ValueError. False: only the
            names given are replaced.
        strict: True: every parameter and buffer name must be given and nothing else
            (RuntimeError listing unexpected and missing keys, torch's text).

    Returns the module's output. ``module.backward`` after it does not see the swapped values:
    use ``swap_parameters`` for gradients.
    """
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be "
                  "removed in a future version of PyTorch. Please use `torch.func.functional_call` instead "
                  "which is a drop-in replacement.", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


@contextlib.contextmanager
def swap_parameters(module, parameters_and_buffers, tie_weights: bool = True, strict: bool = False):
    """fastnn only: ``functional_call``'s substitution held for a ``with`` block, so that a
    forward *and* its backward run on the given arrays.

    Inside the block the module's parameters hold the given arrays (``module.get_parameter(name)
    .data is`` the array, when it is a C-contiguous float array) with a gradient that starts
    empty; ``module.backward(dy)`` accumulates the gradient with respect to the given values into
    them, and an optimizer built on ``module.parameters()`` inside the block would update the given
    arrays in place. Yields a dict that, when the block ends (also by an exception), is filled with
    {parameter name: gradient array} for each given parameter that received a gradient (tied names
    share one array). Then the module's own parameters, buffers and gradients are put back as they
    were. Arguments as ``functional_call``'s (same errors).
    """
    grads: dict = {}
    with _reparametrize(module, parameters_and_buffers, tie_weights, strict, grads=grads):
        yield grads
