"""The code in README.md and docs/*.md runs as written.

README's API tour is one session: its blocks run in order in one namespace, as a user pasting
them one after another would. The self-contained examples of docs/api.md and docs/data.md run
alone. Either way on a small synthetic stand-in for Fashion-MNIST (the same shapes and dtypes
as load_fashion_mnist returns, 256 train / 64 test images), so the blocks' few epochs take
seconds and no dataset or network is needed; the accuracy the README quotes is checked by
tests/test_train_fashion_mnist.py on the real data. The other docs/api.md blocks are fragments
of a larger program (a `...` training loop, a `model` or `x` from earlier text) and are not run.
"""
import re
from pathlib import Path

import numpy as np
import pytest

import fastnn.data

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in FENCE.finditer(text)]


def small_fashion(*args, **kwargs):
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 10, 256), rng.integers(0, 10, 64)
    x_train, x_test = (rng.random((len(y), 1, 28, 28), dtype=np.float32) for y in (y_train, y_test))
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """Blocks write their files (curves.png, cnn.npz ...) into a fresh directory, and read data
    from the stand-in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fastnn.data, "load_fashion_mnist", small_fashion)
    pytest.importorskip("matplotlib")  # the tour plots learning curves
    return tmp_path


def run_block(code, namespace, where):
    try:
        exec(compile(code, where, "exec"), namespace)
    except Exception as e:  # report which block of which file broke
        raise AssertionError(f"{where}: {type(e).__name__}: {e}") from e


def test_readme_api_tour_runs_in_order(docs_env):
    blocks = python_blocks("README.md")
    assert len(blocks) >= 3, "README.md lost its code blocks"
    namespace = {"__name__": "__readme__"}
    for line, code in blocks:
        run_block(code, namespace, f"README.md:{line}")
    # what the blocks say they leave behind
    assert (docs_env / "curves.png").stat().st_size > 0
    assert (docs_env / "cnn.npz").stat().st_size > 0
    probs = namespace["probs"]
    assert probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert namespace["y"].shape == (8, 4, 16, 16)


# (file, first line of the block): the blocks of docs/ that run on their own
STANDALONE = [("docs/api.md", "fastnn.manual_seed(0)"), ("docs/api.md", "F.conv2d(x, w, padding=\"same\")"),
              ("docs/api.md", "pad_sequence(seqs, batch_first=True)"), ("docs/api.md", "from fastnn.optim import Adafactor"),
              ("docs/data.md", "load_fashion_mnist()")]


@pytest.mark.parametrize("name, marker", STANDALONE, ids=[f"{n}:{m[:24]}" for n, m in STANDALONE])
def test_docs_examples_run(docs_env, name, marker):
    found = [(line, code) for line, code in python_blocks(name) if marker in code]
    assert len(found) == 1, f"{name}: {len(found)} python blocks contain {marker!r}"
    line, code = found[0]
    run_block(code, {"__name__": "__docs__"}, f"{name}:{line}")
