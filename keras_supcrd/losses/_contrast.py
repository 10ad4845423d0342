"""The contrast set of the contrastive losses: checked, normalised rows,
their similarity logits, and the masks of who is positive for whom.

The log-space sums over these logits live in `_logspace.py`.
"""

from keras import ops

from keras_supcrd.losses import _validation as v

NORM_EPSILON = 1e-12


def l2_normalize(x, epsilon=NORM_EPSILON):
    """Scales rows to unit L2 norm; a zero row stays zero, with zero gradient.

    `u = x / |x|` for rows with `|x| > epsilon`; a row with `|x| <= epsilon`
    (an exact zero row: a blank input through ReLU layers without bias, an
    empty bank slot) has no direction and maps to 0 with a zero gradient.
    Clamping the norm instead (`x / max(|x|, epsilon)`, as
    `tf.math.l2_normalize` and `torch.nn.functional.normalize` do) keeps the
    value 0 but has the derivative `1 / epsilon = 1e12` there, which one
    SGD step turns into weights of about 1e22 with a finite loss.
    The rows above `epsilon` get the exact `x / |x|` and its derivative
    `(I - u u^T) / |x|`.

    Args:
        x: rows to normalise, shape (..., d).
        epsilon: the norm at or below which a row counts as zero.

    Returns:
        `x` with every row of unit norm, or zero.

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import l2_normalize
    rows = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))  # [.6, .8], 0
    ```
    """
    x = ops.convert_to_tensor(x)
    square_sum = ops.sum(ops.square(x), axis=-1, keepdims=True)
    # `<=`, so that a NaN row (every comparison False) stays NaN for the
    # guard; the safe branch keeps the unselected gradient 0, not 0 * inf.
    zero_row = square_sum <= epsilon * epsilon
    scale = ops.rsqrt(ops.where(zero_row, 1.0, square_sum))
    return ops.where(zero_row, 0.0, x * scale)


def contrast_inputs(student, teacher, *, labels, ref_embeddings, ref_labels,
                    temperature, normalize):
    """Builds the similarity logits against the contrast set.

    The contrast set is `concat(teacher, ref_embeddings)`; its labels are
    `concat(labels, ref_labels)` and a label of -1 marks an empty slot.

    Returns:
        `(logits, contrast_labels, valid)`: logits of shape (M, B) equal to
        `<c_j, s_i> / temperature` (contrast rows first: gathering per-class
        weights by row is a contiguous copy), labels of shape (M,) and a
        bool validity mask of shape (M, 1). Without `labels` the batch part
        of the labels is 0 (valid) and carries no class.
    """
    student, contrast, contrast_labels = contrast_rows(
        student, teacher, labels=labels, ref_embeddings=ref_embeddings,
        ref_labels=ref_labels, normalize=normalize)
    # Scaling the (B, d) side is cheaper than scaling the (M, B) product.
    logits = ops.matmul(contrast, ops.transpose(student / temperature))
    valid = ops.expand_dims(contrast_labels != -1, 1)
    return logits, contrast_labels, valid


def contrast_rows(student, teacher, *, labels, ref_embeddings, ref_labels,
                  normalize):
    """The checked (and normalised) rows behind `contrast_inputs`.

    Returns `(student, contrast, contrast_labels)` of shapes (B, d),
    (M, d) and (M,); a bad label (inside a compiled step) has made every
    student row NaN.
    """
    student, teacher = v.as_float(student), v.as_float(teacher)
    v.check_rank("student", student, 2)
    v.check_rank("teacher", teacher, 2)
    v.check_same_dim("student", student, "teacher", teacher, axis=0)
    v.check_same_dim("student", student, "teacher", teacher, axis=1)
    flags = []
    if labels is None:
        labels = ops.zeros((ops.shape(student)[0],), dtype="int32")
    else:
        v.check_rank("labels", labels, 1)
        v.check_same_dim("labels", labels, "student", student, axis=0)
        flags.append(v.check_label_range("labels", labels, None))
        labels = v.as_labels(labels)
    contrast, contrast_labels = teacher, labels
    if ref_embeddings is not None:
        ref_embeddings = v.as_float(ref_embeddings)
        v.check_rank("ref_embeddings", ref_embeddings, 2)
        v.check_same_dim(
            "ref_embeddings", ref_embeddings, "teacher", teacher, axis=1
        )
        if ref_labels is None:
            # Without labels every slot is valid (CRD needs no classes).
            ref_labels = ops.zeros((ops.shape(ref_embeddings)[0],), "int32")
        else:
            ref_labels = ops.convert_to_tensor(ref_labels)
            v.check_rank("ref_labels", ref_labels, 1)
            v.check_same_dim(
                "ref_labels", ref_labels, "ref_embeddings", ref_embeddings
            )
            flags.append(
                v.check_label_range("ref_labels", ref_labels, None, True)
            )
        contrast = ops.concatenate([teacher, ref_embeddings], axis=0)
        contrast_labels = ops.concatenate(
            [labels, v.as_labels(ref_labels)], axis=0
        )
    elif ref_labels is not None:
        raise ValueError("`ref_labels` was given without `ref_embeddings`.")
    if normalize:
        # An inf row normalises to NaN (inf * 0), so no extra pass is needed.
        student, contrast = l2_normalize(student), l2_normalize(contrast)
    else:
        student = v.nan_if_not_finite(student)
        contrast = v.nan_if_not_finite(contrast)
    # A bad label inside a compiled step: every logit NaN, via (B, d) only.
    return v.poison_unless(flags, student), contrast, contrast_labels


def own_row_mask(logits):
    """(M, B) mask of `j = i`: each anchor's own teacher row, which comes
    first in the contrast set."""
    rows = ops.expand_dims(ops.arange(ops.shape(logits)[0]), 1)
    return rows == ops.expand_dims(ops.arange(ops.shape(logits)[1]), 0)


def positive_mask(labels, contrast_labels):
    """(M, B) mask of `contrast_labels[j] == labels[i]`."""
    return ops.expand_dims(contrast_labels, 1) == ops.expand_dims(
        v.as_labels(labels), 0
    )
