"""A user's teacher and data, loaded and checked against each other before
anything is trained: what `distill` and `compare --teacher` run on."""

import hashlib
import os

import numpy as np

from keras_supcrd.app import userdata
from keras_supcrd.app import usermodels
from keras_supcrd.app.datasets import content_digest
from keras_supcrd.app.userdata import InputError


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_teacher(settings):
    """`(teacher, info)`: the user's teacher as a logits model; `info` has
    its `path`, what it produced (`outputs`) and a content `digest`."""
    if settings.custom_objects:
        usermodels.import_custom_objects(settings.custom_objects)
    loaded = usermodels.load(settings.teacher, "--teacher")
    teacher, outputs = usermodels.as_logits(loaded)
    return teacher, {"path": os.path.abspath(settings.teacher),
                     "outputs": outputs,
                     "digest": file_digest(settings.teacher)}


def load_data(settings, input_shape, num_classes, with_test=True):
    """`(x, y, test, names)`: the data of `settings.data` checked
    against the teacher's classes; `test` is `(x, y)` of a `test/`
    folder, or None (also when `with_test` is False)."""
    path = settings.data
    if path.endswith(".npz"):
        x, y, names = userdata.read_arrays(path)
        test = None
    else:
        train_dir, test_dir = userdata.layout(path)
        x, y, names = userdata.read_images(train_dir, input_shape,
                                           settings.rescale)
        test = test_dir and with_test and userdata.read_images(
            test_dir, input_shape, settings.rescale, classes=names)[:2]
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise InputError(f"--data {path}: examples of shape {x.shape[1:]}, "
                         f"the teacher reads {tuple(input_shape)}.")
    userdata.check_classes(y, names, num_classes, path)
    return x, y, test, names


def _check_order(teacher, x, y, names):
    """Checks the teacher's outputs on a sample: logits, and (a warning)
    not below chance, or its classes are likely not in the folders'
    sorted order."""
    sample = np.random.default_rng(0).permutation(len(y))[:512]
    logits = teacher.predict(x[sample], verbose=0)
    usermodels.check_logits(logits)
    accuracy = float(np.mean(np.argmax(logits, -1) == y[sample]))
    if accuracy < 1 / len(names):
        print(f"Warning: the teacher is right on {accuracy:.0%} of a sample "
              f"of the data ({len(names)} classes). Its output i must be the "
              f"i-th class in sorted order: {', '.join(names)}.", flush=True)


def prepare(settings, with_test=True):
    """`(teacher, info, data, test_from)` for the study protocol on the
    user's teacher and data.

    `data` is `(x, y, x_val, y_val, x_test, y_test, names)` as for
    Fashion-MNIST; the validation part is a stratified
    `settings.validation_split` of the training examples, the test part
    the `test/` folder or a stratified `settings.test_split` held out
    first (`test_from` says which). With `with_test=False` nothing is
    held out for testing (`x_test`, `y_test` are None).
    """
    teacher, info = load_teacher(settings)
    num_classes = teacher.output_shape[-1]
    x, y, test, names = load_data(settings, teacher.input_shape[1:],
                                  num_classes, with_test)
    _check_order(teacher, x, y, names)
    test_from = "none"
    if with_test and test is None:
        kept, held = userdata.split(y, settings.test_split, names, "test",
                                    seed=1)
        test, (x, y) = (x[held], y[held]), (x[kept], y[kept])
        test_from = (f"a stratified {settings.test_split:g} of "
                     f"{settings.data}, held out")
    elif with_test:
        test_from = f"the test/ folder of {settings.data}"
    train, val = userdata.split(y, settings.validation_split, names,
                                "validation")
    x_test, y_test = test if with_test else (None, None)
    info["digest"] = content_digest(
        np.frombuffer(info["digest"].encode(), np.uint8), x, y)
    data = (x[train], y[train], x[val], y[val], x_test, y_test, names)
    return teacher, info, data, test_from
