"""The comparison behind `keras-supcrd compare`: one teacher, one student
per method and seed, the same data and budget for all."""

import dataclasses
import hashlib
import json
import os
import time

import keras
import numpy as np

from keras_supcrd import geometry
from keras_supcrd import models
from keras_supcrd._views import feature_view
from keras_supcrd.datasets import load_fashion_mnist
from keras_supcrd.distiller import Distiller


@dataclasses.dataclass
class Settings:
    """Everything a comparison depends on (written to results.json)."""

    methods: tuple = ("ce", "kd", "lw-supcrd")
    seeds: int = 1
    epochs: int = 8
    teacher_epochs: int = 6
    batch_size: int = 128
    memory_size: int = 4096
    embedding_dim: int = 64
    alpha: float = 1.0
    beta: float = 8.0
    temperature: float = 0.07
    kd_temperature: float = 4.0
    learning_rate: float = 2e-3
    data_fraction: float = 0.2
    data_dir: str = None
    output: str = "runs/compare"


def stratified_fraction(labels, fraction, seed=0):
    """Indices of `fraction` of each class, in random order."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = max(1, int(round(fraction * len(members))))
        keep.append(rng.choice(members, count, replace=False))
    return rng.permutation(np.concatenate(keep))


def prepare_data(settings):
    (x_train, y_train), (x_test, y_test), names = load_fashion_mnist(
        data_dir=settings.data_dir)
    keep = stratified_fraction(y_train, settings.data_fraction)
    def scale(x):
        return (x.astype("float32") / 255.0)[..., None]
    return (scale(x_train[keep]), y_train[keep].astype("int32"),
            scale(x_test), y_test.astype("int32"), names)


def _cross_entropy():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def teacher_for(settings, x, y, num_classes):
    """Trains the teacher, or reuses the one cached for these settings."""
    key = json.dumps([settings.data_fraction, settings.teacher_epochs,
                      settings.batch_size, settings.learning_rate,
                      list(x.shape), settings.data_dir])
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    path = os.path.join(settings.output, f"teacher-{digest}.keras")
    if os.path.exists(path):
        print(f"Reusing the cached teacher {path}")
        return keras.saving.load_model(path), None
    keras.utils.set_random_seed(1234)
    teacher = models.resnet_teacher(x.shape[1:], num_classes)
    teacher.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                    loss=_cross_entropy(), metrics=["accuracy"])
    start = time.perf_counter()
    teacher.fit(x, y, batch_size=settings.batch_size,
                epochs=settings.teacher_epochs, verbose="auto")
    seconds = (time.perf_counter() - start) / settings.teacher_epochs
    teacher.save(path)
    return teacher, seconds


def features_and_logits(model, x, batch_size):
    view = feature_view(model, None, "model")
    features, logits = view.model.predict(x, batch_size=batch_size,
                                          verbose=0)
    return features, logits


def evaluate(model, x, y, num_classes, teacher_similarity, batch_size):
    features, logits = features_and_logits(model, x, batch_size)
    similarity = geometry.class_similarity(features, y, num_classes)
    return {
        "accuracy": float(np.mean(np.argmax(logits, -1) == y)),
        "geometry": geometry.semantic_geometry_score(teacher_similarity,
                                                     similarity),
        "similarity": similarity.tolist(),
    }


def train_student(settings, make_losses, teacher, x, y, num_classes, seed):
    """One student for one method and seed; returns it and its history."""
    keras.utils.set_random_seed(seed)
    student = models.small_cnn_student(x.shape[1:], num_classes)
    losses = make_losses(settings)
    if losses:
        model = Distiller(teacher, student, losses,
                          embedding_dim=settings.embedding_dim,
                          memory_size=settings.memory_size)
    else:
        model = student
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate),
                  loss=_cross_entropy(), metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=settings.batch_size,
                        epochs=settings.epochs, verbose="auto")
    seconds = (time.perf_counter() - start) / settings.epochs
    return student, history.history, seconds


def summarize(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "values": values.tolist()}


def run(settings, method_table):
    """Runs the comparison and returns the results dict.

    Args:
        settings: a `Settings`.
        method_table: name -> callable(settings) returning the list of
            distillation losses (empty for the student alone).
    """
    os.makedirs(settings.output, exist_ok=True)
    x, y, x_test, y_test, names = prepare_data(settings)
    num_classes = len(names)
    teacher, teacher_seconds = teacher_for(settings, x, y, num_classes)
    t_features, t_logits = features_and_logits(teacher, x_test,
                                               settings.batch_size)
    t_similarity = geometry.class_similarity(t_features, y_test, num_classes)
    results = {
        "settings": dataclasses.asdict(settings),
        "backend": keras.backend.backend(),
        "class_names": names,
        "train_size": int(len(x)),
        "test_size": int(len(x_test)),
        "teacher": {
            "accuracy": float(np.mean(np.argmax(t_logits, -1) == y_test)),
            "seconds_per_epoch": teacher_seconds,
            "similarity": t_similarity.tolist(),
        },
        "methods": {},
    }
    for name in settings.methods:
        runs = []
        for seed in range(settings.seeds):
            print(f"== {name}, seed {seed}")
            student, history, seconds = train_student(
                settings, method_table[name], teacher, x, y, num_classes,
                seed)
            scores = evaluate(student, x_test, y_test, num_classes,
                              t_similarity, settings.batch_size)
            runs.append({**scores, "seconds_per_epoch": seconds,
                         "history": history})
        results["methods"][name] = {
            "accuracy": summarize([r["accuracy"] for r in runs]),
            "geometry": summarize([r["geometry"] for r in runs]),
            "seconds_per_epoch": summarize(
                [r["seconds_per_epoch"] for r in runs]),
            "teacher_confidence": [
                r["history"].get("teacher_confidence") for r in runs],
            "similarity": runs[0]["similarity"],
            "runs": [{k: v for k, v in r.items() if k != "similarity"}
                     for r in runs],
        }
    return results
