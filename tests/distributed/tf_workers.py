"""Two training steps in one process, or on two MultiWorkerMirroredStrategy
workers (on 127.0.0.1, as two hosts run them).

Usage: python tf_workers.py OUT_DIR MEMORY_SIZE                  (one process)
       python tf_workers.py OUT_DIR MEMORY_SIZE INDEX PORT0,PORT1   (worker)
Writes `single.npz` or `worker{INDEX}.npz` into OUT_DIR.
"""

import contextlib
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
OUT, MEMORY = sys.argv[1], int(sys.argv[2])
name, scope = "single", contextlib.nullcontext()
if len(sys.argv) > 3:
    name = f"worker{sys.argv[3]}"
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}"
                               for p in sys.argv[4].split(",")]},
        "task": {"type": "worker", "index": int(sys.argv[3])}})

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import GLOBAL_BATCH, make, shard, train_and_save  # noqa: E402

# Keeps Keras's frames in a worker's traceback, which the test reads.
keras.config.disable_traceback_filtering()
if name != "single":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2
    scope = strategy.scope()
with scope:
    distiller = make(MEMORY)
# Every worker gets the whole set and the global batch size: tf.distribute
# gives each worker its part of every global batch.
train_and_save(distiller, *shard(0, 1), GLOBAL_BATCH,
               os.path.join(OUT, name + ".npz"))
