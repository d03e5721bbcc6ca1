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


def test_check_destination_errors_name_the_given_path(tmp_path):
    _files.check_destination(tmp_path / "new.bin")  # a new file in an existing directory: fine
    missing = tmp_path / "a" / "b" / "f.bin"
    with pytest.raises(FileNotFoundError, match=f"directory {tmp_path / 'a' / 'b'} does not exist") as info:
        _files.check_destination(missing)
    assert info.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as info:
        _files.check_destination(tmp_path)
    assert info.value.filename == str(tmp_path)
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="plain is not a directory"):
        _files.check_destination(tmp_path / "plain" / "f.bin")
    with pytest.raises(FileNotFoundError, match="empty file path"):
        _files.check_destination("")
    assert sorted(os.listdir(tmp_path)) == ["plain"]  # nothing created


def test_temporary_file_is_hidden_next_to_the_destination(tmp_path):
    fd, tmp = _files.temporary_file_for(tmp_path / "m.npz")
    os.close(fd)
    assert os.path.dirname(tmp) == str(tmp_path)
    assert os.path.basename(tmp).startswith(".m.npz.") and tmp.endswith(".part")
    _files.replace(tmp, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == ["m.npz"]
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        _files.temporary_file_for(tmp_path / "nope" / "m.npz")
    assert info.value.filename == str(tmp_path / "nope" / "m.npz")


def test_replace_onto_a_directory_names_the_destination(tmp_path):
    fd, tmp = _files.temporary_file_for(tmp_path / "d")
    os.close(fd)
    (tmp_path / "d").mkdir()  # appeared after the check
    with pytest.raises(IsADirectoryError) as info:
        _files.replace(tmp, tmp_path / "d")
    assert info.value.filename == str(tmp_path / "d") and ".part" not in str(info.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_directory_error_names_the_destination(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        with pytest.raises(PermissionError, match="creating a temporary file in") as info:
            _files.temporary_file_for(locked / "m.npz")
        assert info.value.filename == str(locked / "m.npz")
    finally:
        os.chmod(locked, 0o700)


def test_an_error_creating_the_temporary_file_names_the_destination(tmp_path, monkeypatch):
    """As the test above, also where it cannot run (as root every directory is writable)."""
    def refuse(prefix, suffix, dir):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "abcd" + suffix))
    monkeypatch.setattr(_files.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"Permission denied \(creating a temporary file in") as info:
        _files.temporary_file_for(tmp_path / "m.npz")
    assert info.value.filename == str(tmp_path / "m.npz") and ".part" not in info.value.filename


def test_atomic_write_is_all_or_nothing(tmp_path):
    dest = tmp_path / "out.json"
    dest.write_bytes(b"old")
    os.chmod(dest, 0o640)

    def fail_halfway(f):
        f.write(b"half of the new ")
        raise KeyboardInterrupt  # any exception, even this one, leaves dest as it was

    with pytest.raises(KeyboardInterrupt):
        _files.atomic_write(dest, fail_halfway)
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    _files.atomic_write(dest, lambda f: f.write(b"new"))
    assert dest.read_bytes() == b"new" and oct(dest.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with pytest.raises(IsADirectoryError) as e:
        _files.atomic_write(tmp_path, lambda f: f.write(b"x"))
    assert e.value.filename == str(tmp_path)
