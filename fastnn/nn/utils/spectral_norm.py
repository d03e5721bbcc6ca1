"""torch.nn.utils.spectral_norm / remove_spectral_norm (torch's old hook API) for fastnn modules.

Same wrapping as weight_norm.py (see there): before every forward the weight
``W / sigma`` is recomputed into ``module.<name>`` (an unregistered, non-trainable Parameter the
layer reads); in training mode ``n_power_iterations`` steps of power iteration first update the
buffers ``<name>_u`` / ``<name>_v`` in place. sigma = u^T W_mat v, W_mat the weight with axis
``dim`` moved first and flattened to 2-D. As torch's, u and v are constants of the backward
(torch computes them under no_grad and clones them in training), so the gradient of the
parameter ``<name>_orig`` is ``dw / sigma - <dw, W> / sigma^2 * (u v^T reshaped as W)``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ... import _device
from ..._random import get_rng
from ..module import check_float_arg, check_int
from .weight_norm import _check_module_and_name, _check_parameter, _hooks, _install, _set_weight, _uninstall

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]


def _normalize(x, eps: float):
    """torch.nn.functional.normalize(x, dim=0, eps=eps) of a vector: x / max(||x||, eps)."""
    xp = _device.xp_of(x)
    return x / max(float(xp.sqrt(xp.sum(x * x))), eps)


class SpectralNorm:
    """The hook: name, n_power_iterations, dim (the output axis, moved first), eps."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        self.name = name
        self.n_power_iterations = n_power_iterations
        self.dim = dim
        self.eps = eps
        self._cache = None

    def reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = _device.xp_of(weight).moveaxis(weight, self.dim, 0)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration: bool):
        weight = module._parameters[self.name + "_orig"].data
        u = module._buffers[self.name + "_u"]
        v = module._buffers[self.name + "_v"]
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            for _ in range(self.n_power_iterations):
                v[...] = _normalize(weight_mat.T @ u, self.eps)
                u[...] = _normalize(weight_mat @ v, self.eps)
        u, v = u.copy(), v.copy()  # constants of this step's backward (torch's clone)
        sigma = _device.xp_of(u).sum(u * (weight_mat @ v))
        return weight / sigma, (weight, u, v, sigma)

    def pre_forward(self, module) -> None:
        w, self._cache = self.compute_weight(module, do_power_iteration=module.training)
        _set_weight(module, self.name, w)

    def post_backward(self, module, dw) -> None:
        weight, u, v, sigma = self._cache
        xp = _device.xp_of(weight)
        outer = (u[:, None] * v[None, :]).reshape(self.reshape_weight_to_matrix(weight).shape)
        # outer as W_mat, back to the weight's layout (axis dim first, then the others)
        shape = (weight.shape[self.dim],) + tuple(s for i, s in enumerate(weight.shape) if i != self.dim)
        outer = xp.moveaxis(outer.reshape(shape), 0, self.dim)
        dot = xp.sum(dw * weight)
        module._parameters[self.name + "_orig"].add_grad(dw / sigma - (dot / (sigma * sigma)) * outer)

    def __deepcopy__(self, memo):
        return SpectralNorm(self.name, self.n_power_iterations, self.dim, self.eps)


def _is_conv_transpose(module) -> bool:
    return type(module).__name__ in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d") or any(
        c.__name__ in ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d") for c in type(module).__mro__)


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim=None):
    """Spectral normalization (torch.nn.utils.spectral_norm): parameter ``name`` becomes
    ``name + "_orig"``, buffers ``name + "_u"`` / ``name + "_v"`` (normalized normal draws from
    fastnn's RNG) are added, and ``module.<name> = W / sigma(W)`` is recomputed before every
    forward (power iteration in training mode only). dim: 1 for ConvTranspose1d/2d/3d, else 0.
    Returns module."""
    _check_module_and_name(module, name, "spectral_norm")
    n_power_iterations = check_int("n_power_iterations", n_power_iterations, minimum=-(2**62))
    if n_power_iterations <= 0:
        raise ValueError("Expected n_power_iterations to be positive, but "
                         f"got n_power_iterations={n_power_iterations}")
    eps = check_float_arg("eps", eps, low=0.0)
    for hook in _hooks(module):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    weight = _check_parameter(module, name, "spectral_norm")
    ndim = weight.data.ndim
    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"spectral_norm: dim must be an int or None. Received: dim={dim!r}")
    if not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"spectral_norm: dim must be in [{-ndim}, {ndim - 1}] for a weight of {ndim} "
                         f"dimensions. Received: dim={dim!r}")
    fn = SpectralNorm(name, n_power_iterations, int(dim) % max(ndim, 1), eps)
    h, w = fn.reshape_weight_to_matrix(weight.data).shape
    rng = get_rng()
    dtype = weight.data.dtype
    u = _normalize(rng.normal(0.0, 1.0, size=h).astype(dtype), eps).astype(dtype)
    v = _normalize(rng.normal(0.0, 1.0, size=w).astype(dtype), eps).astype(dtype)
    del module._parameters[name]
    object.__delattr__(module, name)
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    _install(module, fn)
    _set_weight(module, name, weight.data.copy())  # torch: module.<name> = weight.data until a forward
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo ``spectral_norm``: parameter ``name`` again, holding ``W / sigma`` with the current
    u and v (no power iteration); ``name_orig``, ``name_u`` and ``name_v`` are removed.
    ValueError if the module has no spectral_norm of name."""
    _check_module_and_name(module, name, "remove_spectral_norm")
    for hook in _hooks(module):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            w, _ = hook.compute_weight(module, do_power_iteration=False)
            trainable = module._parameters[name + "_orig"].trainable
            _uninstall(module, hook)
            module.__dict__.pop(name, None)
            for suffix in ("_u", "_v", "_orig"):
                delattr(module, name + suffix)
            from ..module import Parameter
            module.register_parameter(name, Parameter(w, trainable=trainable))
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module!r}")
