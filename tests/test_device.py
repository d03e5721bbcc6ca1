"""The Python API on the GPU: Module.to / .cuda() / .cpu(), every layer, container, activation and
loss on CuPy arrays, optimizers and clipping on GPU parameters, fit / evaluate / predict with a
model on "cuda", save / load, and device-mixing errors.

Each test runs on tests/fake_cupy.py (the real path fastnn.nn -> fastnn.ops -> fastnn.cuda -> the
CUDA kernels, run by the emulator) and, marked `gpu`, on real CuPy where a device exists (the
`xp` fixture). The GPU results are compared with the CPU run of the same seed: the two backends
round differently (cuBLAS or NumPy's matmul vs the native GEMM, other summation orders), so
values agree within tolerances, not bit for bit; dropout masks and max-pool choices are exact.
"""
import re
import sys

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.nn import fusion
from tolerances import assert_close

F64 = np.float64


def host(a):
    return a if isinstance(a, np.ndarray) else a.get()


def _cnn(seed=0, p=0.25):
    """conv-BN-ReLU-pool-dense-dropout, the recipe of the issue (small)."""
    fastnn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 5))


def _mlp(seed=0):
    fastnn.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3))


def _state(model):
    """Every parameter, gradient and buffer as host arrays, by name."""
    out = {f"{name}.grad": host(p.grad).copy() for name, p in model.named_parameters()}
    out.update({name: host(v).copy() for name, v in model.state_dict().items()})
    return out


# ---------------------------------------------------------------------------------------------
# Module.to

def test_to_moves_parameters_gradients_and_buffers_and_back(xp, rng):
    model = _cnn()
    x = rng.standard_normal((3, 2, 8, 8)).astype(np.float32)
    loss = nn.CrossEntropyLoss()
    loss(model(x), np.array([0, 1, 4]))
    model.backward(loss.backward())  # gradients and running statistics away from their initial values
    before = _state(model)
    assert model.device == "cpu"

    assert model.to("cuda") is model
    assert model.device == "cuda"
    for name, p in model.named_parameters():
        assert isinstance(p.data, xp.ndarray) and isinstance(p.grad, xp.ndarray), name
        assert p.device == "cuda" and "device='cuda'" in repr(p)
    for name, b in model.named_buffers():
        assert isinstance(b, xp.ndarray), name
    assert isinstance(model[1].running_mean, xp.ndarray)  # the attribute, not only the registry
    moved = _state(model)
    for k in before:
        np.testing.assert_array_equal(moved[k], before[k], err_msg=k)  # a copy: exact

    assert model.cpu() is model and model.device == "cpu"
    for name, p in model.named_parameters():
        assert type(p.data) is np.ndarray and type(p.grad) is np.ndarray, name
    back = _state(model)
    for k in before:
        np.testing.assert_array_equal(back[k], before[k], err_msg=k)
    assert model.cuda() is model and model.device == "cuda"


def test_to_keeps_the_lazy_zero_grad(xp, rng):
    model = _mlp()
    x = rng.standard_normal((4, 12)).astype(np.float32)
    model.backward(model(x))
    model.zero_grad()
    model.cuda()
    for p in model.parameters():
        grad, beta = p.accumulate()
        assert beta == 0.0 and isinstance(grad, xp.ndarray)  # still "zero": the next backward writes
    model.zero_grad()
    assert all(float(abs(p.grad).max()) == 0.0 for p in model.parameters())  # reading it gives zeros


def test_to_device_and_dtype_together(xp):
    model = _cnn().to("cuda", np.float64)
    assert model.device == "cuda" and model.dtype == np.float64
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    assert model[1].running_var.dtype == np.float64
    model.to(dtype=np.float32, device="cpu")
    assert model.device == "cpu" and model.dtype == np.float32


def test_bad_devices_are_named():
    model = _mlp()
    with pytest.raises(ValueError, match=r"CuPy's current device, 'cuda' \(or 'cuda:0'\).*Received: device='cuda:1'"):
        model.to(device="cuda:1")
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'cuda'. Received: device='cuda:x'"):
        model.to(device="cuda:x")
    assert model.to("CPU").device == "cpu"
    with pytest.raises(TypeError, match=r"to\(\) takes a device \('cpu' or 'cuda'\) and/or a dtype .*'tpu'"):
        model.to("tpu")
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'. Received: device='gpu'"):
        fastnn.load("unused.fnn", device="gpu")


def test_cuda_0_is_pytorch_s_name_for_the_current_device(monkeypatch):
    from fastnn import _device

    assert _device.parse("cuda:0") == "cuda" and _device.parse("Cuda") == "cuda"
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(RuntimeError, match="CUDA"):  # understood as a device (not a dtype), none here
        _mlp().to("cuda:0")


def test_to_cuda_without_a_device_says_why_and_moves_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    model = _mlp()
    with pytest.raises(RuntimeError, match=r"no CUDA device found \(CuPy: .*cupy"):
        model.cuda()
    assert model.device == "cpu" and all(type(p.data) is np.ndarray for p in model.parameters())


@pytest.mark.parametrize("init", ["default", "glorot_uniform", "he_normal", "zeros"])
def test_reset_parameters_on_the_gpu_draws_the_cpu_values(xp, init):
    """Initializers draw on the host and upload: a seed gives the same weights on both devices."""
    cpu, gpu = nn.Conv2d(3, 4, 3, init=init), nn.Conv2d(3, 4, 3, init=init).cuda()
    bn = nn.BatchNorm2d(4).cuda()
    bn.running_mean += 1
    for layer in (cpu, gpu):
        fastnn.manual_seed(9)
        layer.reset_parameters()
    bn.reset_parameters()
    for pc, pg in zip(cpu.parameters(), gpu.parameters()):
        assert isinstance(pg.data, xp.ndarray)
        np.testing.assert_array_equal(host(pg.data), pc.data)
    assert isinstance(bn.running_mean, xp.ndarray) and float(abs(bn.running_mean).max()) == 0.0


def test_a_model_without_state_is_on_the_cpu():
    assert nn.Sequential(nn.ReLU(), nn.Flatten()).device == "cpu"
    bn = nn.BatchNorm1d(3, affine=False)  # buffers only
    assert bn.device == "cpu"


# ---------------------------------------------------------------------------------------------
# Device mixing: an error naming both devices, never a silent copy

def test_mixing_devices_raises_naming_both(xp, rng):
    x = rng.standard_normal((2, 12)).astype(np.float32)
    model = _mlp().cuda()
    with pytest.raises(TypeError, match=r"Linear: the input is a numpy.ndarray on cpu, but the layer's "
                                        r"parameters are on cuda.*cupy.asarray\(x\)"):
        model(x)
    cpu_model = _mlp()
    with pytest.raises(TypeError, match=r"Linear: the input is a cupy.ndarray on cuda, but the layer's "
                                        r"parameters are on cpu"):
        cpu_model(xp.asarray(x))
    conv = nn.Conv2d(1, 2, 3).cuda()
    with pytest.raises(TypeError, match="Conv2d: the input is a numpy.ndarray on cpu.*on cuda"):
        conv(np.zeros((1, 1, 5, 5), np.float32))
    bn = nn.BatchNorm1d(4, affine=False).cuda()  # no parameters: its buffers decide
    with pytest.raises(TypeError, match="BatchNorm1d: the input is a numpy.ndarray on cpu.*on cuda"):
        bn(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="ReLU expects a numpy.ndarray or cupy.ndarray, got list"):
        nn.ReLU()([1.0])
    with pytest.raises(ValueError, match=r"grad must be on the device of data \(cuda\), got a numpy.ndarray on cpu"):
        nn.Parameter(xp.zeros(3, np.float32), grad=np.zeros(3, np.float32))


def test_losses_refuse_a_target_on_the_other_device(xp, rng):
    pred = rng.standard_normal((4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 0])
    with pytest.raises(TypeError, match=r"CrossEntropyLoss: the target is a numpy.ndarray on cpu, but the "
                                        r"prediction is on cuda.*cupy.asarray\(target\)"):
        nn.CrossEntropyLoss()(xp.asarray(pred), labels)
    with pytest.raises(TypeError, match=r"MSELoss: the target is a cupy.ndarray on cuda, but the prediction is on cpu"):
        nn.MSELoss()(pred, xp.asarray(pred))
    with pytest.raises(TypeError, match=r"GaussianNLLLoss: the var is a numpy.ndarray on cpu, but the prediction "
                                        r"is on cuda"):
        nn.GaussianNLLLoss()(xp.asarray(pred), xp.asarray(pred), np.ones_like(pred))


