# beyond-inet: `make report` (offline demo by default) and `make test`.
SHELL := /bin/bash
PROFILE ?= demo
# Data root: DATA_ROOT when given; else the product decides (the DATA_ROOT environment variable, then ./data).
DATA_ROOT ?=
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned to the build served from the local package mirror; see README.
PIP_FLAGS ?= -q --disable-pip-version-check

.PHONY: setup report test lab bench data-check models clean-cache clean browser gpu-kit

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip wheel setuptools
	$(PY) -m pip install $(PIP_FLAGS) -e '.[test]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 --display-name "Python 3 (beyond-inet)" >/dev/null
	@touch $(STAMP)

report: $(STAMP)
	$(VENV)/bin/beyond-inet report --profile $(PROFILE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT))

# Headless Chromium for the page-rendering test (Debian package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the offline rendering test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; the browser test will be skipped"; }

test: $(STAMP) browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(VENV)/bin/beyond-inet bench $(BENCH_ARGS)

# What one call of the lent GPU machine needs beside the repository (it has torch, no
# network): pure-Python wheels for Python 3.12 and 12 real JPEGs for the GPU-path tests.
# Then: device run, carry [".gpu"], command "bash benchmarks/gpu_session.sh" (README).
GPU_WHEELS ?= timm==1.0.31 open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4
gpu-kit:
	rm -rf .gpu && mkdir -p .gpu/wheels .gpu/samples
	$(PYTHON_BOOT) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
	  -d .gpu/wheels $(GPU_WHEELS)
	ls ../shared/data/imagenet-samples/*.JPEG | sort | head -12 | xargs -I{} cp {} .gpu/samples/
	@du -sh .gpu

data-check: $(STAMP)
	$(VENV)/bin/beyond-inet data check $(if $(DATA_ROOT),--root $(DATA_ROOT)) --profile $(PROFILE)

models: $(STAMP)
	$(VENV)/bin/beyond-inet models

clean-cache:
	rm -rf .cache/beyond-inet

clean:
	rm -rf reports/*/ .cache
