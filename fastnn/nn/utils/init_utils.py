"""``fastnn.nn.utils.init_utils``: ``skip_init`` (torch.nn.utils.skip_init).

torch builds the module on its "meta" device (no storage, no initialisation) and then gives it
uninitialised storage with ``to_empty``, which is why it requires the class to take a ``device``
keyword. fastnn has no meta device and most of its layers take no ``device`` argument, so the
module is constructed as usual and then moved to ``device`` (``to_empty``): its values are the
ordinary initial ones, one valid content of "uninitialised" memory (overwrite them all).
"""
from __future__ import annotations

import inspect

from ..module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """An instance of ``module_cls(*args, **kwargs)`` whose parameter and buffer values are to be
    treated as uninitialised (torch.nn.utils.skip_init).

    Args:
        module_cls: a subclass of fastnn.nn.Module (RuntimeError "Expected a Module; got ..."
            otherwise, TypeError when it is not a class, as torch's).
        args, kwargs: the constructor's arguments. ``device`` (default "cpu") is where the module
            ends up: passed on to a class whose constructor takes ``device``, else applied with
            ``to_empty(device=...)`` after construction (torch instead raises RuntimeError for a
            class without ``device``; fastnn's layers mostly have none).

    Returns the module. fastnn departs from torch here: the values are initialised (the
    constructor's own initialisation runs), where torch leaves uninitialised memory.
    """
    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    final_device = kwargs.pop("device", "cpu")
    try:
        takes_device = "device" in inspect.signature(module_cls).parameters
    except (TypeError, ValueError):
        takes_device = False
    if takes_device:
        kwargs["device"] = final_device
    return module_cls(*args, **kwargs).to_empty(device=final_device)
