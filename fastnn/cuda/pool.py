"""2-D pooling on the GPU (csrc/cuda/pool.cu); same signatures and rules as the fastnn._core functions.

Legend: planes = N*C, H W, KH KW, SH SW, PH PW, OH OW.
"""
from __future__ import annotations

import numpy as np

from ._launch import (
    check_in, check_out, device_array, first_outside, float_dtype, i32, i64, launch, require_ndim,
    require_same_shape, require_shape, suffix,
)
from .conv import Geom, window_geom


def _pool_geom(shape, name: str, kernel, stride, padding) -> Geom:
    g = window_geom(shape, name, kernel, stride, padding)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"padding must be at most half the kernel size: got padding ({padding[0]}, {padding[1]}) "
                         f"for kernel_size ({kernel[0]}, {kernel[1]})")
    if g.h < 1 or g.w < 1:
        raise ValueError(f"pooling needs non-empty spatial dimensions, got {name} {tuple(shape)}")
    return g


def _window_args(g: Geom):
    """(planes, H, W, KH, KW, SH, SW, PH, PW, OH, OW) as kernel arguments."""
    return (i64(g.n * g.c),) + g.args()[2:]


def _check_indices(indices) -> None:
    device_array(indices, "indices")
    if indices.dtype != np.int64:
        raise TypeError(f"indices must have dtype int64, got {indices.dtype}")
    if not indices.flags.c_contiguous:
        raise ValueError("indices must be C-contiguous")


def max_pool2d_forward(x, y, indices, kernel_size, stride, padding) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(y, "y", dt)
    g = _pool_geom(x.shape, "x", kernel_size, stride, padding)
    require_shape(y, "y", (g.n, g.c, g.oh, g.ow))
    _check_indices(indices)
    require_same_shape(y, "y", indices, "indices")
    launch("pool.cu", f"max_pool2d_forward_{suffix(dt)}", y.size, x, y, indices, *_window_args(g))


def max_pool2d_backward(dy, indices, dx) -> None:
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_out(dx, "dx", dt)
    _check_indices(indices)
    require_ndim(dy, "dy", 4)
    require_ndim(dx, "dx", 4)
    require_same_shape(dy, "dy", indices, "indices")
    if dx.shape[:2] != dy.shape[:2]:
        raise ValueError(f"dx {tuple(dx.shape)} and dy {tuple(dy.shape)} must agree in N and C")
    planes = dy.shape[0] * dy.shape[1]
    in_plane, out_plane = dx.shape[2] * dx.shape[3], dy.shape[2] * dy.shape[3]
    bad = first_outside(indices, 0, in_plane)
    if bad >= 0:
        raise ValueError(f"indices must lie in [0, H*W) = [0, {in_plane}) for dx {tuple(dx.shape)}, got "
                         f"{int(indices.reshape(-1)[bad])}")
    launch("pool.cu", f"max_pool2d_backward_{suffix(dt)}", planes, dy, indices, dx, i64(planes), i64(in_plane),
           i64(out_plane))


def avg_pool2d_forward(x, y, kernel_size, stride, padding, count_include_pad: bool) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(y, "y", dt)
    g = _pool_geom(x.shape, "x", kernel_size, stride, padding)
    require_shape(y, "y", (g.n, g.c, g.oh, g.ow))
    launch("pool.cu", f"avg_pool2d_forward_{suffix(dt)}", y.size, x, y, *_window_args(g),
           i32(bool(count_include_pad)))


def avg_pool2d_backward(dy, dx, kernel_size, stride, padding, count_include_pad: bool) -> None:
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_out(dx, "dx", dt)
    g = _pool_geom(dx.shape, "dx", kernel_size, stride, padding)
    require_shape(dy, "dy", (g.n, g.c, g.oh, g.ow))
    launch("pool.cu", f"avg_pool2d_backward_{suffix(dt)}", dx.size, dy, dx, *_window_args(g),
           i32(bool(count_include_pad)))


def global_avg_pool2d_forward(x, y) -> None:
    dt = float_dtype(x, "x")
    check_in(x, "x", dt)
    check_out(y, "y", dt)
    require_ndim(x, "x", 4)
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got x {tuple(x.shape)}")
    require_shape(y, "y", x.shape[:2])
    planes, plane = x.shape[0] * x.shape[1], x.shape[2] * x.shape[3]
    launch("pool.cu", f"global_avg_pool2d_forward_{suffix(dt)}", planes, x, y, i64(planes), i64(plane))


def global_avg_pool2d_backward(dy, dx) -> None:
    dt = float_dtype(dy, "dy")
    check_in(dy, "dy", dt)
    check_out(dx, "dx", dt)
    require_ndim(dx, "dx", 4)
    if dx.shape[2] < 1 or dx.shape[3] < 1:
        raise ValueError(f"global_avg_pool2d needs non-empty spatial dimensions, got dx {tuple(dx.shape)}")
    require_shape(dy, "dy", dx.shape[:2])
    planes, plane = dx.shape[0] * dx.shape[1], dx.shape[2] * dx.shape[3]
    launch("pool.cu", f"global_avg_pool2d_backward_{suffix(dt)}", dx.size, dy, dx, i64(planes), i64(plane))
