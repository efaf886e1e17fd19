#!/usr/bin/env bash
# Everything to check on a GPU node without network, in one go (the kit comes from `make gpu-kit`):
#   1. install the carried wheels (make gpu-kit) over the machine's own torch/torchvision,
#   2. run the tests that need CUDA (nvJPEG and hybrid paths vs the CPU reference, the
#      pipelined host copies),
#   3. run the benchmark on the paper's four architectures (random weights) and keep its
#      JSON under $OUT.
# Knobs (environment): N (images, default 20000), BENCH_ARGS (extra bench flags, e.g.
# "--compile" or "--decode hybrid"), SKIP_TESTS=1.
set -uo pipefail
OUT=${OUT:-benchmarks/gpu-node-out}; mkdir -p "$OUT"   # the logs and bench.json go here
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/wheels/*.whl || { echo "wheel install failed: run make gpu-kit here first"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 BEYOND_INET_SAMPLES=$PWD/.gpu/samples
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, torchvision, timm, open_clip; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__, 'open_clip', open_clip.__version__, 'cuda', torch.cuda.is_available())"
echo "cpus: $(nproc)"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  python3 -m pytest -q -p no:cacheprovider -rs tests/test_engine_gpu_path.py -k "cuda" 2>&1 | tee "$OUT/gpu_tests.log"
fi
python3 -m beyond_inet_lib.cli bench --n "${N:-20000}" --out "$OUT/bench.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
