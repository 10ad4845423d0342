"""Loss-weight schedules: planned weights, exact totals, no retrace, saved
state, and clear errors, on every backend."""

import math

import keras
import numpy as np
import pytest

from keras_supcrd import Distiller
from keras_supcrd import _step
from keras_supcrd import losses
from keras_supcrd.schedules import LossWeightScheduler
from keras_supcrd.schedules import linear_warmup
from models import classifier
from models import data
from models import sparse_ce
from models import weights_of


def make(**kwargs):
    distiller = Distiller(
        classifier(16, name="teacher"), classifier(8, name="student", seed=5),
        [losses.DKD(), losses.KD()], student_loss_weight=0.5,
        distillation_loss_weights=[1.0, 0.3], **kwargs)
    distiller.compile(optimizer=keras.optimizers.SGD(0.05), loss=sparse_ce())
    return distiller


class BatchLogs(keras.callbacks.Callback):
    """Keeps every batch's logs (weights are current values, not means)."""

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


def test_linear_warmup_golden_values():
    warmup = linear_warmup(4, value=2.0)
    assert [warmup(t) for t in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    mdistiller = linear_warmup(20)  # min(epoch / 20, 1), epochs from 1
    assert [mdistiller(e - 1) for e in (1, 10, 20, 30)] == [
        e / 20 if e < 20 else 1.0 for e in (1, 10, 20, 30)]


@pytest.mark.parametrize("kwargs,name", [
    ({"duration": 0}, "duration"), ({"duration": 2.5}, "duration"),
    ({"duration": True}, "duration"),
    ({"duration": 3, "value": -1.0}, "value"),
    ({"duration": 3, "value": math.inf}, "value"),
])
def test_linear_warmup_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        linear_warmup(**kwargs)


def test_step_warmup_gives_planned_weight_and_exact_total():
    distiller = make()
    planned = linear_warmup(5, value=4.0)
    recorder = BatchLogs()
    x, y = data(8)
    # One batch per epoch: the epoch logs are exactly that step's values.
    history = distiller.fit(
        x, y, batch_size=8, epochs=7, verbose=0, shuffle=False,
        callbacks=[LossWeightScheduler({"dkd": planned}, unit="step"),
                   recorder]).history
    np.testing.assert_allclose(history["dkd_weight"],
                               [planned(t) for t in range(7)], rtol=1e-7)
    np.testing.assert_allclose(history["kd_weight"], 0.3, rtol=1e-7)
    np.testing.assert_allclose(history["student_loss_weight"], 0.5)
    by_hand = (0.5 * np.array(history["student_loss"])
               + np.array(history["dkd_weight"]) * history["dkd"]
               + 0.3 * np.array(history["kd"]))
    np.testing.assert_allclose(history["loss"], by_hand, rtol=1e-5)
    assert distiller.term_weights.get("dkd") == 4.0


def test_step_unit_counts_global_steps_across_epochs_and_fits():
    distiller = make()
    planned = linear_warmup(10, value=1.0)
    x, y = data(12)
    for _ in range(2):  # a second fit continues the count
        recorder = BatchLogs()
        distiller.fit(x, y, batch_size=4, epochs=2, verbose=0,
                      callbacks=[LossWeightScheduler({"kd": planned},
                                                     unit="step"), recorder])
        start = int(keras.ops.convert_to_numpy(
            distiller.optimizer.iterations)) - 6
        np.testing.assert_allclose(
            [logs["kd_weight"] for logs in recorder.logs],
            [planned(start + t) for t in range(6)], rtol=1e-6)


def test_epoch_unit_sets_the_weight_before_each_epoch():
    distiller = make()
    recorder = BatchLogs()
    x, y = data(12)
    schedule = {"dkd": lambda epoch: 0.25 * epoch,
                "student_loss": lambda epoch: 1.0 + epoch}
    distiller.fit(x, y, batch_size=4, epochs=3, verbose=0,
                  callbacks=[LossWeightScheduler(schedule), recorder])
    dkd = [logs["dkd_weight"] for logs in recorder.logs]
    ce = [logs["student_loss_weight"] for logs in recorder.logs]
    assert dkd == [0.0] * 3 + [0.25] * 3 + [0.5] * 3
    assert ce == [1.0] * 3 + [2.0] * 3 + [3.0] * 3


def _count_traces(distiller, monkeypatch):
    """A function giving how often the train step has been compiled: the
    Python calls of the step's loss under `jit`/`tf.function` (one per
    trace), dynamo's compiled frames under `torch.compile` on torch (run
    eagerly otherwise, so that there would be nothing to count)."""
    if keras.backend.backend() == "torch":
        import torch
        from torch._dynamo.testing import CompileCounter

        torch._dynamo.reset()
        counter = CompileCounter()
        distiller.train_step = torch.compile(distiller.train_step,
                                             backend=counter)
        return lambda: counter.frame_count
    calls = {"n": 0}

    def counted(*args):
        calls["n"] += 1
        return loss(*args)

    loss = _step.loss
    monkeypatch.setattr(_step, "loss", counted)
    return lambda: calls["n"]


def test_changing_weight_does_not_retrace(monkeypatch):
    x, y = data(16)
    distiller = make()
    traces = _count_traces(distiller, monkeypatch)
    schedule = LossWeightScheduler(
        {"dkd": linear_warmup(8, 2.0), "kd": lambda t: 0.1 * t}, unit="step")
    recorder = BatchLogs()
    per_epoch = []
    distiller.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[
        schedule, recorder, keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: per_epoch.append(traces()))])
    weights = [logs["kd_weight"] for logs in recorder.logs]
    assert len(set(weights)) == 8  # a new weight at every step
    # The first epoch compiled the step; the second, whose weights all
    # differ from the first's, compiled nothing more.
    first, second = per_epoch
    assert first >= 1 and second == first


