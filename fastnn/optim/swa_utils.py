"""Stochastic Weight Averaging and exponential moving averages of a model, PyTorch's
``torch.optim.swa_utils`` (2.13): ``AveragedModel``, the averaging functions
(``get_swa_avg_fn``, ``get_ema_avg_fn`` and their in-place, many-arrays forms
``get_swa_multi_avg_fn``, ``get_ema_multi_avg_fn``), the ``SWALR`` schedule and ``update_bn``.

SWA (Izmailov et al. 2018, https://arxiv.org/abs/1803.05407) averages the weights a model
passes through late in training, at a constant or cyclic rate (``SWALR`` anneals to it);
``update_bn`` then recomputes the BatchNorm statistics of the averaged weights with one pass
over the data. An EMA (Polyak averaging with exponential weights) keeps ``decay * average +
(1 - decay) * current``.

The functions work on fastnn's arrays (NumPy, or CuPy on the GPU) where torch's work on
tensors; ``AveragedModel.update_parameters`` follows torch's rules step by step (the first call
copies, later ones average; buffers averaged with ``use_buffers``, else copied), in the
arithmetic of torch's CPU path (integer buffers such as BatchNorm's ``num_batches_tracked``
computed in float32 and truncated, as torch's ``copy_`` does)."""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from .. import _device
from ..nn.containers import layer_from_config, layer_to_config
from ..nn.module import Module, Parameter, check_bool
from .lr_scheduler import LRScheduler, _check_optimizer, _is_int, _per_group, _real_in

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]


# ---- arithmetic as torch's ---------------------------------------------------------------
def _is_float(a) -> bool:
    """torch.is_floating_point or is_complex: the kinds lerp takes."""
    return a.dtype.kind in "fc"


def _as_float(a):
    """a itself when floating (or complex), else a float32 copy: torch computes an integer
    tensor times a Python float, or an integer tensor divided by one, in its default dtype."""
    return a if _is_float(a) else a.astype(np.float32)


def _check_decay(decay) -> float:
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay!r} provided. Please provide a value in [0,1] range. "
                         f"Received: decay={decay!r}")
    return decay


def _count_plus_one(num_averaged, dtype):
    """num_averaged + 1 as a scalar of ``dtype`` (the dtype of the division): an array
    num_averaged (torch's long tensor) must not promote a float32 division to float64, as a
    0-d long tensor does not in torch."""
    if _device.device_of(num_averaged) is not None or isinstance(num_averaged, np.generic):
        return np.dtype(dtype).type(int(num_averaged) + 1)
    return num_averaged + 1


def _swa_value(averaged, current, num_averaged):
    """torch's ``averaged + (current - averaged) / (num_averaged + 1)``: in the promoted floating
    dtype, float32 for integer arrays (true division)."""
    diff = current - averaged
    if _is_float(diff):
        return averaged + diff / _count_plus_one(num_averaged, diff.dtype)
    return averaged.astype(np.float32) + diff.astype(np.float32) / _count_plus_one(num_averaged, np.float32)


def _ema_value(ema, current, decay):
    """torch's ``decay * ema + (1 - decay) * current`` (float32 for integer arrays)."""
    return decay * _as_float(ema) + (1 - decay) * _as_float(current)


def _lerp_(start, end, weight) -> None:
    """torch's ``start.lerp_(end, weight)`` for a floating array, in its dtype:
    ``start + weight * (end - start)`` for ``|weight| < 0.5``, else
    ``end - (end - start) * (1 - weight)`` (ATen's two forms, exact at both ends)."""
    w = start.dtype.type(weight) if start.dtype.kind == "f" else weight
    end = end.astype(start.dtype, copy=False)
    diff = end - start
    if abs(w) < 0.5:
        start += w * diff
    else:
        start[...] = end - diff * (start.dtype.type(1) - w)


def _check_lists(who, averaged, current):
    averaged, current = list(averaged), list(current)
    if len(averaged) != len(current):
        raise ValueError(f"{who}: the lists of averaged and current arrays differ in length "
                         f"({len(averaged)} and {len(current)})")
    for i, a in enumerate(averaged):
        if _device.device_of(a) is None:
            raise TypeError(f"{who}: averaged[{i}] must be a numpy.ndarray or cupy.ndarray, got {type(a).__name__}")
    return averaged, current


