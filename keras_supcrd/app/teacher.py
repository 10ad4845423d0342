"""The study's teacher: trained once, cached by everything it depends on."""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_supcrd.app import models
from keras_supcrd.app.datasets import content_digest
from keras_supcrd.app.plan import Recipe  # noqa: F401 (the teacher's API)


def cache_dir():
    """`$KERAS_SUPCRD_CACHE`, else `$XDG_CACHE_HOME/keras_supcrd`, else
    `~/.cache/keras_supcrd`."""
    if os.environ.get("KERAS_SUPCRD_CACHE"):
        return os.environ["KERAS_SUPCRD_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras_supcrd")


def build(recipe, input_shape, num_classes):
    keras.utils.set_random_seed(recipe.seed)
    return models.cnn_teacher(input_shape, num_classes, width=recipe.width)


def cache_key(recipe, model, x, y):
    """Digest of the architecture's config, the training data's content and
    the recipe (seed included): any change gives another teacher."""
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    parts = [config, content_digest(x, y),
             json.dumps(dataclasses.asdict(recipe), sort_keys=True)]
    return content_digest(np.frombuffer("\n".join(parts).encode(), np.uint8))


def train(recipe, model, x, y):
    steps = recipe.epochs * -(-len(x) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate,
                                                      steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True), metrics=["accuracy"])
    model.fit(x, y, batch_size=recipe.batch_size, epochs=recipe.epochs,
              verbose=2)


def load_or_train(recipe, x, y, num_classes, folder=None):
    """The cached teacher for `(recipe, architecture, x, y)`, or a new one.

    The `.keras` file loads under every backend; a JSON file beside it
    records the recipe and how long the training took.

    Returns:
        `(teacher, info)`, `info` with `path`, `cached` and
        `seconds_per_epoch` (of the run that trained it).
    """
    folder = folder or cache_dir()
    model = build(recipe, x.shape[1:], num_classes)
    key = cache_key(recipe, model, x, y)[:20]
    path = os.path.join(folder, f"teacher-{key}.keras")
    meta_path = path[:-len(".keras")] + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        print(f"Reusing the cached teacher {path}", flush=True)
        with open(meta_path) as f:
            meta = json.load(f)
        return keras.saving.load_model(path), {**meta, "cached": True}
    print(f"Training the teacher ({recipe}); it is cached in {path}",
          flush=True)
    start = time.perf_counter()
    train(recipe, model, x, y)
    meta = {"path": path, "recipe": dataclasses.asdict(recipe),
            "backend": keras.backend.backend(),
            "seconds_per_epoch": (time.perf_counter() - start)
            / recipe.epochs}
    os.makedirs(folder, exist_ok=True)
    model.save(path + ".partial.keras")  # never a half-written cache entry
    os.replace(path + ".partial.keras", path)
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    return model, {**meta, "cached": False}
