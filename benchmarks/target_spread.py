"""How far the study teacher's non-target probabilities spread across
classes, at each temperature, with and without logit standardisation: the
room a soft target has to carry class similarity (RESULTS.md, "Target
spread"). Measured on the students' training split (what the losses see).

Per setting: the mean non-target mass `1 - p_y`; the mean entropy of the
renormalised non-target distribution `q` as a share of `log 9` (1 is
uniform: nothing to carry); the mean share of the largest non-target
class; and the mean `KL(q || uniform)` in nats (what a target can pull
the student's class distribution away from uniform by).

Usage: KERAS_BACKEND=tensorflow python benchmarks/target_spread.py [--output F]
"""

import argparse
import json

import numpy as np

from keras_supcrd.app import experiment

TEMPERATURES = (1.0, 2.0, 4.0, 8.0)


def _standardize(z):
    return (z - z.mean(1, keepdims=True)) / z.std(1, ddof=1, keepdims=True)


def spread(z, y, temperature):
    z = z / temperature
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    rest = np.ones_like(p, bool)
    rest[np.arange(len(y)), y] = False
    q = p[rest].reshape(len(y), -1)
    q = q / q.sum(1, keepdims=True)
    k = q.shape[1]
    entropy = -np.sum(np.where(q > 0, q * np.log(np.where(q > 0, q, 1)), 0),
                      1)
    return {"non_target_mass": float(np.mean(1 - p[np.arange(len(y)), y])),
            "entropy_share": float(np.mean(entropy) / np.log(k)),
            "top_share": float(np.mean(q.max(1))),
            "kl_to_uniform": float(np.mean(np.log(k) - entropy))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    settings = experiment.Settings()
    data = experiment.prepare_data(settings)
    teacher, _ = experiment.load_teacher(settings, data)
    data = experiment._student_subset(data, settings.student_train_size)
    y = data.train.y
    study = experiment.Study(settings, teacher, data)
    z = study.cached["teacher_logits"].astype(np.float64)
    rows = []
    for standardize in (False, True):
        logits = _standardize(z) if standardize else z
        for t in TEMPERATURES:
            rows.append({"temperature": t, "standardize": standardize,
                         **spread(logits, y, t)})
    print("| T | standardised | 1 - p_y | H(q) / log 9 | top non-target "
          "share | KL(q \\|\\| uniform) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['temperature']:g} | {r['standardize']} | "
              f"{r['non_target_mass']:.3f} | {r['entropy_share']:.3f} | "
              f"{r['top_share']:.3f} | {r['kl_to_uniform']:.3f} |")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
