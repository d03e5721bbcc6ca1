"""Handles of registered hooks (torch.utils.hooks.RemovableHandle).

Every ``register_*_hook`` method of :class:`fastnn.nn.Module` and :class:`fastnn.optim.Optimizer`
stores the hook in an ordered dict under a fresh integer id and returns a handle whose
``remove()`` takes it out again (of every dict it was put in, e.g. the with_kwargs and
always_call sets of a forward hook). ``with module.register_forward_hook(h):`` removes the hook
at the end of the block.
"""
from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Removes one hook from the dict(s) it was registered in; removing twice does nothing."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._next_id)
        if extra_dict is None:
            extra_dict = ()
        elif isinstance(extra_dict, dict):
            extra_dict = (extra_dict,)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self) -> "RemovableHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"RemovableHandle(id={self.id})"


def add_hook(hooks: OrderedDict, hook, prepend: bool = False, extra=()) -> RemovableHandle:
    """Store ``hook`` in ``hooks`` (first when ``prepend``) and return its handle; ``extra`` are
    further dicts the handle also clears (their entries are set by the caller with handle.id)."""
    if not callable(hook):
        raise TypeError(f"hook must be callable. Received: hook={hook!r}")
    handle = RemovableHandle(hooks, extra_dict=list(extra) or None)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
