"""What the student buys: `--student auto` is smaller than the teacher at
any input size, a larger student is warned about, the report gives both
models' size and latency, and each export loads back with its runtime
and equals the student."""

import importlib.util
import json

import keras
import numpy as np
import pytest

import user_files
from keras_supcrd import feature_view
from keras_supcrd.app import cli
from keras_supcrd.app import export
from keras_supcrd.app import training
from keras_supcrd.app.plan import Settings


def small_teacher(shape, classes=10):
    """A CNN of about 8,600 parameters at any input size (the issue's)."""
    return keras.Sequential([
        keras.Input(shape), keras.layers.Conv2D(16, 3, strides=2),
        keras.layers.Conv2D(32, 3, strides=2),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(64),
        keras.layers.Dense(classes)])


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 3), (160, 160, 3)])
def test_the_auto_student_is_a_fraction_of_the_teacher(shape):
    for teacher in (small_teacher(shape),
                    keras.Sequential([keras.Input(shape),
                                      keras.layers.Flatten(),
                                      keras.layers.Dense(10)])):
        chosen = training.auto_student(Settings(student="auto"), teacher)
        assert chosen.student == "convnet"  # images: the pooled CNN
        student = training.build_student(chosen, shape, 10)
        assert student.count_params() <= teacher.count_params() / 4


def test_a_vector_input_gets_the_largest_mlp_that_fits():
    teacher = keras.Sequential([keras.Input((40,)),
                                keras.layers.Dense(400),
                                keras.layers.Dense(5)])  # 18,405
    chosen = training.auto_student(Settings(student="auto"), teacher)
    assert (chosen.student, chosen.student_hidden) == ("mlp", 64)  # 2,949


def test_a_student_not_smaller_than_the_teacher_is_warned_about(capsys):
    teacher = small_teacher((64, 64, 3))
    student = training.build_student(Settings(student="mlp"), (64, 64, 3),
                                     10)
    training.check_size(teacher, student)
    out = capsys.readouterr().out
    assert f"{student.count_params():,}" in out
    assert f"{teacher.count_params():,}" in out and "not smaller" in out
    training.check_size(student, teacher)
    assert capsys.readouterr().out == ""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One distill run exporting one format, then the same command asking
    for every format: the finished run exports the other two (TensorFlow
    is installed in the test environment, so each can be checked)."""
    root = tmp_path_factory.mktemp("cost")
    x, y = user_files.write_folder(str(root / "images"), 12)
    user_files.save_teacher(str(root / "teacher.keras"), x, y, epochs=3)
    out = root / "run"
    command = ["distill", "--teacher", str(root / "teacher.keras"), "--data",
               str(root / "images"), "--output", str(out), "--epochs", "1",
               "--batch-size", "16", "--export", "tf_saved_model"]
    assert cli.main(command) == 0
    student = (out / "student.keras").read_bytes()
    assert cli.main(command + ["--export", "litert", "--export", "onnx"]) == 0
    assert (out / "student.keras").read_bytes() == student  # not retrained
    return out


def test_the_report_says_what_each_model_costs(run):
    report = json.loads((run / "report.json").read_text())
    for name in ("teacher", "student"):
        row = report[name]
        assert row["parameters"] > 0 and row["file_bytes"] > 0
        assert set(row["latency_ms_per_image"]) == {"1", "32"}
        assert all(ms > 0 for ms in row["latency_ms_per_image"].values())
        assert 0 <= row["validation_accuracy"] <= 1
    assert report["student"]["parameters"] < report["teacher"]["parameters"]
    student = keras.saving.load_model(run / "student.keras")
    assert report["student"]["parameters"] == student.count_params()
    assert report["student"]["file_bytes"] == (
        run / "student.keras").stat().st_size
    text = (run / "report.md").read_text()
    assert f"{report['teacher']['parameters']:,}" in text
    assert f"{report['student']['parameters']:,}" in text
    assert "latency, batch 1" in text and report["student"]["label"] in text


def test_every_export_loads_back_and_equals_the_student(run):
    report = json.loads((run / "report.json").read_text())
    assert set(report["exports"]) == {"tf_saved_model", "litert", "onnx"}
    for name, row in report["exports"].items():
        assert row["path"].startswith(str(run))
        assert row["max_abs_diff"] <= 1e-4, name  # export.TOLERANCE
    assert (run / "student.onnx").stat().st_size > 0
    assert (run / "student.tflite").stat().st_size > 0
    text = (run / "report.md").read_text()
    assert "student.onnx" in text and "max abs difference" in text


def test_an_export_without_its_runtime_is_refused_before_training(
        tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None
                        if name == "onnxruntime" else real(name, *a))
    with pytest.raises(export.InputError, match="onnxruntime"):
        export.check_formats(["litert", "onnx"])
    with pytest.raises(SystemExit) as stop:
        cli.main(["distill", "--teacher", "t.keras", "--data", "d",
                  "--output", str(tmp_path / "out"), "--export", "openvino"])
    assert stop.value.code == 2
    assert "--export" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.backend_independent
def test_an_export_far_from_the_student_fails_the_check(monkeypatch):
    class Done:
        returncode = 0
        stdout = json.dumps({"onnx": {"path": "s.onnx",
                                      "max_abs_diff": 0.5}})
        stderr = ""

    monkeypatch.setattr(export.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(export.ExportError, match="s.onnx"):
        export.export("s.keras", np.zeros((2, 3), "float32"),
                      np.ones((2, 3)), "out", ["onnx"])


def test_mobilenet_is_built_from_config_with_its_features_known():
    student = training.build_student(Settings(student="mobilenetv3small"),
                                     (64, 64, 3), 10)
    # predict compiles the graph once; JAX's eager call compiles op by op
    # (6.5 s against 1 s here).
    features, logits = feature_view(student).predict(
        np.zeros((2, 64, 64, 3), "float32"), verbose=0)
    assert tuple(features.shape) == (2, 576)  # its pooled features
    assert tuple(logits.shape) == (2, 10)
