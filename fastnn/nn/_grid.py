"""torch.nn.functional's ``affine_grid`` and ``grid_sample`` (with their backward functions), on
the input's array module (NumPy; CuPy on the GPU), vectorized over every output point.

Conventions are torch 2.13's: the grid's last axis holds (x, y) for a 4-D input (N, C, H, W) and
(x, y, z) for a 5-D input (N, C, D, H, W), x indexing W; -1 and 1 are the centres of the corner
pixels with ``align_corners=True`` and their outer edges with ``align_corners=False`` (the
default, with torch's UserWarning when it is left as None). The coordinate maths (unnormalize,
``clip_coordinates``, ``reflect_coordinates``, the bicubic 4x4 neighbourhood with A = -0.75 and
its padding per tap, nearest's round half to even) follows ATen's ``GridSampler.h``.

fastnn has no autograd, so the gradients are explicit functions: ``grid_sample_backward`` gives
(d_input, d_grid) for every mode (d_grid is zeros for 'nearest', as torch), and
``affine_grid_backward`` gives d_theta; together they train a spatial transformer.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np

from .. import _device

__all__ = ["affine_grid", "grid_sample", "affine_grid_backward", "grid_sample_backward"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDINGS = ("zeros", "border", "reflection")
_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
                  "Please specify align_corners=True if the old behavior is desired. See the documentation of "
                  "grid_sample for details.")
_A = -0.75  # torch's bicubic convolution constant


def _xp(fn, name, a):
    if _device.device_of(a) is None:
        raise TypeError(f"{fn}: {name} must be a NumPy or CuPy array, got {type(a).__name__}: {a!r:.80}")
    return _device.xp_of(a)


def _shape(a) -> list:
    return [int(s) for s in a.shape]


def _align(align_corners, stacklevel=3) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=stacklevel)
        return False
    return bool(align_corners)


# --- affine_grid ------------------------------------------------------------------------------

def _check_size(size):
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"affine_grid: size must be a sequence of ints (torch.Size), got {size!r}") from None
    return size


def _linspace_from_neg_one(xp, steps: int, align_corners: bool, dtype):
    """ATen's linspace_from_neg_one: torch.linspace(-1, 1, steps) (its two-sided formula), scaled by
    (steps - 1) / steps without align_corners; a single step is 0."""
    if steps <= 1:
        return xp.zeros(1, dtype)
    step = (1.0 - -1.0) / (steps - 1)
    i = xp.arange(steps, dtype=dtype)
    half = steps // 2
    r = xp.where(i < half, -1.0 + step * i, 1.0 - step * (steps - 1 - i)).astype(dtype)
    if not align_corners:
        r = (r * dtype.type(steps - 1) / dtype.type(steps)).astype(dtype)
    return r


def _base_grid(xp, size, align_corners, dtype):
    """(prod(spatial), d + 1): rows (x, y[, z], 1) in C order over (D,) H, W, as ATen's base grid."""
    spatial = size[2:]
    axes = [_linspace_from_neg_one(xp, s, align_corners, dtype) for s in spatial]  # (D,) H, W
    mesh = xp.meshgrid(*axes, indexing="ij")
    cols = [m.reshape(-1) for m in reversed(mesh)]  # x (W) first
    cols.append(xp.ones(cols[0].shape, dtype))
    return xp.stack(cols, axis=1)


def _affine_checks(fn, theta_shape, size, align_corners, floating, dtype_name):
    if not floating:
        raise ValueError(f"Expected theta to have floating point type, but got {dtype_name}")
    if len(size) == 4:
        if len(theta_shape) != 3 or theta_shape[-2] != 2 or theta_shape[-1] != 3:
            raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. "
                             f"Got {tuple(theta_shape)}.")
        spatial = size[-2:]
    elif len(size) == 5:
        if len(theta_shape) != 3 or theta_shape[-2] != 3 or theta_shape[-1] != 4:
            raise ValueError(f"Expected a batch of 3D affine matrices of shape Nx3x4 for size {size}. "
                             f"Got {tuple(theta_shape)}.")
        spatial = size[-3:]
    else:
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
                                  f"respectively. Got size {size}.")
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid. See the "
                      "documentation of affine_grid for details.", UserWarning, stacklevel=4)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta_shape[0] != size[0]:
        raise RuntimeError(f"{fn}: theta holds {theta_shape[0]} affine matrices but size asks for a batch of "
                           f"{size[0]}. Received: theta.shape={tuple(theta_shape)}, size={size}")


