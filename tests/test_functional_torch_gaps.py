"""Functional and attention behaviours that differed from torch's: pad of integer arrays and of
empty axes, silent dtype conversions in MultiheadAttention and scaled_dot_product_attention,
numpy's broadcast error for mismatched attention batches."""
import numpy as np
import pytest

from fastnn import nn
from fastnn.nn import functional as F

PADS = [("constant", (1, 1), 7), ("constant", (1, -1, 2, 0), None), ("reflect", (2, 1, 1, 2), None),
        ("replicate", (1, 2, 0, 1), None), ("circular", (1, 1, 2, 2), None), ("constant", (1, 0, 0, 1, 2, 0), -3)]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("mode, amounts, value", PADS)
def test_pad_of_an_integer_array_is_exact(dtype, mode, amounts, value):
    """torch pads masks and label maps; fastnn's pad layers take floats only and refused them."""
    x = (np.arange(2 * 3 * 4 * 5) % 251).reshape(2, 3, 4, 5).astype(dtype)
    y = F.pad(x, amounts, mode) if value is None else F.pad(x, amounts, mode, value)
    want = F.pad(x.astype(np.float64), amounts, mode) if value is None else F.pad(x.astype(np.float64), amounts,
                                                                                  mode, value)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, want.astype(dtype))


def test_pad_of_integers_and_bools_against_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    x = np.arange(24).reshape(1, 2, 3, 4)
    for mode, amounts, value in PADS[:5]:
        ours = F.pad(x, amounts, mode) if value is None else F.pad(x, amounts, mode, value)
        theirs = TF.pad(torch.tensor(x), amounts, mode) if value is None else TF.pad(torch.tensor(x), amounts, mode,
                                                                                     value)
        np.testing.assert_array_equal(ours, theirs.numpy())
    mask = np.array([[True, False, True]])
    np.testing.assert_array_equal(F.pad(mask, (1, 2)), TF.pad(torch.tensor(mask), (1, 2)).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_constant_pad_of_an_empty_axis(dtype):
    """Every position is padding: torch's [[3, 3]]; the index gather failed on the empty axis."""
    y = F.pad(np.zeros((1, 0), dtype), (1, 1), value=3)
    np.testing.assert_array_equal(y, [[3, 3]])
    assert y.dtype == dtype
    layer = nn.ConstantPad1d(2, 1.5)
    out = layer(np.zeros((2, 3, 0), np.float32))
    np.testing.assert_array_equal(out, np.full((2, 3, 4), 1.5, np.float32))
    assert layer.backward(np.ones_like(out)).shape == (2, 3, 0)


def test_multihead_attention_refuses_inputs_of_another_dtype():
    """torch's matmul raises for float64 inputs to a float32 layer; fastnn computed in float64
    and cast the gradients into the float32 parameters."""
    mha = nn.MultiheadAttention(6, 2)
    q = np.random.default_rng(0).standard_normal((3, 2, 6))
    with pytest.raises(TypeError, match=r"dtype float64 but the layer's parameters are float32"):
        mha(q, q, q)
    q32 = q.astype(np.float32)
    with pytest.raises(TypeError, match=r"float attn_mask must have the query's dtype float32, got float64"):
        mha(q32, q32, q32, attn_mask=np.zeros((3, 3)))
    with pytest.raises(TypeError, match=r"float key_padding_mask must have the query's dtype float32, got float64"):
        mha(q32, q32, q32, key_padding_mask=np.zeros((2, 3)))
    y, w = mha(q32, q32, q32, attn_mask=np.zeros((3, 3), bool))  # a bool mask of any layout is fine
    assert y.dtype == np.float32 and y.shape == (3, 2, 6)


def test_sdpa_refuses_a_float_mask_of_another_dtype_and_names_mismatched_batches():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 4, 5)).astype(np.float32)
    with pytest.raises(TypeError, match=r"attn_mask must be a bool array or a float array of the query's dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.zeros((4, 4)))
    k = rng.standard_normal((3, 4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match=r"batch dimensions of key \(3,\) and value \(3,\) must broadcast to the "
                                         r"query's \(2,\)"):
        F.scaled_dot_product_attention(q, k, k)
    k1 = rng.standard_normal((1, 4, 5)).astype(np.float32)  # broadcasting key/value batches stays allowed
    assert F.scaled_dot_product_attention(q, k1, k1).shape == (2, 4, 5)


def _activations(torch):
    import torch.nn.functional as TF

    return [("gelu", "gelu"), (F.gelu, TF.gelu), (F.relu, TF.relu), (nn.GELU(approximate="tanh"),
                                                                     torch.nn.GELU(approximate="tanh")),
            (torch.nn.ReLU(), torch.nn.ReLU()), (nn.Tanh(), torch.nn.Tanh())]


@pytest.mark.parametrize("which", range(6))
@pytest.mark.parametrize("decoder", [False, True])
def test_transformer_layers_take_torchs_activation_forms(which, decoder):
    """torch takes F.relu / F.gelu and modules (a child named activation); fastnn refused all
    but the two strings. Outputs, input gradients, repr and state_dict keys are torch's."""
    torch = pytest.importorskip("torch")
    import warnings

    ours_act, theirs_act = _activations(torch)[which]
    cls = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    ours = getattr(nn, cls)(8, 2, 16, dropout=0.0, activation=ours_act).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, cls)(8, 2, 16, dropout=0.0, activation=theirs_act).double()
    ours.load_state_dict(theirs.state_dict())
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(which)
    x, mem = rng.standard_normal((3, 2, 8)), rng.standard_normal((4, 2, 8))
    dy = rng.standard_normal((3, 2, 8))
    tx = torch.tensor(x, requires_grad=True)
    if decoder:
        y, ty = ours(x, mem), theirs(tx, torch.tensor(mem))
        dx = ours.backward(dy)[0]
    else:
        y, ty = ours(x), theirs(tx)
        dx = ours.backward(dy)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_a_transformer_activation_layer_is_saved_and_copied_per_layer(tmp_path):
    import fastnn

    model = nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU(approximate="tanh")))
    fastnn.save(model, tmp_path / "m.npz")
    back = fastnn.load(tmp_path / "m.npz")
    assert repr(back[0].activation) == "GELU(approximate='tanh')"
    x = np.random.default_rng(0).standard_normal((3, 2, 8)).astype(np.float32)
    model.eval(), back.eval()
    np.testing.assert_array_equal(model(x), back(x))
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU()), 2)
    assert enc.layers[0].activation is not enc.layers[1].activation
    assert nn.Transformer(8, 2, 1, 1, 16, activation=nn.Tanh()).get_config()["activation"] == {"type": "Tanh",
                                                                                                 "config": {}}
    with pytest.raises(ValueError, match="a plain function has no backward"):
        nn.TransformerEncoderLayer(8, 2, activation=lambda v: v)
    with pytest.raises(ValueError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
