"""What the multi-process scripts share: the Distiller, the data, a shard
per process, and the file each process writes."""

import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from models import classifier, data, sparse_ce  # noqa: E402

from keras_supcrd import Distiller, losses  # noqa: E402

GLOBAL_BATCH = 16
KEYS = ("loss", "student_loss", "lw_supcrd", "crd", "kd")


def make(memory_size):
    keras.utils.set_random_seed(0)
    distiller = Distiller(
        classifier(16, name="teacher"),
        classifier(8, name="student", seed=5),
        [losses.LogitWeightedSupCRD(), losses.CRD(), losses.KD()],
        embedding_dim=4, memory_size=memory_size)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05),
                      loss=sparse_ce())
    return distiller


def shard(rank, world):
    """Process `rank`'s rows: its slice of every global batch, in order,
    for `fit(batch_size=GLOBAL_BATCH // world, shuffle=False)`."""
    x, y = data(2 * GLOBAL_BATCH, seed=4)
    local = GLOBAL_BATCH // world
    index = np.arange(len(x)).reshape(-1, world, local)[:, rank].ravel()
    return x[index], y[index]


def _on_batches(distiller, x, y, batch_size):
    """`train_on_batch` on numpy slices, as a user's own loop calls it;
    the history holds each step's logs."""
    steps = [distiller.train_on_batch(x[i:i + batch_size],
                                      y[i:i + batch_size], return_dict=True)
             for i in range(0, len(x), batch_size)]
    return {k: [step[k] for step in steps] for k in KEYS}


def train_and_save(distiller, x, y, batch_size, path, on_batch=False):
    """Two steps (by `fit`, or by `train_on_batch` on numpy arrays); writes
    the logged losses, weights and bank to `path`."""
    initial = [np.array(w) for w in distiller.get_weights()]
    if on_batch:
        history = _on_batches(distiller, x, y, batch_size)
    else:
        history = distiller.fit(x, y, batch_size=batch_size, shuffle=False,
                                verbose=0).history
    weights = distiller.get_weights()
    out = {f"history_{k}": np.array(history[k]) for k in KEYS}
    out.update({f"weight_{i}": np.array(w) for i, w in enumerate(weights)})
    out["student_changed"] = np.array(any(
        not np.array_equal(a, np.array(w)) for v, a, w in
        zip(distiller.weights, initial, weights)
        if v.path.startswith("student")))
    if distiller.memory_bank is not None:
        out["bank_labels"] = np.array(distiller.memory_bank.labels)
        out["bank_features"] = np.array(distiller.memory_bank.features)
    np.savez(path, **out)
