"""End-to-end training speed: samples/s of the two recipes, fastnn vs PyTorch (same model, same
initial weights, batch, optimizer, threads, same run) vs the NumPy reference implementation.

Recipes (batch 128, Adam lr 1e-3, cross-entropy, 28x28 inputs, 10 classes):
  mlp: 784 -> 512 (tanh) -> 10
  cnn: conv3x3(32, pad 1)-ReLU-maxpool2 -> conv3x3(64, pad 1)-ReLU-maxpool2 -> dense128-ReLU -> dense10

The NumPy column runs the same recipe through ``fastnn.reference`` (the plain-NumPy ops) in a
functional training loop (:class:`FunctionalTrainer`). Each library trains in its own worker
process (``fastnn.bench.harness``) on the same 60,000 synthetic samples, batch after batch
through the epoch; the harness times blocks of consecutive batches in interleaved rounds, so the
slow NumPy recipe is simply timed over fewer batches. Samples/s = batch / median seconds per batch.
"""
from __future__ import annotations

import itertools

import numpy as np

RECIPES = ("mlp", "cnn")
BATCH = 128
LR = 1e-3
EPOCH = 60_000


def synthetic_data(n: int, seed: int = 0):
    """n 28x28 images in [0, 1] and their labels: a fixed random template per class plus noise.
    Speed does not depend on the pixels; a learnable task lets a few batches lower the loss."""
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    x *= 0.5
    x += 0.5 * templates[y]
    return x, y


def init_params(recipe: str, seed: int = 0) -> dict:
    """The recipe's initial weights (uniform, bound 1/sqrt(fan_in)), in layer order, as float32
    arrays: every library starts from these, so their first losses must agree."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; expected one of {RECIPES}")
    rng = np.random.default_rng(seed)

    def u(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    if recipe == "mlp":
        return {"w1": u((512, 784), 784), "b1": u((512,), 784), "w2": u((10, 512), 512), "b2": u((10,), 512)}
    return {"c1": u((32, 1, 3, 3), 9), "cb1": u((32,), 9), "c2": u((64, 32, 3, 3), 288), "cb2": u((64,), 288),
            "w1": u((128, 3136), 3136), "b1": u((128,), 3136), "w2": u((10, 128), 128), "b2": u((10,), 128)}


def batch_starts(samples: int, batch: int = BATCH):
    """First index of every full batch of an epoch, cycling over epochs."""
    if samples < batch:
        raise ValueError(f"need at least one batch of {batch} samples; received: samples={samples}")
    return itertools.cycle(range(0, samples - batch + 1, batch))


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


class FastnnTrainer:
    """The recipe as a fastnn model with the shared initial weights; ``step`` trains one batch."""

    def __init__(self, recipe: str, seed: int = 0):
        from fastnn import nn, optim

        self.model = fastnn_model(recipe)
        for p, value in zip(self.model.parameters(), init_params(recipe, seed).values()):
            p.data[...] = value
        self.model.train()
        self.opt = optim.Adam(self.model.parameters(), lr=LR)
        self.loss_fn = nn.CrossEntropyLoss()

    def step(self, xb, yb) -> float:
        """One batch: forward, loss, backward, Adam. Returns the loss before the update."""
        self.opt.zero_grad()
        loss = self.loss_fn(self.model(xb), yb)
        # As fit does, and as PyTorch's autograd does for an input that needs no gradient:
        # stop at the first layer with parameters instead of computing dL/dx of the images.
        self.model.backward(self.loss_fn.backward(), need_dx=False)
        self.opt.step()
        return float(loss)

    def loss(self, xb, yb) -> float:
        return float(self.loss_fn(self.model(xb), yb))


# ------------------------------------------------------------------------------------------
# PyTorch, the same recipes

def torch_model(recipe: str):
    import torch.nn as tnn

    if recipe == "mlp":
        return tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 512), tnn.Tanh(), tnn.Linear(512, 10))
    if recipe == "cnn":
        return tnn.Sequential(
            tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Flatten(), tnn.Linear(64 * 7 * 7, 128), tnn.ReLU(), tnn.Linear(128, 10))
    raise ValueError(f"unknown recipe {recipe!r}; expected one of {RECIPES}")


class TorchTrainer:
    """The recipe in PyTorch with the same initial weights; ``step`` takes NumPy batches."""

    def __init__(self, recipe: str, seed: int = 0):
        import torch

        self.torch = torch
        self.model = torch_model(recipe)
        with torch.no_grad():
            for p, value in zip(self.model.parameters(), init_params(recipe, seed).values()):
                p.copy_(torch.from_numpy(value))
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def step(self, xb, yb) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.torch.from_numpy(xb)), self.torch.from_numpy(yb))
        loss.backward()
        self.opt.step()
        return loss.item()

    def loss(self, xb, yb) -> float:
        with self.torch.no_grad():
            return self.loss_fn(self.model(self.torch.from_numpy(xb)), self.torch.from_numpy(yb)).item()


# ------------------------------------------------------------------------------------------
# The functional recipe over an ops module (fastnn.reference for the NumPy baseline)

def _dense_backward(ops, dy, x, w):
    """y = x @ w.T + b: returns (dx, dw, db)."""
    return ops.gemm(dy, w), ops.gemm(dy, x, trans_a=True), dy.sum(axis=0)


def functional_forward(ops, recipe: str, params: dict, xb):
    """The recipe's forward pass written with `ops` calls: (logits, what backward needs)."""
    if recipe == "mlp":
        x = xb.reshape(len(xb), -1)
        h = ops.tanh(ops.gemm(x, params["w1"], trans_b=True, bias=params["b1"]))
        return ops.gemm(h, params["w2"], trans_b=True, bias=params["b2"]), (x, h)
    a1 = ops.conv2d_forward(xb, params["c1"], params["cb1"], 1, 1)
    r1 = ops.relu(a1)
    p1, i1 = ops.max_pool2d_forward(r1, 2)
    a2 = ops.conv2d_forward(p1, params["c2"], params["cb2"], 1, 1)
    r2 = ops.relu(a2)
    p2, i2 = ops.max_pool2d_forward(r2, 2)
    f = p2.reshape(len(xb), -1)
    h = ops.relu(ops.gemm(f, params["w1"], trans_b=True, bias=params["b1"]))
    return ops.gemm(h, params["w2"], trans_b=True, bias=params["b2"]), (xb, a1, r1, i1, p1, a2, r2, i2, p2, f, h)


