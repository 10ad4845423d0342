"""Backend-specific training steps, and the runtimes that check exported
students (`runtimes.py`); the only place a framework is imported.

`Distiller` imports the module named after `keras.backend.backend()`, the
way Keras picks its own trainer. Each module runs the teacher outside the
differentiated function, then the Distiller's shared, backend-agnostic
loss (keras_supcrd/_step.py, with the flow drawn there), then writes
the memory bank after the update.
"""

