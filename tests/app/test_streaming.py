"""Streamed data (keras_supcrd/app/sources.py, batches.py): a folder or an
`.npz` read a batch at a time gives the batches, and trains the student,
that the same arrays in memory give; a file that breaks while training
stops the run by name, and the same command resumes."""

import os

import keras
import numpy as np
import pytest

import user_files
from keras_supcrd import Distiller
from keras_supcrd import teacher_outputs
from keras_supcrd.app import batches
from keras_supcrd.app import cli
from keras_supcrd.app import userdata
from keras_supcrd.app.sources import Arrays
from keras_supcrd.losses import KD

SHAPE = (user_files.SIZE, user_files.SIZE, 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of PNGs, its listing, and the same images in memory, in
    the listing's order, scaled as the reader scales them."""
    root = tmp_path_factory.mktemp("stream")
    x, _ = user_files.write_folder(str(root / "images"), 12)
    files, _ = userdata.list_images(str(root / "images"), SHAPE, 1 / 255)
    order = [int(os.path.basename(p).split(".")[0]) for p in files.paths]
    pixels = x[order][..., None].astype("float32") * np.float32(1 / 255)
    return root, files, Arrays(pixels, files.y)


def _epochs(stream, count=2):
    out = []
    for epoch in range(count):
        stream.set_epoch(epoch)
        out.append([stream[i] for i in range(len(stream))])
    return out


@pytest.mark.backend_independent
def test_a_streamed_folder_gives_the_in_memory_batches(folder):
    _, files, arrays = folder
    streamed = _epochs(batches.Batches(files, 10, seed=3))
    in_memory = _epochs(batches.Batches(arrays, 10, seed=3))
    for epoch_s, epoch_m in zip(streamed, in_memory):
        assert len(epoch_s) == 4  # 36 images: 10, 10, 10, 6
        for (xs, ys), (xm, ym) in zip(epoch_s, epoch_m):
            np.testing.assert_array_equal(xs, xm)
            np.testing.assert_array_equal(ys, ym)
    # Another epoch, another order; no seed: the listing's order.
    assert not np.array_equal(streamed[0][0][1], streamed[1][0][1])
    plain = batches.Batches(files, 36)[0][1]
    np.testing.assert_array_equal(plain, files.y)


@pytest.mark.backend_independent
def test_an_npz_is_memory_mapped_and_reads_the_same(folder, tmp_path):
    _, _, arrays = folder
    x, y = arrays.arrays()
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    mapped, _ = userdata.read_arrays(str(tmp_path / "plain.npz"))
    assert isinstance(mapped.x, np.memmap) and not mapped.in_memory
    rows = np.array([7, 0, 35, 3])  # any order: read back in that order
    np.testing.assert_array_equal(mapped.read(rows), x[rows])
    np.testing.assert_array_equal(
        mapped.subset(np.arange(4, 20)).read(np.array([2, 0])), x[[6, 4]])
    np.savez_compressed(tmp_path / "packed.npz", x=x, y=y)
    packed, _ = userdata.read_arrays(str(tmp_path / "packed.npz"))
    assert packed.in_memory  # a compressed member cannot be mapped
    np.testing.assert_array_equal(packed.read(rows), x[rows])


def _teacher():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3),
                             keras.layers.Flatten(), keras.layers.Dense(3)])


def _distilled(x, teacher):
    keras.utils.set_random_seed(2)
    student = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                                keras.layers.Dense(3)])
    distiller = Distiller(teacher, student, KD())
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss=keras.losses.SparseCategoricalCrossentropy(
                          from_logits=True))
    stream = batches.Batches(x, 8, seed=5, workers=2)
    distiller.fit(stream, epochs=2, shuffle=False, verbose=0,
                  callbacks=[batches.EpochOrder(stream)])
    return [keras.ops.convert_to_numpy(w) for w in student.weights]


def test_streamed_training_equals_the_cached_in_memory_path(folder):
    _, files, arrays = folder
    teacher = _teacher()
    # Today's in-memory path: the teacher's outputs computed once.
    cached = Arrays(teacher_outputs(teacher, arrays.arrays()[0], verbose=0),
                    arrays.y)
    expected = _distilled(cached, teacher)
    streamed = _distilled(files, teacher)  # the teacher run in the step
    for a, b in zip(streamed, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_file_lost_while_training_stops_by_name_and_resumes(
        tmp_path, capsys, monkeypatch):
    images = tmp_path / "images"
    user_files.write_folder(str(images), 12)
    teacher = _teacher()
    teacher.save(tmp_path / "teacher.keras")
    lost = images / "square" / "20.png"
    kept = tmp_path / "20.png"

    class LoseAFile(batches.EpochOrder):
        def on_epoch_begin(self, epoch, logs=None):
            super().on_epoch_begin(epoch, logs)
            if epoch == 1 and lost.exists():
                lost.rename(kept)

    argv = ["distill", "--teacher", str(tmp_path / "teacher.keras"),
            "--data", str(images), "--output", str(tmp_path / "run"),
            "--epochs", "2", "--batch-size", "8", "--method", "kd"]
    monkeypatch.setattr(batches, "EpochOrder", LoseAFile)
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert str(lost) in err and "resumes" in err
    assert (tmp_path / "run" / "backup").is_dir()  # epoch 0 is kept
    kept.rename(lost)
    monkeypatch.undo()
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "Epoch 1/2" not in out  # resumed
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]


def test_batches_split_over_devices_keep_every_batch_divisible():
    source = Arrays(np.arange(37, dtype="float32")[:, None],
                    np.arange(37) % 3)
    shuffled = batches.Batches(source, 8, seed=0, multiple=4)
    left_out = []
    for epoch in range(2):
        shuffled.set_epoch(epoch)
        rows = np.concatenate([shuffled[i][0][:, 0]
                               for i in range(len(shuffled))])
        assert all(len(shuffled[i][1]) % 4 == 0
                   for i in range(len(shuffled)))
        assert len(rows) == 36 == len(set(rows))  # one row left out
        left_out.append(set(range(37)) - set(rows.astype(int)))
    assert left_out[0] != left_out[1]  # not always the same one
    ordered = batches.Batches(source.subset(np.arange(3)), 8, multiple=2)
    x, y, weights = ordered[0]  # padded with a copy weighted 0
    np.testing.assert_array_equal(x[:, 0], [0, 1, 2, 2])
    np.testing.assert_array_equal(y, [0, 1, 2, 2])
    np.testing.assert_array_equal(weights, [1, 1, 1, 0])
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    split = batches.predict(model, source, 8, multiple=4)
    assert split.shape == (37, 2)  # the padding's outputs dropped
    np.testing.assert_allclose(split, batches.predict(model, source, 8),
                               rtol=1e-6)
