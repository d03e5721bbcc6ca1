"""``fastnn.nn.utils.memory_format``: torch's convert_conv2d_weight_memory_format and
convert_conv3d_weight_memory_format.

torch re-lays a convolution's weight out in memory (channels_last: NHWC strides) so cuDNN can pick
NHWC kernels; the values and the (out, in, kh, kw) shape stay the same. fastnn's weights are always
C-contiguous (its kernels take that layout), so there is nothing to convert: the module is returned
unchanged (the same object, the same arrays). The memory format is checked as torch's would be:
"channels_last", "contiguous_format", "preserve_format" or "channels_last_3d", as a string or any
object whose ``str`` ends with one (``torch.channels_last`` is ``"torch.channels_last"``); anything else
is a ValueError (also a TypeError, torch's type for a non-memory_format) naming it. A format torch
cannot apply to a weight it meets is torch's RuntimeError too: channels_last_3d or preserve_format
with a Conv2d / ConvTranspose2d in the 2-d function, channels_last or preserve_format with a
Conv3d / ConvTranspose3d in the 3-d one.
"""
from __future__ import annotations

from ..module import Module

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]

_FORMATS = ("channels_last_3d", "channels_last", "contiguous_format", "preserve_format")


class InvalidMemoryFormat(ValueError, TypeError):
    """Not a memory format: a ValueError, and a TypeError as torch's for a non-memory_format."""


def _memory_format(memory_format) -> str:
    text = memory_format if isinstance(memory_format, str) else str(memory_format)
    for name in _FORMATS:
        if text == name or text.endswith("." + name):
            return name
    raise InvalidMemoryFormat(f"memory_format must be one of {list(_FORMATS)} (or torch's memory_format "
                              f"objects). Received: memory_format={memory_format!r}")


def _convert(module, fmt: str, classes: tuple, layout: str):
    if not isinstance(module, Module):
        raise TypeError(f"module must be a fastnn.nn.Module. Received: module={module!r}")
    if isinstance(module, classes):
        if fmt == "preserve_format":
            raise RuntimeError("Unsupported memory formatPreserve")
        if fmt in ("channels_last", "channels_last_3d") and fmt != layout:
            rank = 4 if fmt == "channels_last" else 5
            raise RuntimeError(f"required rank {rank} tensor to use {fmt} format")
    for child in module.children():
        _convert(child, fmt, classes, layout)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """Convert the memory format of every Conv2d / ConvTranspose2d weight in ``module`` (itself
    included, recursively) to ``memory_format`` (torch's): in fastnn a no-op on the values and
    layout, returning ``module``. See the module docstring for the checks."""
    from ..layers import Conv2d, ConvTranspose2d

    return _convert(module, _memory_format(memory_format), (Conv2d, ConvTranspose2d), "channels_last")


def convert_conv3d_weight_memory_format(module, memory_format):
    """As ``convert_conv2d_weight_memory_format`` for Conv3d / ConvTranspose3d weights (torch's):
    returns ``module`` unchanged."""
    from ..conv3d import Conv3d, ConvTranspose3d

    return _convert(module, _memory_format(memory_format), (Conv3d, ConvTranspose3d), "channels_last_3d")
