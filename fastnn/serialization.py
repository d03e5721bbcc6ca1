"""``fastnn.save`` / ``fastnn.load``: a model in one file, no pickle anywhere.

The file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, read with ``allow_pickle=False``):
``__fastnn_header__`` holds UTF-8 JSON (format name and version, the architecture as nested
``{"type", "config"}`` layer specs, the dtype, the names of the frozen parameters, and which
layers and parameters are the same object as an earlier one), and ``state/<name>`` holds each
parameter and buffer of ``model.state_dict()``. The file is written to a temporary file in the
same directory and moved into place with ``os.replace``, so a crash never leaves a half-written
model behind. The file holds no device: a model on the GPU is written from host copies of its
arrays, and ``load`` rebuilds it on the CPU unless asked for another device.

Header keys added after the first files were written (``frozen``, ``shared_modules``,
``shared_parameters``) are optional: a file without them loads with every parameter trainable
and nothing shared, and older fastnn versions ignore them.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib

import numpy as np

from . import _device, _files
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


def _sharing(model: Module) -> tuple[dict, dict]:
    """({path of a layer: path of the earlier occurrence of the same layer object},
    {name of a parameter: name of the earlier occurrence of the same Parameter}), in the order
    of ``named_modules`` / ``named_parameters`` (a shared layer's own children are not listed:
    they come with it)."""
    first_module, first_param = {}, {}
    modules, params = {}, {}

    def walk(mod, path):
        first_module[id(mod)] = path
        for name, p in mod._parameters.items():
            key = f"{path}.{name}" if path else name
            if id(p) in first_param:
                params[key] = first_param[id(p)]
            else:
                first_param[id(p)] = key
        for name, child in mod._modules.items():
            child_path = f"{path}.{name}" if path else name
            if id(child) in first_module:
                modules[child_path] = first_module[id(child)]
            else:
                walk(child, child_path)

    walk(model, "")
    return modules, params


def save(model: Module, path) -> None:
    """Write the architecture (JSON) and all parameters and buffers of ``model`` to ``path``
    (host copies for a model on the GPU; the model itself is not moved), with which parameters
    are frozen (``trainable=False``) and which layers or parameters are shared (the same object
    used twice): ``load`` restores both.

    The directory must exist (it is not created): otherwise FileNotFoundError ("directory ...
    does not exist"); a directory at ``path`` raises IsADirectoryError; both name ``path``."""
    if not isinstance(model, Module):
        raise TypeError(f"save expects a fastnn.nn.Module, got {type(model).__name__}")
    path = os.fsdecode(path)  # str, bytes or os.PathLike, as open() takes
    from ._config import __version__

    _files.check_destination(path)  # before any work: the error names path, not a .part file
    state = model.state_dict()
    for key, value in state.items():
        if _device.device_of(value) is None:  # a get_extra_state() returning something else
            raise TypeError(f"save: state_dict[{key!r}] is a {type(value).__name__}; the model file "
                            "holds arrays only (return an array from get_extra_state, or save "
                            "model.state_dict() with pickle)")
    shared_modules, shared_parameters = _sharing(model)
    header = {"format": FORMAT, "version": VERSION, "fastnn_version": __version__,
              "dtype": str(np.dtype(model.dtype)), "architecture": layer_to_config(model), "keys": list(state),
              "frozen": [name for name, p in model.named_parameters() if not p.trainable],
              "shared_modules": shared_modules, "shared_parameters": shared_parameters}
    try:
        header_bytes = json.dumps(header).encode("utf-8")
    except TypeError as exc:
        raise TypeError(f"save: a layer's get_config() is not JSON-serializable: {exc}") from None
    entries = {_HEADER: np.frombuffer(header_bytes, dtype=np.uint8)}
    # np.asarray(order="C"), not ascontiguousarray: that one turns a 0-d buffer into shape (1,)
    entries.update({_PREFIX + k: np.asarray(_device.to_host(v), order="C") for k, v in state.items()})
    _files.atomic_write(path, lambda f: np.savez(f, **entries))


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


def _module_at(model: Module, path: str) -> Module:
    mod = model
    for part in path.split(".") if path else ():
        if part not in mod._modules:
            raise ValueError(f"the header names layer {path!r}, which the architecture does not have")
        mod = mod._modules[part]
    return mod


def _split(name: str) -> tuple[str, str]:
    parent, _, last = name.rpartition(".")
    return parent, last


def _string_map(header, key) -> dict:
    value = header.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"header entry {key!r} must map names to names, got {value!r}")
    return value


