"""Batch transforms: known results on known images, label alignment, reproducibility."""
import numpy as np
import pytest

from fastnn.data import (Compose, CutMix, Cutout, GaussianNoise, Mixup, Normalize, RandomCrop,
                         RandomErasing, RandomHorizontalFlip, RandomRotation, RandomTranslate,
                         RandomVerticalFlip, one_hot)
from fastnn.data.transforms import rotate


def batch(n=8, c=2, h=5, w=6, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def tagged(n=8, c=1, h=5, w=6):
    """Images whose every pixel encodes its sample index (label alignment checks)."""
    x = np.arange(n, dtype=np.float32)[:, None, None, None] + np.zeros((n, c, h, w), np.float32)
    x += 0.4 + np.arange(h * w, dtype=np.float32).reshape(h, w) / 1000   # and its position
    return x, np.arange(n)


ALL_IMAGE_TRANSFORMS = [
    lambda s: RandomHorizontalFlip(0.5, seed=s),
    lambda s: RandomVerticalFlip(0.5, seed=s),
    lambda s: RandomCrop(4, padding=1, seed=s),
    lambda s: RandomTranslate(2, seed=s),
    lambda s: RandomRotation(15, interpolation="bilinear", seed=s),
    lambda s: RandomRotation(15, seed=s),
    lambda s: GaussianNoise(0.1, clip=False, seed=s),     # tagged images are not in [0, 1]
    lambda s: Cutout(3, seed=s),
    lambda s: RandomErasing(p=0.7, seed=s),
    lambda s: Compose([RandomCrop(5, padding=2, seed=s), RandomHorizontalFlip(seed=s)]),
]


@pytest.mark.parametrize("make", ALL_IMAGE_TRANSFORMS)
def test_reproducible_for_a_seed_and_input_untouched(make):
    x = batch()
    keep = x.copy()
    a1, a2 = make(3), make(3)
    for _ in range(3):                           # same sequence over several batches
        np.testing.assert_array_equal(a1(x), a2(x))
    np.testing.assert_array_equal(x, keep)       # never in place
    outs = [make(s)(x) for s in range(4)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])
    assert outs[0].dtype == x.dtype
    # A per-call generator overrides the transform's own, reproducibly.
    t = make(0)
    np.testing.assert_array_equal(t(x, rng=np.random.default_rng(5)),
                                  make(1)(x, rng=np.random.default_rng(5)))


@pytest.mark.parametrize("make", ALL_IMAGE_TRANSFORMS)
def test_labels_stay_aligned(make):
    x, y = tagged()
    out, y_out = make(1)(x, y)
    assert y_out is y
    # Each output image still comes from the same sample: its dominant integer part.
    for i in range(len(y)):
        vals = np.floor(out[i]).astype(int).ravel()
        vals = vals[(out[i].ravel() != 0)]
        counts = np.bincount(vals[(vals >= 0) & (vals < len(y))], minlength=len(y))
        assert counts.argmax() == y[i]


def test_flips_of_a_known_image():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x)[0, 0], [[2, 1, 0], [5, 4, 3]])
    np.testing.assert_array_equal(RandomVerticalFlip(1.0)(x)[0, 0], [[3, 4, 5], [0, 1, 2]])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)


def test_flip_probability_per_sample():
    x = batch(n=2000, c=1, h=1, w=2)
    out = RandomHorizontalFlip(0.3, seed=0)(x)
    flipped = np.all(out[:, 0, 0] == x[:, 0, 0, ::-1], axis=1)
    assert abs(flipped.mean() - 0.3) < 0.04


def test_crop_of_a_known_image_matches_offsets():
    x = np.arange(32, dtype=np.float32).reshape(2, 1, 4, 4)
    out = RandomCrop(2)(x, rng=np.random.default_rng(7))
    g = np.random.default_rng(7)                 # the same draws: tops, then lefts
    tops, lefts = g.integers(0, 3, size=2), g.integers(0, 3, size=2)
    for i in range(2):
        t, l = tops[i], lefts[i]
        np.testing.assert_array_equal(out[i, 0], x[i, 0, t:t + 2, l:l + 2])


def test_crop_with_padding_covers_all_offsets_and_pads_with_fill():
    x = np.ones((400, 1, 2, 2), np.float32)
    out = RandomCrop(2, padding=1, fill=-1.0, seed=0)(x)
    # 3x3 possible windows of the 4x4 padded image; every one appears.
    patterns = {tuple(o.ravel()) for o in out[:, 0]}
    assert len(patterns) == 9
    assert tuple([1.0, 1.0, 1.0, 1.0]) in patterns
    assert tuple([-1.0, -1.0, -1.0, 1.0]) in patterns     # window at the top-left corner


def test_translate_keeps_size_and_content_shifted():
    x = np.zeros((50, 1, 5, 5), np.float32)
    x[:, 0, 2, 2] = 1.0
    out = RandomTranslate(1, seed=0)(x)
    assert out.shape == x.shape
    pos = {tuple(np.argwhere(o[0])[0]) for o in out}
    assert pos == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    assert np.all(out.sum(axis=(1, 2, 3)) == 1)


