"""``fastnn train``: train a model on a dataset, from the command line.

Prints which dataset it used and where it came from, a progress bar per epoch (loss and
samples/s), a line per epoch (train / validation loss and accuracy), the final test accuracy;
saves the model (``--save``) and draws the learning curves (``--plot``).
"""
from __future__ import annotations

import math
import os
import sys
import time

from .training import Callback, plot_destination

DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "radam": 1e-3, "sgd": 0.05, "momentum": 0.05, "nesterov": 0.05,
              "rmsprop": 1e-3, "adagrad": 0.01, "adadelta": 1.0}


VALIDATION_FRACTION = 0.1   # of the (possibly --limit-ed) training samples, stratified by class


class UsageError(Exception):
    """A problem with the command's arguments or environment that the user can fix (exit 2)."""


class ArgumentError(UsageError):
    """A UsageError about one option's value: reported as argparse does, with the command's usage
    and ``argument --flag: ...``."""

    def __init__(self, flag: str, message: str):
        super().__init__(message)
        self.flag = flag


def _validation_count(n: int) -> int:
    """The stratified validation split's size for n samples (train_test_split's rounding: up)."""
    return math.ceil(VALIDATION_FRACTION * n)


def smallest_splittable_limit(labels, start: int = 2):
    """The smallest N >= start whose first N labels can be split (stratified) into train and
    validation: every class present at least twice, and a validation part of at least one
    sample per class; None if no N up to len(labels) does."""
    counts = {}
    singletons = 0
    for n, label in enumerate(labels.tolist(), 1):
        seen = counts.get(label, 0)
        counts[label] = seen + 1
        singletons += 1 if seen == 0 else -1 if seen == 1 else 0
        if n >= start and singletons == 0 and _validation_count(n) >= len(counts):
            return n
    return None


def check_limit(limit: int, y_train, dataset: str) -> None:
    """ArgumentError unless the first ``limit`` training labels can be split (stratified) into
    train and validation: at least 2 samples, at least 2 of every class among them, and a
    validation part with room for every class."""
    import numpy as np

    head = y_train[:limit]
    classes, counts = np.unique(head, return_counts=True)
    n_val = _validation_count(len(head))
    if len(head) >= 2 and counts.min() >= 2 and n_val >= len(classes):
        return
    lonely = [int(c) for c in classes[counts < 2]]
    if lonely:
        which = f"class {lonely[0]}" if len(lonely) == 1 else f"each of classes {', '.join(map(str, lonely))}"
        why = (f"the first {len(head)} training samples of {dataset} have only one sample of {which}, and the "
               f"stratified validation split ({VALIDATION_FRACTION:.0%} of them) needs at least 2 of every class "
               "present")
    else:
        why = (f"the stratified validation split of the first {len(head)} training samples of {dataset} "
               f"({VALIDATION_FRACTION:.0%}: {n_val}) needs at least one sample of each of their "
               f"{len(classes)} classes")
    fix = smallest_splittable_limit(y_train, start=limit + 1)
    hint = f"; the smallest --limit above {limit} that works for {dataset} is {fix}" if fix is not None else ""
    raise ArgumentError("--limit", f"{limit} is too small: {why}{hint}")


def load_dataset(name: str, path=None):
    """(splits, description) for a --dataset value; 'auto' prefers Fashion-MNIST on disk."""
    from fastnn import data

    if name == "auto":
        try:
            splits, where = data.locate_and_load("fashion-mnist", path, download=False)
            return splits, "fashion-mnist", f"Fashion-MNIST from {where} (found on disk, no download)"
        except data.DatasetNotFoundError:
            pass
        try:
            splits = data.load_digits()
        except ImportError:
            raise UsageError("no dataset available offline: Fashion-MNIST is not on disk and scikit-learn "
                             "(for the 8x8 digits) is not installed. Install one of: "
                             "`pip install 'fastnn[digits]'`, or Debian's `dataset-fashion-mnist`, or pass "
                             "--dataset mnist/fashion-mnist/cifar10 to download") from None
        return splits, "digits", "8x8 digits bundled with scikit-learn (Fashion-MNIST not found on disk)"
    if name == "digits":
        return data.load_digits(), "digits", "8x8 digits bundled with scikit-learn"
    splits, where = data.locate_and_load(name, path, download=True)
    return splits, name, f"{name} from {where}"


def build_model(kind: str, input_shape, classes: int):
    """The three CLI architectures, sized from the input shape (C, H, W)."""
    from fastnn import nn

    c, h, w = input_shape
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(256, classes))
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, classes))
    if kind == "resnet":
        def block(cin, cout):
            body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout))
            shortcut = None if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))
            return nn.Residual(body, shortcut)
        return nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            block(32, 32), nn.ReLU(), nn.MaxPool2d(2),
            block(32, 64), nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(64, classes))
    raise UsageError(f"unknown model {kind!r}")


def build_optimizer(name: str, params, lr: float):
    from fastnn import optim

    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "adamw":
        return optim.AdamW(params, lr=lr)
    if name == "radam":
        return optim.RAdam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr)
    raise UsageError(f"unknown optimizer {name!r}")


