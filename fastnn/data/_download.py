"""Verified downloads and safe archive extraction, standard library only.

A file is fetched from a list of mirrors in order. Each attempt streams into a ``.part`` file
beside the destination, checks what arrived (no HTML error page, the length the server
announced, the expected checksum) and only then ``os.replace``-s it into place, so the
destination either holds a verified file or does not exist. The ``.part`` file is removed on
every failure path, ``KeyboardInterrupt`` included.
"""
from __future__ import annotations

import collections.abc
import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence

from .._files import give_open_mode

CHUNK = 1 << 20          # bytes per read while streaming / hashing
DEFAULT_TIMEOUT = 30.0   # seconds per socket operation (connect, each read)


class DownloadError(OSError):
    """No mirror delivered a file that passed verification; the message lists every attempt."""


class ChecksumError(ValueError):
    """A file's digest is not the published one."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, where to get it and how to recognise it.

    ``md5``/``sha256`` are digests of the file exactly as published (e.g. the ``.gz``).
    ``raw_md5`` is the digest of its gzip-decompressed content, when known: it recognises the
    same data recompressed by someone else (Debian's packages recompress the IDX files with
    a different gzip header, so their ``.gz`` digests differ while the data is identical).
    ``magic`` is the first bytes a good download starts with (a cheap early check).
    """

    name: str
    urls: tuple
    md5: Optional[str] = None
    sha256: Optional[str] = None
    raw_md5: Optional[str] = None
    magic: bytes = b""
    size: Optional[int] = None

    def __post_init__(self):
        if not (self.md5 or self.sha256):
            raise ValueError(f"RemoteFile {self.name!r} needs md5 or sha256 to be verifiable")


def _hasher(algorithm: str):
    # usedforsecurity=False: MD5 is the published integrity check, and FIPS builds refuse
    # plain hashlib.md5() without it.
    try:
        return hashlib.new(algorithm, usedforsecurity=False)
    except TypeError:  # Python < 3.9 has no usedforsecurity
        return hashlib.new(algorithm)


