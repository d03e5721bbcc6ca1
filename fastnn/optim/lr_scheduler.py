"""Learning-rate schedules with PyTorch's semantics (torch.optim.lr_scheduler).

Constructing a schedule sets the epoch-0 rate; each ``step()`` advances one epoch (or one
batch, if you call it per batch) and writes the new rate into every parameter group. As in
PyTorch the schedules are *chainable*: ``step()`` derives the new rate from each group's
current ``lr`` (PyTorch's recursive ``get_lr`` forms), so several schedules on one optimizer
compose, and a rate set by hand between steps is carried on. The closed forms (PyTorch's
``_get_closed_form_lr``) are ``lr_at(base_lr, epoch)``. LambdaLR, CosineAnnealingWarmRestarts,
OneCycleLR and CyclicLR compute from the initial rates, as PyTorch's do. ``base_lrs`` are the groups'
``initial_lr``, which the first schedule on an optimizer stores. SequentialLR runs schedules one
after another, ChainedScheduler steps several at once."""
from __future__ import annotations

import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter

from .optimizers import Optimizer

# torch's warning for the deprecated ``step(epoch)`` (LRScheduler.step, ReduceLROnPlateau.step), word for word
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
           "LinearWarmup", "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "OneCycleLR", "CyclicLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"]


# ---- argument checks ---------------------------------------------------------------------
def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"a scheduler needs a fastnn.optim.Optimizer, got {type(optimizer).__name__}")


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Integral)


def _is_real(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Real) and math.isfinite(v)


def _deprecated_epoch(epoch) -> None:
    """The epoch given to a scheduler's step: a finite number, with torch's deprecation warning."""
    if not _is_real(epoch):
        raise ValueError(f"epoch must be a finite number (or None). Received: epoch={epoch!r}")
    warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=3)


def _positive_int(name, v):
    if not _is_int(v) or v < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={v!r}")
    return int(v)


def _positive(name, v, high=None):
    if not _is_real(v) or not v > 0 or (high is not None and v > high):
        rng = f"(0, {high}]" if high is not None else "(0, inf)"
        raise ValueError(f"{name} must be in {rng}. Received: {name}={v!r}")
    return float(v)


def _real_in(name, v, low, high=None, high_open=False):
    """A finite real in [low, high] ([low, high) with high_open; [low, inf) without high)."""
    if not _is_real(v) or v < low or (high is not None and (v >= high if high_open else v > high)):
        rng = f"[{low}, {high})" if high_open else f"[{low}, {high}]" if high is not None else f"[{low}, inf)"
        raise ValueError(f"{name} must be in {rng}. Received: {name}={v!r}")
    return float(v)


def _last_epoch(v) -> int:
    if not _is_int(v) or v < -1:
        raise ValueError(f"last_epoch must be an int >= -1. Received: last_epoch={v!r}")
    return int(v)


def _momenta(optimizer, base_momentum, max_momentum):
    """For cycle_momentum (OneCycleLR, CyclicLR): whether the optimizer's momentum is Adam's
    ``betas[0]`` (else SGD's / RMSprop's ``momentum``), and the checked per-group base and max
    momenta (betas in [0, 1), a momentum >= 0). ValueError for an optimizer with neither."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"cycle_momentum=True needs an optimizer with momentum or betas (SGD, RMSprop, Adam, "
                         f"AdamW, RAdam); {type(optimizer).__name__} has neither: pass cycle_momentum=False")
    use_beta1 = "betas" in optimizer.defaults
    if use_beta1:
        def check(n, v):
            return _real_in(n, v, 0.0, 1.0, high_open=True)
    else:
        def check(n, v):
            return _real_in(n, v, 0.0)
    max_momentums = _per_group("max_momentum", optimizer, max_momentum, check)
    base_momentums = _per_group("base_momentum", optimizer, base_momentum, check)
    return use_beta1, base_momentums, max_momentums


def _set_momenta(optimizer, use_beta1, momenta) -> None:
    for g, m in zip(optimizer.param_groups, momenta):
        if use_beta1:
            g["betas"] = (m, *g["betas"][1:])
        else:
            g["momentum"] = m


def _per_group(name, optimizer, value, check):
    """One value per parameter group: a list/tuple of that length, or one value for all (PyTorch's
    _format_param); each checked by ``check(name, v)``."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} must have one value per parameter group ({n}), got {len(value)}. "
                             f"Received: {name}={value!r}")
        return [check(f"{name}[{i}]", v) for i, v in enumerate(value)]
    return [check(name, value)] * n


