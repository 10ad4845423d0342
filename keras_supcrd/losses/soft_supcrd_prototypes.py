"""Soft-target SupCRD against class prototypes: one similarity per class,
so the target is the teacher's posterior itself."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _targets
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss

# The norm below which a class mean of unit rows is zero (float32 rounds
# each unit row to about 6e-8).
MEAN_RESOLUTION = 1e-6


def class_prototypes(student, teacher, labels, ref_embeddings, ref_labels,
                     num_classes, temperature, normalize):
    """`(logits, present)`: (B, C) similarities `<s_i, mu_c> / temperature`
    to the unit class means `mu_c` of the (normalised) contrast rows, and
    the (C,) mask of the classes that have a row."""
    student, contrast, contrast_labels = _contrast.contrast_rows(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, normalize=normalize)
    one_hot, counts = _targets.class_counts(contrast_labels, num_classes)
    # An empty slot takes part in nothing, even a non-finite one (0 * NaN).
    contrast = ops.where(ops.expand_dims(contrast_labels >= 0, 1), contrast,
                         0.0)
    # The mean's direction is the sum's: normalising the sum is enough. A
    # mean of unit rows shorter than MEAN_RESOLUTION is their rounding
    # (+1 and -1 rows cancel to 6e-8 in float32): it has no direction.
    sums = ops.matmul(ops.transpose(one_hot), contrast)
    prototypes = _contrast.l2_normalize(
        sums, epsilon=MEAN_RESOLUTION * ops.expand_dims(counts, 1)
    ) if normalize else (
        sums / ops.expand_dims(ops.where(counts > 0, counts, 1.0), 1))
    logits = ops.matmul(student / temperature, ops.transpose(prototypes))
    return logits, counts > 0


@_validation.checks(lam=_validation.unit_interval,
                    temperature=_validation.positive,
                    kd_temperature=_validation.positive)
def soft_supcrd_prototypes(
    student,
    teacher,
    labels,
    teacher_logits,
    *,
    lam=1.0,
    temperature=0.07,
    kd_temperature=4.0,
    standardize=False,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
):
    """Per-sample soft-target loss against class prototypes.

    The prototype `mu_c` of class `c` is the unit mean of the teacher
    embeddings of that class in the contrast set (this batch's and the
    bank's rows: with a bank of a few thousand rows, a running class mean
    that no batch layout changes). With `m_ic = <s_i, mu_c> / temperature`
    over the present classes and `p_i = softmax(z_i / kd_temperature)`
    renormalised over them:

        target_i = (1 - lam) onehot(y_i) + lam p_i
        loss_i   = -sum_c target_ic log softmax_c(m_ic)

    The student's softmax over classes is matched to the teacher's
    posterior, so the similarities are pulled to the teacher's class
    similarity structure; `lam = 0` is a prototype cross-entropy on the
    label. Gradients reach the student and, through the prototypes, the
    teacher side (the teacher head in a Distiller).

    Args:
        student: student embeddings, shape (B, d).
        teacher: teacher embeddings of the same samples, shape (B, d).
        labels: integer class labels in `[0, C)`, shape (B,).
        teacher_logits: teacher logits, shape (B, C); constants.
        lam: share of the teacher's posterior in the target, `[0, 1]`.
        temperature: temperature of the prototype softmax (> 0).
        kd_temperature: temperature of the teacher's softmax (> 0).
        standardize: z-score each row of teacher logits first.
        ref_embeddings: optional reference set (memory bank), (K, d).
        ref_labels: its labels, (K,), required with `ref_embeddings`;
            -1 marks an empty slot.
        normalize: L2-normalise rows and prototypes (a zero row, or a
            class whose rows sum to 0, stays zero with zero gradient);
            without it a prototype is the plain class mean.

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import soft_supcrd_prototypes
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8))
    loss = soft_supcrd_prototypes(s, s + 0.1, np.array([0, 1, 2, 0]),
                                  rng.normal(size=(4, 3)))  # shape (4,)
    ```

    Reference:
        Li et al., "Prototypical Contrastive Learning of Unsupervised
        Representations", ICLR 2021 (prototypes as contrast targets);
        Xu et al., SSKD, ECCV 2020 (teacher-made soft targets).
    """
    labels, scaled = _targets.scaled_teacher_logits(
        labels, teacher_logits, kd_temperature, standardize, ref_embeddings,
        ref_labels)
    classes = scaled.shape[-1]
    logits, present = class_prototypes(
        student, teacher, labels, ref_embeddings, ref_labels, classes,
        temperature, normalize)
    present = ops.expand_dims(present, 0)
    log_p = _targets.log_softmax_over(scaled, present)
    one_hot = ops.one_hot(_validation.as_labels(labels), classes)
    target = (1.0 - lam) * one_hot + lam * ops.exp(log_p)
    log_q = _targets.log_softmax_over(logits, present)
    return _targets.cross_entropy(_targets.safe_log(target), log_q, present)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class SoftSupCRDPrototypes(DistillationLoss):
    """Loss twin of `soft_supcrd_prototypes` reading `y_true`/`y_pred`.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]`,
    `y_true["labels"]`, `y_true["teacher_logits"]` and, when present, the
    reference set (whose rows make the prototypes).

    Args:
        lam: share of the teacher's posterior in the target, `[0, 1]`.
        temperature: temperature of the prototype softmax (> 0).
        kd_temperature: temperature of the teacher's softmax (> 0).
        standardize: z-score the teacher logits first.
        normalize: L2-normalise rows and prototypes.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import SoftSupCRDPrototypes
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8)).astype("float32")
    value = SoftSupCRDPrototypes()(
        {"teacher_embeddings": s + 0.1, "labels": np.array([0, 1, 2, 0]),
         "teacher_logits": rng.normal(size=(4, 3)).astype("float32")},
        {"student_embeddings": s})
    ```
    """

    function = soft_supcrd_prototypes
    inputs = ("student_embeddings", "teacher_embeddings", "labels",
              "teacher_logits")
    reads_references = True
    default_name = "soft_supcrd_prototypes"
