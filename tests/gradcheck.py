"""Central-difference gradient checks (float64) that assert.

``assert_gradients(f, inputs, grads)``: f maps the input arrays to an output array (or scalar);
the loss is L = sum(f(*inputs) * dy) for a fixed random dy; each analytic gradient in `grads`
(None to skip one) must match dL/dinput by central differences.
"""
from __future__ import annotations

import numpy as np


def numeric_gradient(f, inputs, index: int, dy, eps: float = 1e-6):
    """dL/d inputs[index] by central differences, L = sum(f(*inputs) * dy)."""
    x = inputs[index]
    assert x.dtype == np.float64, "gradient checks run in float64"
    grad = np.zeros_like(x)
    flat = x.reshape(-1)  # a view: inputs are C-contiguous here
    assert np.shares_memory(flat, x)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = np.sum(np.asarray(f(*inputs)) * dy)
        flat[i] = old - eps
        minus = np.sum(np.asarray(f(*inputs)) * dy)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def assert_gradients(f, inputs, grads, dy=None, *, eps: float = 1e-6, rtol: float = 1e-5,
                     atol: float = 1e-7, rng=None):
    """Assert each analytic gradient in `grads` matches the numeric one.

    `grads` may be a callable taking dy and returning the list of analytic gradients.
    """
    inputs = [np.ascontiguousarray(x, dtype=np.float64) for x in inputs]
    out = np.asarray(f(*inputs))
    if dy is None:
        rng = rng or np.random.default_rng(0)
        dy = rng.standard_normal(out.shape)
    analytic = grads(dy) if callable(grads) else grads
    assert len(analytic) == len(inputs)
    checked = 0
    for i, g in enumerate(analytic):
        if g is None:
            continue
        num = numeric_gradient(f, inputs, i, dy, eps)
        np.testing.assert_allclose(np.asarray(g), num, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} differs from central differences")
        checked += 1
    assert checked > 0, "no gradient was checked"
