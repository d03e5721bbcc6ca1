"""Learning-rate schedules with PyTorch's semantics: constructing one sets the epoch-0 rate;
each ``step()`` advances one epoch (or one batch, if you call it per batch) and writes the new
rate into every parameter group. Rates are computed in closed form from each group's initial lr."""
from __future__ import annotations

import math
import numbers

from .optimizers import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup", "LinearLR",
           "ReduceLROnPlateau"]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"a scheduler needs a fastnn.optim.Optimizer, got {type(optimizer).__name__}")


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={v!r}")
    return int(v)


def _positive(name, v, high=None):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0 or (high is not None and v > high):
        rng = f"(0, {high}]" if high is not None else "(0, inf)"
        raise ValueError(f"{name} must be in {rng}. Received: {name}={v!r}")
    return float(v)


class LRScheduler:
    """Base: subclasses give ``lr_at(base_lr, epoch)``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = self.lr_at(base, self.last_epoch)

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** epoch``."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _positive("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`` (SGDR without
    restarts, Loshchilov & Hutter 2017)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _positive_int("T_max", T_max)
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real) or eta_min < 0:
            raise ValueError(f"eta_min must be >= 0. Received: eta_min={eta_min!r}")
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearWarmup(LRScheduler):
    """Linear warm-up (PyTorch's LinearLR): the factor goes linearly from start_factor to
    end_factor over ``warmup_steps`` steps, then stays: ``lr = base_lr * (start + (end - start) *
    min(epoch, warmup_steps) / warmup_steps)``."""

    def __init__(self, optimizer, warmup_steps: int = 5, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 last_epoch: int = -1):
        self.warmup_steps = _positive_int("warmup_steps", warmup_steps)
        self.start_factor = _positive("start_factor", start_factor, high=1.0)
        if isinstance(end_factor, bool) or not isinstance(end_factor, numbers.Real) or not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must be in [0, 1]. Received: end_factor={end_factor!r}")
        self.end_factor = float(end_factor)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        t = min(epoch, self.warmup_steps) / self.warmup_steps
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * t)


def LinearLR(optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
             last_epoch: int = -1) -> LinearWarmup:
    """PyTorch's name and argument order for LinearWarmup."""
    return LinearWarmup(optimizer, total_iters, start_factor, end_factor, last_epoch)


class ReduceLROnPlateau:
    """Multiply the rate by ``factor`` when a metric has not improved for ``patience`` epochs
    (PyTorch's rule: improvement beyond a relative or absolute ``threshold``; ``cooldown``
    epochs of rest after a cut; never below ``min_lr``; changes smaller than eps ignored).
    Call ``step(metric)`` once per epoch."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8):
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs'. Received: threshold_mode={threshold_mode!r}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1). Received: factor={factor!r}")
        for name, v in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"{name} must be an int >= 0. Received: {name}={v!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.threshold, self.min_lr, self.eps = float(threshold), float(min_lr), float(eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if self.threshold_mode == "rel" else self.best + self.threshold)

    def step(self, metric: float) -> None:
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g in self.optimizer.param_groups:
                new = max(g["lr"] * self.factor, self.min_lr)
                if g["lr"] - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