# ---- the averaging functions -------------------------------------------------------------
def get_ema_multi_avg_fn(decay=0.999):
    """The in-place EMA over lists of arrays, for ``AveragedModel(multi_avg_fn=...)``:
    ``fn(ema_arrays, current_arrays, num_averaged)`` sets each ``ema = decay * ema + (1 - decay)
    * current`` (torch's ``_foreach_lerp_`` with weight ``1 - decay`` for floating arrays; an
    integer list as ``decay * ema + (1 - decay) * current`` in float32, truncated). ``decay`` in
    [0, 1], else ValueError."""
    decay = _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _num_averaged=None) -> None:
        ema, cur = _check_lists("ema_update", ema_param_list, current_param_list)
        if not ema:
            return
        if _is_float(ema[0]):
            for e, c in zip(ema, cur):
                _lerp_(e, c, 1 - decay)
        else:
            for e, c in zip(ema, cur):
                e[...] = _ema_value(e, c, decay)

    return ema_update


def get_swa_multi_avg_fn():
    """The in-place equal-weight average over lists of arrays, for
    ``AveragedModel(multi_avg_fn=...)``: ``fn(averaged_arrays, current_arrays, num_averaged)``
    sets each ``averaged += (current - averaged) / (num_averaged + 1)`` (torch's
    ``_foreach_lerp_`` with weight ``1 / (num_averaged + 1)``: float32 when ``num_averaged`` is
    an array, as torch's tensor count, a double for an int). Integer arrays get the average in
    float32, truncated (torch's raises for them)."""

    def swa_update(averaged_param_list, current_param_list, num_averaged) -> None:
        avg, cur = _check_lists("swa_update", averaged_param_list, current_param_list)
        if not avg:
            return
        if _is_float(avg[0]):
            if _device.device_of(num_averaged) is not None:  # torch: 1 / (tensor + 1), a float32 tensor
                weight = float(np.float32(1) / np.float32(int(num_averaged) + 1))
            else:
                weight = 1 / (num_averaged + 1)
            for a, c in zip(avg, cur):
                _lerp_(a, c, weight)
        else:
            for a, c in zip(avg, cur):
                a[...] = _swa_value(a, c, num_averaged)

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """The EMA of one array, for ``AveragedModel(avg_fn=...)``: ``fn(ema, current,
    num_averaged)`` returns ``decay * ema + (1 - decay) * current`` (a new array; float32 for
    integer arrays). ``decay`` in [0, 1], else ValueError."""
    decay = _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged=None):
        return _ema_value(ema_param, current_param, decay)

    return ema_update


def get_swa_avg_fn():
    """The equal-weight running average of one array, for ``AveragedModel(avg_fn=...)``:
    ``fn(averaged, current, num_averaged)`` returns ``averaged + (current - averaged) /
    (num_averaged + 1)`` (a new array; float32 for integer arrays)."""

    def swa_update(averaged_param, current_param, num_averaged):
        return _swa_value(averaged_param, current_param, num_averaged)

    return swa_update


# ---- AveragedModel -----------------------------------------------------------------------
class _OneAveragingFunction(ValueError, AssertionError):
    """avg_fn and multi_avg_fn both given: a ValueError, and torch's AssertionError."""


def _value(x):
    return x.data if isinstance(x, Parameter) else x


