import io
import os
import pathlib
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


def fastnn_env(**env):
    """os.environ (plus env) for a child Python that imports the same fastnn as this test does
    (the source tree, without its compiled module, must never shadow it)."""
    package_parent = str(pathlib.Path(fastnn.__file__).resolve().parent.parent)
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))
    return full_env


def run_python(args, tmp_path, **env):
    """Run `python args` from an empty directory (tmp_path) with fastnn_env(**env)."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=fastnn_env(**env),
                          cwd=tmp_path)


def _run(code, tmp_path, **env):
    return run_python(["-c", code], tmp_path, **env)


def test_env_num_threads(tmp_path):
    r = _run("import fastnn; print(fastnn.get_num_threads())", tmp_path, FASTNN_NUM_THREADS="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_env_bad_num_threads_is_an_error(tmp_path):
    r = _run("import fastnn", tmp_path, FASTNN_NUM_THREADS="lots")
    assert r.returncode != 0
    assert "FASTNN_NUM_THREADS" in r.stderr and "lots" in r.stderr


def test_env_isa(tmp_path):
    r = _run("import fastnn; print(fastnn.get_isa())", tmp_path, FASTNN_ISA="generic")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "generic"


def test_cli_info_and_selfcheck(tmp_path):
    r = run_python(["-m", "fastnn", "info"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "isa_in_use" in r.stdout
    r = run_python(["-m", "fastnn", "selfcheck"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_cli_unknown_command_is_a_usage_error(tmp_path):
    r = run_python(["-m", "fastnn", "frobnicate"], tmp_path)
    assert r.returncode == 2
    assert "invalid choice" in r.stderr
