"""The CUDA sources without a GPU: every file ships and is installed, compiles with nvcc and with
NVRTC (what CuPy uses at run time), every kernel is in the emulator's registry, and kernels run
under csrc/cuda/emulate.h match fastnn.reference whatever the launch shape and thread order.
Ops-level tests (fastnn.ops -> fastnn.cuda -> kernels) are in tests/test_cuda_ops.py; tests
marked `gpu` run on a real device and skip where none exists."""
import ctypes
import ctypes.util
import glob
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn import reference
from cuda_emulation import CUDA_DIR, FORWARD, REVERSE, SCRAMBLED
from tolerances import assert_close

ROOT = CUDA_DIR.parent.parent
CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
ACTS = {"step": ({}, "x"), "sigmoid": ({"beta": 1.7}, "y"), "tanh": ({}, "y"), "relu": ({}, "x"),
        "leaky_relu": ({"negative_slope": 0.2}, "x"), "softplus": ({"beta": 0.8, "threshold": 15.0}, "x"),
        "swish": ({"beta": 1.3}, "x"), "elu": ({"alpha": 0.7}, "x")}
# Odd launch shapes and every thread order: grid-stride loops must cover every element whatever
# the launch, and no thread may depend on another.
LAUNCHES = [(1, 1, FORWARD), (3, 5, REVERSE), (7, 32, SCRAMBLED)]


def _nvcc():
    return shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)


def test_sources_listed_shipped_and_installed():
    on_disk = sorted(p.name for p in CUDA_DIR.iterdir() if p.suffix in (".cu", ".cuh"))
    assert sorted(fastnn.cuda.SOURCES) == on_disk
    cmake = (ROOT / "CMakeLists.txt").read_text()
    block = re.search(r"install\(FILES(.*?)DESTINATION fastnn/cuda\)", cmake, re.S).group(1)
    assert sorted(pathlib.Path(f).name for f in block.split()) == on_disk
    for name in fastnn.cuda.SOURCES:
        assert fastnn.cuda.kernel_source(name) == (CUDA_DIR / name).read_text()


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_module_source_is_self_contained(cu):
    """NVRTC has no standard headers and fastnn passes no include path: the pasted source must
    include nothing, and every kernel follows common.cuh's rules."""
    src = fastnn.cuda.module_source(cu.name)
    code = re.sub(r"//[^\n]*", "", src)
    assert not re.search(r"^\s*#\s*include", code, re.M)
    assert code.count("#ifndef FASTNN_CUDA_COMMON_CUH") == 1
    for forbidden in ("__shared__", "__syncthreads", "atomic"):
        assert forbidden not in code, f"{cu.name} uses {forbidden} (see common.cuh: the execution model)"


@pytest.fixture(scope="module")
def nvcc_objects(tmp_path_factory):
    """Each .cu compiled once by nvcc: {name: (completed process, object path)}."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found: the CUDA toolkit is not installed here")
    out = tmp_path_factory.mktemp("nvcc")
    objects = {}
    for cu in CU_FILES:
        obj = out / (cu.stem + ".o")
        objects[cu.name] = (subprocess.run([nvcc, "-std=c++17", "-c", str(cu), "-o", str(obj)],
                                           capture_output=True, text=True), obj)
    return objects


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles(cu, nvcc_objects):
    r, _ = nvcc_objects[cu.name]
    assert r.returncode == 0, r.stderr


def _nvrtc():
    """libnvrtc from FASTNN_NVRTC, the system, or a pip-installed nvidia-cuda-nvrtc (None if absent)."""
    candidates = [os.environ.get("FASTNN_NVRTC"), ctypes.util.find_library("nvrtc")]
    for entry in sys.path:
        candidates += sorted(glob.glob(os.path.join(entry, "nvidia", "cu*", "lib", "libnvrtc.so*")))
        candidates += sorted(glob.glob(os.path.join(entry, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*")))
    for path in filter(None, candidates):
        if "builtins" in os.path.basename(path):
            continue
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@pytest.mark.parametrize("cu", CU_FILES, ids=lambda p: p.name)
def test_nvrtc_compiles_module_source(cu):
    """The exact text and options fastnn.cuda hands cupy.RawModule, through NVRTC itself."""
    lib = _nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found (pip install nvidia-cuda-nvrtc, or set FASTNN_NVRTC)")
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), fastnn.cuda.module_source(cu.name).encode(),
                                  cu.name.encode(), 0, None, None) == 0
    options = [b"--std=c++17", b"-arch=compute_75"]
    status = lib.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    assert status == 0, log.value.decode()


def test_emulator_registers_every_kernel(cuda_emulator, nvcc_objects):
    """The kernels nvcc finds (extern "C" host stubs) are exactly the emulator's registry."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("needs nm")
    found = set()
    for r, obj in nvcc_objects.values():
        assert r.returncode == 0, r.stderr
        symbols = subprocess.run([nm, str(obj)], check=True, capture_output=True, text=True).stdout
        found |= {line.split()[-1] for line in symbols.splitlines()
                  if line.split()[1:2] == ["T"] and not line.split()[-1].startswith("_")}
    assert found == set(cuda_emulator.kernels)


