"""Distiller train step against (student train step + teacher inference step).

A KerasCV ResNetV2 teacher and a smaller KerasCV MobileNetV3 student, batch
64 of 32x32x3 images, all variants timed round-robin in one process
(`--quick`: two tiny plain CNNs, for the tests):

- `student_step`: `student.train_on_batch` (the floor's first part);
- `teacher_step`: `teacher.predict_on_batch` (the floor's second part);
- `distiller_K`: our `Distiller.train_on_batch` with LogitWeightedSupCRD + KD
  and a memory bank of K teacher features, in each `bank_mode` for K > 0
  (`_exact`, `_exact_no_grad`, `_stored`);
- `cached_K`: the same Distiller trained from `teacher_outputs` (no teacher
  pass in the step), whose floor is the student step alone;
- `keras_distillation`: `keras.distillation.Distiller` with
  `FeatureDistillation` on the same pair (the anchor: it runs the student a
  second time to get features).

Run: KERAS_BACKEND=jax python benchmarks/step_overhead.py [--quick]
     KERAS_BACKEND=tensorflow python benchmarks/step_overhead.py --jit-compile true
"""

import argparse
import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import describe, emit, interleaved  # noqa: E402

from keras_supcrd import Distiller, teacher_outputs  # noqa: E402
from keras_supcrd.losses import KD, LogitWeightedSupCRD  # noqa: E402

CLASSES = 10


def _tiny(width, name):
    # --quick checks the script's plumbing, not KerasCV (the docs' KerasCV
    # block and example run in the tests): small plain CNNs keep JAX's
    # compile time out of the test run.
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(CLASSES, name="predictions")], name=name)


def models(quick):
    if quick:
        return _tiny(16, "teacher"), _tiny(8, "student")
    import keras_cv

    width = 2
    teacher = keras_cv.models.ImageClassifier(
        keras_cv.models.ResNetV2Backbone(
            stackwise_filters=[16 * width, 32 * width, 64 * width],
            stackwise_blocks=[2, 2, 2], stackwise_strides=[1, 2, 2],
            include_rescaling=False, input_shape=(32, 32, 3)),
        num_classes=CLASSES, activation=None)
    student = keras_cv.models.ImageClassifier(
        keras_cv.models.MobileNetV3Backbone(
            stackwise_expansion=[1, 4, 4], stackwise_filters=[8, 16, 24],
            stackwise_kernel_size=[3, 3, 5], stackwise_stride=[2, 2, 2],
            stackwise_se_ratio=[0.25, None, 0.25],
            stackwise_activation=["relu", "hard_swish", "hard_swish"],
            include_rescaling=False, input_shape=(32, 32, 3)),
        num_classes=CLASSES, activation=None)
    return teacher, student


def ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and few repeats (for tests)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--memory-sizes", default="0,16384")
    parser.add_argument("--bank-modes", default="exact,exact_no_grad,stored")
    parser.add_argument(
        "--jit-compile", default="auto", choices=["auto", "true", "false"],
        help="passed to every model's compile (true: XLA on TensorFlow, "
             "torch.compile on PyTorch)")
    parser.add_argument("--output", default=None, help="write JSON here")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 20)
    batch = 8 if args.quick else args.batch_size
    memory_sizes = [0, 64] if args.quick else [
        int(k) for k in args.memory_sizes.split(",")]

    rng = np.random.default_rng(0)
    x = rng.random((batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, CLASSES, batch)

    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    teacher, student = models(args.quick)
    student.compile(optimizer="sgd", loss=ce(), jit_compile=jit)
    teacher.compile(loss=ce(), jit_compile=jit)
    callables = {
        "student_step": lambda: student.train_on_batch(x, y),
        "teacher_step": lambda: teacher.predict_on_batch(x),
    }
    def distiller(k, mode):
        t, s = models(args.quick)
        d = Distiller(t, s, [LogitWeightedSupCRD(), KD()], memory_size=k,
                bank_mode=mode)
        d.compile(optimizer="sgd", loss=ce(), jit_compile=jit)
        return d

    cached = teacher_outputs(teacher, x, verbose=0)
    for k in memory_sizes:
        modes = args.bank_modes.split(",") if k else ["exact"]
        for mode in modes:
            name = f"distiller_K{k}" + (f"_{mode}" if k else "")
            callables[name] = (
                lambda d=distiller(k, mode): d.train_on_batch(x, y))
        # Cached outputs pay off when nothing else re-runs the teacher side.
        mode = "stored" if k else "exact"
        callables[f"cached_K{k}" + (f"_{mode}" if k else "")] = (
            lambda d=distiller(k, mode): d.train_on_batch(cached, y))
    t, s = models(args.quick)
    anchor = keras.distillation.Distiller(
        t, s, keras.distillation.FeatureDistillation(
            teacher_layer_name="predictions",
            student_layer_name="predictions"))
    anchor.compile(optimizer="sgd", loss=ce(), jit_compile=jit)
    callables["keras_distillation"] = lambda: anchor.train_on_batch(x, y)

    seconds = interleaved(callables, repeats)
    floor = seconds["student_step"] + seconds["teacher_step"]
    result = {
        **describe(),
        "benchmark": "step_overhead",
        "batch_size": batch,
        "repeats": repeats,
        "jit_compile": args.jit_compile,
        "median_ms": {k: round(v * 1e3, 3) for k, v in seconds.items()},
        "ratio_to_floor": {
            k: round(v / floor, 3) for k, v in seconds.items()
            if k.startswith(("distiller", "keras"))
        },
        # Without a teacher pass in the step, the floor is the student's.
        "ratio_to_student_step": {
            k: round(v / seconds["student_step"], 3)
            for k, v in seconds.items() if k.startswith("cached")
        },
    }
    emit(result, args.output)
    return result


if __name__ == "__main__":
    main()
