"""Adaptive pooling: AdaptiveAvgPool2d and AdaptiveMaxPool2d (PyTorch semantics).

The output size is fixed and the windows follow from it: along an axis of length H pooled to OH
cells, cell i covers input rows ``[floor(i * H / OH), ceil((i + 1) * H / OH))`` (PyTorch's
start/end index rule), so windows may differ in size and overlap, and OH may exceed H (windows
then repeat rows).

Fast paths: when H % OH == 0 and W % OW == 0 every window is (H / OH, W / OW) with that stride,
exactly the plain pooling ops of ``fastnn.ops`` (the native or CUDA kernels); an average to
1 x 1 is the global average op. Otherwise a vectorised NumPy / CuPy implementation (the array
module of the input, ``ops.get_array_module``) pools one axis at a time: a loop over the OW
column windows, then over the OH row windows (OH + OW steps, never a loop over N or C).
Max pooling reduces the columns first, then the rows, which picks the first maximum in
row-major window order (PyTorch's tie rule); a NaN in a window wins, and with several NaNs the
index is the last one in row-major order (as PyTorch's CPU and CUDA kernels).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _device, ops
from ..ops._dispatch import FLOAT_DTYPES, contiguous
from .layers import _check_input, _need_forward
from .module import Module, check_bool

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]

_OUTPUT_SIZE_RULE = "output_size must be a positive int or a pair (h, w) of positive ints or None"


def _check_size_entry(output_size, v):
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{_OUTPUT_SIZE_RULE}. Received: output_size={output_size!r}")
    if v < 1:
        raise ValueError(f"{_OUTPUT_SIZE_RULE}. Received: output_size={output_size!r}")
    return int(v)


def _check_output_size(output_size):
    """An int, or an (h, w) tuple of ints / None (a bare None is refused, as by PyTorch); errors
    name the received value."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{_OUTPUT_SIZE_RULE}. Received: output_size={output_size!r}")
        return tuple(_check_size_entry(output_size, v) for v in output_size)
    if output_size is None:
        raise TypeError(f"{_OUTPUT_SIZE_RULE} (None only as an entry of the pair). Received: output_size=None")
    return _check_size_entry(output_size, output_size)


def _quiet():
    """NumPy's floating-point warnings off: inf - inf in a window sum is NaN without a warning,
    as from the native kernels and PyTorch."""
    return np.errstate(invalid="ignore", over="ignore")


def _bounds(size: int, out: int):
    """[(start, end)] of the `out` windows over `size` input positions (PyTorch's rule)."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def _max_and_arg(win, axis: int, has_nan: bool, xp):
    """(max, index of the first max) of win along axis (3 or 2); where the window holds a NaN,
    (NaN, index of its last NaN), PyTorch's rule."""
    v = win.max(axis=axis)
    a = win.argmax(axis=axis)
    if has_nan:
        length = win.shape[axis]
        isnan = win != win
        flipped = isnan[:, :, :, ::-1] if axis == 3 else isnan[:, :, ::-1, :]
        last = (length - 1) - flipped.argmax(axis=axis)
        a = xp.where(v != v, last, a)
    return v, a