def augmentation(dataset: str, seed: int):
    """Random crops (padding 1 px on the 8x8 digits, 2 px on MNIST and Fashion-MNIST, 4 px on
    CIFAR-10); horizontal flips only where a mirror image is the same class (Fashion-MNIST,
    CIFAR-10; not digits or MNIST)."""
    from fastnn.data import transforms as T

    pad = 1 if dataset == "digits" else 2 if dataset in ("mnist", "fashion-mnist") else 4
    steps = [T.RandomCrop(None, padding=pad, seed=seed)]
    if dataset in ("fashion-mnist", "cifar10"):
        steps.append(T.RandomHorizontalFlip(0.5, seed=seed + 1))
    return T.Compose(steps)


class EpochLine(Callback):
    """Prints one line per epoch (whether or not a progress bar is shown): train and validation
    loss and accuracy, samples/s."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self.start
        print(f"epoch {epoch + 1}/{self.epochs}: loss {logs['loss']:.4f}, accuracy {logs['accuracy']:.4f} | "
              f"val_loss {logs['val_loss']:.4f}, val_accuracy {logs['val_accuracy']:.4f} | "
              f"{logs.get('samples_per_s', float('nan')):,.0f} samples/s, {seconds:.1f} s", flush=True)


def main(args, parser=None) -> int:
    """Run ``fastnn train``; usage errors print a message and return 2. ``parser`` (the train
    subcommand's) adds its usage line to errors about one option, as argparse's own errors have."""
    try:
        return _run(args)
    except ArgumentError as e:
        if parser is not None:
            parser.print_usage(sys.stderr)
        prog = parser.prog if parser is not None else "fastnn train"
        print(f"{prog}: error: argument {e.flag}: {e}", file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"fastnn train: error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    import fastnn
    from fastnn import _device, data, nn

    if args.device == "cuda":  # checked first: no point loading data for a device that is not there
        reason = _device.cuda_unavailable_reason()
        if reason is not None:
            raise UsageError(f"--device cuda: no CUDA device found (CuPy: {reason})")
    if args.threads:
        fastnn.set_num_threads(args.threads)
    plot_file = None
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'fastnn[plot]'") from None
        try:
            plot_file = plot_destination(args.plot)[0]
        except ValueError as e:
            raise UsageError(f"--plot: {e}") from None
        except OSError as e:
            raise UsageError(f"--plot {args.plot}: {e.strerror}") from None
    # Where the results go is checked before the data is loaded: a path that cannot be written
    # would otherwise fail only after the whole training run.
    for flag, path in (("--save", args.save), ("--plot", plot_file)):
        if path:
            _check_writable(flag, path)

    fastnn.manual_seed(args.seed)
    t0 = time.perf_counter()
    splits, dataset, where = load_dataset(args.dataset, args.data_path)
    x_train, y_train, x_test, y_test = splits
    if args.limit:
        check_limit(args.limit, y_train, dataset)
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train, x_val, y_train, y_val = data.train_test_split(x_train, y_train, test_size=VALIDATION_FRACTION,
                                                           stratify=y_train, seed=args.seed)
    classes = int(max(y_train.max(), y_test.max())) + 1
    print(f"dataset: {where}")
    print(f"  train {x_train.shape[0]}, validation {x_val.shape[0]}, test {x_test.shape[0]} images of "
          f"{x_train.shape[1:]}, {classes} classes (loaded in {time.perf_counter() - t0:.1f} s)")

    model = build_model(args.model, x_train.shape[1:], classes).to(args.device)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = build_optimizer(args.optimizer, model.parameters(), lr)
    n_params = sum(p.data.size for p in model.parameters())
    where = "GPU (CUDA, CuPy)" if args.device == "cuda" else \
        f"{fastnn.get_num_threads()} threads, ISA {fastnn.get_isa()}{' + AMX GEMM' if fastnn.get_gemm_amx() else ''}"
    print(f"model: {args.model}, {n_params:,} parameters; optimizer {args.optimizer} (lr {lr}); "
          f"batch {args.batch_size}; {where}")

    train = (x_train, y_train)
    if args.augment:
        train = data.DataLoader((x_train, y_train), batch_size=args.batch_size, shuffle=True, seed=args.seed,
                                transform=augmentation(dataset, args.seed))
    history = fastnn.fit(model, optimizer, nn.CrossEntropyLoss(), train=train, val=(x_val, y_val),
                         epochs=args.epochs, batch_size=args.batch_size, metrics=["accuracy"],
                         callbacks=[EpochLine(args.epochs)], progress=not args.no_progress, seed=args.seed)
    test = fastnn.evaluate(model, (x_test, y_test), loss=nn.CrossEntropyLoss(), metrics=["accuracy"],
                           batch_size=512)
    print(f"test: loss {test['loss']:.4f}, accuracy {test['accuracy']:.4f}")
    # Both outputs are attempted: a failure of one (e.g. the disk filling up) loses neither the
    # other nor the printed results, and exits 1 naming what failed.
    failed = False
    if args.save:
        try:
            fastnn.save(model, args.save)
            print(f"saved model to {args.save}")
        except OSError as e:
            print(f"fastnn train: error: could not save the model to {args.save}: {e}", file=sys.stderr)
            failed = True
    if args.plot:
        try:
            history.plot(args.plot)
            print(f"learning curves written to {plot_file}")
        except (OSError, ValueError) as e:
            print(f"fastnn train: error: could not write the learning curves to {plot_file}: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def _check_writable(flag: str, path: str) -> None:
    """UsageError unless a file can be written at ``path``: its directory exists and is
    writable, and ``path`` is not a directory."""
    from . import _files

    try:
        _files.check_destination(path)
    except OSError as e:
        raise UsageError(f"{flag} {path}: {e.strerror}") from None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the directory {directory} is not writable")
