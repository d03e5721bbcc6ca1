"""Optimizers: a list of parameter groups plus per-parameter state created lazily on the first
step (PyTorch's design). Each update is one fused in-place kernel, ``fastnn.ops.<name>_update``,
with PyTorch's update rule. Parameters with ``trainable=False`` (``Module.freeze``) are skipped.
Ordered by increasing complexity, as tinygrad does.

The slots live on their parameter's device: created there on the first step, and moved with
the parameter when the model moves later (``Module.to``); ``load_state_dict`` copies saved
slots onto the parameter's device, as PyTorch's does."""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _device, ops
from ..nn.module import Module, Parameter
from ..ops.optim import _run as _run_fused
from ..reference import optim as _ref

# float64 parameters (Module.double(), for gradient checks) are updated by fastnn.reference's
# formulas: the fused kernels are float32 only (fastnn.ops refuses other dtypes rather than
# update a silent copy). Each entry takes the fused kernel's arguments, in the binding's order.
_FLOAT64_UPDATES = {
    "sgd_update": lambda p, g, buf, lr, momentum, dampening, nesterov, wd, first: _ref.sgd_update(
        p, g, buf, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=wd,
        first_step=first),
    "adadelta_update": lambda p, g, sq, acc, lr, rho, eps, wd: _ref.adadelta_update(
        p, g, sq, acc, lr=lr, rho=rho, eps=eps, weight_decay=wd),
    "rmsprop_update": lambda p, g, sq, buf, ga, lr, alpha, eps, wd, momentum, centered: _ref.rmsprop_update(
        p, g, sq, buf, ga, lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum, centered=centered),
    "adam_update": lambda p, g, m, v, step, lr, b1, b2, eps, wd, decoupled, vmax: _ref.adam_update(
        p, g, m, v, step=step, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd, decoupled=decoupled,
        max_exp_avg_sq=vmax),
    "radam_update": lambda p, g, m, v, step, lr, b1, b2, eps, wd: _ref.radam_update(
        p, g, m, v, step=step, lr=lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd),
}


def _run(kernel: str, param, grad, *args) -> None:
    """The fused in-place update for float32, the reference's for float64 parameters."""
    if param.dtype == np.float64 and grad.dtype == np.float64:
        _FLOAT64_UPDATES[kernel](param, grad, *args)
    else:
        _run_fused(kernel, param, grad, *args)

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "RAdam"]


def _num(name, value, low=0.0, high=None, low_open=False, high_open=False):
    # (plain floats and ints skip the abstract-class test: every step validates its groups)
    if (type(value) is not float and type(value) is not int and (
            isinstance(value, bool) or not isinstance(value, numbers.Real))) or not math.isfinite(value):
        raise ValueError(f"Invalid {name}. Received: {name}={value!r}")
    value = float(value)
    if (value <= low if low_open else value < low) or (
            high is not None and (value >= high if high_open else value > high)):
        lo, hi = ("(" if low_open else "[") + f"{low}", f"{high if high is not None else 'inf'}" + (
            ")" if high_open or high is None else "]")
        raise ValueError(f"{name} must be in {lo}, {hi}. Received: {name}={value!r}")
    return value


