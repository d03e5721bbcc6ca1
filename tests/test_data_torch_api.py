"""fastnn.data's torch.utils.data API (datasets, samplers, collate, DataLoader paths) against
torch.utils.data on the same inputs: exact index sequences where the order is deterministic,
properties (permutation, counts, reproducibility, statistics with fixed seeds) where the
random streams differ (NumPy's vs torch's)."""
import collections
import threading
import time

import numpy as np
import pytest

from fastnn.data.collate import default_collate, default_convert, get_worker_info
from fastnn.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset,
                                 StackDataset, Subset, random_split)
from fastnn.data.loader import DataLoader, TensorDataset
from fastnn.data.sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler,
                                 SequentialSampler, SubsetRandomSampler, WeightedRandomSampler)

torch = pytest.importorskip("torch")
tud = torch.utils.data

Point = collections.namedtuple("Point", ["x", "y"])


def to_np(obj):
    """torch's output with tensors as arrays (containers kept)."""
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_np(o) for o in obj))
    if isinstance(obj, dict):
        return {k: to_np(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_np(o) for o in obj)
    return obj


def assert_same(ours, theirs):
    """Same structure (container types), same values and dtypes."""
    theirs = to_np(theirs)
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(ours, np.ndarray):
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
        assert ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    elif isinstance(ours, dict):
        assert list(ours) == list(theirs)
        for k in ours:
            assert_same(ours[k], theirs[k])
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        assert ours == theirs


# ---- samplers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 7])
def test_sequential_sampler_matches_torch(n):
    ours, theirs = SequentialSampler(range(n)), tud.SequentialSampler(range(n))
    assert list(ours) == list(theirs) and len(ours) == len(theirs) == n
    assert isinstance(ours, Sampler)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, batch_size", [(0, 2), (1, 1), (1, 3), (10, 3), (9, 3), (5, 7)])
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    src = list(range(100, 100 + n))
    ours = BatchSampler(src, batch_size, drop_last)
    theirs = tud.BatchSampler(src, batch_size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs) == len(list(ours))
    # over another sampler, too
    assert list(BatchSampler(SequentialSampler(src), batch_size, drop_last)) == \
        list(tud.BatchSampler(tud.SequentialSampler(src), batch_size, drop_last))


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0, "drop_last": False}, "batch_size should be a positive integer value, but got batch_size=0"),
    ({"batch_size": True, "drop_last": False}, "batch_size=True"),
    ({"batch_size": 2.0, "drop_last": False}, "batch_size=2.0"),
    ({"batch_size": 2, "drop_last": 1}, "drop_last should be a boolean value, but got drop_last=1"),
])
def test_batch_sampler_errors_as_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.BatchSampler(range(4), **kwargs)
    with pytest.raises(ValueError, match=message):
        BatchSampler(range(4), **kwargs)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, replicas", [(1, 1), (1, 3), (5, 2), (10, 3), (11, 4), (12, 4), (3, 5)])
def test_distributed_sampler_unshuffled_matches_torch(n, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = tud.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) == len(list(ours))
        assert ours.total_size == theirs.total_size


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, replicas", [(10, 3), (7, 2), (2, 5)])
def test_distributed_sampler_shuffled_is_torch_on_numpys_permutation(n, replicas, drop_last):
    seed, epoch = 11, 3
    perm = np.random.default_rng(seed + epoch).permutation(n)
    shards = []
    for rank in range(replicas):
        s = DistributedSampler(range(n), num_replicas=replicas, rank=rank, seed=seed,
                               drop_last=drop_last)
        s.set_epoch(epoch)
        got = list(s)
        # torch's padding/striding applied to positions, mapped through the permutation
        pos = list(tud.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last))
        assert got == [int(perm[p]) for p in pos]
        assert got == list(s)                        # same epoch, same order
        shards.append(got)
    if not drop_last:
        assert set().union(*map(set, shards)) == set(range(n))   # every sample somewhere
    s = DistributedSampler(range(n), num_replicas=replicas, rank=0, seed=seed)
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    if n >= 7:
        assert list(s) != first                               # set_epoch reshuffles


def test_distributed_sampler_errors():
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(5), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match=r"Invalid rank -1"):
        DistributedSampler(range(5), num_replicas=3, rank=-1)
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        tud.DistributedSampler(range(5), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="needs num_replicas and rank.*num_replicas=None"):
        DistributedSampler(range(5))
    with pytest.raises(ValueError, match="rank=None"):
        DistributedSampler(range(5), num_replicas=2)


