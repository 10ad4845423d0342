"""Layers with state: the projection head, the memory bank, the weights,
and the augmentations drawn from a seed generator."""

from keras_supcrd.layers.loss_weights import LossWeights
from keras_supcrd.layers.memory_bank import MemoryBank
from keras_supcrd.layers.mixup import Mixup
from keras_supcrd.layers.projection_head import ProjectionHead
from keras_supcrd.layers.random_resized_crop import RandomResizedCrop
from keras_supcrd.layers.seeded import RandomHorizontalFlip

__all__ = ["LossWeights", "MemoryBank", "Mixup", "ProjectionHead",
           "RandomHorizontalFlip", "RandomResizedCrop"]
