"""Batch transforms: vectorised NumPy over a whole ``(N, C, H, W)`` batch, seeded.

Calling convention (every transform here):

    x = t(x)            # images only
    x, y = t(x, y)      # with labels: y passes through unchanged, except Mixup / CutMix,
                        # which return soft labels float32 (N, K)

Transforms never modify their input and never reorder samples, so labels stay aligned.
Randomness: each random transform draws from its own generator, made from ``seed=`` (or a
``numpy.random.Generator`` given as ``rng=``); the same seed gives the same sequence of
batches. A caller can also pass ``rng=`` to one call (``t(x, y, rng=g)``), which is what
:class:`fastnn.data.DataLoader` does so that augmentation depends only on the loader's seed,
the epoch and the batch index (not on prefetching or on how far earlier epochs ran).
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Sequence

import numpy as np


def _check_images(x, name: str = "x") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), got shape {x.shape}")
    return x


def _check_float(x, name: str = "x") -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (convert images with "
                        f"x.astype(np.float32) / 255 first), got {x.dtype}")


def _check_prob(p, name: str = "p") -> float:
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {name}={p!r}")
    return float(p)


def _pair(v, name: str):
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (int(v), int(v))
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in v)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {name}={v!r}")
    return int(v[0]), int(v[1])


class Transform:
    """Base class: ``t(x, y=None, *, rng=None)``; subclasses implement ``apply(x, y, rng)``."""

    def __init__(self, seed: Optional[int] = None, rng: Optional[np.random.Generator] = None):
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        self.rng = rng if rng is not None else np.random.default_rng(seed)

    def __call__(self, x, y=None, *, rng: Optional[np.random.Generator] = None):
        g = self.rng if rng is None else rng
        x_out, y_out = self.apply(x, y, g)
        return x_out if y is None and y_out is None else (x_out, y_out)

    def apply(self, x, y, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({fields})"


class Compose(Transform):
    """Apply transforms in order. Each member uses its own generator, unless a call passes
    ``rng=``, which is then shared by all members (drawn from in order)."""

    def __init__(self, transforms: Sequence):
        self.rng = None
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose takes callables, got {type(t).__name__}")

    def __call__(self, x, y=None, *, rng: Optional[np.random.Generator] = None):
        # Unlike a single transform, Compose has no generator of its own: without ``rng``
        # each member draws from its own (seeded) generator.
        x_out, y_out = self.apply(x, y, rng)
        return x_out if y is None and y_out is None else (x_out, y_out)

    def apply(self, x, y, rng):
        for t in self.transforms:
            if isinstance(t, Transform):
                out = t(x, y, rng=rng)
            else:
                out = t(x) if y is None else t(x, y)
            x, y = (out, y) if y is None else out
        return x, y


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel (axis 1); scalars apply to every channel.

    Args:
        mean, std: scalars or sequences of length C (std > 0).
    """

    def __init__(self, mean, std):
        super().__init__()
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"mean and std must be scalars or 1-D, got mean={mean!r}, std={std!r}")
        if np.any(self.std <= 0) or not np.all(np.isfinite(self.std)):
            raise ValueError(f"std must be positive and finite, got std={std!r}")

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"x must be an array (N, C, ...), got {getattr(x, 'shape', x)!r}")
        _check_float(x)
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"{name} has {v.size} values but x has {c} channels")
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = self.mean.astype(x.dtype).reshape(shape)
        s = self.std.astype(x.dtype).reshape(shape)
        return (x - m) / s, y


class _RandomFlip(Transform):
    axis = -1

    def __init__(self, p: float = 0.5, *, seed=None, rng=None):
        super().__init__(seed, rng)
        self.p = _check_prob(p)

    def apply(self, x, y, rng):
        _check_images(x)
        flip = rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = np.flip(x[flip], axis=self.axis)
        return out, y


