"""LPPool1d / LPPool2d, MaxUnpool1d / MaxUnpool2d, Fold / Unfold and Bilinear (fastnn/nn/extra3.py)
against torch.nn's: outputs and gradients (input and parameters, torch autograd with a random
upstream gradient) on many shapes (odd strides, padding, dilation, ceil_mode, kernel = input
size, unbatched inputs, batch 0) in float32 and float64; reprs, state_dict names, config round
trips, bad arguments and bad shapes.

Tolerances, as tests/test_conformance_nn_extra.py's (float32 results are compared with torch in
float64 on the same float32 values, the truth; float64 with torch's float64):
- exact: Unfold's forward, Fold's backward and MaxUnpool both ways copy values.
- "computed": LPPool, Fold's forward, Unfold's backward and Bilinear compute in float64 and round
  once to the dtype, so float32 results are within an ulp or two of the truth: rtol 1e-6,
  atol 1e-6; float64: rtol 1e-12, atol 1e-12 (a few sums of < 100 terms, and LPPool's powers).
"""
import numpy as np
import pytest

import fastnn
from fastnn.nn import MaxPool1d, MaxPool2d
from fastnn.nn.extra3 import Bilinear, Fold, LPPool1d, LPPool2d, MaxUnpool1d, MaxUnpool2d, Unfold


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
COMPUTED = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
INF = float("inf")

