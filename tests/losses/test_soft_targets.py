"""The soft-target losses and the newer logit baselines on every backend:
float64 references, finite-difference gradients, the special cases their
docstrings state, edge cases, and the authors' published formulas."""

import numpy as np
import pytest
from keras import ops

import reference
from tests.losses import registry
from grad import value_and_grads
from keras_supcrd import losses
from tests.losses.cases import make_case

SOFT = sorted(registry.SOFT)

def _one_hot_logits(c, gap=1e4):
    """Teacher logits whose softmax is exactly one-hot on the label."""
    z = np.zeros_like(c["teacher_logits"])
    z[np.arange(len(z)), c["labels"]] = gap
    return z


def test_soft_supcrd_lam_zero_is_crd():
    c = make_case(batch=8, classes=4, ref=12, empty=3)
    soft = registry.library("soft_supcrd", c, lam=0.0)(*registry.inputs(c))
    crd = losses.crd(c["student"], c["teacher"],
                     ref_embeddings=c["ref_embeddings"],
                     ref_labels=c["ref_labels"])
    np.testing.assert_allclose(ops.convert_to_numpy(soft),
                               ops.convert_to_numpy(crd), rtol=1e-5)


def _supcon_out(s, t, y, ref, ref_y, temperature=0.07):
    """SupCon's L_out, from its definition: the mean over positives of
    -log softmax, the anchor's own row among them."""
    s, c = reference._unit(s), reference._unit(np.concatenate([t, ref]))
    cy = np.concatenate([y, ref_y])
    out = np.zeros(len(s))
    for i in range(len(s)):
        logits = c @ s[i] / temperature
        valid = cy != -1
        log_sm = logits - np.log(np.exp(logits[valid]).sum())
        out[i] = -np.mean(log_sm[cy == y[i]])
    return out


@pytest.mark.parametrize("lam", [1.0, 0.3])
def test_soft_supcrd_with_a_one_hot_teacher_is_supcon_l_out_and_crd(lam):
    c = make_case(batch=8, classes=4, ref=12, empty=3)
    c["teacher_logits"] = _one_hot_logits(c)
    out = ops.convert_to_numpy(registry.library("soft_supcrd", c, lam=lam)(*registry.inputs(c)))
    l_out = _supcon_out(c["student"], c["teacher"], c["labels"],
                        c["ref_embeddings"], c["ref_labels"])
    crd = reference.crd(c["student"], c["teacher"], ref=c["ref_embeddings"],
                        ref_y=c["ref_labels"])
    np.testing.assert_allclose(out, lam * l_out + (1 - lam) * crd,
                               rtol=1e-5)


def test_prototypes_lam_zero_is_cross_entropy_on_the_label():
    c = make_case(batch=6, classes=3, ref=6, empty=1)
    out = ops.convert_to_numpy(registry.library("soft_supcrd_prototypes", c,
                                    lam=0.0)(*registry.inputs(c)))
    with_one_hot = dict(c, teacher_logits=_one_hot_logits(c))
    np.testing.assert_allclose(
        out, ops.convert_to_numpy(registry.library("soft_supcrd_prototypes",
                                       with_one_hot, lam=1.0)(*registry.inputs(c))),
        rtol=1e-5)


@pytest.mark.parametrize("name", SOFT)
def test_absent_classes_take_no_teacher_mass(name):
    # Class 3 has no row anywhere: what the teacher says of it is ignored.
    c = make_case(batch=8, classes=4, ref=8, empty=2, seed=5)
    c["labels"] = c["labels"] % 3
    c["ref_labels"] = np.where(c["ref_labels"] >= 0, c["ref_labels"] % 3, -1)
    out = registry.library(name, c)(*registry.inputs(c))
    c["teacher_logits"][:, 3] += 5.0
    np.testing.assert_allclose(ops.convert_to_numpy(registry.library(name, c)(*registry.inputs(c))),
                               ops.convert_to_numpy(out), rtol=1e-5)


