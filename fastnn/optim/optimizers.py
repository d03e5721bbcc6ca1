"""Optimizers: a list of parameter groups plus per-parameter state created lazily on the first
step (PyTorch's design). Each update is one fused in-place kernel, ``fastnn.ops.<name>_update``,
with PyTorch's update rule; NAdam, Adamax, Rprop and ASGD, which have no kernel, are array code
(NumPy or CuPy, whichever holds the parameter) in the parameter's dtype, operation by operation
as torch's single-tensor implementations, so float32 results agree to rounding. Parameters
with ``trainable=False`` (``Module.freeze``) are skipped. Ordered by increasing complexity, as
tinygrad does (the array-code four come last).

The slots live on their parameter's device: created there on the first step, and moved with
the parameter when the model moves later (``Module.to``); ``load_state_dict`` copies saved
slots onto the parameter's device, as PyTorch's does.

PyTorch's implementation switches are taken where torch.optim's class has them, with its
defaults, kept in the defaults and every parameter group (hence the state_dict) as torch keeps
them, so torch's constructor calls and state_dicts work unchanged:

- ``foreach`` and ``fused`` (None, True or False) choose nothing: fastnn has one implementation
  per optimizer, so the updates are the same whatever their values. As torch's, ``fused=True``
  with ``foreach=True``, or with ``differentiable=True``, is a RuntimeError (torch's messages).
- ``differentiable=True`` (torch: the step itself is recorded by autograd, for
  meta-learning) is refused with NotImplementedError: fastnn has no autograd, and its steps
  update the arrays in place.
- ``capturable=True`` (torch: the step count stays on the device, so the step can be captured
  in a CUDA graph) is refused with NotImplementedError: fastnn captures no graphs. Torch does not
  take it silently on CPU either: its first step fails an assertion that the parameters are on
  a CUDA-like device (all but fused Adam/AdamW, whose CPU kernel ignores it).

These are checked in the constructor, in ``add_param_group``, at every step (a group may be
edited) and by ``load_state_dict`` before it changes anything; NotImplementedError being a
RuntimeError, code written against torch's errors catches it too. A state_dict without these
keys (fastnn's before they existed) loads, the groups keeping their values."""
from __future__ import annotations

import copy
import functools
import itertools
import math
import numbers
import types
from collections import OrderedDict, defaultdict
from typing import Any, Callable, Optional

import numpy as np

from .. import _device, ops
from ..hooks import RemovableHandle, add_hook
from ..nn.module import Module, Parameter, _host_values
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


def _copy_slot(v):
    """A state value for ``state_dict``: a copy of an array, of each array of a list (LBFGS's
    history); other values as they are."""
    if isinstance(v, list):
        return [_copy_slot(x) for x in v]
    return v.copy() if _device.device_of(v) is not None else v


def _move_slot(v, device: str):
    """A state value on device (arrays, and the arrays of a list, moved; other values kept)."""
    if isinstance(v, list):
        return [_move_slot(x, device) for x in v]
    return _device.move(v, device) if _device.device_of(v) is not None else v


def _run(kernel: str, param, grad, *args) -> None:
    """The fused in-place update for float32, the reference's for float64 parameters."""
    if param.dtype == np.float64 and grad.dtype == np.float64:
        _FLOAT64_UPDATES[kernel](param, grad, *args)
    else:
        _run_fused(kernel, param, grad, *args)

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "RAdam", "NAdam", "Adamax",
           "Rprop", "ASGD"]


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
        raise ValueError(f"Invalid {name} (must be in {lo}, {hi}). Received: {name}={value!r}")
    return value


def _pair(name, value, parts: str):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair {parts}. Received: {name}={value!r}")
    return value


def _validate_betas(group):
    """(beta1, beta2), each in [0, 1), stored as a tuple of floats (Adam and its relatives)."""
    betas = _pair("betas", group["betas"], "(beta1, beta2)")
    _num("beta1", betas[0], high=1.0, high_open=True)
    _num("beta2", betas[1], high=1.0, high_open=True)
    group["betas"] = (float(betas[0]), float(betas[1]))


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def _optional_flag(name, value):
    if value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, True or False. Received: {name}={value!r}")
    return bool(value)


_IMPL_FLAGS = ("foreach", "fused", "capturable", "differentiable")  # torch's; see the module docstring


