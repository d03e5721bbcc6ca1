"""Image transforms following ``torchvision.transforms.v2``: vectorised NumPy over a batch
``(N, C, H, W)`` or one image ``(C, H, W)``, seeded.

Calling convention (every transform here):

    x = t(x)            # images only
    x, y = t(x, y)      # with labels: y passes through unchanged, except Mixup / CutMix,
                        # which return soft labels float32 (N, K)

Transforms never modify their input (except ``Normalize`` and ``RandomErasing`` with
``inplace=True``) and never reorder samples, so labels stay aligned. Unlike torchvision v2,
which draws one set of random parameters per call (so every image of a batch tensor gets the
same crop, flip or angle), random transforms here draw per image; a single image gets the
draws of the first image of a batch. Mixup and CutMix draw one ``lam`` per batch, as
torchvision.

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
    if x.ndim not in (3, 4):
        raise ValueError(f"{name} must be an image (C, H, W) or a batch of images (N, C, H, W), "
                         f"got shape {x.shape}")
    return x


def _as_batch(x, name: str = "x"):
    """``(x4, single)``: a (C, H, W) image becomes a batch of one (a view); ``single`` says to
    drop that axis again with :func:`_unbatch`. A single image draws as the first of a batch."""
    _check_images(x, name)
    return (x[None], True) if x.ndim == 3 else (x, False)


def _unbatch(out, single: bool):
    return out[0] if single else out


def _check_float(x, name: str = "x") -> None:
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (convert images with "
                        f"x.astype(np.float32) / 255 first), got {x.dtype}")


def _check_prob(p, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {name}={p!r}")
    return float(p)


def _check_bool(v, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {name}={v!r}")
    return bool(v)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pair(v, name: str):
    if _is_int(v):
        v = (int(v), int(v))
    if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(_is_int(a) for a in v):
        raise TypeError(f"{name} must be an int or a pair of ints, got {name}={v!r}")
    return int(v[0]), int(v[1])


def _check_fill(fill, name: str = "fill"):
    """A number or a per-channel sequence of numbers, kept as a float64 1-D array."""
    ok = isinstance(fill, numbers.Real) and not isinstance(fill, bool)
    if isinstance(fill, (tuple, list)):
        ok = len(fill) > 0 and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   for v in fill)
    if not ok:
        raise TypeError(f"{name} must be a number or a sequence of numbers (one per channel), "
                        f"got {name}={fill!r}")
    return np.atleast_1d(np.asarray(fill, dtype=np.float64))


def _per_channel(values: np.ndarray, c: int, dtype, name: str) -> np.ndarray:
    """Values of length 1 or C as an array of ``dtype`` shaped (1, C or 1, 1, 1)."""
    if values.size not in (1, c):
        raise ValueError(f"{name} has {values.size} values but x has {c} channels")
    return values.astype(dtype).reshape(1, -1, 1, 1)


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
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k != "rng" and not k.startswith("_"))
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
    """``(x - mean[c]) / std[c]`` per channel, the channel axis being -3: ``(C, H, W)`` images,
    ``(N, C, H, W)`` batches (any ``(..., C, H, W)``), as ``torchvision.transforms.v2.Normalize``.

    Args:
        mean, std: scalars (every channel) or sequences of length C. A std of zero (also one that
            becomes zero in the image's dtype) raises ValueError; a negative std is allowed, as
            in torchvision.
        inplace: write the result into ``x`` (which must be a writeable floating array) and
            return it, instead of a new array.
    """

    def __init__(self, mean, std, inplace: bool = False):
        super().__init__()
        for label, v in (("mean", mean), ("std", std)):
            # np.asarray(None, float64) is nan: Normalize(None, ...) would silently give all-NaN images
            if v is None or np.asarray(v).dtype == object:
                raise TypeError(f"{label} must be a number or a sequence of numbers. Received: {label}={v!r}")
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"mean and std must be scalars or 1-D, got mean={mean!r}, std={std!r}")
        if np.any(self.std == 0) or not np.all(np.isfinite(self.std)):
            raise ValueError(f"std must be non-zero and finite (it divides), got std={std!r}")
        self.inplace = _check_bool(inplace, "inplace")

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim < 3:
            raise ValueError(f"x must be an image (C, H, W) or a batch (N, C, H, W) (channels on "
                             f"axis -3), got shape {x.shape}")
        _check_float(x)
        c = x.shape[-3]
        m = _per_channel(self.mean, c, x.dtype, "mean").reshape(-1, 1, 1)
        s = _per_channel(self.std, c, x.dtype, "std").reshape(-1, 1, 1)
        if np.any(s == 0):
            raise ValueError(f"std={self.std.tolist()} is zero after conversion to {x.dtype}")
        if self.inplace:
            np.subtract(x, m, out=x)
            np.divide(x, s, out=x)
            return x, y
        return (x - m) / s, y


class _RandomFlip(Transform):
    axis = -1

    def __init__(self, p: float = 0.5, *, seed=None, rng=None):
        super().__init__(seed, rng)
        self.p = _check_prob(p)

    def apply(self, x, y, rng):
        xb, single = _as_batch(x)
        flip = rng.random(xb.shape[0]) < self.p
        out = xb.copy()
        out[flip] = np.flip(xb[flip], axis=self.axis)
        return _unbatch(out, single), y


class RandomHorizontalFlip(_RandomFlip):
    """Mirror each image left-right (along W) with probability ``p``."""

    axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror each image upside down (along H) with probability ``p``."""

    axis = -2


def _padding4(padding, name: str = "padding"):
    """torchvision's padding argument -> ``(left, top, right, bottom)``: an int pads every
    side, a 1-sequence too, a 2-sequence is (left and right, top and bottom), a 4-sequence is
    (left, top, right, bottom)."""
    if padding is None:
        return (0, 0, 0, 0)
    if _is_int(padding):
        p = [padding] * 4
    elif (isinstance(padding, (tuple, list)) and len(padding) in (1, 2, 4)
          and all(_is_int(v) for v in padding)):
        p = {1: lambda q: q * 4, 2: lambda q: q * 2, 4: lambda q: q}[len(padding)](list(padding))
    else:
        raise TypeError(f"{name} must be an int or a sequence of 1, 2 or 4 ints, got "
                        f"{name}={padding!r}")
    if min(p) < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={padding!r}")
    return tuple(int(v) for v in p)


def _pad(x, padding, fill: np.ndarray, mode: str) -> np.ndarray:
    """Pad a batch (N, C, H, W) by ``padding = (left, top, right, bottom)``."""
    left, top, right, bottom = padding
    n, c, h, w = x.shape
    if mode == "constant":
        out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        out[...] = _per_channel(fill, c, x.dtype, "fill")
        out[:, :, top:top + h, left:left + w] = x
        return out
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        raise ValueError(f"padding_mode='reflect' needs each padding smaller than the image side "
                         f"(as torch), got (left, top, right, bottom)={padding} for H, W = {h}, {w}")
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=mode)


