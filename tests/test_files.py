"""fastnn._files: atomically written files get the permissions open() would give them."""
import os
import stat
import tempfile

import pytest

from fastnn import _files

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002], ids=oct)
def test_umask_is_read_without_changing_it(mask):
    old = os.umask(mask)
    try:
        assert _files.umask() == mask
        assert os.umask(mask) == mask  # still set
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=oct)
def test_give_open_mode_new_and_existing_destination(tmp_path, mask):
    old = os.umask(mask)
    try:
        fd, tmp = tempfile.mkstemp(dir=tmp_path)
        os.close(fd)
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o600  # mkstemp's, whatever the umask
        _files.give_open_mode(tmp, tmp_path / "new")
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o666 & ~mask
        existing = tmp_path / "existing"
        existing.write_bytes(b"")
        os.chmod(existing, 0o640)
        _files.give_open_mode(tmp, existing)  # open(existing, "w") keeps its mode
        assert stat.S_IMODE(os.stat(tmp).st_mode) == 0o640
    finally:
        os.umask(old)
