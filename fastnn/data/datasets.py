"""MNIST, Fashion-MNIST, CIFAR-10 and scikit-learn's 8x8 digits, found locally or downloaded.

Every loader returns a :class:`DatasetSplits` named tuple ``(x_train, y_train, x_test, y_test)``:
images float32, NCHW, scaled to [0, 1]; labels int64 class indices.

Where the files are looked for, in this order (the first directory holding a complete,
verified copy wins):

1. ``path=`` if given (the files directly in it, or in ``path/<name>``),
2. ``$FASTNN_DATA/<name>``,
3. ``$XDG_CACHE_HOME/fastnn/<name>`` (default ``~/.cache/fastnn/<name>``),
4. known system locations (Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist``),
5. a download from the published mirrors (unless ``download=False``) into the first of
   ``path/<name>``, ``$FASTNN_DATA/<name>``, the cache.

Each file is checked against its published checksum (MD5, as the datasets publish it) before
use; an IDX file recompressed by a distribution (different ``.gz`` bytes, same content) is
recognised by the MD5 of its decompressed content. Parsers then check the headers against the
byte counts. Files that fail are skipped (and listed in the error if nothing else is found).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import numpy as np

from . import _download
from ._download import DownloadError, RemoteFile, bytes_digest, safe_extract
from ._idx import CIFAR_RECORD, parse_cifar_batch, parse_idx


class DatasetSplits(NamedTuple):
    """A dataset's official split; unpacks as ``x_train, y_train, x_test, y_test = ...``.

    Images are float32 ``(N, C, H, W)`` in [0, 1]; labels are int64 ``(N,)``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is neither on disk (verified) nor downloadable; the message says where
    fastnn looked and how to get the files."""


MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and how to recognise its files (one entry of ``DATASETS``)."""

    title: str
    subdir: str                   # directory name under $FASTNN_DATA / the cache
    files: dict                   # role -> RemoteFile
    system_dirs: tuple = ()       # read-only locations packages install to
    alt_subdirs: tuple = ()       # other layouts worth checking under path= (torchvision's)
    how_to_get: str = ""


def _idx_files(mirrors, md5s, raw_md5s):
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return {role: RemoteFile(name=name, urls=tuple(m + name for m in mirrors), md5=md5,
                             raw_md5=raw, magic=b"\x1f\x8b")
            for role, name, md5, raw in zip(roles, names, md5s, raw_md5s)}


# Published checksums. Sources (see the report of the change that added them):
# - MNIST .gz MD5s: torchvision.datasets.MNIST.resources; the decompressed-content MD5s are the
#   ones widely published for the raw IDX files (train images 47,040,016 bytes).
# - Fashion-MNIST .gz MD5s: the Fashion-MNIST README ("Get the Data" table, shipped in Debian's
#   /usr/share/doc/dataset-fashion-mnist/README.md.gz); content MD5s as published for the raw
#   files, and they match Debian's recompressed copies.
# - CIFAR-10 binary version MD5: the dataset page https://www.cs.toronto.edu/~kriz/cifar.html.
DATASETS = {
    "mnist": DatasetSpec(
        title="MNIST",
        subdir="mnist",
        files=_idx_files(
            ("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637")),
        alt_subdirs=("MNIST/raw",),
        how_to_get="put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                   "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (gzipped or not) in "
                   "$FASTNN_DATA/mnist, or call with network access to download them (~11 MB)",
    ),
    "fashion_mnist": DatasetSpec(
        title="Fashion-MNIST",
        subdir="fashion-mnist",
        files=_idx_files(
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
             "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965")),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        alt_subdirs=("FashionMNIST/raw",),
        how_to_get="on Debian/Ubuntu `apt-get install dataset-fashion-mnist` (no download "
                   "needed afterwards), or put the four IDX files in $FASTNN_DATA/fashion-mnist, "
                   "or call with network access to download them (~30 MB)",
    ),
    "cifar10": DatasetSpec(
        title="CIFAR-10",
        subdir="cifar10",
        files={"archive": RemoteFile(
            name="cifar-10-binary.tar.gz",
            urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
            md5="c32a1d4ab5d03f1284b67883e8d87530", magic=b"\x1f\x8b")},
        how_to_get="put cifar-10-binary.tar.gz (the *binary* version from "
                   "https://www.cs.toronto.edu/~kriz/cifar.html) or its extracted "
                   "cifar-10-batches-bin/ directory in $FASTNN_DATA/cifar10, or call with "
                   "network access to download it (~163 MB)",
    ),
}

