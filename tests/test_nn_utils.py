"""fastnn.nn.utils.clip_grad, convert_parameters and fusion against torch.nn.utils, float32 and
float64: norms, clipped gradients, flattened parameters, fused weights and the forward of the
fused layers; argument errors.

Tolerances: EXACT for copies; NORM (rtol/atol 1e-6 float32, 1e-12 float64) for norms, which
fastnn sums in float64 (compared with torch in float64 on the same values); FUSED (1e-6 float32,
1e-12 float64; float32 against torch computing in float32 too) for fused weights and forwards.
"""
import copy
import warnings

import numpy as np
import pytest

from fastnn import nn
from fastnn.nn.module import Parameter
from fastnn.nn.utils import clip_grad as cg
from fastnn.nn.utils import convert_parameters as cp
from fastnn.nn.utils import fusion as fu
from fastnn.optim import clip as optim_clip

DTYPES = [np.float32, np.float64]
EXACT = dict(rtol=0, atol=0)
NORM = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
FUSED = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
SHAPES = [(3, 4), (5,), (2, 3, 2), ()]
PSHAPES = [(3, 4), (5,), (2, 3, 2), (1,)]  # (a Parameter is never 0-d)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _arrays(rng, dtype, shapes=SHAPES, scale=3.0):
    return [np.asarray(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]


def _params_with_grads(rng, dtype, shapes=PSHAPES):
    params = []
    for s in shapes:
        p = Parameter(np.asarray(rng.standard_normal(s)).astype(dtype))
        p.grad = np.asarray(rng.standard_normal(s) * 2).astype(dtype)
        params.append(p)
    return params


def _torch_params(torch, params):
    out = []
    for p in params:
        t = torch.nn.Parameter(torch.tensor(p.data.copy()))
        t.grad = torch.tensor(p.grad.copy())
        out.append(t)
    return out


# --- clip_grad ---------------------------------------------------------------------------------

def test_reexports_are_the_optim_functions():
    assert cg.clip_grad_norm_ is optim_clip.clip_grad_norm_
    assert cg.clip_grad_value_ is optim_clip.clip_grad_value_


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, 0.5, float("inf")])
def test_get_total_norm_matches_torch(torch, dtype, norm_type):
    rng = np.random.default_rng(int(min(norm_type, 9.0) * 10))
    for _ in range(3):
        arrays = _arrays(rng, dtype)
        got = cg.get_total_norm(arrays, norm_type)
        want = torch.nn.utils.get_total_norm([torch.tensor(a.astype(np.float64)) for a in arrays], norm_type)
        assert type(got) is np.float64
        np.testing.assert_allclose(got, want.item(), **NORM[dtype])
        # a single array, a generator
        single = cg.get_total_norm(arrays[0], norm_type)
        np.testing.assert_allclose(single, torch.nn.utils.get_total_norm(
            torch.tensor(arrays[0].astype(np.float64)), norm_type).item(), **NORM[dtype])
        assert cg.get_total_norm((a for a in arrays), norm_type) == got


def test_get_total_norm_edge_cases(torch):
    assert cg.get_total_norm([]) == 0.0 and type(cg.get_total_norm([])) is np.float64
    bad = [np.array([1.0, np.nan]), np.ones(2)]
    assert np.isnan(cg.get_total_norm(bad)) and np.isnan(cg.get_total_norm(bad, float("inf")))
    assert np.isnan(torch.nn.utils.get_total_norm([torch.tensor(a) for a in bad]).item())
    with pytest.raises(RuntimeError, match="non-finite"):
        cg.get_total_norm(bad, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        cg.get_total_norm([np.array([np.inf])], 2.0, True)
    for foreach in (None, True, False):
        assert cg.get_total_norm([np.array([3.0, 4.0])], foreach=foreach) == 5.0


@pytest.mark.parametrize("kwargs, err, word", [
    (dict(tensors=[[1.0, 2.0]]), TypeError, "tensors"),
    (dict(tensors=3.0), TypeError, "tensors"),
    (dict(tensors=[np.arange(3)]), TypeError, "int"),
    (dict(tensors=[np.ones(2)], norm_type="2"), TypeError, "norm_type"),
    (dict(tensors=[np.ones(2)], error_if_nonfinite="yes"), TypeError, "error_if_nonfinite"),
    (dict(tensors=[np.ones(2)], foreach="fast"), TypeError, "foreach"),
])
def test_get_total_norm_errors(kwargs, err, word):
    with pytest.raises(err, match=word):
        cg.get_total_norm(**kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.0, 0.5, 3.0, 1e6])