def test_crop_reflect_and_edge_modes():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    g = RandomCrop(5, padding=1, padding_mode="edge")(x)
    np.testing.assert_array_equal(g[0, 0], np.pad(x[0, 0], 1, mode="edge"))
    r = RandomCrop(5, padding=1, padding_mode="reflect")(x)
    np.testing.assert_array_equal(r[0, 0], np.pad(x[0, 0], 1, mode="reflect"))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_by_90_degrees_matches_rot90(interpolation):
    x = batch(n=3, c=2, h=5, w=5)
    out = rotate(x, np.full(3, np.pi / 2), interpolation=interpolation)
    # np.rot90 turns counter-clockwise as displayed, as positive angles do here.
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(2, 3)), atol=1e-6)
    out = rotate(x, np.full(3, -np.pi / 2), interpolation=interpolation)
    np.testing.assert_allclose(out, np.rot90(x, -1, axes=(2, 3)), atol=1e-6)


def test_rotation_zero_angle_is_identity_and_small_angle_is_smooth():
    x = batch(n=2, c=1, h=7, w=7)
    np.testing.assert_allclose(RandomRotation(0)(x), x, atol=1e-6)
    # Bilinear: a constant image stays constant inside (only the corners read fill).
    ones = np.ones((1, 1, 9, 9), np.float32)
    out = RandomRotation((10, 10), interpolation="bilinear")(ones)
    np.testing.assert_allclose(out[0, 0, 2:7, 2:7], 1.0, atol=1e-6)
    assert out[0, 0, 0, 0] < 1.0


def test_rotation_default_is_nearest_as_torchvision():
    # torchvision.transforms.v2.RandomRotation's default interpolation is NEAREST: integer
    # images rotate by default, and the default draws the same pixels as "nearest".
    x = batch(n=3, c=2, h=7, w=6)
    np.testing.assert_array_equal(RandomRotation(30, seed=4)(x),
                                  RandomRotation(30, interpolation="nearest", seed=4)(x))
    assert not np.allclose(RandomRotation(30, seed=4)(x), RandomRotation(30, interpolation="bilinear", seed=4)(x))
    img = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    out = RandomRotation((90, 90))(img)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rot90(img, 1, axes=(1, 2)))
    np.testing.assert_array_equal(rotate(x, [0.4, -0.3, 1.0]), rotate(x, [0.4, -0.3, 1.0], interpolation="nearest"))


def test_rotation_bilinear_known_value():
    # One bright pixel at the centre-right of a 3x3 image, rotated by 45 degrees.
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 2] = 1.0
    out = rotate(x, [np.pi / 4], interpolation="bilinear")
    r = np.sqrt(0.5)
    # Output (row 1, col 2) reads the input at (row 1 + r, col 1 + r): weight of the lit
    # pixel (row 1, col 2) is (1 - r) * r.
    assert out[0, 0, 1, 2] == pytest.approx((1 - r) * r, abs=1e-6)
    # Output (row 0, col 2) reads (row 1, col 1 + 2r = 2.414): weight m = 2 - sqrt(2) = 0.586
    # on the lit pixel, the rest beyond the right edge. torchvision blends the fill as
    # m * (sample - fill) + fill with the zero-padded sample m * 1, so fill 0 gives m * m
    # (was m: fastnn used to read fill for the outside neighbour) and fill 1 gives
    # m * (m - 1) + 1.
    m = 2 - np.sqrt(2)
    assert out[0, 0, 0, 2] == pytest.approx(m * m, abs=1e-6)
    with_fill = rotate(x, [np.pi / 4], interpolation="bilinear", fill=1.0)
    assert with_fill[0, 0, 0, 2] == pytest.approx(m * (m - 1) + 1, abs=1e-6)
    # The spot turned counter-clockwise: the output's brightest pixel is up-right.
    assert np.unravel_index(out[0, 0].argmax(), (3, 3)) == (0, 2)


