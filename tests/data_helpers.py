"""Test helpers for fastnn.data: small generated IDX / CIFAR files and a local HTTP server.

Nothing here touches the network: the server listens on 127.0.0.1 on an ephemeral port.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import time

import numpy as np

from fastnn.data import RemoteFile
from fastnn.data.datasets import DatasetSpec

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(arr: np.ndarray) -> bytes:
    """An uncompressed IDX file of a uint8 array."""
    assert arr.dtype == np.uint8
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.tobytes()


def make_idx_dataset(seed=0, n_train=30, n_test=12, h=6, w=5):
    """Raw arrays and the gzipped IDX files of a tiny MNIST-like dataset."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    raw = {role: idx_bytes(a) for role, a in arrays.items()}
    gz = {role: gzip.compress(b, mtime=0) for role, b in raw.items()}
    return arrays, raw, gz


def idx_spec(gz: dict, raw: dict, base_urls, title="Test-MNIST", subdir="test-mnist"):
    files = {role: RemoteFile(name=IDX_NAMES[role],
                              urls=tuple(b + IDX_NAMES[role] for b in base_urls),
                              md5=md5(gz[role]), raw_md5=md5(raw[role]), magic=b"\x1f\x8b")
             for role in IDX_NAMES}
    return DatasetSpec(title=title, subdir=subdir, files=files, how_to_get="generate it")


# --- telling copies apart: two valid datasets mixed file by file ----------------------------
#
# A spec accepts one content per file, so every valid copy of a dataset is the same data and the
# loaders' results cannot say where they came from. ``mixed_idx_spec`` accepts two: each file of
# dataset A by its published (.gz) MD5 and each file of dataset B by its content MD5. A copy then
# picks A or B per file ("ABBA": train images from A, train labels from B, ...), giving 16
# distinguishable valid copies; ``copy_pattern`` reads the pattern back from loaded splits.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")


def mixed_idx_spec(a_gz: dict, b_raw: dict, base_urls=(), system_dirs=(), subdir="mnist"):
    files = {role: RemoteFile(name=IDX_NAMES[role],
                              urls=tuple(b + IDX_NAMES[role] for b in base_urls),
                              md5=md5(a_gz[role]), raw_md5=md5(b_raw[role]), magic=b"\x1f\x8b")
             for role in ROLES}
    return DatasetSpec(title="Test-MNIST", subdir=subdir, files=files,
                       system_dirs=tuple(str(d) for d in system_dirs), how_to_get="generate it")


def mixed_copy(a_gz: dict, b_gz: dict, pattern: str) -> dict:
    """{file name: bytes} of the copy whose files come from A or B as ``pattern`` says."""
    assert len(pattern) == len(ROLES) and set(pattern) <= {"A", "B"}
    return {IDX_NAMES[role]: (a_gz if which == "A" else b_gz)[role] for role, which in zip(ROLES, pattern)}


def copy_pattern(splits, a_arrays: dict, b_arrays: dict) -> str:
    """The pattern ("AABB", ...) of the copy loaded as ``splits``; "?" for a file of neither."""
    loaded = {"train_images": splits.x_train[:, 0], "train_labels": splits.y_train,
              "test_images": splits.x_test[:, 0], "test_labels": splits.y_test}
    out = ""
    for role in ROLES:
        as_u8 = np.round(loaded[role] * 255).astype(np.uint8) if "images" in role else loaded[role]
        matches = [k for k, arrays in (("A", a_arrays), ("B", b_arrays))
                   if as_u8.shape == arrays[role].shape and np.array_equal(as_u8, arrays[role])]
        out += matches[0] if len(matches) == 1 else "?"
    return out


def cifar_batch_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    rec = np.concatenate([labels.astype(np.uint8)[:, None],
                          images.reshape(len(images), -1)], axis=1)
    return rec.tobytes()


def make_cifar_archive(records=4, seed=0, extra_members=()):
    """A cifar-10-binary.tar.gz with ``records`` images per batch file.

    Returns (archive bytes, x_train uint8, y_train, x_test, y_test). ``extra_members`` are
    ``(TarInfo, bytes or None)`` pairs added first (for the path-traversal tests).
    """
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    xs, ys = [], []
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in extra_members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            x = rng.integers(0, 256, (records, 3, 32, 32), dtype=np.uint8)
            y = rng.integers(0, 10, records).astype(np.int64)
            xs.append(x)
            ys.append(y)
            data = cifar_batch_bytes(x, y)
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return (buf.getvalue(), np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], ys[5])


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.hits.append(self.path)
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        body = route.get("body", b"")
        if route.get("sleep"):
            time.sleep(route["sleep"])
        self.send_response(route.get("status", 200))
        self.send_header("Content-Type", route.get("content_type", "application/octet-stream"))
        self.send_header("Content-Length", str(route.get("content_length", len(body))))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


@contextlib.contextmanager
def http_server(routes: dict):
    """Serve ``routes`` ({path: {"body", "status", "content_type", "content_length",
    "sleep"}}) on 127.0.0.1; yields (base_url, hits list)."""
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