def test_clip_grads_with_norm_matches_torch(torch, dtype, norm_type, max_norm):
    rng = np.random.default_rng(7)
    params = _params_with_grads(rng, dtype)
    tparams = _torch_params(torch, params)
    total = cg.get_total_norm([p.grad for p in params], norm_type)
    ttotal = torch.nn.utils.get_total_norm([t.grad for t in tparams], norm_type)
    assert cg.clip_grads_with_norm_(params, max_norm, total) is None
    torch.nn.utils.clip_grads_with_norm_(tparams, max_norm, ttotal)
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), **NORM[dtype])
    # the same as clip_grad_norm_ in one call
    again = _params_with_grads(np.random.default_rng(7), dtype)
    assert cg.clip_grad_norm_(again, max_norm, norm_type) == total
    for p, q in zip(params, again):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_clip_grads_with_norm_inputs(torch):
    rng = np.random.default_rng(3)
    params = _params_with_grads(rng, np.float64)
    before = [p.grad.copy() for p in params]
    cg.clip_grads_with_norm_(params, 1.0, np.array(0.5))  # coefficient >= 1: unchanged
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad, b)
    cg.clip_grads_with_norm_(params[0], 1.0, np.array([4.0]))  # a single parameter, a size-1 array
    np.testing.assert_allclose(params[0].grad, before[0] * (1.0 / (4.0 + 1e-6)), **NORM[np.float64])
    np.testing.assert_array_equal(params[1].grad, before[1])
    cg.clip_grads_with_norm_(params[1:], 1.0, float("nan"))  # NaN scales, as torch's clamp passes it on
    assert all(np.isnan(p.grad).all() for p in params[1:])
    t = torch.nn.Parameter(torch.ones(2)); t.grad = torch.ones(2)
    torch.nn.utils.clip_grads_with_norm_([t], 1.0, torch.tensor(float("nan")))
    assert torch.isnan(t.grad).all()
    # a parameter without a gradient is skipped (torch: grad None)
    lin = nn.Linear(2, 2)
    lin.zero_grad()
    cg.clip_grads_with_norm_(lin, 1.0, 10.0)
    assert not lin.weight.has_grad
    for kwargs, err, word in [(dict(max_norm=-1.0, total_norm=1.0), ValueError, "max_norm=-1"),
                              (dict(max_norm="1", total_norm=1.0), TypeError, "max_norm"),
                              (dict(max_norm=1.0, total_norm=-2.0), ValueError, "total_norm=-2"),
                              (dict(max_norm=1.0, total_norm="x"), TypeError, "total_norm"),
                              (dict(max_norm=1.0, total_norm=np.ones(2)), ValueError, "total_norm"),
                              (dict(max_norm=1.0, total_norm=1.0, foreach=1), TypeError, "foreach")]:
        with pytest.raises(err, match=word):
            cg.clip_grads_with_norm_(params, **kwargs)


def test_clip_grad_norm_deprecated(torch):
    params = _params_with_grads(np.random.default_rng(5), np.float64)
    tparams = _torch_params(torch, params)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        total = cg.clip_grad_norm(params, 0.7, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ttotal = torch.nn.utils.clip_grad_norm(tparams, 0.7, 3.0)
    np.testing.assert_allclose(total, ttotal.item(), **NORM[np.float64])
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), **NORM[np.float64])


# --- convert_parameters ------------------------------------------------------------------------

def _model(dtype):
    m = nn.Sequential(nn.Linear(3, 4), nn.Conv2d(2, 3, 2), nn.BatchNorm1d(4))
    if dtype == np.float64:
        m.double()
    rng = np.random.default_rng(11)
    for p in m.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    return m


