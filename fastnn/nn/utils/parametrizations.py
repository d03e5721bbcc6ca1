"""torch.nn.utils.parametrizations for fastnn: weight_norm, spectral_norm and orthogonal,
registered with ``parametrize.register_parametrization`` (see there for the mechanism).

Each parametrization is a fastnn Module with ``forward`` (torch's formula), ``backward`` (its
chain rule by hand: fastnn has no autograd) and ``right_inverse``:

- ``_WeightNorm(dim)``: ``w = g * v / ||v||`` (norm over all axes but dim; over everything for
  dim None / -1); originals ``original0 = g``, ``original1 = v``.
- ``_SpectralNorm``: ``W / sigma`` with sigma from power iteration on the buffers ``_u`` / ``_v``
  (in training mode only); u and v are constants of the backward, as in torch. A 1-D weight is
  divided by its norm.
- ``_Orthogonal``: ``"matrix_exp"`` (expm by scaling and squaring with Pade approximants,
  NumPy; backward by the block-matrix identity: the upper-right block of
  ``expm([[A^T, G], [0, A^T]])``), ``"cayley"`` and ``"householder"`` maps, the dynamic
  trivialization (``base``) as in torch.

Departures: no load_state_dict hook mapping old ``weight_g`` / ``weight_v`` keys to the new
names (fastnn's load_state_dict has no pre-hooks); random draws (spectral norm's u, v and the
completion of a non-square orthogonal base) come from fastnn's RNG, not torch's; only real
(float32 / float64) weights.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ... import _device
from ..._random import get_rng
from ..module import Module, Parameter, check_float_arg, check_int
from . import parametrize
from .weight_norm import _norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _weight_of(module, name: str, func: str):
    if not isinstance(module, Module):
        raise TypeError(f"{func} expects a fastnn.nn.Module. Received: module={module!r}")
    if not isinstance(name, str):
        raise TypeError(f"{func}: name must be a str. Received: name={name!r}")
    weight = getattr(module, name, None)
    if isinstance(weight, Parameter):
        return weight.data
    if _device.device_of(weight) is None:
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    return weight


# ---- weight norm ----------------------------------------------------------------------
class _WeightNorm(Module):
    """w = g * v / ||v||, the norm over every axis but dim (over all of v for dim -1 / None)."""

    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"weight_norm: dim must be an int or None. Received: dim={dim!r}")
        self.dim = int(dim)
        self._cache = None

    def _axis(self, ndim: int):
        if self.dim == -1:
            return None
        if not -ndim <= self.dim < ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                             f"but got {self.dim})")
        return self.dim % ndim

    def forward(self, weight_g, weight_v):
        dim = self._axis(weight_v.ndim)
        norm = _norm_except_dim(weight_v, dim)
        self._cache = (weight_g, weight_v, norm, dim)
        return weight_v * (weight_g / norm)

    def backward(self, dw):
        g, v, norm, dim = self._cache
        xp = _device.xp_of(v)
        axes = None if dim is None else tuple(i for i in range(v.ndim) if i != dim)
        # w = g v / n:  dg = <dw, v> / n;  dv = (g / n) (dw - v <dw, v> / n^2)
        dot = xp.sum(dw * v, axis=axes, keepdims=dim is not None)
        dg = xp.asarray(dot / norm, dtype=v.dtype).reshape(np.shape(g))
        dv = (g / norm) * (dw - v * (dot / (norm * norm)))
        return dg, dv

    def right_inverse(self, weight):
        weight = weight.data if isinstance(weight, Parameter) else weight
        return _norm_except_dim(weight, self._axis(weight.ndim)), weight

    def extra_repr(self):
        return ""


def weight_norm(module, name: str = "weight", dim=0):
    """Weight normalization with the parametrization API (torch.nn.utils.parametrizations.weight_norm):
    ``module.<name> = g * v / ||v||`` with ``parametrizations.<name>.original0 = g`` (the norm
    over every axis but dim, keepdims; 0-d for dim None) and ``original1 = v``. Returns module."""
    _weight_of(module, name, "weight_norm")
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def _weight_norm_compat_hook(mod, state_dict, prefix, local_metadata, strict, missing_keys,
                                 unexpected_keys, error_msgs):
        # a checkpoint of the old API (nn.utils.weight_norm: <name>_g, <name>_v) loads, as torch's
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state_dict and v_key in state_dict:
            state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g_key)
            state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v_key)

    module.register_load_state_dict_pre_hook(_weight_norm_compat_hook)
    return module


# ---- spectral norm ----------------------------------------------------------------------
def _normalize(x, eps: float):
    """F.normalize(x, dim=0, eps=eps) of a vector: x / max(||x||, eps)."""
    xp = _device.xp_of(x)
    return x / max(float(xp.sqrt(xp.sum(x * x))), eps)


class _SpectralNorm(Module):
    """W / sigma(W), sigma = u^T W_mat v with W_mat the weight with axis dim first, flattened to
    2-D; n_power_iterations of the power method update the buffers ``_u`` / ``_v`` in place at
    each forward in training mode (15 at construction). A 1-D weight: W / max(||W||, eps)."""

    def __init__(self, weight, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        weight = weight.data if isinstance(weight, Parameter) else weight
        ndim = weight.ndim
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
            raise TypeError(f"spectral_norm: dim must be an int. Received: dim={dim!r}")
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] "
                             f"but got {dim})")
        n_power_iterations = check_int("n_power_iterations", n_power_iterations, minimum=-(2**62))
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = int(dim) if dim >= 0 else int(dim) + ndim
        self.eps = check_float_arg("eps", eps, low=0.0)
        self._cache = None
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            h, w = weight_mat.shape
            rng = get_rng()
            xp = _device.xp_of(weight)
            u = xp.asarray(rng.normal(0.0, 1.0, size=h), dtype=weight.dtype)
            v = xp.asarray(rng.normal(0.0, 1.0, size=w), dtype=weight.dtype)
            self.register_buffer("_u", _normalize(u, self.eps).astype(weight.dtype))
            self.register_buffer("_v", _normalize(v, self.eps).astype(weight.dtype))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = _device.xp_of(weight).moveaxis(weight, self.dim, 0)
        return weight.reshape(weight.shape[0], -1)

    def _power_method(self, weight_mat, n_power_iterations: int) -> None:
        u, v = self._buffers["_u"], self._buffers["_v"]
        for _ in range(n_power_iterations):
            u[...] = _normalize(weight_mat @ v, self.eps)
            v[...] = _normalize(weight_mat.T @ u, self.eps)

    def forward(self, weight):
        xp = _device.xp_of(weight)
        if weight.ndim == 1:
            norm = float(xp.sqrt(xp.sum(weight * weight)))
            self._cache = ("vector", weight, norm)
            return weight / max(norm, self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._buffers["_u"].copy(), self._buffers["_v"].copy()  # constants (torch's clone)
        sigma = xp.sum(u * (weight_mat @ v))
        self._cache = ("matrix", weight, (u, v, sigma))
        return weight / sigma

    def backward(self, dw):
        kind, weight, extra = self._cache
        xp = _device.xp_of(weight)
        if kind == "vector":
            norm = extra
            if norm < self.eps:  # clamp_min(eps): the norm is the constant eps
                return dw / self.eps
            return dw / norm - weight * (xp.sum(dw * weight) / norm ** 3)
        u, v, sigma = extra
        outer = u[:, None] * v[None, :]
        shape = (weight.shape[self.dim],) + tuple(s for i, s in enumerate(weight.shape) if i != self.dim)
        outer = xp.moveaxis(outer.reshape(shape), 0, self.dim)
        return dw / sigma - (xp.sum(dw * weight) / (sigma * sigma)) * outer

    def right_inverse(self, value):
        return value

    def extra_repr(self):
        return ""


def _is_conv_transpose(module) -> bool:
    names = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
    return any(c.__name__ in names and c.__module__.startswith("fastnn") for c in type(module).__mro__)


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim=None):
    """Spectral normalization with the parametrization API
    (torch.nn.utils.parametrizations.spectral_norm): ``module.<name> = W / sigma(W)``, the
    original W in ``parametrizations.<name>.original`` and the buffers ``_u`` / ``_v`` in
    ``parametrizations.<name>[0]``. dim: 1 for ConvTranspose1d/2d/3d, else 0. Returns module."""
    weight = _weight_of(module, name, "spectral_norm")
    if dim is None:
        dim = 1 if _is_conv_transpose(module) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ---- orthogonal ---------------------------------------------------------------------------
# Pade coefficients and 1-norm thresholds of Higham (2005), "The scaling and squaring method
# for the matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26(4).
_PADE = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0, 2162160.0, 110880.0,
        3960.0, 90.0, 1.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
         129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
         40840800.0, 960960.0, 16380.0, 182.0, 1.0),
}
_THETA = {3: 1.495585217958292e-2, 5: 2.539398330063230e-1, 7: 9.504178996162932e-1,
          9: 2.097847961257068e0, 13: 5.371920351148152e0}


def _expm_2d(A):
    """exp(A) of one square float64 matrix."""
    n = A.shape[0]
    if n == 0:
        return A.copy()
    ident = np.eye(n)
    norm1 = float(np.max(np.sum(np.abs(A), axis=0)))
    if not np.isfinite(norm1):
        raise ValueError("matrix_exp: the matrix has non-finite entries")
    for m in (3, 5, 7, 9):
        if norm1 <= _THETA[m]:
            b = _PADE[m]
            A2 = A @ A
            powers = [ident, A2]
            for _ in range(2, m // 2 + 1):
                powers.append(powers[-1] @ A2)
            U = A @ sum(b[2 * j + 1] * powers[j] for j in range(m // 2 + 1))
            V = sum(b[2 * j] * powers[j] for j in range(m // 2 + 1))
            return np.linalg.solve(V - U, V + U)
    s = max(0, int(math.ceil(math.log2(norm1 / _THETA[13]))))
    A = A / (2.0 ** s)
    b = _PADE[13]
    A2 = A @ A
    A4 = A2 @ A2
    A6 = A4 @ A2
    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * ident)
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * ident
    X = np.linalg.solve(V - U, V + U)
    for _ in range(s):
        X = X @ X
    return X


def matrix_exp(A):
    """exp of a square matrix or a batch (..., n, n) (torch.matrix_exp): scaling and squaring
    with Pade approximants, computed in float64, returned in A's dtype."""
    A = np.asarray(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"matrix_exp: expected a square matrix or a batch of them. Received: shape={A.shape}")
    batch = int(np.prod(A.shape[:-2], dtype=np.int64))
    flat = A.reshape((batch,) + A.shape[-2:]).astype(np.float64)
    out = np.stack([_expm_2d(a) for a in flat]) if batch else flat.copy()
    return out.reshape(A.shape).astype(A.dtype, copy=False)


