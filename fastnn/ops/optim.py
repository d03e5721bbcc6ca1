"""Fused optimizer updates: one in-place native pass over a parameter, its gradient and its slots.

PyTorch's update rules (see fastnn.reference.optim for the formulas, the truth they are tested
against). The parameter and slots must be float32, C-contiguous and writable: the update is in
place, so anything else is rejected rather than silently copied. The gradient must be float32
(a non-contiguous one is copied: it is only read). `step` counts this step (1 on the first).
Hyperparameters are validated; a bad one raises ValueError naming the value.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ._dispatch import backend, contiguous, get_array_module

__all__ = ["sgd_update", "adagrad_update", "adadelta_update", "rmsprop_update", "adam_update", "radam_update"]


def _real(value, name: str, *, lo: float | None = None, hi: float | None = None, hi_open: bool = False) -> float:
    # (plain floats and ints skip the abstract-class checks: they run on every call, and a
    # training loop may call these functions once per parameter tensor)
    if type(value) is not float and type(value) is not int and (
            isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    v = float(value)
    bad = not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}{')' if hi_open or hi is None else ']'}"
        raise ValueError(f"{name} must be a finite number in {rng}, got {value!r}")
    return v


def _step(step) -> int:
    if type(step) is not int and (isinstance(step, (bool, np.bool_)) or not isinstance(step, numbers.Integral)):
        raise TypeError(f"step must be an integer, got {type(step).__name__}: {step!r}")
    if step < 1:
        raise ValueError(f"step counts this step and must be >= 1, got {step}")
    if step > _MAX_STEP:  # the native kernels take a 64-bit step
        raise ValueError(f"step must be at most 2**63 - 1, got {step}")
    return int(step)


_MAX_STEP = 2**63 - 1


def _slots(param, grad, **slots) -> None:
    """The public *_update functions' checks of the state arrays (the optimizers, which create
    their own slots, skip them): each slot None or an array of param's kind, and no two of
    param, grad and the slots sharing memory except param and grad (an update reads grad[i]
    before it writes param[i]). A slot that aliases param or another slot would be updated
    twice per element: a silently wrong step."""
    xp = np if type(param) is np.ndarray else get_array_module(param)
    arrays = [("param", param), ("grad", grad)]
    for name, v in slots.items():
        if v is None:
            continue
        if not isinstance(v, xp.ndarray):
            raise TypeError(f"{name} must be a {xp.__name__}.ndarray like param (or None), got {type(v).__name__}")
        arrays.append((name, v))
    if xp is not np:
        return
    # grad may be param itself (an update reads grad[i] before it writes param[i]), but a grad
    # that overlaps param shifted would read gradients already overwritten by the update
    if isinstance(grad, np.ndarray) and grad is not param and np.may_share_memory(param, grad) and not (
            grad.__array_interface__["data"][0] == param.__array_interface__["data"][0]
            and grad.shape == param.shape and grad.strides == param.strides):
        raise ValueError("grad overlaps param without being the same array view: the update would read "
                         "gradients it has already overwritten; pass a copy (grad.copy())")
    for i in range(len(arrays)):
        for j in range(max(i + 1, 2), len(arrays)):
            (an, a), (bn, b) = arrays[i], arrays[j]
            if isinstance(a, np.ndarray) and np.may_share_memory(a, b):
                raise ValueError(f"{bn} shares memory with {an}: every state array is updated in place and must "
                                 "be its own array")


def _param(param):
    if type(param) is np.ndarray:
        return param
    xp = get_array_module(param)
    if not isinstance(param, xp.ndarray):
        raise TypeError(f"param must be a numpy.ndarray, got {type(param).__name__}")
    return param


def _grad(grad, param):
    xp = np if type(param) is np.ndarray else get_array_module(param)
    if not isinstance(grad, xp.ndarray):
        raise TypeError(f"grad must be a {xp.__name__}.ndarray like param, got {type(grad).__name__}")
    if grad.dtype != param.dtype:
        raise TypeError(f"grad has dtype {grad.dtype} but param has dtype {param.dtype}; "
                        "fastnn never converts silently, cast one of them")
    if grad.shape != param.shape:
        raise ValueError(f"grad must have the shape of param {param.shape}, got {grad.shape}")
    return contiguous(grad)  # only read: an explicit copy is harmless


def _run(kernel: str, param, grad, *args) -> None:
    """The update `kernel` of param's backend with already validated hyperparameters `args`
    (in the binding's order). The optimizers call this directly: they validate each group's
    hyperparameters once per step, not once per parameter."""
    param = _param(param)
    getattr(backend(param), kernel)(param, _grad(grad, param), *args)


def sgd_update(param, grad, momentum_buf, *, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
               first_step=False):
    """SGD with momentum, in place (PyTorch's torch.optim.SGD).

    g = grad + weight_decay * param; with momentum: buf = g on the first step, else
    buf = momentum * buf + (1 - dampening) * g, and g = g + momentum * buf (Nesterov) or buf;
    param -= lr * g. momentum_buf may be None when momentum == 0.
    """
    param = _param(param)
    lr = _real(lr, "lr", lo=0.0)
    momentum = _real(momentum, "momentum", lo=0.0)
    dampening = _real(dampening, "dampening")
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening = 0, got momentum={momentum}, "
                         f"dampening={dampening}")
    _slots(param, grad, momentum_buf=momentum_buf)
    _run("sgd_update", param, grad, momentum_buf, lr, momentum, dampening, bool(nesterov), weight_decay,
         bool(first_step))


def adagrad_update(param, grad, sum_sq, *, step, lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    """Adagrad, in place: sum_sq += g^2; param -= lr / (1 + (step - 1) lr_decay) * g / (sqrt(sum_sq) + eps)."""
    param = _param(param)
    step = _step(step)
    lr = _real(lr, "lr", lo=0.0)
    lr_decay = _real(lr_decay, "lr_decay", lo=0.0)
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    eps = _real(eps, "eps", lo=0.0)
    clr = lr / (1 + (step - 1) * lr_decay)
    _slots(param, grad, sum_sq=sum_sq)
    _run("adagrad_update", param, grad, sum_sq, clr, weight_decay, eps)


def adadelta_update(param, grad, square_avg, acc_delta, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """Adadelta, in place: square_avg = rho sa + (1 - rho) g^2; delta = sqrt(acc_delta + eps) /
    sqrt(square_avg + eps) g; acc_delta = rho ad + (1 - rho) delta^2; param -= lr delta."""
    param = _param(param)
    lr = _real(lr, "lr", lo=0.0)
    rho = _real(rho, "rho", lo=0.0, hi=1.0)
    eps = _real(eps, "eps", lo=0.0)
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    _slots(param, grad, square_avg=square_avg, acc_delta=acc_delta)
    _run("adadelta_update", param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay)


def rmsprop_update(param, grad, square_avg, momentum_buf=None, grad_avg=None, *, lr=0.01, alpha=0.99, eps=1e-8,
                   weight_decay=0.0, momentum=0.0, centered=False):
    """RMSprop, in place: square_avg = alpha sa + (1 - alpha) g^2; centered subtracts grad_avg^2
    (grad_avg = alpha ga + (1 - alpha) g); avg = sqrt(.) + eps; with momentum buf = momentum buf + g / avg,
    param -= lr buf; else param -= lr g / avg. momentum_buf is needed when momentum > 0, grad_avg when centered."""
    param = _param(param)
    lr = _real(lr, "lr", lo=0.0)
    alpha = _real(alpha, "alpha", lo=0.0)
    eps = _real(eps, "eps", lo=0.0)
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    momentum = _real(momentum, "momentum", lo=0.0)
    _slots(param, grad, square_avg=square_avg, momentum_buf=momentum_buf, grad_avg=grad_avg)
    _run("rmsprop_update", param, grad, square_avg, momentum_buf, grad_avg, lr, alpha, eps, weight_decay, momentum,
         bool(centered))


def _betas(beta1, beta2):
    return _real(beta1, "beta1", lo=0.0, hi=1.0, hi_open=True), _real(beta2, "beta2", lo=0.0, hi=1.0, hi_open=True)


def adam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False, max_exp_avg_sq=None):
    """Adam (decoupled=False: weight decay as L2 in the gradient) or AdamW (decoupled=True:
    param *= 1 - lr * weight_decay first), in place:
    m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2;
    param -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
    With max_exp_avg_sq (an array like param, zeros at the start): AMSGrad, PyTorch's
    amsgrad=True: max_exp_avg_sq = max(max_exp_avg_sq, v) in place, used in place of v above."""
    param = _param(param)
    step = _step(step)
    lr = _real(lr, "lr", lo=0.0)
    beta1, beta2 = _betas(beta1, beta2)
    eps = _real(eps, "eps", lo=0.0)
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    _slots(param, grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, max_exp_avg_sq=max_exp_avg_sq)
    _run("adam_update", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay, bool(decoupled),
         max_exp_avg_sq)


def radam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0):
    """RAdam, in place: Adam's moments; while the variance of the adaptive rate is untractable
    (rho_t <= 5) the step is lr * m / (1 - beta1^step), afterwards it is rectified
    (see fastnn.reference.radam_update for the formula)."""
    param = _param(param)
    step = _step(step)
    lr = _real(lr, "lr", lo=0.0)
    beta1, beta2 = _betas(beta1, beta2)
    eps = _real(eps, "eps", lo=0.0)
    weight_decay = _real(weight_decay, "weight_decay", lo=0.0)
    _slots(param, grad, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq)
    _run("radam_update", param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)
