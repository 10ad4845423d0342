"""The base class of the dict-protocol distillation losses."""

import inspect

import keras

# The student's side comes in `y_pred`, everything else in `y_true`.
STUDENT_PREFIX = "student_"
REFERENCE_KEYS = ("ref_embeddings", "ref_labels")


class DistillationLoss(keras.losses.Loss):
    """A `keras.losses.Loss` that reads the teacher and student sides by key.

    `y_true` is a dict with the teacher side and the labels (`labels`,
    `teacher_logits`, `teacher_embeddings`, `ref_embeddings`, `ref_labels`);
    `y_pred` a dict with the student side (`student_logits`,
    `student_embeddings`). Any loss that follows this protocol plugs into
    `keras_supcrd.Distiller` unchanged.

    A loss is its per-sample function plus a declaration, in the spirit of
    Keras's `LossFunctionWrapper`:

    - `function`: the per-sample loss, `function(*inputs, **settings)`;
    - `inputs`: the keys that feed its positional arguments, in order;
    - `reads_references`: pass `ref_embeddings`/`ref_labels` when present;
    - `default_name`: the name (and log key) when none is given.

    The settings are the function's keyword arguments (the reference set
    aside): their defaults come from its signature and their checks from
    its `check_settings`, so both live once, in the function. A setting is
    readable as an attribute (`KD().temperature`) and in `settings`. A loss
    reads embeddings (and a Distiller gives it heads and a bank) when one
    of its inputs is an `*_embeddings` key.

    A subclass may instead write its own `__init__` (passing its settings
    as keywords to `super().__init__`) and `call`; it then sets the class
    attribute `uses_embeddings` itself (default True).

    Args:
        name: name of the loss; also the key it is logged under.
        reduction: as in `keras.losses.Loss`.
        dtype: as in `keras.losses.Loss`.
        **settings: the function's keyword settings.
    """

    function = None
    inputs = ()
    reads_references = False
    default_name = None
    uses_embeddings = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__
        if "function" in declared:
            # A plain function, not a method: `self.function(...)`.
            function = declared["function"]
            if isinstance(function, staticmethod):
                function = function.__func__
            cls.function = staticmethod(function)
        if cls.function is None:
            return
        if "uses_embeddings" not in declared:
            cls.uses_embeddings = any(
                key.endswith("_embeddings") for key in cls.inputs)
        if "__init__" not in declared:
            cls.__init__ = _keyword_init
        cls.__signature__ = _signature(cls)

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None,
                 **settings):
        if self.function is not None:
            settings = self._complete(settings)
        super().__init__(name=name or self.default_name or
                         type(self).__name__.lower(),
                         reduction=reduction, dtype=dtype)
        self.settings = settings

    def _complete(self, settings):
        defaults = _defaults(self.function)
        unknown = sorted(set(settings) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown settings {unknown}; its "
                f"settings are {sorted(defaults)}.")
        settings = {**defaults, **settings}
        check = getattr(self.function, "check_settings", None)
        if check is not None:
            check(settings)
        return settings

    def __getattr__(self, name):
        # Only reached when normal lookup fails: the settings as attributes.
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        # Read-only: an attribute beside `settings` would be silently unused.
        if name in self.__dict__.get("settings", {}):
            raise AttributeError(
                f"`{name}` is a setting of {type(self).__name__}, fixed when "
                f"it is built; build a new loss with `{name}={value!r}`.")
        super().__setattr__(name, value)

    def call(self, y_true, y_pred):
        args = [self.read(y_pred if key.startswith(STUDENT_PREFIX)
                          else y_true, key) for key in self.inputs]
        references = (self.reference_set(y_true) if self.reads_references
                      else {})
        # The settings were checked when the loss was built (and cannot
        # change): call past the function's settings checks, not at every
        # step.
        function = inspect.unwrap(self.function)
        return function(*args, **references, **self.settings)

    def read(self, inputs, key, required=True):
        """Returns `inputs[key]`, with a clear error when it is required."""
        value = inputs.get(key) if isinstance(inputs, dict) else None
        if value is None and required:
            raise ValueError(
                f"{type(self).__name__} needs `{key}` in its inputs. Received "
                f"keys: {sorted(inputs) if isinstance(inputs, dict) else inputs}"
            )
        return value

    def reference_set(self, y_true):
        return {key: self.read(y_true, key, False) for key in REFERENCE_KEYS}

    def get_config(self):
        return {**super().get_config(), **self.settings}


def _keyword_init(self, *, name=None, reduction="sum_over_batch_size",
                  dtype=None, **settings):
    # A declared twin takes keywords only: `KD(2.0)` must not name a loss.
    DistillationLoss.__init__(self, name, reduction, dtype, **settings)


def _defaults(function):
    """The function's keyword settings and their defaults."""
    return {p.name: p.default
            for p in inspect.signature(function).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name not in REFERENCE_KEYS}


def _signature(cls):
    """What `help(cls)` and `inspect.signature(cls)` show: the settings,
    then Keras's Loss arguments."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    settings = [inspect.Parameter(name, keyword, default=value)
                for name, value in _defaults(cls.function).items()]
    loss_args = [
        inspect.Parameter("reduction", keyword,
                          default="sum_over_batch_size"),
        inspect.Parameter("name", keyword, default=cls.default_name),
        inspect.Parameter("dtype", keyword, default=None)]
    return inspect.Signature(settings + loss_args)
