"""fit's edge cases: list data, batches that are not pairs, a NaN loss (nothing lost), NaN in
monitored values, the default metrics, metric names, Keras-style schedules and names."""
import os

import numpy as np
import pytest

import fastnn
from fastnn import data as D
from fastnn import nn, optim
from fastnn.training import _batches


def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 3], [3, -2], [-3, -2]], dtype=np.float32)
    y = rng.integers(0, 3, n)
    return centers[y] + rng.standard_normal((n, 2)).astype(np.float32), y


def _mlp():
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))


def _fit(model, train, **kw):
    kw.setdefault("progress", False)
    return fastnn.fit(model, optim.Adam(model.parameters(), lr=0.05), "cross_entropy", train, **kw)


def test_lists_are_data():
    x, y = _blobs()
    fastnn.manual_seed(0)
    model = _mlp()
    state = model.state_dict()
    want = _fit(model, (x, y), epochs=2, seed=1)["loss"]
    for form in ((x.tolist(), y.tolist()), [x, y], [x.tolist(), y.tolist()]):
        model.load_state_dict(state)
        assert _fit(model, form, epochs=2, seed=1, val=[x, y])["loss"] == want  # the same run
    np.testing.assert_array_equal(fastnn.predict(model, x.tolist()), fastnn.predict(model, x))


def test_batches_must_be_pairs():
    x, y = _blobs()
    with pytest.raises(TypeError, match=r"each batch must be an \(x, y\) pair, got a tuple of 1 items"):
        _fit(_mlp(), D.DataLoader((x,), batch_size=32))
    with pytest.raises(TypeError, match="each batch must be an"):
        fastnn.evaluate(_mlp(), [x[:10]])


def test_a_nan_loss_keeps_the_history_and_restores_the_best_weights():
    x, y = _blobs()
    model = _mlp()
    stop = fastnn.EarlyStopping(monitor="loss", patience=5)

    class Poison(fastnn.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 2:
                self.model[0].weight.data[...] = np.nan

    with pytest.raises(FloatingPointError, match="loss became nan in epoch 4") as info:
        _fit(model, (x, y), epochs=6, callbacks=[stop, Poison()], seed=0)
    history = info.value.history
    assert history.epoch == [0, 1, 2] and len(history["loss"]) == 3
    assert np.isfinite(model[0].weight.data).all()  # EarlyStopping's on_train_end ran
    assert stop.best_epoch == int(np.argmin(history["loss"]))


def test_nan_is_never_the_best_value(tmp_path):
    values = [float("nan"), 5.0, 4.0, 3.0, 2.0, 1.0]
    model = _mlp()
    stop = fastnn.EarlyStopping(monitor="val_loss", patience=2)
    ckpt = fastnn.ModelCheckpoint(str(tmp_path / "sub" / "m_{epoch}.npz"), save_best_only=True)
    for cb in (stop, ckpt):
        cb.set_model(model)
        cb.on_train_begin()
    for epoch, v in enumerate(values):
        for cb in (stop, ckpt):
            cb.on_epoch_end(epoch, {"val_loss": v, "loss": v})
        assert not stop.stop_training
    assert stop.best == 1.0 and stop.best_epoch == 5
    assert [os.path.basename(p) for p in ckpt.saved] == [f"m_{e}.npz" for e in range(2, 7)]  # folder made


def test_checkpoint_path_naming_an_unlogged_key(tmp_path):
    ckpt = fastnn.ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.npz"))
    ckpt.set_model(_mlp())
    with pytest.raises(ValueError, match=r"names \{val_acc\}, which is not logged; available: \['epoch', 'loss'"):
        ckpt.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})


def test_default_metrics_follow_the_loss():
    x, y = _blobs()
    h = _fit(_mlp(), (x, y))
    assert "accuracy" in h.history
    rng = np.random.default_rng(0)
    xr = rng.standard_normal((64, 3)).astype(np.float32)
    yr = xr.sum(axis=1, keepdims=True)
    reg = nn.Sequential(nn.Linear(3, 1))
    h = fastnn.fit(reg, "adam", "mse", (xr, yr), epochs=1, progress=False)  # no accuracy on a regression
    assert set(h.history) == {"loss", "lr"}
    h = fastnn.fit(nn.Sequential(nn.Linear(3, 1)), "adam", "bce_with_logits", (xr, (yr > 0).astype(np.float32)),
                   progress=False)
    assert set(h.history) == {"loss", "lr"}  # logits are not probabilities
    assert set(fastnn.evaluate(reg, (xr, yr), loss="mse")) == {"loss"}
    h = fastnn.fit(reg, "adam", "mse", (xr, yr), metrics="mae", progress=False)  # one name
    assert "mae" in h.history
    model = _mlp().compile("adam", "cross_entropy", metrics="accuracy")
    assert "accuracy" in model.fit(x, y, progress=False).history


def test_metric_names_must_be_distinct():
    x, y = _blobs()
    with pytest.raises(ValueError, match="metric name '<lambda>' appears twice"):
        _fit(_mlp(), (x, y), metrics=[lambda t, p: 1.0, lambda t, p: 2.0])

    def loss(t, p):
        return 0.0

    with pytest.raises(ValueError, match="metric name 'loss' appears as one of fit's own logs"):
        _fit(_mlp(), (x, y), metrics=[loss])


