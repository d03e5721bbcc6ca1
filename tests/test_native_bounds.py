"""Index arithmetic and aliasing at the edges of the native kernels' contract (from a fuzz
probe): huge strides, geometry bounds, overlapping optimizer arguments, label messages."""
import numpy as np
import pytest
_HUGE_STRIDE_CODE = """
import numpy as np
from fastnn import _core
x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
s = 2**63 - 1
cols = np.full((1, 16, 1), -7, np.float32)
_core.im2col(x, cols, (4, 4), (s, s), (2, 2))  # the one window: x's top-left 2x2 at its bottom right
want = np.zeros((4, 4), np.float32)
want[2:, 2:] = x[0, 0, :2, :2]
assert np.array_equal(cols.reshape(4, 4), want), cols.reshape(4, 4)
dx = np.zeros_like(x)
_core.col2im(np.ones((1, 16, 1), np.float32), dx, (4, 4), (s, s), (2, 2))
assert dx.sum() == 4 and dx[0, 0, :2, :2].min() == 1, dx
print("ok")
"""


def test_a_stride_near_2_63_neither_writes_out_of_bounds_nor_wraps(tmp_path):
    """ceil(a / stride) written as (a + stride - 1) / stride wrapped to -1 for a stride near
    2**63 (padding >= 2): im2col, col2im, conv and pooling wrote before their buffers (heap
    corruption, SIGSEGV). In a subprocess: a regression must fail the test, not the session."""
    from test_config import run_python

    r = run_python(["-c", _HUGE_STRIDE_CODE], tmp_path)
    assert r.returncode == 0 and r.stdout == "ok\n", (r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("call", [
    lambda ops, x: ops.max_pool2d_forward(x, 4, stride=2**63 - 1, padding=2),
    lambda ops, x: ops.avg_pool2d_forward(x, 4, stride=2**31, padding=2),
    lambda ops, x: ops.im2col(x, 1, stride=2**63 - 1, padding=2),
    lambda ops, x: ops.conv2d_forward(x, np.ones((1, 1, 1, 1), np.float32), None, stride=2**63),
    lambda ops, x: ops.conv2d_forward(x, np.ones((1, 1, 1, 1), np.float32), None, padding=2**62),
    lambda ops, x: ops.conv_transpose2d_forward(x, np.ones((1, 1, 1, 1), np.float32), None, 2**62, 0),
])
def test_geometry_over_2_31_is_a_value_error_naming_it(call):
    from fastnn import ops, reference

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    for module in (ops, reference):
        with pytest.raises(ValueError, match=r"must be at most 2\*\*31 - 1 = 2147483647 in magnitude, got"):
            call(module, x)


def test_the_largest_stride_taken_matches_the_reference():
    from fastnn import ops, reference

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    s = 2**31 - 1
    for name in ("max_pool2d_forward", "avg_pool2d_forward"):
        got, want = getattr(ops, name)(x, 4, stride=s, padding=2), getattr(reference, name)(x, 4, stride=s, padding=2)
        np.testing.assert_array_equal(got[0] if isinstance(got, tuple) else got,
                                      want[0] if isinstance(want, tuple) else want)
    np.testing.assert_array_equal(ops.im2col(x, 3, stride=s, padding=2), reference.im2col(x, 3, stride=s, padding=2))


@pytest.mark.parametrize("update, slots", [
    ("sgd_update", {"momentum_buf": None}), ("adagrad_update", {"sum_sq": 1}),
    ("adam_update", {"exp_avg": 0, "exp_avg_sq": 0}),
])
def test_a_grad_overlapping_param_shifted_is_refused(update, slots):
    """Accepted before: element i read a gradient the update of element i - shift had already
    overwritten (a silently wrong step). param is grad stays allowed."""
    from fastnn import ops

    buf = np.random.default_rng(0).standard_normal(1017).astype(np.float32)
    p, g = buf[17:], buf[:-17]
    kw = {k: None if v is None else np.full(1000, v, np.float32) for k, v in slots.items()}
    extra = {"step": 1} if update != "sgd_update" else {}
    with pytest.raises(ValueError, match="grad overlaps param without being the same array view"):
        getattr(ops, update)(p, g, *kw.values(), lr=0.1, **extra)
    q = buf[:1000].copy()
    want = q.copy()
    getattr(ops, update)(want, want.copy(), *[None if a is None else a.copy() for a in kw.values()], lr=0.1, **extra)
    getattr(ops, update)(q, q, *kw.values(), lr=0.1, **extra)  # the same array: fine
    np.testing.assert_array_equal(q, want)


def test_a_uint64_label_error_names_the_first_bad_label():
    from fastnn import ops

    labels = np.array([2**63 + 5, 1, 2**64 - 1, 0], np.uint64)
    with pytest.raises(Exception, match=r"target label 9223372036854775813 at index 0 is outside \[0, 3\)"):
        ops.softmax_cross_entropy(np.zeros((4, 3), np.float32), labels)


def test_transposed_conv_output_padding_allowed_by_the_dilation_may_give_an_empty_output():
    """output_padding >= stride (allowed by a dilation > 1) was checked with output_padding 0:
    a spurious 'output size would be -1 ... output_padding 0' where torch returns an empty output."""
    torch = pytest.importorskip("torch")
    from fastnn import ops

    x, w = np.zeros((0, 1, 1, 4), np.float32), np.ones((1, 1, 1, 1), np.float32)
    y = ops.conv_transpose2d_forward(x, w, None, 1, 1, 1, dilation=2)
    want = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), None, 1, 1, 1, 1, 2)
    assert y.shape == tuple(want.shape) == (0, 1, 0, 3)
    with pytest.raises(ValueError, match=r"output_padding must satisfy 0 <= output_padding < stride or dilation, "
                                         r"got output_padding=2 with stride=1, dilation=2"):
        ops.conv_transpose2d_forward(np.zeros((1, 1, 3, 3), np.float32), w, None, 1, 0, 2, dilation=2)
