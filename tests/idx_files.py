"""Writes small Fashion-MNIST-shaped IDX files for the loader tests."""

import gzip
import os

import numpy as np

from keras_supcrd.app.datasets import FILES


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_set(folder, n_train=60, n_test=30, seed=0, classes=10):
    """Class-dependent images so a model can learn something."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 60, size=(n, 28, 28))
        for c in range(classes):  # a bright bar per class
            x[y == c, 2 * c:2 * c + 3, :] += 180
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x.astype(np.uint8), y
    for key, name in FILES.items():
        with gzip.open(os.path.join(folder, name), "wb") as f:
            f.write(idx_bytes(arrays[key]))
    return arrays
