"""Distillation losses: pure `keras.ops` functions and their Loss twins."""

from keras_supcrd.losses.base import DistillationLoss
from keras_supcrd.losses.crd import CRD
from keras_supcrd.losses.crd import crd
from keras_supcrd.losses.kd import DKD
from keras_supcrd.losses.kd import KD
from keras_supcrd.losses.kd import dkd
from keras_supcrd.losses.kd import kd
from keras_supcrd.losses.logit_weighted_supcrd import LogitWeightedSupCRD
from keras_supcrd.losses.logit_weighted_supcrd import logit_weighted_supcrd
from keras_supcrd.losses.supcrd import SupCRD
from keras_supcrd.losses.supcrd import supcrd

__all__ = [
    "CRD",
    "DKD",
    "KD",
    "DistillationLoss",
    "LogitWeightedSupCRD",
    "SupCRD",
    "crd",
    "dkd",
    "kd",
    "logit_weighted_supcrd",
    "supcrd",
]
