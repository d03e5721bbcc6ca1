"""Per-op tolerances: (rtol, atol) for comparing a native result with fastnn.reference.

float32 results are compared with the reference computed in float64 (the truth), so the
tolerance is the float32 kernel's own error. Why each value:
- element-wise activations: a few ulp from the polynomial exp/log/tanh (rtol 4e-6 ~ 32 ulp
  leaves room for the composition in swish/softplus); atol for results that underflow.
- softmax: the row sum adds one rounding per element (grows ~ sqrt(cols) ulp).
- gemm: k products summed in a blocked order: error ~ k * eps * |a||b|, hence the scaled check
  in the GEMM tests; these values apply to entries of order 1 with k up to a few thousand.
"""
import numpy as np

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

TOLERANCES = {
    "activation": {F32: (4e-6, 1e-6), F64: (1e-12, 1e-14)},
    "activation_backward": {F32: (1e-5, 1e-6), F64: (1e-12, 1e-14)},
    "softmax": {F32: (1e-5, 1e-7), F64: (1e-12, 1e-15)},
    "softmax_backward": {F32: (1e-5, 2e-6), F64: (1e-12, 1e-14)},
    "gemm": {F32: (1e-4, 1e-4), F64: (1e-11, 1e-11)},
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
