"""torch.nn.utils: gradient clipping, parameter <-> vector conversion, Conv/Linear + BatchNorm
fusion, weight and spectral normalisation, the packed-sequence helpers of ``rnn`` and pruning
(``prune``), and torch's parametrization API (``parametrize``, ``parametrizations``)."""
from . import clip_grad, convert_parameters, fusion, parametrizations, parametrize, prune, rnn, stateless
from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from .init_utils import skip_init
from .memory_format import convert_conv2d_weight_memory_format, convert_conv3d_weight_memory_format
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["rnn", "prune", "parametrize", "parametrizations", "stateless", "skip_init",
           "convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format", "clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "fuse_conv_bn_eval", "fuse_conv_bn_weights",
           "fuse_linear_bn_eval", "fuse_linear_bn_weights", "weight_norm", "remove_weight_norm", "spectral_norm",
           "remove_spectral_norm"]
