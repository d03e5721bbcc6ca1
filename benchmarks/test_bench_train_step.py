"""One training step (forward, cross-entropy, backward, Adam) of the Fashion-MNIST models:
fastnn vs PyTorch, same weights, same batch, same thread count.

Run: pytest benchmarks/test_bench_train_step.py --benchmark-enable --benchmark-group-by=group
"""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim

def _mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10),
    )


def _torch_twin(torch, model):
    """The same architecture in PyTorch with fastnn's initial weights copied in."""
    tnn = torch.nn
    layers = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            t = tnn.Linear(layer.in_features, layer.out_features)
        elif isinstance(layer, nn.Conv2d):
            t = tnn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                           bias=layer.bias is not None)
        elif isinstance(layer, nn.BatchNorm2d):
            t = tnn.BatchNorm2d(layer.num_features)
        elif isinstance(layer, nn.MaxPool2d):
            t = tnn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        else:
            t = {nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten}.get(type(layer), None)
            t = t() if t is not None else tnn.Dropout(layer.p)
        for name, p in layer._parameters.items():
            getattr(t, name).data = torch.from_numpy(p.data.copy())
        layers.append(t)
    return tnn.Sequential(*layers)


MODELS = {"mlp 784-256-10 batch 128": (_mlp, (128, 1, 28, 28)),
          "cnn fashion batch 64": (_cnn, (64, 1, 28, 28))}


@pytest.fixture(params=list(MODELS))
def case(request, rng):
    build, shape = MODELS[request.param]
    fastnn.manual_seed(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, shape[0])
    return request.param, build(), x, y


def test_fastnn(benchmark, case):
    name, model, x, y = case
    benchmark.group = f"train step {name}"
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        value = loss(model(x), y)
        model.backward(loss.backward())
        opt.step()
        return value

    assert np.isfinite(benchmark(step))


def test_torch(benchmark, case, torch):
    name, model, x, y = case
    benchmark.group = f"train step {name}"
    twin = _torch_twin(torch, model)
    model.eval()
    twin.eval()  # same weights, no dropout: the two forward passes must agree
    np.testing.assert_allclose(twin(torch.from_numpy(x)).detach().numpy(), model(x), rtol=1e-4, atol=1e-4)
    twin.train()
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    loss = torch.nn.CrossEntropyLoss()
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        value = loss(twin(tx), ty)
        value.backward()
        opt.step()
        return value.item()

    assert np.isfinite(benchmark(step))
