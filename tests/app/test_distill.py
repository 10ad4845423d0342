"""`keras-supcrd distill` and `compare --teacher --data` on a user's files
(small PNG folders and a tiny teacher the tests make): the saved student
reloads elsewhere, a killed run resumes exactly, and every bad input is
refused by name before anything is written."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import user_files
from keras_supcrd.app import cli
from keras_supcrd.app import userdata
from keras_supcrd.app.plan import Settings

HERE = os.path.dirname(os.path.dirname(__file__))
FAST = ["--epochs", "2", "--batch-size", "16", "--memory-size", "32"]
# A small MLP student: --student auto (a CNN) is tested on its own
# (test_student_cost.py), and convolutions cost JAX compile time.
SMALL = ["--student", "mlp:16"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    x, y = user_files.write_folder(str(root / "images"), 20)
    user_files.save_teacher(str(root / "teacher.keras"), x, y)
    return root


def distill(files, output, *flags):
    return cli.main(["distill", "--teacher", str(files / "teacher.keras"),
                     "--data", str(files / "images"), "--output",
                     str(output), "--cache-dir", str(files / "cache"),
                     *FAST, *SMALL, *flags])


def refused(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


RELOAD = """
import json, sys
import numpy as np
import keras
sys.path.insert(0, {here!r})
from keras_supcrd.app import userdata
images, names = userdata.list_images({images!r}, (12, 12, 1), 1 / 255)
_, val = userdata.split(images.y, 0.1, names, "validation")
val = images.subset(val)
student = keras.saving.load_model({student!r})
logits = student.predict(val.read(np.arange(len(val))), verbose=0)
print(json.dumps(float(np.mean(np.argmax(logits, -1) == val.y))))
"""


def test_distilled_student_reloads_in_a_fresh_process_on_another_backend(
        files, tmp_path, capsys):
    out = tmp_path / "run"
    assert distill(files, out, "--method", "supcrd+kd") == 0
    printed = capsys.readouterr().out
    for name in ("student.keras", "history.json", "report.md", "curves.png"):
        assert (out / name).stat().st_size > 0, name
        assert str(out / name) in printed
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [0, 1]
    reported = json.loads((out / "report.json").read_text())[
        "student"]["validation_accuracy"]
    assert f"{reported:.4f}" in (out / "report.md").read_text()
    assert reported == pytest.approx(history["val_accuracy"][-1], abs=1e-4)
    script = RELOAD.format(here=HERE, images=str(files / "images"),
                           student=str(out / "student.keras"))
    # The next backend in turn: the suite's three runs cover all pairs'
    # directions once (TensorFlow -> JAX -> PyTorch -> TensorFlow).
    order = ["tensorflow", "jax", "torch"]
    other = order[(order.index(keras.backend.backend()) + 1) % 3]
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": other})
    assert result.returncode == 0, (other, result.stderr[-2000:])
    accuracy = json.loads(result.stdout.strip().splitlines()[-1])
    assert accuracy == pytest.approx(reported, abs=1e-4), other


def test_a_finished_run_is_not_redone(files, tmp_path, capsys):
    out = tmp_path / "run"
    assert distill(files, out, "--method", "kd") == 0
    before = (out / "student.keras").stat().st_mtime_ns
    capsys.readouterr()
    assert distill(files, out, "--method", "kd") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "student.keras").stat().st_mtime_ns == before


KILLED = """
import os, signal, sys
sys.path.insert(0, {here!r})
from keras_supcrd.app import batches, cli

flag = {flag!r}


