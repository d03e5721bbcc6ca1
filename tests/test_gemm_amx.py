"""The float32 GEMM on AMX tiles (csrc/kernels/gemm_amx.cpp): three-part bfloat16 splits with
float32 accuracy, held to the same error bound as the AVX-512 kernel (tests/tolerances.py).

Every case checks that the AMX path really ran (the kernel's call counter), so a shape that
silently fell back to the AVX-512 kernel cannot pass for an AMX result. Skipped where the CPU or
OS has no AMX-BF16.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import _core, ops

from tolerances import gemm_error_bound

pytestmark = pytest.mark.skipif(not _core.amx_available(), reason="needs a CPU with AMX-BF16 (and OS support)")

TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
# (m, k, n) at or above the AMX path's bounds (min(m, n) >= 128, k >= 256 or k >= 128 with
# min(m, n) >= 512, >= 25e6 products),
# ragged in every dimension (tiles are 16 x 16 x 32 deep, blocks 32 x 32, work items 64 wide).
SHAPES = [
    (128, 784, 512),   # a Linear forward / its dx
    (512, 128, 784),   # its weight gradient
    (130, 1001, 200),  # one past a block in m, k ragged (not a multiple of 32 or 16)
    (257, 385, 259),   # ragged m, k, n
    (230, 700, 170),   # n below m: the swapped orientation for NT / TN
    (143, 1213, 161),  # odd everything
]


@pytest.fixture(autouse=True)
def _amx_on():
    _core.set_gemm_amx(True)
    yield
    _core.set_gemm_amx(True)


def _operands(rng, m, k, n, trans_a, trans_b, scale=1.0):
    a = (scale * rng.standard_normal((k, m) if trans_a else (m, k))).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def _exact(a, b, trans_a, trans_b):
    opa = a.astype(np.float64).T if trans_a else a.astype(np.float64)
    opb = b.astype(np.float64).T if trans_b else b.astype(np.float64)
    return opa @ opb, np.abs(opa) @ np.abs(opb)


def _amx_gemm(*args, **kwargs):
    before = _core.gemm_amx_calls()
    out = ops.gemm(*args, **kwargs)
    assert _core.gemm_amx_calls() == before + 1, "the product did not run on AMX"
    return out


@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matches_float64_within_the_float32_bound(rng, m, k, n, trans_a, trans_b):
    a, b = _operands(rng, m, k, n, trans_a, trans_b)
    got = _amx_gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    exact, abs_sum = _exact(a, b, trans_a, trans_b)
    err = np.abs(got.astype(np.float64) - exact)
    assert (err <= gemm_error_bound(abs_sum, k, np.float32)).all(), float((err / abs_sum).max())
    # Not bfloat16 accuracy: a single bf16 rounding of the operands errs ~2^-9 |a||b| per term.
    assert (err / abs_sum).max() < 2.0 ** -20


@pytest.mark.parametrize("m,k,n,trans_a,trans_b", [(128, 784, 512, False, True), (512, 128, 784, True, False),
                                                   (256, 400, 256, False, False), (130, 1001, 200, True, True)])
def test_positive_operands_every_part_product_counts(rng, m, k, n, trans_a, trans_b):
    """With all-positive operands the terms the splits keep add up coherently instead of
    averaging out: leaving out one of the six part products (each up to 2^-16 |a b|) would err
    by ~2^-18 = 64 u relative on every entry. The AVX-512 kernel errs by 10 - 14 u here (so does
    AMX, measured); 24 u is the bound."""
    a = rng.uniform(0.5, 1.0, (k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.uniform(0.5, 1.0, (n, k) if trans_b else (k, n)).astype(np.float32)
    got = _amx_gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    exact, _ = _exact(a, b, trans_a, trans_b)
    assert (np.abs(got - exact) / exact).max() <= 24 * 2.0 ** -24


@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, True), (True, False)])
def test_epilogue_alpha_beta_bias_activation(rng, act, trans_a, trans_b):
    m, k, n = 160, 640, 300
    a, b = _operands(rng, m, k, n, trans_a, trans_b, scale=0.05)
    bias = rng.standard_normal(n).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)
    before = _core.gemm_amx_calls()
    got = c.copy()
    _core.gemm(a, b, got, trans_a, trans_b, 0.5, 2.0, bias, relu=act == "relu", tanh=act == "tanh")
    assert _core.gemm_amx_calls() == before + 1
    exact, abs_sum = _exact(a, b, trans_a, trans_b)
    pre = 0.5 * exact + 2.0 * c.astype(np.float64) + bias
    bound = gemm_error_bound(0.5 * abs_sum + np.abs(2.0 * c) + np.abs(bias), k, np.float32)
    if act == "relu":
        want = np.maximum(pre, 0.0)
        assert (np.abs(got - want) <= bound).all()
    else:
        # tanh fused into the store = fastnn's tanh of the unfused product, bit for bit.
        plain = c.copy()
        _core.gemm(a, b, plain, trans_a, trans_b, 0.5, 2.0, bias)
        assert (np.abs(plain - pre) <= bound).all()
        np.testing.assert_array_equal(got, ops.tanh(plain))


@pytest.mark.parametrize("trans_a", [False, True])
def test_long_k_in_chunks(rng, trans_a):
    """Operands too big to pack whole (> 16 MiB packed) are multiplied in k chunks, C kept in
    float32 between them: the bias with the first, beta with the first, tanh after the last."""
    m, k, n = 200, 20000, 200  # m * n > 128 * 256: not the k-split path
    a, b = _operands(rng, m, k, n, trans_a, False, scale=0.01)
    bias = rng.standard_normal(n).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)
    exact, abs_sum = _exact(a, b, trans_a, False)
    pre = exact + 0.5 * c.astype(np.float64) + bias
    bound = gemm_error_bound(abs_sum + np.abs(0.5 * c) + np.abs(bias), k, np.float32)
    before = _core.gemm_amx_calls()
    plain = c.copy()
    _core.gemm(a, b, plain, trans_a, False, 1.0, 0.5, bias)
    fused = c.copy()
    _core.gemm(a, b, fused, trans_a, False, 1.0, 0.5, bias, tanh=True)
    assert _core.gemm_amx_calls() == before + 2
    assert (np.abs(plain - pre) <= bound).all()
    np.testing.assert_array_equal(fused, ops.tanh(plain))
    # A NaN in a later chunk: that chunk runs on the AVX-512 kernel, the NaN reaches its row.
    if trans_a:
        a[15000, 3] = np.nan
    else:
        a[3, 15000] = np.nan
    got = ops.gemm(a, b, trans_a=trans_a)
    assert np.isnan(got[3]).all() and not np.isnan(np.delete(got, 3, axis=0)).any()


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.5, 0.0)])
def test_accumulate_and_scale_without_bias(rng, alpha, beta):
    """Gradient accumulation (beta 1) and a scaled product: not the path that stores the tile
    sums straight into C (alpha 1, beta 0, no bias, no activation)."""
    m, k, n = 256, 384, 320  # whole 32 x 32 blocks only
    a, b = _operands(rng, m, k, n, True, False)
    c = rng.standard_normal((m, n)).astype(np.float32)
    got = c.copy()
    before = _core.gemm_amx_calls()
    _core.gemm(a, b, got, True, False, alpha, beta, None)
    assert _core.gemm_amx_calls() == before + 1
    exact, abs_sum = _exact(a, b, True, False)
    want = alpha * exact + beta * c.astype(np.float64)
    bound = gemm_error_bound(abs(alpha) * abs_sum + np.abs(beta * c), k, np.float32)
    assert (np.abs(got - want) <= bound).all()


def test_beta_zero_ignores_nan_in_the_output(rng):
    m, k, n = 150, 300, 700
    a, b = _operands(rng, m, k, n, False, False)
    out = np.full((m, n), np.nan, np.float32)
    before = _core.gemm_amx_calls()
    _core.gemm(a, b, out, False, False, 1.0, 0.0, None)
    assert _core.gemm_amx_calls() == before + 1
    exact, abs_sum = _exact(a, b, False, False)
    assert (np.abs(out - exact) <= gemm_error_bound(abs_sum, k, np.float32)).all()


def _off(a, b, **kw):
    _core.set_gemm_amx(False)
    try:
        return ops.gemm(a, b, **kw)
    finally:
        _core.set_gemm_amx(True)


@pytest.mark.parametrize("where", ["a", "b"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 3.3999e38])
@pytest.mark.parametrize("trans_b", [False, True])
def test_nan_inf_and_huge_values_propagate_as_the_float32_kernel(rng, where, bad, trans_b):
    """Such values cannot be split (inf - inf = NaN; 3.3999e38 rounds past bf16's largest): the
    part of C they feed is computed by the AVX-512 kernel, so NaN / inf come out exactly as there."""
    m, k, n = 256, 384, 320
    a, b = _operands(rng, m, k, n, False, trans_b)
    if where == "a":
        a[7, 11] = bad
    elif trans_b:
        b[300, 5] = bad  # column 300 of op(B)
    else:
        b[5, 300] = bad
    got = ops.gemm(a, b, trans_b=trans_b)
    want = _off(a, b, trans_b=trans_b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    # Every other entry: the float32 accuracy bound (whichever kernel computed it: the part of C
    # a bad value feeds falls back to the AVX-512 kernel, the rest stays on AMX).
    exact, abs_sum = _exact(a, b, False, trans_b)
    ok = np.isfinite(want)
    err = np.abs(got[ok] - exact[ok])
    assert (err <= gemm_error_bound(abs_sum, k, np.float32)[ok]).all()
    assert ok.sum() > 0


def test_results_do_not_depend_on_the_thread_count(rng):
    a, b = _operands(rng, 300, 500, 400, True, False)
    threads = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        one = _amx_gemm(a, b, trans_a=True)
        fastnn.set_num_threads(3)
        three = _amx_gemm(a, b, trans_a=True)
    finally:
        fastnn.set_num_threads(threads)
    np.testing.assert_array_equal(one, three)
    np.testing.assert_array_equal(one, _amx_gemm(a, b, trans_a=True))  # and run to run


def test_switch_small_shapes_and_float64_stay_on_the_float32_kernel(rng):
    a, b = _operands(rng, 128, 784, 512, False, True)
    before = _core.gemm_amx_calls()
    fastnn.set_gemm_amx(False)
    assert not fastnn.get_gemm_amx()
    off = ops.gemm(a, b, trans_b=True)
    ops.gemm(a.astype(np.float64), b.astype(np.float64), trans_b=True)
    fastnn.set_gemm_amx(True)
    assert fastnn.get_gemm_amx()
    ops.gemm(a[:64], b, trans_b=True)  # min(m, n) < 128
    ops.gemm(a[:, :128], rng.standard_normal((128, 3136)).astype(np.float32))  # k = 128, min(m, n) < 512
    ops.gemm(a.astype(np.float64), b.astype(np.float64), trans_b=True)  # float64: never AMX
    assert _core.gemm_amx_calls() == before
    on = _amx_gemm(a, b, trans_b=True)
    assert not np.array_equal(on, off)  # two different kernels (same to float32 accuracy)
    exact, abs_sum = _exact(a, b, False, True)
    bound = gemm_error_bound(abs_sum, 784, np.float32)
    assert (np.abs(on - exact) <= bound).all() and (np.abs(off - exact) <= bound).all()
    with pytest.raises(TypeError, match="bool"):
        fastnn.set_gemm_amx(1)
    fastnn.set_isa("avx2")
    try:
        assert not fastnn.get_gemm_amx()  # AMX goes with the AVX-512 kernels
    finally:
        fastnn.set_isa(_core.detected_isa())
    assert fastnn.get_gemm_amx()


def test_env_switch_is_validated(tmp_path):
    from test_config import run_python

    code = "import fastnn; print(fastnn.get_gemm_amx())"
    out = run_python(["-c", code], tmp_path, FASTNN_AMX="0")
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
    out = run_python(["-c", code], tmp_path, FASTNN_AMX="1")
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr
    out = run_python(["-c", code], tmp_path, FASTNN_AMX="yes")
    assert out.returncode != 0 and "FASTNN_AMX must be 0" in out.stderr


@settings(max_examples=25, deadline=None)
@given(m=st.integers(128, 420), n=st.integers(128, 420), k=st.integers(256, 900),
       trans_a=st.booleans(), trans_b=st.booleans(), alpha=st.sampled_from([1.0, -0.5, 2.0]),
       beta=st.sampled_from([0.0, 1.0, 0.25]), with_bias=st.booleans(), act=st.sampled_from(["none", "relu"]),
       seed=st.integers(0, 2**31 - 1))
def test_random_shapes_within_the_float32_bound(m, n, k, trans_a, trans_b, alpha, beta, with_bias, act, seed):
    """Random shapes at AMX size (ragged in every dimension), every transpose, the epilogue's
    options: the float32 bound against the float64 product, and the AMX path really ran."""
    k = max(k, -(-25_000_000 // (m * n)))  # at least the AMX path's 25e6 multiply-adds
    _core.set_gemm_amx(True)
    rng = np.random.default_rng(seed)
    a, b = _operands(rng, m, k, n, trans_a, trans_b, scale=0.1)
    bias = rng.standard_normal(n).astype(np.float32) if with_bias else None
    c = rng.standard_normal((m, n)).astype(np.float32)
    got = c.copy()
    before = _core.gemm_amx_calls()
    _core.gemm(a, b, got, trans_a, trans_b, alpha, beta, bias, relu=act == "relu")
    assert _core.gemm_amx_calls() == before + 1
    exact, abs_sum = _exact(a, b, trans_a, trans_b)
    pre = alpha * exact + beta * c.astype(np.float64) + (0.0 if bias is None else bias)
    bound = gemm_error_bound(abs(alpha) * abs_sum + np.abs(beta * c) + (0.0 if bias is None else np.abs(bias)),
                             k, np.float32)
    want = np.maximum(pre, 0.0) if act == "relu" else pre
    assert (np.abs(got - want) <= bound).all()