def functional_step(ops, recipe: str, params: dict, grads: dict, xb, yb) -> float:
    """One forward + backward of the recipe written with `ops` calls; fills grads, returns loss."""
    z, saved = functional_forward(ops, recipe, params, xb)
    loss, dz = ops.softmax_cross_entropy(z, yb)
    if recipe == "mlp":
        x, h = saved
        dh, grads["w2"], grads["b2"] = _dense_backward(ops, dz, h, params["w2"])
        da = ops.tanh_backward(dh, h)
        _, grads["w1"], grads["b1"] = _dense_backward(ops, da, x, params["w1"])
        return float(loss)
    xb, a1, r1, i1, p1, a2, r2, i2, p2, f, h = saved
    dh, grads["w2"], grads["b2"] = _dense_backward(ops, dz, h, params["w2"])
    dh = ops.relu_backward(dh, h)
    df, grads["w1"], grads["b1"] = _dense_backward(ops, dh, f, params["w1"])
    dr2 = ops.max_pool2d_backward(df.reshape(p2.shape), i2, r2.shape)
    dp1, grads["c2"], grads["cb2"] = ops.conv2d_backward(ops.relu_backward(dr2, a2), p1, params["c2"], 1, 1)
    dr1 = ops.max_pool2d_backward(dp1, i1, r1.shape)
    _, grads["c1"], grads["cb1"] = ops.conv2d_backward(ops.relu_backward(dr1, a1), xb, params["c1"], 1, 1,
                                                       need_dx=False)
    return float(loss)


