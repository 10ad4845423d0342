"""A user's teacher and data, loaded and checked against each other before
anything is trained: what `distill` and `compare --teacher` run on."""

import hashlib
import os

import numpy as np

from keras_supcrd.app import batches
from keras_supcrd.app import userdata
from keras_supcrd.app import usermodels
from keras_supcrd.app.sources import Data
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
    """`(examples, test, names)`: the sources of `settings.data` checked
    against the teacher's classes; `test` is the source of a `test/`
    folder, or None (also when `with_test` is False)."""
    path = settings.data
    test = None
    if path.endswith(".npz"):
        examples, names = userdata.read_arrays(path)
    else:
        train_dir, test_dir = userdata.layout(path)
        examples, names = userdata.list_images(train_dir, input_shape,
                                               settings.rescale)
        if test_dir and with_test:
            test, _ = userdata.list_images(test_dir, input_shape,
                                           settings.rescale, classes=names)
    if examples.shape != tuple(input_shape):
        raise InputError(f"--data {path}: examples of shape "
                         f"{examples.shape}, the teacher reads "
                         f"{tuple(input_shape)}.")
    userdata.check_classes(examples.y, names, num_classes, path)
    return examples, test, names


def _check_order(teacher, examples, names, batch_size, devices):
    """Checks the teacher's outputs on a sample: logits, and (a warning)
    not below chance, or its classes are likely not in the folders'
    sorted order."""
    sample = np.sort(np.random.default_rng(0).permutation(
        len(examples))[:512])
    sample = examples.subset(sample)
    logits = batches.predict(teacher, sample, batch_size, multiple=devices)
    usermodels.check_logits(logits)
    accuracy = float(np.mean(np.argmax(logits, -1) == sample.y))
    if accuracy < 1 / len(names):
        print(f"Warning: the teacher is right on {accuracy:.0%} of a sample "
              f"of the data ({len(names)} classes). Its output i must be the "
              f"i-th class in sorted order: {', '.join(names)}.", flush=True)


def prepare(settings, with_test=True, devices=1):
    """`(teacher, info, data)` for the study protocol on the user's
    teacher and data.

    `data` is a `Data` of sources (nothing read yet): the validation part
    is a stratified `settings.validation_split` of the training examples,
    the test part the `test/` folder or a stratified
    `settings.test_split` held out first (`data.test_from` says which).
    With `with_test=False` nothing is held out for testing (`data.test`
    is None). `devices`: those a batch is split over.
    """
    teacher, info = load_teacher(settings)
    num_classes = teacher.output_shape[-1]
    examples, test, names = load_data(settings, teacher.input_shape[1:],
                                      num_classes, with_test)
    _check_order(teacher, examples, names, settings.batch_size, devices)
    test_from = "none"
    if with_test and test is None:
        kept, held = userdata.split(examples.y, settings.test_split, names,
                                    "test", seed=1)
        test, examples = examples.subset(held), examples.subset(kept)
        test_from = (f"a stratified {settings.test_split:g} of "
                     f"{settings.data}, held out")
    elif with_test:
        test_from = f"the test/ folder of {settings.data}"
    train, val = userdata.split(examples.y, settings.validation_split, names,
                                "validation")
    info["digest"] = hashlib.sha256(
        (info["digest"] + examples.digest()).encode()).hexdigest()
    data = Data(examples.subset(train), examples.subset(val), test, names,
                test_from)
    return teacher, info, data
