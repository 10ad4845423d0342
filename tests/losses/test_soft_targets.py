"""The soft-target losses and the newer logit baselines on every backend:
float64 references, finite-difference gradients, the special cases their
docstrings state, edge cases, and the authors' published formulas."""

import numpy as np
import pytest
from keras import ops

import reference
from grad import value_and_grads
from keras_supcrd import losses
from tests.losses.cases import make_case
from tests.losses.test_edges import _finite_difference

SOFT = {
    "soft_supcrd": (losses.soft_supcrd, reference.soft_supcrd,
                    dict(lam=0.6)),
    "soft_supcrd_prototypes": (losses.soft_supcrd_prototypes,
                               reference.soft_supcrd_prototypes,
                               dict(lam=0.8)),
    "soft_supcrd_decoupled": (losses.soft_supcrd_decoupled,
                              reference.soft_supcrd_decoupled,
                              dict(alpha=0.7, beta=2.0)),
}


def _lib(name, c, **kwargs):
    fn, _, settings = SOFT[name]
    settings = {**settings, **kwargs}
    return lambda s, t, r: fn(s, t, c["labels"], c["teacher_logits"],
                              ref_embeddings=r, ref_labels=c["ref_labels"],
                              **settings)


def _ref(name, c, **kwargs):
    _, fn, settings = SOFT[name]
    settings = {**settings, **kwargs}
    if "standardize" in settings:
        settings["standardize_logits"] = settings.pop("standardize")
    return lambda s, t, r: fn(s, t, c["labels"], c["teacher_logits"], ref=r,
                              ref_y=c["ref_labels"], **settings)


def _args(c):
    return [c["student"], c["teacher"], c["ref_embeddings"]]


