"""fastnn.data.transforms against torchvision.transforms.v2's documented rules.

torchvision is not importable here, so expected values are derived by hand (small arange
images) or restated from torchvision's algorithm with NumPy / torch primitives
(``torch.nn.functional.grid_sample`` for rotation). fastnn draws per image where torchvision
draws per call; a single (C, H, W) image gets the draws of the first image of a batch.
"""
import math

import numpy as np
import pytest

from fastnn.data import (Cutout, CutMix, GaussianNoise, Mixup, Normalize, RandomCrop,
                         RandomErasing, RandomHorizontalFlip, RandomRotation, RandomTranslate,
                         RandomVerticalFlip, one_hot)
from fastnn.data.transforms import rotate


def arange_image(c=1, h=2, w=3):
    return np.arange(c * h * w, dtype=np.float32).reshape(c, h, w)


# --- (C, H, W) and (N, C, H, W) everywhere ---------------------------------------------------

SINGLE_OR_BATCH = [
    lambda s: RandomHorizontalFlip(0.5, seed=s),
    lambda s: RandomVerticalFlip(0.5, seed=s),
    lambda s: RandomCrop(3, padding=(1, 2), seed=s),
    lambda s: RandomCrop(6, pad_if_needed=True, padding_mode="symmetric", seed=s),
    lambda s: RandomTranslate(1, seed=s),
    lambda s: RandomRotation(30, center=(1.0, 2.0), fill=(0.5, -1.0), seed=s),
    lambda s: RandomRotation(30, interpolation="nearest", seed=s),
    lambda s: GaussianNoise(sigma=0.3, seed=s),
    lambda s: Cutout(2, seed=s),
    lambda s: RandomErasing(1.0, value="random", seed=s),
    lambda s: Normalize((0.5, 0.2), (2.0, 0.5)),
]


@pytest.mark.parametrize("make", SINGLE_OR_BATCH)
def test_a_single_image_is_transformed_as_the_first_image_of_a_batch(make):
    x = np.random.default_rng(0).random((2, 4, 5), dtype=np.float32)
    for seed in range(4):
        one = make(seed)(x)
        batch = make(seed)(x[None])
        assert one.shape == batch.shape[1:] and one.dtype == x.dtype
        np.testing.assert_array_equal(one, batch[0])


@pytest.mark.parametrize("make", [m for i, m in enumerate(SINGLE_OR_BATCH) if i not in (7, 10)])
def test_images_of_other_ranks_are_refused_naming_the_shape(make):
    for shape in [(4, 5), (1, 1, 2, 4, 5)]:
        with pytest.raises(ValueError, match=r"\(C, H, W\).*\(N, C, H, W\).*" + re_shape(shape)):
            make(0)(np.zeros(shape, np.float32))


def re_shape(shape):
    return r"\(" + ", ".join(map(str, shape)) + r"\)"


# --- RandomCrop: padding layouts, modes, fill, pad_if_needed --------------------------------

def whole(padding, x=None, **kw):
    """The padded image itself: a crop of exactly the padded size has only one offset."""
    x = arange_image() if x is None else x
    left, top, right, bottom = RandomCrop(1, padding=padding).padding
    size = (x.shape[-2] + top + bottom, x.shape[-1] + left + right)
    return RandomCrop(size, padding=padding, **kw)(x)


def test_padding_int_pads_every_side():
    out = whole(1, fill=9)
    np.testing.assert_array_equal(out[0], [[9, 9, 9, 9, 9],
                                           [9, 0, 1, 2, 9],
                                           [9, 3, 4, 5, 9],
                                           [9, 9, 9, 9, 9]])
    np.testing.assert_array_equal(whole([1], fill=9), out)      # a 1-sequence is the same


def test_padding_pair_is_left_right_then_top_bottom():
    # (1, 2): one column each side, two rows each side (fastnn used to read (rows, columns)).
    out = whole((1, 2), fill=9)
    np.testing.assert_array_equal(out[0], [[9, 9, 9, 9, 9],
                                           [9, 9, 9, 9, 9],
                                           [9, 0, 1, 2, 9],
                                           [9, 3, 4, 5, 9],
                                           [9, 9, 9, 9, 9],
                                           [9, 9, 9, 9, 9]])