def _matrix_exp_backward(A, G):
    """The gradient of <G, exp(A)> in A: the upper-right block of exp([[A^T, G], [0, A^T]])."""
    n = A.shape[-1]
    At = np.swapaxes(A, -1, -2)
    big = np.zeros(A.shape[:-2] + (2 * n, 2 * n), np.float64)
    big[..., :n, :n] = At
    big[..., n:, n:] = At
    big[..., :n, n:] = G
    return matrix_exp(big)[..., :n, n:].astype(A.dtype, copy=False)


def _mT(X):
    return np.swapaxes(X, -1, -2)


def _householder_product(A, tau):
    """torch.linalg.householder_product (LAPACK orgqr) of a batch: the first k columns of
    H_1 ... H_k, H_i = I - tau_i w_i w_i^T, w_i = A[:, i] below the diagonal, 1 on it, 0 above."""
    n, k = A.shape[-2:]
    W = np.tril(A, -1) + np.eye(n, k, dtype=A.dtype)
    Z = np.broadcast_to(np.eye(n, k, dtype=A.dtype), A.shape).copy()
    for i in range(k - 1, -1, -1):
        w = W[..., :, i:i + 1]                               # (..., n, 1)
        Z = Z - tau[..., i, None, None] * w * (_mT(w) @ Z)
    return Z, W


