"""Log-space sums the losses share: masked logsumexps with a hand-written
gradient, `softplus` and `log(1 - softmax)`.

All maths here is float32. Masks are applied with `where(mask, x, -inf)`
before `exp`, never by adding large constants, and every `where` guards
both branches so that no gradient meets a NaN.
"""

import contextlib
import functools

from keras import ops

# Set by `autodiff_gradient()`; read when a loss runs (or is traced).
_AUTODIFF = [False]


def stable_shift(x, axis):
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


def masked_logsumexp(x, mask, *, axis=-1):
    """`log(sum exp(x))` along `axis` over the entries where `mask` is True.

    A slice without any entry gives `-inf` with a zero gradient.
    """
    x = ops.where(mask, x, -float("inf"))
    shift = stable_shift(x, axis)
    centred = x - ops.expand_dims(shift, axis)
    return _log_of_sum(ops.sum(ops.exp(centred), axis=axis), shift)


def logit_bound(*, normalize, temperature):
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


def split_logsumexp(logits, *, positive, negative, negative_offset=None,
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
    masks = {"positive": positive, "negative": negative}
    if _AUTODIFF[0]:
        return _autodiff_split_logsumexp(
            logits, negative_offset=negative_offset, bound=bound, **masks)
    if negative_offset is None and bound is not None:
        both = _with_gradient(functools.partial(
            _bounded_forward, bound=bound, **masks))(logits)
    elif negative_offset is None:
        both = _with_gradient(functools.partial(
            _plain_forward, bound=bound, **masks))(logits)
    else:
        both = _with_gradient(functools.partial(
            _offset_forward, bound=bound, **masks))(logits, negative_offset)
    return both[0], both[1]


def _offset_forward(logits, offset, *, positive, negative, bound):
    """`split_logsumexp`'s forward pass and gradient with log-weights on
    the negatives (their own maximum), or without a bound."""
    negative_x = logits if offset is None else logits + offset
    shift_pos = bound
    if bound is None:
        shift_pos = stable_shift(ops.where(positive, logits, -float("inf")),
                                 0)
    shift_neg = stable_shift(ops.where(negative, negative_x, -float("inf")),
                             0)
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


def _plain_forward(logits, *, positive, negative, bound):
    return _offset_forward(logits, None, positive=positive,
                           negative=negative, bound=bound)


def _bounded_forward(logits, *, positive, negative, bound):
    """Both sets share the bound as their shift: one exp, and one (M, B)
    array kept for the backward pass."""
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


def _shifted_log_sum_exp(x, mask, shift):
    x = ops.where(mask, x - shift, -float("inf"))
    return _log_of_sum(ops.sum(ops.exp(x), axis=0), shift)


def _autodiff_split_logsumexp(logits, *, positive, negative,
                              negative_offset, bound):
    negative_x = logits if negative_offset is None else (
        logits + negative_offset)
    shift_pos = bound
    if bound is None:
        shift_pos = stable_shift(ops.where(positive, logits, -float("inf")),
                                 0)
    shift_neg = bound if negative_offset is None and bound is not None else (
        stable_shift(ops.where(negative, negative_x, -float("inf")), 0))
    return (_shifted_log_sum_exp(logits, positive, shift_pos),
            _shifted_log_sum_exp(negative_x, negative, shift_neg))


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
