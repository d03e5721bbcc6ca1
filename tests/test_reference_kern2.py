"""The reference's batch norm, dropout, losses and optimizer rules: float64 central differences
for every backward, hand-computed single steps for the optimizers, PyTorch as an optional oracle."""
import math

import numpy as np
import pytest

from fastnn import reference as R
from gradcheck import assert_gradients

# ---------------------------------------------------------------------------------------------
# Batch norm


@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 4, 5), (1, 3, 2, 1), (5, 1)])
def test_batch_norm_training_gradients(shape, rng):
    x = rng.standard_normal(shape) * 2 + 1
    c = shape[1]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)

    def f(x, gamma, beta):  # no running stats: the forward must not depend on earlier calls
        return R.batch_norm_forward(x, gamma, beta, None, None, training=True)[0]

    _, mean, invstd = R.batch_norm_forward(x, gamma, beta, None, None, training=True)
    assert_gradients(f, [x, gamma, beta],
                     lambda dy: R.batch_norm_backward(dy, x, gamma, mean, invstd, training=True),
                     rng=rng, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (1, 2, 1, 1)])
def test_batch_norm_eval_gradients(shape, rng):
    x = rng.standard_normal(shape)
    c = shape[1]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)

    def f(x, gamma, beta):
        return R.batch_norm_forward(x, gamma, beta, rm, rv, training=False)[0]

    _, mean, invstd = R.batch_norm_forward(x, gamma, beta, rm, rv, training=False)
    np.testing.assert_allclose(mean, rm)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(rv + 1e-5))
    assert_gradients(f, [x, gamma, beta],
                     lambda dy: R.batch_norm_backward(dy, x, gamma, mean, invstd, training=False), rng=rng)


def test_batch_norm_training_numbers_and_running_stats():
    # One channel, values 1, 2, 3, 6: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14/3.
    x = np.array([[[[1.0, 2.0]], [[3.0, 6.0]]]]).reshape(2, 1, 1, 2)
    rm, rv = np.array([1.0]), np.array([2.0])
    y, mean, invstd = R.batch_norm_forward(x, np.array([2.0]), np.array([0.5]), rm, rv,
                                           training=True, momentum=0.25, eps=0.5)
    assert mean[0] == 3.0 and invstd[0] == pytest.approx(0.5)  # 1/sqrt(3.5 + 0.5)
    np.testing.assert_allclose(y.reshape(-1), [2 * 0.5 * v + 0.5 for v in (-2, -1, 0, 3)])
    assert rm[0] == pytest.approx(0.75 * 1 + 0.25 * 3)
    assert rv[0] == pytest.approx(0.75 * 2 + 0.25 * 14 / 3)


@pytest.mark.parametrize("shape", [(1, 3), (1, 2, 1, 1), (0, 3)])
def test_batch_norm_training_needs_two_values(shape):
    with pytest.raises(ValueError, match=r"N\*H\*W > 1"):
        R.batch_norm_forward(np.zeros(shape), None, None, None, None, training=True)


def test_batch_norm_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 3, 5, 2))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    bn = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5).double()
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
    rm, rv = np.zeros(3), np.ones(3)
    for training in (True, False):
        bn.train(training)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = bn(tx)
        dy = rng.standard_normal(x.shape)
        ty.backward(torch.from_numpy(dy))
        y, mean, invstd = R.batch_norm_forward(x, gamma, beta, rm, rv, training=training)
        dx, dgamma, dbeta = R.batch_norm_backward(dy, x, gamma, mean, invstd, training=training)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dgamma, bn.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(dbeta, bn.bias.grad.numpy(), rtol=1e-10)
        bn.weight.grad = bn.bias.grad = None


# ---------------------------------------------------------------------------------------------
# Dropout

M64 = (1 << 64) - 1


def _splitmix_bits(seed, i):
    """The RNG written out with Python integers, one element at a time (independent of NumPy)."""
    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)
    return mix((mix(seed) + (i + 1) * 0x9E3779B97F4A7C15) & M64)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**63 + 7, M64])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.77, 1.0])
def test_dropout_mask_definition(seed, p):
    mask = R.dropout_mask((3, 7), p, seed)
    assert mask.dtype == np.uint8 and mask.shape == (3, 7)
    t = math.floor(p * 2**53)
    want = [1 if (_splitmix_bits(seed, i) >> 11) >= t else 0 for i in range(21)]
    np.testing.assert_array_equal(mask.reshape(-1), want)