def affine_grid(theta, size, align_corners=None):
    """torch.nn.functional.affine_grid: the sampling grid (N, H, W, 2) (or (N, D, H, W, 3)) of the
    affine matrices theta (N, 2, 3) (or (N, 3, 4)) for an output of ``size`` (N, C, H, W) (or
    (N, C, D, H, W)): grid[n, ..., :] = theta[n] @ (x, y[, z], 1), with x, y, z the normalized
    output pixel centres (``align_corners`` as in grid_sample). Same dtype as theta."""
    align_corners = _align(align_corners)
    xp = _xp("affine_grid", "theta", theta)
    size = _check_size(size)
    _affine_checks("affine_grid", _shape(theta), size, align_corners, np.issubdtype(theta.dtype, np.floating),
                   theta.dtype)
    base = _base_grid(xp, size, align_corners, theta.dtype)  # (P, d + 1)
    d = len(size) - 2
    grid = xp.matmul(base[None], xp.swapaxes(theta, 1, 2))  # (N, P, d)
    return xp.ascontiguousarray(grid.reshape((size[0],) + size[2:] + (d,)).astype(theta.dtype, copy=False))


def affine_grid_backward(d_grid, size, align_corners):
    """The gradient of ``affine_grid(theta, size, align_corners)`` with respect to theta, from the
    gradient of its output: d_theta[n] = d_grid[n]^T @ base (N, 2, 3) (or (N, 3, 4))."""
    align_corners = _align(align_corners)
    xp = _xp("affine_grid_backward", "d_grid", d_grid)
    size = _check_size(size)
    if len(size) not in (4, 5):
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes. Got size {size}.")
    d = len(size) - 2
    want = (size[0],) + size[2:] + (d,)
    if tuple(_shape(d_grid)) != want:
        raise ValueError(f"affine_grid_backward: d_grid must have affine_grid's output shape {want}. "
                         f"Received: d_grid.shape={tuple(_shape(d_grid))}")
    if not np.issubdtype(d_grid.dtype, np.floating):
        raise ValueError(f"affine_grid_backward: d_grid must be floating point, got {d_grid.dtype}")
    base = _base_grid(xp, size, align_corners, d_grid.dtype)  # (P, d + 1)
    g = d_grid.reshape(size[0], -1, d)  # (N, P, d)
    return xp.ascontiguousarray(xp.matmul(xp.swapaxes(g, 1, 2), base[None]).astype(d_grid.dtype, copy=False))


# --- coordinates (ATen GridSampler.h) ----------------------------------------------------------

def _unnormalize(g, size: int, align_corners: bool):
    if align_corners:
        return ((g + 1) / 2) * (size - 1), (size - 1) / 2
    return ((g + 1) * size - 1) / 2, size / 2


def _clip(xp, x, size: int, want_grad=False):
    """clip_coordinates: x into [0, size - 1]; its gradient is 0 on and beyond both bounds.
    NaN goes to 0 (torch's clamp of a NaN coordinate samples pixel 0)."""
    res = xp.minimum(size - 1, xp.maximum(x, 0))
    res = xp.where(xp.isnan(res), 0, res).astype(x.dtype, copy=False)
    if not want_grad:
        return res, None
    return res, ((x > 0) & (x < size - 1)).astype(x.dtype)


def _reflect(xp, x, twice_low: int, twice_high: int, want_grad=False):
    """reflect_coordinates: x mirrored into [twice_low / 2, twice_high / 2] (and d out / d x = +-1)."""
    if twice_low == twice_high:
        z = xp.zeros_like(x)
        return z, (z if want_grad else None)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    shifted = x - low
    a = xp.abs(shifted)
    extra = xp.fmod(a, span)
    flips = xp.floor(a / span)
    even = (flips % 2) == 0
    res = xp.where(even, extra + low, span - extra + low).astype(x.dtype, copy=False)
    if not want_grad:
        return res, None
    sign = xp.where(shifted < 0, -1, 1)
    return res, xp.where(even, sign, -sign).astype(x.dtype)


def _pad_coordinates(xp, x, size, padding_mode, align_corners, want_grad=False):
    """compute_coordinates: apply the padding mode to unnormalized source coordinates."""
    grad = None
    if padding_mode == "border":
        x, grad = _clip(xp, x, size, want_grad)
    elif padding_mode == "reflection":
        if align_corners:
            x, g1 = _reflect(xp, x, 0, 2 * (size - 1), want_grad)
        else:
            x, g1 = _reflect(xp, x, -1, 2 * size - 1, want_grad)
        x, g2 = _clip(xp, x, size, want_grad)
        grad = g1 * g2 if want_grad else None
    return x, grad


