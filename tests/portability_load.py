"""Loads a saved Distiller and student on this process's backend (own
process): checks predictions and bank, then fits once more.

Usage: KERAS_BACKEND=... python portability_load.py DIR SOURCE_BACKEND
"""

import json
import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402,F401  (registers the test layers)

import keras_supcrd  # noqa: E402,F401  (registers the package objects)

folder, source = sys.argv[1], sys.argv[2]
saved = np.load(os.path.join(folder, "expected.npz"))
path = os.path.join(folder, "distiller.keras")
if source == "torch" and keras.backend.backend() != "torch":
    # Keras restores a torch-saved optimizer as a torch optimizer; the
    # documented path: load without it, compile afresh (weights and bank
    # are kept, the optimizer's moments start again).
    distiller = keras.saving.load_model(path, compile=False)
    distiller.compile(optimizer="adam", loss=keras.losses.
                      SparseCategoricalCrossentropy(from_logits=True))
else:
    distiller = keras.saving.load_model(path)
student = keras.saving.load_model(os.path.join(folder, "student.keras"))
if keras.backend.backend() == "torch":
    # A JAX or TensorFlow config keeps `jit_compile=True` (XLA there); on
    # torch that means torch.compile, 100 s of compiling on 2 cores for a
    # check of weights and losses.
    distiller.jit_compile = student.jit_compile = False
x, y = saved["x"], saved["y"]
report = {
    "predict": float(np.max(np.abs(
        distiller.predict(x, verbose=0) - saved["logits"]))),
    "student": float(np.max(np.abs(
        student.predict(x, verbose=0) - saved["logits"]))),
    "bank_equal": bool(np.array_equal(
        keras.ops.convert_to_numpy(distiller.memory_bank.labels),
        saved["bank_labels"])),
}
history = distiller.fit(x, y, batch_size=8, verbose=0).history
report["loss"] = float(history["loss"][0])
print(json.dumps(report))
