"""The training loop: ``fit``, ``evaluate``, ``predict``, ``History`` and callbacks.

One step is: ``optimizer.zero_grad(); pred = model(x); loss(pred, y); model.backward(loss.backward());
optimizer.step()``. Data is either ``(x, y)`` arrays (shuffled and cut into batches here) or any
re-iterable of ``(x, y)`` batches (e.g. a data loader). Inputs are cast to the model's dtype
(float32 by default); targets are handed to the loss as they are.

Devices: the loops run where the model is (``model.device``). For a model on "cuda", each NumPy
batch is copied to the device as it is used (``cupy.asarray``; CuPy arrays are used in place);
losses and metrics come back as Python floats and ``predict`` returns a NumPy array. A model on
"cpu" given CuPy data is an error naming both devices: nothing is copied back silently.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
import time

import numpy as np

from . import _device
from . import metrics as _metrics
from ._device import CPU, CUDA
from ._random import get_rng, manual_seed
from .nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, L1Loss, Loss, MSELoss,
                      NLLLoss, SmoothL1Loss)
from .nn.module import Module
from .optim import optimizers as _optimizers
from .optim import optimizers2 as _optimizers2
from .optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler", "resolve_loss", "resolve_optimizer"]

_LOSSES = {
    "cross_entropy": CrossEntropyLoss, "categorical_crossentropy": CrossEntropyLoss,
    "sparse_categorical_crossentropy": CrossEntropyLoss, "crossentropy": CrossEntropyLoss,
    "mse": MSELoss, "mean_squared_error": MSELoss, "mae": L1Loss, "l1": L1Loss, "mean_absolute_error": L1Loss,
    "bce": BCELoss, "binary_crossentropy": BCELoss, "bce_with_logits": BCEWithLogitsLoss,
    "huber": HuberLoss, "smooth_l1": SmoothL1Loss, "nll": NLLLoss,
}
# Keras' default learning rates for the string forms (SGD 0.01); the others are PyTorch's defaults.
_OPTIMIZERS = {
    "sgd": lambda p: _optimizers.SGD(p, lr=0.01), "adam": _optimizers.Adam, "adamw": _optimizers.AdamW,
    "rmsprop": _optimizers.RMSprop, "adagrad": _optimizers.Adagrad, "adadelta": _optimizers.Adadelta,
    "radam": _optimizers.RAdam, "nadam": _optimizers.NAdam, "adamax": _optimizers.Adamax,
    "rprop": _optimizers.Rprop, "asgd": _optimizers.ASGD, "adafactor": _optimizers2.Adafactor,
}


def resolve_loss(loss) -> Loss:
    """A Loss instance from an instance, a Loss class or a name ("cross_entropy", "mse", ...)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in _LOSSES:
        return _LOSSES[loss.lower()]()
    raise ValueError(f"unknown loss; expected a fastnn.nn Loss or one of {sorted(_LOSSES)}. Received: loss={loss!r}")


def resolve_optimizer(optimizer, model: Module):
    """An Optimizer from an instance, an Optimizer class or a name ("adam", "sgd", ...)."""
    if isinstance(optimizer, _optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, type) and issubclass(optimizer, _optimizers.Optimizer):
        return optimizer(model.parameters())
    if isinstance(optimizer, str) and optimizer.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[optimizer.lower()](model.parameters())
    raise ValueError(f"unknown optimizer; expected a fastnn.optim Optimizer or one of {sorted(_OPTIMIZERS)}. "
                     f"Received: optimizer={optimizer!r}")


# ---- data --------------------------------------------------------------------------------
def _is_array_pair(data) -> bool:
    """(x, y) or [x, y] of arrays or (nested) lists of numbers (Keras' forms); a list of two
    (x, y) tuples is an iterable of batches instead."""
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and all(hasattr(a, "shape") or isinstance(a, list) for a in data))


def _checked_pairs(batches, name):
    """The batches of an iterable, each checked to be an (x, y) pair."""
    for b in batches:
        if not (isinstance(b, (tuple, list)) and len(b) == 2):
            what = f"a {type(b).__name__}" + (f" of {len(b)} items" if isinstance(b, (tuple, list)) else "")
            raise TypeError(f"{name}: each batch must be an (x, y) pair, got {what} "
                            "(fit and evaluate need targets; predict takes x alone)")
        yield b


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return int(batch_size)