def _source_index(xp, g, size, padding_mode, align_corners, want_grad=False):
    """grid_sampler_compute_source_index(_set_grad): (coordinate, d coordinate / d g)."""
    x, mult = _unnormalize(g, size, align_corners)
    x = x.astype(g.dtype, copy=False)
    x, grad = _pad_coordinates(xp, x, size, padding_mode, align_corners, want_grad)
    if not want_grad:
        return x, None
    return x, (grad * mult if grad is not None else xp.full(x.shape, mult, x.dtype))


# --- grid_sample ------------------------------------------------------------------------------

def _check(fn, input, grid, mode, padding_mode):
    if mode not in _MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                         f"but got: '{mode}'")
    if padding_mode not in _PADDINGS:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: '{padding_mode}'")
    xp = _xp(fn, "input", input)
    _xp(fn, "grid", grid)
    if _device.device_of(input) != _device.device_of(grid):
        raise _device.mismatch(fn, "grid", grid, f"input is on {_device.device_of(input)}",
                               "move both to one device first")
    for name, a in (("input", input), ("grid", grid)):
        if not np.issubdtype(a.dtype, np.floating):
            raise NotImplementedError(f"grid_sampler(): {name} must be floating point, got {a.dtype}")
    if input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sampler(): expected input and grid to have the same dtype, but input has "
                           f"{input.dtype} and grid has {grid.dtype}")
    ins, gs = _shape(input), _shape(grid)
    if input.ndim < 2 or not gs or gs[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last dimension, but "
                           f"got grid with sizes {gs}")
    for i in range(2, input.ndim):
        if ins[i] <= 0:
            raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial dimensions, but input "
                               f"has sizes {ins} with dimension {i} being empty")
    if input.ndim != 4 and input.ndim != 5 or input.ndim != grid.ndim:
        kind = "4D" if input.ndim == 4 else "5D"
        raise RuntimeError(f"grid_sampler(): expected {kind} input and grid with same number of dimensions, but "
                           f"got input with sizes {ins} and grid with sizes {gs}")
    if ins[0] != gs[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, but got input with "
                           f"sizes {ins} and grid with sizes {gs}")
    if input.ndim == 5 and mode == "bicubic":
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    return xp


class _Layout:
    """Flattened views: input (N, C, S), grid coordinates per axis (N, P), strides of (D,) H, W."""

    def __init__(self, xp, input, grid):
        self.n, self.c = int(input.shape[0]), int(input.shape[1])
        self.spatial = tuple(int(s) for s in input.shape[2:])  # (D,) H, W
        self.d = len(self.spatial)
        self.out_spatial = tuple(int(s) for s in grid.shape[1:-1])
        self.s = int(np.prod(self.spatial))
        self.p = int(np.prod(self.out_spatial))
        strides, acc = [], 1
        for size in reversed(self.spatial):  # x (W) first
            strides.append(acc)
            acc *= size
        self.strides = strides  # per grid coordinate k: x, y, z
        self.sizes = list(reversed(self.spatial))  # per grid coordinate k
        self.inp = xp.ascontiguousarray(input).reshape(self.n, self.c, self.s)
        g = grid.reshape(self.n, self.p, self.d)
        self.coords = [xp.ascontiguousarray(g[:, :, k]) for k in range(self.d)]

    def gather(self, xp, lin):
        """input values at flat spatial positions lin (N, P): (N, C, P)."""
        idx = xp.broadcast_to(lin[:, None, :], (self.n, self.c, self.p))
        return xp.take_along_axis(self.inp, idx, axis=2)

    def out_shape(self):
        return (self.n, self.c) + self.out_spatial


def _tap(xp, lay, positions):
    """Flat index (N, P) and in-bounds mask of integer-valued float positions, one per coordinate."""
    valid = None
    lin = None
    for k, pos in enumerate(positions):
        ok = (pos >= 0) & (pos < lay.sizes[k])  # False for NaN
        i = xp.where(ok, pos, 0).astype(np.int64) * lay.strides[k]
        valid = ok if valid is None else valid & ok
        lin = i if lin is None else lin + i
    return lin, valid


def _corners(d):
    """Corner offsets per coordinate (x first), in ATen's order: x fastest (nw, ne, sw, se, ...)."""
    return [c[::-1] for c in itertools.product((0, 1), repeat=d)]


def _cubic_coefficients(t):
    def cc1(x):
        return ((_A + 2) * x - (_A + 3)) * x * x + 1

    def cc2(x):
        return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A

    return [cc2(t + 1), cc1(t), cc1(1 - t), cc2((1 - t) + 1)]


