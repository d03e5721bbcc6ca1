"""Files written atomically (a temporary file in the destination's directory, then
``os.replace``): their permissions, and errors that name the destination.

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so without
``give_open_mode`` the saved model or downloaded dataset would end up readable by its owner
only, unlike a file written with ``open()``. ``check_destination`` / ``temporary_file_for``
report a missing directory or a directory in the way as ``open(dest, "wb")`` would, naming the
path the caller gave rather than the hidden temporary ``.part`` file.
"""
from __future__ import annotations

import errno
import os
import tempfile


def umask() -> int:
    """The process umask, read without changing it where the OS allows.

    ``os.umask`` can only set it; setting and restoring it would, for a moment, apply the
    probe value to files other threads create. Linux shows the umask in /proc; elsewhere the
    probe value is the restrictive 0o077, so such a file can only be less accessible.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def give_open_mode(tmp, dest) -> None:
    """chmod the temporary file ``tmp`` to the mode ``open(dest, "w")`` would leave ``dest``
    with: an existing file's own permission bits, else 0o666 minus the umask."""
    try:
        mode = os.stat(dest).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~umask()
    os.chmod(tmp, mode)


_IS_A_DIRECTORY = "Is a directory, not a file (give the path of a file, e.g. one inside it)"


def _directory_of(dest: str) -> str:
    return os.path.dirname(dest) or os.curdir


def check_destination(dest) -> None:
    """Raise what ``open(dest, "wb")`` would, naming ``dest`` (``exc.filename``) and, in the
    message, the directory at fault: IsADirectoryError when ``dest`` is a directory,
    FileNotFoundError ("directory D does not exist") when its directory is missing,
    NotADirectoryError when that is a file. Creates nothing (no directory either)."""
    dest = os.fspath(dest)
    if not dest:
        raise FileNotFoundError(errno.ENOENT, "empty file path", dest)
    if os.path.isdir(dest):
        raise IsADirectoryError(errno.EISDIR, _IS_A_DIRECTORY, dest)
    directory = _directory_of(dest)
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise NotADirectoryError(errno.ENOTDIR, f"{directory} is not a directory", dest)
        raise FileNotFoundError(errno.ENOENT, f"directory {directory} does not exist", dest)


def _renamed(exc: OSError, dest: str, doing: str) -> OSError:
    """exc (which names the temporary file) as the same OSError subclass naming dest."""
    return type(exc)(exc.errno, f"{exc.strerror} ({doing})", dest)


def temporary_file_for(dest) -> tuple[int, str]:
    """(fd, path) of a new hidden temporary file ``.<name>.XXXX.part`` next to ``dest``
    (``tempfile.mkstemp``), after ``check_destination``; an OSError creating it (e.g. a
    directory without write permission) is re-raised naming ``dest``."""
    dest = os.fspath(dest)
    check_destination(dest)
    directory = _directory_of(dest)
    try:
        return tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise _renamed(exc, dest, f"creating a temporary file in {directory}") from exc


def replace(tmp, dest) -> None:
    """``os.replace(tmp, dest)``; an OSError (e.g. a directory created at ``dest`` meanwhile)
    is re-raised naming ``dest``. The caller removes ``tmp`` on failure."""
    try:
        os.replace(tmp, dest)
    except OSError as exc:
        if os.path.isdir(dest):
            raise IsADirectoryError(errno.EISDIR, _IS_A_DIRECTORY, os.fspath(dest)) from exc
        raise _renamed(exc, os.fspath(dest), "moving the written file into place") from exc


def atomic_write(dest, write) -> None:
    """Write ``dest`` all or nothing: ``write(f)`` fills a temporary file beside it (binary
    mode), which is flushed to disk, given the mode ``open(dest, "w")`` would have left, and
    moved into place; on any failure the temporary file is removed and ``dest`` is untouched.
    Errors name ``dest``."""
    fd, tmp = temporary_file_for(dest)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        give_open_mode(tmp, dest)  # mkstemp made it 0600
        replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
