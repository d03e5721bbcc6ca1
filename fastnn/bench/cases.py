"""Case builders for ``fastnn bench``, run inside the worker processes (see harness.py).

Each builder takes the library name ("fastnn", "numpy" = NumPy / the ``fastnn.reference`` ops,
"torch") and the case's parameters, makes its seeded inputs (the same arrays in every library)
and returns the zero-argument callable that one timed call runs. The callable returns the
result the harness compares across libraries (fastnn's against each peer's).

GEMM's NumPy peer is ``np.matmul`` (its BLAS); every other NumPy peer is ``fastnn.reference``.
Each library is imported only in its own worker.
"""
from __future__ import annotations

import numpy as np

from .harness import register_case
from .train import BATCH, TRAINERS, batch_starts, synthetic_data


def _unknown(lib: str):
    return ValueError(f"unknown library {lib!r}; expected 'fastnn', 'numpy' or 'torch'")


def _ops(lib: str):
    """The functional ops module of fastnn or of the NumPy reference."""
    if lib == "fastnn":
        from fastnn import ops
        return ops
    if lib == "numpy":
        from fastnn import reference
        return reference
    raise _unknown(lib)


@register_case("gemm")
def gemm(lib, m, k, n, trans="NN", seed=0):
    """C (m x n) = op(A) (m x k) @ op(B) (k x n) into a preallocated C; op = transpose for 'T'
    (read in place: a transposed operand is stored as its transpose, as the layers keep it)."""
    rng = np.random.default_rng(seed)
    ta, tb = trans[0] == "T", trans[1] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    if lib == "fastnn":
        from fastnn import ops
        return lambda: ops.gemm(a, b, trans_a=ta, trans_b=tb, out=out)
    if lib == "numpy":
        opa, opb = (a.T if ta else a), (b.T if tb else b)  # views: BLAS reads them via its flags
        return lambda: np.matmul(opa, opb, out=out)
    if lib == "torch":
        import torch
        ta_t, tb_t = torch.from_numpy(a), torch.from_numpy(b)
        opa_t, opb_t = (ta_t.t() if ta else ta_t), (tb_t.t() if tb else tb_t)
        out_t = torch.from_numpy(out)
        return lambda: torch.mm(opa_t, opb_t, out=out_t)
    raise _unknown(lib)


@register_case("conv2d")
def conv2d(lib, x_shape, out_channels, kernel, padding, seed=0):
    """conv2d forward + backward (y, then dx, dw, db), stride 1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal((out_channels, x_shape[1], kernel, kernel)) * 0.1).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32)
    oh = x_shape[2] + 2 * padding - kernel + 1
    ow = x_shape[3] + 2 * padding - kernel + 1
    dy = rng.standard_normal((x_shape[0], out_channels, oh, ow)).astype(np.float32)
    if lib == "torch":
        import torch
        tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        tdy = torch.from_numpy(dy)

        def run():
            tx.grad = tw.grad = tb.grad = None
            torch.nn.functional.conv2d(tx, tw, tb, padding=padding).backward(tdy)
            return tx.grad, tw.grad, tb.grad
        return run
    ops = _ops(lib)

    def run():
        ops.conv2d_forward(x, w, b, 1, padding)
        return ops.conv2d_backward(dy, x, w, 1, padding)
    return run


@register_case("maxpool2d")
def maxpool2d(lib, x_shape, kernel=2, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    n, c, h, w = x_shape
    dy = rng.standard_normal((n, c, h // kernel, w // kernel)).astype(np.float32)
    if lib == "torch":
        import torch
        tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)

        def run():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, kernel).backward(tdy)
            return tx.grad
        return run
    ops = _ops(lib)

    def run():
        _, idx = ops.max_pool2d_forward(x, kernel)
        return ops.max_pool2d_backward(dy, idx, x.shape)
    return run


@register_case("batchnorm2d")
def batchnorm2d(lib, x_shape, seed=1):
    """Training-mode batch norm forward (batch statistics, running stats updated) + backward."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    dy = rng.standard_normal(x_shape).astype(np.float32)
    c = x_shape[1]
    gamma = (1 + 0.1 * rng.standard_normal(c)).astype(np.float32)
    beta = (0.1 * rng.standard_normal(c)).astype(np.float32)
    if lib == "torch":
        import torch
        tx, tg, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, gamma, beta))
        tdy = torch.from_numpy(dy)
        rm, rv = torch.zeros(c), torch.ones(c)

        def run():
            tx.grad = tg.grad = tb.grad = None
            torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True).backward(tdy)
            return tx.grad, tg.grad, tb.grad
        return run
    ops = _ops(lib)
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)

    def run():
        _, mean, invstd = ops.batch_norm_forward(x, gamma, beta, rm, rv, training=True)
        return ops.batch_norm_backward(dy, x, gamma, mean, invstd, training=True)
    return run


@register_case("activation")
def activation(lib, name, size, seed=1):
    """relu, tanh or gelu forward + backward (relu's and gelu's backward read x, tanh's y)."""
    if name not in ("relu", "tanh", "gelu"):
        raise ValueError(f"activation must be 'relu', 'tanh' or 'gelu'; received: name={name!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size).astype(np.float32)
    dy = rng.standard_normal(size).astype(np.float32)
    if lib == "torch":
        import torch
        tx, tdy = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(dy)
        fn = torch.nn.functional.gelu if name == "gelu" else getattr(torch, name)

        def run():
            tx.grad = None
            fn(tx).backward(tdy)
            return tx.grad
        return run
    ops = _ops(lib)
    forward, backward = getattr(ops, name), getattr(ops, name + "_backward")

    def run():
        y = forward(x)
        return backward(dy, y if name == "tanh" else x)
    return run


@register_case("softmax_ce")
def softmax_ce(lib, rows, classes, seed=1):
    """Softmax cross-entropy with integer labels: the mean loss and its gradient."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, classes)).astype(np.float32)
    labels = rng.integers(0, classes, rows).astype(np.int64)
    if lib == "torch":
        import torch
        tl, tlab = torch.from_numpy(logits).requires_grad_(True), torch.from_numpy(labels)

        def run():
            tl.grad = None
            loss = torch.nn.functional.cross_entropy(tl, tlab)
            loss.backward()
            return loss.detach(), tl.grad
        return run
    ops = _ops(lib)
    return lambda: ops.softmax_cross_entropy(logits, labels)


@register_case("adam")
def adam(lib, size, seed=1):
    """One Adam update of `size` float32 parameters in place (returns the parameters)."""
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(np.float32)
    g = rng.standard_normal(size).astype(np.float32)
    if lib == "torch":
        import torch
        tp = torch.nn.Parameter(torch.from_numpy(p))
        tp.grad = torch.from_numpy(g)
        opt = torch.optim.Adam([tp], lr=1e-3)

        def run():
            opt.step()
            return tp.detach()
        return run
    ops = _ops(lib)
    m, v = np.zeros_like(p), np.zeros_like(p)

    def run():
        ops.adam_update(p, g, m, v, step=1, lr=1e-3)
        return p
    return run


@register_case("train")
def train(lib, recipe, samples, seed=0):
    """One training batch of a recipe (train.py), the next one of the epoch at every call; every
    library starts from the same weights, so the first call's loss (batch 0) must agree."""
    try:
        trainer = TRAINERS[lib](recipe, seed)
    except KeyError:
        raise _unknown(lib) from None
    x, y = synthetic_data(samples, seed)
    starts = batch_starts(samples)

    def run():
        i = next(starts)
        return trainer.step(x[i:i + BATCH], y[i:i + BATCH])
    return run
