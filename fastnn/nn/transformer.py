"""Attention and Transformers: MultiheadAttention, TransformerEncoderLayer, TransformerEncoder,
TransformerDecoderLayer, TransformerDecoder, Transformer (torch.nn's semantics, parameter and
state_dict names, init and reprs), with hand-written backward passes.

``forward(query, key, value, ...)`` returns ``(attn_output, attn_weights or None)``;
``backward(d_attn_output, d_attn_weights=None)`` returns ``(dquery, dkey, dvalue)`` and adds every
parameter gradient. For self-attention (query is key is value) the caller sums the three input
gradients. The attention arithmetic runs in float64 and the results are cast to the input's
dtype. Encoder layers / stacks: ``backward(dy)`` -> dsrc; decoder layers / stacks:
``backward(dy)`` -> (dtgt, dmemory); Transformer: ``backward(dy)`` -> (dsrc, dtgt).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import _device, ops
from .._random import next_seed
from . import init as _init
from .activation import GELU, ReLU
from .containers import ModuleList, layer_from_config, layer_to_config
from .extra import LayerNorm, _check_dy
from .layers import Dropout, Linear, _need_forward
from .module import Module, Parameter, check_bool, check_float_arg, check_int

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer"]

F64 = np.float64


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for MultiheadAttention.out_proj (a plain Linear); its repr is torch's."""

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _f64(a):
    return a.astype(F64, copy=False)


def _to_float_mask(xp, mask, name):
    """bool (True = not allowed -> -inf) or float (added) mask as float64."""
    if _device.device_of(mask) is None:
        raise TypeError(f"{name} must be a numpy.ndarray or cupy.ndarray. Received: {name}={type(mask).__name__}")
    mask = xp.asarray(mask)
    if mask.dtype == np.bool_:
        out = xp.zeros(mask.shape, F64)
        out[mask] = -np.inf
        return out
    if mask.dtype.kind != "f":
        raise TypeError(f"{name} must be a bool or float array, got dtype {mask.dtype}")
    return _f64(mask)


