"""torchvision-style datasets (MNIST, FashionMNIST, CIFAR10) and per-sample transforms
(ToTensor, Lambda) on tiny generated files; downloads come from a local HTTP server only."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from fastnn.data import datasets
from fastnn.data.dataset import ConcatDataset, Dataset
from fastnn.data.loader import DataLoader
from fastnn.data.transforms import Compose, Normalize, RandomHorizontalFlip
from fastnn.data.vision import CIFAR10, MNIST, FashionMNIST, Lambda, ToTensor
from data_helpers import http_server, idx_spec, make_cifar_archive, make_idx_dataset, md5

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 10, 6

TV_MNIST_CLASSES = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
                    "6 - six", "7 - seven", "8 - eight", "9 - nine"]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """No $FASTNN_DATA, a private cache: every lookup stays in tmp_path (and system dirs)."""
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def idx_data():
    return make_idx_dataset(seed=0, n_train=N_TRAIN, n_test=N_TEST, h=28, w=28)


def _write_idx(d: Path, gz: dict, roles=None):
    d.mkdir(parents=True, exist_ok=True)
    for role, rf in idx_spec(gz, gz, []).files.items():
        if roles is None or role in roles:
            (d / rf.name).write_bytes(gz[role])


@pytest.fixture
def mnist_local(tmp_path, monkeypatch, idx_data):
    """A verified MNIST copy in root/MNIST/raw (torchvision's layout); returns (root, arrays)."""
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [], subdir="mnist"))
    root = tmp_path / "data"
    _write_idx(root / "MNIST" / "raw", gz)
    return root, arrays


def _routes(gz):
    spec = idx_spec(gz, gz, [])
    return {f"/m/{rf.name}": {"body": gz[role]} for role, rf in spec.files.items()}


# --- MNIST: download, layout, attributes -------------------------------------------------------

def test_mnist_download_into_raw_folder_then_loads_offline(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    root = tmp_path / "data"
    with http_server(_routes(gz)) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/m/"]))
        ds = MNIST(str(root), train=True, download=True)
        assert len(hits) == 4                       # all four files, as torchvision
        MNIST(root, train=True, download=True)      # already there: no second download
        assert len(hits) == 4
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(
        rf.name for rf in datasets.DATASETS["mnist"].files.values())
    assert ds.data.dtype == np.uint8 and ds.data.shape == (N_TRAIN, 28, 28)
    np.testing.assert_array_equal(ds.data, arrays["train_images"])
    assert ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.targets, arrays["train_labels"])
    assert len(ds) == N_TRAIN and ds.train is True
    assert ds.raw_folder == str(root / "MNIST" / "raw")
    # The server is gone: the test split loads from the verified copy.
    test = MNIST(root, train=False)
    np.testing.assert_array_equal(test.data, arrays["test_images"])
    np.testing.assert_array_equal(test.targets, arrays["test_labels"])
    assert len(test) == N_TEST and test.train is False


def test_root_str_is_expanded_path_kept(tmp_path, monkeypatch, mnist_local):
    root, _ = mnist_local
    monkeypatch.setenv("HOME", str(tmp_path))
    ds = MNIST("~/data")
    assert ds.root == str(root) and isinstance(ds.root, str)
    assert MNIST(root).root is root


def test_classes_and_class_to_idx(mnist_local):
    root, _ = mnist_local
    ds = MNIST(root)
    assert ds.classes == TV_MNIST_CLASSES
    assert ds.class_to_idx == {c: i for i, c in enumerate(TV_MNIST_CLASSES)}
    assert ds.class_to_idx["7 - seven"] == 7
    assert FashionMNIST.classes == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert CIFAR10.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                               "horse", "ship", "truck"]


def test_is_a_fastnn_dataset(mnist_local):
    root, _ = mnist_local
    ds = MNIST(root)
    assert isinstance(ds, Dataset)
    both = ds + MNIST(root, train=False)
    assert isinstance(both, ConcatDataset) and len(both) == N_TRAIN + N_TEST
    np.testing.assert_array_equal(both[N_TRAIN][0], MNIST(root, train=False).data[0])


