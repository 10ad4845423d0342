"""Two training steps on one device and on two, compared (own process).

Usage: python one_vs_two_devices.py tensorflow|jax MEMORY_SIZE[,MEMORY_SIZE...]
Prints one JSON line: for each memory size, both runs' logged losses and
the largest differences in weights and bank contents.
"""

import contextlib
import json
import os
import sys

BACKEND, SIZES = sys.argv[1], [int(m) for m in sys.argv[2].split(",")]
os.environ["KERAS_BACKEND"] = BACKEND
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from models import classifier, data, sparse_ce  # noqa: E402

from keras_supcrd import Distiller, losses  # noqa: E402

GLOBAL_BATCH = 16


def make(memory):
    distiller = Distiller(
        classifier(16, name="teacher"), classifier(8, name="student", seed=5),
        [losses.LogitWeightedSupCRD(), losses.CRD(), losses.KD()],
        embedding_dim=4, memory_size=memory)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5), loss=sparse_ce())
    return distiller


def run(distiller, initial):
    distiller.set_weights(initial)
    x, y = data(2 * GLOBAL_BATCH, seed=4)
    history = distiller.fit(x, y, batch_size=GLOBAL_BATCH, shuffle=False,
                            verbose=0).history
    return history, [np.array(w) for w in distiller.get_weights()]


@contextlib.contextmanager
def two_devices():
    if BACKEND == "tensorflow":
        strategy = tf.distribute.MirroredStrategy(
            [d.name for d in tf.config.list_logical_devices("CPU")])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            yield
        return
    devices = keras.distribution.list_devices()
    assert len(devices) == 2, devices
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices))
    yield
    keras.distribution.set_distribution(None)


def bank_labels(distiller):
    return (np.array(distiller.memory_bank.labels).tolist()
            if distiller.memory_bank is not None else None)


def compare(memory):
    one = make(memory)
    initial = [np.array(w) for w in one.get_weights()]
    history_1, weights_1 = run(one, initial)
    with two_devices():
        two = make(memory)
        history_2, weights_2 = run(two, initial)
    names = [w.path for w in one.weights]
    diffs = {n: float(np.max(np.abs(a.astype("float64") - b)))
             for n, a, b in zip(names, weights_1, weights_2) if a.size}
    return {
        "history_1": history_1, "history_2": history_2,
        "max_weight_diff": max(diffs.values()),
        "worst_weight": max(diffs, key=diffs.get),
        "bank_labels_1": bank_labels(one), "bank_labels_2": bank_labels(two),
        # The student's own weights, not the bank or the heads.
        "student_changed": bool(any(
            not np.array_equal(a, b) for w, a, b in
            zip(one.weights, initial, weights_1)
            if w.path.startswith("student"))),
    }


# Every size in one process: TensorFlow's and JAX's import once.
print(json.dumps({str(m): compare(m) for m in SIZES}))
