import io
import os
import subprocess
import sys

import pytest

import fastnn


def test_show_config_lists_the_essentials():
    buf = io.StringIO()
    fastnn.show_config(file=buf)
    text = buf.getvalue()
    for key in ("fastnn", "compiler", "isa_detected", "isa_in_use", "threads", "cupy", "cuda_device"):
        assert key in text
    assert fastnn.__version__ in text


def test_set_num_threads_roundtrip_and_errors():
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        assert fastnn.get_num_threads() == 1
    finally:
        fastnn.set_num_threads(before)
    with pytest.raises(ValueError, match="-2"):
        fastnn.set_num_threads(-2)
    with pytest.raises(TypeError, match="2.5"):
        fastnn.set_num_threads(2.5)


def test_set_isa_errors_name_the_value():
    with pytest.raises(ValueError, match="'sse9'"):
        fastnn.set_isa("sse9")


def _run(code, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)


def test_env_num_threads():
    r = _run("import fastnn; print(fastnn.get_num_threads())", FASTNN_NUM_THREADS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_env_bad_num_threads_is_an_error():
    r = _run("import fastnn", FASTNN_NUM_THREADS="lots")
    assert r.returncode != 0
    assert "FASTNN_NUM_THREADS" in r.stderr and "lots" in r.stderr


def test_env_isa():
    r = _run("import fastnn; print(fastnn.get_isa())", FASTNN_ISA="generic")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "generic"


def test_cli_info_and_selfcheck():
    r = subprocess.run([sys.executable, "-m", "fastnn", "info"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "isa_in_use" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fastnn", "selfcheck"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_cli_unknown_command_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "fastnn", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "invalid choice" in r.stderr
