"""A run killed with SIGKILL mid-epoch and restarted under BackupAndRestore
ends exactly where an uninterrupted run ends: student, heads, optimizer
state, memory bank, the loss weights of a warm-up still under way, and
the mixup draws (the layer's generator state)."""

import os
import signal
import subprocess
import sys

import numpy as np

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_run.py")


def run(folder, *flags):
    return subprocess.run([sys.executable, SCRIPT, str(folder), *flags],
                          capture_output=True, text=True,
                          env=dict(os.environ))


def test_killed_and_resumed_equals_uninterrupted(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir()
    killed.mkdir()
    assert run(whole).returncode == 0
    first = run(killed, "--kill")
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert not (killed / "final.npz").exists()
    second = run(killed, "--kill")
    assert second.returncode == 0, second.stderr[-3000:]
    expected = np.load(whole / "final.npz")
    resumed = np.load(killed / "final.npz")
    assert set(expected.files) == set(resumed.files)
    checked = {"memory_bank": 0, "head": 0, "optimizer": 0, "student": 0,
               "term_weights": 0}
    for name in expected.files:
        np.testing.assert_allclose(resumed[name], expected[name], rtol=1e-6,
                                   atol=1e-7, err_msg=name)
        for part in checked:
            checked[part] += part in name
    assert all(checked.values()), checked
    weights = [name for name in expected.files if "term_weights" in name]
    # 18 steps into a 30-step warm-up to 2.0: [student_loss, lw_supcrd, kd].
    np.testing.assert_allclose(resumed[weights[0]], [1.0, 1.0, 2.0 * 18 / 30],
                               rtol=1e-6)