def _cubic_coefficients_grad(t):
    """d/dt of _cubic_coefficients(t)."""
    def dc1(x):
        return (3 * (_A + 2) * x - 2 * (_A + 3)) * x

    def dc2(x):
        return (3 * _A * x - 10 * _A) * x + 8 * _A

    return [dc2(t + 1), dc1(t), -dc1(1 - t), -dc2(2 - t)]


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """torch.nn.functional.grid_sample: output[n, c, ...] = input[n, c] sampled at grid[n, ...]
    (normalized coordinates, -1..1 spanning the input), with ``mode`` 'bilinear' (trilinear for a
    5-D input), 'nearest' or 'bicubic' (4-D only) and ``padding_mode`` 'zeros', 'border' or
    'reflection' for points outside the input.

    Shape: input (N, C, H_in, W_in), grid (N, H_out, W_out, 2) -> (N, C, H_out, W_out); or input
    (N, C, D_in, H_in, W_in), grid (N, D_out, H_out, W_out, 3) -> (N, C, D_out, H_out, W_out).
    """
    xp = _check("grid_sample", input, grid, mode, padding_mode)
    align_corners = _align(align_corners)
    with np.errstate(invalid="ignore"):  # NaN / inf grid points: as torch, no warning
        return _grid_sample(xp, input, grid, mode, padding_mode, align_corners)


def _grid_sample(xp, input, grid, mode, padding_mode, align_corners):
    dtype = input.dtype
    work = np.float32 if dtype == np.float16 else dtype
    if work != dtype:
        input, grid = input.astype(work), grid.astype(work)
    lay = _Layout(xp, input, grid)
    out = xp.zeros((lay.n, lay.c, lay.p), work)
    if lay.n * lay.c * lay.p == 0:
        return out.reshape(lay.out_shape()).astype(dtype, copy=False)
    if mode == "bicubic":
        src = [_unnormalize(g, lay.sizes[k], align_corners)[0].astype(work, copy=False)
               for k, g in enumerate(lay.coords)]
        fl = [xp.floor(x) for x in src]
        cx, cy = (_cubic_coefficients((x - f).astype(work, copy=False)) for x, f in zip(src, fl))
        for i in range(4):
            py, _ = _pad_coordinates(xp, fl[1] - 1 + i, lay.sizes[1], padding_mode, align_corners)
            row = None
            for j in range(4):
                px, _ = _pad_coordinates(xp, fl[0] - 1 + j, lay.sizes[0], padding_mode, align_corners)
                # ATen casts the padded coordinate to int64 (truncation) before the bounds check
                lin, valid = _tap(xp, lay, [xp.trunc(px), xp.trunc(py)])
                term = cx[j][:, None, :] * xp.where(valid[:, None, :], lay.gather(xp, lin), 0)
                row = term if row is None else row + term
            out += cy[i][:, None, :] * row
        return out.reshape(lay.out_shape()).astype(dtype, copy=False)
    src = [_source_index(xp, g, lay.sizes[k], padding_mode, align_corners)[0] for k, g in enumerate(lay.coords)]
    if mode == "nearest":
        lin, valid = _tap(xp, lay, [xp.rint(x) for x in src])  # nearbyint: round half to even
        out = xp.where(valid[:, None, :], lay.gather(xp, lin), 0).astype(work, copy=False)
        return out.reshape(lay.out_shape()).astype(dtype, copy=False)
    fl = [xp.floor(x) for x in src]
    frac = [x - f for x, f in zip(src, fl)]
    for corner in _corners(lay.d):
        w = None
        for k, b in enumerate(corner):
            wk = frac[k] if b else 1 - frac[k]
            w = wk if w is None else w * wk
        lin, valid = _tap(xp, lay, [f + b for f, b in zip(fl, corner)])
        out += w[:, None, :] * xp.where(valid[:, None, :], lay.gather(xp, lin), 0)
    return out.reshape(lay.out_shape()).astype(dtype, copy=False)


def _scatter(xp, lay, lin, weights, valid):
    """sum over (N, C, P) of weights into (N, C, S) at spatial positions lin (N, P) where valid."""
    base = (xp.arange(lay.n * lay.c, dtype=np.int64) * lay.s).reshape(lay.n, lay.c, 1)
    idx = (base + lin[:, None, :]).reshape(-1)
    w = xp.where(valid[:, None, :], weights, 0).reshape(-1)
    return xp.bincount(idx, weights=w, minlength=lay.n * lay.c * lay.s)