# (id, fastnn factory, torch factory (of the torch module), input shape, forward tolerance,
#  backward tolerance, positive input: for the powers NaN on a negative x)
CASES = [
    ("LPPool2d p2", lambda: LPPool2d(2, 2), lambda t: t.nn.LPPool2d(2, 2), (2, 3, 6, 8), COMPUTED, COMPUTED, False),
    ("LPPool2d p3 odd stride", lambda: LPPool2d(3, (3, 2), stride=(2, 3)),
     lambda t: t.nn.LPPool2d(3, (3, 2), stride=(2, 3)), (2, 2, 9, 10), COMPUTED, COMPUTED, True),
    ("LPPool2d p1 overlapping", lambda: LPPool2d(1, 3, stride=1), lambda t: t.nn.LPPool2d(1, 3, stride=1),
     (1, 2, 5, 6), COMPUTED, COMPUTED, False),
    ("LPPool2d p1.5", lambda: LPPool2d(1.5, (2, 3), stride=(1, 2)), lambda t: t.nn.LPPool2d(1.5, (2, 3), stride=(1, 2)),
     (2, 3, 5, 7), COMPUTED, COMPUTED, True),
    ("LPPool2d p-2", lambda: LPPool2d(-2, 2, 1), lambda t: t.nn.LPPool2d(-2, 2, 1), (1, 2, 4, 5), COMPUTED, COMPUTED,
     True),
    ("LPPool2d ceil", lambda: LPPool2d(2, 3, stride=2, ceil_mode=True),
     lambda t: t.nn.LPPool2d(2, 3, stride=2, ceil_mode=True), (2, 2, 8, 7), COMPUTED, COMPUTED, False),
    ("LPPool2d ceil p3 stride > kernel", lambda: LPPool2d(3, 2, stride=3, ceil_mode=True),
     lambda t: t.nn.LPPool2d(3, 2, stride=3, ceil_mode=True), (1, 3, 7, 8), COMPUTED, COMPUTED, True),
    ("LPPool2d ceil kernel past input", lambda: LPPool2d(2, (4, 3), stride=2, ceil_mode=True),
     lambda t: t.nn.LPPool2d(2, (4, 3), stride=2, ceil_mode=True), (1, 2, 3, 4), COMPUTED, COMPUTED, False),
    ("LPPool2d kernel = input", lambda: LPPool2d(2, (5, 4)), lambda t: t.nn.LPPool2d(2, (5, 4)), (3, 2, 5, 4),
     COMPUTED, COMPUTED, False),
    ("LPPool2d inf", lambda: LPPool2d(INF, 3, stride=2), lambda t: t.nn.LPPool2d(INF, 3, stride=2), (2, 3, 7, 9),
     COMPUTED, COMPUTED, False),
    ("LPPool2d inf ceil", lambda: LPPool2d(INF, 2, ceil_mode=True), lambda t: t.nn.LPPool2d(INF, 2, ceil_mode=True),
     (1, 2, 5, 7), COMPUTED, COMPUTED, False),
    ("LPPool2d -inf ceil", lambda: LPPool2d(-INF, (2, 3), stride=(2, 1), ceil_mode=True),
     lambda t: t.nn.LPPool2d(-INF, (2, 3), stride=(2, 1), ceil_mode=True), (2, 2, 5, 6), COMPUTED, COMPUTED, False),
    ("LPPool2d unbatched", lambda: LPPool2d(2.0, 2, stride=1), lambda t: t.nn.LPPool2d(2.0, 2, stride=1), (3, 4, 5),
     COMPUTED, COMPUTED, False),
    ("LPPool2d batch 0", lambda: LPPool2d(2, 2), lambda t: t.nn.LPPool2d(2, 2), (0, 3, 4, 4), COMPUTED, COMPUTED,
     False),
    ("LPPool1d p2", lambda: LPPool1d(2, 3), lambda t: t.nn.LPPool1d(2, 3), (2, 3, 10), COMPUTED, COMPUTED, False),
    ("LPPool1d p3 stride", lambda: LPPool1d(3, 3, stride=2), lambda t: t.nn.LPPool1d(3, 3, stride=2), (2, 2, 9),
     COMPUTED, COMPUTED, True),
    ("LPPool1d ceil", lambda: LPPool1d(2, 4, stride=3, ceil_mode=True),
     lambda t: t.nn.LPPool1d(2, 4, stride=3, ceil_mode=True), (2, 3, 11), COMPUTED, COMPUTED, False),
    ("LPPool1d ceil no window past the input", lambda: LPPool1d(2, 2, stride=4, ceil_mode=True),
     lambda t: t.nn.LPPool1d(2, 2, stride=4, ceil_mode=True), (2, 2, 7), COMPUTED, COMPUTED, False),
    ("LPPool1d kernel = input", lambda: LPPool1d(1.5, 7), lambda t: t.nn.LPPool1d(1.5, 7), (3, 2, 7), COMPUTED,
     COMPUTED, True),
    ("LPPool1d inf", lambda: LPPool1d(INF, 2, stride=1), lambda t: t.nn.LPPool1d(INF, 2, stride=1), (2, 3, 6),
     COMPUTED, COMPUTED, False),
    ("LPPool1d unbatched", lambda: LPPool1d(2, 2), lambda t: t.nn.LPPool1d(2, 2), (3, 8), COMPUTED, COMPUTED, False),
    ("LPPool1d batch 0", lambda: LPPool1d(2, 2), lambda t: t.nn.LPPool1d(2, 2), (0, 3, 8), COMPUTED, COMPUTED, False),
    ("Unfold 2", lambda: Unfold(2), lambda t: t.nn.Unfold(2), (2, 3, 4, 5), EXACT, COMPUTED, False),
    ("Unfold stride padding", lambda: Unfold((2, 3), padding=1, stride=(2, 1)),
     lambda t: t.nn.Unfold((2, 3), padding=1, stride=(2, 1)), (2, 2, 5, 6), EXACT, COMPUTED, False),
    ("Unfold dilation", lambda: Unfold(3, dilation=2, padding=1, stride=2),
     lambda t: t.nn.Unfold(3, dilation=2, padding=1, stride=2), (2, 2, 7, 8), EXACT, COMPUTED, False),
    ("Unfold dilation pairs", lambda: Unfold((2, 3), dilation=(3, 1), padding=(0, 2), stride=(1, 3)),
     lambda t: t.nn.Unfold((2, 3), dilation=(3, 1), padding=(0, 2), stride=(1, 3)), (1, 3, 6, 7), EXACT, COMPUTED,
     False),
    ("Unfold padding > kernel", lambda: Unfold(2, padding=3, stride=3), lambda t: t.nn.Unfold(2, padding=3, stride=3),
     (1, 2, 3, 3), EXACT, COMPUTED, False),
    ("Unfold kernel = input", lambda: Unfold((4, 3)), lambda t: t.nn.Unfold((4, 3)), (2, 3, 4, 3), EXACT, COMPUTED,
     False),
    ("Unfold unbatched dilated", lambda: Unfold(2, dilation=2), lambda t: t.nn.Unfold(2, dilation=2), (3, 5, 5), EXACT,
     COMPUTED, False),
    ("Unfold batch 0", lambda: Unfold(2, stride=2), lambda t: t.nn.Unfold(2, stride=2), (0, 2, 4, 4), EXACT, COMPUTED,
     False),
    ("Fold 2", lambda: Fold((3, 4), 2), lambda t: t.nn.Fold((3, 4), 2), (2, 12, 6), COMPUTED, EXACT, False),
    ("Fold stride padding", lambda: Fold((5, 6), (2, 3), padding=1, stride=(2, 1)),
     lambda t: t.nn.Fold((5, 6), (2, 3), padding=1, stride=(2, 1)), (2, 12, 18), COMPUTED, EXACT, False),
    ("Fold dilation", lambda: Fold(7, 3, dilation=2, padding=1, stride=2),
     lambda t: t.nn.Fold(7, 3, dilation=2, padding=1, stride=2), (2, 18, 9), COMPUTED, EXACT, False),
    ("Fold dilation overlapping", lambda: Fold((6, 5), (3, 2), dilation=(1, 2), stride=1),
     lambda t: t.nn.Fold((6, 5), (3, 2), dilation=(1, 2), stride=1), (1, 12, 12), COMPUTED, EXACT, False),
    ("Fold kernel = output", lambda: Fold((3, 4), (3, 4)), lambda t: t.nn.Fold((3, 4), (3, 4)), (2, 24, 1), COMPUTED,
     EXACT, False),
    ("Fold unbatched", lambda: Fold(4, 2, stride=1), lambda t: t.nn.Fold(4, 2, stride=1), (8, 9), COMPUTED, EXACT,
     False),
    ("Fold batch 0", lambda: Fold(4, 2, stride=2), lambda t: t.nn.Fold(4, 2, stride=2), (0, 8, 4), COMPUTED, EXACT,
     False),
]

BILINEAR_CASES = [  # (id, args, x1 shape, x2 shape)
    ("2-D", (3, 4, 5), (6, 3), (6, 4)),
    ("3-D", (2, 3, 4), (2, 5, 2), (2, 5, 3)),
    ("1-D", (4, 2, 3), (4,), (2,)),
    ("no bias", (3, 3, 2, False), (5, 3), (5, 3)),
    ("batch 0", (3, 2, 4), (0, 3), (0, 2)),
    ("one output", (5, 1, 1), (7, 5), (7, 1)),
]