def test_padding_quadruple_is_left_top_right_bottom():
    out = whole((1, 0, 2, 1), fill=9)
    np.testing.assert_array_equal(out[0], [[9, 0, 1, 2, 9, 9],
                                           [9, 3, 4, 5, 9, 9],
                                           [9, 9, 9, 9, 9, 9]])
    assert RandomCrop(2, padding=(1, 0, 2, 1)).padding == (1, 0, 2, 1)
    assert RandomCrop(2, padding=(1, 3)).padding == (1, 3, 1, 3)
    assert RandomCrop(2).padding == (0, 0, 0, 0)               # padding=None


@pytest.mark.parametrize("mode, row", [
    ("constant", [0, 0, 0, 1, 2, 0, 0]),
    ("edge", [0, 0, 0, 1, 2, 2, 2]),
    ("reflect", [2, 1, 0, 1, 2, 1, 0]),        # the edge pixel is not repeated
    ("symmetric", [1, 0, 0, 1, 2, 2, 1]),      # the edge pixel is repeated
])
def test_padding_modes_on_a_row(mode, row):
    x = np.array([[[0, 1, 2]]], np.float32)
    np.testing.assert_array_equal(whole((2, 0), x, padding_mode=mode)[0, 0], row)


def test_reflect_padding_must_be_smaller_than_the_image_as_torch():
    with pytest.raises(ValueError, match="padding_mode='reflect'.*smaller"):
        whole((3, 0), np.zeros((1, 1, 3), np.float32), padding_mode="reflect")


def test_fill_per_channel():
    x = np.zeros((2, 1, 1), np.float32) + np.array([1, 2], np.float32)[:, None, None]
    out = whole(1, x, fill=(7, 8))
    np.testing.assert_array_equal(out[0], [[7, 7, 7], [7, 1, 7], [7, 7, 7]])
    np.testing.assert_array_equal(out[1], [[8, 8, 8], [8, 2, 8], [8, 8, 8]])
    with pytest.raises(ValueError, match="fill has 3 values but x has 2 channels"):
        whole(1, x, fill=(7, 8, 9))


def test_pad_if_needed_pads_both_ends_by_the_shortfall():
    x = np.broadcast_to(arange_image(), (300, 1, 2, 3)).copy()
    out = RandomCrop((4, 5), pad_if_needed=True, fill=-1)(x, rng=np.random.default_rng(4))
    # H 2 -> 2 + 2 * 2 = 6, W 3 -> 3 + 2 * 2 = 7; offsets in [0, 2] each, tops drawn first.
    padded = np.pad(arange_image()[0], 2, constant_values=-1)
    g = np.random.default_rng(4)
    tops, lefts = g.integers(0, 3, size=300), g.integers(0, 3, size=300)
    for i in range(300):
        np.testing.assert_array_equal(out[i, 0], padded[tops[i]:tops[i] + 4, lefts[i]:lefts[i] + 5])
    assert len({(t, l) for t, l in zip(tops, lefts)}) == 9
    # After the fixed padding: 2x3 padded by 1 is 4x5; a 5x5 crop needs one more row each end.
    out = RandomCrop(5, padding=1, pad_if_needed=True, fill=-1)(arange_image())
    assert out.shape == (1, 5, 5)
    np.testing.assert_array_equal(out[0, :, 0], -1)            # no spare column: left offset 0
    with pytest.raises(ValueError, match=r"crop size \(5, 5\) is larger than the padded image \(4, 5\)"):
        RandomCrop(5, padding=1)(arange_image())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"padding": (1, 2, 3)}, TypeError, r"padding=\(1, 2, 3\)"),
    ({"padding": 1.5}, TypeError, "padding=1.5"),
    ({"padding": (1, -1)}, ValueError, r"padding=\(1, -1\)"),
    ({"padding_mode": "wrap"}, ValueError, "padding_mode='wrap'"),
    ({"fill": "white"}, TypeError, "fill='white'"),
    ({"pad_if_needed": "yes"}, TypeError, "pad_if_needed='yes'"),
])
def test_crop_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        RandomCrop(2, **kwargs)


