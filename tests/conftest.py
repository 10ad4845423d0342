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


def pytest_collection_modifyitems(config, items):
    import keras

    if keras.backend.backend() == ONCE_BACKEND:
        return
    once = [item for item in items
            if item.get_closest_marker("backend_independent")]
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = [item for item in items if item not in once]