def _input(rng, shape, dtype, positive):
    x = rng.standard_normal(shape)
    return (np.abs(x) + 0.1 if positive else x).astype(dtype)


def _against_torch(torch, layer, ref, inputs, dtype, rng):
    """Run both (torch in float64 on the same values) with the same random upstream gradient:
    (y, dx..., torch's y, torch's dx...)."""
    tins = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in inputs]
    ty = ref(*tins)
    y = layer(*inputs)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    dx = layer.backward(dy)
    dx = dx if isinstance(dx, tuple) else (dx,)
    return y, dx, ty.detach().numpy(), [t.grad.numpy() for t in tins]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradient_match_torch(torch, case, dtype):
    _, make, make_ref, shape, fwd_tol, bwd_tol, positive = case
    rng = np.random.default_rng(0)
    x = _input(rng, shape, dtype, positive)
    y, (dx,), ty, (tdx,) = _against_torch(torch, make(), make_ref(torch).double(), [x], dtype, rng)
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape
    assert not np.isnan(ty).any() and not np.isnan(tdx).any()  # the cases stay real
    np.testing.assert_allclose(y, ty.astype(dtype), **fwd_tol[dtype])
    np.testing.assert_allclose(dx, tdx, **bwd_tol[dtype])
    if x.size:
        assert np.abs(dx).max() > 0


@pytest.mark.parametrize("norm_type", [2, 1, 3, 0.5, INF, -INF])
def test_lppool_at_zero_and_nan_as_torch(torch, norm_type):
    """A window of zeros (the docs' zero gradient), zeros inside nonzero windows (x^p's
    gradient at 0: NaN or inf for p < 1, as torch's), a NaN (it wins the max of inf-norm's
    windows): values, NaN and inf positions as torch's."""
    x = np.array([[[[0.0, 0.0, 1.5, -0.0, 2.0, 0.5],
                    [-0.0, 0.0, 0.0, 3.0, -1.0, 0.0],
                    [0.0, 4.0, np.nan, 0.5, 0.0, 0.0],
                    [2.0, 0.0, 1.0, 0.0, 0.0, 0.0]]]])
    if norm_type == 0.5 or norm_type == 3:
        x = np.abs(x)
    layer, ref = LPPool2d(norm_type, 2, stride=(1, 2)), torch.nn.LPPool2d(norm_type, 2, stride=(1, 2))
    rng = np.random.default_rng(1)
    y, (dx,), ty, (tdx,) = _against_torch(torch, layer, ref, [x], np.float64, rng)
    np.testing.assert_allclose(y, ty, **COMPUTED[np.float64])
    np.testing.assert_allclose(dx, tdx, **COMPUTED[np.float64])  # NaN / inf where torch's are
    assert np.isnan(y).any()
    if norm_type == 2:  # the first window is all zeros: zero gradient, not NaN
        assert y[0, 0, 0, 0] == 0 and (dx[0, 0, :2, :2] == 0).all()
    # without the NaN
    x[np.isnan(x)] = 1.0
    y, (dx,), ty, (tdx,) = _against_torch(torch, LPPool2d(norm_type, 2, stride=(1, 2)),
                                          torch.nn.LPPool2d(norm_type, 2, stride=(1, 2)), [x], np.float64, rng)
    np.testing.assert_allclose(y, ty, **COMPUTED[np.float64])
    np.testing.assert_allclose(dx, tdx, **COMPUTED[np.float64])
    assert np.isnan(dx).any() == (norm_type == 0.5)


@pytest.mark.parametrize("norm_type", [INF, -INF])
def test_lppool_inf_ties_pick_torchs_element(torch, norm_type):
    """Equal |x| in a window (2 and -2): torch's max_pool2d takes the first, so the gradient's
    sign is that element's."""
    x = np.array([[[[2.0, -2.0, -1.0, 1.0], [0.5, 2.0, 1.0, -3.0], [-0.5, 0.5, 3.0, 0.25]]]])
    layer, ref = LPPool2d(norm_type, 2, stride=1), torch.nn.LPPool2d(norm_type, 2, stride=1)
    y, (dx,), ty, (tdx,) = _against_torch(torch, layer, ref, [x], np.float64, np.random.default_rng(2))
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, **COMPUTED[np.float64])
    assert (dx != 0).sum() < x.size


