"""Verified downloads against a local HTTP server (127.0.0.1, ephemeral port): never the real
mirrors, and the user's caches are redirected to tmp_path."""
import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fastnn.data import (ChecksumError, DatasetNotFoundError, DownloadError, RemoteFile,
                         download, load_cifar10, load_mnist, locate_and_load, safe_extract)
from fastnn.data import _download, datasets
from data_helpers import (IDX_NAMES, copy_pattern, http_server, idx_spec, make_cifar_archive,
                          make_idx_dataset, md5, mixed_copy, mixed_idx_spec, refused_url)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Keep every lookup inside tmp_path: no $FASTNN_DATA, a private cache."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _files(d):
    return sorted(p.name for p in d.rglob("*") if p.is_file()) if d.exists() else []


GOOD = b"\x1f\x8b" + bytes(range(200)) * 50
SPEC = RemoteFile(name="blob.gz", urls=(), md5=md5(GOOD), magic=b"\x1f\x8b")


# --- download() -------------------------------------------------------------------------------

def test_good_download_is_verified_and_placed(tmp_path):
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, hits):
        out = download(SPEC, tmp_path / "d" / "blob.gz", urls=[base + "/blob.gz"], verbose=False)
    assert out.read_bytes() == GOOD
    assert _files(tmp_path / "d") == ["blob.gz"]          # no .part left behind
    assert hits == ["/blob.gz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_downloaded_and_extracted_files_get_the_mode_open_would_give(tmp_path):
    """Not mkstemp's 0600: 0666 minus the umask (a shared cache stays readable by the group)."""
    archive, *_ = make_cifar_archive(records=1)
    (tmp_path / "a.tgz").write_bytes(archive)
    old = os.umask(0o027)
    try:
        with http_server({"/blob.gz": {"body": GOOD}}) as (base, _):
            out = download(SPEC, tmp_path / "d" / "blob.gz", urls=[base + "/blob.gz"], verbose=False)
        written = safe_extract(tmp_path / "a.tgz", tmp_path / "o")
    finally:
        os.umask(old)
    assert len(written) == 6
    for p in [out] + written:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o640, (p, oct(os.stat(p).st_mode))


def test_sha256_checksum_is_accepted(tmp_path):
    import hashlib
    spec = RemoteFile(name="blob.gz", urls=(), sha256=hashlib.sha256(GOOD).hexdigest())
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, _):
        download(spec, tmp_path / "blob.gz", urls=[base + "/blob.gz"], verbose=False)
    assert (tmp_path / "blob.gz").read_bytes() == GOOD


@pytest.mark.parametrize("case, body, extra, message", [
    ("tampered", GOOD[:-1] + b"X", {}, "checksum mismatch"),
    ("truncated body", GOOD[:1000], {}, "checksum mismatch"),
    ("connection cut short", GOOD[:1000], {"content_length": len(GOOD)}, "IncompleteRead|truncated"),
    ("html content-type", b"<html><body>Not here</body></html>",
     {"content_type": "text/html; charset=utf-8"}, "HTML"),
    ("html body sniffed", b"  <!DOCTYPE html><html>quota exceeded</html>", {}, "HTML"),
    ("wrong magic", b"PK\x03\x04" + GOOD, {}, "expected bytes"),
    ("empty", b"", {}, "empty"),
])
def test_bad_response_fails_clearly_and_leaves_nothing(tmp_path, case, body, extra, message):
    dest = tmp_path / "d" / "blob.gz"
    with http_server({"/blob.gz": {"body": body, **extra}}) as (base, _):
        with pytest.raises(DownloadError, match=message) as err:
            download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
    assert base + "/blob.gz" in str(err.value)             # says which mirror failed
    assert _files(tmp_path / "d") == []                    # neither dest nor a .part


@pytest.mark.parametrize("first", ["404", "refused", "tampered"])
def test_second_mirror_used_when_first_fails(tmp_path, first):
    routes = {"/good/blob.gz": {"body": GOOD}, "/bad/blob.gz": {"body": b"\x1f\x8bnope"}}
    with http_server(routes) as (base, hits):
        first_url = {"404": base + "/missing/blob.gz", "refused": refused_url() + "/blob.gz",
                     "tampered": base + "/bad/blob.gz"}[first]
        out = download(SPEC, tmp_path / "blob.gz", urls=[first_url, base + "/good/blob.gz"],
                       verbose=False)
    assert out.read_bytes() == GOOD
    assert hits[-1] == "/good/blob.gz"
    assert _files(tmp_path) == ["blob.gz"]