@pytest.mark.parametrize("n", [1, 2, 13])
def test_random_sampler_is_a_reproducible_permutation(n):
    s = RandomSampler(range(n), generator=5)
    e0, e1 = list(s), list(s)
    assert sorted(e0) == list(range(n)) and sorted(e1) == list(range(n)) and len(s) == n
    assert all(isinstance(i, int) for i in e0)
    again = RandomSampler(range(n), generator=5)
    assert [list(again), list(again)] == [e0, e1]            # a rerun repeats the epochs
    if n == 13:
        assert e0 != e1                                       # and each epoch reshuffles
        g = np.random.default_rng(3)
        assert list(RandomSampler(range(n), generator=g)) == np.random.default_rng(3).permutation(n).tolist()
    assert sorted(RandomSampler(range(n))) == list(range(n))  # generator=None: fresh entropy


def test_random_sampler_num_samples_and_replacement():
    s = RandomSampler(range(4), num_samples=10, generator=0)
    got = list(s)
    assert len(got) == len(s) == 10 == len(list(tud.RandomSampler(range(4), num_samples=10)))
    assert sorted(got[:4]) == sorted(got[4:8]) == [0, 1, 2, 3]   # whole permutations, then a cut
    assert len(set(got[8:])) == 2
    r = list(RandomSampler(range(5), replacement=True, num_samples=4000, generator=1))
    counts = np.bincount(r, minlength=5)
    assert len(r) == 4000 and counts.min() > 700 and counts.max() < 900
    assert len(list(RandomSampler(range(5), replacement=True, generator=1))) == 5


@pytest.mark.parametrize("kwargs, err, message", [
    ({"replacement": 1}, TypeError, "replacement should be a boolean value, but got replacement=1"),
    ({"num_samples": 0}, ValueError, "num_samples should be a positive integer value, but got num_samples=0"),
    ({"num_samples": 2.5}, ValueError, "num_samples=2.5"),
])
def test_random_sampler_errors_as_torch(kwargs, err, message):
    with pytest.raises(err, match=message):
        tud.RandomSampler(range(3), **kwargs)
    with pytest.raises(err, match=message):
        RandomSampler(range(3), **kwargs)
    with pytest.raises(ValueError, match="num_samples=0"):   # an empty dataset, as torch
        RandomSampler([])
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator, an int seed or None, got str"):
        RandomSampler(range(3), generator="x")


def test_subset_random_sampler():
    idx = [10, 3, 7, 42]
    s = SubsetRandomSampler(idx, generator=2)
    got = list(s)
    assert sorted(got) == sorted(idx) and len(s) == 4
    assert got == [idx[i] for i in np.random.default_rng(2).permutation(4)]
    assert list(SubsetRandomSampler(idx, generator=2)) == got
    assert sorted(tud.SubsetRandomSampler(idx)) == sorted(SubsetRandomSampler(idx))
    assert list(SubsetRandomSampler([])) == []


def test_weighted_sampler_with_replacement_follows_the_weights():
    w = [1.0, 2.0, 0.0, 5.0]
    got = list(WeightedRandomSampler(w, 40000, generator=0))
    assert len(got) == 40000 and all(isinstance(i, int) for i in got[:5])
    freq = np.bincount(got, minlength=4) / 40000
    np.testing.assert_allclose(freq, np.array(w) / 8.0, atol=0.01)
    assert freq[2] == 0.0
    assert list(WeightedRandomSampler(w, 50, generator=9)) == list(WeightedRandomSampler(w, 50, generator=9))


def test_weighted_sampler_without_replacement():
    w = np.array([4.0, 1.0, 0.0, 3.0, 2.0])
    first = np.zeros(5)
    g = np.random.default_rng(1)
    for _ in range(3000):
        draw = list(WeightedRandomSampler(w, 3, replacement=False, generator=g))
        assert len(set(draw)) == 3 and 2 not in draw
        first[draw[0]] += 1
    np.testing.assert_allclose(first / 3000, w / w.sum(), atol=0.03)   # first draw ~ weights
    # all five: the zero weight comes last, as torch
    for s in (WeightedRandomSampler(w, 5, replacement=False, generator=3),
              tud.WeightedRandomSampler(w.tolist(), 5, replacement=False)):
        out = list(s)
        assert sorted(out) == [0, 1, 2, 3, 4] and out[-1] == 2


