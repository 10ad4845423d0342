"""A source's batches for `fit`, `evaluate` and `predict`, read in
background threads while the step runs, in an order that a resumed run
repeats."""

import keras
import numpy as np

from keras_supcrd.app.userdata import InputError

# Batches decoded ahead of the step, per worker thread: enough to hide a
# slow file, few enough that the queue's memory stays a few batches.
QUEUE_PER_WORKER = 2


class Batches(keras.utils.PyDataset):
    """`(x, y)` batches of a source, read when asked for.

    With a `seed`, the order depends on `(seed, epoch)` only, so that a run
    resumed at epoch `e` sees the batches an uninterrupted run sees there
    (Keras's own shuffle draws from a state that a restart does not
    restore); `EpochOrder` tells it the epoch. Without one, the source's
    order (validation, prediction).

    A batch split over `multiple` devices must have a multiple of that
    many rows. A shuffled epoch then leaves out its last `len % multiple`
    rows (fewer than `multiple`, other ones each epoch); the source's
    order pads its last batch with copies of its last row, weighted 0 in
    `(x, y, sample_weight)` batches, and `predict` drops their outputs.

    A file that fails to read stops the epoch; the error is also kept in
    `error`, because TensorFlow hands a generator's error on in a type of
    its own.

    Args:
        source: a `keras_supcrd.app.sources.Source`.
        batch_size: examples per batch (the last one may be smaller).
        seed: shuffle seed, or None for the source's order.
        workers: reader threads (1: read in the training loop).
        multiple: devices a batch is split over (1: no constraint).
    """

    def __init__(self, source, batch_size, seed=None, workers=1,
                 multiple=1):
        super().__init__(workers=workers, use_multiprocessing=False,
                         max_queue_size=QUEUE_PER_WORKER * workers)
        self.source, self.batch_size, self.seed = source, batch_size, seed
        self.multiple = multiple
        self.error = None
        self.set_epoch(0)

    def set_epoch(self, epoch):
        self.epoch = epoch
        n = len(self.source)
        if self.seed is None:
            self.order = np.arange(n)
        else:
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
            self.order = order[:n - n % self.multiple]

    def __len__(self):
        return -(-len(self.order) // self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size:
                          (index + 1) * self.batch_size]
        padding = -len(rows) % self.multiple
        rows = np.concatenate([rows, np.repeat(rows[-1:], padding)])
        try:
            x = self.source.read(rows)
        except InputError as error:
            self.error = error
            raise
        if self.seed is not None or self.multiple == 1:
            return x, self.source.y[rows]
        weights = np.ones(len(rows), "float32")
        weights[len(rows) - padding:] = 0
        return x, self.source.y[rows], weights


class EpochOrder(keras.callbacks.Callback):
    """Tells `Batches` the epoch about to run (after a restore, the first
    one not finished); Keras calls it before the readers start."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


def fit(model, x, **kwargs):
    """`model.fit(x, **kwargs)`; a file that failed to read in `x` or in
    `validation_data` (`Batches`) is raised as the `InputError` naming
    it, whatever type the backend wrapped it in."""
    try:
        return model.fit(x, **kwargs)
    except Exception:
        for data in (x, kwargs.get("validation_data")):
            if isinstance(data, Batches) and data.error is not None:
                raise data.error from None
        raise


def predict(model, source, batch_size, workers=1, multiple=1):
    """`model.predict` over `source` in its order: arrays in memory whole
    (Keras batches them), anything else streamed by `Batches`."""
    if source.in_memory and multiple == 1:
        x, _ = source.arrays()
        return model.predict(x, batch_size=batch_size, verbose=0)
    batches = Batches(source, batch_size, workers=workers, multiple=multiple)
    try:
        outputs = model.predict(batches, verbose=0)
    except Exception:
        if batches.error is not None:
            raise batches.error from None
        raise
    return keras.tree.map_structure(lambda a: a[:len(source)], outputs)


def accuracy(model, source, batch_size, workers=1, multiple=1):
    """The share of `source` that `model`'s logits classify right."""
    logits = predict(model, source, batch_size, workers, multiple)
    return float(np.mean(np.argmax(logits, -1) == source.y))
