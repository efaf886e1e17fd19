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

.PHONY: setup report test rehearsal lab bench scale data-check models clean-cache clean browser gpu-kit

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

# Test files run on TEST_WORKERS processes (pytest-xdist; a file's tests stay together, the
# longest files start first: tests/conftest.py); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP) browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The paper study rehearsed end to end on a CPU: the paper's four real architectures with
# random weights in a private Hugging Face cache, a miniature data root in every real layout
# (made from the ImageNet sample images of the data root; the datasets with a copy on the
# Hugging Face hub fetched by `data get --source hub` from miniature copies of those
# repositories served on 127.0.0.1), the paper's pages, then checks of the numbers against
# independent computations from the cache (tests/test_rehearsal.py).
REHEARSAL_DIR ?= .cache/rehearsal
REHEARSAL_SOURCE = $(or $(DATA_ROOT),data)
rehearsal: $(STAMP)
	$(VENV)/bin/beyond-inet data get imagenet-samples cue-conflict cue-conflict-humans cue-conflict-decisions edges edges-humans silhouettes silhouettes-humans --root $(REHEARSAL_SOURCE)
	rm -rf $(REHEARSAL_DIR)/data $(REHEARSAL_DIR)/report
	BEYOND_INET_PROGRESS=0 $(PY) tests/hub_rehearsal_root.py $(REHEARSAL_DIR) --from $(REHEARSAL_SOURCE)
	$(VENV)/bin/beyond-inet models fake-weights convnext_sup vit_sup convnext_clip vit_clip --hub-cache $(REHEARSAL_DIR)/hub
	HF_HUB_OFFLINE=1 HF_HUB_CACHE=$(abspath $(REHEARSAL_DIR))/hub BEYOND_INET_PROMPT_TEMPLATES=2 \
	  $(VENV)/bin/beyond-inet report --profile rehearsal --data-root $(REHEARSAL_DIR)/data --out $(REHEARSAL_DIR)/report
	HF_HUB_OFFLINE=1 HF_HUB_CACHE=$(abspath $(REHEARSAL_DIR))/hub BEYOND_INET_PROMPT_TEMPLATES=2 \
	  REHEARSAL_DIR=$(abspath $(REHEARSAL_DIR)) $(PY) -m pytest -q tests/test_rehearsal.py

# JupyterLab refuses to start as root (containers, cloud notebooks) without --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS)

bench: $(STAMP)
	$(VENV)/bin/beyond-inet bench $(BENCH_ARGS)

# The paper's scale without a GPU: 30 models' random outputs at the study's full sizes written
# straight into a result cache (.cache/paper-scale), then every page built from it, each in its
# own process; prints each page's time and peak memory (benchmarks/paper_scale.py; make test
# runs it at a reduced size). Four models get outputs of their own, the other 26 hard links to
# theirs (--distinct 4): 13 GB of disk instead of 98. SCALE_ARGS="--scale 0.1" for a
# quicker look.
SCALE_ARGS ?=
scale: $(STAMP)
	$(PY) benchmarks/paper_scale.py --distinct 4 $(if $(DATA_ROOT),--source $(DATA_ROOT)) $(SCALE_ARGS)

# An offline kit for a GPU node without network that already has torch/torchvision (a
# cluster node, an air-gapped machine): pure-Python wheels of the other model libraries for
# its Python (GPU_PYTHON) and 12 real JPEGs from the data root for the GPU-path tests. Copy
# the repository with .gpu/ to the node and run `bash benchmarks/gpu_node.sh` there (README).
GPU_PYTHON ?= 3.12
GPU_WHEELS ?= timm==1.0.31 open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.9.4
gpu-kit:
	@test -d "$(or $(DATA_ROOT),data)/imagenet-samples" || { echo "gpu-kit: no $(or $(DATA_ROOT),data)/imagenet-samples; run 'make report' once (it fetches them) or set DATA_ROOT"; exit 2; }
	rm -rf .gpu && mkdir -p .gpu/wheels .gpu/samples
	$(PYTHON_BOOT) -m pip download -q --no-deps --only-binary=:all: --python-version $(GPU_PYTHON) \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
	  -d .gpu/wheels $(GPU_WHEELS)
	ls "$(or $(DATA_ROOT),data)"/imagenet-samples/*.JPEG | sort | head -12 | xargs -I{} cp {} .gpu/samples/
	@du -sh .gpu

data-check: $(STAMP)
	$(VENV)/bin/beyond-inet data check $(if $(DATA_ROOT),--root $(DATA_ROOT)) --profile $(PROFILE)

models: $(STAMP)
	$(VENV)/bin/beyond-inet models

clean-cache:
	rm -rf .cache/beyond-inet

clean:
	rm -rf reports/*/ .cache
