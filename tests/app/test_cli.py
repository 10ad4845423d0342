"""`keras-supcrd compare` end to end on small IDX files, and its errors."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from idx_files import write_set
from keras_supcrd.app import cli


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "keras_supcrd", *args],
                          capture_output=True, text=True,
                          env=dict(os.environ))


def test_compare_writes_every_output(tmp_path, capsys):
    data = tmp_path / "data"
    write_set(str(data), n_train=80, n_test=40)
    out = tmp_path / "out"
    common = ["--epochs", "1", "--teacher-epochs", "1", "--batch-size",
              "16", "--memory-size", "32", "--validation-size", "20",
              "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")]
    result = run_cli("compare", "--methods", "ce,kd,supcrd,dkd",
                     "--seeds", "2", "--no-tune", "--output", str(out),
                     *common)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("results.json", "results.md", "accuracy.png",
                 "differences.png", "similarity.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["sizes"] == {"train": 60, "student_train": 60,
                                "validation": 20, "test": 40}
    for method in ("ce", "kd", "supcrd", "dkd"):
        row = results["methods"][method]
        assert 0.0 <= row["accuracy"]["mean"] <= 1.0
        assert row["accuracy"]["n"] == 2 and len(row["runs"]) == 2
        assert row["seconds_per_epoch"]["mean"] > 0
    dkd = results["methods"]["dkd"]
    assert dkd["params"] == {"weight": 1.0, "temperature": 4.0}
    assert dkd["runs"][0]["final_logs"]["dkd_weight"] == 1.0  # warm-up done
    paired = results["paired"]["ce"]["supcrd"]
    diffs = (np.array(results["methods"]["supcrd"]["accuracy"]["values"])
             - results["methods"]["ce"]["accuracy"]["values"])
    assert paired["mean"] == pytest.approx(diffs.mean())
    table = (out / "results.md").read_text()
    for column in ("test accuracy", "vs student alone", "vs supcrd",
                   "geometry", "teacher", "student alone (ce)", "(n=2)"):
        assert column in table
    assert "Sanity gate" in table
    assert "results.md" in result.stdout
    # A second run (in this process: the command's entry point is checked
    # above) reuses the cached teacher and takes chosen settings.
    chosen = tmp_path / "chosen.json"
    results["methods"]["supcrd"]["params"] = {"weight": 0.25}
    chosen.write_text(json.dumps(results))
    assert cli.main(["compare", "--methods", "supcrd", "--seeds", "1",
                     "--no-tune", "--params", str(chosen), "--output",
                     str(tmp_path / "again"), *common]) == 0
    assert "Reusing the cached teacher" in capsys.readouterr().out
    rerun = json.loads((tmp_path / "again" / "results.json").read_text())
    assert rerun["methods"]["supcrd"]["params"] == {"weight": 0.25}
    assert "(n=1)" in (tmp_path / "again" / "results.md").read_text()


@pytest.mark.parametrize("args,message", [
    (["--methods", "ce,nope"], "unknown method"),
    (["--methods", "crd+nope"], "unknown method"),
    (["--methods", "ce+kd"], "unknown method"),
    (["--methods", "kd+kd"], "unknown method"),
    (["--student", "resnet"], "--student"),
    (["--epochs", "0"], "--epochs"),
    (["--validation-size", "0"], "--validation-size"),
    (["--learning-rate", "-1"], "--learning-rate"),
])
def test_bad_arguments_exit_naming_them(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", *args])
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def _imported(stderr):
    """Top-level modules named in `python -X importtime`'s report."""
    return {line.split("|")[-1].strip().split(".")[0]
            for line in stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", [[], ["compare"], ["distill"]])
def test_help_imports_no_framework_and_prints_only_its_own(command):
    script = os.path.join(os.path.dirname(sys.executable), "keras-supcrd")
    starts = [[sys.executable, "-X", "importtime", "-m", "keras_supcrd"]]
    if os.path.exists(script):  # the installed console script
        starts.append([sys.executable, "-X", "importtime", script])
    for start in starts:
        result = subprocess.run([*start, *command, "--help"],
                                capture_output=True, text=True,
                                env=dict(os.environ))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "usage: keras-supcrd" in result.stdout
        assert not _imported(result.stderr) & set(FRAMEWORKS), start
        others = [line for line in result.stderr.splitlines()
                  if not line.startswith("import time:")]
        assert others == [], start


def test_importing_the_package_registers_its_keras_objects():
    code = ("import keras, keras_supcrd; "
            "print(keras.saving.get_registered_object("
            "'keras_supcrd>Distiller').__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, env=dict(os.environ))
    assert result.stdout.strip().splitlines()[-1] == "Distiller"


def test_student_flag_takes_a_size_or_a_file():
    parse = cli._student
    assert parse("mlp") == ("mlp", {})
    assert parse("mlp:128") == ("mlp", {"student_hidden": 128})
    assert parse("cnn:8") == ("cnn", {"student_width": 8})
    assert parse("models/small.keras") == ("models/small.keras", {})
    for bad in ("cnn:", "cnn:0", "mlp:x", "resnet", "model.h5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)
    assert cli._factor("1/255") == pytest.approx(1 / 255)
    assert cli._factor("0.5") == 0.5


def test_every_method_builds_from_its_start_and_grid():
    table = cli.methods(cli.Settings())
    assert set(cli.Settings().methods) <= set(table)
    for name, method in table.items():
        assert set(method.grid) <= set(method.start), name
        for key, values in method.grid.items():
            for value in values:
                method.build({**method.start, key: value})
    decoupled = table["lw-supcrd-decoupled"].build(
        table["lw-supcrd-decoupled"].start)[0]
    assert decoupled.settings["decoupled"]
    assert table["dkd"].warmup and not table["kd"].warmup


def test_a_plus_b_trains_both_with_their_own_weights():
    table = cli.methods(cli.Settings())
    both = cli.resolve(table, ["supcrd+kd"])["supcrd+kd"]
    assert both.parts == ("supcrd", "kd")
    assert set(both.grid) == {"supcrd.weight", "kd.weight"}
    params = {**both.start, "kd.weight": 0.3}
    built = both.build(params)
    assert [l.name for l in built] == ["supcrd", "kd"]
    assert both.loss_weights(params, built) == [0.8, 0.3]
    assert built[1].settings["temperature"] == 4.0
    warm = cli.resolve(table, ["soft-supcrd+dkd-ls"])["soft-supcrd+dkd-ls"]
    assert warm.warmup  # DKD's warm-up carries over
    assert not cli.resolve(table, ["supcrd+kd"])["supcrd+kd"].warmup
