"""fastnn.metrics against scikit-learn and fastnn.data.DataLoader against torch.utils.data:
sample_weight, normalize, msle, r2's variance_weighted / force_finite, argument checks, and the
loader's batching, drop_last and argument checks (found by a conformance probe)."""
import warnings

import numpy as np
import pytest

from fastnn import metrics
from fastnn.data import DataLoader, TensorDataset

REGRESSION = ["mae", "mse", "rmse", "msle", "rmsle", "r2_score"]


def _sk(name):
    skm = pytest.importorskip("sklearn.metrics")
    return {"mae": skm.mean_absolute_error, "mse": skm.mean_squared_error,
            "rmse": skm.root_mean_squared_error, "msle": skm.mean_squared_log_error,
            "rmsle": skm.root_mean_squared_log_error, "r2_score": skm.r2_score}[name]


def _data(seed, shape):
    r = np.random.default_rng(seed)
    t = r.uniform(0, 3, shape)
    p = np.abs(t + r.standard_normal(shape) * 0.5)
    if len(shape) == 2:  # columns of different scales: per-column != pooled
        t, p = t * [1.0, 10.0, 0.1], p * [1.0, 10.0, 0.1]
    return t, p, r.uniform(0.1, 3, shape[0])


# ---- regression: sample_weight, msle, variance_weighted, force_finite --------------------------

@pytest.mark.parametrize("shape", [(30,), (30, 3)], ids=str)
@pytest.mark.parametrize("name", REGRESSION)
def test_sample_weight_matches_sklearn(name, shape):
    sk, ours = _sk(name), getattr(metrics, name)
    t, p, w = _data(1, shape)
    got = ours(t, p, sample_weight=w)
    assert type(got) is float
    np.testing.assert_allclose(got, sk(t, p, sample_weight=w), rtol=1e-12)
    assert abs(got - ours(t, p)) > 1e-6  # the weights matter
    np.testing.assert_allclose(ours(t, p, sample_weight=w, multioutput="raw_values"),
                               sk(t, p, sample_weight=w, multioutput="raw_values"), rtol=1e-12)
    if len(shape) == 2:
        mo = [0.2, 1.0, 3.0]
        np.testing.assert_allclose(ours(t, p, sample_weight=w, multioutput=mo),
                                   sk(t, p, sample_weight=w, multioutput=mo), rtol=1e-12)
    # integer weights as repeated samples
    wi = np.arange(1, shape[0] + 1) % 3
    rep = np.repeat(np.arange(shape[0]), wi)
    np.testing.assert_allclose(ours(t, p, sample_weight=wi), ours(t[rep], p[rep]), rtol=1e-12)


@pytest.mark.parametrize("name", REGRESSION)
def test_negative_sample_weights_allowed_as_sklearn(name):
    t, p, _ = _data(2, (10,))
    w = np.array([1.0, -0.5, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 1.0, 1.0])
    np.testing.assert_allclose(getattr(metrics, name)(t, p, sample_weight=w), _sk(name)(t, p, sample_weight=w),
                               rtol=1e-12)


