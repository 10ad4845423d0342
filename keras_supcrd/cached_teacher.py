"""The frozen teacher's features and logits, computed once for `fit`."""

import hashlib
import os

import keras
import numpy as np

from keras_supcrd.views import feature_view

INPUTS = "inputs"
FEATURES = "teacher_features"
LOGITS = "teacher_logits"


def is_cached(x):
    """Whether `x` is a batch of `teacher_outputs`, not plain inputs."""
    return isinstance(x, dict) and LOGITS in x


def _cache_key(teacher, x, teacher_feature_layer):
    digest = hashlib.sha256()
    arrays = keras.tree.flatten(x)
    digest.update(repr((teacher_feature_layer,
                        [(a.shape, str(a.dtype)) for a in arrays])).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    for variable in teacher.weights:
        digest.update(variable.path.encode())
        digest.update(np.ascontiguousarray(
            keras.ops.convert_to_numpy(variable)).data)
    return digest.hexdigest()[:20]


def teacher_outputs(teacher, x, *, teacher_feature_layer=None,
                    batch_size=256, cache_dir=None, verbose="auto"):
    """Runs the frozen teacher over `x` once; `Distiller.fit` trains from it.

    When the training inputs are fixed (no augmentation), the teacher's
    features and logits are the same at every epoch. Passing the returned
    dict to `fit` in place of `x` skips the teacher at every step, so a
    step costs the student's step plus the heads and losses. The outputs
    travel in the same batches as the inputs they belong to, so shuffling
    keeps them aligned. A consistent Distiller with `augment` or `mixup`
    refuses them: its teacher must see the augmented batch. One built with
    `consistent=False` teaches from them (the clean view).

    Args:
        teacher: the trained teacher classifier (the Distiller's).
        x: the training inputs: a numpy array, or a dict of them for a
            model with several inputs (KerasHub's text classifiers).
        teacher_feature_layer: as in `Distiller`.
        batch_size: batch size of the teacher's inference pass.
        cache_dir: optional folder; the outputs are stored there under a
            key of the teacher's weights, `x` and the feature layer, and a
            later call with the same three loads them instead.
        verbose: progress bar, as in `keras.Model.predict`.

    Returns:
        `{"inputs": x, "teacher_features": (N, d) float32,
        "teacher_logits": (N, C) float32}`, for `fit(outputs, y, ...)`;
        `evaluate` and `predict` accept it too.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_supcrd import Distiller, teacher_outputs
    from keras_supcrd.losses import KD

    def classifier(width):
        return keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(3, name="predictions"),
        ])

    teacher = classifier(32)
    x = np.random.rand(32, 8).astype("float32")
    y = np.random.randint(0, 3, size=32)
    cached = teacher_outputs(teacher, x, verbose=0)
    distiller = Distiller(teacher, classifier(8), KD())
    distiller.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
    history = distiller.fit(cached, y, epochs=2, verbose=0)
    ```
    """
    x = keras.tree.map_structure(np.asarray, x)
    path = None
    if cache_dir is not None:
        key = _cache_key(teacher, x, teacher_feature_layer)
        path = os.path.join(cache_dir, f"teacher-outputs-{key}.npz")
        if os.path.exists(path):
            with np.load(path) as stored:
                return {INPUTS: x, FEATURES: stored[FEATURES],
                        LOGITS: stored[LOGITS]}
    view = feature_view(teacher, teacher_feature_layer, "teacher")
    features, logits = view.predict(x, batch_size=batch_size,
                                    verbose=verbose)
    outputs = {INPUTS: x, FEATURES: np.asarray(features, "float32"),
               LOGITS: np.asarray(logits, "float32")}
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        partial = path + ".partial.npz"  # never a half-written cache entry
        np.savez(partial, **{k: outputs[k] for k in (FEATURES, LOGITS)})
        os.replace(partial, path)
    return outputs
