"""Native dropout: the mask is bit-identical to reference.dropout_mask (every ISA, any thread
count), forward/backward match the reference, special values and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastnn
from fastnn import ops, reference
from strategies import LAYOUTS, make_layout, shapes
from tolerances import assert_close

DTYPES = [np.float32, np.float64]
P_VALUES = st.one_of(st.sampled_from([0.0, 1e-9, 0.1, 0.5, 0.9, 1 - 1e-9, 1.0]), st.floats(0, 1))
SEEDS = st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_each_isa(p, dtype, isa, rng):
    x = rng.standard_normal((3, 1031)).astype(dtype)
    y, mask = ops.dropout_forward(x, p, 99)
    np.testing.assert_array_equal(mask, reference.dropout_mask(x.shape, p, 99))
    yr, _ = reference.dropout_forward(x, p, 99)
    np.testing.assert_array_equal(y, yr)  # same dtype, same formula: the same bits
    assert_close(y, reference.dropout_forward(x.astype(np.float64), p, 99)[0], "dropout", dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(ops.dropout_backward(dy, mask, p), reference.dropout_backward(dy, mask, p))
    np.testing.assert_array_equal(ops.dropout_mask(x.shape, p, 99), mask)


@given(shape=shapes(max_elements=50_000), p=P_VALUES, seed=SEEDS, dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(LAYOUTS))
def test_random_shapes_match_reference_bits(shape, p, seed, dtype, layout):
    rng = np.random.default_rng(seed % 2**32)
    values = rng.standard_normal(shape).astype(dtype)
    y, mask = ops.dropout_forward(make_layout(values, layout), p, seed)
    want_y, want_mask = reference.dropout_forward(values, p, seed)
    assert mask.dtype == np.uint8 and mask.shape == shape and y.dtype == dtype
    np.testing.assert_array_equal(mask, want_mask)
    np.testing.assert_array_equal(y, want_y)
    dy = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(ops.dropout_backward(make_layout(dy, layout), mask, p),
                                  reference.dropout_backward(dy, mask, p))


def test_keep_rate_and_scale():
    x = np.ones((1000, 500), np.float32)
    y, mask = ops.dropout_forward(x, 0.2, 2024)
    assert abs(mask.mean() - 0.8) < 0.003  # 500k draws: std 0.0006
    assert set(np.unique(y)) == {np.float32(0), np.float32(1 / 0.8)}
    assert abs(y.mean() - 1.0) < 0.004  # inverted dropout keeps the expectation


def test_thread_count_does_not_change_mask():
    x = np.ones(3_000_001, np.float32)
    before = fastnn.get_num_threads()
    try:
        fastnn.set_num_threads(1)
        one = ops.dropout_forward(x, 0.5, 7)
        fastnn.set_num_threads(2)
        two = ops.dropout_forward(x, 0.5, 7)
    finally:
        fastnn.set_num_threads(before)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1][-1000:], reference.dropout_mask((3_000_001,), 0.5, 7)[-1000:])


def test_special_values_and_modes():
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -0.0] * 20, np.float32)
    for p in (0.5, 1.0):
        y, mask = ops.dropout_forward(x, p, 3)
        with np.errstate(invalid="ignore"):
            yr, _ = reference.dropout_forward(x, p, 3)
        np.testing.assert_array_equal(y, yr)  # NaN where x * 0 is NaN, exact zeros for p = 1
    assert not ops.dropout_forward(x, 1.0, 3)[0].any()
    z, none = ops.dropout_forward(x, 0.5, 3, training=False)
    assert z is x and none is None
    y, mask = ops.dropout_forward(x, 0.0, 3)
    assert mask.all()
    np.testing.assert_array_equal(y, x)


def test_bad_input():
    x = np.zeros(4, np.float32)
    for bad in (-0.1, 1.01, math.nan):
        with pytest.raises(ValueError, match="p must be in"):
            ops.dropout_forward(x, bad, 0)
    with pytest.raises(ValueError, match="seed must be in"):
        ops.dropout_forward(x, 0.5, -3)
    with pytest.raises(TypeError, match="seed must be an integer, got float"):
        ops.dropout_forward(x, 0.5, 1.5)
    with pytest.raises(TypeError, match="dtype float32 or float64, got int32"):
        ops.dropout_forward(x.astype(np.int32), 0.5, 0)
    with pytest.raises(TypeError, match="uint8"):
        ops.dropout_backward(x, np.ones(4, bool), 0.5)
    with pytest.raises(ValueError, match="shape of dy"):
        ops.dropout_backward(x, np.ones(5, np.uint8), 0.5)