def _validate_impl_flags(group: dict) -> None:
    """The implementation switches a group has, normalised in place; torch's errors in torch's
    order (fused's checks come first in its constructors), then fastnn's refusals."""
    for name in ("foreach", "fused"):
        if name in group:
            group[name] = _optional_flag(name, group[name])
    for name in ("capturable", "differentiable"):
        if name in group:
            group[name] = _flag(name, group[name])
    if group.get("fused"):
        if group.get("differentiable"):
            raise RuntimeError("`fused` does not support `differentiable`")
        if group.get("foreach"):
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if group.get("differentiable"):
        raise NotImplementedError(
            "differentiable=True is not supported: it makes torch record the optimizer step for autograd, and "
            "fastnn has no autograd (its steps update the arrays in place). Received: differentiable=True")
    if group.get("capturable"):
        raise NotImplementedError(
            "capturable=True is not supported: it prepares torch's step for CUDA graph capture, which fastnn "
            "does not do (torch refuses it for CPU parameters too). Received: capturable=True")


# torch.optim.optimizer's type aliases of step hooks
OptimizerPreHook = Callable[..., Optional[tuple]]
OptimizerPostHook = Callable[..., None]

# Step hooks of every optimizer (torch.optim.optimizer.register_optimizer_step_pre_hook / post)
_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` before the ``step`` of every optimizer (before its own
    pre-hooks); it may return ``(new_args, new_kwargs)``."""
    return add_hook(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """``hook(optimizer, args, kwargs)`` after the ``step`` of every optimizer (after its own post-hooks)."""
    return add_hook(_global_optimizer_post_hooks, hook)


def _hookable_step(fn):
    """Wrap an optimizer's ``step`` so that step pre- / post-hooks run around it (torch's
    ``Optimizer.profile_hook_step``). Without hooks the cost is one dict lookup; a step calling
    ``super().step()`` runs the hooks once (the outer call)."""

    @functools.wraps(fn)
    def step(self, *args, **kwargs):
        if self.__dict__.get("_step_hooked") is not True and not (
                _global_optimizer_pre_hooks or _global_optimizer_post_hooks) or self.__dict__.get("_step_running"):
            return fn(self, *args, **kwargs)
        for hook in list(itertools.chain(_global_optimizer_pre_hooks.values(),
                                         self._optimizer_step_pre_hooks.values())):
            out = hook(self, args, kwargs)
            if out is not None:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(f"{hook} must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {out}.")
                args, kwargs = out
        self.__dict__["_step_running"] = True
        try:
            result = fn(self, *args, **kwargs)
        finally:
            self.__dict__["_step_running"] = False
        for hook in list(itertools.chain(self._optimizer_step_post_hooks.values(),
                                         _global_optimizer_post_hooks.values())):
            hook(self, args, kwargs)
        return result

    step._fastnn_hooked = True
    return step


_OPTIMIZER_HOOK_DICTS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                         "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                         "_optimizer_load_state_dict_pre_hooks", "_optimizer_load_state_dict_post_hooks")


class Optimizer:
    """Base class. ``params``: a Module, an iterable of Parameters, or a list of dicts
    ``{"params": [...], <hyperparameter>: value}`` (parameter groups, PyTorch style). Parameters
    may come named, as ``(name, Parameter)`` pairs (``Module.named_parameters()``): the group then
    keeps the names in ``"param_names"``, as PyTorch's does (in every group or in none)."""

    # empty read-only stand-ins for an instance made without Optimizer.__init__
    _optimizer_step_pre_hooks = _optimizer_step_post_hooks = types.MappingProxyType({})
    _optimizer_state_dict_pre_hooks = _optimizer_state_dict_post_hooks = types.MappingProxyType({})
    _optimizer_load_state_dict_pre_hooks = _optimizer_load_state_dict_post_hooks = types.MappingProxyType({})

    OptimizerPreHook = OptimizerPreHook
    OptimizerPostHook = OptimizerPostHook
    profile_hook_step = staticmethod(_hookable_step)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if isinstance(step, types.FunctionType) and not hasattr(step, "_fastnn_hooked"):
            cls.step = _hookable_step(step)

    def __init__(self, params, defaults: dict):
        for name in _OPTIMIZER_HOOK_DICTS:
            setattr(self, name, OrderedDict())
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
        # torch's defaultdict(dict): ``self.state[p]`` of a parameter without state gives (and
        # keeps) an empty dict, which a step takes for a missing state
        self.state: defaultdict[Parameter, dict] = defaultdict(dict)
        self._state_device: dict[Parameter, str] = {}  # where each parameter's slots are
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        """Append a group (PyTorch's): hyperparameters it leaves out take the constructor's
        values; a parameter already in a group is refused. ``"params"`` may be one Parameter."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"a parameter group must be a dict with 'params', got {group!r}")
        params = group["params"]
        if isinstance(params, (set, frozenset)):  # its order, hence the state_dict's indices, varies between runs
            raise TypeError("optimizer parameters must be in an ordered collection (a list), not a set")
        if isinstance(params, Parameter):
            params = [params]
        params = params.parameters() if isinstance(params, Module) else list(params)
        named = [isinstance(p, tuple) for p in params]
        names = None
        if any(named):
            if not all(named):
                raise ValueError("all parameters of a group must be named (name, Parameter) pairs, or none")
            names, params = [n for n, _ in params], [p for _, p in params]
        if self.param_groups and ("param_names" in self.param_groups[0]) != (names is not None):
            raise ValueError("all parameter groups must have named parameters, or none: cannot add a group "
                             + ("with names" if names is not None else "without names"))
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizers take fastnn.nn.Parameter objects, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params) or len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter appears in more than one place in the optimizer's parameter list")
        # Keys the optimizer does not use (a group's "name", a scheduler's value) are kept as
        # given, as torch keeps them: in param_groups and in state_dict.
        # torch's key order: the group's own keys, "param_names", then the defaults it left out
        full = {**group, "params": params}
        if names is not None:
            full["param_names"] = names
        for k, v in self.defaults.items():
            full.setdefault(k, v)
        self._validate(full)
        self.param_groups.append(full)

    def _validate(self, group: dict) -> None:
        _num("lr", group["lr"])
        if "maximize" in group:  # (a subclass's defaults may not have it)
            group["maximize"] = _flag("maximize", group["maximize"])
        _validate_impl_flags(group)

    @staticmethod
    def _grad(p: Parameter, group: dict):
        """The gradient the update follows: with ``maximize=True`` a negated copy (ascent, and
        ``p.grad`` is left as it is), as PyTorch negates the gradient before weight decay."""
        return -p.grad if group.get("maximize") else p.grad

    @property
    def lr(self) -> float:
        """The learning rate of the first group (what schedulers and fit report)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for g in self.param_groups:
            g["lr"] = _num("lr", value)

    # ---- hooks (torch.optim.Optimizer's) ------------------------------------------------
    def _own_hooks(self, name: str) -> OrderedDict:
        d = self.__dict__.get(name)
        if d is None:
            d = self.__dict__[name] = OrderedDict()
        return d

    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` before every ``step(...)``; returning
        ``(new_args, new_kwargs)`` replaces the arguments. Returns a handle whose ``remove()``
        unregisters it."""
        handle = add_hook(self._own_hooks("_optimizer_step_pre_hooks"), hook)
        self.__dict__["_step_hooked"] = True
        return handle

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """``hook(optimizer, args, kwargs)`` after every ``step(...)``."""
        handle = add_hook(self._own_hooks("_optimizer_step_post_hooks"), hook)
        self.__dict__["_step_hooked"] = True
        return handle

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` before ``state_dict()`` builds its dict."""
        return add_hook(self._own_hooks("_optimizer_state_dict_pre_hooks"), hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` after ``state_dict()``; a dict returned replaces it."""
        return add_hook(self._own_hooks("_optimizer_state_dict_post_hooks"), hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer, state_dict)`` before ``load_state_dict`` (on a shallow copy of the
        caller's dict); a dict returned is loaded instead."""
        return add_hook(self._own_hooks("_optimizer_load_state_dict_pre_hooks"), hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """``hook(optimizer)`` after ``load_state_dict`` loaded everything."""
        return add_hook(self._own_hooks("_optimizer_load_state_dict_post_hooks"), hook, prepend)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Every parameter's ``zero_grad(set_to_none)``. As PyTorch's, only a parameter that has a
        gradient is touched: with ``set_to_none=False`` it gets zeros (which a step does apply),
        and one without a gradient keeps having none (a step skips it)."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.has_grad:
                    p.zero_grad(set_to_none)

    def step(self, closure=None):
        """One update of every trainable parameter, from its accumulated ``grad``. ``closure``
        (PyTorch's): called first, to recompute the loss and the gradients; its result is returned
        (None without one)."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            # Once per group and step (a scheduler or the user may have changed a value): the
            # updates below then skip the per-call checks of fastnn.ops (ops.optim._run).
            self._validate(group)
            for p in group["params"]:
                if not p.trainable or not p.has_grad:  # frozen, or no gradient since zero_grad
                    continue
                state = self.state.get(p)  # (get: no empty entry for a parameter without state)
                if not state:  # never stepped, or an empty dict (``self.state[p]``, an empty saved state)
                    fresh = self._init_state(p, group)
                    if state is None:
                        state = fresh
                    else:  # the same dict, as torch's code fills ``self.state[p]`` in place
                        state.update(fresh)
                    self._state_device[p] = p.device
                elif self._state_device.get(p) != p.device:  # the model moved since the last step
                    self._move_state(p, state)
                self._update(p, state, group)
                if state and p not in self.state:  # no entry for a state without slots (SGD
                    self.state[p] = state          # without momentum), as torch's
        return loss

    def _move_state(self, p: Parameter, state: dict) -> None:
        device = p.device
        for k, v in state.items():
            state[k] = _move_slot(v, device)
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
        "params": [indices]]}; indices count parameters across groups in order (PyTorch). The
        arrays are copies; a parameter without slots (SGD without momentum), or never stepped,
        has no entry. As torch's, every entry of ``self.state`` is there, an empty dict too (one
        that ``self.state[p]`` created)."""
        for hook in list(self._optimizer_state_dict_pre_hooks.values()):
            hook(self)
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {index[id(p)]: {k: _copy_slot(v) for k, v in s.items()} for p, s in self.state.items()}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        out = {"state": state, "param_groups": groups}
        for hook in list(self._optimizer_state_dict_post_hooks.values()):
            new = hook(self, out)
            if new is not None:
                out = new
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from ``state_dict()``'s output: copies of its slots, on each parameter's device,
        and its hyperparameters (lr included) for each group; a hyperparameter it lacks keeps
        the group's value. ValueError, before anything changes, when its groups differ in number
        or size from this optimizer's (PyTorch's); the errors of the constructor, also before,
        for implementation switches fastnn refuses (``capturable=True`` of a CUDA run, ...)."""
        state_dict = dict(state_dict)  # a pre-hook may edit it; the caller's stays as it was
        for hook in list(self._optimizer_load_state_dict_pre_hooks.values()):
            new = hook(self, state_dict)
            if new is not None:
                state_dict = new
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"the state_dict has {len(groups)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        for i, (a, b) in enumerate(zip(groups, self.param_groups)):
            if len(a["params"]) != len(b["params"]):
                raise ValueError(f"parameter group {i} of the state_dict has {len(a['params'])} parameters, "
                                 f"this optimizer's has {len(b['params'])}")
            _validate_impl_flags({k: a.get(k, b.get(k)) for k in _IMPL_FLAGS if k in a or k in b})
        params = self._all_params()
        new_state = defaultdict(dict)  # (torch's, as the constructor's)
        for i, s in state_dict["state"].items():
            if not 0 <= int(i) < len(params):
                raise ValueError(f"the state_dict has state for parameter {i}, this optimizer has "
                                 f"{len(params)} parameters")
            p = params[int(i)]
            new_state[p] = {k: self._load_slot(p, i, k, v) for k, v in s.items()}
        for g, saved in zip(self.param_groups, groups):
            for k, v in saved.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)  # (a list in the state_dict must not become the group's)
        self.state = new_state
        self._state_device = {p: p.device for p in new_state}
        for hook in list(self._optimizer_load_state_dict_post_hooks.values()):
            hook(self)

    def _slot_shape(self, p: Parameter, key: str) -> tuple:
        """The shape ``load_state_dict`` expects of the array slot ``key`` of p's state: p's own
        (a subclass whose slots differ says so: Adafactor's factored moments, LBFGS's flat vectors)."""
        return p.shape

    def _load_slot(self, p: Parameter, i, key: str, v):
        """A saved state value as this optimizer keeps it: an array (or a torch tensor) becomes a
        C-contiguous copy in p's dtype on p's device (which the kernels may update), checked
        against ``_slot_shape``;
        a list (LBFGS's history) is loaded item by item; other values are kept."""
        if isinstance(v, list):
            return [self._load_slot(p, i, key, x) for x in v]
        if _device.device_of(v) is None:
            if not (hasattr(v, "__array__") and hasattr(v, "shape")):
                return v  # a number (or other plain value)
            # a torch tensor (a torch state_dict given as it is): its values, never the tensor
            # itself, which step() could neither update nor leave alone (the caller's live state)
            v = np.array(_host_values(v))
        shape = tuple(self._slot_shape(p, key))
        if v.ndim == 0 and (key == "step" or shape != ()):
            # a number saved as a 0-d array (torch keeps step, eta, mu, ... as 0-d tensors; a
            # converted torch state_dict has them as 0-d arrays): fastnn keeps numbers
            value = _device.to_host(v).item()
            return int(value) if key == "step" else value
        if tuple(v.shape) != shape:
            raise ValueError(f"optimizer state {key!r} of parameter {i} has shape {tuple(v.shape)}, "
                             + (f"the parameter has {shape}" if shape == tuple(p.shape) else f"expected {shape}"))
        slot = _device.array_module(p.device).zeros(shape, dtype=p.dtype)
        _device.copy_into(slot, v)
        return slot

    def __repr__(self):
        """torch's: the class name, then every group's hyperparameters, one per line, sorted by
        name (``params`` left out; fastnn leaves out ``param_names`` too)."""
        out = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key not in ("params", "param_names"):
                    out += f"    {key}: {group[key]}\n"
        return out + ")"


Optimizer.step = _hookable_step(Optimizer.step)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's rule; Sutskever et al. 2013 for Nesterov).

    ``g = grad + weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step) and ``g = g + momentum * buf`` (Nesterov) or ``g = buf``;
    then ``p -= lr * g``. The arguments in torch.optim.SGD's order; the state, as PyTorch's, is
    only ``momentum_buffer`` (with momentum), whose absence marks the first step.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": bool(nesterov), "maximize": maximize,
                                  "foreach": foreach, "differentiable": differentiable, "fused": fused})

    def _validate(self, g):
        super()._validate(g)
        _num("momentum", g["momentum"])
        _num("dampening", g["dampening"])
        _num("weight_decay", g["weight_decay"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError(f"Nesterov momentum needs momentum > 0 and dampening = 0. "
                             f"Received: momentum={g['momentum']!r}, dampening={g['dampening']!r}")

    def _update(self, p, state, g):
        buf, first = None, False
        if g["momentum"] != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # the first step with momentum (from the start, or switched on later)
                buf = state["momentum_buffer"] = _device.zeros_like(p.data)
                first = True
        _run("sgd_update", p.data, self._grad(p, g), buf, g["lr"], g["momentum"], g["dampening"],
             bool(g["nesterov"]), g["weight_decay"], first)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011): ``sum += g^2``; ``p -= lr / (1 + (step - 1) * lr_decay) * g /
    (sqrt(sum) + eps)`` with ``g = grad + weight_decay * p``; ``sum`` starts at
    ``initial_accumulator_value``."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable, "fused": fused})

    def share_memory(self) -> None:
        """No effect (torch's moves the state sums to shared memory for multiprocessing; fastnn's
        state lives in this process)."""

    def _validate(self, g):
        super()._validate(g)
        for k in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            _num(k, g[k])

    def _init_state(self, p, group):
        return {"step": 0, "sum": _device.full_like(p.data, group["initial_accumulator_value"])}

    def _update(self, p, state, g):
        state["step"] += 1
        update = _ref.adagrad_update if p.data.dtype == np.float64 else ops.adagrad_update
        update(p.data, self._grad(p, g), state["sum"], step=state["step"], lr=g["lr"], lr_decay=g["lr_decay"],
               weight_decay=g["weight_decay"], eps=g["eps"])


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012): ``v = rho v + (1 - rho) g^2``; ``delta = sqrt(u + eps) / sqrt(v + eps) * g``;
    ``u = rho u + (1 - rho) delta^2``; ``p -= lr * delta``."""

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "capturable": capturable, "foreach": foreach,
                                  "differentiable": differentiable})

    def _validate(self, g):
        super()._validate(g)
        _num("rho", g["rho"], high=1.0)
        _num("eps", g["eps"])
        _num("weight_decay", g["weight_decay"])

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": _device.zeros_like(p.data), "acc_delta": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        state["step"] += 1
        _run("adadelta_update", p.data, self._grad(p, g), state["square_avg"], state["acc_delta"], g["lr"],
             g["rho"], g["eps"], g["weight_decay"])


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): ``v = alpha v + (1 - alpha) g^2``; centered subtracts the
    squared running mean of g; ``p -= lr * g / (sqrt(v) + eps)`` (through a momentum buffer when
    momentum > 0). The state, as PyTorch's: ``step``, ``square_avg``, and ``momentum_buffer``
    (momentum > 0) and ``grad_avg`` (centered) only when used (zeros from the step that first
    needs them)."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False):
        # (all positional, as torch's: maximize included)
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                                  "centered": bool(centered), "weight_decay": weight_decay,
                                  "capturable": capturable, "foreach": foreach, "maximize": maximize,
                                  "differentiable": differentiable})

    def _validate(self, g):
        super()._validate(g)
        for k in ("alpha", "eps", "weight_decay", "momentum"):
            _num(k, g[k])

    def _init_state(self, p, group):
        return {"step": 0, "square_avg": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        state["step"] += 1
        for slot, used in (("momentum_buffer", g["momentum"] > 0), ("grad_avg", g["centered"])):
            if used and state.get(slot) is None:
                state[slot] = _device.zeros_like(p.data)
        _run("rmsprop_update", p.data, self._grad(p, g), state["square_avg"],
             state["momentum_buffer"] if g["momentum"] > 0 else None, state["grad_avg"] if g["centered"] else None,
             g["lr"], g["alpha"], g["eps"], g["weight_decay"], g["momentum"], bool(g["centered"]))


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980), PyTorch's form:
    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``; ``g = grad + weight_decay * p``.
    ``amsgrad=True`` (AMSGrad, Reddi et al. 2018, https://openreview.net/forum?id=ryQu7f-RZ): the
    denominator uses ``v_max = max(v_max, v)``, kept in the state as ``max_exp_avg_sq``.
    ``decoupled_weight_decay=True`` (PyTorch's): AdamW's decay instead of the L2 term."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                                  "capturable": capturable, "differentiable": differentiable, "fused": fused,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _validate(self, g):
        super()._validate(g)
        _validate_betas(g)
        _num("eps", g["eps"])
        _num("weight_decay", g["weight_decay"])
        for flag in ("amsgrad", "decoupled_weight_decay"):  # (RAdam has no amsgrad)
            if flag in g:
                g[flag] = _flag(flag, g[flag])

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
        _run("adam_update", p.data, self._grad(p, g), state["exp_avg"], state["exp_avg_sq"], state["step"], g["lr"],
             g["betas"][0], g["betas"][1], g["eps"], g["weight_decay"], g.get("decoupled_weight_decay", False), vmax)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019, https://arxiv.org/abs/1711.05101):
    ``p *= 1 - lr * weight_decay`` before the Adam step on the raw gradient. As PyTorch's, it is
    Adam with ``decoupled_weight_decay=True`` (in its groups and state_dict too)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)


class RAdam(Adam):
    """Rectified Adam (Liu et al. 2020, https://arxiv.org/abs/1908.03265): Adam whose adaptive
    term is switched on only once the variance of its estimate is tractable (rho_t > 5), with
    the rectification factor r_t; plain bias-corrected momentum SGD before that.
    ``decoupled_weight_decay=True`` (PyTorch's): ``p *= 1 - lr * weight_decay`` first, as AdamW,
    instead of adding ``weight_decay * p`` to the gradient (the default, as PyTorch's)."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        Optimizer.__init__(self, params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                          "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                          "decoupled_weight_decay": decoupled_weight_decay,
                                          "differentiable": differentiable})

    def _update(self, p, state, g):
        state["step"] += 1
        wd = g["weight_decay"]
        if g.get("decoupled_weight_decay") and wd:
            p.data *= p.data.dtype.type(1.0 - g["lr"] * wd)  # in place, then the update on the raw gradient
            wd = 0.0
        _run("radam_update", p.data, self._grad(p, g), state["exp_avg"], state["exp_avg_sq"], state["step"], g["lr"],
             g["betas"][0], g["betas"][1], g["eps"], wd)


# ---- array-code optimizers (no fused kernel) ----------------------------------------------
# Each step below follows torch's single-tensor implementation operation by operation, in the
# parameter's dtype: a Python scalar is cast to that dtype before it meets an array (as torch
# casts a scalar argument to the tensor's dtype), and torch's compound ops keep their order and
# rounding: ``add(x, alpha=a)``, ``addcmul`` and ``lerp`` round once (torch's vectorized CPU
# kernels use fused multiply-adds: see _fma), ``addcdiv(t1, t2, value=c)`` is ``(c * t1) / t2``
# rounded at each operation. The state scalars torch keeps as float32 tensors (NAdam's
# mu_product, ASGD's eta and mu) are kept rounded to float32, as Python floats, whatever the
# parameter's dtype, so float64 runs follow torch's to rounding too.

def _f32(value: float) -> float:
    """value rounded to float32 (a float32 scalar tensor of torch's state), as a Python float."""
    return float(np.float32(value))


def _fma(x, y, z):
    """x * y + z rounded once to float32 for float32 operands, as a fused multiply-add does: the
    product of two float32 values is exact in float64, so the sum is rounded once (to float64,
    then float32: the same value but in rare ties). Other dtypes: x * y + z. The operands are
    arrays or scalars of the parameter's dtype."""
    if x.dtype == np.float32 and y.dtype == np.float32:
        return (x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)).astype(np.float32)
    return x * y + z


def _lerp_(start, end, weight: float) -> None:
    """start = start + weight * (end - start), in place, as torch.lerp: with one rounding and,
    for weight >= 0.5, as end + (weight - 1) * (end - start) (exact at weight 1)."""
    w = start.dtype.type(weight)
    if abs(w) < 0.5:
        start[...] = _fma(w, end - start, start)
    else:
        start[...] = _fma(w - start.dtype.type(1), end - start, end)


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2016, https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ),
    with PyTorch's momentum schedule ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``:
    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``; ``d = sqrt(v / (1 - b2^t)) + eps``;
    ``p -= lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g / d + lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / d``.
    ``g = grad + weight_decay * p``, or with ``decoupled_weight_decay=True`` (NAdamW)
    ``p *= 1 - lr * weight_decay`` first. State, as PyTorch's: ``step``, ``mu_product``,
    ``exp_avg``, ``exp_avg_sq``."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                                  "foreach": foreach, "capturable": capturable, "differentiable": differentiable})

    def _validate(self, g):
        super()._validate(g)
        _validate_betas(g)
        for k in ("eps", "weight_decay", "momentum_decay"):
            _num(k, g[k])
        g["decoupled_weight_decay"] = _flag("decoupled_weight_decay", g["decoupled_weight_decay"])

    def _init_state(self, p, group):
        return {"step": 0, "mu_product": 1.0, "exp_avg": _device.zeros_like(p.data),
                "exp_avg_sq": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        xp, param, grad = _device.xp_of(p.data), p.data, self._grad(p, g)
        t = param.dtype.type
        state["step"] += 1
        step, lr, wd = state["step"], g["lr"], g["weight_decay"]
        beta1, beta2 = g["betas"]
        if wd != 0:
            if g["decoupled_weight_decay"]:
                param *= t(1.0 - lr * wd)
            else:
                grad = _fma(param, t(wd), grad)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * g["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * g["momentum_decay"]))
        mu_product = state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
        mu_product_next = mu_product * mu_next
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        _lerp_(exp_avg, grad, 1.0 - beta1)
        exp_avg_sq *= t(beta2)
        exp_avg_sq[...] = _fma(t(1.0 - beta2) * grad, grad, exp_avg_sq)
        denom = xp.sqrt(exp_avg_sq / t(1.0 - beta2 ** step))
        denom += t(g["eps"])
        param += t(-lr * (1.0 - mu) / (1.0 - mu_product)) * grad / denom
        param += t(-lr * mu_next / (1.0 - mu_product_next)) * exp_avg / denom


class Adamax(Optimizer):
    """Adamax, Adam's infinity-norm variant (Kingma & Ba 2015, section 7,
    https://arxiv.org/abs/1412.6980): ``m = b1 m + (1 - b1) g``; ``u = max(b2 u, |g| + eps)``;
    ``p -= lr / (1 - b1^t) * m / u``; ``g = grad + weight_decay * p``. State, as PyTorch's:
    ``step``, ``exp_avg``, ``exp_inf``."""

    def __init__(self, params, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 foreach: bool | None = None, *, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def _validate(self, g):
        super()._validate(g)
        _validate_betas(g)
        _num("eps", g["eps"])
        _num("weight_decay", g["weight_decay"])

    def _init_state(self, p, group):
        return {"step": 0, "exp_avg": _device.zeros_like(p.data), "exp_inf": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        xp, param, grad = _device.xp_of(p.data), p.data, self._grad(p, g)
        t = param.dtype.type
        state["step"] += 1
        beta1, beta2 = g["betas"]
        if g["weight_decay"] != 0:
            grad = _fma(param, t(g["weight_decay"]), grad)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        _lerp_(exp_avg, grad, 1.0 - beta1)
        exp_inf *= t(beta2)
        xp.maximum(exp_inf, xp.abs(grad) + t(g["eps"]), out=exp_inf)
        param += t(-g["lr"] / (1.0 - beta1 ** state["step"])) * exp_avg / exp_inf


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller & Braun 1993, "A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm"), PyTorch's form: each element's step size
    grows by ``eta_plus`` while its gradient keeps its sign, shrinks by ``eta_minus`` when the
    sign flips (and that step is skipped: the gradient counts as 0, also for the next
    comparison), clamped to ``step_sizes = (min, max)``; ``p -= sign(g) * step_size``. Step sizes
    start at ``lr`` (later changes of ``lr`` do not reach them, as in PyTorch). State, as
    PyTorch's: ``step``, ``prev`` (the last gradient used), ``step_size``."""

    def __init__(self, params, lr: float = 1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        super().__init__(params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def _validate(self, g):
        super()._validate(g)
        etas = _pair("etas", g["etas"], "(eta_minus, eta_plus)")
        _num("eta_minus", etas[0], high=1.0, low_open=True, high_open=True)
        _num("eta_plus", etas[1], low=1.0, low_open=True)
        sizes = _pair("step_sizes", g["step_sizes"], "(min, max)")
        _num("step_size_min", sizes[0])
        _num("step_size_max", sizes[1], low=float(sizes[0]))
        g["etas"], g["step_sizes"] = tuple(etas), tuple(sizes)

    def _init_state(self, p, group):
        return {"step": 0, "prev": _device.zeros_like(p.data), "step_size": _device.full_like(p.data, group["lr"])}

    def _update(self, p, state, g):
        xp, param, grad = _device.xp_of(p.data), p.data, self._grad(p, g)
        t = param.dtype.type
        state["step"] += 1
        eta_minus, eta_plus = (t(e) for e in g["etas"])
        prev, step_size = state["prev"], state["step_size"]
        sign = xp.sign(grad * prev)
        # +1 -> eta_plus, -1 -> eta_minus, 0 -> 1 (NaN stays NaN, as in PyTorch)
        factor = xp.where(sign > 0, eta_plus, xp.where(sign < 0, eta_minus, xp.where(sign == 0, t(1), sign)))
        step_size *= factor
        xp.clip(step_size, t(g["step_sizes"][0]), t(g["step_sizes"][1]), out=step_size)
        grad = xp.where(factor == eta_minus, t(0), grad)  # a new array: p.grad is left as it is
        param -= xp.sign(grad) * step_size
        prev[...] = grad


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky 1992, https://doi.org/10.1137/0330046), PyTorch's form:
    ``p *= 1 - lambd * eta``; ``p -= eta * g`` (``g = grad + weight_decay * p``); the average
    ``ax += mu * (p - ax)`` (``ax = p`` while ``mu == 1``); then ``eta = lr / (1 + lambd * lr * t)^alpha``
    and ``mu = 1 / max(1, t - t0)``. The average is not applied to the parameters (copy
    ``state["ax"]`` for evaluation, as with PyTorch's). State, as PyTorch's: ``step``, ``eta``,
    ``mu``, ``ax``."""

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75, t0: float = 1e6,
                 weight_decay: float = 0, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        # (all positional, as torch's: maximize included)
        super().__init__(params, {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                                  "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
                                  "differentiable": differentiable, "capturable": capturable})

    def _validate(self, g):
        super()._validate(g)
        for k in ("lambd", "alpha", "weight_decay"):
            _num(k, g[k])
        _num("t0", g["t0"], low=-math.inf)  # any finite step count (averaging starts after it)

    def _init_state(self, p, group):
        return {"step": 0, "eta": _f32(group["lr"]), "mu": 1.0, "ax": _device.zeros_like(p.data)}

    def _update(self, p, state, g):
        param, grad = p.data, self._grad(p, g)
        t = param.dtype.type
        state["step"] += 1
        step, lr, lambd = state["step"], g["lr"], g["lambd"]
        if g["weight_decay"] != 0:
            grad = _fma(param, t(g["weight_decay"]), grad)
        eta = state["eta"]
        param *= t(1.0 - lambd * eta)
        param[...] = _fma(grad, t(-eta), param)
        ax = state["ax"]
        if state["mu"] != 1:
            ax += (param - ax) * t(state["mu"])
        else:
            ax[...] = param
        state["eta"] = _f32(lr / (1.0 + lambd * lr * step) ** g["alpha"])
        state["mu"] = _f32(1.0 / max(1.0, step - g["t0"]))
