"""Shared pieces of the contrastive losses: inputs, logits and masked sums.

All maths here is float32 and in log space. Masks are applied with
`where(mask, x, -inf)` before `exp`, never by adding large constants, and
every `where` guards both branches so that no gradient meets a NaN.
"""

import contextlib

from keras import ops

from keras_supcrd.losses import _validation as v

NORM_EPSILON = 1e-12
# Set by `autodiff_gradient()`; read when a loss runs (or is traced).
_AUTODIFF = [False]


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


def _shift(x, axis):
    """The stop-gradient maximum along `axis` (0 where all of it is -inf)."""
    # `amax`, not `max`: Keras's torch `max` breaks torch.compile's graph.
    shift = ops.stop_gradient(ops.amax(x, axis=axis))
    return ops.where(ops.isfinite(shift), shift, 0.0)


def _log_of_sum(total, shift):
    # Only an exact 0 is an empty set: a NaN total (a NaN among the entries)
    # must stay NaN, so that `fit`'s guard sees it, never become -inf -> 0.
    # A non-empty shifted sum is >= exp(-80) > 0, so 0 means empty.
    empty = total == 0
    safe_log = ops.log(ops.where(empty, 1.0, total))
    return ops.where(empty, -float("inf"), safe_log + shift)


def masked_logsumexp(x, mask, axis=-1):
    """`log(sum exp(x))` along `axis` over the entries where `mask` is True.

    A slice without any entry gives `-inf` with a zero gradient.
    """
    x = ops.where(mask, x, -float("inf"))
    shift = _shift(x, axis)
    centred = x - ops.expand_dims(shift, axis)
    return _log_of_sum(ops.sum(ops.exp(centred), axis=axis), shift)


def logit_bound(normalize, temperature):
    """`1 / temperature` if it bounds the logits safely, else None.

    Normalised rows bound every logit to [-1/tau, 1/tau]. While that spread
    stays below 80, `exp(l - 1/tau)` can neither overflow nor underflow, so
    the bound replaces a maximum pass over the (M, B) logits.
    """
    if normalize and isinstance(temperature, (int, float)):
        if 2.0 / temperature < 80.0:
            return 1.0 / temperature
    return None


def _scale(log_total, shift):
    # d log(sum exp x) / d x = exp(x - shift) * exp(shift - log_total); 0
    # for an empty set (-inf), whose entries are all masked anyway.
    return ops.where(ops.isfinite(log_total), ops.exp(shift - log_total), 0.0)


def _masked_exp(x, mask, shift):
    # No gradient flows through here (see split_logsumexp), so an inf in
    # a masked-out entry is harmless: `where` drops it.
    return ops.where(mask, ops.exp(x - shift), 0.0)


def split_logsumexp(logits, positive, negative, negative_offset=None,
                    bound=None):
    """The two masked logsumexps of the contrastive losses, over axis 0.

    Returns `(logsumexp_{P} l, logsumexp_{N} (l + offset))`, each of shape
    (B,), for logits and disjoint masks of shape (M, B); an empty set gives
    `-inf` with a zero gradient. `negative_offset` (log-weights, may be
    -inf) is added to the negatives only. With a `bound` (`logit_bound`)
    plain logits are shifted by it instead of by their maximum; weighted
    negatives always get their own maximum, so small weights never
    underflow.

    The gradient is written by hand: with `e = exp(l - shift)` kept from
    the forward pass, `d/dl = e * g_pos / S_pos` on positives and
    `e * g_neg / S_neg` on negatives (the offset gets the latter), one
    elementwise pass instead of autodiff's chain of masks and branches.
    Inside `autodiff_gradient()` the same maths is differentiated by
    autodiff instead.
    """
    if _AUTODIFF[0]:
        return _autodiff_split_logsumexp(logits, positive, negative,
                                         negative_offset, bound)

    def forward(logits, offset):
        # Used without a bound, or with log-weights (their own maximum).
        negative_x = logits if offset is None else logits + offset
        shift_pos = bound
        if bound is None:
            shift_pos = _shift(ops.where(positive, logits, -float("inf")), 0)
        shift_neg = _shift(ops.where(negative, negative_x, -float("inf")), 0)
        e_pos = _masked_exp(logits, positive, shift_pos)
        e_neg = _masked_exp(negative_x, negative, shift_neg)
        log_pos = _log_of_sum(ops.sum(e_pos, axis=0), shift_pos)
        log_neg = _log_of_sum(ops.sum(e_neg, axis=0), shift_neg)

        def grad(upstream):
            g_neg = e_neg * (upstream[1] * _scale(log_neg, shift_neg))
            g_logits = e_pos * (upstream[0] * _scale(log_pos, shift_pos))
            if offset is None:
                return (g_logits + g_neg,)
            return g_logits + g_neg, g_neg

        return ops.stack([log_pos, log_neg]), grad

    def forward_bounded(logits):
        # Both sets share the bound as their shift: one exp, and one (M, B)
        # array kept for the backward pass.
        e = ops.exp(logits - bound)
        log_pos = _log_of_sum(ops.sum(ops.where(positive, e, 0.0), 0), bound)
        log_neg = _log_of_sum(ops.sum(ops.where(negative, e, 0.0), 0), bound)

        def grad(upstream):
            scale_neg = ops.where(
                negative, upstream[1] * _scale(log_neg, bound), 0.0)
            scale = ops.where(
                positive, upstream[0] * _scale(log_pos, bound), scale_neg)
            return (e * scale,)

        return ops.stack([log_pos, log_neg]), grad

    if negative_offset is None and bound is not None:
        both = _with_gradient(forward_bounded)(logits)
    elif negative_offset is None:
        both = _with_gradient(lambda l: forward(l, None))(logits)
    else:
        both = _with_gradient(forward)(logits, negative_offset)
    return both[0], both[1]


