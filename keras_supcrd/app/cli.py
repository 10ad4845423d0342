"""The `keras-supcrd` command: `compare` distillation methods on
Fashion-MNIST under the study protocol of benchmarks/RESULTS.md.

`methods()` below is the only name-to-loss table in the project.
"""

import argparse
import dataclasses
import json
import os
import sys

from keras_supcrd import losses
from keras_supcrd.distiller import BANK_MODES
from keras_supcrd.app import experiment
from keras_supcrd.app import report
from keras_supcrd.app.experiment import Method
from keras_supcrd.app.experiment import Settings

WEIGHTS = (0.25, 0.8, 2.5)  # CRD's 0.8 (RepDistiller), a third and 3x
LOGIT_WEIGHTS = (0.3, 1.0, 3.0)  # KD's and DKD's 1, a third and 3x
TEMPERATURES = (1.0, 2.0, 4.0)
LAMS = (0.25, 0.5, 1.0)  # the share of the teacher's class target


def methods(settings):
    """Name -> `Method`: literature start and the validation grid."""
    tau = settings.temperature
    return {
        "ce": Method(build=lambda p: []),
        "kd": Method(
            build=lambda p: [losses.KD(temperature=p["temperature"])],
            start={"weight": 1.0, "temperature": 4.0},
            grid={"weight": LOGIT_WEIGHTS, "temperature": TEMPERATURES}),
        "dkd": Method(
            build=lambda p: [losses.DKD(alpha=1.0, beta=8.0,
                                        temperature=p["temperature"])],
            start={"weight": 1.0, "temperature": 4.0},
            grid={"weight": LOGIT_WEIGHTS, "temperature": TEMPERATURES},
            warmup=True),
        "crd": Method(
            build=lambda p: [losses.CRD(temperature=tau)],
            start={"weight": 0.8}, grid={"weight": WEIGHTS}),
        "supcrd": Method(
            build=lambda p: [losses.SupCRD(temperature=tau)],
            start={"weight": 0.8}, grid={"weight": WEIGHTS}),
        "lw-supcrd": Method(
            build=lambda p: [losses.LogitWeightedSupCRD(
                alpha=1.0, beta=p["beta"], temperature=tau,
                kd_temperature=p["kd_temperature"])],
            start={"weight": 0.8, "beta": 8.0, "kd_temperature": 4.0},
            grid={"weight": WEIGHTS, "kd_temperature": TEMPERATURES,
                  "beta": (1.0, 8.0)}),
        "lw-supcrd-decoupled": Method(
            build=lambda p: [losses.LogitWeightedSupCRD(
                alpha=p["alpha"], beta=p["beta"], temperature=tau,
                kd_temperature=p["kd_temperature"], decoupled=True)],
            start={"weight": 0.8, "alpha": 1.0, "beta": 8.0,
                   "kd_temperature": 4.0},
            grid={"weight": WEIGHTS, "kd_temperature": TEMPERATURES,
                  "alpha": (0.5, 1.0, 2.0), "beta": (1.0, 2.0, 8.0)}),
        # Logit standardisation (Sun et al. 2024) starts at their base
        # temperature 2; DIST (Huang et al. 2022) at its CIFAR setting.
        "kd-ls": Method(
            build=lambda p: [losses.KD(temperature=p["temperature"],
                                       standardize=True)],
            start={"weight": 1.0, "temperature": 2.0},
            grid={"weight": LOGIT_WEIGHTS, "temperature": TEMPERATURES}),
        "dkd-ls": Method(
            build=lambda p: [losses.DKD(alpha=1.0, beta=8.0,
                                        temperature=p["temperature"],
                                        standardize=True)],
            start={"weight": 1.0, "temperature": 2.0},
            grid={"weight": LOGIT_WEIGHTS, "temperature": TEMPERATURES},
            warmup=True),
        "dist": Method(
            build=lambda p: [losses.DIST(beta=1.0, gamma=1.0,
                                         temperature=p["temperature"])],
            start={"weight": 2.0, "temperature": 4.0},
            grid={"weight": (0.7, 2.0, 6.0), "temperature": TEMPERATURES}),
        "soft-supcrd": Method(
            build=lambda p: [losses.SoftSupCRD(
                lam=p["lam"], temperature=tau,
                kd_temperature=p["kd_temperature"],
                standardize=p["standardize"])],
            start=_soft_start(), grid=_soft_grid()),
        "soft-supcrd-proto": Method(
            build=lambda p: [losses.SoftSupCRDPrototypes(
                lam=p["lam"], temperature=tau,
                kd_temperature=p["kd_temperature"],
                standardize=p["standardize"])],
            start=_soft_start(), grid=_soft_grid()),
        "soft-supcrd-decoupled": Method(
            build=lambda p: [losses.SoftSupCRDDecoupled(
                alpha=1.0, beta=p["beta"], temperature=tau,
                kd_temperature=p["kd_temperature"],
                standardize=p["standardize"])],
            start={"weight": 0.8, "beta": 1.0, "kd_temperature": 4.0,
                   "standardize": False},
            grid={"weight": WEIGHTS, "kd_temperature": TEMPERATURES,
                  "beta": (1.0, 2.0, 8.0), "standardize": (False, True)}),
    }