def _restore_sharing(model: Module, header: dict) -> None:
    """Make each layer / parameter the header lists as shared the same object as its earlier
    occurrence again (the architecture built two independent copies). In place: the dict
    entry is replaced, so a Sequential keeps its order."""
    for alias, original in _string_map(header, "shared_modules").items():
        parent_path, name = _split(alias)
        parent, target = _module_at(model, parent_path), _module_at(model, original)
        if not name or name not in parent._modules or alias == original:
            raise ValueError(f"the header shares layer {alias!r}, which the architecture does not have")
        if type(parent._modules[name]) is not type(target):
            raise ValueError(f"the header shares layer {alias!r} ({type(parent._modules[name]).__name__}) "
                             f"with {original!r} ({type(target).__name__})")
        parent._modules[name] = target
        object.__setattr__(parent, name, target)
    for alias, original in _string_map(header, "shared_parameters").items():
        (mod_path, name), (orig_path, orig_name) = _split(alias), _split(original)
        mod, orig_mod = _module_at(model, mod_path), _module_at(model, orig_path)
        if name not in mod._parameters or orig_name not in orig_mod._parameters or alias == original:
            raise ValueError(f"the header shares parameter {alias!r} with {original!r}, which the "
                             "architecture does not have")
        target = orig_mod._parameters[orig_name]
        if mod._parameters[name].shape != target.shape:
            raise ValueError(f"the header shares parameter {alias!r} {mod._parameters[name].shape} with "
                             f"{original!r} {target.shape}")
        mod._parameters[name] = target
        object.__setattr__(mod, name, target)


def _restore_frozen(model: Module, header: dict) -> None:
    frozen = header.get("frozen", [])  # absent in files written before it was stored: all trainable
    if not isinstance(frozen, list) or not all(isinstance(n, str) for n in frozen):
        raise ValueError(f"header entry 'frozen' must be a list of parameter names, got {frozen!r}")
    params = dict(model.named_parameters())
    unknown = [n for n in frozen if n not in params]
    if unknown:
        raise ValueError(f"the header lists frozen parameters {unknown} the model does not have")
    for name in frozen:
        params[name].trainable = False


def load(path, device=None) -> Module:
    """Rebuild the model saved at ``path``: architecture from the JSON header, then the weights
    and buffers (checked key by key and shape by shape). Raises ModelFileError (a ValueError)
    naming the path for a truncated, corrupted or foreign file, an unknown layer type or a
    shape mismatch; custom Module subclasses must be imported before loading.

    Frozen parameters come back frozen (``trainable=False``) and a layer or parameter used twice
    in the saved model is one shared object again (files without this information: every
    parameter trainable, nothing shared). Gradients are not saved: every parameter starts
    without one (``has_grad`` False), as a newly built model.

    device: None or "cpu" gives a model on the CPU; "cuda" moves it to the GPU (``model.to``;
    RuntimeError without a CUDA device). The model is returned in eval mode."""
    path = os.fsdecode(path)  # str, bytes or os.PathLike, as open() takes
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
        _restore_sharing(model, header)
        dtype = np.dtype(header.get("dtype", "float32"))
        if dtype != model.dtype:
            model.to(dtype)
        model.load_state_dict(arrays)
        _restore_frozen(model, header)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(path, f"the saved model cannot be rebuilt: {exc}") from exc
    if device is not None:
        model.to(device)
    model.eval()
    return model
