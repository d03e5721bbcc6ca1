"""nn.Upsample's modes against torch.nn.Upsample: nearest-exact, linear, bilinear, bicubic,
trilinear and area, with align_corners and recompute_scale_factor; forward values and the input gradient
(torch autograd with a random upstream gradient) in float32 and float64, on upscales and
downscales, non-integer factors, sizes that do not divide, 1 x 1 inputs and outputs. Then the
errors (type, and the message naming the bad value), the config round trip, and central
differences in float64 (no torch).

Tolerances, as tests/tolerances.py's (rtol, atol) per dtype; fastnn runs on the same dtype as
torch and computes the source positions and fractions in that dtype as torch does, so the
weights agree to a rounding; the sums differ:
- nearest-exact: a copy of the values read, exact; its dx sums the outputs that read each input
  ("grad" below).
- "interp" (forward): torch sums k products in float32 (k = 2, 4, 8 taps for linear, bilinear,
  trilinear, 16 for bicubic) with float32 weights; fastnn sums in float64 and rounds once. Both
  are within (k + 2) u sum|w x| of the truth, u = 2**-24; with sum|w| <= 1.9 (1.375 per axis at
  fraction 0.5, the cubic's negative lobes) and |x| <= 5 (the inputs are N(0, 1)) that is
  18 u 9.5 = 1e-5 at the worst (the largest difference seen is 3e-6): rtol 1e-5, atol 2e-5.
- "grad" (backward): dx sums, per input, w dy over the outputs that read it, n <= ~150 terms
  here (bicubic x 3 in 2-D: 4 taps of 3 outputs per axis, more at the clamped borders); torch
  accumulates in float32. Its roundings are of random sign, ~sqrt(n) u times the largest partial
  sum (Higham's rule of thumb, as for log_softmax_backward in tests/tolerances.py); the partial
  sums are a random walk of steps w dy, dy ~ N(0, 1), of size sqrt(sum w^2) ~ 2, below 5x that:
  12 u 10 = 7e-6 (the largest difference seen is 4e-6): rtol 1e-5, atol 3e-5.
- float64: both sides round each of these few sums (<= ~150 terms of O(1)): ~1e-14 absolute
  (seen: 5e-15); rtol 1e-12, atol 1e-12 as the other float64 layer tests.
"""
import re

import numpy as np
import pytest

import fastnn
from fastnn import nn
from nn_helpers import check_module_gradients

