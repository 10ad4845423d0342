"""
Title: Distilling a KerasCV ResNetV2 into a KerasCV MobileNetV3
Author: keras_supcrd developers
Description: KerasCV classifiers built from config, shared augmentation, a
    memory bank, and a saved student that is reloaded and checked.
Accelerator: None (a few minutes on a 2-core CPU with the defaults)

## Introduction

KerasCV `ImageClassifier`s work as teacher and student without wrapping:
their features are the input of the `predictions` layer. Build them with
`activation=None` so that they return logits. We build the backbones from
config, as presets would download weights.
"""

import argparse
import os
import tempfile

import keras
import keras_cv
import numpy as np

from keras_supcrd import Distiller
from keras_supcrd.layers import RandomResizedCrop
from keras_supcrd.losses import KD, LogitWeightedSupCRD

parser = argparse.ArgumentParser(description="KerasCV distillation")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--data-fraction", type=float, default=0.05)
parser.add_argument("--output", default=None,
                    help="where to save the student (default: a temp dir)")
args = parser.parse_args()

"""
## Data, padded to 32x32 RGB-free images
"""

# Fashion-MNIST from `keras.datasets` (downloaded once into the Keras cache).
(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
keep = slice(0, int(args.data_fraction * len(x_train)))


def prepare(x):
    x = (x / 255.0).astype("float32")[..., None]
    return np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))


x_train, y_train = prepare(x_train[keep]), y_train[keep].astype("int32")
x_test = prepare(x_test)
shape, num_classes = x_train.shape[1:], 10
cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

"""
## The teacher: a KerasCV ResNetV2 classifier
"""

keras.utils.set_random_seed(0)
backbone = keras_cv.models.ResNetV2Backbone(
    stackwise_filters=[16, 32, 64], stackwise_blocks=[2, 2, 2],
    stackwise_strides=[1, 2, 2], include_rescaling=False, input_shape=shape)
# KerasCV's BatchNormalization momentum (0.99) needs thousands of steps to
# settle; this short run has few, and the teacher is used in inference mode.
for layer in backbone.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.momentum = 0.9
teacher = keras_cv.models.ImageClassifier(backbone, num_classes=num_classes,
                                          activation=None)
teacher.compile(optimizer=keras.optimizers.Adam(2e-3), loss=cross_entropy,
                metrics=["accuracy"])
teacher.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

"""
## The student: a small KerasCV MobileNetV3 classifier
"""

student = keras_cv.models.ImageClassifier(
    keras_cv.models.MobileNetV3Backbone(
        stackwise_expansion=[1, 4, 4], stackwise_filters=[16, 24, 40],
        stackwise_kernel_size=[3, 3, 5], stackwise_stride=[2, 2, 2],
        stackwise_se_ratio=[0.25, None, 0.25],
        stackwise_activation=["relu", "hard_swish", "hard_swish"],
        include_rescaling=False, input_shape=shape),
    num_classes=num_classes, activation=None)

"""
## Distillation with shared augmentation and a memory bank

`augment` runs once per step, so teacher and student see the same
augmented batch (consistent teaching); the bank keeps 2048 frozen teacher
features as extra negatives. The library's `RandomResizedCrop` compiles
with the step; Keras marks `RandomTranslation`, `RandomRotation`,
`RandomZoom` and `RandomCrop` `supports_jit=False`, and one of them in
`augment` turns XLA off for the whole step (on JAX it then runs op by op).
"""

distiller = Distiller(
    teacher, student, [LogitWeightedSupCRD(), KD()],
    augment=[RandomResizedCrop(scale=(0.5, 1.0), seed=0)],
    embedding_dim=64, memory_size=2048)
distiller.compile(optimizer=keras.optimizers.Adam(2e-3), loss=cross_entropy,
                  metrics=["accuracy"])
distiller.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
accuracy = distiller.evaluate(x_test, y_test, verbose=0,
                              return_dict=True)["accuracy"]
print(f"teacher accuracy: "
      f"{teacher.evaluate(x_test, y_test, verbose=0)[1]:.4f}")
print(f"distilled student accuracy: {accuracy:.4f}")

"""
## Deploying the student

`distiller.student` is an ordinary KerasCV classifier: save it, reload it,
and it gives the same accuracy without the teacher.
"""

folder = args.output or tempfile.mkdtemp()
path = os.path.join(folder, "student.keras")
distiller.student.save(path)
reloaded = keras.saving.load_model(path)
logits = reloaded.predict(x_test, batch_size=256, verbose=0)
reloaded_accuracy = float(np.mean(np.argmax(logits, -1) == y_test))
print(f"reloaded student accuracy: {reloaded_accuracy:.4f}")
assert abs(reloaded_accuracy - accuracy) < 1e-3, "the saved student differs"
