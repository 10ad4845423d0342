"""Property tests of the loss API.

Valid inputs: finite float32 values of shape (B,) equal to the float64
reference, for every loss of the registry. Invalid inputs (one defect per
draw): the `ValueError` that names the argument at fault, from every loss
that reads it.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from keras import ops

from tests.losses import registry

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def valid_calls(draw):
    """A case in `make_case`'s keys, and the settings to call it with."""
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

    case = {
        "student": rows(batch),
        "teacher": rows(batch),
        "labels": rng.integers(0, classes, batch),
        "teacher_logits": (draw(st.sampled_from([1.0, 10.0])) *
                           rng.normal(size=(batch, classes))
                           ).astype("float32"),
        "ref_embeddings": rows(ref) if ref else None,
        "ref_labels": rng.integers(-1, classes, ref) if ref else None,
    }
    settings = {"temperature": draw(st.sampled_from([0.05, 0.07, 1.0, 10.0])),
                "normalize": normalize}
    return case, settings, draw(st.sampled_from([1.0, 4.0]))


def _as64(c):
    return [None if a is None else a.astype(np.float64)
            for a in registry.inputs(c)]


def _pairs(c, settings, kd_temperature):
    """(library value, float64 reference) for every loss on the case."""
    pairs = {}
    for name, entry in registry.EMBEDDING.items():
        kw = dict(settings)
        if "teacher_logits" in entry.reads:
            kw["kd_temperature"] = kd_temperature
        pairs[name] = (registry.call(name, c, **kw),
                       registry.reference_of(name, c, **kw)(*_as64(c)))
    z = c["teacher_logits"][::-1].copy()
    for name in registry.LOGIT:
        kw = {"temperature": kd_temperature}
        pairs[name] = (registry.logit_library(name, c, **kw)(z),
                       registry.logit_reference_of(name, c, **kw)(z))
    return pairs


@SETTINGS
@given(valid_calls())
def test_valid_inputs_give_the_reference(call):
    c, settings, kd_temperature = call
    for name, (value, expected) in _pairs(c, settings,
                                          kd_temperature).items():
        value = ops.convert_to_numpy(value)
        assert value.shape == (len(c["labels"]),), name
        assert value.dtype == np.float32, name
        assert np.all(np.isfinite(value)), (name, value)
        np.testing.assert_allclose(value, expected, rtol=2e-4, atol=2e-4,
                                   err_msg=name)


def _with_first_label(c, value):
    labels = np.where(np.arange(len(c["labels"])) == 0, value, c["labels"])
    return {**c, "labels": labels}


# Each defect: how to make it from a valid call.
DEFECTS = {
    "temperature": lambda c, s, v: (c, {**s, "temperature": v}),
    "kd_temperature": lambda c, s, v: (c, {**s, "kd_temperature": v}),
    "labels": lambda c, s, v: (_with_first_label(c, v), s),
    "ref_labels": lambda c, s, v: ({**c, "ref_labels": np.full(3, v),
                                    "ref_embeddings": c["student"][:1]
                                    .repeat(3, 0)}, s),
    "student": lambda c, s, v: ({**c, "student": c["student"][:, :1]
                                 .repeat(c["student"].shape[1] + 1, 1)}, s),
}
BAD_VALUE = {
    "temperature": st.sampled_from([0.0, -1.0, float("nan")]),
    "kd_temperature": st.sampled_from([0.0, -4.0]),
    # Out of range for every loss (supcrd has no upper bound; the upper
    # bounds of the others are in test_bad_values.py).
    "labels": st.sampled_from([-1, -5]),
    "ref_labels": st.sampled_from([-2, -7]),
    "student": st.just(None),
}


def _calls(c, settings):
    """Every loss on `c`, with the arguments each one reads."""
    calls = {}
    for name, entry in registry.EMBEDDING.items():
        reads = {"temperature", "student", *entry.reads}
        if name != "crd":  # crd reads only the -1 of `ref_labels`
            reads.add("ref_labels")
        kw = {"temperature": settings["temperature"]}
        if "teacher_logits" in entry.reads:
            reads.add("kd_temperature")
            kw["kd_temperature"] = settings.get("kd_temperature", 4.0)
        calls[name] = (lambda name=name, kw=kw: registry.call(name, c, **kw),
                       reads)
    z = c["teacher_logits"][::-1].copy()
    for name, entry in registry.LOGIT.items():
        # The logit losses call their softmax temperature `temperature`.
        kw = {"temperature": settings.get("kd_temperature", 4.0)}
        calls[name] = (
            lambda name=name, kw=kw: registry.logit_library(name, c, **kw)(z),
            {"kd_temperature", *entry.reads})
    return calls


@st.composite
def invalid_calls(draw):
    c, settings, _ = draw(valid_calls())
    argument = draw(st.sampled_from(sorted(DEFECTS)))
    value = draw(BAD_VALUE[argument])
    return (argument, *DEFECTS[argument](c, settings, value))


@SETTINGS
@given(invalid_calls())
def test_each_invalid_input_is_named_by_every_loss_that_reads_it(case):
    argument, c, settings = case
    hit = 0
    for loss, (call, reads) in _calls(c, settings).items():
        if argument not in reads:
            continue
        name = argument
        if argument == "kd_temperature" and loss in registry.LOGIT:
            name = "temperature"
        with pytest.raises(ValueError, match=f"`{name}`"):
            call()
        hit += 1
    assert hit
