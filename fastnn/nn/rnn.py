"""Recurrent layers with torch.nn's semantics and state_dict names: RNNCell, LSTMCell, GRUCell
(one time step) and RNN, LSTM, GRU (whole sequences; num_layers, bias, batch_first, dropout
between layers, bidirectional; LSTM's proj_size).

Gates are torch's: LSTM ``i, f, g, o`` (rows of weight_ih / weight_hh in that order),
``c' = f * c + i * g``, ``h' = o * tanh(c')`` (with proj_size: ``h' = weight_hr @ (o * tanh(c'))``);
GRU ``r, z, n`` with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``;
RNN ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act tanh or relu. Every parameter starts
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), torch's init, from fastnn's global RNG.

As every fastnn layer, the backward is written by hand (full backpropagation through time, no
autograd): ``forward`` caches what the backward needs, ``backward`` returns the gradients of the
inputs (input and initial state) and adds into every parameter's ``grad``. The input projection
``x @ W_ih^T + b_ih`` of a whole sequence is one GEMM per layer and direction (``fastnn.ops.gemm``),
the recurrent product one GEMM per step; the backward's weight gradients are one GEMM each per
layer and direction. Arithmetic runs in the input's dtype (float32 or float64, the parameters'
dtype) on the input's array module (NumPy or CuPy).

RNN, LSTM and GRU also take a ``fastnn.nn.utils.rnn.PackedSequence`` (torch's semantics): the
batch runs zero-padded and time-major in its sorted order, and at step t only the first
``batch_sizes[t]`` rows are updated (the others keep their state, output 0 and add nothing to the
gradients), in both directions, so the reverse direction starts each sequence from its initial
state at its own last step. hx is permuted by ``sorted_indices`` on the way in, h_n (c_n) by
``unsorted_indices`` on the way out; the output, and the backward's dx, are PackedSequences with
the input's batch_sizes and indices (batch_first does not apply).

RNNBase and RNNCellBase are torch's public bases (``isinstance(nn.LSTM(...), nn.RNNBase)``):
built directly they hold torch's parameters (state_dict keys, shapes, init) for their mode /
num_chunks, and calling them raises torch's NotImplementedError (they have no forward).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _device, ops
from .._random import next_seed
from . import init as _init
from . import module as _module
from .extra import _check_float_input
from .layers import ShapeError, _need_forward
from .module import Module, Parameter, check_bool, check_float_arg, check_int
from .utils.rnn import PackedSequence

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---- the shared engine: one direction of one layer over a (L, N, I) sequence -------------------
def _sigmoid(xp, a):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + xp.exp(-a))


def _direction_forward(mode, x, h0, c0, w, reverse, batch_sizes=None):
    """Run one direction of one layer. x (L, N, I) C-contiguous; h0 (N, P); c0 (N, H) (LSTM);
    w = (w_ih, w_hh, b_ih or None, b_hh or None, w_hr or None) arrays. batch_sizes (a packed
    input, x padded in sorted order) None or L host ints: at step t only rows [:batch_sizes[t]]
    are updated, the others keep their state and output 0 (torch's packed semantics).
    Returns (out (L, N, P), h_last, c_last, cache)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    xp = ops.get_array_module(x)
    L, N, I = x.shape
    GH = w_ih.shape[0]
    H = GH // _GATES[mode]
    P = w_hh.shape[1]
    dtype = x.dtype
    # (packed: zeros, so the rows of inactive steps add nothing in the backward's GEMMs)
    alloc = xp.empty if batch_sizes is None else xp.zeros
    xproj = ops.gemm(x.reshape(L * N, I), w_ih, trans_b=True, bias=b_ih).reshape(L, N, GH)
    out = alloc((L, N, P), dtype)
    hprev = xp.empty((L, N, P), dtype)
    cache = {"x": x, "out": out, "hprev": hprev, "reverse": reverse, "batch_sizes": batch_sizes}
    if mode == "LSTM":
        gates = alloc((L, N, GH), dtype)
        cprev = xp.empty((L, N, H), dtype)
        tanh_c = alloc((L, N, H), dtype)
        hfull = alloc((L, N, H), dtype) if w_hr is not None else None
        cache.update(gates=gates, cprev=cprev, tanh_c=tanh_c, hfull=hfull)
    elif mode == "GRU":
        gates = alloc((L, N, GH), dtype)
        hpn = alloc((L, N, H), dtype)
        cache.update(gates=gates, hpn=hpn)
    h, c = h0, c0
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        n = N if batch_sizes is None else int(batch_sizes[t])
        part = n != N  # some rows inactive at this step
        hprev[t] = h
        if n == 0:
            continue
        a = ops.gemm(hprev[t][:n] if part else hprev[t], w_hh, trans_b=True, bias=b_hh)  # (n, GH)
        ot = out[t][:n] if part else out[t]
        xt = xproj[t][:n] if part else xproj[t]
        if mode == "RNN_TANH":
            ot[...] = xp.tanh(xt + a)
        elif mode == "RNN_RELU":
            ot[...] = xp.maximum(xt + a, 0)
        elif mode == "LSTM":
            g = xt + a
            gt = gates[t][:n] if part else gates[t]
            gt[:, :2 * H] = _sigmoid(xp, g[:, :2 * H])
            gt[:, 2 * H:3 * H] = xp.tanh(g[:, 2 * H:3 * H])
            gt[:, 3 * H:] = _sigmoid(xp, g[:, 3 * H:])
            cprev[t] = c
            if part:
                c_new = gt[:, H:2 * H] * c[:n] + gt[:, :H] * gt[:, 2 * H:3 * H]
                c = c.copy()
                c[:n] = c_new
                tct = tanh_c[t][:n]
                tct[...] = xp.tanh(c_new)
            else:
                c = gt[:, H:2 * H] * c + gt[:, :H] * gt[:, 2 * H:3 * H]
                tanh_c[t] = xp.tanh(c)
                tct = tanh_c[t]
            hf = gt[:, 3 * H:] * tct
            if w_hr is None:
                ot[...] = hf
            else:
                hft = hfull[t][:n] if part else hfull[t]
                hft[...] = hf
                ops.gemm(hft, w_hr, trans_b=True, out=ot)
        else:  # GRU
            gt = gates[t][:n] if part else gates[t]
            hpt = hpn[t][:n] if part else hpn[t]
            gt[:, :2 * H] = _sigmoid(xp, xt[:, :2 * H] + a[:, :2 * H])
            hpt[...] = a[:, 2 * H:]
            gt[:, 2 * H:] = xp.tanh(xt[:, 2 * H:] + gt[:, :H] * hpt)
            z = gt[:, H:2 * H]
            ot[...] = (1 - z) * gt[:, 2 * H:] + z * (h[:n] if part else h)
        if part:
            h = h.copy()
            h[:n] = ot
        else:
            h = out[t]
    if mode == "LSTM":
        cache["c_last"] = c
    return out, h, c, cache


def _stack(xp, arrays):
    """xp.stack(arrays) through concatenate (the array routine every array module has)."""
    return xp.concatenate([a.reshape((1,) + a.shape) for a in arrays], axis=0)


def _add_bias_grad(param, g2):
    grad, beta = param.accumulate()
    if beta == 0.0:
        g2.sum(axis=0, out=grad)
    else:
        grad += g2.sum(axis=0)


def _direction_backward(mode, cache, dout, dh_last, dc_last, params):
    """Backpropagate one direction of one layer. dout (L, N, P) or a view of it (the gradient of
    this direction's outputs); dh_last (N, P) / dc_last (N, H) or None. params = (w_ih, w_hh,
    b_ih, b_hh, w_hr) Parameters (biases / w_hr may be None). Adds into their grads and returns
    (dx (L, N, I), dh0, dc0)."""
    p_ih, p_hh, p_bih, p_bhh, p_hr = params
    w_ih, w_hh = p_ih.data, p_hh.data
    x, hprev, reverse = cache["x"], cache["hprev"], cache["reverse"]
    xp = ops.get_array_module(x)
    L, N, I = x.shape
    GH = w_ih.shape[0]
    H = GH // _GATES[mode]
    P = w_hh.shape[1]
    dtype = x.dtype
    batch_sizes = cache.get("batch_sizes")
    alloc = xp.empty if batch_sizes is None else xp.zeros  # (packed: inactive rows stay 0)
    dpre = alloc((L, N, GH), dtype)  # gradient of the recurrent product's output (+ b_hh)
    dxpre = alloc((L, N, GH), dtype) if mode == "GRU" else dpre  # of the input projection's
    dh = xp.zeros((N, P), dtype) if dh_last is None else dh_last
    dc = None
    if mode == "LSTM":
        dc = xp.zeros((N, H), dtype) if dc_last is None else dc_last
        gates, cprev, tanh_c, hfull = cache["gates"], cache["cprev"], cache["tanh_c"], cache["hfull"]
        dhs = alloc((L, N, P), dtype) if hfull is not None else None
    elif mode == "GRU":
        gates, hpn = cache["gates"], cache["hpn"]
    out = cache["out"]
    for t in (range(L) if reverse else range(L - 1, -1, -1)):
        n = N if batch_sizes is None else int(batch_sizes[t])
        part = n != N  # rows [n:] are inactive: their state gradient passes through unchanged
        if n == 0:
            continue
        rows = slice(0, n) if part else slice(None)
        g = dh[rows] + dout[t][rows]
        dp = dpre[t][rows]
        if mode == "RNN_TANH":
            ot = out[t][rows]
            dp[...] = g * (1 - ot * ot)
            dh_new = ops.gemm(dp, w_hh)
        elif mode == "RNN_RELU":
            dp[...] = g * (out[t][rows] > 0)
            dh_new = ops.gemm(dp, w_hh)
        elif mode == "LSTM":
            if hfull is not None:
                dst = dhs[t][rows]
                dst[...] = g
                g = ops.gemm(dst, p_hr.data)  # (n, H)
            gt = gates[t][rows]
            i, f, gg, o = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:3 * H], gt[:, 3 * H:]
            tc = tanh_c[t][rows]
            dca = dc[rows] + g * o * (1 - tc * tc)
            d = dp
            d[:, :H] = dca * gg * i * (1 - i)
            d[:, H:2 * H] = dca * cprev[t][rows] * f * (1 - f)
            d[:, 2 * H:3 * H] = dca * i * (1 - gg * gg)
            d[:, 3 * H:] = g * tc * o * (1 - o)
            if part:
                dc = dc.copy()
                dc[:n] = dca * f
            else:
                dc = dca * f
            dh_new = ops.gemm(d, w_hh)
        else:  # GRU
            gt = gates[t][rows]
            r, z, nn_ = gt[:, :H], gt[:, H:2 * H], gt[:, 2 * H:]
            dn = g * (1 - z) * (1 - nn_ * nn_)
            dz = g * (hprev[t][rows] - nn_) * z * (1 - z)
            dr = dn * hpn[t][rows] * r * (1 - r)
            dxt, dt = dxpre[t][rows], dp
            dxt[:, :H] = dr
            dxt[:, H:2 * H] = dz
            dxt[:, 2 * H:] = dn
            dt[:, :2 * H] = dxt[:, :2 * H]
            dt[:, 2 * H:] = dn * r
            dh_new = g * z + ops.gemm(dt, w_hh)
        if part:
            dh = dh.copy()
            dh[:n] = dh_new
        else:
            dh = dh_new
    dpre2 = dpre.reshape(L * N, GH)
    dxpre2 = dxpre.reshape(L * N, GH)
    grad, beta = p_hh.accumulate()
    ops.gemm(dpre2, hprev.reshape(L * N, P), trans_a=True, out=grad, beta=beta)
    if p_bhh is not None:
        _add_bias_grad(p_bhh, dpre2)
    grad, beta = p_ih.accumulate()
    ops.gemm(dxpre2, x.reshape(L * N, I), trans_a=True, out=grad, beta=beta)
    if p_bih is not None:
        _add_bias_grad(p_bih, dxpre2)
    if mode == "LSTM" and hfull is not None:
        grad, beta = p_hr.accumulate()
        ops.gemm(dhs.reshape(L * N, P), hfull.reshape(L * N, H), trans_a=True, out=grad, beta=beta)
    dx = ops.gemm(dxpre2, w_ih).reshape(L, N, I)
    return dx, dh, dc


