"""Config round trips of the Loss twins, and their dict protocol."""


import numpy as np
import pytest
import keras
from keras import ops

from keras_supcrd import losses
from tests.losses.cases import make_case

INSTANCES = [
    losses.CRD(temperature=0.2, normalize=False, name="c"),
    losses.SupCRD(temperature=0.3, reduction="sum"),
    losses.LogitWeightedSupCRD(alpha=2.0, beta=3.0, temperature=0.1,
                               kd_temperature=2.0, decoupled=True),
    losses.KD(temperature=2.0),
    losses.DKD(alpha=0.5, beta=4.0, temperature=3.0),
    losses.DIST(beta=2.0, gamma=0.5, temperature=2.0),
    losses.SoftSupCRD(lam=0.3, kd_temperature=2.0, standardize=True),
    losses.SoftSupCRDPrototypes(lam=0.5, temperature=0.1),
    losses.SoftSupCRDDecoupled(alpha=0.5, beta=4.0),
]


def _io(c):
    y_true = {"labels": c["labels"], "teacher_logits": c["teacher_logits"],
              "teacher_embeddings": c["teacher"],
              "ref_embeddings": c["ref_embeddings"],
              "ref_labels": c["ref_labels"]}
    y_pred = {"student_embeddings": c["student"],
              "student_logits": c["teacher_logits"][::-1].copy()}
    return y_true, y_pred


@pytest.mark.parametrize("loss", INSTANCES, ids=lambda x: type(x).__name__)
def test_config_round_trip(loss):
    c = make_case(batch=6, classes=3, ref=4, empty=1)
    y_true, y_pred = _io(c)
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == config
    np.testing.assert_allclose(ops.convert_to_numpy(restored(y_true, y_pred)),
                               ops.convert_to_numpy(loss(y_true, y_pred)))


def test_config_holds_every_setting_of_the_function():
    import inspect

    for loss in INSTANCES:
        # Read from the loss function itself, not from the twin.
        settings = {
            p.name for p in inspect.signature(
                BY_HAND_FUNCTIONS[type(loss)]).parameters.values()
            if p.kind is p.KEYWORD_ONLY} - {"ref_embeddings", "ref_labels"}
        config = loss.get_config()
        assert settings | {"name", "reduction"} <= set(config)
        assert {k: config[k] for k in settings} == loss.settings


def test_twin_reduces_the_function_with_sample_weight():
    c = make_case(batch=6, classes=3, ref=4, empty=1)
    y_true, y_pred = _io(c)
    weights = np.linspace(0.0, 1.0, 6).astype("float32")
    per_sample = ops.convert_to_numpy(losses.logit_weighted_supcrd(
        c["student"], c["teacher"], c["labels"], c["teacher_logits"],
        ref_embeddings=c["ref_embeddings"], ref_labels=c["ref_labels"]))
    loss = losses.LogitWeightedSupCRD()
    np.testing.assert_allclose(
        ops.convert_to_numpy(loss(y_true, y_pred, sample_weight=weights)),
        np.sum(per_sample * weights) / 6, rtol=1e-5)
    unreduced = losses.LogitWeightedSupCRD(reduction=None)(y_true, y_pred)
    np.testing.assert_allclose(ops.convert_to_numpy(unreduced), per_sample,
                               rtol=1e-6)


def test_loss_survives_a_keras_file(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(loss=losses.KD(temperature=2.5))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, losses.KD)
    assert loaded.loss.get_config()["temperature"] == 2.5


# Each twin's call written out by hand, independent of its declaration.
BY_HAND = {
    losses.CRD: lambda t, p, kw: losses.crd(
        p["student_embeddings"], t["teacher_embeddings"], **_refs(t), **kw),
    losses.SupCRD: lambda t, p, kw: losses.supcrd(
        p["student_embeddings"], t["teacher_embeddings"], t["labels"],
        **_refs(t), **kw),
    losses.LogitWeightedSupCRD: lambda t, p, kw: losses.logit_weighted_supcrd(
        p["student_embeddings"], t["teacher_embeddings"], t["labels"],
        t["teacher_logits"], **_refs(t), **kw),
    losses.KD: lambda t, p, kw: losses.kd(
        p["student_logits"], t["teacher_logits"], **kw),
    losses.DKD: lambda t, p, kw: losses.dkd(
        p["student_logits"], t["teacher_logits"], t["labels"], **kw),
    losses.DIST: lambda t, p, kw: losses.dist(
        p["student_logits"], t["teacher_logits"], **kw),
    losses.SoftSupCRD: lambda t, p, kw: losses.soft_supcrd(
        p["student_embeddings"], t["teacher_embeddings"], t["labels"],
        t["teacher_logits"], **_refs(t), **kw),
    losses.SoftSupCRDPrototypes: lambda t, p, kw: (
        losses.soft_supcrd_prototypes(
            p["student_embeddings"], t["teacher_embeddings"], t["labels"],
            t["teacher_logits"], **_refs(t), **kw)),
    losses.SoftSupCRDDecoupled: lambda t, p, kw: losses.soft_supcrd_decoupled(
        p["student_embeddings"], t["teacher_embeddings"], t["labels"],
        t["teacher_logits"], **_refs(t), **kw),
}


