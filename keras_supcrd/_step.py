"""One distillation step: the pieces every backend's train step shares.

Each backend's `train_step` (keras_supcrd/backend/) runs this flow and
differs only in how it differentiates, applies and distributes it:

    data -> teacher_pass -> screen_labels -> loss -> finite? -> logs
            (no gradient)   (bad label:      (the     |          |
                             y := 0, flag)  gradient) |          v
         yes: optimizer update, then remember  <------+    NonFiniteLossGuard
         no:  restore student_state; nothing     (in Distiller.fit: stops at
              else moves                          the batch, raises its name)

A bad label travels as a float flag: `screen_labels` makes it (from the
global batch on every device, so that all of them skip together), `loss`
turns the total into NaN (so the step is skipped like any non-finite
loss), `logs` puts it under `INVALID_LABEL_LOG`, and the guard turns it
into a `ValueError` that gives the label.

Everything a step reads of its Distiller comes in one `StepParts`, which
the Distiller builds once; the backend steps add only what Keras makes
public on any model (optimizer, variables).
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_supcrd import cached_teacher as cached
from keras_supcrd._guard import INVALID_LABEL_LOG


class Trackers(NamedTuple):
    """The Distiller's own metrics: the student's loss, one per
    distillation loss, and the teacher's confidence in the true class."""

    student_loss: object
    terms: list
    confidence: object


class StepParts(NamedTuple):
    """What a train step reads of its Distiller, built once by it
    (`Distiller._step_parts`).

    `teacher_head`, `student_head` are None without an embedding loss,
    `memory_bank` without a bank, `augment`/`mixup` without augmentation.
    `other_replicas` is the backend's (None where one device's step is the
    global batch's, as under JAX). The callables are the Distiller's:
    `refuse_cached()` raises where cached teacher outputs cannot be used,
    `log_total(total, batch)` adds to the logged `loss`, `compute_loss` is
    the compiled loss and `compute_metrics` updates the compiled metrics
    and returns every metric's result.
    """

    teacher_view: object
    student_view: object
    augment: object
    mixup: object
    consistent: bool
    teacher_head: object
    student_head: object
    memory_bank: object
    losses: list
    term_weights: object
    trackers: Trackers
    kd_temperature: float
    student: object
    other_replicas: object
    refuse_cached: object
    log_total: object
    compute_loss: object
    compute_metrics: object


class TeacherPass(NamedTuple):
    """The batch as the student sees it, and the frozen teacher's outputs
    on it (float32, no gradient): on the same view unless the Distiller
    was built with `consistent=False` (then on the clean batch). `mix` is
    the batch's mixup coefficient, or None without mixup."""

    x: object
    features: object
    logits: object
    mix: object = None


class StepOutputs(NamedTuple):
    """What a step's loss produced besides the total, for the logs."""

    student_logits: object
    student_loss: object
    terms: list  # the unweighted distillation losses, in the given order
    invalid_label: object  # float32 scalar; 0 when every label is valid


def teacher_pass(model, parts, x):
    """Augments (and mixes) once, then runs the teacher in inference mode
    on that view, or on the clean batch when the Distiller is not
    `consistent`; or reads the teacher's outputs from a batch of
    `teacher_outputs` (outputs on the clean batch)."""
    stored = cached.is_cached(x)
    if stored:
        parts.refuse_cached()
        x, features, logits = (x[cached.INPUTS], x[cached.FEATURES],
                               x[cached.LOGITS])
    _build_once(model, x)
    clean, mix = x, None
    if parts.augment is not None:
        x = parts.augment(x, training=True)
    if parts.mixup is not None:
        x, mix = parts.mixup(x, training=True)
    if not stored:
        features, logits = parts.teacher_view(
            x if parts.consistent else clean, training=False)
    return TeacherPass(x, ops.stop_gradient(ops.cast(features, "float32")),
                       ops.stop_gradient(ops.cast(logits, "float32")), mix)


def _build_once(model, x):
    if not model.built:  # TensorFlow defers building to the first trace
        model.build(keras.tree.map_structure(lambda t: tuple(t.shape), x))


def screen_labels(y, num_classes):
    """Finds out-of-range labels inside a compiled step.

    Returns `(y, invalid)`: `y` with every out-of-range sparse label set to
    0, so that no gather in the step reads outside its table (TensorFlow
    raises there, JAX clamps), and `invalid`, the first out-of-range label
    as a float32 scalar, or 0 when every label is in range (0 always is).
    One-hot targets need no screening: their argmax is in range.
    """
    if len(y.shape) == 2 and y.shape[-1] != 1:
        return y, ops.zeros((), "float32")
    bad = ops.logical_or(y < 0, y >= num_classes)
    flat_bad = ops.reshape(bad, (-1,))
    # The first bad position picked by a mask, not a gather: inductor's
    # kernel for a gather at a bool argmax failed its bounds check.
    positions = ops.arange(ops.shape(flat_bad)[0])
    first = ops.min(ops.where(flat_bad, positions, ops.shape(flat_bad)[0]))
    values = ops.cast(ops.reshape(y, (-1,)), "float32")
    invalid = ops.sum(ops.where(positions == first, values, 0.0))
    return ops.where(bad, ops.zeros_like(y), y), invalid


