"""Images per second of `keras-supcrd distill` on a folder of RGB images,
against floors taken in the same run on the same pipeline, and the whole
command's peak memory and time to its first step at two folder sizes
(benchmarks/RESULTS.md, "Streaming a folder").

Rates, each the second of two epochs (the first compiles), on one folder:
  pipeline  the input pipeline alone (`Batches`, reader threads), and
            the same reading in tf.data for comparison;
  floor     a plain `fit` of the student alone plus the teacher's
            inference on the same batch (one model computing both);
  distill   the Distiller `distill` builds, with --method.
Memory: `/usr/bin/time -v keras-supcrd distill --epochs 1` on the first
`--sizes` images and on all of them; the growth per added image against
one float32 image.

Usage: python benchmarks/distill_throughput.py FOLDER [--images 6000]
           [--sizes 1500,6000] [--method dist] [--workers 1,2,4]
The folder is written on first use (10 classes of 160x160 JPEGs and a
small CNN teacher saved at that size).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import keras
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from _common import describe  # noqa: E402

from keras_supcrd.app import batches  # noqa: E402
from keras_supcrd.app import cli  # noqa: E402
from keras_supcrd.app import training  # noqa: E402
from keras_supcrd.app import userdata  # noqa: E402
from keras_supcrd.app.plan import Settings  # noqa: E402

SIZE, CLASSES = 160, 10


def write_folder(folder, count, seed=0):
    """`count` JPEGs: each class a blurred colour blob at its own place
    on noise, so that images differ as photos do (JPEG sizes vary)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE] / SIZE
    for i in range(count):
        label = i % CLASSES
        cy, cx = 0.2 + 0.6 * rng.random(2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02)
        colour = np.array([label / CLASSES, 1 - label / CLASSES, 0.5])
        image = 60 * rng.random((SIZE, SIZE, 3)) + 190 * blob[..., None] \
            * colour
        path = os.path.join(folder, "train", f"class-{label}")
        os.makedirs(path, exist_ok=True)
        Image.fromarray(image.astype("uint8")).save(
            os.path.join(path, f"{i:07d}.jpg"), quality=90)


def subset_folder(folder, count):
    """A folder of links to the first `count` images (per class in turn)."""
    target = os.path.join(folder, f"first-{count}")
    if os.path.isdir(target):
        return target
    train = os.path.join(folder, "train")
    for name in sorted(os.listdir(train)):
        os.makedirs(os.path.join(target, name))
        for f in sorted(os.listdir(os.path.join(train, name)))[
                :count // CLASSES]:
            os.symlink(os.path.join(train, name, f),
                       os.path.join(target, name, f))
    return target


def save_teacher(path):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(CLASSES),
    ])
    teacher.save(path)


