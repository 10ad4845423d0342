"""DIST: the student matches the teacher's probabilities by correlation."""

import keras
from keras import ops

from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss
from keras_supcrd.losses.kd import _scaled_logits

PEARSON_EPSILON = 1e-8


def _pearson(a, b, axis):
    """Pearson correlation along `axis`, as DIST's code computes it:
    `<a', b'> / (|a'| |b'| + 1e-8)` with `a' = a - mean(a)`. A constant
    vector has correlation 0, with a zero gradient through its norm."""
    a = a - ops.mean(a, axis=axis, keepdims=True)
    b = b - ops.mean(b, axis=axis, keepdims=True)
    return ops.sum(a * b, axis=axis) / (
        _norm(a, axis) * _norm(b, axis) + PEARSON_EPSILON)


def _norm(x, axis):
    square = ops.sum(ops.square(x), axis=axis)
    # `<=`: NaN stays NaN; sqrt's derivative at 0 would be inf.
    flat = square <= 0
    return ops.where(flat, 0.0, ops.sqrt(ops.where(flat, 1.0, square)))


@_validation.checks(beta=_validation.non_negative,
                    gamma=_validation.non_negative,
                    temperature=_validation.positive)
def dist(student_logits, teacher_logits, *, beta=1.0, gamma=1.0,
         temperature=4.0):
    """Per-sample DIST loss: inter- and intra-class Pearson relations.

    With `P = softmax(z / T)` row-wise for both sides (B, C):

        inter_i = 1 - pearson(P_S[i, :], P_T[i, :])        (per sample)
        intra   = 1 - mean_c pearson(P_S[:, c], P_T[:, c])  (per batch)
        dist_i  = T^2 (beta inter_i + gamma intra)

    The intra-class term relates samples within the batch, so it is one
    number per batch, added to every sample: the batch mean of `dist_i`
    is the authors' loss exactly (and a `sample_weight` weighs the intra
    term with the rest).

    Args:
        student_logits: student logits, shape (B, C).
        teacher_logits: teacher logits, shape (B, C); treated as constants.
        beta: weight of the inter-class relation (>= 0).
        gamma: weight of the intra-class relation (>= 0).
        temperature: softmax temperature `T` (> 0).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import dist
    rng = np.random.default_rng(0)
    loss = dist(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))
    ```

    Reference:
        Huang et al., "Knowledge Distillation from A Stronger Teacher"
        (DIST), NeurIPS 2022. https://arxiv.org/abs/2205.10536
    """
    student, teacher = _scaled_logits(student_logits, teacher_logits,
                                      temperature)
    p_s = ops.softmax(student, axis=-1)
    p_t = ops.softmax(teacher, axis=-1)
    inter = 1.0 - _pearson(p_s, p_t, axis=1)
    intra = 1.0 - ops.mean(_pearson(p_s, p_t, axis=0))
    return temperature**2 * (beta * inter + gamma * intra)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class DIST(DistillationLoss):
    """Loss twin of `dist`: reads `student_logits` and `teacher_logits`.

    Args:
        beta: weight of the inter-class relation (>= 0).
        gamma: weight of the intra-class relation (>= 0).
        temperature: softmax temperature (> 0).
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import DIST
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    value = DIST()({"teacher_logits": z}, {"student_logits": z + 1.0})
    ```
    """

    function = dist
    inputs = ("student_logits", "teacher_logits")
    default_name = "dist"
