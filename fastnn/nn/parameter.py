"""``fastnn.nn.parameter``: torch.nn.parameter's names, Parameter, Buffer, UninitializedParameter,
UninitializedBuffer, UninitializedTensorMixin and is_lazy.

fastnn represents an uninitialized parameter as its Lazy modules always have: a Parameter whose
``data`` is an empty (0,) array (torch's ``UninitializedParameter.data`` is such an empty tensor
too). ``UninitializedParameter`` is that Parameter with torch's behaviour on top: ``shape`` raises
torch's RuntimeError, ``repr`` is ``<UninitializedParameter>``, and ``materialize(shape, device,
dtype)`` gives it data of that shape (zeros; torch's are uninitialized memory) and turns the same
object into its ``cls_to_become``, a Parameter. A Lazy module's parameters are of this class until
its first forward (or ``load_state_dict``).

``UninitializedBuffer`` is an empty (0,) NumPy array of its own class (fastnn's buffers are the
arrays themselves); a NumPy array cannot change its shape, dtype and class in place, so its
``materialize`` returns the new array (``cls_to_become``, a plain ndarray) for the caller to
assign, where torch's turns the buffer itself into a Tensor; its ``copy()`` (what ``state_dict()``
holds) is a plain empty array, as a lazy parameter's ``data.copy()`` is.
"""
from __future__ import annotations

import numpy as np

from .. import _device
from .module import Buffer, Parameter

__all__ = ["Parameter", "Buffer", "UninitializedTensorMixin", "UninitializedParameter", "UninitializedBuffer",
           "is_lazy"]

_SHAPE_ERROR = ("Can't access the shape of an uninitialized parameter or buffer. This error usually happens in "
                "`load_state_dict` when trying to load an uninitialized parameter into an initialized one. Call "
                "`forward` to initialize the parameters before accessing their attributes.")


def _empty(device, dtype):
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    xp = _device.array_module(_device.parse(device)) if device is not None else np
    return xp.empty((0,), dtype)


def _shape_arg(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"materialize: shape must be an int or a sequence of ints. Received: shape={shape!r}") \
            from None
    if any(s < 0 for s in shape):
        raise ValueError(f"materialize: shape must not hold negative sizes. Received: shape={shape}")
    return shape


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share (torch's mixin): is_lazy is
    ``isinstance(x, UninitializedTensorMixin)``."""

    __slots__ = ()

    @property
    def shape(self):
        raise RuntimeError(_SHAPE_ERROR)

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
                           "initialize the parameters before calling `module.share_memory()`.")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (torch.nn.UninitializedParameter): ``data`` is an
    empty (0,) array of the given dtype (float32 by default) on the given device; ``shape``
    raises RuntimeError; ``materialize(shape, device=None, dtype=None)`` turns it, in place, into
    a Parameter of that shape (zeros; its current device and dtype unless given).

    Args: requires_grad=True (fastnn's ``trainable``), device=None ("cpu"), dtype=None (float32).
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be a bool. Received: requires_grad={requires_grad!r}")
        super().__init__(_empty(device, dtype), trainable=bool(requires_grad))

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the parameter data of ``shape`` (zeros) on ``device`` with ``dtype`` (default:
        the current ones) and make it a ``cls_to_become`` (Parameter), the same object."""
        shape = _shape_arg(shape)
        device = self.device if device is None else _device.parse(device)
        dtype = self.data.dtype if dtype is None else np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"Parameter data must be float32 or float64, got {dtype}")
        data = _device.array_module(device).zeros(shape, dtype)
        self.data = data
        self._grad = _device.zeros_like(data)
        self._grad_is_zero = True
        self.__class__ = self.cls_to_become

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.trainable, self.device, self.data.dtype)
        memo[id(self)] = result
        return result


class UninitializedBuffer(UninitializedTensorMixin, np.ndarray):
    """A buffer whose shape is not known yet (torch.nn.UninitializedBuffer): an empty (0,) NumPy
    array of this class (dtype float32 by default), ``shape`` raising RuntimeError.
    ``materialize(shape, device=None, dtype=None)`` returns the buffer's value, an array of zeros
    of ``cls_to_become`` (a plain ndarray, a CuPy array for device "cuda"), to assign in its place
    (NumPy arrays cannot change class, shape and dtype in place as torch's tensors do).

    Args: requires_grad=False, device=None ("cpu"; an uninitialized buffer lives on the host),
    dtype=None (float32), persistent=True (kept in ``state_dict``).
    """

    cls_to_become = np.ndarray

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None, persistent: bool = True):
        if device is not None and _device.parse(device) != _device.CPU:
            raise ValueError("UninitializedBuffer lives on the host (a NumPy array); materialize it on "
                             f"'cuda' instead. Received: device={device!r}")
        obj = np.empty((0,), np.float32 if dtype is None else dtype).view(cls)
        obj.requires_grad = bool(requires_grad)
        obj.persistent = bool(persistent)
        return obj

    def __array_finalize__(self, obj):
        self.requires_grad = getattr(obj, "requires_grad", False)
        self.persistent = getattr(obj, "persistent", True)

    def __reduce__(self):  # pickles (fastnn.save, copy.deepcopy) as a new uninitialized buffer
        return (type(self), (self.requires_grad, None, self.dtype, self.persistent))

    def __deepcopy__(self, memo):
        return type(self)(self.requires_grad, None, self.dtype, self.persistent)

    def copy(self, order="C"):
        """A plain empty ndarray (what ``state_dict()`` holds for it, as for a lazy parameter's data)."""
        return np.ndarray.copy(self, order).view(np.ndarray)

    def materialize(self, shape, device=None, dtype=None):
        """The materialized buffer: zeros of ``shape`` on ``device`` with ``dtype`` (default:
        the host and this buffer's dtype)."""
        shape = _shape_arg(shape)
        device = _device.CPU if device is None else _device.parse(device)
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        return _device.array_module(device).zeros(shape, dtype)


def is_lazy(param) -> bool:
    """Whether ``param`` is an UninitializedParameter or UninitializedBuffer (torch's is_lazy)."""
    return isinstance(param, UninitializedTensorMixin)
