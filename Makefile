PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt
DEMO_BACKEND ?= tensorflow
DATA := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CACHE := $(HOME)/.keras/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: test demo data install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e ".[dev]"
	touch $@

$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e ".[tensorflow,kerascv,plots]"
	touch $@

install: $(VENV)/.installed-dev

# The whole suite once per backend (TensorFlow, JAX, PyTorch), one summary.
test: $(VENV)/.installed-dev
	$(PY) tools/test_backends.py -n 2

# Debian's copy of Fashion-MNIST, when neither it nor Keras's cache is there.
data:
	@if [ ! -f $(DATA) ] && [ ! -f $(CACHE) ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	fi

# The main job: teacher, then one student per method, table and plots.
demo: $(VENV)/.installed-demo data
	TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=$${KERAS_BACKEND:-$(DEMO_BACKEND)} \
		$(VENV)/bin/keras-supcrd \
		compare --output runs/demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
