"""The fastnn command: train and bench work as the README says; bad arguments are usage errors."""
import json
import re

import numpy as np
import pytest

import fastnn
from test_config import run_python


def fastnn_cmd(tmp_path, *args):
    return run_python(["-m", "fastnn", *args], tmp_path)


@pytest.mark.parametrize("args, words", [
    (["train", "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
    (["train", "--model", "transformer"], "invalid choice: 'transformer'"),
    (["train", "--lr", "-1"], "--lr: expected a positive finite number, got -1"),
    (["train", "--dataset", "imagenet"], "invalid choice: 'imagenet'"),
    (["bench", "everything"], "invalid choice: 'everything'"),
    (["bench", "--threads", "0"], "--threads: expected a positive integer, got 0"),
    (["train", "--save", "/no/such/dir/model.npz"], "does not exist"),
])
def test_bad_arguments_are_usage_errors(tmp_path, args, words):
    r = fastnn_cmd(tmp_path, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert words in r.stderr


def test_train_on_cuda_without_a_device_says_so(tmp_path):
    if fastnn.cuda.available():
        pytest.skip("a CUDA device is present")
    r = fastnn_cmd(tmp_path, "train", "--device", "cuda", "--dataset", "mnist", "--data-path", str(tmp_path))
    assert r.returncode == 2, r.stdout + r.stderr
    # one line, CuPy's reason included, and before any data is looked for (mnist is not in
    # tmp_path: loading it first would have failed differently or tried a download)
    assert re.fullmatch(r"fastnn train: error: --device cuda: no CUDA device found \(CuPy: [^\n]+\)\n", r.stderr), r.stderr
    assert r.stdout == ""


def test_train_saves_a_model_that_loads_and_plots_curves(tmp_path):
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    model_path, plot_path = tmp_path / "m.npz", tmp_path / "curves.png"
    r = fastnn_cmd(tmp_path, "train", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--seed", "1",
                   "--save", str(model_path), "--plot", str(plot_path), "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "dataset: 8x8 digits bundled with scikit-learn" in out
    assert "epoch 1/2:" in out and "epoch 2/2:" in out and "samples/s" in out
    test_line = next(line for line in out.splitlines() if line.startswith("test:"))
    accuracy = float(test_line.rsplit("accuracy", 1)[1])
    assert accuracy > 0.5, test_line  # two epochs of an MLP on the digits: far above chance (0.1)
    assert plot_path.stat().st_size > 1000 and plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = fastnn.load(model_path)
    from fastnn.data import load_digits

    x_test, y_test = load_digits()[2:]
    assert np.mean(model.predict(x_test).argmax(axis=1) == y_test) == pytest.approx(accuracy, abs=1e-4)


def test_bench_quick_prints_the_tables_and_writes_json(tmp_path):
    """The real path of every suite (pools of worker processes, tables, JSON) on one case each."""
    out = tmp_path / "bench.json"
    # --keep-blas-env: tests never drop the OpenBLAS overrides this machine's environment sets.
    r = fastnn_cmd(tmp_path, "bench", "gemm", "layers", "train", "--quick", "--threads", "1",
                   "--only", "128x512x10", "relu", "mlp", "--keep-blas-env", "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("machine: ") and "| threads 1 |" in r.stdout and "NumPy BLAS: " in r.stdout
    assert "128x512x10 NN (output layer)" in r.stdout and "relu fwd+bwd" in r.stdout and "\nmlp " in r.stdout
    assert "vs numpy (range)" in r.stdout
    result = json.loads(out.read_text())
    assert result["threads"] == 1 and set(result["load_average"]) == {"gemm", "layers", "train"}
    (gemm_row,) = result["gemm"]["tables"]["1"]
    (layer_row,) = result["layers"]
    (train_row,) = result["train"]
    assert gemm_row["shape"].startswith("128x512x10") and layer_row["op"] == "relu fwd+bwd"
    assert train_row["recipe"] == "mlp" and train_row["fastnn_samples_per_s"] > 0
    for row in (gemm_row, layer_row, train_row):
        assert set(row["preempted_per_s"]) >= {"fastnn", "numpy"}
    for value, spread in [(gemm_row["fastnn/numpy"], gemm_row["fastnn/numpy_range"]),
                          (layer_row["vs_numpy"], layer_row["vs_numpy_range"]),
                          (train_row["fastnn_vs_numpy"], train_row["fastnn_vs_numpy_range"])]:
        assert 0 < spread[0] <= value <= spread[1]


@pytest.mark.parametrize("args, words", [
    (["bench", "--only", "no-such-case"], "--only 'no-such-case' matches no case of the suites gemm, conv, layers, train"),
])
def test_bench_errors_name_the_bad_value(tmp_path, args, words):
    r = fastnn_cmd(tmp_path, *args)
    assert r.returncode == 1 and words in r.stderr, r.stderr
