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


def _unit(x, zero_rows=()):
    """Unit rows; `zero_rows` are zero at the step's point and stay 0 with
    no dependence on the parameters (the library's zero-row semantics:
    finite differences there would step off the zero row into a
    direction)."""
    out = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-300)
    out[list(zero_rows)] = 0.0
    return out


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _dense(p, h, layer):
    return h @ p[f"{layer}/kernel"] + p[f"{layer}/bias"]


def _degenerate(p, x, t_feat):
    """Where the step's point sits on a kink, found at the parameters `p`:
    ReLU inputs exactly 0 (every backend takes the derivative 0 there;
    finite differences would see 1/2) and embedding rows exactly 0 (no
    direction: the library gives them a zero gradient; finite differences
    would step off them into a direction)."""
    hidden = np.maximum(_dense(p, x, "student/dense_s"), 0.0)
    s_emb = _dense(p, hidden, "distiller/student_head/dense")
    t_emb = _dense(p, t_feat, "distiller/teacher_head/dense")
    return {"kink": _dense(p, x, "student/dense_s") == 0,
            "student": np.flatnonzero(~s_emb.any(axis=1)),
            "teacher": np.flatnonzero(~t_emb.any(axis=1))}


def _total(p, x, y, t_feat, t_logits, ref, bank_labels, frozen):
    """The Distiller's loss in float64; `p` maps variable paths to arrays,
    `ref(p)` gives the bank's rows as negatives, `frozen` the kinks of
    `_degenerate`, held at their derivative 0."""
    def dense(h, layer):
        return _dense(p, h, layer)

    hidden = np.where(frozen["kink"], 0.0,
                      np.maximum(dense(x, "student/dense_s"), 0.0))
    z_s = dense(hidden, "student/predictions")
    s_emb = _unit(dense(hidden, "distiller/student_head/dense"),
                  frozen["student"])
    t_emb = _unit(dense(t_feat, "distiller/teacher_head/dense"),
                  frozen["teacher"])
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


def _distiller(bank_mode, memory_size=12):
    # Seeded: the student's and the heads' initial weights (not only the
    # data) decide whether a batch holds a zero feature row.
    keras.utils.set_random_seed(0)
    student = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(8, activation="relu", name="dense_s"),
        keras.layers.Dense(3, name="predictions")], name="student")
    teacher = classifier(16, name="teacher")
    distiller = Distiller(
        teacher, student, [losses.LogitWeightedSupCRD(), losses.KD()],
        distillation_loss_weights=list(WEIGHTS),
        student_loss_weight=STUDENT_WEIGHT, embedding_dim=4,
        memory_size=memory_size, bank_mode=bank_mode)
    distiller.compile(optimizer=keras.optimizers.SGD(LR), loss=sparse_ce())
    return distiller


def _check_step(distiller, bank_mode, x, y):
    """One `train_on_batch` moves every variable by -LR * the float64
    gradient; returns the teacher features and the variables after it."""
    variables = distiller.trainable_variables
    assert len(variables) == 8  # student 4, each head 2; teacher frozen
    before = {v.path: ops.convert_to_numpy(v).astype(np.float64)
              for v in variables}
    teacher_before = weights_of(distiller.teacher)
    t_feat, t_logits = (ops.convert_to_numpy(a).astype(np.float64)
                        for a in distiller.teacher_view(x, training=False))
    bank_feat = ops.convert_to_numpy(
        distiller.memory_bank.features).astype(np.float64)
    bank_labels = ops.convert_to_numpy(distiller.memory_bank.labels)
    ref = _bank_rows(bank_mode, bank_feat, before)
    x = x.astype(np.float64)
    frozen = _degenerate(before, x, t_feat)

    def total(params):
        return _total(params, x, y, t_feat, t_logits, ref, bank_labels,
                      frozen)

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
    for a, b in zip(teacher_before, weights_of(distiller.teacher)):
        np.testing.assert_array_equal(a, b)
    after = {v.path: ops.convert_to_numpy(v) for v in variables}
    return t_feat, after, frozen


@pytest.mark.parametrize("bank_mode", ["exact", "exact_no_grad", "stored"])
def test_one_sgd_step_is_minus_lr_times_the_float64_gradient(bank_mode):
    distiller = _distiller(bank_mode)
    x, y = data(16, seed=2)
    distiller.train_on_batch(x[:8], y[:8])  # fills 8 of the 12 bank slots
    x, y = x[8:], y[8:]
    assert np.sum(ops.convert_to_numpy(distiller.memory_bank.labels) == -1
                  ) == 4  # empty slots take part too
    t_feat, after, _ = _check_step(distiller, bank_mode, x, y)
    # The step wrote its 8 rows into slots 8-11 and 0-3.
    written = ops.convert_to_numpy(distiller.memory_bank.features)[
        [8, 9, 10, 11, 0, 1, 2, 3]]
    if bank_mode == "stored":  # the embeddings under the updated head
        t_feat = _unit(_dense(after, t_feat, "distiller/teacher_head/dense"))
    np.testing.assert_allclose(written, t_feat, rtol=1e-5, atol=1e-6)


def test_a_zero_feature_row_adds_no_gradient_through_its_normalisation():
    # A zero input through ReLU layers whose biases start at 0 gives exact
    # zero features on both sides, and heads with zero bias map them to
    # zero embedding rows. Their normalisation's derivative used to be
    # 1 / epsilon = 1e12: the step set the heads' biases to ~1e22.
    distiller = _distiller("exact", memory_size=8)
    x, y = data(8, seed=2)
    x[3] = 0.0
    features = [ops.convert_to_numpy(view(x, training=False)[0])[3]
                for view in (distiller.teacher_view,
                             distiller.student_view)]
    np.testing.assert_array_equal(np.concatenate(features), 0.0)
    _, after, frozen = _check_step(distiller, "exact", x, y)
    assert 3 in frozen["student"] and 3 in frozen["teacher"]
    assert max(np.max(np.abs(w)) for w in after.values()) < 10.0
