"""Degenerate inputs: zero rows, equal rows, one class, an empty bank,
duplicated rows, saturated teachers, two-class DKD.

For each, value and gradient are finite and match the float64 reference
(gradients by central finite differences), on every backend. A zero row
(no direction) normalises to 0 with a zero gradient: its logits are 0
against every row, it stays in the sets it belongs to, and nothing flows
back into it (`_contrast.l2_normalize`).
"""

import numpy as np
import pytest

import reference
from tests.losses import registry
from grad import value_and_grads
from keras_supcrd import losses
from tests.losses.cases import make_case

CONTRASTIVE = sorted(registry.CONTRASTIVE)
EMBEDDING = sorted(registry.EMBEDDING)

INPUTS = ("student", "teacher", "ref")


def _check_against_reference(name, c, skip_rows=None, fn_wrap=None):
    """Value and all three gradients against the float64 reference.

    `skip_rows[k]` are rows of input k whose gradient must be exactly 0
    (zero rows) instead of the finite differences there, which step off
    the zero row into a direction and so do not describe it.
    """
    skip_rows = skip_rows or {}
    fn = registry.library(name, c)
    fn = fn_wrap(fn) if fn_wrap else fn
    value, grads = value_and_grads(fn, *registry.inputs(c), wrt=(0, 1, 2))
    ref_fn = registry.reference_of(name, c)
    args64 = [a.astype(np.float64) for a in registry.inputs(c)]
    np.testing.assert_allclose(value, ref_fn(*args64), rtol=1e-5, atol=1e-5)
    for k, grad in enumerate(grads):
        assert np.all(np.isfinite(grad)), INPUTS[k]

        def vary(x, k=k):
            return ref_fn(*[x if j == k else a for j, a in enumerate(args64)])

        expected = registry.finite_difference(vary, args64[k])
        keep = np.ones(len(grad), bool)
        keep[list(skip_rows.get(k, []))] = False
        np.testing.assert_array_equal(grad[~keep], 0.0)
        if not keep.any():
            continue
        # Where the exact gradient is 0 (all rows equal), float32 leaves
        # rounding of the size of the value's last digits.
        scale = max(np.max(np.abs(expected[keep])),
                    1e-3 * max(1.0, np.max(np.abs(value))))
        np.testing.assert_allclose(grad[keep], expected[keep], rtol=1e-3,
                                   atol=1e-3 * scale, err_msg=INPUTS[k])
    return value, grads


def _case():
    return make_case(batch=5, dim=6, classes=3, ref=4, empty=1, seed=3)


@pytest.mark.parametrize("side", [0, 1, 2], ids=INPUTS)
@pytest.mark.parametrize("name", EMBEDDING)
def test_zero_row_has_zero_gradient_and_exact_others(name, side):
    c = _case()
    key = ("student", "teacher", "ref_embeddings")[side]
    row = 2 if side < 2 else int(np.flatnonzero(c["ref_labels"] >= 0)[0])
    c[key][row] = 0.0  # a valid row, not an empty slot
    _, grads = _check_against_reference(name, c, skip_rows={side: [row]})
    # The neighbours' gradients are of ordinary size (old code: ~1e12 here).
    assert np.max(np.abs(grads[side])) < 1e3