def _lambdas(optimizer, lr_lambda):
    n = len(optimizer.param_groups)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != n:
            raise ValueError(f"expected {n} lr_lambdas (one per parameter group), got {len(lr_lambda)}")
        fns = list(lr_lambda)
    else:
        fns = [lr_lambda] * n
    for f in fns:
        if not callable(f):
            raise TypeError(f"lr_lambda must be a function (or one per parameter group), got {type(f).__name__}")
    return fns


def _lrs(optimizer) -> list[float]:
    return [g["lr"] for g in optimizer.param_groups]


# ---- the base ----------------------------------------------------------------------------
class LRScheduler:
    """Base, as PyTorch's: a subclass gives ``get_lr()``, the new rate of every group for epoch
    ``self.last_epoch`` (already advanced), usually from the group's current ``lr``. A subclass
    that only defines the closed form ``lr_at(base_lr, epoch)`` (fastnn's earlier API) works too:
    its rates then come from ``base_lrs`` and do not chain.

    ``last_epoch=-1`` starts a run (each group's ``initial_lr`` is set to its ``lr`` unless a
    schedule already did); ``last_epoch >= 0`` resumes one and needs ``initial_lr`` in every
    group (load the optimizer's state_dict first), as PyTorch."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        last_epoch = _last_epoch(last_epoch)
        self.optimizer = optimizer
        if last_epoch == -1:
            for g in optimizer.param_groups:
                g.setdefault("initial_lr", g["lr"])
        else:
            for i, g in enumerate(optimizer.param_groups):
                if "initial_lr" not in g:
                    raise KeyError(
                        f"param_groups[{i}] has no 'initial_lr', which resuming a schedule with "
                        f"last_epoch={last_epoch} needs: load the optimizer's state_dict from the run being resumed "
                        f"first, or use last_epoch=-1 for a new run")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for ``self.last_epoch``; called by ``step()`` (use ``get_last_lr()`` to read them)."""
        if type(self).lr_at is LRScheduler.lr_at:
            raise NotImplementedError(f"{type(self).__name__} must define get_lr() or lr_at(base_lr, epoch)")
        self._warn_outside_step()
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The closed form: the rate at ``epoch`` of a group whose initial rate is ``base_lr``."""
        raise NotImplementedError

    def _warn_outside_step(self) -> None:
        if not getattr(self, "_in_step", False):
            warnings.warn("To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                          UserWarning, stacklevel=3)

    def step(self, epoch=None) -> None:
        """Advance one epoch: ``last_epoch += 1`` and the rates of ``get_lr()``.

        ``epoch`` (deprecated, as in torch, whose UserWarning ``EPOCH_DEPRECATION_WARNING`` it
        emits): ``last_epoch = epoch`` and the rates there from the closed form (``lr_at``,
        torch's ``_get_closed_form_lr``) where the schedule has one (StepLR, MultiStepLR,
        ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR), else from
        ``get_lr()`` at that epoch (LambdaLR, MultiplicativeLR, OneCycleLR, CyclicLR: what
        torch's do). Later steps go on from there."""
        if epoch is not None:
            _deprecated_epoch(epoch)
            self._step_count += 1
            try:
                self._update_lr(epoch)
            except BaseException:
                self._step_count -= 1
                raise
            return
        self._step_count += 1
        self.last_epoch += 1
        self._in_step = True
        try:
            values = self.get_lr()
        except BaseException:  # (OneCycleLR past its end, a failing lr_lambda): the state stays as it was
            self.last_epoch -= 1
            self._step_count -= 1
            raise
        finally:
            self._in_step = False
        self._write(values)

    def _closed_form_lrs(self) -> list[float] | None:
        """The rates at ``self.last_epoch`` from the closed form ``lr_at`` (PyTorch's
        ``_get_closed_form_lr``), or None for a schedule without one."""
        if type(self).lr_at is LRScheduler.lr_at:
            return None
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def _update_lr(self, epoch: int) -> None:
        """PyTorch's ``_update_lr(epoch)``, which SequentialLR calls to restart a schedule at a
        milestone (its ``step(0)``): ``last_epoch = epoch`` and the closed form's rates there, or
        ``get_lr()``'s for a schedule without one; ``_step_count`` stays as it is."""
        previous = self.last_epoch
        self.last_epoch = epoch
        self._in_step = True
        try:
            values = self._closed_form_lrs()
            if values is None:
                values = self.get_lr()
        except BaseException:
            self.last_epoch = previous
            raise
        finally:
            self._in_step = False
        self._write(values)

    def _write(self, values) -> None:
        groups = self.optimizer.param_groups
        values = list(values)
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__} computed {len(values)} learning rates for {len(groups)} "
                             f"parameter groups (a group added after the schedule was created?)")
        for g, lr in zip(groups, values):
            g["lr"] = lr
        self._last_lr = _lrs(self.optimizer)

    def get_last_lr(self) -> list[float]:
        """The rates this schedule set at its last step (one per group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


# ---- factors of the initial rate ---------------------------------------------------------
class _LambdaScheduler(LRScheduler):
    """LambdaLR and MultiplicativeLR: ``lr_lambda`` is one function or a list of one per group.
    ``state_dict`` saves None for a function or lambda and a callable object's ``__dict__``, as PyTorch."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        _check_optimizer(optimizer)
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else fn.__dict__.copy()
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state):
        state = dict(state)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        self.__dict__.update(state)
        for fn, d in zip(self.lr_lambdas, saved):
            if d is not None:
                fn.__dict__.update(d)


