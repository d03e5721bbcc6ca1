"""RNNBase / RNNCellBase (fastnn.nn.rnn) and fastnn.nn.parameter (UninitializedParameter,
UninitializedBuffer, is_lazy) vs torch 2.13."""
import copy
import math
import pickle
import warnings

import numpy as np
import pytest

from fastnn.nn.extra5 import LazyBatchNorm1d, LazyConv2d, LazyInstanceNorm2d, LazyLinear
from fastnn.nn.layers import Linear
from fastnn.nn.module import Buffer as ModuleBuffer
from fastnn.nn.module import Parameter as ModuleParameter
from fastnn.nn.parameter import (Buffer, Parameter, UninitializedBuffer, UninitializedParameter,
                                 UninitializedTensorMixin, is_lazy)
from fastnn.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase

torch = pytest.importorskip("torch")
tnn = torch.nn

MODES = ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")
CONFIGS = [dict(), dict(num_layers=2, bidirectional=True), dict(num_layers=3, bias=False),
           dict(num_layers=2, proj_size=2, bidirectional=True)]


def _shapes(module):
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


# --- RNNBase -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_rnnbase_parameters_as_torch(mode, cfg):
    m = RNNBase(mode, 3, 5, **cfg)
    t = tnn.RNNBase(mode, 3, 5, **cfg)
    assert _shapes(m) == _shapes(t)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert m._flat_weights_names == t._flat_weights_names
    assert m._all_weights == t._all_weights
    assert [[p.shape for p in ps] for ps in m.all_weights] == [[tuple(p.shape) for p in ps] for ps in t.all_weights]
    assert all(p is getattr(m, n) for ps, ns in zip(m.all_weights, m._all_weights) for p, n in zip(ps, ns))
    assert [p for ps in m.all_weights for p in ps] == m._flat_weights == list(m.parameters())
    assert repr(m) == repr(t)
    assert m.mode == t.mode == mode
    bound = 1 / math.sqrt(5)
    for p in m.parameters():
        assert p.data.dtype == np.float32 and np.abs(p.data).max() <= bound and p.data.std() > 0
    # torch's weights load strictly, and the values are kept
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k], v.detach().numpy())


def test_rnnbase_call_raises_as_torch():
    x = np.zeros((4, 2, 3), np.float32)
    for mode in MODES:
        m = RNNBase(mode, 3, 5)
        with pytest.raises(NotImplementedError, match=r'Module \[RNNBase\] is missing the required "forward" '
                                                      r'function'):
            m(x)
        with pytest.raises(NotImplementedError, match="missing the required"):
            m.backward(x)
        with pytest.raises(NotImplementedError):  # torch's own behaviour, for the record
            tnn.RNNBase(mode, 3, 5)(torch.zeros(4, 2, 3))


def test_rnnbase_errors_and_options():
    with pytest.raises(ValueError, match="Unrecognized RNN mode: FOO"):
        RNNBase("FOO", 3, 4)
    with pytest.raises(ValueError, match="Unrecognized RNN mode: lstm"):
        RNNBase("lstm", 3, 4)
    with pytest.raises(ValueError, match="Unrecognized RNN mode: FOO"):
        tnn.RNNBase("FOO", 3, 4)
    with pytest.raises(ValueError, match="proj_size"):
        RNNBase("LSTM", 3, 4, proj_size=4)
    with pytest.raises(ValueError, match="dropout"):
        RNNBase("GRU", 3, 4, dropout=1.5)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1") as rec:
        RNNBase("GRU", 3, 4, dropout=0.5)
    assert rec[0].filename == __file__
    with pytest.warns(UserWarning, match="non-zero dropout") as rec:
        LSTM(3, 4, dropout=0.5)
    assert rec[0].filename == __file__
    m = RNNBase("RNN_RELU", 3, 4, 2, dtype=np.float64, device="cpu")
    assert all(p.data.dtype == np.float64 and p.device == "cpu" for p in m.parameters())
    assert m.flatten_parameters() is None
    assert m.get_config() == {"mode": "RNN_RELU", "input_size": 3, "hidden_size": 4, "num_layers": 2, "bias": True,
                              "batch_first": False, "dropout": 0.0, "bidirectional": False, "proj_size": 0}
    rebuilt = RNNBase(**m.get_config())
    assert _shapes(rebuilt) == _shapes(m)


