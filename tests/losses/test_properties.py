"""Property tests of the loss API: finite (B,) values or a ValueError."""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops

from keras_supcrd import losses

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def calls(draw):
    batch = draw(st.integers(1, 6))
    dim = draw(st.integers(1, 5))
    classes = draw(st.integers(1, 5))
    ref = draw(st.integers(0, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dtype = draw(st.sampled_from(["float32", "float16", "float64"]))
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 1e3]))
    label_low = draw(st.sampled_from([0, -1]))
    label_high = classes + draw(st.sampled_from([0, 0, 1]))
    return {
        "student": (scale * rng.normal(size=(batch, dim))).astype(dtype),
        "teacher": (scale * rng.normal(size=(batch, dim))).astype(dtype),
        "labels": rng.integers(label_low, label_high, batch),
        "logits": (draw(st.sampled_from([1.0, 1e4])) *
                   rng.normal(size=(batch, classes))).astype("float32"),
        "ref": rng.normal(size=(ref, dim)).astype("float32") if ref else None,
        "ref_labels": rng.integers(-1, classes, ref) if ref else None,
        "temperature": draw(st.sampled_from([-1.0, 0.0, 0.05, 0.07, 1.0,
                                             10.0])),
        "kd_temperature": draw(st.sampled_from([0.0, 1.0, 4.0])),
        "normalize": draw(st.booleans()),
        "decoupled": draw(st.booleans()),
    }


def _finite_or_value_error(fn, batch):
    try:
        out = ops.convert_to_numpy(fn())
    except ValueError:
        return
    assert out.shape == (batch,)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out)), out


@SETTINGS
@given(calls())
def test_contrastive_losses(c):
    batch = len(c["student"])
    ref = dict(ref_embeddings=c["ref"], ref_labels=c["ref_labels"])
    kw = dict(temperature=c["temperature"], normalize=c["normalize"])
    _finite_or_value_error(
        lambda: losses.crd(c["student"], c["teacher"], **ref, **kw), batch)
    _finite_or_value_error(
        lambda: losses.supcrd(c["student"], c["teacher"], c["labels"], **ref,
                              **kw), batch)
    _finite_or_value_error(
        lambda: losses.logit_weighted_supcrd(
            c["student"], c["teacher"], c["labels"], c["logits"], **ref,
            kd_temperature=c["kd_temperature"], decoupled=c["decoupled"],
            **kw), batch)


@SETTINGS
@given(calls())
def test_logit_losses(c):
    batch = len(c["logits"])
    student = c["logits"][::-1].copy()
    t = c["kd_temperature"]
    _finite_or_value_error(
        lambda: losses.kd(student, c["logits"], temperature=t), batch)
    _finite_or_value_error(
        lambda: losses.dkd(student, c["logits"], c["labels"], temperature=t),
        batch)
