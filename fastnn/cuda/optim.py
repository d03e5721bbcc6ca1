"""Fused optimizer updates on the GPU (csrc/cuda/optim.cu): one in-place kernel per optimizer over
float32 parameters and slots, same signatures as the fastnn._core functions. The per-step scalars
are computed here in double exactly as csrc/kernels/optim.cpp computes them, then rounded to float32."""
from __future__ import annotations

import math

import numpy as np

from ._launch import NULL, device_array, i32, i64, launch, require_same_shape

f32 = np.float32


def _f32_array(a, name: str) -> None:
    device_array(a, name)
    if a.dtype != np.float32:
        raise TypeError(f"{name} must be a float32 array (the fused optimizer kernels update float32 parameters in "
                        f"place), got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous: it is updated in place, never through a copy (got a "
                         f"non-contiguous array of shape {tuple(a.shape)})")


def _operands(param, grad):
    _f32_array(param, "param")
    _f32_array(grad, "grad")
    require_same_shape(param, "param", grad, "grad")
    return i64(param.size)


def _slot(a, param, name: str, needed: bool, why: str):
    if a is None:
        if needed:
            raise ValueError(f"{name} is needed {why}, got None")
        return NULL
    _f32_array(a, name)
    require_same_shape(param, "param", a, name)
    return a


def _step(step: int) -> float:
    if step < 1:
        raise ValueError(f"step must be >= 1 (it counts this step), got {step}")
    return float(step)


def sgd_update(param, grad, momentum_buf, lr: float, momentum: float = 0.0, dampening: float = 0.0,
               nesterov: bool = False, weight_decay: float = 0.0, first_step: bool = False) -> None:
    n = _operands(param, grad)
    buf = _slot(momentum_buf, param, "momentum_buf", momentum != 0.0, "when momentum != 0")
    launch("optim.cu", "sgd_update_f32", param.size, param, grad, buf if momentum != 0.0 else NULL, n, f32(lr),
           f32(momentum), f32(1.0 - dampening), i32(bool(nesterov)), f32(weight_decay), i32(bool(first_step)))


def adagrad_update(param, grad, sum_sq, clr: float, weight_decay: float = 0.0, eps: float = 1e-10) -> None:
    n = _operands(param, grad)
    ss = _slot(sum_sq, param, "sum_sq", True, "by adagrad")
    launch("optim.cu", "adagrad_update_f32", param.size, param, grad, ss, n, f32(clr), f32(weight_decay), f32(eps))


def adadelta_update(param, grad, square_avg, acc_delta, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                    weight_decay: float = 0.0) -> None:
    n = _operands(param, grad)
    sa = _slot(square_avg, param, "square_avg", True, "by adadelta")
    ad = _slot(acc_delta, param, "acc_delta", True, "by adadelta")
    launch("optim.cu", "adadelta_update_f32", param.size, param, grad, sa, ad, n, f32(lr), f32(rho), f32(1.0 - rho),
           f32(eps), f32(weight_decay))


def rmsprop_update(param, grad, square_avg, momentum_buf=None, grad_avg=None, lr: float = 0.01, alpha: float = 0.99,
                   eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
    n = _operands(param, grad)
    sa = _slot(square_avg, param, "square_avg", True, "by rmsprop")
    buf = _slot(momentum_buf, param, "momentum_buf", momentum > 0.0, "when momentum > 0")
    ga = _slot(grad_avg, param, "grad_avg", centered, "when centered=True")
    launch("optim.cu", "rmsprop_update_f32", param.size, param, grad, sa, buf, ga, n, f32(lr), f32(alpha),
           f32(1.0 - alpha), f32(eps), f32(weight_decay), f32(momentum), i32(bool(centered)))


def adam_update(param, grad, exp_avg, exp_avg_sq, step: int, lr: float = 1e-3, beta1: float = 0.9,
                beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False,
                max_exp_avg_sq=None) -> None:
    n = _operands(param, grad)
    m = _slot(exp_avg, param, "exp_avg", True, "by adam")
    v = _slot(exp_avg_sq, param, "exp_avg_sq", True, "by adam")
    vmax = _slot(max_exp_avg_sq, param, "max_exp_avg_sq", False, "for amsgrad")
    s = _step(step)
    bc1, bc2 = 1.0 - math.pow(beta1, s), 1.0 - math.pow(beta2, s)
    decay = 1.0 - lr * weight_decay if decoupled else 1.0  # AdamW shrinks param first
    wd_l2 = 0.0 if decoupled else weight_decay              # Adam folds wd into the gradient
    launch("optim.cu", "adam_update_f32", param.size, param, grad, m, v, n, f32(decay), f32(beta1),
           f32(1.0 - beta1), f32(beta2), f32(1.0 - beta2), f32(wd_l2), f32(lr / bc1), f32(1.0 / math.sqrt(bc2)), f32(eps), vmax)


def radam_update(param, grad, exp_avg, exp_avg_sq, step: int, lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
    n = _operands(param, grad)
    m = _slot(exp_avg, param, "exp_avg", True, "by radam")
    v = _slot(exp_avg_sq, param, "exp_avg_sq", True, "by radam")
    s = _step(step)
    b2t = math.pow(beta2, s)
    bc1, bc2 = 1.0 - math.pow(beta1, s), 1.0 - b2t
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * s * b2t / bc2
    rectified = rho_t > 5.0
    coef = lr / bc1  # untractable variance: SGD with momentum on the corrected average
    if rectified:
        rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        coef = lr / bc1 * rect * math.sqrt(bc2)
    launch("optim.cu", "radam_update_f32", param.size, param, grad, m, v, n, f32(beta1),
           f32(1.0 - beta1), f32(beta2), f32(1.0 - beta2), f32(weight_decay), i32(rectified), f32(coef), f32(eps))
