"""Per-op tolerances: (rtol, atol) for comparing a native result with fastnn.reference.

float32 results are compared with the reference computed in float64 (the truth), so the
tolerance is the float32 kernel's own error. Why each value:
- element-wise activations: a few ulp from the polynomial exp/log/tanh (rtol 4e-6 ~ 32 ulp
  leaves room for the composition in swish/softplus); atol for results that underflow.
- softmax: the row sum adds one rounding per element (grows ~ sqrt(cols) ulp).
- log_softmax: not a relative-error op, so not softmax's tolerance. y = z - log(S) with
  z = x - max <= 0 and S = sum(exp(z)) >= 1 (the max contributes exp(0) = 1), so log(S) >= 0
  and |y| = |z| + log(S): these two terms never cancel. But S is a sum of terms up to 1, and its
  relative rounding d is an *absolute* error of every y in the row, log(S (1 + d)) = log(S) + d,
  however small |y| is (the dominant entry's y is near 0 when the others are far below it;
  torch's float32 log_softmax errs as much there). First order, u = 2**-24, n = row length,
  float32 exp and log within 1 ulp = 2u (csrc simd_math; measured 0.99 and 0.83 ulp at most):
    u|z| (x - max) + 2u log(S) (log) + u|y| (last subtraction) <= 4u|y|        -> rtol
    d <= 2u (each exp) + u sum_k p_k|z_k| (the rounded exp arguments; that sum is at most the
         row's entropy <= ln n) + (n - 1)u (n positive terms summed in any order: Higham,
         "Accuracy and Stability of Numerical Algorithms", ch. 4)                  -> atol
  The summation is taken at its worst case: its roundings all fall on partial sums near 1, not
  at random, and the statistical sqrt(n)u in its place is exceeded (measured: by 6% at n = 31).
  rtol = 4u = 2.4e-7, atol = (n + 1 + ln n)u = 8.0e-6 for rows of n <= 128 (the tests' rows
  have n <= 97; the largest error observed is ~10u absolute).
- log_softmax_backward: dx = dy - p s with p = exp(y) <= 1 and s = sum(dy): dx cancels where
  dy ~ p s. u|dx| (subtraction) + 3u p|s| (exp 2u, product u), and p|s| = |dy - dx|, so
  <= 4u|dx| + 3u|dy|; plus p|ds|, the rounding of s. Its n terms have both signs, so the bound
  is on the partial sums: (n - 1)u max|partial sum| at worst, ~sqrt(n)u max|partial sum| for
  rounding errors of random sign (Higham, sec. 2.8, the rule of thumb). The tests draw
  dy ~ N(0, 1): |dy| <= 6, and the partial sums are a random walk whose max exceeds 5 sqrt(n)
  in ~1e-6 of rows, so |ds| <= 5n u. rtol = 4u = 2.4e-7, atol = (3 * 6 + 5n)u = 3.9e-5 for
  n <= 128 (observed errors stay below a third of it). softmax_backward's sum is weighted by
  y (sum y = 1), so its partial sums stay of the size of dy: hence a separate entry.
  float64 (both): libm / NumPy exp and log are within ~1 ulp, and the float64 reference rounds
  as much as the kernel does: twice the float32 formulas' values with u = 2**-53.
- gemm: k products summed in a blocked order: error ~ k * eps * |a||b|, hence the scaled check
  in the GEMM tests; these values apply to entries of order 1 with k up to a few thousand.
- conv / conv_backward: each output is a GEMM sum (y, dx: C*KH*KW or OC*KH*KW terms; dw, db:
  N*OH*OW terms). The tests scale w by 1/sqrt(fan_in) so y and dx are of order 1; dw sums up to
  a few hundred O(1) terms (values up to ~20), so float32 rounding reaches ~1e-5 absolute.
- max_pool: a selection, exact (indices too). avg_pool: a sum of KH*KW <= 16 terms then one
  division (a few ulp). global_avg_pool: summed in double, one rounding to float32.
"""
import numpy as np

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

