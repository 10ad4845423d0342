"""Shared pieces of the contrastive losses: inputs, logits and masked sums.

All maths here is float32 and in log space. Masks are applied with
`where(mask, x, -inf)` before `exp`, never by adding large constants, and
every `where` guards both branches so that no gradient meets a NaN.
"""

from keras import ops

from keras_supcrd.losses import _validation as v

NORM_EPSILON = 1e-12


def l2_normalize(x, epsilon=NORM_EPSILON):
    """Scales rows to unit L2 norm; an all-zero row stays zero.

    The clamp is on the squared norm, before `rsqrt`, so the gradient of a
    zero row is 0 rather than `0 * inf`.
    """
    square_sum = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, epsilon * epsilon))


def masked_logsumexp(x, mask):
    """`log(sum_j exp(x_ij))` over the entries where `mask` is True.

    Rows without any entry give `-inf` with a zero gradient.

    Args:
        x: float tensor of shape (B, M).
        mask: bool tensor broadcastable to `x`.

    Returns:
        Tensor of shape (B,).
    """
    x = ops.where(mask, x, -float("inf"))
    # An empty row has max -inf; _row_shift makes it 0, so exp is not NaN.
    shift = _row_shift(x)
    return _log_of_sum(ops.sum(ops.exp(x - shift), axis=-1), shift)


# Normalised rows bound the logits to [-1/tau, 1/tau]; while that spread is
# below this, exp(l - max) cannot underflow for any valid entry and one shift
# per row serves both the positive and the negative sums.
MAX_SHARED_SPREAD = 80.0


def shared_shift_is_safe(normalize, temperature):
    return bool(normalize) and 2.0 / temperature < MAX_SHARED_SPREAD


def _row_shift(x):
    shift = ops.stop_gradient(ops.max(x, axis=-1, keepdims=True))
    return ops.where(ops.isfinite(shift), shift, 0.0)


def _log_of_sum(total, shift):
    nonempty = total > 0
    safe_log = ops.log(ops.where(nonempty, total, 1.0))
    return ops.where(nonempty, safe_log + shift[:, 0], -float("inf"))


def split_logsumexp(logits, positive, negative, negative_offset=None,
                    shared_shift=False):
    """Two masked logsumexps with one `exp` per element.

    Returns `(logsumexp_{P} l_ij, logsumexp_{N} (l_ij + offset_ij))` for
    disjoint masks `positive` and `negative`; an empty set gives `-inf`
    with a zero gradient. `negative_offset` (log-weights, <= 0) may hold
    `-inf`. With `shared_shift` (see `shared_shift_is_safe`) one row maximum
    stabilises both sums; otherwise each set gets its own.
    """
    negative_x = logits if negative_offset is None else logits + negative_offset
    if shared_shift:
        used = ops.logical_or(positive, negative)
        shift_pos = shift_neg = _row_shift(ops.where(used, logits,
                                                     -float("inf")))
        x = ops.where(positive, logits, negative_x) - shift_pos
    else:
        shift_pos = _row_shift(ops.where(positive, logits, -float("inf")))
        shift_neg = _row_shift(ops.where(negative, negative_x,
                                         -float("inf")))
        x = ops.where(positive, logits - shift_pos, negative_x - shift_neg)
    used = ops.logical_or(positive, negative)
    e = ops.exp(ops.where(used, x, -float("inf")))
    total_pos = ops.sum(ops.where(positive, e, 0.0), axis=-1)
    total_neg = ops.sum(ops.where(negative, e, 0.0), axis=-1)
    return _log_of_sum(total_pos, shift_pos), _log_of_sum(total_neg, shift_neg)


def log1mexp(log_p):
    """`log(1 - exp(log_p))` for `log_p <= 0`, accurate at both ends."""
    near_zero = log_p > -0.6931472
    # Each branch gets an argument that is safe for it, so neither is NaN.
    a = ops.where(near_zero, log_p, -1.0)
    b = ops.where(near_zero, -1.0, log_p)
    return ops.where(
        near_zero, ops.log(-ops.expm1(a)), ops.log1p(-ops.exp(b))
    )


def softplus(x):
    """`log(1 + exp(x))` that is exactly 0, with zero gradient, at `-inf`."""
    return ops.maximum(x, 0.0) + ops.log1p(ops.exp(-ops.abs(x)))


def required_labels(labels):
    if labels is None:
        raise ValueError("`labels` is required.")
    return ops.convert_to_tensor(labels)


def as_labels(x):
    return ops.cast(x, "int32")


def as_float(x):
    return ops.cast(x, "float32")


def contrast_inputs(
    student,
    teacher,
    labels,
    ref_embeddings,
    ref_labels,
    temperature,
    normalize,
):
    """Builds the similarity logits against the contrast set.

    The contrast set is `concat(teacher, ref_embeddings)`; its labels are
    `concat(labels, ref_labels)` and a label of -1 marks an empty slot.

    Returns:
        `(logits, contrast_labels, valid)`: logits of shape (B, M) equal to
        `<s_i, c_j> / temperature`, labels of shape (M,) and a
        bool validity mask of shape (M,). Without `labels` the batch part
        of the labels is 0 (valid) and carries no class.
    """
    v.check_positive("temperature", temperature)
    student, teacher = as_float(student), as_float(teacher)
    v.check_rank("student", student, 2)
    v.check_rank("teacher", teacher, 2)
    v.check_same_dim("student", student, "teacher", teacher, axis=0)
    v.check_same_dim("student", student, "teacher", teacher, axis=1)
    if labels is None:
        labels = ops.zeros((ops.shape(student)[0],), dtype="int32")
    else:
        v.check_rank("labels", labels, 1)
        v.check_same_dim("labels", labels, "student", student, axis=0)
        v.check_label_range("labels", labels, None)
        labels = as_labels(labels)
    contrast, contrast_labels = teacher, labels
    if ref_embeddings is not None:
        ref_embeddings = as_float(ref_embeddings)
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
            v.check_label_range("ref_labels", ref_labels, None, True)
        contrast = ops.concatenate([teacher, ref_embeddings], axis=0)
        contrast_labels = ops.concatenate(
            [labels, as_labels(ref_labels)], axis=0
        )
    elif ref_labels is not None:
        raise ValueError("`ref_labels` was given without `ref_embeddings`.")
    if normalize:
        student, contrast = l2_normalize(student), l2_normalize(contrast)
    # Scaling the (B, d) side is cheaper than scaling the (B, M) product.
    logits = ops.matmul(student / temperature, ops.transpose(contrast))
    valid = contrast_labels != -1
    return logits, contrast_labels, valid


def positive_mask(labels, contrast_labels):
    """(B, M) mask of `contrast_labels[j] == labels[i]`."""
    return ops.expand_dims(as_labels(labels), 1) == ops.expand_dims(
        contrast_labels, 0
    )
