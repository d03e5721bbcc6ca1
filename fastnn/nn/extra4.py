"""More of torch.nn, with its semantics, arguments, defaults and state_dict names:
TripletMarginWithDistanceLoss, LPPool3d, MaxUnpool3d, EmbeddingBag, CTCLoss.

Array code on the input's array module (``ops.get_array_module``: NumPy or CuPy), as the layers
of extra3.py and the losses of loss_extra.py; what sums is computed in float64 and rounded once
to the input's dtype (parameter gradients to the parameter's).

The losses follow the ``Loss`` protocol of ``fastnn.nn.loss``: ``loss(...)`` returns a float
("mean", "sum") or the per-sample losses ("none"), ``backward()`` (``backward(dy)`` for "none")
the gradient: TripletMarginWithDistanceLoss's the tuple ``(danchor, dpositive, dnegative)``,
CTCLoss's the gradient with respect to log_probs (targets and lengths get none).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _device, ops
from . import init as _init
from .extra import _add_grad, _as64, _check_dy, _check_float_input
from .extra3 import _MaxUnpoolNd, _as_json, _as_tuple, _check_nonempty, _int_or_tuple, _norm_type_arg, _pool_size, _sign
from .layers import _need_forward
from .loss import Loss, _as_array, _check_pred
from .loss_extra import PairwiseDistance, _check_bool, _same_shape, _second_input
from .module import Module, Parameter, check_bool, check_float_arg, check_int

__all__ = ["TripletMarginWithDistanceLoss", "LPPool3d", "MaxUnpool3d", "EmbeddingBag", "CTCLoss"]

F64 = np.float64


# --- TripletMarginWithDistanceLoss ------------------------------------------------------------

class TripletMarginWithDistanceLoss(Loss):
    """PyTorch's TripletMarginWithDistanceLoss: max(0, margin + d(a, p) - d(a, n)) for an anchor
    a, a positive p and a negative n, d a distance function (default PairwiseDistance(), torch's
    pairwise_distance: p = 2, eps = 1e-6). With ``swap=True`` d(a, n) is min(d(a, n), d(p, n))
    (a tie splits the gradient in halves, as torch.minimum's). ``loss(anchor, positive,
    negative)``; ``backward()`` returns ``(danchor, dpositive, dnegative)``.

    fastnn has no autograd, so ``distance_function`` must be a fastnn Module whose
    ``forward(x1, x2)`` returns the distances and whose ``backward(dy)`` returns ``(dx1, dx2)``
    (nn.PairwiseDistance, nn.CosineSimilarity, or your own); a plain callable is a TypeError.
    The module is run again (forward then backward) for each pair when the gradient is computed.

    Args (keyword-only, torch's): distance_function, margin (> 0), swap, reduction.
    Shape: the three inputs of one shape (not broadcast); "none" gives the distances' shape."""

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False, reduction: str = "mean"):
        super().__init__(reduction)
        if distance_function is not None and not (
                isinstance(distance_function, Module) and callable(getattr(distance_function, "forward", None))
                and callable(getattr(distance_function, "backward", None))):
            raise TypeError("TripletMarginWithDistanceLoss: distance_function must be a fastnn Module with "
                            "forward(x1, x2) and backward(dy) -> (dx1, dx2) (e.g. nn.PairwiseDistance()): fastnn has "
                            "no autograd to differentiate a plain function. Received: "
                            f"distance_function={distance_function!r}")
        self.distance_function = distance_function
        self._distance = PairwiseDistance() if distance_function is None else distance_function
        margin = check_float_arg("margin", margin)
        if not margin > 0:  # torch: ValueError
            raise ValueError(f"TripletMarginWithDistanceLoss: margin must be greater than 0. Received: margin={margin}")
        self.margin = margin
        self.swap = _check_bool("swap", swap)
        self._state = None

    def _dist(self, x1, x2, what):
        d = self._distance.forward(x1, x2)
        if _device.device_of(d) is None:
            raise TypeError(f"TripletMarginWithDistanceLoss: distance_function returned {type(d).__name__} for {what}, "
                            "not an array")
        return d

    def forward(self, anchor, positive, negative):
        name = "TripletMarginWithDistanceLoss"
        _check_pred(name, anchor)
        positive = _second_input(name, anchor, positive, "positive")
        negative = _second_input(name, anchor, negative, "negative")
        _same_shape(name, (("anchor", anchor.shape), ("positive", positive.shape), ("negative", negative.shape)))
        xp = ops.get_array_module(anchor)
        d_ap = self._dist(anchor, positive, "(anchor, positive)")
        d_an = self._dist(anchor, negative, "(anchor, negative)")
        if d_ap.shape != d_an.shape:
            raise ValueError(f"{name}: the distances have shapes {d_ap.shape} and {d_an.shape}")
        d_ap64, d_an64 = d_ap.astype(F64), d_an.astype(F64)
        w_an = xp.ones_like(d_an64)
        d_neg = d_an64
        if self.swap:
            d_pn64 = self._dist(positive, negative, "(positive, negative)").astype(F64)
            w_an = xp.where(d_an64 < d_pn64, 1.0, xp.where(d_an64 == d_pn64, 0.5, 0.0))
            d_neg = xp.minimum(d_an64, d_pn64)
        inner = self.margin + d_ap64 - d_neg
        on = xp.where(inner >= 0, 1.0, 0.0)  # clamp_min's gradient passes at 0
        terms = xp.maximum(inner, 0.0)
        self._state = (anchor, positive, negative, on, w_an, terms.shape)
        self._grad = ()  # marks the forward as done (Loss.backward's check)
        if self.reduction == "none":
            return _as_array(terms.astype(anchor.dtype))
        total = float(terms.sum())
        if self.reduction == "sum":
            self._scale = 1.0
            return total
        self._scale = 1.0 / terms.size if terms.size else 0.0
        return total / terms.size if terms.size else float("nan")

    def _backward_terms(self, g):
        """(da, dp, dn) for the upstream gradient g (float64) of the per-sample losses."""
        anchor, positive, negative, on, w_an, _ = self._state
        g = g * on
        dist = self._distance
        dist.forward(anchor, positive)
        ga1, gp1 = dist.backward(_as_array(g))
        dist.forward(anchor, negative)
        ga2, gn2 = dist.backward(_as_array(-g * w_an))
        da, dp, dn = ga1.astype(F64) + ga2.astype(F64), gp1.astype(F64), gn2.astype(F64)
        if self.swap:
            dist.forward(positive, negative)
            gp3, gn3 = dist.backward(_as_array(-g * (1.0 - w_an)))
            dp, dn = dp + gp3.astype(F64), dn + gn3.astype(F64)
        dtype = anchor.dtype
        return tuple(_as_array(v.astype(dtype)) for v in (da, dp, dn))

    def backward(self, dy=None):
        name = "TripletMarginWithDistanceLoss"
        if self._state is None:
            raise RuntimeError(f"{name}.backward called before the loss was computed")
        shape = self._state[-1]
        xp = ops.get_array_module(self._state[0])
        if self.reduction == "none":
            if dy is None:
                raise ValueError(f"{name}.backward: with reduction='none' the loss is an array of shape {shape}: "
                                 "pass dy, the gradient of what you reduce it to (e.g. ones / N for its mean)")
            dy = xp.asarray(dy, dtype=F64)
            if dy.shape != shape:
                raise ValueError(f"{name}.backward: dy must have the losses' shape {shape}, got {dy.shape}")
            return self._backward_terms(dy)
        c = 1.0
        if dy is not None:
            if not isinstance(dy, (int, float, np.integer, np.floating)) and getattr(dy, "size", 2) != 1:
                raise ValueError(f"{name}.backward: the loss is one number, so dy must be one number, got {dy!r}")
            c = float(dy)
        return self._backward_terms(xp.full(shape, self._scale * c, F64))

    def get_config(self):
        return {"distance_function": self._distance, "margin": self.margin, "swap": self.swap,
                "reduction": self.reduction}


