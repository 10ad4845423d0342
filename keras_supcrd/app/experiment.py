"""The study behind `keras-supcrd compare`: one cached teacher, one student
per method and seed, settings chosen on a validation split, the test set
used once per reported number."""

import dataclasses
import hashlib
import json
import os
import time

import keras
import numpy as np

from keras_supcrd import Distiller
from keras_supcrd import feature_view
from keras_supcrd import teacher_outputs
from keras_supcrd.app import batches
from keras_supcrd.app import geometry
from keras_supcrd.app import stats
from keras_supcrd.app import teacher as teachers
from keras_supcrd.app import training
from keras_supcrd.app import usermodels
from keras_supcrd.app import usersource
from keras_supcrd.app.datasets import load_fashion_mnist
from keras_supcrd.app.datasets import stratified_split
from keras_supcrd.app.plan import Augmentation
from keras_supcrd.app.plan import Method  # noqa: F401 (the study's API)
from keras_supcrd.app.plan import Settings
from keras_supcrd.app.plan import combine  # noqa: F401
from keras_supcrd.app.plan import with_chosen_parts
from keras_supcrd.app.sources import Arrays
from keras_supcrd.app.sources import Data


def prepare_data(settings):
    """Fashion-MNIST as a `Data` of arrays in memory, images in [0, 1]
    with a channel axis; the validation split is stratified."""
    (x_all, y_all), (x_test, y_test), names = load_fashion_mnist(
        data_dir=settings.data_dir)
    train, val = stratified_split(y_all, settings.validation_size)

    def scale(x):
        return (x.astype("float32") / 255.0)[..., None]

    return Data(Arrays(scale(x_all[train]), y_all[train]),
                Arrays(scale(x_all[val]), y_all[val]),
                Arrays(scale(x_test), y_test), names,
                "Fashion-MNIST's test split")


def load_teacher(settings, data):
    """The cached teacher of `settings` for `data` (trained on its first
    use); returns `(teacher, info)` as `teacher.load_or_train` does."""
    x, y = data.train.arrays()
    recipe = teachers.Recipe(epochs=settings.teacher_epochs,
                             width=settings.teacher_width)
    return teachers.load_or_train(recipe, x, y, len(data.class_names),
                                  settings.cache_dir)


# What a student run does not depend on: which other methods and how many
# seeds the study has, whether it tunes, and where it writes.
_NOT_IN_RUN_KEY = ("methods", "seeds", "tune", "output", "cache_dir",
                   "data_dir", "workers", "devices")


def _code_digest():
    """A digest of the package's source: another loss kernel, other digits
    (docs/studies.md, "What is reproducible")."""
    digest = hashlib.sha256()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(folder, name), "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


