"""The logit baselines: Hinton's KD and Decoupled KD."""

import keras
from keras import ops

from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _targets
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


def _scaled_logits(student_logits, teacher_logits, temperature,
                   standardize=False):
    student_logits = _validation.as_float(student_logits)
    teacher_logits = _validation.as_float(teacher_logits)
    _validation.check_rank("student_logits", student_logits, 2)
    _validation.check_rank("teacher_logits", teacher_logits, 2)
    for axis in (0, 1):
        _validation.check_same_dim(
            "student_logits",
            student_logits,
            "teacher_logits",
            teacher_logits,
            axis,
        )
    teacher_logits = ops.stop_gradient(teacher_logits)
    student_logits = _validation.nan_if_not_finite(student_logits)
    teacher_logits = _validation.nan_if_not_finite(teacher_logits)
    if standardize:
        student_logits = _targets.standardize_logits(student_logits)
        teacher_logits = _targets.standardize_logits(teacher_logits)
    return student_logits / temperature, teacher_logits / temperature


def _kl(log_p, log_q, axis=-1):
    """`sum p * (log p - log q)`; finite log-probabilities in, so 0 * x = 0."""
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=axis)


@_validation.checks(temperature=_validation.positive)
def kd(student_logits, teacher_logits, *, temperature=4.0,
       standardize=False):
    """Per-sample knowledge-distillation loss.

        kd_i = T^2 * KL( softmax(z_T,i / T) || softmax(z_S,i / T) )

    With `standardize=True` each row of both sides' logits is z-scored
    first, `z -> (z - mean z) / std z` (logit standardisation, Sun et al.,
    CVPR 2024): the student matches the teacher's logit relations, not
    their scale.

    Args:
        student_logits: student logits, shape (B, C).
        teacher_logits: teacher logits, shape (B, C); treated as constants.
        temperature: softmax temperature `T` (> 0).
        standardize: z-score each row of both logits first (a row of equal
            logits maps to zeros, with zero gradient).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import kd
    rng = np.random.default_rng(0)
    loss = kd(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015. https://arxiv.org/abs/1503.02531; Sun et al.,
        "Logit Standardization in Knowledge Distillation", CVPR 2024,
        https://arxiv.org/abs/2403.01427.
    """
    student, teacher = _scaled_logits(
        student_logits, teacher_logits, temperature, standardize
    )
    log_s = ops.log_softmax(student, axis=-1)
    log_t = ops.log_softmax(teacher, axis=-1)
    return temperature**2 * _kl(log_t, log_s)


def _target_split(logits, target):
    """Log-probabilities of target / non-target, and the non-target softmax.

    Returns `(log p_target, log(1 - p_target), log q)` where `q` is the
    softmax over the non-target classes; `q` at the target column is
    finite but meaningless and must be masked by the caller.
    """
    log_total = ops.logsumexp(logits, axis=-1)
    non_target_lse = _logspace.masked_logsumexp(logits, ops.logical_not(target))
    log_target = ops.sum(ops.where(target, logits, 0.0), axis=-1) - log_total
    log_rest = non_target_lse - log_total
    log_q = logits - ops.expand_dims(non_target_lse, -1)
    return log_target, log_rest, log_q


@_validation.checks(alpha=_validation.non_negative,
                    beta=_validation.non_negative,
                    temperature=_validation.positive)
