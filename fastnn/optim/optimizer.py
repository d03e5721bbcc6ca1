"""torch.optim.optimizer's public names: the Optimizer base class, its hook type aliases and the
step hooks of every optimizer (they live in fastnn.optim.optimizers)."""
from .optimizers import (
    Optimizer,
    OptimizerPostHook,
    OptimizerPreHook,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

__all__ = ["Optimizer", "OptimizerPreHook", "OptimizerPostHook", "register_optimizer_step_pre_hook",
           "register_optimizer_step_post_hook"]
