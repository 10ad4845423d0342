"""Fashion-MNIST from local files first: the Keras cache, Debian's copy, then
Keras's download. Every IDX file is validated before use."""

import gzip
import hashlib
import os

import numpy as np

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = (
    "Install it with `apt-get install -y dataset-fashion-mnist` (Debian), "
    "or place the four files "
    f"({', '.join(FILES.values())}) in one of the folders above."
)
IDX_UBYTE = 0x08


def keras_cache_dir():
    """Where `keras.datasets.fashion_mnist` caches its files."""
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets", "fashion-mnist")


def read_idx(path, rank):
    """Reads one gzipped IDX file of unsigned bytes, checking everything.

    Args:
        path: the `.gz` file.
        rank: the expected number of dimensions (1 labels, 3 images).

    Returns:
        uint8 array of the declared shape.

    Raises:
        ValueError: bad magic number, wrong rank, or a length that does not
            match the header (a truncated or padded file).
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:  # truncated or not gzip at all
        raise ValueError(f"{path}: not a readable gzip file ({error}).")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise ValueError(
            f"{path}: bad IDX magic number {raw[:4].hex() or 'empty'}; "
            "expected 000008xx (unsigned bytes)."
        )
    if raw[3] != rank:
        raise ValueError(f"{path}: has {raw[3]} dimensions, expected {rank}.")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                  for i in range(rank))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: holds {len(raw) - header} bytes of data, but its header "
            f"declares shape {shape} ({expected} bytes): the file is "
            "truncated or corrupt."
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def read_folder(folder):
    """The four arrays from one folder; raises FileNotFoundError if absent."""
    missing = [n for n in FILES.values()
               if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    arrays = {key: read_idx(os.path.join(folder, name),
                            3 if key.startswith("x") else 1)
              for key, name in FILES.items()}
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise ValueError(
                f"{folder}: {len(x)} {split} images but {len(y)} labels.")
    return arrays


def _download():
    import keras

    (x_train, y_train), (x_test, y_test) = (
        keras.datasets.fashion_mnist.load_data())
    return {"x_train": x_train, "y_train": y_train,
            "x_test": x_test, "y_test": y_test}


def load_fashion_mnist(data_dir=None, download=True, verbose=True):
    """Loads Fashion-MNIST as uint8 arrays, from the first source that works.

    Sources, in order: `data_dir` if given, the Keras cache
    (`$KERAS_HOME/datasets/fashion-mnist`, default `~/.keras/...`), Debian's
    `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`), then
    `keras.datasets.fashion_mnist.load_data()` (a download) if `download`.
    A folder that lacks a file is skipped; a file that is present but
    corrupt raises, so that a damaged copy is never used silently.

    Args:
        data_dir: optional folder with the four `.gz` IDX files.
        download: allow Keras's download as the last resort.
        verbose: print which source was used.

    Returns:
        `((x_train, y_train), (x_test, y_test), class_names)` with images
        of shape (N, 28, 28) and labels of shape (N,), all uint8.

    Raises:
        ValueError: a present IDX file is truncated or corrupt.
        FileNotFoundError: no source worked; the message lists each place
            tried and how to install the data.

    Example:

    ```python
    from keras_supcrd.app.datasets import load_fashion_mnist
    (x_train, y_train), (x_test, y_test), names = load_fashion_mnist()
    ```
    """
    folders = [("data_dir", data_dir)] if data_dir else []
    folders += [("Keras cache", keras_cache_dir()),
                ("Debian dataset-fashion-mnist", SYSTEM_DIR)]
    tried = []
    for label, folder in folders:
        try:
            arrays = read_folder(folder)
        except FileNotFoundError as error:
            tried.append(f"{label} {folder}: {error}")
            continue
        return _result(arrays, f"{label} ({folder})", verbose)
    if download:
        try:
            return _result(_download(), "Keras download", verbose)
        except Exception as error:  # no network, proxy, ...
            tried.append(f"Keras download: {type(error).__name__}: {error}")
    else:
        tried.append("Keras download: disabled")
    raise FileNotFoundError(
        "Fashion-MNIST was not found. Tried:\n  - " + "\n  - ".join(tried)
        + "\n" + INSTALL_HINT
    )


def _result(arrays, source, verbose):
    if verbose:
        print(f"Fashion-MNIST: {len(arrays['x_train'])} train and "
              f"{len(arrays['x_test'])} test images from {source}")
    return ((arrays["x_train"], arrays["y_train"]),
            (arrays["x_test"], arrays["y_test"]), list(CLASS_NAMES))


def stratified_split(labels, holdout, seed=0):
    """Splits indices into `(train, holdout)`, `holdout` of them stratified.

    Each class gives its share of `holdout` (rounded), so the held-out set
    has the class proportions of `labels`. Both index arrays are sorted.

    Args:
        labels: (N,) integer array.
        holdout: number of held-out indices, 1 <= holdout < N.
        seed: seed of the draw.

    Returns:
        `(train_indices, holdout_indices)`.
    """
    labels = np.asarray(labels)
    if not 1 <= holdout < len(labels):
        raise ValueError(
            f"`holdout` must lie in [1, {len(labels)}). Received: {holdout}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    shares = np.floor(counts * holdout / len(labels)).astype(int)
    # Hand the rounding remainder to the classes with the largest fractions.
    fractions = counts * holdout / len(labels) - shares
    shares[np.argsort(-fractions)[:holdout - shares.sum()]] += 1
    held = np.concatenate([
        rng.choice(np.flatnonzero(labels == c), k, replace=False)
        for c, k in zip(classes, shares)])
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def content_digest(*arrays):
    """A sha256 of the arrays' shapes, dtypes and bytes (the cache key)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(repr((array.shape, str(array.dtype))).encode())
        digest.update(array.data)
    return digest.hexdigest()


def load_slice(fraction, data_dir=None):
    """A stratified `fraction` of the training set and the whole test set,
    scaled to [0, 1] with a channel axis: what the examples train on.

    Returns:
        `(x_train, y_train, x_test, y_test, class_names)`.
    """
    (x, y), (x_test, y_test), names = load_fashion_mnist(data_dir=data_dir)
    if not 0 < fraction <= 1:
        raise ValueError(
            f"`fraction` must lie in (0, 1]. Received: {fraction}")
    if fraction < 1:
        _, keep = stratified_split(y, max(1, round(fraction * len(y))))
        x, y = x[keep], y[keep]

    def scale(images):
        return (images.astype("float32") / 255.0)[..., None]

    return (scale(x), y.astype("int32"), scale(x_test),
            y_test.astype("int32"), names)