def test_fit_with_a_cpu_model_refuses_device_data(xp, rng):
    x = xp.asarray(rng.standard_normal((8, 12)).astype(np.float32))
    y = xp.asarray(rng.integers(0, 3, 8))
    model = _mlp()
    with pytest.raises(TypeError, match="Sequential: a batch of inputs is a cupy.ndarray on cuda, but the model is on cpu"):
        fastnn.fit(model, "adam", "cross_entropy", train=(x, y), progress=False)
    with pytest.raises(TypeError, match="Sequential: a batch of inputs is a cupy.ndarray on cuda"):
        fastnn.predict(model, x)


# ---------------------------------------------------------------------------------------------
# Every layer, container, activation and loss: forward and backward on both devices

class _ListChain(nn.Module):
    """A custom Module whose forward walks an nn.ModuleList (ModuleList has no forward itself)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def backward(self, dy):
        for block in reversed(list(self.blocks)):
            dy = block.backward(dy)
        return dy


class _DictHeads(nn.Module):
    """A custom Module holding a ModuleDict, a ParameterList and a ParameterDict (none has a forward)."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"lin": nn.Linear(6, 4), "act": nn.Tanh()})
        self.scales = nn.ParameterList([np.linspace(0.5, 2.0, 4).astype(np.float32)])
        self.shifts = nn.ParameterDict({"b": np.full(4, 0.25, np.float32)})

    def forward(self, x):
        self._h = self.heads["act"](self.heads["lin"](x))
        return self._h * self.scales[0].data + self.shifts["b"].data

    def backward(self, dy):
        self.scales[0].add_grad((dy * self._h).sum(axis=0))
        self.shifts["b"].add_grad(dy.sum(axis=0))
        return self.heads["lin"].backward(self.heads["act"].backward(dy * self.scales[0].data))


class _TwoInputHeads(nn.Module):
    """The two-input modules in a custom Module: x (N, 8) split into halves x1, x2; out (N, 2):
    CosineSimilarity(x1, x2) and PairwiseDistance(x1, x2)."""

    def __init__(self):
        super().__init__()
        self.cos = nn.CosineSimilarity(dim=1)
        self.dist = nn.PairwiseDistance(p=3.0, keepdim=True)

    def forward(self, x):
        x1, x2 = x[:, :4], x[:, 4:]
        xp = fastnn.ops.get_array_module(x)
        return xp.concatenate([self.cos(x1, x2).reshape(-1, 1), self.dist(x1, x2)], axis=1)

    def backward(self, dy):
        c1, c2 = self.cos.backward(dy[:, 0].copy())
        d1, d2 = self.dist.backward(dy[:, 1:2].copy())
        xp = fastnn.ops.get_array_module(dy)
        return xp.concatenate([c1 + d1, c2 + d2], axis=1)


class _UnpoolAndBilinear(nn.Module):
    """The multi-input layers of extra3.py in a custom Module: x (N, 2, 4, 4) max-pooled with
    indices and unpooled (2-D and, on rows, 1-D), then a Bilinear map of two halves of the
    flattened result; out (N, 3)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.pool1 = nn.MaxPool1d(2, return_indices=True)
        self.unpool1 = nn.MaxUnpool1d(2)
        self.bilinear = nn.Bilinear(16, 16, 3)

    def forward(self, x):
        y, idx = self.pool(x)
        u = self.unpool(y, idx)                       # (N, 2, 4, 4)
        n = u.shape[0]
        r = u.reshape(n, 8, 4)
        y1, idx1 = self.pool1(r)
        u1 = self.unpool1(y1, idx1).reshape(n, 32)    # (N, 32)
        return self.bilinear(u1[:, :16], u1[:, 16:])

    def backward(self, dy):
        d1, d2 = self.bilinear.backward(dy)
        xp = fastnn.ops.get_array_module(dy)
        du1 = xp.concatenate([d1, d2], axis=1).reshape(-1, 8, 4)
        dr = self.pool1.backward(self.unpool1.backward(du1))
        return self.pool.backward(self.unpool.backward(dr.reshape(-1, 2, 4, 4)))


class _Recurrent(nn.Module):
    """rnn.py's modules in a custom Module: x (N, 6) read as a (2, N, 3) sequence through an LSTM
    (2 layers, bidirectional), a GRU, an RNN (relu) and the three cells on the last step; out (N, 4)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        self.gru = nn.GRU(8, 3, batch_first=False)
        self.rnn = nn.RNN(3, 3, nonlinearity="relu")
        self.lstm_cell = nn.LSTMCell(3, 2)
        self.gru_cell = nn.GRUCell(2, 3)
        self.rnn_cell = nn.RNNCell(3, 4)

    def forward(self, x):
        xp = fastnn.ops.get_array_module(x)
        seq = xp.ascontiguousarray(x.reshape(-1, 2, 3).transpose(1, 0, 2))
        out, _ = self.lstm(seq)
        out, _ = self.gru(out)
        out, _ = self.rnn(out)
        h, _ = self.lstm_cell(xp.ascontiguousarray(out[-1]))
        return self.rnn_cell(self.gru_cell(h))

    def backward(self, dy):
        xp = fastnn.ops.get_array_module(dy)
        dh, _ = self.lstm_cell.backward(self.gru_cell.backward(self.rnn_cell.backward(dy)[0])[0])
        d_out = xp.zeros((2,) + dh.shape[:1] + (3,), dh.dtype)
        d_out[-1] = dh
        d_out, _ = self.rnn.backward(d_out)
        d_out, _ = self.gru.backward(d_out)
        d_seq, _ = self.lstm.backward(d_out)
        return xp.ascontiguousarray(d_seq.transpose(1, 0, 2)).reshape(-1, 6)


class _Attention(nn.Module):
    """transformer.py's modules in a custom Module: x (N, 16) read as (N, 2, 8) batch-first
    sequences through a Transformer (1 + 1 layers, its tgt the same sequence), then a
    MultiheadAttention with a float mask; out (N, 16). Dropout 0 (the masks would differ)."""

    def __init__(self):
        super().__init__()
        self.transformer = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True, norm_first=True)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        seq = x.reshape(-1, 2, 8)
        y = self.transformer(seq, seq)
        xp = fastnn.ops.get_array_module(x)
        mask = xp.asarray(np.array([[0.0, -1.0], [0.5, 0.0]], x.dtype))
        out, _ = self.attn(y, y, y, attn_mask=mask)
        return out.reshape(-1, 16)

    def backward(self, dy):
        dq, dk, dv = self.attn.backward(dy.reshape(-1, 2, 8))
        dsrc, dtgt = self.transformer.backward(dq + dk + dv)
        return (dsrc + dtgt).reshape(-1, 16)


