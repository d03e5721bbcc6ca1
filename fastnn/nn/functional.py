"""``fastnn.nn.functional``: torch.nn.functional's functions, forward only.

fastnn has no autograd, so these functions compute forward values only: arrays in, arrays out,
on the input's array module (NumPy; CuPy on the GPU). Gradients come from the layers' ``backward``
(use the layer, e.g. ``nn.Conv2d``, when you need them). Each function delegates to the one
definition fastnn already has: the layer's ``forward`` (built around the given weights, which are
used as they are, not copied) or the op in ``fastnn.ops``; none re-implements the maths.

Signatures and defaults are torch 2.13's. Losses return what the fastnn loss module returns: a
Python float for ``reduction="mean"``/``"sum"``, an array for ``"none"``. See
docs_functional.md for the departures from torch.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import _device, _random
from . import activation as _act
from . import adaptive as _adaptive
from . import conv3d as _conv3d
from . import extra as _extra
from . import extra2 as _extra2
from . import extra3 as _extra3
from . import extra4 as _extra4
from . import extra5 as _extra5
from . import extra6 as _extra6
from . import layers as _layers
from . import layers1d as _layers1d
from . import layers3d as _layers3d
from . import loss as _loss
from . import loss_extra as _loss_extra
from . import transformer as _transformer
from .. import ops
from ._grid import affine_grid, grid_sample

__all__ = [
    # activations
    "relu", "relu_", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "leaky_relu", "prelu", "rrelu",
    "hardtanh", "hardsigmoid", "hardswish", "sigmoid", "tanh", "softplus", "softsign", "softshrink", "hardshrink",
    "tanhshrink", "threshold", "logsigmoid", "glu", "softmax", "log_softmax", "softmin", "normalize",
    "elu_", "celu_", "hardtanh_", "leaky_relu_", "rrelu_", "selu_", "threshold_", "gumbel_softmax",
    # linear, conv, pooling
    "linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "conv_tbc", "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
    "max_unpool1d", "max_unpool2d", "max_unpool3d", "fractional_max_pool2d", "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices",
    # shapes, embeddings, dropout, normalization
    "pad", "interpolate", "affine_grid", "grid_sample", "one_hot", "embedding", "dropout", "dropout1d", "dropout2d", "dropout3d",
    "alpha_dropout", "feature_alpha_dropout", "batch_norm", "layer_norm", "group_norm", "instance_norm",
    "rms_norm", "local_response_norm", "pixel_shuffle", "pixel_unshuffle", "unfold", "fold",
    "cosine_similarity", "pairwise_distance", "pdist", "scaled_dot_product_attention",
    "upsample", "upsample_nearest", "upsample_bilinear", "embedding_bag", "channel_shuffle",
    "native_channel_shuffle", "multi_head_attention_forward",
    # losses
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
    "hinge_embedding_loss", "margin_ranking_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
    "cosine_embedding_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss", "multi_margin_loss",
    "multilabel_margin_loss", "ctc_loss", "linear_cross_entropy",
]


# ---- helpers -----------------------------------------------------------------------------------
def _build(cls, *args, **kwargs):
    """cls(*args, **kwargs) without moving fastnn's global RNG (a layer's init draws from it)."""
    gen = _random.get_rng()
    state = gen.bit_generator.state
    try:
        return cls(*args, **kwargs)
    finally:
        gen.bit_generator.state = state


def _check_array(fn, name, a):
    xp = _device.xp_of(a) if _device.device_of(a) is not None else None
    if xp is None:
        raise TypeError(f"{fn}: {name} must be a NumPy or CuPy array, got {type(a).__name__}: {a!r:.80}")
    return xp


def _set(param, value, fn, name):
    """param.data = value (no copy): value must have the parameter's shape."""
    _check_array(fn, name, value)
    if tuple(value.shape) != tuple(param.data.shape):
        raise ValueError(f"{fn}: {name} must have shape {tuple(param.data.shape)}, got {tuple(value.shape)}")
    param.data = value


def _bool(fn, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a bool, got {type(value).__name__}: {value!r}")
    return bool(value)


def _act_layer(cls, input, *args, **kwargs):  # noqa: A002 (torch's name)
    _check_array(cls.__name__.lower(), "input", input)
    return _build(cls, *args, **kwargs).forward(input)


# ---- activations -------------------------------------------------------------------------------
def relu(input, inplace=False):  # noqa: A002
    return _act_layer(_act.ReLU, input, inplace=inplace)


def relu_(input):  # noqa: A002
    return _inplace("relu_", input, lambda x: relu(x, inplace=True))


def relu6(input, inplace=False):  # noqa: A002
    return _act_layer(_act.ReLU6, input, inplace=inplace)


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    return _act_layer(_act.ELU, input, alpha=alpha, inplace=inplace)


def selu(input, inplace=False):  # noqa: A002
    return _act_layer(_act.SELU, input, inplace=inplace)


def celu(input, alpha=1.0, inplace=False):  # noqa: A002
    return _act_layer(_act.CELU, input, alpha=alpha, inplace=inplace)


def gelu(input, approximate="none"):  # noqa: A002
    return _act_layer(_act.GELU, input, approximate=approximate)


def silu(input, inplace=False):  # noqa: A002
    return _act_layer(_act.SiLU, input, inplace=inplace)


def mish(input, inplace=False):  # noqa: A002
    return _act_layer(_act.Mish, input, inplace=inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    return _act_layer(_act.LeakyReLU, input, negative_slope=negative_slope, inplace=inplace)


def prelu(input, weight):  # noqa: A002
    _check_array("prelu", "input", input)
    _check_array("prelu", "weight", weight)
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D (num_parameters,), got shape {tuple(weight.shape)}")
    layer = _build(_extra.PReLU, num_parameters=int(weight.shape[0]))
    _set(layer.weight, weight, "prelu", "weight")
    return layer.forward(input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):  # noqa: A002
    layer = _build(_extra2.RReLU, lower=lower, upper=upper, inplace=inplace)
    layer.train(_bool("rrelu", "training", training))
    _check_array("rrelu", "input", input)
    return layer.forward(input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):  # noqa: A002
    return _act_layer(_act.Hardtanh, input, min_val=min_val, max_val=max_val, inplace=inplace)


def hardsigmoid(input, inplace=False):  # noqa: A002
    return _act_layer(_act.Hardsigmoid, input, inplace=inplace)


def hardswish(input, inplace=False):  # noqa: A002
    return _act_layer(_act.Hardswish, input, inplace=inplace)


def sigmoid(input):  # noqa: A002
    return _act_layer(_act.Sigmoid, input)


def tanh(input):  # noqa: A002
    return _act_layer(_act.Tanh, input)


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    return _act_layer(_act.Softplus, input, beta=beta, threshold=threshold)


def softsign(input):  # noqa: A002
    return _act_layer(_act.Softsign, input)


def softshrink(input, lambd=0.5):  # noqa: A002
    return _act_layer(_act.Softshrink, input, lambd=lambd)


def hardshrink(input, lambd=0.5):  # noqa: A002
    return _act_layer(_act.Hardshrink, input, lambd=lambd)


def tanhshrink(input):  # noqa: A002
    return _act_layer(_act.Tanhshrink, input)


def threshold(input, threshold, value, inplace=False):  # noqa: A002
    return _act_layer(_act.Threshold, input, threshold=threshold, value=value, inplace=inplace)


def logsigmoid(input):  # noqa: A002
    return _act_layer(_act.LogSigmoid, input)


def glu(input, dim=-1):  # noqa: A002
    return _act_layer(_extra2.GLU, input, dim=dim)


# ---- in-place activations (torch's trailing-underscore functions) ------------------------------
def _inplace(fn, input, compute):  # noqa: A002
    """Write compute(input) into input and return input itself, as torch's in-place functions:
    the array must be writeable and of a float dtype (the result is a float); a layer that could
    not write in place (a non-contiguous view, a CuPy array) has its result copied back in."""
    _check_array(fn, "input", input)
    if not getattr(input.flags, "writeable", True):
        raise ValueError(f"{fn}: input is a read-only array; an in-place function writes its result into it "
                         f"(pass a writeable array or use the out-of-place {fn[:-1]})")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: the result is a float and cannot be written into an array of dtype {input.dtype} "
                        f"(in-place needs a float array)")
    y = compute(input)
    if y is not input:
        input[...] = y
    return input


def elu_(input, alpha=1.0):  # noqa: A002
    return _inplace("elu_", input, lambda x: elu(x, alpha, inplace=True))


def celu_(input, alpha=1.0):  # noqa: A002
    return _inplace("celu_", input, lambda x: celu(x, alpha, inplace=True))


def hardtanh_(input, min_val=-1.0, max_val=1.0):  # noqa: A002
    return _inplace("hardtanh_", input, lambda x: hardtanh(x, min_val, max_val, inplace=True))


def leaky_relu_(input, negative_slope=0.01):  # noqa: A002
    return _inplace("leaky_relu_", input, lambda x: leaky_relu(x, negative_slope, inplace=True))


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):  # noqa: A002
    return _inplace("rrelu_", input, lambda x: rrelu(x, lower, upper, training, inplace=True))


