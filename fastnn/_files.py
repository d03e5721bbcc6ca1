"""File permissions for files written atomically (a temporary file, then ``os.replace``).

``tempfile.mkstemp`` creates its file with mode 0600 whatever the umask, so without this the
saved model or downloaded dataset would end up readable by its owner only, unlike a file
written with ``open()``.
"""
from __future__ import annotations

import os


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