def dkd(
    student_logits,
    teacher_logits,
    labels,
    *,
    alpha=1.0,
    beta=8.0,
    temperature=4.0,
    standardize=False,
):
    """Per-sample Decoupled Knowledge Distillation loss.

        TCKD_i = KL( [p_t, 1 - p_t]_T || [p_t, 1 - p_t]_S )
        NCKD_i = KL( q_T || q_S ), q = softmax over the non-target classes
        dkd_i  = T^2 * (alpha * TCKD_i + beta * NCKD_i)

    with all probabilities at temperature `T`. Computed in log space: the
    non-target mass is `logsumexp` over non-target logits, not `1 - p`.

    Args:
        student_logits: student logits, shape (B, C).
        teacher_logits: teacher logits, shape (B, C); treated as constants.
        labels: integer labels in `[0, C)`, shape (B,).
        alpha: weight of the target-class term (>= 0).
        beta: weight of the non-target term (>= 0).
        temperature: softmax temperature `T` (> 0).
        standardize: z-score each row of both logits first (as in `kd`).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import dkd
    rng = np.random.default_rng(0)
    loss = dkd(rng.normal(size=(4, 3)), rng.normal(size=(4, 3)),
               np.array([0, 1, 2, 0]))
    ```

    Reference:
        Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022.
        https://arxiv.org/abs/2203.08679
    """
    student, teacher = _scaled_logits(
        student_logits, teacher_logits, temperature, standardize
    )
    labels = _validation.required_labels(labels)
    _validation.check_rank("labels", labels, 1)
    _validation.check_same_dim("labels", labels, "student_logits", student)
    num_classes = student.shape[-1]
    if num_classes is not None and num_classes < 2:
        raise ValueError(
            "`student_logits` must have at least 2 classes for DKD. "
            f"Received: student_logits.shape={student.shape}"
        )
    ok = _validation.check_label_range("labels", labels, num_classes)
    # A comparison rather than one_hot: inside a compiled step a bad label
    # must give an empty row (`ok` makes the loss NaN), where torch's
    # one_hot raises from deep inside the graph.
    target = ops.expand_dims(_validation.as_labels(labels), -1) == ops.arange(
        ops.shape(student)[-1], dtype="int32")
    s_target, s_rest, s_q = _target_split(student, target)
    t_target, t_rest, t_q = _target_split(teacher, target)
    tckd = _kl(
        ops.stack([t_target, t_rest], axis=-1),
        ops.stack([s_target, s_rest], axis=-1),
    )
    # The teacher's target column goes to -inf so that exp() is 0 there;
    # an unmasked exp(t_q) can overflow (logit gaps of 1e4) and its
    # gradient would be inf * 0.
    t_q = ops.where(target, -float("inf"), t_q)
    terms = ops.where(target, 0.0, ops.exp(t_q) * (t_q - s_q))
    nckd = ops.sum(terms, axis=-1)
    return _validation.poison_unless(
        [ok], temperature**2 * (alpha * tckd + beta * nckd)
    )


@keras.saving.register_keras_serializable(package="keras_supcrd")
class KD(DistillationLoss):
    """Loss twin of `kd`: reads `student_logits` and `teacher_logits`.

    Args:
        temperature: softmax temperature (> 0).
        standardize: z-score each row of both logits first.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import KD
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    value = KD()({"teacher_logits": z}, {"student_logits": z + 1.0})
    ```
    """

    function = kd
    inputs = ("student_logits", "teacher_logits")
    default_name = "kd"


@keras.saving.register_keras_serializable(package="keras_supcrd")
class DKD(DistillationLoss):
    """Loss twin of `dkd`: reads the logits of both sides and `labels`.

    Args:
        alpha: weight of the target-class term (>= 0).
        beta: weight of the non-target term (>= 0).
        temperature: softmax temperature (> 0).
        standardize: z-score each row of both logits first.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import DKD
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    value = DKD()({"teacher_logits": z, "labels": np.array([0, 1, 2, 0])},
                  {"student_logits": z + 1.0})
    ```

    In a `Distiller`, DKD is run as its authors run it (mdistiller) with a
    linear warm-up of its weight over the first 20 epochs; without it the
    large early NCKD gradients can wreck the student:

    ```python
    from keras_supcrd.schedules import LossWeightScheduler, linear_warmup
    warmup = LossWeightScheduler({"dkd": linear_warmup(20)})
    # distiller.fit(x, y, epochs=240, callbacks=[warmup])
    ```

    Reference:
        Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022.
    """

    function = dkd
    inputs = ("student_logits", "teacher_logits", "labels")
    default_name = "dkd"
