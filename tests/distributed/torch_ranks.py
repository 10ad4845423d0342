"""Two training steps in one process, or on two torch.distributed ranks.

Usage: python torch_ranks.py OUT_DIR MEMORY_SIZE        (one process)
       torchrun --nproc_per_node=2 torch_ranks.py OUT_DIR MEMORY_SIZE
Writes `single.npz` or `rank{r}.npz` into OUT_DIR: the logged losses, the
weights after training and the bank. Rank 1 starts from other weights than
rank 0, so equal results also show that rank 0's weights were broadcast.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch.distributed as dist  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from models import classifier, data, sparse_ce  # noqa: E402

from keras_supcrd import Distiller, losses  # noqa: E402

OUT, MEMORY = sys.argv[1], int(sys.argv[2])
GLOBAL_BATCH = 16
KEYS = ("loss", "student_loss", "lw_supcrd", "crd", "kd")


def shard(x, y, global_batch, rank, world):
    """Rank `rank`'s rows: its slice of every global batch, in order, for
    `fit(batch_size=global_batch // world, shuffle=False)`."""
    local = global_batch // world
    index = np.arange(len(x)).reshape(-1, world, local)[:, rank].ravel()
    return x[index], y[index]


rank, world = 0, 1
if "WORLD_SIZE" in os.environ:  # started by torchrun
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()

keras.utils.set_random_seed(0)
distiller = Distiller(
    classifier(16, name="teacher"), classifier(8, name="student", seed=5),
    [losses.LogitWeightedSupCRD(), losses.CRD(), losses.KD()],
    embedding_dim=4, memory_size=MEMORY)
distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss=sparse_ce())
if rank:
    distiller.set_weights([w + 0.25 if w.dtype.kind == "f" else w
                           for w in distiller.get_weights()])
initial = [np.array(w) for w in distiller.get_weights()]
x, y = shard(*data(2 * GLOBAL_BATCH, seed=4), GLOBAL_BATCH, rank, world)
history = distiller.fit(x, y, batch_size=GLOBAL_BATCH // world,
                        shuffle=False, verbose=0).history
weights = distiller.get_weights()
out = {f"history_{k}": np.array(history[k]) for k in KEYS}
out.update({f"weight_{i}": np.array(w) for i, w in enumerate(weights)})
out["student_changed"] = np.array(any(
    not np.array_equal(a, np.array(w)) for v, a, w in
    zip(distiller.weights, initial, weights) if v.path.startswith("student")))
if MEMORY:
    out["bank_labels"] = np.array(distiller.memory_bank.labels)
    out["bank_features"] = np.array(distiller.memory_bank.features)
name = f"rank{rank}" if world > 1 else "single"
np.savez(os.path.join(OUT, name + ".npz"), **out)
if world > 1:
    dist.destroy_process_group()
