"""A bad batch under MirroredStrategy with two logical CPUs (own process).

Usage: python bad_batch_two_replicas.py
Fits one good batch, then a batch whose second replica's half holds an inf
input (or an out-of-range label, or nothing bad, as the control): prints one JSON line saying which error
`fit` raised and whether every variable (weights, BatchNorm statistics,
optimizer state, bank) kept its value after the good batch.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from models import classifier, data, sparse_ce  # noqa: E402

from keras_supcrd import Distiller, losses  # noqa: E402

BATCH = 16


def state(distiller):
    variables = distiller.variables + distiller.optimizer.variables
    return {v.path: np.array(v.numpy()) for v in variables}


def run(poison):
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")])
    with strategy.scope():
        distiller = Distiller(
            classifier(16, name="teacher"),
            classifier(8, batch_norm=True, name="student", seed=5),
            [losses.LogitWeightedSupCRD(), losses.KD()],
            embedding_dim=4, memory_size=24)
        distiller.compile(optimizer=keras.optimizers.Adam(0.01),
                          loss=sparse_ce())
    x, y = data(2 * BATCH, seed=4)
    distiller.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, verbose=0)
    before = state(distiller)
    x, y = x[BATCH:].copy(), y[BATCH:].copy()
    poison(x, y)  # the row lands in the second replica's half
    try:
        distiller.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)
        error = None
    except (ValueError, FloatingPointError) as e:
        error = f"{type(e).__name__}: {e}"
    after = state(distiller)
    changed = sorted(k for k in before
                     if not np.array_equal(before[k], after[k],
                                           equal_nan=True))
    return {"error": error, "changed": changed}


def nan_input(x, y):
    # An inf, not a NaN: inside TensorFlow's compiled step on this AVX-512
    # CPU, a NaN input gave the teacher finite logits (Dense + ReLU, which
    # TensorFlow fuses into one oneDNN kernel; eager ReLU keeps the NaN), so
    # no loss ever saw it. An inf survives: BatchNorm makes it inf - inf.
    x[BATCH - 1, 0] = np.inf


def bad_label(x, y):
    y[BATCH - 1] = 7


print(json.dumps({"clean": run(lambda x, y: None),
                  "nan_input": run(nan_input), "bad_label": run(bad_label)}))