def test_translate_shift_pair_is_along_h_then_w():
    x = np.zeros((200, 1, 5, 5), np.float32)
    x[:, 0, 2, 2] = 1
    out = RandomTranslate((0, 2), seed=0)(x)
    rows, cols = np.nonzero(out[:, 0].max(axis=0))
    assert set(rows) == {2} and set(cols) == {0, 1, 2, 3, 4}


# --- Normalize ----------------------------------------------------------------------------

def test_normalize_uses_axis_minus_3_for_an_image_and_a_batch():
    x = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    t = Normalize((1, 2, 3), (1, 2, 4))
    want = np.array([[[-1, 0], [1, 2]],
                     [[1, 1.5], [2, 2.5]],
                     [[1.25, 1.5], [1.75, 2]]], np.float32)
    np.testing.assert_array_equal(t(x), want)
    batch = np.stack([x, x])                       # N = 2 != C = 3: axis 0 could not broadcast
    np.testing.assert_array_equal(t(batch), np.stack([want, want]))
    assert t(x.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match=r"\(C, H, W\).*\(3, 4\)"):
        t(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="mean has 3 values but x has 2 channels"):
        t(np.zeros((4, 2, 2, 2), np.float32))


@pytest.mark.parametrize("shape", [(3, 2, 2), (2, 3, 2, 2)])
def test_normalize_inplace_writes_into_the_input(shape):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    want = Normalize((0.1, 0.2, 0.3), 0.5)(x)
    keep = x.copy()
    out = Normalize((0.1, 0.2, 0.3), 0.5, inplace=True)(x)
    assert out is x
    np.testing.assert_array_equal(x, want)
    assert not np.array_equal(x, keep)
    y = keep.copy()
    Normalize((0.1, 0.2, 0.3), 0.5)(y)
    np.testing.assert_array_equal(y, keep)         # not in place by default


def test_normalize_std_zero_raises():
    with pytest.raises(ValueError, match=r"std=\(1, 0\)"):
        Normalize(0, (1, 0))
    # A std that becomes 0 in the image's dtype, as torchvision's check after conversion.
    with pytest.raises(ValueError, match="zero after conversion to float32"):
        Normalize(0, 1e-50)(np.ones((1, 2, 2), np.float32))
    with pytest.raises(TypeError, match="inplace='no'"):
        Normalize(0, 1, inplace="no")


# --- GaussianNoise ------------------------------------------------------------------------

def test_gaussian_noise_adds_mean_plus_sigma_times_normal_then_clips():
    x = np.random.default_rng(1).random((3, 2, 4, 4)).astype(np.float32)
    noise = np.random.default_rng(7).standard_normal(x.shape).astype(np.float32)
    raw = x + (np.float32(0.2) + noise * np.float32(0.5))
    np.testing.assert_array_equal(GaussianNoise(mean=0.2, sigma=0.5, clip=False, seed=7)(x), raw)
    clipped = GaussianNoise(mean=0.2, sigma=0.5, seed=7)(x)           # clip=True by default
    np.testing.assert_array_equal(clipped, np.clip(raw, 0, 1))
    assert clipped.min() == 0 and clipped.max() == 1
    default = GaussianNoise(seed=7)
    assert (default.mean, default.sigma, default.clip) == (0.0, 0.1, True)
    np.testing.assert_array_equal(default(x), np.clip(x + noise * np.float32(0.1), 0, 1))