@pytest.mark.parametrize("weights, num_samples, replacement, err", [
    ([1.0, 2.0], 0, True, ValueError),
    ([1.0, 2.0], True, True, ValueError),
    ([1.0, 2.0], 2, 1, ValueError),
    ([[1.0, 2.0]], 2, True, ValueError),
    ([-1.0, 2.0], 1, True, RuntimeError),
    ([float("nan"), 2.0], 1, True, RuntimeError),
    ([float("inf"), 2.0], 1, True, RuntimeError),
    ([0.0, 0.0], 1, True, RuntimeError),
    ([], 1, True, RuntimeError),
    ([1.0, 2.0], 3, False, RuntimeError),
])
def test_weighted_sampler_errors_as_torch(weights, num_samples, replacement, err):
    def run(cls):
        list(cls(weights, num_samples, replacement=replacement))
    with pytest.raises(err) as theirs:
        run(tud.WeightedRandomSampler)
    with pytest.raises(err) as ours:
        run(WeightedRandomSampler)
    if weights:   # torch's message for empty weights is an internal aminmax error
        head = str(theirs.value)[:40]
        assert str(ours.value).startswith(head), (str(ours.value), head)
    else:
        assert "empty weights" in str(ours.value)


# ---- datasets ---------------------------------------------------------------------------------

class Squares(Dataset):
    """int-only __getitem__, as torch users write."""

    def __init__(self, n, offset=0):
        self.n, self.offset = n, offset

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"int index only, got {type(i).__name__}")
        if not 0 <= i < self.n:
            raise IndexError(i)
        v = i + self.offset
        return np.array([v, v * v], dtype=np.float32), v


def test_dataset_base_and_add():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
    c = Squares(2) + Squares(3, offset=10)
    assert isinstance(c, ConcatDataset) and len(c) == 5 and c[3][1] == 11

    class Stream(IterableDataset):
        def __init__(self, items):
            self.items = items

        def __iter__(self):
            return iter(self.items)

        def __len__(self):
            return len(self.items)

    ch = Stream([1, 2]) + Stream([3])
    assert isinstance(ch, ChainDataset) and list(ch) == [1, 2, 3] and len(ch) == 3
    assert list(tud.ChainDataset([TStream([1, 2]), TStream([3])])) == [1, 2, 3]
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        list(ChainDataset([Stream([1]), [2, 3]]))
    with pytest.raises(AssertionError, match="ChainDataset only supports IterableDataset"):
        len(ChainDataset([[2, 3]]))


class TStream(tud.IterableDataset):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_concat_dataset_matches_torch():
    parts = [list(range(3)), [], list(range(10, 15)), [99]]
    ours, theirs = ConcatDataset(parts), tud.ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes == [3, 3, 8, 9]
    assert len(ours) == len(theirs) == 9
    assert [ours[i] for i in range(-9, 9)] == [theirs[i] for i in range(-9, 9)]
    assert ours[np.int64(4)] == 11
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        ours[-10]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        theirs[-10]
    with pytest.raises(IndexError):
        theirs[9]
    with pytest.raises(IndexError, match="index 9 is out of range"):
        ours[9]
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        tud.ConcatDataset([])
    with pytest.raises(AssertionError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="ConcatDataset does not support IterableDataset"):
        ConcatDataset([[1], ChainDataset([])])


def test_stack_dataset_matches_torch():
    a, b = list(range(4)), [f"s{i}" for i in range(4)]
    assert [StackDataset(a, b)[i] for i in range(4)] == [tud.StackDataset(a, b)[i] for i in range(4)]
    assert StackDataset(x=a, y=b)[2] == tud.StackDataset(x=a, y=b)[2] == {"x": 2, "y": "s2"}
    assert len(StackDataset(a, b)) == 4
    sub = Subset(a, [3, 2, 1, 0])          # has __getitems__
    for args, kwargs in (((sub, b), {}), ((), {"p": sub, "q": b})):
        assert StackDataset(*args, **kwargs).__getitems__([0, 3]) == \
            tud.StackDataset(*args, **kwargs).__getitems__([0, 3])
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(a, b[:3])
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(x=a, y=b[:3])
    with pytest.raises(ValueError, match="both types are given"):
        StackDataset(a, y=b)
    with pytest.raises(ValueError, match="At least one dataset should be passed"):
        StackDataset()


