"""Fused steps that ``Sequential`` runs for common pairs of layers: the same numbers as running
the layers one by one, with fewer passes over memory.

- ``Linear`` then ``ReLU``: the ReLU becomes the GEMM's epilogue (applied as each output tile is
  stored). The ReLU layer keeps the output y for its backward; y <= 0 exactly where the
  pre-activation is <= 0 (NaN stays NaN and passes its gradient on either way, as PyTorch's),
  so its own backward gives the same dx.
- ``Linear`` then ``Tanh``: likewise, the GEMM applies the tanh activation kernel's function to
  each output tile as it is stored (the bits of ``fastnn.ops.tanh``); the Tanh layer keeps y, as
  its own forward would, for its backward.
- ``ReLU`` then ``MaxPool2d``: ReLU and max commute (both monotone, NaN wins in both), so the
  window maximum is taken of the pre-activation and ReLU applied to the pooled output, a
  KH*KW-times smaller array; backward masks the pooled gradient where that output is not > 0
  and scatters it to the argmax positions. Where the unfused layers pick another argmax (a
  window with no positive value), the gradient there is 0 in both. The full-size ReLU output
  and its gradient are never made. Not for a dilated pool: its window may hold no element of
  the input (value -inf, which max-then-ReLU would turn into 0), and the dilated path is array
  code that fusing would not speed up.

A rule applies only to the exact layer classes (a subclass may change forward), and never while
``Module.summary`` records the layers one by one. A layer used inside a fused step has its own
cache cleared or set as its own forward would leave it for backward, so it never holds a stale
input.
"""
from __future__ import annotations

from .. import ops
from .activation import ReLU, Tanh
from .layers import Linear, MaxPool2d
from .module import has_hooks

__all__ = ["plan_step"]


class ReluMaxPool:
    """ReLU followed by MaxPool2d, run as one step (see the module docstring)."""

    def __init__(self, relu: ReLU, pool: MaxPool2d):
        self.relu, self.pool = relu, pool
        self._y = None

    def parameters(self):
        return []

    def modules_of_step(self):
        return ()

    def forward(self, x):
        pool = self.pool
        # a 3-D (C, H, W) input is one unbatched sample, as the MaxPool2d layer takes it
        x4 = x.reshape((1,) + x.shape) if getattr(x, "ndim", 4) == 3 else x
        y, indices = ops.max_pool2d_forward(x4, pool._k, stride=pool._s, padding=pool._p,
                                            ceil_mode=pool.ceil_mode, dilation=pool._d)
        if x4 is not x:
            y, indices = y.reshape(y.shape[1:]), indices.reshape(indices.shape[1:])
        pool._indices, pool._x_shape = indices, x.shape
        ops.relu(y, out=y)
        self.relu._saved = None  # the unfused ReLU cache would be the full-size input
        self._y = y
        return y

    def backward(self, dy):
        if self._y is None:
            raise RuntimeError("ReLU + MaxPool2d: backward called before forward")
        dy = ops.relu_backward(dy, self._y)
        pool = self.pool
        if len(pool._x_shape) == 3:  # unbatched: the op runs on N = 1
            dx = ops.max_pool2d_backward(dy.reshape((1,) + dy.shape), pool._indices.reshape((1,) + pool._indices.shape),
                                         pool._x4_shape())
            return dx.reshape(pool._x_shape)
        return ops.max_pool2d_backward(dy, pool._indices, pool._x_shape)


class _LinearActivation:
    """Linear followed by an activation layer whose function the GEMM applies as it stores each
    output tile (see the module docstring); the activation layer keeps y for its backward, as
    its own forward would (ReLU's backward masks with y > 0, Tanh's needs y itself)."""

    backward_can_skip_dx = True
    _activation = ""

    def __init__(self, linear: Linear, act):
        self.linear, self.act = linear, act

    def parameters(self):
        return self.linear.parameters()

    def modules_of_step(self):
        return (self.linear,)

    def forward(self, x):
        y = self.linear._forward(x, activation=self._activation)
        self.act._saved = y
        return y

    def backward(self, dy, need_dx: bool = True):
        return self.linear.backward(self.act.backward(dy), need_dx=need_dx)


class LinearRelu(_LinearActivation):
    """Linear followed by ReLU: y > 0 exactly where x W^T + b > 0."""

    _activation = "relu"


class LinearTanh(_LinearActivation):
    """Linear followed by Tanh."""

    _activation = "tanh"


def plan_step(layers, i):
    """(step, count): the fused step that starts at layers[i] and how many layers it covers,
    or (layers[i], 1) when it runs alone."""
    layer = layers[i]
    nxt = layers[i + 1] if i + 1 < len(layers) else None
    if nxt is None or has_hooks(layer) or has_hooks(nxt):  # hooks need each layer's own calls
        return layer, 1
    if type(layer) is ReLU and type(nxt) is MaxPool2d and not nxt.return_indices and nxt._d == (1, 1):
        return ReluMaxPool(layer, nxt), 2
    if type(layer) is Linear and type(nxt) is ReLU:
        return LinearRelu(layer, nxt), 2
    if type(layer) is Linear and type(nxt) is Tanh:
        return LinearTanh(layer, nxt), 2
    return layer, 1
