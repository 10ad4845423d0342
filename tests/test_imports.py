"""`import keras_supcrd` pulls in no backend framework and not keras_cv."""

import json
import os
import subprocess
import sys

import pytest

import keras_supcrd

CHECK = """
import json, sys, types
import keras  # brings the backend's own framework, which we may use
before = set(sys.modules)
import keras_supcrd
import keras_supcrd.losses
import keras_supcrd.app.cli
ours = set(sys.modules) - before
# The control: a heavy module appearing after the snapshot must be seen.
sys.modules["keras_cv_control"] = types.ModuleType("keras_cv_control")
control = set(sys.modules) - before
heavy = ("tensorflow", "jax", "torch", "keras_cv", "keras_cv_control")
print(json.dumps([sorted(m for m in found if m.split(".")[0] in heavy)
                  for found in (ours, control)]))
"""


def test_import_adds_no_backend_module():
    out = subprocess.run([sys.executable, "-c", CHECK], env=dict(os.environ),
                         capture_output=True, text=True, check=True)
    ours, control = json.loads(out.stdout.strip().splitlines()[-1])
    assert ours == []
    assert control == ["keras_cv_control"]  # the check can fail


@pytest.mark.backend_independent
def test_package_has_no_backend_import_outside_backend_dir():
    root = os.path.dirname(keras_supcrd.__file__)
    for folder, _, files in os.walk(root):
        if os.path.basename(folder) == "backend":
            continue
        for name in files:
            if not name.endswith(".py"):
                continue
            text = open(os.path.join(folder, name)).read()
            # keras_cv may be imported lazily (models.py); the subprocess
            # test above checks that `import keras_supcrd` does not.
            for lib in ("tensorflow", "jax", "torch"):
                assert f"import {lib}" not in text, (name, lib)
                assert f"from {lib}" not in text, (name, lib)
