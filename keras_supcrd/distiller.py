"""The Distiller: compile/fit distillation of a frozen teacher into a student."""

import importlib
import numbers

import keras
from keras import ops

from keras_supcrd._guard import INVALID_LABEL_LOG
from keras_supcrd._guard import NonFiniteLossGuard
from keras_supcrd._views import feature_view
from keras_supcrd.layers.loss_weights import LossWeights
from keras_supcrd.layers.memory_bank import MemoryBank
from keras_supcrd.layers.projection_head import ProjectionHead
from keras_supcrd import cached_teacher as cached

RESERVED_LOG_NAMES = ("loss", "student_loss", "teacher_confidence",
                      INVALID_LABEL_LOG)
DEFAULT_KD_TEMPERATURE = 4.0
BANK_MODES = ("exact", "exact_no_grad", "stored")


def _as_list(losses):
    losses = list(losses) if isinstance(losses, (list, tuple)) else [losses]
    if not losses:
        raise ValueError("`distillation_losses` must name at least one loss.")
    for loss in losses:
        if not callable(loss):
            raise ValueError(
                "`distillation_losses` must hold keras.losses.Loss objects "
                f"following the y_true/y_pred dict protocol. Received: {loss!r}"
            )
    names = [getattr(loss, "name", None) for loss in losses]
    if None in names or len(set(names)) != len(names):
        raise ValueError(
            f"`distillation_losses` need distinct `name`s. Received: {names}"
        )
    clash = set(names) & set(RESERVED_LOG_NAMES)
    if clash:
        raise ValueError(
            f"`distillation_losses` may not be named {sorted(clash)}: those "
            "log keys are the Distiller's own."
        )
    return losses


def _check_weight(name, value):
    if not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {value}")
    return float(value)


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {value}"
        )
    return value


def _freeze(model):
    model.trainable = False
    # Variable flags too: a KerasCV model reloaded under TensorFlow can keep
    # trainable variables below a frozen layer, and Keras collects
    # trainable variables by their own flag.
    for variable in model.weights:
        variable.trainable = False


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


def _fresh(objects):
    """Unshared copies of metric and optimizer objects (names and functions
    as given)."""
    def copy(obj):
        if isinstance(obj, (keras.metrics.Metric, keras.optimizers.Optimizer)):
            return type(obj).from_config(obj.get_config())
        return obj
    return keras.tree.map_structure(copy, objects)


def _sparse_labels(y):
    """Integer labels of shape (B,) from sparse or one-hot targets."""
    if len(y.shape) == 2 and y.shape[-1] != 1:
        return ops.argmax(y, axis=-1)
    return ops.reshape(y, (-1,))


