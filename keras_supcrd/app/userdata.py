"""A user's own data for `keras-supcrd distill` and `compare --data`: a
folder of class subfolders (the layout of
`keras.utils.image_dataset_from_directory`, read with Keras's image loader)
or an `.npz` of arrays `x` and `y`.

Images are read into memory at the teacher's input size, once; every
problem is reported before anything is trained or written.
"""

import os

import keras
import numpy as np


# The formats `keras.utils.image_dataset_from_directory` reads.
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOR_MODES = {1: "grayscale", 3: "rgb", 4: "rgba"}


class InputError(ValueError):
    """A problem with the user's files or their arguments, named; raised
    before anything is trained or written."""


def _visible(folder):
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def layout(folder):
    """`(train_folder, test_folder)`: a folder holding `train/` (and
    `test/`) has its own splits; otherwise `test_folder` is None and the
    test part is held out of `folder`."""
    if not os.path.isdir(folder):
        raise InputError(f"--data {folder}: no such folder.")
    names = _visible(folder)
    if "train" not in names:
        return folder, None
    others = sorted(set(names) - {"train", "test"})
    if others:
        raise InputError(
            f"--data {folder} holds train/ and also {', '.join(others)}; a "
            "folder of splits holds only train/ and test/ (each with one "
            "folder per class).")
    test = os.path.join(folder, "test") if "test" in names else None
    return os.path.join(folder, "train"), test


def image_files(folder):
    """`(class_names, files)`: the class subfolders of `folder` in sorted
    order (Keras's) and each one's files, every class non-empty."""
    names = [n for n in _visible(folder)
             if os.path.isdir(os.path.join(folder, n))]
    if not names:
        raise InputError(
            f"--data {folder}: no class subfolders (expected one folder of "
            "images per class, as keras.utils.image_dataset_from_directory "
            "reads).")
    files = {}
    for name in names:
        path = os.path.join(folder, name)
        files[name] = [os.path.join(path, f) for f in _visible(path)]
        if not files[name]:
            raise InputError(f"--data: the class folder {path} is empty.")
    return names, files


def _read(path, color_mode, size):
    if not path.lower().endswith(IMAGE_FORMATS):
        raise InputError(
            f"--data: {path} is not an image (Keras reads "
            f"{', '.join(IMAGE_FORMATS)}); move it out of the class folder.")
    try:
        image = keras.utils.load_img(path, color_mode=color_mode,
                                     target_size=size,
                                     interpolation="bilinear")
    except ImportError as error:
        raise InputError(f"Reading images needs Pillow: pip install "
                          f"pillow ({error})") from None
    except Exception as error:  # PIL's errors for a broken or fake image
        raise InputError(f"--data: {path} is not a readable image "
                         f"({type(error).__name__}: {error}).") from None
    return keras.utils.img_to_array(image, dtype="float32")


def read_images(folder, input_shape, rescale, classes=None):
    """The images of `folder`'s class subfolders, resized to the teacher's
    input size, in its colour mode, times `rescale`.

    Args:
        folder: a folder of class subfolders.
        input_shape: the teacher's `(height, width, channels)`;
            1 channel reads grayscale, 3 RGB, 4 RGBA.
        rescale: the factor the teacher's training inputs had (1/255 for
            [0, 1] inputs).
        classes: class names the folder must have (a test folder must have
            the training folder's).

    Returns:
        `(x, y, class_names)`: float32 images, int32 labels (the index of
        the class folder in sorted order).
    """
    if (len(input_shape) != 3 or input_shape[-1] not in COLOR_MODES
            or None in input_shape):
        raise InputError(
            f"--teacher: an image folder needs a teacher reading images "
            f"(height, width, 1, 3 or 4 channels); its input shape is "
            f"{tuple(input_shape)}. A fixed height and width are needed to "
            "resize the images (save the teacher with keras.Input((H, W, "
            "C))); use --data FILE.npz for other inputs.")
    names, files = image_files(folder)
    if classes is not None and names != list(classes):
        raise InputError(f"--data: {folder} has classes {names}, the "
                         f"training folder {list(classes)}.")
    color_mode, size = COLOR_MODES[input_shape[-1]], tuple(input_shape[:2])
    paths = [(path, label) for label, name in enumerate(names)
             for path in files[name]]
    print(f"Reading {len(paths)} images in {len(names)} classes from "
          f"{folder}", flush=True)
    bar = keras.utils.Progbar(len(paths))
    x = np.empty((len(paths), *size, input_shape[-1]), "float32")
    for i, (path, _) in enumerate(paths):
        x[i] = _read(path, color_mode, size)
        if i % 256 == 255 or i == len(paths) - 1:
            bar.update(i + 1)
    y = np.array([label for _, label in paths], "int32")
    x *= np.float32(rescale)
    return x, y, names


def read_arrays(path):
    """`(x, y, class_names)` from an `.npz` holding `x` (N, ...) and
    integer labels `y` (N,), used as they are (no rescaling); an optional
    `class_names` array names the classes."""
    if not os.path.isfile(path):
        raise InputError(f"--data {path}: no such file.")
    try:
        arrays = np.load(path, allow_pickle=False)
        missing = {"x", "y"} - set(arrays.files)
        if missing:
            raise InputError(f"--data {path}: no array {sorted(missing)} "
                             f"(it holds {arrays.files}).")
        x, y = arrays["x"], arrays["y"]
        names = ([str(n) for n in arrays["class_names"]]
                 if "class_names" in arrays.files else None)
    except InputError:
        raise
    except Exception as error:  # not an npz, or object arrays
        raise InputError(f"--data {path}: not a readable .npz file of "
                         f"arrays ({error}).") from None
    if (y.ndim != 1 or len(y) != len(x) or not len(y)
            or not np.issubdtype(y.dtype, np.integer)):
        raise InputError(
            f"--data {path}: `y` must be {len(x)} integer labels, one per "
            f"row of `x`; it is {y.dtype} of shape {y.shape}.")
    if y.min() < 0:
        raise InputError(f"--data {path}: `y` has the negative label "
                         f"{y.min()}.")
    names = names or [str(c) for c in range(int(y.max()) + 1)]
    return x.astype("float32"), y.astype("int32"), names


def check_classes(y, names, num_outputs, where):
    """Every class of the data must be an output of the teacher and be
    present: `num_outputs` classes, each with at least one example."""
    present = np.unique(y)
    if len(names) != num_outputs or not np.array_equal(
            present, np.arange(num_outputs)):
        raise InputError(
            f"--teacher has {num_outputs} outputs but --data {where} has "
            f"{len(names)} classes (labels {present.min()}-{present.max()},"
            f" {len(present)} with examples); they must be the same classes,"
            f" labelled 0-{num_outputs - 1}.")


def split(y, fraction, names, what, seed=0):
    """`(kept, held)` sorted index arrays: a `fraction` of each class held
    out (rounded, at least one), at least one example of each class kept."""
    if not 0 < fraction < 1:
        raise InputError(f"--{what}-split must lie in (0, 1); got "
                         f"{fraction}.")
    rng = np.random.default_rng(seed)
    held = []
    for c, name in enumerate(names):
        rows = np.flatnonzero(y == c)
        count = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        if count < 1:
            raise InputError(
                f"--data: class {name!r} has {len(rows)} example(s), too few "
                f"for a {what} split of {fraction}: each class needs one on "
                f"each side. Add examples or change --{what}-split.")
        held.append(rng.choice(rows, count, replace=False))
    mask = np.zeros(len(y), bool)
    mask[np.concatenate(held)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)
