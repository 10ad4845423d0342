"""Layers that draw random numbers and keep their generator's state."""

import keras


class SeededLayer(keras.layers.Layer):
    """A layer whose draws come from `self.seed_generator`, with the
    generator's state saved and loaded with the layer's variables.

    Keras does not save a `SeedGenerator`'s state (it is no `KerasSaveable`),
    so a run restored by `BackupAndRestore` would draw other crops and
    mixing coefficients than the run it resumes.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def save_own_variables(self, store):
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_state" in store:  # files saved before the state was kept
            self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class ImageLayer(SeededLayer):
    """A `SeededLayer` that takes only batches of images: any other input
    is refused by name when the layer is built, not deep in its maths."""

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"`{type(self).__name__}` takes a batch of images (batch, "
                f"height, width, channels). Received: input_shape="
                f"{tuple(input_shape)}")
        super().build(input_shape)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class RandomHorizontalFlip(ImageLayer):
    """Flips each image left to right with probability 1/2, drawn per
    image; the identity in inference.

    `keras.layers.RandomFlip` does the same, but its generator's state is
    not saved, so a resumed run would flip other images.

    Args:
        seed: optional integer seed.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.layers import RandomHorizontalFlip
    flip = RandomHorizontalFlip(seed=0)
    views = flip(np.random.rand(4, 8, 8, 3).astype("float32"))
    ```
    """

    def call(self, images, training=True):
        if not training:
            return images
        draws = keras.random.uniform((keras.ops.shape(images)[0], 1, 1, 1),
                                     seed=self.seed_generator)
        return keras.ops.where(draws < 0.5, keras.ops.flip(images, axis=2),
                               images)

    def compute_output_shape(self, input_shape):
        return input_shape