def _zero_fully_masked_rows(xp, scores, weights):
    """weights (the softmax of scores over the last axis) with 0 in every row whose scores are all
    -inf (masked out entirely; their softmax is 0 / 0 = NaN): torch's "safe softmax" of
    scaled_dot_product_attention. A row holding a NaN score is not all -inf and stays NaN."""
    if scores.shape[-1] == 0:
        return weights
    dead = (scores == -np.inf).all(axis=-1)[..., None]
    return xp.where(dead, weights.dtype.type(0), weights) if bool(dead.any()) else weights


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al. 2017), as ``torch.nn.MultiheadAttention``.

    Args:
        embed_dim: E, the query's (and output's) feature size. num_heads: divides embed_dim.
        dropout: on the attention weights (training only). bias: in/out projection biases.
        add_bias_kv: learn bias_k, bias_v (1, 1, E) appended to the key/value sequence.
        add_zero_attn: append a zero key and value. kdim, vdim: key/value feature sizes
            (default E; when either differs, separate q/k/v_proj_weight are used).
        batch_first: (N, L, E) inputs instead of (L, N, E).
    Shape: query (L, N, E), key (S, N, kdim), value (S, N, vdim) (or batch first, or unbatched
    (L, E)); output (L, N, E); weights (N, L, S) averaged over heads, or (N, H, L, S).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False):
        super().__init__()
        self.embed_dim = check_int("embed_dim", embed_dim)
        self.num_heads = check_int("num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads. Received: embed_dim={embed_dim!r}, "
                             f"num_heads={num_heads!r}")
        self.kdim = self.embed_dim if kdim is None else check_int("kdim", kdim)
        self.vdim = self.embed_dim if vdim is None else check_int("vdim", vdim)
        self.dropout = check_float_arg("dropout", dropout, low=0.0, high=1.0)
        self.bias_enabled = check_bool("bias", bias)
        self.add_bias_kv = check_bool("add_bias_kv", add_bias_kv)
        self.add_zero_attn = check_bool("add_zero_attn", add_zero_attn)
        self.batch_first = check_bool("batch_first", batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.zeros((3 * E, E), np.float32))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = Parameter(np.zeros((E, E), np.float32))
            self.k_proj_weight = Parameter(np.zeros((E, self.kdim), np.float32))
            self.v_proj_weight = Parameter(np.zeros((E, self.vdim), np.float32))
        self.in_proj_bias = Parameter(np.zeros(3 * E, np.float32)) if self.bias_enabled else None
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=self.bias_enabled)
        if self.add_bias_kv:
            self.bias_k = Parameter(np.zeros((1, 1, E), np.float32))
            self.bias_v = Parameter(np.zeros((1, 1, E), np.float32))
        else:
            self.bias_k = self.bias_v = None
        self._cache = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's: xavier_uniform_ of the input projections, zero biases, out_proj.weight as
        Linear's default, bias_k / bias_v xavier_normal_."""
        if self._qkv_same_embed_dim:
            _init.get("glorot_uniform")(self.in_proj_weight)
        else:
            for p in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                _init.get("glorot_uniform")(p)
        if self.in_proj_bias is not None:
            self.in_proj_bias.data.fill(0)
            self.out_proj.bias.data.fill(0)
        if self.bias_k is not None:
            _init.get("glorot_normal")(self.bias_k)
            _init.get("glorot_normal")(self.bias_v)

    # ---- helpers -----------------------------------------------------------------------
    def _weights(self):
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight.data
            ws = (w[:E], w[E:2 * E], w[2 * E:])
        else:
            ws = (self.q_proj_weight.data, self.k_proj_weight.data, self.v_proj_weight.data)
        if self.in_proj_bias is None:
            bs = (None, None, None)
        else:
            b = self.in_proj_bias.data
            bs = (b[:E], b[E:2 * E], b[2 * E:])
        return ws, bs

    def _check(self, name, x, dim, batched):
        if _device.device_of(x) is None:
            raise TypeError(f"MultiheadAttention expects {name} as a numpy.ndarray or cupy.ndarray, "
                            f"got {type(x).__name__}")
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"MultiheadAttention expects a float32 or float64 {name}, got dtype {x.dtype}")
        if x.ndim != (3 if batched else 2) or x.shape[-1] != dim:
            raise ValueError(f"MultiheadAttention expects {name} of shape ({'L, N' if batched else 'L'}, {dim})"
                             f"{' (or batch first)' if batched else ''}, got {tuple(x.shape)}")

    def __call__(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                 average_attn_weights: bool = True, is_causal: bool = False):
        return self.forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights,
                            is_causal)

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        if _device.device_of(query) is None:
            raise TypeError(f"MultiheadAttention expects query as a numpy.ndarray, got {type(query).__name__}")
        batched = query.ndim == 3
        if query.ndim not in (2, 3):
            raise ValueError(f"MultiheadAttention expects a 2-D or 3-D query, got shape {tuple(query.shape)}")
        self._check("query", query, self.embed_dim, batched)
        self._check("key", key, self.kdim, batched)
        self._check("value", value, self.vdim, batched)
        if key.dtype != query.dtype or value.dtype != query.dtype:  # torch's in-projections raise too
            raise TypeError(f"MultiheadAttention expects query, key and value of one dtype, got {query.dtype}, "
                            f"{key.dtype} and {value.dtype}")
        param_dtype = self.out_proj.weight.data.dtype
        if query.dtype != param_dtype:  # torch's matmul raises; fastnn never converts silently
            raise TypeError(f"MultiheadAttention: query, key and value have dtype {query.dtype} but the layer's "
                            f"parameters are {param_dtype}: cast the inputs or the layer (.to(dtype))")
        for name, mask in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            mdt = getattr(mask, "dtype", None)
            if mdt is not None and mdt.kind == "f" and mdt != query.dtype:
                raise TypeError(f"MultiheadAttention: a float {name} must have the query's dtype {query.dtype}, "
                                f"got {mdt} (or pass a bool mask)")
        check_bool("need_weights", need_weights)
        check_bool("average_attn_weights", average_attn_weights)
        check_bool("is_causal", is_causal)
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. (MultiheadAttention, is_causal=True)")
        xp = ops.get_array_module(query)
        dtype = query.dtype
        q_in, k_in, v_in = (_f64(a) for a in (query, key, value))
        if not batched:
            q_in, k_in, v_in = q_in[None], k_in[None], v_in[None]
        elif not self.batch_first:
            q_in, k_in, v_in = (a.transpose(1, 0, 2) for a in (q_in, k_in, v_in))
        N, L, E = q_in.shape
        S = k_in.shape[1]
        if k_in.shape[:2] != (N, S) or v_in.shape[:2] != (N, S):
            raise ValueError(f"MultiheadAttention: key and value must have the same batch and sequence sizes, "
                             f"and the query's batch size; got key {tuple(key.shape)}, value {tuple(value.shape)}, "
                             f"query {tuple(query.shape)}")
        H, d = self.num_heads, self.head_dim
        (wq, wk, wv), (bq, bk, bv) = self._weights()
        q = q_in @ _f64(wq).T
        k = k_in @ _f64(wk).T
        v = v_in @ _f64(wv).T
        if bq is not None:
            q, k, v = q + _f64(bq), k + _f64(bk), v + _f64(bv)
        Sx = S
        if self.add_bias_kv:
            k = xp.concatenate([k, xp.broadcast_to(_f64(self.bias_k.data).reshape(1, 1, E), (N, 1, E))], axis=1)
            v = xp.concatenate([v, xp.broadcast_to(_f64(self.bias_v.data).reshape(1, 1, E), (N, 1, E))], axis=1)
            Sx += 1
        if self.add_zero_attn:
            k = xp.concatenate([k, xp.zeros((N, 1, E))], axis=1)
            v = xp.concatenate([v, xp.zeros((N, 1, E))], axis=1)
            Sx += 1
        qh = q.reshape(N, L, H, d).transpose(0, 2, 1, 3)
        kh = k.reshape(N, Sx, H, d).transpose(0, 2, 1, 3)
        vh = v.reshape(N, Sx, H, d).transpose(0, 2, 1, 3)
        scale = 1.0 / math.sqrt(d)
        scores = (qh * scale) @ kh.transpose(0, 1, 3, 2)  # (N, H, L, Sx)
        extra = Sx - S
        if is_causal and key_padding_mask is None and not need_weights:
            # torch's path for this case: attn_mask is dropped and scaled_dot_product_attention applies
            # its own causal mask (top-left aligned) over the keys as extended by bias_k / add_zero_attn
            scores = scores + xp.asarray(np.triu(np.full((L, Sx), -np.inf), 1))[None, None]
        elif attn_mask is not None:
            m = _to_float_mask(xp, attn_mask, "attn_mask")
            if m.ndim == 2:
                if m.shape != (L, S):
                    raise ValueError(f"The shape of the 2D attn_mask is {tuple(m.shape)}, but should be {(L, S)}.")
                m = m[None, None]
            elif m.ndim == 3:
                if m.shape != (N * H, L, S):
                    raise ValueError(f"The shape of the 3D attn_mask is {tuple(m.shape)}, but should be "
                                     f"{(N * H, L, S)}.")
                m = m.reshape(N, H, L, S)
            else:
                raise ValueError(f"attn_mask's dimension {m.ndim} is not supported (2-D or 3-D)")
            if extra:
                m = xp.concatenate([m, xp.zeros(m.shape[:-1] + (extra,))], axis=-1)
            scores = scores + m
        if key_padding_mask is not None:
            kpm = _to_float_mask(xp, key_padding_mask, "key_padding_mask")
            if not batched:
                if kpm.ndim != 1:  # as torch's: an unbatched query takes a (S,) padding mask
                    raise ValueError(f"expecting key_padding_mask shape of {(S,)} for an unbatched query, "
                                     f"but got {tuple(key_padding_mask.shape)}")
                kpm = kpm[None]
            if kpm.shape != (N, S):
                raise ValueError(f"expecting key_padding_mask shape of {(N, S) if batched else (S,)}, "
                                 f"but got {tuple(key_padding_mask.shape)}")
            if extra:
                kpm = xp.concatenate([kpm, xp.zeros((N, extra))], axis=-1)
            scores = scores + kpm[:, None, None, :]
        with np.errstate(invalid="ignore"):
            # no keys (S = 0): nothing to normalise; max() of an empty axis would raise
            mx = scores.max(axis=-1, keepdims=True) if scores.shape[-1] else xp.zeros(scores.shape[:-1] + (1,))
            e = xp.exp(scores - mx)
            p = e / e.sum(axis=-1, keepdims=True)
        if not need_weights:
            # torch's need_weights=False path (scaled_dot_product_attention, whose softmax gives 0 to
            # a row of scores that are all -inf): a query that may attend to nothing gets output 0
            # and passes no gradient; with need_weights=True its weights and output are NaN, as torch's
            p = _zero_fully_masked_rows(xp, scores, p)
        factor = None
        pd = p
        if self.training and self.dropout > 0.0:
            mask = ops.dropout_mask(p.shape, self.dropout, next_seed())
            factor = mask.astype(F64) * (0.0 if self.dropout == 1.0 else 1.0 / (1.0 - self.dropout))
            if not isinstance(p, np.ndarray):
                factor = xp.asarray(factor)
            pd = p * factor
        oh = pd @ vh  # (N, H, L, d)
        o = oh.transpose(0, 2, 1, 3).reshape(N, L, E)
        y = o @ _f64(self.out_proj.weight.data).T
        if self.out_proj.bias is not None:
            y = y + _f64(self.out_proj.bias.data)
        self._cache = dict(q_in=q_in, k_in=k_in, v_in=v_in, qh=qh, kh=kh, vh=vh, p=p, pd=pd, factor=factor,
                           o=o, batched=batched, scale=scale, S=S, average=average_attn_weights,
                           need_weights=need_weights, dtype=dtype, y_shape=tuple(query.shape))
        y = self._from_internal(y, batched).astype(dtype, copy=False)
        if not need_weights:
            return y, None
        w = pd.mean(axis=1) if average_attn_weights else pd
        if not batched:
            w = w[0]
        return y, w.astype(dtype, copy=False)

    def _from_internal(self, a, batched):
        if not batched:
            return a[0]
        return a if self.batch_first else a.transpose(1, 0, 2)

    def _to_internal(self, a, batched):
        a = _f64(a)
        if not batched:
            return a[None]
        return a if self.batch_first else a.transpose(1, 0, 2)

    def backward(self, d_attn_output, d_attn_weights=None):
        """(dquery, dkey, dvalue); for self-attention the caller sums them."""
        _need_forward(self, self._cache)
        c = self._cache
        _check_dy(self, d_attn_output, c["y_shape"])
        batched, dtype = c["batched"], c["dtype"]
        xp = ops.get_array_module(d_attn_output)
        dy = self._to_internal(d_attn_output, batched)
        N, L, E = dy.shape
        H, d, S = self.num_heads, self.head_dim, c["S"]
        o, pd, p, vh, qh, kh = c["o"], c["pd"], c["p"], c["vh"], c["qh"], c["kh"]
        wo = _f64(self.out_proj.weight.data)
        self.out_proj.weight.add_grad((dy.reshape(-1, E).T @ o.reshape(-1, E)).astype(self.out_proj.weight.dtype))
        if self.out_proj.bias is not None:
            self.out_proj.bias.add_grad(dy.sum(axis=(0, 1)).astype(self.out_proj.bias.dtype))
        do = dy @ wo
        doh = do.reshape(N, L, H, d).transpose(0, 2, 1, 3)
        dpd = doh @ vh.transpose(0, 1, 3, 2)
        if d_attn_weights is not None:
            if not c["need_weights"]:
                raise ValueError("d_attn_weights given, but the forward ran with need_weights=False")
            dw = _f64(xp.asarray(d_attn_weights))
            expect = pd.shape[:1] + pd.shape[2:] if c["average"] else pd.shape
            if not batched:
                dw = dw[None]
            if dw.shape != expect:
                raise ValueError(f"MultiheadAttention.backward expects d_attn_weights of shape "
                                 f"{expect if batched else expect[1:]}, got {tuple(d_attn_weights.shape)}")
            dpd = dpd + (dw[:, None] / H if c["average"] else dw)
        dvh = pd.transpose(0, 1, 3, 2) @ doh
        dp = dpd if c["factor"] is None else dpd * c["factor"]
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        scale = c["scale"]
        dqh = ds @ kh * scale
        dkh = ds.transpose(0, 1, 3, 2) @ qh * scale
        Sx = kh.shape[2]
        dk = dkh.transpose(0, 2, 1, 3).reshape(N, Sx, E)
        dv = dvh.transpose(0, 2, 1, 3).reshape(N, Sx, E)
        dq = dqh.transpose(0, 2, 1, 3).reshape(N, L, E)
        if self.add_bias_kv:
            self.bias_k.add_grad(dk[:, S].sum(axis=0).reshape(1, 1, E).astype(self.bias_k.dtype))
            self.bias_v.add_grad(dv[:, S].sum(axis=0).reshape(1, 1, E).astype(self.bias_v.dtype))
        dk, dv = dk[:, :S], dv[:, :S]
        (wq, wk, wv), _ = self._weights()
        ins = (c["q_in"], c["k_in"], c["v_in"])
        grads = (dq, dk, dv)
        dws = [g.reshape(-1, E).T @ x.reshape(-1, x.shape[-1]) for g, x in zip(grads, ins)]
        if self._qkv_same_embed_dim:
            self.in_proj_weight.add_grad(xp.concatenate(dws, axis=0).astype(self.in_proj_weight.dtype))
        else:
            for prm, g in zip((self.q_proj_weight, self.k_proj_weight, self.v_proj_weight), dws):
                prm.add_grad(g.astype(prm.dtype))
        if self.in_proj_bias is not None:
            self.in_proj_bias.add_grad(xp.concatenate([g.sum(axis=(0, 1)) for g in grads]).astype(
                self.in_proj_bias.dtype))
        outs = tuple(self._from_internal(g @ _f64(w), batched).astype(dtype, copy=False)
                     for g, w in zip(grads, (wq, wk, wv)))
        return outs

    def get_config(self):
        return {"embed_dim": self.embed_dim, "num_heads": self.num_heads, "dropout": self.dropout,
                "bias": self.bias_enabled, "add_bias_kv": self.add_bias_kv, "add_zero_attn": self.add_zero_attn,
                "kdim": self.kdim, "vdim": self.vdim, "batch_first": self.batch_first}