def test_lppool_negative_values_give_nan_as_torch(torch):
    x = np.array([[[-1.0, -2.0, -3.0, 1.0, 2.0, -0.5]]])
    for p in (3, 1.5):
        y = LPPool1d(p, 2)(x)
        ty = torch.nn.LPPool1d(p, 2)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(y, ty, **COMPUTED[np.float64])
        assert np.isnan(y[0, 0, 0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BILINEAR_CASES, ids=[c[0] for c in BILINEAR_CASES])
def test_bilinear_matches_torch(torch, case, dtype):
    _, args, s1, s2 = case
    rng = np.random.default_rng(2)
    layer, ref = Bilinear(*args).to(dtype), torch.nn.Bilinear(*args).double()
    for (name, p), (tname, tp) in zip(layer.named_parameters(), ref.named_parameters()):
        assert name == tname
        values = rng.uniform(-1.5, 1.5, p.shape).astype(np.float32)
        p.data[...] = values
        with torch.no_grad():
            tp.copy_(torch.tensor(values.astype(np.float64)))
    x1, x2 = rng.standard_normal(s1).astype(dtype), rng.standard_normal(s2).astype(dtype)
    y, (dx1, dx2), ty, (tdx1, tdx2) = _against_torch(torch, layer, ref, [x1, x2], dtype, rng)
    assert y.dtype == dx1.dtype == dx2.dtype == dtype
    assert y.shape == ty.shape and dx1.shape == x1.shape and dx2.shape == x2.shape
    np.testing.assert_allclose(y, ty, **COMPUTED[dtype])
    np.testing.assert_allclose(dx1, tdx1, **COMPUTED[dtype])
    np.testing.assert_allclose(dx2, tdx2, **COMPUTED[dtype])
    tparams = dict(ref.named_parameters())
    assert [n for n, _ in layer.named_parameters()] == list(tparams)
    for name, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **COMPUTED[dtype], err_msg=name)
        if x1.size:
            assert np.abs(p.grad).max() > 0


def test_bilinear_gradients_accumulate_and_float64_input_keeps_float32_parameters():
    rng = np.random.default_rng(3)
    layer = Bilinear(3, 2, 4)
    x1, x2 = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    y = layer(x1, x2)
    assert y.dtype == np.float64 and layer.weight.dtype == np.float32
    dy = rng.standard_normal(y.shape)
    dx1, dx2 = layer.backward(dy)
    assert dx1.dtype == dx2.dtype == np.float64
    first = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert all(g.dtype == np.float32 and np.abs(g).max() > 0 for g in first.values())
    layer.backward(dy)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-6, err_msg=n)


def test_bilinear_init_is_torchs_bound_and_seeded():
    fastnn.manual_seed(5)
    layer = Bilinear(16, 3, 200)
    bound = 1 / np.sqrt(16)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound
    assert layer.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.05)  # U(-b, b)
    fastnn.manual_seed(5)
    again = Bilinear(16, 3, 200)
    np.testing.assert_array_equal(again.weight.data, layer.weight.data)
    np.testing.assert_array_equal(again.bias.data, layer.bias.data)


# --- MaxUnpool ---------------------------------------------------------------------------------

# (id, pool args, unpool args, input shape, output_size given to the unpool)
UNPOOL_CASES = [
    ("2", (2,), (2,), (2, 3, 6, 8), None),
    ("odd input, output_size", (2,), (2,), (2, 2, 5, 7), (5, 7)),
    ("output_size with (N, C)", (3, 2), (3, 2), (1, 2, 7, 8), (1, 2, 7, 8)),
    ("overlapping stride 1", (3, 1), (3, 1), (2, 2, 5, 6), None),
    ("padding", (3, 2, 1), (3, 2, 1), (2, 3, 6, 7), (6, 7)),
    ("pairs", ((2, 3), (2, 1)), ((2, 3), (2, 1)), (1, 2, 6, 6), None),
    ("kernel = input", ((4, 5),), ((4, 5),), (2, 3, 4, 5), None),
    ("unbatched", (2,), (2,), (3, 4, 6), None),
    ("batch 0", (2,), (2,), (0, 3, 4, 4), None),
]
UNPOOL1D_CASES = [
    ("2", (2,), (2,), (2, 3, 8), None),
    ("odd, output_size", (3, 2), (3, 2), (2, 2, 9), (9,)),
    ("padding", (3, 2, 1), (3, 2, 1), (1, 3, 8), [1, 3, 8]),
    ("unbatched", (2,), (2,), (3, 7), (7,)),
    ("batch 0", (2,), (2,), (0, 2, 6), None),
]


def _unpool_run(torch, pool_t, unpool, unpool_t, shape, output_size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal(shape))
    pooled, indices = pool_t(x)
    p = pooled.numpy().astype(dtype)
    idx = indices.numpy()
    tp = torch.tensor(p.astype(np.float64), requires_grad=True)
    ty = unpool_t(tp, indices, output_size=output_size)
    y = unpool(p, idx, output_size=output_size)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(dy.astype(np.float64)))
    return p, y, unpool.backward(dy), ty.detach().numpy(), tp.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNPOOL_CASES, ids=[c[0] for c in UNPOOL_CASES])
def test_max_unpool2d_matches_torch(torch, case, dtype):
    _, pool_args, args, shape, output_size = case
    p, y, dx, ty, tdx = _unpool_run(torch, torch.nn.MaxPool2d(*pool_args, return_indices=True), MaxUnpool2d(*args),
                                    torch.nn.MaxUnpool2d(*args), shape, output_size, dtype)
    assert y.dtype == dtype and dx.dtype == dtype and y.shape == ty.shape and dx.shape == p.shape
    np.testing.assert_array_equal(y, ty.astype(dtype))
    np.testing.assert_array_equal(dx, tdx.astype(dtype))
    if output_size is not None:
        assert y.shape[-2:] == tuple(output_size)[-2:]
    if p.size:
        assert np.count_nonzero(y) > 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNPOOL1D_CASES, ids=[c[0] for c in UNPOOL1D_CASES])