def _array_batches(x, y, batch_size, rng=None, drop_last=False):
    n = x.shape[0]
    order = rng.permutation(n) if rng is not None else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            sl = slice(start, start + batch_size)
            yield x[sl], (None if y is None else y[sl])
        else:
            idx = order[start:start + batch_size]
            yield _take(x, idx), (None if y is None else _take(y, idx))


def _take(a, idx):
    """a[idx] with the (host) index array on a's device."""
    return a[idx] if isinstance(a, np.ndarray) else a[_device.move(idx, CUDA)]


def _array(a):
    """a as an array where it is: CuPy arrays stay on the device, anything else goes through NumPy."""
    return a if _device.device_of(a) == CUDA else np.asarray(a)


def _batches(data, batch_size, rng=None, name="train", drop_last=False):
    """(x, y) batches and the number of samples they hold (None when unknown) of data."""
    if _is_array_pair(data):
        x, y = data
        x, y = _array(x), _array(y)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name}: x has {x.shape[0]} samples but y has {y.shape[0]}")
        n = x.shape[0] - x.shape[0] % batch_size if drop_last else x.shape[0]
        return _array_batches(x, y, batch_size, rng, drop_last), n
    if drop_last:
        raise ValueError(f"drop_last=True applies to (x, y) arrays; {name} is an iterable of batches, "
                         "which decides its own batches (e.g. DataLoader(..., drop_last=True))")
    if isinstance(data, np.ndarray):
        raise TypeError(f"{name} must be (x, y) arrays or an iterable of (x, y) batches, got a single array")
    try:
        iterator = iter(data)
    except TypeError:
        raise TypeError(f"{name} must be (x, y) arrays or an iterable of (x, y) batches, "
                        f"got {type(data).__name__}") from None
    n = None
    # the samples an epoch visits (for the progress bar): the loader's sampler's (a
    # SubsetRandomSampler covers part of the dataset), else the dataset's
    for source in (getattr(data, "sampler", None), getattr(data, "dataset", None)):
        try:
            n = len(source) if source is not None and hasattr(source, "__len__") else None
        except TypeError:  # an IterableDataset's sampler has no length
            n = None
        if n is not None:
            break
    if n is not None:
        size = getattr(data, "batch_size", None)
        if getattr(data, "drop_last", False) and isinstance(size, int) and size > 0:
            n -= n % size  # the samples the loader actually gives
    return _checked_pairs(iterator, name), n


def _writes_its_input(model: Module) -> bool:
    """Whether a layer of model may overwrite the array it is given (inplace=True, PyTorch's
    flag): fit, predict and evaluate then give the model copies of the caller's batches, which
    may be views of the caller's data (a layer that reshapes passes a view on)."""
    return any(getattr(m, "inplace", False) for m in model.modules())


def _takes_indices(model: Module) -> bool:
    """Whether the model's first layer reads integer indices (an Embedding): its integer
    batches are then passed as they are, not cast to the model's float dtype."""
    m = model
    while m.children():  # down the first children: the first leaf of modules()' order
        m = m.children()[0]
    return bool(getattr(m, "takes_indices", False))


def _as_input(x, model: Module, device: str = CPU, copy: bool = False):
    """A batch of inputs as the model takes it: on its device, in its dtype; a new array when
    copy (see _writes_its_input), never the caller's memory."""
    given = x
    if device == CPU:
        if _device.device_of(x) == CUDA:
            raise _device.mismatch(type(model).__name__, "a batch of inputs", x, "the model is on cpu",
                                   "move the model to cuda (model.to('cuda')) or the data to the host (x.get())")
        x = np.asarray(x)
    else:
        x = _device.move(_array(x), CUDA)
    dtype = model.dtype
    if x.dtype != dtype and not (x.dtype.kind in "iu" and _takes_indices(model)):
        return x.astype(dtype)
    return x.copy() if copy and (x is given or _device.device_of(given) == _device.device_of(x)) else x


def _as_target(y, device: str):
    """A batch of targets on the model's device (the loss checks and casts it)."""
    if device == CPU or y is None:
        return y
    return _device.move(_array(y), CUDA)


