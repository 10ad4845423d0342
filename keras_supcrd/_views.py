"""One-pass (features, logits) views of ordinary classifiers."""

import keras

FINAL_LAYER_NAME = "predictions"  # KerasCV and KerasHub classifiers


def _final_layer(model, argument):
    names = [layer.name for layer in model.layers]
    if FINAL_LAYER_NAME in names:
        return model.get_layer(FINAL_LAYER_NAME)
    if not model.layers:
        raise ValueError(f"`{argument}` has no layers to take features from.")
    return model.layers[-1]


def _is_graph_model(model):
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def feature_view(model, feature_layer, argument):
    """A Model mapping `x` to `(features, logits)` in ONE forward pass.

    Features are the input of the final classification layer (the one named
    `predictions`, else the last layer) unless `feature_layer` names another
    top-level layer, whose output is then used. Built on `model.inputs`, so
    it shares every layer and variable with `model`. A model that is not a
    layer graph (subclassed) is used as is and must return a dict with
    `features` and `logits`.

    Args:
        model: a Sequential, functional or subclassed Keras classifier.
        feature_layer: optional name of a top-level layer of `model`.
        argument: the Distiller argument name, for error messages.

    Returns:
        A callable `view(x, training=...) -> (features, logits)` with
        `dims(input_shape) -> (feature_dim, num_classes)` and
        `predict(x, **predict_kwargs) -> (features, logits)` in numpy. It
        is a plain object, so Keras does not track the view's Model a
        second time.
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
        features = _final_layer(model, argument).input
        if isinstance(features, (list, tuple)) or features is model.inputs[0]:
            raise ValueError(
                f"`{argument}` has no final classification layer after its "
                "input; pass `" + argument + "_feature_layer`."
            )
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
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
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
        spec = keras.KerasTensor(input_shape)
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
