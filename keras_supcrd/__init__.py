"""keras_supcrd: contrastive knowledge distillation for Keras 3."""

import importlib

__version__ = "0.1.0"

__all__ = ["Distiller", "layers", "losses", "schedules", "teacher_outputs"]

# Imported on first use (PEP 562), so that `keras-supcrd --help` and its
# argument errors answer without starting a backend framework.
_LAZY = {
    "Distiller": ("keras_supcrd.distiller", "Distiller"),
    "teacher_outputs": ("keras_supcrd.cached_teacher", "teacher_outputs"),
    "layers": ("keras_supcrd.layers", None),
    "losses": ("keras_supcrd.losses", None),
    "schedules": ("keras_supcrd.schedules", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'keras_supcrd' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = importlib.import_module(module)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
