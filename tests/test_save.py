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


# ---- clear errors for a bad destination ---------------------------------------------------

def test_save_into_a_missing_directory_names_it_and_creates_nothing(tmp_path):
    target = tmp_path / "no" / "dir" / "m.npz"
    with pytest.raises(FileNotFoundError, match=f"directory {tmp_path / 'no' / 'dir'} does not exist") as info:
        fastnn.save(_mlp(), target)
    assert info.value.filename == str(target) and ".part" not in str(info.value)
    assert os.listdir(tmp_path) == []  # no directory made


def test_save_relative_path_in_a_missing_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory sub does not exist") as info:
        fastnn.save(_mlp(), os.path.join("sub", "m.fnn"))
    assert info.value.filename == os.path.join("sub", "m.fnn")
    fastnn.save(_mlp(), "m.fnn")  # no directory part: the current one
    assert os.listdir(tmp_path) == ["m.fnn"]


def test_save_onto_a_directory_or_under_a_file_raises_naming_the_path(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError, match="Is a directory") as info:
        fastnn.save(_mlp(), tmp_path / "taken")
    assert info.value.filename == str(tmp_path / "taken") and ".part" not in str(info.value)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="file is not a directory") as info:
        fastnn.save(_mlp(), tmp_path / "file" / "m.fnn")
    assert info.value.filename == str(tmp_path / "file" / "m.fnn")
    assert sorted(os.listdir(tmp_path)) == ["file", "taken"] and os.listdir(tmp_path / "taken") == []


# ---- frozen parameters --------------------------------------------------------------------

def _trainable(model):
    return {name: p.trainable for name, p in model.named_parameters()}


def test_frozen_parameters_survive_save_and_load_in_nested_containers(tmp_path, rng):
    model = _cnn()
    model[1].block[0].freeze()            # a Conv2d inside Sequential inside Residual
    model[2]._modules["1"][1].freeze()    # a Conv2d in a Concat branch
    model[-1].bias.trainable = False      # one parameter of a layer
    expected = _trainable(model)
    assert expected["1.block.0.weight"] is False and expected["2.1.1.bias"] is False
    assert expected["9.weight"] is True and expected["9.bias"] is False
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    loaded = _round_trip(model, x, tmp_path / "frozen.fnn")
    assert _trainable(loaded) == expected
    assert loaded.num_parameters(trainable_only=True) == model.num_parameters(trainable_only=True)
    with np.load(tmp_path / "frozen.fnn", allow_pickle=False) as archive:
        header = json.loads(archive["__fastnn_header__"].tobytes())
    assert header["frozen"] == [k for k, v in expected.items() if not v]
    # state_dict carries values only, as PyTorch's (no frozen flags)
    assert set(model.state_dict()) == set(header["keys"])


def test_files_without_the_new_header_entries_still_load(tmp_path):
    """Written before frozen / shared were stored: every parameter trainable, nothing shared."""
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin).freeze()
    fastnn.save(model, tmp_path / "new.fnn")

    def old_header(h):
        for key in ("frozen", "shared_modules", "shared_parameters"):
            del h[key]
    _rewrite(tmp_path / "new.fnn", tmp_path / "old.npz", edit_header=old_header)
    loaded = fastnn.load(tmp_path / "old.npz")
    assert all(_trainable(loaded).values())
    assert loaded[0] is not loaded[2] and loaded.num_parameters() == 24
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded(x), model.eval()(x))


