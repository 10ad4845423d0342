"""Mixup with one coefficient per batch, each image mixed with its
neighbour."""

import keras
from keras import ops

from keras_supcrd.layers.seeded import SeededLayer


def mix(images, weight):
    """`weight * images + (1 - weight) * roll(images, 1)`: row `i` mixed
    with row `i - 1` (row 0 with the last). A roll pairs every image once
    as the main image and once as the partner, whatever the batch size
    (reversing an even batch would pair images twice)."""
    images = ops.cast(images, "float32")
    return weight * images + (1.0 - weight) * ops.roll(images, 1, axis=0)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class Mixup(SeededLayer):
    """Mixes every image with its neighbour in the batch, with one
    coefficient for the whole batch.

        lam' ~ Beta(alpha, alpha),  lam = max(lam', 1 - lam')
        x_i <- lam x_i + (1 - lam) x_{i-1}

    Taking `lam >= 1/2` keeps each row's own label its main one, so the
    losses that read labels (the supervised contrastive ones, the bank, the
    metrics) read the row's label; the student's loss is mixed with the
    same coefficient, `lam L(y) + (1 - lam) L(roll(y))`, by the Distiller.
    Called on a batch, it returns `(mixed, lam)`; in inference
    (`training=False`) `(images, 1)`. The seed generator's state is saved
    with the layer (a resumed run draws the same coefficients).

    Args:
        alpha: the Beta distribution's parameter (> 0); small values mix
            little (Zhang et al. use 0.2 to 0.4 on ImageNet).
        seed: optional integer seed.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.layers import Mixup
    mixup = Mixup(alpha=0.2, seed=0)
    images = np.random.rand(4, 8, 8, 3).astype("float32")
    mixed, lam = mixup(images, training=True)  # lam in [0.5, 1]
    ```

    Reference:
        Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR
        2018; Beyer et al., CVPR 2022 (mixup in consistent distillation).
    """

    def __init__(self, alpha=0.2, seed=None, **kwargs):
        if isinstance(alpha, bool) or not alpha > 0:
            raise ValueError(f"`alpha` must be > 0. Received: alpha={alpha}")
        super().__init__(seed=seed, **kwargs)
        self.alpha = float(alpha)

    def call(self, images, training=True):
        if not training:
            return images, ops.ones((), "float32")
        draw = keras.random.beta((), self.alpha, self.alpha,
                                 seed=self.seed_generator)
        weight = ops.maximum(draw, 1.0 - draw)
        return mix(images, weight), weight

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}
