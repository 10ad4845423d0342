"""Layers with state: the projection head, the memory bank, the weights."""

from keras_supcrd.layers.loss_weights import LossWeights
from keras_supcrd.layers.memory_bank import MemoryBank
from keras_supcrd.layers.projection_head import ProjectionHead

__all__ = ["LossWeights", "MemoryBank", "ProjectionHead"]
