"""The Distiller's train step on TensorFlow, with `tf.distribute` support.

Under a strategy with several replicas, every anchor sees the global batch:
the other replicas' teacher embeddings join the reference set (the
replica's own slice is marked empty), the bank stores the gathered global
batch, and the logged values are unscaled so they equal one device's. A
step is applied only when the loss is finite on every replica.
"""

import keras
import tensorflow as tf

from keras_supcrd import _step


def _replica_context():
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def gather(x):
    """Concatenates `x` over replicas along the batch axis (differentiable;
    its gradient is the reduce-scatter of the upstream gradients)."""
    context = _replica_context()
    return x if context is None else context.all_gather(x, axis=0)


def other_replicas(embeddings, labels):
    """The other replicas' rows as extra negatives: `(rows, labels)` or None.

    The global batch is gathered in replica order; this replica's own slice
    keeps its rows (so shapes are static) but gets the empty label -1.
    """
    context = _replica_context()
    if context is None:
        return None
    rows = context.all_gather(embeddings, axis=0)
    gathered = context.all_gather(tf.cast(labels, "int32"), axis=0)
    local = tf.shape(labels)[0]
    owner = tf.range(tf.shape(gathered)[0]) // local
    own = owner == tf.cast(context.replica_id_in_sync_group, owner.dtype)
    return rows, tf.where(own, -1, gathered)


def _update(model, parts, gradients, variables, features, logits, y):
    model.optimizer.apply_gradients(zip(gradients, variables))
    # Under a strategy every replica writes the same global batch.
    _step.remember(parts, gather(features), gather(logits), gather(y))


def _restore(parts, saved):
    # The forward pass moved the student's BatchNorm statistics.
    for variable, value in zip(_step.student_state(parts), saved):
        variable.assign(value)


def _update_if_finite(model, parts, loss, *update_args, saved):
    """Applies the step only when the loss is finite on every replica;
    otherwise restores the student's statistics and leaves weights,
    optimizer and bank alone."""
    finite = tf.math.is_finite(loss)
    # Under any strategy, one replica included, `apply_gradients` calls
    # merge_call, which a cond in replica context cannot hold.
    if not tf.distribute.has_strategy():
        tf.cond(finite, lambda: _update(model, parts, *update_args),
                lambda: _restore(parts, saved))
        return
    context = tf.distribute.get_replica_context()
    non_finite = context.all_reduce("SUM", tf.cast(~finite, "int32"))

    def cross_replica(strategy, non_finite, update_args, saved):
        # Branch in cross-replica context, as LossScaleOptimizer does.
        # Per-replica values must come in through `args`, not a closure.
        every_finite = strategy.experimental_local_results(non_finite)[0] == 0
        run = strategy.extended.call_for_each_replica
        tf.cond(every_finite,
                lambda: run(_update, args=(model, parts, *update_args)),
                lambda: run(_restore, args=(parts, saved)))

    context.merge_call(cross_replica, args=(non_finite, update_args, saved))


def train_step(model, parts, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    # Outside the tape: the frozen teacher is never recorded.
    teacher = _step.teacher_pass(model, parts, x)
    y, invalid = _step.screen_everywhere(y, teacher.logits.shape[-1], gather)
    saved = [tf.identity(v.value) for v in _step.student_state(parts)]
    with tf.GradientTape() as tape:
        loss, outputs = _step.loss(parts, teacher, y, sample_weight, invalid)
        scaled = model.optimizer.scale_loss(loss)
    variables = model.trainable_variables
    gradients = tape.gradient(scaled, variables)
    _update_if_finite(model, parts, loss, gradients, variables,
                      teacher.features, teacher.logits, y, saved=saved)
    # Keras scaled each replica's loss by 1 / replicas; log one device's.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    outputs = outputs._replace(
        student_loss=outputs.student_loss * replicas,
        terms=[term * replicas for term in outputs.terms])
    return _step.logs(parts, teacher, y, sample_weight, loss * replicas,
                      outputs)
