"""Supervised CRD: every teacher vector of the anchor's class is positive."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


@_validation.checks(temperature=_validation.positive)
def supcrd(
    student,
    teacher,
    labels,
    *,
    temperature=0.07,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
):
    """Per-sample supervised CRD loss (the "L_in" form, sum inside the log).

    With `l_ij = <s_i, c_j> / temperature`, positives
    `P(i) = {j : y_c[j] == y_i}` (which contains `j = i`) and negatives
    `N(i)` (the other valid rows):

        supcrd_i = -log( sum_{j in P(i)} exp(l_ij)
                         / sum_{valid j} exp(l_ij) )
                 = softplus( logsumexp_{N(i)} l_ij - logsumexp_{P(i)} l_ij )

    An anchor with no negative (a batch of one class) has loss 0 and zero
    gradient.

    Args:
        student: student embeddings, shape (B, d).
        teacher: teacher embeddings of the same samples, shape (B, d).
        labels: integer class labels, shape (B,).
        temperature: softmax temperature (> 0).
        ref_embeddings: optional reference set (memory bank), (K, d).
        ref_labels: its labels, (K,), required with `ref_embeddings`;
            -1 marks an empty slot.
        normalize: L2-normalise student and contrast rows first. A zero
            row stays zero, with zero gradient (logits 0 against every
            row; `l2_normalize`).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import supcrd
    s = np.random.default_rng(0).normal(size=(4, 8))
    loss = supcrd(s, s + 0.1, np.array([0, 1, 0, 1]))  # shape (4,)
    ```

    Reference:
        Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020
        (the L_in variant). https://arxiv.org/abs/2004.11362
    """
    _validation.require_ref_labels(ref_embeddings, ref_labels)
    labels = _validation.required_labels(labels)
    logits, contrast_labels, valid = _contrast.contrast_inputs(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, temperature=temperature, normalize=normalize)
    positive = _contrast.positive_mask(labels, contrast_labels)
    negative = ops.logical_and(valid, ops.logical_not(positive))
    log_pos, log_neg = _logspace.split_logsumexp(
        logits, positive=positive, negative=negative,
        bound=_logspace.logit_bound(normalize=normalize,
                               temperature=temperature),
    )
    return _logspace.softplus(log_neg - log_pos)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class SupCRD(DistillationLoss):
    """Loss twin of `supcrd` reading `y_true`/`y_pred` dicts.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]`,
    `y_true["labels"]` and, when present, the reference set.

    Args:
        temperature: softmax temperature (> 0).
        normalize: L2-normalise the embeddings first.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import SupCRD
    s = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    value = SupCRD()(
        {"teacher_embeddings": s + 0.1, "labels": np.array([0, 1, 0, 1])},
        {"student_embeddings": s},
    )
    ```
    """

    function = supcrd
    inputs = ("student_embeddings", "teacher_embeddings", "labels")
    reads_references = True
    default_name = "supcrd"
