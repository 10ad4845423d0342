"""The Distiller: compile/fit distillation of a frozen teacher into a student."""

import keras

from keras_supcrd import _step
from keras_supcrd import backend
from keras_supcrd._guard import INVALID_LABEL_LOG
from keras_supcrd._guard import NonFiniteLossGuard
from keras_supcrd.views import feature_view
from keras_supcrd.layers.loss_weights import LossWeights
from keras_supcrd.layers.loss_weights import check_weight
from keras_supcrd.layers.memory_bank import MemoryBank
from keras_supcrd.layers.memory_bank import check_mode as check_bank_mode
from keras_supcrd.layers.projection_head import ProjectionHead
from keras_supcrd import cached_teacher as cached

RESERVED_LOG_NAMES = ("loss", "student_loss", "teacher_confidence",
                      INVALID_LABEL_LOG)
DEFAULT_KD_TEMPERATURE = 4.0


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


def _check_int(name, value, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {value}"
        )
    return value


def _weights(losses, distillation_loss_weights, student_loss_weight):
    """The initial `LossWeights`: the student loss first, then each loss."""
    if distillation_loss_weights is None:
        distillation_loss_weights = [1.0] * len(losses)
    if len(distillation_loss_weights) != len(losses):
        raise ValueError(
            "`distillation_loss_weights` needs one weight per loss: "
            f"{len(losses)} losses, {len(distillation_loss_weights)} weights."
        )
    check_weight("student_loss_weight", student_loss_weight)
    for weight in distillation_loss_weights:
        check_weight("distillation_loss_weights", weight)
    # Variables, so that a schedule can change them without a retrace.
    initial = {"student_loss": student_loss_weight}
    initial.update((loss.name, weight) for loss, weight in
                   zip(losses, distillation_loss_weights))
    return LossWeights(initial, name="term_weights")


def _freeze(model):
    model.trainable = False
    # Variable flags too: a KerasCV model reloaded under TensorFlow can keep
    # trainable variables below a frozen layer, and Keras collects
    # trainable variables by their own flag.
    for variable in model.weights:
        variable.trainable = False
    # A predict or evaluate function compiled before (a check of the
    # teacher's outputs) holds the variables' old split into trainable and
    # not; under a JAX distribution its state shardings no longer match.
    model.predict_function = model.test_function = None


def _kd_temperature(losses):
    """The first loss's `kd_temperature`, for `teacher_confidence`."""
    for loss in losses:
        settings = getattr(loss, "settings", {})
        if "kd_temperature" in settings:
            return settings["kd_temperature"]
    return DEFAULT_KD_TEMPERATURE


