"""RandomResizedCrop and Mixup against float64 numpy references written
from their formulas; one crop per image; compiled equals eager; the draws
are part of the layer's saved state."""

import math

import keras
import numpy as np
import pytest

from grad import compiled as compile_fn
from keras_supcrd.layers import Mixup
from keras_supcrd.layers import RandomHorizontalFlip
from keras_supcrd.layers import RandomResizedCrop
from keras_supcrd.layers.mixup import mix
from keras_supcrd.layers.random_resized_crop import crop_boxes
from keras_supcrd.layers.random_resized_crop import resized_crop

SCALE, RATIO = (0.2, 1.0), (3 / 4, 4 / 3)


def reference_crop(images, draws, scale=SCALE, ratio=RATIO):
    """Per image, per output pixel: the box from the draws, the sampling
    point in input pixels, and the bilinear blend of its four neighbours."""
    images = images.astype(np.float64)
    n, h_in, w_in, _ = images.shape
    out = np.zeros_like(images)
    for b in range(n):
        u = draws[b].astype(np.float64)
        area = scale[0] + (scale[1] - scale[0]) * u[0]
        aspect = math.exp(math.log(ratio[0]) + (
            math.log(ratio[1]) - math.log(ratio[0])) * u[1])
        bh = min(1.0, math.sqrt(area / aspect))
        bw = min(1.0, math.sqrt(area * aspect))
        top, left = u[2] * (1 - bh), u[3] * (1 - bw)
        for i in range(h_in):
            y = (top + (i + 0.5) / h_in * bh) * h_in - 0.5
            y = min(max(y, 0.0), h_in - 1.0)
            y0 = int(math.floor(y))
            y1, fy = min(y0 + 1, h_in - 1), y - y0
            for j in range(w_in):
                x = (left + (j + 0.5) / w_in * bw) * w_in - 0.5
                x = min(max(x, 0.0), w_in - 1.0)
                x0 = int(math.floor(x))
                x1, fx = min(x0 + 1, w_in - 1), x - x0
                out[b, i, j] = (
                    (1 - fy) * (1 - fx) * images[b, y0, x0]
                    + (1 - fy) * fx * images[b, y0, x1]
                    + fy * (1 - fx) * images[b, y1, x0]
                    + fy * fx * images[b, y1, x1])
    return out


def _crop(images, draws):
    return resized_crop(images, crop_boxes(draws, SCALE, RATIO))


@pytest.mark.parametrize("how", ["eager", "compiled"])
def test_crop_equals_the_float64_reference(how):
    rng = np.random.default_rng(0)
    images = rng.random((5, 9, 7, 3)).astype("float32")
    draws = rng.random((5, 4)).astype("float32")
    draws[0] = [1.0 - 1e-7, 0.5, 0.0, 0.0]  # the whole image: identity
    draws[1] = [0.0, 0.0, 1.0 - 1e-7, 1.0 - 1e-7]  # smallest, far corner
    fn = compile_fn(_crop) if how == "compiled" else _crop
    out = keras.ops.convert_to_numpy(fn(images, draws))
    assert out.shape == images.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, reference_crop(images, draws),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[0], images[0], atol=1e-5)


def test_every_image_gets_its_own_crop_and_inference_is_identity():
    images = np.tile(np.random.default_rng(1).random((1, 16, 16, 1)),
                     (6, 1, 1, 1)).astype("float32")
    layer = RandomResizedCrop(scale=SCALE, seed=3)
    views = keras.ops.convert_to_numpy(layer(images, training=True))
    assert views.shape == images.shape and views.dtype == np.float32
    distinct = {views[i].tobytes() for i in range(6)}
    assert len(distinct) == 6
    again = keras.ops.convert_to_numpy(layer(images, training=True))
    assert not np.array_equal(views, again)  # the generator moved on
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(images, training=False)), images)


@pytest.mark.backend_independent
@pytest.mark.parametrize("kwargs,word", [
    ({"scale": (0.0, 1.0)}, "scale"), ({"scale": (0.5, 1.5)}, "scale"),
    ({"scale": (0.9, 0.5)}, "scale"), ({"ratio": (0.0, 1.0)}, "ratio"),
    ({"ratio": (2.0, 1.0)}, "ratio")])
def test_bad_crop_settings_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        RandomResizedCrop(**kwargs)
    with pytest.raises(ValueError, match="alpha"):
        Mixup(alpha=0)


@pytest.mark.parametrize("layer", [RandomResizedCrop, RandomHorizontalFlip])
def test_an_image_layer_refuses_vectors_by_name(layer):
    with pytest.raises(ValueError, match=rf"`{layer.__name__}` takes a "
                       r"batch of images .*\(4, 784\)"):
        layer()(np.zeros((4, 784), "float32"))


def test_mixup_rolls_the_batch_with_one_coefficient():
    rng = np.random.default_rng(2)
    images = rng.random((5, 4, 4, 2)).astype("float32")
    layer = Mixup(alpha=0.4, seed=1)
    mixed, weight = layer(images, training=True)
    weight = float(keras.ops.convert_to_numpy(weight))
    assert 0.5 <= weight <= 1.0
    expected = np.empty((5, 4, 4, 2))
    for i in range(5):  # row i with row i - 1, row 0 with the last
        expected[i] = weight * images[i] + (1 - weight) * images[i - 1]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mixed), expected,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mix(images, 1.0)),
                               images)
    draws = [float(keras.ops.convert_to_numpy(layer(images)[1]))
             for _ in range(20)]
    assert len(set(draws)) == 20 and min(draws) >= 0.5


def test_the_flip_is_drawn_per_image():
    images = np.random.default_rng(3).random((16, 4, 5, 2)).astype("float32")
    out = keras.ops.convert_to_numpy(
        RandomHorizontalFlip(seed=2)(images, training=True))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f != k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 16
