"""`keras-supcrd distill` on a folder with two JAX host devices (the
default: all of them) and with `--devices 1`, in one process (own
process: the device count is fixed at start-up).

Usage: python distill_two_devices.py WORKDIR
Prints one JSON line: the largest difference in the students' weights,
the two runs' validation accuracies, and whether the split was announced.
"""

import contextlib
import io
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import user_files  # noqa: E402

from keras_supcrd.app import cli  # noqa: E402

work = sys.argv[1]
# 13 per class: 3 validation images (padded to 4 on two devices) and 36
# training images, whose last batch of 4 splits evenly: both runs train on
# the same rows.
user_files.write_folder(os.path.join(work, "images"), 13)
keras.utils.set_random_seed(1)
keras.Sequential([keras.Input((user_files.SIZE, user_files.SIZE, 1)),
                  keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                  keras.layers.Dense(3)]).save(os.path.join(work, "t.keras"))


def distill(name, *flags):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = cli.main([
            "distill", "--teacher", os.path.join(work, "t.keras"), "--data",
            os.path.join(work, "images"), "--output", os.path.join(work, name),
            "--epochs", "2", "--batch-size", "8", "--method", "kd",
            "--student", "mlp:8", *flags])
    assert code == 0
    folder = os.path.join(work, name)
    student = keras.saving.load_model(os.path.join(folder, "student.keras"))
    with open(os.path.join(folder, "history.json")) as f:
        history = json.load(f)
    return student, history, printed.getvalue()


one, history_1, _ = distill("one", "--devices", "1")
two, history_2, printed = distill("two")
diffs = [float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
         for a, b in zip(one.get_weights(), two.get_weights())]
print(json.dumps({
    "max_weight_diff": max(diffs),
    "val_accuracy_1": history_1["val_accuracy"],
    "val_accuracy_2": history_2["val_accuracy"],
    "loss_1": history_1["loss"], "loss_2": history_2["loss"],
    "split_announced": "split over 2 devices" in printed,
}))
