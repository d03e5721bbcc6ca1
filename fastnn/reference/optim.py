"""Optimizer update rules in plain NumPy: PyTorch's formulas (torch/optim/*.py, single-tensor
path), one step, in place on the parameter and its slots. Arithmetic in the parameter's dtype.

`step` is the step count including this one (1 on the first step). Each function returns None:
the caller's arrays are the result.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["sgd_update", "adagrad_update", "adadelta_update", "rmsprop_update", "adam_update", "radam_update"]


def _decayed(grad, param, weight_decay):
    # L2 penalty folded into the gradient (PyTorch's weight_decay for all but AdamW).
    return grad + weight_decay * param if weight_decay else grad


def sgd_update(param, grad, momentum_buf, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
               weight_decay=0.0, first_step=False):
    """SGD with momentum (Sutskever et al. 2013, PyTorch's form).

        g = grad + wd * param
        buf = g on the first step, else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (Nesterov) or buf (momentum > 0)
        param -= lr * g
    momentum_buf may be None when momentum == 0.
    """
    g = _decayed(grad, param, weight_decay)
    if momentum != 0:
        if momentum_buf is None:
            raise ValueError("sgd_update: momentum != 0 needs a momentum_buf array, got None")
        if first_step:
            momentum_buf[...] = g
        else:
            momentum_buf[...] = momentum * momentum_buf + (1 - dampening) * g
        g = g + momentum * momentum_buf if nesterov else momentum_buf
    param -= lr * g


def adagrad_update(param, grad, sum_sq, *, step, lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10):
    """Adagrad (Duchi et al. 2011): sum_sq += g^2; param -= clr * g / (sqrt(sum_sq) + eps),
    clr = lr / (1 + (step - 1) * lr_decay)."""
    g = _decayed(grad, param, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    sum_sq += g * g
    param -= clr * g / (np.sqrt(sum_sq) + eps)


def adadelta_update(param, grad, square_avg, acc_delta, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    """Adadelta (Zeiler 2012):
        square_avg = rho * square_avg + (1 - rho) g^2
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) delta^2;  param -= lr * delta
    """
    g = _decayed(grad, param, weight_decay)
    square_avg[...] = rho * square_avg + (1 - rho) * g * g
    delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
    acc_delta[...] = rho * acc_delta + (1 - rho) * delta * delta
    param -= lr * delta


def rmsprop_update(param, grad, square_avg, momentum_buf=None, grad_avg=None, *, lr=0.01, alpha=0.99,
                   eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """RMSprop (Hinton's lecture 6e; centered: Graves 2013):
        square_avg = alpha * square_avg + (1 - alpha) g^2
        centered: grad_avg = alpha * grad_avg + (1 - alpha) g;  avg = sqrt(square_avg - grad_avg^2) + eps
        else:     avg = sqrt(square_avg) + eps
        momentum > 0: buf = momentum * buf + g / avg;  param -= lr * buf
        else:         param -= lr * g / avg
    """
    g = _decayed(grad, param, weight_decay)
    square_avg[...] = alpha * square_avg + (1 - alpha) * g * g
    if centered:
        if grad_avg is None:
            raise ValueError("rmsprop_update: centered=True needs a grad_avg array, got None")
        grad_avg[...] = alpha * grad_avg + (1 - alpha) * g
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        if momentum_buf is None:
            raise ValueError("rmsprop_update: momentum > 0 needs a momentum_buf array, got None")
        momentum_buf[...] = momentum * momentum_buf + g / avg
        param -= lr * momentum_buf
    else:
        param -= lr * g / avg


def adam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                weight_decay=0.0, decoupled=False, max_exp_avg_sq=None):
    """Adam (Kingma & Ba 2015); decoupled=True is AdamW (Loshchilov & Hutter 2019).
        AdamW: param *= 1 - lr * wd (g = grad);  Adam: g = grad + wd * param
        exp_avg = beta1 * exp_avg + (1 - beta1) g;  exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) g^2
        param -= lr / (1 - beta1^step) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps)
    AMSGrad (Reddi et al. 2018) when max_exp_avg_sq is given: max_exp_avg_sq = max(max_exp_avg_sq,
    exp_avg_sq) (NaN propagating), and the denominator uses it instead of exp_avg_sq.
    """
    if decoupled:
        param *= 1 - lr * weight_decay
        g = grad
    else:
        g = _decayed(grad, param, weight_decay)
    exp_avg[...] = beta1 * exp_avg + (1 - beta1) * g
    exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * g * g
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    second = exp_avg_sq
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    denom = np.sqrt(second) / math.sqrt(bias_correction2) + eps
    param -= (lr / bias_correction1) * exp_avg / denom


def radam_update(param, grad, exp_avg, exp_avg_sq, *, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                 weight_decay=0.0):
    """RAdam (Liu et al. 2020): Adam with the variance of the adaptive rate rectified.
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 step beta2^step / (1 - beta2^step)
        rho_t > 5: param -= lr * exp_avg / (1 - beta1^step) * r_t * sqrt(1 - beta2^step) / (sqrt(exp_avg_sq) + eps)
                   r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        else:      param -= lr * exp_avg / (1 - beta1^step)   (SGD with momentum while the variance is untractable)
    """
    g = _decayed(grad, param, weight_decay)
    exp_avg[...] = beta1 * exp_avg + (1 - beta1) * g
    exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * g * g
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    corrected = exp_avg / bias_correction1
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2 ** step / bias_correction2
    if rho_t > 5.0:
        rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        adaptive = math.sqrt(bias_correction2) / (np.sqrt(exp_avg_sq) + eps)
        param -= corrected * lr * adaptive * rect
    else:
        param -= corrected * lr
