"""fastnn.optim.swa_utils against torch.optim.swa_utils (2.13) as the oracle: AveragedModel's
update rules (the first call copying, SWA by default, EMA through multi_avg_fn and avg_fn,
use_buffers with BatchNorm buffers, integer buffers included) over several updates with random
weights in float32 and float64, its state_dict keys, forward/backward and fastnn.save/load; the
averaging functions on arrays; SWALR's rates (cos and linear, anneal_epochs 0/1/5, several
groups, after another schedule, in a SequentialLR, state_dict round trip); update_bn's running
statistics (BatchNorm1d/2d/3d, SyncBatchNorm, Lazy ones) with restored momenta and modes; and
the argument errors, which name the bad value.

Tolerances: float32 rtol/atol 1e-6 (the same float32 operations as torch's, up to its fused
multiply-adds), float64 1e-12; integer buffers exactly; the rates (the same float64 formulas
as torch's) exactly."""
import math
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.optim.swa_utils import (
    SWALR, AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn, get_swa_avg_fn, get_swa_multi_avg_fn, update_bn,
)

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-6, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
BN_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _tdtype(torch, dtype):
    return torch.float32 if dtype == np.float32 else torch.float64


# ---- twin models ---------------------------------------------------------------------------
def _mlp(torch, dtype):
    """The same architecture in both libraries: Linear, BatchNorm1d, ReLU, Linear."""
    ours = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, momentum=0.2), nn.ReLU(), nn.Linear(5, 2)).to(dtype)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5, momentum=0.2), torch.nn.ReLU(),
                                 torch.nn.Linear(5, 2)).to(_tdtype(torch, dtype))
    return ours, theirs


def _convnet(torch, dtype):
    """Conv2d, BatchNorm2d, ReLU, Flatten, Linear, BatchNorm1d in both libraries."""
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3, momentum=0.3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(48, 4), nn.BatchNorm1d(4)).to(dtype)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3, momentum=0.3),
                                 torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(48, 4),
                                 torch.nn.BatchNorm1d(4)).to(_tdtype(torch, dtype))
    return ours, theirs


def _randomize(torch, ours, theirs, rng):
    """Fresh random values (the same in both) for every parameter and buffer: running_var > 0,
    num_batches_tracked a random count."""
    state = {}
    for key, value in ours.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = np.array(rng.integers(0, 50), np.int64)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, value.shape).astype(value.dtype)
        else:
            state[key] = rng.standard_normal(value.shape).astype(value.dtype)
    ours.load_state_dict(state)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})


def _assert_state_equal(ours, theirs, dtype):
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for key, value in mine.items():
        expected = ref[key].detach().numpy()
        if expected.dtype.kind == "i":
            assert value.dtype == np.int64 and value.shape == expected.shape, key
            np.testing.assert_array_equal(value, expected, err_msg=key)
        else:
            assert value.dtype == dtype, key
            np.testing.assert_allclose(value, expected, **TOL[dtype], err_msg=key)


# ---- AveragedModel ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["AveragedModel", "SWALR", "update_bn", "get_ema_multi_avg_fn",
                                  "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"])
def test_signatures_follow_torch(torch, name):
    import inspect

    from fastnn.optim import swa_utils

    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    assert params(getattr(swa_utils, name)) == params(getattr(torch.optim.swa_utils, name))
    assert name in swa_utils.__all__


def test_state_dict_keys_and_repr_follow_torch(torch):
    ours, theirs = _mlp(torch, np.float32)
    swa, ref = AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    assert list(swa.state_dict()) == list(ref.state_dict())
    assert list(swa.state_dict())[:2] == ["n_averaged", "module.0.weight"]
    n = swa.state_dict()["n_averaged"]
    assert n.shape == () and n.dtype == np.int64 and int(n) == 0
    assert isinstance(swa.module, nn.Sequential) and swa.module is not ours
    assert [name for name, _ in swa.named_children()] == ["module"]
    assert repr(swa).startswith("AveragedModel(\n  (module): Sequential(")
    assert swa.training and swa.avg_fn is None and swa.multi_avg_fn is None and swa.use_buffers is False


def test_the_copy_is_deep_and_independent(torch):
    ours, _ = _mlp(torch, np.float64)
    swa = AveragedModel(ours)
    before = {k: v.copy() for k, v in swa.state_dict().items()}
    for p in ours.parameters():
        p.data += 1.0
    ours[1].running_mean += 1.0
    for k, v in swa.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert all(a is not b for a, b in zip(swa.module.parameters(), ours.parameters()))


