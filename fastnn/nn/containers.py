"""Containers: Sequential (a chain), Residual (y = block(x) + shortcut(x)) and Concat (branches
side by side along the channel axis). They compose forward and backward of their children, so
ResNet- and Inception/DenseNet-style models need no general autograd. ModuleList and ModuleDict
hold modules, ParameterList and ParameterDict parameters, for a custom Module's own forward (they
have none), and Identity passes its input through."""
from __future__ import annotations

import operator

import numpy as np

from .. import ops
from ..ops._dispatch import contiguous
from . import fusion
from . import module as module_mod
from .module import LAYER_REGISTRY, Module, Parameter, layer_type_name

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Identity", "Residual", "Concat",
           "layer_to_config", "layer_from_config"]


def layer_to_config(layer: Module) -> dict:
    """{"type": class name (layer_type_name), "config": constructor arguments (children nested)}."""
    return {"type": layer_type_name(type(layer)), "config": layer.get_config()}


def layer_from_config(spec: dict) -> Module:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"a layer spec must be a dict with a 'type' key, got {spec!r}")
    cls = LAYER_REGISTRY.get(spec["type"])
    if cls is None:
        raise ValueError(f"unknown layer type {spec['type']!r}")
    return cls.from_config(dict(spec.get("config", {})))


def _has_trainable_parameters(step) -> bool:
    """Whether a step (a layer or a fused step) holds a trainable parameter, without listing
    them all. Frozen ones do not count: nothing reads their gradients (optimizers and clipping
    skip them, as torch, where their grad is None)."""
    if isinstance(step, Module):
        if not step._modules:  # a plain layer (the common case: no generator of submodules)
            return any(p.trainable for p in step._parameters.values() if p is not None)
        return any(p.trainable for _, mod in step.named_modules() for p in mod._parameters.values()
                   if p is not None)
    modules = getattr(step, "modules_of_step", None)  # a fused step (nn/fusion.py): its layers
    if modules is not None:
        return any(_has_trainable_parameters(m) for m in modules())
    return any(p.trainable for p in step.parameters())


# ---- shared layers ------------------------------------------------------------------------
# A layer keeps what its backward needs (its input, a mask, indices...) from its last forward.
# A layer used at two places of a container (the same ReLU object twice, or shared weights)
# would then run the backward of its first use with the second use's input. Containers save
# such a child's per-call state after each use and put it back before that use's backward, so
# sharing trains as in PyTorch (the shared parameters' gradients add up over the uses).

def _shared_positions(children) -> set:
    """Indices of the children whose module trees share a module with another child's (a plain
    walk of the _modules dicts: this runs at every forward)."""
    owner, shared = {}, set()
    for i, child in enumerate(children):
        stack = [child]
        while stack:
            m = stack.pop()
            j = owner.setdefault(id(m), i)
            if j != i:
                shared.update((i, j))
            elif m._modules:
                stack.extend(m._modules.values())
    return shared


def _call_state(child) -> list:
    """The per-call state of every module of child's tree: its plain attributes (not its
    parameters, buffers, children or train/eval flag)."""
    state = []
    for m in child.modules():
        keep = m._parameters.keys() | m._buffers.keys() | m._modules.keys() | {"training", "_parameters",
                                                                               "_buffers", "_modules"}
        state.append((m, {k: v for k, v in vars(m).items() if k not in keep}))
    return state


def _restore_call_state(state) -> None:
    for m, attrs in state:
        for k, v in attrs.items():
            object.__setattr__(m, k, v)


def _check_module(name, m):
    if not isinstance(m, Module):
        raise TypeError(f"{name} must be a fastnn.nn.Module. Received: {name}={m!r}")
    return m


