"""`distill --export FORMAT`: the student in Keras's export formats, each
artifact loaded back with its own runtime and compared with the student
on validation images before the command reports success.

Exports run in a child process under the TensorFlow backend, whatever
the run's backend (`student.keras` loads on any): with Keras 3.15,
`tf_saved_model` fails under PyTorch (torch.export: "Detected mismatch
between the structure of `inputs` and `dynamic_shapes`"), `litert` is
refused under JAX, and each format's runtime here (TensorFlow,
TensorFlow Lite, tf2onnx with ONNX Runtime) needs TensorFlow anyway.

Usage (the child): python -m keras_supcrd.app.export STUDENT.keras
    CHECK.npz FOLDER FORMAT [FORMAT ...]
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from keras_supcrd.app.userdata import InputError

# format -> (file or folder in --output, modules it needs)
FORMATS = {
    "tf_saved_model": ("student_saved_model", ("tensorflow",)),
    "litert": ("student.tflite", ("tensorflow",)),
    "onnx": ("student.onnx", ("tensorflow", "tf2onnx", "onnxruntime")),
}
# An artifact passes when its outputs are within this of the student's,
# relative to the largest logit (float32 kernels of another runtime).
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """An export failed or its artifact disagrees with the student."""


def check_formats(formats):
    """Refuses, before training, a format Keras has no exporter for or
    whose runtime is not installed, naming what to install."""
    for name in formats:
        if name not in FORMATS:
            raise InputError(f"--export {name}: choose from "
                             f"{', '.join(FORMATS)}.")
        missing = [m for m in FORMATS[name][1]
                   if importlib.util.find_spec(m) is None]
        if missing:
            raise InputError(
                f"--export {name} needs {', '.join(missing)}: pip install "
                "'keras-supcrd[export]' (TensorFlow, tf2onnx, ONNX "
                "Runtime).")


def export(student_path, x, expected, folder, formats):
    """Exports `student_path` in each of `formats` into `folder` and checks
    each artifact's outputs on `x` against `expected` (the student's).

    Returns:
        `{format: {"path", "max_abs_diff"}}`.

    Raises:
        ExportError: an export failed, or an artifact's outputs differ
            from the student's by more than `TOLERANCE` (relative).
    """
    with tempfile.TemporaryDirectory() as scratch:
        check = os.path.join(scratch, "check.npz")
        np.savez(check, x=x, expected=expected)
        result = subprocess.run(
            [sys.executable, "-m", "keras_supcrd.app.export", student_path,
             check, folder, *formats], capture_output=True, text=True,
            env={**os.environ, "KERAS_BACKEND": "tensorflow",
                 "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        raise ExportError(f"--export {' '.join(formats)} failed:\n"
                          f"{result.stderr[-3000:]}")
    checked = json.loads(result.stdout.strip().splitlines()[-1])
    scale = max(1.0, float(np.max(np.abs(expected))))
    for name, row in checked.items():
        if not row["max_abs_diff"] <= TOLERANCE * scale:
            raise ExportError(
                f"--export {name}: {row['path']} gives outputs up to "
                f"{row['max_abs_diff']:.3g} away from student.keras on "
                f"validation images (allowed {TOLERANCE * scale:.3g}).")
    return checked


def main(argv):
    import keras

    from keras_supcrd.backend import runtimes

    run = {"tf_saved_model": runtimes.saved_model, "litert": runtimes.litert,
           "onnx": runtimes.onnx}
    student_path, check, folder, *formats = argv
    student = keras.saving.load_model(student_path, compile=False)
    with np.load(check) as arrays:
        x, expected = arrays["x"], arrays["expected"]
    checked = {}
    for name in formats:
        path = os.path.join(folder, FORMATS[name][0])
        student.export(path, format=name, verbose=False)
        outputs = np.asarray(run[name](path, x), "float64")
        checked[name] = {"path": path, "max_abs_diff": float(
            np.max(np.abs(outputs - expected)))}
    print(json.dumps(checked))


if __name__ == "__main__":
    main(sys.argv[1:])
