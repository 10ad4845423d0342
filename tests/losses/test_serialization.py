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


def test_config_holds_every_constructor_argument():
    import inspect

    for loss in INSTANCES:
        params = set(inspect.signature(type(loss).__init__).parameters)
        assert params - {"self", "dtype"} <= set(loss.get_config())


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
