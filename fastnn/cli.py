"""The ``fastnn`` command line: ``info``, ``selfcheck``, ``train``, ``bench``, ``serve``."""
from __future__ import annotations

import argparse
import sys

MODELS = ("mlp", "cnn", "resnet")
DATASETS = ("auto", "digits", "mnist", "fashion-mnist", "cifar10")
OPTIMIZERS = ("adam", "adamw", "sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adadelta", "radam")
BENCH_SUITES = ("gemm", "conv", "layers", "train", "all")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text}")
    return value


# ------------------------------------------------------------------------------------------
# info / selfcheck

def cmd_info(args) -> int:
    from . import show_config

    show_config()
    return 0


def cmd_selfcheck(args) -> int:
    from . import _selfcheck

    failures = _selfcheck.run(verbose=True)
    print(f"selfcheck: {_selfcheck.count_checks() - failures} passed, {failures} failed")
    return 1 if failures else 0


# ------------------------------------------------------------------------------------------
# train

def cmd_train(args) -> int:
    from . import train_cli

    return train_cli.main(args)


# ------------------------------------------------------------------------------------------
# bench

def cmd_bench(args) -> int:
    from .bench import runner
    from .bench.harness import BenchError

    try:
        return runner.main(args)
    except BenchError as e:
        print(f"fastnn bench: error: {e}", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------------------
# serve

def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535, got {value}")
    return value


def cmd_serve(args) -> int:
    from . import serve

    if args.threads is not None:
        from . import set_num_threads

        set_num_threads(args.threads)
    return serve.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: readable deep learning with fast native kernels")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="print version, compiler, ISA, threads, CUDA availability")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("selfcheck", help="check every native kernel against the NumPy reference")
    p.set_defaults(func=cmd_selfcheck)

    p = sub.add_parser("train", help="train a model on a dataset, with progress, learning curves and a saved model")
    p.add_argument("--model", choices=MODELS, default="cnn", help="architecture (default: cnn)")
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="dataset (default: auto = Fashion-MNIST if found locally, else the 8x8 digits)")
    p.add_argument("--data-path", default=None, help="directory holding the dataset files")
    p.add_argument("--epochs", type=_positive_int, default=2)
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: per optimizer)")
    p.add_argument("--augment", action="store_true", help="random crops (and flips where they make sense)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to train: cpu (native kernels) or cuda (CuPy; needs a CUDA device)")
    p.add_argument("--save", metavar="PATH", default=None, help="save the trained model here (.npz)")
    p.add_argument("--plot", metavar="PATH", default=None, help="draw the learning curves to this PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=_positive_int, default=None, help="native kernel threads (default: all cores)")
    p.add_argument("--limit", type=_positive_int, default=None, help="use only the first N training samples")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("bench", help="benchmark fastnn against NumPy and PyTorch and print one table per suite")
    p.add_argument("suite", nargs="*", choices=BENCH_SUITES, default="all",
                   help="suites to run (default: all); each library runs in its own process")
    p.add_argument("--quick", action="store_true", help="fewer shapes and rounds (about a minute)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for fastnn, NumPy's BLAS and PyTorch alike (default: all cores)")
    p.add_argument("--only", metavar="TEXT", nargs="+", default=None,
                   help="run only the cases whose name contains one of these texts (e.g. conv3x3 784 mlp)")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the NumPy worker (by default it starts "
                        "without them, so NumPy uses its best kernel)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("serve", help="serve a saved model's predictions over HTTP (JSON)")
    p.add_argument("model", help="a model file written by fastnn.save / fastnn train --save")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--threads", type=_positive_int, default=None, help="native kernel threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="don't log each request")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
