"""The base class of the dict-protocol distillation losses."""

import keras


class DistillationLoss(keras.losses.Loss):
    """A `keras.losses.Loss` that reads the teacher and student sides by key.

    `y_true` is a dict with the teacher side and the labels (`labels`,
    `teacher_logits`, `teacher_embeddings`, `ref_embeddings`, `ref_labels`);
    `y_pred` a dict with the student side (`student_logits`,
    `student_embeddings`). A subclass reads the keys it needs in `call` and
    passes its keyword settings to `super().__init__`, which stores them for
    `get_config`. Any loss that follows this protocol plugs into
    `keras_supcrd.Distiller` unchanged.

    A loss that never reads embeddings sets the class attribute
    `uses_embeddings = False`; a Distiller whose losses are all such skips
    the projection heads and the memory bank. Losses without the attribute
    are assumed to read them.

    Args:
        name: name of the loss; also the key it is logged under.
        reduction: as in `keras.losses.Loss`.
        dtype: as in `keras.losses.Loss`.
        **settings: the subclass's own constructor arguments.
    """

    uses_embeddings = True

    def __init__(self, name, reduction="sum_over_batch_size", dtype=None,
                 **settings):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.settings = settings

    def read(self, inputs, key, required=True):
        """Returns `inputs[key]`, with a clear error when it is required."""
        value = inputs.get(key) if isinstance(inputs, dict) else None
        if value is None and required:
            raise ValueError(
                f"{type(self).__name__} needs `{key}` in its inputs. Received "
                f"keys: {sorted(inputs) if isinstance(inputs, dict) else inputs}"
            )
        return value

    def reference_set(self, y_true):
        return {
            "ref_embeddings": self.read(y_true, "ref_embeddings", False),
            "ref_labels": self.read(y_true, "ref_labels", False),
        }

    def get_config(self):
        return {**super().get_config(), **self.settings}
