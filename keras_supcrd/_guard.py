"""Stops a distillation run at the first bad batch, naming what was bad."""

import math

import keras

# The train step's log of the first out-of-range label (0: none). The guard
# removes it from the logs, so users never see it.
INVALID_LABEL_LOG = "invalid_label"

_KEPT = (
    "The update of that batch was skipped, so the model keeps its last "
    "weights, optimizer state and memory bank."
)


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Asks `fit` to stop after a batch with a bad label or a non-finite loss.

    The Distiller's train step skips the update of such a batch, so the
    model keeps the state of the last good step; `Distiller.fit` raises
    `error` once Keras has stopped cleanly (raising inside a callback
    would leave JAX's state unsynchronised). It must come before the other
    callbacks, since it removes its log entry from the logs they receive.
    """

    def __init__(self, term_names):
        super().__init__()
        self.term_names = ["student_loss", *term_names]
        self.error = None

    def on_train_batch_end(self, batch, logs=None):
        logs = {} if logs is None else logs
        invalid = float(logs.pop(INVALID_LABEL_LOG, 0.0))
        if self.error is not None:
            return
        if invalid != 0:
            self.error = ValueError(
                f"Distillation stopped at batch {batch}: `y` holds the label "
                f"{invalid:g}, outside [0, num_classes) of the teacher's "
                f"logits. {_KEPT}"
            )
        elif not math.isfinite(float(logs.get("loss", 0.0))):
            bad = [f"{name}={float(logs[name])}" for name in self.term_names
                   if name in logs and not math.isfinite(float(logs[name]))]
            self.error = FloatingPointError(
                f"Distillation stopped at batch {batch}: the loss is not "
                f"finite ({', '.join(bad) or 'loss=' + str(logs.get('loss'))})."
                f" {_KEPT} Check the inputs and the teacher's outputs for "
                "that batch."
            )
        else:
            return
        self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.pop(INVALID_LABEL_LOG, None)