# ---- argument and array checks ------------------------------------------------------------------
def _check_array(layer, what, a, like, shape, same_dtype=False):
    """a must be a float array of `shape` on the device of the array `like` (of its dtype itself
    when same_dtype: an initial state, as torch's); returned C-contiguous in like's dtype (a
    gradient of another float dtype is cast)."""
    dtype = like.dtype
    if _device.device_of(a) is None:
        raise TypeError(f"{type(layer).__name__} expects {what} as a numpy.ndarray or cupy.ndarray, "
                        f"got {type(a).__name__}")
    if _device.device_of(a) != _device.device_of(like):
        raise TypeError(f"{type(layer).__name__} expects {what} on {_device.device_of(like)} (the input's device), "
                        f"got {_device.describe(a)}")
    if tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{type(layer).__name__} expects {what} of shape {tuple(shape)}, got {tuple(a.shape)}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{type(layer).__name__} expects {what} of dtype float32 or float64, got {a.dtype}")
    if same_dtype and a.dtype != dtype:
        raise TypeError(f"{type(layer).__name__} expects {what} of the input's dtype {np.dtype(dtype)}, got {a.dtype}")
    xp = ops.get_array_module(a)
    return xp.ascontiguousarray(a.astype(dtype, copy=False))


def _check_input_dtype(layer, x):
    w = layer.weight_ih_l0 if hasattr(layer, "weight_ih_l0") else layer.weight_ih
    if x.dtype != w.data.dtype:
        raise TypeError(f"{type(layer).__name__} expects an input of the parameters' dtype {w.data.dtype} "
                        f"(convert the input or call .to(dtype) on the layer), got {x.dtype}")
    return w.data


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'. Received: nonlinearity={nonlinearity!r}")
    return nonlinearity