@pytest.mark.parametrize("name", REGRESSION)
def test_bad_sample_weight(name):
    fn, sk = getattr(metrics, name), _sk(name)
    t = np.array([0.5, 1.0, 2.0, 3.0])
    for w in ([1.0, 2.0, 3.0], [[1.0, 1.0, 1.0, 1.0]], [1.0, np.nan, 1.0, 1.0], [0, 0, 0, 0]):
        with pytest.raises(ValueError):
            sk(t, t[::-1], sample_weight=w)
    with pytest.raises(ValueError, match=rf"{name}: sample_weight has shape \(3,\) but y_true has 4 samples"):
        fn(t, t[::-1], sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(1, 4\)"):
        fn(t, t[::-1], sample_weight=[[1.0, 1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match=r"sample_weight must be finite, got \[nan\]"):
        fn(t, t[::-1], sample_weight=[1.0, np.nan, 1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight is all zero"):
        fn(t, t[::-1], sample_weight=[0, 0, 0, 0])
    # scikit-learn: numpy's ZeroDivisionError; here a ValueError saying why
    with pytest.raises(ValueError, match=f"{name}: sample_weight sums to 0"):
        fn(t, t[::-1], sample_weight=[1.0, -1.0, 2.0, -2.0])


def test_msle_matches_sklearn_and_checks_domain():
    skm = pytest.importorskip("sklearn.metrics")
    t, p, _ = _data(3, (20, 3))
    np.testing.assert_allclose(metrics.msle(t, p), skm.mean_squared_log_error(t, p), rtol=1e-12)
    np.testing.assert_allclose(metrics.msle(t, p, multioutput="raw_values"),
                               skm.mean_squared_log_error(t, p, multioutput="raw_values"), rtol=1e-12)
    np.testing.assert_allclose(metrics.rmsle(t, p, multioutput="raw_values") ** 2,
                               metrics.msle(t, p, multioutput="raw_values"), rtol=1e-12)
    np.testing.assert_allclose(metrics.msle([1.0, -0.5], [1.0, 2.0]),
                               skm.mean_squared_log_error([1.0, -0.5], [1.0, 2.0]), rtol=1e-12)
    with pytest.raises(ValueError):
        skm.mean_squared_log_error([1.0, -1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"msle: values must be > -1 .*y_true has 1 value\(s\) <= -1: -1"):
        metrics.msle([1.0, -1.0], [1.0, 2.0])


R2_CASES = [
    ([[0.5, 1], [-1, 1], [7, -6]], [[0, 2], [-1, 2], [8, -5]]),      # scikit-learn's example
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [1.0, 1.0]]),             # every column constant
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]),
    ([[1.0, 0.0, 3.0], [1.0, 2.0, 1.0], [1.0, 5.0, 0.0]], [[2.0, 1.0, 3.0], [1.0, 2.0, 2.0], [1.0, 4.0, 0.0]]),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 2.0]),                                # one output
]