TOLERANCES = {
    "activation": {F32: (4e-6, 1e-6), F64: (1e-12, 1e-14)},
    "activation_backward": {F32: (1e-5, 1e-6), F64: (1e-12, 1e-14)},
    "softmax": {F32: (1e-5, 1e-7), F64: (1e-12, 1e-15)},
    "softmax_backward": {F32: (1e-5, 2e-6), F64: (1e-12, 1e-14)},
    "log_softmax": {F32: (2.4e-7, 8.0e-6), F64: (8.9e-16, 3.0e-14)},
    "log_softmax_backward": {F32: (2.4e-7, 3.9e-5), F64: (8.9e-16, 1.5e-13)},
    "gemm": {F32: (1e-4, 1e-4), F64: (1e-11, 1e-11)},
    # convolution and pooling
    "conv": {F32: (2e-5, 2e-5), F64: (1e-12, 1e-12)},
    "conv_backward": {F32: (5e-5, 5e-5), F64: (1e-11, 1e-11)},
    "max_pool": {F32: (0.0, 0.0), F64: (0.0, 0.0)},
    "avg_pool": {F32: (2e-6, 1e-6), F64: (1e-13, 1e-14)},
    "global_avg_pool": {F32: (1e-6, 1e-7), F64: (1e-13, 1e-14)},
}


def tol(op: str, dtype) -> dict:
    rtol, atol = TOLERANCES[op][np.dtype(dtype)]
    return {"rtol": rtol, "atol": atol}


def assert_close(got, want, op: str, dtype=None, err_msg: str = ""):
    """Compare with the op's tolerance; NaN must match NaN and inf must match inf exactly."""
    dtype = np.dtype(dtype or got.dtype)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape} {err_msg}"
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(want, dtype=np.float64),
                               equal_nan=True, err_msg=err_msg, **tol(op, dtype))

# Batch norm, dropout, losses, optimizer updates (issue 4). Why each value:
# - batch_norm: sums are exact-ish (double), but y = (x - mean) * scale + beta is evaluated in
#   float32 with mean and scale rounded to float32: a few ulp of max(|x - mean| * scale, |beta|).
# - batch_norm_backward: dx = k * ((dy - a) - (x - mean) * b) in float32 cancels when dy is close
#   to its channel mean; atol covers that cancellation at values of order 1.
# - loss: the native loss is accumulated in double (error ~1e-15 relative); the gradient is
#   rounded once to the output dtype (rtol: 1 ulp; atol: results that underflow).
# - dropout: y = x * float(1/(1-p)): one rounding in float32 against the float64 truth.
# - optim_step: one float32 step against the float64 rule: each slot and the parameter carry a
#   few float32 roundings (sqrt, division); values of order 1.
# - optim_steps: 20 float32 steps against the float64 rule: the rounding errors compound through
#   the slots and Adam-style m / sqrt(v) amplifies them while v is small.
TOLERANCES.update({
    "batch_norm": {F32: (1e-5, 1e-5), F64: (1e-11, 1e-12)},
    "batch_norm_backward": {F32: (1e-4, 1e-5), F64: (1e-9, 1e-11)},
    "loss": {F32: (1e-6, 1e-9), F64: (1e-10, 1e-14)},
    "dropout": {F32: (2e-7, 0.0), F64: (1e-15, 0.0)},
    "optim_step": {F32: (1e-5, 1e-6)},
    "optim_steps": {F32: (1e-4, 1e-5)},
})

# --- gemm: error bound scaled by k and the magnitudes -------------------------------------
# A sum of k products computed in floating point, in any order and with or without FMA, obeys
#   |fl(sum) - sum| <= gamma_k * sum_p |a_ip| |b_pj|,   gamma_k = k u / (1 - k u)
# (Higham, "Accuracy and Stability of Numerical Algorithms", eq. 3.5), u = unit roundoff
# (2**-24 for float32, 2**-53 for float64). The epilogue adds at most three more roundings:
# alpha * acc, + beta * C, + bias. So with |C| = |op(a)| @ |op(b)| + |bias| + |beta C_old|,
#   |got - exact| <= gamma_{k+3} * |C|   (+ the smallest normal, for results that underflow).
# This is a worst-case bound, not a fit to the kernel: it does not depend on the blocking,
# and a kernel that drops or repeats one product violates it for every realistic k.
GEMM_UNIT_ROUNDOFF = {F32: 2.0 ** -24, F64: 2.0 ** -53}


