PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: test demo install clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The whole suite once per backend (TensorFlow, JAX, PyTorch), one summary.
test: $(STAMP)
	$(PY) tools/test_backends.py -n 2

clean:
	rm -rf $(VENV) build *.egg-info
