"""A user's own data for `keras-supcrd distill` and `compare --data`: a
folder of class subfolders (the layout of
`keras.utils.image_dataset_from_directory`, read with Keras's image loader)
or an `.npz` of arrays `x` and `y`.

Files are listed and their headers checked up front (every problem named
before anything is trained or written); pixels are read a batch at a time
(keras_supcrd/app/sources.py).
"""

import os

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


def _check_header(path):
    """Refuses a file that is not an image by its name or its header
    (Pillow reads a few bytes; no pixel is decoded)."""
    if not path.lower().endswith(IMAGE_FORMATS):
        raise InputError(
            f"--data: {path} is not an image (Keras reads "
            f"{', '.join(IMAGE_FORMATS)}); move it out of the class folder.")
    try:
        from PIL import Image
    except ImportError as error:
        raise InputError(f"Reading images needs Pillow: pip install "
                         f"pillow ({error})") from None
    try:
        with Image.open(path):
            pass
    except Exception as error:  # PIL's errors for a broken or fake image
        raise InputError(f"--data: {path} is not a readable image "
                         f"({type(error).__name__}: {error}).") from None


def list_images(folder, input_shape, rescale, classes=None):
    """The images of `folder`'s class subfolders, listed and their
    headers checked; read a batch at a time, resized to the teacher's
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
        `(images, class_names)`: an `ImageFiles` source (labels: the index
        of the class folder in sorted order) and the class names.
    """
    from keras_supcrd.app.sources import ImageFiles

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
    paths = [path for name in names for path in files[name]]
    for path in paths:
        _check_header(path)
    labels = [label for label, name in enumerate(names)
              for _ in files[name]]
    print(f"Found {len(paths)} images in {len(names)} classes in {folder} "
          "(read a batch at a time)", flush=True)
    return ImageFiles(paths, labels, input_shape, rescale), names


def _stored_array(path, name):
    """`name` of the `.npz` at `path` memory-mapped, when the archive
    stores it uncompressed (`np.savez`) in C order; else None."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as f:
        # The member's data follow its local header (30 bytes, then the
        # name and the extra field, whose lengths sit at bytes 26-29).
        f.seek(info.header_offset + 26)
        lengths = np.frombuffer(f.read(4), "<u2")
        f.seek(info.header_offset + 30 + int(lengths.sum()))
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(
                           np.lib.format.read_magic(f))
        if read_header is None:  # a newer .npy format: read it whole
            return None
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject or fortran:
        return None
    return np.memmap(path, dtype, "r", offset=offset, shape=shape)


def read_arrays(path):
    """`(arrays, class_names)` from an `.npz` holding `x` (N, ...) and
    integer labels `y` (N,): an `Arrays` source, `x` used as it is (no
    rescaling) and memory-mapped when stored uncompressed (`np.savez`);
    an optional `class_names` array names the classes."""
    from keras_supcrd.app.sources import Arrays

    if not os.path.isfile(path):
        raise InputError(f"--data {path}: no such file.")
    try:
        arrays = np.load(path, allow_pickle=False)
        missing = {"x", "y"} - set(arrays.files)
        if missing:
            raise InputError(f"--data {path}: no array {sorted(missing)} "
                             f"(it holds {arrays.files}).")
        x = _stored_array(path, "x")
        if x is None:
            print(f"--data {path}: `x` is compressed or Fortran-ordered, "
                  "so it is read into memory; save it with np.savez(path, "
                  "x=np.ascontiguousarray(x), y=y) to have it "
                  "memory-mapped.", flush=True)
            x = arrays["x"]
        y = arrays["y"]
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
    return Arrays(x, y), names


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