def test_dropout_mask_known_value():
    # Pinned so the definition cannot drift: splitmix64 from state mix64(0) = 0, i.e. the first
    # output of the standard SplitMix64 generator seeded with 0 is 0xE220A8397B1DCDAF.
    assert _splitmix_bits(0, 0) == 0xE220A8397B1DCDAF
    u = 0xE220A8397B1DCDAF >> 11  # p = u / 2**53 is exact, so t = u: kept (u >= t); t = u + 1: dropped
    assert R.dropout_mask((1,), u / 2**53, 0)[0] == 1
    assert R.dropout_mask((1,), (u + 1) / 2**53, 0)[0] == 0


def test_dropout_mask_statistics():
    mask = R.dropout_mask((400, 500), 0.3, 7)
    assert abs(mask.mean() - 0.7) < 0.005  # 200k draws: std 0.001
    other = R.dropout_mask((400, 500), 0.3, 8)
    assert abs((mask == other).mean() - (0.7**2 + 0.3**2)) < 0.005  # seeds give independent masks
    np.testing.assert_array_equal(mask.reshape(-1)[:1000], R.dropout_mask((1000,), 0.3, 7))  # flat index


def test_dropout_forward_backward(rng):
    x = rng.standard_normal((5, 8))
    y, mask = R.dropout_forward(x, 0.25, 3)
    np.testing.assert_array_equal(mask, R.dropout_mask(x.shape, 0.25, 3))
    np.testing.assert_allclose(y, x * mask / 0.75, rtol=1e-15)
    f = lambda x: R.dropout_forward(x, 0.25, 3)[0]
    assert_gradients(f, [x], lambda dy: [R.dropout_backward(dy, mask, 0.25)], rng=rng)
    y1, m1 = R.dropout_forward(x, 1.0, 3)
    assert not y1.any() and not m1.any()
    assert R.dropout_forward(x, 0.5, 3, training=False) == (x, None)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_dropout_bad_p(bad):
    with pytest.raises(ValueError, match="got"):
        R.dropout_mask((2,), bad, 0)


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_dropout_bad_seed(bad):
    with pytest.raises(ValueError, match=str(bad)):
        R.dropout_mask((2,), 0.5, bad)


# ---------------------------------------------------------------------------------------------
# Losses: f returns the scalar loss, dy is a random scalar, the analytic gradient is dy * grad.


def _loss_check(loss_fn, inputs, grad_indices, rng, **kw):
    n_in = len(inputs)

    def grads(dy):
        out = loss_fn(*inputs)
        gs = [None] * n_in
        for slot, idx in enumerate(grad_indices):
            gs[idx] = dy * out[1 + slot]
        return gs

    assert_gradients(lambda *a: loss_fn(*a)[0], inputs, grads, rng=rng, **kw)


@pytest.mark.parametrize("ls", [0.0, 0.1])
def test_cross_entropy_int_labels_gradient(ls, rng):
    logits = rng.standard_normal((6, 5)) * 3
    target = rng.integers(0, 5, 6)
    _loss_check(lambda z: R.softmax_cross_entropy(z, target, ls), [logits], [0], rng)


@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_soft_labels_gradient(ls, rng):
    logits = rng.standard_normal((4, 7)) * 3
    target = rng.dirichlet(np.ones(7), 4)
    target[0, 2] = 0.0  # zero weights are allowed
    _loss_check(lambda z: R.softmax_cross_entropy(z, target, ls), [logits], [0], rng)
    # soft labels that do not sum to 1: the gradient keeps the softmax * sum(q) term
    target2 = target * 1.7
    _loss_check(lambda z: R.softmax_cross_entropy(z, target2, ls), [logits], [0], rng)


def test_cross_entropy_numbers():
    # logits (0, ln 3): softmax (1/4, 3/4). Label 1: loss -ln(3/4); label smoothing 0.5 over K=2:
    # q = (0.25, 0.75), loss -(0.25 ln 1/4 + 0.75 ln 3/4).
    z = np.array([[0.0, math.log(3)]])
    loss, g = R.softmax_cross_entropy(z, np.array([1]))
    assert loss == pytest.approx(-math.log(0.75))
    np.testing.assert_allclose(g, [[0.25, -0.25]], atol=1e-15)
    loss, g = R.softmax_cross_entropy(z, np.array([1]), 0.5)
    assert loss == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    np.testing.assert_allclose(g, [[0.0, 0.0]], atol=1e-15)