class FunctionalTrainer:
    """The recipe as plain functions over an ops module, with Adam; the NumPy baseline uses
    ``fastnn.reference`` (the default)."""

    def __init__(self, recipe: str, seed: int = 0, ops=None):
        if ops is None:
            from fastnn import reference as ops
        self.ops, self.recipe = ops, recipe
        self.params = init_params(recipe, seed)
        self.slots = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self.grads: dict = {}
        self.steps = 0

    def step(self, xb, yb) -> float:
        loss = functional_step(self.ops, self.recipe, self.params, self.grads, xb, yb)
        self.steps += 1
        for k, p in self.params.items():
            m, v = self.slots[k]
            self.ops.adam_update(p, np.ascontiguousarray(self.grads[k], dtype=p.dtype), m, v, step=self.steps, lr=LR)
        return loss

    def loss(self, xb, yb) -> float:
        z, _ = functional_forward(self.ops, self.recipe, self.params, xb)
        return float(self.ops.softmax_cross_entropy(z, yb)[0])


TRAINERS = {"fastnn": FastnnTrainer, "torch": TorchTrainer, "numpy": FunctionalTrainer}


# ------------------------------------------------------------------------------------------
# The suite

def cases(recipes=RECIPES, quick: bool = False):
    """One harness case per recipe: a call trains the next batch of the epoch."""
    from .harness import Case

    samples = 8192 if quick else EPOCH
    # Blocks of consecutive batches; in a full run fastnn's rounds add up to about one epoch.
    block = {"mlp": 0.1, "cnn": 0.5} if quick else {"mlp": 0.3, "cnn": 3.0}
    return [Case("train", recipe, {"recipe": recipe, "samples": samples}, rtol=1e-4, block=block[recipe],
                 meta={"recipe": recipe, "samples": samples}) for recipe in recipes]


def run(pool, recipes=RECIPES, quick: bool = False, rounds=None, progress=None):
    """Samples/s per recipe: fastnn, PyTorch (if in the pool), NumPy reference. Returns rows (dicts)."""
    from .machine import preemption_rates

    rounds = rounds or (3 if quick else 5)
    rows = []
    for case in cases(recipes, quick):
        c = pool.compare(case, rounds=rounds, block=case.block)
        sps = {lib: BATCH / s for lib, s in c.seconds.items()}
        row = {"recipe": case.meta["recipe"], "threads": pool.threads, "samples": case.meta["samples"],
               "batch": BATCH, "rounds": rounds,
               "batches_timed": {lib: n * rounds for lib, n in c.calls.items()},
               "preempted_per_s": preemption_rates(c),
               "fastnn_samples_per_s": sps["fastnn"],
               "torch_samples_per_s": sps.get("torch"),
               "numpy_samples_per_s": sps.get("numpy")}
        for peer in ("torch", "numpy"):
            row[f"fastnn_vs_{peer}"] = c.ratios.get(peer)
            row[f"fastnn_vs_{peer}_range"] = list(c.ratio_ranges[peer]) if peer in c.ratios else None
        rows.append(row)
        if progress:
            progress(row)
    return rows


def _ratio(value, spread, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}x ({spread[0]:.{digits}f}-{spread[1]:.{digits}f})"


def format_rows(rows) -> str:
    head = (f"{'recipe':<6} {'fastnn samples/s':>17} {'torch samples/s':>16} {'numpy samples/s':>16} "
            f"{'vs torch (range)':>20} {'vs numpy (range)':>20}")
    lines = [head, "-" * len(head)]
    for r in rows:
        t, n = r.get("torch_samples_per_s"), r.get("numpy_samples_per_s")
        lines.append(f"{r['recipe']:<6} {r['fastnn_samples_per_s']:>17,.0f} {'-' if t is None else format(t, ',.0f'):>16} "
                     f"{'-' if n is None else format(n, ',.0f'):>16} "
                     f"{_ratio(r.get('fastnn_vs_torch'), r.get('fastnn_vs_torch_range'), 2):>20} "
                     f"{_ratio(r.get('fastnn_vs_numpy'), r.get('fastnn_vs_numpy_range'), 1):>20}")
    from .machine import disturbance_note

    note = disturbance_note(rows, lambda r: r["recipe"])
    return "\n".join(lines + ([note] if note else []))
