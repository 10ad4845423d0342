"""One Distiller step moves every trainable variable by exactly -lr * grad.

The gradient is taken by central finite differences of a float64 numpy
total written from the maths (`tests/reference.py` for the losses), with
the bank re-projected through the teacher head, so the check covers what
trains the student, both heads and the teacher head through the bank.
"""

import keras
import numpy as np
import pytest
from keras import ops

import reference
from keras_supcrd import Distiller
from keras_supcrd import losses
from models import classifier
from models import data
from models import sparse_ce
from models import weights_of

LR, WEIGHTS, STUDENT_WEIGHT = 0.1, (0.7, 0.2), 0.5


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _dense(p, h, layer):
    return h @ p[f"{layer}/kernel"] + p[f"{layer}/bias"]


def _total(p, x, y, t_feat, t_logits, ref, bank_labels):
    """The Distiller's loss in float64; `p` maps variable paths to arrays,
    `ref(p)` gives the bank's rows as negatives."""
    def dense(h, layer):
        return _dense(p, h, layer)

    hidden = np.maximum(dense(x, "student/dense_s"), 0.0)
    z_s = dense(hidden, "student/predictions")
    s_emb = _unit(dense(hidden, "distiller/student_head/dense"))
    t_emb = _unit(dense(t_feat, "distiller/teacher_head/dense"))
    ce = -np.mean(_log_softmax(z_s)[np.arange(len(y)), y])
    lw = np.mean(reference.logit_weighted_supcrd(
        s_emb, t_emb, y, t_logits, ref=ref(p), ref_y=bank_labels))
    kd = np.mean(reference.kd(z_s, t_logits))
    return STUDENT_WEIGHT * ce + WEIGHTS[0] * lw + WEIGHTS[1] * kd


def _finite_difference_grads(params, total, eps=1e-6):
    grads = {}
    for path, value in params.items():
        grad = np.zeros_like(value)
        for idx in np.ndindex(*value.shape):
            saved = value[idx]
            value[idx] = saved + eps
            up = total(params)
            value[idx] = saved - eps
            down = total(params)
            value[idx] = saved
            grad[idx] = (up - down) / (2 * eps)
        grads[path] = grad
    return grads


def _bank_rows(mode, bank, before):
    """The bank's negatives as each `bank_mode` defines them."""
    head = "distiller/teacher_head/dense"
    if mode == "exact":  # re-projected by the head being differentiated
        return lambda p: _unit(_dense(p, bank, head))
    if mode == "exact_no_grad":  # the same values, constant
        fixed = _unit(_dense(before, bank, head))
        return lambda p: fixed
    return lambda p: bank  # "stored": the embeddings as written


@pytest.mark.parametrize("bank_mode", ["exact", "exact_no_grad", "stored"])
def test_one_sgd_step_is_minus_lr_times_the_float64_gradient(bank_mode):
    student = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu", name="dense_s"),
        keras.layers.Dense(3, name="predictions")], name="student")
    teacher = classifier(16, name="teacher")
    distiller = Distiller(
        teacher, student, [losses.LogitWeightedSupCRD(), losses.KD()],
        distillation_loss_weights=list(WEIGHTS),
        student_loss_weight=STUDENT_WEIGHT, embedding_dim=4, memory_size=12,
        bank_mode=bank_mode)
    distiller.compile(optimizer=keras.optimizers.SGD(LR), loss=sparse_ce())
    x, y = data(16, seed=2)
    distiller.train_on_batch(x[:8], y[:8])  # fills 8 of the 12 bank slots
    x, y = x[8:], y[8:]
    variables = distiller.trainable_variables
    assert len(variables) == 8  # student 4, each head 2; teacher frozen
    before = {v.path: ops.convert_to_numpy(v).astype(np.float64)
              for v in variables}
    teacher_before = weights_of(teacher)
    t_feat, t_logits = (ops.convert_to_numpy(a).astype(np.float64)
                        for a in distiller._teacher_view(x, training=False))
    bank_feat = ops.convert_to_numpy(
        distiller.memory_bank.features).astype(np.float64)
    bank_labels = ops.convert_to_numpy(distiller.memory_bank.labels)
    assert np.sum(bank_labels == -1) == 4  # empty slots take part too

    ref = _bank_rows(bank_mode, bank_feat, before)

    def total(params):
        return _total(params, x.astype(np.float64), y, t_feat, t_logits,
                      ref, bank_labels)

    grads = _finite_difference_grads(
        {k: v.copy() for k, v in before.items()}, total)
    distiller.train_on_batch(x, y)
    for v in variables:
        moved = ops.convert_to_numpy(v).astype(np.float64) - before[v.path]
        expected = -LR * grads[v.path]
        scale = np.max(np.abs(expected))
        assert scale > 0, v.path
        np.testing.assert_allclose(moved, expected, rtol=1e-3,
                                   atol=2e-3 * scale, err_msg=v.path)
    for a, b in zip(teacher_before, weights_of(teacher)):
        np.testing.assert_array_equal(a, b)
    # The step wrote its 8 rows into slots 8-11 and 0-3.
    written = ops.convert_to_numpy(distiller.memory_bank.features)[
        [8, 9, 10, 11, 0, 1, 2, 3]]
    if bank_mode == "stored":  # the embeddings under the updated head
        after = {v.path: ops.convert_to_numpy(v) for v in variables}
        t_feat = _unit(_dense(after, t_feat, "distiller/teacher_head/dense"))
    np.testing.assert_allclose(written, t_feat, rtol=1e-5, atol=1e-6)
