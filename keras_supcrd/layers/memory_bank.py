"""A FIFO ring of teacher features and labels: the reference set."""

import keras
from keras import ops


# Every replica writes the same gathered global batch; tf.distribute keeps
# the first replica's value (other backends ignore the setting).
SAME_ON_REPLICAS = "only_first_replica"


@keras.saving.register_keras_serializable(package="keras_supcrd")
class MemoryBank(keras.layers.Layer):
    """Non-trainable FIFO memory of the last `size` feature rows and labels.

    Empty slots hold an all-zero row and the label -1, which the contrastive
    losses ignore. `write` replaces the oldest rows; a batch larger than the
    bank keeps its last `size` rows. The bank stores the frozen teacher's
    raw features, which never change for a sample, and the Distiller
    projects them with the current teacher head at each step: no entry goes
    stale, and no dataset indices are needed.

    The row width is set by `build((None, feature_dim))`.

    Args:
        size: number of slots (>= 1).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.layers import MemoryBank
    bank = MemoryBank(size=4)
    bank.build((None, 2))
    bank.write(np.ones((3, 2), "float32"), np.array([0, 1, 2]))
    labels = bank.labels  # [0, 1, 2, -1]
    ```
    """

    def __init__(self, size, **kwargs):
        if not isinstance(size, int) or size < 1:
            raise ValueError(
                f"`size` must be an integer >= 1. Received: size={size}"
            )
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size = size

    def build(self, input_shape):
        feature_dim = input_shape[-1]
        self._features = self.add_weight(
            shape=(self.size, feature_dim), initializer="zeros",
            trainable=False, name="features", aggregation=SAME_ON_REPLICAS,
        )
        self._labels = self.add_weight(
            shape=(self.size,), initializer=keras.initializers.Constant(-1),
            dtype="int32", trainable=False, name="labels",
            aggregation=SAME_ON_REPLICAS,
        )
        self._next = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False,
            name="next_slot", aggregation=SAME_ON_REPLICAS,
        )

    @property
    def features(self):
        return self._features.value

    @property
    def labels(self):
        return self._labels.value

    @property
    def next_slot(self):
        return self._next.value

    def write(self, features, labels):
        """Writes a batch at the head of the ring.

        Slot `k` gets the last batch row that lands on it, found with a
        gather rather than a scatter so that a batch larger than the bank
        has one well-defined result and the batch size may be dynamic.
        """
        features = ops.cast(features, self._features.dtype)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        count = ops.shape(features)[0]
        offset = (ops.arange(self.size, dtype="int32") - self._next) % self.size
        written = offset < count
        last = offset + self.size * ((count - 1 - offset) // self.size)
        rows = ops.clip(last, 0, ops.maximum(count - 1, 0))
        self._features.assign(ops.where(
            written[:, None], ops.take(features, rows, axis=0), self.features
        ))
        self._labels.assign(
            ops.where(written, ops.take(labels, rows, axis=0), self.labels)
        )
        self._next.assign((self._next + count) % self.size)

    def call(self, inputs=None):
        return self.features, self.labels

    def get_config(self):
        return {**super().get_config(), "size": self.size}