def _soft_start():
    return {"weight": 0.8, "lam": 0.5, "kd_temperature": 4.0,
            "standardize": False}


def _soft_grid():
    return {"weight": WEIGHTS, "kd_temperature": TEMPERATURES, "lam": LAMS,
            "standardize": (False, True)}


def resolve(table, names):
    """`name -> Method` for `names`, where `a+b` is methods `a` and `b`
    trained side by side (`experiment.combine`); None for an unknown
    name."""
    out = {}
    for name in names:
        parts = name.split("+")
        if not all(part in table and part != "ce" for part in parts) or (
                len(parts) != len(set(parts))):
            out[name] = table.get(name)
        elif len(parts) == 1:
            out[name] = table[name]
        else:
            out[name] = experiment.combine({n: table[n] for n in parts})
    return out


def _positive(kind):
    def parse(text):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
        return value
    return parse


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parser():
    d = Settings()
    p = argparse.ArgumentParser(
        prog="keras-supcrd",
        description="Contrastive distillation on Fashion-MNIST; the "
                    "backend comes from KERAS_BACKEND.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "compare", help="a cached teacher, then per method: settings chosen "
        "on the validation split, one student per seed, the test set once")
    c.add_argument("--methods", default=",".join(d.methods),
                   help="comma-separated, from: " + ", ".join(
                       methods(d)) + "; `a+b` trains a and b together "
                   "(e.g. supcrd+kd)")
    c.add_argument("--seeds", type=_positive(int), default=d.seeds)
    c.add_argument("--epochs", type=_positive(int), default=d.epochs)
    c.add_argument("--batch-size", type=_positive(int), default=d.batch_size)
    c.add_argument("--learning-rate", type=_positive(float),
                   default=d.learning_rate)
    c.add_argument("--student", choices=sorted(experiment.STUDENTS),
                   default=d.student, help="the MLP or the small CNN")
    c.add_argument("--student-hidden", type=_positive(int),
                   default=d.student_hidden, help="the MLP's hidden units")
    c.add_argument("--student-width", type=_positive(int),
                   default=d.student_width,
                   help="the CNN's first convolution's filters")
    c.add_argument("--memory-size", type=_non_negative_int,
                   default=d.memory_size)
    c.add_argument("--bank-mode", choices=BANK_MODES, default=d.bank_mode,
                   help="how the bank's rows become negatives (Distiller)")
    c.add_argument("--embedding-dim", type=_positive(int),
                   default=d.embedding_dim)
    c.add_argument("--temperature", type=_positive(float),
                   default=d.temperature, help="contrastive tau")
    c.add_argument("--validation-size", type=_positive(int),
                   default=d.validation_size)
    c.add_argument("--student-train-size", type=_positive(int),
                   default=d.student_train_size,
                   help="stratified images the students train on (the "
                        "teacher trains on the whole training split)")
    c.add_argument("--no-tune", dest="tune", action="store_false",
                   help="skip the validation search; use each method's "
                        "literature settings, or those of --params")
    c.add_argument("--params", default=None,
                   help="a results.json whose chosen settings to use, "
                        "e.g. the full study's; its methods are not "
                        "searched again, the others are (unless "
                        "--no-tune)")
    c.add_argument("--teacher-epochs", type=_positive(int),
                   default=d.teacher_epochs)
    c.add_argument("--teacher-width", type=_positive(int),
                   default=d.teacher_width)
    c.add_argument("--data-dir", default=None,
                   help="folder with the four Fashion-MNIST .gz files "
                        "(tried before the usual places)")
    c.add_argument("--cache-dir", default=None,
                   help="where the teacher and its outputs are cached "
                        "(default $KERAS_SUPCRD_CACHE or "
                        "~/.cache/keras_supcrd)")
    c.add_argument("--output", default=d.output)
    return p


def _chosen(table, path):
    """`table` with each method that `path` chose settings for fixed at
    them (no search); the others keep their start and grid."""
    with open(path) as f:
        chosen = json.load(f)["methods"]
    for name, row in chosen.items():
        if name in table and set(row["params"]) == set(table[name].start):
            table[name] = dataclasses.replace(table[name],
                                              start=row["params"], grid={})
    return table


def compare(args, p):
    names = tuple(n.strip() for n in args.methods.split(",") if n.strip())
    settings = Settings(methods=names, **{
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings) if field.name != "methods"
    })
    # Combinations first, so that their weights keep their grids; they
    # start from the settings the study runs their parts with.
    table = resolve(methods(settings), names)
    unknown = [n for n, method in table.items() if method is None]
    if unknown or not names:
        p.error(f"unknown method(s) {unknown}; choose from "
                f"{', '.join(methods(settings))}, or a+b of two of them")
    if args.params:
        table = _chosen(table, args.params)
    # Reproducible TensorFlow kernels (every random op here is seeded).
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    results = experiment.run(settings, table)
    if args.params:
        results["params_from"] = args.params
    print()
    print(report.write(results, args.output))
    print(f"Wrote results.json, results.md, accuracy.png, differences.png "
          f"and similarity.png to {os.path.abspath(args.output)}")
    return 0


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    return compare(args, p)


if __name__ == "__main__":
    sys.exit(main())
