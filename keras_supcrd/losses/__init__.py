"""Distillation losses: pure `keras.ops` functions and their Loss twins."""

from keras_supcrd.losses._contrast import l2_normalize
from keras_supcrd.losses._logspace import autodiff_gradient
from keras_supcrd.losses.base import DistillationLoss
from keras_supcrd.losses.crd import CRD
from keras_supcrd.losses.crd import crd
from keras_supcrd.losses.dist import DIST
from keras_supcrd.losses.dist import dist
from keras_supcrd.losses.kd import DKD
from keras_supcrd.losses.kd import KD
from keras_supcrd.losses.kd import dkd
from keras_supcrd.losses.kd import kd
from keras_supcrd.losses.logit_weighted_supcrd import LogitWeightedSupCRD
from keras_supcrd.losses.logit_weighted_supcrd import logit_weighted_supcrd
from keras_supcrd.losses.soft_supcrd import SoftSupCRD
from keras_supcrd.losses.soft_supcrd import soft_supcrd
from keras_supcrd.losses.soft_supcrd_decoupled import SoftSupCRDDecoupled
from keras_supcrd.losses.soft_supcrd_decoupled import soft_supcrd_decoupled
from keras_supcrd.losses.soft_supcrd_prototypes import SoftSupCRDPrototypes
from keras_supcrd.losses.soft_supcrd_prototypes import soft_supcrd_prototypes
from keras_supcrd.losses.supcrd import SupCRD
from keras_supcrd.losses.supcrd import supcrd

__all__ = [
    "CRD",
    "DIST",
    "DKD",
    "KD",
    "DistillationLoss",
    "LogitWeightedSupCRD",
    "SoftSupCRD",
    "SoftSupCRDDecoupled",
    "SoftSupCRDPrototypes",
    "SupCRD",
    "autodiff_gradient",
    "crd",
    "dist",
    "dkd",
    "kd",
    "l2_normalize",
    "logit_weighted_supcrd",
    "soft_supcrd",
    "soft_supcrd_decoupled",
    "soft_supcrd_prototypes",
    "supcrd",
]