class RandomHorizontalFlip(_RandomFlip):
    """Mirror each image left-right (along W) with probability ``p``."""

    axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror each image upside down (along H) with probability ``p``."""

    axis = -2


class RandomCrop(Transform):
    """Pad by ``padding`` then cut a ``size`` window at a random offset, per image.

    With ``size=None`` the window is the input size, so this is a random translation by up to
    ``padding`` pixels in each direction (see :class:`RandomTranslate`).

    Args:
        size: int or (h, w) of the output, or None for the input's size.
        padding: int or (ph, pw) added on each side.
        fill: value of the padding for ``padding_mode="constant"``.
        padding_mode: ``"constant"``, ``"edge"`` or ``"reflect"`` (as ``numpy.pad``).
    """

    _MODES = ("constant", "edge", "reflect")

    def __init__(self, size, padding=0, *, fill: float = 0.0, padding_mode: str = "constant",
                 seed=None, rng=None):
        super().__init__(seed, rng)
        self.size = None if size is None else _pair(size, "size")
        self.padding = _pair(padding, "padding")
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be positive, got size={size!r}")
        if min(self.padding) < 0:
            raise ValueError(f"padding must be >= 0, got padding={padding!r}")
        if padding_mode not in self._MODES:
            raise ValueError(f"padding_mode must be one of {self._MODES}, got "
                             f"padding_mode={padding_mode!r}")
        self.fill = fill
        self.padding_mode = padding_mode

    def apply(self, x, y, rng):
        _check_images(x)
        n, c, h, w = x.shape
        ph, pw = self.padding
        oh, ow = (h, w) if self.size is None else self.size
        hp, wp = h + 2 * ph, w + 2 * pw
        if oh > hp or ow > wp:
            raise ValueError(f"crop size {(oh, ow)} is larger than the padded image {(hp, wp)}")
        if ph or pw:
            kw = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode=self.padding_mode, **kw)
        else:
            xp = x
        top = rng.integers(0, hp - oh + 1, size=n)
        left = rng.integers(0, wp - ow + 1, size=n)
        rows = top[:, None] + np.arange(oh)          # (N, oh)
        cols = left[:, None] + np.arange(ow)         # (N, ow)
        out = xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
        return out, y


class RandomTranslate(RandomCrop):
    """Shift each image by a random whole number of pixels in [-max_shift, max_shift] along
    H and W, filling the uncovered border with ``fill`` (same output size)."""

    def __init__(self, max_shift, *, fill: float = 0.0, seed=None, rng=None):
        super().__init__(None, max_shift, fill=fill, seed=seed, rng=rng)


class RandomRotation(Transform):
    """Rotate each image by an angle drawn uniformly from ``[-degrees, degrees]`` (or from
    ``degrees=(lo, hi)``) about its centre ``((H-1)/2, (W-1)/2)``.

    Positive angles turn the image counter-clockwise as displayed (row 0 at the top), as
    torchvision does. Each output pixel samples the input at the inversely rotated position:
    ``interpolation="bilinear"`` blends the four neighbours, ``"nearest"`` takes the closest;
    positions outside the image read ``fill``. Meant for small angles (a few to ~30 degrees).
    """

    def __init__(self, degrees, *, interpolation: str = "bilinear", fill: float = 0.0,
                 seed=None, rng=None):
        super().__init__(seed, rng)
        if isinstance(degrees, numbers.Real):
            if degrees < 0:
                raise ValueError(f"degrees must be >= 0 (or a (lo, hi) pair), got degrees={degrees}")
            degrees = (-float(degrees), float(degrees))
        if (not isinstance(degrees, (tuple, list)) or len(degrees) != 2
                or not degrees[0] <= degrees[1]):
            raise ValueError(f"degrees must be a number >= 0 or a pair lo <= hi, got "
                             f"degrees={degrees!r}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got "
                             f"interpolation={interpolation!r}")
        self.degrees = (float(degrees[0]), float(degrees[1]))
        self.interpolation = interpolation
        self.fill = fill

    def apply(self, x, y, rng):
        _check_images(x)
        if self.interpolation == "bilinear":
            _check_float(x)
        n, c, h, w = x.shape
        theta = np.deg2rad(rng.uniform(self.degrees[0], self.degrees[1], size=n))
        return rotate(x, theta, interpolation=self.interpolation, fill=self.fill), y


def rotate(x: np.ndarray, theta, *, interpolation: str = "bilinear", fill: float = 0.0):
    """Rotate each image of ``x`` (N, C, H, W) counter-clockwise by ``theta[n]`` radians."""
    n, c, h, w = x.shape
    theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (n,))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = xs - cx, cy - ys                   # v points up: counter-clockwise as displayed
    cos = np.cos(theta)[:, None, None]
    sin = np.sin(theta)[:, None, None]
    # Inverse map: the output pixel at (u, v) reads the input at R(-theta) (u, v).
    us = cos * u + sin * v
    vs = -sin * u + cos * v
    src_x = cx + us                           # (N, H, W)
    src_y = cy - vs
    nidx = np.arange(n)[:, None, None]

    def gather(iy, ix):
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        vals = x[nidx, :, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]  # (N, H, W, C)
        return np.where(ok[..., None], vals, np.asarray(fill, dtype=x.dtype))

    if interpolation == "nearest":
        out = gather(np.floor(src_y + 0.5).astype(np.int64), np.floor(src_x + 0.5).astype(np.int64))
    else:
        x0 = np.floor(src_x).astype(np.int64)
        y0 = np.floor(src_y).astype(np.int64)
        wx = (src_x - x0)[..., None]
        wy = (src_y - y0)[..., None]
        out = ((1 - wy) * ((1 - wx) * gather(y0, x0) + wx * gather(y0, x0 + 1))
               + wy * ((1 - wx) * gather(y0 + 1, x0) + wx * gather(y0 + 1, x0 + 1)))
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(x.dtype, copy=False)


class GaussianNoise(Transform):
    """``x + std * N(0, 1)`` elementwise; ``clip=(lo, hi)`` clips the result."""

    def __init__(self, std: float, *, clip=None, seed=None, rng=None):
        super().__init__(seed, rng)
        if not isinstance(std, numbers.Real) or not 0 <= std < math.inf:   # NaN fails too
            raise ValueError(f"std must be a finite number >= 0, got std={std!r}")
        if clip is not None and (len(clip) != 2 or not clip[0] <= clip[1]):
            raise ValueError(f"clip must be None or a pair lo <= hi, got clip={clip!r}")
        self.std = float(std)
        self.clip = clip

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        _check_float(x)
        out = x + rng.standard_normal(x.shape).astype(x.dtype) * x.dtype.type(self.std)
        if self.clip is not None:
            np.clip(out, self.clip[0], self.clip[1], out=out)
        return out, y


def _erase(x, top, left, hh, ww, apply, value):
    """Set the rectangles [top, top+hh) x [left, left+ww) of the images where ``apply``."""
    n, c, h, w = x.shape
    rows = np.arange(h)
    cols = np.arange(w)
    in_r = (rows >= top[:, None]) & (rows < (top + hh)[:, None])      # (N, H)
    in_c = (cols >= left[:, None]) & (cols < (left + ww)[:, None])    # (N, W)
    mask = in_r[:, :, None] & in_c[:, None, :] & apply[:, None, None]  # (N, H, W)
    return np.where(mask[:, None], np.asarray(value, dtype=x.dtype), x)


class Cutout(Transform):
    """Cutout (DeVries & Taylor, 2017): with probability ``p`` set a ``size`` x ``size``
    square centred at a uniformly random pixel to ``fill``; the square is clipped at the
    borders, so it may be smaller near an edge."""

    def __init__(self, size: int, *, p: float = 1.0, fill: float = 0.0, seed=None, rng=None):
        super().__init__(seed, rng)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a positive int, got size={size!r}")
        self.size = int(size)
        self.p = _check_prob(p)
        self.fill = fill

    def apply(self, x, y, rng):
        _check_images(x)
        n, _, h, w = x.shape
        cy = rng.integers(0, h, size=n)
        cx = rng.integers(0, w, size=n)
        apply = rng.random(n) < self.p
        top, left = cy - self.size // 2, cx - self.size // 2
        size = np.full(n, self.size)
        return _erase(x, top, left, size, size, apply, self.fill), y


class RandomErasing(Transform):
    """Random erasing (Zhong et al., 2017): with probability ``p`` erase a rectangle whose area
    is a fraction in ``scale`` of the image and whose aspect ratio h/w is log-uniform in
    ``ratio``, placed uniformly inside the image, set to ``value``. (Sides that would exceed
    the image are clipped to it instead of re-drawn.)"""

    def __init__(self, *, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                 value: float = 0.0, seed=None, rng=None):
        super().__init__(seed, rng)
        self.p = _check_prob(p)
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must be (lo, hi) with 0 < lo <= hi <= 1, got scale={scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"ratio must be (lo, hi) with 0 < lo <= hi, got ratio={ratio!r}")
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.value = value

    def apply(self, x, y, rng):
        _check_images(x)
        n, _, h, w = x.shape
        area = rng.uniform(self.scale[0], self.scale[1], size=n) * h * w
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), size=n))
        eh = np.clip(np.round(np.sqrt(area * aspect)), 1, h).astype(np.int64)
        ew = np.clip(np.round(np.sqrt(area / aspect)), 1, w).astype(np.int64)
        top = np.floor(rng.random(n) * (h - eh + 1)).astype(np.int64)
        left = np.floor(rng.random(n) * (w - ew + 1)).astype(np.int64)
        apply = rng.random(n) < self.p
        return _erase(x, top, left, eh, ew, apply, self.value), y


# --- label-mixing batch transforms -----------------------------------------------------------

def one_hot(y, num_classes: int, dtype=np.float32) -> np.ndarray:
    """Class indices ``(N,)`` -> one-hot rows ``(N, num_classes)`` of ``dtype``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
            or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got num_classes={num_classes!r}")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be 1-D integer class indices, got shape {y.shape} dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y.min() if y.min() < 0 else y.max()
        raise ValueError(f"class index {int(bad)} out of range [0, {num_classes})")
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def _soft_labels(y, num_classes: int, n: int) -> np.ndarray:
    if y is None:
        raise ValueError("this transform mixes labels: call it as t(x, y)")
    y = np.asarray(y)
    if y.shape[0] != n:
        raise ValueError(f"x has {n} samples but y has {y.shape[0]}")
    if y.ndim == 2:
        if y.shape[1] != num_classes:
            raise ValueError(f"soft labels have {y.shape[1]} classes, expected {num_classes}")
        return y.astype(np.float32, copy=False)
    return one_hot(y, num_classes)


