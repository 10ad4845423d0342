"""Argument checks shared by the loss functions.

Every check raises `ValueError` naming the offending argument. Value checks
(label ranges) run only when the values can be read without tracing, so the
same functions work inside `jit`, `tf.function` and eager torch.
"""

import numbers

import numpy as np
from keras import ops


def check_positive(name, value):
    if isinstance(value, numbers.Number) and not value > 0:
        raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")


def check_non_negative(name, value):
    if isinstance(value, numbers.Number) and not value >= 0:
        raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")


def check_rank(name, x, rank):
    if len(x.shape) != rank:
        raise ValueError(
            f"`{name}` must have rank {rank}. Received: {name}.shape={x.shape}"
        )


def check_same_dim(name_a, a, name_b, b, axis=0):
    da, db = a.shape[axis], b.shape[axis]
    if da is not None and db is not None and da != db:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must agree on axis {axis}. Received: "
            f"{name_a}.shape={a.shape} and {name_b}.shape={b.shape}"
        )


def known_values(x):
    """Returns `x` as numpy if it can be read without tracing, else None."""
    if isinstance(x, (np.ndarray, list, tuple, numbers.Number)):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # a tracer or symbolic tensor: values unknown
        return None


def check_label_range(name, labels, num_classes, allow_empty=False):
    """Checks `0 <= labels < num_classes` (or -1 if `allow_empty`)."""
    values = known_values(labels)
    if values is None or values.size == 0:
        return
    low = -1 if allow_empty else 0
    if num_classes is None:
        bad = values < low
        high = "inf"
    else:
        bad = (values < low) | (values >= num_classes)
        high = num_classes
    if np.any(bad):
        raise ValueError(
            f"`{name}` must lie in [{low}, {high}). Received values "
            f"{np.unique(values[bad])[:5].tolist()}."
        )