@pytest.mark.parametrize("name", SOFT)
def test_exact_zero_and_one_probabilities_match_the_reference(name):
    c = make_case(batch=6, dim=6, classes=3, ref=4, empty=1, seed=3)
    c["teacher_logits"] = _one_hot_logits(c)
    value, grads = value_and_grads(registry.library(name, c), *registry.inputs(c), wrt=(0, 1, 2))
    np.testing.assert_allclose(value, registry.reference_of(name, c)(*registry.inputs(c)), rtol=1e-4,
                               atol=1e-5)
    assert all(np.all(np.isfinite(g)) for g in grads)
    # A confidently wrong teacher (its label's p = exp(-1e4 / T)): finite.
    c["teacher_logits"] = np.roll(c["teacher_logits"], 1, axis=1)
    value, grads = value_and_grads(registry.library(name, c), *registry.inputs(c), wrt=(0, 1, 2))
    assert np.all(np.isfinite(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_decoupled_one_class_set_is_zero_and_two_classes_have_no_nckd():
    c = make_case(batch=6, classes=3, ref=5, empty=2)
    c["labels"][:] = 1
    c["ref_labels"][c["ref_labels"] >= 0] = 1
    value, grads = value_and_grads(registry.library("soft_supcrd_decoupled", c),
                                   *registry.inputs(c), wrt=(0, 1))
    # 0 up to the rounding of a mass ratio of exactly 1 (XLA may divide by
    # multiplying with a reciprocal).
    np.testing.assert_allclose(value, 0.0, atol=1e-6)
    for g in grads:
        np.testing.assert_allclose(g, 0.0, atol=1e-6)
    c = make_case(batch=8, classes=2, ref=4, empty=1)
    with_beta = registry.library("soft_supcrd_decoupled", c, beta=8.0)(*registry.inputs(c))
    no_beta = registry.library("soft_supcrd_decoupled", c, beta=0.0)(*registry.inputs(c))
    np.testing.assert_allclose(ops.convert_to_numpy(with_beta),
                               ops.convert_to_numpy(no_beta), rtol=1e-6)


def test_prototypes_do_not_depend_on_the_bank_layout():
    c = make_case(batch=6, classes=3, ref=10, empty=2, seed=1)
    out = registry.library("soft_supcrd_prototypes", c)(*registry.inputs(c))
    order = np.random.default_rng(0).permutation(10)
    c["ref_embeddings"] = c["ref_embeddings"][order]
    c["ref_labels"] = c["ref_labels"][order]
    np.testing.assert_allclose(
        ops.convert_to_numpy(registry.library("soft_supcrd_prototypes", c)(*registry.inputs(c))),
        ops.convert_to_numpy(out), rtol=1e-5)


# The logit baselines. `_authors_*` are vectorised transcriptions of the
# formulas in the authors' published code (logit-standardization-KD's
# `normalize` + mdistiller's `kd_loss`/`dkd_loss`; DIST's `dist_kd.py`),
# written out in numpy, not copied.

def _authors_standardize(z):
    z = np.asarray(z, np.float64)
    return (z - z.mean(-1, keepdims=True)) / (
        1e-7 + z.std(-1, ddof=1, keepdims=True))


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _authors_kd_ls(zs, zt, temperature):
    log_s = _log_softmax(_authors_standardize(zs) / temperature)
    p_t = np.exp(_log_softmax(_authors_standardize(zt) / temperature))
    return (p_t * (np.log(p_t) - log_s)).sum(1) * temperature**2


def _authors_dist(zs, zt, beta, gamma, temperature):
    def pearson(a, b):
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1)
                                 * np.linalg.norm(b, axis=1) + 1e-8)

    y_s = np.exp(_log_softmax(np.asarray(zs, np.float64) / temperature))
    y_t = np.exp(_log_softmax(np.asarray(zt, np.float64) / temperature))
    inter = temperature**2 * (1 - pearson(y_s, y_t).mean())
    intra = temperature**2 * (1 - pearson(y_s.T, y_t.T).mean())
    return beta * inter + gamma * intra


def _logits(seed, batch=16, classes=10):
    rng = np.random.default_rng(seed)
    return [(3 * rng.normal(size=(batch, classes))).astype("float32")
            for _ in range(2)] + [rng.integers(0, classes, batch)]


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kd_standardized_is_the_authors_formula(temperature):
    zs, zt, _ = _logits(0)
    out = ops.convert_to_numpy(losses.kd(zs, zt, temperature=temperature,
                                         standardize=True))
    np.testing.assert_allclose(out, _authors_kd_ls(zs, zt, temperature),
                               rtol=1e-5)


