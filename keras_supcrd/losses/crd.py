"""Contrastive Representation Distillation (InfoNCE form)."""

import keras
from keras import ops

from keras_supcrd.losses import _contrast
from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _validation
from keras_supcrd.losses.base import DistillationLoss


@_validation.checks(temperature=_validation.positive)
def crd(
    student,
    teacher,
    *,
    temperature=0.07,
    ref_embeddings=None,
    ref_labels=None,
    normalize=True,
):
    """Per-sample CRD loss: the student hits its own teacher vector.

    For each anchor `i`, with `l_ij = <s_i, c_j> / temperature` against the
    contrast set `c = concat(teacher, ref_embeddings)`:

        crd_i = -log( exp(l_ii) / sum_{valid j} exp(l_ij) )

    Only `c_i` is positive; every other valid row, the teacher vectors of the
    other samples and the reference set, is a negative. An anchor with no
    negative has loss 0.

    Args:
        student: student embeddings, shape (B, d). The only input that
            receives gradients in distillation.
        teacher: teacher embeddings of the same samples, shape (B, d).
        temperature: softmax temperature `tau` (> 0).
        ref_embeddings: optional extra negatives (a memory bank), (K, d).
        ref_labels: optional (K,) labels of the reference set; only -1 is
            read, and marks an empty slot that takes part in nothing.
        normalize: L2-normalise student and contrast rows first. A zero
            row stays zero, with zero gradient (logits 0 against every
            row; `l2_normalize`).

    Returns:
        float32 tensor of shape (B,).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import crd
    s = np.random.default_rng(0).normal(size=(4, 8))
    loss = crd(s, s + 0.1)  # shape (4,)
    ```

    Reference:
        Tian, Krishnan and Isola, "Contrastive Representation Distillation",
        ICLR 2020. https://arxiv.org/abs/1910.10699
    """
    logits, _, valid = _contrast.contrast_inputs(
        student, teacher, labels=None, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, temperature=temperature, normalize=normalize)
    positive = _contrast.own_row_mask(logits)
    negative = ops.logical_and(valid, ops.logical_not(positive))
    log_pos, log_neg = _logspace.split_logsumexp(
        logits, positive=positive, negative=negative,
        bound=_logspace.logit_bound(normalize=normalize,
                               temperature=temperature),
    )
    return _logspace.softplus(log_neg - log_pos)


@keras.saving.register_keras_serializable(package="keras_supcrd")
class CRD(DistillationLoss):
    """Loss twin of `crd` reading `y_true`/`y_pred` dicts.

    Reads `y_pred["student_embeddings"]`, `y_true["teacher_embeddings"]` and,
    when present, `y_true["ref_embeddings"]` and `y_true["ref_labels"]`.

    Args:
        temperature: softmax temperature (> 0).
        normalize: L2-normalise the embeddings first.
        reduction: as in `keras.losses.Loss`.
        name: the loss name; also its log key in the Distiller.
        dtype: as in `keras.losses.Loss`.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import CRD
    s = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    value = CRD()({"teacher_embeddings": s + 0.1},
                  {"student_embeddings": s})
    ```
    """

    function = crd
    inputs = ("student_embeddings", "teacher_embeddings")
    reads_references = True
    default_name = "crd"
