"""Plain-NumPy implementations of every fastnn op: naive, obviously right, slow.

They are the truth the tests compare the native kernels against (their own backward passes
are checked by central differences in float64, tests/gradcheck.py), and the baseline the
benchmarks show. Signatures match ``fastnn.ops``.
"""
from .activations import (
    elu, elu_backward, leaky_relu, leaky_relu_backward, log_softmax, log_softmax_backward, relu,
    relu_backward, sigmoid, sigmoid_backward, softmax, softmax_backward, softplus, softplus_backward,
    step, step_backward, swish, swish_backward, tanh, tanh_backward,
)
from .gemm import gemm

__all__ = [
    # activations
    "elu", "elu_backward", "leaky_relu", "leaky_relu_backward", "log_softmax", "log_softmax_backward",
    "relu", "relu_backward", "sigmoid", "sigmoid_backward", "softmax", "softmax_backward", "softplus",
    "softplus_backward", "step", "step_backward", "swish", "swish_backward", "tanh", "tanh_backward",
    # gemm
    "gemm",
]