def test_torchvision_layout_with_uncompressed_files(tmp_path, monkeypatch, idx_data):
    """torchvision's raw folder holds the extracted files (no .gz): recognised by content."""
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    d = tmp_path / "r" / "MNIST" / "raw"
    d.mkdir(parents=True)
    for role, rf in datasets.DATASETS["mnist"].files.items():
        (d / rf.name[:-3]).write_bytes(raw[role])
    np.testing.assert_array_equal(MNIST(tmp_path / "r").targets, arrays["train_labels"])


def test_a_broken_gz_does_not_hide_a_good_uncompressed_copy(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    d = tmp_path / "r" / "MNIST" / "raw"
    _write_idx(d, gz)
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not gzip")
    (d / "t10k-labels-idx1-ubyte").write_bytes(raw["test_labels"])
    np.testing.assert_array_equal(MNIST(tmp_path / "r", train=False).targets, arrays["test_labels"])


def test_fastnn_layout_under_root_is_found_too(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [], subdir="mnist"))
    _write_idx(tmp_path / "r" / "mnist", gz)        # load_mnist(path=...)'s download layout
    np.testing.assert_array_equal(MNIST(tmp_path / "r", train=False).data, arrays["test_images"])


def test_only_the_split_files_are_needed_without_download(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    _write_idx(tmp_path / "MNIST" / "raw", gz, roles=("test_images", "test_labels"))
    assert len(MNIST(tmp_path, train=False)) == N_TEST
    with pytest.raises(RuntimeError, match="no train-images-idx3-ubyte.gz"):
        MNIST(tmp_path, train=True)


# --- __getitem__, transforms, DataLoader ---------------------------------------------------------

def test_getitem_returns_uint8_image_and_int_target(mnist_local):
    root, arrays = mnist_local
    ds = MNIST(root)
    img, target = ds[3]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (28, 28)
    np.testing.assert_array_equal(img, arrays["train_images"][3])
    assert type(target) is int and target == int(arrays["train_labels"][3])
    img_last, t_last = ds[-1]
    np.testing.assert_array_equal(img_last, arrays["train_images"][-1])
    assert ds[np.int64(2)][1] == int(arrays["train_labels"][2])
    with pytest.raises(IndexError, match="index 10 is out of bounds"):
        ds[N_TRAIN]
    with pytest.raises(IndexError, match="index -11"):
        ds[-N_TRAIN - 1]
    with pytest.raises(TypeError, match="integer, got float"):
        ds[1.0]


def test_transform_and_target_transform(mnist_local):
    root, arrays = mnist_local
    seen = []
    ds = MNIST(root, transform=Compose([ToTensor(), Normalize((0.5,), (0.25,))]),
               target_transform=Lambda(lambda t: seen.append(t) or t + 100))
    x, t = ds[4]
    want = (arrays["train_images"][4].astype(np.float64) / 255 - 0.5) / 0.25
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], want, rtol=0, atol=2e-6)
    assert t == int(arrays["train_labels"][4]) + 100 and seen == [t - 100]
    # a plain function works as transform (torchvision takes any callable)
    ds2 = MNIST(root, transform=lambda im: im.sum(dtype=np.int64))
    assert ds2[0][0] == int(arrays["train_images"][0].sum(dtype=np.int64))


def test_dataloader_end_to_end_shuffled_batches(mnist_local):
    root, arrays = mnist_local
    ds = MNIST(root, train=True, transform=ToTensor())
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [4, 4, 2] and len(loader) == 3
    flat = arrays["train_images"].reshape(N_TRAIN, -1)
    order = []
    for xb, yb in batches:
        assert xb.dtype == np.float32 and xb.shape == (len(yb), 1, 28, 28)
        assert yb.dtype == np.int64
        for x, y in zip(xb, yb):
            (i,) = np.flatnonzero((np.round(x.reshape(-1) * 255) == flat).all(axis=1))
            np.testing.assert_array_equal(x[0], arrays["train_images"][i].astype(np.float32) / 255)
            assert y == arrays["train_labels"][i]
            order.append(int(i))
    assert sorted(order) == list(range(N_TRAIN))      # every sample once
    assert order != list(range(N_TRAIN))              # shuffled (seed 0 gives a permutation)


