"""Conformance of fastnn.data splits / transforms, fastnn.nn.init and the Module API with the
reference libraries (scikit-learn, PyTorch) where fastnn follows their semantics."""
import math

import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn.data import CutMix, GaussianNoise, KFold, Mixup, StratifiedKFold, train_test_split


# --- splits (scikit-learn) -------------------------------------------------------------------

@pytest.mark.parametrize("n", [7, 10, 23, 50])
@pytest.mark.parametrize("test_size", [0.1, 0.25, 0.3, 0.5, 0.7, 1, 3])
def test_split_sizes_match_scikit_learn(n, test_size):
    sk = pytest.importorskip("sklearn.model_selection")
    want = [len(a) for a in sk.train_test_split(np.arange(n), test_size=test_size, random_state=0)]
    s = train_test_split(np.arange(n), test_size=test_size, seed=0)
    assert [len(s.x_train), len(s.x_test)] == want


@pytest.mark.parametrize("n, k", [(10, 3), (11, 4), (23, 5), (7, 7)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_fold_sizes_match_scikit_learn(n, k, shuffle):
    sk = pytest.importorskip("sklearn.model_selection")
    x = np.zeros((n, 2))
    y = np.arange(n) % 3
    want = [len(t) for _, t in sk.KFold(k, shuffle=shuffle, random_state=0 if shuffle else None).split(x)]
    assert [len(t) for _, t in KFold(k, shuffle=shuffle, seed=0).split(x)] == want
    # StratifiedKFold: scikit-learn's allocation, so the same folds unshuffled (sizes shuffled),
    # its UserWarning when the smallest class has fewer than k members, its ValueError when all do
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            theirs = [t for _, t in sk.StratifiedKFold(k, shuffle=shuffle,
                                                       random_state=0 if shuffle else None).split(x, y)]
        except ValueError:
            theirs = None
    if theirs is None:
        with pytest.raises(ValueError, match="cannot be greater than the number of members in each class"):
            list(StratifiedKFold(k, shuffle=shuffle, seed=0).split(x, y))
        return
    with warnings.catch_warnings(record=True) as ours_caught:
        warnings.simplefilter("always")
        ours = [t for _, t in StratifiedKFold(k, shuffle=shuffle, seed=0).split(x, y)]
    assert [str(w.message) for w in ours_caught] == [str(w.message) for w in caught if "least populated" in str(w.message)]
    assert [len(t) for t in ours] == [len(t) for t in theirs]
    if not shuffle:
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("test_size", [0.6, 6])
def test_stratified_split_with_too_few_training_samples_for_the_classes_raises(test_size):
    """5 classes of 2 and 6 test samples leave 4 to train on: scikit-learn raises; fastnn used to
    return a 5-sample test set silently, not the 6 asked for."""
    y = np.repeat(np.arange(5), 2)
    sk = pytest.importorskip("sklearn.model_selection")
    with pytest.raises(ValueError, match="number of classes = 5"):
        sk.train_test_split(np.arange(10), y, test_size=test_size, stratify=y)
    with pytest.raises(ValueError, match=rf"test_size={test_size} leaves 4 training samples for 5 classes"):
        train_test_split(np.arange(10), y, test_size=test_size, stratify=y, seed=0)
    s = train_test_split(np.arange(10), y, test_size=5, stratify=y, seed=0)   # the largest that works
    assert len(s.x_test) == 5 and sorted(s.y_test) == [0, 1, 2, 3, 4]


# --- transforms ------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Mixup, CutMix])
@pytest.mark.parametrize("alpha", [math.inf, math.nan, 0.0, -1.0])
def test_mixing_alpha_must_be_finite_and_positive(cls, alpha):
    """Beta(inf, inf) gave NaN images and labels without an error."""
    with pytest.raises(ValueError, match=f"alpha={alpha!r}"):
        cls(alpha, 3)


@pytest.mark.parametrize("std", [math.inf, math.nan, -0.1])
def test_gaussian_noise_std_must_be_finite_and_non_negative(std):
    with pytest.raises(ValueError, match=f"std={std!r}"):
        GaussianNoise(std)


# --- init (PyTorch) --------------------------------------------------------------------------

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.2, 3])
def test_calculate_gain_matches_torch(nonlinearity, param):
    torch = pytest.importorskip("torch")
    assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


@pytest.mark.parametrize("param", [True, "0.1", [0.1]])
def test_calculate_gain_rejects_a_slope_that_is_not_a_number(param):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("leaky_relu", param)
    with pytest.raises(ValueError, match="negative_slope"):
        nn.init.calculate_gain("leaky_relu", param)


def test_calculate_gain_unknown_nonlinearity_names_it():
    with pytest.raises(ValueError, match="nonlinearity='Relu'"):
        nn.init.calculate_gain("Relu")