CASES = {
    "batch": dict(batch=8, classes=4),
    "bank": dict(batch=8, classes=4, ref=24, empty=7),
    "single": dict(batch=1, classes=3),
    "two_classes": dict(batch=10, classes=2, ref=6, empty=2),
    "large_bank": dict(batch=16, dim=32, classes=10, ref=1008, empty=50),
}


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(SOFT))
def test_matches_float64_reference(name, case, standardize):
    c = make_case(**CASES[case])
    out = ops.convert_to_numpy(_lib(name, c, standardize=standardize)(
        *_args(c)))
    expected = _ref(name, c, standardize=standardize)(*_args(c))
    assert out.shape == expected.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_without_normalisation_matches_reference(name):
    c = make_case(batch=6, dim=5, classes=3, ref=4, empty=1, seed=2)
    for k in ("student", "teacher", "ref_embeddings"):
        c[k] = (c[k] * 0.3).astype("float32")
    out = _lib(name, c, normalize=False, temperature=2.0)(*_args(c))
    np.testing.assert_allclose(
        ops.convert_to_numpy(out),
        _ref(name, c, normalize=False, temperature=2.0)(*_args(c)),
        rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("wrt", [0, 1, 2], ids=["student", "teacher", "ref"])
@pytest.mark.parametrize("name", sorted(SOFT))
def test_gradient_matches_float64_finite_differences(name, wrt):
    c = make_case(batch=5, dim=6, classes=3, ref=4, empty=1, seed=3)
    _, (grad,) = value_and_grads(_lib(name, c), *_args(c), wrt=(wrt,))
    ref_fn = _ref(name, c)
    args64 = [a.astype(np.float64) for a in _args(c)]

    def vary(x):
        return ref_fn(*[x if k == wrt else a for k, a in enumerate(args64)])

    expected = _finite_difference(vary, args64[wrt])
    scale = np.max(np.abs(expected))
    assert scale > 0
    np.testing.assert_allclose(grad, expected, rtol=1e-3, atol=1e-3 * scale)
    if wrt == 2:  # the empty slot takes part in nothing
        np.testing.assert_array_equal(grad[c["ref_labels"] == -1], 0.0)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_compiled_value_and_gradient_equal_eager(name):
    c = make_case(batch=8, classes=4, ref=8, empty=3)
    eager = value_and_grads(_lib(name, c), *_args(c), wrt=(0, 1, 2))
    jit = value_and_grads(_lib(name, c), *_args(c), wrt=(0, 1, 2), jit=True)
    np.testing.assert_allclose(jit[0], eager[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(jit[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _one_hot_logits(c, gap=1e4):
    """Teacher logits whose softmax is exactly one-hot on the label."""
    z = np.zeros_like(c["teacher_logits"])
    z[np.arange(len(z)), c["labels"]] = gap
    return z


def test_soft_supcrd_lam_zero_is_crd():
    c = make_case(batch=8, classes=4, ref=12, empty=3)
    soft = _lib("soft_supcrd", c, lam=0.0)(*_args(c))
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
    out = ops.convert_to_numpy(_lib("soft_supcrd", c, lam=lam)(*_args(c)))
    l_out = _supcon_out(c["student"], c["teacher"], c["labels"],
                        c["ref_embeddings"], c["ref_labels"])
    crd = reference.crd(c["student"], c["teacher"], ref=c["ref_embeddings"],
                        ref_y=c["ref_labels"])
    np.testing.assert_allclose(out, lam * l_out + (1 - lam) * crd,
                               rtol=1e-5)


def test_prototypes_lam_zero_is_cross_entropy_on_the_label():
    c = make_case(batch=6, classes=3, ref=6, empty=1)
    out = ops.convert_to_numpy(_lib("soft_supcrd_prototypes", c,
                                    lam=0.0)(*_args(c)))
    with_one_hot = dict(c, teacher_logits=_one_hot_logits(c))
    np.testing.assert_allclose(
        out, ops.convert_to_numpy(_lib("soft_supcrd_prototypes",
                                       with_one_hot, lam=1.0)(*_args(c))),
        rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_absent_classes_take_no_teacher_mass(name):
    # Class 3 has no row anywhere: what the teacher says of it is ignored.
    c = make_case(batch=8, classes=4, ref=8, empty=2, seed=5)
    c["labels"] = c["labels"] % 3
    c["ref_labels"] = np.where(c["ref_labels"] >= 0, c["ref_labels"] % 3, -1)
    out = _lib(name, c)(*_args(c))
    c["teacher_logits"][:, 3] += 5.0
    np.testing.assert_allclose(ops.convert_to_numpy(_lib(name, c)(*_args(c))),
                               ops.convert_to_numpy(out), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_exact_zero_and_one_probabilities_match_the_reference(name):
    c = make_case(batch=6, dim=6, classes=3, ref=4, empty=1, seed=3)
    c["teacher_logits"] = _one_hot_logits(c)
    value, grads = value_and_grads(_lib(name, c), *_args(c), wrt=(0, 1, 2))
    np.testing.assert_allclose(value, _ref(name, c)(*_args(c)), rtol=1e-4,
                               atol=1e-5)
    assert all(np.all(np.isfinite(g)) for g in grads)
    # A confidently wrong teacher (its label's p = exp(-1e4 / T)): finite.
    c["teacher_logits"] = np.roll(c["teacher_logits"], 1, axis=1)
    value, grads = value_and_grads(_lib(name, c), *_args(c), wrt=(0, 1, 2))
    assert np.all(np.isfinite(value))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("name", sorted(SOFT))
def test_zero_rows_have_zero_gradient(name):
    c = make_case(batch=5, dim=6, classes=3, ref=4, empty=1, seed=3)
    c["student"][2] = 0.0
    c["teacher"][1] = 0.0
    value, grads = value_and_grads(_lib(name, c), *_args(c), wrt=(0, 1))
    np.testing.assert_allclose(value, _ref(name, c)(*_args(c)), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(grads[0][2], 0.0)
    np.testing.assert_array_equal(grads[1][1], 0.0)
    assert all(np.max(np.abs(g)) < 1e3 for g in grads)


def test_decoupled_one_class_set_is_zero_and_two_classes_have_no_nckd():
    c = make_case(batch=6, classes=3, ref=5, empty=2)
    c["labels"][:] = 1
    c["ref_labels"][c["ref_labels"] >= 0] = 1
    value, grads = value_and_grads(_lib("soft_supcrd_decoupled", c),
                                   *_args(c), wrt=(0, 1))
    # 0 up to the rounding of a mass ratio of exactly 1 (XLA may divide by
    # multiplying with a reciprocal).
    np.testing.assert_allclose(value, 0.0, atol=1e-6)
    for g in grads:
        np.testing.assert_allclose(g, 0.0, atol=1e-6)
    c = make_case(batch=8, classes=2, ref=4, empty=1)
    with_beta = _lib("soft_supcrd_decoupled", c, beta=8.0)(*_args(c))
    no_beta = _lib("soft_supcrd_decoupled", c, beta=0.0)(*_args(c))
    np.testing.assert_allclose(ops.convert_to_numpy(with_beta),
                               ops.convert_to_numpy(no_beta), rtol=1e-6)


def test_prototypes_do_not_depend_on_the_bank_layout():
    c = make_case(batch=6, classes=3, ref=10, empty=2, seed=1)
    out = _lib("soft_supcrd_prototypes", c)(*_args(c))
    order = np.random.default_rng(0).permutation(10)
    c["ref_embeddings"] = c["ref_embeddings"][order]
    c["ref_labels"] = c["ref_labels"][order]
    np.testing.assert_allclose(
        ops.convert_to_numpy(_lib("soft_supcrd_prototypes", c)(*_args(c))),
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
    expected = _finite_difference(ref, zs.astype(np.float64))
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


@pytest.mark.parametrize("loss", [
    losses.SoftSupCRD(lam=0.3, kd_temperature=2.0, standardize=True),
    losses.SoftSupCRDPrototypes(lam=0.5, temperature=0.1),
    losses.SoftSupCRDDecoupled(alpha=0.5, beta=4.0),
], ids=lambda l: l.name)
def test_loss_twin_equals_function_and_round_trips(loss):
    import keras

    c = make_case(batch=6, classes=3, ref=4, empty=1)
    y_true = {"labels": c["labels"], "teacher_logits": c["teacher_logits"],
              "teacher_embeddings": c["teacher"],
              "ref_embeddings": c["ref_embeddings"],
              "ref_labels": c["ref_labels"]}
    y_pred = {"student_embeddings": c["student"]}
    fn = {"soft_supcrd": losses.soft_supcrd,
          "soft_supcrd_prototypes": losses.soft_supcrd_prototypes,
          "soft_supcrd_decoupled": losses.soft_supcrd_decoupled}[loss.name]
    per_sample = fn(c["student"], c["teacher"], c["labels"],
                    c["teacher_logits"], ref_embeddings=c["ref_embeddings"],
                    ref_labels=c["ref_labels"], **loss.settings)
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(loss(y_true, y_pred))),
        float(np.mean(ops.convert_to_numpy(per_sample))), rtol=1e-6)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss))
    assert clone.get_config() == loss.get_config()
    np.testing.assert_allclose(ops.convert_to_numpy(clone(y_true, y_pred)),
                               ops.convert_to_numpy(loss(y_true, y_pred)))
