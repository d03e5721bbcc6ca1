"""Shared helpers for the tests of the Python API (layers, containers, losses)."""
from __future__ import annotations

import numpy as np
import pytest

import fastnn
from gradcheck import assert_gradients


def check_module_gradients(module, x, *, seed=None, rtol=1e-5, atol=1e-7, check_params=True):
    """Float64 central differences of L = sum(module(x) * dy) against ``module.backward``:
    dL/dx and, when ``check_params``, dL/d every parameter. ``seed`` re-seeds fastnn's RNG
    before each forward (for Dropout: the same mask every time)."""
    module.double()
    params = module.parameters() if check_params else []

    def forward(xx, *ps):
        for p, arr in zip(params, ps):
            p.data = arr  # bind the (perturbed) arrays the checker owns
        if seed is not None:
            fastnn.manual_seed(seed)
        return module(xx)

    def analytic(dy):
        # assert_gradients calls forward(*inputs) right before this, so the caches are current
        module.zero_grad()
        dx = module.backward(dy)
        return [dx] + [p.grad.copy() for p in params]

    inputs = [np.asarray(x, dtype=np.float64)] + [p.data.copy() for p in params]
    assert_gradients(forward, inputs, analytic, rtol=rtol, atol=atol)


def away_from_zero(rng, shape, scale=1.0, gap=1e-2):
    """Normal samples with none within `gap` of 0 (finite differences are wrong across a kink)."""
    x = rng.standard_normal(shape) * scale
    x[np.abs(x) < gap] = 0.5
    return x


# float32 / float64 tolerances of the nn.functional tests against torch
FUNCTIONAL_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def close(ours, theirs, dtype, **kw):
    """ours (a fastnn array) equals theirs (a torch tensor or array) within FUNCTIONAL_TOL[dtype]
    (overridden by kw), with the same shape, and a floating result of dtype."""
    tol = dict(FUNCTIONAL_TOL[dtype])
    tol.update(kw)
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if ours.dtype.kind == "f":
        assert ours.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **tol)