def test_subset_matches_torch():
    base = list(range(100, 110))
    ours, theirs = Subset(base, [9, 0, 4]), tud.Subset(base, [9, 0, 4])
    assert [ours[i] for i in range(3)] == [theirs[i] for i in range(3)] == [109, 100, 104]
    assert len(ours) == 3 and ours[-1] == 104
    assert ours.__getitems__([2, 0]) == theirs.__getitems__([2, 0]) == [104, 109]
    nested = Subset(ours, [2, 1])
    assert nested.__getitems__([0, 1]) == [104, 100]        # delegates to the inner __getitems__
    assert Subset(np.arange(10) * 2, [1, 3])[[0, 1]].tolist() == [2, 6]   # list index: one gather

    class Bad(Subset):
        def __getitem__(self, i):
            return 0
    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Bad(base, [0])


@pytest.mark.parametrize("n, fractions", [(10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.1, 0.9]),
                                          (5, [1 / 3] * 3), (30, [0.25, 0.25, 0.25, 0.25]), (2, [0.5, 0.5])])
def test_random_split_fraction_lengths_match_torch(n, fractions):
    ours = random_split(range(n), fractions, generator=0)
    theirs = tud.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    flat = [i for s in ours for i in s]
    assert sorted(flat) == list(range(n))                  # disjoint, covering
    assert all(isinstance(s, Subset) for s in ours)


def test_random_split_lengths_and_reproducibility():
    parts = random_split(range(10), [3, 7], generator=np.random.default_rng(42))
    assert [len(p) for p in parts] == [3, 7]
    perm = np.random.default_rng(42).permutation(10).tolist()
    assert list(parts[0]) == perm[:3] and list(parts[1]) == perm[3:]
    assert [list(p) for p in random_split(range(10), [3, 7], generator=42)] == [perm[:3], perm[3:]]
    other = random_split(range(10), [3, 7], generator=43)
    assert [list(p) for p in other] != [perm[:3], perm[3:]]
    assert [len(p) for p in random_split(range(0), [0, 0], generator=0)] == [0, 0]
    assert sorted(random_split(range(5), [5])[0]) == list(range(5))     # generator=None
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        tud.random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset"):
        random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(range(10), [0.5, 1.5, -1.0])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        tud.random_split(range(10), [0.5, 1.5, -1.0])
    with pytest.raises(ValueError, match=r"lengths\[1\]=2.0"):
        random_split(range(10), [8, 2.0])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        tud.random_split(range(2), [0.9, 0.1])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        assert [len(p) for p in random_split(range(2), [0.9, 0.1], generator=0)] == [2, 0]


# ---- collate ----------------------------------------------------------------------------------

def _samples_cases():
    f32 = np.arange(6, dtype=np.float32).reshape(2, 3)
    f64 = np.linspace(0, 1, 4)
    return {
        "ints": [0, 1, 2, 3],
        "floats": [0.5, 1.0, -2.0],
        "bools": [True, False, True],
        "int then float": [1, 2.5],
        "np float32 scalars": [np.float32(1.5), np.float32(2.0)],
        "np int32 scalars": [np.int32(1), np.int32(7)],
        "np bool scalars": [np.bool_(True), np.bool_(False)],
        "float32 arrays": [f32, f32 + 1, f32 * 2],
        "float64 arrays": [f64, f64 - 1],
        "0-d arrays": [np.array(3), np.array(4)],
        "strings": ["a", "bc"],
        "bytes": [b"a", b"b"],
        "dicts": [{"img": f32, "label": 1, "name": "a"}, {"img": f32 * 0, "label": 0, "name": "b"}],
        "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
        "namedtuple of arrays": [Point(f64, 1), Point(f64 * 2, 0)],
        "tuples": [(f32, 0), (f32 + 1, 1)],
        "nested tuples": [(f64, (1, "x")), (f64, (2, "y"))],
        "lists": [[1, 2.0], [3, 4.0]],
        "dict of tuples": [{"a": (1, 2)}, {"a": (3, 4)}],
        "size 1": [(f32, 5)],
    }


@pytest.mark.parametrize("name", list(_samples_cases()))
def test_default_collate_matches_torch(name):
    batch = _samples_cases()[name]
    assert_same(default_collate(batch), tud.default_collate(batch))


