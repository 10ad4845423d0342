"""The losses under test, in one table: each library function beside its
float64 reference (tests/reference.py), called the same way on one case
(`make_case` in tests/losses/cases.py).

`library(name, c, **settings)` and `reference_of(name, c, **settings)` give
`fn(student, teacher, ref_embeddings)`: the three inputs that carry
gradients; labels, teacher logits and bank labels come from the case `c`.
`call(name, c)` runs the library function on the case's own inputs.
"""

from typing import NamedTuple

import numpy as np

import reference
from keras_supcrd import losses


class Entry(NamedTuple):
    function: object  # keras_supcrd.losses function
    reference: object  # its float64 loop
    settings: dict  # fixed settings of this entry (`decoupled=True`)
    reads: tuple  # what besides the embeddings: "labels", "teacher_logits"


LW = ("labels", "teacher_logits")
CONTRASTIVE = {
    "crd": Entry(losses.crd, reference.crd, {}, ()),
    "supcrd": Entry(losses.supcrd, reference.supcrd, {}, ("labels",)),
    "lw": Entry(losses.logit_weighted_supcrd,
                reference.logit_weighted_supcrd, {}, LW),
    "lw_decoupled": Entry(losses.logit_weighted_supcrd,
                          reference.logit_weighted_supcrd,
                          {"decoupled": True}, LW),
}
SOFT = {
    "soft_supcrd": Entry(losses.soft_supcrd, reference.soft_supcrd,
                         {"lam": 0.6}, LW),
    "soft_supcrd_prototypes": Entry(losses.soft_supcrd_prototypes,
                                    reference.soft_supcrd_prototypes,
                                    {"lam": 0.8}, LW),
    "soft_supcrd_decoupled": Entry(losses.soft_supcrd_decoupled,
                                   reference.soft_supcrd_decoupled,
                                   {"alpha": 0.7, "beta": 2.0}, LW),
}
EMBEDDING = {**CONTRASTIVE, **SOFT}
# The references name two settings differently.
REFERENCE_NAMES = {"standardize": "standardize_logits"}


def library(name, c, **settings):
    entry = EMBEDDING[name]
    fixed = [c[key] for key in entry.reads]
    settings = {**entry.settings, **settings}
    return lambda s, t, r: entry.function(
        s, t, *fixed, ref_embeddings=r, ref_labels=c["ref_labels"],
        **settings)


def reference_of(name, c, **settings):
    entry = EMBEDDING[name]
    fixed = [c[key] for key in entry.reads]
    settings = {REFERENCE_NAMES.get(k, k): v
                for k, v in {**entry.settings, **settings}.items()}
    return lambda s, t, r: entry.reference(
        s, t, *fixed, ref=r, ref_y=c["ref_labels"], **settings)


def inputs(c):
    return [c["student"], c["teacher"], c["ref_embeddings"]]


def call(name, c, **settings):
    return library(name, c, **settings)(*inputs(c))


def finite_difference(fn, x, eps=1e-6):
    """Central differences of `sum(w * fn)`, `w` as in `grad.value_and_grads`."""
    grad = np.zeros_like(x)
    w = np.linspace(0.5, 1.5, fn(x).size)
    for idx in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (w @ fn(up) - w @ fn(down)) / (2 * eps)
    return grad


LOGIT = {
    "kd": Entry(losses.kd, reference.kd, {}, ()),
    "dkd": Entry(losses.dkd, reference.dkd, {}, ("labels",)),
    "dist": Entry(losses.dist, reference.dist, {}, ()),
}


def logit_library(name, c, **settings):
    """`fn(student_logits)` against the case's teacher logits (and labels)."""
    entry = LOGIT[name]
    fixed = [c[key] for key in entry.reads]
    settings = {**entry.settings, **settings}
    return lambda z: entry.function(z, c["teacher_logits"], *fixed,
                                    **settings)


def logit_reference_of(name, c, **settings):
    entry = LOGIT[name]
    fixed = [c[key] for key in entry.reads]
    settings = {**entry.settings, **settings}
    return lambda z: entry.reference(z, c["teacher_logits"], *fixed,
                                     **settings)
