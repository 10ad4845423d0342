"""The `keras-supcrd` command: `compare` methods on Fashion-MNIST.

The method-name table below is the only name-to-loss mapping in the
project; a `+` joins entries (`crd+kd`).
"""

import argparse
import dataclasses
import os
import sys

from keras_supcrd import compare as experiment
from keras_supcrd import losses
from keras_supcrd import report
from keras_supcrd.compare import Settings

METHODS = {
    "ce": lambda s: [],
    "kd": lambda s: [losses.KD(temperature=s.kd_temperature)],
    "dkd": lambda s: [losses.DKD(alpha=s.alpha, beta=s.beta,
                                 temperature=s.kd_temperature)],
    "crd": lambda s: [losses.CRD(temperature=s.temperature)],
    "supcrd": lambda s: [losses.SupCRD(temperature=s.temperature)],
    "lw-supcrd": lambda s: [losses.LogitWeightedSupCRD(
        alpha=s.alpha, beta=s.beta, temperature=s.temperature,
        kd_temperature=s.kd_temperature)],
    "lw-supcrd-decoupled": lambda s: [losses.LogitWeightedSupCRD(
        alpha=s.alpha, beta=s.beta, temperature=s.temperature,
        kd_temperature=s.kd_temperature, decoupled=True)],
}
DEFAULT_METHODS = "ce,kd,dkd,crd,supcrd,lw-supcrd"


def method_table(names):
    """Resolves names (with `+` combinations) to loss factories."""
    table = {}
    for name in names:
        parts = name.split("+")
        unknown = [p for p in parts if p not in METHODS]
        if unknown or (len(parts) > 1 and "ce" in parts):
            raise ValueError(
                f"unknown method {name!r}; choose from "
                f"{', '.join(METHODS)} or a '+' of them, e.g. crd+kd")
        factories = [METHODS[p] for p in parts]
        table[name] = (lambda fs: lambda s: [l for f in fs for l in f(s)])(
            factories)
    return table


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {value}")
    return value


def parser():
    d = Settings()
    p = argparse.ArgumentParser(
        prog="keras-supcrd",
        description="Contrastive distillation on Fashion-MNIST; the "
                    "backend comes from KERAS_BACKEND.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="train a teacher, then one student "
                       "per method and seed, and report")
    c.add_argument("--methods", default=DEFAULT_METHODS,
                   help=f"comma-separated, from {', '.join(METHODS)} and "
                        "'+' combinations such as crd+kd, lw-supcrd+kd")
    c.add_argument("--seeds", type=_positive_int, default=d.seeds)
    c.add_argument("--epochs", type=_positive_int, default=d.epochs)
    c.add_argument("--teacher-epochs", type=_positive_int,
                   default=d.teacher_epochs)
    c.add_argument("--batch-size", type=_positive_int,
                   default=d.batch_size)
    c.add_argument("--memory-size", type=_non_negative_int,
                   default=d.memory_size)
    c.add_argument("--embedding-dim", type=_positive_int,
                   default=d.embedding_dim)
    c.add_argument("--alpha", type=float, default=d.alpha)
    c.add_argument("--beta", type=float, default=d.beta)
    c.add_argument("--temperature", type=_positive_float,
                   default=d.temperature)
    c.add_argument("--kd-temperature", type=_positive_float,
                   default=d.kd_temperature)
    c.add_argument("--learning-rate", type=_positive_float,
                   default=d.learning_rate)
    c.add_argument("--data-fraction", type=_fraction,
                   default=d.data_fraction,
                   help="stratified fraction of the training set, in (0, 1]")
    c.add_argument("--data-dir", default=None,
                   help="folder with the four Fashion-MNIST .gz files "
                        "(tried before the usual places)")
    c.add_argument("--output", default=d.output)
    return p


def compare(args, p):
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    try:
        table = method_table(names)
        for factory in table.values():  # bad alpha/beta fail here, early
            factory(args)
    except ValueError as error:
        p.error(str(error))
    settings = Settings(methods=tuple(names), **{
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings) if field.name != "methods"
    })
    results = experiment.run(settings, table)
    print()
    print(report.write(results, args.output))
    print(f"Wrote results.json, results.md, accuracy.png and similarity.png "
          f"to {os.path.abspath(args.output)}")
    return 0


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    return compare(args, p)


if __name__ == "__main__":
    sys.exit(main())
