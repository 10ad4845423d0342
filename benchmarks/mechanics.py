"""What the logit weights of docs/method.md §3 do, measured on the study's
teacher (RESULTS.md, "Mechanics").

1. Teacher confidence `p_i[y_i]` on the training split at each
   kd_temperature: are the weights saturated?
2. Spread of the push weights `1 - p_i[c]` over each anchor's non-target
   classes: if they all sit near 1, the semantic weighting does nothing.
3. The coupled form's effect on each anchor's gradient. With
   `lw_i = softplus(log N_i - log A_i)`, the gradient of `lw_i` with respect
   to anchor i's logits `l_ij` has total mass `2 * sigma_i`, with
   `sigma_i = N_i / (A_i + N_i) = 1 - exp(-lw_i)`: the pull weight
   `p_i[y_i]` only scales `A_i`, so a less confident anchor gets a LARGER
   gradient. This measures `sigma_i` by confidence decile, for lw-supcrd and
   for the same loss with `p_i[y_i]` set to 1, on embeddings of a student
   distilled for `--epochs` with lw-supcrd (in-batch plus a bank of the
   other training rows).

Usage: KERAS_BACKEND=tensorflow python benchmarks/mechanics.py [--epochs 3]
"""

import argparse
import json

import keras
import numpy as np

from keras_supcrd import Distiller
from keras_supcrd import losses
from keras_supcrd.app import experiment
from keras_supcrd.app import models

TEMPERATURES = (1.0, 2.0, 4.0)


def softmax(z, t):
    z = z / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confidence_table(logits, y):
    rows = []
    for t in TEMPERATURES:
        p = softmax(logits, t)
        target = p[np.arange(len(y)), y]
        others = np.where(np.eye(p.shape[1], dtype=bool)[y], np.nan, 1 - p)
        rows.append({
            "kd_temperature": t,
            "p_target_mean": float(target.mean()),
            "p_target_quantiles_10_50_90": np.quantile(
                target, [0.1, 0.5, 0.9]).tolist(),
            "share_p_target_above_0.99": float(np.mean(target > 0.99)),
            "push_min_per_anchor_median": float(np.median(
                np.nanmin(others, axis=1))),
            "push_weights_below_0.9": float(np.nanmean(others < 0.9)),
            "push_weights_below_0.99": float(np.nanmean(others < 0.99)),
            "push_max_over_min_per_anchor_median": float(np.median(
                np.nanmax(others, axis=1) / np.nanmin(others, axis=1))),
        })
    return rows


def sigma(s, c, y, yc, p, tau, beta, pull):
    """sigma_i = N_i / (A_i + N_i) of the coupled loss, float64, in log
    space; `pull` is the (B,) pull weight p_i[y_i] (or ones)."""
    l = (s @ c.T) / tau
    valid = yc[None, :] >= 0
    pos = (yc[None, :] == y[:, None]) & valid
    neg = valid & ~pos
    push = np.log(beta) + np.log1p(-p[:, np.maximum(yc, 0)])
    m = l.max(axis=1, keepdims=True)
    log_a = (np.log(pull) + m[:, 0]
             + np.log(np.where(pos, np.exp(l - m), 0).sum(1)))
    log_n = m[:, 0] + np.log(np.where(neg, np.exp(l + push - m), 0).sum(1))
    return 1.0 / (1.0 + np.exp(log_a - log_n))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--kd-temperature", type=float, default=4.0)
    parser.add_argument("--beta", type=float, default=8.0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    settings = experiment.Settings()
    data = experiment.prepare_data(settings)
    x, y = data.train.arrays()
    teacher, _ = experiment.load_teacher(settings, data)
    study = experiment.Study(settings, teacher, data)
    logits = study.cached["teacher_logits"].astype(np.float64)
    result = {"confidence": confidence_table(logits, y)}

    keras.utils.set_random_seed(0)
    student = models.mlp_student(x.shape[1:], 10)
    loss = losses.LogitWeightedSupCRD(beta=args.beta,
                                      kd_temperature=args.kd_temperature)
    distiller = Distiller(teacher, student, loss, embedding_dim=64,
                          memory_size=0)
    distiller.compile(optimizer="adam", loss=keras.losses
                      .SparseCategoricalCrossentropy(from_logits=True))
    distiller.fit(study.cached, y, batch_size=256, epochs=args.epochs,
                  verbose=2)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(y), 256 + 4096, replace=False)
    anchors = rows[:256]  # the reference set: all 256 + 4096 rows
    embed_s = keras.ops.convert_to_numpy(distiller.student_head(
        distiller.student_view(x[anchors])[0])).astype(np.float64)
    embed_t = keras.ops.convert_to_numpy(distiller.teacher_head(
        study.cached["teacher_features"][rows])).astype(np.float64)
    yc = y[rows]
    p = softmax(logits[anchors], args.kd_temperature)
    target = p[np.arange(256), y[anchors]]
    coupled = sigma(embed_s, embed_t, y[anchors], yc, p, 0.07, args.beta,
                    target)
    unit_pull = sigma(embed_s, embed_t, y[anchors], yc, p, 0.07, args.beta,
                      np.ones(256))
    order = np.argsort(target)
    deciles = np.array_split(order, 10)
    result["gradient"] = {
        "kd_temperature": args.kd_temperature, "beta": args.beta,
        "p_target_by_decile": [float(target[d].mean()) for d in deciles],
        "sigma_lw_by_decile": [float(coupled[d].mean()) for d in deciles],
        "sigma_unit_pull_by_decile": [float(unit_pull[d].mean())
                                      for d in deciles],
        "ratio_lw_over_unit_pull_by_decile": [
            float((coupled[d] / unit_pull[d]).mean()) for d in deciles],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
