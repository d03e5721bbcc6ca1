"""torch.nn.modules.module's names: Module and the global hook registration functions (they
live in fastnn/nn/module.py)."""
from ..module import *  # noqa: F401,F403
from ..module import __all__  # noqa: F401