def test_save_and_load_mid_warmup_continue_at_the_right_weight(tmp_path):
    distiller = make()
    planned = linear_warmup(8, value=2.0)
    x, y = data(8)
    distiller.fit(x, y, batch_size=4, epochs=1, verbose=0,
                  callbacks=[LossWeightScheduler({"dkd": planned},
                                                 unit="step")])
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.term_weights.get("dkd") == planned(1)
    assert loaded.get_config()["distillation_loss_weights"] == [1.0, 0.3]
    # Without a scheduler the loaded model keeps the weight it reached.
    recorder = BatchLogs()
    loaded.fit(x, y, batch_size=4, verbose=0, callbacks=[recorder])
    assert [logs["dkd_weight"] for logs in recorder.logs] == [planned(1)] * 2
    # With it, the step count comes back with the optimizer.
    recorder = BatchLogs()
    loaded.fit(x, y, batch_size=4, verbose=0, callbacks=[
        LossWeightScheduler({"dkd": planned}, unit="step"), recorder])
    np.testing.assert_allclose([logs["dkd_weight"] for logs in recorder.logs],
                               [planned(4), planned(5)], rtol=1e-7)


class KeepLastState(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.weights = weights_of(self.model.student)
        self.steps = int(keras.ops.convert_to_numpy(
            self.model.optimizer.iterations))


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf, "1"])
def test_bad_schedule_value_stops_fit_naming_loss_and_step(bad):
    distiller = make()
    keep = KeepLastState()
    x, y = data(16)
    scheduler = LossWeightScheduler(
        {"kd": lambda t: bad if t == 2 else 1.0}, unit="step")
    with pytest.raises(ValueError, match=r"step 2: The weight of `kd`"):
        distiller.fit(x, y, batch_size=4, epochs=1, verbose=0,
                      callbacks=[scheduler, keep])
    assert keep.steps == 2
    assert int(keras.ops.convert_to_numpy(
        distiller.optimizer.iterations)) == 2
    for kept, now in zip(keep.weights, weights_of(distiller.student)):
        np.testing.assert_array_equal(kept, now)
    assert distiller.term_weights.get("kd") == 1.0


def test_unknown_term_is_an_error_before_training():
    distiller = make()
    x, y = data(8)
    with pytest.raises(ValueError, match=r"\['crd'\].*'student_loss'"):
        distiller.fit(x, y, verbose=0, callbacks=[
            LossWeightScheduler({"crd": linear_warmup(3)})])
    assert int(keras.ops.convert_to_numpy(distiller.optimizer.iterations)) == 0


@pytest.mark.parametrize("kwargs,name", [
    ({"schedule": {"kd": 0.5}}, "schedule"),
    ({"schedule": {"kd": linear_warmup(2)}, "unit": "batch"}, "unit"),
])
def test_bad_scheduler_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LossWeightScheduler(**kwargs)
