"""``fastnn.save`` / ``fastnn.load``: a model in one file, no pickle anywhere.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, read with ``allow_pickle=False``):
``__fastnn_header__`` holds UTF-8 JSON (format name and version, the architecture as nested
``{"type", "config"}`` layer specs, the dtype), and ``state/<name>`` holds each parameter and
buffer of ``model.state_dict()``. The file is written to a temporary file in the same directory
and moved into place with ``os.replace``, so a crash never leaves a half-written model behind.
The file holds no device: a model on the GPU is written from host copies of its arrays, and
``load`` rebuilds it on the CPU unless asked for another device.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from . import _device
from ._files import give_open_mode
from .nn.containers import layer_from_config, layer_to_config
from .nn.module import Module

__all__ = ["save", "load", "ModelFileError"]

FORMAT = "fastnn-model"
VERSION = 1
_HEADER = "__fastnn_header__"
_PREFIX = "state/"


class ModelFileError(ValueError):
    """A file that is not a readable fastnn model (truncated, corrupted, foreign, or not matching
    its own architecture). ``path`` names the file."""

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {reason}")


def save(model: Module, path) -> None:
    """Write the architecture (JSON) and all parameters and buffers of ``model`` to ``path``
    (host copies for a model on the GPU; the model itself is not moved)."""
    if not isinstance(model, Module):
        raise TypeError(f"save expects a fastnn.nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    from ._config import __version__

    state = model.state_dict()
    header = {"format": FORMAT, "version": VERSION, "fastnn_version": __version__,
              "dtype": str(np.dtype(model.dtype)), "architecture": layer_to_config(model), "keys": list(state)}
    try:
        header_bytes = json.dumps(header).encode("utf-8")
    except TypeError as exc:
        raise TypeError(f"save: a layer's get_config() is not JSON-serializable: {exc}") from None
    entries = {_HEADER: np.frombuffer(header_bytes, dtype=np.uint8)}
    # np.asarray(order="C"), not ascontiguousarray: that one turns a 0-d buffer into shape (1,)
    entries.update({_PREFIX + k: np.asarray(_device.to_host(v), order="C") for k, v in state.items()})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
            f.flush()
            os.fsync(f.fileno())
        give_open_mode(tmp, path)  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read(path):
    # Open the file ourselves (np.load on a path can leave it open when the archive is broken)
    # and check the zip signature first (np.load would try other formats on anything else).
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise ModelFileError(path, "not a fastnn model file (not an .npz/zip archive; empty or truncated?)")
        fh.seek(0)
        try:
            with np.load(fh, allow_pickle=False) as archive:
                if _HEADER not in archive.files:
                    raise ModelFileError(path, "not a fastnn model file (no fastnn header)")
                header = json.loads(archive[_HEADER].tobytes().decode("utf-8"))
                arrays = {name[len(_PREFIX):]: archive[name] for name in archive.files if name.startswith(_PREFIX)}
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise ModelFileError(path, f"not a readable fastnn model file (truncated or corrupted?): "
                                       f"{type(exc).__name__}: {exc}") from exc
    return header, arrays


def load(path, device=None) -> Module:
    """Rebuild the model saved at ``path``: architecture from the JSON header, then the weights
    and buffers (checked key by key and shape by shape). Raises ModelFileError (a ValueError)
    naming the path for a truncated, corrupted or foreign file, an unknown layer type or a
    shape mismatch; custom Module subclasses must be imported before loading.

    device: None or "cpu" gives a model on the CPU; "cuda" moves it to the GPU (``model.to``;
    RuntimeError without a CUDA device). The model is returned in eval mode."""
    path = os.fspath(path)
    if device is not None:
        device = _device.parse(device)
    header, arrays = _read(path)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(path, "not a fastnn model file (wrong format name in the header)")
    if header.get("version") != VERSION:
        raise ModelFileError(path, f"model file format version {header.get('version')!r} is not supported "
                                   f"(this fastnn reads version {VERSION})")
    try:
        model = layer_from_config(header["architecture"])
        dtype = np.dtype(header.get("dtype", "float32"))
        if dtype != model.dtype:
            model.to(dtype)
        model.load_state_dict(arrays)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(path, f"the saved model cannot be rebuilt: {exc}") from exc
    if device is not None:
        model.to(device)
    model.eval()
    return model