@keras.saving.register_keras_serializable(package="keras_supcrd")
class Distiller(keras.Model):
    """Distils a frozen teacher into a student with `compile()`/`fit()`.

    Each training step runs the teacher once, in inference mode and outside
    the differentiated function, and the student once; projection heads map
    both sides' features to unit-norm embeddings, and the distillation
    losses read them, the logits, the labels and the memory bank through the
    `y_true`/`y_pred` dict protocol of `keras_supcrd.losses`:

        loss = student_loss_weight * student_loss
             + sum_k distillation_loss_weights[k] * distillation_losses[k]

    where `student_loss` is the loss given to `compile()` on the student's
    logits. `evaluate()` and `predict()` run the student alone; `compile()`
    also compiles `student` (the same loss, copies of the optimizer and
    metrics), so that it evaluates on its own after distillation.

    Teacher and student are ordinary classifiers (Sequential, functional, a
    KerasCV `ImageClassifier` or a KerasHub `ImageClassifier` or text
    classifier, built with `activation=None`); their features are the input
    of the Dense layer that produces the logits, whatever its name, unless
    a feature layer name is given. A subclassed model may return
    `{"features": ..., "logits": ...}`. The teacher is frozen
    (`teacher.trainable = False`).

    The weights are non-trainable variables (`distiller.term_weights`, a
    `keras_supcrd.layers.LossWeights` saved with the model), so that
    `keras_supcrd.schedules.LossWeightScheduler` can warm a term up or
    change it during `fit` without retracing the train step.

    Logs: `loss`, `student_loss`, one entry per distillation loss under its
    `name` (unweighted) and its current weight as `<name>_weight` (and
    `student_loss_weight`), the compiled metrics on the student's logits,
    and `teacher_confidence`: the mean teacher probability of the true
    class at the `kd_temperature` of the first loss that has one (else 4),
    so that saturated logit weights are visible.

    Args:
        teacher: the trained teacher classifier, producing logits.
        student: the student classifier, producing logits.
        distillation_losses: a `keras.losses.Loss` following the dict
            protocol, or a list of them with distinct names.
        distillation_loss_weights: one weight >= 0 per loss; default 1 each.
            These are the initial values of `term_weights`.
        student_loss_weight: weight >= 0 of the compiled student loss.
        embedding_dim: size of the projection heads' output (>= 1).
        memory_size: slots of the memory bank (>= 0); no bank (and no
            heads) when every loss is logit-only; 0 means in-batch
            negatives only.
        bank_mode: how the bank's rows become negatives. `"exact"`
            (default) stores teacher features and re-projects every row
            through the current teacher head at each step, with gradient
            into the head: never stale, and the loss is the one the
            float64 references compute. `"exact_no_grad"`: the same
            values, but the bank rows carry no gradient into the head
            (the in-batch rows still train it): cheaper backward.
            `"stored"`: stores the teacher embeddings written after each
            step (CRD's memory) and only reads them: costs the similarity
            matmul alone, but rows are as old as the head that wrote them.
            `benchmarks/RESULTS.md` gives each mode's step cost.
        teacher_feature_layer: optional name of the teacher layer whose
            output is its feature vector.
        student_feature_layer: the same for the student.
        augment: optional Keras layer (or list of layers) applied once per
            training step, so teacher and student see the same batch.
        name: the model name.
        **kwargs: standard `keras.Model` arguments.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_supcrd import Distiller
    from keras_supcrd.losses import LogitWeightedSupCRD

    def classifier(width):
        return keras.Sequential([
            keras.Input((8,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(3, name="predictions"),
        ])

    distiller = Distiller(classifier(32), classifier(8),
                          LogitWeightedSupCRD(), embedding_dim=16,
                          memory_size=64)
    distiller.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True),
                      metrics=["accuracy"])
    x = np.random.rand(32, 8).astype("float32")
    y = np.random.randint(0, 3, size=32)
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    student = distiller.student  # the deployable model
    ```

    Reference:
        Tian et al., "Contrastive Representation Distillation", ICLR 2020
        (heads and memory); Hinton et al. 2015 (teacher/student training).
    """

    def __init__(
        self,
        teacher,
        student,
        distillation_losses,
        *,
        distillation_loss_weights=None,
        student_loss_weight=1.0,
        embedding_dim=128,
        memory_size=16384,
        bank_mode="exact",
        teacher_feature_layer=None,
        student_feature_layer=None,
        augment=None,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        losses = _as_list(distillation_losses)
        if distillation_loss_weights is None:
            distillation_loss_weights = [1.0] * len(losses)
        if len(distillation_loss_weights) != len(losses):
            raise ValueError(
                "`distillation_loss_weights` needs one weight per loss: "
                f"{len(losses)} losses, {len(distillation_loss_weights)} "
                "weights."
            )
        self.distillation_loss_weights = [
            _check_weight("distillation_loss_weights", w)
            for w in distillation_loss_weights
        ]
        self.student_loss_weight = _check_weight(
            "student_loss_weight", student_loss_weight
        )
        # Variables, so that a schedule can change them without a retrace.
        self.term_weights = LossWeights(
            {"student_loss": self.student_loss_weight,
             **{loss.name: weight for loss, weight in
                zip(losses, self.distillation_loss_weights)}},
            name="term_weights",
        )
        self.embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
        self.memory_size = _check_int("memory_size", memory_size, 0)
        if bank_mode not in BANK_MODES:
            raise ValueError(f"`bank_mode` must be one of {BANK_MODES}. "
                             f"Received: bank_mode={bank_mode!r}")
        self.bank_mode = bank_mode
        self.teacher_feature_layer = teacher_feature_layer
        self.student_feature_layer = student_feature_layer
        self._teacher_view = feature_view(
            teacher, teacher_feature_layer, "teacher"
        )
        self._student_view = feature_view(
            student, student_feature_layer, "student"
        )
        _freeze(teacher)
        self.teacher, self.student = teacher, student
        self.distillation_losses = losses
        if isinstance(augment, (list, tuple)):
            augment = keras.Sequential(list(augment), name="augment")
        self.augment = augment
        # Logit-only losses (KD, DKD) need no heads and no bank.
        self.uses_embeddings = any(
            getattr(loss, "uses_embeddings", True) for loss in losses
        )
        self.teacher_head = self.student_head = self.memory_bank = None
        if self.uses_embeddings:
            self.teacher_head = ProjectionHead(embedding_dim,
                                               name="teacher_head")
            self.student_head = ProjectionHead(embedding_dim,
                                               name="student_head")
            if memory_size:
                self.memory_bank = MemoryBank(memory_size, name="memory_bank")
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.term_trackers = [keras.metrics.Mean(name=l.name) for l in losses]
        self.confidence_tracker = keras.metrics.Mean(name="teacher_confidence")
        self.kd_temperature = next(
            (
                l.settings["kd_temperature"]
                for l in losses
                if "kd_temperature" in getattr(l, "settings", {})
            ),
            DEFAULT_KD_TEMPERATURE,
        )
        self._views_checked = False
        self._steps = importlib.import_module(
            f"keras_supcrd.backend.{keras.backend.backend()}"
        )
        input_shape = self._known_input_shape()
        if input_shape is not None:
            self.build(input_shape)

    def _known_input_shape(self):
        try:
            return tuple(self.student.inputs[0].shape)
        except (AttributeError, ValueError, IndexError, TypeError):
            return None

    def build(self, input_shape):
        if self._views_checked:  # build_from_config after __init__
            return
        self._views_checked = True
        teacher_dim, teacher_classes = self._teacher_view.dims(input_shape)
        student_dim, student_classes = self._student_view.dims(input_shape)
        if teacher_classes != student_classes:
            raise ValueError(
                "`teacher` and `student` must predict the same number of "
                f"classes. Received: teacher={teacher_classes}, "
                f"student={student_classes}"
            )
        if self.uses_embeddings:
            self.teacher_head.build((None, teacher_dim))
            self.student_head.build((None, student_dim))
        if self.memory_bank is not None:
            stored = self.bank_mode == "stored"
            self.memory_bank.build(
                (None, self.embedding_dim if stored else teacher_dim))

    def call(self, x, training=False):
        """The student's logits: predict and evaluate need no teacher."""
        if cached.is_cached(x):
            x = x[cached.INPUTS]
        return self._student_view(x, training=training)[1]

    # The steps shared by every backend. Each backend's `train_step` (in
    # keras_supcrd/backend/) runs `teacher_pass` outside the differentiated
    # function, `distillation_loss` inside it, then `remember`.

    def teacher_pass(self, x):
        """Augments once, then runs the teacher in inference mode; or reads
        the teacher's outputs from a batch of `teacher_outputs`."""
        if cached.is_cached(x):
            self._check_no_augment()
            x, features, logits = (x[cached.INPUTS], x[cached.FEATURES],
                                   x[cached.LOGITS])
            self._build_once(x)
        else:
            self._build_once(x)
            if self.augment is not None:
                x = self.augment(x, training=True)
            features, logits = self._teacher_view(x, training=False)
        features = ops.stop_gradient(ops.cast(features, "float32"))
        logits = ops.stop_gradient(ops.cast(logits, "float32"))
        return x, features, logits

    def _build_once(self, x):
        if not self.built:  # TensorFlow defers building to the first trace
            self.build(keras.tree.map_structure(lambda t: tuple(t.shape), x))

    def _check_no_augment(self):
        if self.augment is not None:
            raise ValueError(
                "A Distiller with `augment` cannot train from "
                "`teacher_outputs`: they are the teacher's outputs on the "
                "un-augmented inputs. Pass the inputs themselves.")

    def screen_labels(self, y, teacher_logits):
        """`screen_labels` against the teacher's number of classes."""
        return screen_labels(y, teacher_logits.shape[-1])

    def distillation_loss(self, x, y, sample_weight, teacher_features,
                          teacher_logits, invalid_label=0.0):
        """Total loss and its terms for one batch; one student pass.

        `y` and `invalid_label` come from `screen_labels`; an invalid label
        makes the total NaN, so that the step is skipped.

        Returns:
            `(total, aux)` with `aux = (student_logits, student_loss, terms,
            invalid_label)` and `terms` the unweighted distillation losses.
        """
        student_features, student_logits = self._student_view(
            x, training=True
        )
        y_true = {"labels": _sparse_labels(y), "teacher_logits": teacher_logits}
        y_pred = {"student_logits": ops.cast(student_logits, "float32")}
        if self.uses_embeddings:
            y_true["teacher_embeddings"] = self.teacher_head(teacher_features)
            y_pred["student_embeddings"] = self.student_head(student_features)
        references = self._references(y_true)
        if references:
            y_true["ref_embeddings"] = ops.concatenate(
                [r[0] for r in references], axis=0)
            y_true["ref_labels"] = ops.concatenate(
                [ops.cast(r[1], "int32") for r in references], axis=0)
        student_loss = self.compute_loss(
            x=x, y=y, y_pred=student_logits, sample_weight=sample_weight,
            training=True,
        )
        student_loss = ops.cast(student_loss, "float32")
        terms = [
            loss(y_true, y_pred, sample_weight=sample_weight)
            for loss in self.distillation_losses
        ]
        weights = self.term_weights.values
        total = weights[0] * student_loss
        for k, term in enumerate(terms):
            total = total + weights[k + 1] * term
        total = ops.where(invalid_label == 0, total, float("nan"))
        return total, (student_logits, student_loss, terms, invalid_label)

    def _references(self, y_true):
        """Extra negatives: other devices' batch rows, then the bank."""
        references = []
        other_replicas = getattr(self._steps, "other_replicas", None)
        if self.uses_embeddings and other_replicas is not None:
            rows = other_replicas(y_true["teacher_embeddings"],
                                  y_true["labels"])
            if rows is not None:
                references.append(rows)
        if self.memory_bank is not None:
            rows = self.memory_bank.features
            if self.bank_mode != "stored":
                rows = self.teacher_head(rows)
            if self.bank_mode == "exact_no_grad":
                rows = ops.stop_gradient(rows)
            references.append((rows, self.memory_bank.labels))
        return references

    def student_state(self):
        """The student's non-trainable variables (BatchNorm statistics)."""
        return self.student.non_trainable_variables

    def remember(self, teacher_features, teacher_logits, y):
        """Writes the batch's teacher features (or, with `bank_mode="stored"`,
        their embeddings under the updated head) into the bank, after the
        step.

        A row whose teacher features or logits are not finite is written as
        an empty slot (zeros, label -1): a bad batch never poisons the bank.
        """
        if self.memory_bank is None:
            return
        finite = ops.logical_and(
            ops.all(ops.isfinite(teacher_features), axis=-1),
            ops.all(ops.isfinite(teacher_logits), axis=-1),
        )
        rows = ops.where(finite[:, None], teacher_features, 0.0)
        if self.bank_mode == "stored":
            rows = ops.where(finite[:, None], self.teacher_head(rows), 0.0)
        self.memory_bank.write(
            rows,
            ops.where(finite, ops.cast(_sparse_labels(y), "int32"), -1),
        )

    def update_logs(self, x, y, sample_weight, loss, aux, teacher_logits):
        """Updates every tracker and the compiled metrics; returns the logs."""
        student_logits, student_loss, terms, invalid_label = aux
        batch = ops.shape(teacher_logits)[0]
        self._loss_tracker.update_state(loss, sample_weight=batch)
        self.student_loss_tracker.update_state(student_loss, sample_weight=batch)
        for tracker, term in zip(self.term_trackers, terms):
            tracker.update_state(term, sample_weight=batch)
        labels = ops.cast(_sparse_labels(y), "int32")
        log_p = ops.log_softmax(teacher_logits / self.kd_temperature, axis=-1)
        confidence = ops.exp(
            ops.take_along_axis(log_p, labels[:, None], axis=1)
        )
        self.confidence_tracker.update_state(confidence)
        logs = super().compute_metrics(x, y, student_logits, sample_weight)
        weights = self.term_weights.values
        for k, name in enumerate(self.term_weights.names):
            logs[f"{name}_weight"] = weights[k]
        # Read (and removed from the logs) by the guard in `fit`.
        logs[INVALID_LABEL_LOG] = invalid_label
        return logs

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Used by evaluate(): the student alone, so no distillation entries.
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        hidden = {"student_loss", "teacher_confidence"}
        hidden.update(tracker.name for tracker in self.term_trackers)
        return {k: v for k, v in logs.items() if k not in hidden}

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None,
                metrics=None, weighted_metrics=None, **kwargs):
        """`keras.Model.compile`; also compiles `student` for evaluation.

        The student gets the same loss and fresh copies of the optimizer
        and metrics (its own state, so nothing is shared), so that
        `distiller.student.evaluate(x, y)` works and reports what
        `distiller.evaluate` does. This replaces any compile the student
        had (a KerasHub task compiles itself when built).
        """
        super().compile(optimizer=optimizer, loss=loss,
                        loss_weights=loss_weights, metrics=metrics,
                        weighted_metrics=weighted_metrics, **kwargs)
        self.student.compile(optimizer=_fresh(optimizer), loss=loss,
                             loss_weights=loss_weights,
                             metrics=_fresh(metrics),
                             weighted_metrics=_fresh(weighted_metrics),
                             **kwargs)

    def compile_from_config(self, config):
        # Keras skips a subclass's own `compile` when loading; ours only
        # adds the student's, so run it as Keras's would run its own.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def train_step(self, *args):
        return self._steps.train_step(self, *args)

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`, stopping with an error at a bad batch.

        Raises:
            ValueError: a batch held a label outside `[0, num_classes)`;
                the message gives the value. That batch's update was
                skipped.
            FloatingPointError: a batch's loss was not finite; the message
                names the terms (`student_loss`, each distillation loss)
                that were. That batch's update was skipped.
        """
        x = args[0] if args else kwargs.get("x")
        if cached.is_cached(x):  # here, before JAX hands the state over
            self._check_no_augment()
        guard = NonFiniteLossGuard([l.name for l in self.distillation_losses])
        # First, so that no other callback sees the guard's log entry.
        history = super().fit(*args, callbacks=[guard, *(callbacks or [])],
                              **kwargs)
        if guard.error is not None:
            raise guard.error
        return history

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "teacher": serialize(self.teacher),
            "student": serialize(self.student),
            "distillation_losses": [
                serialize(loss) for loss in self.distillation_losses
            ],
            "distillation_loss_weights": list(self.distillation_loss_weights),
            "student_loss_weight": self.student_loss_weight,
            "embedding_dim": self.embedding_dim,
            "memory_size": self.memory_size,
            "bank_mode": self.bank_mode,
            "teacher_feature_layer": self.teacher_feature_layer,
            "student_feature_layer": self.student_feature_layer,
            "augment": serialize(self.augment) if self.augment else None,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("teacher", "student", "augment"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        config["distillation_losses"] = [
            deserialize(loss) for loss in config["distillation_losses"]
        ]
        return cls(**config)
