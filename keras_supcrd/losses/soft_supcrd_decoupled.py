"""Decoupled soft-target SupCRD: DKD's split, in embedding space."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _targets
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


def log_class_masses(logits, contrast_labels, valid, num_classes, bound):
    """(B, C) `log P_i[c]`, `P_i[c] = sum_{j: y_j = c} softmax_j(l_ij)`
    over the valid rows; `-inf` for a class without rows.

    One exp of the (M, B) logits and one (C, M) x (M, B) matmul; the shift
    is the logit bound of normalised rows (nothing underflows in float32
    while `2 / tau < 80`) or each anchor's largest valid logit.
    """
    if bound is None:
        shift = _logspace.stable_shift(ops.where(valid, logits, -float("inf")), 0)
    else:
        shift = ops.full((ops.shape(logits)[1],), bound)
    e = ops.where(valid, ops.exp(logits - shift), 0.0)
    one_hot, _ = _targets.class_counts(contrast_labels, num_classes)
    sums = ops.transpose(ops.matmul(ops.transpose(one_hot), e))  # (B, C)
    total = ops.sum(sums, axis=-1, keepdims=True)
    # The log of the ratio, not a difference of logs: TensorFlow's log of
    # one value differs in its last bit between SIMD lanes and the scalar
    # tail, and a class holding all the mass must get exactly log 1 = 0.
    # The total is > 0: the anchor's own row is valid.
    return _targets.safe_log(sums / total)


def binary_and_rest(log_p, target, present):
    """`(log [p_t, 1 - p_t], log q)` of a class distribution: the target's
    share and its complement, each (B, 2), and the (B, C) distribution
    renormalised over the present non-target classes (`-inf` elsewhere).
    The complement is a logsumexp of the others, never `1 - p_t`."""
    rest = ops.logical_and(present, ops.logical_not(target))
    log_target = ops.sum(ops.where(target, log_p, 0.0), axis=-1)
    log_rest = _logspace.masked_logsumexp(log_p, rest, axis=-1)
    log_q = ops.where(rest, log_p - ops.expand_dims(
        ops.where(log_rest > -float("inf"), log_rest, 0.0), -1),
        -float("inf"))
    return ops.stack([log_target, log_rest], axis=-1), log_q, rest


@_validation.checks(alpha=_validation.non_negative,
                    beta=_validation.non_negative,
                    temperature=_validation.positive,
                    kd_temperature=_validation.positive)
def soft_supcrd_decoupled(
    student,
    teacher,
    labels,
    teacher_logits,
    *,
    alpha=1.0,
    beta=1.0,
    temperature=0.07,
    kd_temperature=4.0,
    standardize=False,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
):
    """Per-sample decoupled soft-target SupCRD (DKD on class masses).

    The student's class masses over the contrast set,
    `P_i[c] = sum_{j: y_j = c} softmax_j(l_ij)`, against the teacher's
    `p_i = softmax(z_i / kd_temperature)` renormalised over the classes
    present, split as DKD splits logits:

        TCKD_i = KL( [p_i[y_i], 1 - p_i[y_i]] || [P_i[y_i], 1 - P_i[y_i]] )
        NCKD_i = KL( p_i[c] / (1 - p_i[y_i]) || P_i[c] / (1 - P_i[y_i]) ),
                 over the present classes c != y_i
        loss_i = alpha TCKD_i + beta NCKD_i

    `beta` sets how hard the non-target classes are pushed to the
    teacher's shape, independently of how confident the teacher is (the
    coupled form `KL(p || P)` weighs NCKD by `1 - p_i[y_i]`). One
    non-target class present: NCKD is 0. A one-class contrast set: 0.

    Args:
        student: student embeddings, shape (B, d).
        teacher: teacher embeddings of the same samples, shape (B, d).
        labels: integer class labels in `[0, C)`, shape (B,).
        teacher_logits: teacher logits, shape (B, C); constants.
        alpha: weight of the target/non-target term (>= 0).
        beta: weight of the non-target shape term (>= 0).
        temperature: contrastive temperature (> 0).
        kd_temperature: temperature of the teacher's softmax (> 0).
        standardize: z-score each row of teacher logits first.
        ref_embeddings: optional reference set (memory bank), (K, d).
        ref_labels: its labels, (K,), required with `ref_embeddings`;
            -1 marks an empty slot.
        normalize: L2-normalise rows first (a zero row stays zero, with
            zero gradient).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import soft_supcrd_decoupled
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8))
    loss = soft_supcrd_decoupled(s, s + 0.1, np.array([0, 1, 2, 0]),
                                 rng.normal(size=(4, 3)))  # shape (4,)
    ```

    Reference:
        Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022,
        https://arxiv.org/abs/2203.08679 (the TCKD/NCKD split).
    """
    labels, scaled = _targets.scaled_teacher_logits(
        labels, teacher_logits, kd_temperature, standardize, ref_embeddings,
        ref_labels)
    classes = scaled.shape[-1]
    logits, contrast_labels, valid = _contrast.contrast_inputs(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, temperature=temperature, normalize=normalize)
    log_mass = log_class_masses(logits, contrast_labels, valid, classes,
                                _logspace.logit_bound(normalize=normalize,
                               temperature=temperature))
    present = ops.expand_dims(
        _targets.class_counts(contrast_labels, classes)[1] > 0, 0)
    target = ops.one_hot(_validation.as_labels(labels), classes) > 0
    log_p = _targets.log_softmax_over(scaled, present)
    b_t, q_t, rest = binary_and_rest(log_p, target, present)
    b_s, q_s, _ = binary_and_rest(log_mass, target, present)
    both = ops.ones_like(b_t) > 0
    tckd = _targets.kl(b_t, b_s, both)
    nckd = _targets.kl(q_t, q_s, rest)
    return alpha * tckd + beta * nckd


@keras.saving.register_keras_serializable(package="keras_supcrd")
class SoftSupCRDDecoupled(DistillationLoss):
    """Loss twin of `soft_supcrd_decoupled` reading `y_true`/`y_pred`.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]`,
    `y_true["labels"]`, `y_true["teacher_logits"]` and, when present, the
    reference set.

    Args:
        alpha: weight of the target/non-target term (>= 0).
        beta: weight of the non-target shape term (>= 0).
        temperature: contrastive temperature (> 0).
        kd_temperature: temperature of the teacher's softmax (> 0).
        standardize: z-score the teacher logits first.
        normalize: L2-normalise the embeddings first.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import SoftSupCRDDecoupled
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8)).astype("float32")
    value = SoftSupCRDDecoupled(beta=1.0)(
        {"teacher_embeddings": s + 0.1, "labels": np.array([0, 1, 2, 0]),
         "teacher_logits": rng.normal(size=(4, 3)).astype("float32")},
        {"student_embeddings": s})
    ```
    """

    function = soft_supcrd_decoupled
    inputs = ("student_embeddings", "teacher_embeddings", "labels",
              "teacher_logits")
    reads_references = True
    default_name = "soft_supcrd_decoupled"
