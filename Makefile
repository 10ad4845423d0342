PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv, not pip: the same pins in half the install time. It reads no
# pip.conf, so the folder of local wheels (where this machine keeps the CPU
# build of torch) is passed on. Bytecode is compiled at install, as pip
# does: where PYTHONDONTWRITEBYTECODE is set (here) nothing caches it
# later, and every process would compile TensorFlow and Keras again
# (their import: 12.6 s instead of 5 s).
FIND_LINKS ?= $(firstword $(PIP_FIND_LINKS) $(wildcard /opt/wheels))
UV := $(VENV)/bin/uv
PIP := $(UV) pip install -q --compile-bytecode --python $(PY) \
	-c constraints.txt \
	$(if $(FIND_LINKS),--find-links $(FIND_LINKS))
UNINSTALL := $(UV) pip uninstall -q --python $(PY)
DEMO_BACKEND ?= tensorflow
DATA := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
CACHE := $(HOME)/.keras/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: test demo docs data install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(UV): | $(PY)
	$(PY) -m pip install -q -c constraints.txt uv

# tensorflow-cpu (an older pin) and tensorflow ship the same files: keep one.
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(UV)
	$(UNINSTALL) tensorflow-cpu
	$(PIP) -e ".[dev]"
	touch $@

$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(UV)
	$(UNINSTALL) tensorflow-cpu
	$(PIP) -e ".[tensorflow,plots,images]"
	touch $@

install: $(VENV)/.installed-dev

# The whole suite once per backend (TensorFlow, JAX, PyTorch), one summary.
test: $(VENV)/.installed-dev
	$(PY) tools/test_backends.py -n 2 --durations=15

# The documentation site, offline, into site/ (open site/index.html);
# strict: a broken link or a missing API reference fails. `make test`
# builds it too (tests/test_docs.py).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Debian's copy of Fashion-MNIST, when neither it nor Keras's cache is there;
# then linked into Keras's cache, where `keras.datasets` (the examples) and
# the command both find it without a download. A cache folder without the
# data (left empty by a download that failed offline) is replaced.
data:
	@if [ ! -f $(DATA) ] && [ ! -f $(CACHE) ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	fi
	@if [ -f $(DATA) ] && [ ! -f $(CACHE) ]; then \
		mkdir -p $(dir $(patsubst %/,%,$(dir $(CACHE)))) && \
		rm -rf $(patsubst %/,%,$(dir $(CACHE))) && \
		ln -s $(dir $(DATA)) $(patsubst %/,%,$(dir $(CACHE))); \
	fi

# The main job: the study's protocol on a short budget (README, "The main
# job"): the cached CNN teacher (trained on first use), then student alone,
# KD, SupCRD and logit-weighted SupCRD at the settings the full study chose
# (benchmarks/results/study), 2 seeds of 20 epochs each (the study: 5 of 40).
DEMO_FLAGS ?= --methods ce,kd,supcrd,lw-supcrd --seeds 2 --epochs 20 \
	--no-tune --params benchmarks/results/study/results.json
demo: $(VENV)/.installed-demo data
	KERAS_BACKEND=$${KERAS_BACKEND:-$(DEMO_BACKEND)} \
		$(VENV)/bin/keras-supcrd \
		compare $(DEMO_FLAGS) --output runs/demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build site *.egg-info
