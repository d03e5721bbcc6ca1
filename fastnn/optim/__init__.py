"""Optimizers (fused update kernels from ``fastnn.ops``), learning-rate schedules, gradient clipping,
weight averaging (``swa_utils``, as ``torch.optim.swa_utils``)."""
from . import swa_utils
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (
    ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR, LambdaLR,
    LinearLR, LinearWarmup, LRScheduler, MultiplicativeLR, MultiStepLR, OneCycleLR, PolynomialLR, ReduceLROnPlateau,
    SequentialLR, StepLR,
)
from .optimizers2 import LBFGS, Adafactor, Muon
from .optimizers import ASGD, SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RAdam, RMSprop, Rprop

__all__ = [
    "Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "Rprop", "ASGD",
    "Adafactor", "LBFGS", "Muon",
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "LinearWarmup",
    "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "CyclicLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler",
    "clip_grad_norm_", "clip_grad_value_",
]
