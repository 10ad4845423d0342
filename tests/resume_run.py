"""Trains a small Distiller for 3 epochs under BackupAndRestore (own
process), with the KD weight warming up over more steps than the run has.
With `--kill`, the first run SIGKILLs itself in the middle of
epoch 2; running the same command again resumes. Every batch is mixed
(a seeded `Mixup`: its draws must resume too). The final state (every
variable, optimizer included) is written to DIR/final.npz.

Usage: python resume_run.py DIR [--kill]
"""

import os
import signal
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from models import classifier, data, sparse_ce  # noqa: E402

from keras_supcrd import Distiller, losses  # noqa: E402
from keras_supcrd.layers import Mixup  # noqa: E402
from keras_supcrd.schedules import LossWeightScheduler  # noqa: E402
from keras_supcrd.schedules import linear_warmup  # noqa: E402

folder, kill = sys.argv[1], "--kill" in sys.argv
flag = os.path.join(folder, "killed-once")


class KillMidEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2 and not os.path.exists(flag):
            open(flag, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


keras.utils.set_random_seed(0)
distiller = Distiller(classifier(16, batch_norm=True, name="teacher"),
                      classifier(8, batch_norm=True, name="student", seed=5),
                      [losses.LogitWeightedSupCRD(), losses.KD()],
                      embedding_dim=4, memory_size=20,
                      mixup=Mixup(0.4, seed=3))
distiller.compile(optimizer="adam", loss=sparse_ce())
x, y = data(48, seed=2)
callbacks = [keras.callbacks.BackupAndRestore(os.path.join(folder, "backup")),
             LossWeightScheduler({"kd": linear_warmup(30, 2.0)}, unit="step")]
if kill:
    callbacks.append(KillMidEpoch())
distiller.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
              callbacks=callbacks)
state = {v.path: keras.ops.convert_to_numpy(v) for v in distiller.variables}
state.update({f"optimizer/{v.path}": keras.ops.convert_to_numpy(v)
              for v in distiller.optimizer.variables})
np.savez(os.path.join(folder, "final.npz"), **state)