def _layer_cases():
    """(name, factory, input shape): every public Module class of fastnn.nn at least once."""
    return [
        ("Linear", lambda: nn.Linear(6, 5), (4, 6)),
        ("Linear 3-D input", lambda: nn.Linear(6, 5, bias=False), (2, 3, 6)),
        ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6)),
        ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
        ("MaxPool2d", lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
        ("AvgPool2d", lambda: nn.AvgPool2d(2, count_include_pad=False, padding=1), (2, 3, 7, 6)),
        ("MaxPool2d ceil_mode", lambda: nn.MaxPool2d(2, ceil_mode=True), (2, 3, 7, 5)),
        ("AvgPool2d ceil_mode", lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 3, 6, 6)),
        ("MaxPool2d dilation", lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 8, 7)),
        ("AvgPool2d divisor_override", lambda: nn.AvgPool2d(3, 2, 1, True, divisor_override=4), (2, 3, 6, 7)),
        ("ConvTranspose2d groups and dilation", lambda: nn.ConvTranspose2d(4, 6, 3, stride=1, output_padding=1,
                                                                           groups=2, dilation=2), (2, 4, 4, 5)),
        ("GlobalAvgPool2d", lambda: nn.GlobalAvgPool2d(), (2, 3, 5, 4)),
        ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
        ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
        ("BatchNorm1d", lambda: nn.BatchNorm1d(5), (6, 5)),
        ("BatchNorm1d (N, C, L)", lambda: nn.BatchNorm1d(5, affine=False), (3, 5, 4)),
        ("BatchNorm2d", lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
        ("BatchNorm1d momentum=None", lambda: nn.BatchNorm1d(5, momentum=None), (6, 5)),
        ("BatchNorm2d untracked", lambda: nn.BatchNorm2d(3, track_running_stats=False), (4, 3, 5, 5)),
        ("Conv2d padding='same'", lambda: nn.Conv2d(3, 2, (2, 3), padding="same"), (2, 3, 5, 6)),
        ("Conv2d groups and dilation", lambda: nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=2), (2, 4, 7, 7)),
        ("Dropout", lambda: nn.Dropout(0.4), (5, 7)),
        ("Flatten", lambda: nn.Flatten(), (2, 3, 4, 5)),
        ("Reshape", lambda: nn.Reshape((4, 15)), (2, 3, 4, 5)),
        ("Identity", lambda: nn.Identity(), (3, 8)),
        ("PReLU", lambda: nn.PReLU(), (3, 8)),
        ("PReLU per channel", lambda: nn.PReLU(3, 0.1), (2, 3, 4, 5)),
        ("Unflatten", lambda: nn.Unflatten(1, (2, -1)), (3, 8)),
        ("ZeroPad2d", lambda: nn.ZeroPad2d((1, -1, 2, 0)), (2, 3, 4, 5)),
        ("ConstantPad2d 3-D", lambda: nn.ConstantPad2d(1, -0.5), (3, 4, 5)),
        ("Dropout2d", lambda: nn.Dropout2d(0.4), (3, 5, 2, 3)),
        ("Dropout2d 3-D", lambda: nn.Dropout2d(0.4), (5, 2, 3)),
        ("LayerNorm", lambda: nn.LayerNorm((4, 5)), (2, 3, 4, 5)),
        ("LayerNorm no affine", lambda: nn.LayerNorm(8, elementwise_affine=False), (3, 8)),
        ("GroupNorm", lambda: nn.GroupNorm(2, 4), (2, 4, 3, 5)),
        ("GroupNorm no bias", lambda: nn.GroupNorm(3, 6, bias=False), (2, 6, 7)),
        ("Upsample scale_factor", lambda: nn.Upsample(scale_factor=(1.7, 2)), (2, 3, 4, 5)),
        ("Upsample size", lambda: nn.Upsample(size=7), (2, 3, 5)),
        ("Upsample bilinear align_corners", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True),
         (2, 3, 4, 5)),
        ("Upsample bicubic", lambda: nn.Upsample(size=(5, 7), mode="bicubic"), (2, 3, 4, 5)),
        ("Upsample trilinear", lambda: nn.Upsample(scale_factor=(2, 1.5, 0.7), mode="trilinear"), (1, 2, 3, 4, 5)),
        ("Upsample nearest-exact", lambda: nn.Upsample(size=7, mode="nearest-exact"), (2, 3, 5)),
        ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 4, 5)),
        ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(size=(6, 3)), (2, 3, 4, 5)),
        ("RMSNorm", lambda: nn.RMSNorm((4, 5)), (2, 3, 4, 5)),
        ("GLU", lambda: nn.GLU(dim=1), (3, 8)),
        ("RReLU", lambda: nn.RReLU(), (3, 8)),
        ("Dropout1d", lambda: nn.Dropout1d(0.4), (4, 3, 5)),
        ("Dropout3d", lambda: nn.Dropout3d(0.4), (2, 3, 2, 3, 4)),
        ("AlphaDropout", lambda: nn.AlphaDropout(0.3), (4, 8)),
        ("FeatureAlphaDropout", lambda: nn.FeatureAlphaDropout(0.3), (4, 3, 5)),
        ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3), (2, 5, 3, 4)),
        ("LPPool2d", lambda: nn.LPPool2d(2, 2, ceil_mode=True), (2, 3, 5, 5)),
        ("LPPool1d", lambda: nn.LPPool1d(3, 2), (2, 3, 7)),
        ("Unfold", lambda: nn.Unfold(2, dilation=2, padding=1, stride=2), (2, 3, 5, 5)),
        ("Fold", lambda: nn.Fold((4, 5), 2, stride=1), (2, 12, 12)),
        ("MaxUnpool2d, MaxUnpool1d, Bilinear in a custom Module", _UnpoolAndBilinear, (3, 2, 4, 4)),
        ("LSTM, GRU, RNN and the cells in a custom Module", _Recurrent, (3, 6)),
        ("Transformer and MultiheadAttention in a custom Module", _Attention, (3, 16)),
        ("SyncBatchNorm", lambda: nn.SyncBatchNorm(3), (2, 3, 4, 5)),
        ("LPPool3d", lambda: nn.LPPool3d(2, 2, ceil_mode=True), (2, 2, 3, 5, 4)),
        ("FractionalMaxPool2d", lambda: nn.FractionalMaxPool2d(2, output_size=(3, 4)), (2, 2, 7, 9)),
        ("FractionalMaxPool3d", lambda: nn.FractionalMaxPool3d(2, output_ratio=0.6), (2, 2, 5, 6, 7)),
        ("LazyLinear", lambda: nn.LazyLinear(5), (3, 6)),
        ("LazyConv1d", lambda: nn.LazyConv1d(3, 2), (2, 2, 6)),
        ("LazyConv2d", lambda: nn.LazyConv2d(3, 3, padding=1), (2, 2, 5, 5)),
        ("LazyConv3d", lambda: nn.LazyConv3d(2, 2), (2, 2, 3, 4, 3)),
        ("LazyConvTranspose1d", lambda: nn.LazyConvTranspose1d(3, 2, stride=2), (2, 2, 5)),
        ("LazyConvTranspose2d", lambda: nn.LazyConvTranspose2d(3, 2, stride=2), (2, 2, 3, 4)),
        ("LazyConvTranspose3d", lambda: nn.LazyConvTranspose3d(2, 2), (2, 2, 3, 3, 2)),
        ("LazyBatchNorm1d", lambda: nn.LazyBatchNorm1d(), (4, 6)),
        ("LazyBatchNorm2d", lambda: nn.LazyBatchNorm2d(), (2, 3, 4, 5)),
        ("LazyBatchNorm3d", lambda: nn.LazyBatchNorm3d(), (2, 3, 2, 3, 4)),
        ("LazyInstanceNorm1d", lambda: nn.LazyInstanceNorm1d(), (2, 3, 6)),
        ("LazyInstanceNorm2d", lambda: nn.LazyInstanceNorm2d(), (2, 3, 4, 5)),
        ("LazyInstanceNorm3d", lambda: nn.LazyInstanceNorm3d(), (2, 3, 2, 3, 4)),
        ("Conv3d", lambda: nn.Conv3d(2, 4, (3, 2, 3), stride=(1, 2, 1), padding=1, groups=2), (2, 2, 4, 5, 4)),
        ("Conv3d same circular", lambda: nn.Conv3d(2, 3, 3, padding="same", padding_mode="circular", dilation=(1, 2, 1)),
         (2, 2, 4, 5, 4)),
        ("ConvTranspose3d", lambda: nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
         (2, 4, 3, 2, 3)),
        ("BatchNorm3d", lambda: nn.BatchNorm3d(3), (2, 3, 2, 3, 4)),
        ("InstanceNorm3d", lambda: nn.InstanceNorm3d(3, affine=True), (2, 3, 2, 3, 4)),
        ("MaxPool3d", lambda: nn.MaxPool3d((2, 3, 2), stride=(1, 2, 2), padding=1, ceil_mode=True), (2, 2, 4, 5, 6)),
        ("AvgPool3d", lambda: nn.AvgPool3d(2, stride=1, padding=1, count_include_pad=False), (2, 2, 3, 4, 5)),
        ("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d((2, None, 3)), (2, 2, 5, 4, 7)),
        ("AdaptiveMaxPool3d", lambda: nn.AdaptiveMaxPool3d(2), (2, 2, 5, 4, 7)),
        ("ZeroPad3d", lambda: nn.ZeroPad3d((1, 0, 2, -1, 0, 1)), (2, 2, 3, 4, 5)),
        ("ConstantPad3d", lambda: nn.ConstantPad3d(1, 0.5), (2, 2, 3, 4, 5)),
        ("ReflectionPad3d", lambda: nn.ReflectionPad3d((1, 2, 0, 1, 2, 1)), (2, 2, 3, 4, 5)),
        ("ReplicationPad3d", lambda: nn.ReplicationPad3d(2), (2, 2, 3, 4, 5)),
        ("CircularPad3d", lambda: nn.CircularPad3d((1, 1, 0, 2, 1, 0)), (2, 2, 3, 4, 5)),
        ("Conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 9)),
        ("Conv1d same reflect groups", lambda: nn.Conv1d(4, 2, 4, padding="same", padding_mode="reflect", groups=2,
                                                         dilation=2), (2, 4, 9)),
        ("ConvTranspose1d", lambda: nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2),
         (2, 4, 5)),
        ("MaxPool1d", lambda: nn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 9)),
        ("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2, padding=1, count_include_pad=False), (2, 3, 8)),
        ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 7)),
        ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(4), (3, 7)),
        ("ReflectionPad1d", lambda: nn.ReflectionPad1d((2, 1)), (2, 3, 5)),
        ("ReflectionPad2d", lambda: nn.ReflectionPad2d((1, 0, 2, 1)), (2, 3, 4, 5)),
        ("ReplicationPad1d", lambda: nn.ReplicationPad1d((3, -1)), (2, 3, 5)),
        ("ReplicationPad2d", lambda: nn.ReplicationPad2d(2), (3, 4, 5)),
        ("ZeroPad1d", lambda: nn.ZeroPad1d((1, 2)), (2, 3, 5)),
        ("ConstantPad1d", lambda: nn.ConstantPad1d((-1, 2), 0.5), (3, 5)),
        ("CircularPad1d", lambda: nn.CircularPad1d((2, 3)), (2, 3, 5)),
        ("CircularPad2d", lambda: nn.CircularPad2d((1, 2, 0, 1)), (2, 3, 4, 5)),
        ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3, affine=True, track_running_stats=True), (2, 3, 7)),
        ("InstanceNorm2d", lambda: nn.InstanceNorm2d(3, affine=True), (2, 3, 4, 5)),
        ("PixelShuffle", lambda: nn.PixelShuffle(2), (2, 8, 3, 2)),
        ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), (2, 2, 4, 6)),
        ("ChannelShuffle", lambda: nn.ChannelShuffle(3), (2, 6, 3, 2)),
        ("Softmax2d", lambda: nn.Softmax2d(), (2, 4, 3, 5)),
        ("CrossMapLRN2d", lambda: nn.CrossMapLRN2d(3, alpha=0.1, beta=0.6, k=2), (2, 5, 3, 4)),
        ("DataParallel", lambda: nn.DataParallel(nn.Sequential(nn.Linear(6, 5), nn.ReLU())), (3, 6)),
        ("ModuleList in a custom Module", _ListChain, (3, 6)),
        ("CosineSimilarity, PairwiseDistance in a custom Module", _TwoInputHeads, (3, 8)),
        ("ModuleDict, ParameterList, ParameterDict in a custom Module", _DictHeads, (3, 6)),
        ("Step", lambda: nn.Step(), (3, 8)),
        ("Sigmoid", lambda: nn.Sigmoid(1.5), (3, 8)),
        ("Tanh", lambda: nn.Tanh(), (3, 8)),
        ("ReLU", lambda: nn.ReLU(), (3, 8)),
        ("LeakyReLU", lambda: nn.LeakyReLU(0.2), (3, 8)),
        ("Softplus", lambda: nn.Softplus(2.0), (3, 8)),
        ("Swish", lambda: nn.Swish(0.5), (3, 8)),
        ("SiLU", lambda: nn.SiLU(), (3, 8)),
        ("ELU", lambda: nn.ELU(0.7), (3, 8)),
        ("GELU", lambda: nn.GELU(), (3, 8)),
        ("GELU tanh", lambda: nn.GELU("tanh"), (3, 8)),
        ("Softmax", lambda: nn.Softmax(), (3, 8)),
        ("Softmax axis 1", lambda: nn.Softmax(axis=1), (2, 4, 3)),
        ("LogSoftmax axis 0", lambda: nn.LogSoftmax(axis=0), (4, 3)),
        ("Softmin", lambda: nn.Softmin(dim=1), (3, 8)),
        ("ReLU6", lambda: nn.ReLU6(), (3, 8)),
        ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.7), (3, 8)),
        ("SELU", lambda: nn.SELU(), (3, 8)),
        ("CELU", lambda: nn.CELU(0.6), (3, 8)),
        ("Mish", lambda: nn.Mish(), (3, 8)),
        ("Hardswish", lambda: nn.Hardswish(), (3, 8)),
        ("Hardsigmoid", lambda: nn.Hardsigmoid(), (3, 8)),
        ("Softsign", lambda: nn.Softsign(), (3, 8)),
        ("LogSigmoid", lambda: nn.LogSigmoid(), (3, 8)),
        ("Tanhshrink", lambda: nn.Tanhshrink(), (3, 8)),
        ("Softshrink", lambda: nn.Softshrink(0.3), (3, 8)),
        ("Hardshrink", lambda: nn.Hardshrink(0.3), (3, 8)),
        ("Threshold", lambda: nn.Threshold(0.1, -1.0), (3, 8)),
        ("Sequential (fused steps)", lambda: nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 6), nn.ReLU(),
            nn.Linear(6, 2)), (3, 2, 4, 4)),
        ("Residual", lambda: nn.Residual(nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())),
         (2, 3, 5, 5)),
        ("Residual with shortcut", lambda: nn.Residual(nn.Conv2d(3, 4, 3, stride=2, padding=1),
                                                       nn.Conv2d(3, 4, 1, stride=2)), (2, 3, 6, 6)),
        ("Concat", lambda: nn.Concat(nn.Conv2d(3, 2, 1), nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU()),
                                     nn.AvgPool2d(3, stride=1, padding=1)), (2, 3, 5, 5)),
    ]


