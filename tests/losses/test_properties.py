"""Property tests of the loss API.

Valid inputs: finite float32 values of shape (B,) equal to the float64
reference. Invalid inputs (one defect per draw): the `ValueError` that names
the argument at fault, from every loss that reads it.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops

import reference
from keras_supcrd import losses

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_calls(draw):
    batch = draw(st.integers(1, 6))
    dim = draw(st.integers(1, 5))
    classes = draw(st.integers(2, 5))
    ref = draw(st.integers(0, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    normalize = draw(st.booleans())
    # Unnormalised logits grow with the scale: keep the float64 reference's
    # plain exp() in range.
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0] if normalize else
                                 [1e-3, 0.3]))
    dtype = draw(st.sampled_from(["float32", "float16", "float64"]))

    def rows(n):
        return (scale * rng.normal(size=(n, dim))).astype(dtype)

    return {
        "student": rows(batch),
        "teacher": rows(batch),
        "labels": rng.integers(0, classes, batch),
        "logits": (draw(st.sampled_from([1.0, 10.0])) *
                   rng.normal(size=(batch, classes))).astype("float32"),
        "ref": rows(ref) if ref else None,
        "ref_labels": rng.integers(-1, classes, ref) if ref else None,
        "temperature": draw(st.sampled_from([0.05, 0.07, 1.0, 10.0])),
        "kd_temperature": draw(st.sampled_from([1.0, 4.0])),
        "normalize": normalize,
        "decoupled": draw(st.booleans()),
    }


def _contrastive(c):
    """(library value, float64 reference) per contrastive loss."""
    ref = dict(ref_embeddings=c["ref"], ref_labels=c["ref_labels"])
    ref64 = dict(ref=c["ref"], ref_y=c["ref_labels"])
    kw = dict(temperature=c["temperature"], normalize=c["normalize"])
    lw = dict(kd_temperature=c["kd_temperature"], decoupled=c["decoupled"])
    s, t, y, z = c["student"], c["teacher"], c["labels"], c["logits"]
    s64, t64 = s.astype(np.float64), t.astype(np.float64)
    if c["ref"] is not None:
        ref64["ref"] = c["ref"].astype(np.float64)
    return {
        "crd": (losses.crd(s, t, **ref, **kw),
                reference.crd(s64, t64, **ref64, **kw)),
        "supcrd": (losses.supcrd(s, t, y, **ref, **kw),
                   reference.supcrd(s64, t64, y, **ref64, **kw)),
        "lw": (losses.logit_weighted_supcrd(s, t, y, z, **ref, **kw, **lw),
               reference.logit_weighted_supcrd(s64, t64, y, z, **ref64, **kw,
                                               **lw)),
    }


@SETTINGS
@given(valid_calls())
def test_valid_inputs_give_the_reference(c):
    s, z, y = c["logits"][::-1].copy(), c["logits"], c["labels"]
    t = c["kd_temperature"]
    pairs = _contrastive(c)
    pairs["kd"] = (losses.kd(s, z, temperature=t),
                   reference.kd(s, z, temperature=t))
    pairs["dkd"] = (losses.dkd(s, z, y, temperature=t),
                    reference.dkd(s, z, y, temperature=t))
    for name, (value, expected) in pairs.items():
        value = ops.convert_to_numpy(value)
        assert value.shape == (len(y),), name
        assert value.dtype == np.float32, name
        assert np.all(np.isfinite(value)), (name, value)
        np.testing.assert_allclose(value, expected, rtol=2e-4, atol=2e-4,
                                   err_msg=name)


def _with_labels(c, labels):
    return {**c, "labels": np.asarray(labels)}


# Each defect: (argument named in the error, how to make it, losses hit).
DEFECTS = {
    "temperature": lambda c, v: {**c, "temperature": v},
    "kd_temperature": lambda c, v: {**c, "kd_temperature": v},
    "labels": lambda c, v: _with_labels(c, np.where(
        np.arange(len(c["labels"])) == 0, v, c["labels"])),
    "ref_labels": lambda c, v: {**c, "ref_labels": np.full(3, v),
                                "ref": c["student"][:1].repeat(3, 0)},
    "student": lambda c, v: {**c, "student": c["student"][:, :1]
                             .repeat(c["student"].shape[1] + 1, 1)},
}
BAD_VALUE = {
    "temperature": st.sampled_from([0.0, -1.0, float("nan")]),
    "kd_temperature": st.sampled_from([0.0, -4.0]),
    # Out of range for every loss (supcrd has no upper bound; the upper
    # bounds of lw and dkd are in test_bad_values.py).
    "labels": st.sampled_from([-1, -5]),
    "ref_labels": st.sampled_from([-2, -7]),
    "student": st.just(None),
}


def _calls(c):
    """Every loss on `c`, with the arguments each one reads."""
    s, t, y, z = c["student"], c["teacher"], c["labels"], c["logits"]
    ref = dict(ref_embeddings=c["ref"], ref_labels=c["ref_labels"])
    tau = dict(temperature=c["temperature"])
    kd_t = dict(temperature=c["kd_temperature"])
    return {
        "crd": (lambda: losses.crd(s, t, **ref, **tau),
                {"temperature", "student"}),
        "supcrd": (lambda: losses.supcrd(s, t, y, **ref, **tau),
                   {"temperature", "student", "labels", "ref_labels"}),
        "lw": (lambda: losses.logit_weighted_supcrd(
            s, t, y, z, **ref, **tau, kd_temperature=c["kd_temperature"]),
            {"temperature", "kd_temperature", "student", "labels",
             "ref_labels"}),
        "kd": (lambda: losses.kd(z[::-1], z, **kd_t), {"kd_temperature"}),
        "dkd": (lambda: losses.dkd(z[::-1], z, y, **kd_t),
                {"kd_temperature", "labels"}),
    }


@st.composite
def invalid_calls(draw):
    c = draw(valid_calls())
    argument = draw(st.sampled_from(sorted(DEFECTS)))
    value = draw(BAD_VALUE[argument])
    return argument, DEFECTS[argument](c, value)


@SETTINGS
@given(invalid_calls())
def test_each_invalid_input_is_named_by_every_loss_that_reads_it(case):
    argument, c = case
    # kd and dkd call their softmax temperature `temperature`.
    names = {"kd": "temperature", "dkd": "temperature"}
    hit = 0
    for loss, (call, reads) in _calls(c).items():
        if argument not in reads:
            continue
        name = argument
        if argument == "kd_temperature":
            name = names.get(loss, argument)
        with pytest.raises(ValueError, match=f"`{name}`"):
            call()
        hit += 1
    assert hit