def test_max_unpool1d_matches_torch(torch, case, dtype):
    _, pool_args, args, shape, output_size = case
    p, y, dx, ty, tdx = _unpool_run(torch, torch.nn.MaxPool1d(*pool_args, return_indices=True), MaxUnpool1d(*args),
                                    torch.nn.MaxUnpool1d(*args), shape, output_size, dtype)
    assert y.dtype == dtype and y.shape == ty.shape and dx.shape == p.shape
    np.testing.assert_array_equal(y, ty.astype(dtype))
    np.testing.assert_array_equal(dx, tdx.astype(dtype))


@pytest.mark.parametrize("pool, unpool, shape", [
    (lambda: MaxPool2d(2, return_indices=True), lambda: MaxUnpool2d(2), (2, 3, 6, 7)),
    (lambda: MaxPool2d(3, 2, 1, return_indices=True), lambda: MaxUnpool2d(3, 2, 1), (1, 2, 7, 8)),
    (lambda: MaxPool2d(2, return_indices=True), lambda: MaxUnpool2d(2), (3, 6, 6)),
    (lambda: MaxPool1d(3, 2, return_indices=True), lambda: MaxUnpool1d(3, 2), (2, 3, 9)),
    (lambda: MaxPool1d(2, return_indices=True), lambda: MaxUnpool1d(2), (3, 8)),
])
def test_max_unpool_inverts_fastnn_max_pool_with_its_indices(pool, unpool, shape):
    """MaxUnpool(MaxPool(x)) holds each window's maximum where it was in x, zeros elsewhere."""
    x = np.random.default_rng(4).standard_normal(shape)
    y, idx = pool()(x)
    layer = unpool()
    spatial = 2 if isinstance(layer, MaxUnpool2d) else 1
    back = layer(y, idx, output_size=shape[-spatial:])
    assert back.shape == x.shape
    planes = int(np.prod(shape[:-spatial]))
    flat_back, flat_x = back.reshape(planes, -1), x.reshape(planes, -1)
    flat_idx = idx.reshape(planes, -1)
    for plane in range(planes):
        where = np.unique(flat_idx[plane])
        np.testing.assert_array_equal(flat_back[plane, where], flat_x[plane, where])
        rest = np.setdiff1d(np.arange(flat_back.shape[1]), where)
        assert (flat_back[plane, rest] == 0).all()


def test_fastnn_max_pool_indices_equal_torchs(torch):
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 9))
    _, idx = MaxPool2d(3, 2, 1, return_indices=True)(x)
    _, tidx = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx, tidx.numpy())
    _, idx = MaxPool1d(3, 2, return_indices=True)(x[0])
    _, tidx = torch.nn.MaxPool1d(3, 2, return_indices=True)(torch.tensor(x[0]))
    np.testing.assert_array_equal(idx, tidx.numpy())


def test_max_unpool_repeated_indices_as_torch(torch):
    """Overlapping windows give the same index twice: the forward writes the value once, the
    backward gives both entries the gradient at that index (torch's)."""
    x = np.array([[[[1.0, 5.0, 2.0], [0.0, 3.0, 1.0]]]])
    y, idx = MaxPool2d(2, 1, return_indices=True)(x)
    assert idx[0, 0, 0, 0] == idx[0, 0, 0, 1] == 1
    layer = MaxUnpool2d(2, 1)
    out = layer(y, idx)
    tp = torch.tensor(y, requires_grad=True)
    tout = torch.nn.MaxUnpool2d(2, 1)(tp, torch.tensor(idx))
    np.testing.assert_array_equal(out, tout.detach().numpy())
    dy = np.arange(6.0).reshape(1, 1, 2, 3)
    tout.backward(torch.tensor(dy))
    dx = layer.backward(dy)
    np.testing.assert_array_equal(dx, tp.grad.numpy())
    assert dx[0, 0, 0, 0] == dx[0, 0, 0, 1] == 1.0


# --- Fold and Unfold together ------------------------------------------------------------------

@pytest.mark.parametrize("args", [dict(kernel_size=2), dict(kernel_size=(3, 2), stride=(1, 2), padding=1),
                                  dict(kernel_size=3, dilation=2, padding=2, stride=1)])
def test_fold_of_unfold_counts_the_blocks_covering_each_position(torch, args):
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 7))
    unfold, fold = Unfold(**args), Fold((6, 7), **args)
    cols = unfold(x)
    back = fold(cols)
    counts = fold(unfold(np.ones_like(x)))
    np.testing.assert_allclose(back, x * counts, **COMPUTED[np.float64])
    tback = torch.nn.Fold((6, 7), **args)(torch.nn.Unfold(**args)(torch.tensor(x))).numpy()
    np.testing.assert_allclose(back, tback, **COMPUTED[np.float64])
    assert counts.max() > 1 or args == dict(kernel_size=2)
    # the two are adjoint: <unfold(x), c> = <x, fold(c)>
    c = np.random.default_rng(7).standard_normal(cols.shape)
    assert np.sum(cols * c) == pytest.approx(np.sum(x * fold(c)), rel=1e-12)
    np.testing.assert_allclose(unfold.backward(c), fold(c), **COMPUTED[np.float64])


# --- repr, state_dict, config ------------------------------------------------------------------