@pytest.mark.parametrize("dtype", DTYPES)
def test_parameters_to_vector_matches_torch(torch, dtype):
    m = _model(dtype)
    params = list(m.parameters())
    vec = cp.parameters_to_vector(params)
    want = torch.nn.utils.parameters_to_vector([torch.tensor(p.data) for p in params])
    assert vec.dtype == dtype and vec.ndim == 1
    np.testing.assert_array_equal(vec, want.numpy())
    np.testing.assert_array_equal(cp.parameters_to_vector(m), vec)  # a Module: its parameters()
    np.testing.assert_array_equal(cp.parameters_to_vector(p for p in params), vec)
    vec[0] += 1  # a new array, not a view of a parameter
    assert params[0].data.reshape(-1)[0] != vec[0]
    # mixed dtypes promote, as torch.cat
    mixed = [np.ones(2, np.float32) / 3, np.ones(3) / 3]
    got = cp.parameters_to_vector(mixed)
    want = torch.nn.utils.parameters_to_vector([torch.tensor(a) for a in mixed])
    assert got.dtype == np.float64 and want.dtype == torch.float64
    np.testing.assert_array_equal(got, want.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_to_parameters_matches_torch(torch, dtype):
    m = _model(dtype)
    params = list(m.parameters())
    datas = [p.data for p in params]
    total = sum(p.size for p in params)
    vec = np.random.default_rng(2).standard_normal(total).astype(dtype)
    tparams = [torch.nn.Parameter(torch.tensor(p.data.copy())) for p in params]
    assert cp.vector_to_parameters(vec, params) is None
    torch.nn.utils.vector_to_parameters(torch.tensor(vec), tparams)
    for p, d, t in zip(params, datas, tparams):
        assert p.data is d  # written in place
        np.testing.assert_array_equal(p.data, t.detach().numpy())
    np.testing.assert_array_equal(cp.parameters_to_vector(params), vec)
    vec[0] = 123.0  # a copy, not a view of vec
    assert params[0].data.reshape(-1)[0] != 123.0


def test_vector_to_parameters_errors():
    params = [Parameter(np.zeros((2, 3))), Parameter(np.zeros(4))]
    with pytest.raises(TypeError, match="list"):
        cp.vector_to_parameters([0.0] * 10, params)
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        cp.vector_to_parameters(np.zeros((2, 5)), params)
    for n in (9, 11):
        with pytest.raises(ValueError, match=f"{n} elements.*10"):
            cp.vector_to_parameters(np.ones(n), params)
        assert all((p.data == 0).all() for p in params)  # nothing written
    with pytest.raises(TypeError, match="complex"):
        cp.vector_to_parameters(np.ones(10, np.complex128), params)
    with pytest.raises(TypeError, match="parameters"):
        cp.vector_to_parameters(np.ones(10), 5)
    with pytest.raises(TypeError, match=r"parameters\[1\]"):
        cp.parameters_to_vector([params[0], "w"])
    with pytest.raises(ValueError, match="no parameters"):
        cp.parameters_to_vector([])


# --- fusion ------------------------------------------------------------------------------------

def _bn_arrays(rng, c, dtype):
    return (rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.2).astype(dtype),
            rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("with_bias, affine", [(True, True), (False, True), (True, False), (False, False)])
def test_fuse_conv_bn_weights_matches_torch(torch, dtype, transpose, with_bias, affine):
    rng = np.random.default_rng(1 + 2 * transpose + with_bias)
    w = rng.standard_normal((3, 5, 2, 2) if transpose else (5, 3, 2, 2)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype) if with_bias else None
    rm, rv, bw, bb = _bn_arrays(rng, 5, dtype)
    if not affine:
        bw = bb = None
    fw, fb = fu.fuse_conv_bn_weights(w, b, rm, rv, 1e-3, bw, bb, transpose)
    T = lambda a: None if a is None else torch.tensor(a)
    tw, tb = torch.nn.utils.fuse_conv_bn_weights(T(w), T(b), T(rm), T(rv), 1e-3, T(bw), T(bb), transpose)
    assert isinstance(fw, Parameter) and isinstance(fb, Parameter)
    assert fw.dtype == dtype and fb.dtype == dtype and fb.shape == (5,)
    np.testing.assert_allclose(fw.data, tw.detach().numpy(), **FUSED[dtype])
    np.testing.assert_allclose(fb.data, tb.detach().numpy(), **FUSED[dtype])
    # plain arrays are tensors without requires_grad: the Parameters are not trainable, as torch's
    assert fw.trainable == tw.requires_grad and fb.trainable == tb.requires_grad
    pw, pb = fu.fuse_conv_bn_weights(Parameter(w), None if b is None else Parameter(b), rm, rv, 1e-3, bw, bb,
                                     transpose)
    assert pw.trainable and pb.trainable == with_bias


def test_fuse_weights_dtypes_and_errors(torch):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((4, 2, 3))  # float64 conv, float32 BatchNorm, float32 bias
    b = rng.standard_normal(4).astype(np.float32)
    bn = [a.astype(np.float32) for a in _bn_arrays(rng, 4, np.float64)]
    fw, fb = fu.fuse_conv_bn_weights(w, b, *bn[:2], 1e-5, *bn[2:])
    tw, tb = torch.nn.utils.fuse_conv_bn_weights(*(torch.tensor(a) for a in (w, b, *bn[:2])), 1e-5,
                                                 *(torch.tensor(a) for a in bn[2:]))
    assert fw.dtype == np.float64 and fb.dtype == np.float32 and tb.dtype == torch.float32
    np.testing.assert_allclose(fw.data, tw.detach().numpy(), **FUSED[np.float32])
    np.testing.assert_allclose(fb.data, tb.detach().numpy(), **FUSED[np.float32])
    lw, lb = fu.fuse_linear_bn_weights(w[:, :, 0], None, *bn[:2], 1e-5, *bn[2:])
    tlw, tlb = torch.nn.utils.fuse_linear_bn_weights(torch.tensor(w[:, :, 0]), None, *(torch.tensor(a) for a in
                                                     bn[:2]), 1e-5, *(torch.tensor(a) for a in bn[2:]))
    assert lw.dtype == lb.dtype == np.float64 and tlb.dtype == torch.float64
    np.testing.assert_allclose(lw.data, tlw.detach().numpy(), **FUSED[np.float32])
    np.testing.assert_allclose(lb.data, tlb.detach().numpy(), **FUSED[np.float32])
    with pytest.raises(ValueError, match=r"bn_rv.*\(3,\)"):
        fu.fuse_conv_bn_weights(w, None, bn[0], bn[1][:3], 1e-5, None, None)
    with pytest.raises(ValueError, match=r"conv_w.*\(4,\)"):
        fu.fuse_conv_bn_weights(w[:, 0, 0], None, *bn[:2], 1e-5, None, None)
    with pytest.raises(TypeError, match="conv_w"):
        fu.fuse_conv_bn_weights([[1.0]], None, *bn[:2], 1e-5, None, None)
    with pytest.raises(TypeError, match="bn_eps"):
        fu.fuse_conv_bn_weights(w, None, *bn[:2], "1e-5", None, None)
    with pytest.raises(TypeError, match="transpose"):
        fu.fuse_conv_bn_weights(w, None, *bn[:2], 1e-5, None, None, transpose=1)
    with pytest.raises(ValueError, match=r"linear_w.*\(4, 2, 3\)"):
        fu.fuse_linear_bn_weights(w, None, *bn[:2], 1e-5, *bn[2:])
    with pytest.raises(ValueError, match=r"linear_b.*\(3,\)"):
        fu.fuse_linear_bn_weights(w[:, :, 0], b[:3], *bn[:2], 1e-5, *bn[2:])


CONVS = [  # fastnn class, torch name, BatchNorm, input shape (N, C_in, spatial), transpose
    (nn.Conv1d, "Conv1d", nn.BatchNorm1d, (2, 3, 7), False),
    (nn.Conv2d, "Conv2d", nn.BatchNorm2d, (2, 3, 6, 5), False),
    (nn.Conv3d, "Conv3d", nn.BatchNorm3d, (2, 3, 4, 5, 4), False),
    (nn.ConvTranspose1d, "ConvTranspose1d", nn.BatchNorm1d, (2, 3, 5), True),
    (nn.ConvTranspose2d, "ConvTranspose2d", nn.BatchNorm2d, (2, 3, 4, 3), True),
    (nn.ConvTranspose3d, "ConvTranspose3d", nn.BatchNorm3d, (2, 3, 3, 4, 3), True),
]


def _set_bn(bn, tbn, rng, torch):
    for name in ("running_mean", "running_var") + (("weight", "bias") if bn.affine else ()):
        vals = rng.standard_normal(bn.num_features) + (1.5 if name == "running_var" else 0.0)
        fa = getattr(bn, name)
        (fa.data if isinstance(fa, Parameter) else fa)[...] = np.abs(vals) if name == "running_var" else vals
        with torch.no_grad():
            getattr(tbn, name).copy_(torch.tensor(np.asarray(fa.data if isinstance(fa, Parameter) else fa)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, tname, bncls, shape, transpose", CONVS)
@pytest.mark.parametrize("bias, affine", [(True, True), (False, False)])
def test_fuse_conv_bn_eval_matches_torch(torch, dtype, cls, tname, bncls, shape, transpose, bias, affine):
    rng = np.random.default_rng(len(shape) * 10 + transpose * 3 + bias)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    kw = dict(kernel_size=2, stride=2 if transpose else 1, padding=1 if not transpose else 0, bias=bias)
    conv = cls(3, 4, **kw)
    tconv = getattr(torch.nn, tname)(3, 4, **kw).to(tdtype)
    bn = bncls(4, eps=1e-3, affine=affine)
    tbn = getattr(torch.nn, bncls.__name__)(4, eps=1e-3, affine=affine).to(tdtype)
    if dtype == np.float64:
        conv.double(), bn.double()
    conv.weight.data[...] = rng.standard_normal(conv.weight.shape)
    if bias:
        conv.bias.data[...] = rng.standard_normal(4)
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(conv.weight.data))
        if bias:
            tconv.bias.copy_(torch.tensor(conv.bias.data))
    _set_bn(bn, tbn, rng, torch)
    conv.eval(), bn.eval(), tconv.eval(), tbn.eval()
    w_before = conv.weight.data.copy()
    fused = fu.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn, transpose=transpose)
    assert type(fused) is cls and fused is not conv
    np.testing.assert_array_equal(conv.weight.data, w_before)  # the original is untouched
    assert (conv.bias is None) == (not bias)
    np.testing.assert_allclose(fused.weight.data, tfused.weight.detach().numpy(), **FUSED[dtype])
    np.testing.assert_allclose(fused.bias.data, tfused.bias.detach().numpy(), **FUSED[dtype])
    assert fused.weight.dtype == dtype and fused.bias.dtype == dtype
    assert fused.bias.trainable == tfused.bias.requires_grad
    assert [n for n, _ in fused.named_parameters()] == ["weight", "bias"]
    x = rng.standard_normal(shape).astype(dtype)
    y = fused(x)
    with torch.no_grad():
        ty = tbn(tconv(torch.tensor(x)))
    np.testing.assert_allclose(y, ty.numpy(), **FUSED[dtype])
    np.testing.assert_allclose(y, bn(conv(x)), **FUSED[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("features, bias, affine", [(4, True, True), (4, False, True), (1, True, True),
                                                    (1, False, True), (4, True, False)])
def test_fuse_linear_bn_eval_matches_torch(torch, dtype, features, bias, affine):
    rng = np.random.default_rng(features + 2 * bias + 5 * affine)
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    lin, tlin = nn.Linear(3, 4, bias=bias), torch.nn.Linear(3, 4, bias=bias).to(tdtype)
    bn = nn.BatchNorm1d(features, eps=1e-4, affine=affine)
    tbn = torch.nn.BatchNorm1d(features, eps=1e-4, affine=affine).to(tdtype)
    if dtype == np.float64:
        lin.double(), bn.double()
    for p, t in zip(lin.parameters(), tlin.parameters()):
        p.data[...] = rng.standard_normal(p.shape)
        with torch.no_grad():
            t.copy_(torch.tensor(p.data))
    _set_bn(bn, tbn, rng, torch)
    lin.eval(), bn.eval(), tlin.eval(), tbn.eval()
    fused = fu.fuse_linear_bn_eval(lin, bn)
    assert type(fused) is nn.Linear and fused is not lin and (lin.bias is None) == (not bias)
    x = rng.standard_normal((6, 3)).astype(dtype)
    y = fused(x)
    with torch.no_grad():
        ty = tbn(tlin(torch.tensor(x)).reshape(6, features, -1)).reshape(6, 4)
    np.testing.assert_allclose(y, ty.numpy(), **FUSED[dtype])
    if affine:  # (torch's fuse_linear_bn_eval raises TypeError for a BatchNorm without affine)
        tfused = torch.nn.utils.fuse_linear_bn_eval(tlin, tbn)
        np.testing.assert_allclose(fused.weight.data, tfused.weight.detach().numpy(), **FUSED[dtype])
        np.testing.assert_allclose(fused.bias.data, np.broadcast_to(tfused.bias.detach().numpy(), (4,)),
                                   **FUSED[dtype])
        assert fused.bias.trainable == tfused.bias.requires_grad
        if features == 4:
            with torch.no_grad():
                np.testing.assert_allclose(y, tfused(torch.tensor(x)).numpy(), **FUSED[dtype])


def test_fuse_grouped_conv(torch):
    rng = np.random.default_rng(9)
    conv, tconv = nn.Conv2d(4, 6, 3, groups=2).double(), torch.nn.Conv2d(4, 6, 3, groups=2).double()
    bn, tbn = nn.BatchNorm2d(6).double(), torch.nn.BatchNorm2d(6).double()
    conv.weight.data[...] = rng.standard_normal(conv.weight.shape)
    conv.bias.data[...] = rng.standard_normal(6)
    with torch.no_grad():
        tconv.weight.copy_(torch.tensor(conv.weight.data)), tconv.bias.copy_(torch.tensor(conv.bias.data))
    _set_bn(bn, tbn, rng, torch)
    for m in (conv, bn, tconv, tbn):
        m.eval()
    x = rng.standard_normal((2, 4, 5, 5))
    with torch.no_grad():
        want = tbn(tconv(torch.tensor(x))).numpy()
    np.testing.assert_allclose(fu.fuse_conv_bn_eval(conv, bn)(x), want, **FUSED[np.float64])
    # a grouped transposed convolution: weight axis 1 holds out_channels / groups (torch fails too)
    with pytest.raises(ValueError, match=r"bn_rm.*\(6,\)"):
        fu.fuse_conv_bn_eval(nn.ConvTranspose2d(4, 6, 3, groups=2).eval(), nn.BatchNorm2d(6).eval(), True)


def test_fuse_eval_errors():
    conv, bn = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)
    with pytest.raises(fu.FusionError, match="Fusion only for eval!.*conv.training=True"):
        fu.fuse_conv_bn_eval(conv, bn.eval())
    conv.eval()
    bn.train()
    with pytest.raises(AssertionError, match="Fusion only for eval!.*bn.training=True"):
        fu.fuse_conv_bn_eval(conv, bn)
    with pytest.raises(ValueError, match="running_mean"):
        fu.fuse_conv_bn_eval(conv, nn.BatchNorm2d(3, track_running_stats=False).eval())
    with pytest.raises(TypeError, match="conv"):
        fu.fuse_conv_bn_eval(nn.Linear(2, 3).eval(), bn.eval())
    with pytest.raises(TypeError, match="bn"):
        fu.fuse_conv_bn_eval(conv, nn.ReLU().eval())
    lin = nn.Linear(2, 3).eval()
    with pytest.raises(fu.FusionError, match="out_features=3.*num_features=2"):
        fu.fuse_linear_bn_eval(lin, nn.BatchNorm1d(2).eval())
    with pytest.raises(fu.FusionError, match="Fusion only for eval!"):
        fu.fuse_linear_bn_eval(lin, nn.BatchNorm1d(3))
    with pytest.raises(TypeError, match="linear"):
        fu.fuse_linear_bn_eval(conv, nn.BatchNorm1d(3).eval())


def test_vectors_norms_and_fusion_run_on_the_gpu_like_on_the_cpu(xp):
    import fastnn
    from fastnn import nn as fnn
    from fastnn.nn import utils as U

    def host(a):
        return a.get() if hasattr(a, "get") else np.asarray(a)

    fastnn.manual_seed(0)
    conv, bn = fnn.Conv2d(2, 3, 3, padding=1), fnn.BatchNorm2d(3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    bn(conv(x))  # running statistics away from 0 / 1
    conv.eval(), bn.eval()
    fused_cpu = U.fuse_conv_bn_eval(conv, bn)
    fused_gpu = U.fuse_conv_bn_eval(conv.cuda(), bn.cuda())
    assert isinstance(fused_gpu.weight.data, xp.ndarray)
    np.testing.assert_allclose(host(fused_gpu(xp.asarray(x))), fused_cpu(x), rtol=1e-5, atol=1e-6)
    params = list(fused_gpu.parameters())
    vec = U.parameters_to_vector(params)
    assert isinstance(vec, xp.ndarray)
    np.testing.assert_array_equal(host(vec), U.parameters_to_vector(list(fused_cpu.parameters())))
    U.vector_to_parameters(vec * 2, params)
    np.testing.assert_array_equal(host(params[0].data), 2 * fused_cpu.weight.data)
    grads = [xp.asarray(rng.standard_normal(p.data.shape).astype(np.float32)) for p in params]
    assert abs(float(U.get_total_norm(grads)) - float(U.get_total_norm([host(g) for g in grads]))) < 1e-6