@pytest.mark.parametrize("name", EMBEDDING)
def test_zero_rows_have_zero_gradients(name, compiled):
    c = _case()
    c["student"][1] = 0.0
    c["teacher"][3] = 0.0
    value, grads = value_and_grads(registry.library(name, c),
                                   *registry.inputs(c), wrt=(0, 1),
                                   jit=compiled)
    np.testing.assert_allclose(
        value, registry.reference_of(name, c)(*registry.inputs(c)),
        rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(grads[0][1], 0.0)
    np.testing.assert_array_equal(grads[1][3], 0.0)
    assert all(np.all(np.isfinite(g)) and np.max(np.abs(g)) < 1e3
               for g in grads)


def test_tiny_rows_are_zero_rows_and_nan_rows_stay_nan():
    from keras import ops
    from keras_supcrd.losses._contrast import l2_normalize

    x = np.array([[1e-13, 0.0], [0.0, 0.0], [3.0, 4.0], [np.nan, 1.0]],
                 "float32")
    out = ops.convert_to_numpy(l2_normalize(x))
    np.testing.assert_array_equal(out[:2], 0.0)
    np.testing.assert_allclose(out[2], [0.6, 0.8], rtol=1e-6)
    assert np.all(np.isnan(out[3]))  # the guard must still see it


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_all_rows_identical(name):
    # Every logit equal: each anchor's softmax is uniform over its set.
    c = _case()
    for key in ("student", "teacher", "ref_embeddings"):
        c[key][:] = c["student"][0]
    c["ref_embeddings"][c["ref_labels"] == -1] = 0.0
    _check_against_reference(name, c)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_duplicated_rows(name):
    c = _case()
    for key in ("student", "teacher"):
        c[key][4] = c[key][1]
    c["labels"][4] = c["labels"][1]
    c["teacher_logits"][4] = c["teacher_logits"][1]
    _check_against_reference(name, c)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_one_class_batch_matches_reference(name):
    c = _case()
    c["labels"][:] = 1
    c["ref_labels"][c["ref_labels"] >= 0] = 1
    _check_against_reference(name, c)


@pytest.mark.parametrize("name", CONTRASTIVE)
def test_all_empty_bank_equals_no_bank(name):
    c = make_case(batch=5, dim=6, classes=3, ref=4, empty=4, seed=3)
    _check_against_reference(name, c, skip_rows={2: range(4)})
    without = dict(c, ref_embeddings=None, ref_labels=None)
    fn, bare = registry.library(name, c), registry.library(name, without)
    np.testing.assert_allclose(
        value_and_grads(fn, *registry.inputs(c))[0],
        value_and_grads(lambda s, t: bare(s, t, None), c["student"],
                        c["teacher"])[0], rtol=1e-5)


@pytest.mark.parametrize("name", ["lw", "lw_decoupled"])
def test_teacher_logit_gap_of_1e4_matches_reference(name):
    c = _case()
    z = np.zeros_like(c["teacher_logits"])
    z[np.arange(len(z)), c["labels"]] = 1e4  # p exactly 1 and 0
    c["teacher_logits"] = z
    # (A confidently wrong teacher, p_y = exp(-1e4 / T), has no float64
    # reference; test_edges checks that it stays finite.)
    _check_against_reference(name, c)


@pytest.mark.parametrize("loss", ["kd", "dkd"])
def test_logit_losses_with_a_gap_of_1e4(loss):
    c = make_case(batch=4, classes=3, seed=1)
    y = c["labels"]
    zt = np.zeros((4, 3), "float32")
    zt[np.arange(4), y] = 1e4
    zs = (c["student"][:, :3] * 2).astype("float32")
    c["teacher_logits"] = zt
    lib = registry.logit_library(loss, c, temperature=1.0)
    ref = registry.logit_reference_of(loss, c, temperature=1.0)
    value, (grad,) = value_and_grads(lib, zs)
    np.testing.assert_allclose(value, ref(zs.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(
        grad, registry.finite_difference(ref, zs.astype(np.float64)), rtol=1e-3,
        atol=1e-4)


def test_dkd_with_two_classes_has_no_non_target_term():
    # One non-target class: its renormalised distribution is [1] on both
    # sides, so NCKD is 0 and beta changes nothing; TCKD is all of DKD.
    c = make_case(batch=6, classes=2, seed=4)
    zs, zt, y = c["student"][:, :2] * 2, c["teacher_logits"], c["labels"]
    value, (grad,) = value_and_grads(
        lambda s: losses.dkd(s, zt, y, beta=8.0), zs)
    no_beta, (grad_0,) = value_and_grads(
        lambda s: losses.dkd(s, zt, y, beta=0.0), zs)
    np.testing.assert_allclose(value, no_beta, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, grad_0, rtol=1e-5, atol=1e-7)
    ref = lambda s: reference.dkd(s, zt, y)  # noqa: E731
    np.testing.assert_allclose(value, ref(zs.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(
        grad, registry.finite_difference(ref, zs.astype(np.float64)), rtol=1e-3,
        atol=1e-4)