def screen_everywhere(y, num_classes, gather):
    """`screen_labels` of this device's `y`, with the flag of the global
    batch (`gather` concatenates every device's labels; the identity on
    one): a bad label on any device makes every device's loss NaN, so
    that all skip the step and log the same flag."""
    screened, invalid = screen_labels(y, num_classes)
    everywhere = gather(y)
    if everywhere is not y:  # one device: its own flag is the global one
        _, invalid = screen_labels(everywhere, num_classes)
    return screened, invalid


def sparse_labels(y):
    """Integer labels of shape (B,) from sparse or one-hot targets."""
    if len(y.shape) == 2 and y.shape[-1] != 1:
        return ops.argmax(y, axis=-1)
    return ops.reshape(y, (-1,))


def loss(parts, teacher, y, sample_weight, invalid_label):
    """The weighted total and its `StepOutputs`; one student pass.

    `y` and `invalid_label` come from `screen_everywhere`; an invalid
    label makes the total NaN, so that the step is skipped.
    """
    features, logits = parts.student_view(teacher.x, training=True)
    y_true = {"labels": sparse_labels(y), "teacher_logits": teacher.logits}
    y_pred = {"student_logits": ops.cast(logits, "float32")}
    if parts.teacher_head is not None:
        y_true["teacher_embeddings"] = parts.teacher_head(teacher.features)
        y_pred["student_embeddings"] = parts.student_head(features)
        y_true.update(_references(parts, y_true))
    student_loss = _student_loss(parts, teacher, y, logits, sample_weight)
    terms = [term(y_true, y_pred, sample_weight=sample_weight)
             for term in parts.losses]
    weights = parts.term_weights.values
    total = weights[0] * student_loss
    for k, term in enumerate(terms):
        total = total + weights[k + 1] * term
    total = ops.where(invalid_label == 0, total, float("nan"))
    return total, StepOutputs(logits, student_loss, terms, invalid_label)


def _student_loss(parts, teacher, y, logits, sample_weight):
    """The compiled loss; under mixup, `mix L(y) + (1 - mix) L(partner's
    y)`, the partner being the row the batch was rolled in from."""
    def compiled(targets):
        return ops.cast(parts.compute_loss(
            x=teacher.x, y=targets, y_pred=logits,
            sample_weight=sample_weight, training=True), "float32")

    if teacher.mix is None:
        return compiled(y)
    return (teacher.mix * compiled(y)
            + (1.0 - teacher.mix) * compiled(ops.roll(y, 1, axis=0)))


def _references(parts, y_true):
    """`ref_embeddings`/`ref_labels`: other devices' rows, then the bank."""
    references = []
    if parts.other_replicas is not None:
        rows = parts.other_replicas(y_true["teacher_embeddings"],
                                    y_true["labels"])
        if rows is not None:
            references.append(rows)
    if parts.memory_bank is not None:
        references.append(parts.memory_bank.negatives(parts.teacher_head))
    if not references:
        return {}
    return {"ref_embeddings": ops.concatenate([r[0] for r in references], 0),
            "ref_labels": ops.concatenate(
                [ops.cast(r[1], "int32") for r in references], 0)}


def student_state(parts):
    """The variables a skipped step restores (the student's BatchNorm
    statistics, moved by its forward pass)."""
    return parts.student.non_trainable_variables


def remember(parts, features, logits, y):
    """Writes the (global) teacher batch into the bank after the update."""
    if parts.memory_bank is not None:
        parts.memory_bank.remember(features, logits, sparse_labels(y),
                                   parts.teacher_head)


def logs(parts, teacher, y, sample_weight, total, outputs):
    """Updates every tracker and the compiled metrics; returns the logs."""
    batch = ops.shape(teacher.logits)[0]
    trackers = parts.trackers
    parts.log_total(total, batch)
    trackers.student_loss.update_state(outputs.student_loss,
                                       sample_weight=batch)
    for tracker, term in zip(trackers.terms, outputs.terms):
        tracker.update_state(term, sample_weight=batch)
    labels = ops.cast(sparse_labels(y), "int32")
    log_p = ops.log_softmax(teacher.logits / parts.kd_temperature, axis=-1)
    trackers.confidence.update_state(
        ops.exp(ops.take_along_axis(log_p, labels[:, None], axis=1)))
    logs = parts.compute_metrics(teacher.x, y, outputs.student_logits,
                                 sample_weight)
    weights = parts.term_weights.values
    for k, name in enumerate(parts.term_weights.names):
        logs[f"{name}_weight"] = weights[k]
    # Read (and removed from the logs) by the guard in `fit`.
    logs[INVALID_LABEL_LOG] = outputs.invalid_label
    return logs