AVERAGING = {
    "swa": lambda t: {},
    "ema_multi": lambda t: {"multi_avg_fn": (get_ema_multi_avg_fn(0.7), t.optim.swa_utils.get_ema_multi_avg_fn(0.7))},
    "ema_avg": lambda t: {"avg_fn": (get_ema_avg_fn(0.7), t.optim.swa_utils.get_ema_avg_fn(0.7))},
    "swa_avg": lambda t: {"avg_fn": (get_swa_avg_fn(), t.optim.swa_utils.get_swa_avg_fn())},
    "swa_multi": lambda t: {"multi_avg_fn": (get_swa_multi_avg_fn(), t.optim.swa_utils.get_swa_multi_avg_fn())},
    "custom_avg": lambda t: {"avg_fn": (lambda a, c, n: 0.25 * a + 0.75 * c + n,
                                        lambda a, c, n: 0.25 * a + 0.75 * c + n)},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_buffers", [False, True])
@pytest.mark.parametrize("how", list(AVERAGING))
def test_update_parameters_matches_torch(torch, how, use_buffers, dtype):
    rng = np.random.default_rng(len(how) + 10 * use_buffers)
    ours, theirs = _mlp(torch, dtype)
    fns = AVERAGING[how](torch)
    swa = AveragedModel(ours, use_buffers=use_buffers, **{k: v[0] for k, v in fns.items()})
    if how == "swa_multi" and use_buffers:
        # torch's get_swa_multi_avg_fn raises on the integer num_batches_tracked; fastnn's averages
        # integers as torch's get_swa_avg_fn does
        tv = torch.optim.swa_utils

        def swa_multi_or_single(avg, cur, n):
            if avg[0].is_floating_point():
                tv.get_swa_multi_avg_fn()(avg, cur, n)
            else:
                for a, c in zip(avg, cur):
                    a.copy_(tv.get_swa_avg_fn()(a, c, n))

        fns = {"multi_avg_fn": (None, swa_multi_or_single)}
    ref = torch.optim.swa_utils.AveragedModel(theirs, use_buffers=use_buffers, **{k: v[1] for k, v in fns.items()})
    for _ in range(4):
        _randomize(torch, ours, theirs, rng)
        swa.update_parameters(ours)
        ref.update_parameters(theirs)
        _assert_state_equal(swa, ref, dtype)
    assert int(swa.n_averaged) == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_default_average_is_the_mean_of_the_models(dtype, torch):
    """Without a torch: the SWA average of k models is their mean (and the buffers the last one's)."""
    rng = np.random.default_rng(3)
    ours, _ = _mlp(torch, dtype)
    swa = AveragedModel(ours)
    states = []
    for _ in range(5):
        state = {k: (rng.standard_normal(v.shape).astype(v.dtype) if v.dtype.kind == "f" else v)
                 for k, v in ours.state_dict().items()}
        ours.load_state_dict(state)
        states.append(state)
        swa.update_parameters(ours)
    for name, p in ours.named_parameters():
        mean = np.mean([s[name] for s in states], axis=0)
        np.testing.assert_allclose(swa.module.state_dict()[name], mean, **TOL[dtype])
    np.testing.assert_array_equal(swa.module[1].running_mean, states[-1]["1.running_mean"])


def test_first_update_copies_whatever_the_function(torch):
    ours, _ = _mlp(torch, np.float64)
    swa = AveragedModel(ours, avg_fn=lambda a, c, n: a * 0 + 123.0, use_buffers=True)
    for p in ours.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape)
    swa.update_parameters(ours)
    for a, b in zip(swa.module.state_dict().values(), ours.state_dict().values()):
        np.testing.assert_array_equal(a, b)
    swa.update_parameters(ours)
    assert np.all(swa.module[0].weight.data == 123.0) and int(swa.n_averaged) == 2


def test_multi_avg_fn_gets_one_call_per_dtype_with_the_count(torch):
    ours, theirs = _mlp(torch, np.float32)
    calls, ref_calls = [], []

    def record(into):
        def fn(avg, cur, n):
            into.append((len(avg), str(avg[0].dtype).replace("torch.", ""), int(n)))
        return fn

    swa = AveragedModel(ours, multi_avg_fn=record(calls), use_buffers=True)
    ref = torch.optim.swa_utils.AveragedModel(theirs, multi_avg_fn=record(ref_calls), use_buffers=True)
    for _ in range(3):
        swa.update_parameters(ours)
        ref.update_parameters(theirs)
    assert calls == ref_calls == [(1, "int64", 1), (8, "float32", 1), (1, "int64", 2), (8, "float32", 2)]