def test_gaussian_noise_former_std_name_still_works():
    x = np.full((2, 1, 3, 3), 0.5, np.float32)
    t = GaussianNoise(0.3, seed=2)                  # positional: the standard deviation
    assert t.sigma == t.std == 0.3
    np.testing.assert_array_equal(t(x), GaussianNoise(sigma=0.3, seed=2)(x))
    np.testing.assert_array_equal(GaussianNoise(std=0.3, clip=(0.4, 0.6), seed=2)(x),
                                  np.clip(GaussianNoise(sigma=0.3, clip=False, seed=2)(x), 0.4, 0.6))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"sigma": -1.0}, ValueError, "sigma=-1.0"),
    ({"std": math.inf}, ValueError, "std=inf"),
    ({"mean": math.nan}, ValueError, "mean=nan"),
    ({"std": 0.1, "sigma": 0.1}, TypeError, "std=0.1, sigma=0.1"),
    ({"clip": "yes"}, ValueError, "clip='yes'"),
    ({"clip": (1, 0)}, ValueError, r"clip=\(1, 0\)"),
])
def test_gaussian_noise_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        GaussianNoise(**kwargs)


def test_gaussian_noise_needs_a_floating_image():
    with pytest.raises(TypeError, match="floating dtype"):
        GaussianNoise()(np.zeros((1, 2, 2), np.uint8))


# --- RandomErasing ------------------------------------------------------------------------

def erased_boxes(out, x):
    """(top, left, h, w) of the erased rectangle of each image, None if untouched."""
    boxes = []
    for o, i in zip(out, x):
        changed = np.any(o != i, axis=0)
        if not changed.any():
            boxes.append(None)
            continue
        rows, cols = np.nonzero(changed)
        t, l, h, w = rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert changed.sum() == h * w, "not a rectangle"
        boxes.append((t, l, h, w))
    return boxes


def test_erasing_boxes_lie_inside_with_area_and_ratio_in_range():
    H, W = 20, 30
    x = np.ones((500, 1, H, W), np.float32)
    scale, ratio = (0.05, 0.2), (0.5, 2.0)
    out = RandomErasing(p=1.0, scale=scale, ratio=ratio, seed=0)(x)
    boxes = erased_boxes(out, x)
    assert all(b is not None for b in boxes)
    for t, l, h, w in boxes:
        assert 0 <= t and t + h <= H and 0 <= l and l + w <= W
        assert h < H and w < W                     # torchvision keeps attempts with h < H, w < W
        # h = round(sqrt(a r)), w = round(sqrt(a / r)): within half a pixel of the real sides.
        assert (h - 0.5) * (w - 0.5) <= scale[1] * H * W and (h + 0.5) * (w + 0.5) >= scale[0] * H * W
        assert (h - 0.5) / (w + 0.5) <= ratio[1] and (h + 0.5) / (w - 0.5) >= ratio[0]
    assert len({b[:2] for b in boxes}) > 100       # placed uniformly, not always at one spot


def test_erasing_exact_box_size_and_uniform_placement():
    # scale and ratio pinned: area 16 of 8x8 with h/w = 1 gives a 4x4 box, offsets 0..4.
    x = np.ones((400, 1, 8, 8), np.float32)
    boxes = erased_boxes(RandomErasing(1.0, (0.25, 0.25), (1, 1), seed=3)(x), x)
    assert {b[2:] for b in boxes} == {(4, 4)}
    assert {b[0] for b in boxes} == {0, 1, 2, 3, 4} and {b[1] for b in boxes} == {0, 1, 2, 3, 4}


