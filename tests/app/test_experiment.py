"""The study's pieces that need no training: coordinate search, the
stratified split, the paired table."""

import numpy as np
import pytest

from keras_supcrd.app import experiment
from keras_supcrd.app.sources import Arrays
from keras_supcrd.app.sources import Data
from keras_supcrd.app.datasets import stratified_split
from keras_supcrd.app.experiment import Method

pytestmark = pytest.mark.backend_independent


def test_coordinate_search_moves_one_parameter_at_a_time():
    method = Method(build=lambda p: [], start={"weight": 1.0, "t": 4.0},
                    grid={"weight": (0.3, 1.0, 3.0), "t": (1.0, 2.0, 4.0)})
    scores = {(1.0, 4.0): 0.80, (0.3, 4.0): 0.79, (3.0, 4.0): 0.82,
              (3.0, 1.0): 0.85, (3.0, 2.0): 0.84}
    seen = []
    best, trials = experiment.tune(
        method, lambda p: scores[(p["weight"], p["t"])],
        lambda p, s: seen.append(p))
    assert best == {"weight": 3.0, "t": 1.0}
    assert [(t["params"]["weight"], t["params"]["t"]) for t in trials] == [
        (1.0, 4.0), (0.3, 4.0), (3.0, 4.0), (3.0, 1.0), (3.0, 2.0)]
    assert len(seen) == len(trials)


def test_ties_keep_the_literature_setting():
    method = Method(build=lambda p: [], start={"weight": 0.8},
                    grid={"weight": (0.25, 0.8, 2.5)})
    best, _ = experiment.tune(method, lambda p: 0.5, lambda p, s: None)
    assert best == {"weight": 0.8}


def test_stratified_split_keeps_class_shares():
    labels = np.repeat(np.arange(4), [100, 200, 300, 400])
    train, held = stratified_split(labels, 100, seed=3)
    assert len(held) == 100 and len(train) == 900
    assert not set(train) & set(held)
    np.testing.assert_array_equal(np.bincount(labels[held]), [10, 20, 30, 40])
    again, _ = stratified_split(labels, 100, seed=3)
    np.testing.assert_array_equal(again, train)
    with pytest.raises(ValueError, match="holdout"):
        stratified_split(labels, 1000)


def test_paired_table_pairs_by_seed():
    rows = {name: {"accuracy": {"values": values}} for name, values in {
        "ce": [0.80, 0.81, 0.82], "kd": [0.81, 0.83, 0.83],
        "supcrd": [0.79, 0.81, 0.80]}.items()}
    table = experiment.paired_table(rows)
    assert table["ce"]["kd"]["mean"] == pytest.approx(0.0133333, abs=1e-6)
    assert table["supcrd"]["kd"]["mean"] == pytest.approx(0.0233333,
                                                          abs=1e-6)
    assert "ce" not in table["ce"] and "supcrd" in table["ce"]


def test_student_subset_is_stratified_and_keeps_the_rest():
    y = np.repeat(np.arange(5), 40)
    x = np.arange(200)[:, None].astype("float32")
    data = Data(Arrays(x, y), "validation", "test", "names")
    subset = experiment._student_subset(data, 50)
    assert subset[1:] == data[1:]
    xs, ys = subset.train.arrays()
    np.testing.assert_array_equal(np.bincount(ys), [10] * 5)
    np.testing.assert_array_equal(y[xs[:, 0].astype(int)], ys)
    assert experiment._student_subset(data, None) is data
    assert experiment._student_subset(data, 500) is data


def test_report_states_the_sanity_gate():
    from keras_supcrd.app import report

    def gate(low, seeds=5):
        return report._gate({"mean": 0.004, "low": low, "high": 0.006,
                             "n": seeds}, seeds)

    assert "passed" in gate(0.002)
    assert "FAILED" in gate(-0.001)
    # Too few seeds to judge: no verdict either way, and where to look.
    for verdict in (gate(0.002, seeds=2), gate(-0.03, seeds=2)):
        assert "not judged" in verdict and "2 seed(s)" in verdict
        assert "passed" not in verdict and "FAILED" not in verdict
        assert "docs/studies.md" in verdict
    assert "not judged" in report._gate({"mean": 0.1, "low": None,
                                         "high": None, "n": 1}, 1)


def test_a_combination_starts_from_what_the_study_chose_for_its_parts():
    kd = Method(build=lambda p: ["kd"], start={"weight": 1.0, "t": 4.0},
                grid={"weight": (0.3, 1.0)})
    crd = Method(build=lambda p: ["crd"], start={"weight": 0.8},
                 grid={"weight": (0.25, 0.8)})
    both = experiment.combine({"crd": crd, "kd": kd})
    assert both.start == {"crd.weight": 0.8, "kd.weight": 1.0, "kd.t": 4.0}
    chosen = experiment.with_chosen_parts(
        both, {"kd": {"params": {"weight": 0.3, "t": 2.0}}})
    assert chosen.start == {"crd.weight": 0.8, "kd.weight": 0.3,
                            "kd.t": 2.0}
    assert chosen.loss_weights(chosen.start, ["crd", "kd"]) == [0.8, 0.3]


def test_run_cache_keys_cover_what_a_run_depends_on(tmp_path):
    settings = experiment.Settings()
    cache = experiment.RunCache(str(tmp_path), settings, {"path": "t.keras"})
    cache.put("kd", {"weight": 1.0}, 0, {"val_accuracy": 0.5})
    assert cache.get("kd", {"weight": 1.0}, 0) == {"val_accuracy": 0.5}
    assert cache.get("kd", {"weight": 0.3}, 0) == {}
    assert cache.get("kd", {"weight": 1.0}, 1) == {}
    for other in (experiment.Settings(epochs=3),
                  experiment.Settings(student="cnn")):
        assert experiment.RunCache(str(tmp_path), other, {
            "path": "t.keras"}).get("kd", {"weight": 1.0}, 0) == {}
    # Not part of a run: the other methods, the seed count, the output.
    same = experiment.Settings(methods=("kd",), seeds=2, output="elsewhere")
    assert experiment.RunCache(str(tmp_path), same, {"path": "t.keras"}).get(
        "kd", {"weight": 1.0}, 0) == {"val_accuracy": 0.5}
    assert experiment.RunCache(str(tmp_path), settings, {
        "path": "other.keras"}).get("kd", {"weight": 1.0}, 0) == {}
