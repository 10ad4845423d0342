"""A user's own `.keras` teacher and student: loaded with clear errors,
the teacher turned into a logits model."""

import importlib.util
import os
import zipfile

import keras
import numpy as np

from keras_supcrd.app.userdata import InputError

CUSTOM_OBJECTS_HINT = (
    "pass --custom-objects FILE.py, a Python file that defines them "
    "decorated with @keras.saving.register_keras_serializable()")


def import_custom_objects(path):
    """Runs the Python file `path`, so that the Keras classes it registers
    can be deserialised."""
    if not os.path.isfile(path):
        raise InputError(f"--custom-objects {path}: no such file.")
    spec = importlib.util.spec_from_file_location("keras_supcrd_user", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def load(path, argument):
    """The model saved at `path` (uncompiled); `argument` names the flag
    in every error."""
    if not os.path.isfile(path):
        raise InputError(f"{argument} {path}: no such file.")
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise InputError(
            f"{argument} {path}: not a Keras model file (a `.keras` file "
            "written by model.save('name.keras')).")
    try:
        return keras.saving.load_model(path, compile=False)
    except TypeError as error:
        if "Could not locate" not in str(error):
            raise
        first = str(error).split(".")[0]
        raise InputError(f"{argument} {path} needs custom objects ({first}"
                         f"); {CUSTOM_OBJECTS_HINT}.") from None
    except Exception as error:
        raise InputError(f"{argument} {path}: Keras cannot load it "
                         f"({type(error).__name__}: {error}).") from None


def _is_softmax(function):
    return getattr(function, "__name__", None) == "softmax"


def as_logits(teacher):
    """`(model, outputs)`: `teacher` producing logits, and what it
    produced ("logits", or "probabilities" when its final softmax was
    removed). The losses need logits; taking the log of probabilities
    would lose the classes whose probability underflowed to 0."""
    last = teacher.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation)
            and _is_softmax(last.activation)):
        return keras.Model(teacher.inputs, last.input,
                           name=teacher.name), "probabilities"
    if _is_softmax(getattr(last, "activation", None)):
        # The loaded copy is ours: its final layer now returns the logits.
        last.activation = keras.activations.linear
        return teacher, "probabilities"
    return teacher, "logits"


def check_logits(outputs, argument="--teacher"):
    """Refuses outputs that look like probabilities from a softmax that
    `as_logits` could not find (inside a custom layer, say)."""
    outputs = np.asarray(outputs, "float64")
    if np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1, atol=1e-3):
        raise InputError(
            f"{argument}: its outputs sum to 1 like probabilities, but its "
            "last layer is not a softmax that can be removed; save the "
            "model with logits out (activation=None on its final layer).")


def check_pair(teacher, student, num_classes):
    """The student must read the teacher's inputs and have its outputs."""
    if tuple(student.input_shape[1:]) != tuple(teacher.input_shape[1:]):
        raise InputError(
            f"--student reads inputs of shape {student.input_shape[1:]}, "
            f"the teacher {teacher.input_shape[1:]}; they must be the same.")
    width = student.output_shape[-1]
    if width != num_classes:
        raise InputError(f"--student has {width} outputs, the teacher "
                         f"{num_classes}; they must be the same classes.")