@pytest.mark.parametrize("case", range(len(R2_CASES)))
def test_r2_variance_weighted_and_force_finite_match_sklearn(case):
    skm = pytest.importorskip("sklearn.metrics")
    t, p = R2_CASES[case]
    got = metrics.r2_score(t, p, multioutput="variance_weighted")
    assert type(got) is float
    assert got == pytest.approx(skm.r2_score(t, p, multioutput="variance_weighted"), rel=1e-12)
    w = [1.0, 3.0, 0.5][:len(t)]
    assert metrics.r2_score(t, p, multioutput="variance_weighted", sample_weight=w) == pytest.approx(
        skm.r2_score(t, p, multioutput="variance_weighted", sample_weight=w), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's divide-by-zero warnings
        for mo in ("raw_values", "uniform_average"):
            np.testing.assert_allclose(metrics.r2_score(t, p, multioutput=mo, force_finite=False),
                                       skm.r2_score(t, p, multioutput=mo, force_finite=False), rtol=1e-12)


def test_r2_force_finite_false_gives_nan_and_minus_inf():
    assert np.isnan(metrics.r2_score([-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0], force_finite=False))
    assert metrics.r2_score([-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0 + 1e-8], force_finite=False) == -np.inf
    assert metrics.r2_score([-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0 + 1e-8]) == 0.0
    with pytest.raises(ValueError, match="force_finite must be True or False. Received: force_finite='no'"):
        metrics.r2_score([1.0, 2.0], [1.0, 2.0], force_finite="no")


def test_r2_single_sample_with_weights_and_variance_weighted():
    skm = pytest.importorskip("sklearn.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(skm.r2_score([[1.0, 2.0]], [[2.0, 2.0]], multioutput="variance_weighted"))
    with pytest.warns(RuntimeWarning, match="less than two samples"):
        assert np.isnan(metrics.r2_score([[1.0, 2.0]], [[2.0, 2.0]], multioutput="variance_weighted",
                                         sample_weight=[2.0]))


@pytest.mark.parametrize("name", ["mae", "mse", "rmse", "msle", "rmsle"])
def test_variance_weighted_is_r2_only_as_sklearn(name):
    t = np.ones((4, 2))
    with pytest.raises(ValueError):
        _sk(name)(t, t, multioutput="variance_weighted")
    with pytest.raises(ValueError, match=rf"{name}: multioutput must be 'uniform_average', 'raw_values' or an "
                                         r"array of 2 weights. Received: multioutput='variance_weighted'"):
        getattr(metrics, name)(t, t, multioutput="variance_weighted")
    with pytest.raises(ValueError, match="'raw_values', 'variance_weighted' or an array of 2 weights. "
                                         "Received: multioutput='variance'"):
        metrics.r2_score(t, t, multioutput="variance")


@pytest.mark.parametrize("name", REGRESSION)
def test_bad_multioutput_weights(name):
    t, p, _ = _data(4, (6, 3))
    if name == "rmse":  # scikit-learn checks the weights of all but root_mean_squared_error (NaN)
        assert np.isnan(_sk(name)(t, p, multioutput=[1.0, np.nan, 1.0]))
    else:
        with pytest.raises(ValueError):
            _sk(name)(t, p, multioutput=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"multioutput weights must be finite and not sum to 0. "
                                         r"Received: multioutput=\[1.0, nan, 1.0\]"):
        getattr(metrics, name)(t, p, multioutput=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"not sum to 0. Received: multioutput=\[1.0, -1.0, 0.0\]"):
        getattr(metrics, name)(t, p, multioutput=[1.0, -1.0, 0.0])


@pytest.mark.parametrize("name", REGRESSION)
def test_integer_inputs_give_python_floats_as_sklearn(name):
    t, p = np.array([1, 2, 3, 5]), np.array([1, 3, 2, 5])
    got = getattr(metrics, name)(t, p)
    assert type(got) is float
    assert got == pytest.approx(_sk(name)(t, p), rel=1e-12)


# ---- classification: normalize, sample_weight ---------------------------------------------------

def test_accuracy_normalize_and_sample_weight_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(5)
    y, scores, w = r.integers(0, 4, 50), r.standard_normal((50, 4)), r.uniform(0.1, 2, 50)
    labels = scores.argmax(1)
    for kw in ({"normalize": False}, {"sample_weight": w}, {"sample_weight": w, "normalize": False},
               {"sample_weight": np.arange(50) % 3}):
        got = metrics.accuracy(y, scores, **kw)
        assert type(got) is float
        assert got == pytest.approx(skm.accuracy_score(y, labels, **kw), rel=1e-12), kw
    assert metrics.accuracy(y, scores, normalize=False) == float(np.sum(labels == y))
    prob = r.uniform(0, 1, 50)
    yb = r.integers(0, 2, 50)
    assert metrics.accuracy(yb, prob, sample_weight=w) == pytest.approx(
        skm.accuracy_score(yb, (prob > 0.5).astype(int), sample_weight=w), rel=1e-12)
    with pytest.raises(ValueError, match=r"accuracy: sample_weight has shape \(49,\) but y_true has 50 samples"):
        metrics.accuracy(y, scores, sample_weight=w[:49])
    with pytest.raises(ValueError, match="accuracy: normalize must be True or False. Received: normalize='yes'"):
        metrics.accuracy(y, scores, normalize="yes")
    with pytest.raises(ValueError, match="accuracy: sample_weight is all zero"):
        metrics.accuracy(y, scores, sample_weight=np.zeros(50))
    # weights that cancel: the count is defined, the fraction is not
    assert metrics.accuracy([1, 0], [1, 0], sample_weight=[1.0, -1.0], normalize=False) == 0.0
    with pytest.raises(ValueError, match="accuracy: sample_weight sums to 0"):
        metrics.accuracy([1, 0], [1, 0], sample_weight=[1.0, -1.0])


def test_top_k_normalize_sample_weight_and_labels():
    skm = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(6)
    y, scores, w = r.integers(0, 5, 60), r.standard_normal((60, 5)), r.uniform(0.1, 2, 60)
    for k in (1, 2, 4):
        for kw in ({"normalize": False}, {"sample_weight": w}, {"sample_weight": w, "normalize": False}):
            got = metrics.top_k_accuracy(y, scores, k, **kw)
            assert type(got) is float
            assert got == pytest.approx(skm.top_k_accuracy_score(y, scores, k=k, labels=range(5), **kw),
                                        rel=1e-12), (k, kw)
    assert metrics.top_k_accuracy(np.eye(5)[y], scores, 2) == metrics.top_k_accuracy(y, scores, 2)
    assert metrics.top_k_accuracy(y.astype(np.float64), scores, 2) == metrics.top_k_accuracy(y, scores, 2)
    # a label no column scores was silently a miss
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 5\) \(the columns of y_pred\); "
                                         r"got 7, -1"):
        metrics.top_k_accuracy(np.r_[y[:-2], 7, -1], scores, 2)
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\) .*got 1.5"):
        metrics.top_k_accuracy(np.r_[y[:-1], 1.5], scores, 2)
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\), got dtype <U1"):
        metrics.top_k_accuracy(np.array(["a"] * 60), scores, 2)


