"""Every loss against the float64 loop references of tests/reference.py."""

import numpy as np
import pytest
from keras import ops

import reference
from keras_supcrd import losses
from tests.losses.cases import make_case

CASES = {
    "batch": dict(batch=8, classes=4),
    "bank_with_empty_slots": dict(batch=8, classes=4, ref=24, empty=7),
    "single_sample": dict(batch=1, classes=3),
    "two_classes": dict(batch=10, classes=2, ref=6, empty=2),
    "large_bank": dict(batch=16, dim=32, classes=10, ref=2032, empty=100),
}


def _ref_kwargs(c):
    return {"ref": c["ref_embeddings"], "ref_y": c["ref_labels"]}


def _lib_kwargs(c):
    return {"ref_embeddings": c["ref_embeddings"],
            "ref_labels": c["ref_labels"]}


def _close(actual, expected):
    actual = ops.convert_to_numpy(actual)
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_crd(name, normalize):
    c = make_case(**CASES[name])
    # Without normalisation keep the logits small enough for float64 exp.
    temperature = 0.07 if normalize else 5.0
    expected = reference.crd(c["student"], c["teacher"], temperature,
                             normalize=normalize, **_ref_kwargs(c))
    _close(losses.crd(c["student"], c["teacher"], temperature=temperature,
                      normalize=normalize, **_lib_kwargs(c)), expected)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_supcrd(name, normalize):
    c = make_case(**CASES[name])
    temperature = 0.07 if normalize else 5.0
    expected = reference.supcrd(c["student"], c["teacher"], c["labels"],
                                temperature, normalize=normalize,
                                **_ref_kwargs(c))
    _close(losses.supcrd(c["student"], c["teacher"], c["labels"],
                         temperature=temperature, normalize=normalize,
                         **_lib_kwargs(c)), expected)


@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_logit_weighted_supcrd(name, normalize, decoupled):
    c = make_case(**CASES[name])
    settings = dict(alpha=1.5, beta=6.0, kd_temperature=2.0,
                    temperature=0.1 if normalize else 5.0)
    expected = reference.logit_weighted_supcrd(
        c["student"], c["teacher"], c["labels"], c["teacher_logits"],
        normalize=normalize, decoupled=decoupled, **settings,
        **_ref_kwargs(c))
    _close(losses.logit_weighted_supcrd(
        c["student"], c["teacher"], c["labels"], c["teacher_logits"],
        normalize=normalize, decoupled=decoupled, **settings,
        **_lib_kwargs(c)), expected)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
@pytest.mark.parametrize("classes", [2, 5, 100])
def test_kd_and_dkd(classes, temperature):
    rng = np.random.default_rng(classes)
    zs = (3 * rng.normal(size=(12, classes))).astype("float32")
    zt = (3 * rng.normal(size=(12, classes))).astype("float32")
    y = rng.integers(0, classes, size=12)
    _close(losses.kd(zs, zt, temperature=temperature),
           reference.kd(zs, zt, temperature))
    _close(losses.dkd(zs, zt, y, alpha=0.5, beta=2.0,
                      temperature=temperature),
           reference.dkd(zs, zt, y, 0.5, 2.0, temperature))
