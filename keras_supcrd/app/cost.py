"""What a model costs to ship and run: parameters, file size and
inference latency, measured on this machine."""

import os
import time

import numpy as np

# Latency: batch 1 (one request) and a batch (throughput), the median of
# `REPEATS` timed calls after `WARMUP` untimed ones (compiles, caches).
BATCH_SIZES = (1, 32)
WARMUP, REPEATS = 3, 15


def latency_ms(model, example, batch_size, repeats=REPEATS):
    """Median milliseconds per image of `model.predict_on_batch` on
    `batch_size` copies of `example`."""
    batch = np.repeat(example[None], batch_size, axis=0)
    for _ in range(WARMUP):
        model.predict_on_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / batch_size


def cost(model, path, example):
    """`{"parameters", "file_bytes", "latency_ms_per_image": {batch: ms}}`
    of `model` saved at `path`, timed on copies of `example`."""
    return {
        "parameters": int(model.count_params()),
        "file_bytes": os.path.getsize(path),
        "latency_ms_per_image": {
            str(b): latency_ms(model, example, b) for b in BATCH_SIZES},
    }