def _fresh(objects):
    """Unshared copies of metric and optimizer objects (names and functions
    as given)."""
    def copy(obj):
        if isinstance(obj, (keras.metrics.Metric, keras.optimizers.Optimizer)):
            return type(obj).from_config(obj.get_config())
        return obj
    return keras.tree.map_structure(copy, objects)


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

    `distiller.teacher_view` and `distiller.student_view` are the
    `keras_supcrd.feature_view`s the step reads: `view(x)` gives
    `(features, logits)` in one pass.

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
            training step, so teacher and student see the same batch
            (`keras_supcrd.layers.RandomResizedCrop`,
            `keras.layers.RandomFlip`, ...).
        mixup: optional `keras_supcrd.layers.Mixup`, applied after
            `augment`; the compiled student loss is mixed with the same
            coefficient.
        consistent: the teacher sees the student's augmented (and mixed)
            view (True, the default: consistent teaching), or the clean
            batch (False; what a cache of its outputs gives, so
            `teacher_outputs` are accepted then).
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
        mixup=None,
        consistent=True,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        losses = _as_list(distillation_losses)
        self.term_weights = _weights(losses, distillation_loss_weights,
                                     student_loss_weight)
        initial = self.term_weights.initial
        self.student_loss_weight = initial["student_loss"]
        self.distillation_loss_weights = [initial[loss.name]
                                          for loss in losses]
        self.embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
        self.memory_size = _check_int("memory_size", memory_size, 0)
        check_bank_mode("bank_mode", bank_mode)
        self.bank_mode = bank_mode
        self.teacher_feature_layer = teacher_feature_layer
        self.student_feature_layer = student_feature_layer
        self.teacher_view = feature_view(teacher, teacher_feature_layer,
                                         "teacher")
        self.student_view = feature_view(student, student_feature_layer,
                                         "student")
        _freeze(teacher)
        self.teacher, self.student = teacher, student
        self.distillation_losses = losses
        if isinstance(augment, (list, tuple)):
            augment = keras.Sequential(list(augment), name="augment")
        self.augment, self.mixup = augment, mixup
        self.consistent = bool(consistent)
        self._add_heads_and_bank()
        self._add_trackers()
        self.kd_temperature = _kd_temperature(losses)
        self._views_checked = False
        self._backend = backend.current()
        # Private, so that saving visits it last and finds nothing new.
        self._step_parts = self._make_step_parts()
        input_shape = self._known_input_shape()
        if input_shape is not None:
            self.build(input_shape)

    def _add_heads_and_bank(self):
        # Logit-only losses (KD, DKD) need no heads and no bank.
        self.uses_embeddings = any(
            getattr(loss, "uses_embeddings", True)
            for loss in self.distillation_losses
        )
        self.teacher_head = self.student_head = self.memory_bank = None
        if self.uses_embeddings:
            self.teacher_head = ProjectionHead(self.embedding_dim,
                                               name="teacher_head")
            self.student_head = ProjectionHead(self.embedding_dim,
                                               name="student_head")
            if self.memory_size:
                self.memory_bank = MemoryBank(
                    self.memory_size, self.bank_mode, name="memory_bank")

    def _add_trackers(self):
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.term_trackers = [keras.metrics.Mean(name=loss.name)
                              for loss in self.distillation_losses]
        self.confidence_tracker = keras.metrics.Mean(name="teacher_confidence")

    def _known_input_shape(self):
        try:
            return tuple(self.student.inputs[0].shape)
        except (AttributeError, ValueError, IndexError, TypeError):
            return None

    def build(self, input_shape):
        if self._views_checked:  # build_from_config after __init__
            return
        self._views_checked = True
        teacher_dim, teacher_classes = self.teacher_view.dims(input_shape)
        student_dim, student_classes = self.student_view.dims(input_shape)
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
            stores = self.memory_bank.stores_embeddings
            self.memory_bank.build(
                (None, self.embedding_dim if stores else teacher_dim))

    def call(self, x, training=False):
        """The student's logits: predict and evaluate need no teacher."""
        if cached.is_cached(x):
            x = x[cached.INPUTS]
        return self.student_view(x, training=training)[1]

    @property
    def takes_teacher_outputs(self):
        """Whether `fit` can train from `teacher_outputs` (the teacher's
        outputs on the clean inputs): not when a consistent Distiller
        augments or mixes, since its teacher must see the student's view."""
        augmented = self.augment is not None or self.mixup is not None
        return not (self.consistent and augmented)

    def _refuse_cached(self):
        if not self.takes_teacher_outputs:
            raise ValueError(
                "A consistent Distiller with `augment` or `mixup` cannot "
                "train from `teacher_outputs`: they are the teacher's "
                "outputs on the un-augmented inputs. Pass the inputs "
                "themselves (or `consistent=False` to teach from the clean "
                "view).")

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Used by evaluate(): the student alone, so no distillation entries.
        logs = self._all_metrics(x, y, y_pred, sample_weight)
        hidden = {"student_loss", "teacher_confidence"}
        hidden.update(tracker.name for tracker in self.term_trackers)
        return {k: v for k, v in logs.items() if k not in hidden}

    def _all_metrics(self, x, y, y_pred, sample_weight=None):
        # The train step's logs: every tracker, distillation ones included.
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def _make_step_parts(self):
        """The one object the train step reads (keras_supcrd/_step.py)."""
        return _step.StepParts(
            teacher_view=self.teacher_view, student_view=self.student_view,
            augment=self.augment, mixup=self.mixup,
            consistent=self.consistent, teacher_head=self.teacher_head,
            student_head=self.student_head, memory_bank=self.memory_bank,
            losses=self.distillation_losses, term_weights=self.term_weights,
            trackers=_step.Trackers(
                student_loss=self.student_loss_tracker,
                terms=self.term_trackers, confidence=self.confidence_tracker),
            kd_temperature=self.kd_temperature, student=self.student,
            other_replicas=self._backend.other_replicas,
            refuse_cached=self._refuse_cached, log_total=self._log_total,
            compute_loss=self.compute_loss, compute_metrics=self._all_metrics)

    def _log_total(self, total, batch):
        # Keras's own `loss` tracker, made by compile(): Keras's evaluate()
        # updates it too, and every log reports it; a second tracker of
        # that name would be reported twice.
        self._loss_tracker.update_state(total, sample_weight=batch)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None,
                metrics=None, weighted_metrics=None, **kwargs):
        """`keras.Model.compile`; also compiles `student` for evaluation.

        The student gets the same loss and fresh copies of the optimizer
        and metrics (its own state, so nothing is shared), so that
        `distiller.student.evaluate(x, y)` works and reports what
        `distiller.evaluate` does. This replaces any compile the student
        had (a KerasHub task compiles itself when built). The student's
        optimizer is built (its slots, zeros, cost one more copy of the
        student's trainable weights per slot), as Keras builds it when it
        loads a saved model: a saved student then loads without Keras's
        "Skipping variable loading for optimizer" warning.
        """
        super().compile(optimizer=optimizer, loss=loss,
                        loss_weights=loss_weights, metrics=metrics,
                        weighted_metrics=weighted_metrics, **kwargs)
        self.student.compile(optimizer=_fresh(optimizer), loss=loss,
                             loss_weights=loss_weights,
                             metrics=_fresh(metrics),
                             weighted_metrics=_fresh(weighted_metrics),
                             **kwargs)
        if self.student.built:
            self.student.optimizer.build(self.student.trainable_variables)

    def compile_from_config(self, config):
        # Keras skips a subclass's own `compile` when loading; ours only
        # adds the student's, so run it as Keras's would run its own.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def train_step(self, *args):
        # The flow is keras_supcrd/_step.py's; the backend differentiates it.
        return self._backend.train_step(self, self._step_parts, *args)

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
            self._refuse_cached()
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
            "mixup": serialize(self.mixup) if self.mixup is not None
            else None,
            "consistent": self.consistent,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("teacher", "student", "augment", "mixup"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        config["distillation_losses"] = [
            deserialize(loss) for loss in config["distillation_losses"]
        ]
        return cls(**config)