# --- LPPool3d ---------------------------------------------------------------------------------

def _taps3(kernel, stride, out):
    """(tap number, slices) for every tap of a 3-D window, in torch's (d, h, w) row-major order:
    the strided slices of an (N, C, D, H, W) array that tap reads for all outputs."""
    t = 0
    for i in range(kernel[0]):
        a = slice(i, i + stride[0] * (out[0] - 1) + 1, stride[0])
        for j in range(kernel[1]):
            b = slice(j, j + stride[1] * (out[1] - 1) + 1, stride[1])
            for k in range(kernel[2]):
                c = slice(k, k + stride[2] * (out[2] - 1) + 1, stride[2])
                yield t, (Ellipsis, a, b, c)
                t += 1


class LPPool3d(Module):
    """Power-average pooling (torch.nn.LPPool3d): ``(sum over the window of x^p)^(1/p)``, computed
    as torch computes it: ``avg_pool3d(x^p)`` (no padding; a ceil_mode window reaching past the
    input divides by its part inside), then ``(sign(a) * relu(|a|) * KD * KH * KW) ** (1 / p)``;
    p = inf is the max of |x| over the window and p = -inf the min (torch's max_pool3d of |x|).
    The gradient is torch autograd's of that formula (LPPool2d's rules, one axis more).

    Args (torch's order): norm_type (nonzero real, or +-inf; 0 is a ValueError), kernel_size (an
        int or (KD, KH, KW)), stride (default kernel_size), ceil_mode; kept as given, so the repr
        is torch's.
    Shape: (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched (C, D, H, W); N may be 0.
    """

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = _norm_type_arg(norm_type)
        self.kernel_size = _int_or_tuple("kernel_size", kernel_size, 3)
        self.stride = None if stride is None else _int_or_tuple("stride", stride, 3)
        self.ceil_mode = check_bool("ceil_mode", ceil_mode)
        self._cache = None

    def _geometry(self, x5_shape, x_shape):
        k = _expand3(self.kernel_size)
        s = k if self.stride is None else _expand3(self.stride)
        sizes = [_pool_size(x5_shape[2 + i], k[i], s[i], self.ceil_mode) for i in range(3)]
        out, extra = tuple(o for o, _ in sizes), tuple(e for _, e in sizes)
        if min(out) < 1:
            raise ValueError(f"LPPool3d: an input of spatial size {tuple(x5_shape[2:])} gives an empty output "
                             f"with kernel_size={self.kernel_size!r}, stride={self.stride!r}, "
                             f"ceil_mode={self.ceil_mode} (input shape {tuple(x_shape)})")
        if np.isfinite(self.norm_type) and any(x5_shape[2 + i] < k[i] for i in range(3)):
            # torch's avg_pool3d (finite p) refuses an axis shorter than the kernel even where
            # ceil_mode would give a window; p = +-inf runs max_pool3d, which accepts it
            raise ValueError(f"LPPool3d: input of spatial size {tuple(x5_shape[2:])} is smaller than "
                             f"kernel_size={self.kernel_size!r} (input shape {tuple(x_shape)})")
        return k, s, out, extra

    def forward(self, x):
        _check_float_input(self, x, (4, 5))
        batched = x.ndim == 5
        _check_nonempty(self, x, batched)
        x5 = x if batched else x.reshape((1,) + x.shape)
        xp = ops.get_array_module(x)
        k, s, out, extra = self._geometry(x5.shape, x.shape)
        n, c = x5.shape[:2]
        dims = x5.shape[2:]
        big = (n, c) + tuple(dims[i] + extra[i] for i in range(3))
        inside = (Ellipsis,) + tuple(slice(0, d) for d in dims)
        p = self.norm_type
        x64 = _as64(x5)
        with np.errstate(all="ignore"):
            if math.isinf(p):
                a = -xp.abs(x64) if p < 0 else xp.abs(x64)
                if extra != (0, 0, 0):  # the cells past the input never win
                    padded = xp.full(big, -np.inf, F64)
                    padded[inside] = a
                    a = padded
                best = arg = None
                for t, sl in _taps3(k, s, out):
                    v = a[sl]
                    if best is None:
                        best, arg = v.copy(), xp.zeros(v.shape, np.int64)
                        continue
                    take = (v > best) | xp.isnan(v)  # torch's max_pool: the first largest, the last NaN
                    best = xp.where(take, v, best)
                    arg = xp.where(take, np.int64(t), arg)
                y = -best if p < 0 else best
                self._cache = ("max", x.shape, x64, arg, k, s, out, extra)
            else:
                powered = x64 ** p
                if extra != (0, 0, 0):
                    padded = xp.zeros(big, F64)
                    padded[inside] = powered
                    powered = padded
                sums = None
                for _, sl in _taps3(k, s, out):
                    sums = powered[sl].copy() if sums is None else sums + powered[sl]
                count = np.ones((1, 1, 1))
                for i in range(3):  # torch's avg_pool3d divisor (no padding): windows clipped to the input
                    starts = np.arange(out[i]) * s[i]
                    shape = [1, 1, 1]
                    shape[i] = out[i]
                    count = count * (np.minimum(starts + k[i], dims[i]) - starts).reshape(shape)
                count = xp.asarray(count.astype(F64))
                mean = sums / count
                sign = _sign(xp, mean)
                relu = xp.maximum(xp.abs(mean), 0.0)  # NaN stays NaN, as torch's relu
                scaled = sign * relu * (k[0] * k[1] * k[2])
                y = scaled ** (1.0 / p)
                self._cache = ("power", x.shape, x64, mean, sign, relu, scaled, count, k, s, out, extra)
        out_shape = tuple(x.shape[:-3]) + out
        return y.reshape(out_shape).astype(x.dtype, copy=False)

    def backward(self, dy):
        _need_forward(self, self._cache)
        kind, x_shape, x64 = self._cache[:3]
        k, s, out, extra = self._cache[-4:]
        _check_dy(self, dy, tuple(x_shape[:-3]) + out)
        xp = ops.get_array_module(dy)
        n, c = x64.shape[:2]
        dims = x64.shape[2:]
        big = (n, c) + tuple(dims[i] + extra[i] for i in range(3))
        inside = (Ellipsis,) + tuple(slice(0, d) for d in dims)
        g = _as64(dy).reshape((n, c) + out)
        p = self.norm_type
        with np.errstate(all="ignore"):
            if kind == "max":
                arg = self._cache[3]
                gx = xp.zeros(big, F64)
                for t, sl in _taps3(k, s, out):
                    gx[sl] += xp.where(arg == t, g, 0.0)
                dx = gx[inside] * _sign(xp, x64)
            else:
                mean, sign, relu, scaled, count = self._cache[3:8]
                e = 1.0 / p
                g = g * (e * scaled ** (e - 1.0))
                g = g * (k[0] * k[1] * k[2]) * sign
                g = xp.where(relu <= 0, 0.0, g) * _sign(xp, mean)
                g = g / count
                gp = xp.zeros(big, F64)
                for _, sl in _taps3(k, s, out):
                    gp[sl] += g
                dx = gp[inside] * (p * x64 ** (p - 1))
        return xp.ascontiguousarray(dx).reshape(x_shape).astype(dy.dtype, copy=False)

    def get_config(self):
        return {"norm_type": self.norm_type, "kernel_size": _as_json(self.kernel_size),
                "stride": _as_json(self.stride), "ceil_mode": self.ceil_mode}

    @classmethod
    def from_config(cls, config):
        return cls(config["norm_type"], _as_tuple(config["kernel_size"]), _as_tuple(config.get("stride")),
                   config.get("ceil_mode", False))

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


