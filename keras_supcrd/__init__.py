"""keras_supcrd: contrastive knowledge distillation for Keras 3."""

from keras_supcrd import losses

__version__ = "0.1.0"

__all__ = ["losses"]
