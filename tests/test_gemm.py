"""fastnn.ops.gemm / _core.gemm against fastnn.reference.gemm computed in float64.

Every comparison uses the error bound of tests/tolerances.py (gamma_{k+3} * |a||b| + ...),
for every ISA the CPU has (the `isa` fixture), both dtypes and all four transpose combinations.
The shapes cross every tile and cache-block boundary of the kernels (MR x NR tiles, KC, NC, MC
blocks: see csrc/kernels/gemm_avx512.cpp).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import _core, ops, reference

from strategies import LAYOUTS, dims, make_layout
from tolerances import gemm_error_bound, tol

DTYPES = [np.float32, np.float64]
TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]

# (m, k, n) shape classes.
SHAPES = [
    (1, 1, 1),
    (1, 7, 1),
    (2, 3, 5),
    (13, 17, 19),      # primes
    (12, 32, 32),      # exactly one AVX-512 float tile
    (11, 31, 33),      # one short of / one past a tile
    (37, 1, 43),       # k = 1
    (5, 384, 40),      # k = KC exactly: one full K block
    (25, 385, 65),     # k crosses KC = 384, n crosses two 32-wide tiles
    (3, 800, 2),       # deep and skinny: several K blocks
    (29, 5, 700),      # n > NC = 672: two column blocks
    (1600, 5, 3),      # tall: m > MC = 1536, two row blocks
    (2, 40, 1500),     # wide
    (128, 512, 10),    # batch 128 into a 10-class output layer
    (300, 390, 1000),  # several B blocks under the L2 cap, packed row by row, ragged last panel
    (64, 392, 512),    # power-of-two row stride: B packed where its rows alias in the L2
    (7, 100, 2100),    # rows > 8 KiB apart: B packed row by row, never read in place
]


def _operands(rng, m, k, n, trans_a, trans_b, dtype):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b


def _check(got, a, b, trans_a, trans_b, *, bias=None, beta=0.0, c_old=None, alpha=1.0, relu=False):
    """got must be within the gemm error bound of the float64 reference."""
    dtype = a.dtype
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bias64 = None if bias is None else bias.astype(np.float64)
    opa = a64.T if trans_a else a64
    opb = b64.T if trans_b else b64
    exact = alpha * (opa @ opb)
    abs_sum = np.abs(alpha) * (np.abs(opa) @ np.abs(opb))
    if bias64 is not None:
        exact = exact + bias64
        abs_sum = abs_sum + np.abs(bias64)
    if beta != 0.0:
        exact = exact + beta * c_old.astype(np.float64)
        abs_sum = abs_sum + np.abs(beta * c_old.astype(np.float64))
    if relu:
        exact = np.where(np.isnan(exact), exact, np.maximum(exact, 0.0))
    if alpha == 1.0 and not relu:
        # The reference itself agrees with the exact value (it is the definition of the op).
        want = reference.gemm(a64, b64, trans_a=trans_a, trans_b=trans_b, bias=bias64,
                              out=None if c_old is None else c_old.astype(np.float64).copy(), beta=beta)
        np.testing.assert_allclose(want, exact, rtol=1e-12, atol=1e-12)
    assert got.dtype == dtype
    assert got.shape == exact.shape
    k = opa.shape[1]
    bound = gemm_error_bound(abs_sum, k, dtype)
    err = np.abs(got.astype(np.float64) - exact)
    bad = ~(err <= bound)
    assert not bad.any(), (f"{bad.sum()} of {bad.size} entries outside the bound; worst "
                           f"err={err[bad].max():.3g} bound={bound[bad].min():.3g} (k={k}, {dtype})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_shapes_and_transposes(isa, rng, m, k, n, trans_a, trans_b, dtype):
    a, b = _operands(rng, m, k, n, trans_a, trans_b, dtype)
    got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    _check(got, a, b, trans_a, trans_b)


def _bench_shapes():
    from fastnn.bench.gemm import SHAPES as BENCH
    return [pytest.param(c.m, c.k, c.n, id=c.label.split()[0]) for c in BENCH]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES)
@pytest.mark.parametrize("m,k,n", _bench_shapes())
def test_benchmark_shapes(rng, m, k, n, trans_a, trans_b, dtype):
    """Every shape `fastnn bench gemm` times (square 64..2048, the training and im2col shapes),
    on the CPU's best ISA, all four transposes, both dtypes; and once more with bias, beta and
    out= together."""
    a, b = _operands(rng, m, k, n, trans_a, trans_b, dtype)
    _check(ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b), a, b, trans_a, trans_b)
    if (trans_a, trans_b) == (False, True):
        bias = rng.standard_normal(n).astype(dtype)
        c_old = rng.standard_normal((m, n)).astype(dtype)
        out = c_old.copy()
        got = ops.gemm(a, b, trans_b=True, bias=bias, out=out, beta=0.5)
        assert got is out
        _check(got, a, b, False, True, bias=bias, beta=0.5, c_old=c_old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
# (25, 1600, 65): a small C with a long k is cut along k (gemm.cpp, k_slices): 2 slices
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (13, 17, 19), (25, 385, 65), (128, 512, 10), (25, 1600, 65)])
def test_bias_beta_out(isa, rng, m, k, n, beta, with_bias, dtype):
    a, b = _operands(rng, m, k, n, False, True, dtype)
    bias = rng.standard_normal(n).astype(dtype) if with_bias else None
    c_old = rng.standard_normal((m, n)).astype(dtype)
    out = c_old.copy()
    if beta == 0.0:
        out[...] = np.nan  # beta = 0: the old contents are never read (BLAS semantics)
    got = ops.gemm(a, b, trans_b=True, bias=bias, out=out, beta=beta)
    assert got is out
    _check(got, a, b, False, True, bias=bias, beta=beta, c_old=c_old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(0, 5, 4), (5, 4, 0), (0, 0, 0), (0, 3, 0)])
def test_empty_result(isa, m, k, n, dtype):
    a = np.ones((m, k), dtype)
    b = np.ones((k, n), dtype)
    got = ops.gemm(a, b)
    assert got.shape == (m, n) and got.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_k_zero_gives_beta_c_plus_bias(isa, rng, dtype):
    m, n = 7, 5
    a, b = np.empty((m, 0), dtype), np.empty((0, n), dtype)
    assert np.array_equal(ops.gemm(a, b), np.zeros((m, n), dtype))
    bias = rng.standard_normal(n).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    np.testing.assert_array_equal(ops.gemm(a, b, bias=bias, out=out), np.broadcast_to(bias, (m, n)))
    c_old = rng.standard_normal((m, n)).astype(dtype)
    out = c_old.copy()
    ops.gemm(a, b, bias=bias, out=out, beta=2.0)
    np.testing.assert_allclose(out, 2.0 * c_old + bias, rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", [(13, 17, 19), (25, 385, 65), (40, 9, 100), (45, 33, 10), (13, 2000, 19)])
def test_core_alpha_and_fused_relu(isa, rng, m, k, n, dtype):
    a, b = _operands(rng, m, k, n, True, False, dtype)
    bias = rng.standard_normal(n).astype(dtype)
    c_old = rng.standard_normal((m, n)).astype(dtype)
    out = c_old.copy()
    _core.gemm(a, b, out, True, False, -1.5, 0.25, bias, True)
    _check(out, a, b, True, False, bias=bias, beta=0.25, c_old=c_old, alpha=-1.5, relu=True)
    assert (out >= 0).all() and (out == 0).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [50, 1600])  # 1600: cut along k into 2 slices
def test_nan_and_inf_propagate(isa, rng, dtype, k):
    m, n = 20, 40
    a, b = _operands(rng, m, k, n, False, False, dtype)
    a[3, 7] = np.nan
    b[9, 33] = np.inf
    out = np.empty((m, n), dtype)
    _core.gemm(a, b, out, False, False, 1.0, 0.0, None, True)  # relu keeps NaN
    want = reference.gemm(a.astype(np.float64), b.astype(np.float64))
    want = np.where(np.isnan(want), want, np.maximum(want, 0))
    assert np.isnan(out[3]).all() and np.isnan(want[3]).all()
    col = np.delete(np.arange(m), 3)
    np.testing.assert_array_equal(np.isposinf(out[col, 33]), np.isposinf(want[col, 33]))
    np.testing.assert_array_equal(np.isnan(out), np.isnan(want))


@pytest.mark.parametrize("m, k, n", [(128, 784, 512), (64, 288, 1568), (50, 500, 384), (7, 100, 2100), (97, 33, 130)])
def test_b_read_in_place_or_packed_same_bits(m, k, n, rng):
    """A row-major B may be read in place instead of packed (few rows, short B rows; chosen per
    CPU): both ways, forced, give the same bits, with bias and beta, at 1 and 2 threads."""
    before = fastnn.get_num_threads()
    try:
        for dtype in DTYPES:
            a, b = _operands(rng, m, k, n, False, False, dtype)
            bias = rng.standard_normal(n).astype(dtype)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            results = []
            for mode in ("never", "allowed"):
                _core.set_gemm_b_in_place(mode)
                for threads in (1, 2):
                    fastnn.set_num_threads(threads)
                    results.append(ops.gemm(a, b, bias=bias, out=c0.copy(), beta=0.5))
            for r in results[1:]:
                np.testing.assert_array_equal(r, results[0])
            _check(results[0], a, b, False, False, bias=bias, beta=0.5, c_old=c0)
    finally:
        _core.set_gemm_b_in_place("auto")
        fastnn.set_num_threads(before)
    with pytest.raises(ValueError, match="sometimes"):
        _core.set_gemm_b_in_place("sometimes")


@pytest.mark.parametrize("m, k, n", [(784, 128, 512), (512, 128, 784), (97, 50, 300), (1024, 64, 100),
                                     (130, 128, 40), (25, 7, 700)])
def test_transposed_a_read_in_place_same_bits(isa, m, k, n, rng):
    """A transposed A (stored k x m, the weight gradient's X) may be read in place by the kernel
    (full micro-panels, short k; the ragged last panel is packed; lda = 1024 floats aliases in
    the L1 and is packed): the bits are those of the same product with A copied row-major (a
    copy that is packed), with bias and beta, at 1 and 2 threads."""
    before = fastnn.get_num_threads()
    try:
        for dtype in DTYPES:
            at = rng.standard_normal((k, m)).astype(dtype)
            a_rows = np.ascontiguousarray(at.T)
            b = rng.standard_normal((k, n)).astype(dtype)
            bias = rng.standard_normal(n).astype(dtype)
            c0 = rng.standard_normal((m, n)).astype(dtype)
            for threads in (1, 2):
                fastnn.set_num_threads(threads)
                got = ops.gemm(at, b, trans_a=True, bias=bias, out=c0.copy(), beta=0.5)
                want = ops.gemm(a_rows, b, bias=bias, out=c0.copy(), beta=0.5)
                np.testing.assert_array_equal(got, want)
            _check(got, at, b, True, False, bias=bias, beta=0.5, c_old=c0)
    finally:
        fastnn.set_num_threads(before)


def test_thread_count_does_not_change_bits(rng):
    """Any thread count gives the same bits: row or column splits of the thread grid fall on
    tile boundaries, and a K split (small C, long k) is chosen from the shapes alone."""
    before = fastnn.get_num_threads()
    # Each big enough for 4 threads (a thread joins only with >= 8 MFLOP of its own).
    shapes = [(300, 500, 700, False, False),   # columns split between threads
              (1000, 500, 2100, False, False),  # several column items per thread, A packed first
              (128, 784, 512, False, False),   # one column item per thread: each packs its A panels
              (1200, 600, 64, False, False),   # 2 column panels: rows split, B packed once
              (784, 128, 512, True, False),    # all of op(B) fits half an L2: rows split, B per thread
              (400, 256, 300, False, True),    # the same with B transposed, ragged edges
              (2000, 900, 10, True, False),    # A^T op(B) with few columns, rows split
              (2000, 900, 10, False, False),   # narrow-N dot path, rows split
              (4, 3000, 1500, False, True),    # few-rows dot path, columns split
              (97, 401, 1023, False, True),
              (128, 3136, 128, False, True),   # small C, long k: 4 slices along k (gemm.cpp)
              (25, 1600, 65, True, False),     # 2 slices
              (3, 3100, 5, False, False)]      # 4 slices, each on the narrow-N dot path
    try:
        for m, k, n, ta, tb in shapes:
            for dtype in DTYPES:
                a, b = _operands(rng, m, k, n, ta, tb, dtype)
                bias = rng.standard_normal(n).astype(dtype)
                results = []
                for threads in (1, 2, 3, 4):
                    fastnn.set_num_threads(threads)
                    results.append(ops.gemm(a, b, trans_a=ta, trans_b=tb, bias=bias))
                for r in results[1:]:
                    np.testing.assert_array_equal(r, results[0])
                _check(results[0], a, b, ta, tb, bias=bias)
    finally:
        fastnn.set_num_threads(before)


@given(m=dims(70), k=dims(420), n=dims(97), trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from(DTYPES), with_bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_hypothesis_shapes(m, k, n, trans_a, trans_b, dtype, with_bias, seed):
    rng = np.random.default_rng(seed)
    a, b = _operands(rng, m, k, n, trans_a, trans_b, dtype)
    bias = rng.standard_normal(n).astype(dtype) if with_bias else None
    got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias)
    _check(got, a, b, trans_a, trans_b, bias=bias)


@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_non_contiguous_inputs(rng, layout_a, layout_b, trans_a, trans_b):
    m, k, n = 19, 45, 37
    a, b = _operands(rng, m, k, n, trans_a, trans_b, np.float32)
    got = ops.gemm(make_layout(a, layout_a), make_layout(b, layout_b), trans_a=trans_a, trans_b=trans_b)
    _check(got, a, b, trans_a, trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_slices_are_read_in_place(isa, rng, dtype):
    """Leading dimensions larger than the width: the rest of each row holds NaN, so a kernel
    that reads past the slice fails loudly."""
    m, k, n = 30, 70, 45
    a, b = _operands(rng, m, k, n, False, True, dtype)
    big_a = np.full((m, k + 13), np.nan, dtype)
    big_a[:, 5:5 + k] = a
    big_b = np.full((n, k + 3), np.nan, dtype)
    big_b[:, 2:2 + k] = b
    got = ops.gemm(big_a[:, 5:5 + k], big_b[:, 2:2 + k], trans_b=True)
    _check(got, a, b, False, True)
    # The same through _core directly (no copy can happen there).
    out = np.empty((m, n), dtype)
    _core.gemm(big_a[:, 5:5 + k], big_b[:, 2:2 + k], out, False, True)
    np.testing.assert_array_equal(out, got)
    # B not transposed, read in place by the kernel (m small): two full 32-column panels + a ragged one.
    b_nn = rng.standard_normal((k, 70)).astype(dtype)
    big_bn = np.full((k, 70 + 9), np.nan, dtype)
    big_bn[:, 4:74] = b_nn
    _check(ops.gemm(big_a[:, 5:5 + k], big_bn[:, 4:74]), a, b_nn, False, False)
    # A transposed view is read as its base with the flag flipped.
    got_t = ops.gemm(np.ascontiguousarray(a.T).T, b, trans_b=True)
    np.testing.assert_array_equal(got_t, got)


# ---------------------------------------------------------------------------------------------
# Bad input: a clear exception naming the bad value, never a crash or a silent cast.

def test_mismatched_inner_dimension():
    with pytest.raises(ValueError, match=r"inner dimensions differ.*3x4.*5x2"):
        ops.gemm(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="inner dimensions differ"):
        _core.gemm(np.ones((3, 4), np.float32), np.ones((5, 2), np.float32), np.empty((3, 2), np.float32))


def test_wrong_dtypes():
    with pytest.raises(TypeError, match="int64"):
        ops.gemm(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(TypeError, match="float64.*float32|float32.*float64"):
        ops.gemm(np.ones((3, 4), np.float32), np.ones((4, 2), np.float64))
    with pytest.raises(TypeError, match="float64"):
        ops.gemm(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), bias=np.ones(2))
    with pytest.raises(TypeError, match="got dtype int32"):
        _core.gemm(np.ones((3, 4), np.int32), np.ones((4, 2), np.int32), np.empty((3, 2), np.int32))
    with pytest.raises(TypeError, match="float64"):
        ops.gemm(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), out=np.empty((3, 2)))
    with pytest.raises(TypeError, match="list"):
        ops.gemm([[1.0]], np.ones((1, 1), np.float32))


def test_wrong_shapes():
    a, b = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 2\), got \(2, 3\)"):
        ops.gemm(a, b, out=np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 2\), got \(2, 3\)"):
        _core.gemm(a, b, np.empty((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        ops.gemm(a, b, bias=np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(3,\)"):
        _core.gemm(a, b, np.empty((3, 2), np.float32), bias=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="a.ndim=1"):
        ops.gemm(np.ones(4, np.float32), b)
    with pytest.raises(ValueError, match="beta=0.5 needs an out"):
        ops.gemm(a, b, beta=0.5)


def test_bad_out_arrays():
    a, b = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.gemm(a, b, out=np.empty((2, 3), np.float32).T)
    readonly = np.empty((3, 2), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        ops.gemm(a, b, out=readonly)
    square = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="must not share memory"):
        ops.gemm(square, np.ones((4, 4), np.float32), out=square)
    with pytest.raises(ValueError, match="must not share memory"):
        _core.gemm(np.ones((2, 2), np.float32), square[2:, :], square[1:3, :])  # rows 2 of both


def test_core_refuses_layouts_it_cannot_read():
    a = np.ones((6, 8), np.float32)
    with pytest.raises(ValueError, match=r"adjacent elements.*strides \(32, 8\)"):
        _core.gemm(a[:, ::2], np.ones((4, 2), np.float32), np.empty((6, 2), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.gemm(a, np.ones((8, 2), np.float32), np.empty((2, 6), np.float32).T)


@pytest.mark.parametrize("m,k,n,trans_a,trans_b", [(13, 17, 19, False, True), (128, 300, 70, False, True),
                                                   (40, 9, 33, True, False), (5, 64, 8, False, False)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ops_activation_relu_matches_reference(rng, m, k, n, trans_a, trans_b, dtype):
    a, b = _operands(rng, m, k, n, trans_a, trans_b, dtype)
    bias = rng.standard_normal(n).astype(dtype)
    got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, activation="relu")
    _check(got, a, b, trans_a, trans_b, bias=bias, relu=True)
    want = reference.gemm(a.astype(np.float64), b.astype(np.float64), trans_a=trans_a, trans_b=trans_b,
                          bias=bias.astype(np.float64), activation="relu")
    np.testing.assert_allclose(got, want, **tol("gemm", dtype))
    assert (got == 0).any() and (got > 0).any()  # both sides of the ReLU were exercised
    # NaN is kept (as PyTorch's relu does): a NaN in a gives a NaN row (or column) of C.
    a[0, 0] = np.nan
    got = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, activation="relu")
    want = reference.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, activation="relu")
    assert np.isnan(got).any()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_ops_activation_rejects_unknown_names(rng):
    a, b = _operands(rng, 3, 4, 5, False, False, np.float32)
    with pytest.raises(ValueError, match="'sigmoid'"):
        ops.gemm(a, b, activation="sigmoid")
    with pytest.raises(ValueError, match="'sigmoid'"):
        reference.gemm(a, b, activation="sigmoid")
    with pytest.raises(ValueError, match="exclusive"):
        _core.gemm(a, b, np.empty((3, 5), np.float32), relu=True, tanh=True)


# Every product path: packed tiles (one or two depth blocks, 1 and 2 threads), the dot-product
# path (n <= 16), the narrow transposed-A path, k = 0 (no products).
TANH_SHAPES = [(13, 17, 19, False, True), (128, 784, 512, False, True), (40, 9, 33, True, False),
               (25, 385, 65, False, False), (5, 64, 8, False, False), (30, 20, 7, False, True),
               (45, 33, 10, True, False), (9, 0, 12, False, False), (16, 2400, 24, True, True)]


@pytest.mark.parametrize("m,k,n,trans_a,trans_b", TANH_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_tanh_has_the_bits_of_ops_tanh(isa, rng, m, k, n, trans_a, trans_b, dtype):
    """activation="tanh" gives exactly ops.tanh of the plain product (what a fused Linear + Tanh
    must give), with bias and beta, at 1 and 2 threads, and matches the reference."""
    a, b = _operands(rng, m, k, n, trans_a, trans_b, dtype)
    a *= 0.5  # products of order 1: both tails and the middle of tanh are exercised
    bias = rng.standard_normal(n).astype(dtype)
    c_old = rng.standard_normal((m, n)).astype(dtype)
    before = fastnn.get_num_threads()
    try:
        for threads in (1, 2):
            fastnn.set_num_threads(threads)
            fused = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, out=c_old.copy(), beta=0.5,
                             activation="tanh")
            plain = ops.gemm(a, b, trans_a=trans_a, trans_b=trans_b, bias=bias, out=c_old.copy(), beta=0.5)
            np.testing.assert_array_equal(fused, ops.tanh(plain))
    finally:
        fastnn.set_num_threads(before)
    want = reference.gemm(*(v.astype(np.float64) for v in (a, b)), trans_a=trans_a, trans_b=trans_b,
                          bias=bias.astype(np.float64), out=c_old.astype(np.float64), beta=0.5, activation="tanh")
    np.testing.assert_allclose(fused, want, **tol("gemm", dtype))
    assert (np.abs(fused) < 0.5).any() and (np.abs(fused) > 0.9).any()
