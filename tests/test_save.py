"""fastnn.save / fastnn.load: bitwise round trips, no pickle, atomic writes, clear errors."""
import json
import os
import stat
import zipfile

import numpy as np
import pytest

import fastnn
from fastnn import nn


def _mlp():
    return nn.Sequential(nn.Linear(6, 8, init="he_uniform"), nn.LeakyReLU(0.1), nn.Dropout(0.25),
                         nn.Linear(8, 4), nn.Softmax())


def _cnn():
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    inception = nn.Concat(nn.Conv2d(4, 2, 1), nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False),
                                                            nn.Conv2d(4, 2, 1)))
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=1, padding=(1, 1)), nn.Residual(block), inception,
                         nn.ConvTranspose2d(4, 3, 2, stride=2), nn.MaxPool2d(2), nn.GlobalAvgPool2d(),
                         nn.Reshape((3, 1)), nn.Flatten(), nn.BatchNorm1d(3), nn.Linear(3, 2))


def _round_trip(model, x, path):
    y_before = model.eval()(x)
    fastnn.save(model, path)
    loaded = fastnn.load(path)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded(x), y_before)  # bitwise
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
        assert a.dtype == b.dtype
    return loaded


def test_mlp_round_trip_is_bitwise(tmp_path, rng):
    fastnn.manual_seed(0)
    model = _mlp()
    loaded = _round_trip(model, rng.standard_normal((5, 6)).astype(np.float32), tmp_path / "mlp.fnn")
    assert not loaded.training  # loaded for inference; call train() to fine-tune
    assert os.listdir(tmp_path) == ["mlp.fnn"]  # no temporary file left behind


def test_cnn_round_trip_with_running_stats(tmp_path, rng):
    model = _cnn()
    x = rng.standard_normal((3, 1, 6, 6)).astype(np.float32)
    model.train()(x)  # moves the BatchNorm running statistics away from their defaults
    assert np.any(model[1].block[1].running_mean != 0)
    _round_trip(model, x, tmp_path / "cnn.fnn")


def test_float64_model_round_trip(tmp_path, rng):
    model = _mlp().double()
    loaded = _round_trip(model, rng.standard_normal((2, 6)), tmp_path / "m64.fnn")
    assert loaded.dtype == np.float64


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "m.fnn"
    fastnn.save(_mlp(), path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(archive["__fastnn_header__"].tobytes())
        assert header["format"] == "fastnn-model" and header["architecture"]["type"] == "Sequential"
        assert all(archive[k].dtype != object for k in archive.files)
        assert "state/0.weight" in archive.files


def test_truncated_file_raises(tmp_path):
    path = tmp_path / "m.fnn"
    fastnn.save(_mlp(), path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 5):
        bad = tmp_path / f"cut{cut}.fnn"
        bad.write_bytes(data[:cut])
        with pytest.raises(fastnn.ModelFileError, match=f"cut{cut}.fnn") as info:
            fastnn.load(bad)
        assert isinstance(info.value, ValueError) and info.value.path == str(bad)


def test_corrupted_file_raises(tmp_path):
    path = tmp_path / "m.fnn"
    fastnn.save(_mlp(), path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:  # flip a byte inside the first weight array's data
        info = z.getinfo("state/0.weight.npy")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[offset] ^= 0xFF
    bad = tmp_path / "bad.fnn"
    bad.write_bytes(bytes(data))
    with pytest.raises(fastnn.ModelFileError, match="bad.fnn"):
        fastnn.load(bad)


def test_foreign_files_raise(tmp_path):
    cases = {
        "text.fnn": b"hello, not a model",
        "random.fnn": np.random.default_rng(0).bytes(500),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    np.save(tmp_path / "array.npy", np.zeros(3))
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    for name in list(cases) + ["array.npy", "plain.npz"]:
        with pytest.raises(fastnn.ModelFileError, match=name):
            fastnn.load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        fastnn.load(tmp_path / "missing.fnn")


def _rewrite(path, out, edit_header=None, edit_state=None):
    with np.load(path, allow_pickle=False) as archive:
        entries = {k: archive[k] for k in archive.files}
    header = json.loads(entries["__fastnn_header__"].tobytes())
    if edit_header:
        edit_header(header)
    if edit_state:
        edit_state(entries)
    entries["__fastnn_header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(out, **entries)


def test_unknown_layer_and_shape_mismatch_raise(tmp_path):
    path = tmp_path / "m.fnn"
    fastnn.save(_mlp(), path)

    def unknown(h):
        h["architecture"]["config"]["layers"][1]["type"] = "NoSuchLayer"
    _rewrite(path, tmp_path / "unknown.npz", edit_header=unknown)
    with pytest.raises(fastnn.ModelFileError, match="unknown.npz.*unknown layer type 'NoSuchLayer'"):
        fastnn.load(tmp_path / "unknown.npz")

    def wider(entries):
        entries["state/0.weight"] = np.zeros((8, 7), np.float32)
    _rewrite(path, tmp_path / "shape.npz", edit_state=wider)
    with pytest.raises(fastnn.ModelFileError, match=r"shape.npz.*0.weight.*\(8, 7\)"):
        fastnn.load(tmp_path / "shape.npz")

    def version(h):
        h["version"] = 99
    _rewrite(path, tmp_path / "version.npz", edit_header=version)
    with pytest.raises(fastnn.ModelFileError, match="version 99"):
        fastnn.load(tmp_path / "version.npz")


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.fnn"
    fastnn.save(_mlp(), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        fastnn.save(_mlp(), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.fnn"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask", [0o022, 0o027], ids=oct)
def test_saved_file_gets_the_mode_open_would_give(tmp_path, mask):
    """Not mkstemp's 0600: 0666 minus the umask, like any file the user writes."""
    old = os.umask(mask)
    try:
        fastnn.save(_mlp(), tmp_path / "m.fnn")
        with open(tmp_path / "plain", "w"):
            pass
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "m.fnn").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode) == 0o666 & ~mask, oct(mode)


def test_custom_module_round_trip(tmp_path, rng):
    class Scale(nn.Module):
        def __init__(self, factor: float = 2.0):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * np.asarray(self.factor, x.dtype)

        def backward(self, dy):
            return dy * np.asarray(self.factor, dy.dtype)

        def get_config(self):
            return {"factor": self.factor}

    model = nn.Sequential(nn.Linear(3, 2), Scale(3.0))
    _round_trip(model, rng.standard_normal((2, 3)).astype(np.float32), tmp_path / "custom.fnn")
