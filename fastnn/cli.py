"""The ``fastnn`` command line: ``info``, ``selfcheck``, ``train``, ``bench``, ``serve``."""
from __future__ import annotations

import argparse
import functools
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


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _sample_limit(text: str) -> int:
    """--limit: the validation split needs at least 2 samples (train_cli checks the classes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {value}: the validation split "
                                         "needs at least 2 training samples")
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

def cmd_train(args, parser=None) -> int:
    from . import train_cli

    return train_cli.main(args, parser)


# ------------------------------------------------------------------------------------------
# bench

def cmd_bench(args) -> int:
    from .bench import runner
    from .bench.harness import BenchError, BenchUsageError

    try:
        return runner.main(args)
    except BenchError as e:
        print(f"fastnn bench: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, BenchUsageError) else 1


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


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser that reports its own unrecognized arguments.

    Plain argparse hands a subcommand's leftovers to the top-level parser, whose error shows
    ``usage: fastnn [-h] COMMAND ...``, which says nothing about the options the command
    takes. Here ``fastnn train --bogus`` prints ``fastnn train``'s usage and exits 2.
    """

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras))
        return namespace, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: readable deep learning with fast native kernels")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    p = sub.add_parser("info", help="print version, compiler, ISA, threads, CUDA availability")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("selfcheck", help="check every native kernel against the NumPy reference")
    p.set_defaults(func=cmd_selfcheck)

    p = sub.add_parser("train", help="train a model on a dataset, with progress, learning curves and a saved model",
                       description="Train a model; 10% of the training samples (stratified by class) are held out "
                                   "for validation, and the dataset's test split gives the final accuracy.")
    p.add_argument("--model", choices=MODELS, default="cnn", help="architecture (default: cnn)")
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="dataset (default: auto = Fashion-MNIST if found on disk, never downloaded; else "
                        "scikit-learn's 8x8 digits); mnist, fashion-mnist and cifar10 are downloaded when "
                        "not found on disk")
    p.add_argument("--data-path", metavar="DIR", default=None,
                   help="directory to look in first for the dataset files (DIR itself, DIR/<dataset>, and for "
                        "the MNISTs torchvision's DIR/MNIST/raw or DIR/FashionMNIST/raw) and to download "
                        "into (DIR/<dataset>); not used by digits")
    p.add_argument("--epochs", type=_positive_int, default=2, help="passes over the training set (default: 2)")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="samples per batch (default: 128)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                   help="optimizer (default: adam); momentum and nesterov are SGD with momentum 0.9")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 0.001 for adam, adamw, radam and rmsprop; 0.05 for sgd, "
                        "momentum and nesterov; 0.01 for adagrad; 1.0 for adadelta)")
    p.add_argument("--augment", action="store_true",
                   help="random crops of the training images, plus random horizontal flips for "
                        "fashion-mnist and cifar10 (not for digits or mnist)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to train: cpu (native kernels) or cuda (CuPy; needs a CUDA device)")
    p.add_argument("--save", metavar="PATH", default=None,
                   help="save the trained model here (an .npz archive, loadable with fastnn.load)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="draw the learning curves to this image (format from the extension: .png, .svg, "
                        ".pdf, ...; PNG without one); needs matplotlib")
    p.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="seed (an integer >= 0) of the weight initialisation, dropout, shuffling, "
                        "validation split and augmentation (default: 0)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="native kernel threads (default: $FASTNN_NUM_THREADS, else all cores)")
    p.add_argument("--limit", metavar="N", type=_sample_limit, default=None,
                   help="use only the first N training samples (before the validation split; the test set "
                        "is not limited). The stratified split needs at least 2 samples of every class "
                        "among them: a smaller N is a usage error (exit 2) that names the next N that "
                        "works")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the line per epoch stays)")
    p.set_defaults(func=functools.partial(cmd_train, parser=p))

    p = sub.add_parser("bench", help="benchmark fastnn against NumPy and PyTorch and print one table per suite")
    p.add_argument("suite", nargs="*", choices=BENCH_SUITES, default="all",
                   help="suites to run (default: all); each library (fastnn, NumPy, PyTorch if installed) "
                        "runs in its own worker process, one at a time")
    p.add_argument("--quick", action="store_true",
                   help="fewer gemm and conv cases and fewer, shorter timed rounds (the train suite also "
                        "cycles through 8,192 samples instead of 60,000)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write the results as JSON")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for fastnn, NumPy's BLAS and PyTorch alike (default: $FASTNN_NUM_THREADS, "
                        "else all cores)")
    p.add_argument("--only", metavar="TEXT", nargs="+", default=None,
                   help="run only the cases whose name contains one of these texts, ignoring case "
                        "(e.g. conv3x3 784 mlp)")
    p.add_argument("--keep-blas-env", action="store_true",
                   help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the NumPy worker (by default it starts "
                        "without them, so NumPy uses its best kernel)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("serve", help="serve a saved model's predictions over HTTP (JSON)")
    p.add_argument("model", help="a model file written by fastnn.save / fastnn train --save")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on, IPv4 or IPv6 (e.g. ::1) (default: 127.0.0.1)")
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