def test_keras_style_schedule_function():
    x, y = _blobs()
    model = _mlp()
    sched = fastnn.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    h = fastnn.fit(model, optim.SGD(model.parameters(), lr=1.0), "cross_entropy", (x, y), epochs=3,
                   callbacks=[sched], progress=False)
    np.testing.assert_allclose(h["lr"], [0.1, 0.05, 0.025])
    with pytest.raises(TypeError, match="a fastnn.optim schedule or a function"):
        fastnn.LearningRateScheduler(0.1)
    bad = fastnn.LearningRateScheduler(lambda epoch, lr: -1.0)
    with pytest.raises(ValueError, match=r"schedule\(0, 1.0\) returned -1.0"):
        fastnn.fit(model, optim.SGD(model.parameters(), lr=1.0), "cross_entropy", (x, y), callbacks=[bad],
                   progress=False)


def test_keras_names_and_modes():
    assert fastnn.EarlyStopping(restore_best_weights=False).restore_best is False
    assert fastnn.EarlyStopping(monitor="val_auc").mode == "max"
    assert fastnn.EarlyStopping(monitor="val_loss").mode == "min"


def test_a_dropping_loader_counts_the_samples_it_gives():
    x, y = _blobs(100)
    _, n = _batches(D.DataLoader((x, y), batch_size=32, drop_last=True), 32)
    assert n == 96
    _, n = _batches(D.DataLoader((x, y), batch_size=32), 32)
    assert n == 100


def test_predict_on_no_samples_keeps_the_output_shape():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 5))
    out = fastnn.predict(model, np.zeros((0, 1, 6, 6), np.float32))
    assert out.shape == (0, 5) and out.dtype == np.float32


def _stop_epoch(values, **kw):
    """The epoch at which EarlyStopping(**kw) stops on this sequence of monitored values (None:
    never), and its best epoch, fed through the hooks as fit calls them."""
    stop = fastnn.EarlyStopping(monitor="val_loss", restore_best=False, **kw)
    stop.set_model(_mlp())
    stop.on_train_begin()
    for epoch, v in enumerate(values):
        stop.on_epoch_end(epoch, {"val_loss": v})
        if stop.stop_training:
            return epoch, stop.best_epoch
    return None, stop.best_epoch


@pytest.mark.parametrize("values, kw, expected", [
    # Keras' traces, worked by hand from keras.callbacks.EarlyStopping.on_epoch_end:
    ([1.0, 0.5, 0.6, 0.7, 0.4], dict(patience=2), (3, 1)),
    # improving epochs that never beat the baseline restart nothing, yet never stop training
    ([0.9, 0.8, 0.7, 0.75, 0.6], dict(patience=2, baseline=0.5), (3, 2)),
    ([0.9, 0.8, 0.4, 0.45, 0.42, 0.41], dict(patience=3, baseline=0.5), (5, 2)),
    # the warm-up epochs are not watched (NaN or large values there change nothing)
    ([float("nan"), 5.0, 1.0, 2.0, 3.0], dict(patience=1, start_from_epoch=2), (3, 2)),
    ([3.0, 2.0, 1.0, 0.5], dict(patience=1, start_from_epoch=10), (None, None)),
])
def test_early_stopping_baseline_and_start_from_epoch_follow_keras(values, kw, expected):
    assert _stop_epoch(values, **kw) == expected


@pytest.mark.parametrize("kw, match", [
    (dict(start_from_epoch=-1), "start_from_epoch must be an int >= 0. Received: start_from_epoch=-1"),
    (dict(start_from_epoch=1.5), "start_from_epoch=1.5"),
    (dict(baseline="low"), "baseline must be a number or None. Received: baseline='low'"),
    (dict(baseline=float("nan")), "baseline=nan"),
    (dict(min_delta=float("inf")), "min_delta must be a finite number. Received: min_delta=inf"),
])
def test_early_stopping_rejects_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        fastnn.EarlyStopping(**kw)


def test_predict_reads_a_list_as_samples_and_a_tuple_pair_as_x_y():
    """A list of two samples was read as an (x, y) pair: the first sample's output alone."""
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    samples = [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]
    want = model.predict(np.array(samples, np.float32))
    assert want.shape == (2, 3)
    np.testing.assert_array_equal(model.predict(samples), want)
    np.testing.assert_array_equal(fastnn.predict(model, samples), want)
    x = np.array(samples * 3, np.float32)
    y = np.arange(6)
    np.testing.assert_array_equal(fastnn.predict(model, (x, y)), fastnn.predict(model, x))  # evaluate's form
    # a list of arrays is a list of batches (documented): outputs concatenated
    np.testing.assert_array_equal(fastnn.predict(model, [x[:4], x[4:]]), fastnn.predict(model, x))


@pytest.mark.parametrize("metric", ["mcc", "cohen_kappa", "balanced_accuracy", "jaccard", "explained_variance",
                                    "d2_absolute_error_score", "r2", "roc_auc", "top_2_accuracy", "accuracy"])
