"""Backend-specific training steps, and the runtimes that check exported
students (`runtimes.py`); the only place a framework is imported.

`Distiller` imports the module named after `keras.backend.backend()`, the
way Keras picks its own trainer. Each module runs the teacher outside the
differentiated function, then the Distiller's shared, backend-agnostic
loss (keras_supcrd/_step.py, with the flow drawn there), then writes
the memory bank after the update.
"""


def compiling():
    """True while `torch.compile` traces the code.

    Reading a tensor's values there breaks the graph (and recompiles it
    call after call), so value checks take their in-graph form, as under
    `jit` and `tf.function`.
    """
    import keras

    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.compiler.is_compiling()
