import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import fastnn

# Deterministic, bounded property tests: CI runs on 2 cores.
settings.register_profile(
    "fastnn",
    max_examples=int(os.environ.get("FASTNN_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# derandomize wins over --hypothesis-seed (each test then draws from a seed fixed by its own
# source), so a run asking for a seed gets the same profile without derandomize (and without
# the example database): the seed alone decides the examples, and other seeds explore others.
settings.register_profile("fastnn-seeded", settings.get_profile("fastnn"), derandomize=False, database=None)
settings.load_profile("fastnn")


def pytest_configure(config):
    if config.getoption("hypothesis_seed", None) is not None:
        settings.load_profile("fastnn-seeded")


def _cuda_device_count() -> int:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return 0


def pytest_collection_modifyitems(config, items):
    if _cuda_device_count() > 0:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none found (CuPy missing or no GPU)")
    for item in items:
        # the marker itself: item.keywords also holds node names (a checkout in a folder named
        # "gpu" would skip every test)
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(params=["generic", "avx2", "avx512"])
def isa(request):
    """Run a test once per ISA this CPU supports, restoring the best one afterwards. "avx512" is
    the AVX-512 kernels alone: the AMX float32 GEMM (on by default where the CPU has it) is
    turned off, so these tests keep covering the AVX-512 GEMM on every shape; tests/test_gemm_amx.py
    covers the AMX path."""
    order = ["generic", "avx2", "avx512"]
    detected = fastnn._core.detected_isa()
    if order.index(request.param) > order.index(detected):
        pytest.skip(f"CPU does not support {request.param} (best: {detected})")
    before = fastnn.get_isa()
    fastnn.set_isa(request.param)
    fastnn.set_gemm_amx(False)
    yield request.param
    fastnn.set_gemm_amx(True)
    fastnn.set_isa(before)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def cuda_emulator(tmp_path_factory):
    """The CUDA kernels compiled as C++ under csrc/cuda/emulate.h (tests/cuda_emulation.py)."""
    import cuda_emulation

    try:
        lib = cuda_emulation.build(tmp_path_factory.mktemp("cuda_emu"))
    except RuntimeError as e:
        if "no C++ compiler" in str(e):
            pytest.skip(str(e))
        raise
    return cuda_emulation.Emulator(lib)


@pytest.fixture
def cp(cuda_emulator, monkeypatch):
    """tests/fake_cupy.py installed as `cupy`: fastnn.ops -> fastnn.cuda -> the emulated kernels."""
    import sys

    import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(fake_cupy, "__name__", "cupy")  # what messages print as xp.__name__
    monkeypatch.setattr(fake_cupy, "settings", type(fake_cupy.settings)(emulator=cuda_emulator, order=0, launch=None))
    return fake_cupy


@pytest.fixture(params=["emulated", pytest.param("device", marks=pytest.mark.gpu)])
def xp(request):
    """The array module of the device: the emulating fake CuPy, or real CuPy on a GPU (tests
    using it run twice; the real-device run is marked `gpu` and skips without a device)."""
    if request.param == "emulated":
        return request.getfixturevalue("cp")
    import cupy

    return cupy
