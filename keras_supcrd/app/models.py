"""The teacher and student of `keras-supcrd compare`, and the examples'."""

import keras


def cnn_teacher(input_shape, num_classes, width=32, dropout=0.3):
    """The study's teacher: two conv-BN-ReLU-pool stages and a dense layer.

    Chosen to pass 0.92 test accuracy on Fashion-MNIST within minutes on a
    2-core CPU; its features (the input of `predictions`) are the 128
    units of the dense layer.
    """
    layers = keras.layers
    stages = []
    for i, filters in enumerate((width, 2 * width), start=1):
        # Named layers: the cache key hashes this config, and automatic
        # names would change with every model built in a process.
        stages += [
            layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          name=f"conv{i}"),
            layers.BatchNormalization(name=f"bn{i}"),
            layers.ReLU(name=f"relu{i}"),
            layers.MaxPooling2D(name=f"pool{i}"),
        ]
    return keras.Sequential([
        keras.Input(input_shape, name="image"),
        *stages,
        layers.Flatten(name="flatten"),
        layers.Dropout(dropout, name="dropout"),
        layers.Dense(128, activation="relu", name="features"),
        layers.Dense(num_classes, name="predictions"),
    ], name="teacher")


def mlp_student(input_shape, num_classes, hidden=64):
    """The study's student: one hidden layer of `hidden` ReLU units, about
    a tenth of the teacher's parameters; its features are that layer."""
    return keras.Sequential([
        keras.Input(input_shape, name="image"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(hidden, activation="relu", name="features"),
        keras.layers.Dense(num_classes, name="predictions"),
    ], name="student")


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


def small_cnn_student(input_shape, num_classes, width=16, hidden=64):
    """A two-convolution student, much smaller than the teacher.

    The convolutions' map is flattened, not pooled: where a stroke is
    tells Fashion-MNIST's classes apart, and a globally pooled version of
    this student was too weak for distillation to help it (RESULTS.md,
    "CNN student"). Its features are the `hidden` ReLU units before the
    classifier, as in the MLP.
    """
    layers = keras.layers
    return keras.Sequential([
        keras.Input(input_shape, name="image"),
        layers.Conv2D(width, 3, strides=2, activation="relu", name="conv1"),
        layers.Conv2D(2 * width, 3, strides=2, activation="relu",
                      name="conv2"),
        layers.Flatten(name="flatten"),
        layers.Dense(hidden, activation="relu", name="features"),
        layers.Dense(num_classes, name="predictions"),
    ], name="student")


def pooled_cnn_student(input_shape, num_classes, width=8):
    """A student whose size does not grow with the image: three stride-2
    3x3 convolutions of `width`, `2 width` and `4 width` filters, global
    average pooling (its features), then the classifier. About
    `100 width^2` parameters at any input size."""
    layers = keras.layers
    convolutions = [
        layers.Conv2D(width * 2**i, 3, strides=2, padding="same",
                      activation="relu", name=f"conv{i + 1}")
        for i in range(3)]
    return keras.Sequential([
        keras.Input(input_shape, name="image"),
        *convolutions,
        layers.GlobalAveragePooling2D(name="features"),
        layers.Dense(num_classes, name="predictions"),
    ], name="student")


def mobilenet_student(input_shape, num_classes):
    """`keras.applications.MobileNetV3Small` built from config (no
    download), without its own rescaling (the data's `--rescale` applies),
    its pooled features followed by the classifier."""
    backbone = keras.applications.MobileNetV3Small(
        input_shape=input_shape, include_top=False, weights=None,
        pooling="avg", include_preprocessing=False)
    inputs = keras.Input(input_shape, name="image")
    features = backbone(inputs)
    logits = keras.layers.Dense(num_classes, name="predictions")(features)
    return keras.Model(inputs, logits, name="student")