def test_normalize_and_compose_work_on_one_chw_sample():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7   # HWC, C=3
    t = Compose([ToTensor(), Normalize((0.1, 0.2, 0.3), (0.5, 0.25, 2.0)),
                 RandomHorizontalFlip(p=1.0)])
    out = t(img)
    chw = img.transpose(2, 0, 1).astype(np.float64) / 255
    want = (chw - np.array([0.1, 0.2, 0.3])[:, None, None]) / np.array([0.5, 0.25, 2.0])[:, None, None]
    assert out.shape == (3, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, want[:, :, ::-1], rtol=0, atol=1e-6)


# --- ToTensor / Lambda ---------------------------------------------------------------------------

def test_to_tensor_uint8_formula_every_value():
    """x / 255 in float32, correctly rounded (what torch's float32 div(255) gives)."""
    hw = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = ToTensor()(hw)
    assert out.shape == (1, 16, 16) and out.dtype == np.float32 and out.flags.c_contiguous
    exact = (np.arange(256, dtype=np.float64) / 255).astype(np.float32).reshape(1, 16, 16)
    np.testing.assert_array_equal(out, exact)
    assert out[0, 0, 0] == 0.0 and out[0, -1, -1] == 1.0


def test_to_tensor_hwc_layout_and_non_uint8_kept():
    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = ToTensor()(hwc)
    assert out.shape == (3, 4, 5) and out.flags.c_contiguous
    for c in range(3):
        np.testing.assert_array_equal(out[c], hwc[:, :, c].astype(np.float32) / np.float32(255))
    for dtype in (np.float32, np.float64, np.int16):
        x = (rng.standard_normal((4, 5, 2)) * 300).astype(dtype)
        y = ToTensor()(x)
        assert y.dtype == dtype and y.shape == (2, 4, 5)       # values not scaled
        np.testing.assert_array_equal(y, x.transpose(2, 0, 1))
        y[...] = 0
        assert np.any(x != 0)                                   # a new array
    f2 = np.full((3, 2), 7.5, np.float64)
    assert ToTensor()(f2).shape == (1, 3, 2) and ToTensor()(f2)[0, 0, 0] == 7.5
    # empty image
    assert ToTensor()(np.zeros((0, 4), np.uint8)).shape == (1, 0, 4)
    # size-1 and non-contiguous input
    nc = hwc[:, ::2]
    np.testing.assert_array_equal(ToTensor()(nc), nc.transpose(2, 0, 1).astype(np.float32) / 255)
    # with a target, fastnn's calling convention: target unchanged
    x, t = ToTensor()(hwc, 3)
    assert t == 3 and x.shape == (3, 4, 5)


def test_to_tensor_matches_torchvision_code_path():
    """torchvision's ToTensor on an ndarray is: add a channel axis to 2-D input,
    from_numpy(pic.transpose(2, 0, 1)).contiguous(), then for a ByteTensor .float().div(255).
    Same arrays through that code with torch as the oracle (torchvision itself if present)."""
    torch = pytest.importorskip("torch")
    try:
        from torchvision.transforms import ToTensor as TVToTensor
        oracle = TVToTensor()
    except ImportError:
        def oracle(pic):
            if pic.ndim == 2:
                pic = pic[:, :, None]
            img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
            return img.to(dtype=torch.get_default_dtype()).div(255) if img.dtype == torch.uint8 else img
    rng = np.random.default_rng(2)
    for pic in (rng.integers(0, 256, (28, 28), dtype=np.uint8),
                rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
                np.arange(256, dtype=np.uint8).reshape(16, 16, 1),
                rng.random((5, 6, 3)).astype(np.float64),
                rng.random((5, 6)).astype(np.float32)):
        want = oracle(pic).numpy()
        got = ToTensor()(pic)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_to_tensor_errors():
    with pytest.raises(ValueError, match="pic should be 2/3 dimensional. Got 4 dimensions"):
        ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="Got 1 dimensions"):
        ToTensor()(np.zeros(4, np.uint8))
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray.*list"):
        ToTensor()([[1, 2], [3, 4]])
    assert repr(ToTensor()) == "ToTensor()"


