"""End-to-end training: a fixed number of batches of the two benchmark recipes (fastnn/bench/train.py:
MLP 784-512(tanh)-10 and the Fashion-MNIST CNN, batch 128, Adam, cross-entropy), fastnn vs the
same model in PyTorch vs the NumPy reference functional recipe, one benchmark group per recipe.

    PYTHONPATH=. pytest benchmarks/test_bench_train.py --benchmark-enable --benchmark-group-by=group \
        --benchmark-columns=min,median,rounds

Every library starts from the same initial weights (train.init_params) on the same synthetic
batches: the tests check that their first losses agree and that the timed batches lower the loss.
For samples/s per epoch with each library in its own process, run ``fastnn bench train``.
"""
import numpy as np
import pytest

from fastnn.bench import train

from conftest import THREADS

# Batches per timed run (the NumPy CNN takes about 0.3 s a batch) and rounds when enabled.
BATCHES = {"mlp": 20, "cnn": 4}
ROUNDS = {"fastnn": 5, "torch": 5, "numpy": 2}


@pytest.fixture(scope="module", params=train.RECIPES)
def recipe(request):
    x, y = train.synthetic_data(BATCHES[request.param] * train.BATCH)
    return request.param, x, y


def _train_batches(trainer, x, y):
    def run():
        for i in range(0, len(x), train.BATCH):
            loss = trainer.step(x[i:i + train.BATCH], y[i:i + train.BATCH])
        return loss
    return run


def _bench(benchmark, lib, trainer, recipe):
    name, x, y = recipe
    benchmark.group = f"train {name}: {BATCHES[name]} batches of {train.BATCH}"
    first = x[:train.BATCH], y[:train.BATCH]
    before = trainer.loss(*first)
    last = benchmark.pedantic(_train_batches(trainer, x, y), rounds=ROUNDS[lib], warmup_rounds=0, iterations=1)
    after = trainer.loss(*first)
    assert np.isfinite(last)
    assert after < before, f"{lib} {name}: the loss on the first batch went from {before} to {after}"
    return before


def test_fastnn(benchmark, recipe):
    before = _bench(benchmark, "fastnn", train.FastnnTrainer(recipe[0]), recipe)
    # The NumPy reference starts from the same weights: its first loss must be fastnn's.
    reference = train.FunctionalTrainer(recipe[0]).loss(recipe[1][:train.BATCH], recipe[2][:train.BATCH])
    assert before == pytest.approx(reference, rel=1e-5)


def test_torch(benchmark, recipe, torch):
    name, x, y = recipe
    fastnn_first = train.FastnnTrainer(name).loss(x[:train.BATCH], y[:train.BATCH])
    before = _bench(benchmark, "torch", train.TorchTrainer(name), recipe)
    assert before == pytest.approx(fastnn_first, rel=1e-5)  # same model, same weights


def test_numpy_reference(benchmark, recipe):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(THREADS, user_api="blas"):
        _bench(benchmark, "numpy", train.FunctionalTrainer(recipe[0]), recipe)