CIFAR_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)) + (
    "cifar-10-batches-bin/test_batch.bin",)
_CIFAR_MANIFEST = ".fastnn-sha256"
CIFAR_BATCH_RECORDS = 10000   # images per batch file in the published archive


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fastnn``, else ``~/.cache/fastnn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastnn"


def _candidate_dirs(spec: DatasetSpec, path) -> list:
    dirs = []
    if path is not None:
        p = Path(path).expanduser()
        dirs += [p, p / spec.subdir] + [p / a for a in spec.alt_subdirs]
    env = os.environ.get("FASTNN_DATA")
    if env:
        dirs.append(Path(env).expanduser() / spec.subdir)
    dirs.append(default_cache_dir() / spec.subdir)
    dirs += [Path(d) for d in spec.system_dirs]
    seen, out = set(), []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _download_dir(spec: DatasetSpec, path) -> Path:
    if path is not None:
        return Path(path).expanduser() / spec.subdir
    env = os.environ.get("FASTNN_DATA")
    if env:
        return Path(env).expanduser() / spec.subdir
    return default_cache_dir() / spec.subdir


def _not_found(spec: DatasetSpec, looked: list, download: bool, download_error=None):
    lines = [f"{spec.title} not found. Looked in:"]
    lines += [f"  {d}: {why}" for d, why in looked]
    if not download:
        lines.append("Not downloading: download=False.")
    elif download_error is not None:
        lines.append(f"Downloading failed: {download_error}")
    lines.append(f"To get it: {spec.how_to_get}.")
    return DatasetNotFoundError("\n".join(lines))


def _check_mirrors(mirrors) -> Optional[list]:
    """``mirrors=`` as a list of base URLs (a single str is one mirror), checked before any
    lookup so a wrong value is an error even when a local copy makes it unused."""
    return None if mirrors is None else _download.url_list(mirrors, "mirrors")


def _with_mirrors(rf: RemoteFile, mirrors) -> Optional[Sequence[str]]:
    """The URLs of ``rf`` on the ``mirrors`` (base URLs)."""
    if mirrors is None:
        return None
    return [m if m.endswith(rf.name) else m.rstrip("/") + "/" + rf.name for m in _check_mirrors(mirrors)]


# --- IDX datasets ---------------------------------------------------------------------------

def _candidate_files(d: Path, rf: RemoteFile) -> list:
    """The copies of ``rf`` in ``d``: the published name, then the uncompressed name."""
    raw_name = rf.name[:-3] if rf.name.endswith(".gz") else rf.name
    return [d / name for name in dict.fromkeys((rf.name, raw_name)) if (d / name).is_file()]


def _read_idx_file(d: Path, rf: RemoteFile) -> np.ndarray:
    """The first copy of ``rf`` in ``d`` that verifies and parses (a broken ``.gz`` does not
    hide a good uncompressed file beside it). FileNotFoundError when there is none, ValueError
    naming every copy and why it failed when none works."""
    failures = []
    for p in _candidate_files(d, rf):
        try:
            return _read_verified_idx(p, rf)
        except ValueError as e:
            failures.append(f"{p.name}: {e}")
    if not failures:
        raise FileNotFoundError(f"no {rf.name}")
    raise ValueError("; ".join(failures))


