"""torch.nn.modules' import paths: ``fastnn.nn.modules.module`` holds Module and the hooks of
every module (``register_module_forward_hook``, ...), as ``torch.nn.modules.module`` does; the
layer classes are fastnn.nn's."""
from .. import *  # noqa: F401,F403  (the layer classes, as torch.nn.modules re-exports them)
from .. import __all__ as _nn_all
from . import module

__all__ = [*_nn_all, "module"]