def test_confusion_matrix_sample_weight_and_normalize_match_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    r = np.random.default_rng(7)
    y, pred = r.integers(0, 3, 40), r.integers(0, 3, 40)
    y[y == 2] = 1  # class 2 is never true: its row normalises to zeros
    wi, wf = r.integers(0, 4, 40), r.uniform(0.1, 2, 40)
    for w in (wi, wf):
        got = metrics.confusion_matrix(y, pred, num_classes=3, sample_weight=w)
        sk = skm.confusion_matrix(y, pred, labels=range(3), sample_weight=w)
        assert got.dtype == sk.dtype
        np.testing.assert_allclose(got, sk, rtol=1e-12)
    for norm in ("true", "pred", "all"):
        got = metrics.confusion_matrix(y, pred, num_classes=3, normalize=norm)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, skm.confusion_matrix(y, pred, labels=range(3), normalize=norm), rtol=1e-12)
        np.testing.assert_allclose(metrics.confusion_matrix(y, pred, num_classes=3, normalize=norm, sample_weight=wf),
                                   skm.confusion_matrix(y, pred, labels=range(3), normalize=norm, sample_weight=wf),
                                   rtol=1e-12)
    assert metrics.confusion_matrix(y, pred).dtype == np.int64
    with pytest.raises(ValueError, match="normalize must be None, 'true', 'pred' or 'all'. Received: normalize='rows'"):
        metrics.confusion_matrix(y, pred, normalize="rows")
    with pytest.raises(ValueError, match=r"confusion_matrix: sample_weight has shape \(3,\) but y_true has 40"):
        metrics.confusion_matrix(y, pred, sample_weight=[1, 2, 3])


@pytest.mark.parametrize("num_classes", [0, -2, 2.5, True, "3"])
def test_confusion_matrix_num_classes_checked(num_classes):
    with pytest.raises(ValueError, match=f"num_classes must be a positive int or None. "
                                         f"Received: num_classes={num_classes!r}"):
        metrics.confusion_matrix([0, 1], [0, 1], num_classes=num_classes)


def test_confusion_matrix_names_the_label_out_of_range():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\); y_pred has 3, -1"):
        metrics.confusion_matrix([0, 1, 1, 0], [0, 3, -1, 1], num_classes=2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\); y_true has 5"):
        metrics.confusion_matrix([0, 5], [0, 1], num_classes=2)


def test_get_knows_sklearn_names():
    for name, fn in [("msle", metrics.msle), ("mean_squared_log_error", metrics.msle),
                     ("root_mean_squared_error", metrics.rmse), ("root_mean_squared_log_error", metrics.rmsle)]:
        assert metrics.get(name) == (name, fn)


# ---- DataLoader against torch.utils.data.DataLoader ----------------------------------------------

def _xy(n):
    return np.arange(2 * n, dtype=np.float32).reshape(n, 2), np.arange(n, dtype=np.int64)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, batch_size", [(0, 3), (2, 5), (5, 5), (7, 3), (10, 1), (9, 4)])
def test_batches_match_torch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset
    x, y = _xy(n)
    ours = DataLoader((x, y), batch_size=batch_size, drop_last=drop_last)
    theirs = TorchLoader(TorchDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=batch_size,
                         drop_last=drop_last)
    assert len(ours) == len(theirs)
    for _ in range(2):  # iterating twice gives the same batches, in order
        got = [(bx.tolist(), by.tolist()) for bx, by in ours]
        want = [(bx.tolist(), by.tolist()) for bx, by in theirs]
        assert got == want
    assert len(got) == len(ours)


@pytest.mark.parametrize("drop_last", [1, 0, "no", None])
def test_drop_last_must_be_a_bool_as_torch(drop_last):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset
    with pytest.raises(ValueError, match="drop_last"):
        TorchLoader(TorchDataset(torch.zeros(4)), batch_size=2, drop_last=drop_last)
    with pytest.raises(ValueError, match=f"drop_last must be True or False, got drop_last={drop_last!r}"):
        DataLoader(_xy(4), batch_size=2, drop_last=drop_last)
    assert len(DataLoader(_xy(5), batch_size=2, drop_last=np.bool_(True))) == 2


