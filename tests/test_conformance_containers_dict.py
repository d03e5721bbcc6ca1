"""ModuleDict, ParameterList and ParameterDict against torch.nn's (the oracle): the dict / list
API, the names their contents get in parameters() and state_dict(), what optimizers see, the
errors, and save / load round trips."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim

torch = pytest.importorskip("torch")


def _both_dicts():
    ours = nn.ModuleDict({"b": nn.Linear(3, 2), "a": nn.ReLU()})
    theirs = torch.nn.ModuleDict({"b": torch.nn.Linear(3, 2), "a": torch.nn.ReLU()})
    return ours, theirs


def test_module_dict_api_as_torch():
    ours, theirs = _both_dicts()
    for d, lin, relu in ((ours, nn.Linear, nn.ReLU), (theirs, torch.nn.Linear, torch.nn.ReLU)):
        d.update([("c", lin(2, 2))])
        d.update({"d": relu()})
        d["b"] = lin(3, 5)  # a replaced key keeps its place
        del d["a"]
        assert "c" in d and "a" not in d and len(d) == 3
    assert list(ours) == list(theirs) == ["b", "c", "d"]
    assert list(ours.keys()) == list(theirs.keys())
    assert [type(m).__name__ for m in ours.values()] == [type(m).__name__ for m in theirs.values()]
    assert [k for k, _ in ours.items()] == [k for k, _ in theirs.items()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours["b"].weight.data.shape == tuple(theirs["b"].weight.shape)
    popped, tpopped = ours.pop("c"), theirs.pop("c")
    assert isinstance(popped, nn.Linear) and isinstance(tpopped, torch.nn.Linear)
    assert list(ours) == list(theirs) == ["b", "d"]
    ours.clear()
    theirs.clear()
    assert len(ours) == len(theirs) == 0 and list(ours.parameters()) == []


@pytest.mark.parametrize("key, exc", [(1, TypeError), ("a.b", KeyError), ("", KeyError), ("keys", KeyError)])
def test_module_dict_bad_keys_raise_as_torch(key, exc):
    with pytest.raises(exc):
        torch.nn.ModuleDict()[key] = torch.nn.ReLU()
    with pytest.raises(exc):
        nn.ModuleDict()[key] = nn.ReLU()


def test_module_dict_errors():
    d = nn.ModuleDict({"a": nn.ReLU()})
    with pytest.raises(KeyError):
        d["missing"]
    with pytest.raises(KeyError):
        del d["missing"]
    with pytest.raises(TypeError, match="Module"):
        d["b"] = np.zeros(3)
    with pytest.raises(ValueError, match="element 0"):
        d.update([nn.ReLU()])


def test_parameter_list_api_and_names_as_torch():
    ours = nn.ParameterList([np.ones((2, 3), np.float32), nn.Parameter(np.zeros(4, np.float32))])
    theirs = torch.nn.ParameterList([torch.ones(2, 3), torch.nn.Parameter(torch.zeros(4))])
    ours.append(np.full(5, 2.0, np.float32))
    theirs.append(torch.full((5,), 2.0))
    ours += [np.zeros(1, np.float32)]
    theirs += [torch.zeros(1)]
    ours[-1] = np.ones(7, np.float32)
    theirs[-1] = torch.ones(7)
    assert len(ours) == len(theirs) == 4
    assert all(isinstance(p, nn.Parameter) for p in ours)
    assert [p.data.shape for p in ours] == [tuple(p.shape) for p in theirs]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(ours[2].data, theirs[2].detach().numpy())
    assert [p.data.shape for p in ours[1:3]] == [(4,), (5,)]
    with pytest.raises(IndexError, match="out of range"):
        ours[4]
    with pytest.raises(TypeError, match="integers"):
        ours["0"]
    with pytest.raises(TypeError, match="float32 or float64"):
        ours.append(np.arange(3))


def test_parameter_dict_api_and_names_as_torch():
    ours = nn.ParameterDict({"scale": np.ones(3, np.float32)})
    theirs = torch.nn.ParameterDict({"scale": torch.ones(3)})
    ours.update([("shift", nn.Parameter(np.zeros(3, np.float32)))])
    theirs.update([("shift", torch.nn.Parameter(torch.zeros(3)))])
    ours["gain"] = np.full(2, 3.0, np.float32)
    theirs["gain"] = torch.full((2,), 3.0)
    assert list(ours) == list(theirs) == ["scale", "shift", "gain"]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert isinstance(ours["gain"], nn.Parameter)
    np.testing.assert_array_equal(ours["gain"].data, theirs["gain"].detach().numpy())
    ours.pop("scale")
    theirs.pop("scale")
    assert list(ours) == list(theirs) == ["shift", "gain"]
    with pytest.raises(KeyError):
        ours["scale"]


class _Heads(nn.Module):
    """A custom module whose forward picks a head from a ModuleDict and scales by a ParameterList."""

    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 2)})
        self.scale = nn.ParameterList([np.full(2, 2.0, np.float32)])

    def forward(self, x):
        self._y = self.heads["a"](x)
        return self._y * self.scale[0].data

    def backward(self, dy):
        self.scale[0].add_grad((dy * self._y).sum(axis=0))
        return self.heads["a"].backward(dy * self.scale[0].data)


def test_contents_train_with_an_optimizer():
    model = _Heads()
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(list(model.parameters())) == 5
    before = model.scale[0].data.copy(), model.heads["b"].weight.data.copy()
    x = np.ones((4, 3), np.float32)
    model.zero_grad()
    model.backward(np.ones_like(model(x)))
    opt.step()
    assert not np.array_equal(model.scale[0].data, before[0])  # trained through the list
    np.testing.assert_array_equal(model.heads["b"].weight.data, before[1])  # unused head: no grad, no step


@pytest.mark.parametrize("make", [
    lambda: nn.ModuleDict({"conv": nn.Conv2d(1, 2, 3), "bn": nn.BatchNorm2d(2)}),
    lambda: nn.ParameterList([np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(2, np.float64)]),
    lambda: nn.ParameterDict({"w": np.arange(4, dtype=np.float32), "v": np.ones((1, 2), np.float32)}),
])
def test_save_load_round_trip(make, tmp_path):
    model = make()
    for p in model.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.data.shape)
    next(iter(model.parameters())).trainable = False  # a frozen flag survives too
    fastnn.save(model, tmp_path / "m.fnn")
    loaded = fastnn.load(tmp_path / "m.fnn")
    assert type(loaded) is type(model)
    want, got = model.state_dict(), loaded.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype
        np.testing.assert_array_equal(got[k], want[k])
    assert [(n, p.trainable) for n, p in loaded.named_parameters()] == \
        [(n, p.trainable) for n, p in model.named_parameters()]
