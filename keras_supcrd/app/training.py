"""What one student run is built from, for the study and for `distill`:
the student, the compiled model and its callbacks, and the atomic JSON
writer of run records."""

import contextlib
import dataclasses
import json
import os

import keras

from keras_supcrd import Distiller
from keras_supcrd.app import models
from keras_supcrd.app import usermodels
from keras_supcrd.app.plan import Augmentation
from keras_supcrd.app.userdata import InputError
from keras_supcrd.losses import KD
from keras_supcrd.schedules import LossWeightScheduler
from keras_supcrd.schedules import linear_warmup


def _cross_entropy():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


STUDENTS = {
    "mlp": lambda s, shape, n: models.mlp_student(shape, n,
                                                  hidden=s.student_hidden),
    "cnn": lambda s, shape, n: models.small_cnn_student(
        shape, n, width=s.student_width),
    "convnet": lambda s, shape, n: models.pooled_cnn_student(
        shape, n, width=s.student_width),
    "mobilenetv3small": lambda s, shape, n: models.mobilenet_student(shape,
                                                                     n),
}

# `--student auto`: at most this share of the teacher's parameters, from
# the largest size of the input's family down.
AUTO_SHARE = 1 / 4
AUTO_LADDER = {"convnet": ("student_width", (32, 16, 8, 4)),
               "mlp": ("student_hidden", (256, 128, 64, 32, 16, 8))}


def auto_student(settings, teacher):
    """`settings` with `student="auto"` resolved for `teacher`: images
    (height, width, channels) get the pooled CNN (`convnet`), whose size
    does not grow with the image, other inputs the MLP; the largest size
    of at most `AUTO_SHARE` of the teacher's parameters, or the smallest
    when none is (then the size check warns)."""
    if settings.student != "auto":
        return settings
    shape = tuple(teacher.input_shape[1:])
    family = "convnet" if len(shape) == 3 else "mlp"
    field, sizes = AUTO_LADDER[family]
    budget = AUTO_SHARE * teacher.count_params()
    for size in sizes:
        chosen = dataclasses.replace(settings, student=family,
                                     **{field: size})
        model = build_student(chosen, shape, teacher.output_shape[-1])
        if model.count_params() <= budget:
            break
    return chosen


def check_size(teacher, student):
    """Warns when the student is not smaller than the teacher: the point
    of distilling is a smaller model."""
    ours, theirs = student.count_params(), teacher.count_params()
    if ours >= theirs:
        print(f"Warning: the student has {ours:,} parameters, the teacher "
              f"{theirs:,}: it is not smaller. Choose a smaller --student "
              "(--student auto takes at most a quarter of the teacher's).",
              flush=True)


def check_augmentation(augmentation, input_shape):
    """Refuses, by `--augment`, an augmentation the inputs cannot take (a
    crop or flip of vectors), before anything trains or is written."""
    layers, _ = augmentation.build(input_shape)
    for layer in layers:
        try:
            layer.build((None, *input_shape))
        except ValueError as error:
            raise InputError(f"--augment: {error}") from None


def build_student(settings, input_shape, num_classes):
    """A built-in student of `settings`, or a fresh copy of the user's
    `.keras` student (its saved weights: the same start at every seed)."""
    if settings.student in STUDENTS:
        return STUDENTS[settings.student](settings, input_shape, num_classes)
    return usermodels.load(settings.student, "--student")


def build_model(settings, teacher, student, method, params, steps,
                input_shape, augmentation=Augmentation()):
    """`(model, callbacks)` for training `student` with `method` at
    `params` for `steps` steps: the student itself when the method has no
    distillation loss and nothing is augmented, else a Distiller (with
    DKD's warm-up callback when the method asks for it); compiled with Adam
    and cosine decay. `input_shape` is one example's shape, what
    `augmentation` is built for.

    With augmentation and no distillation loss, the Distiller's only term
    is KD at weight 0: the student alone sees the same views and mixed
    loss as the distilled students."""
    s = settings
    losses = method.build(params)
    augment, mixup = augmentation.build(input_shape)
    model, callbacks = student, []
    weights = method.loss_weights(params, losses) if losses else []
    if not losses and (augment or mixup is not None):
        losses, weights = [KD()], [0.0]
    if losses:
        model = Distiller(
            teacher, student, losses, distillation_loss_weights=weights,
            embedding_dim=s.embedding_dim, memory_size=s.memory_size,
            bank_mode=s.bank_mode, augment=augment or None, mixup=mixup,
            consistent=augmentation.consistent)
        if method.warmup:
            length = max(1, s.epochs // 4)
            callbacks.append(LossWeightScheduler(
                {l.name: linear_warmup(length, w)
                 for l, w in zip(losses, weights)}))
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(s.learning_rate, steps))
    # Weighted: the copies that pad a batch split over devices weigh 0.
    model.compile(optimizer=optimizer, loss=_cross_entropy(),
                  weighted_metrics=["accuracy"])
    return model, callbacks


def write_json(path, value):
    """Writes `path` whole or not at all (a `.partial` file, then a
    rename), so that a run killed midway never leaves half a file."""
    with open(path + ".partial", "w") as f:
        json.dump(value, f, indent=2)
    os.replace(path + ".partial", path)


def device_count(settings):
    """How many local devices a run trains on: `settings.devices` ("all"
    or a count); several only under JAX, which splits each batch over
    them (`keras.distribution.DataParallel`).

    Raises:
        InputError: more devices than there are, several off JAX, or a
            batch size they do not divide.
    """
    wanted = settings.devices
    if keras.backend.backend() != "jax":
        if wanted not in ("all", 1):
            raise InputError(
                f"--devices {wanted}: this command trains on several "
                "devices under JAX (KERAS_BACKEND=jax); on TensorFlow and "
                "PyTorch it uses one (the library's own recipes for several "
                "are in docs/devices.md).")
        return 1
    available = keras.distribution.list_devices()
    count = len(available) if wanted == "all" else wanted
    if count > len(available):
        raise InputError(f"--devices {count}: this machine has "
                         f"{len(available)} ({', '.join(available)}).")
    if settings.batch_size % count:
        raise InputError(
            f"--batch-size {settings.batch_size} must be a multiple of the "
            f"{count} devices it is split over (or choose --devices).")
    return count


def on_devices(count):
    """A context in which Keras splits each batch over the first `count`
    local devices (JAX); no change for one."""
    if count == 1:
        return contextlib.nullcontext()
    devices = keras.distribution.list_devices()[:count]
    return keras.distribution.DataParallel(devices=devices).scope()
