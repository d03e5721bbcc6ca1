"""IDX files (the MNIST format) and CIFAR-10's binary batches, parsed with validation.

IDX layout (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"): two zero bytes, a
type code, the number of dimensions D, then D big-endian uint32 sizes, then the data in
C order, big-endian. The total byte count must be exactly ``4 + 4*D + prod(sizes)*itemsize``:
a truncated or padded file is refused instead of being silently reshaped.
"""
from __future__ import annotations

import numpy as np

_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an (already decompressed) IDX file into a native-endian array."""
    if len(data) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{name}: bad IDX magic {data[:4].hex()} (expected 0000TTDD); "
                         "is this an IDX file? (gzip data must be decompressed first)")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes for {ndim} dims)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{name}: IDX header says shape {shape} of {dtype.name} "
                         f"({expected} bytes with the header) but the data has {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


CIFAR_RECORD = 1 + 3 * 32 * 32   # label byte + R, G, B planes of 32x32


def parse_cifar_batch(data: bytes, name: str = "CIFAR batch", num_classes: int = 10):
    """Parse one CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (CHW).

    Returns ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``.
    """
    if len(data) == 0 or len(data) % CIFAR_RECORD != 0:
        raise ValueError(f"{name}: {len(data)} bytes is not a whole number of "
                         f"{CIFAR_RECORD}-byte CIFAR-10 records")
    rec = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() >= num_classes:
        raise ValueError(f"{name}: label {int(labels.max())} out of range [0, {num_classes})")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels
