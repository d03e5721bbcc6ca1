"""Sequential, Residual and Concat: composition of forward/backward, gradient checks, and a
residual CNN and an Inception-style Concat block that train."""
import numpy as np
import pytest

import fastnn
from fastnn import nn
from nn_helpers import check_module_gradients

CNN_OPS = ("conv2d_forward", "conv2d_backward", "batch_norm_forward", "batch_norm_backward",
           "global_avg_pool2d_forward", "global_avg_pool2d_backward")


def test_sequential_gradients(rng):
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3), nn.Sigmoid())
    check_module_gradients(model, rng.standard_normal((3, 4)))


def test_sequential_list_indexing_append():
    layers = [nn.Linear(2, 3), nn.ReLU()]
    model = nn.Sequential(layers)
    assert len(model) == 2 and model[1] is layers[1] and list(model) == layers
    model.append(nn.Linear(3, 1))
    assert len(model) == 3 and isinstance(model[:2], nn.Sequential)
    with pytest.raises(TypeError, match="Received: layer=3"):
        nn.Sequential(3)


def test_residual_identity_and_shortcut(rng):
    block = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    res = nn.Residual(block).double()
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(res(x), block(x) + x, rtol=1e-15)
    check_module_gradients(nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh())), x)
    check_module_gradients(nn.Residual(nn.Linear(4, 3), shortcut=nn.Linear(4, 3, bias=False)), x)
    with pytest.raises(ValueError, match="shortcut"):
        nn.Residual(nn.Linear(4, 3)).double()(x)


def test_concat_gradients(rng):
    model = nn.Concat(nn.Linear(4, 2), nn.Sequential(nn.Linear(4, 3), nn.Tanh()), nn.Sigmoid())
    y = model.double()(rng.standard_normal((3, 4)))
    assert y.shape == (3, 9)
    check_module_gradients(model, rng.standard_normal((3, 4)))
    with pytest.raises(ValueError, match="at least one branch"):
        nn.Concat()


def _residual_cnn():
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))
    down = nn.Residual(nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU()),
                       shortcut=nn.Conv2d(4, 6, 1, stride=2))
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Residual(block), nn.ReLU(), down,
                         nn.GlobalAvgPool2d(), nn.Linear(6, 3))


def _inception():
    block = nn.Concat(
        nn.Conv2d(2, 2, 1),
        nn.Sequential(nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 3, 3, padding=1)),
        nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(2, 1, 1)),
    )
    return nn.Sequential(block, nn.ReLU(), nn.GlobalAvgPool2d(), nn.Linear(6, 3))


def test_residual_cnn_gradients(rng):
    fastnn.manual_seed(0)
    check_module_gradients(_residual_cnn(), rng.standard_normal((2, 1, 6, 6)))


def test_inception_block_gradients(rng):
    fastnn.manual_seed(0)
    check_module_gradients(_inception(), rng.standard_normal((2, 2, 5, 5)))


def _toy_images(rng, n=96):
    """Three classes of 8x8 images: a bright row band, a bright column band, or a bright corner."""
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32) * 0.5
    x[y == 0, 0, 3:5, :] += 2
    x[y == 1, 0, :, 3:5] += 2
    x[y == 2, 0, :3, :3] += 2
    return x, y


@pytest.mark.parametrize("build, channels", [(_residual_cnn, 1), (_inception, 2)], ids=["residual", "inception"])
def test_cnn_blocks_train(rng, build, channels):
    fastnn.manual_seed(0)
    model = build()
    x, y = _toy_images(rng)
    x = np.repeat(x, channels, axis=1)
    opt = fastnn.optim.Adam(model.parameters(), lr=0.02)
    loss = nn.CrossEntropyLoss()
    losses = []
    for _ in range(40):
        opt.zero_grad()
        losses.append(loss(model(x), y))
        model.backward(loss.backward())
        opt.step()
    assert losses[-1] < 0.6 * losses[0], losses


def test_backward_without_input_gradient_gives_the_same_parameter_gradients(rng):
    """fit asks for need_dx=False: the parameter gradients must not change, dx is None."""
    for build, x in [(lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)),
                      rng.standard_normal((4, 3, 2, 2))),
                     (_residual_cnn, rng.standard_normal((2, 1, 6, 6)))]:
        fastnn.manual_seed(0)
        model = build().double()
        dy = rng.standard_normal(model(x).shape)
        model.zero_grad()
        model(x)
        dx = model.backward(dy)
        full = [p.grad.copy() for p in model.parameters()]
        model.zero_grad()
        model(x)
        assert model.backward(dy, need_dx=False) is None
        for a, b in zip(full, model.parameters()):
            np.testing.assert_array_equal(a, b.grad)
        assert dx.shape == x.shape


def _torch_twin(torch, model):
    """The same architecture in torch (shared modules shared), weights copied."""
    tnn = torch.nn
    made = {}

    def twin(m):
        if id(m) in made:
            return made[id(m)]
        if isinstance(m, nn.Sequential):
            t = tnn.Sequential(*[twin(c) for c in m])
        elif isinstance(m, nn.Linear):
            t = tnn.Linear(m.in_features, m.out_features).double()
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.data))
                t.bias.copy_(torch.from_numpy(m.bias.data))
        elif isinstance(m, nn.Conv2d):
            t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding).double()
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(m.weight.data))
                t.bias.copy_(torch.from_numpy(m.bias.data))
        elif isinstance(m, nn.BatchNorm2d):
            t = tnn.BatchNorm2d(m.num_features).double()
        else:
            t = {nn.Tanh: tnn.Tanh, nn.ReLU: tnn.ReLU, nn.Sigmoid: tnn.Sigmoid, nn.MaxPool2d: lambda: tnn.MaxPool2d(2),
                 nn.Dropout: lambda: tnn.Dropout(0.0)}[type(m)]()
        made[id(m)] = t
        return t

    return twin(model)


@pytest.mark.parametrize("build", [
    # one Linear used twice (shared weights), one activation object reused everywhere
    lambda: (lambda lin, act: nn.Sequential(lin, act, lin, act, nn.Linear(3, 2)))(nn.Linear(3, 3), nn.Tanh()),
    # a shared block (a Sequential) at two places, with a BatchNorm inside: running stats move twice
    lambda: (lambda blk: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), blk, blk, nn.MaxPool2d(2)))(
        nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())),
    # ReLU shared between top level and a nested Sequential, ReLU then MaxPool (a fused pair unshared)
    lambda: (lambda r: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), r, nn.Sequential(nn.Conv2d(3, 3, 1), r),
                                     nn.MaxPool2d(2)))(nn.ReLU()),
])
def test_shared_layers_train_as_in_torch(build, rng):
    """A layer used at several places (shared weights, or one activation object reused) trains as
    in PyTorch: each use's backward gets that use's input; shared gradients add up."""
    torch = pytest.importorskip("torch")
    model = build().double()
    tmodel = _torch_twin(torch, model)
    shape = (4, 3) if isinstance(model[0], nn.Linear) else (2, 2, 4, 4)
    x = rng.standard_normal(shape)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = tmodel(tx)
    y = model(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(model.backward(dy), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    params = model.parameters()
    tparams = list(tmodel.parameters())
    assert len(params) == len(tparams)  # a shared parameter is listed once, as torch's
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-9, atol=1e-12)
    for (name, b), (tname, tb) in zip(model.named_buffers(), tmodel.named_buffers()):
        if b.dtype.kind == "f":
            np.testing.assert_allclose(b, tb.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    # and it trains through fit
    fastnn.fit(model, fastnn.optim.SGD(model.parameters(), lr=0.01), "mse",
               train=(x, rng.standard_normal(y.shape)), epochs=2, batch_size=2, progress=False)
    check_module_gradients(build().double(), x)


def test_shared_branches_of_residual_and_concat(rng):
    lin = nn.Linear(3, 3)
    for model in (nn.Residual(nn.Sequential(lin, nn.Tanh()), shortcut=lin), nn.Residual(lin, shortcut=lin),
                  nn.Sequential(nn.Concat(lin, nn.Sequential(lin, nn.Tanh())), nn.Linear(6, 2))):
        check_module_gradients(model.double(), rng.standard_normal((4, 3)))


def test_module_list_repr_groups_repeats_as_torch():
    torch = pytest.importorskip("torch")
    for build in (lambda m: m.ModuleList([m.Linear(2, 2) for _ in range(3)]),
                  lambda m: m.ModuleList([m.Linear(2, 2), m.ReLU(), m.ReLU(), m.Linear(2, 3)]),
                  lambda m: m.ModuleList()):
        assert repr(build(nn)) == repr(build(torch.nn))


def test_backward_without_dx_skips_a_frozen_base_entirely():
    """fit's backward (need_dx=False) stopped at the first layer with parameters, frozen or not:
    a frozen base of transfer learning ran its whole backward (its weight gradients included)
    for gradients nothing reads. The trainable head's gradients are unchanged."""
    rng = np.random.default_rng(0)
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 8), nn.ReLU(), nn.Linear(8, 3))
    x = rng.standard_normal((5, 1, 6, 6)).astype(np.float32)
    dy = rng.standard_normal((5, 3)).astype(np.float32)
    model(x)
    model.backward(dy, need_dx=False)
    want = {name: p.grad.copy() for name, p in model.named_parameters() if name.startswith(("5.", "7."))}
    model.zero_grad()
    model[:4].freeze()
    model(x)
    assert model.backward(dy, need_dx=False) is None
    assert not any(p.has_grad for p in model[:4].parameters())
    for name, p in model.named_parameters():
        if name in want:
            np.testing.assert_array_equal(p.grad, want[name])
    model[:4].unfreeze()
    model.zero_grad()
    model(x)
    model.backward(dy, need_dx=False)
    assert all(p.has_grad for p in model[:4].parameters())


def test_a_frozen_layer_keeps_no_gradient_even_where_its_backward_runs():
    """A frozen layer between trainable ones (or any frozen layer when dx is asked for) runs its
    backward for the input gradient; its parameter gradients used to accumulate there, where
    torch leaves the grad of a parameter without requires_grad None. Now they stay unset (zeros),
    and the other layers' gradients and dx are unchanged."""
    rng = np.random.default_rng(1)
    fastnn.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(),
                          nn.Linear(4, 3))
    x = rng.standard_normal((7, 6)).astype(np.float32)
    dy = rng.standard_normal((7, 3)).astype(np.float32)
    model(x)
    want_dx = model.backward(dy)
    want = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    model[2].freeze()
    model[3].freeze()
    for _ in range(2):  # a second backward without zero_grad would accumulate
        model(x)
        np.testing.assert_array_equal(model.backward(dy), want_dx)
    for name, p in model.named_parameters():
        if name.startswith(("2.", "3.")):
            assert not p.has_grad and not p.grad.any(), name
        else:
            np.testing.assert_allclose(p.grad, 2 * want[name], rtol=1e-6, atol=1e-7)
    model[2].unfreeze()
    model.zero_grad()
    model(x)
    model.backward(dy)
    np.testing.assert_array_equal(model[2].weight.grad, want["2.weight"])
