"""The documentation: the site builds in strict mode, and every code block
of README.md and docs/*.md is marked and, if Python, runs as it stands.

A page's Python blocks run in order in one namespace, as a reader would run
them. A block whose first line is `# JAX:`, `# TensorFlow:` or `# PyTorch:`
runs only under that backend (the device recipes).
"""

import ast
import glob
import os
import re
import shutil
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted(["README.md"] + [
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs",
                                                             "*.md"))])
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.S | re.M)
LANGUAGES = ("python", "bash", "text")
BACKEND_TAGS = {"# JAX:": "jax", "# TensorFlow:": "tensorflow",
                "# PyTorch:": "torch"}


def blocks(page):
    with open(os.path.join(ROOT, page)) as f:
        return FENCE.findall(f.read())


def python_blocks(page):
    return [code for language, code in blocks(page) if language == "python"]


def runs_here(code):
    for tag, backend in BACKEND_TAGS.items():
        if code.startswith(tag):
            return backend == keras.backend.backend()
    return True


def mkdocs_build(config, site):
    return subprocess.run(
        # Not -q: it hides the warnings that strict mode counts.
        [sys.executable, "-m", "mkdocs", "build", "--strict",
         "-f", config, "-d", site], capture_output=True, text=True,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))


@pytest.mark.backend_independent
def test_site_builds_in_strict_mode(tmp_path):
    result = mkdocs_build(os.path.join(ROOT, "mkdocs.yml"),
                          str(tmp_path / "site"))
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (tmp_path / "site" / "api" / "losses.html").read_text()
    for name in ("logit_weighted_supcrd.logit_weighted_supcrd",
                 "logit_weighted_supcrd.LogitWeightedSupCRD", "dist.DIST"):
        assert f'id="keras_supcrd.losses.{name}"' in reference, name
    results = (tmp_path / "site" / "RESULTS.html").read_text()
    assert "Headlines" in results  # benchmarks/RESULTS.md joined the site


@pytest.mark.backend_independent
def test_strict_build_fails_on_a_broken_link(tmp_path):
    shutil.copytree(os.path.join(ROOT, "docs"), tmp_path / "docs")
    shutil.copytree(os.path.join(ROOT, "keras_supcrd"),
                    tmp_path / "keras_supcrd")
    shutil.copytree(os.path.join(ROOT, "benchmarks"), tmp_path / "benchmarks",
                    ignore=shutil.ignore_patterns("runs"))
    shutil.copy(os.path.join(ROOT, "mkdocs.yml"), tmp_path)
    shutil.copy(os.path.join(ROOT, "README.md"), tmp_path)
    with open(tmp_path / "docs" / "tests.md", "a") as f:
        f.write("\nSee [the missing page](missing.md).\n")
    result = mkdocs_build(str(tmp_path / "mkdocs.yml"), str(tmp_path / "s"))
    assert result.returncode != 0
    assert "missing.md" in result.stdout + result.stderr


@pytest.mark.backend_independent
@pytest.mark.parametrize("page", PAGES)
def test_every_code_block_is_marked_and_parses(page):
    for language, code in blocks(page):
        assert language in LANGUAGES, (
            f"{page}: a code block marked {language!r}, not one of "
            f"{LANGUAGES}:\n{code[:200]}")
        if language == "python":
            ast.parse(code)


def test_readme_has_the_first_screen_a_user_needs():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert len(text.splitlines()) <= 250
    first_screen = text[:text.index("## Your own folder")]
    assert "make demo" in first_screen and "make test" in first_screen
    assert 'pip install ".[' in first_screen  # from a clone, never a bare name
    quick_start = python_blocks("README.md")[0]
    code = [line for line in quick_start.splitlines() if line.strip()]
    assert len(code) <= 15 and max(map(len, code)) <= 80
    assert "keras-supcrd distill" in text[:text.index("## What the studies")]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def single_process_group(monkeypatch):
    """The environment `torchrun` gives a rank, for a world of one; the
    group and any distribution are undone afterwards."""
    for key, value in (("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", str(_free_port())),
                       ("RANK", "0"), ("WORLD_SIZE", "1")):
        monkeypatch.setenv(key, value)
    yield
    if keras.backend.backend() == "jax":
        keras.distribution.set_distribution(None)
    if keras.backend.backend() == "torch":
        import torch.distributed

        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _check_readme(scope, folder):
    assert (folder / "student.keras").exists()
    student = keras.saving.load_model(folder / "student.keras")
    assert student.count_params() == scope["student"].count_params()


def _check_distiller(scope, folder):
    assert scope["distiller"].term_weights is not None
    assert (folder / "student.keras").exists()  # the KerasCV student
    # The KerasCV teacher was never trained: a frozen one keeps its batch
    # norms' initial statistics through the Distiller's fit.
    norms = [layer for layer in scope["resnet"].layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    for layer in norms:
        np.testing.assert_array_equal(layer.moving_mean, 0.0)
        np.testing.assert_array_equal(layer.moving_variance, 1.0)
    assert scope["cv_student"].count_params() < (
        scope["cv_teacher"].count_params())
    assert np.isfinite(scope["history"].history["lw_supcrd"][0])
    text = scope["text_distiller"]
    assert np.isfinite(text.history.history["lw_supcrd"][0])
    assert text.teacher_view.dims() == (32, 3)


def _check_losses(scope, folder):
    s, t = scope["s"], scope["t"]
    value = scope["EmbeddingMSE"](scale=2.0)(
        {"teacher_embeddings": t}, {"student_embeddings": s})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value),
                               2.0 * np.mean(np.square(s - t)), rtol=1e-5)


CHECKS = {"README.md": _check_readme, "docs/distiller.md": _check_distiller,
          "docs/losses.md": _check_losses}
RUNNABLE = [page for page in PAGES if python_blocks(page)]


@pytest.mark.parametrize("page", RUNNABLE)
def test_page_code_runs(page, tmp_path, monkeypatch, single_process_group):
    monkeypatch.chdir(tmp_path)
    scope = {"__name__": "__docs__"}
    ran = 0
    for code in python_blocks(page):
        if runs_here(code):
            exec(compile(code, page, "exec"), scope)
            ran += 1
    assert ran, f"{page}: no block runs under {keras.backend.backend()}"
    if page in CHECKS:
        CHECKS[page](scope, tmp_path)


@pytest.mark.backend_independent
def test_every_runnable_page_is_checked_or_plain():
    # A page whose blocks only run stays in RUNNABLE; the checks above
    # must name pages that exist (a renamed page would skip its check).
    assert set(CHECKS) <= set(RUNNABLE)