REPR_CASES = [
    (lambda: LPPool2d(2, 3), lambda t: t.nn.LPPool2d(2, 3)),
    (lambda: LPPool2d(2.0, (2, 3), stride=(1, 2), ceil_mode=True),
     lambda t: t.nn.LPPool2d(2.0, (2, 3), stride=(1, 2), ceil_mode=True)),
    (lambda: LPPool2d(INF, 2, 1), lambda t: t.nn.LPPool2d(INF, 2, 1)),
    (lambda: LPPool1d(3, 2), lambda t: t.nn.LPPool1d(3, 2)),
    (lambda: LPPool1d(1.5, 4, stride=2, ceil_mode=True), lambda t: t.nn.LPPool1d(1.5, 4, stride=2, ceil_mode=True)),
    (lambda: MaxUnpool1d(2), lambda t: t.nn.MaxUnpool1d(2)),
    (lambda: MaxUnpool1d(3, stride=2, padding=1), lambda t: t.nn.MaxUnpool1d(3, stride=2, padding=1)),
    (lambda: MaxUnpool2d(2), lambda t: t.nn.MaxUnpool2d(2)),
    (lambda: MaxUnpool2d((2, 3), 1, (1, 0)), lambda t: t.nn.MaxUnpool2d((2, 3), 1, (1, 0))),
    (lambda: Fold(4, 2), lambda t: t.nn.Fold(4, 2)),
    (lambda: Fold((4, 5), (2, 3), 2, 1, (1, 2)), lambda t: t.nn.Fold((4, 5), (2, 3), 2, 1, (1, 2))),
    (lambda: Unfold(2), lambda t: t.nn.Unfold(2)),
    (lambda: Unfold((2, 3), dilation=(1, 2), padding=1, stride=2),
     lambda t: t.nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=2)),
    (lambda: Bilinear(2, 3, 4), lambda t: t.nn.Bilinear(2, 3, 4)),
    (lambda: Bilinear(2, 3, 4, bias=False), lambda t: t.nn.Bilinear(2, 3, 4, bias=False)),
]


@pytest.mark.parametrize("make, make_ref", REPR_CASES)
def test_repr_and_state_dict_match_torch(torch, make, make_ref):
    layer, ref = make(), make_ref(torch)
    assert repr(layer) == repr(ref)
    state, tstate = layer.state_dict(), ref.state_dict()
    assert list(state) == list(tstate)
    for k in state:
        assert state[k].shape == tuple(tstate[k].shape), k
    if state:  # torch's values load into fastnn
        layer.load_state_dict({k: v.numpy() for k, v in tstate.items()})
        for k, v in layer.state_dict().items():
            np.testing.assert_array_equal(v, tstate[k].numpy())


def test_bilinear_state_dict_names():
    assert list(Bilinear(2, 3, 4).state_dict()) == ["weight", "bias"]
    assert list(Bilinear(2, 3, 4, bias=False).state_dict()) == ["weight"]
    assert Bilinear(2, 3, 4).weight.shape == (4, 2, 3) and Bilinear(2, 3, 4).bias.shape == (4,)


@pytest.mark.parametrize("layer", [LPPool2d(2, 3), LPPool2d(1.5, (2, 3), stride=(1, 2), ceil_mode=True),
                                   LPPool2d(-INF, 2), LPPool1d(INF, 3, 2), LPPool1d(3, 2, ceil_mode=True),
                                   MaxUnpool1d(3, 2, 1), MaxUnpool2d((2, 3), 1, (1, 0)),
                                   Fold((4, 5), (2, 3), 2, 1, (1, 2)), Fold(6, 3),
                                   Unfold((2, 3), dilation=(1, 2), padding=1, stride=2), Unfold(3),
                                   Bilinear(3, 2, 4), Bilinear(2, 2, 1, bias=False)],
                         ids=lambda layer: repr(layer))
