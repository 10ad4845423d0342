"""Soft-target SupCRD: the teacher's class posterior is the target over the
contrast set, not a weight inside it."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _targets
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


@_validation.checks(lam=_validation.unit_interval,
                    temperature=_validation.positive,
                    kd_temperature=_validation.positive)
def soft_supcrd(
    student,
    teacher,
    labels,
    teacher_logits,
    *,
    lam=0.5,
    temperature=0.07,
    kd_temperature=4.0,
    standardize=False,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
):
    """Per-sample soft-target SupCRD: cross-entropy to a teacher target.

    With `l_ij = <s_i, c_j> / temperature` over the valid contrast rows,
    `p_i = softmax(z_i / kd_temperature)` renormalised over the classes
    present in the contrast set, and `n(c)` the number of rows of class `c`:

        q_ij  = (1 - lam) [j = i] + lam p_i[y_j] / n(y_j)
        loss_i = -sum_j q_ij log softmax_j(l_ij)
               = logsumexp_j l_ij - sum_j q_ij l_ij

    Each class gets the teacher's mass for it, shared by its rows, so the
    gradient `(softmax_j(l_ij) - q_ij) / temperature` stops where the
    student's similarity distribution equals the target: a class the
    teacher finds similar ends up closer than one it does not. `lam = 0`
    gives CRD; a one-hot `p` gives `(1 - lam) CRD + lam` SupCon's L_out
    (`-1/|P(i)| sum_{P(i)} log softmax`). The value is a cross-entropy, so
    its minimum is the target's entropy, not 0.

    Args:
        student: student embeddings, shape (B, d).
        teacher: teacher embeddings of the same samples, shape (B, d).
        labels: integer class labels in `[0, C)`, shape (B,).
        teacher_logits: teacher logits, shape (B, C); constants.
        lam: share of the class target in `[0, 1]`.
        temperature: contrastive temperature (> 0).
        kd_temperature: temperature of the teacher's softmax (> 0).
        standardize: z-score each row of teacher logits first (logit
            standardisation, `_targets.standardize_logits`).
        ref_embeddings: optional reference set (memory bank), (K, d).
        ref_labels: its labels, (K,), required with `ref_embeddings`;
            -1 marks an empty slot, which takes part in nothing.
        normalize: L2-normalise student and contrast rows first. A zero
            row stays zero, with zero gradient.

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import soft_supcrd
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8))
    loss = soft_supcrd(s, s + 0.1, np.array([0, 1, 2, 0]),
                       rng.normal(size=(4, 3)))  # shape (4,)
    ```

    Reference:
        Xu et al., "Knowledge Distillation Meets Self-Supervision" (SSKD),
        ECCV 2020, https://arxiv.org/abs/2006.07114 (a teacher-made target
        over the contrast set); Khosla et al., "Supervised Contrastive
        Learning", NeurIPS 2020 (L_out); Tian et al., CRD, ICLR 2020.
    """
    labels, scaled = _targets.scaled_teacher_logits(
        labels, teacher_logits, kd_temperature, standardize, ref_embeddings,
        ref_labels)
    logits, contrast_labels, valid = _contrast.contrast_inputs(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, temperature=temperature, normalize=normalize)
    target = class_target(scaled, contrast_labels)
    own = _contrast.own_row_mask(logits)
    q = lam * ops.where(valid, target, 0.0) + (1.0 - lam) * ops.cast(
        own, "float32")
    log_total = _logspace.masked_logsumexp(logits, valid, axis=0)
    # q is 0 outside the valid rows, so no masked logit enters the sum;
    # `!= 0`, not `> 0`, keeps a NaN target (a NaN teacher logit) NaN.
    return log_total - ops.sum(ops.where(q != 0, q * logits, 0.0), axis=0)


def class_target(scaled_teacher, contrast_labels):
    """(M, B) target mass `p_i[y_j] / n(y_j)` of each contrast row (0 at
    empty slots), `p_i` renormalised over the classes present."""
    classes = scaled_teacher.shape[-1]
    one_hot, counts = _targets.class_counts(contrast_labels, classes)
    log_p = _targets.log_softmax_over(scaled_teacher, counts > 0)
    per_row = ops.exp(log_p) / ops.where(counts > 0, counts, 1.0)  # (B, C)
    return ops.matmul(one_hot, ops.transpose(per_row))


@keras.saving.register_keras_serializable(package="keras_supcrd")
class SoftSupCRD(DistillationLoss):
    """Loss twin of `soft_supcrd` reading `y_true`/`y_pred` dicts.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]`,
    `y_true["labels"]`, `y_true["teacher_logits"]` and, when present, the
    reference set.

    Args:
        lam: share of the class target in `[0, 1]`.
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
    from keras_supcrd.losses import SoftSupCRD
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8)).astype("float32")
    value = SoftSupCRD(lam=0.5)(
        {"teacher_embeddings": s + 0.1, "labels": np.array([0, 1, 2, 0]),
         "teacher_logits": rng.normal(size=(4, 3)).astype("float32")},
        {"student_embeddings": s})
    ```
    """

    function = soft_supcrd
    inputs = ("student_embeddings", "teacher_embeddings", "labels",
              "teacher_logits")
    reads_references = True
    default_name = "soft_supcrd"