# ---- encoder -------------------------------------------------------------------------------
def _check_activation(activation):
    """(name, layer) of a Transformer layer's activation, as torch takes it: "relu" / "gelu" or
    the function F.relu / F.gelu (fastnn's or torch's) -> (name, None); a fastnn activation
    layer (a Module with a backward, e.g. ``nn.GELU(approximate="tanh")``; torch's ReLU / GELU
    modules are converted) -> (None, the layer), a child named ``activation`` as in torch. A
    config dict (from get_config) is a saved layer. Any other callable has no backward here."""
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation should be relu/gelu, not {activation}. Received: activation={activation!r}")
        return activation, None
    if isinstance(activation, dict):
        return None, layer_from_config(activation)
    if isinstance(activation, Module):
        if not callable(getattr(activation, "backward", None)):
            raise ValueError(f"activation must be 'relu', 'gelu' or a fastnn layer with a backward. "
                             f"Received: activation={activation!r}")
        return None, activation
    module = getattr(type(activation), "__module__", "") or ""
    name = getattr(activation, "__name__", None)
    if name in ("relu", "gelu") and getattr(activation, "__module__", "") in ("fastnn.nn.functional",
                                                                                  "torch.nn.functional"):
        return name, None
    if module.startswith("torch.nn.modules.activation") and type(activation).__name__ in ("ReLU", "GELU"):
        approximate = getattr(activation, "approximate", "none")
        return None, ReLU() if type(activation).__name__ == "ReLU" else GELU(approximate=approximate)
    raise ValueError("activation must be 'relu', 'gelu', F.relu / F.gelu or a fastnn activation layer (fastnn "
                     f"trains without autograd: a plain function has no backward). Received: activation={activation!r}")


