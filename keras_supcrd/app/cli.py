"""The `keras-supcrd` command: `compare` distillation methods under the
study protocol of benchmarks/RESULTS.md (on Fashion-MNIST, or on a user's
teacher and data), and `distill` a user's teacher into a saved student.

`methods()` below is the only name-to-loss table in the project. Nothing
here imports a framework before the arguments are parsed and checked, so
that `--help` and argument errors answer at once and without the
frameworks' start-up lines.
"""

import argparse
import dataclasses
import json
import logging
import os
import sys

import keras_supcrd
from keras_supcrd.app.plan import FIXED_STUDENTS
from keras_supcrd.app.plan import STUDENT_SIZES
from keras_supcrd.app.plan import Augmentation
from keras_supcrd.app.plan import Method
from keras_supcrd.app.plan import Settings
from keras_supcrd.app.plan import combine


class _Losses:
    """`keras_supcrd.losses`, looked up only when a method builds its
    losses: the table costs no framework import (`--help` stays free of
    one; the package imports on first use under this command)."""

    def __getattr__(self, name):
        return getattr(keras_supcrd.losses, name)


losses = _Losses()


WEIGHTS = (0.25, 0.8, 2.5, 7.5)  # CRD's 0.8 (RepDistiller), /3, 3x, 9x
LOGIT_WEIGHTS = (0.3, 1.0, 3.0, 9.0)  # KD's and DKD's 1, /3, 3x, 9x
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
            grid={"weight": (0.7, 2.0, 6.0, 18.0),
                  "temperature": TEMPERATURES}),
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


AUGMENTATIONS = ("crop", "flip", "mixup")
# What `--augment auto` applies: the study's views for images (flips off:
# they are wrong where left and right are different classes); vectors
# are not augmented.
AUTO_IMAGES = ("crop", "mixup")


def augmentation(settings):
    """The `Augmentation` that `settings.augment` names: the per-image
    resized crop and horizontal flip (in the order given), then mixup;
    `"auto"`: `AUTO_IMAGES` on images, nothing on vectors."""
    layers = {
        "crop": lambda: keras_supcrd.layers.RandomResizedCrop(
            scale=(settings.crop_scale, 1.0)),
        "flip": lambda: keras_supcrd.layers.RandomHorizontalFlip(),
    }

    def build(input_shape):
        names = settings.augment
        if names == "auto":
            names = AUTO_IMAGES if len(input_shape) == 3 else ()
        mixup = (keras_supcrd.layers.Mixup(settings.mixup_alpha)
                 if "mixup" in names else None)
        return [layers[n]() for n in names if n in layers], mixup

    return Augmentation(build, settings.teacher_view == "augmented")


def _soft_start():
    return {"weight": 0.8, "lam": 0.5, "kd_temperature": 4.0,
            "standardize": False}


def _soft_grid():
    return {"weight": WEIGHTS, "kd_temperature": TEMPERATURES, "lam": LAMS,
            "standardize": (False, True)}


