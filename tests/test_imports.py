"""`import keras_supcrd` pulls in no backend framework and not keras_cv."""

import json
import os
import subprocess
import sys

import pytest

import keras_supcrd

CHECK = """
import json, sys, types
import keras  # brings the backend's own framework, which we may use
before = set(sys.modules)
import keras_supcrd
import keras_supcrd.losses
import keras_supcrd.app.cli
ours = set(sys.modules) - before
# The control: a heavy module appearing after the snapshot must be seen.
sys.modules["keras_cv_control"] = types.ModuleType("keras_cv_control")
control = set(sys.modules) - before
heavy = ("tensorflow", "jax", "torch", "keras_cv", "keras_cv_control")
print(json.dumps([sorted(m for m in found if m.split(".")[0] in heavy)
                  for found in (ours, control)]))
"""


def test_import_adds_no_backend_module():
    out = subprocess.run([sys.executable, "-c", CHECK], env=dict(os.environ),
                         capture_output=True, text=True, check=True)
    ours, control = json.loads(out.stdout.strip().splitlines()[-1])
    assert ours == []
    assert control == ["keras_cv_control"]  # the check can fail


@pytest.mark.backend_independent
def test_package_has_no_backend_import_outside_backend_dir():
    root = os.path.dirname(keras_supcrd.__file__)
    for folder, _, files in os.walk(root):
        if os.path.basename(folder) == "backend":
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            text = open(os.path.join(folder, name)).read()
            # keras_cv may be imported lazily (models.py); the subprocess
            # test above checks that `import keras_supcrd` does not.
            for lib in ("tensorflow", "jax", "torch"):
                assert f"import {lib}" not in text, (name, lib)
                assert f"from {lib}" not in text, (name, lib)


# Base classes, never saved themselves.
BASES = ("DistillationLoss", "SeededLayer", "ImageLayer")
# A saved object is one of these: what `keras.saving.load_model` rebuilds.
SAVED_KINDS = ("Layer", "Loss", "Model")


def _keras_classes():
    """Every public Layer, Loss or Model class the library defines, found by
    walking its modules (the ones `import keras_supcrd` imports)."""
    import importlib
    import inspect

    import keras

    kinds = (keras.layers.Layer, keras.losses.Loss, keras.Model)
    for module_name in keras_supcrd._library_modules():
        module = importlib.import_module(module_name)
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and cls.__module__ == module_name
                    and issubclass(cls, kinds) and not name.startswith("_")
                    and name not in BASES):
                yield cls


def test_every_keras_class_is_registered_and_loads_after_a_bare_import():
    import keras

    classes = list(_keras_classes())
    assert {"Distiller", "LogitWeightedSupCRD", "MemoryBank",
            "RandomResizedCrop"} <= {c.__name__ for c in classes}
    names = {}
    for cls in classes:
        registered = keras.saving.get_registered_name(cls)
        assert registered == f"keras_supcrd>{cls.__name__}", (
            f"{cls.__module__}.{cls.__name__} is not registered: decorate it "
            "with @keras.saving.register_keras_serializable("
            "package=\"keras_supcrd\"), or keras.saving.load_model cannot "
            "rebuild a file that holds it")
        names[registered] = cls.__name__
    # In a process that only imported us: what load_model looks up first,
    # then a loss and a layer rebuilt from their saved configs.
    objects = [keras_supcrd.losses.SoftSupCRD(lam=0.25),
               keras_supcrd.layers.RandomResizedCrop(scale=(0.3, 1.0))]
    configs = [keras.saving.serialize_keras_object(o) for o in objects]
    code = ("import json, sys, keras, keras_supcrd\n"
            "names, configs = json.loads(sys.argv[1])\n"
            "found = {n: getattr(keras.saving.get_registered_object(n), "
            "'__name__', None) for n in names}\n"
            "loss, crop = (keras.saving.deserialize_keras_object(c)\n"
            "              for c in configs)\n"
            "print(json.dumps([found, loss.lam, list(crop.scale)]))")
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([list(names), configs])],
        env=dict(os.environ), capture_output=True, text=True, check=True)
    found, lam, scale = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == names
    assert (lam, scale) == (0.25, [0.3, 1.0])