def test_forward_and_backward_run_the_copy(torch):
    rng = np.random.default_rng(1)
    ours, _ = _mlp(torch, np.float64)
    swa = AveragedModel(ours)
    x = rng.standard_normal((6, 3))
    swa.eval()
    assert not swa.module.training and not swa.module[1].training
    np.testing.assert_array_equal(swa(x), swa.module(x))
    swa.train()
    y = swa(x)
    dy = rng.standard_normal(y.shape)
    swa.zero_grad()
    dx = swa.backward(dy)
    copy = AveragedModel(ours)
    copy.module(x)
    copy.zero_grad()
    np.testing.assert_allclose(dx, copy.module.backward(dy), rtol=1e-12)
    for a, b in zip(swa.parameters(), copy.module.parameters()):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12)
    assert not any(p.has_grad for p in ours.parameters())


def test_save_and_load_an_averaged_model(torch, tmp_path):
    rng = np.random.default_rng(4)
    ours, theirs = _mlp(torch, np.float64)
    swa = AveragedModel(ours, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    for _ in range(3):
        _randomize(torch, ours, theirs, rng)
        swa.update_parameters(ours)
    fastnn.save(swa, tmp_path / "swa.fnn")
    loaded = fastnn.load(tmp_path / "swa.fnn")
    assert type(loaded) is AveragedModel and type(loaded.module) is nn.Sequential
    assert loaded.use_buffers is True and loaded.multi_avg_fn is None  # the functions are not saved (torch's)
    assert list(loaded.state_dict()) == list(swa.state_dict())
    for k, v in swa.state_dict().items():
        assert loaded.state_dict()[k].dtype == v.dtype
        np.testing.assert_array_equal(loaded.state_dict()[k], v)
    assert int(loaded.n_averaged) == 3
    swa.eval()
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(loaded(x), swa(x))
    # the loaded one goes on averaging from its count
    swa2 = AveragedModel(ours)
    swa2.load_state_dict(swa.state_dict())
    loaded2 = AveragedModel(ours)
    loaded2.load_state_dict(loaded.state_dict())
    _randomize(torch, ours, theirs, rng)
    swa2.update_parameters(ours)
    loaded2.update_parameters(ours)
    for k, v in swa2.state_dict().items():
        np.testing.assert_array_equal(loaded2.state_dict()[k], v)


def test_averaged_model_loads_torchs_state_dict(torch):
    rng = np.random.default_rng(5)
    ours, theirs = _mlp(torch, np.float32)
    ref = torch.optim.swa_utils.AveragedModel(theirs)
    for _ in range(2):
        _randomize(torch, ours, theirs, rng)
        ref.update_parameters(theirs)
    swa = AveragedModel(ours)
    swa.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    _assert_state_equal(swa, ref, np.float32)
    _randomize(torch, ours, theirs, rng)
    swa.update_parameters(ours)
    ref.update_parameters(theirs)
    _assert_state_equal(swa, ref, np.float32)


def test_device_argument():
    model = nn.Sequential(nn.Linear(2, 2))
    swa = AveragedModel(model, device="cpu")
    assert swa.device == "cpu" and isinstance(swa.n_averaged, np.ndarray)
    with pytest.raises(ValueError, match="tpu"):
        AveragedModel(model, device="tpu")


def test_averaged_model_argument_errors():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="Only one of avg_fn and multi_avg_fn") as info:
        AveragedModel(model, avg_fn=get_swa_avg_fn(), multi_avg_fn=get_swa_multi_avg_fn())
    assert isinstance(info.value, AssertionError)  # torch's exception type too
    with pytest.raises(TypeError, match="model="):
        AveragedModel("model")
    with pytest.raises(TypeError, match="avg_fn=3"):
        AveragedModel(model, avg_fn=3)
    with pytest.raises(TypeError, match="multi_avg_fn='x'"):
        AveragedModel(model, multi_avg_fn="x")
    with pytest.raises(TypeError, match="use_buffers='yes'"):
        AveragedModel(model, use_buffers="yes")
    swa = AveragedModel(model)
    with pytest.raises(TypeError, match="model=3"):
        swa.update_parameters(3)
    swa.update_parameters(model)
    before = {k: v.copy() for k, v in swa.state_dict().items()}
    with pytest.raises(ValueError, match="the model has 2 parameters, the averaged model 4"):
        swa.update_parameters(nn.Sequential(nn.Linear(2, 3)))
    with pytest.raises(ValueError, match=re.escape("'0.weight' has shape (4, 2)")):
        swa.update_parameters(nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4)))
    with pytest.raises(ValueError, match="the model has 0 buffers, the averaged model 3"):
        swa.update_parameters(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=False)))
    bad = AveragedModel(model, avg_fn=lambda a, c, n: None)
    bad.update_parameters(model)
    with pytest.raises(TypeError, match="avg_fn must return .*'module.0.weight', got NoneType"):
        bad.update_parameters(model)
    for k, v in swa.state_dict().items():  # nothing changed by the refused updates
        np.testing.assert_array_equal(v, before[k])


