"""torchvision-style dataset classes (``MNIST``, ``FashionMNIST``, ``CIFAR10``) and per-sample
transforms (``ToTensor``, ``Lambda``), so a torch tutorial's data code runs on fastnn::

    ds = MNIST("data", train=True, download=True,
               transform=Compose([ToTensor(), Normalize((0.1307,), (0.3081,))]))
    loader = DataLoader(ds, batch_size=64, shuffle=True)   # (64, 1, 28, 28) float32, (64,) int64

Attributes and behaviour follow torchvision (``data``, ``targets``, ``classes``,
``class_to_idx``, ``train``, ``root``, ``raw_folder``, ``__getitem__ -> (img, target)``, the
``repr``, the ``RuntimeError`` when the files are missing), with these departures:

- ``ds[i]`` gives the image as a uint8 NumPy array (``(28, 28)`` for MNIST / FashionMNIST,
  ``(32, 32, 3)`` HWC for CIFAR10): torchvision gives a PIL Image, and fastnn does not depend
  on PIL. :class:`ToTensor` turns it into float32 ``(C, H, W)`` in [0, 1], as torchvision's.
- Files are verified with fastnn's published checksums, and found where fastnn's loaders find
  them: ``root/<ClassName>/raw`` (torchvision's layout) first, then the places
  :func:`fastnn.data.load_mnist` searches for ``path=root`` (``root``, ``root/mnist``, ...,
  ``$FASTNN_DATA``, the cache, Debian's ``/usr/share/datasets/fashion-mnist``). ``download=True``
  fetches the four IDX ``.gz`` files into ``root/<ClassName>/raw``.
- CIFAR10 reads the dataset's *binary* version (``cifar-10-binary.tar.gz``, extracted to
  ``root/cifar-10-batches-bin``), never torchvision's pickled ``cifar-10-python.tar.gz``
  (unpickling a download can run code).
"""
from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import _download, datasets
from ._download import DownloadError
from ._idx import CIFAR_RECORD, parse_cifar_batch
from .dataset import Dataset
from .transforms import Transform

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "CIFAR10", "ToTensor", "Lambda"]


# --- transforms ------------------------------------------------------------------------------

class ToTensor(Transform):
    """A NumPy image ``(H, W)`` or ``(H, W, C)`` -> ``(C, H, W)``, as ``torchvision.transforms
    .ToTensor`` on an ndarray: uint8 input becomes float32 ``x / 255`` (in [0, 1]); any other
    dtype is only transposed (its values and dtype kept, as torchvision). Always returns a new
    C-contiguous array. PIL Images are not accepted (convert with ``np.asarray(img)``).

    Called as the other fastnn transforms: ``t(img)`` or ``t(img, target)`` (target unchanged).
    """

    def __init__(self):
        self.rng = None   # deterministic: no generator

    def apply(self, x, y, rng):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(x)} (fastnn takes "
                            "NumPy arrays only: convert a PIL Image with np.asarray(img))")
        if x.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {x.ndim} dimensions.")
        if x.ndim == 2:
            x = x[:, :, None]
        chw = x.transpose(2, 0, 1)
        if x.dtype == np.uint8:
            out = chw.astype(np.float32, order="C")
            out /= np.float32(255.0)           # a true division, as torch's div(255)
            return out, y
        return np.array(chw, order="C", copy=True), y


class Lambda(Transform):
    """``Lambda(lambd)``: a user function as a transform, ``t(img) == lambd(img)``, as
    torchvision's. Called with a target, ``t(img, target) == (lambd(img), target)``."""

    def __init__(self, lambd: Callable):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.rng = None
        self.lambd = lambd

    def apply(self, x, y, rng):
        return self.lambd(x), y

    def __repr__(self):
        return f"{type(self).__name__}()"


# --- datasets ----------------------------------------------------------------------------------

def _check_root(root):
    if isinstance(root, str):
        return os.path.expanduser(root)   # as torchvision: a str is expanded, a Path kept
    if isinstance(root, os.PathLike):
        return root
    raise TypeError(f"root must be a str or os.PathLike, got root={root!r}")


