"""Changing loss weights during `fit`: a callback and the linear warm-up."""

import numbers

import keras
from keras import ops

from keras_supcrd.layers.loss_weights import check_weight

__all__ = ["LossWeightScheduler", "linear_warmup"]

UNITS = ("epoch", "step")


def linear_warmup(duration, value=1.0):
    """A weight that rises linearly to `value` over `duration` epochs or steps.

    `weight(t) = value * min((t + 1) / duration, 1)` for `t = 0, 1, ...`:
    the first epoch (or step) already gets `value / duration`, and from
    `t = duration - 1` on the weight is `value`. With 0-based Keras epochs
    this is mdistiller's DKD warm-up `min(epoch / 20, 1)` over its 1-based
    epochs.

    Args:
        duration: length of the warm-up, an integer >= 1.
        value: the weight reached at the end, finite and >= 0.

    Returns:
        A function from `t` (an integer >= 0) to the weight.

    Example:

    ```python
    from keras_supcrd.schedules import linear_warmup
    warmup = linear_warmup(4, value=2.0)
    weights = [warmup(t) for t in range(6)]  # 0.5, 1.0, 1.5, 2.0, 2.0, 2.0
    ```
    """
    if (not isinstance(duration, numbers.Integral)
            or isinstance(duration, bool) or duration < 1):
        raise ValueError(
            f"`duration` must be an integer >= 1. Received: {duration!r}")
    value = check_weight("value", value)

    def weight(t):
        return value * min((t + 1) / duration, 1.0)

    return weight


class LossWeightScheduler(keras.callbacks.Callback):
    """Sets Distiller loss weights from functions of the epoch or the step.

    Like `keras.callbacks.LearningRateScheduler`, for the weights of the
    Distiller's loss terms: each function receives `t` (the 0-based epoch,
    or the global step counted by the optimizer, so a resumed run continues
    where it was) and returns the weight for that epoch or step. Weights
    are variables of the Distiller (`distiller.term_weights`), so changing
    them never retraces or recompiles the train step; they are saved with
    the model, and `fit` logs each one as `<term>_weight` beside the
    unweighted term.

    Args:
        schedule: dict from a term name (a distillation loss's `name`, or
            `"student_loss"`) to a function `t -> weight`.
        unit: `"epoch"` (set before each epoch) or `"step"` (before each
            training step).

    Raises:
        ValueError: at the start of `fit`, a name that is not a term of the
            Distiller; during `fit`, a function returning a negative or
            non-finite weight (the message names the term and the epoch or
            step; training stops before that step, with the state of the
            last finished step).

    Example:

    ```python
    import numpy as np
    import keras
    from keras_supcrd import Distiller
    from keras_supcrd.losses import DKD
    from keras_supcrd.schedules import LossWeightScheduler, linear_warmup

    def classifier(width):
        return keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(3, name="predictions"),
        ])

    distiller = Distiller(classifier(32), classifier(8), DKD())
    distiller.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
    x = np.random.rand(32, 8).astype("float32")
    y = np.random.randint(0, 3, size=32)
    # DKD's warm-up, as its authors run it: the term reaches weight 1 at
    # epoch 20.
    warmup = LossWeightScheduler({"dkd": linear_warmup(20)})
    history = distiller.fit(x, y, epochs=2, callbacks=[warmup], verbose=0)
    weights = history.history["dkd_weight"]  # [0.05, 0.1]
    ```

    Reference:
        Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022 (the
        warm-up of the DKD term).
    """

    def __init__(self, schedule, unit="epoch"):
        super().__init__()
        if unit not in UNITS:
            raise ValueError(
                f"`unit` must be one of {UNITS}. Received: {unit!r}")
        schedule = dict(schedule)
        for name, function in schedule.items():
            if not callable(function):
                raise ValueError(
                    f"`schedule[{name!r}]` must be a function of the "
                    f"{unit}. Received: {function!r}")
        self.schedule = schedule
        self.unit = unit
        self._step = None
        self._current = None

    def on_train_begin(self, logs=None):
        names = self.model.term_weights.names
        unknown = sorted(set(self.schedule) - set(names))
        if unknown:
            raise ValueError(
                f"`schedule` names {unknown}, which are not loss terms of "
                f"this Distiller; its terms are {names}.")
        self._step, self._current = None, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            self._set(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit != "step":
            return
        if self._step is None:  # read late: BackupAndRestore loads first
            self._step = int(ops.convert_to_numpy(
                self.model.optimizer.iterations))
        self._first_batch = batch
        self._set(self._step)

    def on_train_batch_end(self, batch, logs=None):
        if self.unit == "step":  # steps_per_execution runs several at once
            self._step += batch - self._first_batch + 1

    def _set(self, t):
        weights = {name: function(t)
                   for name, function in self.schedule.items()}
        if weights == self._current:
            return  # nothing to write: no JAX state sync
        model = self.model  # under JAX, reattaches the state first
        try:
            model.term_weights.assign(weights)
        except ValueError as error:
            raise ValueError(
                f"The loss-weight schedule failed at {self.unit} {t}: "
                f"{error}. Training stopped before that {self.unit}; the "
                "model keeps the state of the last finished step."
            ) from error
        self._current = weights