# ---- the averaging functions ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count", ["array", "int"])
def test_averaging_functions_match_torch(torch, dtype, count):
    rng = np.random.default_rng(7)
    avg = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    cur = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    tv = torch.optim.swa_utils
    for n in (0, 1, 2, 6):
        ours_n = np.array(n, np.int64) if count == "array" else n
        theirs_n = torch.tensor(n) if count == "array" else n
        for mine, ref in ((get_swa_avg_fn(), tv.get_swa_avg_fn()), (get_ema_avg_fn(0.3), tv.get_ema_avg_fn(0.3)),
                          (get_ema_avg_fn(), tv.get_ema_avg_fn())):
            for a, c in zip(avg, cur):
                out = mine(a, c, ours_n)
                expected = ref(torch.tensor(a), torch.tensor(c), theirs_n).numpy()
                assert out.dtype == dtype and out.shape == a.shape
                np.testing.assert_allclose(out, expected, **TOL[dtype])
        for mine, ref in ((get_swa_multi_avg_fn(), tv.get_swa_multi_avg_fn()),
                          (get_ema_multi_avg_fn(0.3), tv.get_ema_multi_avg_fn(0.3)),
                          (get_ema_multi_avg_fn(0.8), tv.get_ema_multi_avg_fn(0.8))):
            ours_avg = [a.copy() for a in avg]
            theirs_avg = [torch.tensor(a) for a in avg]
            assert mine(ours_avg, cur, ours_n) is None
            ref(theirs_avg, [torch.tensor(c) for c in cur], theirs_n)
            for a, t in zip(ours_avg, theirs_avg):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, t.numpy(), **TOL[dtype])


def test_averaging_functions_on_integer_arrays_match_torch(torch):
    rng = np.random.default_rng(8)
    a, c = rng.integers(0, 100, 7), rng.integers(0, 100, 7)
    tv = torch.optim.swa_utils
    for n in (1, 2, 5):
        out = get_swa_avg_fn()(a, c, np.array(n))
        expected = tv.get_swa_avg_fn()(torch.tensor(a), torch.tensor(c), torch.tensor(n))
        assert out.dtype == np.float32 and expected.dtype == torch.float32
        np.testing.assert_array_equal(out, expected.numpy())
        out = get_ema_avg_fn(0.9)(a, c, n)
        np.testing.assert_array_equal(out, tv.get_ema_avg_fn(0.9)(torch.tensor(a), torch.tensor(c), n).numpy())
        mine, theirs = [a.copy()], [torch.tensor(a)]
        get_ema_multi_avg_fn(0.9)(mine, [c], np.array(n))
        tv.get_ema_multi_avg_fn(0.9)(theirs, [torch.tensor(c)], torch.tensor(n))
        assert mine[0].dtype == np.int64
        np.testing.assert_array_equal(mine[0], theirs[0].numpy())
        # torch's get_swa_multi_avg_fn raises on integers; fastnn's truncates the average
        mine = [a.copy()]
        get_swa_multi_avg_fn()(mine, [c], np.array(n))
        np.testing.assert_array_equal(mine[0], np.trunc(a + (c - a) / (n + 1)).astype(np.int64))


def test_swa_multi_weight_is_float32_for_an_array_count(torch):
    """torch's 1 / (count + 1) is a float32 tensor: in float64 the average differs from 1/3."""
    avg = [np.zeros(1)]
    get_swa_multi_avg_fn()(avg, [np.ones(1)], np.array(2))
    assert avg[0][0] == float(np.float32(1 / 3)) != 1 / 3
    avg = [np.zeros(1)]
    get_swa_multi_avg_fn()(avg, [np.ones(1)], 2)
    assert avg[0][0] == 1 / 3


@pytest.mark.parametrize("bad", [-0.1, 1.5, "x", None])
def test_decay_errors_name_the_value(bad):
    for fn in (get_ema_avg_fn, get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match=re.escape(f"decay={bad!r}")):
            fn(bad)
    assert get_ema_avg_fn(0)(np.ones(2), np.zeros(2), 1).tolist() == [0.0, 0.0]
    assert get_ema_avg_fn(1)(np.ones(2), np.zeros(2), 1).tolist() == [1.0, 1.0]


# ---- SWALR -----------------------------------------------------------------------------------
def _opts(torch, lrs):
    ours = optim.SGD([{"params": [nn.Parameter(np.zeros(2, np.float32))], "lr": lr} for lr in lrs], lr=0.1)
    theirs = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs], lr=0.1)
    return ours, theirs


