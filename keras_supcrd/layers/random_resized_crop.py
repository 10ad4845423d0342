"""Inception-style random resized crop, drawn per image."""

import math

import keras
from keras import ops

from keras_supcrd.layers.seeded import ImageLayer


def crop_boxes(draws, scale, ratio):
    """Crop boxes, as fractions of the image, from uniform draws.

    Each image's area fraction is `s = lerp(scale, u0)` and its aspect
    ratio `r = exp(lerp(log(ratio), u1))`; the box is `h = sqrt(s / r)`,
    `w = sqrt(s * r)` (clipped to 1), placed at `top = u2 * (1 - h)`,
    `left = u3 * (1 - w)`.

    Args:
        draws: (B, 4) uniform draws in [0, 1).
        scale: `(min, max)` area fractions.
        ratio: `(min, max)` aspect ratios (width / height).

    Returns:
        (B, 4) float32 `(top, left, height, width)`, fractions in [0, 1].
    """
    draws = ops.cast(draws, "float32")
    area = scale[0] + (scale[1] - scale[0]) * draws[:, 0]
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = ops.exp(log_lo + (log_hi - log_lo) * draws[:, 1])
    height = ops.minimum(ops.sqrt(area / aspect), 1.0)
    width = ops.minimum(ops.sqrt(area * aspect), 1.0)
    top = draws[:, 2] * (1.0 - height)
    left = draws[:, 3] * (1.0 - width)
    return ops.stack([top, left, height, width], axis=1)


def _interpolation(start, length, size):
    """(B, size, size) bilinear weights: output pixel `i` of each image
    samples the input at `start + (i + 0.5) * length - 0.5` (pixels, the
    half-pixel convention), clamped to the image; a row's two non-zero
    weights sum to 1."""
    centres = (ops.arange(size, dtype="float32") + 0.5) / size
    source = (start[:, None] + centres[None, :] * length[:, None]) * size
    source = ops.clip(source - 0.5, 0.0, size - 1.0)
    pixels = ops.arange(size, dtype="float32")
    return ops.relu(1.0 - ops.abs(source[:, :, None] - pixels[None, None]))


def resized_crop(images, boxes):
    """Crops each image to its box and resizes it back, bilinearly.

    Separable: `out[b] = Wy[b] @ images[b] @ Wx[b]^T` per channel, with
    `Wy`, `Wx` the bilinear weights of each output row and column.

    Args:
        images: (B, H, W, C).
        boxes: (B, 4) `(top, left, height, width)` fractions.

    Returns:
        (B, H, W, C) float32.
    """
    _, height, width, _ = images.shape
    images = ops.cast(images, "float32")
    rows = _interpolation(boxes[:, 0], boxes[:, 2], height)
    columns = _interpolation(boxes[:, 1], boxes[:, 3], width)
    out = ops.einsum("bik,bkwc->biwc", rows, images)
    return ops.einsum("bjw,biwc->bijc", columns, out)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class RandomResizedCrop(ImageLayer):
    """Crops every image of a batch to its own random box and resizes it
    back to the input size (Inception's augmentation).

    `keras.layers.RandomCrop` draws one position for a whole batch and
    keeps the crop's size; distillation recipes (Beyer et al. 2022) crop
    each image at its own area and aspect ratio. Per image, with
    `u ~ U[0, 1)^4` from the layer's seed generator:

        area s = scale_min + (scale_max - scale_min) u0
        ratio r = exp(log r_min + (log r_max - log r_min) u1)
        h = min(1, sqrt(s / r)),  w = min(1, sqrt(s r))
        top = u2 (1 - h),  left = u3 (1 - w)

    then bilinear resampling of the box to `(H, W)` (half-pixel centres,
    clamped at the border). In inference (`training=False`) it is the
    identity. The seed generator's state is saved with the layer, so a run
    restored from a checkpoint draws the crops the uninterrupted run draws.

    Args:
        scale: `(min, max)` area fraction of the crop, in (0, 1].
        ratio: `(min, max)` aspect ratio (width / height), > 0.
        seed: optional integer seed.
        **kwargs: standard `keras.layers.Layer` arguments.

    Returns:
        A batch of the input's shape, float32.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.layers import RandomResizedCrop
    crop = RandomResizedCrop(scale=(0.25, 1.0), seed=0)
    images = np.random.rand(4, 28, 28, 1).astype("float32")
    views = crop(images, training=True)  # (4, 28, 28, 1), one crop each
    ```

    Reference:
        Szegedy et al., "Going deeper with convolutions", CVPR 2015 (the
        crop); Beyer et al., "Knowledge distillation: A good teacher is
        patient and consistent", CVPR 2022 (its use in distillation).
    """

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), seed=None,
                 **kwargs):
        scale, ratio = tuple(float(v) for v in scale), \
            tuple(float(v) for v in ratio)
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError("`scale` must be (min, max) with 0 < min <= "
                             f"max <= 1. Received: scale={scale}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError("`ratio` must be (min, max) with 0 < min <= "
                             f"max. Received: ratio={ratio}")
        super().__init__(seed=seed, **kwargs)
        self.scale, self.ratio = scale, ratio

    def call(self, images, training=True):
        if not training:
            return images
        draws = keras.random.uniform((ops.shape(images)[0], 4),
                                     seed=self.seed_generator)
        boxes = crop_boxes(draws, self.scale, self.ratio)
        return ops.cast(resized_crop(images, boxes), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale,
                "ratio": self.ratio}
