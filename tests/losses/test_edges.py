"""Edge behaviour of docs/method.md §6, with gradients on every backend."""

import math

import numpy as np
import pytest
from keras import ops

import reference
from tests.losses import registry
from grad import value_and_grads
from keras_supcrd import losses
from tests.losses.cases import make_case

CONTRASTIVE = sorted(registry.CONTRASTIVE)

def _assert_finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(a)), a


@pytest.mark.parametrize("name", ["supcrd", "lw"])
def test_one_class_batch_is_zero_with_zero_gradient(name):
    c = make_case(batch=6, classes=3, ref=5, empty=2)
    c["labels"][:] = 1
    c["ref_labels"][c["ref_labels"] >= 0] = 1
    value, grads = value_and_grads(
        registry.library(name, c), c["student"], c["teacher"],
        c["ref_embeddings"], wrt=(0, 1, 2))
    np.testing.assert_array_equal(value, np.zeros(6, "float32"))
    for g in grads:
        np.testing.assert_array_equal(g, np.zeros_like(g))


def test_single_sample_crd_is_zero_with_zero_gradient():
    c = make_case(batch=1)
    value, (grad,) = value_and_grads(
        lambda s, t: losses.crd(s, t), c["student"], c["teacher"])
    np.testing.assert_array_equal(value, [0.0])
    np.testing.assert_array_equal(grad, np.zeros_like(grad))


def test_decoupled_push_vanishes_without_negatives():
    c = make_case(batch=6, classes=3)
    c["labels"][:] = 2
    args = (c["student"], c["teacher"], c["labels"], c["teacher_logits"])
    with_push = losses.logit_weighted_supcrd(*args, beta=8.0, decoupled=True)
    without = losses.logit_weighted_supcrd(*args, beta=0.0, decoupled=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(with_push),
                                  ops.convert_to_numpy(without))


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_empty_zero_slots_give_finite_values_and_gradients(name):
    c = make_case(batch=8, classes=4, ref=16, empty=16)
    value, grads = value_and_grads(
        registry.library(name, c), c["student"], c["teacher"],
        c["ref_embeddings"], wrt=(0, 1, 2))
    _assert_finite(value, *grads)
    # Empty slots take part in nothing: no gradient reaches them.
    np.testing.assert_array_equal(grads[2], np.zeros_like(grads[2]))


def _saturated(c):
    """Teacher logit gaps of 1e4: probabilities exactly 0 and 1."""
    z = np.zeros_like(c["teacher_logits"])
    z[np.arange(len(z)), c["labels"]] = 1e4  # confident and right
    z[0] = 0.0
    z[0, (c["labels"][0] + 1) % z.shape[1]] = 1e4  # confident and wrong
    return z


@pytest.mark.parametrize("name", ["lw", "lw_decoupled"])
def test_saturated_teacher_gives_finite_loss_and_gradient(name):
    c = make_case(batch=8, classes=4, ref=8, empty=3)
    c["teacher_logits"] = _saturated(c)
    value, grads = value_and_grads(
        registry.library(name, c), c["student"], c["teacher"],
        c["ref_embeddings"], wrt=(0, 1, 2))
    _assert_finite(value, *grads)
    assert np.any(grads[0] != 0)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_saturated_teacher_kd_and_dkd_finite(temperature):
    c = make_case(batch=8, classes=4)
    zt = _saturated(c)
    zs = c["teacher_logits"]
    for fn in (lambda s: losses.kd(s, zt, temperature=temperature),
               lambda s: losses.dkd(s, zt, c["labels"],
                                    temperature=temperature)):
        value, (grad,) = value_and_grads(fn, zs)
        _assert_finite(value, grad)
        assert np.any(grad != 0)