def gemm_error_bound(abs_sum, k: int, dtype):
    """Allowed |got - exact| elementwise, given abs_sum = |op(a)| @ |op(b)| + |bias| + |beta C|."""
    u = GEMM_UNIT_ROUNDOFF[np.dtype(dtype)]
    terms = k + 3
    gamma = terms * u / (1.0 - terms * u)
    return gamma * np.asarray(abs_sum, dtype=np.float64) + np.finfo(dtype).tiny

# --- winograd: F(2x2, 3x3) convolution, error bound through its transforms ------------------
# The Winograd path (csrc/kernels/winograd.h) computes, per 2x2 output tile,
#   y = A^T [ sum_c U_c . V_c ] A + b,   U_c = G g_c G^T (double, rounded once),  V_c = B^T d_c B,
# and its gradients dx = sum over overlapping tiles of B [ sum_o U_o . dM_o ] B^T with
# dM = A dY A^T, dw = G^T [ sum over all tiles t of dM_t . V_t ] G (double, rounded once).
# Each stage is a fixed sequence of sums and products, so the standard forward error analysis
# (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1-3.5, applied stage by stage as
# in Barabasz et al., "Error analysis and improving the accuracy of Winograd convolution for
# deep neural networks", ACM TOMS 2020) bounds each result by
#   |got - exact| <= gamma_n * S,   gamma_n = n u / (1 - n u),
# where S is the same computation done on absolute values (|B^T| |d| |B|, |G| |g| |G^T|, ...)
# and n the most roundings along any path from an input to the result:
#   y:  V (2: a sum of 2 terms, twice) + U (1) + the sum over C of products (C) + A^T . A
#       (4: a sum of 3 terms, twice) + bias (1)                                  -> n = C + 8
#   dx: dM (2) + U (1) + the sum over OC (OC) + B . B^T (4) + up to 4 overlapping tiles
#       added in order (3)                                                        -> n = OC + 10
#   dw: V (2) + dM (2) + the sum over all N*TH*TW tiles, in blocks, groups, any order (T)
#       + the final rounding (1)                                                  -> n = T + 5
# S is larger than direct convolution's sum_c |w||x| because the transforms mix neighbouring
# pixels and weights: per output, the coefficients of S add up to 8 x 8 = 64 (|A^T| |G| |B^T|
# row sums 8 per axis) against 9 for the direct sum, so the bound is ~7x direct convolution's in
# the worst case. This is a worst-case bound, not a fit to the kernel, and does not depend on the
# blocking; a wrong transform or a dropped tile violates it by orders of magnitude.
# winograd_error_bounds computes S in float64 for given operands; the tests compare every
# Winograd result with fastnn.reference elementwise against it (assert_within).
# The "winograd" table entry is that bound as one number for y and dx of order 1 on the random
# (hypothesis) cases: C, OC <= 4, H, W <= 9, N <= 3, x, dy ~ N(0, 1), w ~ N(0, 1/(9C)). Over 3000
# such draws the bound's maximum is 4.1e-5 for y and 8.7e-5 for dx (float32; 2^-29 times that in
# float64), so (1e-4, 1e-4) covers the worst case there: 5x the "conv" entry, the transforms'
# amplification. dw sums N*TH*TW tiles and its bound grows with them: only the elementwise bound.
TOLERANCES["winograd"] = {F32: (1e-4, 1e-4), F64: (1e-12, 1e-12)}
_WG_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
_WG_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
_WG_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def _gamma(n: int, dtype) -> float:
    u = GEMM_UNIT_ROUNDOFF[np.dtype(dtype)]
    return n * u / (1.0 - n * u)


