"""The tables of the consistent-teaching study (benchmarks/RESULTS.md,
section 8) from its `results.json` files, paired by seed, in points.

Prints, for the regimes found under OUT (a fixed views, b consistent,
c teacher on the clean image, d patient):
- each method's test accuracy per regime with b - c and b - a;
- its gain over the student alone per regime, and gain in b - gain in a;
- for d: against the student alone in d, d - b and d - a;
- for e: against the student alone in e, e - a, and d - e (what
  augmentation adds at 4x the epochs).

Run: python benchmarks/augment_tables.py benchmarks/results/augment_study_cnn

With a second folder, BEFORE (the same study before
`benchmarks/edge_search.py` widened its grids), it prints instead, for
each regime found in both, what the widening changed: each method's
settings and test accuracy before and after, paired by seed.
"""

import json
import os
import sys

import numpy as np

from keras_supcrd.app.stats import paired_difference


def _load(out, regime):
    path = os.path.join(out, regime, "results.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["methods"]


def _values(run, method):
    return np.asarray(run[method]["accuracy"]["values"], np.float64)


def _cell(a, b):
    """`a - b` paired by seed, in points, with its 95% interval."""
    d = paired_difference(a, b)
    return (f"{100 * d['mean']:+.2f} [{100 * d['low']:+.2f}, "
            f"{100 * d['high']:+.2f}]")


def _accuracy(run, method):
    acc = run[method]["accuracy"]
    return f"{acc['mean']:.4f} ± {acc['std']:.4f}"


def _gain(run, method):
    return _values(run, method) - _values(run, "ce")


def _settings(run, method):
    params = run[method]["params"]
    return " ".join(f"{k.split('.')[-1]} {v:g}" if not isinstance(v, bool)
                    else f"{k.split('.')[-1]} {v}" for k, v in params.items())


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def regimes_abc(a, b, c):
    methods = [m for m in a if m in b and m in c]
    accuracy = _table(
        ["method", "a: fixed views", "b: consistent",
         "c: teacher on the clean image", "b - c", "b - a"],
        [[m, _accuracy(a, m), _accuracy(b, m), _accuracy(c, m),
          _cell(_values(b, m), _values(c, m)),
          _cell(_values(b, m), _values(a, m))] for m in methods])
    gains = _table(
        ["method", "gain in a", "gain in b", "gain in c",
         "gain in b - gain in a", "settings a / b / c"],
        [[m, _cell(_values(a, m), _values(a, "ce")),
          _cell(_values(b, m), _values(b, "ce")),
          _cell(_values(c, m), _values(c, "ce")),
          _cell(_gain(b, m), _gain(a, m)),
          " / ".join(_settings(r, m) for r in (a, b, c))]
         for m in methods if m != "ce"])
    return accuracy + "\n\n" + gains


def regime_d(a, b, d):
    return _table(
        ["method", "d: 4x the epochs", "vs student alone in d", "d - b",
         "d - a (same method)"],
        [[m, _accuracy(d, m),
          "" if m == "ce" else _cell(_values(d, m), _values(d, "ce")),
          _cell(_values(d, m), _values(b, m)),
          _cell(_values(d, m), _values(a, m))] for m in d])


def regime_e(a, d, e):
    return _table(
        ["method", "e: fixed views, 4x the epochs", "vs student alone in e",
         "e - a (same method)", "d - e (augmentation, same method)"],
        [[m, _accuracy(e, m),
          "" if m == "ce" else _cell(_values(e, m), _values(e, "ce")),
          _cell(_values(e, m), _values(a, m)),
          _cell(_values(d, m), _values(e, m)) if d and m in d else ""]
         for m in e])


def widened(before, after):
    return _table(
        ["method", "settings before", "settings after", "test before",
         "test after", "after - before"],
        [[m, _settings(before, m) or "-", _settings(after, m) or "-",
          _accuracy(before, m), _accuracy(after, m),
          _cell(_values(after, m), _values(before, m))]
         for m in after if m != "ce"])


def compare_widened(out, before):
    for regime in "abc":
        new, old = _load(out, regime), _load(before, regime)
        if new and old:
            print(f"\nRegime {regime}:\n")
            print(widened(old, new))


def main(out):
    a, b, c, d, e = (_load(out, r) for r in "abcde")
    if a and b and c:
        print(regimes_abc(a, b, c))
    if a and b and d:
        print()
        print(regime_d(a, b, d))
    if a and e:
        print()
        print(regime_e(a, d, e))


if __name__ == "__main__":
    if len(sys.argv) > 2:
        compare_widened(sys.argv[1], sys.argv[2])
    else:
        main(sys.argv[1])