@pytest.mark.parametrize("batch_size", [0, -1, True, 2.0, "2"])
def test_bad_batch_size_raises_as_torch(batch_size):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset
    with pytest.raises(ValueError, match="batch_size"):
        TorchLoader(TorchDataset(torch.zeros(4)), batch_size=batch_size)
    with pytest.raises(ValueError, match=f"batch_size must be a positive int, got batch_size={batch_size!r}"):
        DataLoader(_xy(4), batch_size=batch_size)


def test_batch_size_none_is_unbatched_loading():
    # as torch: batch_size=None yields single samples, converted with default_convert
    x, y = _xy(4)
    samples = list(DataLoader((x, y), batch_size=None))
    assert len(samples) == 4 and all(isinstance(s, list) and len(s) == 2 for s in samples)
    np.testing.assert_array_equal(samples[2][0], x[2])
    assert samples[2][1].shape == () and samples[2][1] == 2


def test_shuffle_with_drop_last_drops_different_samples_each_epoch():
    x, y = _xy(10)
    loader = DataLoader((x, y), batch_size=4, shuffle=True, drop_last=True, seed=0)
    kept = []
    for _ in range(6):
        batches = [by for _, by in loader]
        assert [len(b) for b in batches] == [4, 4]
        seen = np.concatenate(batches)
        assert len(np.unique(seen)) == 8
        kept.append(frozenset(seen.tolist()))
    assert len(set(kept)) > 1  # as torch: the samples left out are random, not always the last


def test_empty_dataset_with_shuffle_gives_no_batches():
    # torch's RandomSampler refuses an empty dataset; an empty epoch is harmless here
    loader = DataLoader((np.zeros((0, 2)), np.zeros(0)), batch_size=3, shuffle=True, seed=1)
    assert len(loader) == 0 and list(loader) == [] and list(loader) == []


def test_single_array_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader, TensorDataset as TorchDataset
    x, _ = _xy(7)
    got = [b for b in DataLoader((x,), batch_size=3)]
    want = list(TorchLoader(TorchDataset(torch.from_numpy(x)), batch_size=3))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in got)
    assert [b[0].tolist() for b in got] == [b[0].tolist() for b in want]


class _ListReturningDataset:
    """Returns [x, y] lists, as a dataset ported from torch often does."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, idx):
        return [self.x[idx], self.y[idx]]


def test_dataset_returning_a_list_gives_pairs():
    x, y = _xy(5)
    batches = list(DataLoader(_ListReturningDataset(x, y), batch_size=2))
    assert all(isinstance(b, list) and len(b) == 2 for b in batches)  # torch's: samples [x, y] -> [xb, yb]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    out = list(DataLoader(_ListReturningDataset(x, y), batch_size=5, transform=lambda a, b: (a + 1, b * 2)))
    np.testing.assert_array_equal(out[0][0], x + 1)
    np.testing.assert_array_equal(out[0][1], y * 2)


def test_list_of_samples_is_read_as_torch_does():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader as TorchLoader
    x, y = _xy(4)
    samples = [(x[i], y[i]) for i in range(4)]
    want = list(TorchLoader(samples, batch_size=2))  # torch reads a list as samples
    got = list(DataLoader(samples, batch_size=2))
    assert len(got) == len(want) == 2
    for g, w in zip(got, want):
        assert isinstance(g, list) and len(g) == 2
        np.testing.assert_array_equal(g[0], w[0].numpy())
        np.testing.assert_array_equal(g[1], w[1].numpy())
    assert len(DataLoader([x, y], batch_size=2)) == 2  # a list of arrays is still (x, y)


def test_inconsistent_lengths_name_both():
    x, y = _xy(6)
    with pytest.raises(ValueError, match="array 0 has 6 samples, array 1 has 5"):
        DataLoader((x, y[:5]), batch_size=2)
    with pytest.raises(ValueError, match="array 0 has 6 samples, array 2 has 7"):
        TensorDataset(x, y, np.zeros(7))


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "2"])
def test_set_epoch_checks_its_argument(epoch):
    loader = DataLoader(_xy(4), batch_size=2, shuffle=True, seed=0)
    with pytest.raises(ValueError, match=f"epoch must be an int >= 0, got epoch={epoch!r}"):
        loader.set_epoch(epoch)
    loader.set_epoch(np.int64(3))
    assert loader.epoch == 3