def _call(layer, input, hx):
    """layer.forward(input, hx), recorded for Module.summary (the output's shape, h' for a cell
    that returns (h', c'))."""
    y = layer.forward(input, hx)
    if _module._summary_records is not None:
        _module._summary_records.append((layer, getattr(y[0] if isinstance(y, tuple) else y, "shape", None)))
    return y


# ---- cells --------------------------------------------------------------------------------------
def _no_forward(layer):
    return NotImplementedError(f'Module [{type(layer).__name__}] is missing the required "forward" function')


class RNNCellBase(Module):
    """The base of RNNCell, LSTMCell and GRUCell (torch.nn.RNNCellBase): weight_ih
    (num_chunks * hidden_size, input_size), weight_hh (num_chunks * hidden_size, hidden_size) and,
    with bias, bias_ih, bias_hh (num_chunks * hidden_size,), all U(-1/sqrt(hidden_size),
    1/sqrt(hidden_size)). It has no forward of its own (calling it raises NotImplementedError, as
    torch's). Args: input_size, hidden_size, bias, num_chunks, device=None, dtype=None."""

    _mode = None

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None, dtype=None):
        super().__init__()
        self.input_size = check_int("input_size", input_size)
        self.hidden_size = check_int("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        self.num_chunks = check_int("num_chunks", num_chunks)
        gh = self.num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.zeros((gh, self.input_size), np.float32))
        self.weight_hh = Parameter(np.zeros((gh, self.hidden_size), np.float32))
        if self.bias:
            self.bias_ih = Parameter(np.zeros(gh, np.float32))
            self.bias_hh = Parameter(np.zeros(gh, np.float32))
        else:
            self.bias_ih = None
            self.bias_hh = None
        self._cache = None
        self.reset_parameters()
        self.to(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            _init.uniform_(p, -bound, bound)

    def __call__(self, input, hx=None):
        return _call(self, input, hx)

    def forward(self, input, hx=None):
        raise _no_forward(self)

    def backward(self, *grads):
        raise _no_forward(self)

    def _params(self):
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, None)

    def _weights(self):
        return tuple(None if p is None else p.data for p in self._params())

    def _prepare(self, input, states):
        """(x (1, N, I), batched, [state arrays (N, H)]): states is a list of (name, value or None)."""
        _check_float_input(self, input, (1, 2), state=self.weight_ih.data)
        _check_input_dtype(self, input)
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__} expects an input with {self.input_size} features along its "
                             f"last axis (input_size={self.input_size}), got shape {tuple(input.shape)}")
        batched = input.ndim == 2
        n = input.shape[0] if batched else 1
        xp = ops.get_array_module(input)
        x = xp.ascontiguousarray(input.reshape(1, n, self.input_size))
        shape = (n, self.hidden_size) if batched else (self.hidden_size,)
        out = []
        for name, v in states:
            if v is None:
                out.append(xp.zeros((n, self.hidden_size), input.dtype))
            else:
                out.append(_check_array(self, f"{name} (for a {input.ndim}-D input)", v, input, shape,
                                        same_dtype=True).reshape(n, self.hidden_size))
        return x, batched, out

    def _backward(self, dh, dc):
        _need_forward(self, self._cache)
        cache, batched = self._cache
        n = cache["x"].shape[1]
        shape = (n, self.hidden_size) if batched else (self.hidden_size,)
        dh = _check_array(self, "dh", dh, cache["x"], shape).reshape(1, n, self.hidden_size)
        if dc is not None:
            dc = _check_array(self, "dc", dc, cache["x"], shape).reshape(n, self.hidden_size)
        dx, dh0, dc0 = _direction_backward(self._mode, cache, dh, None, dc, self._params())
        dx = dx.reshape(n, self.input_size) if batched else dx.reshape(self.input_size)
        unb = (lambda a: a) if batched else (lambda a: a.reshape(self.hidden_size))
        return dx, unb(dh0), (None if dc0 is None else unb(dc0))

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "bias": self.bias,
                "num_chunks": self.num_chunks}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s