class RandomCrop(Transform):
    """Pad, then cut a ``size`` window at a random offset, per image, as
    ``torchvision.transforms.v2.RandomCrop`` (one offset per image of a batch).

    With ``size=None`` the window is the input size, so this is a random translation by up to
    the padding in each direction (see :class:`RandomTranslate`).

    Args:
        size: int or (h, w) of the output, or None for the input's size.
        padding: None, an int (every side), (left/right, top/bottom) or
            (left, top, right, bottom).
        pad_if_needed: if the (padded) image is smaller than ``size``, pad that side by the
            difference on both ends (torchvision's rule), so the crop always fits.
        fill: value of the padding for ``padding_mode="constant"``: a number or one per channel.
        padding_mode: ``"constant"``, ``"edge"``, ``"reflect"`` (no edge repeat) or
            ``"symmetric"`` (edge repeated), as torchvision / ``numpy.pad``.
    """

    _MODES = ("constant", "edge", "reflect", "symmetric")

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant", *, seed=None, rng=None):
        super().__init__(seed, rng)
        if isinstance(size, (tuple, list)) and len(size) == 1:
            size = size[0]
        self.size = None if size is None else _pair(size, "size")
        if self.size is not None and min(self.size) < 1:
            raise ValueError(f"size must be positive, got size={size!r}")
        self.padding = _padding4(padding)
        self.pad_if_needed = _check_bool(pad_if_needed, "pad_if_needed")
        self._fill = _check_fill(fill)
        self.fill = fill
        if padding_mode not in self._MODES:
            raise ValueError(f"padding_mode must be one of {self._MODES}, got "
                             f"padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode

    def apply(self, x, y, rng):
        xb, single = _as_batch(x)
        n, c, h, w = xb.shape
        left, top, right, bottom = self.padding
        oh, ow = (h, w) if self.size is None else self.size
        hp, wp = h + top + bottom, w + left + right
        if self.pad_if_needed:
            if wp < ow:
                d = ow - wp
                left, right, wp = left + d, right + d, wp + 2 * d
            if hp < oh:
                d = oh - hp
                top, bottom, hp = top + d, bottom + d, hp + 2 * d
        if oh > hp or ow > wp:
            raise ValueError(f"crop size {(oh, ow)} is larger than the padded image {(hp, wp)}")
        if left or top or right or bottom:
            xp = _pad(xb, (left, top, right, bottom), self._fill, self.padding_mode)
        else:
            xp = xb
        tops = rng.integers(0, hp - oh + 1, size=n)
        lefts = rng.integers(0, wp - ow + 1, size=n)
        rows = tops[:, None] + np.arange(oh)         # (N, oh)
        cols = lefts[:, None] + np.arange(ow)        # (N, ow)
        out = xp[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
        return _unbatch(out, single), y


class RandomTranslate(RandomCrop):
    """Shift each image by a random whole number of pixels in [-max_shift, max_shift] along
    H and W (``max_shift`` an int or (along H, along W)), filling the uncovered border with
    ``fill`` (same output size)."""

    def __init__(self, max_shift, *, fill=0, seed=None, rng=None):
        sh, sw = _pair(max_shift, "max_shift")
        if min(sh, sw) < 0:
            raise ValueError(f"max_shift must be >= 0, got max_shift={max_shift!r}")
        super().__init__(None, (sw, sh, sw, sh), fill=fill, seed=seed, rng=rng)


def _check_center(center):
    if center is None:
        return None
    if (not isinstance(center, (tuple, list)) or len(center) != 2
            or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in center)):
        raise TypeError(f"center must be None or a pair of numbers (x, y), got center={center!r}")
    return (float(center[0]), float(center[1]))


class RandomRotation(Transform):
    """Rotate each image by an angle drawn uniformly from ``[-degrees, degrees]`` (or from
    ``degrees=(lo, hi)``), as ``torchvision.transforms.v2.RandomRotation`` with
    ``expand=False`` (one angle per image of a batch).

    Positive angles turn the image counter-clockwise as displayed (row 0 at the top).
    ``center=(x, y)`` is in torchvision's pixel coordinates: origin at the top-left *corner* of
    the image, so pixel (row i, col j) has its centre at (j + 0.5, i + 0.5); the default is the
    image centre (W/2, H/2), i.e. pixel index ((H-1)/2, (W-1)/2). Each output pixel samples the
    input at the inversely rotated position: ``"nearest"`` (the default, as torchvision's)
    takes the closest pixel (ties to even, as ``torch.nn.functional.grid_sample``),
    ``"bilinear"`` blends the four neighbours (smoother for small angles; float images only).
    Outside the image: ``fill`` (a number or one per channel), blended as torchvision does,
    ``mask * (img - fill) + fill`` with ``img`` the zero-padded bilinear sample and ``mask`` the
    summed weight of the in-image neighbours.
    """

    def __init__(self, degrees, *, interpolation: str = "nearest", center=None, fill=0,
                 seed=None, rng=None):
        super().__init__(seed, rng)
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
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
        if not all(math.isfinite(d) for d in self.degrees):  # the uniform draw would raise OverflowError
            raise ValueError(f"degrees must be finite, got degrees={degrees!r}")
        self.interpolation = interpolation
        self.center = _check_center(center)
        _check_fill(fill)
        self.fill = fill

    def apply(self, x, y, rng):
        xb, single = _as_batch(x)
        if self.interpolation == "bilinear":
            _check_float(xb)
        theta = np.deg2rad(rng.uniform(self.degrees[0], self.degrees[1], size=xb.shape[0]))
        out = rotate(xb, theta, interpolation=self.interpolation, fill=self.fill,
                     center=self.center)
        return _unbatch(out, single), y


def rotate(x: np.ndarray, theta, *, interpolation: str = "nearest", fill=0.0, center=None):
    """Rotate each image of ``x`` ((N, C, H, W), or one (C, H, W)) counter-clockwise by
    ``theta[n]`` radians about ``center`` (see :class:`RandomRotation` for the conventions).

    The sampling positions are computed as torchvision's tensor path computes them (its
    inverse affine matrix, then the grid in the image's floating dtype, float32 for integer
    images, then ``grid_sample``'s un-normalisation), so nearest-neighbour picks agree with
    torchvision even where a position is within rounding of a half pixel.
    """
    xb, single = _as_batch(x)
    n, c, h, w = xb.shape
    theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (n,))
    f = _per_channel(_check_fill(fill), c, np.float64, "fill").reshape(-1)   # (1 or C,)
    center = _check_center(center)
    # The centre relative to the image centre, in pixels (torchvision's center_f).
    ccx, ccy = (0.0, 0.0) if center is None else (center[0] - w * 0.5, center[1] - h * 0.5)
    # Inverse map (output -> input position), y down: [[cos, -sin, tx], [sin, cos, ty]].
    mats = np.empty((n, 2, 3), np.float64)
    for k in range(n):
        cs, sn = math.cos(theta[k]), math.sin(theta[k])
        mats[k] = [[cs, -sn, cs * -ccx + -sn * -ccy + ccx],
                   [sn, cs, sn * -ccx + cs * -ccy + ccy]]
    ct = xb.dtype.type if np.issubdtype(xb.dtype, np.floating) else np.float32
    rt = mats.astype(ct).transpose(0, 2, 1) / np.array([0.5 * w, 0.5 * h], dtype=ct)  # (N, 3, 2)
    bx = ((1.0 - w) * 0.5 + np.arange(w)).astype(ct)[None, None, :]   # pixel centres about the
    by = ((1.0 - h) * 0.5 + np.arange(h)).astype(ct)[None, :, None]   # image centre
    r = rt[:, :, :, None, None]
    gx = (bx * r[:, 0, 0] + by * r[:, 1, 0]) + r[:, 2, 0]             # normalised, (N, H, W)
    gy = (bx * r[:, 0, 1] + by * r[:, 1, 1]) + r[:, 2, 1]
    src_x = (gx + ct(1)) * ct(w / 2) - ct(0.5)                        # pixel indices
    src_y = (gy + ct(1)) * ct(h / 2) - ct(0.5)
    nidx = np.arange(n)[:, None, None]

    def inside(iy, ix):
        return (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)

    def gather(iy, ix):                       # (N, H, W, C), any index (clipped)
        return xb[nidx, :, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]

    if interpolation == "nearest":
        iy = np.rint(src_y).astype(np.int64)   # rint: halves to even, as grid_sample's nearbyint
        ix = np.rint(src_x).astype(np.int64)
        out = np.where(inside(iy, ix)[..., None], gather(iy, ix), f)
    elif interpolation == "bilinear":
        x0 = np.floor(src_x)
        y0 = np.floor(src_y)
        wx = (src_x - x0).astype(np.float64)
        wy = (src_y - y0).astype(np.float64)
        x0 = x0.astype(np.int64)
        y0 = y0.astype(np.int64)
        img = np.zeros((n, h, w, c), np.float64)
        mask = np.zeros((n, h, w), np.float64)
        for dy, dx, wgt in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                            (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
            wgt = wgt * inside(y0 + dy, x0 + dx)
            img += wgt[..., None] * gather(y0 + dy, x0 + dx)
            mask += wgt
        out = mask[..., None] * (img - f) + f
    else:
        raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got "
                         f"interpolation={interpolation!r}")
    out = np.ascontiguousarray(out.transpose(0, 3, 1, 2)).astype(xb.dtype, copy=False)
    return _unbatch(out, single)