def _expand3(value) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,) * 3


def _triple_arg(name, value, minimum=1):
    """An int or a 3-tuple/list of ints >= minimum, as a 3-tuple (torch's _triple)."""
    return _expand3(_int_or_tuple(name, value, 3, minimum))


# --- MaxUnpool3d ------------------------------------------------------------------------------

class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of MaxPool3d (torch.nn.MaxUnpool3d): ``forward(x, indices,
    output_size=None)`` puts each x[n, c, i, j, k] at position ``indices[n, c, i, j, k]`` (a flat
    ``(d * OH + h) * OW + w`` in its output volume, as MaxPool3d(return_indices=True) returns
    them) of a zero (OD, OH, OW) volume; ``backward(dy)`` returns dx (each input's dy at its
    index; the indices get no gradient). MaxUnpool2d's rules otherwise: the output size is
    ``(D - 1) * SD + KD - 2 * PD`` per axis or ``output_size`` (3 ints, or 5 with (N, C) first,
    each strictly within the stride of that default); an index outside the volume is a
    ValueError naming it (torch: RuntimeError); repeated indices: the last written wins (NumPy).

    Args (torch's order): kernel_size, stride (default kernel_size), padding: ints or 3-tuples,
        kept as 3-tuples (torch's repr: ``kernel_size=(2, 2, 2)``).
    Shape: x and indices (N, C, D, H, W) -> (N, C, OD, OH, OW), or unbatched (C, D, H, W);
        indices int64; N may be 0.
    """

    _spatial = 3

    def __init__(self, kernel_size, stride=None, padding=0):
        Module.__init__(self)
        self.kernel_size = _triple_arg("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else _triple_arg("stride", stride)
        self.padding = _triple_arg("padding", padding, minimum=0)
        self._cache = None


# --- EmbeddingBag -----------------------------------------------------------------------------

def _host_ints(name, value, what):
    if _device.device_of(value) is None:
        raise TypeError(f"{name} expects {what} as an integer numpy.ndarray or cupy.ndarray, "
                        f"got {type(value).__name__}")
    if value.dtype.kind not in "iu":
        raise TypeError(f"{name} expects integer {what}, got dtype {value.dtype}")
    return _device.to_host(value).astype(np.int64)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (torch.nn.EmbeddingBag), without building the
    (entries, embedding_dim) lookup first. ``forward(input, offsets=None, per_sample_weights=None)``:

    - input 2-D (B, L): B bags of L indices each (offsets must be None);
    - input 1-D with offsets (1-D, offsets[0] == 0, non-decreasing, <= len(input)): bag b holds
      ``input[offsets[b]:offsets[b + 1]]`` (the last to the end of input; with
      ``include_last_offset=True`` offsets has B + 1 entries, CSR style, the last one ignored
      beyond counting the bags: the last bag runs to the end of input even when the last offset
      is smaller, as torch's CPU kernel).
      A bag may be empty: its result is zeros, in every mode, as torch's.

    mode "sum", "mean" (over the bag's entries) or "max" (per coordinate; the first largest
    entry gets the gradient, as torch's CPU kernel; a NaN in a bag gives NaN here, where torch's
    scan skips it unless it comes first). ``per_sample_weights`` (input's shape, the
    weight's dtype; mode "sum" only) scale each entry. Entries equal to ``padding_idx`` are left
    out of their bag (not counted by "mean"); its row starts at zero and gets no gradient.
    ``max_norm`` renormalises the rows looked up in place first (Embedding's rule);
    ``scale_grad_by_freq`` divides each row's gradient by how often the input holds it (not with
    "max", as torch; a ValueError at construction here, in forward in torch): the documented rule
    and torch.nn.Embedding's, where torch's CPU EmbeddingBag divides some rows by another row's
    count (input [2, 3, 3, 3, 5]: row 5's gradient divided by 3). Sums in float64, rounded to
    the weight's dtype; the output is (B, embedding_dim) of the weight's dtype. ``backward(dy)`` adds into weight.grad and returns the
    gradient of per_sample_weights when they were given (else None: indices get no gradient).

    Args (torch's order): num_embeddings, embedding_dim, max_norm, norm_type, scale_grad_by_freq,
        mode, sparse (True is NotImplementedError, as Embedding's), _weight (an initial float
        table), include_last_offset, padding_idx (negative counts from the end).
    """

    backward_can_skip_dx = True
    takes_indices = True

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None):
        super().__init__()
        self.num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, minimum=0)
        if max_norm is not None:
            check_float_arg("max_norm", max_norm, low=0.0)
            max_norm = max_norm if isinstance(max_norm, (int, float)) else float(max_norm)
        self.max_norm = max_norm  # kept as given: torch's repr shows max_norm=2 for 2
        if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or np.isnan(norm_type):
            raise TypeError(f"norm_type must be a real number (inf allowed). Received: norm_type={norm_type!r}")
        self.norm_type = float(norm_type)
        self.scale_grad_by_freq = check_bool("scale_grad_by_freq", scale_grad_by_freq)
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max'. Received: mode={mode!r}")
        if mode == "max" and self.scale_grad_by_freq:
            raise ValueError("EmbeddingBag: max mode does not support scaling the gradient by the frequency "
                             "(scale_grad_by_freq=True with mode='max')")
        self.mode = mode
        if check_bool("sparse", sparse):
            raise NotImplementedError("EmbeddingBag(sparse=True): fastnn has no sparse gradients; use sparse=False")
        self.sparse = False
        self.include_last_offset = check_bool("include_last_offset", include_last_offset)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"padding_idx must be an int or None. Received: padding_idx={padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"padding_idx must be within num_embeddings ({self.num_embeddings}). "
                                 f"Received: padding_idx={padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.zeros(shape, np.float32))
            self.reset_parameters()
        else:
            w = _weight if _device.device_of(_weight) is not None else np.asarray(_weight)
            if tuple(w.shape) != shape or w.dtype.kind != "f":
                raise ValueError(f"EmbeddingBag: _weight must be a float array of shape {shape}, got shape "
                                 f"{tuple(w.shape)} and dtype {w.dtype}")
            self.weight = Parameter(w)
        self._cache = None

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        """An EmbeddingBag whose table is ``embeddings`` (2-D; frozen unless freeze=False), as torch's."""
        w = embeddings if _device.device_of(embeddings) is not None else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        layer = cls(w.shape[0], w.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse, _weight=w,
                    include_last_offset=include_last_offset, padding_idx=padding_idx)
        if check_bool("freeze", freeze):
            layer.weight.trainable = False
        return layer

    def reset_parameters(self) -> None:
        _init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def _bags(self, input, offsets):
        """(flat indices, the bag of each entry (-1: none), number of bags), on the host."""
        name = "EmbeddingBag"
        idx = _host_ints(name, input, "input indices")
        if idx.ndim == 2:
            if offsets is not None:
                raise ValueError(f"{name}: if input is 2-D, then offsets has to be None (each row is a bag of fixed "
                                 f"length). Received: offsets of type {type(offsets).__name__}")
            b, length = idx.shape
            return idx.reshape(-1), np.repeat(np.arange(b), length), b
        if idx.ndim != 1:
            raise ValueError(f"{name}: input has to be 1-D (with offsets) or 2-D, got shape {tuple(idx.shape)}")
        if offsets is None:
            raise ValueError(f"{name}: offsets has to be a 1-D array for a 1-D input, got None")
        off = _host_ints(name, offsets, "offsets")
        if off.ndim != 1:
            raise ValueError(f"{name}: offsets has to be a 1-D array, got shape {tuple(off.shape)}")
        n = idx.shape[0]
        if off.size and off[0] != 0:
            raise ValueError(f"{name}: offsets[0] has to be 0 (the first bag starts at position 0), got {int(off[0])}")
        if off.size and off[-1] > n:
            raise ValueError(f"{name}: offsets[-1] can not be greater than input's length {n}, got {int(off[-1])}")
        if bool((np.diff(off) < 0).any()):
            raise ValueError(f"{name}: offsets must be non-decreasing, got {off.tolist()}")
        if self.include_last_offset:
            if off.size == 0:
                raise ValueError(f"{name}: with include_last_offset=True offsets needs at least one entry")
            bags = off.size - 1  # the last offset only counts the bags: the last bag ends at the input's end
        else:
            bags = off.size
        pos = np.arange(n)
        bag = np.searchsorted(off[:bags], pos, side="right") - 1 if bags else np.full(n, -1)
        return idx, bag, bags

    def forward(self, input, offsets=None, per_sample_weights=None):  # noqa: A002
        name = "EmbeddingBag"
        idx, bag, bags = self._bags(input, offsets)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= self.num_embeddings):
            bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
            raise IndexError(f"{name}: index {bad} is out of range for {self.num_embeddings} embeddings "
                             f"(valid: 0 <= index < {self.num_embeddings})")
        w = self.weight.data
        xp = ops.get_array_module(w)
        psw = None
        if per_sample_weights is not None:
            if self.mode != "sum":
                raise ValueError(f"{name}: per_sample_weights is only supported for mode='sum' "
                                 f"(got mode={self.mode!r})")
            if _device.device_of(per_sample_weights) is None:
                raise TypeError(f"{name} expects per_sample_weights as a numpy.ndarray or cupy.ndarray, "
                                f"got {type(per_sample_weights).__name__}")
            if per_sample_weights.dtype != w.dtype:
                raise TypeError(f"{name}: per_sample_weights has dtype {per_sample_weights.dtype} but the weight has "
                                f"{w.dtype}")
            if tuple(per_sample_weights.shape) != tuple(input.shape):
                raise ValueError(f"{name}: per_sample_weights must have the input's shape {tuple(input.shape)}, "
                                 f"got {tuple(per_sample_weights.shape)}")
            psw = _as64(_device.to_host(per_sample_weights)).reshape(-1)
        if self.max_norm is not None and idx.size:
            rows = np.unique(idx)
            on_gpu = _device.device_of(w) == _device.CUDA
            used = _as64(_device.to_host(w[_device.move(rows, _device.CUDA) if on_gpu else rows]))
            norms = np.linalg.norm(used, ord=self.norm_type, axis=1)
            over = norms > self.max_norm
            if bool(over.any()):
                scaled = (used[over] * (self.max_norm / (norms[over] + 1e-7))[:, None]).astype(w.dtype)
                at = rows[over]
                if on_gpu:
                    scaled, at = _device.move(scaled, _device.CUDA), _device.move(at, _device.CUDA)
                w[at] = scaled
        keep = bag >= 0
        if self.padding_idx is not None:
            keep &= idx != self.padding_idx
        ki, kb = idx[keep], bag[keep]
        d = self.embedding_dim
        table = _as64(_device.to_host(w))
        vals = table[ki]
        if psw is not None:
            vals = vals * psw[keep][:, None]
        counts = np.bincount(kb, minlength=bags).astype(F64)
        arg = None
        if self.mode == "max":
            y = np.full((bags, d), -np.inf)
            np.maximum.at(y, kb, vals)
            # the first entry reaching its bag's maximum (torch's strict '>' scan)
            order = np.arange(ki.size)
            first = np.full((bags, d), ki.size, np.int64)
            hit = vals == y[kb]
            np.minimum.at(first, kb, np.where(hit, order[:, None], ki.size))
            y[counts == 0] = 0.0
            arg = (first, ki)
        else:
            y = np.zeros((bags, d))
            np.add.at(y, kb, vals)
            if self.mode == "mean":
                y = y / np.maximum(counts, 1.0)[:, None]
        self._cache = (idx, bag, keep, bags, counts, psw, arg, input.shape)
        out = y.astype(w.dtype)
        return _device.move(out, _device.CUDA) if _device.device_of(w) == _device.CUDA else out

    def backward(self, dy, need_dx: bool = True):
        _need_forward(self, self._cache)
        idx, bag, keep, bags, counts, psw, arg, in_shape = self._cache
        _check_dy(self, dy, (bags, self.embedding_dim))
        g = _as64(_device.to_host(dy))
        ki, kb = idx[keep], bag[keep]
        grad = np.zeros((self.num_embeddings, self.embedding_dim), F64)
        if self.mode == "max":
            first, ki = arg
            nonempty = counts > 0
            b_idx, d_idx = np.nonzero(nonempty[:, None] & np.ones((1, self.embedding_dim), bool))
            rows = ki[first[b_idx, d_idx]]
            np.add.at(grad, (rows, d_idx), g[b_idx, d_idx])
        else:
            rows = g[kb]
            if self.mode == "mean":
                rows = rows / counts[kb][:, None]
            if psw is not None:
                rows = rows * psw[keep][:, None]
            if self.scale_grad_by_freq and ki.size:
                freq = np.bincount(idx, minlength=self.num_embeddings)
                rows = rows / freq[ki][:, None]
            np.add.at(grad, ki, rows)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        w = self.weight.data
        on_gpu = _device.device_of(w) == _device.CUDA
        _add_grad(self.weight, _device.move(grad, _device.CUDA) if on_gpu else grad)
        if psw is None:
            return None
        dpsw = np.zeros(idx.shape, F64)
        dpsw[keep] = (_as64(_device.to_host(w))[ki] * g[kb]).sum(axis=1)
        out = dpsw.reshape(in_shape).astype(w.dtype)
        return _device.move(out, _device.CUDA) if on_gpu else out

    def get_config(self):
        config = {"num_embeddings": self.num_embeddings, "embedding_dim": self.embedding_dim, "mode": self.mode}
        if self.max_norm is not None:
            config["max_norm"] = self.max_norm
        if self.norm_type != 2.0:
            config["norm_type"] = self.norm_type
        if self.scale_grad_by_freq:
            config["scale_grad_by_freq"] = True
        if self.include_last_offset:
            config["include_last_offset"] = True
        if self.padding_idx is not None:
            config["padding_idx"] = self.padding_idx
        return config

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