DTYPES = [np.float32, np.float64]
EXACT = {np.float32: dict(rtol=0, atol=0), np.float64: dict(rtol=0, atol=0)}
INTERP = {np.float32: dict(rtol=1e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
GRAD = {np.float32: dict(rtol=1e-5, atol=3e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
NDIM = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}  # the input rank of each interpolating mode


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# (mode, input shape, kwargs): up and down, factors 1.7 and 0.6, sizes that do not divide, 1 x 1
# inputs and outputs, out = in from a factor (1.1 on 5), recompute_scale_factor both ways
CASES = [
    ("linear", (2, 3, 5), dict(size=13)),
    ("linear", (1, 2, 8), dict(size=3)),
    ("linear", (2, 2, 7), dict(scale_factor=1.7)),
    ("linear", (1, 3, 9), dict(scale_factor=0.6)),
    ("linear", (1, 2, 9), dict(scale_factor=0.6, recompute_scale_factor=True)),
    ("linear", (1, 2, 7), dict(scale_factor=2.5, recompute_scale_factor=False)),
    ("linear", (1, 2, 1), dict(scale_factor=3)),
    ("linear", (1, 2, 6), dict(size=1)),
    ("linear", (1, 2, 5), dict(scale_factor=1.1)),  # out = in: torch copies
    ("bilinear", (2, 3, 4, 5), dict(size=(7, 3))),
    ("bilinear", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.6))),
    ("bilinear", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.6), recompute_scale_factor=True)),
    ("bilinear", (2, 2, 3, 4), dict(scale_factor=2)),
    ("bilinear", (1, 2, 1, 1), dict(scale_factor=3)),
    ("bilinear", (1, 1, 4, 5), dict(size=(1, 1))),
    ("bilinear", (1, 1, 5, 8), dict(scale_factor=(1.1, 2.5))),
    ("bicubic", (2, 3, 4, 5), dict(size=(7, 3))),
    ("bicubic", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.6))),
    ("bicubic", (1, 2, 9, 11), dict(scale_factor=(1.7, 0.6), recompute_scale_factor=True)),
    ("bicubic", (1, 2, 6, 7), dict(scale_factor=0.6)),
    ("bicubic", (2, 1, 3, 4), dict(scale_factor=3)),
    ("bicubic", (1, 2, 1, 1), dict(scale_factor=(3, 2))),
    ("bicubic", (1, 1, 5, 6), dict(size=(1, 2))),
    ("bicubic", (1, 1, 5, 8), dict(scale_factor=(1.1, 2.5))),  # out = in along H only
    ("trilinear", (1, 2, 3, 4, 5), dict(size=(5, 3, 7))),
    ("trilinear", (2, 1, 3, 4, 5), dict(scale_factor=1.7)),
    ("trilinear", (1, 2, 5, 4, 6), dict(scale_factor=(0.6, 2, 1.5))),
    ("trilinear", (1, 2, 5, 4, 6), dict(scale_factor=(0.6, 2, 1.5), recompute_scale_factor=True)),
    ("trilinear", (1, 1, 1, 1, 1), dict(scale_factor=2)),
]
NEAREST_EXACT_CASES = [
    ((1, 2, 5), dict(size=13)),
    ((2, 2, 9), dict(scale_factor=0.6)),
    ((1, 2, 7), dict(scale_factor=1.7)),
    ((1, 2, 7), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((2, 3, 4, 5), dict(size=(7, 3))),
    ((1, 2, 9, 11), dict(scale_factor=(1.7, 0.6))),
    ((1, 1, 31, 30), dict(scale_factor=1 / 3)),
    ((1, 2, 1, 1), dict(scale_factor=3)),
    ((1, 2, 3, 4, 5), dict(size=(5, 3, 7))),
    ((1, 1, 5, 4, 6), dict(scale_factor=(0.6, 2, 1.5))),
]


def _case_id(case):
    return "-".join(str(v) for v in case)


def _run(torch, layer, make_ref, x, seed=1):
    """fastnn's y and dx, and torch's, on the same x and the same random upstream gradient."""
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = make_ref()(tx)
    dy = np.random.default_rng(seed).standard_normal(y.shape).astype(x.dtype)
    ty.backward(torch.tensor(dy))
    dx = layer.backward(dy)
    return y, dx, ty.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("align_corners", [None, False, True])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_interpolating_modes_match_torch(torch, case, align_corners, dtype):
    mode, shape, kw = case
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    layer = nn.Upsample(mode=mode, align_corners=align_corners, **kw)
    y, dx, ty, tdx = _run(torch, layer, lambda: torch.nn.Upsample(mode=mode, align_corners=align_corners, **kw), x)
    assert y.dtype == dtype and dx.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape
    assert y.flags.c_contiguous and dx.flags.c_contiguous
    np.testing.assert_allclose(y, ty, **INTERP[dtype], err_msg="y")
    if mode == "bicubic" and y.shape == x.shape and not align_corners:
        # torch's bicubic backward copies dy when out = in on both axes, though its forward does
        # not copy when a factor gave out = in (1.1 on 5): fastnn's is the forward's adjoint
        # (test_bicubic_same_size_gradient_is_the_adjoint_of_the_forward)
        return
    np.testing.assert_allclose(dx, tdx, **GRAD[dtype], err_msg="dx")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", NEAREST_EXACT_CASES, ids=_case_id)
def test_nearest_exact_matches_torch(torch, case, dtype):
    shape, kw = case
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    layer = nn.Upsample(mode="nearest-exact", **kw)
    y, dx, ty, tdx = _run(torch, layer, lambda: torch.nn.Upsample(mode="nearest-exact", **kw), x)
    assert y.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, **GRAD[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rank", [3, 4, 5])
def test_nearest_exact_reads_the_inputs_torch_reads_at_float32_ties(torch, rank, dtype):
    """(o + 0.5) * 2/41 is 1 for o = 20: the float32 roundings decide which input output 20
    reads, and torch's 1-D / 3-D kernels (a fused multiply-add in float32, double in float64) and
    its 2-D one (nearest_exact_idx) round differently. Every size 1..60 from inputs 1..12, read
    from arange inputs so the values are the indices."""
    for n_in in range(1, 13):
        shape = (1, 1, n_in) + (1,) * (rank - 3)
        x = np.arange(n_in, dtype=dtype).reshape(shape)
        for n_out in range(1, 61):
            size = (n_out,) + (1,) * (rank - 3)
            want = torch.nn.Upsample(size=size, mode="nearest-exact")(torch.tensor(x)).numpy()
            np.testing.assert_array_equal(nn.Upsample(size=size, mode="nearest-exact")(x), want,
                                          err_msg=f"{n_in} -> {n_out}")


def test_nearest_exact_gradient_is_the_adjoint_of_the_forward():
    """2 -> 41 in 1-D: output 20 reads input 1 (as torch's forward), so input 0 gets the gradient
    of outputs 0..19 and input 1 that of 20..40 (torch's backward rounds as its 2-D kernel and
    sends output 20's to input 0: its gradient is not its forward's there)."""
    x = np.arange(2, dtype=np.float64).reshape(1, 1, 2)
    layer = nn.Upsample(size=41, mode="nearest-exact")
    y = layer(x)
    assert y[0, 0, 19] == 0 and y[0, 0, 20] == 1
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx[0, 0], [dy[0, 0, :20].sum(), dy[0, 0, 20:].sum()], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bicubic_same_size_gradient_is_the_adjoint_of_the_forward(torch, dtype):
    """scale_factor=1.1 on (5, 6) gives out = in, torch's forward interpolates at the shifted
    positions (no copy) and fastnn matches it; the gradient is that forward's adjoint,
    <y, dy> = <x, dx>, and central differences agree (torch's backward returns dy itself)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 5, 6)).astype(dtype)
    layer = nn.Upsample(scale_factor=1.1, mode="bicubic")
    y = layer(x)
    assert y.shape == x.shape
    want = torch.nn.Upsample(scale_factor=1.1, mode="bicubic")(torch.tensor(x)).numpy()
    np.testing.assert_allclose(y, want, **INTERP[dtype])
    assert not np.allclose(y, x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dy)
    np.testing.assert_allclose(np.vdot(x.astype(np.float64), dx.astype(np.float64)),
                               np.vdot(y.astype(np.float64), dy.astype(np.float64)), **GRAD[dtype])
    check_module_gradients(nn.Upsample(scale_factor=1.1, mode="bicubic"), x)


@pytest.mark.parametrize("mode, kw", [
    ("bilinear", dict(scale_factor=(2, 3))),
    ("bicubic", dict(size=(4, 5))),
])
def test_align_corners_true_keeps_the_corner_values(mode, kw):
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 4))
    y = nn.Upsample(mode=mode, align_corners=True, **kw)(x)
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        np.testing.assert_allclose(y[..., i, j], x[..., i, j], rtol=1e-14, atol=1e-14)


def test_linear_reproduces_a_linear_ramp_and_a_constant_everywhere():
    """Hand-checked values: the ramp 0, 1, 2, 3 at size 7 with align_corners=True is 0, 0.5, ..., 3;
    without it, positions (o + 0.5) * 4/7 - 0.5 clamped to [0, 3]; a constant stays a constant."""
    x = np.arange(4.0).reshape(1, 1, 4)
    np.testing.assert_allclose(nn.Upsample(size=7, mode="linear", align_corners=True)(x)[0, 0],
                               np.arange(7) / 2, rtol=0, atol=1e-15)
    pos = np.clip((np.arange(7) + 0.5) * 4 / 7 - 0.5, 0, 3)
    np.testing.assert_allclose(nn.Upsample(size=7, mode="linear")(x)[0, 0], pos, rtol=0, atol=1e-15)
    c = np.full((1, 1, 3, 4), 2.5)
    for mode in ("bilinear", "bicubic"):
        np.testing.assert_allclose(nn.Upsample(scale_factor=1.7, mode=mode)(c), 2.5, rtol=1e-14)


# --- finite differences (float64, no torch) -------------------------------------------------

@pytest.mark.parametrize("mode, shape, kw", [
    ("nearest-exact", (1, 2, 5), dict(scale_factor=1.7)),
    ("nearest-exact", (1, 1, 4, 5), dict(size=(3, 7))),
    ("linear", (2, 2, 5), dict(scale_factor=1.7)),
    ("linear", (1, 2, 7), dict(size=3, align_corners=True)),
    ("bilinear", (1, 2, 4, 5), dict(scale_factor=(1.7, 0.6))),
    ("bilinear", (1, 1, 3, 4), dict(size=(5, 2), align_corners=True)),
    ("bilinear", (1, 1, 1, 1), dict(scale_factor=3)),
    ("bicubic", (1, 2, 4, 5), dict(scale_factor=(1.7, 0.6))),
    ("bicubic", (1, 1, 3, 4), dict(size=(5, 7), align_corners=True)),
    ("bicubic", (1, 1, 2, 3), dict(scale_factor=2.5, recompute_scale_factor=True)),
    ("trilinear", (1, 1, 3, 2, 4), dict(scale_factor=(1.7, 2, 0.6))),
    ("trilinear", (1, 1, 3, 2, 4), dict(size=(2, 3, 5), align_corners=True)),
])
def test_gradient_matches_central_differences(mode, shape, kw):
    check_module_gradients(nn.Upsample(mode=mode, **kw), np.random.default_rng(5).standard_normal(shape))


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.Upsample(scale_factor=2, mode="Area"), ValueError, "mode='Area'"),
    (lambda: nn.Upsample(scale_factor=2, mode="area", align_corners=False), ValueError,
     "align_corners=False, mode='area'"),
    (lambda: nn.Upsample(scale_factor=2, mode="Bilinear"), ValueError, "mode='Bilinear'"),
    (lambda: nn.Upsample(scale_factor=2, mode="cubic"), ValueError, "mode='cubic'"),
    (lambda: nn.Upsample(scale_factor=2, mode=None), ValueError, "mode=None"),
    (lambda: nn.Upsample(scale_factor=2, align_corners=True), ValueError, "align_corners=True, mode='nearest'"),
    (lambda: nn.Upsample(scale_factor=2, mode="nearest", align_corners=False), ValueError,
     "align_corners=False, mode='nearest'"),
    (lambda: nn.Upsample(size=3, mode="nearest-exact", align_corners=False), ValueError,
     "align_corners=False, mode='nearest-exact'"),
    (lambda: nn.Upsample(size=3, mode="bilinear", align_corners=1), TypeError, "align_corners=1"),
    (lambda: nn.Upsample(size=3, mode="linear", align_corners="yes"), TypeError, "align_corners='yes'"),
    (lambda: nn.Upsample(size=3, mode="linear", recompute_scale_factor=True), ValueError,
     "recompute_scale_factor=True, size=3"),
    (lambda: nn.Upsample(scale_factor=2, recompute_scale_factor="no"), TypeError, "recompute_scale_factor='no'"),
    (lambda: nn.Upsample(mode="bilinear"), ValueError, "size=None, scale_factor=None"),
])
def test_bad_arguments_raise_naming_the_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


# the interpolating modes' ranks; torch raises NotImplementedError (a RuntimeError), fastnn its
# ShapeError (a ValueError and a RuntimeError)
RANK_ERRORS = [
    ("bilinear", (1, 2, 5)),
    ("bicubic", (1, 2, 5)),
    ("trilinear", (1, 2, 5)),
    ("linear", (1, 2, 4, 5)),
    ("trilinear", (1, 2, 4, 5)),
    ("bicubic", (1, 2, 3, 4, 5)),
    ("linear", (1, 2, 3, 4, 5)),
    ("bilinear", (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("mode, shape", RANK_ERRORS)
def test_wrong_rank_for_the_mode_raises_naming_mode_and_shape(mode, shape):
    layer = nn.Upsample(scale_factor=2, mode=mode)
    with pytest.raises(ValueError, match=f"mode='{mode}' needs a {NDIM[mode]}-D input, got a {len(shape)}-D input "
                                         f"of shape {re.escape(str(shape))}"):
        layer(np.zeros(shape, np.float32))
    with pytest.raises(RuntimeError):
        layer(np.zeros(shape, np.float32))


@pytest.mark.parametrize("mode, shape", RANK_ERRORS)
def test_torch_refuses_the_same_ranks(torch, mode, shape):
    with pytest.raises(NotImplementedError, match=mode):
        torch.nn.Upsample(scale_factor=2, mode=mode)(torch.zeros(shape))


def test_torch_refuses_align_corners_with_the_nearest_modes(torch):
    for mode in ("nearest", "nearest-exact"):
        with pytest.raises(ValueError, match="align_corners"):
            torch.nn.Upsample(scale_factor=2, mode=mode, align_corners=False)(torch.zeros(1, 1, 3))


def test_other_shape_errors_name_the_value():
    with pytest.raises(ValueError, match=r"3-D or 4-D or 5-D input, got shape \(4, 4\)"):
        nn.Upsample(scale_factor=2, mode="bilinear")(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"scale_factor=\(2.0, 2.0\) has 2 entries"):
        nn.Upsample(scale_factor=(2, 2), mode="trilinear")(np.zeros((1, 1, 2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="scale_factor=0.1 gives an empty output"):
        nn.Upsample(scale_factor=0.1, mode="bicubic")(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(TypeError, match="int64"):
        nn.Upsample(scale_factor=2, mode="linear")(np.zeros((1, 1, 5), np.int64))
    layer = nn.Upsample(size=(3, 4), mode="bicubic")
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((1, 1, 3, 4), np.float32))
    layer(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"dy of shape \(1, 1, 3, 4\).*\(1, 1, 4, 3\)"):
        layer.backward(np.zeros((1, 1, 4, 3), np.float32))


# --- config, repr -----------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [
    nn.Upsample(scale_factor=(2, 1.5), mode="bilinear", align_corners=True),
    nn.Upsample(size=[4, 5], mode="bicubic", align_corners=False),
    nn.Upsample(scale_factor=1.7, mode="linear", recompute_scale_factor=True),
    nn.Upsample(size=7, mode="nearest-exact"),
    nn.Upsample(scale_factor=0.6, mode="trilinear"),
])
def test_config_round_trips(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert (loaded.align_corners, loaded.recompute_scale_factor) == (layer.align_corners, layer.recompute_scale_factor)
    assert repr(loaded) == repr(layer)


def test_config_without_the_new_keys_loads_as_before():
    layer = nn.Upsample.from_config({"size": None, "scale_factor": [2.0, 1.5], "mode": "nearest"})
    assert layer.get_config() == {"size": None, "scale_factor": [2.0, 1.5], "mode": "nearest",
                                  "align_corners": None, "recompute_scale_factor": None}


@pytest.mark.parametrize("kw", [
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(3, 4), mode="bicubic"),
    dict(scale_factor=1.5, mode="nearest-exact", recompute_scale_factor=True),
])
def test_repr_matches_torch(torch, kw):
    assert repr(nn.Upsample(**kw)) == repr(torch.nn.Upsample(**kw))


def test_nearest_with_recompute_scale_factor_matches_torch(torch):
    """recompute_scale_factor=True: the nearest rule with in / out of the computed size."""
    for shape, factor in (((1, 2, 9, 11), (1.7, 0.6)), ((1, 2, 7), 2.5), ((1, 1, 3, 5, 4), 1.7)):
        x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
        for recompute in (True, False):
            y = nn.Upsample(scale_factor=factor, recompute_scale_factor=recompute)(x)
            want = torch.nn.Upsample(scale_factor=factor, recompute_scale_factor=recompute)(torch.tensor(x))
            np.testing.assert_array_equal(y, want.numpy())


@pytest.mark.parametrize("mode", ["nearest-exact", "bilinear", "bicubic"])
def test_non_contiguous_input_and_gradient_give_the_contiguous_results(mode):
    """Strided views (NaN in the skipped elements, so a kernel that ignores strides shows it)."""
    rng = np.random.default_rng(7)
    padded = np.full((2, 6, 5, 14), np.nan, np.float32)
    padded[:, ::2, :, 1::2] = rng.standard_normal((2, 3, 5, 7))
    x = padded[:, ::2, :, 1::2]
    layer, ref = nn.Upsample(scale_factor=(1.7, 0.6), mode=mode), nn.Upsample(scale_factor=(1.7, 0.6), mode=mode)
    y, want = layer(x), ref(np.ascontiguousarray(x))
    np.testing.assert_array_equal(y, want)
    dy_padded = np.full(y.shape[:3] + (2 * y.shape[3],), np.nan, np.float32)
    dy_padded[..., ::2] = rng.standard_normal(y.shape)
    dy = dy_padded[..., ::2]
    np.testing.assert_array_equal(layer.backward(dy), ref.backward(np.ascontiguousarray(dy)))


@pytest.mark.parametrize("mode, shape, kw", [
    ("linear", (1, 1, 7), dict(scale_factor=1.7)),
    ("linear", (1, 1, 5), dict(scale_factor=1.1)),
    ("bilinear", (1, 1, 5, 6), dict(scale_factor=(1.7, 0.6))),
    ("bilinear", (1, 1, 5, 6), dict(size=(9, 4), align_corners=True)),
    ("bicubic", (1, 1, 5, 6), dict(scale_factor=(2.5, 0.6))),
    ("trilinear", (1, 1, 3, 4, 5), dict(scale_factor=1.5)),
    ("nearest-exact", (1, 1, 5, 6), dict(scale_factor=(1.7, 0.6))),
])
def test_nan_and_inf_reach_the_outputs_torch_gives_them_to(torch, mode, shape, kw):
    """Only the positions an output reads (zero weights included: inf * 0 is NaN) enter its
    sum, forward and backward, so NaN and inf land where torch's do, without a warning."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    x.flat[3], x.flat[-2] = np.nan, np.inf
    layer = nn.Upsample(mode=mode, **kw)
    y = layer(x)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.Upsample(mode=mode, **kw)(tx)
    dy = rng.standard_normal(y.shape)
    dy.flat[2], dy.flat[-1] = np.nan, -np.inf
    ty.backward(torch.tensor(dy))
    dx = layer.backward(dy)
    for got, want in ((y, ty.detach().numpy()), (dx, tx.grad.numpy())):
        assert np.isnan(got).any() or np.isinf(got).any()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.where(np.isinf(got), got, 0), np.where(np.isinf(want), want, 0))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], **GRAD[np.float64])