def test_the_cases_cover_every_layer():
    # integer or several inputs: test_embedding_runs_on_the_gpu_like_on_the_cpu and the three after it
    covered = {"Embedding", "EmbeddingBag", "MaxUnpool3d", "AdaptiveLogSoftmaxWithLoss", "LinearCrossEntropyLoss"}
    covered.add("Container")  # torch's deprecated holder of modules: no forward of its own
    covered |= {"RNNBase", "RNNCellBase"}  # bases without forward (torch's); RNN/LSTM/GRU/cells run below
    for _, factory, _ in _layer_cases():
        covered |= {type(m).__name__ for m in factory().modules()}
    public = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module) and getattr(nn, name) is not nn.Module
              and not issubclass(getattr(nn, name), nn.Loss)}  # losses: test_every_loss_on_the_gpu and after
    assert public - {"Dense"} <= covered, sorted(public - covered)  # Dense is Linear


def _forward_backward(layer, x, dy_seed, seed=11):
    """(y, dx) of one forward and backward, dy drawn on the host from dy_seed."""
    fastnn.manual_seed(seed)  # Dropout: the same seed on both devices
    y = layer(x)
    dy = np.random.default_rng(dy_seed).standard_normal(y.shape).astype(np.float32)
    return y, layer.backward(_like(y, dy))


def _like(y, a):
    """a (a host array) on y's device."""
    if isinstance(y, np.ndarray):
        return a
    import cupy

    return cupy.asarray(a)


@pytest.mark.parametrize("name, factory, shape", _layer_cases(), ids=[c[0] for c in _layer_cases()])
def test_every_layer_runs_on_the_gpu_like_on_the_cpu(xp, name, factory, shape, rng):
    fastnn.manual_seed(3)
    cpu = factory()
    fastnn.manual_seed(3)
    gpu = factory().cuda()
    x = rng.standard_normal(shape).astype(np.float32)
    y_cpu, dx_cpu = _forward_backward(cpu, x, 5)
    y_gpu, dx_gpu = _forward_backward(gpu, xp.asarray(x), 5)
    assert isinstance(y_gpu, xp.ndarray) and isinstance(dx_gpu, xp.ndarray) and y_gpu.dtype == np.float32
    # one GEMM or conv and one BatchNorm deep at most: the conv_backward tolerance covers both
    assert_close(host(y_gpu), y_cpu.astype(F64), "conv_backward", err_msg=f"{name} y")
    assert_close(host(dx_gpu), dx_cpu.astype(F64), "conv_backward", err_msg=f"{name} dx")
    for (pname, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert isinstance(pg.grad, xp.ndarray)
        assert_close(host(pg.grad), pc.grad.astype(F64), "conv_backward", err_msg=f"{name} d{pname}")
    for (bname, bc), (_, bg) in zip(cpu.named_buffers(), gpu.named_buffers()):
        if bc.dtype.kind in "iu":  # a counter (num_batches_tracked): exact
            np.testing.assert_array_equal(host(bg), bc, err_msg=f"{name} {bname}")
        else:
            assert_close(host(bg), bc.astype(F64), "batch_norm", err_msg=f"{name} {bname}")


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1, "scale_grad_by_freq": True}, {"max_norm": 1.0}])
def test_embedding_runs_on_the_gpu_like_on_the_cpu(xp, kw, rng):
    fastnn.manual_seed(3)
    cpu = nn.Embedding(6, 4, **kw)
    fastnn.manual_seed(3)
    gpu = nn.Embedding(6, 4, **kw).cuda()
    idx = rng.integers(0, 6, (3, 5))
    idx[0, :2] = 1
    y_cpu, y_gpu = cpu(idx), gpu(xp.asarray(idx))
    assert isinstance(y_gpu, xp.ndarray) and y_gpu.dtype == np.float32
    np.testing.assert_array_equal(host(y_gpu), y_cpu)
    np.testing.assert_allclose(host(gpu.weight.data), cpu.weight.data, rtol=1e-6)  # max_norm's renorm
    dy = rng.standard_normal(y_cpu.shape).astype(np.float32)
    assert cpu.backward(dy) is None and gpu.backward(xp.asarray(dy)) is None
    assert isinstance(gpu.weight.grad, xp.ndarray)
    np.testing.assert_allclose(host(gpu.weight.grad), cpu.weight.grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode, kw", [("sum", {}), ("mean", {"padding_idx": 2}), ("max", {"max_norm": 1.0}),
                                      ("sum", {"weights": True}), ("mean", {"include_last_offset": True})])
