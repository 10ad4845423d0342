"""Every ```python example in the public docstrings runs."""

import inspect
import re

import pytest

import keras_supcrd
from keras_supcrd import layers
from keras_supcrd import losses
from keras_supcrd import schedules

FENCE = re.compile(r"```python\n(.*?)```", re.S)


def _public_objects():
    for module in (keras_supcrd, layers, losses, schedules):
        for name in module.__all__:
            yield f"{module.__name__}.{name}", getattr(module, name)


EXAMPLES = [
    (f"{name}[{i}]", block)
    for name, obj in _public_objects()
    for i, block in enumerate(FENCE.findall(inspect.getdoc(obj) or ""))
]


@pytest.mark.backend_independent
def test_public_objects_have_examples():
    documented = {name.split("[")[0] for name, _ in EXAMPLES}
    for name, obj in _public_objects():
        if inspect.isfunction(obj) or (
            inspect.isclass(obj) and obj is not losses.DistillationLoss
        ):
            assert name in documented, f"{name} has no runnable example"


@pytest.mark.parametrize("name,code", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_docstring_example_runs(name, code):
    import textwrap

    exec(compile(textwrap.dedent(code), name, "exec"), {})