def grid_sample_backward(dy, input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Gradients of ``grid_sample(input, grid, mode, padding_mode, align_corners)``: (d_input,
    d_grid) from dy, the gradient of its output. 'bilinear' and 'nearest' (d_grid is zeros for
    'nearest' and 'bicubic' (d_grid is zeros for 'nearest', as torch's)."""
    xp = _check("grid_sample_backward", input, grid, mode, padding_mode)
    align_corners = _align(align_corners)
    _xp("grid_sample_backward", "dy", dy)
    want = (int(input.shape[0]), int(input.shape[1])) + tuple(int(s) for s in grid.shape[1:-1])
    if tuple(_shape(dy)) != want:
        raise ValueError(f"grid_sample_backward: dy must have grid_sample's output shape {want}. "
                         f"Received: dy.shape={tuple(_shape(dy))}")
    with np.errstate(invalid="ignore"):
        return _grid_sample_backward(xp, dy, input, grid, mode, padding_mode, align_corners)


def _grid_sample_backward(xp, dy, input, grid, mode, padding_mode, align_corners):
    dtype = input.dtype
    work = np.float32 if dtype == np.float16 else dtype
    lay = _Layout(xp, input.astype(work, copy=False), grid.astype(work, copy=False))
    gy = xp.ascontiguousarray(dy).reshape(lay.n, lay.c, lay.p).astype(work, copy=False)
    d_grid = xp.zeros((lay.n, lay.p, lay.d), work)
    d_in = xp.zeros(lay.n * lay.c * lay.s, np.float64)
    if lay.n * lay.c * lay.p == 0:
        return (d_in.reshape(input.shape).astype(dtype), d_grid.reshape(grid.shape).astype(dtype))
    if mode == "bicubic":
        # the padding applies to the 16 integer taps, so the grid's gradient is the unnormalize factor's
        src, mults = zip(*(_unnormalize(g, lay.sizes[k], align_corners) for k, g in enumerate(lay.coords)))
        src = [x.astype(work, copy=False) for x in src]
        fl = [xp.floor(x) for x in src]
        ts = [(x - f).astype(work, copy=False) for x, f in zip(src, fl)]
        cx, cy = (_cubic_coefficients(t) for t in ts)
        dcx, dcy = (_cubic_coefficients_grad(t) for t in ts)
        for i in range(4):
            py, _ = _pad_coordinates(xp, fl[1] - 1 + i, lay.sizes[1], padding_mode, align_corners)
            for j in range(4):
                px, _ = _pad_coordinates(xp, fl[0] - 1 + j, lay.sizes[0], padding_mode, align_corners)
                lin, valid = _tap(xp, lay, [xp.trunc(px), xp.trunc(py)])
                d_in += _scatter(xp, lay, lin, (cx[j] * cy[i])[:, None, :] * gy, valid)
                vg = (xp.where(valid[:, None, :], lay.gather(xp, lin), 0) * gy).sum(axis=1)
                d_grid[:, :, 0] += vg * dcx[j] * cy[i]
                d_grid[:, :, 1] += vg * cx[j] * dcy[i]
        for k, mult in enumerate(mults):
            d_grid[:, :, k] *= mult
        return d_in.reshape(input.shape).astype(dtype), d_grid.reshape(grid.shape).astype(dtype)
    src = [_source_index(xp, g, lay.sizes[k], padding_mode, align_corners, want_grad=True)
           for k, g in enumerate(lay.coords)]
    if mode == "nearest":
        lin, valid = _tap(xp, lay, [xp.rint(x) for x, _ in src])
        d_in += _scatter(xp, lay, lin, gy, valid)
        return d_in.reshape(input.shape).astype(dtype), d_grid.reshape(grid.shape).astype(dtype)
    fl = [xp.floor(x) for x, _ in src]
    frac = [x - f for (x, _), f in zip(src, fl)]
    for corner in _corners(lay.d):
        ws = [frac[k] if b else 1 - frac[k] for k, b in enumerate(corner)]
        w = ws[0]
        for wk in ws[1:]:
            w = w * wk
        lin, valid = _tap(xp, lay, [f + b for f, b in zip(fl, corner)])
        d_in += _scatter(xp, lay, lin, w[:, None, :] * gy, valid)
        vals = xp.where(valid[:, None, :], lay.gather(xp, lin), 0)
        vg = (vals * gy).sum(axis=1)  # (N, P)
        for k, b in enumerate(corner):
            dw = None
            for j, wj in enumerate(ws):
                if j != k:
                    dw = wj if dw is None else dw * wj
            term = vg * dw if b else -(vg * dw)
            d_grid[:, :, k] += term
    for k, (_, mult) in enumerate(src):
        d_grid[:, :, k] *= mult
    return d_in.reshape(input.shape).astype(dtype), d_grid.reshape(grid.shape).astype(dtype)