@pytest.mark.parametrize("cls,kw,mode", [(RNN, {}, "RNN_TANH"), (RNN, {"nonlinearity": "relu"}, "RNN_RELU"),
                                         (LSTM, {"proj_size": 2}, "LSTM"), (GRU, {}, "GRU")])
def test_subclasses_are_rnnbase(cls, kw, mode):
    m = cls(3, 4, 2, **kw)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "LSTM with projections is not supported with oneDNN"
        t = getattr(tnn, cls.__name__)(3, 4, 2, **kw)
        ref = t(torch.from_numpy(x))[0].detach().numpy()
    assert isinstance(m, RNNBase) and m.mode == t.mode == mode
    assert m._flat_weights_names == t._flat_weights_names
    assert "mode" not in m.get_config()  # the subclasses' configs are unchanged
    # still a working layer, its output torch's with the same weights
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    np.testing.assert_allclose(m(x)[0], ref, rtol=1e-5, atol=1e-6)


def test_rnnbase_subclass_with_own_forward():
    """A user's subclass of RNNBase defines forward (torch's pattern) and keeps the parameters."""
    class Mine(RNNBase):
        def __init__(self):
            super().__init__("GRU", 2, 3)

        def forward(self, input, hx=None):
            return input @ self.weight_ih_l0.data.T

    m = Mine()
    assert m(np.ones((1, 2), np.float32)).shape == (1, 9)
    assert list(m.state_dict()) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


# --- RNNCellBase -------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("chunks", [1, 2, 4])
def test_rnncellbase_as_torch(bias, chunks):
    m = RNNCellBase(3, 5, bias, chunks)
    t = tnn.RNNCellBase(3, 5, bias, chunks)
    assert _shapes(m) == _shapes(t)
    assert repr(m) == repr(t)
    bound = 1 / math.sqrt(5)
    assert all(np.abs(p.data).max() <= bound for p in m.parameters())
    with pytest.raises(NotImplementedError, match=r'Module \[RNNCellBase\] is missing the required "forward"'):
        m(np.zeros((2, 3), np.float32))
    m64 = RNNCellBase(3, 5, bias, chunks, dtype=np.float64)
    assert all(p.data.dtype == np.float64 for p in m64.parameters())
    assert RNNCellBase(**m.get_config()).get_config() == m.get_config()


def test_cells_are_rnncellbase():
    for cell, torch_cell in ((RNNCell(3, 4), tnn.RNNCell(3, 4)), (LSTMCell(3, 4), tnn.LSTMCell(3, 4)),
                             (GRUCell(3, 4, bias=False), tnn.GRUCell(3, 4, bias=False))):
        assert isinstance(cell, RNNCellBase)
        assert _shapes(cell) == _shapes(torch_cell)
        assert "num_chunks" not in cell.get_config()
    with pytest.raises(ValueError, match="num_chunks"):
        RNNCellBase(3, 4, True, 0)


# --- parameter.py ------------------------------------------------------------------------------

def test_parameter_module_names():
    assert Parameter is ModuleParameter and Buffer is ModuleBuffer
    assert UninitializedParameter.cls_to_become is Parameter
    assert UninitializedBuffer.cls_to_become is np.ndarray
    assert issubclass(UninitializedParameter, Parameter)
    assert issubclass(UninitializedParameter, UninitializedTensorMixin)
    assert not is_lazy(np.zeros(2)) and not is_lazy(Parameter(np.zeros(2, np.float32))) and not is_lazy(None)
    assert not torch.nn.parameter.is_lazy(torch.zeros(2))


def test_uninitialized_parameter_materialize():
    p = UninitializedParameter()
    assert is_lazy(p) and isinstance(p, Parameter) and repr(p) == "<UninitializedParameter>"
    assert p.data.shape == (0,) and p.data.dtype == np.float32 and p.requires_grad
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter or buffer"):
        p.shape
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        torch.nn.parameter.UninitializedParameter().shape
    p.materialize((2, 3))
    assert type(p) is Parameter and not is_lazy(p)
    assert p.shape == (2, 3) and p.data.dtype == np.float32 and not p.data.any() and p.grad.shape == (2, 3)
    q = UninitializedParameter(requires_grad=False, dtype=np.float64)
    q.materialize(4, dtype=np.float32)
    assert type(q) is Parameter and q.shape == (4,) and q.dtype == np.float32 and not q.requires_grad
    r = UninitializedParameter(dtype=np.float64)
    r.materialize([1, 2])
    assert r.shape == (1, 2) and r.dtype == np.float64
    # torch's, the same sequence
    t = torch.nn.parameter.UninitializedParameter(requires_grad=False, dtype=torch.float64)
    t.materialize(4, dtype=torch.float32)
    assert type(t) is torch.nn.Parameter and tuple(t.shape) == (4,) and not t.requires_grad
    with pytest.raises(TypeError, match="float32 or float64"):
        UninitializedParameter().materialize((2,), dtype=np.int64)
    with pytest.raises(ValueError, match="negative"):
        UninitializedParameter().materialize((2, -1))
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        UninitializedParameter(requires_grad="yes")


