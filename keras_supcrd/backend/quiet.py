"""TensorFlow's start-up lines (CUDA probes on a CPU-only machine, oneDNN
notes), silenced for the command line.

TensorFlow honours TF_CPP_MIN_LOG_LEVEL only when it loads before torch or
jax, which bring their own copy of its logging; and Keras imports it under
every backend when it is installed (`keras.utils.set_random_seed` seeds
it). So the command imports it first, at level 3 unless the user chose one.
"""

import importlib.util
import os


def silence_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if importlib.util.find_spec("tensorflow") is not None:
        import tensorflow  # noqa: F401
