"""What a study or a distillation run is made of, as plain data: the
settings, the teacher's recipe and the methods. No framework is imported
here, so that the command line answers `--help` and argument errors
without starting one."""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the study's own teacher is trained (Adam, cosine decay to 0, no
    augmentation)."""

    epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 2e-3
    width: int = 32
    seed: int = 0


def default_workers():
    """Reader threads for streamed data: Pillow decodes and resizes
    outside the GIL, so threads use the cores the step leaves idle
    (docs/data.md)."""
    return max(2, min(8, os.cpu_count() or 1))


# The built-in students and the setting their size is (`--student mlp:256`),
# and those without a size (`auto` is sized for the teacher).
STUDENT_SIZES = {"mlp": "student_hidden", "cnn": "student_width",
                 "convnet": "student_width"}
FIXED_STUDENTS = ("auto", "mobilenetv3small")


@dataclasses.dataclass
class Settings:
    """Everything a study depends on (written to results.json).

    `teacher` and `data` name a user's trained classifier (`.keras`) and
    data (a folder of class subfolders or an `.npz` of `x`, `y`); with
    neither, the study is Fashion-MNIST with its own cached CNN teacher.
    `validation_split`, `test_split` and `rescale` apply to a user's data;
    `validation_size` to Fashion-MNIST's. `student` is `"mlp"`, `"cnn"` or
    a `.keras` file. `workers` reads streamed data (a user's) in that many
    threads; no result depends on it. `devices` ("all" or a count) are the
    local devices a batch is split over (JAX). `augment` names the
    augmentations of every training batch (`crop`, `flip`, `mixup`, or
    `"auto"`: crop and mixup on images, nothing on vectors;
    `crop_scale` is the crop's smallest area, `mixup_alpha` mixup's Beta
    parameter); `teacher_view` is what the teacher sees then: the
    student's view (`augmented`) or the clean batch (`clean`). `export`
    names the formats `distill` exports the student in.
    """

    methods: tuple = ("ce", "kd", "dkd", "crd", "supcrd", "lw-supcrd",
                      "lw-supcrd-decoupled")
    seeds: int = 5
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 2e-3
    student: str = "mlp"
    student_hidden: int = 256
    student_width: int = 16
    memory_size: int = 4096
    bank_mode: str = "exact"
    embedding_dim: int = 64
    temperature: float = 0.07
    validation_size: int = 5000
    student_train_size: int = 5000
    tune: bool = True
    teacher_epochs: int = Recipe.epochs
    teacher_width: int = Recipe.width
    teacher: str = None
    data: str = None
    validation_split: float = 0.1
    test_split: float = 0.2
    rescale: float = 1 / 255
    custom_objects: str = None
    data_dir: str = None
    cache_dir: str = None
    output: str = "runs/compare"
    workers: int = dataclasses.field(default_factory=default_workers)
    devices: object = "all"
    augment: object = ()
    crop_scale: float = 0.35  # the consistent-teaching study's
    mixup_alpha: float = 0.2
    teacher_view: str = "augmented"
    export: tuple = ()


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """How every training batch is augmented.

    Args:
        build: `input_shape -> (layers, mixup)`: fresh input layers
            (applied in order) and a mixup layer or None, for one student
            run on examples of `input_shape` (no batch axis).
        consistent: the teacher sees the student's view (True) or the
            clean batch (False).
    """

    build: object = lambda input_shape: ([], None)
    consistent: bool = True


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
        weights: optional `params -> one weight per loss`; by default
            `params["weight"]` for each.
        parts: for a combination (`combine`), the names of the methods it
            is made of, whose chosen settings it starts from when the same
            study has already run them.
    """

    build: object
    start: dict = dataclasses.field(default_factory=dict)
    grid: dict = dataclasses.field(default_factory=dict)
    warmup: bool = False
    weights: object = None
    parts: tuple = ()

    def loss_weights(self, params, losses):
        if self.weights is None:
            return [params["weight"]] * len(losses)
        return list(self.weights(params))


def _sub(params, name):
    prefix = name + "."
    return {k[len(prefix):]: v for k, v in params.items()
            if k.startswith(prefix)}


def combine(named):
    """The methods of `named` (name -> Method) trained side by side.

    Parameters are `"<name>.<key>"`; the grid searches each part's weight
    only (its other settings are the part's start, or what the same study
    chose for it), so a combination costs as many validation runs as a
    two-parameter method.
    """
    names = tuple(named)

    def build(params):
        return [loss for n in names for loss in named[n].build(_sub(params, n))]

    def weights(params):
        return [w for n in names for w in named[n].loss_weights(
            _sub(params, n), named[n].build(_sub(params, n)))]

    return Method(
        build=build, weights=weights, parts=names,
        start={f"{n}.{k}": v for n in names for k, v in named[n].start.items()},
        grid={f"{n}.weight": named[n].grid["weight"] for n in names
              if "weight" in named[n].grid},
        warmup=any(named[n].warmup for n in names))


def with_chosen_parts(method, rows):
    """`method` starting from the settings the study chose for its parts."""
    start = dict(method.start)
    for name in method.parts:
        if name in rows:
            start.update({f"{name}.{k}": v
                          for k, v in rows[name]["params"].items()})
    return dataclasses.replace(method, start=start)