def test_normalize_per_channel():
    x = batch(n=4, c=3)
    out = Normalize([0.1, 0.2, 0.3], [0.5, 1.0, 2.0])(x)
    ref = (x - np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]) / \
        np.array([0.5, 1.0, 2.0], np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(Normalize(0.5, 0.25)(x), (x - 0.5) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match=r"std must be non-zero.*std=\[1.0, 0.0\]"):
        Normalize(0.0, [1.0, 0.0])
    # A negative std is allowed, as in torchvision (it only flips the sign).
    np.testing.assert_allclose(Normalize(0.5, -0.25)(x), (x - 0.5) / -0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="mean has 2 values but x has 3 channels"):
        Normalize([0, 0], 1)(x)
    with pytest.raises(TypeError, match="floating dtype.*uint8"):
        Normalize(0, 1)(x.astype(np.uint8))


def test_gaussian_noise_statistics_and_clip():
    x = np.full((100, 1, 20, 20), 0.5, np.float32)
    out = GaussianNoise(0.1, seed=0)(x)
    assert abs((out - x).std() - 0.1) < 0.005 and abs((out - x).mean()) < 0.005
    clipped = GaussianNoise(1.0, clip=(0, 1), seed=0)(x)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    # torchvision v2's default clip=True clips to [0, 1]; clip=False does not.
    np.testing.assert_array_equal(GaussianNoise(sigma=1.0, seed=0)(x), clipped)
    assert GaussianNoise(sigma=1.0, clip=False, seed=0)(x).max() > 1.0


def test_cutout_square_size_and_fill():
    x = np.ones((200, 1, 10, 10), np.float32)
    out = Cutout(4, fill=0.0, seed=0)(x)
    zeros = (out == 0).sum(axis=(1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4        # 4x4, smaller when clipped (>= 2x2)
    # An interior centre gives exactly one 4x4 block.
    i = int(np.argmax(zeros == 16))
    rows, cols = np.nonzero(out[i, 0] == 0)
    assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3


def test_random_erasing_area_and_probability():
    x = np.ones((400, 1, 16, 16), np.float32)
    out = RandomErasing(p=0.5, scale=(0.1, 0.2), seed=0)(x)
    erased = (out == 0).sum(axis=(1, 2, 3))
    assert abs((erased > 0).mean() - 0.5) < 0.08
    frac = erased[erased > 0] / 256
    assert frac.min() > 0.05 and frac.max() < 0.3


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot(np.array([1]), 2).dtype == np.float32
    with pytest.raises(ValueError, match="class index 3 out of range"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="num_classes=0"):
        one_hot(np.array([0]), 0)


@pytest.mark.parametrize("make", [lambda s: Mixup(0.4, 5, seed=s), lambda s: CutMix(1.0, 5, seed=s)])
def test_mixing_gives_soft_labels_that_sum_to_one(make):
    x = batch(n=16, c=1, h=8, w=8)
    y = np.random.default_rng(0).integers(0, 5, 16)
    xo, yo = make(0)(x, y)
    assert yo.dtype == np.float32 and yo.shape == (16, 5)
    np.testing.assert_allclose(yo.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(yo >= 0)
    assert xo.shape == x.shape and xo.dtype == x.dtype
    # The label keeps weight on the sample's own class.
    assert np.all(yo[np.arange(16), y] > 0)
    xo2, yo2 = make(0)(x, y)
    np.testing.assert_array_equal(xo, xo2)
    np.testing.assert_array_equal(yo, yo2)
    # Soft labels in (already mixed) are accepted and still sum to 1.
    _, yo3 = make(1)(xo, yo)
    np.testing.assert_allclose(yo3.sum(axis=1), 1.0, atol=1e-6)


def test_mixup_image_is_the_label_weighted_mix():
    x = np.stack([np.full((1, 2, 2), float(i), np.float32) for i in range(6)])
    y = np.arange(6)
    xo, yo = Mixup(1.0, 6, seed=4)(x, y)
    # Sample i = lam * i + (1 - lam) * j; its label puts lam on i and 1 - lam on j.
    vals = xo[:, 0, 0, 0]
    np.testing.assert_allclose(vals, yo @ np.arange(6, dtype=np.float32), atol=1e-5)


def test_cutmix_label_weight_is_the_pasted_area():
    x = np.stack([np.full((1, 8, 8), float(i), np.float32) for i in range(6)])
    y = np.arange(6)
    xo, yo = CutMix(1.0, 6, seed=2)(x, y)
    for i in range(6):
        own = np.mean(xo[i, 0] == i)
        if yo[i, i] < 1.0:
            assert own == pytest.approx(yo[i, i], abs=1e-6)


def test_mixing_errors_name_values():
    x = batch()
    with pytest.raises(ValueError, match="alpha=0"):
        Mixup(0, 3)
    with pytest.raises(ValueError, match="num_classes=0"):
        CutMix(1.0, 0)
    with pytest.raises(ValueError, match=r"t\(x, y\)"):
        Mixup(1.0, 3)(x)
    with pytest.raises(ValueError, match="class index 7"):
        Mixup(1.0, 3)(x, np.full(8, 7))


@pytest.mark.parametrize("bad, message", [
    (lambda: RandomHorizontalFlip(1.5), "p=1.5"),
    (lambda: RandomCrop(0), "size=0"),
    (lambda: RandomCrop(3, padding=-1), "padding=-1"),
    (lambda: RandomCrop(3, padding_mode="wrap"), "padding_mode='wrap'"),
    (lambda: RandomRotation(-5), "degrees=-5"),
    (lambda: RandomRotation(5, interpolation="cubic"), "interpolation='cubic'"),
    (lambda: GaussianNoise(-0.1), "std=-0.1"),
    (lambda: Cutout(0), "size=0"),
    (lambda: RandomErasing(scale=(0.5, 0.2)), "scale="),
])
def test_bad_arguments_are_named(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        bad()


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(5, 6\)"):
        RandomHorizontalFlip()(np.zeros((5, 6), np.float32))
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(10)(batch())
    with pytest.raises(TypeError, match="numpy.ndarray"):
        RandomCrop(2)([[1.0]])