def test_embedding_bag_runs_on_the_gpu_like_on_the_cpu(xp, mode, kw, rng):
    kw = dict(kw)
    weighted = kw.pop("weights", False)
    fastnn.manual_seed(3)
    cpu = nn.EmbeddingBag(7, 4, mode=mode, **kw)
    fastnn.manual_seed(3)
    gpu = nn.EmbeddingBag(7, 4, mode=mode, **kw).cuda()
    idx = rng.integers(0, 7, 9)
    idx[:2] = 2
    offsets = np.array([0, 3, 3, 7] + ([9] if kw.get("include_last_offset") else []))
    w = rng.standard_normal(9).astype(np.float32) if weighted else None
    y_cpu = cpu(idx, offsets, w)
    y_gpu = gpu(xp.asarray(idx), xp.asarray(offsets), None if w is None else xp.asarray(w))
    assert isinstance(y_gpu, xp.ndarray) and y_gpu.dtype == np.float32
    np.testing.assert_allclose(host(y_gpu), y_cpu, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(host(gpu.weight.data), cpu.weight.data, rtol=1e-6)  # max_norm's renorm
    dy = rng.standard_normal(y_cpu.shape).astype(np.float32)
    cpu.backward(dy)
    gpu.backward(xp.asarray(dy))
    assert isinstance(gpu.weight.grad, xp.ndarray)
    np.testing.assert_allclose(host(gpu.weight.grad), cpu.weight.grad, rtol=1e-6, atol=1e-7)


def test_max_unpool3d_runs_on_the_gpu_like_on_the_cpu(xp, rng):
    pool, unpool = nn.MaxPool3d(2, stride=2, return_indices=True), nn.MaxUnpool3d(2, stride=2)
    x = rng.standard_normal((2, 3, 4, 5, 4)).astype(np.float32)
    y_cpu, i_cpu = pool(x)
    y_gpu, i_gpu = pool(xp.asarray(x))
    np.testing.assert_array_equal(host(i_gpu), i_cpu)
    out_cpu = unpool(y_cpu, i_cpu, output_size=x.shape)
    unpool_gpu = nn.MaxUnpool3d(2, stride=2)
    out_gpu = unpool_gpu(y_gpu, i_gpu, output_size=x.shape)
    assert isinstance(out_gpu, xp.ndarray) and out_gpu.dtype == np.float32
    np.testing.assert_array_equal(host(out_gpu), out_cpu)
    dy = rng.standard_normal(out_cpu.shape).astype(np.float32)
    dx_gpu = unpool_gpu.backward(xp.asarray(dy))
    assert isinstance(dx_gpu, xp.ndarray)
    np.testing.assert_array_equal(host(dx_gpu), unpool.backward(dy))


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_runs_on_the_gpu_like_on_the_cpu(xp, head_bias, rng):
    fastnn.manual_seed(3)
    cpu = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=head_bias)
    fastnn.manual_seed(3)
    gpu = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=head_bias).cuda()
    x = rng.standard_normal((5, 8)).astype(np.float32)
    t = np.array([0, 4, 9, 2, 7])
    out_cpu, loss_cpu = cpu(x, t)
    out_gpu, loss_gpu = gpu(xp.asarray(x), xp.asarray(t))
    assert isinstance(out_gpu, xp.ndarray) and out_gpu.dtype == np.float32
    np.testing.assert_allclose(host(out_gpu), out_cpu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(float(loss_gpu), float(loss_cpu), rtol=1e-6)
    dout = rng.standard_normal(5).astype(np.float32)
    dx_cpu = cpu.backward(0.5, dout)
    dx_gpu = gpu.backward(0.5, xp.asarray(dout))
    assert isinstance(dx_gpu, xp.ndarray) and dx_gpu.dtype == np.float32
    np.testing.assert_allclose(host(dx_gpu), dx_cpu, rtol=1e-5, atol=1e-6)
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert isinstance(pg.grad, xp.ndarray), name
        np.testing.assert_allclose(host(pg.grad), pc.grad, rtol=1e-5, atol=1e-6, err_msg=name)
    lp_gpu = gpu.log_prob(xp.asarray(x))
    assert isinstance(lp_gpu, xp.ndarray)
    np.testing.assert_allclose(host(lp_gpu), cpu.log_prob(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(host(gpu.predict(xp.asarray(x))), cpu.predict(x))


@pytest.mark.parametrize("kw", [{}, {"out_features": (3,), "bias": True, "weight": [1.0, 2.0, 0.5, 1.5]}])
def test_linear_cross_entropy_loss_runs_on_the_gpu_like_on_the_cpu(xp, kw, rng):
    fastnn.manual_seed(3)
    cpu = nn.LinearCrossEntropyLoss(6, 4, **kw)
    fastnn.manual_seed(3)
    gpu = nn.LinearCrossEntropyLoss(6, 4, **kw).cuda()
    x = rng.standard_normal((5, 6)).astype(np.float32)
    t = rng.integers(0, 4, (5,) + tuple(kw.get("out_features", ())))
    loss_cpu, loss_gpu = cpu(x, t), gpu(xp.asarray(x), xp.asarray(t))
    np.testing.assert_allclose(float(loss_gpu), float(loss_cpu), rtol=1e-6)
    dx_cpu, dx_gpu = cpu.backward(), gpu.backward()
    assert isinstance(dx_gpu, xp.ndarray) and dx_gpu.dtype == np.float32
    np.testing.assert_allclose(host(dx_gpu), dx_cpu, rtol=1e-5, atol=1e-6)
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert isinstance(pg.grad, xp.ndarray), name
        np.testing.assert_allclose(host(pg.grad), pc.grad, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("cls", [nn.GRU, nn.LSTM])
def test_packed_rnn_runs_on_the_gpu_like_on_the_cpu(xp, cls, rng):
    from fastnn.nn.utils import rnn as rnn_utils

    fastnn.manual_seed(3)
    cpu = cls(3, 4, num_layers=2, bidirectional=True)
    fastnn.manual_seed(3)
    gpu = cls(3, 4, num_layers=2, bidirectional=True).cuda()
    x = rng.standard_normal((5, 3, 3)).astype(np.float32)
    lengths = np.array([2, 5, 3])
    out_cpu, h_cpu = cpu(rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False))
    out_gpu, h_gpu = gpu(rnn_utils.pack_padded_sequence(xp.asarray(x), lengths, enforce_sorted=False))
    assert isinstance(out_gpu.data, xp.ndarray)
    np.testing.assert_array_equal(out_gpu.batch_sizes, out_cpu.batch_sizes)
    np.testing.assert_allclose(host(out_gpu.data), out_cpu.data, rtol=1e-5, atol=1e-6)
    h_cpu0, h_gpu0 = (h_cpu[0], h_gpu[0]) if cls is nn.LSTM else (h_cpu, h_gpu)
    np.testing.assert_allclose(host(h_gpu0), h_cpu0, rtol=1e-5, atol=1e-6)
    dout = rng.standard_normal(out_cpu.data.shape).astype(np.float32)
    dx_cpu, _ = cpu.backward(dout)
    dx_gpu, _ = gpu.backward(xp.asarray(dout))
    np.testing.assert_allclose(host(dx_gpu.data), dx_cpu.data, rtol=1e-5, atol=1e-6)
    for (name, pc), (_, pg) in zip(cpu.named_parameters(), gpu.named_parameters()):
        np.testing.assert_allclose(host(pg.grad), pc.grad, rtol=1e-5, atol=1e-6, err_msg=name)


def test_sequential_runs_its_fused_steps_on_the_gpu(xp, rng):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)).cuda()
    model(xp.asarray(rng.standard_normal((2, 1, 4, 4)).astype(np.float32)))
    kinds = [type(step) for step in model._plan]
    assert fusion.ReluMaxPool in kinds and fusion.LinearRelu in kinds


@pytest.mark.parametrize("loss_fn, kind", [
    (nn.CrossEntropyLoss(), "labels"), (nn.CrossEntropyLoss(label_smoothing=0.1), "probabilities"),
    (nn.MSELoss(), "values"), (nn.L1Loss(), "values"), (nn.BCELoss(), "probabilities01"),
    (nn.BCEWithLogitsLoss(), "probabilities01"), (nn.GaussianNLLLoss(full=True), "values"),
    (nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5, 3.0], label_smoothing=0.1), "labels_ignored"),
    (nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5, 3.0]), "probabilities"),
    (nn.BCELoss(weight=np.linspace(0.5, 2.0, 4)), "probabilities01"),
    (nn.BCEWithLogitsLoss(weight=np.linspace(0.5, 2.0, 6)[:, None], pos_weight=[1.0, 2.0, 3.0, 0.5]),
     "probabilities01")],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Loss) else v)