def test_inconsistent_frozen_or_shared_entries_raise(tmp_path):
    lin = nn.Linear(3, 3)
    fastnn.save(nn.Sequential(lin, nn.ReLU(), lin), tmp_path / "m.fnn")
    edits = {
        "frozen_name": lambda h: h.update(frozen=["7.weight"]),
        "frozen_type": lambda h: h.update(frozen="0.weight"),
        "shared_path": lambda h: h.update(shared_modules={"5": "0"}),
        "shared_type": lambda h: h.update(shared_modules={"1": "0"}),  # ReLU shared with Linear
        "shared_param": lambda h: h.update(shared_parameters={"0.bias": "0.weight"}),
    }
    for name, edit in edits.items():
        _rewrite(tmp_path / "m.fnn", tmp_path / f"{name}.npz", edit_header=edit)
        with pytest.raises(fastnn.ModelFileError, match=f"{name}.npz"):
            fastnn.load(tmp_path / f"{name}.npz")


# ---- shared layers and parameters ---------------------------------------------------------

def test_a_layer_used_twice_is_one_layer_again_after_load(tmp_path, rng):
    fastnn.manual_seed(0)
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert model.num_parameters() == 12
    x = rng.standard_normal((4, 3)).astype(np.float32)
    loaded = _round_trip(model, x, tmp_path / "shared.fnn")
    assert loaded.num_parameters() == 12 and len(loaded.parameters()) == 2
    assert loaded[0] is loaded[2] and [type(m).__name__ for m in loaded] == ["Linear", "ReLU", "Linear"]
    # an update of the one layer shows in both places
    loaded[0].weight.data += 1.0
    np.testing.assert_array_equal(loaded[0].weight.data, loaded[2].weight.data)
    assert not np.array_equal(loaded[0].weight.data, lin.weight.data)


def test_nested_shared_layers_and_tied_parameters_round_trip(tmp_path, rng):
    fastnn.manual_seed(1)
    inner = nn.Linear(4, 4)
    block = nn.Sequential(inner, nn.Tanh())
    head, tail = nn.Linear(4, 4), nn.Linear(4, 4)
    tail.weight = head.weight             # a tied parameter, the layers distinct
    model = nn.Sequential(block, nn.Residual(block), nn.Residual(nn.Sequential(inner, nn.ReLU())), head, tail)
    model[0].freeze()                     # the shared block frozen wherever it appears
    x = rng.standard_normal((3, 4)).astype(np.float32)
    fastnn.save(model, tmp_path / "tied.fnn")
    loaded = fastnn.load(tmp_path / "tied.fnn")
    np.testing.assert_array_equal(loaded(x), model.eval()(x))
    # (assigning tail.weight moved it after tail.bias in the original's state_dict: compare by key)
    saved, restored = model.state_dict(), loaded.state_dict()
    assert set(saved) == set(restored)
    for k in saved:
        np.testing.assert_array_equal(saved[k], restored[k], err_msg=k)
    assert loaded[1].block is loaded[0] and loaded[2].block[0] is loaded[0][0]
    assert loaded[4].weight is loaded[3].weight and loaded[4].bias is not loaded[3].bias
    assert loaded.num_parameters() == model.num_parameters() == 16 + 4 + 16 + 4 + 4
    assert _trainable(loaded) == _trainable(model)
    with np.load(tmp_path / "tied.fnn", allow_pickle=False) as archive:
        header = json.loads(archive["__fastnn_header__"].tobytes())
    assert header["shared_modules"] == {"1.block": "0", "2.block.0": "0.0"}
    assert header["shared_parameters"] == {"4.weight": "3.weight"}


# ---- gradients are not made up by a dtype change or a load ---------------------------------

def test_dtype_conversion_and_load_keep_parameters_without_a_gradient(tmp_path, rng):
    model = _mlp()
    assert not any(p.has_grad for p in model.parameters())
    model.double()
    assert model.dtype == np.float64 and not any(p.has_grad for p in model.parameters())
    model.float()
    assert not any(p.has_grad for p in model.parameters())
    fastnn.save(model.double(), tmp_path / "m64.fnn")
    loaded = fastnn.load(tmp_path / "m64.fnn")
    assert loaded.dtype == np.float64 and not any(p.has_grad for p in loaded.parameters())

    # an optimizer step right after the conversion moves nothing
    before = [p.data.copy() for p in loaded.parameters()]
    fastnn.optim.Adam(loaded.parameters(), lr=0.1).step()
    for b, p in zip(before, loaded.parameters()):
        np.testing.assert_array_equal(b, p.data)


