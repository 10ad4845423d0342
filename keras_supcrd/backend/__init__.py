"""Backend-specific training steps; the only place a framework is imported.

`Distiller` imports the module named after `keras.backend.backend()`, the
way Keras picks its own trainer. Each module runs the teacher outside the
differentiated function, then the Distiller's shared, backend-agnostic
`distillation_loss`, then writes the memory bank after the update.
"""