class GaussianNoise(Transform):
    """``x + (mean + sigma * N(0, 1))`` elementwise, then clipped to [0, 1] when ``clip``, as
    ``torchvision.transforms.v2.GaussianNoise(mean=0.0, sigma=0.1, clip=True)``.

    Args:
        std: the former name of ``sigma`` (fastnn < this version: ``GaussianNoise(std)``);
            still accepted, positionally or by name, not together with ``sigma``.
        mean, sigma: of the added noise (sigma >= 0, both finite); keyword-only, since a lone
            positional number has always meant the standard deviation here.
        clip: True clips to [0, 1] (torchvision), False or None does not, and a pair
            ``(lo, hi)`` clips to it (fastnn's former option).
    """

    def __init__(self, std=None, *, mean: float = 0.0, sigma=None, clip=True, seed=None, rng=None):
        super().__init__(seed, rng)
        if std is not None and sigma is not None:
            raise TypeError(f"give sigma (std is its former name), not both: std={std!r}, "
                            f"sigma={sigma!r}")
        name, value = ("std", std) if std is not None else ("sigma", 0.1 if sigma is None else sigma)
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not 0 <= value < math.inf):                       # NaN fails too
            raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
        if isinstance(mean, bool) or not isinstance(mean, numbers.Real) or not math.isfinite(mean):
            raise ValueError(f"mean must be a finite number, got mean={mean!r}")
        if clip is True:
            bounds = (0.0, 1.0)
        elif clip is False or clip is None:
            bounds = None
        elif isinstance(clip, (tuple, list)) and len(clip) == 2 and clip[0] <= clip[1]:
            bounds = (float(clip[0]), float(clip[1]))
        else:
            raise ValueError(f"clip must be True, False, None or a pair lo <= hi, got clip={clip!r}")
        self.mean = float(mean)
        self.sigma = float(value)
        self.clip = clip
        self._bounds = bounds

    @property
    def std(self) -> float:
        """The former name of :attr:`sigma`."""
        return self.sigma

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        _check_float(x)
        t = x.dtype.type
        noise = t(self.mean) + rng.standard_normal(x.shape).astype(x.dtype) * t(self.sigma)
        out = x + noise
        if self._bounds is not None:
            np.clip(out, self._bounds[0], self._bounds[1], out=out)
        return out, y