def test_every_loss_on_the_gpu(xp, loss_fn, kind, rng):
    pred = rng.standard_normal((6, 4)).astype(np.float32)
    if isinstance(loss_fn, nn.BCELoss):
        pred = rng.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
    target = {"labels": rng.integers(0, 4, 6), "labels_ignored": np.array([0, -100, 3, 2, -100, 1]),
              "probabilities": rng.dirichlet(np.ones(4), 6).astype(np.float32),
              "probabilities01": rng.uniform(0, 1, (6, 4)).astype(np.float32),
              "values": rng.standard_normal((6, 4)).astype(np.float32)}[kind]
    extra = (rng.uniform(0.5, 2, (6, 4)).astype(np.float32),) if isinstance(loss_fn, nn.GaussianNLLLoss) else ()
    value_cpu = loss_fn(pred, target, *extra)
    grads_cpu = loss_fn.backward()
    value_gpu = loss_fn(xp.asarray(pred), xp.asarray(target), *(xp.asarray(e) for e in extra))
    grads_gpu = loss_fn.backward()
    assert type(value_gpu) is float
    assert value_gpu == pytest.approx(value_cpu, rel=1e-6)
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)  # noqa: E731 (GaussianNLLLoss: dmean, dvar)
    for gg, gc in zip(as_tuple(grads_gpu), as_tuple(grads_cpu)):
        assert isinstance(gg, xp.ndarray)
        assert_close(host(gg), gc.astype(F64), "loss", np.float32)


@pytest.mark.parametrize("make, kind", [
    (lambda: nn.HuberLoss(delta=0.5), "values"), (lambda: nn.SmoothL1Loss(beta=0.5), "values"),
    (lambda: nn.KLDivLoss(reduction="batchmean"), "probabilities"), (lambda: nn.NLLLoss(weight=[1, 2, 0.5, 3]), "labels"),
    (lambda: nn.MSELoss(reduction="none"), "values"), (lambda: nn.BCELoss(reduction="none"), "probabilities01"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 3.0, 0.5], reduction="none"), "probabilities01"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none", weight=[1, 2, 0.5, 3], ignore_index=1), "labels"),
    (lambda: nn.CrossEntropyLoss(reduction="none"), "probabilities"),
    (lambda: nn.NLLLoss(reduction="none"), "labels"), (lambda: nn.HuberLoss(reduction="none"), "values"),
    (lambda: nn.GaussianNLLLoss(reduction="none"), "gaussian")],
    ids=lambda v: v if isinstance(v, str) else None)
def test_unreduced_and_composed_losses_on_the_gpu(xp, make, kind, rng):
    """The losses written in array code and reduction="none" run on CuPy arrays as on NumPy."""
    loss_fn = make()
    pred = rng.standard_normal((6, 4)).astype(np.float32)
    if isinstance(loss_fn, nn.BCELoss):
        pred = rng.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
    target = {"labels": rng.integers(0, 4, 6), "probabilities": rng.dirichlet(np.ones(4), 6).astype(np.float32),
              "probabilities01": rng.uniform(0, 1, (6, 4)).astype(np.float32),
              "values": rng.standard_normal((6, 4)).astype(np.float32),
              "gaussian": rng.standard_normal((6, 4)).astype(np.float32)}[kind]
    extra = (rng.uniform(0.5, 2, (6,)).astype(np.float32),) if kind == "gaussian" else ()
    value_cpu = loss_fn(pred, target, *extra)
    dy = rng.standard_normal(np.shape(value_cpu)) if loss_fn.reduction == "none" else None
    grads_cpu = loss_fn.backward(dy)
    value_gpu = loss_fn(xp.asarray(pred), xp.asarray(target), *(xp.asarray(e) for e in extra))
    grads_gpu = loss_fn.backward(None if dy is None else xp.asarray(dy))
    if loss_fn.reduction == "none":
        assert isinstance(value_gpu, xp.ndarray)
        np.testing.assert_allclose(host(value_gpu), value_cpu, rtol=1e-6, atol=1e-7)
    else:
        assert value_gpu == pytest.approx(value_cpu, rel=1e-6)
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)  # noqa: E731
    for gg, gc in zip(as_tuple(grads_gpu), as_tuple(grads_cpu)):
        assert isinstance(gg, xp.ndarray)
        np.testing.assert_allclose(host(gg), gc, rtol=1e-6, atol=1e-7)


def _pm1(rng, shape):
    return rng.choice([-1.0, 1.0], shape).astype(np.float32)


def _extra_loss_inputs(name, rng):
    """(inputs, labels) of a loss of fastnn/nn/loss_extra.py: the float inputs (differentiable,
    a gradient each) and the trailing target (none for TripletMarginLoss), host arrays."""
    x = rng.standard_normal((6, 4)).astype(np.float32)
    if name == "poisson_log":
        return (x,), rng.poisson(2.0, (6, 4)).astype(np.float32)
    if name == "poisson_rate":
        return (rng.uniform(0.1, 3.0, (6, 4)).astype(np.float32),), rng.poisson(2.0, (6, 4)).astype(np.float32)
    if name in ("soft_margin", "hinge"):
        return (x,), _pm1(rng, (6, 4))
    if name == "multilabel_soft":
        return (x,), rng.integers(0, 2, (6, 4)).astype(np.float32)
    if name == "multi_margin":
        return (x,), rng.integers(0, 4, 6)
    if name == "multilabel_margin":
        return (x,), np.array([[3, 0, -1, 1], [1, -1, 2, 0], [0, 1, 2, 3], [-1, 0, 1, 2], [2, 2, -1, -1],
                               [3, 1, 0, -1]])
    if name == "ranking":
        return (x, rng.standard_normal((6, 4)).astype(np.float32)), _pm1(rng, (6, 4))
    if name == "cosine":
        return (x, rng.standard_normal((6, 4)).astype(np.float32)), _pm1(rng, (6,))
    assert name == "triplet"
    return (x, rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 4)).astype(np.float32)), None


