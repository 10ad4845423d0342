"""Bad values never give a finite wrong answer (docs/method.md §6).

A NaN or inf in any input that takes part in an anchor's loss makes that
anchor's loss non-finite; the other anchors keep their exact values. An
out-of-range label raises `ValueError` where the values can be read, and
makes the whole loss NaN inside `jax.jit` and `tf.function`.
"""

import numpy as np
import pytest
from keras import ops

from grad import compiled as jit
from tests.losses import registry
from tests.losses.cases import make_case

BATCH, CLASSES = 6, 3
EVERY = set(range(BATCH))


def _case():
    c = make_case(batch=BATCH, classes=CLASSES, ref=5, empty=1, seed=11)
    c["labels"] = np.array([0, 1, 2, 0, 1, 2], "int32")
    return c


def _poisonings(c, uses_logits):
    """(input index, row, anchors whose loss the row takes part in)."""
    valid_ref = int(np.flatnonzero(c["ref_labels"] != -1)[0])
    empty_ref = int(np.flatnonzero(c["ref_labels"] == -1)[0])
    cases = [(0, 2, {2}), (1, 4, EVERY), (2, valid_ref, EVERY),
             (2, empty_ref, set())]
    if uses_logits:
        cases.append((3, 1, {1}))
    return cases


def _check(fn, args, clean, index, row, affected, bad):
    poisoned = [np.array(a, copy=True) for a in args]
    poisoned[index][row, 0] = bad
    out = ops.convert_to_numpy(fn(*poisoned))
    hit = sorted(affected)
    rest = sorted(EVERY - affected)
    assert not np.any(np.isfinite(out[hit])), (index, row, bad, out)
    np.testing.assert_allclose(out[rest], clean[rest], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", sorted(registry.EMBEDDING))
def test_nan_and_inf_poison_exactly_the_anchors_they_touch(name, normalize,
                                                           compiled):
    c = _case()
    scale = 1.0 if normalize else 0.3  # keep exp() in range unnormalised
    args = [scale * c["student"], scale * c["teacher"],
            scale * c["ref_embeddings"], c["teacher_logits"]]

    def fn(s, t, r, z):
        return registry.library(name, dict(c, teacher_logits=z),
                                normalize=normalize)(s, t, r)

    fn = jit(fn) if compiled else fn
    clean = ops.convert_to_numpy(fn(*args))
    assert np.all(np.isfinite(clean))
    uses_logits = "teacher_logits" in registry.EMBEDDING[name].reads
    for index, row, affected in _poisonings(c, uses_logits):
        for bad in (np.nan, np.inf, -np.inf):
            _check(fn, args, clean, index, row, affected, bad)


@pytest.mark.parametrize("name", ["kd", "dkd"])
def test_nan_and_inf_poison_logit_losses_per_row(name, compiled):
    c = _case()

    def fn(zs, zt):
        return registry.logit_library(name, dict(c, teacher_logits=zt))(zs)

    fn = jit(fn) if compiled else fn
    args = [c["teacher_logits"][::-1].copy(), c["teacher_logits"]]
    clean = ops.convert_to_numpy(fn(*args))
    for index in (0, 1):
        for bad in (np.nan, np.inf, -np.inf):
            _check(fn, args, clean, index, 3, {3}, bad)


BAD_LABELS = {
    # name: (loss of (labels, ref_labels), argument, bad labels, bad ref)
    "supcrd labels": ("supcrd", "labels", [0, 1, -2, 0, 1, 2], None),
    "supcrd ref_labels": ("supcrd", "ref_labels", None, [0, -2, 1, 2, -1]),
    "crd ref_labels": ("crd", "ref_labels", None, [0, -3, 1, 2, -1]),
    "lw labels": ("lw", "labels", [0, 1, 2, 0, 1, 3], None),
    "lw ref_labels": ("lw", "ref_labels", None, [0, 3, 1, 2, -1]),
    "dkd labels high": ("dkd", "labels", [0, 1, 2, 0, 1, 3], None),
    "dkd labels low": ("dkd", "labels", [0, -1, 2, 0, 1, 2], None),
}


def _labelled(name):
    """`fn(labels, ref_labels)` of a loss on the case, and the case."""
    c = _case()
    if name in registry.LOGIT:
        z = c["teacher_logits"][::-1].copy()
        return (lambda y, ry: registry.logit_library(
            name, dict(c, labels=y))(z)), c
    return (lambda y, ry: registry.call(
        name, dict(c, labels=y, ref_labels=ry))), c


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_out_of_range_labels_raise_eagerly_and_are_nan_compiled(case):
    name, argument, labels, ref_labels = BAD_LABELS[case]
    fn, c = _labelled(name)
    y = np.array(c["labels"] if labels is None else labels, "int32")
    ry = np.array(c["ref_labels"] if ref_labels is None else ref_labels,
                  "int32")
    good = ops.convert_to_numpy(jit(fn)(c["labels"], c["ref_labels"]))
    assert np.all(np.isfinite(good))
    with pytest.raises(ValueError, match=f"`{argument}` must lie in"):
        fn(y, ry)
    out = ops.convert_to_numpy(jit(fn)(y, ry))
    assert np.all(np.isnan(out)), out
