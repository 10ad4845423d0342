"""Teacher targets for the soft-target losses: standardised logits, class
posteriors renormalised over the classes present, and a safe KL."""

from keras import ops

from keras_supcrd.losses import _logspace
from keras_supcrd.losses import _validation as v


def standardize_logits(logits):
    """Each row z-scored: `(z - mean(z)) / std(z)`, `std` with `C - 1`.

    Logit standardisation (Sun et al., CVPR 2024) as their code computes it
    (`torch.std`, unbiased), without its `1e-7` in the denominator (a
    relative change of `1e-7 / std`, float32 rounding for `std >= 1`). A row whose logits are all
    equal (`std = 0`) has no shape to keep: it maps to zeros with a zero
    gradient, where `(z - mean) / 1e-7` would have a derivative of `1e7`.
    """
    classes = logits.shape[-1]
    if classes is not None and classes < 2:
        raise ValueError("Standardised logits need at least 2 classes. "
                         f"Received: logits.shape={logits.shape}")
    centred = logits - ops.mean(logits, axis=-1, keepdims=True)
    variance = ops.sum(ops.square(centred), axis=-1, keepdims=True) / (
        ops.cast(ops.shape(logits)[-1], "float32") - 1.0)
    # `<=`: a NaN row stays NaN for the guard.
    flat = variance <= 0
    scale = ops.rsqrt(ops.where(flat, 1.0, variance))
    return ops.where(flat, 0.0, centred * scale)


def scaled_teacher_logits(labels, teacher_logits, temperature, standardize,
                          ref_embeddings=None, ref_labels=None):
    """The checked inputs of a soft-target loss: `(labels, z / T)`.

    `z / T` is constant (standardised first if asked); `labels` and
    `ref_labels` are checked against its classes, and a bad one inside a
    compiled step makes it NaN.
    """
    v.require_ref_labels(ref_embeddings, ref_labels)
    labels = v.required_labels(labels)
    teacher_logits = v.as_float(teacher_logits)
    v.check_rank("teacher_logits", teacher_logits, 2)
    v.check_same_dim("teacher_logits", teacher_logits, "labels", labels)
    classes = teacher_logits.shape[-1]
    flags = [v.check_label_range("labels", labels, classes)]
    if ref_labels is not None:
        flags.append(v.check_label_range("ref_labels", ref_labels, classes,
                                         True))
    z = v.nan_if_not_finite(teacher_logits)
    if standardize:
        z = standardize_logits(z)
    return labels, ops.stop_gradient(v.poison_unless(flags, z / temperature))


def class_counts(contrast_labels, num_classes):
    """`(one_hot, counts)`: (M, C) float one-hot rows of the contrast set
    (an empty slot, -1, is a zero row) and the (C,) count of each class."""
    one_hot = ops.one_hot(ops.maximum(contrast_labels, 0), num_classes)
    one_hot = one_hot * ops.expand_dims(
        ops.cast(contrast_labels >= 0, "float32"), 1)
    return one_hot, ops.sum(one_hot, axis=0)


def safe_log(x):
    """`log x` for `x >= 0`: `-inf` with a zero gradient at 0 (not
    `0 * inf`); NaN stays NaN, for the guard."""
    zero = x == 0
    return ops.where(zero, -float("inf"), ops.log(ops.where(zero, 1.0, x)))


def log_softmax_over(x, present):
    """`log_softmax(x)` along the last axis over the `present` entries;
    `-inf` elsewhere."""
    x = ops.where(present, x, -float("inf"))
    return x - ops.expand_dims(
        _logspace.masked_logsumexp(x, present, axis=-1), -1)


def _kept(log_p, mask):
    # `!= -inf`, not `> -inf`: a NaN compares False to both, and must stay.
    return ops.logical_and(mask, ops.not_equal(log_p, -float("inf")))


def kl(log_p, log_q, mask):
    """`sum_{mask} p (log p - log q)` along the last axis, `0 log 0 = 0`.

    Entries with `p = 0` (or outside `mask`) contribute 0 whatever `log q`
    is, and pass no gradient: both branches are kept finite. A NaN `log p`
    (a NaN teacher logit) is kept, so that the loss is NaN for the guard.
    """
    keep = _kept(log_p, mask)
    safe_p = ops.where(keep, log_p, 0.0)
    safe_q = ops.where(keep, log_q, 0.0)
    return ops.sum(ops.where(keep, ops.exp(safe_p) * (safe_p - safe_q), 0.0),
                   axis=-1)


def cross_entropy(log_p, log_q, mask):
    """`-sum_{mask} p log q` along the last axis, terms with `p = 0` 0."""
    keep = _kept(log_p, mask)
    safe_p = ops.where(keep, log_p, 0.0)
    safe_q = ops.where(keep, log_q, 0.0)
    return -ops.sum(ops.where(keep, ops.exp(safe_p) * safe_q, 0.0), axis=-1)