def test_erasing_gives_up_after_ten_attempts_that_do_not_fit():
    # The whole image never fits (h < H and w < W are required): the image stays unchanged.
    x = np.random.default_rng(0).random((20, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(RandomErasing(1.0, scale=(1, 1), ratio=(1, 1), seed=0)(x), x)
    # Half of 10x10 fits only when round(sqrt(50 r)) < 10 and round(sqrt(50 / r)) < 10, i.e.
    # 50 / 90.25 < r < 90.25 / 50: probability q = ln(3.258) / ln(25) = 0.367 per attempt
    # (log-uniform ratio), so 1 - (1 - q)^10 = 0.990 of the images are erased (one attempt
    # would erase 0.367).
    ones = np.ones((1000, 1, 10, 10))
    out = RandomErasing(1.0, scale=(0.5, 0.5), ratio=(0.2, 5), seed=0)(ones)
    found = [b for b in erased_boxes(out, ones) if b is not None]
    q = math.log((90.25 / 50) ** 2) / math.log(25)
    assert len(found) / 1000 == pytest.approx(1 - (1 - q) ** 10, abs=0.015)
    assert {b[2] * b[3] for b in found} <= {h * w for h in range(10) for w in range(10)
                                            if abs(h * w - 50) <= 10}


def test_erasing_probability_value_per_channel_and_random():
    x = np.zeros((400, 3, 8, 8), np.float32)
    out = RandomErasing(0.3, scale=(0.25, 0.25), ratio=(1, 1), value=(1, 2, 3), seed=0)(x)
    boxes = erased_boxes(out, x)
    assert abs(np.mean([b is not None for b in boxes]) - 0.3) < 0.07
    for o, b in zip(out, boxes):
        if b is not None:
            t, l, h, w = b
            np.testing.assert_array_equal(o[:, t:t + h, l:l + w],
                                          np.broadcast_to(np.array([1, 2, 3])[:, None, None], (3, h, w)))
    noisy = RandomErasing(1.0, scale=(0.25, 0.25), ratio=(1, 1), value="random", seed=1)(
        np.zeros((100, 2, 40, 40), np.float32))
    vals = noisy[noisy != 0]
    assert vals.size == 100 * 2 * 20 * 20
    assert abs(vals.mean()) < 0.02 and abs(vals.std() - 1) < 0.02    # standard normal
    with pytest.raises(ValueError, match="value has 2 values but x has 3 channels"):
        RandomErasing(1.0, value=(1, 2))(x)


@pytest.mark.parametrize("shape", [(3, 8, 8), (4, 3, 8, 8)])
def test_erasing_inplace_writes_into_the_input(shape):
    x = np.ones(shape, np.float32)
    out = RandomErasing(1.0, scale=(0.25, 0.25), ratio=(1, 1), inplace=True, seed=0)(x)
    assert out is x
    assert (x == 0).sum() == 16 * (1 if len(shape) == 3 else 4) * 3
    y = np.ones(shape, np.float32)
    RandomErasing(1.0, seed=0)(y)
    assert np.all(y == 1)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"scale": (0.5, 0.2)}, ValueError, r"scale=\(0.5, 0.2\)"),
    ({"ratio": (3.3, 0.3)}, ValueError, r"ratio=\(3.3, 0.3\)"),
    ({"scale": (0.1, 1.5)}, ValueError, r"scale=\(0.1, 1.5\)"),
    ({"ratio": (0, 1)}, ValueError, r"ratio=\(0, 1\)"),
    ({"scale": 0.5}, TypeError, "scale=0.5"),
    ({"value": "noise"}, ValueError, "value='noise'"),
    ({"value": None}, TypeError, "value=None"),
    ({"p": 2}, ValueError, "p=2"),
    ({"inplace": 1}, TypeError, "inplace=1"),
])
def test_erasing_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        RandomErasing(**kwargs)


# --- Mixup / CutMix -----------------------------------------------------------------------

def constant_batch(n, h=2, w=2):
    return np.stack([np.full((1, h, w), float(i), np.float32) for i in range(n)])


def test_mixup_pairs_each_sample_with_the_batch_rolled_by_one():
    x, y = constant_batch(4), np.arange(4)
    lam = float(np.random.default_rng(5).beta(1.0, 1.0))       # alpha = 1.0 by default
    xo, yo = Mixup(num_classes=4, seed=5)(x, y)
    prev = np.array([3, 0, 1, 2])                              # x.roll(1, 0): i with i - 1
    np.testing.assert_allclose(xo[:, 0, 0, 0], lam * np.arange(4) + (1 - lam) * prev, rtol=1e-6)
    want = lam * np.eye(4) + (1 - lam) * np.eye(4)[prev]
    np.testing.assert_allclose(yo, want, rtol=1e-6)
    assert yo.dtype == np.float32


def test_mixing_accepts_one_hot_labels_without_num_classes():
    x, y = constant_batch(5, 4, 4), np.arange(5) % 3
    for cls in (Mixup, CutMix):
        a = cls(0.5, num_classes=None, seed=1)(x, one_hot(y, 3))
        b = cls(0.5, num_classes=3, seed=1)(x, y)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        with pytest.raises(ValueError, match="num_classes is needed"):
            cls()(x, y)
        with pytest.raises(ValueError, match="soft labels have 3 classes, expected num_classes=4"):
            cls(num_classes=4)(x, one_hot(y, 3))