@pytest.mark.parametrize("name", list(_samples_cases()))
def test_default_convert_matches_torch(name):
    batch = _samples_cases()[name]
    assert_same(default_convert(batch), tud.default_convert(batch))
    assert_same(default_convert(batch[0]), tud.default_convert(batch[0]))


def test_default_collate_errors_as_torch():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        tud.default_collate([(1, 2), (3,)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([(1, 2), (3,)])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    ragged = [np.zeros(2), np.zeros(3)]
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        tud.default_collate(ragged)
    with pytest.raises(RuntimeError, match=r"stack expects each array to be equal size, but got \[2\] at entry 0 and \[3\] at entry 1"):
        default_collate(ragged)
    strs = [np.array(["a"]), np.array(["b"])]
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        tud.default_collate(strs)
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found <U1"):
        default_collate(strs)
    with pytest.raises(TypeError, match="found <class 'object'>"):
        tud.default_collate([object()])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object()])
    assert default_convert(strs[0]) is strs[0]


def test_get_worker_info_is_none():
    assert get_worker_info() is None is tud.get_worker_info()


# ---- DataLoader -------------------------------------------------------------------------------

def _pairs(n=7):
    rng = np.random.default_rng(0)
    return [(rng.random(3).astype(np.float32), i) for i in range(n)]


def both(dataset, **kwargs):
    """Our batches and torch's, for the same dataset and arguments."""
    return list(DataLoader(dataset, **kwargs)), list(tud.DataLoader(dataset, **kwargs))


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("batch_size", [1, 3, 7, 10])
def test_list_of_samples_matches_torch(batch_size, drop_last):
    ours, theirs = both(_pairs(), batch_size=batch_size, drop_last=drop_last)
    assert_same(ours, theirs)
    assert len(DataLoader(_pairs(), batch_size=batch_size, drop_last=drop_last)) == \
        len(tud.DataLoader(_pairs(), batch_size=batch_size, drop_last=drop_last)) == len(ours)


def test_dataset_subclass_with_int_only_getitem_matches_torch():
    ours, theirs = both(Squares(8), batch_size=3)
    assert_same(ours, theirs)
    assert ours[0][0].dtype == np.float32 and ours[0][1].dtype == np.int64
    # dict samples through StackDataset, list sampler
    ds = StackDataset(a=Squares(5), b=list(range(5)))
    tds = tud.StackDataset(a=Squares(5), b=list(range(5)))
    assert_same(list(DataLoader(ds, batch_size=2, sampler=[4, 0, 2])),
                list(tud.DataLoader(tds, batch_size=2, sampler=[4, 0, 2])))


def test_batch_size_none_matches_torch():
    for ds in (Squares(4), _pairs(3), [1.5, 2.5], ConcatDataset([Squares(2), Squares(1)])):
        ours, theirs = both(ds, batch_size=None)
        assert_same(ours, theirs)
        assert len(DataLoader(ds, batch_size=None)) == len(ds)


