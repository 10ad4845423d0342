"""
Title: Distilling a Fashion-MNIST teacher with the logit-weighted SupCRD loss
Author: keras_supcrd developers
Description: The smallest complete distillation: train a teacher, train the
    same student alone and with `LogitWeightedSupCRD`, compare accuracies.
Accelerator: None (under a minute on a 2-core CPU with the defaults)

## Introduction

Contrastive distillation pulls a student's embedding of an image towards the
teacher's embeddings of images of the same class and pushes it away from the
others. The logit-weighted form lets the teacher's probabilities set the
weights: the pull is strong where the teacher is sure of the true class, and
classes the teacher finds similar are pushed gently.

Run it with any backend:

```
KERAS_BACKEND=jax python examples/quickstart.py
```
"""

import argparse
import time

import keras

from keras_supcrd import Distiller
from keras_supcrd.losses import LogitWeightedSupCRD

parser = argparse.ArgumentParser(description="keras_supcrd quick start")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--data-fraction", type=float, default=0.05,
                    help="fraction of the 60,000 training images")
args = parser.parse_args()

"""
## The data

Fashion-MNIST from `keras.datasets` (downloaded once into the Keras cache),
the first slice of the training set so that this runs in seconds, scaled
to [0, 1] with a channel axis.
"""

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
keep = int(args.data_fraction * len(x_train))
x_train, y_train = x_train[:keep, ..., None] / 255.0, y_train[:keep]
x_test = x_test[..., None] / 255.0
num_classes = 10

"""
## A teacher and a student

Any classifier producing logits works; the features used for distillation
are the input of its final Dense layer. Here the teacher is a wider copy
of the student.
"""


def cnn(width):
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(2 * width, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(num_classes, name="predictions"),
    ])


def compiled(model):
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


keras.utils.set_random_seed(0)
teacher = compiled(cnn(32))
teacher.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

keras.utils.set_random_seed(1)
alone = compiled(cnn(8))
alone.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)

"""
## Distillation

The `Distiller` is a `keras.Model`: pass the losses to its constructor and
the student's own loss and metrics to `compile`.
"""

keras.utils.set_random_seed(1)
student = cnn(8)
distiller = compiled(Distiller(teacher, student,
                               LogitWeightedSupCRD(alpha=1.0, beta=8.0),
                               embedding_dim=32, memory_size=1024))
start = time.perf_counter()
distiller.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
steps = args.epochs * -(-len(x_train) // 64)
step_ms = 1e3 * (time.perf_counter() - start) / steps

"""
## Results

`evaluate` on the Distiller runs the student alone.
"""


def accuracy(model):
    return model.evaluate(x_test, y_test, verbose=0, return_dict=True)[
        "accuracy"]


print(f"teacher accuracy: {accuracy(teacher):.4f}")
print(f"student alone accuracy: {accuracy(alone):.4f}")
print(f"distilled student accuracy: {accuracy(distiller):.4f}")
print(f"{keras.backend.backend()}: {step_ms:.1f} ms per distillation step "
      "(first epoch's compilation included)")
