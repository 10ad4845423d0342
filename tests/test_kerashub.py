"""KerasHub classifiers as teacher and student: vision and text, from config."""

import keras
import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

from keras_supcrd import Distiller  # noqa: E402
from keras_supcrd import losses  # noqa: E402
from keras_supcrd import teacher_outputs  # noqa: E402
from models import classifier  # noqa: E402
from models import sparse_ce  # noqa: E402
from models import weights_of  # noqa: E402

CLASSES, VOCABULARY, LENGTH = 4, 40, 10


def image_classifier(last_filters):
    # ResNetBackbone wants 64 filters in its first stack.
    filters = [64] + ([last_filters] if last_filters else [])
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=filters, stackwise_num_blocks=[1] * len(filters),
        stackwise_num_strides=[1, 2][:len(filters)],
        block_type="basic_block", use_pre_activation=False,
        image_shape=(16, 16, 3))
    return keras_hub.models.ImageClassifier(backbone, CLASSES, activation=None)


def text_classifier(hidden, layers):
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCABULARY, num_layers=layers, num_heads=2,
        hidden_dim=hidden, intermediate_dim=2 * hidden,
        max_sequence_length=LENGTH)
    return keras_hub.models.BertTextClassifier(
        backbone, CLASSES, preprocessor=None, activation=None)


def images(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 16, 16, 3)).astype("float32"),
            rng.integers(0, CLASSES, n).astype("int32"))


def token_ids(n=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, LENGTH + 1, n)
    mask = (np.arange(LENGTH)[None] < lengths[:, None]).astype("int32")
    x = {"token_ids": rng.integers(1, VOCABULARY, (n, LENGTH)) * mask,
         "segment_ids": np.zeros((n, LENGTH), "int32"),
         "padding_mask": mask}
    return ({k: v.astype("int32") for k, v in x.items()},
            rng.integers(0, CLASSES, n).astype("int32"))


PAIRS = {
    # name: (teacher, student, data, teacher and student feature widths,
    #        whether fit reads cached teacher outputs). The README's
    #        KerasHub section fits a text pair on raw token ids.
    "vision": (lambda: image_classifier(32), lambda: image_classifier(None),
               images, (32, 64), False),
    "text": (lambda: text_classifier(16, 2), lambda: text_classifier(8, 1),
             token_ids, (16, 8), True),
}


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_kerashub_pair_distils_with_a_frozen_teacher(pair):
    make_teacher, make_student, make_data, widths, from_cache = PAIRS[pair]
    keras.utils.set_random_seed(0)
    distiller = Distiller(make_teacher(), make_student(),
                          [losses.LogitWeightedSupCRD(), losses.KD()],
                          embedding_dim=8, memory_size=16)
    distiller.compile(optimizer="adam", loss=sparse_ce(),
                      metrics=["accuracy"])
    # Features: the input of the Dense that makes the logits, found by
    # structure (`predictions` in ImageClassifier, `logits` in Bert's).
    assert distiller.teacher_view.dims() == (widths[0], CLASSES)
    assert distiller.student_view.dims() == (widths[1], CLASSES)
    x, y = make_data()
    inputs = x
    if from_cache:
        inputs = teacher_outputs(distiller.teacher, x, verbose=0)
        features, logits = (keras.ops.convert_to_numpy(t) for t in
                            distiller.teacher_view.model(x))
        np.testing.assert_allclose(inputs["teacher_logits"], logits,
                                   atol=1e-5)
        np.testing.assert_allclose(inputs["teacher_features"], features,
                                   atol=1e-5)
    before = weights_of(distiller.teacher)
    student_before = weights_of(distiller.student)
    history = distiller.fit(inputs, y, batch_size=6, verbose=0).history
    for key in ("loss", "student_loss", "lw_supcrd", "kd"):
        assert np.isfinite(history[key][0]), key
    for a, b in zip(before, weights_of(distiller.teacher)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in
               zip(student_before, weights_of(distiller.student)))
    labels = keras.ops.convert_to_numpy(distiller.memory_bank.labels)
    np.testing.assert_array_equal(np.sort(labels[:12]), np.sort(y))
    # The distilled student evaluates on its own, as the Distiller does.
    ours = distiller.evaluate(x, y, verbose=0, return_dict=True)
    alone = distiller.student.evaluate(x, y, verbose=0, return_dict=True)
    assert set(alone) == {"loss", "accuracy"}
    np.testing.assert_allclose(alone["loss"], ours["loss"], rtol=1e-5)
    assert alone["accuracy"] == ours["accuracy"]


class Scale(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


def test_logits_not_from_a_dense_layer_name_the_argument():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8)(inputs)
    odd = keras.Model(inputs, Scale()(keras.layers.Dense(3)(hidden)))
    with pytest.raises(ValueError, match="`student_feature_layer`"):
        Distiller(classifier(16), odd, losses.KD())