def _winograd_tiles(x, ph: int, pw: int, th: int, tw: int):
    """(N, C, TH, TW, 4, 4): the 4x4 input tile of every output tile, zero padded."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(2, 3))
    return win[:, :, ::2, ::2][:, :, :th, :tw]


def winograd_error_bounds(x, w, dy, padding, b=None, dtype=None):
    """Allowed |got - exact| elementwise for the Winograd path's y, dx, dw, given the float64
    values of its operands x (N, C, H, W), w (OC, C, 3, 3), dy (N, OC, OH, OW), bias b or None.
    Also returns the exact float64 Winograd y (a check of the algebra the bound is built on)."""
    dtype = np.dtype(dtype or x.dtype)
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    ph, pw = (padding, padding) if np.isscalar(padding) else padding
    n, c, h, wd = x.shape
    oc = w.shape[0]
    oh, ow = dy.shape[2:]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    bt, g, at = _WG_BT, _WG_G, _WG_AT
    d = _winograd_tiles(x, ph, pw, th, tw)
    tiny = np.finfo(dtype).tiny
    # forward: exact and on absolute values
    u = np.einsum("ia,ocab,jb->ocij", g, w, g)
    v = np.einsum("ip,nctspq,jq->nctsij", bt, d, bt)
    y_tiles = np.einsum("ai,notsij,bj->notsab", at, np.einsum("ocij,nctsij->notsij", u, v), at)
    uabs = np.einsum("ia,ocab,jb->ocij", abs(g), abs(w), abs(g))
    vabs = np.einsum("ip,nctspq,jq->nctsij", abs(bt), abs(d), abs(bt))
    s_y = np.einsum("ai,notsij,bj->notsab", abs(at), np.einsum("ocij,nctsij->notsij", uabs, vabs), abs(at))

    def untile(t):  # (N, O, TH, TW, 2, 2) -> (N, O, OH, OW)
        return t.transpose(0, 1, 2, 4, 3, 5).reshape(n, t.shape[1], 2 * th, 2 * tw)[:, :, :oh, :ow]

    y_exact = untile(y_tiles) + (0 if b is None else np.asarray(b, np.float64).reshape(1, oc, 1, 1))
    bound_y = _gamma(c + 8, dtype) * untile(s_y) + tiny
    if b is not None:
        bound_y += _gamma(c + 8, dtype) * abs(np.asarray(b, np.float64)).reshape(1, oc, 1, 1)
    # input gradient: dM = A dY A^T per tile, dV = sum_o U . dM, B dV B^T added where tiles overlap
    dyp = np.zeros((n, oc, 2 * th, 2 * tw))
    dyp[:, :, :oh, :ow] = abs(dy)
    dyt = dyp.reshape(n, oc, th, 2, tw, 2).transpose(0, 1, 2, 4, 3, 5)
    dmabs = np.einsum("ai,notsab,bj->notsij", abs(at), dyt, abs(at))
    dvabs = np.einsum("ocij,notsij->nctsij", uabs, dmabs)
    ddabs = np.einsum("ip,nctsij,jq->nctspq", abs(bt), dvabs, abs(bt))
    dxp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    for r in range(4):
        for s in range(4):
            dxp[:, :, r:r + 2 * th:2, s:s + 2 * tw:2] += ddabs[..., r, s]
    bound_dx = _gamma(oc + 10, dtype) * dxp[:, :, ph:ph + h, pw:pw + wd] + tiny
    # weight gradient: dU = sum over tiles of dM . V, dw = G^T dU G
    duabs = np.einsum("notsij,nctsij->ocij", dmabs, vabs)
    s_dw = np.einsum("ia,ocij,jb->ocab", abs(g), duabs, abs(g))
    bound_dw = _gamma(n * th * tw + 5, dtype) * s_dw + tiny
    return bound_y, bound_dx, bound_dw, y_exact


def assert_within(got, want, bound, err_msg: str = ""):
    """|got - want| <= bound elementwise (want: the float64 truth); reports the worst ratio."""
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape} {err_msg}"
    err = np.abs(got.astype(np.float64) - np.asarray(want, np.float64))
    ratio = err / bound
    worst = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else None
    assert ratio.size == 0 or ratio.max() <= 1.0, (
        f"error {err[worst]:.3g} exceeds the bound {bound[worst]:.3g} at {worst} "
        f"(worst ratio {ratio.max():.3g}) {err_msg}")