@pytest.mark.parametrize("shape", [(3, 4), (5, 3, 3), (8, 4, 3, 3), (2, 3, 4, 5, 6)])
def test_fans_of_an_array_a_parameter_and_a_shape_match_torch(shape):
    torch = pytest.importorskip("torch")
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    w = np.zeros(shape, np.float32)
    assert nn.init.calculate_fan_in_and_fan_out(shape) == want
    assert nn.init.calculate_fan_in_and_fan_out(w) == want          # was a tuple of arrays
    assert nn.init.calculate_fan_in_and_fan_out(nn.Parameter(w)) == want


def test_kaiming_on_a_zero_element_weight_is_a_no_op_with_a_warning():
    torch = pytest.importorskip("torch")
    for fn in (torch.nn.init.kaiming_uniform_, torch.nn.init.kaiming_normal_):
        with pytest.warns(UserWarning, match="zero-element"):
            fn(torch.empty(0, 3), mode="fan_out")
    for fn in (nn.init.kaiming_uniform_, nn.init.kaiming_normal_):
        w = np.zeros((0, 3), np.float32)
        with pytest.warns(UserWarning, match="zero-element"):
            assert fn(w, mode="fan_out") is w          # was ZeroDivisionError


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity, a", [("relu", 0), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                             ("tanh", 0), ("selu", 0), ("linear", 0)])
def test_kaiming_bounds_and_stds_match_torch(mode, nonlinearity, a):
    torch = pytest.importorskip("torch")
    shape = (128, 64, 3, 3)
    fastnn.manual_seed(0)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    w = np.zeros(shape, np.float32)
    nn.init.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    assert np.abs(w).max() <= math.sqrt(3) * std * (1 + 1e-6)
    assert w.std() == pytest.approx(std, rel=0.03)
    nn.init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    assert w.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("make", [
    lambda m: m.Linear(300, 200), lambda m: m.Conv2d(16, 64, 3), lambda m: m.Conv2d(16, 64, (3, 5), groups=4),
    lambda m: m.ConvTranspose2d(16, 64, 3), lambda m: m.ConvTranspose2d(64, 8, 4, stride=2)])
def test_layer_default_init_bounds_match_torch(make):
    torch = pytest.importorskip("torch")
    ref, layer = make(torch.nn), make(nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(ref.weight)
    bound = 1 / math.sqrt(fan_in)                         # torch's kaiming_uniform_(a=sqrt(5)) and bias bound
    assert layer.weight.shape == tuple(ref.weight.shape)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


# --- Module (PyTorch) ------------------------------------------------------------------------

def test_train_mode_must_be_a_bool_and_train_eval_return_self():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="boolean"):
        torch.nn.Linear(2, 2).train("no")
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert model.eval() is model and model.train() is model
    for bad in ("no", 0, None):
        with pytest.raises(ValueError, match=f"Received: mode={bad!r}"):
            model.train(bad)                 # "no" used to switch to training mode
    assert model.train(np.bool_(False)) is model and not any(m.training for m in model.modules())