class Optimizer:
    """Base class. ``params``: a Module, an iterable of Parameters, or a list of dicts
    ``{"params": [...], <hyperparameter>: value}`` (parameter groups, PyTorch style)."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        if isinstance(params, Module):
            params = params.parameters()
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters (or a Module), got a single Parameter")
        params = list(params)
        if not params:
            raise ValueError("the optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        self.state: dict[Parameter, dict] = {}
        self._state_device: dict[Parameter, str] = {}  # where each parameter's slots are
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group must be a dict with 'params', got {group!r}")
        params = group["params"]
        params = params.parameters() if isinstance(params, Module) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizers take fastnn.nn.Parameter objects, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter appears in more than one place in the optimizer's parameter list")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"unknown hyperparameters {sorted(unknown)} for {type(self).__name__}")
        full = {**self.defaults, **group, "params": params}
        self._validate(full)
        self.param_groups.append(full)

    def _validate(self, group: dict) -> None:
        _num("lr", group["lr"])

    @property
    def lr(self) -> float:
        """The learning rate of the first group (what schedulers and fit report)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for g in self.param_groups:
            g["lr"] = _num("lr", value)

    def zero_grad(self) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                p.zero_grad()

    def step(self) -> None:
        """One update of every trainable parameter, from its accumulated ``grad``."""
        for group in self.param_groups:
            # Once per group and step (a scheduler or the user may have changed a value): the
            # updates below then skip the per-call checks of fastnn.ops (ops.optim._run).
            self._validate(group)
            for p in group["params"]:
                if not p.trainable or not p.has_grad:  # frozen, or no gradient since zero_grad
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._init_state(p, group)
                    self._state_device[p] = p.device
                elif self._state_device.get(p) != p.device:  # the model moved since the last step
                    self._move_state(p, state)
                self._update(p, state, group)

    def _move_state(self, p: Parameter, state: dict) -> None:
        device = p.device
        for k, v in state.items():
            if _device.device_of(v) is not None:
                state[k] = _device.move(v, device)
        self._state_device[p] = device

    def _init_state(self, p: Parameter, group: dict) -> dict:
        return {}

    def _update(self, p: Parameter, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ---- resuming --------------------------------------------------------------------
    def _all_params(self) -> list[Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """{"state": {param index: {slot: array or number}}, "param_groups": [hyperparameters +
        "params": [indices]]}; indices count parameters across groups in order (PyTorch)."""
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {index[id(p)]: {k: (v.copy() if _device.device_of(v) else v) for k, v in s.items()}
                 for p, s in self.state.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(a["params"]) != len(b["params"]) for a, b in zip(groups, self.param_groups)):
            raise ValueError("the state_dict's parameter groups do not match this optimizer's")
        params = self._all_params()
        new_state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            slots = {}
            for k, v in s.items():
                if _device.device_of(v) is not None:
                    if v.shape != p.shape:
                        raise ValueError(f"optimizer state {k!r} of parameter {i} has shape {v.shape}, "
                                         f"the parameter has {p.shape}")
                    # a C-contiguous copy on the parameter's device, which the kernels may update
                    copy = _device.zeros_like(p.data)
                    _device.copy_into(copy, v)
                    v = copy
                slots[k] = v
            new_state[p] = slots
        for g, saved in zip(self.param_groups, groups):
            for k, v in saved.items():
                if k != "params":
                    g[k] = v
        self.state = new_state
        self._state_device = {p: p.device for p in new_state}

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items() if k != "params")
        return f"{type(self).__name__}({hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's rule; Sutskever et al. 2013 for Nesterov).

    ``g = grad + weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step) and ``g = g + momentum * buf`` (Nesterov) or ``g = buf``;
    then ``p -= lr * g``.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": bool(nesterov), "weight_decay": weight_decay})

    def _validate(self, g):
        super()._validate(g)
        _num("momentum", g["momentum"])
        _num("dampening", g["dampening"])
        _num("weight_decay", g["weight_decay"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening = 0. "
                             f"Received: momentum={g['momentum']!r}, dampening={g['dampening']!r}")

    def _init_state(self, p, group):
        return {"momentum_buffer": _device.zeros_like(p.data) if group["momentum"] != 0 else None, "step": 0}

    def _update(self, p, state, g):
        if g["momentum"] != 0 and state["momentum_buffer"] is None:  # momentum switched on later
            state["momentum_buffer"] = _device.zeros_like(p.data)
            state["step"] = 0
        state["step"] += 1
        _run("sgd_update", p.data, p.grad, state["momentum_buffer"] if g["momentum"] != 0 else None, g["lr"],
             g["momentum"], g["dampening"], bool(g["nesterov"]), g["weight_decay"], state["step"] == 1)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): ``sum += g^2``; ``p -= lr / (1 + (step - 1) * lr_decay) * g /
    (sqrt(sum) + eps)`` with ``g = grad + weight_decay * p``."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _validate(self, g):
        super()._validate(g)
        for k in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _num(k, g[k])

    def _init_state(self, p, group):
        return {"step": 0, "sum": _device.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, state, g):
        state["step"] += 1
        update = _ref.adagrad_update if p.data.dtype == np.float64 else ops.adagrad_update
        update(p.data, p.grad, state["sum"], step=state["step"], lr=g["lr"], lr_decay=g["lr_decay"],
               weight_decay=g["weight_decay"], eps=g["eps"])


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): ``v = rho v + (1 - rho) g^2``; ``delta = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho u + (1 - rho) delta^2``; ``p -= lr * delta``."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    def _validate(self, g):
        super()._validate(g)
        _num("rho", g["rho"], high=1.0)
        _num("eps", g["eps"])
        _num("weight_decay", g["weight_decay"])

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": _device.zeros_like(p.data), "acc_delta": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        state["step"] += 1
        _run("adadelta_update", p.data, p.grad, state["square_avg"], state["acc_delta"], g["lr"], g["rho"], g["eps"],
             g["weight_decay"])


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): ``v = alpha v + (1 - alpha) g^2``; centered subtracts the
    squared running mean of g; ``p -= lr * g / (sqrt(v) + eps)`` (through a momentum buffer when
    momentum > 0)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": bool(centered)})

    def _validate(self, g):
        super()._validate(g)
        for k in ("alpha", "eps", "weight_decay", "momentum"):
            _num(k, g[k])

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": _device.zeros_like(p.data),
                "momentum_buffer": _device.zeros_like(p.data) if group["momentum"] > 0 else None,
                "grad_avg": _device.zeros_like(p.data) if group["centered"] else None}

    def _update(self, p, state, g):
        state["step"] += 1
        _run("rmsprop_update", p.data, p.grad, state["square_avg"], state["momentum_buffer"], state["grad_avg"],
             g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"], bool(g["centered"]))


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980), PyTorch's form:
    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``; ``g = grad + weight_decay * p``.
    ``amsgrad=True`` (AMSGrad, Reddi et al. 2018, https://openreview.net/forum?id=ryQu7f-RZ): the
    denominator uses ``v_max = max(v_max, v)``, kept in the state as ``max_exp_avg_sq``."""

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad})

    def _validate(self, g):
        super()._validate(g)
        betas = g["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2). Received: betas={betas!r}")
        _num("beta1", betas[0], high=1.0, high_open=True)
        _num("beta2", betas[1], high=1.0, high_open=True)
        g["betas"] = (float(betas[0]), float(betas[1]))
        _num("eps", g["eps"])
        _num("weight_decay", g["weight_decay"])
        if "amsgrad" in g:  # (RAdam has no amsgrad)
            if not isinstance(g["amsgrad"], (bool, np.bool_)):
                raise TypeError(f"amsgrad must be True or False. Received: amsgrad={g['amsgrad']!r}")
            g["amsgrad"] = bool(g["amsgrad"])

    def _init_state(self, p, group):
        state = {"step": 0, "exp_avg": _device.zeros_like(p.data), "exp_avg_sq": _device.zeros_like(p.data)}
        if group.get("amsgrad"):
            state["max_exp_avg_sq"] = _device.zeros_like(p.data)
        return state

    def _update(self, p, state, g):
        state["step"] += 1
        vmax = None
        if g.get("amsgrad"):
            vmax = state.get("max_exp_avg_sq")
            if vmax is None:  # amsgrad switched on after the first steps: the maximum starts here
                vmax = state["max_exp_avg_sq"] = state["exp_avg_sq"].copy()
        _run("adam_update", p.data, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], g["lr"],
             g["betas"][0], g["betas"][1], g["eps"], g["weight_decay"], self._decoupled, vmax)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101):
    ``p *= 1 - lr * weight_decay`` before the Adam step on the raw gradient."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


class RAdam(Adam):
    """Rectified Adam (Liu et al. 2020, https://arxiv.org/abs/1908.03265): Adam whose adaptive
    term is switched on only once the variance of its estimate is tractable (rho_t > 5), with
    the rectification factor r_t; plain bias-corrected momentum SGD before that.
    ``decoupled_weight_decay=True`` (PyTorch's): ``p *= 1 - lr * weight_decay`` first, as AdamW,
    instead of adding ``weight_decay * p`` to the gradient."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False):
        Optimizer.__init__(self, params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                          "decoupled_weight_decay": decoupled_weight_decay})

    def _validate(self, g):
        super()._validate(g)
        flag = g.get("decoupled_weight_decay", False)
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"decoupled_weight_decay must be True or False. Received: decoupled_weight_decay={flag!r}")
        g["decoupled_weight_decay"] = bool(flag)

    def _update(self, p, state, g):
        state["step"] += 1
        wd = g["weight_decay"]
        if g.get("decoupled_weight_decay") and wd:
            p.data *= p.data.dtype.type(1.0 - g["lr"] * wd)  # in place, then the update on the raw gradient
            wd = 0.0
        _run("radam_update", p.data, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], g["lr"],
             g["betas"][0], g["betas"][1], g["eps"], wd)