def test_all_mirrors_failing_lists_each(tmp_path):
    with http_server({}) as (base, _):
        bad = refused_url() + "/blob.gz"
        with pytest.raises(DownloadError) as err:
            download(SPEC, tmp_path / "blob.gz", urls=[base + "/blob.gz", bad], verbose=False)
    msg = str(err.value)
    assert "404" in msg and base + "/blob.gz" in msg and bad in msg
    assert _files(tmp_path) == []


def test_timeout(tmp_path):
    with http_server({"/slow.gz": {"body": GOOD, "sleep": 1.0}}) as (base, _):
        with pytest.raises(DownloadError, match="timed out"):
            download(SPEC, tmp_path / "blob.gz", urls=[base + "/slow.gz"], timeout=0.2,
                     verbose=False)
    assert _files(tmp_path) == []


def test_bad_timeout_value_named():
    with pytest.raises(ValueError, match="timeout=0"):
        download(SPEC, "unused", urls=["http://127.0.0.1:1/x"], timeout=0)


def test_interrupt_mid_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted(path, spec):
        assert path.name.endswith(".part") and path.stat().st_size == len(GOOD)
        raise KeyboardInterrupt
    monkeypatch.setattr(_download, "verify_file", interrupted)
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, _):
        with pytest.raises(KeyboardInterrupt):
            download(SPEC, tmp_path / "blob.gz", urls=[base + "/blob.gz"], verbose=False)
    assert _files(tmp_path) == []


def test_existing_good_file_is_not_clobbered_by_a_failed_download(tmp_path):
    dest = tmp_path / "blob.gz"
    dest.write_bytes(b"previous content")
    with http_server({"/blob.gz": {"body": b"\x1f\x8bgarbage"}}) as (base, _):
        with pytest.raises(DownloadError):
            download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
    assert dest.read_bytes() == b"previous content"
    assert _files(tmp_path) == ["blob.gz"]


def test_verify_file_reports_both_digests(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    with pytest.raises(ChecksumError, match=f"expected md5 {SPEC.md5}; got md5 {md5(b'abc')}"):
        _download.verify_file(p, SPEC)


# --- load_mnist through the server ------------------------------------------------------------

def test_load_mnist_downloads_verifies_and_then_loads_offline(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    routes = {f"/m/{rf}": {"body": gz[role]} for role, rf in
              [(r, datasets.DATASETS["mnist"].files[r].name) for r in gz]}
    with http_server(routes) as (base, hits):
        spec = idx_spec(gz, raw, [refused_url() + "/", base + "/m/"], subdir="mnist")
        monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
        data = load_mnist(path=tmp_path / "data", verbose=False)
        assert len(hits) == 4
    x_train, y_train, x_test, y_test = data
    assert x_train.shape == (30, 1, 6, 5) and x_train.dtype == np.float32
    assert y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[:, 0], arrays["train_images"].astype(np.float32) / 255)
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert _files(tmp_path / "data") == sorted(rf.name for rf in spec.files.values())
    # The server is gone: the verified copies are found without network.
    again = load_mnist(path=tmp_path / "data", download=False)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)


def test_load_mnist_tampered_mirror_error_says_where_it_looked(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    routes = {f"/{spec_name}": {"body": body[:-5] + b"xxxxx"}
              for spec_name, body in [("train-images-idx3-ubyte.gz", gz["train_images"])]}
    with http_server(routes) as (base, _):
        spec = idx_spec(gz, raw, [base + "/"], subdir="mnist")
        monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
        with pytest.raises(DatasetNotFoundError) as err:
            load_mnist(path=tmp_path / "data", verbose=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and "Looked in" in msg and str(tmp_path / "data") in msg
    assert "To get it" in msg
    assert _files(tmp_path) == []


def test_corrupt_cached_file_is_replaced_by_a_fresh_download(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    target = tmp_path / "data" / "mnist"
    target.mkdir(parents=True)
    (target / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b corrupt")
    routes = {"/" + n: {"body": gz[r]} for r, n in
              zip(gz, ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])}
    with http_server(routes) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/"]))
        data = load_mnist(path=tmp_path / "data", verbose=False)
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])


def test_uncompressed_local_files_are_recognised_by_content(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    d = tmp_path / "plain"
    d.mkdir()
    for role, name in [("train_images", "train-images-idx3-ubyte"),
                       ("train_labels", "train-labels-idx1-ubyte"),
                       ("test_images", "t10k-images-idx3-ubyte"),
                       ("test_labels", "t10k-labels-idx1-ubyte")]:
        (d / name).write_bytes(raw[role])
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    data = load_mnist(path=d, download=False)
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])
    # A recompressed copy (different gzip bytes, same content) is accepted too.
    (d / "train-images-idx3-ubyte").unlink()
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw["train_images"], 1, mtime=7))
    assert load_mnist(path=d, download=False).x_train.shape == (30, 1, 6, 5)


