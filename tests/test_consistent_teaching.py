"""Consistent teaching: the teacher sees exactly the student's augmented
(and mixed) view in the same step; with `consistent=False` it sees the
clean batch; under mixup the student's loss is mixed with the batch's
coefficient (against a float64 reference)."""

import keras
import numpy as np
import pytest

from keras_supcrd import Distiller
from keras_supcrd import teacher_outputs
from keras_supcrd.layers import Mixup
from keras_supcrd.layers import RandomResizedCrop
from keras_supcrd.losses import KD

BATCH, SHAPE, CLASSES = 4, (8, 8, 1), 3


class Recorder(keras.layers.Layer):
    """Identity that keeps the last batch it saw in a variable (a
    variable, so that a compiled step's value comes back)."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=input_shape, initializer="zeros",
                                    trainable=False, name="seen")

    def call(self, x):
        self.seen.assign(x)
        return x


def classifier(name, seed):
    inputs = keras.Input(SHAPE, batch_size=BATCH)
    recorder = Recorder(name="recorder")
    x = keras.layers.Flatten()(recorder(inputs))
    x = keras.layers.Dense(5, activation="relu", kernel_initializer=keras
                           .initializers.GlorotUniform(seed))(x)
    logits = keras.layers.Dense(CLASSES, name="predictions")(x)
    return keras.Model(inputs, logits, name=name), recorder


def batch():
    rng = np.random.default_rng(0)
    return (rng.random((BATCH, *SHAPE)).astype("float32"),
            np.array([0, 1, 2, 1], "int32"))


def distiller(consistent, weight=1.0):
    teacher, seen_by_teacher = classifier("teacher", 1)
    student, seen_by_student = classifier("student", 2)
    model = Distiller(teacher, student, KD(), consistent=consistent,
                      distillation_loss_weights=[weight],
                      augment=RandomResizedCrop(scale=(0.3, 1.0), seed=4),
                      mixup=Mixup(alpha=1.0, seed=5))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(
                      from_logits=True))
    return model, seen_by_teacher, seen_by_student


def seen(recorder):
    return keras.ops.convert_to_numpy(recorder.seen)


@pytest.mark.parametrize("consistent", [True, False])
def test_the_teacher_sees_the_view_it_is_given(consistent):
    model, by_teacher, by_student = distiller(consistent)
    x, y = batch()
    model.train_on_batch(x, y)
    student_view = seen(by_student)
    assert not np.allclose(student_view, x)  # cropped and mixed
    expected = student_view if consistent else x
    np.testing.assert_allclose(seen(by_teacher), expected, rtol=1e-6,
                               atol=1e-6)


def test_an_inconsistent_distiller_may_train_from_cached_outputs():
    model, _, by_student = distiller(consistent=False)
    x, y = batch()
    cached = teacher_outputs(model.teacher, x, verbose=0)
    model.train_on_batch(cached, y)
    assert not np.allclose(seen(by_student), x)
    consistent, _, _ = distiller(consistent=True)
    with pytest.raises(ValueError, match="consistent"):
        consistent.fit(cached, y, verbose=0)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_mixup_mixes_the_students_loss_with_the_batchs_coefficient():
    model, _, by_student = distiller(consistent=True, weight=0.0)
    x, y = batch()
    crop = RandomResizedCrop(scale=(0.3, 1.0), seed=4)
    cropped = keras.ops.convert_to_numpy(crop(x)).astype(np.float64)
    student = model.student
    before = [keras.ops.convert_to_numpy(w)
              for w in student.trainable_weights]
    logs = model.train_on_batch(x, y, return_dict=True)
    mixed = seen(by_student).astype(np.float64)
    partner = np.roll(cropped, 1, axis=0)
    # mixed = lam * cropped + (1 - lam) * partner, one lam for the batch
    lam = np.sum((mixed - partner) * (cropped - partner)) / np.sum(
        (cropped - partner) ** 2)
    np.testing.assert_allclose(mixed, lam * cropped + (1 - lam) * partner,
                               atol=1e-5)
    assert 0.5 <= lam <= 1
    # The student's logits on the mixed batch, with the weights before
    # the step, in float64.
    w1, b1, w2, b2 = [w.astype(np.float64) for w in before]
    hidden = np.maximum(mixed.reshape(BATCH, -1) @ w1 + b1, 0)
    log_p = _log_softmax(hidden @ w2 + b2)
    rows = np.arange(BATCH)
    expected = np.mean(lam * -log_p[rows, y]
                       + (1 - lam) * -log_p[rows, np.roll(y, 1)])
    np.testing.assert_allclose(logs["student_loss"], expected, rtol=1e-5)
