"""Paired differences of test accuracy between runs of `keras-supcrd compare`.

Each run is a results.json made with the same seeds; the first is the
baseline. For every method in all runs, prints a markdown table of each
run's mean +- std and its paired difference from the baseline (95% t
interval over seeds), in accuracy points.

Run: python benchmarks/paired_runs.py BASE/results.json OTHER/results.json...
"""

import json
import os
import sys

from keras_supcrd.app.stats import paired_difference


def _label(path, results):
    return results["settings"].get("bank_mode") or os.path.dirname(path)


def main(paths):
    runs = [(p, json.load(open(p))) for p in paths]
    methods = set.intersection(*(set(r["methods"]) for _, r in runs))
    lines = ["| method | run | test accuracy (%) | paired vs first "
             "(points, 95% CI) |", "| --- | --- | --- | --- |"]
    for method in sorted(methods):
        base = runs[0][1]["methods"][method]["accuracy"]
        for path, results in runs:
            acc = results["methods"][method]["accuracy"]
            cell = "baseline"
            if results is not runs[0][1]:
                d = paired_difference(acc["values"], base["values"])
                cell = (f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, "
                        f"{100 * d['high']:+.2f}]")
            lines.append(f"| {method} | {_label(path, results)} | "
                         f"{100 * acc['mean']:.2f} +- {100 * acc['std']:.2f} "
                         f"| {cell} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
