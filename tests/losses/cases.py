"""Random inputs shared by the loss tests."""

import numpy as np


def make_case(batch=8, dim=16, classes=4, ref=0, empty=0, seed=0,
              logit_scale=3.0):
    """Student/teacher embeddings, labels, teacher logits, optional bank.

    `empty` of the `ref` reference rows are empty slots: label -1 and an
    all-zero row, as a fresh memory bank holds.
    """
    rng = np.random.default_rng(seed)
    case = {
        "student": rng.normal(size=(batch, dim)).astype("float32"),
        "teacher": rng.normal(size=(batch, dim)).astype("float32"),
        "labels": rng.integers(0, classes, size=batch).astype("int32"),
        "teacher_logits": (logit_scale * rng.normal(size=(batch, classes))
                           ).astype("float32"),
        "ref_embeddings": None,
        "ref_labels": None,
    }
    if ref:
        bank = rng.normal(size=(ref, dim)).astype("float32")
        bank_labels = rng.integers(0, classes, size=ref).astype("int32")
        slots = rng.choice(ref, size=empty, replace=False)
        bank[slots] = 0.0
        bank_labels[slots] = -1
        case["ref_embeddings"], case["ref_labels"] = bank, bank_labels
    return case