def test_auto_mode_maximises_scores(metric):
    """mode="auto" read a score such as val_mcc as a loss: training stopped while it improved and
    the worst epoch's weights were restored (and ModelCheckpoint kept the worst model)."""
    assert fastnn.EarlyStopping(f"val_{metric}").mode == "max"
    assert fastnn.ModelCheckpoint("m.fnn", monitor=metric).mode == "max"


@pytest.mark.parametrize("metric", ["loss", "val_loss", "mae", "val_rmse", "mean_pinball_loss", "max_error",
                                    "mape", "val_my_error"])
def test_auto_mode_minimises_losses_and_errors(metric):
    assert fastnn.EarlyStopping(metric).mode == "min"


def test_early_stopping_on_mcc_keeps_the_best_epoch():
    x, y = _blobs(200)
    fastnn.manual_seed(0)
    model = _mlp()
    es = fastnn.EarlyStopping("val_mcc", patience=2)
    hist = fastnn.fit(model, "sgd", "cross_entropy", (x, y), val=(x, y), epochs=8, metrics=["mcc"],
                      callbacks=[es], progress=False, seed=0)
    values = hist["val_mcc"]
    assert es.best == max(values) and es.best_epoch == int(np.argmax(values))
    assert fastnn.evaluate(model, (x, y), metrics=["mcc"])["mcc"] == pytest.approx(max(values))


def test_a_one_shot_val_iterator_is_refused_up_front():
    """It validated epoch 1, then epoch 2 ended in "evaluate: no samples" with the history lost."""
    x, y = _blobs()
    model = _mlp()
    val = ((x[i:i + 40], y[i:i + 40]) for i in range(0, 120, 40))
    with pytest.raises(TypeError, match="val is a one-shot iterator"):
        _fit(model, (x, y), val=val, epochs=2)
    val = ((x[i:i + 40], y[i:i + 40]) for i in range(0, 120, 40))
    assert len(_fit(model, (x, y), val=val, epochs=1)["val_loss"]) == 1  # one epoch: fine


def test_keras_model_stop_training_flag_stops_fit():
    x, y = _blobs()

    class StopAfterEpoch(fastnn.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                self.model.stop_training = True

    class StopAfterBatch(fastnn.Callback):
        def on_train_batch_end(self, batch, logs):
            self.batches = getattr(self, "batches", 0) + 1
            if batch == 1:
                self.model.stop_training = True

    model = _mlp()
    assert len(_fit(model, (x, y), epochs=5, callbacks=[StopAfterEpoch()]).epoch) == 2
    cb = StopAfterBatch()
    hist = _fit(model, (x, y), epochs=5, batch_size=16, callbacks=[cb], val=(x, y))
    # Keras: the epoch ends after that batch, still logged and validated; the flag is reset per fit
    assert hist.epoch == [0] and cb.batches == 2 and "val_loss" in hist.history
    assert len(_fit(model, (x, y), epochs=3).epoch) == 3 and model.stop_training is False


def test_history_records_what_callbacks_add_to_the_logs():
    x, y = _blobs()

    class Note(fastnn.Callback):
        def on_epoch_end(self, epoch, logs):
            logs["twice_loss"] = 2 * logs["loss"]
            logs["tag"] = f"epoch{epoch}"

    hist = _fit(_mlp(), (x, y), epochs=2, callbacks=[Note()])
    assert hist["twice_loss"] == [2 * v for v in hist["loss"]] and hist["tag"] == ["epoch0", "epoch1"]
    assert "tag" in repr(hist)


def test_history_plot_refuses_an_unknown_key(tmp_path):
    pytest.importorskip("matplotlib")
    hist = fastnn.History()
    hist.append(0, {"loss": 1.0, "val_loss": 1.1, "accuracy": 0.5})
    with pytest.raises(KeyError, match=r"no recorded quantity 'nope'.*recorded: \['accuracy', 'loss', 'val_loss'\]"):
        hist.plot(keys=["nope"])
    assert len(hist.plot(keys=["loss"]).axes) == 1


def test_float_class_indices_say_to_cast_them():
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match=r"class indices, which must be integers, got float32 \(cast it"):
        nn.CrossEntropyLoss()(logits, np.array([0.0, 1.0, 2.0, 1.0], np.float32))


def test_a_callback_can_keep_a_frozen_block_in_eval_mode():
    """fit set train mode after on_epoch_begin: an .eval() there (the documented way to keep a
    frozen BatchNorm's statistics) was undone."""
    x, y = _blobs()
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    model[:2].freeze()
    stats = model[1].running_mean.copy(), model[1].running_var.copy()
    weights = model[0].weight.data.copy()

    class KeepEval(fastnn.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            model[:2].eval()

    _fit(model, (x, y), epochs=2, callbacks=[KeepEval()])
    np.testing.assert_array_equal(model[1].running_mean, stats[0])
    np.testing.assert_array_equal(model[1].running_var, stats[1])
    np.testing.assert_array_equal(model[0].weight.data, weights)
    assert model[3].training  # the rest trained in train mode