def file_digest(path, algorithm: str = "md5") -> str:
    h = _hasher(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def bytes_digest(data: bytes, algorithm: str = "md5") -> str:
    h = _hasher(algorithm)
    h.update(data)
    return h.hexdigest()


def verify_file(path, spec: RemoteFile) -> None:
    """Raise ChecksumError unless ``path`` holds the data ``spec`` describes.

    Accepted: the published bytes (md5/sha256), or, when ``spec.raw_md5`` is known, a file
    whose content (decompressed if it is gzip) has that digest.
    """
    path = Path(path)
    got = {}
    if spec.sha256:
        got["sha256"] = file_digest(path, "sha256")
        if got["sha256"] == spec.sha256.lower():
            return
    if spec.md5:
        got["md5"] = file_digest(path, "md5")
        if got["md5"] == spec.md5.lower():
            return
    if spec.raw_md5:
        try:
            raw = read_maybe_gzip(path)
        except ValueError as e:
            raise ChecksumError(f"{path}: checksum mismatch for {spec.name} (and its content "
                                f"is unreadable: {e})") from None
        got["content md5"] = bytes_digest(raw, "md5")
        if got["content md5"] == spec.raw_md5.lower():
            return
    want = ", ".join(f"{k} {v}" for k, v in (("md5", spec.md5), ("sha256", spec.sha256),
                                             ("content md5", spec.raw_md5)) if v)
    have = ", ".join(f"{k} {v}" for k, v in got.items())
    raise ChecksumError(f"{path}: checksum mismatch for {spec.name}: expected {want}; got {have}")


def read_maybe_gzip(path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return data


def url_list(urls, name: str = "urls") -> list:
    """``urls`` as a list of URL strings: a single str is one URL (iterating it would try
    each character as a URL), any other iterable must hold only str."""
    if isinstance(urls, str):
        return [urls]
    if isinstance(urls, (bytes, bytearray)) or not isinstance(urls, collections.abc.Iterable):
        raise TypeError(f"{name} must be a URL string or an iterable of URL strings, got {name}={urls!r}")
    out = list(urls)
    for u in out:
        if not isinstance(u, str):
            raise TypeError(f"{name} must hold URL strings, got {u!r} ({type(u).__name__}) in {name}={urls!r}")
    return out


def _looks_like_html(head: bytes) -> bool:
    h = head.lstrip()[:64].lower()
    return h.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<title"))


def _fetch_one(url: str, part: Path, spec: RemoteFile, timeout: float, verbose: bool) -> None:
    """Stream ``url`` into the open-able path ``part``; raise on anything suspicious."""
    req = urllib.request.Request(url, headers={"User-Agent": "fastnn-data/1 (python urllib)"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        status = getattr(resp, "status", 200)
        # file: (a local mirror) and ftp: responses have no status; HTTP(S) must say 200
        is_http = urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")
        if status != 200 and (is_http or status is not None):
            raise OSError(f"HTTP status {status}")
        ctype = (resp.headers.get("Content-Type") or "").lower()
        if "text/html" in ctype:
            raise ValueError(f"server sent an HTML page (Content-Type: {ctype}), not the data file")
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with open(part, "wb") as out:
            first = True
            while True:
                block = resp.read(CHUNK)
                if not block:
                    break
                if first:
                    # A 200 response whose body is an error page: refuse before writing it all.
                    if _looks_like_html(block):
                        raise ValueError("server sent an HTML page, not the data file")
                    if spec.magic and not block.startswith(spec.magic):
                        raise ValueError(f"file does not start with the expected bytes "
                                         f"{spec.magic!r} (got {block[:len(spec.magic)]!r})")
                    first = False
                out.write(block)
                received += len(block)
    if expected is not None and received != expected:
        raise ValueError(f"truncated: got {received} of {expected} bytes")
    if received == 0:
        raise ValueError("empty response")
    if verbose:
        print(f"fastnn.data: downloaded {received} bytes from {url}", file=sys.stderr)


def download(spec: RemoteFile, dest, *, urls: Optional[Sequence[str]] = None,
             timeout: float = DEFAULT_TIMEOUT, verbose: bool = True) -> Path:
    """Fetch ``spec`` to ``dest`` from the first mirror that delivers a verified copy.

    Args:
        spec: the file and its published checksum(s).
        dest: destination path; its directory is created if needed.
        urls: mirrors to try in order (defaults to ``spec.urls``): an iterable of URL strings,
            or one URL as a str. ``http(s)://`` (status 200 required) or ``file://`` (a local
            mirror); every copy is verified the same way.
        timeout: seconds allowed for each socket operation.
        verbose: print one line per attempt to stderr.

    Returns the destination path. Raises DownloadError listing each mirror's failure, and
    TypeError for ``urls`` that are neither a str nor an iterable of str.
    Nothing is left at ``dest`` (or in ``.part`` files) unless verification passed, and the
    directories this call created for ``dest`` are removed again if they are still empty after
    a failure (directories that existed before, and anything put in them, are left alone).
    """
    if timeout is None or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got timeout={timeout!r}")
    dest = Path(dest)
    urls = url_list(spec.urls, "spec.urls") if urls is None else url_list(urls)
    if not urls:
        raise DownloadError(f"no mirror known for {spec.name}")
    created = []   # directories this call made, deepest first
    done = False
    try:
        _make_dirs(dest.parent, created)
        result = _download_from(spec, dest, urls, timeout, verbose, created)
        done = True
        return result
    finally:
        if not done:   # DownloadError, KeyboardInterrupt, anything: no empty directory stays
            _remove_empty(created)


def _make_dirs(d: Path, created: list) -> None:
    """``d.mkdir(parents=True, exist_ok=True)``, adding the directories it made to ``created``
    (deepest first, without duplicates)."""
    missing = []
    p = d
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    d.mkdir(parents=True, exist_ok=True)
    for p in missing:
        if p not in created:
            created.append(p)
    created.sort(key=lambda p: len(p.parts), reverse=True)


def _remove_empty(dirs) -> None:
    """rmdir each directory (deepest first) that is empty; stop at the first that is not (it
    holds something, perhaps another process's download, so its parents do too)."""
    for d in dirs:
        try:
            os.rmdir(d)
        except FileNotFoundError:
            continue
        except OSError:
            break


def _download_from(spec: RemoteFile, dest: Path, urls, timeout: float, verbose: bool, created: list) -> Path:
    failures = []
    for url in urls:
        if verbose:
            print(f"fastnn.data: fetching {url}", file=sys.stderr)
        # A unique .part name per attempt: two processes downloading at once never clobber
        # each other's partial files, and os.replace is atomic within one directory.
        try:
            fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        except FileNotFoundError:   # another process's failed download removed the empty directory
            _make_dirs(dest.parent, created)
            fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        os.close(fd)
        part = Path(tmp)
        try:
            _fetch_one(url, part, spec, timeout, verbose)
            verify_file(part, spec)
            give_open_mode(part, dest)  # mkstemp made it 0600
            os.replace(part, dest)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            if isinstance(e, urllib.error.HTTPError):
                e.close()   # the error carries the open response; don't leak its socket
            reason = e.reason if isinstance(e, urllib.error.URLError) and not isinstance(
                e, urllib.error.HTTPError) else e
            failures.append(f"  {url}: {type(e).__name__}: {reason}")
        finally:
            # Removes the partial file on failure, exceptions and KeyboardInterrupt alike.
            if part.exists():
                part.unlink()
    raise DownloadError(f"could not download {spec.name} to {dest}; every mirror failed:\n"
                        + "\n".join(failures))


# --- tar archives -------------------------------------------------------------------------

def _check_member(member: tarfile.TarInfo, dest: Path) -> PurePosixPath:
    """The member's relative path, or ValueError if extracting it could escape ``dest``."""
    name = member.name
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"unsafe tar member {name!r}: absolute path")
    if ".." in p.parts or "\\" in name:
        raise ValueError(f"unsafe tar member {name!r}: path leaves the target directory")
    if member.issym() or member.islnk():
        raise ValueError(f"unsafe tar member {name!r}: links are refused "
                         f"(points to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"unsafe tar member {name!r}: only regular files and directories "
                         "are extracted (device, fifo or other special member)")
    target = (dest / p).resolve()
    root = dest.resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"unsafe tar member {name!r}: resolves outside {root}")
    return p


def safe_extract(archive, dest, members: Optional[Sequence[str]] = None) -> list:
    """Extract a (possibly gzipped) tar archive into ``dest``, refusing unsafe members.

    Every member is checked first (absolute paths, ``..``, symbolic/hard links and special
    files are refused with ValueError) and nothing is written if any member is unsafe.
    Files are written by copying their data (never ``extractall``), each through a
    ``.part`` file and ``os.replace``.

    Args:
        archive: path of the tar(.gz) file.
        dest: directory to extract into (created if needed).
        members: if given, only these member names are extracted; all must exist.

    Returns the list of extracted file paths.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        tf = tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{archive}: not a readable tar archive ({e})") from None
    with tf:
        try:
            all_members = tf.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise ValueError(f"{archive}: corrupt or truncated tar archive ({e})") from None
        checked = [(m, _check_member(m, dest)) for m in all_members]
        if members is not None:
            by_name = {m.name: (m, p) for m, p in checked}
            missing = [n for n in members if n not in by_name]
            if missing:
                raise ValueError(f"{archive}: missing member(s) {missing}")
            checked = [by_name[n] for n in members]
        for m, rel in checked:
            target = dest / rel
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(m)
            fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    try:
                        shutil.copyfileobj(src, out, CHUNK)
                    except (tarfile.TarError, EOFError, zlib.error) as e:
                        raise ValueError(f"{archive}: corrupt member {m.name!r} ({e})") from None
                give_open_mode(tmp, target)  # mkstemp made it 0600
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            written.append(target)
    return written