def _read_verified_idx(p: Path, rf: RemoteFile) -> np.ndarray:
    """Read once, accept the published bytes or the published content, then parse."""
    data = p.read_bytes()
    ok = bool(rf.md5) and bytes_digest(data, "md5") == rf.md5
    ok = ok or (bool(rf.sha256) and bytes_digest(data, "sha256") == rf.sha256)
    if data[:2] == b"\x1f\x8b":
        import gzip
        import zlib
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"corrupt or truncated gzip data ({e})") from None
    if not ok and not (rf.raw_md5 and bytes_digest(data, "md5") == rf.raw_md5):
        raise ValueError(f"checksum mismatch (neither the published {rf.name} nor its content)")
    return parse_idx(data, str(p))


def _load_idx_dir(spec: DatasetSpec, d: Path) -> DatasetSplits:
    arrays = {role: _read_idx_file(d, rf) for role, rf in spec.files.items()}
    return _idx_splits(spec, arrays)


def _idx_splits(spec: DatasetSpec, a: dict) -> DatasetSplits:
    out = []
    for split in ("train", "test"):
        x, y = a[f"{split}_images"], a[f"{split}_labels"]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(f"{split} images: expected a 3-D uint8 IDX array, got "
                             f"{x.ndim}-D {x.dtype}")
        if y.ndim != 1 or y.dtype != np.uint8:
            raise ValueError(f"{split} labels: expected a 1-D uint8 IDX array, got "
                             f"{y.ndim}-D {y.dtype}")
        if len(x) != len(y):
            raise ValueError(f"{split}: {len(x)} images but {len(y)} labels")
        if len(y) and y.max() >= 10:
            raise ValueError(f"{split} labels: value {int(y.max())} out of range [0, 10)")
        out += [_to_float_images(x[:, None]), y.astype(np.int64)]
    return DatasetSplits(*out)


def _to_float_images(u8: np.ndarray) -> np.ndarray:
    x = u8.astype(np.float32)
    x /= np.float32(255.0)    # a true division: exactly k/255 rounded, 255 -> 1.0
    return x


def _load_idx_dataset(key: str, path=None, download: bool = True, mirrors=None, timeout: float = 30.0,
                      verbose: bool = True):
    """(DatasetSplits, where they came from: the directory, or "a download into <dir>")."""
    spec = DATASETS[key]
    mirrors = _check_mirrors(mirrors)
    looked = []
    for d in _candidate_dirs(spec, path):
        if not d.is_dir():
            looked.append((d, "no such directory"))
            continue
        try:
            return _load_idx_dir(spec, d), str(d)
        except (FileNotFoundError, ValueError) as e:
            looked.append((d, str(e)))
    if not download:
        raise _not_found(spec, looked, download)
    target = _download_dir(spec, path)
    try:
        for rf in spec.files.values():
            try:
                _read_idx_file(target, rf)
                continue
            except (FileNotFoundError, ValueError):
                pass   # missing, or only bad cached copies: fetch a fresh one
            _download.download(rf, target / rf.name, urls=_with_mirrors(rf, mirrors),
                               timeout=timeout, verbose=verbose)
            raw = target / rf.name[:-3]
            if rf.name.endswith(".gz") and raw.is_file():
                raw.unlink()   # it failed verification above: a stale copy, not worth keeping
    except DownloadError as e:
        raise _not_found(spec, looked, download, e) from None
    return _load_idx_dir(spec, target), f"a download into {target}"


def load_mnist(path=None, *, download: bool = True, mirrors: Optional[Sequence[str]] = None,
               timeout: float = 30.0, verbose: bool = True) -> DatasetSplits:
    """MNIST handwritten digits: 60,000 train and 10,000 test images, 1x28x28, 10 classes.

    Args:
        path: a directory to look in first (and to download into, as ``path/mnist``).
        download: fetch from the mirrors when no verified local copy exists.
        mirrors: base URLs to use instead of the built-in mirror list (an iterable of str, or
            one str); ``http(s)://`` or ``file://`` (a local mirror), verified alike.
        timeout: seconds per socket operation while downloading.
        verbose: report downloads on stderr.

    Returns:
        DatasetSplits: x float32 ``(N, 1, 28, 28)`` in [0, 1], y int64 ``(N,)`` in [0, 10).
    """
    return _load_idx_dataset("mnist", path, download, mirrors, timeout, verbose)[0]