def test_emulator_checks_argument_types(cuda_emulator):
    x = np.ones(4, np.float32)
    y = np.empty_like(x)
    good = (x, y, np.int64(4), np.int32(3), np.float32(1.0), np.float32(20.0))
    cuda_emulator.launch("act_forward_f32", 1, 4, good)
    assert (y == 1).all()
    with pytest.raises(TypeError, match=r"argument 2 \(i64\): needs a numpy.int64 scalar, got int"):
        cuda_emulator.launch("act_forward_f32", 1, 4, (x, y, 4) + good[3:])
    with pytest.raises(TypeError, match=r"argument 4 \(f32\): needs a numpy.float32 scalar, got float64"):
        cuda_emulator.launch("act_forward_f32", 1, 4, good[:4] + (np.float64(1.0), good[5]))
    with pytest.raises(TypeError, match=r"argument 1 \(f32\*\): needs an array of f32, got dtype float64"):
        cuda_emulator.launch("act_forward_f32", 1, 4, (x, y.astype(np.float64)) + good[2:])
    with pytest.raises(ValueError, match="non-contiguous"):
        cuda_emulator.launch("act_forward_f32", 1, 4, (np.ones(8, np.float32)[::2], y) + good[2:])
    with pytest.raises(TypeError, match="takes 6 arguments"):
        cuda_emulator.launch("act_forward_f32", 1, 4, good[:5])
    with pytest.raises(KeyError, match="not in the emulator's registry"):
        cuda_emulator.launch("act_forward_f16", 1, 4, good)


