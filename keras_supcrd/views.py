"""One-pass (features, logits) views of ordinary classifiers."""

import keras

DENSE_LAYERS = (keras.layers.Dense, keras.layers.EinsumDense)


def _output_of(layer):
    try:
        return layer.output
    except (AttributeError, ValueError):  # never called, or called twice
        return None


def _final_dense_input(model, logits, argument):
    """The input of the Dense layer that produces `logits`, whatever its
    name (`predictions` in KerasCV and KerasHub's ImageClassifier, `logits`
    in KerasHub's text classifiers)."""
    final = [layer for layer in model.layers if _output_of(layer) is logits]
    if not final or not isinstance(final[0], DENSE_LAYERS):
        found = type(final[0]).__name__ if final else "no single layer"
        raise ValueError(
            f"`{argument}`'s logits are not the output of a Dense layer "
            f"({found} produces them), so its features are ambiguous; "
            f"pass `{argument}_feature_layer`."
        )
    features = final[0].input
    if isinstance(features, (list, tuple, dict)) or any(
        features is t for t in model.inputs
    ):
        raise ValueError(
            f"`{argument}` has no layer between its input and its final "
            f"Dense layer; pass `{argument}_feature_layer`."
        )
    return features


def _is_graph_model(model):
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def feature_view(model, feature_layer=None, argument="model"):
    """A view of a classifier mapping `x` to `(features, logits)` in one pass.

    Features are the input of the Dense layer that produces the logits,
    whatever its name, unless `feature_layer` names another top-level
    layer, whose output is then used (flattened when it is not a vector).
    Built on `model.inputs`, so it shares every layer and variable with
    `model`. A model that is not a layer graph (subclassed) is used as is
    and must return a dict with `features` and `logits`. These are the
    features a `Distiller` reads (`distiller.teacher_view`).

    Args:
        model: a Sequential, functional or subclassed Keras classifier.
        feature_layer: optional name of a top-level layer of `model`.
        argument: the name used for `model` in error messages (the
            Distiller passes `"teacher"` or `"student"`).

    Returns:
        A callable `view(x, training=False) -> (features, logits)` with
        `dims(input_shape=None) -> (feature_dim, num_classes)` and
        `predict(x, **predict_kwargs) -> (features, logits)` in numpy. It
        is a plain object, so Keras does not track the view's Model a
        second time.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_supcrd import feature_view
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    features, logits = feature_view(model).predict(
        np.zeros((2, 8), "float32"), verbose=0)  # (2, 16) and (2, 3)
    ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`{argument}` must be a keras.Model. Received: {type(model)}"
        )
    if not _is_graph_model(model):
        if feature_layer is not None:
            raise ValueError(
                f"`{argument}_feature_layer` needs a functional or Sequential "
                f"`{argument}`; a subclassed model returns "
                "{'features': ..., 'logits': ...} instead."
            )
        return _DictView(model, argument)
    if len(model.outputs) != 1:
        raise ValueError(
            f"`{argument}` must have a single logits output. Received "
            f"{len(model.outputs)} outputs."
        )
    logits = model.outputs[0]
    if len(logits.shape) != 2:
        raise ValueError(
            f"`{argument}` has no final classification layer: its output "
            f"must be logits of shape (batch, classes). Received shape "
            f"{logits.shape}."
        )
    if feature_layer is None:
        features = _final_dense_input(model, logits, argument)
    else:
        names = [layer.name for layer in model.layers]
        if feature_layer not in names:
            raise ValueError(
                f"`{argument}_feature_layer`={feature_layer!r} is not a "
                f"top-level layer of `{argument}`. Its layers: {names}"
            )
        features = model.get_layer(feature_layer).output
    if len(features.shape) != 2:
        features = keras.layers.Flatten(name=f"{argument}_features_flat")(
            features
        )
    # `model.input` keeps the structure of several inputs (a dict for
    # KerasHub's text classifiers).
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.input
    return _GraphView(
        keras.Model(inputs, [features, logits], name=f"{argument}_view")
    )


class _GraphView:
    def __init__(self, model):
        self.model = model

    def __call__(self, x, training=False):
        features, logits = self.model(x, training=training)
        return features, logits

    def dims(self, input_shape=None):
        # A graph model knows its shapes; the input shape is for _DictView.
        del input_shape
        features, logits = self.model.outputs
        return features.shape[-1], logits.shape[-1]

    def predict(self, x, **kwargs):
        features, logits = self.model.predict(x, **kwargs)
        return features, logits


class _DictView:
    """Adapts a subclassed model returning {'features', 'logits'}."""

    def __init__(self, model, argument):
        self.model, self.argument = model, argument

    def __call__(self, x, training=False):
        return self._split(self.model(x, training=training))

    def dims(self, input_shape):
        spec = keras.tree.map_shape_structure(keras.KerasTensor, input_shape)
        features, logits = self._split(self.model.compute_output_spec(spec))
        return features.shape[-1], logits.shape[-1]

    def predict(self, x, **kwargs):
        return self._split(self.model.predict(x, **kwargs))

    def _split(self, out):
        if not isinstance(out, dict) or not {"features", "logits"} <= set(out):
            raise ValueError(
                f"A subclassed `{self.argument}` must return a dict with "
                f"'features' and 'logits'. Received: {type(out).__name__}"
            )
        return out["features"], out["logits"]
