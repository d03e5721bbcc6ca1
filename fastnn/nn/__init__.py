"""Layers, containers and losses. Every layer has ``forward(x)`` and ``backward(dy)`` (returning
dx and accumulating into ``param.grad``); the maths is in ``fastnn.ops``."""
from . import functional, init, parameter, utils
from .adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .activation import (CELU, ELU, GELU, SELU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
                         LogSoftmax, Mish, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softmin, Softplus, Softshrink, Softsign,
                         Step, Swish, Tanh, Tanhshrink, Threshold)
from .containers import (Concat, Identity, ModuleDict, ModuleList, ParameterDict, ParameterList, Residual, Sequential,
                         layer_from_config, layer_to_config)
from .conv3d import Conv3d, ConvTranspose3d
from .extra import (ConstantPad2d, Dropout2d, Embedding, GroupNorm, LayerNorm, PReLU, Unflatten, Upsample,
                    UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad2d)
from .extra2 import (GLU, AlphaDropout, Dropout1d, Dropout3d, FeatureAlphaDropout, LocalResponseNorm, RMSNorm,
                     RReLU)
from .extra3 import Bilinear, Fold, LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d, Unfold
from .extra4 import CTCLoss, EmbeddingBag, LPPool3d, MaxUnpool3d, TripletMarginWithDistanceLoss
from .extra6 import Container, CrossMapLRN2d, DataParallel, LinearCrossEntropyLoss
from .extra5 import (AdaptiveLogSoftmaxWithLoss, FractionalMaxPool2d, FractionalMaxPool3d, LazyBatchNorm1d,
                     LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d, LazyConv3d, LazyConvTranspose1d,
                     LazyConvTranspose2d, LazyConvTranspose3d, LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d,
                     LazyLinear, SyncBatchNorm)
from .layers import (
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, ConvTranspose2d, Dense, Dropout, Flatten, GlobalAvgPool2d,
    Linear, MaxPool2d, Reshape,
)
from .layers1d import (AdaptiveAvgPool1d, AdaptiveMaxPool1d, AvgPool1d, ChannelShuffle, CircularPad1d, CircularPad2d,
                       ConstantPad1d, Conv1d, ConvTranspose1d, InstanceNorm1d, InstanceNorm2d, MaxPool1d, PixelShuffle,
                       PixelUnshuffle, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, Softmax2d,
                       ZeroPad1d)
from .layers3d import (AdaptiveAvgPool3d, AdaptiveMaxPool3d, AvgPool3d, BatchNorm3d, CircularPad3d, ConstantPad3d,
                       InstanceNorm3d, MaxPool3d, ReflectionPad3d, ReplicationPad3d, ZeroPad3d)
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss, Loss,
                   MSELoss, NLLLoss, NLLLoss2d, SmoothL1Loss)
from .loss_extra import (CosineEmbeddingLoss, CosineSimilarity, HingeEmbeddingLoss, MarginRankingLoss,
                         MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss, PairwiseDistance,
                         PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss)
from .module import LAYER_REGISTRY, Buffer, IncompatibleKeys, Module, Parameter, StateDictError
from .parameter import UninitializedBuffer, UninitializedParameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .transformer import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)

__all__ = [
    "init", "functional", "parameter", "utils", "Module", "Parameter", "Buffer", "UninitializedParameter",
    "UninitializedBuffer", "StateDictError", "IncompatibleKeys", "LAYER_REGISTRY", "layer_from_config",
    "layer_to_config",
    # layers
    "Linear", "Dense", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
    "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "BatchNorm1d", "BatchNorm2d", "Dropout", "Flatten", "Reshape",
    "PReLU", "Unflatten", "ZeroPad2d", "ConstantPad2d", "Dropout2d", "LayerNorm", "GroupNorm", "Upsample",
    "UpsamplingNearest2d", "UpsamplingBilinear2d", "Embedding",
    # extra2.py, extra3.py
    "RMSNorm", "GLU", "RReLU", "Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "LocalResponseNorm",
    "LPPool1d", "LPPool2d", "MaxUnpool1d", "MaxUnpool2d", "Fold", "Unfold", "Bilinear",
    # 3-D layers (conv3d.py, layers3d.py)
    "Conv3d", "ConvTranspose3d", "BatchNorm3d", "InstanceNorm3d", "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d", "ZeroPad3d", "ConstantPad3d", "ReflectionPad3d", "ReplicationPad3d", "CircularPad3d",
    # recurrent layers (rnn.py)
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNNCellBase",
    # attention and transformers (transformer.py)
    "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
    "TransformerDecoder", "Transformer",
    # extra4.py, extra5.py
    "LPPool3d", "MaxUnpool3d", "EmbeddingBag", "TripletMarginWithDistanceLoss", "CTCLoss", "SyncBatchNorm",
    "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
    "LazyInstanceNorm2d", "LazyInstanceNorm3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
    "AdaptiveLogSoftmaxWithLoss",
    # extra6.py
    "LinearCrossEntropyLoss", "CrossMapLRN2d", "DataParallel", "Container",
    # 1-D layers, pads, InstanceNorm, shuffles (layers1d.py)
    "Conv1d", "ConvTranspose1d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d",
    "ReflectionPad1d", "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ZeroPad1d", "ConstantPad1d",
    "CircularPad1d", "CircularPad2d", "InstanceNorm1d", "InstanceNorm2d", "PixelShuffle", "PixelUnshuffle",
    "ChannelShuffle", "Softmax2d",
    # activations
    "Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Swish", "SiLU", "ELU", "GELU", "Softmax", "LogSoftmax",
    "Softmin", "ReLU6", "Hardtanh", "SELU", "CELU", "Mish", "Hardswish", "Hardsigmoid", "Softsign", "LogSigmoid",
    "Tanhshrink", "Softshrink", "Hardshrink", "Threshold",
    # containers
    "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Identity", "Residual", "Concat",
    # losses
    "Loss", "MSELoss", "L1Loss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "GaussianNLLLoss",
    "HuberLoss", "SmoothL1Loss", "NLLLoss", "NLLLoss2d", "KLDivLoss",
    "PoissonNLLLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
    "HingeEmbeddingLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
    # two-input modules
    "CosineSimilarity", "PairwiseDistance",
]
from . import modules  # noqa: E402  (torch.nn.modules import paths; it re-exports the names above)
