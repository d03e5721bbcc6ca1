"""A quick end-to-end check of the native kernels against fastnn.reference (``fastnn selfcheck``).

Each check runs one op on a small random input in float32 and float64 and compares with the
reference at the tolerance the test-suite uses. It is a smoke check for an installed build;
the full verification is the test-suite.
"""
from __future__ import annotations

import numpy as np

from . import ops, reference

# (name, function arguments builder) — each builder takes (rng, dtype) and returns args.
_CHECKS = []


def _check(name):
    def deco(fn):
        _CHECKS.append((name, fn))
        return fn
    return deco


def _tol(dtype):
    return (2e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-13)


for _act in ("step", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "swish", "elu", "softmax", "log_softmax"):
    def _make(act=_act):
        def run(rng, dtype):
            x = (rng.standard_normal((33, 17)) * 3).astype(dtype)
            return getattr(ops, act)(x), getattr(reference, act)(x)
        return run
    _check(_act)(_make())


@_check("gemm")
def _gemm(rng, dtype):
    a = rng.standard_normal((37, 29)).astype(dtype)
    b = rng.standard_normal((29, 41)).astype(dtype)
    return ops.gemm(a, b), reference.gemm(a, b)



# Batch norm, dropout, losses (issue 4). The optimizer updates are float32-only and are covered
# by the test-suite, not here (every check runs in both dtypes).
@_check("batch_norm")
def _batch_norm(rng, dtype):
    x = rng.standard_normal((8, 5, 3, 4)).astype(dtype)
    gamma, beta = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    got_y, mean, invstd = ops.batch_norm_forward(x, gamma, beta, None, None, training=True)
    want_y, _, _ = reference.batch_norm_forward(x, gamma, beta, None, None, training=True)
    got_dx = ops.batch_norm_backward(dy, x, gamma, mean, invstd)[0]
    want_dx = reference.batch_norm_backward(dy, x, gamma, mean, invstd)[0]
    return np.concatenate([got_y.ravel(), got_dx.ravel()]), np.concatenate([want_y.ravel(), want_dx.ravel()])


@_check("dropout")
def _dropout(rng, dtype):
    x = rng.standard_normal((33, 17)).astype(dtype)
    return ops.dropout_forward(x, 0.3, 1234)[0], reference.dropout_forward(x, 0.3, 1234)[0]


@_check("softmax_cross_entropy")
def _cross_entropy(rng, dtype):
    z = (rng.standard_normal((33, 7)) * 3).astype(dtype)
    t = rng.integers(0, 7, 33)
    return ops.softmax_cross_entropy(z, t, 0.1)[1], reference.softmax_cross_entropy(z, t, 0.1)[1]


@_check("bce_with_logits_loss")
def _bce_logits(rng, dtype):
    x, t = rng.standard_normal((33, 17)).astype(dtype), rng.uniform(0, 1, (33, 17)).astype(dtype)
    return ops.bce_with_logits_loss(x, t)[1], reference.bce_with_logits_loss(x, t)[1]


# convolution and pooling (small shapes; w scaled by 1/sqrt(fan_in) so outputs are of order 1)
@_check("conv2d")
def _conv2d(rng, dtype):
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    w = (rng.standard_normal((5, 4, 3, 2)) / np.sqrt(24)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    return ops.conv2d_forward(x, w, b, (2, 1), 1), reference.conv2d_forward(x, w, b, (2, 1), 1)


@_check("conv2d_backward")
def _conv2d_backward(rng, dtype):
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    w = (rng.standard_normal((5, 4, 3, 3)) / np.sqrt(36)).astype(dtype)
    dy = (rng.standard_normal((3, 5, 9, 8)) / np.sqrt(5)).astype(dtype)
    return ops.conv2d_backward(dy, x, w, 1, 1)[0], reference.conv2d_backward(dy, x, w, 1, 1)[0]


@_check("max_pool2d")
def _max_pool2d(rng, dtype):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    return ops.max_pool2d_forward(x, 3, 2, 1)[0], reference.max_pool2d_forward(x, 3, 2, 1)[0]


@_check("avg_pool2d")
def _avg_pool2d(rng, dtype):
    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    return ops.avg_pool2d_forward(x, 3, 2, 1, False), reference.avg_pool2d_forward(x, 3, 2, 1, False)


def count_checks() -> int:
    return 2 * len(_CHECKS)


def run(verbose: bool = False) -> int:
    rng = np.random.default_rng(0)
    failures = 0
    for name, fn in _CHECKS:
        for dtype in (np.float32, np.float64):
            got, want = fn(rng, dtype)
            rtol, atol = _tol(dtype)
            ok = got.dtype == want.dtype and np.allclose(got, want, rtol=rtol, atol=atol)
            failures += not ok
            if verbose:
                err = float(np.max(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
                print(f"  {'ok  ' if ok else 'FAIL'} {name:<14} {np.dtype(dtype).name:<8} max abs err {err:.2e}")
    return failures
