"""Stateless functional kernels: one function per op, dispatching on the array type.

Layers call these, never ``fastnn._core`` directly. Every function here has a plain-NumPy twin
in ``fastnn.reference`` with the same signature, against which it is tested.
"""
from ._dispatch import get_array_module
from .activations import (
    elu, elu_backward, leaky_relu, leaky_relu_backward, log_softmax, log_softmax_backward, relu,
    relu_backward, sigmoid, sigmoid_backward, softmax, softmax_backward, softplus, softplus_backward,
    step, step_backward, swish, swish_backward, tanh, tanh_backward,
)
from .gemm import gemm
# convolution and pooling: output-size arithmetic (fastnn.ops.shapes.conv_output_size)
from . import shapes
from .shapes import conv_output_size

__all__ = [
    "get_array_module",
    # activations
    "elu", "elu_backward", "leaky_relu", "leaky_relu_backward", "log_softmax", "log_softmax_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "softmax", "softmax_backward", "softplus",
    "softplus_backward", "step", "step_backward", "swish", "swish_backward", "tanh", "tanh_backward",
    # gemm
    "gemm",
    # convolution and pooling
    "shapes", "conv_output_size",
]