def test_config_round_trips(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert repr(loaded) == repr(layer)
    for (name, p), (lname, lp) in zip(layer.named_parameters(), loaded.named_parameters()):
        assert name == lname
        np.testing.assert_array_equal(lp.data, p.data)
    x = np.random.default_rng(8).standard_normal((1, 3, 8, 8))
    if isinstance(layer, (LPPool2d, Unfold)):
        np.testing.assert_array_equal(loaded(x), layer(x))


# --- arguments and shapes ----------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: LPPool2d(0, 2), ValueError, "norm_type=0"),
    (lambda: LPPool2d("2", 2), TypeError, "norm_type='2'"),
    (lambda: LPPool2d(float("nan"), 2), TypeError, "norm_type=nan"),
    (lambda: LPPool2d(True, 2), TypeError, "norm_type=True"),
    (lambda: LPPool2d(2, 0), ValueError, "kernel_size=0"),
    (lambda: LPPool2d(2, (2, 0)), ValueError, r"kernel_size=\(2, 0\)"),
    (lambda: LPPool2d(2, (2, 2, 2)), ValueError, r"kernel_size=\(2, 2, 2\)"),
    (lambda: LPPool2d(2, 2.5), TypeError, "kernel_size=2.5"),
    (lambda: LPPool2d(2, 2, stride=0), ValueError, "stride=0"),
    (lambda: LPPool2d(2, 2, ceil_mode=1), TypeError, "ceil_mode=1"),
    (lambda: LPPool1d(2, 0), ValueError, "kernel_size=0"),
    (lambda: LPPool1d(2, (2, 3)), ValueError, r"kernel_size=\(2, 3\)"),
    (lambda: LPPool1d(2, 2, stride=-1), ValueError, "stride=-1"),
    (lambda: MaxUnpool2d(0), ValueError, "kernel_size=0"),
    (lambda: MaxUnpool2d(2, stride=(1, 0)), ValueError, "stride=0"),
    (lambda: MaxUnpool2d(2, padding=-1), ValueError, "padding=-1"),
    (lambda: MaxUnpool1d(2.0), TypeError, "kernel_size=2.0"),
    (lambda: MaxUnpool1d(2, padding=-2), ValueError, "padding=-2"),
    (lambda: Fold(0, 2), ValueError, "output_size=0"),
    (lambda: Fold(4, 2, dilation=0), ValueError, "dilation=0"),
    (lambda: Fold(4, 2, stride=(1, 0)), ValueError, r"stride=\(1, 0\)"),
    (lambda: Unfold(0), ValueError, "kernel_size=0"),
    (lambda: Unfold(2, padding=-1), ValueError, "padding=-1"),
    (lambda: Unfold((2, 2, 2)), ValueError, r"kernel_size=\(2, 2, 2\)"),
    (lambda: Unfold("2"), TypeError, "kernel_size='2'"),
    (lambda: Bilinear(0, 2, 3), ValueError, "in1_features=0"),
    (lambda: Bilinear(2, -1, 3), ValueError, "in2_features=-1"),
    (lambda: Bilinear(2, 2, 1.0), TypeError, "out_features=1.0"),
    (lambda: Bilinear(2, 2, 2, bias="yes"), TypeError, "bias='yes'"),
])
def test_bad_arguments_raise_naming_the_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("make, shape, match", [
    (lambda: LPPool2d(2, 3), (2, 3, 2, 5), r"empty output.*kernel_size=3.*\(2, 3, 2, 5\)"),
    (lambda: LPPool2d(2, 3), (2, 3, 4), None),  # unbatched: fine
    (lambda: LPPool2d(2, 2), (1, 2, 1, 4, 4), r"3-D or 4-D input, got shape \(1, 2, 1, 4, 4\)"),
    (lambda: LPPool2d(2, 2), (2, 0, 4, 4), r"only the batch axis may be 0.*\(2, 0, 4, 4\)"),
    (lambda: LPPool1d(2, 4), (2, 3, 3), r"empty output.*\(2, 3, 3\)"),
    (lambda: LPPool1d(2, 2), (4,), r"2-D or 3-D input, got shape \(4,\)"),
    (lambda: Unfold(4), (1, 2, 3, 3), r"spatial size \(3, 3\).*kernel_size=4.*\(0, 0\) sliding blocks"),
    (lambda: Unfold(2, dilation=3), (1, 2, 3, 5), r"dilation=3.*\(0, 2\) sliding blocks"),
    (lambda: Unfold(2), (2, 3), r"3-D or 4-D input"),
    (lambda: Unfold(2), (1, 0, 3, 3), r"\(1, 0, 3, 3\)"),
    (lambda: Fold(3, 2), (1, 8, 5), r"2 \* 2 = 4 sliding blocks.*has 5"),
    (lambda: Fold(3, 2), (1, 7, 4), r"divisible by the product of kernel_size=2 \(4\).*\(1, 7, 4\)"),
    (lambda: Fold(3, 2), (1, 8, 4, 1), r"2-D or 3-D input"),
    (lambda: Fold(3, 4), (1, 16, 1), r"spatial size \(3, 3\).*sliding blocks"),
])
def test_bad_input_shapes_raise_value_error(make, shape, match):
    layer = make()
    x = np.zeros(shape, np.float32)
    if match is None:
        assert layer(x).shape == (2, 1, 1)
        return
    with pytest.raises(ValueError, match=match):
        layer(x)


def test_max_unpool_bad_indices_and_output_sizes():
    y, idx = MaxPool2d(2, return_indices=True)(np.random.default_rng(9).standard_normal((1, 2, 4, 5)))
    layer = MaxUnpool2d(2)
    with pytest.raises(ValueError, match=r"dim 0 must be between 2 and 6.*output_size=\(6, 5\)"):
        layer(y, idx, output_size=(6, 5))
    with pytest.raises(ValueError, match=r"2 or 4 elements.*output_size=\(5,\)"):
        layer(y, idx, output_size=(5,))
    with pytest.raises(TypeError, match="output_size=5"):
        layer(y, idx, output_size=5)
    first = int(idx.reshape(-1)[0]) + 100  # the first invalid one is named
    with pytest.raises(ValueError, match=rf"invalid max index {first} .*4 x 4"):
        layer(y, idx + 100)
    negative = idx.copy()
    negative[0, 1, 1, 0] = -1
    with pytest.raises(ValueError, match=r"invalid max index -1 "):
        layer(y, negative)
    with pytest.raises(TypeError, match="int64 indices.*int32"):
        layer(y, idx.astype(np.int32))
    with pytest.raises(ValueError, match=r"indices of the input's shape \(1, 2, 2, 2\), got \(1, 2, 2, 1\)"):
        layer(y, idx[..., :1])
    with pytest.raises(TypeError, match="indices as a numpy.ndarray"):
        layer(y, idx.tolist())
    assert layer(y, idx, output_size=(5, 5)).shape == (1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"3-D or 4-D input"):
        layer(y[0, 0], idx[0, 0])
    with pytest.raises(ValueError, match=r"2-D or 3-D input"):
        MaxUnpool1d(2)(np.ones(3), np.zeros(3, np.int64))


