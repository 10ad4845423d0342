"""Stops a distillation run at the first non-finite loss, naming the term."""

import math

import keras


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Asks `fit` to stop after a batch whose logged loss is not finite.

    The Distiller's train step skips the update of such a batch, so the
    model keeps the state of the last finite step; `Distiller.fit` raises
    `message` once Keras has stopped cleanly (raising inside a callback
    would leave JAX's state unsynchronised).
    """

    def __init__(self, term_names):
        super().__init__()
        self.term_names = ["student_loss", *term_names]
        self.message = None

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if math.isfinite(float(logs.get("loss", 0.0))):
            return
        bad = [f"{name}={float(logs[name])}" for name in self.term_names
               if name in logs and not math.isfinite(float(logs[name]))]
        self.message = (
            f"Distillation stopped at batch {batch}: the loss is not finite "
            f"({', '.join(bad) or 'loss=' + str(logs.get('loss'))}). The "
            "update of that batch was skipped, so the model keeps its last "
            "finite weights, optimizer state and memory bank. Check the "
            "inputs and the teacher's outputs for that batch."
        )
        self.model.stop_training = True
