"""The semantic-geometry score: does the student share the teacher's map?"""

import numpy as np


def class_similarity(features, labels, num_classes):
    """Cosine similarities between the centred class centroids of `features`.

    The features are centred on their global mean first: ReLU features are
    all non-negative, so raw centroid cosines all sit near 1 and say little
    about which classes are close; centred, they spread over [-1, 1].

    Args:
        features: (N, d) array.
        labels: (N,) integer array.
        num_classes: C.

    Returns:
        (C, C) float64 array; a class without samples gets a zero centroid.
    """
    features = np.asarray(features, np.float64)
    features = features - features.mean(axis=0)
    centroids = np.zeros((num_classes, features.shape[1]))
    for c in range(num_classes):
        members = features[labels == c]
        if len(members):
            centroids[c] = members.mean(axis=0)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    unit = centroids / np.maximum(norms, 1e-12)
    return unit @ unit.T


def _ranks(values):
    """Ranks from 1, ties sharing their average rank (as Spearman needs)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of two 1-D arrays (nan if constant)."""
    ra, rb = _ranks(np.asarray(a)), _ranks(np.asarray(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator else float("nan")


def semantic_geometry_score(teacher_similarity, student_similarity):
    """Spearman correlation of the off-diagonal class similarities.

    The logit weights of docs/method.md §3 are meant to make the student learn
    the teacher's semantic similarity map; this measures it: 1 means the
    student ranks class pairs exactly as the teacher does.

    Args:
        teacher_similarity: (C, C) matrix from `class_similarity`.
        student_similarity: (C, C) matrix from `class_similarity`.

    Returns:
        A float in [-1, 1].

    Example:

    ```python
    import numpy as np
    from keras_supcrd.app.geometry import semantic_geometry_score
    m = np.array([[1.0, 0.2, 0.9], [0.2, 1.0, 0.1], [0.9, 0.1, 1.0]])
    score = semantic_geometry_score(m, m)  # 1.0
    ```
    """
    off = ~np.eye(len(teacher_similarity), dtype=bool)
    return spearman(teacher_similarity[off], student_similarity[off])
