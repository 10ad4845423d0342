"""keras_supcrd: contrastive knowledge distillation for Keras 3."""

from keras_supcrd import layers
from keras_supcrd import losses
from keras_supcrd import schedules
from keras_supcrd.cached_teacher import teacher_outputs
from keras_supcrd.distiller import Distiller

__version__ = "0.1.0"

__all__ = ["Distiller", "layers", "losses", "schedules", "teacher_outputs"]
