"""Examples read by rows: what `distill` and `compare` train, validate and
test on.

A source knows its labels and where each example lives (a row of an
array, in memory or memory-mapped, or an image file) and reads the pixels
of the rows a batch asks for, so that a split of a folder costs an index
array, not a copy of its images (docs/data.md).
"""

import copy
import hashlib
import os
from typing import NamedTuple

import keras
import numpy as np

from keras_supcrd.app.userdata import COLOR_MODES
from keras_supcrd.app.userdata import InputError


class Source:
    """Labelled examples, read by rows.

    Subclasses give `_read(positions) -> float32 batch`, `shape` (one
    example's) and `_digest_parts()` (what the examples' values depend
    on); `subset` and `read` are shared.
    """

    in_memory = False

    def __init__(self, y):
        self.y = np.asarray(y, "int32")
        self._positions = np.arange(len(self.y))

    def __len__(self):
        return len(self.y)

    def subset(self, rows):
        """The examples at `rows` (an index array), without reading them."""
        part = copy.copy(self)
        part.y, part._positions = self.y[rows], self._positions[rows]
        return part

    def read(self, rows):
        """The inputs of the examples at `rows`, float32."""
        return self._read(self._positions[rows])

    def digest(self):
        """A sha256 of what the examples are: their storage and labels."""
        digest = hashlib.sha256()
        for part in self._digest_parts():
            digest.update(repr(part).encode())
        digest.update(self._positions.tobytes())
        digest.update(self.y.tobytes())
        return digest.hexdigest()


class Arrays(Source):
    """Rows of an array `x` (or a dict of arrays of one length): in
    memory, or memory-mapped (`numpy.memmap`), read a batch at a time."""

    def __init__(self, x, y):
        super().__init__(y)
        self.x = x
        self.in_memory = not any(isinstance(a, np.memmap)
                                 for a in keras.tree.flatten(x))

    @property
    def shape(self):
        return tuple(keras.tree.flatten(self.x)[0].shape[1:])

    def arrays(self):
        """`(x, y)` whole: for arrays already in memory only."""
        if not self.in_memory:
            raise TypeError("a memory-mapped source is read by batches")
        return keras.tree.map_structure(lambda a: a[self._positions],
                                        self.x), self.y

    def _read(self, positions):
        # Ascending positions read a memory-mapped file forwards.
        order = np.argsort(positions, kind="stable")
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return keras.tree.map_structure(
            lambda a: np.asarray(a[positions[order]], "float32")[back],
            self.x)

    def _digest_parts(self):
        parts = []
        for a in keras.tree.flatten(self.x):
            if isinstance(a, np.memmap):
                parts.append(_file_identity(a.filename) + (a.offset,))
            else:
                parts.append(hashlib.sha256(
                    np.ascontiguousarray(a).data).hexdigest())
            parts.append((a.shape, str(a.dtype)))
        return parts


class ImageFiles(Source):
    """Image files decoded, resized to `shape`'s height and width in its
    colour mode, and multiplied by `rescale` when a batch is read.

    A file that cannot be read then is an `InputError` naming it.
    """

    def __init__(self, paths, y, shape, rescale):
        super().__init__(y)
        self.paths, self.shape, self.rescale = list(paths), tuple(shape), \
            rescale

    def _read(self, positions):
        batch = np.empty((len(positions), *self.shape), "float32")
        for i, position in enumerate(positions):
            batch[i] = self._image(self.paths[position])
        return batch

    def _image(self, path):
        try:
            image = keras.utils.load_img(
                path, color_mode=COLOR_MODES[self.shape[-1]],
                target_size=self.shape[:2], interpolation="bilinear")
        except Exception as error:  # removed, truncated, not an image
            raise InputError(
                f"--data: {path} could not be read while training "
                f"({type(error).__name__}: {error}). Restore or fix it and "
                "run the same command again: it resumes after the last "
                "finished epoch.") from None
        pixels = keras.utils.img_to_array(image, dtype="float32")
        return pixels * np.float32(self.rescale)

    def _digest_parts(self):
        # Files are known by name, size and modification time (as make and
        # rsync know them): hashing every byte would read the whole folder.
        return [self.shape, self.rescale,
                *(_file_identity(p) for p in self.paths)]


def _file_identity(path):
    stat = os.stat(path)
    return os.path.abspath(path), stat.st_size, stat.st_mtime_ns


class Data(NamedTuple):
    """The sources a run trains, validates and tests on.

    `test` is None when a run has no test split (`distill`); `test_from`
    says where the test split came from.
    """

    train: Source
    validation: Source
    test: Source
    class_names: list
    test_from: str = "none"
