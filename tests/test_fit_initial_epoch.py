"""fit(initial_epoch=): Keras resume semantics."""
import numpy as np
import pytest


def test_initial_epoch_resumes_as_keras():
    """fit(epochs=4) equals fit(epochs=2) then fit(epochs=4, initial_epoch=2) with the same
    optimizer: the History and the callbacks see epochs 2 and 3; initial_epoch >= epochs runs
    nothing."""
    import fastnn
    from fastnn import nn, optim

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def build():
        fastnn.manual_seed(3)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
        return model, optim.Adam(model.parameters(), lr=0.01)

    whole, opt = build()
    fastnn.fit(whole, opt, "cross_entropy", (x, y), epochs=4, batch_size=16, progress=False, seed=0)
    resumed, opt2 = build()
    first = fastnn.fit(resumed, opt2, "cross_entropy", (x, y), epochs=2, batch_size=16, progress=False, seed=0)
    seen = []

    class Record(fastnn.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    second = fastnn.fit(resumed, opt2, "cross_entropy", (x, y), epochs=4, batch_size=16, progress=False,
                        callbacks=[Record()], initial_epoch=2)
    assert first.epoch == [0, 1] and second.epoch == [2, 3] and seen == [2, 3]
    for a, b in zip(whole.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert fastnn.fit(resumed, opt2, "cross_entropy", (x, y), epochs=4, progress=False, initial_epoch=4).epoch == []
    with pytest.raises(ValueError, match="initial_epoch must be an int >= 0. Received: initial_epoch=-1"):
        fastnn.fit(resumed, opt2, "cross_entropy", (x, y), epochs=4, progress=False, initial_epoch=-1)
