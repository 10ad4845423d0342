"""The benchmark scripts run in --quick mode and produce numbers (the test
never checks how fast anything is)."""

import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "benchmarks")


@pytest.mark.parametrize("script", ["loss_speed.py", "step_overhead.py"])
def test_quick_mode_produces_numbers(script, tmp_path):
    out = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, script), "--quick", "--output",
         str(out)], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["backend"] == keras.backend.backend()
    for key in ("machine", "commit", "date", "keras"):
        assert data[key]
    if script == "loss_speed.py":
        for row in data["by_k"].values():
            floor = row["matmul"]["ms"]
            assert floor > 0
            for variant in ("crd", "supcrd", "lw", "lw_decoupled",
                            "naive_lw"):
                # Each ratio is its own time over the floor's, same run.
                assert row[variant]["ratio_to_matmul"] == pytest.approx(
                    row[variant]["ms"] / floor, rel=0.01, abs=0.01)
    else:
        assert data["median_ms"]["student_step"] > 0
        floor = (data["median_ms"]["student_step"] +
                 data["median_ms"]["teacher_step"])
        for name in ("distiller_K0", "distiller_K64_exact",
                     "distiller_K64_exact_no_grad", "distiller_K64_stored",
                     "keras_distillation"):
            assert data["ratio_to_floor"][name] == pytest.approx(
                data["median_ms"][name] / floor, rel=0.01, abs=0.01)
        for name in ("cached_K0", "cached_K64_stored"):
            assert data["ratio_to_student_step"][name] == pytest.approx(
                data["median_ms"][name] / data["median_ms"]["student_step"],
                rel=0.01, abs=0.01)
