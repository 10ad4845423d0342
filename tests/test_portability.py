"""A Distiller and a student saved on this backend load on every backend;
the loaded Distiller fits again."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_supcrd import Distiller
from keras_supcrd import losses
from models import classifier
from models import data
from models import sparse_ce

SCRIPT = os.path.join(os.path.dirname(__file__), "portability_load.py")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    distiller = Distiller(classifier(16, batch_norm=True),
                          classifier(8, batch_norm=True, seed=5),
                          [losses.LogitWeightedSupCRD(), losses.KD()],
                          embedding_dim=4, memory_size=12)
    distiller.compile(optimizer="adam", loss=sparse_ce())
    x, y = data(16)
    distiller.fit(x, y, batch_size=8, verbose=0)
    distiller.save(str(folder / "distiller.keras"))
    distiller.student.save(str(folder / "student.keras"))
    np.savez(folder / "expected.npz", x=x, y=y,
             logits=distiller.predict(x, verbose=0),
             bank_labels=keras.ops.convert_to_numpy(
                 distiller.memory_bank.labels))
    return str(folder)


OTHERS = [b for b in ("tensorflow", "jax", "torch")
          if b != keras.backend.backend()]


# The same backend is covered by test_distiller's save/load test.
@pytest.mark.parametrize("target", OTHERS)
def test_loads_and_fits_on(target, saved):
    env = dict(os.environ, KERAS_BACKEND=target)
    result = subprocess.run([sys.executable, SCRIPT, saved,
                             keras.backend.backend()], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["predict"] < 1e-4 and report["student"] < 1e-4
    assert report["bank_equal"]
    assert np.isfinite(report["loss"])
