"""Side-by-side timing for the benchmarks: interleaved, medians, ratios."""

import datetime
import json
import os
import platform
import subprocess
import time

import keras
import numpy as np


def describe():
    """Machine, backend, versions, commit and date of this run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True, check=True, cwd=os.path.dirname(__file__),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{platform.system()}",
        "devices": device_names(),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
    }


def device_names():
    try:
        from keras import distribution

        return ",".join(distribution.list_devices())
    except Exception:  # listing devices is best effort
        return "cpu"


def interleaved(callables, repeats, warmup=2):
    """Median seconds of each callable, timed round-robin in one process.

    Round-robin means a slow period of the machine hits every variant alike,
    so the ratios stay meaningful even when the absolute times drift.
    """
    for fn in callables.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in callables}
    for _ in range(repeats):
        for name, fn in callables.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


def emit(result, output=None):
    text = json.dumps(result, indent=2)
    print(text)
    if output:
        with open(output, "w") as f:
            f.write(text + "\n")