class Stream(IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        for i in range(self.n):
            yield {"x": np.full(2, i, dtype=np.float64), "i": i}

    def __len__(self):
        if not self.with_len:
            raise TypeError("Stream has no len")
        return self.n


class TorchStream(tud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(Stream(self.n))

    def __len__(self):
        return self.n


@pytest.mark.parametrize("kwargs", [{"batch_size": 3}, {"batch_size": 3, "drop_last": True},
                                    {"batch_size": 8}, {"batch_size": None}, {"batch_size": 1}])
def test_iterable_dataset_matches_torch(kwargs):
    ours = list(DataLoader(Stream(7), **kwargs))
    theirs = list(tud.DataLoader(TorchStream(7), **kwargs))
    assert_same(ours, theirs)
    assert len(DataLoader(Stream(7), **kwargs)) == len(tud.DataLoader(TorchStream(7), **kwargs))


def test_iterable_dataset_len_without_len_is_a_type_error():
    class NoLen(IterableDataset):
        def __iter__(self):
            return iter([1, 2, 3])

    loader = DataLoader(NoLen(), batch_size=2)
    assert_same(list(loader), list(tud.DataLoader(TStream([1, 2, 3]), batch_size=2)))
    with pytest.raises(TypeError):
        len(loader)
    with pytest.raises(TypeError):
        len(tud.DataLoader(TStream([1, 2, 3]), batch_size=2))


def test_custom_collate_fn_and_batch_sampler_match_torch():
    def collate(samples):
        return [s[1] for s in samples]
    ours, theirs = both(_pairs(7), batch_size=3, collate_fn=collate)
    assert ours == theirs == [[0, 1, 2], [3, 4, 5], [6]]
    batches = [[0, 2], [1], [6, 5, 4]]
    ours, theirs = both(_pairs(7), batch_sampler=batches)
    assert_same(ours, theirs)
    assert len(DataLoader(_pairs(7), batch_sampler=batches)) == 3
    loader = DataLoader(_pairs(7), batch_sampler=BatchSampler(range(7), 4, True))
    assert loader.batch_size is None and loader.drop_last is False and len(loader) == 1
    # batch_size=1 (torch's default) is allowed with batch_sampler, as torch
    assert len(DataLoader(_pairs(7), batch_size=1, batch_sampler=batches)) == 3
    # an arrays dataset with batch_sampler: per-sample fetch and default_collate
    x, y = np.arange(14.0).reshape(7, 2), np.arange(7)
    ours = list(DataLoader((x, y), batch_sampler=batches))
    theirs = list(tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                 batch_sampler=batches))
    assert_same(ours, theirs)


def test_samplers_in_the_loader_match_torch():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    tds = tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for rank in range(3):
        ours = list(DataLoader(TensorDataset(x, y), batch_size=2,
                               sampler=DistributedSampler(range(10), 3, rank, shuffle=False)))
        theirs = list(tud.DataLoader(tds, batch_size=2,
                                     sampler=tud.DistributedSampler(tds, 3, rank, shuffle=False)))
        assert_same(ours, theirs)
    cat = ConcatDataset([TensorDataset(x[:4], y[:4]), TensorDataset(x[4:], y[4:])])
    tcat = tud.ConcatDataset([tud.TensorDataset(*(t[:4] for t in tds.tensors)),
                              tud.TensorDataset(*(t[4:] for t in tds.tensors))])
    assert_same(list(DataLoader(cat, batch_size=3)), list(tud.DataLoader(tcat, batch_size=3)))
    sub = Subset(TensorDataset(x, y), [9, 1, 5])
    assert_same(list(DataLoader(sub, batch_size=2)), list(tud.DataLoader(tud.Subset(tds, [9, 1, 5]), batch_size=2)))
    s = SubsetRandomSampler([0, 3, 6, 9], generator=0)
    got = np.concatenate([b[1] for b in DataLoader((x, y), batch_size=3, sampler=s)])
    assert sorted(got.tolist()) == [0, 3, 6, 9]
    class NoLen:
        def __iter__(self):
            return iter([0, 1])
    with pytest.raises(TypeError):
        len(DataLoader((x, y), batch_size=3, sampler=NoLen()))


def test_shuffle_orders_seed_and_generator():
    x, y = np.arange(26.0).reshape(13, 2), np.arange(13)
    g = DataLoader((x, y), batch_size=4, shuffle=True, generator=np.random.default_rng(5))
    order = np.concatenate([b[1] for b in g])
    np.testing.assert_array_equal(order, np.random.default_rng(5).permutation(13))
    # the sample path visits the same seeded orders as the array path
    samples = [(x[i], int(y[i])) for i in range(13)]
    for epoch in range(2):
        a = DataLoader((x, y), batch_size=4, shuffle=True, seed=3)
        b = DataLoader(samples, batch_size=4, shuffle=True, seed=3)
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        assert [by.tolist() for _, by in a] == [by.tolist() for _, by in b]
    b = DataLoader(samples, batch_size=4, shuffle=True, seed=3)
    assert list(b.sampler) == np.random.default_rng([3, 0]).permutation(13).tolist()  # next epoch
    assert [s for batch in b.batch_sampler for s in batch] == list(b.sampler)
    unbatched = DataLoader(samples, batch_size=None, shuffle=True, seed=3)
    assert [int(s[1]) for s in unbatched] == np.random.default_rng([3, 0]).permutation(13).tolist()


def test_transform_on_collated_batches():
    samples = _pairs(5)
    out = list(DataLoader(samples, batch_size=2, transform=lambda a, b: (a * 2, b + 1)))
    assert isinstance(out[0], list)
    np.testing.assert_array_equal(out[0][1], [1, 2])
    np.testing.assert_array_equal(out[0][0], np.stack([samples[0][0], samples[1][0]]) * 2)
    single = list(DataLoader([np.ones(2, np.float32)] * 3 + [[1]], batch_size=3, collate_fn=lambda s: np.stack(s[:3]),
                             transform=lambda a: a + 1))
    np.testing.assert_array_equal(single[0], np.full((3, 2), 2.0))
    with pytest.raises(ValueError, match="transform needs batches x, \\(x,\\) or \\(x, y\\) of arrays, got a dict"):
        list(DataLoader(Stream(3), batch_size=2, transform=lambda a: a))


@pytest.mark.parametrize("kw", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=None)])
def test_a_single_array_gives_plain_batches_as_torch(kw):
    """DataLoader(x) used to yield 1-tuples (xb,); torch yields xb itself. A tuple (x,) still
    gives (xb,), the arrays form's batches."""
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    ours, theirs = list(DataLoader(x, **kw)), list(tud.DataLoader(x, **kw))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert_same(a, b)
    shuffled = list(DataLoader(x, batch_size=4, shuffle=True, seed=0, transform=lambda a: a * 2))
    assert all(isinstance(b, np.ndarray) for b in shuffled)
    np.testing.assert_array_equal(np.sort(np.concatenate(shuffled)[:, 0]), x[:, 0] * 2)
    assert all(isinstance(b, tuple) and len(b) == 1 for b in DataLoader((x,), batch_size=4))


