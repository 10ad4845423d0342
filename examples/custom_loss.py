"""
Title: Writing your own distillation loss
Author: keras_supcrd developers
Description: A similarity-preserving loss written against the y_true/y_pred
    protocol, combined with the built-in KD in one Distiller.
Accelerator: None

## Introduction

Every keras_supcrd loss is a `keras.losses.Loss` that reads dicts:
`y_true` carries the teacher side and the labels (`labels`,
`teacher_logits`, `teacher_embeddings`, `ref_embeddings`, `ref_labels`) and
`y_pred` the student side (`student_logits`, `student_embeddings`). A loss
of your own that reads the same keys plugs into `Distiller` unchanged.

Here: similarity-preserving distillation (Tung and Mori, ICCV 2019) on the
projected embeddings: the student's batch similarity matrix should match
the teacher's.
"""

import argparse

import keras
from keras import ops

from keras_supcrd import Distiller
from keras_supcrd.app.datasets import load_slice
from keras_supcrd.losses import KD, DistillationLoss
from keras_supcrd.app.models import small_cnn_student

parser = argparse.ArgumentParser(description="a custom distillation loss")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--data-fraction", type=float, default=0.05)
parser.add_argument("--data-dir", default=None)
args = parser.parse_args()

"""
## The loss

Subclass `DistillationLoss`, read what you need with `self.read`, return one
value per sample; reduction and `sample_weight` come from Keras. Settings
passed to `super().__init__` are kept for `get_config`.
"""


@keras.saving.register_keras_serializable(package="my_project")
class SimilarityPreserving(DistillationLoss):
    def __init__(self, name="similarity", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name, reduction, dtype)

    def call(self, y_true, y_pred):
        t = self.read(y_true, "teacher_embeddings")
        s = self.read(y_pred, "student_embeddings")
        # Per sample: squared error of its row of the similarity matrix.
        gap = ops.matmul(s, ops.transpose(s)) - ops.matmul(t, ops.transpose(t))
        return ops.mean(ops.square(gap), axis=-1)


"""
## Training with it and KD together
"""

x_train, y_train, x_test, y_test, names = load_slice(
    args.data_fraction, data_dir=args.data_dir)
cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

keras.utils.set_random_seed(0)
teacher = small_cnn_student((28, 28, 1), len(names), width=32)
teacher.compile(optimizer="adam", loss=cross_entropy)
teacher.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

student = small_cnn_student((28, 28, 1), len(names), width=8)
distiller = Distiller(teacher, student, [SimilarityPreserving(), KD()],
                      distillation_loss_weights=[10.0, 1.0],
                      embedding_dim=32, memory_size=0)
distiller.compile(optimizer="adam", loss=cross_entropy, metrics=["accuracy"])
history = distiller.fit(x_train, y_train, batch_size=64, epochs=args.epochs,
                        verbose=0)

"""
Each loss is logged under its `name`:
"""

print(f"similarity loss, last epoch: {history.history['similarity'][-1]:.4f}")
print(f"kd loss, last epoch: {history.history['kd'][-1]:.4f}")
accuracy = distiller.evaluate(x_test, y_test, verbose=0,
                              return_dict=True)["accuracy"]
print(f"distilled student accuracy: {accuracy:.4f}")