def _autodiff_split_logsumexp(logits, positive, negative, negative_offset,
                              bound):
    def log_sum_exp(x, mask, shift):
        x = ops.where(mask, x - shift, -float("inf"))
        return _log_of_sum(ops.sum(ops.exp(x), axis=0), shift)

    negative_x = logits if negative_offset is None else (
        logits + negative_offset)
    shift_pos = bound
    if bound is None:
        shift_pos = _shift(ops.where(positive, logits, -float("inf")), 0)
    shift_neg = bound if negative_offset is None and bound is not None else (
        _shift(ops.where(negative, negative_x, -float("inf")), 0))
    return (log_sum_exp(logits, positive, shift_pos),
            log_sum_exp(negative_x, negative, shift_neg))


@contextlib.contextmanager
def autodiff_gradient():
    """Differentiates the contrastive losses' masked logsumexps by autodiff.

    Inside the context, CRD, SupCRD and both logit-weighted forms (the
    losses built on `split_logsumexp`) compute the same values, and their
    gradients come from autodiff of the forward maths instead of the
    hand-written one-pass gradient. The
    setting is read when a loss runs or is traced, so a function compiled
    inside the context keeps it. For pricing and checking the hand-written
    gradient (`benchmarks/loss_speed.py`, the tests).

    Example:

    ```python
    import numpy as np
    from keras_supcrd.losses import autodiff_gradient, supcrd
    s = np.random.default_rng(0).normal(size=(4, 8))
    with autodiff_gradient():
        loss = supcrd(s, s + 0.1, np.array([0, 1, 0, 1]))
    ```
    """
    before = _AUTODIFF[0]
    _AUTODIFF[0] = True
    try:
        yield
    finally:
        _AUTODIFF[0] = before


def _with_gradient(forward):
    """`ops.custom_gradient` around `forward(*args) -> (out, grad)`, where
    `grad(upstream)` returns a tuple of one gradient per argument."""
    @ops.custom_gradient
    def fn(*args):
        out, grad = forward(*args)

        def backward(*upstream_args, upstream=None):
            if upstream is None:  # JAX and TensorFlow pass it positionally
                (upstream,) = upstream_args[-1:]
            return grad(upstream)

        return out, backward

    return fn


def log_one_minus_softmax(x):
    """`log(1 - softmax(x))` along the last axis, accurate as p -> 1.

    `1 - p` computed from `p` cancels (p = 1 - 2.5e-5 keeps two digits in
    float32). Only the largest class can have p > 1/2: its complement is
    the softmax mass of the other classes, a masked logsumexp. The others
    use `log1p(-p)`, accurate for p <= 1/2.
    """
    log_total = ops.logsumexp(x, axis=-1, keepdims=True)
    top = ops.one_hot(ops.argmax(x, axis=-1), x.shape[-1]) > 0
    log_rest = masked_logsumexp(x, ops.logical_not(top), axis=-1)
    log_p = ops.where(top, -1.0, x - log_total)  # the top never reads it
    return ops.where(top, ops.expand_dims(log_rest, -1) - log_total,
                     ops.log1p(-ops.exp(log_p)))


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


def nan_if_not_finite(x):
    """`x` with every inf replaced by NaN.

    An inf input must poison every value it takes part in, but `exp(-inf)`
    is a silent 0; NaN propagates through every product and sum.
    """
    return ops.where(ops.isfinite(x), x, float("nan"))


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
        `(logits, contrast_labels, valid)`: logits of shape (M, B) equal to
        `<c_j, s_i> / temperature` (contrast rows first: gathering per-class
        weights by row is a contiguous copy), labels of shape (M,) and a
        bool validity mask of shape (M, 1). Without `labels` the batch part
        of the labels is 0 (valid) and carries no class.
    """
    student, contrast, contrast_labels = contrast_rows(
        student, teacher, labels, ref_embeddings, ref_labels, normalize)
    # Scaling the (B, d) side is cheaper than scaling the (M, B) product.
    logits = ops.matmul(contrast, ops.transpose(student / temperature))
    valid = ops.expand_dims(contrast_labels != -1, 1)
    return logits, contrast_labels, valid


def contrast_rows(student, teacher, labels, ref_embeddings, ref_labels,
                  normalize):
    """The checked (and normalised) rows behind `contrast_inputs`.

    Returns `(student, contrast, contrast_labels)` of shapes (B, d),
    (M, d) and (M,); a bad label (inside a compiled step) has made every
    student row NaN.
    """
    student, teacher = as_float(student), as_float(teacher)
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
            flags.append(
                v.check_label_range("ref_labels", ref_labels, None, True)
            )
        contrast = ops.concatenate([teacher, ref_embeddings], axis=0)
        contrast_labels = ops.concatenate(
            [labels, as_labels(ref_labels)], axis=0
        )
    elif ref_labels is not None:
        raise ValueError("`ref_labels` was given without `ref_embeddings`.")
    if normalize:
        # An inf row normalises to NaN (inf * 0), so no extra pass is needed.
        student, contrast = l2_normalize(student), l2_normalize(contrast)
    else:
        student = nan_if_not_finite(student)
        contrast = nan_if_not_finite(contrast)
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
        as_labels(labels), 0
    )