class KillMidEpoch(batches.EpochOrder):
    def on_train_batch_end(self, batch, logs=None):
        if self.batches.epoch == 1 and batch == 1 and not os.path.exists(flag):
            open(flag, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


batches.EpochOrder = KillMidEpoch
sys.exit(cli.main(sys.argv[1:]))
"""


def test_killed_and_resumed_equals_uninterrupted(files, tmp_path):
    argv = ["distill", "--teacher", str(files / "teacher.keras"), "--data",
            str(files / "images"), "--cache-dir", str(files / "cache"),
            "--method", "crd+kd", "--epochs", "2", "--batch-size", "16",
            "--memory-size", "32", "--student", "mlp:16"]
    script = KILLED.format(here=HERE, flag=str(tmp_path / "killed-once"))

    def run(output):
        return subprocess.run([sys.executable, "-c", script, *argv,
                               "--output", str(output)],
                              capture_output=True, text=True,
                              env=dict(os.environ))

    killed = tmp_path / "killed"
    first = run(killed)  # killed in its second epoch
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert not (killed / "student.keras").exists()
    again = run(killed)  # the same command resumes
    assert again.returncode == 0, again.stderr[-3000:]
    uninterrupted = run(tmp_path / "fresh")  # killed once already: runs
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    resumed = keras.saving.load_model(killed / "student.keras")
    expected = keras.saving.load_model(tmp_path / "fresh" / "student.keras")
    for a, b in zip(resumed.weights, expected.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a),
                                   keras.ops.convert_to_numpy(b),
                                   rtol=1e-5, atol=1e-6, err_msg=a.path)
    history = json.loads((killed / "history.json").read_text())
    assert history["epoch"] == [0, 1]


def test_compare_on_a_folder_writes_its_report(files, tmp_path):
    out = tmp_path / "study"
    assert cli.main([
        "compare", "--teacher", str(files / "teacher.keras"), "--data",
        str(files / "images"), "--methods", "ce,kd", "--seeds", "1",
        "--no-tune", "--output", str(out), "--cache-dir",
        str(files / "cache"), "--test-split", "0.25", *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["class_names"] == list(user_files.CLASSES)
    assert results["sizes"]["test"] == 15  # a stratified quarter of 60
    assert results["settings"]["student_train_size"] is None  # all of it
    assert results["sizes"]["student_train"] == results["sizes"]["train"]
    assert "held out" in results["test_from"]
    table = (out / "results.md").read_text()
    assert "teacher.keras" in table and "not judged" in table


def test_a_test_folder_is_the_test_split(files, tmp_path):
    data = tmp_path / "data"
    user_files.write_folder(str(data / "train"), 10, seed=1)
    user_files.write_folder(str(data / "test"), 4, seed=2)
    out = tmp_path / "study"
    assert cli.main([
        "compare", "--teacher", str(files / "teacher.keras"), "--data",
        str(data), "--methods", "ce", "--seeds", "1", "--no-tune",
        "--output", str(out), "--cache-dir", str(files / "cache"),
        *FAST]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sizes"]["test"] == 12
    assert "test/ folder" in results["test_from"]


def _softmax_teachers():
    """The three ways a Keras classifier ends in a softmax."""
    def body():
        return [keras.Input((user_files.SIZE, user_files.SIZE, 1)),
                keras.layers.Flatten(), keras.layers.Dense(8, "relu")]
    return {
        "dense": keras.Sequential([*body(), keras.layers.Dense(
            3, activation="softmax")]),
        "softmax layer": keras.Sequential([*body(), keras.layers.Dense(3),
                                           keras.layers.Softmax()]),
        "activation layer": keras.Sequential([
            *body(), keras.layers.Dense(3),
            keras.layers.Activation("softmax")]),
    }


@pytest.mark.parametrize("kind", ["dense", "softmax layer",
                                  "activation layer"])
def test_softmax_teacher_is_distilled_from_its_logits(files, tmp_path, kind):
    keras.utils.set_random_seed(0)
    path = tmp_path / "softmax.keras"
    _softmax_teachers()[kind].save(path)
    settings = cli.Settings(teacher=str(path), data=str(files / "images"))
    from keras_supcrd.app import usersource

    teacher, info = usersource.load_teacher(settings)
    assert info["outputs"] == "probabilities"
    x, _ = user_files.images(4)
    images = x[..., None] / 255.0
    original = keras.saving.load_model(path)
    logits = keras.ops.convert_to_numpy(teacher(images))
    assert not np.allclose(logits.sum(-1), 1.0)  # not probabilities
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
        keras.ops.convert_to_numpy(original(images)), rtol=1e-5, atol=1e-6)


def test_started_as_the_command_reads_the_interpreter_arguments(monkeypatch):
    import keras_supcrd

    py = "/usr/bin/python3"
    for argv, expected in [
            ([py, "/venv/bin/keras-supcrd", "--help"], True),
            ([py, "-X", "importtime", "/venv/bin/keras-supcrd"], True),
            ([py, "-m", "keras_supcrd", "distill"], True),
            ([py, "-X", "importtime", "-m", "keras_supcrd"], True),
            ([py, "-m", "pytest", "keras-supcrd"], False),
            ([py, "train.py", "--name", "keras-supcrd"], False),
            ([py, "-c", "import keras_supcrd"], False),
            ([py], False)]:
        monkeypatch.setattr(sys, "orig_argv", argv)
        assert keras_supcrd._started_as_the_command() is expected, argv


@pytest.mark.parametrize("level", [None, "1"])
def test_an_error_reaches_the_terminal_alone(files, tmp_path, level):
    # The command line filters the frameworks' start-up lines out of
    # stderr; its own error passes whole. Level 1 is what a Python parent
    # that imported Keras on TensorFlow hands down: not the user's choice.
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_SUPCRD_FRAMEWORK_LOGS")}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run(
        [sys.executable, "-m", "keras_supcrd", "distill", "--teacher",
         str(tmp_path / "none.keras"), "--data", str(files / "images"),
         "--output", str(tmp_path / "out")], capture_output=True, text=True,
        env=env)
    assert result.returncode == 2
    assert result.stderr == (f"keras-supcrd: error: --teacher "
                             f"{tmp_path / 'none.keras'}: no such file.\n")


def test_a_killed_write_leaves_a_folder_that_resumes(tmp_path):
    from keras_supcrd.app import distill

    (tmp_path / "run.json").write_text(json.dumps({"run": {"seed": 0}}))
    (tmp_path / "history.json.partial").write_text("{")
    assert distill.claim(str(tmp_path), {"seed": 0}) == "resume"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(userdata.InputError, match="notes.txt"):
        distill.claim(str(tmp_path), {"seed": 0})
    with pytest.raises(userdata.InputError, match="is a file"):
        distill.claim(str(tmp_path / "run.json"), {"seed": 0})


def test_a_small_class_still_gets_a_held_out_example():
    y = np.array([0] * 1000 + [1] * 5)
    kept, held = userdata.split(y, 0.1, ["big", "small"], "validation")
    assert np.sum(y[held] == 1) == 1 and np.sum(y[held] == 0) == 100
    assert len(kept) + len(held) == len(y)
    assert not set(kept) & set(held)


def test_a_splits_folder_with_other_entries_is_refused(tmp_path):
    for name in ("train", "test", "val"):
        (tmp_path / name).mkdir()
    with pytest.raises(userdata.InputError, match="val"):
        userdata.layout(str(tmp_path))


def _custom_teacher(folder):
    """A teacher with a registered custom layer, saved, then unregistered
    (as in a fresh process); and the file that registers it again."""
    code = (
        "import keras\n\n\n"
        "@keras.saving.register_keras_serializable(package='user_test')\n"
        "class Doubled(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return 2.0 * x\n")
    source = folder / "custom.py"
    source.write_text(code)
    namespace = {}
    exec(compile(code, str(source), "exec"), namespace)
    model = keras.Sequential([keras.Input((12, 12, 1)),
                              namespace["Doubled"](),
                              keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    model.save(folder / "custom.keras")
    del keras.saving.get_custom_objects()["user_test>Doubled"]
    return folder / "custom.keras", source


def test_custom_objects_are_named_and_can_be_passed(files, tmp_path, capsys):
    teacher, source = _custom_teacher(tmp_path)
    argv = ["distill", "--teacher", str(teacher), "--data",
            str(files / "images"), "--cache-dir", str(files / "cache"),
            "--epochs", "1", "--batch-size", "16"]
    err = refused(capsys, [*argv, "--output", str(tmp_path / "a")])
    assert "needs custom objects" in err and "--custom-objects" in err
    assert not (tmp_path / "a").exists()
    assert cli.main([*argv, "--output", str(tmp_path / "b"),
                     "--custom-objects", str(source)]) == 0


def _bad_cases(files, tmp):
    """name -> (argv changes, expected words): one per bad input."""
    images = files / "images"

    def copy(name, edit):
        folder = tmp / name
        for label in user_files.CLASSES:
            os.makedirs(folder / label)
            for f in sorted(os.listdir(images / label)):
                (folder / label / f).write_bytes(
                    (images / label / f).read_bytes())
        edit(folder)
        return folder

    def fourth_class(folder):
        os.makedirs(folder / "zebra")
        (folder / "zebra" / "0.png").write_bytes(
            (images / "circle" / "0.png").read_bytes())

    four = copy("four", fourth_class)
    empty = copy("empty", lambda f: os.makedirs(f / "zebra"))
    text = copy("text", lambda f: (f / "circle" / "notes.txt")
                .write_text("not an image"))
    fake = copy("fake", lambda f: (f / "square" / "broken.png")
                .write_bytes(b"not a png"))
    wide = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(5)])
    wide.save(tmp / "wide.keras")
    (tmp / "plain.keras").write_text("hello")
    few = tmp / "few"
    user_files.write_folder(str(few), 1)
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "thesis.pdf").write_text("mine")
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)]).save(
        tmp / "vectors.keras")
    np.savez(tmp / "vectors.npz", x=np.zeros((30, 6), "float32"),
             y=np.arange(30) % 3)
    return {
        "class count": (["--data", str(four)], ["3 outputs", "4 classes"]),
        "empty class": (["--data", str(empty)], ["zebra", "is empty"]),
        "text file": (["--data", str(text)], ["notes.txt", "not an image"]),
        "broken image": (["--data", str(fake)], ["broken.png", "not a "
                                                 "readable image"]),
        "student width": (["--student", str(tmp / "wide.keras")],
                          ["--student has 5 outputs", "teacher 3"]),
        "not a model": (["--teacher", str(tmp / "plain.keras")],
                        ["--teacher", "not a Keras model file"]),
        "missing teacher": (["--teacher", str(tmp / "none.keras")],
                            ["--teacher", "no such file"]),
        "too few": (["--data", str(few)], ["too few", "--validation-split"]),
        "foreign output": (["--output", str(foreign)],
                           ["thesis.pdf", "not a keras-supcrd"]),
        "vectors cropped": (["--teacher", str(tmp / "vectors.keras"),
                             "--data", str(tmp / "vectors.npz"),
                             "--augment", "crop,mixup"],
                            ["--augment", "RandomResizedCrop",
                             "batch of images", "(None, 6)"]),
    }


CASES = ("class count", "empty class", "text file", "broken image",
         "student width", "not a model", "missing teacher", "too few",
         "foreign output", "vectors cropped")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_by_name_before_anything_is_written(
        files, tmp_path, capsys, case):
    changes, words = _bad_cases(files, tmp_path)[case]
    base = {"--teacher": str(files / "teacher.keras"),
            "--data": str(files / "images"),
            "--output": str(tmp_path / "out"),
            "--cache-dir": str(tmp_path / "cache")}
    base.update(dict(zip(changes[::2], changes[1::2])))
    argv = ["distill", *[v for pair in base.items() for v in pair], *FAST]
    err = refused(capsys, argv)
    for word in words:
        assert word in err, (case, err)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "cache").exists()
    if case == "foreign output":
        assert os.listdir(tmp_path / "foreign") == ["thesis.pdf"]


def test_another_runs_folder_is_refused(files, tmp_path, capsys):
    out = tmp_path / "run"
    assert distill(files, out, "--method", "kd") == 0
    capsys.readouterr()
    err = refused(capsys, ["distill", "--teacher",
                           str(files / "teacher.keras"), "--data",
                           str(files / "images"), "--output", str(out),
                           "--cache-dir", str(files / "cache"), *FAST,
                           "--method", "kd", "--seed", "3"])
    assert "holds another run" in err and "seed" in err


@pytest.mark.parametrize("argv,words", [
    (["--student", "resnet"], ["--student", "mlp[:UNITS]"]),
    (["--student", "mlp:0"], ["--student", "positive"]),
    (["--set", "nope=1"], ["--set nope", "weight"]),
    (["--set", "weight=true"], ["--set weight", "a number"]),
    (["--validation-split", "1.5"], ["--validation-split"]),
    (["--rescale", "1/0"], ["--rescale"]),
    (["--bank-mode", "sometimes"], ["--bank-mode"]),
    (["--augment", "crop,blur"], ["--augment", "crop, flip, mixup"]),
    (["--crop-scale", "0"], ["--crop-scale", "(0, 1]"]),
    (["--teacher-view", "both"], ["--teacher-view", "augmented"]),
    (["--devices", "two"], ["--devices"]),
])
def test_bad_arguments_are_named(capsys, argv, words):
    err = refused(capsys, ["distill", "--teacher", "t.keras", "--data", "d",
                           "--output", "o", *argv])
    for word in words:
        assert word in err


def test_npz_data_with_too_many_classes_is_refused(files, tmp_path, capsys):
    x, y = user_files.images(4)
    np.savez(tmp_path / "data.npz", x=x[..., None] / 255.0,
             y=np.where(y == 2, 3, y))
    err = refused(capsys, [
        "distill", "--teacher", str(files / "teacher.keras"), "--data",
        str(tmp_path / "data.npz"), "--output", str(tmp_path / "out")])
    assert "3 outputs" in err and "4 classes" in err


def test_npz_labels_must_be_the_teachers_outputs(files, tmp_path, capsys):
    x, y = user_files.images(4)
    np.savez(tmp_path / "data.npz", x=x[..., None] / 255.0, y=y + 1,
             class_names=np.array(["a", "b", "c"]))
    err = refused(capsys, [
        "distill", "--teacher", str(files / "teacher.keras"), "--data",
        str(tmp_path / "data.npz"), "--output", str(tmp_path / "out")])
    assert "labelled 0-2" in err


def test_npz_data_is_used_as_it_is(files, tmp_path):
    x, y = user_files.images(20)
    np.savez(tmp_path / "data.npz", x=(x[..., None] / 255.0).astype(
        "float32"), y=y)
    arrays, names = userdata.read_arrays(str(tmp_path / "data.npz"))
    assert isinstance(arrays.x, np.memmap) and not arrays.in_memory
    np.testing.assert_array_equal(arrays.read(np.arange(len(y))),
                                  (x[..., None] / 255.0).astype("float32"))
    assert names == ["0", "1", "2"]
    assert distill(files, tmp_path / "run", "--data",
                   str(tmp_path / "data.npz"), "--method", "kd") == 0


def test_auto_augments_images_and_leaves_vectors_alone(tmp_path):
    settings = Settings(augment="auto", crop_scale=0.35, mixup_alpha=0.3)
    layers, mixup = cli.augmentation(settings).build((12, 12, 1))
    assert [type(layer).__name__ for layer in layers] == ["RandomResizedCrop"]
    assert layers[0].scale == (0.35, 1.0) and mixup.alpha == 0.3
    assert cli.augmentation(settings).build((6,)) == ([], None)
    # The command on vectors: no crop to refuse, the student trains.
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, "relu"),
                      keras.layers.Dense(3)]).save(tmp_path / "vectors.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "vectors.npz", y=np.arange(60) % 3,
             x=rng.normal(size=(60, 6)).astype("float32"))
    assert cli.main(["distill", "--teacher", str(tmp_path / "vectors.keras"),
                     "--data", str(tmp_path / "vectors.npz"), "--output",
                     str(tmp_path / "run"), "--augment", "auto", *FAST,
                     *SMALL]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())["run"]
    assert run["augment"] == "auto"


def test_an_augmented_run_records_its_views(files, tmp_path):
    out = tmp_path / "run"
    assert distill(files, out, "--method", "kd", "--augment",
                   "crop,flip,mixup", "--teacher-view", "clean") == 0
    run = json.loads((out / "run.json").read_text())["run"]
    assert run["augment"] == ["crop", "flip", "mixup"]
    assert run["teacher_view"] == "clean"
    student = keras.saving.load_model(out / "student.keras")
    assert student.output_shape == (None, 3)  # the student alone is saved
