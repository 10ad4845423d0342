"""The default teacher and student of `keras-supcrd compare`, from config."""

import keras


def resnet_teacher(input_shape, num_classes, width=16, bn_momentum=0.9):
    """A KerasCV ResNetV2 classifier (2 blocks per stack), producing logits.

    KerasCV is imported here, not at package import (it always imports
    TensorFlow). Backbones are built from config: presets would download.
    """
    import keras_cv

    backbone = keras_cv.models.ResNetV2Backbone(
        stackwise_filters=[width, 2 * width, 4 * width],
        stackwise_blocks=[2, 2, 2],
        stackwise_strides=[1, 2, 2],
        include_rescaling=False,
        input_shape=input_shape,
    )
    # KerasCV's BatchNormalization momentum (0.99) needs thousands of steps
    # before the moving statistics catch up; the demo's short CPU schedule
    # has a few hundred, and the teacher is used in inference mode.
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    return keras_cv.models.ImageClassifier(
        backbone, num_classes=num_classes, activation=None)


def small_cnn_student(input_shape, num_classes, width=16):
    """A two-convolution student, much smaller than the teacher."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(2 * width, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(name="features"),
        keras.layers.Dense(num_classes, name="predictions"),
    ], name="student")
