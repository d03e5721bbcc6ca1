"""nn.Embedding against torch.nn.Embedding: lookups, gradients (padding_idx, scale_grad_by_freq),
max_norm's in-place renorm, from_pretrained, configs and errors."""
import numpy as np
import pytest

import fastnn
from fastnn import nn

torch = pytest.importorskip("torch")


def _pair(**kw):
    ours = nn.Embedding(7, 4, **kw).double()
    ref = torch.nn.Embedding(7, 4, **kw).double()
    w = np.random.default_rng(1).standard_normal((7, 4)) * 2
    if kw.get("padding_idx") is not None:
        w[kw["padding_idx"] % 7] = 0
    ours.weight.data[...] = w
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(w))
    return ours, ref


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}, {"max_norm": 1.5},
                                {"max_norm": 2.0, "norm_type": 1.0}, {"max_norm": 1.0, "norm_type": float("inf")}])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 0), ()])
def test_matches_torch(kw, shape):
    ours, ref = _pair(**kw)
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 7, shape)
    if idx.size:
        idx.reshape(-1)[0] = 2  # repeats (scale_grad_by_freq) and the padding row
        idx.reshape(-1)[-1] = 2
    y = ours(idx)
    ty = ref(torch.from_numpy(idx))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.data, ref.weight.detach().numpy(), rtol=1e-12, atol=1e-12)  # max_norm
    dy = rng.standard_normal(y.shape)
    assert ours.backward(dy) is None
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert y.shape == tuple(shape) + (4,) and y.dtype == np.float64


def test_init_state_dict_config_and_training():
    e = nn.Embedding(10, 3, padding_idx=4)
    assert np.all(e.weight.data[4] == 0) and e.weight.data.dtype == np.float32
    assert 0.5 < float(np.std(nn.Embedding(1000, 8).weight.data)) < 1.5  # N(0, 1), as torch's
    assert list(e.state_dict()) == list(torch.nn.Embedding(10, 3, padding_idx=4).state_dict())
    again = nn.Embedding(**e.get_config())
    assert again.padding_idx == 4 and again.get_config() == e.get_config() == {"num_embeddings": 10,
                                                                               "embedding_dim": 3, "padding_idx": 4}
    # trains inside a model: the embedding goes first, its dx is None
    model = nn.Sequential(e, nn.Flatten(), nn.Linear(6, 2))
    x, y = np.random.default_rng(0).integers(0, 10, (32, 2)), np.random.default_rng(1).integers(0, 2, 32)
    hist = fastnn.fit(model, fastnn.optim.SGD(model.parameters(), lr=0.5), "cross_entropy", (x, y), epochs=20,
                      batch_size=8, progress=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert np.all(e.weight.data[4] == 0)  # the padding row never moves


def test_from_pretrained_freezes_as_torch():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    e = nn.Embedding.from_pretrained(w)
    assert not e.weight.trainable and nn.Embedding.from_pretrained(w, freeze=False).weight.trainable
    np.testing.assert_array_equal(e(np.array([3, 0])), w[[3, 0]])
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(w[0])


@pytest.mark.parametrize("call, exc, words", [
    (lambda: nn.Embedding(5, 2)(np.array([5])), IndexError, "index 5 is out of range"),
    (lambda: nn.Embedding(5, 2)(np.array([-1])), IndexError, "index -1 is out of range"),
    (lambda: nn.Embedding(5, 2)(np.array([1.0])), TypeError, "integer indices"),
    (lambda: nn.Embedding(5, 2)([1]), TypeError, "ndarray"),
    (lambda: nn.Embedding(5, 2, padding_idx=5), ValueError, "padding_idx"),
    (lambda: nn.Embedding(5, 2, sparse=True), NotImplementedError, "sparse"),
    (lambda: nn.Embedding(5, 2, max_norm=-1.0), ValueError, "max_norm"),
    (lambda: nn.Embedding(5, 2, _weight=np.zeros((4, 2))), ValueError, "_weight"),
])
def test_bad_input(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_save_load_predict_evaluate(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 3, padding_idx=1, max_norm=2.0), nn.Flatten(), nn.Linear(6, 2))
    x, y = np.array([[1, 2], [3, 9], [0, 0]]), np.array([0, 1, 1])
    fastnn.save(model, tmp_path / "m.npz")
    again = fastnn.load(tmp_path / "m.npz")
    assert again[0].get_config() == {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 1, "max_norm": 2.0}
    np.testing.assert_array_equal(fastnn.predict(again, x), fastnn.predict(model, x))
    assert fastnn.evaluate(again, (x, y), "cross_entropy") == fastnn.evaluate(model, (x, y), "cross_entropy")