def test_a_list_of_same_shaped_arrays_is_never_misread():
    """A list of 6 images (3, 4) was read as 6 arrays of 3 samples: one batch of 6 arrays of 3
    rows. torch reads it as 6 samples. Both readings work, so fastnn refuses to guess and says how
    to pass either; np.stack gives torch's batches, a tuple the arrays."""
    images = [np.full((3, 4), i, np.float32) for i in range(6)]
    with pytest.raises(TypeError, match=r"list of 6 arrays, all of shape \(3, 4\).*np\.stack\(the_list\).*a tuple"):
        DataLoader(images, batch_size=4)
    with pytest.raises(TypeError, match=r"all of shape \(5,\)"):
        DataLoader([np.arange(5), np.arange(5)], batch_size=2)   # [x, y] of one shape: ambiguous too
    ours, theirs = list(DataLoader(np.stack(images), batch_size=4)), list(tud.DataLoader(images, batch_size=4))
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert_same(a, b)
    arrays = list(DataLoader(tuple(images), batch_size=2))   # a tuple is always fastnn's arrays form
    assert len(arrays) == 2 and all(isinstance(b, tuple) and len(b) == 6 for b in arrays)


def test_a_list_of_arrays_is_read_as_the_one_reading_that_works():
    x, y = np.arange(15, dtype=np.float32).reshape(5, 3), np.arange(5)
    with pytest.raises(RuntimeError):       # torch cannot batch [x, y] as two samples ...
        list(tud.DataLoader([x, y], batch_size=2))
    batches = list(DataLoader([x, y], batch_size=2))   # ... so it is fastnn's (x, y)
    assert len(batches) == 3 and all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    # variable-length sequences cannot be the arrays of one dataset: samples, as torch reads them
    seqs = [np.zeros((i + 1, 2), np.float32) for i in range(5)]
    shapes = lambda s: [a.shape for a in s]    # noqa: E731
    assert list(DataLoader(seqs, batch_size=2, collate_fn=shapes)) == \
        list(tud.DataLoader(seqs, batch_size=2, collate_fn=shapes))
    for a, b in zip(DataLoader(seqs, batch_size=None), tud.DataLoader(seqs, batch_size=None)):
        assert_same(a, b)
    with pytest.raises(ValueError, match=r"5 arrays of shapes \(1, 2\), \(2, 2\), \(3, 2\), \(4, 2\), \.\.\."):
        DataLoader(seqs, batch_size=2)         # neither reading works (torch fails when it batches)
    # with a collate_fn (or batch_size=None) [x, y] could be two samples as well: refused
    for kw in (dict(batch_size=2, collate_fn=shapes), dict(batch_size=None)):
        with pytest.raises(TypeError, match=r"2 arrays of shapes \(5, 3\), \(5,\).*a tuple \(x, y, \.\.\.\)"):
            DataLoader([x, y], **kw)
    assert len(list(DataLoader((x, y), batch_size=2, collate_fn=lambda s: s))) == 3  # the tuple is explicit