class _OrthMaps:
    names = ("matrix_exp", "cayley", "householder")


def _is_orthogonal(Q):
    n, k = Q.shape[-2], Q.shape[-1]
    eps = 10.0 * n * np.finfo(Q.dtype).eps
    return np.allclose(_mT(Q) @ Q, np.eye(k, dtype=Q.dtype), atol=eps)


def _make_orthogonal(A):
    """The Q of A = QR (A tall) with diag(R) made non-negative (torch's _make_orthogonal)."""
    Q, R = np.linalg.qr(A)
    return Q * np.sign(np.diagonal(R, axis1=-2, axis2=-1))[..., None, :]


class _Orthogonal(Module):
    """An orthogonal (or, for a wide matrix, row-orthogonal) matrix or batch of them from an
    unconstrained one, torch's _Orthogonal: see ``orthogonal``."""

    def __init__(self, weight, orthogonal_map: str, *, use_trivialization: bool = True):
        super().__init__()
        weight = weight.data if isinstance(weight, Parameter) else weight
        if orthogonal_map not in _OrthMaps.names:
            raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                             f"Got: {orthogonal_map}")
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = bool(use_trivialization)
        self._cache = None

    def _has_base(self) -> bool:
        return self.use_trivialization

    def forward(self, X):
        if _device.device_of(X) != "cpu":
            raise TypeError("orthogonal: only NumPy (CPU) weights are supported")
        n, k = X.shape[-2], X.shape[-1]
        transposed = n < k
        if transposed:
            X = _mT(X)
            n, k = k, n
        cache = {"transposed": transposed, "n": n, "k": k}
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            Xl = np.tril(X)
            if n != k:
                Xl = np.concatenate([Xl, np.zeros(Xl.shape[:-2] + (n, n - k), X.dtype)], axis=-1)
            A = Xl - _mT(Xl)
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
                cache["A"] = A
            else:
                ident = np.eye(n, dtype=A.dtype)
                M = ident - 0.5 * A
                Q = np.linalg.solve(M, ident + 0.5 * A)
                cache["M"], cache["Qfull"] = M, Q
            if n != k:
                Q = Q[..., :k]
        else:
            A = np.tril(X, -1)
            tau = 2.0 / (1.0 + np.sum(A * A, axis=-2))
            Q0, W = _householder_product(A, tau)
            scale = np.trunc(np.diagonal(X, axis1=-2, axis2=-1))[..., None, :].astype(X.dtype)
            Q = Q0 * scale
            cache.update(A=A, tau=tau, Q0=Q0, W=W, scale=scale)
        if self._has_base():
            if "base" not in self._buffers:
                raise RuntimeError("orthogonal: the parametrization has no base (right_inverse was never called); "
                                   "register it on an unparametrized tensor or assign module.<name>")
            Q = self._buffers["base"] @ Q
        if transposed:
            Q = _mT(Q)
        self._cache = cache
        return Q

    def backward(self, dQ):
        c = self._cache
        if c is None:
            raise RuntimeError("_Orthogonal.backward called before forward")
        n, k = c["n"], c["k"]
        if c["transposed"]:
            dQ = _mT(dQ)
        if self._has_base():
            dQ = _mT(self._buffers["base"]) @ dQ
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            if n != k:
                full = np.zeros(dQ.shape[:-2] + (n, n), dQ.dtype)
                full[..., :k] = dQ
                dQ = full
            if self.orthogonal_map == "matrix_exp":
                dA = _matrix_exp_backward(c["A"], dQ)
            else:
                # Q = M^-1 P, M = I - A/2, P = I + A/2:  dA = M^-T G (I + Q^T) / 2
                ident = np.eye(n, dtype=dQ.dtype)
                dA = 0.5 * (np.linalg.solve(_mT(c["M"]), dQ) @ (ident + _mT(c["Qfull"])))
            dX = np.tril((dA - _mT(dA))[..., :k])
        else:
            dA = self._householder_backward(dQ * c["scale"], c)
            dX = np.tril(dA, -1)
        if c["transposed"]:
            dX = _mT(dX)
        return np.ascontiguousarray(dX)

    @staticmethod
    def _householder_backward(G, c):
        """Reverse mode through Z_i = H_i Z_(i+1) (Z_k = I[:, :k], Q0 = Z_0), H_i involutions, so
        each Z_(i+1) = H_i Z_i is recovered on the way; tau_i = 2 / (1 + ||a_i||^2)."""
        A, tau, W = c["A"], c["tau"], c["W"]
        k = A.shape[-1]
        Z = c["Q0"]
        dA = np.zeros_like(A)
        for i in range(k):
            w = W[..., :, i:i + 1]
            t = tau[..., i, None, None]
            Z_next = Z - t * w * (_mT(w) @ Z)               # Z_(i+1) = H_i Z_i
            wG = _mT(w) @ G                                 # (..., 1, k)
            Zw = _mT(Z_next) @ w                            # (..., k, 1)
            dtau = -(wG @ Zw)                               # (..., 1, 1)
            dw = -t * (G @ Zw + Z_next @ _mT(wG))           # (..., n, 1)
            a = A[..., :, i:i + 1]
            dA[..., :, i:i + 1] = dw + dtau * (-(t * t) * a)
            G = G - t * w * (_mT(w) @ G)                    # H_i G
            Z = Z_next
        return dA

    def right_inverse(self, Q):
        Q = Q.data if isinstance(Q, Parameter) else Q
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(Q.shape)}.")
        Q_init = Q
        n, k = Q.shape[-2], Q.shape[-1]
        transpose = n < k
        if transpose:
            Q = _mT(Q)
            n, k = k, n
        if not self._has_base():
            if self.orthogonal_map in ("cayley", "matrix_exp"):
                raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                          "or the Cayley parametrizations when use_trivialization=False.")
            A, tau = _geqrf(Q)
            d = np.diagonal(A, axis1=-2, axis2=-1)
            sign = np.sign(d)
            sign = np.where(tau == 0.0, -sign, sign)
            idx = np.arange(k)
            A[..., idx, idx] = sign
            return np.ascontiguousarray(_mT(A) if transpose else A)
        if n == k:
            Q = Q.copy() if _is_orthogonal(Q) else _make_orthogonal(Q)
        else:
            N = get_rng().normal(0.0, 1.0, size=Q.shape[:-2] + (n, n - k)).astype(Q.dtype)
            Q = _make_orthogonal(np.concatenate([Q, N], axis=-1))
        Q = np.ascontiguousarray(Q.astype(Q_init.dtype, copy=False))
        if "base" in self._buffers:
            self.base = Q
        else:
            self.register_buffer("base", Q)
        neg_id = np.zeros_like(Q_init)
        idx = np.arange(min(Q_init.shape[-2:]))
        neg_id[..., idx, idx] = -1.0
        return neg_id

    def extra_repr(self):
        return ""


