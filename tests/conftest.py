import os
import sys

# Make `tests.reference` and `tests.grad` importable as plain modules.
sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