def _erase(out, top, left, hh, ww, apply, value):
    """Set the rectangles [top, top+hh) x [left, left+ww) of the images of ``out`` (N, C, H, W)
    where ``apply`` to ``value`` (broadcastable to ``out``, already of its dtype), in place."""
    n, c, h, w = out.shape
    rows = np.arange(h)
    cols = np.arange(w)
    in_r = (rows >= top[:, None]) & (rows < (top + hh)[:, None])      # (N, H)
    in_c = (cols >= left[:, None]) & (cols < (left + ww)[:, None])    # (N, W)
    mask = in_r[:, :, None] & in_c[:, None, :] & apply[:, None, None]  # (N, H, W)
    np.copyto(out, value, where=mask[:, None])
    return out


class Cutout(Transform):
    """Cutout (DeVries & Taylor, 2017): with probability ``p`` set a ``size`` x ``size``
    square centred at a uniformly random pixel to ``fill`` (a number or one per channel); the
    square is clipped at the borders, so it may be smaller near an edge."""

    def __init__(self, size: int, *, p: float = 1.0, fill=0.0, seed=None, rng=None):
        super().__init__(seed, rng)
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"size must be a positive int, got size={size!r}")
        self.size = int(size)
        self.p = _check_prob(p)
        _check_fill(fill)
        self.fill = fill

    def apply(self, x, y, rng):
        xb, single = _as_batch(x)
        n, c, h, w = xb.shape
        value = _per_channel(_check_fill(self.fill), c, xb.dtype, "fill")
        cy = rng.integers(0, h, size=n)
        cx = rng.integers(0, w, size=n)
        apply = rng.random(n) < self.p
        top, left = cy - self.size // 2, cx - self.size // 2
        size = np.full(n, self.size)
        return _unbatch(_erase(xb.copy(), top, left, size, size, apply, value), single), y