class AveragedModel(Module):
    """A running average of a model's weights: SWA (equal weights, the default) or an EMA
    (``multi_avg_fn=get_ema_multi_avg_fn(decay)`` or ``avg_fn=get_ema_avg_fn(decay)``),
    torch.optim.swa_utils.AveragedModel.

    Holds a deep copy of ``model`` as its child ``module`` (moved to ``device``, "cpu" or
    "cuda", when given) and the buffer ``n_averaged`` (an int64 0-d array: the number of models
    averaged so far), so its state_dict keys are ``n_averaged`` and ``module.<name>``, as
    torch's. ``update_parameters(model)`` takes in the model's current weights;
    ``forward``/``backward`` run the copy. ``avg_fn(averaged, current, num_averaged)`` returns an
    average of one array; ``multi_avg_fn(averaged_list, current_list, num_averaged)`` updates
    lists in place (one call per device and dtype); give at most one. ``use_buffers=True``
    averages the buffers too (BatchNorm's running statistics); otherwise they are copied from
    the model at each update. Neither function is saved (torch's neither)."""

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel expects a fastnn.nn.Module. Received: model={model!r}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise _OneAveragingFunction(f"Only one of avg_fn and multi_avg_fn should be provided. Received: "
                                        f"avg_fn={avg_fn!r}, multi_avg_fn={multi_avg_fn!r}")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be a function (or None). Received: {name}={fn!r}")
        use_buffers = check_bool("use_buffers", use_buffers)
        if device is not None:
            device = _device.parse(device)
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module.to(device)
        # torch's: on `device`, or on the CPU when None (whatever the model's device)
        self.register_buffer("n_averaged", _device.array_module(device or _device.CPU).zeros((), np.int64))
        object.__setattr__(self, "avg_fn", avg_fn)
        object.__setattr__(self, "multi_avg_fn", multi_avg_fn)
        object.__setattr__(self, "use_buffers", use_buffers)

    def forward(self, *args, **kwargs):
        """The copy's forward: ``self.module(*args, **kwargs)``."""
        return self.module(*args, **kwargs)

    def backward(self, dy, *args, **kwargs):
        """The copy's backward (its gradients accumulate in the averaged parameters)."""
        return self.module.backward(dy, *args, **kwargs)

    def _pairs(self, model):
        """(name, averaged array, model array moved to the averaged array's device) of every
        averaged value, after checking that the two models match."""
        if self.use_buffers:
            mine = self.module.named_parameters() + self.module.named_buffers()
            theirs = model.named_parameters() + model.named_buffers()
            what = "parameters and buffers"
        else:
            mine, theirs = self.named_parameters(), model.named_parameters()
            what = "parameters"
        if len(mine) != len(theirs):
            raise ValueError(f"update_parameters: the model has {len(theirs)} {what}, the averaged model "
                             f"{len(mine)}: pass the model it was made from (or one of the same architecture)")
        pairs = []
        for (name, a), (their_name, b) in zip(mine, theirs):
            a, b = _value(a), _value(b)
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError(f"update_parameters: the model's {their_name!r} has shape {tuple(b.shape)}, the "
                                 f"averaged model's {name!r} {tuple(a.shape)}")
            pairs.append((name, a, _device.move(b, _device.device_of(a))))
        return pairs

    def _synced_buffers(self, model):
        mine, theirs = self.module.buffers(), model.buffers()
        if len(mine) != len(theirs):
            raise ValueError(f"update_parameters: the model has {len(theirs)} buffers, the averaged model "
                             f"{len(mine)}: pass the model it was made from (or one of the same architecture)")
        for a, b in zip(mine, theirs):
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError(f"update_parameters: a buffer of the model has shape {tuple(b.shape)}, the "
                                 f"averaged model's {tuple(a.shape)}")
        return list(zip(mine, theirs))

    def _count_on(self, device):
        return _device.move(self.n_averaged, device).copy()

    def update_parameters(self, model: Module) -> None:
        """Take ``model``'s current weights into the average, in place: the first call
        (``n_averaged == 0``) copies them; later calls apply ``multi_avg_fn`` (once per device and
        dtype of the averaged arrays), else ``avg_fn`` (once per array), else the equal-weight
        average ``averaged + (current - averaged) / (n_averaged + 1)``. Without ``use_buffers``
        the model's buffers are then copied over. ``n_averaged`` goes up by one. The groups of
        ``multi_avg_fn`` come in torch's order, the last (device, dtype) to appear first.

        ``model`` must have the averaged model's parameters (and buffers) in number and shape:
        ValueError otherwise, before anything changes."""
        if not isinstance(model, Module):
            raise TypeError(f"update_parameters expects a fastnn.nn.Module. Received: model={model!r}")
        pairs = self._pairs(model)
        buffers = None if self.use_buffers else self._synced_buffers(model)
        n = int(self.n_averaged)
        if n == 0:
            for _, a, b in pairs:
                _device.copy_into(a, b)
        if n > 0:
            if self.multi_avg_fn is not None or self.avg_fn is None:
                groups = {}
                for _, a, b in pairs:
                    groups.setdefault((_device.device_of(a), a.dtype), ([], []))
                    groups[(_device.device_of(a), a.dtype)][0].append(a)
                    groups[(_device.device_of(a), a.dtype)][1].append(b)
                # in torch's order: its grouping (a C++ hash map) lists the last (device, dtype) first
                for (device, _), (mine, theirs) in reversed(groups.items()):
                    count = self._count_on(device)
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(mine, theirs, count)
                    else:  # torch's CPU path: the single-array average, array by array
                        for a, b in zip(mine, theirs):
                            _device.copy_into(a, _swa_value(a, b, count))
            else:
                for name, a, b in pairs:
                    result = self.avg_fn(a, b, self._count_on(_device.device_of(a)))
                    if _device.device_of(result) is None and not isinstance(result, numbers.Number):
                        raise TypeError(f"avg_fn must return the new value (an array) of {name!r}, "
                                        f"got {type(result).__name__}")
                    _device.copy_into(a, result)
        if buffers is not None:  # no running average of the buffers: keep them in sync with the model
            for a, b in buffers:
                _device.copy_into(a, b)
        self.n_averaged += 1

    def get_config(self) -> dict:
        # (the averaging functions are not saved, as torch's state_dict does not hold them)
        return {"model": layer_to_config(self.module), "use_buffers": self.use_buffers}

    @classmethod
    def from_config(cls, config: dict) -> "AveragedModel":
        config = dict(config)
        return cls(layer_from_config(config.pop("model")), **config)

    def extra_repr(self) -> str:
        return ""