class RunCache:
    """Finished student runs on disk, keyed by all they depend on, so that
    a long study stopped midway starts again where it was.

    A record holds the validation accuracy and, once the run is reported,
    its test numbers; nothing of the model itself.
    """

    def __init__(self, folder, settings, teacher_info, student_digest=None):
        self.folder = folder
        fixed = {k: v for k, v in dataclasses.asdict(settings).items()
                 if k not in _NOT_IN_RUN_KEY}
        # The study's own teacher's file name is its content key; a user's
        # teacher and data come with a digest of their content.
        self.base = json.dumps(
            [fixed, os.path.basename(teacher_info.get("path", "")),
             teacher_info.get("digest"), keras.backend.backend(),
             _code_digest()] + ([student_digest] if student_digest else []),
            sort_keys=True, default=str)

    def _path(self, name, params, seed):
        key = json.dumps([self.base, name, params, seed], sort_keys=True,
                         default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return os.path.join(self.folder, f"{name}-{seed}-{digest}.json")

    def get(self, name, params, seed):
        path = self._path(name, params, seed)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def put(self, name, params, seed, record):
        os.makedirs(self.folder, exist_ok=True)
        training.write_json(self._path(name, params, seed), record)


class Study:
    """Trains and scores students for one teacher and one data split.

    Arrays in memory (Fashion-MNIST) train from the teacher's outputs,
    computed once; any other source streams, the teacher run in the step.
    """

    def __init__(self, settings, teacher, data, cache=None,
                 augmentation=Augmentation(), devices=1):
        self.settings, self.teacher, self.data = settings, teacher, data
        self.augmentation = augmentation
        self.num_classes = len(data.class_names)
        self.cache = cache
        self.devices = devices
        self.cached = None
        if data.train.in_memory:
            self.cached = teacher_outputs(
                teacher, data.train.arrays()[0], batch_size=1024, verbose=0,
                cache_dir=settings.cache_dir or teachers.cache_dir())
        self._trained = {}

    def student(self, name, method, params, seed):
        """The student trained with `method` at `params` and `seed`
        (memoised: the tuning run of the chosen setting is seed 0's)."""
        key = (name, tuple(sorted(params.items())), seed)
        if key not in self._trained:
            self._trained[key] = self._train(method, params, seed)
        return self._trained[key]

    def _fit_data(self, model, seed):
        """`(fit's data arguments, callbacks)` for the training split: the
        teacher's cached outputs when `model` can train from them (a
        Distiller whose teacher sees the clean batch)."""
        s = self.settings
        train = self.data.train
        if self.cached is not None:
            cachable = (isinstance(model, Distiller)
                        and model.takes_teacher_outputs)
            x = self.cached if cachable else self.cached["inputs"]
            if self.devices == 1:
                return {"x": x, "y": train.y, "batch_size": s.batch_size}, []
            train = Arrays(x, train.y)
        stream = batches.Batches(train, s.batch_size, seed, s.workers,
                                 self.devices)
        return {"x": stream}, [batches.EpochOrder(stream)]

    def _train(self, method, params, seed):
        s = self.settings
        keras.utils.set_random_seed(seed)
        student = training.build_student(s, self.data.train.shape,
                                         self.num_classes)
        steps = s.epochs * -(-len(self.data.train) // s.batch_size)
        model, callbacks = training.build_model(
            s, self.teacher, student, method, params, steps,
            self.data.train.shape, self.augmentation)
        fit_data, more = self._fit_data(model, seed)
        start = time.perf_counter()
        history = batches.fit(model, **fit_data, epochs=s.epochs,
                              callbacks=callbacks + more, verbose=0)
        seconds = (time.perf_counter() - start) / s.epochs
        return {"model": student, "seconds_per_epoch": seconds,
                "final_logs": {k: float(v[-1])
                               for k, v in history.history.items()}}

    def predict(self, model, source):
        """`model`'s outputs on `source` (in memory: in batches of 2048)."""
        s = self.settings
        size = 2048 if source.in_memory else s.batch_size
        return batches.predict(model, source, size, s.workers, self.devices)

    def accuracy(self, student, source):
        logits = self.predict(student, source)
        return float(np.mean(np.argmax(logits, -1) == source.y))

    def record(self, name, method, params, seed, score_test=None):
        """The run's record: its validation accuracy, and with
        `score_test(trained) -> dict`, its test numbers too; read from the
        run cache when there, trained (once) when not."""
        cached = self.cache.get(name, params, seed) if self.cache else {}
        if "val_accuracy" in cached and (score_test is None
                                         or "test" in cached):
            return cached
        trained = self.student(name, method, params, seed)
        record = {**cached,
                  "val_accuracy": self.accuracy(trained["model"],
                                                self.data.validation),
                  "seconds_per_epoch": trained["seconds_per_epoch"],
                  "final_logs": trained["final_logs"]}
        if score_test is not None:
            record["test"] = score_test(trained["model"])
        if self.cache:
            self.cache.put(name, params, seed, record)
        return record

    def validate(self, name, method, params):
        return self.record(name, method, params, seed=0)["val_accuracy"]


def tune(method, score, log):
    """Coordinate search from `method.start` over `method.grid`.

    Returns:
        `(best_params, trials)`, trials as `{"params", "val_accuracy"}`.
    """
    best = dict(method.start)
    best_score = score(best)
    trials = [{"params": dict(best), "val_accuracy": best_score}]
    log(best, best_score)
    tried = [best]
    for key, values in method.grid.items():
        for value in values:
            params = {**best, key: value}
            if params in tried:
                continue
            tried.append(params)
            value_score = score(params)
            trials.append({"params": params, "val_accuracy": value_score})
            log(params, value_score)
            if value_score > best_score:
                best, best_score = params, value_score
    return best, trials


def _student_subset(data, size):
    """The data with the students' training set cut to a stratified `size`
    (None or the full size: all of it); the teacher keeps the full set."""
    if size is None or size >= len(data.train):
        return data
    _, keep = stratified_split(data.train.y, size, seed=1)
    return data._replace(train=data.train.subset(keep))


def run(settings, methods, augmentation=Augmentation()):
    """Runs the study; returns the results dict.

    Args:
        settings: a `Settings`.
        methods: name -> `Method`, for every name in `settings.methods`.
        augmentation: an `Augmentation` of every training batch (the one
            `settings.augment` names).
    """
    devices = training.device_count(settings)
    with training.on_devices(devices):
        return _run(settings, methods, augmentation, devices)


def _run(settings, methods, augmentation, devices):
    if settings.teacher:
        teacher, teacher_info, data = usersource.prepare(settings,
                                                         devices=devices)
    else:
        data = prepare_data(settings)
        teacher, teacher_info = load_teacher(settings, data)
    settings = training.auto_student(settings, teacher)
    names, test = data.class_names, data.test
    probe = training.build_student(settings, data.train.shape, len(names))
    training.check_size(teacher, probe)
    training.check_augmentation(augmentation, data.train.shape)
    student_digest = None
    if settings.student not in training.STUDENTS:  # the user's: checked once
        usermodels.check_pair(teacher, probe, len(names))
        student_digest = usersource.file_digest(settings.student)
    student_data = _student_subset(data, settings.student_train_size)
    cache = RunCache(os.path.join(settings.output, "runs"), settings,
                     teacher_info, student_digest)
    study = Study(settings, teacher, student_data, cache, augmentation,
                  devices)
    t_features, t_logits = study.predict(feature_view(teacher), test)
    t_similarity = geometry.class_similarity(t_features, test.y, len(names))

    def score_test(model):
        features, logits = study.predict(feature_view(model), test)
        similarity = geometry.class_similarity(features, test.y, len(names))
        return {"accuracy": float(np.mean(np.argmax(logits, -1) == test.y)),
                "geometry": geometry.semantic_geometry_score(t_similarity,
                                                             similarity),
                "similarity": similarity.tolist()}

    results = {
        "settings": dataclasses.asdict(settings),
        "backend": keras.backend.backend(),
        "devices": study.devices,
        "class_names": names,
        "test_from": data.test_from,
        "sizes": {"train": len(data.train),
                  "student_train": len(student_data.train),
                  "validation": len(data.validation), "test": len(test)},
        "teacher": {**teacher_info,
                    "accuracy": float(np.mean(np.argmax(t_logits, -1)
                                              == test.y)),
                    "similarity": t_similarity.tolist()},
        "methods": {},
    }
    for name in settings.methods:
        method = with_chosen_parts(methods[name], results["methods"])
        trials = []
        params = dict(method.start)
        if settings.tune and method.grid:
            def log(p, s, name=name):
                print(f"  tune {name} {p}: validation {s:.4f}", flush=True)
            params, trials = tune(
                method, lambda p: study.validate(name, method, p), log)
        runs = []
        for seed in range(settings.seeds):
            record = study.record(name, method, params, seed, score_test)
            runs.append({"seed": seed, **record["test"],
                         "seconds_per_epoch": record["seconds_per_epoch"],
                         "final_logs": record["final_logs"]})
            print(f"{name} {params} seed {seed}: test "
                  f"{runs[-1]['accuracy']:.4f} "
                  f"({record['seconds_per_epoch']:.1f} s/epoch)", flush=True)
        results["methods"][name] = {
            "params": params, "tuning": trials,
            "accuracy": stats.summarize([r["accuracy"] for r in runs]),
            "geometry": stats.summarize([r["geometry"] for r in runs]),
            "seconds_per_epoch": stats.summarize(
                [r["seconds_per_epoch"] for r in runs]),
            "similarity": runs[0]["similarity"],
            "runs": runs,
        }
    results["paired"] = paired_table(results["methods"])
    return results


def paired_table(rows, baselines=("ce", "supcrd", "dkd")):
    """Paired test-accuracy differences of each method to each baseline
    (runs paired by seed), with 95% intervals."""
    table = {}
    for baseline in baselines:
        if baseline not in rows:
            continue
        base = rows[baseline]["accuracy"]["values"]
        table[baseline] = {
            name: stats.paired_difference(row["accuracy"]["values"], base)
            for name, row in rows.items() if name != baseline}
    return table