def _activation_config(activation):
    """The activation as a config value: its name, or the saved layer."""
    name, layer = _check_activation(activation)
    return name if name else layer_to_config(layer)


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual and LayerNorm, as
    ``torch.nn.TransformerEncoderLayer`` (post-norm, or pre-norm with ``norm_first=True``).

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``;
    ``backward(dy)`` returns dsrc. activation: "relu" or "gelu" (exact), F.relu / F.gelu, or a
    fastnn activation layer (e.g. ``nn.GELU(approximate="tanh")``: the child ``activation``, as
    torch's); see ``_check_activation``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        super().__init__()
        self.d_model = check_int("d_model", d_model)
        self.nhead = check_int("nhead", nhead)
        self.dim_feedforward = check_int("dim_feedforward", dim_feedforward)
        self.dropout_p = check_float_arg("dropout", dropout, low=0.0, high=1.0)
        self.activation_name, layer = _check_activation(activation)
        object.__setattr__(self, "_act_layer", layer)
        self.layer_norm_eps = check_float_arg("layer_norm_eps", layer_norm_eps, low=0.0, low_open=True)
        self.batch_first = check_bool("batch_first", batch_first)
        self.norm_first = check_bool("norm_first", norm_first)
        self.bias_enabled = check_bool("bias", bias)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self._init_ff(d_model, dim_feedforward, dropout, layer_norm_eps, bias, n_norms=2)

    def _init_ff(self, d_model, dim_feedforward, dropout, eps, bias, n_norms):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=eps, bias=bias))
        for i in range(1, n_norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        if self._act_layer is not None:  # a layer given: torch's child "activation", registered last
            self.activation = self._act_layer
            object.__setattr__(self, "_act", self.activation)
        else:
            from . import functional

            act = ReLU() if self.activation_name == "relu" else GELU()
            object.__setattr__(self, "_act", act)  # a function in torch: no child, no repr line
            object.__setattr__(self, "activation", getattr(functional, self.activation_name))  # torch's F.relu
        object.__setattr__(self, "_act_layer", None)  # (the child holds it from here)

    # blocks
    def _sa(self, x, mask, kpm, is_causal):
        y, _ = self.self_attn.forward(x, x, x, key_padding_mask=kpm, need_weights=False, attn_mask=mask,
                                      is_causal=is_causal)
        return self.dropout1.forward(y)

    def _sa_back(self, d):
        dq, dk, dv = self.self_attn.backward(self.dropout1.backward(d))
        return dq + dk + dv

    def _ff(self, x, drop):
        h = self.dropout.forward(self._act.forward(self.linear1.forward(x)))
        return drop.forward(self.linear2.forward(h))

    def _ff_back(self, d, drop):
        d = self.linear2.backward(drop.backward(d))
        return self.linear1.backward(self._act.backward(self.dropout.backward(d)))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1.forward(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff(self.norm2.forward(x), self.dropout2)
        else:
            x = self.norm1.forward(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2.forward(x + self._ff(x, self.dropout2))
        return x

    def backward(self, dy):
        """dsrc (the three attention input gradients summed)."""
        if self.norm_first:
            d1 = dy + self.norm2.backward(self._ff_back(dy, self.dropout2))
            return d1 + self.norm1.backward(self._sa_back(d1))
        g = self.norm2.backward(dy)
        d1 = g + self._ff_back(g, self.dropout2)
        h = self.norm1.backward(d1)
        return h + self._sa_back(h)

    def get_config(self):
        return {"d_model": self.d_model, "nhead": self.nhead, "dim_feedforward": self.dim_feedforward,
                "dropout": self.dropout_p,
                "activation": self.activation_name if self.activation_name else layer_to_config(self._act),
                "layer_norm_eps": self.layer_norm_eps, "batch_first": self.batch_first,
                "norm_first": self.norm_first, "bias": self.bias_enabled}


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer, then an optional norm, as
    ``torch.nn.TransformerEncoder`` (enable_nested_tensor and mask_check are accepted and ignored).
    ``backward(dy)`` returns dsrc."""

    def __init__(self, encoder_layer, num_layers: int, norm=None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"encoder_layer must be a fastnn.nn.Module. Received: encoder_layer={encoder_layer!r}")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"norm must be a fastnn.nn.Module or None. Received: norm={norm!r}")
        self.num_layers = check_int("num_layers", num_layers)
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(self.num_layers)])
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        x = src
        for layer in self.layers:
            x = layer.forward(x, mask, src_key_padding_mask, bool(is_causal))
        if self.norm is not None:
            x = self.norm.forward(x)
        return x

    def backward(self, dy):
        if self.norm is not None:
            dy = self.norm.backward(dy)
        for layer in reversed(list(self.layers)):
            dy = layer.backward(dy)
        return dy

    _layer_key = "encoder_layer"  # the layer's argument name, and its key in the config

    def get_config(self):
        return {self._layer_key: layer_to_config(self.layers[0]), "num_layers": self.num_layers,
                "norm": None if self.norm is None else layer_to_config(self.norm)}

    @classmethod
    def from_config(cls, config):
        norm = config.get("norm")
        return cls(layer_from_config(config[cls._layer_key]), config["num_layers"],
                   norm=None if norm is None else layer_from_config(norm))


# ---- decoder and the full model ----------------------------------------------------------------
class TransformerDecoderLayer(TransformerEncoderLayer):
    """Self-attention, cross-attention on memory, then a feed-forward block, each with a
    residual and LayerNorm, as ``torch.nn.TransformerDecoderLayer``.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``;
    ``backward(dy)`` returns (dtgt, dmemory).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True):
        Module.__init__(self)
        self.d_model = check_int("d_model", d_model)
        self.nhead = check_int("nhead", nhead)
        self.dim_feedforward = check_int("dim_feedforward", dim_feedforward)
        self.dropout_p = check_float_arg("dropout", dropout, low=0.0, high=1.0)
        self.activation_name, layer = _check_activation(activation)
        object.__setattr__(self, "_act_layer", layer)
        self.layer_norm_eps = check_float_arg("layer_norm_eps", layer_norm_eps, low=0.0, low_open=True)
        self.batch_first = check_bool("batch_first", batch_first)
        self.norm_first = check_bool("norm_first", norm_first)
        self.bias_enabled = check_bool("bias", bias)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self._init_ff(d_model, dim_feedforward, dropout, layer_norm_eps, bias, n_norms=3)

    def _mha(self, x, mem, mask, kpm, is_causal):
        y, _ = self.multihead_attn.forward(x, mem, mem, key_padding_mask=kpm, need_weights=False,
                                           attn_mask=mask, is_causal=is_causal)
        return self.dropout2.forward(y)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False, memory_is_causal: bool = False):
        x = tgt
        if self.norm_first:
            x = x + self._sa(self.norm1.forward(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(self.norm2.forward(x), memory, memory_mask, memory_key_padding_mask,
                              memory_is_causal)
            x = x + self._ff(self.norm3.forward(x), self.dropout3)
        else:
            x = self.norm1.forward(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2.forward(x + self._mha(x, memory, memory_mask, memory_key_padding_mask,
                                                 memory_is_causal))
            x = self.norm3.forward(x + self._ff(x, self.dropout3))
        return x

    def backward(self, dy):
        """(dtgt, dmemory)."""
        if self.norm_first:
            d2 = dy + self.norm3.backward(self._ff_back(dy, self.dropout3))
            dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(d2))
            d1 = d2 + self.norm2.backward(dq)
            return d1 + self.norm1.backward(self._sa_back(d1)), dk + dv
        g3 = self.norm3.backward(dy)
        g2 = self.norm2.backward(g3 + self._ff_back(g3, self.dropout3))
        dq, dk, dv = self.multihead_attn.backward(self.dropout2.backward(g2))
        g1 = self.norm1.backward(g2 + dq)
        return g1 + self._sa_back(g1), dk + dv


class TransformerDecoder(TransformerEncoder):
    """num_layers deep copies of decoder_layer, then an optional norm, as
    ``torch.nn.TransformerDecoder``. ``backward(dy)`` returns (dtgt, dmemory), dmemory summed
    over the layers."""

    _layer_key = "decoder_layer"

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        Module.__init__(self)
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"decoder_layer must be a fastnn.nn.Module. Received: decoder_layer={decoder_layer!r}")
        if norm is not None and not isinstance(norm, Module):
            raise TypeError(f"norm must be a fastnn.nn.Module or None. Received: norm={norm!r}")
        self.num_layers = check_int("num_layers", num_layers)
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(self.num_layers)])
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal: bool = False):
        x = tgt
        for layer in self.layers:
            x = layer.forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
                              bool(tgt_is_causal), memory_is_causal)
        if self.norm is not None:
            x = self.norm.forward(x)
        return x

    def backward(self, dy):
        if self.norm is not None:
            dy = self.norm.backward(dy)
        dmem = None
        for layer in reversed(list(self.layers)):
            dy, dm = layer.backward(dy)
            dmem = dm if dmem is None else dmem + dm
        return dy, dmem


