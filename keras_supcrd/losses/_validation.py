"""Argument checks shared by the loss functions.

Every check raises `ValueError` naming the offending argument. Label ranges
are checked on the values when they can be read without tracing (eager
torch, eager TensorFlow, numpy); inside `jit`, `tf.function` and
`torch.compile` the check
becomes an in-graph flag, and `poison_unless` turns the loss into NaN, so a
bad label can never give a finite wrong value.
"""

import numbers

import numpy as np
from keras import ops

from keras_supcrd import backend


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
    if backend.compiling():  # even numpy input: torch.compile traces it
        return None
    if isinstance(x, (np.ndarray, list, tuple, numbers.Number)):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # a tracer or symbolic tensor: values unknown
        return None


def check_label_range(name, labels, num_classes, allow_empty=False):
    """Checks `low <= labels < num_classes` (`low` is -1 if `allow_empty`).

    Raises `ValueError` when the values can be read. Inside a compiled
    function it returns a scalar bool tensor, True when every label is in
    range, for `poison_unless`; it returns None when the check has passed.
    """
    low = -1 if allow_empty else 0
    high = "inf" if num_classes is None else num_classes
    values = known_values(labels)
    if values is None:
        labels = ops.convert_to_tensor(labels)
        ok = ops.all(labels >= low)
        if num_classes is not None:
            ok = ops.logical_and(ok, ops.all(labels < num_classes))
        return ok
    bad = values < low
    if num_classes is not None:
        bad |= values >= num_classes
    if np.any(bad):
        raise ValueError(_range_message(name, low, high, values[bad]))
    return None


def _range_message(name, low, high, bad_values):
    shown = np.unique(bad_values)[:5].tolist()
    return f"`{name}` must lie in [{low}, {high}). Received values {shown}."


def poison_unless(flags, x):
    """`x`, or NaN everywhere if any in-graph flag of `check_label_range`
    is False; `x` itself when every check passed eagerly."""
    flags = [f for f in flags if f is not None]
    if not flags:
        return x
    ok = flags[0]
    for flag in flags[1:]:
        ok = ops.logical_and(ok, flag)
    return ops.where(ok, x, float("nan"))
