"""Two training steps in one process, or on two torch.distributed ranks.

Usage: python torch_ranks.py OUT_DIR MEMORY_SIZE [fit|on_batch]    (one process)
       torchrun --nproc_per_node=2 torch_ranks.py OUT_DIR MEMORY_SIZE [...]
`on_batch` trains with `train_on_batch` on numpy arrays instead of `fit`.
Writes `single.npz` or `rank{r}.npz` into OUT_DIR. Rank 1 starts from other
weights than rank 0, so equal results also show that rank 0's weights were
broadcast.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

import torch.distributed as dist  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from common import GLOBAL_BATCH, make, shard, train_and_save  # noqa: E402

OUT, MEMORY = sys.argv[1], int(sys.argv[2])
ON_BATCH = sys.argv[3:] == ["on_batch"]
name, rank, world = "single", 0, 1
if "WORLD_SIZE" in os.environ:  # started by torchrun
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    name = f"rank{rank}"
distiller = make(MEMORY)
if rank:
    distiller.set_weights([w + 0.25 if w.dtype.kind == "f" else w
                           for w in distiller.get_weights()])
train_and_save(distiller, *shard(rank, world), GLOBAL_BATCH // world,
               os.path.join(OUT, name + ".npz"), on_batch=ON_BATCH)
if world > 1:
    dist.destroy_process_group()