def test_env_var_location_is_searched(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    d = tmp_path / "envdata" / "mnist"
    d.mkdir(parents=True)
    for role, rf in idx_spec(gz, raw, []).files.items():
        (d / rf.name).write_bytes(gz[role])
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [], subdir="mnist"))
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "envdata"))
    assert load_mnist(download=False).x_test.shape == (12, 1, 6, 5)


def test_lookup_order_with_a_valid_copy_in_every_location(tmp_path, monkeypatch):
    """docs/data.md's order: path= (the directory itself, then path/<name>), $FASTNN_DATA/<name>,
    the cache, system locations, then a download. Every location holds a different valid copy
    at once; removing the winner each time must hand over to the next location in that order."""
    a_arrays, _, a_gz = make_idx_dataset(seed=1)
    b_arrays, b_raw, b_gz = make_idx_dataset(seed=2)
    given, env, system = tmp_path / "given", tmp_path / "env", tmp_path / "system"
    cache = tmp_path / "cache" / "fastnn" / "mnist"      # isolated_dirs points the cache there
    places = {"path": given, "path/<name>": given / "mnist", "$FASTNN_DATA": env / "mnist",
              "cache": cache, "system": system}
    patterns = {"path": "ABBA", "path/<name>": "AAAA", "$FASTNN_DATA": "BBBB", "cache": "ABAB",
                "system": "BABA", "download": "AABB"}
    for place, d in places.items():
        d.mkdir(parents=True, exist_ok=True)
        for name, data in mixed_copy(a_gz, b_gz, patterns[place]).items():
            (d / name).write_bytes(data)
    served = {"/" + name: {"body": data} for name, data in mixed_copy(a_gz, b_gz, patterns["download"]).items()}
    monkeypatch.setenv("FASTNN_DATA", str(env))

    def loaded(**kwargs):
        return copy_pattern(load_mnist(**kwargs), a_arrays, b_arrays)

    def remove(d):
        for name in IDX_NAMES.values():
            (d / name).unlink()

    with http_server(served) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "mnist", mixed_idx_spec(a_gz, b_raw, [base + "/"], [system]))
        assert loaded(path=given, download=False) == patterns["path"]
        remove(given)
        assert loaded(path=given, download=False) == patterns["path/<name>"]
        assert loaded(download=False) == patterns["$FASTNN_DATA"]   # without path=
        monkeypatch.delenv("FASTNN_DATA")
        assert loaded(download=False) == patterns["cache"]
        remove(cache)
        assert loaded(download=False) == patterns["system"]
        assert hits == []                                           # nothing downloaded so far
        remove(system)
        with pytest.raises(DatasetNotFoundError):
            loaded(download=False)
        assert loaded(verbose=False) == patterns["download"]
        assert len(hits) == 4
    assert sorted(p.name for p in cache.iterdir()) == sorted(IDX_NAMES.values())  # downloaded there
    assert loaded(download=False) == patterns["download"]


