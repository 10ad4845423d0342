"""`keras-supcrd compare` end to end on small IDX files, and its errors."""

import json
import os
import subprocess
import sys

import pytest

from idx_files import write_set
from keras_supcrd import cli
from keras_supcrd import geometry

import numpy as np


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "keras_supcrd", *args],
                          capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ))


def test_compare_writes_every_output(tmp_path):
    data = tmp_path / "data"
    write_set(str(data), n_train=80, n_test=40)
    out = tmp_path / "out"
    result = run_cli("compare", "--methods", "ce,lw-supcrd+kd",
                     "--epochs", "1", "--teacher-epochs", "1",
                     "--batch-size", "16", "--memory-size", "32",
                     "--data-fraction", "0.5", "--data-dir", str(data),
                     "--output", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("results.json", "results.md", "accuracy.png",
                 "similarity.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["train_size"] == 40
    for method in ("ce", "lw-supcrd+kd"):
        row = results["methods"][method]
        assert 0.0 <= row["accuracy"]["mean"] <= 1.0
        assert set(row["accuracy"]) == {"mean", "std", "values"}
        assert -1.0 <= row["geometry"]["mean"] <= 1.0 or np.isnan(
            row["geometry"]["mean"])
        assert row["seconds_per_epoch"]["mean"] > 0
    assert results["methods"]["lw-supcrd+kd"]["teacher_confidence"][0]
    table = (out / "results.md").read_text()
    for column in ("test accuracy", "semantic geometry", "s/epoch",
                   "teacher", "student alone (ce)", "lw-supcrd+kd"):
        assert column in table
    assert "results.md" in result.stdout
    # A second run reuses the cached teacher.
    again = run_cli("compare", "--methods", "kd", "--epochs", "1",
                    "--teacher-epochs", "1", "--batch-size", "16",
                    "--memory-size", "0", "--data-fraction", "0.5",
                    "--data-dir", str(data), "--output", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Reusing the cached teacher" in again.stdout


@pytest.mark.parametrize("args,message", [
    (["--methods", "ce,nope"], "unknown method"),
    (["--methods", "ce+kd"], "unknown method"),
    (["--epochs", "0"], "--epochs"),
    (["--data-fraction", "0"], "--data-fraction"),
    (["--data-fraction", "1.5"], "--data-fraction"),
    (["--beta", "-1"], "beta"),
])
def test_bad_arguments_exit_non_zero(args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", *args])
    assert exit_info.value.code != 0


@pytest.mark.parametrize("args,message", [
    (["--methods", "ce,nope"], "unknown method"),
    (["--epochs", "0"], "--epochs"),
])
def test_bad_arguments_message(capsys, args, message):
    with pytest.raises(SystemExit):
        cli.main(["compare", *args])
    assert message in capsys.readouterr().err


def test_method_table_combines_with_plus():
    table = cli.method_table(["crd+kd", "lw-supcrd-decoupled"])

    class S:
        alpha, beta, temperature, kd_temperature = 1.0, 8.0, 0.07, 4.0

    assert [type(l).__name__ for l in table["crd+kd"](S)] == ["CRD", "KD"]
    assert table["lw-supcrd-decoupled"](S)[0].settings["decoupled"]


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