class _ModuleSequence(Module):
    """PyTorch's list API over the children, named by position "0", "1", ... (Sequential and
    ModuleList): ``len``, iteration, ``c[i]`` (negative too; a slice gives a new container of
    the same modules), ``c[i] = m``, ``del c[i]`` / ``del c[a:b]`` and ``pop`` (the rest
    renumbered), ``append``, ``extend``, ``insert``. Names are always the positions (the saved
    architecture is the list of modules): ``add_module`` takes the next position (append) or an
    existing one (replace) only."""

    _what = "module"

    def extra_repr(self) -> str:
        return ""  # the children are the repr (torch's Sequential() when empty)

    def _layers(self) -> list:
        return list(self._modules.values())

    def _set_layers(self, layers) -> None:
        """Register layers under "0", "1", ... in place of the current children."""
        for name in list(self._modules):
            delattr(self, name)
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)

    def _index(self, i) -> int:
        """i as a position in [0, len) (negative counts from the end), PyTorch's rule."""
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"{type(self).__name__} indices must be integers or slices. Received: index={i!r}") from None
        n = len(self._modules)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {type(self).__name__} of length {n}. Received: index={i}")
        return i % n

    def append(self, module: Module):
        setattr(self, str(len(self._modules)), _check_module(self._what, module))
        return self

    def extend(self, modules):
        """Append every module of an iterable (a list, another container). Returns self."""
        try:
            modules = list(modules)
        except TypeError:
            raise TypeError(f"{type(self).__name__}.extend takes an iterable of modules. "
                            f"Received: modules={modules!r}") from None
        for m in modules:
            _check_module(self._what, m)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module):
        """Insert module before position index (``-len <= index <= len``, PyTorch's). Returns self."""
        _check_module(self._what, module)
        n = len(self._modules)
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"index must be an int. Received: index={index!r}") from None
        if not -n <= index <= n:
            raise IndexError(f"index {index} is out of range for inserting into {type(self).__name__} "
                             f"of length {n}. Received: index={index}")
        layers = self._layers()
        layers.insert(index, module)  # a negative index as list.insert's: -1 is before the last
        self._set_layers(layers)
        return self

    def pop(self, index=-1):
        """Remove and return the module at index (or a container of those in a slice)."""
        item = self[index]
        del self[index]
        return item

    def add_module(self, name: str, module: Module) -> None:
        n = len(self._modules)
        if isinstance(name, str) and name not in self._modules and name != str(n):
            raise ValueError(f"{type(self).__name__} names its modules by position: add_module takes "
                             f"{str(n)!r} (append) or an existing position (replace). Received: name={name!r}")
        super().add_module(name, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._of(self._layers()[i])
        return self._layers()[self._index(i)]

    def __setitem__(self, i, module):
        """Replace the module at position i (it keeps its name and place)."""
        setattr(self, str(self._index(i)), _check_module(self._what, module))

    def __delitem__(self, i):
        layers = self._layers()
        if isinstance(i, slice):
            del layers[i]
        else:
            del layers[self._index(i)]
        self._set_layers(layers)

    def _of(self, layers):
        """A new container of this kind holding layers (for a slice)."""
        raise NotImplementedError


class Sequential(_ModuleSequence):
    """Layers applied in order; backward runs them in reverse.

    ``Sequential(Linear(784, 256), ReLU(), Linear(256, 10))`` (or one list of layers).
    PyTorch's list API (see ``ModuleList``): ``len``, iteration, indexing (negative too; a
    slice is a Sequential of the same layers, renumbered from "0"), ``s[i] = layer``,
    ``del s[i]``, ``append``, ``extend``, ``insert``, ``pop``. Changing the layers between
    forwards is fine: each forward plans its fused steps anew from the current layers.
    """

    _what = "layer"

    def __init__(self, *layers):
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for layer in layers:
            self.append(layer)
        object.__setattr__(self, "_plan", None)  # the steps of the last forward, for backward
        object.__setattr__(self, "_states", None)  # shared layers' per-call states, by step

    def _of(self, layers):
        return Sequential(*layers)

    def forward(self, x):
        """The layers in order. Common pairs (Linear + ReLU, ReLU + MaxPool2d) run as one fused
        step with the same result and fewer passes over memory (see fastnn/nn/fusion.py)."""
        layers = list(self._modules.values())
        if module_mod._summary_records is not None:  # summary() records every layer's call
            self._plan = layers
            for layer in layers:
                x = layer(x)
            return x
        shared = _shared_positions(layers)
        if shared:  # unfused, each shared layer's per-call state saved for its backward
            states = []
            for i, layer in enumerate(layers):
                x = layer(x)
                states.append(_call_state(layer) if i in shared else None)
            self._plan, self._states = layers, states
            return x
        plan = []
        i = 0
        while i < len(layers):
            step, count = fusion.plan_step(layers, i)
            x = step(x) if step is layers[i] else step.forward(x)
            plan.append(step)
            i += count
        self._plan, self._states = plan, None
        return x

    backward_can_skip_dx = True

    def backward(self, dy, need_dx: bool = True):
        """Backward through the layers (the forward's steps) in reverse. With ``need_dx=False``
        (what ``fit`` asks for: the input gradient of the whole model is never used) the work
        below the first layer that has trainable parameters is skipped (a frozen base of
        transfer learning runs no backward at all), and that layer skips its own dx when it can
        (Linear, Conv: a whole GEMM saved). Returns None then."""
        steps = self._plan
        if steps is None:
            raise RuntimeError("Sequential.backward called before forward")
        states = self._states
        first = 0
        if not need_dx:
            first = next((i for i, step in enumerate(steps) if _has_trainable_parameters(step)), None)
            if first is None:
                return None
        for i in range(len(steps) - 1, first - 1, -1):
            step = steps[i]
            if states is not None and states[i] is not None:
                _restore_call_state(states[i])
            if i == first and not need_dx:
                if getattr(step, "backward_can_skip_dx", False):
                    step.backward(dy, need_dx=False)
                else:
                    step.backward(dy)
                return None
            dy = step.backward(dy)
        return dy

    def get_config(self):
        return {"layers": [layer_to_config(m) for m in self._modules.values()]}

    @classmethod
    def from_config(cls, config):
        return cls(*[layer_from_config(s) for s in config["layers"]])


def group_repeats(items: list) -> list:
    """(name, repr) pairs with runs of equal reprs merged as torch's ModuleList prints them:
    ("0-2", "3 x Linear(...)")."""
    grouped, i = [], 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1][1] == items[i][1]:
            j += 1
        label = items[i][0] if j == i else f"{items[i][0]}-{items[j][0]}"
        text = items[i][1] if j == i else f"{j - i + 1} x {items[i][1]}"
        grouped.append((label, text))
        i = j + 1
    return grouped