def test_shared_module_is_listed_once_by_modules_and_children_as_torch():
    torch = pytest.importorskip("torch")
    lin, tlin = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    model, ref = nn.Sequential(lin, nn.ReLU(), lin), torch.nn.Sequential(tlin, torch.nn.ReLU(), tlin)
    assert [n for n, _ in model.named_modules()] == [n for n, _ in ref.named_modules()] == ["", "0", "1"]
    assert len(model.modules()) == len(list(ref.modules())) == 3
    assert len(model.children()) == len(list(ref.children())) == 2
    assert [n for n, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    # state_dict still names every place a shared layer appears, as torch's
    assert list(model.state_dict()) == list(ref.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model.load_state_dict(model.state_dict())
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in ref.named_parameters()]


def test_names_state_dict_and_strict_load_errors_as_torch():
    torch = pytest.importorskip("torch")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 5))
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(144, 5))
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert list(model.state_dict()) == list(ref.state_dict())  # BatchNorm's num_batches_tracked too
    state = model.state_dict()
    state.pop("0.weight")
    state["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['0.weight'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["4.weight"] = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"state_dict\['4.weight'\] has shape \(5, 3\)"):
        model.load_state_dict(state)


def test_repr_of_every_layer_class():
    args = {"AdaptiveAvgPool2d": (2,), "AdaptiveMaxPool2d": (2,), "AvgPool2d": (2,), "MaxPool2d": (2,),
            "BatchNorm1d": (3,), "BatchNorm2d": (3,), "Conv2d": (3, 4, 3), "ConvTranspose2d": (3, 4, 3),
            "Linear": (3, 4), "Reshape": ((2, 3),), "Concat": (nn.ReLU(), nn.Tanh()), "Residual": (nn.ReLU(),),
            "Sequential": (nn.Linear(2, 2), nn.ReLU()), "Threshold": (0.1, 0.0),
            "Unflatten": (1, (2, 3)), "ZeroPad2d": (1,), "ConstantPad2d": (1, 0.5), "LayerNorm": (4,),
            "GroupNorm": (2, 4), "Upsample": (None, 2), "Embedding": (10, 3),
            # layers1d.py
            "Conv1d": (3, 4, 3), "ConvTranspose1d": (3, 4, 3), "MaxPool1d": (2,), "AvgPool1d": (2,),
            "AdaptiveAvgPool1d": (2,), "AdaptiveMaxPool1d": (2,), "ReflectionPad1d": (1,), "ReflectionPad2d": (1,),
            "ReplicationPad1d": (1,), "ReplicationPad2d": (1,), "ZeroPad1d": (1,), "ConstantPad1d": (1, 0.5),
            "CircularPad1d": (1,), "CircularPad2d": (1,), "InstanceNorm1d": (3,), "InstanceNorm2d": (3,),
            "PixelShuffle": (2,), "PixelUnshuffle": (2,), "ChannelShuffle": (2,),
            "UpsamplingNearest2d": (None, 2), "UpsamplingBilinear2d": (4,),
            # extra2.py, extra3.py
            "RMSNorm": (4,), "LocalResponseNorm": (3,), "LPPool1d": (2, 3), "LPPool2d": (2, 3), "MaxUnpool1d": (2,),
            "MaxUnpool2d": (2,), "Fold": (4, 2), "Unfold": (2,), "Bilinear": (2, 3, 4),
            # conv3d.py, layers3d.py
            "Conv3d": (3, 4, 3), "ConvTranspose3d": (3, 4, 3), "BatchNorm3d": (3,), "InstanceNorm3d": (3,),
            "MaxPool3d": (2,), "AvgPool3d": (2,), "AdaptiveAvgPool3d": (2,), "AdaptiveMaxPool3d": (2,), "ZeroPad3d": (1,),
            "ConstantPad3d": (1, 0.5), "ReflectionPad3d": (1,), "ReplicationPad3d": (1,), "CircularPad3d": (1,),
            # rnn.py
            "RNN": (3, 4), "LSTM": (3, 4), "GRU": (3, 4), "RNNCell": (3, 4), "LSTMCell": (3, 4), "GRUCell": (3, 4),
            "RNNBase": ("GRU", 3, 4), "RNNCellBase": (3, 4, True, 3),
            # transformer.py, extra4.py, extra5.py
            "MultiheadAttention": (8, 2), "TransformerEncoderLayer": (8, 2), "TransformerDecoderLayer": (8, 2),
            "TransformerEncoder": (nn.TransformerEncoderLayer(8, 2), 2),
            "TransformerDecoder": (nn.TransformerDecoderLayer(8, 2), 2), "Transformer": (8, 2, 1, 1, 16),
            "LPPool3d": (2, 2), "MaxUnpool3d": (2,), "EmbeddingBag": (10, 3), "SyncBatchNorm": (3,),
            "LazyLinear": (4,), "LazyConv1d": (3, 2), "LazyConv2d": (3, 2), "LazyConv3d": (3, 2),
            "LazyConvTranspose1d": (3, 2), "LazyConvTranspose2d": (3, 2), "LazyConvTranspose3d": (3, 2),
            "FractionalMaxPool2d": (2, 3), "FractionalMaxPool3d": (2, 3), "AdaptiveLogSoftmaxWithLoss": (8, 10, [4]),
            "LinearCrossEntropyLoss": (8, 10), "CrossMapLRN2d": (3,), "DataParallel": (nn.ReLU(),)}
    for name in nn.__all__:
        cls = getattr(nn, name)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and cls is not nn.Module:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # Container: deprecated, as torch's
                text = repr(cls(*args.get(cls.__name__, ())))
            assert text.startswith(cls.__name__ + "("), text


def test_call_passes_further_arguments_to_forward_as_torch():
    """module(x, y, key=...) is module.forward(x, y, key=...), as torch's Module.__call__."""
    fastnn.manual_seed(0)
    t = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True)
    src = np.random.default_rng(0).standard_normal((2, 3, 8)).astype(np.float32)
    tgt = np.random.default_rng(1).standard_normal((2, 4, 8)).astype(np.float32)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(t(src, tgt, tgt_mask=mask), t.forward(src, tgt, tgt_mask=mask))
    assert t(src, tgt).shape == (2, 4, 8)
    with pytest.raises(TypeError):
        nn.ReLU()(src, 3)  # a forward that takes one input still refuses a second
