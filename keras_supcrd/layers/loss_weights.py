"""The current weight of each loss term, held as non-trainable state."""

import math
import numbers

import keras
from keras import ops


def check_weight(name, value):
    """`value` as a float, or a `ValueError` naming `name`."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not math.isfinite(value) or value < 0):
        raise ValueError(
            f"The weight of `{name}` must be a finite number >= 0. "
            f"Received: {value!r}"
        )
    return float(value)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class LossWeights(keras.layers.Layer):
    """One non-trainable weight per loss term, changeable during `fit`.

    The Distiller multiplies each term by its entry here. Because the
    weights are variables, not Python numbers, `assign` changes them
    between steps without retracing the compiled train step, and they are
    saved with the model (and by `BackupAndRestore`), so a run resumed in
    the middle of a warm-up continues at the weight it had reached.

    Args:
        initial: dict from term name to its initial weight (finite, >= 0).
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    from keras_supcrd.layers import LossWeights
    weights = LossWeights({"student_loss": 1.0, "dkd": 0.0})
    weights.assign({"dkd": 0.25})
    current = weights.get("dkd")  # 0.25
    ```
    """

    def __init__(self, initial, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.initial = {name: check_weight(name, value)
                        for name, value in dict(initial).items()}
        self.names = list(self.initial)
        self._values = self.add_weight(
            shape=(len(self.names),), trainable=False, name="values",
            initializer=keras.initializers.Constant(
                list(self.initial.values())),
        )
        self.built = True

    @property
    def values(self):
        """The weights as a float32 tensor, in the order of `names`."""
        return self._values.value

    def get(self, name):
        """The current weight of `name`, as a Python float."""
        values = ops.convert_to_numpy(self._values)
        return float(values[self._index(name)])

    def assign(self, weights):
        """Sets the named weights; the others keep their values.

        Raises:
            ValueError: an unknown name, or a weight that is negative or
                not finite. Nothing is assigned then.
        """
        values = ops.convert_to_numpy(self._values).copy()
        for name, value in weights.items():
            values[self._index(name)] = check_weight(name, value)
        self._values.assign(values)

    def _index(self, name):
        if name not in self.names:
            raise ValueError(
                f"Unknown loss term {name!r}; the terms are {self.names}."
            )
        return self.names.index(name)

    def get_config(self):
        return {**super().get_config(), "initial": dict(self.initial)}
