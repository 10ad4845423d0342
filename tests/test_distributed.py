"""One step on two devices equals one device on the same global batch.

Each check runs in its own process (device counts are fixed at start-up):
JAX under keras.distribution.DataParallel with two host devices, TensorFlow
under MirroredStrategy with two logical CPUs. PyTorch has no multi-device
`fit` in Keras; its run checks that the single-device path is unaffected.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed",
                      "one_vs_two_devices.py")
BACKEND = keras.backend.backend()


def compare(memory_size):
    result = subprocess.run(
        [sys.executable, SCRIPT, BACKEND, str(memory_size)],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(BACKEND == "torch",
                    reason="Keras's fit has no multi-device path on torch")
@pytest.mark.parametrize("memory_size", [0, 24])
def test_two_devices_equal_one(memory_size):
    out = compare(memory_size)
    assert out["student_changed"]
    for key in ("loss", "student_loss", "lw_supcrd", "crd", "kd"):
        # The logged loss is one device's, not twice it.
        np.testing.assert_allclose(out["history_2"][key],
                                   out["history_1"][key], rtol=1e-5)
    assert out["max_weight_diff"] < 1e-5, out["worst_weight"]
    assert out["bank_labels_2"] == out["bank_labels_1"]


@pytest.mark.skipif(BACKEND != "tensorflow",
                    reason="tf.distribute is TensorFlow's")
def test_bad_batch_on_one_replica_is_skipped_on_both():
    script = os.path.join(os.path.dirname(__file__), "distributed",
                          "bad_batch_two_replicas.py")
    result = subprocess.run([sys.executable, script], capture_output=True,
                            text=True, env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # The control: a good batch moves weights, optimizer, bank, statistics.
    assert out["clean"]["error"] is None
    changed = " ".join(out["clean"]["changed"])
    for part in ("student", "teacher_head", "adam", "memory_bank",
                 "moving_mean"):
        assert part in changed, changed
    assert out["nan_input"]["error"].startswith("FloatingPointError")
    assert "student_loss=nan" in out["nan_input"]["error"]
    assert out["bad_label"]["error"].startswith("ValueError")
    assert "label 7" in out["bad_label"]["error"]
    assert out["nan_input"]["changed"] == []
    assert out["bad_label"]["changed"] == []
