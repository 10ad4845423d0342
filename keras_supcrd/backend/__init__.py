"""Backend-specific training steps, and the runtimes that check exported
students (`runtimes.py`); the only place a framework is imported.

`Distiller` imports the module named after `keras.backend.backend()`, the
way Keras picks its own trainer. Each module runs the teacher outside the
differentiated function, then the Distiller's shared, backend-agnostic
loss (keras_supcrd/_step.py, with the flow drawn there), then writes
the memory bank after the update.
"""

import importlib

import keras


def current():
    """The train-step module of the current Keras backend.

    Every module declares the same three names: `train_step`, `gather`
    (concatenates a tensor over devices; the identity on one) and
    `other_replicas` (the other devices' rows as extra negatives, or None
    where the step already sees the global batch).
    """
    return importlib.import_module(f"{__name__}.{keras.backend.backend()}")