def resolve(table, names):
    """`name -> Method` for `names`, where `a+b` is methods `a` and `b`
    trained side by side (`plan.combine`); None for an unknown
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
            out[name] = combine({n: table[n] for n in parts})
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


def _factor(text):
    """A positive number, written as a float or a fraction (`1/255`)."""
    top, _, bottom = text.partition("/")
    try:
        value = float(top) / float(bottom or 1)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _augment(text):
    if text == "none":
        return ()
    if text == "auto":
        return text
    names = tuple(n.strip() for n in text.split(","))
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected none, auto or a comma-separated list of distinct "
            f"{', '.join(AUGMENTATIONS)}; got {text}")
    return names


def _augment_text(names):
    return names if isinstance(names, str) else ",".join(names) or "none"


def _fraction(text):
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {value}")
    return value


def _devices(text):
    if text == "all":
        return text
    return _positive(int)(text)


def _student(text):
    """`auto`, `mlp[:UNITS]`, `cnn[:FILTERS]`, `convnet[:FILTERS]`,
    `mobilenetv3small` or a `.keras` file: `(student, {setting: value})`."""
    if text in FIXED_STUDENTS:
        return text, {}
    kind, colon, size = text.partition(":")
    if kind in STUDENT_SIZES:
        if not colon:
            return kind, {}
        if not size.isdigit() or int(size) < 1:
            raise argparse.ArgumentTypeError(
                f"{kind}:N needs a positive integer N, got {text}")
        return kind, {STUDENT_SIZES[kind]: int(size)}
    if text.endswith(".keras"):
        return text, {}
    raise argparse.ArgumentTypeError(
        f"expected auto, mlp[:UNITS], cnn[:FILTERS], convnet[:FILTERS], "
        f"mobilenetv3small or a .keras file, got {text}")


def _assignment(text):
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text}")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{key}: expected a number or true/false, got {value}") from None


def _user_files(c, required):
    """`--teacher` and `--data`: a user's model and data (for `compare`,
    both or neither: without them it is the Fashion-MNIST study)."""
    either = "" if required else " (with --data; default: the study's own " \
        "Fashion-MNIST CNN, cached)"
    c.add_argument("--teacher", required=required, metavar="PATH.keras",
                   help="a trained Keras classifier: logits out, or a final "
                   f"softmax (removed: the losses need logits){either}")
    c.add_argument("--data", required=required, metavar="DIR|FILE.npz",
                   help="class subfolders of images (or train/ and test/ "
                   "holding them), or an .npz of arrays x and y")


def _common(c, d):
    """The arguments `compare` and `distill` share."""
    c.add_argument("--epochs", type=_positive(int), default=d.epochs)
    c.add_argument("--batch-size", type=_positive(int), default=d.batch_size)
    c.add_argument("--learning-rate", type=_positive(float),
                   default=d.learning_rate)
    c.add_argument("--student", type=_student, default=(d.student, {}),
                   help=f"auto (sized for the teacher: at most a quarter of "
                   f"its parameters), mlp[:UNITS] (256), cnn[:FILTERS] (16), "
                   f"convnet[:FILTERS] (pooled, any image size), "
                   f"mobilenetv3small, or a .keras model (used with its "
                   f"saved weights); default {d.student}")
    c.add_argument("--memory-size", type=_non_negative_int,
                   default=d.memory_size)
    c.add_argument("--bank-mode", default=d.bank_mode,
                   help="how the bank's rows become negatives: exact, "
                   "exact_no_grad or stored (Distiller's bank_mode)")
    c.add_argument("--embedding-dim", type=_positive(int),
                   default=d.embedding_dim)
    c.add_argument("--temperature", type=_positive(float),
                   default=d.temperature, help="contrastive tau")
    c.add_argument("--validation-split", type=_positive(float),
                   default=d.validation_split,
                   help="the stratified share of a user's data held out "
                   "for validation")
    c.add_argument("--rescale", type=_factor, default=d.rescale,
                   help="what the teacher's training images were "
                   "multiplied by (default 1/255: [0, 1] pixels; 1 for a "
                   "teacher with its own Rescaling layer); images only")
    c.add_argument("--custom-objects", default=None, metavar="FILE.py",
                   help="a Python file defining the models' custom layers "
                   "(registered with @keras.saving."
                   "register_keras_serializable())")
    c.add_argument("--augment", type=_augment, default=d.augment,
                   help="none, auto (crop and mixup on images, none on "
                   "vectors) or a comma-separated list of crop (a "
                   "per-image random resized crop), flip (horizontal; not "
                   "for data whose left and right differ) and mixup, "
                   "applied to every training batch (default "
                   f"{_augment_text(d.augment)})")
    c.add_argument("--crop-scale", type=_fraction, default=d.crop_scale,
                   help="the crop's smallest share of the image's area")
    c.add_argument("--mixup-alpha", type=_positive(float),
                   default=d.mixup_alpha, help="mixup's Beta parameter")
    c.add_argument("--teacher-view", choices=("augmented", "clean"),
                   default=d.teacher_view,
                   help="what the teacher sees under --augment: the "
                   "student's view (default: consistent teaching) or the "
                   "clean batch")
    c.add_argument("--workers", type=_positive(int), default=d.workers,
                   help="threads reading a user's data ahead of the step "
                   f"(default {d.workers} here)")
    c.add_argument("--devices", type=_devices, default=d.devices,
                   help="local devices each batch is split over: all "
                   "(default) or a count; several under JAX only")
    c.add_argument("--cache-dir", default=None,
                   help="where teachers and their outputs are cached "
                        "(default $KERAS_SUPCRD_CACHE or "
                        "~/.cache/keras_supcrd)")


def parser():
    d = Settings()
    p = argparse.ArgumentParser(
        prog="keras-supcrd",
        description="Contrastive distillation for Keras 3; the backend "
                    "comes from KERAS_BACKEND.")
    sub = p.add_subparsers(dest="command", required=True)
    names = ", ".join(methods(d))
    c = sub.add_parser(
        "compare", help="a teacher, then per method: settings chosen on "
        "the validation split, one student per seed, the test set once")
    _user_files(c, required=False)
    c.add_argument("--methods", default=",".join(d.methods),
                   help=f"comma-separated, from: {names}; `a+b` trains a "
                   "and b together (e.g. supcrd+kd)")
    c.add_argument("--seeds", type=_positive(int), default=d.seeds)
    _common(c, d)
    c.add_argument("--student-hidden", type=_positive(int), default=None,
                   help="the MLP's hidden units (as --student mlp:UNITS)")
    c.add_argument("--student-width", type=_positive(int), default=None,
                   help="the CNN's first convolution's filters (as "
                   "--student cnn:FILTERS)")
    c.add_argument("--validation-size", type=_positive(int),
                   default=d.validation_size,
                   help="Fashion-MNIST's validation images")
    c.add_argument("--test-split", type=_positive(float),
                   default=d.test_split,
                   help="the stratified share of a user's data held out "
                   "for testing, when it has no test/ folder")
    c.add_argument("--student-train-size", type=_positive(int),
                   default=None,
                   help="stratified examples the students train on "
                        f"(default: {d.student_train_size} of "
                        "Fashion-MNIST's, all of a user's; the teacher "
                        "trains on the whole training split)")
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
    c.add_argument("--output", default=d.output)

    t = sub.add_parser(
        "distill", help="distil your teacher into a student on your data; "
        "writes student.keras, history.json and report.md")
    _user_files(t, required=True)
    t.add_argument("--method", default=DISTILL_METHOD,
                   help=f"one of: {names}, or a+b (default "
                   f"{DISTILL_METHOD}, at the settings the study chose: "
                   f"{_settings_text(DISTILL_PARAMS)})")
    t.add_argument("--set", dest="overrides", type=_assignment,
                   action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the method, e.g. --set weight=1 --set "
                   "temperature=4 (the others: the study's choice for the "
                   "default method, the literature's for the rest)")
    t.add_argument("--seed", type=_non_negative_int, default=0)
    t.add_argument("--export", action="append", default=[],
                   choices=("tf_saved_model", "litert", "onnx"),
                   metavar="FORMAT",
                   help="also export the student: tf_saved_model, litert or "
                   "onnx (repeatable); each export is loaded back with its "
                   "runtime and compared with student.keras")
    _common(t, dataclasses.replace(d, student="auto"))
    t.add_argument("--output", required=True, metavar="DIR")
    return p


# What `distill` uses by default: DIST at the settings both soft-target
# studies chose on their validation splits (benchmarks/RESULTS.md, section
# 4), and the consistent-teaching study's fixed views again (section 8):
# the best row on the CNN student, in the top group on the MLP, no bank,
# and it learns the 3-class toy of the tests, where DKD-LS at its chosen
# weight leaves the student at 2 classes. Not augmented by default: at
# 40 epochs augmentation cost every student (section 8, regimes a-c).
DISTILL_METHOD = "dist"
DISTILL_PARAMS = {"weight": 6.0, "temperature": 4.0}


def _settings_text(params):
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


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


def _settings(args, p, **fixed):
    """`Settings` from the parsed arguments that name its fields."""
    student, sizes = args.student
    values = {field.name: getattr(args, field.name)
              for field in dataclasses.fields(Settings)
              if hasattr(args, field.name)
              and getattr(args, field.name) is not None}
    values.update(student=student, **fixed)
    for key, value in sizes.items():
        if values.get(key, value) != value:
            p.error(f"--student {student}:{value} and --{key.replace('_', '-')}"
                    f" {values[key]} disagree")
        values[key] = value
    if values.get("teacher") and not values.get("data"):
        p.error("--teacher needs --data: the images or arrays to distil on")
    if values.get("data") and not values.get("teacher"):
        p.error("--data needs --teacher: the study's own teacher is for "
                "Fashion-MNIST")
    if not 0 < args.validation_split < 1:
        p.error(f"--validation-split must lie in (0, 1), got "
                f"{args.validation_split}")
    return Settings(**values)


def _table(p, settings, names):
    table = resolve(methods(settings), names)
    unknown = [n for n, method in table.items() if method is None]
    if unknown or not names:
        p.error(f"unknown method(s) {unknown}; choose from "
                f"{', '.join(methods(settings))}, or a+b of two of them")
    return table


def _quiet_frameworks():
    """Python-side framework notes (TensorFlow's retracing warnings): only
    noise to a user of this command."""
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def _bank_mode(p, settings):
    from keras_supcrd.layers.memory_bank import MODES as BANK_MODES

    if settings.bank_mode not in BANK_MODES:
        p.error(f"--bank-mode must be one of {', '.join(BANK_MODES)}, got "
                f"{settings.bank_mode}")


def _user_error(p, error):
    """A problem with the user's files: named, before anything ran."""
    p.exit(2, f"{p.prog}: error: {error}\n")


def compare(args, p):
    names = tuple(n.strip() for n in args.methods.split(",") if n.strip())
    settings = _settings(args, p, methods=names)
    if settings.data and args.student_train_size is None:
        settings.student_train_size = None  # all of a user's training part
    if settings.data and not 0 < settings.test_split < 1:
        p.error(f"--test-split must lie in (0, 1), got {settings.test_split}")
    # Combinations first, so that their weights keep their grids; they
    # start from the settings the study runs their parts with.
    table = _table(p, settings, names)
    if args.params:
        table = _chosen(table, args.params)
    _quiet_frameworks()
    _bank_mode(p, settings)
    from keras_supcrd.app import experiment
    from keras_supcrd.app import report

    from keras_supcrd.app.userdata import InputError

    try:
        results = experiment.run(settings, table, augmentation(settings))
    except InputError as error:
        _user_error(p, error)
    if args.params:
        results["params_from"] = args.params
    print()
    print(report.write(results, args.output))
    print(f"Wrote results.json, results.md, accuracy.png, differences.png "
          f"and similarity.png to {os.path.abspath(args.output)}")
    return 0


def distill(args, p):
    settings = _settings(args, p, methods=(args.method,), seeds=1,
                         tune=False, student_train_size=None,
                         export=tuple(dict.fromkeys(args.export)))
    method = _table(p, settings, [args.method])[args.method]
    params = dict(method.start)
    if args.method == DISTILL_METHOD:
        params.update(DISTILL_PARAMS)
    for key, value in args.overrides:
        if key not in params:
            p.error(f"--set {key}: {args.method} has no setting {key!r}; "
                    f"its settings: {', '.join(params) or 'none'}")
        if isinstance(value, bool) != isinstance(params[key], bool):
            p.error(f"--set {key}: expected "
                    f"{'true or false' if isinstance(params[key], bool) else 'a number'}"
                    f", got {value}")
        params[key] = value
    _quiet_frameworks()
    _bank_mode(p, settings)
    from keras_supcrd.app import distill as distillation
    from keras_supcrd.app.export import ExportError
    from keras_supcrd.app.userdata import InputError

    try:
        paths = distillation.run(settings, args.method, method, params,
                                 args.seed, augmentation(settings))
    except InputError as error:
        _user_error(p, error)
    except ExportError as error:
        p.exit(1, f"{p.prog}: error: {error}\n")
    print("Wrote:")
    for name, path in paths.items():
        print(f"  {name}: {os.path.abspath(path)}")
    return 0


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    if argv is None:  # the command line, not a caller in Python
        from keras_supcrd.app.noise import filter_stderr

        filter_stderr()
        # Reproducible TensorFlow kernels (every random op here is
        # seeded); set for this process only, never for a Python caller's.
        os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import keras_supcrd

    keras_supcrd._register_all()  # before any model is loaded or saved
    return {"compare": compare, "distill": distill}[args.command](args, p)


if __name__ == "__main__":
    sys.exit(main())
