"""Accuracy parity: the two benchmark recipes (see train.py) trained for the same epochs on
Fashion-MNIST in fastnn and in PyTorch, test accuracy side by side (mean of several seeds).

    python -m fastnn.bench.accuracy --epochs 2 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from .train import BATCH, LR, fastnn_model, torch_model


def _batches(n: int, rng):
    order = rng.permutation(n)
    return [order[i:i + BATCH] for i in range(0, n, BATCH)]


def fastnn_accuracy(recipe: str, splits, epochs: int, seed: int) -> float:
    import fastnn
    from fastnn import nn, optim

    x_train, y_train, x_test, y_test = splits
    fastnn.manual_seed(seed)
    model = fastnn_model(recipe)
    opt = optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        for idx in _batches(len(x_train), rng):
            opt.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx])
            model.backward(loss_fn.backward(), need_dx=False)
            opt.step()
    model.eval()
    pred = np.concatenate([model(x_test[i:i + 1000]).argmax(axis=1) for i in range(0, len(x_test), 1000)])
    return float((pred == y_test).mean())


def torch_accuracy(recipe: str, splits, epochs: int, seed: int) -> float:
    import torch

    x_train, y_train, x_test, y_test = splits
    torch.manual_seed(seed)
    model = torch_model(recipe)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    tx, ty = torch.from_numpy(x_train), torch.from_numpy(y_train)
    model.train()
    for _ in range(epochs):
        for idx in _batches(len(x_train), rng):
            t = torch.from_numpy(idx)
            opt.zero_grad(set_to_none=True)
            loss_fn(model(tx[t]), ty[t]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return float((pred == y_test).mean())


def run(epochs: int = 2, seeds=(0, 1, 2), recipes=("mlp", "cnn"), threads=None):
    import torch

    import fastnn
    from fastnn.data import load_fashion_mnist

    if threads:
        fastnn.set_num_threads(threads)
    torch.set_num_threads(fastnn.get_num_threads())
    splits = load_fashion_mnist(download=False)
    rows = []
    for recipe in recipes:
        row = {"recipe": recipe, "epochs": epochs, "seeds": list(seeds)}
        for name, fn in (("fastnn", fastnn_accuracy), ("torch", torch_accuracy)):
            t0 = time.perf_counter()
            accs = [fn(recipe, splits, epochs, s) for s in seeds]
            row[name] = accs
            row[f"{name}_mean"] = statistics.mean(accs)
            row[f"{name}_seconds"] = time.perf_counter() - t0
        row["difference_pp"] = 100 * (row["fastnn_mean"] - row["torch_mean"])
        rows.append(row)
        print(format_row(row), flush=True)
    return rows


def format_row(r) -> str:
    f = ", ".join(f"{a:.4f}" for a in r["fastnn"])
    t = ", ".join(f"{a:.4f}" for a in r["torch"])
    return (f"{r['recipe']}: fastnn {r['fastnn_mean']:.4f} ({f}) | torch {r['torch_mean']:.4f} ({t}) | "
            f"difference {r['difference_pp']:+.2f} pp | {r['epochs']} epochs")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--recipes", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = run(args.epochs, tuple(args.seeds), tuple(args.recipes), args.threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
