"""The Distiller's train step on JAX: pure, with all state threaded through.

The state is Keras's `(trainable, non_trainable, optimizer, metrics)` value
lists. The teacher pass and the bank write run in their own stateless
scopes outside `value_and_grad`; the student's BatchNorm statistics come
back from inside it as auxiliary output.
"""

import jax
import keras

from keras_supcrd import _step


def _stateless(model, trainable, non_trainable, fn):
    """Runs `fn()` on the given values; returns its result and new values."""
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        out = fn()
    return out, _current(scope, model.non_trainable_variables, non_trainable)


def _current(scope, variables, values):
    new = [scope.get_current_value(v) for v in variables]
    return [old if n is None else n for n, old in zip(new, values)]


def gather(x):
    """The identity: under keras.distribution the step is written for the
    global batch, and JAX shards it."""
    return x


# No other replicas' rows to add: every anchor already sees the global batch.
other_replicas = None


def _select(keep, new, old):
    return [jax.numpy.where(keep, n, o) for n, o in zip(new, old)]


def train_step(model, parts, state, data):
    trainable, non_trainable, optimizer_vars, metrics_vars = state
    before = (trainable, non_trainable, optimizer_vars)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    teacher, non_trainable = _stateless(
        model, trainable, non_trainable,
        lambda: _step.teacher_pass(model, parts, x))
    y, invalid = _step.screen_everywhere(y, teacher.logits.shape[-1], gather)

    def loss_fn(trainable, non_trainable):
        (loss, outputs), non_trainable = _stateless(
            model, trainable, non_trainable,
            lambda: _step.loss(parts, teacher, y, sample_weight, invalid),
        )
        mapping = list(zip(model.optimizer.variables, optimizer_vars))
        with keras.StatelessScope(state_mapping=mapping):
            scaled = model.optimizer.scale_loss(loss)
        return scaled, (loss, outputs, non_trainable)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, (loss, outputs, non_trainable)), grads = grad_fn(trainable,
                                                         non_trainable)
    trainable, optimizer_vars = model.optimizer.stateless_apply(
        optimizer_vars, grads, trainable
    )
    _, non_trainable = _stateless(
        model, trainable, non_trainable,
        lambda: _step.remember(parts, teacher.features, teacher.logits, y),
    )
    # A non-finite loss leaves every variable as it was; the logs name it.
    finite = jax.numpy.isfinite(loss)
    trainable, non_trainable, optimizer_vars = (
        _select(finite, new, old) for new, old in
        zip((trainable, non_trainable, optimizer_vars), before)
    )
    mapping = list(zip(model.metrics_variables, metrics_vars))
    # The logs show the loss weights, which are non-trainable variables.
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = _step.logs(parts, teacher, y, sample_weight, loss, outputs)
    metrics_vars = _current(scope, model.metrics_variables, metrics_vars)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)