class StudentAndTeacher(keras.Model):
    """The floor: the student's plain training step plus the frozen
    teacher's inference on the same batch, in one compiled step."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student, self.teacher = student, teacher
        teacher.trainable = False

    def call(self, x, training=False):
        teacher = keras.ops.stop_gradient(self.teacher(x, training=False))
        # Multiplying by 0 keeps the teacher in the graph: IEEE products
        # with 0 are not folded away (0 * inf is NaN).
        return self.student(x, training=training) + 0.0 * keras.ops.sum(
            teacher)


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def _rate(model, stream, images):
    timer = EpochTimer()
    model.fit(stream, epochs=2, shuffle=False, verbose=0,
              callbacks=[batches.EpochOrder(stream), timer])
    return images / timer.seconds


def pipeline_rate(source, batch_size, workers):
    from keras.src.trainers.data_adapters.py_dataset_adapter import (
        PyDatasetAdapter)

    stream = batches.Batches(source, batch_size, seed=0, workers=workers)
    adapter = PyDatasetAdapter(stream)
    seconds = []
    for epoch in range(2):
        stream.set_epoch(epoch)
        start = time.perf_counter()
        adapter.on_epoch_begin()
        for _ in adapter.get_numpy_iterator():
            pass
        adapter.on_epoch_end()
        seconds.append(time.perf_counter() - start)
    return len(source) / seconds[-1]


def tf_data_rate(source, batch_size):
    """The same reading in tf.data (TensorFlow's C++ decoders, parallel
    map), for the choice of mechanism; None without TensorFlow."""
    try:
        import tensorflow as tf
    except ImportError:
        return None

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                                   expand_animations=False)
        image = tf.image.resize(image, source.shape[:2])  # bilinear
        return image * source.rescale

    paths = [source.paths[p] for p in source._positions]
    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(
            tf.data.AUTOTUNE)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in dataset:
            pass
        seconds.append(time.perf_counter() - start)
    return len(source) / seconds[-1]


def step_rates(folder, args):
    """Images per second: the pipeline at each worker count, the floor
    and distill (at the default workers)."""
    settings = Settings(teacher=os.path.join(folder, "teacher.keras"),
                        data=folder, student="cnn", epochs=2,
                        batch_size=args.batch_size)
    teacher = keras.saving.load_model(settings.teacher)
    start = time.perf_counter()
    source, names = userdata.list_images(os.path.join(folder, "train"),
                                         teacher.input_shape[1:],
                                         settings.rescale)
    listing = time.perf_counter() - start
    source = source.subset(np.arange(min(args.images, len(source))))
    rates = {f"pipeline, {w} worker(s)": pipeline_rate(
        source, args.batch_size, w) for w in args.workers}
    rates["pipeline in tf.data (comparison)"] = tf_data_rate(
        source, args.batch_size)
    steps = 2 * len(batches.Batches(source, args.batch_size))
    table = cli.methods(settings)
    params = {**table[args.method].start, **(
        cli.DISTILL_PARAMS if args.method == cli.DISTILL_METHOD else {})}

    def stream():
        return batches.Batches(source, args.batch_size, seed=0,
                               workers=settings.workers)

    keras.utils.set_random_seed(0)
    student = training.build_student(settings, source.shape, len(names))
    floor = StudentAndTeacher(student, teacher)
    floor.compile(optimizer="adam", loss=keras.losses
                  .SparseCategoricalCrossentropy(from_logits=True))
    rates["floor: student fit + teacher inference"] = _rate(
        floor, stream(), len(source))
    keras.utils.set_random_seed(0)
    student = training.build_student(settings, source.shape, len(names))
    model, _ = training.build_model(settings, teacher, student,
                                    table[args.method], params, steps,
                                    source.shape)
    rates[f"distill ({args.method})"] = _rate(model, stream(), len(source))
    return rates, settings.workers, student.count_params(), listing


def command_memory(folder, count, output):
    """Peak RSS (MiB) of the whole command on `count` images, and the
    seconds from its start to the line it prints just before training."""
    data = subset_folder(folder, count)
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "keras_supcrd",
           "distill", "--teacher", os.path.join(folder, "teacher.keras"),
           "--data", data, "--output", output, "--epochs", "1",
           "--student", "cnn"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first_step = None
    for line in proc.stdout:
        if first_step is None and line.startswith("Distilling"):
            first_step = time.perf_counter() - start
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise RuntimeError(err[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                        err).group(1))
    return {"images": count, "peak_rss_mib": rss / 1024,
            "seconds_to_first_step": first_step}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder")
    p.add_argument("--images", type=int, default=6000)
    p.add_argument("--sizes", default="1500,6000")
    p.add_argument("--method", default=cli.DISTILL_METHOD)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--no-memory", dest="memory", action="store_false")
    p.add_argument("--output", default=None, help="a JSON file")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    if not os.path.isdir(os.path.join(args.folder, "train")):
        write_folder(args.folder, args.images)
    if not os.path.exists(os.path.join(args.folder, "teacher.keras")):
        save_teacher(os.path.join(args.folder, "teacher.keras"))
    rates, workers, params, listing = step_rates(args.folder, args)
    result = {**describe(), "images": args.images,
              "batch_size": args.batch_size, "distill_workers": workers,
              "student_params": params,
              "seconds_to_list_and_check_headers": listing,
              "images_per_second": rates}
    floor = rates["floor: student fit + teacher inference"]
    result["distill_over_floor_time"] = floor / rates[
        f"distill ({args.method})"]
    result["pipeline_over_distill_rate"] = rates[
        f"pipeline, {workers} worker(s)"] / rates[
            f"distill ({args.method})"] if workers in args.workers else None
    if args.memory:
        runs = [command_memory(args.folder, int(n), os.path.join(
            args.folder, f"run-{n}-{time.time_ns()}"))
            for n in args.sizes.split(",")]
        small, large = runs[0], runs[-1]
        image_mib = SIZE * SIZE * 3 * 4 / 2**20
        growth = (large["peak_rss_mib"] - small["peak_rss_mib"]) / (
            large["images"] - small["images"])
        result["memory"] = {"runs": runs, "mib_per_added_image": growth,
                            "share_of_a_float32_image": growth / image_mib}
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
