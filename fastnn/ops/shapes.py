"""Output-size arithmetic for convolution and pooling: the one place it is defined.

Legend: N C H W (input), KH KW (kernel), SH SW (stride), PH PW (padding), OH OW (output).
The C++ kernels receive OH/OW computed here (csrc/kernels/conv.h mirrors the formula once,
for its own checks). Both ``fastnn.ops`` and ``fastnn.reference`` use these functions.
"""
from __future__ import annotations

import numbers

__all__ = ["pair", "conv_output_size", "conv_transpose_output_size"]


def _as_int(value, name: str) -> int:
    # bool is an int subclass, but stride=True is a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or a pair of ints, got {type(value).__name__}: {value!r}")
    return int(value)


# The largest kernel size, stride, padding, dilation or output_padding taken: with every one
# below 2**31 (and array axes far below 2**62) the kernels' int64 index arithmetic cannot
# overflow (a stride near 2**63 made a ceiling division wrap to -1: writes before the output).
GEOMETRY_LIMIT = 2**31 - 1


def _geometry_int(value, name: str) -> int:
    v = _as_int(value, name)
    if abs(v) > GEOMETRY_LIMIT:
        raise ValueError(f"{name} must be at most 2**31 - 1 = {GEOMETRY_LIMIT} in magnitude, got {v}")
    return v


def pair(value, name: str) -> tuple[int, int]:
    """``value`` as an ``(h, w)`` pair of ints: an int means the same for both.

    Raises TypeError for anything but an int or a length-2 tuple/list of ints (the message
    names the argument and the value received), ValueError for a magnitude over
    GEOMETRY_LIMIT (2**31 - 1). Other range checks are left to the caller.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r} of length {len(value)}")
        return _geometry_int(value[0], name), _geometry_int(value[1], name)
    v = _geometry_int(value, name)
    return v, v


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """``(size + 2 * padding - kernel) // stride + 1``: output length of a convolution or pooling
    window sliding over one axis (no dilation, floor mode, as PyTorch).

    Raises ValueError naming the values when kernel < 1, stride < 1, padding < 0, size < 0, or
    the kernel is larger than the padded input (no output position would exist).
    """
    size, kernel = _as_int(size, "size"), _geometry_int(kernel, "kernel_size")
    stride, padding = _geometry_int(stride, "stride"), _geometry_int(padding, "padding")
    if size < 0:
        raise ValueError(f"input size must be >= 0, got {size}")
    if kernel < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    if size + 2 * padding < kernel:
        raise ValueError(f"kernel_size {kernel} is larger than the padded input: size {size} + 2 * "
                         f"padding {padding} = {size + 2 * padding}")
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """``(size - 1) * stride - 2 * padding + kernel + output_padding`` (PyTorch's ConvTranspose).

    This is the input size of the convolution whose input-gradient the transposed convolution
    is; ``output_padding`` picks among the sizes that the floor in :func:`conv_output_size` maps
    to ``size``: 0 <= output_padding < max(stride, dilation), torch's rule (``kernel`` is the
    dilated extent; ``dilation`` only widens that bound). Raises ValueError naming the values when
    the arguments are out of range, size < 1, or the result would be < 0 (0 is an empty output).
    """
    size, kernel = _as_int(size, "size"), _geometry_int(kernel, "kernel_size")
    stride, padding = _geometry_int(stride, "stride"), _geometry_int(padding, "padding")
    output_padding = _geometry_int(output_padding, "output_padding")
    if size < 1:
        raise ValueError(f"transposed convolution needs an input size >= 1, got {size}")
    if kernel < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    dilation = _geometry_int(dilation, "dilation")
    if not 0 <= output_padding < max(stride, dilation):  # torch's rule (dilation: of the kernel given)
        raise ValueError(f"output_padding must satisfy 0 <= output_padding < stride"
                         f"{' or dilation' if dilation > 1 else ''}, got output_padding={output_padding} with "
                         f"stride={stride}{f', dilation={dilation}' if dilation > 1 else ''}")
    out = (size - 1) * stride - 2 * padding + kernel + output_padding
    if out < 0:  # 0 is an empty output, as in PyTorch
        raise ValueError(f"transposed convolution output size would be {out} (< 0): size {size}, "
                         f"kernel_size {kernel}, stride {stride}, padding {padding}, "
                         f"output_padding {output_padding}")
    return out