# --- UpsamplingNearest2d and UpsamplingBilinear2d (align_corners=True) ---------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kw", [
    ("UpsamplingNearest2d", dict(scale_factor=2)),
    ("UpsamplingNearest2d", dict(size=(5, 3))),
    ("UpsamplingBilinear2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=(7, 2))),
    ("UpsamplingBilinear2d", dict(scale_factor=(1.5, 0.5))),
])
def test_upsampling2d_classes_match_torch(torch, name, kw, dtype):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(dtype)
    layer = getattr(nn, name)(**kw)
    y, dx, ty, tdx = _run(torch, layer, lambda: getattr(torch.nn, name)(**kw), x)
    assert y.shape == ty.shape and dx.shape == x.shape
    np.testing.assert_allclose(y, ty, **INTERP[dtype], err_msg="y")
    np.testing.assert_allclose(dx, tdx, **GRAD[dtype], err_msg="dx")
    assert repr(layer) == repr(getattr(torch.nn, name)(**kw))


@pytest.mark.parametrize("layer", [nn.UpsamplingNearest2d(scale_factor=(2, 3)),
                                   nn.UpsamplingBilinear2d(size=(4, 6))])
def test_upsampling2d_classes_round_trip(layer, tmp_path):
    fastnn.save(layer, tmp_path / "layer.fnn")
    loaded = fastnn.load(tmp_path / "layer.fnn")
    assert type(loaded) is type(layer) and loaded.get_config() == layer.get_config()
    assert (loaded.mode, loaded.align_corners) == (layer.mode, layer.align_corners)
    x = np.random.default_rng(4).standard_normal((1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), layer(x))