def _check_range(v, name: str, lo_min: float, hi_max: float, lo_open: bool):
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(a, numbers.Real) and not isinstance(a, bool) for a in v)):
        raise TypeError(f"{name} must be a sequence (lo, hi) of two numbers, got {name}={v!r}")
    lo, hi = float(v[0]), float(v[1])
    if not lo <= hi:
        raise ValueError(f"{name} must be ordered (lo, hi) with lo <= hi, got {name}={v!r}")
    if (lo <= lo_min if lo_open else lo < lo_min) or hi > hi_max:
        bound = "lo > 0" if lo_open else f"lo >= {lo_min:g}"
        raise ValueError(f"{name} must have {bound} and hi <= {hi_max:g}, got {name}={v!r}")
    return lo, hi


class RandomErasing(Transform):
    """Random erasing (Zhong et al., 2017) as ``torchvision.transforms.v2.RandomErasing``, one
    draw per image: with probability ``p``, up to 10 attempts each draw an area fraction
    uniform in ``scale`` and an aspect ratio h/w log-uniform in ``ratio``; sides are
    ``round(sqrt(area * ratio))`` x ``round(sqrt(area / ratio))``; the first attempt with
    h < H and w < W is placed uniformly inside the image and set to ``value``. If none of the
    10 fits, the image is left as it is.

    Args:
        value: a number, one per channel, or ``"random"`` (standard normal noise per pixel).
        inplace: erase in ``x`` itself and return it.
    """

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0,
                 inplace: bool = False, *, seed=None, rng=None):
        super().__init__(seed, rng)
        self.p = _check_prob(p)
        self.scale = _check_range(scale, "scale", 0.0, 1.0, lo_open=False)
        self.ratio = _check_range(ratio, "ratio", 0.0, math.inf, lo_open=True)
        if isinstance(value, str):
            if value != "random":
                raise ValueError(f"value must be a number, a sequence of numbers or 'random', "
                                 f"got value={value!r}")
            self._value = None
        else:
            self._value = _check_fill(value, "value")
        self.value = value
        self.inplace = _check_bool(inplace, "inplace")

    def apply(self, x, y, rng):
        xb, single = _as_batch(x)
        n, c, h, w = xb.shape
        if self._value is not None:
            value = _per_channel(self._value, c, xb.dtype, "value")
        elif not np.issubdtype(xb.dtype, np.floating):
            raise TypeError(f"value='random' needs a floating image, got {xb.dtype}")
        apply = rng.random(n) < self.p
        attempts = 10
        area = h * w * rng.uniform(self.scale[0], self.scale[1], size=(n, attempts))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]),
                                    size=(n, attempts)))
        eh = np.rint(np.sqrt(area * aspect)).astype(np.int64)   # rint = Python's round()
        ew = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (eh < h) & (ew < w)
        first = fits.argmax(axis=1)                              # the first attempt that fits
        apply &= fits.any(axis=1)
        eh = np.where(apply, eh[np.arange(n), first], 0)
        ew = np.where(apply, ew[np.arange(n), first], 0)
        top = rng.integers(0, h - eh + 1)
        left = rng.integers(0, w - ew + 1)
        if self._value is None:
            value = rng.standard_normal((n, c, h, w), dtype=np.float32).astype(xb.dtype)
        out = xb if self.inplace else xb.copy()
        _erase(out, top, left, eh, ew, apply, value)
        return (x if self.inplace else _unbatch(out, single)), y


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


