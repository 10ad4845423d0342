"""A user's files, made by the tests: a folder of small PNG images in class
subfolders and a tiny trained teacher saved as `.keras`."""

import os

import keras
import numpy as np
from PIL import Image

CLASSES = ("circle", "square", "stripe")
SIZE = 12


def images(n_per_class, seed=0):
    """`(x uint8 (N, SIZE, SIZE), y)`: class `c` has a bright patch in
    its own third of the image, on noise, so a tiny teacher learns it."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for label in range(len(CLASSES)):
        for _ in range(n_per_class):
            image = rng.integers(0, 60, (SIZE, SIZE))
            band = slice(4 * label, 4 * label + 4)
            image[band, 2:10] += rng.integers(120, 195)
            x.append(image.astype("uint8"))
            y.append(label)
    return np.stack(x), np.array(y, "int32")


def write_folder(folder, n_per_class, seed=0):
    """Writes `folder/<class>/<i>.png`; returns `(x, y)` as written."""
    x, y = images(n_per_class, seed)
    for i, (image, label) in enumerate(zip(x, y)):
        path = os.path.join(folder, CLASSES[label])
        os.makedirs(path, exist_ok=True)
        Image.fromarray(image, mode="L").save(os.path.join(path, f"{i}.png"))
    return x, y


def save_teacher(path, x, y, softmax=False, epochs=30):
    """Trains a small CNN on `x / 255` and saves it to `path`."""
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([
        keras.Input((SIZE, SIZE, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(len(CLASSES),
                           activation="softmax" if softmax else None),
    ])
    teacher.compile(optimizer=keras.optimizers.Adam(1e-2),
                    loss=keras.losses.SparseCategoricalCrossentropy(
                        from_logits=not softmax), metrics=["accuracy"])
    teacher.fit(x[..., None] / 255.0, y, epochs=epochs, batch_size=32,
                verbose=0)
    teacher.save(path)
    return teacher