# ---- history and callbacks ---------------------------------------------------------------
class History:
    """Per-epoch logs: ``history.history["loss"]``, ``["val_loss"]``, ``["accuracy"]``, ...
    (also ``history["loss"]``); ``history.epoch`` lists the epoch numbers (0-based)."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict) -> None:
        """Record one epoch's logs (numbers as Python floats; anything else a callback put in the
        logs as it is)."""
        self.epoch.append(epoch)
        for k, v in logs.items():
            number = isinstance(v, numbers.Real) or (isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf")
            self.history.setdefault(k, []).append(float(v) if number else v)

    def __getitem__(self, key):
        return self.history[key]

    def __repr__(self):
        last = {k: round(v[-1], 6) if isinstance(v[-1], float) else v[-1] for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"

    def plot(self, path=None, keys=None):
        """Learning curves, one panel per quantity (train and validation together), saved to
        ``path`` when given, in the format its extension names (PNG, with ``.png`` appended, when
        it has none: matplotlib's rule; ``plot_destination`` tells the file). An unsupported
        extension or a destination that cannot be written raises before anything is drawn.
        Needs matplotlib (``pip install fastnn[plot]``). Returns the Figure."""
        try:
            from matplotlib.figure import Figure
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib (or fastnn[plot])") from None
        names = list(keys) if keys else [k for k in self.history if not k.startswith("val_") and k != "lr"
                                           and all(isinstance(v, float) for v in self.history[k])]
        if not names:
            raise ValueError("History.plot: nothing to plot (no epochs recorded)")
        unknown = [k for k in names if k not in self.history and f"val_{k}" not in self.history]
        if unknown:
            raise KeyError(f"History.plot: no recorded quantity {unknown[0]!r} (nor 'val_{unknown[0]}'); "
                           f"recorded: {sorted(self.history)}")
        if path is not None:
            path, fmt = plot_destination(path)
        fig = Figure(figsize=(5 * len(names), 3.6))
        epochs = [e + 1 for e in self.epoch]
        for i, name in enumerate(names):
            ax = fig.add_subplot(1, len(names), i + 1)
            if name in self.history:
                ax.plot(epochs, self.history[name], marker="o", label=f"train {name}")
            if f"val_{name}" in self.history:
                ax.plot(epochs, self.history[f"val_{name}"], marker="o", label=f"validation {name}")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, format=fmt)
        return fig


def plot_destination(path) -> tuple[str, str]:
    """(file, format) that ``History.plot(path)`` writes: the format named by the extension
    (case-insensitive), or matplotlib's default (``savefig.format``, PNG) with its extension
    appended to a path that has none. Raises ValueError naming an extension matplotlib cannot
    write (and the ones it can), and what ``open(file, "wb")`` would raise for a missing
    directory or a directory in the way (``path`` itself included), before any drawing. Needs
    matplotlib."""
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    from . import _files

    file = os.fsdecode(path)  # str, bytes or os.PathLike
    if os.path.isdir(file):  # not "<directory>.png" beside it: say what is in the way
        _files.check_destination(file)
    ext = os.path.splitext(file)[1][1:]
    fmt = ext.lower() if ext else str(matplotlib.rcParams["savefig.format"]).lower()
    if not ext:
        file = f"{file}.{fmt}"
    supported = FigureCanvasBase.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"cannot draw learning curves to {os.fspath(path)!r}: matplotlib writes no {ext!r} "
                         f"files (the extension names the format; supported: {', '.join(sorted(supported))})")
    _files.check_destination(file)
    return file, fmt


class Callback:
    """Hooks called by ``fit``. Set ``self.stop_training = True`` to end training after this epoch."""

    def __init__(self):
        self.model = None
        self.stop_training = False

    def set_model(self, model: Module) -> None:
        self.model = model

    def set_optimizer(self, optimizer) -> None:
        """Called by fit with its optimizer before training (the default ignores it)."""

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch: int, logs=None):
        pass

    def on_epoch_end(self, epoch: int, logs: dict):
        pass

    def on_train_batch_begin(self, batch: int, logs=None):
        """Before each training batch; batch counts from 0 in every epoch (Keras' hook)."""

    def on_train_batch_end(self, batch: int, logs: dict):
        """After each optimizer step; logs: ``loss`` (this batch's) and ``size`` (its samples)."""

    def on_train_end(self, logs=None):
        pass


def _monitor_mode(monitor: str, mode: str) -> str:
    """mode="auto": the direction of the metric fit logs under that name (val_ removed): "max"
    for scores (accuracy, r2, explained_variance, d2_*, f1, precision, recall, jaccard,
    balanced_accuracy, mcc, cohen_kappa, roc_auc, top_<k>_accuracy), "min" for losses and
    errors; for other names (custom metrics) "max" when the name contains acc, auc, r2,
    precision, recall or f1, else "min"."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    direction = _metrics.direction(name)
    if direction is not None:
        return direction
    return "max" if any(s in name for s in ("acc", "r2", "auc", "precision", "recall", "f1")) else "min"


def _monitored(logs: dict, monitor: str, who: str) -> float:
    if monitor not in logs:
        raise ValueError(f"{who}: monitor={monitor!r} is not among the logged quantities {sorted(logs)}"
                         " (val_* needs validation data)")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras' rule); with ``restore_best`` the weights of the best epoch are put back at the end
    (``restore_best_weights=`` is Keras' name for it; note fastnn's default is True, Keras' False).
    A NaN value is never an improvement (as Keras', whose best starts at +-inf); as Keras', training
    never stops at epoch 0, and the first monitored epoch's weights are the ones restored when no
    epoch improves (e.g. all NaN).

    Keras' ``baseline``: an epoch resets the patience only when it also beats the baseline by
    more than min_delta (it still counts as the best so far), so training stops after
    ``patience`` epochs that never reach it. ``start_from_epoch``: epochs before it (0-based)
    are not monitored at all (a warm-up)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best: bool = True, *, restore_best_weights: bool | None = None, baseline: float | None = None,
                 start_from_epoch: int = 0):
        super().__init__()
        if restore_best_weights is not None:
            restore_best = restore_best_weights
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an int >= 0. Received: patience={patience!r}")
        if isinstance(start_from_epoch, bool) or not isinstance(start_from_epoch, int) or start_from_epoch < 0:
            raise ValueError(f"start_from_epoch must be an int >= 0. Received: start_from_epoch={start_from_epoch!r}")
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, numbers.Real)
                                     or math.isnan(baseline)):
            raise ValueError(f"baseline must be a number or None. Received: baseline={baseline!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real) or not math.isfinite(min_delta):
            raise ValueError(f"min_delta must be a finite number. Received: min_delta={min_delta!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(float(min_delta))
        self.baseline = None if baseline is None else float(baseline)
        self.start_from_epoch = start_from_epoch
        self.mode = _monitor_mode(monitor, mode)
        self.restore_best = bool(restore_best)
        self.best = None
        self.best_epoch = None
        self.best_state = None
        self.wait = 0
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.best_state, self.wait, self.stopped_epoch = None, None, None, 0, None
        self.stop_training = False

    def _improved(self, value: float, reference: float | None) -> bool:
        if math.isnan(value):
            return False
        if reference is None:
            return True
        return value < reference - self.min_delta if self.mode == "min" else value > reference + self.min_delta

    def on_epoch_end(self, epoch, logs):
        if epoch < self.start_from_epoch:
            return
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if self.restore_best and self.best_state is None:
            # the first monitored epoch's weights are the best until one improves (Keras'): a run
            # whose values are all NaN restores them
            self.best_state, self.best_epoch = self.model.state_dict(), epoch
        if self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best:
                self.best_state = self.model.state_dict()
            # the patience restarts only when the baseline is beaten too; an epoch that improves
            # never stops training (Keras' order)
            self.wait = 0 if self._improved(value, self.baseline) else self.wait + 1
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:  # never at the first epoch (Keras')
            self.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


class ModelCheckpoint(Callback):
    """Save the model with ``fastnn.save`` after each epoch (``save_best_only``: only when
    ``monitor`` improves; a NaN value never does). ``path`` may contain ``{epoch}`` (1-based) and
    any logged key, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.fnn"``; its folder is created if
    missing (as Keras)."""

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto"):
        super().__init__()
        self.path = os.fspath(path)
        self.monitor, self.save_best_only = monitor, bool(save_best_only)
        self.mode = _monitor_mode(monitor, mode)
        self.best = None
        self.saved: list[str] = []

    def on_epoch_end(self, epoch, logs):
        from .serialization import save

        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            better = not math.isnan(value) and (
                self.best is None or (value < self.best if self.mode == "min" else value > self.best))
            if not better:
                return
            self.best = value
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise ValueError(f"ModelCheckpoint: path {self.path!r} names {{{e.args[0]}}}, which is not logged; "
                             f"available: {['epoch'] + sorted(logs)}") from None
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        save(self.model, path)
        self.saved.append(path)


class LearningRateScheduler(Callback):
    """Step a learning-rate schedule (``fastnn.optim``'s) once per epoch, at its end
    (ReduceLROnPlateau gets ``logs[monitor]``), or with ``interval="batch"`` after every
    optimizer step (what OneCycleLR and CyclicLR are made for: their step counts are then
    batches, as in a PyTorch loop that calls ``scheduler.step()`` per batch). Or, Keras' form,
    a function ``schedule(epoch, lr) -> lr`` (epoch 0-based) that sets every group's rate at each
    epoch's start; with ``interval="batch"``, ``schedule(step, lr)`` at each batch's start, step
    counting the batches of the whole run from 0."""

    def __init__(self, scheduler, monitor: str = "val_loss", interval: str = "epoch"):
        super().__init__()
        if not hasattr(scheduler, "step") and not callable(scheduler):
            raise TypeError("LearningRateScheduler takes a fastnn.optim schedule or a function schedule(epoch, lr) "
                            f"-> lr. Received: {scheduler!r}")
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch'. Received: interval={interval!r}")
        if interval == "batch" and isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError("ReduceLROnPlateau steps on an epoch's metric: use interval='epoch'")
        self.scheduler, self.monitor, self.interval = scheduler, monitor, interval
        self.optimizer = None
        self._steps = 0  # batches of the run so far (interval="batch" with a function)

    def set_optimizer(self, optimizer) -> None:
        self.optimizer = optimizer

    def on_train_begin(self, logs=None):
        self._steps = 0

    def _set_rates(self, count: int) -> None:
        if self.optimizer is None:
            raise RuntimeError("LearningRateScheduler with a function needs the optimizer: use it through fit")
        for group in self.optimizer.param_groups:
            lr = self.scheduler(count, group["lr"])
            if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) or not lr >= 0:
                raise ValueError(f"LearningRateScheduler: schedule({count}, {group['lr']}) returned {lr!r}; "
                                 "expected a learning rate >= 0")
            group["lr"] = float(lr)

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.scheduler, "step") and self.interval == "epoch":
            self._set_rates(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if not hasattr(self.scheduler, "step") and self.interval == "batch":
            self._set_rates(self._steps)

    def on_train_batch_end(self, batch, logs):
        if self.interval != "batch":
            return
        self._steps += 1
        if hasattr(self.scheduler, "step"):
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs):
        if not hasattr(self.scheduler, "step") or self.interval != "epoch":
            return
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(_monitored(logs, self.monitor, "LearningRateScheduler"))
        else:
            self.scheduler.step()


# ---- progress ----------------------------------------------------------------------------
class _Progress:
    """A tqdm bar per epoch (samples/s and the running loss) when stdout is a terminal; silent
    otherwise or with progress=False. The finished bar stays as the epoch's one line."""

    def __init__(self, enabled: bool, epoch: int, epochs: int, total):
        self.bar = None
        if enabled and sys.stdout.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="sample", unit_scale=True,
                            leave=True, file=sys.stdout, dynamic_ncols=True)

    def update(self, n: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def close(self, logs: dict) -> None:
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "lr"}, refresh=True)
            self.bar.close()


# ---- the loops ---------------------------------------------------------------------------
def _loss_value(loss_fn: Loss, pred, y) -> float:
    if isinstance(loss_fn, GaussianNLLLoss):
        raise TypeError("fit/evaluate cannot drive GaussianNLLLoss (it needs a variance input); "
                        "write the loop by hand: loss(mean, target, var); model.backward(...)")
    if loss_fn.reduction == "none":
        raise ValueError(f"fit/evaluate need a loss that is one number: {type(loss_fn).__name__} has "
                         "reduction='none' (use 'mean' or 'sum', or write the loop by hand)")
    return loss_fn(pred, y)


def _compute_metrics(metric_fns, y_true_parts, y_pred_parts) -> dict:
    if not metric_fns or not y_pred_parts:
        return {}
    y_true = np.concatenate(y_true_parts)
    y_pred = np.concatenate(y_pred_parts)
    return {name: fn(y_true, y_pred) for name, fn in metric_fns}


_RESERVED_LOGS = ("loss", "lr", "samples_per_s", "epoch")


def _metric_fns(metrics, loss_fn) -> list:
    """[(name, fn)] for fit/evaluate's metrics: "auto" is accuracy for a classification loss
    (CrossEntropyLoss, NLLLoss, BCELoss: outputs that are classes or probabilities) and none
    otherwise (regression; BCEWithLogitsLoss, whose outputs are logits); a single name or
    callable is a list of one. Names must be distinct and not a logged key of fit's own."""
    if isinstance(metrics, str) and metrics == "auto":
        classify = isinstance(loss_fn, (CrossEntropyLoss, NLLLoss, BCELoss)) and not isinstance(loss_fn,
                                                                                               BCEWithLogitsLoss)
        metrics = ("accuracy",) if loss_fn is None or classify else ()
    elif isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    fns = [m if isinstance(m, tuple) else _metrics.get(m) for m in (metrics or [])]  # (name, fn): resolved
    seen = set()
    for name, _ in fns:
        if name in seen or name in _RESERVED_LOGS:
            why = "twice" if name in seen else "as one of fit's own logs"
            raise ValueError(f"metric name {name!r} appears {why}: give each metric a distinct name "
                             f"(a callable is named by its __name__; reserved: {_RESERVED_LOGS})")
        seen.add(name)
    return fns


def _backward(model, loss_fn) -> None:
    """Backward from the loss just computed; the model's input gradient is not needed."""
    if getattr(model, "backward_can_skip_dx", False):
        model.backward(loss_fn.backward(), need_dx=False)
    else:
        model.backward(loss_fn.backward())


def _closure_step(model, optimizer, loss_fn, xb, yb):
    """optimizer.step(closure) for an optimizer that re-evaluates the batch (LBFGS), as a PyTorch
    loop does: (the loss before the step, the predictions it was computed from)."""
    first = []

    def closure():
        optimizer.zero_grad()
        pred = model(xb)
        value = _loss_value(loss_fn, pred, yb)
        _backward(model, loss_fn)
        if not first:
            first.append((value, pred.copy()))
        return value

    optimizer.step(closure)
    return first[0]


def fit(model: Module, optimizer, loss, train, val=None, epochs: int = 1, batch_size: int = 32,
        metrics="auto", callbacks=None, progress: bool = True, seed=None, shuffle: bool = True,
        drop_last: bool = False, initial_epoch: int = 0) -> History:
    """Train ``model`` and return a History of per-epoch loss, metrics and validation values.

    Args:
        model: a Module (put in train mode here, in eval mode for validation).
        optimizer: an Optimizer, or a name ("adam", "sgd", ...) built on model.parameters().
        loss: a Loss or a name ("cross_entropy", "mse", ...).
        train: ``(x, y)`` arrays (or lists; shuffled each epoch when ``shuffle``) or a
            re-iterable of ``(x, y)`` batches (used as given; ``batch_size`` is then ignored).
        val: validation data in either form, evaluated after each epoch.
        metrics: names or callables ``f(y_true, y_pred)`` (``fastnn.metrics``), computed on the
            epoch's training predictions (as Keras: the weights move during the epoch) and on val.
            "auto" (the default): accuracy for a classification loss (cross-entropy, NLL, BCE),
            none for regression losses and BCEWithLogitsLoss (its outputs are logits).
        callbacks: EarlyStopping, ModelCheckpoint, LearningRateScheduler or any Callback.
        progress: a tqdm bar per epoch when stdout is a terminal; quiet otherwise.
        seed: when given, ``fastnn.manual_seed(seed)`` first: the shuffling of ``(x, y)`` arrays
            and dropout are reproducible (a DataLoader shuffles with its own ``seed``).
        shuffle: reshuffle ``(x, y)`` arrays each epoch.
        drop_last: with ``(x, y)`` arrays, skip each epoch's last batch when it is smaller than
            ``batch_size`` (e.g. a single sample, which BatchNorm cannot normalise in training;
            with shuffling, other samples sit out each epoch). A loader passed as ``train``
            decides its own batches (``DataLoader(..., drop_last=True)``): there it raises.
        initial_epoch: Keras' resume: the epochs run are ``initial_epoch .. epochs - 1`` (epochs
            is the index to stop at, not a count); callbacks, the History and the progress bar
            see those indices (none run when initial_epoch >= epochs).

    Runs on the model's device: for a model on "cuda", each batch is copied there as it is used
    (see the module docstring); the History holds Python floats.

    A non-finite training loss stops training with FloatingPointError, after the callbacks'
    ``on_train_end`` (so EarlyStopping puts the best weights back); the error's ``history``
    attribute holds the epochs that finished.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0. Received: epochs={epochs!r}")
    if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"initial_epoch must be an int >= 0. Received: initial_epoch={initial_epoch!r}")
    batch_size = _check_batch_size(batch_size)
    if seed is not None:
        manual_seed(seed)
    optimizer = resolve_optimizer(optimizer, model)
    loss_fn = resolve_loss(loss)
    metric_fns = _metric_fns(metrics, loss_fn)
    callbacks = list(callbacks or [])
    for name, data in (("train", train), ("val", val)):
        # a generator is empty from its second pass on: epoch 2 would train on nothing, or
        # validate on nothing ("no samples") after a whole epoch of training
        if data is not None and not _is_array_pair(data) and iter(data) is data and epochs - initial_epoch > 1:
            raise TypeError(f"{name} is a one-shot iterator; pass (x, y) arrays or a re-iterable loader for "
                            "epochs > 1")
    device = model.device
    protect = _writes_its_input(model)
    # Keras' flag: a callback may set ``self.model.stop_training = True`` (checked after every
    # batch and epoch), besides fastnn's own ``self.stop_training`` (checked after the epoch)
    object.__setattr__(model, "stop_training", False)
    for cb in callbacks:
        cb.set_model(model)
        if hasattr(cb, "set_optimizer"):
            cb.set_optimizer(optimizer)
        cb.on_train_begin()
    history = History()
    for epoch in range(int(initial_epoch), int(epochs)):
        model.train()
        # after model.train(): a callback may put parts of the model back in eval mode (a
        # frozen block's BatchNorm, whose running statistics would move in train mode)
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        batches, n = _batches(train, batch_size, get_rng() if shuffle else None, "train", drop_last)
        bar = _Progress(progress, epoch, int(epochs), n)
        total_loss, count = 0.0, 0
        y_true_parts, y_pred_parts = [], []
        start = time.perf_counter()
        for batch_index, (xb, yb) in enumerate(batches):
            for cb in callbacks:
                cb.on_train_batch_begin(batch_index)
            xb = _as_input(xb, model, device, protect)
            if getattr(optimizer, "requires_closure", False):  # LBFGS: step() evaluates the batch itself
                value, pred = _closure_step(model, optimizer, loss_fn, xb, _as_target(yb, device))
            else:
                optimizer.zero_grad()
                pred = model(xb)
                value = _loss_value(loss_fn, pred, _as_target(yb, device))
                _backward(model, loss_fn)
            if not math.isfinite(value):
                bar.close({})
                for cb in callbacks:  # e.g. EarlyStopping restores the best weights
                    cb.on_train_end()
                err = FloatingPointError(f"the training loss became {value} in epoch {epoch + 1}; "
                                         "lower the learning rate or check the inputs (the finished epochs are "
                                         "in this error's .history)")
                err.history = history
                raise err
            if not getattr(optimizer, "requires_closure", False):
                optimizer.step()
            nb = xb.shape[0]
            total_loss += value * nb
            count += nb
            for cb in callbacks:
                cb.on_train_batch_end(batch_index, {"loss": value, "size": nb})
            if metric_fns:
                y_true_parts.append(_device.to_host(_array(yb)))
                y_pred_parts.append(pred.copy() if device == CPU else _device.to_host(pred))
            bar.update(nb, total_loss / count)
            if getattr(model, "stop_training", False):  # the epoch ends here (logs, validation) as in Keras
                break
        if count == 0:
            raise ValueError("train gave no batches" + (
                f" (drop_last=True drops every batch of fewer than batch_size={batch_size} samples)"
                if drop_last else ""))
        logs = {"loss": total_loss / count}
        logs.update(_compute_metrics(metric_fns, y_true_parts, y_pred_parts))
        if val is not None:
            val_logs = evaluate(model, val, loss=loss_fn, metrics=metric_fns,
                                batch_size=max(batch_size, 256))
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        logs["lr"] = optimizer.lr
        logs["samples_per_s"] = count / max(time.perf_counter() - start, 1e-9)
        bar.close({k: v for k, v in logs.items() if k != "samples_per_s"})
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        # after the callbacks, as Keras' History (the last callback): what they add is recorded
        history.append(epoch, {k: v for k, v in logs.items() if k != "samples_per_s"})
        if any(cb.stop_training for cb in callbacks) or getattr(model, "stop_training", False):
            break
    for cb in callbacks:
        cb.on_train_end()
    return history


def predict(model: Module, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for x, in eval mode, ``batch_size`` samples at a time (the previous
    mode is restored). x may also be an iterable of batches (or of (x, y) pairs).

    Always a NumPy array: for a model on "cuda" the batches are copied to the device and each
    output back to the host."""
    batch_size = _check_batch_size(batch_size)
    device = model.device
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    # (x, y) as given to evaluate: predict on x. Only a tuple of two arrays of as many samples:
    # a list is data (a nested list of numbers is one array, a list of arrays a list of
    # batches), and [sample0, sample1] read as (x, y) returned sample0's output alone.
    if isinstance(x, tuple) and len(x) == 2 and all(hasattr(a, "shape") and a.ndim >= 1 for a in x) \
            and x[0].shape[0] == x[1].shape[0]:
        x = x[0]
    if isinstance(x, list) and (not x or not hasattr(x[0], "shape") and not isinstance(x[0], tuple)):
        x = np.asarray(x)  # a (nested) list of numbers: one array
    try:
        if isinstance(x, np.ndarray) or hasattr(x, "shape"):
            x = _array(x)
            # (an empty x still goes through the model once: its output has the right shape)
            batches = (x[i:i + batch_size] for i in range(0, max(x.shape[0], 1), batch_size))
        else:
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in x)
        protect = _writes_its_input(model)
        parts = [_device.to_host(model(_as_input(b, model, device, protect))) for b in batches]
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    if not parts:
        raise ValueError("predict: no input samples")
    return np.concatenate(parts)


