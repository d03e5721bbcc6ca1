"""torch.nn.utils.fusion: fold an eval-mode BatchNorm into the Conv or Linear layer before it.

Eval-mode BatchNorm is the per-channel affine map ``(y - mean) * w / sqrt(var + eps) + b``, so a
Conv/Linear followed by it is one Conv/Linear with the weight scaled per output channel and a
new bias: ``W' = W * w / sqrt(var + eps)``, ``b' = (b - mean) * w / sqrt(var + eps) + b_bn``.
"""
from __future__ import annotations

import copy
import numbers

import numpy as np

from ... import _device
from ..conv3d import Conv3d, ConvTranspose3d
from ..layers import Conv2d, ConvTranspose2d, Linear, _BatchNorm
from ..layers1d import Conv1d, ConvTranspose1d
from ..module import Parameter

__all__ = ["FusionError", "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]

_CONVS = (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)


class FusionError(ValueError, AssertionError):
    """Modules that cannot be fused (torch raises AssertionError): a ValueError too."""


def _array(name, a, optional=False):
    """a's data (a Parameter's, or an array), or None when allowed."""
    if a is None and optional:
        return None
    data = a.data if isinstance(a, Parameter) else a
    if _device.device_of(data) is None:
        raise TypeError(f"{name} must be an array or a fastnn.nn.Parameter. Received: {name}={a!r}")
    if not np.issubdtype(data.dtype, np.floating):
        raise TypeError(f"{name} must be floating-point. Received: {name} of dtype {data.dtype}")
    return data


def _requires_grad(a) -> bool:
    """torch's ``tensor.requires_grad``: a Parameter's flag; a plain array is a tensor without one."""
    return bool(a.requires_grad) if isinstance(a, Parameter) else False


def _bn_vectors(channels, rm, rv, w, b):
    """The four BatchNorm vectors as arrays (None weight / bias: ones / zeros, torch's), each
    1-D of ``channels`` or 1 element (broadcast, as torch's arithmetic does)."""
    rm, rv = _array("bn_rm", rm), _array("bn_rv", rv)
    w, b = _array("bn_w", w, optional=True), _array("bn_b", b, optional=True)
    xp = _device.xp_of(rm)
    w = xp.ones_like(rm) if w is None else w
    b = xp.zeros_like(rm) if b is None else b
    for name, v in (("bn_rm", rm), ("bn_rv", rv), ("bn_w", w), ("bn_b", b)):
        if v.ndim != 1 or v.shape[0] not in (channels, 1):
            raise ValueError(f"{name} must be 1-D with {channels} (the weight's output-channel axis) or 1 elements. "
                             f"Received: {name} of shape {v.shape}")
    return xp, rm, rv, w, b


def _eps(bn_eps) -> float:
    if isinstance(bn_eps, bool) or not isinstance(bn_eps, numbers.Real):
        raise TypeError(f"bn_eps must be a real number. Received: bn_eps={bn_eps!r}")
    return float(bn_eps)


def _rsqrt(xp, rv, eps):
    with np.errstate(divide="ignore", invalid="ignore"):  # var + eps <= 0: inf / NaN, as torch's rsqrt
        return 1 / xp.sqrt(rv + rv.dtype.type(eps))


def _bias(xp, b, channels, like):
    """The fused bias (channels,) with the dtype of ``like`` (a size-1 BatchNorm broadcast out)."""
    return xp.ascontiguousarray(xp.broadcast_to(b, (channels,)).astype(like, copy=True))


def _layer_bias(name, given, b, channels, xp, rm, w_dtype):
    """(bias as an array, the fused bias's dtype, whether it trains) of the layer's bias b (the
    array of `given`, or None: zeros in the statistics' dtype, the weight's dtype, not trained)."""
    if b is None:
        return xp.zeros_like(rm), w_dtype, False
    if b.shape not in ((channels,), (1,)):
        raise ValueError(f"{name} must be 1-D with {channels} elements. Received: {name} of shape {b.shape}")
    return b, b.dtype, _requires_grad(given)


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose: bool = False):
    """(weight, bias) Parameters of the convolution ``conv_w``/``conv_b`` (bias may be None)
    followed by the BatchNorm of running statistics ``bn_rm``, ``bn_rv``, ``bn_eps`` and affine
    ``bn_w``, ``bn_b`` (either None: 1 / 0). Output channels are axis 0 of the weight, axis 1 with
    ``transpose=True`` (a transposed convolution). The weight keeps conv_w's dtype, the bias
    conv_b's (conv_w's when None); each is trainable as its input (a plain array, or no bias:
    not trainable, as torch's tensors without requires_grad)."""
    if not isinstance(transpose, (bool, np.bool_)):
        raise TypeError(f"transpose must be True or False. Received: transpose={transpose!r}")
    w = _array("conv_w", conv_w)
    if w.ndim < 2:
        raise ValueError(f"conv_w must have at least 2 dimensions. Received: conv_w of shape {w.shape}")
    channels = w.shape[1] if transpose else w.shape[0]
    b = _array("conv_b", conv_b, optional=True)
    xp, rm, rv, bw, bb = _bn_vectors(channels, bn_rm, bn_rv, bn_w, bn_b)
    eps = _eps(bn_eps)
    w_dtype = w.dtype
    b, b_dtype, b_grad = _layer_bias("conv_b", conv_b, b, channels, xp, rm, w_dtype)
    rsqrt = _rsqrt(xp, rv, eps)
    shape = ((1, -1) if transpose else (-1, 1)) + (1,) * (w.ndim - 2)
    fused_w = (w * (bw * rsqrt).reshape(shape)).astype(w_dtype)
    fused_b = (b - rm) * rsqrt * bw + bb
    return (Parameter(fused_w, trainable=_requires_grad(conv_w)),
            Parameter(_bias(xp, fused_b, channels, b_dtype), trainable=b_grad))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(weight, bias) Parameters of ``linear_w`` (out, in) / ``linear_b`` followed by the
    BatchNorm ``bn_rm``, ``bn_rv``, ``bn_eps``, ``bn_w``, ``bn_b`` (of out or 1 features); see
    ``fuse_conv_bn_weights``."""
    w = _array("linear_w", linear_w)
    if w.ndim != 2:
        raise ValueError(f"linear_w must be 2-D (out_features, in_features). Received: linear_w of shape {w.shape}")
    channels = w.shape[0]
    b = _array("linear_b", linear_b, optional=True)
    xp, rm, rv, bw, bb = _bn_vectors(channels, bn_rm, bn_rv, bn_w, bn_b)
    eps = _eps(bn_eps)
    w_dtype = w.dtype
    b, b_dtype, b_grad = _layer_bias("linear_b", linear_b, b, channels, xp, rm, w_dtype)
    scale = bw * _rsqrt(xp, rv, eps)
    fused_w = w * scale.reshape(-1, 1).astype(w_dtype)  # (torch casts the scale first, here)
    fused_b = (b - rm) * scale + bb
    return (Parameter(fused_w.astype(w_dtype, copy=False), trainable=_requires_grad(linear_w)),
            Parameter(_bias(xp, fused_b, channels, b_dtype), trainable=b_grad))


def _check_eval(name, layer, bn) -> None:
    if not isinstance(bn, _BatchNorm):
        raise TypeError(f"bn must be a fastnn BatchNorm1d/2d/3d. Received: bn={bn!r}")
    if layer.training or bn.training:
        raise FusionError(f"Fusion only for eval! Received: {name}.training={layer.training}, "
                          f"bn.training={bn.training}")
    if bn.running_mean is None or bn.running_var is None:
        raise FusionError("bn.running_mean and bn.running_var must not be None "
                          "(Received: bn with track_running_stats=False)")


def fuse_conv_bn_eval(conv, bn, transpose: bool = False):
    """A deep copy of ``conv`` (Conv1d/2d/3d, ConvTranspose1d/2d/3d with ``transpose=True``)
    whose forward is conv then ``bn`` in eval mode; both must be in eval mode (FusionError,
    torch's "Fusion only for eval!"), bn must have running statistics."""
    if not isinstance(conv, _CONVS):
        raise TypeError(f"conv must be a fastnn Conv1d/2d/3d or ConvTranspose1d/2d/3d. Received: conv={conv!r}")
    _check_eval("conv", conv, bn)
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight if bn.affine else None,
                                                    bn.bias if bn.affine else None, transpose)
    return fused


def fuse_linear_bn_eval(linear, bn):
    """A deep copy of ``linear`` whose forward is linear then ``bn`` (BatchNorm1d of
    out_features or 1 features) in eval mode; see ``fuse_conv_bn_eval``."""
    if not isinstance(linear, Linear):
        raise TypeError(f"linear must be a fastnn Linear. Received: linear={linear!r}")
    _check_eval("linear", linear, bn)
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise FusionError(f"To fuse, linear.out_features == bn.num_features or bn.num_features == 1, got "
                          f"linear.out_features={linear.out_features} and bn.num_features={bn.num_features}")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight if bn.affine else None,
                                                      bn.bias if bn.affine else None)
    return fused