class _AdaptivePool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        self.output_size = _check_output_size(output_size)
        self._cache = None

    def _out_hw(self, h: int, w: int):
        size = self.output_size
        oh, ow = size if isinstance(size, tuple) else (size, size)
        return (h if oh is None else oh), (w if ow is None else ow)

    def _as_4d(self, x):
        """x checked, as a C-contiguous (N, C, H, W) array."""
        _check_input(self, x, (3, 4))
        if x.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__} expects a float32 or float64 input, got dtype {x.dtype}")
        if x.shape[-2] < 1 or x.shape[-1] < 1:
            raise ValueError(f"{type(self).__name__} needs non-empty spatial dimensions (H, W >= 1), "
                             f"got input shape {x.shape}")
        return contiguous(x if x.ndim == 4 else x.reshape((1,) + x.shape))

    def _dy_4d(self, dy, y_shape, batched: bool):
        """dy checked against the forward's output shape (3-D after an unbatched forward), as a
        C-contiguous 4-D array."""
        if _device.device_of(dy) is None:
            raise TypeError(f"{type(self).__name__}.backward expects dy as a numpy.ndarray or cupy.ndarray, "
                            f"got {type(dy).__name__}")
        if dy.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{type(self).__name__}.backward expects a float32 or float64 dy, got dtype {dy.dtype}")
        want = y_shape if batched else y_shape[1:]
        if dy.shape != want:
            raise ValueError(f"{type(self).__name__}.backward expects dy of shape {want} (the forward's output), "
                             f"got {dy.shape}")
        return contiguous(dy if batched else dy.reshape(y_shape))

    def get_config(self):
        size = self.output_size
        return {"output_size": list(size) if isinstance(size, tuple) else size}


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Mean over adaptive windows giving a fixed output size (PyTorch's AdaptiveAvgPool2d).

    Output cell (i, j) averages input rows ``[floor(i*H/OH), ceil((i+1)*H/OH))`` and the columns
    of the same rule; windows may overlap or differ in size, and OH > H is allowed.
    Args: output_size: an int (OH = OW) or a pair (OH, OW); None (alone or as an entry) keeps the
    input's size along that axis.
    Shape: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW); the dtype of
    the input (float32 or float64). Backward spreads dy / window size over each window
    (overlapping windows add up).
    """

    def forward(self, x):
        x4 = self._as_4d(x)
        batched = x.ndim == 4
        n, c, h, w = x4.shape
        oh, ow = self._out_hw(h, w)
        xp = ops.get_array_module(x4)
        if (oh, ow) == (1, 1):
            y = ops.global_avg_pool2d_forward(x4).reshape(n, c, 1, 1)
            self._cache = ("global", batched, x4.shape, y.shape, None)
        elif h % oh == 0 and w % ow == 0:
            k = (h // oh, w // ow)
            y = ops.avg_pool2d_forward(x4, k, stride=k)
            self._cache = ("pool", batched, x4.shape, y.shape, k)
        else:
            rows, cols = _bounds(h, oh), _bounds(w, ow)
            area = np.array([he - hs for hs, he in rows])[:, None] * np.array([we - ws for ws, we in cols])[None, :]
            area = xp.asarray(area.astype(x4.dtype))
            with _quiet():
                sums = xp.empty((n, c, oh, w), x4.dtype)  # over the rows of each window
                for i, (hs, he) in enumerate(rows):
                    sums[:, :, i, :] = x4[:, :, hs:he, :].sum(axis=2)
                y = xp.empty((n, c, oh, ow), x4.dtype)
                for j, (ws, we) in enumerate(cols):
                    y[:, :, :, j] = sums[:, :, :, ws:we].sum(axis=3)
                y /= area
            self._cache = ("general", batched, x4.shape, y.shape, (rows, cols, area))
        return y if batched else y.reshape(y.shape[1:])

    def backward(self, dy):
        _need_forward(self, self._cache)
        kind, batched, x_shape, y_shape, extra = self._cache
        dy4 = self._dy_4d(dy, y_shape, batched)
        if kind == "global":
            dx = ops.global_avg_pool2d_backward(dy4.reshape(y_shape[:2]), x_shape)
        elif kind == "pool":
            dx = ops.avg_pool2d_backward(dy4, x_shape, extra, stride=extra)
        else:
            rows, cols, area = extra
            xp = ops.get_array_module(dy4)
            n, c, h, w = x_shape
            with _quiet():
                g = dy4 / (area if area.dtype == dy4.dtype else area.astype(dy4.dtype))
                spread = xp.zeros((n, c, len(rows), w), dy4.dtype)  # over the columns of each window
                for j, (ws, we) in enumerate(cols):
                    spread[:, :, :, ws:we] += g[:, :, :, j:j + 1]
                dx = xp.zeros(x_shape, dy4.dtype)
                for i, (hs, he) in enumerate(rows):
                    dx[:, :, hs:he, :] += spread[:, :, i:i + 1, :]
        return dx if batched else dx.reshape(dx.shape[1:])


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Max over adaptive windows giving a fixed output size (PyTorch's AdaptiveMaxPool2d).

    Windows as AdaptiveAvgPool2d's. A NaN in a window wins (its index: the window's last NaN in
    row-major order, as PyTorch); otherwise the index is the first maximum in row-major window
    order, so ties go to the top-left; a window of -inf gives -inf and its first element.
    Args: output_size as AdaptiveAvgPool2d's; return_indices: forward returns (y, indices),
    indices int64 positions ``h * W + w`` in the input plane (PyTorch's).
    Shape: (N, C, H, W) -> (N, C, OH, OW), or unbatched (C, H, W) -> (C, OH, OW). Backward routes
    each dy to its argmax (overlapping windows add up).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = check_bool("return_indices", return_indices)

    def forward(self, x):
        x4 = self._as_4d(x)
        batched = x.ndim == 4
        n, c, h, w = x4.shape
        oh, ow = self._out_hw(h, w)
        if h % oh == 0 and w % ow == 0:
            k = (h // oh, w // ow)
            y, indices = ops.max_pool2d_forward(x4, k, stride=k)
            self._cache = ("pool", batched, x4.shape, y.shape, indices, None)
        else:
            y, indices, cols_arg = self._general_forward(x4, oh, ow)
            self._cache = ("general", batched, x4.shape, y.shape, indices, cols_arg)
        if not batched:
            y, indices = y.reshape(y.shape[1:]), indices.reshape(indices.shape[1:])
        return (y, indices) if self.return_indices else y

    @staticmethod
    def _general_forward(x4, oh, ow):
        """(y, plane indices, the argmax column of each row in each column window (N, C, H, OW))."""
        xp = ops.get_array_module(x4)
        n, c, h, w = x4.shape
        has_nan = bool((x4 != x4).any())
        rows, cols = _bounds(h, oh), _bounds(w, ow)
        # columns first: the max of each row over each column window, and its column
        col_max = xp.empty((n, c, h, ow), x4.dtype)
        col_arg = xp.empty((n, c, h, ow), np.int64)
        for j, (ws, we) in enumerate(cols):
            v, a = _max_and_arg(x4[:, :, :, ws:we], 3, has_nan, xp)
            col_max[:, :, :, j] = v
            col_arg[:, :, :, j] = a + ws
        # then rows: the first row holding the window's max (the last holding a NaN)
        y = xp.empty((n, c, oh, ow), x4.dtype)
        indices = xp.empty((n, c, oh, ow), np.int64)
        zero = np.int64(0)
        for i, (hs, he) in enumerate(rows):
            v, a = _max_and_arg(col_max[:, :, hs:he, :], 2, has_nan, xp)
            y[:, :, i, :] = v
            # the column of the chosen row: a one-hot select over the window's rows
            chosen = xp.arange(he - hs).reshape(1, 1, he - hs, 1) == a.reshape(n, c, 1, ow)
            col = xp.where(chosen, col_arg[:, :, hs:he, :], zero).sum(axis=2)
            indices[:, :, i, :] = (a + hs) * w + col
        return y, indices, col_arg

    def backward(self, dy):
        _need_forward(self, self._cache)
        kind, batched, x_shape, y_shape, indices, col_arg = self._cache
        dy4 = self._dy_4d(dy, y_shape, batched)
        if kind == "pool":
            dx = ops.max_pool2d_backward(dy4, indices, x_shape)
        else:
            # the forward's chain in reverse: dy to the chosen row of each column-window max,
            # then each row's share to that row's argmax column
            xp = ops.get_array_module(dy4)
            n, c, h, w = x_shape
            oh, ow = y_shape[2:]
            zero = dy4.dtype.type(0)
            chosen_row = indices // w
            with _quiet():
                to_rows = xp.zeros((n, c, h, ow), dy4.dtype)
                for i, (hs, he) in enumerate(_bounds(h, oh)):
                    hit = xp.arange(hs, he).reshape(1, 1, he - hs, 1) == chosen_row[:, :, i:i + 1, :]
                    to_rows[:, :, hs:he, :] += xp.where(hit, dy4[:, :, i:i + 1, :], zero)
                dx = xp.zeros(x_shape, dy4.dtype)
                for j, (ws, we) in enumerate(_bounds(w, ow)):
                    hit = xp.arange(ws, we).reshape(1, 1, 1, we - ws) == col_arg[:, :, :, j:j + 1]
                    dx[:, :, :, ws:we] += xp.where(hit, to_rows[:, :, :, j:j + 1], zero)
        return dx if batched else dx.reshape(dx.shape[1:])

    def get_config(self):
        config = super().get_config()
        if self.return_indices:
            config["return_indices"] = True
        return config

    def extra_repr(self) -> str:  # torch's: output_size only (return_indices not shown)
        return f"output_size={self.output_size}"
