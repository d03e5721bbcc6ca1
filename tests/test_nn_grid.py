"""affine_grid / grid_sample (fastnn.nn._grid) and their backward functions vs torch 2.13."""
import warnings

import numpy as np
import pytest

from fastnn.nn._grid import affine_grid, affine_grid_backward, grid_sample, grid_sample_backward

torch = pytest.importorskip("torch")
F = torch.nn.functional

MODES = ("bilinear", "nearest", "bicubic")
PADS = ("zeros", "border", "reflection")
TOL = {np.float32: dict(rtol=1e-5, atol=3e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _torch_sample(x, g, mode, pad, ac):
    return F.grid_sample(torch.from_numpy(x), torch.from_numpy(g), mode, pad, ac).numpy()


def _torch_grads(x, g, dy, mode, pad, ac):
    xt = torch.from_numpy(x).requires_grad_()
    gt = torch.from_numpy(g).requires_grad_()
    F.grid_sample(xt, gt, mode, pad, ac).backward(torch.from_numpy(dy))
    return xt.grad.numpy(), gt.grad.numpy()


CASES_4D = [((2, 3, 5, 7), (2, 4, 6, 2)), ((1, 1, 4, 3), (1, 3, 5, 2)), ((1, 2, 1, 6), (1, 2, 3, 2))]
CASES_5D = [((2, 2, 4, 5, 3), (2, 3, 2, 4, 3)), ((1, 1, 3, 1, 4), (1, 2, 3, 2, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("ac", [False, True])
def test_forward_4d(dtype, mode, pad, ac):
    rng = _rng(1)
    for ins, gs in CASES_4D:
        x = rng.standard_normal(ins).astype(dtype)
        g = rng.uniform(-1.7, 1.7, gs).astype(dtype)  # reaches outside [-1, 1]
        y = grid_sample(x, g, mode, pad, ac)
        assert y.dtype == dtype and y.shape == ins[:2] + gs[1:3]
        np.testing.assert_allclose(y, _torch_sample(x, g, mode, pad, ac), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("ac", [False, True])
def test_forward_5d(dtype, mode, pad, ac):
    rng = _rng(2)
    for ins, gs in CASES_5D:
        x = rng.standard_normal(ins).astype(dtype)
        g = rng.uniform(-1.7, 1.7, gs).astype(dtype)
        y = grid_sample(x, g, mode, pad, ac)
        assert y.dtype == dtype and y.shape == ins[:2] + gs[1:4]
        np.testing.assert_allclose(y, _torch_sample(x, g, mode, pad, ac), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,mode", [(4, "bilinear"), (4, "nearest"), (4, "bicubic"), (5, "bilinear"),
                                     (5, "nearest")])
@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("ac", [False, True])
def test_backward_vs_autograd(dtype, mode, pad, ac, nd):
    rng = _rng(3)
    for ins, gs in (CASES_4D if nd == 4 else CASES_5D):
        x = rng.standard_normal(ins).astype(dtype)
        g = rng.uniform(-1.7, 1.7, gs).astype(dtype)
        dy = rng.standard_normal(ins[:2] + gs[1:-1]).astype(dtype)
        d_in, d_grid = grid_sample_backward(dy, x, g, mode, pad, ac)
        t_in, t_grid = _torch_grads(x, g, dy, mode, pad, ac)
        assert d_in.dtype == dtype and d_grid.dtype == dtype
        assert d_in.shape == x.shape and d_grid.shape == g.shape
        np.testing.assert_allclose(d_in, t_in, **TOL[dtype])
        np.testing.assert_allclose(d_grid, t_grid, **TOL[dtype])
        if mode == "nearest":
            assert not d_grid.any()


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_backward_central_differences_float64(mode):
    """d_grid and d_input with reflection by central differences (independent of torch)."""
    rng = _rng(4)
    x = rng.standard_normal((1, 2, 4, 5))
    g = rng.uniform(-1.4, 1.4, (1, 3, 2, 2))
    dy = rng.standard_normal((1, 2, 3, 2))
    d_in, d_grid = grid_sample_backward(dy, x, g, mode, "reflection", False)
    h = 1e-6

    def numeric(a, f):
        out = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            ap, am = a.copy(), a.copy()
            ap[i] += h
            am[i] -= h
            out[i] = ((f(ap) * dy).sum() - (f(am) * dy).sum()) / (2 * h)
        return out
    np.testing.assert_allclose(d_grid, numeric(g, lambda v: grid_sample(x, v, mode, "reflection", False)),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_in, numeric(x, lambda v: grid_sample(v, g, mode, "reflection", False)),
                               rtol=1e-6, atol=1e-7)


def test_identity_grid_reproduces_input():
    """align_corners=True: grid points at pixel centres sample the pixels exactly (hand-derived)."""
    x = np.arange(12, dtype=np.float64).reshape(1, 1, 3, 4)
    ys, xs = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), indexing="ij")
    g = np.stack([xs, ys], -1)[None]
    for mode in MODES:
        np.testing.assert_allclose(grid_sample(x, g, mode, "zeros", True), x, atol=1e-12)
    # half-way between pixels 0 and 1 of row 0 (x = -1 + 1/3): bilinear is their mean
    assert grid_sample(x, np.array([[[[-2 / 3, -1.0]]]]), "bilinear", "zeros", True).item() == pytest.approx(0.5)
    # outside on the left with zeros padding, align_corners=False: x = -1 is the left edge, half a pixel
    assert grid_sample(x, np.array([[[[-1.0, -1.0 + 1 / 3]]]]), "bilinear", "zeros", False).item() == pytest.approx(0.0)


def test_nearest_rounds_half_to_even():
    # align_corners=True, W=5: x = -0.75 -> 0.5 (-> 0), -0.25 -> 1.5 (-> 2), 0.25 -> 2.5 (-> 2)
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 1, 5)
    g = np.array([[[[-0.75, 0.0], [-0.25, 0.0], [0.25, 0.0], [0.75, 0.0]]]])
    y = grid_sample(x, g, "nearest", "zeros", True)
    np.testing.assert_array_equal(y.ravel(), [0, 2, 2, 4])
    np.testing.assert_array_equal(y, _torch_sample(x, g, "nearest", "zeros", True))


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("mode", MODES)
def test_non_finite_grid_as_torch(pad, mode):
    x = _rng(5).standard_normal((1, 2, 3, 4))
    g = np.array([[[[np.nan, 0.3], [0.2, np.nan], [np.inf, 0.1], [-np.inf, 0.5], [0.1, -np.inf]]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NumPy
        y = grid_sample(x, g, mode, pad, False)
    np.testing.assert_allclose(y, _torch_sample(x, g, mode, pad, False), equal_nan=True)


@pytest.mark.parametrize("ac", [False, True])
def test_unit_and_edge_sizes(ac):
    rng = _rng(6)
    for ins, gs in [((1, 1, 1, 1), (1, 3, 2, 2)), ((1, 1, 1, 1, 1), (1, 2, 2, 2, 3)), ((3, 1, 2, 1), (3, 1, 1, 2))]:
        x = rng.standard_normal(ins)
        g = rng.uniform(-2, 2, gs)
        for mode in (("bilinear", "nearest", "bicubic") if len(ins) == 4 else ("bilinear", "nearest")):
            for pad in PADS:
                np.testing.assert_allclose(grid_sample(x, g, mode, pad, ac), _torch_sample(x, g, mode, pad, ac),
                                           rtol=1e-12, atol=1e-12)
                dy = rng.standard_normal(ins[:2] + gs[1:-1])
                for a, b in zip(grid_sample_backward(dy, x, g, mode, pad, ac),
                                _torch_grads(x, g, dy, mode, pad, ac)):
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ins,gs", [((0, 2, 3, 3), (0, 2, 2, 2)), ((2, 0, 3, 3), (2, 2, 2, 2)),
                                    ((2, 2, 3, 3), (2, 0, 4, 2)), ((1, 2, 2, 3, 3), (1, 2, 0, 1, 3))])
def test_empty(ins, gs):
    x = np.ones(ins, np.float32)
    g = np.zeros(gs, np.float32)
    y = grid_sample(x, g, "bilinear", "zeros", False)
    assert y.shape == _torch_sample(x, g, "bilinear", "zeros", False).shape and y.dtype == np.float32
    d_in, d_grid = grid_sample_backward(np.zeros(y.shape, np.float32), x, g, "bilinear", "zeros", False)
    assert d_in.shape == ins and d_grid.shape == gs and not d_in.any()


def test_non_contiguous_and_float16():
    rng = _rng(7)
    x = rng.standard_normal((2, 5, 6, 3)).transpose(0, 3, 2, 1)  # (2, 3, 6, 5), not C-contiguous
    g = rng.uniform(-1.2, 1.2, (2, 2, 4, 3)).transpose(0, 2, 1, 3)[..., :2]
    np.testing.assert_allclose(grid_sample(x, g, "bicubic", "reflection", False),
                               _torch_sample(np.ascontiguousarray(x), np.ascontiguousarray(g), "bicubic",
                                             "reflection", False), rtol=1e-12, atol=1e-12)
    # float16 is computed in float32 and rounded once (torch's half kernel rounds each step)
    x16, g16 = x.astype(np.float16), g.astype(np.float16)
    y = grid_sample(x16, g16, "bilinear", "border", True)
    assert y.dtype == np.float16
    ref = _torch_sample(np.ascontiguousarray(x16, np.float32), np.ascontiguousarray(g16, np.float32), "bilinear",
                        "border", True).astype(np.float16)
    np.testing.assert_allclose(y.astype(np.float64), ref.astype(np.float64), rtol=1e-3, atol=1e-3)


# --- affine_grid -------------------------------------------------------------------------------

AFFINE_SIZES = [(2, 3, 4, 5), (1, 1, 1, 6), (1, 2, 7, 1), (2, 1, 3, 2, 4), (1, 1, 1, 3, 1), (1, 1, 1, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("size", AFFINE_SIZES)
def test_affine_grid_and_backward(dtype, ac, size):
    rng = _rng(8)
    d = len(size) - 2
    theta = rng.standard_normal((size[0], d, d + 1)).astype(dtype)
    dg = rng.standard_normal((size[0],) + size[2:] + (d,)).astype(dtype)
    tt = torch.from_numpy(theta).requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unit-size warning of align_corners=True
        ref = F.affine_grid(tt, size, ac)
        grid = affine_grid(theta, size, ac)
    ref.backward(torch.from_numpy(dg))
    assert grid.dtype == dtype and grid.shape == tuple(ref.shape)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(grid, ref.detach().numpy(), **tol)
    d_theta = affine_grid_backward(dg, size, ac)
    assert d_theta.dtype == dtype and d_theta.shape == theta.shape
    np.testing.assert_allclose(d_theta, tt.grad.numpy(), **tol)


def test_affine_identity_hand_derived():
    theta = np.array([[[1.0, 0, 0], [0, 1, 0]]])
    g = affine_grid(theta, (1, 1, 2, 3), align_corners=False)
    np.testing.assert_allclose(g[0, :, :, 0], [[-2 / 3, 0, 2 / 3]] * 2)
    np.testing.assert_allclose(g[0, :, :, 1], [[-0.5] * 3, [0.5] * 3])
    g = affine_grid(theta, (1, 1, 2, 3), align_corners=True)
    np.testing.assert_allclose(g[0, :, :, 0], [[-1, 0, 1]] * 2)


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("ac", [False, True])
def test_spatial_transformer_chain_gradients(pad, ac):
    """affine_grid -> grid_sample; d_theta from the two backward functions vs torch autograd."""
    rng = _rng(9)
    x = rng.standard_normal((2, 3, 6, 5))
    theta = np.array([[[0.9, -0.3, 0.1], [0.2, 1.1, -0.2]], [[1.3, 0.4, 0.3], [-0.5, 0.8, 0.4]]])
    size = (2, 3, 4, 7)
    dy = rng.standard_normal((2, 3, 4, 7))
    grid = affine_grid(theta, size, ac)
    y = grid_sample(x, grid, "bilinear", pad, ac)
    d_in, d_grid = grid_sample_backward(dy, x, grid, "bilinear", pad, ac)
    d_theta = affine_grid_backward(d_grid, size, ac)
    xt = torch.from_numpy(x).requires_grad_()
    tt = torch.from_numpy(theta).requires_grad_()
    yt = F.grid_sample(xt, F.affine_grid(tt, size, ac), "bilinear", pad, ac)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_in, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_theta, tt.grad.numpy(), rtol=1e-10, atol=1e-12)


# --- warnings and errors -------------------------------------------------------------------------

ALIGN_MSG = "Default grid_sample and affine_grid behavior has changed to align_corners=False"


def test_align_corners_none_warns_and_means_false():
    rng = _rng(10)
    x = rng.standard_normal((1, 2, 3, 4))
    theta = rng.standard_normal((1, 2, 3))
    with pytest.warns(UserWarning, match=ALIGN_MSG):
        g = affine_grid(theta, (1, 2, 3, 4))
    np.testing.assert_array_equal(g, affine_grid(theta, (1, 2, 3, 4), align_corners=False))
    with pytest.warns(UserWarning, match=ALIGN_MSG):
        y = grid_sample(x, g)
    np.testing.assert_array_equal(y, grid_sample(x, g, align_corners=False))
    with pytest.warns(UserWarning, match=ALIGN_MSG):
        grid_sample_backward(np.ones_like(y), x, g, "bilinear", "zeros", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid_sample(x, g, align_corners=True)
        affine_grid(theta, (1, 2, 3, 4), align_corners=False)


def test_affine_unit_size_warning():
    with pytest.warns(UserWarning, match="affine_grid behavior has changed for unit-size grids"):
        affine_grid(np.zeros((1, 2, 3)), (1, 1, 1, 4), align_corners=True)


def test_grid_sample_errors():
    x = np.zeros((1, 1, 3, 3), np.float32)
    g = np.zeros((1, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'linear'"):
        grid_sample(x, g, mode="linear", align_corners=False)
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or 'reflection', but got: "
                                         "'wrap'"):
        grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match=r"expected grid to have size 2 in last dimension, but got grid with sizes "
                                           r"\[1, 2, 2, 3\]"):
        grid_sample(x, np.zeros((1, 2, 2, 3), np.float32), align_corners=False)
    with pytest.raises(RuntimeError, match="expected grid and input to have same batch size"):
        grid_sample(x, np.zeros((2, 2, 2, 2), np.float32), align_corners=False)
    with pytest.raises(RuntimeError, match="expected 4D input and grid with same number of dimensions"):
        grid_sample(x, np.zeros((1, 2, 2, 2, 2), np.float32), align_corners=False)
    with pytest.raises(RuntimeError, match="expected 5D input and grid with same number of dimensions"):
        grid_sample(np.zeros((1, 1, 3), np.float32), np.zeros((1, 2, 1), np.float32), align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
        grid_sample(np.zeros((1, 1, 2, 2, 2), np.float32), np.zeros((1, 1, 1, 1, 3), np.float32), "bicubic",
                    align_corners=False)
    with pytest.raises(RuntimeError, match="non-empty spatial dimensions.*dimension 2 being empty"):
        grid_sample(np.zeros((1, 1, 0, 3), np.float32), g, align_corners=False)
    with pytest.raises(RuntimeError, match="same dtype, but input has float32 and grid has float64"):
        grid_sample(x, g.astype(np.float64), align_corners=False)
    with pytest.raises(NotImplementedError, match="must be floating point, got int64"):
        grid_sample(x.astype(np.int64), g.astype(np.int64), align_corners=False)
    with pytest.raises(TypeError, match="grid must be a NumPy or CuPy array, got list"):
        grid_sample(x, [[0.0, 0.0]], align_corners=False)


def test_backward_errors():
    x = np.zeros((1, 1, 3, 3))
    g = np.zeros((1, 2, 2, 2))
    with pytest.raises(ValueError, match=r"dy must have grid_sample's output shape \(1, 1, 2, 2\)"):
        grid_sample_backward(np.zeros((1, 1, 2, 3)), x, g, "bilinear", "zeros", False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D input"):
        grid_sample_backward(np.zeros((1, 1, 2, 2, 2)), np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 2, 2, 2, 3)),
                             "bicubic", "zeros", False)
    with pytest.raises(ValueError, match="but got: 'area'"):
        grid_sample_backward(np.zeros((1, 1, 2, 2)), x, g, "area", "zeros", False)
    with pytest.raises(ValueError, match=r"d_grid must have affine_grid's output shape \(1, 2, 2, 2\)"):
        affine_grid_backward(np.zeros((1, 2, 2, 3)), (1, 1, 2, 2), False)


def test_affine_grid_errors():
    with pytest.raises(ValueError, match=r"Nx2x3 for size \(1, 1, 3, 3\). Got \(1, 3, 4\)"):
        affine_grid(np.zeros((1, 3, 4)), (1, 1, 3, 3), align_corners=False)
    with pytest.raises(ValueError, match=r"Nx3x4 for size \(1, 1, 2, 3, 3\). Got \(1, 2, 3\)"):
        affine_grid(np.zeros((1, 2, 3)), (1, 1, 2, 3, 3), align_corners=False)
    with pytest.raises(NotImplementedError, match=r"only supports 4D and 5D sizes.*Got size \(1, 1, 3\)"):
        affine_grid(np.zeros((1, 2, 3)), (1, 1, 3), align_corners=False)
    with pytest.raises(ValueError, match=r"Expected non-zero, positive output size. Got \(1, 1, 0, 3\)"):
        affine_grid(np.zeros((1, 2, 3)), (1, 1, 0, 3), align_corners=False)
    with pytest.raises(ValueError, match="Expected theta to have floating point type, but got int64"):
        affine_grid(np.zeros((1, 2, 3), np.int64), (1, 1, 2, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="theta holds 2 affine matrices but size asks for a batch of 1"):
        affine_grid(np.zeros((2, 2, 3)), (1, 1, 2, 3), align_corners=False)
