"""Shared fixtures for the benchmarks: peers (NumPy reference, PyTorch) and thread settings.

Run for real:  pytest benchmarks --benchmark-enable --benchmark-group-by=group
CI runs them once with --benchmark-disable as smoke tests (each still checks its result).
"""
import os

import numpy as np
import pytest

import fastnn


def pytest_configure(config):
    # Benchmarks are timed here, not in tests/: keep pyproject's strict defaults but allow
    # pytest-benchmark's own warnings (e.g. when disabled).
    config.addinivalue_line("filterwarnings", "ignore::pytest_benchmark.logger.PytestBenchmarkWarning")


THREADS = int(os.environ.get("FASTNN_BENCH_THREADS", fastnn.get_num_threads()))


@pytest.fixture(scope="session", autouse=True)
def _threads():
    before = fastnn.get_num_threads()
    fastnn.set_num_threads(THREADS)
    yield
    fastnn.set_num_threads(before)


@pytest.fixture(scope="session")
def torch():
    """PyTorch with the same thread count, or skip (it is an optional peer)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    return torch


@pytest.fixture
def rng():
    return np.random.default_rng(0)
