"""LossWeights: named non-trainable weights, validated, serialisable."""

import math

import keras
import numpy as np
import pytest

from keras_supcrd.layers import LossWeights


def test_get_assign_and_values():
    weights = LossWeights({"student_loss": 1.0, "dkd": 0.0, "kd": 0.5})
    assert weights.names == ["student_loss", "dkd", "kd"]
    weights.assign({"dkd": 0.25})
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(weights.values),
                                  np.array([1.0, 0.25, 0.5], "float32"))
    assert weights.get("dkd") == 0.25
    assert [v.trainable for v in weights.weights] == [False]


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, None, True])
def test_bad_weight_names_the_term_and_assigns_nothing(value):
    weights = LossWeights({"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="`b`"):
        weights.assign({"a": 3.0, "b": value})
    assert weights.get("a") == 1.0
    with pytest.raises(ValueError, match="`b`"):
        LossWeights({"a": 1.0, "b": value})


def test_unknown_name_lists_the_terms():
    weights = LossWeights({"a": 1.0})
    with pytest.raises(ValueError, match=r"'c'.*\['a'\]"):
        weights.assign({"c": 1.0})


def test_config_round_trip_keeps_initial_values():
    weights = LossWeights({"a": 1.0, "b": 0.5}, name="w")
    weights.assign({"b": 2.0})
    clone = LossWeights.from_config(weights.get_config())
    assert clone.names == ["a", "b"] and clone.get("b") == 0.5
    assert clone.name == "w"