def test_dkd_of_identical_logits_is_zero():
    z = make_case(batch=5, classes=6)["teacher_logits"]
    y = np.arange(5) % 6
    np.testing.assert_allclose(
        ops.convert_to_numpy(losses.dkd(z, z, y)), np.zeros(5), atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", CONTRASTIVE)
def test_low_precision_inputs_compute_in_float32(name, dtype):
    c = make_case(batch=8, classes=4, ref=8, empty=2)
    fn = registry.library(name, c)
    low = [ops.convert_to_tensor(c[k], dtype)
           for k in ("student", "teacher", "ref_embeddings")]
    # The float32 computation on the same (rounded) values.
    rounded = [ops.cast(x, "float32") for x in low]
    out_low, out_32 = fn(*low), fn(*rounded)
    assert ops.convert_to_numpy(out_low).dtype == np.float32
    np.testing.assert_allclose(ops.convert_to_numpy(out_low),
                               ops.convert_to_numpy(out_32), rtol=1e-5)
    unrounded = ops.convert_to_numpy(fn(c["student"], c["teacher"],
                                        c["ref_embeddings"]))
    tol = 0.05 if dtype == "bfloat16" else 0.01
    np.testing.assert_allclose(ops.convert_to_numpy(out_low), unrounded,
                               rtol=tol, atol=tol)


def test_kd_gradient_matches_finite_differences():
    c = make_case(batch=4, classes=5, seed=1)
    zt, y = c["teacher_logits"], c["labels"]
    for lib, ref in (
        (lambda s: losses.kd(s, zt), lambda s: reference.kd(s, zt)),
        (lambda s: losses.dkd(s, zt, y), lambda s: reference.dkd(s, zt, y)),
    ):
        _, (grad,) = value_and_grads(lib, c["student"][:, :5] * 3)
        expected = registry.finite_difference(
            ref, (c["student"][:, :5] * 3).astype(np.float64))
        np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-4)


def test_golden_numbers_by_hand():
    # Orthogonal unit vectors at temperature 1: l = identity matrix.
    s = np.eye(2, dtype="float32")
    crd = ops.convert_to_numpy(losses.crd(s, s, temperature=1.0))
    np.testing.assert_allclose(crd, [math.log1p(math.exp(-1))] * 2, rtol=1e-6)
    same = ops.convert_to_numpy(
        losses.supcrd(s, s, np.array([0, 0]), temperature=1.0))
    np.testing.assert_array_equal(same, [0.0, 0.0])
    # Uniform teacher over 2 classes: A = 0.5 e, N = 8 * 0.5 * e^0 = 4.
    lw = ops.convert_to_numpy(losses.logit_weighted_supcrd(
        s, s, np.array([0, 1]), np.zeros((2, 2)), temperature=1.0))
    np.testing.assert_allclose(lw, [math.log1p(8 / math.e)] * 2, rtol=1e-6)
    dec = ops.convert_to_numpy(losses.logit_weighted_supcrd(
        s, s, np.array([0, 1]), np.zeros((2, 2)), temperature=1.0,
        decoupled=True))
    # 1 * 0.5 * -log(e) + 8 * log(0.5 * e^0)
    np.testing.assert_allclose(dec, [-0.5 + 8 * math.log(0.5)] * 2,
                               rtol=1e-6)
    # KD of [0, log 3] against [0, 0] at T=1: KL(u || [1/4, 3/4]).
    kd = ops.convert_to_numpy(losses.kd(
        np.array([[0.0, math.log(3)]]), np.zeros((1, 2)), temperature=1.0))
    np.testing.assert_allclose(
        kd, [0.5 * math.log(2) + 0.5 * math.log(2 / 3)], rtol=1e-6)


GOLDEN = {
    # make_case(batch=4, dim=5, classes=3, ref=3, empty=1, seed=7), defaults;
    # computed once with tests/reference.py in float64.
    "crd": [5.89109961, 15.74134268, 3.92495088, 5.58460796],
    "supcrd": [0.11363035, 9.63655584, 3.92314226, 5.58460796],
    "lw": [0.7702041, 11.97086854, 7.34025145, 7.98742665],
    "lw_decoupled": [21.98177255, 100.22353129, 9.56717198, 48.60563337],
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_numbers(name):
    c = make_case(batch=4, dim=5, classes=3, ref=3, empty=1, seed=7)
    out = registry.call(name, c)
    np.testing.assert_allclose(ops.convert_to_numpy(out), GOLDEN[name],
                               rtol=1e-5)


def test_push_weight_is_accurate_when_the_teacher_is_nearly_sure():
    # p = 1 - 2.5e-5 for class 1: 1 - p from p would keep two digits.
    c = make_case(batch=4, classes=2, seed=5)
    z = np.array([[-24.4, 18.0], [18.0, -24.4], [0.3, -0.2], [-30.0, 20.0]],
                 "float32")
    y = np.array([0, 1, 0, 1])
    out = ops.convert_to_numpy(losses.logit_weighted_supcrd(
        c["student"], c["teacher"], y, z))
    expected = reference.logit_weighted_supcrd(c["student"], c["teacher"], y,
                                               z.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=2e-6)