PRECEDING = {
    None: None,
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=0.01),
    "step": lambda m, o: m.StepLR(o, step_size=2, gamma=0.5),
}


@pytest.mark.parametrize("preceding", list(PRECEDING))
@pytest.mark.parametrize("anneal_epochs", [0, 1, 5])
@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("swa_lr", [0.05, [0.05, 0.3]])
def test_swalr_rates_match_torch(torch, strategy, anneal_epochs, preceding, swa_lr):
    ours_opt, theirs_opt = _opts(torch, [0.5, 0.2])
    make = PRECEDING[preceding]
    if make is not None:
        ours_pre, theirs_pre = make(optim, ours_opt), make(torch.optim.lr_scheduler, theirs_opt)
    ours = SWALR(ours_opt, swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    theirs = torch.optim.swa_utils.SWALR(theirs_opt, swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=strategy)

    def lrs():
        got = [g["lr"] for g in ours_opt.param_groups]
        assert got == [g["lr"] for g in theirs_opt.param_groups]
        return got

    seen = [lrs()]
    assert ours.get_last_lr() == theirs.get_last_lr()
    for _ in range(4 if make is not None else 0):
        ours_opt.step(), theirs_opt.step()
        ours_pre.step(), theirs_pre.step()
        seen.append(lrs())
    for _ in range(8):
        ours_opt.step(), theirs_opt.step()
        ours.step(), theirs.step()
        seen.append(lrs())
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert ours.last_epoch == theirs.last_epoch
    swa_lrs = swa_lr if isinstance(swa_lr, list) else [swa_lr] * 2
    assert [g["swa_lr"] for g in ours_opt.param_groups] == swa_lrs
    np.testing.assert_allclose(seen[-1], swa_lrs, rtol=1e-12)  # annealed to swa_lr
    if anneal_epochs == 5:
        assert len({tuple(s) for s in seen}) > 5  # a real anneal, not a jump


def test_swalr_inside_sequential_lr_matches_torch(torch):
    ours_opt, theirs_opt = _opts(torch, [0.4, 0.1])
    seqs = []
    for mod, swa_mod, o in ((optim, None, ours_opt), (torch.optim.lr_scheduler, torch.optim.swa_utils, theirs_opt)):
        warm = mod.LinearLR(o, start_factor=0.5, total_iters=3)
        swalr = (SWALR if swa_mod is None else swa_mod.SWALR)(o, swa_lr=0.02, anneal_epochs=3)
        seqs.append(mod.SequentialLR(o, [warm, swalr], milestones=[4]))
    seen = []
    for _ in range(10):
        ours_opt.step(), theirs_opt.step()
        for s in seqs:
            s.step()
        assert [g["lr"] for g in ours_opt.param_groups] == [g["lr"] for g in theirs_opt.param_groups]
        seen.append(ours_opt.param_groups[0]["lr"])
    assert seen[-1] == pytest.approx(0.02, rel=1e-12)


def test_swalr_state_dict_round_trip(torch):
    opt, theirs_opt = _opts(torch, [0.5, 0.2])
    sched = SWALR(opt, swa_lr=0.05, anneal_epochs=6, anneal_strategy="linear")
    theirs = torch.optim.swa_utils.SWALR(theirs_opt, swa_lr=0.05, anneal_epochs=6, anneal_strategy="linear")
    for _ in range(3):
        opt.step(), sched.step()
        theirs_opt.step(), theirs.step()
    state = sched.state_dict()
    assert "optimizer" not in state and "anneal_func" not in state
    assert state["_anneal_strategy"] == "linear" and state["anneal_epochs"] == 6
    assert {"_anneal_strategy", "anneal_epochs", "base_lrs", "last_epoch", "_step_count", "_last_lr"} <= set(state)
    # resume on a new optimizer holding the same rates, into a schedule built with other settings
    opt2, _ = _opts(torch, [0.5, 0.2])
    opt2.load_state_dict(opt.state_dict())
    resumed = SWALR(opt2, swa_lr=0.05, anneal_epochs=1, anneal_strategy="cos")
    resumed.load_state_dict(state)
    assert resumed.anneal_func(0.25) == 0.25 and resumed.anneal_epochs == 6
    for _ in range(5):
        opt.step(), sched.step()
        opt2.step(), resumed.step()
        theirs_opt.step(), theirs.step()
        assert resumed.get_last_lr() == sched.get_last_lr() == theirs.get_last_lr()


def test_swalr_get_lr_warns_outside_step(torch):
    opt, _ = _opts(torch, [0.5])
    sched = SWALR(opt, swa_lr=0.1)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    assert isinstance(sched, optim.LRScheduler)
    assert sched._closed_form_lrs() is None  # no closed form, as torch's


@pytest.mark.parametrize("anneal_epochs", [0, 3])
def test_swalr_cosine_values(anneal_epochs, torch):
    """The closed values of the anneal from a constant rate: lr_k = swa + (lr0 - swa) (1 - alpha_k)."""
    opt, _ = _opts(torch, [1.0])
    sched = SWALR(opt, swa_lr=0.2, anneal_epochs=anneal_epochs)
    got = [opt.param_groups[0]["lr"]]
    for _ in range(5):
        sched.step()
        got.append(opt.param_groups[0]["lr"])
    if anneal_epochs == 0:
        expected = [0.2] * 6
    else:
        alphas = [(1 - math.cos(math.pi * min(k, 3) / 3)) / 2 for k in range(6)]
        expected = [0.2 + 0.8 * (1 - a) for a in alphas]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_swalr_argument_errors(torch):
    opt, _ = _opts(torch, [0.5, 0.2])
    with pytest.raises(ValueError, match="anneal_strategy.*'x'"):
        SWALR(opt, swa_lr=0.1, anneal_strategy="x")
    with pytest.raises(ValueError, match=re.escape("swa_lr=[0.1, 0.2, 0.3]")):
        SWALR(opt, swa_lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=re.escape("swa_lr=[0.1]")):
        SWALR(opt, swa_lr=[0.1])
    with pytest.raises(ValueError, match="swa_lr=-0.1"):
        SWALR(opt, swa_lr=-0.1)
    with pytest.raises(ValueError, match=re.escape("swa_lr[1]=nan")):
        SWALR(opt, swa_lr=[0.1, float("nan")])
    with pytest.raises(ValueError, match="swa_lr='a'"):
        SWALR(opt, swa_lr="a")
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=re.escape(f"anneal_epochs={bad!r}")):
            SWALR(opt, swa_lr=0.1, anneal_epochs=bad)
    with pytest.raises(ValueError, match="last_epoch=-2"):
        SWALR(opt, swa_lr=0.1, last_epoch=-2)
    with pytest.raises(TypeError, match="Optimizer"):
        SWALR("opt", swa_lr=0.1)
    assert all("swa_lr" not in g for g in opt.param_groups)  # a refused construction changes nothing
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.2]