class ModuleList(_ModuleSequence):
    """A list of modules, registered as children "0", "1", ... (so ``parameters()``,
    ``state_dict()``, ``to()``, ``train()``/``eval()`` and ``fastnn.save`` see them), for a
    custom Module's forward to call: it has no forward or backward itself (PyTorch's
    ``nn.ModuleList``). ``ModuleList([Linear(4, 4), ReLU()])``; the list API of Sequential,
    and ``+=`` (extend) and ``+`` (a new ModuleList of both; any iterable of modules on the right).
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _of(self, layers):
        return ModuleList(layers)

    def __repr__(self) -> str:
        """torch's: consecutive equal entries grouped ("(0-2): 3 x Linear(...)")."""
        cls = type(self).__name__  # a subclass's own (ParametrizationList)
        if not self._modules:
            return f"{cls}()"
        lines = [f"{cls}("]
        for label, text in group_repeats([(key, repr(child)) for key, child in self._modules.items()]):
            lines.append(f"  ({label}): " + text.replace("\n", "\n  "))
        lines.append(")")
        return "\n".join(lines)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        """A new ModuleList of these modules, then other's (any iterable of modules, as PyTorch)."""
        try:
            other = list(other)
        except TypeError:
            return NotImplemented
        return ModuleList(self._layers() + other)

    def get_config(self):
        return {"modules": [layer_to_config(m) for m in self._modules.values()]}

    @classmethod
    def from_config(cls, config):
        return cls([layer_from_config(s) for s in config["modules"]])

    def extra_repr(self) -> str:  # torch's: only the children
        return ""


def _pairs(what: str, items):
    """(key, value) pairs of a mapping or of an iterable of pairs (PyTorch's update rule)."""
    if hasattr(items, "keys") and hasattr(items, "__getitem__"):
        return [(k, items[k]) for k in items.keys()]
    pairs = []
    for i, item in enumerate(items):
        try:
            k, v = item
        except (TypeError, ValueError):
            raise ValueError(f"{what}.update expects a mapping or an iterable of (key, value) pairs; element {i} "
                             f"is {item!r}") from None
        pairs.append((k, v))
    return pairs



def _parameter_line(p) -> str:
    """torch's line for a parameter in a ParameterList / ParameterDict repr."""
    size = "x".join(str(d) for d in p.shape)
    device = " (cuda)" if getattr(p, "device", "cpu") == "cuda" else ""
    return f"Parameter containing: [{p.dtype} of size {size}{device}]"

class _Dict(Module):
    """The dict API over one registry of the module (its children or its parameters), in
    insertion order: ``d[key]``, ``d[key] = v``, ``del d[key]``, ``len``, ``in``, iteration
    over the keys, ``keys``/``values``/``items``, ``update``, ``pop``, ``clear`` (PyTorch's)."""

    def _registry(self) -> dict:
        raise NotImplementedError

    def _put(self, key, value) -> None:
        raise NotImplementedError

    def _check_key(self, key) -> str:
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__} keys must be str. Received: key={key!r}")
        return key

    def __getitem__(self, key):
        reg = self._registry()
        if key not in reg:
            raise KeyError(key)
        return reg[key]

    def __setitem__(self, key, value) -> None:
        self._put(self._check_key(key), value)

    def __delitem__(self, key) -> None:
        if key not in self._registry():
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._registry())

    def __iter__(self):
        return iter(list(self._registry()))

    def __contains__(self, key) -> bool:
        return key in self._registry()

    def keys(self):
        return self._registry().keys()

    def values(self):
        return self._registry().values()

    def items(self):
        return self._registry().items()

    def update(self, items) -> None:
        for k, v in _pairs(type(self).__name__, items):
            self[k] = v

    def pop(self, key):
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in list(self._registry()):
            del self[key]


