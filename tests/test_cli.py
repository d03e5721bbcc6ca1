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


@pytest.mark.parametrize("flag, path, words", [
    ("--save", ".", "--save .: Is a directory, not a file"),
    ("--save", "no/such/dir/m.npz", "--save no/such/dir/m.npz: directory no/such/dir does not exist"),
    ("--plot", ".", "--plot .: Is a directory, not a file"),
    ("--plot", "no/such/dir/c.png", "--plot no/such/dir/c.png: directory no/such/dir does not exist"),
    ("--plot", "curves.bmp", "--plot: cannot draw learning curves to 'curves.bmp': matplotlib writes no 'bmp' files"),
])
def test_outputs_that_cannot_be_written_are_usage_errors_before_training(tmp_path, flag, path, words):
    """Checked before any data is loaded: these failed only after the whole run (a traceback,
    the trained model lost), and --plot of a directory wrote '<directory>.png' beside it."""
    if flag == "--plot":
        pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    r = fastnn_cmd(tmp_path, "train", "--dataset", "digits", "--epochs", "1", flag, path, "--no-progress")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"fastnn train: error: {words}") and "Traceback" not in r.stderr, r.stderr
    assert r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()


def test_a_failed_save_still_writes_the_curves_and_exits_1(tmp_path, monkeypatch, capsys):
    """Both outputs are attempted after training; the one that fails is named, the exit code is 1."""
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib")
    import errno

    from fastnn import cli

    def full_disk(model, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fastnn, "save", full_disk)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--threads", "1",
                     "--save", "m.npz", "--plot", "curves", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "fastnn train: error: could not save the model to m.npz: [Errno 28] No space left on device" in err
    assert "test: loss " in out and "learning curves written to curves.png\n" in out  # the real file name
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "m.npz").exists()


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
    # checked before the run (a directory or a missing one failed only after all the suites ran)
    (["bench", "gemm", "--quick", "--json", "."], "--json .: Is a directory, not a file"),
    (["bench", "gemm", "--quick", "--json", "no/dir/r.json"], "--json no/dir/r.json: directory no/dir does not exist"),
])
def test_bench_usage_errors_name_the_bad_value(tmp_path, args, words):
    r = fastnn_cmd(tmp_path, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith(f"fastnn bench: error: {words}") and r.stderr.count("\n") == 1, r.stderr
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, words", [
    (["train", "--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["train", "--seed", "x"], "argument --seed: expected an integer >= 0, got 'x'"),
    (["train", "--limit", "1"], "argument --limit: expected an integer >= 2, got 1: the validation split needs "
                                "at least 2 training samples"),
    (["train", "--limit", "0"], "argument --limit: expected an integer >= 2, got 0"),
])
def test_bad_seed_and_limit_are_argparse_usage_errors(capsys, args, words):
    """Checked by argparse types, in process: no data is loaded, the usage line is the command's."""
    from fastnn import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.startswith("usage: fastnn train ") and f"\nfastnn train: error: {words}" in err


def test_limit_too_small_for_the_stratified_split_is_a_usage_error(tmp_path):
    """--limit 5 on the digits (classes 0-4 once each) used to crash in train_test_split; now it is
    a usage error naming --limit, why, and the next limit that works, which then trains."""
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    from fastnn.data import load_digits
    from fastnn.train_cli import smallest_splittable_limit

    works = smallest_splittable_limit(load_digits().y_train, start=6)
    r = fastnn_cmd(tmp_path, "train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--limit", "5",
                   "--no-progress")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("usage: fastnn train ") and "Traceback" not in r.stderr, r.stderr
    assert ("fastnn train: error: argument --limit: 5 is too small: the first 5 training samples of digits have "
            "only one sample of each of classes 0, 1, 2, 3, 4") in r.stderr
    assert "needs at least 2 of every class present" in r.stderr
    assert f"the smallest --limit above 5 that works for digits is {works}\n" in r.stderr
    assert r.stdout == ""
    r = fastnn_cmd(tmp_path, "train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--limit",
                   str(works), "--no-progress", "--threads", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"train \d+, validation \d+, test 360 images", r.stdout), r.stdout


def test_check_limit_and_the_smallest_limit_that_works():
    """A limit works when every class of the first N labels appears twice and the validation
    part (ceil(10 % of N)) has a sample for each class (train_test_split refuses fewer, as
    scikit-learn's)."""
    from fastnn.train_cli import ArgumentError, check_limit, smallest_splittable_limit

    y = np.array([0, 1] * 6 + [2] * 9 + [3])
    assert smallest_splittable_limit(y) == 11            # 0, 1 twice each from 4, validation 2 from 11
    assert smallest_splittable_limit(y, start=12) == 12
    assert smallest_splittable_limit(y, start=13) == 21  # 2 once at 13; a validation part of 3 from 21
    assert smallest_splittable_limit(y, start=22) is None  # 3 only once, and nothing after it
    assert smallest_splittable_limit(np.array([5, 5])) == 2
    for ok in (11, 12, 21):
        check_limit(ok, y, "toy")
    with pytest.raises(ArgumentError, match=r"^4 is too small: the stratified validation split of the first 4 "
                                            r"training samples of toy \(10%: 1\) needs at least one sample of each "
                                            r"of their 2 classes; the smallest --limit above 4 that works for toy "
                                            r"is 11$") as e:
        check_limit(4, y, "toy")
    assert e.value.flag == "--limit"
    with pytest.raises(ArgumentError, match=r"^13 is too small: .* only one sample of class 2, .*"
                                            r"the smallest --limit above 13 that works for toy is 21$"):
        check_limit(13, y, "toy")
    with pytest.raises(ArgumentError, match=r"only one sample of each of classes 0, 1, and .*; the smallest --limit "
                                            r"above 2 that works for toy is 11$"):
        check_limit(2, y, "toy")
    with pytest.raises(ArgumentError, match=r"class 3, .*present$"):   # no larger limit works: no hint
        check_limit(22, y, "toy")
    with pytest.raises(ArgumentError, match=r"class 3, .*present$"):   # more than the data: all of it
        check_limit(100, y, "toy")


@pytest.mark.parametrize("command", [["train"], ["bench"], ["serve", "model.npz"], ["info"], ["selfcheck"]])
def test_unknown_argument_of_a_command_shows_that_commands_usage(capsys, command):
    from fastnn import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--bogus", "--no-such=1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.startswith(f"usage: fastnn {command[0]} ["), err
    assert err.endswith(f"fastnn {command[0]}: error: unrecognized arguments: --bogus --no-such=1\n"), err


def test_unknown_argument_before_the_command_is_the_top_level_parsers(capsys):
    from fastnn import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--bogus", "info"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("usage: fastnn [-h] COMMAND ...") and "unrecognized arguments: --bogus" in err


def _subparsers():
    import argparse

    from fastnn import cli

    (action,) = [a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("command", ["train", "bench", "serve"])
def test_every_option_has_a_help_text(command):
    for action in _subparsers()[command]._actions:
        assert action.help, f"fastnn {command} {action.option_strings or action.dest}: no help text"


def test_train_help_states_the_real_default_learning_rates():
    from fastnn import train_cli

    (lr,) = [a for a in _subparsers()["train"]._actions if "--lr" in a.option_strings]
    text = re.fullmatch(r"learning rate \(default: (.*)\)", lr.help).group(1)
    stated = {}
    for part in text.split("; "):
        value, names = part.split(" for ")
        for name in re.split(r", | and ", names):
            stated[name] = float(value)
    assert stated == train_cli.DEFAULT_LR


def test_help_of_train_and_bench_prints(tmp_path):
    for command in ("train", "bench"):
        r = fastnn_cmd(tmp_path, command, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: fastnn {command} "), r.stdout + r.stderr
