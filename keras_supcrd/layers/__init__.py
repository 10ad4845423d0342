"""Layers with state: the projection head and the memory bank."""

from keras_supcrd.layers.memory_bank import MemoryBank
from keras_supcrd.layers.projection_head import ProjectionHead

__all__ = ["MemoryBank", "ProjectionHead"]