def test_upsampling_bilinear2d_keeps_the_corners_and_refuses_other_ranks():
    x = np.random.default_rng(5).standard_normal((1, 1, 3, 4))
    y = nn.UpsamplingBilinear2d(size=(5, 9))(x)
    np.testing.assert_allclose(y[..., [0, 0, -1, -1], [0, -1, 0, -1]], x[..., [0, 0, -1, -1], [0, -1, 0, -1]],
                               rtol=1e-15)
    with pytest.raises(ValueError, match=r"bilinear.*\(1, 1, 3\)"):
        nn.UpsamplingBilinear2d(scale_factor=2)(np.zeros((1, 1, 3)))
    with pytest.raises(ValueError, match="size=None, scale_factor=None"):
        nn.UpsamplingNearest2d()


# --- "area": torch's adaptive average pooling to the output size ------------------------------
# Compared with torch in float64 on the same values (the truth for float32 too: torch's float32
# kernel accumulates in float32, fastnn sums in float64 and rounds once). A window mean of
# <= 10 values and a dx sum of <= 27 dy: float32 within a few u of the truth, INTERP / GRAD.
AREA_CASES = [
    ((2, 3, 7), dict(size=3)),  # windows of 3 overlapping by one: 0-2, 2-4, 4-6
    ((1, 2, 10), dict(size=4)),
    ((1, 2, 5), dict(size=11)),  # up: each output reads one input
    ((2, 3, 6, 9), dict(size=(4, 2))),
    ((1, 2, 7, 5), dict(scale_factor=0.5)),
    ((1, 2, 3, 4), dict(scale_factor=(1.7, 2.0), recompute_scale_factor=True)),
    ((2, 1, 5, 5), dict(size=1)),  # the global mean
    ((1, 2, 4, 6, 5), dict(size=(3, 2, 5))),
    ((1, 1, 7, 10, 5), dict(scale_factor=3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", AREA_CASES)
def test_area_mode_matches_torch(torch, shape, kw, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(dtype)
    layer = nn.Upsample(mode="area", **kw)
    y = layer(x)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty = torch.nn.functional.interpolate(tx, mode="area", **kw)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **INTERP[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    (ty * torch.tensor(dy.astype(np.float64))).sum().backward()
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), **GRAD[dtype])


def test_area_mode_is_adaptive_average_pooling_and_keeps_nan():
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 7))
    np.testing.assert_allclose(nn.Upsample(size=(4, 3), mode="area")(x), nn.AdaptiveAvgPool2d((4, 3))(x),
                               rtol=1e-12, atol=1e-12)
    x[0, 0, 0, 0] = np.nan  # in output (0, 0)'s window only (rows 0-2, columns 0-2)
    y = nn.Upsample(size=(4, 3), mode="area")(x)
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(np.delete(y.ravel(), 0)).all()


def test_area_mode_gradient_matches_central_differences():
    check_module_gradients(nn.Upsample(size=(3, 2), mode="area"), np.random.default_rng(9).standard_normal((1, 2, 7, 5)))