# ---- update_bn -------------------------------------------------------------------------------
def _batches(rng, dtype, shape, sizes):
    return [(rng.standard_normal((n,) + shape) * 2 + 1).astype(dtype) for n in sizes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("form", ["tuple", "list", "array", "dataloader"])
@pytest.mark.parametrize("was_training", [True, False])
def test_update_bn_matches_torch(torch, dtype, form, was_training):
    rng = np.random.default_rng(11)
    ours, theirs = _convnet(torch, dtype)
    _randomize(torch, ours, theirs, rng)
    xs = _batches(rng, dtype, (2, 4, 4), [5, 5, 5, 3])
    ys = [rng.standard_normal((len(x), 1)).astype(dtype) for x in xs]
    if form == "tuple":
        loader, ref_loader = list(zip(xs, ys)), [(torch.tensor(x), torch.tensor(y)) for x, y in zip(xs, ys)]
    elif form == "list":
        loader = [[x, y] for x, y in zip(xs, ys)]
        ref_loader = [[torch.tensor(x), torch.tensor(y)] for x, y in zip(xs, ys)]
    elif form == "array":
        loader, ref_loader = xs, [torch.tensor(x) for x in xs]
    else:
        loader = fastnn.data.DataLoader((np.concatenate(xs), np.concatenate(ys)), batch_size=5)
        ref_loader = [(torch.tensor(x), torch.tensor(y)) for x, y in zip(xs, ys)]
    ours.train(was_training)
    theirs.train(was_training)
    update_bn(loader, ours)
    torch.optim.swa_utils.update_bn(ref_loader, theirs)
    for i in (1, 5):
        np.testing.assert_allclose(ours[i].running_mean, theirs[i].running_mean.numpy(), **BN_TOL[dtype])
        np.testing.assert_allclose(ours[i].running_var, theirs[i].running_var.numpy(), **BN_TOL[dtype])
        assert int(ours[i].num_batches_tracked) == int(theirs[i].num_batches_tracked) == 4
        assert ours[i].running_mean.dtype == dtype
    assert ours[1].momentum == 0.3 and ours[5].momentum == 0.1
    assert all(m.training == was_training for m in ours.modules())


def test_update_bn_is_the_mean_of_the_batch_statistics(torch):
    rng = np.random.default_rng(12)
    bn = nn.BatchNorm1d(3, momentum=0.5).to(np.float64)
    xs = _batches(rng, np.float64, (3,), [4, 6, 5])
    update_bn(xs, nn.Sequential(bn))
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean([x.var(0, ddof=1) for x in xs], axis=0), rtol=1e-12)
    assert bn.momentum == 0.5


