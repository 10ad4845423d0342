"""The study behind `keras-supcrd compare`: one cached teacher, one student
per method and seed, settings chosen on a validation split, the test set
used once per reported number."""

import dataclasses
import time

import keras
import numpy as np

from keras_supcrd import Distiller
from keras_supcrd import teacher_outputs
from keras_supcrd._views import feature_view
from keras_supcrd.app import geometry
from keras_supcrd.app import models
from keras_supcrd.app import stats
from keras_supcrd.app import teacher as teachers
from keras_supcrd.app.datasets import load_fashion_mnist
from keras_supcrd.app.datasets import stratified_split
from keras_supcrd.schedules import LossWeightScheduler
from keras_supcrd.schedules import linear_warmup


@dataclasses.dataclass(frozen=True)
class Method:
    """A row of the study: its losses, literature start and search grid.

    Args:
        build: `params -> list of distillation losses` (empty: the student
            alone); `params` holds every key of `start`.
        start: the literature settings; `weight` is the distillation
            weight applied to every loss of the method.
        grid: `param -> values`, searched one parameter at a time from
            `start` on the validation split (coordinate search).
        warmup: warm the distillation weight up linearly over the first
            quarter of the epochs (DKD's schedule).
    """

    build: object
    start: dict = dataclasses.field(default_factory=dict)
    grid: dict = dataclasses.field(default_factory=dict)
    warmup: bool = False


@dataclasses.dataclass
class Settings:
    """Everything a study depends on (written to results.json)."""

    methods: tuple = ("ce", "kd", "dkd", "crd", "supcrd", "lw-supcrd",
                      "lw-supcrd-decoupled")
    seeds: int = 5
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 2e-3
    student_hidden: int = 256
    memory_size: int = 4096
    bank_mode: str = "exact"
    embedding_dim: int = 64
    temperature: float = 0.07
    validation_size: int = 5000
    student_train_size: int = 5000
    tune: bool = True
    teacher_epochs: int = teachers.Recipe.epochs
    teacher_width: int = teachers.Recipe.width
    data_dir: str = None
    cache_dir: str = None
    output: str = "runs/compare"


def prepare_data(settings):
    """`(x, y, x_val, y_val, x_test, y_test, names)`, images in [0, 1]
    with a channel axis; the validation split is stratified."""
    (x_all, y_all), (x_test, y_test), names = load_fashion_mnist(
        data_dir=settings.data_dir)
    train, val = stratified_split(y_all, settings.validation_size)

    def scale(x):
        return (x.astype("float32") / 255.0)[..., None]

    return (scale(x_all[train]), y_all[train].astype("int32"),
            scale(x_all[val]), y_all[val].astype("int32"),
            scale(x_test), y_test.astype("int32"), names)


def load_teacher(settings, data):
    """The cached teacher of `settings` for `data` (trained on its first
    use); returns `(teacher, info)` as `teacher.load_or_train` does."""
    x, y, *_, names = data
    recipe = teachers.Recipe(epochs=settings.teacher_epochs,
                             width=settings.teacher_width)
    return teachers.load_or_train(recipe, x, y, len(names),
                                  settings.cache_dir)