@pytest.mark.parametrize("seed, box, lam", [
    # lam = Beta(1, 1) draw, then r_x in [0, W), r_y in [0, H); half sides int(0.5 sqrt(1-lam) W|H).
    (0, (1, 0, 5, 2), 0.9),       # lam 0.702, centre (3, 0), half sides 2, 2: clipped at the top
    (2, (1, 4, 7, 8), 0.7),       # lam 0.467, centre (4, 6), half sides 3, 2
    (6, (6, 0, 10, 4), 0.8),      # lam 0.611, centre (9, 2), half sides 3, 2: clipped right and top
])
def test_cutmix_box_and_lambda_correction(seed, box, lam):
    H, W = 8, 10
    x = constant_batch(3, H, W) + 1
    xo, yo = CutMix(num_classes=3, seed=seed)(x, np.arange(3))
    x1, y1, x2, y2 = box
    for i in range(3):
        want = np.full((H, W), i + 1.0, np.float32)
        want[y1:y2, x1:x2] = (i - 1) % 3 + 1                   # pasted from the rolled batch
        np.testing.assert_array_equal(xo[i, 0], want)
        assert yo[i, i] == pytest.approx(lam, abs=1e-6)          # 1 - box area / (H W)
        assert yo[i, (i - 1) % 3] == pytest.approx(1 - lam, abs=1e-6)
    g = np.random.default_rng(seed)
    raw = float(g.beta(1.0, 1.0))
    assert raw != pytest.approx(lam, abs=1e-3)                 # the correction matters here


def test_cutmix_needs_a_batch_of_images():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(1, 4, 4\)"):
        CutMix(num_classes=2)(np.zeros((1, 4, 4), np.float32), np.zeros(1, int))


@pytest.mark.parametrize("cls", [Mixup, CutMix])
def test_mixing_bad_arguments_are_named(cls):
    with pytest.raises(ValueError, match="num_classes=0"):
        cls(num_classes=0)
    with pytest.raises(ValueError, match="alpha=-1"):
        cls(alpha=-1)
    with pytest.raises(ValueError, match=r"shape \(2, 1, 1\)"):
        cls(num_classes=2)(np.zeros((2, 1, 2, 2), np.float32), np.zeros((2, 1, 1)))


# --- RandomRotation: nearest ties, center, fill ------------------------------------------

def torchvision_rotate(img, degrees, interpolation, center=None, fill=0.0):
    """torchvision v2's tensor rotate (expand=False) restated with torch primitives: its
    inverse affine matrix, its affine grid in the image dtype, grid_sample with a mask channel
    for the fill."""
    torch = pytest.importorskip("torch")
    t = torch.as_tensor(img)
    n, c, h, w = t.shape
    cx, cy = (0.0, 0.0) if center is None else (center[0] - w * 0.5, center[1] - h * 0.5)
    rot = math.radians(-degrees)
    m = [math.cos(rot), math.sin(rot), 0.0, -math.sin(rot), math.cos(rot), 0.0]
    m[2] += m[0] * -cx + m[1] * -cy + cx
    m[5] += m[3] * -cx + m[4] * -cy + cy
    theta = torch.tensor(m, dtype=t.dtype).reshape(1, 2, 3)
    base = torch.ones(1, h, w, 3, dtype=t.dtype)
    base[..., 0] = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w)
    base[..., 1] = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h)[:, None]
    scaled = theta.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h], dtype=t.dtype)
    grid = base.view(1, h * w, 3).bmm(scaled).view(1, h, w, 2).expand(n, -1, -1, -1)
    sampled = torch.nn.functional.grid_sample(torch.cat([t, torch.ones(n, 1, h, w, dtype=t.dtype)], 1),
                                              grid, mode=interpolation, padding_mode="zeros",
                                              align_corners=False)
    out, mask = sampled[:, :-1], sampled[:, -1:].expand(n, c, h, w)
    f = torch.tensor(fill if isinstance(fill, (tuple, list)) else [fill], dtype=t.dtype).view(1, -1, 1, 1)
    f = f.expand(n, c, h, w)
    if interpolation == "nearest":
        return torch.where(mask < 0.5, f, out).numpy()
    return ((out - f) * mask + f).numpy()


