"""torch.nn.utils.convert_parameters: all parameters as one flat vector, and back."""
from __future__ import annotations

import numpy as np

from ... import _device
from ..module import Module, Parameter

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _arrays(parameters) -> list:
    """The data arrays of ``parameters`` (Parameters or arrays; a Module: its parameters()), all
    on one device (torch's check: a TypeError otherwise)."""
    if isinstance(parameters, Module):
        parameters = parameters.parameters()
    elif isinstance(parameters, Parameter) or _device.device_of(parameters) is not None:
        parameters = [parameters]
    try:
        parameters = list(parameters)
    except TypeError:
        raise TypeError(f"parameters must be an iterable of Parameters. Received: parameters={parameters!r}") from None
    arrays, device = [], None
    for i, p in enumerate(parameters):
        a = p.data if isinstance(p, Parameter) else p
        d = _device.device_of(a)
        if d is None:
            raise TypeError(f"parameters must hold fastnn.nn.Parameter or arrays. Received: parameters[{i}]={p!r}")
        if device is None:
            device = d
        elif d != device:
            raise TypeError("Found two parameters on different devices, this is currently not supported. "
                            f"Received: parameters[{i}] on {d}, the first on {device}")
        arrays.append(a)
    return arrays


def parameters_to_vector(parameters):
    """A new 1-D array of every parameter's values flattened (C order) and concatenated, in
    order, in the parameters' promoted dtype (torch's ``parameters_to_vector``)."""
    arrays = _arrays(parameters)
    if not arrays:
        raise ValueError("parameters_to_vector expects at least one parameter. Received: no parameters")
    return _device.xp_of(arrays[0]).concatenate([a.reshape(-1) for a in arrays])


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into each parameter's data, in place, each
    reshaped to the parameter's shape and cast to its dtype (torch's ``vector_to_parameters``).
    ``vec.size`` must equal the parameters' total size; nothing is written otherwise."""
    if _device.device_of(vec) is None:
        raise TypeError(f"expected a numpy or cupy array, but got: {type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vec must be 1-D. Received: vec of shape {vec.shape}")
    if not (np.issubdtype(vec.dtype, np.floating) or np.issubdtype(vec.dtype, np.integer)):
        raise TypeError(f"vec must be a real-valued array. Received: vec of dtype {vec.dtype}")
    arrays = _arrays(parameters)
    total = sum(int(a.size) for a in arrays)
    if vec.size != total:
        raise ValueError(f"vec has {vec.size} elements but the parameters have {total} in all")
    if arrays and _device.device_of(vec) != _device.device_of(arrays[0]):
        raise TypeError(f"vec is on {_device.device_of(vec)} but the parameters are on "
                        f"{_device.device_of(arrays[0])}")
    pointer = 0
    for a in arrays:
        n = int(a.size)
        a[...] = vec[pointer:pointer + n].reshape(a.shape)
        pointer += n