class Transformer(Module):
    """Encoder-decoder Transformer, as ``torch.nn.Transformer`` (both stacks end in a LayerNorm;
    every parameter with more than one axis is re-drawn xavier_uniform, as torch's).

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False)``; ``backward(dy)`` returns (dsrc, dtgt).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder=None, custom_decoder=None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True):
        super().__init__()
        self.d_model = check_int("d_model", d_model)
        self.nhead = check_int("nhead", nhead)
        self.batch_first = check_bool("batch_first", batch_first)
        self._args = {"d_model": d_model, "nhead": nhead, "num_encoder_layers": check_int(
            "num_encoder_layers", num_encoder_layers), "num_decoder_layers": check_int(
            "num_decoder_layers", num_decoder_layers), "dim_feedforward": dim_feedforward, "dropout": dropout,
            "activation": _activation_config(activation), "layer_norm_eps": layer_norm_eps, "batch_first": batch_first,
            "norm_first": norm_first, "bias": bias}
        for name, m in (("custom_encoder", custom_encoder), ("custom_decoder", custom_decoder)):
            if m is not None and not isinstance(m, Module):
                raise TypeError(f"{name} must be a fastnn.nn.Module or None. Received: {name}={m!r}")
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias)
            self.encoder = TransformerEncoder(layer, num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                                            batch_first, norm_first, bias)
            self.decoder = TransformerDecoder(layer, num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.parameters():
            if p.data.ndim > 1:
                _init.get("glorot_uniform")(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        batched = src.ndim == 3
        if batched and not self.batch_first and src.shape[1] != tgt.shape[1]:
            raise RuntimeError(f"the batch number of src and tgt must be equal, got {src.shape} and {tgt.shape}")
        if batched and self.batch_first and src.shape[0] != tgt.shape[0]:
            raise RuntimeError(f"the batch number of src and tgt must be equal, got {src.shape} and {tgt.shape}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"the feature number of src and tgt must be equal to d_model={self.d_model}, "
                               f"got {src.shape} and {tgt.shape}")
        memory = self.encoder.forward(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                                      is_causal=src_is_causal)
        return self.decoder.forward(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                                    tgt_key_padding_mask=tgt_key_padding_mask,
                                    memory_key_padding_mask=memory_key_padding_mask,
                                    tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    def backward(self, dy):
        """(dsrc, dtgt)."""
        dtgt, dmem = self.decoder.backward(dy)
        return self.encoder.backward(dmem), dtgt

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
        """(sz, sz) float mask: -inf above the diagonal, 0 elsewhere (float32 unless dtype)."""
        sz = check_int("sz", sz, minimum=0)
        mask = np.triu(np.full((sz, sz), -np.inf, np.dtype(dtype or np.float32)), 1)
        return mask if device in (None, "cpu") else _device.move(mask, device)

    def get_config(self):
        return {**self._args, "custom_encoder": layer_to_config(self.encoder),
                "custom_decoder": layer_to_config(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        enc, dec = config.pop("custom_encoder", None), config.pop("custom_decoder", None)
        return cls(**config, custom_encoder=None if enc is None else layer_from_config(enc),
                   custom_decoder=None if dec is None else layer_from_config(dec))