class ModuleDict(_Dict):
    """Modules by name (PyTorch's ``nn.ModuleDict``): registered as children under their keys,
    so ``parameters()``, ``state_dict()`` ("key.weight"...), ``to()``, ``train()``/``eval()``
    and ``fastnn.save`` see them; no forward or backward of its own. Built from a dict or an
    iterable of (name, module) pairs; keys follow ``add_module``'s rules (non-empty str, no ".",
    not an existing attribute such as "keys")."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _registry(self) -> dict:
        return self._modules

    def _put(self, key, value) -> None:
        self.add_module(key, value)

    def get_config(self):
        return {"modules": {k: layer_to_config(m) for k, m in self._modules.items()}}

    @classmethod
    def from_config(cls, config):
        return cls({k: layer_from_config(spec) for k, spec in config["modules"].items()})

    def extra_repr(self) -> str:  # torch's: only the children
        return ""


def _as_parameter(value) -> Parameter:
    """A Parameter as given, or a new one holding an array (PyTorch's ParameterList wraps tensors)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Module) or value is None:
        raise TypeError(f"a parameter container holds Parameters or float arrays. Received: {value!r}")
    return Parameter(value)


def _parameter_shapes(params) -> dict:
    """What from_config needs to rebuild the parameters (their values come from the state dict)."""
    return {"shapes": [list(p.data.shape) for p in params], "dtypes": [str(p.data.dtype) for p in params]}


def _placeholders(config) -> list:
    return [Parameter(np.zeros(shape, dtype)) for shape, dtype in zip(config["shapes"], config["dtypes"])]


class ParameterDict(_Dict):
    """Parameters by name (PyTorch's ``nn.ParameterDict``): each registered under its key, so
    ``parameters()``, ``state_dict()``, optimizers and ``fastnn.save`` see them. A float array
    given as a value becomes a new Parameter; keys follow ``register_parameter``'s rules."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _registry(self) -> dict:
        return self._parameters

    def _put(self, key, value) -> None:
        self.register_parameter(key, _as_parameter(value))

    def get(self, key, default=None):
        """d[key] if key is in d, else default (PyTorch's)."""
        return self._parameters.get(key, default) if isinstance(key, str) else default

    def setdefault(self, key, default=None):
        """d[key], first setting it to default when key is missing (PyTorch's; a missing key with
        default None raises TypeError here: the dict holds parameters only)."""
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self):
        """Remove and return the last inserted (key, parameter) (PyTorch's LIFO order)."""
        if not self._parameters:
            raise KeyError("popitem(): ParameterDict is empty")
        key = next(reversed(self._parameters))
        return key, self.pop(key)

    def copy(self) -> "ParameterDict":
        """A new ParameterDict holding the same Parameter objects (a shallow copy, PyTorch's)."""
        return ParameterDict(dict(self._parameters))

    def fromkeys(self, keys, default=None) -> "ParameterDict":
        """A new ParameterDict with every key set to default (PyTorch's: an instance method).
        A Parameter default is shared by every key, as in PyTorch; an array default gives each key
        a Parameter of its own copy (PyTorch would share the storage); None raises TypeError (the
        dict holds parameters only, where PyTorch stores None)."""
        if default is None or isinstance(default, Parameter):
            return ParameterDict([(k, default) for k in keys])
        return ParameterDict([(k, default.copy() if hasattr(default, "copy") else default) for k in keys])

    def get_config(self):
        return {"keys": list(self._parameters), **_parameter_shapes(self._parameters.values())}

    @classmethod
    def from_config(cls, config):
        return cls(dict(zip(config["keys"], _placeholders(config))))

    def extra_repr(self) -> str:  # torch's: a line per parameter
        return "\n".join(f"({k}): {_parameter_line(p)}" for k, p in self.items())


class ParameterList(Module):
    """A list of parameters (PyTorch's ``nn.ParameterList``), registered as "0", "1", ...:
    ``len``, iteration, ``p[i]`` (negative too), ``p[i] = v``, ``append``, ``extend``, ``+=``.
    A float array given as a value becomes a new Parameter."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def _index(self, i) -> int:
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"ParameterList indices must be integers. Received: index={i!r}") from None
        n = len(self._parameters)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for ParameterList of length {n}. Received: index={i}")
        return i % n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ParameterList(list(self._parameters.values())[i])
        return self._parameters[str(self._index(i))]

    def __setitem__(self, i, value) -> None:
        setattr(self, str(self._index(i)), _as_parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(list(self._parameters.values()))

    def append(self, value):
        setattr(self, str(len(self._parameters)), _as_parameter(value))
        return self

    def extend(self, values):
        if isinstance(values, (Parameter, Module)) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList.extend expects an iterable of parameters. Received: {values!r}")
        for v in list(values):
            self.append(v)
        return self

    def __iadd__(self, values):
        return self.extend(values)

    def get_config(self):
        return _parameter_shapes(self._parameters.values())

    @classmethod
    def from_config(cls, config):
        return cls(_placeholders(config))

    def extra_repr(self) -> str:  # torch's: a line per parameter
        return "\n".join(f"({k}): {_parameter_line(p)}" for k, p in enumerate(self))


class Identity(Module):
    """y = x, dx = dy (a placeholder, e.g. to drop a layer of a model: ``model[3] = Identity()``).
    As PyTorch's, it takes and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class Residual(Module):
    """``y = block(x) + shortcut(x)``, the shortcut being the identity when None (He et al. 2016).

    The two paths must produce the same shape (use a 1x1 strided Conv2d as the shortcut when the
    block changes the channel count or resolution).
    """

    def __init__(self, block: Module, shortcut: Module | None = None):
        super().__init__()
        self.block = _check_module("block", block)
        if shortcut is not None:
            self.shortcut = _check_module("shortcut", shortcut)
        self._has_shortcut = shortcut is not None

    def forward(self, x):
        y = self.block(x)
        shared = self._has_shortcut and bool(_shared_positions([self.block, self.shortcut]))
        block_state = _call_state(self.block) if shared else None
        s = self.shortcut(x) if self._has_shortcut else x
        object.__setattr__(self, "_states", (block_state, _call_state(self.shortcut)) if shared else None)
        if y.shape != s.shape:
            raise ValueError(f"Residual: the block gives shape {y.shape} but the shortcut gives {s.shape}; "
                             "give a shortcut layer that matches them")
        return y + s

    def backward(self, dy):
        states = getattr(self, "_states", None)
        if states is not None:
            _restore_call_state(states[0])
        dx = self.block.backward(dy)
        if states is not None:
            _restore_call_state(states[1])
        return dx + (self.shortcut.backward(dy) if self._has_shortcut else dy)

    def get_config(self):
        return {"block": layer_to_config(self.block),
                "shortcut": layer_to_config(self.shortcut) if self._has_shortcut else None}

    @classmethod
    def from_config(cls, config):
        shortcut = config.get("shortcut")
        return cls(layer_from_config(config["block"]), None if shortcut is None else layer_from_config(shortcut))


class Concat(Module):
    """Every branch applied to the same input, outputs concatenated along the channel axis
    (axis 1): Inception modules, DenseNet blocks. The branches must agree on the other axes."""

    def __init__(self, *branches):
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], (list, tuple)):
            branches = tuple(branches[0])
        if not branches:
            raise ValueError("Concat needs at least one branch. Received: branches=()")
        for i, b in enumerate(branches):
            setattr(self, str(i), _check_module("branch", b))
        self._sizes = None

    def forward(self, x):
        branches = list(self._modules.values())
        shared = _shared_positions(branches)
        outs, states = [], []
        for i, b in enumerate(branches):
            outs.append(b(x))
            states.append(_call_state(b) if i in shared else None)
        object.__setattr__(self, "_states", states if shared else None)
        rest = {o.shape[:1] + o.shape[2:] for o in outs}
        if len(rest) != 1:
            raise ValueError(f"Concat: branch outputs differ outside the channel axis: {[o.shape for o in outs]}")
        self._sizes = [o.shape[1] for o in outs]
        return ops.get_array_module(*outs).concatenate(outs, axis=1)

    def backward(self, dy):
        if self._sizes is None:
            raise RuntimeError("Concat.backward called before forward")
        dx = None
        start = 0
        states = getattr(self, "_states", None)
        for i, (branch, size) in enumerate(zip(self._modules.values(), self._sizes)):
            if states is not None and states[i] is not None:
                _restore_call_state(states[i])
            g = branch.backward(contiguous(dy[:, start:start + size]))
            dx = g if dx is None else dx + g
            start += size
        return dx

    def get_config(self):
        return {"branches": [layer_to_config(m) for m in self._modules.values()]}

    @classmethod
    def from_config(cls, config):
        return cls(*[layer_from_config(s) for s in config["branches"]])