def test_num_workers_uses_one_thread_with_the_same_batches():
    samples = _pairs(9)
    calls = []
    plain = DataLoader(samples, batch_size=2, shuffle=True, seed=1)
    loader = DataLoader(samples, batch_size=2, shuffle=True, seed=1, num_workers=2,
                        worker_init_fn=lambda i: calls.append((i, threading.current_thread().name)),
                        persistent_workers=True, prefetch_factor=1, multiprocessing_context="spawn")
    assert loader.prefetch_factor == 1
    for _ in range(2):                                   # two epochs, each its own order
        assert_same(list(loader), list(plain))
    assert calls == [(0, "fastnn-prefetch")] * 2         # once per epoch, in the thread
    assert DataLoader(samples, num_workers=3).prefetch_factor == 2
    it = list(DataLoader(Stream(5), batch_size=2, num_workers=1))
    assert_same(it, list(tud.DataLoader(TorchStream(5), batch_size=2)))


def test_timeout():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.3)
            return i

    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.05 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.05))
    with pytest.raises(AssertionError, match="timeout=1 needs loading in a background thread"):
        list(DataLoader(_pairs(2), timeout=1))
    assert len(list(DataLoader(_pairs(2), batch_size=1, timeout=5, prefetch=1))) == 2


def test_pin_memory_warns_it_has_no_effect():
    with pytest.warns(UserWarning, match="pin_memory=True has no effect"):
        loader = DataLoader(_pairs(3), batch_size=2, pin_memory=True)
    assert loader.pin_memory is True and len(list(loader)) == 2


class _Map(tud.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return i


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_sampler": [[0]], "batch_size": 4}, "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"),
    ({"batch_sampler": [[0]], "shuffle": True}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "sampler": [0]}, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "drop_last": True}, "batch_sampler option is mutually exclusive"),
    ({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
    ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    ({"num_workers": -1}, "num_workers option should be non-negative"),
    ({"timeout": -1}, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
    ({"num_workers": 1, "prefetch_factor": -1}, "prefetch_factor option should be non-negative"),
    ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
    ({"multiprocessing_context": "spawn"}, "multiprocessing_context can only be used with multi-process loading"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, "multiprocessing_context option should specify a valid start method"),
])
def test_loader_argument_errors_as_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.DataLoader(_Map(), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(Squares(4), **kwargs)


def test_multiprocessing_context_type_error_as_torch():
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context object"):
        tud.DataLoader(_Map(), num_workers=1, multiprocessing_context=3)
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context object"):
        DataLoader(Squares(4), num_workers=1, multiprocessing_context=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"shuffle": True}, "expected unspecified shuffle option, but got shuffle=True"),
    ({"sampler": [0]}, "expected unspecified sampler option"),
    ({"batch_sampler": [[0]]}, "expected unspecified batch_sampler option"),
])
def test_iterable_dataset_errors_as_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tud.DataLoader(TorchStream(3), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(Stream(3), **kwargs)
    DataLoader(Stream(3), shuffle=False)


def test_frozen_attributes_and_fastnn_checks():
    loader = DataLoader(_pairs(3), batch_size=2)
    for attr in ("batch_size", "sampler", "batch_sampler", "drop_last", "dataset", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(loader, attr, None)
    tl = tud.DataLoader(_pairs(3), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        tl.batch_size = 3
    loader.collate_fn = default_convert          # other attributes stay settable, as torch
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator or None, got int"):
        DataLoader(_pairs(3), generator=3)
    with pytest.raises(TypeError, match="collate_fn must be callable, got int"):
        DataLoader(_pairs(3), collate_fn=3)
    with pytest.raises(TypeError, match="got int"):
        DataLoader(5)
    assert DataLoader(_pairs(3)).batch_size == tud.DataLoader(_pairs(3)).batch_size == 1  # torch's default
    assert list(DataLoader([], batch_size=2)) == list(tud.DataLoader([], batch_size=2)) == []


def test_default_collate_stacks_device_samples_on_the_device(xp):
    samples = [(xp.asarray(np.full((2, 3), i, np.float32)), i) for i in range(4)]
    xb, yb = default_collate(samples)
    assert isinstance(xb, xp.ndarray) and xb.shape == (4, 2, 3)
    host = xb if isinstance(xb, np.ndarray) else xb.get()
    np.testing.assert_array_equal(host[:, 0, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(yb, [0, 1, 2, 3])
    with pytest.raises(TypeError, match="mixes CuPy and other arrays"):
        default_collate([xp.asarray(np.zeros(2, np.float32)), np.zeros(2, np.float32)])