def test_locate_and_load_names_the_copy_it_used_not_a_skipped_one(tmp_path, monkeypatch):
    """A copy failing its checksum in an earlier location is skipped by the loader; the place
    reported must be the one the data came from."""
    a_arrays, _, a_gz = make_idx_dataset(seed=1)
    b_arrays, b_raw, b_gz = make_idx_dataset(seed=2)
    env, cache = tmp_path / "env" / "mnist", tmp_path / "cache" / "fastnn" / "mnist"
    for d, pattern in [(env, "BBBB"), (cache, "ABAB")]:
        d.mkdir(parents=True)
        for name, data in mixed_copy(a_gz, b_gz, pattern).items():
            (d / name).write_bytes(data)
    (env / IDX_NAMES["train_labels"]).write_bytes(gzip.compress(b"tampered"))
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "env"))
    monkeypatch.setitem(datasets.DATASETS, "mnist", mixed_idx_spec(a_gz, b_raw))
    splits, where = locate_and_load("mnist", download=False)
    assert copy_pattern(splits, a_arrays, b_arrays) == "ABAB" and where == str(cache)
    with http_server({"/" + n: {"body": d} for n, d in mixed_copy(a_gz, b_gz, "AABB").items()}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "mnist", mixed_idx_spec(a_gz, b_raw, [base + "/"]))
        for name in IDX_NAMES.values():
            (cache / name).unlink()
        splits, where = locate_and_load("mnist", verbose=False)
    # The download goes to $FASTNN_DATA/mnist: its verified files stay, only the tampered train
    # labels are fetched (the server's "A" copy), hence a "BABB" copy.
    assert copy_pattern(splits, a_arrays, b_arrays) == "BABB" and where == f"a download into {env}"
    with pytest.raises(TypeError):
        locate_and_load("mnist", download=False, no_such_option=1)


# --- CIFAR-10 binary archive ------------------------------------------------------------------

@pytest.fixture
def small_cifar(monkeypatch):
    monkeypatch.setattr(datasets, "CIFAR_BATCH_RECORDS", 4)


def _cifar_spec(archive: bytes, urls):
    spec = datasets.DATASETS["cifar10"]
    rf = RemoteFile(name="cifar-10-binary.tar.gz", urls=tuple(urls), md5=md5(archive),
                    magic=b"\x1f\x8b")
    return datasets.DatasetSpec(title=spec.title, subdir=spec.subdir, files={"archive": rf},
                                how_to_get=spec.how_to_get)


def test_load_cifar10_download_extract_and_reload(tmp_path, monkeypatch, small_cifar):
    archive, x_tr, y_tr, x_te, y_te = make_cifar_archive(records=4)
    with http_server({"/c.tgz": {"body": archive}}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, [base + "/c.tgz"]))
        data = load_cifar10(verbose=False)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(data.x_train, x_tr.astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y_train, y_tr)
    np.testing.assert_array_equal(data.y_test, y_te)
    cache = tmp_path / "cache" / "fastnn" / "cifar10"
    assert (cache / "cifar-10-batches-bin" / ".fastnn-sha256").is_file()
    np.testing.assert_array_equal(load_cifar10(download=False).x_test, data.x_test)
    # An extracted batch modified later is caught by the manifest.
    p = cache / "cifar-10-batches-bin" / "test_batch.bin"
    b = bytearray(p.read_bytes())
    b[5] ^= 1
    p.write_bytes(bytes(b))
    (cache / "cifar-10-binary.tar.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="files changed since extraction"):
        load_cifar10(download=False)


def test_cifar_archive_found_locally_is_verified_then_extracted(tmp_path, monkeypatch,
                                                                small_cifar):
    archive, *_ = make_cifar_archive(records=4, seed=3)
    d = tmp_path / "mine"
    d.mkdir()
    (d / "cifar-10-binary.tar.gz").write_bytes(archive)
    monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, []))
    assert load_cifar10(path=d, download=False).y_train.shape == (20,)
    assert (d / "cifar-10-batches-bin" / "data_batch_5.bin").is_file()
    # A tampered local archive is refused (and named in the error).
    (d / "cifar-10-batches-bin" / "data_batch_5.bin").unlink()
    (d / "cifar-10-binary.tar.gz").write_bytes(archive[:-10] + b"0123456789")
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        load_cifar10(path=d, download=False)


def test_cifar_lookup_order_archive_in_path_before_extracted_batches_in_the_cache(
        tmp_path, monkeypatch, small_cifar):
    """The documented order holds for CIFAR too: a verified archive in path= wins over batches
    extracted (by hand: no manifest) in the cache, a later location."""
    archive_a, _, ya, _, _ = make_cifar_archive(records=4, seed=1)
    archive_b, _, yb, _, _ = make_cifar_archive(records=4, seed=2)
    given, cache = tmp_path / "given", tmp_path / "cache" / "fastnn" / "cifar10"
    given.mkdir()
    (given / "cifar-10-binary.tar.gz").write_bytes(archive_a)
    (tmp_path / "b.tgz").write_bytes(archive_b)
    safe_extract(tmp_path / "b.tgz", cache)
    monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive_a, []))
    splits, where = locate_and_load("cifar10", path=given, download=False)
    np.testing.assert_array_equal(splits.y_train, ya)
    assert where == str(given)
    splits, where = locate_and_load("cifar10", download=False)  # without path=: the cache's
    np.testing.assert_array_equal(splits.y_train, yb)
    assert where == str(cache)


