"""`import keras_supcrd` pulls in no backend framework and not keras_cv."""

import json
import os
import subprocess
import sys

import keras_supcrd

CHECK = """
import json, sys
import keras
before = set(sys.modules)
import keras_supcrd
import keras_supcrd.losses
import keras_supcrd.app.cli
new = set(sys.modules) - before
heavy = ("tensorflow", "jax", "torch", "keras_cv")
print(json.dumps(sorted(m for m in new if m.split(".")[0] in heavy)))
"""


def test_import_adds_no_backend_module():
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", CHECK], env=env,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


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
