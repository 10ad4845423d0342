"""Invariances the maths implies, checked without any reference."""

import math

import numpy as np
import pytest
from keras import ops

from tests.losses import registry
from keras_supcrd import losses
from tests.losses.cases import make_case

EMBEDDING = sorted(registry.EMBEDDING)

def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("name", EMBEDDING)
def test_permuting_the_batch_permutes_the_output(name):
    c = make_case(batch=9, classes=3, ref=6, empty=2)
    perm = np.random.default_rng(1).permutation(9)
    permuted = dict(c)
    for key in ("student", "teacher", "labels", "teacher_logits"):
        permuted[key] = c[key][perm]
    np.testing.assert_allclose(_np(registry.call(name, permuted)),
                               _np(registry.call(name, c))[perm], rtol=1e-5)


@pytest.mark.parametrize("name", EMBEDDING)
def test_all_empty_reference_set_equals_none(name):
    c = make_case(batch=7, classes=3, ref=5, empty=5)
    bare = dict(c, ref_embeddings=None, ref_labels=None)
    np.testing.assert_allclose(_np(registry.call(name, c)),
                               _np(registry.call(name, bare)), rtol=1e-6)


@pytest.mark.parametrize("scale", [0.01, 3.0, 1000.0])
def test_alpha_and_beta_act_only_through_their_ratio(scale):
    c = make_case(batch=8, classes=4, ref=8, empty=1)
    base = _np(registry.call("lw", c, alpha=0.5, beta=4.0))
    scaled = _np(registry.call("lw", c, alpha=0.5 * scale, beta=4.0 * scale))
    np.testing.assert_allclose(scaled, base, rtol=1e-5)


def test_decoupled_alpha_and_beta_are_separate_knobs():
    c = make_case(batch=8, classes=4)
    base = _np(registry.call("lw_decoupled", c, alpha=0.5, beta=4.0))
    scaled = _np(registry.call("lw_decoupled", c, alpha=1.0, beta=8.0))
    np.testing.assert_allclose(scaled, 2 * base, rtol=1e-5)


def test_uniform_teacher_makes_lw_a_shifted_supcrd():
    # p = 1/C everywhere: lw = softplus(log N' - log P' + log(b (C-1) / a)).
    c = make_case(batch=10, classes=5, ref=6, empty=2)
    c["teacher_logits"] = np.zeros_like(c["teacher_logits"])
    alpha, beta, classes = 2.0, 8.0, 5
    lw = _np(registry.call("lw", c, alpha=alpha, beta=beta))
    sup = _np(registry.call("supcrd", c))
    # supcrd = softplus(x)  =>  x = log(expm1(supcrd)).
    shift = math.log(beta * (classes - 1) / alpha)
    expected = np.log1p(np.exp(np.log(np.expm1(sup.astype(np.float64)))
                               + shift))
    np.testing.assert_allclose(lw, expected, rtol=1e-4)


def test_supcrd_with_distinct_labels_is_crd():
    c = make_case(batch=6, classes=6)
    c["labels"] = np.arange(6)
    np.testing.assert_allclose(_np(registry.call("supcrd", c)),
                               _np(registry.call("crd", c)), rtol=1e-6)


def test_confusing_negatives_are_pushed_less():
    # docs/method.md §3: a negative of a class the teacher finds likely gets a
    # smaller push weight, so moving the student towards it costs less.
    t = np.array([[1.0, 0.0, 0.0]], "float32")
    ref = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32")
    ref_labels = np.array([1, 2])
    z = np.log(np.array([[0.6, 0.3, 0.1]], "float32"))  # 1 is "wolf"
    toward_wolf = np.array([[0.8, 0.6, 0.0]], "float32")
    toward_car = np.array([[0.8, 0.0, 0.6]], "float32")
    kw = dict(ref_embeddings=ref, ref_labels=ref_labels, kd_temperature=1.0)
    wolf = _np(losses.logit_weighted_supcrd(toward_wolf, t, [0], z, **kw))
    car = _np(losses.logit_weighted_supcrd(toward_car, t, [0], z, **kw))
    assert wolf[0] < car[0]
    sup_kw = dict(ref_embeddings=ref, ref_labels=ref_labels)
    np.testing.assert_allclose(
        _np(losses.supcrd(toward_wolf, t, [0], **sup_kw)),
        _np(losses.supcrd(toward_car, t, [0], **sup_kw)), rtol=1e-6)


def test_kd_is_shift_invariant_and_zero_on_equal_logits():
    z = make_case(batch=4, classes=5)["teacher_logits"]
    np.testing.assert_allclose(_np(losses.kd(z + 7.0, z)), np.zeros(4),
                               atol=1e-5)
