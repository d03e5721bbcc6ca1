"""End-to-end training speed: samples/s for one epoch of the two recipes, fastnn vs PyTorch
(same model, batch, optimizer, threads, same run) vs the NumPy reference implementation.

Recipes (batch 128, Adam lr 1e-3, cross-entropy, 28x28 inputs, 10 classes):
  mlp: 784 -> 512 (tanh) -> 10
  cnn: conv3x3(32, pad 1)-ReLU-maxpool2 -> conv3x3(64, pad 1)-ReLU-maxpool2 -> dense128-ReLU -> dense10

The NumPy column runs the same recipe through ``fastnn.reference`` (the plain-NumPy ops) in a
functional training loop; it is slow, so it is timed over a few batches and reported as samples/s.
"""
from __future__ import annotations

import time

import numpy as np

RECIPES = ("mlp", "cnn")
BATCH = 128
LR = 1e-3


def synthetic_data(n: int, seed: int = 0):
    """Random 28x28 images and labels: speed does not depend on the pixel values."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return x, y


# ------------------------------------------------------------------------------------------
# fastnn, through the layer API (what a user writes)

def fastnn_model(recipe: str):
    from fastnn import nn

    if recipe == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.Tanh(), nn.Linear(512, 10))
    if recipe == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    raise ValueError(f"unknown recipe {recipe!r}; expected one of {RECIPES}")


def fastnn_epoch(recipe: str, x, y, batch: int = BATCH, seed: int = 0) -> float:
    """Train one epoch with fastnn; returns seconds."""
    import fastnn
    from fastnn import nn, optim

    fastnn.manual_seed(seed)
    model = fastnn_model(recipe)
    model.train()
    opt = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for i in range(0, len(x) - batch + 1, batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        opt.zero_grad()
        loss_fn(model(xb), yb)
        # As fit does, and as PyTorch's autograd does for an input that needs no gradient:
        # stop at the first layer with parameters instead of computing dL/dx of the images.
        model.backward(loss_fn.backward(), need_dx=False)
        opt.step()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------
# PyTorch, the same recipes

def torch_model(recipe: str):
    import torch.nn as tnn

    if recipe == "mlp":
        return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 512), tnn.Tanh(), tnn.Linear(512, 10))
    return tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(64 * 7 * 7, 128), tnn.ReLU(), tnn.Linear(128, 10))


def torch_epoch(recipe: str, x, y, batch: int = BATCH, seed: int = 0) -> float:
    import torch

    torch.manual_seed(seed)
    model = torch_model(recipe)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    t0 = time.perf_counter()
    for i in range(0, len(x) - batch + 1, batch):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(tx[i:i + batch]), ty[i:i + batch])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------
# The functional recipe over an ops module (fastnn.reference for the NumPy baseline)

def _init_params(recipe: str, seed: int):
    rng = np.random.default_rng(seed)

    def u(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    if recipe == "mlp":
        return {"w1": u((512, 784), 784), "b1": u((512,), 784), "w2": u((10, 512), 512), "b2": u((10,), 512)}
    return {"c1": u((32, 1, 3, 3), 9), "cb1": u((32,), 9), "c2": u((64, 32, 3, 3), 288), "cb2": u((64,), 288),
            "w1": u((128, 3136), 3136), "b1": u((128,), 3136), "w2": u((10, 128), 128), "b2": u((10,), 128)}


def _dense_backward(ops, dy, x, w):
    """y = x @ w.T + b: returns (dx, dw, db)."""
    return ops.gemm(dy, w), ops.gemm(dy, x, trans_a=True), dy.sum(axis=0)


def functional_step(ops, recipe: str, params: dict, grads: dict, xb, yb) -> float:
    """One forward + backward of the recipe written with `ops` calls; fills grads, returns loss."""
    if recipe == "mlp":
        x = xb.reshape(len(xb), -1)
        h = ops.tanh(ops.gemm(x, params["w1"], trans_b=True, bias=params["b1"]))
        z = ops.gemm(h, params["w2"], trans_b=True, bias=params["b2"])
        loss, dz = ops.softmax_cross_entropy(z, yb)
        dh, grads["w2"], grads["b2"] = _dense_backward(ops, dz, h, params["w2"])
        da = ops.tanh_backward(dh, h)
        _, grads["w1"], grads["b1"] = _dense_backward(ops, da, x, params["w1"])
        return loss
    a1 = ops.conv2d_forward(xb, params["c1"], params["cb1"], 1, 1)
    r1 = ops.relu(a1)
    p1, i1 = ops.max_pool2d_forward(r1, 2)
    a2 = ops.conv2d_forward(p1, params["c2"], params["cb2"], 1, 1)
    r2 = ops.relu(a2)
    p2, i2 = ops.max_pool2d_forward(r2, 2)
    f = p2.reshape(len(xb), -1)
    h = ops.relu(ops.gemm(f, params["w1"], trans_b=True, bias=params["b1"]))
    z = ops.gemm(h, params["w2"], trans_b=True, bias=params["b2"])
    loss, dz = ops.softmax_cross_entropy(z, yb)
    dh, grads["w2"], grads["b2"] = _dense_backward(ops, dz, h, params["w2"])
    dh = ops.relu_backward(dh, h)
    df, grads["w1"], grads["b1"] = _dense_backward(ops, dh, f, params["w1"])
    dr2 = ops.max_pool2d_backward(df.reshape(p2.shape), i2, r2.shape)
    dp1, grads["c2"], grads["cb2"] = ops.conv2d_backward(ops.relu_backward(dr2, a2), p1, params["c2"], 1, 1)
    dr1 = ops.max_pool2d_backward(dp1, i1, r1.shape)
    _, grads["c1"], grads["cb1"] = ops.conv2d_backward(ops.relu_backward(dr1, a1), xb, params["c1"], 1, 1,
                                                       need_dx=False)
    return loss


def functional_train(ops, recipe: str, x, y, batch: int = BATCH, seed: int = 0, max_batches=None) -> tuple:
    """Train with the functional recipe and Adam; returns (seconds, samples trained, last loss)."""
    params = _init_params(recipe, seed)
    slots = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    grads: dict = {}
    loss = float("nan")
    seen = 0
    t0 = time.perf_counter()
    for step, i in enumerate(range(0, len(x) - batch + 1, batch), start=1):
        if max_batches is not None and step > max_batches:
            break
        loss = functional_step(ops, recipe, params, grads, x[i:i + batch], y[i:i + batch])
        for k, p in params.items():
            m, v = slots[k]
            ops.adam_update(p, np.ascontiguousarray(grads[k], dtype=p.dtype), m, v, step=step, lr=LR)
        seen += batch
    return time.perf_counter() - t0, seen, loss


# ------------------------------------------------------------------------------------------

def run(recipes=RECIPES, samples: int = 60_000, reference_batches: int = 10, torch_peer: bool = True,
        threads=None):
    """Samples/s of one epoch per recipe: fastnn, PyTorch, NumPy reference. Returns rows (dicts)."""
    import fastnn
    from fastnn import reference

    if threads is not None:
        fastnn.set_num_threads(threads)
    threads = fastnn.get_num_threads()
    torch = None
    if torch_peer:
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
    x, y = synthetic_data(samples)
    n = (samples // BATCH) * BATCH
    rows = []
    for recipe in recipes:
        # Interleave fastnn and torch epochs (fastnn, torch, fastnn, torch) and keep the best of
        # each, so a disturbance of one epoch does not decide the ratio.
        f_times, t_times = [], []
        for _ in range(2):
            time.sleep(0.2)  # let the other library's worker threads go idle first
            f_times.append(fastnn_epoch(recipe, x, y))
            if torch is not None:
                time.sleep(0.2)
                t_times.append(torch_epoch(recipe, x, y))
        ref_s, ref_n, _ = functional_train(reference, recipe, x, y, max_batches=reference_batches)
        row = {"recipe": recipe, "threads": threads, "samples": n,
               "fastnn_samples_per_s": n / min(f_times),
               "numpy_samples_per_s": ref_n / ref_s}
        if t_times:
            row["torch_samples_per_s"] = n / min(t_times)
            row["fastnn_vs_torch"] = row["fastnn_samples_per_s"] / row["torch_samples_per_s"]
        row["fastnn_vs_numpy"] = row["fastnn_samples_per_s"] / row["numpy_samples_per_s"]
        rows.append(row)
    return rows


def format_rows(rows) -> str:
    head = f"{'recipe':<6} {'fastnn samples/s':>17} {'torch samples/s':>16} {'numpy samples/s':>16} {'vs torch':>9} {'vs numpy':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        t = r.get("torch_samples_per_s")
        vt = r.get("fastnn_vs_torch")
        lines.append(f"{r['recipe']:<6} {r['fastnn_samples_per_s']:>17,.0f} {t if t is None else format(t, ',.0f'):>16} "
                     f"{r['numpy_samples_per_s']:>16,.0f} {('-' if vt is None else f'{vt:.2f}x'):>9} "
                     f"{r['fastnn_vs_numpy']:>8.1f}x")
    return "\n".join(lines)
