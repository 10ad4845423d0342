"""Every loss of the registry against its float64 loop reference
(tests/reference.py): values on fixed cases, and value and gradients,
eager and compiled, against the reference and its finite differences."""

import numpy as np
import pytest
from keras import ops

from tests.losses import registry
from grad import value_and_grads
from tests.losses.cases import make_case

CASES = {
    "batch": dict(batch=8, classes=4),
    "bank_with_empty_slots": dict(batch=8, classes=4, ref=24, empty=7),
    "single_sample": dict(batch=1, classes=3),
    "two_classes": dict(batch=10, classes=2, ref=6, empty=2),
    "large_bank": dict(batch=16, dim=32, classes=10, ref=2032, empty=100),
}
# Without normalisation, small rows and a warm temperature keep the float64
# reference's plain exp() in range.
VARIANTS = {
    "normalized": ({}, 1.0),
    "unnormalized": ({"normalize": False, "temperature": 2.0}, 0.3),
    "standardized": ({"standardize": True}, 1.0),
    "reweighted": ({"alpha": 1.5, "beta": 6.0, "kd_temperature": 2.0,
                    "temperature": 0.1}, 1.0),
}
# The losses each variant applies to (None: every one).
APPLIES = {"standardized": set(registry.SOFT),
           "reweighted": {"lw", "lw_decoupled", "soft_supcrd_decoupled"}}


def _close(actual, expected):
    actual = ops.convert_to_numpy(actual)
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def _variants(names):
    return [(name, variant) for name in sorted(names)
            for variant in VARIANTS if name in APPLIES.get(variant, names)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name,variant", _variants(registry.EMBEDDING))
def test_embedding_loss_matches_reference(name, variant, case):
    c = make_case(**CASES[case])
    settings, scale = VARIANTS[variant]
    args = [None if a is None else (scale * a).astype("float32")
            for a in registry.inputs(c)]
    _close(registry.library(name, c, **settings)(*args),
           registry.reference_of(name, c, **settings)(*args))


@pytest.mark.parametrize("name", sorted(registry.EMBEDDING))
def test_value_and_gradients_match_reference(name, compiled):
    # Teacher and reference gradients train the teacher head (the bank's
    # rows are re-projected through it at every step).
    c = make_case(batch=5, dim=6, classes=3, ref=4, empty=1, seed=3)
    args = registry.inputs(c)
    value, grads = value_and_grads(registry.library(name, c), *args,
                                   wrt=(0, 1, 2), jit=compiled)
    ref_fn = registry.reference_of(name, c)
    args64 = [a.astype(np.float64) for a in args]
    np.testing.assert_allclose(value, ref_fn(*args64), rtol=1e-5, atol=1e-5)
    for k, grad in enumerate(grads):
        def vary(x, k=k):
            return ref_fn(*[x if j == k else a for j, a in enumerate(args64)])

        expected = registry.finite_difference(vary, args64[k])
        scale = np.max(np.abs(expected))
        assert scale > 0
        np.testing.assert_allclose(grad, expected, rtol=1e-3,
                                   atol=1e-3 * scale)
    # The empty slot takes part in nothing.
    np.testing.assert_array_equal(grads[2][c["ref_labels"] == -1], 0.0)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("classes", [2, 5, 100])
@pytest.mark.parametrize("name", sorted(registry.LOGIT))
def test_logit_loss_matches_reference(name, classes, temperature):
    c = make_case(batch=12, classes=classes, seed=classes)
    z = (3 * np.random.default_rng(classes).normal(size=(12, classes))
         ).astype("float32")
    settings = dict(temperature=temperature)
    if name == "dkd":
        settings.update(alpha=0.5, beta=2.0)
    _close(registry.logit_library(name, c, **settings)(z),
           registry.logit_reference_of(name, c, **settings)(z))


@pytest.mark.parametrize("name", sorted(registry.CONTRASTIVE))
def test_hand_written_gradient_equals_autodiff(name):
    from unittest import mock

    from keras_supcrd.losses import _logspace
    from keras_supcrd.losses import autodiff_gradient

    c = make_case(batch=8, classes=4, ref=8, empty=3, seed=4)
    args = registry.inputs(c)
    hand = value_and_grads(registry.library(name, c), *args, wrt=(0, 1, 2))
    spy = mock.patch.object(_logspace, "_autodiff_split_logsumexp",
                            wraps=_logspace._autodiff_split_logsumexp)
    with autodiff_gradient(), spy as autodiff:
        auto = value_and_grads(registry.library(name, c), *args,
                               wrt=(0, 1, 2))
    assert autodiff.called  # the switch took effect
    np.testing.assert_allclose(hand[0], auto[0], rtol=1e-6)
    for a, b in zip(hand[1], auto[1]):  # float32 rounding of the scale
        np.testing.assert_allclose(a, b, rtol=1e-4,
                                   atol=1e-5 * np.max(np.abs(b)))
