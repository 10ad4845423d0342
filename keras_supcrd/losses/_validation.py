"""Argument checks shared by the loss functions.

Every check raises `ValueError` naming the offending argument. Label ranges
are checked on the values when they can be read without tracing (eager
torch, eager TensorFlow, numpy); inside `jit`, `tf.function` and
`torch.compile` the check
becomes an in-graph flag, and `poison_unless` turns the loss into NaN, so a
bad label can never give a finite wrong value.
"""

import functools
import inspect
import numbers
import sys

import keras
import numpy as np
from keras import ops


def check_positive(name, value):
    if isinstance(value, numbers.Number) and not value > 0:
        raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")


def check_non_negative(name, value):
    if isinstance(value, numbers.Number) and not value >= 0:
        raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")


def check_unit_interval(name, value):
    if isinstance(value, numbers.Number) and not 0 <= value <= 1:
        raise ValueError(
            f"`{name}` must lie in [0, 1]. Received: {name}={value}")


# The names the loss functions' `checks` declarations read best with.
positive, non_negative, unit_interval = (
    check_positive, check_non_negative, check_unit_interval)


def checks(*cross_checks, **rules):
    """Declares a loss function's settings checks, next to its signature.

    `rules` maps a setting to `check(name, value)`; each of `cross_checks`
    takes the dict of all bound arguments (for rules that depend on more
    than one setting). The wrapped function runs them on every call, with
    its defaults applied, and exposes them as `fn.check_settings(settings)`
    so that its Loss twin checks its settings once, when it is built.
    """
    def decorate(fn):
        signature = inspect.signature(fn)
        unknown = sorted(set(rules) - set(signature.parameters))
        if unknown:
            raise TypeError(f"{fn.__name__} has no settings {unknown}.")

        def check_settings(settings):
            for name, rule in rules.items():
                rule(name, settings[name])
            for check in cross_checks:
                check(settings)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            check_settings(bound.arguments)
            return fn(*args, **kwargs)

        checked.check_settings = check_settings
        return checked

    return decorate


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
    if compiling():  # even numpy input: torch.compile traces it
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


def compiling():
    """True while `torch.compile` traces the code.

    Reading a tensor's values there breaks the graph (and recompiles it
    call after call), so value checks take their in-graph form, as under
    `jit` and `tf.function`. The losses import no framework: under the
    torch backend Keras has imported torch already.
    """
    if keras.backend.backend() != "torch":
        return False
    return sys.modules["torch"].compiler.is_compiling()


def required_labels(labels):
    if labels is None:
        raise ValueError("`labels` is required.")
    return ops.convert_to_tensor(labels)


def require_ref_labels(ref_embeddings, ref_labels):
    if ref_embeddings is not None and ref_labels is None:
        raise ValueError(
            "`ref_labels` is required with `ref_embeddings` (use -1 for "
            "empty slots)."
        )


def as_labels(x):
    return ops.cast(x, "int32")


def as_float(x):
    return ops.cast(x, "float32")


def nan_if_not_finite(x):
    """`x` with every inf replaced by NaN.

    An inf input must poison every value it takes part in, but `exp(-inf)`
    is a silent 0; NaN propagates through every product and sum.
    """
    return ops.where(ops.isfinite(x), x, float("nan"))
