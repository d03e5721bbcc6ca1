"""``fastnn.func``: torch.func's module helpers, ``functional_call`` and ``stack_module_state``.

fastnn has no function transforms (grad, vmap): ``functional_call`` gives the forward values, and
``fastnn.nn.utils.stateless.swap_parameters`` a backward on substituted values; an ensemble made
by ``stack_module_state`` is run model by model (``{k: v[i] for k, v in params.items()}``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _device
from .nn.utils.stateless import _functional_call

__all__ = ["functional_call", "stack_module_state"]


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights: bool = True,
                    strict: bool = False):
    """``module(*args, **kwargs)`` with the given arrays in place of its parameters and buffers
    (torch.func.functional_call); see ``fastnn.nn.utils.stateless.functional_call`` for the
    semantics (in-place writes reach the given arrays, everything restored afterwards).

    Args:
        module: a fastnn.nn.Module.
        parameter_and_buffer_dicts: a dict {dotted name: array}, or a list/tuple of such dicts
            with distinct keys (merged; a key in two of them is a ValueError, torch's).
        args: one value or a tuple of positional arguments; kwargs: a dict of keyword arguments.
        tie_weights, strict: as torch's (default True, False).
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        parameters_and_buffers = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence) and not isinstance(parameter_and_buffer_dicts, (str, bytes)):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("Expected all elements of parameter_and_buffer_dicts to be dictionaries")
        counts: dict = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
        parameters_and_buffers = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, "
                         f"but got {type(parameter_and_buffer_dicts)}")
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


def _stack(arrays: tuple, name: str):
    devices = {_device.device_of(a) for a in arrays}
    if len(devices) > 1:
        raise RuntimeError(f"Expected {name} from each model to be on the same device, got {sorted(devices)}")
    for i, a in enumerate(arrays[1:], 1):
        if a.shape != arrays[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(arrays[0].shape)} "
                               f"at entry 0 and {list(a.shape)} at entry {i}")
    return _device.xp_of(arrays[0]).stack(arrays)


def stack_module_state(models):
    """(params, buffers): two dicts {name: array} with each parameter's (buffer's) values of the
    ``M`` models stacked on a new leading axis, shape (M, *shape), in ``named_parameters()`` /
    ``named_buffers()`` order of the first model (torch.func.stack_module_state). The arrays are
    new (copies): changing them leaves the models as they are.

    The models (a list, tuple or ModuleList) must be of one class, all in training or all in
    eval mode, with parameters of the same names and shapes, each parameter trainable in all or
    in none (torch's ``requires_grad`` rule): RuntimeError otherwise, with torch's messages (a
    name missing from a later model: KeyError, as torch's).
    """
    from .nn.module import Module

    models = list(models)
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    for m in models:
        if not isinstance(m, Module):
            raise TypeError(f"stack_module_state: models must be fastnn.nn.Module objects. Received: {m!r}")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    cls = type(models[0])
    if not all(type(m) is cls for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {}
    for k in all_params[0]:
        ps = tuple(p[k] for p in all_params)
        trainable = [p.trainable for p in ps]
        if any(trainable) and not all(trainable):
            raise RuntimeError(f"Expected {k} from each model to have the same .requires_grad")
        params[k] = _stack(tuple(p.data for p in ps), k)
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: _stack(tuple(b[k] for b in all_buffers), k) for k in all_buffers[0]}
    return params, buffers
