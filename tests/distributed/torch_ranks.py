"""Two training steps in one process, or on two torch.distributed ranks,
once with `fit` and once with `train_on_batch` on numpy arrays.

Usage: python torch_ranks.py OUT_DIR MEMORY_SIZE               (one process)
       torchrun --nproc_per_node=2 torch_ranks.py OUT_DIR MEMORY_SIZE
Writes `single.npz` or `rank{r}.npz` into OUT_DIR/fit and OUT_DIR/on_batch
(each from a fresh Distiller); the ranks then train one step with a bad
label on rank 1 and write `bad_rank{r}.npz` into OUT_DIR. Rank 1 starts
from other weights than rank 0, so equal results also show that rank 0's
weights were broadcast.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import numpy as np  # noqa: E402
import torch.distributed as dist  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import GLOBAL_BATCH, make, shard, train_and_save  # noqa: E402

OUT, MEMORY = sys.argv[1], int(sys.argv[2])
name, rank, world = "single", 0, 1
if "WORLD_SIZE" in os.environ:  # started by torchrun
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    name = f"rank{rank}"
# One process for both ways in: each rank and the single process pay
# PyTorch's and Keras's import once.
for steps in ("fit", "on_batch"):
    distiller = make(MEMORY)
    if rank:
        distiller.set_weights([w + 0.25 if w.dtype.kind == "f" else w
                               for w in distiller.get_weights()])
    os.makedirs(os.path.join(OUT, steps), exist_ok=True)
    train_and_save(distiller, *shard(rank, world), GLOBAL_BATCH // world,
                   os.path.join(OUT, steps, name + ".npz"),
                   on_batch=steps == "on_batch")
if world > 1:
    # A bad label on rank 1 only: both ranks must skip the step and stop.
    x, y = (a[:GLOBAL_BATCH // world] for a in shard(rank, world))
    y = y.copy()
    y[0] = 99 if rank == 1 else y[0]
    before = [np.array(w) for w in distiller.get_weights()]
    error = ""
    try:
        distiller.fit(x, y, batch_size=len(x), shuffle=False, verbose=0)
    except ValueError as e:
        error = str(e)
    unchanged = all(np.array_equal(a, np.array(b)) for a, b in
                    zip(before, distiller.get_weights()))
    np.savez(os.path.join(OUT, f"bad_{name}.npz"), error=np.array(error),
             unchanged=np.array(unchanged))
    dist.destroy_process_group()
