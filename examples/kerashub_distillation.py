"""
Title: Distilling a KerasHub ResNet into a smaller KerasHub ResNet
Author: keras_supcrd developers
Description: KerasHub image classifiers built from config, the teacher's
    outputs computed once, and a distilled student that evaluates, saves
    and reloads on its own.
Accelerator: None (about a minute on a 2-core CPU with the defaults)

## Introduction

KerasHub `ImageClassifier`s work as teacher and student without wrapping:
their features are the input of the Dense layer that produces the logits
(named `predictions` there, `logits` in KerasHub's text classifiers; the
Distiller finds it by structure). Build them with `activation=None` so that
they return logits, and from config, as presets would download weights.
Install the extra with `pip install "keras-supcrd[jax,kerashub]"`.
"""

import argparse
import os
import tempfile

import keras
import keras_hub
import numpy as np

from keras_supcrd import Distiller, teacher_outputs
from keras_supcrd.losses import KD, LogitWeightedSupCRD

parser = argparse.ArgumentParser(description="KerasHub distillation")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--data-fraction", type=float, default=0.05)
parser.add_argument("--output", default=None,
                    help="where to save the student (default: a temp dir)")
args = parser.parse_args()

"""
## Data: Fashion-MNIST, padded to 32x32
"""

# Fashion-MNIST from `keras.datasets` (downloaded once into the Keras cache).
(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
keep = slice(0, int(args.data_fraction * len(x_train)))


def prepare(x):
    x = (x / 255.0).astype("float32")[..., None]
    return np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))


x_train, y_train = prepare(x_train[keep]), y_train[keep].astype("int32")
x_test = prepare(x_test)
cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def resnet(stack_filters, stack_blocks):
    """A KerasHub ResNet classifier; its first stack has 64 filters."""
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=stack_filters,
        stackwise_num_blocks=stack_blocks,
        stackwise_num_strides=[1, 2, 2][:len(stack_filters)],
        block_type="basic_block", use_pre_activation=False,
        image_shape=x_train.shape[1:])
    return keras_hub.models.ImageClassifier(backbone, 10,
                                            activation=None)


"""
## The teacher: two stages of residual blocks
"""

keras.utils.set_random_seed(0)
teacher = resnet([64, 128], [1, 1])
teacher.compile(optimizer=keras.optimizers.Adam(2e-3), loss=cross_entropy,
                metrics=["accuracy"])
teacher.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

"""
## The student: one stage

A KerasHub task compiles itself when built; `Distiller.compile` below
compiles the student again with the Distiller's loss and metrics.
"""

student = resnet([64], [1])
print(f"teacher parameters: {teacher.count_params()}, "
      f"student parameters: {student.count_params()}")

"""
## Distillation from the teacher's outputs, computed once

Without augmentation the frozen teacher gives the same features and logits
at every epoch, so `teacher_outputs` runs it once and `fit` trains from the
result: each step is the student's step plus heads and losses.
"""

distiller = Distiller(teacher, student, [LogitWeightedSupCRD(), KD()],
                      embedding_dim=64, memory_size=1024)
distiller.compile(optimizer=keras.optimizers.Adam(2e-3), loss=cross_entropy,
                  metrics=["accuracy"])
cached = teacher_outputs(teacher, x_train, verbose=0)
distiller.fit(cached, y_train, batch_size=64, epochs=args.epochs, verbose=0)

"""
## The distilled student, on its own

`distiller.student` is the deployable model, compiled by the Distiller:
evaluate it, save it, reload it.
"""

accuracy = distiller.student.evaluate(x_test, y_test, batch_size=256,
                                      verbose=0, return_dict=True)["accuracy"]
print(f"teacher accuracy: "
      f"{teacher.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]:.4f}")
print(f"distilled student accuracy: {accuracy:.4f}")

folder = args.output or tempfile.mkdtemp()
path = os.path.join(folder, "student.keras")
distiller.student.save(path)
reloaded = keras.saving.load_model(path)
logits = reloaded.predict(x_test, batch_size=256, verbose=0)
reloaded_accuracy = float(np.mean(np.argmax(logits, -1) == y_test))
print(f"reloaded student accuracy: {reloaded_accuracy:.4f}")
assert abs(reloaded_accuracy - accuracy) < 1e-3, "the saved student differs"
