"""Per-op tolerances: (rtol, atol) for comparing a native result with fastnn.reference.

float32 results are compared with the reference computed in float64 (the truth), so the
tolerance is the float32 kernel's own error. Why each value:
- element-wise activations: a few ulp from the polynomial exp/log/tanh (rtol 4e-6 ~ 32 ulp
  leaves room for the composition in swish/softplus); atol for results that underflow.
- softmax: the row sum adds one rounding per element (grows ~ sqrt(cols) ulp).
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