def _member(name, type_=tarfile.REGTYPE, linkname="", data=b"evil"):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = linkname
    info.size = len(data) if type_ == tarfile.REGTYPE else 0
    return info, (data if type_ == tarfile.REGTYPE else None)


@pytest.mark.parametrize("member, reason", [
    (("../escaped.bin",), "leaves the target directory"),
    (("cifar-10-batches-bin/../../escaped.bin",), "leaves the target directory"),
    (("/tmp/fastnn-absolute-escape.bin",), "absolute path"),
    (("cifar-10-batches-bin/link", tarfile.SYMTYPE, "/etc/passwd"), "links are refused"),
    (("cifar-10-batches-bin/hard", tarfile.LNKTYPE, "../../x"), "links are refused"),
    (("cifar-10-batches-bin/fifo", tarfile.FIFOTYPE), "special member"),
])
def test_unsafe_tar_member_is_refused(tmp_path, member, reason):
    archive, *_ = make_cifar_archive(records=1, extra_members=[_member(*member)])
    a = tmp_path / "a.tar.gz"
    a.write_bytes(archive)
    dest = tmp_path / "out" / "inner"
    with pytest.raises(ValueError, match=f"unsafe tar member.*{reason}"):
        safe_extract(a, dest)
    # Nothing was written at all (members are all checked before any is extracted).
    assert _files(tmp_path / "out") == []
    assert not (tmp_path / "out" / "escaped.bin").exists()
    assert not (tmp_path / "escaped.bin").exists()


def test_load_cifar10_refuses_path_traversal_archive(tmp_path, monkeypatch, small_cifar):
    archive, *_ = make_cifar_archive(records=4, extra_members=[_member("../../escaped.bin")])
    with http_server({"/c.tgz": {"body": archive}}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, [base + "/c.tgz"]))
        with pytest.raises(ValueError, match="unsafe tar member '../../escaped.bin'"):
            load_cifar10(path=tmp_path / "d", verbose=False)
    assert not (tmp_path / "escaped.bin").exists()
    assert not (tmp_path / "d" / "escaped.bin").exists()
    assert not (tmp_path / "d" / "cifar10" / "cifar-10-batches-bin").exists()


def test_safe_extract_selected_members_and_missing_member(tmp_path):
    archive, *_ = make_cifar_archive(records=1)
    a = tmp_path / "a.tgz"
    a.write_bytes(archive)
    written = safe_extract(a, tmp_path / "o", members=["cifar-10-batches-bin/test_batch.bin"])
    assert [p.name for p in written] == ["test_batch.bin"]
    with pytest.raises(ValueError, match="missing member"):
        safe_extract(a, tmp_path / "o", members=["nope.bin"])


def test_safe_extract_truncated_archive(tmp_path):
    archive, *_ = make_cifar_archive(records=2)
    a = tmp_path / "a.tgz"
    a.write_bytes(archive[: len(archive) // 2])
    with pytest.raises(ValueError, match="corrupt|truncated"):
        safe_extract(a, tmp_path / "o")
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))


def test_in_memory_tar_helper_round_trip():
    # Guard for the helper itself: the generated archive holds six batch members.
    archive, *_ = make_cifar_archive(records=1)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        assert len(tf.getmembers()) == 6