class _Mix(Transform):
    """Shared by Mixup and CutMix (torchvision v2's rules): each sample is mixed with the batch
    rolled by one (sample i with sample i - 1, sample 0 with the last), one
    ``lam ~ Beta(alpha, alpha)`` per batch."""

    def __init__(self, alpha: float = 1.0, num_classes: Optional[int] = None, *, seed=None,
                 rng=None):
        super().__init__(seed, rng)
        if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
                or not 0 < alpha < math.inf):                            # NaN fails too
            raise ValueError(f"alpha must be a finite number > 0, got alpha={alpha!r}")
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, numbers.Integral)
                                        or num_classes < 1):
            raise ValueError(f"num_classes must be None or a positive int, got "
                             f"num_classes={num_classes!r}")
        self.alpha = float(alpha)
        self.num_classes = None if num_classes is None else int(num_classes)

    def _labels(self, y, n: int) -> np.ndarray:
        if y is None:
            raise ValueError("this transform mixes labels: call it as t(x, y)")
        y = np.asarray(y)
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be class indices (N,) or one-hot / soft labels (N, K), "
                             f"got shape {y.shape}")
        if y.shape[0] != n:
            raise ValueError(f"x has {n} samples but y has {y.shape[0]}")
        if y.ndim == 2:
            if self.num_classes is not None and y.shape[1] != self.num_classes:
                raise ValueError(f"soft labels have {y.shape[1]} classes, expected "
                                 f"num_classes={self.num_classes} (or leave num_classes=None)")
            return y.astype(np.float32, copy=False)
        if self.num_classes is None:
            raise ValueError("num_classes is needed when y holds class indices (N,); "
                             "num_classes=None is for one-hot or soft labels (N, K)")
        return one_hot(y, self.num_classes)

    @staticmethod
    def _mix_labels(ys: np.ndarray, lam: float) -> np.ndarray:
        return (np.roll(ys, 1, axis=0) * np.float32(1.0 - lam)
                + ys * np.float32(lam)).astype(np.float32, copy=False)


