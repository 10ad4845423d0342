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
from keras_supcrd.losses import KD, DistillationLoss

parser = argparse.ArgumentParser(description="a custom distillation loss")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--data-fraction", type=float, default=0.05)
args = parser.parse_args()

"""
## The loss

Write the loss as a pure `keras.ops` function that returns one value per
sample and takes its settings as keyword arguments; declare their checks
with it. Its Loss twin is a short declaration: the function, the keys that
feed its positional arguments (the student's side is read from `y_pred`,
the rest from `y_true`) and a default name. Defaults come from the
function's signature, checks from its `check_settings` (the library's own
losses declare theirs with a decorator); reduction and `sample_weight` come from Keras;
`get_config` holds the settings, so the loss saves with the model.
"""


def check_settings(settings):
    if not settings["scale"] > 0:
        raise ValueError(f"`scale` must be > 0. Received: {settings['scale']}")


def similarity_preserving(student, teacher, *, scale=1.0):
    """Per sample: squared error of its row of the batch similarity matrix.

    `scale * mean_j (<s_i, s_j> - <t_i, t_j>)^2`
    """
    check_settings({"scale": scale})
    gap = ops.matmul(student, ops.transpose(student)) - ops.matmul(
        teacher, ops.transpose(teacher))
    return scale * ops.mean(ops.square(gap), axis=-1)


# The twin checks its settings with the same function when it is built.
similarity_preserving.check_settings = check_settings


@keras.saving.register_keras_serializable(package="my_project")
class SimilarityPreserving(DistillationLoss):
    function = similarity_preserving
    inputs = ("student_embeddings", "teacher_embeddings")
    default_name = "similarity"


"""
A bad setting is refused when the loss is built, naming it:
"""

try:
    SimilarityPreserving(scale=0.0)
except ValueError as error:
    print(f"refused: {error}")

"""
## Training with it and KD together

The data: Fashion-MNIST from `keras.datasets` (downloaded once into the
Keras cache), the first slice of the training set so that this runs in seconds, scaled
to [0, 1] with a channel axis.
"""

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
keep = int(args.data_fraction * len(x_train))
x_train, y_train = x_train[:keep, ..., None] / 255.0, y_train[:keep]
x_test = x_test[..., None] / 255.0
num_classes = 10


def cnn(width):
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(2 * width, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, name="predictions"),
    ])


cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
keras.utils.set_random_seed(0)
teacher = cnn(32)
teacher.compile(optimizer="adam", loss=cross_entropy)
teacher.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

student = cnn(8)
distiller = Distiller(teacher, student,
                      [SimilarityPreserving(scale=10.0), KD()],
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