def _cross_entropy():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class Study:
    """Trains and scores students for one teacher and one data split."""

    def __init__(self, settings, teacher, data):
        self.settings, self.teacher = settings, teacher
        x, y, self.x_val, self.y_val, self.x_test, self.y_test, names = data
        self.y, self.num_classes = y, len(names)
        self.cached = teacher_outputs(
            teacher, x, batch_size=1024, verbose=0,
            cache_dir=settings.cache_dir or teachers.cache_dir())
        self._trained = {}

    def student(self, method, params, seed):
        """The student trained with `method` at `params` and `seed`
        (memoised: the tuning run of the chosen setting is seed 0's)."""
        key = (id(method), tuple(sorted(params.items())), seed)
        if key not in self._trained:
            self._trained[key] = self._train(method, params, seed)
        return self._trained[key]

    def _train(self, method, params, seed):
        s = self.settings
        keras.utils.set_random_seed(seed)
        student = models.mlp_student(self.x_test.shape[1:], self.num_classes,
                                     hidden=s.student_hidden)
        losses = method.build(params)
        steps = s.epochs * -(-len(self.y) // s.batch_size)
        optimizer = keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(s.learning_rate, steps))
        callbacks, x = [], self.cached["inputs"]
        model = student
        if losses:
            weight = params["weight"]
            model = Distiller(
                self.teacher, student, losses,
                distillation_loss_weights=[weight] * len(losses),
                embedding_dim=s.embedding_dim, memory_size=s.memory_size,
                bank_mode=s.bank_mode)
            x = self.cached
            if method.warmup:
                length = max(1, s.epochs // 4)
                callbacks.append(LossWeightScheduler(
                    {l.name: linear_warmup(length, weight) for l in losses}))
        model.compile(optimizer=optimizer, loss=_cross_entropy(),
                      metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(x, self.y, batch_size=s.batch_size,
                            epochs=s.epochs, callbacks=callbacks, verbose=0)
        seconds = (time.perf_counter() - start) / s.epochs
        return {"model": student, "seconds_per_epoch": seconds,
                "final_logs": {k: float(v[-1])
                               for k, v in history.history.items()}}

    def accuracy(self, student, x, y):
        logits = student.predict(x, batch_size=2048, verbose=0)
        return float(np.mean(np.argmax(logits, -1) == y))

    def validate(self, method, params):
        run = self.student(method, params, seed=0)
        return self.accuracy(run["model"], self.x_val, self.y_val)


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
    x, y, *rest = data
    if size is None or size >= len(y):
        return data
    _, keep = stratified_split(y, size, seed=1)
    return (x[keep], y[keep], *rest)


def _features(model, x):
    return feature_view(model, None, "model").predict(x, batch_size=2048,
                                                      verbose=0)


def run(settings, methods):
    """Runs the study; returns the results dict.

    Args:
        settings: a `Settings`.
        methods: name -> `Method`, for every name in `settings.methods`.
    """
    data = prepare_data(settings)
    x, y, x_val, y_val, x_test, y_test, names = data
    teacher, teacher_info = load_teacher(settings, data)
    student_data = _student_subset(data, settings.student_train_size)
    study = Study(settings, teacher, student_data)
    t_features, t_logits = _features(teacher, x_test)
    t_similarity = geometry.class_similarity(t_features, y_test, len(names))
    results = {
        "settings": dataclasses.asdict(settings),
        "backend": keras.backend.backend(),
        "class_names": names,
        "sizes": {"train": int(len(x)),
                  "student_train": int(len(student_data[1])),
                  "validation": int(len(x_val)), "test": int(len(x_test))},
        "teacher": {**teacher_info,
                    "accuracy": float(np.mean(np.argmax(t_logits, -1)
                                              == y_test)),
                    "similarity": t_similarity.tolist()},
        "methods": {},
    }
    for name in settings.methods:
        method = methods[name]
        trials = []
        params = dict(method.start)
        if settings.tune and method.grid:
            def log(p, s, name=name):
                print(f"  tune {name} {p}: validation {s:.4f}", flush=True)
            params, trials = tune(
                method, lambda p: study.validate(method, p), log)
        runs = []
        for seed in range(settings.seeds):
            trained = study.student(method, params, seed)
            features = _features(trained["model"], x_test)[0]
            similarity = geometry.class_similarity(features, y_test,
                                                   len(names))
            runs.append({
                "seed": seed,
                "accuracy": study.accuracy(trained["model"], x_test, y_test),
                "geometry": geometry.semantic_geometry_score(t_similarity,
                                                             similarity),
                "similarity": similarity.tolist(),
                "seconds_per_epoch": trained["seconds_per_epoch"],
                "final_logs": trained["final_logs"],
            })
            print(f"{name} {params} seed {seed}: test "
                  f"{runs[-1]['accuracy']:.4f} "
                  f"({trained['seconds_per_epoch']:.1f} s/epoch)", flush=True)
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


def paired_table(rows, baselines=("ce", "supcrd")):
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