def test_update_bn_on_an_averaged_model_matches_torch(torch):
    rng = np.random.default_rng(13)
    ours, theirs = _mlp(torch, np.float64)
    swa, ref = AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    for _ in range(3):
        _randomize(torch, ours, theirs, rng)
        swa.update_parameters(ours)
        ref.update_parameters(theirs)
    xs = _batches(rng, np.float64, (3,), [8, 8, 4])
    swa.eval()
    ref.eval()
    update_bn([(x, None) for x in xs], swa, device="cpu")
    torch.optim.swa_utils.update_bn([(torch.tensor(x), None) for x in xs], ref)
    _assert_state_equal(swa, ref, np.float64)
    assert not swa.training and not swa.module[1].training
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(swa(x), ref(torch.tensor(x)).detach().numpy(), rtol=1e-12, atol=1e-12)


def test_update_bn_counts_every_batch_norm_kind(torch):
    """BatchNorm3d, SyncBatchNorm and a materialized LazyBatchNorm are reset and averaged as
    torch's; InstanceNorm (not a batch norm, in torch either) keeps its momentum."""
    rng = np.random.default_rng(14)
    lazy, ref_lazy = nn.LazyBatchNorm3d(momentum=0.4), torch.nn.LazyBatchNorm3d(momentum=0.4)
    ours = nn.Sequential(nn.BatchNorm3d(2, momentum=0.2), nn.SyncBatchNorm(2), lazy,
                         nn.InstanceNorm3d(2, track_running_stats=True)).to(np.float64)
    theirs = torch.nn.Sequential(torch.nn.BatchNorm3d(2, momentum=0.2), torch.nn.BatchNorm3d(2), ref_lazy,
                                 torch.nn.InstanceNorm3d(2, track_running_stats=True)).double()
    warm = rng.standard_normal((3, 2, 2, 3, 2))
    ours(warm)
    theirs(torch.tensor(warm))  # materializes both Lazy layers
    assert type(ours[2]) is nn.BatchNorm3d
    xs = _batches(rng, np.float64, (2, 2, 3, 2), [3, 4, 2])
    update_bn(xs, ours)
    torch.optim.swa_utils.update_bn([torch.tensor(x) for x in xs], theirs)
    for i in range(4):
        np.testing.assert_allclose(ours[i].running_mean, theirs[i].running_mean.numpy(), **BN_TOL[np.float64])
        np.testing.assert_allclose(ours[i].running_var, theirs[i].running_var.numpy(), **BN_TOL[np.float64])
    assert [m.momentum for m in ours] == [0.2, 0.1, 0.4, 0.1]
    assert int(ours[0].num_batches_tracked) == int(ours[2].num_batches_tracked) == 3


def test_update_bn_leaves_models_without_batch_norm_alone():
    class Untouchable:
        def __iter__(self):
            raise AssertionError("iterated")

    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    model.eval()
    update_bn(Untouchable(), model)
    assert not model.training


def test_update_bn_refuses_a_lazy_batch_norm_not_materialized(torch):
    model = nn.Sequential(nn.Linear(2, 3), nn.LazyBatchNorm1d())
    with pytest.raises(ValueError, match="LazyBatchNorm1d '1' is not materialized"):
        update_bn([np.ones((4, 2), np.float32)], model)
    ref = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LazyBatchNorm1d())
    with pytest.raises(ValueError):  # torch's refuses it too
        torch.optim.swa_utils.update_bn([torch.ones(4, 2)], ref)


def test_update_bn_restores_momenta_and_mode_when_a_batch_fails():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, momentum=0.7))
    model.eval()
    with pytest.raises(ValueError):
        update_bn([np.ones((4, 2), np.float32), np.ones((4, 5), np.float32)], model)
    assert model[1].momentum == 0.7 and not model.training and not model[1].training


def test_update_bn_argument_errors():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = model[1].running_var.copy()
    with pytest.raises(TypeError, match="loader=5"):
        update_bn(5, model)
    with pytest.raises(TypeError, match="model='m'"):
        update_bn([], "m")
    with pytest.raises(ValueError, match="device='tpu'"):
        update_bn([], model, device="tpu")
    with pytest.raises(TypeError, match="got list"):
        update_bn([([[1.0, 2.0]], 0)], model, device="cpu")
    np.testing.assert_array_equal(model[1].running_var, before)
    assert model[1].momentum == 0.1