class _CellBase(RNNCellBase):
    """RNNCellBase with the cells' config (num_chunks is the cell's own)."""

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "bias": self.bias}


class RNNCell(_CellBase):
    """One step of an Elman RNN (torch.nn.RNNCell): ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args (torch's order): input_size, hidden_size, bias=True, nonlinearity="tanh" ("tanh" or "relu").
    Shape: input (N, input_size) or unbatched (input_size,); hx the same with hidden_size
        (omitted: zeros) -> h' (N, hidden_size) or (hidden_size,).
    Attributes: weight_ih (hidden_size, input_size), weight_hh (hidden_size, hidden_size),
        bias_ih, bias_hh (hidden_size,), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(dh)`` (dh the gradient of h') returns ``(dx, dhx)`` and adds into every
        parameter's grad.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        self.__dict__["nonlinearity"] = _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1)
        self.nonlinearity = nonlinearity

    @property
    def _mode(self):
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input, hx=None):
        x, batched, (h0,) = self._prepare(input, [("hx", hx)])
        out, h, _, cache = _direction_forward(self._mode, x, h0, None, self._weights(), False)
        self._cache = (cache, batched)
        return h.copy() if batched else h.reshape(self.hidden_size).copy()  # the backward keeps h

    def backward(self, dh):
        """(dx, dhx) from dh, the gradient of the forward's h'; adds the parameter gradients."""
        dx, dh0, _ = self._backward(dh, None)
        return dx, dh0

    def get_config(self):
        return {**super().get_config(), "nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class LSTMCell(_CellBase):
    """One LSTM step (torch.nn.LSTMCell): gates i, f, g, o (in that order along the rows of the
    weights), ``c' = f * c + i * g``, ``h' = o * tanh(c')``.

    Args (torch's order): input_size, hidden_size, bias=True.
    Shape: input (N, input_size) or unbatched (input_size,); hx = (h, c), each (N, hidden_size)
        or (hidden_size,) (omitted: zeros) -> (h', c').
    Attributes: weight_ih (4 * hidden_size, input_size), weight_hh (4 * hidden_size, hidden_size),
        bias_ih, bias_hh (4 * hidden_size,), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(dh, dc=None)`` (gradients of h' and c'; None is zeros) returns
        ``(dx, (dhx, dcx))`` and adds into every parameter's grad.
    """

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias, 4)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell expects hx as a tuple (h, c). Received: hx of type {type(hx).__name__}")
        x, batched, (h0, c0) = self._prepare(input, [("hx[0]", hx[0]), ("hx[1]", hx[1])])
        out, h, c, cache = _direction_forward("LSTM", x, h0, c0, self._weights(), False)
        self._cache = (cache, batched)
        if batched:
            return h.copy(), c
        return h.reshape(self.hidden_size).copy(), c.reshape(self.hidden_size)

    def backward(self, dh, dc=None):
        """(dx, (dhx, dcx)) from the gradients of h' and c' (dc None: zeros)."""
        dx, dh0, dc0 = self._backward(dh, dc)
        return dx, (dh0, dc0)


class GRUCell(_CellBase):
    """One GRU step (torch.nn.GRUCell): gates r, z, n (in that order along the rows of the
    weights), ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    Args (torch's order): input_size, hidden_size, bias=True.
    Shape: input (N, input_size) or unbatched (input_size,); hx the same with hidden_size
        (omitted: zeros) -> h'.
    Attributes: weight_ih (3 * hidden_size, input_size), weight_hh (3 * hidden_size, hidden_size),
        bias_ih, bias_hh (3 * hidden_size,), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(dh)`` returns ``(dx, dhx)`` and adds into every parameter's grad.
    """

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__(input_size, hidden_size, bias, 3)

    def forward(self, input, hx=None):
        x, batched, (h0,) = self._prepare(input, [("hx", hx)])
        out, h, _, cache = _direction_forward("GRU", x, h0, None, self._weights(), False)
        self._cache = (cache, batched)
        return h.copy() if batched else h.reshape(self.hidden_size).copy()  # the backward keeps h

    def backward(self, dh):
        """(dx, dhx) from dh, the gradient of the forward's h'; adds the parameter gradients."""
        dx, dh0, _ = self._backward(dh, None)
        return dx, dh0


# ---- multi-layer sequence modules ---------------------------------------------------------------
class RNNBase(Module):
    """The base of RNN, LSTM and GRU (torch.nn.RNNBase): for ``mode`` "LSTM", "GRU", "RNN_TANH" or
    "RNN_RELU", the parameters weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and
    weight_hr_l{k} with proj_size; ``_reverse`` for the backward direction) of torch's names,
    shapes, order and init. It has no forward of its own: calling it raises NotImplementedError,
    as torch's. ``all_weights`` lists each layer and direction's parameters, ``_flat_weights_names``
    their names; ``flatten_parameters()`` is a no-op.

    Args: mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None.
    """

    _warn_stacklevel = 2  # the dropout warning points at the caller of the public constructor

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        self.input_size = check_int("input_size", input_size)
        self.hidden_size = check_int("hidden_size", hidden_size)
        self.num_layers = check_int("num_layers", num_layers)
        self.bias = check_bool("bias", bias)
        self.batch_first = check_bool("batch_first", batch_first)
        try:
            self.dropout = check_float_arg("dropout", dropout, low=0.0, high=1.0)
        except TypeError as e:  # torch raises ValueError for any dropout that is not a number in [0, 1]
            raise ValueError(str(e)) from None
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.proj_size = check_int("proj_size", proj_size, minimum=0)
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size (hidden_size={self.hidden_size}). "
                             f"Received: proj_size={proj_size!r}")
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={self.dropout} and "
                          f"num_layers={self.num_layers}", UserWarning, stacklevel=self._warn_stacklevel)
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        self.mode = mode
        d = 2 if self.bidirectional else 1
        gh = _GATES[mode] * self.hidden_size
        p = self.proj_size or self.hidden_size
        self._names = []
        for layer in range(self.num_layers):
            for direction in range(d):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                in_size = self.input_size if layer == 0 else p * d
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                setattr(self, names[0], Parameter(np.zeros((gh, in_size), np.float32)))
                setattr(self, names[1], Parameter(np.zeros((gh, p), np.float32)))
                if self.bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], Parameter(np.zeros(gh, np.float32)))
                    setattr(self, names[3], Parameter(np.zeros(gh, np.float32)))
                else:
                    names += [None, None]
                if self.proj_size:
                    names.append(f"weight_hr{sfx}")
                    setattr(self, names[4], Parameter(np.zeros((self.proj_size, self.hidden_size), np.float32)))
                else:
                    names.append(None)
                self._names.append(names)
        self._cache = None
        self.reset_parameters()
        self.to(device=device, dtype=dtype)

    @property
    def _mode(self):
        return self.__dict__.get("mode")

    def forward(self, input, hx=None):
        raise _no_forward(self)

    def backward(self, *grads):
        raise _no_forward(self)

    @property
    def _all_weights(self):
        """The parameter names of each layer and direction (torch's)."""
        return [[n for n in names if n is not None] for names in self._names]

    @property
    def _flat_weights_names(self):
        return [n for names in self._all_weights for n in names]

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        """The Parameters of each layer and direction, as torch's list of lists."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            _init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """A no-op (torch's packs cuDNN weights; fastnn's are used as they are)."""

    def __call__(self, input, hx=None):
        return _call(self, input, hx)

    def _params(self, k):
        return tuple(None if n is None else getattr(self, n) for n in self._names[k])

    @property
    def _dirs(self):
        return 2 if self.bidirectional else 1

    @property
    def _out_size(self):
        return self.proj_size or self.hidden_size

    def _prepare(self, input, states):
        """(x (L, N, I), batched, [states (D*num_layers, N, size)]): states lists (name, value, size)."""
        _check_float_input(self, input, (2, 3), state=self.weight_ih_l0.data)
        _check_input_dtype(self, input)
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__} expects an input with {self.input_size} features along its "
                             f"last axis (input_size={self.input_size}), got shape {tuple(input.shape)}")
        batched = input.ndim == 3
        xp = ops.get_array_module(input)
        if not batched:
            x = input.reshape(input.shape[0], 1, input.shape[1])
        elif self.batch_first:
            x = input.transpose(1, 0, 2)
        else:
            x = input
        if x.shape[0] == 0:  # (a batch of 0 sequences is fine, as torch's)
            raise ShapeError(f"{type(self).__name__} expects a sequence length larger than 0, "
                             f"got input shape {tuple(input.shape)}")
        x = xp.ascontiguousarray(x)
        n = x.shape[1]
        k = self.num_layers * self._dirs
        out = []
        for name, v, size in states:
            if v is None:
                out.append(xp.zeros((k, n, size), input.dtype))
            else:
                shape = (k, n, size) if batched else (k, size)
                out.append(_check_array(self, f"{name} (for a {input.ndim}-D input)", v, input, shape,
                                        same_dtype=True).reshape(k, n, size))
        return x, batched, out

    def _prepare_packed(self, input, states):
        """A PackedSequence input: (x (T, B, I) zero-padded in sorted order, [states (D*num_layers,
        B, size) permuted by sorted_indices, torch's permute_hidden], packing meta)."""
        data = input.data
        _check_float_input(self, data, (2,), state=self.weight_ih_l0.data)
        _check_input_dtype(self, data)
        if data.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__} expects a PackedSequence whose data has {self.input_size} "
                             f"features along its last axis (input_size={self.input_size}), "
                             f"got shape {tuple(data.shape)}")
        xp = ops.get_array_module(data)
        batch_sizes = np.asarray(input.batch_sizes).astype(np.int64).reshape(-1)
        if batch_sizes.size == 0 or int(batch_sizes.sum()) != data.shape[0]:
            raise ShapeError(f"{type(self).__name__} expects a PackedSequence whose data has sum(batch_sizes) = "
                             f"{int(batch_sizes.sum())} rows, got shape {tuple(data.shape)}")
        T, B = batch_sizes.shape[0], int(batch_sizes[0])
        lengths = (batch_sizes[None, :] > np.arange(B)[:, None]).sum(axis=1)
        mask = np.arange(T)[:, None] < lengths[None, :]  # (T, B), True at each sequence's steps
        xmask = mask if isinstance(data, np.ndarray) else xp.asarray(mask)
        x = xp.zeros((T, B, self.input_size), data.dtype)
        x[xmask] = data
        sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
        k = self.num_layers * self._dirs
        out = []
        for name, v, size in states:
            if v is None:
                out.append(xp.zeros((k, B, size), data.dtype))
            else:
                v = _check_array(self, f"{name} (for a PackedSequence input)", v, data, (k, B, size), same_dtype=True)
                out.append(v if sorted_indices is None else xp.ascontiguousarray(v[:, sorted_indices]))
        meta = {"batch_sizes": batch_sizes, "mask": xmask, "sorted_indices": sorted_indices,
                "unsorted_indices": unsorted_indices, "rows": data.shape[0], "input": input}
        return x, out, meta

    def _forward(self, input, states):
        """(output, [h_n, c_n or None]) for a padded or unbatched array or a PackedSequence input."""
        if isinstance(input, PackedSequence):
            x, st, meta = self._prepare_packed(input, states)
            output, h_n, c_n = self._run(x, st[0], st[1] if len(st) > 1 else None, meta["batch_sizes"])
            self._cache["batched"] = True
            self._cache["packed"] = meta
            out = PackedSequence(output[meta["mask"]], input.batch_sizes, input.sorted_indices,
                                 input.unsorted_indices)
            u = meta["unsorted_indices"]
            xp = ops.get_array_module(output)
            if u is not None:
                h_n = xp.ascontiguousarray(h_n[:, u])
                c_n = None if c_n is None else xp.ascontiguousarray(c_n[:, u])
            return out, h_n, c_n
        x, batched, st = self._prepare(input, states)
        output, h_n, c_n = self._run(x, st[0], st[1] if len(st) > 1 else None)
        self._cache["batched"] = batched
        if not batched:
            h_n = h_n.reshape(h_n.shape[0], -1)
            c_n = None if c_n is None else c_n.reshape(c_n.shape[0], -1)
        return self._finish(output, batched), h_n, c_n

    def _run(self, x, h0, c0, batch_sizes=None):
        mode = self._mode
        d = self._dirs
        hn, cn, caches, factors = [], [], [], []
        layer_input = x
        xp = ops.get_array_module(x)
        for layer in range(self.num_layers):
            outs = []
            for direction in range(d):
                k = layer * d + direction
                w = tuple(None if p is None else p.data for p in self._params(k))
                out, h, c, cache = _direction_forward(mode, layer_input, h0[k], None if c0 is None else c0[k],
                                                      w, direction == 1, batch_sizes)
                outs.append(out)
                hn.append(h)
                cn.append(c)
                caches.append(cache)
            out = outs[0] if d == 1 else xp.concatenate(outs, axis=2)
            factor = None
            if layer < self.num_layers - 1 and self.training and self.dropout > 0:
                mask = ops.dropout_mask(out.shape, self.dropout, next_seed())  # uint8 on the host, 1 = kept
                scale = 0.0 if self.dropout == 1.0 else 1.0 / (1.0 - self.dropout)
                factor = mask.astype(out.dtype) * out.dtype.type(scale)
                if not isinstance(out, np.ndarray):
                    factor = xp.asarray(factor)
                out = out * factor
            factors.append(factor)
            layer_input = out
        self._cache = {"caches": caches, "factors": factors, "x_shape": x.shape}
        h_n = _stack(xp, hn)
        c_n = _stack(xp, cn) if c0 is not None else None
        return layer_input, h_n, c_n

    def _finish(self, output, batched):
        """The output in the input's layout: a new array (the backward keeps the cached one)."""
        xp = ops.get_array_module(output)
        if not batched:
            return output.reshape(output.shape[0], output.shape[2]).copy()
        if self.batch_first:
            return xp.ascontiguousarray(output.transpose(1, 0, 2))
        return output.copy()

    def _backward(self, d_output, d_h, d_c):
        _need_forward(self, self._cache)
        meta = self._cache
        L, n, _ = meta["x_shape"]
        batched = meta["batched"]
        packed = meta.get("packed")
        x0 = meta["caches"][0]["x"]
        xp = ops.get_array_module(x0)
        d = self._dirs
        P = self._out_size
        k = self.num_layers * d
        if packed is not None:
            if isinstance(d_output, PackedSequence):
                d_output = d_output.data
            dyp = _check_array(self, "d_output (the forward's output.data shape)", d_output, x0,
                               (packed["rows"], d * P))
            dy = xp.zeros((L, n, d * P), x0.dtype)
            dy[packed["mask"]] = dyp
        else:
            out_shape = (L, d * P) if not batched else ((n, L, d * P) if self.batch_first else (L, n, d * P))
            dy = _check_array(self, "d_output (the forward's output shape)", d_output, x0, out_shape)
            if not batched:
                dy = dy.reshape(L, 1, d * P)
            elif self.batch_first:
                dy = xp.ascontiguousarray(dy.transpose(1, 0, 2))
        state_shape = (k, n, P) if batched else (k, P)
        s_idx = None if packed is None else packed["sorted_indices"]
        if d_h is not None:
            d_h = _check_array(self, "d_h_n (the forward's h_n shape)", d_h, x0, state_shape).reshape(k, n, P)
            if s_idx is not None:  # into the sorted order the recurrence ran in
                d_h = xp.ascontiguousarray(d_h[:, s_idx])
        if d_c is not None:
            c_shape = (k, n, self.hidden_size) if batched else (k, self.hidden_size)
            d_c = _check_array(self, "d_c_n (the forward's c_n shape)", d_c, x0, c_shape).reshape(
                k, n, self.hidden_size)
            if s_idx is not None:
                d_c = xp.ascontiguousarray(d_c[:, s_idx])
        dh0 = [None] * k
        dc0 = [None] * k
        for layer in range(self.num_layers - 1, -1, -1):
            if meta["factors"][layer] is not None:
                dy = dy * meta["factors"][layer]
            dx = None
            for direction in range(d):
                j = layer * d + direction
                dout = dy[:, :, direction * P:(direction + 1) * P]
                dxi, dh0[j], dc0[j] = _direction_backward(
                    self._mode, meta["caches"][j], dout, None if d_h is None else d_h[j],
                    None if d_c is None else d_c[j], self._params(j))
                dx = dxi if dx is None else dx + dxi
            dy = dx
        dx = dy
        if packed is not None:
            u = packed["unsorted_indices"]
            dh0 = _stack(xp, dh0)
            dc0 = None if self._mode != "LSTM" else _stack(xp, dc0)
            if u is not None:  # back to the original batch order
                dh0 = xp.ascontiguousarray(dh0[:, u])
                dc0 = None if dc0 is None else xp.ascontiguousarray(dc0[:, u])
            dx = PackedSequence(dx[packed["mask"]], packed["input"].batch_sizes, packed["input"].sorted_indices,
                                packed["input"].unsorted_indices)
            return dx, dh0, dc0
        if not batched:
            dx = dx.reshape(L, self.input_size)
            unb = lambda a: a.reshape(k, a.shape[-1])
        else:
            if self.batch_first:
                dx = xp.ascontiguousarray(dx.transpose(1, 0, 2))
            unb = lambda a: a
        dh0 = unb(_stack(xp, dh0))
        dc0 = None if self._mode != "LSTM" else unb(_stack(xp, dc0))
        return dx, dh0, dc0

    def get_config(self):
        return {"mode": self.mode, **_RNNBase.get_config(self), "proj_size": self.proj_size}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class _RNNBase(RNNBase):
    """RNNBase for RNN, LSTM and GRU: the mode is the subclass's ``_mode``."""

    _warn_stacklevel = 4

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                 proj_size=0):
        super().__init__(self._mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size)

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bias": self.bias, "batch_first": self.batch_first, "dropout": self.dropout,
                "bidirectional": self.bidirectional}


class RNN(_RNNBase):
    """A multi-layer Elman RNN over a sequence (torch.nn.RNN): per layer and direction
    ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Args (torch's order): input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
        batch_first=False, dropout=0.0 (dropout on the outputs of every layer but the last, in
        training only, from fastnn's RNG), bidirectional=False.
    Shape: input (L, N, input_size), (N, L, input_size) with batch_first, or unbatched
        (L, input_size); hx (D * num_layers, N, hidden_size) or unbatched (D * num_layers,
        hidden_size) (omitted: zeros), D = 2 if bidirectional else 1 ->
        (output (L, N, D * hidden_size) (batch_first: (N, L, ...); unbatched (L, ...)), h_n shaped as hx).
    Attributes: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (``_reverse`` suffix
        for the backward direction), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(d_output, d_h_n=None)`` (d_h_n None: zeros) runs full backpropagation
        through time and returns ``(dx, dh0)`` (dh0 shaped as hx, the gradient of the initial
        state, zeros included when hx was omitted), adding into every parameter's grad.
    PackedSequence input (RNN, LSTM, GRU): output is a PackedSequence like the input, h_n in the
        batch's original order; ``backward`` takes d_output as a PackedSequence or its ``.data``
        array and returns dx as a PackedSequence (see the module docstring).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        self.__dict__["nonlinearity"] = _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    @property
    def _mode(self):
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    def forward(self, input, hx=None):
        output, h_n, _ = self._forward(input, [("hx", hx, self.hidden_size)])
        return output, h_n

    def backward(self, d_output, d_h_n=None):
        """(dx, dh0) from the gradients of output and h_n (None: zeros); BPTT through every layer."""
        dx, dh0, _ = self._backward(d_output, d_h_n, None)
        return dx, dh0

    def get_config(self):
        config = super().get_config()
        return {**{k: config[k] for k in ("input_size", "hidden_size", "num_layers")},
                "nonlinearity": self.nonlinearity, **config}

    # extra_repr: _RNNBase's, without the nonlinearity (torch's repr does not show it either)


class LSTM(_RNNBase):
    """A multi-layer LSTM over a sequence (torch.nn.LSTM): gates i, f, g, o per layer and
    direction, ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``; with proj_size > 0
    ``h_t = W_hr (o * tanh(c_t))`` (Sak et al. 2014), h of size proj_size.

    Args (torch's order): input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
        dropout=0.0 (between layers, training only), bidirectional=False, proj_size=0.
    Shape: input (L, N, input_size), (N, L, input_size) with batch_first, or unbatched
        (L, input_size); hx = (h_0, c_0), h_0 (D * num_layers, N, P), c_0 (D * num_layers, N,
        hidden_size), unbatched without N (omitted: zeros), P = proj_size or hidden_size ->
        (output (L, N, D * P), (h_n, c_n)).
    Attributes: weight_ih_l{k} (4 * hidden_size, in), weight_hh_l{k} (4 * hidden_size, P),
        bias_ih_l{k}, bias_hh_l{k} (4 * hidden_size,), weight_hr_l{k} (proj_size, hidden_size)
        with proj_size (``_reverse`` suffix for the backward direction), all
        U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(d_output, d_state=None)``, d_state = (d_h_n, d_c_n) (either, or the
        tuple, None: zeros), runs full backpropagation through time and returns
        ``(dx, (dh0, dc0))``, adding into every parameter's grad.
    """

    _gates = 4
    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTM expects hx as a tuple (h_0, c_0). Received: hx of type {type(hx).__name__}")
        output, h_n, c_n = self._forward(input, [("hx[0]", hx[0], self._out_size),
                                                 ("hx[1]", hx[1], self.hidden_size)])
        return output, (h_n, c_n)

    def backward(self, d_output, d_state=None):
        """(dx, (dh0, dc0)) from the gradients of output and (h_n, c_n) (None: zeros)."""
        if d_state is None:
            d_state = (None, None)
        elif not isinstance(d_state, (tuple, list)) or len(d_state) != 2:
            raise TypeError(f"LSTM.backward expects d_state as a tuple (d_h_n, d_c_n). "
                            f"Received: d_state of type {type(d_state).__name__}")
        dx, dh0, dc0 = self._backward(d_output, d_state[0], d_state[1])
        return dx, (dh0, dc0)

    def get_config(self):
        return {**super().get_config(), "proj_size": self.proj_size}


class GRU(_RNNBase):
    """A multi-layer GRU over a sequence (torch.nn.GRU): gates r, z, n per layer and direction,
    ``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``, ``h_t = (1 - z) * n + z * h_{t-1}``.

    Args (torch's order): input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
        dropout=0.0 (between layers, training only), bidirectional=False.
    Shape: as RNN's.
    Attributes: weight_ih_l{k} (3 * hidden_size, in), weight_hh_l{k} (3 * hidden_size,
        hidden_size), bias_ih_l{k}, bias_hh_l{k} (3 * hidden_size,) (``_reverse`` suffix for the
        backward direction), all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    Backward: ``backward(d_output, d_h_n=None)`` returns ``(dx, dh0)`` (full BPTT), adding into
        every parameter's grad.
    """

    _gates = 3
    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)

    def forward(self, input, hx=None):
        output, h_n, _ = self._forward(input, [("hx", hx, self.hidden_size)])
        return output, h_n

    def backward(self, d_output, d_h_n=None):
        """(dx, dh0) from the gradients of output and h_n (None: zeros); BPTT through every layer."""
        dx, dh0, _ = self._backward(d_output, d_h_n, None)
        return dx, dh0
