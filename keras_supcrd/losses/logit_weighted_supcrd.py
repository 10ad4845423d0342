"""Logit-weighted SupCRD: the teacher's probabilities weight pull and push."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


def _check_alpha(settings):
    # Coupled, alpha only scales A_i inside the log; alpha = 0 makes it -inf.
    check = (_validation.check_non_negative if settings["decoupled"]
             else _validation.check_positive)
    check("alpha", settings["alpha"])


def teacher_log_probs(teacher_logits, labels, kd_temperature):
    """Constant `(log p, log(1 - p))` of `p = softmax(z / T)`, each (B, C),
    checked against `labels`."""
    teacher_logits = _validation.as_float(teacher_logits)
    _validation.check_rank("teacher_logits", teacher_logits, 2)
    _validation.check_same_dim("teacher_logits", teacher_logits, "labels", labels)
    ok = _validation.check_label_range(
        "labels", labels, teacher_logits.shape[-1]
    )
    scaled = _validation.nan_if_not_finite(teacher_logits) / kd_temperature
    scaled = ops.stop_gradient(_validation.poison_unless([ok], scaled))
    return (ops.log_softmax(scaled, axis=-1),
            _logspace.log_one_minus_softmax(scaled))


@_validation.checks(_check_alpha,
                    beta=_validation.non_negative,
                    temperature=_validation.positive,
                    kd_temperature=_validation.positive)
def logit_weighted_supcrd(
    student,
    teacher,
    labels,
    teacher_logits,
    *,
    alpha=1.0,
    beta=8.0,
    temperature=0.07,
    kd_temperature=4.0,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
    decoupled=False,
):
    """Per-sample logit-weighted SupCRD loss.

    With `l_ij = <s_i, c_j> / temperature`, positives `P(i)`, negatives
    `N(i)` as in `supcrd`, and the constant teacher probabilities
    `p_i = softmax(teacher_logits_i / kd_temperature)`:

        A_i  = alpha * p_i[y_i] * sum_{j in P(i)} exp(l_ij)
        N_i  = sum_{j in N(i)} beta * (1 - p_i[y_c[j]]) * exp(l_ij)
        lw_i = -log( A_i / (A_i + N_i) ) = softplus(log N_i - log A_i)

    The pull is strong where the teacher is confident in the true class;
    negatives of classes the teacher finds unlikely are pushed hardest.

    Because `lw_i = softplus(log N_i - log A_i)`, alpha and beta act only
    through `beta / alpha`: scaling both by one factor changes nothing. When
    the teacher is near one-hot, the weights are nearly constant and the
    loss is `supcrd` shifted by `log(beta / alpha)`; a larger
    `kd_temperature` softens them.

    `decoupled=True` takes the weights out of the log, so that alpha and
    beta become separate knobs (positives leave the denominator, as in
    Decoupled Contrastive Learning):

        lw_dec_i = alpha * p_i[y_i] * ( -logsumexp_{P(i)} l_ij )
                 + beta * logsumexp_{j in N(i)} ( log(1 - p_i[y_c[j]]) + l_ij )

    where the push term is 0 for an anchor without a negative (or whose
    negatives all have weight 0).

    Everything is computed in log space, so teacher probabilities of exactly
    0 or 1 give finite values and gradients; an anchor with no negative has
    loss 0 (coupled form) and zero gradient from the push.

    Args:
        student: student embeddings, shape (B, d).
        teacher: teacher embeddings of the same samples, shape (B, d).
        labels: integer class labels in `[0, C)`, shape (B,).
        teacher_logits: teacher logits of the same samples, shape (B, C).
        alpha: pull weight (> 0; >= 0 when `decoupled`).
        beta: push weight (>= 0).
        temperature: contrastive temperature (> 0).
        kd_temperature: temperature of the teacher softmax (> 0).
        ref_embeddings: optional reference set (memory bank), (K, d).
        ref_labels: its labels in `[-1, C)`, (K,), required with
            `ref_embeddings`; -1 marks an empty slot.
        normalize: L2-normalise student and contrast rows first. A zero
            row stays zero, with zero gradient (logits 0 against every
            row; `l2_normalize`).
        decoupled: put the weights outside the log (see above).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import logit_weighted_supcrd
    rng = np.random.default_rng(0)
    s, z = rng.normal(size=(4, 8)), rng.normal(size=(4, 3))
    loss = logit_weighted_supcrd(s, s + 0.1, np.array([0, 1, 2, 0]), z)
    ```

    Reference:
        The method of docs/method.md §3 of this project; published before
        as "LW-SupCRD"/"SFW-SupCon" (reducereX/ATML_Proj). Weights from DKD:
        Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022,
        https://arxiv.org/abs/2203.08679. Decoupled form: Yeh et al.,
        "Decoupled Contrastive Learning", ECCV 2022,
        https://arxiv.org/abs/2110.06848.
    """
    _validation.require_ref_labels(ref_embeddings, ref_labels)
    labels = _validation.required_labels(labels)
    log_p, log_1mp = teacher_log_probs(teacher_logits, labels, kd_temperature)
    if ref_labels is not None:
        ok = _validation.check_label_range(
            "ref_labels", ref_labels, log_p.shape[-1], True
        )
        log_p = _validation.poison_unless([ok], log_p)
    logits, contrast_labels, valid = _contrast.contrast_inputs(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, temperature=temperature, normalize=normalize)
    labels = _validation.as_labels(labels)
    positive = _contrast.positive_mask(labels, contrast_labels)
    negative = ops.logical_and(valid, ops.logical_not(positive))
    # Gathers stay in the table even for labels out of range (TensorFlow
    # raises inside them): those have already made `log_p` NaN.
    classes = ops.shape(log_p)[1]
    log_p_target = ops.take_along_axis(
        log_p, ops.expand_dims(ops.clip(labels, 0, classes - 1), 1), axis=1
    )[:, 0]
    # (C, B) -> (M, B) by row gather: never an (M, B, C) tensor.
    log_push = ops.take(
        ops.transpose(log_1mp),
        ops.clip(contrast_labels, 0, classes - 1), axis=0,
    )
    log_pos, log_neg = _logspace.split_logsumexp(
        logits, positive=positive, negative=negative, negative_offset=log_push,
        bound=_logspace.logit_bound(normalize=normalize,
                               temperature=temperature),
    )
    if decoupled:
        pull = alpha * ops.exp(log_p_target) * -log_pos
        # Only "no negative" (-inf) is 0; a NaN must stay NaN.
        push = ops.where(log_neg == -float("inf"), 0.0, log_neg)
        return pull + beta * push
    log_a = ops.log(_validation.as_float(alpha)) + log_p_target + log_pos
    log_n = ops.log(_validation.as_float(beta)) + log_neg
    return _logspace.softplus(log_n - log_a)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class LogitWeightedSupCRD(DistillationLoss):
    """Loss twin of `logit_weighted_supcrd` reading `y_true`/`y_pred` dicts.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]`,
    `y_true["labels"]`, `y_true["teacher_logits"]` and, when present, the
    reference set. In the default (coupled) form alpha and beta act only
    through `beta / alpha`; `decoupled=True` makes them separate knobs by
    taking the weights out of the log (see `logit_weighted_supcrd`).

    Args:
        alpha: pull weight (> 0; >= 0 when `decoupled`).
        beta: push weight (>= 0).
        temperature: contrastive temperature (> 0).
        kd_temperature: temperature of the teacher softmax (> 0).
        normalize: L2-normalise the embeddings first.
        decoupled: put the weights outside the log.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import LogitWeightedSupCRD
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 8)).astype("float32")
    y_true = {
        "teacher_embeddings": s + 0.1,
        "labels": np.array([0, 1, 2, 0]),
        "teacher_logits": rng.normal(size=(4, 3)).astype("float32"),
    }
    value = LogitWeightedSupCRD(beta=8.0)(y_true, {"student_embeddings": s})
    ```
    """

    function = logit_weighted_supcrd
    inputs = ("student_embeddings", "teacher_embeddings", "labels",
              "teacher_logits")
    reads_references = True
    default_name = "lw_supcrd"