def test_cross_entropy_extreme_logits():
    z = np.array([[1e8, -1e8, 0.0], [-np.inf, 2.0, 1.0], [1e8, 1e8, -np.inf]])
    loss, g = R.softmax_cross_entropy(z, np.array([0, 1, 1]))
    assert np.isfinite(loss) and np.isfinite(g).all()
    want = (0.0 + math.log1p(math.exp(-1.0)) + math.log(2)) / 3  # rows: 0, log(1 + e^-1), log 2
    assert loss == pytest.approx(want)
    soft = np.array([[1.0, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0]])
    loss, g = R.softmax_cross_entropy(z, soft)
    assert np.isfinite(loss) and np.isfinite(g).all()


@pytest.mark.parametrize("labels", [[0, 5, 1], [0, -1, 2]])
def test_cross_entropy_bad_label(labels):
    with pytest.raises(ValueError, match=f"label {[l for l in labels if not 0 <= l < 5][0]} "):
        R.softmax_cross_entropy(np.zeros((3, 5)), np.array(labels))


def test_cross_entropy_torch(rng):
    torch = pytest.importorskip("torch")
    z = rng.standard_normal((8, 6)) * 2
    for target in (rng.integers(0, 6, 8), rng.dirichlet(np.ones(6), 8)):
        for ls in (0.0, 0.15):
            tz = torch.from_numpy(z).requires_grad_(True)
            tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(target), label_smoothing=ls)
            tl.backward()
            loss, g = R.softmax_cross_entropy(z, target, ls)
            assert loss == pytest.approx(tl.item(), rel=1e-12)
            np.testing.assert_allclose(g, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_simple_losses_gradients(rng):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _loss_check(R.mse_loss, [pred, target], [0], rng)
    _loss_check(R.l1_loss, [pred, target], [0], rng)  # |pred - target| > 1e-6 almost surely
    prob = rng.uniform(0.05, 0.95, (3, 4))
    t01 = rng.uniform(0, 1, (3, 4))
    _loss_check(R.bce_loss, [prob, t01], [0], rng)
    logits = rng.standard_normal((3, 4)) * 4
    _loss_check(R.bce_with_logits_loss, [logits, t01], [0], rng)


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_gradients(full, rng):
    mean, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = rng.uniform(0.1, 2.0, (4, 3))
    f = lambda m, t, v: R.gaussian_nll_loss(m, t, v, full=full)
    out = f(mean, target, var)
    assert_gradients(lambda m, t, v: f(m, t, v)[0], [mean, target, var],
                     lambda dy: [dy * out[1], None, dy * out[2]], rng=rng)


def test_losses_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    pred, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    prob = rng.uniform(0, 1, (5, 3))
    prob[0, 0], prob[0, 1] = 0.0, 1.0  # clamped logs
    t01 = rng.uniform(0, 1, (5, 3))
    var = rng.uniform(0, 2, (5, 3))
    var[0, 0] = 1e-9  # below eps: clamped
    cases = [
        (R.mse_loss, F.mse_loss, [pred, target]),
        (R.l1_loss, F.l1_loss, [pred, target]),
        (R.bce_loss, F.binary_cross_entropy, [prob, t01]),
        (R.bce_with_logits_loss, F.binary_cross_entropy_with_logits, [pred * 30, t01]),
    ]
    for ours, theirs, (a, b) in cases:
        ta = torch.from_numpy(a).requires_grad_(True)
        tl = theirs(ta, torch.from_numpy(b))
        tl.backward()
        loss, g = ours(a, b)
        assert loss == pytest.approx(tl.item(), rel=1e-12), ours.__name__
        np.testing.assert_allclose(g, ta.grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=ours.__name__)
    for full in (False, True):
        tm = torch.from_numpy(pred).requires_grad_(True)
        tv = torch.from_numpy(var).requires_grad_(True)
        tl = F.gaussian_nll_loss(tm, torch.from_numpy(target), tv, full=full, eps=1e-6)
        tl.backward()
        loss, dm, dv = R.gaussian_nll_loss(pred, target, var, full=full)
        assert loss == pytest.approx(tl.item(), rel=1e-12)
        np.testing.assert_allclose(dm, tm.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(dv, tv.grad.numpy(), rtol=1e-10)


def test_loss_bad_inputs():
    with pytest.raises(ValueError, match="1.5"):
        R.bce_loss(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="-0.5"):
        R.gaussian_nll_loss(np.zeros(2), np.zeros(2), np.array([1.0, -0.5]))


# ---------------------------------------------------------------------------------------------
# Optimizer rules: one step against numbers worked out by hand, then 50 steps against torch.optim.


def _one(v):
    return np.array([v], dtype=np.float64)


def test_sgd_hand_computed():
    p, buf = _one(1.0), _one(0.0)
    # g = 0.5 + 0.1 * 1 = 0.6; first step: buf = 0.6; param = 1 - 0.1 * 0.6 = 0.94
    R.sgd_update(p, _one(0.5), buf, lr=0.1, momentum=0.9, weight_decay=0.1, first_step=True)
    assert p[0] == pytest.approx(0.94) and buf[0] == pytest.approx(0.6)
    # g = 0.5 + 0.094 = 0.594; buf = 0.9 * 0.6 + 0.5 * 0.594 = 0.837; Nesterov: 0.594 + 0.9 * 0.837
    R.sgd_update(p, _one(0.5), buf, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True, weight_decay=0.1)
    assert buf[0] == pytest.approx(0.837)
    assert p[0] == pytest.approx(0.94 - 0.1 * (0.594 + 0.9 * 0.837))
    p = _one(2.0)
    R.sgd_update(p, _one(-1.0), None, lr=0.5)  # plain SGD: 2 + 0.5
    assert p[0] == 2.5


def test_adagrad_hand_computed():
    p, s = _one(1.0), _one(1.0)
    # step 3, lr_decay 0.5: clr = 0.1 / (1 + 2 * 0.5) = 0.05; g = 3; s = 1 + 9 = 10
    R.adagrad_update(p, _one(3.0), s, step=3, lr=0.1, lr_decay=0.5, eps=0.0)
    assert s[0] == 10.0 and p[0] == pytest.approx(1 - 0.05 * 3 / math.sqrt(10))


def test_adadelta_hand_computed():
    p, sa, ad = _one(1.0), _one(0.0), _one(0.0)
    # rho 0.5: sa = 0.5 * 4 = 2; delta = sqrt(0 + 0.25) / sqrt(2 + 0.25) * 2 = 0.5 / 1.5 * 2 = 2/3
    # ad = 0.5 * 4/9 = 2/9; param = 1 - 1.0 * 2/3
    R.adadelta_update(p, _one(2.0), sa, ad, lr=1.0, rho=0.5, eps=0.25)
    assert sa[0] == 2.0 and ad[0] == pytest.approx(2 / 9) and p[0] == pytest.approx(1 / 3)


def test_rmsprop_hand_computed():
    p, sa, buf, ga = _one(1.0), _one(0.0), _one(0.0), _one(0.0)
    # alpha 0.75, g = 2: sa = 0.25 * 4 = 1; ga = 0.25 * 2 = 0.5; avg = sqrt(1 - 0.25) + 0 = sqrt(0.75)
    # momentum 0.5: buf = 2 / sqrt(0.75); param = 1 - 0.1 * buf
    R.rmsprop_update(p, _one(2.0), sa, buf, ga, lr=0.1, alpha=0.75, eps=0.0, momentum=0.5, centered=True)
    assert sa[0] == 1.0 and ga[0] == 0.5
    assert buf[0] == pytest.approx(2 / math.sqrt(0.75)) and p[0] == pytest.approx(1 - 0.2 / math.sqrt(0.75))
    p, sa = _one(1.0), _one(0.0)
    R.rmsprop_update(p, _one(2.0), sa, lr=0.1, alpha=0.75, eps=0.0)  # avg = 1: param = 1 - 0.2
    assert p[0] == pytest.approx(0.8)


def test_adam_hand_computed():
    p, m, v = _one(1.0), _one(0.0), _one(0.0)
    # first step: m = 0.1 g, v = 0.001 g^2; corrected m = g, v = g^2: param -= lr * g / (|g| + eps)
    R.adam_update(p, _one(0.5), m, v, step=1, lr=0.1, eps=0.0)
    assert m[0] == pytest.approx(0.05) and v[0] == pytest.approx(0.00025) and p[0] == pytest.approx(0.9)
    # AdamW: param *= 1 - 0.1 * 0.5 = 0.95 first, then the same Adam step (grad not decayed)
    p, m, v = _one(1.0), _one(0.0), _one(0.0)
    R.adam_update(p, _one(-0.5), m, v, step=1, lr=0.1, eps=0.0, weight_decay=0.5, decoupled=True)
    assert p[0] == pytest.approx(0.95 + 0.1)
    # Adam with L2: g = -0.5 + 0.5 * 1 = 0: nothing moves
    p, m, v = _one(1.0), _one(0.0), _one(0.0)
    R.adam_update(p, _one(-0.5), m, v, step=1, lr=0.1, eps=1e-8, weight_decay=0.5)
    assert p[0] == 1.0


def test_radam_hand_computed():
    # beta2 = 0.999: rho_inf = 1999; step 1: rho_1 = 1999 - 2 * 0.999 / 0.001 = 1 <= 5, so the
    # update is lr * corrected m = lr * g.
    p, m, v = _one(1.0), _one(0.0), _one(0.0)
    R.radam_update(p, _one(0.5), m, v, step=1, lr=0.1)
    assert p[0] == pytest.approx(0.95)
    # beta2 = 0.5: rho_inf = 3 < 5 never rectifies; beta2 = 0.9, step 10: rho_inf = 19,
    # rho_t = 19 - 20 * 0.9^10 / (1 - 0.9^10) > 5: rectified, with m = v = 0 before the step.
    p, m, v = _one(1.0), _one(0.0), _one(0.0)
    R.radam_update(p, _one(0.5), m, v, step=10, lr=0.1, beta1=0.9, beta2=0.9, eps=0.0)
    b1, b2 = 1 - 0.9**10, 1 - 0.9**10
    rho = 19 - 20 * 0.9**10 / b2
    rect = math.sqrt((rho - 4) * (rho - 2) * 19 / (15 * 17 * rho))
    want = 1 - 0.1 * (0.05 / b1) * rect * math.sqrt(b2) / math.sqrt(0.1 * 0.25)
    assert p[0] == pytest.approx(want)


# name -> (reference function, torch optimizer class name, torch kwargs, our kwargs, slots)
TORCH_CASES = [
    ("sgd", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), {}),
    ("sgd_nesterov", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    ("sgd_plain", "SGD", dict(lr=0.05), {}),
    ("adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, eps=1e-10), {}),
    ("adadelta", "Adadelta", dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.01), {}),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.01), {}),
    ("rmsprop_centered_momentum", "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8, centered=True), {}),
    ("adam", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.01), {}),
    ("adamw", "AdamW", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1), {}),
    ("radam", "RAdam", dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01), {}),
]