def test_lambda():
    t = Lambda(lambda x: x * 2)
    np.testing.assert_array_equal(t(np.array([1, 2])), [2, 4])
    assert repr(t) == "Lambda()"
    out, y = t(np.array([3]), 5)
    assert out[0] == 6 and y == 5
    assert Compose([ToTensor(), Lambda(lambda x: x[..., :1])])(np.ones((2, 3), np.uint8)).shape == (1, 2, 1)
    with pytest.raises(TypeError, match="Argument lambd should be callable, got 'int'"):
        Lambda(3)


# --- errors ---------------------------------------------------------------------------------------

def test_missing_files_raise_torchvisions_runtime_error(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    with pytest.raises(RuntimeError) as err:
        MNIST(tmp_path / "empty")
    msg = str(err.value)
    assert msg.startswith("Dataset not found. You can use download=True to download it")
    assert str(tmp_path / "empty" / "MNIST" / "raw") in msg and "Looked in" in msg


def test_corrupt_file_is_reported_and_replaced_on_download(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    d = tmp_path / "MNIST" / "raw"
    _write_idx(d, gz)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0" * 4))
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    with pytest.raises(RuntimeError, match="train-labels-idx1-ubyte.gz: checksum mismatch"):
        MNIST(tmp_path)
    assert len(MNIST(tmp_path, train=False)) == N_TEST          # the test files are fine
    with http_server(_routes(gz)) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/m/"]))
        ds = MNIST(tmp_path, download=True)
    assert hits == ["/m/train-labels-idx1-ubyte.gz"]              # only the bad file fetched
    np.testing.assert_array_equal(ds.targets, arrays["train_labels"])


def test_failed_download_raises_runtime_error_and_leaves_nothing(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    routes = {"/m/train-images-idx3-ubyte.gz": {"body": gz["train_images"][:-4] + b"XXXX"}}
    with http_server(routes) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, [base + "/m/"]))
        with pytest.raises(RuntimeError, match="Error downloading train-images-idx3-ubyte.gz"
                                               "(.|\n)*checksum mismatch"):
            MNIST(tmp_path / "root", download=True)
    assert not (tmp_path / "root").exists()


def test_bad_arguments(tmp_path, mnist_local):
    root, _ = mnist_local
    with pytest.raises(TypeError, match="root must be a str or os.PathLike, got root=3"):
        MNIST(3)
    with pytest.raises(TypeError, match="root=None"):
        CIFAR10(None)
    with pytest.raises(TypeError, match="train must be True or False, got train='yes'"):
        MNIST(root, train="yes")
    with pytest.raises(TypeError, match="download must be True or False, got download=1"):
        MNIST(root, download=1)
    with pytest.raises(TypeError, match="transform must be callable or None, got transform=5"):
        MNIST(root, transform=5)
    with pytest.raises(TypeError, match="target_transform must be callable"):
        MNIST(root, target_transform="x")
    f = tmp_path / "afile"
    f.write_text("not a directory")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        MNIST(f)
    with pytest.raises(NotADirectoryError, match="afile"):
        MNIST(f, download=True)


# --- repr ------------------------------------------------------------------------------------------

def test_repr_as_torchvision(mnist_local):
    root, _ = mnist_local
    assert repr(MNIST(root)) == (f"Dataset MNIST\n    Number of datapoints: {N_TRAIN}\n"
                                 f"    Root location: {root}\n    Split: Train")
    ds = MNIST(str(root), train=False,
               transform=Compose([ToTensor(), Lambda(abs)]), target_transform=Lambda(int))
    # torchvision's layout: StandardTransform's lines after the first are not re-indented.
    assert repr(ds) == (
        f"Dataset MNIST\n    Number of datapoints: {N_TEST}\n    Root location: {root}\n"
        "    Split: Test\n    StandardTransform\n"
        f"Transform: {repr(ds.transform)}\nTarget transform: Lambda()")
    assert ds.extra_repr() == "Split: Test"


def test_repr_multiline_transform_is_hanging_indented(mnist_local):
    class Multi:
        def __call__(self, x):
            return x

        def __repr__(self):
            return "Multi(\n  a\n)"

    root, _ = mnist_local
    assert repr(MNIST(root, transform=Multi())).endswith(
        "    StandardTransform\nTransform: Multi(\n             a\n           )")


# --- FashionMNIST: system location -------------------------------------------------------------

def test_fashion_mnist_found_in_system_dir_when_root_is_empty(tmp_path, monkeypatch, idx_data):
    arrays, raw, gz = idx_data
    system = tmp_path / "sys"
    _write_idx(system, gz)
    spec = idx_spec(gz, raw, [], subdir="fashion-mnist")
    spec = datasets.DatasetSpec(title=spec.title, subdir=spec.subdir, files=spec.files,
                                system_dirs=(str(system),))
    monkeypatch.setitem(datasets.DATASETS, "fashion_mnist", spec)
    ds = FashionMNIST(tmp_path / "nothing-here", train=False)
    np.testing.assert_array_equal(ds.data, arrays["test_images"])
    assert ds.raw_folder == str(tmp_path / "nothing-here" / "FashionMNIST" / "raw")
    assert ds.class_to_idx["Ankle boot"] == 9
    assert repr(ds).startswith("Dataset FashionMNIST\n")
    # MNIST's spec does not know that location
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    with pytest.raises(RuntimeError, match="Dataset not found"):
        MNIST(tmp_path / "nothing-here")


@pytest.mark.skipif(not (DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_without_network(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")
    monkeypatch.setattr("urllib.request.urlopen", refuse)
    ds = FashionMNIST(tmp_path / "empty", train=False, download=True, transform=ToTensor())
    assert ds.data.shape == (10000, 28, 28) and ds.data.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(ds.targets), np.full(10, 1000))
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and 0 <= y < 10
    assert not (tmp_path / "empty").exists()          # nothing downloaded or created


# --- CIFAR10 ---------------------------------------------------------------------------------------

@pytest.fixture
def small_cifar(monkeypatch):
    monkeypatch.setattr(datasets, "CIFAR_BATCH_RECORDS", 4)
    archive, x_tr, y_tr, x_te, y_te = make_cifar_archive(records=4, seed=5)
    return archive, x_tr, y_tr, x_te, y_te


def _cifar_spec(archive, urls):
    rf = datasets.RemoteFile(name="cifar-10-binary.tar.gz", urls=tuple(urls), md5=md5(archive),
                             magic=b"\x1f\x8b")
    return datasets.DatasetSpec(title="CIFAR-10", subdir="cifar10", files={"archive": rf})


def test_cifar10_download_extract_and_attributes(tmp_path, monkeypatch, small_cifar):
    archive, x_tr, y_tr, x_te, y_te = small_cifar
    root = tmp_path / "data"
    with http_server({"/c.tgz": {"body": archive}}) as (base, hits):
        monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, [base + "/c.tgz"]))
        ds = CIFAR10(root, train=True, download=True)
        assert hits == ["/c.tgz"]
    assert (root / "cifar-10-binary.tar.gz").is_file()
    assert (root / "cifar-10-batches-bin" / "data_batch_5.bin").is_file()
    assert ds.data.shape == (20, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.data.flags.c_contiguous
    np.testing.assert_array_equal(ds.data, x_tr.transpose(0, 2, 3, 1))
    assert isinstance(ds.targets, list) and all(type(t) is int for t in ds.targets)
    assert ds.targets == [int(v) for v in y_tr]
    assert ds.class_to_idx == {c: i for i, c in enumerate(ds.classes)}
    img, t = ds[7]
    assert img.shape == (32, 32, 3) and type(t) is int and t == int(y_tr[7])
    x, _ = CIFAR10(root, transform=ToTensor())[7]
    np.testing.assert_array_equal(x, x_tr[7].astype(np.float32) / np.float32(255))
    test = CIFAR10(root, train=False)                     # offline now
    assert len(test) == 4 and test.targets == [int(v) for v in y_te]
    np.testing.assert_array_equal(test.data, x_te.transpose(0, 2, 3, 1))
    assert repr(test) == (f"Dataset CIFAR10\n    Number of datapoints: 4\n"
                          f"    Root location: {root}\n    Split: Test")


def test_cifar10_local_archive_and_errors(tmp_path, monkeypatch, small_cifar):
    archive, x_tr, *_ = small_cifar
    monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, []))
    with pytest.raises(RuntimeError, match="^Dataset not found or corrupted. You can use "
                                           "download=True to download it"):
        CIFAR10(tmp_path)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(archive[:-10] + b"0123456789")
    with pytest.raises(RuntimeError, match="checksum mismatch"):
        CIFAR10(tmp_path)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(archive)
    ds = CIFAR10(tmp_path, transform=ToTensor())
    np.testing.assert_array_equal(ds.data[0], x_tr[0].transpose(1, 2, 0))
    # a batch altered after extraction is caught by the manifest
    p = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    b = bytearray(p.read_bytes())
    b[9] ^= 1
    p.write_bytes(bytes(b))
    (tmp_path / "cifar-10-binary.tar.gz").unlink()
    with pytest.raises(RuntimeError, match="files changed since extraction"):
        CIFAR10(tmp_path, train=False)
    with http_server({}) as (base, _):
        monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, [base + "/c.tgz"]))
        with pytest.raises(RuntimeError, match="Error downloading cifar-10-binary.tar.gz(.|\n)*404"):
            CIFAR10(tmp_path / "new", download=True)
    assert not (tmp_path / "new").exists()


