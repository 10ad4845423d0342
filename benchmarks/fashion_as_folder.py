"""Writes Fashion-MNIST as a user's image folder (`OUT/train/<class>/*.png`
and `OUT/test/<class>/*.png`), stratified subsets of each split, to run
`keras-supcrd distill` and `compare --data` on as a user would
(benchmarks/RESULTS.md, "Your own data").

Usage: python benchmarks/fashion_as_folder.py OUT [--train 5000] [--test 1000]
"""

import argparse
import os

import numpy as np
from PIL import Image

from keras_supcrd.app.datasets import load_fashion_mnist
from keras_supcrd.app.datasets import stratified_split


def write(folder, x, y, names):
    for i, (image, label) in enumerate(zip(x, y)):
        # The teacher's output i is the i-th folder in sorted order.
        path = os.path.join(folder,
                            f"{label}-{names[label].replace('/', '-')}")
        os.makedirs(path, exist_ok=True)
        Image.fromarray(image, mode="L").save(os.path.join(path, f"{i}.png"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("output")
    p.add_argument("--train", type=int, default=5000)
    p.add_argument("--test", type=int, default=1000)
    args = p.parse_args()
    (x, y), (x_test, y_test), names = load_fashion_mnist()
    _, train = stratified_split(y, args.train, seed=2)
    _, test = stratified_split(y_test, args.test, seed=2)
    write(os.path.join(args.output, "train"), x[train], y[train], names)
    write(os.path.join(args.output, "test"), x_test[test], y_test[test],
          names)
    print(f"Wrote {len(train)} training and {len(test)} test images to "
          f"{args.output}")


if __name__ == "__main__":
    main()