EXTRA_LOSSES = {  # name: (make(reduction), inputs)
    "PoissonNLLLoss": (lambda r: nn.PoissonNLLLoss(full=True, reduction=r), "poisson_log"),
    "PoissonNLLLoss-rate": (lambda r: nn.PoissonNLLLoss(log_input=False, reduction=r), "poisson_rate"),
    "SoftMarginLoss": (lambda r: nn.SoftMarginLoss(reduction=r), "soft_margin"),
    "MultiLabelSoftMarginLoss": (lambda r: nn.MultiLabelSoftMarginLoss(weight=[1.0, 2.0, 0.5, 3.0], reduction=r),
                                 "multilabel_soft"),
    "MultiMarginLoss": (lambda r: nn.MultiMarginLoss(reduction=r), "multi_margin"),
    "MultiMarginLoss-p2-weight": (lambda r: nn.MultiMarginLoss(p=2, margin=0.5, weight=[1.0, 2.0, 0.5, 3.0],
                                                               reduction=r), "multi_margin"),
    "MultiLabelMarginLoss": (lambda r: nn.MultiLabelMarginLoss(reduction=r), "multilabel_margin"),
    "HingeEmbeddingLoss": (lambda r: nn.HingeEmbeddingLoss(margin=0.5, reduction=r), "hinge"),
    "MarginRankingLoss": (lambda r: nn.MarginRankingLoss(margin=0.1, reduction=r), "ranking"),
    "CosineEmbeddingLoss": (lambda r: nn.CosineEmbeddingLoss(margin=0.2, reduction=r), "cosine"),
    "TripletMarginLoss": (lambda r: nn.TripletMarginLoss(reduction=r), "triplet"),
    "TripletMarginLoss-swap-p1": (lambda r: nn.TripletMarginLoss(p=1, swap=True, reduction=r), "triplet"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("which", list(EXTRA_LOSSES))
def test_extra_losses_on_the_gpu(xp, which, reduction, rng):
    """The losses of fastnn/nn/loss_extra.py (array code, several inputs for the ranking, cosine
    and triplet losses) on CuPy arrays as on NumPy: the loss and every input's gradient."""
    make, kind = EXTRA_LOSSES[which]
    inputs, target = _extra_loss_inputs(kind, rng)
    labels = () if target is None else (target,)
    loss_fn = make(reduction)
    value_cpu = loss_fn(*inputs, *labels)
    dy = rng.standard_normal(np.shape(value_cpu)) if reduction == "none" else None
    grads_cpu = loss_fn.backward(dy)
    loss_fn = make(reduction)  # a fresh one: nothing of the CPU run carried over
    value_gpu = loss_fn(*(xp.asarray(a) for a in inputs), *(xp.asarray(t) for t in labels))
    grads_gpu = loss_fn.backward(None if dy is None else xp.asarray(dy))
    if reduction == "none":
        assert isinstance(value_gpu, xp.ndarray)
        np.testing.assert_allclose(host(value_gpu), value_cpu, rtol=1e-6, atol=1e-7)
    else:
        assert type(value_gpu) is float
        assert value_gpu == pytest.approx(value_cpu, rel=1e-6)
    as_tuple = lambda g: g if isinstance(g, tuple) else (g,)  # noqa: E731
    grads_gpu, grads_cpu = as_tuple(grads_gpu), as_tuple(grads_cpu)
    assert len(grads_gpu) == len(grads_cpu) == len(inputs)
    for gg, gc, a in zip(grads_gpu, grads_cpu, inputs):
        assert isinstance(gg, xp.ndarray)
        assert gg.shape == a.shape and gg.dtype == a.dtype
        assert_close(host(gg), gc.astype(F64), "loss", np.float32)


# ---------------------------------------------------------------------------------------------
# Training on the GPU: the same run as on the CPU

def _train(model, opt, x, y, steps, device, clip=None, seed=21):
    """A manual loop of `steps` steps on batches of x, y (host arrays) moved to `device`.
    Returns the losses."""
    loss_fn = nn.CrossEntropyLoss()
    fastnn.manual_seed(seed)  # dropout seeds
    losses = []
    for i in range(steps):
        xb, yb = x[i::steps], y[i::steps]
        if device == "cuda":
            import cupy

            xb, yb = cupy.asarray(xb), cupy.asarray(yb)
        opt.zero_grad()
        losses.append(loss_fn(model(xb), yb))
        model.backward(loss_fn.backward(), need_dx=False)
        if clip is not None:
            clip(model.parameters())
        opt.step()
    return losses


OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05),
    "adadelta": lambda p: optim.Adadelta(p),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True),
    "adam": lambda p: optim.Adam(p, lr=1e-2),
    "adamw": lambda p: optim.AdamW(p, lr=1e-2),
    "adam_amsgrad": lambda p: optim.Adam(p, lr=1e-2, betas=(0.9, 0.5), amsgrad=True),
    "radam": lambda p: optim.RAdam(p, lr=1e-2),
    "nadam": lambda p: optim.NAdam(p, lr=1e-2, weight_decay=1e-3),
    "adamax": lambda p: optim.Adamax(p, lr=1e-2),
    "rprop": lambda p: optim.Rprop(p, lr=1e-2),
    "asgd": lambda p: optim.ASGD(p, lr=0.05, t0=2),
}


def _compare_runs(cpu_model, gpu_model, cpu_losses, gpu_losses, what):
    # the float32 backends round differently, and each step feeds the next: compare the losses
    # and the parameters after a few steps with the tolerance of compounded float32 updates
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5, err_msg=f"{what} losses")
    assert all(type(v) is float for v in gpu_losses)
    for (name, pc), (_, pg) in zip(cpu_model.named_parameters(), gpu_model.named_parameters()):
        assert_close(host(pg.data), pc.data.astype(F64), "optim_steps", np.float32, f"{what} {name}")
    for (name, bc), (_, bg) in zip(cpu_model.named_buffers(), gpu_model.named_buffers()):
        assert_close(host(bg), bc.astype(F64), "optim_steps", np.float32, f"{what} {name}")


@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_mlp_trains_on_the_gpu_like_on_the_cpu(xp, opt_name, rng):
    x = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    clip = lambda ps: optim.clip_grad_norm_(ps, 0.5)  # noqa: E731 (active: the raw norm is larger)
    cpu = _mlp()
    cpu_losses = _train(cpu, OPTIMIZERS[opt_name](cpu.parameters()), x, y, 5, "cpu", clip)
    gpu = _mlp().cuda()
    opt = OPTIMIZERS[opt_name](gpu.parameters())
    gpu_losses = _train(gpu, opt, x, y, 5, "cuda", clip)
    _compare_runs(cpu, gpu, cpu_losses, gpu_losses, opt_name)
    slots = [v for s in opt.state.values() for v in s.values() if hasattr(v, "dtype")]
    assert all(isinstance(v, xp.ndarray) for v in slots)  # the slots live on the device
    assert len(slots) >= (0 if opt_name == "sgd" else len(gpu.parameters()))  # plain SGD has none
    initial = _mlp()
    assert all(not np.array_equal(host(p.data), p0.data) for p, p0 in zip(gpu.parameters(), initial.parameters()))