def selu_(input):  # noqa: A002
    return _inplace("selu_", input, lambda x: selu(x, inplace=True))


_threshold = threshold  # (threshold_'s argument of that name hides the function)


def threshold_(input, threshold, value):  # noqa: A002
    return _inplace("threshold_", input, lambda x: _threshold(x, threshold, value, inplace=True))


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) along dim, g = -log(E) with E ~ Exp(1) drawn from fastnn's RNG
    (one per element, in float64 on the host, rounded to the logits' dtype); hard=True returns
    the one-hot of that sample's argmax along dim (the first maximum, as torch's max). eps is
    deprecated and unused (torch's warning when it is not the default)."""
    fn = "gumbel_softmax"
    xp = _check_array(fn, "logits", logits)
    if logits.dtype.kind != "f":
        raise TypeError(f"{fn}: logits must be a float array, got dtype {logits.dtype}")
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", UserWarning, stacklevel=2)
    hard = _bool(fn, "hard", hard)
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real):
        raise TypeError(f"{fn}: tau must be a number, got {tau!r}")
    nd = max(logits.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not -nd <= dim < nd:
        raise IndexError(f"{fn}: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                         f"but got {dim!r})")
    noise = np.random.default_rng(_random.next_seed()).exponential(1.0, logits.shape)
    with np.errstate(divide="ignore"):
        gumbels = (-np.log(noise)).astype(logits.dtype)
    if _device.device_of(logits) != _device.CPU:
        gumbels = _device.move(gumbels, _device.device_of(logits))
    y_soft = softmax((logits + gumbels) / logits.dtype.type(tau), dim=int(dim))
    if not hard:
        return y_soft
    if logits.ndim == 0:
        return xp.ones((), logits.dtype)
    if logits.size == 0:
        return xp.zeros(logits.shape, logits.dtype)
    d = int(dim) % logits.ndim
    index = xp.expand_dims(xp.argmax(y_soft, axis=d), d)
    along = xp.arange(int(logits.shape[d])).reshape((1,) * d + (-1,) + (1,) * (logits.ndim - d - 1))
    return (index == along).astype(logits.dtype)


def _softmax_dim(name, ndim, stacklevel):
    """torch's implicit-dim rule (with its warning): 0 for 0-, 1- and 3-D inputs, else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_family(cls, name, input, dim, stacklevel, dtype):  # noqa: A002
    _check_array(name, "input", input)
    if dim is None:
        dim = _softmax_dim(name, input.ndim, stacklevel + 1)
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise TypeError(f"{name}: dtype must be float32 or float64, got {dtype!r}")
        input = input.astype(dt, copy=False)
    return _build(cls, dim=dim).forward(input)


def softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    return _softmax_family(_act.Softmax, "softmax", input, dim, _stacklevel, dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    return _softmax_family(_act.LogSoftmax, "log_softmax", input, dim, _stacklevel, dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):  # noqa: A002
    return _softmax_family(_act.Softmin, "softmin", input, dim, _stacklevel, dtype)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):  # noqa: A002
    """input / max(||input||_p along dim, eps), the norm fastnn's distance losses use."""
    xp = _check_array("normalize", "input", input)
    p = _loss_extra._check_norm_p(p)
    nd = max(input.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or not -nd <= dim < nd:
        raise ValueError(f"normalize: dim must be an int in [-{nd}, {nd}), got {dim!r}")
    x = input if input.ndim else input.reshape(1)
    moved = xp.moveaxis(x, int(dim), -1)
    with np.errstate(divide="ignore", invalid="ignore"):  # (the helper's unused gradient part)
        norm, _ = _loss_extra._vector_norm(xp, moved.astype(np.float64), p)
    denom = xp.maximum(xp.moveaxis(norm[..., None], -1, int(dim)), eps)
    y = (x / denom).astype(input.dtype).reshape(input.shape)
    if out is not None:
        out[...] = y
        return out
    return y


# ---- linear and convolution --------------------------------------------------------------------
def linear(input, weight, bias=None):  # noqa: A002
    _check_array("linear", "input", input)
    _check_array("linear", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    layer = _build(_layers.Linear, int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None, init="zeros")
    _set(layer.weight, weight, "linear", "weight")
    if bias is not None:
        _set(layer.bias, bias, "linear", "bias")
    return layer.forward(input)


def bilinear(input1, input2, weight, bias=None):
    _check_array("bilinear", "weight", weight)
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out, in1, in2), got shape {tuple(weight.shape)}")
    o, i, j = map(int, weight.shape)
    layer = _build(_extra3.Bilinear, i, j, o, bias=bias is not None)
    _set(layer.weight, weight, "bilinear", "weight")
    if bias is not None:
        _set(layer.bias, bias, "bilinear", "bias")
    return layer.forward(input1, input2)


def _conv(fn, cls, transpose, input, weight, bias, stride, padding, dilation, groups,  # noqa: A002
          output_padding=0):
    _check_array(fn, "input", input)
    _check_array(fn, "weight", weight)
    spatial = {"conv1d": 1, "conv2d": 2, "conv3d": 3}[fn.replace("_transpose", "")]
    if weight.ndim != spatial + 2:
        raise ValueError(f"{fn}: weight must be {spatial + 2}-D, got shape {tuple(weight.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{fn}: groups must be a positive int, got {groups!r}")
    kernel = tuple(int(k) for k in weight.shape[2:])
    if input.ndim in (spatial + 1, spatial + 2):
        have = int(input.shape[input.ndim - spatial - 1])
        want = int(weight.shape[0]) if transpose else int(weight.shape[1]) * int(groups)
        if have != want:
            raise ValueError(f"{fn}: Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                             f"{list(input.shape)} to have {want} channels, but got {have} channels instead")
    if transpose:
        in_ch, out_ch = int(weight.shape[0]), int(weight.shape[1]) * int(groups)
        layer = _build(cls, in_ch, out_ch, kernel, stride=stride, padding=padding, output_padding=output_padding,
                       groups=groups, bias=bias is not None, dilation=dilation, init="zeros")
    else:
        in_ch, out_ch = int(weight.shape[1]) * int(groups), int(weight.shape[0])
        layer = _build(cls, in_ch, out_ch, kernel, stride=stride, padding=padding, dilation=dilation,
                       groups=groups, bias=bias is not None, init="zeros")
    _set(layer.weight, weight, fn, "weight")
    if bias is not None:
        _set(layer.bias, bias, fn, "bias")
    return layer.forward(input)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv("conv1d", _layers1d.Conv1d, False, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv("conv2d", _layers.Conv2d, False, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    return _conv("conv3d", _conv3d.Conv3d, False, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    return _conv("conv_transpose1d", _layers1d.ConvTranspose1d, True, input, weight, bias, stride, padding,
                 dilation, groups, output_padding)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    return _conv("conv_transpose2d", _layers.ConvTranspose2d, True, input, weight, bias, stride, padding,
                 dilation, groups, output_padding)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    return _conv("conv_transpose3d", _conv3d.ConvTranspose3d, True, input, weight, bias, stride, padding,
                 dilation, groups, output_padding)


def conv_tbc(input, weight, bias, pad=0):  # noqa: A002
    """The 1-D convolution of a (time, batch, channels) input: input (T, B, Cin), weight (K, Cin, Cout),
    bias (Cout,) -> (T + 2 pad - K + 1, B, Cout), as torch's; conv1d on the transposed arrays.
    A negative pad crops |pad| steps from each end (torch's too); no room for a window: 0 steps."""
    fn = "conv_tbc"
    xp = _check_array(fn, "input", input)
    _check_array(fn, "weight", weight)
    _check_array(fn, "bias", bias)
    if input.ndim != 3:
        raise _layers.ShapeError(f"{fn}: Input must have 3 dims: time, batch, in_channel, got shape "
                                 f"{tuple(input.shape)}")
    if weight.ndim != 3:
        raise _layers.ShapeError(f"{fn}: Weight tensor must have 3 dims: kernel_width, in_channels, out_channels, "
                                 f"got shape {tuple(weight.shape)}")
    if bias.ndim != 1:
        raise _layers.ShapeError(f"{fn}: Bias must be 1-D, got shape {tuple(bias.shape)}")
    if input.shape[2] != weight.shape[1]:
        raise _layers.ShapeError(f"{fn}: Input dim 2 (input channels) is not == dim 1 in the weight tensor "
                                 f"(input {tuple(input.shape)}, weight {tuple(weight.shape)})")
    if weight.shape[2] != bias.shape[0]:
        raise _layers.ShapeError(f"{fn}: Bias size must equal dim 2 in the weight tensor (output channels) "
                                 f"(weight {tuple(weight.shape)}, bias {tuple(bias.shape)})")
    if isinstance(pad, bool) or not isinstance(pad, numbers.Integral):
        raise TypeError(f"{fn}: pad must be an int, got {pad!r}")
    t, b, _ = map(int, input.shape)
    k, c_out = int(weight.shape[0]), int(weight.shape[2])
    pad = int(pad)
    steps = t + 2 * pad - k + 1
    if steps <= 0 or b == 0 or k == 0:
        return xp.zeros((max(steps, 0), b, c_out), input.dtype)
    x = xp.ascontiguousarray(input.transpose(1, 2, 0))  # (B, Cin, T)
    if pad < 0:
        x = xp.ascontiguousarray(x[..., -pad:t + pad])
    w = xp.ascontiguousarray(weight.transpose(2, 1, 0))  # (Cout, Cin, K)
    y = conv1d(x, w, bias, padding=max(pad, 0))
    return xp.ascontiguousarray(y.transpose(2, 0, 1))


# ---- pooling -----------------------------------------------------------------------------------
def _stride(stride):
    """torch's rule: stride None or empty means the kernel size."""
    return None if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else stride


def _pool(fn, cls, input, *args, **kwargs):  # noqa: A002
    _check_array(fn, "input", input)
    return _build(cls, *args, **kwargs).forward(input)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    return _pool("max_pool1d", _layers1d.MaxPool1d, input, kernel_size, _stride(stride), padding, dilation,
                 return_indices=return_indices, ceil_mode=ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    return _pool("max_pool2d", _layers.MaxPool2d, input, kernel_size, _stride(stride), padding, dilation,
                 return_indices=return_indices, ceil_mode=ceil_mode)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    return _pool("max_pool3d", _layers3d.MaxPool3d, input, kernel_size, _stride(stride), padding, dilation,
                 return_indices=return_indices, ceil_mode=ceil_mode)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    return _pool("avg_pool1d", _layers1d.AvgPool1d, input, kernel_size, _stride(stride), padding,
                 ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    return _pool("avg_pool2d", _layers.AvgPool2d, input, kernel_size, _stride(stride), padding,
                 ceil_mode=ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    return _pool("avg_pool3d", _layers3d.AvgPool3d, input, kernel_size, _stride(stride), padding,
                 ceil_mode=ceil_mode, count_include_pad=count_include_pad, divisor_override=divisor_override)


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    return _pool("adaptive_avg_pool1d", _layers1d.AdaptiveAvgPool1d, input, output_size)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    return _pool("adaptive_avg_pool2d", _adaptive.AdaptiveAvgPool2d, input, output_size)


def adaptive_avg_pool3d(input, output_size):  # noqa: A002
    return _pool("adaptive_avg_pool3d", _layers3d.AdaptiveAvgPool3d, input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):  # noqa: A002
    return _pool("adaptive_max_pool1d", _layers1d.AdaptiveMaxPool1d, input, output_size,
                 return_indices=return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):  # noqa: A002
    return _pool("adaptive_max_pool2d", _adaptive.AdaptiveMaxPool2d, input, output_size,
                 return_indices=return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):  # noqa: A002
    return _pool("adaptive_max_pool3d", _layers3d.AdaptiveMaxPool3d, input, output_size,
                 return_indices=return_indices)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    return _pool("lp_pool1d", _extra3.LPPool1d, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    return _pool("lp_pool2d", _extra3.LPPool2d, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):  # noqa: A002
    return _pool("lp_pool3d", _extra4.LPPool3d, input, norm_type, kernel_size, stride, ceil_mode)


# The *_with_indices forms return (values, indices) whatever return_indices says, as torch's:
# indices int64, flat within each (N, C) plane.
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
                            return_indices=False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):  # noqa: A002
    return adaptive_max_pool3d(input, output_size, return_indices=True)


def _unpool(fn, cls, input, indices, kernel_size, stride, padding, output_size):  # noqa: A002
    _check_array(fn, "input", input)
    return _build(cls, kernel_size, _stride(stride), padding).forward(input, indices, output_size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    return _unpool("max_unpool1d", _extra3.MaxUnpool1d, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    return _unpool("max_unpool2d", _extra3.MaxUnpool2d, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    return _unpool("max_unpool3d", _extra4.MaxUnpool3d, input, indices, kernel_size, stride, padding, output_size)


def _fractional(fn, cls, n, input, kernel_size, output_size, output_ratio, return_indices,  # noqa: A002
                _random_samples):
    """torch's functional rule: output_size wins over output_ratio; a ratio gives
    int(size * ratio) per axis (not range-checked, as torch's functional)."""
    _check_array(fn, "input", input)
    return_indices = _bool(fn, "return_indices", return_indices)
    if output_size is None:
        if output_ratio is None:
            raise ValueError(f"{fn} requires specifying either an output_size or an output_ratio")
        ratio = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * n
        if len(ratio) != n or any(isinstance(r, bool) or not isinstance(r, numbers.Real) for r in ratio):
            raise ValueError(f"{fn}: output_ratio must be a number or {n} numbers, got {output_ratio!r}")
        if input.ndim not in (n + 1, n + 2):
            raise ValueError(f"{fn}: input must be {n + 1}-D or {n + 2}-D, got shape {tuple(input.shape)}")
        output_size = tuple(int(int(input.shape[input.ndim - n + i]) * float(r)) for i, r in enumerate(ratio))
    y, idx = _build(cls, kernel_size, output_size=output_size, return_indices=True,
                    _random_samples=_random_samples).forward(input)
    return (y, idx) if return_indices else y


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                                       return_indices=False, _random_samples=None):
    return _fractional("fractional_max_pool2d", _extra5.FractionalMaxPool2d, 2, input, kernel_size, output_size,
                       output_ratio, True, _random_samples)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,  # noqa: A002
                          _random_samples=None):
    """Fractional max pooling (FractionalMaxPool2d's maths: torch's window formula, so with the
    same _random_samples (N, C, 2) the result is torch's); the samples are drawn from fastnn's
    RNG when not given. return_indices=True: (values, int64 flat indices)."""
    return _fractional("fractional_max_pool2d", _extra5.FractionalMaxPool2d, 2, input, kernel_size, output_size,
                       output_ratio, return_indices, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,  # noqa: A002
                                       return_indices=False, _random_samples=None):
    return _fractional("fractional_max_pool3d", _extra5.FractionalMaxPool3d, 3, input, kernel_size, output_size,
                       output_ratio, True, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,  # noqa: A002
                          _random_samples=None):
    """fractional_max_pool2d over (T, H, W); _random_samples (N, C, 3)."""
    return _fractional("fractional_max_pool3d", _extra5.FractionalMaxPool3d, 3, input, kernel_size, output_size,
                       output_ratio, return_indices, _random_samples)


# ---- padding and resampling --------------------------------------------------------------------
_PAD_LAYERS = {
    "constant": (_layers1d.ConstantPad1d, _extra.ConstantPad2d, _layers3d.ConstantPad3d),
    "reflect": (_layers1d.ReflectionPad1d, _layers1d.ReflectionPad2d, _layers3d.ReflectionPad3d),
    "replicate": (_layers1d.ReplicationPad1d, _layers1d.ReplicationPad2d, _layers3d.ReplicationPad3d),
    "circular": (_layers1d.CircularPad1d, _layers1d.CircularPad2d, _layers3d.CircularPad3d),
}


def pad(input, pad, mode="constant", value=None):  # noqa: A002
    """torch's F.pad for 1, 2 or 3 padded (last) axes (pad of length 2, 4 or 6)."""
    _check_array("pad", "input", input)
    if not isinstance(mode, str) or mode not in _PAD_LAYERS:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, _PAD_LAYERS))}, got mode={mode!r}")
    try:
        amounts = tuple(pad)
    except TypeError:
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}") from None
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in amounts):
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}")
    if len(amounts) % 2 or len(amounts) // 2 not in (1, 2, 3):
        raise ValueError(f"pad: fastnn pads 1, 2 or 3 trailing axes: pad must have length 2, 4 or 6, got {pad!r}")
    if len(amounts) // 2 > input.ndim:
        raise ValueError(f"pad: padding length {len(amounts)} is too large for an input with {input.ndim} dims")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument, got value={value!r}")
    if input.dtype.kind in "biu":  # masks, label maps: pad their positions (exact in float64), then gather
        return _pad_by_index(input, amounts, mode, value)
    cls = _PAD_LAYERS[mode][len(amounts) // 2 - 1]
    if mode == "constant":
        v = 0.0 if value is None else value
        lead = input.ndim - len(amounts) // 2
        if lead not in (1, 2):  # the layers take (C, *spatial) or (N, C, *spatial): fold other leading axes
            shape = input.shape
            x = input.reshape((1, -1) + tuple(shape[lead:])) if lead > 2 else input.reshape((1,) + tuple(shape))
            y = _build(cls, amounts, v).forward(x)
            return y.reshape(tuple(shape[:lead]) + tuple(y.shape[2 if lead > 2 else 1:]))
        return _build(cls, amounts, v).forward(input)
    return _build(cls, amounts).forward(input)


def _pad_by_index(input, amounts, mode, value):  # noqa: A002
    """pad for an integer or bool array, as torch's: the float padding of the elements' flat
    positions (-1 where a constant fills) says which element lands where."""
    xp = _device.xp_of(input)
    if input.size >= 2 ** 53:
        raise ValueError(f"pad: an integer input of {input.size} elements is too large to pad")
    positions = pad(xp.arange(input.size, dtype=np.float64).reshape(input.shape), amounts, mode,
                    -1.0 if mode == "constant" else value)
    inside = positions >= 0
    fill = np.asarray(0 if value is None else value).astype(input.dtype)
    if input.size == 0:
        return xp.full(positions.shape, fill, dtype=input.dtype)
    out = input.reshape(-1)[xp.where(inside, positions, 0).astype(np.int64)]
    return out if mode != "constant" else xp.where(inside, out, fill.item())


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,  # noqa: A002
                recompute_scale_factor=None, antialias=False):
    _check_array("interpolate", "input", input)
    if _bool("interpolate", "antialias", antialias):
        raise ValueError("interpolate: antialias=True is not supported by fastnn (antialias=False only)")
    return _build(_extra.Upsample, size=size, scale_factor=scale_factor, mode=mode, align_corners=align_corners,
                  recompute_scale_factor=recompute_scale_factor).forward(input)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    """Deprecated (torch's UserWarning): interpolate(input, size, scale_factor, mode, align_corners)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated (torch's UserWarning): interpolate(input, size, scale_factor, mode="nearest")."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated (torch's UserWarning): interpolate(input, size, scale_factor, mode="bilinear",
    align_corners=True)."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
                  UserWarning, stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input, upscale_factor):  # noqa: A002
    return _pool("pixel_shuffle", _layers1d.PixelShuffle, input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):  # noqa: A002
    return _pool("pixel_unshuffle", _layers1d.PixelUnshuffle, input, downscale_factor)


def _channel_shuffle(fn, input, groups):  # noqa: A002
    _check_array(fn, "input", input)
    if input.ndim <= 2:
        raise _layers.ShapeError(f"{fn}: channel_shuffle expects input with > 2 dims, but got input with sizes "
                                 f"{list(input.shape)}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"{fn}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise _layers.ShapeError(f"{fn}: Number of groups to divide channels in must be positive. "
                                 f"Value of groups:{groups}")
    if input.shape[1] % groups:
        raise _layers.ShapeError(f"{fn}: Number of channels must be divisible by groups. Got {input.shape[1]} "
                                 f"channels and {groups} groups.")
    return _build(_layers1d.ChannelShuffle, int(groups)).forward(input)


def channel_shuffle(input, groups):  # noqa: A002
    """ChannelShuffle's permutation of axis 1 of (N, C, *) (more than 2 axes): output channel
    j * groups + i is input channel i * (C / groups) + j."""
    return _channel_shuffle("channel_shuffle", input, groups)


def native_channel_shuffle(input, groups):  # noqa: A002
    """channel_shuffle (torch's native kernel of the same maths)."""
    return _channel_shuffle("native_channel_shuffle", input, groups)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    return _pool("unfold", _extra3.Unfold, input, kernel_size, dilation=dilation, padding=padding, stride=stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    return _pool("fold", _extra3.Fold, input, output_size, kernel_size, dilation=dilation, padding=padding,
                 stride=stride)


# ---- embeddings --------------------------------------------------------------------------------
def one_hot(tensor, num_classes=-1):
    """An int64 array of shape tensor.shape + (num_classes,) (num_classes=-1: max + 1), as torch's."""
    xp = _check_array("one_hot", "tensor", tensor)
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: tensor must hold integer class indices, got dtype {tensor.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be an int >= -1, got {num_classes!r}")
    if tensor.size and int(tensor.min()) < 0:
        raise ValueError(f"one_hot: Class values must be non-negative, got {int(tensor.min())}")
    if num_classes == -1:
        if tensor.size == 0:
            raise ValueError("one_hot: can not infer total number of classes from empty tensor")
        num_classes = int(tensor.max()) + 1
    if tensor.size and int(tensor.max()) >= num_classes:
        raise ValueError(f"one_hot: Class values must be smaller than num_classes ({num_classes}), "
                         f"got {int(tensor.max())}")
    return (tensor[..., None] == xp.arange(int(num_classes))).astype(np.int64)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,  # noqa: A002
              sparse=False):
    _check_array("embedding", "weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    layer = _build(_extra.Embedding, int(weight.shape[0]), int(weight.shape[1]), padding_idx=padding_idx,
                   max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse,
                   _weight=weight)
    layer.weight.data = weight  # the very array (max_norm renormalizes its rows in place, as torch's)
    return layer.forward(input)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,  # noqa: A002
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """EmbeddingBag's forward with the given table (used as it is: max_norm renormalizes its rows
    in place, as torch's). sparse only changes torch's gradient, so it is accepted and has no
    effect here (fastnn has no sparse gradients); torch's checks and errors otherwise."""
    fn = "embedding_bag"
    _check_array(fn, "input", input)
    _check_array(fn, "weight", weight)
    if weight.dtype == np.int64 and input.dtype.kind == "f":
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage `embedding_bag(weight, "
                      "input, ...)` is deprecated, and should now be `embedding_bag(input, weight, ...)`.",
                      UserWarning, stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(getattr(per_sample_weights, "shape", ())) != tuple(input.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({tuple(getattr(per_sample_weights, 'shape', ()))}) "
                         f"is not None, then it must have the same shape as the input ({tuple(input.shape)})")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got mode={mode!r}")
    sparse = _bool(fn, "sparse", sparse)
    if mode == "max" and sparse:
        raise ValueError("embedding_bag: max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  f"GitHub.")
    layer = _build(_extra4.EmbeddingBag, int(weight.shape[0]), int(weight.shape[1]), max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=False,
                   _weight=weight, include_last_offset=include_last_offset, padding_idx=padding_idx)
    layer.weight.data = weight
    return layer.forward(input, offsets, per_sample_weights)


# ---- dropout -----------------------------------------------------------------------------------
def _dropout(fn, cls, input, p, training, inplace):  # noqa: A002
    _check_array(fn, "input", input)
    layer = _build(cls, p=p, inplace=inplace)
    layer.train(_bool(fn, "training", training))
    return layer.forward(input)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _dropout("dropout", _layers.Dropout, input, p, training, inplace)


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _dropout("dropout1d", _extra2.Dropout1d, input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _dropout("dropout2d", _extra.Dropout2d, input, p, training, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    return _dropout("dropout3d", _extra2.Dropout3d, input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    return _dropout("alpha_dropout", _extra2.AlphaDropout, input, p, training, inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002
    return _dropout("feature_alpha_dropout", _extra2.FeatureAlphaDropout, input, p, training, inplace)


# ---- normalization -----------------------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,  # noqa: A002
               eps=1e-5):
    """fastnn.ops.batch_norm_forward on (N, C, *): training updates running_mean / running_var in
    place (momentum, unbiased variance, as torch's); eval reads them (then they are required)."""
    xp = _check_array("batch_norm", "input", input)
    training = _bool("batch_norm", "training", training)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *), got shape {tuple(input.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    c = int(input.shape[1])
    if training and input.size // c <= 1:
        raise ValueError(f"batch_norm: Expected more than 1 value per channel when training, got input size "
                         f"{tuple(input.shape)}")
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if v is not None:
            _check_array("batch_norm", name, v)
            if tuple(v.shape) != (c,):
                raise ValueError(f"batch_norm: {name} must have shape ({c},), got {tuple(v.shape)}")
    gamma = weight if weight is not None else xp.ones(c, input.dtype)
    beta = bias if bias is not None else xp.zeros(c, input.dtype)
    x4 = xp.ascontiguousarray(input).reshape(input.shape[0], c, -1, 1) if input.ndim != 2 else input
    y, _, _ = ops.batch_norm_forward(x4, gamma, beta, running_mean, running_var, training=training,
                                     momentum=momentum, eps=eps)
    return y.reshape(input.shape)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,  # noqa: A002
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Batch norm of each (sample, channel), as torch's: with use_input_stats the running statistics
    (when given) are updated in place with the mean over the batch of the per-sample statistics."""
    xp = _check_array("instance_norm", "input", input)
    if input.ndim < 3:
        raise ValueError(f"instance_norm: input must be (N, C, *spatial), got shape {tuple(input.shape)}")
    n, c = int(input.shape[0]), int(input.shape[1])
    rep = (lambda v: None if v is None else xp.tile(v, n))
    rm, rv = rep(running_mean), rep(running_var)
    x = xp.ascontiguousarray(input).reshape((1, n * c) + tuple(input.shape[2:]))
    y = batch_norm(x, rm, rv, rep(weight), rep(bias), training=_bool("instance_norm", "use_input_stats",
                                                                     use_input_stats), momentum=momentum, eps=eps)
    if use_input_stats:
        if running_mean is not None:
            running_mean[...] = rm.reshape(n, c).mean(axis=0)
        if running_var is not None:
            running_var[...] = rv.reshape(n, c).mean(axis=0)
    return y.reshape(input.shape)


def _shape_tuple(fn, normalized_shape):
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    try:
        return tuple(int(v) for v in normalized_shape)
    except TypeError:
        raise TypeError(f"{fn}: normalized_shape must be an int or a sequence of ints, "
                        f"got {normalized_shape!r}") from None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    _check_array("layer_norm", "input", input)
    shape = _shape_tuple("layer_norm", normalized_shape)
    affine = weight is not None or bias is not None
    layer = _build(_extra.LayerNorm, shape, eps=eps, elementwise_affine=affine, bias=bias is not None)
    if affine:
        if weight is None:
            layer.weight.data = _device.xp_of(input).ones(shape, input.dtype)
        else:
            _set(layer.weight, weight, "layer_norm", "weight")
        if bias is not None:
            _set(layer.bias, bias, "layer_norm", "bias")
    return layer.forward(input)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    xp = _check_array("group_norm", "input", input)
    if input.ndim < 2:
        raise ValueError(f"group_norm: input must be (N, C, *), got shape {tuple(input.shape)}")
    c = int(input.shape[1])
    affine = weight is not None or bias is not None
    layer = _build(_extra.GroupNorm, num_groups, c, eps=eps, affine=affine, bias=bias is not None)
    if affine:
        if weight is None:
            layer.weight.data = xp.ones(c, input.dtype)
        else:
            _set(layer.weight, weight, "group_norm", "weight")
        if bias is not None:
            _set(layer.bias, bias, "group_norm", "bias")
    return layer.forward(input)


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002
    _check_array("rms_norm", "input", input)
    shape = _shape_tuple("rms_norm", normalized_shape)
    layer = _build(_extra2.RMSNorm, shape, eps=eps, elementwise_affine=weight is not None)
    if weight is not None:
        _set(layer.weight, weight, "rms_norm", "weight")
    return layer.forward(input)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):  # noqa: A002
    return _pool("local_response_norm", _extra2.LocalResponseNorm, input, size, alpha=alpha, beta=beta, k=k)


# ---- distances ---------------------------------------------------------------------------------
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    _check_array("cosine_similarity", "x1", x1)
    return _build(_loss_extra.CosineSimilarity, dim=dim, eps=eps).forward(x1, x2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    _check_array("pairwise_distance", "x1", x1)
    return _build(_loss_extra.PairwiseDistance, p=p, eps=eps, keepdim=keepdim).forward(x1, x2)


def pdist(input, p=2):  # noqa: A002
    """The p-norm distances between the rows of input (N, M), the upper triangle of the distance
    matrix row by row (N * (N - 1) / 2 values), as torch's; the norm is fastnn's distance losses'."""
    xp = _check_array("pdist", "input", input)
    if input.ndim != 2:
        raise ValueError(f"pdist: input must be 2-D (N, M), got shape {tuple(input.shape)}")
    if input.dtype.kind != "f":
        raise TypeError(f"pdist: input must be a float array, got dtype {input.dtype}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p >= 0:
        raise ValueError(f"pdist: p must be a non-negative number, got p={p!r}")
    i, j = np.triu_indices(int(input.shape[0]), 1)
    i, j = xp.asarray(i), xp.asarray(j)
    d = input[i].astype(np.float64) - input[j].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # (the helper's unused gradient part)
        norm, _ = _loss_extra._vector_norm(xp, d, float(p))
    return norm.astype(input.dtype)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + bias) @ value on (..., L, E), (..., S, E), (..., S, Ev), as
    torch's: a bool attn_mask marks the positions that TAKE PART (False -> -inf), a float one is
    added; is_causal masks the upper triangle (attn_mask must then be None); scale defaults to
    1 / sqrt(E); enable_gqa repeats key/value heads (axis -3) to the query's head count. The
    softmax is fastnn's Softmax, with torch's rule for a query row whose scores are all -inf
    (masked out entirely): its weights and output are 0, not NaN; dropout_p > 0 applies
    fastnn's dropout to the weights."""
    fn = "scaled_dot_product_attention"
    xp = _check_array(fn, "query", query)
    for name, a in (("key", key), ("value", value)):
        _check_array(fn, name, a)
        if a.dtype != query.dtype:
            raise TypeError(f"{fn}: Expected query, key, and value to have the same dtype, but got "
                            f"query.dtype: {query.dtype}, {name}.dtype: {a.dtype}")
    if query.dtype.kind != "f":
        raise TypeError(f"{fn}: query must be a float array, got dtype {query.dtype}")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(f"{fn}: query, key and value need at least 2 dims, got shapes {tuple(query.shape)}, "
                         f"{tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{fn}: query (..., L, E) and key (..., S, E) must share E, key and value S; got shapes "
                         f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    is_causal = _bool(fn, "is_causal", is_causal)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{fn}: is_causal=True needs attn_mask=None, got an attn_mask of shape "
                         f"{tuple(getattr(attn_mask, 'shape', ()))}")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, numbers.Real) or not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{fn}: dropout_p must be a number in [0, 1], got {dropout_p!r}")
    L, S, E = int(query.shape[-2]), int(key.shape[-2]), int(query.shape[-1])
    if scale is None:
        scale = 1.0 / np.sqrt(E) if E else 1.0
    if _bool(fn, "enable_gqa", enable_gqa) and query.ndim >= 3 and key.ndim >= 3:
        hq, hk, hv = int(query.shape[-3]), int(key.shape[-3]), int(value.shape[-3])
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise ValueError(f"{fn}: with enable_gqa the query's heads ({hq}) must be a multiple of the key's "
                             f"({hk}) and value's ({hv})")
        key, value = xp.repeat(key, hq // hk, axis=-3), xp.repeat(value, hq // hv, axis=-3)
    try:
        batch = np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]), tuple(value.shape[:-2]))
    except ValueError:
        batch = None
    if batch is None or batch != tuple(query.shape[:-2]):
        raise ValueError(f"{fn}: the batch dimensions of key {tuple(key.shape[:-2])} and value "
                         f"{tuple(value.shape[:-2])} must broadcast to the query's {tuple(query.shape[:-2])} "
                         f"(shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}; "
                         "fewer key/value heads need enable_gqa=True)")
    scores = xp.matmul(query, xp.swapaxes(key, -1, -2)) * query.dtype.type(scale)
    if is_causal:
        attn_mask = xp.tril(xp.ones((L, S), dtype=bool))
    if attn_mask is not None:
        _check_array(fn, "attn_mask", attn_mask)
        if attn_mask.dtype == np.bool_:
            bias = xp.where(attn_mask, query.dtype.type(0), query.dtype.type(-np.inf))
        elif attn_mask.dtype == query.dtype:
            bias = attn_mask
        else:
            raise TypeError(f"{fn}: attn_mask must be a bool array or a float array of the query's dtype "
                            f"{query.dtype}, got dtype {attn_mask.dtype}")
        try:
            fits = np.broadcast_shapes(tuple(bias.shape), tuple(scores.shape)) == tuple(scores.shape)
        except ValueError:
            fits = False
        if not fits:  # a mask with more (or longer) axes would enlarge the output: torch raises too
            raise ValueError(f"{fn}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the "
                             f"scores' shape {tuple(scores.shape)}")
        scores = scores + bias
    weights = _build(_act.Softmax, dim=-1).forward(xp.ascontiguousarray(scores))
    # a query row masked out entirely (scores all -inf) attends to nothing: 0, as torch's
    weights = _transformer._zero_fully_masked_rows(xp, scores, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return xp.matmul(weights, value)


class _AssertError(ValueError, AssertionError):
    """A bad argument torch's Python code rejects with an assert: a ValueError and an AssertionError."""


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """MultiheadAttention's forward (batch_first=False: query (L, N, E), key (S, N, kdim), value
    (S, N, vdim), or unbatched (L, E)) with the given weights: (attn_output, attn_weights or None),
    as torch's. Masks: bool True = not allowed, float added; attn_mask (L, S) or (N * H, L, S),
    key_padding_mask (N, S). dropout_p applies to the weights when training (fastnn's RNG).
    is_causal needs attn_mask (torch's RuntimeError); without key_padding_mask and with
    need_weights=False the mask is replaced by the causal one, as torch's. static_k / static_v
    (N * H, S', head_dim) replace the projected keys / values, as torch's: they are fed to the
    layer as a key / value whose projection is the identity."""
    fn = "multi_head_attention_forward"
    xp = _check_array(fn, "query", query)
    _check_array(fn, "key", key)
    _check_array(fn, "value", value)
    if query.ndim not in (2, 3):
        raise _AssertError(f"{fn}: query should be unbatched 2D or batched 3D tensor but received "
                           f"{query.ndim}-D query tensor")
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise _AssertError(f"{fn}: key and value must have the query's number of dims ({query.ndim}), got "
                           f"shapes {tuple(key.shape)} and {tuple(value.shape)}")
    embed_dim = int(query.shape[-1])
    if embed_dim != embed_dim_to_check:
        raise _AssertError(f"{fn}: was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    if isinstance(num_heads, bool) or not isinstance(num_heads, numbers.Integral) or num_heads < 1:
        raise ValueError(f"{fn}: num_heads must be a positive int, got {num_heads!r}")
    if embed_dim % num_heads:
        raise _AssertError(f"{fn}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    use_separate_proj_weight = _bool(fn, "use_separate_proj_weight", use_separate_proj_weight)
    if use_separate_proj_weight:
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise _AssertError(f"{fn}: key's sequence and batch dims {tuple(key.shape[:-1])} do not match value's "
                               f"{tuple(value.shape[:-1])}")
        for name, w in (("q_proj_weight", q_proj_weight), ("k_proj_weight", k_proj_weight),
                        ("v_proj_weight", v_proj_weight)):
            if w is None:
                raise _AssertError(f"{fn}: use_separate_proj_weight is True but {name} is None")
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise _AssertError(f"{fn}: key shape {tuple(key.shape)} does not match value shape "
                               f"{tuple(value.shape)}")
        if in_proj_weight is None:
            raise _AssertError(f"{fn}: use_separate_proj_weight is False but in_proj_weight is None")
        if key.shape[-1] != embed_dim:
            raise _AssertError(f"{fn}: a packed in_proj_weight needs key and value of the query's embed_dim "
                               f"{embed_dim}, got {key.shape[-1]} (use use_separate_proj_weight=True)")
    if (bias_k is None) != (bias_v is None):
        raise _AssertError(f"{fn}: {'bias_k' if bias_v is None else 'bias_v'} is set but "
                           f"{'bias_v' if bias_v is None else 'bias_k'} is None")
    need_weights = _bool(fn, "need_weights", need_weights)
    # the projections as (q, k, v) weights and biases
    if use_separate_proj_weight:
        ws = [q_proj_weight, k_proj_weight, v_proj_weight]
        for name, w in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), ws):
            _check_array(fn, name, w)
    else:
        _check_array(fn, "in_proj_weight", in_proj_weight)
        if tuple(in_proj_weight.shape) != (3 * embed_dim, embed_dim):
            raise ValueError(f"{fn}: in_proj_weight must have shape {(3 * embed_dim, embed_dim)}, got "
                             f"{tuple(in_proj_weight.shape)}")
        ws = [in_proj_weight[:embed_dim], in_proj_weight[embed_dim:2 * embed_dim], in_proj_weight[2 * embed_dim:]]
    bs = None
    if in_proj_bias is not None:
        _check_array(fn, "in_proj_bias", in_proj_bias)
        if tuple(in_proj_bias.shape) != (3 * embed_dim,):
            raise ValueError(f"{fn}: in_proj_bias must have shape {(3 * embed_dim,)}, got {tuple(in_proj_bias.shape)}")
        bs = [in_proj_bias[:embed_dim], in_proj_bias[embed_dim:2 * embed_dim], in_proj_bias[2 * embed_dim:]]
    packed = not use_separate_proj_weight
    inputs = [key, value]
    batch = int(query.shape[1]) if query.ndim == 3 else 1
    head_dim = embed_dim // int(num_heads)
    for i, (name, static, bias) in enumerate((("key", static_k, bias_k), ("value", static_v, bias_v))):
        if static is None:
            continue
        if bias is not None:
            raise _AssertError(f"{fn}: bias cannot be added to static {name}.")
        _check_array(fn, f"static_{name[0]}", static)
        if static.ndim != 3 or static.shape[0] != batch * num_heads or static.shape[2] != head_dim:
            raise _AssertError(f"{fn}: expecting static_{name[0]} of shape ({batch * num_heads}, S, {head_dim}) "
                               f"(batch * num_heads, S, head_dim), got {tuple(static.shape)}")
        # (N * H, S, d) -> (S, N, H * d): the layer's head split of an identity projection gives it back
        as_input = static.reshape(batch, int(num_heads), -1, head_dim).transpose(2, 0, 1, 3).reshape(
            -1, batch, embed_dim)
        inputs[i] = as_input if query.ndim == 3 else as_input[:, 0]
        ws[i + 1] = xp.eye(embed_dim, dtype=static.dtype)
        if bs is not None:
            bs[i + 1] = xp.zeros(embed_dim, in_proj_bias.dtype)
        packed = False
    key, value = inputs
    if (key_padding_mask is not None and attn_mask is not None
            and getattr(key_padding_mask, "dtype", None) != getattr(attn_mask, "dtype", None)):
        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type for both "
                      "instead.", UserWarning, stacklevel=2)
    is_causal = _bool(fn, "is_causal", is_causal)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    layer = _build(_transformer.MultiheadAttention, embed_dim, int(num_heads), dropout=dropout_p, bias=True,
                   add_bias_kv=bias_k is not None, add_zero_attn=_bool(fn, "add_zero_attn", add_zero_attn),
                   kdim=int(key.shape[-1]), vdim=int(value.shape[-1]), batch_first=False)
    layer.train(_bool(fn, "training", training))
    if layer._qkv_same_embed_dim:
        for name, w in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), ws):
            if tuple(w.shape) != (embed_dim, embed_dim):
                raise ValueError(f"{fn}: {name} must have shape {(embed_dim, embed_dim)}, got {tuple(w.shape)}")
        _set(layer.in_proj_weight, in_proj_weight if packed else xp.concatenate(ws, axis=0), fn, "in_proj_weight")
    else:
        for name, prm, w in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"),
                                (layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight), ws):
            _set(prm, w, fn, name)
    if bs is None:
        layer.in_proj_bias = None
    else:
        _set(layer.in_proj_bias, in_proj_bias if packed else xp.concatenate(bs), fn, "in_proj_bias")
    _set(layer.out_proj.weight, out_proj_weight, fn, "out_proj_weight")
    if out_proj_bias is None:
        layer.out_proj.bias = None
    else:
        _set(layer.out_proj.bias, out_proj_bias, fn, "out_proj_bias")
    if bias_k is not None:
        _set(layer.bias_k, bias_k, fn, "bias_k")
        _set(layer.bias_v, bias_v, fn, "bias_v")
    return layer.forward(query, key, value, key_padding_mask=key_padding_mask, need_weights=need_weights,
                         attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal)


# ---- losses ------------------------------------------------------------------------------------
def _reduction(fn, size_average, reduce, reduction):
    return _loss._legacy_reduction(fn, size_average, reduce, reduction)


def _weighted(fn, loss_fn, input, target, weight, reduction, mean_over_weights: bool):  # noqa: A002
    """torch 2.13's weight= of mse_loss / l1_loss / huber_loss: the elementwise loss times weight
    (the shape of input), then summed, or for 'mean' divided by the sum of the weights
    (mse, l1) or by the element count (huber), as torch's."""
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{fn}: invalid reduction {reduction!r}; expected one of 'none', 'mean', 'sum'")
    xp = _device.xp_of(input) if _device.device_of(input) is not None else np
    w = xp.asarray(weight)
    if tuple(w.shape) != tuple(np.shape(input)):
        raise ValueError(f"{fn}: weight must have the shape of input {tuple(np.shape(input))}, got {tuple(w.shape)}")
    loss = loss_fn("none")(input, target)
    weighted = loss * w.astype(loss.dtype, copy=False)
    if reduction == "none":
        return weighted
    total = weighted.sum()
    if reduction == "sum":
        return float(total)
    return float(total / w.sum()) if mean_over_weights else float(total / weighted.size)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
                  reduction="mean", label_smoothing=0.0):
    r = _reduction("cross_entropy", size_average, reduce, reduction)
    return _loss.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction=r,
                                  label_smoothing=label_smoothing)(input, target)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,  # noqa: A002
             reduction="mean"):
    r = _reduction("nll_loss", size_average, reduce, reduction)
    return _loss.NLLLoss(weight=weight, ignore_index=ignore_index, reduction=r)(input, target)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    r = _reduction("mse_loss", size_average, reduce, reduction)
    if weight is not None:
        return _weighted("mse_loss", lambda red: _loss.MSELoss(reduction=red), input, target, weight, r, True)
    return _loss.MSELoss(reduction=r)(input, target)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):  # noqa: A002
    r = _reduction("l1_loss", size_average, reduce, reduction)
    if weight is not None:
        return _weighted("l1_loss", lambda red: _loss.L1Loss(reduction=red), input, target, weight, r, True)
    return _loss.L1Loss(reduction=r)(input, target)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):  # noqa: A002
    r = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    return _loss.SmoothL1Loss(reduction=r, beta=beta)(input, target)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):  # noqa: A002
    if weight is not None:
        return _weighted("huber_loss", lambda red: _loss.HuberLoss(reduction=red, delta=delta), input, target, weight,
                         reduction, False)
    return _loss.HuberLoss(reduction=reduction, delta=delta)(input, target)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    r = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    return _loss.BCELoss(weight=weight, reduction=r)(input, target)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction="mean", pos_weight=None):
    r = _reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    return _loss.BCEWithLogitsLoss(weight=weight, reduction=r, pos_weight=pos_weight)(input, target)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):  # noqa: A002
    r = _reduction("kl_div", size_average, reduce, reduction)
    if r == "mean":  # torch's F.kl_div warning
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    return _loss.KLDivLoss(reduction=r, log_target=log_target)(input, target)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,  # noqa: A002
                     reduction="mean"):
    r = _reduction("poisson_nll_loss", size_average, reduce, reduction)
    return _loss_extra.PoissonNLLLoss(log_input=log_input, full=full, eps=eps, reduction=r)(input, target)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):  # noqa: A002
    return _loss.GaussianNLLLoss(full=full, eps=eps, reduction=reduction)(input, target, var)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    r = _reduction("hinge_embedding_loss", size_average, reduce, reduction)
    return _loss_extra.HingeEmbeddingLoss(margin=margin, reduction=r)(input, target)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    r = _reduction("margin_ranking_loss", size_average, reduce, reduction)
    return _loss_extra.MarginRankingLoss(margin=margin, reduction=r)(input1, input2, target)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    r = _reduction("soft_margin_loss", size_average, reduce, reduction)
    return _loss_extra.SoftMarginLoss(reduction=r)(input, target)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                reduction="mean"):
    r = _reduction("multilabel_soft_margin_loss", size_average, reduce, reduction)
    return _loss_extra.MultiLabelSoftMarginLoss(weight=weight, reduction=r)(input, target)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    r = _reduction("cosine_embedding_loss", size_average, reduce, reduction)
    return _loss_extra.CosineEmbeddingLoss(margin=margin, reduction=r)(input1, input2, target)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    r = _reduction("triplet_margin_loss", size_average, reduce, reduction)
    return _loss_extra.TripletMarginLoss(margin=margin, p=p, eps=eps, swap=swap, reduction=r)(anchor, positive,
                                                                                             negative)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0,
                                      swap=False, reduction="mean"):
    return _extra4.TripletMarginWithDistanceLoss(distance_function=distance_function, margin=margin, swap=swap,
                                                 reduction=reduction)(anchor, positive, negative)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,  # noqa: A002
                      reduction="mean"):
    r = _reduction("multi_margin_loss", size_average, reduce, reduction)
    return _loss_extra.MultiMarginLoss(p=p, margin=margin, weight=weight, reduction=r)(input, target)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):  # noqa: A002
    r = _reduction("multilabel_margin_loss", size_average, reduce, reduction)
    return _loss_extra.MultiLabelMarginLoss(reduction=r)(input, target)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    return _extra4.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)(
        log_probs, targets, input_lengths, target_lengths)


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None, reduction="mean",  # noqa: A002
                         ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target): LinearCrossEntropyLoss
    with the given weights. input (in_features,) or (N, in_features); linear_weight (C, in_features)
    or (C, *out_features, in_features) (batched input then), linear_bias (C, *out_features).
    ignore_index=None is -100 for class-index targets and must be None for probability targets,
    as torch's; options (torch's chunking) is accepted and has no effect on the result."""
    fn = "linear_cross_entropy"
    _check_array(fn, "input", input)
    _check_array(fn, "linear_weight", linear_weight)
    if input.ndim not in (1, 2):
        raise _layers.ShapeError(f"{fn}: expected input with dimensionality 1 or 2, got {input.ndim}")
    if linear_weight.ndim < 2:
        raise _layers.ShapeError(f"{fn}: expected linear_weight with dimensionality at least 2, got "
                                 f"{linear_weight.ndim}")
    in_features = int(input.shape[-1])
    if in_features != linear_weight.shape[-1]:
        raise _layers.ShapeError(f"{fn}: expected equal input and linear_weight last dimensions (in_features), got "
                                 f"{in_features} and {linear_weight.shape[-1]}, respectively")
    num_classes = int(linear_weight.shape[0])
    out_features = tuple(int(d) for d in linear_weight.shape[1:-1])
    if linear_bias is not None:
        _check_array(fn, "linear_bias", linear_bias)
        if tuple(linear_bias.shape) != (num_classes,) + out_features:
            raise _layers.ShapeError(f"{fn}: expected linear_bias shape {(num_classes,) + out_features}, got "
                                     f"{tuple(linear_bias.shape)}")
    if out_features and input.ndim == 1:
        raise _layers.ShapeError(f"{fn}: K-dimensional loss defined by linear_weight shape "
                                 f"{tuple(linear_weight.shape)} requires batched input, (N, {in_features}), got "
                                 f"unbatched input with shape {tuple(input.shape)}")
    logits_shape = tuple(input.shape[:-1]) + (num_classes,) + out_features
    if ignore_index is not None and tuple(getattr(target, "shape", ())) == logits_shape:
        raise _layers.ShapeError(f"{fn}: ignore_index cannot be specified when target contains probabilities "
                                 f"(a target of the logits' shape {logits_shape}), got ignore_index={ignore_index!r}")
    loss = _build(_extra6.LinearCrossEntropyLoss, in_features, num_classes, out_features=out_features,
                  bias=linear_bias is not None, reduction=reduction, weight=weight, ignore_index=ignore_index,
                  label_smoothing=label_smoothing, options=options)
    _set(loss.linear.weight, linear_weight.reshape(-1, in_features), fn, "linear_weight")
    if linear_bias is not None:
        _set(loss.linear.bias, linear_bias.reshape(-1), fn, "linear_bias")
    return loss(input, target)