def test_dtype_conversion_converts_a_real_gradient(rng):
    lin = nn.Linear(3, 2)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    lin(x)
    lin.backward(np.ones((4, 2), np.float32))
    grads = [p.grad.copy() for p in lin.parameters()]
    lin.zero_grad()
    lin.bias.grad = grads[1]              # weight: zero_grad'ed; bias: a real gradient
    lin.to(np.float64)
    assert not lin.weight.has_grad and lin.bias.has_grad
    assert lin.bias.grad.dtype == np.float64
    np.testing.assert_array_equal(lin.bias.grad, grads[1].astype(np.float64))
    lin.to("cpu", np.float32)
    assert not lin.weight.has_grad and lin.bias.has_grad and lin.bias.grad.dtype == np.float32


def test_paths_as_str_bytes_and_pathlike(tmp_path, rng):
    """A bytes path (which open() takes) failed inside mkstemp ("Can't mix bytes and non-bytes")."""
    model = _mlp()
    x = rng.standard_normal((3, 6)).astype(np.float32)
    for path in (str(tmp_path / "a.npz"), os.fsencode(tmp_path / "b.npz"), tmp_path / "c.npz"):
        fastnn.save(model, path)
        np.testing.assert_array_equal(fastnn.load(path).predict(x), model.predict(x))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz", "c.npz"]
    with pytest.raises(TypeError, match="expected str, bytes or os.PathLike object, not int"):
        fastnn.save(model, 3)


def test_rng_state_round_trip_resumes_dropout_and_shuffling_bit_for_bit(rng):
    """fastnn had only manual_seed: an exact resume of a run with dropout (or fit's shuffling)
    needed the private generator."""
    import pickle

    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def run(epochs, model, opt):
        return fastnn.fit(model, opt, "cross_entropy", (x, y), epochs=epochs, batch_size=16, progress=False)

    fastnn.manual_seed(0)
    model = _mlp()
    opt = fastnn.optim.Adam(model.parameters(), lr=0.01)
    run(2, model, opt)
    checkpoint = pickle.dumps((model.state_dict(), opt.state_dict(), fastnn.get_rng_state()))
    straight = run(2, model, opt)["loss"]
    weights, slots, state = pickle.loads(checkpoint)
    fastnn.manual_seed(123)  # anything in between
    again = _mlp()
    again.load_state_dict(weights)
    opt2 = fastnn.optim.Adam(again.parameters(), lr=0.01)
    opt2.load_state_dict(slots)
    fastnn.set_rng_state(state)
    assert run(2, again, opt2)["loss"] == straight
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="set_rng_state expects a state from fastnn.get_rng_state"):
        fastnn.set_rng_state([1, 2])
    with pytest.raises(ValueError, match="not a valid PCG64 state"):
        fastnn.set_rng_state({"bit_generator": "PCG64", "state": {}})
    fastnn.set_rng_state(state)  # a state is not consumed by use
    assert fastnn.get_rng_state() == state


def test_assign_takes_a_read_only_array_as_a_trainable_copy():
    src = nn.Linear(4, 2)
    sd = src.state_dict()
    for v in sd.values():
        v.setflags(write=False)
    m = nn.Linear(4, 2)
    opt = fastnn.optim.SGD(m.parameters(), lr=0.1)
    m.load_state_dict(sd, assign=True)
    np.testing.assert_array_equal(m.weight.data, sd["weight"])
    x = np.ones((3, 4), np.float32)
    loss = nn.MSELoss()
    opt.zero_grad()
    loss(m(x), np.zeros((3, 2), np.float32))
    m.backward(loss.backward())
    opt.step()  # raised "param must be a writable array"
    assert not np.array_equal(m.weight.data, sd["weight"])
