"""Class geometry on centred features and the Spearman score."""

import numpy as np
import pytest

from keras_supcrd.app import geometry

pytestmark = pytest.mark.backend_independent


def test_semantic_geometry_score():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 5))
    labels = rng.integers(0, 4, 200)
    t = geometry.class_similarity(features, labels, 4)
    assert geometry.semantic_geometry_score(t, t) == pytest.approx(1.0)
    # A monotone distortion keeps the ranks; a reversal flips the sign.
    assert geometry.semantic_geometry_score(t, t ** 3) == pytest.approx(1.0)
    assert geometry.semantic_geometry_score(t, -t) == pytest.approx(-1.0)
    assert geometry.spearman([1, 2, 2, 3], [1, 3, 3, 4]) == pytest.approx(1)


def test_similarity_ignores_a_shared_offset():
    # ReLU-like features: all positive; raw cosines would all be near 1.
    rng = np.random.default_rng(1)
    labels = np.arange(300) % 3
    centres = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    features = centres[labels] + 0.1 * rng.normal(size=(300, 2))
    centred = geometry.class_similarity(features, labels, 3)
    shifted = geometry.class_similarity(features + 50.0, labels, 3)
    np.testing.assert_allclose(shifted, centred, atol=1e-9)
    assert centred[0, 2] < -0.5 and centred[0, 1] < 0.5
    np.testing.assert_allclose(np.diag(centred), 1.0)


def test_class_without_samples_gets_zero_similarity():
    features = np.array([[1.0, 0.0], [0.0, 1.0]])
    s = geometry.class_similarity(features, np.array([0, 1]), 3)
    np.testing.assert_array_equal(s[2], 0.0)
