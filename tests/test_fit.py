"""fit / evaluate / predict, the Keras-style compile API, callbacks, History and progress."""
import sys

import numpy as np
import pytest

import fastnn
from fastnn import nn, optim


def _blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0, 3], [3, -2], [-3, -2]], dtype=np.float32)
    y = rng.integers(0, 3, n)
    x = centers[y] + rng.standard_normal((n, 2)).astype(np.float32)
    return x, y


def _mlp(dropout=0.0):
    layers = [nn.Linear(2, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


def test_fit_learns_and_records_history():
    fastnn.manual_seed(0)
    x, y = _blobs()
    xv, yv = _blobs(100, seed=1)
    model = _mlp()
    hist = fastnn.fit(model, optim.Adam(model.parameters(), lr=0.05), nn.CrossEntropyLoss(), train=(x, y),
                      val=(xv, yv), epochs=8, batch_size=32, metrics=["accuracy"], progress=False)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist.epoch == list(range(8)) and len(hist["loss"]) == 8
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["val_accuracy"][-1] > 0.9
    result = fastnn.evaluate(model, (xv, yv), loss="cross_entropy", metrics=["accuracy"])
    assert abs(result["accuracy"] - hist["val_accuracy"][-1]) < 1e-12
    assert abs(result["loss"] - hist["val_loss"][-1]) < 1e-6


def test_fit_is_reproducible_with_a_seed():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        fastnn.manual_seed(1)
        model = _mlp(dropout=0.3)
        hist = fastnn.fit(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), "cross_entropy",
                          train=(x, y), epochs=2, seed=5, progress=False)
        runs.append((hist["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


def test_fit_accepts_an_iterable_of_batches():
    x, y = _blobs(64)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    model = _mlp()
    hist = fastnn.fit(model, "sgd", "cross_entropy", train=batches, val=batches, epochs=2, progress=False)
    assert len(hist["loss"]) == 2 and "val_accuracy" in hist.history
    with pytest.raises(TypeError, match="one-shot iterator"):
        fastnn.fit(model, "sgd", "cross_entropy", train=iter(batches), epochs=2, progress=False)


class _BatchSizes(nn.Module):
    """Identity layer that records the batch sizes it sees in training."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        if self.training:
            self.sizes.append(x.shape[0])
        return x

    def backward(self, dy):
        return dy


def _bn_mlp():
    sizes = _BatchSizes()
    return nn.Sequential(sizes, nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3)), sizes


def test_drop_last_skips_the_single_sample_batch_batchnorm_cannot_normalise():
    fastnn.manual_seed(0)
    x, y = _blobs(65)  # batches of 32, 32 and 1
    model, _ = _bn_mlp()
    with pytest.raises(ValueError, match=r"batch of one sample cannot be normalised.*drop_last=True"):
        fastnn.fit(model, "adam", "cross_entropy", train=(x, y), epochs=1, batch_size=32, progress=False)

    model, sizes = _bn_mlp()
    hist = fastnn.fit(model, optim.Adam(model.parameters(), lr=0.05), "cross_entropy", train=(x, y), epochs=5,
                      batch_size=32, drop_last=True, progress=False)
    assert sizes.sizes == [32, 32] * 5  # the last sample of each (shuffled) epoch sits out
    assert hist["loss"][-1] < hist["loss"][0] and np.isfinite(hist["loss"]).all()

    model, sizes = _bn_mlp()  # the Keras-style fit forwards it
    model.compile("adam", "cross_entropy").fit(x, y, batch_size=32, drop_last=True, shuffle=False, progress=False)
    assert sizes.sizes == [32, 32]


def test_drop_last_errors():
    x, y = _blobs(20)
    with pytest.raises(ValueError, match="drop_last=True drops every batch of fewer than batch_size=32"):
        fastnn.fit(_mlp(), "sgd", "cross_entropy", train=(x, y), batch_size=32, drop_last=True, progress=False)
    # A loader decides its own batches: fit cannot drop them, so it says so instead of ignoring it.
    with pytest.raises(ValueError, match=r"DataLoader\(\.\.\., drop_last=True\)"):
        fastnn.fit(_mlp(), "sgd", "cross_entropy", train=[(x, y)], drop_last=True, progress=False)


def test_keras_style_compile_fit_evaluate_predict():
    fastnn.manual_seed(2)
    x, y = _blobs()
    model = _mlp()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model._compiled["optimizer"], optim.Adam) and model._compiled["optimizer"].lr == 1e-3
    assert isinstance(model._compiled["loss"], nn.CrossEntropyLoss)
    model.compile(optimizer=optim.Adam(model.parameters(), lr=0.05), loss="cross_entropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=32, epochs=3, validation_data=(x, y), progress=False)
    assert hist["loss"][-1] < hist["loss"][0]
    result = model.evaluate(x, y)
    assert set(result) == {"loss", "accuracy"} and result["accuracy"] > 0.8
    pred = model.predict(x, batch_size=7)
    assert pred.shape == (300, 3) and model.training  # predict restores the mode
    np.testing.assert_allclose(pred, model.eval()(x), rtol=1e-6, atol=1e-6)


def test_string_validation():
    model = _mlp()
    with pytest.raises(ValueError, match="Received: optimizer='adamm'"):
        model.compile(optimizer="adamm")
    with pytest.raises(ValueError, match="Received: loss='hinge'"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        fastnn.fit(model, "sgd", "mse", train=(np.zeros((4, 2)), np.zeros((4, 3))), batch_size=0)
    with pytest.raises(ValueError, match="Received: metric='f7'"):
        fastnn.fit(model, "sgd", "mse", train=(np.zeros((4, 2)), np.zeros((4, 3))), metrics=["f7"])
    with pytest.raises(ValueError, match="4 samples but y has 3"):
        fastnn.fit(model, "sgd", "mse", train=(np.zeros((4, 2)), np.zeros((3, 3))), progress=False)


def test_non_finite_loss_stops_with_a_clear_error():
    model = nn.Sequential(nn.Linear(2, 1))
    x = np.array([[np.nan, 1.0]], np.float32)
    with pytest.raises(FloatingPointError, match="loss became"):
        fastnn.fit(model, optim.SGD(model.parameters(), lr=1.0), "mse", train=(x, np.zeros((1, 1))),
                   epochs=3, metrics=[], progress=False)


def test_early_stopping_restores_the_best_weights():
    model = _mlp()
    stop = fastnn.EarlyStopping(monitor="val_loss", patience=2)
    stop.set_model(model)
    stop.on_train_begin()
    weights = []
    for epoch, value in enumerate([1.0, 0.8, 0.9, 0.95, 0.5]):
        model[0].weight.data[...] = epoch
        weights.append(epoch)
        stop.on_epoch_end(epoch, {"val_loss": value})
        if stop.stop_training:
            break
    assert stop.stopped_epoch == 3 and stop.best_epoch == 1
    stop.on_train_end()
    assert np.all(model[0].weight.data == 1)
    with pytest.raises(ValueError, match="val_acc"):
        stop2 = fastnn.EarlyStopping(monitor="val_acc")
        stop2.set_model(model)
        stop2.on_epoch_end(0, {"loss": 1.0})
    assert fastnn.EarlyStopping(monitor="val_accuracy").mode == "max"


def test_early_stopping_in_fit():
    x, y = _blobs(64)
    model = _mlp()
    # min_delta so large that nothing after the first epoch counts as an improvement
    hist = fastnn.fit(model, "sgd", "cross_entropy", train=(x, y), epochs=20, progress=False,
                      callbacks=[fastnn.EarlyStopping(monitor="loss", patience=2, min_delta=1e9)])
    assert len(hist["loss"]) == 3


def test_model_checkpoint_and_lr_schedule(tmp_path):
    x, y = _blobs(64)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ckpt = fastnn.ModelCheckpoint(tmp_path / "m-{epoch:02d}.fnn", monitor="loss")
    best = fastnn.ModelCheckpoint(tmp_path / "best.fnn", monitor="loss", save_best_only=True)
    sched = fastnn.LearningRateScheduler(optim.StepLR(opt, step_size=1, gamma=0.5))
    hist = fastnn.fit(model, opt, "cross_entropy", train=(x, y), epochs=3, progress=False,
                      callbacks=[ckpt, best, sched])
    assert hist["lr"] == [0.1, 0.05, 0.025]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.fnn", "m-01.fnn", "m-02.fnn", "m-03.fnn"]
    loaded = fastnn.load(tmp_path / "m-03.fnn")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_history_plot(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    hist = fastnn.History()
    for e in range(3):
        hist.append(e, {"loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1), "accuracy": 0.5 + 0.1 * e, "lr": 0.1})
    fig = hist.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert len(fig.axes) == 2  # loss and accuracy panels; lr is not plotted
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        hist.plot(tmp_path / "again.png")


def test_history_plot_formats_and_destinations(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnn.training import plot_destination

    hist = fastnn.History()
    for e in range(2):
        hist.append(e, {"loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1)})
    assert plot_destination("curves") == ("curves.png", "png")  # matplotlib's rule: PNG, extension added
    assert plot_destination(tmp_path / "C.SVG") == (str(tmp_path / "C.SVG"), "svg")
    hist.plot(tmp_path / "C.SVG")
    assert (tmp_path / "C.SVG").read_text().lstrip().startswith("<?xml")
    hist.plot(tmp_path / "noext")
    assert (tmp_path / "noext.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"curves\.bmp.*writes no 'bmp' files.*supported: .*png"):
        hist.plot(tmp_path / "curves.bmp")
    with pytest.raises(IsADirectoryError) as e:  # not tmp_path + ".png" beside the directory
        hist.plot(tmp_path)
    assert e.value.filename == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        hist.plot(tmp_path / "missing" / "c.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C.SVG", "noext.png"]
    assert not (tmp_path.parent / f"{tmp_path.name}.png").exists()


def test_progress_is_quiet_off_a_terminal_and_a_bar_on_one(capsys, monkeypatch):
    x, y = _blobs(64)
    model = _mlp()
    fastnn.fit(model, "sgd", "cross_entropy", train=(x, y), epochs=2)
    assert capsys.readouterr().out == ""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    fastnn.fit(model, "sgd", "cross_entropy", train=(x, y), epochs=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss=" in out and "sample/s" in out
    fastnn.fit(model, "sgd", "cross_entropy", train=(x, y), epochs=1, progress=False)
    assert capsys.readouterr().out == ""


def test_freeze_for_transfer_learning():
    fastnn.manual_seed(3)
    x, y = _blobs(64)
    model = _mlp()
    model[0].freeze()
    frozen = model[0].weight.data.copy(), model[0].bias.data.copy()
    head = model[2].weight.data.copy()
    fastnn.fit(model, optim.Adam(model.parameters(), lr=0.01), "cross_entropy", train=(x, y), epochs=2,
               progress=False)
    np.testing.assert_array_equal(model[0].weight.data, frozen[0])
    np.testing.assert_array_equal(model[0].bias.data, frozen[1])
    assert not np.array_equal(model[2].weight.data, head)
    model.unfreeze()
    fastnn.fit(model, optim.Adam(model.parameters(), lr=0.01), "cross_entropy", train=(x, y), epochs=1,
               progress=False)
    assert not np.array_equal(model[0].weight.data, frozen[0])


def test_predict_proba_is_softmax_of_logits_and_ensembles_average_it():
    from fastnn.data import Ensemble

    fastnn.manual_seed(3)
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    a = nn.Sequential(nn.Linear(4, 3))
    b = nn.Sequential(nn.Linear(4, 3), nn.Softmax())
    pa = a.predict_proba(x)
    np.testing.assert_allclose(pa, fastnn.reference.softmax(a.predict(x).astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(pa.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(b.predict_proba(x), b.predict(x))  # already probabilities
    both = Ensemble([a, b]).predict(x)
    np.testing.assert_allclose(both, (pa + b.predict(x)) / 2, rtol=1e-6)


@pytest.mark.parametrize("name, cls", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"),
                                       ("adagrad", "Adagrad"), ("adadelta", "Adadelta"), ("radam", "RAdam"),
                                       ("nadam", "NAdam"), ("adamax", "Adamax"), ("rprop", "Rprop"),
                                       ("ASGD", "ASGD"), ("adafactor", "Adafactor")])
def test_compile_takes_every_optimizer_by_name(name, cls):
    model = nn.Sequential(nn.Linear(3, 2))
    model.compile(optimizer=name)
    opt = model._compiled["optimizer"]
    assert type(opt) is getattr(optim, cls)
    assert [id(p) for p in opt._all_params()] == [id(p) for p in model.parameters()]


@pytest.mark.parametrize("shuffle", [False, True])
def test_in_place_layers_never_write_the_callers_data(shuffle, rng):
    """A layer with inplace=True overwrites the array it is given; fit, predict and evaluate
    pass batches that may be views of the caller's data (shuffle=False, predict, evaluate, and
    Flatten's view of them), so they hand the model copies: the data stays as it was."""
    x = rng.standard_normal((40, 1, 2, 3)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    before = x.copy()
    for first in (nn.ReLU(inplace=True), nn.Flatten()):
        model = nn.Sequential(first, nn.Flatten(), nn.LeakyReLU(0.1, inplace=True), nn.Linear(6, 3))
        fastnn.fit(model, optim.SGD(model.parameters(), lr=0.1), "cross_entropy", (x, y), epochs=1, batch_size=8,
            shuffle=shuffle, progress=False)
        fastnn.predict(model, x, batch_size=16)
        fastnn.evaluate(model, (x, y), "cross_entropy", batch_size=16)
        np.testing.assert_array_equal(x, before)
    # the layers do write in place when called directly, as PyTorch's
    direct = x.reshape(40, 6).copy()
    assert nn.LeakyReLU(0.1, inplace=True)(direct) is direct
    assert (direct < 0).any() and not np.array_equal(direct, before.reshape(40, 6))


@pytest.mark.parametrize("patience", [0, 1])
@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_never_stops_at_epoch_zero_as_keras(patience, restore):
    """Keras' on_epoch_end stops only when ``epoch > 0``; a NaN first value used to stop here at
    once. Keras also keeps the first monitored epoch's weights when none improves."""
    model = nn.Linear(2, 2)
    es = fastnn.EarlyStopping(patience=patience, restore_best=restore)
    es.set_model(model)
    es.on_train_begin()
    stopped = None
    for epoch, v in enumerate([float("nan"), 1.0, 0.9, 0.95, 0.96, 0.97]):
        es.on_epoch_end(epoch, {"val_loss": v})
        if es.stop_training:
            stopped = epoch
            break
    assert stopped == 3 and es.best == 0.9 and es.best_epoch == 2
    # all NaN: training goes on past epoch 0; the weights restored are the first epoch's
    es.on_train_begin()
    first = model.weight.data.copy()
    es.on_epoch_end(0, {"val_loss": float("nan")})
    assert not es.stop_training
    model.weight.data[...] += 1.0
    es.on_epoch_end(1, {"val_loss": float("nan")})
    assert es.stop_training and es.stopped_epoch == 1
    es.on_train_end()
    np.testing.assert_array_equal(model.weight.data, first if restore else first + 1.0)


def test_fit_passes_a_closure_to_lbfgs_as_a_pytorch_loop_does():
    """fit with LBFGS: each batch is step(closure), the closure zeroing, forward, loss, backward;
    the same parameters and per-batch losses as that loop written by hand."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3 + 0.01 * rng.standard_normal((48, 1))

    def make():
        fastnn.manual_seed(0)
        model = nn.Linear(3, 1).to(dtype=np.float64)
        return model, optim.LBFGS(model.parameters(), lr=1, max_iter=5, line_search_fn="strong_wolfe")

    model, opt = make()
    history = fastnn.fit(model, opt, "mse", (x, y), epochs=2, batch_size=16, shuffle=False, progress=False)
    ref, ref_opt = make()
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(2):
        epoch = []
        for i in range(0, 48, 16):
            def closure():
                ref_opt.zero_grad()
                value = loss_fn(ref(x[i:i + 16]), y[i:i + 16])
                ref.backward(loss_fn.backward())
                return value
            epoch.append(ref_opt.step(closure))
        losses.append(np.mean(epoch))
    np.testing.assert_array_equal(model.weight.data, ref.weight.data)
    np.testing.assert_array_equal(model.bias.data, ref.bias.data)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-12)
    assert history.history["loss"][1] < 1e-2 < history.history["loss"][0]