# ---- update_bn ---------------------------------------------------------------------------
def update_bn(loader, model: Module, device=None) -> None:
    """Recompute the running statistics of every BatchNorm layer of ``model`` (BatchNorm1d, 2d,
    3d, SyncBatchNorm, the materialized Lazy ones) with one pass over ``loader``, torch's
    update_bn: their statistics are reset, their momentum set to None (the cumulative average
    over the batches) and the model put in training mode; each batch of ``loader`` is an array,
    or a list or tuple whose first element is the input (``(x, y)`` from a DataLoader), moved
    to ``device`` ("cpu" or "cuda") when given, and passed to ``model``. Then the momenta and
    the model's mode (``model.train(was_training)``) are restored, also when a batch raises. A
    model without BatchNorm returns at once (``loader`` is not iterated). A Lazy BatchNorm
    not materialized yet raises ValueError (torch's too): run one forward first."""
    from ..nn.extra5 import _LazyMixin
    from ..nn.layers import _BatchNorm

    if not isinstance(model, Module):
        raise TypeError(f"update_bn expects a fastnn.nn.Module. Received: model={model!r}")
    if device is not None:
        device = _device.parse(device)
    momenta = {}
    for name, module in model.named_modules():
        if isinstance(module, _BatchNorm):
            if isinstance(module, _LazyMixin):
                raise ValueError(f"update_bn: {type(module).__name__} {name or '(the model)'!r} is not materialized "
                                 f"yet (it has no running statistics): run one forward pass through the model first")
            momenta[module] = module.momentum
    if not momenta:
        return
    try:
        batches = iter(loader)
    except TypeError:
        raise TypeError(f"update_bn expects an iterable of batches (a DataLoader, a list of arrays...). "
                        f"Received: loader={loader!r}") from None
    for module in momenta:
        if module.track_running_stats:  # torch's reset_running_stats
            module.running_mean.fill(0)
            module.running_var.fill(1)
            module.num_batches_tracked.fill(0)
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        for batch in batches:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                if _device.device_of(batch) is None:
                    raise TypeError(f"update_bn: with device={device!r} each batch's input must be a numpy.ndarray "
                                    f"or cupy.ndarray, got {type(batch).__name__}")
                batch = _device.move(batch, device)
            model(batch)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


# ---- SWALR -------------------------------------------------------------------------------
class SWALR(LRScheduler):
    """Anneal each group's rate to a fixed ``swa_lr`` (one value, or one per group, >= 0) over
    ``anneal_epochs`` steps (an int >= 0), by cosine (``"cos"``) or linearly (``"linear"``),
    then keep it there: torch's SWALR. Each ``step()`` moves the current rate (whatever set it:
    the schedule before SWA, by hand) the way the anneal goes from its previous point to its
    next, as torch's recursive form; ``anneal_epochs=0`` sets ``swa_lr`` at construction. The
    groups get a ``swa_lr`` key. It has no closed form (``lr_at``), as torch's; ``state_dict``
    is every attribute but the optimizer and ``anneal_func``."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        _check_optimizer(optimizer)
        swa_lrs = _per_group("swa_lr", optimizer, swa_lr, lambda n, v: _real_in(n, v, 0.0))
        if not isinstance(anneal_strategy, str) or anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy!r}. "
                             f"Received: anneal_strategy={anneal_strategy!r}")
        if not _is_int(anneal_epochs) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be an int >= 0. Received: anneal_epochs={anneal_epochs!r}")
        self._set_anneal_func(anneal_strategy)
        self.anneal_epochs = int(anneal_epochs)
        groups = optimizer.param_groups
        before = [dict(g) for g in groups]
        for value, group in zip(swa_lrs, groups):
            group["swa_lr"] = value
        try:
            super().__init__(optimizer, last_epoch)
        except BaseException:  # (a bad last_epoch, a resumed run without initial_lr): the groups as they were
            for group, old in zip(groups, before):
                group.clear()
                group.update(old)
            raise

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self):
        self._warn_outside_step()
        groups = self.optimizer.param_groups
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
        self._set_anneal_func(self._anneal_strategy)
