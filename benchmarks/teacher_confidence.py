"""Distribution of the teacher's probability of the true class on the
training images, at several kd_temperatures: are the logit weights of the
logit-weighted loss saturated?

Usage: python benchmarks/teacher_confidence.py TEACHER.keras [--data-fraction F]
"""

import argparse

import keras
import numpy as np

from keras_supcrd.compare import Settings, prepare_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher")
    parser.add_argument("--data-fraction", type=float,
                        default=Settings.data_fraction)
    parser.add_argument("--temperatures", default="1,4")
    args = parser.parse_args(argv)
    x, y, _, _, _ = prepare_data(Settings(data_fraction=args.data_fraction))
    teacher = keras.saving.load_model(args.teacher)
    logits = teacher.predict(x, batch_size=256, verbose=0).astype("float64")
    print("| kd_temperature | mean p(y) | p10 | p50 | p90 | share > 0.99 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for t in (float(v) for v in args.temperatures.split(",")):
        z = logits / t
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        target = p[np.arange(len(y)), y]
        q10, q50, q90 = np.quantile(target, [0.1, 0.5, 0.9])
        print(f"| {t:g} | {target.mean():.3f} | {q10:.3f} | {q50:.3f} | "
              f"{q90:.3f} | {np.mean(target > 0.99):.1%} |")


if __name__ == "__main__":
    main()