def _check_flag(v, name: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {name}={v!r}")
    return bool(v)


def _check_transform(t, name: str):
    if t is not None and not callable(t):
        raise TypeError(f"{name} must be callable or None, got {name}={t!r}")
    return t


class StandardTransform:
    """``(input, target) -> (transform(input), target_transform(target))`` (torchvision's);
    its ``repr`` is the one a dataset's ``repr`` shows."""

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    @staticmethod
    def _format_transform_repr(transform, head: str) -> list:
        lines = repr(transform).splitlines()
        return [head + lines[0]] + [" " * len(head) + line for line in lines[1:]]

    def __repr__(self):
        body = [type(self).__name__]
        if self.transform is not None:
            body += self._format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(Dataset):
    """torchvision's ``VisionDataset``: ``root``, ``transform``, ``target_transform``,
    ``transforms`` and the ``repr`` (``Dataset <Name>`` then indented details)."""

    _repr_indent = 4

    def __init__(self, root, transforms=None, transform=None, target_transform=None):
        self.root = _check_root(root)
        has_separate = transform is not None or target_transform is not None
        if transforms is not None and has_separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as "
                             "argument")
        self.transform = _check_transform(transform, "transform")
        self.target_transform = _check_transform(target_transform, "target_transform")
        if has_separate:
            transforms = StandardTransform(transform, target_transform)
        self.transforms = _check_transform(transforms, "transforms")

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        head = "Dataset " + type(self).__name__
        body = [f"Number of datapoints: {self.__len__()}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if getattr(self, "transforms", None) is not None:
            body += [repr(self.transforms)]
        return "\n".join([head] + [" " * self._repr_indent + line for line in body])


def _index(index, n: int) -> int:
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
        raise TypeError(f"dataset index must be an integer, got {type(index).__name__}: "
                        f"{index!r}")
    i = int(index)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for a dataset of size {n}")
    return i


def _lookup_dirs(first: Path, spec, root) -> list:
    """``first`` (torchvision's folder), then the loaders' search path for ``path=root``."""
    out = [first]
    for d in datasets._candidate_dirs(spec, root):
        if d not in out:
            out.append(d)
    return out


def _not_found(text: str, looked: list) -> RuntimeError:
    lines = [text, "Looked in:"] + [f"  {d}: {why}" for d, why in looked]
    return RuntimeError("\n".join(lines))


class _ImageClassification(VisionDataset):
    """``data`` (images) and ``targets`` (class indices) read by index, as torchvision's MNIST
    and CIFAR10: ``ds[i]`` is ``(transform(data[i]), target_transform(int(targets[i])))``."""

    def __getitem__(self, index):
        i = _index(index, len(self.data))
        img, target = self.data[i], int(self.targets[i])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return len(self.data)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train is True else 'Test'}"


class MNIST(_ImageClassification):
    """`MNIST <http://yann.lecun.com/exdb/mnist/>`_ as ``torchvision.datasets.MNIST``.

    Args:
        root: directory of the dataset (str, expanded with ``~``, or a path). The files are
            looked for in ``root/<ClassName>/raw`` (torchvision's layout), then where
            :func:`fastnn.data.load_mnist` looks for ``path=root`` (including
            ``$FASTNN_DATA``, the cache and, for FashionMNIST, Debian's system copy).
        train: the 60,000 training images if True, else the 10,000 test images.
        transform: applied to the image (a uint8 ``(28, 28)`` array), e.g. :class:`ToTensor`.
        target_transform: applied to the target (a Python int).
        download: fetch the four files into ``root/<ClassName>/raw`` (verified with the
            published checksums) when no verified copy is found.

    Attributes:
        data: uint8 ``(N, 28, 28)``; targets: int64 ``(N,)``; classes, class_to_idx, train, root.

    Raises:
        RuntimeError: no verified copy and ``download=False`` (the message lists where it
            looked and why each place was skipped), or the download failed.
    """

    _key = "mnist"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = _check_flag(train, "train")
        download = _check_flag(download, "download")
        self.data, self.targets = self._load(download)

    @property
    def raw_folder(self) -> str:
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict:
        return {c: i for i, c in enumerate(self.classes)}

    def _roles(self):
        split = "train" if self.train else "test"
        return f"{split}_images", f"{split}_labels"

    def _load_dir(self, spec, d: Path):
        """(data, targets) of this split from ``d``, every file verified; raises
        FileNotFoundError / ValueError saying why ``d`` does not hold it."""
        x, y = (datasets._read_idx_file(d, spec.files[role]) for role in self._roles())
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(f"images: expected a 3-D uint8 IDX array, got {x.ndim}-D {x.dtype}")
        if y.ndim != 1 or y.dtype != np.uint8:
            raise ValueError(f"labels: expected a 1-D uint8 IDX array, got {y.ndim}-D {y.dtype}")
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        if len(y) and y.max() >= len(self.classes):
            raise ValueError(f"labels: value {int(y.max())} out of range [0, {len(self.classes)})")
        return np.ascontiguousarray(x), y.astype(np.int64)

    def _load(self, download: bool):
        spec = datasets.DATASETS[self._key]      # looked up now: tests swap the spec
        raw = Path(self.raw_folder)
        looked = []
        for d in _lookup_dirs(raw, spec, self.root):
            if not d.is_dir():
                looked.append((d, "no such directory"))
                continue
            try:
                return self._load_dir(spec, d)
            except (FileNotFoundError, ValueError) as e:
                looked.append((d, str(e)))
        if not download:
            raise _not_found("Dataset not found. You can use download=True to download it",
                             looked)
        self._download(spec, raw)
        return self._load_dir(spec, raw)

    def _download(self, spec, raw: Path) -> None:
        """All four files into ``raw`` (as torchvision), keeping verified ones already there."""
        _check_dir_ok(self.root)
        for rf in spec.files.values():
            try:
                datasets._read_idx_file(raw, rf)
                continue
            except (FileNotFoundError, ValueError):
                pass   # missing, or only bad copies: replaced by a verified download
            try:
                _download.download(rf, raw / rf.name, verbose=True)
            except DownloadError as e:
                raise RuntimeError(f"Error downloading {rf.name}:\n{e}") from e
            stale = raw / rf.name[:-3]
            if rf.name.endswith(".gz") and stale.is_file():
                stale.unlink()    # it failed verification above: a stale copy


