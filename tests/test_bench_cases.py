"""The case builders of ``fastnn bench`` (fastnn/bench/cases.py) and the training recipes
(fastnn/bench/train.py): every library computes the same thing, so their timings compare."""
import numpy as np
import pytest

from fastnn import ops, reference
from fastnn.bench import cases, train
from fastnn.bench.harness import LIBRARIES, Case, Pool, summarize

pytest.importorskip("threadpoolctl")

TINY = [
    Case("gemm", "gemm NN", {"m": 7, "k": 5, "n": 3}),
    Case("gemm", "gemm TN", {"m": 6, "k": 9, "n": 4, "trans": "TN"}),
    Case("gemm", "gemm NT", {"m": 5, "k": 3, "n": 8, "trans": "NT"}),
    Case("conv2d", "conv 3x3", {"x_shape": (2, 3, 6, 5), "out_channels": 4, "kernel": 3, "padding": 1}),
    Case("conv2d", "conv 1x1", {"x_shape": (2, 3, 4, 4), "out_channels": 2, "kernel": 1, "padding": 0}),
    Case("maxpool2d", "maxpool", {"x_shape": (2, 3, 6, 6)}),
    Case("batchnorm2d", "batchnorm", {"x_shape": (4, 3, 5, 5)}),
    Case("activation", "relu", {"name": "relu", "size": 1000}),
    Case("activation", "tanh", {"name": "tanh", "size": 1000}),
    Case("softmax_ce", "softmax-CE", {"rows": 16, "classes": 10}),
    Case("adam", "adam", {"size": 1000}),
    Case("train", "train mlp", {"recipe": "mlp", "samples": 256}, rtol=1e-4),
    Case("train", "train cnn", {"recipe": "cnn", "samples": 128}, rtol=1e-4),
]


def test_every_library_agrees_on_every_case():
    """In the workers: each peer's first result matches fastnn's (the harness raises if not)."""
    with Pool(LIBRARIES, threads=1) as pool:  # without torch installed, its worker drops out
        for case in TINY:
            c = pool.compare(case, rounds=1, block=1e-3)
            assert set(c.seconds) == set(pool.libs), case.label


def test_the_check_would_catch_a_wrong_kernel():
    """The summaries the harness compares see a small error in one element."""
    from fastnn.bench.harness import BenchError, check_summaries

    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    b = a.copy()
    b[0, 0] += 0.1  # flat position 0 is always sampled
    check_summaries("c", "fastnn", summarize(a), "numpy", summarize(a.copy()), 1e-4)
    with pytest.raises(BenchError, match="output 0 value 0"):
        check_summaries("c", "fastnn", summarize(a), "numpy", summarize(b), 1e-4)


def test_unknown_library_is_an_error():
    with pytest.raises(ValueError, match="unknown library 'jax'"):
        cases.gemm("jax", 2, 2, 2)


@pytest.mark.parametrize("recipe", train.RECIPES)
def test_recipes_agree_in_fastnn_and_the_reference(recipe):
    """Same initial weights, same batches: the layer API, the functional recipe over fastnn.ops
    and over the NumPy reference follow the same losses for a few Adam steps."""
    x, y = train.synthetic_data(3 * train.BATCH)
    trainers = [train.FastnnTrainer(recipe), train.FunctionalTrainer(recipe, ops=ops),
                train.FunctionalTrainer(recipe, ops=reference)]
    for i in range(0, len(x), train.BATCH):
        losses = [t.step(x[i:i + train.BATCH], y[i:i + train.BATCH]) for t in trainers]
        np.testing.assert_allclose(losses, losses[0], rtol=1e-4)
    assert np.isfinite(losses[0])


def test_unknown_recipe_is_an_error():
    with pytest.raises(ValueError, match="unknown recipe 'rnn'"):
        train.init_params("rnn")
