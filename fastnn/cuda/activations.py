"""Activations and row softmax on the GPU (csrc/cuda/activations.cu); same signatures as fastnn._core."""
from __future__ import annotations

from ._launch import check_in, check_out, float_dtype, i32, i64, launch, require_same_shape, scalar, suffix

# Activation ids follow fastnn::Act (csrc/kernels/activations.h).
ACT_IDS = {"step": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softplus": 5, "swish": 6, "elu": 7, "gelu": 8}


def _act_id(name: str) -> int:
    if name not in ACT_IDS:
        raise ValueError(f"unknown activation '{name}'; expected one of: {', '.join(ACT_IDS)}")
    return ACT_IDS[name]


def activation_forward(name: str, x, out, p0: float = 1.0, p1: float = 20.0) -> None:
    act = _act_id(name)
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(out, "out", dt)
    require_same_shape(x, "x", out, "out")
    t = scalar(dt)
    launch("activations.cu", f"act_forward_{suffix(dt)}", x.size, x, out, i64(x.size), i32(act), t(p0), t(p1))


def activation_backward(name: str, dy, saved, out, p0: float = 1.0, p1: float = 20.0) -> None:
    act = _act_id(name)
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_in(saved, "saved", dt)
    check_out(out, "out", dt)
    require_same_shape(dy, "dy", saved, "saved")
    require_same_shape(dy, "dy", out, "out")
    t = scalar(dt)
    launch("activations.cu", f"act_backward_{suffix(dt)}", dy.size, dy, saved, out, i64(dy.size), i32(act), t(p0),
           t(p1))


def _rows_cols(x):
    if x.ndim < 1:
        raise ValueError("softmax needs at least a 1-D array, got a 0-D array")
    cols = x.shape[-1]
    return (x.size // cols if cols else 0), cols


def softmax_forward(x, out, log: bool = False) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(out, "out", dt)
    require_same_shape(x, "x", out, "out")
    rows, cols = _rows_cols(x)
    launch("activations.cu", f"softmax_forward_{suffix(dt)}", rows, x, out, i64(rows), i64(cols), i32(bool(log)))


def softmax_backward(dy, y, out, log: bool = False) -> None:
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_in(y, "y", dt)
    check_out(out, "out", dt)
    require_same_shape(dy, "dy", y, "y")
    require_same_shape(dy, "dy", out, "out")
    rows, cols = _rows_cols(dy)
    launch("activations.cu", f"softmax_backward_{suffix(dt)}", rows, dy, y, out, i64(rows), i64(cols),
           i32(bool(log)))