def reference_step(name, kwargs, p, g, state, step):
    """Apply our reference rule for a torch-style config; `state` holds the slots."""
    k = dict(kwargs)
    shape = p.shape
    slot = lambda key: state.setdefault(key, np.zeros(shape, dtype=p.dtype))
    if name.startswith("sgd"):
        buf = slot("buf") if k.get("momentum", 0) else None
        R.sgd_update(p, g, buf, first_step=step == 1, **k)
    elif name == "adagrad":
        R.adagrad_update(p, g, slot("sum"), step=step, **k)
    elif name == "adadelta":
        R.adadelta_update(p, g, slot("sa"), slot("ad"), **k)
    elif name.startswith("rmsprop"):
        R.rmsprop_update(p, g, slot("sa"), slot("buf"), slot("ga"), **k)
    else:
        beta1, beta2 = k.pop("betas")
        fn = R.radam_update if name == "radam" else R.adam_update
        if name == "adamw":
            k["decoupled"] = True
        fn(p, g, slot("m"), slot("v"), step=step, beta1=beta1, beta2=beta2, **k)


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_optimizers_match_torch_50_steps(case, rng):
    torch = pytest.importorskip("torch")
    name, cls, kwargs, _ = case
    p0 = rng.standard_normal((4, 5))
    grads = rng.standard_normal((50, 4, 5))
    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = getattr(torch.optim, cls)([tp], foreach=False, **kwargs)
    p, state = p0.copy(), {}
    for step in range(1, 51):
        g = grads[step - 1] + 0.1 * p  # a gradient that depends on the parameter, as in training
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        reference_step(name, kwargs, p, g, state, step)
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-10, atol=1e-12)