def test_dkd_standardized_is_dkd_of_standardized_logits():
    zs, zt, y = _logits(1)
    out = ops.convert_to_numpy(losses.dkd(zs, zt, y, beta=8.0,
                                          temperature=2.0, standardize=True))
    np.testing.assert_allclose(
        out, reference.dkd(_authors_standardize(zs), _authors_standardize(zt),
                           y, beta=8.0, temperature=2.0), rtol=1e-4)


@pytest.mark.parametrize("beta,gamma,temperature", [(1, 1, 1), (2, 2, 4)])
def test_dist_batch_mean_is_the_authors_formula(beta, gamma, temperature):
    zs, zt, _ = _logits(2)
    out = ops.convert_to_numpy(losses.dist(
        zs, zt, beta=beta, gamma=gamma, temperature=temperature))
    np.testing.assert_allclose(out.mean(), _authors_dist(
        zs, zt, beta, gamma, temperature), rtol=1e-5)
    np.testing.assert_allclose(out, reference.dist(
        zs, zt, beta, gamma, temperature), rtol=1e-5)


@pytest.mark.parametrize("loss", ["kd", "dkd", "dist"])
def test_logit_baseline_gradients_match_finite_differences(loss):
    zs, zt, y = _logits(3, batch=5, classes=4)
    lib, ref = {
        "kd": (lambda s: losses.kd(s, zt, temperature=2.0, standardize=True),
               lambda s: reference.kd(reference.standardize(s),
                                      reference.standardize(zt), 2.0)),
        "dkd": (lambda s: losses.dkd(s, zt, y, standardize=True),
                lambda s: reference.dkd(reference.standardize(s),
                                        reference.standardize(zt), y)),
        "dist": (lambda s: losses.dist(s, zt), lambda s: reference.dist(
            s, zt)),
    }[loss]
    _, (grad,) = value_and_grads(lib, zs)
    expected = registry.finite_difference(ref, zs.astype(np.float64))
    np.testing.assert_allclose(grad, expected, rtol=1e-3,
                               atol=1e-3 * np.max(np.abs(expected)))


def test_equal_logits_standardize_to_zeros_with_zero_gradient():
    zs, zt, y = _logits(4, batch=4, classes=3)
    zs[1] = 2.5  # a student row of equal logits (a zero-initialised head)
    for fn in (lambda s: losses.kd(s, zt, standardize=True),
               lambda s: losses.dkd(s, zt, y, standardize=True)):
        value, (grad,) = value_and_grads(fn, zs)
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
        np.testing.assert_array_equal(grad[1], 0.0)
    uniform = np.full((4, 3), 0.7, "float32")
    value, (grad,) = value_and_grads(lambda s: losses.dist(s, zt), uniform)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("call,argument", [
    (lambda c: losses.soft_supcrd(c["student"], c["teacher"], c["labels"],
                                  c["teacher_logits"], lam=1.5), "lam"),
    (lambda c: losses.SoftSupCRDPrototypes(lam=-0.1), "lam"),
    (lambda c: losses.SoftSupCRDDecoupled(beta=-1.0), "beta"),
    (lambda c: losses.soft_supcrd(c["student"], c["teacher"], c["labels"],
                                  c["teacher_logits"], kd_temperature=0.0),
     "kd_temperature"),
    (lambda c: losses.soft_supcrd_decoupled(
        c["student"], c["teacher"], c["labels"] + 10, c["teacher_logits"]),
     "labels"),
    (lambda c: losses.soft_supcrd_prototypes(
        c["student"], c["teacher"], c["labels"], c["teacher_logits"],
        ref_embeddings=c["student"]), "ref_labels"),
    (lambda c: losses.DIST(gamma=-1.0), "gamma"),
    (lambda c: losses.kd(c["teacher_logits"][:, :1],
                         c["teacher_logits"][:, :1], standardize=True),
     "2 classes"),
])
def test_bad_arguments_name_themselves(call, argument):
    c = make_case(batch=4, classes=3)
    with pytest.raises(ValueError, match=argument):
        call(c)