def test_cifar10_dataloader(tmp_path, monkeypatch, small_cifar):
    archive, x_tr, y_tr, *_ = small_cifar
    monkeypatch.setitem(datasets.DATASETS, "cifar10", _cifar_spec(archive, []))
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(archive)
    ds = CIFAR10(tmp_path, transform=Compose([ToTensor(), Normalize((0.5,) * 3, (0.5,) * 3)]))
    xb, yb = next(iter(DataLoader(ds, batch_size=8, shuffle=False)))
    assert xb.shape == (8, 3, 32, 32) and xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_allclose(xb, x_tr[:8].astype(np.float64) / 255 * 2 - 1, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(yb, y_tr[:8])


def test_empty_and_single_sample_splits(tmp_path, monkeypatch):
    arrays, raw, gz = make_idx_dataset(seed=3, n_train=1, n_test=0, h=28, w=28)
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))
    _write_idx(tmp_path / "MNIST" / "raw", gz)
    empty = MNIST(tmp_path, train=False, transform=ToTensor())
    assert len(empty) == 0 and empty.data.shape == (0, 28, 28) and empty.targets.shape == (0,)
    assert list(DataLoader(empty, batch_size=4)) == []
    assert "Number of datapoints: 0" in repr(empty)
    one = MNIST(tmp_path, transform=ToTensor())
    (xb, yb), = list(DataLoader(one, batch_size=4, shuffle=True, seed=1))
    assert xb.shape == (1, 1, 28, 28) and list(yb) == [int(arrays["train_labels"][0])]


def test_subclass_uses_its_own_raw_folder(tmp_path, monkeypatch, idx_data):
    """As torchvision: root/<ClassName>/raw, so a subclass looks in (and downloads to) its own."""
    arrays, raw, gz = idx_data
    monkeypatch.setitem(datasets.DATASETS, "mnist", idx_spec(gz, raw, []))

    class MyMNIST(MNIST):
        pass

    _write_idx(tmp_path / "MyMNIST" / "raw", gz)
    ds = MyMNIST(tmp_path)
    assert ds.raw_folder == str(tmp_path / "MyMNIST" / "raw") and len(ds) == N_TRAIN
    assert repr(ds).startswith("Dataset MyMNIST\n")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        MNIST(tmp_path)
