"""Statistics helpers against hand-computed values."""

import math

import numpy as np
import pytest

from keras_supcrd.app import stats

pytestmark = pytest.mark.backend_independent


def test_summarize_by_hand():
    row = stats.summarize([0.80, 0.82, 0.84])
    assert row["mean"] == pytest.approx(0.82)
    # sum of squares 0.0008 over n - 1 = 2 -> 0.0004 -> 0.02
    assert row["std"] == pytest.approx(0.02)
    assert row["n"] == 3
    assert stats.summarize([0.5])["std"] is None


def test_paired_difference_by_hand():
    a = [0.90, 0.92, 0.91, 0.93]
    b = [0.89, 0.90, 0.90, 0.91]
    d = stats.paired_difference(a, b)
    # differences 0.01, 0.02, 0.01, 0.02: mean 0.015, sd 0.005773503,
    # t(0.975, 3) = 3.182446 -> half-width 3.182446 * 0.0057735 / 2.
    half = 3.1824 * 0.005773503 / 2.0
    assert d["mean"] == pytest.approx(0.015)
    assert d["low"] == pytest.approx(0.015 - half, abs=1e-6)
    assert d["high"] == pytest.approx(0.015 + half, abs=1e-6)
    assert d["n"] == 4


def test_pairing_matters():
    # Same marginals, shuffled pairing: the interval widens.
    a = np.array([0.90, 0.91, 0.92, 0.93, 0.94])
    b = a - 0.01
    tight = stats.paired_difference(a, b)
    assert tight["low"] == pytest.approx(0.01) == tight["high"]
    loose = stats.paired_difference(a, b[::-1])
    assert loose["high"] - loose["low"] > 0.01


def test_t_quantiles_match_known_values():
    assert stats.t_quantile(1) == pytest.approx(12.7062)
    assert stats.t_quantile(4) == pytest.approx(2.7764)
    assert stats.t_quantile(1000) == pytest.approx(1.96, abs=1e-3)
    scipy = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        assert stats.t_quantile(df) == pytest.approx(
            scipy.t.ppf(0.975, df), abs=1e-4)


def test_single_pair_has_no_interval_and_bad_input_is_an_error():
    d = stats.paired_difference([0.9], [0.8])
    assert d["mean"] == pytest.approx(0.1) and d["low"] is None
    with pytest.raises(ValueError, match="paired"):
        stats.paired_difference([0.9, 0.8], [0.8])
    with pytest.raises(ValueError, match="df"):
        stats.t_quantile(0)
    assert math.isfinite(stats.paired_difference([1, 1], [0, 0])["low"])
