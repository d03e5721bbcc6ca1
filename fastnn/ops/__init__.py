"""Stateless functional kernels: one function per op, dispatching on the array type.

Layers call these, never ``fastnn._core`` directly. Every function here has a plain-NumPy twin
in ``fastnn.reference`` with the same signature, against which it is tested.
"""
from ._dispatch import get_array_module
from .activations import (
    elu, elu_backward, gelu, gelu_backward, leaky_relu, leaky_relu_backward, log_softmax, log_softmax_backward, relu,
    relu_backward, sigmoid, sigmoid_backward, softmax, softmax_backward, softplus, softplus_backward,
    step, step_backward, swish, swish_backward, tanh, tanh_backward,
)
from .gemm import gemm
from .dropout import dropout_backward, dropout_forward, dropout_mask
from .losses import (
    LabelError, bce_loss, bce_with_logits_loss, gaussian_nll_loss, l1_loss, mse_loss, softmax_cross_entropy,
)
from .norm import batch_norm_backward, batch_norm_forward
from .optim import adadelta_update, adagrad_update, adam_update, radam_update, rmsprop_update, sgd_update
# convolution and pooling: output-size arithmetic (fastnn.ops.shapes.conv_output_size)
from . import shapes
from .shapes import conv_output_size
from .conv import (
    col2im, conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward, im2col,
)
from .pool import (
    avg_pool2d_backward, avg_pool2d_forward, global_avg_pool2d_backward, global_avg_pool2d_forward,
    max_pool2d_backward, max_pool2d_forward,
)

__all__ = [
    "get_array_module",
    # activations
    "elu", "elu_backward", "gelu", "gelu_backward", "leaky_relu", "leaky_relu_backward", "log_softmax", "log_softmax_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "softmax", "softmax_backward", "softplus",
    "softplus_backward", "step", "step_backward", "swish", "swish_backward", "tanh", "tanh_backward",
    # gemm
    "gemm",
    # batch norm, dropout, losses, optimizer updates
    "batch_norm_forward", "batch_norm_backward",
    "dropout_mask", "dropout_forward", "dropout_backward",
    "LabelError", "softmax_cross_entropy", "mse_loss", "l1_loss", "bce_loss", "bce_with_logits_loss", "gaussian_nll_loss",
    "sgd_update", "adagrad_update", "adadelta_update", "rmsprop_update", "adam_update", "radam_update",
    # convolution and pooling
    "shapes", "conv_output_size",
    "col2im", "conv2d_backward", "conv2d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward",
    "im2col",
    "avg_pool2d_backward", "avg_pool2d_forward", "global_avg_pool2d_backward", "global_avg_pool2d_forward",
    "max_pool2d_backward", "max_pool2d_forward",
]
