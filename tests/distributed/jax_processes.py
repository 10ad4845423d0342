"""Two training steps in one process, or in two JAX processes under
`keras.distribution.DataParallel` (on 127.0.0.1, as two hosts run them).

Usage: python jax_processes.py OUT_DIR MEMORY_SIZE              (one process)
       python jax_processes.py OUT_DIR MEMORY_SIZE INDEX PORT   (process INDEX of 2)
Writes `single.npz` or `process{INDEX}.npz` into OUT_DIR.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import GLOBAL_BATCH, make, shard, train_and_save  # noqa: E402

OUT, MEMORY = sys.argv[1], int(sys.argv[2])
name, rank, world = "single", 0, 1
if len(sys.argv) > 3:
    rank, world = int(sys.argv[3]), 2
    name = f"process{rank}"
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize(f"127.0.0.1:{sys.argv[4]}", world, rank)
    devices = keras.distribution.list_devices()
    assert len(devices) == world, devices
    # Each process passes its own shard, so Keras must not shard again.
    distribution = keras.distribution.DataParallel(devices=devices)
    distribution.auto_shard_dataset = False
    keras.distribution.set_distribution(distribution)
train_and_save(make(MEMORY), *shard(rank, world), GLOBAL_BATCH // world,
               os.path.join(OUT, name + ".npz"))