BY_HAND_FUNCTIONS = {
    losses.CRD: losses.crd, losses.SupCRD: losses.supcrd,
    losses.LogitWeightedSupCRD: losses.logit_weighted_supcrd,
    losses.KD: losses.kd, losses.DKD: losses.dkd, losses.DIST: losses.dist,
    losses.SoftSupCRD: losses.soft_supcrd,
    losses.SoftSupCRDPrototypes: losses.soft_supcrd_prototypes,
    losses.SoftSupCRDDecoupled: losses.soft_supcrd_decoupled,
}


def _refs(y_true):
    return {"ref_embeddings": y_true["ref_embeddings"],
            "ref_labels": y_true["ref_labels"]}


@pytest.mark.parametrize("loss", INSTANCES, ids=lambda x: type(x).__name__)
def test_twin_equals_its_function_called_by_hand(loss):
    c = make_case(batch=6, classes=3, ref=4, empty=1)
    y_true, y_pred = _io(c)
    per_sample = ops.convert_to_numpy(
        BY_HAND[type(loss)](y_true, y_pred, loss.settings))
    expected = per_sample.sum() if loss.reduction == "sum" else (
        per_sample.mean())
    np.testing.assert_allclose(ops.convert_to_numpy(loss(y_true, y_pred)),
                               expected, rtol=1e-5)


def test_every_twin_is_tested_by_hand():
    assert {type(loss) for loss in INSTANCES} == set(BY_HAND)


def test_settings_are_attributes_with_the_functions_defaults():
    loss = losses.LogitWeightedSupCRD(beta=2.0)
    assert (loss.beta, loss.alpha, loss.kd_temperature) == (2.0, 1.0, 4.0)
    assert loss.settings["decoupled"] is False
    assert losses.KD().name == "kd" and not losses.KD().uses_embeddings
    assert losses.SupCRD().uses_embeddings
    with pytest.raises(AttributeError, match="nonexistent"):
        loss.nonexistent


def test_settings_are_keyword_only_and_read_only():
    with pytest.raises(TypeError):
        losses.KD(2.0)  # would have named the loss "2.0"
    loss = losses.KD(temperature=2.0)
    with pytest.raises(AttributeError, match="`temperature`"):
        loss.temperature = 1.0
    assert loss.temperature == 2.0
    loss.name = "kd_2"  # Keras's own attributes stay writable


def test_a_declaration_may_wrap_its_function_in_staticmethod():
    class Wrapped(losses.DistillationLoss):
        function = staticmethod(losses.kd)
        inputs = ("student_logits", "teacher_logits")

    with pytest.raises(ValueError, match="`temperature`"):
        Wrapped(temperature=0.0)  # the function's checks still apply
    assert not Wrapped().uses_embeddings


def test_a_check_of_an_unknown_setting_fails_at_declaration():
    from keras_supcrd.losses import _validation

    with pytest.raises(TypeError, match="tempreature"):
        _validation.checks(tempreature=_validation.positive)(losses.kd)


def test_unknown_and_bad_settings_are_refused_when_built():
    with pytest.raises(TypeError, match="gamma"):
        losses.KD(gamma=1.0)
    with pytest.raises(TypeError, match="ref_labels"):
        losses.CRD(ref_labels=None)  # an input, not a setting
    with pytest.raises(ValueError, match="`alpha`"):
        losses.LogitWeightedSupCRD(alpha=0.0)  # coupled: alpha > 0
    losses.LogitWeightedSupCRD(alpha=0.0, decoupled=True)  # allowed there