def evaluate(model: Module, data, loss=None, metrics="auto", batch_size: int = 256) -> dict:
    """{"loss": mean loss (when a loss is given), <metric>: value, ...} over data ((x, y) arrays
    or an iterable of batches), in eval mode; the previous mode is restored. Python floats, on
    either device. metrics as fit's ("auto": accuracy for a classification loss or no loss)."""
    batch_size = _check_batch_size(batch_size)
    loss_fn = resolve_loss(loss) if loss is not None else None
    metric_fns = _metric_fns(metrics, loss_fn)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    device = model.device
    protect = _writes_its_input(model)
    total, count = 0.0, 0
    y_true_parts, y_pred_parts = [], []
    try:
        batches, _ = _batches(data, batch_size, None, "data")
        for xb, yb in batches:
            xb = _as_input(xb, model, device, protect)
            pred = model(xb)
            if loss_fn is not None:
                total += _loss_value(loss_fn, pred, _as_target(yb, device)) * xb.shape[0]
            count += xb.shape[0]
            y_true_parts.append(_device.to_host(_array(yb)))
            y_pred_parts.append(_device.to_host(pred))
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    if count == 0:
        raise ValueError("evaluate: no samples")
    out = {"loss": total / count} if loss_fn is not None else {}
    out.update(_compute_metrics(metric_fns, y_true_parts, y_pred_parts))
    return out