def test_mirrors_argument_replaces_the_builtin_list(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset(seed=5)
    spec = idx_spec(gz, raw, [refused_url() + "/never/"], subdir="mnist")
    routes = {"/mine/" + rf.name: {"body": gz[role]} for role, rf in spec.files.items()}
    with http_server(routes) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
        data = load_mnist(mirrors=[base + "/mine"], verbose=False)
    assert sorted(hits) == sorted(routes)
    np.testing.assert_array_equal(data.y_test, arrays["test_labels"])
    assert (tmp_path / "cache" / "fastnn" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


# --- a failed download leaves no empty directory behind ----------------------------------------

def _failing_routes():
    """Every mirror fails: a 503, a 404 (no route) and a refused connection."""
    return {"/down/" + name: {"body": b"busy", "status": 503} for name in IDX_NAMES.values()}


def test_failed_dataset_download_removes_the_cache_folders_it_created(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    cache = tmp_path / "cache"                       # $XDG_CACHE_HOME (isolated_dirs): not there yet
    with http_server(_failing_routes()) as (base, hits):
        spec = idx_spec(gz, raw, [base + "/down/", base + "/missing/", refused_url() + "/"], subdir="mnist")
        monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
        with pytest.raises(DatasetNotFoundError, match="every mirror failed") as err:
            load_mnist(verbose=False)
    assert "503" in str(err.value) and "404" in str(err.value)
    assert len(hits) == 2                            # the first file's two HTTP mirrors were tried
    assert not cache.exists()                        # nor cache/fastnn/mnist, cache/fastnn
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_download_keeps_folders_that_existed_and_the_users_files(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset()
    fastnn_cache = tmp_path / "cache" / "fastnn"
    fastnn_cache.mkdir(parents=True)
    (fastnn_cache / "notes.txt").write_text("mine")       # the user's file beside the dataset folders
    empty = tmp_path / "cache" / "fastnn" / "fashion-mnist"
    empty.mkdir()                                         # an empty folder that was already there
    with http_server(_failing_routes()) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/down/"], subdir="mnist"))
        monkeypatch.setitem(datasets.DATASETS, "fashion_mnist",
                            idx_spec(gz, raw, [base + "/down/"], subdir="fashion-mnist"))
        with pytest.raises(DatasetNotFoundError):
            load_mnist(verbose=False)
        with pytest.raises(DatasetNotFoundError):
            datasets.load_fashion_mnist(verbose=False)
    assert not (fastnn_cache / "mnist").exists()          # made by the download, still empty: gone
    assert empty.is_dir() and list(empty.iterdir()) == []  # was there before: kept
    assert (fastnn_cache / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in fastnn_cache.iterdir()) == ["fashion-mnist", "notes.txt"]


def test_failed_download_into_path_removes_only_what_it_created(tmp_path, monkeypatch, small_cifar):
    archive, *_ = make_cifar_archive(records=4)
    given = tmp_path / "given"                        # --data-path / path=: does not exist yet
    with http_server({"/c.tgz": {"body": b"oops", "status": 500}}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, [base + "/c.tgz"]))
        with pytest.raises(DatasetNotFoundError, match="HTTP Error 500"):
            load_cifar10(path=given, verbose=False)
        assert not given.exists()
        given.mkdir()
        (given / "README").write_text("keep")
        with pytest.raises(DatasetNotFoundError, match="HTTP Error 500"):
            load_cifar10(path=given, verbose=False)
    assert sorted(p.name for p in given.iterdir()) == ["README"]   # given/cifar10 removed, README kept


def test_a_partly_downloaded_dataset_keeps_its_verified_files(tmp_path, monkeypatch):
    """Only empty folders go: the files already verified stay for the next attempt."""
    arrays, raw, gz = make_idx_dataset()
    first = IDX_NAMES["train_images"]
    with http_server({"/" + first: {"body": gz["train_images"]}}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/"], subdir="mnist"))
        with pytest.raises(DatasetNotFoundError, match="404"):
            load_mnist(verbose=False)
    assert _files(tmp_path / "cache") == [first]


def test_download_removes_the_directories_it_made_on_failure_and_interrupt(tmp_path, monkeypatch):
    dest = tmp_path / "a" / "b" / "blob.gz"
    with http_server({}) as (base, _):
        with pytest.raises(DownloadError, match="404"):
            download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
        assert list(tmp_path.iterdir()) == []
        (tmp_path / "a").mkdir()
        with pytest.raises(DownloadError, match="404"):
            download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
        assert [p.name for p in tmp_path.rglob("*")] == ["a"]

    def interrupted(path, spec):
        raise KeyboardInterrupt
    verify_file = _download.verify_file
    monkeypatch.setattr(_download, "verify_file", interrupted)
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, _):
        with pytest.raises(KeyboardInterrupt):
            download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
    assert [p.name for p in tmp_path.rglob("*")] == ["a"]
    # A success keeps what it made.
    monkeypatch.setattr(_download, "verify_file", verify_file)
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, _):
        download(SPEC, dest, urls=[base + "/blob.gz"], verbose=False)
    assert dest.read_bytes() == GOOD


# --- urls= / mirrors= as one string; file:// mirrors ---------------------------------------------

def test_a_single_url_string_is_one_mirror(tmp_path):
    """urls="http://..." used to be iterated character by character ("unknown url type: 'h'")."""
    with http_server({"/blob.gz": {"body": GOOD}}) as (base, hits):
        out = download(SPEC, tmp_path / "blob.gz", urls=base + "/blob.gz", verbose=False)
    assert out.read_bytes() == GOOD and hits == ["/blob.gz"]


@pytest.mark.parametrize("urls, words", [(5, "urls=5"), (b"http://x/blob.gz", r"urls=b'http://x/blob.gz'"),
                                         (["http://x/blob.gz", 7], r"got 7 \(int\) in urls=\['http://x/blob.gz', 7\]"),
                                         ([Path("blob.gz")], r"URL strings, got \w*Path\('blob.gz'\)")])
def test_urls_that_are_not_strings_are_a_type_error_naming_them(tmp_path, urls, words):
    with pytest.raises(TypeError, match=words):
        download(SPEC, tmp_path / "blob.gz", urls=urls, verbose=False)
    assert _files(tmp_path) == []


def test_mirrors_as_one_string_and_bad_mirrors(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset(seed=6)
    spec = idx_spec(gz, raw, [refused_url() + "/never/"], subdir="mnist")
    routes = {"/mine/" + rf.name: {"body": gz[role]} for role, rf in spec.files.items()}
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    with http_server(routes) as (base, hits):
        data = load_mnist(path=tmp_path / "d", mirrors=base + "/mine/", verbose=False)
    assert sorted(hits) == sorted(routes)
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])
    # checked before any lookup: a wrong value is an error even though a verified copy is there
    with pytest.raises(TypeError, match="mirrors=3"):
        load_mnist(path=tmp_path / "d", mirrors=3, download=False)
    with pytest.raises(TypeError, match=r"got None \(NoneType\) in mirrors=\[None\]"):
        load_cifar10(path=tmp_path / "d", mirrors=[None], download=False)


def test_file_url_mirror_is_accepted_and_verified(tmp_path, monkeypatch):
    """A file:// response has no HTTP status (None): it used to fail as "HTTP status None"."""
    local = tmp_path / "mirror"
    local.mkdir()
    (local / "blob.gz").write_bytes(GOOD)
    (local / "bad.gz").write_bytes(GOOD[:-1] + b"X")
    out = download(SPEC, tmp_path / "d" / "blob.gz", urls=[(local / "blob.gz").as_uri()], verbose=False)
    assert out.read_bytes() == GOOD
    with pytest.raises(DownloadError, match="checksum mismatch") as err:
        download(SPEC, tmp_path / "e" / "blob.gz", urls=(local / "bad.gz").as_uri(), verbose=False)
    assert (local / "bad.gz").as_uri() in str(err.value) and _files(tmp_path / "e") == []
    with pytest.raises(DownloadError, match="No such file"):
        download(SPEC, tmp_path / "e" / "blob.gz", urls=(local / "missing.gz").as_uri(), verbose=False)
    # a whole dataset from a local mirror directory, given as one string
    arrays, raw, gz = make_idx_dataset(seed=7)
    spec = idx_spec(gz, raw, [refused_url() + "/never/"], subdir="mnist")
    for role, rf in spec.files.items():
        (local / rf.name).write_bytes(gz[role])
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    data = load_mnist(path=tmp_path / "data", mirrors=local.as_uri(), verbose=False)
    np.testing.assert_array_equal(data.x_test[:, 0], arrays["test_images"].astype(np.float32) / 255)


def test_a_non_200_http_status_is_still_refused(tmp_path, monkeypatch):
    """Only a non-HTTP scheme may answer without a status; HTTP needs 200 (a 203 from a proxy is
    not the file)."""
    with http_server({"/blob.gz": {"body": GOOD, "status": 203}}) as (base, _):
        with pytest.raises(DownloadError, match="HTTP status 203"):
            download(SPEC, tmp_path / "blob.gz", urls=[base + "/blob.gz"], verbose=False)
