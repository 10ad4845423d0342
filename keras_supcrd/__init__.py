"""keras_supcrd: contrastive knowledge distillation for Keras 3."""

import importlib
import os
import pkgutil
import sys

__version__ = "0.1.0"

__all__ = ["Distiller", "feature_view", "layers", "losses", "schedules",
           "teacher_outputs"]

_LAZY = {
    "Distiller": ("keras_supcrd.distiller", "Distiller"),
    "teacher_outputs": ("keras_supcrd.cached_teacher", "teacher_outputs"),
    "feature_view": ("keras_supcrd.views", "feature_view"),
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


def _library_modules():
    """Every module of the library, found by walking the package (the
    application and the backend steps apart): nothing to list by hand."""
    root = os.path.dirname(__file__)
    for info in pkgutil.iter_modules([root]):
        if info.name in ("app", "backend", "__main__"):
            continue
        yield f"{__name__}.{info.name}"
        if info.ispkg:
            for sub in pkgutil.iter_modules([os.path.join(root, info.name)]):
                yield f"{__name__}.{info.name}.{sub.name}"


def _register_all():
    """Imports every library module, registering each of its Keras objects.

    `keras.saving.load_model` finds a saved `Distiller`, loss or layer by
    its registered name; `import keras_supcrd` calls this, so a file saved
    with any of them loads after it. (The command calls it after parsing
    its arguments, so that `--help` imports no framework.)
    """
    for module in _library_modules():
        importlib.import_module(module)


def _started_as_the_command():
    """`[python [options]] keras-supcrd ...` or `python [options] -m
    keras_supcrd ...`: the interpreter's first non-option argument."""
    args = iter(getattr(sys, "orig_argv", ())[1:])
    for arg in args:
        if arg in ("-X", "-W"):  # options with a value
            next(args, None)
        elif arg == "-m":
            return next(args, None) == "keras_supcrd"
        elif not arg.startswith("-"):
            return os.path.basename(arg) == "keras-supcrd"
        elif arg == "-c":
            return False
    return False


# `keras-supcrd --help` and its argument errors answer without starting a
# backend framework: the command registers the library after parsing
# (`_register_all`), and its names load on first use (PEP 562). Any other
# import registers everything at once.
if not _started_as_the_command():
    _register_all()
