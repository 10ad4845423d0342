"""Small classifiers and data for the Distiller tests."""

import keras
import numpy as np

FEATURES, CLASSES = 6, 3


def classifier(width, batch_norm=False, extra=(), name=None, seed=0):
    layers = [keras.Input((FEATURES,)), *extra,
              keras.layers.Dense(width, activation="relu",
                                 kernel_initializer=keras.initializers
                                 .GlorotUniform(seed))]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.Dense(
        CLASSES, name="predictions",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 1)))
    return keras.Sequential(layers, name=name)


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=n).astype("int32")
    return x, y


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@keras.saving.register_keras_serializable(package="keras_supcrd_tests")
class CallCounter(keras.layers.Layer):
    """Identity layer counting its eager calls (run_eagerly only)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def call(self, x):
        self.calls += 1
        return x


def weights_of(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]