def load_fashion_mnist(path=None, *, download: bool = True,
                       mirrors: Optional[Sequence[str]] = None, timeout: float = 30.0,
                       verbose: bool = True) -> DatasetSplits:
    """Fashion-MNIST (Zalando): 60,000 train and 10,000 test images, 1x28x28, 10 classes.

    Class names: ``FASHION_MNIST_CLASSES``. Finds Debian's ``dataset-fashion-mnist`` package
    (``/usr/share/datasets/fashion-mnist``) with no network. Arguments and return value as
    :func:`load_mnist`.
    """
    return _load_idx_dataset("fashion_mnist", path, download, mirrors, timeout, verbose)[0]


# --- CIFAR-10 -----------------------------------------------------------------------------

def _manifest_lines(bin_dir: Path) -> str:
    return "".join(f"{_download.file_digest(bin_dir / Path(m).name, 'sha256')}  "
                   f"{Path(m).name}\n" for m in CIFAR_MEMBERS)


def _load_cifar_bin_dir(bin_dir: Path) -> DatasetSplits:
    """Read the six extracted batches; structural checks, plus the manifest fastnn wrote when
    it extracted them from a verified archive (absent for a directory extracted by hand)."""
    names = [Path(m).name for m in CIFAR_MEMBERS]
    missing = [n for n in names if not (bin_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    manifest = bin_dir / _CIFAR_MANIFEST
    if manifest.is_file() and manifest.read_text() != _manifest_lines(bin_dir):
        raise ValueError(f"checksum mismatch against {manifest} (files changed since extraction)")
    parts = []
    for n in names:
        data = (bin_dir / n).read_bytes()
        want = CIFAR_BATCH_RECORDS * CIFAR_RECORD
        if len(data) != want:
            raise ValueError(f"{n}: {len(data)} bytes, expected {want} "
                             f"({CIFAR_BATCH_RECORDS} records of {CIFAR_RECORD} bytes)")
        parts.append(parse_cifar_batch(data, n))
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    x_te, y_te = parts[5]
    return DatasetSplits(_to_float_images(x_tr), y_tr, _to_float_images(x_te), y_te)


def _extract_cifar(archive: Path, into: Path) -> Path:
    """Extract the six batches of a verified archive into ``into/cifar-10-batches-bin``."""
    safe_extract(archive, into, members=CIFAR_MEMBERS)
    bin_dir = into / "cifar-10-batches-bin"
    (bin_dir / _CIFAR_MANIFEST).write_text(_manifest_lines(bin_dir))
    return bin_dir


def load_cifar10(path=None, *, download: bool = True, mirrors: Optional[Sequence[str]] = None,
                 timeout: float = 30.0, verbose: bool = True) -> DatasetSplits:
    """CIFAR-10: 50,000 train and 10,000 test colour images, 3x32x32, 10 classes.

    Read from the dataset's *binary* version (``cifar-10-binary.tar.gz``; never the pickled
    Python version). The archive is checked against its published MD5 and its members are
    extracted safely (absolute paths, ``..`` and links are refused) into
    ``<dir>/cifar-10-batches-bin`` next to it, with a SHA-256 manifest checked on later loads.
    Class names: ``CIFAR10_CLASSES``. Arguments as :func:`load_mnist`.

    Returns:
        DatasetSplits: x float32 ``(N, 3, 32, 32)`` in [0, 1] (about 0.6 GB for the training
        set), y int64 ``(N,)``.
    """
    return _load_cifar10(path, download, mirrors, timeout, verbose)[0]


def _cifar_in(d: Path, rf, fallback: Path, load):
    """The CIFAR-10 copy in directory d: ``(load(batches dir), None)`` from its extracted
    cifar-10-batches-bin, else from its verified archive (extracted into d, or into ``fallback``
    when d is read-only); ``(None, why)`` when neither works."""
    try:
        return load(d / "cifar-10-batches-bin"), None
    except (FileNotFoundError, ValueError) as e:
        why = f"cifar-10-batches-bin: {e}"
    a = d / rf.name
    if a.is_file():
        try:
            _download.verify_file(a, rf)
            return load(_extract_cifar(a, d if os.access(d, os.W_OK) else fallback)), None
        except (ValueError, OSError) as e:
            why += f"; {rf.name}: {e}"
    return None, why


def _load_cifar10(path=None, download: bool = True, mirrors=None, timeout: float = 30.0, verbose: bool = True):
    """(DatasetSplits, where they came from: the directory, or "a download into <dir>")."""
    spec = DATASETS["cifar10"]
    rf = spec.files["archive"]
    mirrors = _check_mirrors(mirrors)
    looked = []
    target = _download_dir(spec, path)
    # Location by location, as the IDX sets: a verified archive here wins over batches
    # extracted in a later location.
    for d in _candidate_dirs(spec, path):
        if not d.is_dir():
            looked.append((d, "no such directory"))
            continue
        found, why = _cifar_in(d, rf, target, _load_cifar_bin_dir)
        if why is None:
            return found, str(d)
        looked.append((d, why))
    if not download:
        raise _not_found(spec, looked, download)
    try:
        archive = _download.download(rf, target / rf.name, urls=_with_mirrors(rf, mirrors),
                                     timeout=timeout, verbose=verbose)
    except DownloadError as e:
        raise _not_found(spec, looked, download, e) from None
    return _load_cifar_bin_dir(_extract_cifar(archive, target)), f"a download into {target}"


def locate_and_load(name: str, path=None, *, download: bool = True, **kwargs):
    """Load a dataset by name ("mnist", "fashion-mnist", "cifar10", "digits") and say where it
    came from: returns ``(DatasetSplits, description)``. For messages such as ``fastnn train``'s.
    The description is the loader's own account (the directory whose verified copy it used), so
    a copy it skipped (incomplete, failing its checksum) is never named."""
    key = name.lower().replace("-", "_")
    if key == "digits":
        return load_digits(), "scikit-learn's bundled copy"
    loaders = {"mnist": functools.partial(_load_idx_dataset, "mnist"),
               "fashion_mnist": functools.partial(_load_idx_dataset, "fashion_mnist"), "cifar10": _load_cifar10}
    if key not in loaders:
        raise ValueError(f"unknown dataset {name!r}; expected one of: mnist, fashion-mnist, cifar10, digits")
    return loaders[key](path, download=download, **kwargs)


# --- scikit-learn digits -------------------------------------------------------------------

def load_digits(*, test_size: float = 0.2, seed: int = 0) -> DatasetSplits:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, no download).

    The dataset has no official split: a stratified split with ``test_size`` and ``seed``
    (defaults give a fixed 1437/360 split). Pixels (0..16) are scaled to [0, 1].

    Needs scikit-learn: ``pip install 'fastnn[digits]'``.

    Returns:
        DatasetSplits: x float32 ``(N, 1, 8, 8)``, y int64 ``(N,)``.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as e:
        raise ImportError("load_digits needs scikit-learn, an optional dependency of fastnn: "
                          "pip install 'fastnn[digits]' (or pip install scikit-learn)") from e
    from .splits import train_test_split

    bunch = _sk_load_digits()
    x = (np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0))[:, None]
    y = np.asarray(bunch.target, dtype=np.int64)
    s = train_test_split(x, y, test_size=test_size, stratify=y, seed=seed)
    return DatasetSplits(s.x_train, s.y_train, s.x_test, s.y_test)