class LambdaLR(_LambdaScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``; ``lr_lambda`` is one function or a list of one per
    group. Not chainable (PyTorch's neither): it overrides any other change of the rate."""

    def get_lr(self):
        self._warn_outside_step()
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """Each step after the first multiplies the current rate by ``lr_lambda(epoch)`` (one function,
    or one per group)."""

    def get_lr(self):
        self._warn_outside_step()
        if self._is_initial:
            return _lrs(self.optimizer)
        return [g["lr"] * fn(self.last_epoch) for fn, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs: ``lr = initial_lr * gamma ** (epoch //
    step_size)`` when nothing else changes it."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


def _milestones(milestones) -> list:
    """milestones as a list of ints >= 0 (TypeError / ValueError naming the bad value)."""
    try:
        ms = list(milestones)
    except TypeError:
        raise TypeError(f"milestones must be a list of ints. Received: milestones={milestones!r}") from None
    for i, m in enumerate(ms):
        if not _is_int(m) or m < 0:
            raise ValueError(f"milestones must be ints >= 0. Received: milestones[{i}]={m!r}")
    return ms


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each epoch in ``milestones`` (ints >= 0, in any order; a
    repeated milestone multiplies once per repeat, as PyTorch's):
    ``lr = initial_lr * gamma ** (number of milestones <= epoch)``."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        ms = _milestones(milestones)
        self.milestones = Counter(int(m) for m in ms)
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma ** self.milestones[self.last_epoch] for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect_right(sorted(self.milestones.elements()), epoch)


class ConstantLR(LRScheduler):
    """The rate times ``factor`` for the first ``total_iters`` epochs, then back to it."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1):
        # (factor 0, which PyTorch accepts, divides by zero when the rate is restored)
        self.factor = _positive("factor", factor, high=1.0)
        self.total_iters = _positive_int("total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [g["lr"] * (1.0 / self.factor) for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * (self.factor + (epoch >= self.total_iters) * (1 - self.factor))


class LinearLR(LRScheduler):
    """The factor of the rate goes linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays: ``lr = initial_lr * (start + (end - start) *
    min(epoch, total_iters) / total_iters)`` when nothing else changes it."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        self.start_factor = _positive("start_factor", start_factor, high=1.0)
        self.end_factor = _real_in("end_factor", end_factor, 0.0, 1.0)
        self.total_iters = _positive_int("total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        d = self.end_factor - self.start_factor
        f = 1.0 + d / (self.total_iters * self.start_factor + (self.last_epoch - 1) * d)
        # (max: with end_factor 0 PyTorch's form ends at +-1e-17; fastnn's optimizers refuse lr < 0)
        return [max(g["lr"] * f, 0.0) for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * min(self.total_iters, epoch)
                          / self.total_iters)


class LinearWarmup(LinearLR):
    """LinearLR under fastnn's earlier name and argument order (``warmup_steps`` = ``total_iters``)."""

    def __init__(self, optimizer, warmup_steps: int = 5, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 last_epoch: int = -1):
        _positive_int("warmup_steps", warmup_steps)
        super().__init__(optimizer, start_factor, end_factor, warmup_steps, last_epoch)

    @property
    def warmup_steps(self) -> int:
        return self.total_iters

    def load_state_dict(self, state):
        state = dict(state)
        if "warmup_steps" in state:  # a state_dict saved by the earlier LinearWarmup
            state.setdefault("total_iters", state.pop("warmup_steps"))
        super().load_state_dict(state)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch: ``lr = initial_lr * gamma ** epoch``."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self._is_initial:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class PolynomialLR(LRScheduler):
    """``lr = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power``: to 0 at total_iters."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        self.total_iters = _positive_int("total_iters", total_iters)
        self.power = _real_in("power", power, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        e, T = self.last_epoch, self.total_iters
        f = ((1.0 - e / T) / (1.0 - (e - 1) / T)) ** self.power
        return [g["lr"] * f for g in self.optimizer.param_groups]

    def lr_at(self, base_lr, epoch):
        return base_lr * (1.0 - min(self.total_iters, epoch) / self.total_iters) ** self.power


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (SGDR without
    restarts, Loshchilov & Hutter 2017), stepped in PyTorch's recursive form: past T_max the rate
    rises again (period 2 T_max). ``T_max`` is a positive int or, as PyTorch accepts, a positive
    real (a period that is not a whole number of steps)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = int(T_max) if _is_int(T_max) and T_max >= 1 else _positive("T_max", T_max)
        self.eta_min = _real_in("eta_min", eta_min, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        e, T, lo = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and e > 0:
            return [lo + (base - lo) * (1 + math.cos(e * math.pi / T)) / 2 for base in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            return [g["lr"] + (base - lo) * (1 - math.cos(math.pi / T)) / 2 for base, g in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (g["lr"] - lo) + lo
                for g in groups]

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter 2017): cosine from the initial rate to ``eta_min`` over ``T_0``
    epochs, then restart; each period ``T_mult`` times the last. ``step(epoch)`` takes a
    fractional epoch (``scheduler.step(epoch + i / iters)`` per batch), as PyTorch's. Computed from
    the initial rates (not chainable, as PyTorch's)."""

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_0 = _positive_int("T_0", T_0)
        self.T_i = self.T_0
        self.T_mult = _positive_int("T_mult", T_mult)
        self.eta_min = _real_in("eta_min", eta_min, 0.0)
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        self._warn_outside_step()
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def lr_at(self, base_lr, epoch):
        if epoch >= self.T_0:
            if self.T_mult == 1:
                t_cur, t_i = epoch % self.T_0, self.T_0
            else:
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                t_cur, t_i = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1), self.T_0 * self.T_mult ** n
        else:
            t_cur, t_i = epoch, self.T_0
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def _closed_form_lrs(self):
        # PyTorch's has no _get_closed_form_lr: SequentialLR restarts it through get_lr(), from
        # the current T_cur (lr_at is fastnn's own)
        return None

    def step(self, epoch=None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if not _is_real(epoch) or epoch < 0:
                raise ValueError(f"epoch must be a number >= 0. Received: epoch={epoch!r}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._step_count += 1
        self._in_step = True
        try:
            values = self.get_lr()
        finally:
            self._in_step = False
        self._write(values)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018, https://arxiv.org/abs/1708.07120), PyTorch's form:
    stepped once per batch, for ``total_steps`` (or ``epochs * steps_per_epoch``) steps. The rate
    rises from ``max_lr / div_factor`` (the groups' ``initial_lr``) to ``max_lr`` over the first
    ``pct_start`` of the steps, then anneals to ``initial_lr / final_div_factor``
    (``three_phase``: back to ``initial_lr`` first, symmetric, then to the minimum), by cosine or
    linearly (``anneal_strategy``). With ``cycle_momentum`` the momentum (SGD, RMSprop) or Adam's
    beta1 moves the opposite way between ``max_momentum`` and ``base_momentum``; an optimizer with
    neither (Adagrad, Adadelta) needs ``cycle_momentum=False``. Stepping past ``total_steps``
    raises ValueError. Sets the groups' ``initial_lr``, ``max_lr``, ``min_lr`` (and
    ``max_momentum``, ``base_momentum``), as PyTorch."""

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1):
        _check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = _positive_int("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = _positive_int("epochs", epochs) * _positive_int("steps_per_epoch", steps_per_epoch)
        else:
            raise ValueError(f"OneCycleLR needs total_steps, or epochs and steps_per_epoch. Received: "
                             f"total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
        pct_start = _real_in("pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear'. "
                             f"Received: anneal_strategy={anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        div_factor = _positive("div_factor", div_factor)
        final_div_factor = _positive("final_div_factor", final_div_factor)
        max_lrs = _per_group("max_lr", optimizer, max_lr, _positive)
        if not isinstance(cycle_momentum, bool):
            raise TypeError(f"cycle_momentum must be True or False. Received: cycle_momentum={cycle_momentum!r}")
        self.three_phase = bool(three_phase)
        T = self.total_steps
        if self.three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * T) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * T) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": T - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * T) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": T - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1, base_momentums, max_momentums = _momenta(optimizer, base_momentum, max_momentum)
        if last_epoch == -1:
            for i, g in enumerate(optimizer.param_groups):
                g["initial_lr"] = max_lrs[i] / div_factor
                g["max_lr"] = max_lrs[i]
                g["min_lr"] = g["initial_lr"] / final_div_factor
            if cycle_momentum:
                for m_max, m_base, g in zip(max_momentums, base_momentums, optimizer.param_groups):
                    if self.use_beta1:
                        g["betas"] = (m_max, *g["betas"][1:])
                    else:
                        g["momentum"] = m_max
                    g["max_momentum"] = m_max
                    g["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _annealing_cos(start, end, pct):
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    @staticmethod
    def _annealing_linear(start, end, pct):
        return (end - start) * pct + start

    def _anneal(self, start, end, pct):
        return (self._annealing_cos if self.anneal_strategy == "cos" else self._annealing_linear)(start, end, pct)

    def get_lr(self):
        self._warn_outside_step()
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {step_num} times, past its total_steps={self.total_steps} "
                             f"(total_steps, or epochs * steps_per_epoch, must count every step() call)")
        lrs, momenta = [], []
        last = len(self._schedule_phases) - 1
        for g in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    # (a phase of no length, e.g. pct_start * total_steps == 1, ends where it starts:
                    # PyTorch divides by zero there)
                    pct = (step_num - start_step) / (end_step - start_step) if end_step != start_step else 1.0
                    lrs.append(self._anneal(g[phase["start_lr"]], g[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momenta.append(self._anneal(g[phase["start_momentum"]], g[phase["end_momentum"]], pct))
                    break
                start_step = phase["end_step"]
        if self.cycle_momentum:
            _set_momenta(self.optimizer, self.use_beta1, momenta)
        return lrs


class CyclicLR(LRScheduler):
    """Cyclical learning rates (Smith 2017, https://arxiv.org/abs/1506.01186), PyTorch's form,
    stepped once per batch: the rate rises from ``base_lr`` to ``max_lr`` over ``step_size_up``
    steps and falls back over ``step_size_down`` (default ``step_size_up``; 0 gives a sawtooth),
    the amplitude ``max_lr - base_lr`` scaled by ``mode``: "triangular" (1), "triangular2"
    (halved each cycle), "exp_range" (``gamma ** step``); or by ``scale_fn(x)``, which overrides
    ``mode``, of the cycle number (``scale_mode="cycle"``, from 1) or of the step
    (``"iterations"``). ``base_lr``, ``max_lr`` (and the momenta) are one value or one per group.
    Computed from ``base_lr`` (not chainable, as PyTorch's). With ``cycle_momentum`` the momentum
    (SGD, RMSprop) or Adam's beta1 moves the opposite way, from ``max_momentum`` at ``base_lr``
    to ``base_momentum`` at ``max_lr``; an optimizer with neither (Adagrad, Adadelta) needs
    ``cycle_momentum=False``.

    As PyTorch's, a new run (``last_epoch=-1``) sets each group's ``lr`` to ``base_lr`` and, with
    ``cycle_momentum``, its momentum to ``max_momentum`` and its ``max_momentum`` /
    ``base_momentum`` keys; the constructor's step takes the groups' ``initial_lr`` as the lower
    bound (that is ``base_lr`` unless another schedule on the optimizer stored ``initial_lr``
    first), ``base_lrs`` is ``base_lr`` from then on. ``state_dict`` saves None for a ``scale_fn``
    function or lambda and a callable object's ``__dict__``, as PyTorch."""

    _MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, optimizer, base_lr, max_lr, step_size_up: int = 2000, step_size_down: int | None = None,
                 mode: str = "triangular", gamma: float = 1.0, scale_fn=None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum=0.8, max_momentum=0.9, last_epoch: int = -1):
        _check_optimizer(optimizer)
        last_epoch = _last_epoch(last_epoch)

        def rate(n, v):
            return _real_in(n, v, 0.0)

        base_lrs = _per_group("base_lr", optimizer, base_lr, rate)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr, rate)
        up = float(_positive_int("step_size_up", step_size_up))
        if step_size_down is None:
            down = up
        elif not _is_int(step_size_down) or step_size_down < 0:
            raise ValueError(f"step_size_down must be an int >= 0 (or None: step_size_up). "
                             f"Received: step_size_down={step_size_down!r}")
        else:
            down = float(step_size_down)
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if scale_fn is None and mode not in self._MODES:
            raise ValueError(f"mode must be 'triangular', 'triangular2' or 'exp_range' (or give scale_fn). "
                             f"Received: mode={mode!r}")
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"scale_fn must be a function of one argument (or None). Received: scale_fn={scale_fn!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"scale_mode must be 'cycle' or 'iterations'. Received: scale_mode={scale_mode!r}")
        if not isinstance(cycle_momentum, bool):
            raise TypeError(f"cycle_momentum must be True or False. Received: cycle_momentum={cycle_momentum!r}")
        self.mode = mode
        self.gamma = _positive("gamma", gamma)
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_mode()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1, self.base_momentums, self.max_momentums = _momenta(optimizer, base_momentum,
                                                                               max_momentum)
        if last_epoch == -1:
            for g, lr in zip(optimizer.param_groups, base_lrs):
                g["lr"] = lr
            if cycle_momentum:
                _set_momenta(optimizer, self.use_beta1, self.max_momentums)
                for g, m_max, m_base in zip(optimizer.param_groups, self.max_momentums, self.base_momentums):
                    g["max_momentum"] = m_max
                    g["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_mode(self) -> None:
        # the built-in modes fix what their scale is a function of, as PyTorch's _init_scale_fn
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x) -> float:
        """The amplitude's factor at ``x`` (the cycle number or the step, per ``scale_mode``)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self):
        self._warn_outside_step()
        e = self.last_epoch
        cycle = math.floor(1 + e / self.total_size)
        x = 1.0 + e / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        at = cycle if self.scale_mode == "cycle" else e
        # (scale_fn once per group and value, as PyTorch: a callable object sees the same calls)
        lrs = [base + (top - base) * scale_factor * self.scale_fn(at) for base, top in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            momenta = [top - (top - base) * scale_factor * self.scale_fn(at)
                       for base, top in zip(self.base_momentums, self.max_momentums)]
            _set_momenta(self.optimizer, self.use_beta1, momenta)
        return lrs

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_scale_fn_custom")}
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else \
            dict(getattr(fn, "__dict__", {}))
        return state

    def load_state_dict(self, state):
        state = dict(state)
        saved = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if saved is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(saved)
        self._init_scale_mode()


# ---- on a metric -------------------------------------------------------------------------
class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` when a metric has not improved for ``patience`` epochs
    (PyTorch's rule: improvement beyond a relative or absolute ``threshold``; ``cooldown``
    epochs of rest after a cut; never below ``min_lr``, one value or one per group; changes
    smaller than eps ignored). Call ``step(metrics)`` once per epoch. It reads each group's
    current rate, so it composes with the other schedules.

    As torch's, an ``LRScheduler`` that does not run ``LRScheduler.__init__`` (no constructor
    step, no ``initial_lr`` / ``base_lrs``); ``mode_worse`` (inf for "min", -inf for "max": the
    starting ``best``) is in its state_dict, as torch's."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr=0.0,
                 eps: float = 1e-8):
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs'. Received: threshold_mode={threshold_mode!r}")
        if not _is_real(factor) or not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1). Received: factor={factor!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if not _is_int(v) or v < 0:
                raise ValueError(f"{name} must be an int >= 0. Received: {name}={v!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.threshold, self.eps = float(threshold), float(eps)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("min_lr", optimizer, min_lr, lambda n, v: _real_in(n, v, 0.0))
        else:
            self.default_min_lr = _real_in("min_lr", min_lr, 0.0)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self._reset()

    def _reset(self) -> None:
        """torch's: ``best`` back to ``mode_worse``, the bad-epoch and cooldown counters to 0."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def min_lr(self) -> float:
        """The floor of the first group (fastnn's earlier attribute); setting it sets every group's."""
        return self.min_lrs[0]

    @min_lr.setter
    def min_lr(self, value: float) -> None:
        self.default_min_lr = _real_in("min_lr", value, 0.0)
        self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold)

    def step(self, metrics: float, epoch=None) -> None:
        """One epoch's ``metrics`` (a number, or anything ``float()`` takes). ``epoch``
        (deprecated, as torch's, with its UserWarning ``EPOCH_DEPRECATION_WARNING``): sets
        ``last_epoch = epoch`` instead of counting one more."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            _deprecated_epoch(epoch)
        self.last_epoch = epoch
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups
            if len(groups) != len(self.min_lrs):
                if self.default_min_lr is None:
                    raise RuntimeError(f"the optimizer has {len(groups)} parameter groups, {len(self.min_lrs)} when "
                                       f"ReduceLROnPlateau was created: set min_lrs to one value per group")
                self.min_lrs = [self.default_min_lr] * len(groups)
            for g, floor in zip(groups, self.min_lrs):
                old = float(g["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer)

    @property
    def in_cooldown(self) -> bool:
        """True while the cooldown after a reduction lasts (torch's)."""
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        if "min_lr" in state and "min_lrs" not in state:  # a state_dict saved by the earlier version
            m = state.pop("min_lr")
            state["default_min_lr"], state["min_lrs"] = m, [m] * len(self.optimizer.param_groups)
        self.__dict__.update(state)
        self.mode_worse = math.inf if self.mode == "min" else -math.inf  # (torch's _init_is_better)


# ---- schedules of schedules --------------------------------------------------------------
def _schedules(who, schedulers, optimizer, nested=True):
    """The checked list of schedules SequentialLR or ChainedScheduler (``who``) holds: fastnn
    schedules on ``optimizer`` (None: the first one's), no ReduceLROnPlateau (stepped with a
    metric, as PyTorch's refuses it), and for SequentialLR (``nested=False``) none of these two."""
    try:
        scheds = list(schedulers)
    except TypeError:
        raise TypeError(f"{who} takes a list of schedules. Received: schedulers={schedulers!r}") from None
    if not scheds:
        raise ValueError(f"{who} needs at least one schedule. Received: schedulers={scheds!r}")
    for i, s in enumerate(scheds):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{who} cannot hold a ReduceLROnPlateau (schedulers[{i}]): it is stepped with a metric, "
                             f"step(metrics); step it on its own (PyTorch's refuses it too)")
        if not isinstance(s, LRScheduler):
            raise TypeError(f"{who} takes fastnn.optim schedules; schedulers[{i}] is a {type(s).__name__}")
        if not nested and isinstance(s, _ScheduleOfSchedules):
            raise ValueError(f"{who} cannot hold a {type(s).__name__} (schedulers[{i}]): it restarts a schedule at "
                             f"its milestone with step(0), which a {type(s).__name__} has not (PyTorch's raises "
                             f"NotImplementedError there); give its schedules to the outer one")
    if optimizer is None:
        optimizer = scheds[0].optimizer
    _check_optimizer(optimizer)
    for i, s in enumerate(scheds):
        if s.optimizer is not optimizer:
            raise ValueError(f"{who}: schedulers[{i}] ({type(s).__name__}) is on another optimizer than the "
                             f"{type(optimizer).__name__} given: all its schedules must be on the same one")
    return scheds, optimizer


class _ScheduleOfSchedules(LRScheduler):
    """SequentialLR and ChainedScheduler: the rates come from the schedules held (``get_lr`` and
    ``lr_at`` are theirs). ``state_dict`` holds the schedules' own under ``"_schedulers"``, as
    PyTorch's; ``load_state_dict`` loads each into the schedule at its place."""

    _schedulers: list

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} has no get_lr(): its schedules compute the rates "
                                  f"(use get_last_lr())")

    def _closed_form_lrs(self):
        return None

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        saved = state.pop("_schedulers", None)
        if saved is not None and len(saved) != len(self._schedulers):
            raise ValueError(f"the state_dict holds {len(saved)} schedules, this {type(self).__name__} "
                             f"{len(self._schedulers)}")
        self.__dict__.update(state)
        for s, st in zip(self._schedulers, saved or []):
            s.load_state_dict(st)


class SequentialLR(_ScheduleOfSchedules):
    """One schedule after another, PyTorch's SequentialLR: ``schedulers[i]`` runs from epoch
    ``milestones[i - 1]`` on (``len(milestones) == len(schedulers) - 1``), e.g. a LinearLR
    warm-up, then CosineAnnealingLR. As PyTorch's: the schedules are built first, on
    ``optimizer``; construction sets every group's ``lr`` back to its ``initial_lr``, undoes the
    constructor step of each schedule (``last_epoch - 1``) and redoes the first's. ``step()``
    steps the schedule of the new epoch, except at a milestone, where that schedule restarts at
    its epoch 0 (PyTorch's ``step(0)``): from its closed form, ``lr_at(initial_lr, 0)``, where it
    has one (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, PolynomialLR restart at
    ``initial_lr``; LinearLR, ConstantLR at ``initial_lr`` times their factor), else from
    ``get_lr()`` at epoch 0 (LambdaLR, MultiplicativeLR, CosineAnnealingWarmRestarts, OneCycleLR,
    CyclicLR). ``last_epoch`` is PyTorch's too: the sequence's epoch starts at ``last_epoch + 1``.

    ``milestones`` are ints >= 0 in increasing order (PyTorch does not check them). A
    ReduceLROnPlateau, SequentialLR or ChainedScheduler cannot be among the schedules (PyTorch's
    refuses the first and raises NotImplementedError at the milestone of the others)."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        _check_optimizer(optimizer)
        scheds, _ = _schedules("SequentialLR", schedulers, optimizer, nested=False)
        ms = _milestones(milestones)
        if any(b < a for a, b in zip(ms, ms[1:])):
            raise ValueError(f"milestones must be in increasing order. Received: milestones={ms!r}")
        if len(ms) != len(scheds) - 1:
            raise ValueError(f"SequentialLR needs one milestone fewer than schedules (len(milestones) == "
                             f"len(schedulers) - 1 == {len(scheds) - 1}). Received: milestones={ms!r}")
        last_epoch = _last_epoch(last_epoch)
        for i, g in enumerate(optimizer.param_groups):
            if "initial_lr" not in g:
                raise KeyError(f"param_groups[{i}] has no 'initial_lr' (a group added after the schedules were "
                               f"created?)")
        self.optimizer = optimizer
        self._schedulers = scheds
        self._milestones = [int(m) for m in ms]
        self.last_epoch = last_epoch + 1
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"]
        for s in scheds:
            s.last_epoch -= 1
        first = scheds[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        epoch = self.last_epoch + 1
        idx = bisect_right(self._milestones, epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self.last_epoch = epoch
        self._last_lr = sched.get_last_lr()


class ChainedScheduler(_ScheduleOfSchedules):
    """Several schedules stepped as one, PyTorch's ChainedScheduler: ``step()`` steps each in
    turn (chainable schedules compose: ExponentialLR and StepLR apply both factors), and
    ``get_last_lr()`` is the groups' rates after the last. The schedules are on one optimizer
    (``optimizer``, default the first schedule's); no ReduceLROnPlateau (stepped with a metric)."""

    def __init__(self, schedulers, optimizer: Optimizer | None = None):
        scheds, optimizer = _schedules("ChainedScheduler", schedulers, optimizer)
        self.optimizer = optimizer
        self._schedulers = scheds
        self._last_lr = _lrs(scheds[-1].optimizer)

    def step(self) -> None:
        for s in self._schedulers:
            s.step()
        self._last_lr = _lrs(self._schedulers[-1].optimizer)