def _geqrf(Q):
    """LAPACK geqrf of a batch (torch.geqrf): (the reflectors under R in one matrix, tau)."""
    flat = Q.reshape((-1,) + Q.shape[-2:])
    outs, taus = [], []
    for q in flat:
        h, tau = np.linalg.qr(q.astype(np.float64), mode="raw")
        outs.append(h.T)
        taus.append(tau)
    A = np.stack(outs).reshape(Q.shape).astype(Q.dtype)
    tau = np.stack(taus).reshape(Q.shape[:-2] + (min(Q.shape[-2:]),)).astype(Q.dtype)
    return A, tau


def orthogonal(module, name: str = "weight", orthogonal_map=None, *, use_trivialization: bool = True):
    """An orthogonal parametrization of a matrix or batch of matrices (``..., m, n``;
    torch.nn.utils.parametrizations.orthogonal): ``module.<name>`` has orthonormal columns
    (m >= n) or rows (m < n). orthogonal_map: "matrix_exp" (default for square matrices),
    "cayley", or "householder" (default otherwise). With ``use_trivialization`` (default) the
    buffer ``parametrizations.<name>[0].base`` holds the point the map starts from (torch's
    dynamic trivialization), initialised to the tensor when it is orthogonal, else to the Q of
    its QR decomposition. Returns module."""
    weight = _weight_of(module, name, "orthogonal")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _OrthMaps.names:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
                         f"Got: {orthogonal_map}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
