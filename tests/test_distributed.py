"""Training on several devices or processes equals one device on the same
global batch.

Each check runs in its own processes (device counts are fixed at
start-up). One process, two devices: JAX under
keras.distribution.DataParallel with two host devices, TensorFlow under
MirroredStrategy with two logical CPUs. Several processes, as several hosts
run them (ports on 127.0.0.1, every process bounded in time): PyTorch as
two torch.distributed ranks (gloo, started by torchrun), JAX as two
jax.distributed processes under DataParallel, TensorFlow as two
MultiWorkerMirroredStrategy workers.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed",
                      "one_vs_two_devices.py")
BACKEND = keras.backend.backend()


@pytest.mark.skipif(BACKEND == "torch",
                    reason="one process has one device on torch; see below")
def test_two_devices_equal_one():
    # Without a bank and with one, from one process (one import).
    result = subprocess.run(
        [sys.executable, SCRIPT, BACKEND, "0,24"],
        capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    for memory_size, out in runs.items():
        assert out["student_changed"], memory_size
        for key in ("loss", "student_loss", "lw_supcrd", "crd", "kd"):
            # The logged loss is one device's, not twice it.
            np.testing.assert_allclose(out["history_2"][key],
                                       out["history_1"][key], rtol=1e-5,
                                       err_msg=f"{memory_size} {key}")
        assert out["max_weight_diff"] < 1e-5, (memory_size,
                                               out["worst_weight"])
        assert out["bank_labels_2"] == out["bank_labels_1"], memory_size
    assert runs["0"]["bank_labels_1"] is None
    assert len(runs["24"]["bank_labels_1"]) == 24


@pytest.mark.skipif(BACKEND != "tensorflow",
                    reason="tf.distribute is TensorFlow's")
def test_one_replica_strategy_trains_and_refuses_a_bad_batch():
    # One device under MirroredStrategy (a one-GPU machine) still runs the
    # cross-replica update: apply_gradients cannot sit in a replica cond.
    import tensorflow as tf

    from keras_supcrd import Distiller
    from keras_supcrd import losses
    from models import classifier
    from models import data
    from models import sparse_ce
    from models import weights_of

    x, y = data(16)
    with tf.distribute.MirroredStrategy().scope():
        distiller = Distiller(classifier(8), classifier(4, seed=2),
                              [losses.SupCRD(), losses.KD()], memory_size=8)
        distiller.compile(optimizer="adam", loss=sparse_ce())
    before = weights_of(distiller.student)
    distiller.fit(x, y, batch_size=8, verbose=0)
    after = weights_of(distiller.student)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    y[0] = 7  # 3 classes, in the first batch
    with pytest.raises(ValueError, match="batch 0: `y` holds the label 7"):
        distiller.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(after, weights_of(distiller.student)):
        np.testing.assert_array_equal(a, b)


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


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    return dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")


def _run(args):
    result = subprocess.run(args, capture_output=True, text=True,
                            env=_env(), timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def _script(name):
    return os.path.join(os.path.dirname(__file__), "distributed", name)


def assert_processes_equal_one(folder, names):
    """Every process logged the global batch's losses and ends with the
    one-process weights; all of them hold the same weights and bank."""
    one, *ranks = (np.load(folder / f"{n}.npz") for n in ("single", *names))
    assert one["student_changed"]
    weights = [k for k in one.files if k.startswith("weight_")]
    for rank in ranks:
        for key in ("loss", "student_loss", "lw_supcrd", "crd", "kd"):
            np.testing.assert_allclose(rank[f"history_{key}"],
                                       one[f"history_{key}"], rtol=1e-5)
        for key in weights:
            np.testing.assert_allclose(rank[key], one[key], atol=1e-5,
                                       err_msg=key)
    for key in [*weights, "bank_labels", "bank_features"]:
        # The same averaged update, and the same bank, in every process.
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key])
    np.testing.assert_array_equal(ranks[0]["bank_labels"],
                                  one["bank_labels"])
    np.testing.assert_allclose(ranks[0]["bank_features"],
                               one["bank_features"], atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch",
                    reason="torch.distributed is PyTorch's")
def test_two_torch_ranks_equal_one_process(tmp_path):
    # With a bank: the other rank's rows and the bank are both references.
    # `on_batch`: train_on_batch with numpy arrays, which fit converts first.
    args = [_script("torch_ranks.py"), str(tmp_path), "24"]
    _run([sys.executable, *args])
    _run([sys.executable, "-m", "torch.distributed.run", "--nnodes=1",
          "--nproc_per_node=2", "--master_addr=127.0.0.1",
          f"--master_port={_free_port()}", *args])
    for steps in ("fit", "on_batch"):
        assert_processes_equal_one(tmp_path / steps, ["rank0", "rank1"])
    # A bad label on rank 1 skips the step on both ranks, which both stop.
    for rank in (0, 1):
        bad = np.load(tmp_path / f"bad_rank{rank}.npz")
        assert "holds the label 99" in str(bad["error"]), rank
        assert bool(bad["unchanged"]), rank


@pytest.mark.skipif(BACKEND != "jax", reason="jax.distributed is JAX's")
def test_two_jax_processes_equal_one_process(tmp_path):
    args = [_script("jax_processes.py"), str(tmp_path), "24"]
    port = str(_free_port())
    codes, outputs = _run_together(
        [[sys.executable, *args, str(i), port] for i in range(2)])
    assert not any(codes), outputs[0][-4000:] + outputs[1][-2000:]
    _run([sys.executable, *args])
    assert_processes_equal_one(tmp_path, ["process0", "process1"])


def _run_together(commands):
    """Starts every command, waits for all (bounded); returns the return
    codes and the outputs."""
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  env=_env()) for c in commands]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in processes]
    finally:
        for process in processes:
            process.kill()
    return [p.returncode for p in processes], outputs


# What Keras 3.15 raises in its own fit under MultiWorkerMirroredStrategy,
# before any step of ours runs: it reduces a nest of per-replica values.
KERAS_MWMS_BUG = ("_maybe_symbolic_build", "Attempt to convert a value "
                  "(PerReplica")


@pytest.mark.skipif(BACKEND != "tensorflow",
                    reason="tf.distribute is TensorFlow's")
def test_two_tf_workers_equal_one_process(tmp_path):
    args = [_script("tf_workers.py"), str(tmp_path), "24"]
    ports = f"{_free_port()},{_free_port()}"
    codes, outputs = _run_together(
        [[sys.executable, *args, str(i), ports] for i in range(2)])
    if any(codes):
        if all(part in outputs[0] for part in KERAS_MWMS_BUG):
            pytest.skip("Keras 3.15's fit cannot run under "
                        "MultiWorkerMirroredStrategy, even for a plain "
                        "Sequential model (keras-team/keras#20585)")
        raise AssertionError(outputs[0][-4000:] + outputs[1][-2000:])
    _run([sys.executable, *args])
    assert_processes_equal_one(tmp_path, ["worker0", "worker1"])


@pytest.mark.skipif(BACKEND != "jax", reason="the command's data "
                    "parallelism is keras.distribution's, on JAX")
def test_distill_on_two_devices_equals_one(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "distributed",
                          "distill_two_devices.py")
    result = subprocess.run([sys.executable, script, str(tmp_path)],
                            capture_output=True, text=True,
                            env=dict(os.environ), timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["split_announced"]
    np.testing.assert_allclose(out["loss_2"], out["loss_1"], rtol=1e-5)
    # The padded validation row has weight 0: the accuracy is the same.
    assert out["val_accuracy_2"] == out["val_accuracy_1"]
    assert out["max_weight_diff"] < 1e-5
