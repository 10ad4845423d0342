"""The frameworks' C++ start-up lines, kept off the command's stderr.

TensorFlow 2.21 writes its oneDNN and CUDA-probe lines (`I0000 ...
port.cc`, `cudart_stub.cc`, `failed call to cuInit`, `NodeDef mentions
attribute use_unbounded_threadpool`) through absl before absl is
initialised, whatever TF_CPP_MIN_LOG_LEVEL says, and jax and torch may
load first. They are only noise to a user of the command, so its stderr
runs through a filter that drops those lines and passes everything else
(Python warnings, tracebacks, the command's errors) unchanged.

TF_CPP_MIN_LOG_LEVEL is no sign that a user wants the lines: importing
Keras on TensorFlow sets it to 1 in the process's environment, so every
command started from a Python program that imported Keras inherits it. A
user who wants the frameworks' own output sets
KERAS_SUPCRD_FRAMEWORK_LOGS=1.
"""

import atexit
import os
import re
import sys
import threading

LOGS_WANTED = "KERAS_SUPCRD_FRAMEWORK_LOGS"

# The known start-up lines only; any other framework line passes.
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog|"
    rb"To enable the following instructions: |"
    rb"[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|"
    rb"cuda_platform|cuda_executor|cuda_diagnostics)\.cc:\d+\]|"
    rb"[IWE]\d{4} .*(failed call to cuInit|use_unbounded_threadpool))")


def _pump(source, target):
    with os.fdopen(source, "rb") as lines:
        try:
            for line in lines:
                if not NOISE.match(line):
                    os.write(target, line)
        except OSError:
            # The terminal is gone (a closed pipe): stop filtering, so that
            # nobody blocks on a full pipe, and drop what is left.
            os.dup2(target, 2)
            for _ in lines:
                pass


def filter_stderr():
    """Routes file descriptor 2 through the filter for the rest of the
    process; a no-op when the user asked for the frameworks' logs
    (KERAS_SUPCRD_FRAMEWORK_LOGS=1)."""
    if os.environ.get(LOGS_WANTED) == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what it honours
    target = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    pump = threading.Thread(target=_pump, args=(read, target), daemon=True)
    pump.start()

    def drain():
        sys.stderr.flush()
        os.dup2(target, 2)  # closes the pipe's last writer: the pump ends
        pump.join(timeout=5)

    atexit.register(drain)