class Mixup(_Mix):
    """mixup (Zhang et al., 2018) as ``torchvision.transforms.v2.MixUp``:
    ``x = lam * x + (1 - lam) * x.roll(1, 0)`` and the same mix of the one-hot labels, with one
    ``lam ~ Beta(alpha, alpha)`` per batch.

    Called as ``x, y_soft = Mixup(alpha=1.0, num_classes=K)(x, y)`` with ``y`` int ``(N,)``,
    or one-hot / soft ``(N, K)`` (then ``num_classes`` may be None); ``y_soft`` is float32
    ``(N, K)`` with rows summing to 1, which ``softmax_cross_entropy`` accepts as targets. The
    first axis of ``x`` is the batch (any ``(N, ...)``; a single image cannot be mixed).
    """

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        _check_float(x)
        ys = self._labels(y, x.shape[0])
        lam = float(rng.beta(self.alpha, self.alpha))
        t = x.dtype.type
        x_out = np.roll(x, 1, axis=0) * t(1.0 - lam) + x * t(lam)
        return x_out, self._mix_labels(ys, lam)


class CutMix(_Mix):
    """CutMix (Yun et al., 2019) as ``torchvision.transforms.v2.CutMix``: one box per batch,
    pasted from the batch rolled by one. ``lam ~ Beta(alpha, alpha)``; the box centre
    ``(r_x, r_y)`` is uniform over the pixels; its half sides are
    ``int(0.5 * sqrt(1 - lam) * W)`` and ``... * H``; it is clipped to the image, and the
    label weight is corrected to ``lam = 1 - box_area / (H * W)``.

    Called as ``x, y_soft = CutMix(alpha=1.0, num_classes=K)(x, y)`` on a batch
    ``(N, C, H, W)``; labels as :class:`Mixup`.
    """

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(f"CutMix needs a batch of images (N, C, H, W), got shape {x.shape}")
        n, _, h, w = x.shape
        ys = self._labels(y, n)
        lam = float(rng.beta(self.alpha, self.alpha))
        r_x, r_y = int(rng.integers(w)), int(rng.integers(h))
        r = 0.5 * math.sqrt(1.0 - lam)
        half_w, half_h = int(r * w), int(r * h)
        x1, y1 = max(r_x - half_w, 0), max(r_y - half_h, 0)
        x2, y2 = min(r_x + half_w, w), min(r_y + half_h, h)
        x_out = x.copy()
        x_out[:, :, y1:y2, x1:x2] = np.roll(x, 1, axis=0)[:, :, y1:y2, x1:x2]
        lam_adjusted = 1.0 - (x2 - x1) * (y2 - y1) / float(w * h)
        return x_out, self._mix_labels(ys, lam_adjusted)
