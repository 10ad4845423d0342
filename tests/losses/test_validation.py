"""Bad input raises ValueError naming the argument."""

import numpy as np
import pytest

from keras_supcrd import losses
from tests.losses.cases import make_case

C = make_case(batch=4, classes=3, ref=4, empty=1)
S, T, Y, Z = C["student"], C["teacher"], C["labels"], C["teacher_logits"]
R, RY = C["ref_embeddings"], C["ref_labels"]


def lw(**overrides):
    args = dict(student=S, teacher=T, labels=Y, teacher_logits=Z)
    args.update(overrides)
    return losses.logit_weighted_supcrd(
        args.pop("student"), args.pop("teacher"), args.pop("labels"),
        args.pop("teacher_logits"), **args)


BAD = {
    "batch_mismatch_teacher": (lambda: losses.crd(S, T[:3]), "teacher"),
    "dim_mismatch": (lambda: losses.crd(S, T[:, :5]), "teacher"),
    "rank_student": (lambda: losses.crd(S[0], T), "student"),
    "rank_labels": (lambda: losses.supcrd(S, T, Y[:, None]), "labels"),
    "labels_batch": (lambda: losses.supcrd(S, T, Y[:3]), "labels"),
    "negative_labels": (lambda: losses.supcrd(S, T, Y - 5), "labels"),
    "missing_labels": (lambda: losses.supcrd(S, T, None), "labels"),
    "ref_dim": (lambda: losses.crd(S, T, ref_embeddings=R[:, :3]),
                "ref_embeddings"),
    "ref_labels_len": (lambda: losses.supcrd(
        S, T, Y, ref_embeddings=R, ref_labels=RY[:2]), "ref_labels"),
    "ref_labels_missing": (lambda: losses.supcrd(S, T, Y, ref_embeddings=R),
                           "ref_labels"),
    "ref_labels_below": (lambda: losses.supcrd(
        S, T, Y, ref_embeddings=R, ref_labels=RY - 3), "ref_labels"),
    "temperature_zero": (lambda: losses.crd(S, T, temperature=0.0),
                         "temperature"),
    "temperature_negative": (lambda: losses.supcrd(S, T, Y, temperature=-1),
                             "temperature"),
    "kd_temperature": (lambda: lw(kd_temperature=0), "kd_temperature"),
    "alpha_negative": (lambda: lw(alpha=-1.0), "alpha"),
    "alpha_zero_coupled": (lambda: lw(alpha=0.0), "alpha"),
    "beta_negative": (lambda: lw(beta=-0.5), "beta"),
    "logits_rank": (lambda: lw(teacher_logits=Z[0]), "teacher_logits"),
    "logits_batch": (lambda: lw(teacher_logits=Z[:2]), "teacher_logits"),
    "classes_do_not_cover_labels": (
        lambda: lw(teacher_logits=Z[:, :1]), "labels"),
    "ref_label_beyond_classes": (lambda: lw(
        ref_embeddings=R, ref_labels=np.array([0, 1, 2, 3])), "ref_labels"),
    "kd_shapes": (lambda: losses.kd(Z, Z[:, :2]), "teacher_logits"),
    "kd_rank": (lambda: losses.kd(Z[0], Z), "student_logits"),
    "kd_temperature_zero": (lambda: losses.kd(Z, Z, temperature=0),
                            "temperature"),
    "dkd_label_range": (lambda: losses.dkd(Z, Z, Y + 3), "labels"),
    "dkd_beta": (lambda: losses.dkd(Z, Z, Y, beta=-1), "beta"),
    "dkd_one_class": (lambda: losses.dkd(Z[:, :1], Z[:, :1], Y * 0),
                      "student_logits"),
    "class_temperature": (lambda: losses.CRD(temperature=0), "temperature"),
    "class_alpha": (lambda: losses.LogitWeightedSupCRD(alpha=-2), "alpha"),
    "class_beta": (lambda: losses.DKD(beta=-2), "beta"),
    "class_kd_temperature": (lambda: losses.KD(temperature=-4),
                             "temperature"),
    "class_missing_key": (lambda: losses.SupCRD()(
        {"teacher_embeddings": T}, {"student_embeddings": S}), "labels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_the_argument(case):
    call, argument = BAD[case]
    with pytest.raises(ValueError, match=f"`{argument}`"):
        call()


def test_decoupled_accepts_zero_alpha():
    out = lw(alpha=0.0, decoupled=True)
    assert np.all(np.isfinite(np.asarray(out)))