class FashionMNIST(MNIST):
    """`Fashion-MNIST <https://github.com/zalandoresearch/fashion-mnist>`_ as
    ``torchvision.datasets.FashionMNIST``; arguments and attributes as :class:`MNIST`. Found
    without network in Debian's ``/usr/share/datasets/fashion-mnist`` when ``root`` has
    nothing (``apt-get install dataset-fashion-mnist``)."""

    _key = "fashion_mnist"
    classes = list(datasets.FASHION_MNIST_CLASSES)


def _check_dir_ok(root) -> None:
    if os.path.exists(root) and not os.path.isdir(root):
        raise NotADirectoryError(f"root must be a directory, but root={str(root)!r} is a file")


class CIFAR10(_ImageClassification):
    """`CIFAR-10 <https://www.cs.toronto.edu/~kriz/cifar.html>`_ as
    ``torchvision.datasets.CIFAR10``, read from the *binary* version of the dataset.

    Args:
        root: directory of the dataset. Looked for: ``root/cifar-10-batches-bin`` (extracted
            batches) or ``root/cifar-10-binary.tar.gz`` (verified, then extracted next to it),
            then where :func:`fastnn.data.load_cifar10` looks for ``path=root``.
        train: the 50,000 training images (``data_batch_1..5``) if True, else the 10,000 test
            images.
        transform: applied to the image, a uint8 ``(32, 32, 3)`` HWC array (torchvision's
            layout), e.g. :class:`ToTensor`.
        target_transform: applied to the target (a Python int).
        download: fetch ``cifar-10-binary.tar.gz`` into ``root`` (verified MD5) and extract it
            safely into ``root/cifar-10-batches-bin`` when no verified copy is found.

    Attributes:
        data: uint8 ``(N, 32, 32, 3)`` (C-contiguous; torchvision's is a transposed view);
        targets: a list of ints (as torchvision); classes, class_to_idx, train, root.

    Raises:
        RuntimeError: no copy and ``download=False`` (torchvision's "Dataset not found or
            corrupted" message, then where it looked), or the download failed.
    """

    base_folder = "cifar-10-batches-bin"
    classes = list(datasets.CIFAR10_CLASSES)

    def __init__(self, root, train: bool = True, transform: Optional[Callable] = None,
                 target_transform: Optional[Callable] = None, download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = _check_flag(train, "train")
        download = _check_flag(download, "download")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.data, self.targets = self._load(download)

    def _load_bin_dir(self, bin_dir: Path):
        names = [Path(m).name for m in datasets.CIFAR_MEMBERS]
        missing = [n for n in names if not (bin_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"missing {', '.join(missing)}")
        manifest = bin_dir / datasets._CIFAR_MANIFEST
        if manifest.is_file() and manifest.read_text() != datasets._manifest_lines(bin_dir):
            raise ValueError(f"checksum mismatch against {manifest} (files changed since "
                             "extraction)")
        xs, ys = [], []
        for n in (names[:5] if self.train else names[5:]):
            raw = (bin_dir / n).read_bytes()
            want = datasets.CIFAR_BATCH_RECORDS * CIFAR_RECORD
            if len(raw) != want:
                raise ValueError(f"{n}: {len(raw)} bytes, expected {want} "
                                 f"({datasets.CIFAR_BATCH_RECORDS} records of {CIFAR_RECORD} bytes)")
            x, y = parse_cifar_batch(raw, n)
            xs.append(x)
            ys.append(y)
        x = np.ascontiguousarray(np.concatenate(xs).transpose(0, 2, 3, 1))   # NCHW -> NHWC
        return x, [int(v) for v in np.concatenate(ys)]

    def _load(self, download: bool):
        spec = datasets.DATASETS["cifar10"]
        rf = spec.files["archive"]
        root = Path(self.root)
        looked = []
        for d in _lookup_dirs(root, spec, self.root):
            if not d.is_dir():
                looked.append((d, "no such directory"))
                continue
            found, why = datasets._cifar_in(d, rf, root, self._load_bin_dir)
            if why is None:
                return found
            looked.append((d, why))
        if not download:
            raise _not_found("Dataset not found or corrupted. You can use download=True to "
                             "download it", looked)
        _check_dir_ok(self.root)
        try:
            archive = _download.download(rf, root / rf.name, verbose=True)
        except DownloadError as e:
            raise RuntimeError(f"Error downloading {rf.name}:\n{e}") from e
        return self._load_bin_dir(datasets._extract_cifar(archive, root))