# ---- SWA end to end ------------------------------------------------------------------------
def test_swa_training_run_matches_torch(torch):
    """SGD under CosineAnnealingLR, then SWALR with an AveragedModel updated every epoch, then
    update_bn: the final averaged weights and statistics match torch's (float64)."""
    rng = np.random.default_rng(21)
    ours, theirs = _mlp(torch, np.float64)
    _randomize(torch, ours, theirs, rng)
    x = rng.standard_normal((24, 3))
    y = rng.standard_normal((24, 2))
    opt, ref_opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(theirs.parameters(), lr=0.1,
                                                                                         momentum=0.9)
    sched, ref_sched = optim.CosineAnnealingLR(opt, T_max=8), torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, 8)
    swa_sched = SWALR(opt, swa_lr=0.03, anneal_epochs=2)
    ref_swa_sched = torch.optim.swa_utils.SWALR(ref_opt, swa_lr=0.03, anneal_epochs=2)
    swa, ref = AveragedModel(ours), torch.optim.swa_utils.AveragedModel(theirs)
    for epoch in range(8):
        for i in range(0, 24, 8):
            xb, yb = x[i:i + 8], y[i:i + 8]
            opt.zero_grad()
            out = ours(xb)
            ours.backward(2 * (out - yb) / out.size)
            opt.step()
            ref_opt.zero_grad()
            torch.nn.functional.mse_loss(theirs(torch.tensor(xb)), torch.tensor(yb)).backward()
            ref_opt.step()
        if epoch >= 4:
            swa.update_parameters(ours)
            ref.update_parameters(theirs)
            swa_sched.step()
            ref_swa_sched.step()
        else:
            sched.step()
            ref_sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-15)
    loader = [(x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)]
    update_bn(loader, swa)
    torch.optim.swa_utils.update_bn([(torch.tensor(a), torch.tensor(b)) for a, b in loader], ref)
    mine, theirs_state = swa.state_dict(), ref.state_dict()
    for k, v in mine.items():
        np.testing.assert_allclose(v, theirs_state[k].numpy(), rtol=1e-9, atol=1e-11, err_msg=k)
    assert int(swa.n_averaged) == 4


# ---- on the GPU ------------------------------------------------------------------------------
def _host_state(model):
    return {k: (v if isinstance(v, np.ndarray) else v.get()) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("how", ["swa", "ema_multi", "ema_avg"])
def test_on_the_gpu_as_on_the_cpu(xp, how):
    """AveragedModel(device="cuda") averages a CPU model's weights on the GPU as the CPU one does,
    update_bn(device="cuda") moves the batches there; n_averaged follows `device` (the CPU when
    None, as torch's)."""
    rng = np.random.default_rng(31)
    fns = {"swa": {}, "ema_multi": {"multi_avg_fn": get_ema_multi_avg_fn(0.6)},
           "ema_avg": {"avg_fn": get_ema_avg_fn(0.6)}}[how]
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    on_cpu = AveragedModel(model, use_buffers=True, **fns)
    on_gpu = AveragedModel(model, device="cuda", use_buffers=True, **fns)
    assert on_gpu.device == "cuda" and isinstance(on_gpu.n_averaged, xp.ndarray)
    assert isinstance(on_gpu.module[0].weight.data, xp.ndarray)
    assert isinstance(on_gpu.module[1].running_mean, xp.ndarray)
    for _ in range(3):
        model.load_state_dict({k: (rng.standard_normal(v.shape).astype(v.dtype) if v.dtype.kind == "f"
                                   else np.array(rng.integers(0, 9))) for k, v in model.state_dict().items()})
        on_cpu.update_parameters(model)
        on_gpu.update_parameters(model)
    mine, ref = _host_state(on_gpu), _host_state(on_cpu)
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-6, atol=1e-6, err_msg=k)
    xs = _batches(rng, np.float32, (3,), [6, 6, 4])
    update_bn([(x, 0) for x in xs], on_cpu)
    update_bn([(x, 0) for x in xs], on_gpu, device="cuda")
    mine, ref = _host_state(on_gpu), _host_state(on_cpu)
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # a model on the GPU, no device: the copy stays there, the count on the CPU (torch's)
    model.to("cuda")
    swa = AveragedModel(model, **fns)
    assert swa.module.device == "cuda" and isinstance(swa.n_averaged, np.ndarray)
    swa.update_parameters(model)
    swa.update_parameters(model)
    for k, v in _host_state(swa.module).items():
        np.testing.assert_allclose(v, _host_state(model)[k], rtol=1e-6, atol=1e-6, err_msg=k)