def test_nearest_rounds_half_pixels_to_even():
    # 90 degrees on a 2x3 image about its centre (pixel index (0.5, 1)): output (i, j) reads
    # column 1.5 - i, row j - 0.5; halves go to even: columns 2, 0 and rows 0, 0, (2: outside).
    x = arange_image()[None]
    out = rotate(x, [math.pi / 2], interpolation="nearest", fill=-1)
    np.testing.assert_array_equal(out[0, 0], [[2, 2, -1], [0, 0, -1]])
    np.testing.assert_array_equal(out, torchvision_rotate(x, 90.0, "nearest", fill=-1.0))


def test_center_is_in_pixel_coordinates_from_the_top_left_corner():
    # center=(0.5, 0.5) is the centre of pixel (0, 0): it stays; the first column (0, 3, 6)
    # turns counter-clockwise into the first row.
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    out = rotate(x, [math.pi / 2], interpolation="nearest", center=(0.5, 0.5), fill=-1)
    np.testing.assert_array_equal(out[0, 0], [[0, 3, 6], [-1, -1, -1], [-1, -1, -1]])
    # The default centre is (W/2, H/2).
    np.testing.assert_array_equal(rotate(x, [1.0], center=(1.5, 1.5)), rotate(x, [1.0]))


def test_fill_per_channel_in_rotation():
    # 45 degrees on 4x4: the top-left output pixel reads row 1.5 - 1.5 sqrt(2) = -0.62 -> -1,
    # outside; the pixel next to the centre reads inside.
    x = np.zeros((1, 2, 4, 4), np.float32)
    out = rotate(x, [math.pi / 4], interpolation="nearest", fill=(7, 8))
    assert out[0, 0, 0, 0] == 7 and out[0, 1, 0, 0] == 8 and np.all(out[0, :, 1, 1] == 0)
    with pytest.raises(ValueError, match="fill has 3 values but x has 2 channels"):
        rotate(x, [0.3], fill=(1, 2, 3))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotation_matches_torchvision_grid_sample(interpolation):
    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        c = int(rng.integers(1, 4))
        x = rng.random((2, c, h, w)).astype(np.float32)
        degrees = float(rng.choice([rng.uniform(-180, 180), 90, -90, 45, 135, 180, 270]))
        center = None if rng.random() < 0.5 else (float(rng.integers(0, w + 1)), float(rng.integers(0, h + 1)))
        fill = tuple(rng.uniform(-1, 1, c).tolist()) if rng.random() < 0.5 else float(rng.uniform(-1, 1))
        want = torchvision_rotate(x, degrees, interpolation, center, fill)
        got = rotate(x, [math.radians(degrees)] * 2, interpolation=interpolation, center=center, fill=fill)
        if interpolation == "nearest":
            np.testing.assert_array_equal(got, want)         # same picks, ties included
        else:
            np.testing.assert_allclose(got, want, atol=1e-6)


def test_random_rotation_draws_one_angle_per_image_and_passes_center_and_fill():
    x = np.random.default_rng(0).random((3, 2, 5, 4)).astype(np.float32)
    t = RandomRotation((-40, 40), interpolation="nearest", center=(1.0, 2.0), fill=(0.5, -1.0))
    out = t(x, rng=np.random.default_rng(9))
    angles = np.random.default_rng(9).uniform(-40, 40, size=3)
    for i in range(3):
        want = torchvision_rotate(x[i:i + 1], float(angles[i]), "nearest", (1.0, 2.0), (0.5, -1.0))
        np.testing.assert_array_equal(out[i:i + 1], want)
    with pytest.raises(TypeError, match=r"center=\(1.0,\)"):
        RandomRotation(10, center=(1.0,))
    with pytest.raises(TypeError, match="fill='red'"):
        RandomRotation(10, fill="red")