class _Mix(Transform):
    def __init__(self, alpha: float, num_classes: int, *, seed=None, rng=None):
        super().__init__(seed, rng)
        if not isinstance(alpha, numbers.Real) or not 0 < alpha < math.inf:   # NaN fails too
            raise ValueError(f"alpha must be a finite number > 0, got alpha={alpha!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
                or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got num_classes={num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = int(num_classes)


class Mixup(_Mix):
    """mixup (Zhang et al., 2018): ``x = lam*x + (1-lam)*x[perm]``, and the same mix of the
    one-hot labels, with one ``lam ~ Beta(alpha, alpha)`` and a random permutation per batch.

    Called as ``x, y_soft = Mixup(alpha, num_classes)(x, y)`` with ``y`` int ``(N,)`` (or soft
    ``(N, K)``); ``y_soft`` is float32 ``(N, K)`` with rows summing to 1, which
    ``softmax_cross_entropy`` accepts as targets.
    """

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        _check_float(x)
        n = x.shape[0]
        ys = _soft_labels(y, self.num_classes, n)
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(n)
        x_out = x * x.dtype.type(lam) + x[perm] * x.dtype.type(1.0 - lam)
        y_out = (ys * np.float32(lam) + ys[perm] * np.float32(1.0 - lam)).astype(np.float32)
        return x_out, y_out


class CutMix(_Mix):
    """CutMix (Yun et al., 2019): paste one random box from a permuted batch into every image
    and mix the labels by the pasted area. ``lam ~ Beta(alpha, alpha)`` sets the box size
    (area fraction ``1 - lam``, same aspect as the image); the box centre is uniform and the
    box is clipped at the borders, and the label weight is the exact kept fraction.

    Called as ``x, y_soft = CutMix(alpha, num_classes)(x, y)``; labels as :class:`Mixup`.
    """

    def apply(self, x, y, rng):
        _check_images(x)
        n, _, h, w = x.shape
        ys = _soft_labels(y, self.num_classes, n)
        lam = float(rng.beta(self.alpha, self.alpha))
        perm = rng.permutation(n)
        r = math.sqrt(1.0 - lam)
        bh, bw = int(h * r), int(w * r)
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, y2 = max(cy - bh // 2, 0), min(cy - bh // 2 + bh, h)
        x1, x2 = max(cx - bw // 2, 0), min(cx - bw // 2 + bw, w)
        x_out = x.copy()
        x_out[:, :, y1:y2, x1:x2] = x[perm, :, y1:y2, x1:x2]
        kept = 1.0 - (y2 - y1) * (x2 - x1) / float(h * w)
        y_out = (ys * np.float32(kept) + ys[perm] * np.float32(1.0 - kept)).astype(np.float32)
        return x_out, y_out