def test_uninitialized_buffer():
    b = UninitializedBuffer(dtype=np.float64)
    assert is_lazy(b) and isinstance(b, np.ndarray) and repr(b) == "<UninitializedBuffer>"
    assert not b.requires_grad and b.persistent and b.dtype == np.float64 and b.size == 0
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter or buffer"):
        b.shape
    m = b.materialize((2, 3))
    assert type(m) is np.ndarray and m.shape == (2, 3) and m.dtype == np.float64 and not m.any()
    assert b.materialize(3, dtype=np.float32).dtype == np.float32
    assert type(b.copy()) is np.ndarray and b.copy().shape == (0,)
    assert type(pickle.loads(pickle.dumps(b))) is UninitializedBuffer
    assert UninitializedBuffer(persistent=False).persistent is False
    with pytest.raises(ValueError, match="lives on the host"):
        UninitializedBuffer(device="cuda")


LAZY = [(LazyLinear, tnn.LazyLinear, (3,), (2, 5)), (LazyConv2d, tnn.LazyConv2d, (4, 3), (1, 2, 6, 6)),
        (LazyBatchNorm1d, tnn.LazyBatchNorm1d, (), (4, 3)),
        (LazyInstanceNorm2d, tnn.LazyInstanceNorm2d, (), (2, 3, 4, 4))]


@pytest.mark.parametrize("ours,theirs,args,shape", LAZY, ids=lambda v: getattr(v, "__name__", ""))
def test_lazy_modules_use_uninitialized_classes(ours, theirs, args, shape):
    m, t = ours(*args), theirs(*args)
    params = dict(m.named_parameters())
    assert {k: is_lazy(v) for k, v in params.items()} == \
        {k: torch.nn.parameter.is_lazy(v) for k, v in t.named_parameters()}
    assert {k: is_lazy(v) for k, v in m.named_buffers()} == \
        {k: torch.nn.parameter.is_lazy(v) for k, v in t.named_buffers()}
    for p in params.values():
        assert isinstance(p, UninitializedParameter) and p.data.shape == (0,)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    m(x)
    t(torch.from_numpy(x))
    after = dict(m.named_parameters())
    assert all(after[k] is p and type(p) is Parameter for k, p in params.items())  # the same objects
    assert not any(is_lazy(v) for v in list(after.values()) + [b for _, b in m.named_buffers()])
    assert not any(torch.nn.parameter.is_lazy(v) for v in list(t.parameters()) + list(t.buffers()))
    assert _shapes(m) == _shapes(t)


def test_lazy_linear_weight_flag_and_copies():
    layer = LazyLinear(3)
    assert isinstance(layer.weight, UninitializedParameter)
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        layer.weight.shape
    twin = copy.deepcopy(layer)
    assert isinstance(twin.weight, UninitializedParameter) and twin.weight is not layer.weight
    layer.to(np.float64)
    assert isinstance(layer.weight, UninitializedParameter) and layer.weight.data.dtype == np.float64
    layer(np.ones((2, 5)))
    assert type(layer) is Linear and not isinstance(layer.weight, UninitializedParameter)
    assert layer.weight.shape == (3, 5) and layer.weight.data.dtype == np.float64
    twin.load_state_dict({"weight": np.ones((3, 4), np.float32), "bias": np.zeros(3, np.float32)})
    assert type(twin.weight) is Parameter and twin.weight.shape == (3, 4)
    bn = LazyBatchNorm1d()
    assert isinstance(bn.running_mean, UninitializedBuffer)
    assert all(type(v) is np.ndarray for v in bn.state_dict().values())
    bn.to(np.float64)
    assert isinstance(bn.running_var, UninitializedBuffer) and bn.running_var.dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bn(np.random.default_rng(2).standard_normal((4, 3)))
    assert type(bn.running_mean) is np.ndarray and bn.running_mean.shape == (3,)
