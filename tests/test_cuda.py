"""The GPU path without a GPU: every .cu file compiles with nvcc, and the kernels, run on the
CPU under csrc/cuda/emulate.h, match fastnn.reference. Tests marked `gpu` run the real thing
through CuPy and skip where no CUDA device exists."""
import ctypes
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import fastnn
from fastnn import reference
from tolerances import assert_close

CUDA_DIR = pathlib.Path(__file__).resolve().parent.parent / "csrc" / "cuda"
CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
ACTS = {"step": ({}, "x"), "sigmoid": ({"beta": 1.7}, "y"), "tanh": ({}, "y"), "relu": ({}, "x"),
        "leaky_relu": ({"negative_slope": 0.2}, "x"), "softplus": ({"beta": 0.8, "threshold": 15.0}, "x"),
        "swish": ({"beta": 1.3}, "x"), "elu": ({"alpha": 0.7}, "x")}


def _nvcc():
    return shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)


def test_cuda_sources_present():
    assert CU_FILES, f"no .cu files in {CUDA_DIR}"
    # The installed package carries the source it compiles at run time.
    source = fastnn.cuda.kernel_source("activations.cu")
    assert "FASTNN_CUDA_KERNELS(float, f32)" in source and "act_forward_##SUFFIX" in source


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles(cu, tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found: the CUDA toolkit is not installed here")
    r = subprocess.run([nvcc, "-std=c++17", "-c", str(cu), "-o", str(tmp_path / "k.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    """The CUDA kernels compiled as C++ with the emulation header, loaded with ctypes."""
    cxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler to build the CUDA emulation")
    lib = tmp_path_factory.mktemp("emu") / "emu.so"
    r = subprocess.run([cxx, "-std=c++17", "-O1", "-shared", "-fPIC", "-o", str(lib),
                        str(CUDA_DIR / "emulate_exports.cpp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return ctypes.CDLL(str(lib))


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _scalar(dtype):
    return ctypes.c_float if dtype == np.float32 else ctypes.c_double


def _sfx(dtype):
    return "f32" if dtype == np.float32 else "f64"


# Odd launch shapes: grid-stride loops must cover every element whatever the launch.
LAUNCHES = [(1, 1), (3, 5), (7, 32)]


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(ACTS))
def test_emulated_activations(emu, name, dtype, launch, rng):
    params, saved_kind = ACTS[name]
    p0 = next(iter(params.values()), 1.0)
    p1 = params.get("threshold", 20.0)
    x = (rng.standard_normal(1003) * 4).astype(dtype)
    x[:3] = [np.nan, np.inf, -np.inf]
    y = np.empty_like(x)
    S = _scalar(dtype)
    getattr(emu, f"emu_act_forward_{_sfx(dtype)}")(launch[0], launch[1], _ptr(x), _ptr(y), ctypes.c_longlong(x.size),
                                                   fastnn.cuda.ACT_IDS[name], S(p0), S(p1))
    with np.errstate(all="ignore"):
        want = getattr(reference, name)(x.astype(np.float64), **params)
    assert_close(y, want, "activation", dtype, err_msg=name)

    x = x[3:]  # backward on finite values
    y = getattr(reference, name)(x, **params)
    dy = rng.standard_normal(x.size).astype(dtype)
    saved = np.ascontiguousarray(y if saved_kind == "y" else x)
    dx = np.empty_like(x)
    getattr(emu, f"emu_act_backward_{_sfx(dtype)}")(launch[0], launch[1], _ptr(dy), _ptr(saved), _ptr(dx),
                                                    ctypes.c_longlong(x.size), fastnn.cuda.ACT_IDS[name], S(p0), S(p1))
    want = getattr(reference, name + "_backward")(dy.astype(np.float64), saved.astype(np.float64), **params)
    assert_close(dx, want, "activation_backward", dtype, err_msg=name)


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_emulated_softmax(emu, log, dtype, launch, rng):
    name = "log_softmax" if log else "softmax"
    x = (rng.standard_normal((37, 11)) * 3).astype(dtype)
    y = np.empty_like(x)
    getattr(emu, f"emu_softmax_forward_{_sfx(dtype)}")(launch[0], launch[1], _ptr(x), _ptr(y),
                                                       ctypes.c_longlong(37), ctypes.c_longlong(11), int(log))
    assert_close(y, getattr(reference, name)(x.astype(np.float64)), "softmax", dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = np.empty_like(x)
    getattr(emu, f"emu_softmax_backward_{_sfx(dtype)}")(launch[0], launch[1], _ptr(dy), _ptr(y), _ptr(dx),
                                                        ctypes.c_longlong(37), ctypes.c_longlong(11), int(log))
    want = getattr(reference, name + "_backward")(dy.astype(np.float64), y.astype(np.float64))
    assert_close(dx, want, "softmax_backward", dtype)


def test_cuda_module_without_device_says_so():
    if fastnn.cuda.available():
        pytest.skip("a CUDA device is present")
    assert fastnn.cuda.available() is False


# ---------------------------------------------------------------------------------------------
# On a real GPU (skipped here): CuPy arrays through fastnn.ops, against the reference and the CPU.

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(ACTS) + ["softmax", "log_softmax"])
def test_gpu_matches_reference_and_cpu(name, dtype, rng):
    import cupy

    params, saved_kind = ACTS.get(name, ({}, "y"))
    x = (rng.standard_normal((64, 129)) * 3).astype(dtype)
    gx = cupy.asarray(x)
    gy = getattr(fastnn.ops, name)(gx, **params)
    assert isinstance(gy, cupy.ndarray)
    op = "softmax" if "softmax" in name else "activation"
    assert_close(cupy.asnumpy(gy), getattr(reference, name)(x.astype(np.float64), **params), op, dtype)
    assert_close(cupy.asnumpy(gy), getattr(fastnn.ops, name)(x, **params), op, dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    saved = cupy.asnumpy(gy) if saved_kind == "y" else x
    gdx = getattr(fastnn.ops, name + "_backward")(cupy.asarray(dy), cupy.asarray(saved), **params)
    want = getattr(reference, name + "_backward")(dy.astype(np.float64), saved.astype(np.float64), **params)
    assert_close(cupy.asnumpy(gdx), want, op + "_backward", dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_gpu_gemm(trans_a, trans_b, rng):
    import cupy

    a = rng.standard_normal((33, 47) if not trans_a else (47, 33)).astype(np.float32)
    b = rng.standard_normal((47, 29) if not trans_b else (29, 47)).astype(np.float32)
    bias = rng.standard_normal(29).astype(np.float32)
    got = fastnn.ops.gemm(cupy.asarray(a), cupy.asarray(b), trans_a=trans_a, trans_b=trans_b, bias=cupy.asarray(bias))
    want = reference.gemm(a.astype(np.float64), b.astype(np.float64), trans_a=trans_a, trans_b=trans_b,
                          bias=bias.astype(np.float64))
    assert_close(cupy.asnumpy(got), want, "gemm", np.float32)


def test_mixing_devices_is_an_error():
    class FakeCupyArray:  # what ops sees from a cupy array: its type's module
        pass
    FakeCupyArray.__module__ = "cupy._core.core"
    from fastnn.ops._dispatch import backend

    with pytest.raises(TypeError, match="mix numpy and cupy"):
        backend(np.ones(3), FakeCupyArray())