def test_bilinear_bad_inputs():
    layer = Bilinear(2, 3, 4)
    with pytest.raises(ValueError, match=r"same leading axes.*\(5, 2\) and \(4, 3\)"):
        layer(np.ones((5, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"same leading axes.*\(1, 2\) and \(4, 3\)"):
        layer(np.ones((1, 2)), np.ones((4, 3)))  # no broadcasting, as torch
    with pytest.raises(ValueError, match=r"in1_features=2.*\(5, 3\) and \(5, 3\)"):
        layer(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(TypeError, match="same dtype.*float32 and float64"):
        layer(np.ones((5, 2), np.float32), np.ones((5, 3)))
    with pytest.raises(TypeError, match="int64"):
        layer(np.ones((5, 2), np.int64), np.ones((5, 3), np.int64))
    with pytest.raises(ValueError, match=r"at least 1 dimension.*got shape \(\)"):
        layer(np.ones(()), np.ones(()))


def test_integer_input_backward_before_forward_and_bad_dy_raise():
    with pytest.raises(TypeError, match="int64"):
        LPPool2d(2, 2)(np.zeros((1, 2, 4, 4), np.int64))  # torch takes integers; fastnn float32 / float64
    with pytest.raises(TypeError, match="int64"):
        Unfold(2)(np.zeros((1, 2, 4, 4), np.int64))
    for layer in (LPPool2d(2, 2), LPPool1d(2, 2), MaxUnpool2d(2), MaxUnpool1d(2), Fold(3, 2), Unfold(2),
                  Bilinear(2, 2, 2)):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.zeros((2, 3), np.float32))
    checks = [(LPPool2d(2, 2), (1, 2, 4, 4), (1, 2, 2, 3)), (Unfold(2), (1, 2, 3, 3), (1, 8, 3)),
              (Fold(3, 2), (1, 8, 4), (1, 2, 3, 2)), (LPPool1d(INF, 2), (2, 6), (2, 2))]
    for layer, shape, bad in checks:
        y = layer(np.zeros(shape, np.float32))
        with pytest.raises(ValueError, match=rf"dy of shape {tuple(y.shape)}".replace("(", r"\(").replace(")", r"\)")):
            layer.backward(np.zeros(bad, np.float32))


# --- CuPy ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, shapes", [
    (lambda: LPPool2d(2, 3, 2, ceil_mode=True), [(2, 3, 7, 6)]),
    (lambda: LPPool2d(-INF, 2, ceil_mode=True), [(2, 3, 5, 6)]),
    (lambda: LPPool1d(3, 2), [(2, 3, 8)]),
    (lambda: Unfold(2, padding=1), [(2, 3, 5, 4)]),
    (lambda: Unfold(2, dilation=2, stride=(1, 2)), [(2, 3, 5, 6)]),
    (lambda: Fold(4, 2), [(2, 8, 9)]),
    (lambda: Fold(5, 2, dilation=2), [(2, 8, 9)]),
    (lambda: Bilinear(3, 2, 4), [(5, 3), (5, 2)]),
    (lambda: MaxUnpool2d(2), "pool2d"),
    (lambda: MaxUnpool1d(3, 2), "pool1d"),
], ids=["LPPool2d", "LPPool2d -inf", "LPPool1d", "Unfold", "Unfold dilated", "Fold", "Fold dilated", "Bilinear",
        "MaxUnpool2d", "MaxUnpool1d"])
def test_on_the_gpu_like_on_the_cpu(xp, make, shapes):
    """The same layer on CuPy arrays (the emulated fake CuPy, or a real GPU) gives the host's
    results, as CuPy arrays."""
    rng = np.random.default_rng(10)
    layer = make()
    if shapes == "pool2d":
        inputs = list(MaxPool2d(2, return_indices=True)(rng.standard_normal((2, 3, 6, 8)).astype(np.float32)))
    elif shapes == "pool1d":
        inputs = list(MaxPool1d(3, 2, return_indices=True)(rng.standard_normal((2, 3, 9)).astype(np.float32)))
    else:
        inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    want = layer(*inputs)
    dy = rng.standard_normal(want.shape).astype(np.float32)
    want_dx = layer.backward(dy)
    want_dx = want_dx if isinstance(want_dx, tuple) else (want_dx,)
    host_grads = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer.to("cuda")
    y = layer(*[xp.asarray(a) for a in inputs])
    dx = layer.backward(xp.asarray(dy))
    dx = dx if isinstance(dx, tuple) else (dx,)
    assert isinstance(y, xp.ndarray) and all(isinstance(d, xp.ndarray) for d in dx)
    assert y.dtype == np.float32 and all(d.dtype == np.float32 for d in dx)
    np.testing.assert_allclose(y.get(), want, **COMPUTED[np.float32])
    for got, ref in zip(dx, want_dx):
        np.testing.assert_allclose(got.get(), ref, **COMPUTED[np.float32])
    for p, ref in zip(layer.parameters(), host_grads):
        np.testing.assert_allclose(p.grad.get(), ref, **COMPUTED[np.float32])
