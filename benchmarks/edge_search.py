"""Widen a finished `keras-supcrd compare` search where it chose an edge.

A setting chosen at the end of its grid says only that the best value
lies at or beyond it. This driver reads OUTPUT/results.json, finds every
numeric setting whose chosen value is its grid's lowest or highest, adds
the next value beyond it (the grid's own ratio at that end), and runs the
same `compare` again with the wider grids. Finished runs are cached
(OUTPUT/runs), so a widened setting that loses costs one validation run;
one that wins re-runs the search from there and the test seeds.

The search is coordinate-wise, so a new value that wins one coordinate
can lead the later ones to a point worse on validation than the old
choice (seen in the consistent-teaching study, benchmarks/RESULTS.md
section 8). Each method therefore keeps, of the searches before and after
the widening, the one whose choice scored higher on validation (ties:
before); the test set never decides. It repeats until no choice sits at
an edge, or for `--rounds` rounds (1 by default: one step past the edges
found only noise in that study), and records the added values in
OUTPUT/grid_extensions.json.

Usage (the compare arguments of the run being widened, unchanged):
    KERAS_BACKEND=tensorflow TF_DETERMINISTIC_OPS=1 \\
    .venv/bin/python benchmarks/edge_search.py [--rounds N] -- \\
        compare --student mlp --output DIR --methods ... [...]
"""

import argparse
import dataclasses
import json
import math
import os
import sys

from keras_supcrd.app import cli
from keras_supcrd.app import experiment
from keras_supcrd.app import report

# Settings with a natural end: lam is a share of the teacher's target.
BOUNDS = {"lam": (0.0, 1.0)}


class _NothingToWiden(Exception):
    pass


def _beyond(values, chosen, key):
    """The value one grid step beyond `chosen`, or None inside the grid."""
    values = sorted(values)
    if len(values) < 2 or chosen not in (values[0], values[-1]):
        return None
    end, next_in = ((values[0], values[1]) if chosen == values[0]
                    else (values[-1], values[-2]))
    value = end * end / next_in  # one step of the grid's own ratio
    value = float(f"{value:.2g}")
    low, high = BOUNDS.get(key.split(".")[-1], (0.0, math.inf))
    return value if low < value < high else None


def _edges(table, rows):
    """`{method: {key: value}}`: the next value beyond each edge choice."""
    out = {}
    for name, row in rows.items():
        method = table.get(name)
        if method is None or not row.get("params"):
            continue
        for key, values in method.grid.items():
            chosen = row["params"].get(key)
            if isinstance(chosen, bool) or not isinstance(chosen, (int, float)):
                continue
            value = _beyond(values, chosen, key)
            if value is not None and value not in values:
                out.setdefault(name, {})[key] = value
    return out


def _widen(table, extensions):
    for name, keys in extensions.items():
        if name in table:
            grid = dict(table[name].grid)
            for key, values in keys.items():
                grid[key] = tuple(sorted(set(grid[key]) | set(values)))
            table[name] = dataclasses.replace(table[name], grid=grid)
    return table


def _read(path):
    with open(path) as f:
        return json.load(f)


def _best_validation(row):
    return max((t["val_accuracy"] for t in row["tuning"]), default=-1.0)


def keep_better_searches(before, after):
    """`after` (a compare's results) with each method's row replaced by
    `before`'s where `before`'s search found the higher validation
    accuracy; the paired table is made again from the rows kept."""
    rows = after["methods"]
    for name, row in before["methods"].items():
        if name in rows and _best_validation(row) >= _best_validation(
                rows[name]):
            rows[name] = row
    after["paired"] = experiment.paired_table(rows)
    return after


def _round(argv, output):
    """One `compare` with the grids widened; False when nothing sat at an
    edge (and nothing ran)."""
    path = os.path.join(output, "grid_extensions.json")
    extensions = _read(path) if os.path.exists(path) else {}
    results_path = os.path.join(output, "results.json")
    before = _read(results_path)
    rows = before["methods"]
    table_of = cli._table

    def widened_table(p, settings, names):
        table = _widen(table_of(p, settings, names), extensions)
        new = _edges(table, rows)
        if not new:
            raise _NothingToWiden
        for name, keys in new.items():
            for key, value in keys.items():
                extensions.setdefault(name, {}).setdefault(key, []).append(value)
        print(f"edge_search: adding {json.dumps(new)}", flush=True)
        with open(path, "w") as f:
            json.dump(extensions, f, indent=1, sort_keys=True)
        return _widen(table, {n: {k: [v] for k, v in keys.items()}
                              for n, keys in new.items()})

    cli._table = widened_table
    try:
        cli.main(argv)
    except _NothingToWiden:
        return False
    finally:
        cli._table = table_of
    print(report.write(keep_better_searches(before, _read(results_path)),
                       output))
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("compare", nargs=argparse.REMAINDER)
    args = p.parse_args()
    argv = args.compare[1:] if args.compare[:1] == ["--"] else args.compare
    output = argv[argv.index("--output") + 1]
    for n in range(args.rounds):
        if not _round(argv, output):
            print(f"edge_search: no choice at an edge after {n} round(s)")
            return 0
    print(f"edge_search: stopped after {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
