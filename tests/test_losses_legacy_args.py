"""Every loss takes torch's deprecated size_average / reduce, in torch's positional order, with
torch's mapping to a reduction and its warning (torch as the oracle)."""
import inspect
import warnings

import numpy as np
import pytest

import fastnn.nn as nn

torch = pytest.importorskip("torch")

LOSSES = ["MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "SmoothL1Loss", "KLDivLoss", "PoissonNLLLoss",
          "SoftMarginLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
          "HingeEmbeddingLoss", "MarginRankingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
          "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", LOSSES)
def test_positional_parameters_are_torchs(name):
    ours = [p for p in inspect.signature(getattr(nn, name).__init__).parameters if p != "self"]
    theirs = [p for p in inspect.signature(getattr(torch.nn, name).__init__).parameters if p != "self"]
    assert ours == theirs


def _inputs(name, rng):
    x = rng.uniform(0.05, 0.95, (4, 3))
    if name in ("MultiMarginLoss", "CrossEntropyLoss", "NLLLoss"):
        return (x, rng.integers(0, 3, 4))
    if name == "MultiLabelMarginLoss":
        return (x, np.array([[0, 2, -1], [1, -1, 0], [2, 1, 0], [0, -1, 2]]))
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        return (x, np.where(rng.random((4, 3)) < 0.5, -1.0, 1.0))
    if name == "MarginRankingLoss":
        return (x[:, 0], x[:, 1], np.where(rng.random(4) < 0.5, -1.0, 1.0))
    if name == "CosineEmbeddingLoss":
        return (x, x[::-1].copy(), np.where(rng.random(4) < 0.5, -1.0, 1.0))
    if name == "TripletMarginLoss":
        return (x, x[::-1].copy(), x * 0.5)
    if name in ("BCELoss", "MultiLabelSoftMarginLoss"):
        return (x, (rng.random((4, 3)) < 0.5).astype(np.float64))
    if name == "KLDivLoss":
        return (np.log(x), rng.uniform(0.1, 1.0, (4, 3)))
    return (x, rng.uniform(0.05, 0.95, (4, 3)))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("legacy", [dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True),
                                    dict(size_average=False, reduce=True)])
def test_legacy_arguments_map_as_torch(name, legacy):
    rng = np.random.default_rng(3)
    args = _inputs(name, rng)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = getattr(nn, name)(**legacy)
    assert any("size_average and reduce args will be deprecated" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.nn, name)(**legacy)
    assert ours.reduction == theirs.reduction
    got = ours(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss's "mean" warning (both libraries give it)
        want = theirs(*[torch.tensor(a) for a in args]).detach().numpy()
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


def test_without_legacy_arguments_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.MSELoss(reduction="sum").reduction == "sum"
        assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
