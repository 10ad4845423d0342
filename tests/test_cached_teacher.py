"""Training from cached teacher outputs equals training from the inputs."""

import keras
import numpy as np
import pytest

from keras_supcrd import Distiller
from keras_supcrd import losses
from keras_supcrd import teacher_outputs
from models import classifier
from models import data
from models import sparse_ce


def pair(memory_size=12, **kwargs):
    """Two Distillers with identical weights (teacher, student, heads)."""
    made = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        distiller = Distiller(
            classifier(16, batch_norm=True, name="teacher"),
            classifier(8, batch_norm=True, name="student", seed=5),
            [losses.LogitWeightedSupCRD(), losses.KD()], embedding_dim=4,
            memory_size=memory_size, **kwargs)
        distiller.compile(optimizer="adam", loss=sparse_ce(),
                          metrics=["accuracy"])
        made.append(distiller)
    for a, b in zip(made[0].weights, made[1].weights):
        b.assign(keras.ops.convert_to_numpy(a))  # a copy: JAX donates
    return made


def test_outputs_are_the_teachers_features_and_logits():
    teacher = classifier(16, batch_norm=True, name="teacher")
    x, _ = data(10)
    out = teacher_outputs(teacher, x, batch_size=4, verbose=0)
    np.testing.assert_array_equal(out["inputs"], x)
    np.testing.assert_allclose(
        out["teacher_logits"],
        keras.ops.convert_to_numpy(teacher(x, training=False)), rtol=1e-5,
        atol=1e-6)
    hidden = keras.Model(teacher.inputs, teacher.layers[-2].output)
    np.testing.assert_allclose(
        out["teacher_features"],
        keras.ops.convert_to_numpy(hidden(x, training=False)), rtol=1e-5,
        atol=1e-6)
    assert out["teacher_features"].dtype == np.float32


def test_cached_steps_give_the_same_losses_and_updates():
    plain, fast = pair()
    x, y = data(16, seed=4)
    cached = teacher_outputs(fast.teacher, x, verbose=0)
    for step in range(3):  # the later steps read a filled bank
        batch = slice(4 * (step % 4), 4 * (step % 4) + 4)
        a = plain.train_on_batch(x[batch], y[batch], return_dict=True)
        b = fast.train_on_batch({k: v[batch] for k, v in cached.items()},
                                y[batch], return_dict=True)
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-5, err_msg=key)
    for a, b in zip(plain.weights, fast.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b),
                                   keras.ops.convert_to_numpy(a), rtol=1e-5,
                                   atol=1e-6, err_msg=a.path)


def test_fit_shuffles_outputs_with_their_inputs_and_evaluates():
    plain, fast = pair(memory_size=0)
    x, y = data(24, seed=6)
    cached = teacher_outputs(fast.teacher, x, verbose=0)
    keras.utils.set_random_seed(9)
    a = plain.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    keras.utils.set_random_seed(9)
    b = fast.fit(cached, y, batch_size=8, epochs=2, verbose=0).history
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(fast.predict(cached, verbose=0),
                               fast.predict(x, verbose=0), rtol=1e-6)
    assert fast.evaluate(cached, y, verbose=0) == pytest.approx(
        fast.evaluate(x, y, verbose=0))


def test_augment_refuses_cached_outputs():
    distiller, _ = pair(augment=keras.layers.GaussianNoise(0.1))
    x, y = data(8)
    cached = teacher_outputs(distiller.teacher, x, verbose=0)
    with pytest.raises(ValueError, match="`augment`.*teacher_outputs"):
        distiller.fit(cached, y, verbose=0)
    assert int(keras.ops.convert_to_numpy(distiller.optimizer.iterations)) == 0


def test_disk_cache_is_keyed_by_teacher_weights_and_data(tmp_path):
    teacher = classifier(16, name="teacher")
    x, _ = data(8)
    first = teacher_outputs(teacher, x, cache_dir=str(tmp_path), verbose=0)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("teacher-outputs-")
    again = teacher_outputs(teacher, x, cache_dir=str(tmp_path), verbose=0)
    np.testing.assert_array_equal(again["teacher_logits"],
                                  first["teacher_logits"])
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    teacher_outputs(teacher, x + 1.0, cache_dir=str(tmp_path), verbose=0)
    teacher.layers[-1].kernel.assign(teacher.layers[-1].kernel * 2.0)
    changed = teacher_outputs(teacher, x, cache_dir=str(tmp_path), verbose=0)
    assert len(list(tmp_path.iterdir())) == 3
    np.testing.assert_allclose(changed["teacher_logits"],
                               keras.ops.convert_to_numpy(teacher(x)),
                               rtol=1e-5, atol=1e-6)
