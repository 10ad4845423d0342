"""One distillation step: the pieces every backend's train step shares.

Each backend's `train_step` (keras_supcrd/backend/) runs this flow and
differs only in how it differentiates, applies and distributes it:

    data -> teacher_pass -> screen_labels -> loss -> finite? -> logs
            (no gradient)   (bad label:      (the     |          |
                             y := 0, flag)  gradient) |          v
         yes: optimizer update, then remember  <------+    NonFiniteLossGuard
         no:  restore student_state; nothing     (in Distiller.fit: stops at
              else moves                          the batch, raises its name)

A bad label travels as a float flag: `screen_labels` makes it, `loss`
turns the total into NaN (so the step is skipped like any non-finite
loss), `logs` puts it under `INVALID_LABEL_LOG`, and the guard turns it
into a `ValueError` that gives the label.
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_supcrd import cached_teacher as cached
from keras_supcrd._guard import INVALID_LABEL_LOG


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


def teacher_pass(model, x):
    """Augments (and mixes) once, then runs the teacher in inference mode
    on that view, or on the clean batch when the Distiller is not
    `consistent`; or reads the teacher's outputs from a batch of
    `teacher_outputs` (outputs on the clean batch)."""
    stored = cached.is_cached(x)
    if stored:
        model._check_no_augment()
        x, features, logits = (x[cached.INPUTS], x[cached.FEATURES],
                               x[cached.LOGITS])
    _build_once(model, x)
    clean, mix = x, None
    if model.augment is not None:
        x = model.augment(x, training=True)
    if model.mixup is not None:
        x, mix = model.mixup(x, training=True)
    if not stored:
        features, logits = model.teacher_view(
            x if model.consistent else clean, training=False)
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


def sparse_labels(y):
    """Integer labels of shape (B,) from sparse or one-hot targets."""
    if len(y.shape) == 2 and y.shape[-1] != 1:
        return ops.argmax(y, axis=-1)
    return ops.reshape(y, (-1,))


def loss(model, teacher, y, sample_weight, invalid_label):
    """The weighted total and its `StepOutputs`; one student pass.

    `y` and `invalid_label` come from `screen_labels`; an invalid label
    makes the total NaN, so that the step is skipped.
    """
    features, logits = model.student_view(teacher.x, training=True)
    y_true = {"labels": sparse_labels(y), "teacher_logits": teacher.logits}
    y_pred = {"student_logits": ops.cast(logits, "float32")}
    if model.uses_embeddings:
        y_true["teacher_embeddings"] = model.teacher_head(teacher.features)
        y_pred["student_embeddings"] = model.student_head(features)
        y_true.update(_references(model, y_true))
    student_loss = _student_loss(model, teacher, y, logits, sample_weight)
    terms = [term(y_true, y_pred, sample_weight=sample_weight)
             for term in model.distillation_losses]
    weights = model.term_weights.values
    total = weights[0] * student_loss
    for k, term in enumerate(terms):
        total = total + weights[k + 1] * term
    total = ops.where(invalid_label == 0, total, float("nan"))
    return total, StepOutputs(logits, student_loss, terms, invalid_label)


def _student_loss(model, teacher, y, logits, sample_weight):
    """The compiled loss; under mixup, `mix L(y) + (1 - mix) L(partner's
    y)`, the partner being the row the batch was rolled in from."""
    def compiled(targets):
        return ops.cast(model.compute_loss(
            x=teacher.x, y=targets, y_pred=logits,
            sample_weight=sample_weight, training=True), "float32")

    if teacher.mix is None:
        return compiled(y)
    return (teacher.mix * compiled(y)
            + (1.0 - teacher.mix) * compiled(ops.roll(y, 1, axis=0)))


def _references(model, y_true):
    """`ref_embeddings`/`ref_labels`: other devices' rows, then the bank."""
    references = []
    other_replicas = getattr(model._backend, "other_replicas", None)
    if other_replicas is not None:
        rows = other_replicas(y_true["teacher_embeddings"], y_true["labels"])
        if rows is not None:
            references.append(rows)
    if model.memory_bank is not None:
        references.append(model.memory_bank.negatives(model.teacher_head))
    if not references:
        return {}
    return {"ref_embeddings": ops.concatenate([r[0] for r in references], 0),
            "ref_labels": ops.concatenate(
                [ops.cast(r[1], "int32") for r in references], 0)}


def student_state(model):
    """The variables a skipped step restores (the student's BatchNorm
    statistics, moved by its forward pass)."""
    return model.student.non_trainable_variables


def remember(model, features, logits, y):
    """Writes the (global) teacher batch into the bank after the update."""
    if model.memory_bank is not None:
        model.memory_bank.remember(features, logits, sparse_labels(y),
                                   model.teacher_head)


def logs(model, teacher, y, sample_weight, total, outputs):
    """Updates every tracker and the compiled metrics; returns the logs."""
    batch = ops.shape(teacher.logits)[0]
    model._loss_tracker.update_state(total, sample_weight=batch)
    model.student_loss_tracker.update_state(outputs.student_loss,
                                            sample_weight=batch)
    for tracker, term in zip(model.term_trackers, outputs.terms):
        tracker.update_state(term, sample_weight=batch)
    labels = ops.cast(sparse_labels(y), "int32")
    log_p = ops.log_softmax(teacher.logits / model.kd_temperature, axis=-1)
    model.confidence_tracker.update_state(
        ops.exp(ops.take_along_axis(log_p, labels[:, None], axis=1)))
    # Keras's own, not the Distiller's (which hides the distillation logs
    # from `evaluate`).
    logs = keras.Model.compute_metrics(model, teacher.x, y,
                                       outputs.student_logits, sample_weight)
    weights = model.term_weights.values
    for k, name in enumerate(model.term_weights.names):
        logs[f"{name}_weight"] = weights[k]
    # Read (and removed from the logs) by the guard in `fit`.
    logs[INVALID_LABEL_LOG] = outputs.invalid_label
    return logs
