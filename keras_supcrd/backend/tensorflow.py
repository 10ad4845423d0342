"""The Distiller's train step on TensorFlow, with `tf.distribute` support.

Under a strategy with several replicas, every anchor sees the global batch:
the other replicas' teacher embeddings join the reference set (the
replica's own slice is marked empty), the bank stores the gathered global
batch, and the logged values are unscaled so they equal one device's.
"""

import keras
import tensorflow as tf


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


def _update_if_finite(model, loss, gradients, variables, saved, features,
                      logits, y):
    """Applies the step only when the loss is finite; otherwise restores the
    student's statistics and leaves weights, optimizer and bank alone."""
    finite = tf.math.is_finite(loss)

    def update():
        model.optimizer.apply_gradients(zip(gradients, variables))
        model.remember(features, logits, y)
        return tf.constant(True)

    def skip():
        for variable, value in zip(model.student_state(), saved):
            variable.assign(value)
        return tf.constant(False)

    tf.cond(finite, update, skip)


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    # Outside the tape: the frozen teacher is never recorded.
    x, features, logits = model.teacher_pass(x)
    saved = [tf.identity(v.value) for v in model.student_state()]
    with tf.GradientTape() as tape:
        loss, aux = model.distillation_loss(
            x, y, sample_weight, features, logits
        )
        scaled = model.optimizer.scale_loss(loss)
    variables = model.trainable_variables
    gradients = tape.gradient(scaled, variables)
    if _replica_context() is None:
        _update_if_finite(model, loss, gradients, variables, saved,
                          features, logits, y)
    else:
        # A cond around apply_gradients cannot cross replicas (it calls
        # merge_call): under tf.distribute a non-finite step is applied, and
        # the Distiller's guard stops training right after it.
        model.optimizer.apply_gradients(zip(gradients, variables))
        model.remember(gather(features), gather(logits), gather(y))
    # Keras scaled each replica's loss by 1 / replicas; log one device's.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    student_logits, student_loss, terms = aux
    aux = (student_logits, student_loss * replicas,
           [term * replicas for term in terms])
    return model.update_logs(x, y, sample_weight, loss * replicas, aux,
                             logits)
