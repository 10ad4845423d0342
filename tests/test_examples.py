"""Each example runs as documented, on small IDX files, and prints sane
accuracies (never how fast)."""

import os
import re
import subprocess
import sys

import pytest

from idx_files import write_set

ROOT = os.path.join(os.path.dirname(__file__), "..")
EXAMPLES = {
    "quickstart.py": 3,
    "custom_loss.py": 1,
    "kerascv_distillation.py": 3,
    "kerashub_distillation.py": 3,
}
SAVES_A_STUDENT = ("kerascv_distillation.py", "kerashub_distillation.py")


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    """A Keras cache holding small Fashion-MNIST files, so that the
    examples' `keras.datasets.fashion_mnist.load_data()` reads them."""
    home = tmp_path_factory.mktemp("keras_home")
    folder = home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    # A tenth of 1280 is 128 = 2 full batches of 64, and 64 test images
    # fill whole evaluation batches: no second shape to compile (JAX, TF).
    write_set(str(folder), n_train=1280, n_test=64)
    return str(home)


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs(script, keras_home, tmp_path):
    args = [sys.executable, os.path.join(ROOT, "examples", script),
            "--epochs", "1", "--data-fraction", "0.1"]
    if script in SAVES_A_STUDENT:
        args += ["--output", str(tmp_path)]
    if script == "kerashub_distillation.py":
        pytest.importorskip("keras_hub")
    result = subprocess.run(args, capture_output=True, text=True,
                            env=dict(os.environ, KERAS_HOME=keras_home))
    assert result.returncode == 0, result.stderr[-3000:]
    values = re.findall(r"accuracy: ([0-9.]+)", result.stdout)
    assert len(values) == EXAMPLES[script], result.stdout
    assert all(0.0 <= float(v) <= 1.0 for v in values)


@pytest.mark.backend_independent
def test_examples_have_keras_io_headers():
    for script in EXAMPLES:
        text = open(os.path.join(ROOT, "examples", script)).read()
        for field in ("Title:", "Author:", "Description:", "Accelerator:"):
            assert field in text.split('"""')[1], (script, field)


@pytest.mark.backend_independent
def test_examples_use_only_the_public_api():
    for script in EXAMPLES:
        text = open(os.path.join(ROOT, "examples", script)).read()
        imports = re.findall(r"^(?:from|import) (keras_supcrd\S*)", text,
                             re.M)
        assert imports, script
        for module in imports:
            assert module in ("keras_supcrd", "keras_supcrd.losses",
                              "keras_supcrd.layers",
                              "keras_supcrd.schedules"), (script, module)
