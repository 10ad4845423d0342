import keras
import numpy as np
import pytest
from keras import ops

from keras_supcrd.layers import ProjectionHead


def test_rows_are_unit_norm_and_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        head = ProjectionHead(5)
        out = head(np.random.default_rng(0).normal(size=(3, 7)))
    finally:
        keras.config.set_dtype_policy("float32")
    out = ops.convert_to_numpy(out)
    assert out.dtype == np.float32 and out.shape == (3, 5)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_round_trip():
    head = ProjectionHead(6, name="h")
    clone = ProjectionHead.from_config(head.get_config())
    assert clone.embedding_dim == 6 and clone.name == "h"


def test_bad_dim():
    with pytest.raises(ValueError, match="`embedding_dim`"):
        ProjectionHead(0)
