import os
import sys

# Make `tests.reference` and `tests.grad` importable as plain modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Tests that read no backend (numpy statistics, IDX parsing, text checks)
# are marked `backend_independent` and run under this backend alone, so
# that `make test` (one run per backend) runs them once.
ONCE_BACKEND = "torch"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backend_independent: runs under one backend only "
        f"({ONCE_BACKEND}); its result cannot depend on the backend")


# The slowest tests (seconds on the JAX leg, the longest; `--durations`),
# started first: `make test` hands out one test at a time
# (`--maxschedchunk=1`), so that no worker idles at the end of a leg
# behind a long test the other started last.
SLOWEST = {
    "test_examples.py::test_example_runs": 60,
    "losses/test_properties.py::test_valid_inputs_give_the_reference": 40,
    "test_docs.py::test_page_code_runs": 30,
    "test_distributed.py::test_two_jax_processes_equal_one_process": 25,
    "app/test_cli.py::test_compare_writes_every_output": 25,
    "app/test_distill.py::test_killed_and_resumed_equals_uninterrupted": 25,
    "test_resume.py::test_killed_and_resumed_equals_uninterrupted": 20,
    "test_schedules.py::test_changing_weight_does_not_retrace": 20,
    "test_distributed.py::test_two_torch_ranks_equal_one_process": 17,
    "test_distributed.py::test_bad_batch_on_one_replica_is_skipped_on_both":
        20,
    "app/test_distill.py::test_distilled_student_reloads_in_a_fresh_process"
    "_on_another_backend": 15,
    "test_distributed.py::test_distill_on_two_devices_equals_one": 15,
    "test_kerashub.py::test_kerashub_pair_distils_with_a_frozen_teacher": 13,
    "test_distributed.py::test_two_devices_equal_one": 10,
    "app/test_student_cost.py::test_mobilenet_is_built_from_config_with_its"
    "_features_known": 12,
    "test_benchmarks.py::test_quick_mode_produces_numbers": 10,
    "test_portability.py::test_loads_and_fits_on": 9,
}


def _expected_seconds(item):
    path = os.path.relpath(str(item.path), os.path.dirname(__file__))
    return SLOWEST.get(f"{path}::{item.originalname}", 0)


def pytest_collection_modifyitems(config, items):
    import keras

    if keras.backend.backend() != ONCE_BACKEND:
        once = [item for item in items
                if item.get_closest_marker("backend_independent")]
        if once:
            config.hook.pytest_deselected(items=once)
            items[:] = [item for item in items if item not in once]
    items.sort(key=_expected_seconds, reverse=True)  # stable: the rest keep
    # their order
