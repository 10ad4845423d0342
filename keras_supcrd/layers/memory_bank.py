"""A FIFO ring of teacher features and labels: the reference set."""

import keras
from keras import ops


# Every replica writes the same gathered global batch; tf.distribute keeps
# the first replica's value (other backends ignore the setting).
SAME_ON_REPLICAS = "only_first_replica"
MODES = ("exact", "exact_no_grad", "stored")


@keras.saving.register_keras_serializable(package="keras_supcrd")
class MemoryBank(keras.layers.Layer):
    """Non-trainable FIFO memory of the last `size` rows and labels.

    Empty slots hold an all-zero row and the label -1, which the contrastive
    losses ignore. `write` replaces the oldest rows; a batch larger than the
    bank keeps its last `size` rows. The `mode` says what a row is and how
    it becomes a negative (`negatives`) and what a step writes
    (`remember`):

    - `"exact"` (default): the frozen teacher's raw features, which never
      change for a sample, re-projected by the current teacher head at
      every step, with gradient into the head: no entry goes stale, and no
      dataset indices are needed.
    - `"exact_no_grad"`: the same rows and values, without gradient into
      the head through them (a cheaper backward).
    - `"stored"`: the teacher embeddings under the head as it was after the
      step that wrote them (CRD's memory), read as they are.

    The row width is set by `build((None, width))`: the feature width, or
    the embedding width when `stores_embeddings`.

    Args:
        size: number of slots (>= 1).
        mode: one of `"exact"`, `"exact_no_grad"`, `"stored"`.
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

    def __init__(self, size, mode="exact", **kwargs):
        if not isinstance(size, int) or size < 1:
            raise ValueError(
                f"`size` must be an integer >= 1. Received: size={size}"
            )
        check_mode("mode", mode)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size, self.mode = size, mode

    @property
    def stores_embeddings(self):
        """True when rows are embeddings (`"stored"`), not raw features."""
        return self.mode == "stored"

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

    def negatives(self, head):
        """`(rows, labels)`: the bank as negatives under the current `head`."""
        rows = self.features
        if not self.stores_embeddings:
            rows = head(rows)
        if self.mode == "exact_no_grad":
            rows = ops.stop_gradient(rows)
        return rows, self.labels

    def remember(self, features, logits, labels, head):
        """Writes a teacher batch after the step; `head` is the updated one.

        A row whose features or logits are not finite is written as an
        empty slot (zeros, label -1): a bad batch never poisons the bank.
        """
        finite = ops.logical_and(ops.all(ops.isfinite(features), axis=-1),
                                 ops.all(ops.isfinite(logits), axis=-1))
        rows = ops.where(finite[:, None], features, 0.0)
        if self.stores_embeddings:
            rows = ops.where(finite[:, None], head(rows), 0.0)
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        self.write(rows, ops.where(finite, labels, -1))

    def get_config(self):
        return {**super().get_config(), "size": self.size, "mode": self.mode}


def check_mode(name, mode):
    if mode not in MODES:
        raise ValueError(f"`{name}` must be one of {MODES}. "
                         f"Received: {name}={mode!r}")