def test_cnn_trains_on_the_gpu_like_on_the_cpu(xp, rng):
    x = rng.standard_normal((48, 2, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 48)
    cpu = _cnn()
    cpu_losses = _train(cpu, optim.Adam(cpu.parameters(), lr=1e-2), x, y, 4, "cpu")
    gpu = _cnn().cuda()
    gpu_losses = _train(gpu, optim.Adam(gpu.parameters(), lr=1e-2), x, y, 4, "cuda")
    _compare_runs(cpu, gpu, cpu_losses, gpu_losses, "cnn")
    assert not np.allclose(host(gpu[1].running_mean), 0)  # BatchNorm's running statistics moved


def test_gradient_clipping_on_the_gpu(xp, rng):
    grads = [rng.standard_normal(s).astype(np.float32) * 3 for s in ((5, 4), (7,), (0,))]
    for norm_type in (2.0, 1.0, float("inf")):
        cpu = [nn.Parameter(np.zeros_like(g), grad=g.copy()) for g in grads]
        gpu = [nn.Parameter(xp.zeros(g.shape, np.float32), grad=xp.asarray(g)) for g in grads]
        total_cpu = optim.clip_grad_norm_(cpu, 1.0, norm_type)
        total_gpu = optim.clip_grad_norm_(gpu, 1.0, norm_type)
        assert type(total_gpu) is np.float64 and total_gpu == pytest.approx(total_cpu, rel=1e-6)
        for pg, pc in zip(gpu, cpu):
            assert_close(host(pg.grad), pc.grad.astype(F64), "optim_step", np.float32)
    gpu = [nn.Parameter(xp.zeros(g.shape, np.float32), grad=xp.asarray(g)) for g in grads]
    optim.clip_grad_value_(gpu, 0.5)
    for pg, g in zip(gpu, grads):
        np.testing.assert_array_equal(host(pg.grad), np.clip(g, -0.5, 0.5))


def test_optimizer_slots_follow_the_model_to_the_gpu_and_back(xp, rng):
    """Steps on the CPU, then on the GPU, then on the CPU again: the same numbers as all on the CPU."""
    x = rng.standard_normal((30, 12)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    ref = _mlp()
    ref_opt = optim.Adam(ref.parameters(), lr=1e-2)
    ref_losses = _train(ref, ref_opt, x, y, 3, "cpu") + _train(ref, ref_opt, x, y, 3, "cpu", seed=22) + \
        _train(ref, ref_opt, x, y, 3, "cpu", seed=23)
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    losses = _train(model, opt, x, y, 3, "cpu")
    model.cuda()
    losses += _train(model, opt, x, y, 3, "cuda", seed=22)
    assert all(isinstance(opt.state[p]["exp_avg"], xp.ndarray) for p in model.parameters())
    model.cpu()
    losses += _train(model, opt, x, y, 3, "cpu", seed=23)
    assert all(type(opt.state[p]["exp_avg_sq"]) is np.ndarray for p in model.parameters())
    _compare_runs(ref, model, ref_losses, losses, "moved")


def test_optimizer_state_dict_loads_onto_the_parameters_device(xp, rng):
    x = rng.standard_normal((20, 12)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    cpu = _mlp()
    cpu_opt = optim.SGD(cpu.parameters(), lr=0.1, momentum=0.9)
    _train(cpu, cpu_opt, x, y, 2, "cpu")
    saved = cpu_opt.state_dict()
    gpu = _mlp()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    gpu_opt = optim.SGD(gpu.parameters(), lr=0.1, momentum=0.9)
    gpu_opt.load_state_dict(saved)
    for p in gpu.parameters():
        assert isinstance(gpu_opt.state[p]["momentum_buffer"], xp.ndarray)
    device_state = gpu_opt.state_dict()  # copies, on the device (as PyTorch)
    assert all(isinstance(s["momentum_buffer"], xp.ndarray) for s in device_state["state"].values())
    cpu_losses = _train(cpu, cpu_opt, x, y, 2, "cpu", seed=5)
    gpu_losses = _train(gpu, gpu_opt, x, y, 2, "cuda", seed=5)
    _compare_runs(cpu, gpu, cpu_losses, gpu_losses, "resumed")


def test_state_dict_is_on_the_device_and_load_state_dict_crosses_devices(xp, rng):
    gpu = _cnn().cuda()
    state = gpu.state_dict()
    assert all(isinstance(v, xp.ndarray) for v in state.values())
    cpu = _cnn(seed=1)
    cpu.load_state_dict(state)  # device values into a host model
    gpu2 = _cnn(seed=2).cuda()
    gpu2.load_state_dict({k: host(v) for k, v in state.items()})  # host values into a device model
    for k, v in state.items():
        np.testing.assert_array_equal(host(cpu.state_dict()[k]), host(v), err_msg=k)
        np.testing.assert_array_equal(host(gpu2.state_dict()[k]), host(v), err_msg=k)
    assert gpu2.device == "cuda" and cpu.device == "cpu"


def test_summary_runs_on_the_model_device(xp):
    text = _cnn().cuda().summary((2, 8, 8), print_fn=None)
    assert "MaxPool2d" in text and "(None, 4, 4, 4)" in text


# ---------------------------------------------------------------------------------------------
# fit / evaluate / predict, Keras style, save / load

def test_fit_evaluate_predict_with_a_cuda_model(xp, rng):
    x = rng.standard_normal((64, 2, 8, 8)).astype(np.float32)
    y = rng.integers(0, 5, 64)
    runs = {}
    for device in ("cpu", "cuda"):
        model = _cnn().to(device)
        history = fastnn.fit(model, optim.Adam(model.parameters(), lr=1e-2), "cross_entropy", train=(x, y),
                             val=(x[:16], y[:16]), epochs=2, batch_size=16, metrics=["accuracy"], progress=False,
                             seed=4)
        result = fastnn.evaluate(model, (x, y), loss="cross_entropy", metrics=["accuracy"], batch_size=20)
        pred = fastnn.predict(model, x, batch_size=24)
        runs[device] = (history.history, result, pred, model)
    (h_cpu, r_cpu, p_cpu, m_cpu), (h_gpu, r_gpu, p_gpu, m_gpu) = runs["cpu"], runs["cuda"]
    assert m_gpu.device == "cuda" and type(p_gpu) is np.ndarray and p_gpu.shape == (64, 5)
    assert sorted(h_gpu) == sorted(h_cpu)
    for k in h_cpu:
        assert all(type(v) is float for v in h_gpu[k]), k
        np.testing.assert_allclose(h_gpu[k], h_cpu[k], rtol=1e-4, err_msg=k)
    assert all(type(v) is float for v in r_gpu.values())
    assert r_gpu["loss"] == pytest.approx(r_cpu["loss"], rel=1e-4)
    assert r_gpu["accuracy"] == r_cpu["accuracy"]
    assert_close(p_gpu, p_cpu.astype(F64), "optim_steps", np.float32)
    assert m_gpu.training  # fit/evaluate/predict restore the mode


def test_fit_with_a_loader_and_device_data(xp, rng):
    x = rng.standard_normal((40, 12)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    model = _mlp().cuda()
    loader = fastnn.data.DataLoader((x, y), batch_size=8, shuffle=True, seed=0)
    history = fastnn.fit(model, "sgd", "cross_entropy", train=loader, epochs=2, progress=False)
    assert len(history["loss"]) == 2 and all(np.isfinite(history["loss"]))
    # CuPy data for a CuPy model is used in place (shuffled with the index on the device)
    history = fastnn.fit(model, "adam", "cross_entropy", train=(xp.asarray(x), xp.asarray(y)), epochs=1,
                         batch_size=16, progress=False, metrics=["accuracy"])
    assert 0.0 <= history["accuracy"][0] <= 1.0
    probs = model.predict_proba(xp.asarray(x[:5]))
    assert type(probs) is np.ndarray and np.allclose(probs.sum(axis=1), 1, atol=1e-6)


def test_keras_style_on_the_gpu(xp, rng):
    x = rng.standard_normal((32, 12)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    model = _mlp().cuda().compile("adam", "cross_entropy", ["accuracy"])
    model.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), progress=False)
    out = model.evaluate(x, y)
    assert set(out) == {"loss", "accuracy"} and all(type(v) is float for v in out.values())
    assert type(model.predict(x)) is np.ndarray


def test_save_a_gpu_model_and_load_it_on_either_device(xp, tmp_path, rng):
    x = rng.standard_normal((6, 2, 8, 8)).astype(np.float32)
    model = _cnn().cuda()
    fastnn.fit(model, "adam", "cross_entropy", train=(x, rng.integers(0, 5, 6)), epochs=1, batch_size=3,
               progress=False)  # running statistics and weights away from their initial values
    path = tmp_path / "gpu.fnn"
    fastnn.save(model, path)
    assert model.device == "cuda"  # saving does not move the model
    want = {k: host(v) for k, v in model.state_dict().items()}
    on_cpu = fastnn.load(path)
    on_gpu = fastnn.load(path, device="cuda")
    assert on_cpu.device == "cpu" and on_gpu.device == "cuda" and not on_gpu.training
    for k, v in want.items():
        np.testing.assert_array_equal(on_cpu.state_dict()[k], v, err_msg=k)  # host copies: exact
        np.testing.assert_array_equal(host(on_gpu.state_dict()[k]), v, err_msg=k)
    model.eval()
    np.testing.assert_array_equal(fastnn.predict(on_gpu, x), fastnn.predict(model, x))  # the same device: bitwise
    assert_close(fastnn.predict(on_cpu, x), fastnn.predict(model, x).astype(F64), "conv_backward")


# ---------------------------------------------------------------------------------------------
# fastnn train --device cuda

@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet"])
def test_train_cli_on_the_gpu(xp, model, tmp_path, capsys):
    """The whole command with a device: the model trains there, to the numbers of the CPU run of
    the same seed (as printed, 4 decimals), saves, and loads."""
    pytest.importorskip("sklearn", reason="the digits dataset comes with scikit-learn")
    from fastnn import cli

    emulated = hasattr(xp, "launches")  # tests/fake_cupy.py records the kernels it runs
    runs = {}
    for device in ("cpu", "cuda"):
        if emulated:
            xp.launches.clear()
        path = tmp_path / f"{device}.fnn"
        rc = cli.main(["train", "--device", device, "--dataset", "digits", "--model", model, "--epochs", "1",
                       "--limit", "200", "--batch-size", "64", "--no-progress", "--seed", "3", "--save", str(path)])
        out = capsys.readouterr().out
        assert rc == 0, out
        runs[device] = [float(v) for v in re.findall(r"(?:loss|accuracy) (\d+\.\d+)", out)]
    assert "GPU (CUDA, CuPy)" in out and "epoch 1/1:" in out
    if emulated:
        assert "adam_update_f32" in xp.launches  # the updates ran on the (emulated) device
    assert len(runs["cuda"]) == len(runs["cpu"]) == 6  # train/val loss and accuracy, test loss and accuracy
    np.testing.assert_allclose(runs["cuda"], runs["cpu"], atol=2e-4)  # 1e-4 of printing, float32 noise
    assert fastnn.load(path).device == "cpu"


def test_cross_entropy_per_position_on_the_gpu(xp, rng):
    logits = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 3, (2, 4, 5))
    labels[1, 2, 3] = -100
    loss = nn.CrossEntropyLoss(weight=[1.0, 0.5, 2.0])
    value_cpu, grad_cpu = loss(logits, labels), loss.backward()
    value_gpu = loss(xp.asarray(logits), xp.asarray(labels))
    grad_gpu = loss.backward()
    assert isinstance(grad_gpu, xp.ndarray) and grad_gpu.shape == logits.shape
    assert value_gpu == pytest.approx(value_cpu, rel=1e-6)
    assert_close(host(grad_gpu), grad_cpu.astype(F64), "loss", np.float32)
