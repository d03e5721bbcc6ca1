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
settings.load_profile("fastnn")


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
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["generic", "avx2", "avx512"])
def isa(request):
    """Run a test once per ISA this CPU supports, restoring the best one afterwards."""
    order = ["generic", "avx2", "avx512"]
    detected = fastnn._core.detected_isa()
    if order.index(request.param) > order.index(detected):
        pytest.skip(f"CPU does not support {request.param} (best: {detected})")
    before = fastnn.get_isa()
    fastnn.set_isa(request.param)
    yield request.param
    fastnn.set_isa(before)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


# ---- slow tests (api branch): opt-in, so plain `pytest tests` stays fast. Keep this block.
def pytest_runtest_setup(item):
    """Tests marked slow train on real data for minutes: they run only when asked for with a
    marker expression (``pytest -m slow``)."""
    if "slow" in item.keywords and not item.config.getoption("markexpr"):
        pytest.skip("slow: trains on real data; run with `pytest -m slow`")


# ---- api branch: TEST-ONLY shim binding docs/ops.md names missing from fastnn.ops to
# fastnn.reference (tests/conftest_api_shim.py). Remove this block with that file once the
# native ops are merged.
import conftest_api_shim as _api_shim  # noqa: E402


def pytest_report_header(config):
    lines = []
    if _api_shim.SHIMMED:
        lines.append("api shim: fastnn.ops bound to fastnn.reference for: " + ", ".join(_api_shim.SHIMMED))
    if _api_shim.MISSING:
        lines.append("api shim: missing entirely (tests needing them skip): " + ", ".join(_api_shim.MISSING))
    return lines
