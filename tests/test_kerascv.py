"""KerasCV classifiers as teacher and student (the docs' KerasCV block runs in
test_docs.py)."""


import numpy as np
import pytest

keras_cv = pytest.importorskip("keras_cv")

from keras_supcrd import Distiller  # noqa: E402
from keras_supcrd import losses  # noqa: E402
from models import sparse_ce  # noqa: E402


def test_resnet_teacher_mobilenet_student_fit():
    teacher = keras_cv.models.ImageClassifier(
        keras_cv.models.ResNetV2Backbone(
            stackwise_filters=[8, 16], stackwise_blocks=[2, 2],
            stackwise_strides=[1, 2], include_rescaling=False,
            input_shape=(32, 32, 3)),
        num_classes=4, activation=None)
    student = keras_cv.models.ImageClassifier(
        keras_cv.models.MobileNetV3Backbone(
            stackwise_expansion=[1, 4], stackwise_filters=[8, 16],
            stackwise_kernel_size=[3, 3], stackwise_stride=[2, 2],
            stackwise_se_ratio=[0.25, None],
            stackwise_activation=["relu", "hard_swish"],
            include_rescaling=False, input_shape=(32, 32, 3)),
        num_classes=4, activation=None)
    before = [np.array(w) for w in teacher.get_weights()]
    distiller = Distiller(teacher, student,
                          [losses.LogitWeightedSupCRD(), losses.CRD()],
                          embedding_dim=8, memory_size=20)
    distiller.compile(optimizer="adam", loss=sparse_ce())
    rng = np.random.default_rng(0)
    x = rng.random((24, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 4, 24)
    history = distiller.fit(x, y, batch_size=8, verbose=0).history
    for key in ("loss", "lw_supcrd", "crd"):
        assert np.isfinite(history[key][0])
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