def _sfx(dtype):
    return "f32" if dtype == np.float32 else "f64"


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(ACTS))
def test_emulated_activations(cuda_emulator, name, dtype, launch, rng):
    params, saved_kind = ACTS[name]
    grid, block, order = launch
    S = np.float32 if dtype == np.float32 else np.float64
    p0, p1 = S(next(iter(params.values()), 1.0)), S(params.get("threshold", 20.0))
    act = np.int32(fastnn.cuda.ACT_IDS[name])
    x = (rng.standard_normal(1003) * 4).astype(dtype)
    x[:3] = [np.nan, np.inf, -np.inf]
    y = np.empty_like(x)
    cuda_emulator.launch(f"act_forward_{_sfx(dtype)}", grid, block, (x, y, np.int64(x.size), act, p0, p1), order)
    with np.errstate(all="ignore"):
        want = getattr(reference, name)(x.astype(np.float64), **params)
    assert_close(y, want, "activation", dtype, err_msg=name)

    x = x[3:].copy()  # backward on finite values
    y = getattr(reference, name)(x, **params)
    dy = rng.standard_normal(x.size).astype(dtype)
    saved = np.ascontiguousarray(y if saved_kind == "y" else x)
    dx = np.empty_like(x)
    cuda_emulator.launch(f"act_backward_{_sfx(dtype)}", grid, block,
                         (dy, saved, dx, np.int64(x.size), act, p0, p1), order)
    want = getattr(reference, name + "_backward")(dy.astype(np.float64), saved.astype(np.float64), **params)
    assert_close(dx, want, "activation_backward", dtype, err_msg=name)


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_emulated_softmax(cuda_emulator, log, dtype, launch, rng):
    grid, block, order = launch
    name = "log_softmax" if log else "softmax"
    x = (rng.standard_normal((37, 11)) * 3).astype(dtype)
    y = np.empty_like(x)
    dims = (np.int64(37), np.int64(11), np.int32(log))
    cuda_emulator.launch(f"softmax_forward_{_sfx(dtype)}", grid, block, (x, y) + dims, order)
    assert_close(y, getattr(reference, name)(x.astype(np.float64)), "softmax", dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    dx = np.empty_like(x)
    cuda_emulator.launch(f"softmax_backward_{_sfx(dtype)}", grid, block, (dy, y, dx) + dims, order)
    want = getattr(reference, name + "_backward")(dy.astype(np.float64), y.astype(np.float64))
    assert_close(dx, want, "softmax_backward", dtype)


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("n", [0, 1, 2, 31, 1000, 100_003])
@pytest.mark.parametrize("p, seed", [(0.0, 0), (0.25, 7), (0.5, 2**64 - 1), (0.9, 12345), (1.0, 3)])
def test_emulated_dropout_mask_is_the_cpu_mask_bit_for_bit(cuda_emulator, n, p, seed, launch):
    grid, block, order = launch
    threshold = np.uint64(reference.dropout.keep_threshold(p))
    mask = np.full(n, 7, np.uint8)
    cuda_emulator.launch("dropout_mask", grid, block, (mask, np.int64(n), np.uint64(seed), threshold), order)
    np.testing.assert_array_equal(mask, fastnn.ops.dropout_mask((n,), p, seed))  # the native CPU kernel
    np.testing.assert_array_equal(mask, reference.dropout_mask((n,), p, seed))


@pytest.mark.parametrize("launch", LAUNCHES)
@pytest.mark.parametrize("n, c, hw", [(0, 3, 5), (1, 1, 1), (2, 3, 7), (5, 2, 101), (3, 4, 1)])
def test_emulated_channel_sums(cuda_emulator, n, c, hw, launch, rng):
    """reduce.cu's partial sums, then the per-channel finish (any parts count, any launch)."""
    grid, block, order = launch
    x = rng.standard_normal((n, c, hw))
    for parts in (1, 3, 64):
        part = np.full(c * parts, np.nan)
        out = np.full(c, np.nan)
        cuda_emulator.launch("channel_sum_partials_f64", grid, block,
                             (x, part, np.int64(n), np.int64(c), np.int64(hw), np.int64(parts)), order)
        cuda_emulator.launch("finish_channel_sums_f64", grid, block, (part, out, np.int64(c), np.int64(parts)), order)
        np.testing.assert_allclose(out, x.sum(axis=(0, 2)), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("launch", LAUNCHES)
def test_emulated_first_outside(cuda_emulator, launch):
    grid, block, order = launch
    v = np.arange(1000, dtype=np.int64) % 10
    part, out = np.empty(7, np.int64), np.empty(1, np.int64)
    for bad_at in (999, 500, 3):
        v[bad_at] = 10
        cuda_emulator.launch("first_outside_i64", grid, block,
                             (v, np.int64(v.size), np.int64(0), np.int64(10), part, np.int64(7)), order)
        cuda_emulator.launch("finish_first", grid, block, (part, out, np.int64(7)), order)
        assert out[0] == bad_at
    f = np.linspace(0, 1, 100)
    f[[40, 60]] = np.nan
    cuda_emulator.launch("first_outside_f64", grid, block,
                         (f, np.int64(f.size), np.float64(0), np.float64(1), part, np.int64(7)), order)
    cuda_emulator.launch("finish_first", grid, block, (part, out, np.int64(7)), order)
    assert out[0] == 40


def test_cuda_module_without_device_says_so():
    if fastnn.cuda.available():
        pytest.skip("a CUDA device is present")
    assert fastnn.cuda.available() is False


def test_mixing_devices_is_an_error():
    class FakeCupyArray:  # what ops sees from a cupy array: its type's module
        pass
    FakeCupyArray.__module__ = "cupy._core.core"
    from fastnn.ops._dispatch import backend

    with pytest.raises(TypeError, match="mix numpy and cupy"):
        backend(np.ones(3), FakeCupyArray())


def test_cuda_mirrors_every_core_kernel_function():
    """fastnn.cuda has each fastnn._core kernel function with the same argument names and
    defaults (fastnn/_core.pyi), so fastnn.ops can call either backend the same way."""
    import ast
    import inspect

    stub = ast.parse((ROOT / "fastnn" / "_core.pyi").read_text())
    config = {"build_info", "detected_isa", "get_isa", "set_isa", "get_num_threads", "set_num_threads",
              "max_hardware_threads", "fma_peak_gflops",
              # host memory: the block cache for NumPy results (CuPy has its own memory pool)
              "empty", "cache_stats", "cache_clear", "cache_set_limit",
              # the CPU convolution's algorithm choice (a query and test knobs, not kernels)
              "conv2d_algorithm", "set_conv2d_algorithm", "conv2d_algorithm_calls",
              # the CPU GEMM's AMX path (configuration and a test counter)
              "amx_available", "gemm_amx_enabled", "set_gemm_amx", "gemm_amx_calls",
              # the CPU GEMM's B packing choice (a test knob)
              "set_gemm_b_in_place"}
    for node in stub.body:
        if not isinstance(node, ast.FunctionDef) or node.name in config:
            continue
        assert hasattr(fastnn.cuda, node.name), f"fastnn.cuda lacks {node.name}"
        params = list(inspect.signature(getattr(fastnn.cuda, node.name)).parameters.values())
        assert [p.name for p in params] == [a.arg for a in node.args.args], node.name
        defaults = [ast.literal_eval(d) for d in node.args.defaults]
        got = [p.default for p in params if p.default is not inspect.Parameter.empty]
        assert got == defaults, node.name
