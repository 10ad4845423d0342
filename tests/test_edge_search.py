"""benchmarks/edge_search.py: which value it adds past an edge choice, and
which of two searches it keeps (validation only, never the test set)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "benchmarks"))
import edge_search  # noqa: E402

pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize("values, chosen, key, expected", [
    ((0.25, 0.8, 2.5, 7.5), 0.25, "weight", 0.078),  # 0.25 * 0.25 / 0.8
    ((0.3, 1.0, 3.0, 9.0), 0.3, "weight", 0.09),
    ((0.7, 2.0, 6.0, 18.0), 18.0, "weight", 54.0),
    ((1.0, 2.0, 4.0), 4.0, "temperature", 8.0),
    ((1.0, 2.0, 4.0), 1.0, "soft-supcrd.kd_temperature", 0.5),
    ((1.0, 2.0, 4.0), 2.0, "temperature", None),  # inside the grid
    ((0.25, 0.5, 1.0), 1.0, "lam", None),  # a share cannot pass 1
    ((0.25, 0.5, 1.0), 0.25, "lam", 0.12),
    ((4.0,), 4.0, "temperature", None),  # no ratio to step by
])
def test_the_next_value_past_an_edge(values, chosen, key, expected):
    assert edge_search._beyond(values, chosen, key) == expected


def _row(params, validation, accuracies):
    return {"params": params,
            "tuning": [{"params": params, "val_accuracy": v}
                       for v in validation],
            "accuracy": {"values": accuracies}}


def _results(**rows):
    return {"methods": rows, "paired": {}}


def test_the_better_validated_search_is_kept_whatever_the_test_says():
    ce = _row({}, [], [0.80, 0.81, 0.82])
    before = _results(
        ce=ce,
        kd=_row({"weight": 1.0}, [0.85, 0.87], [0.90, 0.90, 0.90]),
        dist=_row({"weight": 0.7}, [0.86], [0.83, 0.83, 0.83]))
    after = _results(
        ce=ce,
        # Worse on validation, better on test: the old search stays.
        kd=_row({"weight": 0.09}, [0.86], [0.95, 0.95, 0.95]),
        # Better on validation: the new one is kept.
        dist=_row({"weight": 0.24}, [0.86, 0.88], [0.82, 0.82, 0.82]))
    kept = edge_search.keep_better_searches(before, after)
    assert kept["methods"]["kd"]["params"] == {"weight": 1.0}
    assert kept["methods"]["dist"]["params"] == {"weight": 0.24}
    # The paired table is made again from the rows kept.
    assert kept["paired"]["ce"]["kd"]["mean"] == pytest.approx(0.09)
    assert kept["paired"]["ce"]["dist"]["mean"] == pytest.approx(0.01)


def test_a_tie_on_validation_keeps_the_search_before():
    before = _results(kd=_row({"weight": 1.0}, [0.85], [0.90] * 2))
    after = _results(kd=_row({"weight": 0.09}, [0.85], [0.91] * 2))
    kept = edge_search.keep_better_searches(before, after)
    assert kept["methods"]["kd"]["params"] == {"weight": 1.0}


def test_edges_are_found_only_for_numbers_at_an_end():
    class Method:
        grid = {"weight": (0.25, 0.8, 2.5), "temperature": (1.0, 2.0, 4.0),
                "standardize": (False, True)}

    rows = {"soft": {"params": {"weight": 0.25, "temperature": 2.0,
                                "standardize": True}},
            "ce": {"params": {}}}
    assert edge_search._edges({"soft": Method(), "ce": None}, rows) == {
        "soft": {"weight": 0.078}}