# --- CTCLoss ----------------------------------------------------------------------------------

def _lengths(name, what, value, n, batched):
    if isinstance(value, (list, tuple)) or isinstance(value, numbers.Integral):
        value = np.asarray(value)
    if _device.device_of(value) is None:
        raise TypeError(f"{name}: {what} must be integers (an array, a list or an int), got {type(value).__name__}")
    v = _device.to_host(value)
    if v.dtype.kind not in "iu":
        raise TypeError(f"{name}: {what} must be integers, got dtype {v.dtype}")
    v = v.astype(np.int64).reshape(-1)
    if v.shape != (n,) or (not batched and np.ndim(value) not in (0, 1)):
        raise ValueError(f"{name}: {what} must hold one length per sample ({n}), got shape {tuple(np.shape(value))}")
    return v


def _logsumexp3(xp, a, b, c):
    m = xp.maximum(xp.maximum(a, b), c)
    safe = xp.where(xp.isinf(m), 0.0, m)
    with np.errstate(all="ignore"):
        return safe + xp.log(xp.exp(a - safe) + xp.exp(b - safe) + xp.exp(c - safe))


class CTCLoss(Loss):
    """PyTorch's CTCLoss, the Connectionist Temporal Classification loss: the negative log
    likelihood of the target sequence summed over every alignment of it to the inputs (labels
    with repeats and blanks between), by the log-space alpha/beta recursions of Graves et al.
    (2006), in float64. ``loss(log_probs, targets, input_lengths, target_lengths)``;
    ``backward()`` returns the gradient with respect to log_probs, torch's: ``exp(log_probs) -
    exp(log(sum alpha beta over the label's positions) + nll - log_probs)`` for t < the input's
    length (0 after), i.e. the gradient through a log_softmax that produced log_probs (as
    torch's, it is not the plain derivative with respect to log_probs).

    Args: blank (the blank class, default 0), reduction ("mean": each loss divided by its target
        length, at least 1, then the mean over the batch; "sum"; "none": one loss per sample),
        zero_infinity (an impossible alignment, inputs too short for the targets, gives loss 0
        and gradient 0 instead of inf and NaN).
    Shape: log_probs (T, N, C) (log-probabilities, float) or unbatched (T, C); targets (N, S)
        padded (each row's first target_lengths[n] entries used) or 1-D, the targets of the
        batch concatenated (sum(target_lengths) entries); unbatched: (S,); input_lengths and
        target_lengths (N,) (unbatched: one int each), 1 <= input_lengths <= T. Target labels
        must be in [0, C) and not the blank (ValueError)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction)
        self.blank = check_int("blank", blank, minimum=0)
        self.zero_infinity = _check_bool("zero_infinity", zero_infinity)

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        name = "CTCLoss"
        _check_pred(name, log_probs)
        if log_probs.ndim not in (2, 3):
            raise ValueError(f"{name} expects log_probs of shape (T, N, C) or (T, C), got {log_probs.shape}")
        batched = log_probs.ndim == 3
        lp = log_probs if batched else log_probs[:, None, :]
        t_max, n, c = lp.shape
        if not self.blank < c:
            raise ValueError(f"{name}: blank={self.blank} is not a class of log_probs with C={c} classes")
        il = _lengths(name, "input_lengths", input_lengths, n, batched)
        tl = _lengths(name, "target_lengths", target_lengths, n, batched)
        if bool(((il < 1) | (il > t_max)).any()):
            raise ValueError(f"{name}: input_lengths must be in [1, T={t_max}], got {il.tolist()}")
        if bool((tl < 0).any()):
            raise ValueError(f"{name}: target_lengths must be >= 0, got {tl.tolist()}")
        tg = _host_ints(name, targets, "targets")
        if not batched:
            if tg.ndim != 1:
                raise ValueError(f"{name}: unbatched log_probs (T, C) take targets of shape (S,), got {tg.shape}")
            tg = tg[None, :]
        s_max = int(tl.max()) if n else 0
        if tg.ndim == 2 and batched or not batched:
            if tg.shape[0] != n or tg.shape[1] < s_max:
                raise ValueError(f"{name}: padded targets must have shape (N={n}, S >= max(target_lengths)={s_max}), "
                                 f"got {tg.shape}")
            rows = [tg[i, :tl[i]] for i in range(n)]
        elif tg.ndim == 1:
            if tg.shape[0] != int(tl.sum()):
                raise ValueError(f"{name}: concatenated targets must have sum(target_lengths)={int(tl.sum())} "
                                 f"entries, got {tg.shape[0]}")
            ends = np.cumsum(tl)
            rows = [tg[e - k:e] for e, k in zip(ends, tl)]
        else:
            raise ValueError(f"{name}: targets must be (N, S) padded or 1-D concatenated, got shape {tg.shape}")
        for r in rows:
            bad = (r < 0) | (r >= c) | (r == self.blank)
            if bool(bad.any()):
                raise ValueError(f"{name}: target label {int(r[bad][0])} is invalid (labels must be in [0, {c}) "
                                 f"and not the blank {self.blank})")
        terms, grad = self._ctc(lp, rows, il, tl)
        dtype = log_probs.dtype
        xp = ops.get_array_module(log_probs)
        if self.zero_infinity:
            inf = xp.isinf(terms)
            terms = xp.where(inf, 0.0, terms)
            grad = xp.where(inf[None, :, None], 0.0, grad)
        if not batched:
            grad = grad[:, 0, :]
        if self.reduction == "none":
            if batched:
                return self._unreduced(terms, (grad,), dtype, expand=lambda dy: dy[None, :, None])
            return self._unreduced(terms[0], (grad,), dtype)
        if self.reduction == "sum":
            weights = xp.ones(n)
        else:
            weights = xp.asarray(1.0 / np.maximum(tl, 1) / max(n, 1))
        value = float((terms * weights).sum())
        if self.reduction == "mean" and n == 0:
            value = float("nan")
        wb = weights[None, :, None] if batched else weights[0]
        self._grad = _as_array((grad * wb).astype(dtype))
        return value

    def _ctc(self, lp, rows, il, tl):
        """(nll per sample, torch's gradient of each nll with respect to log_probs), float64."""
        xp = ops.get_array_module(lp)
        t_max, n, c = lp.shape
        x = _as64(lp)
        width = 2 * (int(tl.max()) if n else 0) + 1
        lab = np.full((n, width), self.blank, np.int64)
        valid = np.zeros((n, width), bool)
        skip = np.zeros((n, width), bool)  # s may come from s - 2 (a label differing from l'[s - 2])
        for i, r in enumerate(rows):
            lab[i, 1:2 * len(r):2] = r
            valid[i, :2 * len(r) + 1] = True
            if len(r) > 1:
                skip[i, 3:2 * len(r):2] = r[1:] != r[:-1]
        lab_d, valid_d, skip_d = xp.asarray(lab), xp.asarray(valid), xp.asarray(skip)
        ninf = -np.inf
        emit = xp.take_along_axis(x, xp.broadcast_to(lab_d[None], (t_max, n, width)), axis=2)  # (T, N, S')
        emit = xp.where(valid_d[None], emit, ninf)
        alpha = xp.full((t_max, n, width), ninf)
        alpha[0, :, 0] = emit[0, :, 0]
        if width > 1:
            alpha[0, :, 1] = emit[0, :, 1]
        pad1 = xp.full((n, 1), ninf)
        pad2 = xp.full((n, 2), ninf)
        for t in range(1, t_max):
            prev = alpha[t - 1]
            a1 = xp.concatenate([pad1, prev[:, :-1]], axis=1)
            a2 = xp.where(skip_d, xp.concatenate([pad2, prev[:, :-2]], axis=1) if width > 2 else ninf, ninf)
            alpha[t] = emit[t] + _logsumexp3(xp, prev, a1, a2)
        il_d, tl_d = xp.asarray(il), xp.asarray(tl)
        ar = xp.arange(n)
        last = alpha[il_d - 1, ar]  # (N, S')
        end = 2 * tl_d
        e1 = last[ar, end]
        e2 = xp.where(tl_d > 0, last[ar, xp.maximum(end - 1, 0)], ninf)
        with np.errstate(all="ignore"):
            nll = -xp.logaddexp(e1, e2)
        # beta_t(s): the log-probability of the rest of the alignment from (t, s), emission at t included
        beta = xp.full((t_max, n, width), ninf)
        nxt = xp.full((n, width), ninf)
        cols = xp.arange(width)
        skip_next = xp.concatenate([skip_d[:, 2:], xp.zeros((n, 2), bool)], axis=1) if width > 2 else xp.zeros(
            (n, width), bool)
        for t in range(t_max - 1, -1, -1):
            b1 = xp.concatenate([nxt[:, 1:], pad1], axis=1)
            b2 = xp.where(skip_next, xp.concatenate([nxt[:, 2:], pad2], axis=1) if width > 2 else ninf, ninf)
            rec = emit[t] + _logsumexp3(xp, nxt, b1, b2)
            start = (cols[None, :] == end[:, None]) | ((cols[None, :] == end[:, None] - 1) & (tl_d[:, None] > 0))
            init = xp.where(start, emit[t], ninf)
            here = t == il_d - 1
            cur = xp.where(here[:, None], init, xp.where((t < il_d - 1)[:, None], rec, ninf))
            beta[t] = cur
            nxt = cur
        ab = alpha + beta
        lcab = xp.full((t_max, n, c), ninf)
        for s in range(width):
            cls = lab_d[:, s]
            cur = lcab[:, ar, cls]
            with np.errstate(all="ignore"):
                lcab[:, ar, cls] = xp.logaddexp(cur, xp.where(valid_d[None, :, s], ab[:, :, s], ninf))
        with np.errstate(all="ignore"):
            grad = xp.exp(x) - xp.exp(lcab + nll[None, :, None] - x)
        inside = xp.arange(t_max)[:, None] < il_d[None, :]
        grad = xp.where(inside[:, :, None], grad, 0.0)
        return nll, grad

    def get_config(self):
        return {"blank": self.blank, "reduction": self.reduction, "zero_infinity": self.zero_infinity}
